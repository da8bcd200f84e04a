//! Waiting: one deadline per command, an adaptive interval, and errors that say how to resume.
//!
//! The interval ramps 0.5 s, 1 s, 1.5 s, then stays at 2 s: a state change is seen within about a
//! second on average (2 s at worst) while a long wait costs at most 0.5 describe calls per second.
//! Notebook state changes use a steady interval instead ([`STEADY`]): they take minutes on AWS, so
//! a ramp only spends calls at the start of a wait that cannot end yet.

use std::time::Duration;

use tokio::time::Instant;

use anyhow::Result;

use crate::error::Failure;

const FIRST: Duration = Duration::from_millis(500);
const STEP: Duration = Duration::from_millis(500);
const CAP: Duration = Duration::from_secs(2);

/// Interval of notebook waits (Pending -> InService takes minutes on AWS, Stopping -> Stopped one
/// or two). A detection lag target of 1.5 s (median) and a budget of 0.5 describe calls per second
/// per notebook hold for any steady interval from 2 s to 3 s; 2.5 s sits in the middle of that band:
/// a change is seen 1.25 s later on median (2.5 s at worst) for 0.4 calls per second.
pub const STEADY: Duration = Duration::from_millis(2500);

/// Run a read again when it fails transiently (throttling, 5xx, a dropped connection) after the
/// SDK's own attempts: a read that decides what a command says (a permission, a template) must not
/// turn one bad moment into a wrong conclusion. Three more tries, 0.5 s, 1 s, 1.5 s apart.
pub async fn again_if_transient<T, F, Fut>(mut read: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0u32;
    loop {
        match read().await {
            Err(e) if crate::error::is_transient(&e) && tries < 3 => {
                tries += 1;
                tokio::time::sleep(STEP * tries).await;
            }
            other => return other,
        }
    }
}

/// The moment a command gives up (its `--timeout`), shared by all its phases.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Self {
        Deadline { at: Instant::now() + total, total }
    }

    pub fn secs(secs: u64) -> Self {
        Self::after(Duration::from_secs(secs))
    }

    /// A poller for one phase: `what` names what is awaited, `resume` the command that resumes it.
    pub fn poller(&self, what: impl Into<String>, resume: impl Into<String>) -> Poller {
        Poller {
            deadline: *self,
            what: what.into(),
            resume: resume.into(),
            interval: FIRST,
            steady: false,
            started: Instant::now(),
        }
    }

    /// A poller that waits `interval` between polls, without a ramp (see [`STEADY`]).
    /// A poller for a notebook state change: every [`STEADY`] interval, no ramp.
    pub fn steady_poller(&self, what: impl Into<String>, resume: impl Into<String>) -> Poller {
        Poller {
            deadline: *self,
            what: what.into(),
            resume: resume.into(),
            interval: STEADY,
            steady: true,
            started: Instant::now(),
        }
    }
}

pub struct Poller {
    deadline: Deadline,
    what: String,
    resume: String,
    interval: Duration,
    steady: bool,
    started: Instant,
}

impl Poller {
    /// Sleep until the next poll, or fail with a timeout once the deadline has passed.
    /// `state` is the last state seen, for the timeout message.
    pub async fn wait(&mut self, state: &str) -> Result<()> {
        let now = Instant::now();
        if now >= self.deadline.at {
            return Err(Failure::Timeout(format!(
                "timed out after {}s waiting for {} (still {state}); {}",
                self.deadline.total.as_secs(),
                self.what,
                crate::progress::resume_hint(&self.resume)
            ))
            .into());
        }
        let sleep = self.interval.min(self.deadline.at - now);
        tokio::time::sleep(sleep).await;
        if !self.steady {
            self.interval = (self.interval + STEP).min(CAP);
        }
        Ok(())
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;

    #[tokio::test(start_paused = true)]
    async fn ramps_then_caps_and_times_out() {
        let d = Deadline::secs(5);
        let mut p = d.poller("notebook x", "notebook-vend provision --user x");
        let t0 = tokio::time::Instant::now();
        let mut ticks = vec![];
        loop {
            match p.wait("Pending").await {
                Ok(()) => ticks.push(t0.elapsed().as_millis()),
                Err(e) => {
                    assert_eq!(exit_code(&e), 3);
                    let msg = e.to_string();
                    assert!(
                        msg.contains("notebook x")
                            && msg.contains("still Pending")
                            && msg.contains("provision --user x"),
                        "{msg}"
                    );
                    break;
                }
            }
        }
        assert_eq!(ticks, vec![500, 1500, 3000, 5000]);
    }

    #[tokio::test(start_paused = true)]
    async fn steady_keeps_its_interval() {
        let d = Deadline::secs(10);
        let mut p = d.steady_poller("notebook x", "resume");
        let t0 = tokio::time::Instant::now();
        let mut ticks = vec![];
        while p.wait("Pending").await.is_ok() {
            ticks.push(t0.elapsed().as_millis());
        }
        assert_eq!(ticks, vec![2500, 5000, 7500, 10000]);
    }
}
