//! Supervision of the dataplane process (`xrelay-dataplane`).
//!
//! Two modes:
//!
//! * **spawned** (the default): the daemon starts `BIN --config FILE --bpffs
//!   DIR --shm STATE_DIR/counters.shm [pass-through options]`, and watches
//!   it: the pid (reaped every poll) and the per-block heartbeats of the
//!   counter file (`xrelay_dataplane::shm`). Healthy = alive and every
//!   block's heartbeat younger than [`STALE`]. A process that exits is
//!   started again at once; one that stalls (a heartbeat older than
//!   [`STALE`] once it was running, or no fresh heartbeats within
//!   [`STARTUP_GRACE`] of its start) is killed with SIGKILL and started again
//!   at once. Only a crash loop (an exit before it ever became healthy)
//!   waits: 1, 2, 4 … 30 s. Shutdown: SIGTERM, then SIGKILL after
//!   [`STOP_GRACE`].
//! * **external** (`--no-dataplane`): a service manager runs the dataplane;
//!   the daemon finds it through the counter file (writer pid alive,
//!   heartbeats fresh), reports its health, and never signals it.
//!
//! The daemon polls every 100 ms, so a death is noticed and the process
//! restarted within about 100 ms, and a stall within [`STALE`] + 100 ms.
//! Every event is one structured log line (`dataplane-started`,
//! `dataplane-exited`, `dataplane-stalled`, `dataplane-healthy`,
//! `dataplane-spawn-failed`, `dataplane-stopped`, `dataplane-found`,
//! `dataplane-lost`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use xrelay_dataplane::shm::{self, Snapshot};
use xrelay_dataplane::xsk::monotonic_ns;

use crate::admin::{DataplaneStatus, WorkerStatus};
use crate::logline;

/// A heartbeat older than this is a stall.
pub const STALE: Duration = Duration::from_secs(1);
/// Time a new process has to show fresh heartbeats.
pub const STARTUP_GRACE: Duration = Duration::from_secs(15);
const STOP_GRACE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How the dataplane is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Spawned and supervised by the daemon.
    Spawn(PathBuf),
    /// Started by someone else (`--no-dataplane`); found through the
    /// counter file.
    External,
}

#[derive(Debug)]
struct Running {
    child: Child,
    since: Instant,
    /// Fresh heartbeats seen from this process.
    healthy_once: bool,
}

/// The dataplane process and what the daemon knows about it.
#[derive(Debug)]
pub struct Supervisor {
    mode: Mode,
    args: Vec<String>,
    shm: PathBuf,
    running: Option<Running>,
    /// When to start again (spawned mode, nothing running).
    next_start: Option<Instant>,
    /// When the last death or stall was noticed (for `last_restart`).
    noticed: Option<Instant>,
    last_restart: Option<Duration>,
    last_event: String,
    restarts: u32,
    backoff: Duration,
    stopped: bool,
    startup_grace: Duration,
    /// External mode: the pid seen last (for found/lost lines).
    external_pid: Option<u32>,
    /// The health verdict logged last.
    logged_healthy: Option<bool>,
}

/// What the counter file says about the process with `pid` (None: any).
#[derive(Debug, Clone)]
struct View {
    snap: Option<Snapshot>,
    error: Option<String>,
    now_ns: u64,
}

impl View {
    fn read(path: &Path, pid: Option<u32>) -> View {
        let now_ns = monotonic_ns();
        match shm::read_checked(path) {
            Ok(s) if pid.is_none_or(|p| p == s.pid) => View {
                snap: Some(s),
                error: None,
                now_ns,
            },
            Ok(s) => View {
                snap: None,
                error: Some(format!(
                    "{} is still the previous process's (pid {})",
                    path.display(),
                    s.pid
                )),
                now_ns,
            },
            Err(e) => View {
                snap: None,
                error: Some(e.to_string()),
                now_ns,
            },
        }
    }

    /// The first block whose heartbeat is missing or stale: (label, age).
    fn stale(&self) -> Option<(String, Option<Duration>)> {
        let s = self.snap.as_ref()?;
        s.blocks.iter().find_map(|b| {
            let age = b.heartbeat_age_ns(self.now_ns).map(Duration::from_nanos);
            match age {
                Some(a) if a < STALE => None,
                _ => Some((b.label.clone(), age)),
            }
        })
    }

    fn fresh(&self) -> bool {
        self.snap.as_ref().is_some_and(|s| !s.blocks.is_empty()) && self.stale().is_none()
    }

    fn workers(&self) -> Vec<WorkerStatus> {
        self.snap
            .as_ref()
            .map(|s| workers_of(s, self.now_ns))
            .unwrap_or_default()
    }
}

/// The blocks of a snapshot as status entries.
pub fn workers_of(s: &Snapshot, now_ns: u64) -> Vec<WorkerStatus> {
    s.blocks
        .iter()
        .map(|b| WorkerStatus {
            label: b.label.clone(),
            role: b.role_name(),
            queue: b.queue,
            core: b.core,
            state: b.state_name(),
            batches: b.batches,
            heartbeat_age_ms: b.heartbeat_age_ns(now_ns).map(|n| n / 1_000_000),
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

fn signal(pid: u32, sig: Signal) {
    if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Supervisor {
    pub fn new(mode: Mode, args: Vec<String>, shm: PathBuf) -> Supervisor {
        Supervisor {
            mode,
            args,
            shm,
            running: None,
            next_start: None,
            noticed: None,
            last_restart: None,
            last_event: String::new(),
            restarts: 0,
            backoff: Duration::from_secs(1),
            stopped: false,
            startup_grace: STARTUP_GRACE,
            external_pid: None,
            logged_healthy: None,
        }
    }

    /// Shortens the start-up grace (tests with stand-in processes).
    pub fn with_startup_grace(mut self, d: Duration) -> Supervisor {
        self.startup_grace = d;
        self
    }

    pub fn counters_file(&self) -> &Path {
        &self.shm
    }

    pub fn peers_socket(&self) -> PathBuf {
        xrelay_dataplane::peersock::socket_for(&self.shm)
    }

    /// Spawns the process (spawned mode).
    pub fn start(&mut self) {
        let Mode::Spawn(bin) = &self.mode else {
            return;
        };
        let bin = bin.clone();
        let spawned = Command::new(&bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => {
                let restart_ms = self.noticed.take().map(|t| {
                    let d = t.elapsed();
                    self.last_restart = Some(d);
                    ms(d)
                });
                let pid = child.id();
                match restart_ms {
                    Some(r) => logline::info(
                        "dataplane-started",
                        &[
                            ("bin", &bin.display()),
                            ("pid", &pid),
                            ("restart", &self.restarts),
                            ("after_ms", &r),
                        ],
                    ),
                    None => logline::info(
                        "dataplane-started",
                        &[("bin", &bin.display()), ("pid", &pid)],
                    ),
                }
                self.last_event = format!("started pid {pid}");
                self.running = Some(Running {
                    child,
                    since: Instant::now(),
                    healthy_once: false,
                });
                self.next_start = None;
                self.logged_healthy = None;
            }
            Err(e) => {
                logline::error(
                    "dataplane-spawn-failed",
                    &[
                        ("bin", &bin.display()),
                        ("error", &e),
                        ("retry_in_s", &self.backoff.as_secs()),
                    ],
                );
                self.last_event = format!("spawning {}: {e}", bin.display());
                self.next_start = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// Reaps, checks heartbeats, restarts. Call it every 100 ms.
    pub fn poll(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        match self.mode {
            Mode::External => self.poll_external(),
            Mode::Spawn(_) => self.poll_spawned(now),
        }
    }

    fn poll_spawned(&mut self, now: Instant) {
        if let Some(r) = &mut self.running {
            let pid = r.child.id();
            match r.child.try_wait() {
                Ok(Some(status)) => {
                    let healthy_once = r.healthy_once;
                    self.running = None;
                    self.noticed = Some(now);
                    // A process that once ran well is restarted at once;
                    // a crash loop backs off.
                    let wait = if healthy_once {
                        self.backoff = Duration::from_secs(1);
                        Duration::ZERO
                    } else {
                        let b = self.backoff;
                        self.backoff = (b * 2).min(MAX_BACKOFF);
                        b
                    };
                    logline::warn(
                        "dataplane-exited",
                        &[
                            ("pid", &pid),
                            ("status", &status),
                            ("restart_in_ms", &ms(wait)),
                        ],
                    );
                    self.last_event = format!("pid {pid} exited ({status})");
                    self.next_start = Some(now + wait);
                }
                Ok(None) => {
                    let view = View::read(&self.shm, Some(pid));
                    if view.fresh() {
                        if !r.healthy_once {
                            r.healthy_once = true;
                            self.backoff = Duration::from_secs(1);
                        }
                        if self.logged_healthy != Some(true) {
                            logline::info(
                                "dataplane-healthy",
                                &[
                                    ("pid", &pid),
                                    ("blocks", &view.snap.as_ref().map_or(0, |s| s.blocks.len())),
                                    ("after_ms", &ms(r.since.elapsed())),
                                ],
                            );
                            self.logged_healthy = Some(true);
                        }
                    } else if r.healthy_once || r.since.elapsed() > self.startup_grace {
                        let (what, age) = match view.stale() {
                            Some((label, age)) => (label, age),
                            None => (
                                view.error.clone().unwrap_or_else(|| "no blocks".into()),
                                None,
                            ),
                        };
                        let age_ms = age.map_or_else(|| "none".to_owned(), |a| ms(a).to_string());
                        logline::warn(
                            "dataplane-stalled",
                            &[
                                ("pid", &pid),
                                ("block", &what),
                                ("heartbeat_age_ms", &age_ms),
                                ("action", &"SIGKILL, restart"),
                            ],
                        );
                        let healthy_once = r.healthy_once;
                        let _ = r.child.kill();
                        let _ = r.child.wait();
                        self.running = None;
                        self.noticed = Some(now);
                        self.last_event = format!(
                            "pid {pid} stalled ({what}: heartbeat age {age_ms} ms), killed"
                        );
                        let wait = if healthy_once {
                            Duration::ZERO
                        } else {
                            let b = self.backoff;
                            self.backoff = (b * 2).min(MAX_BACKOFF);
                            b
                        };
                        self.next_start = Some(now + wait);
                    }
                }
                Err(e) => logline::error("dataplane-wait-failed", &[("error", &e)]),
            }
        }
        if self.running.is_none() && self.next_start.is_some_and(|t| now >= t) {
            self.restarts += 1;
            self.start();
        }
    }

    fn poll_external(&mut self) {
        let view = View::read(&self.shm, None);
        let pid = view.snap.as_ref().map(|s| s.pid).filter(|p| alive(*p));
        if pid != self.external_pid {
            match (pid, self.external_pid) {
                (Some(p), _) => logline::info(
                    "dataplane-found",
                    &[("pid", &p), ("counters", &self.shm.display())],
                ),
                (None, Some(p)) => logline::warn("dataplane-lost", &[("pid", &p)]),
                (None, None) => {}
            }
            self.external_pid = pid;
        }
    }

    /// SIGTERM, then SIGKILL after a grace period (spawned mode only: a
    /// dataplane the daemon did not start is left alone).
    pub fn stop(&mut self) {
        self.stopped = true;
        let Some(mut r) = self.running.take() else {
            if self.mode == Mode::External {
                if let Some(p) = self.external_pid {
                    logline::info(
                        "dataplane-left-running",
                        &[("pid", &p), ("why", &"not started by this daemon")],
                    );
                }
            }
            return;
        };
        let pid = r.child.id();
        signal(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = r.child.try_wait() {
                logline::info(
                    "dataplane-stopped",
                    &[("pid", &pid), ("status", &st), ("signal", &"SIGTERM")],
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = r.child.kill();
        let _ = r.child.wait();
        logline::warn(
            "dataplane-stopped",
            &[
                ("pid", &pid),
                ("signal", &"SIGKILL"),
                ("why", &"no exit within 5 s of SIGTERM"),
            ],
        );
    }

    /// The pid of the dataplane this daemon runs or found.
    pub fn pid(&self) -> Option<u32> {
        match self.mode {
            Mode::Spawn(_) => self.running.as_ref().map(|r| r.child.id()),
            Mode::External => self.external_pid,
        }
    }

    pub fn status(&self) -> DataplaneStatus {
        let counters_file = self.shm.display().to_string();
        let peers_socket = self.peers_socket().display().to_string();
        let last_restart_ms = self.last_restart.map(ms);
        match &self.mode {
            Mode::Spawn(bin) => {
                let (state, pid, message, workers, healthy) = match &self.running {
                    Some(r) => {
                        let pid = r.child.id();
                        let view = View::read(&self.shm, Some(pid));
                        let fresh = view.fresh();
                        let (state, msg) = if fresh {
                            ("running", "every heartbeat fresh".to_owned())
                        } else if !r.healthy_once {
                            (
                                "starting",
                                view.error
                                    .clone()
                                    .unwrap_or_else(|| "waiting for heartbeats".into()),
                            )
                        } else {
                            let why = match view.stale() {
                                Some((l, a)) => format!(
                                    "{l}: heartbeat age {} ms",
                                    a.map_or_else(|| "none".into(), |a| ms(a).to_string())
                                ),
                                None => view.error.clone().unwrap_or_default(),
                            };
                            ("stalled", why)
                        };
                        (
                            state,
                            Some(pid),
                            format!(
                                "{state}: pid {pid}, {msg} (supervised, restarts: {})",
                                self.restarts
                            ),
                            view.workers(),
                            fresh,
                        )
                    }
                    None if self.stopped => (
                        "stopped",
                        None,
                        "stopped with the daemon".to_owned(),
                        Vec::new(),
                        false,
                    ),
                    None => {
                        let state = if self.last_event.starts_with("spawning") {
                            "spawn-failed"
                        } else {
                            "restarting"
                        };
                        let when = self.next_start.map_or_else(String::new, |t| {
                            format!(
                                "; next start in {} ms",
                                ms(t.saturating_duration_since(Instant::now()))
                            )
                        });
                        (
                            state,
                            None,
                            format!(
                                "{state}: {}{when} (restarts: {})",
                                self.last_event, self.restarts
                            ),
                            Vec::new(),
                            false,
                        )
                    }
                };
                DataplaneStatus {
                    state: state.into(),
                    pid,
                    message,
                    supervised: true,
                    binary: Some(bin.display().to_string()),
                    healthy,
                    restarts: self.restarts,
                    last_restart_ms,
                    counters_file,
                    peers_socket,
                    workers,
                }
            }
            Mode::External => {
                let view = View::read(&self.shm, None);
                let pid = view.snap.as_ref().map(|s| s.pid).filter(|p| alive(*p));
                let fresh = pid.is_some() && view.fresh();
                let (state, message) = match (pid, &view.error) {
                    (Some(p), _) if fresh => (
                        "running",
                        format!("running: pid {p} (not supervised: --no-dataplane), every heartbeat fresh"),
                    ),
                    (Some(p), _) => (
                        "stalled",
                        format!(
                            "stalled: pid {p} (not supervised: --no-dataplane), {}",
                            view.stale()
                                .map(|(l, _)| format!("{l}: heartbeat stale"))
                                .unwrap_or_default()
                        ),
                    ),
                    (None, Some(e)) => (
                        "absent",
                        format!("absent: --no-dataplane and no dataplane found ({e})"),
                    ),
                    (None, None) => (
                        "absent",
                        format!(
                            "absent: --no-dataplane, and the writer of {} is not running",
                            self.shm.display()
                        ),
                    ),
                };
                DataplaneStatus {
                    state: state.into(),
                    pid,
                    message,
                    supervised: false,
                    binary: None,
                    healthy: fresh,
                    restarts: 0,
                    last_restart_ms: None,
                    counters_file,
                    peers_socket,
                    workers: if pid.is_some() {
                        view.workers()
                    } else {
                        Vec::new()
                    },
                }
            }
        }
    }

    /// Health problems (none when healthy), in words that stay the same
    /// while the condition lasts (the daemon logs changes only).
    pub fn problems(&self) -> Vec<String> {
        let st = self.status();
        if st.healthy || st.state == "stopped" {
            return Vec::new();
        }
        let pid = st.pid.map_or_else(String::new, |p| format!(" (pid {p})"));
        vec![match st.state.as_str() {
            "starting" => format!("dataplane starting{pid}: heartbeats not fresh yet"),
            "stalled" => format!("dataplane stalled{pid}: a heartbeat is older than 1 s"),
            "absent" => format!(
                "dataplane absent: --no-dataplane and no live writer of {}",
                self.shm.display()
            ),
            s => format!("dataplane {s}: {}", self.last_event),
        }]
    }
}

/// The dataplane binary: `explicit`, else `xrelay-dataplane` next to the
/// running executable, else the first in `PATH`.
pub fn find_binary(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    const NAME: &str = "xrelay-dataplane";
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(NAME)));
    if let Some(b) = beside.filter(|b| b.is_file()) {
        return Some(b);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(NAME))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("xr-sup-{}-{name}", std::process::id()))
    }

    #[test]
    fn external_and_absent() {
        let mut s = Supervisor::new(Mode::External, Vec::new(), tmp("none.shm"));
        s.poll(Instant::now());
        let st = s.status();
        assert_eq!(st.state, "absent");
        assert!(!st.healthy && !st.supervised);
        assert!(st.message.contains("--no-dataplane"), "{}", st.message);
        assert_eq!(s.problems().len(), 1);
        s.stop();
    }

    /// The mechanism with a stand-in process that writes no heartbeats:
    /// a death is restarted within a poll, a silent process is a stall.
    #[test]
    fn a_stand_in_process_is_watched_and_restarted() {
        let mut s = Supervisor::new(
            Mode::Spawn("/bin/sleep".into()),
            vec!["30".into()],
            tmp("sleep.shm"),
        )
        .with_startup_grace(Duration::from_millis(300));
        s.start();
        let pid = s.pid().expect("running");
        assert_eq!(s.status().state, "starting");
        if let Some(r) = &mut s.running {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        // Reaped and restarted in one poll (crash-loop backoff: it never
        // became healthy, so the first restart waits 1 s).
        let t0 = Instant::now();
        s.poll(t0);
        assert_eq!(s.status().state, "restarting");
        s.poll(t0 + Duration::from_secs(1));
        let pid2 = s.pid().expect("restarted");
        assert_ne!(pid2, pid);
        assert_eq!(s.restarts, 1);
        // No heartbeats within the grace: a stall, killed and restarted.
        std::thread::sleep(Duration::from_millis(400));
        s.poll(Instant::now());
        assert!(s.last_event.contains("stalled"), "{}", s.last_event);
        assert!(!alive(pid2) || s.pid() != Some(pid2));
        s.poll(Instant::now() + Duration::from_secs(2));
        let pid3 = s.pid().expect("restarted after the stall");
        s.stop();
        assert!(!alive(pid3));
        assert_eq!(s.status().state, "stopped");
    }

    #[test]
    fn binary_lookup() {
        assert_eq!(
            find_binary(Some(Path::new("/x/dp"))),
            Some(PathBuf::from("/x/dp"))
        );
    }
}
