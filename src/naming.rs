//! Every name derived from a user, and the validation rules AWS would otherwise enforce late.
//!
//! A user `U` owns notebook instance `U-Notebook` (the blog's name), provisioned product
//! `U-Notebook` and SSM parameter `<prefix>U-Notebook`.

use sha2::{Digest, Sha256};

/// Notebook names are at most 63 characters; `-Notebook` takes 9 of them.
pub const MAX_USER_LEN: usize = 63 - NOTEBOOK_SUFFIX.len();
const NOTEBOOK_SUFFIX: &str = "-Notebook";

/// `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`, at most 54 characters: `U-Notebook` is then a valid notebook name.
pub fn validate_user(user: &str) -> Result<(), String> {
    let allowed = "letters, digits and inner hyphens, at most 54 characters";
    if user.is_empty() {
        return Err(format!("user name is empty; allowed: {allowed}"));
    }
    if user.len() > MAX_USER_LEN {
        return Err(format!("user name {user:?} is {} characters; allowed: {allowed}", user.len()));
    }
    if !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("user name {user:?} has a character that is not allowed; allowed: {allowed}"));
    }
    if user.starts_with('-') || user.ends_with('-') {
        return Err(format!("user name {user:?} starts or ends with a hyphen; allowed: {allowed}"));
    }
    Ok(())
}

/// The user a notebook name belongs to, if it follows the `U-Notebook` convention.
pub fn user_of_notebook(notebook: &str) -> Option<&str> {
    notebook.strip_suffix(NOTEBOOK_SUFFIX).filter(|u| validate_user(u).is_ok())
}

pub fn notebook_name(user: &str) -> String {
    format!("{user}{NOTEBOOK_SUFFIX}")
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
/// provision/terminate cycle gets a new token, with no daily budget (see catalog.rs).
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

/// Tag keys and values as AWS allows them (no reserved `aws:` prefix).
pub fn validate_tag(key: &str, value: &str) -> Result<(), String> {
    let charset = |s: &str| s.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c));
    if key.is_empty() || key.len() > 128 || !charset(key) {
        return Err(format!("tag key {key:?} must be 1..128 characters of letters, digits, spaces and _.:/=+-@"));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!("tag key {key:?} uses the reserved prefix aws:"));
    }
    if value.len() > 256 || !charset(value) {
        return Err(format!(
            "tag value {value:?} must be at most 256 characters of letters, digits, spaces and _.:/=+-@"
        ));
    }
    Ok(())
}

/// An IAM user, role or group ARN, as a portfolio principal association needs.
pub fn validate_principal(arn: &str) -> Result<(), String> {
    let bad = || {
        format!("principal {arn:?} must be an IAM ARN like arn:aws:iam::123456789012:role/NAME (user, role or group)")
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

/// The IAM principal for a caller identity: an assumed-role session maps to its role.
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
