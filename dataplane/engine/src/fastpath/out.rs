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

use xrelay_wire::{addr, checksum, ethernet, sixtofour, teredo};

use super::{bad_source_v6, Engine};
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

/// Where a Teredo packet goes: the peer's verified mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl Engine {
    /// Runs the egress checks for the IPv6 packet at `off` (absolute in the
    /// buffer, `len` bytes) and rewrites the frame. `ecn` is a new inner ECN
    /// codepoint from RFC 6040 decapsulation.
    #[inline]
    #[expect(clippy::too_many_arguments, reason = "hot path: explicit values, no struct packing")]
    pub(crate) fn egress(
        &mut self,
        f: &mut Frame<'_>,
        off: usize,
        len: usize,
        via: Via,
        ecn: Option<u8>,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let b = f.buf();
        let src6 = super::v6_at(b, off + 8);
        let dst6 = super::v6_at(b, off + 24);
        let hop = b.get(off + 7).copied().unwrap_or(0);
        let echo = b.get(off + 6) == Some(&58) && b.get(off + 40) == Some(&128);
        let r = &self.relay;
        if r.sixto4 && r.domain.contains(&dst6) {
            match self.check_6to4_out(&src6, &dst6, hop, len, via, echo) {
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
                    self.encap_v4(f, off, len, ecn, src4, dst4, tos, df, ttl, None, true)
                }
                Err(v) => v,
            }
        } else if r.teredo && teredo::is_teredo(&dst6) {
            match self.check_teredo_out(&src6, &dst6, hop, len, via, peers, now) {
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
                    self.encap_v4(f, off, len, ecn, src4, m.addr, 0, false, ttl, Some((sport, m.port)), true)
                }
                Err(v) => v,
            }
        } else if via == Via::Native {
            self.misrouted()
        } else {
            // Decapsulated traffic for the native side (S4-10).
            let mtu = usize::from(self.relay.egress_v6.mtu);
            if len > mtu {
                return self.slow_drop(R::S4_10EgressMtu, IcmpError::PacketTooBig(mtu as u16));
            }
            self.counters.event(match via {
                Via::Teredo => Event::TeredoRx,
                _ => Event::SixToFourDecap,
            });
            let eg = self.relay.egress_v6;
            let Some(start) = off.checked_sub(eg.l2_len()) else {
                return self.drop(R::NoHeadroom);
            };
            let buf = f.buf_mut();
            forward_ipv6_header(buf, off, ecn);
            write_l2(buf, start, &eg, ethernet::ETHERTYPE_IPV6);
            if !f.set_bounds(start, eg.l2_len() + len) {
                return self.drop(R::NoHeadroom);
            }
            f.tx_port = Port::V6;
            Verdict::Tx
        }
    }

    /// S6-02 … S6-09 (SPEC §2.4). Returns the outer IPv4 destination.
    #[inline]
    fn check_6to4_out(
        &mut self,
        src6: &Ipv6Addr,
        dst6: &Ipv6Addr,
        hop: u8,
        len: usize,
        via: Via,
        echo: bool,
    ) -> Result<Ipv4Addr, Verdict> {
        let r = &self.relay;
        // S6-02
        if !addr::is_6to4_sane_v6(src6) || !addr::is_6to4_sane_v6(dst6) {
            return Err(self.drop(R::S6_02BadIpv6Address));
        }
        let Some(dst4) = r.domain.embedded_v4(dst6) else {
            return Err(self.drop(R::S6_02BadIpv6Address));
        };
        // S6-03: silent (RFC 3056 §9).
        if r.bogon_6to4(dst4) {
            return Err(self.drop(R::S6_03BogonEmbedded));
        }
        // S6-04: never encapsulate to ourselves (RFC 3964 §5.1).
        if r.relay_v4.contains(dst4) {
            return Err(if r.is_local_v6(dst6) {
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
        if !r.sixrd && in_anycast_block(dst4) {
            return Err(self.drop(R::S6_04bAnycastBlock));
        }
        if via != Via::SixToFour {
            // S6-05 (RFC 3964 §5.1): a 6to4 source must match our outer source.
            if let Some(sv4) = r.domain.embedded_v4(src6) {
                if sv4 != r.return_source {
                    return Err(self.drop(R::S6_05SpoofedSource));
                }
            }
            // S6-06 (RFC 6324 §3.3)
            if r.embeds_relay_v4(src6) || (r.sixrd && r.domain.embedded_v4(src6).is_some()) {
                return Err(self.drop(R::S6_06LoopAddress));
            }
            // S6-09
            if !r.native_allow.is_empty() {
                let s = src6.to_bits();
                if !r.native_allow.iter().any(|(p, m)| s & m == *p) {
                    return Err(self.drop(R::S6_09NotAllowedSource));
                }
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
    #[inline]
    #[expect(clippy::too_many_arguments, reason = "hot path: explicit values")]
    fn check_teredo_out(
        &mut self,
        src6: &Ipv6Addr,
        dst6: &Ipv6Addr,
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
        let o = dst6.octets();
        let server = Ipv4Addr::new(o[4], o[5], o[6], o[7]);
        let (client, _) = teredo::mapping(dst6);
        // T6-03 (miredo: the server field must be global and non-zero)
        if server.is_unspecified() || r.bogon_teredo(server) {
            return Err(self.drop(R::T6_03BogonServer));
        }
        // T6-04 (RFC 4380 §5.4.1 MUST silently discard)
        if r.bogon_teredo(client) {
            return Err(self.drop(R::T6_04BogonClient));
        }
        // T6-13
        if r.relay_v4.contains(client) || r.relay_v4.contains(server) {
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
        if let Some(p) = peers.find(dst6) {
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
    #[inline]
    #[expect(clippy::too_many_arguments, reason = "hot path: explicit header values")]
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
        let eg = self.relay.egress_v4;
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
        write_ipv4(buf, ip_off, tos, ip_len as u16, id, df, ttl, proto, src4, dst4);
        if let Some((sport, dport)) = udp {
            write_udp(buf, ip_off + 20, src4, dst4, sport, dport, (8 + len) as u16);
        }
        write_l2(buf, start, &eg, ethernet::ETHERTYPE_IPV4);
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
/// (no second pass over memory).
#[inline]
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
    if let Some(h) = b.get_mut(at..at + 20) {
        h[0] = 0x45;
        h[1] = tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h[6..8].copy_from_slice(&flags.to_be_bytes());
        h[8] = ttl;
        h[9] = proto;
        h[10..12].copy_from_slice(&csum.to_be_bytes());
        h[12..16].copy_from_slice(&src.octets());
        h[16..20].copy_from_slice(&dst.octets());
    }
}

/// UDP header with the checksum always filled (SPEC §3.4 DESIGN): the
/// Teredo payload follows the header in the buffer.
#[inline]
pub(crate) fn write_udp(b: &mut [u8], at: usize, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, ulen: u16) {
    let end = at + usize::from(ulen);
    if let Some(h) = b.get_mut(at..at + 8) {
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..6].copy_from_slice(&ulen.to_be_bytes());
        h[6..8].copy_from_slice(&[0, 0]);
    }
    let data = b.get(at..end).map_or(0, checksum::data);
    let ph = checksum::pseudo_header_v4(&src, &dst, 17, u32::from(ulen));
    let mut c = !checksum::combine(&[ph, data]);
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
    a.octets()[..3] == sixtofour::ANYCAST_V4.octets()[..3]
}
