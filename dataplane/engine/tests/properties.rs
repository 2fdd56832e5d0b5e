//! Property tests (STYLE.md Tests §3).
//!
//! (a) Round trips on every path: a random valid IPv6 packet `p` relayed
//!     through the engine comes out with exactly the headers SPEC §1.6/§3.4
//!     prescribe around `p` with hop limit − 1 (and, on decapsulation, the
//!     RFC 6040 ECN result), byte for byte: 6to4, 6rd and Teredo, both
//!     directions. Expected outer headers are built with etherparse.
//! (b) Totality: arbitrary bytes and mutated valid frames, on both ports and
//!     under every harness configuration, never panic, leave at least one
//!     report per frame, count one `rx_frames` per frame, and every frame
//!     the relay transmits is well formed. This uses the fuzz harness
//!     (`fuzz/src/lib.rs`), whose seed corpus is checked here too.

mod common;
#[allow(dead_code, reason = "the fuzz target uses the rest of the harness")]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use common::{eth_in, eth_out, lab, pipeline, run};
use etherparse::{
    IpHeaders, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder,
    UdpHeader,
};
use proptest::collection::vec;
use proptest::prelude::*;
use xrelay_engine::{Config, DropReason, Now, Port};

const RELAY_NATIVE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xff);
const ANYCAST: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);
const UNICAST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 4);
const TEREDO_RELAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const BR: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const NOW: Now = Now::from_secs(1_000);

fn sixrd() -> Config {
    Config::from_toml_str(harness::SIXRD).expect("6rd config")
}

// ---- strategies -----------------------------------------------------------

/// Global unicast IPv4: outside lists A and B (SPEC §1.1), outside the
/// relay's 203.0.113.0/24 and the 6rd block 100.64.0.0/10.
fn is_global(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(matches!(o0, 0 | 10 | 127 | 224..=255)
        || (o0 == 169 && o1 == 254)
        || (o0 == 172 && o1 & 0xf0 == 16)
        || (o0 == 192 && o1 == 168)
        || (o0 == 192 && o1 == 88 && o2 == 99)
        || (o0 == 203 && o1 == 0 && o2 == 113)
        || (o0 == 100 && o1 & 0xc0 == 64))
}

fn global_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from_bits)
        .prop_filter("global unicast IPv4", |a| is_global(*a))
}

/// A native global IPv6 host in 2000::/3, outside 2002::/16, 2001:0::/32
/// and the 6rd prefix, never the relay, with an IID that is not ISATAP.
fn native_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>()
        .prop_map(|x| {
            let mut o = ((x & ((1u128 << 125) - 1)) | (1u128 << 125)).to_be_bytes();
            o[8] |= 0x40;
            Ipv6Addr::from(o)
        })
        .prop_filter("native", |a| {
            let b = a.to_bits();
            b >> 112 != 0x2002 && b >> 96 != 0x2001_0000 && b >> 88 != 0x0020_010d_b80f
        })
}

/// A host in the 6to4 site of `v4`: `2002:V4:subnet:iid`.
fn sixto4_host(v4: Ipv4Addr, low: u128) -> Ipv6Addr {
    Ipv6Addr::from_bits(
        (0x2002u128 << 112) | (u128::from(v4.to_bits()) << 80) | (low & ((1 << 80) - 1)),
    )
}

/// A CE of the 6rd domain 2001:db8:f00::/40 (IPv4MaskLen 12): 100.64.0.0/12
/// minus the BR.
fn ce_v4() -> impl Strategy<Value = Ipv4Addr> {
    (0u32..1 << 20)
        .prop_map(|low| Ipv4Addr::from_bits(0x6440_0000 | low))
        .prop_filter("not the BR", |a| *a != BR)
}

/// A host in the CE's delegated /60.
fn ce_host(ce: Ipv4Addr, low: u128) -> Ipv6Addr {
    let prefix = 0x2001_0db8_0f00u128 << 80;
    Ipv6Addr::from_bits(
        prefix | (u128::from(ce.to_bits() & 0xfffff) << 68) | (low & ((1 << 68) - 1)),
    )
}

/// A Teredo address: `2001:0:server:flags:~port:~client`.
fn teredo_addr(server: Ipv4Addr, flags: u16, client: Ipv4Addr, port: u16) -> Ipv6Addr {
    xrelay_wire::teredo::Address {
        server,
        flags,
        port,
        client,
    }
    .encode()
}

/// A valid IPv6 packet: ICMPv6 echo, UDP, TCP or no-next-header.
#[derive(Debug, Clone)]
struct Inner {
    kind: u8,
    tc: u8,
    flow: u32,
    hop: u8,
    a: u16,
    b: u16,
    seq: u32,
    payload: Vec<u8>,
}

fn inner() -> impl Strategy<Value = Inner> {
    (
        0u8..4,
        any::<u8>(),
        0u32..1 << 20,
        2u8..=255,
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        vec(any::<u8>(), 0..1200),
    )
        .prop_map(|(kind, tc, flow, hop, a, b, seq, payload)| Inner {
            kind,
            tc,
            flow,
            hop,
            a,
            b,
            seq,
            payload,
        })
}

impl Inner {
    fn build(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let h = Ipv6Header {
            traffic_class: self.tc,
            flow_label: Ipv6FlowLabel::try_new(self.flow).expect("20-bit flow label"),
            payload_length: self.payload.len() as u16,
            next_header: IpNumber(59),
            hop_limit: self.hop,
            source: src.octets(),
            destination: dst.octets(),
        };
        let b = || PacketBuilder::ip(IpHeaders::Ipv6(h.clone(), Default::default()));
        let mut v = Vec::new();
        match self.kind {
            0 => b()
                .icmpv6_echo_request(self.a, self.b)
                .write(&mut v, &self.payload),
            1 => b().udp(self.a, self.b).write(&mut v, &self.payload),
            2 => b()
                .tcp(self.a, self.b, self.seq, 4096)
                .write(&mut v, &self.payload),
            _ => {
                h.write(&mut v).expect("IPv6 header");
                v.extend_from_slice(&self.payload);
                Ok(())
            }
        }
        .expect("valid IPv6 packet");
        assert_eq!(v.len(), 40 + usize::from(u16::from_be_bytes([v[4], v[5]])));
        v
    }

    fn ecn(&self) -> u8 {
        self.tc & 3
    }
}

/// `p` as forwarded once: hop limit − 1, inner ECN replaced by `ecn`.
fn forwarded(p: &[u8], ecn: Option<u8>) -> Vec<u8> {
    let mut q = p.to_vec();
    q[7] -= 1;
    if let Some(e) = ecn {
        q[1] = (q[1] & 0xcf) | (e << 4);
    }
    q
}

/// An IPv4 header built by etherparse, followed by `payload`.
#[allow(clippy::too_many_arguments, reason = "one value per header field")]
fn ipv4(
    tos: u8,
    id: u16,
    df: bool,
    ttl: u8,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload: &[u8],
) -> Vec<u8> {
    let mut h = Ipv4Header::new(
        payload.len() as u16,
        ttl,
        IpNumber(proto),
        src.octets(),
        dst.octets(),
    )
    .expect("IPv4 payload fits");
    h.dscp = Ipv4Dscp::try_new(tos >> 2).expect("dscp");
    h.ecn = Ipv4Ecn::try_new(tos & 3).expect("ecn");
    h.identification = id;
    h.dont_fragment = df;
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// A UDP header built by etherparse (checksum included) + `payload`.
fn udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    with_checksum: bool,
) -> Vec<u8> {
    let ip = Ipv4Header::new(0, 64, IpNumber::UDP, src.octets(), dst.octets()).expect("header");
    let mut u = UdpHeader::with_ipv4_checksum(sport, dport, &ip, payload).expect("udp");
    if !with_checksum {
        u.checksum = 0;
    }
    let mut v = u.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// RFC 6040 §4.2 decapsulation, written out as its table (rows: inner
/// Not-ECT, ECT(1), ECT(0), CE; columns: outer likewise); `None` = drop.
fn rfc6040(inner: u8, outer: u8) -> Option<u8> {
    const N: Option<u8> = Some(0);
    const E1: Option<u8> = Some(1);
    const E0: Option<u8> = Some(2);
    const CE: Option<u8> = Some(3);
    const T: [[Option<u8>; 4]; 4] = [
        [N, N, N, None],
        [E1, E1, E1, CE],
        [E0, E1, E0, CE],
        [CE, CE, CE, CE],
    ];
    T[usize::from(inner)][usize::from(outer)]
}

fn assert_only_tx(r: &common::Rec, want: Vec<(Port, Vec<u8>)>) -> Result<(), TestCaseError> {
    prop_assert!(
        r.dropped.is_empty(),
        "dropped: {:?}",
        r.dropped.iter().map(|d| d.0).collect::<Vec<_>>()
    );
    prop_assert!(r.passed.is_empty() && r.consumed.is_empty());
    prop_assert_eq!(&r.tx, &want);
    Ok(())
}

/// The decapsulation oracle shared by 6to4 and 6rd.
fn check_decap(cfg: &Config, p: &[u8], inner_ecn: u8, outer: Vec<u8>) -> Result<(), TestCaseError> {
    let mut pl = pipeline(cfg);
    let r = run(&mut pl, Port::V4, &eth_in(Port::V4, &outer), NOW);
    let outer_ecn = outer[1] & 3;
    match rfc6040(inner_ecn, outer_ecn) {
        None => {
            prop_assert!(r.tx.is_empty());
            prop_assert_eq!(r.dropped.len(), 1);
            prop_assert_eq!(r.dropped[0].0, DropReason::S4_11EcnCeNotEct);
        }
        Some(e) => {
            let want = forwarded(p, (e != inner_ecn).then_some(e));
            assert_only_tx(&r, vec![(Port::V6, eth_out(Port::V6, &want))])?;
            // decap: the native packet is p, hop limit aside (and ECN when
            // the outer header was congestion-marked).
            let mut back = r.tx[0].1[14..].to_vec();
            back[7] += 1;
            back[1] = (back[1] & 0xcf) | (inner_ecn << 4);
            prop_assert_eq!(back, p.to_vec());
        }
    }
    Ok(())
}

/// `n` cases, or `PROPTEST_CASES` when set (for longer searches).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    /// 6to4 encapsulation (S6): native → 2002:V4::/48.
    #[test]
    fn sixto4_encap(i in inner(), src in native_v6(), v4 in global_v4(), low in any::<u128>()) {
        let p = i.build(src, sixto4_host(v4, low));
        let mut pl = pipeline(&lab());
        let r = run(&mut pl, Port::V6, &eth_in(Port::V6, &p), NOW);
        // SPEC §1.6: TOS = traffic class (RFC 6040 normal mode), ID 0
        // (pinned), DF clear, TTL 64, proto 41, from the anycast address.
        let want = ipv4(i.tc, 0, false, 64, 41, ANYCAST, v4, &forwarded(&p, None));
        assert_only_tx(&r, vec![(Port::V4, eth_out(Port::V4, &want))])?;
        // Strip the outer header the engine wrote: p, hop limit aside.
        let mut back = r.tx[0].1[14 + 20..].to_vec();
        back[7] += 1;
        prop_assert_eq!(back, p);
    }

    /// 6to4 decapsulation (S4): 2002:V4::/48 from V4 → native.
    #[test]
    fn sixto4_decap(
        i in inner(), dst in native_v6(), v4 in global_v4(), low in any::<u128>(),
        to_anycast in any::<bool>(), outer_tos in any::<u8>(), id in any::<u16>(), df in any::<bool>(),
        ttl in 1u8..=255, pad in vec(any::<u8>(), 0..8),
    ) {
        let p = i.build(sixto4_host(v4, low), dst);
        let relay = if to_anycast { ANYCAST } else { UNICAST };
        let mut body = p.clone();
        body.extend_from_slice(&pad); // S4-03: IPv4 padding is not part of p
        let outer = ipv4(outer_tos, id, df, ttl, 41, v4, relay, &body);
        check_decap(&lab(), &p, i.ecn(), outer)?;
    }

    /// 6rd encapsulation: native → a CE's delegated prefix, from the BR.
    #[test]
    fn sixrd_encap(i in inner(), src in native_v6(), ce in ce_v4(), low in any::<u128>()) {
        let p = i.build(src, ce_host(ce, low));
        let mut pl = pipeline(&sixrd());
        let r = run(&mut pl, Port::V6, &eth_in(Port::V6, &p), NOW);
        let want = ipv4(i.tc, 0, false, 64, 41, BR, ce, &forwarded(&p, None));
        assert_only_tx(&r, vec![(Port::V4, eth_out(Port::V4, &want))])?;
        let mut back = r.tx[0].1[14 + 20..].to_vec();
        back[7] += 1;
        prop_assert_eq!(back, p);
    }

    /// 6rd decapsulation: CE → BR (or the unicast address) → native.
    #[test]
    fn sixrd_decap(
        i in inner(), dst in native_v6(), ce in ce_v4(), low in any::<u128>(),
        to_br in any::<bool>(), outer_tos in any::<u8>(), id in any::<u16>(),
    ) {
        let p = i.build(ce_host(ce, low), dst);
        let outer = ipv4(outer_tos, id, false, 64, 41, ce, if to_br { BR } else { UNICAST }, &p);
        check_decap(&sixrd(), &p, i.ecn(), outer)?;
    }

    /// Teredo transmission (T6) to a trusted peer: UDP/IPv4 from
    /// 203.0.113.5:3545 to the verified mapping, TOS 0, DF clear.
    #[test]
    fn teredo_tx(
        i in inner(), src in native_v6(), server in global_v4(), client in global_v4(),
        port in 1u16..=u16::MAX, flags in any::<u16>(), rebound in proptest::option::of((global_v4(), 1u16..=u16::MAX)),
    ) {
        let dst = teredo_addr(server, flags, client, port);
        let (m4, mport) = rebound.unwrap_or((client, port));
        let p = i.build(src, dst);
        let mut pl = pipeline(&lab());
        trust(&mut pl, dst, (m4, mport));
        let r = run(&mut pl, Port::V6, &eth_in(Port::V6, &p), NOW);
        let fwd = forwarded(&p, None);
        let want = ipv4(0, 0, false, 64, 17, TEREDO_RELAY, m4, &udp(TEREDO_RELAY, m4, 3545, mport, &fwd, true));
        assert_only_tx(&r, vec![(Port::V4, eth_out(Port::V4, &want))])?;
        let mut back = r.tx[0].1[14 + 28..].to_vec();
        back[7] += 1;
        prop_assert_eq!(back, p);
    }

    /// Teredo reception (T4) from a trusted peer, with optional
    /// authentication and origin-indication headers before the packet and
    /// RFC 6081 trailers after it, UDP checksum present or zero.
    #[test]
    fn teredo_rx(
        i in inner(), dst in native_v6(), server in global_v4(), client in global_v4(),
        port in 1u16..=u16::MAX, flags in any::<u16>(), rebound in proptest::option::of((global_v4(), 1u16..=u16::MAX)),
        auth in proptest::option::of((vec(any::<u8>(), 0..4), vec(any::<u8>(), 0..4), any::<[u8; 9]>())),
        origin in proptest::option::of((any::<u32>(), any::<u16>())),
        trailers in vec((1u8..=4, vec(any::<u8>(), 0..8)), 0..3),
        with_checksum in any::<bool>(),
    ) {
        let src = teredo_addr(server, flags, client, port);
        let (m4, mport) = rebound.unwrap_or((client, port));
        let p = i.build(src, dst);
        let mut payload = Vec::new();
        if let Some((id, au, nonce_conf)) = &auth {
            payload.extend_from_slice(&[0, 1, id.len() as u8, au.len() as u8]);
            payload.extend_from_slice(id);
            payload.extend_from_slice(au);
            payload.extend_from_slice(nonce_conf);
        }
        if let Some((o4, oport)) = origin {
            payload.extend_from_slice(&[0, 0]);
            payload.extend_from_slice(&(!oport).to_be_bytes());
            payload.extend_from_slice(&(!o4).to_be_bytes());
        }
        payload.extend_from_slice(&p);
        for (t, val) in &trailers {
            payload.extend_from_slice(&[*t, val.len() as u8]);
            payload.extend_from_slice(val);
        }
        let dgram = ipv4(0, 7, false, 64, 17, m4, TEREDO_RELAY, &udp(m4, TEREDO_RELAY, mport, 3545, &payload, with_checksum));
        let mut pl = pipeline(&lab());
        trust(&mut pl, src, (m4, mport));
        let r = run(&mut pl, Port::V4, &eth_in(Port::V4, &dgram), NOW);
        if p.len() == 40 && p[6] == 59 {
            // A bubble (RFC 4380 §2.8): consumed, never forwarded (T4-09).
            prop_assert!(r.tx.is_empty() && r.dropped.is_empty());
            prop_assert_eq!(r.consumed.len(), 1);
        } else {
            assert_only_tx(&r, vec![(Port::V6, eth_out(Port::V6, &forwarded(&p, None)))])?;
            let mut back = r.tx[0].1[14..].to_vec();
            back[7] += 1;
            prop_assert_eq!(back, p);
        }
    }
}

/// Makes `addr` a trusted, fresh peer at mapping `m`.
fn trust(pl: &mut xrelay_engine::Pipeline, addr: Ipv6Addr, m: (Ipv4Addr, u16)) {
    let s = NOW.secs();
    let t = pl.peers_mut();
    let idx = t
        .insert(&addr, xrelay_wire::teredo::mapping(&addr), s)
        .expect("room for a peer");
    let e = t.get(idx).expect("live entry");
    e.set_trusted(m.0, m.1);
    e.touch_rx(s);
}

#[test]
fn strategies_respect_their_ranges() {
    assert_eq!(
        ce_host(Ipv4Addr::new(100, 64, 1, 2), 1),
        "2001:db8:f00:1020::1".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        sixto4_host(Ipv4Addr::new(192, 0, 2, 1), 1),
        "2002:c000:201::1".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        teredo_addr(
            Ipv4Addr::new(198, 51, 100, 118),
            0,
            Ipv4Addr::new(192, 0, 2, 10),
            8192
        ),
        "2001:0:c633:6476:0:dfff:3fff:fdf5"
            .parse::<Ipv6Addr>()
            .unwrap()
    );
    assert!(!is_global(ANYCAST) && !is_global(UNICAST) && !is_global(Ipv4Addr::new(10, 1, 2, 3)));
    assert!(is_global(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(rfc6040(2, 1), Some(1));
    assert_eq!(rfc6040(0, 3), None);
    assert_eq!(RELAY_NATIVE, lab().relay.native_addr);
}

// ---- (b) totality ------------------------------------------------------------

/// Valid frames of every path (from the seed corpus), for mutation.
static VALID: LazyLock<Vec<harness::ValidFrame>> = LazyLock::new(harness::valid_frames);

fn port_of(v6: bool) -> Port {
    if v6 {
        Port::V6
    } else {
        Port::V4
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// Arbitrary bytes as frames on both ports, every configuration, one
    /// frame per `process` call with ticks and clock jumps in between.
    #[test]
    fn arbitrary_frames_are_total(
        cfg in 0u8..harness::CONFIG_COUNT as u8,
        flags in prop_oneof![Just(0u8), Just(harness::PEERS), Just(harness::PEERS | harness::TIGHT), Just(harness::EPOCH0)],
        batched in any::<bool>(),
        frames in vec((any::<bool>(), any::<bool>(), 0u8..64, vec(any::<u8>(), 0..2000)), 1..8),
    ) {
        let recs: Vec<harness::Rec> = frames
            .into_iter()
            .map(|(v6, tick, step, frame)| harness::Rec { port: port_of(v6), tick, step, frame })
            .collect();
        let head = cfg | flags | if batched { harness::BATCHED } else { 0 };
        let s = harness::run(&harness::encode(head, &recs));
        prop_assert_eq!(s.frames, recs.len() as u64);
        prop_assert!(s.reports() >= s.frames);
    }

    /// Raw fuzz inputs (the fuzz target's own entry point).
    #[test]
    fn raw_inputs_are_total(data in vec(any::<u8>(), 0..4000)) {
        harness::run(&data);
    }

    /// Valid frames of every path with random bytes flipped, optionally
    /// truncated or extended, under their own or another configuration.
    #[test]
    fn mutated_valid_frames_are_total(
        picks in vec((any::<prop::sample::Index>(), vec((any::<prop::sample::Index>(), 1u8..=255), 1..6), 0u8..4, any::<bool>()), 1..6),
        other_cfg in proptest::option::of(0u8..harness::CONFIG_COUNT as u8),
        batched in any::<bool>(),
    ) {
        let mut head = 0;
        let mut recs = Vec::new();
        for (k, (pick, flips, cut, swap_port)) in picks.into_iter().enumerate() {
            let (cfg, peers, port, frame) = &VALID[pick.index(VALID.len())];
            if k == 0 {
                head = other_cfg.unwrap_or(*cfg as u8) | peers;
            }
            let mut f = frame.clone();
            for (at, x) in flips {
                let n = f.len();
                f[at.index(n)] ^= x;
            }
            match cut {
                1 => f.truncate(f.len() * 3 / 4),
                2 => f.extend_from_slice(&[0xa5; 13]),
                _ => {}
            }
            let port = if swap_port { port_of(*port == Port::V4) } else { *port };
            recs.push(harness::Rec { port, tick: k % 2 == 1, step: (k * 7) as u8, frame: f });
        }
        if batched {
            head |= harness::BATCHED;
        }
        let s = harness::run(&harness::encode(head, &recs));
        prop_assert_eq!(s.frames, recs.len() as u64);
        prop_assert!(s.reports() >= s.frames);
    }
}

/// The committed seed corpus (`fuzz/corpus/engine/`) is exactly what the
/// harness generates (regenerate with `XRELAY_WRITE_CORPUS=1 cargo test -p
/// xrelay-engine --test properties seed_corpus`), and every seed runs clean
/// through the harness and reaches the path it was written for.
#[test]
fn seed_corpus_is_current_and_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/engine");
    let write = std::env::var_os("XRELAY_WRITE_CORPUS").is_some();
    if write {
        std::fs::create_dir_all(&dir).expect("corpus dir");
    }
    let seeds = harness::seeds();
    assert!(seeds.len() >= 24, "a few dozen seeds");
    for (name, input) in &seeds {
        let path = dir.join(name);
        if write {
            std::fs::write(&path, input).expect("write seed");
        }
        let got = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; regenerate with XRELAY_WRITE_CORPUS=1 cargo test -p xrelay-engine --test properties seed_corpus", path.display())
        });
        assert_eq!(
            &got, input,
            "{name}: committed seed is stale; regenerate it"
        );
    }
    let summary = |name: &str| {
        let input = &seeds.iter().find(|(n, _)| *n == name).expect("seed").1;
        harness::run(input)
    };
    for (name, input) in &seeds {
        let s = harness::run(input);
        assert!(s.frames > 0 && s.reports() >= s.frames, "{name}: {s:?}");
    }
    // Each path's seed reaches it (fast-path Tx on the relevant frames).
    for (name, tx) in [
        ("6to4-v6-a1-native-to-6to4", 1),
        ("6to4-v6-a2-6to4-to-native", 1),
        ("6to4-v6-a3-probe-echo", 1),
        ("6to4-v6-a4-traffic-class", 1),
        ("teredo-trusted-fast-path", 2),
        ("teredo-auth-origin-trailers", 1),
        ("cross-6to4-to-teredo", 1),
        ("cross-teredo-to-6to4", 1),
        ("6rd-encap", 1),
        ("6rd-decap", 1),
        ("6rd-hairpin", 1),
        ("6to4-fragments-reassembled", 1),
        ("teredo-fragments", 1),
    ] {
        assert_eq!(summary(name).tx, tx, "{name}");
    }
    let s = summary("vlan-one-armed");
    assert_eq!(s.tx, 5, "{s:?}");
    let s = summary("teredo-unknown-peer-t4-07");
    assert_eq!((s.tx, s.dropped), (0, 1), "{s:?}");
}
