//! `update --replace-notebook-losing-its-data` terminates a notebook and provisions it again. What
//! the new one is to be (version, every parameter value, the user's tags) is written here before
//! the terminate, so that a run that fails or is killed between the two is resumed by the next
//! `update --user U` with the same values, never by a plain `provision` that would drop them.
//!
//! A local file (`$XDG_STATE_HOME/notebook-vend/`, else `~/.local/state/notebook-vend/`, mode
//! 0600): it needs no AWS permission, and it holds no credential.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Intent {
    pub user: String,
    pub product_id: String,
    pub artifact_id: String,
    pub artifact_name: String,
    /// Every provisioning parameter of the new notebook, NotebookUserName included.
    pub parameters: BTreeMap<String, String>,
    /// The provisioned product's own tags (Owner is added by provision itself).
    pub tags: Vec<(String, String)>,
    /// When it was kept (seconds since the epoch): a provisioned product created before is the
    /// one being replaced, one created after is its replacement.
    pub saved_at: i64,
}

fn dir() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()).map(PathBuf::from);
    let home = || std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|h| PathBuf::from(h).join(".local/state"));
    state.or_else(home).map(|d| d.join("notebook-vend"))
}

/// Where the intent of `user` for this product is kept.
pub fn path(product_id: &str, user: &str) -> Result<PathBuf> {
    let dir = dir().context("no HOME or XDG_STATE_HOME to keep the replacement's values in")?;
    Ok(dir.join(format!("replace-{product_id}-{user}.json")))
}

/// Written before the terminate; an error here stops the replacement with nothing sent.
pub fn save(intent: &Intent) -> Result<PathBuf> {
    let path = path(&intent.product_id, &intent.user)?;
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let body = serde_json::to_string_pretty(intent).expect("an intent serializes");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&path).with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut f, body.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The pending replacement of `user`, if a run left one.
pub fn load(product_id: &str, user: &str) -> Result<Option<Intent>> {
    // Nowhere to keep one: none was kept (save refuses to replace without a place).
    if dir().is_none() {
        return Ok(None);
    }
    let path = path(product_id, user)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a replacement notebook-vend wrote; remove it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The replacement is done: the notebook exists again with its values.
pub fn remove(product_id: &str, user: &str) -> Result<()> {
    let path = path(product_id, user)?;
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}
