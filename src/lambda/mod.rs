//! Lambda mode: the same binary as a Lambda function (custom runtime `provided.al2023`, the
//! binary deployed as `bootstrap`). Started with no arguments while `AWS_LAMBDA_RUNTIME_API` is
//! set, it serves the Runtime API loop (runtime.rs) with the handler the function's Handler
//! setting names (`_HANDLER`):
//! - `watch`: EventBridge events, SageMaker's notebook state changes and CloudTrail ProvisionProduct
//!   calls, handled by `watch --event`'s code; a failure is an error answer, so Lambda's retries
//!   and the on-failure destination apply;
//! - `serve`: Function URL requests (payload 2.0, AuthType AWS_IAM), answered by `serve`'s router
//!   after the IAM caller check (authorize.rs).
//!
//! Settings come from the environment exactly as for `notebook-vend watch` / `serve` (the
//! `NOTEBOOK_VEND_*` variables, flag > env > file > default), so one deployment's names reach both.

pub mod authorize;
mod handlers;
pub mod runtime;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::aws::context::Context;
use crate::cli::{Cli, Command};
use handlers::{Failed, Handler};
use runtime::RuntimeApi;

/// The function's Handler setting, as Lambda passes it to a custom runtime.
pub const HANDLER_ENV: &str = "_HANDLER";
/// Time kept back from the invocation's deadline to post the answer (an error when the work did not
/// finish): past the deadline Lambda kills the process and the invocation ends with no answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// The Runtime API error type of a failure to start.
const INIT_ERROR: &str = "Runtime.InitError";

/// Lambda mode: `AWS_LAMBDA_RUNTIME_API` set, and no arguments (Lambda runs `bootstrap` bare), or
/// only the handler's name (`watch` or `serve`): the Runtime Interface Emulator runs
/// `aws-lambda-rie BOOTSTRAP HANDLER` as `BOOTSTRAP HANDLER`, and container entrypoints do the same.
pub fn requested(args: &[OsString]) -> bool {
    std::env::var_os(runtime::API_ENV).is_some()
        && match args {
            [] | [_] => true,
            [_, handler] => handler == "watch" || handler == "serve",
            _ => false,
        }
}

/// The subcommand whose settings and code the function runs: `_HANDLER` (the function's Handler
/// setting), else the handler given as the only argument; `watch` or `serve`.
pub fn handler_name(args: &[OsString]) -> std::result::Result<&'static str, String> {
    let handler = match std::env::var(HANDLER_ENV) {
        Ok(h) if !h.is_empty() => h,
        _ => match args.get(1).and_then(|a| a.to_str()) {
            Some(a) => a.to_owned(),
            None => return Err(format!("{HANDLER_ENV} is not set: set the function's Handler to `watch` or `serve`")),
        },
    };
    match handler.as_str() {
        "watch" => Ok("watch"),
        "serve" => Ok("serve"),
        other => Err(format!(
            "{HANDLER_ENV}={other:?}: the function's Handler is `watch` (EventBridge events) or `serve` (Function URL requests)"
        )),
    }
}

/// The arguments Lambda mode parses: the handler's subcommand, every setting from the environment.
/// An unusable handler parses as `watch`; [`run`] reports it as an init error.
pub fn args(args: Vec<OsString>) -> Vec<OsString> {
    let handler = handler_name(&args).unwrap_or("watch");
    let argv0 = args.into_iter().next().unwrap_or_else(|| "notebook-vend".into());
    vec![argv0, handler.into()]
}

/// Report a failure to start (settings the parser refused) to the Runtime API, from outside any
/// async runtime.
pub fn init_failed(message: &str) {
    let Ok(api) = RuntimeApi::from_env() else { return };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    if let Err(e) = rt.block_on(api.init_error(INIT_ERROR, message)) {
        eprintln!("notebook-vend lambda: cannot report the init error: {e:#}");
    }
}

/// Serve invocations until the Runtime API fails (Lambda then starts a new environment).
pub async fn run(cli: Cli) -> Result<()> {
    let started = Instant::now();
    let api = RuntimeApi::from_env()?;
    let handler = match init(cli).await {
        Ok(h) => h,
        Err(e) => {
            let message = format!("{e:#}");
            api.init_error(INIT_ERROR, &message).await.context("reporting the init error")?;
            return Err(e);
        }
    };
    eprintln!(
        "notebook-vend lambda: {} handler ready in {:.1} ms",
        handler.name(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    loop {
        let invocation = api.next().await?;
        let began = Instant::now();
        let budget = invocation.remaining().map(|r| r.saturating_sub(ANSWER_MARGIN));
        let work = handler.handle(&invocation.event, invocation.function_arn.as_deref());
        let result = match budget {
            Some(budget) => tokio::time::timeout(budget, work).await.unwrap_or_else(|_| {
                Err(Failed {
                    kind: "Timeout",
                    message: format!(
                        "not done within the invocation's time ({} ms left at the start); nothing more was written",
                        budget.as_millis()
                    ),
                })
            }),
            None => work.await,
        };
        let id = &invocation.request_id;
        let posted = match result {
            Ok(body) => api.respond(id, body).await,
            Err(failed) => {
                eprintln!("notebook-vend lambda: {id} failed ({}): {}", failed.kind, failed.message);
                api.error(id, failed.kind, &failed.message).await
            }
        };
        if let Err(e) = posted {
            // A refused answer (too large, unknown id) loses this invocation only; a Runtime API
            // that is gone makes the next /next fail and the process exit.
            eprintln!("notebook-vend lambda: {id}: the answer was not accepted: {e:#}");
        }
        tracing::info!(
            request = %id,
            trace = invocation.trace_id.as_deref().unwrap_or("-"),
            "invocation done in {:.1} ms",
            began.elapsed().as_secs_f64() * 1000.0
        );
    }
}

async fn init(cli: Cli) -> Result<Handler> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let name = handler_name(&args).map_err(crate::error::usage)?;
    let ctx = Context::new(&cli.global).await?;
    match (name, cli.command) {
        ("watch", Command::Watch(args)) => Ok(Handler::Watch { args: Box::new(args), ctx: Box::new(ctx) }),
        ("serve", Command::Serve(args)) => {
            let operators = authorize::Operators::from_env()?;
            Ok(Handler::Serve { router: crate::cmd::serve::api(ctx, &args), operators })
        }
        (name, _) => anyhow::bail!("{HANDLER_ENV}={name}: the arguments parsed as another command"),
    }
}
