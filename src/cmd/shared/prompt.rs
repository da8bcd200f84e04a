//! Questions asked on the terminal before a destructive step (bootstrap's adoption, teardown,
//! terminate, update's replacement): the answer is read from stdin, the question goes to stderr.

use std::io::IsTerminal;

use anyhow::Result;

use crate::error::usage;

/// Ask on stderr and read one line from stdin: "y" or "yes" (any case) confirms. The read runs on
/// its own thread so that Ctrl-C still interrupts the command while it waits for an answer.
pub async fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let answer = rx.await.map_err(|_| anyhow::anyhow!("could not read the answer from stdin"))??;
    Ok(is_yes(&answer))
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Refuse (exit 2, before any AWS call) when confirmation is needed and stdin cannot give it.
pub fn require_answerable(yes: bool, dry_run: bool, what: &str) -> Result<()> {
    if yes || dry_run || std::io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(usage(format!("refusing to {what} without --yes: stdin is not a terminal, so nobody can confirm")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_confirms() {
        for yes in ["y", "Y", "yes", "YES\n", "  yes \r\n"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "y es", "oui"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
