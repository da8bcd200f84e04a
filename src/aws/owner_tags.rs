//! The owner tag on notebook instances (`crate::names::identity::OWNER_TAG`, the notebook's user): what
//! `policy end-user` matches SageMaker actions against. The product template sets it on every
//! notebook it creates; notebooks vended before (by an earlier template, or the blog's deployment)
//! lack it, and their users are denied until it is there. `watch` and `bootstrap --adopt` add it
//! (AddTags), `doctor` reports notebooks without it (ListTags).

use anyhow::Result;
use aws_sdk_sagemaker::types::Tag;
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::notebook::Notebook;
use crate::error::AwsResultExt;
use crate::names::identity::OWNER_TAG;

/// What one notebook's owner tag is, or became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "owner_tag", content = "value")]
pub enum OwnerTag {
    /// Tagged with its user already.
    Present,
    /// Tagged now.
    Added,
    /// Tagged with another user's name: left as it is (only an administrator knows which is right),
    /// and reported.
    Other(String),
    /// No such notebook.
    NoNotebook,
}

/// The owner tag of a notebook instance (ListTags on its ARN), or None when it has none.
pub async fn owner_of(ctx: &Context, arn: &str) -> Result<Option<String>> {
    let mut pages = ctx.sagemaker.list_tags().resource_arn(arn).max_results(50).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.aws(|| format!("reading the tags of {arn}"))?;
        if let Some(t) = page.tags().iter().find(|t| t.key() == Some(OWNER_TAG)) {
            return Ok(Some(t.value().unwrap_or_default().to_owned()));
        }
    }
    Ok(None)
}

/// Add the owner tag to `user`'s notebook `nb` when it has none.
async fn tag_if_missing(ctx: &Context, user: &str, nb: &Notebook) -> Result<OwnerTag> {
    let Some(arn) = &nb.arn else { return Ok(OwnerTag::NoNotebook) };
    match owner_of(ctx, arn).await? {
        Some(owner) if owner == user => Ok(OwnerTag::Present),
        Some(owner) => Ok(OwnerTag::Other(owner)),
        None => {
            let tag = Tag::builder().key(OWNER_TAG).value(user).build();
            ctx.sagemaker
                .add_tags()
                .resource_arn(arn)
                .tags(tag)
                .send()
                .await
                .aws(|| format!("tagging notebook {} with {OWNER_TAG}={user}", nb.name))?;
            Ok(OwnerTag::Added)
        }
    }
}

/// [`tag_if_missing`] for every user given that has a notebook, a few at a time; one line per
/// notebook tagged or in conflict, errors reported and counted (the caller goes on: a notebook
/// without its tag denies only its own user). Returns (added, problems).
///
/// The notebooks and their ARNs come from one paged ListNotebookInstances (100 a page), not one
/// DescribeNotebookInstance per user: per user this costs one ListTags (SageMaker has no batch
/// tag read), plus AddTags where the tag is missing.
pub async fn backfill(ctx: &Context, users: &[String], say: &dyn Fn(String)) -> (usize, usize) {
    use futures::stream::{self, StreamExt};
    let notebooks = match crate::aws::notebook::list_by_name(ctx).await {
        Ok(n) => n,
        Err(e) => {
            say(format!("owner tags not checked: {e:#}"));
            return (0, 1);
        }
    };
    let results: Vec<(String, Result<OwnerTag>)> = stream::iter(users.iter().cloned())
        .map(|u| {
            let nb = notebooks.get(&crate::names::user::notebook_name(&u));
            async move {
                let r = match nb {
                    Some(nb) => tag_if_missing(ctx, &u, nb).await,
                    None => Ok(OwnerTag::NoNotebook),
                };
                (u, r)
            }
        })
        .buffered(8)
        .collect()
        .await;
    let (mut added, mut problems) = (0, 0);
    for (user, r) in results {
        let name = crate::names::user::notebook_name(&user);
        match r {
            Ok(OwnerTag::Added) => {
                added += 1;
                say(format!("tagged notebook {name} with {OWNER_TAG}={user} (vended before the owner tag)"));
            }
            Ok(OwnerTag::Other(owner)) => {
                problems += 1;
                say(format!(
                    "notebook {name} is tagged {OWNER_TAG}={owner}, not {user}: left as it is; `policy end-user` gives \
                     it to {owner}"
                ));
            }
            Ok(OwnerTag::Present | OwnerTag::NoNotebook) => {}
            Err(e) => {
                problems += 1;
                say(format!("notebook {name}: the owner tag could not be checked or added: {e:#}"));
            }
        }
    }
    (added, problems)
}
