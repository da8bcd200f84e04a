//! Vending a notebook: `provision`, `refresh` and `url` end to end against the sandbox: one
//! product per user, the notebook it launches, and a fresh presigned URL stored in SSM.

use crate::support::{epoch_secs, rt, Account};
use serde_json::json;

async fn parameter(acct: &Account, user: &str) -> aws_sdk_ssm::types::Parameter {
    acct.parameter(user).await.unwrap_or_else(|| panic!("no parameter for {user}"))
}

#[test]
fn provision_vends_one_tagged_notebook_and_a_secure_url() {
    let acct = Account::ready();
    let out = acct.json(&["provision", "--user", "alice", "--tag", "team=ml"]);
    assert_eq!(out["user"], "alice");
    assert_eq!(out["notebook"], "alice-Notebook");
    assert_eq!(out["status"], "InService");
    assert_eq!(out["parameter"], "/SageMaker/Notebooks/alice-Notebook");
    assert_eq!(out["parameter_type"], "SecureString");
    assert!(out.get("url").is_none(), "the URL is printed only with --show-url");
    assert!(out["session_expires"].as_str().unwrap().ends_with('Z'));

    rt().block_on(async {
        assert_eq!(acct.provisioned_count().await, 1);
        let sdk = acct.sdk().await;
        let sm = aws_sdk_sagemaker::Client::new(&sdk);
        let nb = sm.describe_notebook_instance().notebook_instance_name("alice-Notebook").send().await.unwrap();
        assert_eq!(nb.notebook_instance_status().unwrap().as_str(), "InService");
        let tags = sm.list_tags().resource_arn(nb.notebook_instance_arn().unwrap()).send().await.unwrap();
        assert!(
            tags.tags().iter().any(|t| t.key() == Some("Owner") && t.value() == Some("alice")),
            "{:?}",
            tags.tags()
        );

        let p = parameter(&acct, "alice").await;
        assert_eq!(p.r#type().unwrap().as_str(), "SecureString");
        let url = p.value().unwrap();
        assert!(
            url.starts_with("https://alice-notebook.notebook.us-east-1.sagemaker.aws?authToken="),
            "{}",
            &url[..60]
        );
        assert!(url.len() > 1500);
        // The provisioned product carries the Owner tag and the user's own tags.
        let sc = aws_sdk_servicecatalog::Client::new(&sdk);
        let pp = sc.describe_provisioned_product().name("alice-Notebook").send().await.unwrap();
        assert_eq!(pp.provisioned_product_detail().unwrap().status().unwrap().as_str(), "AVAILABLE");
    });
}

#[test]
fn provision_again_keeps_one_product_and_replaces_the_url() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "bob", "-q"]);
    let first = rt().block_on(parameter(&acct, "bob"));
    let mark = acct.requests().len();
    let out = acct.json(&["provision", "--user", "bob", "--show-url"]);
    let second = rt().block_on(parameter(&acct, "bob"));
    assert_ne!(first.value(), second.value());
    assert_eq!(second.version(), first.version() + 1);
    assert_eq!(out["url"].as_str(), second.value());
    assert_eq!(rt().block_on(acct.provisioned_count()), 1);
    assert!(!acct.requests_since(mark).iter().any(|r| r.operation == "ProvisionProduct"));
}

#[test]
fn refresh_replaces_value_and_expiry() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "carol", "-q", "--session-seconds", "1800"]);
    let before = rt().block_on(parameter(&acct, "carol"));
    let out = acct.json(&["refresh", "--user", "carol", "--session-seconds", "3600"]);
    let after = rt().block_on(parameter(&acct, "carol"));
    assert_ne!(before.value(), after.value());
    let stored = epoch_secs(out["stored_at"].as_str().unwrap());
    let expires = epoch_secs(out["session_expires"].as_str().unwrap());
    assert_eq!(expires - stored, 3600);
}

#[test]
fn refresh_all_refreshes_every_vended_notebook() {
    let acct = Account::ready();
    for user in ["u1", "u2", "u3"] {
        acct.ok(&["provision", "--user", user, "-q", "--no-wait"]);
    }
    for user in ["u1", "u2", "u3"] {
        acct.ok(&["provision", "--user", user, "-q"]);
    }
    let mark = acct.requests().len();
    let out = acct.json(&["refresh", "--all", "--concurrency", "2"]);
    assert_eq!(out["refreshed"], 3);
    assert_eq!(out["failed"], 0);
    let users: Vec<_> = out["results"].as_array().unwrap().iter().map(|r| r["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["u1", "u2", "u3"]);
    // One URL minted per notebook, all three InService. (Counted from the refresh only: a provision
    // whose describe saw the notebook still Pending drops the presign it made beside it and mints
    // another once InService, which on a loaded machine made a count over the whole test vary.)
    let minted = acct
        .requests_since(mark)
        .iter()
        .filter(|r| r.operation == "CreatePresignedNotebookInstanceUrl" && r.status == "200")
        .count();
    assert_eq!(minted, 3);
}

#[test]
fn refresh_of_unknown_and_stopped_notebooks() {
    let acct = Account::ready();
    let (code, _, err) = acct.run(&["refresh", "--user", "nobody"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no notebook nobody-Notebook") && err.contains("notebook-vend provision --user nobody"),
        "{err}"
    );

    acct.ok(&["provision", "--user", "dave", "-q"]);
    rt().block_on(async {
        let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
        sm.stop_notebook_instance().notebook_instance_name("dave-Notebook").send().await.unwrap();
        for _ in 0..50 {
            let nb = sm.describe_notebook_instance().notebook_instance_name("dave-Notebook").send().await.unwrap();
            if nb.notebook_instance_status().unwrap().as_str() == "Stopped" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let (code, _, err) = acct.run(&["refresh", "--user", "dave"]);
    assert_eq!(code, 1);
    assert!(err.contains("Stopped") && err.contains("notebook-vend start --user dave"), "{err}");
    // --start starts it, waits for InService and stores a URL.
    let out = acct.json(&["refresh", "--user", "dave", "--start"]);
    assert_eq!(out["status"], "InService");
    assert_eq!(acct.count("StartNotebookInstance"), 1);
}

#[test]
fn url_stored_and_fresh() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "erin", "-q"]);
    let stored = acct.ok(&["url", "--user", "erin", "--stored"]);
    let param = rt().block_on(parameter(&acct, "erin"));
    assert_eq!(stored.trim(), param.value().unwrap());
    let fresh = acct.ok(&["url", "--user", "erin"]);
    assert!(fresh.trim().starts_with("https://erin-notebook.notebook."));
    assert_ne!(fresh.trim(), stored.trim());
    // Minting a fresh URL does not touch the parameter.
    assert_eq!(rt().block_on(parameter(&acct, "erin")).version(), param.version());
    let (code, _, err) = acct.run(&["url", "--user", "frank", "--stored"]);
    assert_eq!(code, 1);
    assert!(err.contains("no stored URL for frank"), "{err}");
}

#[test]
fn failed_record_exits_1_with_the_record_errors() {
    let acct = Account::ready();
    // A valid value that CloudFormation cannot launch: the role export of a stack that does not exist
    // (S3IAMConfigStackName comes from the deployment's --s3-stack; `--param` may not set it).
    let (code, out, err) = acct.run(&["provision", "--user", "gina", "--s3-stack", "no-such-stack"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("FAILED") && err.contains("no-such-stack"), "{err}");
    // The product is now in ERROR: provision says so and how to fix it.
    let (code, _, err) = acct.run(&["provision", "--user", "gina"]);
    assert_eq!(code, 1);
    assert!(err.contains("ERROR") && err.contains("notebook-vend terminate --user gina"), "{err}");
}

#[test]
fn failed_notebook_exits_1_with_its_failure_reason() {
    let acct = Account::ready();
    acct.fail_notebook("hank-Notebook", "ResourceLimitExceeded: no capacity for ml.t3.medium");
    let (code, _, err) = acct.run(&["provision", "--user", "hank"]);
    assert_eq!(code, 1);
    assert!(err.contains("hank-Notebook Failed: ResourceLimitExceeded: no capacity"), "{err}");
}

#[test]
fn timeout_exits_3_naming_the_pending_phase_and_resume_works() {
    let acct = Account::ready();
    acct.configure(json!({"pending_seconds": 30}));
    let (code, _, err) = acct.run(&["provision", "--user", "ivan", "--timeout", "2"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("ivan-Notebook") && err.contains("Pending") && err.contains("notebook-vend provision --user ivan"),
        "{err}"
    );
    acct.configure(json!({"pending_seconds": 0.5}));
    // The notebook keeps the Pending time it was created with; resuming converges to one product.
    acct.ok(&["provision", "--user", "ivan", "-q", "--timeout", "120"]);
    assert_eq!(acct.count("ProvisionProduct"), 1);
}

#[test]
fn no_wait_returns_the_record_and_how_to_resume() {
    let acct = Account::ready();
    let out = acct.json(&["provision", "--user", "jo", "--no-wait"]);
    assert!(out["record_id"].as_str().unwrap().starts_with("rec-"));
    assert_eq!(out["resume"], "notebook-vend provision --user jo");
    assert_eq!(acct.count("PutParameter"), 0);
}

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
fn provision_without_flags_gets_safe_defaults() {
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

/// Every store puts back the URL parameter's Owner/ManagedBy tags when they are missing: tagged only
/// at version 1, a parameter whose tagging failed (or whose first store was retried) would stay
/// untagged for good. A parameter already tagged costs no tagging call.
#[test]
fn url_parameters_get_their_tags_back_when_missing() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "tig", "-q"]);
    let rt = crate::support::rt();
    let ssm = rt.block_on(async { aws_sdk_ssm::Client::new(&acct.sdk().await) });
    let name = "/SageMaker/Notebooks/tig-Notebook";
    let tags = || {
        let out = rt
            .block_on(
                ssm.list_tags_for_resource()
                    .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
                    .resource_id(name)
                    .send(),
            )
            .unwrap();
        let mut t: Vec<(String, String)> =
            out.tag_list().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        t.sort();
        t
    };
    let want = vec![("ManagedBy".to_owned(), "notebook-vend".to_owned()), ("Owner".to_owned(), "tig".to_owned())];
    assert_eq!(tags(), want);
    rt.block_on(
        ssm.remove_tags_from_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .tag_keys("Owner")
            .tag_keys("ManagedBy")
            .send(),
    )
    .unwrap();
    acct.ok(&["refresh", "--user", "tig", "-q"]);
    assert_eq!(tags(), want);
    // Tagged already: no tagging call on the next refresh.
    let mark = acct.requests().len();
    acct.ok(&["refresh", "--user", "tig", "-q"]);
    let ops: Vec<String> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(!ops.contains(&"AddTagsToResource".to_owned()), "{ops:?}");
}
