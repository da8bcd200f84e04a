//! Command-line interface: one root parser, global AWS/deployment flags flattened once, one Args
//! struct per subcommand. Values are validated here, before any AWS call, so that bad input exits 2
//! with nothing touched.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::naming;

#[derive(Debug, Parser)]
#[command(
    name = "notebook-vend",
    version,
    about = "Vend Amazon SageMaker notebooks to a team through AWS Service Catalog",
    long_about = "Vend Amazon SageMaker notebooks to a team through AWS Service Catalog.\n\n\
        Runs locally what the AWS blog's EventBridge, Lambda and API Gateway did: deploys the stacks, \
        provisions a notebook per user, keeps a presigned URL per user in SSM Parameter Store.",
    after_help = "Example:\n  notebook-vend bootstrap && notebook-vend provision --user alice"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// AWS profile from the shared config files
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region (default: from the profile or AWS_REGION)
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (a local sandbox); AWS_ENDPOINT_URL works too
    #[arg(long, global = true, value_name = "URL", value_parser = parse_endpoint)]
    pub endpoint_url: Option<String>,
    /// Result format on stdout
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// No progress bars (automatic when stderr is not a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// More logs on stderr (-v: steps, -vv: debug, -vvv: AWS SDK debug)
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

/// Names of one deployment. Defaults are the blog's, so an existing deployment is found as is.
#[derive(Debug, Clone, Args)]
pub struct DeploymentArgs {
    /// Stack holding the bucket and the notebook IAM role
    #[arg(long, global = true, env = "NOTEBOOK_VEND_S3_STACK", default_value = "s3-iam-config",
          value_parser = parse_stack_name)]
    pub s3_stack: String,
    /// Stack holding the Service Catalog portfolio, product and launch role
    #[arg(long, global = true, env = "NOTEBOOK_VEND_CATALOG_STACK", default_value = "service-catalog-config",
          value_parser = parse_stack_name)]
    pub catalog_stack: String,
    /// Service Catalog product that launches a notebook
    #[arg(long, global = true, env = "NOTEBOOK_VEND_PRODUCT_NAME", default_value = "SageMaker Notebook",
          value_parser = parse_product_name)]
    pub product_name: String,
    /// SSM Parameter Store prefix of the per-user URL parameters
    #[arg(long, global = true, env = "NOTEBOOK_VEND_SSM_PREFIX", default_value = "/SageMaker/Notebooks/",
          value_parser = parse_ssm_prefix)]
    pub ssm_prefix: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy or update both stacks and upload the product template (idempotent)
    #[command(after_help = "Examples:\n  notebook-vend bootstrap\n  notebook-vend bootstrap --principal arn:aws:iam::123456789012:role/DataScientists --dry-run")]
    Bootstrap(BootstrapArgs),
    /// Provision a user's notebook, wait until InService, store a presigned URL in SSM
    #[command(after_help = "Example:\n  notebook-vend provision --user alice --instance-type ml.t3.large")]
    Provision(ProvisionArgs),
    /// Store a fresh presigned URL for one user (or all) in SSM
    #[command(after_help = "Examples:\n  notebook-vend refresh --user alice\n  notebook-vend refresh --all --concurrency 16")]
    Refresh(RefreshArgs),
    /// Print a fresh presigned URL (valid 5 minutes), the stored one, or open it in a browser
    #[command(after_help = "Examples:\n  notebook-vend url --user alice\n  notebook-vend url --user alice --open")]
    Url(UrlArgs),
    /// Store URLs for notebooks provisioned elsewhere (console, CLI): the blog's EventBridge function
    #[command(
        long_about = "Finds the provisioned products of this product whose latest successful provisioning record \
            is newer than the URL parameter of their user, and for each: waits for the record, waits for the \
            notebook, stores a presigned URL in SSM. Runs until Ctrl-C/SIGTERM, or --once; --event handles one \
            EventBridge event (CloudTrail ProvisionProduct call) and exits.\n\n\
            The cursor is derived from SSM, so nothing is missed across restarts and no record is handled twice: \
            a record counts as handled when the user's parameter was last modified after the record completed.\n\n\
            Exit status: 0 when everything found was handled (or ignored); 1 when any provision failed (its \
            record FAILED, or its notebook could not be reached) while the others were still handled; 2 for a \
            malformed --event; 130 when a signal abandoned work in flight (a clean stop while idle exits 0).",
        after_help = "Examples:\n  notebook-vend watch --once\n  notebook-vend watch --interval 10 --cloudtrail\n  notebook-vend watch --event event.json"
    )]
    Watch(WatchArgs),
    /// HTTP refresh API (POST /refreshurl), token-authenticated, loopback only by default
    #[command(
        long_about = "The blog's API Gateway + RefreshURL Lambda, authenticated: POST /refreshurl with \
            {\"notebook_user_name\": \"U\"} mints a presigned URL, stores it in SSM and answers {\"PreSignedURL\": ...}; \
            GET /healthz. Every request needs `Authorization: Bearer <token>`: the token comes from --token-file, \
            else NOTEBOOK_VEND_TOKEN, else a random one is printed once on stderr.\n\n\
            Answers: 200; 400 malformed body or invalid user; 401 missing or wrong token; 404 no notebook for the \
            user; 409 notebook not InService (e.g. Stopped); 413 body over 4 KiB; 502 AWS refused; 504 timed out. \
            Plain HTTP: it listens on loopback unless --allow-remote (put TLS in front then). Exits 0 on \
            SIGINT/SIGTERM once in-flight requests are answered.",
        after_help = "Examples:\n  notebook-vend serve --token-file ~/.config/notebook-vend/token\n  \
            curl -H \"Authorization: Bearer $TOKEN\" -d '{\"notebook_user_name\":\"alice\"}' http://127.0.0.1:8080/refreshurl"
    )]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// IAM principal (user, role or group ARN) given access to the portfolio [default: the caller]
    #[arg(long, value_name = "ARN", value_parser = parse_principal)]
    pub principal: Option<String>,
    /// Directory with the three templates, instead of the ones built into the binary
    #[arg(long, value_name = "DIR", env = "NOTEBOOK_VEND_TEMPLATES")]
    pub templates: Option<PathBuf>,
    /// Directory with s3-iam-params.json and service-catalog-params.json, instead of the built-in ones
    #[arg(long, value_name = "DIR", env = "NOTEBOOK_VEND_PARAMETERS_DIR")]
    pub parameters_dir: Option<PathBuf>,
    /// Print the plan and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Give up waiting for a stack after this many seconds (exit 3)
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

/// How the URL parameter is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParameterType {
    /// Encrypted with KMS (the URL is a credential)
    #[value(name = "SecureString")]
    SecureString,
    /// Plain text, as the blog's Lambda stored it
    #[value(name = "String")]
    String,
}

/// Options shared by every command that mints and stores a URL.
#[derive(Debug, Clone, Args)]
pub struct UrlStoreArgs {
    /// Length of the Jupyter session the URL opens, 1800..=43200 seconds
    #[arg(long, value_name = "N", default_value_t = 43200, value_parser = clap::value_parser!(i32).range(1800..=43200))]
    pub session_seconds: i32,
    /// Parameter type of the stored URL
    #[arg(long, value_enum, default_value_t = ParameterType::SecureString)]
    pub parameter_type: ParameterType,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// User the notebook is for: letters, digits, inner hyphens, at most 54 characters
    #[arg(long, short = 'u', value_parser = parse_user)]
    pub user: String,
    /// Notebook instance type (one of the product template's AllowedValues)
    #[arg(long, value_name = "TYPE", value_parser = parse_instance_type)]
    pub instance_type: Option<String>,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Tag for the provisioned product, KEY=VALUE (repeatable)
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Give up waiting after this many seconds (exit 3); run provision again to resume
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Return once the provisioning record is created; run provision again to finish
    #[arg(long)]
    pub no_wait: bool,
    /// Also print the presigned URL on stdout (it is a credential)
    #[arg(long)]
    pub show_url: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("who").required(true).args(["user", "all"]))]
pub struct RefreshArgs {
    /// User whose URL to refresh
    #[arg(long, short = 'u', value_parser = parse_user)]
    pub user: Option<String>,
    /// Every notebook vended by this product
    #[arg(long)]
    pub all: bool,
    /// Parallel refreshes with --all
    #[arg(long, value_name = "N", default_value_t = 8, requires = "all",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Start a stopped notebook and wait for it instead of failing
    #[arg(long)]
    pub start: bool,
    /// Give up waiting after this many seconds (exit 3)
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Also print the presigned URL on stdout (it is a credential)
    #[arg(long, conflicts_with = "all")]
    pub show_url: bool,
}

#[derive(Debug, Args)]
pub struct UrlArgs {
    /// User whose notebook URL to print
    #[arg(long, short = 'u', value_parser = parse_user)]
    pub user: String,
    /// Print the URL stored in SSM (decrypted) instead of minting a new one
    #[arg(long)]
    pub stored: bool,
    /// Open the URL in the default browser instead of printing it
    #[arg(long)]
    pub open: bool,
    /// Session length of a freshly minted URL, 1800..=43200 seconds
    #[arg(long, value_name = "N", default_value_t = 43200, conflicts_with = "stored",
          value_parser = clap::value_parser!(i32).range(1800..=43200))]
    pub session_seconds: i32,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Handle what is pending now, then exit (for cron and CI)
    #[arg(long)]
    pub once: bool,
    /// Seconds between two scans of Service Catalog
    #[arg(long, value_name = "SECS", default_value_t = 15, conflicts_with_all = ["once", "event"],
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
    /// Handle one EventBridge event (CloudTrail ProvisionProduct call) from FILE, or stdin with -, and exit
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["once", "cloudtrail"])]
    pub event: Option<String>,
    /// Provisions handled at the same time
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Also read CloudTrail LookupEvents (EventName=ProvisionProduct) for the user given at launch
    #[arg(long)]
    pub cloudtrail: bool,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Give up on one provision after this many seconds (it is reported as failed and retried next scan)
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the real address is printed on stderr)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Allow a non-loopback --listen address (the API is plain HTTP: put TLS in front of it)
    #[arg(long)]
    pub allow_remote: bool,
    /// File holding the bearer token (trimmed; must not be empty) [default: $NOTEBOOK_VEND_TOKEN, else generated]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Give up on one refresh after this many seconds (answer 504)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub request_timeout: u64,
}

fn parse_user(s: &str) -> Result<String, String> {
    naming::validate_user(s).map(|()| s.to_owned())
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("tag {s:?} must be KEY=VALUE"))?;
    naming::validate_tag(k, v)?;
    Ok((k.to_owned(), v.to_owned()))
}

fn parse_instance_type(s: &str) -> Result<String, String> {
    let ok = s.starts_with("ml.")
        && s.len() <= 32
        && s[3..].split('.').count() == 2
        && s[3..].split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("instance type {s:?} must look like ml.<family>.<size>, e.g. ml.t3.medium"))
    }
}

fn parse_endpoint(s: &str) -> Result<String, String> {
    if (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "http://".len() + 1 {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err(format!("endpoint {s:?} must be an http:// or https:// URL"))
    }
}

fn parse_stack_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("stack name {s:?} must start with a letter and hold only letters, digits and hyphens (max 128)"))
    }
}

fn parse_product_name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() || s.len() > 8191 {
        Err(format!("product name {s:?} must be 1..8191 characters"))
    } else {
        Ok(s.to_owned())
    }
}

fn parse_ssm_prefix(s: &str) -> Result<String, String> {
    let ok = s.starts_with('/')
        && s.ends_with('/')
        && s.len() <= 900
        && !s.contains("//")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
        && !s.to_ascii_lowercase().starts_with("/aws/")
        && !s.to_ascii_lowercase().starts_with("/ssm/");
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "SSM prefix {s:?} must start and end with '/', hold only letters, digits and _.-/, and not begin with /aws/ or /ssm/"
        ))
    }
}

pub fn parse_principal(s: &str) -> Result<String, String> {
    naming::validate_principal(s).map(|()| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("notebook-vend").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_the_blogs_names() {
        let cli = parse(&["bootstrap"]).unwrap();
        let d = &cli.global.deployment;
        assert_eq!(d.s3_stack, "s3-iam-config");
        assert_eq!(d.catalog_stack, "service-catalog-config");
        assert_eq!(d.product_name, "SageMaker Notebook");
        assert_eq!(d.ssm_prefix, "/SageMaker/Notebooks/");
        assert_eq!(cli.global.output, OutputFormat::Text);
    }

    #[test]
    fn provision_options() {
        let cli = parse(&[
            "provision", "--user", "alice", "--tag", "team=ml", "--tag", "cost=42", "--session-seconds", "1800",
            "--parameter-type", "String", "--output", "json",
        ])
        .unwrap();
        let Command::Provision(p) = cli.command else { panic!("not provision") };
        assert_eq!(p.user, "alice");
        assert_eq!(p.tags, vec![("team".into(), "ml".into()), ("cost".into(), "42".into())]);
        assert_eq!(p.store.session_seconds, 1800);
        assert_eq!(p.store.parameter_type, ParameterType::String);
        assert_eq!(cli.global.output, OutputFormat::Json);
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            vec!["provision", "--user", "-alice"],
            vec!["provision", "--user", "al_ice"],
            vec!["provision", "--user", &"a".repeat(55)],
            vec!["provision", "--user", "a", "--session-seconds", "1799"],
            vec!["provision", "--user", "a", "--session-seconds", "43201"],
            vec!["provision", "--user", "a", "--tag", "novalue"],
            vec!["provision", "--user", "a", "--tag", "aws:x=1"],
            vec!["provision", "--user", "a", "--parameter-type", "Plain"],
            vec!["provision", "--user", "a", "--instance-type", "t3.medium"],
            vec!["refresh"],
            vec!["refresh", "--user", "a", "--all"],
            vec!["refresh", "--user", "a", "--concurrency", "4"],
            vec!["url", "--user", "a", "--stored", "--session-seconds", "1800"],
            vec!["bootstrap", "--principal", "alice"],
            vec!["bootstrap", "--ssm-prefix", "nope"],
            vec!["bootstrap", "--endpoint-url", "localhost:4566"],
            vec!["bootstrap", "--s3-stack", "1bad"],
            vec!["bootstrap", "-v", "-q"],
        ] {
            assert!(parse(&bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn user_at_limit_is_accepted() {
        let user = "a".repeat(54);
        assert!(parse(&["provision", "--user", &user]).is_ok());
        assert!(parse(&["provision", "--user", "a-b--c9"]).is_ok());
    }
}
