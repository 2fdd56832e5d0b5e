//! IPv6 fixed header (RFC 8200 §3) and the extension-header walk (§4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Source Address (128 bits)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Destination Address (128 bits)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Invariant after [`Packet::check_len`]: `40 + payload_len() <= buffer
//! length`. RFC 4213 §3.6 and RFC 4380 §5.4.2 make the relay trust the IPv6
//! payload length rather than the outer length, so [`Packet::payload`] ends
//! there and anything after it (IPv4 padding, RFC 6081 trailers) is ignored.
//! The version nibble is not part of the check (C-10 counts it separately).

use core::net::Ipv6Addr;

use crate::bytes::{
    read_array, read_u16, read_u32, read_u8, slice, slice_mut, write_bytes, write_u16, write_u32,
    write_u8,
};
use crate::{Error, Result};

/// IANA next-header values the relay looks at.
pub mod next_header {
    /// Hop-by-Hop Options (RFC 8200 §4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// Routing header (RFC 8200 §4.4).
    pub const ROUTING: u8 = 43;
    /// Fragment header (RFC 8200 §4.5).
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating Security Payload (RFC 4303): opaque beyond this point.
    pub const ESP: u8 = 50;
    /// Authentication Header (RFC 4302).
    pub const AH: u8 = 51;
    /// ICMPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
    /// No Next Header (RFC 8200 §4.7): Teredo bubbles.
    pub const NO_NEXT: u8 = 59;
    /// Destination Options (RFC 8200 §4.6).
    pub const DEST_OPTS: u8 = 60;
    /// Mobility header (RFC 6275).
    pub const MOBILITY: u8 = 135;
}

mod field {
    use core::ops::Range;

    pub(super) const VER_TC_FLOW: Range<usize> = 0..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const NXT_HDR: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC_ADDR: Range<usize> = 8..24;
    pub(super) const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Jumbo Payload option type (RFC 2675 §2).
const OPT_JUMBO: u8 = 0xc2;
/// Pad1 option: a single octet without length (RFC 8200 §4.2).
const OPT_PAD1: u8 = 0;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed header and the payload length
    /// it announces ([`Error::Truncated`] otherwise).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.total_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    /// Version nibble (6 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), 0) >> 4
    }

    /// Traffic class octet (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((self.ver_tc_flow() >> 20) & 0xff) as u8
    }

    /// ECN bits of the traffic class (RFC 3168, combined per RFC 6040).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// 20-bit flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header, extension headers
    /// included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Next header of the fixed header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::NXT_HDR)
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(
            self.buffer.as_ref(),
            field::SRC_ADDR.start,
        ))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(
            self.buffer.as_ref(),
            field::DST_ADDR.start,
        ))
    }

    /// Length of the whole packet: `40 + payload_len()`.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// The payload, `40..40 + payload_len()`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        slice(self.buffer.as_ref(), HEADER_LEN, self.total_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, value);
    }

    /// Writes version 6, keeping traffic class and flow label.
    #[inline]
    pub fn set_version(&mut self) {
        let v = (self.ver_tc_flow() & 0x0fff_ffff) | (6 << 28);
        self.set_ver_tc_flow(v);
    }

    /// Sets the traffic class octet.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let v = (self.ver_tc_flow() & !0x0ff0_0000) | (u32::from(tc) << 20);
        self.set_ver_tc_flow(v);
    }

    /// Sets the 20-bit flow label (higher bits are dropped).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let v = (self.ver_tc_flow() & !0x000f_ffff) | (label & 0x000f_ffff);
        self.set_ver_tc_flow(v);
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, nh: u8) {
        write_u8(self.buffer.as_mut(), field::NXT_HDR, nh);
    }

    /// Sets the hop limit. The hop limit is not covered by any checksum
    /// (SPEC §5.3 V6-A1), so no incremental update is needed.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        write_u8(self.buffer.as_mut(), field::HOP_LIMIT, hop_limit);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        write_bytes(self.buffer.as_mut(), field::SRC_ADDR.start, &addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        write_bytes(self.buffer.as_mut(), field::DST_ADDR.start, &addr.octets());
    }

    /// Mutable payload, `40..40 + payload_len()`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        slice_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

/// Walks the extension-header chain (RFC 8200 §4) to the upper-layer header.
///
/// Returns `(protocol, offset)` with `offset` counted from the start of the
/// packet; `offset` may equal `total_len()` (e.g. No Next Header). The walk
/// steps over Hop-by-Hop, Routing, Destination Options and AH (RFC 4302 §2.2
/// counts AH's length in 4-octet units), and over a *first* Fragment header.
///
/// [`Error::Truncated`] when a header runs past `40 + payload_len()`;
/// [`Error::Malformed`] for ESP (RFC 4303: the rest is encrypted) and for a
/// non-first fragment, whose upper-layer header is in another fragment (the
/// ICMPv6 error builders need to see it, RFC 4443 §2.4(e)).
pub fn upper_layer<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<(u8, usize)> {
    let buf = p.buffer.as_ref();
    let end = p.total_len();
    if buf.len() < end {
        return Err(Error::Truncated);
    }
    let mut nh = p.next_header();
    let mut offset = HEADER_LEN;
    loop {
        let len = match nh {
            next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS => {
                if offset + 2 > end {
                    return Err(Error::Truncated);
                }
                (usize::from(read_u8(buf, offset + 1)) + 1) * 8
            }
            next_header::AH => {
                if offset + 2 > end {
                    return Err(Error::Truncated);
                }
                (usize::from(read_u8(buf, offset + 1)) + 2) * 4
            }
            next_header::FRAGMENT => {
                if offset + 8 > end {
                    return Err(Error::Truncated);
                }
                if read_u16(buf, offset + 2) & 0xfff8 != 0 {
                    return Err(Error::Malformed);
                }
                8
            }
            next_header::ESP => return Err(Error::Malformed),
            _ => return Ok((nh, offset)),
        };
        if offset + len > end {
            return Err(Error::Truncated);
        }
        nh = read_u8(buf, offset);
        // Each step advances by at least 8 octets, so the loop ends.
        offset += len;
    }
}

/// Whether the packet has a Hop-by-Hop header carrying a Jumbo Payload
/// option (RFC 2675), which goes with `payload_len() == 0`.
///
/// Looks at the buffer rather than the payload because a jumbogram's payload
/// length is zero. Jumbograms cannot cross an IPv4 tunnel (C-10).
#[cold]
pub fn has_jumbo_option<T: AsRef<[u8]>>(p: &Packet<T>) -> bool {
    if p.next_header() != next_header::HOP_BY_HOP {
        return false;
    }
    let buf = p.buffer.as_ref();
    let hbh_len = (usize::from(read_u8(buf, HEADER_LEN + 1)) + 1) * 8;
    let end = (HEADER_LEN + hbh_len).min(buf.len());
    let mut at = HEADER_LEN + 2;
    while at < end {
        match read_u8(buf, at) {
            OPT_JUMBO => return true,
            OPT_PAD1 => at += 1,
            _ => at += 2 + usize::from(read_u8(buf, at + 1)),
        }
    }
    false
}

/// A plain description of a fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class octet.
    pub traffic_class: u8,
    /// 20-bit flow label.
    pub flow_label: u32,
}

impl Repr {
    /// Parses a packet: length checked, version must be 6
    /// ([`Error::Malformed`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        p.check_len()?;
        if p.version() != 6 {
            return Err(Error::Malformed);
        }
        Ok(Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        })
    }

    /// Length of the header [`emit`](Self::emit) writes (40).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte fixed header into `buf[..40]`.
    ///
    /// [`Error::Truncated`] when `buf` is shorter than 40 bytes,
    /// [`Error::Malformed`] when the payload length exceeds 65535 (no
    /// jumbograms).
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let Some(hdr) = buf.get_mut(..HEADER_LEN) else {
            return Err(Error::Truncated);
        };
        let len = u16::try_from(self.payload_len).map_err(|_| Error::Malformed)?;
        let mut p = Packet::new_unchecked(hdr);
        p.set_ver_tc_flow(
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff),
        );
        p.set_payload_len(len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// SPEC §5.3 V6-A1 input: Echo Request 2001:db8::1 → 2002:c000:201::1.
    const V6_A1: [u8; 52] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x02, 0xc0, 0x00, 0x02, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x98, 0xfe, 0x12,
        0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
    ];

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_v6_a1() {
        let p = Packet::new_checked(&V6_A1[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0);
        assert_eq!(p.payload_len(), 12);
        assert_eq!(p.total_len(), 52);
        assert_eq!(p.next_header(), next_header::ICMPV6);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), addr("2001:db8::1"));
        assert_eq!(p.dst_addr(), addr("2002:c000:201::1"));
        assert_eq!(p.payload(), &V6_A1[40..]);
        assert_eq!(upper_layer(&p), Ok((next_header::ICMPV6, 40)));
        assert!(!has_jumbo_option(&p));
    }

    #[test]
    fn traffic_class_v6_a4() {
        // SPEC §5.3 V6-A4 starts `6b 90 00 00`: traffic class 0xb9.
        let mut buf = [0u8; 40];
        buf[..8].copy_from_slice(&[0x6b, 0x90, 0x00, 0x00, 0x00, 0x00, 0x3b, 0x40]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.traffic_class(), 0xb9);
        assert_eq!(p.ecn(), 1);
        assert_eq!(p.flow_label(), 0);
    }

    #[test]
    fn check_len_and_trailers() {
        assert_eq!(
            Packet::new_checked(&V6_A1[..39]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Packet::new_checked(&V6_A1[..51]).unwrap_err(),
            Error::Truncated
        );
        let mut long = V6_A1.to_vec();
        long.extend_from_slice(&[0x01, 0x04, 0xde, 0xad, 0xbe, 0xef]);
        let p = Packet::new_checked(&long[..]).unwrap();
        assert_eq!(p.payload(), &V6_A1[40..]);
    }

    #[test]
    fn repr_round_trip() {
        let repr = Repr::parse(&Packet::new_unchecked(&V6_A1[..])).unwrap();
        assert_eq!(repr.payload_len, 12);
        assert_eq!(repr.buffer_len(), 40);
        let mut buf = [0u8; 40];
        repr.emit(&mut buf).unwrap();
        assert_eq!(&buf[..], &V6_A1[..40]);

        let r = Repr {
            traffic_class: 0xb9,
            flow_label: 0xfffff_u32 | 0x100000,
            ..repr
        };
        r.emit(&mut buf).unwrap();
        let p = Packet::new_unchecked(&buf[..]);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0xb9, 0xfffff)
        );

        assert_eq!(repr.emit(&mut [0u8; 39]), Err(Error::Truncated));
        let big = Repr {
            payload_len: 65_536,
            ..repr
        };
        assert_eq!(big.emit(&mut buf), Err(Error::Malformed));
        let mut v4 = V6_A1;
        v4[0] = 0x40;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&v4[..])),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn setters_round_trip() {
        let mut buf = [0u8; 44];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_traffic_class(0xb9);
        p.set_flow_label(0x12345);
        p.set_version();
        p.set_payload_len(4);
        p.set_next_header(next_header::UDP);
        p.set_hop_limit(63);
        p.set_src_addr(addr("2001:0:c633:6476:0:dfff:3fff:fdf5"));
        p.set_dst_addr(addr("2001:db8::1"));
        p.payload_mut().copy_from_slice(&[9, 8, 7, 6]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb9);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.next_header(), next_header::UDP);
        assert_eq!(p.hop_limit(), 63);
        assert_eq!(p.src_addr(), addr("2001:0:c633:6476:0:dfff:3fff:fdf5"));
        assert_eq!(p.dst_addr(), addr("2001:db8::1"));
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
    }

    /// Builds an IPv6 packet whose payload is `ext`, first next header `nh`.
    fn with_ext(nh: u8, ext: &[u8]) -> Vec<u8> {
        let mut v = V6_A1[..40].to_vec();
        v[4..6].copy_from_slice(&(ext.len() as u16).to_be_bytes());
        v[6] = nh;
        v.extend_from_slice(ext);
        v
    }

    #[test]
    fn walks_extension_headers() {
        use next_header::*;
        // HBH (8) → DestOpts (16) → Fragment first (8) → AH (12) → UDP.
        let mut ext = Vec::new();
        ext.extend_from_slice(&[DEST_OPTS, 0, 1, 4, 0, 0, 0, 0]);
        ext.extend_from_slice(&[FRAGMENT, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&[AH, 0, 0x00, 0x01, 0, 0, 0, 1]);
        ext.extend_from_slice(&[UDP, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        ext.extend_from_slice(&[0; 8]);
        let pkt = with_ext(HOP_BY_HOP, &ext);
        let p = Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(upper_layer(&p), Ok((UDP, 40 + 8 + 16 + 8 + 12)));

        // Routing header then No Next Header: offset is the end.
        let pkt = with_ext(ROUTING, &[NO_NEXT, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(upper_layer(&p), Ok((NO_NEXT, 48)));

        // Mobility is treated as the upper layer.
        let pkt = with_ext(MOBILITY, &[NO_NEXT, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            upper_layer(&Packet::new_unchecked(&pkt[..])),
            Ok((MOBILITY, 40))
        );
    }

    #[test]
    fn extension_walk_errors() {
        use next_header::*;
        // Non-first fragment (offset 8).
        let pkt = with_ext(FRAGMENT, &[UDP, 0, 0x00, 0x08, 0, 0, 0, 1]);
        assert_eq!(
            upper_layer(&Packet::new_unchecked(&pkt[..])),
            Err(Error::Malformed)
        );
        // First fragment with MF set is fine.
        let pkt = with_ext(FRAGMENT, &[UDP, 0, 0x00, 0x01, 0, 0, 0, 1]);
        assert_eq!(upper_layer(&Packet::new_unchecked(&pkt[..])), Ok((UDP, 48)));
        // ESP.
        let pkt = with_ext(ESP, &[0; 16]);
        assert_eq!(
            upper_layer(&Packet::new_unchecked(&pkt[..])),
            Err(Error::Malformed)
        );
        // HBH claims 16 bytes, 8 present.
        let pkt = with_ext(HOP_BY_HOP, &[UDP, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            upper_layer(&Packet::new_unchecked(&pkt[..])),
            Err(Error::Truncated)
        );
        // Header cut to one byte.
        let pkt = with_ext(DEST_OPTS, &[UDP]);
        assert_eq!(
            upper_layer(&Packet::new_unchecked(&pkt[..])),
            Err(Error::Truncated)
        );
        // Short fragment header.
        let pkt = with_ext(FRAGMENT, &[UDP, 0, 0, 0]);
        assert_eq!(
            upper_layer(&Packet::new_unchecked(&pkt[..])),
            Err(Error::Truncated)
        );
        // Payload length beyond the buffer.
        let mut pkt = with_ext(UDP, &[0; 8]);
        pkt[5] = 9;
        assert_eq!(
            upper_layer(&Packet::new_unchecked(&pkt[..])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn jumbo_option() {
        use next_header::*;
        // HBH (16 bytes): Pad1, PadN(1), Jumbo (len 4), PadN(2).
        let mut pkt = with_ext(HOP_BY_HOP, &[]);
        pkt.extend_from_slice(&[NO_NEXT, 1, 0x00, 0x01, 0x01, 0x00, 0xc2, 0x04]);
        pkt.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00]);
        let p = Packet::new_unchecked(&pkt[..]);
        assert_eq!(p.payload_len(), 0);
        assert!(has_jumbo_option(&p));

        let plain = with_ext(HOP_BY_HOP, &[NO_NEXT, 0, 1, 4, 0, 0, 0, 0]);
        assert!(!has_jumbo_option(&Packet::new_unchecked(&plain[..])));
        // Truncated HBH does not panic.
        assert!(!has_jumbo_option(&Packet::new_unchecked(&plain[..41])));
    }
}
