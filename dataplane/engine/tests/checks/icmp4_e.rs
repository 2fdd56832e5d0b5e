//! E-01 … E-04: ICMPv4 errors received about packets the relay sent
//! (SPEC §2.5.3, §3.12, §4.6).

use xrelay_engine::config::DfMode;
use xrelay_engine::{Config, DropReason as R, Event, Now, Port, SlowKind};

use crate::common::{lab, lab_with, run};
use crate::kit::*;

/// What the relay sent for V6-A1: 192.88.99.1 → 192.0.2.1, protocol 41.
fn our_6to4() -> Vec<u8> {
    to_site(SITE4, &v6_a1(63))
}

/// An ICMPv4 error from a router on the path to the anycast address.
fn err4(typ: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
    rx4(&icmp4(ROUTER4, ANY4, typ, code, rest, quote))
}

/// The ICMPv4 error is handed to the slow path (no fast-path counter),
/// which counts `reason` and transmits exactly `want`.
#[track_caller]
fn expect_e(cfg: &Config, frame: &[u8], reason: R, want: Vec<(Port, Vec<u8>)>) {
    expect_slow(cfg, &no_peers, Port::V4, frame, SlowKind::Icmp4Error);
    let (p, rec) = piped(cfg, &no_peers, Port::V4, frame, NOW);
    assert_eq!(rec.tx, want, "output");
    assert_eq!(rec.dropped, vec![(reason, frame.to_vec())]);
    assert_eq!(drops(&p.counters()), vec![(reason, 1)]);
}

#[test]
fn check_e_01_fragmentation_needed_counted_only() {
    // Next-hop MTU 1400: the static tunnel MTU stays; nothing is sent.
    let frame = err4(3, 4, [0, 0, 0x05, 0x78], &our_6to4());
    expect_e(&lab(), &frame, R::E01FragNeeded, vec![]);
    // Also with DF set (dynamic PMTU is not implemented): counted only,
    // and a 1480-octet packet is still sent whole afterwards.
    let df = lab_with(|c| c.sixto4.df = DfMode::Set);
    expect_e(&df, &frame, R::E01FragNeeded, vec![]);
    let mut p = pipe(&df, &no_peers, NOW);
    run(&mut p, Port::V4, &frame, NOW);
    let fits = sized(NATIVE6, SITE6, 64, 1480);
    let r = run(&mut p, Port::V6, &rx6(&fits), NOW);
    assert_eq!(r.tx.len(), 1);
    assert_eq!(r.tx[0].1.len(), 14 + 1500);
    // Twin: another Destination Unreachable code is translated (E-02).
    let host = err4(3, 1, [0; 4], &our_6to4());
    expect_e(
        &lab(),
        &host,
        R::E02Translated,
        vec![tx6(&unreachable(&v6_a1(63), 3))],
    );
}

#[test]
fn check_e_02_translated_to_icmpv6() {
    // Host unreachable quoting the whole packet → ICMPv6 1/3 from
    // 2001:db8::ff to the quoted inner source, sent natively.
    let frame = err4(3, 1, [0; 4], &our_6to4());
    expect_e(
        &lab(),
        &frame,
        R::E02Translated,
        vec![tx6(&unreachable(&v6_a1(63), 3))],
    );
    let (p, _) = piped(&lab(), &no_peers, Port::V4, &frame, NOW);
    assert_eq!(ev(&p.counters(), Event::Icmp6Unreachable), 1);
    // Time Exceeded (TTL) → ICMPv6 Time Exceeded.
    let ttl = err4(11, 0, [0; 4], &our_6to4());
    expect_e(
        &lab(),
        &ttl,
        R::E02Translated,
        vec![tx6(&time_exceeded(&v6_a1(63)))],
    );
    // A minimal quote (IPv4 + IPv6 header + 8 octets): the quoted packet's
    // payload length is clamped to what was quoted.
    let short = &our_6to4()[..20 + 48];
    let mut quoted = v6_a1(63)[..48].to_vec();
    quoted[4..6].copy_from_slice(&8u16.to_be_bytes());
    expect_e(
        &lab(),
        &err4(3, 3, [0; 4], short),
        R::E02Translated,
        vec![tx6(&unreachable(&quoted, 3))],
    );
    // Translation switched off: still classified, nothing sent.
    let off = lab_with(|c| c.icmp4.translate_errors = false);
    expect_e(&off, &frame, R::E02Translated, vec![]);
}

#[test]
fn check_e_03_other_icmpv4_ignored() {
    let ours = our_6to4();
    let foreign = in41(v4("192.0.2.99"), SITE4, &v6_a1(63));
    let mut bad_sum = err4(3, 1, [0; 4], &ours);
    bad_sum[14 + 22] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("parameter problem", err4(12, 0, [0; 4], &ours)),
        ("source route failed", err4(3, 5, [0; 4], &ours)),
        ("time exceeded in reassembly", err4(11, 1, [0; 4], &ours)),
        (
            "quote without the whole IPv6 header",
            err4(3, 1, [0; 4], &ours[..20 + 39]),
        ),
        (
            "quote of a packet we did not send",
            err4(3, 1, [0; 4], &foreign),
        ),
        ("bad ICMPv4 checksum", bad_sum),
    ];
    for (what, frame) in cases {
        eprintln!("E-03 {what}");
        expect_e(&lab(), &frame, R::E03Ignored, vec![]);
    }
    // Not an error at all: Echo Request to a relay address is the kernel's.
    expect_pass(
        &lab(),
        Port::V4,
        &rx4(&icmp4(ROUTER4, ANY4, 8, 0, [0, 1, 0, 1], b"ping")),
        Event::PassNotRelayProto,
    );
    // Twin: the same Destination Unreachable with a full quote (E-02).
    expect_e(
        &lab(),
        &err4(3, 1, [0; 4], &ours),
        R::E02Translated,
        vec![tx6(&unreachable(&v6_a1(63), 3))],
    );
}

#[test]
fn check_e_04_about_teredo_packets() {
    // Port unreachable from the client's NAT about a packet we sent to it.
    let sent = to_client(CLIENT4, CPORT, &to_teredo(63, 7));
    let frame = rx4(&icmp4(CLIENT4, TEREDO4, 3, 3, [0; 4], &sent));
    expect_slow(
        &lab(),
        &client_trusted,
        Port::V4,
        &frame,
        SlowKind::Icmp4Error,
    );
    let next = rx6(&to_teredo(64, 8));
    let direct = tx4(&to_client(CLIENT4, CPORT, &to_teredo(63, 8)));
    // Default: counted, the peer stays trusted.
    let mut p = pipe(&lab(), &client_trusted, NOW);
    let r = run(&mut p, Port::V4, &frame, NOW);
    assert_eq!(
        (r.tx, r.dropped),
        (vec![], vec![(R::E04Teredo, frame.clone())])
    );
    assert_eq!(drops(&p.counters()), vec![(R::E04Teredo, 1)]);
    assert_eq!(
        run(&mut p, Port::V6, &rx6(&to_teredo(64, 8)), NOW).tx,
        vec![direct]
    );
    // icmp4.untrust_teredo_peer: the entry loses trust, so the next packet
    // is queued behind a bubble instead of sent to the mapping.
    let cfg = lab_with(|c| {
        c.icmp4.untrust_teredo_peer = true;
        c.teredo.bubble_source = xrelay_engine::config::BubbleSource::Native;
    });
    let mut p = pipe(&cfg, &client_trusted, NOW);
    let r = run(&mut p, Port::V4, &frame, NOW);
    assert_eq!(r.tx, vec![]);
    assert_eq!(drops(&p.counters()), vec![(R::E04Teredo, 1)]);
    assert!(p.peers().find(&CLIENT6).is_some_and(|e| !e.is_trusted()));
    let r = run(&mut p, Port::V6, &next, Now::from_secs(103));
    assert_eq!(
        r.tx,
        vec![tx4(&to_client(SERVER4, 3544, &bubble(RELAY6, CLIENT6, 0)))]
    );
}
