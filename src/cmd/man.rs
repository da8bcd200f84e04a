//! `man`: the man page (roff) on stdout: notebook-vend(1), then one page per subcommand
//! (notebook-vend-provision(1), ...), as git's pages are split.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

pub fn run() -> Result<()> {
    let cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let page = format!("notebook-vend-{}", sub.get_name());
        let sub = sub.clone().display_name(page.clone()).bin_name(format!("notebook-vend {}", sub.get_name()));
        clap_mangen::Man::new(sub).title(page).render(&mut out)?;
    }
    Ok(())
}
