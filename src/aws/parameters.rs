//! Product parameters: what the product template accepts (DescribeProvisioningParameters) and the
//! check of a user's values against it, so that a bad value is refused before ProvisionProduct
//! instead of surfacing minutes later as a FAILED record.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::aws::catalog::Product;
use crate::aws::context::Context;
use crate::error::{usage, AwsResultExt};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ParamSpec {
    pub key: String,
    pub default: Option<String>,
    pub kind: String,
    pub allowed_values: Vec<String>,
    pub allowed_pattern: Option<String>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub description: Option<String>,
}

/// The parameters of the product's artifact, by key.
pub async fn describe(ctx: &Context, product: &Product) -> Result<BTreeMap<String, ParamSpec>> {
    let out = ctx
        .catalog
        .describe_provisioning_parameters()
        .product_id(&product.id)
        .provisioning_artifact_id(&product.artifact_id)
        .path_id(&product.path_id)
        .send()
        .await
        .aws(|| format!("reading the parameters of product {} ({})", product.name, product.artifact_name))?;
    Ok(out
        .provisioning_artifact_parameters()
        .iter()
        .filter_map(|p| {
            let key = p.parameter_key()?.to_owned();
            let c = p.parameter_constraints();
            let num = |s: Option<&str>| s.and_then(|v| v.trim().parse::<f64>().ok());
            let len = |s: Option<&str>| s.and_then(|v| v.trim().parse::<usize>().ok());
            Some((
                key.clone(),
                ParamSpec {
                    key,
                    default: p.default_value().map(str::to_owned),
                    kind: p.parameter_type().unwrap_or("String").to_owned(),
                    allowed_values: c.map(|c| c.allowed_values().to_vec()).unwrap_or_default(),
                    allowed_pattern: c.and_then(|c| c.allowed_pattern()).filter(|p| !p.is_empty()).map(str::to_owned),
                    min_length: len(c.and_then(|c| c.min_length())),
                    max_length: len(c.and_then(|c| c.max_length())),
                    min_value: num(c.and_then(|c| c.min_value())),
                    max_value: num(c.and_then(|c| c.max_value())),
                    description: p.description().map(str::to_owned),
                },
            ))
        })
        .collect())
}

/// Check every value against the template's constraints; the error names the key, the value and
/// what is allowed (exit 2).
pub fn validate(values: &BTreeMap<String, String>, specs: &BTreeMap<String, ParamSpec>) -> Result<()> {
    for (key, value) in values {
        let Some(spec) = specs.get(key) else {
            let known: Vec<&str> = specs.keys().map(String::as_str).collect();
            return Err(usage(format!(
                "unknown product parameter {}; the product takes: {}",
                crate::text::cut(key),
                known.join(", ")
            )));
        };
        check(spec, value).map_err(|allowed| {
            usage(format!("parameter {key}={} is not allowed: {allowed}", crate::text::cut(value)))
        })?;
    }
    Ok(())
}

/// Every parameter without a default must be given: CloudFormation refuses to create a stack that
/// leaves one without a value ("Parameters: [X] must have values"), and through Service Catalog
/// that is a provisioned product left in ERROR. Refused here instead, before anything is sent.
pub fn require_values(values: &BTreeMap<String, String>, specs: &BTreeMap<String, ParamSpec>) -> Result<()> {
    match specs.values().find(|s| s.default.is_none() && !values.contains_key(&s.key)) {
        Some(missing) => Err(usage(format!(
            "product parameter {} has no default: give it with --param {}=VALUE; nothing was sent",
            missing.key, missing.key
        ))),
        None => Ok(()),
    }
}

/// One value against one parameter's constraints; Err says what is allowed.
pub fn check(spec: &ParamSpec, value: &str) -> std::result::Result<(), String> {
    let items: Vec<&str> = if spec.kind.starts_with("List<") || spec.kind == "CommaDelimitedList" {
        value.split(',').collect()
    } else {
        vec![value]
    };
    if !spec.allowed_values.is_empty() && !items.iter().all(|v| spec.allowed_values.iter().any(|a| a == v)) {
        return Err(format!("must be one of {}", spec.allowed_values.join(", ")));
    }
    if let Some(pattern) = &spec.allowed_pattern {
        if let Ok(re) = regex_lite::Regex::new(&format!("^(?:{pattern})$")) {
            if let Some(bad) = items.iter().find(|v| !re.is_match(v)) {
                return Err(format!("{} must match {pattern}", crate::text::cut(bad)));
            }
        }
    }
    if spec.min_length.is_some_and(|min| value.chars().count() < min)
        || spec.max_length.is_some_and(|max| value.chars().count() > max)
    {
        return Err(format!(
            "length must be {}..={}",
            spec.min_length.unwrap_or(0),
            spec.max_length.map(|m| m.to_string()).unwrap_or_default()
        ));
    }
    if spec.kind == "Number" || spec.min_value.is_some() || spec.max_value.is_some() {
        let n: f64 = value.trim().parse().map_err(|_| "must be a number".to_owned())?;
        if spec.min_value.is_some_and(|min| n < min) || spec.max_value.is_some_and(|max| n > max) {
            return Err(format!(
                "must be between {} and {}",
                spec.min_value.map(|v| v.to_string()).unwrap_or_else(|| "-inf".into()),
                spec.max_value.map(|v| v.to_string()).unwrap_or_else(|| "inf".into())
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> BTreeMap<String, ParamSpec> {
        let mut m = BTreeMap::new();
        m.insert(
            "NotebookInstanceType".into(),
            ParamSpec {
                key: "NotebookInstanceType".into(),
                kind: "String".into(),
                allowed_values: vec!["ml.t3.medium".into()],
                ..Default::default()
            },
        );
        m.insert(
            "VolumeSizeInGB".into(),
            ParamSpec {
                key: "VolumeSizeInGB".into(),
                kind: "Number".into(),
                min_value: Some(5.0),
                max_value: Some(512.0),
                ..Default::default()
            },
        );
        m.insert(
            "SubnetId".into(),
            ParamSpec {
                key: "SubnetId".into(),
                kind: "String".into(),
                allowed_pattern: Some("(subnet-[0-9a-f]+)?".into()),
                ..Default::default()
            },
        );
        m
    }

    fn v(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn accepts_allowed_values() {
        assert!(validate(
            &v(&[("NotebookInstanceType", "ml.t3.medium"), ("VolumeSizeInGB", "5"), ("SubnetId", "")]),
            &specs()
        )
        .is_ok());
        assert!(validate(&v(&[("SubnetId", "subnet-0abc")]), &specs()).is_ok());
    }

    #[test]
    fn refuses_with_the_key_the_value_and_what_is_allowed() {
        for (pairs, needle) in [
            (v(&[("Nope", "1")]), "unknown product parameter \"Nope\""),
            (v(&[("NotebookInstanceType", "ml.p3.2xlarge")]), "must be one of ml.t3.medium"),
            (v(&[("VolumeSizeInGB", "4")]), "between 5 and 512"),
            (v(&[("VolumeSizeInGB", "lots")]), "must be a number"),
            (v(&[("SubnetId", "vpc-1")]), "must match"),
        ] {
            let err = validate(&pairs, &specs()).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2);
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
