//! Validators of user-given values (flags, environment, notebook-vend.toml): each returns the value
//! or one line naming the input and what is allowed, so bad input exits 2 before any AWS call.

use std::time::Duration;

use crate::names::user;
use crate::text::cut;

pub fn parse_user(s: &str) -> Result<String, String> {
    user::validate_user(s).map(|()| s.to_owned())
}

/// The default of `--user` on the single-user commands (and what a user may type for the same):
/// the caller's own user, resolved once the caller is known (crate::names::identity, `resolve_user`
/// in lib.rs). Not a valid user name, so it cannot collide with one.
pub const CALLER_USER: &str = "@caller";

/// `--user` of a single-user command: a user name, or [`CALLER_USER`] (the default), parsed to ""
/// (the caller).
pub fn parse_user_or_caller(s: &str) -> Result<String, String> {
    if s == CALLER_USER {
        return Ok(String::new());
    }
    parse_user(s)
}

/// `refresh --endpoint`: an http(s) base URL with a host, no query or fragment.
pub fn parse_serve_endpoint(s: &str) -> Result<String, String> {
    let allowed = "an http:// or https:// URL of a notebook-vend serve, e.g. http://127.0.0.1:8080";
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ', '@']) => {
            Ok(s.trim_end_matches('/').to_owned())
        }
        _ => Err(format!("endpoint {} is not {allowed}", cut(s))),
    }
}

/// `serve --alb-arn`: an Application Load Balancer's ARN,
/// `arn:<partition>:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>` (the
/// `signer` the ALB writes into every x-amzn-oidc-data header it signs).
pub fn parse_alb_arn(s: &str) -> Result<String, String> {
    let allowed = "an Application Load Balancer ARN, arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>";
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ok = match parts.as_slice() {
        ["arn", partition, "elasticloadbalancing", region, account, resource] => {
            let res: Vec<&str> = resource.split('/').collect();
            word(partition)
                && word(region)
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && matches!(res.as_slice(), ["loadbalancer", "app", name, id]
                    if !name.is_empty() && name.len() <= 32
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_hexdigit()))
        }
        _ => false,
    };
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("--alb-arn {} is not {allowed}", cut(s)))
    }
}

/// `serve --alb-key-url`: where the ALB's public keys are, an http(s) URL template holding `{kid}`
/// (and optionally `{region}`, the region of --alb-arn).
pub fn parse_alb_key_url(s: &str) -> Result<String, String> {
    let allowed = "an http:// or https:// URL template containing {kid} (and optionally {region}), e.g. \
                   https://public-keys.auth.elb.{region}.amazonaws.com/{kid}";
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ', '@']) && r.contains("{kid}")
    });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("--alb-key-url {} is not {allowed}", cut(s)))
    }
}

/// `serve --oidc-user-claim`: the name of a claim of the ALB's user claims (`email`, `sub`,
/// `preferred_username`, ...).
pub fn parse_oidc_claim(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("--oidc-user-claim {} must be a claim name: 1..64 letters, digits, _ - : .", cut(s)))
    }
}

pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("tag {} must be KEY=VALUE", cut(s)))?;
    user::validate_tag(k, v)?;
    Ok((k.to_owned(), v.to_owned()))
}

/// Most tags one ProvisionProduct takes (botocore servicecatalog 2015-12-10, shape `Tags`:
/// list, "max": 50), the Owner tag notebook-vend adds counted.
pub const MAX_PROVISION_TAGS: usize = 50;

/// `--tag`s of a provision: distinct keys, not Owner (notebook-vend sets it to the user), and with
/// the Owner tag at most [`MAX_PROVISION_TAGS`].
pub fn check_tags(tags: &[(String, String)]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for (k, _) in tags {
        if k == "Owner" {
            return Err("--tag Owner=...: the Owner tag is set to the user by notebook-vend".into());
        }
        if k.eq_ignore_ascii_case(crate::names::identity::OWNER_TAG) {
            return Err(format!(
                "--tag {}=...: the {} tag names the notebook's user (what `policy end-user` matches); the product \
                 template sets it from --user",
                crate::names::identity::OWNER_TAG,
                crate::names::identity::OWNER_TAG
            ));
        }
        if !seen.insert(k.as_str()) {
            return Err(format!("--tag {}: the key is given twice (a tag key holds one value)", cut(k)));
        }
    }
    if tags.len() + 1 > MAX_PROVISION_TAGS {
        return Err(format!(
            "{} --tag values and the Owner tag make {}: Service Catalog takes at most {MAX_PROVISION_TAGS} tags",
            tags.len(),
            tags.len() + 1
        ));
    }
    Ok(())
}

/// Product parameters the deployment sets itself: not a `--param` of the user's.
pub const OWNED_PARAMETERS: &[(&str, &str)] = &[
    ("NotebookUserName", "the user is given with --user (and names the notebook)"),
    ("S3IAMConfigStackName", "the deployment sets it (--s3-stack or --name)"),
];

pub fn parse_param(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("parameter {} must be KEY=VALUE", cut(s)))?;
    if let Some((_, why)) = OWNED_PARAMETERS.iter().find(|(owned, _)| *owned == k) {
        return Err(format!("parameter {k} is not the user's to set: {why}"));
    }
    let key_ok = !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_alphanumeric());
    if !key_ok {
        return Err(format!("parameter key {} must be a CloudFormation parameter name (letters and digits)", cut(k)));
    }
    Ok((k.to_owned(), v.to_owned()))
}

pub fn parse_kms_key(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 2048 && s.chars().all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("KMS key {} must be a key id, key ARN, alias/NAME or alias ARN", cut(s)))
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
            Err(format!("{} is not a {prefix} id ({prefix}- and 8 or 17 hex digits)", cut(s)))
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
        Err(format!("instance type {} must look like ml.<family>.<size>, e.g. ml.t3.medium", cut(s)))
    }
}

/// An http(s) URL with a host and, if any, a port in 1..=65535: checked here because the SDK
/// only finds a bad one when it sends (a dispatch failure, exit 1 after the work began).
pub fn parse_endpoint(s: &str) -> Result<String, String> {
    let bad = || format!("endpoint {} must be an http:// or https:// URL with a host (and a port 1..65535)", cut(s));
    if !(s.starts_with("http://") || s.starts_with("https://")) || s.len() <= "http://".len() + 1 || s.len() > 2048 {
        return Err(bad());
    }
    let uri: axum::http::Uri = s.parse().map_err(|_| bad())?;
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(bad());
    }
    // The authority keeps the port as written: "99999" or "" parse as an authority, not as a u16.
    let a = authority.as_str();
    let port = match a.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, "")) => None,
            Some((_, rest)) => Some(rest.strip_prefix(':').ok_or_else(bad)?),
            None => return Err(bad()),
        },
        None => a.split_once(':').map(|(_, p)| p),
    };
    if port.is_some_and(|p| !matches!(p.parse::<u16>(), Ok(1..))) {
        return Err(bad());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// An AWS region name as botocore accepts it (botocore utils.validate_region_name:
/// `^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$`): it becomes a host name label, so a bad one
/// would only fail when the first request is sent.
pub fn parse_region(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("region {} must be 1..63 letters, digits and inner hyphens, like eu-west-1", cut(s)))
    }
}

/// `AWS_MAX_ATTEMPTS` / `max_attempts`: as the SDK parses it (a u32), and not 0, which the SDK
/// refuses (aws-config default_provider::retry_config: MaxAttemptsMustNotBeZero).
pub fn parse_max_attempts(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{} must be a whole number of attempts, 1 or more", cut(s))),
    }
}

/// `AWS_RETRY_MODE` / `retry_mode`: the modes the Rust SDK knows (aws-smithy-types RetryMode:
/// standard, adaptive; the AWS CLI's `legacy` is not one of them).
pub fn parse_retry_mode(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("standard") || t.eq_ignore_ascii_case("adaptive") {
        Ok(t.to_owned())
    } else {
        Err(format!("{} must be standard or adaptive", cut(s)))
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
        Err(format!(
            "stack name {} must start with a letter and hold only letters, digits and hyphens (max 128)",
            cut(s)
        ))
    }
}

/// Longest --name: `<name>-s3-iam-config-SageMakerNotebookInstanceRole` is then 64 characters.
pub const MAX_DEPLOYMENT_NAME: usize =
    user::IAM_ROLE_NAME_MAX - "-s3-iam-config-".len() - user::DEFAULT_ROLE_SUFFIX.len();

pub fn parse_deployment_name(s: &str) -> Result<String, String> {
    // Short enough that the derived IAM role "<name>-s3-iam-config-SageMakerNotebookInstanceRole"
    // fits IAM's 64 characters (20 + 14 + 1 + 29 = 64; user::check_deployment_names).
    let ok = !s.is_empty()
        && s.len() <= MAX_DEPLOYMENT_NAME
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "deployment name {} must be 1..{MAX_DEPLOYMENT_NAME} letters, digits and inner hyphens, starting with a \
             letter (the IAM role named after it must fit IAM's 64 characters)",
            cut(s)
        ))
    }
}

/// An AWS account id: 12 digits.
pub fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.chars().all(|c| c.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("account {} must be 12 digits", cut(s)))
    }
}

pub fn parse_product_name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() || s.len() > 8191 {
        Err(format!("product name {} must be 1..8191 characters", cut(s)))
    } else {
        Ok(s.to_owned())
    }
}

pub fn parse_ssm_prefix(s: &str) -> Result<String, String> {
    let ok = s.starts_with('/')
        && s.ends_with('/')
        && s.len() <= 900
        && !s.contains("//")
        // "." and ".." segments: a path that reads as another place than it is (a policy or a
        // reader normalising it would reach another prefix).
        && !s.split('/').any(|seg| seg == "." || seg == "..")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
        && !s.to_ascii_lowercase().starts_with("/aws/")
        && !s.to_ascii_lowercase().starts_with("/ssm/");
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "SSM prefix {} must start and end with '/', hold only letters, digits and _.-/ (no . or .. segment), and not begin with /aws/ or /ssm/", cut(s)
        ))
    }
}

pub fn parse_principal(s: &str) -> Result<String, String> {
    user::validate_principal(s).map(|()| s.to_owned())
}

/// `90s`, `30m`, `8h`, `2d`, `1h30m`: a positive duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("duration {} must be like 90s, 30m, 8h, 2d or 1h30m", cut(s));
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
    fn endpoints_that_do_not_parse_are_refused() {
        for ok in ["http://127.0.0.1:4566", "https://ssm.eu-west-1.amazonaws.com", "http://[::1]:8080/", "http://[::1]"]
        {
            assert!(parse_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in
            ["http://127.0.0.1:99999", "http://[::1", "http://h:0", "http://h:", "http://h:x", "http:// x", "ftp://x"]
        {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions_and_retry_settings() {
        assert!(parse_region("eu-west-1").is_ok());
        let long = "a".repeat(300);
        for bad in ["", "eu west", "eu/west", "-eu", "eu-", long.as_str()] {
            assert!(parse_region(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_max_attempts("4"), Ok(4));
        for bad in ["0", "abc", "-1", ""] {
            assert!(parse_max_attempts(bad).is_err(), "{bad}");
        }
        assert!(parse_retry_mode("Standard").is_ok() && parse_retry_mode("adaptive").is_ok());
        assert!(parse_retry_mode("bogus").is_err() && parse_retry_mode("legacy").is_err());
    }

    #[test]
    fn quoted_values_are_cut() {
        let huge = "x".repeat(100_000);
        let msg = parse_region(&huge).unwrap_err();
        assert!(msg.len() < 200 && msg.contains("(100000 bytes)"), "{msg}");
        assert_eq!(cut("short"), "\"short\"");
    }

    #[test]
    fn tags_and_owned_parameters() {
        let tags = |n: usize| (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect::<Vec<_>>();
        assert!(check_tags(&tags(49)).is_ok());
        assert!(check_tags(&tags(50)).unwrap_err().contains("at most 50"));
        let dup = vec![("a".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())];
        assert!(check_tags(&dup).unwrap_err().contains("twice"));
        assert!(check_tags(&[("Owner".to_owned(), "x".to_owned())]).is_err());
        assert!(parse_param("S3IAMConfigStackName=other").unwrap_err().contains("S3IAMConfigStackName"));
        assert!(parse_param("NotebookUserName=x").is_err());
        assert!(parse_param("VolumeSizeInGB=10").is_ok());
    }

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
