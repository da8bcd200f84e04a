//! End-to-end: the binary in Lambda mode, polled through a Lambda Runtime API (support/runtime_api.rs)
//! against the sandbox: `_HANDLER=watch` with SageMaker's own notebook state change events,
//! `_HANDLER=serve` with Function URL requests (payload 2.0); and `watch --event` with the native
//! event.

use serde_json::{json, Value};

use crate::support::{is_url_with_token_of, Account, Outcome, Running, RuntimeApi};

/// SageMaker's "SageMaker Notebook Instance State Change" event (EventBridge events reference for
/// SageMaker: detail NotebookInstanceArn, NotebookInstanceName, NotebookInstanceStatus, ...).
fn state_event(acct: &Account, notebook: &str, status: &str) -> Value {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let time = now.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap();
    let arn = format!("arn:aws:sagemaker:us-east-1:{}:notebook-instance/{}", acct.id, notebook.to_lowercase());
    json!({
        "version": "0", "id": "a4c1e3f0-0d6b-4c1e-9d2f-3f6b1c0e8a11",
        "detail-type": "SageMaker Notebook Instance State Change", "source": "aws.sagemaker",
        "account": acct.id, "time": time, "region": "us-east-1", "resources": [arn],
        "detail": {"NotebookInstanceArn": arn, "NotebookInstanceName": notebook, "NotebookInstanceStatus": status,
                   "InstanceType": "ml.t3.medium", "DirectInternetAccess": "Disabled", "RootAccess": "Disabled"}
    })
}

/// The binary as a Lambda function with this handler, polling a fresh Runtime API; waits for its
/// first `/next`.
fn function(acct: &Account, handler: &str, env: &[(&str, &str)]) -> (RuntimeApi, Running) {
    let api = RuntimeApi::start();
    let mut all = vec![("AWS_LAMBDA_RUNTIME_API", api.authority.as_str()), ("_HANDLER", handler)];
    all.extend_from_slice(env);
    let running = Running::start_with(acct, &[], &all);
    api.wait_ready();
    (api, running)
}

async fn stored_url(acct: &Account, user: &str) -> Option<String> {
    acct.parameter(user).await.and_then(|p| p.value().map(str::to_owned))
}

async fn delete_url(acct: &Account, user: &str) {
    let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
    ssm.delete_parameter().name(format!("/SageMaker/Notebooks/{user}-Notebook")).send().await.unwrap();
}

#[tokio::test]
async fn watch_function_stores_the_url_on_in_service_once_and_ignores_foreign_notebooks() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "alice", "-q"]);
    // The notebook is InService with no URL stored (as after a console launch or a scheduled start).
    delete_url(&acct, "alice").await;
    let (api, _fn) = function(&acct, "watch", &[]);

    let event = state_event(&acct, "alice-Notebook", "InService");
    let answer = api.invoke(&event);
    let body = answer.response();
    assert_eq!(body["result"], "stored", "{body}");
    assert_eq!(body["user"], "alice");
    let url = stored_url(&acct, "alice").await.expect("alice's URL stored");
    assert!(is_url_with_token_of(&url, "alice"), "{url}");
    assert!(!body.to_string().contains(&url), "the answer holds the URL: {body}");

    // SageMaker may send an event twice: the second answers without error and writes nothing.
    let mark = acct.requests().len();
    let again = api.invoke(&event);
    assert_eq!(again.response()["result"], "already-handled", "{again:?}");
    assert_eq!(acct.writes_and_presigns_since(mark), Vec::<String>::new());
    assert_eq!(stored_url(&acct, "alice").await.as_deref(), Some(url.as_str()));

    // Out of order: a Stopped event while the notebook is InService stores and removes nothing.
    let stale = api.invoke(&state_event(&acct, "alice-Notebook", "Stopped"));
    assert_eq!(stale.response()["result"], "ignored", "{stale:?}");

    // Not the product's: a notebook outside the naming, and a `<user>-Notebook` nobody provisioned.
    let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
    for name in ["analytics-box", "carol-Notebook"] {
        sm.create_notebook_instance()
            .notebook_instance_name(name)
            .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
            .role_arn(format!("arn:aws:iam::{}:role/other", acct.id))
            .send()
            .await
            .unwrap();
    }
    // Past the sandbox's Pending phase (0.5 s), so the product check is what ignores them.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let mark = acct.requests().len();
    for (name, why) in [("analytics-box", "not named"), ("carol-Notebook", "no provisioned product")] {
        let answer = api.invoke(&state_event(&acct, name, "InService"));
        let body = answer.response();
        assert_eq!(body["result"], "ignored", "{name}: {body}");
        assert!(body["reason"].as_str().unwrap().contains(why), "{name}: {body}");
    }
    assert_eq!(acct.writes_and_presigns_since(mark), Vec::<String>::new());
    assert_eq!(stored_url(&acct, "carol").await, None);

    // A malformed event is an error answer on /error (Lambda retries it, then the on-failure
    // destination gets it), and the function keeps serving.
    let mut bad = state_event(&acct, "alice-Notebook", "InService");
    bad["detail"].as_object_mut().unwrap().remove("NotebookInstanceName");
    match api.invoke(&bad) {
        Outcome::Error { body, error_type } => {
            assert_eq!(body["errorType"], "InvalidEvent", "{body}");
            assert_eq!(error_type.as_deref(), Some("InvalidEvent"));
            assert!(body["errorMessage"].as_str().unwrap().contains("NotebookInstanceName"), "{body}");
        }
        other => panic!("a malformed event was answered {other:?}"),
    }
    let after = api.invoke(&event);
    assert_eq!(after.response()["result"], "already-handled", "{after:?}");
}

/// Lambda stops an invocation at its deadline: the function answers an error before it (so the
/// retry and the on-failure destination apply) and keeps serving.
#[tokio::test]
async fn watch_function_answers_an_error_before_the_deadline() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "gus", "-q"]);
    delete_url(&acct, "gus").await;
    let api = RuntimeApi::with_timeout(std::time::Duration::from_millis(1500));
    let _fn = Running::start_with(&acct, &[], &[("AWS_LAMBDA_RUNTIME_API", &api.authority), ("_HANDLER", "watch")]);
    api.wait_ready();
    // Every AWS call now takes 0.4 s: the handler's sequence of calls cannot finish in 1.5 s.
    acct.configure(json!({"latency_ms": 400}));
    let event = state_event(&acct, "gus-Notebook", "InService");
    let started = std::time::Instant::now();
    match api.invoke(&event) {
        Outcome::Error { body, .. } => assert_eq!(body["errorType"], "Timeout", "{body}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_millis(1500), "answered after the deadline");
    acct.configure(json!({"latency_ms": 0}));
    let answer = api.invoke(&event);
    assert_eq!(answer.response()["result"], "stored", "{answer:?}");
}

#[tokio::test]
async fn watch_function_stores_a_fresh_url_after_stop_and_start_and_removes_it_on_delete() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "dana", "-q"]);
    let first = stored_url(&acct, "dana").await.unwrap();
    let (api, _fn) = function(&acct, "watch", &[]);
    acct.ok(&["stop", "--user", "dana", "-q"]);
    assert_eq!(api.invoke(&state_event(&acct, "dana-Notebook", "Stopped")).response()["result"], "ignored");
    // `start` without --refresh stores nothing: the InService event does.
    acct.ok(&["start", "--user", "dana", "-q"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let answer = api.invoke(&state_event(&acct, "dana-Notebook", "InService"));
    assert_eq!(answer.response()["result"], "stored", "{answer:?}");
    let second = stored_url(&acct, "dana").await.unwrap();
    assert_ne!(first, second, "no fresh URL after the start");

    acct.ok(&["terminate", "--user", "dana", "--yes", "-q"]);
    // The parameter is gone already (terminate deletes it); a Deleting event afterwards is a no-op.
    let answer = api.invoke(&state_event(&acct, "dana-Notebook", "Deleting"));
    assert_eq!(answer.response()["result"], "ignored", "{answer:?}");
    // A URL left behind for a deleted notebook (another tool wrote it late) is removed.
    let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
    ssm.put_parameter()
        .name("/SageMaker/Notebooks/dana-Notebook")
        .value(&second)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let answer = api.invoke(&state_event(&acct, "dana-Notebook", "Deleting"));
    assert_eq!(answer.response()["result"], "removed", "{answer:?}");
    assert_eq!(stored_url(&acct, "dana").await, None);
}

#[tokio::test]
async fn watch_function_handles_the_cloudtrail_provision_event_too() {
    let acct = Account::ready();
    let (api, _fn) = function(&acct, "watch", &[]);
    // A ProvisionProduct call of another product is answered without error.
    let other = json!({"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.servicecatalog", "account": acct.id, "region": "us-east-1", "resources": [],
        "detail": {"eventSource": "servicecatalog.amazonaws.com", "eventName": "ProvisionProduct",
                   "requestParameters": {"productId": "prod-someoneelse", "provisionedProductName": "x",
                                         "provisioningParameters": [{"key": "NotebookUserName", "value": "x"}]},
                   "responseElements": {"recordDetail": {"recordId": "rec-x"}}}});
    let answer = api.invoke(&other);
    assert_eq!(answer.response()["result"], "ignored", "{answer:?}");
    assert!(answer.response()["reason"].as_str().unwrap().contains("prod-someoneelse"));
}

/// A Function URL request, payload format 2.0 (Lambda developer guide, "Invoking Lambda function
/// URLs"); `caller` is `requestContext.authorizer.iam.userArn` (None: an unsigned request).
fn url_request(acct: &Account, caller: Option<&str>, method: &str, path: &str, body: Option<&str>) -> Value {
    let mut ctx = json!({
        "accountId": acct.id, "apiId": "abcdefghijklmnopqrstuvwxyz12", "domainName": "x.lambda-url.us-east-1.on.aws",
        "domainPrefix": "x", "requestId": "r", "routeKey": "$default", "stage": "$default",
        "time": "03/Dec/2026:11:00:00 +0000", "timeEpoch": 1796295600000u64,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "test"}
    });
    if let Some(arn) = caller {
        ctx["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": acct.id, "callerId": "AIDA",
                                           "cognitoIdentity": null, "principalOrgId": null, "userArn": arn, "userId": "AIDA"}});
    }
    let mut ev = json!({"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
                        "headers": {"content-type": "application/json", "host": "x.lambda-url.us-east-1.on.aws"},
                        "requestContext": ctx, "isBase64Encoded": false});
    if let Some(b) = body {
        ev["body"] = json!(b);
    }
    ev
}

fn status_and_body(outcome: &Outcome) -> (u64, Value) {
    let r = outcome.response();
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(r["headers"]["content-type"], "application/json");
    (r["statusCode"].as_u64().unwrap(), body)
}

#[tokio::test]
async fn serve_function_refreshes_the_callers_own_notebook_and_refuses_others() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "alice", "-q"]);
    acct.ok(&["provision", "--user", "bob", "-q"]);
    let (api, _fn) = function(&acct, "serve", &[("NOTEBOOK_VEND_OPERATORS", "Ops")]);
    let alice = format!("arn:aws:iam::{}:user/alice", acct.id);
    let body = r#"{"notebook_user_name": "alice"}"#;

    let (status, answer) =
        status_and_body(&api.invoke(&url_request(&acct, Some(&alice), "POST", "/refreshurl", Some(body))));
    assert_eq!(status, 200, "{answer}");
    let url = answer["PreSignedURL"].as_str().unwrap();
    assert!(is_url_with_token_of(url, "alice"), "{url}");
    assert_eq!(stored_url(&acct, "alice").await.as_deref(), Some(url), "the blog's API stores the URL too");

    // Someone else's notebook: 403, nothing minted.
    let mark = acct.requests().len();
    let bob_body = r#"{"notebook_user_name": "bob"}"#;
    let (status, answer) =
        status_and_body(&api.invoke(&url_request(&acct, Some(&alice), "POST", "/refreshurl", Some(bob_body))));
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("only its own"), "{answer}");
    // An assumed-role session stands for its session name; the blog's path is served too.
    let session = format!("arn:aws:sts::{}:assumed-role/DataScientists/alice", acct.id);
    let (status, _) =
        status_and_body(&api.invoke(&url_request(&acct, Some(&session), "POST", "/Prod/refreshurl/", Some(bob_body))));
    assert_eq!(status, 403);
    // No IAM caller (a Function URL without AWS_IAM): refused.
    let (status, answer) =
        status_and_body(&api.invoke(&url_request(&acct, None, "POST", "/refreshurl", Some(bob_body))));
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("AWS_IAM"), "{answer}");
    assert_eq!(acct.writes_and_presigns_since(mark), Vec::<String>::new());

    // An operator (role name in NOTEBOOK_VEND_OPERATORS) refreshes anyone's.
    let operator = format!("arn:aws:sts::{}:assumed-role/Ops/jo", acct.id);
    let (status, answer) =
        status_and_body(&api.invoke(&url_request(&acct, Some(&operator), "POST", "/Prod/refreshurl/", Some(bob_body))));
    assert_eq!(status, 200, "{answer}");
    assert!(is_url_with_token_of(answer["PreSignedURL"].as_str().unwrap(), "bob"));

    // serve's own answers: bad body 400, unknown path 404, wrong method 405, health 200.
    let cases = [
        ("POST", "/refreshurl", Some("not json"), 400),
        ("POST", "/refreshurl", Some(r#"{"notebook_user_name": "../x"}"#), 403),
        ("GET", "/nope", None, 404),
        ("GET", "/refreshurl", None, 405),
        ("GET", "/healthz", None, 200),
    ];
    for (method, path, body, want) in cases {
        let (status, answer) = status_and_body(&api.invoke(&url_request(&acct, Some(&alice), method, path, body)));
        assert_eq!(status, want, "{method} {path} {body:?}: {answer}");
    }
}

#[tokio::test]
async fn serve_function_answers_an_error_for_an_event_that_is_no_request() {
    let acct = Account::ready();
    let (api, _fn) = function(&acct, "serve", &[]);
    match api.invoke(&json!({"not": "a request"})) {
        Outcome::Error { body, .. } => {
            assert!(body["errorMessage"].as_str().unwrap().contains("payload 2.0"), "{body}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bad_handler_or_setting_is_an_init_error() {
    let acct = Account::new();
    let api = RuntimeApi::start();
    let mut run =
        Running::start_with(&acct, &[], &[("AWS_LAMBDA_RUNTIME_API", &api.authority), ("_HANDLER", "index.handler")]);
    let error = api.wait_init_error();
    assert!(error["errorMessage"].as_str().unwrap().contains("watch"), "{error}");
    let (code, _) = run.wait();
    assert_ne!(code, Some(0));

    let api = RuntimeApi::start();
    let mut run = Running::start_with(
        &acct,
        &[],
        &[
            ("AWS_LAMBDA_RUNTIME_API", &api.authority),
            ("_HANDLER", "serve"),
            ("NOTEBOOK_VEND_OPERATORS", "arn:aws:s3:::b"),
        ],
    );
    let error = api.wait_init_error();
    assert!(error["errorMessage"].as_str().unwrap().contains("NOTEBOOK_VEND_OPERATORS"), "{error}");
    assert_ne!(run.wait().0, Some(0));
}

/// The Runtime Interface Emulator runs `aws-lambda-rie BOOTSTRAP HANDLER` as `BOOTSTRAP HANDLER`.
#[test]
fn the_handler_may_come_as_the_only_argument() {
    let acct = Account::ready();
    let api = RuntimeApi::start();
    let _fn = Running::start_with(&acct, &["watch"], &[("AWS_LAMBDA_RUNTIME_API", &api.authority)]);
    api.wait_ready();
    let answer = api.invoke(&state_event(&acct, "nobody-Notebook", "InService"));
    assert_eq!(answer.response()["result"], "ignored", "{answer:?}");
}

#[tokio::test]
async fn watch_event_file_accepts_the_native_event() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "erin", "-q"]);
    delete_url(&acct, "erin").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, state_event(&acct, "erin-Notebook", "InService").to_string()).unwrap();
    let out = acct.json(&["watch", "--event", file.to_str().unwrap()]);
    assert_eq!(out["result"], "stored", "{out}");
    assert!(is_url_with_token_of(&stored_url(&acct, "erin").await.unwrap(), "erin"));
    // Again: nothing to do, exit 0, nothing written.
    let mark = acct.requests().len();
    let (code, stdout, stderr) = acct.run(&["watch", "--event", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("already-handled"), "{stdout}");
    assert_eq!(acct.writes_and_presigns_since(mark), Vec::<String>::new());
    // Malformed: exit 2, no request.
    std::fs::write(
        &file,
        json!({"detail-type": "SageMaker Notebook Instance State Change", "source": "aws.sagemaker",
                                 "detail": {"NotebookInstanceName": "erin-Notebook"}})
        .to_string(),
    )
    .unwrap();
    let mark = acct.requests().len();
    let (code, _, stderr) = acct.run(&["watch", "--event", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("NotebookInstanceStatus"), "{stderr}");
    assert_eq!(acct.requests_since(mark), vec![]);
}
