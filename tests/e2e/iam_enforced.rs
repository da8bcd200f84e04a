//! IAM enforced: each role runs its commands holding EXACTLY the policy that
//! `notebook-vend policy <role> --account <id> --output json` prints, in an account where the
//! sandbox checks every call of an IAM user against that user's policies
//! (tests/sandbox/nvsandbox/iam/enforcement.py, `/_sandbox/config {"iam_enforced": 1}`). A permission the
//! table lacks makes the command fail with AccessDenied, and the test with it.
//!
//! Isolation: enforcement is a setting of the test's own sandbox account (the switch is per
//! account, not per sandbox process), so parallel tests in other accounts are not affected. The
//! users, their policies and keys are created with the account's root credentials first; only
//! then is enforcement turned on (the root key is never checked, as on AWS).
//!
//! What the sandbox's evaluator cannot decide (nvsandbox/iam/enforcement.py's docstring), so these tests
//! cannot either:
//! - Resources: only S3 (bucket/key) and IAM roles are named in the request context; for Service
//!   Catalog, SageMaker, SSM and CloudFormation an Allow matches on its action whatever its
//!   Resource says. A policy whose ARN patterns miss the tool's notebooks, parameters or stacks
//!   would pass here and fail on AWS; `permissions.rs`'s unit tests check the ARNs instead.
//! - Conditions: `servicecatalog:userLevel = self` is evaluated (from the request's
//!   AccessLevelFilter, so an end user's account-wide search is denied), but "self" is not
//!   narrowed to the caller's own products: an end user may describe any record here.
//! - What CloudFormation does with the caller's credentials (the `cfn(...)` rows of the bootstrap
//!   policy) is checked by action only (nvsandbox/cloudformation/principal.py: each resource's own
//!   create/update/delete call, and the log group's update handler calls), not by resource or
//!   condition; iam:PassRole is not checked.
//! - Portfolio access: the sandbox's SearchProducts does not filter by portfolio principal; the
//!   test still associates all three users (through an IAM group given to `bootstrap
//!   --principal`), as AWS needs for SearchProducts/DescribeProduct to find the product.
//! - Policy size: IAM takes at most 6,144 characters (whitespace not counted) in a managed
//!   policy (IAM user guide, "IAM and AWS STS quotas"); moto does not check it, so the test does.

use serde_json::{json, Value};

use crate::support::{rt, starts_as_url_of, Account, Caller};

/// IAM's limit on a managed policy document, whitespace not counted (IAM user guide, "IAM and
/// AWS STS quotas": "Managed policy size: 6,144 characters").
const MANAGED_POLICY_MAX: usize = 6144;

/// The group given access to the portfolio (`bootstrap --principal`); every principal joins it.
async fn team(acct: &Account, name: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let out = iam.create_group().group_name(name).send().await.unwrap();
    out.group().unwrap().arn().to_owned()
}

/// User `user` holding exactly what `policy <role> --account <id> --output json` prints, as a
/// customer managed policy attached to the user (a user's inline policies are limited to 2,048
/// characters), member of `group`, with an access key.
async fn principal(acct: &Account, role: &str, user: &str, group: &str) -> Caller {
    let document = acct.ok(&["policy", role, "--account", &acct.id, "--output", "json"]);
    principal_holding(acct, role, user, group, &document).await
}

/// User `user` holding `document` (a role's policy, possibly narrowed by the test).
async fn principal_holding(acct: &Account, role: &str, user: &str, group: &str, document: &str) -> Caller {
    let size = document.chars().filter(|c| !c.is_whitespace()).count();
    assert!(size <= MANAGED_POLICY_MAX, "`policy {role}` is {size} characters, over IAM's {MANAGED_POLICY_MAX}");
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let created = iam.create_user().user_name(user).send().await.unwrap();
    let arn = created.user().unwrap().arn().to_owned();
    let policy = iam
        .create_policy()
        .policy_name(format!("notebook-vend-{role}"))
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("IAM refused `policy {role}`: {e:?}\n{document}"));
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_owned();
    iam.attach_user_policy().user_name(user).policy_arn(policy_arn).send().await.unwrap();
    iam.add_user_to_group().group_name(group).user_name(user).send().await.unwrap();
    let key = iam.create_access_key().user_name(user).send().await.unwrap();
    let key = key.access_key().unwrap();
    Caller::with_key(user, &arn, key.access_key_id(), key.secret_access_key())
}

/// A URL parameter under the default prefix whose notebook does not exist (written as root).
async fn put_stale_url(acct: &Account, user: &str) {
    let ssm = aws_sdk_ssm::Client::new(&acct.sdk().await);
    ssm.put_parameter()
        .name(format!("/SageMaker/Notebooks/{user}-Notebook"))
        .value("https://example.invalid/stale")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
}

/// Turn the sandbox's IAM checks on for this account only (the root key is never checked).
fn enforce(acct: &Account) {
    acct.configure(json!({"iam_enforced": 1}));
}

/// The end user's account-wide command is denied and said to be an operator command: exit 1,
/// AWS's error code, and the tool's explanation.
fn assert_operator_command_denied(acct: &Account, end_user: &Caller, args: &[&str], what: &str) {
    let (code, out, err) = end_user.run(acct, args);
    assert_eq!(code, 1, "{args:?}\nstdout: {out}\nstderr: {err}");
    assert!(err.contains(&format!("`{what}` is an operator command")), "{args:?}: {err}");
    assert!(err.contains("notebook-vend policy operator"), "{args:?}: {err}");
    assert!(err.contains("AccessDenied"), "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?}: {out}");
}

/// The whole workflow with three principals, each holding only its role's policy: bootstrap
/// deploys (and checks with doctor, a bootstrap-role command in permissions::TABLE), the end user
/// provisions and runs every per-user command on their own notebook, the operator runs the
/// account-wide commands, and bootstrap tears the deployment down.
#[test]
fn each_role_runs_its_commands_holding_only_its_own_policy() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.5, "pending_seconds": 0.5}));
    let rt = rt();
    let group = rt.block_on(team(&acct, "notebook-team"));
    let admin = rt.block_on(principal(&acct, "bootstrap", "ada", "notebook-team"));
    let dana = rt.block_on(principal(&acct, "end-user", "dana", "notebook-team"));
    let otto = rt.block_on(principal(&acct, "operator", "otto", "notebook-team"));
    enforce(&acct);

    // Enforcement is on for this account: the end user cannot run what only bootstrap may.
    let (code, _, err) = dana.run(&acct, &["bootstrap", "--principal", &group, "-q"]);
    assert_eq!(code, 1, "an end user bootstrapped: {err}");
    assert!(err.contains("`bootstrap` is an operator command"), "{err}");
    assert!(err.contains("notebook-vend policy bootstrap") && err.contains(": AccessDenied: User: "), "{err}");

    // (a) bootstrap
    let summary = admin.json(&acct, &["bootstrap", "--principal", &group, "-q"]);
    assert_eq!(summary["principal"], group.as_str(), "{summary}");
    assert!(summary["product_id"].is_string(), "{summary}");
    admin.ok(&acct, &["doctor", "-q"]);

    // (b) the end user, on their own notebook
    dana.ok(&acct, &["provision", "--user", "dana", "-q"]);
    assert!(rt.block_on(acct.parameter("dana")).is_some(), "provision stored no URL");
    let url = dana.ok(&acct, &["url", "--user", "dana"]);
    assert!(starts_as_url_of(url.trim(), "dana"), "not dana's URL");
    let stored = dana.ok(&acct, &["url", "--user", "dana", "--stored"]);
    assert!(starts_as_url_of(stored.trim(), "dana"), "not dana's stored URL");
    let before = rt.block_on(acct.parameter("dana")).unwrap().version();
    dana.ok(&acct, &["refresh", "--user", "dana", "-q"]);
    assert!(rt.block_on(acct.parameter("dana")).unwrap().version() > before, "refresh stored nothing");
    let status = dana.json(&acct, &["status", "--user", "dana"]);
    assert_eq!(status["notebook"]["status"], "InService", "{status}");
    // Her own working hours (Scheduler, iam:PassRole of the execution role).
    let set = dana.json(&acct, &["schedule", "set", "--user", "dana", "--stop", "cron(0 19 ? * MON-FRI *)"]);
    assert_eq!(set["schedules"][0]["name"], "dana-stop", "{set}");
    dana.ok(&acct, &["schedule", "show", "--user", "dana"]);
    // Without --user: the caller's own, as for the other per-user commands.
    let own = dana.json(&acct, &["schedule", "show"]);
    assert_eq!(own["user"], "dana", "{own}");
    assert_eq!(own["schedules"][0]["name"], "dana-stop", "{own}");
    // Her own two schedules by exact name: not those of a user whose name extends hers.
    let (code, out, err) = dana.run(&acct, &["schedule", "show", "--user", "dana-x"]);
    assert_eq!(code, 1, "dana read dana-x's schedules\nstdout: {out}\nstderr: {err}");
    assert!(err.contains("AccessDenied"), "{err}");
    assert_operator_command_denied(&acct, &dana, &["list"], "list");

    // (c) the operator, over every user's notebooks
    let rows = otto.json(&acct, &["list"]);
    assert!(rows.as_array().unwrap().iter().any(|r| r["user"] == "dana"), "{rows}");
    let before = rt.block_on(acct.parameter("dana")).unwrap().version();
    otto.ok(&acct, &["refresh", "--all", "-q"]);
    assert!(rt.block_on(acct.parameter("dana")).unwrap().version() > before, "refresh --all stored nothing");
    otto.ok(&acct, &["watch", "--once", "-q"]);
    // Nothing is a day old: cull reads every notebook and keeps them (the stop itself is the
    // end user's StopNotebookInstance below; the operator's policy includes every end-user action).
    for dry_run in [true, false] {
        let mut args = vec!["cull", "--max-age", "1d", "-q"];
        if dry_run {
            args.push("--dry-run");
        }
        let culled = otto.json(&acct, &args);
        let rows = culled["notebooks"].as_array().unwrap();
        assert!(rows.iter().any(|r| r["user"] == "dana" && r["action"] == "kept"), "{culled}");
    }

    // (b) again: stop, start, terminate
    dana.ok(&acct, &["stop", "--user", "dana", "-q"]);
    let status = dana.json(&acct, &["status", "--user", "dana"]);
    assert_eq!(status["notebook"]["status"], "Stopped", "{status}");
    dana.ok(&acct, &["start", "--user", "dana", "--refresh", "-q"]);
    dana.ok(&acct, &["terminate", "--user", "dana", "--yes", "-q"]);
    assert!(rt.block_on(acct.parameter("dana")).is_none(), "terminate left the URL parameter");
    assert_eq!(rt.block_on(acct.provisioned_count()), 0);

    // Left for teardown: a second notebook, and a URL parameter whose notebook is gone (the blog's
    // setup left those behind), so teardown terminates a product and deletes leftover parameters.
    // (An operator's: an end user provisions only for themselves, tests/e2e/isolation.rs.)
    otto.ok(&acct, &["provision", "--user", "dana2", "-q"]);
    rt.block_on(put_stale_url(&acct, "gone"));

    // (a) teardown, with the bootstrap role's policy
    admin.ok(&acct, &["teardown", "--terminate-notebooks", "--yes", "-q"]);
    assert_eq!(rt.block_on(acct.provisioned_count()), 0);
    for user in ["dana2", "gone"] {
        assert!(rt.block_on(acct.parameter(user)).is_none(), "teardown left {user}'s URL parameter");
    }
    let (code, _, err) = acct.run(&["doctor", "-q"]);
    assert_ne!(code, 0, "doctor found a deployment after teardown: {err}");
}

/// An end user running an account-wide command gets AWS's AccessDenied, reported as an operator
/// command with the policy to ask for (exit 1), and nothing is written.
#[test]
fn an_end_user_running_an_operator_command_is_told_it_is_one() {
    let acct = Account::ready();
    let rt = rt();
    rt.block_on(team(&acct, "notebook-team"));
    let eve = rt.block_on(principal(&acct, "end-user", "eve", "notebook-team"));
    enforce(&acct);
    let mark = acct.requests().len();
    for (args, what) in [
        (vec!["list"], "list"),
        (vec!["refresh", "--all", "-q"], "refresh --all"),
        (vec!["cull", "--max-age", "1d"], "cull"),
    ] {
        assert_operator_command_denied(&acct, &eve, &args, what);
    }
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    let denied: Vec<_> = acct.requests_since(mark).into_iter().filter(|r| r.status != "200").collect();
    // Only the account-wide reads are refused (refresh --all reads the notebooks' states beside
    // the provisioned products).
    let account_wide = ["SearchProvisionedProducts", "ListNotebookInstances"];
    assert!(denied.iter().all(|r| account_wide.contains(&r.operation.as_str())), "{denied:?}");
}

/// Bootstrapped (as the account's root, with the team group as portfolio principal) and enforced,
/// with an end user holding exactly `policy end-user` who has provisioned their own notebook.
fn end_user_with_a_notebook(user: &str) -> (Account, Caller, String) {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.5, "pending_seconds": 0.5}));
    let rt = rt();
    let group = rt.block_on(team(&acct, "notebook-team"));
    let end_user = rt.block_on(principal(&acct, "end-user", user, "notebook-team"));
    acct.json(&["bootstrap", "--principal", &group, "-q"]);
    enforce(&acct);
    end_user.ok(&acct, &["provision", "--user", user, "-q"]);
    (acct, end_user, group)
}

/// `update --user` is an end-user command. Holding only `policy end-user`
/// (no ListProvisioningArtifacts), the data scientist changes their own notebook's instance type in place, then moves
/// it to the product's new version: the notebook is kept (same creation time) both times.
#[test]
fn an_end_user_updates_their_own_notebook_in_place() {
    use crate::update::{notebook, pp, templates_with_a_change, url_version};
    let (acct, fay, group) = end_user_with_a_notebook("fay");
    let before = notebook(&acct, "fay");
    let version = url_version(&acct, "fay");

    let out = fay.json(&acct, &["update", "--user", "fay", "--instance-type", "ml.t3.large", "--yes"]);
    assert_eq!(out["effect"], "in_place", "{out}");
    assert_eq!(out["changes"][0]["key"], "NotebookInstanceType", "{out}");
    let after = notebook(&acct, "fay");
    assert_eq!(after.instance_type, "ml.t3.large");
    assert_eq!(after.created, before.created, "the notebook was replaced");
    assert_eq!(after.status, "InService");
    assert!(url_version(&acct, "fay") > version, "no fresh URL stored");

    // A new product version (bootstrap, as root): the end user moves to it, its template read
    // (DescribeProvisioningArtifact and s3:GetObject, in `policy end-user`).
    let (_, old_artifact) = pp(&acct, "fay");
    let dir = templates_with_a_change();
    acct.json(&["bootstrap", "--principal", &group, "-q", "--templates", dir.path().to_str().unwrap()]);
    let mark = acct.requests().len();
    let out = fay.json(&acct, &["update", "--user", "fay", "--yes"]);
    assert_eq!(out["effect"], "in_place", "{out}");
    assert_ne!(out["artifact_from"], out["artifact_to"], "{out}");
    let (status, now_on) = pp(&acct, "fay");
    assert_eq!(status, "AVAILABLE");
    assert_ne!(now_on, old_artifact, "not on the new version");
    let moved = notebook(&acct, "fay");
    assert_eq!(moved.created, before.created, "the notebook was replaced by the version move");
    assert_eq!(moved.instance_type, "ml.t3.large", "the instance type was not kept");
    let sent: Vec<String> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(!sent.iter().any(|o| o == "ListProvisioningArtifacts"), "{sent:?}");
}

/// As end user, a change that replaces the notebook (SubnetId is create-only on
/// AWS::SageMaker::NotebookInstance) is still refused: exit 2, nothing sent, the product unchanged.
#[test]
fn an_end_users_replacing_update_is_refused_with_nothing_sent() {
    use crate::update::{notebook, pp};
    let (acct, gus, _) = end_user_with_a_notebook("gus");
    let before = notebook(&acct, "gus");
    let mark = acct.requests().len();
    let (code, out, err) = gus.run(&acct, &["update", "--user", "gus", "--param", "SubnetId=subnet-0123456789abcdef0"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("replaces the notebook gus-Notebook"), "{err}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    let denied: Vec<_> = acct.requests_since(mark).into_iter().filter(|r| r.status != "200").collect();
    assert!(denied.is_empty(), "{denied:?}");
    assert_eq!(pp(&acct, "gus").0, "AVAILABLE");
    assert_eq!(notebook(&acct, "gus").created, before.created);
}

/// An end user without servicecatalog:DescribeProvisioningArtifact and s3:GetObject (AWS's managed
/// end-user access grants neither): the new version's template is unreadable. A parameter change
/// on the same version is judged from the deployed template and goes ahead, but a move to a new
/// version is refused (exit 1, nothing sent) even though the deployed template is readable: what
/// the move does to the notebook (a renamed notebook resource, a redefined create-only property)
/// is only in the new template.
#[test]
fn without_the_new_template_an_end_user_changes_parameters_but_does_not_move_versions() {
    use crate::update::{notebook, pp, templates_with_a_change};
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.5, "pending_seconds": 0.5}));
    let rt = rt();
    let group = rt.block_on(team(&acct, "notebook-team"));
    let document = acct.ok(&["policy", "end-user", "--account", &acct.id, "--output", "json"]);
    let mut narrowed: Value = serde_json::from_str(&document).unwrap();
    for st in narrowed["Statement"].as_array_mut().unwrap() {
        st["Action"].as_array_mut().unwrap().retain(|a| {
            !["servicecatalog:DescribeProvisioningArtifact", "s3:GetObject"].contains(&a.as_str().unwrap())
        });
    }
    narrowed["Statement"].as_array_mut().unwrap().retain(|st| !st["Action"].as_array().unwrap().is_empty());
    assert_ne!(narrowed.to_string(), serde_json::from_str::<Value>(&document).unwrap().to_string());
    let hal = rt.block_on(principal_holding(&acct, "end-user", "hal", "notebook-team", &narrowed.to_string()));
    acct.json(&["bootstrap", "--principal", &group, "-q"]);
    enforce(&acct);
    hal.ok(&acct, &["provision", "--user", "hal", "-q"]);
    let before = notebook(&acct, "hal");

    let out = hal.json(&acct, &["update", "--user", "hal", "--instance-type", "ml.t3.large", "--yes"]);
    assert_eq!(out["effect"], "in_place", "{out}");
    assert_eq!(notebook(&acct, "hal").instance_type, "ml.t3.large");
    assert_eq!(notebook(&acct, "hal").created, before.created);

    let (_, old_artifact) = pp(&acct, "hal");
    let dir = templates_with_a_change();
    acct.json(&["bootstrap", "--principal", &group, "-q", "--templates", dir.path().to_str().unwrap()]);
    let mark = acct.requests().len();
    let (code, out, err) = hal.run(&acct, &["update", "--user", "hal", "--yes"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("not moving hal's notebook") && err.contains("An operator can run"), "{err}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    assert_eq!(pp(&acct, "hal"), ("AVAILABLE".to_owned(), old_artifact));
    assert_eq!(notebook(&acct, "hal").created, before.created);
}

/// `bootstrap --adopt`, `doctor` and `teardown` of the blog's deployment holding exactly `policy
/// bootstrap`. The tool passes no service role, so CloudFormation runs every resource handler with
/// the caller's credentials (CloudFormation user guide, "CloudFormation service role"), and the
/// sandbox checks those calls (nvsandbox/cloudformation/principal.py): the adoption updates the
/// kept log group (its update handler reads and sets tags: logs:ListTagsLogGroup, TagLogGroup)
/// and teardown deletes what the sample created.
#[test]
fn adoption_and_teardown_of_the_blog_deployment_need_only_the_bootstrap_policy() {
    let (acct, _) = crate::adopt::blog_account();
    let rt = rt();
    rt.block_on(team(&acct, "notebook-team"));
    let admin = rt.block_on(principal(&acct, "bootstrap", "ada", "notebook-team"));
    enforce(&acct);

    let plan = admin.json(&acct, &["bootstrap", "--adopt", "--yes"]);
    assert!(plan["result"].as_str().is_some_and(|r| r.starts_with("adopted")), "{plan}");
    admin.ok(&acct, &["doctor", "-q"]);
    admin.ok(&acct, &["teardown", "--yes", "-q"]);
    let (code, _, err) = admin.run(&acct, &["doctor", "-q"]);
    assert_ne!(code, 0, "doctor passed after teardown: {err}");
}
