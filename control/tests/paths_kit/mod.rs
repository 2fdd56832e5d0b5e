//! Helpers of `tests/paths.rs`: the lab of `lab/mod.rs` (read-only, used
//! as is) plus what the relay-path tests need on top of it:
//!
//! - the **native host** 2001:db8::1 (on `lo` of the peer namespace, so
//!   its kernel answers echo requests and records path MTUs), routed to
//!   2002::/16 and 2001::/32 through the relay's v6 side;
//! - routes in the **relay** namespace for the documentation networks the
//!   paths use (192.0.2.0/24, 198.51.100.0/24 → the peer; 2001:db8::/64 →
//!   the peer), with permanent neighbours, so the dataplane's kernel next
//!   hops resolve from the first frame; 203.0.113.5 (Teredo) on the v4 side;
//! - scapy senders and AF_PACKET receivers (scapy-decoded, matched by a
//!   Python predicate) in the peer namespace;
//! - tcpdump (or dumpcap) captures of every frame the relay transmits (Ethernet
//!   source = the relay's MACs) on the peer ends of both veths, checked
//!   afterwards with tshark (checksum validation on, Teredo decoded).
//!
//! Every process started here is a [`Proc`] (killed by PID on drop), every
//! wait is bounded, and the tests hold [`serial`] so that only one lab and
//! dataplane runs at a time.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::lab::{self, wait_for, Lab, PYTHON};
use xrelay_control::admin::{Counters, Status};

pub const SITE_V4: &str = "192.0.2.1";
pub const SITE_V6: &str = "2002:c000:201::1";
pub const NATIVE: &str = "2001:db8::1";
pub const CLIENT: &str = "2001:0:c633:6476:0:dfff:3fff:fdf5";
pub const CLIENT_V4: &str = "192.0.2.10";
pub const CLIENT_PORT: u16 = 8192;
pub const SERVER_V4: &str = "198.51.100.118";
pub const ANYCAST: &str = "192.88.99.1";
pub const RELAY_MAC_V4: &str = "02:00:00:00:03:01";
pub const PEER_MAC_V4: &str = "02:00:00:00:03:02";
pub const RELAY_MAC_V6: &str = "02:00:00:00:03:11";
pub const PEER_MAC_V6: &str = "02:00:00:00:03:12";

static SERIAL: Mutex<()> = Mutex::new(());

/// Held while a lab of these tests exists: the threads of this process
/// take [`SERIAL`], other processes running this suite (the tags, hence
/// the namespace names, are fixed) the lock of this file.
pub struct Serial {
    _file: std::fs::File,
    _guard: MutexGuard<'static, ()>,
}

/// One lab at a time (2 shared cores; the dataplane workers poll), in
/// this process and across processes (waits ≤ 10 min).
pub fn serial() -> Serial {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/xr-t4p-paths.lock")
        .expect("lock file");
    let deadline = Instant::now() + Duration::from_secs(600);
    while file.try_lock().is_err() {
        assert!(
            Instant::now() < deadline,
            "another run of the path tests held /tmp/xr-t4p-paths.lock for 10 min"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Serial {
        _file: file,
        _guard: guard,
    }
}

/// Is `pid` a live (not zombie) process?
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            rest.chars().next()
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn tool_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if let Some(why) = lab::skip_reason() {
        return Some(why);
    }
    if !tool_ok(Command::new(PYTHON).args(["-c", "import scapy.all"])) {
        return Some("scapy not importable (apt-get install python3-scapy)".into());
    }
    if !tool_ok(Command::new("tshark").arg("--version")) {
        return Some("tshark not found (apt-get install tshark)".into());
    }
    if !tool_ok(Command::new("ethtool").arg("--version")) {
        return Some("ethtool not found (apt-get install ethtool)".into());
    }
    if !tool_ok(Command::new("dumpcap").arg("--version")) {
        return Some("dumpcap not found (apt-get install tshark)".into());
    }
    None
}

/// A process this test started: killed (by PID) and reaped on drop.
pub struct Proc {
    pub child: Child,
    lines: Option<Receiver<String>>,
    stdin: Option<ChildStdin>,
    what: String,
}

impl Proc {
    fn spawn(what: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
        let stdin = child.stdin.take();
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines() {
                    let Ok(l) = l else { break };
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Proc {
            child,
            lines,
            stdin,
            what: what.into(),
        }
    }

    /// The next stdout line within `limit`.
    fn line(&mut self, limit: Duration) -> Option<String> {
        self.lines.as_ref()?.recv_timeout(limit).ok()
    }

    /// Waits (≤ `limit`) for the exit status after `signal` (by PID).
    fn signal_and_wait(&mut self, signal: &str, limit: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no exit within {limit:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lab with the relay running (daemon + real dataplane), routes,
/// the native host and the captures of the relay's output.
pub struct PathLab {
    // Field order = drop order: captures and helpers end before the lab
    // (which kills the daemon and deletes the namespaces).
    caps: Vec<Capture>,
    pub lab: Lab,
    daemon: u32,
    dataplane: Option<u32>,
    _serial: Serial,
}

impl Drop for PathLab {
    /// The lab's own drop SIGKILLs the daemon, which would orphan the
    /// dataplane it started: stop the daemon with SIGTERM first (it stops
    /// its dataplane), and SIGKILL that dataplane (by PID) if it outlives
    /// the daemon. Never panics (it may run during unwinding).
    fn drop(&mut self) {
        let dp = self
            .lab
            .try_status()
            .and_then(|s| s.dataplane.pid)
            .or(self.dataplane);
        let _ = Command::new("kill")
            .args(["-TERM", &self.daemon.to_string()])
            .status();
        wait_gone(self.daemon, Duration::from_secs(10));
        if let Some(dp) = dp {
            if !wait_gone(dp, Duration::from_secs(3)) {
                let _ = Command::new("kill")
                    .args(["-KILL", &dp.to_string()])
                    .status();
                wait_gone(dp, Duration::from_secs(3));
            }
        }
    }
}

/// Builds the lab `xr-t<tag>-…`, starts the relay and the captures;
/// `None` (after printing why) when the tests cannot run here.
pub fn path_lab(tag: &str) -> Option<PathLab> {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return None;
    }
    let serial = serial();
    let bin = dataplane_bin();
    let mut lab = Lab::new(tag);
    let (r4, r6, p4, p6) = (
        lab.r4.clone(),
        lab.r6.clone(),
        lab.p4.clone(),
        lab.p6.clone(),
    );
    let relay_ns = lab.relay_ns.clone();
    let peer_ns = lab.peer_ns.clone();
    // Relay namespace: the Teredo address, and routes (with permanent
    // neighbours) to the documentation networks the paths use. The relay
    // kernel's own frames (TCP, test 5) get full checksums, as on a NIC
    // without offload: a veth otherwise hands the peer CHECKSUM_PARTIAL
    // frames, which a capture shows with unfilled TCP checksums.
    lab.ns(
        &relay_ns,
        &format!(
            "ethtool -K {r4} tx off >/dev/null && ethtool -K {r6} tx off >/dev/null && \
             ip addr add {teredo}/32 dev {r4} && \
             ip neigh replace {pv4} lladdr {PEER_MAC_V4} dev {r4} nud permanent && \
             ip route add 192.0.2.0/24 via {pv4} dev {r4} && \
             ip route add 198.51.100.0/24 via {pv4} dev {r4} && \
             ip -6 neigh replace {pv6} lladdr {PEER_MAC_V6} dev {r6} nud permanent && \
             ip -6 route add 2001:db8::/64 via {pv6} dev {r6}",
            teredo = lab::TEREDO_V4,
            pv4 = lab::PEER_V4,
            pv6 = lab::PEER_V6,
        ),
    );
    // Peer namespace: the native host, routed through the relay's v6 side
    // (the relay's MAC is left to ND: the kernel resolves it normally).
    lab.ns(
        &peer_ns,
        &format!(
            "ip -6 addr add {NATIVE}/128 dev lo nodad && \
             ip -6 route add 2002::/16 via {rv6} dev {p6} && \
             ip -6 route add 2001::/32 via {rv6} dev {p6}",
            rv6 = lab::RELAY_V6,
        ),
    );
    let bin_s = bin.display().to_string();
    let daemon = lab.start_daemon(&["--dataplane", &bin_s, "--bind", "copy", "--queues", "1"]);
    // From here on the guard stops daemon and dataplane, also on a panic.
    let mut pl = PathLab {
        caps: Vec::new(),
        lab,
        daemon,
        dataplane: None,
        _serial: serial,
    };
    let st = wait_for("dataplane healthy", Duration::from_secs(20), || {
        pl.lab
            .try_status()
            .filter(|s: &Status| s.dataplane.healthy && s.health.ok)
    });
    pl.dataplane = st.dataplane.pid;
    pl.caps
        .push(Capture::start(&pl.lab, &p4, RELAY_MAC_V4, "v4"));
    pl.caps
        .push(Capture::start(&pl.lab, &p6, RELAY_MAC_V6, "v6"));
    println!(
        "[{:5.1}s] lab {tag}: relay up (daemon + dataplane), captures on {p4} and {p6}",
        pl.lab.elapsed()
    );
    Some(pl)
}

/// scapy: `sendp(eval(EXPR), iface=IF, inter=GAP)` in the peer namespace.
const SENDER: &str = r#"
import sys
from scapy.all import *
conf.verb = 0
sendp(eval(sys.argv[2]), iface=sys.argv[1], inter=float(sys.argv[3]))
"#;

/// Counts frames arriving on IF (not our own outgoing ones) for which the
/// predicate (a Python lambda over the scapy packet) holds; Teredo (UDP
/// 3544/3545/8192) decoded as IPv6. Prints `ready`, then `match HEX` per
/// match, and `count N` when stdin says stop (or after the time limit).
const RECEIVER: &str = r#"
import sys, select, socket, time
from scapy.all import *
bind_layers(UDP, IPv6, dport=3545)
bind_layers(UDP, IPv6, sport=3545)
bind_layers(UDP, IPv6, dport=3544)
iface, pred, limit = sys.argv[1], eval(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
print("ready", flush=True)
n, end = 0, time.time() + limit
while time.time() < end:
    r, _, _ = select.select([s, sys.stdin], [], [], 0.1)
    if sys.stdin in r:
        break
    if s in r:
        f, a = s.recvfrom(65535)
        if a[2] == socket.PACKET_OUTGOING:
            continue
        try:
            ok = pred(Ether(f))
        except Exception:
            ok = False
        if ok:
            n += 1
            print("match", f.hex(), flush=True)
print("count", n, flush=True)
"#;

impl PathLab {
    pub fn p4(&self) -> String {
        self.lab.p4.clone()
    }
    pub fn p6(&self) -> String {
        self.lab.p6.clone()
    }

    /// Sends the scapy frame list `expr` out of `iface` of the peer
    /// namespace, `gap` seconds apart.
    pub fn send(&self, iface: &str, expr: &str, gap: f64) {
        lab::ok(Command::new("ip").args([
            "netns",
            "exec",
            &self.lab.peer_ns,
            "timeout",
            "60",
            PYTHON,
            "-c",
            SENDER,
            iface,
            expr,
            &gap.to_string(),
        ]));
    }

    /// Starts a receiver on `iface` of the peer namespace; returns once it
    /// listens.
    pub fn receiver(&self, iface: &str, pred: &str) -> Rx {
        let mut p = Proc::spawn(
            "receiver",
            Command::new("ip")
                .args(["netns", "exec", &self.lab.peer_ns, "timeout", "90"])
                .args([PYTHON, "-c", RECEIVER, iface, pred, "60"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        );
        let l = p.line(Duration::from_secs(20));
        assert_eq!(l.as_deref(), Some("ready"), "receiver on {iface} ({pred})");
        Rx { p }
    }

    pub fn counters(&self) -> Counters {
        self.lab.counters()
    }

    /// Stops the captures and checks every frame the relay transmitted
    /// with tshark (none malformed, no bad checksum); `expect` = (side,
    /// display filter, exact count, or `None` for "at least one", e.g. TCP
    /// segments of the relay's kernel). Every captured frame must be in
    /// exactly one class or be the relay kernel's own link control (ARP,
    /// ND, MLD: counted and reported). Returns the frames checked.
    pub fn check_capture(&mut self, expect: &[(&str, &str, Option<usize>)], ctx: &str) -> usize {
        let mut total = 0;
        for cap in &mut self.caps {
            let file = cap.stop();
            let all = tshark(&file, None);
            let bad = tshark(&file, Some(BAD));
            assert!(
                bad.is_empty(),
                "{ctx}: {} side: malformed or bad-checksum frames: {bad:#?}",
                cap.side
            );
            let control = tshark(&file, Some(LINK_CONTROL)).len();
            let mut classified = control;
            let mut report = vec![format!("link control {control}")];
            for (side, filter, n) in expect.iter().filter(|e| e.0 == cap.side) {
                let got = tshark(&file, Some(&format!("!({LINK_CONTROL}) && ({filter})")));
                match n {
                    Some(n) => assert_eq!(
                        got.len(),
                        *n,
                        "{ctx}: {side} side, frames matching {filter}: {got:#?}\nall: {all:#?}"
                    ),
                    None => assert!(
                        !got.is_empty(),
                        "{ctx}: {side} side, no frame matches {filter}"
                    ),
                }
                classified += got.len();
                report.push(format!("{filter}: {}", got.len()));
            }
            assert_eq!(
                classified,
                all.len(),
                "{ctx}: {} side: frames in no class (or in two): {all:#?}",
                cap.side
            );
            println!(
                "    tshark ({} side, checksums validated): {} frames checked, 0 malformed/bad; {}",
                cap.side,
                all.len(),
                report.join("; ")
            );
            total += all.len();
        }
        total
    }
}

/// The display filter of a frame tshark finds wrong.
pub const BAD: &str = "_ws.malformed || _ws.expert.severity == error || \
    ip.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\" || \
    icmpv6.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || \
    icmp.checksum.status == \"Bad\"";

/// The relay kernel's own link-level control traffic (not relayed).
pub const LINK_CONTROL: &str =
    "arp || (ipv6 && !ip && ((icmpv6.type >= 130 && icmpv6.type <= 137) || icmpv6.type == 143))";

/// `tshark -r FILE` with checksum validation and Teredo on 3545: one line
/// per frame (number, protocols, summary).
pub fn tshark(file: &Path, filter: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "tshark", "-n", "-r"]).arg(file).args([
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-d",
        "udp.port==3545,teredo",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "frame.protocols",
        "-e",
        "_ws.col.Info",
    ]);
    if let Some(f) = filter {
        cmd.args(["-Y", f]);
    }
    let out = lab::ok(&mut cmd);
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// A running receiver.
pub struct Rx {
    p: Proc,
}

impl Rx {
    /// Stops it; returns the matching frames.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        if let Some(mut i) = self.p.stdin.take() {
            let _ = i.write_all(b"stop\n");
        }
        let mut frames = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let l = self
                .p
                .line(left)
                .unwrap_or_else(|| panic!("receiver: no count within 20 s"));
            if let Some(hex) = l.strip_prefix("match ") {
                frames.push(unhex(hex));
            } else if let Some(n) = l.strip_prefix("count ") {
                let n: usize = n.trim().parse().expect("count");
                assert_eq!(n, frames.len(), "receiver count");
                return frames;
            }
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// tcpdump (or dumpcap) on a peer end, keeping only what the relay
/// transmitted.
pub struct Capture {
    p: Proc,
    file: PathBuf,
    pub side: &'static str,
    stopped: bool,
    stderr: Receiver<String>,
}

impl Capture {
    fn start(lab: &Lab, iface: &str, relay_mac: &str, side: &'static str) -> Capture {
        let filter = format!("ether src {relay_mac}");
        let tcpdump = tool_ok(Command::new("tcpdump").arg("--version"));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &lab.peer_ns]);
        let (file, ready) = if tcpdump {
            // Immediate mode: libpcap then uses TPACKET_V2 and hands every
            // frame over at once (with TPACKET_V3 blocks, dumpcap was seen
            // to lose the frames of a block not yet retired when stopped).
            let file = lab.path(&format!("relay-out-{side}.pcap"));
            cmd.args(["tcpdump", "-i", iface, "-n", "-s", "0", "-U"])
                .args(["--immediate-mode", "-Z", "root", "-w"])
                .arg(&file)
                .arg(&filter);
            (file, "listening on")
        } else {
            let file = lab.path(&format!("relay-out-{side}.pcapng"));
            cmd.args(["dumpcap", "-i", iface, "-f", &filter])
                .args(["-a", "duration:240", "-w"])
                .arg(&file);
            (file, "Capturing on")
        };
        let mut p = Proc::spawn(
            "capture",
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        // Both say so on stderr once they listen.
        let err = p.child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.contains(ready) => break,
                Ok(_) => {}
                Err(_) => panic!("capture on {iface} did not start within 15 s"),
            }
        }
        Capture {
            p,
            file,
            side,
            stopped: false,
            stderr: rx,
        }
    }

    /// SIGINT (the capture finishes the file), waits ≤ 10 s; the file.
    /// The kernel must not have dropped a frame for the capture.
    fn stop(&mut self) -> PathBuf {
        if !self.stopped {
            // Frames in flight reach the capture first.
            std::thread::sleep(Duration::from_millis(300));
            self.p.signal_and_wait("-INT", Duration::from_secs(10));
            self.stopped = true;
            let mut said = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Ok(l) = self
                .stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                said.push(l);
            }
            assert!(
                !said
                    .iter()
                    .any(|l| l.contains("dropped by kernel") && !l.starts_with("0 ")),
                "{} capture dropped frames: {said:?}",
                self.side
            );
        }
        self.file.clone()
    }
}

/// Dataplane counter deltas (`event/…`, `drop/…`, `dp/…`).
pub fn dp_delta(after: &Counters, before: &Counters) -> BTreeMap<String, u64> {
    let get = |c: &Counters| -> BTreeMap<String, u64> {
        c.dataplane
            .as_ref()
            .map(|d| {
                d.counters
                    .iter()
                    .map(|x| (x.name.clone(), x.total))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (get(after), get(before));
    assert!(
        !a.is_empty(),
        "no dataplane counters: {}",
        after.dataplane_message
    );
    a.iter()
        .map(|(n, v)| (n.clone(), v - b.get(n).copied().unwrap_or(0)))
        .collect()
}

/// Exactly `expect` for the named counters, and 0 for every drop counter
/// not named.
pub fn assert_dp(d: &BTreeMap<String, u64>, expect: &[(&str, u64)], ctx: &str) {
    for (n, v) in expect {
        assert_eq!(
            d.get(*n).copied(),
            Some(*v),
            "{ctx}: {n} (nonzero deltas {:?})",
            nonzero(d)
        );
    }
    for (n, v) in d {
        if n.starts_with("drop/") && !expect.iter().any(|(e, _)| e == n) {
            assert_eq!(*v, 0, "{ctx}: {n} moved (nonzero deltas {:?})", nonzero(d));
        }
    }
}

pub fn nonzero(d: &BTreeMap<String, u64>) -> BTreeMap<&str, u64> {
    d.iter()
        .filter(|(_, v)| **v != 0)
        .map(|(n, v)| (n.as_str(), *v))
        .collect()
}

/// Waits (≤ 10 s) until every counter in `expect` moved by at least its
/// count since `before`, then 500 ms so that an overshoot would show;
/// returns the deltas.
pub fn settle(pl: &PathLab, before: &Counters, expect: &[(&str, u64)]) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = dp_delta(&pl.counters(), before);
        if expect
            .iter()
            .all(|(n, v)| d.get(*n).copied().unwrap_or(0) >= *v)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counters did not reach {expect:?}: {:?}",
            nonzero(&d)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    dp_delta(&pl.counters(), before)
}

/// A helper process in namespace `ns` (killed on drop) that prints one
/// line when ready.
pub fn spawn_ready(ns: &str, script: &str, args: &[&str]) -> Proc {
    let mut p = Proc::spawn(
        "helper",
        Command::new("ip")
            .args(["netns", "exec", ns, "timeout", "60", PYTHON, "-c", script])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let l = p.line(Duration::from_secs(15));
    assert_eq!(l.as_deref(), Some("ready"), "helper in {ns}");
    p
}

/// The rest of a helper's output (≤ 15 s for it to exit).
pub fn finish_helper(mut p: Proc) -> (std::process::ExitStatus, Vec<String>) {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Some(l) = p.line(deadline.saturating_duration_since(Instant::now())) {
        lines.push(l);
    }
    let st = loop {
        if let Some(st) = p.child.try_wait().expect("try_wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "helper did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    (st, lines)
}

pub use crate::lab::dataplane_bin;
