//! [`Rings`] over plain memory: the kernel's side of an AF_XDP socket
//! simulated with queues of frames of a real (anonymous, unregistered)
//! UMEM, so the ring loop and the per-batch function run in tests and
//! benchmarks without root or a NIC.
//!
//! Kernel behaviour modelled: the fill ring supplies the frame for each
//! received packet (none: the packet is dropped, as `rx_fill_ring_empty`),
//! the RX ring has `ring_size` entries (full: dropped, as `rx_ring_full`),
//! the TX ring is drained only by a kick, at most `tx_budget` frames per
//! kick (copy mode's `sendto`), into the completion ring (full: the kernel
//! stops taking from TX).

use std::collections::VecDeque;
use std::os::fd::RawFd;

use crate::rings::{Burst, Kick, Packet, Rings, Slab, Umem, XskStats};
use crate::xsk::alloc_frame;

/// A simulated socket.
pub struct MemRings {
    ring_size: usize,
    fill: VecDeque<Packet>,
    rx: VecDeque<Packet>,
    tx: VecDeque<Packet>,
    comp: VecDeque<Packet>,
    in_flight: usize,
    /// Frames one kick moves from TX to the wire.
    pub tx_budget: usize,
    /// Frames that left, in order (when `record` is set), and their count.
    pub wire: Vec<Vec<u8>>,
    pub record: bool,
    pub sent: u64,
    /// Frames the TX ring accepted.
    pub accepted: u64,
    pub stats: XskStats,
}

impl std::fmt::Debug for MemRings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemRings")
            .field("fill", &self.fill.len())
            .field("rx", &self.rx.len())
            .field("tx", &self.tx.len())
            .field("comp", &self.comp.len())
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl MemRings {
    pub fn new(ring_size: usize) -> MemRings {
        MemRings {
            ring_size,
            fill: VecDeque::with_capacity(ring_size),
            rx: VecDeque::with_capacity(ring_size),
            tx: VecDeque::with_capacity(ring_size),
            comp: VecDeque::with_capacity(ring_size),
            in_flight: 0,
            tx_budget: 32,
            wire: Vec::new(),
            record: true,
            sent: 0,
            accepted: 0,
            stats: XskStats::default(),
        }
    }

    /// The kernel receives `frame`: returns false when it was dropped.
    pub fn deliver(&mut self, frame: &[u8]) -> bool {
        if self.rx.len() >= self.ring_size {
            self.stats.rx_ring_full += 1;
            self.stats.rx_dropped += 1;
            return false;
        }
        let Some(mut p) = self.fill.pop_front() else {
            self.stats.fill_ring_empty += 1;
            self.stats.rx_dropped += 1;
            return false;
        };
        // A frame from the fill ring is empty at the UMEM headroom, as the
        // kernel would write it.
        p.clear();
        if p.append(frame).is_err() {
            self.stats.rx_dropped += 1;
            self.fill.push_front(p);
            return false;
        }
        self.rx.push_back(p);
        true
    }

    /// The kernel transmits up to `max` frames from the TX ring.
    pub fn wire_out(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.comp.len() < self.ring_size {
            let Some(p) = self.tx.pop_front() else { break };
            if self.record {
                self.wire.push(p.to_vec());
            }
            self.sent += 1;
            self.comp.push_back(p);
            n += 1;
        }
        n
    }

    /// Chunk addresses of every frame the "kernel" holds (fill, RX, TX,
    /// completion), for conservation checks.
    pub fn held_chunks(&self, frame_size: usize) -> Vec<usize> {
        self.fill
            .iter()
            .chain(self.rx.iter())
            .chain(self.tx.iter())
            .chain(self.comp.iter())
            .map(|p| chunk_of(p, frame_size))
            .collect()
    }

    pub fn fill_len(&self) -> usize {
        self.fill.len()
    }
    pub fn rx_len(&self) -> usize {
        self.rx.len()
    }
    pub fn tx_len(&self) -> usize {
        self.tx.len()
    }
    pub fn comp_len(&self) -> usize {
        self.comp.len()
    }

    /// Gives every frame back to `umem` (tests, before dropping it).
    pub fn release(&mut self, umem: &mut Umem) {
        for q in [&mut self.fill, &mut self.rx, &mut self.tx, &mut self.comp] {
            while let Some(p) = q.pop_front() {
                umem.free_packet(p);
            }
        }
        self.in_flight = 0;
    }
}

/// The chunk a packet lives in (its start address). Chunks are aligned to
/// the frame size in a page-aligned mapping, and a packet's data pointer
/// is inside its chunk.
pub fn chunk_of(p: &Packet, frame_size: usize) -> usize {
    (p.as_ptr() as usize) & !(frame_size - 1)
}

/// Chunk addresses of the free list of `umem` (takes every free frame
/// and puts it back).
pub fn free_chunks(umem: &mut Umem, frame_size: usize) -> Vec<usize> {
    let mut taken = Vec::new();
    // Every packet is given back to `umem` before returning.
    while let Some(p) = alloc_frame(umem) {
        taken.push(p);
    }
    let v = taken.iter().map(|p| chunk_of(p, frame_size)).collect();
    for p in taken {
        umem.free_packet(p);
    }
    v
}

impl Rings for MemRings {
    fn reclaim(&mut self, umem: &mut Umem, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(p) = self.comp.pop_front() else {
                break;
            };
            umem.free_packet(p);
            n += 1;
        }
        self.in_flight -= n;
        n
    }

    fn refill(&mut self, umem: &mut Umem, max: usize) -> usize {
        let room = self.ring_size - self.fill.len();
        let mut n = 0;
        while n < max.min(room) {
            // Stays in this simulated ring until it is received (then
            // freed or sent) or released to `umem`.
            let Some(p) = alloc_frame(umem) else {
                break;
            };
            self.fill.push_back(p);
            n += 1;
        }
        n
    }

    fn receive(&mut self, _umem: &Umem, into: &mut Burst) -> usize {
        let mut n = 0;
        while into.available() > 0 {
            let Some(p) = self.rx.pop_front() else { break };
            if let Some(p) = into.push_front(p) {
                self.rx.push_front(p);
                break;
            }
            n += 1;
        }
        n
    }

    fn tx_room(&self) -> usize {
        self.ring_size - self.in_flight
    }

    fn transmit(&mut self, from: &mut Burst) -> usize {
        if from.is_empty() || from.len() > self.tx_room() {
            return 0;
        }
        let mut n = 0;
        while let Some(p) = from.pop_back() {
            self.tx.push_back(p);
            n += 1;
        }
        self.in_flight += n;
        self.accepted += n as u64;
        n
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn kick_tx(&mut self) -> Kick {
        if self.in_flight == 0 || self.tx.is_empty() {
            return Kick::NotNeeded;
        }
        self.wire_out(self.tx_budget);
        if self.tx.is_empty() {
            Kick::Sent
        } else {
            Kick::Busy
        }
    }

    fn kick_rx(&mut self) -> Kick {
        Kick::NotNeeded
    }

    fn poll_fd(&self) -> Option<RawFd> {
        None
    }

    fn stats(&self) -> Option<XskStats> {
        Some(self.stats)
    }
}
