//! An Application Load Balancer's sign-in, as AWS makes it: an ES256 key generated here, its PEM
//! public key served on loopback at `/<kid>` (the shape of public-keys.auth.elb.<region>.amazonaws.com),
//! and `x-amzn-oidc-data` tokens signed over header.payload base64url-encoded WITH `=` padding (ELB
//! user guide, "Authenticate users using an Application Load Balancer", user claims encoding).
//! Plus a header-adding proxy that plays the ALB in front of `serve` for a browser.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine as _;
use serde_json::{json, Value};

pub const ALB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/notebooks/50dc6c495c0c9188";
pub const OTHER_ALB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/someone-else/0123456789abcdef";

/// A signing key of the ALB with its key id.
pub struct AlbKey {
    pub kid: String,
    key: EcdsaKeyPair,
}

impl AlbKey {
    pub fn generate(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        AlbKey { kid: kid.to_owned(), key }
    }

    /// The public key as the key endpoint serves it: PEM SubjectPublicKeyInfo.
    pub fn pem(&self) -> String {
        const P256_SPKI: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let mut der = P256_SPKI.to_vec();
        der.extend_from_slice(self.key.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    /// A token as the ALB signs it: header {alg, kid, signer, iss, client, exp}, the claims, each
    /// base64url with padding, the JWS r||s signature over the two as sent.
    pub fn token(&self, signer: &str, claims: Value, exp: u64) -> String {
        let header = json!({
            "alg": "ES256", "kid": self.kid, "signer": signer,
            "iss": "https://idp.example.com", "client": "notebook-client", "exp": exp,
        });
        let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
        let signed = format!("{}.{}", enc(&header), enc(&claims));
        let sig = self.key.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", base64::engine::general_purpose::URL_SAFE.encode(sig.as_ref()))
    }

    /// alice's (or anyone's) sign-in by email, valid for `secs` more seconds.
    pub fn sign_in(&self, email: &str, secs: i64) -> String {
        let exp = (now() as i64 + secs) as u64;
        self.token(ALB_ARN, json!({"sub": "1234", "email": email, "exp": exp, "iss": "https://idp.example.com"}), exp)
    }
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A loopback HTTP server of fixed files (path -> content type, body); 404 otherwise. Serves the
/// ALB's public keys, and in the browser test another site's page.
pub struct Files {
    pub base: String,
    files: Arc<Mutex<HashMap<String, (String, String)>>>,
}

impl Files {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let served = served.clone();
                std::thread::spawn(move || answer_file(stream, &served));
            }
        });
        Files { base, files }
    }

    pub fn put(&self, path: &str, content_type: &str, body: &str) {
        self.files.lock().unwrap().insert(path.to_owned(), (content_type.to_owned(), body.to_owned()));
    }
}

fn answer_file(mut stream: TcpStream, files: &Mutex<HashMap<String, (String, String)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
    }
    let found = files.lock().unwrap().get(&path).cloned();
    let (status, ctype, body) = match found {
        Some((t, b)) => ("200 OK", t, b),
        None => ("404 Not Found", "text/plain".to_owned(), "no such key".to_owned()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The ALB in front of `serve` for a browser: every request forwarded with `x-amzn-oidc-data`
/// (whatever the browser sent under that name is dropped, as the ALB does), one request per
/// connection.
pub struct AlbProxy {
    pub base: String,
}

impl AlbProxy {
    pub fn start(upstream: &str, token: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (upstream, token) = (upstream.clone(), token.clone());
                std::thread::spawn(move || {
                    let _ = forward(stream, &upstream, &token);
                });
            }
        });
        AlbProxy { base }
    }
}

fn forward(client: TcpStream, upstream: &str, token: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    reader.read_line(&mut head)?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("x-amzn-oidc-") || lower.starts_with("connection:") {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&h);
    }
    head.push_str(&format!("x-amzn-oidc-data: {token}\r\nconnection: close\r\n\r\n"));
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(head.as_bytes())?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let mut client = client;
    client.write_all(&answer)?;
    client.shutdown(std::net::Shutdown::Both)
}
