//! Bulk work (`refresh --all`) pays its rules in batches: the notebooks' states, the parameters'
//! metadata and the owners of the product stacks are read a page at a time, so each user costs a
//! presign and a PutParameter; what changes meanwhile is checked after, in a batch.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{rt, Account, Running};

fn count_ops(reqs: &[crate::support::Request]) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for r in reqs {
        *ops.entry(r.operation.clone()).or_insert(0) += 1;
    }
    ops
}

/// The owner of a product stack is its NotebookUserName (read once, on the first run, from the
/// stack); provision and every store bind it in the URL parameter's description, so a later run
/// reads owners, tiers and types from DescribeParameters pages and states from
/// ListNotebookInstances pages. Per user: one CreatePresignedNotebookInstanceUrl, one PutParameter.
#[test]
fn refresh_all_costs_a_presign_and_a_put_per_user() {
    let acct = Account::ready();
    let users = ["bea", "bob", "bud", "bux"];
    for u in users {
        acct.ok(&["provision", "--user", u, "-q"]);
    }
    let mark = acct.requests().len();
    let out = acct.json(&["refresh", "--all"]);
    assert_eq!(out["refreshed"], 4, "{out}");
    let ops = count_ops(&acct.requests_since(mark));
    assert_eq!(ops.get("CreatePresignedNotebookInstanceUrl"), Some(&4), "{ops:?}");
    assert_eq!(ops.get("PutParameter"), Some(&4), "{ops:?}");
    for per_user in ["DescribeStacks", "DescribeNotebookInstance", "ListTagsForResource", "DescribeRecord"] {
        assert_eq!(ops.get(per_user), None, "{per_user} sent in a bulk refresh: {ops:?}");
    }
    // Everything else is one batch call (pages of 50-100), whatever the number of users.
    for (op, n) in &ops {
        if !["CreatePresignedNotebookInstanceUrl", "PutParameter"].contains(&op.as_str()) {
            assert!(*n <= 2, "{op} sent {n} times for 4 users: {ops:?}");
        }
    }
    // The URLs are fresh, tagged and SecureString.
    for u in users {
        let p = rt().block_on(acct.parameter(u)).unwrap();
        assert_eq!(p.r#type().unwrap().as_str(), "SecureString");
        assert!(p.version() >= 2, "{u}");
    }
}

/// A parameter another tool wrote (no binding, no tags) and a description claiming someone else's
/// stack: the owners are read from the stacks (a stack two parameters claim is read from the stack,
/// so a false claim only costs a call), the tags restored, and the next run reads nothing per user.
#[test]
fn owners_are_read_from_the_stack_once_and_a_false_claim_costs_only_a_read() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "cal", "-q"]);
    acct.ok(&["provision", "--user", "cob", "-q"]);
    // cob's parameter rewritten by another tool (no tags), its description claiming cal's stack.
    let name = "/SageMaker/Notebooks/cob-Notebook";
    rt().block_on(async {
        let sdk = acct.sdk().await;
        let sc = aws_sdk_servicecatalog::Client::new(&sdk);
        let found = sc
            .search_provisioned_products()
            .access_level_filter(
                aws_sdk_servicecatalog::types::AccessLevelFilter::builder()
                    .key(aws_sdk_servicecatalog::types::AccessLevelFilterKey::Account)
                    .value("self")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let cal = found.provisioned_products().iter().find(|p| p.name() == Some("cal-Notebook")).unwrap();
        let cal_stack = cal.physical_id().unwrap().to_owned();
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        ssm.delete_parameter().name(name).send().await.unwrap();
        ssm.put_parameter()
            .name(name)
            .value("https://cob-notebook.notebook.us-east-1.sagemaker.aws?authToken=old")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .description(format!("a URL; stack {cal_stack}; session expires soon"))
            .send()
            .await
            .unwrap();
    });
    let mark = acct.requests().len();
    acct.json(&["refresh", "--all"]);
    let ops = count_ops(&acct.requests_since(mark));
    // cal's stack is claimed twice (read from the stack), cob's by nobody (read from the stack).
    assert_eq!(ops.get("DescribeStacks"), Some(&2), "both stacks read once: {ops:?}");
    assert_eq!(ops.get("ListTagsForResource"), Some(&1), "cob's tags checked once: {ops:?}");
    assert_eq!(ops.get("AddTagsToResource"), Some(&1), "cob's tags restored: {ops:?}");
    let mark = acct.requests().len();
    acct.json(&["refresh", "--all"]);
    let ops = count_ops(&acct.requests_since(mark));
    for per_user in ["DescribeStacks", "ListTagsForResource", "AddTagsToResource"] {
        assert_eq!(ops.get(per_user), None, "{per_user}: {ops:?}");
    }
    let listing = acct.json(&["list"]);
    let users: Vec<&str> = listing.as_array().unwrap().iter().map(|r| r["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["cal", "cob"], "{listing}");
}

/// A notebook stopped between the batch read of states and its store keeps no fresh URL: the
/// states are read again after the stores, and the URL just stored is deleted.
#[test]
fn a_notebook_stopped_while_its_url_is_stored_keeps_no_url() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "dot", "-q"]);
    acct.control("fault", serde_json::json!({"operation": "PutParameter", "kind": "hold", "count": 1}));
    let mut refresh = Running::start(&acct, &["refresh", "--all"]);
    let mut held = 0;
    for _ in 0..1500 {
        held = acct.control("held", serde_json::json!({}))["held"].as_u64().unwrap_or(0);
        if held > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(held, 1, "the refresh's PutParameter was never held: {}", refresh.stderr());
    rt().block_on(async {
        let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
        sm.stop_notebook_instance().notebook_instance_name("dot-Notebook").send().await.unwrap();
    });
    acct.control("release", serde_json::json!({}));
    let (code, err) = refresh.wait();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("dot-Notebook") && err.contains("deleted"), "{err}");
    assert!(rt().block_on(acct.parameter("dot")).is_none(), "a fresh URL outlived its notebook's stop");
}
