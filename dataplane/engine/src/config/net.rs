//! Prefix and MAC address types of `relay.toml`, written as strings.

use core::fmt;
use core::str::FromStr;
use std::net::{Ipv4Addr, Ipv6Addr};

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
