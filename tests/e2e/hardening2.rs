//! Issue 14: what an adversarial probe found (lockout, --profile, serve limits, credential
//! exposure, races, input limits). Each test fails without its fix.

use crate::support::{rt, Account};

/// Item 1: the provision token had a budget of three provision/terminate cycles per user per UTC
/// day; the fourth provision failed until midnight.
#[test]
fn provision_terminate_cycles_are_not_limited_per_day() {
    let acct = Account::bootstrapped(0.2, &[]);
    for cycle in 0..4 {
        let (code, _, err) = acct.run(&["provision", "--user", "cyc", "-q"]);
        assert_eq!(code, 0, "provision of cycle {cycle} failed: {err}");
        assert_eq!(rt().block_on(acct.provisioned_count()), 1, "cycle {cycle}");
        acct.ok(&["terminate", "--user", "cyc", "--yes", "-q"]);
    }
    assert_eq!(acct.count_ok("TerminateProvisionedProduct"), 4);
}

/// Item 2: `--profile` outranks environment credentials (as the AWS CLI does), and a profile that
/// does not exist is exit 2 before any request (it used to fall back to the environment's keys).
#[test]
fn an_explicit_profile_wins_over_environment_credentials() {
    let env_acct = Account::new();
    let profile_acct = Account::new();
    let creds = format!("[other]\naws_access_key_id = {}\naws_secret_access_key = sandbox\n", profile_acct.id);
    std::fs::write(env_acct.home.path().join("credentials"), creds).unwrap();
    env_acct.run(&["--profile", "other", "doctor"]);
    assert!(env_acct.requests().is_empty(), "the environment's keys were used: {:?}", env_acct.requests());
    assert!(!profile_acct.requests().is_empty(), "the profile's keys were not used");

    for args in [vec!["--profile", "doesnotexist", "list"], vec!["list", "--profile", "doesnotexist"]] {
        let (code, _, err) = env_acct.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("doesnotexist"), "{err}");
    }
    let out = env_acct.cmd().env("AWS_PROFILE", "doesnotexist").args(["list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env_acct.requests().is_empty(), "{:?}", env_acct.requests());
}
