//! One file per subcommand, each `run(args, &Context)`.

pub mod bootstrap;
pub mod provision;
pub mod refresh;
pub mod serve;
pub mod url;
pub mod watch;
