//! Running one operation over many users (or notebooks, or products) at once: at most N in flight,
//! every outcome kept (one user's failure never stops the others), a counter ticking as they
//! finish, then a tally of what succeeded and failed that decides the exit status.
//!
//! The result tables stay with each command: their columns and JSON field names are part of each
//! command's output (`refreshed`, `updated`, `stopped`...), which scripts read.

use std::future::Future;

use anyhow::{bail, Result};
use futures::stream::{self, StreamExt};

use crate::progress::Task;

/// Runs `op` on every item, at most `concurrency` at a time (at least one: `buffer_unordered(0)`
/// never starts any), and returns what each gave in the order they finished.
pub async fn bounded<I, R, F, Fut>(items: impl IntoIterator<Item = I>, concurrency: usize, op: F) -> Vec<R>
where
    F: FnMut(I) -> Fut,
    Fut: Future<Output = R>,
{
    stream::iter(items).map(op).buffer_unordered(concurrency.max(1)).collect().await
}

/// Which finished items get a line of their own above the counter.
#[derive(Debug, Clone, Copy)]
pub enum Lines {
    /// `name: error` for each failure; successes show in the counter and the final table.
    Failures,
    /// `verb name` for each success (`terminated SC-...`); failures are reported together at the end.
    Successes(&'static str),
}

/// [`bounded`] for an operation that can fail per item: `counter` ticks as each one finishes and
/// `lines` says which get a line; every outcome is kept under the item's `name`, in the order
/// they finished.
pub async fn each<I, T, N, F, Fut>(
    items: impl IntoIterator<Item = I>,
    concurrency: usize,
    counter: &Task,
    lines: Lines,
    name: N,
    op: F,
) -> Vec<(String, Result<T>)>
where
    N: Fn(&I) -> String,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let (name, op) = (&name, &op);
    bounded(items, concurrency, |item| async move {
        let key = name(&item);
        let result = op(item).await;
        counter.inc();
        match (&result, lines) {
            (Err(e), Lines::Failures) => counter.println(format!("{key}: {e:#}")),
            (Ok(_), Lines::Successes(verb)) => counter.println(format!("{verb} {key}")),
            _ => {}
        }
        (key, result)
    })
    .await
}

/// How a run over many users went: how many succeeded and how many failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub succeeded: usize,
    pub failed: usize,
}

impl Tally {
    /// Counts the rows `failed` says failed; every other row succeeded.
    pub fn count<R>(rows: &[R], failed: impl Fn(&R) -> bool) -> Tally {
        let failed = rows.iter().filter(|r| failed(r)).count();
        Tally { succeeded: rows.len() - failed, failed }
    }

    pub fn total(self) -> usize {
        self.succeeded + self.failed
    }

    /// The exit status of the run, once its table is printed: exit 1 with `message` when any
    /// failed (the table above names them), success otherwise.
    pub fn exit_status(self, message: impl FnOnce(Tally) -> String) -> Result<()> {
        if self.failed > 0 {
            bail!(message(self));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn bounded_never_runs_more_than_asked_and_keeps_every_result() {
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut got: Vec<u32> = bounded(0..20u32, 3, |i| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        got.sort();
        assert_eq!(got, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn bounded_with_zero_still_runs_one_at_a_time() {
        let peak = AtomicUsize::new(0);
        let running = AtomicUsize::new(0);
        let run = bounded(0..5, 0, |_| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
            }
        });
        let got: Vec<()> =
            tokio::time::timeout(std::time::Duration::from_secs(5), run).await.expect("a zero bound still runs");
        assert_eq!(got.len(), 5);
        assert_eq!(peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn each_keeps_failures_beside_successes_under_their_names() {
        let counter = crate::progress::Progress::new(true, false).silent();
        let mut got = each(
            1..=4u32,
            2,
            &counter,
            Lines::Failures,
            |i| format!("user{i}"),
            |i| async move {
                if i % 2 == 0 {
                    anyhow::bail!("even")
                }
                Ok(i)
            },
        )
        .await;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let shown: Vec<(String, String)> = got
            .into_iter()
            .map(|(k, r)| (k, r.map(|v| v.to_string()).unwrap_or_else(|e| format!("err {e}"))))
            .collect();
        assert_eq!(
            shown,
            [("user1", "1"), ("user2", "err even"), ("user3", "3"), ("user4", "err even")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn tally_counts_and_fails_only_when_something_failed() {
        let t = Tally::count(&[true, false, true, true], |ok| !ok);
        assert_eq!(t, Tally { succeeded: 3, failed: 1 });
        assert_eq!(t.total(), 4);
        let err = t.exit_status(|t| format!("{} of {} failed", t.failed, t.total())).unwrap_err();
        assert_eq!(err.to_string(), "1 of 4 failed");
        assert!(Tally::count(&[true], |ok| !ok).exit_status(|_| unreachable!()).is_ok());
    }
}
