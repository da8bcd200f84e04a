//! `watch`: what the blog's EventBridge function did. A provision made anywhere (the console, the
//! API, the blog's README) gets its URL stored, once, from a scan of Service Catalog records, from
//! CloudTrail, or from one EventBridge event; so does a running notebook an update made elsewhere
//! restarted.

use std::time::{Duration, Instant};

use crate::support::{is_url_with_token_of, rt, stored_url, Account, Running};
use crate::update::{notebook, url_version};
use aws_sdk_servicecatalog::types::{ProductViewFilterBy, ProvisioningParameter};
use serde_json::{json, Value};

const OTHER_PRODUCT: &str = "Other Notebook";

fn fast(acc: &Account) {
    acc.configure(json!({"pending_seconds": 0.5, "record_seconds": 0.5}));
}

/// What a console user does: ProvisionProduct straight through the API, parameters in the console's
/// order (the user name not at position 1), no Owner tag, a name of their choosing.
pub(crate) async fn console_provision(acc: &Account, product_name: &str, user: &str, instance_type: &str) -> String {
    console_provision_as(&acc.sdk().await, product_name, user, instance_type).await
}

/// [`console_provision`] by whoever `sdk` signs as.
async fn console_provision_as(
    sdk: &aws_config::SdkConfig,
    product_name: &str,
    user: &str,
    instance_type: &str,
) -> String {
    let sc = aws_sdk_servicecatalog::Client::new(sdk);
    let products = sc
        .search_products()
        .filters(ProductViewFilterBy::FullTextSearch, vec![product_name.into()])
        .send()
        .await
        .unwrap();
    let product_id = products
        .product_view_summaries()
        .iter()
        .find(|p| p.name() == Some(product_name))
        .and_then(|p| p.product_id())
        .unwrap_or_else(|| panic!("no product {product_name}"))
        .to_owned();
    let path = sc.list_launch_paths().product_id(&product_id).send().await.unwrap();
    let path_id = path.launch_path_summaries()[0].id().unwrap().to_owned();
    let arts = sc.list_provisioning_artifacts().product_id(&product_id).send().await.unwrap();
    let artifact_id = arts.provisioning_artifact_details().last().unwrap().id().unwrap().to_owned();
    let param = |k: &str, v: &str| ProvisioningParameter::builder().key(k).value(v).build();
    let out = sc
        .provision_product()
        .product_id(product_id)
        .path_id(path_id)
        .provisioning_artifact_id(artifact_id)
        .provisioned_product_name(format!("console-{user}"))
        .provision_token(format!("console-{user}"))
        .provisioning_parameters(param("NotebookInstanceType", instance_type))
        .provisioning_parameters(param("S3IAMConfigStackName", "s3-iam-config"))
        .provisioning_parameters(param("NotebookUserName", user))
        .send()
        .await
        .unwrap();
    out.record_detail().unwrap().record_id().unwrap().to_owned()
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect()
}

#[tokio::test]
async fn watch_once_stores_console_provisions_once_and_ignores_other_products() {
    let acc = Account::new();
    acc.bootstrap();
    acc.ok(&["bootstrap", "-q", "--catalog-stack", "other-catalog", "--product-name", OTHER_PRODUCT]);
    fast(&acc);
    console_provision(&acc, "SageMaker Notebook", "alice", "ml.t3.medium").await;
    console_provision(&acc, OTHER_PRODUCT, "carol", "ml.t3.medium").await;

    // Right away: alice's record is still in progress and is awaited.
    let out = acc.ok(&["watch", "--once", "--output", "json"]);
    let handled = lines(&out);
    assert_eq!(handled.len(), 1, "{out}");
    assert_eq!(handled[0]["result"], "stored");
    assert_eq!(handled[0]["user"], "alice");
    assert_eq!(handled[0]["provisioned_product"], "console-alice");
    let url = stored_url(&acc, "alice").await.expect("alice's URL stored");
    assert!(is_url_with_token_of(&url, "alice"), "{url}");
    assert_eq!(stored_url(&acc, "carol").await, None, "another product's provision was handled");

    // The cursor (SSM) says it is done: a second run writes nothing.
    let mark = acc.requests().len();
    let (code, out, err) = acc.run(&["watch", "--once"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "", "second run handled something");
    assert_eq!(acc.writes_and_presigns_since(mark), Vec::<String>::new());
    assert_eq!(stored_url(&acc, "alice").await.as_deref(), Some(url.as_str()));
}

#[tokio::test]
async fn watch_once_reports_a_failed_record_and_still_handles_the_others() {
    let acc = Account::new();
    acc.bootstrap();
    fast(&acc);
    let bad = console_provision(&acc, "SageMaker Notebook", "dave", "ml.p99.huge").await;
    console_provision(&acc, "SageMaker Notebook", "erin", "ml.t3.medium").await;

    let (code, out, err) = acc.run(&["watch", "--once", "--output", "json"]);
    assert_eq!(code, 1, "documented: exit 1 when any provision failed\n{out}{err}");
    let handled = lines(&out);
    let failed = handled.iter().find(|h| h["result"] == "failed").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(failed["record_id"], bad.as_str());
    assert!(failed["reason"].as_str().unwrap().contains("NotebookInstanceType"), "{failed}");
    assert!(handled.iter().any(|h| h["result"] == "stored" && h["user"] == "erin"), "{out}");
    assert!(is_url_with_token_of(&stored_url(&acc, "erin").await.unwrap(), "erin"));
    assert!(err.contains("1 stored, 1 failed"), "{err}");
}

/// The event EventBridge delivers for a ProvisionProduct call: the sandbox's CloudTrail record
/// of the call, wrapped as the blog's rule receives it.
async fn blog_event(acc: &Account, record_id: &str) -> Value {
    let ct = aws_sdk_cloudtrail::Client::new(&acc.sdk().await);
    let out = ct.lookup_events().send().await.unwrap();
    let detail = out
        .events()
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e.cloud_trail_event()?).ok())
        .find(|d| d["responseElements"]["recordDetail"]["recordId"] == record_id)
        .expect("CloudTrail has the ProvisionProduct call");
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.servicecatalog", "account": acc.id, "time": detail["eventTime"], "region": "us-east-1",
        "resources": [], "detail": detail
    })
}

#[tokio::test]
async fn watch_event_file_stores_the_url_and_rejects_malformed_events() {
    let acc = Account::new();
    acc.bootstrap();
    acc.ok(&["bootstrap", "-q", "--catalog-stack", "other-catalog", "--product-name", OTHER_PRODUCT]);
    fast(&acc);
    let record = console_provision(&acc, "SageMaker Notebook", "bob", "ml.t3.medium").await;
    let event = blog_event(&acc, &record).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let path = file.to_str().unwrap();

    let out = acc.ok(&["watch", "--event", path, "--output", "json"]);
    let h = &lines(&out)[0];
    assert_eq!(
        (h["result"].as_str(), h["user"].as_str(), h["record_id"].as_str()),
        (Some("stored"), Some("bob"), Some(record.as_str()))
    );
    assert!(is_url_with_token_of(&stored_url(&acc, "bob").await.unwrap(), "bob"));

    // The same event again (EventBridge delivers at least once): nothing written.
    let mark = acc.requests().len();
    let out = acc.ok(&["watch", "--event", path]);
    assert!(out.starts_with("already-handled"), "{out}");
    assert_eq!(acc.writes_and_presigns_since(mark), Vec::<String>::new());

    // Another product's provision, from stdin: ignored with a message, exit 0.
    let other = console_provision(&acc, OTHER_PRODUCT, "olga", "ml.t3.medium").await;
    let other_event = blog_event(&acc, &other).await;
    let out = acc.cmd().args(["watch", "--event", "-"]).write_stdin(other_event.to_string()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignored"), "{out:?}");
    assert!(out.stdout.is_empty());
    assert_eq!(stored_url(&acc, "olga").await, None);

    // Another event name: ignored without any AWS call.
    let mut terminate = event.clone();
    terminate["detail"]["eventName"] = json!("TerminateProvisionedProduct");
    let mark = acc.requests().len();
    let out = acc.cmd().args(["watch", "--event", "-"]).write_stdin(terminate.to_string()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a ProvisionProduct call"));
    assert_eq!(acc.requests_since(mark), vec![]);

    // Malformed: exit 2 naming the problem.
    let mut no_list = event.clone();
    no_list["detail"]["requestParameters"]["provisioningParameters"] = json!({"NotebookUserName": "bob"});
    let mut no_record = event.clone();
    no_record["detail"]["responseElements"] = Value::Null;
    let mut no_user = event.clone();
    no_user["detail"]["requestParameters"]["provisioningParameters"] =
        json!([{"key": "NotebookInstanceType", "value": "ml.t3.medium"}]);
    for (body, expect) in [
        ("{not json".to_owned(), "not JSON"),
        (no_list.to_string(), "provisioningParameters is not a list"),
        (no_record.to_string(), "recordId"),
        (no_user.to_string(), "no NotebookUserName"),
    ] {
        let out = acc.cmd().args(["watch", "--event", "-"]).write_stdin(body).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expect}: {err}");
        assert!(err.contains(expect), "expected {expect:?} in {err}");
    }
}

#[tokio::test]
async fn watch_cloudtrail_once_and_missing_event_file() {
    let acc = Account::new();
    acc.bootstrap();
    fast(&acc);
    console_provision(&acc, "SageMaker Notebook", "fay", "ml.t3.medium").await;
    let out = acc.ok(&["watch", "--once", "--cloudtrail"]);
    assert!(out.starts_with("stored") && out.contains("user fay"), "{out}");
    assert!(acc.count("LookupEvents") >= 1);
    assert!(is_url_with_token_of(&stored_url(&acc, "fay").await.unwrap(), "fay"));
    let (code, _, err) = acc.run(&["watch", "--event", "/nonexistent/event.json"]);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test]
async fn watch_daemon_picks_up_a_console_provision_and_stops_on_sigterm() {
    let acc = Account::new();
    acc.bootstrap();
    fast(&acc);
    let mut watch = Running::start(&acc, &["watch", "--interval", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    console_provision(&acc, "SageMaker Notebook", "gus", "ml.t3.medium").await;
    let url = loop {
        if let Some(u) = stored_url(&acc, "gus").await {
            break u;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not stored: {}", watch.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let latency = started.elapsed();
    eprintln!("watch stored the URL {:.2}s after ProvisionProduct (record 0.5 s + notebook Pending 0.5 s + scan interval 1 s)", latency.as_secs_f64());
    assert!(is_url_with_token_of(&url, "gus"));
    assert_eq!(watch.terminate(), 0, "{}", watch.stderr());
    let mut stdout = String::new();
    std::io::Read::read_to_string(watch.child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(stdout.starts_with("stored") && stdout.contains("user gus"), "{stdout}");
    assert!(watch.stderr().contains("stopped by SIGTERM"), "{}", watch.stderr());
}

/// An update made in the console (UpdateProvisionedProduct with the previous values) and the
/// record id it answered, once that record has finished.
fn console_update(acct: &Account, user: &str, token: &str, instance_type: Option<&str>) -> String {
    rt().block_on(async {
        let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
        use aws_sdk_servicecatalog::types::UpdateProvisioningParameter as P;
        let keep = |k: &str| P::builder().key(k).use_previous_value(true).build();
        let itype = match instance_type {
            Some(t) => P::builder().key("NotebookInstanceType").value(t).build(),
            None => keep("NotebookInstanceType"),
        };
        let r = sc
            .update_provisioned_product()
            .provisioned_product_name(format!("{user}-Notebook"))
            .update_token(token)
            .provisioning_parameters(itype)
            .provisioning_parameters(keep("NotebookUserName"))
            .send()
            .await
            .unwrap();
        let id = r.record_detail().unwrap().record_id().unwrap().to_owned();
        let start = Instant::now();
        loop {
            let d = sc.describe_record().id(&id).send().await.unwrap();
            let s = d.record_detail().unwrap().status().unwrap().as_str().to_owned();
            if s == "SUCCEEDED" {
                return id;
            }
            assert!(s != "FAILED" && start.elapsed() < Duration::from_secs(30), "{s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[test]
fn watch_stores_a_fresh_url_after_a_console_update_and_ignores_one_of_a_stopped_notebook() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "hal", "-q"]);
    acct.ok(&["provision", "--user", "ivy", "-q"]);
    acct.ok(&["stop", "--user", "ivy", "-q"]);
    // nothing to do yet: both URLs are newer than the provisions
    let quiet = acct.ok(&["watch", "--once", "--output", "json"]);
    assert!(quiet.trim().is_empty(), "{quiet}");

    let before = url_version(&acct, "hal");
    let hal_record = console_update(&acct, "hal", "console-hal", Some("ml.t3.large"));
    let ivy_record = console_update(&acct, "ivy", "console-ivy", None);
    let (code, out, err) = acct.run(&["watch", "--once", "--output", "json"]);
    assert_eq!(code, 0, "an update of a stopped notebook is not a failure: {out}\n{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let hal = lines.iter().find(|l| l["record_id"] == hal_record.as_str()).expect(&out);
    assert_eq!(hal["result"], "stored", "{hal}");
    assert_eq!(hal["user"], "hal", "{hal}");
    assert!(url_version(&acct, "hal") > before, "a fresh URL for the restarted notebook");
    assert_eq!(notebook(&acct, "hal").status, "InService");
    assert!(lines.iter().all(|l| l["record_id"] != ivy_record.as_str()), "{out}");
    assert_eq!(notebook(&acct, "ivy").status, "Stopped", "watch never starts a notebook the user stopped");
    // handled once: the next scan has nothing to do
    let again = acct.ok(&["watch", "--once", "--output", "json"]);
    assert!(again.trim().is_empty(), "{again}");
}

/// A notebook vended before the product template set the owner tag (here: the tag removed as
/// root) gets it back from the next `watch`, which pays one ListTags per notebook for the sweep:
/// the notebooks and their ARNs come from a paged ListNotebookInstances, not one
/// DescribeNotebookInstance per user.
#[tokio::test]
async fn watch_gives_untagged_notebooks_their_owner_tag_at_one_list_tags_per_notebook() {
    const OWNER: &str = "notebook-vend:user";
    let acc = Account::new();
    acc.bootstrap();
    fast(&acc);
    acc.ok(&["provision", "--user", "alice", "-q"]);
    acc.ok(&["provision", "--user", "bob", "-q"]);
    let sm = aws_sdk_sagemaker::Client::new(&acc.sdk().await);
    let arn = |name: &str| {
        let sm = sm.clone();
        let name = name.to_owned();
        async move {
            let nb = sm.describe_notebook_instance().notebook_instance_name(name).send().await.unwrap();
            nb.notebook_instance_arn().unwrap().to_owned()
        }
    };
    let alice = arn("alice-Notebook").await;
    sm.delete_tags().resource_arn(&alice).tag_keys(OWNER).send().await.unwrap();

    let mark = acc.requests().len();
    let (code, out, err) = acc.run(&["watch", "--once"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&format!("tagged notebook alice-Notebook with {OWNER}=alice")), "{err}");
    let ops: Vec<String> = acc.requests_since(mark).into_iter().map(|r| r.operation).collect();
    let n = |op: &str| ops.iter().filter(|o| *o == op).count();
    assert_eq!((n("ListTags"), n("AddTags")), (2, 1), "{ops:?}");
    assert_eq!(n("DescribeNotebookInstance"), 0, "the sweep described notebooks one by one: {ops:?}");
    assert!(n("ListNotebookInstances") >= 1, "{ops:?}");
    let tags = sm.list_tags().resource_arn(&alice).send().await.unwrap();
    let owner = tags.tags().iter().find(|t| t.key() == Some(OWNER)).and_then(|t| t.value());
    assert_eq!(owner, Some("alice"));

    // Tagged now: the next sweep reads and writes no tag but the two ListTags.
    let mark = acc.requests().len();
    acc.ok(&["watch", "--once"]);
    let ops: Vec<String> = acc.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(!ops.contains(&"AddTags".to_owned()), "{ops:?}");
}

/// A data scientist launched their notebook from the console under a name of their choosing: the
/// operator's commands for that user find it among the account's provisioned products (the
/// operator's own search, at the User level, shows only what the operator launched). Both are IAM
/// users: the sandbox's root key sees every product at every level.
#[tokio::test]
async fn an_operator_reaches_a_notebook_someone_else_launched_under_another_name() {
    let acc = Account::new();
    acc.bootstrap();
    fast(&acc);
    let iam = aws_sdk_iam::Client::new(&acc.sdk().await);
    let mut keys = Vec::new();
    for name in ["carol", "ops"] {
        iam.create_user().user_name(name).send().await.unwrap();
        let key = iam.create_access_key().user_name(name).send().await.unwrap();
        let key = key.access_key().unwrap();
        keys.push((key.access_key_id().to_owned(), key.secret_access_key().to_owned()));
    }
    let carol = acc.sdk_as(&keys[0].0, &keys[0].1).await;
    console_provision_as(&carol, "SageMaker Notebook", "carol", "ml.t3.medium").await;
    let ops = crate::support::Caller::with_key("ops", "arn:aws:iam::-:user/ops", &keys[1].0, &keys[1].1);

    let status = ops.json(&acc, &["status", "--user", "carol"]);
    assert_eq!(status["provisioned_product"]["name"], "console-carol", "{status}");
    let refreshed = ops.json(&acc, &["refresh", "--user", "carol"]);
    assert_eq!(refreshed["user"], "carol", "{refreshed}");
    let url = stored_url(&acc, "carol").await.expect("carol's URL stored");
    assert!(is_url_with_token_of(&url, "carol"), "{url}");
}
