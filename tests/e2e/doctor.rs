//! `doctor`: every check passes on a bootstrapped account; an empty account and a stack changed by
//! hand fail with the fix to run.

use crate::support::Account;

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
