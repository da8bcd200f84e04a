//! End-to-end test harness: the real binary against the local sandbox (`scripts/sandbox.sh up`).
//!
//! Every test gets its own AWS account in the sandbox (a 12-digit access key id selects it), so
//! tests run in parallel without seeing each other, and the request log is filtered by account.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_notebook-vend");

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
        let home = tempfile::tempdir().unwrap();
        // Empty AWS config files: nothing from the developer's, and no SDK warning about missing ones.
        std::fs::write(home.path().join("config"), "").unwrap();
        std::fs::write(home.path().join("credentials"), "").unwrap();
        Account { id, home }
    }

    /// The binary with this account's environment and nothing inherited from the developer's:
    /// AWS_*, NOTEBOOK_VEND_* and RUST_LOG removed, a blank HOME, the sandbox endpoint.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("AWS_") || k.starts_with("NOTEBOOK_VEND_") || k == "RUST_LOG" {
                cmd.env_remove(&k);
            }
        }
        cmd.env("HOME", self.home.path())
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.path().join("credentials"))
            .env("AWS_ENDPOINT_URL", &sandbox().endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", &self.id)
            .env("AWS_SECRET_ACCESS_KEY", "sandbox")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1");
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
        let acct = Account::new();
        acct.configure(serde_json::json!({"record_seconds": 0.5, "pending_seconds": 0.5}));
        acct.bootstrap();
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

    /// An SDK configuration for direct API calls as this account (what a console user would do).
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        let creds = aws_sdk_sts::config::Credentials::new(&self.id, "sandbox", None, None, "test");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&sandbox().endpoint)
            .credentials_provider(creds)
            .load()
            .await
    }
}

/// The subcommands listed by `--help` (continuation lines of wrapped descriptions skipped).
pub fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
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
