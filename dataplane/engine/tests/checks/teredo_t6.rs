//! T6-01 … T6-ok: Teredo transmission, native IPv6 → UDP to clients
//! (SPEC §3.5, §3.6, §3.9, §4.5). Timers run on the injected clock.

use std::net::Ipv6Addr;

use xrelay_engine::config::BubbleSource;
use xrelay_engine::{
    Config, DropReason as R, Event, IcmpError, Now, PeerTable, Pipeline, Port, SlowKind,
};

use crate::common::{lab, lab_with, run};
use crate::kit::*;

/// Client B of RFC 6081 §3.1: server 203.0.113.120, 192.0.2.1:4096.
const CLIENT_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xcb00, 0x7178, 0, 0xefff, 0x3fff, 0xfdfe);

/// Bubbles sourced from the native address, so every byte is predictable
/// (the default keyed-hash source is opaque by design); idle eviction far
/// away so timer tests see the entry's own life cycle.
fn cfg() -> Config {
    lab_with(|c| {
        c.teredo.bubble_source = BubbleSource::Native;
        c.teredo.peer_idle_evict = 3600;
    })
}

fn at_ms(ms: u64) -> Now {
    Now::from_millis(NOW.millis() + ms)
}

/// The indirect bubble toward the lab client's server.
fn indirect() -> (Port, Vec<u8>) {
    tx4(&to_client(SERVER4, 3544, &bubble(RELAY6, CLIENT6, 0)))
}

/// What the relay sends to the trusted lab client for native `p`.
fn sent(p: &[u8]) -> (Port, Vec<u8>) {
    tx4(&to_client(CLIENT4, CPORT, &with_hop(p, p[7] - 1)))
}

fn native_to(dst: Ipv6Addr) -> Vec<u8> {
    echo_rep(NATIVE6, dst, 64, 7, b"teredo!!")
}

fn new_pipe() -> Pipeline {
    pipe(&cfg(), &no_peers, NOW)
}

#[test]
fn check_t6_01_not_teredo_on_the_teredo_path() {
    // Teredo alone, with an operator prefix steered to it.
    let cfg = lab_with(|c| {
        c.sixto4.enabled = false;
        c.relay.managed_prefixes = vec!["2001:db8:beef::/48".parse().expect("net")];
    });
    let p = native_to(v6("2001:db8:beef::1"));
    expect_icmp(
        &cfg,
        &no_peers,
        Port::V6,
        &rx6(&p),
        R::T6_01NotTeredo,
        IcmpError::Unreachable(3),
        vec![tx6(&unreachable(&p, 3))],
    );
    // 2002::/16 is not managed when 6to4 is off: the kernel's.
    expect_pass(&cfg, Port::V6, &rx6(&native_to(SITE6)), Event::PassNotOurs);
    // Twin: a Teredo destination.
    let t = to_teredo(64, 7);
    expect_tx(&cfg, &client_trusted, Port::V6, &rx6(&t), sent(&t));
}

#[test]
fn check_t6_02_multicast_destination_in_a_unicast_frame() {
    for dst in ["ff02::1", "ff0e::1", "ff05::1:3"] {
        lab_drop(Port::V6, &rx6(&native_to(v6(dst))), R::T6_02MulticastDst);
    }
    // The same packet in a multicast frame (33:33:…) is the kernel's (C-01).
    let mut mcast = rx6(&native_to(v6("ff02::1")));
    mcast[..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    expect_pass(&lab(), Port::V6, &mcast, Event::PassL2Multicast);
    let t = to_teredo(64, 7);
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&t), sent(&t));
}

#[test]
fn check_t6_03_bogon_server_field() {
    for dst in [
        "2001:0:a00:1:0:63bf:3fff:fdf5",     // server 10.0.0.1
        "2001::1:0:63bf:3fff:fdf5",          // server 0.0.0.1
        "2001::63bf:3fff:fdf5",              // server 0.0.0.0
        "2001:0:c058:6301:0:dfff:3fff:fdf5", // server 192.88.99.1 (list B)
        "2001:0:e000:1:0:dfff:3fff:fdf5",    // server 224.0.0.1
    ] {
        eprintln!("T6-03 {dst}");
        lab_drop(Port::V6, &rx6(&native_to(v6(dst))), R::T6_03BogonServer);
    }
    let t = to_teredo(64, 7);
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&t), sent(&t));
}

#[test]
fn check_t6_04_bogon_client_field_silent() {
    // SPEC §5.5.
    for dst in [
        "2001:0:c633:6476:0:63bf:f5ff:fffe", // 10.0.0.1
        "2001:0:c633:6476:0:63bf:80ff:fffe", // 127.0.0.1
        "2001:0:c633:6476:0:63bf:1fff:fffe", // 224.0.0.1
        "2001:0:c633:6476:0:63bf::",         // 255.255.255.255
        "2001:0:c633:6476:0:63bf:5601:fefe", // 169.254.1.1
        "2001:0:c633:6476:0:63bf:53ef:fffe", // 172.16.0.1
        "2001:0:c633:6476:0:63bf:3f57:fefe", // 192.168.1.1
        "2001:0:c633:6476:0:63bf:ffff:fffe", // 0.0.0.1
        "2001:0:c633:6476:0:63bf:3fa7:9cfe", // 192.88.99.1 (list B only)
    ] {
        eprintln!("T6-04 {dst}");
        lab_drop(Port::V6, &rx6(&native_to(v6(dst))), R::T6_04BogonClient);
    }
    // The directed broadcast of the attached 203.0.113.0/24.
    let bcast = teredo(SERVER4, 0, v4("203.0.113.255"), 40000);
    lab_drop(Port::V6, &rx6(&native_to(bcast)), R::T6_04BogonClient);
    // Twins: 240.0.0.1 and 100.64.0.1 are not in list B.
    for client in ["240.0.0.1", "100.64.0.1"] {
        let a = teredo(SERVER4, 0, v4(client), 40000);
        let p = native_to(a);
        let t = move |t: &mut PeerTable, now: Now| trust(t, a, v4(client), 40000, now);
        expect_tx(
            &lab(),
            &t,
            Port::V6,
            &rx6(&p),
            tx4(&to_client(v4(client), 40000, &with_hop(&p, 63))),
        );
    }
    assert_eq!(
        teredo(SERVER4, 0, v4("240.0.0.1"), 40000),
        v6("2001:0:c633:6476:0:63bf:fff:fffe")
    );
}

#[test]
fn check_t6_05_bad_source() {
    for src in [
        "fe80::1",
        "::",
        "::1",
        "ff02::1",
        "::ffff:192.0.2.99",
        "::192.0.2.99",
    ] {
        eprintln!("T6-05 {src}");
        let p = echo_rep(v6(src), CLIENT6, 64, 7, b"t605");
        expect_drop(
            &lab(),
            &client_trusted,
            Port::V6,
            &rx6(&p),
            R::T6_05BadSource,
        );
    }
    let t = to_teredo(64, 7);
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&t), sent(&t));
}

#[test]
fn check_t6_06_hop_limit_time_exceeded() {
    for hop in [1, 0] {
        let p = to_teredo(hop, 7);
        expect_icmp(
            &lab(),
            &client_trusted,
            Port::V6,
            &rx6(&p),
            R::T6_06HopLimit,
            IcmpError::TimeExceeded,
            vec![tx6(&time_exceeded(&p))],
        );
    }
    let t = to_teredo(2, 7);
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&t), sent(&t));
}

#[test]
fn check_t6_07_teredo_mtu_packet_too_big() {
    let big = sized(NATIVE6, CLIENT6, 64, 1281);
    let err = too_big(&big, 1280);
    assert_eq!(err.len(), 1280);
    expect_icmp(
        &lab(),
        &client_trusted,
        Port::V6,
        &rx6(&big),
        R::T6_07TeredoMtu,
        IcmpError::PacketTooBig(1280),
        vec![tx6(&err)],
    );
    // Twin: exactly 1280 octets → a 1308-octet UDP/IPv4 datagram.
    let fits = sized(NATIVE6, CLIENT6, 64, 1280);
    let out = sent(&fits);
    assert_eq!(out.1.len(), 14 + 1308);
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&fits), out);
}

#[test]
fn check_t6_08_trusted_and_valid_is_sent() {
    let t = to_teredo(64, 7);
    // SPEC §5.7's flushed reply, byte for byte.
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&t), sent(&t));
    // Valid for 30 s after the last reception (RFC 4380 §5.2.4).
    let heard_at_100 = |tb: &mut PeerTable, _: Now| client_trusted(tb, NOW);
    let f = fast(
        &lab(),
        &heard_at_100,
        Port::V6,
        &rx6(&t),
        Now::from_secs(129),
    );
    assert_eq!(f.out, Some(sent(&t)));
    let f = fast(
        &lab(),
        &heard_at_100,
        Port::V6,
        &rx6(&t),
        Now::from_secs(130),
    );
    assert_eq!(f.verdict, xrelay_engine::Verdict::Slow(SlowKind::TeredoTx));
    // Stale → not sent to the old mapping: queued and re-bubbled; the
    // client's bubble releases it.
    let mut p = pipe(&cfg(), &heard_at_100, NOW);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&t), Now::from_secs(129)).tx,
        vec![sent(&t)]
    );
    let r = run(&mut p, Port::V6, &rx6(&t), Now::from_secs(130));
    assert_eq!(
        r.tx,
        vec![indirect()],
        "re-bubble, nothing to the stale mapping"
    );
    let r = run(
        &mut p,
        Port::V4,
        &rx4(&from_client(CLIENT4, CPORT, &bubble(CLIENT6, RELAY6, 0))),
        Now::from_secs(131),
    );
    assert_eq!(r.tx, vec![sent(&t)]);
    assert_eq!(drops(&p.counters()), vec![]);
}

#[test]
fn check_t6_09_queue_and_bubble() {
    let (a, b) = (to_teredo(64, 1), to_teredo(64, 2));
    expect_slow(&cfg(), &no_peers, Port::V6, &rx6(&a), SlowKind::TeredoTx);
    let mut p = new_pipe();
    // First packet: queued, one indirect bubble to server:3544, nothing to
    // the client.
    let r = run(&mut p, Port::V6, &rx6(&a), NOW);
    assert_eq!(r.tx, vec![indirect()]);
    assert_eq!(r.consumed, vec![rx6(&a)]);
    // A second packet 1 s later: queued, but no bubble (spacing ≥ 2 s).
    let r = run(&mut p, Port::V6, &rx6(&b), at_ms(1000));
    assert_eq!(r.tx, vec![]);
    let e = p.peers().find(&CLIENT6).expect("entry");
    assert_eq!((e.is_trusted(), e.queue.len(), e.bubbles), (false, 2, 1));
    // Timer-driven retries exactly 2 s apart, at most 4 bubbles in all.
    let mut bubbles = 1;
    for (ms, want) in [
        (1999, 0),
        (2000, 1),
        (3999, 0),
        (4000, 1),
        (5999, 0),
        (6000, 1),
        (7999, 0),
    ] {
        let r = tick(&mut p, at_ms(ms));
        assert_eq!(r.tx, vec![indirect(); want], "at +{ms} ms");
        bubbles += want;
    }
    assert_eq!(bubbles, 4);
    let c = p.counters();
    assert_eq!(drops(&c), vec![]);
    assert_eq!(
        (
            ev(&c, Event::Queued),
            ev(&c, Event::BubbleIndirect),
            ev(&c, Event::BubbleDeferred)
        ),
        (2, 4, 1)
    );
    // The reply bubble before the budget ends: trusted, queue flushed FIFO.
    let r = run(
        &mut p,
        Port::V4,
        &rx4(&from_client(CLIENT4, CPORT, &bubble(CLIENT6, RELAY6, 0))),
        at_ms(7000),
    );
    assert_eq!(r.tx, vec![sent(&a), sent(&b)]);
    assert_eq!(
        tick(&mut p, at_ms(8000)).tx,
        vec![],
        "no budget exhaustion once trusted"
    );
}

#[test]
fn check_t6_09_direct_bubble_and_cone_options() {
    // teredo.direct_bubbles: also a bubble to the address-embedded mapping.
    let direct = lab_with(|c| {
        c.teredo.bubble_source = BubbleSource::Native;
        c.teredo.direct_bubbles = true;
    });
    let a = to_teredo(64, 1);
    let (_, r) = piped(&direct, &no_peers, Port::V6, &rx6(&a), NOW);
    assert_eq!(
        r.tx,
        vec![
            tx4(&to_client(CLIENT4, CPORT, &bubble(RELAY6, CLIENT6, 0))),
            indirect()
        ]
    );
    // The cone bit is ignored by default (RFC 5991 §3.2) …
    let cone = teredo(SERVER4, 0x8000, CLIENT4, CPORT);
    let c = native_to(cone);
    let (_, r) = piped(&cfg(), &no_peers, Port::V6, &rx6(&c), NOW);
    assert_eq!(
        r.tx,
        vec![tx4(&to_client(SERVER4, 3544, &bubble(RELAY6, cone, 0)))]
    );
    // … and honoured on request: sent straight to the mapping.
    let honour = lab_with(|c| c.teredo.honour_cone_bit = true);
    let (p, r) = piped(&honour, &no_peers, Port::V6, &rx6(&c), NOW);
    assert_eq!(
        r.tx,
        vec![tx4(&to_client(CLIENT4, CPORT, &with_hop(&c, 63)))]
    );
    assert!(p.peers().find(&cone).is_some_and(|e| e.is_trusted()));
    // The default bubble source is link-local: fe80::/64 with the two low
    // bits of the first identifier octet clear.
    let (p, r) = piped(&lab(), &no_peers, Port::V6, &rx6(&a), NOW);
    let src = p.slow().bubble_source(CLIENT4, CPORT);
    assert_eq!(src.segments()[..4], [0xfe80, 0, 0, 0]);
    assert_eq!(src.octets()[8] & 3, 0);
    assert_eq!(
        r.tx,
        vec![tx4(&to_client(SERVER4, 3544, &bubble(src, CLIENT6, 0)))]
    );
}

/// Runs the lab client's four unanswered bubbles from `NOW`; `a` queued.
fn exhaust(p: &mut Pipeline, a: &[u8], b: &[u8]) {
    run(p, Port::V6, &rx6(a), NOW);
    run(p, Port::V6, &rx6(b), at_ms(1000));
    for ms in [2000, 4000, 6000] {
        assert_eq!(tick(p, at_ms(ms)).tx, vec![indirect()]);
    }
}

#[test]
fn check_t6_10_bubble_budget_exhausted() {
    let (a, b) = (to_teredo(64, 1), to_teredo(64, 2));
    let mut p = new_pipe();
    exhaust(&mut p, &a, &b);
    // 2 s after the fourth bubble: every queued packet gets Destination
    // Unreachable code 3 (quoting it as queued, hop limit 63), queue freed.
    let r = tick(&mut p, at_ms(8000));
    assert_eq!(
        r.tx,
        vec![
            tx6(&unreachable(&with_hop(&a, 63), 3)),
            tx6(&unreachable(&with_hop(&b, 63), 3))
        ]
    );
    assert_eq!(
        r.dropped.iter().map(|d| d.0).collect::<Vec<_>>(),
        vec![R::T6_10BubbleBudget; 2]
    );
    let c = p.counters();
    assert_eq!(drops(&c), vec![(R::T6_10BubbleBudget, 2)]);
    assert_eq!(
        (ev(&c, Event::PeerExpired), ev(&c, Event::Icmp6Unreachable)),
        (1, 2)
    );
    assert_eq!(
        (
            p.peers().queued_bytes(),
            p.peers().find(&CLIENT6).map(|e| e.has_queue())
        ),
        (0, Some(false))
    );
    // Tombstone until the 300 s bubble window ends: no new bubble, each new
    // packet answered with 1/3 at once.
    for s in [9, 299] {
        let n = to_teredo(64, s as u16);
        let r = run(&mut p, Port::V6, &rx6(&n), Now::from_secs(100 + s));
        assert_eq!(
            r.tx,
            vec![tx6(&unreachable(&with_hop(&n, 63), 3))],
            "at +{s} s"
        );
    }
    assert_eq!(drops(&p.counters()), vec![(R::T6_10BubbleBudget, 4)]);
    // From the end of the window the peer may be tried again.
    let n = to_teredo(64, 300);
    let r = run(&mut p, Port::V6, &rx6(&n), Now::from_secs(400));
    assert_eq!(r.tx, vec![indirect()]);
    assert_eq!(drops(&p.counters()), vec![(R::T6_10BubbleBudget, 4)]);
    // Twin: a reply during the budget prevents all of it (see T6-09).
}

#[test]
fn check_t6_11_queue_full() {
    let mut p = new_pipe();
    let pkts: Vec<Vec<u8>> = (1..=9).map(|s| to_teredo(64, s)).collect();
    for (i, pk) in pkts.iter().enumerate() {
        let r = run(&mut p, Port::V6, &rx6(pk), NOW);
        assert_eq!(r.tx, if i == 0 { vec![indirect()] } else { vec![] });
    }
    // The ninth exceeds teredo.queue_pkts = 8: dropped, no ICMP.
    let c = p.counters();
    assert_eq!(drops(&c), vec![(R::T6_11QueueFull, 1)]);
    assert_eq!(ev(&c, Event::Queued), 8);
    assert_eq!(ev(&c, Event::Icmp6Unreachable), 0);
    // Twin: the eight that fit are flushed in order on the reply bubble.
    let r = run(
        &mut p,
        Port::V4,
        &rx4(&from_client(CLIENT4, CPORT, &bubble(CLIENT6, RELAY6, 0))),
        at_ms(500),
    );
    assert_eq!(
        r.tx,
        pkts[..8].iter().map(|pk| sent(pk)).collect::<Vec<_>>()
    );
    // Byte limit (teredo.queue_bytes = 1280): two 700-octet packets.
    let mut p = new_pipe();
    let big: Vec<Vec<u8>> = (0..2).map(|_| sized(NATIVE6, CLIENT6, 64, 700)).collect();
    run(&mut p, Port::V6, &rx6(&big[0]), NOW);
    let r = run(&mut p, Port::V6, &rx6(&big[1]), NOW);
    assert_eq!((r.tx, r.dropped.len()), (vec![], 1));
    assert_eq!(drops(&p.counters()), vec![(R::T6_11QueueFull, 1)]);
}

#[test]
fn check_t6_12_peer_table_full() {
    let small = lab_with(|c| {
        c.teredo.bubble_source = BubbleSource::Native;
        c.teredo.peer_capacity = 1;
    });
    let to_b = native_to(CLIENT_B);
    let b_bubble = tx4(&to_client(
        v4("203.0.113.120"),
        3544,
        &bubble(RELAY6, CLIENT_B, 0),
    ));
    let mut p = pipe(&small, &client_trusted, NOW);
    let r = run(&mut p, Port::V6, &rx6(&to_b), NOW);
    assert_eq!(r.tx, vec![]);
    assert_eq!(
        r.dropped.iter().map(|d| d.0).collect::<Vec<_>>(),
        vec![R::T6_12PeerTableFull]
    );
    assert_eq!(drops(&p.counters()), vec![(R::T6_12PeerTableFull, 1)]);
    // Twin: once the only entry has been idle for 60 s it is reclaimed.
    let r = run(&mut p, Port::V6, &rx6(&to_b), Now::from_secs(160));
    assert_eq!(r.tx, vec![b_bubble.clone()]);
    assert_eq!(drops(&p.counters()), vec![(R::T6_12PeerTableFull, 1)]);
}

#[test]
fn check_t6_12_new_peer_rate() {
    let limited = lab_with(|c| {
        c.teredo.bubble_source = BubbleSource::Native;
        c.teredo.new_peer_rate = 1;
        c.teredo.new_peer_burst = 1;
    });
    let mut p = pipe(&limited, &no_peers, NOW);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&native_to(CLIENT6)), NOW).tx,
        vec![indirect()]
    );
    // A second new peer from the same source /64 in the same instant.
    let to_b = native_to(CLIENT_B);
    let r = run(&mut p, Port::V6, &rx6(&to_b), NOW);
    assert_eq!(
        (
            r.tx.len(),
            r.dropped.iter().map(|d| d.0).collect::<Vec<_>>()
        ),
        (0, vec![R::T6_12NewPeerRate])
    );
    assert_eq!(drops(&p.counters()), vec![(R::T6_12NewPeerRate, 1)]);
    // Twins: another source /64 has its own budget; the same /64 a second
    // later has a token again.
    let b_bubble = tx4(&to_client(
        v4("203.0.113.120"),
        3544,
        &bubble(RELAY6, CLIENT_B, 0),
    ));
    let other = echo_rep(v6("2001:db8:1::1"), CLIENT_B, 64, 7, b"teredo!!");
    assert_eq!(run(&mut p, Port::V6, &rx6(&other), NOW).tx, vec![b_bubble]);
    let mut p = pipe(&limited, &no_peers, NOW);
    run(&mut p, Port::V6, &rx6(&native_to(CLIENT6)), NOW);
    let r = run(&mut p, Port::V6, &rx6(&to_b), at_ms(1000));
    assert_eq!(r.tx.len(), 1);
    assert_eq!(drops(&p.counters()), vec![]);
}

#[test]
fn check_t6_13_embeds_a_relay_address() {
    for dst in [
        teredo(SERVER4, 0, TEREDO4, CPORT), // client 203.0.113.5
        teredo(SERVER4, 0, UNI4, CPORT),    // client 203.0.113.4
        teredo(UNI4, 0, CLIENT4, CPORT),    // server 203.0.113.4
        teredo(TEREDO4, 0, CLIENT4, CPORT), // server 203.0.113.5
    ] {
        eprintln!("T6-13 {dst}");
        lab_drop(Port::V6, &rx6(&native_to(dst)), R::T6_13OwnIpv4);
    }
    let t = to_teredo(64, 7);
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&t), sent(&t));
}

#[test]
fn check_t6_ok_udp_encapsulation() {
    // Traffic class 0xb9 inside; outside TOS 0, DF clear, TTL 64, UDP from
    // 203.0.113.5:3545 to the mapping with the checksum filled.
    let mut t = to_teredo(64, 7);
    t[0] = 0x6b;
    t[1] = 0x90;
    let f = fast(&lab(), &client_trusted, Port::V6, &rx6(&t), NOW);
    assert_eq!(ev(&f.counters, Event::TeredoTx), 1);
    let want = sent(&t);
    let ip = &want.1[14..];
    assert_eq!(
        (ip[1], ip[6] & 0x40, ip[8], &ip[20..22]),
        (0, 0, 64, &TPORT.to_be_bytes()[..])
    );
    assert_ne!(&ip[26..28], &[0, 0]);
    expect_tx(&lab(), &client_trusted, Port::V6, &rx6(&t), want);
}
