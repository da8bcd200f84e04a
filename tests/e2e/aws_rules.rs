//! AWS rules the tool must follow on real AWS, end to end against the sandbox.
//!
//! Each test names the AWS rule it checks. Where the failing condition needs the strict sandbox
//! (IAM enforcement, presign in any state...), the comment says which sandbox rule it relies on.

use crate::support::{rt, Account, Request};

fn ops(reqs: &[Request]) -> Vec<&str> {
    reqs.iter().map(|r| r.operation.as_str()).collect()
}

async fn tier(acct: &Account, name: &str) -> String {
    let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
    let out = ssm
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder().key("Name").values(name).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    out.parameters().first().and_then(|p| p.tier()).map(|t| t.as_str().to_owned()).unwrap_or_default()
}

/// SSM: "you can't revert an advanced parameter to a standard parameter" (user guide, "Managing
/// parameter tiers"); a tier given in PutParameter is applied (botocore ssm PutParameter.Tier). A
/// parameter made Advanced (by a long URL, or by an admin) must stay Advanced on every refresh.
/// (moto applies whatever tier is sent, so on it a downgrade shows as the tier changing; the strict
/// sandbox refuses the downgrade outright.)
#[test]
fn refresh_never_downgrades_an_advanced_parameter() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "tina", "-q"]);
    let name = "/SageMaker/Notebooks/tina-Notebook";
    rt().block_on(async {
        assert_eq!(tier(&acct, name).await, "Standard");
        let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
        ssm.put_parameter()
            .name(name)
            .value("placeholder")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
            .overwrite(true)
            .send()
            .await
            .unwrap();
        assert_eq!(tier(&acct, name).await, "Advanced");
    });
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["refresh", "--user", "tina", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["tier"], "Advanced", "{out}");
    // Said, not silent: the parameter stays in the Advanced tier, which is charged, where the URL
    // alone would fit in Standard.
    assert!(err.contains(name) && err.contains("Advanced"), "{err}");
    assert_eq!(rt().block_on(tier(&acct, name)), "Advanced");
    assert!(acct.requests_since(mark).iter().all(|r| r.status == "200"), "{:?}", acct.requests_since(mark));
}

/// AWS documents no state precondition for CreatePresignedNotebookInstanceUrl: a URL answered for
/// a notebook proves nothing about its state. `url` and `refresh` describe the notebook alongside
/// the presign and never return or store a URL unless it is InService. (The Stopped part relies on
/// the strict sandbox's `presign_any_state` mode, default on, where presign answers in any state;
/// the request-log part fails on a tool that trusts the presign alone, on any sandbox.)
#[test]
fn a_url_needs_the_notebook_known_in_service() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "uma", "-q"]);
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["url", "--user", "uma"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("https://"), "{out}");
    let sent = acct.requests_since(mark);
    assert!(ops(&sent).contains(&"DescribeNotebookInstance"), "url trusted the presign alone: {:?}", ops(&sent));

    acct.ok(&["stop", "--user", "uma", "-q"]);
    let before = rt().block_on(acct.parameter("uma")).unwrap();
    let (code, out, err) = acct.run(&["url", "--user", "uma"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("Stopped"), "{err}");
    let (code, _, err) = acct.run(&["refresh", "--user", "uma"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Stopped"), "{err}");
    let after = rt().block_on(acct.parameter("uma")).unwrap();
    assert_eq!(before.version(), after.version(), "a URL was stored for a Stopped notebook");
}

/// AWS's end-user policy (AWSServiceCatalogEndUserFullAccess) has no ListProvisioningArtifacts:
/// an end user's provision resolves the product with end-user calls (SearchProducts,
/// DescribeProduct). The IAM-enforced sandbox also checks the AccessLevelFilter (User/Self); here
/// the request log shows which operations were sent.
#[test]
fn provision_uses_end_user_calls_only() {
    let acct = Account::ready();
    let mark = acct.requests().len();
    acct.ok(&["provision", "--user", "vera", "-q"]);
    let sent = acct.requests_since(mark);
    for admin in ["ListProvisioningArtifacts", "ListLaunchPaths", "ScanProvisionedProducts"] {
        assert!(!ops(&sent).contains(&admin), "{admin} in {:?}", ops(&sent));
    }
    assert!(ops(&sent).contains(&"DescribeProduct"), "{:?}", ops(&sent));
}

/// IAM role names are at most 64 characters: a deployment name whose derived role
/// `<name>-s3-iam-config-SageMakerNotebookInstanceRole` would be longer is refused (exit 2, naming
/// the limit) before any request; so is an explicit --s3-stack that makes the role too long.
#[test]
fn derived_names_over_aws_limits_exit_2_sending_nothing() {
    let acct = Account::new();
    let long = "n".repeat(21);
    for args in [
        vec!["--name", long.as_str(), "bootstrap"],
        vec!["--s3-stack", "a-stack-name-that-is-thirty-five-chr", "bootstrap"],
    ] {
        let (code, _, err) = acct.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("64"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
    // The longest accepted name makes a role of exactly 64 characters.
    let (code, _, err) = acct.run(&["--name", &"n".repeat(20), "bootstrap", "--dry-run", "-q"]);
    assert_eq!(code, 0, "{err}");
}

/// `policy` prints a valid IAM policy document from the permissions table, without any request.
#[test]
fn policy_prints_each_roles_document_offline() {
    let acct = Account::new();
    for role in ["end-user", "operator", "bootstrap", "serverless"] {
        let out = acct.ok(&["policy", role]);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{role}: {e}: {out}"));
        assert_eq!(doc["Version"], "2012-10-17");
        assert!(!doc["Statement"].as_array().unwrap().is_empty());
        assert_eq!(acct.json(&["policy", role]), doc);
    }
    let end_user = acct.ok(&["policy", "end-user", "--account", "123456789012", "--region", "eu-west-1"]);
    assert!(end_user.contains("arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/*-notebook"), "{end_user}");
    assert!(end_user.contains("servicecatalog:userLevel"), "{end_user}");
    assert!(!end_user.contains("ListProvisioningArtifacts"), "{end_user}");
    assert_eq!(acct.run(&["policy", "admin"]).0, 2);
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// The code's calls and the permissions table never disagree: every command of the workflow is
/// run against the sandbox, and every operation in its request log must be in the table for that
/// command (so `policy` grants what the code sends). The IAM-enforced variant of this test (the
/// strict sandbox) runs each role holding only `policy <role>`.
#[test]
fn every_operation_a_command_sends_is_in_its_permission_table() {
    use notebook_vend::permissions::calls_of;
    let acct = Account::new();
    acct.configure(serde_json::json!({"record_seconds": 0.5, "pending_seconds": 0.5}));
    let steps: Vec<(&str, Vec<&str>)> = vec![
        ("bootstrap", vec!["bootstrap", "-q"]),
        ("doctor", vec!["doctor", "-q"]),
        ("provision", vec!["provision", "--user", "wes", "-q"]),
        ("provision", vec!["provision", "--user", "xia", "-q"]),
        ("refresh", vec!["refresh", "--user", "wes", "-q"]),
        ("url", vec!["url", "--user", "wes"]),
        ("url", vec!["url", "--user", "wes", "--stored"]),
        ("status", vec!["status", "--user", "wes"]),
        ("list", vec!["list"]),
        ("refresh --all", vec!["refresh", "--all", "-q"]),
        ("watch", vec!["watch", "--once", "-q"]),
        ("cull", vec!["cull", "--max-age", "1d"]),
        ("update", vec!["update", "--user", "wes", "--instance-type", "ml.t3.large", "--yes", "-q"]),
        ("update --all", vec!["update", "--all", "-q"]),
        ("schedule set", vec!["schedule", "set", "--user", "wes", "--stop", "cron(0 19 ? * MON-FRI *)"]),
        ("schedule set", vec!["schedule", "set", "--user", "wes", "--start", "rate(1 day)", "--stop", "rate(2 days)"]),
        ("schedule show", vec!["schedule", "show", "--user", "wes"]),
        ("schedule clear", vec!["schedule", "clear", "--user", "wes", "--start"]),
        ("stop", vec!["stop", "--user", "wes", "-q"]),
        ("start", vec!["start", "--user", "wes", "--refresh", "-q"]),
        ("terminate", vec!["terminate", "--user", "wes", "--yes", "-q"]),
        ("teardown", vec!["teardown", "--terminate-notebooks", "--yes", "-q"]),
    ];
    let mut missing = Vec::new();
    for (command, args) in steps {
        let mark = acct.requests().len();
        let (code, _, err) = acct.run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let table = calls_of(command).unwrap_or_else(|| panic!("{command} is not in the table"));
        for r in acct.requests_since(mark) {
            if !table.iter().any(|c| c.operation == r.operation) {
                missing.push(format!("{command}: {}:{}", r.service, r.operation));
            }
        }
    }
    missing.dedup();
    assert!(missing.is_empty(), "operations sent but not in permissions::TABLE: {missing:?}");
}

/// parliament (an IAM policy linter built on the Service Authorization Reference) finds nothing of
/// MEDIUM severity or worse in any `policy` output: every action exists, and every resource ARN is
/// of a type the action authorizes (it caught iam:DetachRolePolicy granted on policies, where IAM
/// authorizes it on roles). LOW remains by design: Service Catalog calls on products and portfolios
/// whose ids are not known before they exist are granted on `*`.
#[test]
fn every_policy_passes_the_parliament_iam_linter() {
    let parliament = std::env::var_os("PARLIAMENT").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".sandbox/checkov-venv/bin/parliament")
    });
    if !parliament.exists() {
        eprintln!("skipped: parliament not installed (scripts/test.sh installs it in .sandbox/checkov-venv)");
        return;
    }
    let acct = Account::new();
    for role in ["end-user", "operator", "bootstrap", "serverless"] {
        let policy =
            acct.ok(&["policy", role, "--account", "123456789012", "--region", "eu-west-1", "--output", "json"]);
        // IAM substitutes policy variables before it matches a resource (IAM user guide, "IAM policy
        // elements: Variables and tags"); parliament does not, and splits `${aws:username}` at its
        // colon as if it were an ARN field. Linted as IAM evaluates it, for a user named alice.
        let policy =
            policy.replace("${aws:username}", "alice").replace("${aws:PrincipalTag/notebook-vend:user}", "alice");
        let mut child = std::process::Command::new(&parliament)
            .args(["--minimum_severity", "MEDIUM"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run parliament");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(policy.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let findings = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && findings.trim().is_empty(),
            "policy {role}: {findings}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Service Catalog: AccessLevelFilter "The only supported value is `self`" (botocore servicecatalog
/// 2015-12-10, AccessLevelFilter.Value), for the Account key too; the sandbox refuses any other value
/// with InvalidParametersException. Every account-wide command searches with it: each must work.
#[test]
fn operator_commands_search_with_access_level_self() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "opal", "-q"]);
    let listing = acct.json(&["list"]);
    assert_eq!(listing.as_array().map(Vec::len), Some(1), "{listing}");
    assert_eq!(listing[0]["user"], "opal", "{listing}");
    let refreshed = acct.json(&["refresh", "--all"]);
    assert_eq!(refreshed["failed"], 0, "{refreshed}");
    acct.ok(&["update", "--all", "--dry-run"]);
    acct.ok(&["cull", "--max-age", "30d", "--dry-run"]);
    assert!(ops(&acct.requests()).contains(&"SearchProvisionedProducts"));
}

/// SageMaker: the volume "can increase ... but you can't decrease" (botocore sagemaker
/// UpdateNotebookInstanceInput.VolumeSizeInGB; the sandbox fails the product's stack update too).
/// A smaller VolumeSizeInGB is refused in the plan, exit 2, nothing sent, pointing at the replace path.
#[test]
fn update_refuses_a_smaller_volume_before_any_write() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "vic", "-q", "--param", "VolumeSizeInGB=20"]);
    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["update", "--user", "vic", "--param", "VolumeSizeInGB=10"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("VolumeSizeInGB 20 -> 10"), "{err}");
    assert!(err.contains("--replace-notebook-losing-its-data"), "{err}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    let plan = acct.json(&["update", "--user", "vic", "--param", "VolumeSizeInGB=10", "--dry-run"]);
    assert_eq!(plan["effect"], "replaces_the_notebook", "{plan}");
    // growing stays in place
    let plan = acct.json(&["update", "--user", "vic", "--param", "VolumeSizeInGB=30", "--dry-run"]);
    assert_eq!(plan["effect"], "in_place", "{plan}");
}
