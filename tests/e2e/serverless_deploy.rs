//! `bootstrap --serverless`: the Lambda package checked before any request, uploaded once at its
//! content address, the serverless stack deployed (functions, rule, AWS_IAM Function URL, queue),
//! kept by a plain bootstrap, removed by teardown.
//!
//! The test binary is a debug build with its debug info (far over Lambda's 250 MB): the package
//! deployed is `objcopy --strip-debug` of it, which is still this very binary (it runs the same
//! commands), and the unstripped one must be refused before any request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::{rt, sandbox, Account};

const BIN: &str = env!("CARGO_BIN_EXE_notebook-vend");
const STACK: &str = "service-catalog-config-serverless";

/// The test binary without its debug info, made once per test process with binutils' objcopy
/// (the machine's toolchain; release.sh's Lambda zip is the production route).
fn stripped() -> &'static Path {
    static PATH: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &PATH
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("notebook-vend");
            let out = Command::new("objcopy")
                .arg("--strip-debug")
                .arg(BIN)
                .arg(&path)
                .output()
                .expect("objcopy (binutils) is needed to make a Lambda-sized package of the debug test binary");
            assert!(out.status.success(), "objcopy failed: {}", String::from_utf8_lossy(&out.stderr));
            (dir, path)
        })
        .1
}

/// Run `binary` (instead of the test binary) with the account's isolated environment.
fn run_as(binary: &Path, acct: &Account, args: &[&str]) -> (i32, String, String) {
    let template = acct.std_cmd();
    let mut cmd = Command::new(binary);
    cmd.env_clear().current_dir(acct.home.path());
    for (k, v) in template.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_as(binary: &Path, acct: &Account, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json", "-q"]);
    let (code, out, err) = run_as(binary, acct, &all);
    assert_eq!(code, 0, "{args:?} failed\nstdout: {out}\nstderr: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A request to a sandbox API the test crate has no SDK client for (Lambda's REST API,
/// EventBridge's JSON API), as this account: the sandbox selects the account by the access key in
/// the credential scope and does not check signatures outside IAM enforcement.
fn raw(acct: &Account, service: &str, method: &str, path: &str, target: Option<&str>, body: Value) -> (u16, Value) {
    rt().block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", sandbox().endpoint);
        let mut req = client
            .request(method.parse().unwrap(), url)
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/20260101/us-east-1/{service}/aws4_request, \
                     SignedHeaders=host, Signature=00",
                    acct.id
                ),
            )
            .header("X-Amz-Date", "20260101T000000Z");
        if let Some(t) = target {
            req = req
                .header("X-Amz-Target", t)
                .header("Content-Type", "application/x-amz-json-1.1")
                .body(body.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    })
}

fn get_function(acct: &Account, name: &str) -> (u16, Value) {
    raw(acct, "lambda", "GET", &format!("/2015-03-31/functions/{name}"), None, Value::Null)
}

fn events(acct: &Account, action: &str, body: Value) -> Value {
    let (status, out) = raw(acct, "events", "POST", "/", Some(&format!("AWSEvents.{action}")), body);
    assert_eq!(status, 200, "events {action}: {out}");
    out
}

/// The package object as stored, its hex SHA-256.
fn stored_sha256(acct: &Account, bucket: &str, key: &str) -> (String, Vec<u8>) {
    rt().block_on(async {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&acct.sdk().await).force_path_style(true).build(),
        );
        let obj = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
        let bytes = obj.body.collect().await.unwrap().into_bytes().to_vec();
        (hex::encode(Sha256::digest(&bytes)), bytes)
    })
}

fn deploys(acct: &Account) -> usize {
    acct.requests().iter().filter(|r| ["CreateStack", "UpdateStack"].contains(&r.operation.as_str())).count()
}

#[test]
fn serverless_stack_deploys_once_is_kept_by_plain_bootstrap_and_torn_down() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));

    // A dry run plans the third stack and writes nothing.
    let plan = json_as(stripped(), &acct, &["bootstrap", "--serverless", "--dry-run"]);
    assert_eq!(plan["serverless"]["action"], "would create", "{plan}");
    assert_eq!(plan["serverless"]["code_upload"], "would upload", "{plan}");
    assert!(acct.writes_since(0).is_empty(), "{:?}", acct.writes_since(0));

    let first = json_as(stripped(), &acct, &["bootstrap", "--serverless"]);
    let sl = &first["serverless"];
    assert_eq!(sl["stack"], STACK, "{first}");
    assert_eq!(sl["action"], "created", "{first}");
    assert_eq!(sl["code_upload"], "uploaded", "{first}");
    assert_eq!(sl["architecture"], "x86_64", "{first}");
    let key = sl["code_key"].as_str().unwrap().to_owned();
    let bucket = first["bucket"].as_str().unwrap().to_owned();
    // Content-addressed: the key is the SHA-256 of the very bytes stored under it.
    let (digest, zip) = stored_sha256(&acct, &bucket, &key);
    assert_eq!(key, format!("lambda/{digest}.zip"));
    assert!(zip.len() < 262_144_000 && zip.starts_with(b"PK\x03\x04"));

    let code_sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    let mut arns = Vec::new();
    for handler in ["watch", "serve"] {
        let (status, f) = get_function(&acct, &format!("{STACK}-{handler}"));
        assert_eq!(status, 200, "{f}");
        let c = &f["Configuration"];
        assert_eq!(c["Runtime"], "provided.al2023", "{f}");
        assert_eq!(c["Handler"], handler, "{f}");
        assert_eq!(c["Architectures"], json!(["x86_64"]), "{f}");
        assert_eq!(c["CodeSha256"], code_sha.as_str(), "the function runs the uploaded package: {f}");
        assert_eq!(c["State"], "Active", "{f}");
        arns.push(c["FunctionArn"].as_str().unwrap().to_owned());
    }
    let (status, url) =
        raw(&acct, "lambda", "GET", &format!("/2021-10-31/functions/{STACK}-serve/url"), None, Value::Null);
    assert_eq!(status, 200, "{url}");
    assert_eq!(url["AuthType"], "AWS_IAM", "{url}");
    assert_eq!(sl["function_url"], url["FunctionUrl"], "the summary names the Function URL");

    let rules = events(&acct, "ListRules", json!({"NamePrefix": STACK}));
    let rule = &rules["Rules"][0];
    assert_eq!(rule["State"], "ENABLED", "{rules}");
    let pattern: Value = serde_json::from_str(rule["EventPattern"].as_str().unwrap()).unwrap();
    assert_eq!(pattern["detail-type"], json!(["SageMaker Notebook Instance State Change"]), "{pattern}");
    assert_eq!(pattern["source"], json!(["aws.sagemaker"]), "{pattern}");
    let targets = events(&acct, "ListTargetsByRule", json!({"Rule": rule["Name"]}));
    assert_eq!(targets["Targets"][0]["Arn"], arns[0].as_str(), "the rule targets the watch function: {targets}");
    let (_, invoke) = raw(
        &acct,
        "lambda",
        "GET",
        &format!("/2019-09-25/functions/{STACK}-watch/event-invoke-config"),
        None,
        Value::Null,
    );
    let failure = invoke["DestinationConfig"]["OnFailure"]["Destination"].as_str().unwrap_or_default();
    assert!(failure.starts_with("arn:aws:sqs:us-east-1:") && failure.contains("FailureQueue"), "{invoke}");

    // doctor reports the serverless stack.
    let doctor = acct.json(&["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor}");
    for name in ["serverless resources", "function URL auth", "state change rule", "on-failure destination"] {
        let found = doctor["checks"].as_array().unwrap().iter().find(|c| c["name"] == name);
        assert_eq!(found.map(|c| c["status"].clone()), Some(json!("ok")), "{name}: {doctor}");
    }

    // The same package again: nothing uploaded, the stack not touched.
    let mark = acct.requests().len();
    let (stacks_before, puts_before) = (deploys(&acct), acct.count("PutObject"));
    let again = json_as(stripped(), &acct, &["bootstrap", "--serverless"]);
    assert_eq!(again["serverless"]["action"], "unchanged", "{again}");
    assert_eq!(again["serverless"]["code_upload"], "unchanged", "{again}");
    assert_eq!(again["up_to_date"], true, "{again}");
    let plan = json_as(stripped(), &acct, &["bootstrap", "--serverless", "--dry-run"]);
    assert_eq!(
        (&plan["serverless"]["action"], &plan["serverless"]["code_upload"], &plan["up_to_date"]),
        (&json!("unchanged"), &json!("unchanged"), &json!(true)),
        "{plan}"
    );
    assert_eq!((deploys(&acct), acct.count("PutObject")), (stacks_before, puts_before), "{again}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));

    // A plain bootstrap (here the unstripped binary, which could not be a package) keeps it.
    let plain = json_as(Path::new(BIN), &acct, &["bootstrap"]);
    assert_eq!(plain["serverless"]["action"], "kept", "{plain}");
    assert_eq!(plain["up_to_date"], true, "{plain}");
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    assert_eq!(get_function(&acct, &format!("{STACK}-watch")).1["Configuration"]["CodeSha256"], code_sha.as_str());

    let torn = json_as(Path::new(BIN), &acct, &["teardown", "--yes"]);
    let first_deleted = &torn["stacks"][0];
    assert_eq!(first_deleted["name"], STACK, "deleted first (it imports the bucket's export): {torn}");
    assert_eq!(first_deleted["deleted"], true, "{torn}");
    for handler in ["watch", "serve"] {
        assert_eq!(get_function(&acct, &format!("{STACK}-{handler}")).0, 404, "{handler} is gone");
    }
    assert!(events(&acct, "ListRules", json!({"NamePrefix": STACK}))["Rules"].as_array().unwrap().is_empty());
}

/// A copy of the stripped binary with `edit` applied, zipped by Python's zipfile (another zip
/// writer than the tool's) with `mode` as the entry's permissions.
fn zip_of(dir: &Path, name: &str, entry: &str, mode: u32, edit: impl Fn(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(stripped()).unwrap();
    edit(&mut bytes);
    let raw = dir.join(format!("{name}.bin"));
    std::fs::write(&raw, bytes).unwrap();
    let zip = dir.join(format!("{name}.zip"));
    let script = format!(
        "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[2],'w',zipfile.ZIP_DEFLATED,compresslevel=1)\n\
         i=zipfile.ZipInfo('{entry}',(1980,1,1,0,0,0))\ni.create_system=3\ni.external_attr={mode}<<16\n\
         i.compress_type=zipfile.ZIP_DEFLATED\nz.writestr(i,open(sys.argv[1],'rb').read())\nz.close()\n"
    );
    let out = Command::new("python3").arg("-c").arg(script).arg(&raw).arg(&zip).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(raw).unwrap();
    zip
}

fn replace(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let at = bytes.windows(from.len()).position(|w| w == from).expect("pattern in the binary");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn bad_packages_are_refused_one_line_each_with_no_request() {
    let acct = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let not_zip = dir.path().join("bootstrap");
    std::fs::copy(stripped(), &not_zip).unwrap();
    let newer_glibc = zip_of(dir.path(), "glibc", "bootstrap", 0o100755, |b| {
        // The highest version the binary needs, renamed in .dynstr: GLIBC_2.34 -> GLIBC_2.99.
        replace(b, b"GLIBC_2.34\0", b"GLIBC_2.99\0");
    });
    let arm32 = zip_of(dir.path(), "arm32", "bootstrap", 0o100755, |b| b[18..20].copy_from_slice(&40u16.to_le_bytes()));
    let no_exec = zip_of(dir.path(), "noexec", "bootstrap", 0o100644, |_| {});
    let wrong_name = zip_of(dir.path(), "name", "notebook-vend", 0o100755, |_| {});
    let a = |p: &Path| p.to_str().unwrap().to_owned();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "Lambda allows less than 262144000 bytes"),
        (vec!["--lambda-zip".into(), a(&not_zip)], "not a zip archive"),
        (
            vec!["--lambda-zip".into(), a(&newer_glibc)],
            "needs GLIBC_2.99, but Lambda's provided.al2023 runtime has glibc 2.34",
        ),
        (vec!["--lambda-zip".into(), a(&arm32)], "machine 40"),
        (vec!["--lambda-zip".into(), a(&no_exec)], "no executable bit"),
        (vec!["--lambda-zip".into(), a(&wrong_name)], "no `bootstrap` entry"),
        (vec!["--lambda-zip".into(), a(&dir.path().join("missing.zip"))], "cannot read it"),
    ];
    for (extra, named) in cases {
        let mark = acct.requests().len();
        let mut args = vec!["bootstrap".to_owned(), "--serverless".to_owned()];
        args.extend(extra.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // The unstripped test binary itself, so the first case is "this binary" being too big.
        let (code, out, err) = run_as(Path::new(BIN), &acct, &args);
        let lines: Vec<&str> = err.trim().lines().collect();
        assert_eq!(code, 2, "{extra:?}: {out}{err}");
        assert_eq!(lines.len(), 1, "{extra:?}: one line per violation: {err}");
        assert!(lines[0].starts_with("error:") && lines[0].contains(named), "{extra:?}: {err}");
        assert!(acct.requests_since(mark).is_empty(), "{extra:?} sent {:?}", acct.requests_since(mark));
    }

    // A template that allows x86_64 only, and an arm64 build: refused the same way.
    let templates = crate::support::templates_dir(|_, body| body);
    let serverless = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/serverless.yml"))
        .unwrap()
        .replace("AllowedValues: [x86_64, arm64]", "AllowedValues: [x86_64]");
    std::fs::write(templates.path().join("serverless.yml"), serverless).unwrap();
    let arm64 =
        zip_of(dir.path(), "arm64", "bootstrap", 0o100755, |b| b[18..20].copy_from_slice(&183u16.to_le_bytes()));
    let mark = acct.requests().len();
    let (code, _, err) = run_as(
        Path::new(BIN),
        &acct,
        &["bootstrap", "--serverless", "--templates", &a(templates.path()), "--lambda-zip", &a(&arm64)],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("built for arm64, but the serverless template's Architecture allows only x86_64"), "{err}");
    assert!(acct.requests_since(mark).is_empty());

    // --lambda-zip means nothing without --serverless.
    let (code, _, err) = run_as(Path::new(BIN), &acct, &["bootstrap", "--lambda-zip", &a(&no_exec)]);
    assert_eq!(code, 2, "{err}");
    assert!(acct.requests().is_empty(), "{:?}", acct.requests());
}

#[test]
fn a_given_zip_is_deployed_as_it_is_and_a_new_package_updates_the_functions() {
    let acct = Account::new();
    let first = json_as(stripped(), &acct, &["bootstrap", "--serverless"]);
    let first_key = first["serverless"]["code_key"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let zip = zip_of(dir.path(), "given", "bootstrap", 0o100755, |_| {});
    let zip_sha = hex::encode(Sha256::digest(std::fs::read(&zip).unwrap()));
    let second = json_as(Path::new(BIN), &acct, &["bootstrap", "--serverless", "--lambda-zip", zip.to_str().unwrap()]);
    let sl = &second["serverless"];
    assert_eq!(sl["code_key"], format!("lambda/{zip_sha}.zip"), "the zip's own digest: {second}");
    assert_ne!(sl["code_key"], first_key.as_str());
    assert_eq!(sl["code_upload"], "uploaded", "{second}");
    assert_eq!(sl["action"], "updated", "a new key is a change CloudFormation acts on: {second}");
    let (_, f) = get_function(&acct, &format!("{STACK}-serve"));
    let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(std::fs::read(&zip).unwrap()));
    assert_eq!(f["Configuration"]["CodeSha256"], expected.as_str(), "{f}");
}

/// ProvisionProduct as the console sends it (no notebook-vend involved).
async fn console_provision(acct: &Account, user: &str) {
    use aws_sdk_servicecatalog::types::ProvisioningParameter;
    let sc = aws_sdk_servicecatalog::Client::new(&acct.sdk().await);
    let products = sc.search_products().send().await.unwrap();
    let product_id = products.product_view_summaries()[0].product_id().unwrap().to_owned();
    let path = sc.list_launch_paths().product_id(&product_id).send().await.unwrap();
    let path_id = path.launch_path_summaries()[0].id().unwrap().to_owned();
    let arts = sc.list_provisioning_artifacts().product_id(&product_id).send().await.unwrap();
    let artifact_id = arts.provisioning_artifact_details().last().unwrap().id().unwrap().to_owned();
    let param = |k: &str, v: &str| ProvisioningParameter::builder().key(k).value(v).build();
    sc.provision_product()
        .product_id(product_id)
        .path_id(path_id)
        .provisioning_artifact_id(artifact_id)
        // A name of the console user's choosing, not the tool's `<user>-Notebook`: both functions
        // must find the product among everyone's (their roles launched nothing).
        .provisioned_product_name(format!("console-{user}"))
        .provision_token(format!("console-{user}"))
        .provisioning_parameters(param("NotebookInstanceType", "ml.t3.medium"))
        .provisioning_parameters(param("S3IAMConfigStackName", "s3-iam-config"))
        .provisioning_parameters(param("NotebookUserName", user))
        .send()
        .await
        .unwrap();
}

/// Poll the stored URL of `user` until `ready` holds (the deployed function writes it).
async fn stored_when(acct: &Account, user: &str, ready: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Some(url) = crate::support::stored_url(acct, user).await.filter(|u| ready(u)) {
            return url;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(90), "no URL stored for {user} by the function");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// An IAM user of the account with an access key: (ARN, key id, secret).
async fn iam_user(acct: &Account, name: &str) -> (String, String, String) {
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let arn = iam.create_user().user_name(name).send().await.unwrap().user().unwrap().arn().to_owned();
    let key = iam.create_access_key().user_name(name).send().await.unwrap();
    let key = key.access_key().unwrap();
    (arn, key.access_key_id().to_owned(), key.secret_access_key().to_owned())
}

/// POST a JSON body to the Function URL, SigV4-signed (service lambda) with `key` or unsigned.
async fn url_post(url: &str, body: &str, key: Option<(&str, &str)>) -> (u16, Value) {
    let target = format!("{}refreshurl", url);
    let mut headers: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
    if let Some((id, secret)) = key {
        let creds = aws_sdk_sts::config::Credentials::new(id, secret, None, None, "test");
        let identity: aws_smithy_runtime_api::client::identity::Identity = creds.into();
        let settings = aws_sigv4::http_request::SigningSettings::default();
        let params: aws_sigv4::http_request::SigningParams<'_> = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(std::time::SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "POST",
            target.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).unwrap().into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_owned(), v.to_owned()));
        }
    }
    let mut req = reqwest::Client::new().post(&target).body(body.to_owned());
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The whole flow in serverless mode, with no `watch` process anywhere: a console provision's
/// InService event reaches the deployed watch function, which stores the owner's URL; a stop and a
/// start store a fresh one; the Function URL refreshes for its caller only.
#[tokio::test(flavor = "multi_thread")]
async fn console_provision_gets_its_url_from_the_deployed_function_with_no_watch_process() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let stripped = stripped().to_owned();
    let deployed = tokio::task::block_in_place(|| json_as(&stripped, &acct, &["bootstrap", "--serverless"]));
    let function_url = deployed["serverless"]["function_url"].as_str().unwrap().to_owned();

    console_provision(&acct, "alice").await;
    let first = stored_when(&acct, "alice", |_| true).await;
    assert!(crate::support::is_url_with_token_of(&first, "alice"), "{first}");

    // Stopped and started from the console: the InService event stores a fresh URL.
    let sm = aws_sdk_sagemaker::Client::new(&acct.sdk().await);
    sm.stop_notebook_instance().notebook_instance_name("alice-Notebook").send().await.unwrap();
    let start = std::time::Instant::now();
    while sm
        .describe_notebook_instance()
        .notebook_instance_name("alice-Notebook")
        .send()
        .await
        .unwrap()
        .notebook_instance_status()
        .map(|s| s.as_str() != "Stopped")
        .unwrap_or(true)
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "alice's notebook never stopped");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The event's `time` has whole seconds; the handler takes an InService no later than the stored
    // URL's write as a duplicate (cmd/watch/state.rs). On AWS a start takes minutes; here the
    // sandbox's 0.3 s cycle could fall within the second of the first store, so wait a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    sm.start_notebook_instance().notebook_instance_name("alice-Notebook").send().await.unwrap();
    let fresh = stored_when(&acct, "alice", |u| u != first).await;
    assert!(crate::support::is_url_with_token_of(&fresh, "alice"), "{fresh}");

    // The Function URL (AuthType AWS_IAM): alice for herself 200, for bob 403, unsigned refused.
    let (_, alice_id, alice_secret) = iam_user(&acct, "alice").await;
    let own = r#"{"notebook_user_name": "alice"}"#;
    let (status, answer) = url_post(&function_url, own, Some((&alice_id, &alice_secret))).await;
    assert_eq!(status, 200, "{answer}");
    let refreshed = answer["PreSignedURL"].as_str().unwrap().to_owned();
    assert!(crate::support::is_url_with_token_of(&refreshed, "alice"), "{answer}");
    let (status, answer) =
        url_post(&function_url, r#"{"notebook_user_name": "bob"}"#, Some((&alice_id, &alice_secret))).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = url_post(&function_url, own, None).await;
    assert_eq!(status, 403, "unsigned: {answer}");
}

/// `bootstrap --serverless` and `teardown` by a user holding exactly `policy bootstrap` and
/// `policy serverless`, with the sandbox's IAM checks on: every call the tool sends and every
/// resource handler CloudFormation runs with the caller's credentials (cloudformation/principal.py)
/// must be allowed by them.
#[test]
fn serverless_deploy_and_teardown_need_only_the_bootstrap_and_serverless_policies() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    let documents: Vec<(&str, String)> = ["bootstrap", "serverless"]
        .into_iter()
        .map(|role| (role, acct.ok(&["policy", role, "--account", &acct.id, "--output", "json"])))
        .collect();
    for (role, document) in &documents {
        let size = document.chars().filter(|c| !c.is_whitespace()).count();
        assert!(size <= 6144, "`policy {role}` is {size} characters, over IAM's managed policy limit");
    }
    let (key, secret) = rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
        iam.create_user().user_name("ada").send().await.unwrap();
        for (role, document) in &documents {
            let name = format!("nv-{role}");
            let policy = iam.create_policy().policy_name(name).policy_document(document).send().await.unwrap();
            let arn = policy.policy().unwrap().arn().unwrap().to_owned();
            iam.attach_user_policy().user_name("ada").policy_arn(arn).send().await.unwrap();
        }
        let key = iam.create_access_key().user_name("ada").send().await.unwrap();
        let key = key.access_key().unwrap();
        (key.access_key_id().to_owned(), key.secret_access_key().to_owned())
    });
    acct.configure(json!({"iam_enforced": 1}));
    let as_ada = |binary: &Path, args: &[&str]| {
        let mut cmd = Command::new(binary);
        cmd.env_clear().current_dir(acct.home.path());
        for (k, v) in acct.std_cmd().get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        let out = cmd.env("AWS_ACCESS_KEY_ID", &key).env("AWS_SECRET_ACCESS_KEY", &secret).args(args).output().unwrap();
        let (out, err) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr));
        assert!(err.is_empty() || !err.contains("AccessDenied"), "{args:?}: {err}");
        out
    };
    let deployed: Value =
        serde_json::from_str(&as_ada(stripped(), &["bootstrap", "--serverless", "--output", "json", "-q"])).unwrap();
    assert_eq!(deployed["serverless"]["action"], "created", "{deployed}");
    assert_eq!(deployed["serverless"]["status"], "CREATE_COMPLETE", "{deployed}");
    let torn: Value =
        serde_json::from_str(&as_ada(Path::new(BIN), &["teardown", "--yes", "--output", "json", "-q"])).unwrap();
    assert_eq!(torn["stacks"][0]["name"], STACK, "{torn}");
    assert_eq!(torn["stacks"][0]["deleted"], true, "{torn}");
    assert_eq!(get_function(&acct, &format!("{STACK}-watch")).0, 404);
}
