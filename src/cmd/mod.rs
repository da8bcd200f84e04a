//! One file per subcommand, each `run(args, &Context)`.

pub mod bootstrap;
pub mod completions;
pub mod config;
pub mod cull;
pub mod doctor;
pub mod list;
pub mod man;
pub mod policy;
pub mod provision;
pub mod refresh;
pub mod schedule;
pub mod serve;
pub mod start;
pub mod status;
pub mod stop;
pub mod teardown;
pub mod terminate;
pub mod update;
pub mod url;
pub mod watch;
