//! Shell completions and the man page cover every subcommand `--help` lists, offline.

use crate::support::{self, Account};

#[test]
fn completions_and_man_cover_every_subcommand() {
    let acct = Account::new();
    let help = acct.ok(&["--help"]);
    let subcommands = support::subcommands(&help);
    assert!(subcommands.len() >= 15, "{subcommands:?}");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = acct.ok(&["completions", shell]);
        for sub in &subcommands {
            assert!(script.contains(sub.as_str()), "{shell} completion lacks {sub}");
        }
    }
    let man = acct.ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH notebook-vend 1"), "{}", &man[..200]);
    for sub in &subcommands {
        assert!(man.contains(&format!(".TH notebook-vend-{sub} ")), "man lacks a page for {sub}");
    }
    assert!(acct.requests().is_empty());
}
