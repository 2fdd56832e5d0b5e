//! Root integration test: the real `xrelay-dataplane` binary relays
//! scapy-built 6to4 traffic in the two-armed netns lab, both directions,
//! with exact counts (N sent, N captured, counters moved by N) and every
//! relayed frame checked by tshark with checksum validation. Skips, and
//! says why, without root, the XDP object, tshark or scapy.

mod lab;

use std::path::Path;
use std::time::Duration;

use lab::*;
use xrelay_dataplane::shm;

const N: usize = 100;

const CONFIG: &str = r#"
[relay]
native_addr = "2001:db8::ff"
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
next_hop_mac = "02:00:00:00:06:02"

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"
"#;

const TSHARK_OPTS: [&str; 4] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
];
const BAD: &str = "_ws.malformed || _ws.expert.severity == error || ip.checksum.status == \"Bad\" \
                   || udp.checksum.status == \"Bad\" || icmpv6.checksum.status == \"Bad\"";

/// N frames from scapy: `6to4` (proto-41 from the site, in the v4
/// namespace) or `native` (ICMPv6 from the native host, in the v6 one).
const SCAPY: &str = r#"
import sys
from scapy.all import Ether, IP, IPv6, ICMPv6EchoRequest, sendp, conf
conf.verb = 0
mode, iface, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pay = b"xrelay-issue-4-" * 4
if mode == "6to4":
    f = [Ether(src="02:00:00:00:04:02", dst="02:00:00:00:04:01")
         / IP(src="192.0.2.1", dst="192.88.99.1", ttl=64)
         / IPv6(src="2002:c000:201::1", dst="2001:db8::1", hlim=64)
         / ICMPv6EchoRequest(id=0x4242, seq=i, data=pay) for i in range(n)]
else:
    f = [Ether(src="02:00:00:00:06:02", dst="02:00:00:00:06:01")
         / IPv6(src="2001:db8::1", dst="2002:c000:201::1", hlim=64)
         / ICMPv6EchoRequest(id=0x4243, seq=i, data=pay) for i in range(n)]
sendp(f, iface=iface)
"#;

fn drops(s: &shm::Snapshot) -> Vec<(String, u64)> {
    s.nonzero()
        .into_iter()
        .filter(|(n, _)| n.starts_with("drop/"))
        .collect()
}

/// Sends N frames from `ns` and checks the relayed ones captured in
/// `cap_ns`: exactly N, checksums valid, the expected rewrite; and that
/// counter `counter` moved by exactly N.
#[allow(clippy::too_many_arguments)]
fn direction(
    lab: &mut Lab,
    shm_path: &Path,
    mode: &str,
    (send_ns, send_dev): (&str, &str),
    (cap_ns, cap_dev, cap_filter): (&str, &str, &str),
    counter: &str,
    expect: &str,
) {
    let pcap = lab.dir.join(format!("{mode}.pcap"));
    let before = snapshot(shm_path);
    let tshark = lab.capture(cap_ns, cap_dev, cap_filter, &pcap);
    in_ns(
        send_ns,
        &[PYTHON, "-c", SCAPY, mode, send_dev, &N.to_string()],
    );
    let moved = wait_until(Duration::from_secs(10), || {
        snapshot(shm_path).total(counter) - before.total(counter) >= N as u64
    });
    // Let stragglers (there must be none) arrive before stopping tshark.
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        lab.interrupt(tshark, Duration::from_secs(10)),
        "tshark did not stop cleanly"
    );
    let after = snapshot(shm_path);
    let delta = after.total(counter) - before.total(counter);
    assert!(
        moved,
        "{mode}: counter {counter} moved by {delta}, expected {N}; counters: {:?}",
        after.nonzero()
    );
    assert_eq!(delta, N as u64, "{mode}: counter {counter}");
    assert_eq!(
        drops(&after),
        drops(&before),
        "{mode}: no drop counter may move"
    );
    assert_eq!(
        after.total("dp/umem_copies") - before.total("dp/umem_copies"),
        N as u64,
        "{mode}: two-armed, every frame crosses UMEMs"
    );
    let got = tshark_count(&pcap, &TSHARK_OPTS, "");
    assert_eq!(got, N, "{mode}: frames captured in {cap_ns}");
    assert_eq!(
        tshark_count(&pcap, &TSHARK_OPTS, BAD),
        0,
        "{mode}: tshark found bad frames"
    );
    assert_eq!(
        tshark_count(&pcap, &TSHARK_OPTS, expect),
        N,
        "{mode}: frames with the expected rewrite ({expect})"
    );
    println!("{mode}: {N} sent, {got} relayed and captured, {counter} +{delta}, tshark clean");
}

#[test]
fn relays_6to4_both_ways_in_the_netns_lab() {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    let mut lab = Lab::new();
    let cfg = xrelay_engine::Config::from_toml_str(CONFIG).expect("config");
    lab.load_xdp(&cfg, 1);
    let dp = lab.start_dataplane(CONFIG, &["--bind", "copy"]);
    let shm_path = dp.shm.clone();
    let log = dp.log.clone();
    let dp = dp.pid;
    let s = snapshot(&shm_path);
    assert_eq!(s.layout_hash, shm::own_layout_hash());
    assert_eq!(s.blocks.len(), 2, "one worker and the slow path");
    assert_eq!(s.blocks[0].label, "dp-xr-t4-r4-q0");

    // 6to4 site → native host: decapsulated, hop limit 63.
    direction(
        &mut lab,
        &shm_path,
        "6to4",
        (NS_V4, H4),
        (NS_V6, H6, "ip6 and src host 2002:c000:201::1"),
        "event/sixto4_decap",
        "eth.src == 02:00:00:00:06:01 && eth.dst == 02:00:00:00:06:02 && !ip \
         && ipv6.src == 2002:c000:201::1 && ipv6.dst == 2001:db8::1 && ipv6.hlim == 63 \
         && icmpv6.type == 128 && icmpv6.echo.identifier == 0x4242",
    );
    // Native host → 6to4 site: encapsulated toward 192.0.2.1 from 192.88.99.1.
    direction(
        &mut lab,
        &shm_path,
        "native",
        (NS_V6, H6),
        (NS_V4, H4, "ip proto 41 and src host 192.88.99.1"),
        "event/sixto4_encap",
        "eth.src == 02:00:00:00:04:01 && eth.dst == 02:00:00:00:04:02 \
         && ip.src == 192.88.99.1 && ip.dst == 192.0.2.1 && ip.proto == 41 && ip.ttl == 64 \
         && ipv6.src == 2001:db8::1 && ipv6.dst == 2002:c000:201::1 && ipv6.hlim == 63 \
         && icmpv6.type == 128 && icmpv6.echo.identifier == 0x4243",
    );

    let s = snapshot(&shm_path);
    assert_eq!(s.total("dp/pass_after_steering"), 0);
    assert_eq!(s.total("dp/umem_exhausted") + s.total("dp/tx_ring_full"), 0);
    assert!(
        s.blocks.iter().all(|b| b.batches > 0 && b.heartbeat_ns > 0),
        "heartbeats"
    );

    // Clean shutdown: SIGINT, XSKMAP cleared, exit 0.
    assert!(lab.alive(dp), "dataplane still running");
    assert!(
        lab.interrupt(dp, Duration::from_secs(10)),
        "dataplane exit status"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    print!("dataplane log:\n{text}");
    assert!(text.contains("stopped"), "{text}");
    let s = snapshot(&shm_path);
    assert!(
        s.blocks
            .iter()
            .all(|b| b.state == shm::BlockState::Stopped as u32),
        "blocks stopped"
    );
}
