//! Test frames: IP and transport headers by etherparse, ARP and the
//! deliberately broken frames by hand.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{
    IpFragOffset, IpHeaders, IpNumber, Ipv4Header, Ipv6Header, PacketBuilder, VlanId,
};

pub const RELAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// A client on the IPv4 side (TEST-NET-3, not a bogon for the engine's
/// lists when extended bogons are off).
pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
pub const NATIVE_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 1);

/// Where and how a frame is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct L2 {
    pub vlan: Option<u16>,
    pub dst: Option<[u8; 6]>,
}

impl L2 {
    pub const PLAIN: L2 = L2 {
        vlan: None,
        dst: None,
    };
    pub const fn tagged(vid: u16) -> L2 {
        L2 {
            vlan: Some(vid),
            dst: None,
        }
    }
}

fn eth(l2: L2) -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2(PEER_MAC, l2.dst.unwrap_or(RELAY_MAC))
}

/// IPv4 header fields the cases vary.
#[derive(Debug, Clone, Copy, Default)]
pub struct V4 {
    pub options: &'static [u8],
    pub more_fragments: bool,
    /// In 8-byte units.
    pub offset: u16,
}

impl V4 {
    pub const PLAIN: V4 = V4 {
        options: &[],
        more_fragments: false,
        offset: 0,
    };
    /// A Record Route option (7 bytes) padded with End of Options: IHL 7.
    pub const OPTIONS: V4 = V4 {
        options: &[7, 7, 4, 0, 0, 0, 0, 0],
        more_fragments: false,
        offset: 0,
    };
    pub const FIRST_FRAGMENT: V4 = V4 {
        options: &[],
        more_fragments: true,
        offset: 0,
    };
    pub const LAST_FRAGMENT: V4 = V4 {
        options: &[],
        more_fragments: false,
        offset: 185,
    };
}

fn v4_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, h: V4) -> IpHeaders {
    let mut ip =
        Ipv4Header::new(0, 64, IpNumber(proto), src.octets(), dst.octets()).expect("IPv4 header");
    ip.options = etherparse::Ipv4Options::try_from(h.options).expect("IPv4 options");
    ip.dont_fragment = false;
    ip.more_fragments = h.more_fragments;
    ip.fragment_offset = IpFragOffset::try_new(h.offset).expect("offset");
    ip.identification = 0x1234;
    IpHeaders::Ipv4(ip, Default::default())
}

fn with_vlan<F>(l2: L2, f: F) -> Vec<u8>
where
    F: FnOnce(etherparse::PacketBuilderStep<etherparse::Ethernet2Header>) -> Option<Vec<u8>>,
{
    // PacketBuilder's tagged and untagged steps have different types; the
    // tag is inserted by hand after building untagged.
    let mut frame = f(eth(l2)).expect("frame");
    if let Some(vid) = l2.vlan {
        let vid = VlanId::try_new(vid).expect("vlan id").value();
        let tag = [0x81, 0x00, (vid >> 8) as u8, vid as u8];
        frame.splice(12..12, tag);
    }
    frame
}

/// A minimal IPv6 packet (header + 8 bytes of UDP-like payload), the inner
/// packet of 6to4 and Teredo frames.
pub fn inner6(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
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

/// IPv4 with a raw payload of protocol `proto`.
pub fn ipv4_raw(l2: L2, dst: Ipv4Addr, proto: u8, h: V4, payload: &[u8]) -> Vec<u8> {
    with_vlan(l2, |b| {
        let mut out = Vec::new();
        b.ip(v4_header(CLIENT4, dst, proto, h))
            .write(&mut out, IpNumber(proto), payload)
            .ok()?;
        Some(out)
    })
}

/// Protocol 41 carrying 6to4 traffic from the site of CLIENT4.
pub fn proto41(l2: L2, dst: Ipv4Addr, h: V4) -> Vec<u8> {
    let site = Ipv6Addr::new(0x2002, 0xcb00, 0x7109, 1, 0, 0, 0, 1);
    let inner = inner6(site, Ipv6Addr::new(0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 2));
    ipv4_raw(l2, dst, 41, h, &inner)
}

/// IPv4 UDP to `dst`:`dport` with an IPv6 packet as payload (Teredo shape).
pub fn udp4(l2: L2, dst: Ipv4Addr, dport: u16, h: V4) -> Vec<u8> {
    let client = Ipv6Addr::new(0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, 0x3fff, 0xfdd2);
    let inner = inner6(client, Ipv6Addr::new(0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 2));
    with_vlan(l2, |b| {
        let mut out = Vec::new();
        b.ip(v4_header(CLIENT4, dst, 17, h))
            .udp(40000, dport)
            .write(&mut out, &inner)
            .ok()?;
        Some(out)
    })
}

pub fn tcp4(l2: L2, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    with_vlan(l2, |b| {
        let mut out = Vec::new();
        b.ip(v4_header(CLIENT4, dst, 6, V4::PLAIN))
            .tcp(40001, dport, 1, 65535)
            .syn()
            .write(&mut out, &[])
            .ok()?;
        Some(out)
    })
}

/// ICMPv4 of `icmp_type` (code 0) with a quoted header as payload.
pub fn icmp4(l2: L2, dst: Ipv4Addr, icmp_type: u8, h: V4) -> Vec<u8> {
    let mut body = vec![icmp_type, 0, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 41, 0, 0]);
    body.extend_from_slice(&dst.octets());
    body.extend_from_slice(&CLIENT4.octets());
    body.extend_from_slice(&[0; 8]);
    let mut sum: u32 = body
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    body[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    ipv4_raw(l2, dst, 1, h, &body)
}

/// Native IPv6 UDP to `dst`.
pub fn ipv6_udp(l2: L2, dst: Ipv6Addr) -> Vec<u8> {
    with_vlan(l2, |b| {
        let mut out = Vec::new();
        b.ipv6(NATIVE_SRC.octets(), dst.octets(), 64)
            .udp(40002, 443)
            .write(&mut out, &[0; 16])
            .ok()?;
        Some(out)
    })
}

pub fn ipv6_tcp(l2: L2, dst: Ipv6Addr, dport: u16) -> Vec<u8> {
    with_vlan(l2, |b| {
        let mut out = Vec::new();
        b.ipv6(NATIVE_SRC.octets(), dst.octets(), 64)
            .tcp(40003, dport, 1, 65535)
            .syn()
            .write(&mut out, &[])
            .ok()?;
        Some(out)
    })
}

/// ICMPv6 Neighbour Solicitation for 2001:db8::1 to its solicited-node
/// group ff02::1:ff00:1; `l2.dst` None sends it to 33:33:ff:00:00:01 as
/// RFC 2464 §7 says.
pub fn neighbour_solicitation(l2: L2) -> Vec<u8> {
    let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
    let target = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let l2 = L2 {
        dst: Some(l2.dst.unwrap_or([0x33, 0x33, 0xff, 0, 0, 1])),
        ..l2
    };
    let mut body = target.octets().to_vec();
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&PEER_MAC);
    with_vlan(l2, |b| {
        let mut out = Vec::new();
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        b.ipv6(src.octets(), group.octets(), 255)
            .icmpv6(etherparse::Icmpv6Type::Unknown {
                type_u8: 135,
                code_u8: 0,
                bytes5to8: [0; 4],
            })
            .write(&mut out, &body)
            .ok()?;
        Some(out)
    })
}

/// ARP for `target`: a request to the broadcast address, or a reply to us.
pub fn arp(l2: L2, reply: bool, target: Ipv4Addr) -> Vec<u8> {
    let dst = if reply { RELAY_MAC } else { BROADCAST };
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&PEER_MAC);
    if let Some(vid) = l2.vlan {
        f.extend_from_slice(&[0x81, 0x00, (vid >> 8) as u8, vid as u8]);
    }
    f.extend_from_slice(&[
        0x08,
        0x06,
        0,
        1,
        0x08,
        0x00,
        6,
        4,
        0,
        if reply { 2 } else { 1 },
    ]);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&CLIENT4.octets());
    f.extend_from_slice(&if reply { RELAY_MAC } else { [0; 6] });
    f.extend_from_slice(&target.octets());
    f
}

/// An untagged Ethernet header of EtherType `et` followed by `rest`.
pub fn raw(et: u16, rest: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&RELAY_MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(rest);
    f
}

/// `frame` cut to `len` bytes.
pub fn cut(mut frame: Vec<u8>, len: usize) -> Vec<u8> {
    frame.truncate(len);
    frame
}

/// `frame` (untagged IPv4) with byte `off` of the IPv4 header set to `v`.
pub fn patch_ip(mut frame: Vec<u8>, off: usize, v: u8) -> Vec<u8> {
    frame[14 + off] = v;
    frame
}
