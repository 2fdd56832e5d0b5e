//! Root integration test: two workers on two queues. The lab's veths are
//! created with 2 RX and 2 TX queues, the XDP program has 2 socket slots,
//! and `xrelay-dataplane --queues 2 --cores 0,1` runs one worker per
//! queue. 6to4 traffic of 64 flows (IPv4 source 192.0.2.1..64 and the
//! matching 2002::/16 source) is decapsulated: both workers' blocks
//! (`dp-xr-t4q-r4-q0`, `-q1`) must carry some of it, and the total
//! relayed must equal the number sent exactly (counters and a capture on
//! the native host).
//!
//! What picks the queue: a veth delivers a frame to the peer's RX queue
//! with the number of the TX queue the sender used (`veth_xmit`). scapy
//! sends through an AF_PACKET socket, i.e. `dev_queue_xmit`, so the TX
//! queue is XPS's choice for the sending CPU when XPS is configured on the
//! sending veth, else the flow hash of the frame (`skb_tx_hash`; veth
//! sets no XPS map of its own). Phase 3 (no XPS, sender on CPU 0): the 64
//! flows spread over both queues by hash. Then XPS is set (CPU 0 → tx-0,
//! CPU 1 → tx-1) and the sender's CPU alone decides: pinned with `taskset`
//! to CPU 0, everything lands on queue 0, to CPU 1 on queue 1; unpinned,
//! wherever the scheduler put it. Skips, and says why, without root, the
//! XDP object, tshark, scapy, taskset or two CPUs.

#[allow(dead_code, reason = "the lab's helpers used by other tests")]
mod lab;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lab::{in_ns, sh, skip_reason, snapshot, wait_log, wait_until, Lab, Topo, PYTHON};
use xrelay_dataplane::shm;

const NS_V4: &str = "xr-t4q-v4";
const NS_RELAY: &str = "xr-t4q-relay";
const NS_V6: &str = "xr-t4q-v6";
const H4: &str = "xr-t4q-h4";
const R4: &str = "xr-t4q-r4";
const R6: &str = "xr-t4q-r6";
const H6: &str = "xr-t4q-h6";

/// Flows: IPv4 sources 192.0.2.1 ..= 192.0.2.FLOWS.
const FLOWS: usize = 64;
/// Frames per send phase (each flow 4 times).
const PER_PHASE: usize = 4 * FLOWS;

const CONFIG: &str = r#"
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24"]

[interfaces]
one_armed = false
[interfaces.v4]
name = "xr-t4q-r4"
mac = "02:00:00:00:04:01"
next_hop_mac = "02:00:00:00:04:02"
[interfaces.v6]
name = "xr-t4q-r6"
mac = "02:00:00:00:06:01"
next_hop_mac = "02:00:00:00:06:02"

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"

[dataplane]
bind = "copy"
next_hops = "static"
"#;

/// N 6to4 frames over FLOWS flows: 192.0.2.k → 192.88.99.1 carrying
/// 2002:c000:02kk::1 → 2001:db8::1 (the 6to4 source matches the IPv4
/// source, or the relay would drop it as spoofed).
const SCAPY: &str = r#"
import sys
from scapy.all import Ether, IP, IPv6, ICMPv6EchoRequest, sendp, conf
conf.verb = 0
iface, n, flows, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
f = []
for i in range(n):
    k = i % flows + 1
    f.append(Ether(src="02:00:00:00:04:02", dst="02:00:00:00:04:01")
             / IP(src="192.0.2.%d" % k, dst="192.88.99.1", ttl=64)
             / IPv6(src="2002:c000:2%02x::1" % k, dst="2001:db8::1", hlim=64)
             / ICMPv6EchoRequest(id=0x4400 + tag, seq=i, data=b"xrelay-two-queues"))
sendp(f, iface=iface)
"#;

/// This test's lab: its own names, two queues per veth.
const TOPO: Topo = Topo {
    tag: "t4q",
    ns_v4: NS_V4,
    ns_relay: NS_RELAY,
    ns_v6: NS_V6,
    h4: H4,
    r4: R4,
    r6: R6,
    h6: H6,
    queues: 2,
};

/// `event/sixto4_decap` of each worker block, in block order.
fn per_worker(s: &shm::Snapshot) -> Vec<(String, u64)> {
    let i = s.slot("event/sixto4_decap").expect("counter sixto4_decap");
    s.blocks
        .iter()
        .filter(|b| b.role == shm::Role::Worker as u32)
        .map(|b| (b.label.clone(), b.counters[i]))
        .collect()
}

/// RX packets of each queue of `dev` in `ns` (`ethtool -S`), when the
/// driver reports them.
fn rx_queues(ns: &str, dev: &str) -> String {
    let out = in_ns(ns, &["ethtool", "-S", dev]);
    out.lines()
        .filter(|l| l.contains("rx_queue_") && l.contains("_xdp_packets"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends PER_PHASE frames of FLOWS flows from the 6to4 site, pinned to
/// `cpu` (None: wherever the scheduler puts it); returns each worker's
/// share.
fn phase(shm_path: &Path, cpu: Option<usize>, tag: u8) -> Vec<u64> {
    let before = per_worker(&snapshot(shm_path));
    let n = PER_PHASE.to_string();
    let flows = FLOWS.to_string();
    let tag_s = tag.to_string();
    let cpu_s = cpu.map(|c| c.to_string()).unwrap_or_default();
    let mut args: Vec<&str> = Vec::new();
    if cpu.is_some() {
        args.extend(["taskset", "-c", &cpu_s]);
    }
    args.extend([
        "ip", "netns", "exec", NS_V4, PYTHON, "-c", SCAPY, H4, &n, &flows, &tag_s,
    ]);
    sh(&args);
    let want: u64 = before.iter().map(|(_, v)| v).sum::<u64>() + PER_PHASE as u64;
    let done = wait_until(Duration::from_secs(10), || {
        per_worker(&snapshot(shm_path))
            .iter()
            .map(|(_, v)| v)
            .sum::<u64>()
            >= want
    });
    let after = per_worker(&snapshot(shm_path));
    let share: Vec<u64> = after
        .iter()
        .zip(&before)
        .map(|((_, a), (_, b))| a - b)
        .collect();
    println!(
        "phase {tag} (sender {}): per worker {share:?}",
        cpu.map_or("unpinned".to_owned(), |c| format!("pinned to CPU {c}"))
    );
    assert!(done, "phase {tag}: relayed {share:?} of {PER_PHASE}");
    share
}

#[test]
fn two_workers_on_two_queues_share_the_traffic() {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        println!("skipped: needs two CPUs (--cores 0,1)");
        return;
    }
    if !Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("skipped: `taskset` is not installed");
        return;
    }
    let mut lab = Lab::build(TOPO);
    let cfg = xrelay_engine::Config::from_toml_str(CONFIG).expect("config");
    lab.load_xdp(&cfg, 2);
    // bind and next_hops come from [dataplane]; queues and cores from here.
    let dp = lab.start_dataplane(CONFIG, &["--queues", "2", "--cores", "0,1"]);
    let shm_path = dp.shm.clone();
    let log = dp.log.clone();
    let dp = dp.pid;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("running: 2 worker(s)"), "{text}");
    assert!(
        text.contains("queue 1: bound (copy"),
        "bind from [dataplane]: {text}"
    );
    assert!(
        text.contains("next hops: static"),
        "next_hops from [dataplane]: {text}"
    );
    let s = snapshot(&shm_path);
    let labels: Vec<(&str, u32, Option<u32>)> = s
        .blocks
        .iter()
        .map(|b| (b.label.as_str(), b.queue, b.core))
        .collect();
    assert_eq!(
        labels[..2],
        [
            ("dp-xr-t4q-r4-q0", 0, Some(0)),
            ("dp-xr-t4q-r4-q1", 1, Some(1))
        ],
        "two workers pinned to cores 0 and 1"
    );

    let pcap = lab.dir.join("native.pcap");
    let tlog = lab.dir.join("tshark.log");
    let tshark = lab.spawn(
        &[
            "ip",
            "netns",
            "exec",
            NS_V6,
            "tshark",
            "-q",
            "-i",
            H6,
            "-f",
            "ip6 and src net 2002::/16",
            "-w",
            pcap.to_str().expect("path"),
        ],
        &tlog,
    );
    assert!(
        wait_log(&tlog, "Capturing on", Duration::from_secs(15)).is_some(),
        "tshark did not start: {}",
        std::fs::read_to_string(&tlog).unwrap_or_default()
    );
    std::thread::sleep(Duration::from_millis(300));

    let before = snapshot(&shm_path);
    // Without XPS (the veth default): the flow hash picks the TX queue.
    let hashed = phase(&shm_path, Some(0), 3);
    assert!(
        hashed.iter().all(|&v| v > 0),
        "{FLOWS} flows hash over both queues: {hashed:?}"
    );
    // XPS on the sender: CPU 0 transmits on tx-0, CPU 1 on tx-1 (the veth
    // hands a frame to the peer's RX queue of the same number).
    in_ns(
        NS_V4,
        &[
            "sh",
            "-c",
            &format!(
                "echo 1 > /sys/class/net/{H4}/queues/tx-0/xps_cpus && \
                 echo 2 > /sys/class/net/{H4}/queues/tx-1/xps_cpus"
            ),
        ],
    );
    let unpinned = phase(&shm_path, None, 0);
    let on0 = phase(&shm_path, Some(0), 1);
    let on1 = phase(&shm_path, Some(1), 2);
    let sent = 4 * PER_PHASE as u64;
    println!("rx queues of {R4}: {}", rx_queues(NS_RELAY, R4));

    std::thread::sleep(Duration::from_millis(700));
    assert!(
        lab.interrupt(tshark, Duration::from_secs(10)),
        "tshark did not stop cleanly"
    );
    let after = snapshot(&shm_path);
    let total: Vec<u64> = per_worker(&after)
        .iter()
        .zip(per_worker(&before))
        .map(|((_, a), (_, b))| a - b)
        .collect();
    println!(
        "{sent} sent over {FLOWS} flows; relayed per worker {total:?} \
         (no XPS, CPU 0 {hashed:?}; XPS: unpinned {unpinned:?}, CPU 0 {on0:?}, CPU 1 {on1:?})"
    );
    assert!(
        total.iter().all(|&v| v > 0),
        "both workers carry traffic: {total:?}"
    );
    assert_eq!(total.iter().sum::<u64>(), sent, "relayed = sent");
    let drops: Vec<(String, u64)> = after
        .nonzero()
        .into_iter()
        .filter(|(n, _)| n.starts_with("drop/"))
        .collect();
    assert!(drops.is_empty(), "no drops: {drops:?}");
    let got = lab::tshark_count(&pcap, &[], "ipv6.dst == 2001:db8::1 && ipv6.hlim == 63");
    assert_eq!(got as u64, sent, "frames received by the native host");
    // With XPS set, the sender's CPU decides the queue.
    assert_eq!(on0, [PER_PHASE as u64, 0], "sender on CPU 0 → queue 0");
    assert_eq!(on1, [0, PER_PHASE as u64], "sender on CPU 1 → queue 1");

    assert!(
        lab.interrupt(dp, Duration::from_secs(10)),
        "dataplane exit status: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
