//! Issue 14, items 5 to 14: input limits, retry settings, endpoints, tags, concurrent provisions,
//! URL parameters' types and tags, broken templates, and refresh racing terminate. Each test fails
//! without its fix.

use crate::support::Account;

/// Run with extra environment variables; (exit code, stdout, stderr).
fn run_env(acct: &Account, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = acct.cmd();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit 2, one `error:` line naming `named`, no panic.
fn assert_usage(case: &str, (code, _, err): (i32, String, String), named: &str) {
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(code, 2, "{case}: {err}");
    assert_eq!(lines.len(), 1, "{case}: {err}");
    assert!(lines[0].starts_with("error:") && lines[0].contains(named), "{case}: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{case}: {err}");
}

/// Item 6: retry settings the SDK cannot parse made it panic (exit 101 and a backtrace).
#[test]
fn bad_retry_settings_are_usage_errors_naming_the_variable() {
    let acct = Account::new();
    for (var, value) in [("AWS_MAX_ATTEMPTS", "abc"), ("AWS_MAX_ATTEMPTS", "0"), ("AWS_RETRY_MODE", "bogus")] {
        assert_usage(&format!("{var}={value}"), run_env(&acct, &[(var, value)], &["list"]), var);
    }
    // The same keys in the profile (the SDK reads them there too).
    std::fs::write(acct.home.path().join("config"), "[default]\nmax_attempts = abc\n").unwrap();
    assert_usage("max_attempts in the profile", run_env(&acct, &[], &["list"]), "max_attempts");
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// Item 7: a region that cannot be a host label, an endpoint that does not parse: exit 2 before
/// any request, from the flag or the environment.
#[test]
fn bad_regions_and_endpoints_are_refused_before_any_request() {
    let acct = Account::new();
    let long = "r".repeat(300);
    for region in ["", "eu west 1", "eu-west-1/../x", long.as_str()] {
        let shown = &region[..region.len().min(20)];
        assert_usage(&format!("--region {shown}"), acct.run(&["list", "--region", region]), "region");
        if !region.is_empty() {
            assert_usage(
                &format!("AWS_REGION={shown}"),
                run_env(&acct, &[("AWS_REGION", region)], &["list"]),
                "region",
            );
        }
    }
    let (_, _, err) = acct.run(&["list", "--region", &long]);
    assert!(err.len() < 300, "the whole region was quoted: {err}");
    for url in ["http://127.0.0.1:99999", "http://[::1"] {
        assert_usage(url, acct.run(&["list", "--endpoint-url", url]), url);
        assert_usage(url, run_env(&acct, &[("AWS_ENDPOINT_URL", url)], &["list"]), "AWS_ENDPOINT_URL");
    }
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// Item 7: an endpoint that refuses connections is exit 1 with one short line, not the SDK's
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

/// Item 9: a settings file that is a directory or a broken symlink was silently ignored (the run
/// went on with the default names); values over their limit were quoted whole in the error line.
#[test]
fn unreadable_settings_files_and_huge_values_are_named_and_cut() {
    let acct = Account::new();
    let file = acct.home.path().join("notebook-vend.toml");
    std::fs::create_dir(&file).unwrap();
    assert_usage("directory", acct.run(&["list"]), "notebook-vend.toml");
    std::fs::remove_dir(&file).unwrap();
    std::os::unix::fs::symlink(acct.home.path().join("nowhere.toml"), &file).unwrap();
    assert_usage("broken symlink", acct.run(&["list"]), "notebook-vend.toml");
    std::fs::remove_file(&file).unwrap();
    // The same one in the user config directory.
    let xdg = acct.home.path().join(".config").join("notebook-vend");
    std::fs::create_dir_all(xdg.join("notebook-vend.toml")).unwrap();
    assert_usage("directory in ~/.config", acct.run(&["list"]), "notebook-vend.toml");
    std::fs::remove_dir(xdg.join("notebook-vend.toml")).unwrap();
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());

    // A 100 KB value (an argument holds at most 128 KB), from the file, the environment, a flag, and a line toml cannot parse.
    let huge = "p".repeat(100_000);
    let bad_huge = format!("{huge}!");
    std::fs::write(&file, format!("[default]\nproduct_name = \"{huge}{huge}{huge}{huge}{huge}{huge}{huge}{huge}x\"\n"))
        .unwrap();
    let cases = [
        ("file", run_env(&acct, &[], &["list"])),
        ("toml syntax", {
            std::fs::write(&file, format!("[default]\nname = {huge}\n")).unwrap();
            run_env(&acct, &[], &["list"])
        }),
        ("environment", {
            std::fs::remove_file(&file).unwrap();
            run_env(&acct, &[("NOTEBOOK_VEND_SSM_PREFIX", &bad_huge)], &["list"])
        }),
        ("flag", run_env(&acct, &[], &["list", "--s3-stack", &bad_huge])),
        ("user", run_env(&acct, &[], &["status", "--user", &huge])),
    ];
    for (case, (code, _, err)) in cases {
        assert_eq!(code, 2, "{case}: {}", &err[..err.len().min(300)]);
        assert!(err.len() < 1000, "{case}: an error line of {} bytes", err.len());
    }
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// A CloudTrail ProvisionProduct event as the blog's EventBridge rule delivers it.
fn provision_event(user: &str) -> serde_json::Value {
    serde_json::json!({"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.servicecatalog", "account": "123456789012", "region": "us-east-1", "resources": [],
        "detail": {"eventSource": "servicecatalog.amazonaws.com", "eventName": "ProvisionProduct",
            "requestParameters": {"productId": "prod-1", "provisionedProductName": "x-Notebook",
                "provisioningParameters": [{"key": "NotebookUserName", "value": user}]},
            "responseElements": {"recordDetail": {"recordId": "rec-1"}}}})
}

/// Item 10: `watch --event -` read stdin without a bound, and an event with a bad user name was
/// refused only after three requests.
#[test]
fn watch_events_are_capped_and_a_bad_user_sends_nothing() {
    use std::io::Write;
    let acct = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-user.json");
    std::fs::write(&bad, provision_event("../admin").to_string()).unwrap();
    assert_usage("bad user", acct.run(&["watch", "--event", bad.to_str().unwrap()]), "../admin");

    // Over EventBridge's 256 KB: a file, and an endless stdin (/dev/zero) that must not be read to
    // its end. A well-formed event padded with spaces, so only its size is wrong.
    let big = dir.path().join("big.json");
    let mut padded = provision_event("bob").to_string();
    padded.push_str(&" ".repeat(300 * 1024));
    std::fs::write(&big, &padded).unwrap();
    assert_usage("big file", acct.run(&["watch", "--event", big.to_str().unwrap()]), "bytes");
    assert_usage("endless file", acct.run(&["watch", "--event", "/dev/zero"]), "bytes");
    let mut child = acct
        .std_cmd()
        .args(["watch", "--event", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Writes until the binary stops reading (a broken pipe): it must not wait for an end.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0usize;
        while stdin.write_all(&chunk).is_ok() {
            sent += chunk.len();
            if sent > 64 << 20 {
                break;
            }
        }
        sent
    });
    let out = child.wait_with_output().unwrap();
    let sent = writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stdin") && err.contains("bytes"), "{err}");
    assert!(sent < 64 << 20, "the binary read {sent} bytes of stdin");
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// Item 8: more than 50 tags (the Owner tag counted: botocore servicecatalog `Tags` max 50),
/// duplicate keys, and parameters the deployment owns are refused before any request.
#[test]
fn too_many_tags_duplicates_and_owned_parameters_send_nothing() {
    let acct = Account::new();
    let tags: Vec<String> = (0..50).map(|i| format!("k{i}=v")).collect();
    let mut args = vec!["provision", "--user", "bob"];
    for t in &tags {
        args.extend(["--tag", t.as_str()]);
    }
    assert_usage("50 tags and Owner", acct.run(&args), "50");
    assert_usage("duplicate", acct.run(&["provision", "--user", "bob", "--tag", "team=a", "--tag", "team=b"]), "team");
    assert_usage("Owner", acct.run(&["provision", "--user", "bob", "--tag", "Owner=eve"]), "Owner");
    for cmd in ["provision", "update"] {
        assert_usage(
            cmd,
            acct.run(&[cmd, "--user", "bob", "--param", "S3IAMConfigStackName=someone-elses"]),
            "S3IAMConfigStackName",
        );
    }
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// Item 14: a plaintext `String` URL parameter (as the blog's function wrote them) became a
/// SecureString by overwrite, and its plaintext URL stayed in the parameter's history; other types
/// were overwritten without a word; `url --stored` printed whatever the parameter held, exit 0.
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

/// Item 13: the Owner/ManagedBy tags were only added at version 1, so a parameter whose tagging
/// failed (or whose first store was retried) stayed untagged forever.
#[test]
fn url_parameters_get_their_tags_back_when_missing() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "tig", "-q"]);
    let rt = crate::support::rt();
    let ssm = rt.block_on(async { aws_sdk_ssm::Client::new(&acct.sdk().await) });
    let name = "/SageMaker/Notebooks/tig-Notebook";
    let tags = || {
        let out = rt
            .block_on(
                ssm.list_tags_for_resource()
                    .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
                    .resource_id(name)
                    .send(),
            )
            .unwrap();
        let mut t: Vec<(String, String)> =
            out.tag_list().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        t.sort();
        t
    };
    let want = vec![
        ("ManagedBy".to_owned(), "notebook-vend".to_owned()),
        ("Owner".to_owned(), "tig".to_owned()),
        ("notebook-vend:user".to_owned(), "tig".to_owned()),
    ];
    assert_eq!(tags(), want);
    rt.block_on(
        ssm.remove_tags_from_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .tag_keys("Owner")
            .tag_keys("ManagedBy")
            .tag_keys("notebook-vend:user")
            .send(),
    )
    .unwrap();
    acct.ok(&["refresh", "--user", "tig", "-q"]);
    assert_eq!(tags(), want);
    // Tagged already: no tagging call on the next refresh.
    let mark = acct.requests().len();
    acct.ok(&["refresh", "--user", "tig", "-q"]);
    let ops: Vec<String> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(!ops.contains(&"AddTagsToResource".to_owned()), "{ops:?}");
}

/// The templates of the repository in a directory, each passed through `edit(name, body)`.
fn templates_dir(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let body = std::fs::read_to_string(format!("templates/{name}")).unwrap();
        std::fs::write(dir.path().join(name), edit(name, body)).unwrap();
    }
    dir
}

/// Item 11: a template that is not YAML was sent to CloudFormation (after other writes); a failed
/// update of the catalog stack left the new product template in the bucket as the current one.
#[test]
fn bootstrap_checks_templates_locally_and_keeps_the_deployed_version_when_the_stack_fails() {
    let acct = Account::new();
    let broken = templates_dir(|name, body| if name == "sm-notebook.yml" { body + "  Bad: [unclosed\n" } else { body });
    let (code, out, err) = acct.run(&["bootstrap", "--templates", broken.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("sm-notebook.yml") && err.contains("YAML"), "{err}");
    assert!(acct.writes_since(0).is_empty(), "{:?}", acct.writes_since(0));

    acct.configure(serde_json::json!({"record_seconds": 0.2, "pending_seconds": 0.2}));
    acct.bootstrap();
    let before = std::fs::read_to_string("templates/sm-notebook.yml").unwrap();
    // A valid new product template, and a catalog stack update that fails (a resource the
    // sandbox's CloudFormation cannot create: an SSM parameter without a Name).
    let failing = templates_dir(|name, body| {
        match name {
        "sm-notebook.yml" => body + "# version 2\n",
        "service-catalog.yml" => body.replacen(
            "Resources:\n",
            "Resources:\n  Broken:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: x\n",
            1,
        ),
        _ => body,
    }
    });
    for run in 0..2 {
        let (code, out, err) = acct.run(&["bootstrap", "--templates", failing.path().to_str().unwrap()]);
        assert_eq!(code, 1, "run {run}: {out}{err}");
        assert!(!out.contains("unchanged") && !out.contains("up to date"), "run {run}: {out}");
        assert!(err.contains("UPDATE_ROLLBACK_COMPLETE"), "run {run}: {err}");
    }
    // Each version has its own object: the refused one never replaced the deployed version's.
    let rt = crate::support::rt();
    let (key, current) = rt.block_on(async {
        let sdk = acct.sdk().await;
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        let stack = cfn.describe_stacks().stack_name("service-catalog-config").send().await.unwrap();
        let key = stack.stacks()[0]
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some("ServiceCatalogTemplateName"))
            .and_then(|p| p.parameter_value())
            .unwrap()
            .to_owned();
        let conf = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let buckets = s3.list_buckets().send().await.unwrap();
        let bucket = buckets.buckets()[0].name().unwrap().to_owned();
        let out = s3.get_object().bucket(bucket).key(&key).send().await.unwrap();
        (key.clone(), String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap())
    });
    assert_eq!(current, before, "the deployed version's template {key} changed");
}

/// Item 12: two provisions of one user with different instance types: the one whose type the
/// notebook does not have said nothing and exited 0.
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

/// Item 5: a refresh whose PutParameter is delayed (held by the sandbox, as throttling and retries
/// would) lands after terminate's DeleteParameter; it left a URL parameter with no notebook.
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

/// Item 5 through `serve`: the same store path, the same outcome.
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
