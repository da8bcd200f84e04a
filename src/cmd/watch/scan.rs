//! The scan: provisioned products of this product whose latest record needs work, the cursor read
//! from SSM, and the cache of completed (immutable) records.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use aws_sdk_servicecatalog::types::{ProvisionedProductStatus as Status, RecordDetail, RecordStatus};
use aws_smithy_types::DateTime;

use super::{trail::Trail, Work};
use crate::aws::catalog::{self, Product};
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::urls;
use crate::cmd::shared::fanout;
use crate::names::user;

/// Everything to look at now: CloudTrail events first (they carry the user given at launch), then
/// the scan of provisioned products; duplicates by record id are dropped.
pub(super) async fn scan_all(
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
pub(super) struct RecordCache {
    records: HashMap<String, (RecordDetail, BTreeMap<String, String>)>,
    /// The `NotebookUserName` parameter of each provisioned product's stack, by provisioned
    /// product id (found values only: a stack not created yet is asked again next scan).
    users: HashMap<String, String>,
}

impl RecordCache {
    async fn get(&mut self, ctx: &Context, ids: &[String]) -> Result<()> {
        let missing: Vec<&String> = ids.iter().filter(|id| !self.records.contains_key(*id)).collect();
        let found: Vec<Result<(RecordDetail, BTreeMap<String, String>)>> =
            fanout::bounded(missing, 8, |id| catalog::describe_record(ctx, id)).await;
        for r in found {
            let (detail, outputs) = r?;
            let done = matches!(detail.status(), Some(RecordStatus::Succeeded | RecordStatus::Failed));
            if let (true, Some(id)) = (done, detail.record_id()) {
                self.records.insert(id.to_owned(), (detail.clone(), outputs));
            }
        }
        Ok(())
    }
}

/// A provisioned product of this product, as SearchProvisionedProducts lists it.
struct Pp {
    id: String,
    physical_id: Option<String>,
    name: String,
    status: Status,
    last_record: Option<String>,
    last_success: Option<String>,
    owner: Option<String>,
}

/// The provisioned products, each with its user hint: its stack's `NotebookUserName` parameter
/// (cached), else its Owner tag (a README launch tags `Owner=awsjoe` for user joe).
async fn search(ctx: &Context, product: &Product, cache: &mut RecordCache) -> Result<Vec<Pp>> {
    let mut pps: Vec<Pp> = catalog::search_provisioned(ctx, product, catalog::Scope::Account)
        .await?
        .iter()
        .map(|p| Pp {
            id: p.id().unwrap_or_default().to_owned(),
            physical_id: p.physical_id().filter(|s| s.starts_with("arn:")).map(str::to_owned),
            name: p.name().unwrap_or_default().to_owned(),
            status: p.status().cloned().unwrap_or_else(|| Status::from("")),
            last_record: p.last_record_id().map(str::to_owned),
            last_success: p.last_successful_provisioning_record_id().map(str::to_owned),
            owner: p.tags().iter().find(|t| t.key() == "Owner").map(|t| t.value().to_owned()),
        })
        .collect();
    let missing: Vec<(String, String)> = pps
        .iter()
        .filter(|p| !cache.users.contains_key(&p.id))
        .filter_map(|p| Some((p.id.clone(), p.physical_id.clone()?)))
        .collect();
    let found: Vec<(String, Option<String>)> =
        fanout::bounded(missing, 8, |(id, stack)| async move { (id, catalog::stack_user(ctx, &stack).await) }).await;
    cache.users.extend(found.into_iter().filter_map(|(id, u)| Some((id, u?))));
    for pp in &mut pps {
        if let Some(user) = cache.users.get(&pp.id) {
            pp.owner = Some(user.clone());
        }
    }
    Ok(pps)
}

/// When each user's URL parameter was last written (full precision), by user; `only` narrows
/// the lookup to one user.
pub(super) async fn parameter_times(ctx: &Context, only: Option<&str>) -> Result<HashMap<String, DateTime>> {
    Ok(urls::describe(ctx, only)
        .await?
        .into_iter()
        .filter_map(|(user, p)| Some((user, *p.last_modified_date()?)))
        .collect())
}

pub(super) fn completed_at(detail: &RecordDetail) -> Option<DateTime> {
    detail.updated_time().or(detail.created_time()).copied()
}

pub(super) fn user_from(
    outputs: &BTreeMap<String, String>,
    hint: Option<&str>,
    provisioned_product: &str,
) -> Option<String> {
    outputs
        .get("NotebookUserName")
        .map(String::as_str)
        .or(hint)
        .filter(|u| user::validate_user(u).is_ok())
        .or_else(|| user::user_of_notebook(provisioned_product))
        .map(str::to_owned)
}

/// Provisioned products whose latest record needs work: in progress (await it), failed (report
/// it), or succeeded after the user's parameter was last written (store a URL); and notebooks that
/// came back InService after their URL was stored (a scheduled start, the console's Start: no
/// record tells of those).
async fn scan(ctx: &Context, product: &Product, cache: &mut RecordCache) -> Result<Vec<Work>> {
    let (pps, times, notebooks) =
        tokio::try_join!(search(ctx, product, cache), parameter_times(ctx, None), notebook::list_by_name(ctx))?;
    let mut works = Vec::new();
    let mut settled = Vec::new();
    for pp in pps {
        let work = |record_id: String| Work {
            record_id,
            provisioned_product: pp.name.clone(),
            user_hint: pp.owner.clone(),
            known: None,
            check_cursor: true,
            restarted: false,
        };
        match (&pp.status, &pp.last_record, &pp.last_success) {
            // Being provisioned, updated or terminated: the handler awaits (or ignores) the record.
            (Status::UnderChange | Status::PlanInProgress, Some(r), _) => works.push(work(r.clone())),
            // The latest record failed: reported.
            (Status::Error, Some(r), _) => works.push(work(r.clone())),
            // TAINTED: an update failed and was rolled back, a "stable state, ready to perform any
            // operation" (botocore ProvisionedProductStatus). The notebook the last successful
            // provisioning built is still there: not a failed provision; it is settled below.
            (Status::Available | Status::Tainted, _, Some(r)) => settled.push((r.clone(), pp)),
            (Status::Available | Status::Tainted, Some(r), None) => settled.push((r.clone(), pp)),
            // A state newer than this SDK (the enum is #[non_exhaustive]): as before, by its records.
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
        let restarted = handled && user.as_deref().is_some_and(|u| restarted_since_stored(&notebooks, &times, u));
        if !handled || restarted {
            works.push(Work {
                record_id,
                provisioned_product: pp.name,
                user_hint: pp.owner,
                known: Some((detail.clone(), outputs.clone())),
                check_cursor: false,
                restarted,
            });
        }
    }
    Ok(works)
}

/// The user's notebook is InService and entered that state after the URL was last stored (to the
/// second: LastModifiedTime is when the notebook entered its current state, which the sandbox plays
/// as moving on every transition; AWS does not document that a start moves it, and where it does
/// not, the restart goes unseen here and the InService event or `refresh` renews the URL).
fn restarted_since_stored(
    notebooks: &BTreeMap<String, notebook::Notebook>,
    times: &HashMap<String, DateTime>,
    user: &str,
) -> bool {
    let Some(nb) = notebooks.get(&user::notebook_name(user)) else { return false };
    let (Some(stored), Some(entered)) = (times.get(user), nb.last_modified_epoch) else { return false };
    nb.state() == aws_sdk_sagemaker::types::NotebookInstanceStatus::InService && entered > stored.secs()
}
