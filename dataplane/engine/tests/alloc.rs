//! The fast path never allocates (lib.rs contract, SPEC §3.5 design):
//! a counting global allocator observes zero allocator calls across 1000
//! batches of 64 frames on each of the four fast paths, driven through
//! `Engine::process` (the worker's entry point, not the `Pipeline`).
//!
//! This file holds ONE test, so nothing else runs in this binary while it
//! counts; the counter is also armed per thread, so the harness's own
//! threads cannot add to it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use xrelay_engine::{Config, Engine, Frame, Now, PeerTable, Port, Verdict, HEADROOM};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
static CALLS: AtomicU64 = AtomicU64::new(0);

fn note() {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        CALLS.fetch_add(1, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are this allocator's; counting only
// touches an atomic and a const-initialised thread-local `Cell` (neither
// allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const LAB: &str = xrelay_engine::LAB_TOML;

const BATCH: usize = 64;
const BATCHES: usize = 1000;
const SLOT: usize = HEADROOM + 1600;
const NATIVE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const TEREDO_RELAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const NOW: Now = Now::from_secs(5_000);

fn eth(port: Port, ip: &[u8]) -> Vec<u8> {
    let mut f = match port {
        Port::V4 => vec![2, 0, 0, 0, 4, 1, 2, 0, 0, 0, 4, 2],
        Port::V6 => vec![2, 0, 0, 0, 6, 1, 2, 0, 0, 0, 6, 2],
    };
    f.extend_from_slice(if ip[0] >> 4 == 6 {
        &[0x86, 0xdd]
    } else {
        &[0x08, 0x00]
    });
    f.extend_from_slice(ip);
    f
}

fn ipv6(hop: u8, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[17, hop]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

fn ipv4(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = !xrelay_wire::checksum::data(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let ph = xrelay_wire::checksum::pseudo_header_v4(&src, &dst, 17, len as u32);
    let c = !xrelay_wire::checksum::combine(&[ph, xrelay_wire::checksum::data(&u)]);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// A 6to4 site IPv4 address, one per frame index (192.0.2.x, 198.51.100.x).
fn site(i: usize) -> Ipv4Addr {
    let [a, b, c] = if i.is_multiple_of(2) {
        [192, 0, 2]
    } else {
        [198, 51, 100]
    };
    Ipv4Addr::new(a, b, c, 1 + i as u8)
}

fn sixto4_host(v4: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from_bits((0x2002u128 << 112) | (u128::from(v4.to_bits()) << 80) | 1)
}

/// Teredo peer `i`: server 198.51.100.118, client 192.0.2.(i+1):(4000+i),
/// trusted at its address mapping.
fn peer(i: usize) -> (Ipv6Addr, Ipv4Addr, u16) {
    let client = Ipv4Addr::new(192, 0, 2, 1 + i as u8);
    let port = 4000 + i as u16;
    let a = xrelay_wire::teredo::Address {
        server: Ipv4Addr::new(198, 51, 100, 118),
        flags: 0,
        port,
        client,
    };
    (a.encode(), client, port)
}

struct Scenario {
    name: &'static str,
    port: Port,
    frames: Vec<Vec<u8>>,
}

fn scenarios() -> Vec<Scenario> {
    let payload = |i: usize| vec![i as u8; 8 + 17 * i];
    vec![
        Scenario {
            name: "6to4 decap",
            port: Port::V4,
            frames: (0..BATCH)
                .map(|i| {
                    let inner = ipv6(64, sixto4_host(site(i)), NATIVE, &payload(i));
                    eth(
                        Port::V4,
                        &ipv4(41, site(i), Ipv4Addr::new(192, 88, 99, 1), &inner),
                    )
                })
                .collect(),
        },
        Scenario {
            name: "6to4 encap",
            port: Port::V6,
            frames: (0..BATCH)
                .map(|i| {
                    eth(
                        Port::V6,
                        &ipv6(64, NATIVE, sixto4_host(site(i)), &payload(i)),
                    )
                })
                .collect(),
        },
        Scenario {
            name: "Teredo rx",
            port: Port::V4,
            frames: (0..BATCH)
                .map(|i| {
                    let (a, c4, cport) = peer(i % 8);
                    let inner = ipv6(64, a, NATIVE, &payload(i));
                    eth(
                        Port::V4,
                        &ipv4(
                            17,
                            c4,
                            TEREDO_RELAY,
                            &udp(c4, TEREDO_RELAY, cport, 3545, &inner),
                        ),
                    )
                })
                .collect(),
        },
        Scenario {
            name: "Teredo tx",
            port: Port::V6,
            frames: (0..BATCH)
                .map(|i| eth(Port::V6, &ipv6(64, NATIVE, peer(i % 8).0, &payload(i))))
                .collect(),
        },
    ]
}

/// Copies the scenario's frames into `bufs` and runs one batch; returns
/// how many verdicts were `Tx` toward the other side. Allocation-free.
fn batch(
    engine: &mut Engine,
    peers: &PeerTable,
    s: &Scenario,
    bufs: &mut [u8],
    verdicts: &mut [Verdict; BATCH],
) -> usize {
    let out = match s.port {
        Port::V4 => Port::V6,
        Port::V6 => Port::V4,
    };
    for (slot, f) in bufs.chunks_mut(SLOT).zip(&s.frames) {
        slot[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
    }
    let mut it = bufs.chunks_mut(SLOT);
    let mut frames: [Frame<'_>; BATCH] = std::array::from_fn(|i| {
        let len = s.frames[i].len();
        Frame::new(it.next().unwrap_or_default(), HEADROOM, len, s.port)
    });
    engine.process(&mut frames, verdicts, peers, NOW);
    frames
        .iter()
        .zip(verdicts.iter())
        .filter(|(f, v)| **v == Verdict::Tx && f.tx_port == out)
        .count()
}

#[test]
fn fast_paths_do_not_allocate() {
    let cfg = Config::from_toml_str(LAB).expect("lab config");
    for s in scenarios() {
        let mut engine = Engine::new(&cfg, 0, 1, 7).expect("engine");
        let mut peers = PeerTable::new(1024, 60, 9);
        for i in 0..8 {
            let (a, c4, port) = peer(i);
            let idx = peers.insert(&a, (c4, port), NOW.secs()).expect("peer");
            let e = peers.get(idx).expect("live peer");
            e.set_trusted(c4, port);
            e.touch_rx(NOW.secs());
        }
        let mut bufs = vec![0u8; SLOT * BATCH];
        let mut verdicts = [Verdict::Pass; BATCH];
        // Warm-up (first touches, lazily initialised state).
        let warm = batch(&mut engine, &peers, &s, &mut bufs, &mut verdicts);
        assert_eq!(warm, BATCH, "{}: warm-up verdicts {verdicts:?}", s.name);

        CALLS.store(0, Relaxed);
        ARMED.with(|a| a.set(true));
        let mut tx = 0;
        for _ in 0..BATCHES {
            tx += batch(&mut engine, &peers, &s, &mut bufs, &mut verdicts);
        }
        ARMED.with(|a| a.set(false));
        let calls = CALLS.load(Relaxed);

        assert_eq!(
            calls, 0,
            "{}: {calls} allocator calls in {BATCHES} batches",
            s.name
        );
        assert_eq!(tx, BATCH * BATCHES, "{}: every verdict is Tx", s.name);
        // The engine counted every frame as relayed by this path.
        let relayed = engine
            .counters()
            .events_nonzero()
            .map(|(e, n)| (e.name(), n))
            .collect::<Vec<_>>();
        let n = (BATCH * (BATCHES + 1)) as u64;
        let key = match s.name {
            "6to4 decap" => "sixto4_decap",
            "6to4 encap" => "sixto4_encap",
            "Teredo rx" => "teredo_rx",
            _ => "teredo_tx",
        };
        assert!(
            relayed.contains(&(key, n)),
            "{}: counters {relayed:?}",
            s.name
        );
        assert!(
            relayed.contains(&("rx_frames", n)),
            "{}: counters {relayed:?}",
            s.name
        );
    }
}
