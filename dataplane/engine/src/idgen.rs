//! IPv4 Identification for the datagrams the relay originates (SPEC §1.6).
//!
//! RFC 6864 §4 wants IDs unique per (src, dst, protocol) within the maximum
//! datagram lifetime for non-atomic datagrams, and tunnel ingresses are
//! included (§4.3). We keep 2^16 counters keyed by a hash of the destination
//! and give each worker a disjoint slice of the ID space: the top
//! `log2(workers)` bits carry the worker index, so two workers encapsulating
//! toward the same host never collide.

/// Per-worker ID source.
#[derive(Debug, Clone)]
pub struct IdGen {
    buckets: Box<[u16]>,
    worker_bits: u32,
    worker: u16,
    constant: Option<u16>,
}

const BUCKETS: usize = 1 << 16;

impl IdGen {
    /// `worker` of `workers` (both ≥ 1 in total); `seed` randomises the
    /// starting values so IDs are not predictable across restarts.
    pub fn new(worker: u16, workers: u16, seed: u64) -> IdGen {
        let workers = workers.max(1);
        let worker_bits = u32::from(workers).next_power_of_two().trailing_zeros();
        let mut s = seed | 1;
        let buckets = (0..BUCKETS)
            .map(|_| {
                // xorshift64*: cheap start-up randomisation, not a secret.
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 48) as u16
            })
            .collect();
        IdGen {
            buckets,
            worker_bits,
            worker: worker % (1 << worker_bits.min(15)),
            constant: None,
        }
    }

    /// An ID source that always yields `id`. Only for reproducing the fixed
    /// SPEC §5 vectors: it violates RFC 6864 for real traffic.
    #[doc(hidden)]
    pub fn constant(id: u16) -> IdGen {
        IdGen {
            buckets: Box::new([]),
            worker_bits: 0,
            worker: 0,
            constant: Some(id),
        }
    }

    /// Next ID toward `dst` (host-order IPv4 address).
    #[inline]
    pub fn next(&mut self, dst: u32) -> u16 {
        if let Some(c) = self.constant {
            return c;
        }
        let h = (dst.wrapping_mul(0x9e37_79b1) >> 16) as usize;
        let Some(b) = self.buckets.get_mut(h) else {
            return 0;
        };
        *b = b.wrapping_add(1);
        if self.worker_bits == 0 {
            *b
        } else {
            let low = 16 - self.worker_bits;
            (self.worker << low) | (*b & ((1u16 << low) - 1))
        }
    }
}
