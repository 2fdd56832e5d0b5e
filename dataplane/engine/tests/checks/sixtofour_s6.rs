//! S6-01 … S6-ok: 6to4 direction B, native IPv6 → IPv4 protocol 41
//! (SPEC §2.4, §4.3).

use xrelay_engine::config::MisroutedAction;
use xrelay_engine::{DropReason as R, Event, IcmpError, Port, SlowKind};

use crate::common::{hex, lab, lab_with};
use crate::kit::*;

/// V6-A1 (hop limit 64) and its encapsulation (hop limit 63).
fn v6_a1_in() -> Vec<u8> {
    rx6(&v6_a1(64))
}

fn v6_a1_out() -> (Port, Vec<u8>) {
    tx4(&to_site(SITE4, &v6_a1(63)))
}

/// Native Echo Request from `src` to `dst`, and what the relay sends for it
/// to the 6to4 host embedded in `dst`.
fn native(src: &str, dst: &str) -> Vec<u8> {
    echo_req(v6(src), v6(dst), 64, 1, b"s6")
}

#[test]
fn check_s6_01_misrouted_native_destination() {
    let cfg =
        lab_with(|c| c.relay.managed_prefixes = vec!["2001:db8:beef::/48".parse().expect("net")]);
    let p = native("2001:db8::1", "2001:db8:beef::1");
    expect_icmp(
        &cfg,
        &no_peers,
        Port::V6,
        &rx6(&p),
        R::S6_01Misrouted,
        IcmpError::Unreachable(0),
        vec![tx6(&unreachable(&p, 0))],
    );
    // Configured to pass instead.
    let pass = lab_with(|c| {
        c.relay.managed_prefixes = vec!["2001:db8:beef::/48".parse().expect("net")];
        c.sixto4.misrouted = MisroutedAction::Pass;
    });
    expect_pass(&pass, Port::V6, &rx6(&p), Event::PassMisrouted);
    // Outside every managed prefix it is the kernel's, not misrouted.
    expect_pass(
        &cfg,
        Port::V6,
        &rx6(&native("2001:db8::1", "2001:db8:cafe::1")),
        Event::PassNotOurs,
    );
    // Twin: a 6to4 destination.
    expect_tx(&cfg, &no_peers, Port::V6, &v6_a1_in(), v6_a1_out());
}

#[test]
fn check_s6_02_bad_ipv6_addresses() {
    let cases = [
        ("fe80::1", "2002:c000:201::1"),
        ("fec0::1", "2002:c000:201::1"),
        ("::ffff:192.0.2.99", "2002:c000:201::1"),
        ("::1", "2002:c000:201::1"),
        ("2002:a00:1::1", "2002:c000:201::1"),
        // List-A embedded destinations fail the §1.2 sanity list already
        // (S6-02 runs before S6-03).
        ("2001:db8::1", "2002:a00:1::1"),
        ("2001:db8::1", "2002:e000:1::1"),
        ("2001:db8::1", "2002::1"),
    ];
    for (src, dst) in cases {
        eprintln!("S6-02 {src} -> {dst}");
        lab_drop(Port::V6, &rx6(&native(src, dst)), R::S6_02BadIpv6Address);
    }
    // Multicast destination with 6to4 alone (T6-02 when Teredo runs).
    let only = lab_with(|c| c.teredo.enabled = false);
    expect_drop(
        &only,
        &no_peers,
        Port::V6,
        &rx6(&native("2001:db8::1", "ff0e::1")),
        R::S6_02BadIpv6Address,
    );
    lab_tx(Port::V6, &v6_a1_in(), v6_a1_out());
}

#[test]
fn check_s6_03_bogon_embedded_destination_silent() {
    // What the sanity list lets through: the attached subnet's broadcast …
    let p = native("2001:db8::1", "2002:cb00:71ff::1");
    lab_drop(Port::V6, &rx6(&p), R::S6_03BogonEmbedded);
    // … and list C when enabled.
    let cgn = native("2001:db8::1", "2002:6440:1::1");
    let extended = lab_with(|c| c.bogons.extended = true);
    expect_drop(
        &extended,
        &no_peers,
        Port::V6,
        &rx6(&cgn),
        R::S6_03BogonEmbedded,
    );
    // Twins: 100.64.0.1 by default; the broadcast when no subnet is attached.
    lab_tx(
        Port::V6,
        &rx6(&cgn),
        tx4(&to_site(v4("100.64.0.1"), &with_hop(&cgn, 63))),
    );
    let detached = lab_with(|c| c.relay.ipv4_subnets.clear());
    expect_tx(
        &detached,
        &no_peers,
        Port::V6,
        &rx6(&p),
        tx4(&to_site(v4("203.0.113.255"), &with_hop(&p, 63))),
    );
}

#[test]
fn check_s6_04_own_ipv4_destination() {
    // A relay address: the echo responder answers from it, natively.
    let req = echo_req(NATIVE6, ANY6, 64, 1, b"ping");
    expect_slow(&lab(), &no_peers, Port::V6, &rx6(&req), SlowKind::Echo);
    let (p, rec) = piped(&lab(), &no_peers, Port::V6, &rx6(&req), NOW);
    assert_eq!(rec.tx, vec![tx6(&echo_rep(ANY6, NATIVE6, 64, 1, b"ping"))]);
    assert_eq!(
        (
            drops(&p.counters()),
            ev(&p.counters(), Event::Icmp6EchoReply)
        ),
        (vec![], 1)
    );
    // Anything else to a relay address is dropped, never encapsulated.
    lab_drop(
        Port::V6,
        &rx6(&ip6(0, 59, 64, NATIVE6, ANY6, b"data")),
        R::S4_08bLocalNotEcho,
    );
    // Other addresses embedding a relay IPv4 address.
    for dst in [
        "2002:c058:6301::5",
        "2002:cb00:7105::1",
        "2002:cb00:7104:1::1",
    ] {
        eprintln!("S6-04 {dst}");
        lab_drop(Port::V6, &rx6(&native("2001:db8::1", dst)), R::S6_04OwnIpv4);
    }
    lab_tx(Port::V6, &v6_a1_in(), v6_a1_out());
}

#[test]
fn check_s6_04b_anycast_block_destination() {
    lab_drop(
        Port::V6,
        &rx6(&native("2001:db8::1", "2002:c058:6302::1")),
        R::S6_04bAnycastBlock,
    );
    // With anycast off even 192.88.99.1 is just "some relay".
    let off = lab_with(|c| c.sixto4.anycast = false);
    expect_drop(
        &off,
        &no_peers,
        Port::V6,
        &rx6(&native("2001:db8::1", "2002:c058:6301::1")),
        R::S6_04bAnycastBlock,
    );
    lab_tx(Port::V6, &v6_a1_in(), v6_a1_out());
}

#[test]
fn check_s6_05_spoofed_6to4_source() {
    // 6to4 → native → relay → 6to4, and a 6to4 source of the relay's other
    // address (the outer source would be 192.88.99.1).
    for src in ["2002:c000:201::1", "2002:cb00:7104::1"] {
        eprintln!("S6-05 {src}");
        lab_drop(
            Port::V6,
            &rx6(&native(src, "2002:cb00:71fe::1")),
            R::S6_05SpoofedSource,
        );
    }
    // Twin: a native source.
    let p = native("2001:db8::1", "2002:cb00:71fe::1");
    lab_tx(
        Port::V6,
        &rx6(&p),
        tx4(&to_site(v4("203.0.113.254"), &with_hop(&p, 63))),
    );
}

#[test]
fn check_s6_06_source_embeds_a_relay_address() {
    for src in [
        "2001:db8:1::5efe:cb00:7104",        // ISATAP, 203.0.113.4
        "2001:0:c633:6476:0:dfff:34ff:8efa", // Teredo client 203.0.113.5
        "2002:c058:6301::1",                 // 6to4 of 192.88.99.1 (passes S6-05)
    ] {
        eprintln!("S6-06 {src}");
        lab_drop(
            Port::V6,
            &rx6(&native(src, "2002:c000:201::1")),
            R::S6_06LoopAddress,
        );
    }
    let p = native("2001:db8:1::5efe:c000:263", "2002:c000:201::1");
    lab_tx(Port::V6, &rx6(&p), tx4(&to_site(SITE4, &with_hop(&p, 63))));
}

#[test]
fn check_s6_07_hop_limit_time_exceeded() {
    for hop in [1, 0] {
        let p = v6_a1(hop);
        expect_icmp(
            &lab(),
            &no_peers,
            Port::V6,
            &rx6(&p),
            R::S6_07HopLimit,
            IcmpError::TimeExceeded,
            vec![tx6(&time_exceeded(&p))],
        );
    }
    lab_tx(Port::V6, &rx6(&v6_a1(2)), tx4(&to_site(SITE4, &v6_a1(1))));
}

#[test]
fn check_s6_08_tunnel_mtu_packet_too_big() {
    // V6-A5: 1481 octets → PTB 1480, the error exactly 1280 octets.
    let big = sized(NATIVE6, SITE6, 64, 1481);
    let err = too_big(&big, 1480);
    assert_eq!(err.len(), 1280);
    assert_eq!(&err[44..48], &[0, 0, 0x05, 0xc8]);
    let (p, _) = expect_icmp(
        &lab(),
        &no_peers,
        Port::V6,
        &rx6(&big),
        R::S6_08TunnelMtu,
        IcmpError::PacketTooBig(1480),
        vec![tx6(&err)],
    );
    assert_eq!(ev(&p.counters(), Event::Icmp6PacketTooBig), 1);
    // A smaller configured tunnel MTU.
    let cfg = lab_with(|c| c.sixto4.tunnel_mtu = 1280);
    let mid = sized(NATIVE6, SITE6, 64, 1281);
    expect_icmp(
        &cfg,
        &no_peers,
        Port::V6,
        &rx6(&mid),
        R::S6_08TunnelMtu,
        IcmpError::PacketTooBig(1280),
        vec![tx6(&too_big(&mid, 1280))],
    );
    // Twin: exactly 1480 octets → one 1500-octet IPv4 packet, DF clear.
    let fits = sized(NATIVE6, SITE6, 64, 1480);
    let out = to_site(SITE4, &with_hop(&fits, 63));
    assert_eq!((out.len(), out[6] & 0x40), (1500, 0));
    lab_tx(Port::V6, &rx6(&fits), tx4(&out));
}

#[test]
fn check_s6_09_native_source_allow_list() {
    let deny =
        lab_with(|c| c.sixto4.native_source_allow = vec!["2001:db8:1::/48".parse().expect("net")]);
    expect_drop(
        &deny,
        &no_peers,
        Port::V6,
        &v6_a1_in(),
        R::S6_09NotAllowedSource,
    );
    let allow =
        lab_with(|c| c.sixto4.native_source_allow = vec!["2001:db8::/48".parse().expect("net")]);
    expect_tx(&allow, &no_peers, Port::V6, &v6_a1_in(), v6_a1_out());
}

#[test]
fn check_s6_ok_encapsulated() {
    // V6-A1: 192.88.99.1 → 192.0.2.1, protocol 41, TTL 64, DF clear, ID 0
    // (pinned), header checksum 0x9532, inner hop limit 63.
    let f = fast(&lab(), &no_peers, Port::V6, &v6_a1_in(), NOW);
    assert_eq!(ev(&f.counters, Event::SixToFourEncap), 1);
    lab_tx(Port::V6, &v6_a1_in(), v6_a1_out());
    // V6-A4: traffic class 0xb9 copied to the outer TOS (ECN normal mode) …
    let tc =
        hex("6b90000000003b4020010db80000000000000000000000012002c000020100000000000000000001");
    let want = hex("45b9003c0000000040299485c0586301c00002016b90000000003b3f20010db80000000000000000000000012002c000020100000000000000000001");
    lab_tx(Port::V6, &rx6(&tc), tx4(&want));
    // … and with compatibility mode the outer ECN is Not-ECT (TOS 0xb8).
    let compat = lab_with(|c| c.sixto4.tos = xrelay_engine::config::TosMode::Compat);
    let mut want = want;
    want[1] = 0xb8;
    fix_ip4_checksum(&mut want);
    expect_tx(&compat, &no_peers, Port::V6, &rx6(&tc), tx4(&want));
    // Without anycast the outer source is the unicast address.
    let uni = lab_with(|c| c.sixto4.anycast = false);
    expect_tx(
        &uni,
        &no_peers,
        Port::V6,
        &v6_a1_in(),
        tx4(&in41(UNI4, SITE4, &v6_a1(63))),
    );
}
