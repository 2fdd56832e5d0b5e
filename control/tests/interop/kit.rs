//! The interop lab of `tests/interop.rs` (issue 5): the two-armed lab of
//! `lab/mod.rs` (relay `xr-ti5-relay`, its peer `xr-ti5-peer` used as
//! the IPv4 "internet" router) plus five namespaces:
//!
//! ```text
//!   xr-ti5-cli ──(198.18.0.0/24)── xr-ti5-nat ──(198.51.100.0/24)──┐
//!   miredo client, tun xri5tun      nftables masquerade           │
//!                                                       xr-ti5-peer (IPv4 router)
//!   xr-ti5-srv ──(192.0.2.0/25)────────────────────────────────────┤  203.0.113.10
//!   miredo-server 192.0.2.1, .2                                    │
//!   xr-ti5-site ─(192.0.2.128/25)──────────────────────────────────┤
//!   scapy 6to4 site 192.0.2.129 (2002:c000:281::/48)               │
//!                                                  xri5p ── xri5r  xr-ti5-relay
//!                                      203.0.113.4, .5 (Teredo), 192.88.99.1
//!   xr-ti5-host: bridge xri5b = the IPv6 segment 2001:db8:1::/64   xri5s 2001:db8:1::4
//!     native host 2001:db8:1::1 ── xri5q ─────────────────────────────┘
//!     (2001::/32, 2002::/16 via ::4) ── xri5n ── xri5m  xr-ti5-srv 2001:db8:1::2
//! ```
//!
//! Every veth has TX checksum offload off (a veth otherwise hands frames
//! on with partial checksums, which the relay's XDP path sees as they are
//! and rightly drops as T4-02). Neighbours toward the relay are pinned and
//! the bridge neither floods unknown unicast nor multicast to the relay's
//! port, so the relay's captures hold the relayed conversation only.
//!
//! Teardown (RAII, also on panic): captures and helpers end, the lab's
//! drop kills the daemon and its dataplane (by PID) and deletes the relay
//! and peer namespaces with their XDP programs and bpffs pins; then
//! [`Spaces`] kills the processes left in its namespaces (miredo's
//! children, by PID from `ip netns pids`) and deletes them.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lab::wait_for;
use crate::lab::{self, Lab, PYTHON};
use crate::paths_kit::{self, Serial};
use xrelay_control::admin::Counters;

pub const TAG: &str = "i5";
pub const NATIVE: &str = "2001:db8:1::1";
pub const SERVER6: &str = "2001:db8:1::2";
pub const SERVER: &str = "192.0.2.1";
pub const NAT_OUT: &str = "198.51.100.1";
pub const CLIENT4: &str = "198.18.0.2";
pub const CLIENT_PORT: u16 = 34567;
pub const SITE4: &str = "192.0.2.129";
pub const SITE6: &str = "2002:c000:281::1";
pub const ANYCAST: &str = "192.88.99.1";
pub const RELAY_6TO4: &str = "2002:c058:6301::1";
pub const TUN: &str = "xri5tun";
const HOST_MAC: &str = "02:00:00:00:05:01";

/// How the client reaches the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// No Teredo peers (the 6to4 scenario).
    None,
    /// Behind the NAT namespace's nftables masquerade.
    Nat,
    /// The NAT namespace only routes: the client's address is its mapping.
    Public,
}

/// Namespaces of this suite beyond the lab's two.
pub struct Spaces(Vec<String>);

impl Drop for Spaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            kill_all_in(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// SIGTERM, then (≤ 3 s later) SIGKILL to every process in namespace `ns`
/// (all of them were started by this suite: the namespace is its own).
fn kill_all_in(ns: &str) {
    let pids = || -> Vec<String> {
        Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for (signal, wait) in [("-TERM", 3000), ("-KILL", 1000)] {
        let p = pids();
        if p.is_empty() {
            return;
        }
        let _ = Command::new("kill").arg(signal).args(&p).output();
        let deadline = Instant::now() + Duration::from_millis(wait);
        while !pids().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Why this suite cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    if let Some(why) = paths_kit::skip_reason() {
        return Some(why);
    }
    if let Some(why) = lab::tool_missing(&[
        ("miredo", "miredo"),
        ("miredo-server", "miredo-server"),
        ("nft", "nftables"),
        ("tcpdump", "tcpdump"),
    ]) {
        return Some(why);
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun missing (miredo needs a tun device)".into());
    }
    None
}

/// A capture on one of the relay's links (the peer end of its veth).
struct Cap {
    pid: u32,
    file: PathBuf,
    side: &'static str,
}

/// The interop lab with the relay running. Field order is drop order:
/// the lab's drop kills what it spawned (captures, miredo, daemon) and
/// deletes its namespaces; [`Spaces`] then empties and deletes the rest.
pub struct Interop {
    caps: Vec<Cap>,
    pub lab: Lab,
    spaces: Spaces,
    _serial: Serial,
    pub client: Client,
    /// The miredo client's Teredo address once qualified.
    pub teredo: Option<Ipv6Addr>,
    miredo_pid: Option<u32>,
}

pub fn ns(tag: &str) -> String {
    format!("xr-t{TAG}-{tag}")
}

impl Interop {
    /// Builds the topology, starts the relay (daemon + AF_XDP dataplane),
    /// miredo-server and (unless `Client::None`) the miredo client, and
    /// the captures. `None` (after printing why) when it cannot run here.
    pub fn new(client: Client) -> Option<Interop> {
        if let Some(why) = skip_reason() {
            println!("skipped: {why}");
            return None;
        }
        let serial = paths_kit::serial();
        let bin = lab::dataplane_bin();
        let lab = Lab::new(TAG);
        let names: Vec<String> = ["srv", "nat", "cli", "site", "host"]
            .iter()
            .map(|n| ns(n))
            .collect();
        for n in &names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
        let spaces = Spaces(names);
        let mut it = Interop {
            caps: Vec::new(),
            lab,
            spaces,
            _serial: serial,
            client,
            teredo: None,
            miredo_pid: None,
        };
        it.build();
        let bin_s = bin.display().to_string();
        it.lab
            .start_daemon(&["--dataplane", &bin_s, "--bind", "copy", "--queues", "1"]);
        wait_for("dataplane healthy", Duration::from_secs(20), || {
            it.lab
                .try_status()
                .filter(|s| s.dataplane.healthy && s.health.ok)
        });
        if client != Client::None {
            it.start_miredo();
        }
        it.start_captures();
        println!(
            "[{:5.1}s] interop lab up: relay (daemon + dataplane){}, captures on {} and {}",
            it.lab.elapsed(),
            match (client, it.teredo) {
                (Client::None, _) => String::new(),
                (_, Some(a)) => format!(", miredo-server, miredo client {a}"),
                _ => String::new(),
            },
            it.lab.p4,
            it.lab.p6
        );
        Some(it)
    }

    /// `sh -c CMD` in namespace `tag` (`relay`/`peer` are the lab's).
    pub fn sh(&self, tag: &str, cmd: &str) -> String {
        self.lab.ns(&ns(tag), cmd)
    }

    fn build(&self) {
        let (r4, p4, r6, p6) = (&self.lab.r4, &self.lab.p4, &self.lab.r6, &self.lab.p6);
        for n in &self.spaces.0 {
            lab::ok(Command::new("ip").args(["netns", "add", n]));
            self.lab.ns(
                n,
                "ip link set lo up && sysctl -qw net.ipv6.conf.all.accept_dad=0 \
                 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.router_solicitations=0",
            );
        }
        // (namespace, interface, peer namespace, peer interface)
        let links = [
            ("srv", "xri5e", "peer", "xri5f"),
            ("nat", "xri5o", "peer", "xri5g"),
            ("cli", "xri5c", "nat", "xri5i"),
            ("site", "xri5t", "peer", "xri5u"),
            ("srv", "xri5m", "host", "xri5n"),
        ];
        for (a, ia, b, ib) in links {
            lab::ok(Command::new("ip").args([
                "link",
                "add",
                ia,
                "netns",
                &ns(a),
                "type",
                "veth",
                "peer",
                "name",
                ib,
                "netns",
                &ns(b),
            ]));
        }
        // The relay's v6 link joins the segment's bridge.
        self.sh("peer", &format!("ip link set {p6} netns {}", ns("host")));
        self.sh(
            "host",
            &format!(
                "ip link add xri5b address {HOST_MAC} type bridge && \
                 ip link set {p6} master xri5b && ip link set xri5n master xri5b && \
                 bridge link set dev {p6} flood off mcast_flood off && \
                 bridge fdb replace 02:00:00:00:03:11 dev {p6} master static && \
                 ip link set xri5b up && ip link set {p6} up && ip link set xri5n up && \
                 ip -6 addr add {NATIVE}/64 dev xri5b nodad && \
                 ip -6 neigh replace {r} lladdr 02:00:00:00:03:11 dev xri5b nud permanent && \
                 ip -6 route add 2001::/32 via {r} && ip -6 route add 2002::/16 via {r}",
                r = lab::RELAY_V6
            ),
        );
        self.sh(
            "relay",
            &format!(
                "ip addr add {t}/32 dev {r4} && \
                 ip neigh replace {p} lladdr 02:00:00:00:03:02 dev {r4} nud permanent && \
                 ip route add default via {p} && \
                 ip -6 neigh replace {NATIVE} lladdr {HOST_MAC} dev {r6} nud permanent",
                t = lab::TEREDO_V4,
                p = lab::PEER_V4
            ),
        );
        self.sh(
            "peer",
            &format!(
                "sysctl -qw net.ipv4.ip_forward=1 && \
                 ip link set xri5f up && ip link set xri5g up && ip link set xri5u up && \
                 ip addr add 192.0.2.126/25 dev xri5f && ip addr add 192.0.2.254/25 dev xri5u && \
                 ip addr add 198.51.100.254/24 dev xri5g && \
                 for a in {} {} {ANYCAST}; do ip neigh replace $a lladdr 02:00:00:00:03:01 dev {p4} nud permanent; done && \
                 ip route add {ANYCAST}/32 via {} && ip route add 198.18.0.0/24 via {NAT_OUT}",
                lab::RELAY_V4,
                lab::TEREDO_V4,
                lab::RELAY_V4
            ),
        );
        self.sh(
            "srv",
            &format!(
                "ip addr add {SERVER}/25 dev xri5e && ip addr add 192.0.2.2/25 dev xri5e && \
                 ip link set xri5e up && ip route add default via 192.0.2.126 && \
                 ip -6 addr add {SERVER6}/64 dev xri5m nodad && ip link set xri5m up"
            ),
        );
        self.sh(
            "nat",
            &format!(
                "sysctl -qw net.ipv4.ip_forward=1 && ip addr add {NAT_OUT}/24 dev xri5o && \
                 ip addr add 198.18.0.1/24 dev xri5i && ip link set xri5o up && ip link set xri5i up && \
                 ip route add default via 198.51.100.254"
            ),
        );
        if self.client == Client::Nat {
            self.set_nat("masquerade");
        }
        self.sh(
            "cli",
            &format!(
                "ip addr add {CLIENT4}/24 dev xri5c && ip link set xri5c up && \
                 ip route add default via 198.18.0.1"
            ),
        );
        self.sh(
            "site",
            &format!(
                "ip addr add {SITE4}/25 dev xri5t && ip link set xri5t up && \
                 ip route add default via 192.0.2.254"
            ),
        );
        // Full checksums on every frame (see the module docs).
        let mut all: Vec<(String, String)> = vec![
            (self.lab.relay_ns.clone(), r4.clone()),
            (self.lab.relay_ns.clone(), r6.clone()),
            (self.lab.peer_ns.clone(), p4.clone()),
            (ns("host"), p6.clone()),
        ];
        for (a, ia, b, ib) in links {
            all.push((ns(a), ia.into()));
            all.push((ns(b), ib.into()));
        }
        for (n, i) in all {
            self.lab
                .ns(&n, &format!("ethtool -K {i} tx off >/dev/null"));
        }
    }

    /// Replaces the NAT's translation with `action` (an nftables
    /// statement, e.g. `masquerade` or `masquerade to :40000`).
    pub fn set_nat(&self, action: &str) {
        self.sh(
            "nat",
            &format!(
                "nft delete table ip xri5 2>/dev/null; nft add table ip xri5 && \
                 nft 'add chain ip xri5 post {{ type nat hook postrouting priority srcnat; }}' && \
                 nft add rule ip xri5 post oifname xri5o {action}"
            ),
        );
    }

    /// Forgets every NAT mapping (conntrack flush through ctnetlink: the
    /// `conntrack` tool is not installed here).
    pub fn flush_nat_mappings(&self) {
        let script = "import socket,struct\n\
            s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,12)\n\
            # IPCTNL_MSG_CT_DELETE without attributes = flush (AF_INET)\n\
            m=struct.pack('=IHHII',20,(1<<8)|2,1|4,1,0)+struct.pack('=BBH',2,0,0)\n\
            s.send(m)\n\
            r=s.recv(4096)\n\
            err=struct.unpack('=i',r[16:20])[0]\n\
            assert err==0,err\n";
        self.sh("nat", &format!("timeout 10 {PYTHON} -c \"{script}\""));
    }

    fn start_miredo(&mut self) {
        let dir = self.lab.dir.clone();
        std::fs::write(
            dir.join("miredo-server.conf"),
            format!("ServerBindAddress {SERVER}\n"),
        )
        .expect("server conf");
        std::fs::write(
            dir.join("miredo.conf"),
            format!(
                "RelayType client\nInterfaceName {TUN}\nServerAddress {SERVER}\nBindPort {CLIENT_PORT}\n"
            ),
        )
        .expect("client conf");
        for (tag, bin, conf) in [
            ("srv", "miredo-server", "miredo-server.conf"),
            ("cli", "miredo", "miredo.conf"),
        ] {
            let log = std::fs::File::create(dir.join(format!("{bin}.log"))).expect("log");
            let c = self.lab.spawn(
                Command::new("ip")
                    .args(["netns", "exec", &ns(tag), "timeout", "600", bin, "-f", "-c"])
                    .arg(dir.join(conf))
                    .arg("-p")
                    .arg(dir.join(format!("{bin}.pid")))
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("log"))
                    .stderr(log),
            );
            if tag == "cli" {
                self.miredo_pid = Some(c.id());
            }
        }
        self.teredo = Some(self.wait_teredo_address(None));
    }

    /// Waits (≤ 20 s) for the client's global Teredo address other than
    /// `old`.
    pub fn wait_teredo_address(&self, old: Option<Ipv6Addr>) -> Ipv6Addr {
        wait_for("miredo client qualified", Duration::from_secs(20), || {
            let out = Command::new("ip")
                .args(["-n", &ns("cli"), "-6", "-o", "addr", "show", "dev", TUN])
                .args(["scope", "global"])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let a: Ipv6Addr = text
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)?
                .split('/')
                .next()?
                .parse()
                .ok()?;
            (Some(a) != old).then_some(a)
        })
    }

    /// Sends SIGHUP to the miredo client (it re-qualifies at once).
    pub fn reload_miredo(&self) {
        let pid = self.miredo_pid.expect("miredo client running");
        // `ip netns exec` runs `timeout`, which runs miredo: signal the
        // daemon itself, named by its pid file.
        let pid_file = self.lab.dir.join("miredo.pid");
        let daemon = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(pid);
        lab::ok(Command::new("kill").args(["-HUP", &daemon.to_string()]));
    }

    fn capture(&mut self, ns: &str, iface: &str, side: &'static str) -> Cap {
        let file = self.lab.path(&format!("relay-{side}.pcap"));
        let err = self.lab.path(&format!("tcpdump-{side}.log"));
        let log = std::fs::File::create(&err).expect("log");
        let pid = self
            .lab
            .spawn(
                Command::new("ip")
                    .args([
                        "netns", "exec", ns, "timeout", "600", "tcpdump", "-i", iface,
                    ])
                    .args([
                        "-n",
                        "-s",
                        "0",
                        "-B",
                        "131072",
                        "-U",
                        "--immediate-mode",
                        "-Z",
                        "root",
                        "-w",
                    ])
                    .arg(&file)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log),
            )
            .id();
        wait_for("tcpdump listening", Duration::from_secs(15), || {
            std::fs::read_to_string(&err)
                .ok()
                .filter(|s| s.contains("listening on"))
        });
        Cap { pid, file, side }
    }

    fn start_captures(&mut self) {
        let (peer, p4, p6) = (
            self.lab.peer_ns.clone(),
            self.lab.p4.clone(),
            self.lab.p6.clone(),
        );
        self.caps = vec![
            self.capture(&peer, &p4, "v4"),
            self.capture(&ns("host"), &p6, "v6"),
        ];
    }

    /// Restarts both captures (a new conversation).
    pub fn recapture(&mut self) {
        self.stop_captures();
        self.start_captures();
    }

    /// SIGINT (`timeout` hands it to tcpdump, which writes its last
    /// frames), then waits ≤ 10 s for the exit.
    fn stop_captures(&mut self) -> Vec<(PathBuf, &'static str)> {
        std::thread::sleep(Duration::from_millis(300));
        let caps: Vec<Cap> = self.caps.drain(..).collect();
        caps.into_iter()
            .map(|c| {
                lab::ok(Command::new("kill").args(["-INT", &c.pid.to_string()]));
                self.lab.wait_exit(c.pid);
                let log = self.lab.path(&format!("tcpdump-{}.log", c.side));
                let said = std::fs::read_to_string(log).unwrap_or_default();
                assert!(
                    said.lines()
                        .filter(|l| l.contains("dropped by kernel"))
                        .all(|l| l.starts_with("0 ")),
                    "{} capture lost frames: {said}",
                    c.side
                );
                (c.file, c.side)
            })
            .collect()
    }

    /// Stops the captures; checks every frame the relay transmitted with
    /// tshark (checksums validated, no malformed frame, no expert error)
    /// and returns the relayed conversation (link control left out) as
    /// labels in time order.
    pub fn conversation(&mut self, names: &[(&str, String)]) -> Conversation {
        let files = self.stop_captures();
        let mut rows = Vec::new();
        let mut control = 0;
        let mut relay_frames = 0;
        for (file, side) in &files {
            let relay_mac = if *side == "v4" {
                "02:00:00:00:03:01"
            } else {
                "02:00:00:00:03:11"
            };
            let sent = format!("eth.src == {relay_mac}");
            relay_frames += paths_kit::tshark(file, Some(&sent)).len();
            let bad = bad_frames(file, &sent);
            assert!(
                bad.is_empty(),
                "{side}: frames the relay sent fail tshark: {bad:#?}"
            );
            control += paths_kit::tshark(file, Some(paths_kit::LINK_CONTROL)).len();
            for l in fields(file, &format!("!({})", paths_kit::LINK_CONTROL)) {
                rows.push((l.0, label(side, relay_mac, &l.1, names)));
            }
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        Conversation {
            labels: rows.into_iter().map(|r| r.1).collect(),
            control,
            relay_frames,
        }
    }

    pub fn counters(&self) -> Counters {
        self.lab.counters()
    }

    /// A Python helper in namespace `tag`, run to completion (≤ `secs`);
    /// its stdout lines.
    pub fn py(&self, tag: &str, secs: u64, script: &str, args: &[&str]) -> Vec<String> {
        let out = lab::ok(
            Command::new("ip")
                .args(["netns", "exec", &ns(tag), "timeout", &secs.to_string()])
                .args([PYTHON, "-c", script])
                .args(args),
        );
        out.lines().map(str::to_owned).collect()
    }

    /// A Python helper in namespace `tag` that prints `ready` first.
    pub fn py_bg(&self, tag: &str, script: &str, args: &[&str]) -> paths_kit::Proc {
        paths_kit::spawn_ready(&ns(tag), script, args)
    }
}

/// The relayed conversation of one capture period.
#[derive(Debug)]
pub struct Conversation {
    pub labels: Vec<String>,
    /// Link control frames (ARP, ND, MLD) in either direction.
    pub control: usize,
    /// Frames the relay transmitted (all passed tshark).
    pub relay_frames: usize,
}

impl Conversation {
    /// The frames of one link (`v4`/`v6`), in order.
    pub fn side(&self, side: &str) -> Vec<&str> {
        self.labels
            .iter()
            .filter(|l| l.starts_with(side))
            .map(String::as_str)
            .collect()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.labels.iter().filter(|l| l.contains(needle)).count()
    }
}

/// Frames matching `filter` that tshark finds wrong ([`paths_kit::BAD`]),
/// with TCP sequence analysis and reassembly off: a 1 MiB transfer over
/// Teredo sees the endpoints' retransmissions, which tshark's TCP
/// analysis reports as expert errors ("new fragment overlaps old data")
/// about the TCP conversation, not about any frame the relay built.
fn bad_frames(file: &std::path::Path, filter: &str) -> Vec<String> {
    let out = lab::ok(
        Command::new("timeout")
            .args(["60", "tshark", "-n", "-r"])
            .arg(file)
            .args([
                "-o",
                "ip.check_checksum:TRUE",
                "-o",
                "udp.check_checksum:TRUE",
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "tcp.analyze_sequence_numbers:FALSE",
                "-o",
                "tcp.desegment_tcp_streams:FALSE",
                "-d",
                "udp.port==3545,teredo",
                "-Y",
                &format!("({filter}) && ({})", paths_kit::BAD),
            ]),
    );
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// tshark fields of every frame matching `filter`: (time, fields).
fn fields(file: &std::path::Path, filter: &str) -> Vec<(f64, Vec<String>)> {
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "tshark", "-n", "-r"]).arg(file).args([
        "-d",
        "udp.port==3545,teredo",
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "occurrence=f",
    ]);
    for f in [
        "frame.time_epoch",
        "eth.src",
        "ip.src",
        "ip.dst",
        "ip.proto",
        "udp.srcport",
        "udp.dstport",
        "ipv6.src",
        "ipv6.dst",
        "ipv6.nxt",
        "ipv6.plen",
        "ipv6.hlim",
        "icmpv6.type",
        "ipv6.fraghdr.offset",
        "tcp.srcport",
    ] {
        cmd.args(["-e", f]);
    }
    lab::ok(&mut cmd)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<String> = l.split('\t').map(str::to_owned).collect();
            (v[0].parse().unwrap_or(0.0), v)
        })
        .collect()
}

/// One frame as `side dir outer inner`, addresses replaced by `names`.
fn label(side: &str, relay_mac: &str, f: &[String], names: &[(&str, String)]) -> String {
    let g = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
    let name = |a: &str| -> String {
        if let Some((n, _)) = names.iter().find(|(_, v)| v == a) {
            return (*n).to_owned();
        }
        if a.starts_with("fe80:") {
            "fe80".into()
        } else {
            a.into()
        }
    };
    let dir = if g(1) == relay_mac { "out" } else { "in " };
    let kind = match (g(9), g(12)) {
        ("59", _) if g(10) == "0" => "bubble".to_owned(),
        ("58", "128") => "echo-req".into(),
        ("58", "129") => "echo-reply".into(),
        ("58", "2") => "ptb".into(),
        ("58", t) => format!("icmpv6-{t}"),
        ("17", _) => "udp".into(),
        ("6", _) => "tcp".into(),
        ("44", _) => format!("frag@{}", g(13)),
        (nh, _) => format!("nh{nh}"),
    };
    let inner = format!("{}>{} {kind} hl{}", name(g(7)), name(g(8)), g(11));
    let outer = if g(2).is_empty() {
        String::new()
    } else if g(5).is_empty() || g(4) != "17" {
        format!("{}>{} p{} ", name(g(2)), name(g(3)), g(4))
    } else {
        format!("{}:{}>{}:{} ", name(g(2)), g(5), name(g(3)), g(6))
    };
    format!("{side} {dir} {outer}{inner}")
}

/// Dataplane counter deltas since `before`, and the XDP ones.
pub fn deltas(it: &Interop, before: &Counters) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let now = it.counters();
    (paths_kit::dp_delta(&now, before), lab::delta(&now, before))
}
