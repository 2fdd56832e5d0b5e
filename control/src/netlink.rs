//! The one rtnetlink query the control process needs: an interface by
//! name (RTM_GETLINK), with its index, state, queue counts and XDP
//! attachment (`IFLA_XDP`), as seen from the calling thread's network
//! namespace. (`/sys/class/net` would show the namespace sysfs was mounted
//! in, which is wrong after `--netns`.)
//!
//! ```text
//! request:  nlmsghdr(16) | ifinfomsg(16) | rtattr IFLA_EXT_MASK u32 | rtattr IFLA_IFNAME "xr3r\0"
//! reply:    nlmsghdr RTM_NEWLINK | ifinfomsg | rtattrs… (IFLA_XDP nested)
//!           or nlmsghdr NLMSG_ERROR | i32 -errno | …
//! ```

use std::fmt;
use std::os::fd::OwnedFd;

use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const NLMSG_HDR_LEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_NUM_TX_QUEUES: u16 = 31;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const IF_OPER_UP: u8 = 6;

/// How an XDP program sits on an interface (`XDP_ATTACHED_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAttach {
    None,
    /// In the driver (`XDP_ATTACHED_DRV`): what `--xdp-mode native` asks for.
    Native,
    /// In the generic path (`XDP_ATTACHED_SKB`).
    Generic,
    /// Offloaded to the NIC (`XDP_ATTACHED_HW`).
    Offload,
    /// Several modes at once (`XDP_ATTACHED_MULTI`).
    Multi,
}

impl XdpAttach {
    pub const fn name(self) -> &'static str {
        match self {
            XdpAttach::None => "none",
            XdpAttach::Native => "native",
            XdpAttach::Generic => "generic",
            XdpAttach::Offload => "offload",
            XdpAttach::Multi => "multi",
        }
    }
}

impl fmt::Display for XdpAttach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub ifindex: u32,
    pub name: String,
    /// `IF_OPER_UP`.
    pub oper_up: bool,
    pub rx_queues: Option<u32>,
    pub tx_queues: Option<u32>,
    pub xdp: XdpAttach,
    /// The program in the mode the interface reports (driver or generic
    /// when both are set).
    pub xdp_prog_id: Option<u32>,
}

/// A failed netlink exchange (not "no such interface", which is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
#[error("netlink {call} (RTM_GETLINK {iface}): {source}")]
pub struct NetlinkError {
    pub call: &'static str,
    pub iface: String,
    #[source]
    pub source: std::io::Error,
}

/// Looks `name` up in the calling thread's network namespace.
pub fn link_by_name(name: &str) -> Result<Option<LinkState>, NetlinkError> {
    let err = |call: &'static str| {
        let iface = name.to_owned();
        move |e: rustix::io::Errno| NetlinkError {
            call,
            iface,
            source: e.into(),
        }
    };
    let bad = |what: &str| NetlinkError {
        call: "parse",
        iface: name.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned()),
    };
    if name.is_empty()
        || name.len() > 15
        || name.contains(['/', '\0'])
        || name.contains(char::is_whitespace)
    {
        return Ok(None);
    }
    let fd: OwnedFd = net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE is protocol 0
    )
    .map_err(err("socket"))?;
    let req = request(name, 1);
    net::send(&fd, &req, SendFlags::empty()).map_err(err("send"))?;
    let mut buf = vec![0u8; 64 * 1024];
    let (n, _) = net::recv(&fd, &mut buf[..], RecvFlags::empty()).map_err(err("recv"))?;
    let msg = buf.get(..n).ok_or_else(|| bad("short reply"))?;
    parse_reply(msg).map_err(|e| match e {
        Reply::Errno(code) => NetlinkError {
            call: "reply",
            iface: name.to_owned(),
            source: std::io::Error::from_raw_os_error(code),
        },
        Reply::Malformed(what) => bad(what),
    })
}

fn request(name: &str, seq: u32) -> Vec<u8> {
    let mut b = vec![0u8; NLMSG_HDR_LEN + IFINFOMSG_LEN];
    push_attr(
        &mut b,
        IFLA_EXT_MASK,
        &RTEXT_FILTER_SKIP_STATS.to_ne_bytes(),
    );
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    push_attr(&mut b, IFLA_IFNAME, &ifname);
    let len = b.len() as u32;
    b[0..4].copy_from_slice(&len.to_ne_bytes());
    b[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    b[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // ifinfomsg: family AF_UNSPEC, index 0 (look up by name).
    b
}

fn push_attr(b: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(payload);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

#[derive(Debug)]
enum Reply {
    /// A netlink error with this errno; ENODEV means "no such interface".
    Errno(i32),
    Malformed(&'static str),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The attributes in `b`, as (type without flags, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, 0)?);
        let ty = u16_at(b, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

fn parse_reply(msg: &[u8]) -> Result<Option<LinkState>, Reply> {
    let len = u32_at(msg, 0).ok_or(Reply::Malformed("short header"))? as usize;
    let ty = u16_at(msg, 4).ok_or(Reply::Malformed("short header"))?;
    let msg = msg
        .get(..len)
        .ok_or(Reply::Malformed("truncated message"))?;
    if ty == NLMSG_ERROR {
        let code = u32_at(msg, NLMSG_HDR_LEN).ok_or(Reply::Malformed("short error"))? as i32;
        return match -code {
            0 => Err(Reply::Malformed("ack without a link")),
            ENODEV => Ok(None),
            e => Err(Reply::Errno(e)),
        };
    }
    if ty != RTM_NEWLINK {
        return Err(Reply::Malformed("unexpected message type"));
    }
    let body = msg
        .get(NLMSG_HDR_LEN..)
        .ok_or(Reply::Malformed("short body"))?;
    let ifindex = u32_at(body, 4).ok_or(Reply::Malformed("short ifinfomsg"))?;
    let mut st = LinkState {
        ifindex,
        name: String::new(),
        oper_up: false,
        rx_queues: None,
        tx_queues: None,
        xdp: XdpAttach::None,
        xdp_prog_id: None,
    };
    let rest = body.get(IFINFOMSG_LEN..).unwrap_or(&[]);
    for (ty, p) in attrs(rest) {
        match ty {
            IFLA_IFNAME => {
                let end = p.iter().position(|c| *c == 0).unwrap_or(p.len());
                st.name = String::from_utf8_lossy(&p[..end]).into_owned();
            }
            IFLA_OPERSTATE => st.oper_up = p.first() == Some(&IF_OPER_UP),
            IFLA_NUM_RX_QUEUES => st.rx_queues = u32_at(p, 0),
            IFLA_NUM_TX_QUEUES => st.tx_queues = u32_at(p, 0),
            IFLA_XDP => parse_xdp(p, &mut st),
            _ => {}
        }
    }
    Ok(Some(st))
}

fn parse_xdp(p: &[u8], st: &mut LinkState) {
    let (mut prog, mut drv, mut skb) = (None, None, None);
    for (ty, v) in attrs(p) {
        match ty {
            IFLA_XDP_ATTACHED => {
                st.xdp = match v.first() {
                    Some(1) => XdpAttach::Native,
                    Some(2) => XdpAttach::Generic,
                    Some(3) => XdpAttach::Offload,
                    Some(4) => XdpAttach::Multi,
                    _ => XdpAttach::None,
                }
            }
            IFLA_XDP_PROG_ID => prog = u32_at(v, 0),
            IFLA_XDP_DRV_PROG_ID => drv = u32_at(v, 0),
            IFLA_XDP_SKB_PROG_ID => skb = u32_at(v, 0),
            _ => {}
        }
    }
    st.xdp_prog_id = prog.or(drv).or(skb);
}

const ENODEV: i32 = 19;

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(ty: u16, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDR_LEN];
        m.extend_from_slice(body);
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&ty.to_ne_bytes());
        m
    }

    #[test]
    fn request_layout() {
        let r = request("xr3r", 7);
        assert_eq!(r.len(), 16 + 16 + 8 + 12);
        assert_eq!(u32_at(&r, 0), Some(r.len() as u32));
        assert_eq!(u16_at(&r, 4), Some(RTM_GETLINK));
        assert_eq!(u32_at(&r, 8), Some(7));
        assert_eq!(&r[40 + 4..40 + 9], b"xr3r\0");
    }

    #[test]
    fn parses_a_link_with_xdp() {
        let mut body = vec![0u8; IFINFOMSG_LEN];
        body[4..8].copy_from_slice(&9u32.to_ne_bytes());
        push_attr(&mut body, IFLA_IFNAME, b"xr3r\0");
        push_attr(&mut body, IFLA_OPERSTATE, &[IF_OPER_UP]);
        push_attr(&mut body, IFLA_NUM_RX_QUEUES, &4u32.to_ne_bytes());
        let mut xdp = Vec::new();
        push_attr(&mut xdp, IFLA_XDP_ATTACHED, &[1]);
        push_attr(&mut xdp, IFLA_XDP_PROG_ID, &42u32.to_ne_bytes());
        push_attr(&mut body, IFLA_XDP | 0x8000, &xdp);
        let st = parse_reply(&reply(RTM_NEWLINK, &body)).ok().flatten();
        let Some(st) = st else { panic!("no link") };
        assert_eq!(
            (
                st.ifindex,
                st.name.as_str(),
                st.oper_up,
                st.rx_queues,
                st.xdp,
                st.xdp_prog_id
            ),
            (9, "xr3r", true, Some(4), XdpAttach::Native, Some(42))
        );
    }

    #[test]
    fn enodev_is_none_and_other_errors_are_errors() {
        let e = reply(NLMSG_ERROR, &(-ENODEV).to_ne_bytes());
        assert!(matches!(parse_reply(&e), Ok(None)));
        let e = reply(NLMSG_ERROR, &(-1i32).to_ne_bytes());
        assert!(matches!(parse_reply(&e), Err(Reply::Errno(1))));
    }

    #[test]
    fn loopback_is_found() {
        // Every network namespace has lo; needs no privileges.
        let lo = link_by_name("lo");
        assert!(
            matches!(&lo, Ok(Some(l)) if l.name == "lo" && l.ifindex == 1),
            "{lo:?}"
        );
        assert!(matches!(link_by_name("xr-no-such-if"), Ok(None)));
    }
}
