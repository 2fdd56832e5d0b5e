//! The kernel path for next-hop misses: a frame whose next hop the table
//! cannot resolve is given to the kernel as an IP packet, through a raw
//! socket per family (`IPPROTO_RAW`: the header is ours, `IP_HDRINCL` /
//! `IPV6_HDRINCL`) bound to the egress interface (`SO_BINDTODEVICE`). The
//! kernel routes it over that interface, resolves the neighbour (ARP/ND,
//! queueing the packet meanwhile) and transmits it; its neighbour entry
//! then reaches the FIB sync, and the next frames take the fast path.
//!
//! Used by the slow-path thread only; sockets are non-blocking (a full
//! socket buffer is a counted error, never a wait).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{ipproto, AddressFamily, SendFlags, SocketFlags, SocketType};

/// One raw socket per family.
#[derive(Debug)]
pub struct KernelTx {
    v4: OwnedFd,
    v6: OwnedFd,
}

fn setsockopt_raw(fd: &OwnedFd, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
    // SAFETY: `fd` is an open socket we own; `val` is a live buffer of
    // `val.len()` bytes the kernel only reads during the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ))
    }
}

fn raw_socket(family: AddressFamily, iface: &str) -> Result<OwnedFd, Errno> {
    let fd = rustix::net::socket_with(
        family,
        SocketType::RAW,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        Some(ipproto::RAW),
    )?;
    if family == AddressFamily::INET6 {
        // IPPROTO_RAW implies it on Linux; say so anyway.
        setsockopt_raw(
            &fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_HDRINCL,
            &1i32.to_ne_bytes(),
        )?;
    }
    setsockopt_raw(
        &fd,
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        iface.as_bytes(),
    )?;
    Ok(fd)
}

/// Where the IP packet starts in an Ethernet frame and its ethertype
/// (one VLAN tag skipped).
#[inline]
pub fn l3(frame: &[u8]) -> Option<(usize, u16)> {
    let et = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    if et == 0x8100 {
        let et = u16::from_be_bytes(frame.get(16..18)?.try_into().ok()?);
        Some((18, et))
    } else {
        Some((14, et))
    }
}

impl KernelTx {
    /// Raw sockets bound to the IPv4-facing and IPv6-facing interfaces.
    pub fn open(v4_if: &str, v6_if: &str) -> std::io::Result<KernelTx> {
        let io = |e: Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
        Ok(KernelTx {
            v4: raw_socket(AddressFamily::INET, v4_if).map_err(io)?,
            v6: raw_socket(AddressFamily::INET6, v6_if).map_err(io)?,
        })
    }

    /// Sends the IP packet of Ethernet frame `frame` through the kernel.
    pub fn send_frame(&self, frame: &[u8]) -> Result<(), Errno> {
        let (off, et) = l3(frame).ok_or(Errno::INVAL)?;
        let ip = &frame[off..];
        match et {
            0x0800 => {
                let d: [u8; 4] = ip
                    .get(16..20)
                    .ok_or(Errno::INVAL)?
                    .try_into()
                    .unwrap_or_default();
                let to = SocketAddrV4::new(Ipv4Addr::from(d), 0);
                rustix::net::sendto(&self.v4, ip, SendFlags::DONTWAIT, &to)?;
            }
            0x86dd => {
                let d: [u8; 16] = ip
                    .get(24..40)
                    .ok_or(Errno::INVAL)?
                    .try_into()
                    .unwrap_or_default();
                let to = SocketAddrV6::new(Ipv6Addr::from(d), 0, 0, 0);
                rustix::net::sendto(&self.v6, ip, SendFlags::DONTWAIT, &to)?;
            }
            _ => return Err(Errno::AFNOSUPPORT),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::l3;

    #[test]
    fn finds_the_ip_header() {
        let mut f = [0u8; 60];
        f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        assert_eq!(l3(&f), Some((14, 0x86dd)));
        f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        f[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
        assert_eq!(l3(&f), Some((18, 0x0800)));
        assert_eq!(l3(&f[..10]), None);
    }
}
