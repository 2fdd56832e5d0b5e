//! Per-worker counters: one writer, plain integers, summed by readers.

use crate::verdict::{DropReason, Event};

/// Drop and event counters of one engine instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub drops: [u64; DropReason::COUNT],
    pub events: [u64; Event::COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            drops: [0; DropReason::COUNT],
            events: [0; Event::COUNT],
        }
    }
}

impl Counters {
    #[inline]
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r.index()] += 1;
    }
    #[inline]
    pub fn event(&mut self, e: Event) {
        self.events[e.index()] += 1;
    }
    #[inline]
    pub fn event_n(&mut self, e: Event, n: u64) {
        self.events[e.index()] += n;
    }
    pub fn get_drop(&self, r: DropReason) -> u64 {
        self.drops[r.index()]
    }
    pub fn get_event(&self, e: Event) -> u64 {
        self.events[e.index()]
    }
    /// Sum of every drop reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += *b;
        }
        for (a, b) in self.events.iter_mut().zip(other.events.iter()) {
            *a += *b;
        }
    }
    /// Non-zero counters by stable name: drops first, then events.
    pub fn iter_nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (r.name(), self.drops[r.index()]))
            .chain(
                Event::ALL
                    .iter()
                    .map(|e| (e.name(), self.events[e.index()])),
            )
            .filter(|(_, v)| *v != 0)
    }
    /// Non-zero drop counters only.
    pub fn drops_nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops[r.index()]))
            .filter(|(_, v)| *v != 0)
    }
    /// Non-zero event counters only.
    pub fn events_nonzero(&self) -> impl Iterator<Item = (Event, u64)> + '_ {
        Event::ALL
            .iter()
            .map(|e| (*e, self.events[e.index()]))
            .filter(|(_, v)| *v != 0)
    }
}
