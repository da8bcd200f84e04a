//! `serve`: the blog's refresh API (POST /refreshurl) on a local port. A bearer token guards it,
//! bad requests are answered before any AWS call, and slow, silent or too many clients cannot hold
//! it.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::{is_url_with_token_of, stored_url, Account, Running};
use serde_json::{json, Value};

fn fast(acc: &Account) {
    acc.configure(json!({"pending_seconds": 0.5, "record_seconds": 0.5}));
}

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
    assert_eq!(acc.requests(), vec![]);
}

#[tokio::test]
async fn serve_generates_a_token_when_none_is_given() {
    let acc = Account::new();
    let mut proc = Running::start(&acc, &["serve", "--listen", "127.0.0.1:0"]);
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

/// serve closes silent and slow clients, times out slow bodies, caps connections, and
/// answers 400 to a JSON body that is not an object.
#[test]
fn serve_limits_slow_silent_and_too_many_clients() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let acct = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "tok-0123456789abcdef").unwrap();
    let mut proc = crate::support::Running::start(
        &acct,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token-file",
            file.to_str().unwrap(),
            "--header-timeout",
            "1",
            "--body-timeout",
            "1",
            "--max-connections",
            "2",
        ],
    );
    let line = proc.wait_for_stderr("listening on ");
    let addr = line.split("http://").nth(1).unwrap().trim().to_owned();
    let connect = || {
        let s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        s
    };
    let answer = |s: &mut TcpStream| {
        let mut out = Vec::new();
        let r = s.read_to_end(&mut out);
        assert!(r.is_ok() || out.is_empty(), "the server kept the connection open: {r:?}");
        String::from_utf8_lossy(&out).into_owned()
    };
    // Silent, and a head that stops half way: both closed by the server.
    let mut silent = connect();
    assert!(!answer(&mut silent).contains("200"));
    let mut slow = connect();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(!answer(&mut slow).contains("200"));
    // An authorized body that never arrives: 408.
    let mut body = connect();
    body.write_all(
        b"POST /refreshurl HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    assert!(answer(&mut body).starts_with("HTTP/1.1 408"));
    // A JSON array is not the API's object.
    let mut array = connect();
    let b = r#"["alice"]"#;
    write!(
        array,
        "POST /refreshurl HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-0123456789abcdef\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
        b.len()
    )
    .unwrap();
    assert!(answer(&mut array).starts_with("HTTP/1.1 400"));
    // Over the cap (2): of three silent connections at least one is answered 503 at once (the
    // others are closed by the header timeout, with nothing).
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect()).collect();
    let answers: Vec<String> = held.iter_mut().map(answer).collect();
    assert!(answers.iter().any(|a| a.starts_with("HTTP/1.1 503")), "{answers:?}");
    assert!(answers.iter().all(|a| a.is_empty() || a.starts_with("HTTP/1.1 503")), "{answers:?}");
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}
