//! `cull --max-age DURATION`: stop every vended notebook that has been InService longer than
//! DURATION, for cron or CI. The CLI-side counterpart of JupyterHub's culler `--max-age`; the
//! product's idle auto-stop covers idleness, this covers forgotten-but-busy notebooks.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use serde::Serialize;

use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::cli::CullArgs;
use crate::cmd::shared::fanout::{self, Tally};
use crate::names::user;
use crate::output::table;

/// Notebooks described (and stopped) at the same time.
const CONCURRENCY: usize = 8;

#[derive(Debug, Serialize)]
struct Row {
    user: String,
    notebook: String,
    status: String,
    /// Seconds since the notebook last became InService (its LastModifiedTime).
    in_service_seconds: Option<u64>,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// For a notebook cull stops (or would): when the user's start schedule starts it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    restarts_at: Option<String>,
}

/// What cull did to one notebook, as `--output json` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Action {
    #[serde(rename = "kept")]
    Kept,
    #[serde(rename = "would stop")]
    WouldStop,
    #[serde(rename = "stopped")]
    Stopped,
    #[serde(rename = "failed")]
    Failed,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Kept => "kept",
            Action::WouldStop => "would stop",
            Action::Stopped => "stopped",
            Action::Failed => "failed",
        })
    }
}

#[derive(Debug, Serialize)]
struct Culled {
    max_age_seconds: u64,
    dry_run: bool,
    stopped: usize,
    notebooks: Vec<Row>,
}

impl fmt::Display for Culled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .notebooks
            .iter()
            .map(|r| {
                vec![
                    r.user.clone(),
                    r.notebook.clone(),
                    r.status.clone(),
                    r.in_service_seconds.map(human).unwrap_or_else(|| "-".into()),
                    match (&r.error, &r.restarts_at) {
                        (Some(e), _) => format!("{}: {e}", r.action),
                        (None, Some(t)) => format!("{} (its schedule starts it again at {t})", r.action),
                        (None, None) => r.action.to_string(),
                    },
                ]
            })
            .collect();
        writeln!(f, "{}", table(&["USER", "NOTEBOOK", "STATUS", "IN SERVICE FOR", "ACTION"], &rows))?;
        let verb = if self.dry_run { "would stop" } else { "stopped" };
        write!(f, "{} {verb} (max age {})", self.stopped, human(self.max_age_seconds))
    }
}

fn human(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
        s if s >= 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

pub async fn run(args: &CullArgs, ctx: &Context) -> Result<()> {
    let max_age = args.max_age;
    let product = catalog::resolve_product(ctx).await?;
    let users: Vec<String> =
        catalog::list_provisioned(ctx, &product).await?.into_iter().filter_map(|p| p.user).collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let mut rows: Vec<Row> = fanout::bounded(users, CONCURRENCY, |user| async move {
        let name = user::notebook_name(&user);
        let nb = match notebook::describe(ctx, &name).await {
            Ok(Some(nb)) => nb,
            Ok(None) => {
                return Row {
                    user,
                    notebook: name,
                    status: "missing".into(),
                    in_service_seconds: None,
                    action: Action::Kept,
                    error: None,
                    restarts_at: None,
                }
            }
            Err(e) => {
                return Row {
                    user,
                    notebook: name,
                    status: "unknown".into(),
                    in_service_seconds: None,
                    action: Action::Failed,
                    error: Some(format!("{e:#}")),
                    restarts_at: None,
                }
            }
        };
        let age = match nb.state() {
            Nb::InService => nb.last_modified_epoch.map(|t| (now - t).max(0) as u64),
            // Not running (or not for long enough to know): nothing to cull. In SageMaker
            // maintenance (botocore NotebookInstanceStatus) the call's outcome is undocumented,
            // so it is not sent; a later cull finds the notebook InService again.
            Nb::Pending
            | Nb::Stopping
            | Nb::Stopped
            | Nb::Failed
            | Nb::Deleting
            | Nb::Updating
            | Nb::PendingMaintenance
            | Nb::InMaintenance => None,
            // A state newer than this SDK (the enum is #[non_exhaustive]).
            _ => None,
        };
        let too_old = age.is_some_and(|a| a > max_age.as_secs());
        let (action, error) = match (too_old, args.dry_run) {
            (false, _) => (Action::Kept, None),
            (true, true) => (Action::WouldStop, None),
            (true, false) => match notebook::stop(ctx, &name).await {
                Ok(()) => (Action::Stopped, None),
                Err(e) => (Action::Failed, Some(format!("{e:#}"))),
            },
        };
        Row { user, notebook: name, status: nb.status, in_service_seconds: age, action, error, restarts_at: None }
    })
    .await;
    rows.sort_by(|a, b| a.user.cmp(&b.user));
    // A culled notebook with a start schedule runs again at its next start: say when.
    let culled: Vec<String> = rows
        .iter()
        .filter(|r| matches!(r.action, Action::Stopped | Action::WouldStop))
        .map(|r| r.user.clone())
        .collect();
    if !culled.is_empty() {
        let mut next = crate::cmd::schedule::next_runs(ctx, &culled).await?;
        for row in rows.iter_mut() {
            row.restarts_at = next.remove(&row.user).and_then(|(start, _)| start);
        }
    }
    let tally = Tally::count(&rows, |r| r.action == Action::Failed);
    let stopped = rows.iter().filter(|r| matches!(r.action, Action::Stopped | Action::WouldStop)).count();
    crate::output::emit_with_calls(
        ctx,
        &Culled { max_age_seconds: max_age.as_secs(), dry_run: args.dry_run, stopped, notebooks: rows },
    )?;
    tally.exit_status(|t| format!("{} notebook(s) could not be checked or stopped", t.failed))
}
