//! The engine's straight-line lanes against its general path: every
//! scenario frame, with single-byte mutations (IPv4 header and UDP
//! checksums refreshed so that the mutation reaches the later checks), at
//! a time the peer is valid and one it is not, must give the same verdict,
//! the same output bytes and bounds, the same port and the same counters.

use xrelay_bench::{engine_and_peers, frame, trusted_peers, Path, Size, NOW};
use xrelay_engine::{Engine, Frame, Now, HEADROOM};
use xrelay_wire::checksum;

fn refresh_checksums(path: Path, f: &mut [u8], keep_ip: bool, keep_udp: bool) {
    if !matches!(path, Path::SixToFourDecap | Path::TeredoRx) || f.len() < 34 {
        return;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    if !keep_ip && ihl >= 20 && f.len() >= 14 + ihl {
        f[24] = 0;
        f[25] = 0;
        let c = !checksum::data(&f[14..14 + ihl]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    }
    if path != Path::TeredoRx || keep_udp || f.len() < 42 {
        return;
    }
    let ulen = usize::from(u16::from_be_bytes([f[38], f[39]]));
    let Some(udp) = f.get(34..34 + ulen).filter(|_| ulen >= 8) else {
        return;
    };
    let mut udp = udp.to_vec();
    udp[6] = 0;
    udp[7] = 0;
    let src = std::net::Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let dst = std::net::Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    let ph = checksum::pseudo_header_v4(&src, &dst, 17, ulen as u32);
    let mut c = !checksum::data_onto(ph, &udp);
    if c == 0 {
        c = 0xffff;
    }
    f[40..42].copy_from_slice(&c.to_be_bytes());
}

/// One engine built once and cloned per run: building one fills a 64 Ki
/// ID table, which dominates a debug-build run of this test.
fn base_engine() -> &'static Engine {
    static BASE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    BASE.get_or_init(|| engine_and_peers(NOW).0)
}

fn run(lanes: bool, path: Path, bytes: &[u8], now: Now) -> String {
    let mut engine = base_engine().clone();
    let peers = trusted_peers(NOW, 16, 60);
    engine.set_lanes(lanes);
    let mut buf = vec![0u8; HEADROOM + bytes.len() + 64];
    buf[HEADROOM..HEADROOM + bytes.len()].copy_from_slice(bytes);
    let mut f = Frame::new(&mut buf, HEADROOM, bytes.len(), path.rx_port());
    let v = engine.process_frame(&mut f, &peers, now);
    format!(
        "{v:?} head={} len={} tx={:?} data={:02x?} counters={:?} peer_rx={:?}",
        f.head(),
        f.len(),
        f.tx_port,
        f.data(),
        engine.counters(),
        peers.get(0).map(|p| (p.last_rx(), p.last_lookup())),
    )
}

#[test]
fn lanes_equal_general_path() {
    let mut accepted = 0;
    let mut compared = 0;
    for path in Path::ALL {
        for size in Size::ALL {
            let pristine = frame(path, size);
            let n = pristine.len().min(14 + 20 + 8 + 48);
            let mut cases = vec![pristine.clone()];
            for i in 0..n {
                for x in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
                    let mut f = pristine.clone();
                    f[i] ^= x;
                    let (keep_ip, keep_udp) = ((24..26).contains(&i), (40..42).contains(&i));
                    refresh_checksums(path, &mut f, keep_ip, keep_udp);
                    cases.push(f);
                }
            }
            // Shorter and longer frames.
            for cut in [1usize, 2, 8, 40] {
                if let Some(f) = pristine.get(..pristine.len().saturating_sub(cut)) {
                    cases.push(f.to_vec());
                }
            }
            let mut long = pristine.clone();
            long.extend_from_slice(&[0; 9]);
            cases.push(long);
            for f in &cases {
                for now in [NOW, Now::from_secs(u64::from(NOW.secs()) + 40)] {
                    let (a, b) = (run(true, path, f, now), run(false, path, f, now));
                    assert_eq!(a, b, "{} {}: {:02x?}", path.name(), size.name(), f);
                    compared += 1;
                    accepted += usize::from(a.starts_with("Tx"));
                }
            }
        }
    }
    // Many mutations must still be forwarded, or the lanes were barely
    // exercised.
    assert!(
        accepted > compared / 10,
        "{accepted} of {compared} forwarded"
    );
    eprintln!("{accepted} of {compared} frames forwarded");
}

/// The prefetch hint (`Engine::peer_key`, `PeerTable::slot_of`,
/// `PeerTable::entry_addr`) names exactly the peer entry the lanes look up:
/// the Teredo client for Teredo frames in either direction, nothing for
/// 6to4 frames.
#[test]
fn prefetch_hint_names_the_looked_up_peer() {
    let (engine, peers) = engine_and_peers(NOW);
    let client = xrelay_bench::CLIENT_V6.to_bits();
    let found = peers.find_bits(client).expect("the trusted client") as *const _ as usize;
    for size in [Size::Min, Size::Max] {
        for (path, want) in [
            (Path::SixToFourDecap, None),
            (Path::SixToFourEncap, None),
            (Path::TeredoRx, Some(client)),
            (Path::TeredoTx, Some(client)),
        ] {
            let f = frame(path, size);
            assert_eq!(engine.peer_key(&f), want, "{path:?} {size:?}");
            if let Some(k) = want {
                let (i, addr) = peers.slot_of(k);
                assert!(addr != 0);
                // One peer in a large table: its first slot is its own.
                assert_eq!(peers.entry_addr(i), Some(found), "{path:?}");
            }
        }
    }
    // A key nobody has: its slot is empty.
    let (i, _) = peers.slot_of(0x2001_0000_dead_beef_0000_0000_0000_0001);
    assert_eq!(peers.entry_addr(i), None);
}
