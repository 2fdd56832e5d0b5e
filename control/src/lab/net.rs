//! The lab's traffic: test packets (IPv6 + UDP with a marker payload),
//! the hosts' sockets (created in their namespaces: a socket keeps the
//! namespace it was made in), paced senders and counting receivers.
//!
//! Every host uses its kernel's ordinary sockets, as a real host would:
//! the 6to4 site a raw IPv4 socket of protocol 41, the Teredo client and
//! server UDP sockets, the native host one UDP socket. The kernels resolve
//! ARP and ND, route, and check every checksum of what they receive.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use super::{
    client_v6, ANYCAST_V4, CLIENT_PORT, CLIENT_V4, NATIVE_V6, RELAY_TEREDO_PORT, RELAY_TEREDO_V4,
    SERVER_PORT, SERVER_V4, SITE_V4, SITE_V6,
};

/// The UDP port of the test packets inside the tunnels, at both ends.
pub const PORT: u16 = 7000;
const MAGIC: &[u8; 4] = b"XRLB";
/// Payload bytes after the inner UDP header.
const PAYLOAD: usize = 32;

/// The four paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    SixToFourToNative = 0,
    NativeToSixToFour = 1,
    TeredoToNative = 2,
    NativeToTeredo = 3,
}

impl Path {
    pub const ALL: [Path; 4] = [
        Path::SixToFourToNative,
        Path::NativeToSixToFour,
        Path::TeredoToNative,
        Path::NativeToTeredo,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Path::SixToFourToNative => "6to4 site → native host",
            Path::NativeToSixToFour => "native host → 6to4 site",
            Path::TeredoToNative => "Teredo client → native host",
            Path::NativeToTeredo => "native host → Teredo client",
        }
    }
    /// The dataplane event that counts one relayed packet of this path.
    pub fn event(self) -> &'static str {
        match self {
            Path::SixToFourToNative => "event/sixto4_decap",
            Path::NativeToSixToFour => "event/sixto4_encap",
            Path::TeredoToNative => "event/teredo_rx",
            Path::NativeToTeredo => "event/teredo_tx",
        }
    }
    fn from_u8(b: u8) -> Option<Path> {
        Path::ALL.get(b as usize).copied()
    }
}

/// What a marker payload says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub path: Path,
    /// 0: traffic, 1: handshake.
    pub phase: u8,
    pub run: u32,
    pub seq: u64,
}

pub fn payload(m: Mark) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    p[..4].copy_from_slice(MAGIC);
    p[4] = m.path as u8;
    p[5] = m.phase;
    p[8..12].copy_from_slice(&m.run.to_be_bytes());
    p[12..20].copy_from_slice(&m.seq.to_be_bytes());
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = b'a' + i as u8;
    }
    p
}

pub fn parse_payload(p: &[u8]) -> Option<Mark> {
    if p.len() < 20 || &p[..4] != MAGIC {
        return None;
    }
    Some(Mark {
        path: Path::from_u8(p[4])?,
        phase: p[5],
        run: u32::from_be_bytes(p[8..12].try_into().ok()?),
        seq: u64::from_be_bytes(p[12..20].try_into().ok()?),
    })
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The UDP checksum over IPv6 (RFC 8200 §8.1); `udp` with its checksum
/// field as it is (0 to compute, the received value to verify: then the
/// result is 0 when right).
fn udp6_sum(src: Ipv6Addr, dst: Ipv6Addr, udp: &[u8]) -> u16 {
    let mut acc = sum16(&src.octets(), 0);
    acc = sum16(&dst.octets(), acc);
    acc += udp.len() as u32 + 17;
    !fold(sum16(udp, acc))
}

/// An IPv6 packet carrying UDP `sport → PORT` with the marker payload.
pub fn udp6_packet(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, m: Mark) -> Vec<u8> {
    let pay = payload(m);
    let ulen = 8 + pay.len();
    let mut p = vec![0u8; 40 + ulen];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40..42].copy_from_slice(&sport.to_be_bytes());
    p[42..44].copy_from_slice(&PORT.to_be_bytes());
    p[44..46].copy_from_slice(&(ulen as u16).to_be_bytes());
    p[48..].copy_from_slice(&pay);
    let mut c = udp6_sum(src, dst, &p[40..]);
    if c == 0 {
        c = 0xffff;
    }
    p[46..48].copy_from_slice(&c.to_be_bytes());
    p
}

/// A Teredo bubble: an IPv6 header alone, next header 59, hop limit 0.
pub fn bubble(src: Ipv6Addr, dst: Ipv6Addr) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[0] = 0x60;
    b[6] = 59;
    b[8..24].copy_from_slice(&src.octets());
    b[24..40].copy_from_slice(&dst.octets());
    b
}

/// What an IPv6 packet is, for the receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner {
    /// A test packet whose UDP checksum is right.
    Test(Mark),
    /// A test packet with a wrong UDP checksum.
    BadChecksum,
    /// A bubble (next header 59, no payload), with its source.
    Bubble(Ipv6Addr),
    Other,
}

pub fn parse_ipv6(p: &[u8]) -> Inner {
    if p.len() < 40 || p[0] >> 4 != 6 {
        return Inner::Other;
    }
    let plen = u16::from_be_bytes([p[4], p[5]]) as usize;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap_or([0; 16]));
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap_or([0; 16]));
    if p[6] == 59 && plen == 0 {
        return Inner::Bubble(src);
    }
    if p[6] != 17 || p.len() < 40 + plen || plen < 8 {
        return Inner::Other;
    }
    let udp = &p[40..40 + plen];
    let Some(m) = parse_payload(&udp[8..]) else {
        return Inner::Other;
    };
    if udp6_sum(src, dst, udp) != 0 {
        return Inner::BadChecksum;
    }
    Inner::Test(m)
}

/// Runs `f` on a thread that entered network namespace `ns`: the sockets
/// it makes belong to `ns` for their whole life.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let ns = ns.to_owned();
    std::thread::Builder::new()
        .name("lab-netns".into())
        .spawn(move || {
            crate::sys::enter_netns(&ns)?;
            f()
        })
        .context("spawning a thread")?
        .join()
        .map_err(|_| anyhow!("a thread making sockets panicked"))?
}

/// One host socket: UDP, or raw IPv4 of protocol 41.
#[derive(Debug)]
pub enum Sock {
    Udp(UdpSocket),
    Raw41(OwnedFd),
}

impl Sock {
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        match (self, to) {
            (Sock::Udp(s), _) => s.send_to(buf, to),
            (Sock::Raw41(fd), SocketAddr::V4(a)) => {
                Ok(rustix::net::sendto(fd, buf, SendFlags::empty(), &a)?)
            }
            (Sock::Raw41(_), SocketAddr::V6(_)) => Err(std::io::ErrorKind::InvalidInput.into()),
        }
    }

    /// One datagram, or None after the receive timeout. For the raw socket,
    /// the IPv4 header is stripped.
    fn recv(&self, buf: &mut [u8]) -> std::io::Result<Option<(usize, usize)>> {
        let r = match self {
            Sock::Udp(s) => s.recv(buf).map(|n| (0, n)),
            Sock::Raw41(fd) => match rustix::net::recv(fd, &mut *buf, RecvFlags::empty()) {
                Ok((n, _)) if n >= 20 => Ok((usize::from(buf[0] & 0xf) * 4, n)),
                Ok(_) => Ok((0, 0)),
                Err(e) => Err(e.into()),
            },
        };
        match r {
            Ok(x) => Ok(Some(x)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn set_timeout(&self, d: Duration) -> Result<()> {
        match self {
            Sock::Udp(s) => s.set_read_timeout(Some(d))?,
            Sock::Raw41(fd) => rustix::net::sockopt::set_socket_timeout(
                fd,
                rustix::net::sockopt::Timeout::Recv,
                Some(d),
            )?,
        }
        Ok(())
    }
}

fn big_buffers(s: &impl std::os::fd::AsFd) {
    // Best effort: the default suffices at modest rates.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(s, 4 << 20);
    let _ = rustix::net::sockopt::set_socket_send_buffer_size(s, 4 << 20);
}

/// Builds the datagram of one test packet.
pub type Builder = Box<dyn Fn(Mark) -> Vec<u8> + Send>;

/// The hosts' sockets.
#[derive(Debug)]
pub struct Hosts {
    /// The 6to4 site (raw IPv4, protocol 41, bound to 192.0.2.1).
    pub site: Arc<Sock>,
    /// The Teredo client (UDP 192.0.2.10:40000).
    pub client: Arc<Sock>,
    /// The Teredo server (UDP 192.0.2.20:3544): gets the indirect bubbles.
    pub server: Arc<Sock>,
    /// The native host (UDP [2001:db8::1]:7000).
    pub native: Arc<Sock>,
}

impl Hosts {
    pub fn open(v4_ns: &str, v6_ns: &str) -> Result<Hosts> {
        let (site, client, server) = in_netns(v4_ns, || {
            let raw = rustix::net::socket(
                AddressFamily::INET,
                SocketType::RAW,
                Some(rustix::net::ipproto::IPV6),
            )
            .context("raw IPv4 socket of protocol 41")?;
            rustix::net::bind(&raw, &SocketAddrV4::new(SITE_V4, 0))
                .context("binding the 6to4 site's socket to 192.0.2.1")?;
            big_buffers(&raw);
            let client = UdpSocket::bind(SocketAddrV4::new(CLIENT_V4, CLIENT_PORT))
                .context("binding the Teredo client's socket")?;
            big_buffers(&client);
            let server = UdpSocket::bind(SocketAddrV4::new(SERVER_V4, SERVER_PORT))
                .context("binding the Teredo server's socket")?;
            Ok((Sock::Raw41(raw), Sock::Udp(client), Sock::Udp(server)))
        })?;
        let native = in_netns(v6_ns, || {
            let s = UdpSocket::bind(SocketAddrV6::new(NATIVE_V6, PORT, 0, 0))
                .context("binding the native host's socket")?;
            big_buffers(&s);
            Ok(Sock::Udp(s))
        })?;
        for s in [&site, &client, &server, &native] {
            s.set_timeout(Duration::from_millis(100))?;
        }
        Ok(Hosts {
            site: Arc::new(site),
            client: Arc::new(client),
            server: Arc::new(server),
            native: Arc::new(native),
        })
    }

    /// The socket that sends `path`, what it sends, and where to.
    pub fn sender(&self, path: Path) -> (Arc<Sock>, SocketAddr, Builder) {
        let teredo = client_v6();
        match path {
            Path::SixToFourToNative => (
                Arc::clone(&self.site),
                SocketAddr::V4(SocketAddrV4::new(ANYCAST_V4, 0)),
                Box::new(|m| udp6_packet(SITE_V6, NATIVE_V6, PORT, m)),
            ),
            Path::NativeToSixToFour => (
                Arc::clone(&self.native),
                SocketAddr::V6(SocketAddrV6::new(SITE_V6, PORT, 0, 0)),
                Box::new(|m| payload(m).to_vec()),
            ),
            Path::TeredoToNative => (
                Arc::clone(&self.client),
                SocketAddr::V4(SocketAddrV4::new(RELAY_TEREDO_V4, RELAY_TEREDO_PORT)),
                Box::new(move |m| udp6_packet(teredo, NATIVE_V6, CLIENT_PORT, m)),
            ),
            Path::NativeToTeredo => (
                Arc::clone(&self.native),
                SocketAddr::V6(SocketAddrV6::new(teredo, PORT, 0, 0)),
                Box::new(|m| payload(m).to_vec()),
            ),
        }
    }
}

/// What arrived at one receiving socket.
#[derive(Debug)]
pub struct Tally {
    /// Per path: distinct sequence numbers seen.
    pub seen: Vec<Mutex<Vec<bool>>>,
    pub received: [AtomicU64; 4],
    pub duplicates: [AtomicU64; 4],
    pub bad_checksum: AtomicU64,
    pub handshake: [AtomicU64; 4],
    /// Sources of bubbles received (the relay's bubble source).
    pub bubbles: Mutex<Vec<Ipv6Addr>>,
}

impl Tally {
    pub fn new(max_seq: usize) -> Tally {
        Tally {
            seen: (0..4).map(|_| Mutex::new(vec![false; max_seq])).collect(),
            received: Default::default(),
            duplicates: Default::default(),
            bad_checksum: AtomicU64::new(0),
            handshake: Default::default(),
            bubbles: Mutex::new(Vec::new()),
        }
    }

    fn count(&self, m: Mark, run: u32) {
        if m.run != run {
            return;
        }
        let i = m.path as usize;
        if m.phase != 0 {
            self.handshake[i].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut seen = self.seen[i].lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(m.seq as usize) {
            Some(s) if !*s => {
                *s = true;
                self.received[i].fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.duplicates[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Receives on `sock` until `stop`: test packets are counted in `tally`.
/// Native host: UDP payloads; the others carry an IPv6 packet (raw:
/// after the IPv4 header; Teredo: the UDP payload).
pub fn receive(sock: &Sock, native: bool, run: u32, tally: &Tally, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some((off, n))) = sock.recv(&mut buf) else {
            continue;
        };
        let data = &buf[off..n];
        if native {
            if let Some(m) = parse_payload(data) {
                tally.count(m, run);
            }
            continue;
        }
        match parse_ipv6(data) {
            Inner::Test(m) => tally.count(m, run),
            Inner::BadChecksum => {
                tally.bad_checksum.fetch_add(1, Ordering::Relaxed);
            }
            Inner::Bubble(src) => {
                tally
                    .bubbles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(src);
            }
            Inner::Other => {}
        }
    }
}

/// Sends `path` at `rate` packets per second for `duration` (or until
/// `stop`); returns (sent, send errors). Paced in 1 ms steps.
pub fn send_paced(
    hosts: &Hosts,
    path: Path,
    run: u32,
    rate: u64,
    duration: Duration,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> u64 {
    let (sock, to, build) = hosts.sender(path);
    let start = Instant::now();
    let total = rate * duration.as_millis() as u64 / 1000;
    let mut seq = 0u64;
    let mut errors = 0u64;
    while seq < total && !stop.load(Ordering::Relaxed) {
        let due = (rate as u128 * start.elapsed().as_micros() / 1_000_000) as u64;
        let due = due.min(total);
        if seq >= due {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        while seq < due {
            let pkt = build(Mark {
                path,
                phase: 0,
                run,
                seq,
            });
            if sock.send_to(&pkt, to).is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            } else {
                errors += 1;
                // ENOBUFS and the like: the sequence number is skipped.
                std::thread::sleep(Duration::from_micros(200));
            }
            seq += 1;
        }
    }
    errors
}

/// Sends one handshake-phase packet of `path`.
pub fn send_handshake(hosts: &Hosts, path: Path, run: u32) -> Result<()> {
    let (sock, to, build) = hosts.sender(path);
    sock.send_to(
        &build(Mark {
            path,
            phase: 1,
            run,
            seq: 0,
        }),
        to,
    )
    .with_context(|| format!("sending the {} handshake packet", path.name()))?;
    Ok(())
}

/// The Teredo client's direct bubble to `dst` (the relay's bubble source).
pub fn send_client_bubble(hosts: &Hosts, dst: Ipv6Addr) -> Result<()> {
    let b = bubble(client_v6(), dst);
    hosts
        .client
        .send_to(
            &b,
            SocketAddr::V4(SocketAddrV4::new(RELAY_TEREDO_V4, RELAY_TEREDO_PORT)),
        )
        .context("sending the Teredo client's bubble")?;
    Ok(())
}

/// Waits (≤ `limit`) for one datagram on `sock` that `want` accepts.
pub fn wait_for<T>(
    sock: &Sock,
    limit: Duration,
    stop: &AtomicBool,
    want: impl Fn(&[u8]) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if let Ok(Some((off, n))) = sock.recv(&mut buf) {
            if let Some(v) = want(&buf[off..n]) {
                return Some(v);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip() {
        let m = Mark {
            path: Path::TeredoToNative,
            phase: 0,
            run: 7,
            seq: 123_456,
        };
        let p = udp6_packet(client_v6(), NATIVE_V6, CLIENT_PORT, m);
        assert_eq!(parse_ipv6(&p), Inner::Test(m));
        let mut bad = p.clone();
        bad[60] ^= 1;
        assert_eq!(parse_ipv6(&bad), Inner::BadChecksum);
        assert_eq!(
            parse_ipv6(&bubble(NATIVE_V6, client_v6())),
            Inner::Bubble(NATIVE_V6)
        );
        assert_eq!(parse_payload(&payload(m)), Some(m));
    }
}
