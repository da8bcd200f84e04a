//! Issue 14: what an adversarial probe found (lockout, --profile, serve limits, credential
//! exposure, races, input limits). Each test fails without its fix.

use crate::support::{rt, Account};

/// Item 1: the provision token had a budget of three provision/terminate cycles per user per UTC
/// day; the fourth provision failed until midnight.
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

/// Item 2: `--profile` outranks environment credentials (as the AWS CLI does), and a profile that
/// does not exist is exit 2 before any request (it used to fall back to the environment's keys).
#[test]
fn an_explicit_profile_wins_over_environment_credentials() {
    let env_acct = Account::new();
    let profile_acct = Account::new();
    let creds = format!("[other]\naws_access_key_id = {}\naws_secret_access_key = sandbox\n", profile_acct.id);
    std::fs::write(env_acct.home.path().join("credentials"), creds).unwrap();
    env_acct.run(&["--profile", "other", "doctor"]);
    assert!(env_acct.requests().is_empty(), "the environment's keys were used: {:?}", env_acct.requests());
    assert!(!profile_acct.requests().is_empty(), "the profile's keys were not used");

    for args in [vec!["--profile", "doesnotexist", "list"], vec!["list", "--profile", "doesnotexist"]] {
        let (code, _, err) = env_acct.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("doesnotexist"), "{err}");
    }
    let out = env_acct.cmd().env("AWS_PROFILE", "doesnotexist").args(["list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env_acct.requests().is_empty(), "{:?}", env_acct.requests());
}

/// Item 3: serve closes silent and slow clients, times out slow bodies, caps connections, and
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

/// Item 4: `url --open` never puts the URL on a command line, and no log level prints it.
#[test]
fn url_open_and_trace_logs_never_expose_the_url() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ola", "-q"]);
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let browser = dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > {s}.arg\nstat -c %a \"$1\" > {s}.mode\nstat -c %a \"$(dirname \"$1\")\" >> {s}.mode\ncat \"$1\" > {s}\n",
            s = seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = acct.cmd().env("BROWSER", &browser).args(["url", "--user", "ola", "--open"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let arg = std::fs::read_to_string(seen.with_extension("arg")).unwrap();
    assert!(!arg.to_lowercase().contains("authtoken"), "the URL was on the command line: {arg}");
    assert!(!std::path::Path::new(&arg).exists(), "the redirect file was left behind: {arg}");
    assert_eq!(
        std::fs::read_to_string(seen.with_extension("mode")).unwrap().split_whitespace().collect::<Vec<_>>(),
        ["600", "700"]
    );
    let html = std::fs::read_to_string(&seen).unwrap();
    assert!(html.contains("https://ola-notebook.notebook.us-east-1.sagemaker.aws?authToken="), "{html}");

    for (var, args) in [("trace", vec!["url", "--user", "ola"]), ("trace", vec!["refresh", "--user", "ola", "-vvv"])] {
        let out = acct.cmd().env("RUST_LOG", var).args(&args).output().unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.to_lowercase().contains("authtoken"), "{args:?} logged the URL");
    }
}
