//! The Teredo peer list (SPEC §3.5, RFC 4380 §5.2 reused by relays §5.4).
//!
//! Layout: a `Vec<Peer>` of at most `capacity` entries (grown on demand, a
//! free list reuses deleted slots) and an open-addressing index of
//! `u32` slots (linear probing, load ≤ ½, backward-shift deletion) keyed by
//! a keyed multiply-fold hash of the IPv6 address, so an attacker who picks
//! addresses cannot aim at one chain. The index is allocated zeroed, so the
//! kernel commits its pages only as they are touched.
//!
//! Concurrency model: the fast path holds `&PeerTable` for a batch and
//! only reads, except `last_rx`/`last_lookup`, which are atomics it bumps at
//! most once per second per peer. The slow path is the single writer and
//! holds `&mut PeerTable` (in the dataplane: a read lock per batch for
//! workers, the write lock for the slow path).
//!
//! Eviction (SPEC §3.5 DESIGN): an entry not looked up for
//! `idle_evict` seconds may be reclaimed. When the table is full, a CLOCK
//! hand sweeps a bounded number of entries for an idle one; none found →
//! `Full` (T6-12). `sweep` reclaims idle entries in the background.
//!
//! Memory per entry: `size_of::<Peer>()` plus two index slots (8 bytes) —
//! see `bytes_per_entry` — plus queued packets, bounded by the global cap.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// How long a received packet keeps an entry valid (RFC 4380 §5.2.4).
pub const VALIDITY_SECS: u32 = 30;

const LIVE: u64 = 1 << 63;
const TRUSTED: u64 = 1 << 62;
/// Entries the CLOCK hand inspects per insertion into a full table.
const CLOCK_SCAN: usize = 64;

/// One peer.
#[derive(Debug, Default)]
pub struct Peer {
    addr: [u8; 16],
    /// `LIVE | TRUSTED? | port << 32 | ipv4`.
    mapping: AtomicU64,
    last_rx: AtomicU32,
    last_lookup: AtomicU32,
    queued: AtomicU32,
    /// Slow-path state (single writer): when the last bubble left, `None`
    /// for a new entry (RFC 4380 §5.2.3 sets it 30 s in the past: long
    /// enough ago for any spacing rule).
    pub last_tx_ms: Option<u64>,
    /// Start of the current 300 s bubble window (RFC 4380 §5.2.6).
    pub window_start_ms: u64,
    /// When the next timer-driven bubble is due (0 = none).
    pub next_retry_ms: u64,
    /// Bubbles sent in the current window without a direct response.
    pub bubbles: u8,
    /// Budget exhausted without reply (T6-10); queue freed.
    pub failed: bool,
    /// Bumped whenever the slot is reused, so stale timers are ignored.
    pub generation: u32,
    /// Queued IPv6 packets, FIFO (SPEC §3.5 DESIGN).
    pub queue: Vec<Box<[u8]>>,
    pub queue_bytes: u32,
}

impl Peer {
    pub fn addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr)
    }
    /// The verified mapping, when trusted.
    #[inline]
    pub fn trusted_mapping(&self) -> Option<(Ipv4Addr, u16)> {
        let m = self.mapping.load(Relaxed);
        (m & TRUSTED != 0).then(|| unpack(m))
    }
    /// Whether the peer is trusted with exactly the mapping `(addr, port)`
    /// (host-order address): one load, one compare.
    #[inline(always)]
    pub(crate) fn trusted_as(&self, addr: u32, port: u16) -> bool {
        let want = TRUSTED | u64::from(port) << 32 | u64::from(addr);
        self.mapping.load(Relaxed) & (TRUSTED | 0xffff_ffff_ffff) == want
    }
    /// The mapping on record (verified or taken from the address).
    pub fn mapping(&self) -> (Ipv4Addr, u16) {
        unpack(self.mapping.load(Relaxed))
    }
    pub fn is_trusted(&self) -> bool {
        self.mapping.load(Relaxed) & TRUSTED != 0
    }
    /// T6-08: trusted, valid (received within 30 s) and nothing queued
    /// ahead → where to send.
    #[inline]
    pub fn sendable(&self, now_s: u32) -> Option<(Ipv4Addr, u16)> {
        let m = self.trusted_mapping()?;
        let fresh = now_s.wrapping_sub(self.last_rx.load(Relaxed)) < VALIDITY_SECS;
        (fresh && !self.has_queue()).then_some(m)
    }
    #[inline]
    pub fn has_queue(&self) -> bool {
        self.queued.load(Relaxed) != 0
    }
    pub fn last_rx(&self) -> u32 {
        self.last_rx.load(Relaxed)
    }
    pub fn last_lookup(&self) -> u32 {
        self.last_lookup.load(Relaxed)
    }
    /// Records a reception (at most one store per second).
    #[inline]
    pub fn touch_rx(&self, now_s: u32) {
        if self.last_rx.load(Relaxed) != now_s {
            self.last_rx.store(now_s, Relaxed);
        }
        self.touch_lookup(now_s);
    }
    #[inline]
    pub fn touch_lookup(&self, now_s: u32) {
        if self.last_lookup.load(Relaxed) != now_s {
            self.last_lookup.store(now_s, Relaxed);
        }
    }
    /// Trusts `(addr, port)` (T4-08).
    pub fn set_trusted(&self, addr: Ipv4Addr, port: u16) {
        self.mapping
            .store(pack(addr, port) | LIVE | TRUSTED, Relaxed);
    }
    /// Keeps the mapping, drops trust (E-04 option).
    pub fn set_untrusted(&self) {
        self.mapping.fetch_and(!TRUSTED, Relaxed);
    }
    /// Keeps the queued-packet count visible to the fast path in step.
    pub fn sync_queue_flag(&self) {
        self.queued.store(self.queue.len() as u32, Relaxed);
    }
    fn is_live(&self) -> bool {
        self.mapping.load(Relaxed) & LIVE != 0
    }
}

fn pack(a: Ipv4Addr, port: u16) -> u64 {
    u64::from(a.to_bits()) | (u64::from(port) << 32)
}

fn unpack(m: u64) -> (Ipv4Addr, u16) {
    (Ipv4Addr::from_bits(m as u32), (m >> 32) as u16)
}

/// Why an insertion failed (T6-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// The bounded peer table.
#[derive(Debug)]
pub struct PeerTable {
    entries: Vec<Peer>,
    free: Vec<u32>,
    /// `entry index + 1`, 0 = empty.
    slots: Box<[u32]>,
    mask: usize,
    capacity: usize,
    live: usize,
    keys: [u64; 3],
    hand: usize,
    idle_evict: u32,
    queued_bytes: u64,
}

impl PeerTable {
    /// A table for at most `capacity` peers; `seed` keys the hash.
    pub fn new(capacity: usize, idle_evict_secs: u32, seed: u64) -> PeerTable {
        let capacity = capacity.max(1);
        let nslots = (capacity * 2).next_power_of_two();
        let mut s = seed ^ 0x6a09_e667_f3bc_c908;
        let mut next = || {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let keys = [next(), next(), next() | 1];
        PeerTable {
            // Reserved up front (virtual memory only: pages are touched as
            // entries are created), so the entries never move and the
            // dataplane can ask for huge pages over the whole range
            // ([`PeerTable::memory_regions`]).
            entries: Vec::with_capacity(capacity),
            free: Vec::new(),
            slots: vec![0u32; nslots].into_boxed_slice(),
            mask: nslots - 1,
            capacity,
            live: 0,
            keys,
            hand: 0,
            idle_evict: idle_evict_secs,
            queued_bytes: 0,
        }
    }

    #[inline(always)]
    fn hash(&self, b: u128) -> usize {
        let lo = (b as u64) ^ self.keys[0];
        let hi = ((b >> 64) as u64) ^ self.keys[1];
        let m = u128::from(lo).wrapping_mul(u128::from(hi.rotate_left(23) ^ self.keys[2]));
        let h = (m as u64) ^ ((m >> 64) as u64);
        let m2 = u128::from(h ^ hi).wrapping_mul(u128::from(self.keys[2]));
        ((m2 as u64) ^ ((m2 >> 64) as u64)) as usize
    }

    /// Fast-path lookup.
    #[inline(always)]
    pub fn find(&self, a: &Ipv6Addr) -> Option<&Peer> {
        self.find_bits(a.to_bits())
    }

    /// Fast-path lookup by the address bits (`Ipv6Addr::to_bits`): a hash,
    /// usually one probe, one 128-bit compare (two 64-bit ones).
    #[inline(always)]
    pub fn find_bits(&self, key: u128) -> Option<&Peer> {
        let idx = self.index_of_bits(key)?;
        self.entries.get(idx as usize)
    }

    /// Where a lookup of `key` starts: (slot index, slot address). For
    /// prefetching a batch's lookups before running them (at 1 Mi peers
    /// the slot and the entry are each a cache miss).
    #[inline(always)]
    pub fn slot_of(&self, key: u128) -> (usize, usize) {
        let i = self.hash(key) & self.mask;
        (i, self.slots.as_ptr() as usize + i * 4)
    }

    /// The address of the entry slot `i` points at (reads the slot), if
    /// it is taken; the second stage of a batch prefetch.
    #[inline(always)]
    pub fn entry_addr(&self, i: usize) -> Option<usize> {
        let s = *self.slots.get(i)?;
        if s == 0 {
            return None;
        }
        let e = (s - 1) as usize;
        (e < self.entries.len())
            .then(|| self.entries.as_ptr() as usize + e * core::mem::size_of::<Peer>())
    }

    /// Index of the entry for `a`.
    #[inline(always)]
    pub fn index_of(&self, a: &Ipv6Addr) -> Option<u32> {
        self.index_of_bits(a.to_bits())
    }

    #[inline(always)]
    fn index_of_bits(&self, key: u128) -> Option<u32> {
        if self.live == 0 {
            return None;
        }
        let mut i = self.hash(key) & self.mask;
        loop {
            let s = *self.slots.get(i)?;
            if s == 0 {
                return None;
            }
            let e = self.entries.get((s - 1) as usize)?;
            if u128::from_be_bytes(e.addr) == key {
                return Some(s - 1);
            }
            i = (i + 1) & self.mask;
        }
    }

    pub fn get(&self, idx: u32) -> Option<&Peer> {
        self.entries.get(idx as usize).filter(|p| p.is_live())
    }

    pub fn get_mut(&mut self, idx: u32) -> Option<&mut Peer> {
        self.entries.get_mut(idx as usize).filter(|p| p.is_live())
    }

    pub fn len(&self) -> usize {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Bytes held in queues over all peers.
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes
    }

    /// Memory the table itself needs per entry at full capacity: the entry
    /// and its share of the index.
    pub fn bytes_per_entry(&self) -> usize {
        core::mem::size_of::<Peer>() + (self.slots.len() * 4).div_ceil(self.capacity)
    }

    /// Heap bytes in use now (entries, free list, index), queues excluded.
    /// The two large arrays as (address, bytes): the entries and the
    /// hash slots. Neither moves after [`PeerTable::new`] (entries are
    /// reserved for the whole capacity), so the dataplane can advise the
    /// kernel to back them with huge pages: at 1 Mi peers they span
    /// ~120 MB, and with 4 KiB pages nearly every lookup of a random peer
    /// misses the TLB twice.
    pub fn memory_regions(&self) -> [(usize, usize); 2] {
        [
            (
                self.entries.as_ptr() as usize,
                self.entries.capacity() * core::mem::size_of::<Peer>(),
            ),
            (self.slots.as_ptr() as usize, self.slots.len() * 4),
        ]
    }

    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<Peer>()
            + self.free.capacity() * 4
            + self.slots.len() * 4
    }

    /// Creates an untrusted entry for `a` with the mapping from its address
    /// (RFC 4380 §5.2.3 case 3: last reception and transmission 30 s ago).
    /// Returns the existing entry's index if there is one.
    pub fn insert(
        &mut self,
        a: &Ipv6Addr,
        mapping: (Ipv4Addr, u16),
        now_s: u32,
    ) -> Result<u32, Full> {
        if let Some(i) = self.index_of(a) {
            return Ok(i);
        }
        if self.live >= self.capacity && !self.evict_one(now_s) {
            return Err(Full);
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None if self.entries.len() < self.capacity => {
                self.entries.push(Peer::default());
                (self.entries.len() - 1) as u32
            }
            None => return Err(Full),
        };
        let Some(e) = self.entries.get_mut(idx as usize) else {
            return Err(Full);
        };
        let generation = e.generation.wrapping_add(1);
        *e = Peer::default();
        e.generation = generation;
        e.addr = a.octets();
        e.mapping.store(pack(mapping.0, mapping.1) | LIVE, Relaxed);
        e.last_rx.store(now_s.wrapping_sub(VALIDITY_SECS), Relaxed);
        e.last_lookup.store(now_s, Relaxed);
        let key = e.addr;
        let mut i = self.hash(u128::from_be_bytes(key)) & self.mask;
        while self.slots.get(i).is_some_and(|s| *s != 0) {
            i = (i + 1) & self.mask;
        }
        if let Some(s) = self.slots.get_mut(i) {
            *s = idx + 1;
        }
        self.live += 1;
        Ok(idx)
    }

    /// Deletes entry `idx` and its queue.
    pub fn remove(&mut self, idx: u32) {
        let Some(e) = self.entries.get_mut(idx as usize) else {
            return;
        };
        if !e.is_live() {
            return;
        }
        let key = e.addr;
        self.queued_bytes -= u64::from(e.queue_bytes);
        e.queue = Vec::new();
        e.queue_bytes = 0;
        e.queued.store(0, Relaxed);
        e.mapping.store(0, Relaxed);
        e.next_retry_ms = 0;
        // Find the slot, then backward-shift the rest of the cluster.
        let mut i = self.hash(u128::from_be_bytes(key)) & self.mask;
        loop {
            match self.slots.get(i) {
                Some(&s) if s == idx + 1 => break,
                Some(&0) | None => return,
                Some(_) => i = (i + 1) & self.mask,
            }
        }
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let s = self.slots.get(j).copied().unwrap_or(0);
            if s == 0 {
                break;
            }
            let home = self
                .entries
                .get((s - 1) as usize)
                .map_or(j, |e| self.hash(u128::from_be_bytes(e.addr)) & self.mask);
            // Move s into the hole if its home is not in (hole, j].
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.slots[hole] = 0;
        self.live -= 1;
        self.free.push(idx);
    }

    /// Appends a packet to a peer's queue within the per-peer and global
    /// limits (T6-11). Returns false when it does not fit.
    pub fn enqueue(
        &mut self,
        idx: u32,
        pkt: &[u8],
        max_pkts: u32,
        max_bytes: u32,
        global_cap: u64,
    ) -> bool {
        let len = pkt.len() as u32;
        if self.queued_bytes + u64::from(len) > global_cap {
            return false;
        }
        let Some(e) = self.entries.get_mut(idx as usize) else {
            return false;
        };
        if e.queue.len() as u32 >= max_pkts || e.queue_bytes + len > max_bytes {
            return false;
        }
        e.queue.push(pkt.into());
        e.queue_bytes += len;
        e.sync_queue_flag();
        self.queued_bytes += u64::from(len);
        true
    }

    /// Takes a peer's queue (FIFO order).
    pub fn take_queue(&mut self, idx: u32) -> Vec<Box<[u8]>> {
        let Some(e) = self.entries.get_mut(idx as usize) else {
            return Vec::new();
        };
        self.queued_bytes -= u64::from(e.queue_bytes);
        e.queue_bytes = 0;
        let q = std::mem::take(&mut e.queue);
        e.sync_queue_flag();
        q
    }

    fn idle(&self, e: &Peer, now_s: u32) -> bool {
        e.is_live() && now_s.wrapping_sub(e.last_lookup()) >= self.idle_evict
    }

    /// CLOCK: reclaim one idle entry near the hand.
    fn evict_one(&mut self, now_s: u32) -> bool {
        let n = self.entries.len();
        for _ in 0..CLOCK_SCAN.min(n) {
            self.hand = (self.hand + 1) % n.max(1);
            let idle = self
                .entries
                .get(self.hand)
                .is_some_and(|e| self.idle(e, now_s));
            if idle {
                self.remove(self.hand as u32);
                return true;
            }
        }
        false
    }

    /// Background reclaim: inspects up to `budget` entries, removes the idle
    /// ones; returns how many were removed.
    pub fn sweep(&mut self, now_s: u32, budget: usize) -> usize {
        let n = self.entries.len();
        let mut removed = 0;
        for _ in 0..budget.min(n) {
            self.hand = (self.hand + 1) % n.max(1);
            let idle = self
                .entries
                .get(self.hand)
                .is_some_and(|e| self.idle(e, now_s));
            if idle {
                self.remove(self.hand as u32);
                removed += 1;
            }
        }
        removed
    }

    /// Live entries (for `xrelayctl peers list` and tests).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Peer)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_live())
            .map(|(i, p)| (i as u32, p))
    }
}
