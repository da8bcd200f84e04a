//! Two commands on one notebook at the same time: a provision that lost the race for its instance
//! type says so, and a URL stored after the notebook's terminate is not left behind (the sandbox
//! holds a request to make the overlap certain).

use crate::support::Account;

/// Two provisions of one user with different instance types: one notebook results, and the
/// provision whose type it does not have says so and exits 1 (not 0, as if it had been applied).
#[test]
fn a_provision_that_did_not_get_its_instance_type_says_so() {
    let acct = Account::ready_then(1.0, 0.5);
    let first =
        crate::support::Running::start(&acct, &["provision", "--user", "bob", "--instance-type", "ml.t3.medium"]);
    let second =
        crate::support::Running::start(&acct, &["provision", "--user", "bob", "--instance-type", "ml.t3.large"]);
    let mut results = Vec::new();
    for (mut run, wanted) in [(first, "ml.t3.medium"), (second, "ml.t3.large")] {
        let (code, err) = run.wait();
        results.push((code, err, wanted));
    }
    let rt = crate::support::rt();
    let got = rt.block_on(async {
        let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
        let nb = sm.describe_notebook_instance().notebook_instance_name("bob-Notebook").send().await.unwrap();
        nb.instance_type().unwrap().as_str().to_owned()
    });
    assert_eq!(rt.block_on(acct.provisioned_count()), 1);
    for (code, err, wanted) in &results {
        if *wanted == got {
            assert_eq!(*code, Some(0), "{wanted}: {err}");
        } else {
            assert_eq!(*code, Some(1), "{wanted} was not applied ({got} was), and it exited {code:?}: {err}");
            let last = err.trim().lines().last().unwrap_or_default();
            assert!(last.contains(wanted) && last.contains(&got), "{last}");
        }
    }
    // One after the other: the same.
    let other = if got == "ml.t3.medium" { "ml.t3.large" } else { "ml.t3.medium" };
    let (code, _, err) = acct.run(&["provision", "--user", "bob", "--instance-type", other]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("update --user bob --instance-type"), "{err}");
}

/// A refresh whose PutParameter is delayed (held by the sandbox, as throttling and retries would)
/// lands after terminate's DeleteParameter: the refresh sees the notebook gone, deletes what it
/// stored and exits 1, so no URL parameter outlives its notebook.
#[test]
fn a_delayed_refresh_leaves_no_url_after_terminate() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "rex", "-q"]);
    acct.control("fault", serde_json::json!({"operation": "PutParameter", "kind": "hold", "count": 1}));
    let mut refresh = crate::support::Running::start(&acct, &["refresh", "--user", "rex"]);
    // Wait (bounded) until the refresh's PutParameter is held in the sandbox.
    let mut held = 0;
    for _ in 0..1500 {
        held = acct.control("held", serde_json::json!({}))["held"].as_u64().unwrap_or(0);
        if held > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(held, 1, "the refresh's PutParameter was never held: {}", refresh.stderr());
    let terminated = acct.run(&["terminate", "--user", "rex", "--yes"]);
    acct.control("release", serde_json::json!({}));
    let (code, err) = refresh.wait();
    assert_eq!(terminated.0, 0, "{}", terminated.2);
    assert_eq!(code, Some(1), "the refresh stored a URL for a notebook that is gone: {err}");
    assert!(err.contains("rex-Notebook") && err.contains("deleted"), "{err}");
    let puts: Vec<_> = acct.requests().into_iter().filter(|r| r.operation == "PutParameter").collect();
    assert!(puts.last().is_some_and(|p| p.fault.as_deref() == Some("hold")), "{puts:?}");
    assert!(crate::support::rt().block_on(acct.parameter("rex")).is_none(), "a URL parameter outlived terminate");
}

/// The same race through `serve`: the same store path, the same outcome, and no URL answered.
#[test]
fn a_delayed_serve_refresh_leaves_no_url_after_terminate() {
    use std::io::{Read, Write};
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "sue", "-q"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "tok-0123456789abcdef").unwrap();
    let mut srv = crate::support::Running::start(
        &acct,
        &["serve", "--listen", "127.0.0.1:0", "--token-file", file.to_str().unwrap()],
    );
    let line = srv.wait_for_stderr("listening on ");
    let addr = line.split("http://").nth(1).unwrap().trim().to_owned();
    acct.control("fault", serde_json::json!({"operation": "PutParameter", "kind": "hold", "count": 1}));
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let body = r#"{"notebook_user_name": "sue"}"#;
        write!(
            s,
            "POST /refreshurl HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    });
    let mut held = 0;
    for _ in 0..1500 {
        held = acct.control("held", serde_json::json!({}))["held"].as_u64().unwrap_or(0);
        if held > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(held, 1, "serve's PutParameter was never held: {}", srv.stderr());
    let (code, _, err) = acct.run(&["terminate", "--user", "sue", "--yes"]);
    acct.control("release", serde_json::json!({}));
    let answer = client.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(!answer.starts_with("HTTP/1.1 200"), "serve handed out a URL of a terminated notebook: {answer}");
    assert!(!answer.to_lowercase().contains("authtoken"), "{answer}");
    assert!(crate::support::rt().block_on(acct.parameter("sue")).is_none(), "a URL parameter outlived terminate");
}
