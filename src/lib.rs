//! notebook-vend: vend SageMaker notebooks through Service Catalog from one local binary.
//!
//! `main.rs` parses arguments and maps errors to exit codes; everything else lives here so that
//! tests (and other front ends, such as `serve`) call the workflow without shelling out.

pub mod adopt;
pub mod aws;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod deployment;
pub mod error;
#[cfg(test)]
pub(crate) mod fake_aws;
pub mod naming;
pub mod output;
pub mod pacing;
pub mod permissions;
pub mod poll;
pub mod progress;
pub mod replace_intent;
pub mod schedule_expr;
pub mod template_model;
pub mod templates;
pub mod update_plan;
pub mod values;
pub mod vend;

// The modules that call AWS keep their paths (crate::catalog, ...); see aws.rs.
pub use aws::{catalog, context, iam, notebook, objects, parameters, scheduler, stacks, trail, urls};

use anyhow::Result;

use cli::{Cli, Command};
use context::Context;
use error::Failure;

/// Run one command to completion, or until Ctrl-C / SIGTERM (exit 130, saying what was in flight).
/// `layers` are the environment and file values clap used as defaults; `origins` tells, for each
/// argument, whether clap took it from a flag or its (layered) default: `config show` reports both.
pub async fn run(mut cli: Cli, layers: config::Layers, origins: config::ClapOrigins) -> Result<()> {
    cli.global.profile_flag = origins.get("profile") == Some(&clap::parser::ValueSource::CommandLine);
    let operator = operator_command(&cli.command);
    let result = dispatch(&cli, layers, origins).await;
    match operator {
        Some(what) => result.map_err(|e| operator_hint(e, what)),
        None => result,
    }
}

/// Account-wide commands, for operators: AWS's end-user access (AWSServiceCatalogEndUserFullAccess)
/// sees only the caller's own provisioned products (`servicecatalog:userLevel = self`).
fn operator_command(command: &Command) -> Option<&'static str> {
    match command {
        Command::List(_) => Some("list"),
        Command::Refresh(a) if a.all => Some("refresh --all"),
        Command::Update(a) if a.all => Some("update --all"),
        Command::Watch(_) => Some("watch"),
        Command::Cull(_) => Some("cull"),
        Command::Bootstrap(_) => Some("bootstrap"),
        Command::Teardown(_) => Some("teardown"),
        _ => None,
    }
}

/// An access denial in an operator command says so, and what to do instead.
fn operator_hint(e: anyhow::Error, what: &'static str) -> anyhow::Error {
    let denied = error::aws_error(&e).and_then(|a| a.code.as_deref()).is_some_and(|c| {
        matches!(c, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError")
    });
    if !denied {
        return e;
    }
    let role = if what == "bootstrap" || what == "teardown" { "bootstrap" } else { "operator" };
    e.context(format!(
        "`{what}` is an operator command: it works on every user's notebooks (or the deployment) and needs \
         the permissions `notebook-vend policy {role}` prints; with end-user access, use the per-user commands \
         (provision, refresh --user, url, status, stop, start, update --user, terminate) on your own notebook"
    ))
}

/// The one dispatch.
async fn dispatch(cli: &Cli, layers: config::Layers, origins: config::ClapOrigins) -> Result<()> {
    let global = &cli.global;
    // One dispatch. Commands that need no AWS return before the context is built; input read from
    // disk is checked before the first AWS call; watch and serve run until a signal and handle it
    // themselves (finish or abandon in-flight work, answer in-flight requests), the others are cut
    // short by `interruptible`.
    // A command that needs AWS: build the context, then run the body until done or interrupted.
    macro_rules! aws {
        (|$ctx:ident| $body:expr) => {{
            let $ctx = Context::new(global).await?;
            let result = interruptible($body).await;
            log_calls(&$ctx);
            result
        }};
    }
    match &cli.command {
        Command::Config(_) => {
            let env = global.config_env.as_deref().unwrap_or("default");
            cmd::config::run(global.output, layers.file.as_ref(), env, config::show(cli, &origins, &layers)?)
        }
        Command::Completions(args) => {
            cmd::completions::run(args);
            Ok(())
        }
        Command::Man => cmd::man::run(),
        Command::Policy(args) => {
            cmd::policy::run(args, &global.deployment.resolve(), global.region.as_deref(), global.output)
        }
        Command::Bootstrap(args) => {
            let inputs = cmd::bootstrap::read_inputs(args, &global.deployment.resolve())?;
            aws!(|ctx| cmd::bootstrap::run(args, inputs, &ctx))
        }
        Command::Watch(args) => {
            let ctx = Context::new(global).await?;
            let result = cmd::watch::run(args, &ctx).await;
            log_calls(&ctx);
            result
        }
        Command::Serve(args) => cmd::serve::run(args, Context::new(global).await?).await,
        Command::Provision(args) => aws!(|ctx| cmd::provision::run(args, &ctx)),
        Command::Refresh(args) => aws!(|ctx| cmd::refresh::run(args, &ctx)),
        Command::Url(args) => aws!(|ctx| cmd::url::run(args, &ctx)),
        Command::Cull(args) => aws!(|ctx| cmd::cull::run(args, &ctx)),
        Command::Doctor => aws!(|ctx| cmd::doctor::run(&ctx)),
        Command::List(args) => aws!(|ctx| cmd::list::run(args, &ctx)),
        Command::Status(args) => aws!(|ctx| cmd::status::run(args, &ctx)),
        Command::Stop(args) => aws!(|ctx| cmd::stop::run(args, &ctx)),
        Command::Start(args) => aws!(|ctx| cmd::start::run(args, &ctx)),
        Command::Terminate(args) => aws!(|ctx| cmd::terminate::run(args, &ctx)),
        Command::Update(args) => aws!(|ctx| cmd::update::run(args, &ctx)),
        Command::Teardown(args) => aws!(|ctx| cmd::teardown::run(args, &ctx)),
        Command::Schedule(args) => aws!(|ctx| cmd::schedule::run(args, &ctx)),
    }
}

/// Run `work`, or stop at Ctrl-C / SIGTERM with exit 130 naming what was in flight.
async fn interruptible(work: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::select! {
        result = work => result,
        signal = shutdown_signal() => {
            let left = progress::in_flight().unwrap_or_else(|| "nothing was in flight".into());
            Err(Failure::Interrupted(format!("interrupted by {signal}; {left}")).into())
        }
    }
}

/// `-v`: what the run sent, retried and was throttled on (src/pacing.rs).
fn log_calls(ctx: &Context) {
    let calls = ctx.calls();
    if calls.sent > 0 {
        tracing::info!("{calls}");
    }
}

/// Resolves on Ctrl-C or SIGTERM, naming which.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
