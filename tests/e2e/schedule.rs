//! `schedule set|show|clear`: working hours through EventBridge Scheduler, against the sandbox's
//! strict Scheduler (tests/sandbox/nvsandbox/scheduler), which fires a schedule on request as its
//! execution role.

use crate::support::{rt, Account};

const START: &str = "cron(0 8 ? * MON-FRI *)";
const STOP: &str = "cron(0 19 ? * MON-FRI *)";
const GROUP: &str = "s3-iam-config-schedules";

fn scheduler(acct: &Account) -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(&rt().block_on(acct.sdk()))
}

fn schedules_in_group(acct: &Account) -> Vec<String> {
    let client = scheduler(acct);
    let out = rt().block_on(client.list_schedules().group_name(GROUP).send()).unwrap();
    let mut names: Vec<String> = out.schedules().iter().filter_map(|s| s.name().map(str::to_owned)).collect();
    names.sort();
    names
}

fn notebook_status(acct: &Account, user: &str) -> String {
    let sm = aws_sdk_sagemaker::Client::new(&rt().block_on(acct.sdk()));
    let out = rt().block_on(sm.describe_notebook_instance().notebook_instance_name(format!("{user}-Notebook")).send());
    out.unwrap().notebook_instance_status().unwrap().as_str().to_owned()
}

/// The "done when": two schedules targeting start/stopNotebookInstance for alice-Notebook in
/// Europe/Berlin with the deployment's role; show prints them; firing the stop schedule stops
/// alice's notebook and nobody else's; clear leaves none.
#[test]
fn set_show_fire_and_clear() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "alice", "-q"]);
    acct.ok(&["provision", "--user", "bob", "-q"]);
    let set =
        acct.json(&["schedule", "set", "--user", "alice", "--start", START, "--stop", STOP, "--tz", "Europe/Berlin"]);
    assert_eq!(set["group"], GROUP, "{set}");
    assert_eq!(set["schedules"].as_array().unwrap().len(), 2, "{set}");

    assert_eq!(schedules_in_group(&acct), ["alice-start", "alice-stop"]);
    let client = scheduler(&acct);
    for (name, api, expr) in
        [("alice-start", "startNotebookInstance", START), ("alice-stop", "stopNotebookInstance", STOP)]
    {
        let s = rt().block_on(client.get_schedule().group_name(GROUP).name(name).send()).unwrap();
        assert_eq!(s.schedule_expression(), Some(expr));
        assert_eq!(s.schedule_expression_timezone(), Some("Europe/Berlin"));
        let target = s.target().unwrap();
        assert_eq!(target.arn(), format!("arn:aws:scheduler:::aws-sdk:sagemaker:{api}"));
        assert_eq!(target.role_arn(), format!("arn:aws:iam::{}:role/s3-iam-config-scheduler", acct.id));
        let input: serde_json::Value = serde_json::from_str(target.input().unwrap()).unwrap();
        assert_eq!(input, serde_json::json!({"NotebookInstanceName": "alice-Notebook"}));
    }

    let show = acct.json(&["schedule", "show", "--user", "alice"]);
    let shown = show["schedules"].as_array().unwrap();
    assert_eq!(shown.len(), 2, "{show}");
    for s in shown {
        assert_eq!(s["timezone"], "Europe/Berlin", "{s}");
        assert_eq!(s["origin"], "own", "{s}");
        assert_eq!(s["notebook"], "alice-Notebook", "{s}");
        // Weekday mornings and evenings in Berlin: 08:00 or 19:00 local, +01:00 or +02:00.
        let local = s["next_run_local"].as_str().unwrap();
        let hour = if s["action"] == "start" { "T08:00:00+0" } else { "T19:00:00+0" };
        assert!(local.contains(hour), "{s}");
        assert!(s["next_run"].as_str().unwrap().ends_with('Z'), "{s}");
    }
    let text = acct.ok(&["schedule", "show", "--user", "alice"]);
    assert!(text.contains(START) && text.contains(STOP) && text.contains("next "), "{text}");

    let fired = acct.control("fire-schedule", serde_json::json!({"group": GROUP, "name": "alice-stop"}));
    assert_eq!(fired["outcome"], "invoked", "{fired}");
    assert!(["Stopping", "Stopped"].contains(&notebook_status(&acct, "alice").as_str()));
    assert_eq!(notebook_status(&acct, "bob"), "InService");

    let cleared = acct.json(&["schedule", "clear", "--user", "alice", "--start"]);
    assert_eq!(cleared["removed"], serde_json::json!(["alice-start"]), "{cleared}");
    assert_eq!(schedules_in_group(&acct), ["alice-stop"]);
    acct.json(&["schedule", "clear", "--user", "alice"]);
    assert!(schedules_in_group(&acct).is_empty());
    // Twice is fine: nothing to remove.
    let again = acct.json(&["schedule", "clear", "--user", "alice"]);
    assert!(again.get("removed").is_none(), "{again}");
}

/// A set over an existing schedule changes it in place (UpdateSchedule after ConflictException).
#[test]
fn set_again_changes_the_schedule() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "carol", "-q"]);
    acct.ok(&["schedule", "set", "--user", "carol", "--stop", STOP]);
    let out =
        acct.json(&["schedule", "set", "--user", "carol", "--stop", "cron(30 17 ? * MON-FRI *)", "--tz", "Asia/Tokyo"]);
    let stop = &out["schedules"][0];
    assert_eq!(stop["expression"], "cron(30 17 ? * MON-FRI *)", "{out}");
    assert_eq!(stop["timezone"], "Asia/Tokyo", "{out}");
    assert!(stop["next_run_local"].as_str().unwrap().contains("T17:30:00+09:00"), "{out}");
    assert_eq!(acct.count_ok("UpdateSchedule"), 1);
    assert_eq!(schedules_in_group(&acct), ["carol-stop"]);
}

/// A bad expression or zone: exit 2, one line naming it, and no request at all.
#[test]
fn bad_expression_or_zone_is_exit_2_before_any_request() {
    let acct = Account::new();
    for (args, names) in [
        (vec!["--stop", "cron(61 8 ? * MON-FRI *)"], "minutes: 61"),
        (vec!["--start", "cron(0 8 * * * *)"], "exactly one of day-of-month and day-of-week"),
        (vec!["--stop", "rate(1 hours)"], "singular"),
        (vec!["--stop", STOP, "--tz", "Mars/Olympus"], "Mars/Olympus"),
    ] {
        let mut all = vec!["schedule", "set", "--user", "alice"];
        all.extend(args.iter().copied());
        let (code, out, err) = acct.run(&all);
        assert_eq!(code, 2, "{all:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(names), "{all:?}: {err}");
    }
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// No notebook, no schedule: it would fail at every run.
#[test]
fn set_without_a_notebook_is_refused() {
    let acct = Account::ready();
    let (code, _, err) = acct.run(&["schedule", "set", "--user", "dave", "--stop", STOP]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("dave has no notebook") && err.contains("provision"), "{err}");
    assert_eq!(acct.count("CreateSchedule"), 0);
}

/// terminate deletes the user's schedules with the notebook; teardown deletes the group.
#[test]
fn terminate_and_teardown_remove_schedules() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "erin", "-q"]);
    acct.ok(&["provision", "--user", "finn", "-q"]);
    acct.ok(&["schedule", "set", "--user", "erin", "--start", START, "--stop", STOP]);
    acct.ok(&["schedule", "set", "--user", "finn", "--stop", STOP]);
    let out = acct.json(&["terminate", "--user", "erin", "--yes", "-q"]);
    assert_eq!(out["schedules_deleted"], serde_json::json!(["erin-start", "erin-stop"]), "{out}");
    assert_eq!(schedules_in_group(&acct), ["finn-stop"]);
    let torn = acct.json(&["teardown", "--terminate-notebooks", "--yes", "-q"]);
    assert_eq!(torn["schedule_group_deleted"], true, "{torn}");
    let client = scheduler(&acct);
    let group = rt().block_on(client.get_schedule_group().name(GROUP).send());
    assert!(group.is_err(), "the group outlived teardown");
}

/// bootstrap makes the tagged group once; a second bootstrap with nothing new writes nothing to it.
#[test]
fn bootstrap_makes_the_tagged_group_once() {
    let acct = Account::ready();
    let client = scheduler(&acct);
    let group = rt().block_on(client.get_schedule_group().name(GROUP).send()).unwrap();
    let tags = rt().block_on(client.list_tags_for_resource().resource_arn(group.arn().unwrap()).send()).unwrap();
    let tags: Vec<(String, String)> = tags.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    assert!(tags.contains(&("ManagedBy".into(), "notebook-vend".into())), "{tags:?}");
    let mark = acct.requests().len();
    let again = acct.bootstrap();
    assert_eq!(again["schedule_group_change"], "unchanged", "{again}");
    let writes: Vec<String> =
        acct.requests_since(mark).into_iter().filter(|r| r.service == "scheduler").map(|r| r.operation).collect();
    assert_eq!(writes, ["GetScheduleGroup", "ListTagsForResource"]);
}

/// The deployment default: bootstrap keeps it on the group and gives it to the notebooks that
/// exist; provision gives it to new ones; an owner's own schedule wins and clearing it brings the
/// default back; list and status show each notebook's next start and stop.
#[test]
fn deployment_default_applies_unless_the_owner_set_their_own() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "gus", "-q"]);
    let boot = acct.json(&["bootstrap", "-q", "--default-stop", "cron(0 20 * * ? *)", "--tz", "Europe/Berlin"]);
    assert_eq!(boot["schedule_default"]["stop"], "cron(0 20 * * ? *)", "{boot}");
    assert_eq!(boot["schedule_default_applied"], serde_json::json!(["gus-stop"]), "{boot}");
    // Again with nothing new: the default is kept (no flags repeated) and nothing is written.
    let again = acct.bootstrap();
    assert_eq!(again["schedule_default"]["timezone"], "Europe/Berlin", "{again}");
    assert_eq!(again["schedule_default_applied"], serde_json::json!([]), "{again}");
    assert_eq!(again["up_to_date"], true, "{again}");

    acct.ok(&["provision", "--user", "hana", "-q"]);
    assert_eq!(schedules_in_group(&acct), ["gus-stop", "hana-stop"]);
    let shown = acct.json(&["schedule", "show", "--user", "hana"]);
    assert_eq!(shown["schedules"][0]["origin"], "default", "{shown}");
    assert!(shown["schedules"][0]["next_run_local"].as_str().unwrap().contains("T20:00:00+0"), "{shown}");

    // The owner's own stop wins over the default, also at the next bootstrap.
    acct.ok(&["schedule", "set", "--user", "hana", "--stop", STOP, "--start", START, "--tz", "Europe/Berlin"]);
    let again = acct.json(&["bootstrap", "-q", "--default-stop", "cron(0 21 * * ? *)", "--tz", "Europe/Berlin"]);
    assert_eq!(again["schedule_default_applied"], serde_json::json!(["gus-stop"]), "{again}");
    let client = scheduler(&acct);
    let hana = rt().block_on(client.get_schedule().group_name(GROUP).name("hana-stop").send()).unwrap();
    assert_eq!(hana.schedule_expression(), Some(STOP));

    // list and status: next start and stop, computed from the expressions.
    let list = acct.json(&["list"]);
    let row = |u: &str| list.as_array().unwrap().iter().find(|r| r["user"] == u).unwrap().clone();
    assert!(row("gus")["next_start"].is_null(), "{list}");
    assert!(row("gus")["next_stop"].as_str().unwrap().ends_with(":00:00Z"), "{list}");
    assert!(row("hana")["next_start"].as_str().is_some() && row("hana")["next_stop"].as_str().is_some(), "{list}");
    let table = acct.ok(&["list"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header[header.len() - 2..], ["NEXT-START", "NEXT-STOP"], "{table}");
    let status = acct.json(&["status", "--user", "hana"]);
    let actions: Vec<&str> =
        status["schedules"].as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["start", "stop"], "{status}");

    // Clearing her own brings the default back (the stop; the default has no start).
    let cleared = acct.json(&["schedule", "clear", "--user", "hana"]);
    assert_eq!(cleared["removed"], serde_json::json!(["hana-start", "hana-stop"]), "{cleared}");
    assert_eq!(cleared["schedules"][0]["origin"], "default", "{cleared}");
    assert_eq!(cleared["schedules"][0]["expression"], "cron(0 21 * * ? *)", "{cleared}");
    assert_eq!(schedules_in_group(&acct), ["gus-stop", "hana-stop"]);
}

/// A bad default is refused before any request, like any expression.
#[test]
fn bootstrap_refuses_a_bad_default_before_any_request() {
    let acct = Account::new();
    let (code, _, err) = acct.run(&["bootstrap", "--default-stop", "cron(0 20 * * * *)"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = acct.run(&["bootstrap", "--default-stop", "cron(0 20 * * ? *)", "--tz", "Mars/Olympus"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = acct.run(&["bootstrap", "--default-start", "cron(0 8 * * ? *)"]);
    assert_eq!(code, 2, "{err}");
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

/// cull keeps working beside schedules and says when a start schedule restarts what it stops.
#[test]
fn cull_says_when_a_schedule_restarts_the_notebook() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ivy", "-q"]);
    acct.ok(&["provision", "--user", "jon", "-q"]);
    acct.ok(&["schedule", "set", "--user", "ivy", "--start", START, "--tz", "Europe/Berlin"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = acct.json(&["cull", "--max-age", "1s"]);
    let rows = out["notebooks"].as_array().unwrap();
    let ivy = rows.iter().find(|r| r["user"] == "ivy").unwrap();
    let jon = rows.iter().find(|r| r["user"] == "jon").unwrap();
    assert_eq!(ivy["action"], "stopped", "{out}");
    assert!(ivy["restarts_at"].as_str().unwrap().ends_with('Z'), "{out}");
    assert_eq!(jon["action"], "stopped", "{out}");
    assert!(jon.get("restarts_at").is_none(), "{out}");
}

/// A deployment taken over from the blog sample (`bootstrap --adopt`) gets the schedule group from
/// the adoption itself (its s3-iam stack now declares the execution role), and a later plain
/// bootstrap keeps a default there and gives it to the notebooks, as on a fresh deployment.
#[test]
fn an_adopted_deployment_gets_the_group_and_the_default() {
    let (acct, _) = crate::adopt::blog_account();
    acct.ok(&["bootstrap", "--adopt", "--yes", "-q"]);
    let client = scheduler(&acct);
    let group = rt().block_on(client.get_schedule_group().name(GROUP).send());
    assert!(group.is_ok(), "no schedule group after the adoption: {group:?}");

    acct.ok(&["provision", "--user", "ann", "-q"]);
    let summary = acct.json(&["bootstrap", "--default-stop", STOP]);
    assert_eq!(summary["schedule_group"], GROUP, "{summary}");
    assert_eq!(summary["schedule_default"]["stop"], STOP, "{summary}");
    assert_eq!(summary["schedule_default_applied"], serde_json::json!(["ann-stop"]), "{summary}");
    let fired = acct.control("fire-schedule", serde_json::json!({"group": GROUP, "name": "ann-stop"}));
    assert_eq!(fired["outcome"], "invoked", "{fired}");
    assert!(["Stopping", "Stopped"].contains(&notebook_status(&acct, "ann").as_str()));
}

/// Polls the notebook's status until it is `want` (the sandbox moves Stopping and Pending on in
/// pending_seconds).
fn wait_status(acct: &Account, user: &str, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while notebook_status(acct, user) != want {
        assert!(std::time::Instant::now() < deadline, "{user}'s notebook never reached {want}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn stored_url(acct: &Account, user: &str) -> (i64, String) {
    let p = rt().block_on(acct.parameter(user)).expect("a stored URL");
    (p.version(), p.value().unwrap().to_owned())
}

/// A scheduled start stores no URL by itself: the notebook's own InService event does, through
/// `watch`'s state-change handler (the serverless function, or `watch --event` with the event),
/// and so does the next `watch` scan, which sees the notebook InService since after its URL was
/// stored (no Service Catalog record tells of a scheduled start).
#[test]
fn a_scheduled_start_gets_its_fresh_url_from_the_next_watch_and_from_the_in_service_event() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "alice", "-q"]);
    acct.ok(&["schedule", "set", "--user", "alice", "--start", START, "--stop", STOP]);
    let fire = |name: &str| acct.control("fire-schedule", serde_json::json!({"group": GROUP, "name": name}));
    assert_eq!(fire("alice-stop")["outcome"], "invoked");
    wait_status(&acct, "alice", "Stopped");
    let before = stored_url(&acct, "alice");
    assert_eq!(fire("alice-start")["outcome"], "invoked");
    wait_status(&acct, "alice", "InService");
    assert_eq!(stored_url(&acct, "alice"), before, "the start itself stored a URL");

    let out = acct.ok(&["watch", "--once", "--output", "json"]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((line["result"].as_str(), line["user"].as_str()), (Some("stored"), Some("alice")), "{out}");
    let rescanned = stored_url(&acct, "alice");
    assert!(rescanned.0 > before.0 && rescanned.1 != before.1, "no fresh URL from watch --once");
    // Handled: the next scan stores nothing.
    acct.ok(&["watch", "--once", "-q"]);
    assert_eq!(stored_url(&acct, "alice").0, rescanned.0, "watch --once stored the restart twice");

    // Again, through the InService event this time.
    assert_eq!(fire("alice-stop")["outcome"], "invoked");
    wait_status(&acct, "alice", "Stopped");
    std::thread::sleep(std::time::Duration::from_millis(1100)); // LastModifiedTime is to the second
    assert_eq!(fire("alice-start")["outcome"], "invoked");
    wait_status(&acct, "alice", "InService");
    let before = stored_url(&acct, "alice");

    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let arn = format!("arn:aws:sagemaker:us-east-1:{}:notebook-instance/alice-notebook", acct.id);
    let event = serde_json::json!({
        "version": "0", "id": "5e1f0c2a-8d3b-4f6e-9a7c-2b4d6e8f0a1c",
        "detail-type": "SageMaker Notebook Instance State Change", "source": "aws.sagemaker",
        "account": acct.id, "time": now.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap(),
        "region": "us-east-1", "resources": [arn],
        "detail": {"NotebookInstanceArn": arn, "NotebookInstanceName": "alice-Notebook",
                   "NotebookInstanceStatus": "InService", "InstanceType": "ml.t3.medium"}
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let out = acct.json(&["watch", "--event", file.to_str().unwrap()]);
    assert_eq!(out["result"], "stored", "{out}");
    let after = stored_url(&acct, "alice");
    assert!(after.0 > before.0 && after.1 != before.1, "no fresh URL after the InService event");
    assert!(crate::support::is_url_with_token_of(&after.1, "alice"));
}

/// A notebook provisioned outside the tool (console, CLI) gets the deployment's default from the
/// `watch` that stores its URL, as `provision` gives it to its own.
#[tokio::test(flavor = "multi_thread")]
async fn watch_gives_a_console_provision_the_deployment_default() {
    let acct = Account::ready();
    acct.ok(&["bootstrap", "-q", "--default-stop", STOP, "--tz", "Europe/Berlin"]);
    crate::watch::console_provision(&acct, "SageMaker Notebook", "dora", "ml.t3.medium").await;
    let out = acct.ok(&["watch", "--once", "--output", "json"]);
    assert!(out.contains("\"stored\""), "{out}");
    let show = acct.json(&["schedule", "show", "--user", "dora"]);
    let shown = show["schedules"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "{show}");
    assert_eq!(shown[0]["name"], "dora-stop", "{show}");
    assert_eq!(shown[0]["origin"], "default", "{show}");
    assert_eq!(shown[0]["timezone"], "Europe/Berlin", "{show}");
}
