//! `serve`: the blog's API Gateway + RefreshURL Lambda, with what it lacked: every request says who
//! calls (by default a presigned sts:GetCallerIdentity made with the caller's own credentials, see
//! caller_token.rs: end users refresh only their own notebook, `--operator` identities anyone's; or,
//! as an explicit choice, one shared bearer token compared in constant time), loopback by default, validated input, statuses that
//! say what went wrong, a body limit, an access log that never holds a URL or a token, and a
//! graceful shutdown. A client cannot hold the server without the token: a connection must send
//! its request head within `--header-timeout` (hyper's header-read timer, which also runs while
//! a keep-alive connection sits idle), a body must arrive within `--body-timeout`, and at most
//! `--max-connections` are served at once (more are answered 503 and closed).
//!
//! `POST /refreshurl` `{"notebook_user_name": "U"}` -> `{"PreSignedURL": "<url>"}` (and the URL is
//! stored in SSM, as the blog's function did); `GET /healthz` -> `{"status": "ok"}`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::aws::context::Context;
use crate::aws::notebook::{self, WhenStopped};
use crate::aws::poll::Deadline;
use crate::cli::{ServeArgs, ServeAuth, UrlStoreArgs};
use crate::cmd::home;
use crate::cmd::shared::vend::{self, Request as VendRequest};
use crate::error::{exit, exit_code, usage};
use crate::names::identity::{self, Authorization};
use crate::names::user;
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;

/// Request bodies above this answer 413: `{"notebook_user_name": "<54 chars>"}` needs far less.
pub const BODY_LIMIT: usize = 4096;
const TOKEN_ENV: &str = "NOTEBOOK_VEND_TOKEN";

/// How requests are authenticated (`--auth`).
enum Auth {
    /// A presigned sts:GetCallerIdentity per request, replayed to STS with this server's id.
    Iam { server_id: String, operators: Vec<String>, http: aws_smithy_http_client::Connector },
    /// SHA-256 of the shared token: comparing digests keeps the comparison constant-time whatever
    /// the length of what a client sends.
    Token { digest: [u8; 32] },
    /// Nothing (`--auth none --allow-unauthenticated`): the blog's API.
    None,
}

struct Shared {
    ctx: Arc<Context>,
    auth: Auth,
    store: UrlStoreArgs,
    timeout: Duration,
    body_timeout: Duration,
}

/// The validated user a request was about, for the access log (set by the handler).
#[derive(Clone)]
struct LoggedUser(String);

/// The ARN STS answered for the request's identity token (`--auth iam`).
#[derive(Clone)]
struct CallerArn(String);

/// `--auth` as given, or as implied: a token file or $NOTEBOOK_VEND_TOKEN means the shared token.
fn auth_mode(args: &ServeArgs) -> Result<ServeAuth> {
    let token_given = args.token_file.is_some() || std::env::var_os(TOKEN_ENV).is_some();
    let mode = args.auth.unwrap_or(if token_given { ServeAuth::Token } else { ServeAuth::Iam });
    match mode {
        ServeAuth::Iam if args.token_file.is_some() => {
            Err(usage("--token-file is the shared token of --auth token; --auth iam needs no secret"))
        }
        ServeAuth::None if !args.allow_unauthenticated => Err(usage(
            "--auth none serves every user's notebook URL to anyone who reaches the port: add --allow-unauthenticated \
             to mean it",
        )),
        _ if args.allow_unauthenticated && mode != ServeAuth::None => {
            Err(usage("--allow-unauthenticated goes with --auth none only"))
        }
        _ if mode != ServeAuth::Iam && (args.server_id.is_some() || !args.operators.is_empty()) => {
            Err(usage("--server-id and --operator go with --auth iam only"))
        }
        m => Ok(m),
    }
}

pub async fn run(args: &ServeArgs, ctx: Context) -> Result<()> {
    let mode = auth_mode(args)?;
    let token = if mode == ServeAuth::Token { load_token(args.token_file.as_deref())? } else { None };
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(usage(format!(
            "--listen {} is not a loopback address; the API is plain HTTP and answers credentials: pass --allow-remote \
             (behind a TLS proxy) to listen there",
            args.listen
        )));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("reading the listening address")?;
    let generated = mode == ServeAuth::Token && token.is_none();
    let token = match (mode, token) {
        (ServeAuth::Token, Some(t)) => Some(t),
        (ServeAuth::Token, None) => Some(generate_token()?),
        _ => None,
    };
    let auth = match mode {
        ServeAuth::Iam => Auth::Iam {
            server_id: args.server_id.clone().unwrap_or_else(|| format!("http://{addr}")),
            operators: args.operators.clone(),
            http: crate::aws::caller_token::connector(),
        },
        ServeAuth::Token => {
            Auth::Token { digest: Sha256::digest(token.as_deref().unwrap_or_default().as_bytes()).into() }
        }
        ServeAuth::None => Auth::None,
    };
    match &auth {
        Auth::Iam { server_id, operators, .. } => eprintln!(
            "notebook-vend serve: callers sign their identity for server id {server_id} (`notebook-vend refresh \
             --endpoint {server_id}`); operators: {}",
            if operators.is_empty() { "none".to_owned() } else { operators.join(", ") }
        ),
        Auth::None => eprintln!(
            "notebook-vend serve: WARNING: --auth none: no authentication; anyone who reaches {addr} can refresh and \
             read any user's notebook URL"
        ),
        Auth::Token { .. } => {}
    }
    let ctx = Arc::new(ctx);
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        auth,
        store: args.store.clone(),
        timeout: Duration::from_secs(args.request_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
    });
    let mut app = routes(shared.clone()).layer(middleware::from_fn_with_state(shared, authorize));
    if let Some(alb_arn) = &args.alb_arn {
        // The home page: its own identity check (the ALB's signed header), not --auth's.
        let config = home::Config {
            alb_arn: alb_arn.clone(),
            key_url: args.alb_key_url.clone(),
            user_claim: args.oidc_user_claim.clone(),
            session_seconds: args.store.session_seconds,
            timeout: Duration::from_secs(args.request_timeout),
        };
        app = home::router(ctx, &config).merge(app);
        eprintln!(
            "notebook-vend serve: home page at / for users signed in by {alb_arn} (user: the {} claim); keys from {}",
            args.oidc_user_claim, args.alb_key_url
        );
        if !addr.ip().is_loopback() {
            eprintln!(
                "notebook-vend serve: {addr} must be reachable only from the load balancer: admit the port only from \
                 its security group"
            );
        }
    }
    let app = app.layer(middleware::from_fn(access_log));

    if let (true, Some(token)) = (generated, &token) {
        eprintln!(
            "notebook-vend serve: no --token-file and no {TOKEN_ENV}: generated this token (shown once): {token}"
        );
    }
    drop(token);
    if !addr.ip().is_loopback() {
        eprintln!("notebook-vend serve: warning: listening on {addr} in plain HTTP; put TLS in front of it");
    }
    eprintln!("notebook-vend serve: listening on http://{addr}");
    let limits = Limits {
        header_timeout: Duration::from_secs(args.header_timeout),
        max_connections: args.max_connections as usize,
    };
    accept_loop(listener, app, limits).await;
    eprintln!("notebook-vend serve: stopped");
    Ok(())
}

/// The API's routes, answers and limits, without authentication and the access log: the Lambda
/// function (src/lambda/) puts IAM's caller check in front of the same router, so both answer the
/// same paths with the same bodies and statuses.
pub fn api(ctx: Context, args: &ServeArgs) -> Router {
    routes(Arc::new(Shared {
        ctx: Arc::new(ctx),
        auth: Auth::None,
        store: args.store.clone(),
        timeout: Duration::from_secs(args.request_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
    }))
}

fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/refreshurl", post(refresh))
        // The blog sample's API path (API Gateway stage Prod, resource /refreshurl/): its clients
        // move over by changing the host and adding the token.
        .route("/Prod/refreshurl/", post(refresh))
        .route("/Prod/refreshurl", post(refresh))
        .route("/healthz", get(healthz))
        .fallback(|| async {
            error(StatusCode::NOT_FOUND, "no such path: use POST /refreshurl (or /Prod/refreshurl/) or GET /healthz")
        })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this path")
        })
        .with_state(shared)
}

struct Limits {
    header_timeout: Duration,
    max_connections: usize,
}

/// axum::serve has no header-read timeout and no connection cap, so connections are served here
/// with hyper's HTTP/1 builder (header_read_timeout needs its timer) under a semaphore. On Ctrl-C
/// or SIGTERM: stop accepting, let every connection finish the request it is answering, stop.
async fn accept_loop(listener: tokio::net::TcpListener, app: Router, limits: Limits) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::Service as _;

    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let shutdown = crate::cmd::shared::signal::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            signal = &mut shutdown => {
                eprintln!("notebook-vend serve: {signal}: answering requests in flight, then stopping");
                break;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            connections.spawn(refuse(stream, peer));
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move { app.call(req.map(Body::new)).await }
        });
        let mut stop = stop_rx.clone();
        let header_timeout = limits.header_timeout;
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    changed = stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                        if changed.is_err() { let _ = conn.as_mut().await; break; }
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// Over the connection cap: a short 503 and close, without reading the request.
async fn refuse(mut stream: tokio::net::TcpStream, peer: SocketAddr) {
    use tokio::io::AsyncWriteExt as _;
    let body = r#"{"error":"too many connections; try again"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
    eprintln!("access: {peer} - (refused) 503 0.0ms user=- (over --max-connections)");
}

/// The token from --token-file, else NOTEBOOK_VEND_TOKEN (both trimmed, neither may be empty),
/// else None (a random one is generated).
fn load_token(file: Option<&Path>) -> Result<Option<String>> {
    if let Some(path) = file {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read --token-file {}: {e}", path.display())))?;
        let token = raw.trim();
        if token.is_empty() {
            return Err(usage(format!("--token-file {} is empty", path.display())));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
                eprintln!("notebook-vend serve: warning: {} is readable by others; chmod 600 it", path.display());
            }
        }
        return Ok(Some(token.to_owned()));
    }
    match std::env::var(TOKEN_ENV) {
        Ok(v) if v.trim().is_empty() => Err(usage(format!("{TOKEN_ENV} is set but empty"))),
        Ok(v) => Ok(Some(v.trim().to_owned())),
        Err(std::env::VarError::NotUnicode(_)) => Err(usage(format!("{TOKEN_ENV} is not valid UTF-8"))),
        Err(std::env::VarError::NotPresent) => Ok(None),
    }
}

/// 32 random bytes from the OS, hex.
fn generate_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("cannot generate a token: {e}"))?;
    Ok(hex::encode(bytes))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Every request needs `Authorization: Bearer <token>`: an identity token (`--auth iam`, whose
/// ARN goes with the request to the handler) or the shared token (`--auth token`).
async fn authorize(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let unauthorized = |why: String| {
        let mut resp = error(StatusCode::UNAUTHORIZED, why);
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        resp
    };
    match &shared.auth {
        Auth::None => {}
        Auth::Token { digest } => {
            let ok = presented.is_some_and(|t| bool::from(Sha256::digest(t.as_bytes()).as_slice().ct_eq(digest)));
            if !ok {
                return unauthorized("missing or wrong bearer token (Authorization: Bearer <token>)".into());
            }
        }
        Auth::Iam { server_id, http, .. } => {
            let Some(token) = presented else {
                return unauthorized(format!(
                    "no identity token: send Authorization: Bearer {}<base64url of a presigned \
                     sts:GetCallerIdentity signing {}: {server_id}> (`notebook-vend refresh --endpoint ...` does)",
                    crate::aws::caller_token::TOKEN_PREFIX,
                    crate::aws::caller_token::SERVER_ID_HEADER
                ));
            };
            match crate::aws::caller_token::verify(&shared.ctx, http, &token, server_id).await {
                Ok(arn) => {
                    req.extensions_mut().insert(CallerArn(arn));
                }
                Err(why) => return unauthorized(format!("identity not accepted: {why}")),
            }
        }
    }
    next.run(req).await
}

/// One line per request on stderr: client, method, route, status, duration, user. Only known
/// routes are logged verbatim (a path is client input and could hold anything); never a URL,
/// a body or a header.
async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = match req.uri().path() {
        "/refreshurl" => "/refreshurl",
        "/Prod/refreshurl/" => "/Prod/refreshurl/",
        "/Prod/refreshurl" => "/Prod/refreshurl",
        "/healthz" => "/healthz",
        p => home::PATHS.iter().find(|h| **h == p).copied().unwrap_or("(other)"),
    };
    let client =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string()).unwrap_or_else(|| "-".into());
    let resp = next.run(req).await;
    let user = resp
        .extensions()
        .get::<LoggedUser>()
        .map(|u| u.0.clone())
        .or_else(|| resp.extensions().get::<home::SignedIn>().map(|u| u.0.clone()))
        .unwrap_or_else(|| "-".into());
    eprintln!(
        "access: {client} {method} {route} {} {:.1}ms user={user}",
        resp.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    resp
}

async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

#[derive(Deserialize)]
struct RefreshBody {
    notebook_user_name: String,
}

async fn refresh(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let caller = req.extensions().get::<CallerArn>().cloned();
    // The body is read here, under --body-timeout (after the token was checked): a slow client
    // cannot hold the request open past it.
    let read = axum::body::to_bytes(req.into_body(), BODY_LIMIT);
    let body = match tokio::time::timeout(shared.body_timeout, read).await {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {}s", shared.body_timeout.as_secs()),
            )
        }
        Ok(Ok(b)) => b,
        Ok(Err(e)) if is_too_large(&e) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {BODY_LIMIT} bytes"))
        }
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")),
    };
    // Only an object: serde reads a struct from a sequence too (`["alice"]`), which is no API.
    // Read straight into the struct, which refuses a repeated key ("duplicate field"): a JSON
    // value keeps the last one, and a proxy in front that checks the first would be bypassed.
    let parsed = if body.trim_ascii_start().first() == Some(&b'{') {
        serde_json::from_slice::<RefreshBody>(&body).map_err(|e| e.to_string())
    } else {
        Err("the body is not a JSON object".to_owned())
    };
    let user = match parsed {
        Ok(b) => b.notebook_user_name,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body must be JSON {{\"notebook_user_name\": \"<user>\"}}: {e}"),
            );
        }
    };
    if let Err(e) = user::validate_user(&user) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    if let (Some(CallerArn(arn)), Auth::Iam { operators, .. }) = (&caller, &shared.auth) {
        if let Authorization::Denied { caller_user } = identity::authorize(arn, &user, operators) {
            let own = caller_user.map(|u| format!("its own is {u}'s")).unwrap_or_else(|| "it has none".into());
            let mut resp = error(
                StatusCode::FORBIDDEN,
                format!("{arn} may refresh only its own notebook ({own}), not {user}'s; nothing was written"),
            );
            resp.extensions_mut().insert(LoggedUser(user));
            return resp;
        }
    }
    let mut resp = match tokio::time::timeout(shared.timeout, refresh_user(&shared, &user)).await {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no URL for {user} within {}s; try again", shared.timeout.as_secs()),
        ),
    };
    resp.extensions_mut().insert(LoggedUser(user));
    resp
}

async fn refresh_user(shared: &Shared, user: &str) -> Response {
    let ctx = &shared.ctx;
    let name = user::notebook_name(user);
    match vend::require_in_deployment(ctx, user).await {
        Ok(()) => {}
        Err(e) if e.downcast_ref::<vend::NotInDeployment>().is_some() => {
            return error(StatusCode::NOT_FOUND, format!("{e:#}"))
        }
        Err(e) => return aws_failure(user, &e),
    }
    // Decide 404/409 up front: deliver() would wait for a Pending notebook, and an API should say
    // "not now" at once instead.
    match notebook::describe(ctx, &name).await {
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("user {user} has no notebook ({name})")),
        Ok(Some(nb)) if nb.state() == Nb::InService => {}
        Ok(Some(nb)) => {
            let hint = match nb.state() {
                Nb::Stopped => format!("; start it with `notebook-vend start --user {user}`"),
                Nb::Pending | Nb::Updating => "; try again once it is InService".to_owned(),
                // botocore NotebookInstanceStatus; SageMaker ends maintenance on its own.
                Nb::PendingMaintenance | Nb::InMaintenance => {
                    "; SageMaker maintenance: try again once it is InService".to_owned()
                }
                Nb::Stopping | Nb::Failed | Nb::Deleting | Nb::InService => String::new(),
                // A state newer than this SDK (the enum is #[non_exhaustive]).
                _ => String::new(),
            };
            return error(StatusCode::CONFLICT, format!("notebook {name} is {}{hint}", nb.status));
        }
        Err(e) => return aws_failure(user, &e),
    }
    let req = VendRequest {
        user,
        store: &shared.store,
        grace: Duration::ZERO,
        when_stopped: WhenStopped::Fail,
        resume: format!("notebook-vend refresh --user {user}"),
        show_url: true,
        stack: None,
    };
    match vend::deliver(ctx, &req, Deadline::after(shared.timeout), &ctx.progress.silent()).await {
        Ok(d) => match d.url {
            Some(url) => Json(json!({ "PreSignedURL": url })).into_response(),
            None => error(StatusCode::INTERNAL_SERVER_ERROR, "no URL was minted"),
        },
        Err(e) => aws_failure(user, &e),
    }
}

/// axum's `to_bytes` wraps http-body-util's LengthLimitError.
fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        source = err.source();
    }
    false
}

fn aws_failure(user: &str, e: &anyhow::Error) -> Response {
    let status = if exit_code(e) == exit::TIMEOUT { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
    // AWS error messages hold no URL; the URL itself is never in an error.
    tracing::warn!(user, "refresh failed: {e:#}");
    error(status, format!("refreshing the URL of {user} failed: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_sources() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "  s3cret \n").unwrap();
        assert_eq!(load_token(Some(&f)).unwrap().as_deref(), Some("s3cret"));
        std::fs::write(&f, " \n").unwrap();
        assert_eq!(exit_code(&load_token(Some(&f)).unwrap_err()), exit::USAGE);
        assert_eq!(exit_code(&load_token(Some(&dir.path().join("missing"))).unwrap_err()), exit::USAGE);
        let t = generate_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(t, generate_token().unwrap());
    }
}
