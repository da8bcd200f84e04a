//! CloudFormation: deploy a stack (create, update, or nothing), stream its events, read outputs,
//! delete it.
//!
//! A no-op is detected by comparing the deployed template body (GetTemplate, as sent) and parameter
//! values with ours, rather than with a change set: that costs no write at all, which is what an
//! idempotent bootstrap run from CI on every commit should cost, and works on emulators whose
//! change sets never report "no changes".

use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, Result};
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, StackEvent, StackStatus, Tag};
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::poll::Deadline;
use crate::error::{has_code, is_transient, message_contains, AwsResultExt};
use crate::progress::{self, Task};

pub struct StackSpec {
    pub name: String,
    pub template: String,
    pub parameters: BTreeMap<String, String>,
}

impl StackSpec {
    /// The parameters as CreateStack/UpdateStack take them.
    fn sdk_parameters(&self) -> Vec<Parameter> {
        self.parameters.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Create,
    /// A failed first creation (ROLLBACK_COMPLETE) can only be deleted and created again.
    Recreate,
    Update,
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub status: String,
    pub outputs: BTreeMap<String, String>,
}

impl StackInfo {
    fn from(stack: &Stack) -> Self {
        StackInfo {
            name: stack.stack_name().unwrap_or_default().to_owned(),
            status: stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            outputs: stack
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
        }
    }

    pub fn output(&self, key: &str) -> Result<&str> {
        match self.outputs.get(key) {
            Some(v) => Ok(v),
            None => bail!(
                "stack {} has no output {key:?}; was it deployed from another template? run `notebook-vend bootstrap`",
                self.name
            ),
        }
    }
}

/// The stack, or None when it does not exist.
pub async fn describe(ctx: &Context, name: &str) -> Result<Option<Stack>> {
    match ctx.cfn.describe_stacks().stack_name(name).send().await.aws(|| format!("describing stack {name}")) {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) if has_code(&e, &["ValidationError"]) && message_contains(&e, "does not exist") => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn info(ctx: &Context, name: &str) -> Result<Option<StackInfo>> {
    Ok(describe(ctx, name).await?.as_ref().map(StackInfo::from))
}

fn status(stack: &Stack) -> &str {
    stack.stack_status().map(|s| s.as_str()).unwrap_or("")
}

fn in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

/// Why a stack in `state` cannot be deployed over now, and how to recover; None when it can be
/// (created, updated, or re-created by `plan`). Sources: CloudFormation User Guide, "Stack status
/// codes" and "Continue rolling back an update" (UPDATE_ROLLBACK_FAILED: ContinueUpdateRollback or
/// delete; a stack in it accepts no update), DeleteStack (DELETE_FAILED: delete again, retaining
/// what cannot be deleted), and UpdateStack (refused while an operation is in progress).
pub fn blocked(name: &str, state: &StackStatus) -> Option<String> {
    use StackStatus as S;
    let again = "then run `notebook-vend bootstrap` again";
    match state {
        S::CreateComplete
        | S::UpdateComplete
        | S::UpdateRollbackComplete
        | S::ImportComplete
        | S::ImportRollbackComplete
        | S::RollbackComplete
        | S::RollbackFailed
        | S::DeleteComplete => None,
        S::UpdateRollbackFailed => Some(format!(
            "stack {name} is UPDATE_ROLLBACK_FAILED (an update failed and so did its rollback; it accepts no update): \
             continue the rollback with `aws cloudformation continue-update-rollback --stack-name {name}` \
             (--resources-to-skip for resources that cannot roll back) or delete the stack, {again}"
        )),
        S::DeleteFailed => Some(format!(
            "stack {name} is DELETE_FAILED (a deletion did not finish; it accepts no update): delete it again \
             with `aws cloudformation delete-stack --stack-name {name}` (--retain-resources for what cannot be \
             deleted; see the stack's events for why), {again}"
        )),
        S::CreateInProgress
        | S::DeleteInProgress
        | S::ImportInProgress
        | S::ImportRollbackInProgress
        | S::ReviewInProgress
        | S::RollbackInProgress
        | S::UpdateCompleteCleanupInProgress
        | S::UpdateInProgress
        | S::UpdateRollbackCompleteCleanupInProgress
        | S::UpdateRollbackInProgress => Some(format!(
            "stack {name} is {} (an operation is running; CloudFormation accepts no other until it ends): \
             wait for it (`aws cloudformation describe-stacks --stack-name {name}`), {again}",
            state.as_str()
        )),
        S::ImportRollbackFailed => Some(format!(
            "stack {name} is IMPORT_ROLLBACK_FAILED (an import failed and so did its rollback): see the stack's \
             events, fix or delete the stack, {again}"
        )),
        // A state newer than this SDK (the enum is #[non_exhaustive]): do not deploy over it.
        other => Some(format!(
            "stack {name} is {}, which notebook-vend does not deploy over: see the stack's events, {again}",
            other.as_str()
        )),
    }
}

/// What deploying `spec` would do.
pub async fn plan(ctx: &Context, spec: &StackSpec, existing: Option<&Stack>) -> Result<Plan> {
    let Some(stack) = existing else { return Ok(Plan::Create) };
    match status(stack) {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => return Ok(Plan::Recreate),
        "DELETE_COMPLETE" => return Ok(Plan::Create),
        _ => {}
    }
    if let Some(why) = stack.stack_status().and_then(|s| blocked(&spec.name, s)) {
        bail!("{why}");
    }
    let deployed = deployed_template(ctx, &spec.name).await?;
    let same_template = deployed.as_deref().map(str::trim_end) == Some(spec.template.trim_end());
    let deployed_params: BTreeMap<&str, &str> =
        stack.parameters().iter().filter_map(|p| Some((p.parameter_key()?, p.parameter_value()?))).collect();
    let same_params = spec.parameters.iter().all(|(k, v)| deployed_params.get(k.as_str()) == Some(&v.as_str()));
    Ok(if same_template && same_params { Plan::Unchanged } else { Plan::Update })
}

/// Bring the stack to `spec`, waiting with streamed events. Returns what was done and the stack.
pub async fn deploy(ctx: &Context, spec: &StackSpec, deadline: Deadline) -> Result<(Plan, StackInfo)> {
    let mut existing = describe(ctx, &spec.name).await?;
    if let Some(stack) = existing.as_ref().filter(|s| in_progress(status(s))) {
        let task = ctx.progress.task(format!("stack {}: waiting for {} to finish", spec.name, status(stack)));
        wait(ctx, &spec.name, DateTime::from_secs(0), deadline, &task).await.ok();
        existing = describe(ctx, &spec.name).await?;
    }
    let plan = plan(ctx, spec, existing.as_ref()).await?;
    let params = spec.sdk_parameters();
    let since = DateTime::from(std::time::SystemTime::now() - std::time::Duration::from_secs(5));
    let task = ctx.progress.task(format!("stack {}: {}", spec.name, verb(plan)));
    progress::set_in_flight(format!("stack {} {}", spec.name, verb(plan)));
    match plan {
        Plan::Unchanged => {
            let stack = existing.expect("unchanged implies it exists");
            return Ok((plan, StackInfo::from(&stack)));
        }
        Plan::Recreate => {
            task.println(format!(
                "stack {} is {} from a failed creation: deleting it first",
                spec.name,
                status(existing.as_ref().unwrap())
            ));
            delete(ctx, &spec.name, deadline).await?;
            create(ctx, spec, params).await?;
        }
        Plan::Create => create(ctx, spec, params).await?,
        Plan::Update => {
            let sent = update_request(ctx, spec, params).send().await.aws(|| format!("updating stack {}", spec.name));
            match sent {
                Ok(_) => {}
                // Same resources, different text (whitespace, comments): nothing to do.
                Err(e) if message_contains(&e, "No updates are to be performed") => {
                    let stack = describe(ctx, &spec.name).await?.expect("exists");
                    return Ok((Plan::Unchanged, StackInfo::from(&stack)));
                }
                Err(e) => return Err(e),
            }
        }
    }
    let info = wait(ctx, &spec.name, since, deadline, &task).await?;
    progress::clear_in_flight();
    Ok((plan, info))
}

fn verb(plan: Plan) -> &'static str {
    match plan {
        Plan::Create => "creating",
        Plan::Recreate => "re-creating",
        Plan::Update => "updating",
        Plan::Unchanged => "up to date",
    }
}

/// UpdateStack of `spec`: its template and parameters, with the IAM capabilities our templates need.
fn update_request(
    ctx: &Context,
    spec: &StackSpec,
    params: Vec<Parameter>,
) -> aws_sdk_cloudformation::operation::update_stack::builders::UpdateStackFluentBuilder {
    ctx.cfn
        .update_stack()
        .stack_name(&spec.name)
        .template_body(&spec.template)
        .set_parameters(Some(params))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
}

async fn create(ctx: &Context, spec: &StackSpec, params: Vec<Parameter>) -> Result<()> {
    ctx.cfn
        .create_stack()
        .stack_name(&spec.name)
        .template_body(&spec.template)
        .set_parameters(Some(params))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .tags(Tag::builder().key(MARKER_TAG.0).value(MARKER_TAG.1).build())
        .send()
        .await
        .aws(|| format!("creating stack {}", spec.name))?;
    Ok(())
}

/// Delete the stack and wait until it is gone. Succeeds at once when there is no stack.
pub async fn delete(ctx: &Context, name: &str, deadline: Deadline) -> Result<bool> {
    let Some(stack) = describe(ctx, name).await? else { return Ok(false) };
    let id = stack.stack_id().unwrap_or(name).to_owned();
    let since = DateTime::from(std::time::SystemTime::now() - std::time::Duration::from_secs(5));
    let task = ctx.progress.task(format!("stack {name}: deleting"));
    ctx.cfn.delete_stack().stack_name(name).send().await.aws(|| format!("deleting stack {name}"))?;
    // Follow the stack by id: by name, a deleted stack "does not exist" at once.
    let info = wait(ctx, &id, since, deadline, &task).await;
    match info {
        Ok(_) => Ok(true),
        Err(e) if message_contains(&e, "does not exist") => Ok(true),
        Err(e) => Err(e),
    }
}

/// Poll until the stack leaves *_IN_PROGRESS, printing its new events; error on a failed outcome
/// with each failed resource and its reason.
async fn wait(ctx: &Context, name: &str, since: DateTime, deadline: Deadline, task: &Task) -> Result<StackInfo> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut failures: Vec<String> = Vec::new();
    let mut poller = deadline.poller(format!("stack {name}"), "notebook-vend bootstrap");
    loop {
        let stack = match describe(ctx, name).await {
            Ok(Some(stack)) => stack,
            Ok(None) => bail!("stack {name} does not exist"),
            Err(e) if is_transient(&e) => {
                poller.wait("unknown").await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Ok(events) = events_since(ctx, name, since).await {
            for ev in events {
                let id = ev.event_id().unwrap_or_default().to_owned();
                if !seen.insert(id) {
                    continue;
                }
                let line = format_event(&ev);
                if ev.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED")) {
                    failures.push(format!(
                        "{} ({}): {}",
                        ev.logical_resource_id().unwrap_or("?"),
                        ev.resource_type().unwrap_or("?"),
                        ev.resource_status_reason().unwrap_or("no reason given")
                    ));
                }
                task.println(line);
            }
        }
        let st = status(&stack).to_owned();
        // `name` may be the stack id (a deleted stack is found only by id): show its name.
        let name = stack.stack_name().unwrap_or(name);
        task.set(format!("stack {name}: {st}"));
        if !in_progress(&st) {
            use aws_sdk_cloudformation::types::StackStatus as S;
            let ok = matches!(
                stack.stack_status(),
                Some(S::CreateComplete | S::UpdateComplete | S::DeleteComplete | S::ImportComplete)
            );
            if ok {
                return Ok(StackInfo::from(&stack));
            }
            let reason = stack.stack_status_reason().unwrap_or("no reason given");
            if failures.is_empty() {
                bail!("stack {name} ended {st}: {reason}");
            }
            bail!("stack {name} ended {st}; failed resources: {}", failures.join("; "));
        }
        poller.wait(&st).await?;
    }
}

/// This operation's events, oldest first (the API answers newest first).
async fn events_since(ctx: &Context, name: &str, since: DateTime) -> Result<Vec<StackEvent>> {
    let out = ctx
        .cfn
        .describe_stack_events()
        .stack_name(name)
        .send()
        .await
        .aws(|| format!("reading events of stack {name}"))?;
    let mut events: Vec<StackEvent> = out
        .stack_events()
        .iter()
        .filter(|e| e.timestamp().is_some_and(|t| t.secs() >= since.secs()))
        .cloned()
        .collect();
    events.reverse();
    Ok(events)
}

fn format_event(ev: &StackEvent) -> String {
    let mut line = format!(
        "  {} {} {}",
        ev.resource_status().map(|s| s.as_str()).unwrap_or("?"),
        ev.resource_type().unwrap_or("?"),
        ev.logical_resource_id().unwrap_or("?"),
    );
    if let Some(reason) = ev.resource_status_reason().filter(|r| !r.is_empty()) {
        line.push_str(&format!(": {reason}"));
    }
    line
}

/// The template body the stack was deployed with, as given (TemplateStage Original, not the
/// processed form), or None when CloudFormation returns no body.
pub async fn deployed_template(ctx: &Context, stack: &str) -> Result<Option<String>> {
    let out = ctx
        .cfn
        .get_template()
        .stack_name(stack)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .aws(|| format!("reading the template of stack {stack}"))?;
    Ok(out.template_body().map(str::to_owned))
}

/// The value of parameter `key` of the stack `stack` (a name or, for a Service Catalog provisioned
/// product, the stack ARN its `PhysicalId` gives), or None when the stack is gone or has no such
/// parameter. Service Catalog has no API that returns the parameter values a provisioned product
/// was launched with (botocore `servicecatalog` 2015-12-10: DescribeRecord, DescribeProvisionedProduct
/// and GetProvisionedProductOutputs return outputs only); its CloudFormation stack has them
/// (DescribeStacks `Stacks[].Parameters`).
pub async fn parameter(ctx: &Context, stack: &str, key: &str) -> Result<Option<String>> {
    let Some(found) = describe(ctx, stack).await? else { return Ok(None) };
    Ok(found
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value())
        .map(str::to_owned))
}

/// The stack tag every stack notebook-vend creates carries (see `deploy`).
pub const MARKER_TAG: (&str, &str) = ("ManagedBy", "notebook-vend");

/// Was this stack deployed by notebook-vend? Yes when it carries the `ManagedBy=notebook-vend` tag
/// (DescribeStacks returns tags: no extra call), else when its deployed template has the
/// `Metadata.NotebookVend` marker. A stack that has neither was deployed by another tool (e.g. the AWS blog sample).
pub async fn is_ours(ctx: &Context, stack: &Stack) -> Result<bool> {
    if has_tag(stack, MARKER_TAG.0, MARKER_TAG.1) {
        return Ok(true);
    }
    let name = stack.stack_id().or(stack.stack_name()).unwrap_or_default();
    Ok(deployed_template(ctx, name).await?.is_some_and(|body| template_is_ours(&body)))
}

/// The template-level marker: a `NotebookVend` key under `Metadata` (YAML or JSON). No guess from
/// the Description: the tag has been on every stack notebook-vend created since its first version.
pub fn template_is_ours(body: &str) -> bool {
    body.lines().any(|l| l.trim_start().starts_with("NotebookVend:") || l.contains("\"NotebookVend\""))
}

/// The stack tag naming the template flavour a stack of ours was deployed with (absent: fresh).
pub const FLAVOUR_TAG: &str = "notebook-vend:flavour";
/// The flavour `bootstrap --adopt` deploys over the AWS blog sample's stacks (templates/adopt-blog/).
pub const ADOPTED_BLOG: &str = "adopted-blog";

/// The flavour of a stack of ours: its `notebook-vend:flavour` tag (set by `bootstrap --adopt`;
/// a plain UpdateStack without Tags keeps a stack's tags), else "fresh".
pub fn flavour(stack: &Stack) -> &str {
    stack.tags().iter().find(|t| t.key() == Some(FLAVOUR_TAG)).and_then(|t| t.value()).unwrap_or("fresh")
}

/// One resource of a stack (ListStackResources).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub logical_id: String,
    pub physical_id: String,
    pub kind: String,
    pub status: String,
}

/// Every resource of the stack, all pages.
pub async fn resources(ctx: &Context, name: &str) -> Result<Vec<Resource>> {
    let pages: Vec<_> = ctx
        .cfn
        .list_stack_resources()
        .stack_name(name)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws(|| format!("listing the resources of stack {name}"))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.stack_resource_summaries())
        .map(|r| Resource {
            logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
            physical_id: r.physical_resource_id().unwrap_or_default().to_owned(),
            kind: r.resource_type().unwrap_or_default().to_owned(),
            status: r.resource_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        })
        .collect())
}

/// One export of the account and Region (ListExports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Export {
    pub name: String,
    pub value: String,
    pub exporting_stack_id: String,
}

/// Every export of the account and Region, all pages.
pub async fn exports(ctx: &Context) -> Result<Vec<Export>> {
    let pages: Vec<_> = ctx.cfn.list_exports().into_paginator().send().try_collect().await.aws(|| "listing exports")?;
    Ok(pages
        .iter()
        .flat_map(|page| page.exports())
        .map(|e| Export {
            name: e.name().unwrap_or_default().to_owned(),
            value: e.value().unwrap_or_default().to_owned(),
            exporting_stack_id: e.exporting_stack_id().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// The stacks that import `export` (ListImports), all pages. An export nobody imports is
/// answered with a ValidationError ("... is not imported by any stack"): an empty list here.
pub async fn importers(ctx: &Context, export: &str) -> Result<Vec<String>> {
    let sent: Result<Vec<_>> = ctx
        .cfn
        .list_imports()
        .export_name(export)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws(|| format!("listing the stacks that import {export}"));
    match sent {
        Ok(pages) => Ok(pages.iter().flat_map(|page| page.imports().iter().cloned()).collect()),
        Err(e) if has_code(&e, &["ValidationError"]) && message_contains(&e, "not imported") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Update a stack of another tool's deployment to `spec` in place (`bootstrap --adopt`): tagged as
/// ours with `flavour`, with `stack_policy` in force for this update only (StackPolicyDuringUpdateBody:
/// CloudFormation refuses, and rolls back, any update action the policy denies, e.g. a replacement:
/// CloudFormation user guide, "Prevent updates to stack resources"). Waits with streamed events.
pub async fn adopt_update(
    ctx: &Context,
    spec: &StackSpec,
    flavour: &str,
    stack_policy: &str,
    deadline: Deadline,
) -> Result<StackInfo> {
    let params = spec.sdk_parameters();
    let before = describe(ctx, &spec.name).await?.ok_or_else(|| anyhow::anyhow!("stack {} is gone", spec.name))?;
    let ours = [(MARKER_TAG.0, MARKER_TAG.1), (FLAVOUR_TAG, flavour)];
    let since = DateTime::from(std::time::SystemTime::now() - std::time::Duration::from_secs(5));
    let task = ctx.progress.task(format!("stack {}: adopting (update in place)", spec.name));
    progress::set_in_flight(format!("stack {} adoption (update in place)", spec.name));
    let sent = update_request(ctx, spec, params)
        .set_tags(Some(tags_with(before.tags(), &ours)))
        .stack_policy_during_update_body(stack_policy)
        .send()
        .await
        .aws(|| format!("updating stack {} (adoption)", spec.name));
    match sent {
        Ok(_) => {}
        Err(e) if message_contains(&e, "No updates are to be performed") => {
            // Nothing changed, so the tags were sent before: check they are there rather than assume it.
            let stack =
                describe(ctx, &spec.name).await?.ok_or_else(|| anyhow::anyhow!("stack {} is gone", spec.name))?;
            progress::clear_in_flight();
            if let Some((k, v)) = ours.iter().find(|(k, v)| !has_tag(&stack, k, v)) {
                bail!(
                    "stack {}: CloudFormation performed no update, yet the stack lacks its tag {k}={v}; \
                     run `notebook-vend bootstrap --adopt` again",
                    spec.name
                );
            }
            return Ok(StackInfo::from(&stack));
        }
        Err(e) => return Err(e),
    }
    let info = wait(ctx, &spec.name, since, deadline, &task).await?;
    progress::clear_in_flight();
    Ok(info)
}

/// The stack's tags with `ours` set: UpdateStack with `Tags` replaces the stack's whole tag set
/// (and its resources'; botocore cloudformation UpdateStackInput.Tags), so the tags a team already
/// put there (cost allocation, ownership) are sent back beside ours. `aws:` keys are AWS's own and
/// cannot be sent.
fn tags_with(existing: &[Tag], ours: &[(&str, &str)]) -> Vec<Tag> {
    let mut tags: Vec<Tag> = existing
        .iter()
        .filter(|t| {
            let key = t.key().unwrap_or_default();
            !key.starts_with("aws:") && !ours.iter().any(|(k, _)| *k == key)
        })
        .cloned()
        .collect();
    tags.extend(ours.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()));
    tags
}

fn has_tag(stack: &Stack, key: &str, value: &str) -> bool {
    stack.tags().iter().any(|t| t.key() == Some(key) && t.value() == Some(value))
}

/// A stack's parameter values (DescribeStacks `Parameters`), or None when the stack is gone.
pub async fn parameter_values(ctx: &Context, name: &str) -> Result<Option<BTreeMap<String, String>>> {
    Ok(describe(ctx, name).await?.map(|s| {
        s.parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
            .collect()
    }))
}

#[cfg(test)]
mod marker_tests {
    use super::{tags_with, template_is_ours, Tag};

    #[test]
    fn an_adoption_keeps_the_stacks_own_tags_and_sets_ours() {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let existing = [tag("CostCenter", "ml"), tag("notebook-vend:flavour", "old"), tag("aws:cloudformation:x", "y")];
        let sent = tags_with(&existing, &[("ManagedBy", "notebook-vend"), ("notebook-vend:flavour", "adopted-blog")]);
        let pairs: Vec<(&str, &str)> = sent.iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
        assert_eq!(
            pairs,
            [("CostCenter", "ml"), ("ManagedBy", "notebook-vend"), ("notebook-vend:flavour", "adopted-blog")]
        );
    }

    #[test]
    fn the_template_marker_is_the_notebook_vend_metadata_key() {
        assert!(template_is_ours("Metadata:\n  NotebookVend: {Template: s3-iam-config}\n"));
        assert!(template_is_ours("{\"Metadata\": {\"NotebookVend\": {}}}"));
        assert!(template_is_ours(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/s3-iam-config.yml"))));
        assert!(template_is_ours(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/service-catalog.yml"))));
        // The blog fixture's Description mentions notebook-vend: not a marker.
        assert!(!template_is_ours("Description: >-\n  notebook-vend test fixture - the blog sample\n"));
    }
}
