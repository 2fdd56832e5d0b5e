//! A netns lab for the control daemon (DESIGN §3, two-armed shape):
//!
//! ```text
//!  xr-t<tag>-peer                          xr-t<tag>-relay
//!  xr<tag>p 203.0.113.10/24  ───veth───  xr<tag>r 203.0.113.4/24 + 192.88.99.1/32  (v4 side, XDP)
//!  xr<tag>q 2001:db8:1::10/64 ──veth───  xr<tag>s 2001:db8:1::4/64                 (v6 side, XDP)
//! ```
//!
//! [`Lab`] is an RAII guard: on drop (also on panic) it kills the processes
//! it started (by PID), deletes both namespaces (and with them the veths),
//! unmounts the bpffs mounts under its directory and removes the directory.
//! Nothing touches the default namespace's interfaces or routes. Every wait
//! is bounded.

pub mod frames;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use xrelay_control::admin::{Counters, Status};

pub const PYTHON: &str = "/usr/bin/python3";
pub const XRELAYCTL: &str = env!("CARGO_BIN_EXE_xrelayctl");
pub const RELAY_V4: &str = "203.0.113.4";
pub const PEER_V4: &str = "203.0.113.10";
pub const TEREDO_V4: &str = "203.0.113.5";
pub const RELAY_V6: &str = "2001:db8:1::4";
pub const PEER_V6: &str = "2001:db8:1::10";

/// Why the privileged lab tests cannot run here, if they cannot.
/// `XRELAY_TEST_UNPRIVILEGED=1` forces the skip path (to check that the
/// suite passes for a user without root).
pub fn skip_reason() -> Option<String> {
    if std::env::var_os("XRELAY_TEST_UNPRIVILEGED").is_some() {
        return Some("XRELAY_TEST_UNPRIVILEGED is set".into());
    }
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Some("needs root (network namespaces, XDP, bpffs)".into());
    }
    if let Err(e) = xrelay_xdp::program_bytes() {
        return Some(e.to_string());
    }
    if let Some(why) = tool_missing(&[
        ("ip", "iproute2"),
        ("bpftool", "bpftool"),
        ("timeout", "coreutils"),
    ]) {
        return Some(why);
    }
    if !Path::new(PYTHON).exists() {
        return Some(format!("{PYTHON} not found (apt-get install python3)"));
    }
    None
}

/// The first of `tools` (command, Debian package) not on the PATH, as a
/// skip reason.
pub fn tool_missing(tools: &[(&str, &str)]) -> Option<String> {
    tools.iter().find_map(|(tool, pkg)| {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        (!found).then(|| format!("{tool} not found (apt-get install {pkg})"))
    })
}

/// Prints why and returns None when the lab cannot run.
pub fn lab(tag: &str) -> Option<Lab> {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return None;
    }
    Some(Lab::new(tag))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// Runs and insists on success.
pub fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The lab: names, directory, and what it started.
#[derive(Debug)]
pub struct Lab {
    pub tag: String,
    pub relay_ns: String,
    pub peer_ns: String,
    /// Relay v4 side, peer v4 side, relay v6 side, peer v6 side.
    pub r4: String,
    pub p4: String,
    pub r6: String,
    pub p6: String,
    pub dir: PathBuf,
    children: Vec<Child>,
    started: Instant,
}

impl Lab {
    /// Builds the namespaces and links (the tag keeps parallel tests apart).
    pub fn new(tag: &str) -> Lab {
        let lab = Lab {
            tag: tag.into(),
            relay_ns: format!("xr-t{tag}-relay"),
            peer_ns: format!("xr-t{tag}-peer"),
            r4: format!("xr{tag}r"),
            p4: format!("xr{tag}p"),
            r6: format!("xr{tag}s"),
            p6: format!("xr{tag}q"),
            dir: PathBuf::from(format!("/tmp/xr-t{tag}-lab")),
            children: Vec::new(),
            started: Instant::now(),
        };
        lab.teardown();
        std::fs::create_dir_all(&lab.dir).expect("lab dir");
        for ns in [&lab.relay_ns, &lab.peer_ns] {
            ok(Command::new("ip").args(["netns", "add", ns]));
            // No DAD delay, no router solicitations: addresses usable at once,
            // and no unsolicited unicast from the peer's kernel.
            ok(Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw"])
                .args([
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.default.router_solicitations=0",
                ]));
        }
        for (r, p, last) in [(&lab.r4, &lab.p4, "01"), (&lab.r6, &lab.p6, "11")] {
            ok(Command::new("ip").args([
                "link",
                "add",
                r,
                "netns",
                &lab.relay_ns,
                "address",
                &format!("02:00:00:00:03:{last}"),
                "type",
                "veth",
                "peer",
                "name",
                p,
                "netns",
                &lab.peer_ns,
                "address",
                &format!("02:00:00:00:03:{}", if last == "01" { "02" } else { "12" }),
            ]));
        }
        lab.ns(&lab.relay_ns, &format!(
            "ip addr add {RELAY_V4}/24 dev {r4} && ip addr add 192.88.99.1/32 dev {r4} && \
             ip addr add {RELAY_V6}/64 dev {r6} nodad && ip link set lo up && ip link set {r4} up && ip link set {r6} up",
            r4 = lab.r4, r6 = lab.r6
        ));
        lab.ns(
            &lab.peer_ns,
            &format!(
                "ip addr add {PEER_V4}/24 dev {p4} && ip addr add {PEER_V6}/64 dev {p6} nodad && \
             ip link set lo up && ip link set {p4} up && ip link set {p6} up",
                p4 = lab.p4,
                p6 = lab.p6
            ),
        );
        lab
    }

    /// Runs `cmd` with sh inside namespace `ns`; insists on success.
    pub fn ns(&self, ns: &str, cmd: &str) -> String {
        ok(Command::new("ip").args(["netns", "exec", ns, "sh", "-c", cmd]))
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }
    pub fn bpffs(&self) -> PathBuf {
        self.path("bpf")
    }
    pub fn socket(&self) -> PathBuf {
        self.state_dir().join("admin.sock")
    }

    /// relay.toml for this lab (both relays on, two-armed).
    pub fn config(&self) -> String {
        format!(
            r#"[relay]
native_addr = "{RELAY_V6}"
ipv4_subnets = ["203.0.113.0/24"]

[interfaces.v4]
name = "{}"
mac = "02:00:00:00:03:01"
next_hop_mac = "02:00:00:00:03:02"

[interfaces.v6]
name = "{}"
mac = "02:00:00:00:03:11"
next_hop_mac = "02:00:00:00:03:12"

[sixto4]
enabled = true
anycast = true
unicast_addr = "{RELAY_V4}"

[teredo]
enabled = true
addr = "{TEREDO_V4}"
port = 3545
"#,
            self.r4, self.r6
        )
    }

    pub fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// Arguments of a daemon for this lab (instance = the tag).
    pub fn daemon_args(&self, config: &Path) -> Vec<String> {
        [
            "daemon",
            "--config",
            &config.display().to_string(),
            "--instance",
            &format!("t{}", self.tag),
            "--netns",
            &self.relay_ns,
            "--xdp-mode",
            "native",
            "--state-dir",
            &self.state_dir().display().to_string(),
            "--bpffs",
            &self.bpffs().display().to_string(),
            "--metrics",
            "127.0.0.1:0",
            // The XDP-only tests run without a dataplane (frames steered to
            // a queue without a socket are then counted as no_xsk); the
            // dataplane tests replace this with --dataplane PATH.
            "--no-dataplane",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Starts a daemon and waits (≤ 10 s) until it answers; returns its PID.
    pub fn start_daemon(&mut self, extra: &[&str]) -> u32 {
        self.start_daemon_with(&self.config(), extra)
    }

    /// As [`Lab::start_daemon`] with another relay.toml.
    pub fn start_daemon_with(&mut self, config: &str, extra: &[&str]) -> u32 {
        let cfg = self.write_config("relay.toml", config);
        let n = self.children.len();
        let log = std::fs::File::create(self.path(&format!("daemon{n}.log"))).expect("log");
        let mut args = self.daemon_args(&cfg);
        if extra.contains(&"--dataplane") {
            args.retain(|a| a != "--no-dataplane");
        }
        let child = Command::new(XRELAYCTL)
            .args(args)
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        let pid = child.id();
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.try_status().is_some() {
                return pid;
            }
            if let Some(Ok(Some(st))) = self.children.last_mut().map(Child::try_wait) {
                panic!("daemon exited with {st}: {}", self.daemon_log(n));
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not answer in 10 s: {}",
                self.daemon_log(n)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn daemon_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.path(&format!("daemon{n}.log"))).unwrap_or_default()
    }

    /// SIGKILL of a process this lab started.
    pub fn kill9(&mut self, pid: u32) {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() == pid)
            .expect("our child");
        c.kill().expect("kill");
        c.wait().expect("wait");
    }

    /// SIGTERM, then waits (≤ 10 s) for the exit status.
    pub fn term(&mut self, pid: u32) -> std::process::ExitStatus {
        ok(Command::new("kill").args(["-TERM", &pid.to_string()]));
        self.wait_exit(pid)
    }

    pub fn wait_exit(&mut self, pid: u32) -> std::process::ExitStatus {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() == pid)
            .expect("our child");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = c.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "process {pid} did not exit in 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Spawns a helper process (killed on drop).
    pub fn spawn(&mut self, cmd: &mut Command) -> &mut Child {
        let c = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        self.children.push(c);
        self.children.last_mut().expect("pushed")
    }

    /// `xrelayctl ARGS --socket <lab socket>`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        run(Command::new(XRELAYCTL)
            .args(args)
            .arg("--socket")
            .arg(self.socket())
            .env_remove("XRELAY_SOCKET")
            .env_remove("XRELAY_INSTANCE")
            .env_remove("XRELAY_BPFFS"))
    }

    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "xrelayctl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn try_status(&self) -> Option<Status> {
        let o = self.ctl(&["status", "--json"]);
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    pub fn status(&self) -> Status {
        self.try_status().expect("status")
    }

    pub fn counters(&self) -> Counters {
        serde_json::from_str(&self.ctl_ok(&["counters", "show", "--json"])).expect("counters JSON")
    }

    /// Sends raw frames out of `iface` of the peer namespace (AF_PACKET).
    pub fn send(&self, iface: &str, frames: &[Vec<u8>]) {
        let script = "import socket,sys\n\
                      s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
                      s.bind((sys.argv[1],0))\n\
                      for l in sys.stdin:\n    l=l.strip()\n    l and s.send(bytes.fromhex(l))\n";
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.peer_ns,
                "timeout",
                "20",
                PYTHON,
                "-c",
                script,
                iface,
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("python");
        {
            let mut stdin = child.stdin.take().expect("stdin");
            for f in frames {
                let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(stdin, "{hex}").expect("write frame");
            }
        }
        let st = child.wait().expect("wait python");
        assert!(st.success(), "sending frames failed: {st}");
    }

    /// An ICMP(v6) echo from the peer namespace to `dst` (`fe80::…%if`
    /// allowed), answered within 3 s: what `ping -c 1` checks, without
    /// needing iputils.
    pub fn echo(&self, dst: &str) {
        let script = r#"
import socket, struct, sys, time
dst = sys.argv[1]
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
body = struct.pack('!HH', 0x7872, 1) + b'xrelay-echo'
if ':' in dst:
    ai = socket.getaddrinfo(dst, None, socket.AF_INET6, socket.SOCK_RAW)[0][4]
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.sendto(struct.pack('!BBH', 128, 0, 0) + body, ai)  # the kernel sums ICMPv6
    want, skip = 129, 0
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    h = struct.pack('!BBH', 8, 0, 0) + body
    s.sendto(h[:2] + struct.pack('!H', csum(h)) + h[4:], (dst, 0))
    want, skip = 0, 20
end = time.time() + 3
while time.time() < end:
    s.settimeout(max(0.01, end - time.time()))
    try: r = s.recv(2048)
    except socket.timeout: break
    if len(r) >= skip + 8 and r[skip] == want and r[skip + 4:skip + 8] == body[:4]:
        sys.exit(0)
sys.exit('no echo reply from ' + dst)
"#;
        ok(Command::new("ip").args([
            "netns",
            "exec",
            &self.peer_ns,
            "timeout",
            "10",
            PYTHON,
            "-c",
            script,
            dst,
        ]));
    }

    /// Sends `frames` and waits (≤ 5 s) until every counter in `expect`
    /// moved by at least its count, then 300 ms more so that an overshoot
    /// would show; returns the delta of every counter.
    pub fn send_and_count(
        &self,
        iface: &str,
        frames: &[Vec<u8>],
        expect: &[(&str, u64)],
    ) -> BTreeMap<String, u64> {
        let before = self.counters();
        self.send(iface, frames);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let d = delta(&self.counters(), &before);
            if expect
                .iter()
                .all(|(n, v)| d.get(*n).copied().unwrap_or(0) >= *v)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "counters did not reach {expect:?}: {d:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        delta(&self.counters(), &before)
    }

    /// `bpftool -j ARGS` as JSON.
    pub fn bpftool(&self, ns: Option<&str>, args: &[&str]) -> serde_json::Value {
        let mut c = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "bpftool"]);
                c
            }
            None => Command::new("bpftool"),
        };
        let out = ok(c.arg("-j").args(args));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bpftool {args:?}: {e}: {out}"))
    }

    /// Files in the pin directory other than the kernel's preloaded ones.
    pub fn pins_left(&self) -> Vec<String> {
        match std::fs::read_dir(self.bpffs()) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !xrelay_control::daemon::PRELOADED.contains(&n.as_str()))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Seconds since the lab was built (for the timing lines).
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn teardown(&self) {
        for ns in [&self.relay_ns, &self.peer_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        // Unmount whatever bpffs the daemons mounted under the lab directory.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let prefix = format!("{}/", self.dir.display());
            let mut points: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|p| p.starts_with(&prefix))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = Command::new("umount").arg(p).output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    /// Routes the native host 2001:db8::/64 via the v6 peer in the relay
    /// namespace, with the peer's neighbour entry pinned: the dataplane
    /// follows the kernel's next hops, and tests about supervision or
    /// restarts must not depend on neighbour discovery racing the first
    /// burst (the neighbour-miss path has its own test in dataplane/tests).
    pub fn route_native_via_peer(&self) {
        let mac = self.ns(
            &self.peer_ns,
            &format!("cat /sys/class/net/{}/address", self.p6),
        );
        let mac = mac.trim();
        self.ns(
            &self.relay_ns,
            &format!(
                "ip -6 neigh replace {PEER_V6} lladdr {mac} dev {r6} nud permanent && \
                 ip -6 route add 2001:db8::/64 via {PEER_V6} dev {r6}",
                r6 = self.r6
            ),
        );
    }

    /// Dataplanes started (by a daemon of this lab) with this lab's
    /// directory on their command line: a SIGKILLed daemon leaves its child
    /// running on purpose (forwarding survives a control restart), so the
    /// lab stops them itself. Only processes whose arguments name this
    /// lab's own directory are touched.
    fn lab_dataplanes(&self) -> Vec<u32> {
        let needle = format!("{}/", self.dir.display());
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let args = String::from_utf8_lossy(&c).replace('\0', " ");
                    args.contains("xrelay-dataplane") && args.contains(&needle)
                })
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in self.lab_dataplanes() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
        self.teardown();
    }
}

/// Healthy apart from the dataplane (the XDP-only tests run with
/// `--no-dataplane` and no dataplane, which the daemon reports).
pub fn xdp_healthy(st: &Status) -> bool {
    st.health
        .problems
        .iter()
        .all(|p| p.starts_with("dataplane "))
}

/// `after - before` per XDP counter (totals).
pub fn delta(after: &Counters, before: &Counters) -> BTreeMap<String, u64> {
    after
        .xdp
        .iter()
        .map(|c| {
            let b = before
                .xdp
                .iter()
                .find(|x| x.name == c.name)
                .map_or(0, |x| x.total);
            (c.name.clone(), c.total - b)
        })
        .collect()
}

/// Asserts a delta: exactly `expect` for the named counters, 0 for every
/// other counter except `pass_l2_mcast` (the peer kernel's own multicast,
/// MLD and the like, may land there any time), and the per-frame invariants
/// (one class and one action per frame; steered without a socket = no_xsk).
pub fn assert_exact(d: &BTreeMap<String, u64>, expect: &[(&str, u64)], ctx: &str) {
    for (name, v) in d {
        if name == "pass_l2_mcast" || name == "xdp_pass" {
            continue;
        }
        let want = expect
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v);
        assert_eq!(*v, want, "{ctx}: counter {name} (delta {d:?})");
    }
    let g = |n: &str| d.get(n).copied().unwrap_or(0);
    let steered: u64 = [
        "proto41",
        "teredo",
        "icmp4_err",
        "native_6to4",
        "native_teredo",
        "native_6rd",
        "native_oper",
    ]
    .iter()
    .map(|n| g(n))
    .sum();
    let passed: u64 = [
        "pass_malformed",
        "pass_l2_mcast",
        "pass_not_ip",
        "pass_v4",
        "pass_v4_port",
        "pass_v6",
    ]
    .iter()
    .map(|n| g(n))
    .sum();
    assert_eq!(
        steered + passed,
        g("xdp_redirect") + g("xdp_pass"),
        "{ctx}: one action per frame {d:?}"
    );
    assert_eq!(
        steered,
        g("xdp_redirect") + g("no_xsk"),
        "{ctx}: steered = redirect + no_xsk {d:?}"
    );
}

/// Reads one line from a child's stdout (≤ `secs`), for "ready" handshakes.
pub fn read_line_within(child: &mut Child, secs: u64) -> String {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut l = String::new();
        let _ = BufReader::new(out).read_line(&mut l);
        let _ = tx.send(l);
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_default()
}

/// The dataplane binary, built (a no-op when up to date) with the cargo
/// running this test.
pub fn dataplane_bin() -> PathBuf {
    let ctl = PathBuf::from(XRELAYCTL);
    let dir = ctl.parent().expect("target dir");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "xrelay-dataplane",
        "--bin",
        "xrelay-dataplane",
    ])
    .arg("--manifest-path")
    .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"));
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    let st = cmd.status().expect("cargo build");
    assert!(st.success(), "building xrelay-dataplane failed");
    let bin = dir.join("xrelay-dataplane");
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

/// Why scapy-driven tests cannot run, if they cannot.
pub fn scapy_missing() -> Option<String> {
    let ok = Command::new(PYTHON)
        .args(["-c", "import scapy.all"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ok).then(|| "scapy not importable (apt-get install python3-scapy)".to_owned())
}

/// Polls `f` every 20 ms until it gives a value; panics naming `what`
/// after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
