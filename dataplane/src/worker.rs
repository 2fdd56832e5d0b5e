//! The ring loop of one worker: one thread per receive queue, pinned to a
//! core, named `dp-<if>-q<n>`, owning one side (one-armed) or two
//! (two-armed: the IPv4-facing and the IPv6-facing interface's socket of
//! the same queue number).
//!
//! One iteration ([`Worker::iterate`]): reclaim completions → refill the
//! fill ring (keeping a reserve of free frames for copies and slow-path
//! frames) → the next-hop table loaded (once per batch) → receive one batch
//! per side and run [`batch::process_rx`] with the peer table read-locked
//! once → slow-path frames → TX → kick →
//! counters and heartbeat flushed to the worker's shared-memory block.
//! When an iteration found nothing to do the loop sleeps in `poll(2)` on
//! the sockets for at most [`IDLE_WAIT`] (or, with busy polling, kicks the
//! RX path and spins).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use xrelay_engine::{Engine, Now, PeerTable};

use crate::batch::{self, BatchCtx, Side};
use crate::counters::{DpCounter, Tally};
use crate::fib::NextHopReader;
use crate::rings::{Kick, Rings, XskStats};
use crate::shm::{BlockState, BlockWriter};
use crate::slow::WorkerLink;
use crate::xsk;

/// Longest sleep of an idle worker (also the heartbeat period when idle).
pub const IDLE_WAIT: Duration = Duration::from_millis(10);
/// Kernel socket statistics are read this often.
const STATS_EVERY_NS: u64 = 1_000_000_000;

/// Thread name for queue `q` of interface `iface`, at most 15 bytes
/// (`dp-` + interface, truncated, + `-q<n>`).
pub fn thread_name(iface: &str, q: u32) -> String {
    let tail = format!("-q{q}");
    let room = 15usize.saturating_sub(3 + tail.len());
    let ifpart: String = iface.chars().take(room).collect();
    format!("dp-{ifpart}{tail}")
}

/// What an iteration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    pub received: usize,
    pub slow_tx: usize,
    pub transmitted: usize,
    pub in_flight: usize,
}

impl Activity {
    pub fn idle(&self) -> bool {
        self.received == 0 && self.slow_tx == 0 && self.transmitted == 0 && self.in_flight == 0
    }
}

/// One worker.
#[derive(Debug)]
pub struct Worker<R> {
    pub sides: Vec<Side<R>>,
    pub engine: Engine,
    pub tally: Tally,
    pub link: WorkerLink,
    peers: Arc<RwLock<PeerTable>>,
    block: Option<BlockWriter>,
    batch: usize,
    /// Free frames kept out of the fill ring: room for copies from the
    /// other side and slow-path frames.
    reserve: usize,
    busy_poll: bool,
    iterations: u64,
    last_stats_ns: u64,
    next_hops: NextHopReader,
}

impl<R: Rings> Worker<R> {
    pub fn new(
        sides: Vec<Side<R>>,
        engine: Engine,
        link: WorkerLink,
        peers: Arc<RwLock<PeerTable>>,
        block: Option<BlockWriter>,
        batch: usize,
        busy_poll: bool,
    ) -> Worker<R> {
        Worker {
            sides,
            engine,
            tally: Tally::default(),
            link,
            peers,
            block,
            batch,
            reserve: 2 * batch,
            busy_poll,
            iterations: 0,
            last_stats_ns: 0,
            next_hops: NextHopReader::fixed(),
        }
    }

    /// Where the worker takes its next-hop table from (default: none, the
    /// static MACs of relay.toml).
    pub fn set_next_hops(&mut self, r: NextHopReader) {
        self.next_hops = r;
    }

    /// Replaces the shared-memory block the worker flushes to.
    pub fn set_block(&mut self, block: Option<BlockWriter>) {
        self.block = block;
    }

    /// Fills every side's fill ring as far as the UMEM allows (start-up
    /// step "fill ring primed"; also part of each iteration).
    pub fn prime(&mut self) -> usize {
        let mut n = 0;
        for s in &mut self.sides {
            let want = s.umem.allocatable().saturating_sub(self.reserve);
            n += s.rings.refill(&mut s.umem, want);
        }
        n
    }

    /// One iteration of the loop at time `now_ns`.
    pub fn iterate(&mut self, now_ns: u64) -> Activity {
        let mut act = Activity::default();
        let now = Now(now_ns);
        for s in &mut self.sides {
            let frames = s.frames();
            s.rings.reclaim(&mut s.umem, frames);
            let want = s.umem.allocatable().saturating_sub(self.reserve);
            if want > 0 {
                s.rings.refill(&mut s.umem, want);
            }
            if matches!(s.rings.kick_rx(), Kick::Sent | Kick::Busy) {
                self.tally.dp(DpCounter::FillKicks, 1);
            }
        }
        if self.next_hops.refresh() {
            self.tally.dp(DpCounter::NhTableLoads, 1);
        }
        let next_hops = self.next_hops.table();
        {
            let peers = self.peers.read().unwrap_or_else(|e| e.into_inner());
            let mut ctx = BatchCtx {
                engine: &mut self.engine,
                tally: &mut self.tally,
                peers: &peers,
                now,
                link: &mut self.link,
                next_hops,
            };
            for i in 0..self.sides.len() {
                let s = &mut self.sides[i];
                let got = s.rings.receive(&s.umem, &mut s.rx);
                if got > 0 {
                    act.received += batch::process_rx(&mut self.sides, i, &mut ctx);
                }
            }
        }
        act.slow_tx = batch::slow_tx(
            &mut self.sides,
            &mut self.link,
            &mut self.tally,
            next_hops,
            self.batch,
        );
        for s in &mut self.sides {
            let sent = s.flush_tx(&mut self.tally);
            self.tally.dp(DpCounter::TxFrames, sent as u64);
            act.transmitted += sent;
            s.kick_tx(&mut self.tally);
            act.in_flight += s.rings.in_flight();
        }
        self.iterations += 1;
        if now_ns.saturating_sub(self.last_stats_ns) >= STATS_EVERY_NS {
            self.last_stats_ns = now_ns;
            self.read_stats();
        }
        self.tally.add_engine(&self.engine.take_counters());
        if let Some(b) = &self.block {
            b.flush(&mut self.tally, self.iterations, now_ns);
        }
        act
    }

    fn read_stats(&mut self) {
        let mut sum = XskStats::default();
        let mut any = false;
        for s in &self.sides {
            if let Some(st) = s.rings.stats() {
                any = true;
                sum.rx_dropped += st.rx_dropped;
                sum.rx_invalid_descs += st.rx_invalid_descs;
                sum.tx_invalid_descs += st.tx_invalid_descs;
                sum.rx_ring_full += st.rx_ring_full;
                sum.fill_ring_empty += st.fill_ring_empty;
                sum.tx_ring_empty += st.tx_ring_empty;
            }
        }
        if any {
            let t = &mut self.tally;
            t.set_dp(DpCounter::XskRxDropped, sum.rx_dropped);
            t.set_dp(DpCounter::XskRxInvalidDescs, sum.rx_invalid_descs);
            t.set_dp(DpCounter::XskTxInvalidDescs, sum.tx_invalid_descs);
            t.set_dp(DpCounter::XskRxRingFull, sum.rx_ring_full);
            t.set_dp(DpCounter::XskFillRingEmpty, sum.fill_ring_empty);
            t.set_dp(DpCounter::XskTxRingEmpty, sum.tx_ring_empty);
        }
    }

    /// Runs until `stop` is set, then lets in-flight TX complete (bounded).
    pub fn run(&mut self, stop: &AtomicBool) {
        if let Some(b) = &self.block {
            b.set_state(BlockState::Running);
        }
        let mut fds = [0; 2];
        let nfds = self
            .sides
            .iter()
            .filter_map(|s| s.rings.poll_fd())
            .zip(fds.iter_mut())
            .map(|(fd, slot)| *slot = fd)
            .count();
        while !stop.load(Ordering::Relaxed) {
            let act = self.iterate(xsk::monotonic_ns());
            if act.idle() && !self.busy_poll {
                xsk::wait_readable(&fds[..nfds], IDLE_WAIT);
            }
        }
        for _ in 0..100 {
            let act = self.iterate(xsk::monotonic_ns());
            if act.in_flight == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(b) = &self.block {
            b.set_state(BlockState::Stopped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::thread_name;

    #[test]
    fn thread_names_fit_15_bytes() {
        assert_eq!(thread_name("xr-t4-r4", 0), "dp-xr-t4-r4-q0");
        assert_eq!(thread_name("eth1", 12), "dp-eth1-q12");
        let long = thread_name("enp129s0f1np1", 123);
        assert_eq!(long, "dp-enp129s-q123");
        assert!(long.len() <= 15);
    }
}
