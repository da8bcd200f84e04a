//! `bootstrap`: deploy the bucket/role stack, upload the product template, deploy the Service
//! Catalog stack. Safe to run on every CI commit: with nothing changed it only reads.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::objects;
use crate::aws::poll::Deadline;
use crate::aws::stacks::{self, Plan, StackSpec};
use crate::cli::{BootstrapArgs, OutputFormat};
use crate::cmd::schedule::{sync_group, DeploymentDefault, GroupChange};
use crate::cmd::shared::prompt::{confirm, require_answerable};
use crate::cmd::shared::serverless;
use crate::error::usage;
use crate::names::deployment::Names;
use crate::names::user;
use crate::plan::adopt;
use crate::plan::templates::{self, DeployedCatalog, Sources, VersionPlan};

/// Everything bootstrap needs from disk, read and checked before any AWS call.
pub struct Inputs {
    s3_iam: StackSpec,
    catalog_template: String,
    catalog_params: BTreeMap<String, String>,
    product_template: String,
    product_key: String,
    serverless: Option<serverless::Inputs>,
}

pub fn read_inputs(args: &BootstrapArgs, names: &Names) -> Result<Inputs> {
    if args.adopt {
        // Before any AWS call: without a terminal nobody can confirm the takeover.
        require_answerable(args.yes, args.dry_run, "adopt the deployment")?;
    }
    let sources = Sources { templates: args.templates.clone(), parameters: args.parameters_dir.clone() };
    sources.check()?;
    let catalog_params = sources.parameters(templates::CATALOG_PARAMS)?;
    if let Some(p) = catalog_params.get("UserIAMPrincipal") {
        user::validate_principal(p)
            .map_err(|e| usage(format!("{}: UserIAMPrincipal: {e}", templates::CATALOG_PARAMS)))?;
    }
    let s3_iam_params = sources.parameters(templates::S3_IAM_PARAMS)?;
    let role_suffix =
        s3_iam_params.get("SageMakerNotebookInstanceRoleName").map(String::as_str).unwrap_or(user::DEFAULT_ROLE_SUFFIX);
    let portfolio = names.portfolio_name.as_deref().or(catalog_params.get("PortfolioName").map(String::as_str));
    user::check_deployment_names(&names.s3_stack, &names.catalog_stack, role_suffix, portfolio, &names.product_name)
        .map_err(usage)?;
    let product_key =
        catalog_params.get("ServiceCatalogTemplateName").cloned().unwrap_or_else(|| templates::PRODUCT.to_owned());
    let serverless = serverless::read_inputs(args, &sources, names)?;
    Ok(Inputs {
        s3_iam: StackSpec {
            name: names.s3_stack.clone(),
            template: sources.template(templates::S3_IAM)?,
            parameters: s3_iam_params,
        },
        catalog_template: sources.template(templates::CATALOG)?,
        catalog_params,
        product_template: match args.allowed_instance_types.as_slice() {
            [] => sources.template(templates::PRODUCT)?,
            types => templates::restrict_instance_types(&sources.template(templates::PRODUCT)?, types)?,
        },
        product_key,
        serverless,
    })
}

#[derive(Debug, Serialize)]
pub struct StackReport {
    pub name: String,
    pub action: Plan,
    pub status: String,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    pub stacks: Vec<StackReport>,
    pub bucket: Option<String>,
    pub template_key: String,
    /// "uploaded", "unchanged", or in a dry run "would upload"/"unchanged".
    pub template_upload: String,
    pub principal: String,
    pub portfolio_id: Option<String>,
    pub product_id: Option<String>,
    /// Versions whose Guidance changed (the current one DEFAULT, earlier ones DEPRECATED).
    pub versions_marked: Vec<String>,
    /// The deployment's EventBridge Scheduler group (`schedule`), its change, and the default
    /// schedule it holds for every notebook.
    pub schedule_group: Option<String>,
    pub schedule_group_change: GroupChange,
    pub schedule_default: Option<DeploymentDefault>,
    /// Schedules written (or deleted) to give every notebook the default; empty when all had it.
    pub schedule_default_applied: Vec<String>,
    /// The serverless stack: deployed with --serverless, kept as it is by a plain bootstrap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serverless: Option<serverless::Report>,
    pub up_to_date: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "Plan (dry run, nothing written):")?;
        }
        for s in &self.stacks {
            let action = match (self.dry_run, s.action) {
                (_, Plan::Unchanged) => "unchanged",
                (true, Plan::Create) => "would create",
                (true, Plan::Recreate) => "would re-create",
                (true, Plan::Update) => "would update",
                (false, Plan::Create) => "created",
                (false, Plan::Recreate) => "re-created",
                (false, Plan::Update) => "updated",
            };
            writeln!(f, "stack      {:<28} {:<16} {}", s.name, action, s.status)?;
        }
        let bucket = self.bucket.as_deref().unwrap_or("(created by the stack)");
        writeln!(f, "template   s3://{bucket}/{}  {}", self.template_key, self.template_upload)?;
        writeln!(f, "principal  {}", self.principal)?;
        writeln!(f, "portfolio  {}", self.portfolio_id.as_deref().unwrap_or("-"))?;
        write!(f, "product    {}", self.product_id.as_deref().unwrap_or("-"))?;
        if let Some(report) = &self.serverless {
            write!(f, "\n{report}")?;
        }
        if !self.versions_marked.is_empty() {
            let verb = if self.dry_run { "would mark" } else { "marked" };
            write!(
                f,
                "\nversions   {verb} (current DEFAULT, earlier DEPRECATED): {}",
                self.versions_marked.join(", ")
            )?;
        }
        let group = match (self.dry_run, self.schedule_group_change) {
            (_, GroupChange::Unchanged) => "unchanged",
            (true, GroupChange::Created) => "would create",
            (true, GroupChange::Updated) => "would update",
            (false, GroupChange::Created) => "created",
            (false, GroupChange::Updated) => "updated",
        };
        if let Some(name) = &self.schedule_group {
            write!(f, "\nschedules  group {name} {group}")?;
        }
        if let Some(d) = &self.schedule_default {
            let start = d.start.as_deref().unwrap_or("-");
            let stop = d.stop.as_deref().unwrap_or("-");
            write!(f, "; default start {start}, stop {stop} ({})", d.timezone)?;
            if !self.schedule_default_applied.is_empty() {
                write!(f, "; written: {}", self.schedule_default_applied.join(", "))?;
            }
        }
        if self.up_to_date && !self.dry_run {
            write!(f, "\neverything is up to date")?;
        }
        Ok(())
    }
}

pub async fn run(args: &BootstrapArgs, inputs: Inputs, ctx: &Context) -> Result<()> {
    let deadline = Deadline::secs(args.timeout);
    if args.adopt {
        return adopt_run(args, &inputs, ctx, deadline).await;
    }
    let principal = match (&args.principal, inputs.catalog_params.get("UserIAMPrincipal")) {
        (Some(p), _) | (None, Some(p)) => p.clone(),
        (None, None) => ctx.principal().await?,
    };
    if refuse_foreign(ctx, &[&inputs.s3_iam.name, &ctx.names.catalog_stack]).await? {
        // A deployment adopted earlier: kept up to date with the adopted flavour.
        return adopted_bootstrap(args, &inputs, ctx, deadline).await;
    }
    let mut summary = if args.dry_run {
        plan_only(ctx, &inputs, principal).await?
    } else {
        apply(ctx, &inputs, principal, deadline).await?
    };
    sync_schedules(args, ctx, &mut summary).await?;
    crate::output::emit(ctx.output, &summary)
}

/// After the stacks (the group's schedules run as the execution role the s3-iam stack declares):
/// the deployment's schedule group with its default, and that default given to every notebook
/// whose owner has set nothing. Both flavours: the adopted s3-iam template declares the role too.
async fn sync_schedules(args: &BootstrapArgs, ctx: &Context, summary: &mut Summary) -> Result<()> {
    let default = args.default_stop.as_ref().map(|stop| DeploymentDefault {
        start: args.default_start.clone(),
        stop: Some(stop.clone()),
        timezone: args.default_tz.clone().unwrap_or_else(|| "UTC".into()),
    });
    let (change, effective) = sync_group(ctx, default.as_ref(), args.dry_run).await?;
    if let (Some(default), Some(product_id), false) = (&effective, &summary.product_id, args.dry_run) {
        summary.schedule_default_applied = apply_default_to_all(ctx, default, product_id).await?;
    }
    summary.schedule_group = Some(ctx.names.schedule_group());
    summary.schedule_group_change = change;
    summary.schedule_default = effective;
    summary.up_to_date &= change == GroupChange::Unchanged && summary.schedule_default_applied.is_empty();
    Ok(())
}

/// Every vended notebook gets the default where its owner has set nothing (new notebooks get it from
/// `provision`; a notebook provisioned elsewhere gets it at the next bootstrap).
async fn apply_default_to_all(ctx: &Context, default: &DeploymentDefault, product_id: &str) -> Result<Vec<String>> {
    let product = catalog::Product {
        id: product_id.to_owned(),
        name: ctx.names.product_name.clone(),
        path_id: String::new(),
        artifact_id: String::new(),
        artifact_name: String::new(),
    };
    let users: std::collections::BTreeSet<String> =
        catalog::list_provisioned(ctx, &product).await?.into_iter().filter_map(|p| p.user).collect();
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let role = crate::cmd::schedule::role_arn(ctx).await?;
    let mut written = Vec::new();
    for user in users {
        written.extend(crate::cmd::schedule::apply_default(ctx, default, &user, &role).await?);
    }
    Ok(written)
}

/// Stop before any write (and in a dry run, which must say the same) when a stack of the
/// deployment exists but was not deployed by notebook-vend: updating the blog sample's stacks to
/// ours renames the notebook role (its export is imported by every notebook's stack: CloudFormation
/// refuses to change an export in use, "Exporting stack output values", CloudFormation User Guide)
/// and replaces the product (every provisioned notebook stranded under a deleted product).
/// Returns whether the deployment is one `bootstrap --adopt` took over (flavour adopted-blog).
async fn refuse_foreign(ctx: &Context, names: &[&String]) -> Result<bool> {
    let mut adopted = false;
    for name in names {
        let Some(stack) = stacks::describe(ctx, name).await? else { continue };
        if !stacks::is_ours(ctx, &stack).await? {
            bail!(
                "stack {name} was not deployed by notebook-vend (no ManagedBy=notebook-vend tag, no NotebookVend \
                 template metadata): it looks like the AWS blog sample's deployment. `bootstrap` would replace its \
                 roles and product and strand its notebooks, so it changed nothing. Day-to-day commands (provision, \
                 list, status, url, refresh, watch) work on it as it is. To take it over in place (roles, exports, \
                 portfolio, product and notebooks kept): `notebook-vend bootstrap --adopt --dry-run` shows the plan, \
                 `notebook-vend bootstrap --adopt` does it; see README \"Moving from the blog's deployment\""
            );
        }
        adopted |= stacks::flavour(&stack) == stacks::ADOPTED_BLOG;
    }
    Ok(adopted)
}

/// `bootstrap --adopt`: the plan (read-only), then on confirmation the in-place updates.
async fn adopt_run(args: &BootstrapArgs, inputs: &Inputs, ctx: &Context, deadline: Deadline) -> Result<()> {
    let mut plan = adopt::plan(ctx, &inputs.product_template, args.principal.as_deref(), args.dry_run).await?;
    if args.dry_run {
        return crate::output::emit(ctx.output, &plan);
    }
    if args.yes {
        ctx.progress.line(plan.to_string());
    } else {
        // Shown even with --quiet: it is what the question is about.
        eprintln!("{plan}");
    }
    if !args.yes && !confirm("Adopt this deployment (update both stacks in place)?").await? {
        bail!("not confirmed; nothing was changed");
    }
    adopt::apply(ctx, &mut plan, deadline).await?;
    // The blog's notebooks carry no owner tag: without it `policy end-user` denies their users.
    let say = |line: String| ctx.progress.line(line);
    let (_, problems) = crate::aws::owner_tags::backfill(ctx, &plan.users, &say).await;
    if problems > 0 {
        ctx.progress.line(format!(
            "{problems} notebook(s) could not get their owner tag (above); `notebook-vend watch --once` tries again"
        ));
    }
    // The adopted s3-iam stack now declares the Scheduler execution role: the group `schedule` uses.
    let (change, _) = sync_group(ctx, None, false).await?;
    if change != GroupChange::Unchanged {
        ctx.progress.line(format!("schedules  group {} {}", ctx.names.schedule_group(), change.word()));
    }
    if ctx.output == OutputFormat::Text {
        println!("{}", plan.result.as_deref().unwrap_or_default());
        return Ok(());
    }
    crate::output::emit(ctx.output, &plan)
}

/// Plain `bootstrap` on a deployment adopted earlier: the adopted flavour, values from the
/// deployed stacks (never the fresh templates, which would replace the kept roles and product).
async fn adopted_bootstrap(args: &BootstrapArgs, inputs: &Inputs, ctx: &Context, deadline: Deadline) -> Result<()> {
    if inputs.serverless.is_some() {
        // The adopted bucket/role stack is the blog's, whose exports serverless.yml does not import.
        bail!("--serverless is not available on a deployment taken over with --adopt; nothing was changed");
    }
    let mut plan = adopt::plan(ctx, &inputs.product_template, args.principal.as_deref(), args.dry_run).await?;
    let same_object =
        objects::compare(ctx, &plan.bucket, &plan.template, &inputs.product_template).await? == objects::Compared::Same;
    let planned: Vec<Plan> =
        plan.stacks.iter().map(|s| if s.action == "unchanged" { Plan::Unchanged } else { Plan::Update }).collect();
    let stacks_current = same_object && planned.iter().all(|p| *p == Plan::Unchanged);
    let mut versions_marked = match stacks_current {
        true => catalog::set_current_version(ctx, &plan.product_id, &plan.new_artifact, true).await?,
        false => Vec::new(),
    };
    let up_to_date = stacks_current && versions_marked.is_empty();
    if !args.dry_run && !up_to_date {
        adopt::apply(ctx, &mut plan, deadline).await?;
        versions_marked = plan.versions_marked.clone();
    }
    let mut reports = Vec::new();
    for (s, action) in plan.stacks.iter().zip(planned) {
        let status = stacks::info(ctx, &s.name).await?.map(|i| i.status).unwrap_or_else(|| s.status.clone());
        reports.push(StackReport { name: s.name.clone(), action, status });
    }
    let principal = plan.principals.first().cloned().unwrap_or_default();
    let mut summary = Summary {
        dry_run: args.dry_run,
        stacks: reports,
        bucket: Some(plan.bucket.clone()),
        template_key: plan.template.clone(),
        template_upload: match (same_object, args.dry_run) {
            (true, _) => "unchanged",
            (false, true) => "would upload",
            (false, false) => "uploaded",
        }
        .into(),
        principal: plan
            .catalog_spec
            .as_ref()
            .and_then(|s| s.parameters.get("UserIAMPrincipal").cloned())
            .unwrap_or(principal),
        portfolio_id: Some(plan.portfolio_id.clone()),
        product_id: Some(plan.product_id.clone()),
        versions_marked,
        schedule_group: None,
        schedule_group_change: GroupChange::Unchanged,
        schedule_default: None,
        schedule_default_applied: Vec::new(),
        serverless: serverless::kept(ctx).await?,
        up_to_date,
    };
    sync_schedules(args, ctx, &mut summary).await?;
    crate::output::emit(ctx.output, &summary)
}

/// The product version this bootstrap deploys (its artifact name).
fn version_name(inputs: &Inputs) -> String {
    templates::version_of(&inputs.product_template)
}

/// Where this product template goes and which earlier versions the catalog stack keeps listing,
/// from the catalog stack as deployed (see `templates::plan_versions`).
async fn version_plan(ctx: &Context, inputs: &Inputs) -> Result<VersionPlan> {
    let name = &ctx.names.catalog_stack;
    let parameters = stacks::parameter_values(ctx, name).await?;
    let template = match &parameters {
        Some(_) => stacks::deployed_template(ctx, name).await?,
        None => None,
    };
    let deployed = match (&parameters, &template) {
        (Some(parameters), Some(template)) => Some(DeployedCatalog { parameters, template, region: &ctx.region }),
        _ => None,
    };
    Ok(templates::plan_versions(&inputs.product_key, &version_name(inputs), deployed.as_ref()))
}

fn catalog_spec(
    ctx: &Context,
    inputs: &Inputs,
    bucket: &str,
    principal: &str,
    versions: &VersionPlan,
) -> Result<StackSpec> {
    let mut parameters = inputs.catalog_params.clone();
    // Filled in here instead of the blog's manual edit of the parameter file.
    parameters.insert("S3BucketName".into(), bucket.to_owned());
    parameters.insert("UserIAMPrincipal".into(), principal.to_owned());
    parameters.insert("S3IAMConfigStackName".into(), ctx.names.s3_stack.clone());
    parameters.insert("ProductName".into(), ctx.names.product_name.clone());
    if let Some(portfolio) = &ctx.names.portfolio_name {
        parameters.insert("PortfolioName".into(), portfolio.clone());
    }
    parameters.insert("ServiceCatalogTemplateName".into(), versions.key.clone());
    parameters.insert("ProductTemplateVersion".into(), templates::version_of(&inputs.product_template));
    let template = templates::with_earlier_versions(&inputs.catalog_template, &versions.earlier)?;
    Ok(StackSpec { name: ctx.names.catalog_stack.clone(), template, parameters })
}

async fn apply(ctx: &Context, inputs: &Inputs, principal: String, deadline: Deadline) -> Result<Summary> {
    let (s3_plan, s3_info) = stacks::deploy(ctx, &inputs.s3_iam, deadline).await?;
    let bucket = s3_info.output("S3BucketName")?.to_owned();

    // Each version has its own object (content-addressed key): nothing the deployed versions were
    // made from is overwritten, so a failed catalog update leaves every version as it was.
    let versions = version_plan(ctx, inputs).await?;
    let spec = catalog_spec(ctx, inputs, &bucket, &principal, &versions)?;
    let uploaded = upload_if_changed(ctx, &bucket, &versions.key, &inputs.product_template, false).await?;
    let (sc_plan, sc_info) = stacks::deploy(ctx, &spec, deadline).await?;
    let product_id = sc_info.outputs.get("ProductId").cloned();
    let retired = match &product_id {
        Some(id) => catalog::set_current_version(ctx, id, &version_name(inputs), false).await?,
        None => Vec::new(),
    };
    let serverless = match &inputs.serverless {
        Some(s) => Some(serverless::deploy(ctx, s, &bucket, deadline).await?),
        None => serverless::kept(ctx).await?,
    };

    Ok(Summary {
        dry_run: false,
        up_to_date: s3_plan == Plan::Unchanged
            && sc_plan == Plan::Unchanged
            && !uploaded
            && retired.is_empty()
            && serverless.as_ref().is_none_or(serverless::Report::unchanged),
        serverless,
        versions_marked: retired,
        schedule_group: None,
        schedule_group_change: GroupChange::Unchanged,
        schedule_default: None,
        schedule_default_applied: Vec::new(),
        stacks: vec![
            StackReport { name: s3_info.name.clone(), action: s3_plan, status: s3_info.status.clone() },
            StackReport { name: sc_info.name.clone(), action: sc_plan, status: sc_info.status.clone() },
        ],
        bucket: Some(bucket),
        template_key: versions.key,
        template_upload: if uploaded { "uploaded" } else { "unchanged" }.into(),
        principal,
        portfolio_id: sc_info.outputs.get("PortfolioId").cloned(),
        product_id,
    })
}

async fn plan_only(ctx: &Context, inputs: &Inputs, principal: String) -> Result<Summary> {
    let s3_stack = stacks::describe(ctx, &inputs.s3_iam.name).await?;
    let s3_plan = stacks::plan(ctx, &inputs.s3_iam, s3_stack.as_ref()).await?;
    let s3_info = stacks::info(ctx, &inputs.s3_iam.name).await?;
    let bucket = s3_info.as_ref().and_then(|i| i.outputs.get("S3BucketName").cloned());

    let versions = version_plan(ctx, inputs).await?;
    let would_upload = match &bucket {
        Some(b) => upload_if_changed(ctx, b, &versions.key, &inputs.product_template, true).await?,
        None => true,
    };

    let sc_stack = stacks::describe(ctx, &ctx.names.catalog_stack).await?;
    let (sc_plan, sc_info) = match &bucket {
        Some(b) => {
            let spec = catalog_spec(ctx, inputs, b, &principal, &versions)?;
            (stacks::plan(ctx, &spec, sc_stack.as_ref()).await?, stacks::info(ctx, &spec.name).await?)
        }
        None => (if sc_stack.is_some() { Plan::Update } else { Plan::Create }, None),
    };
    let status_of = |i: &Option<stacks::StackInfo>| i.as_ref().map(|i| i.status.clone()).unwrap_or_else(|| "-".into());
    let product_id = sc_info.as_ref().and_then(|i| i.outputs.get("ProductId").cloned());
    // Known only once the catalog stack is as planned: a version a stack update adds is not there yet.
    let would_mark = match &product_id {
        Some(id) if sc_plan == Plan::Unchanged => {
            catalog::set_current_version(ctx, id, &version_name(inputs), true).await?
        }
        _ => Vec::new(),
    };
    let serverless = match &inputs.serverless {
        Some(s) => Some(serverless::plan(ctx, s, bucket.as_deref()).await?),
        None => serverless::kept(ctx).await?,
    };
    Ok(Summary {
        dry_run: true,
        up_to_date: s3_plan == Plan::Unchanged
            && sc_plan == Plan::Unchanged
            && !would_upload
            && would_mark.is_empty()
            && serverless.as_ref().is_none_or(|r| r.unchanged() && r.code_upload.as_deref() != Some("would upload")),
        serverless,
        versions_marked: would_mark,
        schedule_group: None,
        schedule_group_change: GroupChange::Unchanged,
        schedule_default: None,
        schedule_default_applied: Vec::new(),
        stacks: vec![
            StackReport { name: inputs.s3_iam.name.clone(), action: s3_plan, status: status_of(&s3_info) },
            StackReport { name: ctx.names.catalog_stack.clone(), action: sc_plan, status: status_of(&sc_info) },
        ],
        bucket,
        template_key: versions.key,
        template_upload: if would_upload { "would upload" } else { "unchanged" }.into(),
        principal,
        portfolio_id: sc_info.as_ref().and_then(|i| i.outputs.get("PortfolioId").cloned()),
        product_id,
    })
}

/// Upload the product template unless the bucket already holds these exact bytes (the ETag of a
/// single-part upload is the MD5 of the body). Returns whether it uploaded (or would).
async fn upload_if_changed(ctx: &Context, bucket: &str, key: &str, body: &str, dry_run: bool) -> Result<bool> {
    if objects::compare(ctx, bucket, key, body).await? == objects::Compared::Same {
        return Ok(false);
    }
    if !dry_run {
        ctx.progress.line(format!("uploading {key} to s3://{bucket}/{key}"));
        objects::upload(ctx, bucket, key, body).await?;
    }
    Ok(true)
}
