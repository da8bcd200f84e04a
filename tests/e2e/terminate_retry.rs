//! Issue 12 A12: a FAILED termination can be retried, and a stuck product removed on request.
//!
//! Service Catalog's TerminateProvisionedProduct is idempotent on its TerminateToken: a request
//! with a token already used answers that request's record again (botocore servicecatalog model,
//! TerminateProvisionedProductInput.TerminateToken: "An idempotency token that uniquely identifies
//! the termination request. This token is only valid during the termination process. After the
//! provisioned product is terminated, subsequent requests to terminate the same provisioned
//! product always return ResourceNotFound."). The sandbox plays it at its worst case: a used token
//! answers the old record, FAILED included (tests/sandbox/nvsandbox/servicecatalog/state.py, `terminate`). So a retry
//! with the first attempt's token would report the old failure forever; each attempt needs its
//! own token (the tool derives it from the product's last record, which the failed termination
//! changed).
//!
//! The failure is made as AWS would make it: the launch role loses sagemaker:DeleteNotebookInstance
//! (an explicit Deny added to the role), and the sandbox, which checks the launch role against the
//! CloudFormation handler permissions of AWS::SageMaker::NotebookInstance (`handlers.delete.
//! permissions`, tests/sandbox/nvsandbox/servicecatalog/launch_role.py), fails the TERMINATE record with AccessDenied.

use serde_json::json;

use crate::support::{rt, Account};

const DENY_POLICY: &str = "test-deny-notebook-delete";

/// The launch role's name, from the catalog stack's LaunchRoleArn output.
async fn launch_role(acct: &Account) -> String {
    let cfn = aws_sdk_cloudformation::Client::new(&acct.sdk().await);
    let out = cfn.describe_stacks().stack_name("service-catalog-config").send().await.unwrap();
    let arn = out.stacks()[0]
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("LaunchRoleArn"))
        .and_then(|o| o.output_value())
        .expect("the catalog stack outputs LaunchRoleArn")
        .to_owned();
    arn.rsplit('/').next().unwrap().to_owned()
}

/// Deny the launch role the notebook's delete (what an administrator's change could do on AWS).
async fn deny_delete(acct: &Account, role: &str) {
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "sagemaker:DeleteNotebookInstance", "Resource": "*"}]});
    iam.put_role_policy()
        .role_name(role)
        .policy_name(DENY_POLICY)
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
}

async fn restore_delete(acct: &Account, role: &str) {
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    iam.delete_role_policy().role_name(role).policy_name(DENY_POLICY).send().await.unwrap();
}

async fn notebook_status(acct: &Account, name: &str) -> Option<String> {
    let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
    let out = sm.describe_notebook_instance().notebook_instance_name(name).send().await.ok()?;
    out.notebook_instance_status().map(|s| s.as_str().to_owned())
}

/// A failed termination exits 1 with the record's error and the way out; once the cause is gone,
/// `terminate` again succeeds. Fails on a binary that sends the first attempt's TerminateToken
/// again: the sandbox answers the old FAILED record and the retry exits 1. Checked by building the
/// binary with `catalog::terminate` passing `None` for the last record id (a token fixed per
/// product, as before issue 12): this test failed on the retry with the first attempt's
/// AccessDenied record; it passes with the token chained to the product's last record.
#[test]
fn a_failed_termination_is_retried_with_a_new_token() {
    let acct = Account::ready();
    let rt = rt();
    acct.ok(&["provision", "--user", "tess", "-q"]);
    let role = rt.block_on(launch_role(&acct));
    rt.block_on(deny_delete(&acct, &role));

    let (code, out, err) = acct.run(&["terminate", "--user", "tess", "--yes", "-q"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("FAILED"), "{err}");
    assert!(err.contains("sagemaker:DeleteNotebookInstance"), "the record's error is not reported: {err}");
    assert!(err.contains("again to retry the termination"), "{err}");
    assert!(err.contains("--ignore-errors"), "{err}");
    // Nothing was lost: the notebook and its URL are still there.
    assert_eq!(rt.block_on(notebook_status(&acct, "tess-Notebook")).as_deref(), Some("InService"));
    assert!(rt.block_on(acct.parameter("tess")).is_some());

    rt.block_on(restore_delete(&acct, &role));
    acct.ok(&["terminate", "--user", "tess", "--yes", "-q"]);
    assert_eq!(rt.block_on(notebook_status(&acct, "tess-Notebook")), None);
    assert!(rt.block_on(acct.parameter("tess")).is_none(), "the URL parameter is left");
    assert_eq!(rt.block_on(acct.provisioned_count()), 0);
    // Two attempts, two termination records.
    assert_eq!(acct.count_ok("TerminateProvisionedProduct"), 2);
}

/// A product whose resources cannot be deleted is removed with `--ignore-errors` (Service
/// Catalog's IgnoreErrors), which says what it left behind; without the flag it stays.
#[test]
fn ignore_errors_removes_a_stuck_product_and_names_the_notebook_left_behind() {
    let acct = Account::ready();
    let rt = rt();
    acct.ok(&["provision", "--user", "ugo", "-q"]);
    let role = rt.block_on(launch_role(&acct));
    rt.block_on(deny_delete(&acct, &role));
    for _ in 0..2 {
        let (code, _, err) = acct.run(&["terminate", "--user", "ugo", "--yes", "-q"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("sagemaker:DeleteNotebookInstance"), "{err}");
    }
    assert_eq!(rt.block_on(acct.provisioned_count()), 1);

    // The flag alone does not confirm: without --yes and no terminal, nothing is sent.
    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["terminate", "--user", "ugo", "--ignore-errors"]);
    assert_eq!(code, 2, "{err}");
    assert!(acct.requests_since(mark).is_empty(), "{:?}", acct.requests_since(mark));

    let out = acct.json(&["terminate", "--user", "ugo", "--yes", "--ignore-errors", "-q"]);
    assert_eq!(out["outcome"], "terminated", "{out}");
    let message = out["message"].as_str().unwrap();
    assert!(message.contains("--ignore-errors") && message.contains("ugo-Notebook"), "{message}");
    assert!(message.contains("left behind"), "{message}");
    assert_eq!(rt.block_on(acct.provisioned_count()), 0, "the stuck product is still there");
    // IgnoreErrors removes the product, not the resources its stack could not delete.
    assert_eq!(rt.block_on(notebook_status(&acct, "ugo-Notebook")).as_deref(), Some("InService"));
}
