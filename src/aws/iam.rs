//! IAM reads beyond the caller's own identity (which `context` resolves): who a customer managed
//! policy is attached to, so that `bootstrap --adopt` never deletes a policy someone else uses.

use anyhow::Result;

use crate::aws::context::Context;
use crate::error::AwsResultExt;

/// What a managed policy is attached to, as `role/<name>`, `user/<name>`, `group/<name>`
/// (ListEntitiesForPolicy, every page).
pub async fn policy_attachments(ctx: &Context, policy_arn: &str) -> Result<Vec<String>> {
    let pages: Vec<_> = ctx
        .iam
        .list_entities_for_policy()
        .policy_arn(policy_arn)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws(|| format!("listing what policy {policy_arn} is attached to"))?;
    let mut out = Vec::new();
    for page in &pages {
        out.extend(page.policy_roles().iter().filter_map(|r| r.role_name()).map(|n| format!("role/{n}")));
        out.extend(page.policy_users().iter().filter_map(|u| u.user_name()).map(|n| format!("user/{n}")));
        out.extend(page.policy_groups().iter().filter_map(|g| g.group_name()).map(|n| format!("group/{n}")));
    }
    Ok(out)
}
