//! ICMPv6 messages the relay originates (RFC 4443), built into a caller's
//! buffer: errors quoting the offending packet, echo replies, and Teredo
//! bubbles (RFC 4380 §2.8).
//!
//! ```text
//!  error: [IPv6 40: relay → offending source][type code csum][param 4][quote ≤ 1232]
//! ```

use std::net::Ipv6Addr;

use xrelay_wire::{icmpv6, ipv6};

/// RFC 4443 §2.4(c): the error must fit the IPv6 minimum MTU.
pub const MIN_MTU: usize = 1280;

/// Why an error is not sent (C-14, RFC 4443 §2.4(e)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppress {
    /// The offending packet is itself an ICMPv6 error or a Redirect.
    IsError,
    /// Multicast destination (and the error is not Packet Too Big).
    MulticastDst,
    /// Source in ::/16 (unspecified, loopback, IPv4-compatible or
    /// -mapped), multicast, or a known anycast address.
    NotUnicastSource,
    /// The extension-header walk failed (truncated chain, ESP): SPEC §1.3
    /// DESIGN says do not answer what we cannot classify.
    Unparseable,
}

/// RFC 4443 §2.4(e) for an offending IPv6 packet `p` and error type `typ`.
pub fn may_send_error(p: &[u8], typ: u8, anycast: &[Ipv6Addr]) -> Result<(), Suppress> {
    let pk = ipv6::Packet::new_checked(p).map_err(|_| Suppress::Unparseable)?;
    let src = pk.src_addr();
    let dst = pk.dst_addr();
    // ::/16 holds the unspecified, loopback, IPv4-compatible and
    // IPv4-mapped forms: none identifies a single node the relay could
    // reach (C-11 never forwards from them either).
    let s = src.segments();
    if s[0] == 0 || s[0] >> 8 == 0xff || anycast.contains(&src) {
        return Err(Suppress::NotUnicastSource);
    }
    if dst.octets()[0] == 0xff && typ != icmpv6::msg_type::PKT_TOO_BIG {
        return Err(Suppress::MulticastDst);
    }
    let (proto, off) = ipv6::upper_layer(&pk).map_err(|_| Suppress::Unparseable)?;
    if proto == ipv6::next_header::ICMPV6 {
        let t = *p.get(off).ok_or(Suppress::Unparseable)?;
        if icmpv6::is_error(t) || t == icmpv6::msg_type::REDIRECT {
            return Err(Suppress::IsError);
        }
    }
    Ok(())
}

/// Writes an ICMPv6 error into `out` (≥ 1280 bytes): source `src`,
/// destination the offending packet's source, quoting as much of `offending`
/// as keeps the whole message within 1280 bytes. `param` is the MTU for
/// Packet Too Big, the pointer for Parameter Problem, else 0. Returns the
/// length written.
pub fn build_error(
    out: &mut [u8],
    src: Ipv6Addr,
    offending: &[u8],
    typ: u8,
    code: u8,
    param: u32,
    hop_limit: u8,
) -> Option<usize> {
    let dst = ipv6::Packet::new_checked(offending).ok()?.src_addr();
    let quote = offending.len().min(MIN_MTU - 48);
    let len = 48 + quote;
    let buf = out.get_mut(..len)?;
    ipv6::Repr {
        src,
        dst,
        next_header: ipv6::next_header::ICMPV6,
        payload_len: 8 + quote,
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(buf)
    .ok()?;
    let (_, msg) = buf.split_at_mut(40);
    msg[0] = typ;
    msg[1] = code;
    msg[2..4].copy_from_slice(&[0, 0]);
    msg[4..8].copy_from_slice(&param.to_be_bytes());
    msg[8..].copy_from_slice(offending.get(..quote)?);
    let mut m = icmpv6::Packet::new_unchecked(msg);
    m.fill_checksum(&src, &dst);
    Some(len)
}

/// Writes the Echo Reply to `request` (an IPv6 packet whose ICMPv6 Echo
/// Request directly follows the fixed header) from `src`. Identifier,
/// sequence number and data are echoed unchanged (RFC 4443 §4.2).
pub fn build_echo_reply(
    out: &mut [u8],
    src: Ipv6Addr,
    request: &[u8],
    hop_limit: u8,
) -> Option<usize> {
    let req = ipv6::Packet::new_checked(request).ok()?;
    let dst = req.src_addr();
    let len = req.total_len();
    let body = req.payload();
    if body.len() < 8 || body[0] != icmpv6::msg_type::ECHO_REQUEST {
        return None;
    }
    let buf = out.get_mut(..len)?;
    ipv6::Repr {
        src,
        dst,
        next_header: ipv6::next_header::ICMPV6,
        payload_len: body.len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(buf)
    .ok()?;
    let (_, msg) = buf.split_at_mut(40);
    msg.copy_from_slice(body);
    msg[0] = icmpv6::msg_type::ECHO_REPLY;
    msg[1] = 0;
    let mut m = icmpv6::Packet::new_unchecked(msg);
    m.fill_checksum(&src, &dst);
    Some(len)
}

/// A Teredo bubble: IPv6 header only, payload length 0, next header 59.
pub fn build_bubble(out: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Option<usize> {
    let buf = out.get_mut(..40)?;
    ipv6::Repr {
        src,
        dst,
        next_header: ipv6::next_header::NO_NEXT,
        payload_len: 0,
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(buf)
    .ok()?;
    Some(40)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Echo Request from `src` to 2001:db8::1, as an offending packet.
    fn offending(src: &str) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        let src: Ipv6Addr = src.parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        ipv6::Repr {
            src,
            dst: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            next_header: ipv6::next_header::ICMPV6,
            payload_len: 8,
            hop_limit: 1,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut p)
        .ok();
        p[40] = icmpv6::msg_type::ECHO_REQUEST;
        p
    }

    #[test]
    fn no_error_to_sources_that_are_no_single_node() {
        let te = icmpv6::msg_type::TIME_EXCEEDED;
        for src in [
            "::",
            "::1",
            "::38:5f55:6265:726b",
            "::ffff:192.0.2.1",
            "ff02::1",
        ] {
            assert_eq!(
                may_send_error(&offending(src), te, &[]),
                Err(Suppress::NotUnicastSource),
                "{src}"
            );
        }
        let anycast: Ipv6Addr = "2002:c058:6301::".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(
            may_send_error(&offending("2002:c058:6301::"), te, &[anycast]),
            Err(Suppress::NotUnicastSource)
        );
        for src in [
            "2001:db8::2",
            "2002:c000:201::1",
            "2001:0:c633:6476:0:dfff:3fff:fdf5",
        ] {
            assert_eq!(
                may_send_error(&offending(src), te, &[anycast]),
                Ok(()),
                "{src}"
            );
        }
    }
}
