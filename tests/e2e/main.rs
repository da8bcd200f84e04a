//! The end-to-end tests of notebook-vend: the real binary, run as a user would run it, against the
//! local AWS sandbox (`scripts/sandbox.sh up`; `scripts/test.sh` starts one). Each test gets an
//! AWS account of its own in the sandbox, so tests run in parallel without seeing each other.
//! One test crate, so the SDK crates and the helpers in `support/` are compiled and linked once.
//! The parser tests, which need no sandbox, are `tests/cli.rs`.
//!
//! Run them all with `cargo test --test e2e`, one area with `cargo test --test e2e -- <area>::`
//! (e.g. `update::`), one test by its name.
//!
//! Adding a test: put it in the area whose behaviour it checks. Adding an area (a behaviour none
//! below covers): create `tests/e2e/<area>.rs` named for the behaviour, start it with a `//!` line
//! saying what it checks and `use crate::support::{Account, ...};`, and add `mod <area>;` below.
//! A helper goes to `support/` once a second area needs it, named for what it does or checks.
//!
//! The areas:
//! - `adopt`: a deployment made by the AWS blog sample's own steps is recognised, used and taken over.
//! - `aws_rules`: one test per documented AWS rule the tool must follow, the rule named.
//! - `bootstrap`: stacks, product and product versions; idempotent reruns; templates checked first.
//! - `browser`: the home page in headless chromium over WebDriver: shows, stops, starts, opens, refuses a forged POST.
//! - `bulk`: `refresh --all` reads in batches: a presign and a PutParameter per user, no more.
//! - `completions`: shell completions and the man page cover every subcommand.
//! - `deployments`: named deployments side by side, never reaching each other's notebooks.
//! - `doctor`: the checks pass on a bootstrapped account and name the fix otherwise.
//! - `home_page`: `serve --alb-arn`: the ALB's sign-in only, each user's own notebook, Open stores nothing, no cross-site POST.
//! - `faults`: throttling, 5xx, dropped answers, SIGKILL and SIGINT: reruns converge exactly.
//! - `iam_enforced`: each role runs its commands holding only the policy `policy <role>` prints.
//! - `input`: bad input is exit 2, one line naming the value, no request sent.
//! - `isolation`: each data scientist reaches only their own notebook (IAM users, SSO-like sessions, serve's identity).
//! - `lifecycle`: list, status, stop, start, cull, terminate (and its retry), teardown.
//! - `quotas`: `refresh --all` under AWS request-rate quotas paces, retries and fails no one.
//! - `races`: two commands on one notebook at once: no URL outlives its notebook.
//! - `regions`: the whole workflow in a Region launched after 2019 (af-south-1).
//! - `schedule`: working hours through EventBridge Scheduler: set, show, clear, the default, firing.
//! - `secrets`: a presigned URL is never in a log, an argument list, a file left behind or a history.
//! - `serverless_deploy`: `bootstrap --serverless`: package checks, content-addressed upload, the third stack.
//! - `serve`: the refresh API: token, errors before any AWS call, limits on clients.
//! - `settings`: flag over environment over settings file over default, for every command.
//! - `states`: states AWS reaches without the tool (TAINTED, stack failures, maintenance).
//! - `update`: new versions and parameter changes reach notebooks without ever losing one.
//! - `vending`: provision, refresh and url: one product, one notebook, a fresh stored URL.
//! - `watch`: provisions and updates made anywhere get their URL, from records, CloudTrail or one event.

mod support;

mod adopt;
mod aws_rules;
mod bootstrap;
mod browser;
mod bulk;
mod completions;
mod deployments;
mod doctor;
mod faults;
mod home_page;
mod iam_enforced;
mod input;
mod isolation;
mod lifecycle;
mod quotas;
mod races;
mod regions;
mod schedule;
mod secrets;
mod serve;
mod serverless;
mod serverless_deploy;
mod settings;
mod states;
mod update;
mod vending;
mod watch;
