//! `update --user U | --all`: move a notebook to the newest (or a named) product version and/or new
//! parameter values with Service Catalog UpdateProvisionedProduct, without ever losing a notebook
//! silently.
//!
//! The plan comes first: parameter diff, artifact from -> to, and whether the change is in place or
//! replaces the notebook (plan/update.rs: create-only properties of AWS::SageMaker::NotebookInstance,
//! mapped to the parameters that feed them in the new template). A replacing change is refused
//! (exit 2, nothing sent) unless --replace-notebook-losing-its-data, and is then done as terminate +
//! provision: an update would fail anyway, because CloudFormation cannot replace a custom-named
//! resource (CloudFormation user guide, "Name type").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{anyhow, bail, Result};
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use aws_sdk_servicecatalog::types::{ProvisionedProductStatus as Pp, RecordStatus};
use serde::Serialize;

use crate::aws::catalog::{self, Artifact, Product, Provisioned};
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::objects;
use crate::aws::parameters;
use crate::aws::poll::{self, Deadline};
use crate::aws::stacks;
use crate::aws::urls;
use crate::cli::UpdateArgs;
use crate::cmd::shared::fanout::{self, Lines, Tally};
use crate::cmd::shared::prompt::{confirm, require_answerable};
use crate::cmd::shared::vend::{self, Request};
use crate::error::{has_code, is_denied, is_transient, usage};
use crate::names::user;
use crate::output::table;
use crate::plan::replace_intent::{self, Intent};
use crate::plan::template;
use crate::plan::update::{self, ParamChange};
use crate::progress::Task;

/// What the update does to the notebook.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    NoChange,
    InPlace,
    ReplacesTheNotebook,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::NoChange => "no change",
            Effect::InPlace => "in place",
            Effect::ReplacesTheNotebook => "replaces the notebook",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub user: String,
    pub provisioned_product: String,
    pub status: String,
    pub artifact_from: String,
    pub artifact_to: String,
    pub changes: Vec<ParamChange>,
    pub effect: Effect,
    /// Create-only notebook properties the change reaches.
    pub replacing: Vec<String>,
    pub notes: Vec<String>,
    #[serde(skip)]
    target: Option<Artifact>,
    #[serde(skip)]
    pp: Option<Provisioned>,
    #[serde(skip)]
    keep: Vec<String>,
    #[serde(skip)]
    set: BTreeMap<String, String>,
    #[serde(skip)]
    current: BTreeMap<String, String>,
    /// A template the plan needs is not readable with this identity: what the update does to the
    /// notebook is unknown, so it is refused (the reason).
    #[serde(skip)]
    blind: Option<String>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "user                 {}", self.user)?;
        writeln!(f, "provisioned product  {} ({})", self.provisioned_product, self.status)?;
        writeln!(f, "artifact             {} -> {}", self.artifact_from, self.artifact_to)?;
        if self.changes.is_empty() {
            writeln!(f, "parameters           unchanged")?;
        }
        for c in &self.changes {
            writeln!(f, "parameter            {}: {} -> {}", c.key, c.from.as_deref().unwrap_or("(unknown)"), c.to)?;
        }
        write!(f, "effect               {}", self.effect)?;
        if !self.replacing.is_empty() {
            write!(f, " (create-only: {})", self.replacing.join(", "))?;
        }
        for n in &self.notes {
            write!(f, "\nnote                 {n}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct Updated {
    #[serde(flatten)]
    plan: Plan,
    result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_expires: Option<String>,
}

impl fmt::Display for Updated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.plan)?;
        if let Some(r) = &self.record_id {
            writeln!(f, "record               {r}")?;
        }
        if let Some(s) = &self.session_expires {
            writeln!(f, "fresh URL stored     session expires {s}")?;
        }
        write!(f, "result               {}", self.result)
    }
}

const REPLACE_FLAG: &str = "--replace-notebook-losing-its-data";

pub async fn run(args: &UpdateArgs, ctx: &Context) -> Result<()> {
    let requested = requested(args)?;
    if args.all && args.replace_notebook_losing_its_data {
        return Err(usage(format!("{REPLACE_FLAG} applies to one user at a time (--user U), never to --all")));
    }
    if let Some(user) = &args.user {
        if args.replace_notebook_losing_its_data && !args.dry_run {
            require_answerable(args.yes, false, &format!("replace the notebook of {user}"))?;
        }
        let product = catalog::resolve_product(ctx).await?;
        if let Some(intent) = replace_intent::load(&product.id, user)? {
            if args.dry_run {
                return Err(usage(format!(
                    "a replacement of {user}'s notebook confirmed earlier is not finished ({}); run `notebook-vend \
                     update --user {user}` to finish it, before planning anything else",
                    replace_intent::path(&product.id, user)?.display()
                )));
            }
            let done = resume_replacement(ctx, args, &product, intent).await?;
            return crate::output::emit(ctx.output, &done);
        }
        let artifacts = catalog::versions(ctx, &product).await?;
        let target = target_artifact(args, &product, &artifacts)?;
        let task = ctx.progress.task(format!("planning the update of {user}"));
        let plan = plan(ctx, &product, &artifacts, &target, user, &requested).await?;
        if args.dry_run {
            drop(task);
            return crate::output::emit(ctx.output, &plan);
        }
        let done = execute(ctx, args, &product, plan, &task, true).await?;
        drop(task);
        return crate::output::emit(ctx.output, &done);
    }
    run_all(args, ctx, &requested).await
}

fn requested(args: &UpdateArgs) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in &args.params {
        if k == "NotebookUserName" {
            return Err(usage("--param NotebookUserName: the user is given with --user (and names the notebook)"));
        }
        if out.insert(k.clone(), v.clone()).is_some() {
            return Err(usage(format!("product parameter {k} is given twice")));
        }
    }
    if let Some(t) = &args.instance_type {
        if out.insert("NotebookInstanceType".into(), t.clone()).is_some() {
            return Err(usage("product parameter NotebookInstanceType is given twice (--instance-type and --param)"));
        }
    }
    Ok(out)
}

fn target_artifact(args: &UpdateArgs, product: &Product, artifacts: &[Artifact]) -> Result<Artifact> {
    match args.to_version.as_deref() {
        None | Some("latest") => artifacts
            .iter()
            .find(|a| a.id == product.artifact_id)
            .cloned()
            .ok_or_else(|| anyhow!("the newest artifact {} is not listed", product.artifact_id)),
        Some(name) => {
            let found = artifacts.iter().find(|a| a.name == name || a.id == name).cloned();
            // A DEPRECATED version stays a valid update target: "Users are able to make updates to
            // a provisioned product of a deprecated version but cannot launch new provisioned
            // products using a deprecated version" (botocore servicecatalog,
            // UpdateProvisioningArtifact.Guidance). The plan says it is deprecated.
            found.ok_or_else(|| {
                let names: Vec<String> = artifacts
                    .iter()
                    .map(|a| if a.active { a.name.clone() } else { format!("{} (deprecated)", a.name) })
                    .collect();
                usage(format!(
                    "--to-version {name:?} is not an artifact of {}; choose from: latest, {}",
                    product.name,
                    names.join(", ")
                ))
            })
        }
    }
}

fn artifact_name(artifacts: &[Artifact], id: Option<&str>) -> String {
    match id {
        Some(id) => {
            artifacts.iter().find(|a| a.id == id).map(|a| format!("{} ({})", a.name, a.id)).unwrap_or(id.to_owned())
        }
        None => "unknown".into(),
    }
}

async fn plan(
    ctx: &Context,
    product: &Product,
    artifacts: &[Artifact],
    target: &Artifact,
    user: &str,
    requested: &BTreeMap<String, String>,
) -> Result<Plan> {
    let specs = target_parameters(ctx, product, target, requested).await?;
    let pp = catalog::find_for_user(ctx, product, user).await?.ok_or_else(|| {
        anyhow!("{user} has no notebook of {}; provision it with `notebook-vend provision --user {user}`", product.name)
    })?;
    let stack = catalog::stack_of(ctx, &pp).await;
    let current = match &stack {
        Some(s) => stacks::parameter_values(ctx, s).await.ok().flatten(),
        None => None,
    };
    let mut notes = Vec::new();
    if current.is_none() {
        notes.push(
            "current parameter values unreadable (cloudformation:DescribeStacks): every given value counts as a change"
                .into(),
        );
    }
    let current = current.unwrap_or_default();
    let changes = param_changes(requested, &current, &specs);
    let changed: BTreeSet<String> = changes.iter().map(|c| c.key.clone()).collect();

    let moves = pp.artifact_id.as_deref() != Some(target.id.as_str());
    // Whether the notebook stays is read from the templates: the deployed one and, for a move, the
    // target version's. Nothing to judge when nothing changes.
    let (mut replacing, blind) = if moves || !changed.is_empty() {
        judge(ctx, product, stack.as_deref(), target, moves, &changed, user).await?
    } else {
        (Vec::new(), None)
    };
    if let Some(why) = &blind {
        notes.push(why.clone());
    }
    notes.extend(target_notes(target, &changed));
    if let Some(shrink) = update::volume_shrink(&changes) {
        replacing.push(shrink);
    }
    let effect = if !replacing.is_empty() {
        Effect::ReplacesTheNotebook
    } else if changes.is_empty() && !moves && pp.state() == Pp::Available {
        Effect::NoChange
    } else {
        Effect::InPlace
    };
    let keep = kept_parameters(ctx, product, &pp, &specs, &current, requested).await?;
    if !current.is_empty() {
        check_kept(&specs, &current, requested, &target.name)?;
    }
    Ok(Plan {
        user: user.to_owned(),
        provisioned_product: pp.name.clone(),
        status: pp.status.clone(),
        artifact_from: artifact_name(artifacts, pp.artifact_id.as_deref()),
        artifact_to: artifact_name(artifacts, Some(&target.id)),
        changes,
        effect,
        replacing,
        notes,
        target: Some(target.clone()),
        pp: Some(pp),
        keep,
        set: requested.clone(),
        current,
        blind,
    })
}

/// The target artifact's parameters, with the requested values checked against them: before
/// anything is sent.
async fn target_parameters(
    ctx: &Context,
    product: &Product,
    target: &Artifact,
    requested: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, parameters::ParamSpec>> {
    let mut target_product = product.clone();
    target_product.artifact_id = target.id.clone();
    target_product.artifact_name = target.name.clone();
    let specs = parameters::describe(ctx, &target_product).await?;
    parameters::validate(requested, &specs)?;
    Ok(specs)
}

/// The requested values that differ from those in effect (every one, when those are unknown).
fn param_changes(
    requested: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
    specs: &BTreeMap<String, parameters::ParamSpec>,
) -> Vec<ParamChange> {
    requested
        .iter()
        .filter(|(k, v)| !current.get(*k).is_some_and(|c| same_value(specs.get(*k), c, v)))
        .map(|(k, v)| ParamChange { key: k.clone(), from: current.get(k).cloned(), to: v.clone() })
        .collect()
}

/// What the plan says about the target version and an instance type change, for the operator to
/// know before confirming.
fn target_notes(target: &Artifact, changed: &BTreeSet<String>) -> Vec<String> {
    let mut notes = Vec::new();
    if !target.active {
        notes.push(format!(
            "version {} is DEPRECATED: notebooks already on it can be updated on it, new ones cannot be launched from it",
            target.name
        ));
    }
    if changed.contains("NotebookInstanceType") {
        notes.push(
            "an instance type change is in place: CloudFormation stops the notebook, updates it and starts it again \
             (Stopping -> Stopped -> Updating -> Pending -> InService; several minutes, the notebook is unavailable meanwhile)"
                .into(),
        );
    }
    notes
}

/// Every parameter of the target artifact the product already has keeps its value
/// (UsePreviousValue); one new in the target version takes its default: UsePreviousValue needs a
/// previous value, which a parameter the deployed version does not declare has not.
async fn kept_parameters(
    ctx: &Context,
    product: &Product,
    pp: &Provisioned,
    specs: &BTreeMap<String, parameters::ParamSpec>,
    current: &BTreeMap<String, String>,
    requested: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let deployed = match current.is_empty() {
        false => current.keys().cloned().collect(),
        true => deployed_parameter_names(ctx, product, pp).await?,
    };
    Ok(specs.keys().filter(|k| !requested.contains_key(*k) && deployed.contains(*k)).cloned().collect())
}

/// The parameters of the version a product is on (DescribeProvisioningParameters of its artifact):
/// what its stack declares, when the stack's own values cannot be read.
async fn deployed_parameter_names(ctx: &Context, product: &Product, pp: &Provisioned) -> Result<BTreeSet<String>> {
    let Some(artifact) = &pp.artifact_id else { bail!("provisioned product {} names no version", pp.name) };
    let mut deployed = product.clone();
    deployed.artifact_id = artifact.clone();
    Ok(parameters::describe(ctx, &deployed).await?.into_keys().collect())
}

/// Is a given value the one in effect? A Number parameter is compared as a number (`010` is 10,
/// as CloudFormation reads it), anything else as text.
fn same_value(spec: Option<&parameters::ParamSpec>, current: &str, given: &str) -> bool {
    let number = |v: &str| v.trim().parse::<f64>().ok();
    match (spec.map(|s| s.kind.as_str()), number(current), number(given)) {
        (Some("Number"), Some(a), Some(b)) => a == b,
        _ => current == given,
    }
}

/// The target version sees every value, not only the given ones: a kept value its narrowed
/// constraints refuse, or a new parameter without a default, fails the update on AWS (the record
/// FAILED, the product TAINTED). Refused here instead (exit 2), naming the flag that fixes it.
fn check_kept(
    specs: &BTreeMap<String, parameters::ParamSpec>,
    current: &BTreeMap<String, String>,
    requested: &BTreeMap<String, String>,
    version: &str,
) -> Result<()> {
    for (key, spec) in specs.iter().filter(|(k, _)| !requested.contains_key(*k)) {
        let flag = if key == "NotebookInstanceType" {
            "--instance-type TYPE".to_owned()
        } else {
            format!("--param {key}=VALUE")
        };
        match current.get(key) {
            Some(value) => parameters::check(spec, value).map_err(|allowed| {
                usage(format!(
                    "parameter {key}={} (kept from the current version) is not allowed by version {version}: {allowed}; \
                     give a new value with {flag}; nothing was sent",
                    crate::text::cut(value)
                ))
            })?,
            None if spec.default.is_none() => {
                return Err(usage(format!(
                    "version {version} adds parameter {key}, which has no default: give it with {flag}; nothing was sent"
                )))
            }
            None => {}
        }
    }
    Ok(())
}

/// A template the plan reads: its text, or why this identity may not read it.
enum Read {
    Body(String),
    Denied(String),
}

/// The create-only properties (and other reasons) by which the update replaces or deletes the
/// notebook, or, when a template is not readable with this identity, why the update is refused.
/// A template that cannot be read as CloudFormation reads it, or that does not let the effect be
/// proven, is bad input: exit 2, nothing sent.
async fn judge(
    ctx: &Context,
    product: &Product,
    stack: Option<&str>,
    target: &Artifact,
    moves: bool,
    changed: &BTreeSet<String>,
    user: &str,
) -> Result<(Vec<String>, Option<String>)> {
    let Some(stack) = stack else {
        return Err(usage(format!(
            "not updating {user}'s notebook: its provisioned product names no CloudFormation stack, so what the \
             update does to the notebook cannot be read; nothing was sent"
        )));
    };
    let deployed = match read_deployed(ctx, stack).await? {
        Read::Body(b) => b,
        Read::Denied(why) => return Ok((Vec::new(), Some(why))),
    };
    let target_body = if moves {
        match read_target(ctx, product, target).await? {
            Read::Body(b) => b,
            Read::Denied(why) => return Ok((Vec::new(), Some(why))),
        }
    } else {
        deployed.clone()
    };
    let refuse = |what: String, why: String| {
        usage(format!(
            "not updating {user}'s notebook: {what} {why}; whether the update keeps the notebook cannot be proven, \
             so nothing was sent"
        ))
    };
    let old = template::parse(&deployed).map_err(|e| refuse(format!("the deployed template of stack {stack}"), e))?;
    let new =
        template::parse(&target_body).map_err(|e| refuse(format!("the template of version {}", target.name), e))?;
    let replacing =
        update::replacing(&old, &new, changed).map_err(|e| refuse("updating to this version:".into(), e))?;
    Ok((replacing, None))
}

/// The deployed template (GetTemplate on the product's SC-* stack).
async fn read_deployed(ctx: &Context, stack: &str) -> Result<Read> {
    match poll::again_if_transient(|| stacks::deployed_template(ctx, stack)).await {
        Ok(Some(body)) => Ok(Read::Body(body)),
        Ok(None) => Err(anyhow!("GetTemplate answered no template body for stack {stack}")),
        Err(e) if is_denied(&e) => Ok(Read::Denied(format!(
            "the deployed template is not readable with this identity (cloudformation:GetTemplate on stack {stack}, \
             in `notebook-vend policy end-user`)"
        ))),
        Err(e) => Err(e.context("reading the deployed template, to see whether the update keeps the notebook")),
    }
}

/// The target version's template: its URL from DescribeProvisioningArtifact (Verbose), the object
/// from the bootstrap bucket. Neither is in AWS's end-user access (AWSServiceCatalogEndUserFullAccess);
/// both are in `policy end-user`.
async fn read_target(ctx: &Context, product: &Product, target: &Artifact) -> Result<Read> {
    let denied = |what: &str| {
        Read::Denied(format!(
            "the new version's template is not readable with this identity ({what}; servicecatalog:\
             DescribeProvisioningArtifact and s3:GetObject on the bootstrap bucket are both in `notebook-vend policy \
             end-user`)"
        ))
    };
    let url = match poll::again_if_transient(|| catalog::artifact_template_url(ctx, product, &target.id)).await {
        Ok(Some(url)) => url,
        Ok(None) => bail!("artifact {} of {} has no TemplateUrl", target.id, product.name),
        Err(e) if is_denied(&e) => return Ok(denied("servicecatalog:DescribeProvisioningArtifact")),
        Err(e) => return Err(e.context("reading the new version's template URL")),
    };
    match poll::again_if_transient(|| objects::read_url(ctx, &url)).await {
        Ok(Some(body)) => Ok(Read::Body(body)),
        Ok(None) => bail!("the template URL {url} of artifact {} is not an S3 object URL", target.id),
        Err(e) if is_denied(&e) => Ok(denied(&format!("s3:GetObject on {url}"))),
        Err(e) => Err(e.context("reading the new version's template")),
    }
}

async fn execute(
    ctx: &Context,
    args: &UpdateArgs,
    product: &Product,
    plan: Plan,
    task: &Task,
    single: bool,
) -> Result<Updated> {
    let user = plan.user.clone();
    let pp = plan.pp.clone().expect("a plan has its product");
    let target = plan.target.clone().expect("a plan has its target");
    let resume = format!("notebook-vend update --user {user}");
    require_settled(&pp, &user)?;
    if plan.effect == Effect::NoChange {
        let session_expires = finish_cut_short(ctx, args, &pp, &user, task).await?;
        let result = match session_expires {
            Some(_) => "already up to date; the last update's fresh URL was missing and is now stored",
            None => "already up to date",
        };
        return Ok(Updated { plan, result: result.into(), record_id: None, session_expires });
    }
    if plan.effect == Effect::ReplacesTheNotebook {
        return replace_if_confirmed(ctx, args, product, plan, task, single).await;
    }
    refuse_blind(&plan)?;
    let name = user::notebook_name(&user);
    let was_running = matches!(notebook::describe(ctx, &name).await?, Some(nb) if nb.state() == Nb::InService);
    for n in &plan.notes {
        task.println(format!("{user}: {n}"));
    }
    let record_id = send_update(ctx, product, &pp, &target, &plan).await?;
    task.println(format!("updating {} for {user}: record {record_id}", pp.name));
    let deadline = Deadline::secs(args.timeout);
    catalog::wait_record(ctx, &record_id, deadline, task, &resume).await.map_err(|e| {
        e.context(format!(
            "the update of {user} failed; the product is left TAINTED with the notebook as it was; `{resume}` retries"
        ))
    })?;
    let mut session_expires = None;
    if was_running {
        // The update restarted the notebook: the URL stored before points at the old session.
        wait_back_in_service(ctx, &name, deadline, task, &resume).await?;
        let req = Request {
            user: &user,
            store: &args.store,
            grace: vend::NOT_FOUND_GRACE,
            when_stopped: notebook::WhenStopped::Start,
            resume: resume.clone(),
            show_url: false,
            stack: None,
        };
        session_expires = Some(vend::deliver(ctx, &req, deadline, task).await?.stored.session_expires);
    }
    Ok(Updated { plan, result: "updated".into(), record_id: Some(record_id), session_expires })
}

/// An update is sent only to a product in a stable state: another operation running on it, or a
/// product in ERROR, is refused with what to do.
fn require_settled(pp: &Provisioned, user: &str) -> Result<()> {
    match pp.state() {
        Pp::UnderChange | Pp::PlanInProgress => bail!(
            "provisioned product {} of {user} is {} (record {}): another update or provision is running; wait for it and run update again",
            pp.name,
            pp.status,
            pp.last_record_id.as_deref().unwrap_or("?")
        ),
        Pp::Available | Pp::Tainted => Ok(()),
        _ => bail!(
            "provisioned product {} of {user} is {}: {}; terminate it with `notebook-vend terminate --user {user}`",
            pp.name,
            pp.status,
            pp.status_message.as_deref().unwrap_or("")
        ),
    }
}

/// A change that replaces the notebook loses the user's work: done only for one user named with
/// the flag, and once confirmed (or --yes); refused otherwise, nothing sent.
async fn replace_if_confirmed(
    ctx: &Context,
    args: &UpdateArgs,
    product: &Product,
    plan: Plan,
    task: &Task,
    single: bool,
) -> Result<Updated> {
    let user = &plan.user;
    let name = user::notebook_name(user);
    if !(single && args.replace_notebook_losing_its_data) {
        return Err(usage(format!(
            "this change replaces the notebook {name} ({}: only a new AWS::SageMaker::NotebookInstance takes it): \
             its volume, {user}'s work, would be lost, and CloudFormation refuses to replace a custom-named notebook; \
             nothing was sent. To terminate and provision it again with the new values: {REPLACE_FLAG} --user {user}",
            plan.replacing.join(", ")
        )));
    }
    if !args.yes && !confirm(&format!("Delete notebook {name} and its volume, then provision it again?")).await? {
        bail!("not confirmed; nothing was changed");
    }
    replace(ctx, args, product, plan, task).await
}

/// Without the templates, a renamed notebook resource, a redefined create-only property or a
/// parameter feeding one cannot be seen, and the notebook (the user's work) could be replaced or
/// deleted: refuse rather than risk it.
fn refuse_blind(plan: &Plan) -> Result<()> {
    if let Some(why) = &plan.blind {
        let user = &plan.user;
        bail!(
            "not {} {user}'s notebook: {why}, so whether the update keeps the notebook is unknown; nothing was sent. \
             An operator can run `notebook-vend update --user {user}`",
            if plan.artifact_from != plan.artifact_to { "moving" } else { "changing" }
        );
    }
    Ok(())
}

/// UpdateProvisionedProduct with the plan's values; returns the record id.
async fn send_update(
    ctx: &Context,
    product: &Product,
    pp: &Provisioned,
    target: &Artifact,
    plan: &Plan,
) -> Result<String> {
    let user = &plan.user;
    let record = match catalog::update(ctx, pp, product, &target.id, &plan.set, &plan.keep).await {
        Ok(r) => r,
        // UpdateProvisionedProduct's modelled errors are InvalidParametersException and
        // ResourceNotFoundException (botocore servicecatalog): a product another operation took
        // since the plan read it answers the former, so the product is read again to tell.
        Err(e) if has_code(&e, &["InvalidParametersException"]) && under_change(ctx, product, user).await => bail!(
            "provisioned product {} of {user} is under change: another update or provision is running; wait for it and run update again ({e:#})",
            pp.name
        ),
        Err(e) => return Err(e),
    };
    Ok(record.record_id().unwrap_or_default().to_owned())
}

/// Is the user's provisioned product held by another operation right now?
async fn under_change(ctx: &Context, product: &Product, user: &str) -> bool {
    matches!(
        catalog::find_for_user(ctx, product, user).await,
        Ok(Some(pp)) if matches!(pp.state(), Pp::UnderChange | Pp::PlanInProgress)
    )
}

/// A run cut short (killed, or its URL store failed) after its update went through leaves the
/// product on the target with the URL of the notebook before its restart. Seen from the product's
/// last record (a successful update that completed after the URL was stored), and finished: the
/// notebook awaited back in service and a fresh URL stored. A notebook stopped since is left alone.
async fn finish_cut_short(
    ctx: &Context,
    args: &UpdateArgs,
    pp: &Provisioned,
    user: &str,
    task: &Task,
) -> Result<Option<String>> {
    if !url_behind_last_update(ctx, pp, user).await? {
        return Ok(None);
    }
    let name = user::notebook_name(user);
    let resume = format!("notebook-vend update --user {user}");
    match notebook::describe(ctx, &name).await? {
        Some(nb) if !matches!(nb.state(), Nb::Stopped | Nb::Stopping | Nb::Failed | Nb::Deleting) => {}
        _ => return Ok(None),
    }
    let deadline = Deadline::secs(args.timeout);
    wait_back_in_service(ctx, &name, deadline, task, &resume).await?;
    let req = Request {
        user,
        store: &args.store,
        grace: vend::NOT_FOUND_GRACE,
        when_stopped: notebook::WhenStopped::Fail,
        resume,
        show_url: false,
        stack: None,
    };
    Ok(Some(vend::deliver(ctx, &req, deadline, task).await?.stored.session_expires))
}

/// Did the product's last record, a successful update, complete after the user's URL was stored
/// (or is no URL stored)?
async fn url_behind_last_update(ctx: &Context, pp: &Provisioned, user: &str) -> Result<bool> {
    let Some(record) = pp.last_record_id.as_deref() else { return Ok(false) };
    let (detail, _) = catalog::describe_record(ctx, record).await?;
    let succeeded = matches!(detail.status(), Some(RecordStatus::Succeeded));
    if detail.record_type() != Some("UPDATE_PROVISIONED_PRODUCT") || !succeeded {
        return Ok(false);
    }
    let Some(done) = detail.updated_time().or(detail.created_time()).copied() else { return Ok(false) };
    let stored = urls::describe(ctx, Some(user)).await?.first().and_then(|(_, p)| p.last_modified_date().copied());
    Ok(stored.is_none_or(|at| at.as_secs_f64() < done.as_secs_f64()))
}

/// After an in-place update the notebook goes Stopping -> Stopped -> Updating -> Pending ->
/// InService; the record may complete before it is back. A Stopped notebook is started (it was
/// running before the update); a start refused because the update moved it on is waited out.
async fn wait_back_in_service(ctx: &Context, name: &str, deadline: Deadline, task: &Task, resume: &str) -> Result<()> {
    let mut poller = deadline.steady_poller(format!("notebook {name} to be InService again"), resume);
    loop {
        let nb = match notebook::describe(ctx, name).await {
            Ok(Some(nb)) => Some(nb),
            Ok(None) => bail!("notebook {name} disappeared during the update"),
            Err(e) if is_transient(&e) => None,
            Err(e) => return Err(e),
        };
        let status = nb.as_ref().map_or_else(|| "unknown".to_owned(), |nb| nb.status.clone());
        match nb.map(|nb| nb.state()) {
            Some(Nb::InService) => return Ok(()),
            Some(Nb::Failed) => bail!("notebook {name} Failed after the update"),
            Some(Nb::Stopped) => match notebook::start(ctx, name).await {
                Ok(()) => {}
                Err(e) if has_code(&e, &["ValidationException"]) => {}
                Err(e) => return Err(e),
            },
            // Still moving (Stopping -> Updating -> Pending), or in maintenance, which SageMaker
            // ends on its own: the URL is stored once it is InService. Deleting is caught by the
            // next describe (gone). A state newer than this SDK is waited too.
            _ => {}
        }
        task.set(format!("notebook {name}: {status}"));
        poller.wait(&status).await?;
    }
}

/// Terminate + provision with the new values (the user confirmed losing the notebook). What the
/// new notebook is to be (version, every value, the user's tags) is kept on disk before the
/// terminate, so that a failure or a kill between the two is finished by the next
/// `update --user U` with the same values (plan/replace_intent.rs).
async fn replace(ctx: &Context, args: &UpdateArgs, product: &Product, plan: Plan, task: &Task) -> Result<Updated> {
    let user = plan.user.clone();
    let pp = plan.pp.clone().expect("a plan has its product");
    let target = plan.target.clone().expect("a plan has its target");
    let tags = catalog::user_tags(ctx, product, &pp.id).await?.ok_or_else(|| {
        anyhow!(
            "cannot read the tags of provisioned product {}, which the new notebook must keep: not replacing it; \
             nothing was sent",
            pp.name
        )
    })?;
    let mut params = plan.current.clone();
    params.retain(|k, _| plan.keep.contains(k) || plan.set.contains_key(k));
    params.extend(plan.set.clone());
    params.insert("NotebookUserName".into(), user.clone());
    let intent = Intent {
        user: user.clone(),
        product_id: product.id.clone(),
        artifact_id: target.id.clone(),
        artifact_name: target.name.clone(),
        parameters: params,
        tags,
        saved_at: now_secs(),
    };
    let kept = replace_intent::save(&intent)?;
    terminate_for_replacement(ctx, args, &pp, &user, &kept, task).await?;
    let (id, session_expires) = provision_replacement(ctx, args, product, &intent, task).await?;
    Ok(Updated {
        plan,
        result: "replaced (terminated and provisioned again)".into(),
        record_id: Some(id),
        session_expires: Some(session_expires),
    })
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// The terminate of a confirmed replacement, until the notebook is gone; then its URL parameter,
/// which pointed at the deleted notebook, is deleted too.
async fn terminate_for_replacement(
    ctx: &Context,
    args: &UpdateArgs,
    pp: &Provisioned,
    user: &str,
    kept: &std::path::Path,
    task: &Task,
) -> Result<()> {
    let name = user::notebook_name(user);
    let resume = format!("notebook-vend update --user {user}");
    let state = |e: anyhow::Error| {
        e.context(format!(
            "the replacement of {name} stopped while terminating it (its volume may already be deleted); the new \
             notebook's values and tags are kept in {}: `{resume}` finishes the replacement with them",
            kept.display()
        ))
    };
    let deadline = Deadline::secs(args.timeout);
    let rec = catalog::terminate(ctx, pp, false).await.map_err(state)?;
    task.println(format!("terminating {} for {user}: record {rec}", pp.name));
    catalog::wait_record(ctx, &rec, deadline, task, &resume).await.map_err(state)?;
    notebook::wait_for(ctx, &name, None, deadline, task, &resume).await.map_err(state)?;
    urls::delete(ctx, user).await.map_err(state)?;
    Ok(())
}

/// Provision the notebook again from a kept replacement, store its URL, drop what was kept.
/// Returns the record id and when the URL's session expires.
async fn provision_replacement(
    ctx: &Context,
    args: &UpdateArgs,
    product: &Product,
    intent: &Intent,
    task: &Task,
) -> Result<(String, String)> {
    let user = intent.user.as_str();
    let name = user::notebook_name(user);
    let resume = format!("notebook-vend update --user {user}");
    let kept = replace_intent::path(&product.id, user)?;
    let deleted = |e: anyhow::Error| {
        e.context(format!(
            "notebook {name} was deleted (the replacement was confirmed) and provisioning it again has not finished; \
             its values and tags are kept in {}: `{resume}` provisions it with them",
            kept.display()
        ))
    };
    let deadline = Deadline::secs(args.timeout);
    let mut target = product.clone();
    target.artifact_id = intent.artifact_id.clone();
    target.artifact_name = intent.artifact_name.clone();
    let record = catalog::provision(ctx, &target, user, &intent.parameters, &intent.tags).await.map_err(deleted)?;
    let id = record.record_id().unwrap_or_default().to_owned();
    task.println(format!("provisioning {} for {user} again: record {id}", target.name));
    catalog::wait_record(ctx, &id, deadline, task, &resume).await.map_err(deleted)?;
    let req = Request {
        user,
        store: &args.store,
        grace: vend::NOT_FOUND_GRACE,
        when_stopped: notebook::WhenStopped::Start,
        resume: resume.clone(),
        show_url: false,
        stack: None,
    };
    let delivery = vend::deliver(ctx, &req, deadline, task).await.map_err(deleted)?;
    replace_intent::remove(&product.id, user)?;
    Ok((id, delivery.stored.session_expires))
}

/// A replacement a previous run confirmed and did not finish: the old product still there (created
/// before the replacement was kept) is terminated first; then the notebook is provisioned with
/// the kept values and tags (a provision already sent is found again by its token).
async fn resume_replacement(ctx: &Context, args: &UpdateArgs, product: &Product, intent: Intent) -> Result<Updated> {
    let user = intent.user.clone();
    let task = ctx.progress.task(format!("finishing the replacement of {user}'s notebook"));
    let kept = replace_intent::path(&product.id, &user)?;
    task.println(format!(
        "{user}: finishing the replacement confirmed earlier, with the values kept in {}",
        kept.display()
    ));
    if let Some(pp) = catalog::find_for_user(ctx, product, &user).await? {
        let created = pp
            .created
            .as_deref()
            .and_then(|c| aws_smithy_types::DateTime::from_str(c, aws_smithy_types::date_time::Format::DateTime).ok());
        if created.is_none_or(|c| c.secs() < intent.saved_at) {
            terminate_for_replacement(ctx, args, &pp, &user, &kept, &task).await?;
        }
    }
    let (id, session_expires) = provision_replacement(ctx, args, product, &intent, &task).await?;
    let plan = Plan {
        user: user.clone(),
        provisioned_product: user::provisioned_product_name(&user),
        status: "AVAILABLE".into(),
        artifact_from: "(terminated)".into(),
        artifact_to: intent.artifact_name.clone(),
        changes: Vec::new(),
        effect: Effect::ReplacesTheNotebook,
        replacing: Vec::new(),
        notes: vec![format!("the replacement confirmed earlier, with the values kept in {}", kept.display())],
        target: None,
        pp: None,
        keep: Vec::new(),
        set: intent.parameters.clone(),
        current: BTreeMap::new(),
        blind: None,
    };
    drop(task);
    Ok(Updated {
        plan,
        result: "provisioned again (the replacement is finished)".into(),
        record_id: Some(id),
        session_expires: Some(session_expires),
    })
}

#[derive(Debug, Serialize)]
struct Row {
    user: String,
    result: String,
    effect: Option<Effect>,
    artifact: Option<String>,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct AllUpdated {
    updated: usize,
    failed: usize,
    results: Vec<Row>,
}

impl fmt::Display for AllUpdated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .map(|r| {
                vec![
                    r.user.clone(),
                    r.effect.map(|e| e.to_string()).unwrap_or_default(),
                    r.artifact.clone().unwrap_or_default(),
                    r.result.clone(),
                ]
            })
            .collect();
        writeln!(f, "{}", table(&["USER", "EFFECT", "ARTIFACT", "RESULT"], &rows))?;
        write!(f, "{} ok, {} failed", self.updated, self.failed)
    }
}

/// Products not on the target, TAINTED, or whose last update's fresh URL was never stored (a run
/// cut short: its URL store failed, or it was killed).
async fn outdated(ctx: &Context, found: Vec<Provisioned>, target: &Artifact) -> Result<Vec<Provisioned>> {
    let checked: Vec<Result<Option<Provisioned>>> = fanout::bounded(found, 8, |p| async move {
        if p.artifact_id.as_deref() != Some(target.id.as_str()) || p.state() == Pp::Tainted {
            return Ok(Some(p));
        }
        let behind = match &p.user {
            Some(user) => url_behind_last_update(ctx, &p, user).await?,
            None => false,
        };
        Ok(behind.then_some(p))
    })
    .await;
    Ok(checked.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten().collect())
}

async fn run_all(args: &UpdateArgs, ctx: &Context, requested: &BTreeMap<String, String>) -> Result<()> {
    let product = catalog::resolve_product(ctx).await?;
    let artifacts = catalog::versions(ctx, &product).await?;
    let target = target_artifact(args, &product, &artifacts)?;
    let mut target_product = product.clone();
    target_product.artifact_id = target.id.clone();
    parameters::validate(requested, &parameters::describe(ctx, &target_product).await?)?;
    let mut found: Vec<Provisioned> = catalog::list_provisioned(ctx, &product).await?;
    if args.outdated {
        found = outdated(ctx, found, &target).await?;
    }
    let mut users: Vec<String> = found.into_iter().filter_map(|p| p.user).collect();
    users.sort();
    users.dedup();
    let counter = ctx.progress.counter(users.len() as u64, "updating notebooks");
    let (product, artifacts, target) = (&product, &artifacts, &target);
    let outcomes = fanout::each(users, args.concurrency as usize, &counter, Lines::Failures, String::clone, |user| {
        let silent = ctx.progress.silent();
        async move {
            let plan = plan(ctx, product, artifacts, target, &user, requested).await?;
            if args.dry_run {
                let effect = plan.effect;
                let artifact = format!("{} -> {}", plan.artifact_from, plan.artifact_to);
                return Ok::<_, anyhow::Error>((Some(effect), Some(artifact), "planned (dry run)".to_owned()));
            }
            let done = execute(ctx, args, product, plan, &silent, false).await?;
            Ok((Some(done.plan.effect), Some(done.plan.artifact_to.clone()), done.result))
        }
    })
    .await;
    let mut results: Vec<Row> = outcomes
        .into_iter()
        .map(|(user, outcome)| match outcome {
            Ok((effect, artifact, result)) => Row { user, result, effect, artifact, ok: true },
            Err(e) => Row { user, result: format!("FAILED: {e:#}"), effect: None, artifact: None, ok: false },
        })
        .collect();
    drop(counter);
    results.sort_by(|a, b| a.user.cmp(&b.user));
    let tally = Tally::count(&results, |r| !r.ok);
    let all = AllUpdated { updated: tally.succeeded, failed: tally.failed, results };
    crate::output::emit(ctx.output, &all)?;
    tally.exit_status(|t| format!("{} of {} updates failed", t.failed, t.total()))
}
