//! Serverless mode's stack, as `bootstrap`, `teardown` and `doctor` see it: a third stack
//! (`<catalog stack>-serverless`, templates/serverless.yml) beside the bucket/role stack and the
//! catalog stack, rather than a flavour of the catalog stack: it can be added to and removed from a
//! deployment without touching the portfolio and product (an update of the catalog stack that went
//! wrong could strand provisioned notebooks), it has its own failure and rollback, and a plain
//! `bootstrap` can leave it exactly as deployed.
//!
//! The package is checked (src/package/) before anything is sent, uploaded to the bootstrap bucket
//! at `lambda/<sha256>.zip` unless that object exists (content-addressed: existing means the same
//! bytes), and the stack is deployed with that key: CloudFormation does not notice a changed object
//! under the same key (AWS::Lambda::Function Code, CloudFormation User Guide), a new key is a change.

use std::fmt;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::objects;
use crate::aws::poll::Deadline;
use crate::aws::stacks::{self, Plan, StackSpec};
use crate::cli::BootstrapArgs;
use crate::error::usage;
use crate::names::deployment::Names;
use crate::package::{self, Arch, Package};
use crate::plan::templates::{self, Sources};

/// Lambda's longest function name (CreateFunction, FunctionName: "The length constraint applies
/// only to the full ARN. If you specify only the function name, it is limited to 64 characters").
const FUNCTION_NAME_MAX: usize = 64;
/// The template's function names: `${AWS::StackName}-watch` and `-serve`.
const FUNCTION_SUFFIXES: [&str; 2] = ["-watch", "-serve"];

/// What `bootstrap --serverless` deploys, read and checked before any AWS call.
pub struct Inputs {
    pub template: String,
    pub package: Package,
    /// Where the package came from, for the report: "this binary (<path>)" or the zip's path.
    pub source: String,
}

/// The serverless inputs of a bootstrap run: None without `--serverless`. Every problem of the
/// package is one line of the usage error (exit 2), found before any request.
pub fn read_inputs(args: &BootstrapArgs, sources: &Sources, names: &Names) -> Result<Option<Inputs>> {
    if !args.serverless {
        return Ok(None);
    }
    let stack = names.serverless_stack();
    if let Some(long) = FUNCTION_SUFFIXES.iter().map(|s| format!("{stack}{s}")).find(|n| n.len() > FUNCTION_NAME_MAX) {
        return Err(usage(format!(
            "the serverless stack {stack} would name its function {long} ({} characters); Lambda allows \
             {FUNCTION_NAME_MAX}: use a shorter --name or --catalog-stack",
            long.len()
        )));
    }
    let template = sources.template(templates::SERVERLESS)?;
    let allowed = allowed_architectures(&template)?;
    let (source, built) = match &args.lambda_zip {
        Some(path) => {
            let what = format!("--lambda-zip {}", path.display());
            let bytes = read_file(path, &what)?;
            (path.display().to_string(), package::from_zip(&what, bytes, &allowed))
        }
        None => {
            let exe = std::env::current_exe().map_err(|e| usage(format!("cannot locate this binary: {e}")))?;
            let what = format!("this binary ({})", exe.display());
            // A debug build is several times the limit: refused on its size, without reading it.
            let size = std::fs::metadata(&exe).map(|m| m.len()).unwrap_or(0);
            if size >= package::UNZIPPED_LIMIT {
                return Err(usage(package::over_limit(&what, size)));
            }
            let bytes = read_file(&exe, &what)?;
            (what.clone(), package::from_executable(&what, &bytes, &allowed))
        }
    };
    let package = built.map_err(|lines| usage(lines.join("\n")))?;
    Ok(Some(Inputs { template, package, source }))
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| usage(format!("{what}: cannot read it: {e}")))
}

/// The instruction sets the template's `Architecture` parameter allows.
fn allowed_architectures(template: &str) -> Result<Vec<Arch>> {
    let parsed = crate::plan::template::parse(template)
        .map_err(|e| usage(format!("template {}: {e}", templates::SERVERLESS)))?;
    let values = parsed.parameters.get("Architecture").and_then(|p| p.allowed_values.clone()).ok_or_else(|| {
        usage(format!("template {}: no Architecture parameter with AllowedValues", templates::SERVERLESS))
    })?;
    Ok([Arch::X86_64, Arch::Arm64].into_iter().filter(|a| values.iter().any(|v| v == a.lambda_name())).collect())
}

/// The serverless stack in a bootstrap summary.
#[derive(Debug, Serialize)]
pub struct Report {
    pub stack: String,
    /// create/update/unchanged/recreate, or "kept" when a plain bootstrap left it as deployed.
    pub action: String,
    pub status: String,
    /// The package's key in the bootstrap bucket and whether it was uploaded ("uploaded",
    /// "unchanged", "would upload"); None when the stack was kept.
    pub code_key: Option<String>,
    pub code_upload: Option<String>,
    pub architecture: Option<String>,
    pub source: Option<String>,
    pub function_url: Option<String>,
}

impl Report {
    pub fn unchanged(&self) -> bool {
        matches!(self.action.as_str(), "unchanged" | "kept") && self.code_upload.as_deref() != Some("uploaded")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "serverless {:<28} {:<16} {}", self.stack, self.action, self.status)?;
        if self.action == "kept" {
            write!(f, "\n           (kept as deployed; `bootstrap --serverless` updates the functions)")?;
        }
        if let (Some(key), Some(upload)) = (&self.code_key, &self.code_upload) {
            let arch = self.architecture.as_deref().unwrap_or("-");
            write!(f, "\ncode       {key} ({arch}, from {})  {upload}", self.source.as_deref().unwrap_or("-"))?;
        }
        if let Some(url) = &self.function_url {
            write!(f, "\nurl        {url} (AuthType AWS_IAM)")?;
        }
        Ok(())
    }
}

fn action_name(plan: Plan, dry_run: bool) -> &'static str {
    match (dry_run, plan) {
        (_, Plan::Unchanged) => "unchanged",
        (true, Plan::Create) => "would create",
        (true, Plan::Recreate) => "would re-create",
        (true, Plan::Update) => "would update",
        (false, Plan::Create) => "created",
        (false, Plan::Recreate) => "re-created",
        (false, Plan::Update) => "updated",
    }
}

fn spec(ctx: &Context, inputs: &Inputs) -> StackSpec {
    let names = &ctx.names;
    let parameters = [
        ("S3IAMConfigStackName", names.s3_stack.clone()),
        ("CodeKey", inputs.package.key()),
        ("Architecture", inputs.package.arch.lambda_name().to_owned()),
        ("CatalogStackName", names.catalog_stack.clone()),
        ("ProductName", names.product_name.clone()),
        ("SsmPrefix", names.ssm_prefix.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    StackSpec { name: names.serverless_stack(), template: inputs.template.clone(), parameters }
}

/// Upload the package unless its key exists, then create or update the stack.
pub async fn deploy(ctx: &Context, inputs: &Inputs, bucket: &str, deadline: Deadline) -> Result<Report> {
    let key = inputs.package.key();
    let uploaded = if objects::exists(ctx, bucket, &key).await? {
        false
    } else {
        ctx.progress.line(format!(
            "uploading the Lambda package ({}) to s3://{bucket}/{key}",
            crate::text::human_bytes(inputs.package.zip.len() as u64)
        ));
        objects::upload_bytes(ctx, bucket, &key, inputs.package.zip.clone(), "application/zip").await?;
        true
    };
    let (plan, info) = stacks::deploy(ctx, &spec(ctx, inputs), deadline).await?;
    Ok(Report {
        stack: info.name.clone(),
        action: action_name(plan, false).into(),
        status: info.status.clone(),
        code_key: Some(key),
        code_upload: Some(if uploaded { "uploaded" } else { "unchanged" }.into()),
        architecture: Some(inputs.package.arch.lambda_name().into()),
        source: Some(inputs.source.clone()),
        function_url: info.outputs.get("ServeFunctionUrl").cloned(),
    })
}

/// What `deploy` would do (dry run): reads only.
pub async fn plan(ctx: &Context, inputs: &Inputs, bucket: Option<&str>) -> Result<Report> {
    let key = inputs.package.key();
    let upload = match bucket {
        Some(b) if objects::exists(ctx, b, &key).await? => "unchanged",
        _ => "would upload",
    };
    let spec = spec(ctx, inputs);
    let existing = stacks::describe(ctx, &spec.name).await?;
    let plan = stacks::plan(ctx, &spec, existing.as_ref()).await?;
    let info = stacks::info(ctx, &spec.name).await?;
    Ok(Report {
        stack: spec.name,
        action: action_name(plan, true).into(),
        status: info.as_ref().map(|i| i.status.clone()).unwrap_or_else(|| "-".into()),
        code_key: Some(key),
        code_upload: Some(upload.into()),
        architecture: Some(inputs.package.arch.lambda_name().into()),
        source: Some(inputs.source.clone()),
        function_url: info.and_then(|i| i.outputs.get("ServeFunctionUrl").cloned()),
    })
}

/// A plain bootstrap: the serverless stack, when there is one, is left as deployed (its package
/// is whatever `bootstrap --serverless` last uploaded; the binary running now may not even be a
/// Linux build), and reported.
pub async fn kept(ctx: &Context) -> Result<Option<Report>> {
    let Some(info) = stacks::info(ctx, &ctx.names.serverless_stack()).await? else { return Ok(None) };
    Ok(Some(Report {
        stack: info.name.clone(),
        action: "kept".into(),
        status: info.status.clone(),
        code_key: None,
        code_upload: None,
        architecture: None,
        source: None,
        function_url: info.outputs.get("ServeFunctionUrl").cloned(),
    }))
}

/// One line of `doctor` about the serverless stack: (name, healthy, detail, fix).
pub type Finding = (String, bool, String, Option<String>);

/// The resources `doctor` requires of a deployed serverless stack, each complete.
const DOCTOR_RESOURCES: [&str; 7] = [
    "WatchFunction",
    "ServeFunction",
    "ServeUrl",
    "StateChangeRule",
    "StateChangePermission",
    "WatchInvokeConfig",
    "FailureQueue",
];

/// What `doctor` says about the serverless stack, from CloudFormation alone: nothing when there is
/// no such stack (serverless mode is optional); else each of its resources created (or updated)
/// and the deployed template's Function URL AuthType, rule state, target and on-failure
/// destination. Lambda's, EventBridge's and SQS's own APIs (function State, queue depth) are not
/// read: their SDK clients would take the release binary over its size budget (BENCHMARKS.md).
pub async fn doctor(ctx: &Context) -> Result<Vec<Finding>> {
    let stack = ctx.names.serverless_stack();
    let Some(info) = stacks::info(ctx, &stack).await? else { return Ok(Vec::new()) };
    let fix = Some("notebook-vend bootstrap --serverless".to_owned());
    let mut out = Vec::new();
    let resources = stacks::resources(ctx, &stack).await?;
    let bad: Vec<String> = DOCTOR_RESOURCES
        .iter()
        .filter_map(|id| match resources.iter().find(|r| r.logical_id == *id) {
            Some(r) if r.status.ends_with("_COMPLETE") && !r.status.starts_with("DELETE") => None,
            Some(r) => Some(format!("{id} {}", r.status)),
            None => Some(format!("{id} missing")),
        })
        .collect();
    out.push(match bad.is_empty() {
        true => (
            "serverless resources".into(),
            true,
            format!("functions {stack}-watch and -serve, rule, Function URL, on-failure queue ({})", info.status),
            None,
        ),
        false => ("serverless resources".into(), false, bad.join(", "), fix.clone()),
    });
    let template = stacks::deployed_template(ctx, &stack).await?.unwrap_or_default();
    let parsed = crate::plan::template::parse(&template).unwrap_or_default();
    let prop = |id: &str, key: &str| {
        parsed.resources.get(id).and_then(|r| r.raw.get("Properties")).and_then(|p| p.get(key)).cloned()
    };
    let auth = prop("ServeUrl", "AuthType").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    out.push(("function URL auth".into(), auth == "AWS_IAM", format!("AuthType {auth}"), fix.clone()));
    let state = prop("StateChangeRule", "State").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let pattern = prop("StateChangeRule", "EventPattern").map(|v| v.to_string()).unwrap_or_default();
    let targets = prop("StateChangeRule", "Targets").map(|v| v.to_string()).unwrap_or_default();
    let rule_ok = state == "ENABLED"
        && pattern.contains("SageMaker Notebook Instance State Change")
        && targets.contains("WatchFunction");
    out.push((
        "state change rule".into(),
        rule_ok,
        format!("{state}, SageMaker Notebook Instance State Change -> {stack}-watch"),
        fix.clone(),
    ));
    let destination = prop("WatchInvokeConfig", "DestinationConfig").map(|v| v.to_string()).unwrap_or_default();
    out.push((
        "on-failure destination".into(),
        destination.contains("FailureQueue"),
        format!("failed events of {stack}-watch -> {}", info.outputs.get("FailureQueueUrl").map_or("-", |s| s)),
        fix,
    ));
    Ok(out)
}
