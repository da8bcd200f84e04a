//! `bootstrap` end to end against the sandbox: the two stacks, the product and its versions, run
//! again and again from CI.

use crate::support::{is_write, rt, templates_dir, Account};

#[test]
fn creates_both_stacks_and_a_visible_product() {
    let acct = Account::new();
    let summary = acct.bootstrap();
    let stacks = summary["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 2);
    for (stack, name) in stacks.iter().zip(["s3-iam-config", "service-catalog-config"]) {
        assert_eq!(stack["name"], name);
        assert_eq!(stack["action"], "create");
        assert_eq!(stack["status"], "CREATE_COMPLETE");
    }
    let bucket = summary["bucket"].as_str().unwrap();
    assert!(bucket.starts_with("s3-iam-config-"), "{bucket}");
    assert_eq!(summary["template_upload"], "uploaded");
    assert_eq!(summary["principal"], format!("arn:aws:iam::{}:user/moto", acct.id));
    let product_id = summary["product_id"].as_str().unwrap().to_owned();
    assert!(summary["portfolio_id"].as_str().unwrap().starts_with("port-"));

    rt().block_on(async {
        let sdk = acct.sdk().await;
        // The bucket holds the product template, byte for byte.
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        let key = summary["template_key"].as_str().unwrap();
        assert!(key.starts_with("sm-notebook/v-") && key.ends_with(".yml"), "a content-addressed key: {key}");
        let obj = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
        let body = obj.body.collect().await.unwrap().into_bytes();
        assert_eq!(body.as_ref(), include_bytes!("../../templates/sm-notebook.yml"));
        // The product is found through the Service Catalog API, with a launch path and an artifact.
        let sc = aws_sdk_servicecatalog::Client::new(&sdk);
        let found = sc.search_products().send().await.unwrap();
        let names: Vec<_> = found.product_view_summaries().iter().map(|p| (p.name(), p.product_id())).collect();
        assert!(names.contains(&(Some("SageMaker Notebook"), Some(product_id.as_str()))), "{names:?}");
        let paths = sc.list_launch_paths().product_id(&product_id).send().await.unwrap();
        assert_eq!(paths.launch_path_summaries().len(), 1);
        let params = sc
            .describe_provisioning_parameters()
            .product_id(&product_id)
            .path_id(paths.launch_path_summaries()[0].id().unwrap())
            .provisioning_artifact_id(
                sc.list_provisioning_artifacts()
                    .product_id(&product_id)
                    .send()
                    .await
                    .unwrap()
                    .provisioning_artifact_details()[0]
                    .id()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let keys: Vec<_> = params.provisioning_artifact_parameters().iter().filter_map(|p| p.parameter_key()).collect();
        assert!(keys.contains(&"NotebookUserName") && keys.contains(&"NotebookInstanceType"), "{keys:?}");
    });
}

#[test]
fn second_run_writes_nothing_and_says_up_to_date() {
    let acct = Account::new();
    acct.bootstrap();
    let mark = acct.requests().len();
    let (code, out, _) = acct.run(&["bootstrap"]);
    assert_eq!(code, 0);
    assert!(out.contains("everything is up to date"), "{out}");
    let since = acct.requests_since(mark);
    assert!(!since.is_empty());
    let writes: Vec<_> = since.iter().filter(|r| is_write(&r.operation)).collect();
    assert!(writes.is_empty(), "a no-op bootstrap wrote: {writes:?}");
    let json = acct.bootstrap();
    assert_eq!(json["up_to_date"], true);
    assert!(json["stacks"].as_array().unwrap().iter().all(|s| s["action"] == "unchanged"));
}

#[test]
fn dry_run_on_an_empty_account_writes_nothing() {
    let acct = Account::new();
    let (code, out, err) = acct.run(&["bootstrap", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("would create") && out.contains("would upload"), "{out}");
    assert!(acct.requests().iter().all(|r| !is_write(&r.operation)), "{:?}", acct.requests());
    let plan = acct.json(&["bootstrap", "--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["stacks"][0]["action"], "create");
}

#[test]
fn changed_product_template_is_uploaded_and_becomes_a_new_artifact() {
    let acct = Account::new();
    acct.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let mut body = std::fs::read_to_string(format!("templates/{name}")).unwrap();
        if name == "sm-notebook.yml" {
            body.push_str("\n# a change\n");
        }
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let plan = acct.json(&["bootstrap", "--dry-run", "--templates", dir.path().to_str().unwrap()]);
    assert_eq!(plan["template_upload"], "would upload");
    assert_eq!(plan["stacks"][1]["action"], "update");
    let mark = acct.requests().len();
    let done = acct.json(&["bootstrap", "-q", "--templates", dir.path().to_str().unwrap()]);
    assert_eq!(done["stacks"][0]["action"], "unchanged");
    assert_eq!(done["stacks"][1]["action"], "update");
    assert_eq!(done["stacks"][1]["status"], "UPDATE_COMPLETE");
    let ops: Vec<_> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(ops.contains(&"PutObject".into()) && ops.contains(&"UpdateStack".into()), "{ops:?}");
    assert!(!ops.contains(&"CreateStack".into()));
}

#[test]
fn a_failed_resource_exits_1_naming_it_and_the_next_run_recreates_the_stack() {
    let acct = Account::new();
    let dir = tempfile::tempdir().unwrap();
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let mut body = std::fs::read_to_string(format!("templates/{name}")).unwrap();
        if name == "s3-iam-config.yml" {
            // An SSM parameter without a Name: the sandbox's CloudFormation cannot create it.
            body = body.replacen(
                "Resources:\n",
                "Resources:\n  Broken:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: x\n",
                1,
            );
        }
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let (code, out, err) = acct.run(&["bootstrap", "--templates", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("CREATE_FAILED AWS::SSM::Parameter Broken"), "the failed resource's event: {err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with(
            "error: stack s3-iam-config ended ROLLBACK_COMPLETE; failed resources: Broken (AWS::SSM::Parameter): "
        ),
        "{last}"
    );
    assert_eq!(acct.count("CreateStack"), 1, "the catalog stack is not attempted after the first failed");
    // The built-in templates repair it: a stack that failed its creation is deleted and created again.
    let summary = acct.bootstrap();
    assert_eq!(summary["stacks"][0]["action"], "recreate");
    assert_eq!(summary["stacks"][0]["status"], "CREATE_COMPLETE");
}

#[test]
fn allowed_instance_types_limit_the_product() {
    let acct = Account::bootstrapped(0.3, &["--allowed-instance-types", "ml.t3.large,ml.t3.xlarge"]);
    let (code, _, err) = acct.run(&["provision", "--user", "dan", "--instance-type", "ml.t3.medium"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must be one of ml.t3.large, ml.t3.xlarge"), "{err}");
    // Without --instance-type the product's default moved into the list.
    acct.ok(&["provision", "--user", "dan", "-q"]);
    let (code, _, err) = acct.run(&["bootstrap", "--allowed-instance-types", "ml.p3.2xlarge"]);
    assert_eq!(code, 2);
    assert!(err.contains("ml.p3.2xlarge is not offered"), "{err}");
}

/// A template that is not YAML is refused before any write (not sent to CloudFormation after other
/// writes), and a failed update of the catalog stack does not leave the new product template in
/// the bucket as the deployed version's.
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
