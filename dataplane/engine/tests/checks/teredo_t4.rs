//! T4-01 … T4-ok: Teredo reception, UDP from clients → native IPv6
//! (SPEC §3.7, §4.4).

use std::net::Ipv6Addr;

use xrelay_engine::{DropReason as R, Event, IcmpError, Now, PeerTable, Port, SlowKind};

use crate::common::{hex, lab, lab_with, run};
use crate::kit::*;

/// §5.7 step 3: the client's Echo Request to the native host.
fn step3() -> Vec<u8> {
    rx4(&from_client(CLIENT4, CPORT, &from_teredo(64)))
}

fn step3_out() -> (Port, Vec<u8>) {
    tx6(&from_teredo(63))
}

/// A frame from the lab client's mapping carrying `inner`.
fn from_mapping(inner: &[u8]) -> Vec<u8> {
    rx4(&from_client(CLIENT4, CPORT, inner))
}

/// Client B of RFC 6081 §3.1: server 203.0.113.120, 192.0.2.1:4096.
const CLIENT_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xcb00, 0x7178, 0, 0xefff, 0x3fff, 0xfdfe);

#[test]
fn check_t4_01_not_teredo_is_passed() {
    let inner = from_teredo(64);
    // The Teredo server port, another relay address, a foreign address.
    let server_port = udp4(CLIENT4, CPORT, TEREDO4, 3544, &inner);
    expect_pass(
        &lab(),
        Port::V4,
        &rx4(&server_port),
        Event::PassNotRelayProto,
    );
    let other_addr = udp4(CLIENT4, CPORT, UNI4, TPORT, &inner);
    expect_pass(
        &lab(),
        Port::V4,
        &rx4(&other_addr),
        Event::PassNotRelayProto,
    );
    let foreign = udp4(CLIENT4, CPORT, v4("198.51.100.200"), TPORT, &inner);
    expect_pass(&lab(), Port::V4, &rx4(&foreign), Event::PassNotOurs);
    // Teredo off: its address is not ours.
    let off = lab_with(|c| c.teredo.enabled = false);
    expect_pass(&off, Port::V4, &step3(), Event::PassNotOurs);
    // Twin.
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_02_bad_udp() {
    let good = from_client(CLIENT4, CPORT, &from_teredo(64));
    let variants: [Mutation; 4] = [
        ("UDP length beyond the datagram", |p| {
            p[24..26].copy_from_slice(&200u16.to_be_bytes())
        }),
        ("UDP length below 8", |p| {
            p[24..26].copy_from_slice(&4u16.to_be_bytes())
        }),
        ("wrong checksum", |p| p[26] ^= 0x01),
        ("truncated UDP header", |p| {
            p.truncate(26);
            p[2..4].copy_from_slice(&26u16.to_be_bytes());
            fix_ip4_checksum(p);
        }),
    ];
    for (what, f) in variants {
        let mut p = good.clone();
        f(&mut p);
        eprintln!("T4-02 {what}");
        expect_drop(&lab(), &client_trusted, Port::V4, &rx4(&p), R::T4_02BadUdp);
    }
    // Twins: intact, and with no checksum (0 is allowed over IPv4).
    expect_tx(&lab(), &client_trusted, Port::V4, &rx4(&good), step3_out());
    let mut zero = good.clone();
    zero[26..28].copy_from_slice(&[0, 0]);
    expect_tx(&lab(), &client_trusted, Port::V4, &rx4(&zero), step3_out());
}

#[test]
fn check_t4_03_bogon_ipv4_source() {
    for src in [
        "192.88.99.2",
        "10.0.0.1",
        "169.254.1.1",
        "192.168.1.1",
        "224.0.0.5",
        "255.255.255.255",
        "203.0.113.255",
    ] {
        let s = v4(src);
        let a = teredo(SERVER4, 0, s, CPORT);
        eprintln!("T4-03 {src}");
        lab_drop(
            Port::V4,
            &rx4(&from_client(
                s,
                CPORT,
                &echo_req(a, NATIVE6, 64, 1, b"t403"),
            )),
            R::T4_03BogonSource,
        );
    }
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_04_unparseable_payload() {
    let ipv6 = from_teredo(64);
    let cat = |parts: &[&[u8]]| parts.concat();
    let origin = hex("0000dfff3ffffdf5");
    let auth = hex("00010000 0102030405060708 00");
    let mut v4pkt = ipv6.clone();
    v4pkt[0] = 0x45;
    let mut jumbo = ipv6[..40].to_vec();
    jumbo[4..7].copy_from_slice(&[0, 0, 0]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown header type 00 02",
            cat(&[&hex("0002dfff3ffffdf5"), &ipv6]),
        ),
        ("authentication header cut short", hex("00010500 010203")),
        ("origin indication cut short", hex("0000dfff")),
        ("two origin indications", cat(&[&origin, &origin, &ipv6])),
        ("authentication after origin", cat(&[&origin, &auth, &ipv6])),
        ("not IPv6", v4pkt),
        (
            "IPv6 longer than the datagram",
            ipv6[..ipv6.len() - 4].to_vec(),
        ),
        ("shorter than an IPv6 header", ipv6[..30].to_vec()),
        ("jumbogram framing", jumbo),
        ("empty", vec![]),
    ];
    for (what, payload) in cases {
        eprintln!("T4-04 {what}");
        expect_drop(
            &lab(),
            &client_trusted,
            Port::V4,
            &rx4(&from_client(CLIENT4, CPORT, &payload)),
            R::T4_04BadPayload,
        );
    }
    // Twins: authentication + origin indication before the packet, and an
    // RFC 6081 trailer after it, are skipped; the output is step 3's.
    for payload in [
        cat(&[&auth, &origin, &ipv6]),
        cat(&[&origin, &ipv6]),
        cat(&[&ipv6, &hex("0104deadbeef")]),
    ] {
        expect_tx(
            &lab(),
            &client_trusted,
            Port::V4,
            &rx4(&from_client(CLIENT4, CPORT, &payload)),
            step3_out(),
        );
    }
}

#[test]
fn check_t4_05_source_not_teredo() {
    for src in [
        "2001:db8::2",
        "2002:c000:20a::1",
        "fe80::8000:5445:5245:444f",
    ] {
        eprintln!("T4-05 {src}");
        let p = from_mapping(&echo_req(v6(src), NATIVE6, 64, 1, b"t405"));
        expect_drop(
            &lab(),
            &client_trusted,
            Port::V4,
            &p,
            R::T4_05NotTeredoSource,
        );
    }
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_06_mapping_mismatch() {
    let inner = from_teredo(64);
    // Another port or another address than the one in the Teredo address.
    for (a, port) in [(CLIENT4, 8193), (v4("192.0.2.11"), CPORT)] {
        let p = rx4(&from_client(a, port, &inner));
        expect_drop(
            &lab(),
            &client_trusted,
            Port::V4,
            &p,
            R::T4_06MappingMismatch,
        );
    }
    // DESIGN exception: a trusted entry that already records exactly this
    // (address, port) — a NAT rebinding the relay verified itself.
    let rebound = |t: &mut PeerTable, now: Now| trust(t, CLIENT6, CLIENT4, 8193, now);
    expect_tx(
        &lab(),
        &rebound,
        Port::V4,
        &rx4(&from_client(CLIENT4, 8193, &inner)),
        step3_out(),
    );
    // Twin: from the address-embedded mapping.
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_06_symmetric_nat_bubble_option() {
    // miredo's extension (off by default): a bubble from another port that
    // answers the bubble we sent toward the address-embedded mapping.
    let queued = to_teredo(64, 7);
    let run_case = |on: bool, to_our_source: bool| {
        let cfg = lab_with(|c| c.teredo.symmetric_nat_bubbles = on);
        let mut p = pipe(&cfg, &no_peers, NOW);
        run(&mut p, Port::V6, &rx6(&queued), NOW);
        let dst = if to_our_source {
            p.slow().bubble_source(CLIENT4, CPORT)
        } else {
            RELAY6
        };
        let reply = rx4(&from_client(CLIENT4, 40000, &bubble(CLIENT6, dst, 0)));
        let r = run(&mut p, Port::V4, &reply, NOW);
        (p, r, reply)
    };
    let (p, r, reply) = run_case(false, true);
    assert_eq!(r.tx, vec![]);
    assert_eq!(r.dropped, vec![(R::T4_06MappingMismatch, reply)]);
    assert_eq!(drops(&p.counters()), vec![(R::T4_06MappingMismatch, 1)]);
    let (p, r, reply) = run_case(true, false);
    assert_eq!(
        r.dropped,
        vec![(R::T4_06MappingMismatch, reply)],
        "not a reply to our bubble"
    );
    assert_eq!(drops(&p.counters()), vec![(R::T4_06MappingMismatch, 1)]);
    // Twin: option on, reply to our bubble source → trusted at the new port.
    let (p, r, _) = run_case(true, true);
    assert_eq!(
        r.tx,
        vec![tx4(&to_client(CLIENT4, 40000, &with_hop(&queued, 63)))]
    );
    assert_eq!(
        p.peers().find(&CLIENT6).and_then(|e| e.trusted_mapping()),
        Some((CLIENT4, 40000))
    );
    assert_eq!(drops(&p.counters()), vec![]);
}

#[test]
fn check_t4_07_unknown_peer() {
    lab_drop(Port::V4, &step3(), R::T4_07UnknownPeer);
    // With teredo.accept_unknown_peers the mapping check suffices: the slow
    // path creates a trusted entry and forwards.
    let cfg = lab_with(|c| c.teredo.accept_unknown_peers = true);
    expect_slow(&cfg, &no_peers, Port::V4, &step3(), SlowKind::TeredoRx);
    let (p, rec) = piped(&cfg, &no_peers, Port::V4, &step3(), NOW);
    assert_eq!(rec.tx, vec![step3_out()]);
    assert_eq!(
        p.peers().find(&CLIENT6).and_then(|e| e.trusted_mapping()),
        Some((CLIENT4, CPORT))
    );
    assert_eq!(drops(&p.counters()), vec![]);
    // Twin: a known peer.
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_08_entry_trusted_and_queue_flushed() {
    // Two packets wait for an unverified peer; then the client's first data
    // packet arrives from its mapping.
    let (a, b) = (to_teredo(64, 1), to_teredo(64, 2));
    let mut p = pipe(&lab(), &no_peers, NOW);
    run(&mut p, Port::V6, &rx6(&a), NOW);
    run(&mut p, Port::V6, &rx6(&b), NOW);
    let e = p.peers().find(&CLIENT6).expect("entry");
    assert!(!e.is_trusted() && e.has_queue());
    let later = Now::from_secs(101);
    let f = fast(
        &lab(),
        &|t: &mut PeerTable, n| {
            t.insert(&CLIENT6, (CLIENT4, CPORT), n.secs())
                .expect("room");
        },
        Port::V4,
        &step3(),
        later,
    );
    assert_eq!(f.verdict, xrelay_engine::Verdict::Slow(SlowKind::TeredoRx));
    let r = run(&mut p, Port::V4, &step3(), later);
    // Queue flushed in arrival order to the mapping, then the packet itself.
    assert_eq!(
        r.tx,
        vec![
            tx4(&to_client(CLIENT4, CPORT, &with_hop(&a, 63))),
            tx4(&to_client(CLIENT4, CPORT, &with_hop(&b, 63))),
            step3_out()
        ]
    );
    let e = p.peers().find(&CLIENT6).expect("entry");
    assert_eq!(e.trusted_mapping(), Some((CLIENT4, CPORT)));
    assert_eq!((e.last_rx(), e.has_queue(), e.bubbles), (101, false, 0));
    let c = p.counters();
    assert_eq!(
        (ev(&c, Event::PeerTrusted), ev(&c, Event::QueueFlushed)),
        (1, 2)
    );
    assert_eq!(drops(&c), vec![]);
    // Trusted now: no retry bubble when the 2 s timer fires, and the next
    // native packet goes straight out.
    assert_eq!(tick(&mut p, Now::from_secs(103)).tx, vec![]);
    let c3 = to_teredo(64, 3);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&c3), Now::from_secs(103)).tx,
        vec![tx4(&to_client(CLIENT4, CPORT, &with_hop(&c3, 63)))]
    );
    // A trusted entry learns a new mapping from a packet whose source
    // matches its address (rebinding back to the embedded mapping).
    let old = |t: &mut PeerTable, now: Now| trust(t, CLIENT6, CLIENT4, 9999, now);
    let mut p = pipe(&lab(), &old, NOW);
    assert_eq!(run(&mut p, Port::V4, &step3(), NOW).tx, vec![step3_out()]);
    assert_eq!(
        p.peers().find(&CLIENT6).and_then(|e| e.trusted_mapping()),
        Some((CLIENT4, CPORT))
    );
    assert_eq!(ev(&p.counters(), Event::PeerRebound), 1);
}

#[test]
fn check_t4_09_bubble_consumed() {
    // A direct bubble with hop limit 0 to our bubble source (link-local):
    // consumed after the state update, no output, no Time Exceeded.
    let mut p = pipe(&lab(), &client_trusted, NOW);
    let src = p.slow().bubble_source(CLIENT4, CPORT);
    let frame = from_mapping(&bubble(CLIENT6, src, 0));
    expect_slow(
        &lab(),
        &client_trusted,
        Port::V4,
        &frame,
        SlowKind::TeredoRx,
    );
    let later = Now::from_secs(110);
    let r = run(&mut p, Port::V4, &frame, later);
    assert_eq!(
        (r.tx.clone(), r.consumed.clone()),
        (vec![], vec![frame.clone()])
    );
    let c = p.counters();
    assert_eq!(drops(&c), vec![]);
    assert_eq!(
        (ev(&c, Event::BubbleRx), ev(&c, Event::Icmp6TimeExceeded)),
        (1, 0)
    );
    assert_eq!(
        p.peers().find(&CLIENT6).map(|e| e.last_rx()),
        Some(110),
        "reception recorded"
    );
    // Twin: the same packet carrying a payload is no bubble: it is subject
    // to the destination checks (link-local → T4-11) …
    let data = from_mapping(&ip6(0, 59, 0, CLIENT6, src, b"data"));
    expect_drop(
        &lab(),
        &client_trusted,
        Port::V4,
        &data,
        R::T4_11OutsideServed,
    );
    // … and to a native destination to the hop-limit check (T4-12).
    let hop0 = from_teredo(0);
    expect_icmp(
        &lab(),
        &client_trusted,
        Port::V4,
        &from_mapping(&hop0),
        R::T4_12HopLimit,
        IcmpError::TimeExceeded,
        vec![tx4(&to_client(CLIENT4, CPORT, &time_exceeded(&hop0)))],
    );
}

#[test]
fn check_t4_10_multicast_destination() {
    for dst in ["ff02::1", "ff0e::1"] {
        let p = from_mapping(&echo_req(CLIENT6, v6(dst), 64, 1, b"t410"));
        expect_drop(&lab(), &client_trusted, Port::V4, &p, R::T4_10MulticastDst);
    }
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_11_outside_served_range() {
    for dst in [
        "fe80::1",
        "fc00::1",
        "::1",
        "::",
        "::ffff:192.0.2.1",
        "4000::1",
    ] {
        eprintln!("T4-11 {dst}");
        let p = from_mapping(&echo_req(CLIENT6, v6(dst), 64, 1, b"t411"));
        expect_drop(&lab(), &client_trusted, Port::V4, &p, R::T4_11OutsideServed);
    }
    // Configured exclusions.
    let cfg =
        lab_with(|c| c.teredo.served_exclude = vec!["2001:db8:dead::/48".parse().expect("net")]);
    let p = from_mapping(&echo_req(CLIENT6, v6("2001:db8:dead::1"), 64, 1, b"t411"));
    expect_drop(&cfg, &client_trusted, Port::V4, &p, R::T4_11OutsideServed);
    expect_tx(&cfg, &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_12_hop_limit_time_exceeded() {
    for hop in [1, 0] {
        let inner = from_teredo(hop);
        // Time Exceeded goes back through the Teredo transmit path to the
        // client's trusted mapping.
        expect_icmp(
            &lab(),
            &client_trusted,
            Port::V4,
            &from_mapping(&inner),
            R::T4_12HopLimit,
            IcmpError::TimeExceeded,
            vec![tx4(&to_client(CLIENT4, CPORT, &time_exceeded(&inner)))],
        );
    }
    expect_tx(
        &lab(),
        &client_trusted,
        Port::V4,
        &from_mapping(&from_teredo(2)),
        tx6(&from_teredo(1)),
    );
}

#[test]
fn check_t4_13_cross_paths() {
    // Teredo → 6to4: encapsulated like native traffic, decremented once.
    let inner = echo_req(CLIENT6, SITE6, 64, 1, b"teredo->6to4");
    let f = fast(
        &lab(),
        &client_trusted,
        Port::V4,
        &from_mapping(&inner),
        NOW,
    );
    assert_eq!(ev(&f.counters, Event::TeredoToSixToFour), 1);
    expect_tx(
        &lab(),
        &client_trusted,
        Port::V4,
        &from_mapping(&inner),
        tx4(&to_site(SITE4, &with_hop(&inner, 63))),
    );
    // Teredo → Teredo: to the other peer's trusted mapping.
    let both = |t: &mut PeerTable, now: Now| {
        client_trusted(t, now);
        trust(t, CLIENT_B, SITE4, 4096, now);
    };
    let inner = echo_req(CLIENT6, CLIENT_B, 64, 1, b"teredo->teredo");
    let f = fast(&lab(), &both, Port::V4, &from_mapping(&inner), NOW);
    assert_eq!(ev(&f.counters, Event::TeredoToTeredo), 1);
    expect_tx(
        &lab(),
        &both,
        Port::V4,
        &from_mapping(&inner),
        tx4(&to_client(SITE4, 4096, &with_hop(&inner, 63))),
    );
    // The egress side's checks apply: a list-A 6to4 destination.
    let bad = echo_req(CLIENT6, v6("2002:a00:1::1"), 64, 1, b"x");
    expect_drop(
        &lab(),
        &client_trusted,
        Port::V4,
        &from_mapping(&bad),
        R::S6_02BadIpv6Address,
    );
    // Twin: a native destination leaves natively.
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_14_zero_source_port() {
    let p = rx4(&from_client(CLIENT4, 0, &from_teredo(64)));
    expect_drop(&lab(), &client_trusted, Port::V4, &p, R::T4_14ZeroPort);
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
}

#[test]
fn check_t4_ok_forwarded_natively() {
    // §5.7 step 3 and 3b: only the IPv6 packet, hop limit 63.
    let f = fast(&lab(), &client_trusted, Port::V4, &step3(), NOW);
    assert_eq!(ev(&f.counters, Event::TeredoRx), 1);
    expect_tx(&lab(), &client_trusted, Port::V4, &step3(), step3_out());
    let trailer = [from_teredo(64), hex("0104deadbeef")].concat();
    let s3b = from_client(CLIENT4, CPORT, &trailer);
    assert_eq!(
        &s3b[..28],
        &hex("4500005a0000000040117c83c000020acb00710520000dd900469ad0")[..]
    );
    expect_tx(&lab(), &client_trusted, Port::V4, &rx4(&s3b), step3_out());
    // Reception refreshes the entry's validity.
    let mut p = pipe(&lab(), &client_trusted, NOW);
    run(&mut p, Port::V4, &step3(), Now::from_secs(125));
    assert_eq!(p.peers().find(&CLIENT6).map(|e| e.last_rx()), Some(125));
}
