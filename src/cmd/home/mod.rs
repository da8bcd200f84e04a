//! The home page `serve --alb-arn` offers data scientists: their own notebook (state, instance
//! type, version, whether it is outdated) and its buttons, Start, Stop, Open, "Create my notebook",
//! Update. Who calls comes from the Application Load Balancer in front (its authenticate-oidc action
//! signs the user's claims into `x-amzn-oidc-data`, checked by `aws::alb_token`): every action is
//! an end-user action on the caller's own notebook, never anyone else's.
//!
//! Server-rendered HTML and CSS from the binary (no CDN), usable without JavaScript; with it, one
//! small script (`/static/home.js`, loaded under `script-src 'self'`, no inline script) refreshes
//! the notebook's state while a long operation runs. POSTs are refused (403, nothing done) unless
//! the browser says they come from this page (Origin equal to the Host, or Sec-Fetch-Site:
//! same-origin); every answer carries `Referrer-Policy: no-referrer` (the notebook URL holds a
//! token), a strict Content-Security-Policy with `frame-ancestors 'none'`, and `no-store`. Open mints
//! a presigned URL on the click and answers 303 to it; nothing is stored in SSM; a user may Open a
//! limited number of times a minute.

mod jobs;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::aws::alb_token::{Refused, Verifier, HEADER};
use crate::aws::context::Context;
use crate::aws::notebook;
use crate::cmd::shared::vend;
use crate::names::user;
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;

/// What the home page needs from `serve`'s flags.
pub struct Config {
    pub alb_arn: String,
    pub key_url: String,
    pub user_claim: String,
    pub session_seconds: i32,
    pub timeout: Duration,
}

pub(crate) struct Home {
    ctx: Arc<Context>,
    verifier: Verifier,
    session_seconds: i32,
    timeout: Duration,
    jobs: Arc<jobs::Jobs>,
    runner: jobs::Runner,
    opens: jobs::RateLimit,
}

/// The signed-in user of a request (set by [`identify`]).
#[derive(Clone)]
struct User(String);

/// The signed-in user an answer was for, for serve's access log.
#[derive(Clone)]
pub struct SignedIn(pub String);

const CSS: &str = include_str!("home.css");
const JS: &str = include_str!("home.js");
/// `form-action` must allow the notebook: Open's 303 goes to `https://<name>.notebook.<region>.sagemaker.aws`,
/// and browsers apply form-action to a form's redirects.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self' https://*.sagemaker.aws; frame-ancestors 'none'; base-uri 'none'";

/// The page's routes, each behind the ALB identity check, the same-origin rule and the security
/// headers. Paths that are not the page's fall through to the router this is merged into.
pub fn router(ctx: Arc<Context>, config: &Config) -> Router {
    let jobs = Arc::new(jobs::Jobs::default());
    let home = Arc::new(Home {
        runner: jobs::Runner::start(jobs.clone(), ctx.clone()),
        ctx,
        verifier: Verifier::new(&config.alb_arn, &config.key_url, &config.user_claim),
        session_seconds: config.session_seconds,
        timeout: config.timeout,
        jobs,
        opens: jobs::RateLimit::new(jobs::OPENS_PER_MINUTE, Duration::from_secs(60)),
    });
    Router::new()
        .route("/", get(page))
        .route("/state", get(state))
        .route("/static/home.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/static/home.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
        .route("/start", post(start))
        .route("/stop", post(stop))
        .route("/open", post(open))
        .route("/provision", post(provision))
        .route("/update", post(update))
        .route_layer(middleware::from_fn(same_origin_posts))
        .route_layer(middleware::from_fn_with_state(home.clone(), identify))
        .route_layer(middleware::from_fn(security_headers))
        .with_state(home)
}

/// The routes `access_log` may name verbatim.
pub const PATHS: [&str; 9] =
    ["/", "/state", "/static/home.css", "/static/home.js", "/start", "/stop", "/open", "/provision", "/update"];

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 401 without a valid token of the ALB, 403 when its user cannot have a notebook.
async fn identify(State(home): State<Arc<Home>>, mut req: Request, next: Next) -> Response {
    let token = req.headers().get(HEADER).and_then(|v| v.to_str().ok());
    match home.verifier.user(token).await {
        Ok(u) => {
            req.extensions_mut().insert(User(u.clone()));
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(SignedIn(u));
            resp
        }
        Err(Refused::Unauthorized(why)) => view::message(StatusCode::UNAUTHORIZED, "Not signed in", &why),
        Err(Refused::Forbidden(why)) => view::message(StatusCode::FORBIDDEN, "No notebook for this sign-in", &why),
    }
}

/// A POST only from this page: `Sec-Fetch-Site: same-origin`, or (browsers that do not send it)
/// an `Origin` whose host is this request's Host. Anything else is refused before anything is done.
async fn same_origin_posts(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && !same_origin(req.headers()) {
        return view::message(
            StatusCode::FORBIDDEN,
            "Refused",
            "this request did not come from the notebook page itself (cross-site); nothing was done",
        );
    }
    next.run(req).await
}

pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin";
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")).is_some_and(|o| o == host)
        }
        _ => false,
    }
}

fn user_of(req: &Request) -> String {
    req.extensions().get::<User>().map(|u| u.0.clone()).unwrap_or_default()
}

fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn page(State(home): State<Arc<Home>>, req: Request) -> Response {
    let user = user_of(&req);
    let notice = req.uri().query().and_then(view::notice_of_query);
    match view::load(&home.ctx, &user, home.jobs.get(&user)).await {
        Ok(v) => view::page(&v, notice).into_response(),
        Err(e) => view::message(StatusCode::BAD_GATEWAY, "AWS did not answer", &format!("{e:#}")),
    }
}

/// The notebook's state for the page's script: `{"status", "busy"}`.
async fn state(State(home): State<Arc<Home>>, req: Request) -> Response {
    let user = user_of(&req);
    let job = home.jobs.get(&user);
    match notebook::describe(&home.ctx, &user::notebook_name(&user)).await {
        Ok(nb) => {
            let status = nb.as_ref().map(|n| n.status.clone());
            let busy = view::busy(nb.as_ref().map(|n| n.state()).as_ref(), job.as_ref());
            Json(serde_json::json!({ "status": status, "busy": busy })).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, Json(serde_json::json!({ "error": format!("{e:#}") }))).into_response(),
    }
}

/// The user's notebook, of this deployment, in one of `want`; else the page with why not (409).
async fn own_notebook(home: &Home, user: &str, want: &[Nb], action: &str) -> Result<notebook::Notebook, Response> {
    let failed = |e: anyhow::Error| match e.downcast_ref::<vend::NotInDeployment>() {
        Some(_) => view::message(StatusCode::NOT_FOUND, "No notebook", &format!("{e:#}")),
        None => view::message(StatusCode::BAD_GATEWAY, "AWS did not answer", &format!("{e:#}")),
    };
    vend::require_in_deployment(&home.ctx, user).await.map_err(failed)?;
    match notebook::describe(&home.ctx, &user::notebook_name(user)).await.map_err(failed)? {
        Some(nb) if want.contains(&nb.state()) => Ok(nb),
        Some(nb) => Err(view::message(
            StatusCode::CONFLICT,
            &format!("Cannot {action} now"),
            &format!("your notebook is {}; {action} needs it {}", nb.status, view::states(want)),
        )),
        None => Err(view::message(StatusCode::NOT_FOUND, "No notebook", "you have no notebook yet")),
    }
}

async fn start(State(home): State<Arc<Home>>, req: Request) -> Response {
    let user = user_of(&req);
    let nb = match own_notebook(&home, &user, &[Nb::Stopped], "start").await {
        Ok(nb) => nb,
        Err(resp) => return resp,
    };
    match notebook::start(&home.ctx, &nb.name).await {
        Ok(()) => see_other("/?done=start"),
        Err(e) => view::message(StatusCode::BAD_GATEWAY, "Start failed", &format!("{e:#}")),
    }
}

async fn stop(State(home): State<Arc<Home>>, req: Request) -> Response {
    let user = user_of(&req);
    let nb = match own_notebook(&home, &user, &[Nb::InService], "stop").await {
        Ok(nb) => nb,
        Err(resp) => return resp,
    };
    match notebook::stop(&home.ctx, &nb.name).await {
        Ok(()) => see_other("/?done=stop"),
        Err(e) => view::message(StatusCode::BAD_GATEWAY, "Stop failed", &format!("{e:#}")),
    }
}

/// A fresh presigned URL, minted now and not stored anywhere: 303 to it, never cached.
async fn open(State(home): State<Arc<Home>>, req: Request) -> Response {
    let user = user_of(&req);
    if let Err(wait) = home.opens.take(&user) {
        let mut resp = view::message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many opens",
            &format!("at most {} opens a minute; try again in {} s", jobs::OPENS_PER_MINUTE, wait.as_secs().max(1)),
        );
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return resp;
    }
    let nb = match own_notebook(&home, &user, &[Nb::InService], "open").await {
        Ok(nb) => nb,
        Err(resp) => return resp,
    };
    let minted = tokio::time::timeout(home.timeout, notebook::presign(&home.ctx, &nb.name, home.session_seconds)).await;
    match minted {
        Ok(Ok(url)) => see_other(&url),
        Ok(Err(e)) => view::message(StatusCode::BAD_GATEWAY, "Open failed", &format!("{e:#}")),
        Err(_) => view::message(StatusCode::GATEWAY_TIMEOUT, "Open failed", "AWS did not answer in time; try again"),
    }
}

async fn provision(State(home): State<Arc<Home>>, req: Request) -> Response {
    let user = user_of(&req);
    home.runner.launch(&user, jobs::Kind::Provision);
    see_other("/?done=provision")
}

async fn update(State(home): State<Arc<Home>>, req: Request) -> Response {
    let user = user_of(&req);
    home.runner.launch(&user, jobs::Kind::Update);
    see_other("/?done=update")
}
