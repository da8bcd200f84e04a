//! One SDK configuration and one client per service, built once per run and passed by reference.

use std::time::Duration;

use anyhow::Result;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use tokio::sync::OnceCell;

use crate::cli::{GlobalArgs, Names, OutputFormat};
use crate::error::{usage, AwsResultExt};
use crate::pacing::{CallStats, Pacing};
use crate::progress::Progress;

/// Attempts per AWS call. Standard retry mode (exponential backoff with jitter, retry quota) rather
/// than adaptive: the pace of requests is set per API by `pacing` (one limiter per API per run, fed
/// by the throttling answers; see src/pacing.rs for why not the SDK's adaptive limiter), and the
/// retry strategy only backs off.
const MAX_ATTEMPTS: u32 = 6;

pub struct Context {
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub catalog: aws_sdk_servicecatalog::Client,
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub names: Names,
    pub output: OutputFormat,
    pub progress: Progress,
    pub region: String,
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
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
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
