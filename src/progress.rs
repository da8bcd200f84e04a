//! Progress on stderr: indicatif spinners on a terminal, plain lines otherwise, nothing with --quiet.
//! Also remembers what is in flight, so an interrupted command can say what it left behind.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    bars: bool,
    quiet: bool,
}

/// What the command is waiting on and how to resume it, for the Ctrl-C message.
static IN_FLIGHT: Mutex<Option<String>> = Mutex::new(None);

pub fn set_in_flight(what: impl Into<String>) {
    *IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()) = Some(what.into());
}

/// The one wording of "how to resume": `run `CMD` to resume`. Used by the Ctrl-C message, the
/// timeout error and every in-flight note, so they all read alike.
pub fn resume_hint(command: &str) -> String {
    format!("run `{command}` to resume")
}

/// [`set_in_flight`] with the resume hint: "WHAT; run `COMMAND` to resume".
pub fn set_resumable(what: impl AsRef<str>, command: &str) {
    set_in_flight(format!("{}; {}", what.as_ref(), resume_hint(command)));
}

pub fn clear_in_flight() {
    *IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

pub fn in_flight() -> Option<String> {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// stderr is a terminal that can redraw (not TERM=dumb): bars and colour are worth drawing.
pub fn stderr_is_interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

impl Progress {
    pub fn new(no_progress: bool, quiet: bool) -> Self {
        Progress { bars: !no_progress && !quiet && stderr_is_interactive(), quiet }
    }

    /// A line on stderr (a hint, a stack event), unless --quiet.
    pub fn line(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            // indicatif redraws its bars around lines printed this way.
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A spinner with a message and the elapsed time. Without a terminal the message is printed
    /// as a line whenever it changes.
    pub fn task(&self, msg: impl Into<String>) -> Task {
        let msg = msg.into();
        let bar = self.bars.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let task = Task { bar, quiet: self.quiet, last: Mutex::new(String::new()) };
        task.set(msg);
        task
    }

    /// A task that shows nothing: one of many running under a counter.
    pub fn silent(&self) -> Task {
        Task { bar: None, quiet: true, last: Mutex::new(String::new()) }
    }

    /// A bar counting items done out of `len` (refresh --all, teardown).
    pub fn counter(&self, len: u64, msg: impl Into<String>) -> Task {
        let bar = self.bars.then(|| {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]").expect("valid template"),
            );
            bar
        });
        let task = Task { bar, quiet: self.quiet, last: Mutex::new(String::new()) };
        task.set(msg);
        task
    }
}

pub struct Task {
    bar: Option<ProgressBar>,
    quiet: bool,
    last: Mutex<String>,
}

impl Task {
    pub fn set(&self, msg: impl Into<String>) {
        let msg = msg.into();
        match &self.bar {
            Some(bar) => bar.set_message(msg),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if !self.quiet && *last != msg {
                    eprintln!("{msg}");
                }
                *last = msg;
            }
        }
    }

    /// A line printed above the bar (or plainly), unless --quiet.
    pub fn println(&self, msg: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => bar.println(msg.as_ref()),
            None if !self.quiet => eprintln!("{}", msg.as_ref()),
            None => {}
        }
    }

    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Log targets of the AWS SDK and the HTTP stack under it, which print request and response
/// bodies (presigned URLs, tokens) at trace level: main.rs caps them at debug whatever RUST_LOG says.
pub fn is_wire_target(target: &str) -> bool {
    ["aws_", "hyper", "h2", "rustls", "tower", "http_body", "reqwest"].iter().any(|p| target.starts_with(p))
}
