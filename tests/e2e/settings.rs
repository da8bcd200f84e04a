//! Settings: flag > NOTEBOOK_VEND_* environment > notebook-vend.toml > default, for every
//! subcommand that takes a setting, observed in what the command did and in what `config show`
//! reports; `--profile` over the environment's credentials; a settings file that cannot be read,
//! or holds a bad key or value, is exit 2 naming the file and the key.
//!
//! The precedence table: (subcommand, how to run it, how to read back the value it used). For each
//! row the same three layerings run: the file alone; the file and the environment; file,
//! environment and flags. Each layer sets a different value, so a command that skips a layer fails
//! its row.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use crate::support::{assert_usage, epoch_secs, run_env, Account};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Value};

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

fn setting<'a>(shown: &'a Value, key: &str) -> (&'a str, &'a Value) {
    let s = shown["settings"].as_array().unwrap().iter().find(|s| s["key"] == key).unwrap();
    (s["value"].as_str().unwrap(), &s["origin"])
}

#[test]
fn config_show_reports_flag_over_env_over_file_over_default() {
    let acct = Account::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notebook-vend.toml"),
        "[default]\nssm_prefix = \"/file/\"\nsession_seconds = 3600\nconcurrency = 3\n\n[prod]\nsession_seconds = 7200\n",
    )
    .unwrap();
    let show = |extra: &[&str], env: &[(&str, &str)]| -> Value {
        let mut cmd = acct.cmd();
        cmd.current_dir(dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut args = vec!["config", "show", "--output", "json"];
        args.extend(extra);
        let out = cmd.args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // default < file
    let s = show(&[], &[]);
    assert_eq!(setting(&s, "s3_stack"), ("s3-iam-config", &json!({"kind": "default"})));
    assert_eq!(setting(&s, "ssm_prefix").0, "/file/");
    assert_eq!(setting(&s, "ssm_prefix").1["kind"], "file");
    assert_eq!(setting(&s, "session_seconds").0, "3600");
    // file < environment
    let s = show(&[], &[("NOTEBOOK_VEND_SSM_PREFIX", "/env/")]);
    assert_eq!(setting(&s, "ssm_prefix"), ("/env/", &json!({"kind": "env", "at": "NOTEBOOK_VEND_SSM_PREFIX"})));
    // environment < flag
    let s = show(&["--ssm-prefix", "/flag/"], &[("NOTEBOOK_VEND_SSM_PREFIX", "/env/")]);
    assert_eq!(setting(&s, "ssm_prefix"), ("/flag/", &json!({"kind": "flag"})));
    // a named environment overrides [default] and keeps the rest
    let s = show(&["--env", "prod"], &[]);
    assert_eq!(setting(&s, "session_seconds").0, "7200");
    assert!(setting(&s, "session_seconds").1["at"].as_str().unwrap().ends_with("notebook-vend.toml [prod]"));
    assert_eq!(setting(&s, "concurrency").0, "3");
    assert!(setting(&s, "concurrency").1["at"].as_str().unwrap().ends_with("notebook-vend.toml [default]"));
    // --name derives the names; an explicit one still wins
    let s = show(&["--name", "team-b", "--s3-stack", "mine"], &[]);
    assert_eq!(setting(&s, "catalog_stack").0, "team-b-service-catalog-config");
    assert_eq!(setting(&s, "s3_stack"), ("mine", &json!({"kind": "flag"})));
}

#[test]
fn settings_from_the_file_reach_the_command() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let file = acct.home.path().join("team.toml");
    std::fs::write(&file, "[default]\nname = \"team-c\"\nsession_seconds = 1800\nparameter_type = \"String\"\n")
        .unwrap();
    let cfg = file.to_str().unwrap();
    acct.ok(&["--config", cfg, "bootstrap", "-q"]);
    let out = acct.json(&["--config", cfg, "provision", "--user", "zoe"]);
    assert_eq!(out["parameter"], "/SageMaker/Notebooks/team-c/zoe-Notebook");
    assert_eq!(out["parameter_type"], "String");
    let secs = |k: &str| epoch_secs(out[k].as_str().unwrap());
    assert_eq!(secs("session_expires") - secs("stored_at"), 1800);
    // A flag still wins over the file.
    let out = acct.json(&["--config", cfg, "refresh", "--user", "zoe", "--parameter-type", "SecureString"]);
    assert_eq!(out["parameter_type"], "SecureString");
}

/// `--profile` outranks environment credentials (as the AWS CLI does), and a profile that does not
/// exist is exit 2 before any request (never a fall back to the environment's keys).
#[test]
fn an_explicit_profile_wins_over_environment_credentials() {
    let env_acct = Account::new();
    let profile_acct = Account::new();
    let creds = format!("[other]\naws_access_key_id = {}\naws_secret_access_key = sandbox\n", profile_acct.id);
    std::fs::write(env_acct.home.path().join("credentials"), creds).unwrap();
    env_acct.run(&["--profile", "other", "doctor"]);
    assert!(env_acct.requests().is_empty(), "the environment's keys were used: {:?}", env_acct.requests());
    assert!(!profile_acct.requests().is_empty(), "the profile's keys were not used");

    for args in [vec!["--profile", "doesnotexist", "list"], vec!["list", "--profile", "doesnotexist"]] {
        let (code, _, err) = env_acct.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("doesnotexist"), "{err}");
    }
    let out = env_acct.cmd().env("AWS_PROFILE", "doesnotexist").args(["list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env_acct.requests().is_empty(), "{:?}", env_acct.requests());
}

#[test]
fn bad_config_files_exit_2_naming_key_and_file() {
    let acct = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[default]\nsesion_seconds = 3600\n", "sesion_seconds"),
        ("[default]\nsession_seconds = \"long\"\n", "session_seconds"),
        ("[default]\nsession_seconds = 100\n", "session_seconds"),
        ("[default]\nparameter_type = \"Plain\"\n", "parameter_type"),
        ("[default]\nprincipal = \"bob\"\n", "principal"),
        ("[default]\nssm_prefix = \"nope\"\n", "ssm_prefix"),
        ("[default]\nconcurrency = 0\n", "concurrency"),
        ("name = \"top-level\"\n", "name"),
        ("[default\n", "notebook-vend.toml"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("{i}-notebook-vend.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = acct.run(&["--config", path.to_str().unwrap(), "list"]);
        assert_eq!(code, 2, "{text}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{text}: {err}");
        assert!(err.contains(key) && err.contains(path.to_str().unwrap()), "{text}: {err}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[default]\n").unwrap();
    let (code, _, err) = acct.run(&["--config", good.to_str().unwrap(), "--env", "prod", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("[prod]"), "{err}");
    let (code, _, err) = acct.run(&["--config", "/nonexistent.toml", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.toml"), "{err}");
    assert!(acct.requests().is_empty());
}

/// A settings file that is a directory or a broken symlink is an error naming it, not ignored (the
/// run would go on with the default names); a value over its limit is cut in the error line, not
/// quoted whole.
#[test]
fn unreadable_settings_files_and_huge_values_are_named_and_cut() {
    let acct = Account::new();
    let file = acct.home.path().join("notebook-vend.toml");
    std::fs::create_dir(&file).unwrap();
    assert_usage("directory", acct.run(&["list"]), "notebook-vend.toml");
    std::fs::remove_dir(&file).unwrap();
    std::os::unix::fs::symlink(acct.home.path().join("nowhere.toml"), &file).unwrap();
    assert_usage("broken symlink", acct.run(&["list"]), "notebook-vend.toml");
    std::fs::remove_file(&file).unwrap();
    // The same one in the user config directory.
    let xdg = acct.home.path().join(".config").join("notebook-vend");
    std::fs::create_dir_all(xdg.join("notebook-vend.toml")).unwrap();
    assert_usage("directory in ~/.config", acct.run(&["list"]), "notebook-vend.toml");
    std::fs::remove_dir(xdg.join("notebook-vend.toml")).unwrap();
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());

    // A 100 KB value (an argument holds at most 128 KB), from the file, the environment, a flag, and a line toml cannot parse.
    let huge = "p".repeat(100_000);
    let bad_huge = format!("{huge}!");
    std::fs::write(&file, format!("[default]\nproduct_name = \"{huge}{huge}{huge}{huge}{huge}{huge}{huge}{huge}x\"\n"))
        .unwrap();
    let cases = [
        ("file", run_env(&acct, &[], &["list"])),
        ("toml syntax", {
            std::fs::write(&file, format!("[default]\nname = {huge}\n")).unwrap();
            run_env(&acct, &[], &["list"])
        }),
        ("environment", {
            std::fs::remove_file(&file).unwrap();
            run_env(&acct, &[("NOTEBOOK_VEND_SSM_PREFIX", &bad_huge)], &["list"])
        }),
        ("flag", run_env(&acct, &[], &["list", "--s3-stack", &bad_huge])),
        ("user", run_env(&acct, &[], &["status", "--user", &huge])),
    ];
    for (case, (code, _, err)) in cases {
        assert_eq!(code, 2, "{case}: {}", &err[..err.len().min(300)]);
        assert!(err.len() < 1000, "{case}: an error line of {} bytes", err.len());
    }
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}
