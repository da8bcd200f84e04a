//! `update --user U | --all`: move a notebook to the newest (or a named) product version and/or new
//! parameter values with Service Catalog UpdateProvisionedProduct, without ever losing a notebook
//! silently (issue 15).
//!
//! The plan comes first: parameter diff, artifact from -> to, and whether the change is in place or
//! replaces the notebook (update_plan.rs: create-only properties of AWS::SageMaker::NotebookInstance,
//! mapped to the parameters that feed them in the new template). A replacing change is refused
//! (exit 2, nothing sent) unless --replace-notebook-losing-its-data, and is then done as terminate +
//! provision: an update would fail anyway, because CloudFormation cannot replace a custom-named
//! resource (CloudFormation user guide, "Name type").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{anyhow, bail, Result};
use aws_sdk_servicecatalog::types::ProvisionedProductStatus as Pp;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::catalog::{self, Artifact, Product, Provisioned};
use crate::cli::UpdateArgs;
use crate::cmd::terminate::{confirm, require_answerable};
use crate::context::Context;
use crate::error::{has_code, is_transient, usage};
use crate::naming;
use crate::notebook;
use crate::objects;
use crate::output::table;
use crate::parameters;
use crate::poll::Deadline;
use crate::progress::Task;
use crate::stacks;
use crate::update_plan::{self, ParamChange};
use crate::vend::{self, Request};

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
    /// A version move whose new template is unreadable: what it does to the notebook is unknown.
    #[serde(skip)]
    blind_move: bool,
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
            match found {
                Some(a) if a.active => Ok(a),
                Some(a) => Err(usage(format!("--to-version {name}: artifact {} is not active", a.id))),
                None => {
                    let names: Vec<&str> = artifacts.iter().filter(|a| a.active).map(|a| a.name.as_str()).collect();
                    Err(usage(format!(
                        "--to-version {name:?} is not an artifact of {}; active: latest, {}",
                        product.name,
                        names.join(", ")
                    )))
                }
            }
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
    let mut target_product = product.clone();
    target_product.artifact_id = target.id.clone();
    target_product.artifact_name = target.name.clone();
    // Values are checked against the target artifact's own parameters before anything is sent.
    let specs = parameters::describe(ctx, &target_product).await?;
    parameters::validate(requested, &specs)?;

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
    let changes: Vec<ParamChange> = requested
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| ParamChange { key: k.clone(), from: current.get(k).cloned(), to: v.clone() })
        .collect();
    let changed: BTreeSet<String> = changes.iter().map(|c| c.key.clone()).collect();

    let moves = pp.artifact_id.as_deref() != Some(target.id.as_str());
    // The deployed template (GetTemplate on the product's SC-* stack) is the current version's.
    let old_template = match &stack {
        Some(s) => stacks::deployed_template(ctx, s).await.ok().flatten(),
        None => None,
    };
    // The new version's template only matters for a move. Its URL comes from
    // DescribeProvisioningArtifact (Verbose) and the object from the bootstrap bucket: neither is in
    // AWS's end-user access (AWSServiceCatalogEndUserFullAccess), both are in `policy end-user`.
    let new_template = if moves {
        match catalog::artifact_template_url(ctx, product, &target.id).await {
            Ok(Some(url)) => objects::read_url(ctx, &url).await.ok().flatten(),
            _ => None,
        }
    } else {
        None
    };
    // A move whose new template cannot be read is refused: what it does to the notebook (a renamed
    // notebook resource, a create-only property redefined) is only in that template.
    let blind_move = moves && new_template.is_none();
    if blind_move {
        notes.push(
            "the new version's template is unreadable (servicecatalog:DescribeProvisioningArtifact, s3:GetObject on \
             the bootstrap bucket): the version move is refused"
                .into(),
        );
    }
    let mut replacing = match new_template.as_deref().or(old_template.as_deref()).and_then(update_plan::property_feeds)
    {
        Some(feeds) => update_plan::replacing_properties(&feeds, &changed),
        None => {
            notes.push(
                "the product template is unreadable: a parameter named like a create-only property counts as replacing"
                    .into(),
            );
            update_plan::replacing_by_name(&changed)
        }
    };
    if moves {
        if let (Some(old), Some(new)) = (&old_template, &new_template) {
            // e.g. a notebook of the blog sample's original artifact (kept by `bootstrap --adopt`)
            // moved to notebook-vend's: another logical ID is a new resource with the same name.
            match (update_plan::notebook_logical_id(old), update_plan::notebook_logical_id(new)) {
                (Some(a), Some(b)) if a != b => replacing.push(format!("logical ID {a} -> {b}")),
                _ => {}
            }
            for p in update_plan::redefined_properties(old, new) {
                if !replacing.contains(&p) {
                    replacing.push(p);
                }
            }
        }
    }
    if let Some(shrink) = update_plan::volume_shrink(&changes) {
        replacing.push(shrink);
    }
    if changed.contains("NotebookInstanceType") {
        notes.push(
            "an instance type change is in place: CloudFormation stops the notebook, updates it and starts it again \
             (Stopping -> Stopped -> Updating -> Pending -> InService; several minutes, the notebook is unavailable meanwhile)"
                .into(),
        );
    }
    let effect = if !replacing.is_empty() {
        Effect::ReplacesTheNotebook
    } else if changes.is_empty() && !moves && pp.state() == Pp::Available {
        Effect::NoChange
    } else {
        Effect::InPlace
    };
    // Every parameter of the target artifact the product already has keeps its value.
    let keep: Vec<String> = specs
        .keys()
        .filter(|k| !requested.contains_key(*k) && (current.is_empty() || current.contains_key(*k)))
        .cloned()
        .collect();
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
        blind_move,
    })
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
    match pp.state() {
        Pp::UnderChange | Pp::PlanInProgress => bail!(
            "provisioned product {} of {user} is {} (record {}): another update or provision is running; wait for it and run update again",
            pp.name,
            pp.status,
            pp.last_record_id.as_deref().unwrap_or("?")
        ),
        Pp::Available | Pp::Tainted => {}
        _ => bail!(
            "provisioned product {} of {user} is {}: {}; terminate it with `notebook-vend terminate --user {user}`",
            pp.name,
            pp.status,
            pp.status_message.as_deref().unwrap_or("")
        ),
    }
    if plan.effect == Effect::NoChange {
        return Ok(Updated { plan, result: "already up to date".into(), record_id: None, session_expires: None });
    }
    if plan.effect == Effect::ReplacesTheNotebook {
        let name = naming::notebook_name(&user);
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
        return replace(ctx, args, product, plan, task).await;
    }

    if plan.blind_move {
        // Without the new template, a renamed notebook resource or a redefined create-only property
        // cannot be seen, and the notebook (the user's work) could be replaced: refuse rather than
        // risk it (or send an update CloudFormation would roll back).
        bail!(
            "not moving {user}'s notebook from {} to {}: the new version's template is not readable with this \
             identity (servicecatalog:DescribeProvisioningArtifact and s3:GetObject on the bootstrap bucket, both in \
             `notebook-vend policy end-user`), so whether it replaces the notebook is unknown; nothing was sent. \
             An operator can run `notebook-vend update --user {user}`; parameter changes without a version move: \
             --to-version {}",
            plan.artifact_from,
            plan.artifact_to,
            plan.pp.as_ref().and_then(|p| p.artifact_id.clone()).unwrap_or_default()
        );
    }
    let name = naming::notebook_name(&user);
    let was_running = matches!(notebook::describe(ctx, &name).await?, Some(nb) if nb.status == "InService");
    for n in &plan.notes {
        task.println(format!("{user}: {n}"));
    }
    let record = match catalog::update(ctx, &pp, product, &target.id, &plan.set, &plan.keep).await {
        Ok(r) => r,
        // UpdateProvisionedProduct's modelled errors are InvalidParametersException and
        // ResourceNotFoundException (botocore servicecatalog): a product another operation took
        // since the plan read it answers the former, so the product is read again to tell.
        Err(e) if has_code(&e, &["InvalidParametersException"]) && under_change(ctx, product, &user).await => bail!(
            "provisioned product {} of {user} is under change: another update or provision is running; wait for it and run update again ({e:#})",
            pp.name
        ),
        Err(e) => return Err(e),
    };
    let record_id = record.record_id().unwrap_or_default().to_owned();
    task.println(format!("updating {} for {user}: record {record_id}", pp.name));
    let deadline = Deadline::secs(args.timeout);
    catalog::wait_record(ctx, &record_id, deadline, task, &resume).await.map_err(|e| {
        e.context(format!(
            "the update of {user} failed; the product is left TAINTED with the notebook as it was; `{resume}` retries"
        ))
    })?;
    let mut session_expires = None;
    if was_running {
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

/// Is the user's provisioned product held by another operation right now?
async fn under_change(ctx: &Context, product: &Product, user: &str) -> bool {
    matches!(
        catalog::find_for_user(ctx, product, user).await,
        Ok(Some(pp)) if matches!(pp.state(), Pp::UnderChange | Pp::PlanInProgress)
    )
}

/// After an in-place update the notebook goes Stopping -> Stopped -> Updating -> Pending ->
/// InService; the record may complete before it is back. A Stopped notebook is started (it was
/// running before the update); a start refused because the update moved it on is waited out.
async fn wait_back_in_service(ctx: &Context, name: &str, deadline: Deadline, task: &Task, resume: &str) -> Result<()> {
    let mut poller = deadline.steady_poller(format!("notebook {name} to be InService again"), resume);
    loop {
        let status = match notebook::describe(ctx, name).await {
            Ok(Some(nb)) => nb.status,
            Ok(None) => bail!("notebook {name} disappeared during the update"),
            Err(e) if is_transient(&e) => "unknown".into(),
            Err(e) => return Err(e),
        };
        match status.as_str() {
            "InService" => return Ok(()),
            "Failed" => bail!("notebook {name} Failed after the update"),
            "Stopped" => match notebook::start(ctx, name).await {
                Ok(()) => {}
                Err(e) if has_code(&e, &["ValidationException"]) => {}
                Err(e) => return Err(e),
            },
            _ => {}
        }
        task.set(format!("notebook {name}: {status}"));
        poller.wait(&status).await?;
    }
}

/// Terminate + provision with the new values (the user confirmed losing the notebook).
async fn replace(ctx: &Context, args: &UpdateArgs, product: &Product, plan: Plan, task: &Task) -> Result<Updated> {
    let user = plan.user.clone();
    let pp = plan.pp.clone().expect("a plan has its product");
    let target = plan.target.clone().expect("a plan has its target");
    let deadline = Deadline::secs(args.timeout);
    let resume = format!("notebook-vend provision --user {user}");
    let name = naming::notebook_name(&user);
    let rec = catalog::terminate(ctx, &pp, false).await?;
    task.println(format!("terminating {} for {user}: record {rec}", pp.name));
    catalog::wait_record(ctx, &rec, deadline, task, &resume).await?;
    notebook::wait_for(ctx, &name, None, deadline, task, &resume).await?;
    let mut params = plan.current.clone();
    params.retain(|k, _| plan.keep.contains(k) || plan.set.contains_key(k));
    params.extend(plan.set.clone());
    params.insert("NotebookUserName".into(), user.clone());
    let mut target_product = product.clone();
    target_product.artifact_id = target.id.clone();
    target_product.artifact_name = target.name.clone();
    let record = catalog::provision(ctx, &target_product, &user, &params, &[]).await?;
    let id = record.record_id().unwrap_or_default().to_owned();
    task.println(format!("provisioning {} for {user} again: record {id}", target_product.name));
    catalog::wait_record(ctx, &id, deadline, task, &resume).await?;
    let req = Request {
        user: &user,
        store: &args.store,
        grace: vend::NOT_FOUND_GRACE,
        when_stopped: notebook::WhenStopped::Start,
        resume,
        show_url: false,
        stack: None,
    };
    let delivery = vend::deliver(ctx, &req, deadline, task).await?;
    Ok(Updated {
        plan,
        result: "replaced (terminated and provisioned again)".into(),
        record_id: Some(id),
        session_expires: Some(delivery.stored.session_expires),
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

async fn run_all(args: &UpdateArgs, ctx: &Context, requested: &BTreeMap<String, String>) -> Result<()> {
    let product = catalog::resolve_product(ctx).await?;
    let artifacts = catalog::versions(ctx, &product).await?;
    let target = target_artifact(args, &product, &artifacts)?;
    let mut target_product = product.clone();
    target_product.artifact_id = target.id.clone();
    parameters::validate(requested, &parameters::describe(ctx, &target_product).await?)?;
    let mut found: Vec<Provisioned> = catalog::list_provisioned(ctx, &product).await?;
    if args.outdated {
        found.retain(|p| p.artifact_id.as_deref() != Some(target.id.as_str()) || p.state() == Pp::Tainted);
    }
    let mut users: Vec<String> = found.into_iter().filter_map(|p| p.user).collect();
    users.sort();
    users.dedup();
    let counter = ctx.progress.counter(users.len() as u64, "updating notebooks");
    let mut results: Vec<Row> = stream::iter(users)
        .map(|user| {
            let (counter, product, artifacts, target) = (&counter, &product, &artifacts, &target);
            async move {
                let silent = ctx.progress.silent();
                let result = async {
                    let plan = plan(ctx, product, artifacts, target, &user, requested).await?;
                    if args.dry_run {
                        let effect = plan.effect;
                        let artifact = format!("{} -> {}", plan.artifact_from, plan.artifact_to);
                        return Ok::<_, anyhow::Error>((Some(effect), Some(artifact), "planned (dry run)".to_owned()));
                    }
                    let done = execute(ctx, args, product, plan, &silent, false).await?;
                    Ok((Some(done.plan.effect), Some(done.plan.artifact_to.clone()), done.result))
                }
                .await;
                counter.inc();
                match result {
                    Ok((effect, artifact, result)) => Row { user, result, effect, artifact, ok: true },
                    Err(e) => {
                        counter.println(format!("{user}: {e:#}"));
                        Row { user, result: format!("FAILED: {e:#}"), effect: None, artifact: None, ok: false }
                    }
                }
            }
        })
        .buffer_unordered(args.concurrency as usize)
        .collect()
        .await;
    drop(counter);
    results.sort_by(|a, b| a.user.cmp(&b.user));
    let failed = results.iter().filter(|r| !r.ok).count();
    let all = AllUpdated { updated: results.len() - failed, failed, results };
    crate::output::emit(ctx.output, &all)?;
    if failed > 0 {
        bail!("{failed} of {} updates failed", all.results.len());
    }
    Ok(())
}
