//! Root integration test: two relay instances announce the same prefixes
//! to one BIRD 2 neighbour, which installs them as ECMP routes (`merge
//! paths`), and one relay failing leaves the other carrying the traffic
//! (issue 6, docs/bgp.md).
//!
//! ```text
//!  relay A  (lab b3: xr-tb3-relay)  xrb3r 203.0.113.4   ── xrb3p 203.0.113.10  ┐
//!                                   xrb3s 2001:db8:1::4 ── xrb3q 2001:db8:1::10 │ neighbour
//!  relay B  (lab b4: xr-tb4-relay)  xrb4r 198.51.100.4  ── xrb4p 198.51.100.10 │ (xr-tb3-peer,
//!                                   xrb4s 2001:db8:3::4 ── xrb4q 2001:db8:3::10 ┘  BIRD AS 65000)
//! ```
//!
//! Each relay: the daemon with the real dataplane, the kernel backend and
//! BIRD (AS 65001 / 65002). Asserted: the neighbour has two paths for each
//! of 192.88.99.0/24, 2002::/16 and 2001::/32 (`show route all`) and a
//! two-next-hop kernel route; N native packets to 6to4 addresses sent by
//! the neighbour are encapsulated by A and B together exactly N times;
//! after SIGKILL of A's dataplane (A withdraws, and stays withdrawn for
//! its 15 s hold-down) the neighbour keeps one path and B encapsulates all
//! N. Skips, saying why, without root, the XDP object or BIRD.

#[allow(dead_code, reason = "shared BGP helpers; this test uses a part")]
mod bgp_kit;
#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;
#[allow(
    dead_code,
    reason = "shared path-test helpers; this test uses wait_for, dp_delta"
)]
mod paths_kit;

use std::process::Command;
use std::time::{Duration, Instant};

use bgp_kit::{
    default_routes, neighbour_bird, prerequisites, relay_bird_kernel, relay_toml, start_bird,
    ANYCAST, SIXTO4, TEREDO,
};
use lab::wait_for;
use lab::{Lab, PEER_V4, PEER_V6, PYTHON, RELAY_V4, RELAY_V6};
use paths_kit::dp_delta;
use xrelay_control::admin::Counters;

const TABLE: u32 = 88;
const B_V4: &str = "198.51.100.4";
const B_PEER_V4: &str = "198.51.100.10";
const B_V6: &str = "2001:db8:3::4";
const B_PEER_V6: &str = "2001:db8:3::10";
/// A's hold-down outlasts the single-path phase of the test.
const HOLD_A: u32 = 15;
const HOLD_B: u32 = 2;
const N: u64 = 60;

/// N UDP datagrams from the neighbour to 6to4 hosts behind 192.0.2.1,
/// each from its own source port (spread by the L4 multipath hash).
const SENDER: &str = r#"
import socket, sys
n = int(sys.argv[1])
for i in range(n):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.sendto(b"xrelay-ecmp", ("2002:c000:201::%x" % (i + 1), 9))
    s.close()
"#;

fn paths(nb: &bgp_kit::Bird, prefix: &str) -> usize {
    nb.birdc(&["show", "route", "all", prefix])
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("unicast ["))
        .count()
}

/// The encapsulations of `lab`'s relay since `before`.
fn encaps(lab: &Lab, before: &Counters) -> u64 {
    dp_delta(&lab.counters(), before)
        .get("event/sixto4_encap")
        .copied()
        .unwrap_or(0)
}

fn send(ns: &str, n: u64) {
    lab::ok(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "timeout",
        "30",
        PYTHON,
        "-c",
        SENDER,
        &n.to_string(),
    ]));
}

/// Waits until the encapsulations of A and B together moved by `n`; then
/// 300 ms more (an overshoot would show); returns the deltas.
fn settle(a: &Lab, b: &Lab, a0: &Counters, b0: &Counters, n: u64) -> (u64, u64) {
    wait_for("encapsulations", Duration::from_secs(10), || {
        (encaps(a, a0) + encaps(b, b0) >= n).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    (encaps(a, a0), encaps(b, b0))
}

#[test]
fn two_relays_ecmp_and_one_fails() {
    let Some(bin) = prerequisites(None) else {
        return;
    };
    let bin_s = bin.display().to_string();
    let mut a = Lab::new("b3");
    let mut b = Lab::new("b4");
    let nb_ns = a.peer_ns.clone();
    // B's links move into A's peer namespace (the neighbour), B renumbered.
    b.ns(
        &b.peer_ns.clone(),
        &format!(
            "ip link set {} netns {nb_ns} && ip link set {} netns {nb_ns}",
            b.p4, b.p6
        ),
    );
    a.ns(
        &nb_ns,
        &format!(
            "ip addr add {B_PEER_V4}/24 dev {p4} && ip addr add {B_PEER_V6}/64 dev {p6} nodad && \
             ip link set {p4} up && ip link set {p6} up && \
             sysctl -qw net.ipv6.fib_multipath_hash_policy=1 net.ipv4.fib_multipath_hash_policy=1",
            p4 = b.p4,
            p6 = b.p6
        ),
    );
    b.ns(
        &b.relay_ns.clone(),
        &format!(
            "ip addr del {RELAY_V4}/24 dev {r4} && ip addr add {B_V4}/24 dev {r4} && \
             ip addr del {RELAY_V6}/64 dev {r6} && ip addr add {B_V6}/64 dev {r6} nodad && \
             ip route add default via {B_PEER_V4} dev {r4} && ip -6 route add default via {B_PEER_V6} dev {r6}",
            r4 = b.r4,
            r6 = b.r6
        ),
    );
    default_routes(&a);
    let b_base = b
        .config()
        .replace("203.0.113.0/24", "198.51.100.0/24")
        .replace(RELAY_V4, B_V4)
        .replace(lab::TEREDO_V4, "198.51.100.5")
        .replace(RELAY_V6, B_V6);

    let (a_ns, b_ns) = (a.relay_ns.clone(), b.relay_ns.clone());
    start_bird(
        &mut a,
        "bird-relay",
        &a_ns,
        &relay_bird_kernel(
            RELAY_V4,
            65001,
            (RELAY_V4, PEER_V4),
            (RELAY_V6, PEER_V6),
            TABLE,
        ),
    );
    start_bird(
        &mut b,
        "bird-relay",
        &b_ns,
        &relay_bird_kernel(B_V4, 65002, (B_V4, B_PEER_V4), (B_V6, B_PEER_V6), TABLE),
    );
    let nb = start_bird(
        &mut a,
        "bird-neighbour",
        &nb_ns,
        &neighbour_bird(
            PEER_V4,
            &[
                ("a4", PEER_V4, RELAY_V4, 65001, "ipv4"),
                ("a6", PEER_V6, RELAY_V6, 65001, "ipv6"),
                ("b4", B_PEER_V4, B_V4, 65002, "ipv4"),
                ("b6", B_PEER_V6, B_V6, 65002, "ipv6"),
            ],
            true,
        ),
    );
    let dp_args = [
        "--dataplane",
        bin_s.as_str(),
        "--bind",
        "copy",
        "--queues",
        "1",
    ];
    a.start_daemon_with(&relay_toml(&a.config(), "kernel", HOLD_A), &dp_args);
    b.start_daemon_with(&relay_toml(&b_base, "kernel", HOLD_B), &dp_args);

    // Both paths at the neighbour, and an ECMP route in its kernel.
    let t0 = Instant::now();
    wait_for("two paths for each prefix", Duration::from_secs(60), || {
        [ANYCAST, SIXTO4, TEREDO]
            .iter()
            .all(|p| paths(&nb, p) == 2)
            .then_some(())
    });
    println!(
        "[{:5.1}s] neighbour: two paths for {ANYCAST}, {SIXTO4}, {TEREDO} after {} ms",
        a.elapsed(),
        t0.elapsed().as_millis()
    );
    let k6 = wait_for("ECMP kernel route", Duration::from_secs(5), || {
        let r = a.ns(&nb_ns, &format!("ip -6 route show {SIXTO4}"));
        (r.contains(&format!("via {RELAY_V6}")) && r.contains(&format!("via {B_V6}"))).then_some(r)
    });
    let k4 = a.ns(&nb_ns, &format!("ip route show {ANYCAST}"));
    assert!(
        k4.contains(&format!("via {RELAY_V4}")) && k4.contains(&format!("via {B_V4}")),
        "{k4}"
    );
    println!(
        "  neighbour kernel: {}",
        k6.split_whitespace().collect::<Vec<_>>().join(" ")
    );

    // Traffic over both.
    let (a0, b0) = (a.counters(), b.counters());
    send(&nb_ns, N);
    let (da, db) = settle(&a, &b, &a0, &b0, N);
    println!(
        "[{:5.1}s] {N} packets: relay A encapsulated {da}, relay B {db}",
        a.elapsed()
    );
    assert_eq!(da + db, N);

    // A fails: its dataplane is SIGKILLed; A withdraws (and holds down).
    let dp = a.status().dataplane.pid.expect("A's dataplane");
    lab::ok(Command::new("kill").args(["-KILL", &dp.to_string()]));
    let t1 = Instant::now();
    wait_for("one path left", Duration::from_secs(5), || {
        let r = a.ns(&nb_ns, &format!("ip -6 route show {SIXTO4}"));
        ([ANYCAST, SIXTO4, TEREDO].iter().all(|p| paths(&nb, p) == 1) && !r.contains(RELAY_V6))
            .then_some(())
    });
    println!(
        "[{:5.1}s] SIGKILL of A's dataplane: the neighbour kept only B's paths after {} ms",
        a.elapsed(),
        t1.elapsed().as_millis()
    );
    wait_for("A's dataplane back", Duration::from_secs(20), || {
        a.try_status().filter(|s| s.dataplane.healthy).map(|_| ())
    });
    let (a0, b0) = (a.counters(), b.counters());
    send(&nb_ns, N);
    let (da, db) = settle(&a, &b, &a0, &b0, N);
    assert!(
        t1.elapsed() < Duration::from_secs(u64::from(HOLD_A)),
        "the single-path phase outlasted A's hold-down"
    );
    println!(
        "[{:5.1}s] {N} packets with A withdrawn: A {da}, B {db}",
        a.elapsed()
    );
    assert_eq!((da, db), (0, N), "B carries everything");
    assert!([ANYCAST, SIXTO4, TEREDO].iter().all(|p| paths(&nb, p) == 1));
}
