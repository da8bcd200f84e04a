//! Results go to stdout only, as text for people or JSON for scripts.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

use crate::cli::OutputFormat;

/// Print a command's result in the chosen format. A closed stdout (`| head`) is not an error:
/// the reader has what it wanted.
pub fn emit<T: Serialize + Display>(format: OutputFormat, result: &T) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Text => result.to_string(),
        OutputFormat::Json => serde_json::to_string_pretty(result)?,
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `emit` for bulk commands: the JSON object also carries `aws_calls` (sent, retried, throttled, per
/// API) so that a script sees what the quota cost; the text output is unchanged (`-v` logs the count).
pub fn emit_with_calls<T: Serialize + Display>(ctx: &crate::aws::context::Context, result: &T) -> anyhow::Result<()> {
    if ctx.output == OutputFormat::Json {
        let mut value = serde_json::to_value(result)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("aws_calls".into(), serde_json::to_value(ctx.calls())?);
        }
        return emit(ctx.output, &Json(value));
    }
    emit(ctx.output, result)
}

/// A JSON value printed as itself in both formats.
struct Json(serde_json::Value);

impl Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Fixed-width table for text output; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n")
}
