//! Root integration test: next hops from the kernel (`--next-hops kernel`)
//! in the two-armed netns lab.
//!
//! The IPv6 side gets a transit subnet 2001:db8:6::/64 with two next hops
//! on the native host's link — A (`2001:db8:6::a`, the native host's own
//! MAC) and B (`2001:db8:6::b`, a second MAC, a permanent neighbour) — and
//! the route `2001:db8::/64 via A` in the relay namespace. relay.toml's
//! static IPv6 `next_hop_mac` is a third MAC no frame may carry.
//!
//! 1. Switch-over: a steady stream of 6to4 frames (decapsulated toward
//!    2001:db8::1) at 100 frames/s; mid-stream `ip -6 route replace …
//!    via B`. Frames reach A before and B after, with a clean cut (every
//!    A sequence number below every B one), the first frame at B within a
//!    second of the change (printed), and A + B = N exactly: a frame
//!    rewritten before the worker loaded the new table still reaches A's
//!    link, so the change loses nothing; the only frames "in flight" are
//!    those still sent to A after the change (at most a batch picked up
//!    before the table load; asserted ≤ 5 at this rate).
//! 2. Neighbour miss: A's neighbour entry deleted; one frame is handed to
//!    the kernel (`dp/neigh_miss`, `dp/neigh_miss_sent`), which resolves
//!    A by ND and delivers it; the next frame takes the fast path again.
//! 3. A burst of 50 frames into a deleted neighbour: the kernel path takes
//!    those before the resolution, the fast path the rest; all 50 arrive,
//!    no `dp/neigh_miss_errors`.
//! 4. The native host changes its MAC while the relay's entry for it is
//!    STALE: the sync's re-validation (`NTF_USE`) makes the kernel probe,
//!    the entry fails, ND learns the new MAC, and the stream follows it
//!    within 16 s, ending at the new MAC.
//!
//! Skips, and says why, without root, the XDP object, tshark or scapy.

mod lab;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lab::*;

const N: usize = 200;
/// Frames in the burst that meets an unresolved neighbour.
const BURST: usize = 50;
/// The native host's MAC after it changes (scenario 4) and the frames
/// streamed across the change (20 per second).
const MAC_H6_NEW: &str = "02:00:00:00:06:12";
const MOVE_N: usize = 360;
const MAC_B: &str = "02:00:00:00:06:03";
const MAC_STATIC: &str = "02:00:00:00:06:0f";
const GW_A: &str = "2001:db8:6::a";
const GW_B: &str = "2001:db8:6::b";

const CONFIG: &str = r#"
[relay]
native_addr = "2001:db8:6::ff"
ipv4_subnets = ["203.0.113.0/24"]

[interfaces]
one_armed = false
[interfaces.v4]
name = "xr-t4-r4"
mac = "02:00:00:00:04:01"
next_hop_mac = "02:00:00:00:04:02"
[interfaces.v6]
name = "xr-t4-r6"
mac = "02:00:00:00:06:01"
next_hop_mac = "02:00:00:00:06:0f"

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"
"#;

/// `n` proto-41 frames from the 6to4 site, sequence numbers from `seq0`,
/// `inter` seconds apart (0: back to back); prints the send time of the
/// first.
const SCAPY: &str = r#"
import sys, time
from scapy.all import Ether, IP, IPv6, ICMPv6EchoRequest, sendp, conf
conf.verb = 0
iface, n, inter, seq0 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pay = b"xrelay-nexthops-" * 4
f = [Ether(src="02:00:00:00:04:02", dst="02:00:00:00:04:01")
     / IP(src="192.0.2.1", dst="192.88.99.1", ttl=64)
     / IPv6(src="2002:c000:201::1", dst="2001:db8::1", hlim=64)
     / ICMPv6EchoRequest(id=0x4244, seq=seq0 + i, data=pay) for i in range(n)]
print("start", time.time(), flush=True)
if inter > 0:
    sendp(f, iface=iface, inter=inter)
else:
    # Back to back: prebuilt bytes through one packet socket (scapy's
    # sendp spends about a millisecond per frame).
    import socket
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for b in [bytes(x) for x in f]:
        s.send(b)
print("done", time.time(), flush=True)
"#;

const TSHARK_OPTS: [&str; 2] = ["-o", "ip.check_checksum:TRUE"];
const BAD: &str =
    "_ws.malformed || _ws.expert.severity == error || icmpv6.checksum.status == \"Bad\"";
const FILTER: &str = "ip6 and src host 2002:c000:201::1";

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// (sequence number, capture time, destination MAC) of every relayed
/// echo request in `pcap`.
fn frames(pcap: &Path) -> Vec<(u32, f64, String)> {
    let out = sh(&[
        "tshark",
        "-n",
        "-r",
        pcap.to_str().expect("path"),
        "-Y",
        "icmpv6.echo.identifier == 0x4244 && ipv6.dst == 2001:db8::1 && ipv6.hlim == 63",
        "-T",
        "fields",
        "-e",
        "icmpv6.echo.sequence_number",
        "-e",
        "frame.time_epoch",
        "-e",
        "eth.dst",
    ]);
    out.lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            Some((
                it.next()?.trim().parse().ok()?,
                it.next()?.trim().parse().ok()?,
                it.next()?.trim().to_string(),
            ))
        })
        .collect()
}

/// Runs scapy from the 6to4 site and waits (bounded) for it to finish.
fn send(lab: &mut Lab, n: usize, inter: f64, seq0: u32) {
    let log = lab.dir.join(format!("scapy-{seq0}.log"));
    let pid = lab.spawn(
        &[
            "ip",
            "netns",
            "exec",
            NS_V4,
            PYTHON,
            "-c",
            SCAPY,
            H4,
            &n.to_string(),
            &inter.to_string(),
            &seq0.to_string(),
        ],
        &log,
    );
    let done = wait_until(Duration::from_secs(60), || !lab.alive(pid));
    assert!(done, "scapy did not finish");
}

#[test]
fn next_hops_follow_the_kernel_in_the_netns_lab() {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    let mut lab = Lab::new();
    // The transit subnet and the two next hops.
    in_ns(
        NS_V6,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8:6::a/64",
            "dev",
            H6,
            "nodad",
        ],
    );
    in_ns(
        NS_RELAY,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8:6::ff/64",
            "dev",
            R6,
            "nodad",
        ],
    );
    for (gw, mac) in [(GW_A, MAC_H6), (GW_B, MAC_B)] {
        in_ns(
            NS_RELAY,
            &[
                "ip",
                "-6",
                "neigh",
                "replace",
                gw,
                "lladdr",
                mac,
                "dev",
                R6,
                "nud",
                "permanent",
            ],
        );
    }
    in_ns(
        NS_RELAY,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8::/64",
            "via",
            GW_A,
            "dev",
            R6,
        ],
    );

    let cfg = xrelay_engine::Config::from_toml_str(CONFIG).expect("config");
    lab.load_xdp(&cfg, 1);
    let dp = lab.start_dataplane(CONFIG, &["--bind", "copy", "--next-hops", "kernel"]);
    let shm_path = dp.shm.clone();
    let log = dp.log.clone();
    let dp = dp.pid;
    let nh_line = wait_log(&log, "next hops: kernel", Duration::from_secs(1)).expect("log line");
    println!("{nh_line}");

    // 1. Switch-over under a steady stream.
    let before = snapshot(&shm_path);
    let pcap = lab.dir.join("switch.pcap");
    let tshark = lab.capture(NS_V6, H6, FILTER, &pcap);
    let log_s = lab.dir.join("scapy-0.log");
    let scapy = lab.spawn(
        &[
            "ip",
            "netns",
            "exec",
            NS_V4,
            PYTHON,
            "-c",
            SCAPY,
            H4,
            &N.to_string(),
            "0.01",
            "0",
        ],
        &log_s,
    );
    // Mid-stream: about a second into the two-second stream.
    assert!(wait_log(&log_s, "start", Duration::from_secs(20)).is_some());
    std::thread::sleep(Duration::from_millis(1000));
    let t_change = now_epoch();
    in_ns(
        NS_RELAY,
        &[
            "ip",
            "-6",
            "route",
            "replace",
            "2001:db8::/64",
            "via",
            GW_B,
            "dev",
            R6,
        ],
    );
    let t_changed = now_epoch();
    assert!(
        wait_until(Duration::from_secs(60), || !lab.alive(scapy)),
        "scapy did not finish"
    );
    let moved = wait_until(Duration::from_secs(10), || {
        snapshot(&shm_path).total("event/sixto4_decap") - before.total("event/sixto4_decap")
            >= N as u64
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(lab.interrupt(tshark, Duration::from_secs(10)), "tshark");
    let after = snapshot(&shm_path);
    assert!(moved, "decapsulations: {:?}", after.nonzero());
    let d = |n: &str| after.total(n) - before.total(n);
    let fs = frames(&pcap);
    let at_a: Vec<_> = fs.iter().filter(|f| f.2 == MAC_H6).collect();
    let at_b: Vec<_> = fs.iter().filter(|f| f.2 == MAC_B).collect();
    let stat = fs.iter().filter(|f| f.2 == MAC_STATIC).count();
    let first_b = at_b.iter().map(|f| f.1).fold(f64::INFINITY, f64::min);
    let max_seq_a = at_a.iter().map(|f| f.0).max().unwrap_or(0);
    let min_seq_b = at_b.iter().map(|f| f.0).min().unwrap_or(u32::MAX);
    let late_a = at_a.iter().filter(|f| f.1 > t_changed).count();
    println!(
        "switch-over: {N} sent, {} at A, {} at B, {stat} with the static MAC; route change at \
         {t_change:.6} (ip returned after {:.1} ms), first frame at B {:.1} ms after the change; \
         last A seq {max_seq_a}, first B seq {min_seq_b}; {late_a} frame(s) at A after the change; \
         dp/nh_table_loads +{}",
        at_a.len(),
        at_b.len(),
        (t_changed - t_change) * 1e3,
        (first_b - t_change) * 1e3,
        d("dp/nh_table_loads"),
    );
    assert_eq!(fs.len(), N, "every frame relayed and captured once");
    assert_eq!(
        at_a.len() + at_b.len(),
        N,
        "no frame lost across the change"
    );
    assert_eq!(stat, 0, "no frame with relay.toml's static MAC");
    assert!(!at_a.is_empty() && !at_b.is_empty(), "both next hops used");
    assert!(max_seq_a < min_seq_b, "a clean cut: A before, B after");
    assert!(
        first_b - t_change < 1.0,
        "the change applies within a second ({:.3} s)",
        first_b - t_change
    );
    assert!(late_a <= 5, "{late_a} frames to A after the change");
    assert_eq!(d("dp/nh_kernel"), N as u64);
    assert_eq!(d("dp/neigh_miss") + d("dp/nh_static"), 0);
    assert_eq!(
        tshark_count(&pcap, &TSHARK_OPTS, BAD),
        0,
        "tshark found bad frames"
    );

    // 2. Neighbour miss: back to A, A's neighbour entry deleted.
    in_ns(
        NS_RELAY,
        &[
            "ip",
            "-6",
            "route",
            "replace",
            "2001:db8::/64",
            "via",
            GW_A,
            "dev",
            R6,
        ],
    );
    in_ns(NS_RELAY, &["ip", "-6", "neigh", "del", GW_A, "dev", R6]);
    // The sync follows within milliseconds; give it ample time.
    std::thread::sleep(Duration::from_millis(300));
    let before = snapshot(&shm_path);
    let pcap = lab.dir.join("miss.pcap");
    let tshark = lab.capture(NS_V6, H6, FILTER, &pcap);
    send(&mut lab, 1, 0.0, 1000);
    let sent = wait_until(Duration::from_secs(5), || {
        snapshot(&shm_path).total("dp/neigh_miss_sent") > before.total("dp/neigh_miss_sent")
    });
    // The kernel resolves A (ND) and transmits; then its neighbour entry
    // reaches the table.
    let resolved = wait_until(Duration::from_secs(5), || {
        in_ns(NS_RELAY, &["ip", "-6", "neigh", "show", GW_A, "dev", R6]).contains(MAC_H6)
    });
    std::thread::sleep(Duration::from_millis(300));
    let mid = snapshot(&shm_path);
    // The next frame: fast path again.
    send(&mut lab, 1, 0.0, 1001);
    let fast = wait_until(Duration::from_secs(5), || {
        snapshot(&shm_path).total("dp/nh_kernel") > mid.total("dp/nh_kernel")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.interrupt(tshark, Duration::from_secs(10)), "tshark");
    let after = snapshot(&shm_path);
    let d = |n: &str| after.total(n) - before.total(n);
    let fs = frames(&pcap);
    println!(
        "neighbour miss: dp/neigh_miss +{}, dp/neigh_miss_sent +{}, dp/neigh_miss_errors +{}, \
         dp/nh_kernel +{}, captured {:?}",
        d("dp/neigh_miss"),
        d("dp/neigh_miss_sent"),
        d("dp/neigh_miss_errors"),
        d("dp/nh_kernel"),
        fs
    );
    assert!(
        sent,
        "the miss reached the kernel path: {:?}",
        after.nonzero()
    );
    assert!(resolved, "the kernel resolved A");
    assert!(fast, "the second frame took the fast path");
    assert_eq!(d("dp/neigh_miss"), 1);
    assert_eq!(d("dp/neigh_miss_sent"), 1);
    assert_eq!(d("dp/neigh_miss_errors"), 0);
    assert_eq!(d("dp/nh_kernel"), 1);
    assert_eq!(
        fs.iter().map(|f| (f.0, f.2.as_str())).collect::<Vec<_>>(),
        [(1000, MAC_H6), (1001, MAC_H6)],
        "both frames delivered to A, the first by the kernel"
    );
    assert_eq!(
        tshark_count(&pcap, &TSHARK_OPTS, BAD),
        0,
        "tshark found bad frames"
    );

    // 3. A burst into a miss: A's entry deleted again, then 50 frames
    // back to back. Those picked up before the kernel resolves A go the
    // kernel path (its unresolved queue holds them while ND runs), the rest
    // the fast path; every one arrives, in order, none counted an error.
    in_ns(NS_RELAY, &["ip", "-6", "neigh", "del", GW_A, "dev", R6]);
    std::thread::sleep(Duration::from_millis(300));
    let before = snapshot(&shm_path);
    let pcap = lab.dir.join("burst.pcap");
    let tshark = lab.capture(NS_V6, H6, FILTER, &pcap);
    send(&mut lab, BURST, 0.0, 2000);
    let all = wait_until(Duration::from_secs(10), || {
        let s = snapshot(&shm_path);
        s.total("dp/neigh_miss_sent") + s.total("dp/neigh_miss_errors") + s.total("dp/nh_kernel")
            - before.total("dp/neigh_miss_sent")
            - before.total("dp/neigh_miss_errors")
            - before.total("dp/nh_kernel")
            >= BURST as u64
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(lab.interrupt(tshark, Duration::from_secs(10)), "tshark");
    let after = snapshot(&shm_path);
    let d = |n: &str| after.total(n) - before.total(n);
    let fs = frames(&pcap);
    println!(
        "burst into a miss: {BURST} sent; dp/neigh_miss +{}, dp/neigh_miss_sent +{}, \
         dp/neigh_miss_errors +{}, dp/slow_tx_rate_limited +{}, dp/nh_kernel +{}, {} captured",
        d("dp/neigh_miss"),
        d("dp/neigh_miss_sent"),
        d("dp/neigh_miss_errors"),
        d("dp/slow_tx_rate_limited"),
        d("dp/nh_kernel"),
        fs.len()
    );
    assert!(
        all,
        "every frame of the burst counted: {:?}",
        after.nonzero()
    );
    assert!(d("dp/neigh_miss") >= 1, "the burst met the miss");
    assert_eq!(d("dp/neigh_miss_sent"), d("dp/neigh_miss"));
    assert_eq!(d("dp/neigh_miss_errors"), 0);
    assert_eq!(d("dp/neigh_miss") + d("dp/nh_kernel"), BURST as u64);
    let seqs: Vec<u32> = fs.iter().map(|f| f.0).collect();
    let want: Vec<u32> = (2000..2000 + BURST as u32).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, want, "every frame of the burst delivered once");
    assert!(fs.iter().all(|f| f.2 == MAC_H6), "all to A");
    assert_eq!(
        tshark_count(&pcap, &TSHARK_OPTS, BAD),
        0,
        "tshark found bad frames"
    );

    // 4. The neighbour changes its MAC (a replaced router). The kernel's
    // entry for A is STALE with the old MAC: the dataplane's frames never
    // confirm it, and the kernel sees none of them. The sync's periodic
    // re-validation (NTF_USE for used STALE entries) makes the kernel probe
    // the old MAC; the probes fail, the entry fails, the next frames take
    // the kernel path, ND learns the new MAC, and the frames follow it.
    in_ns(
        NS_RELAY,
        &[
            "ip", "-6", "neigh", "replace", GW_A, "lladdr", MAC_H6, "dev", R6, "nud", "stale",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = snapshot(&shm_path);
    let pcap = lab.dir.join("macchange.pcap");
    let tshark = lab.capture(NS_V6, H6, FILTER, &pcap);
    in_ns(NS_V6, &["ip", "link", "set", H6, "address", MAC_H6_NEW]);
    let t_change = now_epoch();
    send(&mut lab, MOVE_N, 0.05, 3000);
    std::thread::sleep(Duration::from_millis(700));
    assert!(lab.interrupt(tshark, Duration::from_secs(10)), "tshark");
    let after = snapshot(&shm_path);
    let d = |n: &str| after.total(n) - before.total(n);
    let fs = frames(&pcap);
    let old: Vec<_> = fs.iter().filter(|f| f.2 == MAC_H6).collect();
    let new: Vec<_> = fs.iter().filter(|f| f.2 == MAC_H6_NEW).collect();
    let first_new = new.iter().map(|f| f.1).fold(f64::INFINITY, f64::min);
    println!(
        "MAC change: {MOVE_N} sent over {:.0} s; {} to the old MAC, {} to the new, first at the \
         new MAC {:.1} s after the change; dp/neigh_miss +{}, dp/neigh_miss_sent +{}, \
         dp/nh_kernel +{}",
        MOVE_N as f64 * 0.05,
        old.len(),
        new.len(),
        first_new - t_change,
        d("dp/neigh_miss"),
        d("dp/neigh_miss_sent"),
        d("dp/nh_kernel"),
    );
    assert_eq!(fs.len(), MOVE_N, "every frame relayed and captured once");
    assert!(!new.is_empty(), "frames reached the new MAC");
    assert!(
        first_new - t_change < 16.0,
        "the new MAC is used within 16 s (re-validation every {} s, the kernel's \
         5 s DELAY and 3 probes)",
        xrelay_dataplane::fib::REFRESH_EVERY.as_secs()
    );
    let last_new = new.iter().map(|f| f.0).max().unwrap_or(0);
    assert_eq!(
        last_new,
        3000 + MOVE_N as u32 - 1,
        "the stream ends at the new MAC"
    );
    assert!(
        d("dp/neigh_miss") >= 1,
        "the failed entry sent frames to the kernel"
    );
    assert_eq!(d("dp/neigh_miss_errors"), 0);

    assert!(lab.alive(dp), "dataplane still running");
    assert!(
        lab.interrupt(dp, Duration::from_secs(10)),
        "dataplane exit status"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    print!("dataplane log:\n{text}");
}
