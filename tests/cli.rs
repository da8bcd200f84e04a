//! The binary's interface without AWS: help, version, exit codes for usage errors.

mod common;

use assert_cmd::Command;

fn bin() -> Command {
    let mut cmd = Command::new(common::BIN);
    cmd.env_remove("AWS_ENDPOINT_URL").env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

#[test]
fn help_lists_every_subcommand_with_an_example() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let subcommands = common::subcommands(&help);
    assert!(subcommands.len() >= 4, "{help}");
    for sub in subcommands {
        let out = bin().args([sub.as_str(), "--help"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success() && text.contains("\nExample") && text.contains("  notebook-vend "),
            "{sub} --help has no example: {text}"
        );
    }
}

#[test]
fn version() {
    let out = bin().arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("notebook-vend {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    for args in [
        vec!["provision"],
        vec!["provision", "--user", "bad_user"],
        vec!["nonsense"],
        vec!["refresh", "--user", "a", "--all"],
        vec!["--output", "yaml", "list"],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{err}");
    }
}

#[test]
fn missing_region_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = bin()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .args(["url", "--user", "alice"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("no AWS region"));
}
