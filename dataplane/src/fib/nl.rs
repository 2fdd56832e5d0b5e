//! rtnetlink messages: the few the FIB sync needs, parsed from bytes and
//! built into bytes (no syscalls here, so the unit tests feed synthetic
//! messages).
//!
//! ```text
//!  nlmsghdr 16: len u32 | type u16 | flags u16 | seq u32 | pid u32
//!  ifinfomsg 16 (RTM_*LINK):  family u8 | pad | type u16 | index i32 | flags u32 | change u32
//!  rtmsg 12 (RTM_*ROUTE):     family | dst_len | src_len | tos | table | protocol | scope | type | flags u32
//!  ndmsg 12 (RTM_*NEIGH):     family | pad | pad u16 | ifindex i32 | state u16 | flags u8 | type u8
//!  then attributes:           len u16 | type u16 | value, each aligned to 4
//! ```
//!
//! Integers are in host byte order, addresses in network byte order.
//! Addresses of both families are carried as `u128` (IPv4 in the low 32
//! bits).

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_DELNEIGH: u16 = 29;
pub const RTM_GETNEIGH: u16 = 30;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_DUMP: u16 = 0x300;
/// `ndm_flags`: the entry is being used (`neigh_event_send`).
pub const NTF_USE: u8 = 0x01;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// Multicast groups (bit masks of `sockaddr_nl.nl_groups`).
pub const RTMGRP_LINK: u32 = 1;
pub const RTMGRP_NEIGH: u32 = 1 << (3 - 1);
pub const RTMGRP_IPV4_ROUTE: u32 = 1 << (7 - 1);
pub const RTMGRP_IPV6_ROUTE: u32 = 1 << (11 - 1);

pub const IFLA_IFNAME: u16 = 3;

pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_MULTIPATH: u16 = 9;
pub const RTA_TABLE: u16 = 15;

pub const RTN_UNICAST: u8 = 1;
pub const RT_TABLE_MAIN: u32 = 254;

pub const NDA_DST: u16 = 1;
pub const NDA_LLADDR: u16 = 2;

pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_REACHABLE: u16 = 0x02;
pub const NUD_STALE: u16 = 0x04;
pub const NUD_DELAY: u16 = 0x08;
pub const NUD_PROBE: u16 = 0x10;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_NOARP: u16 = 0x40;
pub const NUD_PERMANENT: u16 = 0x80;

/// One message, as far as the FIB sync cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Link {
        del: bool,
        index: i32,
        name: Option<String>,
    },
    Route(Route),
    Neigh(Neigh),
    /// End of a dump.
    Done {
        seq: u32,
    },
    /// An error (or, with `errno == 0`, an acknowledgement).
    Error {
        seq: u32,
        errno: i32,
    },
    /// The kernel lost messages: resynchronise.
    Overrun,
    /// Anything else (ignored).
    Other,
}

/// An `RTM_NEWROUTE`/`RTM_DELROUTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub del: bool,
    pub family: u8,
    pub table: u32,
    pub rtype: u8,
    pub dst: u128,
    pub dst_len: u8,
    pub tos: u8,
    pub metric: u32,
    /// The output interface (of the first next hop of a multipath route).
    pub oif: Option<i32>,
    /// The gateway (of the same next hop); `None`: on-link.
    pub gateway: Option<u128>,
}

/// An `RTM_NEWNEIGH`/`RTM_DELNEIGH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neigh {
    pub del: bool,
    pub family: u8,
    pub ifindex: i32,
    pub dst: u128,
    pub state: u16,
    pub mac: Option<[u8; 6]>,
}

#[inline]
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
#[inline]
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Iterates the attributes in `b`: `(type without flags, value)`.
pub fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, at)?);
        let ty = u16_at(b, at + 2)? & 0x3fff;
        if len < 4 {
            return None;
        }
        let v = b.get(at + 4..at + len)?;
        at += align4(len);
        Some((ty, v))
    })
}

/// An address attribute of `family` as `u128`.
pub fn addr(family: u8, v: &[u8]) -> Option<u128> {
    match (family, v.len()) {
        (AF_INET, 4) => Some(u128::from(u32::from_be_bytes(v.try_into().ok()?))),
        (AF_INET6, 16) => Some(u128::from_be_bytes(v.try_into().ok()?)),
        _ => None,
    }
}

/// Parses every message in one datagram into `out`.
pub fn parse(buf: &[u8], out: &mut Vec<Msg>) {
    let mut at = 0usize;
    while let (Some(len), Some(ty)) = (u32_at(buf, at), u16_at(buf, at + 4)) {
        let len = len as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        let seq = u32_at(buf, at + 8).unwrap_or(0);
        let body = &buf[at + NLMSG_HDRLEN..at + len];
        out.push(parse_one(ty, seq, body).unwrap_or(Msg::Other));
        at += align4(len);
    }
}

fn parse_one(ty: u16, seq: u32, body: &[u8]) -> Option<Msg> {
    Some(match ty {
        NLMSG_DONE => Msg::Done { seq },
        NLMSG_OVERRUN => Msg::Overrun,
        NLMSG_ERROR => Msg::Error {
            seq,
            errno: -(u32_at(body, 0)? as i32),
        },
        RTM_NEWLINK | RTM_DELLINK => {
            let index = u32_at(body, 4)? as i32;
            let name = attrs(body.get(16..)?)
                .find(|(t, _)| *t == IFLA_IFNAME)
                .map(|(_, v)| {
                    let v = v.split(|c| *c == 0).next().unwrap_or(v);
                    String::from_utf8_lossy(v).into_owned()
                });
            Msg::Link {
                del: ty == RTM_DELLINK,
                index,
                name,
            }
        }
        RTM_NEWROUTE | RTM_DELROUTE => {
            let h = body.get(..12)?;
            let family = h[0];
            let mut r = Route {
                del: ty == RTM_DELROUTE,
                family,
                table: u32::from(h[4]),
                rtype: h[7],
                dst: 0,
                dst_len: h[1],
                tos: h[3],
                metric: 0,
                oif: None,
                gateway: None,
            };
            for (t, v) in attrs(&body[12..]) {
                match t {
                    RTA_DST => r.dst = addr(family, v)?,
                    RTA_OIF => r.oif = Some(u32_at(v, 0)? as i32),
                    RTA_GATEWAY => r.gateway = addr(family, v),
                    RTA_PRIORITY => r.metric = u32_at(v, 0)?,
                    RTA_TABLE => r.table = u32_at(v, 0)?,
                    RTA_MULTIPATH if r.oif.is_none() => {
                        // struct rtnexthop: len u16, flags u8, hops u8,
                        // ifindex i32, then its attributes. The first one.
                        let nlen = usize::from(u16_at(v, 0)?);
                        r.oif = Some(u32_at(v, 4)? as i32);
                        if let Some(a) = v.get(8..nlen.max(8)) {
                            r.gateway = attrs(a)
                                .find(|(t, _)| *t == RTA_GATEWAY)
                                .and_then(|(_, g)| addr(family, g));
                        }
                    }
                    _ => {}
                }
            }
            Msg::Route(r)
        }
        RTM_NEWNEIGH | RTM_DELNEIGH => {
            let h = body.get(..12)?;
            let family = h[0];
            let mut n = Neigh {
                del: ty == RTM_DELNEIGH,
                family,
                ifindex: u32_at(h, 4)? as i32,
                dst: 0,
                state: u16_at(h, 8)?,
                mac: None,
            };
            let mut have_dst = false;
            for (t, v) in attrs(&body[12..]) {
                match t {
                    NDA_DST => {
                        n.dst = addr(family, v)?;
                        have_dst = true;
                    }
                    NDA_LLADDR => n.mac = v.try_into().ok(),
                    _ => {}
                }
            }
            if !have_dst {
                return Some(Msg::Other);
            }
            Msg::Neigh(n)
        }
        _ => Msg::Other,
    })
}

/// A message: header + fixed part + attributes (`(type, value)`).
pub fn message(ty: u16, flags: u16, seq: u32, fixed: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; NLMSG_HDRLEN];
    b.extend_from_slice(fixed);
    b.resize(align4(b.len()), 0);
    for (t, v) in attrs {
        b.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        b.extend_from_slice(&t.to_ne_bytes());
        b.extend_from_slice(v);
        b.resize(align4(b.len()), 0);
    }
    let len = b.len() as u32;
    b[0..4].copy_from_slice(&len.to_ne_bytes());
    b[4..6].copy_from_slice(&ty.to_ne_bytes());
    b[6..8].copy_from_slice(&flags.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    b
}

/// A dump request (`RTM_GETLINK`, `RTM_GETROUTE`, `RTM_GETNEIGH`) for `family`.
pub fn dump_request(ty: u16, family: u8, seq: u32) -> Vec<u8> {
    let fixed_len = if ty == RTM_GETLINK { 16 } else { 12 };
    let mut fixed = vec![0u8; fixed_len];
    fixed[0] = family;
    message(ty, NLM_F_REQUEST | NLM_F_DUMP, seq, &fixed, &[])
}

/// `RTM_NEWNEIGH` with `NTF_USE` for an existing entry (no `NLM_F_CREATE`:
/// an entry that is gone stays gone): the kernel treats it as if it had
/// sent a packet to the neighbour, so a STALE entry goes to DELAY and is
/// re-validated by unicast probes (REACHABLE again, or FAILED and removed).
pub fn neigh_use(family: u8, ifindex: i32, dst: u128, seq: u32) -> Vec<u8> {
    let mut fixed = [0u8; 12];
    fixed[0] = family;
    fixed[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    fixed[10] = NTF_USE;
    let d = if family == AF_INET {
        (dst as u32).to_be_bytes().to_vec()
    } else {
        dst.to_be_bytes().to_vec()
    };
    message(RTM_NEWNEIGH, NLM_F_REQUEST, seq, &fixed, &[(NDA_DST, &d)])
}

/// Builders of kernel messages, for tests (synthetic netlink traffic).
pub mod build {
    use super::*;

    fn addr_bytes(family: u8, a: u128) -> Vec<u8> {
        if family == AF_INET {
            (a as u32).to_be_bytes().to_vec()
        } else {
            a.to_be_bytes().to_vec()
        }
    }

    /// `RTM_NEWLINK`/`RTM_DELLINK`.
    pub fn link(del: bool, index: i32, name: &str) -> Vec<u8> {
        let mut fixed = [0u8; 16];
        fixed[4..8].copy_from_slice(&index.to_ne_bytes());
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        let ty = if del { RTM_DELLINK } else { RTM_NEWLINK };
        message(ty, 0, 0, &fixed, &[(IFLA_IFNAME, &n)])
    }

    /// A unicast route in the main table.
    pub fn route(
        del: bool,
        family: u8,
        (dst, len): (u128, u8),
        oif: i32,
        gateway: Option<u128>,
        metric: u32,
    ) -> Vec<u8> {
        let fixed = [family, len, 0, 0, 254, 3, 0, RTN_UNICAST, 0, 0, 0, 0];
        let d = addr_bytes(family, dst);
        let o = oif.to_ne_bytes();
        let m = metric.to_ne_bytes();
        let t = RT_TABLE_MAIN.to_ne_bytes();
        let g = gateway.map(|g| addr_bytes(family, g));
        let mut a: Vec<(u16, &[u8])> = vec![(RTA_TABLE, &t), (RTA_PRIORITY, &m), (RTA_OIF, &o)];
        if len > 0 {
            a.push((RTA_DST, &d));
        }
        if let Some(g) = &g {
            a.push((RTA_GATEWAY, g));
        }
        let ty = if del { RTM_DELROUTE } else { RTM_NEWROUTE };
        message(ty, 0, 0, &fixed, &a)
    }

    /// A neighbour entry.
    pub fn neigh(
        del: bool,
        family: u8,
        ifindex: i32,
        dst: u128,
        state: u16,
        mac: Option<[u8; 6]>,
    ) -> Vec<u8> {
        let mut fixed = [0u8; 12];
        fixed[0] = family;
        fixed[4..8].copy_from_slice(&ifindex.to_ne_bytes());
        fixed[8..10].copy_from_slice(&state.to_ne_bytes());
        let d = addr_bytes(family, dst);
        let mut a: Vec<(u16, &[u8])> = vec![(NDA_DST, &d)];
        if let Some(m) = &mac {
            a.push((NDA_LLADDR, m));
        }
        let ty = if del { RTM_DELNEIGH } else { RTM_NEWNEIGH };
        message(ty, 0, 0, &fixed, &a)
    }

    /// `NLMSG_DONE` for `seq`.
    pub fn done(seq: u32) -> Vec<u8> {
        message(NLMSG_DONE, 0, seq, &[0, 0, 0, 0], &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neigh_use_request() {
        let m = neigh_use(AF_INET6, 6, 0x2001_0db8 << 96 | 0xa, 9);
        // nlmsghdr: length, RTM_NEWNEIGH, NLM_F_REQUEST only (no CREATE:
        // a vanished entry is not re-created), sequence number.
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWNEIGH);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), NLM_F_REQUEST);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 9);
        // ndmsg: family, ifindex, state 0, flags NTF_USE.
        assert_eq!(m[16], AF_INET6);
        assert_eq!(i32::from_ne_bytes(m[20..24].try_into().unwrap()), 6);
        assert_eq!(&m[24..26], &[0, 0]);
        assert_eq!(m[26], NTF_USE);
        // NDA_DST, 16 bytes.
        assert_eq!(u16::from_ne_bytes([m[30], m[31]]), NDA_DST);
        assert_eq!(&m[32..48], &(0x2001_0db8u128 << 96 | 0xa).to_be_bytes());
        let m4 = neigh_use(AF_INET, 4, 0xc000_02fe, 1);
        assert_eq!(&m4[32..36], &[192, 0, 2, 254]);
    }

    #[test]
    fn round_trips() {
        let mut d = build::link(false, 7, "xr-a");
        d.extend(build::route(
            false,
            AF_INET6,
            (0x2001_0db8 << 96, 64),
            7,
            Some(0xfe80 << 112 | 1),
            1024,
        ));
        d.extend(build::neigh(
            false,
            AF_INET,
            7,
            0xc000_0201,
            NUD_STALE,
            Some([2, 0, 0, 0, 0, 1]),
        ));
        d.extend(build::done(9));
        let mut out = Vec::new();
        parse(&d, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(
            out[0],
            Msg::Link {
                del: false,
                index: 7,
                name: Some("xr-a".into())
            }
        );
        let Msg::Route(r) = &out[1] else {
            panic!("{:?}", out[1])
        };
        assert_eq!(
            (r.family, r.dst, r.dst_len, r.oif, r.gateway, r.metric, r.table),
            (
                AF_INET6,
                0x2001_0db8 << 96,
                64,
                Some(7),
                Some(0xfe80 << 112 | 1),
                1024,
                RT_TABLE_MAIN
            )
        );
        let Msg::Neigh(n) = &out[2] else {
            panic!("{:?}", out[2])
        };
        assert_eq!(
            (n.dst, n.state, n.mac),
            (0xc000_0201, NUD_STALE, Some([2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(out[3], Msg::Done { seq: 9 });
    }

    #[test]
    fn truncated_input_stops_cleanly() {
        let d = build::route(false, AF_INET, (0xc000_0200, 24), 3, None, 0);
        for cut in 0..d.len() {
            let mut out = Vec::new();
            parse(&d[..cut], &mut out);
            assert!(out.len() <= 1);
        }
        let mut out = Vec::new();
        parse(&dump_request(RTM_GETROUTE, AF_INET, 5), &mut out);
        assert_eq!(out.len(), 1, "a request parses as a (route) message");
    }
}
