//! The minimal AF_XDP forwarder (reference point): what any AF_XDP relay
//! on this box costs before it looks at a packet. It uses the dataplane's
//! I/O layer over the same `xdp` crate (`xrelay_dataplane::xsk`: UMEM,
//! sockets, need_wakeup, kicks) with the dataplane's geometry (ring 2048,
//! batch 64, 4096-byte chunks, headroom 64), receives on both relay
//! interfaces, and transmits each frame unchanged on the other one. Like
//! the dataplane, each socket owns its UMEM (the crate has no shared-UMEM
//! API), so a frame is copied once into the other side's UMEM; no engine,
//! no counters, no next-hop lookup, no slow path.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, Result};
use xrelay_dataplane::rings::{map_umem, Burst, Rings, Slab as _, Umem, UmemConfig};
use xrelay_dataplane::xsk::{alloc_frame, BindMode, SocketConfig, XskRings};

pub const BATCH: usize = 64;
const RING: u32 = 2048;

struct Side {
    rings: XskRings,
    umem: Umem,
    rx: Burst,
    tx: Burst,
}

/// Opens one socket per interface (queue 0, copy mode) and registers it
/// with `register` (the XSKMAP of the XDP program on that interface).
pub fn run(
    ifaces: [&str; 2],
    register: &mut dyn FnMut(usize, &XskRings) -> Result<()>,
    ready: &AtomicBool,
    stop: &AtomicBool,
) -> Result<u64> {
    let ucfg = UmemConfig {
        frame_size: 4096,
        frames: 2 * RING + 4 * BATCH as u32,
        headroom: 64,
    };
    let mut sides = Vec::new();
    for iface in ifaces {
        let umem = map_umem(&ucfg).map_err(|e| anyhow!("{e}"))?;
        let cfg = SocketConfig {
            iface: iface.to_owned(),
            queue: 0,
            ring_size: RING,
            bind: BindMode::Copy,
            busy_poll: None,
            tx_budget: 4 * BATCH as u32,
        };
        let rings = XskRings::open(&umem, &cfg, &mut |_| {}).map_err(|e| anyhow!("{e}"))?;
        let mut rx = Burst::with_capacity(BATCH);
        rx.set_limit(BATCH);
        sides.push(Side {
            rings,
            umem,
            rx,
            tx: Burst::with_capacity(2 * BATCH),
        });
    }
    for (i, s) in sides.iter_mut().enumerate() {
        let n = s.umem.allocatable().saturating_sub(2 * BATCH);
        s.rings.refill(&mut s.umem, n);
        register(i, &s.rings)?;
    }
    ready.store(true, Ordering::Release);
    let mut moved = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for i in 0..2 {
            let s = &mut sides[i];
            s.rings.reclaim(&mut s.umem, usize::MAX);
            let n = s.umem.allocatable().saturating_sub(2 * BATCH);
            if n > 0 {
                s.rings.refill(&mut s.umem, n);
            }
            s.rings.kick_rx();
            let (a, b) = sides.split_at_mut(1);
            let (s, o) = if i == 0 {
                (&mut a[0], &mut b[0])
            } else {
                (&mut b[0], &mut a[0])
            };
            s.rings.receive(&s.umem, &mut s.rx);
            while let Some(p) = s.rx.pop_back() {
                if let Some(mut q) = alloc_frame(&mut o.umem) {
                    if q.append(&p).is_ok() {
                        if let Some(q) = o.tx.push_front(q) {
                            o.umem.free_packet(q);
                        }
                    } else {
                        o.umem.free_packet(q);
                    }
                }
                s.umem.free_packet(p);
            }
        }
        for s in &mut sides {
            if !s.tx.is_empty() {
                let room = s.rings.tx_room();
                while s.tx.len() > room {
                    if let Some(p) = s.tx.pop_back() {
                        s.umem.free_packet(p);
                    }
                }
                moved += s.rings.transmit(&mut s.tx) as u64;
            }
            s.rings.kick_tx();
        }
    }
    Ok(moved)
}
