//! Supervision of the dataplane process (`xrelay-dataplane`, issue 4).
//!
//! The dataplane does not exist yet. This is the hook it plugs into: with
//! `--dataplane PATH` the daemon spawns `PATH --config FILE --bpffs DIR
//! --shm STATE_DIR/counters.shm` (the options of the xrelay-dataplane in
//! progress; a provisional contract that issue 4 settles),
//! watches the pid, restarts it after an exit with a backoff of 1, 2, 4 …
//! 30 s, and stops it (SIGTERM, then SIGKILL after 5 s) on shutdown.
//! Without `--dataplane`, `status` says so plainly and nothing pretends to
//! forward. Heartbeats (DESIGN §1) and "find one started by a service
//! manager" come with the dataplane.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::admin::{DataplaneStatus, DATAPLANE_ABSENT};
use crate::logline;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum State {
    NotConfigured,
    Running(Child),
    /// Exited with this description; restart at the instant.
    Exited(String, Instant),
    SpawnFailed(String, Instant),
}

/// The dataplane process, if one is configured.
#[derive(Debug)]
pub struct Supervisor {
    bin: Option<PathBuf>,
    args: Vec<String>,
    state: State,
    restarts: u32,
    backoff: Duration,
}

impl Supervisor {
    /// `bin` None: no dataplane (today's normal case).
    pub fn new(bin: Option<PathBuf>, args: Vec<String>) -> Supervisor {
        Supervisor {
            bin,
            args,
            state: State::NotConfigured,
            restarts: 0,
            backoff: Duration::from_secs(1),
        }
    }

    /// Spawns the process when one is configured.
    pub fn start(&mut self) {
        let Some(bin) = &self.bin else {
            return;
        };
        let spawned = Command::new(bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .spawn();
        self.state = match spawned {
            Ok(child) => {
                logline::info(
                    "dataplane-started",
                    &[("bin", &bin.display()), ("pid", &child.id())],
                );
                State::Running(child)
            }
            Err(e) => {
                logline::error(
                    "dataplane-spawn-failed",
                    &[("bin", &bin.display()), ("error", &e)],
                );
                State::SpawnFailed(e.to_string(), Instant::now() + self.backoff)
            }
        };
    }

    /// Reaps an exited process and restarts after the backoff. Call it
    /// from the daemon's loop.
    pub fn poll(&mut self, now: Instant) {
        match &mut self.state {
            State::NotConfigured => {}
            State::Running(child) => match child.try_wait() {
                Ok(Some(status)) => {
                    logline::warn(
                        "dataplane-exited",
                        &[
                            ("pid", &child.id()),
                            ("status", &status),
                            ("restart_in_s", &self.backoff.as_secs()),
                        ],
                    );
                    self.state = State::Exited(status.to_string(), now + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
                Ok(None) => {}
                Err(e) => logline::error("dataplane-wait-failed", &[("error", &e)]),
            },
            State::Exited(_, at) | State::SpawnFailed(_, at) => {
                if now >= *at {
                    self.restarts += 1;
                    self.start();
                }
            }
        }
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        let State::Running(child) = &mut self.state else {
            return;
        };
        if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.state = State::NotConfigured;
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.state = State::NotConfigured;
    }

    pub fn status(&self) -> DataplaneStatus {
        let (state, pid, message) = match &self.state {
            State::NotConfigured => ("not-running", None, DATAPLANE_ABSENT.to_owned()),
            State::Running(c) => (
                "running",
                Some(c.id()),
                format!(
                    "process running (restarts: {}); heartbeats are not checked yet (issue 4)",
                    self.restarts
                ),
            ),
            State::Exited(s, _) => (
                "exited",
                None,
                format!("{s}; restarting (restarts so far: {})", self.restarts),
            ),
            State::SpawnFailed(e, _) => ("spawn-failed", None, e.clone()),
        };
        DataplaneStatus {
            state: state.into(),
            pid,
            message,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_by_default() {
        let mut s = Supervisor::new(None, Vec::new());
        s.start();
        s.poll(Instant::now());
        let st = s.status();
        assert_eq!(st.state, "not-running");
        assert_eq!(st.message, DATAPLANE_ABSENT);
    }

    /// The mechanism with a stand-in process (no dataplane exists).
    #[test]
    fn a_stand_in_process_is_watched_and_restarted() {
        let mut s = Supervisor::new(Some("/bin/sleep".into()), vec!["30".into()]);
        s.start();
        assert!(s.is_running());
        let pid = s.status().pid;
        assert!(pid.is_some());
        if let State::Running(c) = &mut s.state {
            let _ = c.kill();
        }
        let t0 = Instant::now();
        while s.is_running() && t0.elapsed() < Duration::from_secs(5) {
            s.poll(Instant::now());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(s.status().state, "exited");
        s.poll(Instant::now() + Duration::from_secs(2));
        assert!(s.is_running());
        assert_ne!(s.status().pid, pid);
        s.stop();
        assert_eq!(s.status().state, "not-running");
    }
}
