//! Token buckets for what the relay originates (RFC 4443 §2.4(f)): average
//! `rate` per second, at most `burst` at once. The clock is injected.

/// One token bucket, in thousandths of a token for integer refill.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst_milli: u64,
    tokens_milli: u64,
    last_ms: Option<u64>,
}

impl TokenBucket {
    /// Starts full.
    pub fn new(rate_per_sec: u32, burst: u32) -> TokenBucket {
        let burst_milli = u64::from(burst.max(1)) * 1000;
        TokenBucket {
            rate: u64::from(rate_per_sec),
            burst_milli,
            tokens_milli: burst_milli,
            last_ms: None,
        }
    }

    /// Takes one token at time `now_ms` if there is one.
    pub fn take(&mut self, now_ms: u64) -> bool {
        if let Some(last) = self.last_ms {
            let dt = now_ms.saturating_sub(last);
            self.tokens_milli = (self.tokens_milli + dt * self.rate).min(self.burst_milli);
        }
        self.last_ms = Some(now_ms.max(self.last_ms.unwrap_or(0)));
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// Many small buckets selected by a key hash (per-source-/64 limits).
#[derive(Debug, Clone)]
pub struct KeyedBuckets {
    buckets: Vec<TokenBucket>,
    seed: u64,
}

impl KeyedBuckets {
    pub fn new(n: usize, rate_per_sec: u32, burst: u32, seed: u64) -> KeyedBuckets {
        KeyedBuckets {
            buckets: vec![TokenBucket::new(rate_per_sec, burst); n.max(1)],
            seed: seed | 1,
        }
    }

    pub fn take(&mut self, key: u64, now_ms: u64) -> bool {
        let h = (key ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let n = self.buckets.len() as u64;
        let i = ((h >> 32) % n) as usize;
        self.buckets.get_mut(i).is_some_and(|b| b.take(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 3);
        assert!(b.take(0) && b.take(0) && b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(50)); // 0.5 token
        assert!(b.take(100)); // 1 token after 100 ms at 10/s
        assert!(!b.take(100));
        // Refill never exceeds the burst.
        assert!(b.take(10_000) && b.take(10_000) && b.take(10_000));
        assert!(!b.take(10_000));
    }

    #[test]
    fn clock_going_back_does_not_refill() {
        let mut b = TokenBucket::new(1000, 1);
        assert!(b.take(1000));
        assert!(!b.take(500));
        assert!(!b.take(1000));
    }
}
