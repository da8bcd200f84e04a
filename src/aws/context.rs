//! One SDK configuration and one client per service, built once per run and passed by reference.

use std::time::Duration;

use anyhow::Result;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use tokio::sync::OnceCell;

use crate::aws::pacing::{CallStats, Pacing};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::{usage, AwsResultExt};
use crate::names::deployment::Names;
use crate::progress::Progress;

/// Attempts per AWS call. Standard retry mode (exponential backoff with jitter, retry quota) rather
/// than adaptive: the pace of requests is set per API by `pacing` (one limiter per API per run, fed
/// by the throttling answers; see src/aws/pacing.rs for why not the SDK's adaptive limiter), and the
/// retry strategy only backs off.
const MAX_ATTEMPTS: u32 = 6;

/// The SDK clients are visible only to the modules under `crate::aws` (see aws/mod.rs).
pub struct Context {
    pub(in crate::aws) cfn: aws_sdk_cloudformation::Client,
    pub(in crate::aws) s3: aws_sdk_s3::Client,
    pub(in crate::aws) sts: aws_sdk_sts::Client,
    pub(in crate::aws) catalog: aws_sdk_servicecatalog::Client,
    pub(in crate::aws) sagemaker: aws_sdk_sagemaker::Client,
    pub(in crate::aws) ssm: aws_sdk_ssm::Client,
    pub(in crate::aws) cloudtrail: aws_sdk_cloudtrail::Client,
    pub(in crate::aws) iam: aws_sdk_iam::Client,
    pub(in crate::aws) scheduler: aws_sdk_scheduler::Client,
    pub names: Names,
    pub output: OutputFormat,
    pub progress: Progress,
    pub region: String,
    /// The endpoint URL every client is pointed at, when one is configured (--endpoint-url,
    /// AWS_ENDPOINT_URL): `serve` replays identity tokens to it (caller_token.rs).
    pub endpoint_url: Option<String>,
    /// The credentials of the run, for what the SDK clients do not sign themselves (a presigned
    /// identity token, caller_token.rs).
    pub credentials: Option<aws_sdk_sts::config::SharedCredentialsProvider>,
    caller: OnceCell<Caller>,
    pacing: Pacing,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

impl Context {
    pub async fn new(global: &GlobalArgs) -> Result<Self> {
        // The SDK panics on a retry setting it cannot parse (aws-config's default retry_config
        // provider: "Panics if the AWS_MAX_ATTEMPTS env var or max_attempts profile var is set to
        // 0"): check them first, as usage errors naming the variable.
        check_retry_settings(global.profile.as_deref().filter(|p| !p.is_empty())).await?;
        check_endpoint_env()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                // A dropped connection must become a retry, not a hang.
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
        // AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, when set, are the user's explicit choice.
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() && std::env::var_os("AWS_RETRY_MODE").is_none() {
            loader = loader.retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(100)),
            );
        }
        // Every client of the run sends through one pacer per API.
        let pacing = Pacing::new();
        if let Some(http) = default_http_client() {
            loader = loader.http_client(pacing.http_client(http));
        }
        if let Some(profile) = global.profile.as_deref().filter(|p| !p.is_empty()) {
            let named =
                if global.profile_flag { format!("--profile {profile}") } else { format!("AWS_PROFILE={profile}") };
            require_profile(profile, &named).await?;
            loader = loader.profile_name(profile);
            if global.profile_flag {
                // The AWS CLI: "an explicitly provided profile will negate an EnvProvider"
                // (botocore credentials.py create_credential_resolver, boto/botocore#486), so
                // `--profile` wins over AWS_ACCESS_KEY_ID; AWS_PROFILE does not (cli-configure-envvars:
                // environment variables override values loaded from a profile).
                loader = loader.credentials_provider(
                    aws_config::profile::ProfileFileCredentialsProvider::builder().profile_name(profile).build(),
                );
            } else if std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|k| !k.is_empty()) {
                tracing::warn!(
                    "AWS_PROFILE={profile} gives the region and settings, but the credentials are AWS_ACCESS_KEY_ID's \
                     (as with the AWS CLI); pass --profile {profile} to use the profile's credentials"
                );
            }
        }
        if let Some(region) = &global.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &global.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        Self::from_sdk(
            &sdk,
            global.deployment.resolve(),
            global.output,
            Progress::new(global.no_progress, global.quiet),
            pacing,
        )
    }

    /// The clients of one SDK configuration (also what unit tests build against a fake endpoint).
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        names: Names,
        output: OutputFormat,
        progress: Progress,
        pacing: Pacing,
    ) -> Result<Self> {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| usage("no AWS region: pass --region, set AWS_REGION, or set one in the profile"))?;
        // Wherever they came from (flag, environment, profile), before the first request.
        crate::cli::values::parse_region(&region).map_err(usage)?;
        if let Some(url) = sdk.endpoint_url() {
            crate::cli::values::parse_endpoint(url).map_err(usage)?;
        }

        // Loopback endpoints have no bucket subdomains: address buckets by path there.
        let s3_conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();

        Ok(Context {
            cfn: aws_sdk_cloudformation::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sts: aws_sdk_sts::Client::new(sdk),
            catalog: aws_sdk_servicecatalog::Client::new(sdk),
            sagemaker: aws_sdk_sagemaker::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            cloudtrail: aws_sdk_cloudtrail::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            scheduler: aws_sdk_scheduler::Client::new(sdk),
            names,
            output,
            progress,
            region,
            endpoint_url: sdk.endpoint_url().map(str::to_owned),
            credentials: sdk.credentials_provider(),
            caller: OnceCell::new(),
            pacing,
        })
    }

    /// AWS calls sent, retried and throttled so far in this run, in total and per API.
    pub fn calls(&self) -> CallStats {
        self.pacing.stats()
    }

    /// The caller's identity (STS), asked once per run.
    pub async fn caller(&self) -> Result<&Caller> {
        self.caller
            .get_or_try_init(|| async {
                let id = self.sts.get_caller_identity().send().await.aws(|| "reading the caller identity (STS)")?;
                Ok(Caller {
                    account: id.account().unwrap_or_default().to_owned(),
                    arn: id.arn().unwrap_or_default().to_owned(),
                })
            })
            .await
    }

    /// The IAM principal ARN of the caller, as a portfolio principal association needs it. An
    /// assumed-role session maps to its role, whose ARN includes the role's path: IAM Identity
    /// Center (SSO) roles live under `/aws-reserved/sso.amazonaws.com/` (sometimes with a region
    /// after it), so the ARN cannot be rebuilt from the session ARN; iam:GetRole gives the real one
    /// (IAM user guide, "IAM identifiers": role ARNs include the path).
    pub async fn principal(&self) -> Result<String> {
        let arn = self.caller().await?.arn.clone();
        let Some(role) = crate::names::user::role_of_session(&arn) else {
            return Ok(crate::names::user::principal_from_caller(&arn));
        };
        match self.iam.get_role().role_name(role).send().await.aws(|| format!("reading role {role} (iam:GetRole)")) {
            Ok(out) => Ok(out
                .role()
                .map(|r| r.arn().to_owned())
                .unwrap_or_else(|| crate::names::user::principal_from_caller(&arn))),
            Err(e) if crate::error::has_code(&e, &["AccessDenied", "AccessDeniedException"]) => {
                Err(e.context(format!(
                    "the caller is a session of role {role}, whose ARN (with its path, e.g. \
                 /aws-reserved/sso.amazonaws.com/ for SSO) only iam:GetRole can tell: allow iam:GetRole on that role, \
                 or pass --principal with the role's full ARN (IAM console, or `aws iam get-role --role-name {role}`)"
                )))
            }
            Err(e) => Err(e),
        }
    }
}

/// `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE`, else the profile's `max_attempts` / `retry_mode`: what
/// the SDK would read (environment first, per key), checked as it would parse them.
async fn check_retry_settings(profile: Option<&str>) -> Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let (env_attempts, env_mode) = (env("AWS_MAX_ATTEMPTS"), env("AWS_RETRY_MODE"));
    let (mut file_attempts, mut file_mode) = (None, None);
    if env_attempts.is_none() || env_mode.is_none() {
        let files = aws_runtime::env_config::file::EnvConfigFiles::default();
        let fs = aws_types::os_shim_internal::Fs::real();
        let os_env = aws_types::os_shim_internal::Env::real();
        // An unreadable file is reported by require_profile (or ignored by the SDK as well).
        if let Ok(set) = aws_config::profile::load(&fs, &os_env, &files, None).await {
            let name = profile.map(str::to_owned).unwrap_or_else(|| set.selected_profile().to_owned());
            if let Some(p) = set.get_profile(&name) {
                file_attempts =
                    p.get("max_attempts").map(|v| (v.to_owned(), format!("max_attempts in profile {name}")));
                file_mode = p.get("retry_mode").map(|v| (v.to_owned(), format!("retry_mode in profile {name}")));
            }
        }
    }
    let attempts = env_attempts.map(|v| (v, "AWS_MAX_ATTEMPTS".to_owned())).or(file_attempts);
    let mode = env_mode.map(|v| (v, "AWS_RETRY_MODE".to_owned())).or(file_mode);
    if let Some((v, named)) = attempts {
        crate::cli::values::parse_max_attempts(&v).map_err(|e| usage(format!("{named}: {e}")))?;
    }
    if let Some((v, named)) = mode {
        crate::cli::values::parse_retry_mode(&v).map_err(|e| usage(format!("{named}: {e}")))?;
    }
    Ok(())
}

/// `AWS_ENDPOINT_URL`, which the SDK reads itself: the rules of `--endpoint-url`.
fn check_endpoint_env() -> Result<()> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(v) if !v.is_empty() => {
            crate::cli::values::parse_endpoint(&v).map(|_| ()).map_err(|e| usage(format!("AWS_ENDPOINT_URL: {e}")))
        }
        _ => Ok(()),
    }
}

/// The HTTP client the SDK would pick by default (the same TLS stack and pool), to wrap.
fn default_http_client() -> Option<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
    #[allow(deprecated)]
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(BehaviorVersion::latest())?;
    let components = plugin.runtime_components(&RuntimeComponentsBuilder::new("notebook-vend"));
    components.http_client()
}

/// A named profile must exist in the shared config or credentials file (as the AWS CLI's
/// ProfileNotFound): an unknown one is a usage error before any request, never a silent fall back
/// to other credentials. `default` may be absent, as for the CLI.
async fn require_profile(profile: &str, named: &str) -> Result<()> {
    if profile == "default" {
        return Ok(());
    }
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let fs = aws_types::os_shim_internal::Fs::real();
    let env = aws_types::os_shim_internal::Env::real();
    let set = aws_config::profile::load(&fs, &env, &files, None)
        .await
        .map_err(|e| usage(format!("{named}: cannot read the AWS config files: {e}")))?;
    if set.get_profile(profile).is_none() {
        let mut known: Vec<&str> = set.profiles().collect();
        known.sort();
        let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
        return Err(usage(format!(
            "{named}: no such profile in the AWS config or credentials file (profiles: {known})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::aws::fake_aws::{xml, xml_error, FakeAws};

    const STS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
    const IAM: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
    const SSO_ROLE: &str = "AWSReservedSSO_DataScientist_0123456789abcdef";

    fn sso_caller() -> crate::aws::fake_aws::Answer {
        xml(
            "GetCallerIdentity",
            STS,
            &format!(
                "<Arn>arn:aws:sts::123456789012:assumed-role/{SSO_ROLE}/alice@example.com</Arn>\
                 <UserId>AROAX:alice@example.com</UserId><Account>123456789012</Account>"
            ),
        )
    }

    /// An SSO session's role lives under /aws-reserved/sso.amazonaws.com/: the principal is the
    /// role's real ARN (from iam:GetRole), not one rebuilt without the path.
    #[tokio::test]
    async fn sso_session_maps_to_the_role_arn_with_its_path() {
        let real = format!("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/{SSO_ROLE}");
        let fake = FakeAws::start(vec![
            sso_caller(),
            xml(
                "GetRole",
                IAM,
                &format!(
                    "<Role><Path>/aws-reserved/sso.amazonaws.com/eu-west-1/</Path><RoleName>{SSO_ROLE}</RoleName>\
                     <RoleId>AROAX</RoleId><Arn>{real}</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate></Role>"
                ),
            ),
        ]);
        let ctx = fake.context().await;
        assert_eq!(ctx.principal().await.unwrap(), real);
        assert_eq!(fake.served(), ["GetCallerIdentity", "GetRole"]);
    }

    #[tokio::test]
    async fn a_denied_get_role_says_what_is_needed() {
        let fake = FakeAws::start(vec![
            sso_caller(),
            xml_error("GetRole", 403, "AccessDenied", "not authorized to perform: iam:GetRole"),
        ]);
        let e = fake.context().await.principal().await.unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("iam:GetRole") && msg.contains("--principal") && msg.contains(SSO_ROLE), "{msg}");
    }

    #[tokio::test]
    async fn an_iam_user_needs_no_lookup() {
        let fake = FakeAws::start(vec![xml(
            "GetCallerIdentity",
            STS,
            "<Arn>arn:aws:iam::123456789012:user/ops/bob</Arn><UserId>AIDA</UserId><Account>123456789012</Account>",
        )]);
        assert_eq!(fake.context().await.principal().await.unwrap(), "arn:aws:iam::123456789012:user/ops/bob");
        assert_eq!(fake.served(), ["GetCallerIdentity"]);
    }
}
