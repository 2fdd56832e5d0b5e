//! The `kernel` backend: each announced prefix is a blackhole route in a
//! dedicated routing table with a dedicated protocol number (defaults 88
//! and 88), which BIRD 2 (`protocol kernel { kernel table 88; learn; }`)
//! or FRR (`ip import-table 88`) exports to BGP (docs/bgp.md).
//!
//! ```text
//! ip route show table 88      →  blackhole 192.88.99.0/24 proto 88
//! ip -6 route show table 88   →  blackhole 2002::/16 dev lo proto 88 metric 1024 pref medium
//! ```
//!
//! Blackhole, because no `ip rule` points at the table: the routes only
//! carry the announcement, and if someone does point a rule at the table,
//! traffic is dropped rather than looped. Also here: the next-hop probe
//! (the `ip route get` of the health check), which resolves a destination
//! in the main tables the way the kernel forwards.
//!
//! Every exchange opens its own NETLINK_ROUTE socket, in the calling
//! thread's network namespace, with a 2 s receive timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use xrelay_dataplane::fib::nl;
use xrelay_engine::config::AnyNet;

const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const RTN_BLACKHOLE: u8 = 6;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;

/// A failed route operation.
#[derive(Debug, thiserror::Error)]
#[error("netlink {what}: {source}")]
pub struct RouteError {
    pub what: String,
    #[source]
    pub source: std::io::Error,
}

fn fail(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RouteError {
    let what = what.into();
    move |source| RouteError { what, source }
}

fn errno(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

fn family(n: &AnyNet) -> u8 {
    match n {
        AnyNet::V4(_) => nl::AF_INET,
        AnyNet::V6(_) => nl::AF_INET6,
    }
}

fn dst(n: &AnyNet) -> (Vec<u8>, u8) {
    match n {
        AnyNet::V4(p) => (p.addr.octets().to_vec(), p.len),
        AnyNet::V6(p) => (p.addr.octets().to_vec(), p.len),
    }
}

/// rtmsg: family | dst_len | src_len | tos | table | protocol | scope | type | flags u32.
fn rtmsg(family: u8, dst_len: u8, table: u32, protocol: u8, scope: u8, rtype: u8) -> [u8; 12] {
    let t = u8::try_from(table).unwrap_or(252); // RT_TABLE_COMPAT; RTA_TABLE has the id
    [family, dst_len, 0, 0, t, protocol, scope, rtype, 0, 0, 0, 0]
}

/// The request to install `n` (replacing what is there).
pub fn add_request(n: &AnyNet, table: u32, protocol: u8, seq: u32) -> Vec<u8> {
    let flags = nl::NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    route_request(
        nl::RTM_NEWROUTE,
        flags,
        RT_SCOPE_UNIVERSE,
        n,
        table,
        protocol,
        seq,
    )
}

/// The request to remove `n` (only a route of `protocol` in `table`).
pub fn del_request(n: &AnyNet, table: u32, protocol: u8, seq: u32) -> Vec<u8> {
    let flags = nl::NLM_F_REQUEST | NLM_F_ACK;
    route_request(
        nl::RTM_DELROUTE,
        flags,
        RT_SCOPE_NOWHERE,
        n,
        table,
        protocol,
        seq,
    )
}

fn route_request(
    ty: u16,
    flags: u16,
    scope: u8,
    n: &AnyNet,
    table: u32,
    protocol: u8,
    seq: u32,
) -> Vec<u8> {
    let (d, len) = dst(n);
    let fixed = rtmsg(family(n), len, table, protocol, scope, RTN_BLACKHOLE);
    nl::message(
        ty,
        flags,
        seq,
        &fixed,
        &[(nl::RTA_DST, &d), (nl::RTA_TABLE, &table.to_ne_bytes())],
    )
}

/// The `ip route get DST` request.
pub fn get_request(dst: IpAddr, seq: u32) -> Vec<u8> {
    let (fam, bytes, len) = match dst {
        IpAddr::V4(a) => (nl::AF_INET, a.octets().to_vec(), 32),
        IpAddr::V6(a) => (nl::AF_INET6, a.octets().to_vec(), 128),
    };
    let fixed = rtmsg(fam, len, 0, 0, 0, 0);
    nl::message(
        nl::RTM_GETROUTE,
        nl::NLM_F_REQUEST,
        seq,
        &fixed,
        &[(nl::RTA_DST, &bytes)],
    )
}

fn socket() -> Result<OwnedFd, std::io::Error> {
    let fd = net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(errno)?;
    net::sockopt::set_socket_timeout(
        &fd,
        net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(2)),
    )
    .map_err(errno)?;
    Ok(fd)
}

/// Sends `req` and returns the raw messages of the answer up to the ack,
/// the end of the dump, or the first route message (`ip route get`).
fn exchange(req: &[u8], seq: u32) -> Result<Vec<(u16, Vec<u8>)>, std::io::Error> {
    let fd = socket()?;
    net::sendto(&fd, req, SendFlags::empty(), &SocketAddrNetlink::new(0, 0)).map_err(errno)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let (n, _) = net::recv(&fd, &mut buf[..], RecvFlags::empty()).map_err(errno)?;
        let mut at = 0usize;
        while at + nl::NLMSG_HDRLEN <= n {
            let h = &buf[at..n];
            let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let ty = u16::from_ne_bytes([h[4], h[5]]);
            let s = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
            if len < nl::NLMSG_HDRLEN || len > h.len() {
                break;
            }
            let body = h[nl::NLMSG_HDRLEN..len].to_vec();
            at += (len + 3) & !3;
            if s != seq {
                continue;
            }
            match ty {
                nl::NLMSG_ERROR => {
                    let code = body
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if code != 0 {
                        return Err(std::io::Error::from_raw_os_error(-code));
                    }
                    return Ok(out);
                }
                nl::NLMSG_DONE => return Ok(out),
                _ => {
                    let single = ty == nl::RTM_NEWROUTE && req_flags(req) & nl::NLM_F_DUMP == 0;
                    out.push((ty, body));
                    if single {
                        return Ok(out);
                    }
                }
            }
        }
    }
}

fn req_flags(req: &[u8]) -> u16 {
    req.get(6..8)
        .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
}

/// Installs and removes the announced routes.
#[derive(Debug, Clone)]
pub struct KernelRoutes {
    pub table: u32,
    pub protocol: u8,
    seq: u32,
}

impl KernelRoutes {
    pub fn new(table: u32, protocol: u8) -> KernelRoutes {
        KernelRoutes {
            table,
            protocol,
            seq: 0,
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    pub fn announce(&mut self, n: &AnyNet) -> Result<(), RouteError> {
        let seq = self.next_seq();
        exchange(&add_request(n, self.table, self.protocol, seq), seq)
            .map(drop)
            .map_err(fail(format!(
                "RTM_NEWROUTE blackhole {n} table {} proto {}",
                self.table, self.protocol
            )))
    }

    /// Removes `n`; a route that is not there is not an error.
    pub fn withdraw(&mut self, n: &AnyNet) -> Result<(), RouteError> {
        let seq = self.next_seq();
        match exchange(&del_request(n, self.table, self.protocol, seq), seq) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(ENOENT | ESRCH)) => Ok(()),
            Err(e) => Err(fail(format!(
                "RTM_DELROUTE {n} table {} proto {}",
                self.table, self.protocol
            ))(e)),
        }
    }

    /// The routes of our protocol in our table (both families).
    pub fn installed(&mut self) -> Result<Vec<AnyNet>, RouteError> {
        let mut v = Vec::new();
        for fam in [nl::AF_INET, nl::AF_INET6] {
            let seq = self.next_seq();
            let req = nl::dump_request(nl::RTM_GETROUTE, fam, seq);
            let msgs = exchange(&req, seq).map_err(fail("RTM_GETROUTE dump"))?;
            for (ty, body) in msgs {
                if ty != nl::RTM_NEWROUTE {
                    continue;
                }
                if let Some(n) = ours(&body, self.table, self.protocol) {
                    v.push(n);
                }
            }
        }
        Ok(v)
    }

    /// Removes every route of our protocol in our table (left by a daemon
    /// that was killed); returns them.
    pub fn flush(&mut self) -> Result<Vec<AnyNet>, RouteError> {
        let v = self.installed()?;
        for n in &v {
            self.withdraw(n)?;
        }
        Ok(v)
    }
}

/// The prefix of a route message when it is one of ours.
fn ours(body: &[u8], table: u32, protocol: u8) -> Option<AnyNet> {
    let h = body.get(..12)?;
    let (fam, len, proto) = (h[0], h[1], h[5]);
    let mut t = u32::from(h[4]);
    let mut d: Option<&[u8]> = None;
    for (ty, v) in nl::attrs(&body[12..]) {
        match ty {
            nl::RTA_TABLE if v.len() == 4 => t = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]),
            nl::RTA_DST => d = Some(v),
            _ => {}
        }
    }
    if t != table || proto != protocol {
        return None;
    }
    match (fam, d) {
        (nl::AF_INET, Some(&[a, b, c, e])) => Some(AnyNet::V4(
            xrelay_engine::config::Ipv4Net::new(Ipv4Addr::new(a, b, c, e), len),
        )),
        (nl::AF_INET6, Some(v)) if v.len() == 16 => {
            let a: [u8; 16] = v.try_into().ok()?;
            Some(AnyNet::V6(xrelay_engine::config::Ipv6Net::new(
                Ipv6Addr::from(a),
                len,
            )))
        }
        _ => None,
    }
}

/// Where the kernel would send a packet to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// A unicast route out of this interface index.
    Via(u32),
    /// A route of another type (unreachable, blackhole, prohibit, local…).
    Type(u8),
}

/// `ip route get DST` in the calling thread's namespace. `Ok(None)`: no
/// route (ENETUNREACH, EHOSTUNREACH).
pub fn route_get(dst: IpAddr) -> Result<Option<Resolved>, RouteError> {
    let req = get_request(dst, 1);
    match exchange(&req, 1) {
        Ok(msgs) => Ok(msgs.into_iter().find_map(|(ty, body)| {
            if ty != nl::RTM_NEWROUTE {
                return None;
            }
            let rtype = *body.get(7)?;
            if rtype != nl::RTN_UNICAST {
                return Some(Resolved::Type(rtype));
            }
            nl::attrs(body.get(12..)?)
                .find(|(t, _)| *t == nl::RTA_OIF)
                .and_then(|(_, v)| Some(Resolved::Via(u32::from_ne_bytes(v.try_into().ok()?))))
        })),
        Err(e) if matches!(e.raw_os_error(), Some(101 | 113 | 22)) => Ok(None),
        Err(e) => Err(fail(format!("RTM_GETROUTE {dst}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> AnyNet {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn add_request_layout() {
        let r = add_request(&net("192.88.99.0/24"), 88, 88, 7);
        // nlmsghdr: len, RTM_NEWROUTE, REQUEST|ACK|CREATE|REPLACE, seq 7.
        assert_eq!(
            u32::from_ne_bytes(r[0..4].try_into().unwrap_or_default()) as usize,
            r.len()
        );
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), nl::RTM_NEWROUTE);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), 0x505);
        assert_eq!(
            u32::from_ne_bytes(r[8..12].try_into().unwrap_or_default()),
            7
        );
        // rtmsg: AF_INET /24, table 88, proto 88, universe, blackhole.
        assert_eq!(&r[16..24], &[2, 24, 0, 0, 88, 88, 0, 6]);
        // RTA_DST 192.88.99.0, RTA_TABLE 88.
        assert_eq!(&r[28..36], &[8, 0, 1, 0, 192, 88, 99, 0]);
        assert_eq!(&r[36..40], &[8, 0, 15, 0]);
        assert_eq!(
            u32::from_ne_bytes(r[40..44].try_into().unwrap_or_default()),
            88
        );
        assert_eq!(r.len(), 44);
    }

    #[test]
    fn del_request_is_scoped_to_our_protocol() {
        let r = del_request(&net("2002::/16"), 300, 88, 1);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), nl::RTM_DELROUTE);
        // Table above 255: RT_TABLE_COMPAT in the header, the id in RTA_TABLE.
        assert_eq!(&r[16..24], &[10, 16, 0, 0, 252, 88, 255, 6]);
        assert_eq!(r.len(), 16 + 12 + 20 + 8);
    }

    #[test]
    fn our_routes_are_recognised_in_a_dump() {
        let body = |proto: u8, table: u32| {
            let r = add_request(&net("2001::/32"), table, proto, 1);
            r[16..].to_vec()
        };
        assert_eq!(ours(&body(88, 88), 88, 88), Some(net("2001::/32")));
        assert_eq!(ours(&body(12, 88), 88, 88), None);
        assert_eq!(ours(&body(88, 254), 88, 88), None);
    }
}
