//! Root integration test: the control daemon with the real
//! `xrelay-dataplane` in the two-armed lab (`lab/mod.rs`): supervision
//! (start, health from heartbeats, SIGKILL → restart within a second,
//! SIGSTOP stall → kill and restart, stop with the daemon), the dataplane's
//! counters in `counters show --json` and `/metrics` (exact deltas, both
//! agree), forwarding before and after a restart (N scapy frames relayed,
//! N received), and the Teredo peer table through `peers list|show`.
//! Skips, saying why, without root, the XDP object, or scapy.

#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{dataplane_bin, scapy_missing, wait_for, Lab, PYTHON};
use xrelay_control::admin::{Counters, Status};
use xrelay_dataplane::peersock::PeerList;

const N: usize = 50;
/// The Teredo client 198.51.100.20:40000 behind server 198.51.100.1.
const TEREDO_PEER: &str = "2001:0:c633:6401:0:63bf:39cc:9beb";

/// Sends N frames with scapy from the peer namespace: `6to4` (proto 41
/// from the 6to4 site 192.0.2.1 to the anycast address, out of the v4
/// side) or `teredo` (one native IPv6 packet to a Teredo peer, out of
/// the v6 side).
const SCAPY: &str = r#"
import sys
from scapy.all import Ether, IP, IPv6, ICMPv6EchoRequest, sendp, conf
conf.verb = 0
mode, iface, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pay = b"xrelay-issue-4-" * 4
if mode == "6to4":
    f = [Ether(src="02:00:00:00:03:02", dst="02:00:00:00:03:01")
         / IP(src="192.0.2.1", dst="192.88.99.1", ttl=64)
         / IPv6(src="2002:c000:201::1", dst="2001:db8::1", hlim=64)
         / ICMPv6EchoRequest(id=0x4242, seq=i, data=pay) for i in range(n)]
else:
    f = [Ether(src="02:00:00:00:03:12", dst="02:00:00:00:03:11")
         / IPv6(src="2001:db8:1::10", dst=sys.argv[4], hlim=64)
         / ICMPv6EchoRequest(id=0x4244, seq=i, data=pay) for i in range(n)]
sendp(f, iface=iface)
"#;

/// Counts, on the v6 side of the peer namespace, relayed echo requests
/// (id 0x4242, source 2002:c000:201::1) until stdin closes or 20 s pass.
const RECEIVER: &str = r#"
import socket, sys, select, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
n, end = 0, time.time() + 20
src = socket.inet_pton(socket.AF_INET6, "2002:c000:201::1")
while time.time() < end:
    r, _, _ = select.select([s, sys.stdin], [], [], 0.1)
    if sys.stdin in r:
        break
    if s in r:
        f = s.recv(4096)
        if len(f) >= 62 and f[20] == 58 and f[22:38] == src and f[54] == 128 and f[58:60] == b"\x42\x42":
            n += 1
print(n, flush=True)
"#;

fn send(lab: &Lab, mode: &str, iface: &str, n: usize) {
    lab::ok(Command::new("ip").args([
        "netns",
        "exec",
        &lab.peer_ns,
        "timeout",
        "60",
        PYTHON,
        "-c",
        SCAPY,
        mode,
        iface,
        &n.to_string(),
        TEREDO_PEER,
    ]));
}

fn dp_total(c: &Counters, name: &str) -> u64 {
    c.dataplane
        .as_ref()
        .and_then(|d| d.counters.iter().find(|x| x.name == name))
        .map_or(0, |x| x.total)
}

fn metrics(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .expect("write");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    body.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn healthy(lab: &Lab) -> Status {
    wait_for("dataplane healthy", Duration::from_secs(20), || {
        lab.try_status()
            .filter(|s| s.dataplane.healthy && s.health.ok)
    })
}

/// The parent pid of `pid` (from /proc).
fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Sends N 6to4 frames; asserts N relayed frames received on the v6 side
/// and `event/sixto4_decap` moved by exactly N, in the JSON and in
/// /metrics alike.
fn relay_6to4(lab: &mut Lab, metrics_addr: &str, ctx: &str) {
    let before = lab.counters();
    let p6 = lab.p6.clone();
    let rx = lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", &lab.peer_ns, PYTHON, "-c", RECEIVER, &p6])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let mut out = rx.stdout.take().expect("stdout");
    let mut stdin = rx.stdin.take().expect("stdin");
    let mut buf = [0u8; 6];
    out.read_exact(&mut buf).expect("receiver ready");
    assert_eq!(&buf, b"ready\n");
    let p4 = lab.p4.clone();
    send(lab, "6to4", &p4, N);
    wait_for(
        &format!("{ctx}: sixto4_decap +{N}"),
        Duration::from_secs(10),
        || {
            let c = lab.counters();
            (dp_total(&c, "event/sixto4_decap") - dp_total(&before, "event/sixto4_decap")
                >= N as u64)
                .then_some(c)
        },
    );
    // Stragglers (there must be none) would show now.
    std::thread::sleep(Duration::from_millis(500));
    drop(stdin.write_all(b"stop\n"));
    drop(stdin);
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("receiver count");
    let received: usize = rest.trim().parse().expect("count");
    let after2 = lab.counters();
    let delta = dp_total(&after2, "event/sixto4_decap") - dp_total(&before, "event/sixto4_decap");
    assert_eq!(delta, N as u64, "{ctx}: sixto4_decap delta");
    assert_eq!(received, N, "{ctx}: relayed frames received on the v6 side");
    let drops: u64 = after2
        .dataplane
        .as_ref()
        .map(|d| {
            d.counters
                .iter()
                .filter(|c| c.kind == "drop")
                .map(|c| c.total)
                .sum()
        })
        .unwrap_or(0);
    let drops_before: u64 = before
        .dataplane
        .as_ref()
        .map(|d| {
            d.counters
                .iter()
                .filter(|c| c.kind == "drop")
                .map(|c| c.total)
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(drops, drops_before, "{ctx}: no drop counter may move");

    // /metrics agrees with the JSON, per worker and summed.
    let m = xrelay_control::daemon::parse_exposition(&metrics(metrics_addr));
    let get = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let d = after2.dataplane.as_ref().expect("dataplane counters");
    for c in d
        .counters
        .iter()
        .filter(|c| c.kind == "event" || c.kind == "drop")
    {
        let (fam, label) = if c.kind == "event" {
            ("xrelay_events_total", "event")
        } else {
            ("xrelay_drops_total", "reason")
        };
        assert_eq!(
            get(&format!("{fam}{{{label}=\"{}\",worker=\"all\"}}", c.short)),
            Some(c.total),
            "{ctx}: {} in /metrics",
            c.name
        );
        for (w, n) in d.workers.iter().zip(&c.per_worker) {
            assert_eq!(
                get(&format!(
                    "{fam}{{{label}=\"{}\",worker=\"{}\"}}",
                    c.short, w.label
                )),
                Some(*n),
                "{ctx}: {} of {} in /metrics",
                c.name,
                w.label
            );
        }
    }
    println!(
        "[{:5.1}s] {ctx}: {N} 6to4 frames sent, {received} relayed, sixto4_decap +{delta} (JSON = /metrics)",
        lab.elapsed()
    );
}

#[test]
fn daemon_supervises_the_real_dataplane() {
    let why = lab::skip_reason().or_else(scapy_missing);
    if let Some(why) = why {
        println!("skipped: {why}");
        return;
    }
    let bin = dataplane_bin();
    let mut lab = Lab::new("4d");
    // The dataplane follows the kernel's routes (--next-hops kernel): the
    // native host 2001:db8::1 sits behind the v6 peer.
    lab.route_native_via_peer();
    let bin_s = bin.display().to_string();
    let daemon = lab.start_daemon(&["--dataplane", &bin_s, "--bind", "copy", "--queues", "1"]);
    let st = healthy(&lab);
    println!("[{:5.1}s] daemon up, dataplane healthy", lab.elapsed());
    assert!(st.dataplane.supervised);
    assert_eq!(st.dataplane.state, "running");
    assert_eq!(st.dataplane.binary.as_deref(), Some(bin_s.as_str()));
    let dp1 = st.dataplane.pid.expect("dataplane pid");
    assert_eq!(ppid(dp1), Some(daemon), "the daemon's child");
    assert_eq!(
        st.dataplane.workers.len(),
        2,
        "one worker and the slow path"
    );
    assert_eq!(st.dataplane.workers[0].label, format!("dp-{}-q0", lab.r4));
    assert!(st
        .dataplane
        .workers
        .iter()
        .all(|w| w.state == "running" && w.heartbeat_age_ms.is_some_and(|a| a < 1000)));
    let human = lab.ctl_ok(&["status"]);
    assert!(
        human.contains("dataplane: running: pid") && human.contains("heartbeat"),
        "{human}"
    );
    let metrics_addr = st.metrics.clone().expect("metrics address");
    let c = lab.counters();
    let d = c.dataplane.as_ref().expect("dataplane counters");
    assert_eq!(d.pid, dp1);
    assert_eq!(
        d.layout_hash,
        format!("{:016x}", xrelay_dataplane::shm::own_layout_hash())
    );

    relay_6to4(&mut lab, &metrics_addr, "first dataplane");

    // SIGKILL of the dataplane (the daemon's child, checked above).
    lab::ok(Command::new("kill").args(["-KILL", &dp1.to_string()]));
    let t0 = Instant::now();
    let dp2 = wait_for("restart after SIGKILL", Duration::from_secs(5), || {
        lab.try_status()
            .and_then(|s| s.dataplane.pid)
            .filter(|p| *p != dp1)
    });
    let restarted = t0.elapsed();
    let st = healthy(&lab);
    let to_healthy = t0.elapsed();
    println!(
        "[{:5.1}s] SIGKILL: new dataplane pid {dp2} after {} ms (daemon: {} ms after noticing), healthy after {} ms",
        lab.elapsed(),
        restarted.as_millis(),
        st.dataplane.last_restart_ms.unwrap_or(0),
        to_healthy.as_millis()
    );
    assert!(
        restarted < Duration::from_secs(1),
        "restart took {restarted:?}"
    );
    assert_eq!(st.dataplane.restarts, 1);
    assert_eq!(ppid(dp2), Some(daemon));
    let log = lab.daemon_log(0);
    assert!(
        log.contains("dataplane-exited") && log.contains(&format!("pid={dp2}")),
        "{log}"
    );
    let m = xrelay_control::daemon::parse_exposition(&metrics(&metrics_addr));
    assert!(m.contains(&("xrelay_dataplane_restarts_total".to_owned(), 1)));
    assert!(m.contains(&("xrelay_dataplane_up".to_owned(), 1)));

    relay_6to4(&mut lab, &metrics_addr, "restarted dataplane");

    // A stall (SIGSTOP): heartbeats age, the daemon kills and restarts it.
    lab::ok(Command::new("kill").args(["-STOP", &dp2.to_string()]));
    let t0 = Instant::now();
    let dp3 = wait_for("restart after a stall", Duration::from_secs(5), || {
        lab.try_status()
            .and_then(|s| s.dataplane.pid)
            .filter(|p| *p != dp2)
    });
    let stall_restart = t0.elapsed();
    let st = healthy(&lab);
    println!(
        "[{:5.1}s] SIGSTOP: stall detected and new dataplane pid {dp3} after {} ms (threshold 1000 ms)",
        lab.elapsed(),
        stall_restart.as_millis()
    );
    assert!(
        stall_restart < Duration::from_millis(2000),
        "stall restart took {stall_restart:?}"
    );
    assert_eq!(st.dataplane.restarts, 2);
    assert!(lab.daemon_log(0).contains("dataplane-stalled"));

    // Native → Teredo: an untrusted peer with the packet queued.
    let p6 = lab.p6.clone();
    send(&lab, "teredo", &p6, 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    let l: PeerList = loop {
        let o = lab.ctl(&["peers", "list", "--json"]);
        if let Ok(l) = serde_json::from_slice::<PeerList>(&o.stdout) {
            if !l.peers.is_empty() {
                break l;
            }
        }
        if Instant::now() > deadline {
            let c = lab.counters();
            let nz: Vec<(String, u64)> = c
                .dataplane
                .iter()
                .flat_map(|d| d.counters.iter())
                .filter(|x| x.total != 0)
                .map(|x| (x.name.clone(), x.total))
                .collect();
            let xdp: Vec<(String, u64)> = c
                .xdp
                .iter()
                .filter(|x| x.total != 0)
                .map(|x| (x.name.clone(), x.total))
                .collect();
            panic!(
                "no Teredo peer within 5 s: {}{}\ndataplane counters {nz:?}\nxdp {xdp:?}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(l.total, 1);
    let p = &l.peers[0];
    assert_eq!(p.addr, TEREDO_PEER);
    assert_eq!(p.mapping, "198.51.100.20:40000");
    assert!(!p.trusted);
    assert_eq!(p.queued_packets, 1, "{p:?}");
    assert!(p.queued_bytes > 0);
    let table = lab.ctl_ok(&["peers", "list", "--limit", "5"]);
    assert!(
        table.contains(TEREDO_PEER) && table.contains("1 of 1 entries"),
        "{table}"
    );
    let one = lab.ctl_ok(&["peers", "show", TEREDO_PEER]);
    assert!(
        one.contains("trusted:     no") && one.contains("queued:      1 packets"),
        "{one}"
    );
    let o = lab.ctl(&["peers", "show", "2001:0:c633:6401::1"]);
    assert_eq!(o.status.code(), Some(2), "unknown peer");
    println!("[{:5.1}s] peers: {p:?}", lab.elapsed());

    // Stopping the daemon stops the dataplane it started.
    assert!(lab.term(daemon).success());
    assert!(
        !std::path::Path::new(&format!("/proc/{dp3}")).exists(),
        "dataplane {dp3} survived the daemon"
    );
    let log = lab.daemon_log(0);
    assert!(log.contains("dataplane-stopped"), "{log}");
    println!("[{:5.1}s] daemon stopped, dataplane with it", lab.elapsed());
}
