//! Reliability end to end: the real binary under injected faults (throttling, 5xx, dropped
//! connections before and after the write, reads failing past the SDK's retries, an endpoint that
//! refuses connections), killed with SIGKILL at each phase of `provision`, and interrupted with
//! SIGINT. Each test has its own sandbox account, so the faults are its own.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::support::{rt, run_env, starts_as_url_of, Account, Running};
use crate::update::pp;
use serde_json::json;

/// What the account holds, read with faults switched off.
#[derive(Debug)]
struct Inventory {
    /// provisioned product name -> status
    products: BTreeMap<String, String>,
    /// notebook name -> status
    notebooks: BTreeMap<String, String>,
    /// parameter name -> (value, version)
    parameters: BTreeMap<String, (String, i64)>,
}

async fn inventory(acct: &Account) -> Inventory {
    acct.configure(json!({"fault_rate": 0}));
    let sdk = acct.sdk().await;
    let sc = aws_sdk_servicecatalog::Client::new(&sdk);
    let mut products = BTreeMap::new();
    for p in sc.scan_provisioned_products().page_size(100).send().await.unwrap().provisioned_products() {
        let name = p.name().unwrap().to_owned();
        assert!(
            products.insert(name.clone(), p.status().unwrap().as_str().to_owned()).is_none(),
            "duplicate product {name}"
        );
    }
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let mut notebooks = BTreeMap::new();
    for n in sm.list_notebook_instances().max_results(100).send().await.unwrap().notebook_instances() {
        let name = n.notebook_instance_name().unwrap().to_owned();
        let status = n.notebook_instance_status().unwrap().as_str().to_owned();
        assert!(notebooks.insert(name.clone(), status).is_none(), "duplicate notebook {name}");
    }
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let mut parameters = BTreeMap::new();
    let mut token = None;
    loop {
        let out = ssm
            .get_parameters_by_path()
            .path("/SageMaker/Notebooks/")
            .recursive(true)
            .with_decryption(true)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        for p in out.parameters() {
            parameters.insert(p.name().unwrap().to_owned(), (p.value().unwrap().to_owned(), p.version()));
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Inventory { products, notebooks, parameters }
}

/// Faults injected for this account, by kind, and the request total.
fn fault_totals(acct: &Account) -> (usize, BTreeMap<String, usize>) {
    let reqs = acct.requests();
    let mut by_kind = BTreeMap::new();
    for r in &reqs {
        if let Some(k) = &r.fault {
            *by_kind.entry(k.clone()).or_insert(0) += 1;
        }
    }
    (reqs.len(), by_kind)
}

#[test]
fn ten_users_under_twenty_percent_faults_converge_exactly() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.5, "pending_seconds": 1}));
    acct.bootstrap();
    let mark = acct.requests().len();
    // The same seed gives the same sequence of draws for this account.
    acct.configure(json!({"fault_rate": 0.2, "fault_seed": 8}));

    let users: Vec<String> = (0..10).map(|i| format!("fault-user{i}")).collect();
    // Five at a time: concurrent provisions of one account, as a team lead's script would run them.
    for chunk in users.chunks(5) {
        let results: Vec<(String, (i32, String, String))> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|u| {
                    let acct = &acct;
                    s.spawn(move || (u.clone(), acct.run(&["provision", "--user", u, "--no-progress"])))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (user, (code, out, err)) in results {
            assert_eq!(code, 0, "provision {user} under faults failed\nstdout: {out}\nstderr: {err}");
        }
    }
    let provision_reqs = acct.requests_since(mark);
    let inv = rt().block_on(inventory(&acct));
    assert_eq!(inv.products.len(), 10, "{:?}", inv.products);
    assert_eq!(inv.notebooks.len(), 10, "{:?}", inv.notebooks);
    assert_eq!(inv.parameters.len(), 10, "{:?}", inv.parameters.keys());
    for user in &users {
        assert_eq!(inv.products.get(&format!("{user}-Notebook")).map(String::as_str), Some("AVAILABLE"), "{user}");
        assert_eq!(inv.notebooks.get(&format!("{user}-Notebook")).map(String::as_str), Some("InService"), "{user}");
        let (url, _) = &inv.parameters[&format!("/SageMaker/Notebooks/{user}-Notebook")];
        assert!(starts_as_url_of(url, user), "{user}: {}", &url[..60.min(url.len())]);
    }
    let urls: BTreeSet<&String> = inv.parameters.values().map(|(v, _)| v).collect();
    assert_eq!(urls.len(), 10, "every user has a URL of their own");
    let faulted = provision_reqs.iter().filter(|r| r.fault.is_some()).count();
    assert!(faulted > 0, "no fault was injected: the test proves nothing");

    // refresh --all under the same faults: every URL replaced, nothing created.
    acct.configure(json!({"fault_rate": 0.2, "fault_seed": 8}));
    let (code, out, err) = acct.run(&["refresh", "--all", "--no-progress", "--output", "json"]);
    assert_eq!(code, 0, "refresh --all under faults\nstdout: {out}\nstderr: {err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["refreshed"], 10, "{summary}");
    let refreshed = rt().block_on(inventory(&acct));
    assert_eq!(refreshed.products, inv.products);
    assert_eq!(refreshed.notebooks, inv.notebooks);
    for (name, (value, version)) in &refreshed.parameters {
        let (old, old_version) = &inv.parameters[name];
        assert_ne!(value, old, "{name} was not refreshed");
        assert!(version > old_version, "{name}");
    }

    // terminate 3 of them under the same faults: nothing left for them, the others untouched.
    acct.configure(json!({"fault_rate": 0.2, "fault_seed": 8}));
    let gone = &users[..3];
    for user in gone {
        let (code, out, err) = acct.run(&["terminate", "--user", user, "--yes", "--no-progress"]);
        assert_eq!(code, 0, "terminate {user} under faults\nstdout: {out}\nstderr: {err}");
    }
    let after = rt().block_on(inventory(&acct));
    for user in gone {
        let name = format!("{user}-Notebook");
        assert!(!after.products.contains_key(&name), "{name} still provisioned: {:?}", after.products);
        assert!(!after.notebooks.contains_key(&name), "{name} still a notebook: {:?}", after.notebooks);
        assert!(!after.parameters.contains_key(&format!("/SageMaker/Notebooks/{name}")), "{name}'s URL left behind");
    }
    for user in &users[3..] {
        let name = format!("{user}-Notebook");
        assert_eq!(after.products.get(&name), refreshed.products.get(&name), "{name}");
        assert_eq!(after.notebooks.get(&name), refreshed.notebooks.get(&name), "{name}");
        let p = format!("/SageMaker/Notebooks/{name}");
        assert_eq!(after.parameters.get(&p), refreshed.parameters.get(&p), "{name}'s URL was touched");
    }
    assert_eq!(after.products.len(), 7);
    assert_eq!(after.parameters.len(), 7);

    // The evidence: requests, faults by kind, and what the faults cost.
    let (total, by_kind) = fault_totals(&acct);
    let reqs = acct.requests_since(mark);
    let faults: usize = by_kind.values().sum();
    eprintln!(
        "fault injection totals (account {}): {} requests after bootstrap ({} in all), {faults} faults {by_kind:?}; \
         every fault was answered by a retry (SDK) or a new poll; outcome: 10 provisioned, 10 refreshed, 3 terminated",
        acct.id,
        reqs.len(),
        total
    );
    // The writes whose answer was lost after they happened: each was retried and had to converge.
    let mut lost: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reqs.iter().filter(|r| r.fault.as_deref() == Some("drop_after")) {
        *lost.entry(r.operation.as_str()).or_insert(0) += 1;
    }
    eprintln!("answers dropped after the call was served (drop_after), by operation: {lost:?}");
    assert!(by_kind.contains_key("throttle"), "{by_kind:?}");
    assert!(by_kind.len() >= 3, "several kinds of fault were injected: {by_kind:?}");
}

#[test]
fn fault_sequence_is_deterministic_per_seed_and_control_calls_are_never_faulted() {
    // Two accounts, same seed, the same sequential calls: the same faults at the same positions.
    let run = || {
        let acct = Account::new();
        acct.configure(json!({"fault_rate": 0.5, "fault_seed": 42}));
        rt().block_on(async {
            let conf = aws_sdk_ssm::config::Builder::from(&acct.sdk().await)
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build();
            let ssm = aws_sdk_ssm::Client::from_conf(conf);
            for _ in 0..30 {
                let _ = ssm.describe_parameters().send().await;
                // Control calls in between: never logged, never faulted, never drawn.
                acct.configure(json!({"fault_rate": 0.5, "fault_seed": 42}));
            }
        });
        acct.requests().into_iter().map(|r| r.fault).collect::<Vec<_>>()
    };
    let a = run();
    let b = run();
    assert_eq!(a.len(), 30, "exactly the 30 AWS calls are logged: {a:?}");
    assert_eq!(a, b);
    assert!(a.iter().filter(|f| f.is_some()).count() >= 5, "{a:?}");
}

#[test]
fn fault_shapes_follow_each_protocol() {
    // One-shot throttles on a JSON, a query and a REST-XML service: the SDK must read each as its
    // own throttling error (code and retryability), as it would from AWS.
    let acct = Account::new();
    rt().block_on(async {
        let sdk = acct.sdk().await;
        let no_retry = aws_config::retry::RetryConfig::disabled();
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&sdk).retry_config(no_retry.clone()).build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&sdk).retry_config(no_retry.clone()).build(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk).retry_config(no_retry).force_path_style(true).build(),
        );
        use aws_sdk_ssm::error::ProvideErrorMetadata;
        for (op, kind) in
            [("DescribeParameters", "throttle"), ("GetCallerIdentity", "throttle"), ("ListBuckets", "throttle")]
        {
            acct.control("fault", json!({"operation": op, "kind": kind, "count": 1}));
        }
        let e = ssm.describe_parameters().send().await.unwrap_err();
        assert_eq!(e.code(), Some("ThrottlingException"), "{e:?}");
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
        let e = sts.get_caller_identity().send().await.unwrap_err();
        assert_eq!(e.code(), Some("Throttling"), "{e:?}");
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
        let e = s3.list_buckets().send().await.unwrap_err();
        assert_eq!(e.code(), Some("SlowDown"), "{e:?}");
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 503);

        acct.control("fault", json!({"operation": "DescribeParameters", "kind": "internal", "count": 1}));
        let e = ssm.describe_parameters().send().await.unwrap_err();
        assert_eq!(e.code(), Some("InternalFailure"));
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 500);
        acct.control("fault", json!({"operation": "DescribeParameters", "kind": "unavailable", "count": 1}));
        let e = ssm.describe_parameters().send().await.unwrap_err();
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 503);
        acct.control("fault", json!({"operation": "DescribeParameters", "kind": "drop", "count": 1}));
        let e = ssm.describe_parameters().send().await.unwrap_err();
        assert!(
            matches!(
                e,
                aws_sdk_ssm::error::SdkError::DispatchFailure(_) | aws_sdk_ssm::error::SdkError::ResponseError(_)
            ),
            "{e:?}"
        );
        // drop_after: the write happens, the answer never comes.
        acct.control("fault", json!({"operation": "PutParameter", "kind": "drop_after", "count": 1}));
        let put = ssm.put_parameter().name("/x/dropped").value("v").r#type(aws_sdk_ssm::types::ParameterType::String);
        assert!(put.send().await.is_err());
        let got = ssm.get_parameter().name("/x/dropped").send().await.unwrap();
        assert_eq!(got.parameter().unwrap().value(), Some("v"), "the write happened before the drop");
    });
    let faults: Vec<String> = acct.requests().into_iter().filter_map(|r| r.fault).collect();
    assert_eq!(faults, ["throttle", "throttle", "throttle", "internal", "unavailable", "drop", "drop_after"]);
}

/// An endpoint that refuses connections is exit 1 with one short line, not the SDK's
/// whole error chain with the request in it.
#[test]
fn a_refused_endpoint_is_one_short_line() {
    let acct = Account::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, out, err) =
        run_env(&acct, &[("AWS_ENDPOINT_URL", &url), ("AWS_MAX_ATTEMPTS", "2")], &["provision", "--user", "bob"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    let lines: Vec<&str> = err.trim().lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(err.len() < 400, "{} bytes of error: {err}", err.len());
    assert!(err.contains(&url) || err.contains("refused"), "{err}");
    assert!(!err.contains("Action=") && !err.contains("Version="), "the request body was printed: {err}");
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

// ---------------------------------------------------------------------------------------------
// crash safety

/// Wait until the account's request log holds a line for `op` (with `fault` when given).
fn wait_for_request(acct: &Account, op: &str, fault: Option<&str>) {
    let start = Instant::now();
    loop {
        if acct.requests().iter().any(|r| r.operation == op && (fault.is_none() || r.fault.as_deref() == fault)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {op} request ({fault:?}) within 60 s: {:?}",
            acct.requests()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// After a crash, provision again: one product, one InService notebook, one stored URL (version 1:
/// the URL was stored once, by the run that finished) and exactly one ProvisionProduct request.
fn rerun_converges(acct: &Account, user: &str) {
    // The killed run may have sent ProvisionProduct twice (an SDK retry after a dropped answer
    // reuses the token, so Service Catalog answers the same record); the rerun must send none if
    // the product already exists, and at most one otherwise.
    let sent_before = acct.count("ProvisionProduct");
    let (code, out, err) = acct.run(&["provision", "--user", user, "--no-progress"]);
    assert_eq!(code, 0, "rerun after the crash failed\nstdout: {out}\nstderr: {err}");
    let inv = rt().block_on(inventory(acct));
    let name = format!("{user}-Notebook");
    assert_eq!(inv.products.len(), 1, "{:?}", inv.products);
    assert_eq!(inv.products[&name], "AVAILABLE");
    assert_eq!(inv.notebooks.len(), 1, "{:?}", inv.notebooks);
    assert_eq!(inv.notebooks[&name], "InService");
    assert_eq!(inv.parameters.len(), 1, "{:?}", inv.parameters.keys());
    let (url, version) = &inv.parameters[&format!("/SageMaker/Notebooks/{name}")];
    assert!(starts_as_url_of(url, user));
    assert_eq!(*version, 1, "the URL was stored once");
    let sent = acct.count("ProvisionProduct");
    assert!(sent >= 1 && sent - sent_before <= usize::from(sent_before == 0), "{:?}", acct.requests());
    // And a third run changes nothing but the URL.
    acct.ok(&["provision", "--user", user, "-q"]);
    assert_eq!(acct.count("ProvisionProduct"), sent);
}

fn kill_at(acct: &Account, user: &str, op: &str, fault: Option<&str>) {
    let mut child = Running::start(acct, &["provision", "--user", user, "--no-progress"]);
    wait_for_request(acct, op, fault);
    child.kill(); // SIGKILL: no handler runs, nothing is cleaned up
    let (code, err) = child.wait();
    assert!(code.is_none(), "killed by a signal, not exited: {code:?}\n{err}");
}

#[test]
fn sigkill_after_provision_product_was_sent() {
    let acct = Account::ready_then(1.0, 1.0);
    // The request reaches Service Catalog and the product is created, but the answer is lost: the
    // client has sent ProvisionProduct and knows nothing of its outcome when it dies.
    acct.control("fault", json!({"operation": "ProvisionProduct", "kind": "drop_after", "count": 1}));
    kill_at(&acct, "crash-a", "ProvisionProduct", Some("drop_after"));
    let inv = rt().block_on(inventory(&acct));
    assert_eq!(inv.products.len(), 1, "the write happened: {:?}", inv.products);
    assert!(inv.parameters.is_empty());
    rerun_converges(&acct, "crash-a");
}

#[test]
fn sigkill_while_the_record_is_in_progress() {
    let acct = Account::ready_then(4.0, 0.5);
    kill_at(&acct, "crash-b", "DescribeRecord", None);
    let inv = rt().block_on(inventory(&acct));
    assert_eq!(inv.products.get("crash-b-Notebook").map(String::as_str), Some("UNDER_CHANGE"));
    rerun_converges(&acct, "crash-b");
}

#[test]
fn sigkill_while_the_notebook_is_pending() {
    let acct = Account::ready_then(0.3, 4.0);
    kill_at(&acct, "crash-c", "DescribeNotebookInstance", None);
    let inv = rt().block_on(inventory(&acct));
    assert_eq!(inv.notebooks.get("crash-c-Notebook").map(String::as_str), Some("Pending"));
    assert!(inv.parameters.is_empty());
    rerun_converges(&acct, "crash-c");
}

#[test]
fn sigkill_after_the_url_was_minted_before_it_was_stored() {
    let acct = Account::ready_then(0.3, 0.3);
    // PutParameter is throttled: the SDK backs off and retries, which holds the process between
    // the minted URL and the stored one long enough to kill it there.
    acct.control("fault", json!({"operation": "PutParameter", "kind": "throttle", "count": 4}));
    kill_at(&acct, "crash-d", "PutParameter", Some("throttle"));
    assert_eq!(acct.count_ok("CreatePresignedNotebookInstanceUrl"), 1);
    let inv = rt().block_on(inventory(&acct));
    assert!(inv.parameters.is_empty(), "the URL was minted, never stored: {:?}", inv.parameters.keys());
    // The throttles left over hit the rerun too: it retries through them.
    rerun_converges(&acct, "crash-d");
}

fn interrupt(acct: &Account, user: &str, op: &str) -> (i32, String) {
    interrupt_at(acct, user, op, 1)
}

/// Provision, and send SIGINT once the sandbox has seen the `nth` request `op`.
fn interrupt_at(acct: &Account, user: &str, op: &str, nth: usize) -> (i32, String) {
    let mut child = Running::start(acct, &["provision", "--user", user, "--no-progress"]);
    let start = Instant::now();
    while acct.requests().iter().filter(|r| r.operation == op).count() < nth {
        assert!(start.elapsed() < Duration::from_secs(60), "no {op} #{nth} within 60 s: {:?}", acct.requests());
        std::thread::sleep(Duration::from_millis(10));
    }
    child.signal("INT");
    let (code, err) = child.wait();
    (code.unwrap_or(-1), err)
}

#[test]
fn sigint_says_what_is_in_flight_and_how_to_resume() {
    let acct = Account::ready_then(4.0, 0.3);
    let (code, err) = interrupt(&acct, "intr", "DescribeRecord");
    assert_eq!(code, 130, "{err}");
    let last = err.trim().lines().last().unwrap();
    assert!(last.starts_with("error: interrupted by SIGINT"), "{err}");
    assert!(last.contains("record rec-") && last.contains("in progress"), "names the record in flight: {last}");
    assert!(last.contains("run `notebook-vend provision --user intr` to resume"), "{last}");

    // Interrupted again while the notebook is Pending: the message names the notebook.
    let acct2 = Account::ready_then(0.3, 4.0);
    // The first describe is the state check beside the presign (a presign proves no state); the
    // second is the wait for InService, when the tool knows the notebook is Pending.
    let (code, err) = interrupt_at(&acct2, "intr2", "DescribeNotebookInstance", 2);
    assert_eq!(code, 130, "{err}");
    let last = err.trim().lines().last().unwrap();
    assert!(last.contains("notebook intr2-Notebook is Pending"), "{last}");
    assert!(last.contains("notebook-vend provision --user intr2"), "{last}");

    rerun_converges(&acct, "intr");
    rerun_converges(&acct2, "intr2");
}

#[test]
fn stop_and_start_whose_answer_was_lost_are_not_failures() {
    // The SDK retries a call whose connection dropped after the write; the retry of a stop that
    // did happen meets a Stopping notebook, which AWS refuses with a ValidationException.
    let acct = Account::ready_then(0.3, 0.3);
    acct.ok(&["provision", "--user", "lost", "-q"]);
    acct.control("fault", json!({"operation": "StopNotebookInstance", "kind": "drop_after", "count": 1}));
    let (code, out, err) = acct.run(&["stop", "--user", "lost", "--no-progress"]);
    assert_eq!(code, 0, "stop whose answer was lost\nstdout: {out}\nstderr: {err}");
    assert_eq!(acct.count("StopNotebookInstance"), 2, "the SDK retried: {:?}", acct.requests());
    acct.control("fault", json!({"operation": "StartNotebookInstance", "kind": "drop_after", "count": 1}));
    let (code, out, err) = acct.run(&["start", "--user", "lost", "--no-progress"]);
    assert_eq!(code, 0, "start whose answer was lost\nstdout: {out}\nstderr: {err}");
    assert_eq!(acct.count("StartNotebookInstance"), 2);
    let inv = rt().block_on(inventory(&acct));
    assert_eq!(inv.notebooks["lost-Notebook"], "InService");
}
