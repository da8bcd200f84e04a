//! Every end-to-end test of notebook-vend: the real binary against the local sandbox
//! (`scripts/sandbox.sh up`; `scripts/test.sh` starts one). One test crate, as ripgrep, xh and
//! cargo-lambda do: the SDK crates and the helpers are compiled and linked once, not once per file.
//!
//! `cargo test --test e2e` runs them all; `cargo test --test e2e faults::` one area.
//! The parser tests (no sandbox, no SDK) are `tests/cli.rs`.
//!
//! Adding an area: create `tests/e2e/<area>.rs`, start it with `use crate::support::{Account, ...};`
//! and add `mod <area>;` below. A file written against the old `tests/common` (`mod common;` and
//! `use common::...`) folds in by deleting `mod common;` and writing `crate::support` for `common`:
//! `support` keeps `tests/common`'s API (`Account::new/ready/run/ok/json/requests/count/control/
//! configure/parameter/sdk`, `sandbox()`, `BIN`, `is_write`, `subcommands`). Add a helper to
//! `support/` only once a second area needs it, and give it a name that says what it checks.

mod support;

mod adopt;
mod aws_rules;
mod bad_input;
mod bootstrap;
mod bulk;
mod config;
mod faults;
mod hardening;
mod hardening2;
mod hardening3;
mod hygiene;
mod iam_enforced;
mod lifecycle;
mod quotas;
mod regions;
mod schedule;
mod settings;
mod states;
mod terminate_retry;
mod update;
mod update_safety;
mod vending;
mod watch_serve;
