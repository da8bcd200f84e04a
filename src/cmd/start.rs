//! `start --user U [--refresh]`: StartNotebookInstance and wait for InService; with `--refresh`,
//! also mint and store a fresh URL (the stored one went stale while the notebook was stopped).
//! A notebook already InService (or Pending) is success.

use anyhow::{bail, Result};

use crate::cli::StartArgs;
use crate::cmd::stop::{cannot, existing, Transition};
use crate::context::Context;
use crate::notebook::{self, WhenStopped};
use crate::poll::Deadline;
use crate::progress;
use crate::vend::{self, Request};

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
        outcome: "",
        previous_status: before.clone(),
        status: before.clone(),
        stored: None,
        message: String::new(),
    };
    let refresh_note = if args.refresh { " and store a fresh URL" } else { "" };
    match before.as_str() {
        "InService" | "Pending" | "Stopped" if args.dry_run => {
            result.outcome = match before.as_str() {
                "InService" => "already_in_service",
                "Pending" => "would_wait",
                _ => "would_start",
            };
            let what = match before.as_str() {
                "InService" => "already InService",
                "Pending" => "already starting; would wait for InService",
                _ => "would start it and wait for InService",
            };
            result.message = format!("{name} is {before}: {what}{refresh_note}");
        }
        "InService" if !args.refresh => {
            result.outcome = "already_in_service";
            result.message = format!("{name} is already InService; nothing to do");
        }
        "InService" | "Pending" | "Stopped" => {
            if before == "Stopped" {
                progress::set_in_flight(format!(
                    "StartNotebookInstance {name} was being sent; run `{resume}` to resume"
                ));
                notebook::start(ctx, &name).await?;
            }
            if args.no_wait && before != "InService" {
                progress::clear_in_flight();
                result.outcome = if before == "Stopped" { "start_requested" } else { "already_starting" };
                result.status = "Pending".into();
                result.message =
                    format!("{name} is Pending; not waiting (`notebook-vend status --user {user}` follows it)");
            } else {
                let task = ctx
                    .progress
                    .task(format!("notebook {name}: {}", if before == "Stopped" { "Pending" } else { &before }));
                progress::set_in_flight(format!("notebook {name} is starting; run `{resume}` to wait again"));
                if args.refresh {
                    let req = Request {
                        user,
                        store: &args.store,
                        grace: std::time::Duration::ZERO,
                        when_stopped: WhenStopped::Fail,
                        resume: resume.clone(),
                        show_url: false,
                    };
                    let delivery = vend::deliver(ctx, &req, deadline, &task).await?;
                    result.stored = Some(delivery.stored);
                } else {
                    notebook::wait_for(ctx, &name, Some("InService"), deadline, &task, &resume).await?;
                }
                progress::clear_in_flight();
                result.status = "InService".into();
                result.outcome = if before == "InService" { "already_in_service" } else { "started" };
                result.message = match (before.as_str(), args.refresh) {
                    ("InService", _) => format!("{name} is already InService; stored a fresh URL"),
                    (_, true) => format!("{name} started; stored a fresh URL"),
                    (_, false) => format!(
                        "{name} started; the stored URL may be stale: `notebook-vend refresh --user {user}` stores a fresh one"
                    ),
                };
            }
        }
        status => bail!("{}", cannot(&nb, user, "start", status)),
    }
    crate::output::emit(ctx.output, &result)
}
