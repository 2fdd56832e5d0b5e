//! Shared pieces of the in-memory tests: a worker over [`MemRings`],
//! frame builders (etherparse), independent checksum code.

// Each test binary that includes this module uses a different subset.
#![allow(
    dead_code,
    reason = "shared by several test binaries, each using a subset"
)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, RwLock};

use etherparse::{IpNumber, PacketBuilder};
use xrelay_dataplane::batch::Side;
use xrelay_dataplane::mem::MemRings;
use xrelay_dataplane::rings::{map_umem, UmemConfig};
use xrelay_dataplane::slow::{self, SlowLink};
use xrelay_dataplane::worker::Worker;
use xrelay_engine::{Config, Engine, PeerTable, Port};

pub const R4: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
pub const H4: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];
pub const R6: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x01];
pub const H6: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x02];

pub const SITE: &str = "2002:c000:201::1";
pub const HOST: &str = "2001:db8::1";
/// Teredo client 198.51.100.7:40000 behind server 203.0.113.10.
pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const CLIENT_PORT: u16 = 40000;

/// Two-armed 6to4 + Teredo relay; `vlan` tags the IPv4 side.
pub fn config(one_armed: bool, vlan: Option<u16>) -> Config {
    let vlan = vlan.map(|v| format!("vlan = {v}\n")).unwrap_or_default();
    let text = format!(
        r#"
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24"]
[interfaces]
one_armed = {one_armed}
[interfaces.v4]
name = "xr-t4-r4"
mac = "02:00:00:00:04:01"
next_hop_mac = "02:00:00:00:04:02"
{vlan}
[interfaces.v6]
name = "xr-t4-r6"
mac = "02:00:00:00:06:01"
next_hop_mac = "02:00:00:00:06:02"
[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"
[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
"#
    );
    Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("v6")
}

pub fn teredo_client() -> Ipv6Addr {
    xrelay_wire::teredo::Address {
        server: Ipv4Addr::new(203, 0, 113, 10),
        flags: 0,
        port: CLIENT_PORT,
        client: CLIENT4,
    }
    .encode()
}

/// An ICMPv6 echo request.
pub fn echo6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, seq: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src.octets(), dst.octets(), hop)
        .icmpv6_echo_request(0x4242, seq)
        .write(&mut out, b"xrelay dataplane test payload")
        .expect("ipv6");
    out
}

/// Proto-41 frame from the 6to4 site to 192.88.99.1.
pub fn proto41(outer_src: Ipv4Addr, ip6: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(H4, R4)
        .ipv4(outer_src.octets(), [192, 88, 99, 1], 64)
        .write(&mut out, IpNumber::IPV6, ip6)
        .expect("6in4");
    out
}

/// Native frame arriving on the IPv6 side.
pub fn native(ip6: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + ip6.len());
    f.extend_from_slice(&R6);
    f.extend_from_slice(&H6);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(ip6);
    f
}

/// IPv4 UDP to an address that is not the relay's (engine: Pass).
pub fn not_ours() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(H4, R4)
        .ipv4([192, 0, 2, 1], [203, 0, 113, 99], 64)
        .udp(5000, 53)
        .write(&mut out, b"dns?")
        .expect("udp");
    out
}

/// The classes of frames the tests mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 6to4 → native (Tx, leaves by V6).
    Decap,
    /// native → 6to4 (Tx, leaves by V4).
    Encap,
    /// native → trusted Teredo peer (Tx, V4, +28 bytes).
    Teredo,
    /// spoofed 6to4 source (Drop s4_05).
    Spoofed,
    /// not relay traffic (Pass).
    NotOurs,
    /// hop limit 1 (Slow: ICMPv6 Time Exceeded).
    HopLimit,
}

impl Class {
    pub const ALL: [Class; 6] = [
        Class::Decap,
        Class::Encap,
        Class::Teredo,
        Class::Spoofed,
        Class::NotOurs,
        Class::HopLimit,
    ];

    /// The frame and the side (0: IPv4-facing, 1: IPv6-facing) it arrives on.
    pub fn frame(self, seq: u16) -> (Vec<u8>, Port) {
        let site_v4 = Ipv4Addr::new(192, 0, 2, 1);
        match self {
            Class::Decap => (
                proto41(site_v4, &echo6(v6(SITE), v6(HOST), 64, seq)),
                Port::V4,
            ),
            Class::Encap => (native(&echo6(v6(HOST), v6(SITE), 64, seq)), Port::V6),
            Class::Teredo => (native(&echo6(v6(HOST), teredo_client(), 64, seq)), Port::V6),
            Class::Spoofed => (
                proto41(site_v4, &echo6(v6("2002:c633:6401::1"), v6(HOST), 64, seq)),
                Port::V4,
            ),
            Class::NotOurs => (not_ours(), Port::V4),
            Class::HopLimit => (
                proto41(site_v4, &echo6(v6(SITE), v6(HOST), 1, seq)),
                Port::V4,
            ),
        }
    }
}

/// A worker over in-memory rings, fill rings primed, the Teredo client
/// trusted in its peer table. Side 0 is V4 (or the only side), side 1 V6.
pub struct Rig {
    pub worker: Worker<MemRings>,
    pub slow: SlowLink,
    pub peers: Arc<RwLock<PeerTable>>,
    pub umem: UmemConfig,
}

pub const NOW_NS: u64 = 1_000 * 1_000_000_000;

pub fn rig(cfg: &Config, umem: UmemConfig, ring: usize, batch: usize, slow_queue: usize) -> Rig {
    let mut peers = PeerTable::new(64, 60, 5);
    let now_s = (NOW_NS / 1_000_000_000) as u32;
    let idx = peers
        .insert(&teredo_client(), (CLIENT4, CLIENT_PORT), now_s)
        .expect("peer");
    let p = peers.get(idx).expect("peer");
    p.set_trusted(CLIENT4, CLIENT_PORT);
    p.touch_rx(now_s);
    let peers = Arc::new(RwLock::new(peers));
    let roles: &[Port] = if cfg.interfaces.one_armed {
        &[Port::V4]
    } else {
        &[Port::V4, Port::V6]
    };
    let sides = roles
        .iter()
        .map(|r| {
            Side::new(
                MemRings::new(ring),
                map_umem(&umem).expect("umem"),
                &umem,
                *r,
                batch,
            )
        })
        .collect();
    let (mut links, slow) = slow::channels(1, slow_queue, 64, slow_queue + 64, umem.max_frame());
    let engine = Engine::new(cfg, 0, 1, 11).expect("engine");
    let mut worker = Worker::new(
        sides,
        engine,
        links.remove(0),
        Arc::clone(&peers),
        None,
        batch,
        false,
    );
    worker.prime();
    Rig {
        worker,
        slow,
        peers,
        umem,
    }
}

/// Ones' complement sum (an implementation independent of the engine's).
pub fn csum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for b in p.iter() {
            match odd.take() {
                None => odd = Some(*b),
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, *b])),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
