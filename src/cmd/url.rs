//! `url --user U`: a presigned URL works 5 minutes, so mint one on demand (not stored), print the
//! stored one (`--stored`), or open it in the browser (`--open`).

use std::fmt;

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use serde::Serialize;

use crate::cli::UrlArgs;
use crate::context::Context;
use crate::naming;
use crate::notebook;
use crate::urls;

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
    let (url, source) = if args.stored {
        let url = urls::read(ctx, user).await?.ok_or_else(|| {
            anyhow!(
                "no stored URL for {user} (parameter {}); run `notebook-vend refresh --user {user}`",
                naming::parameter_name(&ctx.names.ssm_prefix, user)
            )
        })?;
        (url, "stored")
    } else {
        let name = naming::notebook_name(user);
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
        open_in_browser(&url)?;
        ctx.progress.line(format!("opened the {source} URL of {user} in the browser"));
        return Ok(());
    }
    crate::output::emit(ctx.output, &Url { user: user.to_owned(), source, url })
}

/// The platform's opener; the URL goes as an argument, never through a shell.
fn open_in_browser(url: &str) -> Result<()> {
    let (program, args): (&str, Vec<&str>) = if cfg!(target_os = "macos") {
        ("open", vec![url])
    } else if cfg!(windows) {
        ("rundll32", vec!["url.dll,FileProtocolHandler", url])
    } else {
        ("xdg-open", vec![url])
    };
    let browser = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let status = match &browser {
        Some(b) => std::process::Command::new(b).arg(url).status(),
        None => std::process::Command::new(program).args(&args).status(),
    }
    .with_context(|| format!("cannot run {} to open the URL", browser.as_deref().unwrap_or(program)))?;
    if !status.success() {
        bail!("{} could not open the URL ({status})", browser.as_deref().unwrap_or(program));
    }
    Ok(())
}
