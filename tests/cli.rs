//! The binary's interface without AWS: help, version, exit codes for usage errors, and the
//! environment every test starts the binary with.
//!
//! A test binary of its own, beside the end-to-end crate (tests/e2e/): it needs no sandbox and
//! references no SDK crate, so `cargo test --test cli` builds quickly and runs anywhere (no
//! Python, no port). It shares the one command helper of tests/e2e/support.

#[allow(dead_code)] // BIN is for the e2e crate
#[path = "e2e/support/command.rs"]
mod command;

use assert_cmd::Command;

/// The binary with nothing of the developer's environment, in a blank HOME.
fn bin(home: &tempfile::TempDir) -> Command {
    Command::from_std(command::isolated_command(home.path()))
}

#[test]
fn help_lists_every_subcommand_with_an_example() {
    let home = command::blank_home();
    let out = bin(&home).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let subcommands = command::subcommands(&help);
    assert!(subcommands.len() >= 4, "{help}");
    for sub in subcommands {
        let out = bin(&home).args([sub.as_str(), "--help"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success() && text.contains("\nExample") && text.contains("  notebook-vend "),
            "{sub} --help has no example: {text}"
        );
    }
}

#[test]
fn version() {
    let out = bin(&command::blank_home()).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("notebook-vend {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let home = command::blank_home();
    for args in [
        vec!["provision", "--user"],
        vec!["provision", "--user", "bad_user"],
        vec!["nonsense"],
        vec!["refresh", "--user", "a", "--all"],
        vec!["--output", "yaml", "list"],
    ] {
        let out = bin(&home).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{err}");
    }
}

#[test]
fn missing_region_is_a_usage_error() {
    let out = bin(&command::blank_home()).args(["url", "--user", "alice"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("no AWS region"));
}

// ---------------------------------------------------------------------------------------------
// The developer's environment never reaches the binary.
//
// Setting variables in this process would race with the tests running beside it on other
// threads, so the test runs this test binary again as a child process with a poisoned
// environment, and there the probe starts the binary through the helper and checks what it saw.

/// Set in the child process only; the probe does nothing without it.
const PROBE: &str = "NOTEBOOK_VEND_TEST_LEAK_PROBE";

#[test]
fn the_developers_environment_does_not_reach_the_binary() {
    // A settings file wherever the binary could look for one: the user's config dir and the
    // working directory of the test process.
    let dev = tempfile::tempdir().unwrap();
    let toml = "[default]\nssm_prefix = \"/leaked/\"\nsession_seconds = 3600\n";
    std::fs::create_dir_all(dev.path().join("xdg/notebook-vend")).unwrap();
    std::fs::write(dev.path().join("xdg/notebook-vend/notebook-vend.toml"), toml).unwrap();
    std::fs::write(dev.path().join("notebook-vend.toml"), toml).unwrap();
    std::fs::create_dir_all(dev.path().join(".aws")).unwrap();
    std::fs::write(
        dev.path().join(".aws/config"),
        "[default]\nregion = eu-west-1\n[profile leaked]\nregion = eu-west-2\n",
    )
    .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "leak_probe", "--ignored", "--test-threads", "1"])
        .current_dir(dev.path())
        .env(PROBE, "1")
        .env("HOME", dev.path())
        .env("XDG_CONFIG_HOME", dev.path().join("xdg"))
        .env("AWS_PROFILE", "leaked")
        .env("AWS_REGION", "eu-west-3")
        .env("AWS_DEFAULT_REGION", "eu-west-3")
        .env("AWS_CONFIG_FILE", dev.path().join(".aws/config"))
        .env("NOTEBOOK_VEND_NAME", "leaked-name")
        .env("NOTEBOOK_VEND_SSM_PREFIX", "/leaked-env/")
        .env("NOTEBOOK_VEND_OUTPUT", "json")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the probe failed:\n{stdout}\n{stderr}");
    // It ran (a filter that matched nothing would pass too).
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
}

#[test]
#[ignore = "run by the_developers_environment_does_not_reach_the_binary, in a poisoned environment"]
fn leak_probe() {
    assert_eq!(std::env::var(PROBE).as_deref(), Ok("1"), "run only as the child of the test above");
    // The poison is really in this process, so the helper has something to keep out.
    assert_eq!(std::env::var("NOTEBOOK_VEND_NAME").as_deref(), Ok("leaked-name"));
    assert_eq!(std::env::var("AWS_PROFILE").as_deref(), Ok("leaked"));

    let home = command::blank_home();
    // No region from AWS_REGION, AWS_DEFAULT_REGION, the profile or the developer's ~/.aws/config.
    let out = bin(&home).args(["url", "--user", "alice"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no AWS region"), "a region leaked in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "RUST_LOG leaked in: {err}");

    // Every setting at its default: no NOTEBOOK_VEND_* variable, no settings file from
    // XDG_CONFIG_HOME, HOME or the working directory.
    let out = bin(&home).args(["config", "show"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.starts_with("config file  (none found)"),
        "a settings file was read, or the output env leaked: {text}"
    );
    let settings: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("SETTING")).skip(1).collect();
    assert!(settings.len() >= 5, "{text}");
    for line in settings {
        assert!(line.ends_with(" default"), "not the default: {line:?} in\n{text}");
    }
}
