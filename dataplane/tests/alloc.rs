//! The worker loop allocates nothing after start-up (STYLE hot path 1): a
//! counting global allocator observes zero allocator calls across 1 000
//! iterations of a two-armed worker over in-memory rings, with traffic of
//! every fast-path class in both directions (UMEM copies included), frames
//! handed to the slow path and slow-path frames sent back, and the
//! counters flushed to a real shared-memory block each iteration.
//!
//! One test in this binary; the counter is armed per thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use common::*;
use xrelay_dataplane::counters::DpCounter;
use xrelay_dataplane::rings::UmemConfig;
use xrelay_dataplane::shm::{BlockInfo, Role, ShmWriter};
use xrelay_dataplane::slow::Sent;
use xrelay_engine::Port;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
static CALLS: AtomicU64 = AtomicU64::new(0);

fn note() {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        CALLS.fetch_add(1, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; counting touches only an atomic and a const-initialised
// thread-local `Cell`, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ITERATIONS: usize = 1_000;

#[test]
fn the_worker_loop_does_not_allocate() {
    let cfg = config(false, None);
    let umem = UmemConfig {
        frame_size: 2048,
        frames: 512,
        headroom: 64,
    };
    let mut r = rig(&cfg, umem, 128, 32, 64);
    let shm_path = std::env::temp_dir().join(format!("xrelay-alloc-{}", std::process::id()));
    let info = BlockInfo {
        role: Role::Worker,
        queue: 0,
        core: None,
        label: "dp-test-q0".into(),
    };
    let shm = ShmWriter::create(&shm_path, &[info], 0).expect("shm");
    r.worker.set_block(shm.block(0));
    let frames: Vec<(Vec<u8>, usize)> = Class::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (f, port) = c.frame(i as u16);
            (f, usize::from(port == Port::V6))
        })
        .collect();
    for s in &mut r.worker.sides {
        s.rings.record = false;
        s.rings.tx_budget = usize::MAX;
    }
    let step = |r: &mut Rig, i: usize| {
        for (f, side) in &frames {
            r.worker.sides[*side].rings.deliver(f);
        }
        while let Some(j) = r.slow.try_job() {
            let port = if i.is_multiple_of(2) {
                Port::V4
            } else {
                Port::V6
            };
            assert_eq!(r.slow.send_tx(0, port, j.buf.bytes()), Sent::Queued);
            r.slow.recycle(j.buf);
        }
        r.worker.iterate(NOW_NS + i as u64);
    };
    // Warm-up: first touches, lazily initialised state.
    for i in 0..10 {
        step(&mut r, i);
    }
    CALLS.store(0, Relaxed);
    ARMED.with(|a| a.set(true));
    for i in 0..ITERATIONS {
        step(&mut r, i);
    }
    ARMED.with(|a| a.set(false));
    let calls = CALLS.load(Relaxed);
    let t = &r.worker.tally;
    let sent: u64 = r.worker.sides.iter().map(|s| s.rings.sent).sum();
    assert!(
        sent >= (ITERATIONS * 3) as u64,
        "traffic flowed: {sent} frames sent"
    );
    assert!(t.get_dp(DpCounter::UmemCopies) >= (ITERATIONS * 3) as u64);
    assert!(t.get_dp(DpCounter::SlowTxFrames) >= ITERATIONS as u64 - 1);
    assert_eq!(
        calls, 0,
        "allocator calls in {ITERATIONS} worker iterations"
    );
    let _ = std::fs::remove_file(&shm_path);
    for s in &mut r.worker.sides {
        s.rings.release(&mut s.umem);
    }
}
