//! The checks of `bootstrap --adopt`: every case CloudFormation would refuse, or in which the
//! adopted templates would replace or remove something the notebooks use, stops here, before any
//! write. All read-only.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use aws_sdk_cloudformation::types::{Stack, StackStatus};

use super::{stop, ExportPlan, REMOVABLE};
use crate::aws::context::Context;
use crate::aws::stacks::{self, ADOPTED_BLOG};
use crate::plan::template;

/// The two stacks as deployed, with what the plan reads from them.
pub struct Deployed {
    pub s3: Stack,
    pub sc: Stack,
    /// Already adopted (tagged ours, flavour adopted-blog): an adoption run again.
    pub s3_ours: bool,
    pub sc_ours: bool,
    pub s3_res: Vec<stacks::Resource>,
    pub sc_res: Vec<stacks::Resource>,
    pub s3_params: BTreeMap<String, String>,
    pub sc_params: BTreeMap<String, String>,
    pub s3_outputs: BTreeMap<String, (String, Option<String>)>,
    pub sc_outputs: BTreeMap<String, (String, Option<String>)>,
    pub s3_template: Option<String>,
    pub sc_template: Option<String>,
}

impl Deployed {
    /// The physical ID of a resource of one of the stacks, or "" when it has none.
    pub fn physical(res: &[stacks::Resource], id: &str) -> String {
        res.iter().find(|r| r.logical_id == id).map(|r| r.physical_id.clone()).unwrap_or_default()
    }
}

/// Resources a deployment must have to be the sample's shape (logical ID, type).
pub(super) const S3_SHAPE: &[(&str, &str)] =
    &[("S3Bucket", "AWS::S3::Bucket"), ("SageMakerNotebookInstanceRole", "AWS::IAM::Role")];
pub(super) const CATALOG_SHAPE: &[(&str, &str)] = &[
    ("ServiceCatalogExecutionRole", "AWS::IAM::Role"),
    ("AppServicesPortfolio", "AWS::ServiceCatalog::Portfolio"),
    ("SageMakerNotebookProduct", "AWS::ServiceCatalog::CloudFormationProduct"),
    ("CoreBuildToolsProductAssoc", "AWS::ServiceCatalog::PortfolioProductAssociation"),
    ("CoreBuildToolsProductConstraint", "AWS::ServiceCatalog::LaunchRoleConstraint"),
    ("UserPortfolioProductAssoc", "AWS::ServiceCatalog::PortfolioPrincipalAssociation"),
];

/// The adopted templates' exports, (output key, export name suffix after `<stack>`).
const S3_EXPORTS: &[(&str, &str)] = &[
    ("S3BucketWebsiteURL", "-Bucket-URL"),
    ("S3BucketArn", "-Bucket-ARN"),
    ("S3BucketName", "-Bucket-Name"),
    ("SageMakerNotebookInstanceRoleARN", "-SageMakerNotebookInstanceRole-ARN"),
];
const CATALOG_EXPORTS: &[(&str, &str)] = &[("ServiceCatalogExecutionRoleArn", "-SMNotebookRole-ARN")];

/// Both stacks exist, neither is a deployment of notebook-vend's own flavour, both are in a state
/// an update may start from, and both have the sample's resources.
pub async fn deployed_stacks(ctx: &Context) -> Result<Deployed> {
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
    Ok(Deployed {
        s3_params: params_of(&s3),
        sc_params: params_of(&sc),
        s3_outputs: outputs_of(&s3),
        sc_outputs: outputs_of(&sc),
        s3_template: stacks::deployed_template(ctx, &names.s3_stack).await?,
        sc_template: stacks::deployed_template(ctx, &names.catalog_stack).await?,
        s3,
        sc,
        s3_ours,
        sc_ours,
        s3_res,
        sc_res,
    })
}

/// The notebook role's stack: the role keeps its exact name and path, the bucket its generated
/// name. Returns (role name, bucket).
pub fn notebook_stack(stack: &str, d: &Deployed) -> Result<(String, String)> {
    let role_name = d.s3_params.get("SageMakerNotebookInstanceRoleName").cloned().unwrap_or_default();
    let role_physical = Deployed::physical(&d.s3_res, "SageMakerNotebookInstanceRole");
    if role_name.is_empty() || role_physical != role_name {
        bail!(stop(format!(
            "stack {stack}: the notebook role is {role_physical:?} but the parameter SageMakerNotebookInstanceRoleName is \
             {role_name:?}; the adopted template names the role from that parameter, so the role would be replaced"
        )));
    }
    let role_arn = d.s3_outputs.get("SageMakerNotebookInstanceRoleARN").map(|o| o.0.clone()).unwrap_or_default();
    if !role_arn.ends_with(&format!(":role/{role_name}")) {
        bail!(stop(format!(
            "stack {stack}: the notebook role's ARN {role_arn:?} is not at path / (RoleName and Path are create-only: \
             the adopted template keeps Path /)"
        )));
    }
    let bucket = Deployed::physical(&d.s3_res, "S3Bucket");
    no_custom_name(stack, d.s3_template.as_deref(), "S3Bucket", "BucketName", &bucket)?;
    Ok((role_name, bucket))
}

/// The catalog stack: the launch role keeps its name and path, the log group its generated name,
/// and the stack's parameters agree with the notebook role's stack and with `--principal`.
/// Returns the portfolio's principal as the stack deployed it.
pub fn catalog_stack(ctx: &Context, d: &Deployed, bucket: &str, principal: Option<&str>) -> Result<String> {
    let names = &ctx.names;
    let stack = &names.catalog_stack;
    let launch_arn = d.sc_outputs.get("ServiceCatalogExecutionRoleArn").map(|o| o.0.clone()).unwrap_or_default();
    if Deployed::physical(&d.sc_res, "ServiceCatalogExecutionRole") != "ServiceCatalogExecutionRole"
        || !launch_arn.ends_with(":role/service-role/ServiceCatalogExecutionRole")
    {
        bail!(stop(format!(
            "stack {stack}: the launch role is not ServiceCatalogExecutionRole at path /service-role/ (ARN {launch_arn:?}); \
             the adopted template keeps that name and path, so it would replace the role"
        )));
    }
    if let Some(lg) = d.sc_res.iter().find(|r| r.logical_id == "NotebookCloudWatchLogGroup") {
        no_custom_name(stack, d.sc_template.as_deref(), "NotebookCloudWatchLogGroup", "LogGroupName", &lg.physical_id)?;
    }
    let deployed_bucket = d.sc_params.get("S3BucketName").cloned().unwrap_or_default();
    if deployed_bucket != bucket {
        bail!(stop(format!(
            "stack {stack}: parameter S3BucketName is {deployed_bucket:?}, not the bucket of stack {} ({bucket})",
            names.s3_stack
        )));
    }
    let s3_name_param = d.sc_params.get("S3IAMConfigStackName").cloned().unwrap_or_default();
    if s3_name_param != names.s3_stack {
        bail!(stop(format!(
            "stack {stack}: parameter S3IAMConfigStackName is {s3_name_param:?}, not {}",
            names.s3_stack
        )));
    }
    let deployed_principal = d.sc_params.get("UserIAMPrincipal").cloned().unwrap_or_default();
    if let Some(p) = principal.filter(|p| *p != deployed_principal) {
        bail!(stop(format!(
            "--principal {p} differs from the portfolio's principal {deployed_principal}: adoption keeps the \
             portfolio's principals (PrincipalARN is create-only, another value would replace the association); \
             run `notebook-vend bootstrap --adopt` without --principal"
        )));
    }
    Ok(deployed_principal)
}

/// Every export of the two stacks that is imported must stay, under the same key: CloudFormation
/// refuses to change or remove an export in use (using-cfn-stack-exports.html).
pub async fn exports(ctx: &Context, d: &Deployed) -> Result<Vec<ExportPlan>> {
    let exports = stacks::exports(ctx).await?;
    let mut plans = Vec::new();
    for (stack, outputs, declared) in [(&d.s3, &d.s3_outputs, S3_EXPORTS), (&d.sc, &d.sc_outputs, CATALOG_EXPORTS)] {
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
            plans.push(ExportPlan {
                name: e.name.clone(),
                imported_by,
                outcome: if kept { "kept" } else { "removed" }.into(),
            });
        }
    }
    Ok(plans)
}

/// Deleting a managed policy detaches it from everything first (AWS::IAM::ManagedPolicy
/// handlers.delete.permissions), so a policy someone attached to another role, a user or a group
/// would silently take their permissions away: stop and name them (ListEntitiesForPolicy). Only
/// the sample's own roles may hold them.
pub async fn policies_used_elsewhere(ctx: &Context, deployed: &[&Vec<stacks::Resource>]) -> Result<()> {
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
            "adoption deletes the sample's managed policies, and some are also attached outside the deployment \
             ({}): deleting them would take those permissions away; detach them first (or copy what those \
             principals need into a policy of their own)",
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
pub(super) fn no_custom_name(
    stack: &str,
    deployed: Option<&str>,
    logical_id: &str,
    property: &str,
    physical: &str,
) -> Result<()> {
    let parsed = deployed.and_then(|t| template::parse(t).ok());
    match parsed.as_ref().and_then(|t| t.sets_property(logical_id, property)) {
        Some(true) => bail!(stop(format!(
            "stack {stack}: {logical_id} sets {property} ({physical}); the adopted template declares no name, and \
             {property} is create-only, so the resource would be replaced"
        ))),
        Some(false) => Ok(()),
        None => generated_name(stack, logical_id, physical),
    }
}

/// A resource the adopted template declares without a name must have a name CloudFormation
/// generated (`<stack>-<logical id>-<suffix>`, S3 in lower case): a custom name is create-only
/// and leaving it out would replace the resource.
pub(super) fn generated_name(stack: &str, logical_id: &str, physical: &str) -> Result<()> {
    let prefix = format!("{stack}-{logical_id}-");
    if physical.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()) {
        return Ok(());
    }
    bail!(stop(format!(
        "stack {stack}: {logical_id} is named {physical:?}, not a name CloudFormation generated: the adopted template \
         declares no name, and the name is create-only, so the resource would be replaced"
    )))
}

/// Is this stack in a state an adoption may update? CREATE_COMPLETE, UPDATE_COMPLETE, or
/// UPDATE_ROLLBACK_COMPLETE (an earlier update, e.g. a failed adoption, rolled back cleanly).
fn stable(stack: &Stack) -> bool {
    matches!(
        stack.stack_status(),
        Some(StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::UpdateRollbackComplete)
    )
}

pub fn status(stack: &Stack) -> String {
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
