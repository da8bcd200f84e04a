//! One SDK configuration and one client per service, built once per run and passed by reference.

use std::time::Duration;

use anyhow::Result;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use tokio::sync::OnceCell;

use crate::cli::{GlobalArgs, Names, OutputFormat};
use crate::error::{usage, AwsResultExt};
use crate::progress::Progress;

/// Attempts per AWS call. Standard retry mode (exponential backoff with jitter, retry quota) rather
/// than adaptive: adaptive adds a client-side rate limiter shared by one client, which slows the
/// parallel `refresh --all` after a single throttle while giving little over backoff for a CLI.
const MAX_ATTEMPTS: u32 = 6;

/// The SDK clients are visible only to the modules under `crate::aws` (see aws.rs).
pub struct Context {
    pub(in crate::aws) cfn: aws_sdk_cloudformation::Client,
    pub(in crate::aws) s3: aws_sdk_s3::Client,
    pub(in crate::aws) sts: aws_sdk_sts::Client,
    pub(in crate::aws) catalog: aws_sdk_servicecatalog::Client,
    pub(in crate::aws) sagemaker: aws_sdk_sagemaker::Client,
    pub(in crate::aws) ssm: aws_sdk_ssm::Client,
    pub(in crate::aws) cloudtrail: aws_sdk_cloudtrail::Client,
    pub names: Names,
    pub output: OutputFormat,
    pub progress: Progress,
    pub region: String,
    caller: OnceCell<Caller>,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

impl Context {
    pub async fn new(global: &GlobalArgs) -> Result<Self> {
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
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| usage("no AWS region: pass --region, set AWS_REGION, or set one in the profile"))?;

        // Loopback endpoints have no bucket subdomains: address buckets by path there.
        let s3_conf = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(sdk.endpoint_url().is_some()).build();

        Ok(Context {
            cfn: aws_sdk_cloudformation::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sts: aws_sdk_sts::Client::new(&sdk),
            catalog: aws_sdk_servicecatalog::Client::new(&sdk),
            sagemaker: aws_sdk_sagemaker::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
            cloudtrail: aws_sdk_cloudtrail::Client::new(&sdk),
            names: global.deployment.resolve(),
            output: global.output,
            progress: Progress::new(global.no_progress, global.quiet),
            region,
            caller: OnceCell::new(),
        })
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
