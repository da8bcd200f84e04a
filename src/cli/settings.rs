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
use serde::Serialize;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::usage;

pub const FILE_NAME: &str = "notebook-vend.toml";

/// Every setting, once. Its key is the file key, the clap argument id of every argument that takes
/// it (in any subcommand) and, upper-cased behind `NOTEBOOK_VEND_`, its environment variable; its
/// value is checked by that argument's own value parser, wherever it comes from.
pub struct Setting {
    pub key: &'static str,
    /// A deployment name: a global flag, derived from `name` when not set itself.
    pub deployment_name: bool,
    /// What `config show` prints when no layer sets it and the argument has no default.
    pub unset: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting { key: "name", deployment_name: true, unset: "-" },
    Setting { key: "s3_stack", deployment_name: true, unset: "" },
    Setting { key: "catalog_stack", deployment_name: true, unset: "" },
    Setting { key: "product_name", deployment_name: true, unset: "" },
    Setting { key: "ssm_prefix", deployment_name: true, unset: "" },
    Setting { key: "principal", deployment_name: false, unset: "(the caller's identity)" },
    Setting { key: "instance_type", deployment_name: false, unset: "(the product's default)" },
    Setting { key: "session_seconds", deployment_name: false, unset: "" },
    Setting { key: "parameter_type", deployment_name: false, unset: "" },
    Setting { key: "concurrency", deployment_name: false, unset: "" },
    Setting { key: "alb_arn", deployment_name: false, unset: "(no home page)" },
    Setting { key: "alb_key_url", deployment_name: false, unset: "" },
    Setting { key: "oidc_user_claim", deployment_name: false, unset: "" },
];

/// The environment variable of a setting.
pub fn env_var(key: &str) -> String {
    format!("NOTEBOOK_VEND_{}", key.to_ascii_uppercase())
}

/// One section of the file: setting key -> value, in the form a flag takes.
pub type Section = BTreeMap<String, String>;

/// A file section's keys and values: only settings, each a string or a whole number.
fn section(table: toml::Table) -> std::result::Result<Section, String> {
    let mut out = Section::new();
    for (key, value) in table {
        if !SETTINGS.iter().any(|s| s.key == key) {
            let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
            return Err(format!("unknown key {} (known: {})", crate::text::cut(&key), known.join(", ")));
        }
        let text = match value {
            toml::Value::String(v) => v,
            toml::Value::Integer(v) => v.to_string(),
            other => return Err(format!("{key}: a {} where a string or a number belongs", other.type_str())),
        };
        check(&key, &text).map_err(|e| format!("{key}: {e}"))?;
        out.insert(key, text);
    }
    Ok(out)
}

/// The value parser of the first argument whose id is `key`, the one a flag's value goes through.
fn value_parser(key: &str) -> Option<clap::builder::ValueParser> {
    fn find(cmd: &clap::Command, key: &str) -> Option<clap::builder::ValueParser> {
        cmd.get_arguments()
            .find(|a| a.get_id() == key)
            .map(|a| a.get_value_parser().clone())
            .or_else(|| cmd.get_subcommands().find_map(|s| find(s, key)))
    }
    find(&Cli::command(), key)
}

/// Check a value as its flag would be: a value every command would refuse is refused here, with
/// clap's reason on one line.
fn check(key: &str, value: &str) -> std::result::Result<(), String> {
    let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else { return Ok(()) };
    let Some(parser) = value_parser(key) else { return Ok(()) };
    // The argument alone (its relations name arguments of its own subcommand). clap keeps
    // &'static defaults; a check runs once per setting and run.
    let value: &'static str = Box::leak(value.to_owned().into_boxed_str());
    let alone = clap::Arg::new(setting.key).default_value(value).value_parser(parser);
    let lone = clap::Command::new("notebook-vend").no_binary_name(true).arg(alone);
    lone.try_get_matches_from(Vec::<String>::new()).map(|_| ()).map_err(|e| {
        let why = e.to_string();
        // clap quotes the value whole; a file can hold a value of any size, so it is cut.
        let why = why.lines().next().unwrap_or_default().trim_start_matches("error: ");
        why.replace(&format!("'{value}'"), &crate::text::cut(value))
    })
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
        let section = section(t).map_err(|e| usage(format!("config file {file}: [{name}] {e}")))?;
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
        default.into_iter().chain(named).collect()
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
        for &Setting { key, .. } in SETTINGS {
            let var = env_var(key);
            if let Some(v) = env(&var).filter(|v| !v.is_empty()) {
                values.insert(key, (v, Origin::Env(var)));
            } else if let Some((v, f)) = file.as_ref().and_then(|f| f.values.get(key).map(|v| (v.clone(), f))) {
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
            let Some(&Setting { key, .. }) = SETTINGS.iter().find(|s| s.key == id) else { continue };
            let var = env_var(key);
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

/// For `config show`: every setting with its effective value and origin, read from the same
/// layered command the other subcommands parse with. Deployment names are global flags (so
/// `config show --name X` shows them as given); the others are read from the first subcommand
/// that takes them, whose default is whatever the layers put there.
pub fn show(cli: &Cli, clap: &ClapOrigins, layers: &Layers) -> Result<Vec<(String, String, Origin)>> {
    let d = &cli.global.deployment;
    let names = d.resolve();
    let cmd = layers.command();
    let mut shown = Vec::new();
    for setting in SETTINGS {
        let id = setting.key;
        if setting.deployment_name {
            let value = match id {
                "name" => d.name.clone(),
                "s3_stack" => Some(names.s3_stack.clone()),
                "catalog_stack" => Some(names.catalog_stack.clone()),
                "product_name" => Some(names.product_name.clone()),
                "ssm_prefix" => Some(names.ssm_prefix.clone()),
                _ => None,
            };
            let mut origin = layers.origin(id, clap.get(id).copied());
            // A name derived from --name comes from wherever --name came from.
            if origin == Origin::Default && id != "name" && d.name.is_some() {
                origin = layers.origin("name", clap.get("name").copied());
            }
            shown.push((id.to_owned(), value.unwrap_or_else(|| setting.unset.to_owned()), origin));
            continue;
        }
        // The others are read from the first subcommand that takes them, whose default is
        // whatever the layers put there.
        let found = cmd.get_subcommands().flat_map(|s| s.get_arguments()).find(|a| a.get_id() == id);
        let value = match found.and_then(|a| a.get_default_values().first()) {
            // A value every command would refuse with exit 2 is not shown as if it were in effect.
            Some(v) => {
                let v = v.to_string_lossy().into_owned();
                check(id, &v).map_err(|why| usage(format!("{id} from {}: {why}", layers.origin(id, None))))?;
                v
            }
            None => setting.unset.to_owned(),
        };
        shown.push((id.to_owned(), value, layers.origin(id, None)));
    }
    Ok(shown)
}
