//! Command line of `xrelay-dataplane` (each option also from an `XRELAY_*`
//! environment variable).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::xsk::{BindMode, MIN_HEADROOM, XDP_PACKET_HEADROOM};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BindArg {
    /// Zero-copy, else copy (with a log line).
    Auto,
    Copy,
    Zerocopy,
}

impl From<BindArg> for BindMode {
    fn from(b: BindArg) -> BindMode {
        match b {
            BindArg::Auto => BindMode::Auto,
            BindArg::Copy => BindMode::Copy,
            BindArg::Zerocopy => BindMode::ZeroCopy,
        }
    }
}

/// Where the destination MACs of relayed frames come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NextHopsArg {
    /// The kernel's routes and neighbours (netlink), falling back to the
    /// static `next_hop_mac` of relay.toml where the kernel has no route
    /// of that family on the egress interface.
    Kernel,
    /// The static `next_hop_mac` of relay.toml only.
    Static,
}

/// xrelay's dataplane: AF_XDP workers for the queues of the relay's
/// interfaces, a slow-path thread, shared-memory counters. Normally
/// started by the control daemon, which loads the XDP program and pins its
/// maps under --bpffs.
#[derive(Debug, Clone, Parser)]
#[command(name = "xrelay-dataplane", version)]
pub struct Opts {
    /// The relay configuration (relay.toml).
    #[arg(long, env = "XRELAY_CONFIG")]
    pub config: PathBuf,
    /// Pin directory of the XDP program's maps (`xr_xsks`). Two-armed:
    /// each interface's program instance is looked up in `DIR/<ifname>/`
    /// first, then `DIR/`; both interfaces may not share one XSKMAP
    /// (its slots are receive-queue numbers).
    #[arg(long, env = "XRELAY_BPFFS")]
    pub bpffs: PathBuf,
    /// Shared-memory counter file (created, replaced).
    #[arg(long, env = "XRELAY_SHM")]
    pub shm: PathBuf,
    /// Cores to pin workers to, in queue order (comma-separated), reused
    /// round-robin; default: no pinning.
    #[arg(long, value_delimiter = ',', env = "XRELAY_CORES")]
    pub cores: Vec<usize>,
    /// Core of the slow-path thread (default: not pinned).
    #[arg(long, env = "XRELAY_SLOW_CORE")]
    pub slow_core: Option<usize>,
    /// Receive queues per interface (queues 0..N, one worker each).
    #[arg(long, default_value_t = 1, env = "XRELAY_QUEUES")]
    pub queues: u32,
    /// Frames per receive batch.
    #[arg(long, default_value_t = 64, env = "XRELAY_BATCH")]
    pub batch: usize,
    /// Entries of each AF_XDP ring (power of two).
    #[arg(long, default_value_t = 2048, env = "XRELAY_RING_SIZE")]
    pub ring_size: u32,
    /// UMEM chunk size: 2048 or 4096.
    #[arg(long, default_value_t = 4096, env = "XRELAY_FRAME_SIZE")]
    pub frame_size: u32,
    /// UMEM headroom in front of each received frame (≥ 32: Teredo
    /// encapsulation + a VLAN tag).
    #[arg(long, default_value_t = 64, env = "XRELAY_HEADROOM")]
    pub headroom: u32,
    /// UMEM frames per socket (default: 2 × ring size + 4 × batch).
    #[arg(long, env = "XRELAY_UMEM_FRAMES")]
    pub umem_frames: Option<u32>,
    /// zerocopy, copy, or auto (zero-copy, else copy with a log line).
    #[arg(long, value_enum, default_value_t = BindArg::Auto, env = "XRELAY_BIND")]
    pub bind: BindArg,
    /// Prefer busy polling (SO_PREFER_BUSY_POLL, budget = batch) and spin
    /// instead of sleeping when idle.
    #[arg(long, env = "XRELAY_BUSY_POLL")]
    pub busy_poll: bool,
    /// Next hops: `kernel` (routes and neighbours of the relay's
    /// interfaces followed over netlink; relay.toml's static
    /// `next_hop_mac` where the kernel has no route of the family on the
    /// egress interface) or `static` (relay.toml only).
    #[arg(long, value_enum, default_value_t = NextHopsArg::Kernel, env = "XRELAY_NEXT_HOPS")]
    pub next_hops: NextHopsArg,
}

impl Opts {
    /// Checks what clap cannot; the message names the option.
    pub fn check(&self) -> Result<(), String> {
        if self.queues == 0 || self.queues > 256 {
            return Err(format!("--queues {}: use 1..=256", self.queues));
        }
        if self.batch == 0 || self.batch > 1024 {
            return Err(format!("--batch {}: use 1..=1024", self.batch));
        }
        if !self.ring_size.is_power_of_two() || !(64..=16384).contains(&self.ring_size) {
            return Err(format!(
                "--ring-size {}: use a power of two in 64..=16384",
                self.ring_size
            ));
        }
        if self.batch > self.ring_size as usize {
            return Err(format!(
                "--batch {} is larger than --ring-size {}",
                self.batch, self.ring_size
            ));
        }
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err(format!(
                "--frame-size {}: use 2048 or 4096",
                self.frame_size
            ));
        }
        let h = self.headroom as usize;
        let room = (self.frame_size as usize).checked_sub(XDP_PACKET_HEADROOM + h);
        if h < MIN_HEADROOM || room.is_none_or(|r| r < 1514 + MIN_HEADROOM) {
            return Err(format!(
                "--headroom {}: use at least {MIN_HEADROOM} and leave room for a 1514-byte frame in a {}-byte chunk after the kernel's {XDP_PACKET_HEADROOM}",
                self.headroom, self.frame_size
            ));
        }
        if self.umem_frames() < 2 * self.batch as u32 + 64 {
            return Err(format!(
                "--umem-frames {}: too few for batch {}",
                self.umem_frames(),
                self.batch
            ));
        }
        Ok(())
    }

    pub fn umem_frames(&self) -> u32 {
        self.umem_frames
            .unwrap_or(2 * self.ring_size + 4 * self.batch as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Opts, String> {
        let mut v = vec![
            "xrelay-dataplane",
            "--config",
            "r.toml",
            "--bpffs",
            "/b",
            "--shm",
            "/s",
        ];
        v.extend_from_slice(args);
        let o = Opts::try_parse_from(v).map_err(|e| e.to_string())?;
        o.check()?;
        Ok(o)
    }

    #[test]
    fn defaults_and_limits() {
        let o = parse(&[]).expect("defaults");
        assert_eq!(
            (o.queues, o.batch, o.ring_size, o.frame_size, o.headroom),
            (1, 64, 2048, 4096, 64)
        );
        assert_eq!(o.bind, BindArg::Auto);
        assert_eq!(o.next_hops, NextHopsArg::Kernel);
        assert_eq!(
            parse(&["--next-hops", "static"]).expect("ok").next_hops,
            NextHopsArg::Static
        );
        assert!(parse(&["--next-hops", "bgp"]).is_err());
        assert_eq!(o.umem_frames(), 2 * 2048 + 4 * 64);
        let o = parse(&[
            "--cores",
            "0,1",
            "--bind",
            "copy",
            "--busy-poll",
            "--frame-size",
            "2048",
        ])
        .expect("ok");
        assert_eq!(o.cores, [0, 1]);
        assert!(o.busy_poll);
        assert!(parse(&["--headroom", "16"]).is_err());
        assert!(parse(&["--frame-size", "2048", "--headroom", "256"]).is_err());
        assert!(parse(&["--headroom", "9999"]).is_err());
        assert!(parse(&["--ring-size", "1000"]).is_err());
        assert!(parse(&["--batch", "0"]).is_err());
        assert!(parse(&["--bind", "fast"]).is_err());
        assert!(parse(&["--queues", "0"]).is_err());
    }
}
