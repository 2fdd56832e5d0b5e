//! Root integration test: health-driven BGP announcement through FRR
//! (issue 6, docs/bgp.md "FRR"). The two-armed lab (`lab/mod.rs`, tag
//! `f1`): the daemon with the real dataplane and `announce.backend =
//! "kernel"` in the relay namespace, where FRR (zebra + bgpd, started by
//! hand with their own files, `bgp_kit::start_frr`) runs the example
//! configuration of docs/bgp.md: `ip import-table 88` in zebra,
//! `redistribute table 88` and eBGP in bgpd, peering with the BIRD 2
//! neighbour in the peer namespace (as in bgp.rs). Asserted, on the
//! neighbour's routing table (`birdc show route`):
//!
//! 1. healthy: 192.88.99.0/24 appears (after the hold-down), and with an
//!    FRR that has `ipv6 import-table` also 2002::/16 and 2001::/32 (FRR
//!    8.4, Debian 12, has no IPv6 import of a kernel table: the IPv6
//!    session is still asserted Established, and the test prints that
//!    the IPv6 prefixes are not exported);
//! 2. SIGKILL of the dataplane: the prefixes disappear within 2 s
//!    (measured and printed); they return after the restart, not before
//!    the hold-down.
//!
//! Skips, saying why, without root, the XDP object, BIRD or FRR.

#[allow(dead_code, reason = "shared BGP helpers; this test uses a part")]
mod bgp_kit;
#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use bgp_kit::{
    default_routes, frr_missing, frr_zebra_accepts, kernel_table, kill_dataplane_withdraws,
    prerequisites, relay_toml, start_frr, start_neighbour, ANYCAST, SIXTO4, TEREDO,
};
use lab::{Lab, PEER_V4, PEER_V6, RELAY_V4};

const HOLD_DOWN: u32 = 2;
const TABLE: u32 = 88;

/// The FRR example of docs/bgp.md (zebra.conf, bgpd.conf), with `timers`
/// lines for a test when `test_timers`; the IPv6 lines when `v6` (an FRR
/// with `ipv6 import-table`).
fn frr_relay_conf(v6: bool, test_timers: bool) -> (String, String) {
    let zebra = if v6 {
        format!("ip import-table {TABLE}\nipv6 import-table {TABLE}\n")
    } else {
        format!("ip import-table {TABLE}\n")
    };
    let (timers, connect4, connect6) = if test_timers {
        (
            " timers bgp 1 3\n".to_owned(),
            format!(" neighbor {PEER_V4} timers connect 1\n"),
            format!(" neighbor {PEER_V6} timers connect 1\n"),
        )
    } else {
        Default::default()
    };
    let redistribute6 = if v6 {
        format!("  redistribute table {TABLE}\n")
    } else {
        String::new()
    };
    let bgpd = format!(
        "router bgp 65001
 bgp router-id {RELAY_V4}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
{timers} neighbor {PEER_V4} remote-as 65000
 neighbor {PEER_V6} remote-as 65000
{connect4}{connect6} !
 address-family ipv4 unicast
  redistribute table {TABLE}
  neighbor {PEER_V4} activate
 exit-address-family
 !
 address-family ipv6 unicast
{redistribute6}  neighbor {PEER_V6} activate
 exit-address-family
"
    );
    (zebra, bgpd)
}

#[test]
fn frr_exports_table_88_and_follows_the_relays_health() {
    let Some(bin) = prerequisites(frr_missing()) else {
        return;
    };
    let mut lab = Lab::new("f1");
    default_routes(&lab);
    let relay_ns = lab.relay_ns.clone();
    let v6 = frr_zebra_accepts(&lab.dir, &format!("ipv6 import-table {TABLE}"));
    let version = Command::new(format!("{}/zebra", bgp_kit::FRR_DIR))
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    println!(
        "{version}: ipv6 import-table {}",
        if v6 {
            "supported"
        } else {
            "not supported (IPv6 prefixes not exported by FRR)"
        }
    );
    let expected: Vec<&str> = if v6 {
        vec![ANYCAST, SIXTO4, TEREDO]
    } else {
        vec![ANYCAST]
    };
    let all = |r: &BTreeSet<String>| expected.iter().all(|p| r.contains(*p));
    let none = |r: &BTreeSet<String>| expected.iter().all(|p| !r.contains(*p));

    let (zebra_conf, bgpd_conf) = frr_relay_conf(v6, true);
    let frr = start_frr(&mut lab, &relay_ns, &zebra_conf, &bgpd_conf);
    for d in ["zebra", "bgpd"] {
        let log = frr.log(d);
        assert!(
            !log.contains("No such command") && !log.contains("Unknown command"),
            "{d} rejected part of its configuration:\n{log}"
        );
    }
    let nb = start_neighbour(&mut lab);
    let cfg = relay_toml(&lab.config(), "kernel", HOLD_DOWN);
    let bin_s = bin.display().to_string();
    lab.start_daemon_with(
        &cfg,
        &["--dataplane", &bin_s, "--bind", "copy", "--queues", "1"],
    );

    // 1. Healthy: announced after the hold-down, seen by the neighbour.
    let t = nb.wait("the announced prefixes", Duration::from_secs(40), all);
    println!(
        "[{:5.1}s] neighbour has {expected:?} from FRR ({} ms after the daemon answered)",
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
    let bgp = nb
        .birdc(&["show", "route", "all", ANYCAST])
        .unwrap_or_default();
    assert!(bgp.contains("AS65001"), "{bgp}");
    let rib = frr
        .vtysh("bgpd", &format!("show bgp ipv4 unicast {ANYCAST}"))
        .unwrap_or_default();
    assert!(rib.contains(ANYCAST), "bgpd: {rib}");
    let protocols = nb.birdc(&["show", "protocols"]).unwrap_or_default();
    for s in ["relay4", "relay6"] {
        assert!(
            protocols
                .lines()
                .any(|l| l.starts_with(s) && l.contains("Established")),
            "session {s} not established:\n{protocols}"
        );
    }
    if !v6 {
        let r = nb.routes();
        assert!(!r.contains(SIXTO4) && !r.contains(TEREDO), "{r:?}");
        println!("  IPv6 session Established; {SIXTO4}, {TEREDO} not exported (no ipv6 import-table in this FRR)");
    }
    // zebra installs what it imports into the main table too (FRR's
    // import-table: the routes become RIB routes of type "table").
    let main = lab.ns(&relay_ns, "ip route show");
    for l in main.lines().filter(|l| l.contains(ANYCAST)) {
        println!("  main table of the relay: {l}");
    }

    // 2. SIGKILL of the dataplane (the daemon's child): withdrawn within 2 s.
    kill_dataplane_withdraws(
        &mut lab,
        &nb,
        HOLD_DOWN,
        &format!("{expected:?}"),
        none,
        all,
    );
    println!("FRR configuration run (test timers included):\n--- zebra.conf\n{zebra_conf}--- bgpd.conf\n{bgpd_conf}");
    drop(frr);
}
