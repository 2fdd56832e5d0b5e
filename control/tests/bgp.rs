//! Root integration test: health-driven BGP announcement through BIRD 2
//! (issue 6, docs/bgp.md). The two-armed lab (`lab/mod.rs`, tag `b1`):
//! the daemon with the real dataplane and `announce.backend = "kernel"`
//! in the relay namespace, where BIRD 2 learns table 88 and peers over
//! eBGP (IPv4 on the v4 link, IPv6 on the v6 link) with BIRD 2 in the peer
//! namespace, the neighbour router. Asserted, on the neighbour's routing
//! table (`birdc show route`):
//!
//! 1. healthy: 192.88.99.0/24, 2002::/16 and 2001::/32 appear (after the
//!    hold-down);
//! 2. SIGKILL of the dataplane: all three disappear within 2 s (measured
//!    and printed); they return after the restart, not before the
//!    hold-down;
//! 3. `prefix drain 6to4`: 2002::/16 disappears while the others stay, and
//!    6to4 frames are still relayed (`event/sixto4_decap` moves by exactly
//!    the frames sent); `prefix undrain` brings it back;
//! 4. the IPv4 default route removed (no IPv4 next hop): all withdrawn
//!    within 2 s; restored: back after the hold-down.
//!
//! Skips, saying why, without root, the XDP object or BIRD.

#[allow(dead_code, reason = "shared BGP helpers; this test uses a part")]
mod bgp_kit;
#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;
#[allow(
    dead_code,
    reason = "shared path-test helpers; this test uses wait_for, dp_delta"
)]
mod paths_kit;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_kit::{
    default_routes, has_all, has_none, kernel_table, kill_dataplane_withdraws, prerequisites,
    relay_bird_kernel, relay_toml, start_bird, start_neighbour, states, ANYCAST, SIXTO4, TEREDO,
};
use lab::wait_for;
use lab::{Lab, PEER_V4, PEER_V6, RELAY_V4, RELAY_V6};
use paths_kit::dp_delta;

const HOLD_DOWN: u32 = 2;
const TABLE: u32 = 88;

#[test]
fn bird_neighbour_follows_the_relays_health() {
    let Some(bin) = prerequisites(None) else {
        return;
    };
    let mut lab = Lab::new("b1");
    default_routes(&lab);
    let relay_ns = lab.relay_ns.clone();
    start_bird(
        &mut lab,
        "bird-relay",
        &relay_ns,
        &relay_bird_kernel(
            RELAY_V4,
            65001,
            (RELAY_V4, PEER_V4),
            (RELAY_V6, PEER_V6),
            TABLE,
        ),
    );
    let nb = start_neighbour(&mut lab);
    let cfg = relay_toml(&lab.config(), "kernel", HOLD_DOWN);
    let bin_s = bin.display().to_string();
    lab.start_daemon_with(
        &cfg,
        &["--dataplane", &bin_s, "--bind", "copy", "--queues", "1"],
    );

    // 1. Healthy: announced after the hold-down, seen by the neighbour.
    let t = nb.wait("the three prefixes", Duration::from_secs(40), has_all);
    println!(
        "[{:5.1}s] neighbour has {ANYCAST}, {SIXTO4}, {TEREDO} ({} ms after the daemon answered)",
        lab.elapsed(),
        t.as_millis()
    );
    let table = kernel_table(&lab, TABLE);
    for p in [ANYCAST, SIXTO4, TEREDO] {
        assert!(
            table.contains(&format!("blackhole {p}")) && table.contains("proto 88"),
            "{table}"
        );
    }
    assert!(
        states(&lab).iter().all(|(_, s)| s == "announced"),
        "{:?}",
        states(&lab)
    );
    let list = lab.ctl_ok(&["prefix", "list"]);
    assert!(
        list.contains("announced via kernel (table 88, proto 88)") && list.contains("6to4-anycast"),
        "{list}"
    );
    let bgp = nb
        .birdc(&["show", "route", "all", SIXTO4])
        .unwrap_or_default();
    assert!(bgp.contains("AS65001"), "{bgp}");

    // 2. SIGKILL of the dataplane (the daemon's child): withdrawn within 2 s.
    kill_dataplane_withdraws(
        &mut lab,
        &nb,
        HOLD_DOWN,
        "all three prefixes",
        has_none,
        has_all,
    );

    // 3. Drain: withdrawn while forwarding continues.
    let out = lab.ctl_ok(&["prefix", "drain", "6to4"]);
    assert!(out.contains("drained"), "{out}");
    let t = nb.wait("drain of 2002::/16", Duration::from_secs(2), |r| {
        !r.contains(SIXTO4) && r.contains(ANYCAST) && r.contains(TEREDO)
    });
    println!(
        "[{:5.1}s] drain: 2002::/16 gone from the neighbour after {} ms, the others stay",
        lab.elapsed(),
        t.as_millis()
    );
    assert!(states(&lab).contains(&(SIXTO4.to_owned(), "drained".to_owned())));
    const N: u64 = 20;
    let before = lab.counters();
    lab.send(
        &lab.p4.clone(),
        &lab::frames::times(
            lab::frames::proto41(Ipv4Addr::new(192, 88, 99, 1)),
            N as usize,
        ),
    );
    let decaps = || {
        dp_delta(&lab.counters(), &before)
            .get("event/sixto4_decap")
            .copied()
            .unwrap_or(0)
    };
    let moved = wait_for(
        "decapsulations while drained",
        Duration::from_secs(5),
        || Some(decaps()).filter(|d| *d >= N),
    );
    std::thread::sleep(Duration::from_millis(300));
    let moved_final = decaps();
    assert_eq!((moved, moved_final), (N, N), "drained, still relayed");
    println!(
        "[{:5.1}s] drained: {N} 6to4 frames sent, event/sixto4_decap +{moved_final}",
        lab.elapsed()
    );
    lab.ctl_ok(&["prefix", "undrain", "6to4"]);
    nb.wait("undrain", Duration::from_secs(2), has_all);

    // 4. No IPv4 next hop: withdrawn; restored: back after the hold-down.
    lab.ns(&relay_ns, "ip route del default");
    let gone = nb.wait(
        "withdrawal without a v4 default route",
        Duration::from_secs(5),
        has_none,
    );
    println!(
        "[{:5.1}s] IPv4 default route removed: withdrawn at the neighbour after {} ms",
        lab.elapsed(),
        gone.as_millis()
    );
    assert!(gone <= Duration::from_secs(2), "{gone:?}");
    let st = lab.status();
    assert!(
        st.health
            .problems
            .iter()
            .any(|p| p.contains("no IPv4 next hop")),
        "{:?}",
        st.health.problems
    );
    lab.ns(
        &relay_ns,
        &format!("ip route add default via {PEER_V4} dev {}", lab.r4),
    );
    let t1 = Instant::now();
    nb.wait("return with the route", Duration::from_secs(10), has_all);
    let back = t1.elapsed();
    println!(
        "[{:5.1}s] default route restored: back after {} ms",
        lab.elapsed(),
        back.as_millis()
    );
    assert!(
        back >= Duration::from_secs(u64::from(HOLD_DOWN)),
        "{back:?}"
    );
    // The log: one structured line per change.
    let log = bgp_kit::daemon_logs(&lab);
    for ev in ["prefix-announced", "prefix-withdrawn", "prefix-drained"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("event={ev} ")) && l.contains("why=")),
            "{ev} missing:\n{log}"
        );
    }
    for l in log.lines().filter(|l| l.contains("event=prefix-")).take(4) {
        println!("  log: {l}");
    }
}
