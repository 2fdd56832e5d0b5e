//! Shared helpers for the engine's integration tests: the lab
//! configuration, Ethernet framing, and an `Output` that records.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use xrelay_engine::{Config, DropReason, Frame, Now, Output, Pipeline, Port, HEADROOM};

pub const V4_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
pub const V4_PEER: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];
pub const V6_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x01];
pub const V6_PEER: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x02];

/// The relay of SPEC §5: 6to4 anycast 192.88.99.1 (unicast 203.0.113.4),
/// Teredo 203.0.113.5:3545, native 2001:db8::ff.
pub const LAB: &str = xrelay_engine::LAB_TOML;

pub fn lab() -> Config {
    Config::from_toml_str(LAB).expect("lab config")
}

pub fn lab_with(extra: impl FnOnce(&mut Config)) -> Config {
    let mut c = lab();
    extra(&mut c);
    c
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Strips the `0000  ` offsets of a SPEC hex dump.
pub fn dump(s: &str) -> Vec<u8> {
    let body: String = s
        .lines()
        .map(|l| {
            let l = l.trim();
            match l.split_once("  ") {
                Some((off, rest))
                    if off.len() == 4 && off.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    rest.to_string()
                }
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    hex(&body)
}

/// Frames an IP packet as received on `port` (to our MAC from the peer).
pub fn eth_in(port: Port, ip: &[u8]) -> Vec<u8> {
    let (dst, src) = match port {
        Port::V4 => (V4_MAC, V4_PEER),
        Port::V6 => (V6_MAC, V6_PEER),
    };
    let et: u16 = if ip.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    };
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// The frame the relay is expected to send on `port` carrying `ip`.
pub fn eth_out(port: Port, ip: &[u8]) -> Vec<u8> {
    let (dst, src) = match port {
        Port::V4 => (V4_PEER, V4_MAC),
        Port::V6 => (V6_PEER, V6_MAC),
    };
    let et: u16 = if ip.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    };
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// Everything the pipeline reported, in order.
#[derive(Debug, Default)]
pub struct Rec {
    pub tx: Vec<(Port, Vec<u8>)>,
    pub dropped: Vec<(DropReason, Vec<u8>)>,
    pub passed: Vec<Vec<u8>>,
    pub consumed: Vec<Vec<u8>>,
}

/// Every frame the engine emits must decode cleanly with an independent
/// parser (etherparse), checksums included.
pub fn assert_decodes(frame: &[u8]) {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = SlicedPacket::from_ethernet(frame)
        .unwrap_or_else(|e| panic!("etherparse: {e:?} in {frame:02x?}"));
    match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            assert_eq!(
                h.to_header().calc_header_checksum(),
                h.header_checksum(),
                "IPv4 header checksum"
            );
            assert_eq!(
                usize::from(h.total_len()),
                frame.len() - 14 - vlan_len(frame),
                "IPv4 total length = frame"
            );
            if let Some(TransportSlice::Udp(u)) = &p.transport {
                let hdr = u.to_header();
                if hdr.checksum != 0 {
                    let want = hdr
                        .calc_checksum_ipv4_raw(h.source(), h.destination(), u.payload())
                        .expect("udp checksum");
                    assert_eq!(want, hdr.checksum, "UDP checksum");
                }
                // Teredo payload: the inner IPv6 packet must decode too.
                let pl = u.payload();
                if pl.first().map(|b| b >> 4) == Some(6) {
                    etherparse::SlicedPacket::from_ip(pl)
                        .unwrap_or_else(|e| panic!("inner IPv6: {e:?}"));
                }
            }
            if h.protocol() == etherparse::IpNumber::IPV6 {
                etherparse::SlicedPacket::from_ip(v4.payload().payload)
                    .unwrap_or_else(|e| panic!("6in4 inner: {e:?}"));
            }
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            assert_eq!(
                usize::from(h.payload_length()) + 40,
                frame.len() - 14 - vlan_len(frame),
                "IPv6 length = frame"
            );
            if let Some(TransportSlice::Icmpv6(i)) = &p.transport {
                let want = i
                    .icmp_type()
                    .calc_checksum(h.source(), h.destination(), i.payload())
                    .expect("icmpv6 checksum");
                assert_eq!(want, i.checksum(), "ICMPv6 checksum");
            }
        }
        _ => {}
    }
}

fn vlan_len(frame: &[u8]) -> usize {
    if frame.get(12..14) == Some(&[0x81, 0x00]) {
        4
    } else {
        0
    }
}

impl Output for Rec {
    fn transmit(&mut self, port: Port, frame: &[u8]) {
        assert_decodes(frame);
        self.tx.push((port, frame.to_vec()));
    }
    fn dropped(&mut self, reason: DropReason, frame: &[u8]) {
        self.dropped.push((reason, frame.to_vec()));
    }
    fn passed(&mut self, frame: &[u8]) {
        self.passed.push(frame.to_vec());
    }
    fn consumed(&mut self, frame: &[u8]) {
        self.consumed.push(frame.to_vec());
    }
}

pub fn pipeline(cfg: &Config) -> Pipeline {
    let mut p = Pipeline::with_seed(cfg, 42).expect("pipeline");
    p.set_constant_ids(0);
    p
}

/// Runs one frame received on `port` at `now` through `p`.
pub fn run(p: &mut Pipeline, port: Port, frame: &[u8], now: Now) -> Rec {
    let mut rec = Rec::default();
    run_into(p, port, frame, now, &mut rec);
    rec
}

pub fn run_into(p: &mut Pipeline, port: Port, frame: &[u8], now: Now, rec: &mut Rec) {
    let mut buf = vec![0u8; HEADROOM + frame.len() + 64];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let mut f = [Frame::new(&mut buf, HEADROOM, frame.len(), port)];
    p.tick(now, rec);
    p.process(&mut f, now, rec);
}
