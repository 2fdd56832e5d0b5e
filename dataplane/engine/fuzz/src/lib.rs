//! The engine fuzz harness, shared by the `engine` fuzz target and the
//! engine's property tests (`tests/properties.rs` includes this file), so the
//! committed seed corpus also runs under plain `cargo test`.
//!
//! Input format (every byte string is a valid input; a cut-off record ends
//! the input):
//!
//! ```text
//!  byte 0         bits 0-2: configuration (CONFIGS[n])
//!                 bit 3 BATCHED: frames go through Pipeline::process in
//!                       batches (cut at records with the tick bit) instead
//!                       of one call per frame
//!                 bit 4 PEERS: start with trusted Teredo peers (see add_peers)
//!                 bit 5 TIGHT: 8 bytes of headroom instead of HEADROOM
//!                 bit 6 EPOCH0: the clock starts at 0 instead of 10^6 s
//!  then records   [ctl][len: u16 BE][len bytes: an Ethernet frame]
//!  ctl            bit 0: received on V6 (else V4)
//!                 bit 1: run Pipeline::tick before this frame
//!                 bits 2-7: s, the clock advances by s*s*100 ms first
//! ```
//!
//! Oracle (a panic is a finding): no engine panic; every frame that goes in
//! alone leaves at least one report (transmitted, dropped, passed or
//! consumed); the fast path counts exactly one `rx_frames` per input frame;
//! every transmitted frame carries the L2 header of its port and headers
//! the relay wrote correctly (IPv4 header checksum, lengths, UDP checksum of
//! Teredo, IPv6 payload length).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use xrelay_engine::{Config, DropReason, Frame, Now, Output, Pipeline, Port, HEADROOM};
use xrelay_wire::checksum;

/// Number of configurations the first input byte selects from.
pub const CONFIG_COUNT: usize = 8;

/// Flags of input byte 0.
pub const BATCHED: u8 = 0x08;
pub const PEERS: u8 = 0x10;
pub const TIGHT: u8 = 0x20;
pub const EPOCH0: u8 = 0x40;

/// The relay of SPEC §5 (the engine's `LAB_TOML`).
pub const LAB: &str = xrelay_engine::LAB_TOML;

/// LAB as a 6rd border relay: 2001:db8:f00::/40, IPv4MaskLen 12, BR 100.64.0.1.
pub const SIXRD: &str = r#"
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24"]

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"
mode = "6rd"

[sixto4.sixrd]
prefix = "2001:db8:f00::/40"
ipv4_mask_len = 12
br_addr = "100.64.0.1"

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
"#;

/// LAB with every optional Teredo behaviour on and small bounded structures.
pub const TEREDO_OPEN: &str = r#"
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24"]

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
accept_unknown_peers = true
symmetric_nat_bubbles = true
direct_bubbles = true
honour_cone_bit = true
bubble_source = "native"
peer_capacity = 8
peer_idle_evict = 5
queue_pkts = 2
queue_total_bytes = 4096
new_peer_rate = 1
new_peer_burst = 4

[icmp4]
untrust_teredo_peer = true

[engine]
slow_queue = 8
"#;

/// LAB one-armed, frames sent with VLAN 100.
pub const ONE_ARMED_VLAN: &str = r#"
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24"]

[interfaces]
one_armed = true
[interfaces.v4]
name = "eth0"
mac = "02:00:00:00:04:01"
next_hop_mac = "02:00:00:00:04:02"
vlan = 100

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
"#;

/// Every 6to4 restriction and non-default knob at once.
pub const STRICT: &str = r#"
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24"]
managed_prefixes = ["2001:db8:ffff::/48"]

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"
tunnel_mtu = 1280
df = "set"
ttl = 32
tos = "compat"
echo_reply_source = "anycast-unicast"
accept_only_anycast_dst = true
client_allow = ["192.0.2.0/24"]
native_source_allow = ["2001:db8::/32"]
misrouted = "pass"

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
served_exclude = ["2001:db8:dead::/48"]
peer_capacity = 16

[icmp6]
send_unreachable = false
err_rate = 1
err_burst = 1
echo_rate = 1
echo_burst = 1

[icmp4]
translate_errors = false

[ipv4]
reassembly_max = 1500
reassembly_entries = 2
reassembly_per_source = 1
reassembly_timeout = 1

[engine]
slow_queue = 2
"#;

/// Teredo only, with list C bogons.
pub const TEREDO_ONLY: &str = r#"
[relay]
native_addr = "2001:db8::ff"
managed_prefixes = ["2001:db8:ffff::/48"]

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
peer_capacity = 64

[bogons]
extended = true
"#;

/// 6to4 only, unicast (no anycast), tunnel MTU 1280.
pub const SIXTOFOUR_UNICAST: &str = r#"
[relay]
native_addr = "2001:db8::ff"

[sixto4]
enabled = true
unicast_addr = "203.0.113.4"
extra_addrs = ["198.51.100.1"]
tunnel_mtu = 1280
tos = 0
"#;

/// 6to4 written as the 6rd domain 2002::/16, IPv4MaskLen 0 (RFC 5969 §1).
pub const SIXTOFOUR_AS_6RD: &str = r#"
[relay]
native_addr = "2001:db8::ff"

[sixto4]
enabled = true
unicast_addr = "203.0.113.4"
mode = "6rd"

[sixto4.sixrd]
prefix = "2002::/16"
ipv4_mask_len = 0
br_addr = "203.0.113.4"
"#;

pub const CONFIGS: [&str; CONFIG_COUNT] = [
    LAB,
    SIXRD,
    TEREDO_OPEN,
    ONE_ARMED_VLAN,
    STRICT,
    TEREDO_ONLY,
    SIXTOFOUR_UNICAST,
    SIXTOFOUR_AS_6RD,
];

/// Peer-table capacity cap: every input gets a fresh pipeline, and a 1 Mi
/// table (8 MiB of index) would dominate the cost of an execution.
pub const MAX_PEERS: u32 = 1024;

/// Configuration `i` (parsed once), `teredo.peer_capacity` capped at
/// [`MAX_PEERS`].
pub fn config(i: usize) -> &'static Config {
    static PARSED: OnceLock<Vec<Config>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        CONFIGS
            .iter()
            .map(|t| {
                let mut c =
                    Config::from_toml_str(t).unwrap_or_else(|e| panic!("harness config: {e}"));
                c.teredo.peer_capacity = c.teredo.peer_capacity.min(MAX_PEERS);
                c
            })
            .collect()
    });
    &all[i % CONFIG_COUNT]
}

/// One decoded record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub port: Port,
    pub tick: bool,
    pub advance_ms: u64,
    pub frame: &'a [u8],
}

/// Splits an input into its head byte and records.
pub fn decode(data: &[u8]) -> Option<(u8, Vec<Record<'_>>)> {
    let (&head, mut rest) = data.split_first()?;
    let mut recs = Vec::new();
    while let [ctl, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (frame, next) = tail.split_at(len);
        let s = u64::from(ctl >> 2);
        recs.push(Record {
            port: if ctl & 1 != 0 { Port::V6 } else { Port::V4 },
            tick: ctl & 2 != 0,
            advance_ms: s * s * 100,
            frame,
        });
        rest = next;
    }
    Some((head, recs))
}

/// One record to encode: port, tick, clock step `s` (0..=63), frame.
#[derive(Debug, Clone)]
pub struct Rec {
    pub port: Port,
    pub tick: bool,
    pub step: u8,
    pub frame: Vec<u8>,
}

impl Rec {
    pub fn v4(frame: Vec<u8>) -> Rec {
        Rec {
            port: Port::V4,
            tick: false,
            step: 0,
            frame,
        }
    }
    pub fn v6(frame: Vec<u8>) -> Rec {
        Rec {
            port: Port::V6,
            tick: false,
            step: 0,
            frame,
        }
    }
    /// Ticks after advancing the clock by `step * step * 100` ms.
    pub fn after(mut self, step: u8) -> Rec {
        self.tick = true;
        self.step = step.min(63);
        self
    }
}

/// The input bytes for `head` and `recs` (inverse of [`decode`]).
pub fn encode(head: u8, recs: &[Rec]) -> Vec<u8> {
    let mut v = vec![head];
    for r in recs {
        let len = r.frame.len().min(usize::from(u16::MAX));
        v.push(u8::from(r.port == Port::V6) | (u8::from(r.tick) << 1) | (r.step << 2));
        v.extend_from_slice(&(len as u16).to_be_bytes());
        v.extend_from_slice(&r.frame[..len]);
    }
    v
}

/// What a run reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames: u64,
    pub tx: u64,
    pub dropped: u64,
    pub passed: u64,
    pub consumed: u64,
}

impl Summary {
    pub fn reports(&self) -> u64 {
        self.tx + self.dropped + self.passed + self.consumed
    }
}

#[derive(Debug, Clone, Copy)]
struct L2 {
    mac: [u8; 6],
    next_hop: [u8; 6],
    vlan: Option<u16>,
}

/// The `Output` that checks every transmitted frame.
#[derive(Debug)]
struct Oracle {
    v4: L2,
    v6: L2,
    s: Summary,
}

impl Oracle {
    fn new(cfg: &Config) -> Oracle {
        let side = |s: &xrelay_engine::config::Side| L2 {
            mac: s.mac.0,
            next_hop: s.next_hop_mac.0,
            vlan: s.vlan,
        };
        let v4 = side(&cfg.interfaces.v4);
        let v6 = if cfg.interfaces.one_armed {
            v4
        } else {
            side(&cfg.interfaces.v6)
        };
        Oracle {
            v4,
            v6,
            s: Summary::default(),
        }
    }
}

fn be16(d: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([d[off], d[off + 1]])
}

/// Panics unless `frame` is a frame the relay may transmit on `port`.
fn check_tx(l2: &L2, frame: &[u8]) {
    let hl = if l2.vlan.is_some() { 18 } else { 14 };
    assert!(
        frame.len() >= hl + 40,
        "transmitted frame too short: {frame:02x?}"
    );
    assert_eq!(frame[..6], l2.next_hop, "destination MAC");
    assert_eq!(frame[6..12], l2.mac, "source MAC");
    let et = match l2.vlan {
        Some(vid) => {
            assert_eq!(be16(frame, 12), 0x8100, "VLAN tag");
            assert_eq!(be16(frame, 14) & 0x0fff, vid, "VLAN ID");
            be16(frame, 16)
        }
        None => be16(frame, 12),
    };
    let ip = &frame[hl..];
    match et {
        0x0800 => check_ipv4(ip),
        0x86dd => check_ipv6(ip, "native"),
        _ => panic!("transmitted a frame with ethertype {et:#06x}: {frame:02x?}"),
    }
}

fn check_ipv6(p: &[u8], what: &str) {
    assert!(p.len() >= 40, "{what}: IPv6 shorter than its header");
    assert_eq!(p[0] >> 4, 6, "{what}: IPv6 version");
    assert_eq!(
        usize::from(be16(p, 4)) + 40,
        p.len(),
        "{what}: IPv6 payload length = packet"
    );
}

fn check_ipv4(ip: &[u8]) {
    assert_eq!(ip[0], 0x45, "IPv4 version/IHL the relay writes");
    assert_eq!(
        usize::from(be16(ip, 2)),
        ip.len(),
        "IPv4 total length = frame"
    );
    assert_eq!(checksum::data(&ip[..20]), 0xffff, "IPv4 header checksum");
    assert_eq!(be16(ip, 6) & 0x3fff, 0, "the relay never sends fragments");
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let body = &ip[20..];
    match ip[9] {
        41 => check_ipv6(body, "6in4"),
        17 => {
            assert!(body.len() >= 8 + 40, "Teredo datagram too short");
            assert_eq!(usize::from(be16(body, 4)), body.len(), "UDP length");
            assert_ne!(be16(body, 6), 0, "the relay always fills the UDP checksum");
            let ph = checksum::pseudo_header_v4(&src, &dst, 17, body.len() as u32);
            assert_eq!(
                checksum::combine(&[ph, checksum::data(body)]),
                0xffff,
                "UDP checksum"
            );
            check_ipv6(&body[8..], "Teredo");
        }
        p => panic!("transmitted IPv4 protocol {p}"),
    }
}

impl Output for Oracle {
    fn transmit(&mut self, port: Port, frame: &[u8]) {
        let l2 = match port {
            Port::V4 => self.v4,
            Port::V6 => self.v6,
        };
        check_tx(&l2, frame);
        self.s.tx += 1;
    }
    fn dropped(&mut self, _reason: DropReason, _frame: &[u8]) {
        self.s.dropped += 1;
    }
    fn passed(&mut self, _frame: &[u8]) {
        self.s.passed += 1;
    }
    fn consumed(&mut self, _frame: &[u8]) {
        self.s.consumed += 1;
    }
}

/// The §5.7 client, trusted at its address mapping 192.0.2.10:8192.
pub const PEER_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xc633, 0x6476, 0, 0xdfff, 0x3fff, 0xfdf5);
/// RFC 6081 client A (192.0.2.1:4096), trusted at a rebound mapping 198.51.100.20:40000.
pub const PEER_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xcb00, 0x7178, 0, 0xefff, 0x3fff, 0xfdfe);
pub const PEER_B_MAPPING: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 20), 40000);
/// An untrusted peer (198.51.100.20:3544) with one queued packet.
pub const PEER_C: Ipv6Addr =
    Ipv6Addr::new(0x2001, 0, 0xcb00, 0x7101, 0x8000, 0xf227, 0x39cc, 0x9beb);

/// Puts PEER_A, PEER_B (trusted, fresh) and PEER_C (untrusted, queued) in
/// the table.
pub fn add_peers(p: &mut Pipeline, now: Now) {
    let s = now.secs();
    let t = p.peers_mut();
    let trusted = [
        (PEER_A, (Ipv4Addr::new(192, 0, 2, 10), 8192)),
        (PEER_B, PEER_B_MAPPING),
    ];
    for (a, m) in trusted {
        if let Ok(i) = t.insert(&a, xrelay_wire::teredo::mapping(&a), s) {
            if let Some(e) = t.get(i) {
                e.set_trusted(m.0, m.1);
                e.touch_rx(s);
            }
        }
    }
    if let Ok(i) = t.insert(&PEER_C, xrelay_wire::teredo::mapping(&PEER_C), s) {
        let pkt = ipv6(0, 64, 59, NATIVE_HOST, PEER_C, &[]);
        t.enqueue(i, &pkt, 8, 1280, 1 << 20);
    }
}

/// Runs one input; panics on an oracle violation.
pub fn run(data: &[u8]) -> Summary {
    let Some((head, recs)) = decode(data) else {
        return Summary::default();
    };
    let cfg = config(usize::from(head & 7));
    let Ok(mut p) = Pipeline::with_seed(cfg, 0x5eed) else {
        panic!("harness config {} rejected by the pipeline", head & 7);
    };
    let mut now = if head & EPOCH0 != 0 {
        0
    } else {
        1_000_000_000_000_000
    };
    if head & PEERS != 0 {
        add_peers(&mut p, Now(now));
    }
    let headroom = if head & TIGHT != 0 { 8 } else { HEADROOM };
    let mut out = Oracle::new(cfg);
    if head & BATCHED == 0 {
        for (i, r) in recs.iter().enumerate() {
            now += r.advance_ms * 1_000_000;
            if r.tick {
                p.tick(Now(now), &mut out);
            }
            let before = out.s.reports();
            let mut buf = vec![0u8; headroom + r.frame.len() + 64];
            buf[headroom..headroom + r.frame.len()].copy_from_slice(r.frame);
            let mut f = [Frame::new(&mut buf, headroom, r.frame.len(), r.port)];
            p.process(&mut f, Now(now), &mut out);
            assert!(
                out.s.reports() > before,
                "frame {i} (config {}) left no report: {:02x?}",
                head & 7,
                r.frame
            );
        }
    } else {
        let mut start = 0;
        while start < recs.len() {
            // A batch: this record and the following ones up to the next tick.
            let end = recs[start + 1..]
                .iter()
                .position(|r| r.tick)
                .map_or(recs.len(), |k| start + 1 + k);
            let batch = &recs[start..end];
            for r in batch {
                now += r.advance_ms * 1_000_000;
            }
            if batch[0].tick {
                p.tick(Now(now), &mut out);
            }
            let mut bufs: Vec<Vec<u8>> = batch
                .iter()
                .map(|r| {
                    let mut b = vec![0u8; headroom + r.frame.len() + 64];
                    b[headroom..headroom + r.frame.len()].copy_from_slice(r.frame);
                    b
                })
                .collect();
            let mut frames: Vec<Frame<'_>> = bufs
                .iter_mut()
                .zip(batch)
                .map(|(b, r)| Frame::new(b, headroom, r.frame.len(), r.port))
                .collect();
            let before = out.s.reports();
            p.process(&mut frames, Now(now), &mut out);
            assert!(
                out.s.reports() - before >= batch.len() as u64,
                "a batch of {} frames left {} reports",
                batch.len(),
                out.s.reports() - before
            );
            start = end;
        }
    }
    p.tick(Now(now + 400_000_000_000), &mut out);
    assert_eq!(p.rx_frames(), recs.len() as u64, "rx_frames = input frames");
    out.s.frames = recs.len() as u64;
    out.s
}

// ---- packet builders (for the seeds and the property tests) ------------------

pub const V4_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
pub const V4_PEER: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];
pub const V6_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x01];
pub const V6_PEER: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x02];
pub const NATIVE_HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const ANYCAST: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);
pub const TEREDO_RELAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub const SITE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// An Ethernet frame received on `port` (optionally VLAN-tagged); the
/// ethertype follows the IP version.
pub fn eth(port: Port, vlan: Option<u16>, ip: &[u8]) -> Vec<u8> {
    let (dst, src) = match port {
        Port::V4 => (V4_MAC, V4_PEER),
        Port::V6 => (V6_MAC, V6_PEER),
    };
    let et: u16 = if ip.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    };
    let mut f = Vec::with_capacity(18 + ip.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(v) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// An IPv4 header (20 bytes, checksum filled) followed by `payload`;
/// `frag` is the flags/fragment-offset word.
pub fn ipv4(
    tos: u8,
    id: u16,
    frag: u16,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload: &[u8],
) -> Vec<u8> {
    let mut h = vec![0x45, tos];
    h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    fix_ipv4_checksum(&mut h);
    h.extend_from_slice(payload);
    h
}

/// Recomputes the checksum of the 20-byte IPv4 header at the start of `p`.
pub fn fix_ipv4_checksum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let c = !checksum::data(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A UDP datagram (header + payload) with its checksum.
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let ph = checksum::pseudo_header_v4(&src, &dst, 17, len as u32);
    let mut c = !checksum::combine(&[ph, checksum::data(&u)]);
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// A Teredo packet from `src:sport` to the relay: IPv4 + UDP + `payload`.
pub fn teredo_in(src: Ipv4Addr, sport: u16, payload: &[u8]) -> Vec<u8> {
    let u = udp(src, TEREDO_RELAY, sport, 3545, payload);
    ipv4(0, 0, 0, 17, src, TEREDO_RELAY, &u)
}

/// An IPv6 packet: header + `payload` (no checksum work).
pub fn ipv6(tc: u8, hop: u8, nh: u8, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60 | (tc >> 4), tc << 4, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[nh, hop]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// An ICMPv6 Echo Request (128) or Reply (129) with a correct checksum.
pub fn echo6(typ: u8, hop: u8, src: Ipv6Addr, dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend_from_slice(data);
    let ph = checksum::pseudo_header_v6(&src, &dst, 58, m.len() as u32);
    let c = !checksum::combine(&[ph, checksum::data(&m)]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv6(0, hop, 58, src, dst, &m)
}

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    s.chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            d(p[0]) << 4 | d(p.get(1).copied().unwrap_or(b'0'))
        })
        .collect()
}

// SPEC §5.3 and §5.7 packets (IP layer).
const V6_A1_IN: &str = "6000 0000 000c 3a40 2001 0db8 0000 0000 0000 0000 0000 0001 2002 c000 0201 0000 0000 0000 0000 0001 8000 98fe 1234 0001 6162 6364";
const V6_A2_IN: &str = "4500 0048 0000 0000 4029 9532 c000 0201 c058 6301 6000 0000 000c 3a40 2002 c000 0201 0000 0000 0000 0000 0001 2001 0db8 0000 0000 0000 0000 0000 0001 8100 97fe 1234 0001 6162 6364";
const V6_A2_SPOOFED: &str = "4500003c0000000040292d05c6336407c05863016000000000003b402002c00002010000000000000000000120010db8000000000000000000000001";
const V6_A3_PROBE: &str = "450000490000000040299531c0000201c058630160000000000d3a012002c0000201000000000000000000012002c058630100000000000000000000800015800001000170726f6265";
const V6_A4_IN: &str =
    "6b90000000003b4020010db80000000000000000000000012002c000020100000000000000000001";
const S57_STEP1: &str = "6000 0000 0010 3a40 2001 0db8 0000 0000 0000 0000 0000 0001 2001 0000 c633 6476 0000 dfff 3fff fdf5 8100 39b6 4242 0007 7465 7265 646f 2121";
const S57_STEP2: &str = "4500 0044 0000 0000 4011 7c99 c000 020a cb00 7105 2000 0dd9 0030 5183 6000 0000 0000 3b00 2001 0000 c633 6476 0000 dfff 3fff fdf5 fe80 0000 0000 0000 8000 ffff ffff fffe";
const S57_STEP3: &str = "4500 0054 0000 0000 4011 7c89 c000 020a cb00 7105 2000 0dd9 0040 397e 6000 0000 0010 3a40 2001 0000 c633 6476 0000 dfff 3fff fdf5 2001 0db8 0000 0000 0000 0000 0000 0001 8000 3ab5 4242 0008 7465 7265 646f 2121";

/// The IPv6 packet of §5.7 step 3 (client → native host).
fn step3_ipv6() -> Vec<u8> {
    hex(S57_STEP3)[28..].to_vec()
}

/// Splits an IPv4 packet (20-byte header) into fragments whose data parts
/// are `first` bytes and the rest.
fn fragment(p: &[u8], first: usize) -> [Vec<u8>; 2] {
    let (h, body) = p.split_at(20);
    let (a, b) = body.split_at(first);
    let mk = |data: &[u8], frag: u16| {
        let mut f = h.to_vec();
        f[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
        f[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
        f[6..8].copy_from_slice(&frag.to_be_bytes());
        fix_ipv4_checksum(&mut f);
        f.extend_from_slice(data);
        f
    };
    [mk(a, 0x2000), mk(b, (first / 8) as u16)]
}

/// An ICMPv4 error (`typ`/`code`, 4 bytes of `rest`) to `dst` quoting `quoted`.
fn icmp4(typ: u8, code: u8, rest: u32, src: Ipv4Addr, dst: Ipv4Addr, quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(quoted);
    let c = !checksum::data(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(0, 0, 0, 1, src, dst, &m)
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// A 6to4 (proto 41) packet from `src4` to `dst4` carrying `inner`.
pub fn sixin4(tos: u8, src4: Ipv4Addr, dst4: Ipv4Addr, inner: &[u8]) -> Vec<u8> {
    ipv4(tos, 0, 0, 41, src4, dst4, inner)
}

/// The seed corpus: named fuzz inputs built from the SPEC §5 vectors and
/// valid frames of every path, for every configuration.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use Port::{V4, V6};
    let e4 = |ip: &[u8]| eth(V4, None, ip);
    let e6 = |ip: &[u8]| eth(V6, None, ip);
    let a1 = hex(V6_A1_IN);
    let a2 = hex(V6_A2_IN);
    let step1 = hex(S57_STEP1);
    let step3 = hex(S57_STEP3);
    let site_host = v6("2002:c000:201::1");
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut add =
        |name: &'static str, head: u8, recs: Vec<Rec>| out.push((name, encode(head, &recs)));

    // 6to4 (config 0, LAB).
    add("6to4-v6-a1-native-to-6to4", 0, vec![Rec::v6(e6(&a1))]);
    add("6to4-v6-a2-6to4-to-native", 0, vec![Rec::v4(e4(&a2))]);
    add(
        "6to4-v6-a2-spoofed-s4-05",
        0,
        vec![Rec::v4(e4(&hex(V6_A2_SPOOFED)))],
    );
    let mut s407 = a2.clone();
    s407[20 + 24..20 + 40].copy_from_slice(&v6("2002:cb00:71fe::1").octets());
    add("6to4-inner-6to4-dst-s4-07", 0, vec![Rec::v4(e4(&s407))]);
    let mut s406 = a2.clone();
    s406[20 + 8..20 + 24].copy_from_slice(&v6("2001:db8::99").octets());
    add("6to4-native-to-native-s4-06", 0, vec![Rec::v4(e4(&s406))]);
    let mut padded = a2.clone();
    padded.extend_from_slice(&[0; 4]);
    padded[2..4].copy_from_slice(&0x4cu16.to_be_bytes());
    fix_ipv4_checksum(&mut padded);
    add("6to4-padded-s4-03", 0, vec![Rec::v4(e4(&padded))]);
    let mut ce = a2.clone();
    ce[1] = 3;
    fix_ipv4_checksum(&mut ce);
    add("6to4-ecn-ce-not-ect-s4-11", 0, vec![Rec::v4(e4(&ce))]);
    add(
        "6to4-v6-a3-probe-echo",
        0,
        vec![Rec::v4(e4(&hex(V6_A3_PROBE)))],
    );
    let probe_native = sixin4(
        0,
        SITE,
        ANYCAST,
        &echo6(128, 1, site_host, NATIVE_HOST, b"probe"),
    );
    add(
        "6to4-probe-native-time-exceeded",
        0,
        vec![Rec::v4(e4(&probe_native))],
    );
    add(
        "6to4-v6-a4-traffic-class",
        0,
        vec![Rec::v6(e6(&hex(V6_A4_IN)))],
    );
    let big = |len: usize| ipv6(0, 64, 59, NATIVE_HOST, site_host, &vec![0xab; len - 40]);
    add(
        "6to4-v6-a5-mtu-1480-1481",
        0,
        vec![Rec::v6(e6(&big(1480))), Rec::v6(e6(&big(1481)))],
    );
    let [f1, f2] = fragment(
        &sixin4(
            0,
            SITE,
            ANYCAST,
            &echo6(129, 64, site_host, NATIVE_HOST, &[7; 100]),
        ),
        64,
    );
    add(
        "6to4-fragments-reassembled",
        0,
        vec![Rec::v4(e4(&f2)), Rec::v4(e4(&f1))],
    );
    add(
        "6to4-fragment-timeout",
        0,
        vec![Rec::v4(e4(&f1)), Rec::v4(Vec::new()).after(60)],
    );
    add(
        "6to4-tight-headroom",
        TIGHT | PEERS,
        vec![
            Rec::v6(e6(&a1)),
            Rec::v4(e4(&a2)),
            Rec::v4(e4(&step3)),
            Rec::v6(e6(&step1)),
        ],
    );

    // Teredo (config 0).
    let mut step2 = hex(S57_STEP2);
    // The bubble's destination is the relay's keyed-hash address; any
    // bubble from the mapping in the address verifies the peer.
    step2[26..28].copy_from_slice(&[0, 0]);
    add(
        "teredo-s5-7-exchange",
        0,
        vec![
            Rec::v6(e6(&step1)),
            Rec::v4(e4(&step2)).after(5),
            Rec::v4(e4(&step3)),
            Rec::v4(e4(&{
                let mut p = step3_ipv6();
                p.extend_from_slice(&hex("0104deadbeef"));
                teredo_in(CLIENT, 8192, &p)
            })),
        ],
    );
    add(
        "teredo-trusted-fast-path",
        PEERS,
        vec![Rec::v4(e4(&step3)), Rec::v6(e6(&step1))],
    );
    let to_b = ipv6(0, 64, 59, NATIVE_HOST, PEER_B, &[1, 2, 3]);
    let from_b = ipv6(0, 64, 59, PEER_B, NATIVE_HOST, &[1, 2, 3]);
    add(
        "teredo-rebound-peer",
        PEERS,
        vec![
            Rec::v6(e6(&to_b)),
            Rec::v4(e4(&teredo_in(PEER_B_MAPPING.0, PEER_B_MAPPING.1, &from_b))),
            Rec::v4(e4(&teredo_in(SITE, 4096, &from_b))),
        ],
    );
    let to_c = ipv6(0, 64, 59, NATIVE_HOST, PEER_C, &[9; 16]);
    let from_c = ipv6(0, 64, 59, PEER_C, NATIVE_HOST, &[]);
    add(
        "teredo-queued-peer-flush",
        PEERS,
        vec![
            Rec::v6(e6(&to_c)),
            Rec::v4(e4(&teredo_in(
                Ipv4Addr::new(198, 51, 100, 20),
                3544,
                &from_c,
            ))),
        ],
    );
    let mut retries = vec![Rec::v6(e6(&step1))];
    for _ in 0..6 {
        retries.push(Rec::v4(Vec::new()).after(15));
    }
    retries.push(Rec::v6(e6(&step1)));
    add("teredo-bubble-retries-budget", 0, retries);
    let mut auth = hex("0001 0000 0102030405060708 00");
    auth.extend_from_slice(&xrelay_wire::teredo::encode_origin(CLIENT, 8192));
    auth.extend_from_slice(&step3_ipv6());
    auth.extend_from_slice(&hex("0104deadbeef 0304c0000201"));
    add(
        "teredo-auth-origin-trailers",
        PEERS,
        vec![Rec::v4(e4(&teredo_in(CLIENT, 8192, &auth)))],
    );
    let mut neg = Vec::new();
    neg.push(Rec::v4(e4(&teredo_in(CLIENT, 8193, &step3_ipv6()))));
    let mut p = step3_ipv6();
    p[8..24].copy_from_slice(&v6("2001:db8::2").octets());
    neg.push(Rec::v4(e4(&teredo_in(CLIENT, 8192, &p))));
    for dst in ["ff02::1", "fe80::1", "2002:c000:201::1", "::1"] {
        let mut p = step3_ipv6();
        p[24..40].copy_from_slice(&v6(dst).octets());
        neg.push(Rec::v4(e4(&teredo_in(CLIENT, 8192, &p))));
    }
    neg.push(Rec::v4(e4(&teredo_in(
        CLIENT,
        8192,
        &hex("0002 0000 0000 0000"),
    ))));
    let mut hop1 = step3_ipv6();
    hop1[7] = 1;
    neg.push(Rec::v4(e4(&teredo_in(CLIENT, 8192, &hop1))));
    add("teredo-negatives", PEERS, neg);
    add("teredo-unknown-peer-t4-07", 0, vec![Rec::v4(e4(&step3))]);
    let [t1, t2] = fragment(&step3, 48);
    add(
        "teredo-fragments",
        PEERS,
        vec![Rec::v4(e4(&t1)), Rec::v4(e4(&t2))],
    );
    let bad_dsts = [
        "2001:0:c633:6476:0:63bf:f5ff:fffe",
        "2001:0:a00:1:0:63bf:3fff:fdf5",
        "2001::63bf:3fff:fdf5",
        "2001:0:c633:6476:0:63bf:3fa7:9cfe",
    ];
    add(
        "teredo-refused-destinations",
        0,
        bad_dsts
            .iter()
            .map(|d| Rec::v6(e6(&ipv6(0, 64, 59, NATIVE_HOST, v6(d), &[]))))
            .collect(),
    );

    // Cross paths (config 0, trusted peers).
    add(
        "cross-6to4-to-teredo",
        PEERS,
        vec![Rec::v4(e4(&sixin4(
            1,
            SITE,
            ANYCAST,
            &echo6(128, 64, site_host, PEER_A, b"x"),
        )))],
    );
    add(
        "cross-teredo-to-6to4",
        PEERS,
        vec![Rec::v4(e4(&teredo_in(
            CLIENT,
            8192,
            &echo6(128, 64, PEER_A, site_host, b"y"),
        )))],
    );

    // ICMPv4 errors about what the relay sent, and other IPv4 to it.
    let sent6in4 = sixin4(0, ANYCAST, SITE, &a1);
    let sent_teredo = {
        let p = hex(S57_STEP1);
        let u = udp(TEREDO_RELAY, CLIENT, 3545, 8192, &p);
        ipv4(0, 0, 0, 17, TEREDO_RELAY, CLIENT, &u)
    };
    let router = Ipv4Addr::new(198, 51, 100, 254);
    add(
        "icmp4-errors",
        PEERS,
        vec![
            Rec::v4(e4(&icmp4(3, 4, 1400, router, ANYCAST, &sent6in4))),
            Rec::v4(e4(&icmp4(11, 0, 0, router, ANYCAST, &sent6in4))),
            Rec::v4(e4(&icmp4(3, 1, 0, router, ANYCAST, &sent6in4[..68]))),
            Rec::v4(e4(&icmp4(
                3,
                3,
                0,
                router,
                TEREDO_RELAY,
                &sent_teredo[..68],
            ))),
            Rec::v4(e4(&icmp4(8, 0, 0x0001_0001, SITE, ANYCAST, b"ping"))),
        ],
    );

    // Not relay traffic.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&V4_PEER);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let mut mcast = e6(&a1);
    mcast[0] = 0x33;
    add(
        "not-relay-traffic",
        0,
        vec![
            Rec::v4(arp),
            Rec::v6(mcast),
            Rec::v4(vec![0x02, 0, 0, 0, 4, 1, 0x81, 0]),
            Rec::v4(eth(V4, Some(7), &[])),
            Rec::v4(e4(&ipv4(
                0,
                0,
                0,
                6,
                SITE,
                Ipv4Addr::new(198, 51, 100, 1),
                &[0; 20],
            ))),
            Rec::v4(e4(&ipv4(0, 0, 0, 6, SITE, ANYCAST, &[0; 20]))),
            Rec::v6(e6(&ipv6(0, 64, 59, NATIVE_HOST, v6("2001:db8:1::1"), &[]))),
        ],
    );

    // Batches: slow-path congestion (C-16) and new-peer limits (config 2).
    let many: Vec<Rec> = (0..24u16)
        .map(|i| {
            let mut dst = PEER_A.octets();
            dst[10..12].copy_from_slice(&(!(1000 + i)).to_be_bytes());
            Rec::v6(e6(&ipv6(0, 64, 59, NATIVE_HOST, Ipv6Addr::from(dst), &[])))
        })
        .collect();
    add("batched-teredo-open-congestion", 2 | BATCHED, many);
    add(
        "batched-lab-mixed",
        BATCHED | PEERS,
        vec![
            Rec::v6(e6(&a1)),
            Rec::v4(e4(&a2)),
            Rec::v4(e4(&step3)),
            Rec::v6(e6(&step1)),
            Rec::v4(e4(&hex(V6_A3_PROBE))),
            Rec::v6(e6(&big(1481))).after(1),
            Rec::v4(e4(&f1)),
            Rec::v4(e4(&f2)),
        ],
    );

    // 6rd (config 1): CE 100.64.1.2 ↔ BR 100.64.0.1.
    let br = Ipv4Addr::new(100, 64, 0, 1);
    let ce = Ipv4Addr::new(100, 64, 1, 2);
    let ce_host = v6("2001:db8:f00:1020::1");
    let ce2 = Ipv4Addr::new(100, 79, 255, 254);
    let ce2_host = Ipv6Addr::from(
        v6("2001:db8:f00::").to_bits() | (u128::from(ce2.to_bits() & 0xfffff) << 68) | 1,
    );
    add(
        "6rd-encap",
        1,
        vec![Rec::v6(e6(&echo6(128, 64, NATIVE_HOST, ce_host, b"6rd")))],
    );
    add(
        "6rd-decap",
        1,
        vec![Rec::v4(e4(&sixin4(
            2,
            ce,
            br,
            &echo6(129, 64, ce_host, NATIVE_HOST, b"6rd"),
        )))],
    );
    add(
        "6rd-hairpin",
        1,
        vec![Rec::v4(e4(&sixin4(
            0,
            ce,
            br,
            &echo6(128, 64, ce_host, ce2_host, b"hp"),
        )))],
    );
    add(
        "6rd-br-echo",
        1,
        vec![Rec::v4(e4(&sixin4(
            0,
            ce,
            br,
            &echo6(128, 1, ce_host, v6("2001:db8:f00:10::"), b"br"),
        )))],
    );

    // Teredo with every option (config 2).
    add(
        "teredo-open-first-contact",
        2,
        vec![
            Rec::v4(e4(&step3)),
            Rec::v6(e6(&step1)),
            Rec::v4(Vec::new()).after(30),
        ],
    );
    let bubble = ipv6(0, 0, 59, PEER_A, v6("2001:db8::ff"), &[]);
    add(
        "teredo-open-symmetric-bubble",
        2,
        vec![
            Rec::v6(e6(&step1)),
            Rec::v4(e4(&teredo_in(
                Ipv4Addr::new(198, 51, 100, 9),
                9999,
                &bubble,
            ))),
        ],
    );
    let cone = v6("2001:0:cb00:7101:8000:f227:39cc:9beb");
    add(
        "teredo-open-cone",
        2,
        vec![Rec::v6(e6(&ipv6(0, 64, 59, NATIVE_HOST, cone, &[1])))],
    );
    add(
        "teredo-open-icmp4-untrust",
        2 | PEERS,
        vec![Rec::v4(e4(&icmp4(
            3,
            3,
            0,
            Ipv4Addr::new(198, 51, 100, 254),
            TEREDO_RELAY,
            &sent_teredo,
        )))],
    );

    // One-armed with VLAN 100 (config 3): tagged and untagged input.
    add(
        "vlan-one-armed",
        3 | PEERS,
        vec![
            Rec::v4(eth(V4, Some(100), &a1)),
            Rec::v4(eth(V4, Some(100), &a2)),
            Rec::v4(eth(V4, Some(100), &step3)),
            Rec::v4(e4(&step1)),
            Rec::v4(eth(V4, Some(100), &hex(V6_A3_PROBE))),
        ],
    );

    // Strict knobs (config 4), Teredo only (5), 6to4 unicast (6), 6to4 as 6rd (7).
    add(
        "strict-all-6to4",
        4,
        vec![
            Rec::v6(e6(&a1)),
            Rec::v4(e4(&a2)),
            Rec::v4(e4(&hex(V6_A3_PROBE))),
            Rec::v4(e4(&hex(V6_A3_PROBE))),
            Rec::v6(e6(&hex(V6_A4_IN))),
            Rec::v6(e6(&big(1281))),
            Rec::v6(e6(&ipv6(
                0,
                64,
                59,
                NATIVE_HOST,
                v6("2001:db8:ffff::1"),
                &[],
            ))),
            Rec::v4(e4(&f1)),
        ],
    );
    add(
        "teredo-only-misrouted",
        5,
        vec![
            Rec::v6(e6(&a1)),
            Rec::v6(e6(&ipv6(
                0,
                64,
                59,
                NATIVE_HOST,
                v6("2001:db8:ffff::1"),
                &[],
            ))),
            Rec::v6(e6(&step1)),
        ],
    );
    let uni = Ipv4Addr::new(203, 0, 113, 4);
    let a2u = sixin4(0, SITE, uni, &hex(V6_A2_IN)[20..]);
    add(
        "6to4-unicast",
        6,
        vec![Rec::v4(e4(&a2u)), Rec::v6(e6(&a1)), Rec::v4(e4(&a2))],
    );
    add("6to4-as-6rd", 7, vec![Rec::v4(e4(&a2u)), Rec::v6(e6(&a1))]);
    out
}

/// A valid frame for mutation: (config, PEERS flag, port, frame).
pub type ValidFrame = (usize, u8, Port, Vec<u8>);

/// Valid frames of each path (every frame of every seed).
pub fn valid_frames() -> Vec<ValidFrame> {
    let mut v = Vec::new();
    for (_, input) in seeds() {
        let Some((head, recs)) = decode(&input) else {
            continue;
        };
        for r in recs {
            if !r.frame.is_empty() {
                v.push((
                    usize::from(head & 7),
                    head & PEERS,
                    r.port,
                    r.frame.to_vec(),
                ));
            }
        }
    }
    v
}
