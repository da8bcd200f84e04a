//! Settings precedence, flag > NOTEBOOK_VEND_* environment > notebook-vend.toml > default, for every
//! subcommand that takes a setting, observed in what the command did (not in `config show`).
//!
//! One table: (subcommand, how to run it, how to read back the value it used). For each row the
//! same three layerings run: the file alone; the file and the environment; file, environment and
//! flags. Each layer sets a different value, so a command that skips a layer fails its row.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use crate::support::Account;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layer {
    File,
    Env,
    Flag,
}

const LAYERS: [Layer; 3] = [Layer::File, Layer::Env, Layer::Flag];

/// One setting's value in each layer, its file key, environment variable and flag.
struct Setting {
    key: &'static str,
    var: &'static str,
    flag: &'static str,
    values: [&'static str; 3],
}

const SESSION: Setting = Setting {
    key: "session_seconds",
    var: "NOTEBOOK_VEND_SESSION_SECONDS",
    flag: "--session-seconds",
    values: ["1800", "3600", "7200"],
};
const PARAMETER_TYPE: Setting = Setting {
    key: "parameter_type",
    var: "NOTEBOOK_VEND_PARAMETER_TYPE",
    flag: "--parameter-type",
    values: ["String", "SecureString", "String"],
};
const INSTANCE_TYPE: Setting = Setting {
    key: "instance_type",
    var: "NOTEBOOK_VEND_INSTANCE_TYPE",
    flag: "--instance-type",
    values: ["ml.t2.medium", "ml.t3.large", "ml.t3.medium"],
};

impl Setting {
    fn file_line(&self) -> String {
        let v = self.values[0];
        if v.parse::<i64>().is_ok() {
            format!("{} = {v}\n", self.key)
        } else {
            format!("{} = {v:?}\n", self.key)
        }
    }
    fn expected(&self, layer: Layer) -> &'static str {
        self.values[layer as usize]
    }
}

/// The environment variables and flags of `settings` for a layering (the file is always there).
fn layered(settings: &[&Setting], layer: Layer) -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut flags = Vec::new();
    for s in settings {
        if layer != Layer::File {
            env.push((s.var.to_owned(), s.values[1].to_owned()));
        }
        if layer == Layer::Flag {
            flags.extend([s.flag.to_owned(), s.values[2].to_owned()]);
        }
    }
    (env, flags)
}

fn config_file(acct: &Account, settings: &[&Setting], extra: &str) -> String {
    let path = acct.home.path().join("settings.toml");
    let mut text = String::from("[default]\n");
    text.push_str(extra);
    for s in settings {
        text.push_str(&s.file_line());
    }
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn run_with(acct: &Account, args: &[String], env: &[(String, String)]) -> String {
    let mut cmd = acct.cmd();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "notebook-vend {args:?} {env:?} failed\nstdout: {stdout}\nstderr: {stderr}");
    stdout.into_owned()
}

/// Session length and type of the user's stored URL, read back from SSM (the description says when
/// it was minted and when the session ends).
async fn stored(acct: &Account, user: &str) -> (String, String) {
    let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
    let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(format!("/SageMaker/Notebooks/{user}-Notebook"))
        .build()
        .unwrap();
    let found = ssm.describe_parameters().parameter_filters(filter).send().await.unwrap();
    let p = found.parameters().first().cloned().unwrap_or_else(|| panic!("no parameter for {user}"));
    let d = p.description().unwrap_or_default().to_owned();
    let at = |from: &str, to: &str| {
        let s = d.split_once(from).unwrap_or_else(|| panic!("{from:?} not in {d:?}")).1;
        let s = s.split(to).next().unwrap().trim();
        DateTime::from_str(s, Format::DateTime).unwrap().secs()
    };
    let session = at(" minted ", " by ").abs_diff(at("session expires ", "\u{0}"));
    (session.to_string(), p.r#type().unwrap().as_str().to_owned())
}

/// `serve` with these layers: one POST /refreshurl for `user`, then SIGTERM.
fn serve_once(acct: &Account, cfg: &str, user: &str, env: &[(String, String)], flags: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("settings-{}-0123456789abcdef", acct.id);
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let mut cmd = acct.std_cmd();
    cmd.args(["--config", cfg, "serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(dir.path().join("token"))
        .args(flags)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited before listening").unwrap();
        if let Some((_, a)) = line.split_once("listening on ") {
            break a.trim().trim_start_matches("http://").to_owned();
        }
    };
    let body = json!({"notebook_user_name": user}).to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /refreshurl HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "serve answered {answer}");
}

#[tokio::test]
async fn every_url_storing_command_applies_flag_over_env_over_file() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let cfg = config_file(&acct, &[&SESSION, &PARAMETER_TYPE], "");
    run_with(&acct, &["--config".into(), cfg.clone(), "bootstrap".into(), "-q".into()], &[]);
    let base = |args: &[&str]| -> Vec<String> {
        ["--config", &cfg].iter().chain(args.iter()).map(|s| s.to_string()).collect::<Vec<_>>()
    };

    // (subcommand, run it for `user` with these env vars and flags; the user's URL is then stored)
    type Runner<'a> = Box<dyn Fn(&str, &[(String, String)], &[String]) + 'a>;
    let rows: Vec<(&str, Runner)> = vec![
        (
            "provision",
            Box::new(|user, env, flags| {
                let mut a = base(&["provision", "--user", user]);
                a.extend_from_slice(flags);
                run_with(&acct, &a, env);
            }),
        ),
        (
            "refresh",
            Box::new(|user, env, flags| {
                run_with(&acct, &base(&["provision", "--user", user]), &[]);
                let mut a = base(&["refresh", "--user", user]);
                a.extend_from_slice(flags);
                run_with(&acct, &a, env);
            }),
        ),
        (
            "start --refresh",
            Box::new(|user, env, flags| {
                run_with(&acct, &base(&["provision", "--user", user]), &[]);
                run_with(&acct, &base(&["stop", "--user", user]), &[]);
                let mut a = base(&["start", "--user", user, "--refresh"]);
                a.extend_from_slice(flags);
                run_with(&acct, &a, env);
            }),
        ),
        (
            "watch",
            Box::new(|user, env, flags| {
                run_with(&acct, &base(&["provision", "--user", user, "--no-wait"]), &[]);
                let mut a = base(&["watch", "--once"]);
                a.extend_from_slice(flags);
                run_with(&acct, &a, env);
            }),
        ),
        (
            "serve",
            Box::new(|user, env, flags| {
                run_with(&acct, &base(&["provision", "--user", user]), &[]);
                serve_once(&acct, &cfg, user, env, flags);
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (name, run)) in rows.iter().enumerate() {
        for (j, layer) in LAYERS.into_iter().enumerate() {
            let user = format!("s{i}{j}");
            let (env, flags) = layered(&[&SESSION, &PARAMETER_TYPE], layer);
            run(&user, &env, &flags);
            let got = stored(&acct, &user).await;
            let want = (SESSION.expected(layer).to_owned(), PARAMETER_TYPE.expected(layer).to_owned());
            if got != want {
                failures.push(format!("{name} with {layer:?} on top: used {got:?}, expected {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn provision_instance_type_applies_flag_over_env_over_file() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let cfg = config_file(&acct, &[&INSTANCE_TYPE], "");
    run_with(&acct, &["--config".into(), cfg.clone(), "bootstrap".into(), "-q".into()], &[]);
    for (j, layer) in LAYERS.into_iter().enumerate() {
        let user = format!("it{j}");
        let (env, flags) = layered(&[&INSTANCE_TYPE], layer);
        let mut args: Vec<String> = ["--config", &cfg, "provision", "--user", &user].map(String::from).to_vec();
        args.extend(flags);
        run_with(&acct, &args, &env);
        let status = acct.json(&["status", "--user", &user]);
        assert_eq!(status["notebook"]["instance_type"], INSTANCE_TYPE.expected(layer), "{layer:?}: {status}");
    }
}

#[test]
fn bootstrap_principal_applies_flag_over_env_over_file() {
    let acct = Account::new();
    let arn = |who: &str| format!("arn:aws:iam::{}:role/{who}", acct.id);
    let (file, env, flag) = (arn("FromFile"), arn("FromEnv"), arn("FromFlag"));
    let cfg = acct.home.path().join("p.toml");
    std::fs::write(&cfg, format!("[default]\nprincipal = {file:?}\n")).unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let plan = |env_vars: &[(String, String)], flags: &[&str]| -> String {
        let mut args: Vec<String> =
            ["--config", &cfg, "bootstrap", "--dry-run", "--output", "json"].map(String::from).to_vec();
        args.extend(flags.iter().map(|s| s.to_string()));
        let out: serde_json::Value = serde_json::from_str(&run_with(&acct, &args, env_vars)).unwrap();
        out["principal"].as_str().unwrap().to_owned()
    };
    let env_vars = [("NOTEBOOK_VEND_PRINCIPAL".to_owned(), env.clone())];
    assert_eq!(plan(&[], &[]), file);
    assert_eq!(plan(&env_vars, &[]), env);
    assert_eq!(plan(&env_vars, &["--principal", &flag]), flag);
}

/// Deployment names are global: the file's, the environment's and a flag's prefix each decide
/// where `provision` stores the URL.
#[test]
fn deployment_names_apply_flag_over_env_over_file() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let cfg = acct.home.path().join("n.toml");
    std::fs::write(&cfg, "[default]\nssm_prefix = \"/file/\"\n").unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    run_with(&acct, &["--config".into(), cfg.clone(), "bootstrap".into(), "-q".into()], &[]);
    let env = [("NOTEBOOK_VEND_SSM_PREFIX".to_owned(), "/env/".to_owned())];
    for (user, env, flags, want) in [
        ("n0", &[][..], &[][..], "/file/n0-Notebook"),
        ("n1", &env[..], &[][..], "/env/n1-Notebook"),
        ("n2", &env[..], &["--ssm-prefix", "/flag/"][..], "/flag/n2-Notebook"),
    ] {
        let mut args: Vec<String> =
            ["--config", &cfg, "provision", "--user", user, "--output", "json"].map(String::from).to_vec();
        args.extend(flags.iter().map(|s| s.to_string()));
        let out: serde_json::Value = serde_json::from_str(&run_with(&acct, &args, env)).unwrap();
        assert_eq!(out["parameter"], want);
    }
}

/// An environment value is a default, not an explicit flag: it never conflicts with another flag
/// (NOTEBOOK_VEND_CONCURRENCY used to make `refresh --user` a usage error).
#[test]
fn environment_settings_do_not_conflict_with_flags() {
    let acct = Account::new();
    for args in [&["refresh", "--user", "a"][..], &["url", "--user", "a", "--stored"][..]] {
        let mut cmd = acct.cmd();
        cmd.args(args).env("NOTEBOOK_VEND_CONCURRENCY", "4").env("NOTEBOOK_VEND_SESSION_SECONDS", "1800");
        let out = cmd.output().unwrap();
        assert_ne!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
