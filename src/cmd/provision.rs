//! `provision --user U`: Service Catalog ProvisionProduct -> record SUCCEEDED -> notebook InService
//! -> presigned URL -> SSM. Converges when run again, whatever state a previous run left.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Result};
use aws_sdk_servicecatalog::types::ProvisionedProductStatus as Pp;
use serde::Serialize;

use crate::aws::catalog::{self, Product, Provisioned};
use crate::aws::context::Context;
use crate::aws::notebook::WhenStopped;
use crate::aws::parameters;
use crate::aws::poll::Deadline;
use crate::cli::ProvisionArgs;
use crate::cmd::shared::vend::{self, Delivery, Request};
use crate::error::usage;
use crate::names::user;
use crate::progress::{self, Task};

/// Answer of `provision --no-wait`.
#[derive(Debug, Serialize)]
struct Started {
    user: String,
    provisioned_product: String,
    record_id: String,
    status: String,
    resume: String,
}

impl fmt::Display for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "user                 {}", self.user)?;
        writeln!(f, "provisioned product  {}", self.provisioned_product)?;
        writeln!(f, "record               {} ({})", self.record_id, self.status)?;
        write!(f, "not waiting; to finish and store the URL run: {}", self.resume)
    }
}

pub async fn run(args: &ProvisionArgs, ctx: &Context) -> Result<()> {
    let deadline = Deadline::secs(args.timeout);
    let user = args.user.as_str();
    let requested = requested_parameters(args)?;
    let resume = format!("notebook-vend provision --user {user}");

    // Every value is checked against the product's own constraints before anything is written.
    let product = catalog::resolve_product(ctx).await?;
    let params = parameters_to_send(ctx, &product, user, &requested).await?;

    let task = ctx.progress.task(format!("provisioning a notebook for {user}"));
    let existing = catalog::find_for_user(ctx, &product, user).await?;
    let record_id = match &existing {
        Some(pp) => record_of_existing(ctx, pp, user, &requested, &task).await?,
        None => {
            // An end user may write only their own URL parameter (`policy end-user`): asked first, so
            // that a provision for someone else is refused before anything exists, rather than
            // leaving a notebook whose URL cannot be stored.
            crate::aws::urls::check_access(ctx, user).await?;
            Some(send_provision(ctx, args, &product, &params, &task, &resume).await?)
        }
    };

    let mut outputs = BTreeMap::new();
    if let Some(record_id) = &record_id {
        if args.no_wait {
            progress::clear_in_flight();
            let started = Started {
                user: user.to_owned(),
                provisioned_product: user::provisioned_product_name(user),
                record_id: record_id.clone(),
                status: "IN_PROGRESS".into(),
                resume,
            };
            drop(task);
            return crate::output::emit(ctx.output, &started);
        }
        progress::set_resumable(format!("record {record_id} is in progress"), &resume);
        outputs = catalog::wait_record(ctx, record_id, deadline, &task, &resume).await?;
    }

    let req = Request {
        user,
        store: &args.store,
        grace: vend::NOT_FOUND_GRACE,
        when_stopped: WhenStopped::Fail,
        resume,
        show_url: args.show_url,
        stack: outputs.get(catalog::STACK_OUTPUT).map(String::as_str),
    };
    let delivery: Delivery = vend::deliver(ctx, &req, deadline, &task).await?;
    progress::clear_in_flight();
    // The deployment's default schedule (bootstrap --default-stop), unless the user has their own.
    crate::cmd::schedule::give_new_notebook_the_default(ctx, user).await;
    drop(task);
    crate::output::emit(ctx.output, &delivery)?;
    require_requested_type(args, &delivery)
}

/// The product parameters the command line gives (bad input exits 2 before anything is sent).
fn requested_parameters(args: &ProvisionArgs) -> Result<BTreeMap<String, String>> {
    crate::cli::values::check_tags(&args.tags).map_err(usage)?;
    let mut requested = args.product.to_parameters().map_err(usage)?;
    if let Some(t) = &args.instance_type {
        if requested.insert("NotebookInstanceType".into(), t.clone()).is_some() {
            return Err(usage("product parameter NotebookInstanceType is given twice (--instance-type and --param)"));
        }
    }
    Ok(requested)
}

/// Every parameter ProvisionProduct is sent: the requested ones, the user, and the defaults the
/// tool always sends, checked against the product's own parameters.
async fn parameters_to_send(
    ctx: &Context,
    product: &Product,
    user: &str,
    requested: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let specs = parameters::describe(ctx, product).await?;
    let mut params = requested.clone();
    params.insert("NotebookUserName".to_owned(), user.to_owned());
    // Always sent (its default when not given), so that the user is at index 1 (catalog::ordered).
    if let Some(default) = specs.get("NotebookInstanceType").and_then(|s| s.default.clone()) {
        params.entry("NotebookInstanceType".into()).or_insert(default);
    }
    if specs.contains_key("S3IAMConfigStackName") {
        params.entry("S3IAMConfigStackName".into()).or_insert_with(|| ctx.names.s3_stack.clone());
    }
    parameters::validate(&params, &specs)?;
    parameters::require_values(&params, &specs)?;
    Ok(params)
}

/// The user already has a provisioned product: the record still running to wait for (None when
/// it is ready and only the URL is refreshed), or an error for one in a state nothing converges from.
async fn record_of_existing(
    ctx: &Context,
    pp: &Provisioned,
    user: &str,
    requested: &BTreeMap<String, String>,
    task: &Task,
) -> Result<Option<String>> {
    match pp.state() {
        // TAINTED: an update failed and was rolled back; "stable state, ready to perform any
        // operation" (botocore ProvisionedProductStatus). The notebook is as it was.
        Pp::Available | Pp::Tainted => {
            task.println(format!(
                "{user} already has provisioned product {} ({}): refreshing its URL",
                pp.name, pp.status
            ));
            if !requested.is_empty() {
                let keys: Vec<&str> = requested.keys().map(String::as_str).collect();
                task.println(format!(
                    "warning: {} not applied to the existing notebook; terminate and provision again to change them",
                    keys.join(", ")
                ));
            }
            Ok(None)
        }
        Pp::UnderChange | Pp::PlanInProgress => Ok(pp.last_record_id.clone()),
        // ERROR, or a state newer than this SDK (the enum is #[non_exhaustive]).
        _ => {
            let status = &pp.status;
            let errors = match &pp.last_record_id {
                Some(r) => {
                    catalog::describe_record(ctx, r).await.map(|(d, _)| catalog::record_errors(&d)).unwrap_or_default()
                }
                None => String::new(),
            };
            bail!(
                "provisioned product {} of {user} is {status}: {}{}; terminate it with `notebook-vend terminate --user {user}` and provision again",
                pp.name,
                pp.status_message.as_deref().unwrap_or(""),
                if errors.is_empty() { String::new() } else { format!(" ({errors})") }
            );
        }
    }
}

/// ProvisionProduct; returns the record id. Marked in flight first: a kill while it is being sent
/// leaves a record the next run finds (the provision token makes the resend the same record).
async fn send_provision(
    ctx: &Context,
    args: &ProvisionArgs,
    product: &Product,
    params: &BTreeMap<String, String>,
    task: &Task,
    resume: &str,
) -> Result<String> {
    let user = args.user.as_str();
    progress::set_resumable(format!("ProvisionProduct for {user} was being sent"), resume);
    let record = catalog::provision(ctx, product, user, params, &args.tags).await?;
    let id = record.record_id().unwrap_or_default().to_owned();
    task.println(format!("provisioning {} for {user}: record {id}", product.name));
    Ok(id)
}

/// Another provision of the same user may have come first (concurrent runs share the provision
/// token and so the record; or the notebook existed): its instance type is what the user has.
fn require_requested_type(args: &ProvisionArgs, delivery: &Delivery) -> Result<()> {
    let user = args.user.as_str();
    if let (Some(want), Some(got)) = (&args.instance_type, &delivery.instance_type) {
        if want != got {
            bail!(
                "notebook {} is {got}, not the requested {want}: {user}'s notebook was already provisioned (or \
                 being provisioned by another run) with {got}; its URL is stored. To change the type: \
                 `notebook-vend update --user {user} --instance-type {want}`",
                delivery.notebook
            );
        }
    }
    Ok(())
}
