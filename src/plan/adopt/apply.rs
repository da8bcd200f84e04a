//! The writes of `bootstrap --adopt`, once the plan holds: the product template under its own key,
//! then each stack updated in place under a stack policy that forbids replacement and deletion.

use anyhow::Result;

use super::Plan;
use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::objects;
use crate::aws::poll::Deadline;
use crate::aws::stacks::{self, ADOPTED_BLOG};

/// Stack policy in force during the adoption update only: no replacement anywhere, no deletion
/// of what the notebooks use. AWS's own guard, should the local checks ever be wrong.
pub(super) fn stack_policy(protected: &[&str]) -> String {
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

pub(super) const S3_PROTECTED: &[&str] = &["S3Bucket", "SageMakerNotebookInstanceRole"];
pub(super) const CATALOG_PROTECTED: &[&str] = &[
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
    if objects::compare(ctx, &plan.bucket, &plan.template, &plan.product_template).await? != objects::Compared::Same {
        ctx.progress.line(format!("uploading the product template to s3://{}/{}", plan.bucket, plan.template));
        objects::upload(ctx, &plan.bucket, &plan.template, &plan.product_template).await?;
    }
    let specs = [(plan.s3_spec.as_ref(), S3_PROTECTED), (plan.catalog_spec.as_ref(), CATALOG_PROTECTED)];
    for (i, (spec, protected)) in specs.into_iter().enumerate() {
        let Some(spec) = spec else { anyhow::bail!("the adoption plan has no stack specs: plan before applying") };
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
