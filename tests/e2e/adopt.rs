//! A deployment made by the AWS blog sample's own steps (tests/fixtures/blog/deploy.py,
//! boto3 as the blog does, not notebook-vend) is used, recognised and never broken.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{rt, sandbox, Account};

/// A python with boto3: `$SANDBOX_VENV`'s, else this checkout's `.sandbox/venv`, else the one
/// running the sandbox (its command line's first word; scripts/sandbox.sh starts it from its venv).
fn python() -> PathBuf {
    if let Some(venv) = std::env::var_os("SANDBOX_VENV") {
        return PathBuf::from(venv).join("bin/python");
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sandbox/venv/bin/python");
    if local.exists() {
        return local;
    }
    let pid = std::fs::read_to_string(sandbox().dir.join("server.pid")).unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
    let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    match std::str::from_utf8(first) {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("python3"),
    }
}

/// Run the blog fixture (deploy.py) for this account; its JSON answer.
fn fixture(acct: &Account, args: &[&str]) -> Value {
    let (ok, value) = fixture_run(acct, args);
    assert!(ok, "blog fixture {args:?} failed: {value}");
    value
}

/// Run the blog fixture; (whether it exited 0, its JSON answer). A launch whose record FAILED exits 1.
fn fixture_run(acct: &Account, args: &[&str]) -> (bool, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blog/deploy.py");
    let out = Command::new(python())
        .arg(script)
        .args(["--endpoint", &sandbox().endpoint, "--account", &acct.id])
        .args(args)
        .output()
        .expect("run the blog fixture with the sandbox venv's python");
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "blog fixture {args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), serde_json::from_slice(&out.stdout).expect("the fixture answers JSON"))
}

/// The blog sample deployed the blog's way, with fast sandbox timings.
pub(crate) fn blog_account() -> (Account, Value) {
    blog_account_with(&[])
}

/// The same, with extra arguments to the fixture's `deploy` (e.g. `--stack-tag K=V`).
fn blog_account_with(deploy_args: &[&str]) -> (Account, Value) {
    let acct = Account::new();
    acct.configure(serde_json::json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let deployed = fixture(&acct, &[&["deploy"], deploy_args].concat());
    grant_tagging(&acct);
    (acct, deployed)
}

/// The sample's launch role has no `sagemaker:AddTags`, which the notebook's create handler needs
/// when the stack has tags (Service Catalog tags every product stack; CloudFormation resource schema
/// of AWS::SageMaker::NotebookInstance, `handlers.create.permissions`; SageMaker "Provide permissions
/// for tagging SageMaker AI resources"): the strict sandbox fails its launches as AWS would. A team
/// running the sample today has added it; so does the test, as an inline policy of its own.
fn grant_tagging(acct: &Account) {
    let script = r#"
import sys, json, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id=sys.argv[2], aws_secret_access_key="sandbox")
iam.put_role_policy(RoleName="ServiceCatalogExecutionRole", PolicyName="AllowTagOnCreate",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sagemaker:AddTags"], "Resource": "*"}]}))
"#;
    let out = Command::new(python()).args(["-c", script, &sandbox().endpoint, &acct.id]).output().unwrap();
    assert!(out.status.success(), "granting sagemaker:AddTags: {}", String::from_utf8_lossy(&out.stderr));
}

/// The product name the sample deploys; every command is pointed at it.
const PRODUCT: &str = "SageMaker Notebook";

fn with_product<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--product-name", PRODUCT]);
    all
}

#[test]
fn readme_and_console_launches_are_attributed_by_the_notebook_user_name_parameter() {
    let (acct, _) = blog_account();
    // The sample README's command: joe's notebook, provisioned product demoProduct2, tagged Owner=awsjoe.
    fixture(&acct, &["launch", "readme", "--user", "joe", "--name", "demoProduct2", "--owner", "awsjoe"]);
    // A console launch: no tag at all, any name.
    fixture(&acct, &["launch", "console", "--user", "maria", "--name", "whatever"]);

    let listed = acct.json(&with_product(&["list"]));
    let rows = listed.as_array().unwrap();
    let by_pp = |pp: &str| rows.iter().find(|r| r["provisioned_product"] == pp).cloned();
    let joe = by_pp("demoProduct2").unwrap_or_else(|| panic!("no row for demoProduct2: {listed}"));
    assert_eq!(joe["user"], "joe", "{listed}");
    assert_eq!(joe["notebook"], "joe-Notebook", "{listed}");
    let maria = by_pp("whatever").unwrap_or_else(|| panic!("no row for whatever: {listed}"));
    assert_eq!(maria["user"], "maria", "{listed}");
    assert!(!rows.iter().any(|r| r["user"] == "awsjoe"), "a phantom awsjoe row: {listed}");

    // status finds joe's notebook under its README name.
    let status = acct.json(&with_product(&["status", "--user", "joe"]));
    assert_eq!(status["provisioned_product"]["name"], "demoProduct2", "{status}");

    // watch stores both users' URLs and exits 0.
    let (code, out, err) = acct.run(&with_product(&["watch", "--once"]));
    assert_eq!(code, 0, "watch --once failed\nstdout: {out}\nstderr: {err}");
    let rt = crate::support::rt();
    assert!(rt.block_on(acct.parameter("joe")).is_some(), "no URL stored for joe: {err}");
    assert!(rt.block_on(acct.parameter("maria")).is_some(), "no URL stored for maria: {err}");
    assert!(rt.block_on(acct.parameter("awsjoe")).is_none(), "a URL stored for the Owner tag awsjoe");

    // The README's launch with its extra parameters, which the sample's template does not declare:
    // the record FAILS before any stack, so nothing names its user (its Owner tag is the launching
    // IAM user, awsjoe, not the notebook's user): listed without a user, never as awsjoe.
    let (ok, failed) =
        fixture_run(&acct, &["launch", "readme", "--user", "joe", "--name", "demoProduct3", "--readme-extra"]);
    assert!(!ok && failed["record_status"] == "FAILED", "{failed}");
    let listed = acct.json(&with_product(&["list"]));
    let rows = listed.as_array().unwrap();
    let row = rows.iter().find(|r| r["provisioned_product"] == "demoProduct3").unwrap_or_else(|| panic!("{listed}"));
    assert!(row["user"].is_null(), "{listed}");
    assert!(!rows.iter().any(|r| r["user"] == "awsjoe"), "a phantom awsjoe row: {listed}");
}

#[test]
fn doctor_warns_and_plain_bootstrap_refuses_a_foreign_deployment_without_writing() {
    let (acct, deployed) = blog_account();
    fixture(&acct, &["launch", "readme"]);

    let (code, out, err) = acct.run(&["doctor", "--output", "json"]);
    assert_eq!(code, 0, "doctor on the blog deployment\nstdout: {out}\nstderr: {err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let templates: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("template "))
        .collect();
    assert_eq!(templates.len(), 2, "{report}");
    for c in templates {
        assert_eq!(c["status"], "warn", "{report}");
        assert!(c["fix"].as_str().unwrap_or_default().contains("--adopt"), "{report}");
    }

    let etag = || -> String {
        let bucket = deployed["bucket"].as_str().unwrap().to_owned();
        let rt = crate::support::rt();
        rt.block_on(async {
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&acct.sdk().await).force_path_style(true).build(),
            );
            s3.head_object().bucket(bucket).key("sm-notebook.yml").send().await.unwrap().e_tag().unwrap().to_owned()
        })
    };
    let before = etag();
    for args in [&["bootstrap"][..], &["bootstrap"], &["bootstrap", "--dry-run"]] {
        let mark = acct.requests().len();
        let (code, out, err) = acct.run(args);
        assert_eq!(code, 1, "{args:?} on the blog deployment\nstdout: {out}\nstderr: {err}");
        assert!(err.contains("not deployed by notebook-vend") && err.contains("--adopt"), "{err}");
        assert_eq!(acct.writes_since(mark), Vec::<String>::new(), "{args:?} wrote to a foreign deployment");
    }
    assert_eq!(etag(), before, "the sample's sm-notebook.yml was overwritten");
    // Still working: joe's notebook found by its stack's NotebookUserName.
    let status = acct.json(&["status", "--user", "joe"]);
    assert_eq!(status["provisioned_product"]["name"], "demoProduct2", "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn provisions_put_the_user_at_index_1_and_serve_answers_the_samples_path() {
    let (acct, _) = tokio::task::block_in_place(blog_account);
    // Not given an instance type: it is still sent (its default), first, so the user is at [1].
    tokio::task::block_in_place(|| acct.ok(&["provision", "--user", "ann", "-q"]));
    let ct = aws_sdk_cloudtrail::Client::new(&acct.sdk().await);
    let out = ct.lookup_events().send().await.unwrap();
    let call = out
        .events()
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e.cloud_trail_event()?).ok())
        .find(|d| {
            d["eventName"] == "ProvisionProduct" && d["requestParameters"]["provisionedProductName"] == "ann-Notebook"
        })
        .expect("CloudTrail has ann's ProvisionProduct call");
    let params = &call["requestParameters"]["provisioningParameters"];
    // lambda/eventbridge_app/app.py of the sample: provisioningParameters[1]['value'].
    assert_eq!(params[0]["key"], "NotebookInstanceType", "{params}");
    assert_eq!(params[1]["key"], "NotebookUserName", "{params}");
    assert_eq!(params[1]["value"], "ann", "{params}");

    let dir = tempfile::tempdir().unwrap();
    let token = format!("t0ken-{}-0123456789abcdef", acct.id);
    let file = dir.path().join("token");
    std::fs::write(&file, &token).unwrap();
    let mut proc = crate::support::Running::start(
        &acct,
        &["serve", "--listen", "127.0.0.1:0", "--token-file", file.to_str().unwrap()],
    );
    let line = proc.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    let http = reqwest::Client::new();
    for path in ["/Prod/refreshurl/", "/Prod/refreshurl"] {
        let body = serde_json::json!({"notebook_user_name": "ann"}).to_string();
        let resp = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let answer: Value = resp.json().await.unwrap();
        assert!(
            crate::support::is_url_with_token_of(answer["PreSignedURL"].as_str().unwrap_or_default(), "ann"),
            "{answer}"
        );
        let denied = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401, "{path} without the token");
    }
    proc.terminate();
}

/// IAM role id and ARN of a role (a replaced role gets a new id even under the same name).
async fn role_id(acct: &Account, name: &str) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let role = iam.get_role().role_name(name).send().await.unwrap().role.unwrap();
    (role.role_id, role.arn)
}

/// The product version the catalog stack deploys (its ProductTemplateVersion parameter).
fn deployed_version(acct: &Account) -> String {
    crate::support::rt().block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&acct.sdk().await);
        let out = cfn.describe_stacks().stack_name("service-catalog-config").send().await.unwrap();
        let params = out.stacks()[0].parameters();
        let version = params.iter().find(|p| p.parameter_key() == Some("ProductTemplateVersion"));
        version.and_then(|p| p.parameter_value()).unwrap().to_owned()
    })
}

async fn stack_tags(acct: &Account, stack: &str) -> Vec<(String, String)> {
    let cfn = aws_sdk_cloudformation::Client::new(&acct.sdk().await);
    let out = cfn.describe_stacks().stack_name(stack).send().await.unwrap();
    out.stacks()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
        .collect()
}

async fn exports(acct: &Account) -> Vec<(String, String)> {
    let cfn = aws_sdk_cloudformation::Client::new(&acct.sdk().await);
    let mut out: Vec<(String, String)> = cfn
        .list_exports()
        .send()
        .await
        .unwrap()
        .exports()
        .iter()
        .map(|e| (e.name().unwrap_or_default().to_owned(), e.value().unwrap_or_default().to_owned()))
        .filter(|(n, _)| !n.starts_with("SC-"))
        .collect();
    out.sort();
    out
}

async fn artifact_ids(acct: &Account, product_id: &str) -> Vec<String> {
    let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
    let out = sc.list_provisioning_artifacts().product_id(product_id).send().await.unwrap();
    let mut found: Vec<(i64, String)> = out
        .provisioning_artifact_details()
        .iter()
        .map(|a| (a.created_time().map(|t| t.secs()).unwrap_or_default(), a.id().unwrap_or_default().to_owned()))
        .collect();
    found.sort();
    found.into_iter().map(|(_, id)| id).collect()
}

async fn pp_artifact(acct: &Account, name: &str) -> Option<String> {
    let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
    let out = sc.describe_provisioned_product().name(name).send().await.ok()?;
    out.provisioned_product_detail()?.provisioning_artifact_id().map(str::to_owned)
}

async fn etag(acct: &Account, bucket: &str, key: &str) -> Option<String> {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&acct.sdk().await).force_path_style(true).build(),
    );
    s3.head_object().bucket(bucket).key(key).send().await.ok()?.e_tag().map(str::to_owned)
}

#[test]
fn bootstrap_adopt_takes_the_blog_deployment_over_in_place_and_keeps_its_notebooks() {
    // A team's cost tag on both stacks: UpdateStack with Tags replaces the whole set (botocore
    // cloudformation UpdateStackInput.Tags), so the adoption must send it back beside its own.
    let (acct, deployed) = blog_account_with(&["--stack-tag", "CostCenter=ml-platform"]);
    fixture(&acct, &["launch", "readme", "--user", "joe", "--name", "demoProduct2", "--owner", "awsjoe"]);
    let rt = crate::support::rt();
    let bucket = deployed["bucket"].as_str().unwrap().to_owned();
    let product_id = deployed["product_id"].as_str().unwrap().to_owned();
    let legacy = deployed["artifact_id"].as_str().unwrap().to_owned();
    let roles_before = rt.block_on(async {
        (role_id(&acct, "SageMakerNotebookInstanceRole").await, role_id(&acct, "ServiceCatalogExecutionRole").await)
    });
    let exports_before = rt.block_on(exports(&acct));
    let sample_etag = rt.block_on(etag(&acct, &bucket, "sm-notebook.yml"));

    // The plan: read-only.
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["bootstrap", "--adopt", "--dry-run", "--output", "json"]);
    assert_eq!(code, 0, "adopt --dry-run\nstdout: {out}\nstderr: {err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(acct.writes_since(mark), Vec::<String>::new(), "the dry run wrote");
    assert_eq!(plan["deleted_policies"].as_array().unwrap().len(), 8, "{plan}");
    assert_eq!(plan["notebooks"], serde_json::json!(["demoProduct2"]), "{plan}");
    assert_eq!(plan["notebooks_on_legacy_artifact"], 1, "{plan}");
    assert_eq!(plan["product_id"], product_id.as_str(), "{plan}");
    let role_export = plan["exports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "s3-iam-config-SageMakerNotebookInstanceRole-ARN")
        .cloned()
        .unwrap_or_else(|| panic!("the role export is not in the plan: {plan}"));
    assert_eq!(role_export["outcome"], "kept", "{plan}");
    assert!(role_export["imported_by"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().starts_with("SC-")));

    // Without --yes and without a terminal: exit 2 before any request; --yes needs --adopt.
    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["bootstrap", "--adopt"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    let (code, _, err) = acct.run(&["bootstrap", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(acct.requests_since(mark), Vec::new(), "requests sent by refused invocations");

    // The takeover.
    let (code, out, err) = acct.run(&["bootstrap", "--adopt", "--yes"]);
    assert_eq!(code, 0, "adopt --yes\nstdout: {out}\nstderr: {err}");
    assert!(err.contains("SMNotebookEC2Policy") && err.contains("1 provisioned (1 on the original artifact)"), "{err}");
    let roles_after = rt.block_on(async {
        (role_id(&acct, "SageMakerNotebookInstanceRole").await, role_id(&acct, "ServiceCatalogExecutionRole").await)
    });
    assert_eq!(roles_after, roles_before, "a role was replaced");
    assert_eq!(rt.block_on(exports(&acct)), exports_before, "an export changed");
    assert_eq!(
        rt.block_on(etag(&acct, &bucket, "sm-notebook.yml")),
        sample_etag,
        "the sample's template was overwritten"
    );
    let version = format!("notebook-vend/sm-notebook/{}.yml", deployed_version(&acct));
    assert!(rt.block_on(etag(&acct, &bucket, &version)).is_some(), "no {version}");
    let arts = rt.block_on(artifact_ids(&acct, &product_id));
    assert_eq!(arts.len(), 2, "{arts:?}");
    assert_eq!(arts[0], legacy, "the original artifact is gone: {arts:?}");

    // The old notebook is still a provisioned product of the same product, managed as before.
    let status = acct.json(&with_product(&["status", "--user", "joe"]));
    assert_eq!(status["provisioned_product"]["name"], "demoProduct2", "{status}");
    acct.ok(&["refresh", "--user", "joe", "-q"]);
    // Moving it to notebook-vend's version would replace it: refused, nothing sent.
    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["update", "--user", "joe", "--yes"]);
    assert_eq!(code, 2, "update of a notebook on the sample's version\nstderr: {err}");
    assert!(err.contains("logical ID SageMakerNotebookInstance -> Notebook"), "{err}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());

    // A new user is provisioned on notebook-vend's version.
    acct.ok(&["provision", "--user", "ann", "-q"]);
    assert_eq!(rt.block_on(pp_artifact(&acct, "ann-Notebook")).as_deref(), Some(arts[1].as_str()));

    // The team's tag is still on both stacks, beside the adoption's own.
    for stack in ["s3-iam-config", "service-catalog-config"] {
        let tags = rt.block_on(stack_tags(&acct, stack));
        assert!(tags.contains(&("CostCenter".to_owned(), "ml-platform".to_owned())), "{stack}: {tags:?}");
        assert!(tags.contains(&("notebook-vend:flavour".to_owned(), "adopted-blog".to_owned())), "{stack}: {tags:?}");
    }

    // doctor: ours, no drift.
    let (code, out, err) = acct.run(&["doctor", "--output", "json"]);
    assert_eq!(code, 0, "doctor after adoption\nstdout: {out}\nstderr: {err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c} in {report}");
    }

    // A plain bootstrap afterwards is a no-op, not a refusal.
    let mark = acct.requests().len();
    let summary = acct.json(&["bootstrap"]);
    assert_eq!(summary["up_to_date"], true, "{summary}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new(), "plain bootstrap after adoption wrote");

    // ... and the old notebook can still be terminated.
    acct.ok(&["terminate", "--user", "joe", "--yes", "-q"]);
    assert!(rt.block_on(pp_artifact(&acct, "demoProduct2")).is_none(), "demoProduct2 still there");
}

#[test]
fn bootstrap_adopt_stops_before_writing_when_a_stack_is_not_stable_or_the_principal_differs() {
    let (acct, _) = blog_account();
    crate::support::control(
        "set-state",
        &serde_json::json!({"account_id": acct.id, "kind": "stack", "name": "service-catalog-config",
                            "status": "UPDATE_ROLLBACK_FAILED"}),
    );
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["bootstrap", "--adopt", "--yes"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("stopped before writing anything") && err.contains("UPDATE_ROLLBACK_FAILED"), "{err}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());

    crate::support::control(
        "set-state",
        &serde_json::json!({"account_id": acct.id, "kind": "stack", "name": "service-catalog-config",
                            "status": "CREATE_COMPLETE"}),
    );
    let other = format!("arn:aws:iam::{}:user/someone-else", acct.id);
    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["bootstrap", "--adopt", "--yes", "--principal", &other]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--principal") && err.contains("stopped before writing anything"), "{err}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());
}

#[test]
fn an_adoption_interrupted_after_the_first_stack_is_refused_by_plain_bootstrap_and_resumed_by_adopt() {
    let (acct, _) = blog_account();
    let rt = crate::support::rt();
    // What a run stopped between its two stack updates leaves: s3-iam-config adopted, the
    // catalog stack still the sample's.
    rt.block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&acct.sdk().await);
        let tag = |k: &str, v: &str| aws_sdk_cloudformation::types::Tag::builder().key(k).value(v).build();
        cfn.update_stack()
            .stack_name("s3-iam-config")
            .template_body(include_str!("../../templates/adopt-blog/s3-iam-config.yml"))
            .parameters(
                aws_sdk_cloudformation::types::Parameter::builder()
                    .parameter_key("SageMakerNotebookInstanceRoleName")
                    .parameter_value("SageMakerNotebookInstanceRole")
                    .build(),
            )
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
            .tags(tag("ManagedBy", "notebook-vend"))
            .tags(tag("notebook-vend:flavour", "adopted-blog"))
            .send()
            .await
            .unwrap();
    });
    let mark = acct.requests().len();
    let (code, _, err) = acct.run(&["bootstrap"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("service-catalog-config was not deployed by notebook-vend"), "{err}");
    assert_eq!(acct.writes_since(mark), Vec::<String>::new());

    let plan = acct.json(&["bootstrap", "--adopt", "--dry-run"]);
    let actions: Vec<&str> = plan["stacks"].as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["unchanged", "adopt"], "{plan}");
    let mark = acct.requests().len();
    acct.ok(&["bootstrap", "--adopt", "--yes", "-q"]);
    let updates: Vec<String> = acct.writes_since(mark).into_iter().filter(|op| op == "UpdateStack").collect();
    assert_eq!(updates.len(), 1, "only the catalog stack is updated: {updates:?}");
    let (code, out, err) = acct.run(&["doctor"]);
    assert_eq!(code, 0, "doctor after the resumed adoption\nstdout: {out}\nstderr: {err}");
    assert!(!out.contains("warn") && !out.contains("FAIL"), "{out}");
}

/// Adoption deletes the sample's managed policies, and IAM detaches a deleted policy from
/// everything first: one a team also attached to a user would take that user's permissions away
/// without a word. The plan names it and stops, before any write.
#[test]
fn bootstrap_adopt_stops_when_a_sample_policy_is_also_attached_elsewhere() {
    let (acct, _) = blog_account();
    rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
        iam.create_user().user_name("analyst").send().await.unwrap();
        let arn = format!("arn:aws:iam::{}:policy/SMNotebookPolicy", acct.id);
        iam.attach_user_policy().user_name("analyst").policy_arn(arn).send().await.unwrap();
    });
    for args in [&["bootstrap", "--adopt", "--dry-run"][..], &["bootstrap", "--adopt", "--yes"]] {
        let mark = acct.requests().len();
        let (code, out, err) = acct.run(args);
        assert_eq!(code, 1, "{args:?}\nstdout: {out}\nstderr: {err}");
        assert!(err.contains("SMNotebookPolicy -> user/analyst"), "{err}");
        assert!(err.contains("stopped before writing anything"), "{err}");
        assert_eq!(acct.writes_since(mark), Vec::<String>::new());
    }
}
