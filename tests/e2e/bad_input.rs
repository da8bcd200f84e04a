//! Bad input across every subcommand: exit 2, one error line that names the bad value, and not a
//! single request in the sandbox's log (not even a read). Complements the tables of the vending
//! module (user names, sessions) and the hardening module (product values checked against the
//! product, which needs reads first).

use crate::support::{self, Account};

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
        (vec!["refresh"], "--user"),
        (vec!["refresh", "--all", "--concurrency", "65"], "65"),
        (vec!["update"], "--user"),
        (vec!["update", "--user", "ok", "--param", "novalue"], "novalue"),
        (vec!["update", "--user", "ok", "--param", "S3IAMConfigStackName=x"], "S3IAMConfigStackName"),
        (vec!["update", "--all", "--replace-notebook-losing-its-data"], "--replace-notebook-losing-its-data"),
        (vec!["refresh", "--all", "--show-url"], "--show-url"),
        (vec!["refresh", "--user", "ok", "--timeout", "0"], "0"),
        // url, status, stop, start
        (vec!["url", "--user", "ok", "--stored", "--session-seconds", "1800"], "--session-seconds"),
        (vec!["url", "--user", "ok/../x"], "ok/../x"),
        (vec!["status", "--user", "bad name"], "bad name"),
        (vec!["status"], "--user"),
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
