//! The hardened product: provision flags reach the notebook, bad values are refused before any
//! write, per-team instance types, cull.

use crate::support::{is_write, rt, Account};
use serde_json::json;
#[test]
fn provision_flags_reach_the_notebook() {
    let acct = Account::bootstrapped(0.3, &[]);
    acct.ok(&[
        "provision",
        "--user",
        "alice",
        "-q",
        "--kms-key",
        "alias/team-notebooks",
        "--subnet",
        "subnet-0123456789abcdef0",
        "--security-group",
        "sg-0123456789abcdef0",
        "--volume-gb",
        "20",
        "--idle-minutes",
        "30",
        "--root-access",
        "Enabled",
        "--instance-type",
        "ml.t3.large",
    ]);
    rt().block_on(async {
        let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
        let nb = sm.describe_notebook_instance().notebook_instance_name("alice-Notebook").send().await.unwrap();
        assert_eq!(nb.kms_key_id(), Some("alias/team-notebooks"));
        assert_eq!(nb.subnet_id(), Some("subnet-0123456789abcdef0"));
        assert_eq!(nb.security_groups(), ["sg-0123456789abcdef0"]);
        assert_eq!(
            nb.direct_internet_access().map(|d| d.as_str()),
            Some("Disabled"),
            "a subnet turns direct internet off"
        );
        assert_eq!(nb.root_access().map(|r| r.as_str()), Some("Enabled"));
        assert_eq!(nb.volume_size_in_gb(), Some(20));
        assert_eq!(nb.instance_type().map(|t| t.as_str()), Some("ml.t3.large"));
        assert_eq!(nb.notebook_instance_lifecycle_config_name(), Some("alice-idlestop"));
        let lc = sm
            .describe_notebook_instance_lifecycle_config()
            .notebook_instance_lifecycle_config_name("alice-idlestop")
            .send()
            .await
            .unwrap();
        assert_eq!(lc.on_start().len(), 1, "the idle-stop script runs on start");
    });
}

#[test]
fn safe_defaults_without_flags() {
    let acct = Account::bootstrapped(0.3, &[]);
    acct.ok(&["provision", "--user", "bob", "-q"]);
    rt().block_on(async {
        let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
        let nb = sm.describe_notebook_instance().notebook_instance_name("bob-Notebook").send().await.unwrap();
        assert_eq!(nb.root_access().map(|r| r.as_str()), Some("Disabled"));
        assert_eq!(nb.notebook_instance_lifecycle_config_name(), Some("bob-idlestop"));
        assert_eq!(nb.volume_size_in_gb(), Some(10));
    });
}

#[test]
fn invalid_product_values_exit_2_before_any_write() {
    let acct = Account::bootstrapped(0.3, &[]);
    let mark = acct.requests().len();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--volume-gb", "4"], "4"),
        (vec!["--volume-gb", "513"], "513"),
        (vec!["--idle-minutes", "1441"], "1441"),
        (vec!["--root-access", "yes"], "yes"),
        (vec!["--subnet", "vpc-12345678"], "vpc-12345678"),
        (vec!["--security-group", "sg-12345678"], "--subnet"),
        (vec!["--kms-key", "bad key"], "bad key"),
        (vec!["--param", "NoSuchParameter=1"], "NoSuchParameter"),
        (vec!["--param", "VolumeSizeInGB=600"], "VolumeSizeInGB"),
        (vec!["--param", "PlatformIdentifier=windows"], "windows"),
        (vec!["--param", "NotebookInstanceType=ml.p3.2xlarge"], "ml.p3.2xlarge"),
        (vec!["--instance-type", "ml.p3.2xlarge"], "ml.p3.2xlarge"),
        (vec!["--param", "NotebookUserName=eve"], "NotebookUserName"),
        (vec!["--volume-gb", "20", "--param", "VolumeSizeInGB=30"], "VolumeSizeInGB"),
        (vec!["--param", "novalue"], "novalue"),
    ];
    for (extra, named) in cases {
        let mut args = vec!["provision", "--user", "carol"];
        args.extend(&extra);
        let (code, _, err) = acct.run(&args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(named), "{extra:?}: error does not name {named:?}: {err}");
    }
    let writes: Vec<_> = acct.requests_since(mark).into_iter().filter(|r| is_write(&r.operation)).collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn allowed_instance_types_limit_the_product() {
    let acct = Account::bootstrapped(0.3, &["--allowed-instance-types", "ml.t3.large,ml.t3.xlarge"]);
    let (code, _, err) = acct.run(&["provision", "--user", "dan", "--instance-type", "ml.t3.medium"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must be one of ml.t3.large, ml.t3.xlarge"), "{err}");
    // Without --instance-type the product's default moved into the list.
    acct.ok(&["provision", "--user", "dan", "-q"]);
    let (code, _, err) = acct.run(&["bootstrap", "--allowed-instance-types", "ml.p3.2xlarge"]);
    assert_eq!(code, 2);
    assert!(err.contains("ml.p3.2xlarge is not offered"), "{err}");
}

#[test]
fn cull_stops_exactly_the_notebooks_older_than_the_limit() {
    let acct = Account::bootstrapped(0.3, &[]);
    acct.ok(&["provision", "--user", "old", "-q"]);
    std::thread::sleep(std::time::Duration::from_secs(4));
    acct.ok(&["provision", "--user", "new", "-q"]);

    let plan = acct.json(&["cull", "--max-age", "3s", "--dry-run"]);
    assert_eq!(plan["stopped"], 1);
    assert_eq!(acct.count("StopNotebookInstance"), 0, "--dry-run stops nothing");
    let rows = plan["notebooks"].as_array().unwrap();
    let action = |user: &str| rows.iter().find(|r| r["user"] == user).unwrap()["action"].as_str().unwrap().to_owned();
    assert_eq!(action("old"), "would stop");
    assert_eq!(action("new"), "kept");

    let done = acct.json(&["cull", "--max-age", "3s"]);
    assert_eq!(done["stopped"], 1);
    assert_eq!(acct.count("StopNotebookInstance"), 1);
    let rows = done["notebooks"].as_array().unwrap();
    assert_eq!(rows.iter().find(|r| r["user"] == "old").unwrap()["action"], "stopped");
    let (code, _, err) = acct.run(&["cull", "--max-age", "soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("soon"), "{err}");
}

#[test]
fn two_named_deployments_side_by_side_and_teardown_of_one_leaves_the_other() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let a = acct.json(&["--name", "team-a", "bootstrap", "-q"]);
    let b = acct.json(&["--name", "team-b", "bootstrap", "-q"]);
    assert_ne!(a["product_id"], b["product_id"]);
    assert_ne!(a["bucket"], b["bucket"]);
    assert_eq!(a["stacks"][0]["name"], "team-a-s3-iam-config");
    assert_eq!(b["stacks"][1]["name"], "team-b-service-catalog-config");
    let pa = acct.json(&["--name", "team-a", "provision", "--user", "ann"]);
    let pb = acct.json(&["--name", "team-b", "provision", "--user", "ben"]);
    assert_eq!(pa["parameter"], "/SageMaker/Notebooks/team-a/ann-Notebook");
    assert_eq!(pb["parameter"], "/SageMaker/Notebooks/team-b/ben-Notebook");
    let users = |name: &str| -> Vec<String> {
        let list = acct.json(&["--name", name, "list"]);
        list.as_array().unwrap().iter().map(|r| r["user"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(users("team-a"), ["ann"]);
    assert_eq!(users("team-b"), ["ben"]);

    acct.ok(&["--name", "team-a", "teardown", "--terminate-notebooks", "--yes", "-q"]);
    assert_eq!(acct.json(&["--name", "team-b", "doctor"])["ok"], true);
    assert_eq!(users("team-b"), ["ben"]);
    let (code, _, _) = acct.run(&["--name", "team-a", "doctor"]);
    assert_eq!(code, 1, "team-a is gone");
    let stored = acct.ok(&["--name", "team-b", "url", "--user", "ben", "--stored"]);
    assert!(stored.starts_with("https://ben-notebook."), "{stored}");
}
