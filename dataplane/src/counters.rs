//! The counter slots of one shared-memory block, and the accumulator a
//! thread keeps locally and flushes once per batch.
//!
//! Slot order (the shared-memory layout hashes the names, so readers notice
//! a change):
//!
//! ```text
//!  [ drop/<DropReason> × DropReason::COUNT ][ event/<Event> × Event::COUNT ][ dp/<DpCounter> × DpCounter::COUNT ]
//! ```
//!
//! `drop/*` and `event/*` are the engine's own counters (fast path in worker
//! blocks, slow path in the slow-path block); `dp/*` are the dataplane's:
//! what happened to frames around the engine (UMEM copies, full rings,
//! kicks) and the kernel's AF_XDP socket statistics.

use xrelay_engine::{Counters, DropReason, Event};

macro_rules! dp_counters {
    ($($(#[$m:meta])* $var:ident => $s:literal,)*) => {
        /// Counters of the dataplane itself (not of the engine).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DpCounter { $($(#[$m])* $var,)* }
        impl DpCounter {
            /// Every counter, in slot order.
            pub const ALL: &'static [DpCounter] = &[$(DpCounter::$var,)*];
            pub const COUNT: usize = Self::ALL.len();
            /// Stable snake-case name.
            pub const fn name(self) -> &'static str {
                match self { $(DpCounter::$var => $s,)* }
            }
        }
    };
}

dp_counters! {
    /// Frames the TX rings accepted (fast path and slow path).
    TxFrames => "tx_frames",
    /// Steered by XDP, but the engine says it is not relay traffic
    /// (`Verdict::Pass`): the XDP program only steers relay classes, so
    /// the frame is counted and freed instead of being re-injected.
    PassAfterSteering => "pass_after_steering",
    /// Frames copied from one interface's UMEM to the other's (two-armed).
    UmemCopies => "umem_copies",
    /// No free frame in the UMEM a frame had to be copied into: dropped.
    UmemExhausted => "umem_exhausted",
    /// The TX ring had no room: dropped.
    TxRingFull => "tx_ring_full",
    /// `sendto` wake-ups of the TX ring.
    TxKicks => "tx_kicks",
    /// Wake-ups answered EAGAIN/EBUSY/ENOBUFS (the kernel sent part; retried).
    TxKickBusy => "tx_kick_busy",
    /// Wake-ups that failed otherwise (ENETDOWN, ENXIO, ...).
    TxKickErrors => "tx_kick_errors",
    /// `recvfrom` wake-ups of the fill ring (need_wakeup set by the driver).
    FillKicks => "fill_kicks",
    /// Frames copied into a pool buffer and queued for the slow path.
    SlowHandedOff => "slow_handed_off",
    /// Frames the slow path built that this worker transmitted.
    SlowTxFrames => "slow_tx_frames",
    /// Slow-path frames larger than a UMEM frame: dropped.
    SlowTxTooBig => "slow_tx_too_big",
    /// Hand-offs the slow-path thread processed.
    SlowJobs => "slow_jobs",
    /// Slow-path frames over the output rate limit: dropped.
    SlowTxRateLimited => "slow_tx_rate_limited",
    /// A descriptor whose bounds the engine could not be given back: freed.
    BadFrameBounds => "bad_frame_bounds",
    /// Relayed frames whose destination MAC came from the kernel's
    /// next-hop table (`--next-hops kernel`).
    NhKernel => "nh_kernel",
    /// Relayed frames sent with the static `next_hop_mac` of relay.toml
    /// (`--next-hops static`, or the FIB knows no route of that family on
    /// the egress interface).
    NhStatic => "nh_static",
    /// Next-hop misses (a route exists but none matches, or its
    /// neighbour is unresolved): handed to the slow path for the kernel.
    NeighMiss => "neigh_miss",
    /// Misses the slow path gave to the kernel (raw socket).
    NeighMissSent => "neigh_miss_sent",
    /// Misses the kernel refused (send error) or with no kernel path.
    NeighMissErrors => "neigh_miss_errors",
    /// Next-hop tables a worker picked up (one per kernel change burst).
    NhTableLoads => "nh_table_loads",
    /// Kernel AF_XDP statistics (`XDP_STATISTICS`), summed over the
    /// worker's sockets, refreshed about once a second.
    XskRxDropped => "xsk_rx_dropped",
    XskRxInvalidDescs => "xsk_rx_invalid_descs",
    XskTxInvalidDescs => "xsk_tx_invalid_descs",
    XskRxRingFull => "xsk_rx_ring_full",
    XskFillRingEmpty => "xsk_fill_ring_empty_descs",
    XskTxRingEmpty => "xsk_tx_ring_empty_descs",
}

/// Slots in a block.
pub const N_COUNTERS: usize = DropReason::COUNT + Event::COUNT + DpCounter::COUNT;

#[inline]
pub const fn slot_drop(r: DropReason) -> usize {
    r.index()
}
#[inline]
pub const fn slot_event(e: Event) -> usize {
    DropReason::COUNT + e.index()
}
#[inline]
pub const fn slot_dp(c: DpCounter) -> usize {
    DropReason::COUNT + Event::COUNT + c as usize
}

/// The name of every slot, in order: `drop/…`, `event/…`, `dp/…`.
pub fn names() -> Vec<String> {
    DropReason::ALL
        .iter()
        .map(|r| format!("drop/{}", r.name()))
        .chain(Event::ALL.iter().map(|e| format!("event/{}", e.name())))
        .chain(DpCounter::ALL.iter().map(|c| format!("dp/{}", c.name())))
        .collect()
}

/// A thread's counters: cumulative values, plus what was last written to
/// shared memory, so a flush stores only the slots that changed.
#[derive(Debug, Clone)]
pub struct Tally {
    values: [u64; N_COUNTERS],
    flushed: [u64; N_COUNTERS],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            values: [0; N_COUNTERS],
            flushed: [0; N_COUNTERS],
        }
    }
}

impl Tally {
    /// Adds an engine's counters (a batch's worth, from `take_counters`).
    pub fn add_engine(&mut self, c: &Counters) {
        for (v, d) in self.values.iter_mut().zip(c.drops.iter()) {
            *v += *d;
        }
        let ev = &mut self.values[DropReason::COUNT..DropReason::COUNT + Event::COUNT];
        for (v, d) in ev.iter_mut().zip(c.events.iter()) {
            *v += *d;
        }
    }
    /// Sets the engine slots to `c` (a cumulative snapshot, as the slow
    /// path's `counters()` returns) plus `extra`.
    pub fn set_engine(&mut self, c: &Counters, extra: &Counters) {
        for (i, v) in self.values[..DropReason::COUNT].iter_mut().enumerate() {
            *v = c.drops[i] + extra.drops[i];
        }
        let ev = &mut self.values[DropReason::COUNT..DropReason::COUNT + Event::COUNT];
        for (i, v) in ev.iter_mut().enumerate() {
            *v = c.events[i] + extra.events[i];
        }
    }
    #[inline]
    pub fn dp(&mut self, c: DpCounter, n: u64) {
        self.values[slot_dp(c)] += n;
    }
    #[inline]
    pub fn set_dp(&mut self, c: DpCounter, v: u64) {
        self.values[slot_dp(c)] = v;
    }
    #[inline]
    pub fn drop(&mut self, r: DropReason, n: u64) {
        self.values[slot_drop(r)] += n;
    }
    pub fn get(&self, slot: usize) -> u64 {
        self.values.get(slot).copied().unwrap_or(0)
    }
    pub fn get_dp(&self, c: DpCounter) -> u64 {
        self.values[slot_dp(c)]
    }
    pub fn get_drop(&self, r: DropReason) -> u64 {
        self.values[slot_drop(r)]
    }
    pub fn get_event(&self, e: Event) -> u64 {
        self.values[slot_event(e)]
    }
    /// Calls `store(slot, value)` for every slot changed since the last
    /// flush.
    #[inline]
    pub fn flush(&mut self, mut store: impl FnMut(usize, u64)) {
        for (i, (v, f)) in self.values.iter().zip(self.flushed.iter_mut()).enumerate() {
            if *v != *f {
                store(i, *v);
                *f = *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_distinct_and_named() {
        let n = names();
        assert_eq!(n.len(), N_COUNTERS);
        let mut sorted = n.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), N_COUNTERS, "names must be unique");
        assert_eq!(
            n[slot_drop(DropReason::C16Congestion)],
            "drop/c_16_congestion"
        );
        assert_eq!(n[slot_event(Event::SixToFourDecap)], "event/sixto4_decap");
        assert_eq!(
            n[slot_dp(DpCounter::PassAfterSteering)],
            "dp/pass_after_steering"
        );
        assert_eq!(
            n[N_COUNTERS - 1],
            format!("dp/{}", DpCounter::ALL[DpCounter::COUNT - 1].name())
        );
    }

    #[test]
    fn flush_stores_only_changes() {
        let mut t = Tally::default();
        let mut c = Counters::default();
        c.event(Event::SixToFourDecap);
        c.drop(DropReason::C16Congestion);
        t.add_engine(&c);
        t.dp(DpCounter::UmemCopies, 3);
        let mut stored = Vec::new();
        t.flush(|i, v| stored.push((i, v)));
        assert_eq!(
            stored,
            vec![
                (slot_drop(DropReason::C16Congestion), 1),
                (slot_event(Event::SixToFourDecap), 1),
                (slot_dp(DpCounter::UmemCopies), 3)
            ]
        );
        stored.clear();
        t.flush(|i, v| stored.push((i, v)));
        assert!(stored.is_empty());
        t.add_engine(&c);
        t.flush(|i, v| stored.push((i, v)));
        assert_eq!(stored.len(), 2);
        assert_eq!(t.get_event(Event::SixToFourDecap), 2);
    }
}
