//! The frame-moving abstractions the ring loop uses, without `unsafe`:
//! UMEM geometry, [`Burst`] (a fixed-capacity batch of packets), the
//! [`Rings`] trait (one socket's four rings as the loop sees them) and its
//! results. The real implementation is `xsk::XskRings`; `mem::MemRings`
//! simulates the kernel side over plain memory.

use std::collections::VecDeque;
use std::os::fd::RawFd;

pub use xdp::slab::Slab;
pub use xdp::{Packet, Umem};

use crate::xsk::{IoError, MIN_HEADROOM, XDP_PACKET_HEADROOM};

/// UMEM geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UmemConfig {
    /// Chunk size: 2048 or 4096 (the crate's aligned mode).
    pub frame_size: u32,
    pub frames: u32,
    /// Bytes the kernel leaves free in front of each received frame.
    pub headroom: u32,
}

impl UmemConfig {
    /// Bytes of a chunk usable by a frame and its headroom.
    pub const fn capacity(&self) -> usize {
        self.frame_size as usize - XDP_PACKET_HEADROOM
    }
    /// Longest frame a chunk holds.
    pub const fn max_frame(&self) -> usize {
        self.capacity() - self.headroom as usize
    }
}

/// Maps an anonymous UMEM (no socket, no privilege needed).
pub fn map_umem(cfg: &UmemConfig) -> Result<Umem, IoError> {
    let frame_size = match cfg.frame_size {
        2048 => xdp::umem::FrameSize::TwoK,
        4096 => xdp::umem::FrameSize::FourK,
        n => {
            return Err(IoError::Umem(format!(
                "frame size {n}: must be 2048 or 4096"
            )))
        }
    };
    if (cfg.headroom as usize) < MIN_HEADROOM || cfg.max_frame() < 1514 + MIN_HEADROOM {
        return Err(IoError::Umem(format!(
            "headroom {} with frame size {}: need headroom ≥ {MIN_HEADROOM} and room for a 1514-byte frame after it",
            cfg.headroom, cfg.frame_size
        )));
    }
    let b = xdp::umem::UmemCfgBuilder {
        frame_size,
        head_room: cfg.headroom,
        frame_count: cfg.frames,
        ..Default::default()
    };
    let c = b.build().map_err(|e| IoError::Umem(format!("{e:?}")))?;
    Umem::map(c).map_err(|e| IoError::Umem(format!("mmap: {e}")))
}
/// A fixed-capacity batch of packets (the crate's `Slab` contract:
/// `push_front` in, `pop_back` out, FIFO). `limit` caps how many a ring
/// read may add, so a receive takes exactly one batch.
pub struct Burst {
    q: VecDeque<Packet>,
    limit: usize,
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst")
            .field("len", &self.q.len())
            .field("limit", &self.limit)
            .finish()
    }
}

impl Burst {
    /// Allocates once; never grows.
    pub fn with_capacity(n: usize) -> Burst {
        Burst {
            q: VecDeque::with_capacity(n),
            limit: n,
        }
    }
    /// Caps the number of packets (at most the capacity given at creation).
    pub fn set_limit(&mut self, n: usize) {
        self.limit = n;
    }
    pub fn limit(&self) -> usize {
        self.limit
    }
    /// Puts `p` at the old end (`pop_back` returns it next).
    pub fn push_back(&mut self, p: Packet) -> Option<Packet> {
        if self.q.len() < self.limit && self.q.len() < self.q.capacity() {
            self.q.push_back(p);
            None
        } else {
            Some(p)
        }
    }
    /// Takes the newest packet.
    pub fn pop_front(&mut self) -> Option<Packet> {
        self.q.pop_front()
    }
    /// The packets, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Packet> {
        self.q.iter().rev()
    }
}

impl Slab for Burst {
    fn available(&self) -> usize {
        self.limit.saturating_sub(self.q.len())
    }
    fn len(&self) -> usize {
        self.q.len()
    }
    fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
    fn push_front(&mut self, p: Packet) -> Option<Packet> {
        if self.q.len() < self.limit && self.q.len() < self.q.capacity() {
            self.q.push_front(p);
            None
        } else {
            Some(p)
        }
    }
    fn pop_back(&mut self) -> Option<Packet> {
        self.q.pop_back()
    }
}

/// Result of a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    NotNeeded,
    Sent,
    /// EAGAIN/EBUSY/ENOBUFS: the kernel did part of the work; try again.
    Busy,
    Failed,
}

/// Kernel AF_XDP statistics of one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub fill_ring_empty: u64,
    pub tx_ring_empty: u64,
}

/// The four rings of one socket, as the ring loop uses them. Frames move
/// between the rings and the UMEM's free list only through these calls.
pub trait Rings {
    /// Completion ring → free list (at most `max`).
    fn reclaim(&mut self, umem: &mut Umem, max: usize) -> usize;
    /// Free list → fill ring (at most `max`).
    fn refill(&mut self, umem: &mut Umem, max: usize) -> usize;
    /// RX ring → `into` (at most `into.available()`).
    fn receive(&mut self, umem: &Umem, into: &mut Burst) -> usize;
    /// How many frames [`Rings::transmit`] accepts now.
    fn tx_room(&self) -> usize;
    /// All of `from` → TX ring when `from.len() <= tx_room()`; otherwise
    /// nothing moves. Returns the number queued.
    fn transmit(&mut self, from: &mut Burst) -> usize;
    /// Frames handed to TX and not yet reclaimed.
    fn in_flight(&self) -> usize;
    /// Wakes the kernel's TX path if frames are in flight and it asks for it.
    fn kick_tx(&mut self) -> Kick;
    /// Wakes the driver's RX path if the fill ring asks for it (or, with
    /// busy polling, always).
    fn kick_rx(&mut self) -> Kick;
    /// The socket fd to sleep on, if any.
    fn poll_fd(&self) -> Option<RawFd>;
    /// Kernel statistics, if a socket is behind the rings.
    fn stats(&self) -> Option<XskStats>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xsk::alloc_frame;

    fn cfg(frame_size: u32, headroom: u32) -> UmemConfig {
        UmemConfig {
            frame_size,
            frames: 8,
            headroom,
        }
    }

    #[test]
    fn umem_geometry_is_checked() {
        assert!(map_umem(&cfg(4096, 64)).is_ok());
        assert!(map_umem(&cfg(2048, 64)).is_ok());
        assert!(map_umem(&cfg(2048, 31)).is_err(), "below MIN_HEADROOM");
        assert!(
            map_umem(&cfg(2048, 512)).is_err(),
            "no room for a full frame"
        );
        assert!(map_umem(&cfg(3000, 64)).is_err());
        assert_eq!(cfg(2048, 64).max_frame(), 2048 - 256 - 64);
    }

    #[test]
    fn burst_is_fifo_and_bounded() {
        let mut u = map_umem(&cfg(4096, 64)).expect("umem");
        let mut b = Burst::with_capacity(4);
        b.set_limit(3);
        for i in 0..4u8 {
            let mut p = alloc_frame(&mut u).expect("alloc");
            p.append(&[i]).expect("append");
            if let Some(p) = b.push_front(p) {
                assert_eq!(i, 3);
                u.free_packet(p);
            }
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.available(), 0);
        let firsts: Vec<u8> = b.iter().map(|p| p[0]).collect();
        assert_eq!(firsts, [0, 1, 2]);
        while let Some(p) = b.pop_back() {
            u.free_packet(p);
        }
        assert_eq!(u.allocatable(), 8);
    }
}
