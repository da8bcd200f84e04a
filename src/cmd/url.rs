//! `url --user U`: a presigned URL works 5 minutes, so mint one on demand (not stored), print the
//! stored one (`--stored`), or open it in the browser (`--open`).

use std::fmt;

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::urls;
use crate::cli::UrlArgs;
use crate::names::user;

#[derive(Debug, Serialize)]
struct Url {
    user: String,
    source: &'static str,
    url: String,
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

pub async fn run(args: &UrlArgs, ctx: &Context) -> Result<()> {
    let user = args.user.as_str();
    // A fresh URL is minted for the notebook of that name, whoever vended it: only for one of this
    // deployment's. `--stored` reads this deployment's own prefix and needs no such check.
    if !args.stored {
        crate::cmd::shared::vend::require_in_deployment(ctx, user).await?;
    }
    let (url, source) = if args.stored {
        let url = urls::read(ctx, user).await?.ok_or_else(|| {
            anyhow!(
                "no stored URL for {user} (parameter {}); run `notebook-vend refresh --user {user}`",
                user::parameter_name(&ctx.names.ssm_prefix, user)
            )
        })?;
        if !user::is_notebook_url(&url, user) {
            // Not printed: whatever it is, it is not ours to show.
            bail!(
                "parameter {} holds {} characters that are not a presigned URL of notebook {}; run \
                 `notebook-vend refresh --user {user}` to store one",
                user::parameter_name(&ctx.names.ssm_prefix, user),
                url.chars().count(),
                user::notebook_name(user)
            );
        }
        (url, "stored")
    } else {
        let name = user::notebook_name(user);
        // A presign is not a state check (AWS documents no state precondition for
        // CreatePresignedNotebookInstanceUrl): the notebook is described alongside (same latency),
        // and the URL is printed only when the notebook is InService.
        let (described, presigned) =
            tokio::join!(notebook::describe(ctx, &name), notebook::presign(ctx, &name, args.session_seconds));
        match described? {
            None => bail!("no notebook {name}; provision it with `notebook-vend provision --user {user}`"),
            Some(nb) => match nb.state() {
                Nb::InService => (presigned?, "fresh"),
                Nb::Stopped => {
                    bail!("notebook {name} is Stopped; start it with `notebook-vend start --user {user}`")
                }
                // botocore NotebookInstanceStatus; SageMaker ends maintenance on its own.
                Nb::PendingMaintenance | Nb::InMaintenance => bail!(
                    "notebook {name} is {} (SageMaker maintenance); a URL needs it InService: \
                     `notebook-vend refresh --user {user}` waits for it and stores one",
                    nb.status
                ),
                Nb::Pending | Nb::Stopping | Nb::Failed | Nb::Deleting | Nb::Updating => {
                    bail!("notebook {name} is {}; a URL needs it InService", nb.status)
                }
                // A state newer than this SDK (the enum is #[non_exhaustive]).
                _ => bail!("notebook {name} is {}; a URL needs it InService", nb.status),
            },
        }
    };
    if args.open {
        open_in_browser(&url).await?;
        ctx.progress.line(format!("opened the {source} URL of {user} in the browser"));
        return Ok(());
    }
    crate::output::emit(ctx.output, &Url { user: user.to_owned(), source, url })
}

/// How long the redirect file stays after the opener returned: openers (xdg-open, `open`, a
/// browser handing off to its running instance) return before the browser has read the file.
const REDIRECT_FILE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Open the URL without putting it on any command line (every local user can read those, e.g.
/// with `ps`): the URL goes into an HTML file that redirects to it (mode 0600, in a fresh
/// directory of mode 0700), the browser is given the file's path, and the file is removed
/// [`REDIRECT_FILE_GRACE`] after the opener returns (and on Ctrl-C). The program runs directly,
/// never through a shell.
async fn open_in_browser(url: &str) -> Result<()> {
    let redirect = RedirectFile::write(url)?;
    let path = redirect.file.to_string_lossy().into_owned();
    let (program, args): (&str, Vec<&str>) = if cfg!(target_os = "macos") {
        ("open", vec![&path])
    } else if cfg!(windows) {
        ("rundll32", vec!["url.dll,FileProtocolHandler", &path])
    } else {
        ("xdg-open", vec![&path])
    };
    let browser = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let status = match &browser {
        Some(b) => std::process::Command::new(b).arg(&path).status(),
        None => std::process::Command::new(program).args(&args).status(),
    }
    .with_context(|| format!("cannot run {} to open the URL", browser.as_deref().unwrap_or(program)))?;
    if !status.success() {
        bail!("{} could not open the URL ({status})", browser.as_deref().unwrap_or(program));
    }
    tokio::time::sleep(REDIRECT_FILE_GRACE).await;
    drop(redirect);
    Ok(())
}

/// A private directory holding `open.html`; both are removed when dropped.
struct RedirectFile {
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl RedirectFile {
    fn write(url: &str) -> Result<Self> {
        use std::io::Write as _;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| anyhow!("cannot make a private file name: {e}"))?;
        let dir = std::env::temp_dir().join(format!("notebook-vend-{}", hex::encode(nonce)));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        // create, not create_all: a name someone else made first is an error, not reused.
        builder.create(&dir).with_context(|| format!("cannot create the private directory {}", dir.display()))?;
        remove_stale(&dir);
        let this = RedirectFile { file: dir.join("open.html"), dir };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let escaped = url.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;");
        let html = format!(
            "<!doctype html><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\
             <meta http-equiv=\"refresh\" content=\"0;url={escaped}\"><title>notebook-vend</title>\
             <a href=\"{escaped}\">Open the notebook</a>\n"
        );
        let mut f = options.open(&this.file).with_context(|| format!("cannot create {}", this.file.display()))?;
        f.write_all(html.as_bytes()).with_context(|| format!("cannot write {}", this.file.display()))?;
        Ok(this)
    }
}

/// Redirect files a run killed before its cleanup (SIGKILL, a crash) left behind: directories
/// `notebook-vend-<32 hex>` next to `ours`, of the same owner, older than any live run keeps
/// one (its grace, with a wide margin). Each held a URL; removed on the next `--open`.
fn remove_stale(ours: &std::path::Path) {
    const STALE: std::time::Duration = std::time::Duration::from_secs(60);
    let Some(parent) = ours.parent() else { return };
    let Ok(mine) = std::fs::metadata(ours) else { return };
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours_by_name = name
            .strip_prefix("notebook-vend-")
            .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        let old = meta.modified().ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > STALE);
        #[cfg(unix)]
        let same_owner = std::os::unix::fs::MetadataExt::uid(&meta) == std::os::unix::fs::MetadataExt::uid(&mine);
        #[cfg(not(unix))]
        let same_owner = {
            let _ = &mine;
            true
        };
        if ours_by_name && meta.is_dir() && old && same_owner && entry.path() != ours {
            let _ = std::fs::remove_file(entry.path().join("open.html"));
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

impl Drop for RedirectFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}
