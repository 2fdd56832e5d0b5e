//! Command line of `xrelay-dataplane` (each option also from an `XRELAY_*`
//! environment variable). The tuning options default to relay.toml's
//! `[dataplane]` section; an option given here overrides its key
//! ([`Opts::settings`]).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use xrelay_engine::config::{DataplaneConfig, NextHopSource, XskBind};

use crate::xsk::BindMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BindArg {
    /// Zero-copy, else copy (with a log line).
    Auto,
    Copy,
    Zerocopy,
}

impl From<BindArg> for XskBind {
    fn from(b: BindArg) -> XskBind {
        match b {
            BindArg::Auto => XskBind::Auto,
            BindArg::Copy => XskBind::Copy,
            BindArg::Zerocopy => XskBind::Zerocopy,
        }
    }
}

/// The socket layer's bind mode for a configured one.
pub fn bind_mode(b: XskBind) -> BindMode {
    match b {
        XskBind::Auto => BindMode::Auto,
        XskBind::Copy => BindMode::Copy,
        XskBind::Zerocopy => BindMode::ZeroCopy,
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

impl From<NextHopsArg> for NextHopSource {
    fn from(n: NextHopsArg) -> NextHopSource {
        match n {
            NextHopsArg::Kernel => NextHopSource::Kernel,
            NextHopsArg::Static => NextHopSource::Static,
        }
    }
}

/// xrelay's dataplane: AF_XDP workers for the queues of the relay's
/// interfaces, a slow-path thread, shared-memory counters. Normally
/// started by the control daemon, which loads the XDP program and pins its
/// maps under --bpffs. The tuning options default to relay.toml's
/// `[dataplane]` section (docs/config.md); given here, they override it.
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
    /// round-robin [config: dataplane.cores; default: no pinning].
    #[arg(long, value_delimiter = ',', env = "XRELAY_CORES")]
    pub cores: Option<Vec<usize>>,
    /// Core of the slow-path thread [config: dataplane.slow_core; default:
    /// not pinned].
    #[arg(long, env = "XRELAY_SLOW_CORE")]
    pub slow_core: Option<usize>,
    /// Receive queues per interface, queues 0..N, one worker each
    /// [config: dataplane.queues; default 1].
    #[arg(long, env = "XRELAY_QUEUES")]
    pub queues: Option<u32>,
    /// Frames per receive batch [config: dataplane.batch; default 64].
    #[arg(long, env = "XRELAY_BATCH")]
    pub batch: Option<u32>,
    /// Entries of each AF_XDP ring, a power of two [config:
    /// dataplane.ring_size; default 2048].
    #[arg(long, env = "XRELAY_RING_SIZE")]
    pub ring_size: Option<u32>,
    /// UMEM chunk size, 2048 or 4096 [config: dataplane.frame_size;
    /// default 4096].
    #[arg(long, env = "XRELAY_FRAME_SIZE")]
    pub frame_size: Option<u32>,
    /// UMEM headroom in front of each received frame, ≥ 32: Teredo
    /// encapsulation + a VLAN tag [config: dataplane.headroom; default 64].
    #[arg(long, env = "XRELAY_HEADROOM")]
    pub headroom: Option<u32>,
    /// UMEM frames per socket [config: dataplane.umem_frames; default:
    /// 2 × ring size + 4 × batch].
    #[arg(long, env = "XRELAY_UMEM_FRAMES")]
    pub umem_frames: Option<u32>,
    /// zerocopy, copy, or auto: zero-copy, else copy with a log line
    /// [config: dataplane.bind; default auto].
    #[arg(long, value_enum, env = "XRELAY_BIND")]
    pub bind: Option<BindArg>,
    /// Prefer busy polling (SO_PREFER_BUSY_POLL, budget = batch) and spin
    /// instead of sleeping when idle; `--busy-poll=false` switches off
    /// what the config switched on [config: dataplane.busy_poll; default
    /// false].
    #[arg(
        long,
        env = "XRELAY_BUSY_POLL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub busy_poll: Option<bool>,
    /// Next hops: `kernel` (routes and neighbours of the relay's
    /// interfaces followed over netlink; relay.toml's static
    /// `next_hop_mac` where the kernel has no route of the family on the
    /// egress interface) or `static` (relay.toml only) [config:
    /// dataplane.next_hops; default kernel].
    #[arg(long, value_enum, env = "XRELAY_NEXT_HOPS")]
    pub next_hops: Option<NextHopsArg>,
}

impl Opts {
    /// The dataplane settings: relay.toml's `[dataplane]` section with
    /// every option given on the command line (or in its environment
    /// variable) in place of its key.
    pub fn settings(&self, cfg: &DataplaneConfig) -> DataplaneConfig {
        let mut s = cfg.clone();
        if let Some(c) = &self.cores {
            s.cores = c.clone();
        }
        if self.slow_core.is_some() {
            s.slow_core = self.slow_core;
        }
        if self.umem_frames.is_some() {
            s.umem_frames = self.umem_frames;
        }
        s.queues = self.queues.unwrap_or(s.queues);
        s.batch = self.batch.unwrap_or(s.batch);
        s.ring_size = self.ring_size.unwrap_or(s.ring_size);
        s.frame_size = self.frame_size.unwrap_or(s.frame_size);
        s.headroom = self.headroom.unwrap_or(s.headroom);
        s.bind = self.bind.map_or(s.bind, Into::into);
        s.busy_poll = self.busy_poll.unwrap_or(s.busy_poll);
        s.next_hops = self.next_hops.map_or(s.next_hops, Into::into);
        s
    }

    /// [`Opts::settings`], checked with relay.toml's rules; the message
    /// names the key and, when the command line set it, the option.
    pub fn checked_settings(&self, cfg: &DataplaneConfig) -> Result<DataplaneConfig, String> {
        let s = self.settings(cfg);
        s.validate().map_err(|e| {
            let key = e.key().unwrap_or("dataplane").to_owned();
            let opt = format!(
                "--{}",
                key.trim_start_matches("dataplane.").replace('_', "-")
            );
            let msg = e.to_string();
            match msg.split_once(": ") {
                Some((_, m)) if self.given(&key) => format!("{opt} (overrides relay.toml {m}")
                    .replacen(&format!("{key}: "), &format!("{key}): "), 1),
                _ => msg,
            }
        })?;
        Ok(s)
    }

    /// Whether the command line (or environment) set the option of
    /// `[dataplane]` key `key`.
    fn given(&self, key: &str) -> bool {
        match key.trim_start_matches("dataplane.") {
            "cores" => self.cores.is_some(),
            "slow_core" => self.slow_core.is_some(),
            "queues" => self.queues.is_some(),
            "batch" => self.batch.is_some(),
            "ring_size" => self.ring_size.is_some(),
            "frame_size" => self.frame_size.is_some(),
            "headroom" => self.headroom.is_some(),
            "umem_frames" => self.umem_frames.is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xsk::{MIN_HEADROOM, XDP_PACKET_HEADROOM};
    use xrelay_engine::config::{MIN_XSK_HEADROOM, XDP_PACKET_HEADROOM as CFG_XDP_HEADROOM};

    fn parse_with(cfg: &DataplaneConfig, args: &[&str]) -> Result<DataplaneConfig, String> {
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
        o.checked_settings(cfg)
    }

    fn parse(args: &[&str]) -> Result<DataplaneConfig, String> {
        parse_with(&DataplaneConfig::default(), args)
    }

    #[test]
    fn headroom_constants_agree_with_the_socket_layer() {
        assert_eq!(CFG_XDP_HEADROOM as usize, XDP_PACKET_HEADROOM);
        assert_eq!(MIN_XSK_HEADROOM as usize, MIN_HEADROOM);
    }

    #[test]
    fn defaults_and_limits() {
        let o = parse(&[]).expect("defaults");
        assert_eq!(
            (o.queues, o.batch, o.ring_size, o.frame_size, o.headroom),
            (1, 64, 2048, 4096, 64)
        );
        assert_eq!(o.bind, XskBind::Auto);
        assert_eq!(o.next_hops, NextHopSource::Kernel);
        assert!(!o.busy_poll);
        assert!(o.cores.is_empty());
        assert_eq!(
            parse(&["--next-hops", "static"]).expect("ok").next_hops,
            NextHopSource::Static
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
        assert_eq!(o.bind, XskBind::Copy);
        assert!(parse(&["--headroom", "16"]).is_err());
        assert!(parse(&["--frame-size", "2048", "--headroom", "256"]).is_err());
        assert!(parse(&["--headroom", "9999"]).is_err());
        assert!(parse(&["--ring-size", "1000"]).is_err());
        assert!(parse(&["--batch", "0"]).is_err());
        assert!(parse(&["--bind", "fast"]).is_err());
        assert!(parse(&["--queues", "0"]).is_err());
    }

    #[test]
    fn config_supplies_what_the_command_line_leaves_out() {
        let cfg = DataplaneConfig {
            cores: vec![2, 3],
            slow_core: Some(1),
            queues: 4,
            batch: 32,
            ring_size: 1024,
            frame_size: 2048,
            headroom: 32,
            umem_frames: Some(5000),
            bind: XskBind::Copy,
            busy_poll: true,
            next_hops: NextHopSource::Static,
        };
        assert_eq!(parse_with(&cfg, &[]).expect("config only"), cfg);
        let o = parse_with(
            &cfg,
            &[
                "--queues",
                "2",
                "--cores",
                "0,1",
                "--batch",
                "16",
                "--ring-size",
                "512",
                "--frame-size",
                "4096",
                "--headroom",
                "64",
                "--bind",
                "zerocopy",
                "--busy-poll=false",
                "--next-hops",
                "kernel",
                "--slow-core",
                "0",
                "--umem-frames",
                "4000",
            ],
        )
        .expect("overrides");
        assert_eq!(
            o,
            DataplaneConfig {
                cores: vec![0, 1],
                slow_core: Some(0),
                queues: 2,
                batch: 16,
                ring_size: 512,
                frame_size: 4096,
                headroom: 64,
                umem_frames: Some(4000),
                bind: XskBind::Zerocopy,
                busy_poll: false,
                next_hops: NextHopSource::Kernel,
            }
        );
        // Only the overridden key changes.
        let o = parse_with(&cfg, &["--queues", "8"]).expect("one override");
        assert_eq!(o.queues, 8);
        assert_eq!(o.batch, 32);
    }

    #[test]
    fn errors_name_the_option_when_it_came_from_the_command_line() {
        let cfg = DataplaneConfig {
            ring_size: 64,
            ..DataplaneConfig::default()
        };
        // The batch from the command line, the ring size from the config.
        let e = parse_with(&cfg, &["--batch", "128"]).expect_err("batch > ring");
        assert!(e.starts_with("--batch (overrides relay.toml dataplane.batch): 128 is larger than dataplane.ring_size (64)"), "{e}");
        let e = parse(&["--queues", "300"]).expect_err("queues");
        assert!(
            e.starts_with("--queues (overrides relay.toml dataplane.queues): 300 "),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
