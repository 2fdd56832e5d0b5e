//! 6to4 direction A: IPv4 protocol 41 in → native IPv6 out (SPEC §2.3, S4-xx).
//!
//! ```text
//!  in:   [Eth][IPv4 (ihl)][IPv6 hdr][payload][pad]
//!  out:          [Eth'][IPv6 hdr][payload]        (head moves forward)
//! ```

use std::net::Ipv6Addr;

use xrelay_wire::sixtofour;

use super::addrs::sane_6to4;
use super::out::Pkt;
use super::{be16, check_ipv4, check_ipv6, dst_bits, ipv6_header, src_bits, v4_bits, Engine, Via};
use crate::frame::Frame;
use crate::peers::PeerTable;
use crate::verdict::{DropReason as R, IcmpError, SlowKind};
use crate::{Now, Verdict};

impl Engine {
    pub(super) fn decap_6to4(
        &mut self,
        f: &mut Frame<'_>,
        l2: usize,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let d = f.data();
        let ip = d.get(l2..).unwrap_or(&[]);
        // C-02
        let Some((ihl, total)) = check_ipv4(ip) else {
            return self.drop(R::C02BadIpv4Header);
        };
        // C-03: fragments are reassembled by the slow path.
        if be16(ip, 6) & 0x3fff != 0 {
            return self.slow(SlowKind::Reassemble);
        }
        // Addresses as host-order integers from here on.
        let src4 = v4_bits(ip, 12);
        let dst4 = v4_bits(ip, 16);
        let r = &self.relay;
        // S4-01b
        if r.accept_only_anycast && dst4 != sixtofour::ANYCAST_V4.to_bits() {
            return self.drop(R::S4_01bNotAnycastDst);
        }
        // C-04
        if self.is_relay_v4(src4) {
            return self.drop(R::C04OwnSource);
        }
        // S4-02 (and C-05 for the 6to4 path); `dst4` is one of `sixto4_v4`.
        if self.bogon_6to4(src4) || (self.sets.sixto4_v4_bogon && self.bogon_6to4(dst4)) {
            return self.drop(R::S4_02BogonIpv4);
        }
        // S4-12
        if !r.client_allow.is_empty() && !r.client_allow.iter().any(|(p, m)| src4 & m == *p) {
            return self.drop(R::S4_12NotAllowedClient);
        }
        // S4-03: the IPv6 length decides; IPv4 padding beyond it is ignored.
        let inner = ip.get(ihl..total).unwrap_or(&[]);
        let Some(len) = check_ipv6(inner) else {
            return self.drop(R::S4_03BadInnerIpv6);
        };
        let h = ipv6_header(inner, 0);
        let (src6, dst6) = (src_bits(h), dst_bits(h));
        // S4-04
        if !sane_6to4(src6) || !sane_6to4(dst6) {
            return self.drop(R::S4_04BadIpv6Address);
        }
        let mut local = false;
        // Address consistency, RFC 3964 §5.2 pseudo-code.
        if let Some(dv4) = self.embedded_v4(dst6) {
            if let Some(sv4) = self.embedded_v4(src6) {
                if sv4 != src4 {
                    return self.drop(R::S4_05SpoofedSource);
                }
            }
            if r.sixrd {
                // RFC 5969 §8: a BR forwards CE→BR→CE (reachability test).
                local = r.is_local_v6(&Ipv6Addr::from_bits(dst6));
            } else {
                // S4-07: never 6to4 → relay → 6to4.
                if dv4 != dst4 {
                    return self.drop(R::S4_07DestinationMismatch);
                }
                if !r.is_local_v6(&Ipv6Addr::from_bits(dst6)) {
                    return self.drop(R::S4_07bNotRelayAddress);
                }
                local = true;
            }
        } else if let Some(sv4) = self.embedded_v4(src6) {
            // S4-05: the relay's essential check (RFC 3964 §4.2).
            if sv4 != src4 {
                return self.drop(R::S4_05SpoofedSource);
            }
            if dst6 == r.native_addr.to_bits() {
                local = true;
            } else if self.embeds_relay_v4(dst6) {
                // S4-14 (RFC 6324 §3.3), 6to4 form covered above.
                return self.drop(R::S4_14LoopAddress);
            }
        } else {
            // S4-06
            return self.drop(R::S4_06NativeToNative);
        }
        // S4-11 (RFC 6040 §4.2)
        let outer_ecn = ip[1] & 3;
        let inner_ecn = (h[1] >> 4) & 3;
        if outer_ecn == 3 && inner_ecn == 0 {
            return self.drop(R::S4_11EcnCeNotEct);
        }
        // S4-08 / S4-08b: addressed to the relay itself; exempt from the
        // hop-limit test (a Windows probe has hop limit 1).
        if local {
            return if h[6] == 58 && inner.get(40) == Some(&128) {
                self.slow(SlowKind::Echo)
            } else {
                self.drop(R::S4_08bLocalNotEcho)
            };
        }
        // S4-09
        if h[7] <= 1 {
            return self.slow_drop(R::S4_09HopLimit, IcmpError::TimeExceeded);
        }
        let new_ecn = ecn_combine(inner_ecn, outer_ecn);
        let p = Pkt::new(f.head() + l2 + ihl, len, h);
        // Egress: S4-13 (Teredo), 6rd hairpin, or native (S4-10).
        let ecn = (new_ecn != inner_ecn).then_some(new_ecn);
        self.egress(f, p, Via::SixToFour, ecn, peers, now)
    }
}

/// RFC 6040 §4.2 decapsulation table, for the non-drop cells: the result
/// is the more severe of the two (CE > ECT(1) > ECT(0)) when the inner
/// header is ECN-capable, else Not-ECT. Codepoints: 0 Not-ECT, 1 ECT(1),
/// 2 ECT(0), 3 CE.
#[inline]
pub(crate) fn ecn_combine(inner: u8, outer: u8) -> u8 {
    match (inner, outer) {
        (0, _) => 0,
        (_, 3) => 3,
        (2, 1) => 1,
        (i, _) => i,
    }
}
