//! An identity other than the account's root key that the binary runs as: an IAM user's access
//! key, or a role session's temporary credentials, put in the child's environment.

use serde_json::Value;

use super::Account;

pub struct Caller {
    /// The notebook user this identity stands for.
    pub user: String,
    /// Its ARN as STS names it (shown when a command fails).
    pub arn: String,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for a session, AWS_SESSION_TOKEN.
    pub env: Vec<(&'static str, String)>,
}

impl Caller {
    /// An IAM user with an access key.
    pub fn with_key(user: &str, arn: &str, key: &str, secret: &str) -> Self {
        Caller {
            user: user.to_owned(),
            arn: arn.to_owned(),
            env: vec![("AWS_ACCESS_KEY_ID", key.to_owned()), ("AWS_SECRET_ACCESS_KEY", secret.to_owned())],
        }
    }

    /// The binary in the account's environment, signed with this identity instead of root's:
    /// (exit code, stdout, stderr).
    pub fn run(&self, acct: &Account, args: &[&str]) -> (i32, String, String) {
        let mut cmd = assert_cmd::Command::from_std(acct.std_cmd());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.timeout(std::time::Duration::from_secs(240));
        let out = cmd.args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run and require exit 0: a permission missing from the identity's policy fails here.
    pub fn ok(&self, acct: &Account, args: &[&str]) -> String {
        let (code, out, err) = self.run(acct, args);
        assert_eq!(
            code, 0,
            "{} ({}) ran notebook-vend {args:?}: exit {code}\nstdout: {out}\nstderr: {err}",
            self.user, self.arn
        );
        out
    }

    /// [`Caller::ok`] with `--output json`, parsed.
    pub fn json(&self, acct: &Account, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.ok(acct, &all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout of {args:?} is not JSON ({e}): {out}"))
    }
}
