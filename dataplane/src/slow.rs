//! The slow-path thread and the channels that feed it.
//!
//! ```text
//!  worker k ──SlowJob (pool buffer)──► [bounded MPSC, engine.slow_queue] ──► slow-path thread
//!     ▲                                                                        │ SlowPath::handle / tick
//!     └──────────TxJob (pool buffer)── [bounded, one per worker] ◄─────────────┘ (rate limited)
//! ```
//!
//! Workers copy a `Slow` frame into a buffer from a shared, preallocated
//! pool and `try_send` it; an empty pool or a full channel is a counted drop
//! (`c_16_congestion`), never a wait. The slow path owns no socket (a queue
//! has exactly one AF_XDP socket, owned by its worker): what it builds goes
//! back to a worker as a `TxJob`, to the worker that handed the frame over,
//! timer output round-robin; that worker copies it into a UMEM frame of the
//! side it leaves by and transmits it with its own batch. A full worker
//! channel is again `c_16_congestion`, in the slow path's block. Buffers
//! return to the pool when their job is done: no allocation after start-up
//! besides what the engine's slow path itself does (queues, reassembly).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender, TrySendError};
use crossbeam::queue::ArrayQueue;
use xrelay_engine::ratelimit::TokenBucket;
use xrelay_engine::slow::SlowPath;
use xrelay_engine::{Counters, DropReason, Now, Output, PeerTable, Port, SlowKind};

use crate::counters::{DpCounter, Tally};
use crate::kpath::KernelTx;
use crate::shm::{BlockState, BlockWriter};
use crate::xsk::monotonic_ns;

/// A pool buffer and the length of the frame in it.
#[derive(Debug)]
pub struct Buf {
    data: Box<[u8]>,
    len: usize,
}

impl Buf {
    pub fn bytes(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }
}

/// Preallocated frame buffers shared by the workers and the slow path.
#[derive(Debug, Clone)]
pub struct Pool {
    q: Arc<ArrayQueue<Box<[u8]>>>,
    buf_size: usize,
}

impl Pool {
    /// `n` buffers of `size` bytes, allocated now.
    pub fn new(n: usize, size: usize) -> Pool {
        let q = ArrayQueue::new(n.max(1));
        for _ in 0..n {
            let _ = q.push(vec![0u8; size].into_boxed_slice());
        }
        Pool {
            q: Arc::new(q),
            buf_size: size,
        }
    }
    /// A buffer holding a copy of `frame`; `None` when the pool is empty or
    /// the frame does not fit (the buffer then goes straight back).
    pub fn fill(&self, frame: &[u8]) -> Option<Buf> {
        let mut data = self.q.pop()?;
        match data.get_mut(..frame.len()) {
            Some(d) => {
                d.copy_from_slice(frame);
                Some(Buf {
                    data,
                    len: frame.len(),
                })
            }
            None => {
                self.put(Buf { data, len: 0 });
                None
            }
        }
    }
    pub fn put(&self, b: Buf) {
        // The pool never holds more than it was created with.
        let _ = self.q.push(b.data);
    }
    pub fn available(&self) -> usize {
        self.q.len()
    }
}

/// What the slow path is asked to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The engine's slow-path logic (`SlowPath::handle`).
    Engine(SlowKind),
    /// A relayed frame whose next hop the table could not resolve: give
    /// its IP packet to the kernel (`kpath`), which resolves the neighbour.
    NeighMiss,
}

/// A frame for the slow path.
#[derive(Debug)]
pub struct SlowJob {
    pub worker: u16,
    pub kind: Job,
    pub buf: Buf,
}

/// A frame the slow path built, for a worker to transmit.
#[derive(Debug)]
pub struct TxJob {
    pub port: Port,
    pub buf: Buf,
}

/// A worker's end of the channels.
#[derive(Debug)]
pub struct WorkerLink {
    worker: u16,
    jobs: Sender<SlowJob>,
    tx: Receiver<TxJob>,
    pool: Pool,
}

impl WorkerLink {
    /// Copies `frame` into a pool buffer and queues it; false (nothing
    /// queued, the caller counts C-16) when the pool is empty or the
    /// channel full.
    #[inline]
    pub fn hand_off(&mut self, kind: SlowKind, frame: &[u8]) -> bool {
        self.send_job(Job::Engine(kind), frame)
    }
    /// Queues a relayed frame whose next hop is unresolved, for the kernel
    /// path; false as for [`WorkerLink::hand_off`].
    #[inline]
    pub fn hand_off_miss(&mut self, frame: &[u8]) -> bool {
        self.send_job(Job::NeighMiss, frame)
    }
    #[inline]
    fn send_job(&mut self, kind: Job, frame: &[u8]) -> bool {
        let Some(buf) = self.pool.fill(frame) else {
            return false;
        };
        match self.jobs.try_send(SlowJob {
            worker: self.worker,
            kind,
            buf,
        }) {
            Ok(()) => true,
            Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => {
                self.pool.put(j.buf);
                false
            }
        }
    }
    /// The next frame the slow path wants sent, if any.
    #[inline]
    pub fn next_tx(&mut self) -> Option<TxJob> {
        self.tx.try_recv().ok()
    }
    /// Returns a buffer to the pool.
    #[inline]
    pub fn recycle(&mut self, b: Buf) {
        self.pool.put(b);
    }
}

/// Outcome of [`SlowLink::send_tx`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// No pool buffer, or the worker's channel is full (C-16).
    Congested,
    /// Longer than a UMEM frame can hold.
    TooBig,
}

/// The slow path's end of the channels.
#[derive(Debug)]
pub struct SlowLink {
    jobs: Receiver<SlowJob>,
    tx: Vec<Sender<TxJob>>,
    pool: Pool,
}

impl SlowLink {
    /// Receives a job (tests act as the slow path with this).
    pub fn try_job(&self) -> Option<SlowJob> {
        self.jobs.try_recv().ok()
    }
    /// Queues `frame` for transmission by `worker`.
    pub fn send_tx(&self, worker: usize, port: Port, frame: &[u8]) -> Sent {
        if frame.len() > self.pool.buf_size {
            return Sent::TooBig;
        }
        let Some(ch) = self.tx.get(worker) else {
            return Sent::Congested;
        };
        let Some(buf) = self.pool.fill(frame) else {
            return Sent::Congested;
        };
        match ch.try_send(TxJob { port, buf }) {
            Ok(()) => Sent::Queued,
            Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => {
                self.pool.put(j.buf);
                Sent::Congested
            }
        }
    }
    pub fn recycle(&self, b: Buf) {
        self.pool.put(b);
    }
}

/// The channels for `workers` workers: `queue` hand-offs in flight at most,
/// `tx_queue` frames per worker back, `pool` buffers of `buf_size` bytes.
pub fn channels(
    workers: usize,
    queue: usize,
    tx_queue: usize,
    pool: usize,
    buf_size: usize,
) -> (Vec<WorkerLink>, SlowLink) {
    let pool = Pool::new(pool, buf_size);
    let (jobs_tx, jobs_rx) = channel::bounded(queue.max(1));
    let mut links = Vec::with_capacity(workers);
    let mut txs = Vec::with_capacity(workers);
    for w in 0..workers {
        let (t, r) = channel::bounded(tx_queue.max(1));
        txs.push(t);
        links.push(WorkerLink {
            worker: w as u16,
            jobs: jobs_tx.clone(),
            tx: r,
            pool: pool.clone(),
        });
    }
    (
        links,
        SlowLink {
            jobs: jobs_rx,
            tx: txs,
            pool,
        },
    )
}

/// Slow-path output rate limit (frames per second, burst).
pub const TX_RATE: u32 = 100_000;
pub const TX_BURST: u32 = 10_000;
/// Timer period of `SlowPath::tick`.
pub const TICK: Duration = Duration::from_millis(10);

/// `Output` of the slow path inside the dataplane: every transmitted frame
/// goes to a worker through its channel, rate limited.
struct ToWorkers<'a> {
    link: &'a SlowLink,
    worker: usize,
    bucket: &'a mut TokenBucket,
    now_ms: u64,
    tally: &'a mut Tally,
    extra: &'a mut Counters,
}

impl Output for ToWorkers<'_> {
    fn transmit(&mut self, port: Port, frame: &[u8]) {
        if !self.bucket.take(self.now_ms) {
            self.tally.dp(DpCounter::SlowTxRateLimited, 1);
        } else {
            match self.link.send_tx(self.worker, port, frame) {
                Sent::Queued => {}
                Sent::Congested => self.extra.drop(DropReason::C16Congestion),
                Sent::TooBig => self.tally.dp(DpCounter::SlowTxTooBig, 1),
            }
        }
    }
    fn dropped(&mut self, _reason: DropReason, _frame: &[u8]) {}
    fn passed(&mut self, _frame: &[u8]) {
        self.tally.dp(DpCounter::PassAfterSteering, 1);
    }
}

/// The slow-path thread's state.
#[derive(Debug)]
pub struct SlowThread {
    pub slow: SlowPath,
    pub link: SlowLink,
    pub peers: Arc<RwLock<PeerTable>>,
    pub block: Option<BlockWriter>,
    pub workers: usize,
    /// Raw sockets for next-hop misses (`None`: such frames are dropped,
    /// counted `dp/neigh_miss_errors`).
    pub kernel: Option<KernelTx>,
}

impl SlowThread {
    /// Runs until `stop`: jobs as they come (the peer table write-locked
    /// once per drained burst), timers every [`TICK`], counters and
    /// heartbeat after each round.
    pub fn run(mut self, stop: &AtomicBool) {
        let mut tally = Tally::default();
        let mut extra = Counters::default();
        let mut bucket = TokenBucket::new(TX_RATE, TX_BURST);
        let mut rounds = 0u64;
        let mut rr = 0usize;
        let mut last_tick = 0u64;
        if let Some(b) = &self.block {
            b.set_state(BlockState::Running);
        }
        while !stop.load(Ordering::Relaxed) {
            let first = match self.link.jobs.recv_timeout(TICK) {
                Ok(j) => Some(j),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let now_ns = monotonic_ns();
            let now = Now(now_ns);
            {
                let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
                let mut job = first;
                let mut n = 0;
                while let Some(j) = job {
                    let mut out = ToWorkers {
                        link: &self.link,
                        worker: usize::from(j.worker),
                        bucket: &mut bucket,
                        now_ms: now.millis(),
                        tally: &mut tally,
                        extra: &mut extra,
                    };
                    match j.kind {
                        Job::Engine(kind) => {
                            self.slow
                                .handle(kind, j.buf.bytes(), &mut peers, now, &mut out)
                        }
                        Job::NeighMiss => {
                            let sent = out.bucket.take(out.now_ms);
                            let c = match (&self.kernel, sent) {
                                (_, false) => DpCounter::SlowTxRateLimited,
                                (Some(k), true) => match k.send_frame(j.buf.bytes()) {
                                    Ok(()) => DpCounter::NeighMissSent,
                                    Err(_) => DpCounter::NeighMissErrors,
                                },
                                (None, true) => DpCounter::NeighMissErrors,
                            };
                            out.tally.dp(c, 1);
                        }
                    }
                    tally.dp(DpCounter::SlowJobs, 1);
                    self.link.recycle(j.buf);
                    n += 1;
                    job = if n < 256 { self.link.try_job() } else { None };
                }
                if now_ns.saturating_sub(last_tick) >= TICK.as_nanos() as u64 {
                    last_tick = now_ns;
                    rr = (rr + 1) % self.workers.max(1);
                    let mut out = ToWorkers {
                        link: &self.link,
                        worker: rr,
                        bucket: &mut bucket,
                        now_ms: now.millis(),
                        tally: &mut tally,
                        extra: &mut extra,
                    };
                    self.slow.tick(&mut peers, now, &mut out);
                }
            }
            rounds += 1;
            tally.set_engine(self.slow.counters(), &extra);
            if let Some(b) = &self.block {
                b.flush(&mut tally, rounds, now_ns);
            }
        }
        // Jobs still queued are dropped with the channel; their buffers
        // are freed with it.
        if let Some(b) = &self.block {
            b.set_state(BlockState::Stopped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xrelay_engine::SlowKind;

    #[test]
    fn full_channel_and_empty_pool_refuse() {
        let (mut links, slow) = channels(2, 2, 1, 3, 64);
        let l0 = &mut links[0];
        assert!(l0.hand_off(SlowKind::Echo, &[1, 2, 3]));
        assert!(l0.hand_off(SlowKind::Echo, &[4]));
        // Channel of 2 is full: refused, buffer back in the pool.
        assert!(!l0.hand_off(SlowKind::Echo, &[5]));
        assert_eq!(slow.pool.available(), 1);
        let j = slow.try_job().expect("job");
        assert_eq!((j.worker, j.buf.bytes()), (0, &[1u8, 2, 3][..]));
        assert_eq!(j.kind, Job::Engine(SlowKind::Echo));
        slow.recycle(j.buf);
        // Too big for a buffer: refused.
        assert!(!l0.hand_off(SlowKind::Echo, &[0; 65]));
        assert_eq!(slow.pool.available(), 2);
        assert_eq!(slow.send_tx(1, Port::V6, &[9, 9]), Sent::Queued);
        assert_eq!(
            slow.send_tx(1, Port::V6, &[9]),
            Sent::Congested,
            "worker 1's channel holds 1"
        );
        assert_eq!(
            slow.send_tx(7, Port::V6, &[9]),
            Sent::Congested,
            "no such worker"
        );
        assert_eq!(slow.send_tx(0, Port::V6, &[0; 65]), Sent::TooBig);
        let t = links[1].next_tx().expect("tx");
        assert_eq!((t.port, t.buf.bytes()), (Port::V6, &[9u8, 9][..]));
        links[1].recycle(t.buf);
        assert!(links[1].next_tx().is_none());
        // 3 buffers: one still in the job channel.
        assert_eq!(slow.pool.available(), 2);
    }
}
