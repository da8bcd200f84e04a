//! The three CloudFormation templates and two parameter files, built into the binary so that a lone
//! binary can bootstrap; `--templates DIR` / `--parameters-dir DIR` replace them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::usage;

pub const S3_IAM: &str = "s3-iam-config.yml";
pub const CATALOG: &str = "service-catalog.yml";
pub const PRODUCT: &str = "sm-notebook.yml";
/// Serverless mode's stack (`bootstrap --serverless`): the two Lambda functions.
pub const SERVERLESS: &str = "serverless.yml";
pub const S3_IAM_PARAMS: &str = "s3-iam-params.json";
pub const CATALOG_PARAMS: &str = "service-catalog-params.json";

const EMBEDDED: &[(&str, &str)] = &[
    (S3_IAM, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/s3-iam-config.yml"))),
    (CATALOG, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/service-catalog.yml"))),
    (PRODUCT, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/sm-notebook.yml"))),
    (SERVERLESS, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/serverless.yml"))),
    (S3_IAM_PARAMS, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/parameters/s3-iam-params.json"))),
    (CATALOG_PARAMS, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/parameters/service-catalog-params.json"))),
];

/// CloudFormation's limit for a template passed inline (TemplateBody).
const MAX_TEMPLATE_BODY: usize = 51_200;

/// Where templates and parameter files come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub templates: Option<PathBuf>,
    pub parameters: Option<PathBuf>,
}

impl Sources {
    /// Check the override directories exist before anything else happens.
    pub fn check(&self) -> Result<()> {
        for (flag, dir) in [("--templates", &self.templates), ("--parameters-dir", &self.parameters)] {
            if let Some(dir) = dir {
                if !dir.is_dir() {
                    return Err(usage(format!("{flag} {}: not a directory", dir.display())));
                }
            }
        }
        Ok(())
    }

    pub fn template(&self, name: &str) -> Result<String> {
        let body = read(self.templates.as_deref(), name, "--templates")?;
        if body.len() > MAX_TEMPLATE_BODY {
            return Err(usage(format!(
                "template {name} is {} bytes; CloudFormation allows {MAX_TEMPLATE_BODY}",
                body.len()
            )));
        }
        check_template(&body).map_err(|e| usage(format!("template {name}: {e}")))?;
        Ok(body)
    }

    /// A parameter file in the blog's format: `[{"ParameterKey": .., "ParameterValue": ..}]`.
    /// Values written as `<...>` are placeholders the tool fills in, so they are left out.
    pub fn parameters(&self, name: &str) -> Result<BTreeMap<String, String>> {
        let text = read(self.parameters.as_deref(), name, "--parameters-dir")?;
        parse_parameters(&text).map_err(|e| usage(format!("parameter file {name}: {e}")))
    }
}

fn read(dir: Option<&Path>, name: &str, flag: &str) -> Result<String> {
    match dir {
        Some(dir) => {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| usage(format!("{flag}: cannot read {}: {e}", path.display())))
        }
        None => {
            Ok(EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, body)| (*body).to_owned()).expect("embedded file"))
        }
    }
}

/// A template must parse (YAML, of which JSON is a subset) as one document: a mapping with a
/// `Resources` mapping, the one section CloudFormation requires ("Template anatomy", CloudFormation
/// user guide: "Resources: Specifies the stack resources... Required"). Checked before any write,
/// so a broken file is exit 2 with nothing uploaded or updated. Read by the one template reader
/// (plan/template.rs), which the update plan uses too.
pub fn check_template(body: &str) -> std::result::Result<(), String> {
    crate::plan::template::parse(body).map(|_| ())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParameterEntry {
    #[serde(rename = "ParameterKey")]
    key: String,
    #[serde(rename = "ParameterValue")]
    value: String,
}

pub fn parse_parameters(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let entries: Vec<ParameterEntry> = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON list of {{\"ParameterKey\", \"ParameterValue\"}} objects: {e}"))?;
    let mut map = BTreeMap::new();
    for e in entries {
        if e.key.is_empty() {
            return Err("a ParameterKey is empty".into());
        }
        let placeholder = e.value.starts_with('<') && e.value.ends_with('>');
        if !placeholder && map.insert(e.key.clone(), e.value).is_some() {
            return Err(format!("ParameterKey {:?} appears twice", e.key));
        }
    }
    Ok(map)
}

/// Restrict the product template's `NotebookInstanceType` AllowedValues to `types` (a per-team
/// limit), moving the Default into the list if needed. The template keeps the list as a YAML block
/// sequence under the parameter so that this edit stays a line edit.
pub fn restrict_instance_types(body: &str, types: &[String]) -> Result<String> {
    let lines: Vec<&str> = body.lines().collect();
    let param = lines
        .iter()
        .position(|l| l.trim_end() == "  NotebookInstanceType:")
        .ok_or_else(|| usage(format!("{PRODUCT}: no NotebookInstanceType parameter to restrict")))?;
    let block_end = lines[param + 1..]
        .iter()
        .position(|l| !l.starts_with("    ") && !l.trim().is_empty())
        .map_or(lines.len(), |i| param + 1 + i);
    let allowed = (param + 1..block_end)
        .find(|&i| lines[i].trim_end() == "    AllowedValues:")
        .ok_or_else(|| usage(format!("{PRODUCT}: NotebookInstanceType has no AllowedValues block list")))?;
    let items_end = (allowed + 1..block_end).find(|&i| !lines[i].trim_start().starts_with("- ")).unwrap_or(block_end);
    let current: Vec<&str> =
        lines[allowed + 1..items_end].iter().map(|l| l.trim_start().trim_start_matches("- ").trim()).collect();
    if let Some(bad) = types.iter().find(|t| !current.contains(&t.as_str())) {
        return Err(usage(format!(
            "--allowed-instance-types: {bad} is not offered by the product template; choose from {}",
            current.join(", ")
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if i == allowed + 1 {
            out.extend(types.iter().map(|t| format!("      - {t}")));
        }
        if (allowed + 1..items_end).contains(&i) {
            continue;
        }
        match line.trim_start().strip_prefix("Default:") {
            Some(default) if (param + 1..block_end).contains(&i) && !types.iter().any(|t| t == default.trim()) => {
                out.push(format!("    Default: {}", types[0]));
            }
            _ => out.push((*line).to_owned()),
        }
    }
    Ok(out.join("\n") + "\n")
}

/// Short content hash: the product's provisioning artifact name, so a changed template becomes a
/// new artifact version, and the no-op check for the upload.
pub fn version_of(body: &str) -> String {
    format!("v-{}", &hex::encode(Sha256::digest(body.as_bytes()))[..12])
}

/// One product version as the catalog template lists it: the two things
/// `AWS::ServiceCatalog::CloudFormationProduct` matches provisioning artifacts by ("Provisioning
/// artifacts are matched by a combination of provisioning artifact template URL and name", resource
/// schema, ReplaceProvisioningArtifacts). An entry that stops being listed may have its artifact
/// deleted, with it the version every notebook on it was launched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub name: String,
    pub url: String,
}

/// Where this bootstrap's product template goes, and the earlier versions the catalog template
/// must keep listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPlan {
    pub key: String,
    pub earlier: Vec<VersionEntry>,
}

/// The catalog stack as deployed: its parameters and template body (GetTemplate), and its Region.
pub struct DeployedCatalog<'a> {
    pub parameters: &'a BTreeMap<String, String>,
    pub template: &'a str,
    pub region: &'a str,
}

/// The S3 key of one product version: `sm-notebook.yml` + `v-1a2b` -> `sm-notebook/v-1a2b.yml`.
/// Content-addressed: a version's object is never overwritten, so every version's template stays
/// readable for planning an update to or from it.
pub fn version_key(base: &str, version: &str) -> String {
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.contains('/') => format!("{stem}/{version}.{ext}"),
        _ => format!("{base}/{version}"),
    }
}

/// The URL the catalog templates build for an object of the bootstrap bucket:
/// `https://${S3BucketName}.s3.${AWS::Region}.${AWS::URLSuffix}/${key}`.
pub fn regional_url(bucket: &str, region: &str, key: &str) -> String {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://{bucket}.s3.{region}.{suffix}/{key}")
}

/// The key of a bootstrap-bucket URL (what follows the host).
fn key_of_url(url: &str) -> Option<&str> {
    url.split_once("://")?.1.split_once('/').map(|(_, key)| key)
}

/// The versions a deployed catalog template lists with literal values (the earlier versions a
/// bootstrap wrote), in order. Entries built from parameters (`!Ref`, `!Sub`) are the current and
/// the adopted sample's versions, which the parameters describe.
pub fn listed_versions(template: &str) -> Vec<VersionEntry> {
    let Ok(t) = crate::plan::template::parse(template) else { return Vec::new() };
    t.resources
        .values()
        .filter(|r| r.kind == "AWS::ServiceCatalog::CloudFormationProduct")
        .filter_map(|r| r.properties.as_ref()?.get("ProvisioningArtifactParameters")?.as_array().cloned())
        .flatten()
        .filter_map(|e| {
            // Intrinsic functions are objects in the model: only literal strings are earlier versions.
            let name = e.get("Name")?.as_str()?;
            let url = e.get("Info")?.get("LoadTemplateFromURL")?.as_str()?;
            url.starts_with("https://").then(|| VersionEntry { name: name.into(), url: url.into() })
        })
        .collect()
}

/// Where `version` goes and which earlier versions stay listed. Nothing deployed: its own key.
/// The deployed current version unchanged: its key as it is (an older deployment's fixed
/// `sm-notebook.yml` too), nothing moves. Otherwise the deployed current version joins the earlier
/// ones; a version listed before (a template put back) keeps its entry, and so its artifact.
pub fn plan_versions(base_key: &str, version: &str, deployed: Option<&DeployedCatalog>) -> VersionPlan {
    let Some(d) = deployed else { return VersionPlan { key: version_key(base_key, version), earlier: Vec::new() } };
    let mut all = listed_versions(d.template);
    let param = |k: &str| d.parameters.get(k).filter(|v| !v.is_empty());
    if let (Some(name), Some(bucket), Some(key)) =
        (param("ProductTemplateVersion"), param("S3BucketName"), param("ServiceCatalogTemplateName"))
    {
        all.push(VersionEntry { name: name.clone(), url: regional_url(bucket, d.region, key) });
    }
    let key = all
        .iter()
        .find(|e| e.name == version)
        .and_then(|e| key_of_url(&e.url))
        .map_or_else(|| version_key(base_key, version), str::to_owned);
    let mut earlier: Vec<VersionEntry> = Vec::new();
    for e in all.into_iter().filter(|e| e.name != version) {
        if !earlier.contains(&e) {
            earlier.push(e);
        }
    }
    VersionPlan { key, earlier }
}

/// The catalog template with `earlier` listed first in its product's ProvisioningArtifactParameters
/// (a line edit after that key, so comments and short-form functions stay as written).
pub fn with_earlier_versions(template: &str, earlier: &[VersionEntry]) -> Result<String> {
    if earlier.is_empty() {
        return Ok(template.to_owned());
    }
    let lines: Vec<&str> = template.lines().collect();
    let at = lines.iter().position(|l| l.trim_end().ends_with("ProvisioningArtifactParameters:")).ok_or_else(|| {
        usage(format!(
            "{CATALOG}: no ProvisioningArtifactParameters block list, where the product's {} earlier version(s) \
             must stay listed (a version no longer listed may be deleted with the notebooks' link to it)",
            earlier.len()
        ))
    })?;
    let indent = " ".repeat(lines[at].len() - lines[at].trim_start().len() + 2);
    let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let mut out: Vec<String> = lines[..=at].iter().map(|l| (*l).to_owned()).collect();
    for e in earlier {
        out.push(format!("{indent}- Name: {}", quote(&e.name)));
        out.push(format!("{indent}  Description: 'An earlier version, kept for the notebooks launched from it.'"));
        out.push(format!("{indent}  Info:"));
        out.push(format!("{indent}    LoadTemplateFromURL: {}", quote(&e.url)));
    }
    out.extend(lines[at + 1..].iter().map(|l| (*l).to_owned()));
    Ok(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, key: &str) -> VersionEntry {
        VersionEntry { name: name.into(), url: regional_url("b", "eu-west-1", key) }
    }

    #[test]
    fn versions_get_their_own_keys_and_earlier_ones_stay_listed() {
        assert_eq!(version_key("sm-notebook.yml", "v-1"), "sm-notebook/v-1.yml");
        assert_eq!(version_key("notebook-vend/sm-notebook.yml", "v-1"), "notebook-vend/sm-notebook/v-1.yml");
        assert_eq!(plan_versions("sm-notebook.yml", "v-1", None).key, "sm-notebook/v-1.yml");

        // An older deployment: its version at the fixed key, then a new template.
        let params: BTreeMap<String, String> = [
            ("ProductTemplateVersion", "v-old"),
            ("S3BucketName", "b"),
            ("ServiceCatalogTemplateName", "sm-notebook.yml"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let catalog = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/service-catalog.yml"));
        let deployed = DeployedCatalog { parameters: &params, template: catalog, region: "eu-west-1" };
        let same = plan_versions("sm-notebook.yml", "v-old", Some(&deployed));
        assert_eq!(same, VersionPlan { key: "sm-notebook.yml".into(), earlier: vec![] });
        let next = plan_versions("sm-notebook.yml", "v-new", Some(&deployed));
        assert_eq!(next.key, "sm-notebook/v-new.yml");
        assert_eq!(next.earlier, vec![entry("v-old", "sm-notebook.yml")]);

        // The next release lists both earlier versions, read back from the rendered template.
        let rendered = with_earlier_versions(catalog, &next.earlier).unwrap();
        check_template(&rendered).unwrap();
        assert_eq!(listed_versions(&rendered), next.earlier);
        let mut params2 = params.clone();
        params2.insert("ProductTemplateVersion".into(), "v-new".into());
        params2.insert("ServiceCatalogTemplateName".into(), "sm-notebook/v-new.yml".into());
        let deployed2 = DeployedCatalog { parameters: &params2, template: &rendered, region: "eu-west-1" };
        let third = plan_versions("sm-notebook.yml", "v-3", Some(&deployed2));
        assert_eq!(third.earlier, vec![entry("v-old", "sm-notebook.yml"), entry("v-new", "sm-notebook/v-new.yml")]);
        // Putting an earlier template back reuses its key (and so its artifact).
        let back = plan_versions("sm-notebook.yml", "v-old", Some(&deployed2));
        assert_eq!(
            back,
            VersionPlan { key: "sm-notebook.yml".into(), earlier: vec![entry("v-new", "sm-notebook/v-new.yml")] }
        );
        // The adopted flavour's entries built from parameters are not literal versions.
        assert!(listed_versions(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/adopt-blog/service-catalog.yml"
        )))
        .is_empty());
    }

    #[test]
    fn a_catalog_template_without_the_list_is_refused_when_versions_must_stay() {
        assert!(with_earlier_versions("Resources: {}\n", &[]).is_ok());
        assert!(with_earlier_versions("Resources: {}\n", &[entry("v-1", "k")]).is_err());
    }

    #[test]
    fn embedded_parameter_files_parse() {
        let s = Sources::default();
        let p = s.parameters(S3_IAM_PARAMS).unwrap();
        assert!(p.contains_key("SageMakerNotebookInstanceRoleName"));
        let c = s.parameters(CATALOG_PARAMS).unwrap();
        assert!(!c.contains_key("S3BucketName"), "placeholder must be left out: {c:?}");
        assert!(s.template(PRODUCT).unwrap().contains("NotebookUserName"));
    }

    #[test]
    fn restricts_instance_types() {
        let body = Sources::default().template(PRODUCT).unwrap();
        let limited = restrict_instance_types(&body, &["ml.t3.large".into(), "ml.t3.xlarge".into()]).unwrap();
        let block: Vec<&str> =
            limited.lines().skip_while(|l| l.trim_end() != "  NotebookInstanceType:").take(12).collect();
        let block = block.join("\n");
        assert!(block.contains("- ml.t3.large\n      - ml.t3.xlarge\n"), "{block}");
        assert!(!block.contains("ml.t2.medium"), "{block}");
        assert!(block.contains("Default: ml.t3.large"), "{block}");
        assert_eq!(limited.lines().count(), body.lines().count() - 5);
        let err = restrict_instance_types(&body, &["ml.p3.2xlarge".into()]).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
    }

    #[test]
    fn templates_must_parse() {
        for name in [S3_IAM, CATALOG, PRODUCT] {
            Sources::default().template(name).unwrap();
        }
        let ok = "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub '${AWS::StackName}-x'\n      Tags:\n        - Key: k\n          Value: !GetAtt Other.Arn\n";
        assert_eq!(check_template(ok), Ok(()));
        // The blog's own templates (third-party artifacts, short-form functions and all).
        let blog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blog/templates");
        let mut seen = 0;
        for entry in std::fs::read_dir(&blog).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                let body = std::fs::read_to_string(&path).unwrap();
                assert_eq!(check_template(&body), Ok(()), "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 3, "blog templates not found in {}", blog.display());
        assert!(check_template(r#"{"Resources": {"R": {"Type": "AWS::S3::Bucket"}}}"#).is_ok());
        for bad in [
            "Resources:\n  R: [unclosed\n",
            "Resources:\n\tR: x\n",
            "- a\n- b\n",
            "Parameters: {}\n",
            "a: 1\n---\nb: 2\n",
        ] {
            assert!(check_template(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_parameter_files() {
        assert!(parse_parameters("{").is_err());
        assert!(parse_parameters(r#"{"ParameterKey":"a"}"#).is_err());
        assert!(parse_parameters(
            r#"[{"ParameterKey":"a","ParameterValue":"1"},{"ParameterKey":"a","ParameterValue":"2"}]"#
        )
        .is_err());
        assert!(parse_parameters(r#"[{"ParameterKey":"a","Value":"1"}]"#).is_err());
        assert_eq!(parse_parameters(r#"[{"ParameterKey":"a","ParameterValue":"1"}]"#).unwrap()["a"], "1");
    }
}
