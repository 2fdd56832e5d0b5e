//! Shared pieces of xrelay's benchmarks: the scenario frames each path is
//! measured with, so the criterion benchmark and the instruction-count
//! harness measure the same bytes.
//!
//! Four fast-path scenarios, each at two sizes (lengths are whole
//! Ethernet frames as the engine sees them, FCS excluded):
//!
//! ```text
//!  path            in                                        Min   Max
//!  6to4 decap      [Eth][IPv4 41][IPv6][UDP][payload]        82    1514 (IPv4 1500)
//!  6to4 encap      [Eth][IPv6][UDP][payload]                 64    1494 (IPv6 1480 = tunnel MTU)
//!  Teredo rx       [Eth][IPv4][UDP 3545][IPv6][UDP][payload] 90    1322 (IPv6 1280 = Teredo MTU)
//!  Teredo tx       [Eth][IPv6][UDP][payload]                 64    1294 (IPv6 1280 = Teredo MTU)
//! ```
//!
//! Every inner packet carries a UDP datagram with valid checksums. `Min` is
//! 64 bytes where the headers leave room for padding payload; otherwise the
//! datagram is empty (decap: 14 + 20 + 40 + 8 = 82; Teredo rx: 14 + 20 + 8 +
//! 40 + 8 = 90; an IPv6 packet with no payload at all would be a Teredo
//! bubble, which belongs to the slow path). `Max` is a 1514-byte frame or,
//! where the relay refuses that, the largest packet it forwards on the fast
//! path: the 6to4 tunnel MTU (1480, the default) for encapsulation, the
//! Teredo MTU (1280 IPv6 bytes, RFC 4380 §5.1.2) for both Teredo paths.
//!
//! A [`Batch`] holds [`BATCH`] copies of one scenario frame in slots with
//! [`HEADROOM`] in front, the way a UMEM does; [`Batch::restore`] undoes the
//! engine's in-place rewrite between runs by copying back only the bytes it
//! can touch ([`RESTORE_LEN`] from the frame start).

pub mod compare;

use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_engine::{Config, Engine, Event, Frame, Now, PeerTable, Port, Verdict, HEADROOM};
use xrelay_wire::checksum;

/// Frames per batch, as in the dataplane and the offline pipeline.
pub const BATCH: usize = 64;
/// Bytes per UMEM-like slot: headroom, a 1514-byte frame, slack.
pub const SLOT: usize = 2048;
/// Bytes from the frame start the engine may rewrite on these paths: the
/// outer headers (at most Ethernet + IPv4 + UDP = 42) and the inner IPv6
/// header (its hop limit and traffic class); everything the engine writes
/// in front of the frame lies in the headroom and is rewritten each time.
pub const RESTORE_LEN: usize = 14 + 20 + 8 + 40;

/// The relay of SPEC §5 (the engine tests' lab): 6to4 anycast 192.88.99.1
/// (unicast 203.0.113.4), Teredo 203.0.113.5:3545, native 2001:db8::ff.
pub const LAB: &str = xrelay_engine::LAB_TOML;

/// The batch time every scenario runs at.
pub const NOW: Now = Now::from_secs(100);

/// Our MAC and the peer's on each side (as in the engine tests).
pub const V4_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
pub const V4_PEER: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];
pub const V6_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x01];
pub const V6_PEER: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x02];

/// The 6to4 site 192.0.2.1 and its host.
pub const SITE_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const SITE_V6: Ipv6Addr = Ipv6Addr::new(0x2002, 0xc000, 0x0201, 0, 0, 0, 0, 1);
/// The native host.
pub const NATIVE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// The Teredo client of SPEC §5.7: server 198.51.100.118, mapped
/// 192.0.2.10:8192 (obfuscated in the last 48 bits).
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xc633, 0x6476, 0, 0xdfff, 0x3fff, 0xfdf5);
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const CLIENT_PORT: u16 = 8192;
/// The relay's addresses in [`LAB`].
pub const ANYCAST_V4: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);
pub const TEREDO_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub const TEREDO_PORT: u16 = 3545;
/// Largest IPv6 packets the fast path forwards (defaults of [`LAB`]).
pub const TUNNEL_MTU: usize = 1480;
pub const TEREDO_MTU: usize = 1280;

/// A fast-path scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// IPv4 protocol 41 in, native IPv6 out.
    SixToFourDecap,
    /// Native IPv6 in, protocol 41 out.
    SixToFourEncap,
    /// Teredo UDP from a trusted peer in, native IPv6 out.
    TeredoRx,
    /// Native IPv6 in, Teredo UDP to a trusted peer out.
    TeredoTx,
}

impl Path {
    pub const ALL: [Path; 4] = [
        Path::SixToFourDecap,
        Path::SixToFourEncap,
        Path::TeredoRx,
        Path::TeredoTx,
    ];

    /// Stable name (command-line argument, benchmark id).
    pub fn name(self) -> &'static str {
        match self {
            Path::SixToFourDecap => "6to4-decap",
            Path::SixToFourEncap => "6to4-encap",
            Path::TeredoRx => "teredo-rx",
            Path::TeredoTx => "teredo-tx",
        }
    }

    pub fn parse(s: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Side the scenario frame arrives on.
    pub fn rx_port(self) -> Port {
        match self {
            Path::SixToFourDecap | Path::TeredoRx => Port::V4,
            Path::SixToFourEncap | Path::TeredoTx => Port::V6,
        }
    }

    /// The event counter one forwarded frame of this path moves.
    pub fn event(self) -> Event {
        match self {
            Path::SixToFourDecap => Event::SixToFourDecap,
            Path::SixToFourEncap => Event::SixToFourEncap,
            Path::TeredoRx => Event::TeredoRx,
            Path::TeredoTx => Event::TeredoTx,
        }
    }
}

/// Frame size class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 64 bytes, or the path's smallest data frame (see the module docs).
    Min,
    /// 1514 bytes, or the path's largest fast-path frame.
    Max,
}

impl Size {
    pub const ALL: [Size; 2] = [Size::Min, Size::Max];

    pub fn name(self) -> &'static str {
        match self {
            Size::Min => "64",
            Size::Max => "1500",
        }
    }

    pub fn parse(s: &str) -> Option<Size> {
        match s {
            "64" | "min" => Some(Size::Min),
            "1500" | "1514" | "max" => Some(Size::Max),
            _ => None,
        }
    }
}

/// The scenario frame of `path` at `size`.
pub fn frame(path: Path, size: Size) -> Vec<u8> {
    match path {
        Path::SixToFourDecap => sixtofour_decap_frame(size),
        Path::SixToFourEncap => sixtofour_encap_frame(size),
        Path::TeredoRx => teredo_rx_frame(size),
        Path::TeredoTx => teredo_tx_frame(size),
    }
}

/// 6to4 decapsulation: protocol 41 from 192.0.2.1 to 192.88.99.1 carrying
/// 2002:c000:201::1 → 2001:db8::1.
pub fn sixtofour_decap_frame(size: Size) -> Vec<u8> {
    // Max: IPv4 total length 1500.
    let udp_payload = match size {
        Size::Min => 0,
        Size::Max => 1500 - 20 - 40 - 8,
    };
    let v6 = ipv6_udp(SITE_V6, NATIVE_V6, udp_payload);
    let v4 = ipv4(SITE_V4, ANYCAST_V4, 41, &v6);
    ethernet(V4_MAC, V4_PEER, 0x0800, &v4)
}

/// 6to4 encapsulation: native 2001:db8::1 → 2002:c000:201::1.
pub fn sixtofour_encap_frame(size: Size) -> Vec<u8> {
    let udp_payload = match size {
        Size::Min => 64 - 14 - 40 - 8,
        Size::Max => TUNNEL_MTU - 40 - 8,
    };
    ethernet(
        V6_MAC,
        V6_PEER,
        0x86dd,
        &ipv6_udp(NATIVE_V6, SITE_V6, udp_payload),
    )
}

/// Teredo receive: UDP 192.0.2.10:8192 → 203.0.113.5:3545 carrying
/// 2001:0:c633:6476:0:dfff:3fff:fdf5 → 2001:db8::1, the outer UDP
/// checksum filled (as Teredo clients send it).
pub fn teredo_rx_frame(size: Size) -> Vec<u8> {
    let udp_payload = match size {
        Size::Min => 0,
        Size::Max => TEREDO_MTU - 40 - 8,
    };
    let v6 = ipv6_udp(CLIENT_V6, NATIVE_V6, udp_payload);
    let udp = udp_v4(CLIENT_V4, TEREDO_V4, CLIENT_PORT, TEREDO_PORT, &v6);
    let v4 = ipv4(CLIENT_V4, TEREDO_V4, 17, &udp);
    ethernet(V4_MAC, V4_PEER, 0x0800, &v4)
}

/// Teredo transmit: native 2001:db8::1 → the Teredo client.
pub fn teredo_tx_frame(size: Size) -> Vec<u8> {
    let udp_payload = match size {
        Size::Min => 64 - 14 - 40 - 8,
        Size::Max => TEREDO_MTU - 40 - 8,
    };
    ethernet(
        V6_MAC,
        V6_PEER,
        0x86dd,
        &ipv6_udp(NATIVE_V6, CLIENT_V6, udp_payload),
    )
}

/// The lab configuration.
pub fn lab() -> Config {
    match Config::from_toml_str(LAB) {
        Ok(c) => c,
        Err(e) => panic!("LAB config: {e}"),
    }
}

/// A worker engine for [`LAB`] and a peer table in which the Teredo client
/// is trusted with its mapping 192.0.2.10:8192 and received from at `now`.
pub fn engine_and_peers(now: Now) -> (Engine, PeerTable) {
    let cfg = lab();
    let engine = match Engine::new(&cfg, 0, 1, 42) {
        Ok(e) => e,
        Err(e) => panic!("engine: {e}"),
    };
    let peers = trusted_peers(
        now,
        cfg.teredo.peer_capacity as usize,
        cfg.teredo.peer_idle_evict,
    );
    (engine, peers)
}

/// A peer table of `capacity` entries holding the scenario's Teredo client,
/// trusted and valid at `now`.
pub fn trusted_peers(now: Now, capacity: usize, idle_evict: u32) -> PeerTable {
    let mut peers = PeerTable::new(capacity, idle_evict, 7);
    let Ok(idx) = peers.insert(&CLIENT_V6, (CLIENT_V4, CLIENT_PORT), now.secs()) else {
        panic!("peer table full");
    };
    let Some(p) = peers.get(idx) else {
        panic!("peer {idx} missing");
    };
    p.set_trusted(CLIENT_V4, CLIENT_PORT);
    p.touch_rx(now.secs());
    peers
}

/// [`BATCH`] copies of one scenario frame in UMEM-like slots.
#[derive(Debug)]
pub struct Batch {
    pub path: Path,
    pub size: Size,
    pristine: Vec<u8>,
    slots: Vec<u8>,
    /// Destination of the memcpy baseline.
    copies: Vec<u8>,
    verdicts: [Verdict; BATCH],
}

impl Batch {
    pub fn new(path: Path, size: Size) -> Batch {
        let pristine = frame(path, size);
        assert!(
            HEADROOM + pristine.len() <= SLOT,
            "frame does not fit a slot"
        );
        let mut b = Batch {
            path,
            size,
            pristine,
            slots: vec![0; SLOT * BATCH],
            copies: vec![0; SLOT * BATCH],
            verdicts: [Verdict::Pass; BATCH],
        };
        for s in b.slots.chunks_exact_mut(SLOT) {
            s[HEADROOM..HEADROOM + b.pristine.len()].copy_from_slice(&b.pristine);
        }
        b
    }

    /// Length of the scenario frame.
    pub fn frame_len(&self) -> usize {
        self.pristine.len()
    }

    /// Undoes the engine's rewrite: the first [`RESTORE_LEN`] bytes of each
    /// frame (the bytes beyond are never written; [`Batch::check`] proves it).
    #[inline(never)]
    pub fn restore(&mut self) {
        let n = RESTORE_LEN.min(self.pristine.len());
        for s in self.slots.chunks_exact_mut(SLOT) {
            s[HEADROOM..HEADROOM + n].copy_from_slice(&self.pristine[..n]);
        }
    }

    /// The measured unit: builds the batch's frames over the slots (head
    /// and length back to the received frame) and runs them through the
    /// engine.
    #[inline(never)]
    pub fn process_batch(&mut self, engine: &mut Engine, peers: &PeerTable, now: Now) {
        let (len, port) = (self.pristine.len(), self.path.rx_port());
        let mut it = self.slots.chunks_exact_mut(SLOT);
        let mut frames: [Frame<'_>; BATCH] = std::array::from_fn(|_| {
            let s = match it.next() {
                Some(s) => s,
                None => &mut [],
            };
            Frame::new(s, HEADROOM, len, port)
        });
        engine.process(&mut frames, &mut self.verdicts, peers, now);
    }

    /// The harness alone: builds the batch's frames over the slots exactly
    /// as [`Batch::process_batch`] does and hands them to an opaque use
    /// instead of the engine. `instr.sh` subtracts its count from the
    /// engine run's to report the engine's own cost.
    #[inline(never)]
    pub fn harness_batch(&mut self) {
        let (len, port) = (self.pristine.len(), self.path.rx_port());
        let mut it = self.slots.chunks_exact_mut(SLOT);
        let mut frames: [Frame<'_>; BATCH] = std::array::from_fn(|_| {
            let s = match it.next() {
                Some(s) => s,
                None => &mut [],
            };
            Frame::new(s, HEADROOM, len, port)
        });
        std::hint::black_box(&mut frames);
        std::hint::black_box(&mut self.verdicts);
    }

    /// The baseline: one memcpy of each received frame into another buffer.
    #[inline(never)]
    pub fn copy_batch(&mut self) {
        let len = self.pristine.len();
        let src = self.slots.chunks_exact(SLOT);
        for (s, d) in src.zip(self.copies.chunks_exact_mut(SLOT)) {
            d[HEADROOM..HEADROOM + len].copy_from_slice(&s[HEADROOM..HEADROOM + len]);
        }
        std::hint::black_box(&mut self.copies);
    }

    /// The UDP checksum share of a Teredo path: the same one's complement
    /// sum the engine takes (verify on receive, fill on transmit) over as
    /// many bytes, once per frame; `None` for the 6to4 paths, which have
    /// no checksum over the payload.
    #[inline(never)]
    pub fn checksum_batch(&mut self) -> Option<u16> {
        let (at, n) = udp_checksum_span(self.path, self.pristine.len())?;
        let mut x = 0;
        for s in self.slots.chunks_exact(SLOT) {
            let seg = s.get(HEADROOM + at..HEADROOM + at + n).unwrap_or(&[]);
            x ^= checksum::data_onto(std::hint::black_box(0x1234), seg);
        }
        Some(std::hint::black_box(x))
    }

    /// Verdicts of the last [`Batch::process_batch`].
    pub fn verdicts(&self) -> &[Verdict; BATCH] {
        &self.verdicts
    }

    /// Runs the batch once through `engine` and panics unless every frame
    /// was forwarded on this path (`Tx`, the path's event counter, no drop)
    /// and [`Batch::restore`] brings every slot back to the received frame.
    pub fn check(&mut self, engine: &mut Engine, peers: &PeerTable, now: Now) {
        let before = engine.counters().get_event(self.path.event());
        let drops = engine.counters().total_drops();
        self.process_batch(engine, peers, now);
        let (p, s) = (self.path.name(), self.size.name());
        assert!(
            self.verdicts.iter().all(|v| *v == Verdict::Tx),
            "{p}/{s}: verdicts {:?}",
            self.verdicts[0]
        );
        assert_eq!(
            engine.counters().get_event(self.path.event()) - before,
            BATCH as u64,
            "{p}/{s}: event counter"
        );
        assert_eq!(engine.counters().total_drops(), drops, "{p}/{s}: drops");
        self.restore();
        let len = self.pristine.len();
        for slot in self.slots.chunks_exact(SLOT) {
            assert!(
                slot[HEADROOM..HEADROOM + len] == self.pristine[..],
                "{p}/{s}: restore incomplete"
            );
        }
    }
}

/// Where the bytes the engine's UDP checksum covers lie in the received
/// frame of `path` (`frame_len` bytes), as (offset, length): on receive the
/// UDP datagram; on transmit the 8-byte UDP header the engine writes in
/// front of the IPv6 packet plus that packet (the 8 bytes before the IPv6
/// header stand in for the header here).
pub fn udp_checksum_span(path: Path, frame_len: usize) -> Option<(usize, usize)> {
    match path {
        Path::TeredoRx => Some((14 + 20, frame_len - 14 - 20)),
        Path::TeredoTx => Some((14 - 8, frame_len - 14 + 8)),
        Path::SixToFourDecap | Path::SixToFourEncap => None,
    }
}

/// `[dst][src][ethertype][payload]`.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A 20-byte IPv4 header (TTL 64, DF clear, ID 0x1234) with its checksum,
/// followed by `payload`.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap_or(u16::MAX);
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = !checksum::data(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    let mut p = h.to_vec();
    p.extend_from_slice(payload);
    p
}

/// A UDP datagram over IPv4 with the checksum filled.
pub fn udp_v4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let ulen = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let mut u = Vec::with_capacity(usize::from(ulen));
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&ulen.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let ph = checksum::pseudo_header_v4(&src, &dst, 17, u32::from(ulen));
    let c = match !checksum::combine(&[ph, checksum::data(&u)]) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// An IPv6 packet (hop limit 64) carrying a UDP datagram 40000 → 5001 with
/// `payload_len` bytes of payload and a valid checksum.
pub fn ipv6_udp(src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize) -> Vec<u8> {
    let ulen = u16::try_from(8 + payload_len).unwrap_or(u16::MAX);
    let mut u = Vec::with_capacity(usize::from(ulen));
    u.extend_from_slice(&40000u16.to_be_bytes());
    u.extend_from_slice(&5001u16.to_be_bytes());
    u.extend_from_slice(&ulen.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend((0..payload_len).map(|i| i as u8));
    let ph = checksum::pseudo_header_v6(&src, &dst, 17, u32::from(ulen));
    let c = match !checksum::combine(&[ph, checksum::data(&u)]) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let mut p = Vec::with_capacity(40 + u.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&ulen.to_be_bytes());
    p.push(17);
    p.push(64);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&u);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_lengths() {
        let want = [
            (Path::SixToFourDecap, 82, 1514),
            (Path::SixToFourEncap, 64, 1494),
            (Path::TeredoRx, 90, 1322),
            (Path::TeredoTx, 64, 1294),
        ];
        for (p, min, max) in want {
            assert_eq!(frame(p, Size::Min).len(), min, "{}", p.name());
            assert_eq!(frame(p, Size::Max).len(), max, "{}", p.name());
        }
    }

    #[test]
    fn every_scenario_is_forwarded_and_restorable() {
        let (mut engine, peers) = engine_and_peers(NOW);
        for p in Path::ALL {
            for s in Size::ALL {
                let mut b = Batch::new(p, s);
                for _ in 0..3 {
                    b.check(&mut engine, &peers, NOW);
                }
            }
        }
    }
}
