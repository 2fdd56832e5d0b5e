//! What the maps and constants hold for a configuration.
//!
//! The sets come from the engine's own compiled settings
//! ([`xrelay_engine::Relay`]), so the program steers exactly what the engine
//! classifies as relay traffic (C-01, S4-01, T4-01, managed prefixes;
//! docs/decisions.md "Classification of native IPv6 is by managed prefix").

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_engine::config::Ipv6Net;
use xrelay_engine::{Config, ConfigError, Relay};

use crate::abi::PrefixKind;
use crate::Settings;

/// 2001::/32 (RFC 4380 §2.6).
pub const TEREDO_PREFIX: Ipv6Net = Ipv6Net::new(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32);

/// The steering set: constants, relay addresses and managed prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Steering {
    pub settings: Settings,
    /// IPv4 addresses that accept protocol 41 (`xr_sixto4`).
    pub sixto4: Vec<Ipv4Addr>,
    /// Teredo addresses and their port (`xr_teredo`).
    pub teredo: Vec<(Ipv4Addr, u16)>,
    /// Managed prefixes (`xr_prefixes`).
    pub prefixes: Vec<(Ipv6Net, PrefixKind)>,
}

impl Steering {
    /// The set for `cfg`, after the engine's validation:
    /// - `xr_sixto4`: `sixto4.unicast_addr`, `extra_addrs`, 192.88.99.1 with
    ///   `anycast`, or the 6rd `br_addr` (the engine's S4-01 set);
    /// - `xr_teredo`: `teredo.addr` and `teredo.port`;
    /// - `xr_prefixes`: 2002::/16 or the 6rd prefix, 2001::/32, and
    ///   `relay.managed_prefixes` (operator);
    /// - ICMPv4 errors to any relay address are steered, because the engine
    ///   hands them to its slow path (E-01..E-04).
    pub fn from_config(cfg: &Config) -> Result<Steering, ConfigError> {
        let relay = Relay::new(cfg)?;
        let mut prefixes: BTreeMap<(Ipv6Addr, u8), PrefixKind> = cfg
            .relay
            .managed_prefixes
            .iter()
            .map(|n| ((n.addr, n.len), PrefixKind::Operator))
            .collect();
        if relay.sixto4 {
            let kind = if relay.sixrd {
                PrefixKind::SixRd
            } else {
                PrefixKind::SixToFour
            };
            prefixes.insert((relay.domain.prefix(), relay.domain.prefix_len()), kind);
        }
        if relay.teredo {
            prefixes.insert((TEREDO_PREFIX.addr, TEREDO_PREFIX.len), PrefixKind::Teredo);
        }
        Ok(Steering {
            settings: Settings {
                sixto4: relay.sixto4,
                teredo: relay.teredo,
                native: true,
                icmp4_errors: !relay.relay_v4.is_empty(),
            },
            sixto4: if relay.sixto4 {
                relay.sixto4_v4.iter().collect()
            } else {
                Vec::new()
            },
            teredo: if relay.teredo {
                vec![(relay.teredo_addr, relay.teredo_port)]
            } else {
                Vec::new()
            },
            prefixes: prefixes
                .into_iter()
                .map(|((a, l), k)| (Ipv6Net::new(a, l), k))
                .collect(),
        })
    }

    /// Is `a` in a managed prefix (the program's LPM test, in Rust).
    pub fn is_managed(&self, a: &Ipv6Addr) -> bool {
        self.prefixes.iter().any(|(n, _)| n.contains(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &str = r#"
[relay]
managed_prefixes = ["2001:db8:abcd::/48", "2002::/16"]
[sixto4]
enabled = true
anycast = true
unicast_addr = "192.0.2.1"
extra_addrs = ["192.0.2.3"]
[teredo]
enabled = true
addr = "192.0.2.2"
port = 3545
"#;

    const SIXRD: &str = r#"
[sixto4]
enabled = true
unicast_addr = "192.0.2.1"
mode = "6rd"
[sixto4.sixrd]
prefix = "2001:db8:600::/40"
ipv4_mask_len = 8
br_addr = "192.0.2.9"
"#;

    fn cfg(s: &str) -> Config {
        match Config::from_toml_str(s) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn a6(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    #[test]
    fn the_sets_are_the_engines() {
        for src in [
            BOTH,
            SIXRD,
            "",
            "[teredo]\nenabled = true\naddr = \"192.0.2.2\"",
        ] {
            let c = cfg(src);
            let Ok(s) = Steering::from_config(&c) else {
                panic!("steering")
            };
            let Ok(r) = Relay::new(&c) else {
                panic!("relay")
            };
            let mut v4: Vec<Ipv4Addr> = if r.sixto4 {
                r.sixto4_v4.iter().collect()
            } else {
                Vec::new()
            };
            v4.sort();
            let mut got = s.sixto4.clone();
            got.sort();
            assert_eq!(got, v4);
            for a in [
                "2002::1",
                "2002:c058:6301::1",
                "2001::1",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "2001:db8::1",
                "2001:db8:6cb:71::1",
                "2001:db8:abcd::1",
                "2001:db8:abce::1",
                "fe80::1",
                "ff02::1",
            ] {
                assert_eq!(s.is_managed(&a6(a)), r.is_managed(&a6(a)), "{src}: {a}");
            }
        }
    }

    #[test]
    fn kinds_and_addresses() {
        let s = match Steering::from_config(&cfg(BOTH)) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let mut v4 = s.sixto4.clone();
        v4.sort();
        assert_eq!(
            v4,
            [
                Ipv4Addr::new(192, 0, 2, 1),
                Ipv4Addr::new(192, 0, 2, 3),
                Ipv4Addr::new(192, 88, 99, 1)
            ]
        );
        assert_eq!(s.teredo, [(Ipv4Addr::new(192, 0, 2, 2), 3545)]);
        // An operator entry equal to a relay prefix takes the relay's kind.
        assert!(s
            .prefixes
            .contains(&(Ipv6Net::new(a6("2002::"), 16), PrefixKind::SixToFour)));
        assert!(s.prefixes.contains(&(TEREDO_PREFIX, PrefixKind::Teredo)));
        assert!(s.prefixes.contains(&(
            Ipv6Net::new(a6("2001:db8:abcd::"), 48),
            PrefixKind::Operator
        )));
        assert_eq!(s.prefixes.len(), 3);
        assert!(
            s.settings.sixto4 && s.settings.teredo && s.settings.native && s.settings.icmp4_errors
        );

        let r = match Steering::from_config(&cfg(SIXRD)) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            r.prefixes,
            [(Ipv6Net::new(a6("2001:db8:600::"), 40), PrefixKind::SixRd)]
        );
        let mut v4 = r.sixto4.clone();
        v4.sort();
        assert_eq!(
            v4,
            [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 9)]
        );
        assert!(!r.settings.teredo && r.teredo.is_empty());

        let off = match Steering::from_config(&cfg("")) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert!(off.sixto4.is_empty() && off.teredo.is_empty() && off.prefixes.is_empty());
        assert!(!off.settings.icmp4_errors);
    }
}
