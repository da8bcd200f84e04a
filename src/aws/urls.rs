//! Where URLs live: one SSM parameter per user, `<prefix>U-Notebook`, SecureString by default.
//!
//! The value is the URL alone, as the blog's readers expect; when it was minted and when its
//! session ends go into the description, which `list` and `status` read back.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Result};
use aws_sdk_ssm::types::{
    ParameterMetadata, ParameterStringFilter, ParameterTier, ParameterType as SsmType, ResourceTypeForTagging, Tag,
};
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::aws::context::Context;
use crate::cli::ParameterType;
use crate::error::{has_code, AwsResultExt};
use crate::names::user;
use crate::text::rfc3339;

/// Standard-tier values hold 4 KB, Advanced 8 KB (the emulator enforces neither: we do).
const STANDARD_MAX: usize = 4096;
const ADVANCED_MAX: usize = 8192;
const EXPIRY_MARK: &str = "session expires ";
/// The product stack the URL's notebook belongs to, written in the description: the owner of that
/// stack (its NotebookUserName) is this parameter's user, which bulk commands then read with the
/// parameters' metadata (DescribeParameters, 50 a call) instead of one DescribeStacks per user.
/// Only notebook-vend writes it, and only on a parameter it created with its tags or whose tags it
/// checked first: so it also says the tags are there.
const STACK_MARK: &str = "stack ";
/// SSM's wait between deleting a parameter and creating one of the same name (DeleteParameter).
const RECREATE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    pub parameter: String,
    pub parameter_type: String,
    pub tier: String,
    pub version: i64,
    pub stored_at: String,
    pub session_expires: String,
}

/// The tier to send with PutParameter, or None to send no tier.
///
/// AWS never moves an Advanced parameter back to Standard, and a tier given in the request is
/// applied (botocore `ssm` PutParameter.Tier; SSM user guide, "Managing parameter tiers": "you
/// can't revert an advanced parameter to a standard parameter"). A request without a tier gets
/// the account's default tier ("Specifying a default parameter tier"), which is Standard unless
/// changed: so an Advanced parameter is written as Advanced again, a value over 4 KB asks for
/// Advanced, and anything else sends no tier (the account's default decides).
pub fn tier_for(value: &str, current: Option<&ParameterTier>) -> Result<Option<ParameterTier>> {
    match value.len() {
        n if n > ADVANCED_MAX => bail!("the presigned URL is {n} bytes, more than SSM's {ADVANCED_MAX}-byte limit"),
        n if n > STANDARD_MAX => Ok(Some(ParameterTier::Advanced)),
        _ if current == Some(&ParameterTier::Advanced) => Ok(Some(ParameterTier::Advanced)),
        _ => Ok(None),
    }
}

/// What the user's parameter is now (DescribeParameters: metadata only, no value), or None when it
/// does not exist yet.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    pub tier: Option<ParameterTier>,
    pub kind: Option<SsmType>,
    /// The stack its description binds it to (see STACK_MARK): written by notebook-vend, which
    /// set or checked the tags then.
    pub stack: Option<String>,
}

impl Existing {
    pub fn of(p: &ParameterMetadata) -> Self {
        Existing { tier: p.tier().cloned(), kind: p.r#type().cloned(), stack: stack_of(p).map(str::to_owned) }
    }
}

pub async fn current(ctx: &Context, user: &str) -> Result<Option<Existing>> {
    Ok(describe(ctx, Some(user)).await?.first().map(|(_, p)| Existing::of(p)))
}

/// The product stack a parameter's description binds its user to (see STACK_MARK).
fn stack_of(p: &ParameterMetadata) -> Option<&str> {
    let (_, rest) = p.description()?.split_once(&format!("; {STACK_MARK}"))?;
    rest.split(';').next().map(str::trim).filter(|s| s.starts_with("arn:"))
}

/// Stack ARN -> user, from the parameters' stack bindings. A stack two parameters claim is left out
/// (read from the stack instead), so a description written by hand can only cost a call.
pub fn owners_by_stack(params: &[(String, ParameterMetadata)]) -> std::collections::BTreeMap<String, String> {
    let mut owners = std::collections::BTreeMap::new();
    let mut claimed_twice = std::collections::BTreeSet::new();
    for (user, p) in params {
        if let Some(stack) = stack_of(p) {
            if owners.insert(stack.to_owned(), user.clone()).is_some() {
                claimed_twice.insert(stack.to_owned());
            }
        }
    }
    owners.retain(|stack, _| !claimed_twice.contains(stack));
    owners
}

/// The tags every URL parameter carries.
fn our_tags(user: &str) -> [(&'static str, String); 2] {
    [("Owner", user.to_owned()), ("ManagedBy", "notebook-vend".to_owned())]
}

/// Where a URL is stored and what is known of it already.
pub struct Target<'a> {
    pub user: &'a str,
    /// The parameter as it is now (see [`current`]): its tier is never downgraded, another type is
    /// replaced (delete + create).
    pub current: Option<&'a Existing>,
    /// The product stack of the user's notebook, bound in the description when known.
    pub stack: Option<&'a str>,
    /// Check the tags of an existing parameter even when its description says they were set
    /// (the single-user commands: a tag removed by hand comes back).
    pub verify_tags: bool,
}

/// Store `url` in the user's parameter. A parameter that does not exist is created with its tags in
/// the same PutParameter (Tags are accepted on create, not on overwrite: botocore `ssm`
/// PutParameterRequest.Tags); an existing one is overwritten, its tags checked first unless its
/// description says notebook-vend set them (`Existing::tagged`).
///
/// A parameter of another type (the blog's function wrote plaintext `String`s; a StringList put
/// there by hand) is deleted and created again, since SSM changes no type in place; only this
/// user's URL parameter is touched.
pub async fn store(
    ctx: &Context,
    target: &Target<'_>,
    url: &str,
    session_seconds: i32,
    kind: ParameterType,
) -> Result<Stored> {
    let user = target.user;
    let current = target.current;
    let name = user::parameter_name(&ctx.names.ssm_prefix, user);
    let now = SystemTime::now();
    let stored_at = rfc3339(&DateTime::from(now));
    let expires = rfc3339(&DateTime::from(now + Duration::from_secs(session_seconds as u64)));
    let tier = tier_for(url, current.and_then(|c| c.tier.as_ref()))?;
    let ssm_type = match kind {
        ParameterType::SecureString => SsmType::SecureString,
        ParameterType::String => SsmType::String,
    };
    if current.and_then(|c| c.tier.as_ref()) == Some(&ParameterTier::Advanced) && url.len() <= STANDARD_MAX {
        tracing::warn!(
            "parameter {name} is in the Advanced tier (charged per parameter): it is written as Advanced again, since \
             SSM cannot move a parameter back to Standard"
        );
    }
    // PutParameter cannot change a parameter's type (HierarchyTypeMismatchException: "Parameter Store
    // doesn't support changing a parameter type ... You must create a new, unique parameter", botocore
    // `ssm` model): any other type at this name is deleted and the parameter created again. Deleting
    // also drops its history, which matters most for a plaintext String (the blog's function wrote
    // those): an overwrite would keep every earlier URL readable with GetParameterHistory.
    let recreated = match current.and_then(|c| c.kind.as_ref()) {
        Some(was) if *was != ssm_type => {
            tracing::warn!(
                "parameter {name} is a {}: deleting it and creating it as a {} (SSM cannot change a parameter's \
                 type; its history goes with it)",
                was.as_str(),
                ssm_type.as_str()
            );
            delete(ctx, user).await?
        }
        _ => false,
    };
    // Tags are trusted to be there only on a parameter bound to the very stack being stored for
    // (a description is text anyone who may write the parameter can change).
    let exists = current.is_some() && !recreated;
    let bound_here = target.stack.is_some() && current.is_some_and(|c| c.stack.as_deref() == target.stack);
    if exists && (target.verify_tags || !bound_here) {
        ensure_tags(ctx, &name, user).await?;
    }
    let binding = target.stack.map(|s| format!("; {STACK_MARK}{s}")).unwrap_or_default();
    let description = format!(
        "Presigned URL of notebook {} minted {stored_at} by notebook-vend (the URL works 5 minutes){binding}; \
         {EXPIRY_MARK}{expires}",
        user::notebook_name(user)
    );
    let put = |create: bool| {
        let req = ctx
            .ssm
            .put_parameter()
            .name(&name)
            .value(url)
            .r#type(ssm_type.clone())
            .set_tier(tier.clone())
            .description(&description)
            .overwrite(!create);
        let tags = if create { our_tags(user).iter().map(|(k, v)| tag(k, v)).collect() } else { Vec::new() };
        req.set_tags((!tags.is_empty()).then_some(tags)).send()
    };
    let started = std::time::Instant::now();
    let mut create = !exists;
    let out = loop {
        match put(create).await.aws(|| format!("storing the URL in parameter {name}")) {
            Ok(out) => break out,
            // Created by someone else meanwhile: overwritten, and its tags checked.
            Err(e) if create && has_code(&e, &["ParameterAlreadyExists"]) => {
                create = false;
                ensure_tags(ctx, &name, user).await?;
            }
            // "After deleting a parameter, wait for at least 30 seconds to create a parameter with
            // the same name" (SSM API reference, DeleteParameter); what a create sooner gets is not
            // documented. So a create refused right after our delete is tried again for that long,
            // and a create that works is not held up (serve answers within its timeout).
            Err(e) if recreated && started.elapsed() < RECREATE_WAIT => {
                tracing::warn!("creating {name} right after deleting it failed ({e:#}); trying again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(e),
        }
    };
    Ok(Stored {
        parameter: name,
        parameter_type: ssm_type.as_str().to_owned(),
        tier: out.tier().or(tier.as_ref()).unwrap_or(&ParameterTier::Standard).as_str().to_owned(),
        version: out.version(),
        stored_at,
        session_expires: expires,
    })
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("key and value are set")
}

/// Add the URL parameter's tags where they are missing (ListTagsForResource, AddTagsToResource):
/// a parameter written by another tool, or whose tags were removed.
async fn ensure_tags(ctx: &Context, name: &str, user: &str) -> Result<()> {
    let wanted = our_tags(user);
    let tags = ctx
        .ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .aws(|| format!("reading the tags of parameter {name}"))?;
    if wanted.iter().all(|(k, v)| tags.tag_list().iter().any(|t| t.key() == *k && t.value() == v)) {
        return Ok(());
    }
    let mut req = ctx.ssm.add_tags_to_resource().resource_type(ResourceTypeForTagging::Parameter).resource_id(name);
    for (k, v) in &wanted {
        req = req.tags(tag(k, v));
    }
    req.send().await.aws(|| format!("tagging parameter {name}"))?;
    Ok(())
}

/// The stored URL, decrypted, or None when the user has no parameter.
pub async fn read(ctx: &Context, user: &str) -> Result<Option<String>> {
    let name = user::parameter_name(&ctx.names.ssm_prefix, user);
    match ctx
        .ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .aws(|| format!("reading parameter {name}"))
    {
        Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(str::to_owned)),
        Err(e) if has_code(&e, &["ParameterNotFound"]) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Delete the user's parameter; true if there was one.
pub async fn delete(ctx: &Context, user: &str) -> Result<bool> {
    let name = user::parameter_name(&ctx.names.ssm_prefix, user);
    match ctx.ssm.delete_parameter().name(&name).send().await.aws(|| format!("deleting parameter {name}")) {
        Ok(_) => Ok(true),
        Err(e) if has_code(&e, &["ParameterNotFound"]) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Delete the user's parameter once their notebook is gone, and look again: a URL stored by a
/// refresh whose PutParameter was delayed past the first delete is deleted too. (The refresh
/// itself re-checks the notebook after storing: see vend::deliver.) True if there was one.
pub async fn delete_after_notebook(ctx: &Context, user: &str) -> Result<bool> {
    let mut deleted = delete(ctx, user).await?;
    if metadata(ctx, user).await?.is_some() {
        deleted |= delete(ctx, user).await?;
    }
    Ok(deleted)
}

/// What the parameter says about the URL, without reading (or decrypting) the URL itself.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub parameter: String,
    pub parameter_type: String,
    pub stored_at: Option<String>,
    pub session_expires: Option<String>,
}

/// Metadata of every parameter under the prefix, by user.
pub async fn list_metadata(ctx: &Context) -> Result<std::collections::BTreeMap<String, Metadata>> {
    Ok(describe(ctx, None).await?.into_iter().map(|(user, p)| (user, metadata_of(&p))).collect())
}

/// DescribeParameters of the URL parameters (no value, no decryption): every one under the prefix,
/// or only `user`'s. Paired with the user each belongs to; other names under the prefix are skipped.
pub async fn describe(ctx: &Context, only: Option<&str>) -> Result<Vec<(String, ParameterMetadata)>> {
    let prefix = &ctx.names.ssm_prefix;
    let filter = match only {
        Some(user) => ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .values(user::parameter_name(prefix, user))
            .build()?,
        None => ParameterStringFilter::builder().key("Name").option("BeginsWith").values(prefix).build()?,
    };
    let mut found = Vec::new();
    let mut pages =
        ctx.ssm.describe_parameters().parameter_filters(filter.clone()).max_results(50).into_paginator().send();
    while let Some(page) = pages.next().await {
        let out = page.aws(|| format!("listing parameters under {prefix}"))?;
        for p in out.parameters() {
            let user = p.name().and_then(|n| n.strip_prefix(prefix.as_str())).and_then(user::user_of_notebook);
            if let Some(user) = user {
                found.push((user.to_owned(), p.clone()));
            }
        }
    }
    Ok(found)
}

fn metadata_of(p: &ParameterMetadata) -> Metadata {
    Metadata {
        parameter: p.name().unwrap_or_default().to_owned(),
        parameter_type: p.r#type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
        stored_at: p.last_modified_date().map(rfc3339),
        session_expires: p.description().and_then(|d| d.split_once(EXPIRY_MARK)).map(|(_, e)| e.trim().to_owned()),
    }
}

/// Metadata of one user's parameter (one DescribeParameters call, no decryption), or None.
pub async fn metadata(ctx: &Context, user: &str) -> Result<Option<Metadata>> {
    Ok(describe(ctx, Some(user)).await?.first().map(|(_, p)| metadata_of(p)))
}

/// Delete parameters by full name, ten per call (DeleteParameters' limit). Returns the names deleted.
pub async fn delete_names(ctx: &Context, names: &[String]) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for chunk in names.chunks(10) {
        let out = ctx
            .ssm
            .delete_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .aws(|| format!("deleting parameters {}", chunk.join(", ")))?;
        deleted.extend(out.deleted_parameters().iter().cloned());
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_come_from_stack_bindings_and_a_stack_claimed_twice_is_left_out() {
        let param = |user: &str, description: &str| {
            (
                user.to_owned(),
                ParameterMetadata::builder().name(format!("/p/{user}-Notebook")).description(description).build(),
            )
        };
        let bound =
            |stack: &str| format!("Presigned URL ... (the URL works 5 minutes); stack {stack}; session expires x");
        let params = [
            param("ann", &bound("arn:aws:cloudformation:r:1:stack/SC-1/a")),
            param("bob", &bound("arn:aws:cloudformation:r:1:stack/SC-2/b")),
            param("eve", &bound("arn:aws:cloudformation:r:1:stack/SC-2/b")),
            param("old", "Presigned URL ...; session expires x"),
        ];
        let owners = owners_by_stack(&params);
        assert_eq!(owners.len(), 1, "{owners:?}");
        assert_eq!(owners["arn:aws:cloudformation:r:1:stack/SC-1/a"], "ann");
        assert_eq!(metadata_of(&params[0].1).session_expires.as_deref(), Some("x"));
    }

    #[test]
    fn tier_follows_size_and_is_never_downgraded() {
        let small = "x".repeat(4096);
        assert_eq!(tier_for(&small, None).unwrap(), None);
        assert_eq!(tier_for(&small, Some(&ParameterTier::Standard)).unwrap(), None);
        // AWS refuses Advanced -> Standard: an Advanced parameter stays Advanced.
        assert_eq!(tier_for(&small, Some(&ParameterTier::Advanced)).unwrap(), Some(ParameterTier::Advanced));
        assert_eq!(tier_for(&"x".repeat(4097), None).unwrap(), Some(ParameterTier::Advanced));
        assert!(tier_for(&"x".repeat(8193), Some(&ParameterTier::Advanced)).is_err());
    }
}
