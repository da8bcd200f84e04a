//! Validators of user-given values (flags, environment, notebook-vend.toml): each returns the value
//! or one line naming the input and what is allowed, so bad input exits 2 before any AWS call.

use std::time::Duration;

use crate::naming;

pub fn parse_user(s: &str) -> Result<String, String> {
    naming::validate_user(s).map(|()| s.to_owned())
}

pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("tag {s:?} must be KEY=VALUE"))?;
    naming::validate_tag(k, v)?;
    Ok((k.to_owned(), v.to_owned()))
}

pub fn parse_param(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("parameter {s:?} must be KEY=VALUE"))?;
    let key_ok = !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_alphanumeric());
    if !key_ok {
        return Err(format!("parameter key {k:?} must be a CloudFormation parameter name (letters and digits)"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

pub fn parse_kms_key(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 2048 && s.chars().all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("KMS key {s:?} must be a key id, key ARN, alias/NAME or alias ARN"))
    }
}

/// `subnet-0abc...`, `sg-0abc...`: the prefix, a hyphen, 8 or 17 hex digits.
pub fn parse_prefixed_id(prefix: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |s: &str| {
        let ok = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        if ok {
            Ok(s.to_owned())
        } else {
            Err(format!("{s:?} is not a {prefix} id ({prefix}- and 8 or 17 hex digits)"))
        }
    }
}

pub fn parse_instance_type(s: &str) -> Result<String, String> {
    let ok = s.starts_with("ml.")
        && s.len() <= 32
        && s[3..].split('.').count() == 2
        && s[3..].split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("instance type {s:?} must look like ml.<family>.<size>, e.g. ml.t3.medium"))
    }
}

pub fn parse_endpoint(s: &str) -> Result<String, String> {
    if (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "http://".len() + 1 {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err(format!("endpoint {s:?} must be an http:// or https:// URL"))
    }
}

pub fn parse_stack_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("stack name {s:?} must start with a letter and hold only letters, digits and hyphens (max 128)"))
    }
}

/// Longest --name: `<name>-s3-iam-config-SageMakerNotebookInstanceRole` is then 64 characters.
pub const MAX_DEPLOYMENT_NAME: usize =
    naming::IAM_ROLE_NAME_MAX - "-s3-iam-config-".len() - naming::DEFAULT_ROLE_SUFFIX.len();

pub fn parse_deployment_name(s: &str) -> Result<String, String> {
    // Short enough that the derived IAM role "<name>-s3-iam-config-SageMakerNotebookInstanceRole"
    // fits IAM's 64 characters (20 + 14 + 1 + 29 = 64; naming::check_deployment_names).
    let ok = !s.is_empty()
        && s.len() <= MAX_DEPLOYMENT_NAME
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "deployment name {s:?} must be 1..{MAX_DEPLOYMENT_NAME} letters, digits and inner hyphens, starting with a \
             letter (the IAM role named after it must fit IAM's 64 characters)"
        ))
    }
}

/// An AWS account id: 12 digits.
pub fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.chars().all(|c| c.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("account {s:?} must be 12 digits"))
    }
}

pub fn parse_product_name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() || s.len() > 8191 {
        Err(format!("product name {s:?} must be 1..8191 characters"))
    } else {
        Ok(s.to_owned())
    }
}

pub fn parse_ssm_prefix(s: &str) -> Result<String, String> {
    let ok = s.starts_with('/')
        && s.ends_with('/')
        && s.len() <= 900
        && !s.contains("//")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
        && !s.to_ascii_lowercase().starts_with("/aws/")
        && !s.to_ascii_lowercase().starts_with("/ssm/");
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "SSM prefix {s:?} must start and end with '/', hold only letters, digits and _.-/, and not begin with /aws/ or /ssm/"
        ))
    }
}

pub fn parse_principal(s: &str) -> Result<String, String> {
    naming::validate_principal(s).map(|()| s.to_owned())
}

/// `90s`, `30m`, `8h`, `2d`, `1h30m`: a positive duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("duration {s:?} must be like 90s, 30m, 8h, 2d or 1h30m");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = total.checked_add(n.checked_mul(unit).ok_or_else(bad)?).ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        for bad in ["", "0s", "10", "h", "5x", "-5m", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
