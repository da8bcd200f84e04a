//! What an `update` does to a notebook, computed before anything is sent.
//!
//! CloudFormation replaces a resource when an update changes one of its create-only properties
//! ("createOnlyProperties" of the resource type schema), and it refuses to replace a resource with
//! a custom name: "You can't perform an update that causes a custom-named resource to be replaced"
//! (CloudFormation user guide, "Name type"). A resource whose logical ID disappears from the new
//! template is deleted, one whose logical ID or type changes is a new resource, and one whose
//! `Condition` turns false is deleted (CloudFormation user guide, "Update behaviors of stack
//! resources", "Conditions"). This module reads both templates with the one template reader
//! (plan/template.rs) and says, from the templates alone, whether the notebook stays: anything it
//! cannot prove is reported, never guessed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::plan::template::{Resource, Template};

/// `createOnlyProperties` of the `AWS::SageMaker::NotebookInstance` resource type schema
/// (CloudFormation resource provider schema, as shipped in cfn-lint's
/// data/schemas/resources for us-east-1): changing any of them replaces the notebook.
pub const NOTEBOOK_CREATE_ONLY: &[&str] =
    &["DirectInternetAccess", "KmsKeyId", "NotebookInstanceName", "PlatformIdentifier", "SecurityGroupIds", "SubnetId"];

pub const NOTEBOOK_TYPE: &str = "AWS::SageMaker::NotebookInstance";

/// The template's notebook resource: exactly one `AWS::SageMaker::NotebookInstance`, whose
/// `Properties` is a plain mapping. Err says why the template cannot be judged.
pub fn notebook(t: &Template) -> Result<(&str, &Resource), String> {
    if t.transform {
        return Err("it has a Transform section (macros rewrite the template before CloudFormation reads it)".into());
    }
    let found: Vec<(&String, &Resource)> = t.resources.iter().filter(|(_, r)| r.kind == NOTEBOOK_TYPE).collect();
    match found.as_slice() {
        [] => Err(format!("it has no {NOTEBOOK_TYPE} resource")),
        [(id, r)] if r.properties.is_none() && r.raw.get("Properties").is_some() => {
            Err(format!("the Properties of its notebook resource {id} are not a plain mapping"))
        }
        [(id, r)] => Ok((id.as_str(), r)),
        more => Err(format!(
            "it has {} {NOTEBOOK_TYPE} resources ({})",
            more.len(),
            more.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// For each property of the template's notebook resource, the parameters it reads (directly,
/// through a condition, or through another resource it refers to).
pub fn property_feeds(t: &Template) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let (_, nb) = notebook(t)?;
    let props = nb.properties.clone().unwrap_or_default();
    Ok(props.iter().map(|(k, v)| (k.clone(), Refs::of(t, v).parameters)).collect())
}

/// The create-only notebook properties a change of these parameters reaches.
pub fn replacing_properties(feeds: &BTreeMap<String, BTreeSet<String>>, changed: &BTreeSet<String>) -> Vec<String> {
    NOTEBOOK_CREATE_ONLY
        .iter()
        .filter(|p| feeds.get(**p).is_some_and(|fed| fed.iter().any(|k| changed.contains(k))))
        .map(|p| p.to_string())
        .collect()
}

/// Create-only properties whose definition differs between two templates (e.g. a new version
/// that hard-codes another PlatformIdentifier), conditions and referenced resources included.
pub fn redefined_properties(old: &Template, new: &Template) -> Vec<String> {
    let (Ok((_, a)), Ok((_, b))) = (notebook(old), notebook(new)) else {
        return Vec::new();
    };
    let def = |t: &Template, r: &Resource, p: &str| {
        closure(t, r.properties.as_ref().and_then(|m| m.get(p)).unwrap_or(&Value::Null))
    };
    NOTEBOOK_CREATE_ONLY.iter().filter(|p| def(old, a, p) != def(new, b, p)).map(|p| p.to_string()).collect()
}

/// The logical ID of the template's notebook resource. A product version whose notebook has
/// another logical ID (the blog sample's `SageMakerNotebookInstance`, notebook-vend's `Notebook`)
/// makes CloudFormation delete the old resource and create a new one with the same fixed name.
pub fn notebook_logical_id(t: &Template) -> Option<String> {
    notebook(t).ok().map(|(id, _)| id.to_owned())
}

/// Why updating from the deployed template to the target one, with these parameters changed,
/// would replace or delete the notebook (empty: in place). Err: the templates do not let that be
/// decided (no notebook in the target, several, macros...): the update must not be sent.
pub fn replacing(deployed: &Template, target: &Template, changed: &BTreeSet<String>) -> Result<Vec<String>, String> {
    let (old_id, old) = notebook(deployed).map_err(|e| format!("the deployed template: {e}"))?;
    let (new_id, new) = notebook(target).map_err(|e| {
        format!("the target version's template: {e}; updating to it would delete the notebook {old_id}")
    })?;
    let mut out = Vec::new();
    if old_id != new_id {
        out.push(format!("logical ID {old_id} -> {new_id}"));
    }
    for p in redefined_properties(deployed, target) {
        out.push(p);
    }
    for p in replacing_properties(&property_feeds(target)?, changed) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    // A resource Condition that may turn false deletes the notebook.
    let condition = |t: &Template, r: &Resource| r.condition.as_ref().map(|c| closure(t, &cond_ref(c)));
    if condition(deployed, old) != condition(target, new) {
        out.push("the notebook's Condition (redefined: the notebook exists only while it holds)".into());
    } else if let Some(c) = &new.condition {
        if Refs::of(target, &cond_ref(c)).parameters.iter().any(|p| changed.contains(p)) {
            out.push(format!(
                "the notebook's Condition {c} (it reads a changed parameter; false deletes the notebook)"
            ));
        }
    }
    Ok(out)
}

fn cond_ref(name: &str) -> Value {
    Value::Object(Map::from_iter([("Condition".to_owned(), Value::String(name.to_owned()))]))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParamChange {
    pub key: String,
    pub from: Option<String>,
    pub to: String,
}

/// What a value refers to, transitively: parameters, conditions, and resources (through `Ref`,
/// `Fn::GetAtt` and `${...}` in `Fn::Sub`).
#[derive(Default)]
struct Refs {
    parameters: BTreeSet<String>,
    conditions: BTreeSet<String>,
    resources: BTreeSet<String>,
}

impl Refs {
    fn of(t: &Template, v: &Value) -> Refs {
        let mut r = Refs::default();
        r.walk(t, v);
        r
    }

    fn name(&mut self, t: &Template, name: &str) {
        if t.parameters.contains_key(name) {
            self.parameters.insert(name.to_owned());
        } else if let Some(res) = t.resources.get(name) {
            if self.resources.insert(name.to_owned()) {
                self.walk(t, &res.raw);
                if let Some(c) = &res.condition {
                    self.condition(t, c);
                }
            }
        }
    }

    fn condition(&mut self, t: &Template, name: &str) {
        if let Some(expr) = t.conditions.get(name) {
            if self.conditions.insert(name.to_owned()) {
                self.walk(t, expr);
            }
        }
    }

    fn walk(&mut self, t: &Template, v: &Value) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| self.walk(t, i)),
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                self.function(t, k, arg);
            }
            Value::Object(m) => m.values().for_each(|i| self.walk(t, i)),
            _ => {}
        }
    }

    fn function(&mut self, t: &Template, key: &str, arg: &Value) {
        match (key, arg) {
            ("Ref", Value::String(n)) => self.name(t, n),
            ("Condition", Value::String(c)) => self.condition(t, c),
            ("Fn::GetAtt", Value::Array(a)) => match a.first() {
                Some(Value::String(n)) => self.name(t, n),
                _ => self.walk(t, arg),
            },
            ("Fn::If", Value::Array(a)) => {
                if let Some(Value::String(c)) = a.first() {
                    self.condition(t, c);
                }
                a.iter().skip(1).for_each(|i| self.walk(t, i));
            }
            ("Fn::Sub", Value::String(s)) => sub_names(s).iter().for_each(|n| self.name(t, n)),
            ("Fn::Sub", Value::Array(a)) => {
                let local: BTreeSet<&String> =
                    a.get(1).and_then(Value::as_object).map(|m| m.keys().collect()).unwrap_or_default();
                if let Some(Value::String(s)) = a.first() {
                    sub_names(s).iter().filter(|n| !local.contains(n)).for_each(|n| self.name(t, n));
                }
                a.iter().skip(1).for_each(|i| self.walk(t, i));
            }
            _ => self.walk(t, arg),
        }
    }
}

/// The names `${Name}` and `${Resource.Attribute}` of an `Fn::Sub` string refers to (`${!x}` is a
/// literal).
fn sub_names(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find('}') else { break };
        let inner = rest[..end].trim();
        if !inner.starts_with('!') {
            out.push(inner.split('.').next().unwrap_or(inner).to_owned());
        }
        rest = &rest[end + 1..];
    }
    out
}

/// A value with the definitions it depends on (conditions and resources, transitively): two
/// templates define a property the same way when these are equal.
fn closure(t: &Template, v: &Value) -> Value {
    let refs = Refs::of(t, v);
    let conditions: Map<String, Value> =
        refs.conditions.iter().filter_map(|c| t.conditions.get(c).map(|e| (c.clone(), e.clone()))).collect();
    let resources: Map<String, Value> =
        refs.resources.iter().filter_map(|r| t.resources.get(r).map(|d| (r.clone(), d.raw.clone()))).collect();
    serde_json::json!({"value": v, "conditions": conditions, "resources": resources})
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

    const YAML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/sm-notebook.yml"));

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    fn parse(body: &str) -> Template {
        crate::plan::template::parse(body).unwrap()
    }

    #[test]
    fn the_product_template_feeds_create_only_properties_from_its_parameters() {
        let feeds = property_feeds(&parse(YAML)).expect("the product template has a notebook");
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
        let feeds = property_feeds(&parse(t)).unwrap();
        assert_eq!(replacing_properties(&feeds, &set(&["Net"])), vec!["SubnetId".to_string()]);
        assert!(replacing_properties(&feeds, &set(&["Size"])).is_empty());
    }

    #[test]
    fn a_redefined_create_only_property_is_seen() {
        let new = YAML.replace("PlatformIdentifier: !Ref PlatformIdentifier", "PlatformIdentifier: notebook-al2-v3");
        assert_ne!(new, YAML);
        assert_eq!(redefined_properties(&parse(YAML), &parse(&new)), vec!["PlatformIdentifier".to_string()]);
        assert!(redefined_properties(&parse(YAML), &parse(YAML)).is_empty());
        // through a condition the property reads
        let new = YAML.replace("InVpc: !Not [!Equals [!Ref SubnetId, '']]", "InVpc: !Equals [!Ref SubnetId, '']");
        assert_ne!(new, YAML);
        let r = redefined_properties(&parse(YAML), &parse(&new));
        assert!(r.contains(&"SubnetId".to_string()) && r.contains(&"DirectInternetAccess".to_string()), "{r:?}");
    }

    #[test]
    fn a_missing_renamed_or_conditional_notebook_is_never_in_place() {
        let old = parse(YAML);
        let renamed = parse(&YAML.replace("\n  Notebook:\n", "\n  Workbench:\n").replace("Notebook.", "Workbench."));
        assert_eq!(replacing(&old, &renamed, &set(&[])).unwrap(), vec!["logical ID Notebook -> Workbench"]);
        let gone = parse(&YAML.replace("AWS::SageMaker::NotebookInstance\n", "AWS::SageMaker::CodeRepository\n"));
        assert!(replacing(&old, &gone, &set(&[])).unwrap_err().contains("would delete the notebook"));
        let conditional = parse(&YAML.replace(
            "    Type: AWS::SageMaker::NotebookInstance\n",
            "    Type: AWS::SageMaker::NotebookInstance\n    Condition: HasKmsKey\n",
        ));
        assert!(!replacing(&old, &conditional, &set(&[])).unwrap().is_empty());
        assert!(!replacing(&conditional, &conditional, &set(&["KmsKeyId"])).unwrap().is_empty());
        assert!(replacing(&conditional, &conditional, &set(&["NotebookInstanceType"])).unwrap().is_empty());
        assert!(replacing(&old, &old, &set(&["NotebookInstanceType"])).unwrap().is_empty());
    }

    #[test]
    fn the_notebooks_logical_id_is_found() {
        assert_eq!(notebook_logical_id(&parse(YAML)).as_deref(), Some("Notebook"));
        let blog = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/blog/templates/sm-notebook.yml"));
        assert_eq!(notebook_logical_id(&parse(blog)).as_deref(), Some("SageMakerNotebookInstance"));
        let json = r#"{"Resources":{"Nb":{"Type":"AWS::SageMaker::NotebookInstance"}}}"#;
        assert_eq!(notebook_logical_id(&parse(json)).as_deref(), Some("Nb"));
        assert_eq!(notebook_logical_id(&parse("Resources: {R: {Type: X}}")), None);
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
}
