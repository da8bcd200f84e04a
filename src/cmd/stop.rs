//! `stop --user U`: StopNotebookInstance and wait for Stopped. A notebook already Stopped (or
//! Stopping) is success; one in a state that cannot stop exits 1 saying why and what to do.
//!
//! Stop and start act on the notebook itself (`U-Notebook`, the product template's name), not on
//! Service Catalog: the provisioned product is unchanged by a stop, and this costs no catalog call.

use std::fmt;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::aws::context::Context;
use crate::cli::StopArgs;
use crate::names::user;
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;

use crate::aws::notebook::{self, Notebook};
use crate::aws::poll::Deadline;
use crate::aws::urls::Stored;
use crate::progress;

/// What stop or start did, as `--output json` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Stopped,
    AlreadyStopped,
    StopRequested,
    WouldStop,
    WouldWait,
    Started,
    AlreadyInService,
    AlreadyStarting,
    StartRequested,
    WouldStart,
}

/// What stop or start did to one notebook.
#[derive(Debug, Serialize)]
pub struct Transition {
    pub user: String,
    pub notebook: String,
    pub dry_run: bool,
    pub outcome: Outcome,
    /// Status before the command.
    pub previous_status: String,
    /// Status when the command returned (in a dry run: the current one).
    pub status: String,
    /// The URL stored by `start --refresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<Stored>,
    pub message: String,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "Plan (dry run, nothing written):")?;
        }
        writeln!(f, "user      {}", self.user)?;
        writeln!(f, "notebook  {} ({})", self.notebook, self.status)?;
        if let Some(s) = &self.stored {
            writeln!(f, "parameter {} ({}), session expires {}", s.parameter, s.parameter_type, s.session_expires)?;
        }
        write!(f, "{}", self.message)
    }
}

/// The user's notebook, or exit 1 saying there is none and how to get one.
pub(crate) async fn existing(ctx: &Context, user: &str) -> Result<Notebook> {
    let name = user::notebook_name(user);
    match notebook::describe(ctx, &name).await? {
        Some(nb) => Ok(nb),
        None => bail!("user {user} has no notebook {name}; provision one with `notebook-vend provision --user {user}`"),
    }
}

pub async fn run(args: &StopArgs, ctx: &Context) -> Result<()> {
    let user = args.user.as_str();
    let deadline = Deadline::secs(args.timeout);
    let resume = format!("notebook-vend stop --user {user}");
    let nb = existing(ctx, user).await?;
    let name = nb.name.clone();
    let before = nb.status.clone();
    let done = |outcome, status: &str, message: String| Transition {
        user: user.to_owned(),
        notebook: name.clone(),
        dry_run: args.dry_run,
        outcome,
        previous_status: before.clone(),
        status: status.to_owned(),
        stored: None,
        message,
    };
    let result = match nb.state() {
        Nb::Stopped => done(Outcome::AlreadyStopped, "Stopped", format!("{name} is already Stopped; nothing to do")),
        state @ (Nb::InService | Nb::Stopping) if args.dry_run => {
            let (outcome, what) = if state == Nb::InService {
                (Outcome::WouldStop, "would stop it")
            } else {
                (Outcome::WouldWait, "is already Stopping; would wait for Stopped")
            };
            done(outcome, &before, format!("{name} is {before}: {what}"))
        }
        state @ (Nb::InService | Nb::Stopping) => {
            if state == Nb::InService {
                progress::set_resumable(format!("StopNotebookInstance {name} was being sent"), &resume);
                notebook::stop(ctx, &name).await?;
            }
            if args.no_wait {
                progress::clear_in_flight();
                done(
                    Outcome::StopRequested,
                    "Stopping",
                    format!("{name} is Stopping; not waiting (`notebook-vend status --user {user}` follows it)"),
                )
            } else {
                let task = ctx.progress.task(format!("notebook {name}: Stopping"));
                progress::set_resumable(format!("notebook {name} is Stopping"), &resume);
                notebook::wait_for(ctx, &name, Some(Nb::Stopped), deadline, &task, &resume).await?;
                progress::clear_in_flight();
                let how = if state == Nb::InService { "stopped" } else { "was already Stopping; now stopped" };
                done(
                    Outcome::Stopped,
                    "Stopped",
                    format!("{name} {how}; start it again with `notebook-vend start --user {user} --refresh`"),
                )
            }
        }
        state @ (Nb::Pending
        | Nb::Failed
        | Nb::Deleting
        | Nb::Updating
        | Nb::PendingMaintenance
        | Nb::InMaintenance) => bail!("{}", cannot(&nb, user, "stop", &state)),
        // A state newer than this SDK (the enum is #[non_exhaustive]): say it as it is.
        state => bail!("{}", cannot(&nb, user, "stop", &state)),
    };
    crate::output::emit(ctx.output, &result)
}

/// Why a notebook in `state` cannot take `action` (stop or start), and what to do instead.
pub(crate) fn cannot(nb: &Notebook, user: &str, action: &str, state: &Nb) -> String {
    let name = &nb.name;
    let needs = if action == "stop" { "InService" } else { "Stopped" };
    let again = format!("notebook-vend {action} --user {user}");
    match state {
        Nb::Pending => format!(
            "notebook {name} is Pending (starting up), so it cannot be stopped yet; wait until it is InService \
             (`notebook-vend status --user {user}`) and run `{again}` again"
        ),
        Nb::Stopping => format!(
            "notebook {name} is Stopping, so it cannot be started yet; wait until it is Stopped \
             (`notebook-vend status --user {user}`) and run `{again}` again"
        ),
        Nb::Failed => format!(
            "notebook {name} is Failed ({}), so there is nothing to {action}; replace it with \
             `notebook-vend terminate --user {user}` then `notebook-vend provision --user {user}`",
            nb.failure_reason.as_deref().unwrap_or("no failure reason given")
        ),
        Nb::Deleting => format!("notebook {name} is being deleted; provision a new one with `notebook-vend provision --user {user}` once it is gone"),
        Nb::Updating => format!(
            "notebook {name} is Updating (it ends Stopped); {action} needs {needs}: wait and run `{again}` again"
        ),
        // SageMaker documents no transition out of these for StopNotebookInstance or
        // StartNotebookInstance (botocore NotebookInstanceStatus lists them, nothing more): the
        // worst case is a refusal, so do not send the call; SageMaker's maintenance ends on its own.
        Nb::PendingMaintenance | Nb::InMaintenance => format!(
            "notebook {name} is {} (SageMaker maintenance), so it cannot {action} now; \
             wait until it is {needs} (`notebook-vend status --user {user}`) and run `{again}` again",
            state.as_str()
        ),
        other => format!("notebook {name} is {}; {action} needs {needs}: retry once it is", other.as_str()),
    }
}
