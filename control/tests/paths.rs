//! Root integration tests of the four relay paths through the real
//! dataplane (issue 4 acceptance), each in a fresh two-armed lab
//! (`lab/mod.rs` + `paths_kit`): the 6to4 site 192.0.2.1 and the Teredo
//! client 192.0.2.10:8192 are scapy frames sent from the peer
//! namespace's v4 end; the native host 2001:db8::1 is the peer
//! namespace's kernel (it answers echo requests, records path MTUs).
//!
//! Every test asserts exact counts (N sent, N received, dataplane
//! counters moved by exactly N, no drop counter moved unless named), and
//! every frame the relay transmitted during it (captured on the peer ends
//! of both veths by Ethernet source) passes tshark with checksum
//! validation (`paths_kit::PathLab::check_capture`).
//!
//! Skips, saying why, without root, the XDP object, scapy or tshark.

#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;
mod paths_kit;

use paths_kit::{
    assert_dp, path_lab, settle, ANYCAST, CLIENT, CLIENT_PORT, CLIENT_V4, NATIVE, PEER_MAC_V4,
    PEER_MAC_V6, RELAY_MAC_V4, RELAY_MAC_V6, SERVER_V4, SITE_V4, SITE_V6,
};

const N: usize = 20;
const N64: u64 = N as u64;

fn eth4() -> String {
    format!("Ether(src='{PEER_MAC_V4}',dst='{RELAY_MAC_V4}')")
}
fn eth6() -> String {
    format!("Ether(src='{PEER_MAC_V6}',dst='{RELAY_MAC_V6}')")
}

/// A Teredo datagram from the client's mapping to the relay.
fn from_client() -> String {
    format!(
        "{}/IP(src='{CLIENT_V4}',dst='{}')/UDP(sport={CLIENT_PORT},dport=3545)",
        eth4(),
        lab::TEREDO_V4
    )
}

#[test]
fn sixto4_site_to_native_host_and_back() {
    let Some(mut pl) = path_lab("4p1") else {
        return;
    };
    let ctx = "6to4 round trip";
    let (p4, p6) = (pl.p4(), pl.p6());
    let at_native = pl.receiver(
        &p6,
        &format!(
            "lambda p: ICMPv6EchoRequest in p and p[IPv6].src=='{SITE_V6}' \
             and p[IPv6].dst=='{NATIVE}' and p[IPv6].hlim==63 and p[ICMPv6EchoRequest].id==0x4101"
        ),
    );
    let at_site = pl.receiver(
        &p4,
        &format!(
            "lambda p: IP in p and p[IP].proto==41 and p[IP].src=='{ANYCAST}' \
             and p[IP].dst=='{SITE_V4}' and ICMPv6EchoReply in p and p[IPv6].src=='{NATIVE}' \
             and p[IPv6].dst=='{SITE_V6}' and p[ICMPv6EchoReply].id==0x4101"
        ),
    );
    let before = pl.counters();
    pl.send(
        &p4,
        &format!(
            "[{}/IP(src='{SITE_V4}',dst='{ANYCAST}')/IPv6(src='{SITE_V6}',dst='{NATIVE}',hlim=64)\
             /ICMPv6EchoRequest(id=0x4101,seq=i,data=b'xrelay-paths-6to4') for i in range({N})]",
            eth4()
        ),
        0.01,
    );
    let d = settle(
        &pl,
        &before,
        &[("event/sixto4_decap", N64), ("event/sixto4_encap", N64)],
    );
    let requests = at_native.finish().len();
    let replies = at_site.finish().len();
    assert_eq!(requests, N, "{ctx}: echo requests at the native host");
    assert_eq!(replies, N, "{ctx}: encapsulated echo replies at the site");
    assert_dp(
        &d,
        &[("event/sixto4_decap", N64), ("event/sixto4_encap", N64)],
        ctx,
    );
    let checked = pl.check_capture(
        &[
            ("v6", "icmpv6.type == 128", Some(N)),
            ("v4", "ip.proto == 41 && icmpv6.type == 129", Some(N)),
        ],
        ctx,
    );
    println!(
        "[{:5.1}s] {ctx}: {N} sent, {requests} requests at {NATIVE}, {replies} replies at {SITE_V4}; \
         sixto4_decap +{}, sixto4_encap +{}; tshark: {checked} relay frames clean",
        pl.lab.elapsed(),
        d["event/sixto4_decap"],
        d["event/sixto4_encap"]
    );
}

#[test]
fn teredo_client_to_native_host_and_back() {
    let Some(mut pl) = path_lab("4p2") else {
        return;
    };
    let ctx = "Teredo round trip";
    let (p4, p6) = (pl.p4(), pl.p6());
    let start = pl.counters();

    // §5.7: native → client finds no trusted entry: queued, indirect
    // bubble to the client's server.
    let bubbles = pl.receiver(
        &p4,
        &format!(
            "lambda p: UDP in p and p[IP].src=='{teredo}' and p[UDP].sport==3545 \
             and p[IP].dst=='{SERVER_V4}' and p[UDP].dport==3544 and IPv6 in p \
             and p[IPv6].nh==59 and p[IPv6].plen==0 and p[IPv6].dst=='{CLIENT}'",
            teredo = lab::TEREDO_V4
        ),
    );
    let flushed = pl.receiver(
        &p4,
        &format!(
            "lambda p: UDP in p and p[IP].src=='{teredo}' and p[UDP].sport==3545 \
             and p[IP].dst=='{CLIENT_V4}' and p[UDP].dport=={CLIENT_PORT} \
             and ICMPv6EchoRequest in p and p[IPv6].src=='{NATIVE}' and p[IPv6].dst=='{CLIENT}' \
             and p[ICMPv6EchoRequest].id==0x4201",
            teredo = lab::TEREDO_V4
        ),
    );
    pl.send(
        &p6,
        &format!(
            "[{}/IPv6(src='{NATIVE}',dst='{CLIENT}')/ICMPv6EchoRequest(id=0x4201,seq=0,data=b'queued')]",
            eth6()
        ),
        0.0,
    );
    let d = settle(
        &pl,
        &start,
        &[
            ("event/teredo_queued", 1),
            ("event/teredo_bubble_indirect_sent", 1),
        ],
    );
    assert_dp(
        &d,
        &[
            ("event/teredo_queued", 1),
            ("event/teredo_bubble_indirect_sent", 1),
            ("event/teredo_tx", 0),
        ],
        "queued with a bubble",
    );
    let b = bubbles.finish();
    assert_eq!(b.len(), 1, "{ctx}: indirect bubbles at {SERVER_V4}:3544");
    let ihl = usize::from(b[0][14] & 0x0f) * 4;
    let v6 = 14 + ihl + 8;
    let src: [u8; 16] = b[0][v6 + 8..v6 + 24].try_into().expect("16 bytes");
    let bubble_src = std::net::Ipv6Addr::from(src);
    println!(
        "[{:5.1}s] indirect bubble {}:3545 → {SERVER_V4}:3544, IPv6 {bubble_src} → {CLIENT}",
        pl.lab.elapsed(),
        lab::TEREDO_V4
    );

    // The client's direct bubble from its mapping: trusted, queue flushed.
    let before = pl.counters();
    pl.send(
        &p4,
        &format!(
            "[{}/IPv6(src='{CLIENT}',dst='{bubble_src}',hlim=255)]",
            from_client()
        ),
        0.0,
    );
    let d = settle(
        &pl,
        &before,
        &[
            ("event/teredo_peer_trusted", 1),
            ("event/teredo_queue_flushed", 1),
        ],
    );
    assert_dp(
        &d,
        &[
            ("event/teredo_peer_trusted", 1),
            ("event/teredo_queue_flushed", 1),
            ("event/teredo_bubble_received", 1),
        ],
        "direct bubble",
    );
    assert_eq!(
        flushed.finish().len(),
        1,
        "{ctx}: the queued packet at the client"
    );

    // N client → native echo requests, N replies back to the mapping.
    let at_native = pl.receiver(
        &p6,
        &format!(
            "lambda p: ICMPv6EchoRequest in p and p[IPv6].src=='{CLIENT}' \
             and p[IPv6].dst=='{NATIVE}' and p[IPv6].hlim==63 and p[ICMPv6EchoRequest].id==0x4202"
        ),
    );
    let at_client = pl.receiver(
        &p4,
        &format!(
            "lambda p: UDP in p and p[IP].src=='{teredo}' and p[UDP].sport==3545 \
             and p[IP].dst=='{CLIENT_V4}' and p[UDP].dport=={CLIENT_PORT} \
             and ICMPv6EchoReply in p and p[IPv6].src=='{NATIVE}' and p[IPv6].dst=='{CLIENT}' \
             and p[ICMPv6EchoReply].id==0x4202",
            teredo = lab::TEREDO_V4
        ),
    );
    let before = pl.counters();
    pl.send(
        &p4,
        &format!(
            "[{}/IPv6(src='{CLIENT}',dst='{NATIVE}',hlim=64)\
             /ICMPv6EchoRequest(id=0x4202,seq=i,data=b'xrelay-paths-teredo') for i in range({N})]",
            from_client()
        ),
        0.01,
    );
    let d = settle(
        &pl,
        &before,
        &[("event/teredo_rx", N64), ("event/teredo_tx", N64)],
    );
    let requests = at_native.finish().len();
    let replies = at_client.finish().len();
    assert_eq!(requests, N, "{ctx}: echo requests at the native host");
    assert_eq!(replies, N, "{ctx}: echo replies at the client's mapping");
    assert_dp(
        &d,
        &[
            ("event/teredo_rx", N64),
            ("event/teredo_tx", N64),
            ("event/teredo_queued", 0),
            ("event/teredo_bubble_indirect_sent", 0),
        ],
        ctx,
    );
    // Normally the only bubble; a retry (2 s after the first) would be
    // counted, and must then be on the wire too.
    let total = paths_kit::dp_delta(&pl.counters(), &start);
    let all_bubbles = total["event/teredo_bubble_indirect_sent"];
    assert!(all_bubbles >= 1, "{ctx}: bubbles sent");
    let checked = pl.check_capture(
        &[
            (
                "v4",
                "udp.dstport == 3544 && ipv6.nxt == 59",
                Some(usize::try_from(all_bubbles).expect("count")),
            ),
            (
                "v4",
                "udp.srcport == 3545 && udp.dstport == 8192 && icmpv6.type == 128",
                Some(1),
            ),
            (
                "v4",
                "udp.srcport == 3545 && udp.dstport == 8192 && icmpv6.type == 129",
                Some(N),
            ),
            ("v6", "icmpv6.type == 128", Some(N)),
        ],
        ctx,
    );
    println!(
        "[{:5.1}s] {ctx}: {all_bubbles} indirect bubble(s), trusted via the direct bubble, 1 queued packet flushed; {N} sent, {requests} requests \
         at {NATIVE}, {replies} replies at {CLIENT_V4}:{CLIENT_PORT}; teredo_rx +{}, teredo_tx +{}; \
         tshark: {checked} relay frames clean",
        pl.lab.elapsed(),
        d["event/teredo_rx"],
        d["event/teredo_tx"]
    );
}

#[test]
fn icmpv6_errors_reach_the_sender() {
    let Some(mut pl) = path_lab("4p3") else {
        return;
    };
    let (p4, p6) = (pl.p4(), pl.p6());

    // Hop limit 1 from the 6to4 site: Time Exceeded back, encapsulated
    // from the anycast address; nothing reaches the native host.
    let ctx = "Time Exceeded";
    let at_native = pl.receiver(
        &p6,
        &format!("lambda p: IPv6 in p and p[IPv6].src=='{SITE_V6}'"),
    );
    let at_site = pl.receiver(
        &p4,
        &format!(
            "lambda p: IP in p and p[IP].proto==41 and p[IP].src=='{ANYCAST}' \
             and p[IP].dst=='{SITE_V4}' and ICMPv6TimeExceeded in p and p[ICMPv6TimeExceeded].code==0 \
             and p[IPv6].dst=='{SITE_V6}' and p[IPerror6].src=='{SITE_V6}' and p[IPerror6].dst=='{NATIVE}'"
        ),
    );
    let before = pl.counters();
    pl.send(
        &p4,
        &format!(
            "[{}/IP(src='{SITE_V4}',dst='{ANYCAST}')/IPv6(src='{SITE_V6}',dst='{NATIVE}',hlim=1)\
             /ICMPv6EchoRequest(id=0x4301,seq=i) for i in range({N})]",
            eth4()
        ),
        0.01,
    );
    let d = settle(&pl, &before, &[("event/icmp6_time_exceeded_sent", N64)]);
    let errors = at_site.finish().len();
    let leaked = at_native.finish().len();
    assert_eq!(errors, N, "{ctx}: Time Exceeded at the site");
    assert_eq!(leaked, 0, "{ctx}: nothing forwarded to the native host");
    let hl = hop_limit_counter(&d, "s4_09");
    assert_dp(
        &d,
        &[
            ("event/icmp6_time_exceeded_sent", N64),
            (hl.as_str(), N64),
            ("event/sixto4_decap", 0),
        ],
        ctx,
    );
    println!(
        "[{:5.1}s] {ctx}: {N} hop-limit-1 frames, {errors} Time Exceeded at {SITE_V4} from {ANYCAST}, \
         {leaked} forwarded; icmp6_time_exceeded_sent +{N}, {hl} +{N}",
        pl.lab.elapsed()
    );

    // 1481 bytes from the native host to the 6to4 site: Packet Too Big
    // (MTU 1480) back to it; its kernel records the path MTU.
    let ctx = "Packet Too Big";
    let at_native = pl.receiver(
        &p6,
        &format!(
            "lambda p: ICMPv6PacketTooBig in p and p[ICMPv6PacketTooBig].mtu==1480 \
             and p[IPv6].dst=='{NATIVE}' and p[IPerror6].src=='{NATIVE}' and p[IPerror6].dst=='{SITE_V6}'"
        ),
    );
    let at_site = pl.receiver(
        &p4,
        &format!("lambda p: IP in p and p[IP].proto==41 and p[IP].dst=='{SITE_V4}'"),
    );
    let before = pl.counters();
    // 40 (IPv6) + 8 (echo header) + 1433 = 1481 bytes.
    pl.send(
        &p6,
        &format!(
            "[{}/IPv6(src='{NATIVE}',dst='{SITE_V6}',hlim=64)\
             /ICMPv6EchoRequest(id=0x4302,seq=i,data=b'P'*1433) for i in range({N})]",
            eth6()
        ),
        0.01,
    );
    let d = settle(&pl, &before, &[("event/icmp6_packet_too_big_sent", N64)]);
    let ptbs = at_native.finish().len();
    let leaked = at_site.finish().len();
    assert_eq!(ptbs, N, "{ctx}: Packet Too Big at the native host");
    assert_eq!(leaked, 0, "{ctx}: nothing encapsulated to the site");
    assert_dp(
        &d,
        &[
            ("event/icmp6_packet_too_big_sent", N64),
            ("drop/s6_08_exceeds_tunnel_mtu", N64),
            ("event/sixto4_encap", 0),
        ],
        ctx,
    );
    let route = pl.lab.ns(
        &pl.lab.peer_ns.clone(),
        &format!("ip -6 route get {SITE_V6} from {NATIVE}"),
    );
    assert!(
        route.contains("mtu 1480"),
        "{ctx}: the native host's kernel did not record the PMTU: {route}"
    );
    let checked = pl.check_capture(
        &[
            ("v4", "ip.proto == 41 && icmpv6.type == 3", Some(N)),
            ("v6", "icmpv6.type == 2 && icmpv6.mtu == 1480", Some(N)),
        ],
        "ICMPv6 errors",
    );
    println!(
        "[{:5.1}s] {ctx}: {N} × 1481 bytes, {ptbs} PTB (MTU 1480) at {NATIVE}, {leaked} encapsulated; \
         icmp6_packet_too_big_sent +{N}, s6_08_exceeds_tunnel_mtu +{N}; kernel: {}; tshark: {checked} relay frames clean",
        pl.lab.elapsed(),
        route.trim()
    );
}

/// The name of the hop-limit counter of `check` (`s4_09`) as the dataplane
/// exposes it (a drop or an event).
fn hop_limit_counter(d: &std::collections::BTreeMap<String, u64>, check: &str) -> String {
    let prefix = format!("{check}_");
    d.keys()
        .find(|n| {
            n.split_once('/')
                .is_some_and(|(_, s)| s.starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("no counter for {check}: {:?}", d.keys()))
        .clone()
}

#[test]
fn spoofed_and_non_teredo_sources_are_dropped() {
    let Some(mut pl) = path_lab("4p4") else {
        return;
    };
    let (p4, p6) = (pl.p4(), pl.p6());
    let at_native = pl.receiver(
        &p6,
        &format!("lambda p: IPv6 in p and p[IPv6].src in ('{SITE_V6}', '2001:db8::99')"),
    );

    let ctx = "spoofed 6to4 source";
    let before = pl.counters();
    pl.send(
        &p4,
        &format!(
            "[{}/IP(src='198.51.100.7',dst='{ANYCAST}')/IPv6(src='{SITE_V6}',dst='{NATIVE}',hlim=64)\
             /ICMPv6EchoRequest(id=0x4401,seq=i) for i in range({N})]",
            eth4()
        ),
        0.005,
    );
    let d = settle(&pl, &before, &[("drop/s4_05_spoofed_6to4_source", N64)]);
    assert_dp(
        &d,
        &[
            ("drop/s4_05_spoofed_6to4_source", N64),
            ("event/sixto4_decap", 0),
        ],
        ctx,
    );

    let ctx2 = "non-Teredo source over UDP 3545";
    let before = pl.counters();
    pl.send(
        &p4,
        &format!(
            "[{}/IPv6(src='2001:db8::99',dst='{NATIVE}',hlim=64)\
             /ICMPv6EchoRequest(id=0x4402,seq=i) for i in range({N})]",
            from_client()
        ),
        0.005,
    );
    let d2 = settle(&pl, &before, &[("drop/t4_05_not_teredo_source", N64)]);
    assert_dp(
        &d2,
        &[
            ("drop/t4_05_not_teredo_source", N64),
            ("event/teredo_rx", 0),
        ],
        ctx2,
    );
    let delivered = at_native.finish().len();
    assert_eq!(delivered, 0, "nothing delivered on the native side");
    let checked = pl.check_capture(&[], "drops");
    println!(
        "[{:5.1}s] {ctx}: {N} sent, s4_05_spoofed_6to4_source +{}; {ctx2}: {N} sent, \
         t4_05_not_teredo_source +{}; delivered {delivered}; relay frames {checked} (link control only)",
        pl.lab.elapsed(),
        d["drop/s4_05_spoofed_6to4_source"],
        d2["drop/t4_05_not_teredo_source"]
    );
}

/// A TCP echo server in the relay namespace (one v4, one v6 connection).
const TCP_SERVER: &str = r#"
import socket, sys
ls = []
for fam, addr in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 7400))
    s.listen(1)
    s.settimeout(20)
    ls.append(s)
print("ready", flush=True)
for s in ls:
    c, a = s.accept()
    c.settimeout(10)
    d = c.recv(100)
    c.sendall(d)
    c.close()
    print("served", a[0], flush=True)
"#;

const TCP_CLIENT: &str = r#"
import socket, sys
for fam, addr in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((addr, 7400))
    s.sendall(b"xrelay-tcp")
    assert s.recv(100) == b"xrelay-tcp", addr
    s.close()
print("ok", flush=True)
"#;

#[test]
fn arp_nd_tcp_to_the_relay_unaffected() {
    let Some(mut pl) = path_lab("4p5") else {
        return;
    };
    let ctx = "relay host traffic";
    let (p4, p6) = (pl.p4(), pl.p6());
    let peer_ns = pl.lab.peer_ns.clone();
    let relay_ns = pl.lab.relay_ns.clone();
    let before = pl.counters();
    // Fresh neighbour caches: resolution must happen through the XDP hook.
    pl.lab.ns(
        &peer_ns,
        &format!("ip neigh flush dev {p4} && ip -6 neigh flush dev {p6}"),
    );
    for dst in [lab::RELAY_V4, lab::TEREDO_V4, lab::RELAY_V6] {
        pl.lab.echo(dst);
    }
    let n4 = pl.lab.ns(
        &peer_ns,
        &format!("ip neigh show {} dev {p4}", lab::RELAY_V4),
    );
    let n6 = pl.lab.ns(
        &peer_ns,
        &format!("ip -6 neigh show {} dev {p6}", lab::RELAY_V6),
    );
    assert!(n4.contains(RELAY_MAC_V4), "{ctx}: ARP: {n4}");
    assert!(n6.contains(RELAY_MAC_V6), "{ctx}: ND: {n6}");

    let server = paths_kit::spawn_ready(&relay_ns, TCP_SERVER, &[lab::RELAY_V4, lab::RELAY_V6]);
    let client = pl.lab.ns(
        &peer_ns,
        &format!(
            "timeout 20 {} -c '{TCP_CLIENT}' {} {}",
            lab::PYTHON,
            lab::RELAY_V4,
            lab::RELAY_V6
        ),
    );
    assert_eq!(client.trim(), "ok", "{ctx}: TCP client");
    let (st, served) = paths_kit::finish_helper(server);
    assert!(st.success(), "{ctx}: TCP server: {st} {served:?}");
    assert_eq!(
        served,
        vec![
            format!("served {}", lab::PEER_V4),
            format!("served {}", lab::PEER_V6)
        ]
    );
    let d = paths_kit::dp_delta(&pl.counters(), &before);
    assert_dp(
        &d,
        &[
            ("event/sixto4_decap", 0),
            ("event/sixto4_encap", 0),
            ("event/teredo_rx", 0),
            ("event/teredo_tx", 0),
        ],
        ctx,
    );
    let checked = pl.check_capture(
        &[
            ("v4", "icmp.type == 0", Some(2)),
            ("v4", "tcp", None),
            ("v6", "icmpv6.type == 129", Some(1)),
            ("v6", "tcp", None),
        ],
        ctx,
    );
    println!(
        "[{:5.1}s] {ctx}: ARP → {}, ND → {}; echo replies from {}, {}, {}; TCP v4+v6 echoed; \
         tshark: {checked} relay frames clean",
        pl.lab.elapsed(),
        n4.trim(),
        n6.trim(),
        lab::RELAY_V4,
        lab::TEREDO_V4,
        lab::RELAY_V6
    );
}
