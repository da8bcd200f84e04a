//! One file per subcommand, each `run(args, &Context)`; `shared/` holds what several of them use.
//! Commands orchestrate: they call the `aws` layer's functions and the `plan` layer, never an SDK client.

pub mod bootstrap;
pub mod completions;
pub mod config;
pub mod cull;
pub mod doctor;
pub mod home;
pub mod list;
pub mod man;
pub mod policy;
pub mod provision;
pub mod refresh;
pub mod schedule;
pub mod serve;
pub mod shared;
pub mod start;
pub mod status;
pub mod stop;
pub mod teardown;
pub mod terminate;
pub mod update;
pub mod url;
pub mod watch;
