//! `update`: a new product version or changed parameters reach every notebook without losing
//! one. Whatever the new version's template looks like, a change that would replace or delete
//! the notebook is refused before anything is sent, and only what the user passes to `update`
//! changes a notebook.

use std::time::{Duration, Instant};

use crate::support::{rt, templates_dir, Account, Running};

pub(crate) struct Notebook {
    pub(crate) created: i64,
    pub(crate) instance_type: String,
    pub(crate) status: String,
}

/// The notebook as SageMaker describes it (read with the account's root key).
pub(crate) fn notebook(acct: &Account, user: &str) -> Notebook {
    rt().block_on(async {
        let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
        let nb =
            sm.describe_notebook_instance().notebook_instance_name(format!("{user}-Notebook")).send().await.unwrap();
        Notebook {
            created: nb.creation_time().unwrap().secs(),
            instance_type: nb.instance_type().unwrap().as_str().to_owned(),
            status: nb.notebook_instance_status().unwrap().as_str().to_owned(),
        }
    })
}

pub(crate) fn url_version(acct: &Account, user: &str) -> i64 {
    rt().block_on(acct.parameter(user)).map(|p| p.version()).unwrap_or(0)
}

pub(crate) fn pp(acct: &Account, user: &str) -> (String, String) {
    rt().block_on(async {
        let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
        let d = sc.describe_provisioned_product().name(format!("{user}-Notebook")).send().await.unwrap();
        let d = d.provisioned_product_detail().unwrap();
        (d.status().unwrap().as_str().to_owned(), d.provisioning_artifact_id().unwrap().to_owned())
    })
}

/// The repository's templates with a new product version (a comment added to its template).
pub(crate) fn templates_with_a_change() -> tempfile::TempDir {
    templates_dir(|name, body| if name == "sm-notebook.yml" { body + "\n# a security fix\n" } else { body })
}

#[test]
fn update_all_moves_every_notebook_to_the_new_version_in_place() {
    let acct = Account::ready();
    let users = ["ann", "ben", "cat"];
    for u in users {
        acct.ok(&["provision", "--user", u, "-q"]);
    }
    let before: Vec<(i64, i64, String)> =
        users.iter().map(|u| (notebook(&acct, u).created, url_version(&acct, u), pp(&acct, u).1)).collect();
    let dir = templates_with_a_change();
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let listing = acct.json(&["list"]);
    let outdated = listing.as_array().unwrap().iter().filter(|r| r["outdated"] == true).count();
    assert_eq!(outdated, 3, "{listing}");

    // the plan says where each goes, writes nothing
    let mark = acct.requests().len();
    let plan = acct.json(&["update", "--user", "ann", "--dry-run"]);
    assert_eq!(plan["effect"], "in_place", "{plan}");
    assert_ne!(plan["artifact_from"], plan["artifact_to"]);
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));

    let out = acct.json(&["update", "--all", "--outdated", "--concurrency", "2"]);
    assert_eq!(out["failed"], 0, "{out}");
    assert_eq!(out["updated"], 3, "{out}");
    let mut targets = std::collections::BTreeSet::new();
    for (u, (created, version, artifact)) in users.iter().zip(before) {
        let nb = notebook(&acct, u);
        assert_eq!(nb.created, created, "{u}: the notebook was kept");
        assert_eq!(nb.status, "InService");
        assert!(url_version(&acct, u) > version, "{u}: a fresh URL is stored");
        let (status, now_on) = pp(&acct, u);
        assert_eq!(status, "AVAILABLE");
        assert_ne!(now_on, artifact, "{u}: on the new artifact");
        targets.insert(now_on);
    }
    assert_eq!(targets.len(), 1);
    let listing = acct.json(&["list"]);
    assert!(listing.as_array().unwrap().iter().all(|r| r["outdated"] == false), "{listing}");
    // nothing is outdated any more: a second run updates nobody
    let again = acct.json(&["update", "--all", "--outdated"]);
    assert_eq!(again["results"].as_array().unwrap().len(), 0, "{again}");
}

#[test]
fn instance_type_change_keeps_the_notebook() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "dan", "-q"]);
    let before = notebook(&acct, "dan");
    let version = url_version(&acct, "dan");
    let out = acct.json(&["update", "--user", "dan", "--instance-type", "ml.t3.large", "--yes"]);
    assert_eq!(out["effect"], "in_place", "{out}");
    assert_eq!(out["changes"][0]["key"], "NotebookInstanceType");
    assert_eq!(out["changes"][0]["from"], "ml.t3.medium");
    let after = notebook(&acct, "dan");
    assert_eq!(after.instance_type, "ml.t3.large");
    assert_eq!(after.created, before.created);
    assert_eq!(after.status, "InService");
    assert!(url_version(&acct, "dan") > version);
}

#[test]
fn a_replacing_change_is_refused_with_nothing_sent() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "eve", "-q"]);
    let mark = acct.requests().len();
    let (code, _out, err) = acct.run(&["update", "--user", "eve", "--param", "SubnetId=subnet-0123456789abcdef0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("replaces the notebook eve-Notebook"), "{err}");
    assert!(err.contains("--replace-notebook-losing-its-data"), "{err}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    // a value the product does not allow: exit 2 before anything
    let (code, _, err) = acct.run(&["update", "--user", "eve", "--param", "VolumeSizeInGB=2"]);
    assert_eq!(code, 2, "{err}");
    assert!(acct.writes_since(mark).is_empty());
    assert_eq!(pp(&acct, "eve").0, "AVAILABLE");
}

#[test]
fn a_tainted_product_is_recovered_by_update() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "fay", "-q"]);
    let created = notebook(&acct, "fay").created;
    // an update made elsewhere (console, CLI) that CloudFormation refuses: the product is TAINTED
    rt().block_on(async {
        let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
        use aws_sdk_servicecatalog::types::UpdateProvisioningParameter as P;
        let r = sc
            .update_provisioned_product()
            .provisioned_product_name("fay-Notebook")
            .update_token("console-1")
            .provisioning_parameters(P::builder().key("SubnetId").value("subnet-0123456789abcdef0").build())
            .provisioning_parameters(P::builder().key("NotebookUserName").use_previous_value(true).build())
            .send()
            .await
            .unwrap();
        let id = r.record_detail().unwrap().record_id().unwrap().to_owned();
        let start = Instant::now();
        loop {
            let d = sc.describe_record().id(&id).send().await.unwrap();
            let s = d.record_detail().unwrap().status().unwrap().as_str().to_owned();
            if s == "FAILED" {
                let e = d.record_detail().unwrap().record_errors()[0].description().unwrap().to_owned();
                assert!(e.contains("custom-named resource requires replacing"), "{e}");
                break;
            }
            assert!(s != "SUCCEEDED" && start.elapsed() < Duration::from_secs(30), "{s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_eq!(pp(&acct, "fay").0, "TAINTED");
    // status reports the failure and points at update; the values in effect are the old ones
    let status = acct.json(&["status", "--user", "fay"]);
    let product = &status["provisioned_product"];
    assert_eq!(product["status"], "TAINTED", "{status}");
    let errors = product["last_record"]["errors"].to_string();
    assert!(errors.contains("custom-named resource requires replacing"), "{status}");
    assert_eq!(status["next"]["command"], "notebook-vend update --user fay", "{status}");
    assert_eq!(product["parameters"]["NotebookUserName"], "fay", "{status}");
    assert_eq!(product["parameters"]["NotebookInstanceType"], "ml.t3.medium", "{status}");
    assert!(product["parameters"].get("SubnetId").is_none_or(|v| v != "subnet-0123456789abcdef0"), "{status}");
    let text = acct.ok(&["status", "--user", "fay"]);
    assert!(text.contains("NotebookInstanceType=ml.t3.medium"), "{text}");
    let out = acct.json(&["update", "--user", "fay"]);
    assert_eq!(out["result"], "updated", "{out}");
    assert_eq!(pp(&acct, "fay").0, "AVAILABLE");
    assert_eq!(notebook(&acct, "fay").created, created);
}

#[test]
fn two_concurrent_updates_do_not_run_two_updates() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "gil", "-q"]);
    acct.configure(serde_json::json!({"record_seconds": 4}));
    let mark = acct.requests().len();
    let mut first =
        Running::start(&acct, &["update", "--user", "gil", "--instance-type", "ml.t3.large", "--no-progress"]);
    let start = Instant::now();
    while !acct.requests_since(mark).iter().any(|r| r.operation == "UpdateProvisionedProduct") {
        assert!(start.elapsed() < Duration::from_secs(60), "the first update sent nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _, err) = acct.run(&["update", "--user", "gil", "--instance-type", "ml.t3.xlarge"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another update or provision is running"), "{err}");
    let (code, err1) = first.wait();
    assert_eq!(code, Some(0), "{err1}");
    let sent = acct.requests_since(mark).iter().filter(|r| r.operation == "UpdateProvisionedProduct").count();
    assert_eq!(sent, 1);
    assert_eq!(notebook(&acct, "gil").instance_type, "ml.t3.large");
}

/// The product templates of a bootstrap bucket, by key (path-style S3 on the sandbox).
fn product_objects(acct: &Account) -> std::collections::BTreeMap<String, String> {
    rt().block_on(async {
        let conf = aws_sdk_s3::config::Builder::from(&acct.sdk().await).force_path_style(true).build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let bucket = s3.list_buckets().send().await.unwrap().buckets()[0].name().unwrap().to_owned();
        let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
        let mut found = std::collections::BTreeMap::new();
        for key in listed.contents().iter().filter_map(|o| o.key()) {
            let out = s3.get_object().bucket(&bucket).key(key).send().await.unwrap();
            let body = String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
            found.insert(key.to_owned(), body);
        }
        found
    })
}

fn artifact_ids(acct: &Account) -> Vec<String> {
    rt().block_on(async {
        let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
        let products = sc.search_products_as_admin().send().await.unwrap();
        let id = products.product_view_details()[0].product_view_summary().unwrap().product_id().unwrap().to_owned();
        let arts = sc.list_provisioning_artifacts().product_id(id).send().await.unwrap();
        arts.provisioning_artifact_details().iter().map(|a| a.id().unwrap().to_owned()).collect()
    })
}

/// A templates directory with the product template of `base` plus `line`.
fn release(base: &std::path::Path, line: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let mut body = std::fs::read_to_string(base.join(name)).unwrap();
        if name == "sm-notebook.yml" {
            body.push_str(line);
        }
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

/// AWS::ServiceCatalog::CloudFormationProduct matches provisioning artifacts by name and template
/// URL (resource schema, ReplaceProvisioningArtifacts); the sandbox deletes an artifact no entry
/// lists any more. Each version is an object of its own (a content-addressed key, never
/// overwritten) and stays listed, so a notebook keeps the version it was launched from; the
/// version bootstrap deploys is the current one (earlier ones DEPRECATED), also when an earlier
/// template is put back.
#[test]
fn every_product_version_keeps_its_own_template_and_artifact() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ivy", "-q"]);
    let v1 = pp(&acct, "ivy").1;
    let second = release(std::path::Path::new("templates"), "# a second release\n");
    let third = release(second.path(), "# a third release\n");
    acct.json(&["bootstrap", "-q", "--templates", second.path().to_str().unwrap()]);
    let out = acct.json(&["bootstrap", "-q", "--templates", third.path().to_str().unwrap()]);

    let objects = product_objects(&acct);
    assert_eq!(objects.len(), 3, "one object per version: {:?}", objects.keys());
    for dir in [std::path::Path::new("templates"), second.path(), third.path()] {
        let body = std::fs::read_to_string(dir.join("sm-notebook.yml")).unwrap();
        assert!(objects.values().any(|o| *o == body), "a version's template is missing: {:?}", objects.keys());
    }
    assert!(objects.keys().all(|k| k.starts_with("sm-notebook/v-")), "{:?}", objects.keys());
    let key = out["template_key"].as_str().unwrap();
    assert_eq!(objects[key], std::fs::read_to_string(third.path().join("sm-notebook.yml")).unwrap(), "{out}");
    let arts = artifact_ids(&acct);
    assert_eq!(arts.len(), 3, "{arts:?}");
    assert!(arts.contains(&v1), "ivy's version {v1} was deleted: {arts:?}");

    // The third release again: nothing to do.
    let again = acct.json(&["bootstrap", "-q", "--templates", third.path().to_str().unwrap()]);
    assert_eq!(again["up_to_date"], true, "{again}");
    // ivy is planned onto the current version, in place, from the template of that version.
    let plan = acct.json(&["update", "--user", "ivy", "--dry-run"]);
    assert_eq!(plan["effect"], "in_place", "{plan}");

    // The first template put back: its version (and ivy's artifact) is current again, nothing is
    // deleted, and doctor sees no drift in a catalog stack listing earlier versions.
    let first = std::fs::read_to_string("templates/sm-notebook.yml").unwrap();
    let back = acct.json(&["bootstrap", "-q"]);
    assert_eq!(objects[back["template_key"].as_str().unwrap()], first, "{back}");
    assert_eq!(artifact_ids(&acct), arts);
    let status = acct.json(&["status", "--user", "ivy"]);
    assert!(!status["next"]["command"].as_str().unwrap_or_default().contains("update"), "{status}");
    let (code, out, err) = acct.run(&["doctor", "--output", "json"]);
    assert_eq!(code, 0, "doctor: {out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c} in {report}");
    }
}

/// UsePreviousValue needs a previous value (CloudFormation UpdateStack, Parameter.UsePreviousValue;
/// the sandbox fails the record for a key the deployed template does not declare): a parameter new in
/// the target version takes its default, also when the stack's own values cannot be read and the
/// deployed version's parameters say which are kept.
#[test]
fn a_parameter_new_in_the_target_version_is_not_sent_as_use_previous_value() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ada", "-q"]);
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let mut body = std::fs::read_to_string(format!("templates/{name}")).unwrap();
        if name == "sm-notebook.yml" {
            body =
                body.replacen("Parameters:\n", "Parameters:\n  CostCenter:\n    Type: String\n    Default: none\n", 1);
        }
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    // The stack's values unreadable for this run: every DescribeStacks attempt fails.
    acct.control("fault", serde_json::json!({"operation": "DescribeStacks", "kind": "internal", "count": 200}));
    let (code, out, err) = acct.run(&["update", "--user", "ada", "--output", "json"]);
    acct.control("fault", serde_json::json!({"operation": "DescribeStacks", "kind": "internal", "count": 0}));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(pp(&acct, "ada").0, "AVAILABLE");
}

/// A notebook SageMaker puts in maintenance during an update (PendingMaintenance: SageMaker
/// documents no stop or start from it and ends it on its own) still gets its URL: update waits
/// through the maintenance and stores a fresh URL once the notebook is InService again.
#[test]
fn a_notebook_in_maintenance_after_an_update_still_gets_its_url() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "max", "-q"]);
    let before = url_version(&acct, "max");
    acct.configure(serde_json::json!({"record_seconds": 2}));
    let mark = acct.requests().len();
    let mut run =
        Running::start(&acct, &["update", "--user", "max", "--instance-type", "ml.t3.large", "--no-progress"]);
    let start = Instant::now();
    while !acct.requests_since(mark).iter().any(|r| r.operation == "UpdateProvisionedProduct") {
        assert!(start.elapsed() < Duration::from_secs(60), "the update sent nothing: {}", run.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    acct.control(
        "set-state",
        serde_json::json!({"kind": "notebook", "name": "max-Notebook", "status": "PendingMaintenance",
                           "then": "InService", "after_seconds": 3}),
    );
    let (code, err) = run.wait();
    assert_eq!(code, Some(0), "{err}");
    assert!(url_version(&acct, "max") > before, "no fresh URL after the maintenance: {err}");
    let nb = notebook(&acct, "max");
    assert_eq!((nb.status.as_str(), nb.instance_type.as_str()), ("InService", "ml.t3.large"));
}

/// The repository's templates in a directory, the product template replaced by `product`.
fn templates_with_product(product: &str) -> tempfile::TempDir {
    templates_dir(|name, body| if name == "sm-notebook.yml" { product.to_owned() } else { body })
}

/// A product version written in flow-style YAML (valid for CloudFormation, cfn-lint clean), with
/// the notebook under `logical_id` and `PlatformIdentifier` set to `platform` (a YAML value).
fn flow_product(logical_id: &str, platform: &str) -> String {
    r#"AWSTemplateFormatVersion: '2010-09-09'
Parameters: {NotebookInstanceType: {Type: String, Default: ml.t3.medium, AllowedValues: [ml.t2.medium, ml.t3.medium, ml.t3.large]},
  S3IAMConfigStackName: {Type: String, Default: s3-iam-config},
  NotebookUserName: {Type: String, Default: Demo-User},
  KmsKeyId: {Type: String, Default: ''},
  SubnetId: {Type: String, Default: ''},
  SecurityGroupIds: {Type: CommaDelimitedList, Default: ''},
  DirectInternetAccess: {Type: String, Default: Disabled, AllowedValues: [Disabled, Enabled]},
  PlatformIdentifier: {Type: String, Default: notebook-al2023-v1, AllowedValues: [notebook-al2023-v1, notebook-al2-v3]}}
Conditions: {InVpc: !Not [!Equals [!Ref SubnetId, '']],
  HasSecurityGroups: !And [!Not [!Equals [!Ref SubnetId, '']], !Not [!Equals [!Join ['', !Ref SecurityGroupIds], '']]],
  HasKmsKey: !Not [!Equals [!Ref KmsKeyId, '']]}
Resources: {LOGICAL: {Type: 'AWS::SageMaker::NotebookInstance', Properties: {
  NotebookInstanceName: !Sub '${NotebookUserName}-Notebook', InstanceType: !Ref NotebookInstanceType,
  RoleArn: {'Fn::ImportValue': !Sub '${S3IAMConfigStackName}-SageMakerNotebookInstanceRole-ARN'},
  PlatformIdentifier: PLATFORM,
  KmsKeyId: !If [HasKmsKey, !Ref KmsKeyId, !Ref 'AWS::NoValue'],
  SubnetId: !If [InVpc, !Ref SubnetId, !Ref 'AWS::NoValue'],
  SecurityGroupIds: !If [HasSecurityGroups, !Ref SecurityGroupIds, !Ref 'AWS::NoValue'],
  DirectInternetAccess: !If [InVpc, !Ref DirectInternetAccess, Enabled]}}}
Outputs: {NotebookUserName: {Value: !Ref NotebookUserName}}
"#
    .replace("LOGICAL", logical_id)
    .replace("PLATFORM", platform)
}

/// The repository's product template without its notebook resource (cfn-lint only warns).
fn product_without_the_notebook() -> String {
    let body = std::fs::read_to_string("templates/sm-notebook.yml").unwrap();
    let cut = body.find("\n  Notebook:\n").expect("the product template has a Notebook resource");
    body[..cut].to_owned() + "\n\nOutputs:\n  NotebookUserName:\n    Value: !Ref NotebookUserName\n"
}

/// The notebook and its product as they were, and nothing written since `mark`.
fn untouched(acct: &Account, user: &str, created: i64, artifact: &str, mark: usize) {
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    let nb = notebook(acct, user);
    assert_eq!((nb.created, nb.status.as_str()), (created, "InService"), "{user}: the notebook was touched");
    assert_eq!(pp(acct, user), ("AVAILABLE".to_owned(), artifact.to_owned()));
}

/// Checked failing before the fix: the plan fell back to parameter names ("template is
/// unreadable") and sent the update; the notebook went Deleting -> Deleted.
#[test]
fn a_version_without_the_notebook_is_refused_for_one_user_and_for_all() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ann", "-q"]);
    acct.ok(&["provision", "--user", "ben", "-q"]);
    let (ann, ben) = (notebook(&acct, "ann").created, notebook(&acct, "ben").created);
    let artifact = pp(&acct, "ann").1;
    let dir = templates_with_product(&product_without_the_notebook());
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "ann", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("no AWS::SageMaker::NotebookInstance") && err.contains("would delete the notebook"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    untouched(&acct, "ann", ann, &artifact, mark);

    let (code, out, err) = acct.run(&["update", "--all", "--outdated", "--output", "json"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all["failed"], 2, "{all}");
    untouched(&acct, "ann", ann, &artifact, mark);
    untouched(&acct, "ben", ben, &artifact, mark);
}

/// Checked failing before the fix: the line scanner did not see a flow-style notebook, reported
/// "in place" and the rename replaced the notebook.
#[test]
fn a_flow_style_version_that_renames_the_notebook_is_refused() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "cal", "-q"]);
    let created = notebook(&acct, "cal").created;
    let artifact = pp(&acct, "cal").1;
    let dir = templates_with_product(&flow_product("Workbench", "!Ref PlatformIdentifier"));
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let mark = acct.requests().len();
    let plan = acct.json(&["update", "--user", "cal", "--dry-run"]);
    assert_eq!(plan["effect"], "replaces_the_notebook", "{plan}");
    let (code, out, err) = acct.run(&["update", "--user", "cal", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("replaces the notebook cal-Notebook"), "{err}");
    assert!(err.contains("logical ID Notebook -> Workbench"), "{err}");
    untouched(&acct, "cal", created, &artifact, mark);
}

/// Checked failing before the fix: sent, the product TAINTED, and `status` advising the same update.
#[test]
fn a_flow_style_version_that_hard_codes_a_create_only_property_is_refused() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "dee", "-q"]);
    let created = notebook(&acct, "dee").created;
    let artifact = pp(&acct, "dee").1;
    let dir = templates_with_product(&flow_product("Notebook", "notebook-al2-v3"));
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "dee", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("replaces the notebook dee-Notebook") && err.contains("PlatformIdentifier"), "{err}");
    untouched(&acct, "dee", created, &artifact, mark);
}

/// Checked failing before the fix: `NOTEBOOK_VEND_INSTANCE_TYPE=... update --all` resized and
/// restarted every notebook, and `instance_type` in notebook-vend.toml did the same for one.
#[test]
fn provisioning_defaults_never_become_update_changes() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "eli", "-q"]);
    let before = notebook(&acct, "eli");
    let mark = acct.requests().len();
    let out = acct
        .cmd()
        .env("NOTEBOOK_VEND_INSTANCE_TYPE", "ml.t3.large")
        .args(["update", "--all", "--output", "json"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let all: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(all["results"][0]["result"], "already up to date", "{all}");

    let file = acct.home.path().join("nv.toml");
    std::fs::write(&file, "[default]\ninstance_type = \"ml.t3.xlarge\"\n").unwrap();
    let plan = acct.json(&["--config", file.to_str().unwrap(), "update", "--user", "eli", "--dry-run"]);
    assert_eq!(plan["effect"], "no_change", "{plan}");
    let done = acct.json(&["--config", file.to_str().unwrap(), "update", "--user", "eli"]);
    assert_eq!(done["result"], "already up to date", "{done}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    let after = notebook(&acct, "eli");
    assert_eq!((after.instance_type, after.created), (before.instance_type, before.created));

    // the setting still is the provisioning default it is documented as
    let out = acct
        .cmd()
        .env("NOTEBOOK_VEND_INSTANCE_TYPE", "ml.t3.large")
        .args(["provision", "--user", "fox", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(notebook(&acct, "fox").instance_type, "ml.t3.large");
}

/// Checked failing before the fix: a kept instance type outside the new version's AllowedValues,
/// and a new parameter without a default, were planned "in place", sent, and left TAINTED.
#[test]
fn kept_values_are_checked_against_the_target_version() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "gus", "-q"]);
    let created = notebook(&acct, "gus").created;
    let artifact = pp(&acct, "gus").1;
    acct.json(&["bootstrap", "-q", "--allowed-instance-types", "ml.t3.large,ml.t3.xlarge"]);
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "gus", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("NotebookInstanceType=\"ml.t3.medium\"") && err.contains("--instance-type"), "{err}");
    untouched(&acct, "gus", created, &artifact, mark);
    let out = acct.json(&["update", "--user", "gus", "--instance-type", "ml.t3.large", "--yes"]);
    assert_eq!(out["result"], "updated", "{out}");
    assert_eq!(notebook(&acct, "gus").instance_type, "ml.t3.large");

    let body = std::fs::read_to_string("templates/sm-notebook.yml").unwrap().replacen(
        "\nParameters:\n",
        "\nParameters:\n  CostCenter:\n    Type: String\n",
        1,
    );
    let dir = templates_with_product(&body);
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    let artifact = pp(&acct, "gus").1;
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["update", "--user", "gus", "--instance-type", "ml.t3.large", "--yes"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("CostCenter") && err.contains("no default"), "{err}");
    untouched(&acct, "gus", created, &artifact, mark);
    let out = acct.json(&["update", "--user", "gus", "--param", "CostCenter=42", "--yes"]);
    assert_eq!(out["result"], "updated", "{out}");
    assert_eq!(pp(&acct, "gus").0, "AVAILABLE");

    // provision on that version: a parameter without a default is asked for before anything is
    // sent (CloudFormation would leave the provisioned product in ERROR: "must have values").
    let mark = acct.requests().len();
    let (code, out, err) = acct.run(&["provision", "--user", "hal", "-q"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("CostCenter") && err.contains("--param CostCenter=VALUE"), "{err}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    acct.ok(&["provision", "--user", "hal", "-q", "--param", "CostCenter=7"]);
    assert_eq!(pp(&acct, "hal").0, "AVAILABLE");
}

/// Checked failing before the fix: `--to-version` refused a DEPRECATED artifact ("not active"),
/// which AWS allows as an update target; a notebook on an old version could then only move.
#[test]
fn a_notebook_can_stay_on_its_deprecated_version() {
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "ida", "-q"]);
    let created = notebook(&acct, "ida").created;
    let old = acct.json(&["update", "--user", "ida", "--dry-run"])["artifact_from"].as_str().unwrap().to_owned();
    let old_name = old.split(" (").next().unwrap().to_owned();
    let old_id = pp(&acct, "ida").1;
    let dir = crate::update::templates_with_a_change();
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);

    let plan = acct.json(&["update", "--user", "ida", "--to-version", &old_name, "--dry-run"]);
    assert_eq!(plan["effect"], "no_change", "{plan}");
    assert!(plan["notes"].to_string().contains("DEPRECATED"), "{plan}");
    let out =
        acct.json(&["update", "--user", "ida", "--to-version", &old_name, "--param", "RootAccess=Enabled", "--yes"]);
    assert_eq!(out["result"], "updated", "{out}");
    assert_eq!(pp(&acct, "ida"), ("AVAILABLE".to_owned(), old_id));
    assert_eq!(notebook(&acct, "ida").created, created);
}

/// Checked failing before the fix: after SIGKILL mid-update, the rerun said "already up to date"
/// and left the URL of the notebook before its restart; `update --all --outdated` skipped it.
#[test]
fn an_update_cut_short_converges_on_the_next_run() {
    use crate::support::Running;
    use crate::update::url_version;
    use std::time::{Duration, Instant};
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "kim", "-q"]);
    acct.ok(&["provision", "--user", "lou", "-q"]);
    acct.configure(serde_json::json!({"record_seconds": 3}));
    let dir = crate::update::templates_with_a_change();
    acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    for user in ["kim", "lou"] {
        let before = url_version(&acct, user);
        let mark = acct.requests().len();
        let mut run = Running::start(&acct, &["update", "--user", user, "--yes", "--no-progress"]);
        let start = Instant::now();
        while !acct.requests_since(mark).iter().any(|r| r.operation == "UpdateProvisionedProduct") {
            assert!(start.elapsed() < Duration::from_secs(60), "the update sent nothing");
            std::thread::sleep(Duration::from_millis(50));
        }
        run.kill();
        let _ = run.wait();
        while pp(&acct, user).0 != "AVAILABLE" {
            assert!(start.elapsed() < Duration::from_secs(60), "the update never finished");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(url_version(&acct, user), before, "{user}: the killed run stored nothing");
    }
    let kim = url_version(&acct, "kim");
    let out = acct.json(&["update", "--user", "kim"]);
    assert!(out["session_expires"].is_string(), "{out}");
    assert!(url_version(&acct, "kim") > kim, "a fresh URL is stored");
    // converged: nothing more to do
    assert_eq!(acct.json(&["update", "--user", "kim"])["result"], "already up to date");

    let lou = url_version(&acct, "lou");
    let all = acct.json(&["update", "--all", "--outdated"]);
    let users: Vec<&str> = all["results"].as_array().unwrap().iter().map(|r| r["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["lou"], "{all}");
    assert!(url_version(&acct, "lou") > lou, "a fresh URL is stored");
}

/// Checked failing before the fix: with ProvisionProduct failing after the terminate, the error
/// did not say the notebook was deleted, the stale URL stayed, and the advised rerun (a plain
/// `provision`) dropped the instance type, the KMS key and the user's tags.
#[test]
fn a_replacement_that_fails_after_the_terminate_is_resumed_with_the_same_values_and_tags() {
    use serde_json::json;
    let acct = Account::ready();
    acct.ok(&["provision", "--user", "oli", "--instance-type", "ml.t3.large", "--tag", "team=risk", "-q"]);
    acct.control("fault", json!({"operation": "ProvisionProduct", "kind": "internal", "count": 7}));
    let args = [
        "update",
        "--user",
        "oli",
        "--param",
        "KmsKeyId=alias/notebooks",
        "--replace-notebook-losing-its-data",
        "--yes",
    ];
    let (code, out, err) = acct.run(&args);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("oli-Notebook was deleted"), "{err}");
    assert!(err.contains("notebook-vend update --user oli"), "{err}");
    assert!(crate::support::rt().block_on(acct.parameter("oli")).is_none(), "the stale URL parameter remains");

    let out = acct.json(&["update", "--user", "oli"]);
    assert!(out["result"].as_str().unwrap().contains("provisioned again"), "{out}");
    let nb = notebook(&acct, "oli");
    assert_eq!((nb.instance_type.as_str(), nb.status.as_str()), ("ml.t3.large", "InService"));
    let status = acct.json(&["status", "--user", "oli"]);
    assert_eq!(status["provisioned_product"]["parameters"]["KmsKeyId"], "alias/notebooks", "{status}");
    let tags = crate::support::rt().block_on(async {
        let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
        let found = sc.scan_provisioned_products().send().await.unwrap();
        let id = found.provisioned_products()[0].id().unwrap().to_owned();
        let s = sc
            .search_provisioned_products()
            .filters(
                aws_sdk_servicecatalog::types::ProvisionedProductViewFilterBy::SearchQuery,
                vec![format!("id:{id}")],
            )
            .send()
            .await
            .unwrap();
        s.provisioned_products()[0].tags().iter().map(|t| format!("{}={}", t.key(), t.value())).collect::<Vec<_>>()
    });
    assert!(tags.contains(&"team=risk".to_owned()), "{tags:?}");
}
