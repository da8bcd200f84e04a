//! The two functions' handlers, thin adapters over the commands' own code:
//! - `watch`: an EventBridge event -> `cmd::watch::on_event` (what `watch --event FILE` runs);
//! - `serve`: a Function URL request (payload format 2.0) -> the IAM caller check
//!   (authorize.rs) -> `cmd::serve::api`, the router `serve` answers with.

use std::time::Instant;

use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};

use super::authorize::{self, Decision, Operators};
use crate::aws::context::Context;
use crate::cli::WatchArgs;
use crate::error::{exit, exit_code};

/// An invocation that failed: the Runtime API's `errorType` and `errorMessage`.
#[derive(Debug)]
pub struct Failed {
    pub kind: &'static str,
    pub message: String,
}

impl Failed {
    fn invalid(message: String) -> Self {
        Failed { kind: "InvalidEvent", message }
    }

    fn of(e: &anyhow::Error) -> Self {
        let kind = match exit_code(e) {
            exit::USAGE => "InvalidEvent",
            exit::TIMEOUT => "Timeout",
            _ => "HandlerError",
        };
        Failed { kind, message: format!("{e:#}") }
    }
}

pub enum Handler {
    Watch { args: Box<WatchArgs>, ctx: Box<Context> },
    Serve { router: Router, operators: Operators },
}

impl Handler {
    pub fn name(&self) -> &'static str {
        match self {
            Handler::Watch { .. } => "watch",
            Handler::Serve { .. } => "serve",
        }
    }

    /// The answer's body, or why the invocation failed.
    pub async fn handle(&self, event: &[u8], function_arn: Option<&str>) -> Result<Vec<u8>, Failed> {
        match self {
            Handler::Watch { args, ctx } => watch(args, ctx, event).await,
            Handler::Serve { router, operators } => serve(router, operators, event, function_arn).await,
        }
    }
}

async fn watch(args: &WatchArgs, ctx: &Context, event: &[u8]) -> Result<Vec<u8>, Failed> {
    let value: Value =
        serde_json::from_slice(event).map_err(|e| Failed::invalid(format!("the event is not JSON: {e}")))?;
    let answer = crate::cmd::watch::on_event(args, ctx, &value, "the event").await.map_err(|e| Failed::of(&e))?;
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    // The answer holds no URL (only the parameter's name): safe for the function's log.
    eprintln!("notebook-vend lambda: watch: {}", String::from_utf8_lossy(&body));
    if let Some(why) = answer.failure() {
        return Err(Failed { kind: "ProvisionFailed", message: why });
    }
    Ok(body)
}

/// A Function URL request, payload format 2.0 (Lambda developer guide, "Invoking Lambda function
/// URLs": `rawPath`, `rawQueryString`, `headers`, `body`, `isBase64Encoded`,
/// `requestContext.http.method`, `requestContext.authorizer.iam.userArn`, `requestContext.accountId`).
#[derive(Debug)]
struct UrlRequest {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    caller: Option<String>,
    account: Option<String>,
}

fn parse_url_request(ev: &Value) -> Result<UrlRequest, String> {
    let text = |pointer: &str| ev.pointer(pointer).and_then(Value::as_str);
    let method = text("/requestContext/http/method").ok_or("no requestContext.http.method: not a payload 2.0 event")?;
    let path = text("/rawPath").or_else(|| text("/requestContext/http/path")).ok_or("no rawPath")?;
    if !path.starts_with('/') {
        return Err(format!("rawPath {path:?} does not start with /"));
    }
    let query = text("/rawQueryString").filter(|q| !q.is_empty());
    let headers = match ev.get("headers") {
        Some(Value::Object(h)) => h.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect(),
        _ => Vec::new(),
    };
    let body = match (ev.get("body").and_then(Value::as_str), ev.get("isBase64Encoded").and_then(Value::as_bool)) {
        (None, _) => Bytes::new(),
        (Some(b), Some(true)) => {
            Bytes::from(aws_smithy_types::base64::decode(b).map_err(|e| format!("body is not base64: {e}"))?)
        }
        (Some(b), _) => Bytes::from(b.to_owned()),
    };
    Ok(UrlRequest {
        method: method.to_owned(),
        path_and_query: match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        },
        headers,
        body,
        caller: text("/requestContext/authorizer/iam/userArn").filter(|a| !a.is_empty()).map(str::to_owned),
        account: text("/requestContext/accountId").map(str::to_owned),
    })
}

/// The user a request body asks for, read as the router's handler reads it (a JSON object's
/// `notebook_user_name`). A body the router would accept always yields its user here; one that
/// yields none gets a 400 or 404 from the router without any refresh.
fn requested_user(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("notebook_user_name")?.as_str().map(str::to_owned)
}

async fn serve(
    router: &Router,
    operators: &Operators,
    event: &[u8],
    function_arn: Option<&str>,
) -> Result<Vec<u8>, Failed> {
    let started = Instant::now();
    let value: Value =
        serde_json::from_slice(event).map_err(|e| Failed::invalid(format!("the request event is not JSON: {e}")))?;
    let req = parse_url_request(&value).map_err(|e| Failed::invalid(format!("malformed Function URL event: {e}")))?;
    let user = requested_user(&req.body);
    // The function's own account: the event's, else the invoked function ARN's.
    let account = req.account.clone().or_else(|| function_arn.and_then(|a| a.split(':').nth(4)).map(str::to_owned));
    let (status, body) = match (&req.caller, &user) {
        // A Function URL with AuthType AWS_IAM always names the caller; NONE does not.
        (None, _) => (
            403,
            json!({"error": "unsigned request: no IAM caller (requestContext.authorizer.iam.userArn); the Function URL must use AuthType AWS_IAM"}).to_string(),
        ),
        (Some(caller), Some(user)) => {
            match authorize::authorize(caller, account.as_deref().unwrap_or_default(), user, operators) {
                Decision::Allow => route(router, &req).await?,
                Decision::Deny(why) => (403, json!({ "error": why }).to_string()),
            }
        }
        (Some(_), None) => route(router, &req).await?,
    };
    eprintln!(
        "access: lambda {} {} {status} {:.1}ms user={} caller={}",
        req.method,
        known_route(&req.path_and_query),
        started.elapsed().as_secs_f64() * 1000.0,
        user.as_deref().filter(|u| crate::names::user::validate_user(u).is_ok()).unwrap_or("-"),
        req.caller.as_deref().unwrap_or("-"),
    );
    let answer = json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body,
        "isBase64Encoded": false,
    });
    Ok(answer.to_string().into_bytes())
}

/// Only known routes are logged verbatim: a path is client input.
fn known_route(path_and_query: &str) -> &'static str {
    match path_and_query.split('?').next().unwrap_or_default() {
        "/refreshurl" => "/refreshurl",
        "/Prod/refreshurl/" => "/Prod/refreshurl/",
        "/Prod/refreshurl" => "/Prod/refreshurl",
        "/healthz" => "/healthz",
        _ => "(other)",
    }
}

/// The request through `serve`'s router; its status and (JSON, UTF-8) body.
async fn route(router: &Router, req: &UrlRequest) -> Result<(u16, String), Failed> {
    use tower::Service as _;
    let mut builder = axum::http::Request::builder().method(req.method.as_str()).uri(req.path_and_query.as_str());
    for (name, value) in &req.headers {
        // Lambda joins repeated headers with commas; a name or value http refuses is dropped.
        if let (Ok(n), Ok(v)) =
            (axum::http::HeaderName::try_from(name.as_str()), axum::http::HeaderValue::try_from(value.as_str()))
        {
            builder = builder.header(n, v);
        }
    }
    let http_req = builder
        .body(axum::body::Body::from(req.body.clone()))
        .map_err(|e| Failed::invalid(format!("malformed Function URL event: {e}")))?;
    let resp = match router.clone().call(http_req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Failed { kind: "HandlerError", message: format!("reading the answer: {e}") })?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str, b64: bool) -> Value {
        json!({"version": "2.0", "routeKey": "$default", "rawPath": "/refreshurl", "rawQueryString": "a=1",
               "headers": {"content-type": "application/json"},
               "requestContext": {"accountId": "111122223333", "http": {"method": "POST", "path": "/refreshurl"},
                                  "authorizer": {"iam": {"userArn": "arn:aws:iam::111122223333:user/alice"}}},
               "body": body, "isBase64Encoded": b64})
    }

    #[test]
    fn reads_a_payload_2_request() {
        let r = parse_url_request(&event(r#"{"notebook_user_name":"alice"}"#, false)).unwrap();
        assert_eq!((r.method.as_str(), r.path_and_query.as_str()), ("POST", "/refreshurl?a=1"));
        assert_eq!(r.caller.as_deref(), Some("arn:aws:iam::111122223333:user/alice"));
        assert_eq!(requested_user(&r.body).as_deref(), Some("alice"));
        let b64 = aws_smithy_types::base64::encode(r#"{"notebook_user_name":"bob"}"#);
        let r = parse_url_request(&event(&b64, true)).unwrap();
        assert_eq!(requested_user(&r.body).as_deref(), Some("bob"));
        assert!(parse_url_request(&json!({"rawPath": "/x"})).unwrap_err().contains("payload 2.0"));
    }
}
