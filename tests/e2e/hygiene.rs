//! Credential hygiene: a presigned URL is a bearer credential. The whole workflow at `-vv` (debug
//! logs) prints none on stderr, and on stdout only where printing one is the command's job
//! (`url`, `url --stored`).

use crate::support::Account;
use serde_json::json;

/// Does this text hold a presigned URL or any part of a token we know?
fn leaks(text: &str, tokens: &[String]) -> Option<String> {
    if text.contains("authToken") || text.contains(".sagemaker.aws") {
        return Some("a presigned URL".into());
    }
    // Any 40-character slice of a known token (a URL cut, re-encoded or split over lines).
    for t in tokens {
        let chars: Vec<char> = t.chars().collect();
        for w in chars.windows(40).step_by(20) {
            let s: String = w.iter().collect();
            if text.contains(&s) {
                return Some(format!("part of a token: {s}"));
            }
        }
    }
    None
}

fn token_of(url: &str) -> String {
    url.split_once("authToken=").map(|(_, t)| t.to_owned()).unwrap_or_default()
}

#[test]
fn no_url_in_any_log_line_of_the_whole_workflow() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let mut tokens: Vec<String> = Vec::new();
    let check = |args: &[&str], prints_url: bool, tokens: &mut Vec<String>| {
        let mut all = args.to_vec();
        all.push("-vv");
        let (code, out, err) = acct.run(&all);
        assert_eq!(code, 0, "{all:?}\nstdout: {out}\nstderr: {err}");
        if let Some(what) = leaks(&err, tokens) {
            panic!("{all:?} logged {what} on stderr:\n{err}");
        }
        if prints_url {
            let url = out.trim();
            assert!(url.starts_with("https://") && url.contains("authToken="), "{all:?}: {url:.60}");
            assert_eq!(out.trim().lines().count(), 1, "only the URL on stdout");
            tokens.push(token_of(url));
        } else if let Some(what) = leaks(&out, tokens) {
            panic!("{all:?} printed {what} on stdout:\n{out}");
        }
        err
    };

    check(&["bootstrap"], false, &mut tokens);
    let err = check(&["provision", "--user", "hy"], false, &mut tokens);
    assert!(err.contains("stored a fresh URL"), "-vv logs the steps: {err}");
    check(&["url", "--user", "hy", "--stored"], true, &mut tokens);
    check(&["refresh", "--user", "hy"], false, &mut tokens);
    check(&["provision", "--user", "hy2", "--output", "json"], false, &mut tokens);
    check(&["url", "--user", "hy2", "--stored"], true, &mut tokens);
    check(&["refresh", "--all"], false, &mut tokens);
    check(&["refresh", "--all", "--output", "json"], false, &mut tokens);
    check(&["list"], false, &mut tokens);
    check(&["list", "--output", "json"], false, &mut tokens);
    check(&["status", "--user", "hy"], false, &mut tokens);
    check(&["status", "--user", "hy", "--output", "json"], false, &mut tokens);
    check(&["url", "--user", "hy"], true, &mut tokens);
    check(&["url", "--user", "hy", "--stored"], true, &mut tokens);
    check(&["terminate", "--user", "hy2", "--yes"], false, &mut tokens);
    check(&["terminate", "--user", "hy", "--yes", "--output", "json"], false, &mut tokens);
    assert!(
        tokens.len() == 4 && tokens.iter().all(|t| t.len() > 1000),
        "real tokens were checked for: {:?}",
        tokens.iter().map(String::len).collect::<Vec<_>>()
    );
}
