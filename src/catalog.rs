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
    /// The artifact the product is on (DescribeProvisionedProduct / SearchProvisionedProducts).
    pub artifact_id: Option<String>,
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
            artifact_id: a.provisioning_artifact_id().map(str::to_owned),
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
                    artifact_id: d.provisioning_artifact_id().map(str::to_owned),
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
    for attempt in 0..3 {
        let token = naming::provision_token(&account, &product.id, &product.artifact_id, user, &day, attempt);
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
        if older && !exists(ctx, record.provisioned_product_id().unwrap_or_default()).await? {
            continue;
        }
        return Ok(record);
    }
    bail!("ProvisionProduct kept answering records of terminated products for user {user}")
}

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
