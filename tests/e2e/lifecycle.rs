//! A notebook's life after provision: list, status, stop, start, cull, terminate (and a failed
//! termination's retry), teardown, end to end against the sandbox.
//!
//! Run with `--nocapture` to see what each command cost in API calls (from the request log).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{rt, Account};
use serde_json::{json, Value};

/// Operations served since `mark`, counted, printed for the cost table, and returned.
fn cost(acct: &Account, mark: usize, what: &str) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for r in acct.requests_since(mark) {
        *ops.entry(r.operation).or_insert(0) += 1;
    }
    let total: usize = ops.values().sum();
    eprintln!("cost of `{what}`: {total} calls {ops:?}");
    ops
}

/// `args` must exit with `code`; returns (stdout, stderr).
fn expect(acct: &Account, args: &[&str], code: i32) -> (String, String) {
    let (got, out, err) = acct.run(args);
    assert_eq!(got, code, "notebook-vend {args:?} exited {got}\nstdout: {out}\nstderr: {err}");
    (out, err)
}

async fn notebook_status(acct: &Account, name: &str) -> Option<String> {
    let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
    match sm.describe_notebook_instance().notebook_instance_name(name).send().await {
        Ok(o) => Some(o.notebook_instance_status().unwrap().as_str().to_owned()),
        Err(_) => None,
    }
}

async fn parameter_names(acct: &Account) -> Vec<String> {
    let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
    let out = ssm.describe_parameters().max_results(50).send().await.unwrap();
    out.parameters().iter().filter_map(|p| p.name()).map(str::to_owned).collect()
}

/// What someone outside this tool does: ProvisionProduct through the Service Catalog API, with a
/// provisioned product name of their own and no Owner tag. Waits for the record to succeed.
async fn provision_with_sdk(acct: &Account, user: &str, pp_name: &str) {
    use aws_sdk_servicecatalog::types::ProvisioningParameter;
    let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
    let products = sc.search_products().send().await.unwrap();
    let product = products
        .product_view_summaries()
        .iter()
        .find(|p| p.name() == Some("SageMaker Notebook"))
        .and_then(|p| p.product_id())
        .unwrap()
        .to_owned();
    let paths = sc.list_launch_paths().product_id(&product).send().await.unwrap();
    let path = paths.launch_path_summaries()[0].id().unwrap().to_owned();
    let artifacts = sc.list_provisioning_artifacts().product_id(&product).send().await.unwrap();
    let artifact = artifacts.provisioning_artifact_details()[0].id().unwrap().to_owned();
    let out = sc
        .provision_product()
        .product_id(&product)
        .path_id(path)
        .provisioning_artifact_id(artifact)
        .provisioned_product_name(pp_name)
        .provisioning_parameters(ProvisioningParameter::builder().key("NotebookUserName").value(user).build())
        .send()
        .await
        .unwrap();
    let record = out.record_detail().unwrap().record_id().unwrap().to_owned();
    for _ in 0..100 {
        let r = sc.describe_record().id(&record).send().await.unwrap();
        match r.record_detail().unwrap().status().unwrap().as_str() {
            "SUCCEEDED" => return,
            "FAILED" => panic!("record {record} failed: {:?}", r.record_detail()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("record {record} did not finish");
}

fn row<'a>(list: &'a Value, user: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"] == user)
        .unwrap_or_else(|| panic!("no row for {user} in {list:#}"))
}

fn is_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[test]
fn list_and_status_include_a_notebook_provisioned_outside_the_tool() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "alice", "-q"]);
    rt().block_on(provision_with_sdk(&acct, "carol", "carol-console"));

    let mark = acct.requests().len();
    let list = acct.json(&["list"]);
    cost(&acct, mark, "list (2 notebooks)");
    assert_eq!(list.as_array().unwrap().len(), 2, "{list:#}");
    let alice = row(&list, "alice");
    assert_eq!(alice["notebook"], "alice-Notebook");
    assert_eq!(alice["status"], "InService");
    assert!(alice["instance_type"].as_str().unwrap().starts_with("ml."), "{alice}");
    assert_eq!(alice["provisioned_product"], "alice-Notebook");
    assert!(alice["provisioned_product_id"].as_str().unwrap().starts_with("pp-"));
    assert_eq!(alice["product_status"], "AVAILABLE");
    assert_eq!(alice["parameter"], "/SageMaker/Notebooks/alice-Notebook");
    assert!(is_time(&alice["url_stored_at"]) && is_time(&alice["session_expires"]), "{alice}");
    assert!(alice["session_expires"].as_str() > alice["url_stored_at"].as_str());
    let carol = row(&list, "carol");
    assert_eq!(carol["notebook"], "carol-Notebook");
    assert_eq!(carol["provisioned_product"], "carol-console");
    assert_eq!(carol["status"], "InService");
    assert_eq!(carol["product_status"], "AVAILABLE");
    assert!(carol["url_stored_at"].is_null() && carol["parameter"].is_null(), "{carol}");

    let table = acct.ok(&["list"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "USER",
            "NOTEBOOK",
            "STATUS",
            "TYPE",
            "PRODUCT-STATUS",
            "URL-STORED",
            "SESSION-EXPIRES",
            "VERSION",
            "NEXT-START",
            "NEXT-STOP"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(&rows[0][..3], ["alice", "alice-Notebook", "InService"]);
    assert_eq!(&rows[1][..3], ["carol", "carol-Notebook", "InService"]);
    assert_eq!(rows[1][4], "AVAILABLE");
    assert_eq!(&rows[1][5..], ["-", "-", "newest", "-", "-"]);

    let mark = acct.requests().len();
    let status = acct.json(&["status", "--user", "alice"]);
    cost(&acct, mark, "status");
    assert_eq!(status["user"], "alice");
    let pp = &status["provisioned_product"];
    assert_eq!(pp["name"], "alice-Notebook");
    assert!(pp["id"].as_str().unwrap().starts_with("pp-"));
    assert_eq!(pp["status"], "AVAILABLE");
    assert!(is_time(&pp["created"]));
    assert!(pp["last_record"]["id"].as_str().unwrap().starts_with("rec-"));
    assert_eq!(pp["last_record"]["record_type"], "PROVISION_PRODUCT");
    assert_eq!(pp["last_record"]["status"], "SUCCEEDED");
    assert_eq!(pp["last_record"]["errors"], json!([]));
    let nb = &status["notebook"];
    assert_eq!(nb["name"], "alice-Notebook");
    assert_eq!(nb["status"], "InService");
    assert!(nb["failure_reason"].is_null());
    assert!(nb["instance_type"].as_str().unwrap().starts_with("ml."));
    assert!(is_time(&nb["created"]) && is_time(&nb["last_modified"]), "{nb}");
    let param = &status["parameter"];
    assert_eq!(param["parameter"], "/SageMaker/Notebooks/alice-Notebook");
    assert_eq!(param["parameter_type"], "SecureString");
    assert!(is_time(&param["stored_at"]) && is_time(&param["session_expires"]), "{param}");
    assert_eq!(status["next"]["command"], "notebook-vend url --user alice");

    let carol = acct.json(&["status", "--user", "carol"]);
    assert_eq!(carol["provisioned_product"]["name"], "carol-console");
    assert_eq!(carol["notebook"]["status"], "InService");
    assert!(carol["parameter"].is_null());
    assert_eq!(carol["next"]["command"], "notebook-vend refresh --user carol");

    let text = acct.ok(&["status", "--user", "alice"]);
    for want in [
        "provisioned product  alice-Notebook",
        "notebook             alice-Notebook InService",
        "next                 notebook-vend url --user alice",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
}

#[test]
fn status_and_list_of_nothing() {
    let acct = Account::ready();
    let (out, err) = expect(&acct, &["status", "--user", "nobody", "--output", "json"], 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(report["provisioned_product"].is_null() && report["notebook"].is_null() && report["parameter"].is_null());
    assert_eq!(report["next"]["command"], "notebook-vend provision --user nobody");
    assert!(err.contains("nobody has nothing"), "{err}");
    assert_eq!(acct.json(&["list"]), json!([]));
}

#[test]
fn stop_start_round_trip() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "dave", "-q"]);
    let stored_at = |acct: &Account| -> String {
        let status = acct.json(&["status", "--user", "dave"]);
        status["parameter"]["stored_at"].as_str().unwrap_or_else(|| panic!("no stored_at: {status:#}")).to_owned()
    };
    let before = stored_at(&acct);

    let mark = acct.requests().len();
    let stopped = acct.json(&["stop", "--user", "dave"]);
    cost(&acct, mark, "stop");
    assert_eq!(stopped["outcome"], "stopped");
    assert_eq!(stopped["previous_status"], "InService");
    assert_eq!(stopped["status"], "Stopped");
    assert_eq!(rt().block_on(notebook_status(&acct, "dave-Notebook")).as_deref(), Some("Stopped"));

    // Stopping a stopped notebook succeeds, says so and sends no stop.
    let mark = acct.requests().len();
    let (out, _) = expect(&acct, &["stop", "--user", "dave"], 0);
    assert!(out.contains("already Stopped"), "{out}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());
    assert_eq!(
        acct.json(&["status", "--user", "dave"])["next"]["command"],
        "notebook-vend start --user dave --refresh"
    );

    let mark = acct.requests().len();
    let started = acct.json(&["start", "--user", "dave", "--refresh"]);
    cost(&acct, mark, "start --refresh");
    assert_eq!(started["outcome"], "started");
    assert_eq!(started["status"], "InService");
    assert_eq!(started["stored"]["parameter"], "/SageMaker/Notebooks/dave-Notebook");
    assert_eq!(rt().block_on(notebook_status(&acct, "dave-Notebook")).as_deref(), Some("InService"));
    let after = stored_at(&acct);
    assert!(after >= before, "stored_at went back: {before} -> {after}");
    assert!(acct.requests_since(mark).iter().any(|r| r.operation == "PutParameter"));

    let mark = acct.requests().len();
    let (out, _) = expect(&acct, &["start", "--user", "dave"], 0);
    assert!(out.contains("already InService"), "{out}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());

    // --no-wait returns while the notebook is still Stopping.
    acct.configure(json!({"pending_seconds": 3}));
    let quick = acct.json(&["stop", "--user", "dave", "--no-wait"]);
    assert_eq!(quick["outcome"], "stop_requested");
    assert_eq!(rt().block_on(notebook_status(&acct, "dave-Notebook")).as_deref(), Some("Stopping"));
}

#[test]
fn states_that_cannot_take_the_action_exit_1_saying_why() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "erin", "-q"]);
    acct.configure(json!({"pending_seconds": 4}));

    acct.ok(&["stop", "--user", "erin", "--no-wait", "-q"]);
    let mark = acct.requests().len();
    let (_, err) = expect(&acct, &["start", "--user", "erin"], 1);
    assert!(err.contains("is Stopping") && err.contains("wait until it is Stopped"), "{err}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());

    // Stopping while already Stopping waits for Stopped and succeeds.
    let stopped = acct.json(&["stop", "--user", "erin"]);
    assert_eq!((stopped["previous_status"].as_str(), stopped["status"].as_str()), (Some("Stopping"), Some("Stopped")));

    acct.ok(&["start", "--user", "erin", "--no-wait", "-q"]);
    let mark = acct.requests().len();
    let (_, err) = expect(&acct, &["stop", "--user", "erin"], 1);
    assert!(err.contains("is Pending") && err.contains("wait until it is InService"), "{err}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());

    let (_, err) = expect(&acct, &["stop", "--user", "ghost"], 1);
    assert!(err.contains("no notebook ghost-Notebook") && err.contains("provision --user ghost"), "{err}");
    let (_, err) = expect(&acct, &["start", "--user", "ghost", "--refresh"], 1);
    assert!(err.contains("no notebook ghost-Notebook"), "{err}");
}

#[test]
fn failed_notebook_cannot_be_started_and_status_says_replace_it() {
    let acct = Account::ready();
    acct.fail_notebook("fay-Notebook", "Sandbox: out of capacity");
    let (_, err) = expect(&acct, &["provision", "--user", "fay", "-q"], 1);
    assert!(err.contains("out of capacity"), "{err}");
    let (_, err) = expect(&acct, &["start", "--user", "fay"], 1);
    assert!(err.contains("Failed (Sandbox: out of capacity)") && err.contains("terminate --user fay"), "{err}");
    let status = acct.json(&["status", "--user", "fay"]);
    assert_eq!(status["notebook"]["failure_reason"], "Sandbox: out of capacity");
    assert_eq!(status["next"]["command"], "notebook-vend terminate --user fay && notebook-vend provision --user fay");
    // Terminate cleans up a failed notebook like any other.
    acct.ok(&["terminate", "--user", "fay", "--yes", "-q"]);
    assert_eq!(rt().block_on(notebook_status(&acct, "fay-Notebook")), None);
}

#[test]
fn terminate_removes_product_notebook_and_parameter_and_is_idempotent() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "frank", "-q"]);
    acct.ok(&["provision", "--user", "keep", "-q"]);

    let mark = acct.requests().len();
    let out = acct.json(&["terminate", "--user", "frank", "--yes"]);
    cost(&acct, mark, "terminate --yes");
    assert_eq!(out["outcome"], "terminated");
    assert_eq!(out["provisioned_product"]["name"], "frank-Notebook");
    assert!(out["record_id"].as_str().unwrap().starts_with("rec-"));
    assert_eq!(out["parameter_deleted"], true);
    rt().block_on(async {
        assert_eq!(acct.provisioned_count().await, 1, "only keep's product is left");
        assert_eq!(notebook_status(&acct, "frank-Notebook").await, None);
        assert_eq!(notebook_status(&acct, "keep-Notebook").await.as_deref(), Some("InService"));
        assert_eq!(parameter_names(&acct).await, vec!["/SageMaker/Notebooks/keep-Notebook".to_owned()]);
    });
    assert!(acct.requests_since(mark).iter().any(|r| r.operation == "TerminateProvisionedProduct"));

    let mark = acct.requests().len();
    let (out, _) = expect(&acct, &["terminate", "--user", "frank", "--yes"], 0);
    assert!(out.contains("nothing left for frank"), "{out}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());
    assert_eq!(acct.json(&["terminate", "--user", "frank", "--yes"])["outcome"], "nothing_left");
    let list = acct.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["user"], "keep");
}

#[test]
fn terminate_removes_a_leftover_parameter() {
    let acct = Account::ready();
    rt().block_on(async {
        let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
        ssm.put_parameter()
            .name("/SageMaker/Notebooks/old-Notebook")
            .value("https://stale")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    });
    let list = acct.json(&["list"]);
    assert_eq!(list[0]["user"], "old");
    assert!(list[0]["product_status"].is_null());
    assert_eq!(acct.json(&["status", "--user", "old"])["next"]["command"], "notebook-vend terminate --user old");
    let out = acct.json(&["terminate", "--user", "old", "--yes"]);
    assert_eq!(out["parameter_deleted"], true);
    assert!(rt().block_on(parameter_names(&acct)).is_empty());
}

#[test]
fn terminate_and_teardown_without_yes_off_a_terminal_exit_2_sending_nothing() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "gus", "-q"]);
    let mark = acct.requests().len();
    let (_, err) = expect(&acct, &["terminate", "--user", "gus"], 2);
    assert!(err.contains("--yes") && err.contains("not a terminal"), "{err}");
    let (_, err) = expect(&acct, &["teardown", "--terminate-notebooks"], 2);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(acct.requests_since(mark), vec![], "a refused command sent requests");
    assert_eq!(rt().block_on(notebook_status(&acct, "gus-Notebook")).as_deref(), Some("InService"));
}

#[test]
fn dry_runs_resolve_everything_and_send_no_write() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "hal", "-q"]);
    let mark = acct.requests().len();

    let stop = acct.json(&["stop", "--user", "hal", "--dry-run"]);
    assert_eq!((stop["dry_run"].as_bool(), stop["outcome"].as_str()), (Some(true), Some("would_stop")));
    let start = acct.json(&["start", "--user", "hal", "--refresh", "--dry-run"]);
    assert_eq!(start["outcome"], "already_in_service");
    let term = acct.json(&["terminate", "--user", "hal", "--dry-run"]);
    assert_eq!(term["outcome"], "would_terminate");
    assert_eq!(term["provisioned_product"]["name"], "hal-Notebook");
    assert_eq!(term["parameter"], "/SageMaker/Notebooks/hal-Notebook");
    let (out, _) = expect(&acct, &["terminate", "--user", "hal", "--dry-run"], 0);
    assert!(out.contains("dry run") && out.contains("would terminate"), "{out}");
    let plan = acct.json(&["teardown", "--dry-run", "--terminate-notebooks"]);
    assert_eq!(plan["outcome"], "would_tear_down");
    assert_eq!(plan["terminated"][0]["user"], "hal");
    assert_eq!(plan["parameters_deleted"], json!(["/SageMaker/Notebooks/hal-Notebook"]));
    assert_eq!(plan["stacks"].as_array().unwrap().len(), 2);
    assert!(plan["objects_deleted"].as_u64().unwrap() >= 1);
    let (_, err) = expect(&acct, &["teardown", "--dry-run"], 1);
    assert!(err.contains("hal-Notebook") && err.contains("--terminate-notebooks"), "{err}");

    assert_eq!(acct.writes_since(mark), Vec::<String>::new());
    cost(&acct, mark, "stop+start+terminate x2+teardown x2 --dry-run");
    assert_eq!(rt().block_on(notebook_status(&acct, "hal-Notebook")).as_deref(), Some("InService"));
    assert_eq!(rt().block_on(acct.provisioned_count()), 1);
}

#[test]
fn teardown_refuses_while_notebooks_remain_then_removes_everything_and_bootstrap_works_again() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ida", "-q"]);
    rt().block_on(provision_with_sdk(&acct, "jon", "jon-console"));
    let bucket = acct.bootstrap()["bucket"].as_str().unwrap().to_owned();
    rt().block_on(async {
        let sdk = acct.sdk().await;
        // More versions and a delete marker in the (versioned) bucket; a parameter left behind by
        // a notebook deleted long ago; a parameter outside the prefix that must survive.
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        // The template enables versioning; moto's CloudFormation ignores VersioningConfiguration.
        let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(enabled).send().await.unwrap();
        for body in ["one", "two"] {
            s3.put_object()
                .bucket(&bucket)
                .key("notes.txt")
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
        s3.delete_object().bucket(&bucket).key("notes.txt").send().await.unwrap();
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        for name in ["/SageMaker/Notebooks/gone-Notebook", "/other/keep-me"] {
            ssm.put_parameter()
                .name(name)
                .value("x")
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .send()
                .await
                .unwrap();
        }
    });

    let mark = acct.requests().len();
    let (_, err) = expect(&acct, &["teardown", "--yes"], 1);
    assert!(
        err.contains("ida-Notebook") && err.contains("jon-console") && err.contains("--terminate-notebooks"),
        "{err}"
    );
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());

    let mark = acct.requests().len();
    let out = acct.json(&["teardown", "--yes", "--terminate-notebooks"]);
    let ops = cost(&acct, mark, "teardown --yes --terminate-notebooks (2 notebooks)");
    assert_eq!(out["outcome"], "torn_down");
    assert_eq!(out["terminated"].as_array().unwrap().len(), 2);
    assert_eq!(out["bucket"], bucket.as_str());
    assert!(out["objects_deleted"].as_u64().unwrap() >= 4, "{out}");
    assert_eq!(ops.get("TerminateProvisionedProduct"), Some(&2));
    assert!(ops.contains_key("ListObjectVersions") && ops.contains_key("DeleteObjects"));
    rt().block_on(async {
        let sdk = acct.sdk().await;
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        for stack in ["s3-iam-config", "service-catalog-config"] {
            assert!(cfn.describe_stacks().stack_name(stack).send().await.is_err(), "stack {stack} is left");
        }
        let live = cfn.list_stacks().send().await.unwrap();
        let left: Vec<_> = live
            .stack_summaries()
            .iter()
            .filter(|s| s.stack_status().is_some_and(|st| st.as_str() != "DELETE_COMPLETE"))
            .map(|s| s.stack_name().unwrap_or_default().to_owned())
            .collect();
        assert!(left.is_empty(), "stacks left: {left:?}");
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        let buckets = s3.list_buckets().send().await.unwrap();
        assert!(buckets.buckets().is_empty(), "buckets left: {:?}", buckets.buckets());
        assert_eq!(parameter_names(&acct).await, vec!["/other/keep-me".to_owned()]);
        assert_eq!(notebook_status(&acct, "ida-Notebook").await, None);
        assert_eq!(notebook_status(&acct, "jon-Notebook").await, None);
        assert_eq!(acct.provisioned_count().await, 0);
    });

    // Idempotent: nothing left, nothing written.
    let mark = acct.requests().len();
    let (out, _) = expect(&acct, &["teardown", "--yes"], 0);
    assert!(out.contains("nothing to tear down"), "{out}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());
    cost(&acct, mark, "teardown with nothing left");

    // A later bootstrap deploys again, and vends.
    let again = acct.bootstrap();
    assert!(again["stacks"].as_array().unwrap().iter().all(|s| s["action"] == "create"), "{again:#}");
    assert_eq!(acct.json(&["list"]), json!([]));
    acct.ok(&["provision", "--user", "ida", "-q"]);
    assert_eq!(acct.json(&["list"])[0]["status"], "InService");
}

/// A user can provision, terminate and provision again any number of times a day: each cycle's
/// provision token is new, or a provision later in the day is refused until midnight.
#[test]
fn provision_terminate_cycles_are_not_limited_per_day() {
    let acct = Account::bootstrapped(0.2, &[]);
    for cycle in 0..4 {
        let (code, _, err) = acct.run(&["provision", "--user", "cyc", "-q"]);
        assert_eq!(code, 0, "provision of cycle {cycle} failed: {err}");
        assert_eq!(rt().block_on(acct.provisioned_count()), 1, "cycle {cycle}");
        acct.ok(&["terminate", "--user", "cyc", "--yes", "-q"]);
    }
    assert_eq!(acct.count_ok("TerminateProvisionedProduct"), 4);
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

// ---------------------------------------------------------------------------------------------
// A FAILED termination can be retried, and a stuck product removed on request.
//
// Service Catalog's TerminateProvisionedProduct is idempotent on its TerminateToken: a request
// with a token already used answers that request's record again (botocore servicecatalog model,
// TerminateProvisionedProductInput.TerminateToken: "An idempotency token that uniquely identifies
// the termination request. This token is only valid during the termination process. After the
// provisioned product is terminated, subsequent requests to terminate the same provisioned
// product always return ResourceNotFound."). The sandbox plays it at its worst case: a used token
// answers the old record, FAILED included (tests/sandbox/nvsandbox/servicecatalog/state.py,
// `terminate`). So a retry with the first attempt's token would report the old failure forever;
// each attempt needs its own token (the tool derives it from the product's last record, which the
// failed termination changed).
//
// The failure is made as AWS would make it: the launch role loses sagemaker:DeleteNotebookInstance
// (an explicit Deny added to the role), and the sandbox, which checks the launch role against the
// CloudFormation handler permissions of AWS::SageMaker::NotebookInstance (`handlers.delete.
// permissions`, tests/sandbox/nvsandbox/servicecatalog/launch_role.py), fails the TERMINATE record
// with AccessDenied.
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

/// A failed termination exits 1 with the record's error and the way out; once the cause is gone,
/// `terminate` again succeeds. Fails on a binary that sends the first attempt's TerminateToken
/// again: the sandbox answers the old FAILED record and the retry exits 1. Checked by building the
/// binary with `catalog::terminate` passing `None` for the last record id (a token fixed per
/// product): this test failed on the retry with the first attempt's
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
