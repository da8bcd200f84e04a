//! Service Catalog: find the product, its launch path and artifact; provision, follow records,
//! find the provisioned products of this product whoever launched them, terminate.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use aws_sdk_servicecatalog::types::{
    AccessLevelFilter, AccessLevelFilterKey, ProductViewFilterBy, ProvisionedProductAttribute,
    ProvisionedProductViewFilterBy, ProvisioningParameter, RecordDetail, Tag,
};
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::context::Context;
use crate::error::{has_code, is_transient, AwsResultExt};
use crate::naming;
use crate::poll::Deadline;
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

    let paths = ctx
        .catalog
        .list_launch_paths()
        .product_id(&id)
        .send()
        .await
        .aws(|| format!("listing launch paths of product {id}"))?;
    let path_id = paths
        .launch_path_summaries()
        .iter()
        .find_map(|p| p.id())
        .ok_or_else(|| {
            anyhow!("product {name:?} ({id}) has no launch path for this caller; is it in a portfolio shared with you?")
        })?
        .to_owned();

    let artifacts = ctx
        .catalog
        .list_provisioning_artifacts()
        .product_id(&id)
        .send()
        .await
        .aws(|| format!("listing provisioning artifacts of product {id}"))?;
    let newest = artifacts
        .provisioning_artifact_details()
        .iter()
        .filter(|a| a.active() != Some(false) && a.guidance().is_none_or(|g| g.as_str() != "DEPRECATED"))
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

/// A provisioned product of this product, with the user it belongs to when known.
#[derive(Debug, Clone, Serialize)]
pub struct Provisioned {
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_message: Option<String>,
    pub user: Option<String>,
    pub last_record_id: Option<String>,
    pub created: Option<String>,
    #[serde(skip)]
    tags: BTreeMap<String, String>,
}

impl Provisioned {
    /// The status as the SDK's enum, for an exhaustive `match`.
    pub fn state(&self) -> aws_sdk_servicecatalog::types::ProvisionedProductStatus {
        aws_sdk_servicecatalog::types::ProvisionedProductStatus::from(self.status.as_str())
    }
}

impl Provisioned {
    fn from_attribute(a: &ProvisionedProductAttribute) -> Self {
        let tags: BTreeMap<String, String> =
            a.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        Provisioned {
            id: a.id().unwrap_or_default().to_owned(),
            name: a.name().unwrap_or_default().to_owned(),
            status: a.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            status_message: a.status_message().filter(|m| !m.is_empty()).map(str::to_owned),
            user: None,
            last_record_id: a.last_record_id().map(str::to_owned),
            created: a.created_time().map(crate::output::rfc3339),
            tags,
        }
    }
}

/// Every provisioned product of `product` in the account, whoever launched it (console, CLI,
/// this tool), with its user read by key: the Owner tag, else the record's `NotebookUserName`
/// output, else the `U-Notebook` naming convention.
pub async fn list_provisioned(ctx: &Context, product: &Product) -> Result<Vec<Provisioned>> {
    let mut found: Vec<Provisioned> =
        search_provisioned(ctx, product).await?.iter().map(Provisioned::from_attribute).collect();
    let lookups = found.iter().map(|p| user_of(ctx, p));
    let users = futures::future::join_all(lookups).await;
    for (p, user) in found.iter_mut().zip(users) {
        p.user = user;
    }
    Ok(found)
}

/// SearchProvisionedProducts of this product in the whole account, every page.
pub async fn search_provisioned(ctx: &Context, product: &Product) -> Result<Vec<ProvisionedProductAttribute>> {
    let account = ctx.caller().await?.account.clone();
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ctx
            .catalog
            .search_provisioned_products()
            .access_level_filter(
                AccessLevelFilter::builder().key(AccessLevelFilterKey::Account).value(&account).build(),
            )
            .filters(ProvisionedProductViewFilterBy::SearchQuery, vec![format!("productId:{}", product.id)])
            .page_size(100)
            .set_page_token(token.clone())
            .send()
            .await
            .aws(|| format!("searching provisioned products of {}", product.name))?;
        found
            .extend(out.provisioned_products().iter().filter(|p| p.product_id() == Some(product.id.as_str())).cloned());
        token = out.next_page_token().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() {
            return Ok(found);
        }
    }
}

async fn user_of(ctx: &Context, p: &Provisioned) -> Option<String> {
    if let Some(owner) = p.tags.get("Owner").filter(|o| naming::validate_user(o).is_ok()) {
        return Some(owner.clone());
    }
    if let Some(record) = &p.last_record_id {
        if let Ok((_, outputs)) = describe_record(ctx, record).await {
            if let Some(u) = outputs.get("NotebookUserName").filter(|u| naming::validate_user(u).is_ok()) {
                return Some(u.clone());
            }
        }
    }
    naming::user_of_notebook(&p.name).map(str::to_owned)
}

/// The user's provisioned product of this product, if any: by its conventional name first (one
/// call), else among all provisioned products of the product (launched elsewhere, other name).
pub async fn find_for_user(ctx: &Context, product: &Product, user: &str) -> Result<Option<Provisioned>> {
    let name = naming::provisioned_product_name(user);
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
                    bail!(
                        "provisioned product {name} belongs to another product ({}); terminate it or pick another user name",
                        d.product_id().unwrap_or("?")
                    );
                }
                return Ok(Some(Provisioned {
                    id: d.id().unwrap_or_default().to_owned(),
                    name: d.name().unwrap_or_default().to_owned(),
                    status: d.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    status_message: d.status_message().filter(|m| !m.is_empty()).map(str::to_owned),
                    user: Some(user.to_owned()),
                    last_record_id: d.last_record_id().map(str::to_owned),
                    created: d.created_time().map(crate::output::rfc3339),
                    tags: BTreeMap::new(),
                }));
            }
        }
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => {}
        Err(e) => return Err(e),
    }
    Ok(list_provisioned(ctx, product).await?.into_iter().find(|p| p.user.as_deref() == Some(user)))
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
    let day = crate::output::rfc3339(&started)[..10].to_owned();
    let params: Vec<ProvisioningParameter> =
        parameters.iter().map(|(k, v)| ProvisioningParameter::builder().key(k).value(v).build()).collect();
    let mut all_tags = vec![Tag::builder().key("Owner").value(user).build()?];
    for (k, v) in tags.iter().filter(|(k, _)| k != "Owner") {
        all_tags.push(Tag::builder().key(k).value(v).build()?);
    }
    let name = naming::provisioned_product_name(user);
    // Each token is chained to the product the previous one answered: a stale token (its product
    // terminated since) leads to the next, so any number of provision/terminate cycles a day
    // works, and a rerun after a crash walks the same chain to the same record. The bound only
    // stops a chain that never ends (a token that keeps answering the same gone product).
    let mut after = String::new();
    for _ in 0..MAX_TOKEN_CHAIN {
        let token = naming::provision_token(&account, &product.id, &product.artifact_id, user, &day, &after);
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
        let older = record.created_time().is_some_and(|t| t.secs() + 1 < started.secs());
        let pp_id = record.provisioned_product_id().unwrap_or_default();
        if older && !exists(ctx, pp_id).await? {
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
            Err(e) => return Err(e),
        }
        poller.wait(&status).await?;
    }
}

/// TerminateProvisionedProduct; returns the record id.
pub async fn terminate(ctx: &Context, pp: &Provisioned) -> Result<String> {
    // Deterministic per product: a repeated call after a dropped connection is the same request.
    let token = format!("nv-terminate-{}", pp.id);
    let out = ctx
        .catalog
        .terminate_provisioned_product()
        .provisioned_product_id(&pp.id)
        .terminate_token(token.chars().take(128).collect::<String>())
        .send()
        .await
        .aws(|| format!("terminating provisioned product {} ({})", pp.name, pp.id))?;
    out.record_detail()
        .and_then(|r| r.record_id())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("TerminateProvisionedProduct answered no record"))
}
