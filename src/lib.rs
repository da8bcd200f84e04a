//! notebook-vend: vend SageMaker notebooks through Service Catalog from one local binary.
//!
//! `main.rs` parses arguments and maps errors to exit codes; everything else lives here so that
//! tests (and other front ends, such as `serve`) call the workflow without shelling out.

pub mod aws;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod lambda;
pub mod names;
pub mod output;
pub mod package;
pub mod permissions;
pub mod plan;
pub mod progress;
pub mod text;

use anyhow::Result;

use aws::context::Context;
use cli::{Cli, Command};
use error::Failure;

/// Run one command to completion, or until Ctrl-C / SIGTERM (exit 130, saying what was in flight).
/// `layers` are the environment and file values clap used as defaults; `origins` tells, for each
/// argument, whether clap took it from a flag or its (layered) default: `config show` reports both.
pub async fn run(mut cli: Cli, layers: cli::settings::Layers, origins: cli::settings::ClapOrigins) -> Result<()> {
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
async fn dispatch(cli: &Cli, layers: cli::settings::Layers, origins: cli::settings::ClapOrigins) -> Result<()> {
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
            cmd::config::run(global.output, layers.file.as_ref(), env, cli::settings::show(cli, &origins, &layers)?)
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
        Command::Provision(args) => aws!(|ctx| async {
            let mut a = args.clone();
            a.user = resolve_user(&ctx, &a.user).await?;
            for_user(&ctx, &a.user, cmd::provision::run(&a, &ctx).await).await
        }),
        Command::Refresh(args) if args.all => aws!(|ctx| cmd::refresh::run(args, &ctx)),
        Command::Refresh(args) => aws!(|ctx| async {
            let mut a = args.clone();
            let user = resolve_user(&ctx, a.user.as_deref().unwrap_or_default()).await?;
            a.user = Some(user.clone());
            for_user(&ctx, &user, cmd::refresh::run(&a, &ctx).await).await
        }),
        Command::Url(args) => aws!(|ctx| async {
            let mut a = args.clone();
            a.user = resolve_user(&ctx, &a.user).await?;
            for_user(&ctx, &a.user, cmd::url::run(&a, &ctx).await).await
        }),
        Command::Cull(args) => aws!(|ctx| cmd::cull::run(args, &ctx)),
        Command::Doctor => aws!(|ctx| cmd::doctor::run(&ctx)),
        Command::List(args) => aws!(|ctx| cmd::list::run(args, &ctx)),
        Command::Status(args) => aws!(|ctx| async {
            let mut a = args.clone();
            a.user = resolve_user(&ctx, &a.user).await?;
            for_user(&ctx, &a.user, cmd::status::run(&a, &ctx).await).await
        }),
        Command::Stop(args) => aws!(|ctx| async {
            let mut a = args.clone();
            a.user = resolve_user(&ctx, &a.user).await?;
            for_user(&ctx, &a.user, cmd::stop::run(&a, &ctx).await).await
        }),
        Command::Start(args) => aws!(|ctx| async {
            let mut a = args.clone();
            a.user = resolve_user(&ctx, &a.user).await?;
            for_user(&ctx, &a.user, cmd::start::run(&a, &ctx).await).await
        }),
        Command::Terminate(args) => aws!(|ctx| async {
            let mut a = args.clone();
            a.user = resolve_user(&ctx, &a.user).await?;
            for_user(&ctx, &a.user, cmd::terminate::run(&a, &ctx).await).await
        }),
        Command::Update(args) if args.all => aws!(|ctx| cmd::update::run(args, &ctx)),
        Command::Update(args) => aws!(|ctx| async {
            let mut a = args.clone();
            let user = resolve_user(&ctx, a.user.as_deref().unwrap_or_default()).await?;
            a.user = Some(user.clone());
            for_user(&ctx, &user, cmd::update::run(&a, &ctx).await).await
        }),
        Command::Teardown(args) => aws!(|ctx| cmd::teardown::run(args, &ctx)),
        Command::Schedule(args) => aws!(|ctx| async {
            let mut a = args.clone();
            let user = a.action.user_mut();
            *user = resolve_user(&ctx, user).await?;
            let user = user.clone();
            for_user(&ctx, &user, cmd::schedule::run(&a, &ctx).await).await
        }),
    }
}

/// The user a single-user command acts for: `--user` when given, else the caller's own
/// (sts:GetCallerIdentity, mapped as `policy end-user` maps it: crate::names::identity). A caller that maps
/// to no valid user name is a usage error naming the identity (exit 2).
async fn resolve_user(ctx: &Context, given: &str) -> Result<String> {
    if !given.is_empty() {
        return Ok(given.to_owned());
    }
    let caller = ctx.caller().await?;
    names::identity::checked_user_of_caller(&caller.arn).map_err(error::usage)
}

/// A per-user command AWS refused: one line saying whose notebook and which identity asked. Another
/// user's notebook is out of an end user's reach (`policy end-user`); the caller's own, when
/// refused, lacks the owner tag the policy matches (or, for a role session, the session tag).
async fn for_user(ctx: &Context, user: &str, result: Result<()>) -> Result<()> {
    let Err(e) = result else { return Ok(()) };
    let denied = error::aws_error(&e)
        .and_then(|a| a.code.as_deref())
        .is_some_and(|c| matches!(c, "AccessDenied" | "AccessDeniedException"));
    if !denied {
        return Err(e);
    }
    let Ok(caller) = ctx.caller().await else { return Err(e) };
    let notebook = names::user::notebook_name(user);
    let tag = names::identity::OWNER_TAG;
    let why = match names::identity::user_of_caller(&caller.arn) {
        Some(own) if own == user => format!(
            "AWS denied {} its own notebook {notebook}: the notebook needs the tag {tag}={user} (`notebook-vend doctor` \
             lists notebooks without it; `notebook-vend watch --once` adds it) and, for a role session, the session tag \
             {tag}={user} (README \"Identity Center\")",
            caller.arn
        ),
        _ => format!(
            "AWS denied {} access to {user}'s notebook {notebook}: with `notebook-vend policy end-user` each identity \
             reaches only its own notebook; nothing was written (operators: `notebook-vend policy operator`)",
            caller.arn
        ),
    };
    Err(e.context(why))
}

/// Run `work`, or stop at Ctrl-C / SIGTERM with exit 130 naming what was in flight.
async fn interruptible(work: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::select! {
        result = work => result,
        signal = cmd::shared::signal::shutdown_signal() => {
            let left = progress::in_flight().unwrap_or_else(|| "nothing was in flight".into());
            Err(Failure::Interrupted(format!("interrupted by {signal}; {left}")).into())
        }
    }
}

/// `-v`: what the run sent, retried and was throttled on (src/aws/pacing.rs).
fn log_calls(ctx: &Context) {
    let calls = ctx.calls();
    if calls.sent > 0 {
        tracing::info!("{calls}");
    }
}
