//! The home page (`serve --alb-arn`): only a sign-in the load balancer signed reaches it, a
//! data scientist sees and acts on their own notebook only, Open mints a URL on the click and
//! stores nothing, and a POST from another site does nothing.

use std::time::{Duration, Instant};

use crate::support::alb::{AlbKey, Files, ALB_ARN, OTHER_ALB_ARN};
use crate::support::{is_url_with_token_of, Account, Running};
use serde_json::json;

pub struct Server {
    pub proc: Running,
    pub base: String,
}

/// `serve --alb-arn` with the keys served by `keys` (loopback).
pub fn serve(acc: &Account, keys: &Files) -> Server {
    let key_url = format!("{}/{{kid}}", keys.base);
    let mut proc =
        Running::start(acc, &["serve", "--listen", "127.0.0.1:0", "--alb-arn", ALB_ARN, "--alb-key-url", &key_url]);
    let line = proc.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    Server { proc, base }
}

/// The notebook's status, as SageMaker answers it.
pub async fn status_of(acc: &Account, name: &str) -> String {
    let sm = aws_sdk_sagemaker::Client::new(&acc.sdk().await);
    let out = sm.describe_notebook_instance().notebook_instance_name(name).send().await.unwrap();
    out.notebook_instance_status().map(|s| s.as_str().to_owned()).unwrap_or_default()
}

pub async fn wait_status(acc: &Account, name: &str, want: &str) {
    let started = Instant::now();
    while status_of(acc, name).await != want {
        assert!(started.elapsed() < Duration::from_secs(60), "{name} never became {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn only_the_albs_sign_in_reaches_the_page_and_alice_acts_on_her_own_notebook_only() {
    let acc = Account::ready();
    acc.ok(&["provision", "--user", "alice", "-q"]);
    acc.ok(&["provision", "--user", "bob", "-q"]);
    acc.ok(&[
        "schedule",
        "set",
        "--user",
        "alice",
        "--stop",
        "cron(0 19 ? * MON-FRI *)",
        "--tz",
        "Europe/Berlin",
        "-q",
    ]);
    let key = AlbKey::generate("3c1ad0e9-key");
    let keys = Files::start();
    keys.put(&format!("/{}", key.kid), "application/x-pem-file", &key.pem());
    let served_from = acc.requests().len();
    let mut srv = serve(&acc, &keys);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |token: Option<String>| {
        let mut rb = http.get(format!("{}/", srv.base));
        if let Some(t) = token {
            rb = rb.header("x-amzn-oidc-data", t);
        }
        rb.send()
    };

    // Every token the ALB did not sign, or no longer valid: 401, and nothing asked of AWS.
    let mark = acc.requests().len();
    let exp = crate::support::alb::now() + 300;
    let claims = json!({"email": "alice@example.com", "exp": exp});
    let forger = AlbKey::generate(&key.kid);
    let unknown = AlbKey::generate("no-such-kid");
    let valid = key.sign_in("alice@example.com", 300);
    let stripped = valid.split('.').map(|p| p.trim_end_matches('=')).collect::<Vec<_>>().join(".");
    let mut tampered = valid.clone();
    tampered.insert_str(valid.find('.').unwrap() + 1, "eyJ4IjoxfQ==.");
    let refused: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("signed by another key", Some(forger.token(ALB_ARN, claims.clone(), exp))),
        ("from another load balancer", Some(key.token(OTHER_ALB_ARN, claims.clone(), exp))),
        ("expired", Some(key.sign_in("alice@example.com", -5))),
        ("unknown kid", Some(unknown.token(ALB_ARN, claims.clone(), exp))),
        ("padding removed (not what was signed)", Some(stripped)),
        ("four parts", Some(tampered)),
        ("garbage", Some("not-a-token".into())),
    ];
    for (why, token) in refused {
        let resp = get(token).await.unwrap();
        assert_eq!(resp.status(), 401, "{why}");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer", "{why}");
    }
    // A valid sign-in whose claim is no user name: 403.
    let dotted = key.sign_in("alice.smith@example.com", 300);
    assert_eq!(get(Some(dotted)).await.unwrap().status(), 403);
    assert_eq!(acc.requests_since(mark), vec![], "a refused request reached AWS");

    // alice: her notebook and its state, with the security headers.
    let resp = get(Some(valid.clone())).await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("alice-Notebook") && body.contains("InService"), "{body}");
    assert!(body.contains("Signed in as <strong>alice</strong>"), "{body}");
    assert!(body.contains("<strong>Stops</strong> next ") && body.contains(" (Europe/Berlin)"), "her schedule: {body}");
    assert!(body.contains("<code>cron(0 19 ? * MON-FRI *)</code>"), "{body}");
    assert!(!body.contains("bob"), "alice's page names bob: {body}");
    assert!(body.contains("action=\"/open\"") && body.contains("action=\"/stop\""), "{body}");

    // Open: 303 to a URL minted now, never cached, nothing written to SSM.
    let post = |path: &str, headers: &[(&str, &str)]| {
        let mut rb = http.post(format!("{}{path}", srv.base)).header("x-amzn-oidc-data", &valid);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send()
    };
    let same_origin = [("origin", srv.base.as_str())];
    let mark = acc.requests().len();
    let resp = post("/open", &same_origin).await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(is_url_with_token_of(&location, "alice"), "{location}");
    let sent = acc.requests_since(mark);
    assert!(sent.iter().any(|r| r.operation == "CreatePresignedNotebookInstanceUrl"), "{sent:?}");
    assert!(!sent.iter().any(|r| r.service == "ssm"), "Open wrote to SSM: {sent:?}");

    // A POST from another site: 403, nothing done, the notebook keeps running.
    let mark = acc.requests().len();
    let cross: Vec<Vec<(&str, &str)>> = vec![
        vec![("origin", "https://evil.example")],
        vec![("sec-fetch-site", "cross-site"), ("origin", srv.base.as_str())],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "null")],
        vec![],
    ];
    for headers in &cross {
        let resp = post("/stop", headers).await.unwrap();
        assert_eq!(resp.status(), 403, "{headers:?}");
    }
    assert_eq!(acc.requests_since(mark), vec![], "a cross-site POST reached AWS");
    assert_eq!(status_of(&acc, "alice-Notebook").await, "InService");

    // From the page itself: stopped (and bob's untouched).
    let resp = post("/stop", &[("sec-fetch-site", "same-origin")]).await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/?done=stop");
    wait_status(&acc, "alice-Notebook", "Stopped").await;
    assert_eq!(status_of(&acc, "bob-Notebook").await, "InService");
    let page = get(Some(valid.clone())).await.unwrap().text().await.unwrap();
    assert!(page.contains("Stopped") && page.contains("action=\"/start\""), "{page}");
    // Open on a stopped notebook: refused with why, no URL.
    assert_eq!(post("/open", &same_origin).await.unwrap().status(), 409);

    // Open is rate limited per user.
    let resp = post("/start", &same_origin).await.unwrap();
    assert_eq!(resp.status(), 303);
    wait_status(&acc, "alice-Notebook", "InService").await;
    let mut codes = Vec::new();
    for _ in 0..11 {
        codes.push(post("/open", &same_origin).await.unwrap().status().as_u16());
    }
    assert!(codes.contains(&429), "{codes:?}");

    // Every AWS call the page made is in its permission row.
    assert_eq!(not_in_the_row(&acc, served_from), Vec::<String>::new());
    let log = srv.proc.stderr();
    assert!(log.lines().any(|l| l.contains("POST /open 303") && l.ends_with("user=alice")), "{log}");
    assert!(log.lines().any(|l| l.contains("GET / 401") && l.ends_with("user=-")), "{log}");
    srv.proc.signal("TERM");
    let (code, err) = srv.proc.wait();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("authtoken=") && !err.to_lowercase().contains("authtoken"), "a URL in the log: {err}");
}

/// The operations sent since `mark` that the page's permission row does not list.
fn not_in_the_row(acc: &Account, mark: usize) -> Vec<String> {
    let table = notebook_vend::permissions::calls_of("serve --alb-arn").unwrap();
    let mut missing: Vec<String> = acc
        .requests_since(mark)
        .into_iter()
        .filter(|r| !table.iter().any(|c| c.operation == r.operation))
        .map(|r| format!("{}:{}", r.service, r.operation))
        .collect();
    missing.dedup();
    missing
}

/// A user with no notebook creates one from the page; the page follows it to InService.
#[tokio::test]
async fn create_my_notebook_provisions_for_the_signed_in_user() {
    let acc = Account::ready();
    let key = AlbKey::generate("kid-create");
    let keys = Files::start();
    keys.put(&format!("/{}", key.kid), "application/x-pem-file", &key.pem());
    let served_from = acc.requests().len();
    let mut srv = serve(&acc, &keys);
    let token = key.sign_in("carol@example.com", 600);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/", srv.base)).header("x-amzn-oidc-data", &token).send().await.unwrap();
    let body = page.text().await.unwrap();
    assert!(body.contains("No notebook yet") && body.contains("Create my notebook"), "{body}");
    let resp = http
        .post(format!("{}/provision", srv.base))
        .header("x-amzn-oidc-data", &token)
        .header("origin", &srv.base)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let started = Instant::now();
    loop {
        let s: serde_json::Value = http
            .get(format!("{}/state", srv.base))
            .header("x-amzn-oidc-data", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["status"] == "InService" && s["busy"] == false {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{s} {}", srv.proc.stderr());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = acc.json(&["status", "--user", "carol"]);
    assert_eq!(status["notebook"]["status"], "InService", "{status}");
    assert_eq!(not_in_the_row(&acc, served_from), Vec::<String>::new());
    srv.proc.signal("TERM");
    srv.proc.wait();
}

/// A malformed --alb-arn or --alb-key-url: exit 2, one line naming it, no request.
#[test]
fn a_bad_alb_arn_or_key_url_is_refused_before_any_request() {
    let acc = Account::new();
    let bad: [&[&str]; 4] = [
        &["serve", "--alb-arn", "arn:aws:s3:::bucket"],
        &["serve", "--alb-arn", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb/0123abcd"],
        &["serve", "--alb-arn", ALB_ARN, "--alb-key-url", "ftp://keys/{kid}"],
        &["serve", "--alb-arn", ALB_ARN, "--alb-key-url", "https://keys.example.com/static"],
    ];
    for args in bad {
        let (code, out, err) = acc.run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("--alb-"), "{args:?}: {err}");
    }
    assert!(acc.requests().is_empty(), "{:?}", acc.requests());
}

/// A new product version: the page says alice's notebook is outdated and Update moves it there,
/// keeping the notebook.
#[tokio::test]
async fn update_moves_an_outdated_notebook_to_the_newest_version_in_place() {
    let acc = Account::ready();
    acc.ok(&["provision", "--user", "alice", "-q"]);
    let created = acc.json(&["status", "--user", "alice"])["notebook"]["created"].clone();
    let dir = crate::update::templates_with_a_change();
    acc.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    let key = AlbKey::generate("kid-update");
    let keys = Files::start();
    keys.put(&format!("/{}", key.kid), "application/x-pem-file", &key.pem());
    let served_from = acc.requests().len();
    let mut srv = serve(&acc, &keys);
    let token = key.sign_in("alice@example.com", 600);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = || http.get(format!("{}/", srv.base)).header("x-amzn-oidc-data", &token).send();
    let body = page().await.unwrap().text().await.unwrap();
    assert!(body.contains("(newest: ") && body.contains("action=\"/update\""), "{body}");
    let resp = http
        .post(format!("{}/update", srv.base))
        .header("x-amzn-oidc-data", &token)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let started = Instant::now();
    loop {
        let body = page().await.unwrap().text().await.unwrap();
        assert!(!body.contains("failed:"), "{body}");
        if body.contains("(newest)") && body.contains("InService") && !body.contains("Updating your notebook") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = acc.json(&["status", "--user", "alice"]);
    assert_eq!(status["notebook"]["created"], created, "the notebook was kept: {status}");
    assert_eq!(not_in_the_row(&acc, served_from), Vec::<String>::new());
    srv.proc.signal("TERM");
    srv.proc.wait();
}
