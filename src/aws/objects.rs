//! S3 objects: the bootstrap bucket's product template (compare, upload) and emptying the bucket
//! at teardown. The only module that calls the S3 client.

use anyhow::{bail, Result};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use md5::{Digest, Md5};

use crate::aws::context::Context;
use crate::error::{has_code, AwsResultExt};

/// Error codes of HeadObject on a missing key. HEAD has no body, so S3 answers a bare 404 whose
/// code the SDK reports as "NotFound" (S3 API reference, HeadObject: "returns 404 Not Found");
/// "NoSuchKey" is what GET says, and some S3-compatible stores answer "404" as the code.
const NOT_FOUND: &[&str] = &["NotFound", "NoSuchKey", "404"];

/// ListObjectVersions' most per page and DeleteObjects' most per request (S3 API reference).
const DELETE_BATCH: usize = 1000;

/// The object at a key against the bytes this binary would upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    Same,
    Differs,
    Missing,
}

/// Compare the object with `body` by ETag (the ETag of a single-part upload is the MD5 of the body).
pub async fn compare(ctx: &Context, bucket: &str, key: &str, body: &str) -> Result<Compared> {
    let md5 = hex::encode(Md5::digest(body.as_bytes()));
    let head = ctx.s3.head_object().bucket(bucket).key(key).send().await.aws(|| format!("reading s3://{bucket}/{key}"));
    match head {
        Ok(h) if h.e_tag().map(|t| t.trim_matches('"')) == Some(md5.as_str()) => Ok(Compared::Same),
        Ok(_) => Ok(Compared::Differs),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(Compared::Missing),
        Err(e) => Err(e),
    }
}

/// Upload a YAML template.
pub async fn upload(ctx: &Context, bucket: &str, key: &str, body: &str) -> Result<()> {
    ctx.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-yaml")
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .aws(|| format!("uploading s3://{bucket}/{key}"))?;
    Ok(())
}

/// Whether an object exists at `key` (HeadObject). For a content-addressed key (the Lambda
/// package's `lambda/<sha256>.zip`) existing means holding these very bytes.
pub async fn exists(ctx: &Context, bucket: &str, key: &str) -> Result<bool> {
    let head = ctx.s3.head_object().bucket(bucket).key(key).send().await.aws(|| format!("reading s3://{bucket}/{key}"));
    match head {
        Ok(_) => Ok(true),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Upload bytes that are not text (the Lambda package).
pub async fn upload_bytes(ctx: &Context, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<()> {
    ctx.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body.into())
        .send()
        .await
        .aws(|| format!("uploading s3://{bucket}/{key}"))?;
    Ok(())
}

/// Every object version and delete marker of the bucket, or None when there is no such bucket.
pub async fn versions(ctx: &Context, bucket: &str) -> Result<Option<Vec<ObjectIdentifier>>> {
    let mut all = Vec::new();
    // ListObjectVersions pages by two markers (key and version id), not a token: the SDK has no
    // paginator for it, so this is the one hand-written pagination loop.
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let out = ctx
            .s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .aws(|| format!("listing object versions of bucket {bucket}"));
        let out = match out {
            Ok(o) => o,
            Err(e) if has_code(&e, &["NoSuchBucket"]) => return Ok(None),
            Err(e) => return Err(e),
        };
        let versions = out.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = out.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        for (key, version) in versions.chain(markers) {
            if let Some(key) = key {
                all.push(ObjectIdentifier::builder().key(key).set_version_id(version.map(str::to_owned)).build()?);
            }
        }
        if out.is_truncated() != Some(true) {
            break;
        }
        key_marker = out.next_key_marker().map(str::to_owned);
        version_marker = out.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() && version_marker.is_none() {
            break;
        }
    }
    Ok(Some(all))
}

/// Delete every version and delete marker (DeleteObjects in batches of 1000); any per-key error
/// fails naming the keys. A bucket that does not exist is already empty.
pub async fn empty_bucket(ctx: &Context, bucket: &str) -> Result<()> {
    let versions = versions(ctx, bucket).await?.unwrap_or_default();
    for chunk in versions.chunks(DELETE_BATCH) {
        let out = ctx
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(Delete::builder().set_objects(Some(chunk.to_vec())).quiet(true).build()?)
            .send()
            .await
            .aws(|| format!("deleting {} object versions from bucket {bucket}", chunk.len()))?;
        let errors: Vec<String> = out
            .errors()
            .iter()
            .map(|e| {
                format!("{} ({}): {}", e.key().unwrap_or("?"), e.code().unwrap_or("Error"), e.message().unwrap_or(""))
            })
            .collect();
        if !errors.is_empty() {
            bail!("could not empty bucket {bucket}: {}", errors.join("; "));
        }
    }
    Ok(())
}

/// The text of an object given by its S3 URL (virtual-hosted `https://<bucket>.s3.<region>.<suffix>/<key>`
/// or path-style `https://s3.<region>.<suffix>/<bucket>/<key>`, S3 user guide "Methods for accessing a
/// bucket"); None when the URL is not an S3 URL.
pub async fn read_url(ctx: &Context, url: &str) -> Result<Option<String>> {
    let Some((bucket, key)) = parse_s3_url(url) else { return Ok(None) };
    let out =
        ctx.s3.get_object().bucket(&bucket).key(&key).send().await.aws(|| format!("reading s3://{bucket}/{key}"))?;
    let bytes = out.body.collect().await.map_err(|e| anyhow::anyhow!("reading s3://{bucket}/{key}: {e}"))?;
    Ok(Some(String::from_utf8_lossy(&bytes.into_bytes()).into_owned()))
}

fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path.split('?').next().unwrap_or(path);
    if let Some((bucket, _)) = host.split_once(".s3.").or_else(|| host.split_once(".s3-")) {
        return Some((bucket.to_owned(), path.to_owned()));
    }
    let (bucket, key) = path.split_once('/')?;
    Some((bucket.to_owned(), key.to_owned()))
}

#[cfg(test)]
mod url_tests {
    #[test]
    fn s3_urls() {
        assert_eq!(
            super::parse_s3_url("https://b.s3.us-east-1.amazonaws.com/sm-notebook.yml"),
            Some(("b".into(), "sm-notebook.yml".into()))
        );
        assert_eq!(
            super::parse_s3_url("https://s3.us-east-1.amazonaws.com/b/k/x.yml"),
            Some(("b".into(), "k/x.yml".into()))
        );
        assert_eq!(super::parse_s3_url("file:///x"), None);
    }
}
