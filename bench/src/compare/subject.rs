//! The subjects measured in the relay namespace: xrelay itself and the
//! reference points. Each is set up before its points and torn down after
//! (its XDP programs detached, its processes stopped by PID).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};

use super::bpf::Prog;
use super::topo::{self, Lab, MAC_H4, MAC_H6, MAC_R4, MAC_R6};

/// What forwards between the two relay interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    Xrelay,
    /// XDP_REDIRECT between the two veths: the ceiling of this box.
    XdpRedirect,
    /// The minimal AF_XDP forwarder: the ceiling of any AF_XDP relay.
    AfXdp,
    /// Linux IPv4/IPv6 forwarding.
    Kernel,
    /// miredo as a Teredo relay.
    Miredo,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Xrelay => "xrelay",
            Subject::XdpRedirect => "xdp-redirect",
            Subject::AfXdp => "af-xdp-fwd",
            Subject::Kernel => "kernel",
            Subject::Miredo => "miredo",
        }
    }
}

/// A subject that is up.
pub enum Running {
    Xrelay {
        steer: Vec<Steer>,
        pid: u32,
        shm: PathBuf,
    },
    Progs(Vec<Prog>),
    AfXdp {
        steer: Vec<xrelay_xdp::SteerProgram>,
        stop: Arc<AtomicBool>,
        handle: std::thread::JoinHandle<Result<u64>>,
    },
    Miredo {
        progs: Vec<Prog>,
        pid: u32,
    },
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Running::Xrelay { .. } => "Running::Xrelay",
            Running::Progs(_) => "Running::Progs",
            Running::AfXdp { .. } => "Running::AfXdp",
            Running::Miredo { .. } => "Running::Miredo",
        })
    }
}

/// The relay configuration of the lab: the engine benchmarks' relay
/// ([`crate::LAB`]) on the lab's interfaces, accepting unknown Teredo
/// peers (how the peer table is filled) and keeping 2^21 of them.
pub fn relay_toml(lab: &Lab) -> String {
    let teredo = "port = 3545\n";
    let relay = crate::LAB.replace(
        teredo,
        &format!("{teredo}accept_unknown_peers = true\npeer_capacity = 2097152\npeer_idle_evict = 3600\n"),
    );
    format!(
        "{relay}\n[interfaces]\none_armed = false\n[interfaces.v4]\nname = \"{r4}\"\nmac = \"{MAC_R4}\"\nnext_hop_mac = \"{MAC_H4}\"\n\
         [interfaces.v6]\nname = \"{r6}\"\nmac = \"{MAC_R6}\"\nnext_hop_mac = \"{MAC_H6}\"\n",
        r4 = lab.r4(),
        r6 = lab.r6()
    )
}

type Steer = (xrelay_xdp::SteerProgram, xrelay_xdp::RelayMaps);

fn load_steering(lab: &Lab, pin: bool) -> Result<Vec<Steer>> {
    let cfg = xrelay_engine::Config::from_toml_str(&relay_toml(lab))
        .map_err(|e| anyhow!("relay.toml: {e}"))?;
    let steering = xrelay_xdp::Steering::from_config(&cfg).map_err(|e| anyhow!("steering: {e}"))?;
    let (r4, r6, bpffs) = (lab.r4(), lab.r6(), lab.bpffs.clone());
    topo::with_netns(&lab.ns_relay(), move || -> Result<Vec<Steer>> {
        let mut v = Vec::new();
        for iface in [r4, r6] {
            let dir = bpffs.join(&iface);
            if pin {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
            }
            let mut prog = xrelay_xdp::SteerProgram::load(&xrelay_xdp::LoadOptions {
                settings: steering.settings,
                pin_dir: pin.then(|| dir.clone()),
                xsk_slots: Some(1),
            })?;
            let mut maps = prog.maps()?;
            maps.apply(&steering)?;
            prog.attach(&iface, xrelay_xdp::AttachMode::Native)?;
            v.push((prog, maps));
        }
        Ok(v)
    })?
}

fn attach_progs(lab: &Lab, redirect: bool) -> Result<Vec<Prog>> {
    let (r4, r6) = (lab.r4(), lab.r6());
    topo::with_netns(&lab.ns_relay(), move || -> Result<Vec<Prog>> {
        // (/sys shows the namespace the process started in, not this thread's.)
        let idx = |n: &str| super::run::if_index(n);
        let mut v = Vec::new();
        for (from, to) in [(&r4, &r6), (&r6, &r4)] {
            let mut p = if redirect {
                Prog::load("xrb_redir", idx(to)?)?
            } else {
                Prog::load("xrb_pass", 0)?
            };
            p.attach(from)?;
            v.push(p);
        }
        Ok(v)
    })?
}

/// The dataplane binary: `XRELAY_DATAPLANE`, or next to this executable.
pub fn dataplane_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("XRELAY_DATAPLANE") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("executable directory")?;
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let p = d.join("xrelay-dataplane");
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("xrelay-dataplane not found next to {} (cargo build --release -p xrelay-dataplane, or set XRELAY_DATAPLANE)", exe.display())
}

/// Brings `s` up with its work on `core`.
pub fn start(lab: &mut Lab, s: Subject, core: usize) -> Result<Running> {
    // miredo's own core gets no RPS: the kernel's receive work for it (into
    // its UDP socket, or routed into its tun) stays on the generator core,
    // as the AF_XDP receive does for xrelay. With RPS onto miredo's core the
    // softirq fills the socket buffer in bursts before miredo runs (at 64 B:
    // 0.001 Mpps relayed at full load, 0.002 at 50 000 frames/s offered).
    let rps = (s == Subject::Kernel).then_some(core);
    lab.kernel_forwarding(matches!(s, Subject::Kernel | Subject::Miredo), rps)?;
    match s {
        Subject::Xrelay => {
            let bin = dataplane_bin()?;
            let steer = load_steering(lab, true)?;
            let conf = lab.dir.join("relay.toml");
            std::fs::write(&conf, relay_toml(lab))?;
            let shm = lab.dir.join("counters.shm");
            let _ = std::fs::remove_file(&shm);
            let ns = lab.ns_relay();
            let c = core.to_string();
            let bpffs = lab.bpffs.clone();
            let pid = lab.spawn(
                "xrelay-dataplane",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    path(&bin)?,
                    "--config",
                    path(&conf)?,
                    "--bpffs",
                    path(&bpffs)?,
                    "--shm",
                    path(&shm)?,
                    "--cores",
                    &c,
                    "--slow-core",
                    &c,
                    "--queues",
                    "1",
                    "--bind",
                    "copy",
                ],
                "dataplane.log",
            )?;
            let log = lab.dir.join("dataplane.log");
            let t = Instant::now();
            loop {
                if std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("running:")
                {
                    break;
                }
                if !lab.alive(pid) || t.elapsed() > Duration::from_secs(20) {
                    bail!(
                        "the dataplane did not start: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(Running::Xrelay { steer, pid, shm })
        }
        Subject::XdpRedirect => Ok(Running::Progs(attach_progs(lab, true)?)),
        Subject::Kernel => Ok(Running::Progs(attach_progs(lab, false)?)),
        Subject::AfXdp => {
            let (steer, mut maps): (Vec<_>, Vec<_>) =
                load_steering(lab, false)?.into_iter().unzip();
            let stop = Arc::new(AtomicBool::new(false));
            let ready = Arc::new(AtomicBool::new(false));
            let (ns, r4, r6) = (lab.ns_relay(), lab.r4(), lab.r6());
            let (st, rd) = (stop.clone(), ready.clone());
            let handle = std::thread::Builder::new().name("xrb-afxdp".into()).spawn(
                move || -> Result<u64> {
                    core_affinity::set_for_current(core_affinity::CoreId { id: core });
                    topo::enter_netns(&ns)?;
                    let mut reg = |i: usize, r: &xrelay_dataplane::xsk::XskRings| -> Result<()> {
                        maps[i].set_socket(0, &r.raw_fd())?;
                        Ok(())
                    };
                    super::fwd::run([&r4, &r6], &mut reg, &rd, &st)
                },
            )?;
            let t = Instant::now();
            while !ready.load(Ordering::Acquire) {
                if handle.is_finished() {
                    return Err(match handle.join() {
                        Ok(Err(e)) => e.context("AF_XDP forwarder"),
                        _ => anyhow!("AF_XDP forwarder stopped"),
                    });
                }
                if t.elapsed() > Duration::from_secs(10) {
                    bail!("AF_XDP forwarder did not start");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(Running::AfXdp {
                steer,
                stop,
                handle,
            })
        }
        Subject::Miredo => {
            let progs = attach_progs(lab, false)?;
            let conf = lab.dir.join("miredo.conf");
            let tun = format!("{}-teredo", lab.name);
            std::fs::write(
                &conf,
                format!("RelayType relay\nInterfaceName {tun}\nBindAddress 203.0.113.5\nBindPort 3545\nPrefix 2001:0::\n"),
            )?;
            let ns = lab.ns_relay();
            let c = core.to_string();
            let pidfile = lab.dir.join("miredo.pid");
            let pid = lab.spawn(
                "miredo",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    "taskset",
                    "-c",
                    &c,
                    "miredo",
                    "-f",
                    "-c",
                    path(&conf)?,
                    "-p",
                    path(&pidfile)?,
                ],
                "miredo.log",
            )?;
            let t = Instant::now();
            loop {
                let up = topo::in_ns(&ns, &["ip", "-6", "route", "show", "dev", &tun])
                    .unwrap_or_default();
                if up.contains("2001::/32") {
                    break;
                }
                if !topo::in_ns(&ns, &["ip", "link", "show", &tun])
                    .unwrap_or_default()
                    .is_empty()
                    && t.elapsed() > Duration::from_secs(2)
                {
                    topo::in_ns(
                        &ns,
                        &["ip", "-6", "route", "replace", "2001::/32", "dev", &tun],
                    )?;
                    break;
                }
                if !lab.alive(pid) || t.elapsed() > Duration::from_secs(10) {
                    bail!(
                        "miredo did not start: {}",
                        std::fs::read_to_string(lab.dir.join("miredo.log")).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(Running::Miredo { progs, pid })
        }
    }
}

/// Takes a running subject down.
pub fn stop(lab: &mut Lab, r: Running) -> Result<()> {
    match r {
        Running::Xrelay { steer, pid, .. } => {
            lab.stop(pid, Duration::from_secs(5));
            drop(steer);
            for i in [lab.r4(), lab.r6()] {
                let _ = std::fs::remove_dir_all(lab.bpffs.join(i));
            }
        }
        Running::Progs(p) => drop(p),
        Running::AfXdp {
            steer,
            stop,
            handle,
        } => {
            stop.store(true, Ordering::Relaxed);
            let r = handle
                .join()
                .map_err(|_| anyhow!("AF_XDP forwarder panicked"))?;
            drop(steer);
            r?;
        }
        Running::Miredo { progs, pid } => {
            lab.stop(pid, Duration::from_secs(5));
            drop(progs);
        }
    }
    lab.kernel_forwarding(false, None)?;
    Ok(())
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

/// Counters of the running dataplane (totals by name).
pub fn dataplane_counters(r: &Running) -> Option<std::collections::BTreeMap<String, u64>> {
    let Running::Xrelay { shm, .. } = r else {
        return None;
    };
    let s = xrelay_dataplane::shm::read(shm).ok()?;
    Some(s.nonzero().into_iter().collect())
}
