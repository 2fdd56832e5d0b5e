//! The two-armed test lab of DESIGN §3 in network namespaces, behind an
//! RAII guard: `xr-t4-v4` (6to4 site) — `xr-t4-relay` — `xr-t4-v6`
//! (native host). Documentation addresses only; 192.88.99.1 exists only
//! inside the namespaces. Nothing in the default namespace is touched
//! except a private bpffs mounted in a temporary directory.
//!
//! The guard deletes the namespaces, unmounts the bpffs and kills only
//! the processes it started, by PID, also when the test panics. Every wait
//! is bounded.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NS_V4: &str = "xr-t4-v4";
pub const NS_RELAY: &str = "xr-t4-relay";
pub const NS_V6: &str = "xr-t4-v6";
pub const H4: &str = "xr-t4-h4";
pub const R4: &str = "xr-t4-r4";
pub const R6: &str = "xr-t4-r6";
pub const H6: &str = "xr-t4-h6";
pub const MAC_R4: &str = "02:00:00:00:04:01";
pub const MAC_H4: &str = "02:00:00:00:04:02";
pub const MAC_R6: &str = "02:00:00:00:06:01";
pub const MAC_H6: &str = "02:00:00:00:06:02";

pub const PYTHON: &str = "/usr/bin/python3";

/// A lab's names and shape: the namespaces and the four veth ends, and
/// the queues per veth.
#[derive(Debug, Clone, Copy)]
pub struct Topo {
    /// Names the temporary directory and the bpffs (`xr-<tag>-lab-PID`).
    pub tag: &'static str,
    pub ns_v4: &'static str,
    pub ns_relay: &'static str,
    pub ns_v6: &'static str,
    pub h4: &'static str,
    pub r4: &'static str,
    pub r6: &'static str,
    pub h6: &'static str,
    /// RX and TX queues of every veth (1: the veth default).
    pub queues: u32,
}

/// The default lab: one queue per veth.
pub const T4: Topo = Topo {
    tag: "t4",
    ns_v4: NS_V4,
    ns_relay: NS_RELAY,
    ns_v6: NS_V6,
    h4: H4,
    r4: R4,
    r6: R6,
    h6: H6,
    queues: 1,
};

/// A dataplane the lab started: its PID, log and counter file.
#[derive(Debug)]
pub struct Dataplane {
    pub pid: u32,
    pub log: PathBuf,
    pub shm: PathBuf,
}

/// The dataplane's counters.
pub fn snapshot(path: &Path) -> xrelay_dataplane::shm::Snapshot {
    xrelay_dataplane::shm::read(path).unwrap_or_else(|e| panic!("counters: {e}"))
}

/// Why the lab cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    if rustix::process::geteuid().as_raw() != 0 {
        return Some("the netns lab needs root (namespaces, XDP, AF_XDP)".into());
    }
    if let Err(e) = xrelay_xdp::program_bytes() {
        return Some(e.to_string());
    }
    for (cmd, arg) in [
        ("ip", "-V"),
        ("tshark", "-v"),
        ("ethtool", "--version"),
        ("mount", "--version"),
    ] {
        if !Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(format!("`{cmd}` is not installed"));
        }
    }
    if !Command::new(PYTHON)
        .args(["-c", "import scapy.all"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some("python3-scapy is not installed".into());
    }
    None
}

/// Runs a command; panics with its stderr on failure.
pub fn sh(args: &[&str]) -> String {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        o.status.success(),
        "{}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ip netns exec NS args...`
pub fn in_ns(ns: &str, args: &[&str]) -> String {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v)
}

/// Runs `f` on a thread that has entered network namespace `ns`.
pub fn with_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            rustix::thread::move_into_link_name_space(
                fd.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap_or_else(|e| panic!("setns {ns}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// The lab and everything it started.
#[derive(Debug)]
pub struct Lab {
    pub topo: Topo,
    pub dir: PathBuf,
    pub bpffs: PathBuf,
    bpffs_mounted: bool,
    children: Vec<Child>,
}

impl Lab {
    /// The default lab ([`T4`]).
    pub fn new() -> Lab {
        Lab::build(T4)
    }

    /// Builds the namespaces and links of `t` (removing leftovers of an
    /// earlier run).
    pub fn build(t: Topo) -> Lab {
        for ns in [t.ns_v4, t.ns_relay, t.ns_v6] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let dir = std::env::temp_dir().join(format!("xr-{}-lab-{}", t.tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        let mut lab = Lab {
            topo: t,
            bpffs: dir.join("bpffs"),
            dir,
            bpffs_mounted: false,
            children: Vec::new(),
        };
        for ns in [t.ns_v4, t.ns_relay, t.ns_v6] {
            sh(&["ip", "netns", "add", ns]);
            in_ns(ns, &["ip", "link", "set", "lo", "up"]);
        }
        let q = t.queues.to_string();
        for (ns, host, hmac, relay, rmac) in [
            (t.ns_v4, t.h4, MAC_H4, t.r4, MAC_R4),
            (t.ns_v6, t.h6, MAC_H6, t.r6, MAC_R6),
        ] {
            sh(&[
                "ip",
                "-n",
                ns,
                "link",
                "add",
                host,
                "address",
                hmac,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "type",
                "veth",
                "peer",
                "name",
                relay,
                "address",
                rmac,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "netns",
                t.ns_relay,
            ]);
        }
        for (ns, dev) in [
            (t.ns_v4, t.h4),
            (t.ns_relay, t.r4),
            (t.ns_relay, t.r6),
            (t.ns_v6, t.h6),
        ] {
            // Checksums must be on the wire for tshark (DESIGN §4).
            in_ns(ns, &["ethtool", "-K", dev, "tx", "off"]);
            in_ns(ns, &["ip", "link", "set", dev, "up"]);
        }
        in_ns(
            t.ns_v4,
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{}.disable_ipv6=1", t.h4),
            ],
        );
        in_ns(t.ns_v4, &["ip", "addr", "add", "192.0.2.1/24", "dev", t.h4]);
        in_ns(
            t.ns_v6,
            &["ip", "addr", "add", "2001:db8::1/64", "dev", t.h6, "nodad"],
        );
        // Relay namespace: no addresses needed by the AF_XDP path.
        std::fs::create_dir_all(&lab.bpffs).expect("bpffs dir");
        sh(&[
            "mount",
            "-t",
            "bpf",
            &format!("xr-{}-bpffs", t.tag),
            lab.bpffs.to_str().expect("path"),
        ]);
        lab.bpffs_mounted = true;
        lab
    }

    /// Loads the steering program for `cfg` once per relay interface,
    /// maps pinned in `bpffs/<ifname>/`, attached (native) and the link
    /// pinned, from inside the relay namespace.
    pub fn load_xdp(&self, cfg: &xrelay_engine::Config, queues: u32) {
        let steering = xrelay_xdp::Steering::from_config(cfg).expect("steering");
        let bpffs = self.bpffs.clone();
        let t = self.topo;
        with_netns(t.ns_relay, move || {
            for iface in [t.r4, t.r6] {
                let dir = bpffs.join(iface);
                std::fs::create_dir_all(&dir).expect("pin dir");
                let mut prog = xrelay_xdp::SteerProgram::load(&xrelay_xdp::LoadOptions {
                    settings: steering.settings,
                    pin_dir: Some(dir.clone()),
                    xsk_slots: Some(queues.max(1)),
                })
                .unwrap_or_else(|e| panic!("load for {iface}: {e:?}"));
                let mut maps = prog.maps().expect("maps");
                maps.apply(&steering).expect("apply");
                let att = prog
                    .attach(iface, xrelay_xdp::AttachMode::Native)
                    .unwrap_or_else(|e| panic!("attach {iface}: {e:?}"));
                prog.pin_link(att, &dir.join("link")).expect("pin link");
            }
        });
    }

    /// Writes `config` (relay.toml) and starts `xrelay-dataplane` in the
    /// relay namespace with it, the lab's bpffs, a counter file and
    /// `extra` arguments; waits (bounded) for `running:` in its log.
    pub fn start_dataplane(&mut self, config: &str, extra: &[&str]) -> Dataplane {
        let conf = self.dir.join("relay.toml");
        std::fs::write(&conf, config).expect("write config");
        let shm = self.dir.join("counters");
        let log = self.dir.join("dataplane.log");
        let bpffs = self.bpffs.clone();
        let mut args = vec![
            "ip",
            "netns",
            "exec",
            self.topo.ns_relay,
            env!("CARGO_BIN_EXE_xrelay-dataplane"),
            "--config",
            conf.to_str().expect("path"),
            "--bpffs",
            bpffs.to_str().expect("path"),
            "--shm",
            shm.to_str().expect("path"),
        ];
        args.extend_from_slice(extra);
        let pid = self.spawn(&args, &log);
        if wait_log(&log, "running:", Duration::from_secs(15)).is_none() {
            panic!(
                "dataplane did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Dataplane { pid, log, shm }
    }

    /// Starts a process and keeps it for the guard (killed by PID on drop).
    pub fn spawn(&mut self, args: &[&str], log: &Path) -> u32 {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Sends SIGINT to a child we started and waits (bounded) for it;
    /// returns its exit status success.
    pub fn interrupt(&mut self, pid: u32, timeout: Duration) -> bool {
        let Some(i) = self.children.iter().position(|c| c.id() == pid) else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .output();
        let deadline = Instant::now() + timeout;
        loop {
            match self.children[i].try_wait() {
                Ok(Some(st)) => {
                    // Already reaped; wait() returns the cached status.
                    let mut c = self.children.remove(i);
                    let _ = c.wait();
                    return st.success();
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let mut c = self.children.remove(i);
                    let _ = c.kill();
                    let _ = c.wait();
                    return false;
                }
            }
        }
    }

    /// Whether a child we started is still running.
    pub fn alive(&mut self, pid: u32) -> bool {
        self.children
            .iter_mut()
            .find(|c| c.id() == pid)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts tshark on `dev` in `ns` writing `pcap`, and waits until it
    /// captures. Returns its PID.
    pub fn capture(&mut self, ns: &str, dev: &str, filter: &str, pcap: &Path) -> u32 {
        let log = pcap.with_extension("log");
        let pid = self.spawn(
            &[
                "ip",
                "netns",
                "exec",
                ns,
                "tshark",
                "-q",
                "-i",
                dev,
                "-f",
                filter,
                "-w",
                pcap.to_str().expect("path"),
            ],
            &log,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Capturing on") {
                // dumpcap prints before its first poll; give it a moment.
                std::thread::sleep(Duration::from_millis(300));
                return pid;
            }
            assert!(Instant::now() < deadline, "tshark did not start: {text}");
            assert!(self.alive(pid), "tshark exited: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let t = self.topo;
        teardown(
            &mut self.children,
            &[t.ns_v4, t.ns_relay, t.ns_v6],
            self.bpffs_mounted.then_some(self.bpffs.as_path()),
            &self.dir,
        );
    }
}

/// Packets in `pcap` matching display filter `filter` (all when empty).
pub fn tshark_count(pcap: &Path, opts: &[&str], filter: &str) -> usize {
    let mut args = vec!["tshark", "-n", "-r", pcap.to_str().expect("path")];
    args.extend_from_slice(opts);
    if !filter.is_empty() {
        args.extend_from_slice(&["-Y", filter]);
    }
    args.extend_from_slice(&["-T", "fields", "-e", "frame.number"]);
    sh(&args).lines().filter(|l| !l.trim().is_empty()).count()
}

/// Waits (bounded) until `f` holds.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the first line containing `needle` from a log, waiting (bounded).
pub fn wait_log(log: &Path, needle: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(f) = std::fs::File::open(log) {
            if let Some(l) = BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .find(|l| l.contains(needle))
            {
                return Some(l);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Tears a lab down: SIGTERM to the processes it started (by PID), SIGKILL
/// after 5 s, then its namespaces, its private bpffs and its directory.
pub fn teardown(children: &mut [Child], namespaces: &[&str], bpffs: Option<&Path>, dir: &Path) {
    for c in children.iter() {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .output();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for c in children.iter_mut() {
        loop {
            match c.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
            }
        }
    }
    for ns in namespaces {
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
    }
    if let Some(b) = bpffs {
        let _ = Command::new("umount").arg(b).output();
    }
    let _ = std::fs::remove_dir_all(dir);
}
