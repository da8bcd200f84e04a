//! `update` never loses a notebook, whatever the new product version's template looks like, and
//! only what the user passes to `update` changes a notebook.

use crate::support::Account;
use crate::update::{notebook, pp};

/// The repository's templates in a directory, the product template replaced by `product`.
pub(crate) fn templates_with_product(product: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml"] {
        std::fs::copy(format!("templates/{name}"), dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join("sm-notebook.yml"), product).unwrap();
    dir
}

/// A product version written in flow-style YAML (valid for CloudFormation, cfn-lint clean), with
/// the notebook under `logical_id` and `PlatformIdentifier` set to `platform` (a YAML value).
pub(crate) fn flow_product(logical_id: &str, platform: &str) -> String {
    r#"AWSTemplateFormatVersion: '2010-09-09'
Parameters: {NotebookInstanceType: {Type: String, Default: ml.t3.medium, AllowedValues: [ml.t2.medium, ml.t3.medium, ml.t3.large]},
  S3IAMConfigStackName: {Type: String, Default: s3-iam-config},
  NotebookUserName: {Type: String, Default: Demo-User},
  KmsKeyId: {Type: String, Default: ''},
  SubnetId: {Type: String, Default: ''},
  SecurityGroupIds: {Type: CommaDelimitedList, Default: ''},
  DirectInternetAccess: {Type: String, Default: Disabled, AllowedValues: [Disabled, Enabled]},
  PlatformIdentifier: {Type: String, Default: notebook-al2023-v1, AllowedValues: [notebook-al2023-v1, notebook-al2-v3]}}
Conditions: {InVpc: !Not [!Equals [!Ref SubnetId, '']],
  HasSecurityGroups: !And [!Not [!Equals [!Ref SubnetId, '']], !Not [!Equals [!Join ['', !Ref SecurityGroupIds], '']]],
  HasKmsKey: !Not [!Equals [!Ref KmsKeyId, '']]}
Resources: {LOGICAL: {Type: 'AWS::SageMaker::NotebookInstance', Properties: {
  NotebookInstanceName: !Sub '${NotebookUserName}-Notebook', InstanceType: !Ref NotebookInstanceType,
  RoleArn: {'Fn::ImportValue': !Sub '${S3IAMConfigStackName}-SageMakerNotebookInstanceRole-ARN'},
  PlatformIdentifier: PLATFORM,
  KmsKeyId: !If [HasKmsKey, !Ref KmsKeyId, !Ref 'AWS::NoValue'],
  SubnetId: !If [InVpc, !Ref SubnetId, !Ref 'AWS::NoValue'],
  SecurityGroupIds: !If [HasSecurityGroups, !Ref SecurityGroupIds, !Ref 'AWS::NoValue'],
  DirectInternetAccess: !If [InVpc, !Ref DirectInternetAccess, Enabled]}}}
Outputs: {NotebookUserName: {Value: !Ref NotebookUserName}}
"#
    .replace("LOGICAL", logical_id)
    .replace("PLATFORM", platform)
}

/// The repository's product template without its notebook resource (cfn-lint only warns).
fn product_without_the_notebook() -> String {
    let body = std::fs::read_to_string("templates/sm-notebook.yml").unwrap();
    let cut = body.find("\n  Notebook:\n").expect("the product template has a Notebook resource");
    body[..cut].to_owned() + "\n\nOutputs:\n  NotebookUserName:\n    Value: !Ref NotebookUserName\n"
}

/// The notebook and its product as they were, and nothing written since `mark`.
fn untouched(acct: &Account, user: &str, created: i64, artifact: &str, mark: usize) {
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    let nb = notebook(acct, user);
    assert_eq!((nb.created, nb.status.as_str()), (created, "InService"), "{user}: the notebook was touched");
    assert_eq!(pp(acct, user), ("AVAILABLE".to_owned(), artifact.to_owned()));
}

/// Checked failing before the fix: the plan fell back to parameter names ("template is
/// unreadable") and sent the update; the notebook went Deleting -> Deleted.
#[test]
fn a_version_without_the_notebook_is_refused_for_one_user_and_for_all() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ann", "-q"]);
    acct.ok(&["provision", "--user", "ben", "-q"]);
    let (ann, ben) = (notebook(&acct, "ann").created, notebook(&acct, "ben").created);
    let artifact = pp(&acct, "ann").1;
    let dir = templates_with_product(&product_without_the_notebook());
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "ann", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("no AWS::SageMaker::NotebookInstance") && err.contains("would delete the notebook"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    untouched(&acct, "ann", ann, &artifact, mark);

    let (code, out, err) = acct.run(&["update", "--all", "--outdated", "--output", "json"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all["failed"], 2, "{all}");
    untouched(&acct, "ann", ann, &artifact, mark);
    untouched(&acct, "ben", ben, &artifact, mark);
}

/// Checked failing before the fix: the line scanner did not see a flow-style notebook, reported
/// "in place" and the rename replaced the notebook.
#[test]
fn a_flow_style_version_that_renames_the_notebook_is_refused() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "cal", "-q"]);
    let created = notebook(&acct, "cal").created;
    let artifact = pp(&acct, "cal").1;
    let dir = templates_with_product(&flow_product("Workbench", "!Ref PlatformIdentifier"));
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let mark = acct.requests().len();
    let plan = acct.json(&["update", "--user", "cal", "--dry-run"]);
    assert_eq!(plan["effect"], "replaces_the_notebook", "{plan}");
    let (code, out, err) = acct.run(&["update", "--user", "cal", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("replaces the notebook cal-Notebook"), "{err}");
    assert!(err.contains("logical ID Notebook -> Workbench"), "{err}");
    untouched(&acct, "cal", created, &artifact, mark);
}

/// Checked failing before the fix: sent, the product TAINTED, and `status` advising the same update.
#[test]
fn a_flow_style_version_that_hard_codes_a_create_only_property_is_refused() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "dee", "-q"]);
    let created = notebook(&acct, "dee").created;
    let artifact = pp(&acct, "dee").1;
    let dir = templates_with_product(&flow_product("Notebook", "notebook-al2-v3"));
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "dee", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("replaces the notebook dee-Notebook") && err.contains("PlatformIdentifier"), "{err}");
    untouched(&acct, "dee", created, &artifact, mark);
}

/// Checked failing before the fix: `NOTEBOOK_VEND_INSTANCE_TYPE=... update --all` resized and
/// restarted every notebook, and `instance_type` in notebook-vend.toml did the same for one.
#[test]
fn provisioning_defaults_never_become_update_changes() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "eli", "-q"]);
    let before = notebook(&acct, "eli");
    let mark = acct.requests().len();
    let out = acct
        .cmd()
        .env("NOTEBOOK_VEND_INSTANCE_TYPE", "ml.t3.large")
        .args(["update", "--all", "--output", "json"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let all: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(all["results"][0]["result"], "already up to date", "{all}");

    let file = acct.home.path().join("nv.toml");
    std::fs::write(&file, "[default]\ninstance_type = \"ml.t3.xlarge\"\n").unwrap();
    let plan = acct.json(&["--config", file.to_str().unwrap(), "update", "--user", "eli", "--dry-run"]);
    assert_eq!(plan["effect"], "no_change", "{plan}");
    let done = acct.json(&["--config", file.to_str().unwrap(), "update", "--user", "eli"]);
    assert_eq!(done["result"], "already up to date", "{done}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    let after = notebook(&acct, "eli");
    assert_eq!((after.instance_type, after.created), (before.instance_type, before.created));

    // the setting still is the provisioning default it is documented as
    let out = acct
        .cmd()
        .env("NOTEBOOK_VEND_INSTANCE_TYPE", "ml.t3.large")
        .args(["provision", "--user", "fox", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(notebook(&acct, "fox").instance_type, "ml.t3.large");
}

/// Checked failing before the fix: from the default deployment, `refresh --user tb1` (a teamb
/// user) stored tb1's URL under the default deployment's prefix; `url` and `serve` minted it too.
#[test]
fn a_deployment_never_reaches_another_deployments_notebooks() {
    use crate::support::{rt, Running};
    let acct = Account::ready();
    acct.json(&["--name", "teamb", "bootstrap", "-q"]);
    acct.ok(&["--name", "teamb", "provision", "--user", "tb1", "-q"]);
    let mark = acct.requests().len();
    for args in [vec!["refresh", "--user", "tb1"], vec!["url", "--user", "tb1"]] {
        let (code, out, err) = acct.run(&args);
        assert_eq!(code, 1, "{args:?}\nstdout: {out}\nstderr: {err}");
        assert!(err.contains("for tb1 in deployment"), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
    }
    let sent: Vec<String> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(!sent.iter().any(|o| o == "CreatePresignedNotebookInstanceUrl" || o == "PutParameter"), "{sent:?}");
    assert!(rt().block_on(acct.parameter("tb1")).is_none(), "a URL was stored under the default prefix");

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "t0ken-0123456789abcdef0123456789").unwrap();
    let mut srv =
        Running::start(&acct, &["serve", "--listen", "127.0.0.1:0", "--token-file", token_file.to_str().unwrap()]);
    let line = srv.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    let (status, body) = rt().block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{base}/refreshurl"))
            .header("authorization", "Bearer t0ken-0123456789abcdef0123456789")
            .header("content-type", "application/json")
            .body(r#"{"notebook_user_name": "tb1"}"#)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    });
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("for tb1 in deployment"), "{body}");
    assert!(!body.contains("authToken"), "{body}");
    let sent: Vec<String> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(!sent.iter().any(|o| o == "CreatePresignedNotebookInstanceUrl" || o == "PutParameter"), "{sent:?}");
    drop(srv);
    // its own deployment still serves it
    acct.ok(&["--name", "teamb", "refresh", "--user", "tb1", "-q"]);
}

/// Checked failing before the fix: a kept instance type outside the new version's AllowedValues,
/// and a new parameter without a default, were planned "in place", sent, and left TAINTED.
#[test]
fn kept_values_are_checked_against_the_target_version() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "gus", "-q"]);
    let created = notebook(&acct, "gus").created;
    let artifact = pp(&acct, "gus").1;
    acct.json(&["bootstrap", "-q", "--allowed-instance-types", "ml.t3.large,ml.t3.xlarge"]);
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "gus", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("NotebookInstanceType=\"ml.t3.medium\"") && err.contains("--instance-type"), "{err}");
    untouched(&acct, "gus", created, &artifact, mark);
    let out = acct.json(&["update", "--user", "gus", "--instance-type", "ml.t3.large", "--yes"]);
    assert_eq!(out["result"], "updated", "{out}");
    assert_eq!(notebook(&acct, "gus").instance_type, "ml.t3.large");

    let body = std::fs::read_to_string("templates/sm-notebook.yml").unwrap().replacen(
        "\nParameters:\n",
        "\nParameters:\n  CostCenter:\n    Type: String\n",
        1,
    );
    let dir = templates_with_product(&body);
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    let artifact = pp(&acct, "gus").1;
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "gus", "--instance-type", "ml.t3.large", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("CostCenter") && err.contains("no default"), "{err}");
    untouched(&acct, "gus", created, &artifact, mark);
    let out = acct.json(&["update", "--user", "gus", "--param", "CostCenter=42", "--yes"]);
    assert_eq!(out["result"], "updated", "{out}");
    assert_eq!(pp(&acct, "gus").0, "AVAILABLE");

    // provision on that version: a parameter without a default is asked for before anything is
    // sent (CloudFormation would leave the provisioned product in ERROR: "must have values").
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["provision", "--user", "hal", "-q"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("CostCenter") && err.contains("--param CostCenter=VALUE"), "{err}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    acct.ok(&["provision", "--user", "hal", "-q", "--param", "CostCenter=7"]);
    assert_eq!(pp(&acct, "hal").0, "AVAILABLE");
}

/// Checked failing before the fix: `--to-version` refused a DEPRECATED artifact ("not active"),
/// which AWS allows as an update target; a notebook on an old version could then only move.
#[test]
fn a_notebook_can_stay_on_its_deprecated_version() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ida", "-q"]);
    let created = notebook(&acct, "ida").created;
    let old = acct.json(&["update", "--user", "ida", "--dry-run"])["artifact_from"].as_str().unwrap().to_owned();
    let old_name = old.split(" (").next().unwrap().to_owned();
    let old_id = pp(&acct, "ida").1;
    let dir = crate::update::templates_with_a_change();
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let plan = acct.json(&["update", "--user", "ida", "--to-version", &old_name, "--dry-run"]);
    assert_eq!(plan["effect"], "no_change", "{plan}");
    assert!(plan["notes"].to_string().contains("DEPRECATED"), "{plan}");
    let out =
        acct.json(&["update", "--user", "ida", "--to-version", &old_name, "--param", "RootAccess=Enabled", "--yes"]);
    assert_eq!(out["result"], "updated", "{out}");
    assert_eq!(pp(&acct, "ida"), ("AVAILABLE".to_owned(), old_id));
    assert_eq!(notebook(&acct, "ida").created, created);
}

/// Checked failing before the fix: a template read failing past the SDK's attempts was reported
/// as "not readable with this identity", and a DescribeStacks failing so as a missing
/// cloudformation:DescribeStacks permission. Only AccessDenied means a permission.
#[test]
fn a_failing_read_is_retried_and_never_reported_as_a_missing_permission() {
    use serde_json::json;
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "jon", "-q"]);
    let old = pp(&acct, "jon").1;
    let dir = crate::update::templates_with_a_change();
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    // one more failure than the SDK's six attempts
    acct.control("fault", json!({"operation": "GetObject", "kind": "internal", "count": 7}));
    let (code, out, err) = acct.run(&["update", "--user", "jon", "--yes"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(!err.contains("identity"), "{err}");
    assert_ne!(pp(&acct, "jon").1, old, "moved to the new version");

    acct.control("fault", json!({"operation": "DescribeStacks", "kind": "internal", "count": 7}));
    let (code, out, err) = acct.run(&["refresh", "--all"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(!err.contains("needs cloudformation:DescribeStacks"), "{err}");
}

/// Checked failing before the fix: after SIGKILL mid-update, the rerun said "already up to date"
/// and left the URL of the notebook before its restart; `update --all --outdated` skipped it.
#[test]
fn an_update_cut_short_converges_on_the_next_run() {
    use crate::support::Running;
    use crate::update::url_version;
    use std::time::{Duration, Instant};
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "kim", "-q"]);
    acct.ok(&["provision", "--user", "lou", "-q"]);
    acct.configure(serde_json::json!({"record_seconds": 3}));
    let dir = crate::update::templates_with_a_change();
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    for user in ["kim", "lou"] {
        let before = url_version(&acct, user);
        let mark = acct.requests().len();
        let mut run = Running::start(&acct, &["update", "--user", user, "--yes", "--no-progress"]);
        let start = Instant::now();
        while !acct.requests_since(mark).iter().any(|r| r.operation == "UpdateProvisionedProduct") {
            assert!(start.elapsed() < Duration::from_secs(60), "the update sent nothing");
            std::thread::sleep(Duration::from_millis(50));
        }
        run.kill();
        let _ = run.wait();
        while pp(&acct, user).0 != "AVAILABLE" {
            assert!(start.elapsed() < Duration::from_secs(60), "the update never finished");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(url_version(&acct, user), before, "{user}: the killed run stored nothing");
    }
    let kim = url_version(&acct, "kim");
    let out = acct.json(&["update", "--user", "kim"]);
    assert!(out["session_expires"].is_string(), "{out}");
    assert!(url_version(&acct, "kim") > kim, "a fresh URL is stored");
    // converged: nothing more to do
    assert_eq!(acct.json(&["update", "--user", "kim"])["result"], "already up to date");

    let lou = url_version(&acct, "lou");
    let all = acct.json(&["update", "--all", "--outdated"]);
    let users: Vec<&str> = all["results"].as_array().unwrap().iter().map(|r| r["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["lou"], "{all}");
    assert!(url_version(&acct, "lou") > lou, "a fresh URL is stored");
}

/// Checked failing before the fix: `serve` took the last of two `notebook_user_name` keys; `config
/// show` printed an out-of-range environment value with exit 0 where commands exit 2; `--param
/// VolumeSizeInGB=010` counted as a change of 10; `/SageMaker/../x/` was accepted as a prefix.
#[test]
fn duplicate_keys_out_of_range_settings_number_spellings_and_dot_segments_are_refused() {
    use crate::support::{rt, Running};
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "max", "-q"]);
    let plan = acct.json(&["update", "--user", "max", "--param", "VolumeSizeInGB=010", "--dry-run"]);
    assert_eq!(plan["effect"], "no_change", "{plan}");

    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["--ssm-prefix", "/SageMaker/../x/", "url", "--user", "max"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/SageMaker/../x/"), "{err}");
    let run = |args: &[&str]| {
        let out = acct.cmd().env("NOTEBOOK_VEND_SESSION_SECONDS", "99").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["refresh", "--user", "max"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = run(&["config", "show"]);
    assert_eq!(code, Some(2), "{err}");
    // every setting is checked, and values in range are shown as before
    let out = acct.cmd().env("NOTEBOOK_VEND_CONCURRENCY", "3").args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(err.contains("session_seconds") && err.contains("NOTEBOOK_VEND_SESSION_SECONDS"), "{err}");
    assert!(acct.requests_since(mark).is_empty());

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "t0ken-0123456789abcdef0123456789").unwrap();
    let mut srv =
        Running::start(&acct, &["serve", "--listen", "127.0.0.1:0", "--token-file", token_file.to_str().unwrap()]);
    let line = srv.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    let (status, body) = rt().block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{base}/refreshurl"))
            .header("authorization", "Bearer t0ken-0123456789abcdef0123456789")
            .header("content-type", "application/json")
            .body(r#"{"notebook_user_name": "nobody", "notebook_user_name": "max"}"#)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    });
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("duplicate"), "{body}");
    assert!(!body.contains("authToken"), "{body}");
}

/// Checked failing before the fix: a `url --open` killed before its cleanup left its 0600
/// redirect file (a URL) behind for good; the next `--open` now removes stale ones.
#[test]
fn url_open_removes_redirect_files_a_killed_run_left_behind() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ned", "-q"]);
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join(format!("notebook-vend-{}", "ab".repeat(16)));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("open.html"), "https://ned-notebook.notebook.us-east-1.sagemaker.aws?authToken=x")
        .unwrap();
    let fresh = tmp.path().join(format!("notebook-vend-{}", "cd".repeat(16)));
    std::fs::create_dir(&fresh).unwrap();
    let other = tmp.path().join("notebook-vend-notes");
    std::fs::create_dir(&other).unwrap();
    for path in [stale.join("open.html"), stale.clone(), other.clone()] {
        let ok = std::process::Command::new("touch").arg("-d").arg("10 minutes ago").arg(&path).status().unwrap();
        assert!(ok.success());
    }
    let out = acct
        .cmd()
        .env("TMPDIR", tmp.path())
        .env("BROWSER", "true")
        .args(["url", "--user", "ned", "--open"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stale.exists(), "the stale redirect file is still there");
    assert!(fresh.exists(), "a live run's directory was removed");
    assert!(other.exists(), "a directory not named as ours was removed");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

/// Checked failing before the fix: with ProvisionProduct failing after the terminate, the error
/// did not say the notebook was deleted, the stale URL stayed, and the advised rerun (a plain
/// `provision`) dropped the instance type, the KMS key and the user's tags.
#[test]
fn a_replacement_that_fails_after_the_terminate_is_resumed_with_the_same_values_and_tags() {
    use serde_json::json;
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "oli", "--instance-type", "ml.t3.large", "--tag", "team=risk", "-q"]);
    acct.control("fault", json!({"operation": "ProvisionProduct", "kind": "internal", "count": 7}));
    let args = [
        "update",
        "--user",
        "oli",
        "--param",
        "KmsKeyId=alias/notebooks",
        "--replace-notebook-losing-its-data",
        "--yes",
    ];
    let (code, out, err) = acct.run(&args);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("oli-Notebook was deleted"), "{err}");
    assert!(err.contains("notebook-vend update --user oli"), "{err}");
    assert!(crate::support::rt().block_on(acct.parameter("oli")).is_none(), "the stale URL parameter remains");

    let out = acct.json(&["update", "--user", "oli"]);
    assert!(out["result"].as_str().unwrap().contains("provisioned again"), "{out}");
    let nb = notebook(&acct, "oli");
    assert_eq!((nb.instance_type.as_str(), nb.status.as_str()), ("ml.t3.large", "InService"));
    let status = acct.json(&["status", "--user", "oli"]);
    assert_eq!(status["provisioned_product"]["parameters"]["KmsKeyId"], "alias/notebooks", "{status}");
    let tags = crate::support::rt().block_on(async {
        let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
        let found = sc.scan_provisioned_products().send().await.unwrap();
        let id = found.provisioned_products()[0].id().unwrap().to_owned();
        let s = sc
            .search_provisioned_products()
            .filters(
                aws_sdk_servicecatalog::types::ProvisionedProductViewFilterBy::SearchQuery,
                vec![format!("id:{id}")],
            )
            .send()
            .await
            .unwrap();
        s.provisioned_products()[0].tags().iter().map(|t| format!("{}={}", t.key(), t.value())).collect::<Vec<_>>()
    });
    assert!(tags.contains(&"team=risk".to_owned()), "{tags:?}");
}
