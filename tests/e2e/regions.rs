//! The whole workflow in a Region launched after March 2019 (af-south-1, Africa
//! (Cape Town), launched April 2020).
//!
//! There, S3's legacy global endpoint (`<bucket>.s3.amazonaws.com`) answers HTTP 400 for a bucket
//! of the Region, and any other Region's endpoint a 301 PermanentRedirect (Amazon S3 user guide,
//! "Virtual hosting of buckets", legacy global endpoint). The sandbox enforces it where AWS meets
//! the URL: Service Catalog's product (the catalog stack's `LoadTemplateFromURL`) must address
//! the bucket's Region (tests/sandbox/nvsandbox/s3/template_urls.py, `check_template_url`: the global host
//! counts as us-east-1, so in af-south-1 it fails). A tool that built the legacy URL fails
//! `bootstrap` here; the second test shows the sandbox does refuse it.

use std::path::Path;

use serde_json::json;

use crate::support::{rt, sandbox, Account};

const REGION: &str = "af-south-1";

/// The account's SDK configuration in af-south-1 (the support's `sdk()` is us-east-1's).
async fn sdk(acct: &Account) -> aws_config::SdkConfig {
    let creds = aws_sdk_sts::config::Credentials::new(&acct.id, "sandbox", None, None, "test");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&sandbox().endpoint)
        .credentials_provider(creds)
        .load()
        .await
}

fn in_region<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--region", REGION]);
    all
}

#[test]
fn the_whole_workflow_runs_in_a_region_launched_after_2019() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.5, "pending_seconds": 0.5}));
    let rt = rt();
    let summary = acct.json(&in_region(&["bootstrap", "-q"]));
    assert!(summary["product_id"].is_string(), "{summary}");

    // The product's template URL names the Region (what the sandbox checked at CreateProduct).
    let cfn = aws_sdk_cloudformation::Client::new(&rt.block_on(sdk(&acct)));
    let template = rt
        .block_on(cfn.get_template().stack_name("service-catalog-config").send())
        .unwrap()
        .template_body()
        .unwrap()
        .to_owned();
    assert!(template.contains("s3.${AWS::Region}.${AWS::URLSuffix}"), "{template}");

    acct.ok(&in_region(&["provision", "--user", "ria", "-q"]));
    let url = acct.ok(&in_region(&["url", "--user", "ria"]));
    assert!(
        url.trim().starts_with("https://ria-notebook.notebook.af-south-1.sagemaker.aws?authToken="),
        "not ria's URL in af-south-1"
    );
    let ssm = aws_sdk_ssm::Client::new(&rt.block_on(sdk(&acct)));
    let version = |ssm: &aws_sdk_ssm::Client| {
        rt.block_on(ssm.get_parameter().name("/SageMaker/Notebooks/ria-Notebook").send())
            .unwrap()
            .parameter()
            .unwrap()
            .version()
    };
    let before = version(&ssm);
    acct.ok(&in_region(&["refresh", "--user", "ria", "-q"]));
    assert!(version(&ssm) > before, "refresh stored no URL in af-south-1");
    let status = acct.json(&in_region(&["status", "--user", "ria"]));
    assert_eq!(status["notebook"]["status"], "InService", "{status}");

    acct.ok(&in_region(&["terminate", "--user", "ria", "--yes", "-q"]));
    let sc = aws_sdk_servicecatalog::Client::new(&rt.block_on(sdk(&acct)));
    let left = rt.block_on(sc.scan_provisioned_products().send()).unwrap();
    assert!(left.provisioned_products().is_empty(), "{left:?}");
    acct.ok(&in_region(&["teardown", "--yes", "-q"]));
    let stacks = rt.block_on(cfn.describe_stacks().send()).unwrap();
    let live: Vec<_> = stacks
        .stacks()
        .iter()
        .filter(|s| s.stack_status().is_some_and(|st| st.as_str() != "DELETE_COMPLETE"))
        .collect();
    assert!(live.is_empty(), "{live:?}");
}

/// The control: the same templates with the legacy global URL fail `bootstrap` in af-south-1, so
/// the test above would fail on a tool that built it.
#[test]
fn a_legacy_global_template_url_fails_in_af_south_1() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for name in ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml"] {
        let mut text = std::fs::read_to_string(source.join(name)).unwrap();
        if name == "service-catalog.yml" {
            let regional = "https://${S3BucketName}.s3.${AWS::Region}.${AWS::URLSuffix}/";
            assert!(text.contains(regional), "the template's URL changed: update this test");
            text = text.replace(regional, "https://${S3BucketName}.s3.amazonaws.com/");
        }
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let templates = dir.path().to_str().unwrap();
    let (code, _, err) = acct.run(&in_region(&["bootstrap", "--templates", templates, "-q"]));
    assert_ne!(code, 0, "bootstrap with the legacy URL succeeded in af-south-1: {err}");
    assert!(err.contains("PermanentRedirect") || err.contains("Invalid templateBody"), "{err}");
    // The same templates work in us-east-1, where the global endpoint is the Region's.
    let other = Account::new();
    other.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    other.ok(&["bootstrap", "--templates", templates, "-q"]);
}
