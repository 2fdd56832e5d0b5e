//! C-01 … C-16: the checks shared by every path (SPEC §4.1).

use xrelay_engine::{DropReason as R, Event, IcmpError, Now, Port, SlowKind, Verdict};

use crate::common::{lab, lab_with, run};
use crate::kit::*;

/// V6-A2: a 6to4 site's Echo Reply to the native host.
fn v6_a2() -> Vec<u8> {
    in41(SITE4, ANY4, &v6_a2_inner(64))
}

fn v6_a2_out() -> (Port, Vec<u8>) {
    tx6(&v6_a2_inner(63))
}

#[test]
fn check_c_01_not_for_the_relay_is_passed() {
    // An outer destination outside the relay IPv4 set.
    let mut other = in41(SITE4, v4("198.51.100.200"), &v6_a2_inner(64));
    expect_pass(&lab(), Port::V4, &rx4(&other), Event::PassNotOurs);
    // Limited broadcast (L3).
    other = in41(SITE4, v4("255.255.255.255"), &v6_a2_inner(64));
    expect_pass(&lab(), Port::V4, &rx4(&other), Event::PassNotOurs);
    // Link-layer broadcast and IPv6 multicast MACs are never relay traffic,
    // even when the IP header would be ours.
    let mut bcast = rx4(&v6_a2());
    bcast[..6].copy_from_slice(&[0xff; 6]);
    expect_pass(&lab(), Port::V4, &bcast, Event::PassL2Multicast);
    let mut mcast = rx6(&v6_a1(64));
    mcast[..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    expect_pass(&lab(), Port::V6, &mcast, Event::PassL2Multicast);
    // Twin: to 192.88.99.1 by unicast MAC it is relayed.
    lab_tx(Port::V4, &rx4(&v6_a2()), v6_a2_out());
}

#[test]
fn check_c_02_bad_ipv4_checksum() {
    let good = v6_a2();
    let mut bad = good.clone();
    bad[11] ^= 0x01;
    lab_drop(Port::V4, &rx4(&bad), R::C02BadIpv4Header);
    // The other header faults of C-02, each with a correct checksum.
    let variants: [Mutation; 4] = [
        ("version 5", |p| p[0] = 0x55),
        ("IHL 4", |p| p[0] = 0x44),
        ("total length > frame", |p| {
            p[2..4].copy_from_slice(&200u16.to_be_bytes())
        }),
        ("total length < IHL", |p| {
            p[2..4].copy_from_slice(&16u16.to_be_bytes())
        }),
    ];
    for (what, f) in variants {
        let mut p = good.clone();
        f(&mut p);
        fix_ip4_checksum(&mut p);
        eprintln!("C-02 {what}");
        lab_drop(Port::V4, &rx4(&p), R::C02BadIpv4Header);
    }
    // Same check on the Teredo path and for ICMPv4 to a relay address.
    let mut t = from_client(CLIENT4, CPORT, &from_teredo(64));
    t[10] ^= 0x80;
    lab_drop(Port::V4, &rx4(&t), R::C02BadIpv4Header);
    let mut e = icmp4(ROUTER4, ANY4, 3, 1, [0; 4], &to_site(SITE4, &v6_a1(63)));
    e[10] ^= 0x80;
    lab_drop(Port::V4, &rx4(&e), R::C02BadIpv4Header);
    // Twin: the intact header is relayed.
    lab_tx(Port::V4, &rx4(&good), v6_a2_out());
}

/// V6-A2 cut into two IPv4 fragments (24 + 28 bytes of IPv4 payload).
fn fragments(id: u16) -> (Vec<u8>, Vec<u8>) {
    let inner = v6_a2_inner(64);
    let h = |frag| V4Hdr {
        id,
        frag,
        ..V4Hdr::proto(41)
    };
    let first = ip4(h(0x2000), SITE4, ANY4, &inner[..24]);
    let second = ip4(h(3), SITE4, ANY4, &inner[24..]);
    (first, second)
}

#[test]
fn check_c_03_fragments_reassembled() {
    let (f1, f2) = fragments(0x1234);
    expect_slow(&lab(), &no_peers, Port::V4, &rx4(&f1), SlowKind::Reassemble);
    expect_slow(&lab(), &no_peers, Port::V4, &rx4(&f2), SlowKind::Reassemble);
    // Two fragments → one native packet, exactly V6-A2's output.
    let mut p = pipe(&lab(), &no_peers, NOW);
    let r = run(&mut p, Port::V4, &rx4(&f1), NOW);
    assert_eq!(r.tx, vec![]);
    assert_eq!(r.consumed, vec![rx4(&f1)], "first fragment held");
    let r = run(&mut p, Port::V4, &rx4(&f2), NOW);
    assert_eq!(r.tx, vec![v6_a2_out()]);
    let c = p.counters();
    assert_eq!(drops(&c), vec![]);
    assert_eq!(
        (ev(&c, Event::FragmentHeld), ev(&c, Event::Reassembled)),
        (1, 1)
    );
    // In the other order too.
    let mut p = pipe(&lab(), &no_peers, NOW);
    assert_eq!(run(&mut p, Port::V4, &rx4(&f2), NOW).tx, vec![]);
    assert_eq!(run(&mut p, Port::V4, &rx4(&f1), NOW).tx, vec![v6_a2_out()]);
}

#[test]
fn check_c_03_overlap_is_invalid() {
    let (f1, _) = fragments(0x1234);
    let inner = v6_a2_inner(64);
    // Second fragment starting at 16 overlaps the first (0..24).
    let overlap = ip4(
        V4Hdr {
            id: 0x1234,
            frag: 2,
            ..V4Hdr::proto(41)
        },
        SITE4,
        ANY4,
        &inner[16..],
    );
    let mut p = pipe(&lab(), &no_peers, NOW);
    run(&mut p, Port::V4, &rx4(&f1), NOW);
    let r = run(&mut p, Port::V4, &rx4(&overlap), NOW);
    assert_eq!(r.tx, vec![]);
    assert_eq!(r.dropped, vec![(R::C03ReassemblyInvalid, rx4(&overlap))]);
    assert_eq!(drops(&p.counters()), vec![(R::C03ReassemblyInvalid, 1)]);
}

#[test]
fn check_c_03_timeout_after_30_s() {
    let (f1, f2) = fragments(0x1234);
    let mut p = pipe(&lab(), &no_peers, NOW);
    run(&mut p, Port::V4, &rx4(&f1), NOW);
    let r = tick(&mut p, Now::from_millis(NOW.millis() + 29_999));
    assert_eq!((r.tx.len(), drops(&p.counters())), (0, vec![]));
    let r = tick(&mut p, Now::from_millis(NOW.millis() + 30_000));
    assert_eq!(r.tx, vec![], "no ICMPv4 Time Exceeded (SPEC §1.5)");
    assert_eq!(drops(&p.counters()), vec![(R::C03ReassemblyTimeout, 1)]);
    // The first fragment is gone: the second alone completes nothing.
    let r = run(&mut p, Port::V4, &rx4(&f2), Now::from_secs(131));
    assert_eq!(r.tx, vec![]);
}

#[test]
fn check_c_03_overflow_per_source() {
    let cfg = lab_with(|c| c.ipv4.reassembly_per_source = 1);
    let (a1, a2) = fragments(1);
    let (b1, _) = fragments(2);
    let mut p = pipe(&cfg, &no_peers, NOW);
    run(&mut p, Port::V4, &rx4(&a1), NOW);
    let r = run(&mut p, Port::V4, &rx4(&b1), NOW);
    assert_eq!(r.dropped, vec![(R::C03ReassemblyOverflow, rx4(&b1))]);
    assert_eq!(drops(&p.counters()), vec![(R::C03ReassemblyOverflow, 1)]);
    // The datagram in progress is unaffected.
    assert_eq!(run(&mut p, Port::V4, &rx4(&a2), NOW).tx, vec![v6_a2_out()]);
}

#[test]
fn check_c_04_own_ipv4_source() {
    // 6to4 path: from the Teredo address, inner source consistent with it.
    let inner = echo_rep(sixto4(TEREDO4, 1), NATIVE6, 64, 1, b"loop");
    lab_drop(
        Port::V4,
        &rx4(&in41(TEREDO4, ANY4, &inner)),
        R::C04OwnSource,
    );
    // Teredo path: from the 6to4 unicast address.
    let own = teredo(SERVER4, 0, UNI4, CPORT);
    let t = from_client(UNI4, CPORT, &echo_req(own, NATIVE6, 64, 1, b"loop"));
    lab_drop(Port::V4, &rx4(&t), R::C04OwnSource);
    // Twin: a neighbouring, foreign address is relayed.
    let other = v4("203.0.113.6");
    let inner = echo_rep(sixto4(other, 1), NATIVE6, 64, 1, b"loop");
    lab_tx(
        Port::V4,
        &rx4(&in41(other, ANY4, &inner)),
        tx6(&with_hop(&inner, 63)),
    );
}

#[test]
fn check_c_05_bogon_ipv4_source() {
    // 240.0.0.1 is in list A (6to4) but not in list B (Teredo);
    // 192.88.99.2 is in list B but not in list A.
    let reserved = v4("240.0.0.1");
    let anycast_block = v4("192.88.99.2");
    // 6to4 path → S4-02.
    let inner = echo_rep(sixto4(reserved, 1), NATIVE6, 64, 1, b"c05");
    lab_drop(
        Port::V4,
        &rx4(&in41(reserved, ANY4, &inner)),
        R::S4_02BogonIpv4,
    );
    // Teredo path → T4-03.
    let a = teredo(SERVER4, 0, anycast_block, CPORT);
    let t = from_client(anycast_block, CPORT, &echo_req(a, NATIVE6, 64, 1, b"c05"));
    lab_drop(Port::V4, &rx4(&t), R::T4_03BogonSource);
    // Twins, each list on its own path: 192.88.99.2 is fine for 6to4 …
    let inner = echo_rep(sixto4(anycast_block, 1), NATIVE6, 64, 1, b"c05");
    lab_tx(
        Port::V4,
        &rx4(&in41(anycast_block, ANY4, &inner)),
        tx6(&with_hop(&inner, 63)),
    );
    // … and 240.0.0.1 is fine for Teredo (unknown peers accepted here).
    let cfg = lab_with(|c| c.teredo.accept_unknown_peers = true);
    let a = teredo(SERVER4, 0, reserved, CPORT);
    let inner = echo_req(a, NATIVE6, 64, 1, b"c05");
    let (p, rec) = piped(
        &cfg,
        &no_peers,
        Port::V4,
        &rx4(&from_client(reserved, CPORT, &inner)),
        NOW,
    );
    assert_eq!(rec.tx, vec![tx6(&with_hop(&inner, 63))]);
    assert_eq!(drops(&p.counters()), vec![]);
}

#[test]
fn check_c_10_bad_native_ipv6_header() {
    let good = v6_a1(64);
    let variants: [Mutation; 3] = [
        ("version 4", |p| p[0] = 0x40),
        ("payload length beyond the frame", |p| {
            p[4..6].copy_from_slice(&13u16.to_be_bytes())
        }),
        ("jumbogram (payload length 0, hop-by-hop)", |p| {
            p[4..6].copy_from_slice(&[0, 0]);
            p[6] = 0;
        }),
    ];
    for (what, f) in variants {
        // Framed by hand: the Ethertype stays IPv6 whatever the version nibble.
        let mut p = rx6(&good);
        let mut body = p.split_off(14);
        f(&mut body);
        p.extend_from_slice(&body);
        eprintln!("C-10 {what}");
        lab_drop(Port::V6, &p, R::C10BadIpv6);
    }
    // Twin: V6-A1 is encapsulated.
    lab_tx(
        Port::V6,
        &rx6(&good),
        tx4(&to_site(SITE4, &with_hop(&good, 63))),
    );
}

#[test]
fn check_c_11_bad_ipv6_source() {
    // Native → 6to4: S6-02.
    for src in ["fe80::1", "::ffff:192.0.2.99", "::1"] {
        let p = echo_req(v6(src), SITE6, 64, 1, b"c11");
        lab_drop(Port::V6, &rx6(&p), R::S6_02BadIpv6Address);
    }
    // Native → Teredo: T6-05.
    for src in ["fe80::1", "::ffff:192.0.2.99", "::", "ff02::1"] {
        let p = to_teredo(64, 7);
        let mut p = p.clone();
        p[8..24].copy_from_slice(&v6(src).octets());
        expect_drop(
            &lab(),
            &client_trusted,
            Port::V6,
            &rx6(&p),
            R::T6_05BadSource,
        );
    }
    // 6to4 → native: S4-04.
    let inner = echo_rep(v6("ff0e::1"), NATIVE6, 64, 1, b"c11");
    lab_drop(
        Port::V4,
        &rx4(&in41(SITE4, ANY4, &inner)),
        R::S4_04BadIpv6Address,
    );
    // Twins: a global source on each path.
    lab_tx(Port::V6, &rx6(&v6_a1(64)), tx4(&to_site(SITE4, &v6_a1(63))));
    expect_tx(
        &lab(),
        &client_trusted,
        Port::V6,
        &rx6(&to_teredo(64, 7)),
        tx4(&to_client(CLIENT4, CPORT, &to_teredo(63, 7))),
    );
    lab_tx(Port::V4, &rx4(&v6_a2()), v6_a2_out());
}

#[test]
fn check_c_12_bad_ipv6_destination() {
    // 6to4 → native: link-local / loopback / multicast destinations (S4-04).
    for dst in ["fe80::1", "::1", "ff02::1", "::"] {
        let inner = echo_rep(SITE6, v6(dst), 64, 1, b"c12");
        lab_drop(
            Port::V4,
            &rx4(&in41(SITE4, ANY4, &inner)),
            R::S4_04BadIpv6Address,
        );
    }
    // Teredo → native: multicast (T4-10), link-local and loopback (T4-11).
    let t = |dst: &str| {
        rx4(&from_client(
            CLIENT4,
            CPORT,
            &echo_req(CLIENT6, v6(dst), 64, 1, b"c12"),
        ))
    };
    expect_drop(
        &lab(),
        &client_trusted,
        Port::V4,
        &t("ff02::1"),
        R::T4_10MulticastDst,
    );
    expect_drop(
        &lab(),
        &client_trusted,
        Port::V4,
        &t("fe80::1"),
        R::T4_11OutsideServed,
    );
    expect_drop(
        &lab(),
        &client_trusted,
        Port::V4,
        &t("::1"),
        R::T4_11OutsideServed,
    );
    // Native side: a multicast destination in a unicast frame (T6-02 when
    // Teredo runs, S6-02 with 6to4 alone); link-local is not ours at all.
    lab_drop(
        Port::V6,
        &rx6(&echo_req(NATIVE6, v6("ff02::1"), 64, 1, b"c12")),
        R::T6_02MulticastDst,
    );
    let only_6to4 = lab_with(|c| c.teredo.enabled = false);
    expect_drop(
        &only_6to4,
        &no_peers,
        Port::V6,
        &rx6(&echo_req(NATIVE6, v6("ff0e::1"), 64, 1, b"c12")),
        R::S6_02BadIpv6Address,
    );
    expect_pass(
        &lab(),
        Port::V6,
        &rx6(&echo_req(NATIVE6, v6("fe80::1"), 64, 1, b"c12")),
        Event::PassNotOurs,
    );
    // Twins: global destinations.
    lab_tx(Port::V4, &rx4(&v6_a2()), v6_a2_out());
    expect_tx(
        &lab(),
        &client_trusted,
        Port::V4,
        &t("2001:db8::1"),
        tx6(&echo_req(CLIENT6, NATIVE6, 63, 1, b"c12")),
    );
}

#[test]
fn check_c_13_hop_limit_exceeded() {
    // One representative per path; each has its own S4/S6/T4/T6 test.
    // Native → 6to4 (S6-07): Time Exceeded straight back to the native host.
    let p = v6_a1(1);
    expect_icmp(
        &lab(),
        &no_peers,
        Port::V6,
        &rx6(&p),
        R::S6_07HopLimit,
        IcmpError::TimeExceeded,
        vec![tx6(&time_exceeded(&p))],
    );
    // 6to4 → native (S4-09): encapsulated back to the 6to4 host.
    let inner = v6_a2_inner(1);
    expect_icmp(
        &lab(),
        &no_peers,
        Port::V4,
        &rx4(&in41(SITE4, ANY4, &inner)),
        R::S4_09HopLimit,
        IcmpError::TimeExceeded,
        vec![tx4(&to_site(SITE4, &time_exceeded(&inner)))],
    );
    // Teredo → native (T4-12) and native → Teredo (T6-06).
    let inner = from_teredo(1);
    expect_icmp(
        &lab(),
        &client_trusted,
        Port::V4,
        &rx4(&from_client(CLIENT4, CPORT, &inner)),
        R::T4_12HopLimit,
        IcmpError::TimeExceeded,
        vec![tx4(&to_client(CLIENT4, CPORT, &time_exceeded(&inner)))],
    );
    let p = to_teredo(1, 7);
    expect_icmp(
        &lab(),
        &client_trusted,
        Port::V6,
        &rx6(&p),
        R::T6_06HopLimit,
        IcmpError::TimeExceeded,
        vec![tx6(&time_exceeded(&p))],
    );
    // Twin: hop limit 2 is forwarded with hop limit 1.
    lab_tx(Port::V6, &rx6(&v6_a1(2)), tx4(&to_site(SITE4, &v6_a1(1))));
}

#[test]
fn check_c_14_no_error_about_an_error() {
    // An ICMPv6 Destination Unreachable (and a Redirect) whose forwarding
    // fails: dropped by S6-07, but no Time Exceeded about it.
    let quoted = v6_a1(64);
    for (typ, what) in [(1u8, "error"), (137, "redirect")] {
        let p = icmp6(NATIVE6, SITE6, 1, typ, 0, [0; 4], &quoted);
        let f = fast(&lab(), &no_peers, Port::V6, &rx6(&p), NOW);
        assert_eq!(
            f.verdict,
            Verdict::Slow(SlowKind::Icmp {
                reason: R::S6_07HopLimit,
                error: IcmpError::TimeExceeded
            }),
            "{what}"
        );
        let (pl, rec) = piped(&lab(), &no_peers, Port::V6, &rx6(&p), NOW);
        assert_eq!(rec.tx, vec![], "{what}: no error about an error");
        let c = pl.counters();
        assert_eq!(drops(&c), vec![(R::S6_07HopLimit, 1)]);
        assert_eq!(
            ev(&c, Event::Icmp6Suppressed),
            1,
            "{what}: counted as suppressed"
        );
        assert_eq!(ev(&c, Event::Icmp6TimeExceeded), 0);
    }
    // Twin: an informational message (Echo Request) gets its error.
    let p = v6_a1(1);
    let (pl, _) = expect_icmp(
        &lab(),
        &no_peers,
        Port::V6,
        &rx6(&p),
        R::S6_07HopLimit,
        IcmpError::TimeExceeded,
        vec![tx6(&time_exceeded(&p))],
    );
    assert_eq!(ev(&pl.counters(), Event::Icmp6Suppressed), 0);
}

#[test]
fn check_c_15_error_rate_limit() {
    let cfg = lab_with(|c| {
        c.icmp6.err_burst = 1;
        c.icmp6.err_rate = 1;
    });
    let a = v6_a1(1);
    let b = echo_req(NATIVE6, SITE6, 1, 2, b"second");
    let mut p = pipe(&cfg, &no_peers, NOW);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&a), NOW).tx,
        vec![tx6(&time_exceeded(&a))]
    );
    let r = run(&mut p, Port::V6, &rx6(&b), NOW);
    assert_eq!(r.tx, vec![], "bucket empty: no second error");
    let c = p.counters();
    assert_eq!(drops(&c), vec![(R::S6_07HopLimit, 2)]);
    assert_eq!(
        (
            ev(&c, Event::Icmp6TimeExceeded),
            ev(&c, Event::Icmp6RateLimited)
        ),
        (1, 1)
    );
    // Packet Too Big has its own bucket.
    let big = sized(NATIVE6, SITE6, 64, 1481);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&big), NOW).tx,
        vec![tx6(&too_big(&big, 1480))]
    );
    // One second later the error bucket has a token again.
    let later = Now::from_millis(NOW.millis() + 1000);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&b), later).tx,
        vec![tx6(&time_exceeded(&b))]
    );
    // Twin: with the default bucket both errors of the same instant go out.
    let mut p = pipe(&lab(), &no_peers, NOW);
    run(&mut p, Port::V6, &rx6(&a), NOW);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&b), NOW).tx,
        vec![tx6(&time_exceeded(&b))]
    );
    assert_eq!(ev(&p.counters(), Event::Icmp6RateLimited), 0);
}

#[test]
fn check_c_16_slow_path_congestion() {
    // Two relay qualification probes (Echo Request to 2002:c058:6301::,
    // hop limit 1) in one batch; the slow path takes one per batch.
    let probe = |seq| rx4(&in41(SITE4, ANY4, &echo_req(SITE6, ANY6, 1, seq, b"probe")));
    let reply = |seq| {
        tx4(&in41(
            ANY4,
            SITE4,
            &echo_rep(ANY6, SITE6, 64, seq, b"probe"),
        ))
    };
    let cfg = lab_with(|c| c.engine.slow_queue = 1);
    expect_slow(&cfg, &no_peers, Port::V4, &probe(1), SlowKind::Echo);
    let mut p = pipe(&cfg, &no_peers, NOW);
    let r = run_batch(&mut p, Port::V4, &[probe(1), probe(2)], NOW);
    assert_eq!(r.tx, vec![reply(1)], "only the first is answered");
    assert_eq!(r.dropped, vec![(R::C16Congestion, probe(2))]);
    let c = p.counters();
    assert_eq!(drops(&c), vec![(R::C16Congestion, 1)]);
    assert_eq!(
        ev(&c, Event::Icmp6Unreachable) + ev(&c, Event::Icmp6TimeExceeded),
        0,
        "never an ICMP error"
    );
    // Same with hop-limit errors: the second is dropped, no error for it.
    let mut p = pipe(&cfg, &no_peers, NOW);
    let (a, b) = (v6_a1(1), echo_req(NATIVE6, SITE6, 1, 2, b"second"));
    let r = run_batch(&mut p, Port::V6, &[rx6(&a), rx6(&b)], NOW);
    assert_eq!(r.tx, vec![tx6(&time_exceeded(&a))]);
    assert_eq!(
        drops(&p.counters()),
        vec![(R::C16Congestion, 1), (R::S6_07HopLimit, 2)]
    );
    // Twin: room for two → both answered.
    let mut p = pipe(&lab_with(|c| c.engine.slow_queue = 2), &no_peers, NOW);
    let r = run_batch(&mut p, Port::V4, &[probe(1), probe(2)], NOW);
    assert_eq!(r.tx, vec![reply(1), reply(2)]);
    assert_eq!(drops(&p.counters()), vec![]);
}
