//! The page's long operations (provision, update: minutes) run in the background, one per user at
//! a time, through the same code as `notebook-vend provision --user U` / `update --user U`; the page
//! shows them while they run and their failure afterwards. And the per-user limit on Open.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, FromArgMatches};

use crate::aws::context::Context;

/// Opens per user per minute: a person clicks Open a few times; a script minting URLs in a loop
/// (CreatePresignedNotebookInstanceUrl is paced account-wide) is stopped.
pub const OPENS_PER_MINUTE: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Provision,
    Update,
}

impl Kind {
    pub fn doing(self) -> &'static str {
        match self {
            Kind::Provision => "Creating your notebook",
            Kind::Update => "Updating your notebook",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub kind: Kind,
    pub started: Instant,
    /// None while it runs; then Ok or the one-line reason it failed.
    pub outcome: Option<Result<(), String>>,
}

#[derive(Default)]
pub struct Jobs(Mutex<HashMap<String, Job>>);

impl Jobs {
    pub fn get(&self, user: &str) -> Option<Job> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(user).cloned()
    }

    fn set(&self, user: &str, job: Job) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(user.to_owned(), job);
    }

    /// Start `kind` for `user` unless one of theirs is running; false when one is.
    fn begin(&self, user: &str, kind: Kind) -> bool {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if all.get(user).is_some_and(|j| j.outcome.is_none()) {
            return false;
        }
        all.insert(user.to_owned(), Job { kind, started: Instant::now(), outcome: None });
        true
    }
}

/// A command's own arguments, as its flags would give them.
fn args_of<T: Args + FromArgMatches>(argv: &[&str]) -> Result<T, String> {
    let cmd = T::augment_args(clap::Command::new("notebook-vend").no_binary_name(true));
    let matches = cmd.try_get_matches_from(argv).map_err(|e| e.to_string())?;
    T::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// Runs the jobs: one thread with its own single-threaded runtime, alive as long as `serve`.
/// provision's and update's futures are not `Send` (rustc cannot prove it for some of their
/// borrows), so they cannot go to `tokio::spawn`; here they run as local tasks, and the runtime
/// keeps being driven so that the SDK's pooled connections created on it keep working.
pub struct Runner {
    jobs: Arc<Jobs>,
    tx: tokio::sync::mpsc::UnboundedSender<(String, Kind)>,
}

impl Runner {
    pub fn start(jobs: Arc<Jobs>, ctx: Arc<Context>) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Kind)>();
        let done = jobs.clone();
        let spawned = std::thread::Builder::new().name("home-jobs".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::error!("home page jobs cannot run: {e}"),
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                while let Some((user, kind)) = rx.recv().await {
                    let (jobs, ctx) = (done.clone(), ctx.clone());
                    tokio::task::spawn_local(async move { run(&jobs, &ctx, &user, kind).await });
                }
            });
        });
        if let Err(e) = spawned {
            tracing::error!("home page jobs cannot run: {e}");
        }
        Runner { jobs, tx }
    }

    /// Run `kind` for `user` in the background (at most one per user at a time).
    pub fn launch(&self, user: &str, kind: Kind) {
        if self.jobs.begin(user, kind) && self.tx.send((user.to_owned(), kind)).is_err() {
            let failed = Err("the background runner is not running".to_owned());
            self.jobs.set(user, Job { kind, started: Instant::now(), outcome: Some(failed) });
        }
    }
}

async fn run(jobs: &Jobs, ctx: &Context, user: &str, kind: Kind) {
    let outcome = match kind {
        Kind::Provision => match args_of::<crate::cli::ProvisionArgs>(&["--user", user]) {
            Ok(args) => crate::cmd::provision::run(&args, ctx).await.map_err(|e| format!("{e:#}")),
            Err(e) => Err(e),
        },
        // The newest version, no parameter changed; an update that would replace the notebook
        // (and lose its data) is refused by `update` itself and shown as the reason.
        Kind::Update => match args_of::<crate::cli::UpdateArgs>(&["--user", user]) {
            Ok(args) => crate::cmd::update::run(&args, ctx).await.map_err(|e| format!("{e:#}")),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = &outcome {
        tracing::warn!(user, "home page {kind:?} failed: {e}");
    }
    let started = jobs.get(user).map(|j| j.started).unwrap_or_else(Instant::now);
    jobs.set(user, Job { kind, started, outcome: Some(outcome) });
}

/// At most `max` takes per user in any `window`.
pub struct RateLimit {
    max: usize,
    window: Duration,
    taken: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimit {
    pub fn new(max: usize, window: Duration) -> Self {
        RateLimit { max, window, taken: Mutex::new(HashMap::new()) }
    }

    /// Ok, or how long until the next take is allowed.
    pub fn take(&self, user: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut all = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let times = all.entry(user.to_owned()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_counts_per_user() {
        let limit = RateLimit::new(2, Duration::from_secs(60));
        assert!(limit.take("alice").is_ok());
        assert!(limit.take("alice").is_ok());
        assert!(limit.take("alice").unwrap_err() > Duration::from_secs(50));
        assert!(limit.take("bob").is_ok());
    }

    #[test]
    fn the_commands_arguments_parse_as_their_flags() {
        let p: crate::cli::ProvisionArgs = args_of(&["--user", "alice"]).unwrap();
        assert_eq!(p.user, "alice");
        let u: crate::cli::UpdateArgs = args_of(&["--user", "alice"]).unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
    }
}
