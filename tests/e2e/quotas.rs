//! Bulk work under AWS's request-rate quotas (the sandbox's token buckets, tests/sandbox/nvsandbox/core/quotas.py):
//! `refresh --all` paces itself per API, retries what was throttled, counts it, and fails no one.
//!
//! Functional, not timing: the assertions are about outcomes (every parameter refreshed once, no
//! failure, throttles counted as the sandbox logged them), never about how long it took.

use crate::support::Account;
use serde_json::json;

const USERS: usize = 50;

/// 50 provisioned notebooks, created through the Service Catalog API (what the console does) rather
/// than 50 `provision` runs: the setup is not what is under test.
async fn account_with_users() -> (Account, Vec<String>) {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0, "pending_seconds": 0}));
    let boot = acct.bootstrap();
    let product = boot["product_id"].as_str().expect("bootstrap names the product").to_owned();
    let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
    let path = sc.list_launch_paths().product_id(&product).send().await.unwrap().launch_path_summaries()[0]
        .id()
        .unwrap()
        .to_owned();
    let artifacts = sc.list_provisioning_artifacts().product_id(&product).send().await.unwrap();
    let artifact = artifacts
        .provisioning_artifact_details()
        .iter()
        .max_by_key(|a| a.created_time().map(|t| t.secs()))
        .and_then(|a| a.id())
        .unwrap()
        .to_owned();
    let users: Vec<String> = (0..USERS).map(|i| format!("q{i:02}")).collect();
    for user in &users {
        sc.provision_product()
            .product_id(&product)
            .provisioning_artifact_id(&artifact)
            .path_id(&path)
            .provisioned_product_name(format!("{user}-Notebook"))
            .provision_token(format!("quotas-{user}"))
            .provisioning_parameters(
                aws_sdk_servicecatalog::types::ProvisioningParameter::builder()
                    .key("NotebookUserName")
                    .value(user)
                    .build(),
            )
            .tags(aws_sdk_servicecatalog::types::Tag::builder().key("Owner").value(user).build().unwrap())
            .send()
            .await
            .unwrap();
    }
    (acct, users)
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_all_under_a_low_put_parameter_quota_refreshes_everyone_and_counts_the_throttles() {
    let (acct, users) = account_with_users().await;
    // First refresh without quotas: every parameter exists (version 1, tagged).
    let first = acct.json(&["refresh", "--all", "-q"]);
    assert_eq!(first["refreshed"], USERS, "{first}");

    // Parameter Store throughput at 5 requests per second (AWS's default is 40).
    acct.configure(json!({"quotas": 1, "quota_ParameterStoreThroughput": 5}));
    let mark = acct.requests().len();
    let out = acct.cmd().args(["refresh", "--all", "-v", "--no-progress", "--output", "json"]).output().unwrap();
    acct.configure(json!({"quotas": 0}));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "refresh --all failed\nstdout: {stdout}\nstderr: {stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["refreshed"], USERS, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");

    // The quota bit: the sandbox throttled PutParameter, and every throttled call was retried.
    let served = acct.requests_since(mark);
    let puts: Vec<_> = served.iter().filter(|r| r.operation == "PutParameter").collect();
    let throttled = puts.iter().filter(|r| r.fault.as_deref() == Some("quota")).count();
    let stored = puts.iter().filter(|r| r.status == "200").count();
    assert!(throttled > 0, "a 5/s quota must throttle 50 PutParameter calls sent concurrently");
    assert_eq!(stored, USERS, "one stored PutParameter per user");

    // Counted as the sandbox saw them, in --output json ...
    let calls = &summary["aws_calls"];
    let put = &calls["by_api"]["PutParameter"];
    assert_eq!(put["throttled"], throttled, "{calls}");
    assert_eq!(put["sent"], puts.len(), "{calls}");
    assert!(put["retried"].as_u64().unwrap() >= throttled as u64, "{calls}");
    assert_eq!(calls["sent"], served.len(), "{calls}");
    assert!(put["paced_at"].as_f64().is_some(), "PutParameter was paced after it throttled: {calls}");
    // ... and with -v.
    let line = stderr.lines().find(|l| l.contains("AWS calls:")).unwrap_or_else(|| panic!("no count in {stderr}"));
    assert!(line.contains(&format!("{} retried", calls["retried"])), "{line}");
    assert!(line.contains(&format!("{} throttled", calls["throttled"])), "{line}");

    // Every parameter refreshed exactly once by this run (version 1 -> 2).
    for user in &users {
        let p = acct.parameter(user).await.unwrap_or_else(|| panic!("no parameter for {user}"));
        assert_eq!(p.version(), 2, "{user}");
        assert!(p.value().unwrap_or_default().starts_with("https://"), "{user}");
    }
}
