//! `bootstrap --adopt`: take the AWS blog sample's deployment over in place. The checks
//! (checks.rs) and the plan (plan.rs) are read-only; apply.rs writes.
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

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::stacks::StackSpec;

mod apply;
pub mod checks;
mod plan;

pub use apply::apply;
pub use plan::plan;

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

/// A stop before any write: what was found and what to do (exit 1).
fn stop(why: impl fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("bootstrap --adopt stopped before writing anything: {why}")
}

#[cfg(test)]
mod tests {
    use super::apply::{stack_policy, CATALOG_PROTECTED, S3_PROTECTED};
    use super::checks::{generated_name, no_custom_name, CATALOG_SHAPE, S3_SHAPE};
    use super::plan::diff;
    use super::*;
    use crate::aws::stacks;

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
        // The bucket policy, and the execution role `schedule`'s schedules run as.
        assert_eq!(d.added, vec!["S3BucketPolicy".to_string(), "SchedulerExecutionRole".to_string()]);
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
