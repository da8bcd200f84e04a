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
