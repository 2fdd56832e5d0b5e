//! `xrelayctl daemon`: the control process (DESIGN §1).
//!
//! Start-up order, each step refusing before anything is changed when the
//! input is wrong:
//!
//! 1. relay.toml loaded and validated; the steering set derived from it.
//! 2. The metrics listener bound (in the namespace the daemon was started
//!    in, so a host Prometheus can scrape a relay living in a netns).
//! 3. `--netns`: setns into `/run/netns/NAME` (network namespace only).
//! 4. Every configured interface looked up (netlink).
//! 5. The state directory locked, the admin socket bound, state.json read.
//! 6. bpffs mounted where needed; the XDP program reused from its pins or
//!    loaded, pinned and attached ([`pins::bring_up`]).
//! 7. Maps programmed with relay.toml's set plus the run-time edits.
//! 8. Admin socket and /metrics served; the dataplane started and
//!    supervised (or, with `--no-dataplane`, looked for).
//!
//! SIGTERM/SIGINT stop it; the program stays attached (pinned) unless
//! `--detach-on-exit`. SIGKILL leaves everything in place for the next
//! start, which reuses it without re-attaching.

mod announce;
mod edits;
mod metrics;
mod pins;
mod server;
mod supervise;
mod teardown;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use xrelay_engine::{Config, ConfigError};
use xrelay_xdp::{AttachMode, Steering};

pub use metrics::parse_exposition;
pub use pins::{Iface, IfaceXdp, PinError, PinLayout};
pub use supervise::{find_binary, Mode as DataplaneMode, Supervisor};
pub use teardown::{detach_all, inspect_pins, LocalIface, LocalPins, PRELOADED};

use crate::logline;
use crate::netlink;
use crate::state::{ProgramRecord, StateError, StateFile};
use crate::sys::{self, SysError};

/// Default `--metrics`.
pub const DEFAULT_METRICS: &str = "127.0.0.1:9477";

/// `xrelayctl daemon` options (see docs/operations.md).
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config: PathBuf,
    pub instance: String,
    pub netns: Option<String>,
    pub xdp_mode: AttachMode,
    pub state_dir: PathBuf,
    pub bpffs: PathBuf,
    /// None: `--metrics off`.
    pub metrics: Option<String>,
    pub detach_on_exit: bool,
    /// The dataplane binary to spawn and supervise (None: the one next to
    /// xrelayctl, else in PATH).
    pub dataplane: Option<PathBuf>,
    /// `--no-dataplane`: a service manager runs it; the daemon finds it
    /// through the counter file and never signals it.
    pub no_dataplane: bool,
    /// Options passed to the dataplane after `--config --bpffs --shm`
    /// (`--cores`, `--queues`, `--bind`, `--dataplane-arg`).
    pub dataplane_args: Vec<String>,
}

/// The state directory of an instance.
pub fn default_state_dir(instance: &str) -> PathBuf {
    Path::new("/run/xrelay").join(instance)
}

/// The bpffs pin directory of an instance.
pub fn default_bpffs(instance: &str) -> PathBuf {
    Path::new("/sys/fs/bpf/xrelay").join(instance)
}

/// The dataplane's counter file in a state directory.
pub fn counters_in(state_dir: &Path) -> PathBuf {
    state_dir.join("counters.shm")
}

/// The admin socket in a state directory.
pub fn socket_in(state_dir: &Path) -> PathBuf {
    state_dir.join("admin.sock")
}

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--metrics {0}: not an address:port (e.g. 127.0.0.1:9477) nor `off`")]
    BadMetricsAddr(String),
    #[error("binding the metrics listener on {addr}: {}; choose another with --metrics ADDR (or --metrics off)", crate::admin::io_text(.source))]
    MetricsBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Pins(Box<PinError>),
    #[error("instance {instance} is already served by a running daemon ({}): stop it first or choose another --instance", .socket.display())]
    AlreadyRunning { instance: String, socket: PathBuf },
    #[error("xrelay-dataplane not found next to xrelayctl nor in PATH: give --dataplane PATH, or --no-dataplane when a service manager starts it")]
    DataplaneNotFound,
    #[error("{call} {}: {}", .path.display(), crate::admin::io_text(.source))]
    Io {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<PinError> for DaemonError {
    fn from(e: PinError) -> DaemonError {
        DaemonError::Pins(Box::new(e))
    }
}

impl DaemonError {
    /// Bad input (exit status 2): the configuration, an option, an
    /// interface that does not exist.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DaemonError::Config(_)
                | DaemonError::BadMetricsAddr(_)
                | DaemonError::DataplaneNotFound
                | DaemonError::Sys(SysError::NetnsOpen { .. })
                | DaemonError::State(StateError::Damaged { .. })
        ) || matches!(self, DaemonError::Pins(p) if matches!(**p, PinError::UnknownInterface { .. }))
    }
}

/// The interfaces relay.toml names.
pub fn configured_ifaces(cfg: &Config) -> Vec<Iface> {
    if cfg.interfaces.one_armed {
        vec![Iface {
            name: cfg.interfaces.v4.name.clone(),
            role: "v4+v6",
            key: "interfaces.v4.name",
        }]
    } else {
        vec![
            Iface {
                name: cfg.interfaces.v4.name.clone(),
                role: "v4",
                key: "interfaces.v4.name",
            },
            Iface {
                name: cfg.interfaces.v6.name.clone(),
                role: "v6",
                key: "interfaces.v6.name",
            },
        ]
    }
}

/// Everything the daemon holds; one lock around it (requests are rare and
/// short; nothing here is on a packet path).
#[derive(Debug)]
pub(crate) struct Daemon {
    pub(crate) opts: DaemonOptions,
    pub(crate) cfg: Config,
    /// relay.toml's steering set.
    pub(crate) base: Steering,
    pub(crate) state: StateFile,
    pub(crate) state_path: PathBuf,
    pub(crate) layout: PinLayout,
    pub(crate) ifaces: Vec<Iface>,
    /// One program instance per interface; None after `xdp detach`.
    pub(crate) xdp: Option<Vec<IfaceXdp>>,
    pub(crate) dataplane: Supervisor,
    pub(crate) started: SystemTime,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) socket_path: PathBuf,
    /// Set by signals, and after `xdp-detach` has been answered.
    pub(crate) stop: Arc<AtomicBool>,
    /// Set by `xdp-detach`: stop once the answer is written (not before,
    /// or the client could see the connection close without an answer).
    pub(crate) stop_after_answer: bool,
    last_problems: Vec<String>,
    pub(crate) announce: announce::AnnounceState,
    _lock: File,
}

pub(crate) fn lock(d: &Mutex<Daemon>) -> MutexGuard<'_, Daemon> {
    // A panicking request handler must not take the daemon down with it.
    d.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn parse_metrics(s: &Option<String>) -> Result<Option<SocketAddr>, DaemonError> {
    match s.as_deref() {
        None | Some("off") => Ok(None),
        Some(a) => a
            .parse()
            .map(Some)
            .map_err(|_| DaemonError::BadMetricsAddr(a.to_owned())),
    }
}

/// Runs the daemon until SIGTERM/SIGINT or `xdp detach`.
pub fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    let cfg = Config::load(&opts.config)?;
    let base = Steering::from_config(&cfg).map_err(|e| e.in_file(&opts.config))?;
    let ifaces = configured_ifaces(&cfg);

    let metrics_listener = match parse_metrics(&opts.metrics)? {
        Some(addr) => Some(
            TcpListener::bind(addr).map_err(|source| DaemonError::MetricsBind { addr, source })?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());

    if let Some(ns) = &opts.netns {
        sys::enter_netns(ns)?;
    }
    for i in &ifaces {
        if netlink::link_by_name(&i.name)
            .map_err(PinError::from)?
            .is_none()
        {
            return Err(PinError::UnknownInterface {
                iface: i.name.clone(),
                key: i.key,
                netns: opts.netns.clone(),
            }
            .into());
        }
    }

    let dataplane_bin = if opts.no_dataplane {
        None
    } else {
        Some(find_binary(opts.dataplane.as_deref()).ok_or(DaemonError::DataplaneNotFound)?)
    };

    let io = |call: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| DaemonError::Io { call, path, source }
    };
    std::fs::create_dir_all(&opts.state_dir).map_err(io("mkdir", &opts.state_dir))?;
    let socket_path = socket_in(&opts.state_dir);
    let lock_path = opts.state_dir.join("lock");
    let lock_file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("open", &lock_path))?;
    if lock_file.try_lock().is_err() || UnixStream::connect(&socket_path).is_ok() {
        return Err(DaemonError::AlreadyRunning {
            instance: opts.instance.clone(),
            socket: socket_path,
        });
    }
    let _ = std::fs::remove_file(&socket_path);
    let admin = UnixListener::bind(&socket_path).map_err(io("bind", &socket_path))?;
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("chmod", &socket_path))?;
    let state_path = opts.state_dir.join("state.json");
    let mut state = StateFile::load(&state_path)?;

    if let Some(m) = sys::ensure_bpffs_dir(&opts.bpffs)? {
        logline::info("bpffs-mounted", &[("path", &m.display())]);
    }
    let layout = PinLayout {
        dir: opts.bpffs.clone(),
    };
    let mut loaded = pins::bring_up(
        &layout,
        &ifaces,
        opts.xdp_mode,
        base.settings,
        &state.programs,
    )?;
    let desired = state.edits.apply_to(&base);
    for x in &mut loaded {
        x.maps.apply(&desired).map_err(PinError::from)?;
    }
    state.programs = loaded
        .iter()
        .filter_map(|x| {
            x.settings
                .map(|s| (x.name.clone(), ProgramRecord::new(x.prog_id, &s)))
        })
        .collect();
    state.save(&state_path)?;
    let startup = pins::overall_startup(&loaded);
    let prog_ids: Vec<String> = loaded
        .iter()
        .map(|x| format!("{}:{}", x.name, x.prog_id))
        .collect();
    logline::info(
        "ready",
        &[
            ("instance", &opts.instance),
            ("startup", &startup.name()),
            ("programs", &prog_ids.join(",")),
            ("prefixes", &desired.prefixes.len()),
            ("sixto4_addrs", &desired.sixto4.len()),
            ("teredo_addrs", &desired.teredo.len()),
            ("admin", &socket_path.display()),
            (
                "metrics",
                &metrics_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
            ),
            (
                "dataplane",
                &dataplane_bin.as_ref().map_or_else(
                    || "external (--no-dataplane)".to_owned(),
                    |b| b.display().to_string(),
                ),
            ),
        ],
    );

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(io("sigaction", Path::new("SIGTERM/SIGINT")))?;
    }
    // `xrelay-dataplane`'s options (dataplane/src/opts.rs).
    let shm_path = counters_in(&opts.state_dir);
    let mut dataplane_args = vec![
        "--config".to_owned(),
        opts.config.display().to_string(),
        "--bpffs".to_owned(),
        opts.bpffs.display().to_string(),
        "--shm".to_owned(),
        shm_path.display().to_string(),
    ];
    dataplane_args.extend(opts.dataplane_args.iter().cloned());
    let mode = match &dataplane_bin {
        Some(bin) => supervise::Mode::Spawn(bin.clone()),
        None => supervise::Mode::External,
    };
    let announce_state = announce::AnnounceState::new(&cfg);
    let daemon = Arc::new(Mutex::new(Daemon {
        dataplane: Supervisor::new(mode, dataplane_args, shm_path),
        opts,
        cfg,
        base,
        state,
        state_path,
        layout,
        ifaces,
        xdp: Some(loaded),
        started: SystemTime::now(),
        metrics_addr,
        socket_path: socket_path.clone(),
        stop: stop.clone(),
        stop_after_answer: false,
        last_problems: Vec::new(),
        announce: announce_state,
        _lock: lock_file,
    }));

    {
        let d = daemon.clone();
        std::thread::Builder::new()
            .name("admin".into())
            .spawn(move || server::serve(admin, d))
            .map_err(io("spawn admin thread", &socket_path))?;
    }
    if let Some(l) = metrics_listener {
        let d = daemon.clone();
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                metrics::serve(l, move || {
                    let mut g = lock(&d);
                    let c = g
                        .counters()
                        .map_err(|r| r.error.map(|e| e.message).unwrap_or_default())?;
                    Ok(metrics::render(&c, &g.status()))
                })
            })
            .map_err(io("spawn metrics thread", &socket_path))?;
    }
    {
        let mut g = lock(&daemon);
        g.announce_start();
        g.dataplane.start();
    }

    // The dataplane is polled every 100 ms (a death is restarted within
    // one poll) and the announcer evaluated after it (a failure withdraws
    // within one poll); health changes are logged once a second.
    let mut next_check = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        let mut g = lock(&daemon);
        g.dataplane.poll(now);
        g.announce_tick(now);
        if now >= next_check {
            next_check = now + Duration::from_secs(1);
            g.watch_health();
        }
    }
    let mut g = lock(&daemon);
    g.shutdown();
    Ok(())
}

impl Daemon {
    /// Logs health changes once (not every second).
    fn watch_health(&mut self) {
        let problems = self.health().problems;
        if problems != self.last_problems {
            if problems.is_empty() {
                logline::info("healthy", &[]);
            } else {
                for p in &problems {
                    logline::warn("unhealthy", &[("problem", p)]);
                }
            }
            self.last_problems = problems;
        }
    }

    fn shutdown(&mut self) {
        self.announce_stop();
        self.dataplane.stop();
        if self.xdp.is_some() && self.opts.detach_on_exit {
            self.xdp = None;
            match detach_all(&self.layout) {
                Ok(r) => logline::info(
                    "detached",
                    &[("links", &r.links.len()), ("removed", &r.removed.len())],
                ),
                Err(e) => logline::error("detach-failed", &[("error", &e)]),
            }
        }
        let _ = std::fs::remove_file(&self.socket_path);
        let attached = if self.xdp.is_some() {
            "XDP program left attached (pinned)"
        } else {
            "XDP program detached"
        };
        logline::info(
            "stopped",
            &[("instance", &self.opts.instance), ("xdp", &attached)],
        );
    }
}
