//! One worker iteration over plain memory: the per-batch function the ring
//! loop calls and the tests drive (with in-memory [`Rings`]).
//!
//! A worker has one side (one-armed) or two (two-armed: index 0 the
//! IPv4-facing interface, 1 the IPv6-facing one). Each side owns a UMEM,
//! the rings of its socket and three bursts:
//!
//! ```text
//!  completion ──reclaim──► free list ──refill──► fill ──(kernel)──► RX ──receive──► rx burst
//!                              ▲                                                       │ engine
//!                              │ free (drop, pass, slow, copied, ring full)            ▼
//!                              └───────────────────────────────────────────────── tx burst ──transmit──► TX ──(kernel)──► completion
//! ```
//!
//! Invariant (STYLE hot path 8): between iterations every frame of a UMEM
//! is in exactly one of: free list, fill ring (or the kernel's RX path), RX
//! ring, TX ring (or the kernel's TX path), completion ring. Within an
//! iteration a received frame ends in exactly one place: its side's TX
//! burst (then the TX ring) or the free list; a frame that leaves by the
//! other side is copied into a frame of the other UMEM and freed.

use xrelay_engine::{DropReason, Engine, Frame, Now, PeerTable, Port, Verdict};

use crate::counters::{DpCounter, Tally};
use crate::fib::{Hop, NextHops};
use crate::kpath::l3;
use crate::rings::{Burst, Kick, Packet, Rings, Slab, Umem, UmemConfig};
use crate::slow::WorkerLink;
use crate::xsk::{alloc_frame, prefetch};

/// One interface of a worker: its UMEM, rings and bursts. Rings are
/// declared before the UMEM so they are dropped first.
pub struct Side<R> {
    pub rings: R,
    pub umem: Umem,
    pub rx: Burst,
    pub tx: Burst,
    /// Holds the part of `tx` the TX ring has room for.
    spill: Burst,
    pub role: Port,
    headroom: usize,
    max_frame: usize,
    frames: usize,
}

impl<R> std::fmt::Debug for Side<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Side")
            .field("role", &self.role)
            .field("free", &self.umem.allocatable())
            .field("rx", &self.rx)
            .field("tx", &self.tx)
            .finish_non_exhaustive()
    }
}

impl<R: Rings> Side<R> {
    /// `batch` frames per receive; the TX burst holds what one iteration
    /// can produce for this side (own batch, the other side's batch,
    /// slow-path frames).
    pub fn new(rings: R, umem: Umem, cfg: &UmemConfig, role: Port, batch: usize) -> Side<R> {
        let mut rx = Burst::with_capacity(batch);
        rx.set_limit(batch);
        Side {
            rings,
            frames: umem.capacity(),
            umem,
            rx,
            tx: Burst::with_capacity(3 * batch),
            spill: Burst::with_capacity(3 * batch),
            role,
            headroom: cfg.headroom as usize,
            max_frame: cfg.max_frame(),
        }
    }

    /// Frames of this side's UMEM.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Returns `p` to this side's free list.
    #[inline]
    fn free(&mut self, p: Packet) {
        self.umem.free_packet(p);
    }

    /// A fresh frame holding a copy of `data` (at the UMEM headroom).
    #[inline]
    fn copy_in(&mut self, data: &[u8]) -> Result<Packet, DpCounter> {
        if data.len() > self.max_frame {
            return Err(DpCounter::SlowTxTooBig);
        }
        // Queued for TX on this side or freed back within the iteration.
        let Some(mut p) = alloc_frame(&mut self.umem) else {
            return Err(DpCounter::UmemExhausted);
        };
        if p.append(data).is_err() {
            self.umem.free_packet(p);
            return Err(DpCounter::SlowTxTooBig);
        }
        Ok(p)
    }

    /// Queues `p` for TX; a full burst frees it (counted).
    #[inline]
    fn queue_tx(&mut self, p: Packet, tally: &mut Tally) {
        if let Some(p) = self.tx.push_front(p) {
            tally.dp(DpCounter::TxRingFull, 1);
            self.free(p);
        }
    }

    /// Moves the TX burst to the TX ring: all of it, or as much as fits;
    /// what does not fit is freed and counted as `tx_ring_full`.
    pub fn flush_tx(&mut self, tally: &mut Tally) -> usize {
        if self.tx.is_empty() {
            return 0;
        }
        let room = self.rings.tx_room();
        let sent = if self.tx.len() <= room {
            self.rings.transmit(&mut self.tx)
        } else {
            self.spill.set_limit(room);
            while self.spill.available() > 0 {
                let Some(p) = self.tx.pop_back() else { break };
                if let Some(p) = self.spill.push_front(p) {
                    self.free(p);
                    tally.dp(DpCounter::TxRingFull, 1);
                }
            }
            let s = self.rings.transmit(&mut self.spill);
            while let Some(p) = self.spill.pop_back() {
                tally.dp(DpCounter::TxRingFull, 1);
                self.free(p);
            }
            s
        };
        while let Some(p) = self.tx.pop_back() {
            tally.dp(DpCounter::TxRingFull, 1);
            self.free(p);
        }
        sent
    }

    /// Kicks TX if needed, counting the outcome.
    pub fn kick_tx(&mut self, tally: &mut Tally) {
        match self.rings.kick_tx() {
            Kick::NotNeeded => {}
            Kick::Sent => tally.dp(DpCounter::TxKicks, 1),
            Kick::Busy => {
                tally.dp(DpCounter::TxKicks, 1);
                tally.dp(DpCounter::TxKickBusy, 1);
            }
            Kick::Failed => tally.dp(DpCounter::TxKickErrors, 1),
        }
    }
}

/// Which side a port leaves by: one side serves both ports.
#[inline]
pub fn side_of(port: Port, sides: usize) -> usize {
    match port {
        Port::V6 if sides > 1 => 1,
        _ => 0,
    }
}

/// What the per-batch function needs besides the sides.
#[derive(Debug)]
pub struct BatchCtx<'a> {
    pub engine: &'a mut Engine,
    pub tally: &'a mut Tally,
    pub peers: &'a PeerTable,
    pub now: Now,
    pub link: &'a mut WorkerLink,
    /// The next-hop table for this batch (loaded once per batch).
    pub next_hops: &'a NextHops,
}

/// The post-pass on a frame the engine transmits: looks its destination
/// up in the next-hop table — the outer IPv4 destination of an IPv4 frame
/// (encapsulated), the IPv6 destination of an IPv6 frame (decapsulated,
/// native) — and on a hit rewrites the destination MAC the engine wrote
/// (its static `next_hop_mac`). Returns what the table said.
#[inline]
pub fn apply_next_hop(nh: &NextHops, frame: &mut [u8]) -> Hop {
    let Some((off, et)) = l3(frame) else {
        return Hop::Static;
    };
    let hop = match et {
        0x0800 => match frame.get(off + 16..off + 20) {
            Some(d) => nh.v4(u32::from_be_bytes([d[0], d[1], d[2], d[3]])),
            None => Hop::Static,
        },
        0x86dd => match frame
            .get(off + 24..off + 40)
            .and_then(|d| <[u8; 16]>::try_from(d).ok())
        {
            Some(d) => nh.v6(u128::from_be_bytes(d)),
            None => Hop::Static,
        },
        _ => Hop::Static,
    };
    if let (Hop::Mac(m), Some(d)) = (hop, frame.get_mut(0..6)) {
        d.copy_from_slice(&m);
    }
    hop
}

/// From this many Teredo peers on, a batch's peer lookups are prefetched
/// first: below it the table's hot part stays in cache and the extra
/// pass would only cost.
pub const PREFETCH_PEERS: usize = 4096;

/// Prefetches the peer-table slots, then the entries, that the frames of
/// `rx` will look up: two passes of independent loads, so a batch waits
/// about one memory latency per stage instead of two per frame (measured
/// in docs/benchmarks.md, Teredo rows at 1 Mi peers).
#[inline]
fn prefetch_peers(rx: &Burst, ctx: &BatchCtx<'_>) {
    let mut slots = [0usize; PREFETCH_MAX];
    let mut n = 0;
    for p in rx.iter().take(PREFETCH_MAX) {
        if let Some(k) = ctx.engine.peer_key(p) {
            let (i, a) = ctx.peers.slot_of(k);
            prefetch(a);
            if let Some(s) = slots.get_mut(n) {
                *s = i;
                n += 1;
            }
        }
    }
    for &i in slots.iter().take(n) {
        if let Some(a) = ctx.peers.entry_addr(i) {
            prefetch(a);
            prefetch(a + 64);
        }
    }
}

/// Frames per prefetch pass (a batch is at most this).
const PREFETCH_MAX: usize = 64;

/// Applies the next-hop table to an outgoing frame and counts the outcome;
/// false on a miss: the frame went to the slow path (the kernel path) or,
/// when that is congested, was dropped (C-16). The caller frees it.
#[inline]
fn next_hop_or_miss(
    nh: &NextHops,
    frame: &mut [u8],
    link: &mut WorkerLink,
    tally: &mut Tally,
) -> bool {
    match apply_next_hop(nh, frame) {
        Hop::Mac(_) => tally.dp(DpCounter::NhKernel, 1),
        Hop::Static => tally.dp(DpCounter::NhStatic, 1),
        Hop::Miss => {
            tally.dp(DpCounter::NeighMiss, 1);
            if !link.hand_off_miss(frame) {
                tally.drop(DropReason::C16Congestion, 1);
            }
            return false;
        }
    }
    true
}

/// Runs the engine over the frames in `sides[from].rx` (all of them) and
/// routes each to exactly one place. Returns the number processed.
pub fn process_rx<R: Rings>(sides: &mut [Side<R>], from: usize, ctx: &mut BatchCtx<'_>) -> usize {
    let nsides = sides.len();
    if ctx.peers.len() >= PREFETCH_PEERS {
        prefetch_peers(&sides[from].rx, ctx);
    }
    let mut n = 0;
    while let Some(mut pkt) = sides[from].rx.pop_back() {
        n += 1;
        let side = &mut sides[from];
        let (headroom, role) = (side.headroom, side.role);
        // Widen the packet to the whole data area of its chunk, run the
        // engine on it, narrow it to the new bounds.
        let cap = pkt.capacity();
        let len = pkt.len();
        if pkt.adjust_head(-(headroom as i32)).is_err()
            || pkt.adjust_tail((cap - headroom - len) as i32).is_err()
        {
            ctx.tally.dp(DpCounter::BadFrameBounds, 1);
            side.free(pkt);
            continue;
        }
        let (verdict, head, flen, tx_port) = {
            let mut f = Frame::new(&mut pkt, headroom, len, role);
            let v = ctx.engine.process_frame(&mut f, ctx.peers, ctx.now);
            if let Verdict::Slow(kind) = v {
                if ctx.link.hand_off(kind, f.data()) {
                    ctx.tally.dp(DpCounter::SlowHandedOff, 1);
                } else {
                    // C-16: congestion is a drop, never an ICMP error.
                    ctx.tally.drop(DropReason::C16Congestion, 1);
                }
            }
            (v, f.head(), f.len(), f.tx_port)
        };
        // Back to the frame's own bounds (every verdict: a freed packet
        // must carry a head inside its chunk).
        if pkt.adjust_head(head as i32).is_err()
            || pkt.adjust_tail(-((cap - head - flen) as i32)).is_err()
        {
            ctx.tally.dp(DpCounter::BadFrameBounds, 1);
            side.free(pkt);
            continue;
        }
        match verdict {
            Verdict::Tx => {
                if !next_hop_or_miss(ctx.next_hops, &mut pkt, ctx.link, ctx.tally) {
                    sides[from].free(pkt);
                    continue;
                }
                let to = side_of(tx_port, nsides);
                if to == from {
                    sides[from].queue_tx(pkt, ctx.tally);
                } else {
                    // Two-armed: the frame leaves by the other interface,
                    // whose socket has its own UMEM (the crate has no
                    // shared UMEM): copy, then free the original.
                    let r = sides[to].copy_in(&pkt);
                    sides[from].free(pkt);
                    match r {
                        Ok(p) => {
                            ctx.tally.dp(DpCounter::UmemCopies, 1);
                            sides[to].queue_tx(p, ctx.tally);
                        }
                        Err(c) => ctx.tally.dp(c, 1),
                    }
                }
            }
            Verdict::Pass => {
                // The XDP program steers only relay classes; what the
                // engine passes anyway is counted and freed (DESIGN note
                // in docs/architecture.md "Dataplane").
                ctx.tally.dp(DpCounter::PassAfterSteering, 1);
                sides[from].free(pkt);
            }
            Verdict::Drop(_) | Verdict::Slow(_) => sides[from].free(pkt),
        }
    }
    n
}

/// Queues up to `max` frames the slow path built (their next hop from the
/// table, as for relayed frames); returns how many.
pub fn slow_tx<R: Rings>(
    sides: &mut [Side<R>],
    link: &mut WorkerLink,
    tally: &mut Tally,
    next_hops: &NextHops,
    max: usize,
) -> usize {
    let mut n = 0;
    while n < max {
        let Some(job) = link.next_tx() else { break };
        n += 1;
        let to = side_of(job.port, sides.len());
        match sides[to].copy_in(job.buf.bytes()) {
            Ok(mut p) => {
                if next_hop_or_miss(next_hops, &mut p, link, tally) {
                    tally.dp(DpCounter::SlowTxFrames, 1);
                    sides[to].queue_tx(p, tally);
                } else {
                    sides[to].free(p);
                }
            }
            Err(c) => tally.dp(c, 1),
        }
        link.recycle(job.buf);
    }
    n
}
