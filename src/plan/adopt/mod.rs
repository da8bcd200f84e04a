//! `bootstrap --adopt`: take the AWS blog sample's deployment over in place (issue 13 item 3;
//! tests/fixtures/blog/PLAN.md section 3).
//!
//! The two stacks are updated to the adopted flavour (templates/adopt-blog/), which keeps every
//! logical ID, IAM name and path, output key and export of the sample, keeps the product with its
//! original artifact first and unchanged, and adds notebook-vend's product template as a new
//! artifact read from a new key (the sample's own object is never overwritten). Everything here
//! is read-only except [`apply`]; the plan is computed first and any case CloudFormation would
//! refuse, or that would replace or remove something the notebooks use, stops before a write.
//!
//! Sources: CloudFormation resource schemas (cfn-lint 1.x `data/schemas`), `createOnlyProperties`:
//! AWS::IAM::Role Path, RoleName; AWS::S3::Bucket BucketName; AWS::Logs::LogGroup LogGroupName;
//! AWS::ServiceCatalog::PortfolioPrincipalAssociation every property; AWS::ServiceCatalog::
//! PortfolioProductAssociation PortfolioId, ProductId; LaunchRoleConstraint PortfolioId, ProductId;
//! Portfolio and CloudFormationProduct none. CloudFormation user guide, using-cfn-stack-exports.html:
//! "You can't modify or remove an output value that is referenced by another stack"; "Prevent
//! updates to stack resources" (protect-stack-resources.html): a stack policy denying
//! `Update:Replace` / `Update:Delete` makes CloudFormation fail (and roll back) such an update.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{bail, Result};
use aws_sdk_cloudformation::types::{Stack, StackStatus};
use serde::Serialize;

use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::poll::Deadline;
use crate::aws::stacks::{self, StackSpec, ADOPTED_BLOG};
use crate::plan::templates::{self, DeployedCatalog};

pub const S3_TEMPLATE: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/adopt-blog/s3-iam-config.yml"));
pub const CATALOG_TEMPLATE: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/adopt-blog/service-catalog.yml"));
/// Where the adopted product's versions read notebook-vend's template: keys of their own
/// (`notebook-vend/sm-notebook/<version>.yml`), so the sample's `sm-notebook.yml` (its original
/// artifact, and the sample's own tooling) is untouched.
pub const PRODUCT_KEY: &str = "notebook-vend/sm-notebook.yml";

/// The sample's fixed-name managed policies: the only resources adoption removes (the adopted
/// roles get the same permissions as inline policies first; the AWS::IAM::ManagedPolicy delete
/// handler detaches the policy from every entity before deleting it, schema
/// `handlers.delete.permissions`: iam:ListEntitiesForPolicy, iam:Detach*Policy, iam:DeletePolicy).
pub const REMOVABLE: &[&str] = &[
    "SMNotebookEC2Policy",
    "SMNotebookPolicy",
    "SVCSMExecutionPolicy",
    "SVCLogsExecutionPolicy",
    "SVCEC2KMSExecutionPolicy",
    "SVCS3ExecutionPolicy",
    "SVCIAMExecutionPolicy",
    "SVCCFTExecutionPolicy",
];

/// Resources a deployment must have to be the sample's shape (logical ID, type).
const S3_SHAPE: &[(&str, &str)] =
    &[("S3Bucket", "AWS::S3::Bucket"), ("SageMakerNotebookInstanceRole", "AWS::IAM::Role")];
const CATALOG_SHAPE: &[(&str, &str)] = &[
    ("ServiceCatalogExecutionRole", "AWS::IAM::Role"),
    ("AppServicesPortfolio", "AWS::ServiceCatalog::Portfolio"),
    ("SageMakerNotebookProduct", "AWS::ServiceCatalog::CloudFormationProduct"),
    ("CoreBuildToolsProductAssoc", "AWS::ServiceCatalog::PortfolioProductAssociation"),
    ("CoreBuildToolsProductConstraint", "AWS::ServiceCatalog::LaunchRoleConstraint"),
    ("UserPortfolioProductAssoc", "AWS::ServiceCatalog::PortfolioPrincipalAssociation"),
];

/// `(logical ID, type)` of every resource of a template, by logical ID (the one template reader).
pub fn template_resources(template: &str) -> Vec<(String, String)> {
    crate::plan::template::parse(template)
        .map(|t| t.resources.into_iter().map(|(id, r)| (id, r.kind)).collect())
        .unwrap_or_default()
}

/// What one stack's update does, resource by resource.
#[derive(Debug, Clone, Serialize)]
pub struct StackPlan {
    pub name: String,
    pub status: String,
    /// "adopt" (updated in place to the adopted flavour), "update", "unchanged".
    pub action: String,
    /// Kept resources: updated in place, never replaced (logical ID -> physical ID).
    pub kept: BTreeMap<String, String>,
    pub added: Vec<String>,
    /// Removed resources (only the sample's fixed-name managed policies), by physical name.
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportPlan {
    pub name: String,
    pub imported_by: Vec<String>,
    /// "kept" (same output key, same value) or "removed" (nobody imports it).
    pub outcome: String,
}

/// The whole takeover, computed read-only.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub dry_run: bool,
    pub stacks: Vec<StackPlan>,
    pub exports: Vec<ExportPlan>,
    pub deleted_policies: Vec<String>,
    pub product_id: String,
    pub portfolio_id: String,
    pub principals: Vec<String>,
    pub legacy_artifact: String,
    pub new_artifact: String,
    pub template: String,
    /// Provisioned products of the product: they stay on their artifact (never moved).
    pub notebooks: Vec<String>,
    pub notebooks_on_legacy_artifact: usize,
    /// The users of those notebooks, as far as known: their notebooks get the owner tag
    /// (owner_tags::backfill) once the deployment is adopted.
    #[serde(skip)]
    pub users: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Versions whose Guidance the adoption changed (ours DEFAULT, the sample's DEPRECATED).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions_marked: Vec<String>,
    #[serde(skip)]
    pub s3_spec: Option<StackSpecOwned>,
    #[serde(skip)]
    pub catalog_spec: Option<StackSpecOwned>,
    #[serde(skip)]
    pub bucket: String,
    #[serde(skip)]
    pub product_template: String,
}

/// A StackSpec that can be cloned with the plan.
#[derive(Debug, Clone)]
pub struct StackSpecOwned {
    pub name: String,
    pub template: String,
    pub parameters: BTreeMap<String, String>,
}

impl StackSpecOwned {
    pub fn spec(&self) -> StackSpec {
        StackSpec { name: self.name.clone(), template: self.template.clone(), parameters: self.parameters.clone() }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = if self.dry_run { "Adoption plan (dry run, nothing written):" } else { "Adoption plan:" };
        writeln!(f, "{title}")?;
        for s in &self.stacks {
            writeln!(f, "stack      {:<28} {:<10} {}", s.name, s.action, s.status)?;
            if !s.kept.is_empty() {
                let kept: Vec<String> = s.kept.iter().map(|(l, p)| format!("{l} ({p})")).collect();
                writeln!(f, "  kept, updated in place (no replacement): {}", kept.join(", "))?;
            }
            if !s.added.is_empty() {
                writeln!(f, "  added: {}", s.added.join(", "))?;
            }
            if !s.removed.is_empty() {
                writeln!(f, "  removed: {}", s.removed.join(", "))?;
            }
        }
        for e in &self.exports {
            let users = if e.imported_by.is_empty() { "not imported".to_owned() } else { e.imported_by.join(", ") };
            writeln!(f, "export     {:<52} {:<8} imported by: {users}", e.name, e.outcome)?;
        }
        if !self.deleted_policies.is_empty() {
            writeln!(
                f,
                "policies   deleted (their permissions move to inline policies of the kept roles): {}",
                self.deleted_policies.join(", ")
            )?;
        }
        writeln!(f, "portfolio  {} kept, principals kept: {}", self.portfolio_id, self.principals.join(", "))?;
        writeln!(f, "product    {} kept; artifact {} kept unchanged", self.product_id, self.legacy_artifact)?;
        writeln!(f, "new        artifact {} from s3://{}/{}", self.new_artifact, self.bucket, self.template)?;
        write!(
            f,
            "notebooks  {} provisioned ({} on the original artifact): they stay where they are, managed by every \
             command; new provisions use the new artifact",
            self.notebooks.len(),
            self.notebooks_on_legacy_artifact
        )?;
        if let Some(r) = &self.result {
            write!(f, "\nresult     {r}")?;
        }
        Ok(())
    }
}

/// Is this stack in a state an adoption may update? CREATE_COMPLETE, UPDATE_COMPLETE, or
/// UPDATE_ROLLBACK_COMPLETE (an earlier update, e.g. a failed adoption, rolled back cleanly).
fn stable(stack: &Stack) -> bool {
    matches!(
        stack.stack_status(),
        Some(StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::UpdateRollbackComplete)
    )
}

fn status(stack: &Stack) -> String {
    stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default()
}

fn params_of(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
        .collect()
}

fn outputs_of(stack: &Stack) -> BTreeMap<String, (String, Option<String>)> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| {
            Some((
                o.output_key()?.to_owned(),
                (o.output_value().unwrap_or_default().to_owned(), o.export_name().map(str::to_owned)),
            ))
        })
        .collect()
}

/// The adopted templates' exports, (output key, export name suffix after `<stack>`).
const S3_EXPORTS: &[(&str, &str)] = &[
    ("S3BucketWebsiteURL", "-Bucket-URL"),
    ("S3BucketArn", "-Bucket-ARN"),
    ("S3BucketName", "-Bucket-Name"),
    ("SageMakerNotebookInstanceRoleARN", "-SageMakerNotebookInstanceRole-ARN"),
];
const CATALOG_EXPORTS: &[(&str, &str)] = &[("ServiceCatalogExecutionRoleArn", "-SMNotebookRole-ARN")];

/// A stop before any write: what was found and what to do (exit 1).
fn stop(why: impl fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("bootstrap --adopt stopped before writing anything: {why}")
}

/// The read-only phase: every check of PLAN.md 3.4, then the plan.
pub async fn plan(ctx: &Context, product_template: &str, principal: Option<&str>, dry_run: bool) -> Result<Plan> {
    let names = &ctx.names;
    let (Some(s3), Some(sc)) =
        (stacks::describe(ctx, &names.s3_stack).await?, stacks::describe(ctx, &names.catalog_stack).await?)
    else {
        bail!(stop(format!(
            "stacks {} and {} must both exist (the blog sample's deployment); for a new deployment run \
             `notebook-vend bootstrap` without --adopt",
            names.s3_stack, names.catalog_stack
        )));
    };
    let s3_ours = stacks::is_ours(ctx, &s3).await?;
    let sc_ours = stacks::is_ours(ctx, &sc).await?;
    for (stack, ours) in [(&s3, s3_ours), (&sc, sc_ours)] {
        if ours && stacks::flavour(stack) != ADOPTED_BLOG {
            bail!(stop(format!(
                "stack {} was deployed by notebook-vend itself (flavour {}): there is nothing to adopt; run \
                 `notebook-vend bootstrap` without --adopt",
                stack.stack_name().unwrap_or_default(),
                stacks::flavour(stack)
            )));
        }
        if !stable(stack) {
            bail!(stop(format!(
                "stack {} is {}, not CREATE_COMPLETE/UPDATE_COMPLETE/UPDATE_ROLLBACK_COMPLETE: wait for the running \
                 operation to end (or recover the stack: see its events), then run `notebook-vend bootstrap --adopt` again",
                stack.stack_name().unwrap_or_default(),
                status(stack)
            )));
        }
    }

    let s3_res = stacks::resources(ctx, &names.s3_stack).await?;
    let sc_res = stacks::resources(ctx, &names.catalog_stack).await?;
    check_shape(&names.s3_stack, &s3_res, S3_SHAPE)?;
    check_shape(&names.catalog_stack, &sc_res, CATALOG_SHAPE)?;
    let physical = |res: &[stacks::Resource], id: &str| {
        res.iter().find(|r| r.logical_id == id).map(|r| r.physical_id.clone()).unwrap_or_default()
    };

    // Stack 1: the role keeps its exact name and path; the bucket keeps its generated name.
    let s3_params = params_of(&s3);
    let s3_outputs = outputs_of(&s3);
    let role_name = s3_params.get("SageMakerNotebookInstanceRoleName").cloned().unwrap_or_default();
    let role_physical = physical(&s3_res, "SageMakerNotebookInstanceRole");
    if role_name.is_empty() || role_physical != role_name {
        bail!(stop(format!(
            "stack {}: the notebook role is {role_physical:?} but the parameter SageMakerNotebookInstanceRoleName is \
             {role_name:?}; the adopted template names the role from that parameter, so the role would be replaced",
            names.s3_stack
        )));
    }
    let role_arn = s3_outputs.get("SageMakerNotebookInstanceRoleARN").map(|o| o.0.clone()).unwrap_or_default();
    if !role_arn.ends_with(&format!(":role/{role_name}")) {
        bail!(stop(format!(
            "stack {}: the notebook role's ARN {role_arn:?} is not at path / (RoleName and Path are create-only: \
             the adopted template keeps Path /)",
            names.s3_stack
        )));
    }
    let bucket = physical(&s3_res, "S3Bucket");
    let s3_template = stacks::deployed_template(ctx, &names.s3_stack).await?;
    no_custom_name(&names.s3_stack, s3_template.as_deref(), "S3Bucket", "BucketName", &bucket)?;

    // Stack 2.
    let sc_params = params_of(&sc);
    let sc_outputs = outputs_of(&sc);
    let launch_arn = sc_outputs.get("ServiceCatalogExecutionRoleArn").map(|o| o.0.clone()).unwrap_or_default();
    if physical(&sc_res, "ServiceCatalogExecutionRole") != "ServiceCatalogExecutionRole"
        || !launch_arn.ends_with(":role/service-role/ServiceCatalogExecutionRole")
    {
        bail!(stop(format!(
            "stack {}: the launch role is not ServiceCatalogExecutionRole at path /service-role/ (ARN {launch_arn:?}); \
             the adopted template keeps that name and path, so it would replace the role",
            names.catalog_stack
        )));
    }
    let sc_template = stacks::deployed_template(ctx, &names.catalog_stack).await?;
    if let Some(lg) = sc_res.iter().find(|r| r.logical_id == "NotebookCloudWatchLogGroup") {
        no_custom_name(
            &names.catalog_stack,
            sc_template.as_deref(),
            "NotebookCloudWatchLogGroup",
            "LogGroupName",
            &lg.physical_id,
        )?;
    }
    let deployed_bucket = sc_params.get("S3BucketName").cloned().unwrap_or_default();
    if deployed_bucket != bucket {
        bail!(stop(format!(
            "stack {}: parameter S3BucketName is {deployed_bucket:?}, not the bucket of stack {} ({bucket})",
            names.catalog_stack, names.s3_stack
        )));
    }
    let s3_name_param = sc_params.get("S3IAMConfigStackName").cloned().unwrap_or_default();
    if s3_name_param != names.s3_stack {
        bail!(stop(format!(
            "stack {}: parameter S3IAMConfigStackName is {s3_name_param:?}, not {}",
            names.catalog_stack, names.s3_stack
        )));
    }
    let deployed_principal = sc_params.get("UserIAMPrincipal").cloned().unwrap_or_default();
    if let Some(p) = principal.filter(|p| *p != deployed_principal) {
        bail!(stop(format!(
            "--principal {p} differs from the portfolio's principal {deployed_principal}: adoption keeps the \
             portfolio's principals (PrincipalARN is create-only, another value would replace the association); \
             run `notebook-vend bootstrap --adopt` without --principal"
        )));
    }

    // Exports: every export of the two stacks that is imported must stay, under the same key.
    let exports = stacks::exports(ctx).await?;
    let mut export_plans = Vec::new();
    for (stack, outputs, declared) in [(&s3, &s3_outputs, S3_EXPORTS), (&sc, &sc_outputs, CATALOG_EXPORTS)] {
        let stack_name = stack.stack_name().unwrap_or_default();
        let stack_id = stack.stack_id().unwrap_or_default();
        for e in exports.iter().filter(|e| e.exporting_stack_id == stack_id) {
            let imported_by = stacks::importers(ctx, &e.name).await?;
            let key = outputs.iter().find(|(_, (_, x))| x.as_deref() == Some(e.name.as_str())).map(|(k, _)| k.clone());
            let kept = declared.iter().any(|(k, suffix)| {
                format!("{stack_name}{suffix}") == e.name && key.as_deref().is_none_or(|key| key == *k)
            });
            if !kept && !imported_by.is_empty() {
                bail!(stop(format!(
                    "export {} of stack {stack_name} is imported by {} and the adopted template does not keep it \
                     under output key {}: CloudFormation refuses to change or remove an export in use",
                    e.name,
                    imported_by.join(", "),
                    key.as_deref().unwrap_or("?")
                )));
            }
            export_plans.push(ExportPlan {
                name: e.name.clone(),
                imported_by,
                outcome: if kept { "kept" } else { "removed" }.into(),
            });
        }
    }

    // The product, its artifacts and notebooks; the portfolio and its principals.
    let product_id = physical(&sc_res, "SageMakerNotebookProduct");
    let portfolio_id = physical(&sc_res, "AppServicesPortfolio");
    let product_ref = catalog::Product {
        id: product_id.clone(),
        name: ctx.names.product_name.clone(),
        path_id: String::new(),
        artifact_id: String::new(),
        artifact_name: String::new(),
    };
    let product_name = catalog::product_name_as_admin(ctx, &product_id).await?;
    if product_name != ctx.names.product_name {
        bail!(stop(format!(
            "the product of stack {} is named {product_name:?}, and notebook-vend is looking for {:?}: run again with \
             --product-name {product_name:?} (and use it, or NOTEBOOK_VEND_PRODUCT_NAME, with every command)",
            names.catalog_stack, ctx.names.product_name
        )));
    }
    let artifacts = catalog::artifacts(ctx, &product_ref).await?;
    let (legacy_name, legacy_template) = if sc_ours {
        (
            sc_params.get("LegacyArtifactName").cloned().unwrap_or_default(),
            sc_params.get("LegacyTemplateName").cloned().unwrap_or_default(),
        )
    } else {
        let key = sc_params.get("ServiceCatalogTemplateName").cloned().unwrap_or_default();
        let url = format!("https://{bucket}.s3.amazonaws.com/{key}");
        // The sample's product has one artifact: that is the stack's entry. With several, the
        // one whose template URL is the stack's (DescribeProvisioningArtifact Info.TemplateUrl).
        let mut matching = Vec::new();
        if let [only] = artifacts.as_slice() {
            matching.push(only.clone());
        } else {
            for a in &artifacts {
                if catalog::artifact_template_url(ctx, &product_ref, &a.id).await?.as_deref() == Some(url.as_str()) {
                    matching.push(a.clone());
                }
            }
        }
        match matching.as_slice() {
            [one] => (one.name.clone(), key),
            found => bail!(stop(format!(
                "product {product_id}: {} provisioning artifacts read {url} (the stack's template); adoption keeps \
                 exactly that one entry first and unchanged, so it needs exactly one",
                found.len()
            ))),
        }
    };
    let legacy_ids: BTreeSet<String> =
        artifacts.iter().filter(|a| a.name == legacy_name).map(|a| a.id.clone()).collect();
    let legacy_artifact = artifacts
        .iter()
        .find(|a| a.name == legacy_name)
        .map(|a| format!("{} ({})", a.name, a.id))
        .unwrap_or_else(|| legacy_name.clone());
    let provisioned = catalog::list_provisioned(ctx, &product_ref).await?;
    let notebooks: Vec<String> = provisioned.iter().map(|p| p.name.clone()).collect();
    let on_legacy =
        provisioned.iter().filter(|p| p.artifact_id.as_ref().is_some_and(|a| legacy_ids.contains(a))).count();
    let portfolio_name = if sc_ours {
        sc_params.get("PortfolioName").cloned().unwrap_or_default()
    } else {
        catalog::portfolio_name(ctx, &portfolio_id).await?
    };
    let principals = catalog::portfolio_principals(ctx, &portfolio_id).await?;
    if !principals.contains(&deployed_principal) {
        bail!(stop(format!(
            "portfolio {portfolio_id} is not shared with {deployed_principal} (parameter UserIAMPrincipal of stack {}): \
             the stack and the portfolio disagree; see the stack's drift",
            names.catalog_stack
        )));
    }

    // The specs, all values from the deployed stacks. Once adopted, the catalog stack is ours and
    // lists notebook-vend's earlier versions as a fresh deployment does (templates::plan_versions).
    let version = templates::version_of(product_template);
    let deployed = match (&sc_template, sc_ours) {
        (Some(template), true) => Some(DeployedCatalog { parameters: &sc_params, template, region: &ctx.region }),
        _ => None,
    };
    let versions = templates::plan_versions(PRODUCT_KEY, &version, deployed.as_ref());
    let s3_spec = StackSpecOwned {
        name: names.s3_stack.clone(),
        template: S3_TEMPLATE.to_owned(),
        parameters: BTreeMap::from([("SageMakerNotebookInstanceRoleName".to_owned(), role_name.clone())]),
    };
    let mut catalog_params = BTreeMap::new();
    for key in ["NotebookInstanceType", "S3IAMConfigStackName", "S3BucketName", "UserIAMPrincipal"] {
        if let Some(v) = sc_params.get(key) {
            catalog_params.insert(key.to_owned(), v.clone());
        }
    }
    catalog_params.insert("LegacyArtifactName".into(), legacy_name.clone());
    catalog_params.insert("LegacyTemplateName".into(), legacy_template);
    catalog_params.insert("ServiceCatalogTemplateName".into(), versions.key.clone());
    catalog_params.insert("ProductTemplateVersion".into(), version.clone());
    catalog_params.insert("PortfolioName".into(), portfolio_name);
    catalog_params.insert("ProductName".into(), ctx.names.product_name.clone());
    let catalog_spec = StackSpecOwned {
        name: names.catalog_stack.clone(),
        template: templates::with_earlier_versions(CATALOG_TEMPLATE, &versions.earlier)?,
        parameters: catalog_params,
    };

    // Resource by resource: nothing replaced, nothing removed but the managed policies.
    let mut stack_plans = Vec::new();
    let mut deleted = Vec::new();
    for (stack, res, spec, ours) in [(&s3, &s3_res, &s3_spec, s3_ours), (&sc, &sc_res, &catalog_spec, sc_ours)] {
        let diff = diff(&spec.name, res, &spec.template)?;
        deleted.extend(diff.removed.iter().cloned());
        let unchanged = ours && stacks::plan(ctx, &spec.spec(), Some(stack)).await? == stacks::Plan::Unchanged;
        stack_plans.push(StackPlan {
            name: spec.name.clone(),
            status: status(stack),
            action: if unchanged {
                "unchanged"
            } else if ours {
                "update"
            } else {
                "adopt"
            }
            .into(),
            ..diff
        });
    }

    policies_used_elsewhere(ctx, &[&s3_res, &sc_res]).await?;

    Ok(Plan {
        dry_run,
        stacks: stack_plans,
        exports: export_plans,
        deleted_policies: deleted,
        product_id,
        portfolio_id,
        principals,
        legacy_artifact,
        new_artifact: version,
        template: versions.key,
        notebooks,
        notebooks_on_legacy_artifact: on_legacy,
        users: provisioned.iter().filter_map(|p| p.user.clone()).collect(),
        result: None,
        versions_marked: Vec::new(),
        s3_spec: Some(s3_spec),
        catalog_spec: Some(catalog_spec),
        bucket,
        product_template: product_template.to_owned(),
    })
}

/// Deleting a managed policy detaches it from everything first (AWS::IAM::ManagedPolicy
/// handlers.delete.permissions), so a policy someone attached to another role, a user or a group
/// would silently take their permissions away: stop and name them (ListEntitiesForPolicy). Only
/// the sample's own roles may hold them.
async fn policies_used_elsewhere(ctx: &Context, deployed: &[&Vec<stacks::Resource>]) -> Result<()> {
    let all = deployed.iter().flat_map(|r| r.iter());
    let own_roles: Vec<String> = all
        .clone()
        .filter(|r| r.kind == "AWS::IAM::Role")
        .map(|r| format!("role/{}", r.physical_id.rsplit('/').next().unwrap_or(&r.physical_id)))
        .collect();
    let mut elsewhere = Vec::new();
    for policy in all.filter(|r| r.kind == "AWS::IAM::ManagedPolicy" && REMOVABLE.contains(&r.logical_id.as_str())) {
        for entity in crate::aws::iam::policy_attachments(ctx, &policy.physical_id).await? {
            if !own_roles.contains(&entity) {
                let name = policy.physical_id.rsplit('/').next().unwrap_or(&policy.physical_id);
                elsewhere.push(format!("{name} -> {entity}"));
            }
        }
    }
    if !elsewhere.is_empty() {
        bail!(stop(format!(
            "adoption deletes the sample's managed policies, and some are also attached outside the deployment              ({}): deleting them would take those permissions away; detach them first (or copy what those              principals need into a policy of their own)",
            elsewhere.join(", ")
        )));
    }
    Ok(())
}

fn check_shape(stack: &str, res: &[stacks::Resource], shape: &[(&str, &str)]) -> Result<()> {
    for (id, kind) in shape {
        match res.iter().find(|r| r.logical_id == *id) {
            Some(r) if r.kind == *kind => {}
            Some(r) => bail!(stop(format!(
                "stack {stack}: resource {id} is a {}, not a {kind}: this is not the AWS blog sample's deployment",
                r.kind
            ))),
            None => bail!(stop(format!(
                "stack {stack} has no resource {id} ({kind}): this is not the AWS blog sample's deployment \
                 (or it was changed); adoption only takes over that shape"
            ))),
        }
    }
    Ok(())
}

/// A resource the adopted template declares without a name must not have a custom name in the
/// deployed template (the name is create-only: leaving it out would replace the resource). Read
/// from the deployed template (GetTemplate); when that has no such resource block, from the
/// physical name (see [`generated_name`]).
fn no_custom_name(stack: &str, deployed: Option<&str>, logical_id: &str, property: &str, physical: &str) -> Result<()> {
    match deployed.and_then(|t| crate::plan::update::resource_text(t, logical_id)) {
        Some(text) if crate::plan::update::sets_property(&text, property) => bail!(stop(format!(
            "stack {stack}: {logical_id} sets {property} ({physical}); the adopted template declares no name, and \
             {property} is create-only, so the resource would be replaced"
        ))),
        Some(_) => Ok(()),
        None => generated_name(stack, logical_id, physical),
    }
}

/// A resource the adopted template declares without a name must have a name CloudFormation
/// generated (`<stack>-<logical id>-<suffix>`, S3 in lower case): a custom name is create-only
/// and leaving it out would replace the resource.
fn generated_name(stack: &str, logical_id: &str, physical: &str) -> Result<()> {
    let prefix = format!("{stack}-{logical_id}-");
    if physical.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()) {
        return Ok(());
    }
    bail!(stop(format!(
        "stack {stack}: {logical_id} is named {physical:?}, not a name CloudFormation generated: the adopted template \
         declares no name, and the name is create-only, so the resource would be replaced"
    )))
}

/// The deployed resources against the adopted template: kept (same logical ID and type), added,
/// removed. A removal other than the sample's managed policies, or a type change (a replacement),
/// stops the adoption.
pub fn diff(stack: &str, deployed: &[stacks::Resource], template: &str) -> Result<StackPlan> {
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

/// Stack policy in force during the adoption update only: no replacement anywhere, no deletion
/// of what the notebooks use. AWS's own guard, should the local checks ever be wrong.
pub fn stack_policy(protected: &[&str]) -> String {
    let resources: Vec<String> = protected.iter().map(|id| format!("LogicalResourceId/{id}")).collect();
    serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "Update:Replace", "Principal": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "Update:Delete", "Principal": "*", "Resource": resources},
        ]
    })
    .to_string()
}

const S3_PROTECTED: &[&str] = &["S3Bucket", "SageMakerNotebookInstanceRole"];
const CATALOG_PROTECTED: &[&str] = &[
    "ServiceCatalogExecutionRole",
    "AppServicesPortfolio",
    "SageMakerNotebookProduct",
    "CoreBuildToolsProductAssoc",
    "CoreBuildToolsProductConstraint",
    "UserPortfolioProductAssoc",
    "PortfolioProductAssoc",
];

/// The writes: the product template under its own key, then each stack updated in place (tagged
/// ours, flavour adopted-blog), the notebook role's stack first.
pub async fn apply(ctx: &Context, plan: &mut Plan, deadline: Deadline) -> Result<()> {
    if crate::aws::objects::compare(ctx, &plan.bucket, &plan.template, &plan.product_template).await?
        != crate::aws::objects::Compared::Same
    {
        ctx.progress.line(format!("uploading the product template to s3://{}/{}", plan.bucket, plan.template));
        crate::aws::objects::upload(ctx, &plan.bucket, &plan.template, &plan.product_template).await?;
    }
    let specs = [
        (plan.s3_spec.clone().expect("planned"), S3_PROTECTED),
        (plan.catalog_spec.clone().expect("planned"), CATALOG_PROTECTED),
    ];
    for (i, (spec, protected)) in specs.iter().enumerate() {
        if plan.stacks[i].action == "unchanged" {
            continue;
        }
        stacks::adopt_update(ctx, &spec.spec(), ADOPTED_BLOG, &stack_policy(protected), deadline).await?;
    }
    // notebook-vend's version is the one new launches use; the sample's stays for its notebooks.
    plan.versions_marked = catalog::set_current_version(ctx, &plan.product_id, &plan.new_artifact, false).await?;
    plan.result = Some("adopted: both stacks are notebook-vend's (flavour adopted-blog)".into());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(id: &str, kind: &str, physical: &str) -> stacks::Resource {
        stacks::Resource {
            logical_id: id.into(),
            physical_id: physical.into(),
            kind: kind.into(),
            status: "CREATE_COMPLETE".into(),
        }
    }

    #[test]
    fn adopted_templates_declare_the_samples_resources() {
        let s3 = template_resources(S3_TEMPLATE);
        assert!(s3.contains(&("SageMakerNotebookInstanceRole".into(), "AWS::IAM::Role".into())), "{s3:?}");
        assert!(s3.contains(&("S3Bucket".into(), "AWS::S3::Bucket".into())), "{s3:?}");
        let sc = template_resources(CATALOG_TEMPLATE);
        for (id, kind) in CATALOG_SHAPE.iter().chain(S3_SHAPE.iter().filter(|_| false)) {
            assert!(sc.contains(&((*id).into(), (*kind).into())), "{id}: {sc:?}");
        }
        for id in CATALOG_PROTECTED {
            assert!(sc.iter().any(|(l, _)| l == id), "{id}");
        }
        assert!(sc.iter().any(|(l, _)| l == "NotebookCloudWatchLogGroup"));
    }

    #[test]
    fn the_diff_removes_only_the_managed_policies_and_never_replaces() {
        let deployed = vec![
            res("S3Bucket", "AWS::S3::Bucket", "s3-iam-config-s3bucket-abc"),
            res("SageMakerNotebookInstanceRole", "AWS::IAM::Role", "SageMakerNotebookInstanceRole"),
            res("SMNotebookPolicy", "AWS::IAM::ManagedPolicy", "arn:aws:iam::1:policy/SMNotebookPolicy"),
        ];
        let d = diff("s3-iam-config", &deployed, S3_TEMPLATE).unwrap();
        assert_eq!(d.removed, vec!["SMNotebookPolicy".to_string()]);
        assert_eq!(d.added, vec!["S3BucketPolicy".to_string()]);
        assert_eq!(d.kept.len(), 2);

        let mut other = deployed.clone();
        other.push(res("Extra", "AWS::SNS::Topic", "t"));
        let e = diff("s3-iam-config", &other, S3_TEMPLATE).unwrap_err().to_string();
        assert!(e.contains("Extra") && e.contains("would be deleted"), "{e}");

        let retyped = vec![res("S3Bucket", "AWS::S3::AccessPoint", "x")];
        let e = diff("s3-iam-config", &retyped, S3_TEMPLATE).unwrap_err().to_string();
        assert!(e.contains("would be replaced"), "{e}");
    }

    #[test]
    fn a_custom_name_where_the_template_declares_none_stops() {
        assert!(generated_name("s3-iam-config", "S3Bucket", "s3-iam-config-s3bucket-1x2y").is_ok());
        let e = generated_name("s3-iam-config", "S3Bucket", "my-bucket").unwrap_err().to_string();
        assert!(e.contains("create-only"), "{e}");
    }

    #[test]
    fn a_name_set_in_the_deployed_template_stops_and_a_generated_one_does_not() {
        let blog =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/blog/templates/s3-iam-config.yml"));
        assert!(no_custom_name("s3-iam-config", Some(blog), "S3Bucket", "BucketName", "any-name").is_ok());
        let named = blog.replace(
            "    Properties:\n      BucketEncryption:",
            "    Properties:\n      BucketName: mine\n      BucketEncryption:",
        );
        assert_ne!(named, blog);
        let e = no_custom_name("s3-iam-config", Some(&named), "S3Bucket", "BucketName", "mine").unwrap_err();
        assert!(e.to_string().contains("create-only"), "{e}");
        // no template: the physical name decides
        assert!(no_custom_name("s3-iam-config", None, "S3Bucket", "BucketName", "mine").is_err());
    }

    #[test]
    fn the_stack_policy_denies_replacement_and_deletion_of_the_kept_resources() {
        let p: serde_json::Value = serde_json::from_str(&stack_policy(S3_PROTECTED)).unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert!(st.iter().any(|s| s["Effect"] == "Deny" && s["Action"] == "Update:Replace" && s["Resource"] == "*"));
        let del = st.iter().find(|s| s["Action"] == "Update:Delete").unwrap();
        assert_eq!(del["Resource"][1], "LogicalResourceId/SageMakerNotebookInstanceRole");
    }
}
