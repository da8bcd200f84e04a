//! `completions SHELL`: a completion script for bash, zsh, fish, powershell or elvish on stdout.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) {
    clap_complete::generate(args.shell, &mut Cli::command(), "notebook-vend", &mut std::io::stdout());
}
