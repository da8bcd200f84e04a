//! Bad input: exit 2, one `error:` line that names the bad value, and not a single request in the
//! sandbox's log where the value can be checked without one (product values are checked against
//! the product, which needs reads first, but never a write). Flags, environment variables, AWS
//! profile keys, EventBridge events and HTTP bodies; every subcommand has a row.

use crate::support::{self, assert_usage, is_write, run_env, Account};

#[test]
fn invalid_invocations_exit_2_naming_the_value_with_no_request() {
    let acct = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("not-json.json"), "{\"detail\": ").unwrap();
    std::fs::write(path("not-an-event.json"), "[1, 2, 3]").unwrap();
    std::fs::write(path("empty-token"), "\n").unwrap();
    // A parameters directory whose service-catalog file is not the CloudFormation JSON format.
    let params = dir.path().join("params");
    std::fs::create_dir(&params).unwrap();
    std::fs::write(params.join("s3-iam-params.json"), "[]").unwrap();
    std::fs::write(params.join("service-catalog-params.json"), "{\"ParameterKey\": oops}").unwrap();
    // A templates directory that lacks the product template.
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    // (The two present are valid templates: one resource, as CloudFormation requires.)
    let one_resource = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n";
    std::fs::write(templates.join("s3-iam-config.yml"), one_resource).unwrap();
    std::fs::write(templates.join("service-catalog.yml"), one_resource).unwrap();
    let missing = path("no-such-event.json");
    let (not_json, not_event, empty_token) = (path("not-json.json"), path("not-an-event.json"), path("empty-token"));
    let (params, templates) = (params.to_string_lossy().into_owned(), templates.to_string_lossy().into_owned());
    let long_user = "u".repeat(60);

    // (arguments, what the error line must name)
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // provision: names, ranges, formats
        (vec!["provision", "--user", "Al!ce"], "Al!ce"),
        (vec!["provision", "--user", "a--"], "a--"),
        (vec!["provision", "--user", long_user.as_str()], long_user.as_str()),
        (vec!["provision", "--user", "ok", "--instance-type", "ml.t3"], "ml.t3"),
        (vec!["provision", "--user", "ok", "--volume-gb", "0"], "0"),
        (vec!["provision", "--user", "ok", "--idle-minutes", "-5"], "-5"),
        (vec!["provision", "--user", "ok", "--root-access", "maybe"], "maybe"),
        (vec!["provision", "--user", "ok", "--subnet", "subnet-xyz"], "subnet-xyz"),
        (vec!["provision", "--user", "ok", "--kms-key", "k;ey"], "k;ey"),
        (vec!["provision", "--user", "ok", "--tag", "=v"], "=v"),
        (vec!["provision", "--user", "ok", "--param", "bad-key=1"], "bad-key"),
        (vec!["provision", "--user", "ok", "--param", "S3IAMConfigStackName=x"], "S3IAMConfigStackName"),
        (vec!["provision", "--user", "ok", "--tag", "a=1", "--tag", "a=2"], "a"),
        (vec!["provision", "--user", "ok", "--timeout", "-1"], "-1"),
        (vec!["provision", "--user", "ok", "--parameter-type", "secure"], "secure"),
        // refresh: flag combinations and ranges
        (vec!["refresh", "--user", "ok", "--all"], "--all"),
        (vec!["refresh", "--endpoint", "ftp://x"], "ftp://x"),
        (vec!["refresh", "--all", "--concurrency", "65"], "65"),
        (vec!["update", "--user", ""], "user name is empty"),
        (vec!["update", "--user", "ok", "--param", "novalue"], "novalue"),
        (vec!["update", "--user", "ok", "--param", "S3IAMConfigStackName=x"], "S3IAMConfigStackName"),
        (vec!["update", "--all", "--replace-notebook-losing-its-data"], "--replace-notebook-losing-its-data"),
        (vec!["refresh", "--all", "--show-url"], "--show-url"),
        (vec!["refresh", "--user", "ok", "--timeout", "0"], "0"),
        // url, status, stop, start
        (vec!["url", "--user", "ok", "--stored", "--session-seconds", "1800"], "--session-seconds"),
        (vec!["url", "--user", "ok/../x"], "ok/../x"),
        (vec!["status", "--user", "bad name"], "bad name"),
        (vec!["status", "--user", "@callers"], "@callers"),
        (vec!["stop", "--user", "ok", "--timeout", "zero"], "zero"),
        (vec!["start", "--user", "ok", "--refresh", "--no-wait"], "--no-wait"),
        (vec!["start", "--user", "ok", "--session-seconds", "99999"], "99999"),
        // terminate, teardown: no terminal on stdin, so --yes is required
        (vec!["terminate", "--user", "ok"], "--yes"),
        (vec!["terminate", "--user", "-x", "--yes"], "-x"),
        (vec!["teardown"], "--yes"),
        (vec!["teardown", "--yes", "--concurrency", "0"], "0"),
        (vec!["cull", "--max-age", "12x"], "12x"),
        // schedule: Scheduler's expression rules and IANA zones, checked locally
        (vec!["schedule", "set", "--user", "ok", "--stop", "cron(0 8 * * ? *"], "cron(0 8 * * ? *"),
        (vec!["schedule", "set", "--user", "ok", "--start", "rate(2 day)"], "rate(2 day)"),
        (vec!["schedule", "set", "--user", "ok", "--stop", "rate(1 day)", "--tz", "Berlin"], "Berlin"),
        (vec!["schedule", "set", "--user", "ok"], "--start"),
        (vec!["schedule", "clear", "--user", "ok", "--start", "--stop"], "--stop"),
        (vec!["bootstrap", "--default-stop", "at(2027-13-01T00:00:00)"], "at(2027-13-01T00:00:00)"),
        // watch: ranges, combinations, missing and malformed files
        (vec!["watch", "--interval", "0"], "0"),
        (vec!["watch", "--once", "--event", "e.json"], "--event"),
        (vec!["watch", "--event", missing.as_str()], missing.as_str()),
        (vec!["watch", "--event", not_json.as_str()], not_json.as_str()),
        (vec!["watch", "--event", not_event.as_str()], not_event.as_str()),
        // serve
        (vec!["serve", "--listen", "0.0.0.0:8080"], "0.0.0.0:8080"),
        (vec!["serve", "--listen", "localhost"], "localhost"),
        (vec!["serve", "--token-file", empty_token.as_str()], empty_token.as_str()),
        (vec!["serve", "--request-timeout", "301"], "301"),
        // bootstrap: values and malformed files
        (vec!["bootstrap", "--principal", "arn:aws:iam::12:user/x"], "arn:aws:iam::12:user/x"),
        (vec!["bootstrap", "--allowed-instance-types", "ml.t3.medium,ml.bad"], "ml.bad"),
        (vec!["bootstrap", "--templates", "/no/such/dir"], "/no/such/dir"),
        (vec!["bootstrap", "--templates", templates.as_str()], "sm-notebook.yml"),
        (vec!["bootstrap", "--parameters-dir", params.as_str()], "service-catalog-params.json"),
        (vec!["completions", "tcsh"], "tcsh"),
        (vec!["policy", "admin"], "admin"),
        (vec!["policy", "operator", "--account", "12345"], "12345"),
        // global flags, on any subcommand
        (vec!["list", "--endpoint-url", "ftp://x"], "ftp://x"),
        (vec!["list", "--endpoint-url", "http://127.0.0.1:99999"], "http://127.0.0.1:99999"),
        (vec!["list", "--region", "eu west"], "eu west"),
        (vec!["list", "--ssm-prefix", "/aws/x/"], "/aws/x/"),
        (vec!["list", "--name", "Team_A"], "Team_A"),
        (vec!["list", "--output", "yaml"], "yaml"),
        (vec!["list", "--s3-stack", "9lives"], "9lives"),
        (vec!["status", "--user", "ok", "-v", "-q"], "--quiet"),
    ];
    // Every subcommand has a case, so a new one cannot arrive without its bad-input row: the list
    // comes from the binary's --help, not from this table.
    let covered: std::collections::BTreeSet<&str> = cases.iter().map(|(args, _)| args[0]).collect();
    let (code, help, _) = acct.run(&["--help"]);
    assert_eq!(code, 0);
    // Without an input of their own to check: doctor and man take none; `config show` only the
    // global flags, which the `list` rows cover.
    let without_input = ["doctor", "man", "config"];
    let uncovered: Vec<String> = support::subcommands(&help)
        .into_iter()
        .filter(|s| !covered.contains(s.as_str()) && !without_input.contains(&s.as_str()))
        .collect();
    assert!(uncovered.is_empty(), "subcommands with no bad-input case: {uncovered:?}");
    let mut failures = Vec::new();
    for (args, named) in &cases {
        let (code, out, err) = acct.run(args);
        let lines: Vec<&str> = err.trim().lines().collect();
        let ok =
            code == 2 && lines.len() == 1 && lines[0].starts_with("error:") && err.contains(named) && out.is_empty();
        if !ok {
            failures.push(format!(
                "{args:?}: exit {code}, expected 2 and one error line naming {named:?}; stderr: {err}stdout: {out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    let requests = acct.requests();
    assert!(requests.is_empty(), "bad input reached the sandbox: {requests:?}");
}

#[test]
fn invalid_names_and_sessions_exit_2_with_no_request() {
    let acct = Account::new();
    let long = "a".repeat(55);
    let cases: Vec<Vec<&str>> = vec![
        vec!["provision", "--user", ""],
        vec!["provision", "--user=-lead"],
        vec!["provision", "--user", "trail-"],
        vec!["provision", "--user", "under_score"],
        vec!["provision", "--user", "dot.ted"],
        vec!["provision", "--user", "spa ce"],
        vec!["provision", "--user", "ümlaut"],
        vec!["provision", "--user", &long],
        vec!["provision", "--user", "ok", "--session-seconds", "1799"],
        vec!["provision", "--user", "ok", "--session-seconds", "43201"],
        vec!["provision", "--user", "ok", "--session-seconds", "twelve"],
        vec!["provision", "--user", "ok", "--timeout", "0"],
        vec!["provision", "--user", "ok", "--tag", "noequals"],
        vec!["provision", "--user", "ok", "--parameter-type", "SecureStrin"],
        vec!["refresh", "--user", "bad_name"],
        vec!["refresh", "--all", "--concurrency", "0"],
        vec!["url", "--user", "x/y"],
        vec!["url", "--user", "ok", "--session-seconds", "100"],
    ];
    for args in cases {
        let (code, _, err) = acct.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        let last = args.last().unwrap();
        let bad = last.strip_prefix("--user=").unwrap_or(last);
        if !bad.is_empty() {
            assert!(err.contains(bad), "{args:?}: the error does not name {bad:?}: {err}");
        }
    }
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
    assert!(acct.requests().iter().all(|r| !is_write(&r.operation)));
}

#[test]
fn invalid_product_values_exit_2_before_any_write() {
    let acct = Account::bootstrapped(0.3, &[]);
    let mark = acct.requests().len();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--volume-gb", "4"], "4"),
        (vec!["--volume-gb", "513"], "513"),
        (vec!["--idle-minutes", "1441"], "1441"),
        (vec!["--root-access", "yes"], "yes"),
        (vec!["--subnet", "vpc-12345678"], "vpc-12345678"),
        (vec!["--security-group", "sg-12345678"], "--subnet"),
        (vec!["--kms-key", "bad key"], "bad key"),
        (vec!["--param", "NoSuchParameter=1"], "NoSuchParameter"),
        (vec!["--param", "VolumeSizeInGB=600"], "VolumeSizeInGB"),
        (vec!["--param", "PlatformIdentifier=windows"], "windows"),
        (vec!["--param", "NotebookInstanceType=ml.p3.2xlarge"], "ml.p3.2xlarge"),
        (vec!["--instance-type", "ml.p3.2xlarge"], "ml.p3.2xlarge"),
        (vec!["--param", "NotebookUserName=eve"], "NotebookUserName"),
        (vec!["--volume-gb", "20", "--param", "VolumeSizeInGB=30"], "VolumeSizeInGB"),
        (vec!["--param", "novalue"], "novalue"),
    ];
    for (extra, named) in cases {
        let mut args = vec!["provision", "--user", "carol"];
        args.extend(&extra);
        let (code, _, err) = acct.run(&args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(named), "{extra:?}: error does not name {named:?}: {err}");
    }
    let writes: Vec<_> = acct.requests_since(mark).into_iter().filter(|r| is_write(&r.operation)).collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn bad_bootstrap_inputs_exit_2_naming_the_input_with_nothing_sent() {
    let acct = Account::new();
    let bad_params = tempfile::tempdir().unwrap();
    std::fs::write(bad_params.path().join("s3-iam-params.json"), "[{\"ParameterKey\": \"A\"").unwrap();
    std::fs::copy("parameters/service-catalog-params.json", bad_params.path().join("service-catalog-params.json"))
        .unwrap();
    let bad_principal = tempfile::tempdir().unwrap();
    std::fs::copy("parameters/s3-iam-params.json", bad_principal.path().join("s3-iam-params.json")).unwrap();
    std::fs::write(
        bad_principal.path().join("service-catalog-params.json"),
        r#"[{"ParameterKey": "UserIAMPrincipal", "ParameterValue": "bob"}]"#,
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["bootstrap", "--parameters-dir", bad_params.path().to_str().unwrap()], "s3-iam-params.json"),
        (vec!["bootstrap", "--parameters-dir", bad_principal.path().to_str().unwrap()], "UserIAMPrincipal"),
        (vec!["bootstrap", "--templates", "/nonexistent/templates"], "/nonexistent/templates"),
        (vec!["bootstrap", "--principal", "arn:aws:iam::1:role/x"], "arn:aws:iam::1:role/x"),
        (vec!["bootstrap", "--principal", "not-an-arn"], "not-an-arn"),
        (vec!["bootstrap", "--s3-stack", "bad_name"], "bad_name"),
        (vec!["bootstrap", "--timeout", "0"], "0"),
    ];
    for (args, named) in cases {
        let (code, out, err) = acct.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.contains(named), "{args:?}: error does not name {named:?}: {err}");
    }
    assert!(acct.requests().is_empty(), "bad input reached AWS: {:?}", acct.requests());
}

/// Retry settings the SDK cannot parse are usage errors: left to the SDK, they make it panic
/// (exit 101 and a backtrace).
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

/// A region that cannot be a host label, an endpoint that does not parse: exit 2 before
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

/// More than 50 tags (the Owner tag counted: botocore servicecatalog `Tags` max 50),
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

/// A CloudTrail ProvisionProduct event as the blog's EventBridge rule delivers it.
fn provision_event(user: &str) -> serde_json::Value {
    serde_json::json!({"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.servicecatalog", "account": "123456789012", "region": "us-east-1", "resources": [],
        "detail": {"eventSource": "servicecatalog.amazonaws.com", "eventName": "ProvisionProduct",
            "requestParameters": {"productId": "prod-1", "provisionedProductName": "x-Notebook",
                "provisioningParameters": [{"key": "NotebookUserName", "value": user}]},
            "responseElements": {"recordDetail": {"recordId": "rec-1"}}}})
}

/// `watch --event` reads at most EventBridge's event size, from a file or an endless stdin, and an
/// event with a bad user name is refused before any request.
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

/// Checked failing before the fix: `serve` took the last of two `notebook_user_name` keys; `config
/// show` printed an out-of-range environment value with exit 0 where commands exit 2; `--param
/// VolumeSizeInGB=010` counted as a change of 10; `/SageMaker/../x/` was accepted as a prefix.
#[test]
fn duplicate_keys_out_of_range_settings_number_spellings_and_dot_segments_are_refused() {
    use crate::support::{rt, Running};
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "max", "-q"]);
    let plan = acct.json(&["update", "--user", "max", "--param", "VolumeSizeInGB=010", "--dry-run"]);
    assert_eq!(plan["effect"], "no_change", "{plan}");

    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["--ssm-prefix", "/SageMaker/../x/", "url", "--user", "max"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/SageMaker/../x/"), "{err}");
    let run = |args: &[&str]| {
        let out = acct.cmd().env("NOTEBOOK_VEND_SESSION_SECONDS", "99").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["refresh", "--user", "max"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = run(&["config", "show"]);
    assert_eq!(code, Some(2), "{err}");
    // every setting is checked, and values in range are shown as before
    let out = acct.cmd().env("NOTEBOOK_VEND_CONCURRENCY", "3").args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(err.contains("session_seconds") && err.contains("NOTEBOOK_VEND_SESSION_SECONDS"), "{err}");
    assert!(acct.requests_since(mark).is_empty());

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "t0ken-0123456789abcdef0123456789").unwrap();
    let mut srv =
        Running::start(&acct, &["serve", "--listen", "127.0.0.1:0", "--token-file", token_file.to_str().unwrap()]);
    let line = srv.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    let (status, body) = rt().block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{base}/refreshurl"))
            .header("authorization", "Bearer t0ken-0123456789abcdef0123456789")
            .header("content-type", "application/json")
            .body(r#"{"notebook_user_name": "nobody", "notebook_user_name": "max"}"#)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    });
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("duplicate"), "{body}");
    assert!(!body.contains("authToken"), "{body}");
}
