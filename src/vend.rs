//! The step every path to a URL shares (provision, refresh, watch, serve): wait for the notebook,
//! mint a presigned URL, store it in SSM. What the blog's two Lambda functions did.

use std::fmt;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::cli::UrlStoreArgs;
use crate::context::Context;
use crate::naming;
use crate::notebook::{self, WhenStopped};
use crate::poll::Deadline;
use crate::progress::{self, Task};
use crate::urls::{self, Stored};

/// How long a notebook may be missing after its record succeeded (the stack created it; the
/// SageMaker API may lag behind).
pub const NOT_FOUND_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub user: String,
    pub notebook: String,
    pub status: String,
    /// The notebook's instance type as SageMaker describes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(flatten)]
    pub stored: Stored,
    /// Only when asked for (`--show-url`): it is a credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "user             {}", self.user)?;
        writeln!(f, "notebook         {} ({})", self.notebook, self.status)?;
        writeln!(
            f,
            "parameter        {} ({}, {} tier)",
            self.stored.parameter, self.stored.parameter_type, self.stored.tier
        )?;
        writeln!(f, "stored at        {}", self.stored.stored_at)?;
        write!(f, "session expires  {}", self.stored.session_expires)?;
        if let Some(url) = &self.url {
            write!(f, "\nurl              {url}")?;
        }
        Ok(())
    }
}

/// A command acts only on notebooks of its own deployment: the user's provisioned product must be
/// one of this deployment's product. Notebook and parameter names do not tell deployments apart
/// (`<user>-Notebook` is one name per account and Region, whoever vended it), so without this a
/// command of one deployment would mint another's URL and store it under its own prefix.
pub async fn require_in_deployment(ctx: &Context, user: &str) -> Result<()> {
    let product = crate::catalog::resolve_product(ctx).await?;
    let not_ours = |why: String| {
        NotInDeployment(format!(
            "no notebook {} for {user} in deployment {:?} (product {}); nothing was written; {why}",
            naming::notebook_name(user),
            ctx.names.product_name,
            product.id
        ))
    };
    match crate::catalog::find_for_user(ctx, &product, user).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(not_ours(format!("provision it with `notebook-vend provision --user {user}`")).into()),
        Err(e) => match e.downcast_ref::<crate::catalog::OtherProduct>() {
            Some(other) => Err(not_ours(other.0.clone()).into()),
            None => Err(e),
        },
    }
}

/// The user has no notebook of this deployment's product (see [`require_in_deployment`]).
#[derive(Debug)]
pub struct NotInDeployment(pub String);

impl fmt::Display for NotInDeployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotInDeployment {}

pub struct Request<'a> {
    pub user: &'a str,
    pub store: &'a UrlStoreArgs,
    pub grace: Duration,
    pub when_stopped: WhenStopped,
    pub resume: String,
    pub show_url: bool,
}

pub async fn deliver(ctx: &Context, req: &Request<'_>, deadline: Deadline, task: &Task) -> Result<Delivery> {
    let name = naming::notebook_name(req.user);
    progress::set_in_flight(format!("storing the URL of {name}; run `{}` to finish", req.resume));
    // AWS documents no state precondition for CreatePresignedNotebookInstanceUrl (botocore
    // sagemaker model; SageMaker API reference): a URL it answers proves nothing about the
    // notebook. So the notebook is described alongside the presign (same latency as presigning
    // alone), with the parameter's current tier, and a URL is kept only when the notebook is known
    // InService; otherwise it is dropped, the notebook is waited for (or started), and a new URL
    // minted. A refused presign is an error like any other.
    let (described, presigned, tier) = tokio::join!(
        notebook::describe(ctx, &name),
        notebook::presign(ctx, &name, req.store.session_seconds),
        urls::current(ctx, req.user)
    );
    let (status, instance_type, url) = match described? {
        Some(nb) if nb.status == "InService" => (nb.status, nb.instance_type, presigned?),
        other => {
            drop(presigned);
            if let Some(nb) = &other {
                progress::set_in_flight(format!("notebook {name} is {}; run `{}` to resume", nb.status, req.resume));
            }
            let nb = notebook::wait_in_service(ctx, req.user, req.grace, req.when_stopped, deadline, task, &req.resume)
                .await?;
            task.set(format!("notebook {name}: InService, storing a presigned URL"));
            progress::set_in_flight(format!("storing the URL of {name}; run `{}` to finish", req.resume));
            (nb.status, nb.instance_type, notebook::presign(ctx, &name, req.store.session_seconds).await?)
        }
    };
    let stored =
        urls::store(ctx, req.user, &url, req.store.session_seconds, req.store.parameter_type, tier?.as_ref()).await?;
    // A terminate may have run meanwhile: a PutParameter delayed (throttled, retried) lands after
    // terminate's DeleteParameter, and would leave a credential with no notebook. So the notebook
    // is described again once the URL is stored, and the URL deleted when the notebook is gone or
    // being deleted. (terminate deletes the parameter only once the notebook is gone: either this
    // check sees it gone, or terminate's delete comes after this store.)
    match notebook::describe(ctx, &name).await? {
        Some(nb) if nb.status != "Deleting" => {}
        gone => {
            urls::delete(ctx, req.user).await?;
            let now = gone.map(|nb| format!("is {}", nb.status)).unwrap_or_else(|| "is gone".to_owned());
            anyhow::bail!(
                "notebook {name} {now} (terminated while its URL was being stored): the URL just stored was deleted"
            );
        }
    }
    tracing::info!(user = req.user, parameter = %stored.parameter, version = stored.version, "stored a fresh URL");
    Ok(Delivery {
        user: req.user.to_owned(),
        notebook: name,
        status,
        instance_type,
        stored,
        url: req.show_url.then_some(url),
    })
}
