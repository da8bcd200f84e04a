//! A client of the Lambda Runtime API (custom runtimes, `provided.al2023`), as the Lambda developer
//! guide's "Using the Lambda runtime API for custom runtimes" documents it:
//! - `GET /2018-06-01/runtime/invocation/next` blocks until an event arrives; the body is the event,
//!   the headers `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (epoch ms),
//!   `Lambda-Runtime-Invoked-Function-Arn`, `Lambda-Runtime-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` with the answer;
//! - `POST /2018-06-01/runtime/invocation/{id}/error` and `POST /2018-06-01/runtime/init/error`
//!   with `{"errorMessage", "errorType", "stackTrace"}` and the `Lambda-Runtime-Function-Error-Type`
//!   header; both answer 202, and a 500 means the runtime must exit.
//!
//! `AWS_LAMBDA_RUNTIME_API` holds the API's `host:port`. Plain HTTP/1.1 over hyper's client
//! connection (the HTTP crates `serve` already uses), one connection per call: the API is local to
//! the execution environment, so a connect costs microseconds, and no idle connection can go stale
//! while the environment is frozen between invocations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::json;

pub const API_ENV: &str = "AWS_LAMBDA_RUNTIME_API";
const VERSION: &str = "2018-06-01";
/// A response larger than this is refused by Lambda (6 MB for synchronous invocations: Lambda
/// quotas, "Invocation payload (request and response)"); say so instead of sending it.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// One invocation, as `/next` handed it over.
#[derive(Debug)]
pub struct Invocation {
    pub request_id: String,
    /// When Lambda stops the invocation, in ms since the epoch.
    pub deadline_ms: Option<u64>,
    pub function_arn: Option<String>,
    pub trace_id: Option<String>,
    pub event: Bytes,
}

impl Invocation {
    /// Time left before the deadline (None when the API gave none).
    pub fn remaining(&self) -> Option<Duration> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
        self.deadline_ms.map(|d| Duration::from_millis(d.saturating_sub(now)))
    }
}

/// The Runtime API of this execution environment.
#[derive(Debug, Clone)]
pub struct RuntimeApi {
    /// `host:port`
    authority: String,
}

impl RuntimeApi {
    pub fn new(authority: &str) -> Result<Self> {
        let authority = authority.trim();
        // host:port, nothing else: the value becomes a URI authority and a connect target.
        let valid = !authority.is_empty()
            && authority.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            && !authority.contains(['/', '@', '?', '#', ' ']);
        if !valid {
            bail!("{API_ENV}={authority:?} is not host:port");
        }
        Ok(RuntimeApi { authority: authority.to_owned() })
    }

    pub fn from_env() -> Result<Self> {
        let value = std::env::var(API_ENV).with_context(|| format!("{API_ENV} is not set (or not UTF-8)"))?;
        Self::new(&value)
    }

    /// The next invocation; waits as long as Lambda has none (the environment is frozen meanwhile).
    pub async fn next(&self) -> Result<Invocation> {
        let path = format!("/{VERSION}/runtime/invocation/next");
        let (status, headers, body) = self.call(Method::GET, &path, None, Bytes::new()).await?;
        if status != StatusCode::OK {
            bail!("GET {path} answered {status}: {}", String::from_utf8_lossy(&body));
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request_id = header("Lambda-Runtime-Aws-Request-Id")
            .ok_or_else(|| anyhow!("GET {path}: no Lambda-Runtime-Aws-Request-Id"))?;
        Ok(Invocation {
            request_id,
            deadline_ms: header("Lambda-Runtime-Deadline-Ms").and_then(|d| d.parse().ok()),
            function_arn: header("Lambda-Runtime-Invoked-Function-Arn"),
            trace_id: header("Lambda-Runtime-Trace-Id"),
            event: body,
        })
    }

    /// The invocation's answer.
    pub async fn respond(&self, request_id: &str, body: Vec<u8>) -> Result<()> {
        let path = format!("/{VERSION}/runtime/invocation/{}/response", path_segment(request_id));
        self.post(&path, None, body).await
    }

    /// The invocation failed: Lambda retries an asynchronous invocation, then sends it to the
    /// on-failure destination.
    pub async fn error(&self, request_id: &str, error_type: &str, message: &str) -> Result<()> {
        let path = format!("/{VERSION}/runtime/invocation/{}/error", path_segment(request_id));
        self.post(&path, Some(error_type), error_body(error_type, message)).await
    }

    /// The function could not start (bad settings): Lambda fails the invocation with this message.
    pub async fn init_error(&self, error_type: &str, message: &str) -> Result<()> {
        let path = format!("/{VERSION}/runtime/init/error");
        self.post(&path, Some(error_type), error_body(error_type, message)).await
    }

    async fn post(&self, path: &str, error_type: Option<&str>, body: Vec<u8>) -> Result<()> {
        let (status, _, answer) = self.call(Method::POST, path, error_type, Bytes::from(body)).await?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {}", String::from_utf8_lossy(&answer));
        }
        Ok(())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        error_type: Option<&str>,
        body: Bytes,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes)> {
        let what = || format!("{method} http://{}{path} (Lambda Runtime API)", self.authority);
        let stream = tokio::net::TcpStream::connect(&self.authority).await.with_context(what)?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.with_context(what)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::USER_AGENT, concat!("notebook-vend/", env!("CARGO_PKG_VERSION")));
        if method == Method::POST {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(t) = error_type {
            req = req.header("Lambda-Runtime-Function-Error-Type", t);
        }
        let req = req.body(Full::new(body)).with_context(what)?;
        let resp = sender.send_request(req).await.with_context(what)?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.with_context(what)?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}

/// A request id as one path segment: Lambda's are UUIDs; anything else is percent-encoded.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    json!({"errorMessage": message, "errorType": error_type, "stackTrace": []}).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_host_and_port_only() {
        assert!(RuntimeApi::new("127.0.0.1:9001").is_ok());
        assert!(RuntimeApi::new("localhost:9001").is_ok());
        for bad in ["", "127.0.0.1", "http://127.0.0.1:9001", "a:b", "x@y:1", ":80"] {
            assert!(RuntimeApi::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_ids_stay_one_segment() {
        assert_eq!(path_segment("8476a536-e9f4-11e8-9739-2dfe598c3fcd"), "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(path_segment("../x y"), "..%2Fx%20y");
    }
}
