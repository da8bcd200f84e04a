//! SageMaker's own EventBridge event, `detail-type: "SageMaker Notebook Instance State Change"`
//! (`source: aws.sagemaker`): a notebook that reaches InService gets its owner's URL stored at
//! once, with no CloudTrail trail and no polling, whoever started it (provision, the console, a
//! schedule). The same code serves `watch --event FILE` and the Lambda function (src/lambda/).
//!
//! The event's detail is a DescribeNotebookInstance-like snapshot (NotebookInstanceArn,
//! NotebookInstanceName, NotebookInstanceStatus, ...; EventBridge events reference for SageMaker).
//! AWS publishes no sample payload and warns that "SageMaker may send multiple events for each state
//! change", and EventBridge does not promise order: so the event only says *which* notebook to look
//! at, and what is done depends on the notebook's state now (DescribeNotebookInstance):
//! - event InService, notebook InService: store a fresh URL for the owner, unless the parameter was
//!   written after the notebook entered InService (a duplicate, or `provision` got there first);
//! - event InService, notebook in another state: nothing (the event for that state follows);
//! - event Deleting, notebook Deleting or gone: delete the owner's URL parameter (a URL of a deleted
//!   notebook is a dead credential; `terminate` deletes it the same way);
//! - Stopped, Failed and the other states: nothing stored; a URL already stored stays, as after
//!   `stop` (it opened a session that ends on its own; `start` or the next InService replaces it).
//!
//! Only the product's notebooks count: the name must follow the product template's `<user>-Notebook`
//! and the user must have a provisioned product of this deployment's product; any other notebook is
//! ignored, which is a success (not a retry).

use anyhow::{Context as _, Result};
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use aws_smithy_types::DateTime;
use serde::Serialize;
use serde_json::Value;

use crate::aws::catalog::{self, Scope};
use crate::aws::context::Context;
use crate::aws::notebook::{self, WhenStopped};
use crate::aws::poll::Deadline;
use crate::aws::urls;
use crate::cli::WatchArgs;
use crate::cmd::shared::vend::{self, Request};
use crate::names::user as naming;

pub const DETAIL_TYPE: &str = "SageMaker Notebook Instance State Change";
pub const SOURCE: &str = "aws.sagemaker";

/// One state change, read by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StateChange {
    pub(super) notebook: String,
    pub(super) status: String,
    /// The event's `time` (when the change happened), if it has a readable one.
    pub(super) time: Option<i64>,
}

/// Is this a SageMaker notebook state change event (by detail-type and source)?
pub(super) fn is_state_change(ev: &Value) -> bool {
    ev.get("detail-type").and_then(Value::as_str) == Some(DETAIL_TYPE)
        && ev.get("source").and_then(Value::as_str) == Some(SOURCE)
}

/// The notebook and status of a state change event; `Err` names what is malformed.
pub(super) fn parse(ev: &Value) -> std::result::Result<StateChange, String> {
    let detail = ev.get("detail").filter(|d| d.is_object()).ok_or("no \"detail\" object")?;
    let text = |key: &str| detail.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    // The ARN lower-cases the name (SageMaker ARNs are lower case); the name keeps its case.
    let notebook = text("NotebookInstanceName").ok_or("no detail.NotebookInstanceName string")?;
    let status = text("NotebookInstanceStatus").ok_or("no detail.NotebookInstanceStatus string")?;
    let time = ev
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime).ok())
        .map(|t| t.secs());
    Ok(StateChange { notebook: notebook.to_owned(), status: status.to_owned(), time })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateOutcome {
    Stored,
    AlreadyHandled,
    Removed,
    Ignored,
}

/// What one state change led to (a line of `watch --event`, the Lambda function's answer).
#[derive(Debug, Clone, Serialize)]
pub struct StateHandled {
    pub result: StateOutcome,
    pub notebook: String,
    pub event_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl std::fmt::Display for StateHandled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let result = match self.result {
            StateOutcome::Stored => "stored",
            StateOutcome::AlreadyHandled => "already-handled",
            StateOutcome::Removed => "removed",
            StateOutcome::Ignored => "ignored",
        };
        write!(f, "{result:<8} notebook {} ({})", self.notebook, self.event_status)?;
        if let Some(u) = &self.user {
            write!(f, " user {u}")?;
        }
        if let (Some(p), Some(e)) = (&self.parameter, &self.session_expires) {
            write!(f, ": {p}, session expires {e}")?;
        }
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}

impl StateHandled {
    fn new(result: StateOutcome, change: &StateChange, user: Option<&str>, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        StateHandled {
            result,
            notebook: change.notebook.clone(),
            event_status: change.status.clone(),
            user: user.map(str::to_owned),
            parameter: None,
            session_expires: None,
            reason: (!reason.is_empty()).then_some(reason),
        }
    }
}

/// Act on one state change as the module documentation says. An error (AWS refused, the notebook
/// left InService while its URL was stored...) is returned, so a Lambda invocation answers an
/// error and is retried.
pub(super) async fn handle(args: &WatchArgs, ctx: &Context, change: &StateChange) -> Result<StateHandled> {
    let ignored = |user: Option<&str>, why: String| Ok(StateHandled::new(StateOutcome::Ignored, change, user, why));
    let Some(user) = naming::user_of_notebook(&change.notebook) else {
        return ignored(None, "not named <user>-Notebook: not a notebook of this product".into());
    };
    let now = notebook::describe(ctx, &change.notebook).await?;
    let state = now.as_ref().map(notebook::Notebook::state);
    match (Nb::from(change.status.as_str()), state) {
        (Nb::InService, Some(Nb::InService)) => {
            let nb = now.as_ref().expect("described");
            store(args, ctx, change, user, nb).await
        }
        (Nb::InService, _) => {
            ignored(Some(user), format!("the notebook is {} now: the event of that state follows", described(&now)))
        }
        (Nb::Deleting, None | Some(Nb::Deleting)) => {
            // The parameter's name is the notebook's (under this deployment's prefix): whichever
            // product vended it, that URL can never open anything again.
            let removed = urls::delete(ctx, user).await?;
            let why = if removed { "the notebook is being deleted: its URL was deleted" } else { "no URL was stored" };
            let outcome = if removed { StateOutcome::Removed } else { StateOutcome::Ignored };
            Ok(StateHandled::new(outcome, change, Some(user), why))
        }
        (Nb::Deleting, _) => ignored(Some(user), format!("the notebook is {} now", described(&now))),
        (other, _) => ignored(Some(user), format!("{}: no URL to store", other.as_str())),
    }
}

fn described(nb: &Option<notebook::Notebook>) -> String {
    nb.as_ref().map(|n| n.status.clone()).unwrap_or_else(|| "gone".into())
}

/// Store the owner's URL of an InService notebook of the product, once per InService period.
async fn store(
    args: &WatchArgs,
    ctx: &Context,
    change: &StateChange,
    user: &str,
    nb: &notebook::Notebook,
) -> Result<StateHandled> {
    let product = catalog::resolve_product(ctx).await?;
    // The event handler runs as an operator (the Lambda function's role): everyone's provisioned
    // products, as `watch` searches them.
    match catalog::find_for_user_in(ctx, &product, user, Scope::Account).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Ok(StateHandled::new(
                StateOutcome::Ignored,
                change,
                Some(user),
                format!("{user} has no provisioned product of {} ({})", product.name, product.id),
            ))
        }
        Err(e) if e.downcast_ref::<catalog::OtherProduct>().is_some() => {
            return Ok(StateHandled::new(StateOutcome::Ignored, change, Some(user), format!("{e:#}")))
        }
        Err(e) => return Err(e),
    }
    // Since when the notebook is InService: the later of the event's time and the notebook's
    // LastModifiedTime (a duplicate delivered after a stop/start must not count as handled).
    let since = change.time.into_iter().chain(nb.last_modified_epoch).max();
    let stored_at = urls::describe(ctx, Some(user)).await?.first().and_then(|(_, p)| p.last_modified_date().copied());
    if let (Some(since), Some(stored)) = (since, stored_at) {
        if stored.as_secs_f64() >= since as f64 {
            return Ok(StateHandled::new(
                StateOutcome::AlreadyHandled,
                change,
                Some(user),
                "the parameter was written after the notebook became InService",
            ));
        }
    }
    let req = Request {
        user,
        store: &args.store,
        grace: vend::NOT_FOUND_GRACE,
        when_stopped: WhenStopped::Fail,
        resume: format!("notebook-vend refresh --user {user}"),
        show_url: false,
        stack: None,
    };
    let delivery = vend::deliver(ctx, &req, Deadline::secs(args.timeout), &ctx.progress.silent())
        .await
        .with_context(|| format!("storing the URL of {}", change.notebook))?;
    let mut h = StateHandled::new(StateOutcome::Stored, change, Some(user), "");
    h.parameter = Some(delivery.stored.parameter);
    h.session_expires = Some(delivery.stored.session_expires);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({"version": "0", "id": "e", "detail-type": DETAIL_TYPE, "source": SOURCE,
               "account": "123456789012", "time": "2026-12-03T10:00:00Z", "region": "us-east-1",
               "resources": ["arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/bob-notebook"],
               "detail": detail})
    }

    #[test]
    fn reads_name_status_and_time() {
        let ev = event(
            json!({"NotebookInstanceArn": "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/bob-notebook",
                              "NotebookInstanceName": "bob-Notebook", "NotebookInstanceStatus": "InService"}),
        );
        assert!(is_state_change(&ev));
        let c = parse(&ev).unwrap();
        assert_eq!(c.notebook, "bob-Notebook");
        assert_eq!(c.status, "InService");
        assert_eq!(c.time, Some(1_796_292_000));
    }

    #[test]
    fn names_what_is_malformed() {
        assert!(parse(&event(json!({"NotebookInstanceStatus": "InService"})))
            .unwrap_err()
            .contains("NotebookInstanceName"));
        assert!(parse(&event(json!({"NotebookInstanceName": "a-Notebook"})))
            .unwrap_err()
            .contains("NotebookInstanceStatus"));
        assert!(parse(&event(json!("x"))).unwrap_err().contains("detail"));
        let mut other = event(json!({}));
        other["source"] = json!("aws.ec2");
        assert!(!is_state_change(&other));
    }
}
