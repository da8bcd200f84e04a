//! End-to-end test harness: the real binary against the local sandbox (`scripts/sandbox.sh up`).
//! One definition of each helper, for every module of the e2e crate.
//!
//! Every test gets its own AWS account in the sandbox (a 12-digit access key id selects it), so
//! tests run in parallel without seeing each other, and the request log is filtered by account.
#![allow(dead_code)]

pub mod alb;
mod caller;
mod command;
mod process;
mod runtime_api;

pub use caller::Caller;
pub use command::{blank_home, isolated_command, subcommands};
pub use process::Running;
pub use runtime_api::{Outcome, RuntimeApi};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct Sandbox {
    pub endpoint: String,
    pub port: u16,
    pub dir: PathBuf,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The running sandbox, from `$SANDBOX_DIR` or `.sandbox/` (started by scripts/test.sh).
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let dir = std::env::var_os("SANDBOX_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join(".sandbox"));
        let port: u16 = std::fs::read_to_string(dir.join("port"))
            .unwrap_or_else(|_| {
                panic!("no sandbox in {}: run `scripts/sandbox.sh up` (scripts/test.sh does)", dir.display())
            })
            .trim()
            .parse()
            .expect("port file holds a port");
        Sandbox { endpoint: format!("http://127.0.0.1:{port}"), port, dir }
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub service: String,
    pub operation: String,
    pub status: String,
    pub fault: Option<String>,
}

/// One isolated AWS account in the sandbox, with a blank HOME.
pub struct Account {
    pub id: String,
    pub home: tempfile::TempDir,
}

impl Account {
    pub fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let mix =
            (nanos ^ (std::process::id() as u64) << 20).wrapping_add(N.fetch_add(1, Ordering::SeqCst) as u64 * 7919);
        let id = format!("9{:011}", mix % 100_000_000_000);
        Account { id, home: blank_home() }
    }

    /// The binary with this account's environment and nothing inherited from the developer's
    /// ([`isolated_command`] in the account's blank HOME), pointed at the sandbox.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = isolated_command(self.home.path());
        cmd.env("AWS_ENDPOINT_URL", &sandbox().endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", &self.id)
            .env("AWS_SECRET_ACCESS_KEY", "sandbox");
        cmd
    }

    /// `std_cmd` as an assert_cmd Command, with a timeout.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.std_cmd());
        cmd.timeout(Duration::from_secs(240));
        cmd
    }

    /// Run the binary with these arguments; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "notebook-vend {args:?} failed\nstdout: {out}\nstderr: {err}");
        out
    }

    /// Run with --output json and parse stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout of {args:?} is not JSON ({e}): {out}"))
    }

    /// A bootstrapped account with fast sandbox timings (record and notebook Pending 0.5 s).
    pub fn ready() -> Self {
        Self::bootstrapped(0.5, &[])
    }

    /// An account bootstrapped with these extra `bootstrap` arguments, sandbox timings `seconds`
    /// (record and notebook Pending).
    pub fn bootstrapped(seconds: f64, bootstrap_args: &[&str]) -> Self {
        let acct = Account::new();
        acct.configure(serde_json::json!({"record_seconds": seconds, "pending_seconds": seconds}));
        let mut args = vec!["bootstrap", "-q"];
        args.extend(bootstrap_args);
        acct.json(&args);
        acct
    }

    /// Bootstrapped fast (0.3 s), then these timings for the test's own provisions (a slow
    /// record or Pending phase to kill or interrupt the binary in).
    pub fn ready_then(record_seconds: f64, pending_seconds: f64) -> Self {
        let acct = Self::bootstrapped(0.3, &[]);
        acct.configure(serde_json::json!({"record_seconds": record_seconds, "pending_seconds": pending_seconds}));
        acct
    }

    pub fn bootstrap(&self) -> serde_json::Value {
        self.json(&["bootstrap", "-q"])
    }

    /// Every AWS request the sandbox served for this account, in order.
    pub fn requests(&self) -> Vec<Request> {
        let log = std::fs::read_to_string(sandbox().dir.join("requests.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                (f.len() >= 5 && f[1] == self.id).then(|| Request {
                    service: f[2].to_owned(),
                    operation: f[3].to_owned(),
                    status: f[4].to_owned(),
                    fault: f.get(5).and_then(|x| x.strip_prefix("fault=")).map(str::to_owned),
                })
            })
            .collect()
    }

    /// Requests served since a mark taken with `requests().len()`.
    pub fn requests_since(&self, mark: usize) -> Vec<Request> {
        self.requests().into_iter().skip(mark).collect()
    }

    /// Operations that change state (see [`is_write`]) served since `mark`.
    pub fn writes_since(&self, mark: usize) -> Vec<String> {
        self.requests_since(mark).into_iter().filter(|r| is_write(&r.operation)).map(|r| r.operation).collect()
    }

    /// Writes and presigned-URL mints since `mark`: everything a handler that found nothing to do
    /// must not have sent (a mint is not a write, but it is work done for a URL nobody stores).
    pub fn writes_and_presigns_since(&self, mark: usize) -> Vec<String> {
        self.requests_since(mark)
            .into_iter()
            .filter(|r| is_write(&r.operation) || r.operation == "CreatePresignedNotebookInstanceUrl")
            .map(|r| r.operation)
            .collect()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.requests().iter().filter(|r| r.operation == operation).count()
    }

    /// Requests of this operation that succeeded (HTTP 200).
    pub fn count_ok(&self, operation: &str) -> usize {
        self.requests().iter().filter(|r| r.operation == operation && r.status == "200").count()
    }

    /// POST /_sandbox/<name> with this account.
    pub fn control(&self, name: &str, mut body: serde_json::Value) -> serde_json::Value {
        body["account_id"] = serde_json::Value::String(self.id.clone());
        control(name, &body)
    }

    /// Tune this account's sandbox timings (record_seconds, pending_seconds, fault_rate, ...).
    pub fn configure(&self, settings: serde_json::Value) {
        self.control("config", settings);
    }

    pub fn fail_notebook(&self, name: &str, reason: &str) {
        self.control("fail-notebook", serde_json::json!({"name": name, "reason": reason}));
    }

    /// The user's URL parameter under the default prefix, decrypted, or None.
    pub async fn parameter(&self, user: &str) -> Option<aws_sdk_ssm::types::Parameter> {
        let ssm = aws_sdk_ssm::Client::new(&self.sdk().await);
        let out = ssm
            .get_parameter()
            .name(format!("/SageMaker/Notebooks/{user}-Notebook"))
            .with_decryption(true)
            .send()
            .await
            .ok()?;
        out.parameter().cloned()
    }

    /// Provisioned products in the account, through Service Catalog's ScanProvisionedProducts.
    pub async fn provisioned_count(&self) -> usize {
        let sc = aws_sdk_servicecatalog::Client::new(&self.sdk().await);
        sc.scan_provisioned_products().send().await.unwrap().provisioned_products().len()
    }

    /// An SDK configuration for direct API calls as this account (what a console user would do).
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        self.sdk_as(&self.id, "sandbox").await
    }

    /// An SDK configuration for this sandbox signed with another access key of the account (an IAM
    /// user's): the sandbox knows the caller from the key.
    pub async fn sdk_as(&self, key: &str, secret: &str) -> aws_config::SdkConfig {
        let creds = aws_sdk_sts::config::Credentials::new(key, secret, None, None, "test");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&sandbox().endpoint)
            .credentials_provider(creds)
            .load()
            .await
    }
}

/// A runtime for the SDK calls of a synchronous test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp as the binary prints them.
pub fn epoch_secs(t: &str) -> i64 {
    aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|e| panic!("not an RFC 3339 time ({e}): {t}"))
        .secs()
}

/// Does `url` start exactly as SageMaker's presigned URL of `user`'s notebook does (lower-case
/// host, `?authToken=`, case as answered)? Says nothing of the token after it.
pub fn starts_as_url_of(url: &str, user: &str) -> bool {
    url.starts_with(&format!("https://{}-notebook.notebook.us-east-1.sagemaker.aws?authToken=", user.to_lowercase()))
}

/// Is `url` a presigned URL of `user`'s notebook with a token: the prefix compared without regard
/// to case, and more than 100 characters after it.
pub fn is_url_with_token_of(url: &str, user: &str) -> bool {
    let want = format!("https://{user}-notebook.notebook.us-east-1.sagemaker.aws?authtoken=").to_lowercase();
    url.to_lowercase().starts_with(&want) && url.len() > want.len() + 100
}

/// The value of `user`'s stored URL parameter under the default prefix, or None.
pub async fn stored_url(acct: &Account, user: &str) -> Option<String> {
    acct.parameter(user).await.and_then(|p| p.value().map(str::to_owned))
}

/// Run with extra environment variables; (exit code, stdout, stderr).
pub fn run_env(acct: &Account, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = acct.cmd();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A usage error: exit 2, one `error:` line naming `named`, no panic.
pub fn assert_usage(case: &str, (code, _, err): (i32, String, String), named: &str) {
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(code, 2, "{case}: {err}");
    assert_eq!(lines.len(), 1, "{case}: {err}");
    assert!(lines[0].starts_with("error:") && lines[0].contains(named), "{case}: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{case}: {err}");
}

/// The repository's three templates in a directory, each passed through `edit(name, body)`.
pub fn templates_dir(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let body = std::fs::read_to_string(repo().join("templates").join(name)).unwrap();
        std::fs::write(dir.path().join(name), edit(name, body)).unwrap();
    }
    dir
}

/// A control call to the sandbox (never logged as an AWS request).
pub fn control(name: &str, body: &serde_json::Value) -> serde_json::Value {
    let body = body.to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", sandbox().port)).unwrap();
    write!(
        stream,
        "POST /_sandbox/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "control {name} failed: {answer}");
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// Writes are the operations that change state; a refused or dry-run command must send none.
pub fn is_write(op: &str) -> bool {
    [
        "Create",
        "Update",
        "Delete",
        "Put",
        "Provision",
        "Terminate",
        "Execute",
        "Start",
        "Stop",
        "Add",
        "Associate",
        "Remove",
    ]
    .iter()
    .any(|w| op.starts_with(w))
        && op != "CreatePresignedNotebookInstanceUrl"
}
