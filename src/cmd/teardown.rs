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
use serde::Serialize;

use crate::aws::catalog::{self, Product, Provisioned};
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::objects;
use crate::aws::poll::Deadline;
use crate::aws::scheduler;
use crate::aws::stacks::{self, StackInfo};
use crate::aws::urls;
use crate::cli::TeardownArgs;
use crate::cmd::shared::fanout::{self, Lines};
use crate::cmd::shared::prompt::{confirm, require_answerable};
use crate::cmd::terminate::terminate_one;
use crate::error::{exit, exit_code, Failure};
use crate::names::user;
use crate::progress;

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
    let serverless = names.serverless_stack();
    let (sc, s3, sl) = tokio::try_join!(
        stacks::info(ctx, &names.catalog_stack),
        stacks::info(ctx, &names.s3_stack),
        stacks::info(ctx, &serverless)
    )?;
    let provisioned = provisioned_products(ctx, sc.as_ref()).await?;
    let remaining: Vec<Remaining> = provisioned
        .iter()
        .map(|p| Remaining {
            user: p.user.clone(),
            provisioned_product: p.name.clone(),
            id: p.id.clone(),
            status: p.status.clone(),
        })
        .collect();
    refuse_when_notebooks_remain(args, &names.product_name, &remaining)?;
    let parameters = url_parameters(ctx, &provisioned).await?;
    let (bucket, objects) = bucket_contents(ctx, s3.as_ref()).await?;

    let mut summary = TornDown {
        dry_run: args.dry_run,
        outcome: "would_tear_down",
        terminated: remaining,
        stacks: stack_steps(ctx, [&sl, &sc, &s3], false),
        bucket: bucket.clone(),
        objects_deleted: objects,
        parameters_deleted: parameters.deleted.iter().chain(&parameters.terminated).cloned().collect(),
        parameters_kept: parameters.kept,
        schedule_group_deleted: false,
    };
    if sl.is_none()
        && sc.is_none()
        && s3.is_none()
        && summary.parameters_deleted.is_empty()
        && summary.terminated.is_empty()
    {
        summary.outcome = "nothing_left";
        return crate::output::emit_with_calls(ctx, &summary);
    }
    if args.dry_run {
        return crate::output::emit_with_calls(ctx, &summary);
    }
    if !args.yes {
        confirm_teardown(&summary, bucket.as_deref(), objects).await?;
    }

    // The order matters: the products before the stack that holds their product, the bucket's
    // contents before the stack that holds the bucket.
    terminate_products(ctx, &provisioned, args.concurrency as usize, deadline).await?;
    delete_url_parameters(ctx, &parameters.deleted).await?;
    // The schedule group with its schedules, before the stack that holds their execution role.
    summary.schedule_group_deleted = scheduler::delete_group(ctx, &ctx.names.schedule_group()).await?;
    delete_stacks(ctx, bucket.as_deref(), deadline).await?;

    summary.outcome = "torn_down";
    summary.stacks = stack_steps(ctx, [&sl, &sc, &s3], true);
    crate::output::emit_with_calls(ctx, &summary)
}

/// The provisioned products of the deployment's product, read through the catalog stack's
/// ProductId output (none when the stack or its output is gone).
async fn provisioned_products(ctx: &Context, sc: Option<&StackInfo>) -> Result<Vec<Provisioned>> {
    match sc.and_then(|s| s.outputs.get("ProductId")) {
        Some(id) => {
            let product = Product {
                id: id.clone(),
                name: ctx.names.product_name.clone(),
                path_id: String::new(),
                artifact_id: String::new(),
                artifact_name: String::new(),
            };
            catalog::list_provisioned(ctx, &product).await
        }
        None => Ok(Vec::new()),
    }
}

/// Notebooks hold users' work: without --terminate-notebooks, teardown stops here and names them.
fn refuse_when_notebooks_remain(args: &TeardownArgs, product_name: &str, remaining: &[Remaining]) -> Result<()> {
    if !remaining.is_empty() && !args.terminate_notebooks {
        let list: Vec<String> = remaining
            .iter()
            .map(|r| format!("{} ({}, user {})", r.provisioned_product, r.status, r.user.as_deref().unwrap_or("?")))
            .collect();
        bail!(
            "{} provisioned product(s) of {:?} remain: {}; terminate them first (`notebook-vend terminate --user U`) \
             or pass --terminate-notebooks",
            list.len(),
            product_name,
            list.join(", ")
        );
    }
    Ok(())
}

/// The URL parameters under the prefix, by what teardown does with them.
struct Parameters {
    /// Those whose notebook is gone: teardown deletes them itself (sorted).
    deleted: Vec<String>,
    /// Those whose notebook still exists: kept (sorted).
    kept: Vec<String>,
    /// Those of the users terminated now: terminating a product deletes its user's parameter.
    terminated: Vec<String>,
}

/// Sorts the URL parameters: those of the users terminated now, those whose notebook is gone, and
/// those whose notebook still exists (looked up concurrently).
async fn url_parameters(ctx: &Context, provisioned: &[Provisioned]) -> Result<Parameters> {
    let terminating: BTreeSet<String> = provisioned.iter().filter_map(|p| p.user.clone()).collect();
    let params = urls::list_metadata(ctx).await?;
    let others: Vec<(String, String)> = params
        .iter()
        .filter(|(u, _)| !terminating.contains(*u))
        .map(|(u, m)| (u.clone(), m.parameter.clone()))
        .collect();
    let checked: Vec<Result<(String, bool)>> = fanout::bounded(others, 8, |(user, parameter)| async move {
        let exists = notebook::describe(ctx, &user::notebook_name(&user)).await?.is_some();
        Ok((parameter, exists))
    })
    .await;
    let (mut deleted, mut kept) = (Vec::new(), Vec::new());
    for c in checked {
        let (parameter, exists) = c?;
        if exists {
            kept.push(parameter);
        } else {
            deleted.push(parameter);
        }
    }
    let terminated: Vec<String> =
        params.iter().filter(|(u, _)| terminating.contains(*u)).map(|(_, m)| m.parameter.clone()).collect();
    kept.sort();
    deleted.sort();
    Ok(Parameters { deleted, kept, terminated })
}

/// The bucket named by the s3-iam stack and how many object versions and delete markers it holds;
/// no bucket when the stack, its output or the bucket itself is gone.
async fn bucket_contents(ctx: &Context, s3: Option<&StackInfo>) -> Result<(Option<String>, usize)> {
    let bucket = s3.and_then(|s| s.outputs.get("S3BucketName").cloned());
    let versions = match &bucket {
        Some(b) => objects::versions(ctx, b).await?,
        None => None,
    };
    let bucket = bucket.filter(|_| versions.is_some());
    Ok((bucket, versions.unwrap_or_default().len()))
}

/// The stacks as the summary lists them (serverless, catalog, bucket/role: the order they are
/// deleted in), before (`deleted` false) or after the deletes. The serverless stack is listed only
/// when there is one.
fn stack_steps(ctx: &Context, [sl, sc, s3]: [&Option<StackInfo>; 3], deleted: bool) -> Vec<StackStep> {
    let serverless = ctx.names.serverless_stack();
    [(&serverless, sl), (&ctx.names.catalog_stack, sc), (&ctx.names.s3_stack, s3)]
        .into_iter()
        .filter(|(name, info)| info.is_some() || **name != serverless)
        .map(|(name, info)| StackStep {
            name: name.clone(),
            status: info.as_ref().map(|i| i.status.clone()),
            deleted: deleted && info.is_some(),
        })
        .collect()
}

/// One question listing everything that is about to go; a "no" ends the run with nothing written.
async fn confirm_teardown(summary: &TornDown, bucket: Option<&str>, objects: usize) -> Result<()> {
    let mut what = Vec::new();
    if !summary.terminated.is_empty() {
        what.push(format!("terminate {} notebook(s) and their data", summary.terminated.len()));
    }
    for s in summary.stacks.iter().filter(|s| s.status.is_some()) {
        what.push(format!("delete stack {}", s.name));
    }
    if let Some(b) = bucket {
        what.push(format!("empty and delete bucket {b} ({objects} object versions)"));
    }
    if !summary.parameters_deleted.is_empty() {
        what.push(format!("delete {} URL parameter(s)", summary.parameters_deleted.len()));
    }
    if !confirm(&format!("Tear down the deployment: {}?", what.join(", "))).await? {
        bail!("not confirmed; nothing was changed");
    }
    Ok(())
}

/// Step 1: the provisioned products, concurrently; stop before the stacks if any fails (deleting
/// the product under a live provisioned product would orphan it).
async fn terminate_products(
    ctx: &Context,
    provisioned: &[Provisioned],
    concurrency: usize,
    deadline: Deadline,
) -> Result<()> {
    if provisioned.is_empty() {
        return Ok(());
    }
    let counter = ctx.progress.counter(provisioned.len() as u64, "terminating provisioned products");
    let outcomes = fanout::each(
        provisioned,
        concurrency,
        &counter,
        Lines::Successes("terminated"),
        |pp| pp.name.clone(),
        |pp| async move { terminate_one(ctx, pp, pp.user.as_deref(), false, deadline, &ctx.progress.silent()).await },
    )
    .await;
    let failures: Vec<(String, anyhow::Error)> =
        outcomes.into_iter().filter_map(|(name, result)| result.err().map(|e| (name, e))).collect();
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
    Ok(())
}

/// Step 2: the URL parameters whose notebooks are gone (terminate_one already took its users' own).
async fn delete_url_parameters(ctx: &Context, left: &[String]) -> Result<()> {
    if !left.is_empty() {
        urls::delete_names(ctx, left).await?;
    }
    Ok(())
}

/// Step 3: the serverless stack (it imports the bucket's export, and its functions would react to
/// the notebooks going away), the catalog stack (portfolio, product, launch role), then the
/// bucket's contents (a stack cannot delete a bucket that holds anything; the Lambda packages go
/// with it), then the s3-iam stack.
async fn delete_stacks(ctx: &Context, bucket: Option<&str>, deadline: Deadline) -> Result<()> {
    progress::set_resumable("teardown was deleting stacks", "notebook-vend teardown --yes");
    stacks::delete(ctx, &ctx.names.serverless_stack(), deadline).await?;
    stacks::delete(ctx, &ctx.names.catalog_stack, deadline).await?;
    if let Some(b) = bucket {
        let task = ctx.progress.task(format!("emptying bucket {b}"));
        objects::empty_bucket(ctx, b).await?;
        drop(task);
    }
    stacks::delete(ctx, &ctx.names.s3_stack, deadline).await?;
    progress::clear_in_flight();
    Ok(())
}
