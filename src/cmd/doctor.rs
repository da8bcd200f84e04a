//! `doctor`: check that this caller can use this deployment, one line per check with a fix.
//! Read-only; exit 1 when any check fails.

use std::fmt;

use anyhow::{bail, Result};
use aws_sdk_cloudformation::types::{Stack, StackStatus};
use serde::Serialize;

use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::objects;
use crate::aws::stacks;
use crate::plan::adopt;
use crate::plan::templates::{self, Sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Check>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for (i, c) in self.checks.iter().enumerate() {
            let status = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            write!(f, "{status}  {:<width$}  {}", c.name, c.detail)?;
            if let Some(fix) = &c.fix {
                write!(f, "\n      {:<width$}  fix: {fix}", "")?;
            }
            if i + 1 < self.checks.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

fn check(name: impl Into<String>, status: Status, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check { name: name.into(), status, detail: detail.into(), fix }
}

const BOOTSTRAP: &str = "notebook-vend bootstrap";

pub async fn run(ctx: &Context) -> Result<()> {
    let mut checks = vec![credentials(ctx).await, check("region", Status::Ok, ctx.region.clone(), None)];
    let embedded = Sources::default();
    let deployed = stack_checks(ctx, &embedded, &mut checks).await?;
    let product_template = embedded.template(templates::PRODUCT)?;
    checks.push(match &deployed.bucket {
        None => check(
            "product template",
            Status::Fail,
            "no bucket (the s3-iam stack is missing or has no S3BucketName output)",
            Some(BOOTSTRAP.into()),
        ),
        Some(bucket) => {
            let key = deployed.product_key.as_deref().unwrap_or(templates::PRODUCT);
            product_object(ctx, bucket, key, &product_template).await
        }
    });
    checks.push(product(ctx).await);
    checks.push(ssm_prefix(ctx).await);
    checks.push(owner_tags_check(ctx).await);
    // Serverless mode's stack, when there is one.
    for (name, ok, detail, fix) in crate::cmd::shared::serverless::doctor(ctx).await? {
        checks.push(check(name, if ok { Status::Ok } else { Status::Fail }, detail, if ok { None } else { fix }));
    }

    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    crate::output::emit(ctx.output, &Report { ok: failed == 0, checks })?;
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// Whose credentials these are; everything after needs them.
async fn credentials(ctx: &Context) -> Check {
    match ctx.caller().await {
        Ok(caller) => check("credentials", Status::Ok, caller.arn.clone(), None),
        Err(e) => check(
            "credentials",
            Status::Fail,
            format!("{e:#}"),
            Some("configure credentials: `aws configure`, `aws sso login`, or --profile".into()),
        ),
    }
}

/// What the stacks tell the later checks.
#[derive(Default)]
struct Deployed {
    /// The bootstrap bucket (the s3-iam stack's S3BucketName output).
    bucket: Option<String>,
    /// Where the catalog stack reads the product template (its ServiceCatalogTemplateName parameter).
    product_key: Option<String>,
}

/// Both stacks: each one's status, then its template against this binary's.
async fn stack_checks(ctx: &Context, embedded: &Sources, checks: &mut Vec<Check>) -> Result<Deployed> {
    let mut deployed = Deployed::default();
    for (stack, template) in [(&ctx.names.s3_stack, templates::S3_IAM), (&ctx.names.catalog_stack, templates::CATALOG)]
    {
        let name = format!("stack {stack}");
        match stacks::describe(ctx, stack).await {
            Ok(None) => checks.push(check(name, Status::Fail, "missing", Some(BOOTSTRAP.into()))),
            Err(e) => checks.push(check(name, Status::Fail, format!("{e:#}"), None)),
            Ok(Some(s)) => {
                if stack == &ctx.names.s3_stack {
                    deployed.bucket = s
                        .outputs()
                        .iter()
                        .find(|o| o.output_key() == Some("S3BucketName"))
                        .and_then(|o| o.output_value())
                        .map(str::to_owned);
                }
                checks.push(stack_status(name, stack, &s));
                if stack == &ctx.names.catalog_stack {
                    deployed.product_key = s
                        .parameters()
                        .iter()
                        .find(|p| p.parameter_key() == Some("ServiceCatalogTemplateName"))
                        .and_then(|p| p.parameter_value())
                        .map(str::to_owned);
                }
                checks.push(stack_template(ctx, stack, template, embedded, &s).await?);
            }
        }
    }
    Ok(deployed)
}

/// A stack is healthy once created or updated; otherwise the fix is bootstrap, or the recovery a
/// state bootstrap cannot deploy over names.
fn stack_status(name: String, stack: &str, s: &Stack) -> Check {
    let status = s.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
    let healthy = matches!(s.stack_status(), Some(StackStatus::CreateComplete | StackStatus::UpdateComplete));
    let blocked = s.stack_status().and_then(|st| stacks::blocked(stack, st));
    let fix = match (healthy, blocked) {
        (true, _) => None,
        (false, Some(why)) => Some(why),
        (false, None) => Some(BOOTSTRAP.to_owned()),
    };
    check(name, if healthy { Status::Ok } else { Status::Fail }, status, fix)
}

/// The deployed template against the one this binary would deploy (the adopted flavour's for a
/// deployment taken over by `bootstrap --adopt`); a stack another tool deployed is only a warning.
async fn stack_template(ctx: &Context, stack: &str, template: &str, embedded: &Sources, s: &Stack) -> Result<Check> {
    Ok(match stacks::is_ours(ctx, s).await {
        Ok(true) if stacks::flavour(s) == stacks::ADOPTED_BLOG => {
            let adopted = if template == templates::S3_IAM { adopt::S3_TEMPLATE } else { adopt::CATALOG_TEMPLATE };
            drift(ctx, stack, adopted).await
        }
        Ok(true) => drift(ctx, stack, &embedded.template(template)?).await,
        // Not ours (the blog sample's deployment): commands work on it; a drift FAIL
        // would send the user to a bootstrap that refuses it.
        Ok(false) => check(
            format!("template {stack}"),
            Status::Warn,
            "deployed by another tool (the AWS blog sample's shape?); notebook-vend uses it as it is \
             and `bootstrap` leaves it alone",
            Some(
                "`notebook-vend bootstrap --adopt --dry-run` shows how it is taken over in place, \
                 `notebook-vend bootstrap --adopt` does it (README \"Moving from the blog's deployment\")"
                    .into(),
            ),
        ),
        Err(e) => check(format!("template {stack}"), Status::Fail, format!("{e:#}"), None),
    })
}

/// The product this caller can launch, with its launch path and newest version.
async fn product(ctx: &Context) -> Check {
    match catalog::resolve_product(ctx).await {
        Ok(p) => check(
            "product",
            Status::Ok,
            format!(
                "{} ({}), launch path {}, artifact {} ({})",
                p.name, p.id, p.path_id, p.artifact_id, p.artifact_name
            ),
            None,
        ),
        Err(e) => check(
            "product",
            Status::Fail,
            format!("{e:#}"),
            Some(format!("{BOOTSTRAP} --principal <your IAM principal ARN>")),
        ),
    }
}

/// Whether the URL parameters under the prefix can be listed.
async fn ssm_prefix(ctx: &Context) -> Check {
    let prefix = &ctx.names.ssm_prefix;
    match crate::aws::urls::list_metadata(ctx).await {
        Ok(found) => {
            check("ssm prefix", Status::Ok, format!("{prefix} readable, {} URL parameter(s)", found.len()), None)
        }
        Err(e) => check("ssm prefix", Status::Fail, format!("{e:#}"), Some(ssm_fix(prefix))),
    }
}

/// Notebooks (`<user>-Notebook`) without the owner tag `policy end-user` matches: their users are
/// denied their own notebook until `watch` (or `bootstrap --adopt`) adds it.
async fn owner_tags_check(ctx: &Context) -> Check {
    let tag = crate::names::identity::OWNER_TAG;
    let notebooks = match crate::aws::notebook::list_by_name(ctx).await {
        Ok(n) => n,
        Err(e) => return check("owner tags", Status::Warn, format!("notebooks not listed: {e:#}"), None),
    };
    let mut missing = Vec::new();
    for nb in notebooks.values() {
        let Some(arn) = &nb.arn else { continue };
        match crate::aws::owner_tags::owner_of(ctx, arn).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(nb.name.clone()),
            Err(e) => return check("owner tags", Status::Warn, format!("{e:#}"), None),
        }
    }
    if missing.is_empty() {
        return check("owner tags", Status::Ok, format!("{} notebook(s), each tagged {tag}", notebooks.len()), None);
    }
    check(
        "owner tags",
        Status::Warn,
        format!("{} notebook(s) without the {tag} tag, denied to their users: {}", missing.len(), missing.join(", ")),
        Some("run `notebook-vend watch --once` as an operator: it tags them with their users".into()),
    )
}

/// What to grant when the URL parameters cannot be listed. ssm:DescribeParameters has no
/// resource-level permissions (Service Authorization Reference, Systems Manager: its resource is
/// `*`), so a grant scoped to the prefix never allows it.
fn ssm_fix(prefix: &str) -> String {
    format!(
        "allow ssm:DescribeParameters on resource \"*\" (it has no resource-level permissions), and \
         ssm:GetParameter on arn:aws:ssm:<region>:<account>:parameter{prefix}*; `notebook-vend policy end-user` \
         prints the whole policy"
    )
}

/// The deployed template against the one built into this binary.
/// The catalog stack also lists the product's earlier versions, which bootstrap adds to the
/// template it deploys: compared with this binary's template plus the versions the deployed one lists.
async fn drift(ctx: &Context, stack: &str, embedded: &str) -> Check {
    let name = format!("template {stack}");
    let deployed = stacks::deployed_template(ctx, stack).await;
    let expected = |deployed: &str| {
        templates::with_earlier_versions(embedded, &templates::listed_versions(deployed))
            .unwrap_or_else(|_| embedded.to_owned())
    };
    match deployed {
        Ok(Some(t)) if t.trim_end() == expected(&t).trim_end() => {
            check(name, Status::Ok, "same as this binary's", None)
        }
        Ok(_) => check(
            name,
            Status::Fail,
            "differs from this binary's (drift, or deployed with --templates)",
            Some(format!("{BOOTSTRAP} (or {BOOTSTRAP} --templates DIR if that was intended)")),
        ),
        Err(e) => check(name, Status::Fail, format!("{e:#}"), None),
    }
}

/// The product template object, at the key the catalog stack reads it from (its parameter
/// ServiceCatalogTemplateName: `notebook-vend/sm-notebook.yml` after an adoption).
async fn product_object(ctx: &Context, bucket: &str, key: &str, body: &str) -> Check {
    let name = "product template";
    match objects::compare(ctx, bucket, key, body).await {
        Ok(objects::Compared::Same) => {
            check(name, Status::Ok, format!("s3://{bucket}/{key}, same as this binary's"), None)
        }
        Ok(objects::Compared::Differs) => {
            check(name, Status::Warn, format!("s3://{bucket}/{key} differs from this binary's"), Some(BOOTSTRAP.into()))
        }
        Ok(objects::Compared::Missing) => {
            check(name, Status::Fail, format!("s3://{bucket}/{key} is missing"), Some(BOOTSTRAP.into()))
        }
        Err(e) => check(name, Status::Fail, format!("{e:#}"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssm_advice_names_resource_star_for_describe_parameters() {
        let fix = ssm_fix("/SageMaker/Notebooks/");
        assert!(fix.contains("ssm:DescribeParameters on resource \"*\""), "{fix}");
        assert!(fix.contains("parameter/SageMaker/Notebooks/*"), "{fix}");
    }
}
