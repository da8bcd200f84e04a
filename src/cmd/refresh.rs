//! `refresh --user U | --all`: mint a new URL and overwrite the user's parameter. What the blog's
//! RefreshURL Lambda did, for one user or every notebook of the product at once.

use std::fmt;

use anyhow::Result;
use serde::Serialize;

use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::notebook::WhenStopped;
use crate::aws::poll::Deadline;
use crate::aws::urls;
use crate::cli::RefreshArgs;
use crate::cmd::shared::fanout::Tally;
use crate::cmd::shared::vend::{self, Request};
use crate::output::table;

#[derive(Debug, Serialize)]
struct Row {
    user: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct AllRefreshed {
    refreshed: usize,
    failed: usize,
    results: Vec<Row>,
}

impl fmt::Display for AllRefreshed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .map(|r| {
                vec![
                    r.user.clone(),
                    if r.ok { "refreshed" } else { "FAILED" }.into(),
                    r.session_expires.clone().or_else(|| r.error.clone()).unwrap_or_default(),
                ]
            })
            .collect();
        writeln!(f, "{}", table(&["USER", "RESULT", "SESSION EXPIRES / ERROR"], &rows))?;
        write!(f, "{} refreshed, {} failed", self.refreshed, self.failed)
    }
}

fn when_stopped(args: &RefreshArgs) -> WhenStopped {
    if args.start {
        WhenStopped::Start
    } else {
        WhenStopped::Fail
    }
}

pub async fn run(args: &RefreshArgs, ctx: &Context) -> Result<()> {
    let deadline = Deadline::secs(args.timeout);
    if let Some(user) = &args.user {
        vend::require_in_deployment(ctx, user).await?;
        let task = ctx.progress.task(format!("refreshing the URL of {user}"));
        let req = Request {
            user,
            store: &args.store,
            grace: std::time::Duration::ZERO,
            when_stopped: when_stopped(args),
            resume: format!("notebook-vend refresh --user {user}"),
            show_url: args.show_url,
            stack: None,
        };
        let delivery = vend::deliver(ctx, &req, deadline, &task).await?;
        drop(task);
        return crate::output::emit(ctx.output, &delivery);
    }

    // The batch reads, side by side: the product's provisioned products, one DescribeParameters
    // walk (the owners the parameters already name for their stacks, every parameter's tier and
    // type) and the notebooks' states (see vend::deliver_all).
    let provisioned = async {
        let product = catalog::resolve_product(ctx).await?;
        catalog::search_provisioned(ctx, &product, catalog::Scope::Account).await
    };
    let (attributes, params, states) =
        tokio::try_join!(provisioned, urls::describe(ctx, None), notebook::list_by_name(ctx))?;
    let known = urls::owners_by_stack(&params);
    let mut targets: Vec<vend::Bulk> = catalog::with_users(ctx, &attributes, &known)
        .await
        .into_iter()
        .filter_map(|p| {
            let user = p.user?;
            Some(vend::Bulk { user, stack: p.stack, store: &args.store, when_stopped: when_stopped(args) })
        })
        .collect();
    targets.sort_by(|a, b| a.user.cmp(&b.user));
    targets.dedup_by(|a, b| a.user == b.user);
    let counter = ctx.progress.counter(targets.len() as u64, "refreshing URLs");
    let delivered =
        vend::deliver_all(ctx, targets, &states, &params, args.concurrency as usize, deadline, &counter).await?;
    let mut results: Vec<Row> = delivered
        .into_iter()
        .map(|(user, result)| match result {
            Ok(d) => Row { user, ok: true, session_expires: Some(d.stored.session_expires), error: None },
            Err(e) => Row { user, ok: false, session_expires: None, error: Some(format!("{e:#}")) },
        })
        .collect();
    drop(counter);
    results.sort_by(|a, b| a.user.cmp(&b.user));
    let tally = Tally::count(&results, |r| !r.ok);
    let summary = AllRefreshed { refreshed: tally.succeeded, failed: tally.failed, results };
    crate::output::emit_with_calls(ctx, &summary)?;
    tally.exit_status(|t| format!("{} of {} refreshes failed (the others were stored)", t.failed, t.total()))
}
