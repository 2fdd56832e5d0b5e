//! xrelay's dataplane process (`xrelay-dataplane`): AF_XDP workers, one per
//! (interface, receive queue) group, pinned to cores; a slow-path thread;
//! shared-memory counters. See `docs/architecture.md` "Dataplane".
//!
//! ```text
//!  xsk      the I/O layer over the `xdp` crate: UMEM, socket, rings,
//!           need_wakeup, kicks (the only module with `unsafe`, with shm)
//!  rings    UMEM geometry, `Burst`, the `Rings` trait the loop sees (no `unsafe`)
//!  batch    one worker iteration over plain memory: engine per frame,
//!           every frame to exactly one place (TX burst or free list)
//!  worker   the ring loop, idle wait, statistics, heartbeat
//!  slow     the slow-path thread, its bounded channels and buffer pool
//!  fib      next hops from the kernel: netlink sync (`dp-fib`) and the
//!           immutable table the workers load once per batch
//!  kpath    raw sockets through which next-hop misses reach the kernel
//!  counters the counter slots and the per-thread accumulator
//!  mem      in-memory `Rings` (the kernel side simulated) for tests and benches
//!  shm      the shared-memory counter file (writer and reader)
//!  opts     the command line
//!  peersock the peer socket: the Teredo peer table for `xrelayctl peers`
//! ```

#![deny(unsafe_code)]

pub mod batch;
pub mod counters;
pub mod fib;
#[expect(
    unsafe_code,
    reason = "setsockopt(SO_BINDTODEVICE, IPV6_HDRINCL) on raw sockets"
)]
pub mod kpath;
pub mod mem;
pub mod opts;
pub mod peersock;
pub mod rings;
#[expect(unsafe_code, reason = "shared-memory mapping and atomic views of it")]
pub mod shm;
pub mod slow;
pub mod worker;
#[expect(unsafe_code, reason = "the AF_XDP I/O layer: ring mappings, syscalls")]
pub mod xsk;
