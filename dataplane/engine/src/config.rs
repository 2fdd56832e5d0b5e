//! The relay configuration (`relay.toml`), shared by the offline mode, the
//! control daemon and the dataplane.
//!
//! Defaults follow SPEC §6.7: both relays are off until enabled (RFC 7526 §5),
//! anycast 6to4 is off, the Teredo relay never sends data to an unverified
//! mapping (RFC 5991 §3.2). Every key is documented in `docs/config.md`.
//!
//! Parsing (`Config::from_toml_str`) checks syntax and types; `validate`
//! checks the cross-field rules and names the offending key in its error.

use core::fmt;
use core::str::FromStr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// An IPv4 prefix, `a.b.c.d/len`, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub len: u8,
}

/// An IPv6 prefix, `x::/len`, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv6Net {
    pub addr: Ipv6Addr,
    pub len: u8,
}

/// A 48-bit Ethernet address written `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl Ipv4Net {
    pub const fn new(addr: Ipv4Addr, len: u8) -> Self {
        Self { addr, len }
    }
    /// Network mask as a host-order u32.
    pub const fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len as u32)
        }
    }
    pub const fn contains(&self, a: Ipv4Addr) -> bool {
        (a.to_bits() & self.mask()) == self.addr.to_bits()
    }
    /// The directed-broadcast address of this subnet (RFC 3964 §5.3.1).
    pub const fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.addr.to_bits() | !self.mask())
    }
}

impl Ipv6Net {
    pub const fn new(addr: Ipv6Addr, len: u8) -> Self {
        Self { addr, len }
    }
    pub const fn mask(&self) -> u128 {
        if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - self.len as u32)
        }
    }
    pub const fn contains(&self, a: &Ipv6Addr) -> bool {
        (a.to_bits() & self.mask()) == self.addr.to_bits()
    }
}

/// Why a prefix or MAC string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "`{0}` is not a prefix: write it as address/length, e.g. 192.0.2.0/24 or 2001:db8::/32"
    )]
    Prefix(String),
    #[error("`{0}` has host bits set beyond the prefix length; did you mean {1}?")]
    HostBits(String, String),
    #[error("`{0}` is not an Ethernet address: write six hex octets, e.g. 02:00:00:00:00:01")]
    Mac(String),
}

impl FromStr for Ipv4Net {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Prefix(s.to_owned());
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        let len: u8 = l.trim().parse().map_err(|_| bad())?;
        if len > 32 {
            return Err(bad());
        }
        let net = Ipv4Net { addr, len };
        let masked = Ipv4Net::new(Ipv4Addr::from_bits(addr.to_bits() & net.mask()), len);
        if masked.addr != addr {
            return Err(ParseError::HostBits(s.to_owned(), masked.to_string()));
        }
        Ok(net)
    }
}

impl FromStr for Ipv6Net {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Prefix(s.to_owned());
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.trim().parse().map_err(|_| bad())?;
        let len: u8 = l.trim().parse().map_err(|_| bad())?;
        if len > 128 {
            return Err(bad());
        }
        let net = Ipv6Net { addr, len };
        let masked = Ipv6Net::new(Ipv6Addr::from_bits(addr.to_bits() & net.mask()), len);
        if masked.addr != addr {
            return Err(ParseError::HostBits(s.to_owned(), masked.to_string()));
        }
        Ok(net)
    }
}

impl FromStr for MacAddr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Mac(s.to_owned());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                s.parse()
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
    };
}
string_serde!(Ipv4Net);
string_serde!(Ipv6Net);
string_serde!(MacAddr);

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

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

/// The name used in messages when the configuration did not come from a file.
const UNNAMED: &str = "relay.toml";

/// Why a configuration was refused. Every message is one line that names the
/// file (when known), the key and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax or a value of the wrong type or form; `key` is the dotted
    /// path toml reports for it (absent for pure syntax errors).
    #[error(
        "{}: line {line}, column {column}: {}{message}",
        file_label(.file.as_deref()),
        key_label(.key.as_deref())
    )]
    Syntax {
        file: Option<PathBuf>,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    /// A value that parses but breaks a rule (checked by [`Config::validate`]).
    #[error("relay.toml: {key}: {message}")]
    Invalid { key: String, message: String },
    /// [`ConfigError::Invalid`] for a configuration loaded from `path`.
    #[error("{}: {key}: {message}", .path.display())]
    InvalidIn {
        path: PathBuf,
        key: String,
        message: String,
    },
}

fn file_label(f: Option<&Path>) -> String {
    f.map_or_else(|| UNNAMED.to_owned(), |p| p.display().to_string())
}

fn key_label(k: Option<&str>) -> String {
    k.map(|k| format!("{k}: ")).unwrap_or_default()
}

impl ConfigError {
    /// The dotted key the error is about (`sixto4.unicast_addr`), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { key, .. } => key.as_deref(),
            ConfigError::Invalid { key, .. } | ConfigError::InvalidIn { key, .. } => Some(key),
        }
    }

    /// Attach the file the configuration came from.
    pub fn in_file(self, path: &Path) -> ConfigError {
        match self {
            ConfigError::Syntax {
                line,
                column,
                key,
                message,
                ..
            } => ConfigError::Syntax {
                file: Some(path.to_owned()),
                line,
                column,
                key,
                message,
            },
            ConfigError::Invalid { key, message } | ConfigError::InvalidIn { key, message, .. } => {
                ConfigError::InvalidIn {
                    path: path.to_owned(),
                    key,
                    message,
                }
            }
            e @ ConfigError::Read { .. } => e,
        }
    }

    fn from_toml(src: &str, e: &toml::de::Error) -> ConfigError {
        let (line, column) = e.span().map_or((1, 1), |r| line_column(src, r.start));
        let msg = e.message();
        let field = backticked_after(msg, "unknown field ")
            .or_else(|| backticked_after(msg, "missing field "));
        let key = match (toml_key_path(src), field) {
            (Some(parent), Some(f)) => Some(format!("{parent}.{f}")),
            (None, Some(f)) => Some(f.to_owned()),
            (parent, None) => parent,
        };
        let mut message = if msg.contains("untagged enum TosRepr") {
            "not a TOS policy: use \"copy\", \"compat\" or a number 0..=255".to_owned()
        } else {
            msg.split('\n').collect::<Vec<_>>().join("; ")
        };
        if msg.starts_with("unknown field") {
            message.push_str("; remove it or fix its spelling (docs/config.md lists every key)");
        } else if msg.starts_with("missing field") {
            message.push_str("; this table needs it (docs/config.md)");
        }
        ConfigError::Syntax {
            file: None,
            line,
            column,
            key,
            message,
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(src: &str, at: usize) -> (usize, usize) {
    let before = src.get(..at).unwrap_or(src);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count());
    (before.matches('\n').count() + 1, column + 1)
}

/// `name` in "…unknown field `name`, expected…".
fn backticked_after<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// The dotted path toml gives a deserialisation error when it has no source
/// text to point into: deserialising the parsed table instead of the string
/// makes toml end its message with "in `sixto4.tunnel_mtu`".
fn toml_key_path(src: &str) -> Option<String> {
    let table: toml::Table = src.parse().ok()?;
    let err = Config::deserialize(toml::Value::Table(table)).err()?;
    let shown = err.to_string();
    let last = shown.lines().last()?;
    let path = last.strip_prefix("in `")?.strip_suffix('`')?;
    Some(path.to_owned())
}

impl Config {
    /// Parse and validate a `relay.toml` text.
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(s).map_err(|e| ConfigError::from_toml(s, &e))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read, parse and validate `path`; errors name the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml_str(&text).map_err(|e| e.in_file(path))
    }

    /// The configuration as TOML that [`Config::from_toml_str`] reads back
    /// unchanged (absent optional keys are left out).
    pub fn to_toml_string(&self) -> String {
        // Every key is a string and every value has a TOML form, so the
        // serializer has nothing to refuse; keep the reason visible if it ever does.
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot serialise configuration: {e}\n"))
    }

    /// Check the cross-field rules; the error names the first offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_relay()?;
        self.validate_interfaces()?;
        self.validate_sixto4()?;
        self.validate_teredo()?;
        self.validate_icmp_ipv4_engine()
    }

    fn validate_relay(&self) -> Result<(), ConfigError> {
        let r = &self.relay;
        if let Some(class) = native_addr_problem(&r.native_addr) {
            return Err(invalid(
                "relay.native_addr",
                format!(
                    "{} is {class}; set it to the relay's global unicast IPv6 address (source of its ICMPv6 errors, SPEC §1.3)",
                    r.native_addr
                ),
            ));
        }
        for p in &r.managed_prefixes {
            for (bad, what) in [(MULTICAST6, "multicast"), (LINK_LOCAL6, "link-local")] {
                if overlaps6(p, &bad) {
                    return Err(invalid(
                        "relay.managed_prefixes",
                        format!("{p} contains {what} addresses ({bad}); list only unicast prefixes steered to the relay"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_interfaces(&self) -> Result<(), ConfigError> {
        let i = &self.interfaces;
        let mut sides = vec![("interfaces.v4", &i.v4)];
        if !i.one_armed {
            sides.push(("interfaces.v6", &i.v6));
        }
        for (sec, side) in sides {
            if side.name.is_empty() || side.name.len() > 15 {
                return Err(invalid(
                    &format!("{sec}.name"),
                    format!(
                        "`{}` is not an interface name; use 1 to 15 characters (Linux IFNAMSIZ)",
                        side.name
                    ),
                ));
            }
            if side.mtu < 1280 {
                return Err(invalid(
                    &format!("{sec}.mtu"),
                    format!("{} is below 1280, the IPv6 minimum link MTU (RFC 8200 §5); use the link's real MTU, normally 1500", side.mtu),
                ));
            }
            if let Some(v) = side.vlan {
                if !(1..=4094).contains(&v) {
                    return Err(invalid(
                        &format!("{sec}.vlan"),
                        format!("{v} is not a VLAN ID; use 1..=4094 (IEEE 802.1Q), or leave it out for untagged frames"),
                    ));
                }
            }
        }
        if !i.one_armed && i.v4.name == i.v6.name {
            return Err(invalid(
                "interfaces.v6.name",
                format!(
                    "`{}` is also interfaces.v4.name while interfaces.one_armed = false; name the IPv6-facing interface, or set one_armed = true",
                    i.v6.name
                ),
            ));
        }
        Ok(())
    }

    fn validate_sixto4(&self) -> Result<(), ConfigError> {
        let s = &self.sixto4;
        if s.enabled && s.unicast_addr.is_none() {
            return Err(invalid(
                "sixto4.unicast_addr",
                "required when sixto4.enabled = true; set it to the relay's unicast IPv4 address (RFC 3068 §4.2)",
            ));
        }
        if let Some(a) = s.unicast_addr {
            relay_v4("sixto4.unicast_addr", a)?;
        }
        for a in &s.extra_addrs {
            relay_v4("sixto4.extra_addrs", *a)?;
        }
        if !(1280..=1480).contains(&s.tunnel_mtu) {
            return Err(invalid(
                "sixto4.tunnel_mtu",
                format!(
                    "{} is outside 1280..=1480; use 1480 when the IPv4 path carries 1500-byte packets, else down to 1280 (RFC 4213 §3.2.1)",
                    s.tunnel_mtu
                ),
            ));
        }
        let v4_mtu = self.interfaces.v4.mtu;
        if u32::from(s.tunnel_mtu) + 20 > u32::from(v4_mtu) {
            return Err(invalid(
                "sixto4.tunnel_mtu",
                format!(
                    "{} plus the 20-byte IPv4 header exceeds interfaces.v4.mtu ({v4_mtu}); lower it to {} or raise the interface MTU",
                    s.tunnel_mtu,
                    v4_mtu.saturating_sub(20)
                ),
            ));
        }
        if s.ttl == 0 {
            return Err(invalid(
                "sixto4.ttl",
                "0 would make the first router drop every encapsulated packet; use 64 (RFC 4213 §3.3)",
            ));
        }
        if s.mode == TunnelMode::SixRd && s.sixrd.is_none() {
            return Err(invalid(
                "sixto4.sixrd",
                "required when sixto4.mode = \"6rd\"; add a [sixto4.sixrd] table with prefix, ipv4_mask_len and br_addr (RFC 5969 §7)",
            ));
        }
        if let Some(rd) = &s.sixrd {
            validate_sixrd(rd)?;
        }
        if let Some(src) = s.return_source {
            relay_v4("sixto4.return_source", src)?;
            let mut own: Vec<Ipv4Addr> = Vec::new();
            match (&s.sixrd, s.mode) {
                (Some(rd), TunnelMode::SixRd) => own.push(rd.br_addr),
                _ if s.anycast => own.push(SIXTOFOUR_ANYCAST),
                _ => {}
            }
            own.extend(s.unicast_addr);
            own.extend(s.extra_addrs.iter().copied());
            if !own.contains(&src) {
                let list: Vec<String> = own.iter().map(Ipv4Addr::to_string).collect();
                return Err(invalid(
                    "sixto4.return_source",
                    format!(
                        "{src} is not one of the relay's 6to4 addresses ({}); use one of them or leave it out (RFC 6343 §4.4)",
                        if list.is_empty() { "none configured".to_owned() } else { list.join(", ") }
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_teredo(&self) -> Result<(), ConfigError> {
        let t = &self.teredo;
        if t.enabled && t.addr.is_none() {
            return Err(invalid(
                "teredo.addr",
                "required when teredo.enabled = true; set it to the relay's unicast Teredo IPv4 address (SPEC §6.1)",
            ));
        }
        if let Some(a) = t.addr {
            relay_v4("teredo.addr", a)?;
        }
        for (key, port) in [
            ("teredo.port", t.port),
            ("teredo.server_port", t.server_port),
        ] {
            if port == 0 {
                return Err(invalid(
                    key,
                    "0 is not a usable UDP port; use a fixed port (teredo.port 3545, server_port 3544; SPEC §3.4)",
                ));
            }
        }
        if t.mtu < 1280 {
            return Err(invalid(
                "teredo.mtu",
                format!(
                    "{} is below 1280, the IPv6 minimum link MTU; use 1280 (RFC 4380 §5.1.2)",
                    t.mtu
                ),
            ));
        }
        let v4_mtu = self.interfaces.v4.mtu;
        if u32::from(t.mtu) + 28 > u32::from(v4_mtu) {
            return Err(invalid(
                "teredo.mtu",
                format!(
                    "{} plus 28 bytes of IPv4 and UDP headers exceeds interfaces.v4.mtu ({v4_mtu}); lower it or raise the interface MTU",
                    t.mtu
                ),
            ));
        }
        if let Some(k) = &t.bubble_key {
            if k.len() != 32 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    "teredo.bubble_key",
                    "not 32 hex digits; give a 128-bit key such as the output of `openssl rand -hex 16`, or leave it out for a random one",
                ));
            }
        }
        if !(1..=MAX_PEERS).contains(&t.peer_capacity) {
            return Err(invalid(
                "teredo.peer_capacity",
                format!(
                    "{} is outside 1..={MAX_PEERS}; the default is 1048576 (SPEC §6.7)",
                    t.peer_capacity
                ),
            ));
        }
        at_least(
            "teredo.peer_idle_evict",
            t.peer_idle_evict.into(),
            1,
            "seconds; the default is 60",
        )?;
        at_least(
            "teredo.queue_pkts",
            t.queue_pkts.into(),
            1,
            "packet, or nothing waits while a peer is verified; the default is 8",
        )?;
        at_least(
            "teredo.queue_bytes",
            t.queue_bytes.into(),
            1280,
            "bytes so one full 1280-byte packet fits (RFC 4380 §5.4.1)",
        )?;
        if t.queue_total_bytes < u64::from(t.queue_bytes) {
            return Err(invalid(
                "teredo.queue_total_bytes",
                format!(
                    "{} is below teredo.queue_bytes ({}); the global cap must hold at least one peer's queue",
                    t.queue_total_bytes, t.queue_bytes
                ),
            ));
        }
        at_least(
            "teredo.new_peer_rate",
            t.new_peer_rate.into(),
            1,
            "per second (T6-12); the default is 100",
        )?;
        at_least(
            "teredo.new_peer_burst",
            t.new_peer_burst.into(),
            1,
            "(T6-12); the default is 200",
        )
    }

    fn validate_icmp_ipv4_engine(&self) -> Result<(), ConfigError> {
        let c = &self.icmp6;
        for (key, v) in [
            ("icmp6.ptb_rate", c.ptb_rate),
            ("icmp6.err_rate", c.err_rate),
            ("icmp6.echo_rate", c.echo_rate),
        ] {
            at_least(
                key,
                v.into(),
                1,
                "per second; ICMPv6 errors are rate-limited, never switched off (RFC 4443 §2.4(f))",
            )?;
        }
        for (key, v) in [
            ("icmp6.ptb_burst", c.ptb_burst),
            ("icmp6.err_burst", c.err_burst),
            ("icmp6.echo_burst", c.echo_burst),
        ] {
            at_least(
                key,
                v.into(),
                1,
                "message, or the bucket never fills (RFC 4443 §2.4(f))",
            )?;
        }
        at_least(
            "icmp6.hop_limit",
            c.hop_limit.into(),
            1,
            "; the default is 64",
        )?;
        let ip = &self.ipv4;
        let min = u64::from(self.interfaces.v4.mtu.max(1500));
        at_least(
            "ipv4.reassembly_max",
            ip.reassembly_max.into(),
            min,
            "bytes, max(1500, interfaces.v4.mtu) (RFC 4213 §3.6)",
        )?;
        if ip.reassembly_max > 65_535 {
            return Err(invalid(
                "ipv4.reassembly_max",
                format!(
                    "{} exceeds 65535, the largest IPv4 datagram; use 65535",
                    ip.reassembly_max
                ),
            ));
        }
        at_least(
            "ipv4.reassembly_timeout",
            ip.reassembly_timeout.into(),
            1,
            "seconds; the default is 30",
        )?;
        at_least(
            "ipv4.reassembly_entries",
            ip.reassembly_entries.into(),
            1,
            "; the default is 1024",
        )?;
        at_least(
            "ipv4.reassembly_per_source",
            ip.reassembly_per_source.into(),
            1,
            "; the default is 64",
        )?;
        at_least(
            "ipv4.teredo_ttl",
            ip.teredo_ttl.into(),
            1,
            "; the default is 64",
        )?;
        at_least(
            "engine.slow_queue",
            self.engine.slow_queue.into(),
            1,
            "frames (C-16); the default is 4096",
        )
    }
}

/// The 6to4 anycast relay address (RFC 3068 §2.3).
const SIXTOFOUR_ANYCAST: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);
/// Upper bound on `teredo.peer_capacity`.
const MAX_PEERS: u32 = 1 << 24;
const MULTICAST6: Ipv6Net = Ipv6Net::new(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8);
const LINK_LOCAL6: Ipv6Net = Ipv6Net::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10);
const SIXTOFOUR6: Ipv6Net = Ipv6Net::new(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);
const TEREDO6: Ipv6Net = Ipv6Net::new(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32);

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

fn at_least(key: &str, v: u64, min: u64, unit_and_hint: &str) -> Result<(), ConfigError> {
    if v >= min {
        return Ok(());
    }
    let sep = if unit_and_hint.starts_with(';') {
        ""
    } else {
        " "
    };
    Err(invalid(
        key,
        format!("{v} is too small; use at least {min}{sep}{unit_and_hint}"),
    ))
}

fn overlaps6(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    let shorter = if a.len <= b.len { a } else { b };
    (a.addr.to_bits() & shorter.mask()) == (b.addr.to_bits() & shorter.mask())
}

/// Why `a` cannot be the relay's native address, if it cannot.
fn native_addr_problem(a: &Ipv6Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_loopback() {
        Some("the loopback address")
    } else if LINK_LOCAL6.contains(a) {
        Some("link-local (fe80::/10)")
    } else if MULTICAST6.contains(a) {
        Some("multicast (ff00::/8)")
    } else if SIXTOFOUR6.contains(a) {
        Some("a 6to4 address (2002::/16), which the relay translates")
    } else if TEREDO6.contains(a) {
        Some("a Teredo address (2001:0::/32), which the relay translates")
    } else {
        None
    }
}

/// Refuse IPv4 addresses that can never be a relay's own unicast address.
fn relay_v4(key: &str, a: Ipv4Addr) -> Result<(), ConfigError> {
    let o = a.octets()[0];
    let range = match o {
        0 => "0.0.0.0/8 (\"this network\")",
        127 => "127.0.0.0/8 (loopback)",
        224..=239 => "224.0.0.0/4 (multicast)",
        240..=255 => "240.0.0.0/4 (reserved)",
        _ => return Ok(()),
    };
    Err(invalid(
        key,
        format!("{a} is in {range}, not a unicast address (SPEC §1.1); use an address assigned to the relay"),
    ))
}

fn validate_sixrd(rd: &SixRdConfig) -> Result<(), ConfigError> {
    if rd.ipv4_mask_len > 32 {
        return Err(invalid(
            "sixto4.sixrd.ipv4_mask_len",
            format!(
                "{} is more than 32; give the number of high-order bits every CE IPv4 address shares, 0..=32 (RFC 5969 §7)",
                rd.ipv4_mask_len
            ),
        ));
    }
    let bits = u32::from(32 - rd.ipv4_mask_len) + u32::from(rd.prefix.len);
    if bits > 128 {
        return Err(invalid(
            "sixto4.sixrd.prefix",
            format!(
                "prefix length {} + (32 - ipv4_mask_len {}) = {bits} exceeds 128; shorten the prefix or raise ipv4_mask_len (RFC 5969 §7.1.1)",
                rd.prefix.len, rd.ipv4_mask_len
            ),
        ));
    }
    if overlaps6(&rd.prefix, &SIXTOFOUR6) && rd.prefix != SIXTOFOUR6 {
        return Err(invalid(
            "sixto4.sixrd.prefix",
            format!(
                "{} overlaps 2002::/16, the 6to4 prefix; use the operator's own 6rd prefix (or exactly 2002::/16 for plain 6to4)",
                rd.prefix
            ),
        ));
    }
    relay_v4("sixto4.sixrd.br_addr", rd.br_addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key named by the error `toml` produces, or `None` when it is accepted.
    fn rejected_key(toml: &str) -> Option<String> {
        Config::from_toml_str(toml)
            .err()
            .and_then(|e| e.key().map(str::to_owned))
    }

    fn message(toml: &str) -> String {
        Config::from_toml_str(toml)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    macro_rules! rejects {
        ($($name:ident: $toml:expr => $key:expr;)*) => {$(
            #[test]
            fn $name() {
                let toml: &str = $toml;
                assert_eq!(rejected_key(toml).as_deref(), Some($key), "{toml}");
                let msg = message(toml);
                assert!(!msg.contains('\n'), "one line: {msg}");
                assert!(msg.starts_with(&format!("relay.toml: {}: ", $key)), "{msg}");
            }
        )*};
    }

    macro_rules! accepts {
        ($($name:ident: $toml:expr;)*) => {$(
            #[test]
            fn $name() -> Result<(), ConfigError> {
                Config::from_toml_str($toml).map(drop)
            }
        )*};
    }

    const S4: &str = "[sixto4]\nenabled = true\nunicast_addr = \"203.0.113.4\"\n";
    const TEREDO: &str = "[teredo]\nenabled = true\naddr = \"203.0.113.5\"\n";
    const SIXRD: &str = "[sixto4]\nenabled = true\nunicast_addr = \"203.0.113.4\"\nmode = \"6rd\"\n[sixto4.sixrd]\nbr_addr = \"203.0.113.4\"\n";

    rejects! {
        sixto4_enabled_requires_unicast_addr: "[sixto4]\nenabled = true" => "sixto4.unicast_addr";
        tunnel_mtu_below_1280: &format!("{S4}tunnel_mtu = 1279") => "sixto4.tunnel_mtu";
        tunnel_mtu_above_1480: &format!("{S4}tunnel_mtu = 1481") => "sixto4.tunnel_mtu";
        tunnel_mtu_above_v4_link: &format!("{S4}tunnel_mtu = 1400\n[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu = 1400") => "sixto4.tunnel_mtu";
        sixto4_ttl_zero: &format!("{S4}ttl = 0") => "sixto4.ttl";
        sixrd_mode_requires_sixrd: &format!("{S4}mode = \"6rd\"") => "sixto4.sixrd";
        sixrd_too_many_bits: &format!("{SIXRD}prefix = \"2001:db8::/100\"\nipv4_mask_len = 0") => "sixto4.sixrd.prefix";
        sixrd_mask_len_above_32: &format!("{SIXRD}prefix = \"2001:db8::/32\"\nipv4_mask_len = 33") => "sixto4.sixrd.ipv4_mask_len";
        sixrd_inside_6to4: &format!("{SIXRD}prefix = \"2002:db8::/32\"\nipv4_mask_len = 8") => "sixto4.sixrd.prefix";
        sixrd_covers_6to4: &format!("{SIXRD}prefix = \"2000::/3\"\nipv4_mask_len = 8") => "sixto4.sixrd.prefix";
        sixrd_br_addr_loopback: "[sixto4]\nmode = \"6rd\"\n[sixto4.sixrd]\nprefix = \"2001:db8::/32\"\nipv4_mask_len = 8\nbr_addr = \"127.0.0.1\"" => "sixto4.sixrd.br_addr";
        teredo_enabled_requires_addr: "[teredo]\nenabled = true" => "teredo.addr";
        teredo_mtu_below_1280: &format!("{TEREDO}mtu = 1279") => "teredo.mtu";
        teredo_mtu_above_v4_link: &format!("{TEREDO}mtu = 1480") => "teredo.mtu";
        teredo_port_zero: &format!("{TEREDO}port = 0") => "teredo.port";
        teredo_server_port_zero: "[teredo]\nserver_port = 0" => "teredo.server_port";
        queue_pkts_zero: "[teredo]\nqueue_pkts = 0" => "teredo.queue_pkts";
        queue_bytes_below_one_packet: "[teredo]\nqueue_bytes = 1279" => "teredo.queue_bytes";
        queue_total_below_queue: "[teredo]\nqueue_bytes = 4000\nqueue_total_bytes = 3999" => "teredo.queue_total_bytes";
        peer_capacity_zero: "[teredo]\npeer_capacity = 0" => "teredo.peer_capacity";
        peer_capacity_above_2_24: "[teredo]\npeer_capacity = 16777217" => "teredo.peer_capacity";
        peer_idle_evict_zero: "[teredo]\npeer_idle_evict = 0" => "teredo.peer_idle_evict";
        new_peer_rate_zero: "[teredo]\nnew_peer_rate = 0" => "teredo.new_peer_rate";
        new_peer_burst_zero: "[teredo]\nnew_peer_burst = 0" => "teredo.new_peer_burst";
        bubble_key_not_hex: "[teredo]\nbubble_key = \"00112233445566778899aabbccddeeXX\"" => "teredo.bubble_key";
        bubble_key_short: "[teredo]\nbubble_key = \"0011\"" => "teredo.bubble_key";
        ptb_rate_zero: "[icmp6]\nptb_rate = 0" => "icmp6.ptb_rate";
        err_rate_zero: "[icmp6]\nerr_rate = 0" => "icmp6.err_rate";
        echo_rate_zero: "[icmp6]\necho_rate = 0" => "icmp6.echo_rate";
        ptb_burst_zero: "[icmp6]\nptb_burst = 0" => "icmp6.ptb_burst";
        err_burst_zero: "[icmp6]\nerr_burst = 0" => "icmp6.err_burst";
        echo_burst_zero: "[icmp6]\necho_burst = 0" => "icmp6.echo_burst";
        icmp6_hop_limit_zero: "[icmp6]\nhop_limit = 0" => "icmp6.hop_limit";
        reassembly_max_below_1500: "[ipv4]\nreassembly_max = 1499" => "ipv4.reassembly_max";
        reassembly_max_above_65535: "[ipv4]\nreassembly_max = 65536" => "ipv4.reassembly_max";
        reassembly_timeout_zero: "[ipv4]\nreassembly_timeout = 0" => "ipv4.reassembly_timeout";
        reassembly_entries_zero: "[ipv4]\nreassembly_entries = 0" => "ipv4.reassembly_entries";
        reassembly_per_source_zero: "[ipv4]\nreassembly_per_source = 0" => "ipv4.reassembly_per_source";
        teredo_ttl_zero: "[ipv4]\nteredo_ttl = 0" => "ipv4.teredo_ttl";
        slow_queue_zero: "[engine]\nslow_queue = 0" => "engine.slow_queue";
        unicast_addr_this_network: "[sixto4]\nunicast_addr = \"0.1.2.3\"" => "sixto4.unicast_addr";
        unicast_addr_loopback: "[sixto4]\nunicast_addr = \"127.0.0.1\"" => "sixto4.unicast_addr";
        unicast_addr_multicast: "[sixto4]\nunicast_addr = \"224.0.0.1\"" => "sixto4.unicast_addr";
        unicast_addr_reserved: "[sixto4]\nunicast_addr = \"255.255.255.255\"" => "sixto4.unicast_addr";
        extra_addr_multicast: "[sixto4]\nextra_addrs = [\"198.51.100.1\", \"239.1.2.3\"]" => "sixto4.extra_addrs";
        return_source_reserved: "[sixto4]\nreturn_source = \"240.0.0.1\"" => "sixto4.return_source";
        teredo_addr_loopback: "[teredo]\naddr = \"127.0.0.2\"" => "teredo.addr";
        native_addr_unspecified: "[relay]\nnative_addr = \"::\"" => "relay.native_addr";
        native_addr_loopback: "[relay]\nnative_addr = \"::1\"" => "relay.native_addr";
        native_addr_link_local: "[relay]\nnative_addr = \"fe80::1\"" => "relay.native_addr";
        native_addr_multicast: "[relay]\nnative_addr = \"ff02::1\"" => "relay.native_addr";
        native_addr_6to4: "[relay]\nnative_addr = \"2002:cb00:7104::1\"" => "relay.native_addr";
        native_addr_teredo: "[relay]\nnative_addr = \"2001:0:4136:e378::1\"" => "relay.native_addr";
        managed_prefix_multicast: "[relay]\nmanaged_prefixes = [\"2001:db8:1::/48\", \"ff0e::/16\"]" => "relay.managed_prefixes";
        managed_prefix_link_local: "[relay]\nmanaged_prefixes = [\"fe80::/64\"]" => "relay.managed_prefixes";
        managed_prefix_everything: "[relay]\nmanaged_prefixes = [\"::/0\"]" => "relay.managed_prefixes";
        v4_mtu_below_1280: "[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu = 1279" => "interfaces.v4.mtu";
        v6_mtu_below_1280: "[interfaces.v6]\nname = \"b\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu = 1000" => "interfaces.v6.mtu";
        vlan_zero: "[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nvlan = 0" => "interfaces.v4.vlan";
        vlan_4095: "[interfaces.v6]\nname = \"b\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nvlan = 4095" => "interfaces.v6.vlan";
        interface_name_too_long: "[interfaces.v4]\nname = \"a-very-long-name0\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"" => "interfaces.v4.name";
        two_armed_same_name: "[interfaces.v4]\nname = \"eth0\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n[interfaces.v6]\nname = \"eth0\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"" => "interfaces.v6.name";
        return_source_not_own: &format!("{S4}return_source = \"203.0.113.9\"") => "sixto4.return_source";
        return_source_anycast_without_anycast: &format!("{S4}return_source = \"192.88.99.1\"") => "sixto4.return_source";
    }

    accepts! {
        empty_is_valid: "";
        sixto4_with_unicast: S4;
        tunnel_mtu_1280: &format!("{S4}tunnel_mtu = 1280");
        sixrd_exactly_6to4: &format!("{SIXRD}prefix = \"2002::/16\"\nipv4_mask_len = 0");
        sixrd_full_128_bits: &format!("{SIXRD}prefix = \"2001:db8::/96\"\nipv4_mask_len = 0");
        sixrd_return_source_br: "[sixto4]\nenabled = true\nunicast_addr = \"203.0.113.4\"\nmode = \"6rd\"\nreturn_source = \"198.51.100.1\"\n[sixto4.sixrd]\nprefix = \"2001:db8::/32\"\nipv4_mask_len = 8\nbr_addr = \"198.51.100.1\"";
        teredo_with_addr: TEREDO;
        peer_capacity_2_24: "[teredo]\npeer_capacity = 16777216";
        vlan_4094: "[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nvlan = 4094";
        one_armed_same_name: "[interfaces]\none_armed = true\n[interfaces.v4]\nname = \"xr-v6\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"";
        return_source_anycast: &format!("{S4}anycast = true\nreturn_source = \"192.88.99.1\"");
        return_source_extra: &format!("{S4}extra_addrs = [\"198.51.100.7\"]\nreturn_source = \"198.51.100.7\"");
        documentation_ranges_are_relay_addresses: "[sixto4]\nunicast_addr = \"192.0.2.1\"\nextra_addrs = [\"198.51.100.1\", \"10.0.0.1\"]";
    }

    #[test]
    fn empty_toml_gives_defaults() -> Result<(), ConfigError> {
        assert_eq!(Config::from_toml_str("")?, Config::default());
        let d = Config::default();
        assert!(!d.sixto4.enabled && !d.sixto4.anycast && !d.teredo.enabled);
        assert_eq!(d.sixto4.tunnel_mtu, 1480);
        assert_eq!(d.sixto4.df, DfMode::Clear);
        assert_eq!(d.sixto4.tos, TosMode::Copy);
        assert_eq!((d.teredo.port, d.teredo.mtu), (3545, 1280));
        assert_eq!(d.teredo.peer_capacity, 1_048_576);
        assert_eq!((d.teredo.queue_bytes, d.teredo.queue_pkts), (1280, 8));
        assert_eq!((d.icmp6.ptb_rate, d.icmp6.err_rate), (10_000, 1_000));
        assert_eq!(
            (d.ipv4.reassembly_max, d.ipv4.reassembly_timeout),
            (65_535, 30)
        );
        assert!(!d.bogons.extended);
        Ok(())
    }

    const FULL: &str = r#"
[relay]
native_addr = "2001:db8:1::ff"
ipv4_subnets = ["203.0.113.0/24", "198.51.100.0/25"]
managed_prefixes = ["2001:db8:ffff::/48"]

[interfaces]
one_armed = false
[interfaces.v4]
name = "eth1"
mac = "02:00:00:00:04:01"
next_hop_mac = "02:00:00:00:04:02"
vlan = 100
mtu = 9000
[interfaces.v6]
name = "eth2"
mac = "02:00:00:00:06:01"
next_hop_mac = "02:00:00:00:06:02"
mtu = 1500

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"
extra_addrs = ["203.0.113.6"]
tunnel_mtu = 1400
df = "set"
ttl = 32
tos = 0
return_source = "203.0.113.4"
echo_reply_source = "anycast-unicast"
accept_only_anycast_dst = true
mode = "6rd"
client_allow = ["198.51.100.0/24"]
native_source_allow = ["2001:db8::/32"]
misrouted = "pass"
[sixto4.sixrd]
prefix = "2001:db8::/32"
ipv4_mask_len = 8
br_addr = "203.0.113.4"

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3546
mtu = 1400
honour_cone_bit = true
direct_bubbles = true
accept_unknown_peers = true
symmetric_nat_bubbles = true
bubble_hop_limit = 255
bubble_source = "native"
bubble_key = "00112233445566778899aabbccddeeff"
peer_capacity = 4096
peer_idle_evict = 30
queue_bytes = 4096
queue_pkts = 4
queue_total_bytes = 1048576
new_peer_rate = 10
new_peer_burst = 20
served_exclude = ["2001:db8:dead::/48"]
server_port = 3544

[icmp6]
ptb_rate = 1
ptb_burst = 2
err_rate = 3
err_burst = 4
echo_rate = 5
echo_burst = 6
send_unreachable = false
hop_limit = 255

[icmp4]
translate_errors = false
untrust_teredo_peer = true

[ipv4]
reassembly_max = 9000
reassembly_timeout = 10
reassembly_entries = 16
reassembly_per_source = 4
teredo_ttl = 128

[bogons]
extended = true

[engine]
slow_queue = 128
"#;

    #[test]
    fn full_example_round_trips() -> Result<(), ConfigError> {
        let cfg = Config::from_toml_str(FULL)?;
        assert_ne!(cfg, Config::default());
        assert_eq!(cfg.interfaces.v4.vlan, Some(100));
        assert_eq!(cfg.sixto4.tos, TosMode::Fixed(0));
        assert_eq!(cfg.sixto4.mode, TunnelMode::SixRd);
        let text = cfg.to_toml_string();
        assert_eq!(Config::from_toml_str(&text)?, cfg, "{text}");
        let defaults = Config::default().to_toml_string();
        assert_eq!(
            Config::from_toml_str(&defaults)?,
            Config::default(),
            "{defaults}"
        );
        Ok(())
    }

    #[test]
    fn tos_forms() -> Result<(), ConfigError> {
        for (v, want) in [
            ("\"copy\"", TosMode::Copy),
            ("\"compat\"", TosMode::Compat),
            ("184", TosMode::Fixed(184)),
        ] {
            let cfg = Config::from_toml_str(&format!("[sixto4]\ntos = {v}"))?;
            assert_eq!(cfg.sixto4.tos, want);
        }
        assert_eq!(
            rejected_key("[sixto4]\ntos = 256").as_deref(),
            Some("sixto4.tos")
        );
        assert!(message("[sixto4]\ntos = 256").contains("\"copy\", \"compat\" or a number 0..=255"));
        Ok(())
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        for (toml, key, line, col) in [
            ("frobnicate = 1", "frobnicate", 1, 1),
            ("[sixto4]\nenabled = false\nunicast = \"203.0.113.4\"", "sixto4.unicast", 3, 1),
            ("[sixto4.sixrd]\nprefix = \"2001:db8::/32\"\nipv4_mask_len = 8\nbr_addr = \"203.0.113.4\"\nbr = 1", "sixto4.sixrd.br", 5, 1),
            ("[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu_bytes = 1", "interfaces.v4.mtu_bytes", 5, 1),
            ("[teredo_relay]\nenabled = true", "teredo_relay", 1, 2),
        ] {
            assert_eq!(rejected_key(toml).as_deref(), Some(key), "{toml}");
            let msg = message(toml);
            assert!(
                msg.starts_with(&format!("relay.toml: line {line}, column {col}: {key}: unknown field")),
                "{msg}"
            );
            assert!(msg.contains("docs/config.md") && !msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn bad_prefix_reports_parse_error() {
        let toml =
            "[relay]\nmanaged_prefixes = [\n  \"2001:db8::/32\",\n  \"2001:db8:zz::/48\",\n]";
        assert_eq!(
            rejected_key(toml).as_deref(),
            Some("relay.managed_prefixes")
        );
        let want = ParseError::Prefix("2001:db8:zz::/48".into()).to_string();
        let msg = message(toml);
        assert!(
            msg.starts_with("relay.toml: line 2, column 20: relay.managed_prefixes: "),
            "{msg}"
        );
        assert!(msg.ends_with(&want), "{msg}");

        let toml = "[sixto4.sixrd]\nprefix = \"2001:db8::1/32\"\nipv4_mask_len = 8\nbr_addr = \"203.0.113.4\"";
        let want =
            ParseError::HostBits("2001:db8::1/32".into(), "2001:db8::/32".into()).to_string();
        assert_eq!(rejected_key(toml).as_deref(), Some("sixto4.sixrd.prefix"));
        assert!(message(toml).ends_with(&want));
        assert!(message("[relay]\nipv4_subnets = [\"203.0.113.0/33\"]")
            .ends_with(&ParseError::Prefix("203.0.113.0/33".into()).to_string()));
    }

    #[test]
    fn type_and_syntax_errors() {
        let toml = "[sixto4]\ntunnel_mtu = \"big\"";
        assert_eq!(rejected_key(toml).as_deref(), Some("sixto4.tunnel_mtu"));
        assert!(message(toml)
            .starts_with("relay.toml: line 2, column 14: sixto4.tunnel_mtu: invalid type"));
        assert_eq!(
            rejected_key("[teredo]\nport = 70000").as_deref(),
            Some("teredo.port")
        );
        assert_eq!(
            rejected_key("[sixto4]\nunicast_addr = \"1.2.3\"").as_deref(),
            Some("sixto4.unicast_addr")
        );
        assert_eq!(
            rejected_key("[interfaces.v4]\nname = \"a\"").as_deref(),
            Some("interfaces.v4.mac")
        );
        let msg = message("[relay\nnative_addr = \"2001:db8::1\"");
        assert!(
            msg.starts_with("relay.toml: line 1, column 7: invalid table header"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(rejected_key("[relay\n"), None);
    }

    #[test]
    fn messages_name_the_fix() {
        assert_eq!(
            message("[sixto4]\nenabled = true"),
            "relay.toml: sixto4.unicast_addr: required when sixto4.enabled = true; set it to the relay's unicast IPv4 address (RFC 3068 §4.2)"
        );
        assert!(
            message("[sixto4]\nunicast_addr = \"127.0.0.1\"").contains("127.0.0.0/8 (loopback)")
        );
        assert!(message("[sixto4]\nunicast_addr = \"0.0.0.1\"").contains("0.0.0.0/8"));
        assert!(
            message("[sixto4]\nunicast_addr = \"230.0.0.1\"").contains("224.0.0.0/4 (multicast)")
        );
        assert!(
            message("[sixto4]\nunicast_addr = \"250.0.0.1\"").contains("240.0.0.0/4 (reserved)")
        );
        assert!(message("[relay]\nnative_addr = \"2002::1\"").contains("2002::/16"));
        assert!(message(&format!("{S4}return_source = \"203.0.113.9\"")).contains("(203.0.113.4)"));
    }

    #[test]
    fn load_names_the_file() -> Result<(), std::io::Error> {
        let dir = std::env::temp_dir().join(format!("xrelay-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let missing = dir.join("missing.toml");
        let e = Config::load(&missing)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with(&format!("{}: ", missing.display())), "{e}");

        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[teredo]\nenabled = true\n")?;
        let e = Config::load(&bad).err();
        assert_eq!(e.as_ref().and_then(ConfigError::key), Some("teredo.addr"));
        let shown = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            shown.starts_with(&format!("{}: teredo.addr: required", bad.display())),
            "{shown}"
        );

        std::fs::write(&bad, "[teredo]\nenabled = yes\n")?;
        let shown = Config::load(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            shown.starts_with(&format!("{}: line 2, column 11: ", bad.display())),
            "{shown}"
        );

        let good = dir.join("good.toml");
        std::fs::write(&good, FULL)?;
        assert!(Config::load(&good).is_ok());
        std::fs::remove_dir_all(&dir)
    }
}
