//! Who is signed in, from an Application Load Balancer's `authenticate-oidc` action. After a user
//! signs in at the identity provider, the ALB forwards each request with `x-amzn-oidc-data`: the
//! user claims as a JWT signed by the ALB (ELB user guide, "Authenticate users using an Application
//! Load Balancer", section "User claims encoding and signature verification"):
//!
//! - the JWT header carries `alg` (ES256), `kid` (the key id), `signer` (the ALB's ARN), `iss`,
//!   `client` and `exp` (seconds since the epoch);
//! - the public key is a PEM file at `https://public-keys.auth.elb.{region}.amazonaws.com/{kid}`
//!   (ECDSA P-256, "ES256");
//! - the parts are base64url WITH `=` padding ("Standard libraries are not compatible with the
//!   padding that is included in the Application Load Balancer authentication token in JWT
//!   format"), so the signature is checked over the header and payload exactly as sent, never
//!   over a re-encoding.
//!
//! The signature is the JWS form (RFC 7518 3.4: r || s, 64 bytes), which AWS's own example verifies
//! with PyJWT's ES256 (PyJWT refuses anything else); a DER (ASN.1) signature is accepted too.
//! Keys are cached by `kid` (they do not change under a kid); a kid the key URL does not know is
//! remembered for a minute, so that tokens naming made-up kids do not each cost a fetch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context as _, Result};
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_types::body::SdkBody;
use base64::Engine as _;
use serde_json::Value;

use crate::names::user;

/// The header the ALB adds.
pub const HEADER: &str = "x-amzn-oidc-data";
/// The key URL of AWS's regional key endpoint.
pub const DEFAULT_KEY_URL: &str = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}";
/// DER prefix of an X.509 SubjectPublicKeyInfo of an EC P-256 key (id-ecPublicKey, prime256v1,
/// a 66-byte BIT STRING): what follows is the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const MAX_TOKEN: usize = 16 * 1024;
const MAX_KEY_FILE: usize = 16 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MISSING_FOR: Duration = Duration::from_secs(60);
const MAX_CACHED: usize = 256;

/// Why a request is refused: no valid token (401), or a valid token whose user cannot have a
/// notebook (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Unauthorized(String),
    Forbidden(String),
}

enum Cached {
    Key(Vec<u8>),
    Missing(Instant),
}

/// Checks x-amzn-oidc-data headers for one ALB.
pub struct Verifier {
    alb_arn: String,
    region: String,
    key_url: String,
    claim: String,
    http: aws_smithy_http_client::Connector,
    keys: Mutex<HashMap<String, Cached>>,
}

/// A token whose form, alg, signer and exp were checked, not yet its signature.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub kid: String,
    /// `<header>.<payload>` as sent: what the ALB signed.
    pub signed: &'a str,
    pub signature: Vec<u8>,
    pub claims: Value,
}

/// base64url, with or without `=` padding; the standard alphabet's `+` and `/` are read as `-` and
/// `_` (the signature covers the text as sent, so reading leniently trusts nothing more).
fn b64(part: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(part.replace('+', "-").replace('/', "_")).ok()
}

fn json_of(part: &str, what: &str) -> Result<Value, String> {
    let bytes = b64(part).ok_or_else(|| format!("the token's {what} is not base64url"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(format!("the token's {what} is not a JSON object")),
    }
}

/// Form, algorithm, signer and expiry of a token (nothing fetched, signature not checked).
pub fn parse<'a>(token: &'a str, alb_arn: &str, now: SystemTime) -> Result<Parsed<'a>, String> {
    if token.len() > MAX_TOKEN {
        return Err(format!("the token is longer than {MAX_TOKEN} bytes"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("the token is not three dot-separated parts".into());
    };
    let header = json_of(h, "header")?;
    if header["alg"] != "ES256" {
        return Err("the token is not signed ES256".into());
    }
    if header["signer"].as_str() != Some(alb_arn) {
        return Err("the token was signed by another load balancer than --alb-arn".into());
    }
    let kid = header["kid"].as_str().unwrap_or_default();
    let kid_ok =
        !kid.is_empty() && kid.len() <= 128 && kid.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if !kid_ok {
        return Err("the token's kid is missing or not a key id".into());
    }
    let claims = json_of(p, "payload")?;
    let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let expired = |v: &Value| v.as_f64().is_none_or(|exp| exp <= now_secs);
    if expired(&header["exp"]) {
        return Err("the token has expired (or has no exp)".into());
    }
    if !claims["exp"].is_null() && expired(&claims["exp"]) {
        return Err("the token's claims have expired".into());
    }
    let signature = b64(s).ok_or("the token's signature is not base64url")?;
    Ok(Parsed { kid: kid.to_owned(), signed: &token[..h.len() + 1 + p.len()], signature, claims })
}

/// ES256 over `signed` with the uncompressed P-256 point `key`: JWS r || s, else DER.
pub fn signature_ok(key: &[u8], signed: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
    let alg = if signature.len() == 64 { &ECDSA_P256_SHA256_FIXED } else { &ECDSA_P256_SHA256_ASN1 };
    UnparsedPublicKey::new(alg, key).verify(signed, signature).is_ok()
}

/// The uncompressed point of a PEM `PUBLIC KEY` holding an EC P-256 key.
pub fn point_of_pem(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PUBLIC KEY-----")
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| "not a PEM public key")?;
    match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(point) if point.len() == 65 && point[0] == 4 => Ok(point.to_vec()),
        _ => Err("not an EC P-256 public key".into()),
    }
}

/// The user a claim names: the claim's string value, an email's local part; a valid user name.
pub fn user_of_claims(claims: &Value, claim: &str) -> Result<String, String> {
    let value = claims[claim].as_str().ok_or_else(|| format!("the sign-in has no {claim} claim"))?;
    let user = value.split('@').next().unwrap_or_default();
    user::validate_user(user).map_err(|e| format!("the {claim} claim does not name a notebook user: {e}"))?;
    Ok(user.to_owned())
}

/// `arn:<partition>:elasticloadbalancing:<region>:...`'s region.
fn region_of(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or_default().to_owned()
}

impl Verifier {
    pub fn new(alb_arn: &str, key_url: &str, claim: &str) -> Self {
        Verifier {
            alb_arn: alb_arn.to_owned(),
            region: region_of(alb_arn),
            key_url: key_url.to_owned(),
            claim: claim.to_owned(),
            http: crate::aws::caller_token::connector(),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The signed-in user of a request's x-amzn-oidc-data header.
    pub async fn user(&self, header: Option<&str>) -> Result<String, Refused> {
        let token = header
            .ok_or_else(|| Refused::Unauthorized(format!("no {HEADER} header: sign in through the load balancer")))?;
        let parsed = parse(token.trim(), &self.alb_arn, SystemTime::now()).map_err(Refused::Unauthorized)?;
        let key = self.key(&parsed.kid).await.map_err(|e| Refused::Unauthorized(format!("{e:#}")))?;
        if !signature_ok(&key, parsed.signed.as_bytes(), &parsed.signature) {
            return Err(Refused::Unauthorized("the token's signature does not verify".into()));
        }
        user_of_claims(&parsed.claims, &self.claim).map_err(Refused::Forbidden)
    }

    async fn key(&self, kid: &str) -> Result<Vec<u8>> {
        match self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(kid) {
            Some(Cached::Key(k)) => return Ok(k.clone()),
            Some(Cached::Missing(at)) if at.elapsed() < MISSING_FOR => {
                return Err(anyhow!("no public key for the token's kid (looked up less than a minute ago)"))
            }
            _ => {}
        }
        let fetched = self.fetch(kid).await;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_CACHED {
            keys.retain(|_, c| matches!(c, Cached::Key(_)));
        }
        match &fetched {
            Ok(k) => keys.insert(kid.to_owned(), Cached::Key(k.clone())),
            Err(_) => keys.insert(kid.to_owned(), Cached::Missing(Instant::now())),
        };
        fetched
    }

    async fn fetch(&self, kid: &str) -> Result<Vec<u8>> {
        let url = self.key_url.replace("{region}", &self.region).replace("{kid}", kid);
        let mut req = aws_smithy_runtime_api::http::Request::new(SdkBody::empty());
        req.set_uri(url.as_str()).map_err(|e| anyhow!("key URL {url} is not a URL: {e}"))?;
        req.set_method("GET")?;
        let call = async {
            let resp = self.http.call(req).await.map_err(|e| anyhow!("cannot fetch the public key {url}: {e:?}"))?;
            let status = resp.status().as_u16();
            let body = aws_smithy_types::byte_stream::ByteStream::new(resp.into_body())
                .collect()
                .await
                .with_context(|| format!("reading the public key {url}"))?
                .into_bytes();
            anyhow::Ok((status, body))
        };
        let (status, body) =
            tokio::time::timeout(FETCH_TIMEOUT, call).await.map_err(|_| anyhow!("fetching {url} timed out"))??;
        if status != 200 {
            return Err(anyhow!("no public key for the token's kid ({url} answered HTTP {status})"));
        }
        if body.len() > MAX_KEY_FILE {
            return Err(anyhow!("the public key at {url} is over {MAX_KEY_FILE} bytes"));
        }
        point_of_pem(&String::from_utf8_lossy(&body)).map_err(|e| anyhow!("the public key at {url}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    const ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nb/0123456789abcdef";

    fn padded(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
    }

    fn token(key: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let signed = format!("{}.{}", padded(&header), padded(&claims));
        let sig = key.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", base64::engine::general_purpose::URL_SAFE.encode(sig.as_ref()))
    }

    #[test]
    fn a_padded_token_verifies_as_sent_and_its_checks_hold() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key.public_key().as_ref().to_vec();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend(&point);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        );
        assert_eq!(point_of_pem(&pem).unwrap(), point);
        let exp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + 60;
        let header =
            serde_json::json!({"alg": "ES256", "kid": "k-1", "signer": ARN, "iss": "x", "client": "c", "exp": exp});
        let t = token(&key, header.clone(), serde_json::json!({"email": "alice@example.com", "exp": exp}));
        assert!(t.contains('='), "the test token keeps base64 padding as the ALB does: {t}");
        let p = parse(&t, ARN, SystemTime::now()).unwrap();
        assert!(signature_ok(&point, p.signed.as_bytes(), &p.signature));
        assert_eq!(user_of_claims(&p.claims, "email").unwrap(), "alice");
        // Without the padding the bytes differ from what was signed.
        let stripped = t.split('.').map(|s| s.trim_end_matches('=')).collect::<Vec<_>>().join(".");
        let q = parse(&stripped, ARN, SystemTime::now()).unwrap();
        assert!(!signature_ok(&point, q.signed.as_bytes(), &q.signature));
        let other = ARN.replace("/nb/", "/other/");
        assert!(parse(&t, &other, SystemTime::now()).unwrap_err().contains("another load balancer"));
        let late = SystemTime::now() + Duration::from_secs(120);
        assert!(parse(&t, ARN, late).unwrap_err().contains("expired"));
        let mut none = header.clone();
        none["alg"] = "none".into();
        assert!(parse(&token(&key, none, serde_json::json!({})), ARN, SystemTime::now()).is_err());
        let mut bad_kid = header;
        bad_kid["kid"] = "../x".into();
        assert!(parse(&token(&key, bad_kid, serde_json::json!({})), ARN, SystemTime::now()).is_err());
        // A DER (ASN.1) signature of the same key verifies too.
        let der_key =
            EcdsaKeyPair::from_pkcs8(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let der = der_key.sign(&rng, p.signed.as_bytes()).unwrap();
        assert_ne!(der.as_ref().len(), 64);
        assert!(signature_ok(&point, p.signed.as_bytes(), der.as_ref()));
        assert!(!signature_ok(&point, b"something else", der.as_ref()));
        assert!(user_of_claims(&serde_json::json!({"email": "a.b@x"}), "email").is_err());
        assert!(user_of_claims(&serde_json::json!({}), "email").is_err());
    }
}
