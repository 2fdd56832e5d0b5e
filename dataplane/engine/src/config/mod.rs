//! The relay configuration (`relay.toml`), shared by the offline mode, the
//! control daemon and the dataplane.
//!
//! Defaults follow SPEC §6.7: both relays are off until enabled (RFC 7526 §5),
//! anycast 6to4 is off, the Teredo relay never sends data to an unverified
//! mapping (RFC 5991 §3.2). Every key is documented in `docs/config.md`.
//!
//! Parsing (`Config::from_toml_str`) checks syntax and types; `validate`
//! checks the cross-field rules and names the offending key in its error.

mod error;
mod net;
#[cfg(test)]
mod tests;
mod validate;

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use net::{Ipv4Net, Ipv6Net, MacAddr, ParseError};
pub use validate::{MIN_XSK_HEADROOM, XDP_PACKET_HEADROOM};

/// `relay.toml` of the lab relay (DESIGN §3) and of SPEC §5's vectors:
/// 6to4 anycast 192.88.99.1 (unicast 203.0.113.4), Teredo
/// 203.0.113.5:3545, native 2001:db8::ff; documentation addresses only;
/// interfaces keep their defaults (`xr-v4` / `xr-v6`, MTU 1500). The one
/// copy used by `xrelayctl lab` and `translate` (without `--config`), the
/// engine tests, the fuzz harness and the benchmarks.
pub const LAB_TOML: &str = r#"# xrelay lab relay (DESIGN §3): documentation addresses only.
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24"]

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
"#;

/// The whole `relay.toml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub relay: RelayConfig,
    pub interfaces: Interfaces,
    pub sixto4: SixToFourConfig,
    pub teredo: TeredoConfig,
    pub icmp6: Icmp6Config,
    pub icmp4: Icmp4Config,
    pub ipv4: Ipv4Config,
    pub bogons: BogonConfig,
    pub engine: EngineTuning,
    pub dataplane: DataplaneConfig,
    pub announce: AnnounceConfig,
}

/// `[relay]`: addresses of the relay itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// The relay's native unicast IPv6 address: source of every ICMPv6 error
    /// it originates (SPEC §1.3) and of Teredo bubbles when
    /// `teredo.bubble_source = "native"`.
    pub native_addr: Ipv6Addr,
    /// IPv4 subnets attached to the relay; their directed-broadcast addresses
    /// join list A and list B (RFC 3964 §5.3.1, RFC 4380 §5.2.4).
    pub ipv4_subnets: Vec<Ipv4Net>,
    /// Extra IPv6 prefixes steered to the relay that it does not translate;
    /// packets to them are "misrouted" (S6-01 / T6-01).
    pub managed_prefixes: Vec<Ipv6Net>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            native_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xff),
            ipv4_subnets: Vec::new(),
            managed_prefixes: Vec::new(),
        }
    }
}

/// `[interfaces]`: the IPv4-facing and IPv6-facing sides. One-armed
/// operation: set `one_armed = true` and describe only `v4`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Interfaces {
    pub one_armed: bool,
    pub v4: Side,
    pub v6: Side,
}

impl Default for Interfaces {
    fn default() -> Self {
        Self {
            one_armed: false,
            v4: Side {
                name: "xr-v4".into(),
                mac: MacAddr([0x02, 0, 0, 0, 0x04, 0x01]),
                next_hop_mac: MacAddr([0x02, 0, 0, 0, 0x04, 0x02]),
                vlan: None,
                mtu: 1500,
            },
            v6: Side {
                name: "xr-v6".into(),
                mac: MacAddr([0x02, 0, 0, 0, 0x06, 0x01]),
                next_hop_mac: MacAddr([0x02, 0, 0, 0, 0x06, 0x02]),
                vlan: None,
                mtu: 1500,
            },
        }
    }
}

/// One side of the relay: the interface, its L2 addresses and MTU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// Interface name (used by the daemon; the offline mode ignores it).
    pub name: String,
    /// Our MAC address on this side (source of frames we transmit).
    pub mac: MacAddr,
    /// Static next-hop MAC (the dataplane replaces it with the kernel's
    /// neighbour table; the offline mode uses it as is).
    pub next_hop_mac: MacAddr,
    /// 802.1Q VLAN ID for frames we transmit on this side.
    #[serde(default)]
    pub vlan: Option<u16>,
    /// Link MTU (IP bytes, without L2): egress MTU for S4-10.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
}

fn default_mtu() -> u16 {
    1500
}

/// `[sixto4]`: the 6to4 relay (RFC 3056/3068) or 6rd border relay (RFC 5969).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SixToFourConfig {
    pub enabled: bool,
    /// Accept 192.88.99.1 and answer for 2002:c058:6301:: (RFC 3068);
    /// deprecated, off by default (RFC 7526 §5).
    pub anycast: bool,
    /// The equivalent unicast IPv4 address (RFC 3068 §4.2); required when enabled.
    pub unicast_addr: Option<Ipv4Addr>,
    /// More IPv4 addresses processed exactly like the unicast address.
    pub extra_addrs: Vec<Ipv4Addr>,
    /// Static tunnel MTU, 1280..=1480 (RFC 4213 §3.2.1).
    pub tunnel_mtu: u16,
    /// DF on encapsulated packets: "clear" (default, RFC 4213 §3.2.1) or "set".
    pub df: DfMode,
    /// Outer TTL (RFC 4213 §3.3).
    pub ttl: u8,
    /// Outer TOS: "copy" (RFC 6040 normal mode), "compat" (DSCP copied,
    /// ECN Not-ECT) or a fixed value 0..=255.
    pub tos: TosMode,
    /// Outer IPv4 source toward 6to4 sites; default 192.88.99.1 with anycast,
    /// else `unicast_addr` (RFC 6343 §4.4 item 3).
    pub return_source: Option<Ipv4Addr>,
    /// Source of echo replies to the relay's 6to4 addresses (§2.3.1).
    pub echo_reply_source: EchoReplySource,
    /// S4-01b: accept proto-41 only for 192.88.99.1 (RFC 3964 §4.2.5).
    pub accept_only_anycast_dst: bool,
    /// "6to4" or "6rd".
    pub mode: TunnelMode,
    /// 6rd domain parameters, required when `mode = "6rd"`.
    pub sixrd: Option<SixRdConfig>,
    /// S4-12: when non-empty, only these IPv4 sources may use the relay.
    pub client_allow: Vec<Ipv4Net>,
    /// S6-09: when non-empty, only these native sources may use the relay.
    pub native_source_allow: Vec<Ipv6Net>,
    /// S6-01: what to do with native packets to a managed prefix the relay
    /// does not translate: "unreachable" (ICMPv6 1/0) or "pass".
    pub misrouted: MisroutedAction,
}

impl Default for SixToFourConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            anycast: false,
            unicast_addr: None,
            extra_addrs: Vec::new(),
            tunnel_mtu: 1480,
            df: DfMode::Clear,
            ttl: 64,
            tos: TosMode::Copy,
            return_source: None,
            echo_reply_source: EchoReplySource::Request,
            accept_only_anycast_dst: false,
            mode: TunnelMode::SixToFour,
            sixrd: None,
            client_allow: Vec::new(),
            native_source_allow: Vec::new(),
            misrouted: MisroutedAction::Unreachable,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DfMode {
    Clear,
    Set,
}

/// Outer TOS policy (SPEC §1.8): `"copy"`, `"compat"` or a number 0..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TosRepr", into = "TosRepr")]
pub enum TosMode {
    /// Traffic class copied to the outer TOS (RFC 6040 §4.1 normal mode).
    Copy,
    /// DSCP copied, outer ECN Not-ECT (RFC 6040 compatibility mode).
    Compat,
    /// A fixed outer TOS.
    Fixed(u8),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TosRepr {
    Name(String),
    Value(u8),
}

impl TryFrom<TosRepr> for TosMode {
    type Error = String;
    fn try_from(r: TosRepr) -> Result<Self, String> {
        match r {
            TosRepr::Value(v) => Ok(TosMode::Fixed(v)),
            TosRepr::Name(n) if n == "copy" => Ok(TosMode::Copy),
            TosRepr::Name(n) if n == "compat" => Ok(TosMode::Compat),
            TosRepr::Name(n) => Err(format!(
                "`{n}` is not a TOS policy: use \"copy\", \"compat\" or a number 0..=255"
            )),
        }
    }
}

impl From<TosMode> for TosRepr {
    fn from(t: TosMode) -> TosRepr {
        match t {
            TosMode::Copy => TosRepr::Name("copy".into()),
            TosMode::Compat => TosRepr::Name("compat".into()),
            TosMode::Fixed(v) => TosRepr::Value(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EchoReplySource {
    /// The request's destination (maximises compatibility with qualification probes).
    Request,
    /// `2002:c058:6301::1`, a unicast address inside the anycast /48.
    AnycastUnicast,
    /// The relay's native address.
    Native,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunnelMode {
    #[serde(rename = "6to4")]
    SixToFour,
    #[serde(rename = "6rd")]
    SixRd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MisroutedAction {
    Unreachable,
    Pass,
}

/// `[sixto4.sixrd]`: RFC 5969 §7 domain parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SixRdConfig {
    /// 6rdPrefix/6rdPrefixLen, e.g. "2001:db8::/32".
    pub prefix: Ipv6Net,
    /// IPv4MaskLen: high-order bits common to every CE address (0..=32).
    pub ipv4_mask_len: u8,
    /// The BR's IPv4 address (6rdBRIPv4Address); it also supplies the common bits.
    pub br_addr: Ipv4Addr,
}

/// `[teredo]`: the Teredo relay (RFC 4380 §5.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeredoConfig {
    pub enabled: bool,
    /// The relay's Teredo IPv4 address (unicast, SPEC §6.1); required when enabled.
    pub addr: Option<Ipv4Addr>,
    /// UDP service port (SPEC §3.4: 3545 by default, avoid 3544).
    pub port: u16,
    /// Teredo link MTU (RFC 4380 §5.1.2).
    pub mtu: u16,
    pub honour_cone_bit: bool,
    pub direct_bubbles: bool,
    pub accept_unknown_peers: bool,
    pub symmetric_nat_bubbles: bool,
    pub bubble_hop_limit: u8,
    /// Bubble IPv6 source: "hash" (fe80:: + keyed hash of the mapping, as
    /// miredo) or "native" (`relay.native_addr`).
    pub bubble_source: BubbleSource,
    /// Key for the bubble-source hash, 32 hex digits; random at start when absent.
    pub bubble_key: Option<String>,
    pub peer_capacity: u32,
    /// Seconds without lookup after which an entry may be evicted.
    pub peer_idle_evict: u32,
    pub queue_bytes: u32,
    pub queue_pkts: u32,
    /// Cap on queued bytes over all peers.
    pub queue_total_bytes: u64,
    /// New peer entries per second allowed per source /64 (T6-12), and burst.
    pub new_peer_rate: u32,
    pub new_peer_burst: u32,
    /// Destinations (T4-11) the relay refuses to serve besides non-global ones.
    pub served_exclude: Vec<Ipv6Net>,
    /// Teredo server UDP port (target of indirect bubbles).
    pub server_port: u16,
}

impl Default for TeredoConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            addr: None,
            port: 3545,
            mtu: 1280,
            honour_cone_bit: false,
            direct_bubbles: false,
            accept_unknown_peers: false,
            symmetric_nat_bubbles: false,
            bubble_hop_limit: 0,
            bubble_source: BubbleSource::Hash,
            bubble_key: None,
            peer_capacity: 1 << 20,
            peer_idle_evict: 60,
            queue_bytes: 1280,
            queue_pkts: 8,
            queue_total_bytes: 64 << 20,
            new_peer_rate: 100,
            new_peer_burst: 200,
            served_exclude: Vec::new(),
            server_port: 3544,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BubbleSource {
    Hash,
    Native,
}

/// `[icmp6]`: ICMPv6 errors the relay originates (SPEC §1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Icmp6Config {
    pub ptb_rate: u32,
    pub ptb_burst: u32,
    pub err_rate: u32,
    pub err_burst: u32,
    pub echo_rate: u32,
    pub echo_burst: u32,
    /// RFC 4443 §3.1: Destination Unreachable can be switched off.
    pub send_unreachable: bool,
    /// Hop limit of packets the relay originates.
    pub hop_limit: u8,
}

impl Default for Icmp6Config {
    fn default() -> Self {
        Self {
            ptb_rate: 10_000,
            ptb_burst: 1_000,
            err_rate: 1_000,
            err_burst: 100,
            echo_rate: 1_000,
            echo_burst: 100,
            send_unreachable: true,
            hop_limit: 64,
        }
    }
}

/// `[icmp4]`: ICMPv4 errors received about encapsulated packets (SPEC §2.5.3, E-xx).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Icmp4Config {
    /// E-02: translate Destination Unreachable / Time Exceeded into ICMPv6.
    pub translate_errors: bool,
    /// E-04: mark a Teredo peer untrusted on an ICMPv4 error about it.
    pub untrust_teredo_peer: bool,
}

impl Default for Icmp4Config {
    fn default() -> Self {
        Self {
            translate_errors: true,
            untrust_teredo_peer: false,
        }
    }
}

/// `[ipv4]`: receive-side reassembly (SPEC §1.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ipv4Config {
    pub reassembly_max: u32,
    pub reassembly_timeout: u32,
    pub reassembly_entries: u32,
    /// Fragments in flight per IPv4 source.
    pub reassembly_per_source: u32,
    /// TTL of Teredo packets the relay sends.
    pub teredo_ttl: u8,
}

impl Default for Ipv4Config {
    fn default() -> Self {
        Self {
            reassembly_max: 65_535,
            reassembly_timeout: 30,
            reassembly_entries: 1024,
            reassembly_per_source: 64,
            teredo_ttl: 64,
        }
    }
}

/// `[bogons]`: list C (SPEC §1.1), off by default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BogonConfig {
    pub extended: bool,
}

/// `[engine]`: sizes of the pure engine's bounded structures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineTuning {
    /// Frames waiting for the slow path; beyond it a frame is dropped (C-16).
    pub slow_queue: u32,
}

impl Default for EngineTuning {
    fn default() -> Self {
        Self { slow_queue: 4096 }
    }
}

/// `[dataplane]`: the AF_XDP dataplane process (`xrelay-dataplane`). Every
/// key can be overridden by the dataplane's command-line option of the same
/// name (`ring_size` → `--ring-size`) or its `XRELAY_*` environment twin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataplaneConfig {
    /// Cores the workers are pinned to, in queue order, reused round-robin;
    /// empty: no pinning.
    pub cores: Vec<usize>,
    /// Core of the slow-path thread (absent: not pinned).
    pub slow_core: Option<usize>,
    /// Receive queues per interface (queues 0..N, one worker each).
    pub queues: u32,
    /// Frames per receive batch.
    pub batch: u32,
    /// Entries of each AF_XDP ring (power of two).
    pub ring_size: u32,
    /// UMEM chunk size: 2048 or 4096.
    pub frame_size: u32,
    /// UMEM headroom in front of each received frame.
    pub headroom: u32,
    /// UMEM frames per socket (absent: 2 × ring_size + 4 × batch).
    pub umem_frames: Option<u32>,
    /// AF_XDP bind mode.
    pub bind: XskBind,
    /// Prefer busy polling and spin instead of sleeping when idle.
    pub busy_poll: bool,
    /// Where the destination MACs of relayed frames come from.
    pub next_hops: NextHopSource,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        Self {
            cores: Vec::new(),
            slow_core: None,
            queues: 1,
            batch: 64,
            ring_size: 2048,
            frame_size: 4096,
            headroom: 64,
            umem_frames: None,
            bind: XskBind::Auto,
            busy_poll: false,
            next_hops: NextHopSource::Kernel,
        }
    }
}

impl DataplaneConfig {
    /// UMEM frames per socket: `umem_frames`, else 2 × ring size + 4 × batch.
    pub fn umem_frames(&self) -> u32 {
        self.umem_frames
            .unwrap_or(2 * self.ring_size + 4 * self.batch)
    }
}

/// `dataplane.bind`: how the AF_XDP sockets are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XskBind {
    /// Zero-copy, else copy (with a log line).
    Auto,
    Copy,
    Zerocopy,
}

/// `dataplane.next_hops`: where the destination MACs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NextHopSource {
    /// The kernel's routes and neighbours (netlink), falling back to the
    /// static `next_hop_mac` where the kernel has no route of that family.
    Kernel,
    /// The static `next_hop_mac` of `[interfaces]` only.
    Static,
}

/// `[announce]`: health-driven announcement of the relay's prefixes to BGP
/// (docs/bgp.md). The announced set is derived, not listed: 192.88.99.0/24
/// when `sixto4.anycast` is on, every IPv6 prefix steered to the relay
/// (2002::/16, 2001::/32, the 6rd prefix, operator prefixes), plus
/// `extra_prefixes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnnounceConfig {
    /// Where announcements go: `none` (nothing is announced), `kernel`
    /// (routes in `table` with protocol `protocol`, for BIRD or FRR), or
    /// `exabgp` (followed by `xrelayctl exabgp` under ExaBGP).
    pub backend: AnnounceBackend,
    /// Seconds the relay must stay healthy before it (re-)announces.
    pub hold_down: u32,
    /// Kernel routing table of the announced routes (1..=252: FRR's
    /// `ip import-table` takes no more; 253..=255 are the kernel's own).
    pub table: u32,
    /// Route protocol number of the announced routes (`proto` in `ip route`).
    pub protocol: u8,
    /// More prefixes to announce (either family), e.g. the /24 holding the
    /// equivalent unicast address.
    pub extra_prefixes: Vec<AnyNet>,
    /// An IPv4 destination that must resolve through `interfaces.v4`
    /// (a next hop exists for 6to4 and Teredo return traffic).
    pub probe_v4: Ipv4Addr,
    /// An IPv6 destination that must resolve through `interfaces.v6`
    /// (the v4 side when one-armed).
    pub probe_v6: Ipv6Addr,
}

/// Default `announce.table` and `announce.protocol`: 88, as in 192.88.99.0/24.
pub const ANNOUNCE_TABLE: u32 = 88;
pub const ANNOUNCE_PROTOCOL: u8 = 88;

impl Default for AnnounceConfig {
    fn default() -> Self {
        Self {
            backend: AnnounceBackend::None,
            hold_down: 10,
            table: ANNOUNCE_TABLE,
            protocol: ANNOUNCE_PROTOCOL,
            extra_prefixes: Vec::new(),
            probe_v4: Ipv4Addr::new(192, 0, 2, 1),
            probe_v6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        }
    }
}

/// `announce.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnounceBackend {
    None,
    Kernel,
    Exabgp,
}

impl AnnounceBackend {
    pub const fn name(self) -> &'static str {
        match self {
            AnnounceBackend::None => "none",
            AnnounceBackend::Kernel => "kernel",
            AnnounceBackend::Exabgp => "exabgp",
        }
    }
}

/// A prefix of either family (`192.0.2.0/24`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AnyNet {
    V4(Ipv4Net),
    V6(Ipv6Net),
}

impl std::fmt::Display for AnyNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyNet::V4(n) => n.fmt(f),
            AnyNet::V6(n) => n.fmt(f),
        }
    }
}

impl std::str::FromStr for AnyNet {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.contains(':') {
            s.parse().map(AnyNet::V6)
        } else {
            s.parse().map(AnyNet::V4)
        }
    }
}

impl TryFrom<String> for AnyNet {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        s.parse()
    }
}

impl From<AnyNet> for String {
    fn from(n: AnyNet) -> String {
        n.to_string()
    }
}
