//! Parse arguments, set up logging, run, map the error to a documented exit code. Nothing else.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use notebook_vend::cli::settings::Layers;
use notebook_vend::cli::Cli;
use notebook_vend::error::{exit, exit_code};

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Lambda mode (AWS_LAMBDA_RUNTIME_API set, no arguments): the handler's subcommand, every
    // setting from the environment; a setting refused is reported to the Runtime API too.
    let lambda = notebook_vend::lambda::requested(&args);
    if lambda {
        args = notebook_vend::lambda::args(args);
    }
    let refused = |message: &str| {
        if lambda {
            notebook_vend::lambda::init_failed(message);
        }
    };
    // The settings file and the environment become argument defaults before the real parse, so
    // that clap applies flag > env > file > default to every subcommand (see config::Layers).
    let layers = match config_layers(&args) {
        Ok(layers) => layers,
        Err(e) => {
            eprintln!("error: {e:#}");
            refused(&format!("{e:#}"));
            return ExitCode::from(exit_code(&e));
        }
    };
    // The origins are read before from_arg_matches_mut, which takes the values out of the matches.
    let parsed = layers.command().try_get_matches_from(&args).and_then(|mut m| {
        let origins = notebook_vend::cli::settings::clap_origins(&m);
        Ok((Cli::from_arg_matches_mut(&mut m)?, origins))
    });
    let (cli, origins) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(exit::USAGE);
        }
        Err(e) => {
            // One line: clap's message without its usage block.
            let rendered = e.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let line = clap_line(&e, &message.join(" "));
            eprintln!("{line}");
            refused(&line);
            return ExitCode::from(exit::USAGE);
        }
    };
    init_logging(cli.global.verbose, cli.global.quiet);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::AWS);
        }
    };
    let work = if lambda {
        runtime.block_on(notebook_vend::lambda::run(cli))
    } else {
        runtime.block_on(notebook_vend::run(cli, layers, origins))
    };
    match work {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// clap's one line, without quoting a huge value whole: a value our validator refused is named by
/// the validator's own message (which cuts it, values::cut); any other line is cut at 512 bytes.
fn clap_line(e: &clap::Error, line: &str) -> String {
    use clap::error::{ContextKind, ContextValue};
    if e.kind() == ErrorKind::ValueValidation {
        let arg = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(a)) => a.clone(),
            _ => "an argument".to_owned(),
        };
        let value = match e.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(v)) => format!("{} ", notebook_vend::text::cut(v)),
            _ => String::new(),
        };
        if let Some(source) = std::error::Error::source(e) {
            return format!("error: invalid value {value}for '{arg}': {source}");
        }
    }
    const MAX: usize = 512;
    if line.len() <= MAX {
        return line.to_owned();
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &line[..end], line.len())
}

/// Logs on stderr. -v: our steps; -vv: our debug; -vvv: the AWS SDK's debug too. RUST_LOG wins,
/// except that the SDK and HTTP crates never log above debug: at trace they print whole requests,
/// responses and outputs, which hold presigned URLs (AuthorizedUrl) and tokens.
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "warn,notebook_vend=info",
        (_, 2) => "warn,notebook_vend=debug",
        _ => "info,notebook_vend=debug,aws_smithy_runtime=debug,aws_config=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into());
    let cap = tracing_subscriber::filter::filter_fn(|meta| {
        *meta.level() <= tracing::Level::DEBUG || !notebook_vend::progress::is_wire_target(meta.target())
    });
    let ansi = notebook_vend::progress::stderr_is_interactive() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .with_filter(filter)
        .with_filter(cap);
    tracing_subscriber::registry().with(layer).init();
}

/// `--config` and `--env` (flags or their environment variables) from a lenient first parse; a
/// parse error is left for the real parse to report.
fn config_layers(args: &[std::ffi::OsString]) -> anyhow::Result<Layers> {
    let Ok(matches) = Cli::command().ignore_errors(true).try_get_matches_from(args) else {
        return Ok(Layers::default());
    };
    let (mut file, mut env) = (None, None);
    let mut level = Some(&matches);
    while let Some(m) = level {
        if let Ok(Some(p)) = m.try_get_one::<std::path::PathBuf>("config") {
            file = Some(p.clone());
        }
        if let Ok(Some(e)) = m.try_get_one::<String>("config_env") {
            env = Some(e.clone());
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    Layers::load(file.as_deref(), env.as_deref())
}
