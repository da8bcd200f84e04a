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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_servicecatalog::types::RecordDetail;
use aws_smithy_types::DateTime;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::catalog::{self, Product};
use crate::cli::{OutputFormat, WatchArgs};
use crate::context::Context;
use crate::error::{usage, AwsResultExt, Failure};
use crate::naming;
use crate::notebook::{self, WhenStopped};
use crate::poll::Deadline;
use crate::urls;
use crate::vend::{self, Request};

/// After a signal, in-flight provisions get this long to finish before they are abandoned (the
/// next run picks them up: nothing was written for them).
const DRAIN: Duration = Duration::from_secs(10);
/// CloudTrail delivers events to LookupEvents minutes late: each poll looks back this far
/// (events already seen are skipped by id).
const TRAIL_OVERLAP: Duration = Duration::from_secs(20 * 60);
/// First CloudTrail poll: provisions of the last day.
const TRAIL_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Outcome {
    Stored,
    Failed,
    AlreadyHandled,
    Ignored,
}

/// One line of output per handled provision.
#[derive(Debug, Serialize)]
struct Handled {
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
fn emit(format: OutputFormat, h: &Handled) {
    use std::io::Write;
    let line = match format {
        OutputFormat::Text => h.to_string(),
        OutputFormat::Json => serde_json::to_string(h).unwrap_or_default(),
    };
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

pub async fn run(args: &WatchArgs, ctx: &Context) -> Result<()> {
    if let Some(source) = &args.event {
        return run_event(args, ctx, source).await;
    }
    let product = catalog::resolve_product(ctx).await?;
    let mut cache = RecordCache::default();
    let mut trail = args.cloudtrail.then(Trail::new);
    let concurrency = args.concurrency as usize;

    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    let mut queue: VecDeque<Work> = VecDeque::new();
    let mut running = FuturesUnordered::new();
    let mut in_flight: HashSet<String> = HashSet::new();
    // Records not to pick up again yet: None = never (FAILED), Some(t) = not before t.
    let mut suppressed: HashMap<String, Option<Instant>> = HashMap::new();
    let retry_after = Duration::from_secs(args.interval.saturating_mul(10).max(60));
    let mut next_scan = Some(Instant::now());
    let (mut stored, mut failed) = (0usize, 0usize);
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
                let found = scan_all(ctx, &product, &mut cache, trail.as_mut()).await;
                next_scan = (!args.once).then(|| Instant::now() + Duration::from_secs(args.interval));
                let works = match found {
                    Ok(w) => w,
                    Err(e) if args.once => return Err(e),
                    Err(e) => {
                        ctx.progress.line(format!("watch: scan failed, retrying in {}s: {e:#}", args.interval));
                        continue;
                    }
                };
                let now = Instant::now();
                suppressed.retain(|_, until| until.is_none_or(|t| t > now));
                for work in works {
                    let id = &work.record_id;
                    if in_flight.contains(id) || suppressed.contains_key(id) || queue.iter().any(|q| &q.record_id == id) {
                        continue;
                    }
                    queue.push_back(work);
                }
            }
            Some(h) = running.next(), if !running.is_empty() => {
                in_flight.remove(&h.record_id);
                match h.result {
                    Outcome::Stored => stored += 1,
                    Outcome::Failed => {
                        failed += 1;
                        suppressed.insert(h.record_id.clone(), (!h.permanent).then(|| Instant::now() + retry_after));
                    }
                    Outcome::AlreadyHandled | Outcome::Ignored => {
                        tracing::info!(record = %h.record_id, "{h}");
                        // A terminate record, another product's record: never relevant again.
                        suppressed.insert(h.record_id.clone(), None);
                        continue;
                    }
                }
                emit(ctx.output, &h);
            }
            signal = &mut shutdown => {
                interrupted = Some(signal);
                break;
            }
        }
    }

    if let Some(signal) = interrupted {
        let waiting = running.len();
        if waiting > 0 {
            ctx.progress.line(format!(
                "watch: {signal}: finishing {waiting} provision(s) in flight (up to {}s)",
                DRAIN.as_secs()
            ));
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
        return Ok(());
    }
    ctx.progress.line(format!("watch: {stored} stored, {failed} failed"));
    if failed > 0 {
        bail!("{failed} provision(s) could not be handled (listed above); the others were stored");
    }
    Ok(())
}

/// Everything to look at now: CloudTrail events first (they carry the user given at launch), then
/// the scan of provisioned products; duplicates by record id are dropped.
async fn scan_all(
    ctx: &Context,
    product: &Product,
    cache: &mut RecordCache,
    trail: Option<&mut Trail>,
) -> Result<Vec<Work>> {
    let mut works = Vec::new();
    if let Some(trail) = trail {
        match trail.poll(ctx, product).await {
            Ok(w) => works.extend(w),
            // The scan below still finds everything: CloudTrail only speeds things up.
            Err(e) => ctx.progress.line(format!("watch: CloudTrail lookup failed (the scan goes on): {e:#}")),
        }
    }
    for w in scan(ctx, product, cache).await? {
        if !works.iter().any(|x: &Work| x.record_id == w.record_id) {
            works.push(w);
        }
    }
    Ok(works)
}

/// Completed records (immutable) by id.
#[derive(Default)]
struct RecordCache {
    records: HashMap<String, (RecordDetail, BTreeMap<String, String>)>,
}

impl RecordCache {
    async fn get(&mut self, ctx: &Context, ids: &[String]) -> Result<()> {
        let missing: Vec<&String> = ids.iter().filter(|id| !self.records.contains_key(*id)).collect();
        let found: Vec<Result<(RecordDetail, BTreeMap<String, String>)>> = futures::stream::iter(missing)
            .map(|id| catalog::describe_record(ctx, id))
            .buffer_unordered(8)
            .collect()
            .await;
        for r in found {
            let (detail, outputs) = r?;
            let done = matches!(detail.status().map(|s| s.as_str()), Some("SUCCEEDED" | "FAILED"));
            if let (true, Some(id)) = (done, detail.record_id()) {
                self.records.insert(id.to_owned(), (detail.clone(), outputs));
            }
        }
        Ok(())
    }
}

/// A provisioned product of this product, as SearchProvisionedProducts lists it.
struct Pp {
    name: String,
    status: String,
    last_record: Option<String>,
    last_success: Option<String>,
    owner: Option<String>,
}

async fn search(ctx: &Context, product: &Product) -> Result<Vec<Pp>> {
    Ok(catalog::search_provisioned(ctx, product, catalog::Scope::Account)
        .await?
        .iter()
        .map(|p| Pp {
            name: p.name().unwrap_or_default().to_owned(),
            status: p.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            last_record: p.last_record_id().map(str::to_owned),
            last_success: p.last_successful_provisioning_record_id().map(str::to_owned),
            owner: p.tags().iter().find(|t| t.key() == "Owner").map(|t| t.value().to_owned()),
        })
        .collect())
}

/// When each user's URL parameter was last written (full precision), by user; `only` narrows
/// the lookup to one user.
async fn parameter_times(ctx: &Context, only: Option<&str>) -> Result<HashMap<String, DateTime>> {
    Ok(urls::describe(ctx, only)
        .await?
        .into_iter()
        .filter_map(|(user, p)| Some((user, *p.last_modified_date()?)))
        .collect())
}

fn completed_at(detail: &RecordDetail) -> Option<DateTime> {
    detail.updated_time().or(detail.created_time()).copied()
}

fn user_from(outputs: &BTreeMap<String, String>, hint: Option<&str>, provisioned_product: &str) -> Option<String> {
    outputs
        .get("NotebookUserName")
        .map(String::as_str)
        .or(hint)
        .filter(|u| naming::validate_user(u).is_ok())
        .or_else(|| naming::user_of_notebook(provisioned_product))
        .map(str::to_owned)
}

/// Provisioned products whose latest record needs work: in progress (await it), failed (report
/// it), or succeeded after the user's parameter was last written (store a URL).
async fn scan(ctx: &Context, product: &Product, cache: &mut RecordCache) -> Result<Vec<Work>> {
    let (pps, times) = tokio::try_join!(search(ctx, product), parameter_times(ctx, None))?;
    let mut works = Vec::new();
    let mut settled = Vec::new();
    for pp in pps {
        let work = |record_id: String| Work {
            record_id,
            provisioned_product: pp.name.clone(),
            user_hint: pp.owner.clone(),
            known: None,
            check_cursor: true,
        };
        match (pp.status.as_str(), &pp.last_record, &pp.last_success) {
            // Being provisioned, updated or terminated: the handler awaits (or ignores) the record.
            ("UNDER_CHANGE" | "PLAN_IN_PROGRESS", Some(r), _) => works.push(work(r.clone())),
            // The latest record failed: reported.
            ("ERROR" | "TAINTED", Some(r), _) => works.push(work(r.clone())),
            (_, _, Some(r)) => settled.push((r.clone(), pp)),
            (_, Some(r), None) => settled.push((r.clone(), pp)),
            _ => tracing::debug!(provisioned_product = %pp.name, "no record yet"),
        }
    }
    let ids: Vec<String> = settled.iter().map(|(r, _)| r.clone()).collect();
    cache.get(ctx, &ids).await?;
    for (record_id, pp) in settled {
        let Some((detail, outputs)) = cache.records.get(&record_id) else { continue };
        let user = user_from(outputs, pp.owner.as_deref(), &pp.name);
        let handled = match (&user, completed_at(detail)) {
            (Some(u), Some(done)) => times.get(u).is_some_and(|stored| *stored >= done),
            _ => false,
        };
        if !handled {
            works.push(Work {
                record_id,
                provisioned_product: pp.name,
                user_hint: pp.owner,
                known: Some((detail.clone(), outputs.clone())),
                check_cursor: false,
            });
        }
    }
    Ok(works)
}

/// Await the record if needed, then store the user's URL; never fails: the outcome says.
async fn handle(ctx: &Context, args: &WatchArgs, product: &Product, work: Work) -> Handled {
    let mut user = None;
    match handle_inner(ctx, args, product, &work, &mut user).await {
        Ok(h) => h,
        Err(e) => Handled::new(Outcome::Failed, &work, user, Some(format!("{e:#}"))),
    }
}

async fn handle_inner(
    ctx: &Context,
    args: &WatchArgs,
    product: &Product,
    work: &Work,
    user_out: &mut Option<String>,
) -> Result<Handled> {
    let deadline = Deadline::secs(args.timeout);
    let task = ctx.progress.silent();
    let (mut detail, mut outputs) = match &work.known {
        Some(k) => k.clone(),
        None => catalog::describe_record(ctx, &work.record_id).await?,
    };
    *user_out = user_from(&outputs, work.user_hint.as_deref(), &work.provisioned_product);
    if detail.product_id().is_some_and(|p| p != product.id) {
        return Ok(Handled::new(Outcome::Ignored, work, user_out.clone(), Some("a record of another product".into())));
    }
    if detail.record_type() == Some("TERMINATE_PROVISIONED_PRODUCT") {
        return Ok(Handled::new(Outcome::Ignored, work, user_out.clone(), Some("a terminate record".into())));
    }
    let mut waited = false;
    match detail.status().map(|s| s.as_str()).unwrap_or_default() {
        "SUCCEEDED" => {}
        "FAILED" => {
            let mut h = Handled::new(
                Outcome::Failed,
                work,
                user_out.clone(),
                Some(format!("record FAILED: {}", catalog::record_errors(&detail))),
            );
            h.permanent = true;
            return Ok(h);
        }
        _ => {
            catalog::wait_record(ctx, &work.record_id, deadline, &task, RESUME).await.map_err(|e| {
                // The record failed while we waited: as permanent as a FAILED one found by a scan.
                e.context("waiting for the record")
            })?;
            (detail, outputs) = catalog::describe_record(ctx, &work.record_id).await?;
            waited = true;
        }
    }
    let user = user_from(&outputs, work.user_hint.as_deref(), &work.provisioned_product).ok_or_else(|| {
        anyhow!("cannot tell whose notebook this is: the record has no NotebookUserName output and the provisioned product no Owner tag")
    })?;
    *user_out = Some(user.clone());
    let done = completed_at(&detail);
    if work.check_cursor {
        if waited {
            // Whoever launched it may be storing the URL too (`provision` waits as we do): let the
            // notebook come up, then look at the parameter.
            notebook::wait_in_service(ctx, &user, vend::NOT_FOUND_GRACE, WhenStopped::Fail, deadline, &task, RESUME)
                .await?;
        }
        let times = parameter_times(ctx, Some(&user)).await?;
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
    let req = Request {
        user: &user,
        store: &args.store,
        grace: vend::NOT_FOUND_GRACE,
        when_stopped: WhenStopped::Fail,
        resume: RESUME.into(),
        show_url: false,
    };
    let delivery = vend::deliver(ctx, &req, deadline, &task).await?;
    let mut h = Handled::new(Outcome::Stored, work, Some(user), None);
    h.notebook = Some(delivery.notebook);
    h.parameter = Some(delivery.stored.parameter);
    h.session_expires = Some(delivery.stored.session_expires);
    Ok(h)
}

// ------------------------------------------------------------------------------------------------
// CloudTrail

struct Trail {
    since: std::time::SystemTime,
    seen: HashMap<String, std::time::SystemTime>,
}

impl Trail {
    fn new() -> Self {
        Trail { since: std::time::SystemTime::now() - TRAIL_LOOKBACK, seen: HashMap::new() }
    }

    /// New ProvisionProduct events of this product since the last poll.
    async fn poll(&mut self, ctx: &Context, product: &Product) -> Result<Vec<Work>> {
        let started = std::time::SystemTime::now();
        let mut works = Vec::new();
        let mut token: Option<String> = None;
        // LookupEvents allows 2 calls per second per account: a bounded number of pages.
        for _ in 0..20 {
            let out = ctx
                .cloudtrail
                .lookup_events()
                .lookup_attributes(
                    LookupAttribute::builder()
                        .attribute_key(LookupAttributeKey::EventName)
                        .attribute_value("ProvisionProduct")
                        .build()?,
                )
                .start_time(DateTime::from(self.since))
                .max_results(50)
                .set_next_token(token.clone())
                .send()
                .await
                .aws(|| "looking up ProvisionProduct events in CloudTrail")?;
            for ev in out.events() {
                let Some(id) = ev.event_id() else { continue };
                if self.seen.contains_key(id) {
                    continue;
                }
                self.seen.insert(id.to_owned(), started);
                let Some(raw) = ev.cloud_trail_event() else { continue };
                let parsed =
                    serde_json::from_str::<Value>(raw).map_err(|e| e.to_string()).and_then(|d| parse_detail(&d));
                match parsed {
                    Ok(Parsed::Call(call)) if call.is_for(product) && call.error.is_none() => {
                        let Some(record_id) = call.record_id else { continue };
                        works.push(Work {
                            record_id,
                            provisioned_product: call.provisioned_product.unwrap_or_default(),
                            user_hint: call.user.ok(),
                            known: None,
                            check_cursor: true,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(event = id, "unreadable CloudTrail event: {e}"),
                }
            }
            token = out.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        self.since = started - TRAIL_OVERLAP;
        let horizon = self.since;
        self.seen.retain(|_, at| *at >= horizon - TRAIL_OVERLAP);
        Ok(works)
    }
}

// ------------------------------------------------------------------------------------------------
// --event

/// A CloudTrail ProvisionProduct call, read by key.
#[derive(Debug)]
struct ProvisionCall {
    product_id: Option<String>,
    product_name: Option<String>,
    /// `NotebookUserName` from the provisioning parameters, or why there is none.
    user: std::result::Result<String, String>,
    record_id: Option<String>,
    provisioned_product: Option<String>,
    /// `errorCode: errorMessage` when the API call itself failed.
    error: Option<String>,
}

impl ProvisionCall {
    fn is_for(&self, product: &Product) -> bool {
        match (&self.product_id, &self.product_name) {
            (Some(id), _) => *id == product.id,
            (None, Some(name)) => *name == product.name,
            (None, None) => false,
        }
    }
}

#[derive(Debug)]
enum Parsed {
    Call(ProvisionCall),
    /// A well-formed event that is not a ProvisionProduct call: why.
    Ignore(String),
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An EventBridge event as the blog's rule delivers it; `Err` names what is malformed.
fn parse_event(ev: &Value) -> std::result::Result<Parsed, String> {
    if !ev.is_object() {
        return Err("the event is not a JSON object".into());
    }
    let detail_type = str_at(ev, "detail-type").ok_or("no \"detail-type\" string")?;
    if detail_type != "AWS API Call via CloudTrail" {
        return Ok(Parsed::Ignore(format!("detail-type {detail_type:?} is not \"AWS API Call via CloudTrail\"")));
    }
    let source = str_at(ev, "source").ok_or("no \"source\" string")?;
    if source != "aws.servicecatalog" {
        return Ok(Parsed::Ignore(format!("source {source:?} is not \"aws.servicecatalog\"")));
    }
    parse_detail(ev.get("detail").ok_or("no \"detail\" object")?)
}

/// A CloudTrail record (an EventBridge event's `detail`, or LookupEvents' `CloudTrailEvent`).
fn parse_detail(d: &Value) -> std::result::Result<Parsed, String> {
    if !d.is_object() {
        return Err("\"detail\" is not an object".into());
    }
    if let Some(source) = str_at(d, "eventSource").filter(|s| *s != "servicecatalog.amazonaws.com") {
        return Ok(Parsed::Ignore(format!("detail.eventSource {source:?} is not servicecatalog.amazonaws.com")));
    }
    let name = str_at(d, "eventName").ok_or("no detail.eventName string")?;
    if name != "ProvisionProduct" {
        return Ok(Parsed::Ignore(format!("event {name} is not a ProvisionProduct call")));
    }
    let req = d.get("requestParameters").filter(|r| r.is_object()).ok_or("no detail.requestParameters object")?;
    let product_id = str_at(req, "productId").map(str::to_owned);
    let product_name = str_at(req, "productName").map(str::to_owned);
    if product_id.is_none() && product_name.is_none() {
        return Err("detail.requestParameters has neither productId nor productName".into());
    }
    let error = str_at(d, "errorCode").map(|c| format!("{c}: {}", str_at(d, "errorMessage").unwrap_or("no message")));
    let user = match req.get("provisioningParameters") {
        None | Some(Value::Null) => Err("detail.requestParameters has no provisioningParameters".to_owned()),
        Some(Value::Array(items)) => {
            let mut user =
                Err("detail.requestParameters.provisioningParameters has no NotebookUserName key".to_owned());
            for (i, item) in items.iter().enumerate() {
                let key = str_at(item, "key").ok_or_else(|| {
                    format!(
                        "detail.requestParameters.provisioningParameters[{i}] is not a {{\"key\", \"value\"}} object"
                    )
                })?;
                if key == "NotebookUserName" {
                    user = match str_at(item, "value") {
                        Some(v) => naming::validate_user(v).map(|()| v.to_owned()),
                        None => Err(format!("detail.requestParameters.provisioningParameters[{i}] (NotebookUserName) has no string value")),
                    };
                }
            }
            user
        }
        Some(_) => return Err("detail.requestParameters.provisioningParameters is not a list".into()),
    };
    let record_id = d
        .get("responseElements")
        .and_then(|r| r.get("recordDetail"))
        .and_then(|r| str_at(r, "recordId"))
        .map(str::to_owned);
    if record_id.is_none() && error.is_none() {
        return Err("no detail.responseElements.recordDetail.recordId (and no errorCode)".into());
    }
    Ok(Parsed::Call(ProvisionCall {
        product_id,
        product_name,
        user,
        record_id,
        provisioned_product: str_at(req, "provisionedProductName").map(str::to_owned),
        error,
    }))
}

async fn run_event(args: &WatchArgs, ctx: &Context, source: &str) -> Result<()> {
    let text = if source == "-" {
        let mut s = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut s)
            .await
            .map_err(|e| usage(format!("cannot read the event from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(source).map_err(|e| usage(format!("cannot read event file {source}: {e}")))?
    };
    let what = if source == "-" { "the event on stdin".to_owned() } else { format!("event {source}") };
    let value: Value = serde_json::from_str(&text).map_err(|e| usage(format!("{what} is not JSON: {e}")))?;
    let call = match parse_event(&value).map_err(|e| usage(format!("malformed {what}: {e}")))? {
        Parsed::Call(call) => call,
        Parsed::Ignore(why) => {
            ctx.progress.line(format!("watch: ignored {what}: {why}"));
            return Ok(());
        }
    };
    let product = catalog::resolve_product(ctx).await?;
    if !call.is_for(&product) {
        let other = call.product_id.as_deref().or(call.product_name.as_deref()).unwrap_or("?");
        ctx.progress.line(format!(
            "watch: ignored {what}: a provision of product {other}, not {} ({})",
            product.name, product.id
        ));
        return Ok(());
    }
    let work = Work {
        record_id: call.record_id.clone().unwrap_or_default(),
        provisioned_product: call.provisioned_product.clone().unwrap_or_default(),
        user_hint: call.user.as_ref().ok().cloned(),
        known: None,
        check_cursor: true,
    };
    if let Some(error) = &call.error {
        let h = Handled::new(
            Outcome::Failed,
            &work,
            work.user_hint.clone(),
            Some(format!("the ProvisionProduct call failed: {error}")),
        );
        emit(ctx.output, &h);
        bail!("the ProvisionProduct call in {what} failed: {error}");
    }
    let user = call.user.map_err(|e| usage(format!("malformed {what}: {e}")))?;
    tracing::info!(user, record = %work.record_id, "handling {what}");

    let h = tokio::select! {
        h = handle(ctx, args, &product, work) => h,
        signal = crate::shutdown_signal() => {
            return Err(Failure::Interrupted(format!("interrupted by {signal}: nothing was stored; run the same command again")).into());
        }
    };
    match h.result {
        Outcome::Ignored => ctx.progress.line(format!("watch: ignored {what}: {}", h.reason.as_deref().unwrap_or(""))),
        _ => emit(ctx.output, &h),
    }
    if h.result == Outcome::Failed {
        return Err(anyhow!("{}", h.reason.unwrap_or_default()))
            .with_context(|| format!("record {} of user {user}", h.record_id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail", "source": "aws.servicecatalog",
               "account": "123456789012", "region": "us-east-1", "resources": [], "detail": detail})
    }

    fn provision(params: Value) -> Value {
        json!({"eventSource": "servicecatalog.amazonaws.com", "eventName": "ProvisionProduct",
               "requestParameters": {"productId": "prod-1", "provisionedProductName": "bob-Notebook", "provisioningParameters": params},
               "responseElements": {"recordDetail": {"recordId": "rec-1"}}})
    }

    #[test]
    fn reads_the_user_by_key_not_position() {
        let params = json!([{"key": "NotebookInstanceType", "value": "ml.t3.medium"},
                            {"key": "S3IAMConfigStackName", "value": "s3-iam-config"},
                            {"key": "NotebookUserName", "value": "bob"}]);
        let Parsed::Call(c) = parse_event(&event(provision(params))).unwrap() else { panic!("not a call") };
        assert_eq!(c.user, Ok("bob".into()));
        assert_eq!(c.record_id.as_deref(), Some("rec-1"));
        assert_eq!(c.product_id.as_deref(), Some("prod-1"));
    }

    #[test]
    fn ignores_other_events() {
        let mut d = provision(json!([]));
        d["eventName"] = json!("TerminateProvisionedProduct");
        assert!(
            matches!(parse_event(&event(d)).unwrap(), Parsed::Ignore(m) if m.contains("TerminateProvisionedProduct"))
        );
        let mut ev = event(provision(json!([])));
        ev["detail-type"] = json!("SageMaker Notebook Instance State Change");
        assert!(matches!(parse_event(&ev).unwrap(), Parsed::Ignore(_)));
    }

    #[test]
    fn names_what_is_malformed() {
        assert!(parse_event(&json!([])).unwrap_err().contains("not a JSON object"));
        let mut ev = event(provision(json!([])));
        ev.as_object_mut().unwrap().remove("detail");
        assert!(parse_event(&ev).unwrap_err().contains("detail"));
        assert!(parse_event(&event(provision(json!({"a": 1})))).unwrap_err().contains("not a list"));
        assert!(parse_event(&event(provision(json!(["x"])))).unwrap_err().contains("provisioningParameters[0]"));
        let mut d = provision(json!([]));
        d["responseElements"] = Value::Null;
        assert!(parse_event(&event(d)).unwrap_err().contains("recordId"));
        // No NotebookUserName, or an invalid one: reported once the product is known to be ours.
        let Parsed::Call(c) = parse_event(&event(provision(json!([])))).unwrap() else { panic!() };
        assert!(c.user.unwrap_err().contains("NotebookUserName"));
        let Parsed::Call(c) =
            parse_event(&event(provision(json!([{"key": "NotebookUserName", "value": "../x"}])))).unwrap()
        else {
            panic!()
        };
        assert!(c.user.is_err());
    }

    #[test]
    fn a_failed_call_has_no_record() {
        let mut d = provision(json!([{"key": "NotebookUserName", "value": "bob"}]));
        d["responseElements"] = Value::Null;
        d["errorCode"] = json!("InvalidParametersException");
        d["errorMessage"] = json!("bad");
        let Parsed::Call(c) = parse_event(&event(d)).unwrap() else { panic!() };
        assert_eq!(c.error.as_deref(), Some("InvalidParametersException: bad"));
    }
}
