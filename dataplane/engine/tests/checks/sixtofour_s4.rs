//! S4-01 … S4-ok: 6to4 direction A, IPv4 protocol 41 → native IPv6
//! (SPEC §2.3, §4.2).

use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_engine::config::{EchoReplySource, SixRdConfig, TunnelMode};
use xrelay_engine::{Config, DropReason as R, Event, IcmpError, Port, SlowKind};

use crate::common::{hex, lab, lab_with, run};
use crate::kit::*;

/// V6-A2 with another inner packet.
fn from_site(inner: &[u8]) -> Vec<u8> {
    rx4(&in41(SITE4, ANY4, inner))
}

fn v6_a2() -> Vec<u8> {
    from_site(&v6_a2_inner(64))
}

fn v6_a2_out() -> (Port, Vec<u8>) {
    tx6(&v6_a2_inner(63))
}

/// A 6rd border relay: 2001:db8:f00::/40, IPv4MaskLen 8, BR 10.0.0.1.
fn sixrd() -> Config {
    lab_with(|c| {
        c.sixto4.mode = TunnelMode::SixRd;
        c.sixto4.sixrd = Some(SixRdConfig {
            prefix: "2001:db8:f00::/40".parse().expect("prefix"),
            ipv4_mask_len: 8,
            br_addr: v4("10.0.0.1"),
        });
    })
}

const BR4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CE4: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);

/// A host in the 6rd site of CE 10.1.2.3: 2001:db8:f01:203::/64.
fn ce6(host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xf01, 0x203, 0, 0, 0, host)
}

#[test]
fn check_s4_01_not_6to4_is_passed() {
    let inner = v6_a2_inner(64);
    // Protocol 41 to the Teredo address (ours, but not a 6to4 address).
    expect_pass(
        &lab(),
        Port::V4,
        &rx4(&in41(SITE4, TEREDO4, &inner)),
        Event::PassNotRelayProto,
    );
    // Another protocol (GRE) to the anycast address.
    let gre = ip4(V4Hdr::proto(47), SITE4, ANY4, &inner);
    expect_pass(&lab(), Port::V4, &rx4(&gre), Event::PassNotRelayProto);
    // Anycast off (RFC 7526 §5): 192.88.99.1 is not ours at all.
    let no_anycast = lab_with(|c| c.sixto4.anycast = false);
    expect_pass(&no_anycast, Port::V4, &v6_a2(), Event::PassNotOurs);
    // 6to4 off.
    let off = lab_with(|c| c.sixto4.enabled = false);
    expect_pass(&off, Port::V4, &v6_a2(), Event::PassNotOurs);
    // Twins: to the anycast and to the equivalent unicast address.
    lab_tx(Port::V4, &v6_a2(), v6_a2_out());
    lab_tx(Port::V4, &rx4(&in41(SITE4, UNI4, &inner)), v6_a2_out());
    expect_tx(
        &no_anycast,
        &no_peers,
        Port::V4,
        &rx4(&in41(SITE4, UNI4, &inner)),
        v6_a2_out(),
    );
}

#[test]
fn check_s4_01b_anycast_only_policy() {
    let cfg = lab_with(|c| c.sixto4.accept_only_anycast_dst = true);
    let to_unicast = rx4(&in41(SITE4, UNI4, &v6_a2_inner(64)));
    expect_drop(
        &cfg,
        &no_peers,
        Port::V4,
        &to_unicast,
        R::S4_01bNotAnycastDst,
    );
    // Twins: to 192.88.99.1 under the policy; to the unicast address without it.
    expect_tx(&cfg, &no_peers, Port::V4, &v6_a2(), v6_a2_out());
    lab_tx(Port::V4, &to_unicast, v6_a2_out());
}

#[test]
fn check_s4_02_bogon_outer_ipv4() {
    // List A sources, the inner source embedding the same address.
    for src in [
        "10.0.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "172.16.0.1",
        "192.168.1.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
    ] {
        let s = v4(src);
        let inner = echo_rep(sixto4(s, 1), NATIVE6, 64, 1, b"s402");
        eprintln!("S4-02 {src}");
        lab_drop(Port::V4, &rx4(&in41(s, ANY4, &inner)), R::S4_02BogonIpv4);
    }
    // The directed broadcast of an attached subnet (203.0.113.0/24).
    let bcast = v4("203.0.113.255");
    let inner = echo_rep(sixto4(bcast, 1), NATIVE6, 64, 1, b"s402");
    let frame = rx4(&in41(bcast, ANY4, &inner));
    lab_drop(Port::V4, &frame, R::S4_02BogonIpv4);
    // Twins: the same address is fine when that subnet is not attached;
    // 100.64.0.1 is only in list C (off by default); V6-A2 itself.
    let detached = lab_with(|c| c.relay.ipv4_subnets.clear());
    expect_tx(
        &detached,
        &no_peers,
        Port::V4,
        &frame,
        tx6(&with_hop(&inner, 63)),
    );
    let cgn = v4("100.64.0.1");
    let inner = echo_rep(sixto4(cgn, 1), NATIVE6, 64, 1, b"s402");
    lab_tx(
        Port::V4,
        &rx4(&in41(cgn, ANY4, &inner)),
        tx6(&with_hop(&inner, 63)),
    );
    let extended = lab_with(|c| c.bogons.extended = true);
    expect_drop(
        &extended,
        &no_peers,
        Port::V4,
        &rx4(&in41(cgn, ANY4, &inner)),
        R::S4_02BogonIpv4,
    );
    lab_tx(Port::V4, &v6_a2(), v6_a2_out());
}

#[test]
fn check_s4_02_sixrd_uses_the_reduced_list() {
    // 6rd mode: private CE space is normal (RFC 5969 §7.1.1) …
    let inner = echo_req(ce6(1), NATIVE6, 64, 1, b"6rd");
    expect_tx(
        &sixrd(),
        &no_peers,
        Port::V4,
        &rx4(&in41(CE4, BR4, &inner)),
        tx6(&with_hop(&inner, 63)),
    );
    // … but loopback, multicast and 0/8 are still refused.
    for src in ["127.0.0.1", "224.0.0.1", "0.0.0.1"] {
        let inner = echo_req(ce6(1), NATIVE6, 64, 1, b"6rd");
        expect_drop(
            &sixrd(),
            &no_peers,
            Port::V4,
            &rx4(&in41(v4(src), BR4, &inner)),
            R::S4_02BogonIpv4,
        );
    }
}

#[test]
fn check_s4_03_bad_inner_framing() {
    let inner = v6_a2_inner(64);
    // IPv4 payload shorter than an IPv6 header.
    lab_drop(Port::V4, &from_site(&inner[..30]), R::S4_03BadInnerIpv6);
    // Not version 6.
    let mut v = inner.clone();
    v[0] = 0x40;
    lab_drop(Port::V4, &from_site(&v), R::S4_03BadInnerIpv6);
    // 40 + payload length beyond the IPv4 payload.
    let mut long = inner.clone();
    long[4..6].copy_from_slice(&100u16.to_be_bytes());
    lab_drop(Port::V4, &from_site(&long), R::S4_03BadInnerIpv6);
    // Jumbogram framing (payload length 0 with a hop-by-hop header).
    let mut jumbo = inner.clone();
    jumbo[4..6].copy_from_slice(&[0, 0]);
    jumbo[6] = 0;
    lab_drop(Port::V4, &from_site(&jumbo), R::S4_03BadInnerIpv6);
    // Twin: 4 octets of IPv4 padding after the IPv6 packet (total length
    // 0x4c) are accepted and removed.
    let mut padded = inner.clone();
    padded.extend_from_slice(&[0; 4]);
    let frame = from_site(&padded);
    assert_eq!(&frame[14 + 2..14 + 4], &[0x00, 0x4c]);
    lab_tx(Port::V4, &frame, v6_a2_out());
}

#[test]
fn check_s4_04_bad_inner_addresses() {
    let cases = [
        ("::ffff:192.0.2.1", "2001:db8::1"),
        ("::192.0.2.1", "2001:db8::1"),
        ("2002:a00:1::1", "2001:db8::1"),
        ("2002:c000:201::1", "fe80::1"),
        ("2002:c000:201::1", "fec0::1"),
        ("2002:c000:201::1", "ff0e::1"),
        ("2002:c000:201::1", "::1"),
        ("2002:c000:201::1", "2002:e000:1::1"),
    ];
    for (src, dst) in cases {
        eprintln!("S4-04 {src} -> {dst}");
        let inner = echo_rep(v6(src), v6(dst), 64, 1, b"s404");
        lab_drop(Port::V4, &from_site(&inner), R::S4_04BadIpv6Address);
    }
    lab_tx(Port::V4, &v6_a2(), v6_a2_out());
}

#[test]
fn check_s4_05_spoofed_source() {
    // SPEC §5.3: proto-41 from 198.51.100.7 carrying 2002:c000:201::1.
    let spoofer = v4("198.51.100.7");
    let pkt = in41(spoofer, ANY4, &ip6(0, 59, 64, SITE6, NATIVE6, &[]));
    assert_eq!(
        pkt,
        hex("4500003c0000000040292d05c6336407c05863016000000000003b402002c00002010000000000000000000120010db8000000000000000000000001")
    );
    lab_drop(Port::V4, &rx4(&pkt), R::S4_05SpoofedSource);
    // The Echo Reply of V6-A2 from the wrong outer source, and a spoofed
    // 6to4 source toward the relay's own 6to4 address.
    lab_drop(
        Port::V4,
        &rx4(&in41(spoofer, ANY4, &v6_a2_inner(64))),
        R::S4_05SpoofedSource,
    );
    lab_drop(
        Port::V4,
        &rx4(&in41(spoofer, ANY4, &echo_req(SITE6, ANY6, 64, 1, b"x"))),
        R::S4_05SpoofedSource,
    );
    // Twin: from 192.0.2.1.
    lab_tx(Port::V4, &v6_a2(), v6_a2_out());
}

#[test]
fn check_s4_06_native_to_native() {
    let n2 = v6("2001:db8::99");
    lab_drop(
        Port::V4,
        &from_site(&echo_rep(n2, NATIVE6, 64, 1, b"s406")),
        R::S4_06NativeToNative,
    );
    // Native source to a Teredo destination is not 6to4 traffic either.
    lab_drop(
        Port::V4,
        &from_site(&echo_rep(n2, CLIENT6, 64, 1, b"s406")),
        R::S4_06NativeToNative,
    );
    lab_tx(Port::V4, &v6_a2(), v6_a2_out());
}

#[test]
fn check_s4_07_6to4_to_6to4_through_the_relay() {
    for dst in ["2002:cb00:71fe::1", "2002:c000:201::2"] {
        let inner = echo_rep(SITE6, v6(dst), 64, 1, b"s407");
        lab_drop(Port::V4, &from_site(&inner), R::S4_07DestinationMismatch);
    }
    lab_tx(Port::V4, &v6_a2(), v6_a2_out());
    // Disabled in 6rd mode: CE → BR → same CE is the RFC 5969 §8
    // reachability test, forwarded back with one hop-limit decrement.
    let inner = echo_req(ce6(1), ce6(2), 64, 1, b"hairpin");
    let f = fast(
        &sixrd(),
        &no_peers,
        Port::V4,
        &rx4(&in41(CE4, BR4, &inner)),
        NOW,
    );
    assert_eq!(ev(&f.counters, Event::SixRdHairpin), 1);
    expect_tx(
        &sixrd(),
        &no_peers,
        Port::V4,
        &rx4(&in41(CE4, BR4, &inner)),
        tx4(&in41(BR4, CE4, &with_hop(&inner, 63))),
    );
}

#[test]
fn check_s4_07b_not_a_relay_address() {
    // The destination embeds the outer destination but is not one of the
    // relay's own addresses (it has no site behind its prefix).
    lab_drop(
        Port::V4,
        &from_site(&echo_req(SITE6, v6("2002:c058:6301::5"), 64, 1, b"x")),
        R::S4_07bNotRelayAddress,
    );
    let via_unicast = rx4(&in41(
        SITE4,
        UNI4,
        &echo_req(SITE6, v6("2002:cb00:7104:1::"), 64, 1, b"x"),
    ));
    lab_drop(Port::V4, &via_unicast, R::S4_07bNotRelayAddress);
    // Twin: 2002:c058:6301::1 is a relay address and is answered.
    let req = echo_req(SITE6, v6("2002:c058:6301::1"), 64, 1, b"x");
    let (_, rec) = piped(&lab(), &no_peers, Port::V4, &from_site(&req), NOW);
    assert_eq!(
        rec.tx,
        vec![tx4(&in41(
            ANY4,
            SITE4,
            &echo_rep(v6("2002:c058:6301::1"), SITE6, 64, 1, b"x")
        ))]
    );
}

#[test]
fn check_s4_08_echo_responder() {
    // V6-A3: the Windows relay probe, hop limit 1, answered from the
    // request's destination, outer source 192.88.99.1.
    let probe = echo_req(SITE6, ANY6, 1, 1, b"probe");
    let frame = from_site(&probe);
    expect_slow(&lab(), &no_peers, Port::V4, &frame, SlowKind::Echo);
    let (p, rec) = piped(&lab(), &no_peers, Port::V4, &frame, NOW);
    let reply = echo_rep(ANY6, SITE6, 64, 1, b"probe");
    assert_eq!(rec.tx, vec![tx4(&in41(ANY4, SITE4, &reply))]);
    assert_eq!(rec.consumed, vec![frame.clone()]);
    let c = p.counters();
    assert_eq!((drops(&c), ev(&c, Event::Icmp6EchoReply)), (vec![], 1));
    // The unicast 6to4 address 2002:cb00:7104:: via 203.0.113.4: the outer
    // source is the IPv4 address embedded in the reply's source.
    let uni6 = sixto4(UNI4, 0);
    let (_, rec) = piped(
        &lab(),
        &no_peers,
        Port::V4,
        &rx4(&in41(SITE4, UNI4, &echo_req(SITE6, uni6, 1, 2, b"u"))),
        NOW,
    );
    assert_eq!(
        rec.tx,
        vec![tx4(&in41(UNI4, SITE4, &echo_rep(uni6, SITE6, 64, 2, b"u")))]
    );
    // The native address, reached through the tunnel.
    let (_, rec) = piped(
        &lab(),
        &no_peers,
        Port::V4,
        &from_site(&echo_req(SITE6, RELAY6, 64, 3, b"n")),
        NOW,
    );
    assert_eq!(
        rec.tx,
        vec![tx4(&to_site(SITE4, &echo_rep(RELAY6, SITE6, 64, 3, b"n")))]
    );
    // Other reply sources (SPEC §2.3.1).
    for (src, reply_src) in [
        (EchoReplySource::Native, RELAY6),
        (EchoReplySource::AnycastUnicast, v6("2002:c058:6301::1")),
    ] {
        let cfg = lab_with(|c| c.sixto4.echo_reply_source = src);
        let (_, rec) = piped(&cfg, &no_peers, Port::V4, &frame, NOW);
        assert_eq!(
            rec.tx,
            vec![tx4(&in41(
                ANY4,
                SITE4,
                &echo_rep(reply_src, SITE6, 64, 1, b"probe")
            ))]
        );
    }
    // Twin: the same probe to a native host is forwarded, so hop limit 1
    // gets Time Exceeded (SPEC §5.3 V6-A3 note).
    let fwd = echo_req(SITE6, NATIVE6, 1, 1, b"probe");
    expect_icmp(
        &lab(),
        &no_peers,
        Port::V4,
        &from_site(&fwd),
        R::S4_09HopLimit,
        IcmpError::TimeExceeded,
        vec![tx4(&to_site(SITE4, &time_exceeded(&fwd)))],
    );
}

#[test]
fn check_s4_08b_local_not_echo() {
    for dst in [ANY6, RELAY6] {
        // An Echo Reply and a no-next-header packet to a relay address.
        lab_drop(
            Port::V4,
            &from_site(&echo_rep(SITE6, dst, 64, 1, b"x")),
            R::S4_08bLocalNotEcho,
        );
        lab_drop(
            Port::V4,
            &from_site(&ip6(0, 59, 64, SITE6, dst, b"data")),
            R::S4_08bLocalNotEcho,
        );
    }
    // Twin: an Echo Request is answered.
    let (_, rec) = piped(
        &lab(),
        &no_peers,
        Port::V4,
        &from_site(&echo_req(SITE6, ANY6, 64, 1, b"x")),
        NOW,
    );
    assert_eq!(
        rec.tx,
        vec![tx4(&in41(ANY4, SITE4, &echo_rep(ANY6, SITE6, 64, 1, b"x")))]
    );
}

#[test]
fn check_s4_09_hop_limit_time_exceeded() {
    for hop in [1, 0] {
        let inner = v6_a2_inner(hop);
        expect_icmp(
            &lab(),
            &no_peers,
            Port::V4,
            &from_site(&inner),
            R::S4_09HopLimit,
            IcmpError::TimeExceeded,
            // Encapsulated back from 192.88.99.1, ID 0.
            vec![tx4(&to_site(SITE4, &time_exceeded(&inner)))],
        );
    }
    lab_tx(Port::V4, &from_site(&v6_a2_inner(2)), tx6(&v6_a2_inner(1)));
}

#[test]
fn check_s4_10_egress_mtu_packet_too_big() {
    let cfg = lab_with(|c| c.interfaces.v6.mtu = 1280);
    let big = sized(SITE6, NATIVE6, 64, 1281);
    let err = too_big(&big, 1280);
    assert_eq!(err.len(), 1280, "RFC 4443 §2.4(c)");
    expect_icmp(
        &cfg,
        &no_peers,
        Port::V4,
        &from_site(&big),
        R::S4_10EgressMtu,
        IcmpError::PacketTooBig(1280),
        vec![tx4(&to_site(SITE4, &err))],
    );
    let fits = sized(SITE6, NATIVE6, 64, 1280);
    expect_tx(
        &cfg,
        &no_peers,
        Port::V4,
        &from_site(&fits),
        tx6(&with_hop(&fits, 63)),
    );
}

/// V6-A2 with outer TOS `outer` and inner traffic class `tc`.
fn ecn(outer: u8, tc: u8, hop: u8) -> (Vec<u8>, Vec<u8>) {
    let mut inner = icmp6(SITE6, NATIVE6, hop, 129, 0, [0x12, 0x34, 0, 1], b"abcd");
    inner[0] = 0x60 | (tc >> 4);
    inner[1] = tc << 4;
    let outer_pkt = ip4(
        V4Hdr {
            tos: outer,
            ..V4Hdr::proto(41)
        },
        SITE4,
        ANY4,
        &inner,
    );
    (outer_pkt, inner)
}

#[test]
fn check_s4_11_ce_on_not_ect() {
    let (pkt, _) = ecn(0x03, 0x00, 64);
    lab_drop(Port::V4, &rx4(&pkt), R::S4_11EcnCeNotEct);
    // Twins: CE on ECT(0) marks the inner packet CE; ECT(0) on Not-ECT
    // leaves it Not-ECT.
    let (pkt, _) = ecn(0x03, 0x02, 64);
    let (_, want) = ecn(0, 0x03, 63);
    lab_tx(Port::V4, &rx4(&pkt), tx6(&want));
    let (pkt, _) = ecn(0x02, 0x00, 64);
    let (_, want) = ecn(0, 0x00, 63);
    lab_tx(Port::V4, &rx4(&pkt), tx6(&want));
}

#[test]
fn check_s4_12_client_allow_list() {
    let deny = lab_with(|c| c.sixto4.client_allow = vec!["198.51.100.0/24".parse().expect("net")]);
    expect_drop(
        &deny,
        &no_peers,
        Port::V4,
        &v6_a2(),
        R::S4_12NotAllowedClient,
    );
    let allow = lab_with(|c| {
        c.sixto4.client_allow = vec![
            "198.51.100.0/24".parse().expect("net"),
            "192.0.2.0/24".parse().expect("net"),
        ]
    });
    expect_tx(&allow, &no_peers, Port::V4, &v6_a2(), v6_a2_out());
}

#[test]
fn check_s4_13_teredo_destination_handed_over() {
    let inner = echo_rep(SITE6, CLIENT6, 64, 7, b"6to4->teredo");
    let frame = from_site(&inner);
    // Trusted peer: straight to its mapping, hop limit decremented once.
    expect_tx(
        &lab(),
        &client_trusted,
        Port::V4,
        &frame,
        tx4(&to_client(CLIENT4, CPORT, &with_hop(&inner, 63))),
    );
    let f = fast(&lab(), &client_trusted, Port::V4, &frame, NOW);
    assert_eq!(ev(&f.counters, Event::SixToFourToTeredo), 1);
    // Unknown peer: the Teredo transmit path queues it and bubbles; the
    // reply bubble releases it, still decremented exactly once.
    let cfg = lab_with(|c| c.teredo.bubble_source = xrelay_engine::config::BubbleSource::Native);
    expect_slow(&cfg, &no_peers, Port::V4, &frame, SlowKind::TeredoTx);
    let mut p = pipe(&cfg, &no_peers, NOW);
    let r = run(&mut p, Port::V4, &frame, NOW);
    assert_eq!(
        r.tx,
        vec![tx4(&to_client(SERVER4, 3544, &bubble(RELAY6, CLIENT6, 0)))]
    );
    let r = run(
        &mut p,
        Port::V4,
        &rx4(&from_client(CLIENT4, CPORT, &bubble(CLIENT6, RELAY6, 0))),
        NOW,
    );
    assert_eq!(
        r.tx,
        vec![tx4(&to_client(CLIENT4, CPORT, &with_hop(&inner, 63)))]
    );
    assert_eq!(drops(&p.counters()), vec![]);
    // Teredo relay off: the 2001:0::/32 destination is just native.
    let off = lab_with(|c| c.teredo.enabled = false);
    expect_tx(
        &off,
        &no_peers,
        Port::V4,
        &frame,
        tx6(&with_hop(&inner, 63)),
    );
}

#[test]
fn check_s4_14_destination_embeds_a_relay_address() {
    for dst in [
        "2001:db8:1::5efe:cb00:7105",        // ISATAP, 203.0.113.5
        "2001:db8:1::200:5efe:c058:6301",    // ISATAP (u/l set), 192.88.99.1
        "2001:0:c633:6476:0:dfff:34ff:8efa", // Teredo client 203.0.113.5
    ] {
        eprintln!("S4-14 {dst}");
        lab_drop(
            Port::V4,
            &from_site(&echo_rep(SITE6, v6(dst), 64, 1, b"loop")),
            R::S4_14LoopAddress,
        );
    }
    // Twin: an ISATAP identifier embedding somebody else.
    let other = echo_rep(SITE6, v6("2001:db8:1::5efe:c000:263"), 64, 1, b"loop");
    lab_tx(Port::V4, &from_site(&other), tx6(&with_hop(&other, 63)));
}

#[test]
fn check_s4_ok_decapsulated() {
    // V6-A2: outer header stripped, hop limit 64 → 63, nothing else changed.
    let f = fast(&lab(), &no_peers, Port::V4, &v6_a2(), NOW);
    assert_eq!(ev(&f.counters, Event::SixToFourDecap), 1);
    lab_tx(Port::V4, &v6_a2(), v6_a2_out());
    // RFC 6040 §4.2: ECT(1) outer on ECT(0) inner gives ECT(1).
    let (pkt, _) = ecn(0x01, 0x02, 64);
    let (_, want) = ecn(0, 0x01, 63);
    lab_tx(Port::V4, &rx4(&pkt), tx6(&want));
    // DSCP of the outer header is not copied inward (RFC 4213 §3.6).
    let (pkt, _) = ecn(0xb8, 0x00, 64);
    let (_, want) = ecn(0, 0x00, 63);
    lab_tx(Port::V4, &rx4(&pkt), tx6(&want));
}
