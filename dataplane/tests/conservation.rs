//! Frame conservation (STYLE hot path 8), no root: 1 000 worker iterations
//! over in-memory rings under pressure (a small UMEM, TX stalls, a full
//! completion ring, RX and fill rings overflowing, a congested slow path,
//! slow-path frames too big for a chunk), a random mix of every verdict on
//! both sides of a two-armed worker (and a one-armed one). After every
//! iteration each UMEM frame is in exactly one place: the free list, the
//! fill ring, the RX ring, the TX ring or the completion ring; the worker
//! holds none between iterations. At the end the kernel side drains and
//! every frame is back in the free list or the fill ring.

mod common;

use common::*;
use xrelay_dataplane::counters::DpCounter;
use xrelay_dataplane::mem::free_chunks;
use xrelay_dataplane::rings::{Rings, Slab, UmemConfig};
use xrelay_dataplane::slow::Sent;
use xrelay_engine::{DropReason, Event, Port};

const BATCHES: usize = 1_000;
const BATCH: usize = 16;
const RING: usize = 64;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Every frame of every side in exactly one place.
fn check_conservation(r: &mut Rig, when: &str) {
    let fs = r.umem.frame_size as usize;
    for (i, s) in r.worker.sides.iter_mut().enumerate() {
        assert!(
            s.rx.is_empty() && s.tx.is_empty(),
            "{when}: side {i}: worker holds frames between iterations"
        );
        let mut all = free_chunks(&mut s.umem, fs);
        let free = all.len();
        all.extend(s.rings.held_chunks(fs));
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "{when}: side {i}: a frame is in two places");
        assert_eq!(
            n,
            s.frames(),
            "{when}: side {i}: {} frames accounted (free {free}, fill {}, rx {}, tx {}, comp {}), UMEM has {}",
            n,
            s.rings.fill_len(),
            s.rings.rx_len(),
            s.rings.tx_len(),
            s.rings.comp_len(),
            s.frames()
        );
    }
}

fn run(one_armed: bool, seed: u64) {
    let cfg = config(one_armed, None);
    let umem = UmemConfig {
        frame_size: 2048,
        // Two-armed, tight: copies into a UMEM whose frames sit in a
        // stalled TX ring and the fill ring exhaust it. One-armed, ample:
        // a stalled TX ring fills up.
        frames: if one_armed {
            2 * RING + 4 * BATCH
        } else {
            RING / 2 + 2 * BATCH + 8
        } as u32,
        headroom: 64,
    };
    let mut r = rig(&cfg, umem, RING, BATCH, 8);
    let mut rng = Rng(seed);
    let nsides = r.worker.sides.len();
    let mut delivered = 0u64;
    let mut slow_sent_back = 0u64;
    let mut too_big = 0u64;
    let mut stall = 0u64;
    let mut seq = 0u16;
    for b in 0..BATCHES {
        // The world: up to 3 batches of frames per side (RX ring overflow
        // and fill-ring starvation happen), every class.
        for _ in 0..rng.below(3 * BATCH as u64 + 1) {
            let c = Class::ALL[rng.below(Class::ALL.len() as u64) as usize];
            seq = seq.wrapping_add(1);
            let (f, port) = c.frame(seq);
            let side = if port == Port::V6 && nsides > 1 { 1 } else { 0 };
            if r.worker.sides[side].rings.deliver(&f) {
                delivered += 1;
            }
        }
        // The slow path: sometimes idle (its channel fills: C-16), else it
        // takes jobs and answers some of them, one of them too big.
        if rng.below(3) > 0 {
            while let Some(j) = r.slow.try_job() {
                match rng.below(4) {
                    0 => {
                        let port = if rng.below(2) == 0 {
                            Port::V4
                        } else {
                            Port::V6
                        };
                        if r.slow.send_tx(0, port, j.buf.bytes()) == Sent::Queued {
                            slow_sent_back += 1;
                        }
                    }
                    1 => {
                        let big = vec![0u8; umem.max_frame() + 1];
                        assert_eq!(r.slow.send_tx(0, Port::V4, &big), Sent::TooBig);
                        too_big += 1;
                    }
                    _ => {}
                }
                r.slow.recycle(j.buf);
            }
        }
        // The kernel's TX: stalled for stretches of batches (TX and
        // completion rings back up), else a random budget per kick.
        if stall == 0 && rng.below(25) == 0 {
            stall = 1 + rng.below(12);
        }
        for s in &mut r.worker.sides {
            s.rings.record = false;
            s.rings.tx_budget = if stall > 0 {
                0
            } else {
                [1, 8, 32, 64][rng.below(4) as usize]
            };
        }
        stall = stall.saturating_sub(1);
        r.worker.iterate(NOW_NS + b as u64 * 1_000);
        check_conservation(&mut r, &format!("batch {b}"));
    }

    // Drain: the kernel sends everything, nothing new arrives.
    for s in &mut r.worker.sides {
        s.rings.tx_budget = usize::MAX;
    }
    while let Some(j) = r.slow.try_job() {
        r.slow.recycle(j.buf);
    }
    for i in 0..100 {
        let act = r.worker.iterate(NOW_NS + (BATCHES + i) as u64 * 1_000);
        if act.idle()
            && r.worker
                .sides
                .iter()
                .all(|s| s.rings.tx_len() == 0 && s.rings.comp_len() == 0)
        {
            break;
        }
    }
    check_conservation(&mut r, "after drain");
    let t = &r.worker.tally;
    let mut accepted = 0;
    for (i, s) in r.worker.sides.iter().enumerate() {
        assert_eq!(s.rings.in_flight(), 0, "side {i}: in flight after drain");
        assert_eq!(
            s.rings.fill_len() + s.umem.allocatable(),
            s.frames(),
            "side {i}: all frames home"
        );
        assert_eq!(
            s.rings.accepted, s.rings.sent,
            "side {i}: every frame the TX ring took left"
        );
        accepted += s.rings.accepted;
    }
    // Counters reconcile with what happened.
    assert_eq!(
        t.get_event(Event::RxFrames),
        delivered,
        "every delivered frame was processed once"
    );
    assert_eq!(t.get_dp(DpCounter::TxFrames), accepted);
    assert!(
        t.get_drop(DropReason::C16Congestion) > 0,
        "the slow path was congested at times"
    );
    assert!(
        t.get_dp(DpCounter::TxRingFull) > 0,
        "the TX ring was full at times"
    );
    assert!(
        too_big > 0,
        "the slow path refused frames too big for a chunk"
    );
    assert!(
        t.get_dp(DpCounter::SlowTxFrames) > 0
            && t.get_dp(DpCounter::SlowTxFrames) <= slow_sent_back
    );
    if !one_armed {
        assert!(
            t.get_dp(DpCounter::UmemExhausted) > 0,
            "the UMEM ran out at times"
        );
        assert!(t.get_dp(DpCounter::UmemCopies) > 0);
    }
    let rx_dropped: u64 = r
        .worker
        .sides
        .iter()
        .map(|s| s.rings.stats.rx_dropped)
        .sum();
    println!(
        "{}: {BATCHES} batches, {delivered} frames received ({rx_dropped} dropped by the simulated kernel), {accepted} transmitted, \
         tx_ring_full {}, umem_exhausted {}, c_16 {}, copies {}",
        if one_armed { "one-armed" } else { "two-armed" },
        t.get_dp(DpCounter::TxRingFull),
        t.get_dp(DpCounter::UmemExhausted),
        t.get_drop(DropReason::C16Congestion),
        t.get_dp(DpCounter::UmemCopies),
    );
    for s in &mut r.worker.sides {
        s.rings.release(&mut s.umem);
    }
}

#[test]
fn no_frame_lost_or_doubled_two_armed() {
    run(false, 0x9e37_79b9_7f4a_7c15);
}

#[test]
fn no_frame_lost_or_doubled_one_armed() {
    run(true, 0x2545_f491_4f6c_dd1d);
}
