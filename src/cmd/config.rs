//! `config show`: the effective settings and where each came from.

use std::fmt;

use anyhow::Result;
use serde::Serialize;

use crate::cli::settings::Origin;
use crate::cli::OutputFormat;
use crate::output::table;

#[derive(Debug, Serialize)]
struct Setting {
    key: String,
    value: String,
    origin: Origin,
}

#[derive(Debug, Serialize)]
struct Shown {
    file: Option<String>,
    env: String,
    settings: Vec<Setting>,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "config file  {}", self.file.as_deref().unwrap_or("(none found)"))?;
        writeln!(f, "environment  {}", self.env)?;
        let rows: Vec<Vec<String>> =
            self.settings.iter().map(|s| vec![s.key.clone(), s.value.clone(), s.origin.to_string()]).collect();
        write!(f, "{}", table(&["SETTING", "VALUE", "FROM"], &rows))
    }
}

pub fn run(
    output: OutputFormat,
    file: Option<&crate::cli::settings::Loaded>,
    env: &str,
    shown: Vec<(String, String, Origin)>,
) -> Result<()> {
    let settings = shown.into_iter().map(|(key, value, origin)| Setting { key, value, origin }).collect();
    crate::output::emit(
        output,
        &Shown { file: file.map(|f| f.path.display().to_string()), env: env.to_owned(), settings },
    )
}
