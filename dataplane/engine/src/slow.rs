//! The slow path, still pure: ICMPv6 errors and echo replies with their
//! token buckets (SPEC §1.3), the Teredo peer state machine (§3.5–§3.9:
//! queue, bubbles, budget, timer-driven retries, trust), IPv4 reassembly
//! (§1.5) and received ICMPv4 errors (§2.5.3). The clock is a parameter.
//!
//! Everything it transmits goes through the same egress code as the fast
//! path (its own `Engine`), so an ICMPv6 error toward a 6to4 host is
//! encapsulated exactly like relayed traffic (§2.5.1).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_wire::{icmpv4, icmpv6, sixtofour, teredo};

use crate::config::{BubbleSource, Config, ConfigError, EchoReplySource};
use crate::fastpath::{locate, Engine, Via};
use crate::frame::{Frame, HEADROOM};
use crate::icmp;
use crate::peers::PeerTable;
use crate::pipeline::Output;
use crate::ratelimit::{KeyedBuckets, TokenBucket};
use crate::reasm::{Push, Reassembler};
use crate::verdict::{DropReason as R, Event, IcmpError, Port, SlowKind, Verdict};
use crate::Now;

/// Bubble timing (RFC 4380 §5.2.6, §5.4.1 case 3).
pub const BUBBLE_SPACING_MS: u64 = 2_000;
pub const BUBBLE_BUDGET: u8 = 4;
pub const BUBBLE_WINDOW_MS: u64 = 300_000;

/// Largest frame the slow path builds (a reassembled datagram + L2).
const SCRATCH: usize = HEADROOM + 65_536 + 64;
/// Entries the background sweep inspects per tick.
const SWEEP_BUDGET: usize = 4096;

/// Slow-path state of one dataplane (or one offline run).
#[derive(Debug)]
pub struct SlowPath {
    engine: Engine,
    ptb: TokenBucket,
    err: TokenBucket,
    echo: TokenBucket,
    new_peers: KeyedBuckets,
    reasm: Reassembler,
    bubble_key: [u64; 2],
    retries: VecDeque<(u64, u32, u32)>,
    scratch: Vec<u8>,
    /// One frame buffer per hand-off depth for frames re-run through the
    /// engine (reassembled datagrams, Teredo packets after the state update).
    fwd: [Vec<u8>; 3],
    queue_pkts: u32,
    queue_bytes: u32,
    queue_total: u64,
    anycast: Vec<Ipv6Addr>,
}

impl SlowPath {
    /// `seed` keys the bubble-source hash when `teredo.bubble_key` is unset.
    pub fn new(cfg: &Config, seed: u64) -> Result<SlowPath, ConfigError> {
        let engine = Engine::new(cfg, 0, 1, seed ^ 0x5157)?;
        let key = match &cfg.teredo.bubble_key {
            Some(hex) => parse_key(hex).ok_or_else(|| ConfigError::Invalid {
                key: "teredo.bubble_key".into(),
                message: "must be 32 hexadecimal digits".into(),
            })?,
            None => [
                seed.rotate_left(17) ^ 0xa076_1d64_78bd_642f,
                seed ^ 0xe703_7ed1_a0b4_28db,
            ],
        };
        let i = &cfg.icmp6;
        let v4 = &cfg.ipv4;
        let t = &cfg.teredo;
        let anycast = if engine.relay.anycast {
            vec![sixtofour::ANYCAST_V6]
        } else {
            Vec::new()
        };
        Ok(SlowPath {
            engine,
            ptb: TokenBucket::new(i.ptb_rate, i.ptb_burst),
            err: TokenBucket::new(i.err_rate, i.err_burst),
            echo: TokenBucket::new(i.echo_rate, i.echo_burst),
            new_peers: KeyedBuckets::new(4096, t.new_peer_rate, t.new_peer_burst, seed ^ 0x77),
            reasm: Reassembler::new(
                v4.reassembly_entries,
                v4.reassembly_max,
                v4.reassembly_timeout,
                v4.reassembly_per_source,
            ),
            bubble_key: key,
            retries: VecDeque::new(),
            scratch: vec![0; SCRATCH],
            fwd: [vec![0; SCRATCH], Vec::new(), Vec::new()],
            queue_pkts: t.queue_pkts,
            queue_bytes: t.queue_bytes,
            queue_total: t.queue_total_bytes,
            anycast,
        })
    }

    /// The slow path's own counters (its engine's included).
    pub fn counters(&self) -> &crate::Counters {
        &self.engine.counters
    }

    /// Replaces the ID source of what the slow path encapsulates.
    pub fn set_id_source(&mut self, ids: crate::IdGen) {
        self.engine.set_id_source(ids);
    }

    /// The IPv6 source of bubbles sent toward the peer whose address-embedded
    /// mapping is (`v4`, `port`): `fe80::` + keyed hash with the two low
    /// bits of the first IID octet cleared (SPEC §3.9, as miredo).
    pub fn bubble_source(&self, v4: Ipv4Addr, port: u16) -> Ipv6Addr {
        if self.engine.relay.bubble_source == BubbleSource::Native {
            return self.engine.relay.native_addr;
        }
        let x = (u64::from(v4.to_bits()) << 16 | u64::from(port)) ^ self.bubble_key[0];
        let m = u128::from(x).wrapping_mul(u128::from(self.bubble_key[1] | 1));
        let mut h = ((m as u64) ^ ((m >> 64) as u64)).to_be_bytes();
        h[0] &= 0xfc;
        let iid = u64::from_be_bytes(h);
        Ipv6Addr::from_bits((0xfe80u128 << 112) | u128::from(iid))
    }

    /// Handles one frame the fast path handed over. `frame` is the frame
    /// as received; what is sent goes to `out`.
    pub fn handle(
        &mut self,
        kind: SlowKind,
        frame: &[u8],
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
    ) {
        self.handle_depth(kind, frame, peers, now, out, 0);
    }

    fn handle_depth(
        &mut self,
        kind: SlowKind,
        frame: &[u8],
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
        depth: u8,
    ) {
        match kind {
            SlowKind::Icmp { reason, error } => {
                self.icmp_error(frame, error, peers, now, out);
                out.dropped(reason, frame);
            }
            SlowKind::Echo => self.echo(frame, peers, now, out),
            SlowKind::TeredoTx => self.teredo_tx(frame, peers, now, out),
            SlowKind::TeredoRx => self.teredo_rx(frame, peers, now, out, depth),
            SlowKind::Reassemble => self.reassemble(frame, peers, now, out, depth),
            SlowKind::Icmp4Error => self.icmp4(frame, peers, now, out),
        }
    }

    /// Timers: bubble retries and budget exhaustion (T6-09/T6-10),
    /// reassembly timeouts (C-03), idle peer eviction.
    pub fn tick(&mut self, peers: &mut PeerTable, now: Now, out: &mut dyn Output) {
        let now_ms = now.millis();
        while let Some(&(due, idx, generation)) = self.retries.front() {
            if due > now_ms {
                break;
            }
            self.retries.pop_front();
            let Some(p) = peers.get(idx) else { continue };
            if p.generation != generation || p.next_retry_ms != due || p.is_trusted() || p.failed {
                continue;
            }
            let addr = p.addr();
            let bubbles = p.bubbles;
            if bubbles < BUBBLE_BUDGET {
                self.send_bubbles(idx, &addr, peers, now, out);
            } else {
                // T6-10: no reply after the whole budget; free the queue,
                // Destination Unreachable (address unreachable) per packet.
                let q = peers.take_queue(idx);
                if let Some(p) = peers.get_mut(idx) {
                    p.failed = true;
                    p.next_retry_ms = 0;
                }
                self.engine.counters.event(Event::PeerExpired);
                for pkt in q.iter() {
                    self.engine.counters.drop(R::T6_10BubbleBudget);
                    self.send_error_for(pkt, IcmpError::Unreachable(3), peers, now, out);
                    out.dropped(R::T6_10BubbleBudget, pkt);
                }
            }
        }
        let n = self.reasm.expire(now_ms);
        self.engine.counters.drops[R::C03ReassemblyTimeout.index()] += n as u64;
        let ev = peers.sweep(now.secs(), SWEEP_BUDGET);
        self.engine.counters.event_n(Event::PeerEvicted, ev as u64);
    }

    // ---- ICMPv6 errors and echo -------------------------------------------

    fn icmp_error(
        &mut self,
        frame: &[u8],
        error: IcmpError,
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
    ) {
        let Some(loc) = locate(frame) else { return };
        let Some(pkt) = frame.get(loc.offset..loc.offset + loc.len) else {
            return;
        };
        self.send_error_for(pkt, error, peers, now, out);
    }

    /// Builds and sends an ICMPv6 error about the IPv6 packet `pkt`,
    /// subject to C-14 suppression and the C-15 buckets.
    fn send_error_for(
        &mut self,
        pkt: &[u8],
        error: IcmpError,
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
    ) {
        let (typ, code, param, ev) = match error {
            IcmpError::TimeExceeded => (
                icmpv6::msg_type::TIME_EXCEEDED,
                0,
                0,
                Event::Icmp6TimeExceeded,
            ),
            IcmpError::PacketTooBig(m) => (
                icmpv6::msg_type::PKT_TOO_BIG,
                0,
                u32::from(m),
                Event::Icmp6PacketTooBig,
            ),
            IcmpError::Unreachable(c) => (
                icmpv6::msg_type::DST_UNREACHABLE,
                c,
                0,
                Event::Icmp6Unreachable,
            ),
        };
        let c = &mut self.engine.counters;
        if typ == icmpv6::msg_type::DST_UNREACHABLE && !self.engine.relay.send_unreachable {
            c.event(Event::Icmp6Suppressed);
            return;
        }
        if icmp::may_send_error(pkt, typ, &self.anycast).is_err() {
            c.event(Event::Icmp6Suppressed);
            return;
        }
        let bucket = if typ == icmpv6::msg_type::PKT_TOO_BIG {
            &mut self.ptb
        } else {
            &mut self.err
        };
        if !bucket.take(now.millis()) {
            c.event(Event::Icmp6RateLimited);
            return;
        }
        let src = self.engine.relay.native_addr;
        let hop = self.engine.relay.icmp_hop_limit;
        let Some(len) = icmp::build_error(
            &mut self.scratch[HEADROOM..],
            src,
            pkt,
            typ,
            code,
            param,
            hop,
        ) else {
            return;
        };
        if self.originate(len, peers, now, out) {
            self.engine.counters.event(ev);
        }
    }

    fn echo(&mut self, frame: &[u8], peers: &mut PeerTable, now: Now, out: &mut dyn Output) {
        let Some(loc) = locate(frame) else { return };
        let Some(req) = frame.get(loc.offset..loc.offset + loc.len) else {
            return;
        };
        out.consumed(frame);
        if !self.echo.take(now.millis()) {
            self.engine.counters.event(Event::EchoRateLimited);
            return;
        }
        let dst = crate::fastpath::v6_at(req, 24);
        let r = &self.engine.relay;
        let src = match r.echo_reply_source {
            EchoReplySource::Request => dst,
            EchoReplySource::Native => r.native_addr,
            EchoReplySource::AnycastUnicast if dst == sixtofour::ANYCAST_V6 => {
                Ipv6Addr::from_bits(sixtofour::ANYCAST_V6.to_bits() | 1)
            }
            EchoReplySource::AnycastUnicast => dst,
        };
        let hop = r.icmp_hop_limit;
        let Some(len) = icmp::build_echo_reply(&mut self.scratch[HEADROOM..], src, req, hop) else {
            return;
        };
        if self.originate(len, peers, now, out) {
            self.engine.counters.event(Event::Icmp6EchoReply);
        }
    }

    /// Sends the IPv6 packet the relay originated, at `scratch[HEADROOM..]`,
    /// by the path its destination needs. No hop-limit decrement.
    fn originate(
        &mut self,
        len: usize,
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
    ) -> bool {
        let pkt = &self.scratch[HEADROOM..HEADROOM + len];
        let src6 = crate::fastpath::v6_at(pkt, 8);
        let dst6 = crate::fastpath::v6_at(pkt, 24);
        let r = &self.engine.relay;
        if r.sixto4 && r.domain.contains(&dst6) {
            let Some(dst4) = r.domain.embedded_v4(&dst6) else {
                return false;
            };
            if r.bogon_6to4(dst4) || r.relay_v4.contains(dst4) {
                return false;
            }
            // §2.3.1: the outer source must be the IPv4 address embedded in
            // a 6to4 source, or RFC 3964 §5.2 hosts drop the reply.
            let src4 = match r.domain.embedded_v4(&src6) {
                Some(v4) if r.relay_v4.contains(v4) => v4,
                _ => r.return_source,
            };
            let tos = 0;
            let (df, ttl) = (r.df, r.ttl);
            let mut f = Frame::new(&mut self.scratch, HEADROOM, len, Port::V6);
            let v = self.engine.encap_v4(
                &mut f, HEADROOM, len, None, src4, dst4, tos, df, ttl, None, false,
            );
            return emit(v, &f, out);
        }
        if r.teredo && teredo::is_teredo(&dst6) {
            let pkt = pkt.to_vec();
            return self.teredo_send_or_queue(&pkt, peers, now, out);
        }
        let eg = r.egress_v6;
        let start = HEADROOM - eg.l2_len();
        crate::fastpath::write_l2(
            &mut self.scratch,
            start,
            &eg,
            xrelay_wire::ethernet::ETHERTYPE_IPV6,
        );
        out.transmit(Port::V6, &self.scratch[start..HEADROOM + len]);
        true
    }

    // ---- Teredo --------------------------------------------------------------

    /// T6-09 for a frame from the fast path: take the IPv6 packet out of the
    /// frame (hop limit −1: it is being forwarded) and send or queue it.
    fn teredo_tx(&mut self, frame: &[u8], peers: &mut PeerTable, now: Now, out: &mut dyn Output) {
        let Some(loc) = locate(frame) else { return };
        let Some(pkt) = frame.get(loc.offset..loc.offset + loc.len) else {
            return;
        };
        let mut pkt = pkt.to_vec();
        pkt[7] = pkt[7].saturating_sub(1);
        if loc.via == Via::SixToFour {
            // RFC 6040 §4.2 on the cross path, as the fast path would.
            let l2 = l2_len(frame);
            if let Some(ip) = frame.get(l2..) {
                let outer = ip.get(1).copied().unwrap_or(0) & 3;
                let inner = (pkt[1] >> 4) & 3;
                let e = crate::fastpath::ecn_combine(inner, outer);
                pkt[1] = (pkt[1] & 0xcf) | (e << 4);
            }
        }
        if !self.teredo_send_or_queue(&pkt, peers, now, out) {
            return;
        }
        out.consumed(frame);
    }

    /// Sends `pkt` (an IPv6 packet to a Teredo address) to its peer's
    /// verified mapping, or queues it and bubbles (RFC 4380 §5.4.1).
    /// Returns false when the packet was dropped (and reported).
    fn teredo_send_or_queue(
        &mut self,
        pkt: &[u8],
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
    ) -> bool {
        let dst6 = crate::fastpath::v6_at(pkt, 24);
        let src6 = crate::fastpath::v6_at(pkt, 8);
        let (now_s, now_ms) = (now.secs(), now.millis());
        let idx = match peers.index_of(&dst6) {
            Some(i) => i,
            None => {
                // T6-12: per-source /64 new-peer budget, then capacity.
                if !self.new_peers.take((src6.to_bits() >> 64) as u64, now_ms) {
                    return self.teredo_drop(R::T6_12NewPeerRate, pkt, out);
                }
                let Ok(i) = peers.insert(&dst6, teredo::mapping(&dst6), now_s) else {
                    return self.teredo_drop(R::T6_12PeerTableFull, pkt, out);
                };
                self.engine.counters.event(Event::PeerCreated);
                let cone = teredo::Address::decode(&dst6).is_some_and(|a| a.is_cone());
                if self.engine.relay.honour_cone_bit && cone {
                    // RFC 4380 §5.4.1 case 2 (off by default, RFC 5991 §3.2).
                    let (a, p) = teredo::mapping(&dst6);
                    if let Some(e) = peers.get(i) {
                        e.set_trusted(a, p);
                        e.touch_rx(now_s);
                    }
                }
                i
            }
        };
        let Some(p) = peers.get(idx) else {
            return false;
        };
        p.touch_lookup(now_s);
        if let Some((a, port)) = p.sendable(now_s) {
            self.send_teredo(pkt, a, port, out);
            self.engine.counters.event(Event::TeredoTx);
            return true;
        }
        if p.failed {
            if now_ms.saturating_sub(p.window_start_ms) < BUBBLE_WINDOW_MS {
                // T6-10: budget spent without reply; miredo answers with
                // Destination Unreachable (address unreachable).
                self.engine.counters.drop(R::T6_10BubbleBudget);
                self.send_error_for(pkt, IcmpError::Unreachable(3), peers, now, out);
                out.dropped(R::T6_10BubbleBudget, pkt);
                return false;
            }
            if let Some(p) = peers.get_mut(idx) {
                p.failed = false;
                p.bubbles = 0;
            }
        }
        // T6-11
        if !peers.enqueue(
            idx,
            pkt,
            self.queue_pkts,
            self.queue_bytes,
            self.queue_total,
        ) {
            return self.teredo_drop(R::T6_11QueueFull, pkt, out);
        }
        self.engine.counters.event(Event::Queued);
        self.send_bubbles(idx, &dst6, peers, now, out);
        true
    }

    fn teredo_drop(&mut self, r: R, pkt: &[u8], out: &mut dyn Output) -> bool {
        self.engine.counters.drop(r);
        out.dropped(r, pkt);
        false
    }

    /// Bubbles for peer `idx` if RFC 4380 §5.2.6 allows: ≥ 2 s since the
    /// last transmission, < 4 in the current 300 s window. Schedules the
    /// next timer-driven retry.
    fn send_bubbles(
        &mut self,
        idx: u32,
        dst6: &Ipv6Addr,
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
    ) {
        let now_ms = now.millis();
        let Some(p) = peers.get_mut(idx) else { return };
        if now_ms.saturating_sub(p.window_start_ms) >= BUBBLE_WINDOW_MS {
            p.window_start_ms = now_ms;
            p.bubbles = 0;
        }
        let spaced = p
            .last_tx_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= BUBBLE_SPACING_MS);
        if !spaced || p.bubbles >= BUBBLE_BUDGET {
            self.engine.counters.event(Event::BubbleDeferred);
            return;
        }
        if p.bubbles == 0 {
            p.window_start_ms = now_ms;
        }
        p.bubbles += 1;
        p.last_tx_ms = Some(now_ms);
        let due = now_ms + BUBBLE_SPACING_MS;
        p.next_retry_ms = due;
        let generation = p.generation;
        self.retries.push_back((due, idx, generation));
        let (client, port) = teredo::mapping(dst6);
        let o = dst6.octets();
        let server = Ipv4Addr::new(o[4], o[5], o[6], o[7]);
        let src6 = self.bubble_source(client, port);
        let hop = self.engine.relay.bubble_hop_limit;
        let mut b = [0u8; 40];
        if icmp::build_bubble(&mut b, src6, *dst6, hop).is_none() {
            return;
        }
        if self.engine.relay.direct_bubbles {
            self.send_teredo(&b, client, port, out);
            self.engine.counters.event(Event::BubbleDirect);
        }
        let sp = self.engine.relay.teredo_server_port;
        self.send_teredo(&b, server, sp, out);
        self.engine.counters.event(Event::BubbleIndirect);
    }

    /// Encapsulates an IPv6 packet (already forwarded or originated) in
    /// UDP/IPv4 from the relay's Teredo address:port.
    fn send_teredo(&mut self, pkt: &[u8], dst4: Ipv4Addr, dport: u16, out: &mut dyn Output) {
        let len = pkt.len();
        let Some(slot) = self.scratch.get_mut(HEADROOM..HEADROOM + len) else {
            return;
        };
        slot.copy_from_slice(pkt);
        let r = &self.engine.relay;
        let (src4, sport, ttl) = (r.teredo_addr, r.teredo_port, r.teredo_ttl);
        let mut f = Frame::new(&mut self.scratch, HEADROOM, len, Port::V6);
        let v = self.engine.encap_v4(
            &mut f,
            HEADROOM,
            len,
            None,
            src4,
            dst4,
            0,
            false,
            ttl,
            Some((sport, dport)),
            false,
        );
        emit(v, &f, out);
    }

    /// T4-07 … T4-09 state update, queue flush, then the forward checks.
    fn teredo_rx(
        &mut self,
        frame: &[u8],
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
        depth: u8,
    ) {
        let l2 = l2_len(frame);
        let t = match self.engine.teredo_checks(frame, l2) {
            Ok(t) => t,
            Err(v) => return report(v, frame, out),
        };
        let now_s = now.secs();
        let (c4, cport) = teredo::mapping(&t.src6);
        let from_addr = (c4, cport) == (t.src4, t.sport);
        let idx = match peers.index_of(&t.src6) {
            Some(i) => i,
            None if self.engine.relay.accept_unknown_peers && from_addr => {
                let Ok(i) = peers.insert(&t.src6, (t.src4, t.sport), now_s) else {
                    self.engine.counters.drop(R::T6_12PeerTableFull);
                    return out.dropped(R::T6_12PeerTableFull, frame);
                };
                self.engine.counters.event(Event::PeerCreated);
                i
            }
            None => {
                self.engine.counters.drop(R::T4_07UnknownPeer);
                return out.dropped(R::T4_07UnknownPeer, frame);
            }
        };
        let Some(p) = peers.get(idx) else { return };
        let trusted_same = p.trusted_mapping() == Some((t.src4, t.sport));
        if !from_addr && !trusted_same {
            // miredo's symmetric-NAT extension: a bubble answering the
            // bubble we sent toward this peer's address-embedded mapping.
            let dst6 = crate::fastpath::v6_at(frame, t.offset + 24);
            let proof = t.bubble
                && self.engine.relay.symmetric_nat_bubbles
                && dst6 == self.bubble_source(c4, cport);
            if !proof {
                self.engine.counters.drop(R::T4_06MappingMismatch);
                return out.dropped(R::T4_06MappingMismatch, frame);
            }
        }
        // T4-08
        let was = p.trusted_mapping();
        if was.is_none() {
            self.engine.counters.event(Event::PeerTrusted);
        } else if was != Some((t.src4, t.sport)) {
            self.engine.counters.event(Event::PeerRebound);
        }
        p.set_trusted(t.src4, t.sport);
        p.touch_rx(now_s);
        if let Some(p) = peers.get_mut(idx) {
            p.bubbles = 0;
            p.failed = false;
            p.next_retry_ms = 0;
        }
        let q = peers.take_queue(idx);
        if !q.is_empty() {
            self.engine
                .counters
                .event_n(Event::QueueFlushed, q.len() as u64);
        }
        for pkt in q.iter() {
            self.send_teredo(pkt, t.src4, t.sport, out);
        }
        // T4-09: bubbles are consumed here, before any hop-limit check.
        if t.bubble {
            self.engine.counters.event(Event::BubbleRx);
            return out.consumed(frame);
        }
        self.rerun(frame, &[], depth, peers, now, out, |e, f, p, n| {
            e.teredo_forward(f, t.offset, t.len, p, n)
        });
    }

    /// Copies `l2 ‖ body` into this depth's buffer with headroom, runs `run`
    /// (an engine entry point) on it and reports the verdict; a further
    /// hand-off is handled once more (depth-bounded).
    #[expect(clippy::too_many_arguments, reason = "internal plumbing")]
    fn rerun(
        &mut self,
        l2: &[u8],
        body: &[u8],
        depth: u8,
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
        run: impl FnOnce(&mut Engine, &mut Frame<'_>, &PeerTable, Now) -> Verdict,
    ) {
        let d = usize::from(depth).min(2);
        let mut buf = std::mem::take(&mut self.fwd[d]);
        let len = l2.len() + body.len();
        if buf.len() < HEADROOM + len {
            buf.resize(HEADROOM + len, 0);
        }
        buf[HEADROOM..HEADROOM + l2.len()].copy_from_slice(l2);
        buf[HEADROOM + l2.len()..HEADROOM + len].copy_from_slice(body);
        let mut f = Frame::new(&mut buf, HEADROOM, len, Port::V4);
        let v = run(&mut self.engine, &mut f, peers, now);
        let (port, start, flen) = (f.tx_port, f.head(), f.len());
        let data = buf.get(start..start + flen).unwrap_or(&[]);
        match v {
            Verdict::Tx => out.transmit(port, data),
            Verdict::Slow(k) if depth < 2 => {
                let copy = data.to_vec();
                self.handle_depth(k, &copy, peers, now, out, depth + 1);
            }
            v => report(v, data, out),
        }
        self.fwd[d] = buf;
    }

    // ---- reassembly and ICMPv4 ----------------------------------------------

    fn reassemble(
        &mut self,
        frame: &[u8],
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
        depth: u8,
    ) {
        let l2 = l2_len(frame);
        let Some(ip) = frame.get(l2..) else { return };
        let total = usize::from(crate::fastpath::be16(ip, 2)).min(ip.len());
        match self.reasm.push(&ip[..total], now.millis()) {
            Push::Held => {
                self.engine.counters.event(Event::FragmentHeld);
                out.consumed(frame);
            }
            Push::Drop(r) => {
                self.engine.counters.drop(r);
                out.dropped(r, frame);
            }
            Push::Done(pkt) => {
                out.consumed(frame);
                self.engine.counters.event(Event::Reassembled);
                let hdr = frame.get(..l2).unwrap_or(&[]);
                self.rerun(hdr, &pkt, depth, peers, now, out, |e, f, p, n| {
                    e.process_frame(f, p, n)
                });
            }
        }
    }

    /// E-01 … E-04 (SPEC §2.5.3, §3.12).
    fn icmp4(&mut self, frame: &[u8], peers: &mut PeerTable, now: Now, out: &mut dyn Output) {
        let l2 = l2_len(frame);
        let ip = frame.get(l2..).unwrap_or(&[]);
        let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0f) * 4;
        let total = usize::from(crate::fastpath::be16(ip, 2)).min(ip.len());
        let msg = ip.get(ihl..total).unwrap_or(&[]);
        let ok = icmpv4::Packet::new_checked(msg).is_ok_and(|p| p.verify_checksum());
        let (typ, code) = (
            msg.first().copied().unwrap_or(0),
            msg.get(1).copied().unwrap_or(0),
        );
        let quote = msg.get(8..).unwrap_or(&[]);
        let qihl = usize::from(quote.first().copied().unwrap_or(0) & 0x0f) * 4;
        let r = &self.engine.relay;
        let ours_src = quote.len() >= 20 && r.relay_v4.contains(crate::fastpath::v4_at(quote, 12));
        let qproto = quote.get(9).copied().unwrap_or(0);
        let reason = if !ok || !ours_src || qihl < 20 {
            R::E03Ignored
        } else if qproto == 41 {
            let inner = quote.get(qihl..).unwrap_or(&[]);
            if typ == icmpv4::msg_type::DST_UNREACHABLE && code == icmpv4::unreach_code::FRAG_NEEDED
            {
                R::E01FragNeeded
            } else if ((typ == icmpv4::msg_type::DST_UNREACHABLE
                && code != icmpv4::unreach_code::SOURCE_ROUTE_FAILED)
                || (typ == icmpv4::msg_type::TIME_EXCEEDED && code == 0))
                && inner.len() >= 40
            {
                if r.translate_icmp4 {
                    let error = if typ == icmpv4::msg_type::TIME_EXCEEDED {
                        IcmpError::TimeExceeded
                    } else {
                        IcmpError::Unreachable(3)
                    };
                    let inner = inner.to_vec();
                    self.send_error_quoted(&inner, error, peers, now, out);
                }
                R::E02Translated
            } else {
                R::E03Ignored
            }
        } else if qproto == 17 && crate::fastpath::be16(quote, qihl) == r.teredo_port {
            if r.untrust_on_icmp4 {
                let dst6 = crate::fastpath::v6_at(quote, qihl + 8 + 24);
                if quote.len() >= qihl + 8 + 40 {
                    if let Some(p) = peers.find(&dst6) {
                        p.set_untrusted();
                    }
                }
            }
            R::E04Teredo
        } else {
            R::E03Ignored
        };
        self.engine.counters.drop(reason);
        out.dropped(reason, frame);
    }

    /// An ICMPv6 error about a (possibly truncated) quoted IPv6 packet: the
    /// payload-length field may exceed what was quoted, so it is clamped.
    fn send_error_quoted(
        &mut self,
        inner: &[u8],
        error: IcmpError,
        peers: &mut PeerTable,
        now: Now,
        out: &mut dyn Output,
    ) {
        let mut pkt = inner.to_vec();
        let plen = (pkt.len() - 40).min(usize::from(u16::MAX)) as u16;
        let claimed = crate::fastpath::be16(&pkt, 4);
        if claimed > plen {
            pkt[4..6].copy_from_slice(&plen.to_be_bytes());
        }
        self.send_error_for(&pkt, error, peers, now, out);
    }
}

fn emit(v: Verdict, f: &Frame<'_>, out: &mut dyn Output) -> bool {
    match v {
        Verdict::Tx => {
            out.transmit(f.tx_port, f.data());
            true
        }
        _ => false,
    }
}

fn report(v: Verdict, frame: &[u8], out: &mut dyn Output) {
    match v {
        Verdict::Drop(r) => out.dropped(r, frame),
        Verdict::Pass => out.passed(frame),
        Verdict::Tx | Verdict::Slow(_) => out.consumed(frame),
    }
}

/// Length of the Ethernet header (one optional 802.1Q tag).
fn l2_len(frame: &[u8]) -> usize {
    if frame.get(12..14) == Some(&[0x81, 0x00]) {
        18
    } else {
        14
    }
}

fn parse_key(hex: &str) -> Option<[u64; 2]> {
    if hex.len() != 32 {
        return None;
    }
    let a = u64::from_str_radix(hex.get(..16)?, 16).ok()?;
    let b = u64::from_str_radix(hex.get(16..)?, 16).ok()?;
    Some([a, b])
}
