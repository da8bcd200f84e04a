//! The one reader of CloudFormation templates: block YAML, flow YAML and JSON (JSON is YAML flow)
//! through one YAML parser, into one typed model (Parameters, Conditions, Resources, Outputs).
//!
//! CloudFormation's YAML short forms (`!Ref X`, `!GetAtt A.B`, `!Sub '...'`, `!If [...]`) are
//! YAML local tags; they are turned into the long form JSON templates use (`{"Ref": "X"}`,
//! `{"Fn::GetAtt": ["A", "B"]}`, `{"Fn::Sub": ...}`), so that a template means the same thing
//! whichever way it is written ("Intrinsic function reference", CloudFormation user guide: each
//! function has a full name `Fn::X` and a YAML short form `!X`; `Ref` and `Condition` have no
//! `Fn::` prefix). The parser used by the generic YAML loader drops tags, so the tree is built here
//! from the parser's events.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A template as CloudFormation reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    pub parameters: BTreeMap<String, Parameter>,
    /// Condition name -> its expression (long form).
    pub conditions: BTreeMap<String, Value>,
    pub resources: BTreeMap<String, Resource>,
    pub outputs: BTreeMap<String, Value>,
    /// A `Transform` section: macros (`AWS::Serverless`, `AWS::Include`, ...) rewrite the template
    /// before CloudFormation acts on it, so what it does is not in this text.
    pub transform: bool,
}

impl Template {
    /// Whether resource `logical_id` sets `property` (in its long form); None when the template
    /// has no such resource.
    pub fn sets_property(&self, logical_id: &str, property: &str) -> Option<bool> {
        self.resources.get(logical_id).map(|r| r.raw.get("Properties").and_then(|p| p.get(property)).is_some())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// `Type` (String, Number, CommaDelimitedList, AWS::EC2::Subnet::Id, ...).
    pub kind: String,
    pub default: Option<String>,
    pub allowed_values: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `Type`.
    pub kind: String,
    /// The resource-level `Condition`: when false, the resource does not exist (it is deleted).
    pub condition: Option<String>,
    /// `Properties` (long form); None when absent. A `Properties` that is not a mapping (for
    /// instance an `Fn::If` choosing between two mappings) is kept in `raw` only.
    pub properties: Option<Map<String, Value>>,
    /// The whole resource (Type, Properties, Condition, DependsOn, ...), long form.
    pub raw: Value,
}

/// Parse a template. The error says what is wrong, in a form to put after "template <name>: ".
pub fn parse(body: &str) -> Result<Template, String> {
    let doc = parse_document(body)?;
    let Value::Object(top) = doc else {
        return Err("is not a mapping of template sections".into());
    };
    let mut t = Template { transform: top.contains_key("Transform"), ..Template::default() };
    for (name, section) in &top {
        match name.as_str() {
            "Parameters" => t.parameters = parameters(section)?,
            "Conditions" => t.conditions = mapping(section, "Conditions")?.clone().into_iter().collect(),
            "Resources" => t.resources = resources(section)?,
            "Outputs" => t.outputs = mapping(section, "Outputs")?.clone().into_iter().collect(),
            _ => {}
        }
    }
    if t.resources.is_empty() {
        return Err(
            "has no Resources section (a mapping of at least one resource), which CloudFormation requires".into()
        );
    }
    Ok(t)
}

fn mapping<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{what} is not a mapping"))
}

fn parameters(section: &Value) -> Result<BTreeMap<String, Parameter>, String> {
    let mut out = BTreeMap::new();
    for (name, p) in mapping(section, "Parameters")? {
        let p = mapping(p, &format!("parameter {name}"))?;
        let kind = p.get("Type").and_then(Value::as_str).ok_or_else(|| format!("parameter {name} has no Type"))?;
        let allowed_values = match p.get("AllowedValues") {
            None => None,
            Some(Value::Array(items)) => {
                Some(items.iter().map(scalar_text).collect::<Option<Vec<_>>>().ok_or_else(|| {
                    format!("parameter {name}: AllowedValues holds something other than plain values")
                })?)
            }
            Some(_) => return Err(format!("parameter {name}: AllowedValues is not a list")),
        };
        let default = match p.get("Default") {
            None => None,
            Some(v) => Some(scalar_text(v).ok_or_else(|| format!("parameter {name}: Default is not a plain value"))?),
        };
        out.insert(name.clone(), Parameter { kind: kind.to_owned(), default, allowed_values });
    }
    Ok(out)
}

fn resources(section: &Value) -> Result<BTreeMap<String, Resource>, String> {
    let mut out = BTreeMap::new();
    for (id, r) in mapping(section, "Resources")? {
        let m = mapping(r, &format!("resource {id}"))?;
        let kind = m.get("Type").and_then(Value::as_str).ok_or_else(|| format!("resource {id} has no Type"))?;
        let condition = match m.get("Condition") {
            None => None,
            Some(Value::String(c)) => Some(c.clone()),
            Some(_) => return Err(format!("resource {id}: Condition is not a condition name")),
        };
        let properties = m.get("Properties").and_then(Value::as_object).cloned();
        out.insert(id.clone(), Resource { kind: kind.to_owned(), condition, properties, raw: r.clone() });
    }
    Ok(out)
}

/// A plain value as CloudFormation passes it to a parameter: strings, numbers and booleans as text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The one YAML document of a template, long form.
fn parse_document(body: &str) -> Result<Value, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(body);
    parser.load(&mut builder, true).map_err(|e| format!("not valid YAML: {e}"))?;
    if let Some(e) = builder.error {
        return Err(format!("not valid YAML: {e}"));
    }
    match builder.docs.len() {
        1 => Ok(builder.docs.pop().expect("one document")),
        n => Err(format!("holds {n} YAML documents; a template is one")),
    }
}

/// A collection being built, with its tag and anchor.
enum Frame {
    Seq { items: Vec<Value>, tag: Option<Tag>, anchor: usize },
    Map { map: Map<String, Value>, key: Option<String>, tag: Option<Tag>, anchor: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Value>,
    anchors: HashMap<usize, Value>,
    error: Option<String>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.event(ev) {
            self.error = Some(format!("{e} at line {} column {}", mark.line(), mark.col() + 1));
        }
    }
}

impl Builder {
    fn event(&mut self, ev: Event) -> Result<(), String> {
        match ev {
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq { items: Vec::new(), tag, anchor }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map { map: Map::new(), key: None, tag, anchor }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, tag, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, tag, anchor }) => (Value::Array(items), tag, anchor),
                    Some(Frame::Map { map, key: None, tag, anchor }) => (Value::Object(map), tag, anchor),
                    Some(Frame::Map { key: Some(k), .. }) => return Err(format!("key {k:?} has no value")),
                    None => return Err("unbalanced collection".into()),
                };
                self.insert(tagged(value, tag.as_ref())?, anchor)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(text, style, tag.as_ref())?;
                self.insert(value, anchor)?;
            }
            Event::Alias(id) => {
                let value = self.anchors.get(&id).cloned().ok_or("an alias names no anchor")?;
                self.insert(value, 0)?;
            }
            Event::DocumentEnd if !self.stack.is_empty() => return Err("unfinished document".into()),
            _ => {}
        }
        Ok(())
    }

    fn insert(&mut self, value: Value, anchor: usize) -> Result<(), String> {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                None => {
                    *key = Some(match value {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".into(),
                        _ => return Err("a mapping key that is not a plain value".into()),
                    })
                }
                // A repeated key is ambiguous (which one CloudFormation keeps is not documented):
                // refused, as cfn-lint does (E0000 "Duplicate found").
                Some(k) if map.contains_key(&k) => return Err(format!("key {k:?} appears twice in one mapping")),
                Some(k) => {
                    map.insert(k, value);
                }
            },
        }
        Ok(())
    }
}

/// Intrinsic functions with a YAML short form; `Ref` and `Condition` keep their name, the others
/// are `Fn::<name>` (CloudFormation user guide, "Intrinsic function reference").
const SHORT_FORMS: &[&str] = &[
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "Length",
    "ToJsonString",
    "ForEach",
];

/// A node with a tag: a CloudFormation short form becomes its long form; YAML's own tags
/// (`!!str`, ...) are left to the scalar resolution; any other tag is refused, as CloudFormation
/// refuses it.
fn tagged(value: Value, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else { return Ok(value) };
    if tag.handle != "!" {
        return Ok(value);
    }
    let name = tag.suffix.as_str();
    let key = match name {
        "Ref" | "Condition" => name.to_owned(),
        _ if SHORT_FORMS.contains(&name) => format!("Fn::{name}"),
        _ => return Err(format!("unknown tag !{name} (not a CloudFormation intrinsic function)")),
    };
    let value = match (name, value) {
        // `!GetAtt Resource.Attribute`: the attribute may itself hold dots (Endpoint.Address).
        ("GetAtt", Value::String(s)) => match s.split_once('.') {
            Some((r, a)) => Value::Array(vec![Value::String(r.into()), Value::String(a.into())]),
            None => return Err(format!("!GetAtt {s}: expected Resource.Attribute")),
        },
        (_, v) => v,
    };
    Ok(Value::Object(Map::from_iter([(key, value)])))
}

fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let value = match (style, tag) {
        (_, Some(t)) if t.handle == "tag:yaml.org,2002:" && t.suffix == "str" => Value::String(text),
        (TScalarStyle::Plain, _) => plain(text),
        _ => Value::String(text),
    };
    tagged(value, tag)
}

/// A plain scalar resolved as YAML's core schema does: null, booleans, numbers, else a string.
fn plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => match text.parse::<i64>() {
            Ok(n) => Value::from(n),
            // Other numbers (floats, 0x..) stay text: a template compares them as the text it holds.
            Err(_) => Value::String(text),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PRODUCT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/sm-notebook.yml"));

    #[test]
    fn the_product_template_reads_with_short_forms_in_long_form() {
        let t = parse(PRODUCT).unwrap();
        let nb = &t.resources["Notebook"];
        assert_eq!(nb.kind, "AWS::SageMaker::NotebookInstance");
        let p = nb.properties.as_ref().unwrap();
        assert_eq!(p["InstanceType"], json!({"Ref": "NotebookInstanceType"}));
        assert_eq!(p["NotebookInstanceName"], json!({"Fn::Sub": "${NotebookUserName}-Notebook"}));
        assert_eq!(
            p["LifecycleConfigName"],
            json!({"Fn::GetAtt": ["IdleStopLifecycleConfig", "NotebookInstanceLifecycleConfigName"]})
        );
        assert_eq!(p["KmsKeyId"], json!({"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyId"}, {"Ref": "AWS::NoValue"}]}));
        assert_eq!(t.parameters["VolumeSizeInGB"].default.as_deref(), Some("10"));
        assert_eq!(t.parameters["PlatformIdentifier"].allowed_values.as_ref().unwrap().len(), 2);
        assert!(t.conditions.contains_key("InVpc"));
        assert!(t.outputs.contains_key("NotebookInstanceArn"));
    }

    #[test]
    fn block_flow_and_json_are_the_same_template() {
        let block = "Parameters:\n  T:\n    Type: String\nResources:\n  N:\n    Type: AWS::SageMaker::NotebookInstance\n    Properties:\n      InstanceType: !Ref T\n      RoleArn: !GetAtt R.Arn\n";
        let flow = "{Parameters: {T: {Type: String}}, Resources: {N: {Type: 'AWS::SageMaker::NotebookInstance', Properties: {InstanceType: !Ref T, RoleArn: !GetAtt [R, Arn]}}}}";
        let json = "{\n\t\"Parameters\": {\"T\": {\"Type\": \"String\"}},\n\t\"Resources\": {\"N\": {\"Type\": \"AWS::SageMaker::NotebookInstance\",\n\t\t\"Properties\": {\"InstanceType\": {\"Ref\": \"T\"}, \"RoleArn\": {\"Fn::GetAtt\": [\"R\", \"Arn\"]}}}}\n}";
        let a = parse(block).unwrap();
        assert_eq!(a, parse(flow).unwrap());
        assert_eq!(a, parse(json).unwrap());
    }

    #[test]
    fn what_cloudformation_would_not_read_is_refused() {
        for bad in [
            "Resources:\n  R: [unclosed\n",
            "Resources:\n\tR: x\n",
            "- a\n- b\n",
            "Parameters: {}\n",
            "a: 1\n---\nb: 2\n",
            "Resources:\n  R:\n    Type: X\n  R:\n    Type: Y\n",
            "Resources:\n  R:\n    Properties: {}\n",
            "Resources:\n  R:\n    Type: X\n    Properties:\n      A: !Bogus x\n",
            "{\"Resources\": {\"R\": {\"Type\": \"X\"}, \"R\": {\"Type\": \"Y\"}}}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("Transform: AWS::Serverless-2016-10-31\nResources:\n  R:\n    Type: X\n").unwrap().transform);
    }

    #[test]
    fn the_blog_templates_read() {
        let blog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blog/templates");
        for entry in std::fs::read_dir(&blog).unwrap().flatten() {
            let body = std::fs::read_to_string(entry.path()).unwrap();
            parse(&body).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        }
    }

    #[test]
    fn a_resources_properties_are_found_in_yaml_and_json() {
        let blog =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/blog/templates/s3-iam-config.yml"));
        let blog = parse(blog).unwrap();
        assert_eq!(blog.sets_property("S3Bucket", "BucketName"), Some(false));
        assert_eq!(blog.sets_property("S3Bucket", "BucketEncryption"), Some(true));
        assert_eq!(blog.sets_property("SageMakerNotebookInstanceRole", "RoleName"), Some(true));
        let json = parse(r#"{"Resources":{"B":{"Type":"AWS::S3::Bucket","Properties":{"BucketName":"x"}}}}"#).unwrap();
        assert_eq!(json.sets_property("B", "BucketName"), Some(true));
        assert_eq!(json.sets_property("C", "BucketName"), None);
    }
}
