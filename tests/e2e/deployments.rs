//! Named deployments (`--name`): several in one account, each with its own stacks, product and
//! URL prefix; one never reaches another's notebooks, and tearing one down leaves the others.

use crate::support::Account;
use serde_json::json;

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
