//! `terminate --user U`: TerminateProvisionedProduct, wait for its record and for the notebook to
//! be gone, delete the user's URL parameter (the blog's setup left that credential behind forever).
//! Asks on a terminal unless `--yes`; refuses before any AWS call when nobody can answer. Converges
//! when run again: a termination in progress is awaited, and nothing left is success.

use std::fmt;

use anyhow::{bail, Result};
use aws_sdk_servicecatalog::types::ProvisionedProductStatus as Pp;
use serde::Serialize;

use crate::aws::catalog::{self, Provisioned};
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::poll::Deadline;
use crate::aws::urls;
use crate::cli::TerminateArgs;
use crate::cmd::shared::prompt::{confirm, require_answerable};
use crate::error::{aws_error, exit, exit_code};
use crate::names::user;
use crate::progress::{self, Task};

#[derive(Debug, Clone, Serialize)]
pub struct ProductRef {
    pub id: String,
    pub name: String,
    pub status: String,
}

#[derive(Debug, Serialize)]
pub struct Terminated {
    pub user: String,
    pub dry_run: bool,
    /// terminated, nothing_left, would_terminate
    pub outcome: &'static str,
    pub provisioned_product: Option<ProductRef>,
    pub record_id: Option<String>,
    pub notebook: Option<String>,
    /// The notebook's status before the command.
    pub notebook_status: Option<String>,
    pub parameter: Option<String>,
    pub parameter_deleted: bool,
    /// The user's start/stop schedules deleted with the notebook (they would fail at every run).
    pub schedules_deleted: Vec<String>,
    pub message: String,
}

impl fmt::Display for Terminated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "Plan (dry run, nothing written):")?;
        }
        if self.outcome != "nothing_left" {
            let verb = if self.dry_run { "would terminate" } else { "terminated" };
            match &self.provisioned_product {
                Some(p) => writeln!(f, "provisioned product  {} ({}, was {}): {verb}", p.name, p.id, p.status)?,
                None => writeln!(f, "provisioned product  (none)")?,
            }
            match (&self.notebook, &self.notebook_status) {
                (Some(n), Some(s)) => writeln!(
                    f,
                    "notebook             {n} (was {s}): {}",
                    if self.dry_run { "would be deleted" } else { "deleted" }
                )?,
                _ => writeln!(f, "notebook             (none)")?,
            }
            for schedule in &self.schedules_deleted {
                writeln!(f, "schedule             {schedule}: deleted")?;
            }
            match &self.parameter {
                Some(p) => writeln!(
                    f,
                    "parameter            {p}: {}",
                    if self.dry_run { "would be deleted" } else { "deleted" }
                )?,
                None => writeln!(f, "parameter            (none)")?,
            }
        }
        write!(f, "{}", self.message)
    }
}

pub async fn run(args: &TerminateArgs, ctx: &Context) -> Result<()> {
    require_answerable(args.yes, args.dry_run, &format!("terminate the notebook of {}", args.user))?;
    let user = args.user.as_str();
    let deadline = Deadline::secs(args.timeout);
    let name = user::notebook_name(user);

    let (pp, unresolved) = match catalog::resolve_product(ctx).await {
        Ok(product) => (catalog::find_for_user(ctx, &product, user).await?, None),
        // Product not deployed or not visible: what is left can still be found and reported.
        Err(e) if aws_error(&e).is_none() => (None, Some(format!("{e:#}"))),
        Err(e) => return Err(e),
    };
    let (nb, param) = tokio::try_join!(notebook::describe(ctx, &name), urls::metadata(ctx, user))?;

    let mut result = Terminated {
        user: user.to_owned(),
        dry_run: args.dry_run,
        outcome: "terminated",
        provisioned_product: pp.as_ref().map(|p| ProductRef {
            id: p.id.clone(),
            name: p.name.clone(),
            status: p.status.clone(),
        }),
        record_id: None,
        notebook: nb.as_ref().map(|n| n.name.clone()),
        notebook_status: nb.as_ref().map(|n| n.status.clone()),
        parameter: param.as_ref().map(|p| p.parameter.clone()),
        parameter_deleted: false,
        schedules_deleted: Vec::new(),
        message: String::new(),
    };
    if pp.is_none() && nb.is_none() && param.is_none() {
        result.outcome = "nothing_left";
        result.message = format!("nothing left for {user}: no provisioned product, notebook or URL parameter");
        return crate::output::emit(ctx.output, &result);
    }
    if let (None, Some(nb)) = (&pp, &nb) {
        if nb.status != "Deleting" {
            let why =
                unresolved.unwrap_or_else(|| format!("no provisioned product of {:?} owns it", ctx.names.product_name));
            bail!(
                "notebook {name} exists ({}) but {why}; terminate only removes what Service Catalog vended: \
                 delete it in SageMaker if it is yours to delete",
                nb.status
            );
        }
    }
    if args.dry_run {
        result.outcome = "would_terminate";
        result.message = format!("run without --dry-run to terminate; {user}'s notebook and its data would be gone");
        return crate::output::emit(ctx.output, &result);
    }
    if !args.yes {
        let mut what = Vec::new();
        if let Some(p) = &pp {
            what.push(format!("provisioned product {} ({}, {})", p.name, p.id, p.status));
        }
        if let Some(n) = &nb {
            what.push(format!("notebook {} ({}) with its storage", n.name, n.status));
        }
        if let Some(p) = &param {
            what.push(format!("parameter {}", p.parameter));
        }
        if !confirm(&format!("Delete {}?", what.join(", "))).await? {
            bail!("not confirmed; nothing was changed");
        }
    }

    let task = ctx.progress.task(format!("terminating the notebook of {user}"));
    match &pp {
        Some(pp) => {
            let done = terminate_one(ctx, pp, Some(user), args.ignore_errors, deadline, &task).await?;
            result.record_id = Some(done.record_id);
            result.parameter_deleted = done.parameter_deleted;
            result.schedules_deleted = done.schedules_deleted;
            if let Some(left) = done.left_behind {
                result.message = left;
            }
        }
        None => {
            // What a previous run left: a notebook still being deleted, a parameter.
            let resume = format!("notebook-vend terminate --user {user} --yes");
            notebook::wait_for(ctx, &name, None, deadline, &task, &resume).await?;
            result.schedules_deleted = delete_schedules(ctx, user).await?;
            result.parameter_deleted = urls::delete_after_notebook(ctx, user).await?;
        }
    }
    progress::clear_in_flight();
    drop(task);
    if result.message.is_empty() {
        result.message = match &pp {
            Some(p) => format!("terminated {} of {user}: notebook and URL parameter are gone", p.name),
            None => format!("removed what was left for {user}"),
        };
    }
    crate::output::emit(ctx.output, &result)
}

pub(crate) struct Done {
    pub record_id: String,
    pub parameter_deleted: bool,
    pub schedules_deleted: Vec<String>,
    /// With IgnoreErrors: what Service Catalog left behind (the notebook still exists).
    pub left_behind: Option<String>,
}

/// Terminate one provisioned product and wait for its record; with its user known, also wait for
/// the notebook to be gone and delete the user's parameter. A change in progress is awaited first
/// (Service Catalog refuses to terminate an UNDER_CHANGE product); a termination in progress is
/// followed rather than repeated.
pub(crate) async fn terminate_one(
    ctx: &Context,
    pp: &Provisioned,
    user: Option<&str>,
    ignore_errors: bool,
    deadline: Deadline,
    task: &Task,
) -> Result<Done> {
    let resume = match user {
        Some(u) => format!("notebook-vend terminate --user {u} --yes"),
        None => "notebook-vend teardown --terminate-notebooks --yes".to_owned(),
    };
    let mut record_id = None;
    if matches!(pp.state(), Pp::UnderChange | Pp::PlanInProgress) {
        if let Some(last) = &pp.last_record_id {
            let (detail, _) = catalog::describe_record(ctx, last).await?;
            if detail.record_type() == Some("TERMINATE_PROVISIONED_PRODUCT") {
                record_id = Some(last.clone());
            } else {
                task.set(format!("{}: waiting for record {last} to finish before terminating", pp.name));
                // Its outcome does not matter: a failed provision is terminated all the same.
                if let Err(e) = catalog::wait_record(ctx, last, deadline, task, &resume).await {
                    if exit_code(&e) != exit::AWS || aws_error(&e).is_some() {
                        return Err(e);
                    }
                }
            }
        }
    }
    let record_id = match record_id {
        Some(r) => r,
        None => {
            progress::set_resumable(format!("TerminateProvisionedProduct {} was being sent", pp.name), &resume);
            catalog::terminate(ctx, pp, ignore_errors).await?
        }
    };
    task.set(format!("{}: record {record_id}", pp.name));
    progress::set_resumable(format!("termination of {} is in progress (record {record_id})", pp.name), &resume);
    let failed_hint = format!(
        "run `{resume}` again to retry the termination (a new attempt), or add --ignore-errors to remove the \
         provisioned product even though its resources cannot be deleted (they are left behind)"
    );
    catalog::wait_record(ctx, &record_id, deadline, task, &resume).await.map_err(|e| {
        if exit_code(&e) == exit::AWS && aws_error(&e).is_none() && user.is_some() && !ignore_errors {
            e.context(failed_hint)
        } else {
            e
        }
    })?;
    let mut parameter_deleted = false;
    let mut schedules_deleted = Vec::new();
    let mut left_behind = None;
    if let Some(user) = user {
        let name = user::notebook_name(user);
        let left =
            if ignore_errors { notebook::describe(ctx, &name).await?.filter(|n| n.status != "Deleting") } else { None };
        match left {
            // IgnoreErrors removed the product but its stack could not delete the notebook.
            Some(nb) => {
                left_behind = Some(format!(
                    "removed {} of {user} with --ignore-errors, but notebook {name} ({}) was left behind: \
                     delete it in SageMaker when it is no longer needed",
                    pp.name, nb.status
                ));
            }
            None => notebook::wait_for(ctx, &name, None, deadline, task, &resume).await?,
        }
        // Before the parameter: a run cut short here finds the parameter and comes back.
        if left_behind.is_none() {
            schedules_deleted = delete_schedules(ctx, user).await?;
        }
        parameter_deleted = urls::delete_after_notebook(ctx, user).await?;
    }
    Ok(Done { record_id, parameter_deleted, schedules_deleted, left_behind })
}

/// The user's schedules, deleted once their notebook is gone (a deployment without a schedule
/// group has none).
async fn delete_schedules(ctx: &Context, user: &str) -> Result<Vec<String>> {
    let group = ctx.names.schedule_group();
    let mut deleted = Vec::new();
    for action in crate::aws::scheduler::Action::BOTH {
        if crate::aws::scheduler::delete(ctx, &group, user, action).await? {
            deleted.push(crate::aws::scheduler::schedule_name(user, action));
        }
    }
    Ok(deleted)
}
