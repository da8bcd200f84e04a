//! The binary as a long-running child process (watch, serve, a provision to kill or interrupt).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Account;

/// A child process with the account's environment (as `Account::cmd`), stdin closed, stdout piped
/// and its stderr collected line by line as it comes.
pub struct Running {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Running {
    pub fn start(acct: &Account, args: &[&str]) -> Running {
        Self::start_with(acct, args, &[])
    }

    /// [`Running::start`] with these environment variables added.
    pub fn start_with(acct: &Account, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = acct.std_cmd();
        cmd.args(args).envs(env.iter().copied()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Running { child, stderr, reader: Some(reader) }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait (30 s at most) for a stderr line containing `needle`; returns the line.
    pub fn wait_for_stderr(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.stderr();
            if let Some(line) = s.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exited {status} before printing {needle:?}: {s}");
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no {needle:?} on stderr: {s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send a signal by name (`"INT"`, `"TERM"`) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(ok.success(), "kill -{name} failed");
    }

    /// SIGKILL: no handler runs, nothing is cleaned up.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
    }

    /// Wait for the exit and for the end of stderr; returns the exit code (None when a signal
    /// ended it) and the whole stderr.
    pub fn wait(&mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status.code(), self.stderr())
    }

    /// SIGTERM, then the exit code (-1 when a signal ended it); 20 s at most.
    pub fn terminate(&mut self) -> i32 {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < Duration::from_secs(20), "still running after SIGTERM: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
