//! Every name derived from a user, and the validation rules AWS would otherwise enforce late.
//!
//! A user `U` owns notebook instance `U-Notebook` (the blog's name), provisioned product
//! `U-Notebook` and SSM parameter `<prefix>U-Notebook`.

use sha2::{Digest, Sha256};

/// Notebook names are at most 63 characters; `-Notebook` takes 9 of them.
pub const MAX_USER_LEN: usize = 63 - NOTEBOOK_SUFFIX.len();
pub const NOTEBOOK_SUFFIX: &str = "-Notebook";

/// `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`, at most 54 characters: `U-Notebook` is then a valid notebook name.
pub fn validate_user(user: &str) -> Result<(), String> {
    let allowed = "letters, digits and inner hyphens, at most 54 characters";
    if user.is_empty() {
        return Err(format!("user name is empty; allowed: {allowed}"));
    }
    if user.len() > MAX_USER_LEN {
        return Err(format!("user name {} is {} characters; allowed: {allowed}", crate::text::cut(user), user.len()));
    }
    if !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "user name {} has a character that is not allowed; allowed: {allowed}",
            crate::text::cut(user)
        ));
    }
    if user.starts_with('-') || user.ends_with('-') {
        return Err(format!("user name {} starts or ends with a hyphen; allowed: {allowed}", crate::text::cut(user)));
    }
    Ok(())
}

/// The user a notebook name belongs to, if it follows the `U-Notebook` convention.
pub fn user_of_notebook(notebook: &str) -> Option<&str> {
    notebook.strip_suffix(NOTEBOOK_SUFFIX).filter(|u| validate_user(u).is_ok())
}

/// Does `value` look like a presigned URL of `user`'s notebook: https, a host that starts with the
/// notebook's name (lower case, as SageMaker answers it) followed by `.notebook.`, and an
/// `authToken` in the query. What the parameter holds when a human or another tool wrote
/// something else there does not.
pub fn is_notebook_url(value: &str, user: &str) -> bool {
    let Some(rest) = value.strip_prefix("https://") else { return false };
    let (host, query) = match rest.split_once('?') {
        Some((h, q)) => (h.trim_end_matches('/'), q),
        None => return false,
    };
    let want = format!("{}.notebook.", notebook_name(user).to_lowercase());
    host.to_lowercase().starts_with(&want)
        && !host.contains(['/', '@', ' '])
        && query.split('&').any(|kv| kv.starts_with("authToken=") && kv.len() > "authToken=".len())
}

pub fn notebook_name(user: &str) -> String {
    format!("{user}{NOTEBOOK_SUFFIX}")
}

/// What a user's two schedules do to their notebook; each is named `<user>-<action>`.
pub const SCHEDULE_ACTIONS: [&str; 2] = ["start", "stop"];

/// A user's start or stop schedule in the deployment's schedule group (botocore `scheduler`: Name
/// 1..=64 of `[0-9a-zA-Z-_.]`; a user has at most 54 characters, so `<user>-start` fits).
pub fn schedule_name(user: &str, action: &str) -> String {
    format!("{user}-{action}")
}

/// Provisioned product names are unique per account; the notebook name is, too.
pub fn provisioned_product_name(user: &str) -> String {
    notebook_name(user)
}

pub fn parameter_name(prefix: &str, user: &str) -> String {
    format!("{prefix}{}", notebook_name(user))
}

/// Deterministic `ProvisionToken`: a re-run after a crash sends the same token, so Service Catalog
/// answers the first record instead of creating a second product. The day keeps a token from
/// pointing at a product terminated long ago; `after` is the id of the (terminated) provisioned
/// product that the previous token of the chain answered ("" for the first token), so every
/// provision/terminate cycle gets a new token, with no daily budget (see aws/catalog.rs).
pub fn provision_token(
    account: &str,
    product_id: &str,
    artifact_id: &str,
    user: &str,
    day: &str,
    after: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [account, product_id, artifact_id, user, day, after] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("nv-{}", &hex::encode(h.finalize())[..40])
}

/// IAM role names: at most 64 characters (IAM user guide, "IAM and AWS STS quotas"; botocore iam
/// CreateRole.RoleName max 64).
pub const IAM_ROLE_NAME_MAX: usize = 64;
/// EventBridge Scheduler schedule group names (botocore `scheduler` ScheduleGroupName: max 64).
pub const SCHEDULE_GROUP_NAME_MAX: usize = 64;
/// CloudFormation stack names: at most 128 characters (botocore cloudformation CreateStack.StackName).
pub const STACK_NAME_MAX: usize = 128;
/// Portfolio display names: at most 100 characters (botocore servicecatalog CreatePortfolio.DisplayName).
pub const PORTFOLIO_NAME_MAX: usize = 100;
/// Product names: at most 8191 characters (botocore servicecatalog CreateProduct.Name, ProductViewName).
pub const PRODUCT_NAME_MAX: usize = 8191;
/// The default suffix of the notebook role name in s3-iam-config.yml (SageMakerNotebookInstanceRoleName).
pub const DEFAULT_ROLE_SUFFIX: &str = "SageMakerNotebookInstanceRole";

/// The names a deployment derives, each checked against its AWS limit before any call, so that a
/// bootstrap never half-creates a deployment whose second stack fails on a name. Not checked:
/// the bucket and the launch role, whose names CloudFormation generates from the stack name and
/// trims to fit (CloudFormation user guide, "Name type": a generated physical ID), and the
/// notebook and lifecycle-config names, bounded by the user name (`validate_user`).
pub fn check_deployment_names(
    s3_stack: &str,
    catalog_stack: &str,
    role_suffix: &str,
    portfolio: Option<&str>,
    product: &str,
) -> Result<(), String> {
    let role = format!("{s3_stack}-{role_suffix}");
    // The Scheduler execution role (RoleName `${AWS::StackName}-scheduler`) and the schedule group
    // (botocore `scheduler` ScheduleGroupName: 1..=64), both named after the s3-iam stack.
    let scheduler_role = format!("{s3_stack}-scheduler");
    let group = format!("{s3_stack}-schedules");
    let checks = [
        (
            "IAM role name",
            role.as_str(),
            IAM_ROLE_NAME_MAX,
            "shorten --name or --s3-stack (or SageMakerNotebookInstanceRoleName)",
        ),
        ("IAM role name", scheduler_role.as_str(), IAM_ROLE_NAME_MAX, "shorten --name or --s3-stack"),
        ("schedule group name", group.as_str(), SCHEDULE_GROUP_NAME_MAX, "shorten --name or --s3-stack"),
        ("stack name", s3_stack, STACK_NAME_MAX, "shorten --s3-stack"),
        ("stack name", catalog_stack, STACK_NAME_MAX, "shorten --catalog-stack"),
        ("portfolio name", portfolio.unwrap_or(""), PORTFOLIO_NAME_MAX, "shorten --name or PortfolioName"),
        ("product name", product, PRODUCT_NAME_MAX, "shorten --product-name or --name"),
    ];
    for (what, name, max, fix) in checks {
        if name.chars().count() > max {
            return Err(format!(
                "{what} {name:?} would be {} characters; AWS allows at most {max}: {fix}",
                name.chars().count()
            ));
        }
    }
    Ok(())
}

/// Tag keys and values as AWS allows them (no reserved `aws:` prefix).
pub fn validate_tag(key: &str, value: &str) -> Result<(), String> {
    let charset = |s: &str| s.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c));
    if key.is_empty() || key.len() > 128 || !charset(key) {
        return Err(format!(
            "tag key {} must be 1..128 characters of letters, digits, spaces and _.:/=+-@",
            crate::text::cut(key)
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!("tag key {} uses the reserved prefix aws:", crate::text::cut(key)));
    }
    if value.len() > 256 || !charset(value) {
        return Err(format!(
            "tag value {} must be at most 256 characters of letters, digits, spaces and _.:/=+-@",
            crate::text::cut(value)
        ));
    }
    Ok(())
}

/// An IAM user, role or group ARN, as a portfolio principal association needs.
pub fn validate_principal(arn: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "principal {} must be an IAM ARN like arn:aws:iam::123456789012:role/NAME (user, role or group)",
            crate::text::cut(arn)
        )
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_lit, partition, service, region, account, resource] = parts[..] else { return Err(bad()) };
    let resource_ok = ["user/", "role/", "group/"].iter().any(|p| {
        resource.strip_prefix(p).is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        })
    });
    let ok = arn_lit == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource_ok;
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The role name of an assumed-role session ARN
/// (`arn:aws:sts::123456789012:assumed-role/Role/session` -> `Role`), or None.
pub fn role_of_session(caller_arn: &str) -> Option<&str> {
    let (_, rest) = caller_arn.split_once(":assumed-role/")?;
    rest.split('/').next().filter(|r| !r.is_empty())
}

/// The IAM principal for a caller identity when no lookup is possible: an assumed-role session
/// maps to its role, without its path (Context::principal reads the real ARN with iam:GetRole).
pub fn principal_from_caller(caller_arn: &str) -> String {
    // arn:aws:sts::123456789012:assumed-role/Role/session -> arn:aws:iam::123456789012:role/Role
    if let Some((head, rest)) = caller_arn.split_once(":assumed-role/") {
        let role = rest.split('/').next().unwrap_or(rest);
        return format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1));
    }
    // Some emulators answer an IAM user's identity in the sts namespace.
    if caller_arn.contains(":user/") {
        return caller_arn.replacen(":sts:", ":iam:", 1);
    }
    caller_arn.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn notebook_urls_are_recognized() {
        let ok = "https://pat-notebook.notebook.us-east-1.sagemaker.aws?authToken=eyJh";
        assert!(super::is_notebook_url(ok, "pat"));
        assert!(super::is_notebook_url(&ok.replace("pat-notebook", "Pat-Notebook"), "Pat"));
        for bad in [
            "hello",
            "http://pat-notebook.notebook.us-east-1.sagemaker.aws?authToken=x",
            "https://bob-notebook.notebook.us-east-1.sagemaker.aws?authToken=x",
            "https://pat-notebook.notebook.us-east-1.sagemaker.aws?authToken=",
            "https://pat-notebook.notebook.us-east-1.sagemaker.aws",
            "https://pat-notebook.notebook.evil.example@x.com?authToken=x",
        ] {
            assert!(!super::is_notebook_url(bad, "pat"), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn users() {
        for ok in ["a", "Demo-User", "a--b", "x9", &"z".repeat(54)] {
            assert!(validate_user(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", "é", "a b", &"z".repeat(55)] {
            assert!(validate_user(bad).is_err(), "{bad}");
        }
        assert_eq!(notebook_name(&"z".repeat(54)).len(), 63);
    }

    #[test]
    fn names() {
        assert_eq!(notebook_name("alice"), "alice-Notebook");
        assert_eq!(parameter_name("/SageMaker/Notebooks/", "alice"), "/SageMaker/Notebooks/alice-Notebook");
        assert_eq!(user_of_notebook("alice-Notebook"), Some("alice"));
        assert_eq!(user_of_notebook("random"), None);
    }

    #[test]
    fn token_is_deterministic_and_valid() {
        let t = provision_token("1", "prod-1", "pa-1", "alice", "2026-11-24", "");
        assert_eq!(t, provision_token("1", "prod-1", "pa-1", "alice", "2026-11-24", ""));
        assert_ne!(t, provision_token("1", "prod-1", "pa-1", "alice", "2026-11-24", "pp-1"));
        assert_ne!(t, provision_token("1", "prod-1", "pa-1", "bob", "2026-11-24", ""));
        assert!(t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn derived_names_fit_aws_limits() {
        // The longest --name (20) with the default suffix is exactly IAM's 64.
        let n = "n".repeat(20);
        let s3 = format!("{n}-s3-iam-config");
        assert_eq!(format!("{s3}-{DEFAULT_ROLE_SUFFIX}").len(), 64);
        assert!(check_deployment_names(&s3, "c", DEFAULT_ROLE_SUFFIX, Some("p"), "prod").is_ok());
        // 24 characters (the old maximum) made a 68-character role name.
        let s3 = format!("{}-s3-iam-config", "n".repeat(24));
        let e = check_deployment_names(&s3, "c", DEFAULT_ROLE_SUFFIX, None, "prod").unwrap_err();
        assert!(e.contains("IAM role name") && e.contains("68 characters") && e.contains("64"), "{e}");
        let e = check_deployment_names("s", "c", "R", Some(&"p".repeat(101)), "prod").unwrap_err();
        assert!(e.contains("portfolio name") && e.contains("100"), "{e}");
        assert!(check_deployment_names("s", &"c".repeat(129), "R", None, "p").unwrap_err().contains("128"));
        // A short notebook role name leaves room the Scheduler role and group do not have.
        let s3 = "s".repeat(55);
        let e = check_deployment_names(&s3, "c", "R", None, "p").unwrap_err();
        assert!(e.contains(&format!("{s3}-scheduler")) && e.contains("65 characters"), "{e}");
        assert!(check_deployment_names(&"s".repeat(54), "c", "R", None, "p").is_ok());
    }

    #[test]
    fn principals() {
        assert!(validate_principal("arn:aws:iam::123456789012:role/Team").is_ok());
        assert!(validate_principal("arn:aws:iam::123456789012:user/path/bob").is_ok());
        assert!(validate_principal("arn:aws:sts::123456789012:assumed-role/R/s").is_err());
        assert!(validate_principal("arn:aws:iam::12345:role/R").is_err());
        assert!(validate_principal("role/R").is_err());
        assert_eq!(
            principal_from_caller("arn:aws:sts::123456789012:assumed-role/Admin/me"),
            "arn:aws:iam::123456789012:role/Admin"
        );
    }
}
