//! Ethernet II frames with at most one IEEE 802.1Q tag.
//!
//! ```text
//! untagged:  | dst (6) | src (6) | ethertype (2) | payload ...
//! tagged:    | dst (6) | src (6) | 0x8100 (2) | TCI (2) | ethertype (2) | payload ...
//!                                               PCP(3) DEI(1) VID(12)
//! ```
//!
//! The relay only ever sees one tag (the XDP program hands over frames of one
//! VLAN per interface at most); a QinQ outer tag (0x88a8) is reported as its
//! ethertype and so never classified as IPv4/IPv6. No FCS is present: NICs
//! strip it before the frame reaches AF_XDP.

use crate::bytes::{read_array, read_u16, slice, slice_mut, write_bytes, write_u16};
use crate::{Error, Result};

/// IPv4 ethertype (RFC 894).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// IPv6 ethertype (RFC 2464).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IEEE 802.1Q tag protocol identifier.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// ARP ethertype (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;

mod field {
    use core::ops::Range;

    pub(super) const DST: Range<usize> = 0..6;
    pub(super) const SRC: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: Range<usize> = 12..14;
    pub(super) const TCI: Range<usize> = 14..16;
    pub(super) const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::ETHERTYPE.end;
/// Length of an Ethernet header carrying one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = field::INNER_ETHERTYPE.end;

/// A read/write view of an Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Ensures the buffer holds the whole header, including the tag when the
    /// outer ethertype announces one.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || (self.is_tagged() && len < VLAN_HEADER_LEN) {
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
    fn is_tagged(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE.start) == ETHERTYPE_VLAN
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        read_array(self.buffer.as_ref(), field::DST.start)
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        read_array(self.buffer.as_ref(), field::SRC.start)
    }

    /// The I/G bit of the destination (IEEE 802 §8.2): set for multicast and
    /// broadcast. Check C-01 passes such frames rather than relaying them.
    #[inline]
    pub fn is_multicast_dst(&self) -> bool {
        self.buffer.as_ref().first().is_some_and(|b| b & 0x01 != 0)
    }

    /// The 12-bit VLAN identifier when the frame carries an 802.1Q tag.
    #[inline]
    pub fn vlan_id(&self) -> Option<u16> {
        if self.is_tagged() {
            Some(read_u16(self.buffer.as_ref(), field::TCI.start) & 0x0fff)
        } else {
            None
        }
    }

    /// Ethertype of the payload, i.e. after the optional tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE.start
        } else {
            field::ETHERTYPE.start
        };
        read_u16(self.buffer.as_ref(), at)
    }

    /// Header length: 14, or 18 with a tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Everything after the header (may include Ethernet padding after the
    /// IP packet; the IP length fields say where the packet ends).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        slice(buf, self.header_len(), buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Mutable access to everything after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let buf = self.buffer.as_mut();
        let end = buf.len();
        slice_mut(buf, start, end)
    }

    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        write_bytes(self.buffer.as_mut(), field::DST.start, &addr);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        write_bytes(self.buffer.as_mut(), field::SRC.start, &addr);
    }

    /// Sets the payload ethertype (after the tag when there is one).
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE.start
        } else {
            field::ETHERTYPE.start
        };
        write_u16(self.buffer.as_mut(), at, ethertype);
    }
}

/// Writes an Ethernet header at the start of `buf` and returns its length.
///
/// With `vlan` set the header carries an 802.1Q tag with TCI `vid & 0x0fff`
/// (PCP 0, DEI 0). Fails with [`Error::Truncated`] when `buf` is too short.
#[inline]
pub fn emit_header(
    buf: &mut [u8],
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    ethertype: u16,
) -> Result<usize> {
    let len = if vlan.is_some() {
        VLAN_HEADER_LEN
    } else {
        HEADER_LEN
    };
    let Some(hdr) = buf.get_mut(..len) else {
        return Err(Error::Truncated);
    };
    write_bytes(hdr, field::DST.start, &dst);
    write_bytes(hdr, field::SRC.start, &src);
    match vlan {
        Some(vid) => {
            write_u16(hdr, field::ETHERTYPE.start, ETHERTYPE_VLAN);
            write_u16(hdr, field::TCI.start, vid & 0x0fff);
            write_u16(hdr, field::INNER_ETHERTYPE.start, ethertype);
        }
        None => write_u16(hdr, field::ETHERTYPE.start, ethertype),
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 16] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // src
        0x86, 0xdd, // IPv6
        0x60, 0x00,
    ];

    const TAGGED: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // broadcast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // src
        0x81, 0x00, 0xe0, 0x64, // PCP 7, VID 100
        0x08, 0x00, // IPv4
        0x45, 0x00,
    ];

    #[test]
    fn parses_untagged() {
        let f = Frame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.src_addr(), [2, 0, 0, 0, 0, 2]);
        assert!(!f.is_multicast_dst());
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &[0x60, 0x00]);
    }

    #[test]
    fn parses_tagged() {
        let f = Frame::new_checked(&TAGGED[..]).unwrap();
        assert!(f.is_multicast_dst());
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn check_len_rejects_short_frames() {
        assert_eq!(
            Frame::new_checked(&UNTAGGED[..13]).unwrap_err(),
            Error::Truncated
        );
        assert!(Frame::new_checked(&UNTAGGED[..14]).is_ok());
        assert_eq!(
            Frame::new_checked(&TAGGED[..17]).unwrap_err(),
            Error::Truncated
        );
        assert!(Frame::new_checked(&TAGGED[..18]).is_ok());
    }

    #[test]
    fn emit_round_trips() {
        let mut buf = [0u8; 20];
        let n = emit_header(
            &mut buf,
            [0xff; 6],
            [2, 0, 0, 0, 0, 2],
            Some(0xe064),
            0x0800,
        )
        .unwrap();
        assert_eq!(n, 18);
        // PCP bits of the argument are dropped: PCP 0.
        let mut expected = TAGGED;
        expected[14] = 0x00;
        assert_eq!(&buf[..18], &expected[..18]);

        let mut buf = [0u8; 14];
        let n = emit_header(
            &mut buf,
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            None,
            0x86dd,
        )
        .unwrap();
        assert_eq!(n, 14);
        assert_eq!(&buf[..], &UNTAGGED[..14]);

        assert_eq!(
            emit_header(&mut [0u8; 17], [0; 6], [0; 6], Some(1), 0x0800),
            Err(Error::Truncated)
        );
        assert_eq!(
            emit_header(&mut [0u8; 13], [0; 6], [0; 6], None, 0x0800),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn setters_round_trip() {
        let mut buf = TAGGED;
        let mut f = Frame::new_checked(&mut buf[..]).unwrap();
        f.set_dst_addr([2, 0, 0, 0, 0, 9]);
        f.set_src_addr([2, 0, 0, 0, 0, 8]);
        f.set_ethertype(ETHERTYPE_IPV6);
        f.payload_mut()[0] = 0x60;
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.dst_addr(), [2, 0, 0, 0, 0, 9]);
        assert_eq!(f.src_addr(), [2, 0, 0, 0, 0, 8]);
        assert_eq!(f.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.payload()[0], 0x60);
    }
}
