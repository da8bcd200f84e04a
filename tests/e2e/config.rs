//! Settings file, precedence, completions, man page, doctor.

use crate::support::{self, epoch_secs, Account};
use serde_json::{json, Value};

fn setting<'a>(shown: &'a Value, key: &str) -> (&'a str, &'a Value) {
    let s = shown["settings"].as_array().unwrap().iter().find(|s| s["key"] == key).unwrap();
    (s["value"].as_str().unwrap(), &s["origin"])
}

#[test]
fn precedence_flag_env_file_default() {
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

#[test]
fn completions_and_man_cover_every_subcommand() {
    let acct = Account::new();
    let help = acct.ok(&["--help"]);
    let subcommands = support::subcommands(&help);
    assert!(subcommands.len() >= 15, "{subcommands:?}");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = acct.ok(&["completions", shell]);
        for sub in &subcommands {
            assert!(script.contains(sub.as_str()), "{shell} completion lacks {sub}");
        }
    }
    let man = acct.ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH notebook-vend 1"), "{}", &man[..200]);
    for sub in &subcommands {
        assert!(man.contains(&format!(".TH notebook-vend-{sub} ")), "man lacks a page for {sub}");
    }
    assert!(acct.requests().is_empty());
}

#[test]
fn doctor_all_ok_on_a_bootstrapped_account() {
    let acct = Account::new();
    acct.bootstrap();
    let report = acct.json(&["doctor"]);
    assert_eq!(report["ok"], true, "{report:#}");
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{report:#}");
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for want in [
        "credentials",
        "region",
        "stack s3-iam-config",
        "template service-catalog-config",
        "product template",
        "product",
        "ssm prefix",
    ] {
        assert!(names.contains(&want), "{want} not checked: {names:?}");
    }
}

#[test]
fn doctor_fails_on_an_empty_account_and_on_drift() {
    let acct = Account::new();
    let (code, out, _) = acct.run(&["doctor"]);
    assert_eq!(code, 1);
    for line in ["FAIL  stack s3-iam-config", "FAIL  stack service-catalog-config", "FAIL  product "] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    assert!(out.contains("fix: notebook-vend bootstrap"), "{out}");

    let drifted = Account::new();
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let mut body = std::fs::read_to_string(format!("templates/{name}")).unwrap();
        if name == "s3-iam-config.yml" {
            body.push_str("\n# changed by hand\n");
        }
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    drifted.ok(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    let (code, out, _) = drifted.run(&["doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  template s3-iam-config") && out.contains("differs"), "{out}");
    assert!(out.contains("ok    template service-catalog-config"), "{out}");
}
