//! The fast path and the slow path joined, for the offline mode and tests:
//! a batch goes through [`Engine::process`], then each `Slow` verdict is
//! handled in order by the [`SlowPath`], through a bounded hand-off
//! (`engine.slow_queue` frames per batch; beyond it C-16 drops, never an
//! ICMP error, RFC 4443 §3.1).

use crate::config::{Config, ConfigError};
use crate::counters::Counters;
use crate::fastpath::Engine;
use crate::frame::Frame;
use crate::idgen::IdGen;
use crate::peers::PeerTable;
use crate::slow::SlowPath;
use crate::verdict::{DropReason, Event, Port, Verdict};
use crate::Now;

/// Where the pipeline reports each frame's fate, in order.
pub trait Output {
    /// A frame the relay transmits (fast path, slow path: ICMPv6 errors,
    /// echo replies, bubbles, flushed queues).
    fn transmit(&mut self, port: Port, frame: &[u8]);
    /// A frame (or a queued packet) discarded, with the check that did it.
    fn dropped(&mut self, reason: DropReason, frame: &[u8]);
    /// A frame that is not relay traffic (for the kernel).
    fn passed(&mut self, frame: &[u8]);
    /// A frame consumed by the relay itself: an echo request answered, a
    /// bubble, a packet queued for a Teredo peer, a fragment held.
    fn consumed(&mut self, _frame: &[u8]) {}
}

/// Batch size of the offline mode and the tests.
pub const BATCH: usize = 64;

/// One engine, one slow path, one peer table.
#[derive(Debug)]
pub struct Pipeline {
    engine: Engine,
    slow: SlowPath,
    peers: PeerTable,
    slow_cap: usize,
}

impl Pipeline {
    /// A pipeline with random keys.
    pub fn new(cfg: &Config) -> Result<Pipeline, ConfigError> {
        let seed = std::collections::hash_map::RandomState::new();
        let seed = std::hash::BuildHasher::hash_one(&seed, 0x7872_656c_6179_u64);
        Self::with_seed(cfg, seed)
    }

    /// A deterministic pipeline (tests).
    pub fn with_seed(cfg: &Config, seed: u64) -> Result<Pipeline, ConfigError> {
        let engine = Engine::new(cfg, 0, 1, seed)?;
        let slow = SlowPath::new(cfg, seed)?;
        let peers = PeerTable::new(
            cfg.teredo.peer_capacity as usize,
            cfg.teredo.peer_idle_evict,
            seed ^ 0x7065_6572,
        );
        Ok(Pipeline {
            engine,
            slow,
            peers,
            slow_cap: cfg.engine.slow_queue as usize,
        })
    }

    /// Every IPv4 ID the pipeline writes becomes `id` (SPEC §5 vectors).
    pub fn set_constant_ids(&mut self, id: u16) {
        self.engine.set_id_source(IdGen::constant(id));
        self.slow.set_id_source(IdGen::constant(id));
    }

    pub fn peers(&self) -> &PeerTable {
        &self.peers
    }
    pub fn peers_mut(&mut self) -> &mut PeerTable {
        &mut self.peers
    }
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    pub fn slow(&self) -> &SlowPath {
        &self.slow
    }

    /// Runs one batch: fast path, then the slow path's share.
    pub fn process(&mut self, frames: &mut [Frame<'_>], now: Now, out: &mut dyn Output) {
        let mut verdicts = [Verdict::Pass; BATCH];
        for chunk in frames.chunks_mut(BATCH) {
            let v = &mut verdicts[..chunk.len()];
            self.engine.process(chunk, v, &self.peers, now);
            let mut handed = 0;
            for (f, v) in chunk.iter().zip(v.iter()) {
                match *v {
                    Verdict::Tx => out.transmit(f.tx_port, f.data()),
                    Verdict::Pass => out.passed(f.data()),
                    Verdict::Drop(r) => out.dropped(r, f.data()),
                    Verdict::Slow(k) => {
                        if handed >= self.slow_cap {
                            // C-16: congestion is a drop, never an ICMP error.
                            self.engine.counters.drop(DropReason::C16Congestion);
                            out.dropped(DropReason::C16Congestion, f.data());
                        } else {
                            handed += 1;
                            self.slow.handle(k, f.data(), &mut self.peers, now, out);
                        }
                    }
                }
            }
        }
    }

    /// Runs the slow path's timers.
    pub fn tick(&mut self, now: Now, out: &mut dyn Output) {
        self.slow.tick(&mut self.peers, now, out);
    }

    /// Fast-path and slow-path counters summed.
    pub fn counters(&self) -> Counters {
        let mut c = self.engine.counters().clone();
        c.merge(self.slow.counters());
        c
    }

    /// Convenience for tests: the number of frames seen by the fast path.
    pub fn rx_frames(&self) -> u64 {
        self.engine.counters().get_event(Event::RxFrames)
    }
}
