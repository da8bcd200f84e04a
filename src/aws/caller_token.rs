//! Who calls `serve`, without a shared secret: the caller presigns sts:GetCallerIdentity with its own
//! AWS credentials, and the server replays that request to STS, which checks the signature and
//! answers the signer's ARN. The pattern of aws-iam-authenticator (EKS) and of Vault's AWS auth
//! method; the token format follows aws-iam-authenticator's:
//!
//! `Authorization: Bearer nv-aws-v1.<base64url, no padding, of the presigned URL>`
//!
//! The presigned URL is `<STS endpoint>/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-...`
//! (SigV4 in the query string, AWS General Reference "Authenticating requests: using query
//! parameters"), with the header `x-notebook-vend-server-id: <server id>` signed into it, so a token
//! made for one server is refused by STS when another server replays it with its own id.
//!
//! The server never contacts a host taken from the token (no SSRF): it keeps only the query string,
//! accepts only the parameters above (each once), checks the action, version, credential scope (its
//! own region, service sts), that `host` and the server-id header are signed, and the signing time
//! (at most [`MAX_AGE`] old, at most [`MAX_SKEW`] ahead), then sends the query to the STS endpoint of
//! its own region and partition (or the configured endpoint URL). STS checks the signature, the
//! expiry and the credentials; its answer's `<Arn>` is the caller.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context as _, Result};
use aws_sdk_sts::config::ProvideCredentials;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_types::body::SdkBody;
use base64::Engine as _;

use crate::aws::context::Context;

pub const TOKEN_PREFIX: &str = "nv-aws-v1.";
pub const SERVER_ID_HEADER: &str = "x-notebook-vend-server-id";
/// How old a token may be: aws-iam-authenticator's 15 minutes.
pub const MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// How far ahead of the server's clock a signing time may be (SigV4's allowed clock skew).
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// X-Amz-Expires of the presigned request: as long as the server accepts it.
const EXPIRES: Duration = MAX_AGE;
const ALLOWED: [&str; 9] = [
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// The STS endpoint of the context's region and partition, or the configured endpoint URL.
/// (Partitions: `amazonaws.com`, and `amazonaws.com.cn` for the China regions; the isolated
/// partitions are not supported.)
pub fn sts_endpoint(ctx: &Context) -> String {
    if let Some(url) = &ctx.endpoint_url {
        return url.trim_end_matches('/').to_owned();
    }
    let suffix = if ctx.region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://sts.{}.{suffix}", ctx.region)
}

/// A token for `server_id`, signed with the context's credentials (client side).
pub async fn make(ctx: &Context, server_id: &str) -> Result<String> {
    let provider = ctx.credentials.as_ref().ok_or_else(|| anyhow!("no AWS credentials to sign the request with"))?;
    let creds = provider.provide_credentials().await.context("reading the AWS credentials to sign with")?;
    let identity: aws_smithy_runtime_api::client::identity::Identity = creds.into();
    let mut settings = aws_sigv4::http_request::SigningSettings::default();
    settings.signature_location = aws_sigv4::http_request::SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let params: aws_sigv4::http_request::SigningParams<'_> = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&ctx.region)
        .name("sts")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| anyhow!("signing parameters: {e}"))?
        .into();
    let url = format!("{}/?Action=GetCallerIdentity&Version=2011-06-15", sts_endpoint(ctx));
    let headers = [(SERVER_ID_HEADER, server_id)];
    let signable = aws_sigv4::http_request::SignableRequest::new(
        "GET",
        url.as_str(),
        headers.iter().copied(),
        aws_sigv4::http_request::SignableBody::Bytes(&[]),
    )
    .map_err(|e| anyhow!("signing the identity request: {e}"))?;
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| anyhow!("signing the identity request: {e}"))?
        .into_parts();
    let mut presigned = url;
    for (k, v) in instructions.params() {
        presigned.push('&');
        presigned.push_str(&encode(k));
        presigned.push('=');
        presigned.push_str(&encode(v));
    }
    Ok(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)))
}

/// Why a token was refused (answered 401).
#[derive(Debug)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The query string of a token, checked (everything but the signature, which only STS can check).
pub fn checked_query(token: &str, region: &str, now: SystemTime) -> Result<String, Rejected> {
    let bad = |why: &str| Rejected(why.to_owned());
    let encoded = token.strip_prefix(TOKEN_PREFIX).ok_or_else(|| bad("not a notebook-vend identity token"))?;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("the identity token is not base64url of a URL"))?;
    let (_, query) = url.split_once('?').ok_or_else(|| bad("the presigned URL has no query"))?;
    let mut seen = std::collections::BTreeMap::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !ALLOWED.contains(&k) {
            return Err(Rejected(format!("the presigned URL has a parameter not allowed: {}", crate::text::cut(k))));
        }
        if seen.insert(k, decode(v)).is_some() {
            return Err(Rejected(format!("the presigned URL repeats {k}")));
        }
    }
    let get = |k: &str| seen.get(k).map(String::as_str).unwrap_or_default();
    if get("Action") != "GetCallerIdentity" || get("Version") != "2011-06-15" {
        return Err(bad("the presigned request is not sts:GetCallerIdentity (Version 2011-06-15)"));
    }
    if get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || get("X-Amz-Signature").is_empty() {
        return Err(bad("the presigned request is not signed with AWS4-HMAC-SHA256"));
    }
    let scope: Vec<&str> = get("X-Amz-Credential").split('/').collect();
    if scope.len() != 5 || scope[2] != region || scope[3] != "sts" || scope[4] != "aws4_request" {
        return Err(Rejected(format!("the presigned request is not signed for sts in {region}")));
    }
    let signed: Vec<&str> = get("X-Amz-SignedHeaders").split(';').collect();
    if !signed.contains(&"host") || !signed.contains(&SERVER_ID_HEADER) {
        return Err(Rejected(format!("the presigned request does not sign host and {SERVER_ID_HEADER}")));
    }
    let at = parse_amz_date(get("X-Amz-Date")).ok_or_else(|| bad("X-Amz-Date is not yyyymmddThhmmssZ"))?;
    if at > now + MAX_SKEW {
        return Err(bad("the identity token is signed in the future"));
    }
    if now.duration_since(at).unwrap_or_default() > MAX_AGE {
        return Err(Rejected(format!("the identity token is older than {} minutes", MAX_AGE.as_secs() / 60)));
    }
    Ok(query.to_owned())
}

/// The caller's ARN, as STS answers a token replayed to the STS endpoint of the server's region,
/// with the server's id in the signed header (server side).
pub async fn verify(
    ctx: &Context,
    http: &aws_smithy_http_client::Connector,
    token: &str,
    server_id: &str,
) -> Result<String, Rejected> {
    let query = checked_query(token, &ctx.region, SystemTime::now())?;
    let url = format!("{}/?{query}", sts_endpoint(ctx));
    let mut req = aws_smithy_runtime_api::http::Request::new(SdkBody::empty());
    req.set_uri(url.as_str()).map_err(|e| Rejected(format!("the presigned query is not a valid URI: {e}")))?;
    req.set_method("GET").map_err(|e| Rejected(e.to_string()))?;
    req.headers_mut().insert(SERVER_ID_HEADER, server_id.to_owned());
    let resp = tokio::time::timeout(Duration::from_secs(10), http.call(req))
        .await
        .map_err(|_| Rejected("STS did not answer within 10 s".into()))?
        .map_err(|e| Rejected(format!("STS could not be reached: {e:?}")))?;
    let status = resp.status().as_u16();
    let body = aws_smithy_types::byte_stream::ByteStream::new(resp.into_body())
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.into_bytes()).into_owned())
        .unwrap_or_default();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let (_, rest) = body.split_once(&open)?;
        rest.split_once(&format!("</{name}>")).map(|(v, _)| v.trim().to_owned())
    };
    if status != 200 {
        let code = tag("Code").unwrap_or_else(|| format!("HTTP {status}"));
        return Err(Rejected(format!("STS refused the identity token: {code}")));
    }
    tag("Arn").filter(|a| a.starts_with("arn:")).ok_or_else(|| Rejected("STS answered no ARN".into()))
}

/// The HTTP connector `serve` replays tokens with (the SDK's own HTTPS stack).
pub fn connector() -> aws_smithy_http_client::Connector {
    aws_smithy_http_client::Connector::builder()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build()
}

/// POST a JSON body to `url` with a bearer token (the client of `serve`): (status, body).
pub async fn post_json(
    http: &aws_smithy_http_client::Connector,
    url: &str,
    bearer: &str,
    body: &serde_json::Value,
) -> Result<(u16, String)> {
    let bytes = body.to_string().into_bytes();
    let len = bytes.len();
    let mut req = aws_smithy_runtime_api::http::Request::new(SdkBody::from(bytes));
    req.set_uri(url).map_err(|e| anyhow!("--endpoint {url} is not a valid URL: {e}"))?;
    req.set_method("POST")?;
    req.headers_mut().insert("content-type", "application/json");
    req.headers_mut().insert("content-length", len.to_string());
    req.headers_mut().insert("authorization", format!("Bearer {bearer}"));
    let resp = http.call(req).await.map_err(|e| anyhow!("cannot reach {url}: {e:?}"))?;
    let status = resp.status().as_u16();
    let body = aws_smithy_types::byte_stream::ByteStream::new(resp.into_body())
        .collect()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    Ok((status, String::from_utf8_lossy(&body.into_bytes()).into_owned()))
}

/// RFC 3986 unreserved characters stay, everything else is %XX (SigV4's query encoding).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `yyyymmddThhmmssZ` -> a time (UTC).
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs).ok().map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(query: &str) -> String {
        let url = format!("https://evil.example/?{query}");
        format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url))
    }

    const GOOD: &str = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIA%2F20261203%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261203T120000Z\
        &X-Amz-Expires=900&X-Amz-SignedHeaders=host%3Bx-notebook-vend-server-id&X-Amz-Signature=abc";

    fn at(s: &str) -> SystemTime {
        parse_amz_date(s).unwrap()
    }

    #[test]
    fn a_well_formed_token_keeps_only_its_query_never_its_host() {
        let q = checked_query(&token(GOOD), "us-east-1", at("20261203T120500Z")).unwrap();
        assert_eq!(q, GOOD);
        assert!(!q.contains("evil"));
    }

    #[test]
    fn tokens_are_refused_for_what_the_server_can_check() {
        let now = at("20261203T120500Z");
        let cases = [
            (GOOD.replace("GetCallerIdentity", "AssumeRole"), "not sts:GetCallerIdentity"),
            (GOOD.replace("us-east-1", "eu-west-1"), "not signed for sts in us-east-1"),
            (GOOD.replace("%2Fsts%2F", "%2Fiam%2F"), "not signed for sts"),
            (GOOD.replace("host%3Bx-notebook-vend-server-id", "host"), "does not sign host and"),
            (GOOD.replace("X-Amz-Date=20261203T120000Z", "X-Amz-Date=20261203T114000Z"), "older than 15 minutes"),
            (GOOD.replace("X-Amz-Date=20261203T120000Z", "X-Amz-Date=20261203T122000Z"), "in the future"),
            (format!("{GOOD}&Extra=1"), "not allowed"),
            (format!("{GOOD}&Action=GetCallerIdentity"), "repeats Action"),
        ];
        for (query, why) in cases {
            let e = checked_query(&token(&query), "us-east-1", now).unwrap_err();
            assert!(e.0.contains(why), "{query}: {e}");
        }
        assert!(checked_query("Bearer x", "us-east-1", now).is_err());
        assert!(checked_query("nv-aws-v1.!!!", "us-east-1", now).is_err());
    }

    #[test]
    fn amz_dates() {
        assert_eq!(at("19700101T000000Z"), SystemTime::UNIX_EPOCH);
        assert_eq!(at("20240229T235959Z").duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_709_251_199);
        assert!(parse_amz_date("20241301T000000Z").is_none());
        assert_eq!(decode("a%2Fb%3Bc"), "a/b;c");
        assert_eq!(encode("a/b;c+="), "a%2Fb%3Bc%2B%3D");
    }
}
