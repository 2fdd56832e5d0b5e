//! Straight-line lanes for the four forwarding cases that carry the traffic:
//! 6to4 decapsulation and encapsulation, Teredo receive and transmit with a
//! trusted peer, untagged, option-less.
//!
//! A lane is an *accept detector*: it reads the fixed headers once as
//! fixed-size arrays, folds every check of the general path that this
//! packet shape and the relay's configuration leave open into one boolean
//! (bitwise, no branch per check), and only when all pass does it count and
//! rewrite, with exactly the bytes, counter and verdict the general path
//! would produce. Anything else — a failed check, an unusual shape (VLAN,
//! IPv4 options, ECN on the outer header, a 6to4 source for encapsulation,
//! payload length 0, a filter hit on the relay's own or broadcast
//! addresses, …) — goes to [`Engine::classify_general`] untouched, which
//! runs the checks in SPEC order and picks the verdict and counter.
//!
//! Configuration that would add per-packet checks (6rd, a client or
//! native-source allow-list, extended bogons, served-range exclusions,
//! `accept_only_anycast_dst`, VLAN-tagged egress) switches the lane off at
//! construction ([`Lanes::new`]); the general path then takes every frame.

use xrelay_wire::checksum;

use super::addrs::{filter_bit, filter_index, list_a, list_b, RelaySets};
use super::Engine;
use crate::config::TosMode;
use crate::frame::Frame;
use crate::peers::PeerTable;
use crate::relay::{Egress, Relay};
use crate::verdict::{Event, Port};
use crate::{Now, Verdict};

const ETH: usize = 14;

/// Per-engine constants of the lanes, compiled once from the relay.
#[derive(Debug, Clone)]
pub(crate) struct Lanes {
    /// Which lanes this configuration allows.
    pub decap: bool,
    pub encap: bool,
    pub teredo_rx: bool,
    pub teredo_tx: bool,
    /// Filter of the relay's addresses and the attached broadcasts
    /// together: a miss proves an address is neither (C-04, S6-04, T6-13,
    /// and the broadcast part of the bogon lists).
    own_filter: u64,
    /// The 6to4 addresses by filter index (exact: members never share an
    /// index, else the decap lane is off) and the filter of the occupied
    /// indexes.
    sixto4_filter: u64,
    sixto4_at: [u32; 64],
    /// Ethernet headers toward each side.
    l2_v4: [u8; ETH],
    l2_v6: [u8; ETH],
    mtu_v6: usize,
    native_addr: u128,
    // 6to4 encapsulation
    tunnel_mtu: usize,
    return_source: u32,
    df: bool,
    tos_keep: u8,
    tos_set: u8,
    /// The constant words of the outer IPv4 header's sum (version, flags,
    /// TTL and protocol, source), not folded.
    sum_6to4: u32,
    ttl_6to4: u8,
    // Teredo
    teredo_addr: u32,
    teredo_port: u16,
    teredo_mtu: usize,
    teredo_ttl: u8,
    sum_teredo: u32,
}

fn l2_header(eg: &Egress, ethertype: u16) -> [u8; ETH] {
    let mut h = [0u8; ETH];
    h[..6].copy_from_slice(&eg.dst_mac);
    h[6..12].copy_from_slice(&eg.src_mac);
    h[12..].copy_from_slice(&ethertype.to_be_bytes());
    h
}

/// Unfolded sum of the constant IPv4 header words for `src`.
fn v4_const_sum(flags: u16, ttl: u8, proto: u8, src: u32) -> u32 {
    0x4500
        + u32::from(flags)
        + (u32::from(ttl) << 8 | u32::from(proto))
        + (src >> 16)
        + (src & 0xffff)
}

impl Lanes {
    pub(crate) fn new(r: &Relay, sets: &RelaySets) -> Lanes {
        let mut sixto4_at = [0u32; 64];
        let mut sixto4_filter = 0u64;
        let mut exact = true;
        for &a in sets.sixto4_v4.members() {
            let i = filter_index(a);
            exact &= sixto4_filter & (1 << i) == 0;
            sixto4_filter |= 1 << i;
            if let Some(slot) = sixto4_at.get_mut(i as usize) {
                *slot = a;
            }
        }
        let sixto4 = r.sixto4 && !r.sixrd;
        // With 6rd the domain is configured and could cover Teredo space.
        let no_6rd = !(r.sixto4 && r.sixrd);
        let v4_plain = r.egress_v4.vlan.is_none();
        let v6_plain = r.egress_v6.vlan.is_none();
        let (tos_keep, tos_set) = match r.tos {
            TosMode::Copy => (0xff, 0),
            TosMode::Compat => (0xfc, 0),
            TosMode::Fixed(v) => (0, v),
        };
        let df_flags = if r.df { 0x4000 } else { 0 };
        Lanes {
            decap: sixto4
                && exact
                && !r.accept_only_anycast
                && r.client_allow.is_empty()
                && !r.extended_bogons
                && !sets.sixto4_v4_bogon
                && v6_plain,
            encap: sixto4
                && r.native_allow.is_empty()
                && !r.extended_bogons
                && v4_plain
                && usize::from(r.tunnel_mtu) + 20 <= usize::from(u16::MAX),
            teredo_rx: r.teredo
                && no_6rd
                && !r.extended_bogons
                && r.served_exclude.is_empty()
                && v6_plain,
            teredo_tx: r.teredo
                && no_6rd
                && !r.extended_bogons
                && v4_plain
                && usize::from(r.teredo_mtu) + 28 <= usize::from(u16::MAX),
            own_filter: sets.relay_v4.filter() | sets.broadcasts.filter(),
            sixto4_filter,
            sixto4_at,
            l2_v4: l2_header(&r.egress_v4, xrelay_wire::ethernet::ETHERTYPE_IPV4),
            l2_v6: l2_header(&r.egress_v6, xrelay_wire::ethernet::ETHERTYPE_IPV6),
            mtu_v6: usize::from(r.egress_v6.mtu),
            native_addr: r.native_addr.to_bits(),
            tunnel_mtu: usize::from(r.tunnel_mtu),
            return_source: r.return_source.to_bits(),
            df: r.df,
            tos_keep,
            tos_set,
            sum_6to4: v4_const_sum(df_flags, r.ttl, 41, r.return_source.to_bits()),
            ttl_6to4: r.ttl,
            teredo_addr: r.teredo_addr.to_bits(),
            teredo_port: r.teredo_port,
            teredo_mtu: usize::from(r.teredo_mtu),
            teredo_ttl: r.teredo_ttl,
            sum_teredo: v4_const_sum(0, r.teredo_ttl, 17, r.teredo_addr.to_bits()),
        }
    }

    /// Every frame to the general path.
    pub(crate) fn off(&mut self) {
        self.decap = false;
        self.encap = false;
        self.teredo_rx = false;
        self.teredo_tx = false;
    }

    /// Whether `a` (host order) accepts protocol 41: one probe.
    #[inline(always)]
    fn is_sixto4(&self, a: u32) -> bool {
        let i = filter_index(a);
        let at = self.sixto4_at.get(i as usize).copied().unwrap_or(!a);
        ((self.sixto4_filter >> i) & 1 != 0) & (at == a)
    }

    /// Whether `a` is surely neither a relay address nor a broadcast.
    #[inline(always)]
    fn not_own(&self, a: u32) -> bool {
        self.own_filter & filter_bit(a) == 0
    }
}

#[inline(always)]
fn be16<const N: usize>(h: &[u8; N], o: usize) -> u16 {
    h.get(o..o + 2)
        .and_then(|s| s.first_chunk::<2>())
        .map_or(0, |b| u16::from_be_bytes(*b))
}

#[inline(always)]
fn be32<const N: usize>(h: &[u8; N], o: usize) -> u32 {
    h.get(o..o + 4)
        .and_then(|s| s.first_chunk::<4>())
        .map_or(0, |b| u32::from_be_bytes(*b))
}

#[inline(always)]
fn be128<const N: usize>(h: &[u8; N], o: usize) -> u128 {
    h.get(o..o + 16)
        .and_then(|s| s.first_chunk::<16>())
        .map_or(0, |b| u128::from_be_bytes(*b))
}

/// Ones' complement fold of an unfolded sum to 16 bits.
#[inline(always)]
fn fold(sum: u64) -> u16 {
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// A folded sum of a (nonzero) IPv4 header is `0xffff` exactly when the
/// unfolded sum is a multiple of `0xffff`.
#[inline(always)]
fn v4_header_ok(w: [u32; 5]) -> bool {
    let sum: u64 = w.iter().map(|&x| u64::from(x)).sum();
    sum.is_multiple_of(0xffff)
}

/// The five big-endian words of an IPv4 header starting at `o`.
#[inline(always)]
fn v4_words<const N: usize>(h: &[u8; N], o: usize) -> [u32; 5] {
    [
        be32(h, o),
        be32(h, o + 4),
        be32(h, o + 8),
        be32(h, o + 12),
        be32(h, o + 16),
    ]
}

/// The top 16 bits of an IPv6 address can neither be an S4-04/S6-02
/// insane address nor a C-11 bad source: not `::/16`, not `fe80::` up.
#[inline(always)]
fn plain_top(b: u128) -> bool {
    let t = (b >> 112) as u32;
    (t != 0) & (t < 0xfe80)
}

/// Neither an ISATAP identifier nor a Teredo address: `embeds_relay_v4`
/// of a non-6to4 address is false without a set lookup.
#[inline(always)]
fn no_embedded_v4(b: u128) -> bool {
    ((b >> 32) as u32 & 0xfdff_ffff != 0x0000_5efe) & ((b >> 96) as u32 != 0x2001_0000)
}

/// The IPv4 header words of an encapsulation, checksum filled.
#[inline(always)]
#[expect(clippy::too_many_arguments, reason = "one value per header field")]
fn ipv4_words(
    base: u32,
    tos: u8,
    total: u32,
    id: u16,
    flags: u16,
    ttl: u8,
    proto: u8,
    src: u32,
    dst: u32,
) -> [u32; 5] {
    let sum = base + u32::from(tos) + total + u32::from(id) + (dst >> 16) + (dst & 0xffff);
    let csum = !fold(u64::from(sum));
    [
        0x4500_0000 | u32::from(tos) << 16 | total,
        u32::from(id) << 16 | u32::from(flags),
        u32::from(ttl) << 24 | u32::from(proto) << 16 | u32::from(csum),
        src,
        dst,
    ]
}

#[inline(always)]
fn put_words<const N: usize>(w: &mut [u8; N], at: usize, words: [u32; 5]) {
    if let Some(h) = w
        .get_mut(at..at + 20)
        .and_then(|h| h.first_chunk_mut::<20>())
    {
        for (d, v) in h.chunks_exact_mut(4).zip(words) {
            d.copy_from_slice(&v.to_be_bytes());
        }
    }
}

impl Engine {
    /// The Teredo peer the fast path will look up for this frame — the
    /// IPv6 source of a Teredo packet received over IPv4/UDP (no options),
    /// or an IPv6 destination in 2001::/32 — for prefetching; `None` for
    /// anything else. A hint only: the lanes check everything again.
    #[inline(always)]
    pub fn peer_key(&self, d: &[u8]) -> Option<u128> {
        let h = d.first_chunk::<54>()?;
        let l = &self.lanes;
        match be16(h, 12) {
            0x0800 if (h[23] == 17) & (h[14] == 0x45) & l.teredo_rx => {
                Some(be128(d.first_chunk::<66>()?, 50))
            }
            0x86dd if (be32(h, 38) == 0x2001_0000) & l.teredo_tx => Some(be128(h, 38)),
            _ => None,
        }
    }

    /// Dispatch to a lane, or the general path.
    #[inline(always)]
    pub(super) fn lanes_or_general(
        &mut self,
        f: &mut Frame<'_>,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        if let Some(h) = f.data().first_chunk::<54>() {
            let l = &self.lanes;
            let et = be16(h, 12);
            let unicast = h[0] & 1 == 0;
            if unicast & (et == 0x0800) {
                if (h[23] == 41) & l.decap {
                    return self.lane_decap(f, peers, now);
                }
                if (h[23] == 17) & l.teredo_rx {
                    return self.lane_teredo_rx(f, peers, now);
                }
            } else if unicast & (et == 0x86dd) {
                let top = be32(h, 38);
                if (top >> 16 == 0x2002) & l.encap {
                    return self.lane_encap(f, peers, now);
                }
                if (top == 0x2001_0000) & l.teredo_tx {
                    return self.lane_teredo_tx(f, peers, now);
                }
            }
        }
        self.classify_general(f, peers, now)
    }

    /// 6to4 decapsulation (S4): protocol 41 from a 6to4 site to a native
    /// destination.
    #[inline(always)]
    fn lane_decap(&mut self, f: &mut Frame<'_>, peers: &PeerTable, now: Now) -> Verdict {
        let l = &self.lanes;
        let d = f.data();
        let Some(h) = d.first_chunk::<{ ETH + 20 + 40 }>() else {
            return self.classify_general(f, peers, now);
        };
        let w = v4_words(h, ETH);
        let (src4, dst4) = (w[3], w[4]);
        let total = (w[0] & 0xffff) as usize;
        let v6w0 = be32(h, 34);
        let plen = usize::from(be16(h, 38));
        let hop = h[41];
        let (src6, dst6) = (be128(h, 42), be128(h, 58));
        let len = 40 + plen;
        let dtop = (dst6 >> 112) as u32;
        let ok = (w[0] >> 24 == 0x45) // IPv4, no options (C-02)
            & ((w[0] >> 16) & 3 == 0) // outer Not-ECT: no S4-11, inner ECN kept
            & (w[1] & 0x3fff == 0) // C-03
            & l.is_sixto4(dst4) // S4-01
            & (total >= 20 + len) // S4-03 (and C-02 total ≥ ihl)
            & (total + ETH <= d.len()) // C-02
            & l.not_own(src4) // C-04, broadcast part of S4-02
            & !list_a(src4) // S4-02
            & (v6w0 >> 28 == 6)
            & (plen != 0) // S4-03 (no jumbogram)
            & ((src6 >> 80) as u64 == (0x2002 << 32 | u64::from(src4))) // S4-05, S4-04 src
            & (dtop != 0x2002) // native destination: no S4-07, native egress
            & plain_top(dst6) // S4-04 dst
            & (dst6 != l.native_addr) // not S4-08
            & no_embedded_v4(dst6) // S4-14, not Teredo egress
            & (hop > 1) // S4-09
            & (len <= l.mtu_v6) // S4-10
            & v4_header_ok(w); // C-02
        if !ok {
            return self.classify_general(f, peers, now);
        }
        let l2 = l.l2_v6;
        let start = f.head() + 20;
        self.counters.event(Event::SixToFourDecap);
        if let Some(b) = f
            .buf_mut()
            .get_mut(start..)
            .and_then(|b| b.first_chunk_mut::<22>())
        {
            b[..ETH].copy_from_slice(&l2);
            b[ETH + 7] = hop - 1;
        }
        f.set_bounds_checked_by_caller(start, ETH + len);
        f.tx_port = Port::V6;
        Verdict::Tx
    }

    /// 6to4 encapsulation (S6): native source to a 6to4 destination.
    #[inline(always)]
    fn lane_encap(&mut self, f: &mut Frame<'_>, peers: &PeerTable, now: Now) -> Verdict {
        let l = &self.lanes;
        let head = f.head();
        let d = f.data();
        let Some(h) = d.first_chunk::<{ ETH + 40 }>() else {
            return self.classify_general(f, peers, now);
        };
        let v6w0 = be32(h, ETH);
        let plen = usize::from(be16(h, 18));
        let hop = h[21];
        let (src6, dst6) = (be128(h, 22), be128(h, 38));
        let len = 40 + plen;
        let dst4 = (dst6 >> 80) as u32;
        let ok = (v6w0 >> 28 == 6) // C-10
            & (plen != 0)
            & (ETH + len <= d.len())
            & plain_top(src6) // S6-02 src
            & ((src6 >> 112) as u32 != 0x2002) // no S6-05
            & no_embedded_v4(src6) // S6-06
            & !list_a(dst4) // S6-02 dst, S6-03
            & l.not_own(dst4) // S6-03 broadcasts, S6-04
            & (dst4 >> 8 != 0x00c0_5863) // S6-04b
            & (hop > 1) // S6-07
            & (len <= l.tunnel_mtu) // S6-08
            & (head >= 20);
        if !ok {
            return self.classify_general(f, peers, now);
        }
        self.counters.event(Event::SixToFourEncap);
        let tos = ((v6w0 >> 20) as u8 & l.tos_keep) | l.tos_set;
        let (flags, ttl, base, src4, l2) = (
            if l.df { 0x4000 } else { 0 },
            l.ttl_6to4,
            l.sum_6to4,
            l.return_source,
            l.l2_v4,
        );
        let id = if l.df { 0 } else { self.ids.next(dst4) };
        let words = ipv4_words(base, tos, (20 + len) as u32, id, flags, ttl, 41, src4, dst4);
        // [Eth'][IPv4] in front of the IPv6 header at `head + ETH`.
        let start = head - 20;
        if let Some(b) = f
            .buf_mut()
            .get_mut(start..)
            .and_then(|b| b.first_chunk_mut::<{ ETH + 20 + 8 }>())
        {
            b[..ETH].copy_from_slice(&l2);
            put_words(b, ETH, words);
            b[ETH + 20 + 7] = hop - 1;
        }
        f.set_bounds_checked_by_caller(start, ETH + 20 + len);
        f.tx_port = Port::V4;
        Verdict::Tx
    }

    /// Teredo receive (T4) from a peer trusted with this mapping, to a
    /// native destination.
    #[inline(always)]
    fn lane_teredo_rx(&mut self, f: &mut Frame<'_>, peers: &PeerTable, now: Now) -> Verdict {
        let l = &self.lanes;
        let d = f.data();
        let Some(h) = d.first_chunk::<{ ETH + 20 + 8 + 40 }>() else {
            return self.classify_general(f, peers, now);
        };
        let w = v4_words(h, ETH);
        let (src4, dst4) = (w[3], w[4]);
        let total = (w[0] & 0xffff) as usize;
        let (sport, dport) = (be16(h, 34), be16(h, 36));
        let ulen = usize::from(be16(h, 38));
        let ucsum = be16(h, 40);
        let v6w0 = be32(h, 42);
        let plen = usize::from(be16(h, 46));
        let hop = h[49];
        let (src6, dst6) = (be128(h, 50), be128(h, 66));
        let len = 40 + plen;
        let dtop = (dst6 >> 112) as u32;
        let ok = (w[0] >> 24 == 0x45) // C-02
            & (w[1] & 0x3fff == 0) // C-03
            & (dst4 == l.teredo_addr) // T4-01
            & (total + ETH <= d.len()) // C-02
            & (dport == l.teredo_port)
            & (ulen + 20 <= total) // T4-02
            & (ulen >= 8 + len) // T4-04: the IPv6 packet fits the payload
            & (sport != 0) // T4-14
            & l.not_own(src4) // C-04, broadcast part of T4-03
            & !list_b(src4) // T4-03
            & (v6w0 >> 28 == 6) // a plain IPv6 payload (no auth/origin)
            & (plen != 0) // neither a jumbogram nor a bubble
            & ((src6 >> 96) as u32 == 0x2001_0000) // T4-05
            & (dst6 >> 125 == 1) // T4-10, T4-11 (no exclusions)
            & (dtop != 0x2002) // native egress, not 6to4
            & ((dst6 >> 96) as u32 != 0x2001_0000) // nor Teredo
            & (hop > 1) // T4-12
            & (len <= l.mtu_v6) // S4-10
            & v4_header_ok(w);
        if !ok {
            return self.classify_general(f, peers, now);
        }
        // T4-02: the UDP checksum, when the sender filled it.
        if ucsum != 0 {
            let ph = fold(u64::from(src4) + u64::from(dst4) + 17 + ulen as u64);
            let udp = d.get(ETH + 20..ETH + 20 + ulen).unwrap_or(&[]);
            if checksum::data_onto(ph, udp) != 0xffff {
                return self.classify_general(f, peers, now);
            }
        }
        // T4-06 … T4-09: trusted with exactly this mapping, nothing queued.
        let Some(e) = peers.find_bits(src6) else {
            return self.classify_general(f, peers, now);
        };
        if !e.trusted_as(src4, sport) || e.has_queue() {
            return self.classify_general(f, peers, now);
        }
        e.touch_rx(now.secs());
        let l2 = l.l2_v6;
        let start = f.head() + 20 + 8;
        self.counters.event(Event::TeredoRx);
        if let Some(b) = f
            .buf_mut()
            .get_mut(start..)
            .and_then(|b| b.first_chunk_mut::<22>())
        {
            b[..ETH].copy_from_slice(&l2);
            b[ETH + 7] = hop - 1;
        }
        f.set_bounds_checked_by_caller(start, ETH + len);
        f.tx_port = Port::V6;
        Verdict::Tx
    }

    /// Teredo transmit (T6): native source to a Teredo client whose peer
    /// entry is trusted and valid.
    #[inline(always)]
    fn lane_teredo_tx(&mut self, f: &mut Frame<'_>, peers: &PeerTable, now: Now) -> Verdict {
        let l = &self.lanes;
        let head = f.head();
        let d = f.data();
        let Some(h) = d.first_chunk::<{ ETH + 40 }>() else {
            return self.classify_general(f, peers, now);
        };
        let v6w0 = be32(h, ETH);
        let plen = usize::from(be16(h, 18));
        let hop = h[21];
        let (src6, dst6) = (be128(h, 22), be128(h, 38));
        let len = 40 + plen;
        let server = (dst6 >> 64) as u32;
        let client = !(dst6 as u32);
        let ok = (v6w0 >> 28 == 6) // C-10
            & (plen != 0)
            & (ETH + len <= d.len())
            & plain_top(src6) // T6-05
            & (server != 0) // T6-03
            & !list_b(server)
            & !list_b(client) // T6-04
            & l.not_own(server) // T6-13, broadcast part of T6-03/04
            & l.not_own(client)
            & (hop > 1) // T6-06
            & (len <= l.teredo_mtu) // T6-07
            & (head >= 28);
        if !ok {
            return self.classify_general(f, peers, now);
        }
        // T6-08
        let t = now.secs();
        let Some(p) = peers.find_bits(dst6) else {
            return self.classify_general(f, peers, now);
        };
        let Some((a, dport)) = p.sendable(t) else {
            return self.classify_general(f, peers, now);
        };
        p.touch_lookup(t);
        self.counters.event(Event::TeredoTx);
        let dst4 = a.to_bits();
        let (src4, sport, ttl, base, l2) = (
            l.teredo_addr,
            l.teredo_port,
            l.teredo_ttl,
            l.sum_teredo,
            l.l2_v4,
        );
        let id = self.ids.next(dst4);
        let ulen = (8 + len) as u32;
        let words = ipv4_words(base, 0, 20 + ulen, id, 0, ttl, 17, src4, dst4);
        // [Eth'][IPv4][UDP] in front of the IPv6 header at `off`.
        let off = head + ETH;
        let start = head - 28;
        // Hop limit first: the IPv6 header is part of the UDP payload.
        let b = f.buf_mut();
        if let Some(x) = b.get_mut(off + 7) {
            *x = hop - 1;
        }
        // SPEC §3.4: the UDP checksum is always filled.
        let ph = u64::from(src4)
            + u64::from(dst4)
            + 17
            + 2 * u64::from(ulen)
            + u64::from(sport)
            + u64::from(dport);
        let sum = checksum::data_onto(fold(ph), b.get(off..off + len).unwrap_or(&[]));
        let c = match !sum {
            0 => 0xffff,
            c => c,
        };
        if let Some(b) = b
            .get_mut(start..)
            .and_then(|b| b.first_chunk_mut::<{ ETH + 28 }>())
        {
            b[..ETH].copy_from_slice(&l2);
            put_words(b, ETH, words);
            b[34..36].copy_from_slice(&sport.to_be_bytes());
            b[36..38].copy_from_slice(&dport.to_be_bytes());
            b[38..40].copy_from_slice(&(ulen as u16).to_be_bytes());
            b[40..42].copy_from_slice(&c.to_be_bytes());
        }
        f.set_bounds_checked_by_caller(start, ETH + 28 + len);
        f.tx_port = Port::V4;
        Verdict::Tx
    }
}
