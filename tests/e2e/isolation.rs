//! Each data scientist reaches only their own notebook: two IAM users and two Identity-Center-like
//! role sessions (one permission-set role, a session tag `notebook-vend:user` per person), each
//! holding exactly `notebook-vend policy end-user`, in an account where the sandbox enforces IAM
//! (policy variables, resource tags, session tags, Service Catalog's user level: see
//! tests/sandbox/nvsandbox/iam/conditions.py and servicecatalog/ownership.py).
//!
//! Every caller runs the end-user flow on their own notebook with no `--user` (the caller is the
//! user); every attempt on a colleague's notebook is denied by AWS, exits 1 with one line naming
//! whose notebook and which identity asked, and changes nothing.

use serde_json::json;

use crate::support::{rt, starts_as_url_of, Account, Caller};

const OWNER: &str = "notebook-vend:user";

async fn end_user_policy_arn(acct: &Account) -> String {
    let document = acct.ok(&["policy", "end-user", "--account", &acct.id, "--output", "json"]);
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let out = iam
        .create_policy()
        .policy_name("notebook-vend-end-user")
        .policy_document(&document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("IAM refused `policy end-user`: {e:?}\n{document}"));
    out.policy().unwrap().arn().unwrap().to_owned()
}

/// An IAM user holding the end-user policy, with an access key.
async fn iam_user(acct: &Account, policy: &str, name: &str) -> Caller {
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let arn = iam.create_user().user_name(name).send().await.unwrap().user().unwrap().arn().to_owned();
    iam.attach_user_policy().user_name(name).policy_arn(policy).send().await.unwrap();
    let key = iam.create_access_key().user_name(name).send().await.unwrap();
    let key = key.access_key().unwrap();
    Caller::with_key(name, &arn, key.access_key_id(), key.secret_access_key())
}

/// The role an Identity Center permission set creates (path /aws-reserved/sso.amazonaws.com/, a
/// trust policy allowing sts:AssumeRole and sts:TagSession), holding the end-user policy.
async fn permission_set_role(acct: &Account, policy: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&acct.sdk().await);
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", acct.id)},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }],
    });
    let role = iam
        .create_role()
        .role_name("AWSReservedSSO_DataScientist_0123456789abcdef")
        .path("/aws-reserved/sso.amazonaws.com/")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let arn = role.role().unwrap().arn().to_owned();
    iam.attach_role_policy()
        .role_name("AWSReservedSSO_DataScientist_0123456789abcdef")
        .policy_arn(policy)
        .send()
        .await
        .unwrap();
    arn
}

/// A session of that role for `user`, tagged as Identity Center's attributes for access control
/// tag it (session name = the user name, session tag notebook-vend:user = the user name).
async fn sso_session(acct: &Account, role: &str, user: &str) -> Caller {
    let sts = aws_sdk_sts::Client::new(&acct.sdk().await);
    let tag = aws_sdk_sts::types::Tag::builder().key(OWNER).value(user).build().unwrap();
    let out = sts.assume_role().role_arn(role).role_session_name(user).tags(tag).send().await.unwrap();
    let c = out.credentials().unwrap();
    Caller {
        user: user.to_owned(),
        arn: out.assumed_role_user().unwrap().arn().to_owned(),
        env: vec![
            ("AWS_ACCESS_KEY_ID", c.access_key_id().to_owned()),
            ("AWS_SECRET_ACCESS_KEY", c.secret_access_key().to_owned()),
            ("AWS_SESSION_TOKEN", c.session_token().to_owned()),
        ],
    }
}

/// Bootstrapped as root, four end users (two IAM users, two sessions of one permission-set role),
/// IAM enforced, each with their own notebook provisioned by themselves (no --user).
fn four_end_users() -> (Account, Vec<Caller>) {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    acct.json(&["bootstrap", "-q"]);
    let rt = rt();
    let policy = rt.block_on(end_user_policy_arn(&acct));
    let role = rt.block_on(permission_set_role(&acct, &policy));
    let callers = vec![
        rt.block_on(iam_user(&acct, &policy, "alice")),
        rt.block_on(iam_user(&acct, &policy, "bob")),
        rt.block_on(sso_session(&acct, &role, "carol")),
        rt.block_on(sso_session(&acct, &role, "dave")),
    ];
    acct.configure(json!({"iam_enforced": 1}));
    for c in &callers {
        let out = c.json(&acct, &["provision", "-q"]);
        assert_eq!(out["user"], c.user.as_str(), "{} provisioned for someone else: {out}", c.arn);
    }
    (acct, callers)
}

/// What a cross attempt must leave as it was: the victim's URL parameter (version) and notebook
/// (status), and the number of provisioned products.
fn snapshot(acct: &Account, user: &str) -> (Option<i64>, String, usize) {
    let rt = rt();
    let version = rt.block_on(acct.parameter(user)).map(|p| p.version());
    let status = acct.json(&["status", "--user", user])["notebook"]["status"].as_str().unwrap_or_default().to_owned();
    (version, status, rt.block_on(acct.provisioned_count()))
}

#[test]
fn every_cross_attempt_is_denied_and_changes_nothing() {
    let (acct, callers) = four_end_users();
    // IAM user against IAM user, session against session, and across the two kinds.
    let pairs = [(0, 1), (1, 0), (2, 3), (3, 2), (0, 2), (2, 0)];
    for (a, v) in pairs {
        let (attacker, victim) = (&callers[a], &callers[v]);
        let before = snapshot(&acct, &victim.user);
        let u = victim.user.as_str();
        let attempts: Vec<Vec<&str>> = vec![
            vec!["url", "--user", u],
            vec!["url", "--user", u, "--stored"],
            vec!["refresh", "--user", u, "-q"],
            vec!["status", "--user", u],
            vec!["stop", "--user", u, "-q"],
            vec!["start", "--user", u, "-q"],
            vec!["update", "--user", u, "--instance-type", "ml.t3.large", "--yes", "-q"],
            vec!["terminate", "--user", u, "--yes", "-q"],
            // A provision for someone else must not start (their notebook exists; and for a user
            // with no notebook yet, see below).
            vec!["provision", "--user", u, "-q"],
        ];
        for args in attempts {
            let mark = acct.requests().len();
            let (code, out, err) = attacker.run(&acct, &args);
            assert_eq!(code, 1, "{} ran {args:?}: exit {code}\nstdout: {out}\nstderr: {err}", attacker.arn);
            assert!(
                err.contains(&attacker.arn) && err.contains(&format!("{u}'s notebook")),
                "{args:?}: the refusal names neither the identity nor whose notebook:\n{err}"
            );
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line expected:\n{err}");
            let written: Vec<_> = acct
                .requests_since(mark)
                .into_iter()
                .filter(|r| crate::support::is_write(&r.operation) && r.status == "200")
                .map(|r| r.operation)
                .collect();
            assert!(written.is_empty(), "{} {args:?} wrote {written:?}", attacker.arn);
        }
        assert_eq!(snapshot(&acct, u), before, "{} changed {u}'s notebook", attacker.arn);
    }

    // Directly, as the SDK would: another's parameter, get/put/delete, and the other's presign.
    let rt = rt();
    let alice = &callers[0];
    for user in ["bob", "carol"] {
        let name = format!("/SageMaker/Notebooks/{user}-Notebook");
        for args in [
            vec!["ssm", "get-parameter", &name],
            vec!["ssm", "put-parameter", &name],
            vec!["ssm", "delete-parameter", &name],
            vec!["sagemaker", "presign", &format!("{user}-Notebook")],
        ] {
            let denied = rt.block_on(direct_call(&acct, alice, &args));
            assert!(denied.contains("AccessDenied"), "alice {args:?}: {denied}");
        }
    }
    // Own parameter, same calls: allowed.
    let own = rt.block_on(direct_call(&acct, alice, &["ssm", "get-parameter", "/SageMaker/Notebooks/alice-Notebook"]));
    assert_eq!(own, "ok");

    // A provision for a user who has no notebook yet: refused before ProvisionProduct.
    let mark = acct.requests().len();
    let (code, _, err) = callers[2].run(&acct, &["provision", "--user", "erin", "-q"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("erin's notebook") && err.contains(&callers[2].arn), "{err}");
    let sent: Vec<String> = acct.requests_since(mark).into_iter().map(|r| r.operation).collect();
    assert!(!sent.iter().any(|o| o == "ProvisionProduct"), "{sent:?}");
}

/// One call with a caller's credentials, straight to the SDK: "ok", or the error's code and message.
async fn direct_call(acct: &Account, caller: &Caller, args: &[&str]) -> String {
    let get = |k: &str| caller.env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let creds = aws_sdk_sts::config::Credentials::new(
        get("AWS_ACCESS_KEY_ID").unwrap(),
        get("AWS_SECRET_ACCESS_KEY").unwrap(),
        get("AWS_SESSION_TOKEN"),
        None,
        "test",
    );
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&crate::support::sandbox().endpoint)
        .credentials_provider(creds)
        .load()
        .await;
    let _ = acct;
    use aws_sdk_sagemaker::error::ProvideErrorMetadata;
    let meta = |code: Option<&str>, msg: Option<&str>| format!("{}: {}", code.unwrap_or("?"), msg.unwrap_or(""));
    match args {
        ["ssm", op, name] => {
            let ssm = aws_sdk_ssm::Client::new(&sdk);
            let r = match *op {
                "get-parameter" => {
                    ssm.get_parameter().name(*name).send().await.map(|_| ()).map_err(|e| meta(e.code(), e.message()))
                }
                "put-parameter" => ssm
                    .put_parameter()
                    .name(*name)
                    .value("https://example.invalid/x")
                    .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                    .overwrite(true)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| meta(e.code(), e.message())),
                _ => {
                    ssm.delete_parameter().name(*name).send().await.map(|_| ()).map_err(|e| meta(e.code(), e.message()))
                }
            };
            r.err().unwrap_or_else(|| "ok".into())
        }
        ["sagemaker", "presign", name] => aws_sdk_sagemaker::Client::new(&sdk)
            .create_presigned_notebook_instance_url()
            .notebook_instance_name(*name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| meta(e.code(), e.message()))
            .err()
            .unwrap_or_else(|| "ok".into()),
        _ => panic!("{args:?}"),
    }
}

#[test]
fn each_end_user_runs_the_whole_flow_on_their_own_notebook_without_naming_themselves() {
    let (acct, callers) = four_end_users();
    let rt = rt();
    for c in &callers {
        let u = c.user.as_str();
        let url = c.ok(&acct, &["url"]);
        assert!(starts_as_url_of(url.trim(), u), "{}: not {u}'s URL: {url}", c.arn);
        let before = rt.block_on(acct.parameter(u)).unwrap().version();
        c.ok(&acct, &["refresh", "-q"]);
        assert!(rt.block_on(acct.parameter(u)).unwrap().version() > before, "{u}: refresh stored nothing");
        assert_eq!(c.json(&acct, &["status"])["notebook"]["status"], "InService");
        c.ok(&acct, &["stop", "-q"]);
        assert_eq!(c.json(&acct, &["status"])["notebook"]["status"], "Stopped");
        c.ok(&acct, &["start", "--refresh", "-q"]);
        let out = c.json(&acct, &["update", "--instance-type", "ml.t3.large", "--yes"]);
        assert_eq!(out["effect"], "in_place", "{u}: {out}");
        c.ok(&acct, &["terminate", "--yes", "-q"]);
        assert!(rt.block_on(acct.parameter(u)).is_none(), "{u}: terminate left the URL");
    }
    assert_eq!(rt.block_on(acct.provisioned_count()), 0);
}

/// A session whose name is not a valid user name (Identity Center names sessions after the
/// user's `userName`, often an email): the default --user is one clear line, exit 2, no write.
#[test]
fn a_caller_whose_identity_maps_to_no_valid_user_is_told_to_pass_user() {
    let acct = Account::ready();
    let rt = rt();
    let policy = rt.block_on(end_user_policy_arn(&acct));
    let role = rt.block_on(permission_set_role(&acct, &policy));
    let frank = rt.block_on(sso_session(&acct, &role, "frank@example.com"));
    acct.configure(json!({"iam_enforced": 1}));
    let mark = acct.requests().len();
    let (code, out, err) = frank.run(&acct, &["provision", "-q"]);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("frank@example.com") && err.contains("--user"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(acct.writes_since(mark).is_empty());
}

// ------------------------------------------------------------------------------------------------
// serve, knowing who calls

/// A presigned sts:GetCallerIdentity as `refresh --endpoint` makes it, but signed at `at` and for
/// `server_id`: the tokens the CLI would not make (too old, for another server).
fn token_at(caller: &Caller, server_id: &str, at: std::time::SystemTime) -> String {
    use base64::Engine as _;
    let get = |k: &str| caller.env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let creds = aws_sdk_sts::config::Credentials::new(
        get("AWS_ACCESS_KEY_ID").unwrap(),
        get("AWS_SECRET_ACCESS_KEY").unwrap(),
        get("AWS_SESSION_TOKEN"),
        None,
        "test",
    );
    let identity: aws_smithy_runtime_api::client::identity::Identity = creds.into();
    let mut settings = aws_sigv4::http_request::SigningSettings::default();
    settings.signature_location = aws_sigv4::http_request::SignatureLocation::QueryParams;
    settings.expires_in = Some(std::time::Duration::from_secs(900));
    let params: aws_sigv4::http_request::SigningParams<'_> = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("{}/?Action=GetCallerIdentity&Version=2011-06-15", crate::support::sandbox().endpoint);
    let headers = [("x-notebook-vend-server-id", server_id)];
    let signable = aws_sigv4::http_request::SignableRequest::new(
        "GET",
        url.as_str(),
        headers.iter().copied(),
        aws_sigv4::http_request::SignableBody::Bytes(&[]),
    )
    .unwrap();
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).unwrap().into_parts();
    let mut presigned = url;
    for (k, v) in instructions.params() {
        let enc: String = v
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        presigned.push_str(&format!("&{k}={enc}"));
    }
    format!("nv-aws-v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned))
}

#[test]
fn serve_holds_each_caller_to_their_own_notebook_and_operators_to_none() {
    let acct = Account::new();
    acct.configure(json!({"record_seconds": 0.3, "pending_seconds": 0.3}));
    acct.json(&["bootstrap", "-q"]);
    let rt = rt();
    let policy = rt.block_on(end_user_policy_arn(&acct));
    let alice = rt.block_on(iam_user(&acct, &policy, "alice"));
    let bob = rt.block_on(iam_user(&acct, &policy, "bob"));
    let role = rt.block_on(permission_set_role(&acct, &policy));
    let carol = rt.block_on(sso_session(&acct, &role, "carol"));
    // The operator: an IAM user named to serve with --operator (its own policy does not matter to
    // serve, which acts with its own credentials).
    let otto = rt.block_on(iam_user(&acct, &policy, "otto"));
    acct.configure(json!({"iam_enforced": 1}));
    for c in [&alice, &bob, &carol] {
        c.ok(&acct, &["provision", "-q"]);
    }
    let mut srv = crate::support::Running::start(&acct, &["serve", "--listen", "127.0.0.1:0", "--operator", &otto.arn]);
    let line = srv.wait_for_stderr("listening on ");
    let base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    let version = |u: &str| rt.block_on(acct.parameter(u)).map(|p| p.version()).unwrap_or(0);

    // Own notebook: 200, a fresh URL stored.
    for c in [&alice, &carol] {
        let before = version(&c.user);
        let out = c.json(&acct, &["refresh", "--endpoint", &base, "--show-url"]);
        assert!(starts_as_url_of(out["url"].as_str().unwrap(), &c.user), "{out}");
        assert!(version(&c.user) > before, "{}: serve stored nothing", c.user);
    }
    // Someone else's: 403, nothing written.
    for (c, victim) in [(&alice, "bob"), (&carol, "alice"), (&bob, "carol")] {
        let before = version(victim);
        let mark = acct.requests().len();
        let (code, _, err) = c.run(&acct, &["refresh", "--user", victim, "--endpoint", &base]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("403") && err.contains(&c.arn) && err.contains(&format!("not {victim}'s")), "{err}");
        assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
        assert_eq!(version(victim), before);
    }
    // An operator, for anyone: 200.
    let before = version("bob");
    otto.ok(&acct, &["refresh", "--user", "bob", "--endpoint", &base]);
    assert!(version("bob") > before);

    // No valid identity: 401, nothing written. A token for another server (its id is signed in),
    // one older than 15 minutes, one with a wrong secret, and none at all.
    let now = std::time::SystemTime::now();
    let old = now - std::time::Duration::from_secs(20 * 60);
    let forged = Caller {
        user: alice.user.clone(),
        arn: alice.arn.clone(),
        env: alice
            .env
            .iter()
            .map(|(k, v)| (*k, if *k == "AWS_SECRET_ACCESS_KEY" { "not-the-secret".to_owned() } else { v.clone() }))
            .collect(),
    };
    let cases = [
        ("another server", Some(token_at(&alice, "http://127.0.0.1:1", now))),
        ("expired", Some(token_at(&alice, &base, old))),
        ("wrong secret", Some(token_at(&forged, &base, now))),
        ("unsigned", None),
    ];
    let before = version("alice");
    let mark = acct.requests().len();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for (what, token) in &cases {
            let mut req = http.post(format!("{base}/refreshurl")).body(r#"{"notebook_user_name":"alice"}"#);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert_eq!(status, 401, "{what}: {body}");
        }
    });
    assert!(acct.writes_since(mark).is_empty(), "{:?}", acct.writes_since(mark));
    assert_eq!(version("alice"), before);
    // The CLI's own token for another server id is refused the same way.
    let (code, _, err) = alice.run(&acct, &["refresh", "--endpoint", &base, "--server-id", "http://127.0.0.1:1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("401"), "{err}");
    assert_eq!(srv.terminate(), 0);
}
