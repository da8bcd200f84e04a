//! The binary under test, started with nothing of the developer's environment.
//!
//! Shared by the end-to-end crate (`support::Account` builds on it) and by `tests/cli.rs`, which
//! includes this file with `#[path]` so the parser tests link no SDK crate and need no sandbox.
//! Nothing here may depend on the sandbox or the AWS SDK.

use std::path::Path;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_notebook-vend");

/// Variables passed through from the test process; every other one is cleared. PATH, for the
/// `BROWSER` script of `url --open`; LLVM_PROFILE_FILE, so a coverage run still measures the child.
const PASSED_THROUGH: &[&str] = &["PATH", "LLVM_PROFILE_FILE"];

/// A blank HOME with empty AWS config and credentials files (no SDK warning about missing ones).
pub fn blank_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config"), "").unwrap();
    std::fs::write(home.path().join("credentials"), "").unwrap();
    home
}

/// The binary with an environment built from nothing: the whole inherited environment is cleared
/// (a developer's AWS_PROFILE, AWS_REGION, AWS_*, NOTEBOOK_VEND_*, XDG_CONFIG_HOME, HTTPS_PROXY,
/// RUST_LOG, BROWSER never reach it), HOME is `home` (from [`blank_home`]) with its empty AWS
/// config files, and the working directory is `home` too, so a `./notebook-vend.toml` in the
/// checkout is not read. No region and no credentials: callers add what the test needs.
/// Every test that spawns the binary starts from here.
pub fn isolated_command(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear();
    for name in PASSED_THROUGH {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.current_dir(home)
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// The subcommands listed by `--help` (continuation lines of wrapped descriptions skipped).
pub fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}
