//! The fast path: classify → validate → rewrite in place → verdict.
//!
//! Checks run in SPEC §4 order; each failure is a `Drop(reason)` named after
//! its check ID, each rare case a `Slow(kind)` with the frame untouched.
//! Nothing here allocates, locks, reads a clock or logs.
//!
//! Ingress paths (`sixtofour::decap`, `teredo::receive`, `native`) validate
//! their side and locate the IPv6 packet inside the frame; the egress
//! functions in `out` then run the checks of the side the packet leaves by
//! (§2.6: one hop-limit decrement per traversal) and rewrite the headers.

mod addrs;
mod lane;
mod out;
mod sixtofour;
mod teredo;

use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_wire::ethernet;

use crate::config::{Config, ConfigError, MisroutedAction};
use crate::counters::Counters;
use crate::frame::Frame;
use crate::idgen::IdGen;
use crate::peers::PeerTable;
use crate::relay::Relay;
use crate::verdict::{DropReason, Event, IcmpError, SlowKind, Verdict};
use crate::Now;

pub(crate) use out::write_l2;
pub use out::Via;
pub(crate) use sixtofour::ecn_combine;

/// One worker's fast path: its compiled settings, its counters (single
/// writer) and its slice of the IPv4 ID space.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) relay: Relay,
    /// `relay`'s address sets with membership filters (never changes
    /// after construction, like `relay`).
    pub(crate) sets: addrs::RelaySets,
    /// Constants of the straight-line lanes (also fixed).
    pub(crate) lanes: lane::Lanes,
    pub(crate) counters: Counters,
    pub(crate) ids: IdGen,
}

#[inline(always)]
pub(crate) fn be16(d: &[u8], off: usize) -> u16 {
    match d.get(off..off + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

#[inline(always)]
pub(crate) fn v4_at(d: &[u8], off: usize) -> Ipv4Addr {
    match d.get(off..off + 4) {
        Some(b) => Ipv4Addr::new(b[0], b[1], b[2], b[3]),
        None => Ipv4Addr::UNSPECIFIED,
    }
}

#[inline(always)]
pub(crate) fn v6_at(d: &[u8], off: usize) -> Ipv6Addr {
    match d
        .get(off..off + 16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
    {
        Some(b) => Ipv6Addr::from(b),
        None => Ipv6Addr::UNSPECIFIED,
    }
}

/// The 40-byte IPv6 header at `off` of `d`. Callers have checked that a
/// packet of at least 40 bytes starts there (C-10 framing), so the zero
/// header (`::` to `::`, hop limit 0) of a short slice is never used.
#[inline(always)]
pub(crate) fn ipv6_header(d: &[u8], off: usize) -> &[u8; 40] {
    match d.get(off..).and_then(|s| s.first_chunk::<40>()) {
        Some(h) => h,
        None => &[0; 40],
    }
}

/// Source address of an IPv6 header, as an integer (`Ipv6Addr::to_bits`).
#[inline(always)]
pub(crate) fn src_bits(h: &[u8; 40]) -> u128 {
    <[u8; 16]>::try_from(&h[8..24]).map_or(0, u128::from_be_bytes)
}

/// Destination address of an IPv6 header, as an integer.
#[inline(always)]
pub(crate) fn dst_bits(h: &[u8; 40]) -> u128 {
    <[u8; 16]>::try_from(&h[24..40]).map_or(0, u128::from_be_bytes)
}

/// Host-order IPv4 address at `off` (0.0.0.0 beyond the end).
#[inline(always)]
pub(crate) fn v4_bits(d: &[u8], off: usize) -> u32 {
    match d.get(off..).and_then(|s| s.first_chunk::<4>()) {
        Some(b) => u32::from_be_bytes(*b),
        None => 0,
    }
}

/// Validated IPv4 header bounds (C-02): header length and total length.
#[inline]
pub(crate) fn check_ipv4(ip: &[u8]) -> Option<(usize, usize)> {
    let vihl = *ip.first()?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || ip.len() < ihl {
        return None;
    }
    let total = usize::from(be16(ip, 2));
    if total < ihl || total > ip.len() {
        return None;
    }
    // Option-less headers get a sum of fixed length, which inlines to three
    // adds; options take the general loop.
    let sum = match ip.first_chunk::<20>() {
        Some(h) if ihl == 20 => xrelay_wire::checksum::data(h),
        _ => xrelay_wire::checksum::data(ip.get(..ihl)?),
    };
    if sum != 0xffff {
        return None;
    }
    Some((ihl, total))
}

/// IPv6 framing (C-10 / S4-03 / T4-04 share it): version 6, the announced
/// length fits, and no jumbogram (payload length 0 with a Hop-by-Hop
/// header). Returns the packet length `40 + payload length`; bytes beyond it
/// (IPv4 or Ethernet padding, Teredo trailers) are not part of the packet.
#[inline]
pub(crate) fn check_ipv6(p: &[u8]) -> Option<usize> {
    if p.len() < 40 || p[0] >> 4 != 6 {
        return None;
    }
    let plen = usize::from(be16(p, 4));
    if plen == 0 && p[6] == 0 {
        return None;
    }
    let len = 40 + plen;
    (len <= p.len()).then_some(len)
}

/// C-11: sources the relay never forwards from (the address as bits).
#[inline(always)]
pub(crate) fn bad_source_v6(b: u128) -> bool {
    (b >> 120) == 0xff // multicast ff00::/8
        || (b >> 118) == 0xfe80 >> 6 // link-local fe80::/10
        || b <= 1 // :: and ::1
        || (b >> 32) == 0xffff // IPv4-mapped ::ffff:0:0/96
        || (b >> 32) == 0 // IPv4-compatible ::/96
}

impl Engine {
    /// An engine for worker `worker` of `workers`; `seed` randomises IDs.
    pub fn new(cfg: &Config, worker: u16, workers: u16, seed: u64) -> Result<Engine, ConfigError> {
        let relay = Relay::new(cfg)?;
        let sets = addrs::RelaySets::new(&relay);
        Ok(Engine {
            lanes: lane::Lanes::new(&relay, &sets),
            sets,
            relay,
            counters: Counters::default(),
            ids: IdGen::new(worker, workers, seed),
        })
    }

    /// Replaces the ID source (tests reproduce SPEC §5 with a constant 0).
    pub fn set_id_source(&mut self, ids: IdGen) {
        self.ids = ids;
    }

    /// Switches the straight-line lanes off (`false`) so that every frame
    /// takes the general path; differential tests compare the two.
    #[doc(hidden)]
    pub fn set_lanes(&mut self, on: bool) {
        self.lanes = lane::Lanes::new(&self.relay, &self.sets);
        if !on {
            self.lanes.off();
        }
    }

    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Takes the counters, leaving zeros (a worker flushes once per batch).
    pub fn take_counters(&mut self) -> Counters {
        std::mem::take(&mut self.counters)
    }

    /// Processes a batch: one verdict per frame (`verdicts` is filled up to
    /// `min(frames.len(), verdicts.len())`). `now` is read once per batch.
    pub fn process(
        &mut self,
        frames: &mut [Frame<'_>],
        verdicts: &mut [Verdict],
        peers: &PeerTable,
        now: Now,
    ) {
        // `rx_frames` once per batch: every frame the loop visits counts.
        let n = frames.len().min(verdicts.len());
        self.counters.event_n(Event::RxFrames, n as u64);
        for (f, v) in frames.iter_mut().zip(verdicts.iter_mut()) {
            *v = self.classify_frame(f, peers, now);
        }
    }

    /// Processes one frame.
    #[inline]
    pub fn process_frame(&mut self, f: &mut Frame<'_>, peers: &PeerTable, now: Now) -> Verdict {
        self.counters.event(Event::RxFrames);
        self.classify_frame(f, peers, now)
    }

    /// One frame without the `rx_frames` count (the callers count it):
    /// a straight-line lane when the frame has the shape of one, else the
    /// general path.
    #[inline(always)]
    fn classify_frame(&mut self, f: &mut Frame<'_>, peers: &PeerTable, now: Now) -> Verdict {
        self.lanes_or_general(f, peers, now)
    }

    /// Every SPEC §4 check in order, for any frame.
    #[inline(never)]
    pub(super) fn classify_general(
        &mut self,
        f: &mut Frame<'_>,
        peers: &PeerTable,
        now: Now,
    ) -> Verdict {
        let d = f.data();
        if d.len() < ethernet::HEADER_LEN {
            return self.pass(Event::PassNotIp);
        }
        // C-01: link-layer broadcast/multicast is never relay traffic.
        if d[0] & 1 != 0 {
            return self.pass(Event::PassL2Multicast);
        }
        let (l2, et) = match be16(d, 12) {
            ethernet::ETHERTYPE_VLAN if d.len() >= ethernet::VLAN_HEADER_LEN => (18, be16(d, 16)),
            ethernet::ETHERTYPE_VLAN => return self.pass(Event::PassNotIp),
            et => (14, et),
        };
        match et {
            ethernet::ETHERTYPE_IPV4 => self.ipv4(f, l2, peers, now),
            ethernet::ETHERTYPE_IPV6 => self.native(f, l2, peers, now),
            _ => self.pass(Event::PassNotIp),
        }
    }

    #[inline]
    pub(crate) fn pass(&mut self, e: Event) -> Verdict {
        self.counters.event(e);
        Verdict::Pass
    }

    #[inline]
    pub(crate) fn drop(&mut self, r: DropReason) -> Verdict {
        self.counters.drop(r);
        Verdict::Drop(r)
    }

    /// A drop that hands the frame to the slow path for an ICMPv6 error (or
    /// other rare work): the check's counter moves here, once.
    #[cold]
    pub(crate) fn slow_drop(&mut self, r: DropReason, error: IcmpError) -> Verdict {
        self.counters.drop(r);
        self.counters.event(Event::SlowHandoff);
        Verdict::Slow(SlowKind::Icmp { reason: r, error })
    }

    #[cold]
    pub(crate) fn slow(&mut self, k: SlowKind) -> Verdict {
        self.counters.event(Event::SlowHandoff);
        Verdict::Slow(k)
    }

    /// IPv4 classification (C-01, S4-01, T4-01).
    #[inline]
    fn ipv4(&mut self, f: &mut Frame<'_>, l2: usize, peers: &PeerTable, now: Now) -> Verdict {
        let d = f.data();
        let Some(ip) = d.get(l2..) else {
            return self.pass(Event::PassNotIp);
        };
        if ip.len() < 20 {
            return self.pass(Event::PassNotOurs);
        }
        let dst = v4_at(ip, 16);
        match ip[9] {
            xrelay_wire::ipv4::protocol::IPV6
                if self.relay.sixto4 && self.sets.sixto4_v4.contains(dst.to_bits()) =>
            {
                self.decap_6to4(f, l2, peers, now)
            }
            xrelay_wire::ipv4::protocol::UDP
                if self.relay.teredo && dst == self.relay.teredo_addr =>
            {
                self.receive_teredo(f, l2, peers, now)
            }
            xrelay_wire::ipv4::protocol::ICMP if self.is_relay_v4(dst.to_bits()) => {
                self.icmp4(f, l2)
            }
            _ if self.is_relay_v4(dst.to_bits()) => self.pass(Event::PassNotRelayProto),
            _ => self.pass(Event::PassNotOurs),
        }
    }

    /// ICMPv4 to a relay address: errors go to the slow path (E-01..E-04),
    /// everything else (echo) to the kernel.
    #[cold]
    fn icmp4(&mut self, f: &Frame<'_>, l2: usize) -> Verdict {
        let ip = f.data().get(l2..).unwrap_or(&[]);
        let Some((ihl, _)) = check_ipv4(ip) else {
            return self.drop(DropReason::C02BadIpv4Header);
        };
        if be16(ip, 6) & 0x3fff != 0 {
            return self.pass(Event::PassNotRelayProto);
        }
        match ip.get(ihl) {
            Some(3 | 11 | 12) => self.slow(SlowKind::Icmp4Error),
            _ => self.pass(Event::PassNotRelayProto),
        }
    }

    /// Native IPv6 ingress: classification by managed prefix, C-10, then
    /// the egress toward 6to4 (S6) or Teredo (T6).
    #[inline]
    fn native(&mut self, f: &mut Frame<'_>, l2: usize, peers: &PeerTable, now: Now) -> Verdict {
        let d = f.data();
        let Some(p) = d.get(l2..) else {
            return self.pass(Event::PassNotIp);
        };
        if p.len() < 40 {
            return self.pass(Event::PassNotOurs);
        }
        let h = ipv6_header(p, 0);
        let dst = dst_bits(h);
        if dst >> 120 == 0xff {
            // C-12 / T6-02: an IPv6 multicast destination in a unicast frame
            // (RFC 2464 §7 maps them to 33:33:xx) is bogus for a relay.
            return if self.relay.teredo {
                self.drop(DropReason::T6_02MulticastDst)
            } else if self.relay.sixto4 {
                self.drop(DropReason::S6_02BadIpv6Address)
            } else {
                self.pass(Event::PassNotOurs)
            };
        }
        if !self.relay.is_managed(&Ipv6Addr::from_bits(dst)) {
            return self.pass(Event::PassNotOurs);
        }
        let Some(len) = check_ipv6(p) else {
            return self.drop(DropReason::C10BadIpv6);
        };
        let p = out::Pkt::new(f.head() + l2, len, h);
        self.egress(f, p, Via::Native, None, peers, now)
    }

    /// S6-01 / T6-01: a managed destination the relay does not translate.
    #[cold]
    pub(crate) fn misrouted(&mut self) -> Verdict {
        if self.relay.sixto4 {
            match self.relay.misrouted {
                MisroutedAction::Unreachable => {
                    self.slow_drop(DropReason::S6_01Misrouted, IcmpError::Unreachable(0))
                }
                MisroutedAction::Pass => self.pass(Event::PassMisrouted),
            }
        } else {
            self.slow_drop(DropReason::T6_01NotTeredo, IcmpError::Unreachable(3))
        }
    }
}

/// Where the IPv6 packet of a relay frame sits, for the slow path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// Offset of the IPv6 header within `Frame::data()`.
    pub offset: usize,
    /// `40 + payload length`.
    pub len: usize,
    /// How it arrived.
    pub via: Via,
    /// IPv4 source and UDP source port (Teredo) of the outer header.
    pub outer_src: Ipv4Addr,
    pub outer_sport: u16,
}

/// Finds the IPv6 packet in a frame the fast path accepted far enough to
/// hand to the slow path: native, proto-41 or Teredo. Cold; re-parses.
pub fn locate(data: &[u8]) -> Option<Located> {
    let (l2, et) = match be16(data, 12) {
        ethernet::ETHERTYPE_VLAN => (18, be16(data, 16)),
        et => (14, et),
    };
    let p = data.get(l2..)?;
    match et {
        ethernet::ETHERTYPE_IPV6 => Some(Located {
            offset: l2,
            len: check_ipv6(p)?,
            via: Via::Native,
            outer_src: Ipv4Addr::UNSPECIFIED,
            outer_sport: 0,
        }),
        ethernet::ETHERTYPE_IPV4 => {
            let (ihl, total) = check_ipv4(p)?;
            let ip = p.get(..total)?;
            match ip[9] {
                41 => Some(Located {
                    offset: l2 + ihl,
                    len: check_ipv6(ip.get(ihl..)?)?,
                    via: Via::SixToFour,
                    outer_src: v4_at(ip, 12),
                    outer_sport: 0,
                }),
                17 => {
                    let udp = ip.get(ihl..)?;
                    let ulen = usize::from(be16(udp, 4));
                    let pl = udp.get(8..ulen)?;
                    let t = xrelay_wire::teredo::parse_payload(pl).ok()?;
                    Some(Located {
                        offset: l2 + ihl + 8 + t.ipv6_offset,
                        len: t.ipv6_len,
                        via: Via::Teredo,
                        outer_src: v4_at(ip, 12),
                        outer_sport: be16(udp, 0),
                    })
                }
                _ => None,
            }
        }
        _ => None,
    }
}
