//! `list`: every notebook vended by the product, whoever provisioned it (this tool, the console,
//! another script), joined with its notebook (described concurrently) and its URL parameter
//! (one DescribeParameters call for all). A parameter whose user has no provisioned product left
//! is listed too: it is a stale credential someone should remove (`terminate` or `teardown`).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use serde::Serialize;

use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::urls;
use crate::cli::ListArgs;
use crate::cmd::shared::fanout;
use crate::names::user;
use crate::output::table;

/// Concurrent DescribeNotebookInstance calls.
const CONCURRENCY: usize = 8;

#[derive(Debug, Serialize)]
pub struct Row {
    /// None when the provisioned product names no user this tool can read.
    pub user: Option<String>,
    pub notebook: Option<String>,
    /// Notebook status; None when there is no notebook (yet, or any more).
    pub status: Option<String>,
    pub instance_type: Option<String>,
    pub failure_reason: Option<String>,
    pub provisioned_product: Option<String>,
    pub provisioned_product_id: Option<String>,
    /// AVAILABLE, UNDER_CHANGE, TAINTED, ERROR, PLAN_IN_PROGRESS; None for a parameter left behind.
    pub product_status: Option<String>,
    pub parameter: Option<String>,
    pub url_stored_at: Option<String>,
    pub session_expires: Option<String>,
    /// The provisioning artifact (version) the product is on, and whether it is not the newest active one.
    pub artifact_id: Option<String>,
    pub outdated: Option<bool>,
    /// Next runs of the user's start and stop schedules (UTC), computed from their expressions.
    pub next_start: Option<String>,
    pub next_stop: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Listing(pub Vec<Row>);

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|r| {
                vec![
                    dash(&r.user),
                    dash(&r.notebook),
                    r.status.clone().unwrap_or_else(|| "(none)".into()),
                    dash(&r.instance_type),
                    r.product_status.clone().unwrap_or_else(|| "(none)".into()),
                    dash(&r.url_stored_at),
                    dash(&r.session_expires),
                    match r.outdated {
                        Some(true) => "outdated".into(),
                        Some(false) => "newest".into(),
                        None => "-".into(),
                    },
                    dash(&r.next_start),
                    dash(&r.next_stop),
                ]
            })
            .collect();
        write!(
            f,
            "{}",
            table(
                &[
                    "USER",
                    "NOTEBOOK",
                    "STATUS",
                    "TYPE",
                    "PRODUCT-STATUS",
                    "URL-STORED",
                    "SESSION-EXPIRES",
                    "VERSION",
                    "NEXT-START",
                    "NEXT-STOP",
                ],
                &rows
            )
        )
    }
}

pub async fn run(_args: &ListArgs, ctx: &Context) -> Result<()> {
    let product = catalog::resolve_product(ctx).await?;
    let (provisioned, mut params) =
        tokio::try_join!(catalog::list_provisioned(ctx, &product), urls::list_metadata(ctx))?;

    let mut rows: Vec<Row> = provisioned
        .into_iter()
        .map(|p| {
            let meta = p.user.as_ref().and_then(|u| params.remove(u));
            Row {
                notebook: p.user.as_deref().map(user::notebook_name),
                user: p.user,
                status: None,
                instance_type: None,
                failure_reason: None,
                provisioned_product: Some(p.name),
                provisioned_product_id: Some(p.id),
                product_status: Some(p.status),
                parameter: meta.as_ref().map(|m| m.parameter.clone()),
                url_stored_at: meta.as_ref().and_then(|m| m.stored_at.clone()),
                session_expires: meta.and_then(|m| m.session_expires),
                outdated: p.artifact_id.as_ref().map(|a| *a != product.artifact_id),
                artifact_id: p.artifact_id,
                next_start: None,
                next_stop: None,
            }
        })
        .collect();
    // Parameters nobody's provisioned product accounts for.
    rows.extend(params.into_iter().map(|(user, m)| Row {
        notebook: Some(user::notebook_name(&user)),
        user: Some(user),
        status: None,
        instance_type: None,
        failure_reason: None,
        provisioned_product: None,
        provisioned_product_id: None,
        product_status: None,
        parameter: Some(m.parameter),
        url_stored_at: m.stored_at,
        session_expires: m.session_expires,
        artifact_id: None,
        outdated: None,
        next_start: None,
        next_stop: None,
    }));

    let names: Vec<String> = rows.iter().filter_map(|r| r.notebook.clone()).collect();
    let described: BTreeMap<String, Option<notebook::Notebook>> =
        fanout::bounded(names, CONCURRENCY, |name| async move {
            let nb = notebook::describe(ctx, &name).await;
            nb.map(|nb| (name, nb))
        })
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    for row in &mut rows {
        if let Some(Some(nb)) = row.notebook.as_ref().and_then(|n| described.get(n)) {
            row.status = Some(nb.status.clone());
            row.instance_type = nb.instance_type.clone();
            row.failure_reason = nb.failure_reason.clone();
        }
    }
    let users: Vec<String> = rows.iter().filter_map(|r| r.user.clone()).collect();
    let mut next = crate::cmd::schedule::next_runs(ctx, &users).await?;
    for row in &mut rows {
        if let Some((start, stop)) = row.user.as_ref().and_then(|u| next.remove(u)) {
            row.next_start = start;
            row.next_stop = stop;
        }
    }
    rows.sort_by(|a, b| (&a.user, &a.provisioned_product).cmp(&(&b.user, &b.provisioned_product)));
    if rows.is_empty() {
        ctx.progress.line(format!(
            "no notebooks vended by product {:?}; provision one with `notebook-vend provision --user NAME`",
            product.name
        ));
    }
    crate::output::emit(ctx.output, &Listing(rows))
}
