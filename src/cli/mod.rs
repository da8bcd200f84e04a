//! Command-line interface: one root parser, global AWS/deployment flags flattened once, one Args
//! struct per subcommand. Values are validated here, before any AWS call, so that bad input exits 2
//! with nothing touched.

pub mod schedule_expr;
pub mod settings;
pub mod values;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::names::deployment::Names;
use values::{
    parse_account, parse_alb_arn, parse_alb_key_url, parse_deployment_name, parse_duration, parse_endpoint,
    parse_instance_type, parse_kms_key, parse_oidc_claim, parse_param, parse_prefixed_id, parse_principal,
    parse_product_name, parse_region, parse_serve_endpoint, parse_ssm_prefix, parse_stack_name, parse_tag, parse_user,
    parse_user_or_caller,
};

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
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// AWS profile from the shared config files
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// True when the profile came from `--profile` rather than AWS_PROFILE (set from clap's value
    /// source): as with the AWS CLI, only `--profile` outranks AWS_ACCESS_KEY_ID (aws/context.rs).
    #[arg(skip)]
    pub profile_flag: bool,
    /// AWS region (default: from the profile or AWS_REGION)
    #[arg(long, global = true, value_parser = parse_region)]
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
    /// Settings file [default: ./notebook-vend.toml, else ~/.config/notebook-vend/notebook-vend.toml]
    #[arg(long, global = true, value_name = "FILE", env = "NOTEBOOK_VEND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Section of the settings file to use on top of [default]
    #[arg(long = "env", global = true, value_name = "NAME", env = "NOTEBOOK_VEND_ENV")]
    pub config_env: Option<String>,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

/// Names of one deployment. Defaults are the blog's, so an existing deployment is found as is;
/// `--name N` derives all of them from N so that several deployments share one account.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Deployment")]
pub struct DeploymentArgs {
    /// Deployment name: stacks N-s3-iam-config and N-service-catalog-config, product
    /// "SageMaker Notebook (N)", portfolio N-Portfolio, SSM prefix /SageMaker/Notebooks/N/
    #[arg(long, global = true, value_parser = parse_deployment_name)]
    pub name: Option<String>,
    /// Stack holding the bucket and the notebook IAM role [default: s3-iam-config]
    #[arg(long, global = true, value_parser = parse_stack_name)]
    pub s3_stack: Option<String>,
    /// Stack holding the Service Catalog portfolio, product and launch role [default: service-catalog-config]
    #[arg(long, global = true, value_parser = parse_stack_name)]
    pub catalog_stack: Option<String>,
    /// Service Catalog product that launches a notebook [default: SageMaker Notebook]
    #[arg(long, global = true, value_parser = parse_product_name)]
    pub product_name: Option<String>,
    /// SSM Parameter Store prefix of the per-user URL parameters [default: /SageMaker/Notebooks/]
    #[arg(long, global = true, value_parser = parse_ssm_prefix)]
    pub ssm_prefix: Option<String>,
}

impl DeploymentArgs {
    /// Explicit names win; the rest derive from --name, else are the blog's.
    pub fn resolve(&self) -> Names {
        Names::resolve(
            self.name.as_deref(),
            self.s3_stack.clone(),
            self.catalog_stack.clone(),
            self.product_name.clone(),
            self.ssm_prefix.clone(),
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy or update both stacks and upload the product template (idempotent)
    #[command(
        after_help = "Examples:\n  notebook-vend bootstrap\n  notebook-vend bootstrap --principal arn:aws:iam::123456789012:role/DataScientists --dry-run"
    )]
    Bootstrap(BootstrapArgs),
    /// Provision a user's notebook, wait until InService, store a presigned URL in SSM
    #[command(after_help = "Example:\n  notebook-vend provision --user alice --instance-type ml.t3.large")]
    Provision(ProvisionArgs),
    /// Store a fresh presigned URL for one user (or all) in SSM
    #[command(
        after_help = "Examples:\n  notebook-vend refresh --user alice\n  notebook-vend refresh --all --concurrency 16"
    )]
    Refresh(RefreshArgs),
    /// Print a fresh presigned URL (valid 5 minutes), the stored one, or open it in a browser
    #[command(after_help = "Examples:\n  notebook-vend url --user alice\n  notebook-vend url --user alice --open")]
    Url(UrlArgs),
    /// List every notebook vended by the product, whoever provisioned it
    #[command(after_help = "Examples:\n  notebook-vend list\n  notebook-vend list --output json")]
    List(ListArgs),
    /// One user in detail: provisioned product, notebook, stored URL, and what to run next
    #[command(
        long_about = "One user in detail: provisioned product (id, status, last record and its errors), notebook \
            (status, failure reason, type, created, last modified), URL parameter (name, type, stored at, session \
            expiry), and the next command that makes sense.\n\n\
            Exit status: 0 when the user has anything (even a broken notebook: the report says so); 1 when the user \
            has nothing at all (the report is still printed, `next` says how to provision) or a lookup failed.",
        after_help = "Examples:\n  notebook-vend status --user alice\n  notebook-vend status --user alice --output json | jq .next"
    )]
    Status(StatusArgs),
    /// Stop a user's notebook (billing stops; the notebook and its volume stay)
    #[command(
        after_help = "Examples:\n  notebook-vend stop --user alice\n  notebook-vend stop --user alice --no-wait"
    )]
    Stop(StopArgs),
    /// Start a user's stopped notebook; --refresh also stores a fresh URL
    #[command(
        after_help = "Examples:\n  notebook-vend start --user alice --refresh\n  notebook-vend start --user alice --dry-run"
    )]
    Start(StartArgs),
    /// Terminate a user's provisioned product: notebook, stack and stored URL are deleted
    #[command(
        long_about = "Terminate a user's provisioned product (TerminateProvisionedProduct), wait for its record and \
            for the notebook to be gone, then delete the user's URL parameter.\n\n\
            Asks for confirmation on a terminal unless --yes; without --yes and without a terminal on stdin it \
            refuses (exit 2) before any AWS call. Running it when nothing is left succeeds and says so.",
        after_help = "Examples:\n  notebook-vend terminate --user alice\n  notebook-vend terminate --user alice --yes --output json"
    )]
    Terminate(TerminateArgs),
    /// Move notebooks to the newest product version or new settings, never losing a notebook silently
    #[command(
        long_about = "Service Catalog UpdateProvisionedProduct of a user's product to the newest active artifact (or \
            --to-version) with changed parameters; unchanged parameters keep their values (UsePreviousValue). The \
            plan comes first (parameter diff, artifact from -> to, in place / replaces the notebook); --dry-run \
            prints it and sends nothing.\n\n\
            A change of a create-only property of the notebook (SubnetId, SecurityGroupIds, KmsKeyId, \
            DirectInternetAccess, PlatformIdentifier) would replace it, losing its volume: it is refused (exit 2, \
            nothing sent) unless --replace-notebook-losing-its-data, which terminates and provisions again after \
            confirmation. An instance type change is in place: the notebook is stopped and started again. When the \
            notebook was running, update waits until it is InService and stores a fresh URL.\n\n\
            --all updates every notebook of the product (--outdated: only those not on the target artifact or \
            TAINTED), --concurrency at a time, one line per user; exit 1 if any failed.",
        after_help = "Examples:\n  notebook-vend update --user alice --dry-run\n  notebook-vend update --user alice --instance-type ml.t3.large\n  \
            notebook-vend update --all --outdated --concurrency 4"
    )]
    Update(UpdateArgs),
    /// Remove the deployment: both stacks, the bucket's contents, leftover URL parameters
    #[command(
        long_about = "The reverse of bootstrap: deletes the service-catalog stack, empties the bucket (every object \
            version and delete marker) and deletes the s3-iam stack, and deletes the URL parameters under the \
            prefix whose notebooks are gone.\n\n\
            Refuses (exit 1, listing them) while provisioned products of the product remain, unless \
            --terminate-notebooks, which terminates them first. Confirmation as for terminate. Idempotent: \
            running it when nothing is left succeeds, and a later bootstrap deploys again.",
        after_help = "Examples:\n  notebook-vend teardown --dry-run\n  notebook-vend teardown --terminate-notebooks --yes"
    )]
    Teardown(TeardownArgs),
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
    /// HTTP refresh API (POST /refreshurl) that knows who calls, loopback only by default
    #[command(
        long_about = "The blog's API Gateway + RefreshURL Lambda, authenticated: POST /refreshurl with \
            {\"notebook_user_name\": \"U\"} mints a presigned URL, stores it in SSM and answers {\"PreSignedURL\": ...}; \
            GET /healthz.\n\n\
            --auth iam (the default, no shared secret): every request carries `Authorization: Bearer nv-aws-v1.<token>`, \
            a presigned sts:GetCallerIdentity made with the caller's own credentials (`notebook-vend refresh \
            --endpoint URL` makes it); serve replays it to STS, learns the caller, and lets end users refresh only \
            their own notebook, --operator identities anyone's. --auth token: one shared token from --token-file, \
            else NOTEBOOK_VEND_TOKEN, else a random one printed once on stderr. --auth none \
            --allow-unauthenticated: no authentication (the blog's API).\n\n\
            Answers: 200; 400 malformed body or invalid user; 401 no valid identity or token; 403 another user's \
            notebook; 404 no notebook for the user; 409 notebook not InService (e.g. Stopped); 413 body over 4 KiB; \
            502 AWS refused; 504 timed out. Plain HTTP: it listens on loopback unless --allow-remote (put TLS in \
            front then). Exits 0 on SIGINT/SIGTERM once in-flight requests are answered.",
        after_help = "Examples:\n  notebook-vend serve --operator arn:aws:iam::123456789012:role/NotebookOperators\n  \
            notebook-vend refresh --endpoint http://127.0.0.1:8080\n  \
            notebook-vend serve --auth token --token-file ~/.config/notebook-vend/token"
    )]
    Serve(ServeArgs),
    /// Stop every vended notebook InService for longer than a maximum age (for cron or CI)
    #[command(
        after_help = "Examples:\n  notebook-vend cull --max-age 12h --dry-run\n  notebook-vend cull --max-age 1d --output json"
    )]
    Cull(CullArgs),
    /// Start and stop a user's notebook on a calendar (EventBridge Scheduler): set, show, clear
    #[command(
        long_about = "Working hours for a notebook: EventBridge Scheduler starts and stops it by itself \
            (universal targets sagemaker:StartNotebookInstance / StopNotebookInstance, as the deployment's execution \
            role), so nothing has to run on your machine at 8:00. Schedules live in the deployment's schedule group \
            as <user>-start and <user>-stop.\n\n\
            EXPR is Scheduler's own syntax: cron(minutes hours day-of-month month day-of-week year) with ? in exactly \
            one of the day fields, rate(N unit) with minute(s), hour(s) or day(s), or at(yyyy-mm-ddThh:mm:ss). It is \
            evaluated in --tz (an IANA zone, default UTC): a time skipped by the spring-forward change does not run \
            that day, a time repeated by the fall-back change runs once. A bad expression or zone is exit 2 before \
            any request.",
        after_help = "Examples:\n  notebook-vend schedule set --user alice --start 'cron(0 8 ? * MON-FRI *)' \
            --stop 'cron(0 19 ? * MON-FRI *)' --tz Europe/Berlin\n  notebook-vend schedule show --user alice --output json\n  \
            notebook-vend schedule clear --user alice --start"
    )]
    Schedule(ScheduleArgs),
    /// Check credentials, stacks, templates, product and SSM access; one line per check with a fix
    #[command(after_help = "Examples:\n  notebook-vend doctor\n  notebook-vend doctor --output json")]
    Doctor,
    /// Print the least-privilege IAM policy of a role: end-user, operator or bootstrap
    #[command(
        long_about = "Print the exact least-privilege IAM policy document (JSON) a role needs, generated from the \
            table of AWS calls each command makes (the same table the tests check the code against).\n\n\
            end-user: provision, refresh --user, url, status, stop, start, terminate of the caller's own notebook \
            (SageMaker limited to notebooks tagged notebook-vend:user = the caller's user name or session tag, \
            SSM to the caller's own parameter by name, Service Catalog by servicecatalog:userLevel = self).\n\
            operator: the account-wide commands (list, refresh --all, watch, cull, serve) and the per-user \
            commands for any user.\n\
            bootstrap: bootstrap, teardown and doctor, including what CloudFormation does with the caller's \
            credentials for the templates' resources.\n\
            serverless: held beside bootstrap by whoever runs bootstrap --serverless or tears such a \
            deployment down: what CloudFormation does with the caller's credentials for the serverless stack \
            (a policy of its own: IAM caps a managed policy at 6,144 characters).\n\n\
            Region and account are `*` unless --region / --account are given. Sends no AWS request.",
        after_help = "Examples:\n  notebook-vend policy end-user > end-user.json\n  \
            aws iam create-policy --policy-name notebook-vend-operator --policy-document \"$(notebook-vend policy operator --account 123456789012)\""
    )]
    Policy(PolicyArgs),
    /// Show the effective settings and where each came from (flag, environment, file, default)
    #[command(
        after_help = "Examples:\n  notebook-vend config show\n  notebook-vend --env prod config show --output json"
    )]
    Config(ConfigArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  notebook-vend completions bash > ~/.local/share/bash-completion/completions/notebook-vend\n  notebook-vend completions zsh > ~/.zfunc/_notebook-vend"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    #[command(after_help = "Example:\n  notebook-vend man > ~/.local/share/man/man1/notebook-vend.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct ListArgs {}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// User to report on
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
}

#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// User whose notebook to stop
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
    /// Return once the stop is requested instead of waiting for Stopped
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this many seconds (exit 3)
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Print what would happen and write nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// User whose notebook to start
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
    /// Once InService, also store a fresh presigned URL in SSM
    #[arg(long, conflicts_with = "no_wait")]
    pub refresh: bool,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Return once the start is requested instead of waiting for InService
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this many seconds (exit 3)
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Print what would happen and write nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TerminateArgs {
    /// User whose provisioned product to terminate
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print what would be deleted and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Give up waiting after this many seconds (exit 3); run terminate again to resume
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// DANGEROUS: remove a provisioned product stuck after a failed termination even though its
    /// resources cannot be deleted (Service Catalog IgnoreErrors): the notebook may be left behind
    #[arg(long)]
    pub ignore_errors: bool,
}

#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("who").args(["user", "all"]))]
pub struct UpdateArgs {
    /// User whose notebook to update
    #[arg(long, short = 'u', value_parser = parse_user)]
    pub user: Option<String>,
    /// Update every notebook of the product
    #[arg(long)]
    pub all: bool,
    /// With --all: only notebooks not on the target artifact, or TAINTED
    #[arg(long, requires = "all")]
    pub outdated: bool,
    /// Parallel updates with --all
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// New notebook instance type (one of the product template's AllowedValues); in place
    // Its own id, not the `instance_type` setting's: a provisioning default (NOTEBOOK_VEND_INSTANCE_TYPE,
    // `instance_type` in notebook-vend.toml) must never become a change to existing notebooks.
    #[arg(long = "instance-type", id = "new_instance_type", value_name = "TYPE", value_parser = parse_instance_type)]
    pub instance_type: Option<String>,
    /// New value of a product parameter, KEY=VALUE (repeatable)
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Provisioning artifact (version) name or id to move to, or `latest` [default: latest]
    #[arg(long, value_name = "NAME|latest")]
    pub to_version: Option<String>,
    /// Print the plan and send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required with --replace-notebook-losing-its-data when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow a change that replaces the notebook: terminate it (its volume, the user's work, is lost) and provision again
    #[arg(long, conflicts_with = "all")]
    pub replace_notebook_losing_its_data: bool,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Give up waiting after this many seconds (exit 3); run update again to resume
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Terminate the remaining provisioned products first instead of refusing
    #[arg(long)]
    pub terminate_notebooks: bool,
    /// Parallel terminations with --terminate-notebooks
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Print what would be deleted and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Give up waiting after this many seconds (exit 3); run teardown again to resume
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Whose policy to print
    #[arg(value_enum)]
    pub role: crate::permissions::Role,
    /// Account id to put in the ARNs [default: *]
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub account: Option<String>,
    /// Partition of the ARNs (aws, aws-cn, aws-us-gov)
    #[arg(long, default_value = "aws", value_parser = ["aws", "aws-cn", "aws-us-gov"])]
    pub partition: String,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub action: ScheduleAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ScheduleAction {
    /// Create or change a user's start and/or stop schedule
    Set(ScheduleSetArgs),
    /// Print a user's schedules and their next runs
    Show(ScheduleShowArgs),
    /// Remove a user's schedules (both unless --start or --stop)
    Clear(ScheduleClearArgs),
}

impl ScheduleAction {
    /// The user the action is for ("" until the caller's own is filled in).
    pub fn user_mut(&mut self) -> &mut String {
        match self {
            ScheduleAction::Set(a) => &mut a.user,
            ScheduleAction::Show(a) => &mut a.user,
            ScheduleAction::Clear(a) => &mut a.user,
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["start", "stop"]))]
pub struct ScheduleSetArgs {
    /// User whose notebook the schedules start and stop
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
    /// When to start the notebook, e.g. 'cron(0 8 ? * MON-FRI *)'
    #[arg(long, value_name = "EXPR", value_parser = schedule_expr::parse_expression_arg)]
    pub start: Option<String>,
    /// When to stop the notebook, e.g. 'cron(0 19 ? * MON-FRI *)'
    #[arg(long, value_name = "EXPR", value_parser = schedule_expr::parse_expression_arg)]
    pub stop: Option<String>,
    /// IANA time zone the expressions are evaluated in
    #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = schedule_expr::parse_zone_arg)]
    pub tz: String,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduleShowArgs {
    /// User whose schedules to print
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduleClearArgs {
    /// User whose schedules to remove
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
    /// Remove only the start schedule
    #[arg(long, conflicts_with = "stop")]
    pub start: bool,
    /// Remove only the stop schedule
    #[arg(long)]
    pub stop: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print every setting, its value and its origin
    Show,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct CullArgs {
    /// Stop notebooks InService for longer than this (from their last start): 90s, 30m, 8h, 2d, 1h30m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: std::time::Duration,
    /// List what would be stopped and stop nothing
    #[arg(long)]
    pub dry_run: bool,
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
    /// Limit the product's instance types to these (comma-separated; a subset of the template's list)
    #[arg(long, value_name = "TYPES", value_delimiter = ',', value_parser = parse_instance_type)]
    pub allowed_instance_types: Vec<String>,
    /// Print the plan and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Take over the AWS blog sample's deployment in place (keeps its roles, exports, portfolio,
    /// product and notebooks; adds this tool's template as a new product version)
    #[arg(long)]
    pub adopt: bool,
    /// With --adopt: do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, requires = "adopt")]
    pub yes: bool,
    /// Give up waiting for a stack after this many seconds (exit 3)
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Stop every notebook on this schedule unless its owner set their own, e.g. 'cron(0 20 * * ? *)'
    #[arg(long, value_name = "EXPR", conflicts_with = "adopt", value_parser = schedule_expr::parse_expression_arg)]
    pub default_stop: Option<String>,
    /// With --default-stop: also start every notebook on this schedule, e.g. 'cron(0 8 ? * MON-FRI *)'
    #[arg(long, value_name = "EXPR", requires = "default_stop", value_parser = schedule_expr::parse_expression_arg)]
    pub default_start: Option<String>,
    /// With --default-stop: the IANA time zone of the default schedule [default: UTC]
    #[arg(long = "tz", value_name = "ZONE", requires = "default_stop", value_parser = schedule_expr::parse_zone_arg)]
    pub default_tz: Option<String>,
    /// Also deploy serverless mode: the watch and serve Lambda functions, the rule on SageMaker's
    /// state change events and an AWS_IAM Function URL (a third stack; README "Serverless mode")
    #[arg(long, conflicts_with = "adopt")]
    pub serverless: bool,
    /// With --serverless: the Lambda package to deploy (a zip whose `bootstrap` entry is a Linux
    /// build of notebook-vend), instead of this binary
    #[arg(long, value_name = "PATH", requires = "serverless")]
    pub lambda_zip: Option<PathBuf>,
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
/// How `serve` authenticates its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServeAuth {
    /// A presigned sts:GetCallerIdentity per request (aws-iam-authenticator's pattern)
    Iam,
    /// One shared bearer token
    Token,
    /// None at all (needs --allow-unauthenticated)
    None,
}

#[derive(Debug, Clone, Args)]
pub struct UrlStoreArgs {
    /// Length of the Jupyter session the URL opens, 1800..=43200 seconds
    #[arg(long, value_name = "N", default_value_t = 43200,
          value_parser = clap::value_parser!(i32).range(1800..=43200))]
    pub session_seconds: i32,
    /// Parameter type of the stored URL
    #[arg(long, value_enum, default_value_t = ParameterType::SecureString)]
    pub parameter_type: ParameterType,
}

#[derive(Debug, Clone, Args)]
pub struct ProvisionArgs {
    /// User the notebook is for: letters, digits, inner hyphens, at most 54 characters
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
    pub user: String,
    /// Notebook instance type (one of the product template's AllowedValues)
    #[arg(long, value_name = "TYPE", value_parser = parse_instance_type)]
    pub instance_type: Option<String>,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Tag for the provisioned product, KEY=VALUE (repeatable)
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    #[command(flatten)]
    pub product: ProductParamArgs,
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

/// Settings of the notebook product (parameters of sm-notebook.yml). Checked against the product's
/// own constraints (DescribeProvisioningParameters) before anything is provisioned.
#[derive(Debug, Clone, Default, Args)]
pub struct ProductParamArgs {
    /// KMS key (id, ARN or alias) encrypting the notebook's volume [default: AWS managed key]
    #[arg(long, value_name = "KEY", value_parser = parse_kms_key)]
    pub kms_key: Option<String>,
    /// Subnet to place the notebook in; direct internet access is then Disabled
    #[arg(long, value_name = "SUBNET_ID", value_parser = parse_prefixed_id("subnet"))]
    pub subnet: Option<String>,
    /// Security group for the notebook's network interface (repeatable; needs --subnet)
    #[arg(long = "security-group", value_name = "SG_ID", requires = "subnet", value_parser = parse_prefixed_id("sg"))]
    pub security_groups: Vec<String>,
    /// Size of the notebook's ML storage volume, 5..=512 GB
    #[arg(long, value_name = "GB", value_parser = clap::value_parser!(u16).range(5..=512))]
    pub volume_gb: Option<u16>,
    /// Stop the notebook after this many idle minutes (no kernel or terminal activity); 0 = never
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u16).range(0..=1440))]
    pub idle_minutes: Option<u16>,
    /// Root access for notebook users [product default: Disabled]
    #[arg(long, value_name = "Enabled|Disabled", value_parser = ["Enabled", "Disabled"])]
    pub root_access: Option<String>,
    /// Any product parameter, KEY=VALUE (repeatable)
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
}

impl ProductParamArgs {
    /// The product parameters these flags set, by key. A key set twice (a flag and --param, or
    /// --param twice) is a usage error, as is NotebookUserName (that is --user).
    pub fn to_parameters(&self) -> Result<std::collections::BTreeMap<String, String>, String> {
        let mut out = std::collections::BTreeMap::new();
        let mut set = |k: &str, v: String| match out.insert(k.to_owned(), v) {
            Some(_) => Err(format!("product parameter {k} is given twice")),
            None => Ok(()),
        };
        if let Some(v) = &self.kms_key {
            set("KmsKeyId", v.clone())?;
        }
        if let Some(v) = &self.subnet {
            set("SubnetId", v.clone())?;
        }
        if !self.security_groups.is_empty() {
            set("SecurityGroupIds", self.security_groups.join(","))?;
        }
        if let Some(v) = self.volume_gb {
            set("VolumeSizeInGB", v.to_string())?;
        }
        if let Some(v) = self.idle_minutes {
            set("IdleTimeoutMinutes", v.to_string())?;
        }
        if let Some(v) = &self.root_access {
            set("RootAccess", v.clone())?;
        }
        for (k, v) in &self.params {
            if k == "NotebookUserName" {
                return Err("--param NotebookUserName: the user is given with --user".into());
            }
            set(k, v.clone())?;
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("who").args(["user", "all"]))]
pub struct RefreshArgs {
    /// User whose URL to refresh
    #[arg(long, short = 'u', value_parser = parse_user)]
    pub user: Option<String>,
    /// Every notebook vended by this product
    #[arg(long)]
    pub all: bool,
    /// Parallel refreshes with --all
    #[arg(long, value_name = "N", default_value_t = 8, conflicts_with = "user",
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
    /// Ask this `notebook-vend serve` (its base URL) for the refresh instead of calling AWS: the
    /// request carries a presigned sts:GetCallerIdentity made with your credentials (no shared secret)
    #[arg(long, value_name = "URL", conflicts_with = "all", value_parser = parse_serve_endpoint)]
    pub endpoint: Option<String>,
    /// With --endpoint: the id the server expects in identity tokens [default: the --endpoint URL]
    #[arg(long, value_name = "ID", requires = "endpoint")]
    pub server_id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UrlArgs {
    /// User whose notebook URL to print
    #[arg(long, short = 'u', value_parser = parse_user_or_caller, default_value = values::CALLER_USER, hide_default_value = true)]
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
    /// How callers prove who they are [default: iam; token when --token-file or $NOTEBOOK_VEND_TOKEN is given].
    /// iam: each request carries a presigned sts:GetCallerIdentity (no shared secret); end users
    /// refresh only their own notebook, --operator identities anyone's. token: one shared bearer
    /// token for everyone. none: no authentication at all (the blog's API; needs --allow-unauthenticated)
    #[arg(long, value_enum, value_name = "MODE")]
    pub auth: Option<ServeAuth>,
    /// With --auth iam: the id callers sign into their tokens, so that a token made for another
    /// server is refused here [default: http://<the listening address>]
    #[arg(long, value_name = "ID")]
    pub server_id: Option<String>,
    /// With --auth iam: an identity that may refresh anyone's notebook: an IAM user or role ARN, or
    /// a role name (any session of that role); repeatable
    #[arg(long = "operator", value_name = "ARN_OR_ROLE")]
    pub operators: Vec<String>,
    /// With --auth none: serve without any authentication (anyone reaching the port gets any user's URL)
    #[arg(long)]
    pub allow_unauthenticated: bool,
    /// With --auth token: file holding the bearer token (trimmed; must not be empty) [default: $NOTEBOOK_VEND_TOKEN, else generated]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub store: UrlStoreArgs,
    /// Give up on one refresh after this many seconds (answer 504)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub request_timeout: u64,
    /// Close a connection that has not sent a complete request head within this many seconds of
    /// opening or of its previous answer (slow and idle clients)
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout: u64,
    /// Answer 408 when a request body has not fully arrived within this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub body_timeout: u64,
    /// Connections served at once; more are answered 503 and closed
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_connections: u64,
    /// Serve the home page (GET /: the caller's own notebook, Start, Stop, Open) to users signed in by
    /// this Application Load Balancer's authenticate-oidc action: every page request must carry an
    /// x-amzn-oidc-data token signed by it (ES256, `signer` = this ARN, unexpired)
    #[arg(long, value_name = "ARN", value_parser = parse_alb_arn)]
    pub alb_arn: Option<String>,
    /// With --alb-arn: where the ALB's public keys are, {region} and {kid} filled in
    #[arg(long, value_name = "TEMPLATE", requires = "alb_arn", value_parser = parse_alb_key_url,
          default_value = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}")]
    pub alb_key_url: String,
    /// With --alb-arn: the user claim naming the user (an email's local part; it must be a valid user name)
    #[arg(long, value_name = "NAME", value_parser = parse_oidc_claim, default_value = "email")]
    pub oidc_user_claim: String,
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
        let d = cli.global.deployment.resolve();
        assert_eq!(d.s3_stack, "s3-iam-config");
        assert_eq!(d.catalog_stack, "service-catalog-config");
        assert_eq!(d.product_name, "SageMaker Notebook");
        assert_eq!(d.ssm_prefix, "/SageMaker/Notebooks/");
        assert_eq!(cli.global.output, OutputFormat::Text);
    }

    #[test]
    fn deployment_name_derives_the_others_and_explicit_names_win() {
        let cli = parse(&["list", "--name", "team-a", "--ssm-prefix", "/x/"]).unwrap();
        let d = cli.global.deployment.resolve();
        assert_eq!(d.s3_stack, "team-a-s3-iam-config");
        assert_eq!(d.catalog_stack, "team-a-service-catalog-config");
        assert_eq!(d.product_name, "SageMaker Notebook (team-a)");
        assert_eq!(d.portfolio_name.as_deref(), Some("team-a-Portfolio"));
        assert_eq!(d.ssm_prefix, "/x/");
        assert!(parse(&["list", "--name", "team_a"]).is_err());
    }

    #[test]
    fn provision_options() {
        let cli = parse(&[
            "provision",
            "--user",
            "alice",
            "--tag",
            "team=ml",
            "--tag",
            "cost=42",
            "--session-seconds",
            "1800",
            "--parameter-type",
            "String",
            "--output",
            "json",
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
            vec!["refresh", "--user", "a", "--all"],
            vec!["refresh", "--all", "--endpoint", "http://127.0.0.1:8080"],
            vec!["refresh", "--endpoint", "127.0.0.1:8080"],
            vec!["refresh", "--server-id", "x"],
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

    /// `--user` of a per-user command defaults to the caller (resolved once the caller is known).
    #[test]
    fn user_defaults_to_the_caller() {
        for args in [vec!["provision"], vec!["refresh"], vec!["url"], vec!["update", "--yes"], vec!["terminate"]] {
            assert!(parse(&args).is_ok(), "{args:?}");
        }
        let Command::Provision(p) = parse(&["provision"]).unwrap().command else { panic!() };
        assert_eq!(p.user, "");
        assert!(parse(&["provision", "--user", ""]).is_err(), "an empty user is not the caller");
        let Command::Stop(s) = parse(&["stop", "--user", "@caller"]).unwrap().command else { panic!() };
        assert_eq!(s.user, "", "@caller names the caller explicitly");
    }

    #[test]
    fn user_at_limit_is_accepted() {
        let user = "a".repeat(54);
        assert!(parse(&["provision", "--user", &user]).is_ok());
        assert!(parse(&["provision", "--user", "a-b--c9"]).is_ok());
    }
}
