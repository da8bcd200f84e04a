//! `watch`: what the blog's EventBridge-triggered Lambda did, for provisions made anywhere (the
//! Service Catalog console, the AWS CLI, other tools): wait for the record, wait for the notebook,
//! store a presigned URL in SSM.
//!
//! Source of truth: the provisioned products of this product (SearchProvisionedProducts), so no
//! CloudTrail trail is needed; `--cloudtrail` adds LookupEvents(EventName=ProvisionProduct), and
//! `--event` takes one event in the shape the blog's EventBridge rule delivered.
//!
//! ## The cursor
//! It is derived from SSM, not kept in a file: a provisioning record counts as handled when the
//! user's URL parameter was last modified (SSM `LastModifiedDate`) after the record completed
//! (Service Catalog `UpdatedTime`). Why not the record id in the parameter's description or a tag:
//! - it survives restarts, other machines and lost state files, since it is AWS's own state;
//! - one DescribeParameters call per 50 users reads it for everyone (a tag would cost one
//!   ListTagsForResource per user per scan);
//! - a URL stored after the record by anyone (`provision`, `refresh`, the blog's own Lambda) counts
//!   as handled, so `watch` never redoes their work, while a terminate + re-provision, or a product
//!   update, makes a newer record and is handled again.
//!
//! Both times are set by AWS, and the parameter is written only after the notebook is InService,
//! which is after the record completed. Completed records are immutable, so their details are
//! cached for the life of the process: a steady-state scan is one SearchProvisionedProducts and one
//! DescribeParameters call.

mod event;
mod scan;
mod state;
mod trail;

pub use event::{on_event, EventAnswer};
pub use state::{StateHandled, StateOutcome};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use aws_sdk_sagemaker::types::NotebookInstanceStatus as NotebookState;
use aws_sdk_servicecatalog::types::{RecordDetail, RecordStatus};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

use crate::aws::catalog::{self, Product};
use crate::aws::context::Context;
use crate::aws::notebook::{self, WhenStopped};
use crate::aws::poll::Deadline;
use crate::cli::{OutputFormat, WatchArgs};
use crate::cmd::shared::vend::{self, Request};
use crate::error::Failure;
use crate::names::user;

/// After a signal, in-flight provisions get this long to finish before they are abandoned (the
/// next run picks them up: nothing was written for them).
const DRAIN: Duration = Duration::from_secs(10);
const RESUME: &str = "notebook-vend watch --once";

/// One provisioning record to look at.
#[derive(Debug, Clone)]
struct Work {
    record_id: String,
    provisioned_product: String,
    /// The user as the source saw it (event parameters, Owner tag); the record's
    /// `NotebookUserName` output wins.
    user_hint: Option<String>,
    /// The record as the scan described it (completed records only).
    known: Option<(RecordDetail, BTreeMap<String, String>)>,
    /// The scan already compared the parameter with this record; other sources must.
    check_cursor: bool,
    /// The record was handled, but its notebook came back InService since (a start no record
    /// tells of): looked at again even when an earlier outcome held the record back.
    restarted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Stored,
    Failed,
    AlreadyHandled,
    Ignored,
}

/// One line of output per handled provision.
#[derive(Debug, Serialize)]
pub struct Handled {
    result: Outcome,
    record_id: String,
    provisioned_product: String,
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notebook: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// A FAILED record never changes: do not report it again in this process.
    #[serde(skip)]
    permanent: bool,
}

impl Handled {
    fn new(result: Outcome, work: &Work, user: Option<String>, reason: Option<String>) -> Self {
        Handled {
            result,
            record_id: work.record_id.clone(),
            provisioned_product: work.provisioned_product.clone(),
            user,
            notebook: None,
            parameter: None,
            session_expires: None,
            reason,
            permanent: false,
        }
    }
}

impl fmt::Display for Handled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let result = match self.result {
            Outcome::Stored => "stored",
            Outcome::Failed => "FAILED",
            Outcome::AlreadyHandled => "already-handled",
            Outcome::Ignored => "ignored",
        };
        write!(
            f,
            "{result:<8} user {} record {} ({})",
            self.user.as_deref().unwrap_or("?"),
            self.record_id,
            self.provisioned_product
        )?;
        if let (Some(p), Some(e)) = (&self.parameter, &self.session_expires) {
            write!(f, ": {p}, session expires {e}")?;
        }
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}

/// One line on stdout. A closed stdout (`watch | head -1`) must not kill a running watch: the
/// line is lost, the work is done and the next scan sees it as handled.
fn emit(format: OutputFormat, h: &(impl Serialize + fmt::Display)) {
    use std::io::Write;
    let line = match format {
        OutputFormat::Text => h.to_string(),
        OutputFormat::Json => serde_json::to_string(h).unwrap_or_default(),
    };
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

pub async fn run(args: &WatchArgs, ctx: &Context) -> Result<()> {
    if let Some(source) = &args.event {
        return event::run(args, ctx, source).await;
    }
    let product = catalog::resolve_product(ctx).await?;
    backfill_owner_tags(ctx, &product).await;
    let mut cache = scan::RecordCache::default();
    let mut trail = args.cloudtrail.then(trail::Trail::new);
    let concurrency = args.concurrency as usize;

    let shutdown = crate::cmd::shared::signal::shutdown_signal();
    tokio::pin!(shutdown);
    let mut queue: VecDeque<Work> = VecDeque::new();
    let mut running = FuturesUnordered::new();
    let mut in_flight: HashSet<String> = HashSet::new();
    // Records not to pick up again yet: None = never (FAILED), Some(t) = not before t.
    let mut suppressed: HashMap<String, Option<Instant>> = HashMap::new();
    let retry_after = Duration::from_secs(args.interval.saturating_mul(10).max(60));
    let mut next_scan = Some(Instant::now());
    let mut counts = Counts::default();
    let mut interrupted = None;

    loop {
        while running.len() < concurrency {
            let Some(work) = queue.pop_front() else { break };
            in_flight.insert(work.record_id.clone());
            running.push(handle(ctx, args, &product, work));
        }
        if next_scan.is_none() && running.is_empty() && queue.is_empty() {
            break;
        }
        let scan_at = next_scan.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep_until(scan_at), if next_scan.is_some() => {
                let found = scan::scan_all(ctx, &product, &mut cache, trail.as_mut()).await;
                next_scan = (!args.once).then(|| Instant::now() + Duration::from_secs(args.interval));
                let works = match found {
                    Ok(w) => w,
                    Err(e) if args.once => return Err(e),
                    Err(e) => {
                        ctx.progress.line(format!("watch: scan failed, retrying in {}s: {e:#}", args.interval));
                        continue;
                    }
                };
                enqueue(works, &mut queue, &in_flight, &mut suppressed);
            }
            Some(h) = running.next(), if !running.is_empty() => {
                in_flight.remove(&h.record_id);
                if counts.finished(&h, &mut suppressed, retry_after) {
                    emit(ctx.output, &h);
                }
            }
            signal = &mut shutdown => {
                interrupted = Some(signal);
                break;
            }
        }
    }

    if let Some(signal) = interrupted {
        return drain(ctx, signal, running, in_flight, &queue, counts).await;
    }
    let Counts { stored, failed } = counts;
    ctx.progress.line(format!("watch: {stored} stored, {failed} failed"));
    if failed > 0 {
        bail!("{failed} provision(s) could not be handled (listed above); the others were stored");
    }
    Ok(())
}

/// Queues what a scan found, except records already running, queued or held back.
fn enqueue(
    works: Vec<Work>,
    queue: &mut VecDeque<Work>,
    in_flight: &HashSet<String>,
    suppressed: &mut HashMap<String, Option<Instant>>,
) {
    let now = Instant::now();
    suppressed.retain(|_, until| until.is_none_or(|t| t > now));
    for work in works {
        let id = &work.record_id;
        let held_back = suppressed.contains_key(id) && !work.restarted;
        if in_flight.contains(id) || held_back || queue.iter().any(|q| &q.record_id == id) {
            continue;
        }
        queue.push_back(work);
    }
}

/// Provisions handled so far, for the closing line and the exit status.
#[derive(Debug, Default)]
struct Counts {
    stored: usize,
    failed: usize,
}

impl Counts {
    /// Counts one finished provision and holds its record back from the next scans: a failed one
    /// for `retry_after` (for good when it cannot change), one with nothing to do for good.
    /// Whether it gets a line on stdout.
    fn finished(
        &mut self,
        h: &Handled,
        suppressed: &mut HashMap<String, Option<Instant>>,
        retry_after: Duration,
    ) -> bool {
        match h.result {
            Outcome::Stored => self.stored += 1,
            Outcome::Failed => {
                self.failed += 1;
                suppressed.insert(h.record_id.clone(), (!h.permanent).then(|| Instant::now() + retry_after));
            }
            Outcome::AlreadyHandled | Outcome::Ignored => {
                tracing::info!(record = %h.record_id, "{h}");
                // A terminate record, another product's record: never relevant again.
                suppressed.insert(h.record_id.clone(), None);
                return false;
            }
        }
        true
    }
}

/// After a signal: the provisions in flight get [`DRAIN`] to finish; what is still running or
/// queued then is abandoned and named (nothing was written for it, the next run picks it up).
async fn drain<F: std::future::Future<Output = Handled>>(
    ctx: &Context,
    signal: &str,
    mut running: FuturesUnordered<F>,
    mut in_flight: HashSet<String>,
    queue: &VecDeque<Work>,
    counts: Counts,
) -> Result<()> {
    let Counts { mut stored, mut failed } = counts;
    let waiting = running.len();
    if waiting > 0 {
        ctx.progress
            .line(format!("watch: {signal}: finishing {waiting} provision(s) in flight (up to {}s)", DRAIN.as_secs()));
    }
    let drained = tokio::time::timeout(DRAIN, async {
        while let Some(h) = running.next().await {
            in_flight.remove(&h.record_id);
            match h.result {
                Outcome::Stored => stored += 1,
                Outcome::Failed => failed += 1,
                _ => continue,
            }
            emit(ctx.output, &h);
        }
    })
    .await;
    drop(running);
    let mut left: Vec<String> = in_flight.into_iter().collect();
    left.extend(queue.iter().map(|w| w.record_id.clone()));
    left.sort();
    if drained.is_err() || !left.is_empty() {
        return Err(Failure::Interrupted(format!(
            "watch stopped by {signal}: {stored} stored, {failed} failed; abandoned record(s) {} (nothing was written for them: the next `watch` handles them)",
            left.join(", ")
        ))
        .into());
    }
    ctx.progress.line(format!("watch: stopped by {signal}: {stored} stored, {failed} failed"));
    Ok(())
}

/// Notebooks vended before the product template set the owner tag get it, once per run: without
/// it `policy end-user` denies their users. Problems are reported, not fatal (the tag denies only
/// the notebook's own user, and the next run tries again).
async fn backfill_owner_tags(ctx: &Context, product: &Product) {
    let users: Vec<String> = match catalog::list_provisioned(ctx, product).await {
        Ok(pps) => pps.into_iter().filter_map(|p| p.user).collect(),
        Err(e) => {
            ctx.progress.line(format!("watch: owner tags not checked: {e:#}"));
            return;
        }
    };
    let say = |line: String| ctx.progress.line(format!("watch: {line}"));
    crate::aws::owner_tags::backfill(ctx, &users, &say).await;
}

/// Await the record if needed, then store the user's URL; never fails: the outcome says.
async fn handle(ctx: &Context, args: &WatchArgs, product: &Product, work: Work) -> Handled {
    handle_inner(ctx, args, product, &work).await.unwrap_or_else(|failed| failed)
}

/// The outcome, or as `Err` the Failed outcome naming the user as far as it is known.
async fn handle_inner(ctx: &Context, args: &WatchArgs, product: &Product, work: &Work) -> Result<Handled, Handled> {
    let fail = |user: &Option<String>, e: anyhow::Error| {
        Handled::new(Outcome::Failed, work, user.clone(), Some(format!("{e:#}")))
    };
    let deadline = Deadline::secs(args.timeout);
    let task = ctx.progress.silent();
    let (mut detail, mut outputs) = match &work.known {
        Some(k) => k.clone(),
        None => catalog::describe_record(ctx, &work.record_id).await.map_err(|e| fail(&None, e))?,
    };
    let mut user = scan::user_from(&outputs, work.user_hint.as_deref(), &work.provisioned_product);
    if detail.product_id().is_some_and(|p| p != product.id) {
        return Ok(Handled::new(Outcome::Ignored, work, user.clone(), Some("a record of another product".into())));
    }
    if detail.record_type() == Some("TERMINATE_PROVISIONED_PRODUCT") {
        return Ok(Handled::new(Outcome::Ignored, work, user.clone(), Some("a terminate record".into())));
    }
    let mut waited = false;
    match detail.status() {
        Some(RecordStatus::Succeeded) => {}
        Some(RecordStatus::Failed) => {
            let mut h = Handled::new(
                Outcome::Failed,
                work,
                user.clone(),
                Some(format!("record FAILED: {}", catalog::record_errors(&detail))),
            );
            h.permanent = true;
            return Ok(h);
        }
        // CREATED, IN_PROGRESS, IN_PROGRESS_IN_ERROR, or a state newer than this SDK: wait for it.
        _ => {
            // A record that fails while we wait is reported as failed but not marked permanent:
            // it is looked at again after the retry delay, when the scan finds it FAILED (and
            // then suppresses it for good).
            catalog::wait_record(ctx, &work.record_id, deadline, &task, RESUME)
                .await
                .map_err(|e| fail(&user, e.context("waiting for the record")))?;
            (detail, outputs) = catalog::describe_record(ctx, &work.record_id).await.map_err(|e| fail(&user, e))?;
            waited = true;
        }
    }
    user = scan::user_from(&outputs, work.user_hint.as_deref(), &work.provisioned_product).or(user);
    let Some(user) = user else {
        return Err(fail(&None, anyhow!("cannot tell whose notebook this is: the record has no NotebookUserName output and the provisioned product no Owner tag")));
    };
    let known = Some(user.clone());
    if detail.record_type() == Some("UPDATE_PROVISIONED_PRODUCT") {
        // An update (console, CLI, `update`) restarts a running notebook, so its URL needs minting
        // again, like after a provision. An update of a notebook its user stopped left it stopped:
        // nothing to deliver, and starting it is the user's decision (`start --refresh`).
        let nb = notebook::describe(ctx, &user::notebook_name(&user)).await.map_err(|e| fail(&known, e))?;
        if nb.as_ref().is_some_and(|n| matches!(n.state(), NotebookState::Stopped | NotebookState::Stopping)) {
            return Ok(Handled::new(
                Outcome::Ignored,
                work,
                known,
                Some("an update of a stopped notebook: no URL to store".into()),
            ));
        }
    }
    let done = scan::completed_at(&detail);
    if work.check_cursor {
        if waited {
            // Whoever launched it may be storing the URL too (`provision` waits as we do): let the
            // notebook come up, then look at the parameter.
            notebook::wait_in_service(ctx, &user, vend::NOT_FOUND_GRACE, WhenStopped::Fail, deadline, &task, RESUME)
                .await
                .map_err(|e| fail(&known, e))?;
        }
        let times = scan::parameter_times(ctx, Some(&user)).await.map_err(|e| fail(&known, e))?;
        if let (Some(stored), Some(done)) = (times.get(&user), done) {
            if *stored >= done {
                return Ok(Handled::new(
                    Outcome::AlreadyHandled,
                    work,
                    Some(user),
                    Some("the parameter is newer than the record".into()),
                ));
            }
        }
    }
    let provision = detail.record_type() == Some("PROVISION_PRODUCT") && !work.restarted;
    store(ctx, args, work, user, provision, deadline).await.map_err(|(user, e)| fail(&Some(user), e))
}

/// Store the user's URL; a notebook provisioned elsewhere (console, CLI) also gets the deployment's
/// default schedule here, as `provision` gives it to its own.
async fn store(
    ctx: &Context,
    args: &WatchArgs,
    work: &Work,
    user: String,
    provision: bool,
    deadline: Deadline,
) -> Result<Handled, (String, anyhow::Error)> {
    let task = ctx.progress.silent();
    let req = Request {
        user: &user,
        store: &args.store,
        grace: vend::NOT_FOUND_GRACE,
        when_stopped: WhenStopped::Fail,
        resume: RESUME.into(),
        show_url: false,
        stack: None,
    };
    let delivery = match vend::deliver(ctx, &req, deadline, &task).await {
        Ok(d) => d,
        Err(e) => return Err((user, e)),
    };
    if provision {
        crate::cmd::schedule::give_new_notebook_the_default(ctx, &user).await;
    }
    let why = work.restarted.then(|| "the notebook started again after its URL was stored".to_owned());
    let mut h = Handled::new(Outcome::Stored, work, Some(user), why);
    h.notebook = Some(delivery.notebook);
    h.parameter = Some(delivery.stored.parameter);
    h.session_expires = Some(delivery.stored.session_expires);
    Ok(h)
}
