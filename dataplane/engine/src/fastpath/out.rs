//! Egress: the checks of the side a packet leaves by, then the in-place
//! rewrite. The IPv6 packet stays where it is in the buffer; new headers
//! are written in front of it and the frame start moves.
//!
//! ```text
//!  native:  [Eth'][IPv6 ...]
//!  6to4:    [Eth'][IPv4 20][IPv6 ...]
//!  Teredo:  [Eth'][IPv4 20][UDP 8][IPv6 ...]
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_wire::{checksum, ethernet, sixtofour, teredo};

use super::addrs::sane_6to4;
use super::{bad_source_v6, dst_bits, ipv6_header, src_bits, Engine};
use crate::config::TosMode;
use crate::frame::Frame;
use crate::peers::PeerTable;
use crate::relay::Egress;
use crate::verdict::{DropReason as R, Event, IcmpError, Port, SlowKind};
use crate::{Now, Verdict};

/// How a packet reached the egress (SPEC §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// From the native side; egress checks include the hop limit.
    Native,
    /// Decapsulated from protocol 41 (hop limit already checked, S4-09).
    SixToFour,
    /// Received from a Teredo client (hop limit already checked, T4-12).
    Teredo,
}

/// The IPv6 packet an egress works on: where it lies in the buffer and the
/// header fields the checks read, taken once by the ingress path from the
/// header it validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pkt {
    /// Offset of the IPv6 header, absolute in the buffer.
    pub off: usize,
    /// `40 + payload length`.
    pub len: usize,
    /// Source and destination address (`Ipv6Addr::to_bits`).
    pub src: u128,
    pub dst: u128,
    pub hop: u8,
}

impl Pkt {
    #[inline(always)]
    pub(crate) fn new(off: usize, len: usize, h: &[u8; 40]) -> Pkt {
        Pkt {
            off,
            len,
            src: src_bits(h),
            dst: dst_bits(h),
            hop: h[7],
        }
    }
}

/// Where a Teredo packet goes: the peer's verified mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl Engine {
    /// Runs the egress checks for the IPv6 packet `p` and rewrites the
    /// frame. `ecn` is a new inner ECN codepoint from RFC 6040
    /// decapsulation.
    #[inline(always)]
    pub(crate) fn egress(
        &mut self,
        f: &mut Frame<'_>,
        p: Pkt,
        via: Via,
        ecn: Option<u8>,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let r = &self.relay;
        // `via` is a constant at each call site: native ingress gets the
        // tunnel egresses inline, tunnelled ingress (rarer cross-path and
        // hairpin traffic) calls them, which keeps the decapsulating paths
        // small.
        if r.sixto4 && self.in_domain(p.dst) {
            if via == Via::Native {
                self.egress_6to4(f, p, via, ecn)
            } else {
                self.tunnelled_egress_6to4(f, p.off, p.len, via, ecn)
            }
        } else if r.teredo && (p.dst >> 96) as u32 == teredo::PREFIX {
            if via == Via::Native {
                self.egress_teredo(f, p, via, ecn, peers, now)
            } else {
                self.tunnelled_egress_teredo(f, p.off, p.len, via, ecn, peers, now)
            }
        } else if via == Via::Native {
            self.misrouted()
        } else {
            self.egress_native(f, p, via, ecn)
        }
    }

    /// Out of line, with the header fields read again here, so that the
    /// caller passes a few scalars rather than spilling its `Pkt`.
    #[inline(never)]
    fn tunnelled_egress_6to4(
        &mut self,
        f: &mut Frame<'_>,
        off: usize,
        len: usize,
        via: Via,
        ecn: Option<u8>,
    ) -> Verdict {
        let p = Pkt::new(off, len, ipv6_header(f.buf(), off));
        self.egress_6to4(f, p, via, ecn)
    }

    #[inline(never)]
    #[expect(clippy::too_many_arguments, reason = "hot path: explicit values")]
    fn tunnelled_egress_teredo(
        &mut self,
        f: &mut Frame<'_>,
        off: usize,
        len: usize,
        via: Via,
        ecn: Option<u8>,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let p = Pkt::new(off, len, ipv6_header(f.buf(), off));
        self.egress_teredo(f, p, via, ecn, peers, now)
    }

    /// 6to4 (or 6rd) egress: S6 checks, then protocol 41.
    #[inline(always)]
    fn egress_6to4(&mut self, f: &mut Frame<'_>, p: Pkt, via: Via, ecn: Option<u8>) -> Verdict {
        let (off, len, src6, dst6, hop) = (p.off, p.len, p.src, p.dst, p.hop);
        let b = f.buf();
        let echo = b.get(off + 6) == Some(&58) && b.get(off + 40) == Some(&128);
        match self.check_6to4_out(src6, dst6, hop, len, via, echo) {
            Ok(dst4) => {
                self.counters.event(match via {
                    Via::Native => Event::SixToFourEncap,
                    Via::SixToFour => Event::SixRdHairpin,
                    Via::Teredo => Event::TeredoToSixToFour,
                });
                let tc = traffic_class(f.buf(), off, ecn);
                let tos = match self.relay.tos {
                    TosMode::Copy => tc,
                    TosMode::Compat => tc & 0xfc,
                    TosMode::Fixed(v) => v,
                };
                let src4 = self.relay.return_source;
                let df = self.relay.df;
                let ttl = self.relay.ttl;
                let dst4 = Ipv4Addr::from_bits(dst4);
                self.encap_v4(f, off, len, ecn, src4, dst4, tos, df, ttl, None, true)
            }
            Err(v) => v,
        }
    }

    /// Teredo egress: T6 checks and the peer, then UDP.
    #[inline(always)]
    fn egress_teredo(
        &mut self,
        f: &mut Frame<'_>,
        p: Pkt,
        via: Via,
        ecn: Option<u8>,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let (off, len, src6, dst6, hop) = (p.off, p.len, p.src, p.dst, p.hop);
        match self.check_teredo_out(src6, dst6, hop, len, via, peers, now) {
            Ok(m) => {
                self.counters.event(match via {
                    Via::Native => Event::TeredoTx,
                    Via::SixToFour => Event::SixToFourToTeredo,
                    Via::Teredo => Event::TeredoToTeredo,
                });
                let src4 = self.relay.teredo_addr;
                let ttl = self.relay.teredo_ttl;
                let sport = self.relay.teredo_port;
                // Teredo: TOS 0, DF clear (RFC 4380 §5.1.2; SPEC §1.8).
                self.encap_v4(
                    f,
                    off,
                    len,
                    ecn,
                    src4,
                    m.addr,
                    0,
                    false,
                    ttl,
                    Some((sport, m.port)),
                    true,
                )
            }
            Err(v) => v,
        }
    }

    /// Decapsulated traffic for the native side (S4-10).
    #[inline(always)]
    fn egress_native(&mut self, f: &mut Frame<'_>, p: Pkt, via: Via, ecn: Option<u8>) -> Verdict {
        let Pkt { off, len, .. } = p;
        let mtu = usize::from(self.relay.egress_v6.mtu);
        if len > mtu {
            return self.slow_drop(R::S4_10EgressMtu, IcmpError::PacketTooBig(mtu as u16));
        }
        let l2_len = self.relay.egress_v6.l2_len();
        let Some(start) = off.checked_sub(l2_len) else {
            return self.drop(R::NoHeadroom);
        };
        self.counters.event(match via {
            Via::Teredo => Event::TeredoRx,
            _ => Event::SixToFourDecap,
        });
        let buf = f.buf_mut();
        forward_ipv6_header(buf, off, ecn);
        write_l2(buf, start, &self.relay.egress_v6, ethernet::ETHERTYPE_IPV6);
        if !f.set_bounds(start, l2_len + len) {
            return self.drop(R::NoHeadroom);
        }
        f.tx_port = Port::V6;
        Verdict::Tx
    }

    /// S6-02 … S6-09 (SPEC §2.4) on the addresses as bits. Returns the
    /// outer IPv4 destination, host order.
    #[inline(always)]
    fn check_6to4_out(
        &mut self,
        src6: u128,
        dst6: u128,
        hop: u8,
        len: usize,
        via: Via,
        echo: bool,
    ) -> Result<u32, Verdict> {
        let r = &self.relay;
        // S6-02
        if !sane_6to4(src6) || !sane_6to4(dst6) {
            return Err(self.drop(R::S6_02BadIpv6Address));
        }
        let Some(dst4) = self.embedded_v4(dst6) else {
            return Err(self.drop(R::S6_02BadIpv6Address));
        };
        // S6-03: silent (RFC 3056 §9).
        if self.bogon_6to4(dst4) {
            return Err(self.drop(R::S6_03BogonEmbedded));
        }
        // S6-04: never encapsulate to ourselves (RFC 3964 §5.1).
        if self.is_relay_v4(dst4) {
            return Err(if r.is_local_v6(&Ipv6Addr::from_bits(dst6)) {
                if echo {
                    self.local_v6()
                } else {
                    self.drop(R::S4_08bLocalNotEcho)
                }
            } else {
                self.drop(R::S6_04OwnIpv4)
            });
        }
        // S6-04b (SPEC §1.9): the anycast block would route to some relay.
        if !r.sixrd && in_anycast_block(Ipv4Addr::from_bits(dst4)) {
            return Err(self.drop(R::S6_04bAnycastBlock));
        }
        if via != Via::SixToFour {
            // S6-05 (RFC 3964 §5.1): a 6to4 source must match our outer source.
            let src_v4 = self.embedded_v4(src6);
            if let Some(sv4) = src_v4 {
                if sv4 != r.return_source.to_bits() {
                    return Err(self.drop(R::S6_05SpoofedSource));
                }
            }
            // S6-06 (RFC 6324 §3.3)
            if self.embeds_relay_v4(src6) || (r.sixrd && src_v4.is_some()) {
                return Err(self.drop(R::S6_06LoopAddress));
            }
            // S6-09
            if !r.native_allow.is_empty() && !r.native_allow.iter().any(|(p, m)| src6 & m == *p) {
                return Err(self.drop(R::S6_09NotAllowedSource));
            }
        }
        // S6-07
        if via == Via::Native && hop <= 1 {
            return Err(self.slow_drop(R::S6_07HopLimit, IcmpError::TimeExceeded));
        }
        // S6-08 (RFC 4213 §3.2)
        let mtu = self.relay.tunnel_mtu;
        if len > usize::from(mtu) {
            return Err(self.slow_drop(R::S6_08TunnelMtu, IcmpError::PacketTooBig(mtu)));
        }
        Ok(dst4)
    }

    /// T6-02 … T6-13 and the peer lookup (SPEC §3.6).
    #[inline(always)]
    #[expect(clippy::too_many_arguments, reason = "hot path: explicit values")]
    fn check_teredo_out(
        &mut self,
        src6: u128,
        dst6: u128,
        hop: u8,
        len: usize,
        via: Via,
        peers: &PeerTable,
        now: Now,
    ) -> Result<Mapping, Verdict> {
        let r = &self.relay;
        // T6-05 (C-11)
        if bad_source_v6(src6) {
            return Err(self.drop(R::T6_05BadSource));
        }
        // Server field and de-obfuscated client (teredo::mapping), host order.
        let server = (dst6 >> 64) as u32;
        let client = !(dst6 as u32);
        // T6-03 (miredo: the server field must be global and non-zero)
        if server == 0 || self.bogon_teredo(server) {
            return Err(self.drop(R::T6_03BogonServer));
        }
        // T6-04 (RFC 4380 §5.4.1 MUST silently discard)
        if self.bogon_teredo(client) {
            return Err(self.drop(R::T6_04BogonClient));
        }
        // T6-13
        if self.is_relay_v4(client) || self.is_relay_v4(server) {
            return Err(self.drop(R::T6_13OwnIpv4));
        }
        // T6-06
        if via == Via::Native && hop <= 1 {
            return Err(self.slow_drop(R::T6_06HopLimit, IcmpError::TimeExceeded));
        }
        // T6-07 (RFC 4380 §5.1.2)
        let mtu = r.teredo_mtu;
        if len > usize::from(mtu) {
            return Err(self.slow_drop(R::T6_07TeredoMtu, IcmpError::PacketTooBig(mtu)));
        }
        // T6-08: trusted, valid entry → send; anything else is T6-09 work
        // for the slow path (queue, bubbles, budget).
        if let Some(p) = peers.find(&Ipv6Addr::from_bits(dst6)) {
            p.touch_lookup(now.secs());
            if let Some((a, pt)) = p.sendable(now.secs()) {
                return Ok(Mapping { addr: a, port: pt });
            }
        }
        Err(self.slow(SlowKind::TeredoTx))
    }

    /// Echo Request to a relay address: the slow path answers (S4-08).
    #[cold]
    pub(crate) fn local_v6(&mut self) -> Verdict {
        self.slow(SlowKind::Echo)
    }

    /// Writes `[L2][IPv4][UDP?]` in front of the IPv6 packet at `off`.
    #[inline(always)]
    #[expect(
        clippy::too_many_arguments,
        reason = "hot path: explicit header values"
    )]
    pub(crate) fn encap_v4(
        &mut self,
        f: &mut Frame<'_>,
        off: usize,
        len: usize,
        ecn: Option<u8>,
        src4: Ipv4Addr,
        dst4: Ipv4Addr,
        tos: u8,
        df: bool,
        ttl: u8,
        udp: Option<(u16, u16)>,
        forwarded: bool,
    ) -> Verdict {
        let eg = &self.relay.egress_v4;
        let udp_len = if udp.is_some() { 8 } else { 0 };
        let ip_len = 20 + udp_len + len;
        let Some(ip_off) = off.checked_sub(20 + udp_len) else {
            return self.drop(R::NoHeadroom);
        };
        let Some(start) = ip_off.checked_sub(eg.l2_len()) else {
            return self.drop(R::NoHeadroom);
        };
        if ip_len > usize::from(u16::MAX) {
            return self.drop(R::TooBigForFrame);
        }
        let id = if df { 0 } else { self.ids.next(dst4.to_bits()) };
        let proto = if udp.is_some() { 17 } else { 41 };
        let buf = f.buf_mut();
        if forwarded {
            forward_ipv6_header(buf, off, ecn);
        }
        write_ipv4(
            buf,
            ip_off,
            tos,
            ip_len as u16,
            id,
            df,
            ttl,
            proto,
            src4,
            dst4,
        );
        if let Some((sport, dport)) = udp {
            write_udp(buf, ip_off + 20, src4, dst4, sport, dport, (8 + len) as u16);
        }
        write_l2(buf, start, eg, ethernet::ETHERTYPE_IPV4);
        if !f.set_bounds(start, eg.l2_len() + ip_len) {
            return self.drop(R::NoHeadroom);
        }
        f.tx_port = Port::V4;
        Verdict::Tx
    }
}

/// Traffic class of the IPv6 header at `off`, with a pending ECN change.
#[inline]
fn traffic_class(b: &[u8], off: usize, ecn: Option<u8>) -> u8 {
    let tc = match b.get(off..off + 2) {
        Some(h) => (h[0] << 4) | (h[1] >> 4),
        None => 0,
    };
    match ecn {
        Some(e) => (tc & 0xfc) | e,
        None => tc,
    }
}

/// Hop limit −1 and the RFC 6040 ECN result. IPv6 has no header checksum
/// and neither field is in the upper-layer pseudo-header.
#[inline]
fn forward_ipv6_header(b: &mut [u8], off: usize, ecn: Option<u8>) {
    if let Some(h) = b.get_mut(off..off + 8) {
        h[7] = h[7].wrapping_sub(1);
        if let Some(e) = ecn {
            h[1] = (h[1] & 0xcf) | (e << 4);
        }
    }
}

#[inline]
pub(crate) fn write_l2(b: &mut [u8], at: usize, eg: &Egress, ethertype: u16) {
    if let Some(h) = b.get_mut(at..at + eg.l2_len()) {
        h[0..6].copy_from_slice(&eg.dst_mac);
        h[6..12].copy_from_slice(&eg.src_mac);
        match eg.vlan {
            Some(vid) => {
                h[12..14].copy_from_slice(&ethernet::ETHERTYPE_VLAN.to_be_bytes());
                h[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
                h[16..18].copy_from_slice(&ethertype.to_be_bytes());
            }
            None => h[12..14].copy_from_slice(&ethertype.to_be_bytes()),
        }
    }
}

/// A 20-byte IPv4 header with a fresh checksum computed from the values
/// (no second pass over memory), stored as five 32-bit words.
#[inline(always)]
#[expect(clippy::too_many_arguments, reason = "one value per header field")]
pub(crate) fn write_ipv4(
    b: &mut [u8],
    at: usize,
    tos: u8,
    total: u16,
    id: u16,
    df: bool,
    ttl: u8,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    let flags: u16 = if df { 0x4000 } else { 0 };
    let (s, d) = (src.to_bits(), dst.to_bits());
    let sum = 0x4500u32
        + u32::from(tos)
        + u32::from(total)
        + u32::from(id)
        + u32::from(flags)
        + (u32::from(ttl) << 8 | u32::from(proto))
        + (s >> 16)
        + (s & 0xffff)
        + (d >> 16)
        + (d & 0xffff);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    let csum = !(sum as u16);
    if let Some(h) = b.get_mut(at..).and_then(|h| h.first_chunk_mut::<20>()) {
        let words = [
            0x4500_0000 | u32::from(tos) << 16 | u32::from(total),
            u32::from(id) << 16 | u32::from(flags),
            u32::from(ttl) << 24 | u32::from(proto) << 16 | u32::from(csum),
            s,
            d,
        ];
        for (w, v) in h.chunks_exact_mut(4).zip(words) {
            w.copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// UDP header with the checksum always filled (SPEC §3.4 DESIGN): the
/// Teredo payload follows the header in the buffer.
#[inline]
pub(crate) fn write_udp(
    b: &mut [u8],
    at: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ulen: u16,
) {
    let end = at + usize::from(ulen);
    if let Some(h) = b.get_mut(at..at + 8) {
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..6].copy_from_slice(&ulen.to_be_bytes());
        h[6..8].copy_from_slice(&[0, 0]);
    }
    let ph = checksum::pseudo_header_v4(&src, &dst, 17, u32::from(ulen));
    let mut c = !b.get(at..end).map_or(ph, |d| checksum::data_onto(ph, d));
    if c == 0 {
        c = 0xffff;
    }
    if let Some(h) = b.get_mut(at + 6..at + 8) {
        h.copy_from_slice(&c.to_be_bytes());
    }
}

/// SPEC §1.9 helper kept beside the writers: the anycast IPv4 /24 test.
#[inline]
pub(crate) fn in_anycast_block(a: Ipv4Addr) -> bool {
    a.to_bits() >> 8 == sixtofour::ANYCAST_V4.to_bits() >> 8
}
