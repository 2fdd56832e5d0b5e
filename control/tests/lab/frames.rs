//! Frames of each relay class (and pass cases) as the peer sends them.
//! Sources are off-link (198.51.100.0/24, 2001:db8:2::/64), so whatever the
//! relay's kernel would answer has no route and never reaches the wire: the
//! counters see only these frames.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, Ipv6Header, PacketBuilder};

pub const RELAY_V4_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x01];
pub const PEER_V4_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x02];
pub const RELAY_V6_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x11];
pub const PEER_V6_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x12];
pub const SITE_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const NATIVE_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);

fn inner6(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut out = Vec::new();
    let h = Ipv6Header {
        payload_length: 8,
        next_header: IpNumber::UDP,
        hop_limit: 64,
        source: src.octets(),
        destination: dst.octets(),
        ..Default::default()
    };
    h.write(&mut out).expect("ipv6");
    out.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]);
    out
}

/// IPv4 protocol 41 from a 6to4 site to `dst`.
pub fn proto41(dst: Ipv4Addr) -> Vec<u8> {
    let inner = inner6(
        Ipv6Addr::new(0x2002, 0xc633, 0x6407, 1, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 2),
    );
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_V4_MAC, RELAY_V4_MAC)
        .ipv4(SITE_V4.octets(), dst.octets(), 64)
        .write(&mut out, IpNumber(41), &inner)
        .expect("proto41");
    out
}

/// IPv4 UDP to `dst`:`port` carrying an IPv6 packet (Teredo shape).
pub fn udp4(dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let inner = inner6(
        Ipv6Addr::new(0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, 0x3fff, 0xfdd2),
        Ipv6Addr::new(0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 2),
    );
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_V4_MAC, RELAY_V4_MAC)
        .ipv4(SITE_V4.octets(), dst.octets(), 64)
        .udp(40000, port)
        .write(&mut out, &inner)
        .expect("udp4");
    out
}

/// IPv4 TCP SYN to `dst`:`port` (BGP-like: must pass).
pub fn tcp4(dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_V4_MAC, RELAY_V4_MAC)
        .ipv4(SITE_V4.octets(), dst.octets(), 64)
        .tcp(40001, port, 1, 65535)
        .syn()
        .write(&mut out, &[])
        .expect("tcp4");
    out
}

/// ICMPv4 Destination Unreachable (port) to `dst`, quoting a protocol-41
/// packet the relay sent.
pub fn icmp4_unreachable(dst: Ipv4Addr) -> Vec<u8> {
    let mut quoted = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 41, 0, 0];
    quoted.extend_from_slice(&dst.octets());
    quoted.extend_from_slice(&SITE_V4.octets());
    quoted.extend_from_slice(&[0; 8]);
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_V4_MAC, RELAY_V4_MAC)
        .ipv4(SITE_V4.octets(), dst.octets(), 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut out, &quoted)
        .expect("icmp4");
    out
}

/// Native IPv6 UDP to `dst`, on the v6 link.
pub fn ipv6(dst: Ipv6Addr) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_V6_MAC, RELAY_V6_MAC)
        .ipv6(NATIVE_SRC.octets(), dst.octets(), 64)
        .udp(40002, 443)
        .write(&mut out, &[0; 16])
        .expect("ipv6");
    out
}

/// `n` copies of a frame.
pub fn times(f: Vec<u8>, n: usize) -> Vec<Vec<u8>> {
    vec![f; n]
}
