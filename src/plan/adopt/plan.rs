//! The plan of `bootstrap --adopt`: the checks (checks.rs), then the two stack specs of the adopted
//! flavour with every value taken from the deployed stacks, then what each stack's update does,
//! resource by resource. Read-only.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use super::checks::{self, Deployed};
use super::{
    stop, template_resources, Plan, StackPlan, StackSpecOwned, CATALOG_TEMPLATE, PRODUCT_KEY, REMOVABLE, S3_TEMPLATE,
};
use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::stacks;
use crate::plan::templates::{self, DeployedCatalog};

/// What the product and its portfolio are, as deployed.
struct Catalog {
    product_id: String,
    portfolio_id: String,
    portfolio_name: String,
    principals: Vec<String>,
    /// The sample's artifact (its name) and the template key it reads.
    legacy_name: String,
    legacy_template: String,
    /// `name (id)` of the sample's artifact, for the plan.
    legacy_artifact: String,
    notebooks: Vec<String>,
    notebooks_on_legacy: usize,
}

/// The read-only phase: every check, then the plan.
pub async fn plan(ctx: &Context, product_template: &str, principal: Option<&str>, dry_run: bool) -> Result<Plan> {
    let names = &ctx.names;
    let deployed = checks::deployed_stacks(ctx).await?;
    let (role_name, bucket) = checks::notebook_stack(&names.s3_stack, &deployed)?;
    let deployed_principal = checks::catalog_stack(ctx, &deployed, &bucket, principal)?;
    let exports = checks::exports(ctx, &deployed).await?;
    let catalog = read_catalog(ctx, &deployed, &bucket, &deployed_principal).await?;

    let version = templates::version_of(product_template);
    let (s3_spec, catalog_spec, key) = specs(ctx, &deployed, &version, &role_name, &catalog)?;
    let (stacks, deleted_policies) = stack_plans(ctx, &deployed, &s3_spec, &catalog_spec).await?;
    checks::policies_used_elsewhere(ctx, &[&deployed.s3_res, &deployed.sc_res]).await?;

    Ok(Plan {
        dry_run,
        stacks,
        exports,
        deleted_policies,
        product_id: catalog.product_id,
        portfolio_id: catalog.portfolio_id,
        principals: catalog.principals,
        legacy_artifact: catalog.legacy_artifact,
        new_artifact: version,
        template: key,
        notebooks: catalog.notebooks,
        notebooks_on_legacy_artifact: catalog.notebooks_on_legacy,
        result: None,
        versions_marked: Vec::new(),
        s3_spec: Some(s3_spec),
        catalog_spec: Some(catalog_spec),
        bucket,
        product_template: product_template.to_owned(),
    })
}

/// The product (named as notebook-vend looks for it), the sample's artifact, the notebooks on
/// it, and the portfolio with its principals (which must include the stack's principal).
async fn read_catalog(ctx: &Context, d: &Deployed, bucket: &str, deployed_principal: &str) -> Result<Catalog> {
    let names = &ctx.names;
    let product_id = Deployed::physical(&d.sc_res, "SageMakerNotebookProduct");
    let portfolio_id = Deployed::physical(&d.sc_res, "AppServicesPortfolio");
    let product_ref = catalog::Product {
        id: product_id.clone(),
        name: names.product_name.clone(),
        path_id: String::new(),
        artifact_id: String::new(),
        artifact_name: String::new(),
    };
    let product_name = catalog::product_name_as_admin(ctx, &product_id).await?;
    if product_name != names.product_name {
        bail!(stop(format!(
            "the product of stack {} is named {product_name:?}, and notebook-vend is looking for {:?}: run again with \
             --product-name {product_name:?} (and use it, or NOTEBOOK_VEND_PRODUCT_NAME, with every command)",
            names.catalog_stack, names.product_name
        )));
    }
    let artifacts = catalog::artifacts(ctx, &product_ref).await?;
    let (legacy_name, legacy_template) = legacy_artifact(ctx, d, bucket, &product_ref, &artifacts).await?;
    let legacy_ids: BTreeSet<String> =
        artifacts.iter().filter(|a| a.name == legacy_name).map(|a| a.id.clone()).collect();
    let legacy_artifact = artifacts
        .iter()
        .find(|a| a.name == legacy_name)
        .map(|a| format!("{} ({})", a.name, a.id))
        .unwrap_or_else(|| legacy_name.clone());
    let provisioned = catalog::list_provisioned(ctx, &product_ref).await?;
    let notebooks_on_legacy =
        provisioned.iter().filter(|p| p.artifact_id.as_ref().is_some_and(|a| legacy_ids.contains(a))).count();
    let portfolio_name = if d.sc_ours {
        d.sc_params.get("PortfolioName").cloned().unwrap_or_default()
    } else {
        catalog::portfolio_name(ctx, &portfolio_id).await?
    };
    let principals = catalog::portfolio_principals(ctx, &portfolio_id).await?;
    if !principals.iter().any(|p| p == deployed_principal) {
        bail!(stop(format!(
            "portfolio {portfolio_id} is not shared with {deployed_principal} (parameter UserIAMPrincipal of stack {}): \
             the stack and the portfolio disagree; see the stack's drift",
            names.catalog_stack
        )));
    }
    Ok(Catalog {
        product_id,
        portfolio_id,
        portfolio_name,
        principals,
        legacy_name,
        legacy_template,
        legacy_artifact,
        notebooks: provisioned.iter().map(|p| p.name.clone()).collect(),
        notebooks_on_legacy,
    })
}

/// The sample's own artifact (name, template key): from the adopted stack's parameters when the
/// adoption runs again, else the one artifact whose template is the stack's.
async fn legacy_artifact(
    ctx: &Context,
    d: &Deployed,
    bucket: &str,
    product: &catalog::Product,
    artifacts: &[catalog::Artifact],
) -> Result<(String, String)> {
    if d.sc_ours {
        return Ok((
            d.sc_params.get("LegacyArtifactName").cloned().unwrap_or_default(),
            d.sc_params.get("LegacyTemplateName").cloned().unwrap_or_default(),
        ));
    }
    let key = d.sc_params.get("ServiceCatalogTemplateName").cloned().unwrap_or_default();
    let url = format!("https://{bucket}.s3.amazonaws.com/{key}");
    // The sample's product has one artifact: that is the stack's entry. With several, the
    // one whose template URL is the stack's (DescribeProvisioningArtifact Info.TemplateUrl).
    let mut matching = Vec::new();
    if let [only] = artifacts {
        matching.push(only.clone());
    } else {
        for a in artifacts {
            if catalog::artifact_template_url(ctx, product, &a.id).await?.as_deref() == Some(url.as_str()) {
                matching.push(a.clone());
            }
        }
    }
    match matching.as_slice() {
        [one] => Ok((one.name.clone(), key)),
        found => bail!(stop(format!(
            "product {}: {} provisioning artifacts read {url} (the stack's template); adoption keeps \
             exactly that one entry first and unchanged, so it needs exactly one",
            product.id,
            found.len()
        ))),
    }
}

/// The two specs, every value from the deployed stacks. Once adopted, the catalog stack is ours
/// and lists notebook-vend's earlier versions as a fresh deployment does (templates::plan_versions).
/// Returns (notebook role stack, catalog stack, the product template's key).
fn specs(
    ctx: &Context,
    d: &Deployed,
    version: &str,
    role_name: &str,
    catalog: &Catalog,
) -> Result<(StackSpecOwned, StackSpecOwned, String)> {
    let names = &ctx.names;
    let deployed = match (&d.sc_template, d.sc_ours) {
        (Some(template), true) => Some(DeployedCatalog { parameters: &d.sc_params, template, region: &ctx.region }),
        _ => None,
    };
    let versions = templates::plan_versions(PRODUCT_KEY, version, deployed.as_ref());
    let s3_spec = StackSpecOwned {
        name: names.s3_stack.clone(),
        template: S3_TEMPLATE.to_owned(),
        parameters: BTreeMap::from([("SageMakerNotebookInstanceRoleName".to_owned(), role_name.to_owned())]),
    };
    let mut parameters = BTreeMap::new();
    for key in ["NotebookInstanceType", "S3IAMConfigStackName", "S3BucketName", "UserIAMPrincipal"] {
        if let Some(v) = d.sc_params.get(key) {
            parameters.insert(key.to_owned(), v.clone());
        }
    }
    parameters.insert("LegacyArtifactName".into(), catalog.legacy_name.clone());
    parameters.insert("LegacyTemplateName".into(), catalog.legacy_template.clone());
    parameters.insert("ServiceCatalogTemplateName".into(), versions.key.clone());
    parameters.insert("ProductTemplateVersion".into(), version.to_owned());
    parameters.insert("PortfolioName".into(), catalog.portfolio_name.clone());
    parameters.insert("ProductName".into(), names.product_name.clone());
    let catalog_spec = StackSpecOwned {
        name: names.catalog_stack.clone(),
        template: templates::with_earlier_versions(CATALOG_TEMPLATE, &versions.earlier)?,
        parameters,
    };
    Ok((s3_spec, catalog_spec, versions.key))
}

/// Resource by resource: nothing replaced, nothing removed but the managed policies. Returns the
/// stacks' plans and the policies deleted.
async fn stack_plans(
    ctx: &Context,
    d: &Deployed,
    s3_spec: &StackSpecOwned,
    catalog_spec: &StackSpecOwned,
) -> Result<(Vec<StackPlan>, Vec<String>)> {
    let mut plans = Vec::new();
    let mut deleted = Vec::new();
    for (stack, res, spec, ours) in
        [(&d.s3, &d.s3_res, s3_spec, d.s3_ours), (&d.sc, &d.sc_res, catalog_spec, d.sc_ours)]
    {
        let diff = diff(&spec.name, res, &spec.template)?;
        deleted.extend(diff.removed.iter().cloned());
        let unchanged = ours && stacks::plan(ctx, &spec.spec(), Some(stack)).await? == stacks::Plan::Unchanged;
        let action = match (unchanged, ours) {
            (true, _) => "unchanged",
            (false, true) => "update",
            (false, false) => "adopt",
        };
        plans.push(StackPlan { name: spec.name.clone(), status: checks::status(stack), action: action.into(), ..diff });
    }
    Ok((plans, deleted))
}

/// The deployed resources against the adopted template: kept (same logical ID and type), added,
/// removed. A removal other than the sample's managed policies, or a type change (a replacement),
/// stops the adoption.
pub(super) fn diff(stack: &str, deployed: &[stacks::Resource], template: &str) -> Result<StackPlan> {
    let declared = template_resources(template);
    let mut plan = StackPlan {
        name: stack.to_owned(),
        status: String::new(),
        action: String::new(),
        kept: BTreeMap::new(),
        added: Vec::new(),
        removed: Vec::new(),
    };
    for r in deployed {
        match declared.iter().find(|(id, _)| *id == r.logical_id) {
            Some((_, kind)) if *kind == r.kind => {
                plan.kept.insert(r.logical_id.clone(), r.physical_id.clone());
            }
            Some((_, kind)) => bail!(stop(format!(
                "stack {stack}: {} is a {} and the adopted template declares a {kind}: it would be replaced",
                r.logical_id, r.kind
            ))),
            None if REMOVABLE.contains(&r.logical_id.as_str()) && r.kind == "AWS::IAM::ManagedPolicy" => {
                plan.removed.push(r.physical_id.rsplit('/').next().unwrap_or(&r.physical_id).to_owned())
            }
            None => bail!(stop(format!(
                "stack {stack}: {} ({}) is not in the adopted template and would be deleted; adoption removes only \
                 the sample's fixed-name managed policies",
                r.logical_id, r.kind
            ))),
        }
    }
    for (id, _) in &declared {
        if !deployed.iter().any(|r| r.logical_id == *id) {
            plan.added.push(id.clone());
        }
    }
    Ok(plan)
}
