//! End-to-end: `watch` (the blog's EventBridge function) and `serve` (its refresh API), the real
//! binary against the sandbox, one sandbox account per test.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::{is_url_with_token_of, Account, Running};
use aws_sdk_servicecatalog::types::{ProductViewFilterBy, ProvisioningParameter};
use serde_json::{json, Value};

const OTHER_PRODUCT: &str = "Other Notebook";

fn fast(acc: &Account) {
    acc.configure(json!({"pending_seconds": 0.5, "record_seconds": 0.5}));
}

/// What a console user does: ProvisionProduct straight through the API, parameters in the console's
/// order (the user name not at position 1), no Owner tag, a name of their choosing.
async fn console_provision(acc: &Account, product_name: &str, user: &str, instance_type: &str) -> String {
    let sc = aws_sdk_servicecatalog::Client::new(&acc.sdk().await);
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

async fn stored_url(acc: &Account, user: &str) -> Option<String> {
    acc.parameter(user).await.and_then(|p| p.value().map(str::to_owned))
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

// ------------------------------------------------------------------------------------------------
// serve

struct Server {
    proc: Running,
    base: String,
    token: String,
    _dir: tempfile::TempDir,
}

fn serve(acc: &Account) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let token = "t0ken-".to_owned() + &acc.id + "-abcdef0123456789";
    let file = dir.path().join("token");
    let mut f = std::fs::File::create(&file).unwrap();
    writeln!(f, "  {token}  ").unwrap();
    let mut proc = Running::start(acc, &["serve", "--listen", "127.0.0.1:0", "--token-file", file.to_str().unwrap()]);
    let line = proc.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    Server { proc, base, token, _dir: dir }
}

#[tokio::test]
async fn serve_refreshes_with_a_token_and_says_what_is_wrong_otherwise() {
    let acc = Account::new();
    acc.bootstrap();
    fast(&acc);
    acc.ok(&["provision", "--user", "alice", "-q"]);
    acc.ok(&["provision", "--user", "sam", "-q"]);
    let sm = aws_sdk_sagemaker::Client::new(&acc.sdk().await);
    sm.stop_notebook_instance().notebook_instance_name("sam-Notebook").send().await.unwrap();
    let stopping = Instant::now();
    while sm
        .describe_notebook_instance()
        .notebook_instance_name("sam-Notebook")
        .send()
        .await
        .unwrap()
        .notebook_instance_status()
        .map(|s| s.as_str().to_owned())
        .as_deref()
        != Some("Stopped")
    {
        assert!(stopping.elapsed() < Duration::from_secs(30), "sam's notebook never stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = stored_url(&acc, "alice").await.unwrap();

    let mut srv = serve(&acc);
    let http = reqwest::Client::new();
    let refresh = format!("{}/refreshurl", srv.base);
    let auth = format!("Bearer {}", srv.token);
    let post = |body: String, auth: Option<&str>| {
        let mut rb = http.post(&refresh).header("content-type", "application/json").body(body);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send()
    };

    // Authorized: a working URL, and the parameter holds it.
    let resp = post(json!({"notebook_user_name": "alice"}).to_string(), Some(&auth)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let url = body["PreSignedURL"].as_str().unwrap().to_owned();
    assert!(is_url_with_token_of(&url, "alice"), "{url}");
    assert_ne!(url, before);
    assert_eq!(stored_url(&acc, "alice").await.as_deref(), Some(url.as_str()));

    let health = http.get(format!("{}/healthz", srv.base)).header("authorization", &auth).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // Everything else, with a JSON error body.
    let mark = acc.requests().len();
    let alice = json!({"notebook_user_name": "alice"}).to_string();
    let cases: Vec<(String, Option<String>, u16)> = vec![
        (alice.clone(), None, 401),
        (alice.clone(), Some("Bearer wrong".into()), 401),
        (alice.clone(), Some(srv.token.clone()), 401),
        (alice.clone(), Some(format!("Basic {}", srv.token)), 401),
        ("{not json".into(), Some(auth.clone()), 400),
        (json!({"user": "alice"}).to_string(), Some(auth.clone()), 400),
        (json!({"notebook_user_name": "../etc"}).to_string(), Some(auth.clone()), 400),
        (json!({"notebook_user_name": "a".repeat(55)}).to_string(), Some(auth.clone()), 400),
        (format!("{{\"notebook_user_name\": \"alice\", \"pad\": \"{}\"}}", "x".repeat(5000)), Some(auth.clone()), 413),
    ];
    for (body, a, want) in cases {
        let resp = post(body.clone(), a.as_deref()).await.unwrap();
        assert_eq!(resp.status().as_u16(), want, "{} {:?}", &body[..body.len().min(60)], a);
        let v: Value = resp.json().await.unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    assert_eq!(acc.requests_since(mark), vec![], "a refused request reached AWS");

    let resp = post(json!({"notebook_user_name": "nobody"}).to_string(), Some(&auth)).await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = post(json!({"notebook_user_name": "sam"}).to_string(), Some(&auth)).await.unwrap();
    assert_eq!(resp.status(), 409);
    assert!(resp.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("Stopped"));
    let resp = http.get(&refresh).header("authorization", &auth).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(http.get(format!("{}/healthz", srv.base)).send().await.unwrap().status(), 401);

    // 50 concurrent authorized refreshes.
    let started = Instant::now();
    let all = futures::future::join_all((0..50).map(|_| post(alice.clone(), Some(&auth)))).await;
    let elapsed = started.elapsed();
    for r in all {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        assert!(is_url_with_token_of(r.json::<Value>().await.unwrap()["PreSignedURL"].as_str().unwrap(), "alice"));
    }
    eprintln!(
        "serve: 50 concurrent refreshes in {:.2}s ({:.0}/s)",
        elapsed.as_secs_f64(),
        50.0 / elapsed.as_secs_f64()
    );

    assert_eq!(srv.proc.terminate(), 0, "{}", srv.proc.stderr());
    let log = srv.proc.stderr();
    assert!(log.contains("access: ") && log.contains("POST /refreshurl 200") && log.contains("user=alice"), "{log}");
    assert!(log.contains("POST /refreshurl 401"), "{log}");
    assert!(log.contains("POST /refreshurl 409") && log.contains("user=sam"), "{log}");
    assert!(!log.contains(&srv.token), "the token is in the log");
    assert!(!log.contains("authToken") && !log.contains("https://"), "a URL is in the log: {log}");
}

#[test]
fn serve_refuses_bad_setups_before_any_aws_call() {
    let acc = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n  \n").unwrap();
    for args in [
        vec!["serve", "--token-file", empty.to_str().unwrap()],
        vec!["serve", "--token-file", "/nonexistent/token"],
        vec!["serve", "--listen", "0.0.0.0:0", "--token-file", empty.to_str().unwrap()],
        vec!["serve", "--listen", "not-an-address"],
    ] {
        let (code, _, err) = acc.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    let (code, _, err) = acc
        .cmd()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("NOTEBOOK_VEND_TOKEN", "x")
        .output()
        .map(|o| (o.status.code().unwrap_or(-1), String::new(), String::from_utf8_lossy(&o.stderr).into_owned()))
        .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow-remote"), "{err}");
    // No authentication only when asked for twice; the flags of one mode are refused with another.
    for (args, says) in [
        (vec!["serve", "--auth", "none"], "--allow-unauthenticated"),
        (vec!["serve", "--allow-unauthenticated"], "--auth none"),
        (vec!["serve", "--auth", "iam", "--token-file", "/nonexistent"], "--auth token"),
        (vec!["serve", "--auth", "token", "--operator", "Ops"], "--auth iam"),
    ] {
        let (code, _, err) = acc.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says) && err.trim().lines().count() == 1, "{args:?}: {err}");
    }
    assert_eq!(acc.requests(), vec![]);
}

/// `serve` with no flags holds no shared secret: it wants an identity token, generates no token,
/// and a request without one is 401 with nothing written.
#[tokio::test]
async fn serve_has_no_shared_secret_by_default() {
    let acc = Account::ready();
    let mut proc = Running::start(&acc, &["serve", "--listen", "127.0.0.1:0"]);
    let line = proc.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    let mark = acc.requests().len();
    let http = reqwest::Client::new();
    for bearer in [None, Some("whatever"), Some("nv-aws-v1.bm90IGEgdXJs")] {
        let mut req = http.post(format!("{base}/refreshurl")).body(r#"{"notebook_user_name":"alice"}"#);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{bearer:?}");
    }
    assert!(acc.writes_since(mark).is_empty());
    assert_eq!(proc.terminate(), 0);
    let err = proc.stderr();
    assert!(!err.contains("generated this token") && err.contains("server id"), "{err}");
}

/// The shared token is an explicit choice (`--auth token`); asked for without one, it is generated.
#[tokio::test]
async fn serve_generates_a_token_when_token_auth_has_none() {
    let acc = Account::new();
    let mut proc = Running::start(&acc, &["serve", "--auth", "token", "--listen", "127.0.0.1:0"]);
    let line = proc.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    let token_line = proc.wait_for_stderr("generated this token");
    let token = token_line.rsplit(' ').next().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    let http = reqwest::Client::new();
    let ok = http.get(format!("{base}/healthz")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(proc.terminate(), 0);
    assert_eq!(proc.stderr().matches(&token).count(), 1, "the token is printed once only");
}
