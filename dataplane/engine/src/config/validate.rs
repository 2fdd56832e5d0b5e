//! Loading and cross-field validation of `relay.toml`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::*;

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
        self.validate_icmp_ipv4_engine()?;
        self.dataplane.validate()?;
        self.validate_announce()
    }

    fn validate_announce(&self) -> Result<(), ConfigError> {
        let a = &self.announce;
        if !(1..=252).contains(&a.table) {
            return Err(invalid(
                "announce.table",
                format!(
                    "{} is not a usable routing table: use 1..=252 (253..=255 are the kernel's default, main and local; FRR's `ip import-table` accepts up to 252)",
                    a.table
                ),
            ));
        }
        // 0..=4 are the kernel's own (unspec, redirect, kernel, boot, static).
        if a.protocol <= 4 {
            return Err(invalid(
                "announce.protocol",
                format!(
                    "{} is reserved by the kernel (0 unspec, 1 redirect, 2 kernel, 3 boot, 4 static): choose a number of its own, e.g. 88",
                    a.protocol
                ),
            ));
        }
        if a.hold_down > 3600 {
            return Err(invalid(
                "announce.hold_down",
                format!(
                    "{} s is more than an hour: give seconds, 0..=3600",
                    a.hold_down
                ),
            ));
        }
        for n in &a.extra_prefixes {
            let why = match n {
                AnyNet::V4(p) if p.len < 8 => Some("shorter than /8"),
                AnyNet::V6(p) if p.len < 8 => Some("shorter than /8"),
                AnyNet::V6(p) if overlaps6(p, &MULTICAST6) => Some("multicast"),
                AnyNet::V6(p) if overlaps6(p, &LINK_LOCAL6) => Some("link-local"),
                AnyNet::V4(p) if p.addr.octets()[0] >= 224 || p.addr.octets()[0] == 127 => {
                    Some("multicast, reserved or loopback")
                }
                _ => None,
            };
            if let Some(why) = why {
                return Err(invalid(
                    "announce.extra_prefixes",
                    format!("{n} is {why}: list only unicast prefixes this relay serves"),
                ));
            }
        }
        Ok(())
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
            "(C-16); the default is 4096",
        )
    }
}

/// The kernel's headroom in front of every AF_XDP frame (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: u32 = 256;
/// The least UMEM headroom: the 28-byte Teredo encapsulation plus a VLAN tag.
pub const MIN_XSK_HEADROOM: u32 = 28 + 4;

impl DataplaneConfig {
    /// Check the `[dataplane]` rules; the error names the first offending
    /// key (`dataplane.batch`). The dataplane applies the same rules to the
    /// settings after its command-line overrides.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=256).contains(&self.queues) {
            return Err(invalid(
                "dataplane.queues",
                format!("{} is outside 1..=256; use the number of receive queues to serve (one worker each), default 1", self.queues),
            ));
        }
        if let Some(c) = self.cores.iter().find(|c| **c >= 4096) {
            return Err(invalid(
                "dataplane.cores",
                format!("core {c} is not a CPU number; list CPU numbers such as [0, 1], or leave it empty for no pinning"),
            ));
        }
        if let Some(c) = self.slow_core.filter(|c| *c >= 4096) {
            return Err(invalid(
                "dataplane.slow_core",
                format!("{c} is not a CPU number; give one, or leave it out for no pinning"),
            ));
        }
        if !(1..=1024).contains(&self.batch) {
            return Err(invalid(
                "dataplane.batch",
                format!("{} is outside 1..=1024; the default is 64", self.batch),
            ));
        }
        if !self.ring_size.is_power_of_two() || !(64..=16384).contains(&self.ring_size) {
            return Err(invalid(
                "dataplane.ring_size",
                format!(
                    "{} is not a power of two in 64..=16384; the default is 2048",
                    self.ring_size
                ),
            ));
        }
        if self.batch > self.ring_size {
            return Err(invalid(
                "dataplane.batch",
                format!(
                    "{} is larger than dataplane.ring_size ({}); lower it or raise the ring size",
                    self.batch, self.ring_size
                ),
            ));
        }
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err(invalid(
                "dataplane.frame_size",
                format!(
                    "{} is not a UMEM chunk size; use 2048 or 4096",
                    self.frame_size
                ),
            ));
        }
        let room = self
            .frame_size
            .checked_sub(XDP_PACKET_HEADROOM + self.headroom);
        if self.headroom < MIN_XSK_HEADROOM || room.is_none_or(|r| r < 1514 + MIN_XSK_HEADROOM) {
            return Err(invalid(
                "dataplane.headroom",
                format!(
                    "{} does not fit; use at least {MIN_XSK_HEADROOM} (Teredo encapsulation + a VLAN tag) and leave room for a 1514-byte frame in a {}-byte chunk after the kernel's {XDP_PACKET_HEADROOM}; the default is 64",
                    self.headroom, self.frame_size
                ),
            ));
        }
        if self.umem_frames() < 2 * self.batch + 64 {
            return Err(invalid(
                "dataplane.umem_frames",
                format!(
                    "{} is too few for batch {}; use at least 2 × batch + 64, or leave it out",
                    self.umem_frames(),
                    self.batch
                ),
            ));
        }
        Ok(())
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

pub(super) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

pub(super) fn at_least(
    key: &str,
    v: u64,
    min: u64,
    unit_and_hint: &str,
) -> Result<(), ConfigError> {
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

pub(super) fn overlaps6(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    let shorter = if a.len <= b.len { a } else { b };
    (a.addr.to_bits() & shorter.mask()) == (b.addr.to_bits() & shorter.mask())
}

/// Why `a` cannot be the relay's native address, if it cannot.
pub(super) fn native_addr_problem(a: &Ipv6Addr) -> Option<&'static str> {
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
pub(super) fn relay_v4(key: &str, a: Ipv4Addr) -> Result<(), ConfigError> {
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

pub(super) fn validate_sixrd(rd: &SixRdConfig) -> Result<(), ConfigError> {
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
