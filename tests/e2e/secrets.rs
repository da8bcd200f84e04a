//! A presigned URL is a bearer credential: it is printed only where printing one is the command's
//! job (`url`, `url --stored`, `--show-url`), never in a log line at any level, never on a command
//! line, never left in a file or in a plaintext parameter's history.

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

#[test]
fn no_url_in_output_or_logs_unless_asked() {
    let acct = Account::ready();
    let (code, out, err) = acct.run(&["provision", "--user", "kim", "-vv"]);
    assert_eq!(code, 0);
    assert!(!out.contains("authToken") && !err.contains("authToken"), "URL leaked:\n{out}\n{err}");
    let (_, out, err) = acct.run(&["refresh", "--user", "kim", "-vv"]);
    assert!(!out.contains("authToken") && !err.contains("authToken"));
    let (_, out, _) = acct.run(&["refresh", "--user", "kim", "--show-url"]);
    assert!(out.contains("authToken="));
}

#[test]
fn url_open_hands_the_url_to_the_browser_and_prints_nothing() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "opal", "-q"]);
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("opened");
    let browser = dir.path().join("browser.sh");
    // The browser gets a private redirect file, never the URL itself (which any user could read
    // on the browser's command line).
    std::fs::write(&browser, format!("#!/bin/sh\ncat \"$1\" > {}\n", seen.display())).unwrap();
    std::fs::set_permissions(&browser, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = acct.cmd().env("BROWSER", &browser).args(["url", "--user", "opal", "--open"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "the URL went to the browser, not stdout");
    let opened = std::fs::read_to_string(&seen).unwrap();
    assert!(opened.contains("https://opal-notebook.notebook.us-east-1.sagemaker.aws?authToken="), "{opened}");
}

/// `url --open` never puts the URL on a command line (any local user can read those), and no log
/// level prints it.
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

/// Checked failing before the fix: a `url --open` killed before its cleanup left its 0600
/// redirect file (a URL) behind for good; the next `--open` now removes stale ones.
#[test]
fn url_open_removes_redirect_files_a_killed_run_left_behind() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ned", "-q"]);
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join(format!("notebook-vend-{}", "ab".repeat(16)));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("open.html"), "https://ned-notebook.notebook.us-east-1.sagemaker.aws?authToken=x")
        .unwrap();
    let fresh = tmp.path().join(format!("notebook-vend-{}", "cd".repeat(16)));
    std::fs::create_dir(&fresh).unwrap();
    let other = tmp.path().join("notebook-vend-notes");
    std::fs::create_dir(&other).unwrap();
    for path in [stale.join("open.html"), stale.clone(), other.clone()] {
        let ok = std::process::Command::new("touch").arg("-d").arg("10 minutes ago").arg(&path).status().unwrap();
        assert!(ok.success());
    }
    let out = acct
        .cmd()
        .env("TMPDIR", tmp.path())
        .env("BROWSER", "true")
        .args(["url", "--user", "ned", "--open"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stale.exists(), "the stale redirect file is still there");
    assert!(fresh.exists(), "a live run's directory was removed");
    assert!(other.exists(), "a directory not named as ours was removed");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

/// A plaintext `String` URL parameter (as the blog's function wrote them) is deleted and written
/// again as a SecureString, not overwritten, so its plaintext URL does not stay in the parameter's
/// history; a type change is said, not silent; `url --stored` refuses a value that is not a URL.
#[test]
fn a_plaintext_url_parameter_leaves_no_plaintext_history() {
    use aws_sdk_ssm::types::ParameterType as T;
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "pat", "-q"]);
    let rt = crate::support::rt();
    let ssm = rt.block_on(async { aws_sdk_ssm::Client::new(&acct.sdk().await) });
    let name = "/SageMaker/Notebooks/pat-Notebook";
    let put = |value: &str, kind: T| {
        rt.block_on(async {
            ssm.delete_parameter().name(name).send().await.ok();
            ssm.put_parameter().name(name).value(value).r#type(kind).send().await.unwrap();
        })
    };
    // The user's own parameter beside it is not touched.
    rt.block_on(ssm.put_parameter().name("/SageMaker/Notebooks/pat-notes").value("mine").r#type(T::String).send())
        .unwrap();
    let plain = "https://pat-notebook.notebook.us-east-1.sagemaker.aws?authToken=PLAINTEXT-OLD-TOKEN";
    put(plain, T::String);
    let (code, _, err) = acct.run(&["refresh", "--user", "pat"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(name) && err.contains("String") && err.contains("SecureString"), "not said: {err}");
    let history = rt.block_on(ssm.get_parameter_history().name(name).with_decryption(true).send()).unwrap();
    let values: Vec<(String, String)> = history
        .parameters()
        .iter()
        .map(|p| (p.r#type().map(|t| t.as_str().to_owned()).unwrap_or_default(), p.value().unwrap_or_default().into()))
        .collect();
    assert!(!values.iter().any(|(_, v)| v == plain), "the plaintext URL stayed in the history: {values:?}");
    assert!(values.iter().all(|(t, _)| t == "SecureString"), "{values:?}");
    let kept = rt.block_on(ssm.get_parameter().name("/SageMaker/Notebooks/pat-notes").send()).unwrap();
    assert_eq!(kept.parameter().and_then(|p| p.value()), Some("mine"));

    // PutParameter cannot change a type (HierarchyTypeMismatchException; the sandbox refuses a
    // type-changing overwrite): a StringList at the URL's name ends as a SecureString URL, and a
    // SecureString asked to become a String is re-created as one.
    let stored = || {
        let out = rt.block_on(ssm.get_parameter().name(name).with_decryption(true).send()).unwrap();
        let p = out.parameter().unwrap();
        (p.r#type().unwrap().as_str().to_owned(), p.value().unwrap_or_default().to_owned())
    };
    put("a,b", T::StringList);
    let (code, _, err) = acct.run(&["refresh", "--user", "pat"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("StringList"), "not said: {err}");
    let (kind, value) = stored();
    assert_eq!(kind, "SecureString");
    assert!(value.starts_with("https://pat-notebook."), "not a URL: {value}");
    let (code, _, err) = acct.run(&["refresh", "--user", "pat", "--parameter-type", "String"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stored().0, "String");

    put("not a url", T::SecureString);
    let (code, out, err) = acct.run(&["url", "--user", "pat", "--stored"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty() && !err.contains("not a url"), "{out} {err}");
    assert!(err.contains("refresh"), "{err}");
}
