//! `teardown`: the reverse of bootstrap. Terminates the remaining provisioned products (only with
//! `--terminate-notebooks`; otherwise refuses, listing them), deletes the URL parameters whose
//! notebooks are gone, deletes the service-catalog stack, empties the bucket (every version and
//! delete marker: CloudFormation cannot delete a bucket that holds anything) and deletes the
//! s3-iam stack. Each step skips what is already gone, so a re-run after Ctrl-C converges.
//!
//! The provisioned products are found through the service-catalog stack's ProductId output, not
//! by product name: a product hidden from this caller (another principal) still counts.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{bail, Result};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::catalog::{self, Product, Provisioned};
use crate::cli::TeardownArgs;
use crate::cmd::terminate::{confirm, require_answerable, terminate_one};
use crate::context::Context;
use crate::error::{exit, exit_code, Failure};
use crate::naming;
use crate::notebook;
use crate::objects;
use crate::poll::Deadline;
use crate::progress;
use crate::stacks;
use crate::urls;

/// DeleteObjects takes at most 1000 keys per call.

#[derive(Debug, Serialize)]
pub struct StackStep {
    pub name: String,
    /// Status before teardown; None when the stack did not exist.
    pub status: Option<String>,
    pub deleted: bool,
}

#[derive(Debug, Serialize)]
pub struct Remaining {
    pub user: Option<String>,
    pub provisioned_product: String,
    pub id: String,
    pub status: String,
}

#[derive(Debug, Serialize)]
pub struct TornDown {
    pub dry_run: bool,
    /// torn_down, nothing_left, would_tear_down
    pub outcome: &'static str,
    /// Provisioned products terminated (or that would be).
    pub terminated: Vec<Remaining>,
    pub stacks: Vec<StackStep>,
    pub bucket: Option<String>,
    /// Object versions and delete markers removed from the bucket (or that would be).
    pub objects_deleted: usize,
    pub parameters_deleted: Vec<String>,
    /// Parameters under the prefix kept because their notebook still exists.
    pub parameters_kept: Vec<String>,
    /// The deployment's schedule group was deleted, and every schedule in it.
    pub schedule_group_deleted: bool,
}

impl fmt::Display for TornDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.outcome == "nothing_left" {
            return write!(f, "nothing to tear down: no stack, bucket or URL parameter is left");
        }
        let would = |done: &str, planned: &str| if self.dry_run { planned.to_owned() } else { done.to_owned() };
        if self.dry_run {
            writeln!(f, "Plan (dry run, nothing written):")?;
        }
        for t in &self.terminated {
            writeln!(
                f,
                "provisioned product  {} ({}, {}, user {}): {}",
                t.provisioned_product,
                t.id,
                t.status,
                t.user.as_deref().unwrap_or("?"),
                would("terminated", "would terminate")
            )?;
        }
        for p in &self.parameters_deleted {
            writeln!(f, "parameter            {p}: {}", would("deleted", "would delete"))?;
        }
        for p in &self.parameters_kept {
            writeln!(f, "parameter            {p}: kept (its notebook exists)")?;
        }
        for s in &self.stacks {
            match &s.status {
                Some(st) => {
                    writeln!(f, "stack                {} ({st}): {}", s.name, would("deleted", "would delete"))?
                }
                None => writeln!(f, "stack                {}: already gone", s.name)?,
            }
        }
        match &self.bucket {
            Some(b) => write!(
                f,
                "bucket               {b}: {} object versions {}",
                self.objects_deleted,
                would("deleted", "would be deleted")
            )?,
            None => write!(f, "bucket               (none)")?,
        }
        if !self.dry_run {
            write!(f, "\nteardown complete; `notebook-vend bootstrap` deploys again")?;
        }
        Ok(())
    }
}

pub async fn run(args: &TeardownArgs, ctx: &Context) -> Result<()> {
    require_answerable(args.yes, args.dry_run, "tear down the deployment")?;
    let deadline = Deadline::secs(args.timeout);
    let names = &ctx.names;

    // Look at everything first: nothing is written before the plan is known and confirmed.
    let (sc, s3) = tokio::try_join!(stacks::info(ctx, &names.catalog_stack), stacks::info(ctx, &names.s3_stack))?;
    let provisioned: Vec<Provisioned> = match sc.as_ref().and_then(|s| s.outputs.get("ProductId")) {
        Some(id) => {
            let product = Product {
                id: id.clone(),
                name: names.product_name.clone(),
                path_id: String::new(),
                artifact_id: String::new(),
                artifact_name: String::new(),
            };
            catalog::list_provisioned(ctx, &product).await?
        }
        None => Vec::new(),
    };
    let remaining: Vec<Remaining> = provisioned
        .iter()
        .map(|p| Remaining {
            user: p.user.clone(),
            provisioned_product: p.name.clone(),
            id: p.id.clone(),
            status: p.status.clone(),
        })
        .collect();
    if !remaining.is_empty() && !args.terminate_notebooks {
        let list: Vec<String> = remaining
            .iter()
            .map(|r| format!("{} ({}, user {})", r.provisioned_product, r.status, r.user.as_deref().unwrap_or("?")))
            .collect();
        bail!(
            "{} provisioned product(s) of {:?} remain: {}; terminate them first (`notebook-vend terminate --user U`) \
             or pass --terminate-notebooks",
            list.len(),
            names.product_name,
            list.join(", ")
        );
    }

    // URL parameters: those of the users terminated now, and those whose notebook is gone.
    let terminating: BTreeSet<String> = provisioned.iter().filter_map(|p| p.user.clone()).collect();
    let params = urls::list_metadata(ctx).await?;
    let others: Vec<(String, String)> = params
        .iter()
        .filter(|(u, _)| !terminating.contains(*u))
        .map(|(u, m)| (u.clone(), m.parameter.clone()))
        .collect();
    let checked: Vec<Result<(String, bool)>> = stream::iter(others)
        .map(|(user, parameter)| async move {
            let exists = notebook::describe(ctx, &naming::notebook_name(&user)).await?.is_some();
            Ok((parameter, exists))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let (mut parameters_deleted, mut parameters_kept) = (Vec::new(), Vec::new());
    for c in checked {
        let (parameter, exists) = c?;
        if exists {
            parameters_kept.push(parameter);
        } else {
            parameters_deleted.push(parameter);
        }
    }
    let terminated_params: Vec<String> =
        params.iter().filter(|(u, _)| terminating.contains(*u)).map(|(_, m)| m.parameter.clone()).collect();
    parameters_kept.sort();
    parameters_deleted.sort();

    let bucket = s3.as_ref().and_then(|s| s.outputs.get("S3BucketName").cloned());
    let versions = match &bucket {
        Some(b) => objects::versions(ctx, b).await?,
        None => None,
    };
    let bucket = bucket.filter(|_| versions.is_some());
    let versions = versions.unwrap_or_default();

    let stack_steps = |deleted: bool| {
        [(&names.catalog_stack, &sc), (&names.s3_stack, &s3)]
            .into_iter()
            .map(|(name, info)| StackStep {
                name: name.clone(),
                status: info.as_ref().map(|i| i.status.clone()),
                deleted: deleted && info.is_some(),
            })
            .collect::<Vec<_>>()
    };
    let mut summary = TornDown {
        dry_run: args.dry_run,
        outcome: "would_tear_down",
        terminated: remaining,
        stacks: stack_steps(false),
        bucket: bucket.clone(),
        objects_deleted: versions.len(),
        parameters_deleted: parameters_deleted.iter().chain(&terminated_params).cloned().collect(),
        parameters_kept,
        schedule_group_deleted: false,
    };
    if sc.is_none() && s3.is_none() && summary.parameters_deleted.is_empty() && summary.terminated.is_empty() {
        summary.outcome = "nothing_left";
        return crate::output::emit_with_calls(ctx, &summary);
    }
    if args.dry_run {
        return crate::output::emit_with_calls(ctx, &summary);
    }
    if !args.yes {
        let mut what = Vec::new();
        if !summary.terminated.is_empty() {
            what.push(format!("terminate {} notebook(s) and their data", summary.terminated.len()));
        }
        for s in summary.stacks.iter().filter(|s| s.status.is_some()) {
            what.push(format!("delete stack {}", s.name));
        }
        if let Some(b) = &bucket {
            what.push(format!("empty and delete bucket {b} ({} object versions)", versions.len()));
        }
        if !summary.parameters_deleted.is_empty() {
            what.push(format!("delete {} URL parameter(s)", summary.parameters_deleted.len()));
        }
        if !confirm(&format!("Tear down the deployment: {}?", what.join(", "))).await? {
            bail!("not confirmed; nothing was changed");
        }
    }

    // 1. Provisioned products, concurrently; stop before the stacks if any fails (deleting the
    //    product under a live provisioned product would orphan it).
    if !provisioned.is_empty() {
        let counter = ctx.progress.counter(provisioned.len() as u64, "terminating provisioned products");
        let failures: Vec<(String, anyhow::Error)> = stream::iter(&provisioned)
            .map(|pp| {
                let counter = &counter;
                async move {
                    let result =
                        terminate_one(ctx, pp, pp.user.as_deref(), false, deadline, &ctx.progress.silent()).await;
                    counter.inc();
                    match result {
                        Ok(_) => {
                            counter.println(format!("terminated {}", pp.name));
                            None
                        }
                        Err(e) => Some((pp.name.clone(), e)),
                    }
                }
            })
            .buffer_unordered(args.concurrency as usize)
            .filter_map(|r| async move { r })
            .collect()
            .await;
        drop(counter);
        if !failures.is_empty() {
            let message = format!(
                "{} termination(s) failed, so the stacks were kept: {}",
                failures.len(),
                failures.iter().map(|(name, e)| format!("{name}: {e:#}")).collect::<Vec<_>>().join("; ")
            );
            // A timeout keeps its exit code (3): running teardown again resumes.
            if failures.iter().any(|(_, e)| exit_code(e) == exit::TIMEOUT) {
                return Err(Failure::Timeout(message).into());
            }
            bail!(message);
        }
    }

    // 2. URL parameters whose notebooks are gone (terminate_one already took its users' own).
    let left: Vec<String> = parameters_deleted.clone();
    if !left.is_empty() {
        urls::delete_names(ctx, &left).await?;
    }

    // 3. The schedule group with its schedules, before the stack that holds their execution role.
    summary.schedule_group_deleted =
        crate::scheduler::delete_group(ctx, &crate::scheduler::group_name(&ctx.names)).await?;

    // 4. The catalog stack (portfolio, product, launch role), then the bucket, then its stack.
    progress::set_resumable("teardown was deleting stacks", "notebook-vend teardown --yes");
    stacks::delete(ctx, &names.catalog_stack, deadline).await?;
    if let Some(b) = &bucket {
        let task = ctx.progress.task(format!("emptying bucket {b}"));
        objects::empty_bucket(ctx, b).await?;
        drop(task);
    }
    stacks::delete(ctx, &names.s3_stack, deadline).await?;
    progress::clear_in_flight();

    summary.outcome = "torn_down";
    summary.stacks = stack_steps(true);
    crate::output::emit_with_calls(ctx, &summary)
}
