//! IPv4 header (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |    DSCP   |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |0|D|M|     Fragment Offset     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options (IHL > 5) ...                      |
//! ```
//!
//! Invariant after [`Packet::check_len`]: `20 <= header_len() <= total_len()
//! <= buffer length`, so [`Packet::payload`] is exactly the IP payload with
//! any Ethernet padding (or SPEC S4-03 trailing bytes) excluded. The version
//! nibble is deliberately not part of the length check: check C-02 counts a
//! wrong version separately.

use core::net::Ipv4Addr;

use crate::bytes::{
    read_array, read_u16, read_u8, slice, slice_mut, write_bytes, write_u16, write_u8,
};
use crate::checksum;
use crate::{Error, Result};

/// IANA protocol numbers the relay dispatches on.
pub mod protocol {
    /// ICMP (RFC 792).
    pub const ICMP: u8 = 1;
    /// TCP (RFC 9293).
    pub const TCP: u8 = 6;
    /// UDP (RFC 768): Teredo.
    pub const UDP: u8 = 17;
    /// IPv6-in-IPv4 (RFC 4213 §3.5): 6to4 and 6rd.
    pub const IPV6: u8 = 41;
}

mod field {
    use core::ops::Range;

    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const LENGTH: Range<usize> = 2..4;
    pub(super) const IDENT: Range<usize> = 4..6;
    pub(super) const FLG_OFF: Range<usize> = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: Range<usize> = 10..12;
    pub(super) const SRC_ADDR: Range<usize> = 12..16;
    pub(super) const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
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

    /// Checks `20 <= IHL*4 <= total length <= buffer length` (RFC 1812
    /// §5.2.2). A buffer longer than the total length is fine: link padding.
    ///
    /// [`Error::Truncated`] when the buffer is too short for the fixed header
    /// or the total length, [`Error::Malformed`] when IHL < 5 or the total
    /// length is smaller than the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || total_len < header_len {
            Err(Error::Malformed)
        } else if len < total_len {
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

    /// Version nibble (4 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer.as_ref(), field::VER_IHL) & 0x0f) * 4
    }

    /// The whole former TOS octet: DSCP and ECN (RFC 2474, RFC 3168).
    #[inline]
    pub fn tos(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::DSCP_ECN)
    }

    /// Differentiated services code point (upper six bits of the TOS octet).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// ECN codepoint (lower two bits); 3 = CE, checked by S4-11 (RFC 6040).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total length of header and payload in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    #[inline]
    fn flags_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    /// Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-octet units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// Whether this is any fragment of a larger datagram (check C-03).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TTL)
    }

    /// Payload protocol number (see [`protocol`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buffer.as_ref(), field::SRC_ADDR.start))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buffer.as_ref(), field::DST_ADDR.start))
    }

    /// Whether the header checksum over `header_len()` bytes is correct
    /// (RFC 1812 §5.2.2: the sum including the field is all ones).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let buf = self.buffer.as_ref();
        checksum::data(slice(buf, 0, self.header_len())) == 0xffff
    }

    /// The payload: `header_len()..total_len()`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let total = usize::from(self.total_len());
        slice(self.buffer.as_ref(), self.header_len(), total)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version and header length (in bytes, a multiple of 4).
    #[inline]
    pub fn set_version_ihl(&mut self, version: u8, header_len: usize) {
        let ihl = ((header_len / 4) & 0x0f) as u8;
        write_u8(self.buffer.as_mut(), field::VER_IHL, (version << 4) | ihl);
    }

    /// Sets the whole TOS octet.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        write_u8(self.buffer.as_mut(), field::DSCP_ECN, tos);
    }

    /// Sets the DSCP, keeping the ECN bits.
    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let tos = (dscp << 2) | self.ecn();
        self.set_tos(tos);
    }

    /// Sets the ECN bits, keeping the DSCP.
    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let tos = (self.tos() & !0x03) | (ecn & 0x03);
        self.set_tos(tos);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the identification field.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, ident);
    }

    #[inline]
    fn set_flags_offset(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF.start, value);
    }

    /// Sets or clears Don't Fragment.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let v = self.flags_offset() & !FLAG_DF;
        self.set_flags_offset(if value { v | FLAG_DF } else { v });
    }

    /// Sets or clears More Fragments.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let v = self.flags_offset() & !FLAG_MF;
        self.set_flags_offset(if value { v | FLAG_MF } else { v });
    }

    /// Sets the fragment offset in bytes (must be a multiple of 8; the low
    /// three bits are dropped), keeping the flags.
    #[inline]
    pub fn set_frag_offset(&mut self, offset: u16) {
        let v = (self.flags_offset() & !OFFSET_MASK) | ((offset >> 3) & OFFSET_MASK);
        self.set_flags_offset(v);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        write_u8(self.buffer.as_mut(), field::TTL, ttl);
    }

    /// Sets the protocol number.
    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        write_u8(self.buffer.as_mut(), field::PROTOCOL, protocol);
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, checksum);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        write_bytes(self.buffer.as_mut(), field::SRC_ADDR.start, &addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        write_bytes(self.buffer.as_mut(), field::DST_ADDR.start, &addr.octets());
    }

    /// Recomputes the header checksum over `header_len()` bytes.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(slice(self.buffer.as_ref(), 0, self.header_len()));
        self.set_checksum(!sum);
    }

    /// Mutable payload: `header_len()..total_len()`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len());
        slice_mut(self.buffer.as_mut(), start, end)
    }
}

/// A plain description of an option-less IPv4 header, as the relay builds
/// for encapsulation (SPEC §1.6).
///
/// Fragmentation state other than DF and the options are not represented:
/// [`Repr::parse`] keeps the payload length of a packet with options, and
/// callers that care test [`Packet::is_fragment`] first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number.
    pub protocol: u8,
    /// Payload length in bytes (total length − header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// TOS octet (DSCP and ECN).
    pub tos: u8,
    /// Identification (RFC 6864 §4.3: unique per source/destination/protocol
    /// while DF is clear).
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Repr {
    /// Parses a checked packet: version must be 4 ([`Error::Malformed`]) and
    /// the header checksum correct ([`Error::Checksum`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        p.check_len()?;
        if p.version() != 4 {
            return Err(Error::Malformed);
        }
        if !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }

    /// Length of the header [`emit`](Self::emit) writes (the payload is not
    /// included, as in smoltcp).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header with a correct checksum into `buf[..20]`.
    ///
    /// [`Error::Truncated`] when `buf` is shorter than 20 bytes,
    /// [`Error::Malformed`] when the total length would exceed 65535.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let Some(hdr) = buf.get_mut(..HEADER_LEN) else {
            return Err(Error::Truncated);
        };
        let total = self
            .payload_len
            .checked_add(HEADER_LEN)
            .and_then(|t| u16::try_from(t).ok())
            .ok_or(Error::Malformed)?;
        let mut p = Packet::new_unchecked(hdr);
        p.set_version_ihl(4, HEADER_LEN);
        p.set_tos(self.tos);
        p.set_total_len(total);
        p.set_ident(self.ident);
        p.set_flags_offset(if self.dont_frag { FLAG_DF } else { 0 });
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §5.3 V6-A1 expected output, first 24 bytes (IPv4 header and the
    /// start of the inner IPv6 header), with its total length of 72.
    const V6_A1_HEAD: [u8; 24] = [
        0x45, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0x40, 0x29, 0x95, 0x32, 0xc0, 0x58, 0x63,
        0x01, 0xc0, 0x00, 0x02, 0x01, 0x60, 0x00, 0x00, 0x00,
    ];

    fn v6_a1() -> [u8; 72] {
        let mut b = [0u8; 72];
        b[..24].copy_from_slice(&V6_A1_HEAD);
        b
    }

    #[test]
    fn reads_v6_a1_header() {
        let buf = v6_a1();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0);
        assert_eq!(p.total_len(), 72);
        assert_eq!(p.ident(), 0);
        assert!(!p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::IPV6);
        assert_eq!(p.checksum(), 0x9532);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 88, 99, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 52);
        assert_eq!(p.payload()[0], 0x60);
    }

    #[test]
    fn repr_emit_reproduces_v6_a1_checksum() {
        let repr = Repr {
            src: Ipv4Addr::new(192, 88, 99, 1),
            dst: Ipv4Addr::new(192, 0, 2, 1),
            protocol: protocol::IPV6,
            payload_len: 52,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: false,
        };
        let mut buf = [0u8; 20];
        repr.emit(&mut buf).unwrap();
        assert_eq!(&buf[..], &V6_A1_HEAD[..20]);
        assert_eq!(u16::from_be_bytes([buf[10], buf[11]]), 0x9532);
        assert_eq!(repr.buffer_len(), 20);

        let full = v6_a1();
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&full[..])).unwrap(),
            repr
        );
    }

    #[test]
    fn repr_emit_v6_a4_tos() {
        // SPEC §5.3 V6-A4: TOS 0xb9, total length 60 → checksum 0x9485.
        let repr = Repr {
            src: Ipv4Addr::new(192, 88, 99, 1),
            dst: Ipv4Addr::new(192, 0, 2, 1),
            protocol: protocol::IPV6,
            payload_len: 40,
            ttl: 64,
            tos: 0xb9,
            ident: 0,
            dont_frag: false,
        };
        let mut buf = [0u8; 20];
        repr.emit(&mut buf).unwrap();
        assert_eq!(
            buf,
            [
                0x45, 0xb9, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x40, 0x29, 0x94, 0x85, 0xc0, 0x58,
                0x63, 0x01, 0xc0, 0x00, 0x02, 0x01
            ]
        );
    }

    #[test]
    fn repr_errors() {
        let mut repr = Repr {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            protocol: 0,
            payload_len: 65_515,
            ttl: 0,
            tos: 0,
            ident: 0,
            dont_frag: true,
        };
        assert_eq!(repr.emit(&mut [0u8; 19]), Err(Error::Truncated));
        assert!(repr.emit(&mut [0u8; 20]).is_ok());
        repr.payload_len = 65_516;
        assert_eq!(repr.emit(&mut [0u8; 20]), Err(Error::Malformed));

        let mut bad = v6_a1();
        bad[10] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad[..])),
            Err(Error::Checksum)
        );
        let mut v6 = v6_a1();
        v6[0] = 0x65;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&v6[..])),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn check_len_cases() {
        let buf = v6_a1();
        assert_eq!(
            Packet::new_checked(&buf[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Packet::new_checked(&buf[..71]).unwrap_err(),
            Error::Truncated
        );
        // Trailing padding is allowed (S4-03) and excluded from the payload.
        let mut padded = [0u8; 76];
        padded[..72].copy_from_slice(&buf);
        assert_eq!(
            Packet::new_checked(&padded[..]).unwrap().payload().len(),
            52
        );

        let mut ihl4 = v6_a1();
        ihl4[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&ihl4[..]).unwrap_err(),
            Error::Malformed
        );
        let mut short_total = v6_a1();
        short_total[3] = 19;
        assert_eq!(
            Packet::new_checked(&short_total[..]).unwrap_err(),
            Error::Malformed
        );
        // IHL 15 (60 bytes) with total length 72 is fine; payload shrinks.
        let mut opts = v6_a1();
        opts[0] = 0x4f;
        assert_eq!(Packet::new_checked(&opts[..]).unwrap().payload().len(), 12);
        // Version is not part of the length check.
        let mut v = v6_a1();
        v[0] = 0x65;
        assert!(Packet::new_checked(&v[..]).is_ok());
    }

    #[test]
    fn setters_round_trip() {
        let mut buf = [0u8; 28];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version_ihl(4, 24);
        p.set_tos(0xb9);
        p.set_dscp(0x2e);
        p.set_ecn(0x03);
        p.set_total_len(28);
        p.set_ident(0xbeef);
        p.set_dont_frag(true);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        p.set_ttl(63);
        p.set_protocol(protocol::UDP);
        p.set_src_addr(Ipv4Addr::new(203, 0, 113, 5));
        p.set_dst_addr(Ipv4Addr::new(192, 0, 2, 10));
        p.fill_checksum();
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4]);

        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.version(), p.header_len()), (4, 24));
        assert_eq!((p.tos(), p.dscp(), p.ecn()), (0xbb, 0x2e, 3));
        assert_eq!(p.ident(), 0xbeef);
        assert!(p.dont_frag() && p.more_frags() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!((p.ttl(), p.protocol()), (63, protocol::UDP));
        assert_eq!(p.src_addr(), Ipv4Addr::new(203, 0, 113, 5));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 0, 2, 10));
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &[1, 2, 3, 4]);

        let mut buf2 = buf;
        let mut p = Packet::new_unchecked(&mut buf2[..]);
        p.set_dont_frag(false);
        p.set_more_frags(false);
        p.set_frag_offset(0);
        assert!(!p.dont_frag() && !p.is_fragment());
        assert!(!p.verify_checksum());
        // Offset alone makes a (last) fragment.
        p.set_frag_offset(8);
        assert!(p.is_fragment() && !p.more_frags());
    }

    #[test]
    fn ttl_decrement_by_rfc1624_matches_fill() {
        let mut buf = v6_a1();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        let old = u16::from_be_bytes([p.ttl(), p.protocol()]);
        p.set_ttl(p.ttl() - 1);
        let new = u16::from_be_bytes([p.ttl(), p.protocol()]);
        let updated = checksum::update(p.checksum(), old, new);
        p.fill_checksum();
        assert_eq!(p.checksum(), updated);
    }
}
