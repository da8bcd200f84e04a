//! `notebook-vend.toml`: settings per environment, like samconfig.toml.
//!
//! ```toml
//! [default]
//! name = "team-a"
//! session_seconds = 3600
//!
//! [prod]
//! principal = "arn:aws:iam::123456789012:role/DataScientists"
//! ```
//!
//! Looked up in `--config FILE`, else `./notebook-vend.toml`, else the user's config directory
//! (`$XDG_CONFIG_HOME/notebook-vend/notebook-vend.toml`, `~/.config/...`). `--env NAME` selects a
//! section whose keys override `[default]`'s. Precedence of every setting: flag > `NOTEBOOK_VEND_*`
//! environment variable > file > built-in default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};

use crate::cli::{self, Cli, Command, ParameterType};
use crate::error::usage;

pub const FILE_NAME: &str = "notebook-vend.toml";

/// One section of the file. Every key is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub name: Option<String>,
    pub s3_stack: Option<String>,
    pub catalog_stack: Option<String>,
    pub product_name: Option<String>,
    pub ssm_prefix: Option<String>,
    pub principal: Option<String>,
    pub instance_type: Option<String>,
    pub session_seconds: Option<i64>,
    pub parameter_type: Option<String>,
    pub concurrency: Option<i64>,
}

impl Section {
    fn overlay(mut self, over: Section) -> Section {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            name,
            s3_stack,
            catalog_stack,
            product_name,
            ssm_prefix,
            principal,
            instance_type,
            session_seconds,
            parameter_type,
            concurrency
        );
        self
    }
}

/// The file in effect and the merged section.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub env: String,
    pub values: Section,
    /// Keys set by the `--env` section itself (the others come from `[default]`).
    pub env_keys: std::collections::BTreeSet<String>,
}

/// Find and read the config file; None when there is none (and none was asked for).
pub fn load(explicit: Option<&Path>, env: Option<&str>) -> Result<Option<Loaded>> {
    let path = match explicit {
        Some(p) if !p.is_file() => return Err(usage(format!("--config {}: no such file", p.display()))),
        Some(p) => p.to_path_buf(),
        None => match candidates().into_iter().find(|p| p.is_file()) {
            Some(p) => p,
            None if env.is_some_and(|e| e != "default") => {
                return Err(usage(format!(
                    "--env {}: no {FILE_NAME} found (looked in . and the user config dir)",
                    env.unwrap_or_default()
                )))
            }
            None => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| usage(format!("config file {}: {e}", path.display())))?;
    parse(&text, &path, env.unwrap_or("default")).map(Some)
}

fn candidates() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from(FILE_NAME)];
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        out.push(PathBuf::from(dir).join("notebook-vend").join(FILE_NAME));
    } else if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        out.push(PathBuf::from(home).join(".config").join("notebook-vend").join(FILE_NAME));
    }
    out
}

pub fn parse(text: &str, path: &Path, env: &str) -> Result<Loaded> {
    let file = path.display();
    let table: toml::Table =
        toml::from_str(text).map_err(|e| usage(format!("config file {file}: {}", one_line(&e.to_string()))))?;
    let mut sections: BTreeMap<String, Section> = BTreeMap::new();
    let mut env_keys = std::collections::BTreeSet::new();
    for (name, value) in table {
        let toml::Value::Table(t) = value else {
            return Err(usage(format!("config file {file}: key {name:?} must be a [section] (like [default])")));
        };
        if name == env && env != "default" {
            env_keys = t.keys().cloned().collect();
        }
        let section: Section = toml::Value::Table(t).try_into().map_err(|e: toml::de::Error| {
            usage(format!("config file {file}: [{name}] {}", one_line(&e.to_string())))
        })?;
        check(&section).map_err(|e| usage(format!("config file {file}: [{name}] {e}")))?;
        sections.insert(name, section);
    }
    let default = sections.get("default").cloned().unwrap_or_default();
    let values = if env == "default" {
        default
    } else {
        let named = sections
            .get(env)
            .cloned()
            .ok_or_else(|| usage(format!("--env {env}: config file {file} has no [{env}] section")))?;
        default.overlay(named)
    };
    Ok(Loaded { path: path.to_path_buf(), env: env.to_owned(), values, env_keys })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The same rules as the flags, with the key named.
fn check(s: &Section) -> std::result::Result<(), String> {
    let key = |k: &str, r: std::result::Result<String, String>| r.map(|_| ()).map_err(|e| format!("{k}: {e}"));
    if let Some(v) = &s.name {
        key("name", cli::parse_deployment_name(v))?;
    }
    for (k, v) in [("s3_stack", &s.s3_stack), ("catalog_stack", &s.catalog_stack)] {
        if let Some(v) = v {
            key(k, cli::parse_stack_name(v))?;
        }
    }
    if let Some(v) = &s.product_name {
        key("product_name", cli::parse_product_name(v))?;
    }
    if let Some(v) = &s.ssm_prefix {
        key("ssm_prefix", cli::parse_ssm_prefix(v))?;
    }
    if let Some(v) = &s.principal {
        key("principal", cli::parse_principal(v))?;
    }
    if let Some(v) = &s.instance_type {
        key("instance_type", cli::parse_instance_type(v))?;
    }
    if let Some(v) = s.session_seconds {
        if !(1800..=43200).contains(&v) {
            return Err(format!("session_seconds: {v} is outside 1800..=43200"));
        }
    }
    if let Some(v) = &s.parameter_type {
        if v != "SecureString" && v != "String" {
            return Err(format!("parameter_type: {v:?} must be SecureString or String"));
        }
    }
    if let Some(v) = s.concurrency {
        if !(1..=64).contains(&v) {
            return Err(format!("concurrency: {v} is outside 1..=64"));
        }
    }
    Ok(())
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "at")]
pub enum Origin {
    Flag,
    Env(String),
    File(String),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("flag"),
            Origin::Env(v) => write!(f, "env {v}"),
            Origin::File(p) => write!(f, "file {p}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// How clap filled each argument (flag, environment, default), by argument id.
pub type ClapOrigins = BTreeMap<String, ValueSource>;

pub fn clap_origins(matches: &clap::ArgMatches) -> ClapOrigins {
    let mut out = ClapOrigins::new();
    let mut level = Some(matches);
    while let Some(m) = level {
        for id in m.ids() {
            if let Some(src) = m.value_source(id.as_str()) {
                // The deepest level wins: global flags given after the subcommand land there.
                let entry = out.entry(id.as_str().to_owned()).or_insert(src);
                if src != ValueSource::DefaultValue {
                    *entry = src;
                }
            }
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    out
}

/// The environment variable behind each configurable argument.
const ENV_VARS: &[(&str, &str)] = &[
    ("name", "NOTEBOOK_VEND_NAME"),
    ("s3_stack", "NOTEBOOK_VEND_S3_STACK"),
    ("catalog_stack", "NOTEBOOK_VEND_CATALOG_STACK"),
    ("product_name", "NOTEBOOK_VEND_PRODUCT_NAME"),
    ("ssm_prefix", "NOTEBOOK_VEND_SSM_PREFIX"),
    ("principal", "NOTEBOOK_VEND_PRINCIPAL"),
    ("instance_type", "NOTEBOOK_VEND_INSTANCE_TYPE"),
    ("session_seconds", "NOTEBOOK_VEND_SESSION_SECONDS"),
    ("parameter_type", "NOTEBOOK_VEND_PARAMETER_TYPE"),
    ("concurrency", "NOTEBOOK_VEND_CONCURRENCY"),
];

fn origin_of(id: &str, clap: &ClapOrigins, file: Option<&Loaded>, in_file: bool) -> Origin {
    match clap.get(id) {
        Some(ValueSource::CommandLine) => Origin::Flag,
        Some(ValueSource::EnvVariable) => {
            Origin::Env(ENV_VARS.iter().find(|(k, _)| *k == id).map(|(_, v)| (*v).to_owned()).unwrap_or_default())
        }
        _ if in_file => Origin::File(
            file.map(|f| {
                let section = if f.env_keys.contains(id) { f.env.as_str() } else { "default" };
                format!("{} [{section}]", f.path.display())
            })
            .unwrap_or_default(),
        ),
        _ => Origin::Default,
    }
}

fn from_flag_or_env(id: &str, clap: &ClapOrigins) -> bool {
    matches!(clap.get(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
}

/// Fill what neither a flag nor the environment set from the file. Returns, for `config show`,
/// every setting with its effective value and origin.
pub fn apply(cli: &mut Cli, clap: &ClapOrigins, file: Option<&Loaded>) -> Vec<(String, String, Origin)> {
    let f = file.map(|l| l.values.clone()).unwrap_or_default();
    let d = &mut cli.global.deployment;
    let mut shown = Vec::new();
    macro_rules! deployment {
        ($($field:ident),*) => {$(
            if !from_flag_or_env(stringify!($field), clap) && f.$field.is_some() {
                d.$field = f.$field.clone();
            }
        )*};
    }
    deployment!(name, s3_stack, catalog_stack, product_name, ssm_prefix);
    let names = d.resolve();
    for (id, value) in [
        ("name", d.name.clone().unwrap_or_else(|| "-".into())),
        ("s3_stack", names.s3_stack.clone()),
        ("catalog_stack", names.catalog_stack.clone()),
        ("product_name", names.product_name.clone()),
        ("ssm_prefix", names.ssm_prefix.clone()),
    ] {
        let in_file = match id {
            "name" => f.name.is_some(),
            "s3_stack" => f.s3_stack.is_some(),
            "catalog_stack" => f.catalog_stack.is_some(),
            "product_name" => f.product_name.is_some(),
            _ => f.ssm_prefix.is_some(),
        };
        let mut origin = origin_of(id, clap, file, in_file);
        // A name derived from --name comes from wherever --name came from.
        if origin == Origin::Default && id != "name" && d.name.is_some() {
            origin = origin_of("name", clap, file, f.name.is_some());
        }
        shown.push((id.to_owned(), value, origin));
    }

    let session_default = !from_flag_or_env("session_seconds", clap);
    let type_default = !from_flag_or_env("parameter_type", clap);
    let file_type = f.parameter_type.as_deref().map(|t| {
        if t == "String" {
            ParameterType::String
        } else {
            ParameterType::SecureString
        }
    });
    let mut session = 43200i64;
    let mut ptype = ParameterType::SecureString;
    let mut store = |s: &mut cli::UrlStoreArgs| {
        if session_default {
            if let Some(v) = f.session_seconds {
                s.session_seconds = v as i32;
            }
        }
        if type_default {
            if let Some(t) = file_type {
                s.parameter_type = t;
            }
        }
        session = s.session_seconds as i64;
        ptype = s.parameter_type;
    };
    let mut principal = None;
    let mut instance_type = None;
    let mut concurrency = 8i64;
    match &mut cli.command {
        Command::Bootstrap(a) => {
            if a.principal.is_none() {
                a.principal = f.principal.clone();
            }
            principal = a.principal.clone();
        }
        Command::Provision(a) => {
            if a.instance_type.is_none() {
                a.instance_type = f.instance_type.clone();
            }
            instance_type = a.instance_type.clone();
            store(&mut a.store);
        }
        Command::Refresh(a) => {
            if !from_flag_or_env("concurrency", clap) {
                if let Some(c) = f.concurrency {
                    a.concurrency = c as u16;
                }
            }
            concurrency = a.concurrency as i64;
            store(&mut a.store);
        }
        _ => {
            principal = f.principal.clone();
            instance_type = f.instance_type.clone();
            session = f.session_seconds.unwrap_or(session);
            ptype = file_type.unwrap_or(ptype);
            concurrency = f.concurrency.unwrap_or(concurrency);
        }
    }
    let ptype = match ptype {
        ParameterType::SecureString => "SecureString",
        ParameterType::String => "String",
    };
    for (id, value, in_file) in [
        ("principal", principal.unwrap_or_else(|| "(the caller's identity)".into()), f.principal.is_some()),
        ("instance_type", instance_type.unwrap_or_else(|| "(the product's default)".into()), f.instance_type.is_some()),
        ("session_seconds", session.to_string(), f.session_seconds.is_some()),
        ("parameter_type", ptype.to_owned(), f.parameter_type.is_some()),
        ("concurrency", concurrency.to_string(), f.concurrency.is_some()),
    ] {
        shown.push((id.to_owned(), value, origin_of(id, clap, file, in_file)));
    }
    shown
}
