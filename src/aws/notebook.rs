//! SageMaker notebook instances: describe, wait for a state, presign, stop and start.
//!
//! The SDK's waiters are not used: they fail at once on an error they do not expect, such as the
//! notebook not existing yet right after its stack was created, and cannot show progress.

use std::time::Duration;

use anyhow::{bail, Result};
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::poll::Deadline;
use crate::error::{aws_error, has_code, is_transient, AwsResultExt};
use crate::progress::{self, Task};
use crate::text::rfc3339;

#[derive(Debug, Clone, Serialize)]
pub struct Notebook {
    pub name: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub instance_type: Option<String>,
    pub created: Option<String>,
    pub last_modified: Option<String>,
    /// LastModifiedTime in epoch seconds: when the notebook entered its current state.
    #[serde(skip)]
    pub last_modified_epoch: Option<i64>,
    /// Its ARN (as SageMaker answers it, lower case): what ListTags and AddTags take.
    #[serde(skip)]
    pub arn: Option<String>,
}

impl Notebook {
    /// The status as the SDK's enum, for an exhaustive `match` (a value newer than the SDK is
    /// `Unknown` and goes to the `_` arm).
    pub fn state(&self) -> Nb {
        Nb::from(self.status.as_str())
    }
}

/// DescribeNotebookInstance, or None when there is no such notebook.
pub async fn describe(ctx: &Context, name: &str) -> Result<Option<Notebook>> {
    let out = ctx.sagemaker.describe_notebook_instance().notebook_instance_name(name).send().await;
    match out.aws(|| format!("describing notebook {name}")) {
        Ok(o) => Ok(Some(Notebook {
            name: o.notebook_instance_name().unwrap_or(name).to_owned(),
            status: o.notebook_instance_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            failure_reason: o.failure_reason().filter(|r| !r.is_empty()).map(str::to_owned),
            instance_type: o.instance_type().map(|t| t.as_str().to_owned()),
            created: o.creation_time().map(rfc3339),
            last_modified: o.last_modified_time().map(rfc3339),
            last_modified_epoch: o.last_modified_time().map(|t| t.secs()),
            arn: o.notebook_instance_arn().map(str::to_owned),
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every notebook whose name contains `-Notebook` (the product's `<user>-Notebook`), by name:
/// ListNotebookInstances, 100 a page. A bulk command reads its notebooks' states in a few calls
/// instead of one DescribeNotebookInstance per user; FailureReason is not in the summary.
pub async fn list_by_name(ctx: &Context) -> Result<std::collections::BTreeMap<String, Notebook>> {
    let pages: Vec<_> = ctx
        .sagemaker
        .list_notebook_instances()
        .name_contains(crate::names::user::NOTEBOOK_SUFFIX)
        .max_results(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws(|| "listing notebook instances".to_owned())?;
    Ok(pages
        .iter()
        .flat_map(|page| page.notebook_instances())
        .filter_map(|n| {
            let name = n.notebook_instance_name()?.to_owned();
            let nb = Notebook {
                name: name.clone(),
                status: n.notebook_instance_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                failure_reason: None,
                instance_type: n.instance_type().map(|t| t.as_str().to_owned()),
                created: n.creation_time().map(rfc3339),
                last_modified: n.last_modified_time().map(rfc3339),
                last_modified_epoch: n.last_modified_time().map(|t| t.secs()),
                arn: n.notebook_instance_arn().map(str::to_owned),
            };
            Some((name, nb))
        })
        .collect())
}

/// SageMaker answers a missing notebook with ValidationException "RecordNotFound".
fn is_not_found(e: &anyhow::Error) -> bool {
    has_code(e, &["ValidationException", "ResourceNotFound"])
        && aws_error(e).is_some_and(|a| {
            let m = a.message.to_ascii_lowercase();
            m.contains("recordnotfound") || m.contains("not found") || m.contains("does not exist")
        })
}

/// What to do when the notebook is Stopped while we wait for InService.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenStopped {
    Fail,
    Start,
}

/// Wait until the notebook is InService. A notebook not found yet is polled for `grace` (its stack
/// may have just been created); Failed and Deleting are errors; Stopped fails with the hint to
/// start it, or is started.
pub async fn wait_in_service(
    ctx: &Context,
    user: &str,
    grace: Duration,
    when_stopped: WhenStopped,
    deadline: Deadline,
    task: &Task,
    resume: &str,
) -> Result<Notebook> {
    let name = &crate::names::user::notebook_name(user);
    let mut poller = deadline.steady_poller(format!("notebook {name} to be InService"), resume);
    let mut status = String::from("not found");
    loop {
        match describe(ctx, name).await {
            Ok(Some(nb)) => {
                status = nb.status.clone();
                match nb.state() {
                    Nb::InService => return Ok(nb),
                    Nb::Failed => bail!(
                        "notebook {name} Failed: {}",
                        nb.failure_reason.as_deref().unwrap_or("no failure reason given")
                    ),
                    Nb::Deleting => bail!("notebook {name} is being deleted"),
                    Nb::Stopped if when_stopped == WhenStopped::Fail => {
                        bail!("notebook {name} is Stopped; start it with `notebook-vend start --user {user}` (or pass --start)")
                    }
                    Nb::Stopped => {
                        start(ctx, name).await?;
                        status = Nb::Pending.as_str().into();
                    }
                    // On their way to InService or back to a state handled above; SageMaker ends
                    // maintenance on its own (botocore NotebookInstanceStatus).
                    Nb::Pending | Nb::Stopping | Nb::Updating | Nb::PendingMaintenance | Nb::InMaintenance => {}
                    // A state newer than this SDK (the enum is #[non_exhaustive]): waited, shown as is.
                    _ => {}
                }
            }
            Ok(None) if poller.elapsed() >= grace => {
                bail!("no notebook {name}; provision it with `notebook-vend provision --user {user}`")
            }
            Ok(None) => {}
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
        task.set(format!("notebook {name}: {status}"));
        progress::set_in_flight(format!("notebook {name} is {status}; run `{resume}` to resume"));
        poller.wait(&status).await?;
    }
}

/// Wait until the notebook reaches `target` (Stopped, InService) or disappears when `target` is None.
pub async fn wait_for(
    ctx: &Context,
    name: &str,
    target: Option<Nb>,
    deadline: Deadline,
    task: &Task,
    resume: &str,
) -> Result<()> {
    let what = match &target {
        Some(t) => format!("notebook {name} to be {}", t.as_str()),
        None => format!("notebook {name} to be deleted"),
    };
    let mut poller = deadline.steady_poller(what, resume);
    loop {
        let status = match describe(ctx, name).await {
            Ok(Some(nb)) if Some(nb.state()) == target => return Ok(()),
            Ok(Some(nb)) if nb.state() == Nb::Failed && target.is_some() => {
                bail!("notebook {name} Failed: {}", nb.failure_reason.as_deref().unwrap_or("no failure reason given"))
            }
            Ok(Some(nb)) => nb.status,
            Ok(None) if target.is_none() => return Ok(()),
            Ok(None) => bail!("notebook {name} disappeared"),
            // Under `policy end-user` SageMaker authorizes a describe against the notebook's owner
            // tag (aws:ResourceTag), which a deleted notebook no longer has: AWS answers
            // AccessDenied, not "not found", once it is gone. Only awaited deletions take it so:
            // the callers (terminate) described the notebook successfully before deleting it.
            Err(e) if target.is_none() && has_code(&e, &["AccessDeniedException", "AccessDenied"]) => return Ok(()),
            Err(e) if is_transient(&e) => "unknown".into(),
            Err(e) => return Err(e),
        };
        task.set(format!("notebook {name}: {status}"));
        poller.wait(&status).await?;
    }
}

/// CreatePresignedNotebookInstanceUrl. The URL is a credential: never log it.
pub async fn presign(ctx: &Context, name: &str, session_seconds: i32) -> Result<String> {
    let out = ctx
        .sagemaker
        .create_presigned_notebook_instance_url()
        .notebook_instance_name(name)
        .session_expiration_duration_in_seconds(session_seconds)
        .send()
        .await
        .aws(|| format!("creating a presigned URL for notebook {name}"))?;
    match out.authorized_url() {
        Some(url) if !url.is_empty() => Ok(url.to_owned()),
        _ => bail!("SageMaker answered no URL for notebook {name}"),
    }
}

/// StopNotebookInstance. Safe to repeat: the SDK retries a call whose answer was lost (dropped
/// connection, timeout), and the retry of a stop that did happen is refused with a
/// ValidationException because the notebook is already Stopping: that refusal counts as done.
pub async fn stop(ctx: &Context, name: &str) -> Result<()> {
    let sent = ctx.sagemaker.stop_notebook_instance().notebook_instance_name(name).send().await;
    already_done(ctx, name, sent.aws(|| format!("stopping notebook {name}")).map(drop), &[Nb::Stopping, Nb::Stopped])
        .await
}

/// StartNotebookInstance, safe to repeat as `stop` is (a retried start meets a Pending notebook).
pub async fn start(ctx: &Context, name: &str) -> Result<()> {
    let sent = ctx.sagemaker.start_notebook_instance().notebook_instance_name(name).send().await;
    already_done(ctx, name, sent.aws(|| format!("starting notebook {name}")).map(drop), &[Nb::Pending, Nb::InService])
        .await
}

/// A state transition refused because the notebook is already where the call would have put it.
async fn already_done(ctx: &Context, name: &str, sent: Result<()>, done: &[Nb]) -> Result<()> {
    match sent {
        Err(e) if has_code(&e, &["ValidationException"]) => match describe(ctx, name).await? {
            Some(nb) if done.contains(&nb.state()) => Ok(()),
            _ => Err(e),
        },
        other => other,
    }
}
