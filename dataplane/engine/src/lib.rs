//! xrelay's relay engine: pure functions over frames.
//!
//! The fast path ([`Engine::process`]) classifies each frame, runs the SPEC §4
//! checks in order and rewrites the frame in place (encapsulation moves the
//! start of the frame into its headroom, decapsulation moves it forward):
//!
//! ```text
//!  6to4 decap   [Eth][IPv4][IPv6 ...]          -> [Eth][IPv6 ...]
//!  6to4 encap   [Eth][IPv6 ...]                -> [Eth][IPv4][IPv6 ...]
//!  Teredo rx    [Eth][IPv4][UDP][hdrs][IPv6..] -> [Eth][IPv6 ...]
//!  Teredo tx    [Eth][IPv6 ...]                -> [Eth][IPv4][UDP][IPv6 ...]
//! ```
//!
//! It never allocates, locks, reads a clock or logs: the caller passes the
//! time once per batch. Rare work (ICMPv6 errors, echo replies, Teredo peer
//! state, reassembly, ICMPv4 errors) is handed to the [`slow::SlowPath`],
//! still pure, with the clock injected. [`Pipeline`] joins the two for the
//! offline mode and the tests.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

pub mod config;
mod counters;
mod fastpath;
mod frame;
pub mod icmp;
mod idgen;
pub mod peers;
mod pipeline;
pub mod ratelimit;
mod reasm;
mod relay;
pub mod slow;
mod verdict;

pub use config::{Config, ConfigError, LAB_TOML};
pub use counters::Counters;
pub use fastpath::Engine;
pub use frame::{Frame, HEADROOM};
pub use idgen::IdGen;
pub use peers::PeerTable;
pub use pipeline::{Output, Pipeline};
pub use relay::Relay;
pub use verdict::{DropReason, Event, IcmpError, Port, SlowKind, Verdict};

/// The time, in nanoseconds of a monotonic clock (or capture timestamps),
/// read once per batch by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Now(pub u64);

impl Now {
    pub const fn from_secs(s: u64) -> Now {
        Now(s * 1_000_000_000)
    }
    pub const fn from_millis(ms: u64) -> Now {
        Now(ms * 1_000_000)
    }
    /// Whole seconds (the peer table's fast-path granularity).
    #[inline]
    pub const fn secs(self) -> u32 {
        (self.0 / 1_000_000_000) as u32
    }
    #[inline]
    pub const fn millis(self) -> u64 {
        self.0 / 1_000_000
    }
}
