//! AWS states the tool must read as AWS documents them, reached without the tool. The sandbox's
//! `/_sandbox/set-state` puts a resource in a state reachable on AWS without the tool's doing.

use crate::support::Account;
use serde_json::{json, Value};

fn set_state(acct: &Account, kind: &str, name: &str, status: &str) {
    acct.control("set-state", json!({"kind": kind, "name": name, "status": status}));
}

fn provisioned_product_of(acct: &Account, user: &str) -> String {
    let status = acct.json(&["status", "--user", user]);
    status["provisioned_product"]["name"].as_str().unwrap_or_else(|| panic!("no product: {status}")).to_owned()
}

/// TAINTED: an update failed and was rolled back; botocore's ProvisionedProductStatus calls it a
/// "stable state, ready to perform any operation". The notebook and its data are as they were.
#[test]
fn tainted_is_a_stable_state() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "tina"]);
    let pp = provisioned_product_of(&acct, "tina");
    set_state(&acct, "provisioned-product", &pp, "TAINTED");

    acct.ok(&["refresh", "--user", "tina"]);
    acct.ok(&["url", "--user", "tina"]);
    // provision on an existing TAINTED product refreshes its URL, as on AVAILABLE.
    acct.ok(&["provision", "--user", "tina"]);

    let status = acct.json(&["status", "--user", "tina"]);
    assert_eq!(status["provisioned_product"]["status"], "TAINTED", "{status}");
    let next = status["next"]["command"].as_str().unwrap_or_default();
    assert!(!next.contains("terminate"), "status advises destroying a stable notebook: {status}");

    // watch finds nothing failed: the failed update is not a failed provision.
    let (code, out, err) = acct.run(&["watch", "--once"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(!out.contains("FAILED"), "{out}");
}

/// Stack states bootstrap cannot deploy over: it says the state and the recovery, never
/// "up to date"; doctor's fix says the same.
#[test]
fn stack_states_that_block_a_deploy_name_their_recovery() {
    let acct = Account::ready();
    let cases = [
        ("s3-iam-config", "UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
        ("service-catalog-config", "DELETE_FAILED", "delete-stack"),
        ("s3-iam-config", "UPDATE_IN_PROGRESS", "wait for it"),
    ];
    for (stack, state, recovery) in cases {
        set_state(&acct, "stack", stack, state);
        for args in [&["bootstrap", "--dry-run"][..], &["bootstrap"][..]] {
            if state.ends_with("_IN_PROGRESS") && args.len() == 1 {
                continue; // a real bootstrap waits for it (up to --timeout)
            }
            let (code, out, err) = acct.run(args);
            assert_eq!(code, 1, "{args:?} on {state}: stdout {out}\nstderr {err}");
            let all = format!("{out}{err}");
            assert!(
                !all.contains(&format!("{stack}: up to date")) && !all.contains("everything is up to date"),
                "{all}"
            );
            assert!(err.contains(state) && err.contains(recovery), "{args:?} on {state}: {err}");
        }
        let (code, out, _) = acct.run(&["doctor", "--output", "json"]);
        assert_eq!(code, 1);
        let report: Value = serde_json::from_str(&out).unwrap();
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == format!("stack {stack}"))
            .unwrap_or_else(|| panic!("no check of {stack}: {report}"));
        assert_eq!(check["status"], "fail", "{check}");
        assert!(check["fix"].as_str().unwrap_or_default().contains(recovery), "{check}");
        set_state(&acct, "stack", stack, "UPDATE_COMPLETE");
    }
    let out = acct.ok(&["bootstrap"]);
    assert!(out.contains("up to date"), "{out}");
}

/// PendingMaintenance and InMaintenance (botocore NotebookInstanceStatus): SageMaker documents
/// no stop/start from them, so the tool sends neither and says it is maintenance and what to do.
#[test]
fn notebook_maintenance_states_are_handled() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "mai"]);
    for state in ["PendingMaintenance", "InMaintenance"] {
        set_state(&acct, "notebook", "mai-Notebook", state);
        let mark = acct.requests().len();
        for action in ["stop", "start"] {
            let (code, _, err) = acct.run(&[action, "--user", "mai"]);
            assert_eq!(code, 1, "{action} on {state}: {err}");
            assert!(err.contains(state) && err.contains("SageMaker maintenance"), "{action} on {state}: {err}");
        }
        let (code, _, err) = acct.run(&["url", "--user", "mai"]);
        assert_eq!(code, 1, "url on {state}: {err}");
        assert!(err.contains("SageMaker maintenance"), "url on {state}: {err}");

        let status = acct.json(&["status", "--user", "mai"]);
        assert_eq!(status["next"]["command"], "notebook-vend refresh --user mai", "{status}");
        assert!(status["next"]["why"].as_str().unwrap().contains("maintenance"), "{status}");

        let cull = acct.json(&["cull", "--max-age", "1s"]);
        assert_eq!(cull["notebooks"][0]["action"], "kept", "{cull}");
        let sent: Vec<String> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
        assert!(
            !sent.iter().any(|op| op == "StopNotebookInstance" || op == "StartNotebookInstance"),
            "{state}: {sent:?}"
        );
    }
}
