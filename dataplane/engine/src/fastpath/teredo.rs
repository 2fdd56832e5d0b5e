//! Teredo receive: UDP from clients → native IPv6 (SPEC §3.7, T4-xx).
//!
//! ```text
//!  in:   [Eth][IPv4][UDP][auth?][origin?][IPv6 hdr][payload][trailers]
//!  out:                          [Eth'][IPv6 hdr][payload]
//! ```
//! The fast path forwards packets of peers that are trusted with exactly
//! this mapping; anything that changes peer state (first contact, a new
//! mapping, a bubble, queued packets to flush) goes to the slow path, which
//! updates the entry and then calls [`Engine::teredo_forward`].

use std::net::Ipv6Addr;

use xrelay_wire::{checksum, teredo};

use super::out::Pkt;
use super::{be16, check_ipv4, ipv6_header, v4_at, v6_at, Engine, Via};
use crate::frame::Frame;
use crate::peers::PeerTable;
use crate::verdict::{DropReason as R, Event, IcmpError, SlowKind};
use crate::{Now, Verdict};

/// The result of the stateless Teredo receive checks (T4-02 … T4-05).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeredoIn {
    /// Offset of the IPv6 packet within `Frame::data()`.
    pub offset: usize,
    pub len: usize,
    pub src4: std::net::Ipv4Addr,
    pub sport: u16,
    pub src6: Ipv6Addr,
    pub bubble: bool,
}

impl Engine {
    /// Stateless checks of a Teredo datagram: C-02, C-03, T4-02, T4-14,
    /// C-04, T4-03, T4-04, T4-05. `Err` carries the verdict.
    #[inline]
    pub(crate) fn teredo_checks(&mut self, data: &[u8], l2: usize) -> Result<TeredoIn, Verdict> {
        let ip = data.get(l2..).unwrap_or(&[]);
        let Some((ihl, total)) = check_ipv4(ip) else {
            return Err(self.drop(R::C02BadIpv4Header));
        };
        let frag = be16(ip, 6) & 0x3fff;
        if frag != 0 {
            // A first fragment shows its port: not ours → kernel.
            if frag & 0x1fff == 0 && be16(ip, ihl + 2) != self.relay.teredo_port {
                return Err(self.pass(Event::PassNotRelayProto));
            }
            return Err(self.slow(SlowKind::Reassemble));
        }
        let udp = ip.get(ihl..total).unwrap_or(&[]);
        if udp.len() >= 4 && be16(udp, 2) != self.relay.teredo_port {
            return Err(self.pass(Event::PassNotRelayProto));
        }
        // T4-02
        let ulen = usize::from(be16(udp, 4));
        if udp.len() < 8 || ulen < 8 || ulen > udp.len() {
            return Err(self.drop(R::T4_02BadUdp));
        }
        let udp = &udp[..ulen];
        let src4 = v4_at(ip, 12);
        if be16(udp, 6) != 0 {
            let ph = checksum::pseudo_header_v4(&src4, &v4_at(ip, 16), 17, ulen as u32);
            if checksum::data_onto(ph, udp) != 0xffff {
                return Err(self.drop(R::T4_02BadUdp));
            }
        }
        // T4-14
        let sport = be16(udp, 0);
        if sport == 0 {
            return Err(self.drop(R::T4_14ZeroPort));
        }
        // C-04
        if self.is_relay_v4(src4.to_bits()) {
            return Err(self.drop(R::C04OwnSource));
        }
        // T4-03 (and C-05 for the Teredo path)
        if self.bogon_teredo(src4.to_bits()) {
            return Err(self.drop(R::T4_03BogonSource));
        }
        // T4-04 (SPEC §3.3 parse; RFC 6081 trailers ignored)
        let payload = &udp[8..];
        let Some((ipv6_offset, ipv6_len)) = ipv6_in_payload(payload) else {
            return Err(self.drop(R::T4_04BadPayload));
        };
        let Some(ipv6) = payload.get(ipv6_offset..ipv6_offset + ipv6_len) else {
            return Err(self.drop(R::T4_04BadPayload));
        };
        if ipv6.len() < 40 || (ipv6[4] == 0 && ipv6[5] == 0 && ipv6[6] == 0) {
            // Jumbogram framing (C-10) inside Teredo.
            return Err(self.drop(R::T4_04BadPayload));
        }
        let src6 = v6_at(ipv6, 8);
        // T4-05
        if !teredo::is_teredo(&src6) {
            return Err(self.drop(R::T4_05NotTeredoSource));
        }
        Ok(TeredoIn {
            offset: l2 + ihl + 8 + ipv6_offset,
            len: ipv6_len,
            src4,
            sport,
            src6,
            bubble: teredo::is_bubble(ipv6),
        })
    }

    pub(super) fn receive_teredo(
        &mut self,
        f: &mut Frame<'_>,
        l2: usize,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let t = match self.teredo_checks(f.data(), l2) {
            Ok(t) => t,
            Err(v) => return v,
        };
        // T4-06 / T4-07 / T4-08 / T4-09
        let (c4, cport) = teredo::mapping(&t.src6);
        let from_addr = c4 == t.src4 && cport == t.sport;
        let entry = peers.find(&t.src6);
        let trusted_same = entry.is_some_and(|e| e.trusted_mapping() == Some((t.src4, t.sport)));
        if !from_addr && !trusted_same {
            if self.relay.symmetric_nat_bubbles && t.bubble && entry.is_some() {
                return self.slow(SlowKind::TeredoRx);
            }
            return self.drop(R::T4_06MappingMismatch);
        }
        let Some(e) = entry else {
            return if self.relay.accept_unknown_peers {
                self.slow(SlowKind::TeredoRx)
            } else {
                self.drop(R::T4_07UnknownPeer)
            };
        };
        if t.bubble || !trusted_same || e.has_queue() {
            return self.slow(SlowKind::TeredoRx);
        }
        e.touch_rx(now.secs());
        self.teredo_forward(f, t.offset, t.len, peers, now)
    }

    /// T4-10 … T4-13 and the egress, after the peer state accepted the
    /// packet. `offset` is relative to `Frame::data()`.
    #[inline(always)]
    pub(crate) fn teredo_forward(
        &mut self,
        f: &mut Frame<'_>,
        offset: usize,
        len: usize,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let p = Pkt::new(f.head() + offset, len, ipv6_header(f.data(), offset));
        // T4-10
        if p.dst >> 120 == 0xff {
            return self.drop(R::T4_10MulticastDst);
        }
        // T4-11: served range = 2000::/3 minus exclusions (RFC 4380 §5.4.2).
        let b = p.dst;
        if b >> 125 != 1 || self.relay.served_exclude.iter().any(|(p, m)| b & m == *p) {
            return self.drop(R::T4_11OutsideServed);
        }
        // T4-12
        if p.hop <= 1 {
            return self.slow_drop(R::T4_12HopLimit, IcmpError::TimeExceeded);
        }
        self.egress(f, p, Via::Teredo, None, peers, now)
    }
}

/// Where the IPv6 packet lies in a Teredo UDP payload: [`teredo::parse_payload`]
/// with its common case inline. A payload that starts with version 6 has
/// no encapsulation header (those start with 00), so the parse is the IPv6
/// framing alone; a length beyond the payload fails the caller's slice.
#[inline(always)]
fn ipv6_in_payload(payload: &[u8]) -> Option<(usize, usize)> {
    match payload.first_chunk::<40>() {
        Some(h) if h[0] >> 4 == 6 => Some((0, 40 + usize::from(u16::from_be_bytes([h[4], h[5]])))),
        _ => teredo::parse_payload(payload)
            .ok()
            .map(|t| (t.ipv6_offset, t.ipv6_len)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The inline case agrees with the wire parser wherever the
        /// parser accepts, and the caller's slice refuses the rest.
        #[test]
        fn ipv6_in_payload_equals_parse_payload(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..120),
            lead in prop::sample::select(vec![0x00u8, 0x01, 0x60, 0x6f, 0x45]),
            second in prop::sample::select(vec![0x00u8, 0x01, 0x02]),
            plen in 0u16..90,
        ) {
            if let Some(b) = bytes.get_mut(0) { *b = lead; }
            if let Some(b) = bytes.get_mut(1) { *b = second; }
            if let Some(b) = bytes.get_mut(4..6) { b.copy_from_slice(&plen.to_be_bytes()); }
            let fits = |(o, l): (usize, usize)| bytes.get(o..o + l).map(|_| (o, l));
            let fast = ipv6_in_payload(&bytes).and_then(fits);
            let wire = teredo::parse_payload(&bytes).ok().map(|t| (t.ipv6_offset, t.ipv6_len)).and_then(fits);
            prop_assert_eq!(fast, wire);
        }
    }
}
