//! The worker iteration over in-memory rings (no root): each class of
//! frame ends where it must, with exact counters and exact bytes; encap
//! fits in the minimum UMEM headroom (Teredo + VLAN = 32 bytes); the
//! slow-path thread's output comes back through a worker.

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use xrelay_dataplane::counters::DpCounter;
use xrelay_dataplane::rings::UmemConfig;
use xrelay_dataplane::slow::SlowThread;
use xrelay_dataplane::xsk::MIN_HEADROOM;
use xrelay_engine::slow::SlowPath;
use xrelay_engine::{DropReason, Event, Port};

const BATCH: usize = 16;

fn umem(headroom: u32) -> UmemConfig {
    UmemConfig {
        frame_size: 2048,
        frames: 256,
        headroom,
    }
}

/// Offsets into a frame with an optional 802.1Q tag.
fn l3(frame: &[u8]) -> (usize, u16) {
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    if et == 0x8100 {
        (18, u16::from_be_bytes([frame[16], frame[17]]))
    } else {
        (14, et)
    }
}

/// Checks an encapsulated frame: L2 toward H4 (with `vlan`), IPv4 from
/// 192.88.99.1 (6to4) or 203.0.113.5 (Teredo), valid header checksum (and
/// UDP checksum), inner IPv6 with hop limit `hop`.
fn check_encap(frame: &[u8], vlan: Option<u16>, teredo: bool, hop: u8) {
    assert_eq!(&frame[0..6], &H4, "dst MAC");
    assert_eq!(&frame[6..12], &R4, "src MAC");
    let (off, et) = l3(frame);
    assert_eq!(et, 0x0800);
    match vlan {
        Some(v) => assert_eq!(u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff, v),
        None => assert_eq!(off, 14),
    }
    let ip = &frame[off..];
    assert_eq!(ip[0], 0x45);
    assert_eq!(csum(&[&ip[..20]]), 0, "IPv4 header checksum");
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert_eq!(total, ip.len(), "IPv4 total length = rest of frame");
    let (src, dst) = (
        Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
    );
    let inner = if teredo {
        assert_eq!(ip[9], 17);
        assert_eq!((src, dst), (Ipv4Addr::new(203, 0, 113, 5), CLIENT4));
        let udp = &ip[20..];
        assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 3545);
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), CLIENT_PORT);
        assert_eq!(usize::from(u16::from_be_bytes([udp[4], udp[5]])), udp.len());
        let pseudo = [&ip[12..20], &[0, 17], &(udp.len() as u16).to_be_bytes()[..]].concat();
        assert_eq!(csum(&[&pseudo, udp]), 0, "UDP checksum");
        &udp[8..]
    } else {
        assert_eq!(ip[9], 41);
        assert_eq!(
            (src, dst),
            (Ipv4Addr::new(192, 88, 99, 1), Ipv4Addr::new(192, 0, 2, 1))
        );
        &ip[20..]
    };
    assert_eq!(inner[0] >> 4, 6);
    assert_eq!(inner[7], hop, "inner hop limit");
}

fn wire(r: &Rig, side: usize) -> &[Vec<u8>] {
    &r.worker.sides[side].rings.wire
}

#[test]
fn every_class_ends_in_its_place_two_armed_min_headroom_vlan() {
    let cfg = config(false, Some(100));
    let mut r = rig(&cfg, umem(MIN_HEADROOM as u32), 64, BATCH, 16);
    let free0: Vec<usize> = r
        .worker
        .sides
        .iter()
        .map(|s| s.umem.allocatable())
        .collect();
    let mut sent = [0usize; 2];
    for (i, c) in Class::ALL.iter().enumerate() {
        let (f, port) = c.frame(i as u16);
        let side = if port == Port::V6 { 1 } else { 0 };
        assert!(r.worker.sides[side].rings.deliver(&f));
        sent[side] += 1;
    }
    let act = r.worker.iterate(NOW_NS);
    assert_eq!(act.received, Class::ALL.len());
    // Decap leaves by V6; Encap and Teredo by V4 (all copied across UMEMs).
    assert_eq!(wire(&r, 1).len(), 1);
    assert_eq!(wire(&r, 0).len(), 2);
    let d = &wire(&r, 1)[0];
    assert_eq!(
        (&d[0..6], &d[6..12], &d[12..14]),
        (&H6[..], &R6[..], &[0x86, 0xdd][..])
    );
    assert_eq!(d[14 + 7], 63);
    assert_eq!(&d[14 + 8..14 + 24], &v6(SITE).octets());
    check_encap(&wire(&r, 0)[0], Some(100), false, 63);
    check_encap(&wire(&r, 0)[1], Some(100), true, 63);

    let t = &r.worker.tally;
    assert_eq!(t.get_dp(DpCounter::UmemCopies), 3);
    assert_eq!(t.get_dp(DpCounter::PassAfterSteering), 1);
    assert_eq!(t.get_dp(DpCounter::SlowHandedOff), 1);
    assert_eq!(t.get_dp(DpCounter::TxFrames), 3);
    assert_eq!(t.get_drop(DropReason::S4_05SpoofedSource), 1);
    assert_eq!(t.get_drop(DropReason::S4_09HopLimit), 1);
    assert_eq!(t.get_drop(DropReason::NoHeadroom), 0);
    assert_eq!(t.get_event(Event::SixToFourDecap), 1);
    assert_eq!(t.get_event(Event::SixToFourEncap), 1);
    assert_eq!(t.get_event(Event::TeredoTx), 1);
    assert_eq!(t.get_event(Event::RxFrames), 6);

    // The slow-path job is the untouched frame.
    let job = r.slow.try_job().expect("slow job");
    assert_eq!(job.buf.bytes(), &Class::HopLimit.frame(5).0[..]);
    r.slow.recycle(job.buf);

    // Next iteration reclaims the completions: every frame is back in the
    // free list or the fill ring.
    r.worker.iterate(NOW_NS + 1);
    for (i, s) in r.worker.sides.iter().enumerate() {
        assert_eq!(
            s.rings.fill_len() + s.umem.allocatable(),
            s.frames(),
            "side {i}"
        );
        assert_eq!(
            s.umem.allocatable(),
            free0[i],
            "side {i}: the fill ring is topped up again"
        );
    }
}

#[test]
fn one_armed_transmits_in_place() {
    let cfg = config(true, None);
    let mut r = rig(&cfg, umem(64), 64, BATCH, 16);
    for c in [Class::Decap, Class::Encap, Class::Teredo] {
        assert!(r.worker.sides[0].rings.deliver(&c.frame(1).0));
    }
    r.worker.iterate(NOW_NS);
    assert_eq!(wire(&r, 0).len(), 3);
    assert_eq!(r.worker.tally.get_dp(DpCounter::UmemCopies), 0);
    check_encap(&wire(&r, 0)[1], None, false, 63);
    check_encap(&wire(&r, 0)[2], None, true, 63);
    // Decapsulated on the same (only) side, toward the v6 next hop MAC of
    // the one-armed configuration (= the v4 side's).
    assert_eq!(&wire(&r, 0)[0][0..6], &H4);
}

#[test]
fn slow_path_thread_answers_through_the_worker() {
    let cfg = config(false, None);
    let Rig {
        mut worker,
        slow,
        peers,
        ..
    } = rig(&cfg, umem(64), 64, BATCH, 16);
    let stop = Arc::new(AtomicBool::new(false));
    let st = SlowThread {
        slow: SlowPath::new(&cfg, 3).expect("slow path"),
        link: slow,
        peers,
        block: None,
        workers: 1,
        kernel: None,
    };
    let stop2 = Arc::clone(&stop);
    let h = std::thread::spawn(move || st.run(&stop2));
    assert!(worker.sides[0].rings.deliver(&Class::HopLimit.frame(9).0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while worker.sides[0].rings.wire.is_empty() && Instant::now() < deadline {
        worker.iterate(xrelay_dataplane::xsk::monotonic_ns());
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    h.join().expect("slow thread");
    let out = &worker.sides[0].rings.wire;
    assert_eq!(
        out.len(),
        1,
        "one ICMPv6 Time Exceeded toward the 6to4 site"
    );
    // Originated by the relay: icmp6.hop_limit (64), not decremented.
    check_encap(&out[0], None, false, 64);
    let ip6 = &out[0][14 + 20..];
    assert_eq!(
        &ip6[8..24],
        &v6("2001:db8::ff").octets(),
        "from the relay's native address"
    );
    assert_eq!(&ip6[24..40], &v6(SITE).octets());
    assert_eq!((ip6[6], ip6[40]), (58, 3), "ICMPv6 Time Exceeded");
    assert_eq!(worker.tally.get_dp(DpCounter::SlowTxFrames), 1);
}
