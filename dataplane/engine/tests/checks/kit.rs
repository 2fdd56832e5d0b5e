//! Packet builders and assertion harness for the check-ID suite.
//!
//! Expected frames are built here, independently of the engine: headers
//! are written field by field and every checksum comes from etherparse.
//! The harness runs each frame twice: once through `Engine::process_frame`
//! alone (the fast-path verdict and its counters) and once through the full
//! `Pipeline` (what goes on the wire, the slow path included).

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::checksum::Sum16BitWords;
use etherparse::{Icmpv4Type, Icmpv6Type, UdpHeader};
use xrelay_engine::{
    Config, Counters, DropReason, Engine, Event, Frame, IcmpError, IdGen, Now, PeerTable, Pipeline,
    Port, SlowKind, Verdict, HEADROOM,
};

use crate::common::{eth_in, eth_out, lab, pipeline, run, Rec};

// ---- addresses (SPEC §5 lab) ------------------------------------------------

pub const NOW: Now = Now::from_secs(100);
pub const RELAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xff);
pub const ANY4: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);
pub const ANY6: Ipv6Addr = Ipv6Addr::new(0x2002, 0xc058, 0x6301, 0, 0, 0, 0, 0);
pub const UNI4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 4);
pub const TEREDO4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub const TPORT: u16 = 3545;
pub const SITE4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const SITE6: Ipv6Addr = Ipv6Addr::new(0x2002, 0xc000, 0x0201, 0, 0, 0, 0, 1);
pub const NATIVE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xc633, 0x6476, 0, 0xdfff, 0x3fff, 0xfdf5);
pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const CPORT: u16 = 8192;
pub const SERVER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 118);
/// A router on the IPv4 path that reports errors (E-xx).
pub const ROUTER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("IPv6 literal")
}

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("IPv4 literal")
}

/// `2002:V4::host` (RFC 3056 §2).
pub fn sixto4(a: Ipv4Addr, host: u16) -> Ipv6Addr {
    let b = a.to_bits();
    Ipv6Addr::new(0x2002, (b >> 16) as u16, b as u16, 0, 0, 0, 0, host)
}

/// A Teredo address (RFC 4380 §4): server, flags, ~port, ~client.
pub fn teredo(server: Ipv4Addr, flags: u16, client: Ipv4Addr, port: u16) -> Ipv6Addr {
    let s = server.to_bits();
    let c = !client.to_bits();
    Ipv6Addr::new(
        0x2001,
        0,
        (s >> 16) as u16,
        s as u16,
        flags,
        !port,
        (c >> 16) as u16,
        c as u16,
    )
}

// ---- IPv6 -----------------------------------------------------------------

/// An IPv6 packet: traffic class `tc`, flow label 0.
pub fn ip6(tc: u8, nh: u8, hop: u8, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60 | (tc >> 4), tc << 4, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.push(nh);
    p.push(hop);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// IPv6 + ICMPv6 (`typ`, `code`, the 4 bytes after the checksum, `body`).
pub fn icmp6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop: u8,
    typ: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let t = Icmpv6Type::Unknown {
        type_u8: typ,
        code_u8: code,
        bytes5to8: rest,
    };
    let c = t
        .calc_checksum(src.octets(), dst.octets(), body)
        .expect("icmpv6 checksum");
    let mut m = vec![typ, code];
    m.extend_from_slice(&c.to_be_bytes());
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    ip6(0, 58, hop, src, dst, &m)
}

fn id_seq(id: u16, seq: u16) -> [u8; 4] {
    let (a, b) = (id.to_be_bytes(), seq.to_be_bytes());
    [a[0], a[1], b[0], b[1]]
}

pub fn echo_req(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, seq: u16, data: &[u8]) -> Vec<u8> {
    icmp6(src, dst, hop, 128, 0, id_seq(0x4242, seq), data)
}

pub fn echo_rep(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, seq: u16, data: &[u8]) -> Vec<u8> {
    icmp6(src, dst, hop, 129, 0, id_seq(0x4242, seq), data)
}

/// An echo request of exactly `len` bytes (IPv6 header included).
pub fn sized(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len - 48).map(|i| i as u8).collect();
    echo_req(src, dst, hop, 1, &data)
}

/// A Teredo bubble (RFC 4380 §2.8): header only, next header 59.
pub fn bubble(src: Ipv6Addr, dst: Ipv6Addr, hop: u8) -> Vec<u8> {
    ip6(0, 59, hop, src, dst, &[])
}

/// The same IPv6 packet with another hop limit (not in any checksum).
pub fn with_hop(p: &[u8], hop: u8) -> Vec<u8> {
    let mut p = p.to_vec();
    p[7] = hop;
    p
}

/// The ICMPv6 error the relay must originate about `offending`: from its
/// native address, hop limit 64, quoting as much as keeps the message
/// within 1280 bytes (RFC 4443 §2.4(c)).
pub fn icmp6_error(offending: &[u8], typ: u8, code: u8, param: u32) -> Vec<u8> {
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&offending[8..24]).expect("src"));
    let quote = &offending[..offending.len().min(1280 - 48)];
    icmp6(RELAY6, dst, 64, typ, code, param.to_be_bytes(), quote)
}

pub fn time_exceeded(offending: &[u8]) -> Vec<u8> {
    icmp6_error(offending, 3, 0, 0)
}

pub fn unreachable(offending: &[u8], code: u8) -> Vec<u8> {
    icmp6_error(offending, 1, code, 0)
}

pub fn too_big(offending: &[u8], mtu: u32) -> Vec<u8> {
    icmp6_error(offending, 2, 0, mtu)
}

/// A named change to a packet (one fault per variant).
pub type Mutation = (&'static str, fn(&mut Vec<u8>));

// ---- IPv4 -----------------------------------------------------------------

/// IPv4 header fields beyond the addresses.
#[derive(Debug, Clone, Copy)]
pub struct V4Hdr {
    pub tos: u8,
    pub id: u16,
    /// Flags and fragment offset, as on the wire.
    pub frag: u16,
    pub ttl: u8,
    pub proto: u8,
}

impl V4Hdr {
    pub const fn proto(proto: u8) -> V4Hdr {
        V4Hdr {
            tos: 0,
            id: 0,
            frag: 0,
            ttl: 64,
            proto,
        }
    }
}

pub fn ip4(h: V4Hdr, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, h.tos];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&h.id.to_be_bytes());
    p.extend_from_slice(&h.frag.to_be_bytes());
    p.extend_from_slice(&[h.ttl, h.proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    fix_ip4_checksum(&mut p);
    p.extend_from_slice(payload);
    p
}

/// Recomputes the header checksum of the IPv4 header at the start of `p`.
pub fn fix_ip4_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = Sum16BitWords::new()
        .add_slice(&p[..ihl.min(p.len())])
        .ones_complement()
        .to_be();
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Protocol 41: IPv6 in IPv4, TTL 64, TOS 0, ID 0, DF clear.
pub fn in41(src: Ipv4Addr, dst: Ipv4Addr, inner: &[u8]) -> Vec<u8> {
    ip4(V4Hdr::proto(41), src, dst, inner)
}

/// What the relay sends toward a 6to4 host: from 192.88.99.1, ID 0.
pub fn to_site(dst: Ipv4Addr, inner: &[u8]) -> Vec<u8> {
    in41(ANY4, dst, inner)
}

/// UDP over IPv4 with the checksum filled.
pub fn udp4(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = UdpHeader {
        source_port: sport,
        destination_port: dport,
        length: (8 + payload.len()) as u16,
        checksum: 0,
    };
    h.checksum = h
        .calc_checksum_ipv4_raw(src.octets(), dst.octets(), payload)
        .expect("udp checksum");
    let mut u = h.to_bytes().to_vec();
    u.extend_from_slice(payload);
    ip4(V4Hdr::proto(17), src, dst, &u)
}

/// Teredo from a client to the relay.
pub fn from_client(src4: Ipv4Addr, sport: u16, inner: &[u8]) -> Vec<u8> {
    udp4(src4, sport, TEREDO4, TPORT, inner)
}

/// What the relay sends to a Teredo peer: from 203.0.113.5:3545, ID 0.
pub fn to_client(dst4: Ipv4Addr, dport: u16, inner: &[u8]) -> Vec<u8> {
    udp4(TEREDO4, TPORT, dst4, dport, inner)
}

/// ICMPv4 `typ`/`code` from `src` to `dst` quoting `quote`.
pub fn icmp4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    typ: u8,
    code: u8,
    rest: [u8; 4],
    quote: &[u8],
) -> Vec<u8> {
    let c = Icmpv4Type::Unknown {
        type_u8: typ,
        code_u8: code,
        bytes5to8: rest,
    }
    .calc_checksum(quote);
    let mut m = vec![typ, code];
    m.extend_from_slice(&c.to_be_bytes());
    m.extend_from_slice(&rest);
    m.extend_from_slice(quote);
    ip4(V4Hdr::proto(1), src, dst, &m)
}

// ---- Ethernet ---------------------------------------------------------------

/// A frame received on the IPv4 side.
pub fn rx4(ip: &[u8]) -> Vec<u8> {
    eth_in(Port::V4, ip)
}

/// A frame received on the native side.
pub fn rx6(ip: &[u8]) -> Vec<u8> {
    eth_in(Port::V6, ip)
}

/// The frame the relay transmits on the IPv4 side.
pub fn tx4(ip: &[u8]) -> (Port, Vec<u8>) {
    (Port::V4, eth_out(Port::V4, ip))
}

/// The frame the relay transmits on the native side.
pub fn tx6(ip: &[u8]) -> (Port, Vec<u8>) {
    (Port::V6, eth_out(Port::V6, ip))
}

// ---- peers --------------------------------------------------------------------

/// Prepares a peer table (the fast path's and the pipeline's alike).
pub type Setup<'a> = &'a dyn Fn(&mut PeerTable, Now);

pub fn no_peers(_: &mut PeerTable, _: Now) {}

/// Makes `addr` a trusted peer at `(v4, port)`, heard from at `now`.
pub fn trust(t: &mut PeerTable, addr: Ipv6Addr, v4: Ipv4Addr, port: u16, now: Now) {
    let i = t
        .insert(&addr, (v4, port), now.secs())
        .expect("peer table has room");
    let p = t.get(i).expect("live entry");
    p.set_trusted(v4, port);
    p.touch_rx(now.secs());
}

/// The lab client 2001:0:c633:6476:0:dfff:3fff:fdf5 trusted at 192.0.2.10:8192.
pub fn client_trusted(t: &mut PeerTable, now: Now) {
    trust(t, CLIENT6, CLIENT4, CPORT, now);
}

// ---- harness --------------------------------------------------------------------

/// What the fast path alone did with one frame.
#[derive(Debug)]
pub struct Fast {
    pub verdict: Verdict,
    pub counters: Counters,
    /// The rewritten frame for `Verdict::Tx`.
    pub out: Option<(Port, Vec<u8>)>,
}

/// Runs `frame` through a fresh `Engine` (IDs pinned to 0) and peer table.
pub fn fast(cfg: &Config, setup: Setup<'_>, port: Port, frame: &[u8], now: Now) -> Fast {
    let mut eng = Engine::new(cfg, 0, 1, 7).expect("engine");
    eng.set_id_source(IdGen::constant(0));
    let mut peers = PeerTable::new(cfg.teredo.peer_capacity.min(1024) as usize, 60, 7);
    setup(&mut peers, now);
    let mut buf = vec![0u8; HEADROOM + frame.len() + 64];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let mut f = Frame::new(&mut buf, HEADROOM, frame.len(), port);
    let verdict = eng.process_frame(&mut f, &peers, now);
    let out = (verdict == Verdict::Tx).then(|| (f.tx_port, f.data().to_vec()));
    Fast {
        verdict,
        counters: eng.counters().clone(),
        out,
    }
}

/// A fresh pipeline (IDs pinned to 0) with `setup` applied to its peers.
pub fn pipe(cfg: &Config, setup: Setup<'_>, now: Now) -> Pipeline {
    let mut p = pipeline(cfg);
    setup(p.peers_mut(), now);
    p
}

/// Runs one frame through a fresh pipeline.
pub fn piped(
    cfg: &Config,
    setup: Setup<'_>,
    port: Port,
    frame: &[u8],
    now: Now,
) -> (Pipeline, Rec) {
    let mut p = pipe(cfg, setup, now);
    let rec = run(&mut p, port, frame, now);
    (p, rec)
}

/// Runs several frames as one batch (`Pipeline::process`).
pub fn run_batch(p: &mut Pipeline, port: Port, frames: &[Vec<u8>], now: Now) -> Rec {
    let mut rec = Rec::default();
    let mut bufs: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut b = vec![0u8; HEADROOM + f.len() + 64];
            b[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
            b
        })
        .collect();
    let mut fs: Vec<Frame<'_>> = bufs
        .iter_mut()
        .zip(frames)
        .map(|(b, f)| Frame::new(b, HEADROOM, f.len(), port))
        .collect();
    p.process(&mut fs, now, &mut rec);
    rec
}

/// Runs the pipeline's timers at `now`.
pub fn tick(p: &mut Pipeline, now: Now) -> Rec {
    let mut rec = Rec::default();
    p.tick(now, &mut rec);
    rec
}

/// Non-zero drop counters.
pub fn drops(c: &Counters) -> Vec<(DropReason, u64)> {
    c.drops_nonzero().collect()
}

pub fn ev(c: &Counters, e: Event) -> u64 {
    c.get_event(e)
}

/// A silent drop by `reason`: the fast-path verdict and its counter (and no
/// other), and nothing transmitted by the full pipeline.
#[track_caller]
pub fn expect_drop(cfg: &Config, setup: Setup<'_>, port: Port, frame: &[u8], reason: DropReason) {
    let f = fast(cfg, setup, port, frame, NOW);
    assert_eq!(f.verdict, Verdict::Drop(reason), "fast-path verdict");
    assert_eq!(
        drops(&f.counters),
        vec![(reason, 1)],
        "fast-path drop counters"
    );
    let (p, rec) = piped(cfg, setup, port, frame, NOW);
    assert_eq!(rec.tx, vec![], "nothing transmitted");
    assert_eq!(rec.dropped, vec![(reason, frame.to_vec())], "reported drop");
    assert_eq!(
        drops(&p.counters()),
        vec![(reason, 1)],
        "pipeline drop counters"
    );
}

/// `expect_drop` with the lab configuration and no peers.
#[track_caller]
pub fn lab_drop(port: Port, frame: &[u8], reason: DropReason) {
    expect_drop(&lab(), &no_peers, port, frame, reason);
}

/// The frame is relayed by the fast path as exactly `want`.
#[track_caller]
pub fn expect_tx(cfg: &Config, setup: Setup<'_>, port: Port, frame: &[u8], want: (Port, Vec<u8>)) {
    let f = fast(cfg, setup, port, frame, NOW);
    assert_eq!(f.verdict, Verdict::Tx, "fast-path verdict");
    assert_eq!(drops(&f.counters), vec![], "fast-path drop counters");
    assert_eq!(f.out.as_ref(), Some(&want), "fast-path output");
    let (p, rec) = piped(cfg, setup, port, frame, NOW);
    assert_eq!(rec.tx, vec![want], "pipeline output");
    assert_eq!(drops(&p.counters()), vec![], "pipeline drop counters");
}

#[track_caller]
pub fn lab_tx(port: Port, frame: &[u8], want: (Port, Vec<u8>)) {
    expect_tx(&lab(), &no_peers, port, frame, want);
}

/// Not relay traffic: handed to the kernel untouched, counted as `event`.
#[track_caller]
pub fn expect_pass(cfg: &Config, port: Port, frame: &[u8], event: Event) {
    let f = fast(cfg, &no_peers, port, frame, NOW);
    assert_eq!(f.verdict, Verdict::Pass, "fast-path verdict");
    assert_eq!(drops(&f.counters), vec![], "fast-path drop counters");
    assert_eq!(ev(&f.counters, event), 1, "{event} counted");
    let (p, rec) = piped(cfg, &no_peers, port, frame, NOW);
    assert_eq!(rec.tx, vec![], "nothing transmitted");
    assert_eq!(
        rec.passed,
        vec![frame.to_vec()],
        "passed to the kernel unchanged"
    );
    assert_eq!(drops(&p.counters()), vec![]);
}

/// Dropped by `reason` with an ICMPv6 `error`: the fast path hands it to the
/// slow path, and the pipeline transmits exactly `want`.
#[track_caller]
#[allow(clippy::too_many_arguments, reason = "one value per assertion")]
pub fn expect_icmp(
    cfg: &Config,
    setup: Setup<'_>,
    port: Port,
    frame: &[u8],
    reason: DropReason,
    error: IcmpError,
    want: Vec<(Port, Vec<u8>)>,
) -> (Pipeline, Rec) {
    let f = fast(cfg, setup, port, frame, NOW);
    assert_eq!(
        f.verdict,
        Verdict::Slow(SlowKind::Icmp { reason, error }),
        "fast-path verdict"
    );
    assert_eq!(
        drops(&f.counters),
        vec![(reason, 1)],
        "fast-path drop counters"
    );
    let (p, rec) = piped(cfg, setup, port, frame, NOW);
    assert_eq!(rec.tx, want, "pipeline output");
    assert_eq!(rec.dropped, vec![(reason, frame.to_vec())], "reported drop");
    assert_eq!(
        drops(&p.counters()),
        vec![(reason, 1)],
        "pipeline drop counters"
    );
    (p, rec)
}

/// The fast path hands the frame to the slow path as `kind` without
/// counting a drop.
#[track_caller]
pub fn expect_slow(cfg: &Config, setup: Setup<'_>, port: Port, frame: &[u8], kind: SlowKind) {
    let f = fast(cfg, setup, port, frame, NOW);
    assert_eq!(f.verdict, Verdict::Slow(kind), "fast-path verdict");
    assert_eq!(drops(&f.counters), vec![], "fast-path drop counters");
}

// ---- the standard packets -------------------------------------------------------

/// SPEC V6-A1 input: Echo Request 2001:db8::1 → 2002:c000:201::1, "abcd".
pub fn v6_a1(hop: u8) -> Vec<u8> {
    icmp6(NATIVE6, SITE6, hop, 128, 0, id_seq(0x1234, 1), b"abcd")
}

/// SPEC V6-A2 inner: Echo Reply 2002:c000:201::1 → 2001:db8::1, "abcd".
pub fn v6_a2_inner(hop: u8) -> Vec<u8> {
    icmp6(SITE6, NATIVE6, hop, 129, 0, id_seq(0x1234, 1), b"abcd")
}

/// SPEC §5.7 step 1: Echo Reply 2001:db8::1 → the Teredo client.
pub fn to_teredo(hop: u8, seq: u16) -> Vec<u8> {
    echo_rep(NATIVE6, CLIENT6, hop, seq, b"teredo!!")
}

/// SPEC §5.7 step 3 inner: Echo Request from the Teredo client → 2001:db8::1.
pub fn from_teredo(hop: u8) -> Vec<u8> {
    echo_req(CLIENT6, NATIVE6, hop, 8, b"teredo!!")
}
