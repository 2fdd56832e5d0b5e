//! Differential test: for configurations of the engine, the program loaded
//! with `Steering::from_config` steers exactly the frames the engine
//! classifies as relay traffic (C-01, S4-01, T4-01, managed prefixes).
//!
//! The engine "steers" a frame unless it returns `Pass` by classification
//! (not IP, L2 multicast, not ours, not a relay protocol). Two differences
//! are by design and checked as such:
//! - headers the program cannot read (truncated, IHL < 5, wrong version)
//!   pass to the kernel, which drops them; the engine would drop them too
//!   (C-02/C-10/T4-02) or pass them, never forward them;
//! - an IPv6 multicast destination in a unicast frame passes (the kernel
//!   handles it); the engine drops it (T6-02 / S6-02).

use std::net::Ipv6Addr;

use xrelay_engine::{Config, Engine, Event, Frame, Now, PeerTable, Port, Verdict, HEADROOM};
use xrelay_xdp::abi::{Counter as C, CounterGroup};
use xrelay_xdp::Steering;

use crate::frames::{self, L2, V4};
use crate::harness::{action_name, Harness};
use crate::{class_cases, malformed_cases, v6, ANYCAST, SIXTO4_ADDR, TEREDO_ADDR};

const SIXTO4: &str = r#"
[relay]
native_addr = "2001:db8::ff"
managed_prefixes = ["2001:db8:abcd::/48"]

[sixto4]
enabled = true
anycast = true
unicast_addr = "192.0.2.1"
extra_addrs = ["192.0.2.3"]

[teredo]
enabled = true
addr = "192.0.2.2"
port = 3545
"#;

const SIXRD: &str = r#"
[relay]
native_addr = "2001:db8::ff"

[sixto4]
enabled = true
unicast_addr = "192.0.2.1"
mode = "6rd"

[sixto4.sixrd]
prefix = "2001:db8:600::/40"
ipv4_mask_len = 8
br_addr = "192.0.2.1"

[teredo]
enabled = true
addr = "192.0.2.2"
port = 3545
"#;

const TEREDO_ONLY: &str = r#"
[teredo]
enabled = true
addr = "192.0.2.2"
port = 3545
"#;

/// Frames beyond the class table that exercise the configurations.
fn extra_frames() -> Vec<(String, Vec<u8>)> {
    let l2 = L2::PLAIN;
    let x = std::net::Ipv4Addr::new(192, 0, 2, 3);
    vec![
        (
            "proto-41 to the extra address".into(),
            frames::proto41(l2, x, V4::PLAIN),
        ),
        (
            "proto-41 to 192.88.99.1, fragment".into(),
            frames::proto41(l2, ANYCAST, V4::LAST_FRAGMENT),
        ),
        (
            "IPv6 to the operator prefix".into(),
            frames::ipv6_udp(l2, v6("2001:db8:abcd::1")),
        ),
        (
            "IPv6 to the 6to4 anycast /48".into(),
            frames::ipv6_udp(l2, v6("2002:c058:6301::1")),
        ),
        (
            "IPv6 to ff0e::1 in a unicast frame".into(),
            frames::ipv6_udp(l2, v6("ff0e::1")),
        ),
        (
            "ICMPv4 unreachable to the 6to4 address".into(),
            frames::icmp4(l2, SIXTO4_ADDR, 3, V4::PLAIN),
        ),
        (
            "ICMPv4 time exceeded to the Teredo address".into(),
            frames::icmp4(l2, TEREDO_ADDR, 11, V4::PLAIN),
        ),
        (
            "ICMPv4 parameter problem, fragment".into(),
            frames::icmp4(l2, SIXTO4_ADDR, 12, V4::FIRST_FRAGMENT),
        ),
    ]
}

#[derive(Debug, PartialEq, Eq)]
enum EngineSays {
    /// Pass by classification: the kernel's frame.
    Pass(&'static str),
    /// Anything after classification: Tx, Drop, Slow, or Pass(misrouted).
    Relay(String),
}

const CLASSIFICATION_PASSES: [Event; 4] = [
    Event::PassNotIp,
    Event::PassL2Multicast,
    Event::PassNotOurs,
    Event::PassNotRelayProto,
];

fn engine_says(engine: &mut Engine, peers: &PeerTable, frame: &[u8]) -> EngineSays {
    let mut buf = vec![0u8; HEADROOM + frame.len() + 64];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let ipv6 = frame.windows(2).nth(12).is_some_and(|w| w == [0x86, 0xdd]);
    let port = if ipv6 { Port::V6 } else { Port::V4 };
    let mut f = Frame::new(&mut buf, HEADROOM, frame.len(), port);
    let _ = engine.take_counters();
    let v = engine.process_frame(&mut f, peers, Now::from_secs(1000));
    let counters = engine.take_counters();
    if v == Verdict::Pass {
        for e in CLASSIFICATION_PASSES {
            if counters.get_event(e) > 0 {
                return EngineSays::Pass(e.name());
            }
        }
    }
    EngineSays::Relay(format!("{v:?}"))
}

fn check(config_name: &str, toml: &str) {
    let cfg = Config::from_toml_str(toml).unwrap_or_else(|e| panic!("{config_name}: {e}"));
    let steering = Steering::from_config(&cfg).expect("steering");
    let Some(mut h) = Harness::new(steering.settings) else {
        return;
    };
    h.maps.apply(&steering).expect("apply");
    let mut engine = Engine::new(&cfg, 0, 1, 7).expect("engine");
    let peers = PeerTable::new(64, 60, 7);

    let mut all: Vec<(String, Vec<u8>)> = Vec::new();
    for c in class_cases(L2::PLAIN)
        .into_iter()
        .chain(class_cases(L2::tagged(42)))
        .chain(malformed_cases())
    {
        all.push((c.name, c.frame));
    }
    all.extend(extra_frames());
    let mut steered = 0;
    for (name, frame) in &all {
        let (action, d) = h.run(frame);
        let class = C::ALL
            .iter()
            .copied()
            .find(|c| {
                matches!(c.group(), CounterGroup::Steered | CounterGroup::Passed)
                    && d.total(*c) == 1
            })
            .expect("one class per frame");
        let says = engine_says(&mut engine, &peers, frame);
        println!(
            "{config_name:<7} {name:<58} {:<13} {:<14} engine: {says:?}",
            action_name(action),
            class.name()
        );
        let xdp_steers = class.group() == CounterGroup::Steered;
        steered += usize::from(xdp_steers);
        match (class, &says) {
            (C::PassMalformed, EngineSays::Relay(v)) => {
                assert!(!v.starts_with("Tx"), "{config_name}: {name}: the engine forwards a frame the program passes as malformed: {v}")
            }
            (C::PassV6, EngineSays::Relay(v)) if is_ipv6_multicast_dst(frame) => {
                assert!(v.starts_with("Drop"), "{config_name}: {name}: {v}")
            }
            _ => assert_eq!(
                xdp_steers,
                matches!(says, EngineSays::Relay(_)),
                "{config_name}: {name}: program {} ({}), engine {says:?}",
                action_name(action),
                class.name()
            ),
        }
    }
    assert!(
        steered > 0,
        "{config_name}: nothing was steered; the table does not test this configuration"
    );
}

fn is_ipv6_multicast_dst(frame: &[u8]) -> bool {
    let l3 = if frame[12..14] == [0x81, 0x00] {
        18
    } else {
        14
    };
    frame.get(l3 + 24).is_some_and(|b| *b == 0xff)
        && frame.get(l3 + 24..l3 + 40).is_some_and(|d| {
            let a: [u8; 16] = d.try_into().unwrap_or([0; 16]);
            Ipv6Addr::from(a).is_multicast()
        })
}

#[test]
fn program_agrees_with_the_engine_6to4() {
    check("6to4", SIXTO4);
}

#[test]
fn program_agrees_with_the_engine_6rd() {
    check("6rd", SIXRD);
}

#[test]
fn program_agrees_with_the_engine_teredo_only() {
    check("teredo", TEREDO_ONLY);
}
