//! notebook-vend: vend SageMaker notebooks through Service Catalog from one local binary.
//!
//! `main.rs` parses arguments and maps errors to exit codes; everything else lives here so that
//! tests (and other front ends, such as `serve`) call the workflow without shelling out.

pub mod catalog;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod context;
pub mod error;
pub mod naming;
pub mod notebook;
pub mod output;
pub mod pacing;
pub mod parameters;
pub mod poll;
pub mod progress;
pub mod stacks;
pub mod templates;
pub mod urls;
pub mod vend;

use anyhow::Result;

use cli::{Cli, Command};
use context::Context;
use error::Failure;

/// Run one command to completion, or until Ctrl-C / SIGTERM (exit 130, saying what was in flight).
/// `origins` tells, for each argument, whether clap took it from a flag, the environment or its
/// default: settings from notebook-vend.toml fill only the defaults.
pub async fn run(mut cli: Cli, origins: config::ClapOrigins) -> Result<()> {
    let file = config::load(cli.global.config.as_deref(), cli.global.config_env.as_deref())?;
    let shown = config::apply(&mut cli, &origins, file.as_ref());
    // Commands that need no AWS at all.
    match &cli.command {
        Command::Config(_) => {
            let env = cli.global.config_env.as_deref().unwrap_or("default");
            return cmd::config::run(cli.global.output, file.as_ref(), env, shown);
        }
        Command::Completions(args) => {
            cmd::completions::run(args);
            return Ok(());
        }
        Command::Man => return cmd::man::run(),
        _ => {}
    }
    // Input read from disk is checked before the first AWS call.
    let bootstrap_inputs = match &cli.command {
        Command::Bootstrap(args) => Some(cmd::bootstrap::read_inputs(args, &cli.global.deployment.resolve())?),
        _ => None,
    };
    let ctx = Context::new(&cli.global).await?;
    // watch and serve run until a signal and handle it themselves (finish or abandon in-flight work,
    // answer in-flight requests) instead of being cut short below.
    match &cli.command {
        Command::Watch(args) => {
            let result = cmd::watch::run(args, &ctx).await;
            log_calls(&ctx);
            return result;
        }
        Command::Serve(args) => return cmd::serve::run(args, ctx).await,
        _ => {}
    }
    let work = async {
        match &cli.command {
            Command::Bootstrap(args) => cmd::bootstrap::run(args, bootstrap_inputs.expect("read above"), &ctx).await,
            Command::Provision(args) => cmd::provision::run(args, &ctx).await,
            Command::Refresh(args) => cmd::refresh::run(args, &ctx).await,
            Command::Url(args) => cmd::url::run(args, &ctx).await,
            Command::Cull(args) => cmd::cull::run(args, &ctx).await,
            Command::Doctor => cmd::doctor::run(&ctx).await,
            Command::Watch(_) | Command::Serve(_) => unreachable!("dispatched above"),
            Command::Config(_) | Command::Completions(_) | Command::Man => {
                unreachable!("handled before the AWS context")
            }
            Command::List(args) => cmd::list::run(args, &ctx).await,
            Command::Status(args) => cmd::status::run(args, &ctx).await,
            Command::Stop(args) => cmd::stop::run(args, &ctx).await,
            Command::Start(args) => cmd::start::run(args, &ctx).await,
            Command::Terminate(args) => cmd::terminate::run(args, &ctx).await,
            Command::Teardown(args) => cmd::teardown::run(args, &ctx).await,
        }
    };
    let result = tokio::select! {
        result = work => result,
        signal = shutdown_signal() => {
            let left = progress::in_flight().unwrap_or_else(|| "nothing was in flight".into());
            Err(Failure::Interrupted(format!("interrupted by {signal}; {left}")).into())
        }
    };
    log_calls(&ctx);
    result
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
