//! Teredo addresses and UDP payload framing (RFC 4380 §4, §5.1.1; RFC 5991;
//! RFC 6081 §4).
//!
//! Address (RFC 4380 §4), port and client address bit-inverted so that NATs
//! rewriting payload copies of the mapped address leave them alone:
//!
//! ```text
//!  0        32        64      80      96                 128
//!  +---------+---------+-------+-------+-------------------+
//!  | 2001:0  | server  | flags | ~port |   ~client IPv4    |
//!  |  (32)   | IPv4(32)| (16)  | (16)  |       (32)        |
//!  +---------+---------+-------+-------+-------------------+
//!  flags: C z R R R R U G R R R R R R R R   (RFC 5991 §3.1)
//! ```
//!
//! UDP payload (RFC 4380 §5.1.1, RFC 6081 §4):
//!
//! ```text
//! simple:            | IPv6 packet | [trailers] |
//! origin indication: | 00 00 ~port(2) ~ipv4(4) | IPv6 packet | [trailers] |
//! authentication:    | 00 01 idlen aulen id.. au.. nonce(8) conf(1) | [origin] | IPv6 | ...
//! ```
//!
//! A relay decodes server, port and client from fixed positions and never
//! rejects an address for its flag bits (SPEC §3.2 relay rule): the z bits
//! are ignored on receipt (RFC 4380 §4) and RFC 5991 made most of them
//! random.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::{Error, Result};

/// Teredo server UDP port (RFC 4380 §4).
pub const SERVER_PORT: u16 = 3544;
/// The Teredo prefix 2001:0000::/32 as its top 32 bits (RFC 4380 §2.6).
pub const PREFIX: u32 = 0x2001_0000;
/// Cone flag (RFC 4380 §4); relays ignore it by default (RFC 5991 §3.2).
pub const FLAG_CONE: u16 = 0x8000;
/// Bits RFC 5991 §3.1 makes random (Random1 0x3c00, Random2 0x00ff).
pub const RANDOM_MASK: u16 = 0x3cff;
/// Universal/local bit, sent as zero (RFC 4380 §4).
pub const FLAG_U: u16 = 0x0200;
/// Individual/group bit, sent as zero (RFC 4380 §4).
pub const FLAG_G: u16 = 0x0100;
/// IPv4 multicast group of local client discovery (RFC 4380 §2.17).
pub const DISCOVERY_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 253);
/// Bytes added by encapsulation: IPv4 header plus UDP header.
pub const OVERHEAD: usize = 28;

const AUTH_TYPE: u8 = 0x01;
const ORIGIN_TYPE: u8 = 0x00;
/// Fixed part of the authentication header: 2 type octets, ID-len, AU-len,
/// nonce (8) and confirmation (1) (RFC 4380 §5.1.1).
const AUTH_FIXED_LEN: usize = 13;
/// Origin indication: 2 type octets, port (2), IPv4 (4).
const ORIGIN_LEN: usize = 8;
const IPV6_HEADER_LEN: usize = 40;

/// Whether `a` is in 2001:0000::/32 (exact match; 2001:db8::/32 and
/// 2001:2::/48 are not Teredo, SPEC §1.2).
#[inline]
#[must_use]
pub fn is_teredo(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0x20 && o[1] == 0x01 && o[2] == 0 && o[3] == 0
}

/// The decoded fields of a Teredo address, port and client de-obfuscated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The client's Teredo server.
    pub server: Ipv4Addr,
    /// Flags as carried (cone bit, U/G, random bits).
    pub flags: u16,
    /// Mapped (NAT external) UDP port of the client.
    pub port: u16,
    /// Mapped (NAT external) IPv4 address of the client.
    pub client: Ipv4Addr,
}

impl Address {
    /// Decodes a Teredo address; `None` outside 2001:0::/32.
    #[inline]
    pub fn decode(a: &Ipv6Addr) -> Option<Address> {
        if !is_teredo(a) {
            return None;
        }
        let o = a.octets();
        let (client, port) = mapping(a);
        Some(Address {
            server: Ipv4Addr::new(o[4], o[5], o[6], o[7]),
            flags: u16::from_be_bytes([o[8], o[9]]),
            port,
            client,
        })
    }

    /// Encodes the address (obfuscating port and client).
    #[inline]
    pub fn encode(&self) -> Ipv6Addr {
        let mut o = [0u8; 16];
        o[..4].copy_from_slice(&PREFIX.to_be_bytes());
        o[4..8].copy_from_slice(&self.server.octets());
        o[8..10].copy_from_slice(&self.flags.to_be_bytes());
        o[10..12].copy_from_slice(&(!self.port).to_be_bytes());
        o[12..16].copy_from_slice(&(!self.client.to_bits()).to_be_bytes());
        Ipv6Addr::from(o)
    }

    /// Whether the cone flag is set. Relays SHOULD ignore it (RFC 5991
    /// §3.2); the engine consults it only when configured to.
    #[inline]
    pub fn is_cone(&self) -> bool {
        self.flags & FLAG_CONE != 0
    }
}

/// Mapped (client IPv4, port) of a Teredo address, de-obfuscated straight
/// from the last six octets without a prefix check: for the hot path after
/// [`is_teredo`] already matched (check T4-06).
#[inline]
#[must_use]
pub fn mapping(a: &Ipv6Addr) -> (Ipv4Addr, u16) {
    let o = a.octets();
    let port = !u16::from_be_bytes([o[10], o[11]]);
    let client = !u32::from_be_bytes([o[12], o[13], o[14], o[15]]);
    (Ipv4Addr::from_bits(client), port)
}

/// An origin indication for `v4`:`port`: `00 00 ~port ~ipv4` (RFC 4380
/// §5.1.1). It equals the last 48 bits of that client's Teredo address.
#[inline]
#[must_use]
pub fn encode_origin(v4: Ipv4Addr, port: u16) -> [u8; 8] {
    let p = (!port).to_be_bytes();
    let a = (!v4.to_bits()).to_be_bytes();
    [0, ORIGIN_TYPE, p[0], p[1], a[0], a[1], a[2], a[3]]
}

/// Where the IPv6 packet sits in a Teredo UDP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Offset of the IPv6 header in the UDP payload.
    pub ipv6_offset: usize,
    /// Length of the IPv6 packet, `40 + payload length`; trailers excluded.
    pub ipv6_len: usize,
    /// De-obfuscated origin indication, if present.
    pub origin: Option<(Ipv4Addr, u16)>,
    /// Whether an authentication header preceded the packet.
    pub authenticated: bool,
}

impl Payload {
    /// The IPv6 packet inside `udp_payload` (the slice this was parsed from).
    #[inline]
    pub fn ipv6<'a>(&self, udp_payload: &'a [u8]) -> &'a [u8] {
        udp_payload
            .get(self.ipv6_offset..self.ipv6_offset.saturating_add(self.ipv6_len))
            .unwrap_or(&[])
    }
}

/// Parses a Teredo UDP payload (SPEC §3.3 relay algorithm, after miredo's
/// `teredo_recv_inner`):
///
/// 1. optional authentication header `00 01 idlen aulen id au nonce conf`,
///    only as the first element (RFC 4380 §5.1.1);
/// 2. optional origin indication `00 00 ~port ~ipv4`;
/// 3. the IPv6 packet: version 6, at least 40 bytes, `40 + payload length`
///    within what is left. Any excess is RFC 6081 §4 trailers and ignored.
///
/// [`Error::Truncated`] when an encapsulation header or the announced IPv6
/// length does not fit; [`Error::Malformed`] for a leading 0x00 with an
/// unknown second octet, a second or misplaced encapsulation header, a
/// version other than 6, or fewer than 40 bytes left for the IPv6 header.
/// Check T4-04 drops on any of them.
#[inline]
pub fn parse_payload(udp_payload: &[u8]) -> Result<Payload> {
    let mut at = 0;
    let mut authenticated = false;
    let mut origin = None;

    if udp_payload.first() == Some(&0) && udp_payload.get(1) == Some(&AUTH_TYPE) {
        at = skip_auth(udp_payload)?;
        authenticated = true;
    }
    let rest = udp_payload.get(at..).unwrap_or(&[]);
    if rest.first() == Some(&0) && rest.get(1) == Some(&ORIGIN_TYPE) {
        let Some(&[_, _, p0, p1, a0, a1, a2, a3]) = rest.first_chunk::<ORIGIN_LEN>() else {
            return Err(Error::Truncated);
        };
        let port = !u16::from_be_bytes([p0, p1]);
        let v4 = !u32::from_be_bytes([a0, a1, a2, a3]);
        origin = Some((Ipv4Addr::from_bits(v4), port));
        at += ORIGIN_LEN;
    }

    let ipv6 = udp_payload.get(at..).unwrap_or(&[]);
    // A remaining 0x00 is another encapsulation header: unknown type, a
    // second one, or authentication after origin (RFC 4380 §5.1.1).
    let Some(header) = ipv6.first_chunk::<IPV6_HEADER_LEN>() else {
        return Err(Error::Malformed);
    };
    if header[0] >> 4 != 6 {
        return Err(Error::Malformed);
    }
    let ipv6_len = IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([header[4], header[5]]));
    if ipv6_len > ipv6.len() {
        return Err(Error::Truncated);
    }
    Ok(Payload {
        ipv6_offset: at,
        ipv6_len,
        origin,
        authenticated,
    })
}

/// Length of the authentication header at the start of `b` (which starts
/// with `00 01`), [`Error::Truncated`] when it does not fit.
#[cold]
fn skip_auth(b: &[u8]) -> Result<usize> {
    let (Some(&id_len), Some(&au_len)) = (b.get(2), b.get(3)) else {
        return Err(Error::Truncated);
    };
    let len = AUTH_FIXED_LEN + usize::from(id_len) + usize::from(au_len);
    if len > b.len() {
        Err(Error::Truncated)
    } else {
        Ok(len)
    }
}

/// Whether an IPv6 packet is a Teredo bubble: payload length 0 and next
/// header 59 (RFC 4380 §2.8). Fewer than 40 bytes is never a bubble.
#[inline]
#[must_use]
pub fn is_bubble(ipv6: &[u8]) -> bool {
    match ipv6.first_chunk::<IPV6_HEADER_LEN>() {
        Some(h) => h[4] == 0 && h[5] == 0 && h[6] == 59,
        None => false,
    }
}

#[cfg(test)]
mod tests;
