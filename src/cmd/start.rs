//! `start --user U [--refresh]`: StartNotebookInstance and wait for InService; with `--refresh`,
//! also mint and store a fresh URL (the stored one went stale while the notebook was stopped).
//! A notebook already InService (or Pending) is success.

use anyhow::{bail, Result};

use crate::cli::StartArgs;
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;

use crate::aws::context::Context;
use crate::aws::notebook::{self, WhenStopped};
use crate::aws::poll::Deadline;
use crate::cmd::shared::vend::{self, Request};
use crate::cmd::stop::{cannot, existing, Outcome, Transition};
use crate::progress;

pub async fn run(args: &StartArgs, ctx: &Context) -> Result<()> {
    let user = args.user.as_str();
    let deadline = Deadline::secs(args.timeout);
    let resume = if args.refresh {
        format!("notebook-vend start --user {user} --refresh")
    } else {
        format!("notebook-vend start --user {user}")
    };
    let nb = existing(ctx, user).await?;
    let name = nb.name.clone();
    let before = nb.status.clone();
    let mut result = Transition {
        user: user.to_owned(),
        notebook: name.clone(),
        dry_run: args.dry_run,
        outcome: Outcome::WouldStart,
        previous_status: before.clone(),
        status: before.clone(),
        stored: None,
        message: String::new(),
    };
    let refresh_note = if args.refresh { " and store a fresh URL" } else { "" };
    match nb.state() {
        state @ (Nb::InService | Nb::Pending | Nb::Stopped) if args.dry_run => {
            let (outcome, what) = match state {
                Nb::InService => (Outcome::AlreadyInService, "already InService"),
                Nb::Pending => (Outcome::WouldWait, "already starting; would wait for InService"),
                _ => (Outcome::WouldStart, "would start it and wait for InService"),
            };
            result.outcome = outcome;
            result.message = format!("{name} is {before}: {what}{refresh_note}");
        }
        Nb::InService if !args.refresh => {
            result.outcome = Outcome::AlreadyInService;
            result.message = format!("{name} is already InService; nothing to do");
        }
        state @ (Nb::InService | Nb::Pending | Nb::Stopped) => {
            if state == Nb::Stopped {
                progress::set_resumable(format!("StartNotebookInstance {name} was being sent"), &resume);
                notebook::start(ctx, &name).await?;
            }
            if args.no_wait && state != Nb::InService {
                progress::clear_in_flight();
                result.outcome = if state == Nb::Stopped { Outcome::StartRequested } else { Outcome::AlreadyStarting };
                result.status = "Pending".into();
                result.message =
                    format!("{name} is Pending; not waiting (`notebook-vend status --user {user}` follows it)");
            } else {
                let task = ctx
                    .progress
                    .task(format!("notebook {name}: {}", if state == Nb::Stopped { "Pending" } else { &before }));
                progress::set_resumable(format!("notebook {name} is starting"), &resume);
                if args.refresh {
                    let req = Request {
                        user,
                        store: &args.store,
                        grace: std::time::Duration::ZERO,
                        when_stopped: WhenStopped::Fail,
                        resume: resume.clone(),
                        show_url: false,
                        stack: None,
                    };
                    let delivery = vend::deliver(ctx, &req, deadline, &task).await?;
                    result.stored = Some(delivery.stored);
                } else {
                    notebook::wait_for(ctx, &name, Some(Nb::InService), deadline, &task, &resume).await?;
                }
                progress::clear_in_flight();
                result.status = "InService".into();
                result.outcome = if state == Nb::InService { Outcome::AlreadyInService } else { Outcome::Started };
                result.message = match (state == Nb::InService, args.refresh) {
                    (true, _) => format!("{name} is already InService; stored a fresh URL"),
                    (false, true) => format!("{name} started; stored a fresh URL"),
                    (false, false) => format!(
                        "{name} started; the stored URL may be stale: `notebook-vend refresh --user {user}` stores a fresh one"
                    ),
                };
            }
        }
        state @ (Nb::Stopping
        | Nb::Failed
        | Nb::Deleting
        | Nb::Updating
        | Nb::PendingMaintenance
        | Nb::InMaintenance) => bail!("{}", cannot(&nb, user, "start", &state)),
        // A state newer than this SDK (the enum is #[non_exhaustive]).
        state => bail!("{}", cannot(&nb, user, "start", &state)),
    }
    crate::output::emit(ctx.output, &result)
}
