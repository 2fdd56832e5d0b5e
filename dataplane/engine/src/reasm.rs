//! IPv4 reassembly for relay traffic (C-03, SPEC §1.5, RFC 4213 §3.6).
//!
//! Bounded: at most `max_entries` datagrams in progress, each at most
//! `max_bytes`, at most `per_source` per IPv4 source, `timeout` seconds to
//! complete. Overlapping or inconsistent fragments discard the datagram.
//! No ICMPv4 Time Exceeded on timeout (SPEC §1.5 DESIGN).

use std::collections::HashMap;

use crate::verdict::DropReason;

type Key = (u32, u32, u8, u16);

#[derive(Debug)]
struct Partial {
    header: Vec<u8>,
    data: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
    deadline_ms: u64,
    created_ms: u64,
}

/// Outcome of offering one fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    /// Kept; the datagram is not complete yet.
    Held,
    /// The complete datagram (IPv4 header without options + payload).
    Done(Vec<u8>),
    /// Discarded, with the reason.
    Drop(DropReason),
}

/// The reassembly table of one slow path.
#[derive(Debug)]
pub struct Reassembler {
    table: HashMap<Key, Partial>,
    per_source: HashMap<u32, u32>,
    max_entries: usize,
    max_bytes: usize,
    max_per_source: u32,
    timeout_ms: u64,
}

impl Reassembler {
    pub fn new(max_entries: u32, max_bytes: u32, timeout_s: u32, per_source: u32) -> Reassembler {
        Reassembler {
            table: HashMap::new(),
            per_source: HashMap::new(),
            max_entries: max_entries.max(1) as usize,
            max_bytes: max_bytes.max(1500) as usize,
            max_per_source: per_source.max(1),
            timeout_ms: u64::from(timeout_s) * 1000,
        }
    }

    fn forget(&mut self, key: &Key) {
        if self.table.remove(key).is_some() {
            if let Some(n) = self.per_source.get_mut(&key.0) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(&key.0);
                }
            }
        }
    }

    /// Drops datagrams past their deadline; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let dead: Vec<Key> = self
            .table
            .iter()
            .filter(|(_, p)| p.deadline_ms <= now_ms)
            .map(|(k, _)| *k)
            .collect();
        for k in &dead {
            self.forget(k);
        }
        dead.len()
    }

    /// Offers one fragment (a whole IPv4 packet, header validated by the
    /// fast path).
    pub fn push(&mut self, ip: &[u8], now_ms: u64) -> Push {
        let Some(&vihl) = ip.first() else {
            return Push::Drop(DropReason::C03ReassemblyInvalid);
        };
        let ihl = usize::from(vihl & 0x0f) * 4;
        let total_len = ip
            .get(2..4)
            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        if ihl < 20 || total_len < ihl || total_len > ip.len() {
            return Push::Drop(DropReason::C03ReassemblyInvalid);
        }
        let word = |o: usize| {
            ip.get(o..o + 4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let flags = ip.get(6..8).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let key: Key = (
            word(12),
            word(16),
            ip[9],
            ip.get(4..6).map_or(0, |b| u16::from_be_bytes([b[0], b[1]])),
        );
        let more = flags & 0x2000 != 0;
        let start = usize::from(flags & 0x1fff) * 8;
        let payload = &ip[ihl..total_len];
        let end = start + payload.len();
        if (more && !payload.len().is_multiple_of(8)) || end > self.max_bytes || payload.is_empty()
        {
            self.forget(&key);
            return Push::Drop(DropReason::C03ReassemblyInvalid);
        }
        if !self.table.contains_key(&key) {
            let n = self.per_source.get(&key.0).copied().unwrap_or(0);
            if n >= self.max_per_source {
                return Push::Drop(DropReason::C03ReassemblyOverflow);
            }
            if self.table.len() >= self.max_entries {
                // Evict the oldest datagram in progress (counted as overflow
                // of that one; this fragment proceeds).
                if let Some(old) = self
                    .table
                    .iter()
                    .min_by_key(|(_, p)| p.created_ms)
                    .map(|(k, _)| *k)
                {
                    self.forget(&old);
                }
            }
            self.table.insert(
                key,
                Partial {
                    header: Vec::new(),
                    data: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                    deadline_ms: now_ms + self.timeout_ms,
                    created_ms: now_ms,
                },
            );
            *self.per_source.entry(key.0).or_insert(0) += 1;
        }
        let Some(p) = self.table.get_mut(&key) else {
            return Push::Drop(DropReason::C03ReassemblyInvalid);
        };
        let overlap = p.ranges.iter().any(|(s, e)| start < *e && *s < end);
        let beyond = p.total.is_some_and(|t| end > t || (!more && end != t));
        if overlap || beyond {
            self.forget(&key);
            return Push::Drop(DropReason::C03ReassemblyInvalid);
        }
        if !more {
            p.total = Some(end);
        }
        if start == 0 {
            p.header = ip[..20].to_vec();
        }
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        p.data[start..end].copy_from_slice(payload);
        p.ranges.push((start, end));
        p.ranges.sort_unstable();
        let Some(total) = p.total else {
            return Push::Held;
        };
        let mut covered = 0;
        for (s, e) in &p.ranges {
            if *s > covered {
                return Push::Held;
            }
            covered = covered.max(*e);
        }
        if covered < total || p.header.is_empty() {
            return Push::Held;
        }
        let mut out = std::mem::take(&mut p.header);
        out.extend_from_slice(&p.data[..total]);
        self.forget(&key);
        let tl = out.len();
        if tl > usize::from(u16::MAX) {
            return Push::Drop(DropReason::C03ReassemblyInvalid);
        }
        out[0] = 0x45;
        out[2..4].copy_from_slice(&(tl as u16).to_be_bytes());
        out[6..8].copy_from_slice(&[0, 0]);
        out[10..12].copy_from_slice(&[0, 0]);
        let c = !xrelay_wire::checksum::data(&out[..20]);
        out[10..12].copy_from_slice(&c.to_be_bytes());
        Push::Done(out)
    }
}
