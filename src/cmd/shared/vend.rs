//! The step every path to a URL shares (provision, refresh, watch, serve): wait for the notebook,
//! mint a presigned URL, store it in SSM. What the blog's two Lambda functions did.

use std::fmt;
use std::time::Duration;

use anyhow::Result;
use aws_sdk_sagemaker::types::NotebookInstanceStatus;
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::notebook::{self, WhenStopped};
use crate::aws::poll::Deadline;
use crate::aws::urls::{self, Stored};
use crate::cli::UrlStoreArgs;
use crate::cmd::shared::fanout::{self, Lines};
use crate::names::user;
use crate::progress::{self, Task};

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
    let product = crate::aws::catalog::resolve_product(ctx).await?;
    let not_ours = |why: String| {
        NotInDeployment(format!(
            "no notebook {} for {user} in deployment {:?} (product {}); nothing was written; {why}",
            user::notebook_name(user),
            ctx.names.product_name,
            product.id
        ))
    };
    match crate::aws::catalog::find_for_user(ctx, &product, user).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(not_ours(format!("provision it with `notebook-vend provision --user {user}`")).into()),
        Err(e) => match e.downcast_ref::<crate::aws::catalog::OtherProduct>() {
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
    /// The product stack of the user's notebook, when the caller knows it: bound in the URL
    /// parameter's description, where bulk commands read the owner of each stack.
    pub stack: Option<&'a str>,
}

pub async fn deliver(ctx: &Context, req: &Request<'_>, deadline: Deadline, task: &Task) -> Result<Delivery> {
    let name = user::notebook_name(req.user);
    progress::set_in_flight(format!("storing the URL of {name}; run `{}` to finish", req.resume));
    // AWS documents no state precondition for CreatePresignedNotebookInstanceUrl (botocore
    // sagemaker model; SageMaker API reference): a URL it answers proves nothing about the
    // notebook. So the notebook is described alongside the presign (same latency as presigning
    // alone), with the parameter's current tier, and a URL is kept only when the notebook is known
    // InService; otherwise it is dropped, the notebook is waited for (or started), and a new URL
    // minted. A refused presign is an error like any other.
    let (described, presigned, current) = tokio::join!(
        notebook::describe(ctx, &name),
        notebook::presign(ctx, &name, req.store.session_seconds),
        urls::current(ctx, req.user)
    );
    let (status, instance_type, url) = match described? {
        Some(nb) if nb.state() == NotebookInstanceStatus::InService => (nb.status, nb.instance_type, presigned?),
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
    let current = current?;
    let target = urls::Target { user: req.user, current: current.as_ref(), stack: req.stack, verify_tags: true };
    let stored = urls::store(ctx, &target, &url, req.store.session_seconds, req.store.parameter_type).await?;
    // A terminate may have run meanwhile: a PutParameter delayed (throttled, retried) lands after
    // terminate's DeleteParameter, and would leave a credential with no notebook. So the notebook
    // is described again once the URL is stored, and the URL deleted when the notebook is gone or
    // being deleted. (terminate deletes the parameter only once the notebook is gone: either this
    // check sees it gone, or terminate's delete comes after this store.)
    match notebook::describe(ctx, &name).await? {
        Some(nb) if nb.state() != NotebookInstanceStatus::Deleting => {}
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

/// One user of a bulk delivery, with the product stack of their notebook when known.
pub struct Bulk<'a> {
    pub user: String,
    pub stack: Option<String>,
    pub store: &'a UrlStoreArgs,
    pub when_stopped: WhenStopped,
}

/// [`deliver`] for many users, paying its rules in batches rather than per user: the notebooks'
/// states (`before`: `notebook::list_by_name`, 100 a call) and the parameters' metadata (`params`:
/// DescribeParameters, 50 a call) are read once for the run by the caller, so a user whose notebook
/// is InService costs a presign and a PutParameter (tags only where the metadata does not say
/// notebook-vend set them). Anyone else (Pending, Stopped, unknown...) goes through [`deliver`],
/// which waits, starts or fails as asked. After the stores the states are read again, in a batch: a
/// URL just stored for a notebook that is no longer InService is deleted and that user fails, so
/// no URL outlives its notebook's run (what [`deliver`] checks for one user).
pub async fn deliver_all(
    ctx: &Context,
    users: Vec<Bulk<'_>>,
    before: &std::collections::BTreeMap<String, notebook::Notebook>,
    params: &[(String, aws_sdk_ssm::types::ParameterMetadata)],
    concurrency: usize,
    deadline: Deadline,
    counter: &Task,
) -> Result<Vec<(String, Result<Delivery>)>> {
    let existing: std::collections::BTreeMap<&str, urls::Existing> =
        params.iter().map(|(u, p)| (u.as_str(), urls::Existing::of(p))).collect();
    let existing = &existing;
    let mut results = fanout::each(
        users,
        concurrency,
        counter,
        Lines::Failures,
        |b| b.user.clone(),
        |b| async move {
            match before.get(&user::notebook_name(&b.user)) {
                Some(nb) if nb.state() == NotebookInstanceStatus::InService => {
                    store_for_running(ctx, &b, nb, existing.get(b.user.as_str())).await
                }
                _ => {
                    let req = Request {
                        user: &b.user,
                        store: b.store,
                        grace: Duration::ZERO,
                        when_stopped: b.when_stopped,
                        resume: format!("notebook-vend refresh --user {}", b.user),
                        show_url: false,
                        stack: b.stack.as_deref(),
                    };
                    deliver(ctx, &req, deadline, &ctx.progress.silent()).await
                }
            }
        },
    )
    .await;
    drop_urls_of_stopped(ctx, &mut results, counter).await?;
    Ok(results)
}

/// Presign and store for a notebook the batch read showed InService.
async fn store_for_running(
    ctx: &Context,
    b: &Bulk<'_>,
    nb: &notebook::Notebook,
    current: Option<&urls::Existing>,
) -> Result<Delivery> {
    let url = notebook::presign(ctx, &nb.name, b.store.session_seconds).await?;
    let target = urls::Target { user: &b.user, current, stack: b.stack.as_deref(), verify_tags: false };
    let stored = urls::store(ctx, &target, &url, b.store.session_seconds, b.store.parameter_type).await?;
    Ok(Delivery {
        user: b.user.clone(),
        notebook: nb.name.clone(),
        status: nb.status.clone(),
        instance_type: nb.instance_type.clone(),
        stored,
        url: None,
    })
}

/// The states read again once every URL is stored: a notebook stopped, being deleted or gone
/// since keeps no fresh URL (deleted; that user's result becomes the reason).
async fn drop_urls_of_stopped(ctx: &Context, results: &mut [(String, Result<Delivery>)], counter: &Task) -> Result<()> {
    if !results.iter().any(|(_, r)| r.is_ok()) {
        return Ok(());
    }
    let after = notebook::list_by_name(ctx).await?;
    for (user, result) in results.iter_mut() {
        let Ok(d) = result else { continue };
        let now = after.get(&d.notebook);
        if now.is_some_and(|nb| nb.state() == NotebookInstanceStatus::InService) {
            continue;
        }
        urls::delete(ctx, user).await?;
        let now = now.map(|nb| format!("is {}", nb.status)).unwrap_or_else(|| "is gone".into());
        let why = anyhow::anyhow!(
            "notebook {} {now} (it changed while its URL was being stored): the URL just stored was deleted",
            d.notebook
        );
        counter.println(format!("{user}: {why:#}"));
        *result = Err(why);
    }
    Ok(())
}
