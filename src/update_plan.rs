//! What an `update` does to a notebook, computed before anything is sent (issue 15).
//!
//! CloudFormation replaces a resource when an update changes one of its create-only properties
//! ("createOnlyProperties" of the resource type schema), and it refuses to replace a resource with
//! a custom name: "You can't perform an update that causes a custom-named resource to be replaced"
//! (CloudFormation user guide, "Name type"). The product's notebook has a fixed name
//! (`<user>-Notebook`), so such an update would fail and leave the product TAINTED. This module maps
//! the template's parameters to the notebook properties they feed, so the plan can say "in place" or
//! "replaces the notebook" before the update is sent.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// `createOnlyProperties` of the `AWS::SageMaker::NotebookInstance` resource type schema
/// (CloudFormation resource provider schema, as shipped in cfn-lint's
/// data/schemas/resources for us-east-1): changing any of them replaces the notebook.
pub const NOTEBOOK_CREATE_ONLY: &[&str] =
    &["DirectInternetAccess", "KmsKeyId", "NotebookInstanceName", "PlatformIdentifier", "SecurityGroupIds", "SubnetId"];

pub const NOTEBOOK_TYPE: &str = "AWS::SageMaker::NotebookInstance";

/// For each property of the template's notebook resource, the parameters it reads (directly, or
/// through a condition). None when the template has no notebook resource the scan can find.
pub fn property_feeds(template: &str) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let blocks = notebook_properties(template)?;
    let params = top_level_keys(template, "Parameters");
    let conditions = condition_feeds(template, &params);
    Some(
        blocks
            .into_iter()
            .map(|(prop, text)| {
                let mut fed = BTreeSet::new();
                for word in words(&text) {
                    if params.contains(&word) {
                        fed.insert(word.clone());
                    }
                    if let Some(ps) = conditions.get(&word) {
                        fed.extend(ps.iter().cloned());
                    }
                }
                (prop, fed)
            })
            .collect(),
    )
}

/// The create-only notebook properties a change of these parameters reaches.
pub fn replacing_properties(feeds: &BTreeMap<String, BTreeSet<String>>, changed: &BTreeSet<String>) -> Vec<String> {
    NOTEBOOK_CREATE_ONLY
        .iter()
        .filter(|p| feeds.get(**p).is_some_and(|fed| fed.iter().any(|k| changed.contains(k))))
        .map(|p| p.to_string())
        .collect()
}

/// Create-only properties whose definition differs between two templates (e.g. a new artifact that
/// hard-codes another PlatformIdentifier).
pub fn redefined_properties(old: &str, new: &str) -> Vec<String> {
    let (Some(a), Some(b)) = (notebook_properties(old), notebook_properties(new)) else {
        return Vec::new();
    };
    let norm = |s: Option<&String>| s.map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "));
    NOTEBOOK_CREATE_ONLY.iter().filter(|p| norm(a.get(**p)) != norm(b.get(**p))).map(|p| p.to_string()).collect()
}

/// The logical ID of the template's notebook resource. A product version whose notebook has
/// another logical ID (the blog sample's `SageMakerNotebookInstance`, notebook-vend's `Notebook`)
/// makes CloudFormation delete the old resource and create a new one with the same fixed name:
/// moving a notebook between such versions replaces it (the create fails on the taken name, or the
/// user's notebook is deleted).
pub fn notebook_logical_id(template: &str) -> Option<String> {
    let is_notebook = |t: &str| {
        t.lines().any(|l| {
            key_of(l).as_deref() == Some("Type")
                && l.split_once(':').map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\''))
                    == Some(NOTEBOOK_TYPE)
        })
    };
    if is_json(template) {
        let v: serde_json::Value = serde_json::from_str(template).ok()?;
        let res = v.get("Resources")?.as_object()?;
        return res
            .iter()
            .find(|(_, r)| r.get("Type").and_then(|t| t.as_str()) == Some(NOTEBOOK_TYPE))
            .map(|(k, _)| k.clone());
    }
    section_children(template, "Resources").into_iter().find(|(_, t)| is_notebook(t)).map(|(k, _)| k)
}

/// The text of one resource of a template (its whole block), or None when it is not found.
pub fn resource_text(template: &str, logical_id: &str) -> Option<String> {
    if is_json(template) {
        let v: serde_json::Value = serde_json::from_str(template).ok()?;
        return v.get("Resources")?.get(logical_id).map(|r| r.to_string());
    }
    section_children(template, "Resources").remove(logical_id)
}

/// Does a resource's text (see [`resource_text`]) set this property (a key of that name)?
pub fn sets_property(resource: &str, property: &str) -> bool {
    resource.contains(&format!("\"{property}\"")) || resource.lines().any(|l| key_of(l).as_deref() == Some(property))
}

/// When the template cannot be read: the worst case, a parameter named like a create-only property
/// (or NotebookUserName, which names the notebook) replaces it.
pub fn replacing_by_name(changed: &BTreeSet<String>) -> Vec<String> {
    changed.iter().filter(|k| NOTEBOOK_CREATE_ONLY.contains(&k.as_str()) || *k == "NotebookUserName").cloned().collect()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParamChange {
    pub key: String,
    pub from: Option<String>,
    pub to: String,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn key_of(line: &str) -> Option<String> {
    let t = line.trim_start().trim_start_matches("- ");
    let (k, _) = t.split_once(':')?;
    let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_')).then(|| k.to_owned())
}

fn is_json(template: &str) -> bool {
    template.trim_start().starts_with('{')
}

/// Keys of a top-level section (Parameters, Conditions).
fn top_level_keys(template: &str, section: &str) -> BTreeSet<String> {
    section_children(template, section).into_keys().collect()
}

/// Children of a top-level section, with their text.
fn section_children(template: &str, section: &str) -> BTreeMap<String, String> {
    if is_json(template) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(template) else { return BTreeMap::new() };
        return v
            .get(section)
            .and_then(|s| s.as_object())
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
            .unwrap_or_default();
    }
    let lines: Vec<&str> = template.lines().collect();
    let Some(start) = lines.iter().position(|l| indent(l) == 0 && key_of(l).as_deref() == Some(section)) else {
        return BTreeMap::new();
    };
    children(&lines[start + 1..], None)
}

/// Children (key -> text incl. the key line) of a block: lines until one at indent 0 (or <= stop).
fn children(lines: &[&str], stop: Option<usize>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut child_indent: Option<usize> = None;
    let mut current: Option<(String, String)> = None;
    for line in lines {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind == 0 || stop.is_some_and(|s| ind <= s) {
            break;
        }
        let ci = *child_indent.get_or_insert(ind);
        if ind == ci {
            if let Some((k, t)) = current.take() {
                out.insert(k, t);
            }
            if let Some(k) = key_of(line) {
                current = Some((k, line.to_string()));
            }
        } else if let Some((_, t)) = current.as_mut() {
            t.push('\n');
            t.push_str(line);
        }
    }
    if let Some((k, t)) = current {
        out.insert(k, t);
    }
    out
}

/// Each condition's parameters (conditions may use other conditions).
fn condition_feeds(template: &str, params: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let texts = section_children(template, "Conditions");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in &texts {
        out.insert(name.clone(), words(text).into_iter().filter(|w| params.contains(w)).collect());
    }
    // conditions referring to conditions: a few rounds reach a fixed point for any sane template
    for _ in 0..4 {
        let snapshot = out.clone();
        for (name, text) in &texts {
            for w in words(text) {
                if w != *name {
                    if let Some(ps) = snapshot.get(&w) {
                        out.get_mut(name).expect("inserted above").extend(ps.iter().cloned());
                    }
                }
            }
        }
    }
    out
}

/// The notebook resource's properties, property -> text.
fn notebook_properties(template: &str) -> Option<BTreeMap<String, String>> {
    if is_json(template) {
        let v: serde_json::Value = serde_json::from_str(template).ok()?;
        let res = v.get("Resources")?.as_object()?;
        let nb = res.values().find(|r| r.get("Type").and_then(|t| t.as_str()) == Some(NOTEBOOK_TYPE))?;
        let props = nb.get("Properties")?.as_object()?;
        return Some(props.iter().map(|(k, v)| (k.clone(), v.to_string())).collect());
    }
    let lines: Vec<&str> = template.lines().collect();
    let resources = section_children(template, "Resources");
    let (_, text) = resources.iter().find(|(_, t)| {
        t.lines().any(|l| {
            key_of(l).as_deref() == Some("Type")
                && l.split_once(':').map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\''))
                    == Some(NOTEBOOK_TYPE)
        })
    })?;
    let _ = lines;
    let rl: Vec<&str> = text.lines().collect();
    let pos = rl.iter().position(|l| key_of(l).as_deref() == Some("Properties"))?;
    let pind = indent(rl[pos]);
    Some(children(&rl[pos + 1..], Some(pind)))
}

/// A smaller `VolumeSizeInGB`, which only a new notebook can take: UpdateNotebookInstance "can
/// increase the volume size ... but you can't decrease the volume size" (botocore `sagemaker`,
/// UpdateNotebookInstanceInput.VolumeSizeInGB), and through CloudFormation the stack update fails
/// and leaves the product TAINTED. Numbers are compared as numbers (`010` is 10).
pub fn volume_shrink(changes: &[ParamChange]) -> Option<String> {
    let change = changes.iter().find(|c| c.key == "VolumeSizeInGB")?;
    let from: u64 = change.from.as_deref()?.trim().parse().ok()?;
    let to: u64 = change.to.trim().parse().ok()?;
    (to < from).then(|| format!("VolumeSizeInGB {from} -> {to} (a notebook's volume can grow, never shrink)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = include_str!("../templates/sm-notebook.yml");

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn the_product_template_feeds_create_only_properties_from_its_parameters() {
        let feeds = property_feeds(YAML).expect("the product template has a notebook");
        assert!(feeds["SubnetId"].contains("SubnetId"));
        assert!(feeds["NotebookInstanceName"].contains("NotebookUserName"));
        assert!(feeds["InstanceType"].contains("NotebookInstanceType"));
        // DirectInternetAccess: !If [InVpc, !Ref DirectInternetAccess, Enabled] reads SubnetId through InVpc
        assert!(feeds["DirectInternetAccess"].contains("SubnetId"));
        assert_eq!(replacing_properties(&feeds, &set(&["NotebookInstanceType"])), Vec::<String>::new());
        assert_eq!(replacing_properties(&feeds, &set(&["VolumeSizeInGB", "RootAccess"])), Vec::<String>::new());
        let r = replacing_properties(&feeds, &set(&["SubnetId"]));
        assert!(r.contains(&"SubnetId".to_string()), "{r:?}");
    }

    #[test]
    fn json_templates_too() {
        let t = r#"{"Parameters":{"Net":{"Type":"String"},"Size":{"Type":"String"}},
            "Resources":{"N":{"Type":"AWS::SageMaker::NotebookInstance","Properties":{
            "SubnetId":{"Ref":"Net"},"InstanceType":{"Ref":"Size"}}}}}"#;
        let feeds = property_feeds(t).unwrap();
        assert_eq!(replacing_properties(&feeds, &set(&["Net"])), vec!["SubnetId".to_string()]);
        assert!(replacing_properties(&feeds, &set(&["Size"])).is_empty());
    }

    #[test]
    fn a_redefined_create_only_property_is_seen() {
        let new = YAML.replace("PlatformIdentifier: !Ref PlatformIdentifier", "PlatformIdentifier: notebook-al2-v3");
        assert_ne!(new, YAML);
        assert_eq!(redefined_properties(YAML, &new), vec!["PlatformIdentifier".to_string()]);
        assert!(redefined_properties(YAML, YAML).is_empty());
    }

    #[test]
    fn the_notebooks_logical_id_is_found() {
        assert_eq!(notebook_logical_id(YAML).as_deref(), Some("Notebook"));
        let blog = include_str!("../tests/fixtures/blog/templates/sm-notebook.yml");
        assert_eq!(notebook_logical_id(blog).as_deref(), Some("SageMakerNotebookInstance"));
        let json = r#"{"Resources":{"Nb":{"Type":"AWS::SageMaker::NotebookInstance"}}}"#;
        assert_eq!(notebook_logical_id(json).as_deref(), Some("Nb"));
        assert_eq!(notebook_logical_id("Resources: {}"), None);
    }

    #[test]
    fn a_resources_properties_are_found_in_yaml_and_json() {
        let blog = include_str!("../tests/fixtures/blog/templates/s3-iam-config.yml");
        let bucket = resource_text(blog, "S3Bucket").unwrap();
        assert!(!sets_property(&bucket, "BucketName"), "{bucket}");
        assert!(sets_property(&bucket, "BucketEncryption"), "{bucket}");
        let role = resource_text(blog, "SageMakerNotebookInstanceRole").unwrap();
        assert!(sets_property(&role, "RoleName"), "{role}");
        let json = r#"{"Resources":{"B":{"Type":"AWS::S3::Bucket","Properties":{"BucketName":"x"}}}}"#;
        assert!(sets_property(&resource_text(json, "B").unwrap(), "BucketName"));
        assert!(resource_text(json, "C").is_none());
    }

    #[test]
    fn a_smaller_volume_is_a_shrink_and_a_larger_one_is_not() {
        let change = |from: &str, to: &str| {
            vec![ParamChange { key: "VolumeSizeInGB".into(), from: Some(from.into()), to: to.into() }]
        };
        assert!(volume_shrink(&change("20", "10")).unwrap().contains("20 -> 10"));
        assert_eq!(volume_shrink(&change("10", "20")), None);
        assert_eq!(volume_shrink(&change("10", "010")), None);
        assert_eq!(volume_shrink(&[ParamChange { key: "VolumeSizeInGB".into(), from: None, to: "5".into() }]), None);
    }

    #[test]
    fn unknown_template_falls_back_to_names() {
        assert!(property_feeds("Resources: {}").is_none());
        assert_eq!(replacing_by_name(&set(&["SubnetId", "VolumeSizeInGB"])), vec!["SubnetId".to_string()]);
    }
}
