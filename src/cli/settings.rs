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

use clap::CommandFactory;

use crate::cli::values;
use crate::cli::Cli;
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
        Some(p) if !p.is_file() => {
            return Err(usage(format!("--config {}: no such file (or not a file)", p.display())))
        }
        Some(p) => p.to_path_buf(),
        // A candidate that exists but is not a readable file (a directory, a broken symlink) is
        // an error, not "no settings": silently running with other names is worse.
        None => match candidates().into_iter().find(|p| p.symlink_metadata().is_ok()) {
            Some(p) if !p.is_file() => {
                let what = if p.is_dir() { "is a directory" } else { "is not a file (a broken symlink?)" };
                return Err(usage(format!("config file {} {what}; remove it or pass --config FILE", p.display())));
            }
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

/// toml's message on one line, cut: it quotes the offending line of the file, whatever its size.
fn one_line(s: &str) -> String {
    const MAX: usize = 300;
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() <= MAX {
        return line;
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &line[..end], line.len())
}

/// The same rules as the flags, with the key named.
fn check(s: &Section) -> std::result::Result<(), String> {
    let key = |k: &str, r: std::result::Result<String, String>| r.map(|_| ()).map_err(|e| format!("{k}: {e}"));
    if let Some(v) = &s.name {
        key("name", values::parse_deployment_name(v))?;
    }
    for (k, v) in [("s3_stack", &s.s3_stack), ("catalog_stack", &s.catalog_stack)] {
        if let Some(v) = v {
            key(k, values::parse_stack_name(v))?;
        }
    }
    if let Some(v) = &s.product_name {
        key("product_name", values::parse_product_name(v))?;
    }
    if let Some(v) = &s.ssm_prefix {
        key("ssm_prefix", values::parse_ssm_prefix(v))?;
    }
    if let Some(v) = &s.principal {
        key("principal", values::parse_principal(v))?;
    }
    if let Some(v) = &s.instance_type {
        key("instance_type", values::parse_instance_type(v))?;
    }
    if let Some(v) = s.session_seconds {
        if !(1800..=43200).contains(&v) {
            return Err(format!("session_seconds: {v} is outside 1800..=43200"));
        }
    }
    if let Some(v) = &s.parameter_type {
        if v != "SecureString" && v != "String" {
            return Err(format!("parameter_type: {} must be SecureString or String", crate::text::cut(v)));
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

/// How clap filled each argument (flag or default), by argument id.
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

/// Every setting: the file key, which is also the clap argument id of every argument that takes it
/// (in any subcommand), and its environment variable.
pub const SETTINGS: &[(&str, &str)] = &[
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

/// The layers under the flags: `NOTEBOOK_VEND_*` environment over the file. Both become clap
/// *defaults* of every argument whose id is a setting ([`Layers::command`]), so clap applies
/// flag > env > file > built-in default to every subcommand by construction, and an environment
/// value is no more "explicit" than a default (it never trips a `conflicts_with`).
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub file: Option<Loaded>,
    /// Setting key -> (value, origin), for keys set by the environment or the file.
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Layers {
    /// Read the file (`--config`/`--env`, see [`load`]) and the environment.
    pub fn load(explicit: Option<&Path>, env: Option<&str>) -> Result<Self> {
        let file = load(explicit, env)?;
        Ok(Self::from_parts(file, |var| std::env::var(var).ok()))
    }

    pub fn from_parts(file: Option<Loaded>, env: impl Fn(&str) -> Option<String>) -> Self {
        let mut values = BTreeMap::new();
        for &(key, var) in SETTINGS {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                values.insert(key, (v, Origin::Env(var.to_owned())));
            } else if let Some((v, f)) = file.as_ref().and_then(|f| f.values.get(key).map(|v| (v, f))) {
                let section = if f.env_keys.contains(key) { f.env.as_str() } else { "default" };
                values.insert(key, (v, Origin::File(format!("{} [{section}]", f.path.display()))));
            }
        }
        Layers { file, values }
    }

    /// The root command with the environment's and the file's values as argument defaults.
    pub fn command(&self) -> clap::Command {
        self.layer(Cli::command())
    }

    fn layer(&self, mut cmd: clap::Command) -> clap::Command {
        let ids: Vec<String> = cmd.get_arguments().map(|a| a.get_id().to_string()).collect();
        for id in ids {
            let Some(&(key, var)) = SETTINGS.iter().find(|(k, _)| *k == id) else { continue };
            let layered = self.values.get(key).map(|(v, _)| v.clone());
            cmd = cmd.mut_arg(id, |a| {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                let a = a.help(format!("{help} [env: {var}]"));
                match layered {
                    // Built once per run; clap keeps &'static defaults.
                    Some(v) => a.default_value(&*Box::leak(v.into_boxed_str())),
                    None => a,
                }
            });
        }
        let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
        for name in subs {
            cmd = cmd.mut_subcommand(name, |s| self.layer(s));
        }
        cmd
    }

    /// Where the value of setting `id` came from, given how clap filled it.
    pub fn origin(&self, id: &str, source: Option<ValueSource>) -> Origin {
        match source {
            Some(ValueSource::CommandLine) => Origin::Flag,
            _ => self.values.get(id).map(|(_, o)| o.clone()).unwrap_or(Origin::Default),
        }
    }
}

impl Section {
    /// The value of one key, as text (the form a flag takes).
    fn get(&self, key: &str) -> Option<String> {
        match key {
            "name" => self.name.clone(),
            "s3_stack" => self.s3_stack.clone(),
            "catalog_stack" => self.catalog_stack.clone(),
            "product_name" => self.product_name.clone(),
            "ssm_prefix" => self.ssm_prefix.clone(),
            "principal" => self.principal.clone(),
            "instance_type" => self.instance_type.clone(),
            "session_seconds" => self.session_seconds.map(|v| v.to_string()),
            "parameter_type" => self.parameter_type.clone(),
            "concurrency" => self.concurrency.map(|v| v.to_string()),
            _ => None,
        }
    }
}

/// For `config show`: every setting with its effective value and origin, read from the same
/// layered command the other subcommands parse with. Deployment names are global flags (so
/// `config show --name X` shows them as given); the others are read from the first subcommand
/// that takes them, whose default is whatever the layers put there.
pub fn show(cli: &Cli, clap: &ClapOrigins, layers: &Layers) -> Result<Vec<(String, String, Origin)>> {
    let d = &cli.global.deployment;
    let names = d.resolve();
    let mut shown = Vec::new();
    for (id, value) in [
        ("name", d.name.clone().unwrap_or_else(|| "-".into())),
        ("s3_stack", names.s3_stack.clone()),
        ("catalog_stack", names.catalog_stack.clone()),
        ("product_name", names.product_name.clone()),
        ("ssm_prefix", names.ssm_prefix.clone()),
    ] {
        let mut origin = layers.origin(id, clap.get(id).copied());
        // A name derived from --name comes from wherever --name came from.
        if origin == Origin::Default && id != "name" && d.name.is_some() {
            origin = layers.origin("name", clap.get("name").copied());
        }
        shown.push((id.to_owned(), value, origin));
    }
    let cmd = layers.command();
    for (id, unset) in [
        ("principal", "(the caller's identity)"),
        ("instance_type", "(the product's default)"),
        ("session_seconds", ""),
        ("parameter_type", ""),
        ("concurrency", ""),
    ] {
        let found = cmd.get_subcommands().flat_map(|s| s.get_arguments()).find(|a| a.get_id() == id);
        let default = found.and_then(|a| a.get_default_values().first().map(|v| (a, v.clone())));
        let value = match default {
            // The same check a command makes of it (the argument's value parser): a value every
            // command would refuse with exit 2 is not shown as if it were in effect.
            Some((arg, v)) => {
                // The argument's value parser alone (its relations name arguments of its own
                // subcommand, which a lone command does not have).
                let alone = clap::Arg::new(id).default_value(v.clone()).value_parser(arg.get_value_parser().clone());
                let lone = clap::Command::new("notebook-vend").no_binary_name(true).arg(alone);
                lone.try_get_matches_from(Vec::<String>::new()).map_err(|e| {
                    let from = layers.origin(id, None);
                    let why = e.to_string();
                    let why = why.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
                    usage(format!("{id} from {from}: {why}"))
                })?;
                v.to_string_lossy().into_owned()
            }
            None => unset.to_owned(),
        };
        shown.push((id.to_owned(), value, layers.origin(id, None)));
    }
    Ok(shown)
}
