//! The configuration compiled into the form the fast path reads: small fixed
//! arrays and precomputed values, so per-packet checks are a few compares.

use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_wire::{addr, sixrd::Domain, sixtofour};

use crate::config::{
    BubbleSource, Config, ConfigError, DfMode, EchoReplySource, MisroutedAction, TosMode,
    TunnelMode,
};
use crate::verdict::Port;

/// At most this many relay IPv4 addresses / attached broadcasts.
pub const MAX_ADDRS: usize = 16;

/// A small set of IPv4 addresses (host order) checked by linear scan.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddrSet {
    addrs: [u32; MAX_ADDRS],
    n: usize,
}

impl AddrSet {
    pub fn insert(&mut self, a: Ipv4Addr) {
        let a = a.to_bits();
        if !self.contains_bits(a) && self.n < MAX_ADDRS {
            self.addrs[self.n] = a;
            self.n += 1;
        }
    }
    #[inline]
    pub fn contains_bits(&self, a: u32) -> bool {
        self.addrs.iter().take(self.n).any(|x| *x == a)
    }
    #[inline]
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.contains_bits(a.to_bits())
    }
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.addrs
            .iter()
            .take(self.n)
            .map(|a| Ipv4Addr::from_bits(*a))
    }
    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// L2 addressing and MTU of one side.
#[derive(Debug, Clone, Copy)]
pub struct Egress {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub vlan: Option<u16>,
    pub mtu: u16,
}

impl Egress {
    #[inline]
    pub const fn l2_len(&self) -> usize {
        if self.vlan.is_some() {
            18
        } else {
            14
        }
    }
}

/// The compiled relay settings.
#[derive(Debug, Clone)]
pub struct Relay {
    pub native_addr: Ipv6Addr,
    /// Every IPv4 address the dataplane answers for (SPEC §0.2).
    pub relay_v4: AddrSet,
    /// Directed broadcasts of attached subnets (lists A and B).
    pub broadcasts: AddrSet,
    pub extended_bogons: bool,
    pub egress_v4: Egress,
    pub egress_v6: Egress,
    pub one_armed: bool,
    pub managed: Vec<(u128, u128)>,

    // 6to4 / 6rd
    pub sixto4: bool,
    pub sixrd: bool,
    pub domain: Domain,
    /// IPv4 addresses that accept proto-41 (S4-01).
    pub sixto4_v4: AddrSet,
    pub anycast: bool,
    pub accept_only_anycast: bool,
    pub return_source: Ipv4Addr,
    pub tunnel_mtu: u16,
    pub df: bool,
    pub ttl: u8,
    pub tos: TosMode,
    pub echo_reply_source: EchoReplySource,
    pub client_allow: Vec<(u32, u32)>,
    pub native_allow: Vec<(u128, u128)>,
    pub misrouted: MisroutedAction,

    // Teredo
    pub teredo: bool,
    pub teredo_addr: Ipv4Addr,
    pub teredo_port: u16,
    pub teredo_mtu: u16,
    pub teredo_server_port: u16,
    pub teredo_ttl: u8,
    pub honour_cone_bit: bool,
    pub direct_bubbles: bool,
    pub accept_unknown_peers: bool,
    pub symmetric_nat_bubbles: bool,
    pub bubble_hop_limit: u8,
    pub bubble_source: BubbleSource,
    pub served_exclude: Vec<(u128, u128)>,

    pub icmp_hop_limit: u8,
    pub send_unreachable: bool,
    pub translate_icmp4: bool,
    pub untrust_on_icmp4: bool,
}

fn net6(n: &crate::config::Ipv6Net) -> (u128, u128) {
    (n.addr.to_bits(), n.mask())
}

impl Relay {
    pub fn new(cfg: &Config) -> Result<Relay, ConfigError> {
        cfg.validate()?;
        let s = &cfg.sixto4;
        let t = &cfg.teredo;
        let sixrd = s.enabled && s.mode == TunnelMode::SixRd;
        let domain = match (&s.sixrd, sixrd) {
            (Some(p), true) => Domain::new(p.prefix.addr, p.prefix.len, p.ipv4_mask_len, p.br_addr)
                .map_err(|_| ConfigError::Invalid {
                    key: "sixto4.sixrd".into(),
                    message: "6rd domain parameters do not fit in 128 bits".into(),
                })?,
            _ => Domain::SIXTOFOUR,
        };

        let mut sixto4_v4 = AddrSet::default();
        if s.enabled {
            if sixrd {
                if let Some(p) = &s.sixrd {
                    sixto4_v4.insert(p.br_addr);
                }
            } else if s.anycast {
                sixto4_v4.insert(sixtofour::ANYCAST_V4);
            }
            if let Some(u) = s.unicast_addr {
                sixto4_v4.insert(u);
            }
            for a in &s.extra_addrs {
                sixto4_v4.insert(*a);
            }
        }
        let mut relay_v4 = sixto4_v4;
        if t.enabled {
            if let Some(a) = t.addr {
                relay_v4.insert(a);
            }
        }
        let mut broadcasts = AddrSet::default();
        for n in &cfg.relay.ipv4_subnets {
            if n.len < 31 {
                broadcasts.insert(n.broadcast());
            }
        }
        let return_source = match (s.return_source, sixrd) {
            (Some(a), _) => a,
            (None, true) => s
                .sixrd
                .as_ref()
                .map(|p| p.br_addr)
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            (None, false) if s.anycast => sixtofour::ANYCAST_V4,
            (None, false) => s.unicast_addr.unwrap_or(Ipv4Addr::UNSPECIFIED),
        };
        let side = |sd: &crate::config::Side| Egress {
            src_mac: sd.mac.0,
            dst_mac: sd.next_hop_mac.0,
            vlan: sd.vlan,
            mtu: sd.mtu,
        };
        let egress_v4 = side(&cfg.interfaces.v4);
        let egress_v6 = if cfg.interfaces.one_armed {
            egress_v4
        } else {
            side(&cfg.interfaces.v6)
        };
        let mut managed: Vec<(u128, u128)> = cfg.relay.managed_prefixes.iter().map(net6).collect();
        if s.enabled {
            managed.push((domain.prefix().to_bits(), prefix_mask(domain.prefix_len())));
        }
        if t.enabled {
            managed.push((
                u128::from(xrelay_wire::teredo::PREFIX) << 96,
                prefix_mask(32),
            ));
        }
        Ok(Relay {
            native_addr: cfg.relay.native_addr,
            relay_v4,
            broadcasts,
            extended_bogons: cfg.bogons.extended,
            egress_v4,
            egress_v6,
            one_armed: cfg.interfaces.one_armed,
            managed,
            sixto4: s.enabled,
            sixrd,
            domain,
            sixto4_v4,
            anycast: s.enabled && s.anycast && !sixrd,
            accept_only_anycast: s.accept_only_anycast_dst,
            return_source,
            tunnel_mtu: s.tunnel_mtu,
            df: s.df == DfMode::Set,
            ttl: s.ttl,
            tos: s.tos,
            echo_reply_source: s.echo_reply_source,
            client_allow: s
                .client_allow
                .iter()
                .map(|n| (n.addr.to_bits(), n.mask()))
                .collect(),
            native_allow: s.native_source_allow.iter().map(net6).collect(),
            misrouted: s.misrouted,
            teredo: t.enabled,
            teredo_addr: t.addr.unwrap_or(Ipv4Addr::UNSPECIFIED),
            teredo_port: t.port,
            teredo_mtu: t.mtu,
            teredo_server_port: t.server_port,
            teredo_ttl: cfg.ipv4.teredo_ttl,
            honour_cone_bit: t.honour_cone_bit,
            direct_bubbles: t.direct_bubbles,
            accept_unknown_peers: t.accept_unknown_peers,
            symmetric_nat_bubbles: t.symmetric_nat_bubbles,
            bubble_hop_limit: t.bubble_hop_limit,
            bubble_source: t.bubble_source,
            served_exclude: t.served_exclude.iter().map(net6).collect(),
            icmp_hop_limit: cfg.icmp6.hop_limit,
            send_unreachable: cfg.icmp6.send_unreachable,
            translate_icmp4: cfg.icmp4.translate_errors,
            untrust_on_icmp4: cfg.icmp4.untrust_teredo_peer,
        })
    }

    #[inline]
    pub fn egress(&self, p: Port) -> &Egress {
        match p {
            Port::V4 => &self.egress_v4,
            Port::V6 => &self.egress_v6,
        }
    }

    /// 6to4 list A (SPEC §1.1) plus attached broadcasts and, when enabled,
    /// list C. In 6rd mode only the never-unicast blocks apply, because
    /// 6rd domains run on operator-internal (often private) space
    /// (RFC 5969 §7.1.1 uses 10.0.0.0/8 in its example).
    #[inline]
    pub fn bogon_6to4(&self, a: Ipv4Addr) -> bool {
        if self.sixrd {
            let o = a.octets()[0];
            return o == 0 || o == 127 || o >= 224 || self.broadcasts.contains(a);
        }
        addr::is_list_a(a)
            || (!self.broadcasts.is_empty() && self.broadcasts.contains(a))
            || (self.extended_bogons && addr::is_list_c(a))
    }

    /// Teredo list B (SPEC §1.1) plus attached broadcasts and list C when enabled.
    #[inline]
    pub fn bogon_teredo(&self, a: Ipv4Addr) -> bool {
        addr::is_list_b(a)
            || (!self.broadcasts.is_empty() && self.broadcasts.contains(a))
            || (self.extended_bogons && addr::is_list_c(a))
    }

    /// Is `a` one of the relay's own IPv6 addresses (S4-08): the native
    /// address, and for each 6to4 IPv4 address X, `2002:X::` and `2002:X::1`.
    pub fn is_local_v6(&self, a: &Ipv6Addr) -> bool {
        if *a == self.native_addr {
            return true;
        }
        if !self.sixto4 {
            return false;
        }
        let bits = a.to_bits();
        match self.domain.embedded_v4(a) {
            Some(v4) => {
                self.sixto4_v4.contains(v4)
                    && self.domain.delegated_prefix(v4).0.to_bits() == bits & !1
            }
            None => false,
        }
    }

    /// The relay's 6to4 address for IPv4 address `v4`: `2002:V4::` (or the
    /// 6rd delegated prefix).
    pub fn local_6to4_addr(&self, v4: Ipv4Addr) -> Ipv6Addr {
        self.domain.delegated_prefix(v4).0
    }

    #[inline]
    pub fn is_managed(&self, a: &Ipv6Addr) -> bool {
        let b = a.to_bits();
        self.managed.iter().any(|(p, m)| b & m == *p)
    }

    /// RFC 6324 §3.3: does `a` embed one of the relay's IPv4 addresses in an
    /// automatic-tunnel format (6to4 prefix, ISATAP identifier, Teredo client
    /// field)?
    #[inline]
    pub fn embeds_relay_v4(&self, a: &Ipv6Addr) -> bool {
        if let Some(v4) = sixtofour::embedded_v4(a) {
            if self.relay_v4.contains(v4) {
                return true;
            }
        }
        if let Some(v4) = addr::isatap_v4(a) {
            if self.relay_v4.contains(v4) {
                return true;
            }
        }
        if xrelay_wire::teredo::is_teredo(a) {
            let (client, _) = xrelay_wire::teredo::mapping(a);
            if self.relay_v4.contains(client) {
                return true;
            }
        }
        false
    }
}

pub const fn prefix_mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else if len >= 128 {
        u128::MAX
    } else {
        u128::MAX << (128 - len as u32)
    }
}
