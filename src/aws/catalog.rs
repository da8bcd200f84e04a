//! Service Catalog: find the product, its launch path and artifact; provision, follow records,
//! find the provisioned products of this product whoever launched them, terminate.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use aws_sdk_servicecatalog::types::{
    AccessLevelFilter, AccessLevelFilterKey, ProductViewFilterBy, ProvisionedProductAttribute,
    ProvisionedProductViewFilterBy, ProvisioningParameter, RecordDetail, Tag,
};
use aws_smithy_types::DateTime;
use futures::StreamExt;
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::poll::Deadline;
use crate::aws::urls;
use crate::error::{has_code, is_transient, AwsResultExt};
use crate::names::user;
use crate::progress::Task;

/// What ProvisionProduct needs, resolved from the product name.
#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub path_id: String,
    pub artifact_id: String,
    pub artifact_name: String,
}

/// Find the product by exact name, its launch path and its newest active provisioning artifact.
pub async fn resolve_product(ctx: &Context) -> Result<Product> {
    let name = &ctx.names.product_name;
    let out = ctx
        .catalog
        .search_products()
        .filters(ProductViewFilterBy::FullTextSearch, vec![name.clone()])
        .page_size(100)
        .send()
        .await
        .aws(|| format!("searching Service Catalog for product {name:?}"))?;
    let id = out
        .product_view_summaries()
        .iter()
        .find(|p| p.name() == Some(name.as_str()))
        .and_then(|p| p.product_id())
        .ok_or_else(|| anyhow!("product {name:?} is not visible to this caller; run `notebook-vend bootstrap` (or --principal for this identity)"))?
        .to_owned();

    // DescribeProduct is the end-user call (AWSServiceCatalogEndUserFullAccess grants it, not
    // ListProvisioningArtifacts): its answer holds the caller's launch paths and the product's
    // active provisioning artifacts (botocore servicecatalog DescribeProductOutput).
    let described = describe_product_settled(ctx, &id).await?;
    let path_id = described
        .launch_paths()
        .iter()
        .find_map(|p| p.id())
        .ok_or_else(|| {
            anyhow!("product {name:?} ({id}) has no launch path for this caller; is it in a portfolio shared with you?")
        })?
        .to_owned();
    let newest = described
        .provisioning_artifacts()
        .iter()
        .filter(|a| a.guidance().is_none_or(|g| g.as_str() != "DEPRECATED"))
        .max_by_key(|a| a.created_time().map(|t| (t.secs(), t.subsec_nanos())))
        .ok_or_else(|| anyhow!("product {name:?} ({id}) has no active provisioning artifact"))?;
    Ok(Product {
        id,
        name: name.clone(),
        path_id,
        artifact_id: newest.id().unwrap_or_default().to_owned(),
        artifact_name: newest.name().unwrap_or_default().to_owned(),
    })
}

/// Pauses between attempts while Service Catalog catches up (eventual consistency): about 15 s in
/// all, then the answer stands.
pub(crate) const SETTLE_PAUSES_MS: [u64; 6] = [250, 500, 1000, 2000, 4000, 8000];

/// DescribeProduct, retried (bounded) while it answers ResourceNotFound or no launch path: right
/// after bootstrap associates the principal and the product with the portfolio, launch paths can
/// briefly be missing on AWS (Service Catalog is eventually consistent).
async fn describe_product_settled(
    ctx: &Context,
    id: &str,
) -> Result<aws_sdk_servicecatalog::operation::describe_product::DescribeProductOutput> {
    let mut pauses = SETTLE_PAUSES_MS.iter();
    loop {
        let out = ctx
            .catalog
            .describe_product()
            .id(id)
            .send()
            .await
            .aws(|| format!("describing product {id} (its launch paths and versions)"));
        let settled = match &out {
            Ok(o) => !o.launch_paths().is_empty(),
            Err(e) => !has_code(e, &["ResourceNotFoundException"]),
        };
        match pauses.next() {
            Some(ms) if !settled => tokio::time::sleep(std::time::Duration::from_millis(*ms)).await,
            _ => return out,
        }
    }
}

/// A provisioned product of this product, with the user it belongs to when known.
#[derive(Debug, Clone, Serialize)]
pub struct Provisioned {
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_message: Option<String>,
    pub user: Option<String>,
    pub last_record_id: Option<String>,
    /// The last successful provision or update: its record names the product's stack.
    pub last_success_record_id: Option<String>,
    pub created: Option<String>,
    /// The artifact the product is on (DescribeProvisionedProduct / SearchProvisionedProducts).
    pub artifact_id: Option<String>,
    /// Its CloudFormation stack (SearchProvisionedProducts' PhysicalId), when the answer names it.
    #[serde(skip)]
    pub stack: Option<String>,
}

impl Provisioned {
    /// The status as the SDK's enum, for an exhaustive `match`.
    pub fn state(&self) -> aws_sdk_servicecatalog::types::ProvisionedProductStatus {
        aws_sdk_servicecatalog::types::ProvisionedProductStatus::from(self.status.as_str())
    }
}

impl Provisioned {
    fn from_attribute(a: &ProvisionedProductAttribute) -> Self {
        Provisioned {
            id: a.id().unwrap_or_default().to_owned(),
            name: a.name().unwrap_or_default().to_owned(),
            status: a.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            status_message: a.status_message().filter(|m| !m.is_empty()).map(str::to_owned),
            user: None,
            last_record_id: a.last_record_id().map(str::to_owned),
            last_success_record_id: a.last_successful_provisioning_record_id().map(str::to_owned),
            created: a.created_time().map(crate::text::rfc3339),
            artifact_id: a.provisioning_artifact_id().map(str::to_owned),
            stack: a.physical_id().filter(|s| s.starts_with("arn:")).map(str::to_owned),
        }
    }
}

/// Every provisioned product of `product` in the account, whoever launched it (console, CLI,
/// this tool, the blog sample's README), with its user: see [`user_of_attribute`]. The owners the
/// URL parameters already name for their stacks (one DescribeParameters walk, 50 a call) are
/// reused instead of read per stack; without them (no access, an error) every stack is read.
pub async fn list_provisioned(ctx: &Context, product: &Product) -> Result<Vec<Provisioned>> {
    let (attributes, params) =
        tokio::join!(search_provisioned(ctx, product, Scope::Account), urls::describe(ctx, None));
    let known = match params {
        Ok(params) => urls::owners_by_stack(&params),
        Err(e) => {
            tracing::debug!("owners not read from the URL parameters ({e:#}); reading each stack");
            BTreeMap::new()
        }
    };
    Ok(with_users(ctx, &attributes?, &known).await)
}

/// Provisioned products with their users: from `known` (stack ARN -> user) where it names their
/// stack, else read ([`user_of_attribute`]), at most `LOOKUP_CONCURRENCY` at a time.
pub async fn with_users(
    ctx: &Context,
    attributes: &[ProvisionedProductAttribute],
    known: &BTreeMap<String, String>,
) -> Vec<Provisioned> {
    let users: Vec<Option<String>> = futures::stream::iter(attributes.iter().map(|a| async {
        match a.physical_id().and_then(|stack| known.get(stack)) {
            Some(user) => Some(user.clone()),
            None => user_of_attribute(ctx, a).await,
        }
    }))
    .buffered(LOOKUP_CONCURRENCY)
    .collect()
    .await;
    attributes.iter().zip(users).map(|(a, user)| Provisioned { user, ..Provisioned::from_attribute(a) }).collect()
}

/// Provisioned products of `product` in `scope`, each with its user (see `user_of_attribute`).
/// The per-product lookups run at most `LOOKUP_CONCURRENCY` at a time.
async fn provisioned_in(ctx: &Context, product: &Product, scope: Scope) -> Result<Vec<Provisioned>> {
    let attributes = search_provisioned(ctx, product, scope).await?;
    // Boxed: a stream built from a closure over `&attribute` is not Send for every lifetime, which
    // serve's handlers (through vend::require_in_deployment) need.
    type Lookup<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>>;
    let lookups: Vec<Lookup<'_>> =
        attributes.iter().map(|a| Box::pin(user_of_attribute(ctx, a)) as Lookup<'_>).collect();
    let users: Vec<Option<String>> = futures::stream::iter(lookups).buffered(LOOKUP_CONCURRENCY).collect().await;
    Ok(attributes.iter().zip(users).map(|(a, user)| Provisioned { user, ..Provisioned::from_attribute(a) }).collect())
}

/// The tags a provisioned product was launched with (SearchProvisionedProducts: the caller's own
/// first, then the account's), without Owner (provision adds it) and AWS's reserved `aws:` keys.
/// None when neither search finds it.
pub async fn user_tags(ctx: &Context, product: &Product, pp_id: &str) -> Result<Option<Vec<(String, String)>>> {
    for scope in [Scope::Own, Scope::Account] {
        let found = match search_provisioned(ctx, product, scope).await {
            Ok(all) => all.into_iter().find(|a| a.id() == Some(pp_id)),
            Err(e) if scope == Scope::Account => return Err(e),
            Err(_) => None,
        };
        if let Some(a) = found {
            return Ok(Some(
                a.tags()
                    .iter()
                    .filter(|t| t.key() != "Owner" && !t.key().starts_with("aws:"))
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            ));
        }
    }
    Ok(None)
}

/// Concurrent DescribeRecord calls when reading the users of many provisioned products: a bounded
/// fan-out stays under Service Catalog's request rate however many notebooks there are.
pub const LOOKUP_CONCURRENCY: usize = 8;

/// The one value AccessLevelFilter accepts, whatever its key.
const ACCESS_LEVEL_SELF: &str = "self";

/// Whose provisioned products a search sees (SearchProvisionedProducts' AccessLevelFilter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The caller's own (`User`/`self`): what AWS's end-user policy allows
    /// (AWSServiceCatalogEndUserFullAccess: `servicecatalog:userLevel = self`).
    Own,
    /// Everyone's in the account (`Account`/`self`): operators only (account-level access).
    Account,
}

/// SearchProvisionedProducts of this product in `scope`, every page.
pub async fn search_provisioned(
    ctx: &Context,
    product: &Product,
    scope: Scope,
) -> Result<Vec<ProvisionedProductAttribute>> {
    // "The only supported value is `self`" (botocore servicecatalog 2015-12-10, AccessLevelFilter.Value;
    // API reference, AccessLevelFilter), for every key: the key alone picks whose products are seen.
    let key = match scope {
        Scope::Own => AccessLevelFilterKey::User,
        Scope::Account => AccessLevelFilterKey::Account,
    };
    let filter = AccessLevelFilter::builder().key(key).value(ACCESS_LEVEL_SELF).build();
    let pages: Vec<_> = ctx
        .catalog
        .search_provisioned_products()
        .access_level_filter(filter)
        .filters(ProvisionedProductViewFilterBy::SearchQuery, vec![format!("productId:{}", product.id)])
        .page_size(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws(|| format!("searching provisioned products of {}", product.name))?;
    // The query is a full-text search: keep exact matches of the product id only.
    Ok(pages
        .iter()
        .flat_map(|page| page.provisioned_products())
        .filter(|p| p.product_id() == Some(product.id.as_str()))
        .cloned()
        .collect())
}

/// The user a provisioned product belongs to, read by key (never by position): the
/// `NotebookUserName` parameter of its CloudFormation stack (what it was launched with, whatever
/// its name or tags: the blog sample's README launches `demoProduct2` for joe tagged `Owner=awsjoe`,
/// the console launches with no tag), else its last record's `NotebookUserName` output, else a
/// valid `Owner` tag, else the `U-Notebook` naming convention. The Owner tag stands in only for a
/// stack that exists but cannot be read (no cloudformation:DescribeStacks): a launch that failed
/// before any stack has no NotebookUserName to read, and its Owner tag need not name the notebook's
/// user (the README's `Owner=awsjoe` is the launching IAM user, not joe).
pub async fn user_of_attribute(ctx: &Context, a: &ProvisionedProductAttribute) -> Option<String> {
    let stack = a.physical_id().filter(|s| s.starts_with("arn:"));
    let from_stack = match stack {
        Some(stack) => stack_user(ctx, stack).await,
        None => None,
    };
    let owner = a.tags().iter().find(|t| t.key() == "Owner").filter(|_| stack.is_some()).map(|t| t.value().to_owned());
    let record_output = match (&from_stack, a.last_record_id()) {
        (None, Some(record)) => describe_record(ctx, record).await.ok().and_then(|(_, o)| o.get(USER_KEY).cloned()),
        _ => None,
    };
    choose_user(from_stack, record_output, owner, a.name().unwrap_or_default())
}

/// The CloudFormation stack behind a provisioned product: the `CloudformationStackARN` output of
/// its last successful provisioning record (a failed update's record may not name it).
pub async fn stack_of(ctx: &Context, pp: &Provisioned) -> Option<String> {
    let record = pp.last_success_record_id.as_deref().or(pp.last_record_id.as_deref())?;
    let (_, outputs) = describe_record(ctx, record).await.ok()?;
    outputs.get(STACK_OUTPUT).cloned()
}

/// The record output naming the provisioned product's CloudFormation stack.
pub const STACK_OUTPUT: &str = "CloudformationStackARN";

/// The provisioning parameter (and product output) naming the user.
pub const USER_KEY: &str = "NotebookUserName";

/// The `NotebookUserName` parameter of a provisioned product's stack, when it can be read. A caller
/// without `cloudformation:DescribeStacks` on `SC-*` stacks falls back to tags and names; told once.
pub async fn stack_user(ctx: &Context, stack_arn: &str) -> Option<String> {
    let read = crate::aws::poll::again_if_transient(|| crate::aws::stacks::parameter(ctx, stack_arn, USER_KEY)).await;
    match read {
        Ok(user) => user.filter(|u| user::validate_user(u).is_ok()),
        // Only a denial means the permission is missing; any other failure is this stack's alone.
        Err(e) if !crate::error::is_denied(&e) => {
            ctx.progress.line(format!(
                "cannot read the NotebookUserName parameter of stack {stack_arn}; its user is taken from its Owner \
                 tag or name instead: {e:#}"
            ));
            None
        }
        Err(e) => {
            static TOLD: std::sync::Once = std::sync::Once::new();
            TOLD.call_once(|| {
                ctx.progress.line(format!(
                    "cannot read the NotebookUserName parameter of provisioned products' stacks \
                     (needs cloudformation:DescribeStacks on arn:aws:cloudformation:*:*:stack/SC-*); \
                     users are taken from Owner tags and names instead: {e:#}"
                ))
            });
            None
        }
    }
}

/// Precedence of the sources of a provisioned product's user; each must be a valid user name.
pub fn choose_user(
    stack_parameter: Option<String>,
    record_output: Option<String>,
    owner_tag: Option<String>,
    provisioned_product_name: &str,
) -> Option<String> {
    [stack_parameter, record_output, owner_tag]
        .into_iter()
        .flatten()
        .find(|u| user::validate_user(u).is_ok())
        .or_else(|| user::user_of_notebook(provisioned_product_name).map(str::to_owned))
}

/// The user's conventional provisioned product name is taken by another product's (another
/// deployment's, or a product made elsewhere): a typed error, so callers can say "not ours".
#[derive(Debug)]
pub struct OtherProduct(pub String);

impl std::fmt::Display for OtherProduct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OtherProduct {}

/// The user's provisioned product of this product, if any: by its conventional name first (one
/// call), else among the caller's own provisioned products of the product (launched elsewhere,
/// other name), then the account's (an operator, or the serve function's role, which launched
/// nothing itself; an end user is denied that search and gets None).
pub async fn find_for_user(ctx: &Context, product: &Product, user: &str) -> Result<Option<Provisioned>> {
    find_for_user_in(ctx, product, user, Scope::Own).await
}

/// [`find_for_user`] starting at `scope`: `Scope::Account` goes to the account's provisioned
/// products at once (the serverless event handler, an operator by its role).
pub async fn find_for_user_in(
    ctx: &Context,
    product: &Product,
    user: &str,
    scope: Scope,
) -> Result<Option<Provisioned>> {
    let name = user::provisioned_product_name(user);
    match ctx
        .catalog
        .describe_provisioned_product()
        .name(&name)
        .send()
        .await
        .aws(|| format!("describing provisioned product {name}"))
    {
        Ok(out) => {
            if let Some(d) = out.provisioned_product_detail() {
                if d.product_id() != Some(product.id.as_str()) {
                    return Err(OtherProduct(format!(
                        "provisioned product {name} belongs to another product ({}); terminate it or pick another user name",
                        d.product_id().unwrap_or("?")
                    ))
                    .into());
                }
                return Ok(Some(Provisioned {
                    id: d.id().unwrap_or_default().to_owned(),
                    name: d.name().unwrap_or_default().to_owned(),
                    status: d.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    status_message: d.status_message().filter(|m| !m.is_empty()).map(str::to_owned),
                    user: Some(user.to_owned()),
                    last_record_id: d.last_record_id().map(str::to_owned),
                    last_success_record_id: d.last_successful_provisioning_record_id().map(str::to_owned),
                    created: d.created_time().map(crate::text::rfc3339),
                    artifact_id: d.provisioning_artifact_id().map(str::to_owned),
                    // DescribeProvisionedProduct does not name the stack (its record does).
                    stack: None,
                }));
            }
        }
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => {}
        Err(e) => return Err(e),
    }
    // Launched elsewhere under another name (the console asks for one): among the caller's own
    // provisioned products (the search an end user may make), then everyone's. An end user is
    // denied the account-wide search (`servicecatalog:userLevel = self`): for them the product
    // is not there, as it is not theirs.
    let mine = provisioned_in(ctx, product, scope).await?.into_iter().find(|p| p.user.as_deref() == Some(user));
    if mine.is_some() || scope == Scope::Account {
        return Ok(mine);
    }
    match provisioned_in(ctx, product, Scope::Account).await {
        Ok(all) => Ok(all.into_iter().find(|p| p.user.as_deref() == Some(user))),
        Err(e) if crate::error::is_denied(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// ProvisionProduct with parameters by key and a deterministic token. Returns the record id.
pub async fn provision(
    ctx: &Context,
    product: &Product,
    user: &str,
    parameters: &BTreeMap<String, String>,
    tags: &[(String, String)],
) -> Result<RecordDetail> {
    let started = DateTime::from(std::time::SystemTime::now());
    let account = ctx.caller().await?.account.clone();
    let day = crate::text::rfc3339(&started)[..10].to_owned();
    let params: Vec<ProvisioningParameter> = ordered(parameters)
        .into_iter()
        .map(|(k, v)| ProvisioningParameter::builder().key(k).value(v).build())
        .collect();
    let mut all_tags = vec![Tag::builder().key("Owner").value(user).build()?];
    for (k, v) in tags.iter().filter(|(k, _)| k != "Owner") {
        all_tags.push(Tag::builder().key(k).value(v).build()?);
    }
    let name = user::provisioned_product_name(user);
    // Each token is chained to the product the previous one answered: a stale token (its product
    // terminated since) leads to the next, so any number of provision/terminate cycles a day
    // works, and a rerun after a crash walks the same chain to the same record. The bound only
    // stops a chain that never ends (a token that keeps answering the same gone product).
    let mut after = String::new();
    for _ in 0..MAX_TOKEN_CHAIN {
        let token = user::provision_token(&account, &product.id, &product.artifact_id, user, &day, &after);
        let out = ctx
            .catalog
            .provision_product()
            .product_id(&product.id)
            .provisioning_artifact_id(&product.artifact_id)
            .path_id(&product.path_id)
            .provisioned_product_name(&name)
            .provision_token(&token)
            .set_provisioning_parameters(Some(params.clone()))
            .set_tags(Some(all_tags.clone()))
            .send()
            .await
            .aws(|| format!("provisioning {} for user {user}", product.name))?;
        let record = out.record_detail().cloned().ok_or_else(|| anyhow!("ProvisionProduct answered no record"))?;
        // The same token within a day answers the first record. If that record is older than this
        // run and its product is gone (terminated since), the token is stale: take the next one.
        // A record this call created is still CREATED/IN_PROGRESS when ProvisionProduct answers
        // (provisioning takes a stack launch); one already finished is the answer to an earlier
        // call with this token. Its age alone misses a cycle shorter than the clock-skew margin.
        let older = record.created_time().is_some_and(|t| t.secs() + 1 < started.secs());
        let finished = matches!(
            record.status(),
            Some(
                aws_sdk_servicecatalog::types::RecordStatus::Succeeded
                    | aws_sdk_servicecatalog::types::RecordStatus::Failed
            )
        );
        let pp_id = record.provisioned_product_id().unwrap_or_default();
        if (older || finished) && !exists(ctx, pp_id).await? {
            if pp_id.is_empty() || pp_id == after {
                break;
            }
            after = pp_id.to_owned();
            continue;
        }
        return Ok(record);
    }
    bail!("ProvisionProduct kept answering records of terminated products for user {user}")
}

/// The provisioning parameters in the order they are sent: `NotebookInstanceType`, then
/// `NotebookUserName`, then the rest by key. CloudTrail records the list as sent, and the blog
/// sample's EventBridge function (lambda/eventbridge_app/app.py) reads the user as
/// `provisioningParameters[1]`: while it is still deployed it then finds the user of our provisions.
pub fn ordered(parameters: &BTreeMap<String, String>) -> Vec<(&String, &String)> {
    let rank = |k: &str| match k {
        "NotebookInstanceType" => 0,
        USER_KEY => 1,
        _ => 2,
    };
    let mut all: Vec<(&String, &String)> = parameters.iter().collect();
    all.sort_by_key(|(k, _)| rank(k));
    all
}

/// Provision tokens tried in one run before giving up (one per earlier provision/terminate cycle
/// of the user the same UTC day).
const MAX_TOKEN_CHAIN: usize = 1000;

async fn exists(ctx: &Context, pp_id: &str) -> Result<bool> {
    match ctx
        .catalog
        .describe_provisioned_product()
        .id(pp_id)
        .send()
        .await
        .aws(|| format!("describing provisioned product {pp_id}"))
    {
        Ok(_) => Ok(true),
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(false),
        Err(e) => Err(e),
    }
}

/// DescribeRecord: the record and its outputs by key.
pub async fn describe_record(ctx: &Context, record_id: &str) -> Result<(RecordDetail, BTreeMap<String, String>)> {
    let out =
        ctx.catalog.describe_record().id(record_id).send().await.aws(|| format!("describing record {record_id}"))?;
    let detail = out.record_detail().cloned().ok_or_else(|| anyhow!("record {record_id} has no detail"))?;
    let outputs = out
        .record_outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    Ok((detail, outputs))
}

/// The record's errors on one line.
pub fn record_errors(detail: &RecordDetail) -> String {
    let errors: Vec<String> = detail
        .record_errors()
        .iter()
        .map(|e| format!("{}: {}", e.code().unwrap_or("Error"), e.description().unwrap_or("no description")))
        .collect();
    if errors.is_empty() {
        "no error recorded".into()
    } else {
        errors.join("; ")
    }
}

/// How long a record may answer not-found after it was created (eventual consistency).
pub const RECORD_NOT_FOUND_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Poll DescribeRecord until SUCCEEDED (its outputs) or FAILED (an error with the RecordErrors).
pub async fn wait_record(
    ctx: &Context,
    record_id: &str,
    deadline: Deadline,
    task: &Task,
    resume: &str,
) -> Result<BTreeMap<String, String>> {
    let mut poller = deadline.poller(format!("record {record_id}"), resume);
    let mut status = String::from("unknown");
    loop {
        match describe_record(ctx, record_id).await {
            Ok((detail, outputs)) => {
                status = detail.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
                match status.as_str() {
                    "SUCCEEDED" => return Ok(outputs),
                    "FAILED" => bail!(
                        "record {record_id} ({}) FAILED: {}",
                        detail.record_type().unwrap_or("provision"),
                        record_errors(&detail)
                    ),
                    _ => task.set(format!("record {record_id}: {status}")),
                }
            }
            Err(e) if is_transient(&e) => {}
            // Right after ProvisionProduct, DescribeRecord can briefly answer not-found on AWS
            // (eventual consistency): keep polling for a bounded time, then the error stands.
            Err(e) if has_code(&e, &["ResourceNotFoundException"]) && poller.elapsed() < RECORD_NOT_FOUND_GRACE => {
                status = "not found yet".into();
            }
            Err(e) => return Err(e),
        }
        poller.wait(&status).await?;
    }
}

/// The TerminateToken of one termination attempt. AWS: "TerminateToken ... is only valid during
/// the termination process" (botocore servicecatalog TerminateProvisionedProduct.TerminateToken):
/// repeating a token replays that attempt's answer, so after a FAILED termination a new attempt
/// needs a new token. The token is derived from the product and its last record: a call repeated
/// after a dropped connection (same last record) is the same request, while a retry after a
/// failed termination (whose record is now the last one) is a new one. IgnoreErrors makes another
/// request too.
pub fn terminate_token(pp_id: &str, last_record_id: Option<&str>, ignore_errors: bool) -> String {
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for part in [pp_id, last_record_id.unwrap_or(""), if ignore_errors { "ignore-errors" } else { "" }] {
        sha2::Digest::update(&mut h, part.as_bytes());
        sha2::Digest::update(&mut h, [0]);
    }
    format!("nv-terminate-{}", &hex::encode(sha2::Digest::finalize(h))[..40])
}

/// TerminateProvisionedProduct; returns the record id. `ignore_errors` is Service Catalog's
/// IgnoreErrors: the product is removed even when deleting its resources fails (they are left).
pub async fn terminate(ctx: &Context, pp: &Provisioned, ignore_errors: bool) -> Result<String> {
    let token = terminate_token(&pp.id, pp.last_record_id.as_deref(), ignore_errors);
    let out = ctx
        .catalog
        .terminate_provisioned_product()
        .provisioned_product_id(&pp.id)
        .terminate_token(token)
        .set_ignore_errors(ignore_errors.then_some(true))
        .send()
        .await
        .aws(|| format!("terminating provisioned product {} ({})", pp.name, pp.id))?;
    out.record_detail()
        .and_then(|r| r.record_id())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("TerminateProvisionedProduct answered no record"))
}

/// One provisioning artifact of the product.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub id: String,
    pub name: String,
    pub active: bool,
    #[serde(skip)]
    pub created: (i64, u32),
}

/// The product's artifacts, oldest first (ListProvisioningArtifacts).
pub async fn artifacts(ctx: &Context, product: &Product) -> Result<Vec<Artifact>> {
    let out = ctx
        .catalog
        .list_provisioning_artifacts()
        .product_id(&product.id)
        .send()
        .await
        .aws(|| format!("listing provisioning artifacts of product {}", product.id))?;
    let mut found: Vec<Artifact> = out
        .provisioning_artifact_details()
        .iter()
        .map(|a| Artifact {
            id: a.id().unwrap_or_default().to_owned(),
            name: a.name().unwrap_or_default().to_owned(),
            active: a.active() != Some(false),
            created: a.created_time().map(|t| (t.secs(), t.subsec_nanos())).unwrap_or_default(),
        })
        .collect();
    found.sort_by_key(|a| a.created);
    Ok(found)
}

/// The product's versions as its users see them, oldest first: DescribeProduct's
/// `ProvisioningArtifacts` (Id, Name, Description, CreatedTime, Guidance; botocore servicecatalog
/// `ProvisioningArtifact`). DescribeProduct is an end-user call (AWS managed policy
/// AWSServiceCatalogEndUserFullAccess grants it; ListProvisioningArtifacts is an admin call it does
/// not), so `update` uses one mechanism for both roles. It lists the artifacts users may launch
/// (the sandbox plays the worst case: active ones only, so a notebook on a deactivated version
/// shows its artifact ID); one whose `Guidance` is DEPRECATED is not offered as a target, as
/// `resolve_product` never picks it.
pub async fn versions(ctx: &Context, product: &Product) -> Result<Vec<Artifact>> {
    let described = describe_product_settled(ctx, &product.id).await?;
    let mut found: Vec<Artifact> = described
        .provisioning_artifacts()
        .iter()
        .map(|a| Artifact {
            id: a.id().unwrap_or_default().to_owned(),
            name: a.name().unwrap_or_default().to_owned(),
            active: a.guidance().is_none_or(|g| g.as_str() != "DEPRECATED"),
            created: a.created_time().map(|t| (t.secs(), t.subsec_nanos())).unwrap_or_default(),
        })
        .collect();
    found.sort_by_key(|a| a.created);
    Ok(found)
}

/// Make the version named `current` the one new launches use: every other version of the product
/// DEPRECATED, `current` DEFAULT. UpdateProvisioningArtifact `Guidance` (botocore servicecatalog):
/// "Users are able to make updates to a provisioned product of a deprecated version but cannot
/// launch new provisioned products using a deprecated version", so notebooks on an earlier version
/// keep it and can move on. CloudFormation's product resource has no such property; the versions'
/// creation times cannot say which is current either (a template put back reuses its earlier
/// version). Returns the versions whose guidance changes (`dry_run`: would change).
pub async fn set_current_version(ctx: &Context, product_id: &str, current: &str, dry_run: bool) -> Result<Vec<String>> {
    use aws_sdk_servicecatalog::types::ProvisioningArtifactGuidance as Guidance;
    let out = ctx
        .catalog
        .list_provisioning_artifacts()
        .product_id(product_id)
        .send()
        .await
        .aws(|| format!("listing the versions of product {product_id}"))?;
    let mut changed = Vec::new();
    for a in out.provisioning_artifact_details() {
        let (id, name) = (a.id().unwrap_or_default(), a.name().unwrap_or_default());
        let wanted = if name == current { Guidance::Default } else { Guidance::Deprecated };
        if a.guidance().unwrap_or(&Guidance::Default) == &wanted {
            continue;
        }
        changed.push(name.to_owned());
        if dry_run {
            continue;
        }
        ctx.catalog
            .update_provisioning_artifact()
            .product_id(product_id)
            .provisioning_artifact_id(id)
            .guidance(wanted.clone())
            .send()
            .await
            .aws(|| format!("marking version {name} of product {product_id} {}", wanted.as_str()))?;
    }
    Ok(changed)
}

/// The artifact's template URL (DescribeProvisioningArtifact Verbose: `Info.TemplateUrl`).
pub async fn artifact_template_url(ctx: &Context, product: &Product, artifact_id: &str) -> Result<Option<String>> {
    let out = ctx
        .catalog
        .describe_provisioning_artifact()
        .product_id(&product.id)
        .provisioning_artifact_id(artifact_id)
        .verbose(true)
        .send()
        .await
        .aws(|| format!("describing provisioning artifact {artifact_id} of product {}", product.id))?;
    Ok(out.info().and_then(|i| i.get("TemplateUrl")).cloned())
}

/// The product's name as its administrator sees it (DescribeProductAsAdmin).
pub async fn product_name_as_admin(ctx: &Context, product_id: &str) -> Result<String> {
    let out = ctx
        .catalog
        .describe_product_as_admin()
        .id(product_id)
        .send()
        .await
        .aws(|| format!("describing product {product_id} as its administrator"))?;
    out.product_view_detail()
        .and_then(|d| d.product_view_summary())
        .and_then(|s| s.name())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("product {product_id} has no name"))
}

/// The portfolio's display name (DescribePortfolio, an administrator call).
pub async fn portfolio_name(ctx: &Context, portfolio_id: &str) -> Result<String> {
    let out = ctx
        .catalog
        .describe_portfolio()
        .id(portfolio_id)
        .send()
        .await
        .aws(|| format!("describing portfolio {portfolio_id}"))?;
    out.portfolio_detail()
        .and_then(|d| d.display_name())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("portfolio {portfolio_id} has no display name"))
}

/// The IAM principals the portfolio is shared with (ListPrincipalsForPortfolio), all pages.
pub async fn portfolio_principals(ctx: &Context, portfolio_id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .catalog
            .list_principals_for_portfolio()
            .portfolio_id(portfolio_id)
            .set_page_token(token.take())
            .send()
            .await
            .aws(|| format!("listing the principals of portfolio {portfolio_id}"))?;
        out.extend(page.principals().iter().filter_map(|p| p.principal_arn()).map(str::to_owned));
        match page.next_page_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// UpdateProvisionedProduct to `artifact_id`: `set` values are sent, `keep` keys are sent with
/// UsePreviousValue (botocore UpdateProvisioningParameter). The token is derived from the product,
/// the target and the values, so a retry of the same update is answered with the same record.
pub async fn update(
    ctx: &Context,
    pp: &Provisioned,
    product: &Product,
    artifact_id: &str,
    set: &BTreeMap<String, String>,
    keep: &[String],
) -> Result<RecordDetail> {
    use aws_sdk_servicecatalog::types::UpdateProvisioningParameter as P;
    use sha2::{Digest, Sha256};
    let mut params: Vec<P> = set.iter().map(|(k, v)| P::builder().key(k).value(v).build()).collect();
    params.extend(
        keep.iter().filter(|k| !set.contains_key(*k)).map(|k| P::builder().key(k).use_previous_value(true).build()),
    );
    let mut h = Sha256::new();
    h.update(format!("{}|{}|{}|{:?}|{:?}", pp.id, pp.last_record_id.as_deref().unwrap_or(""), artifact_id, set, keep));
    let token = format!("nv-update-{}", &hex::encode(h.finalize())[..40]);
    let out = ctx
        .catalog
        .update_provisioned_product()
        .provisioned_product_id(&pp.id)
        .product_id(&product.id)
        .provisioning_artifact_id(artifact_id)
        .path_id(&product.path_id)
        .set_provisioning_parameters(Some(params))
        .update_token(token)
        .send()
        .await
        .aws(|| format!("updating provisioned product {} ({})", pp.name, pp.id))?;
    out.record_detail().cloned().ok_or_else(|| anyhow!("UpdateProvisionedProduct answered no record"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake_aws::{json, json_error, FakeAws};
    use serde_json::json as j;

    fn product_search() -> crate::aws::fake_aws::Answer {
        json(
            "SearchProducts",
            j!({"ProductViewSummaries": [{"Id": "prodview-1", "ProductId": "prod-1", "Name": "SageMaker Notebook"}]}),
        )
    }

    fn described(paths: serde_json::Value) -> crate::aws::fake_aws::Answer {
        json(
            "DescribeProduct",
            j!({"ProductViewSummary": {"ProductId": "prod-1", "Name": "SageMaker Notebook"},
                "ProvisioningArtifacts": [{"Id": "pa-old", "Name": "v1", "CreatedTime": 1_700_000_000},
                                          {"Id": "pa-new", "Name": "v2", "CreatedTime": 1_700_000_100}],
                "LaunchPaths": paths}),
        )
    }

    /// AWS is eventually consistent: right after bootstrap, the product's launch paths can be
    /// missing for a moment (ResourceNotFound, or none listed). resolve_product waits (bounded)
    /// instead of failing, and uses only end-user calls (no ListProvisioningArtifacts).
    #[tokio::test]
    async fn resolve_product_waits_for_launch_paths_to_appear() {
        let fake = FakeAws::start(vec![
            product_search(),
            json_error("DescribeProduct", "ResourceNotFoundException", "Product prod-1 not found"),
            described(j!([])),
            described(j!([{"Id": "lpv3-1", "Name": "portfolio"}])),
        ]);
        let ctx = fake.context().await;
        let p = resolve_product(&ctx).await.unwrap();
        assert_eq!((p.id.as_str(), p.path_id.as_str(), p.artifact_id.as_str()), ("prod-1", "lpv3-1", "pa-new"));
        assert_eq!(fake.served(), ["SearchProducts", "DescribeProduct", "DescribeProduct", "DescribeProduct"]);
    }

    #[tokio::test]
    async fn resolve_product_gives_up_on_a_product_without_launch_path() {
        let fake = FakeAws::start((0..8).map(|_| described(j!([]))).chain([product_search()]).collect());
        let ctx = fake.context().await;
        let e = resolve_product(&ctx).await.unwrap_err();
        assert!(format!("{e:#}").contains("no launch path"), "{e:#}");
        assert_eq!(fake.served().len(), 1 + 1 + SETTLE_PAUSES_MS.len());
    }

    /// `list` (and refresh --all, cull, teardown) read each product's user from its record: that
    /// fan-out is bounded, whatever the number of notebooks.
    #[tokio::test]
    async fn user_lookups_are_bounded() {
        let n = 3 * LOOKUP_CONCURRENCY;
        let products: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                j!({"Id": format!("pp-{i}"), "Name": format!("x{i}"), "ProductId": "prod-1",
                          "Status": "AVAILABLE", "LastRecordId": format!("rec-{i}")})
            })
            .collect();
        let mut script = vec![
            crate::aws::fake_aws::xml(
                "GetCallerIdentity",
                "https://sts.amazonaws.com/doc/2011-06-15/",
                "<Arn>arn:aws:iam::123456789012:user/op</Arn><UserId>AIDA</UserId><Account>123456789012</Account>",
            ),
            json("SearchProvisionedProducts", j!({"ProvisionedProducts": products})),
        ];
        script.extend((0..n).map(|i| {
            json(
                "DescribeRecord",
                j!({"RecordDetail": {"RecordId": format!("rec-{i}"), "Status": "SUCCEEDED"},
                "RecordOutputs": [{"OutputKey": "NotebookUserName", "OutputValue": format!("u{i}")}]}),
            )
        }));
        let fake = FakeAws::start_with_delay(script, std::time::Duration::from_millis(50));
        let ctx = fake.context().await;
        let product = Product {
            id: "prod-1".into(),
            name: "SageMaker Notebook".into(),
            path_id: "lp".into(),
            artifact_id: "pa".into(),
            artifact_name: "v1".into(),
        };
        let found = list_provisioned(&ctx, &product).await.unwrap();
        assert_eq!(found.len(), n);
        assert!(found.iter().all(|p| p.user.is_some()));
        assert!(fake.max_in_flight() <= LOOKUP_CONCURRENCY, "{} at once", fake.max_in_flight());
    }

    /// DescribeRecord right after ProvisionProduct may answer not-found for a moment on AWS.
    #[tokio::test]
    async fn wait_record_polls_through_a_record_not_found_yet() {
        let fake = FakeAws::start(vec![
            json_error("DescribeRecord", "ResourceNotFoundException", "Record rec-1 not found"),
            json(
                "DescribeRecord",
                j!({"RecordDetail": {"RecordId": "rec-1", "Status": "SUCCEEDED"},
                                       "RecordOutputs": [{"OutputKey": "NotebookUserName", "OutputValue": "al"}]}),
            ),
        ]);
        let ctx = fake.context().await;
        let task = ctx.progress.silent();
        let outputs = wait_record(&ctx, "rec-1", Deadline::secs(60), &task, "resume").await.unwrap();
        assert_eq!(outputs.get("NotebookUserName").map(String::as_str), Some("al"));
    }

    #[test]
    fn a_new_termination_attempt_gets_a_new_token() {
        let first = terminate_token("pp-1", Some("rec-provision"), false);
        assert_eq!(first, terminate_token("pp-1", Some("rec-provision"), false), "a repeated call is the same request");
        assert_ne!(first, terminate_token("pp-1", Some("rec-failed-terminate"), false));
        assert_ne!(first, terminate_token("pp-1", Some("rec-provision"), true));
        assert_ne!(first, terminate_token("pp-2", Some("rec-provision"), false));
        for t in [first, terminate_token("pp-1", None, true)] {
            assert!(t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{t}");
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn the_stack_parameter_wins_over_the_owner_tag_and_the_name() {
        // The sample README's launch: demoProduct2 for joe, tagged Owner=awsjoe.
        assert_eq!(choose_user(s("joe"), None, s("awsjoe"), "demoProduct2"), s("joe"));
        assert_eq!(choose_user(None, s("ann"), s("awsjoe"), "bob-Notebook"), s("ann"));
        assert_eq!(choose_user(None, None, s("awsjoe"), "bob-Notebook"), s("awsjoe"));
        assert_eq!(choose_user(None, None, None, "bob-Notebook"), s("bob"));
        // A console launch with no tag and any name, and no readable stack: nobody.
        assert_eq!(choose_user(None, None, None, "whatever"), None);
        // An invalid value is skipped, not trusted.
        assert_eq!(choose_user(s("not a user!"), None, s("joe"), "x"), s("joe"));
    }

    #[test]
    fn the_user_is_sent_second_after_the_instance_type() {
        let p: std::collections::BTreeMap<String, String> =
            [("S3IAMConfigStackName", "s3"), ("NotebookUserName", "joe"), ("A", "a"), ("NotebookInstanceType", "t")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let keys: Vec<&str> = super::ordered(&p).into_iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["NotebookInstanceType", "NotebookUserName", "A", "S3IAMConfigStackName"]);
    }
}
