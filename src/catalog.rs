//! Service Catalog: find the product, its launch path and artifact; provision, follow records,
//! find the provisioned products of this product whoever launched them, terminate.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use aws_sdk_servicecatalog::types::{
    AccessLevelFilter, AccessLevelFilterKey, ProductViewFilterBy, ProvisionedProductAttribute,
    ProvisionedProductViewFilterBy, ProvisioningParameter, RecordDetail, Tag,
};
use aws_smithy_types::DateTime;
use futures::stream::StreamExt;
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
            created: a.created_time().map(crate::output::rfc3339),
        }
    }
}

/// Every provisioned product of `product` in the account, whoever launched it (console, CLI,
/// this tool, the blog sample's README), with its user: see [`user_of_attribute`].
pub async fn list_provisioned(ctx: &Context, product: &Product) -> Result<Vec<Provisioned>> {
    let attributes = search_provisioned(ctx, product).await?;
    let users: Vec<Option<String>> =
        futures::stream::iter(attributes.iter().map(|a| user_of_attribute(ctx, a))).buffered(8).collect().await;
    Ok(attributes.iter().zip(users).map(|(a, user)| Provisioned { user, ..Provisioned::from_attribute(a) }).collect())
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

/// The user a provisioned product belongs to, read by key (never by position): the
/// `NotebookUserName` parameter of its CloudFormation stack (what it was launched with, whatever
/// its name or tags: the blog sample's README launches `demoProduct2` for joe tagged `Owner=awsjoe`,
/// the console launches with no tag), else its last record's `NotebookUserName` output, else a
/// valid `Owner` tag, else the `U-Notebook` naming convention.
pub async fn user_of_attribute(ctx: &Context, a: &ProvisionedProductAttribute) -> Option<String> {
    let from_stack = match a.physical_id().filter(|s| s.starts_with("arn:")) {
        Some(stack) => stack_user(ctx, stack).await,
        None => None,
    };
    let owner = a.tags().iter().find(|t| t.key() == "Owner").map(|t| t.value().to_owned());
    let record_output = match (&from_stack, a.last_record_id()) {
        (None, Some(record)) => describe_record(ctx, record).await.ok().and_then(|(_, o)| o.get(USER_KEY).cloned()),
        _ => None,
    };
    choose_user(from_stack, record_output, owner, a.name().unwrap_or_default())
}

/// The provisioning parameter (and product output) naming the user.
pub const USER_KEY: &str = "NotebookUserName";

/// The `NotebookUserName` parameter of a provisioned product's stack, when it can be read. A caller
/// without `cloudformation:DescribeStacks` on `SC-*` stacks falls back to tags and names; told once.
pub async fn stack_user(ctx: &Context, stack_arn: &str) -> Option<String> {
    match crate::stacks::parameter(ctx, stack_arn, USER_KEY).await {
        Ok(user) => user.filter(|u| naming::validate_user(u).is_ok()),
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
        .find(|u| naming::validate_user(u).is_ok())
        .or_else(|| naming::user_of_notebook(provisioned_product_name).map(str::to_owned))
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
    let params: Vec<ProvisioningParameter> = ordered(parameters)
        .into_iter()
        .map(|(k, v)| ProvisioningParameter::builder().key(k).value(v).build())
        .collect();
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

#[cfg(test)]
mod tests {
    use super::choose_user;

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
