//! `BPF_PROG_TEST_RUN` tables for `xr_steer` (root; each test prints why it
//! skips elsewhere): input frame, expected action, expected per-CPU counter
//! deltas, and the frame unchanged on output.
//!
//! Run with `cargo test -p xrelay-xdp --test prog_test_run -- --nocapture`
//! to see one line per case.

mod agreement;
mod frames;
mod harness;

use std::net::{Ipv4Addr, Ipv6Addr};

use frames::{L2, V4};
use harness::{action_name, assert_delta, describe, Harness, Link, XDP_PASS, XDP_REDIRECT};
use xrelay_engine::config::Ipv6Net;
use xrelay_xdp::abi::{Counter as C, CounterGroup, PrefixKind};
use xrelay_xdp::{AttachMode, LoadOptions, RelayMaps, Settings, SteerProgram, Steering};

const SIXTO4_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ANYCAST: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);
const TEREDO_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const TEREDO_PORT: u16 = 3545;
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("IPv6 literal")
}

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("IPv6 prefix")
}

/// The relay set every table runs with (6rd's prefix beside 2002::/16 only
/// to have one of each kind in the trie).
fn standard() -> Steering {
    Steering {
        settings: Settings::default(),
        sixto4: vec![SIXTO4_ADDR, ANYCAST],
        teredo: vec![(TEREDO_ADDR, TEREDO_PORT)],
        prefixes: vec![
            (net("2002::/16"), PrefixKind::SixToFour),
            (net("2001::/32"), PrefixKind::Teredo),
            (net("2001:db8:600::/40"), PrefixKind::SixRd),
        ],
    }
}

fn harness(settings: Settings) -> Option<Harness> {
    let mut h = Harness::new(settings)?;
    h.maps.apply(&standard()).expect("apply");
    Some(h)
}

struct Case {
    name: String,
    frame: Vec<u8>,
    action: u32,
    /// The class counter plus any details; the action counter is implied.
    counters: Vec<C>,
}

fn case(name: &str, l2: L2, frame: Vec<u8>, action: u32, class: C, details: &[C]) -> Case {
    let mut counters = vec![class];
    counters.extend_from_slice(details);
    let name = match l2.vlan {
        Some(v) => format!("{name} [vlan {v}]"),
        None => name.to_owned(),
    };
    if l2.vlan.is_some() && class.group() == CounterGroup::Steered {
        counters.push(C::Vlan);
    }
    Case {
        name,
        frame,
        action,
        counters,
    }
}

/// The classes, for untagged and tagged frames alike.
fn class_cases(l2: L2) -> Vec<Case> {
    use frames::*;
    let r = XDP_REDIRECT;
    let p = XDP_PASS;
    vec![
        case(
            "proto-41 to the 6to4 address",
            l2,
            proto41(l2, SIXTO4_ADDR, V4::PLAIN),
            r,
            C::Proto41,
            &[],
        ),
        case(
            "proto-41 to 192.88.99.1",
            l2,
            proto41(l2, ANYCAST, V4::PLAIN),
            r,
            C::Proto41,
            &[],
        ),
        case(
            "proto-41 with IPv4 options",
            l2,
            proto41(l2, SIXTO4_ADDR, V4::OPTIONS),
            r,
            C::Proto41,
            &[],
        ),
        case(
            "proto-41 to a non-relay address",
            l2,
            proto41(l2, OTHER_V4, V4::PLAIN),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "proto-41 to the Teredo address",
            l2,
            proto41(l2, TEREDO_ADDR, V4::PLAIN),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "UDP to the Teredo port",
            l2,
            udp4(l2, TEREDO_ADDR, TEREDO_PORT, V4::PLAIN),
            r,
            C::Teredo,
            &[],
        ),
        case(
            "UDP to the Teredo port, IPv4 options",
            l2,
            udp4(l2, TEREDO_ADDR, TEREDO_PORT, V4::OPTIONS),
            r,
            C::Teredo,
            &[],
        ),
        case(
            "UDP to another port of the Teredo address",
            l2,
            udp4(l2, TEREDO_ADDR, 53, V4::PLAIN),
            p,
            C::PassV4Port,
            &[],
        ),
        case(
            "UDP to port 3544 of the Teredo address",
            l2,
            udp4(l2, TEREDO_ADDR, 3544, V4::PLAIN),
            p,
            C::PassV4Port,
            &[],
        ),
        case(
            "UDP to the Teredo port of the 6to4 address",
            l2,
            udp4(l2, SIXTO4_ADDR, TEREDO_PORT, V4::PLAIN),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "IPv6 to 2002::/16",
            l2,
            ipv6_udp(l2, v6("2002:cb00:7109:1::1")),
            r,
            C::Native6to4,
            &[],
        ),
        case(
            "IPv6 to 2001::/32",
            l2,
            ipv6_udp(l2, v6("2001:0:4136:e378:8000:63bf:3fff:fdd2")),
            r,
            C::NativeTeredo,
            &[],
        ),
        case(
            "IPv6 to the 6rd prefix",
            l2,
            ipv6_udp(l2, v6("2001:db8:6cb:71::1")),
            r,
            C::Native6rd,
            &[],
        ),
        case(
            "IPv6 to 2001:db8::1 (not managed)",
            l2,
            ipv6_udp(l2, v6("2001:db8::1")),
            p,
            C::PassV6,
            &[],
        ),
        case(
            "ARP request (broadcast)",
            l2,
            arp(l2, false, SIXTO4_ADDR),
            p,
            C::PassL2Mcast,
            &[],
        ),
        case(
            "ARP reply (unicast)",
            l2,
            arp(l2, true, SIXTO4_ADDR),
            p,
            C::PassNotIp,
            &[],
        ),
        case(
            "ICMPv6 NS to ff02::1:ff00:1",
            l2,
            neighbour_solicitation(l2),
            p,
            C::PassL2Mcast,
            &[],
        ),
        case(
            "ICMPv6 NS to ff02::1:ff00:1 in a unicast frame",
            l2,
            neighbour_solicitation(L2 {
                dst: Some(RELAY_MAC),
                ..l2
            }),
            p,
            C::PassV6,
            &[],
        ),
        case(
            "TCP/179 (BGP) to the 6to4 address",
            l2,
            tcp4(l2, SIXTO4_ADDR, 179),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "TCP/22 (SSH) to the Teredo address",
            l2,
            tcp4(l2, TEREDO_ADDR, 22),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "IPv6 TCP/179 to the relay's native address",
            l2,
            ipv6_tcp(l2, v6("2001:db8::ff"), 179),
            p,
            C::PassV6,
            &[],
        ),
        case(
            "ICMPv4 echo to the 6to4 address",
            l2,
            icmp4(l2, SIXTO4_ADDR, 8, V4::PLAIN),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "ICMPv4 unreachable (icmp4_errors off)",
            l2,
            icmp4(l2, SIXTO4_ADDR, 3, V4::PLAIN),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "first fragment of proto-41",
            l2,
            proto41(l2, SIXTO4_ADDR, V4::FIRST_FRAGMENT),
            r,
            C::Proto41,
            &[C::Frag],
        ),
        case(
            "non-first fragment of proto-41",
            l2,
            proto41(l2, SIXTO4_ADDR, V4::LAST_FRAGMENT),
            r,
            C::Proto41,
            &[C::Frag],
        ),
        case(
            "non-first fragment of proto-41 to a non-relay address",
            l2,
            proto41(l2, OTHER_V4, V4::LAST_FRAGMENT),
            p,
            C::PassV4,
            &[],
        ),
        case(
            "first fragment of UDP to the Teredo port",
            l2,
            udp4(l2, TEREDO_ADDR, TEREDO_PORT, V4::FIRST_FRAGMENT),
            r,
            C::Teredo,
            &[C::Frag],
        ),
        case(
            "first fragment of UDP to another port",
            l2,
            udp4(l2, TEREDO_ADDR, 53, V4::FIRST_FRAGMENT),
            p,
            C::PassV4Port,
            &[],
        ),
        case(
            "non-first fragment of UDP to the Teredo address",
            l2,
            ipv4_raw(l2, TEREDO_ADDR, 17, V4::LAST_FRAGMENT, &[0; 64]),
            r,
            C::Teredo,
            &[C::Frag],
        ),
        case(
            "non-first fragment of UDP to a non-relay address",
            l2,
            ipv4_raw(l2, OTHER_V4, 17, V4::LAST_FRAGMENT, &[0; 64]),
            p,
            C::PassV4,
            &[],
        ),
    ]
}

/// Broken and odd frames (untagged; the tag itself is cut in one of them).
fn malformed_cases() -> Vec<Case> {
    use frames::*;
    let l2 = L2::PLAIN;
    let p = XDP_PASS;
    let pm = C::PassMalformed;
    let udp = udp4(l2, TEREDO_ADDR, TEREDO_PORT, V4::PLAIN);
    vec![
        case(
            "Ethernet header only, VLAN EtherType, tag cut",
            l2,
            raw(0x8100, &[0x00]),
            p,
            pm,
            &[],
        ),
        case(
            "IPv4 cut inside the header",
            l2,
            cut(proto41(l2, SIXTO4_ADDR, V4::PLAIN), 14 + 19),
            p,
            pm,
            &[],
        ),
        case(
            "IPv4 options cut",
            l2,
            cut(proto41(l2, SIXTO4_ADDR, V4::OPTIONS), 14 + 24),
            p,
            pm,
            &[],
        ),
        case(
            "IPv4 IHL 4",
            l2,
            patch_ip(proto41(l2, SIXTO4_ADDR, V4::PLAIN), 0, 0x44),
            p,
            pm,
            &[],
        ),
        case(
            "IPv4 header with version 6",
            l2,
            patch_ip(proto41(l2, SIXTO4_ADDR, V4::PLAIN), 0, 0x65),
            p,
            pm,
            &[],
        ),
        case(
            "UDP to the Teredo address, ports cut",
            l2,
            cut(udp, 14 + 20 + 3),
            p,
            pm,
            &[],
        ),
        case(
            "IPv6 cut inside the header",
            l2,
            cut(ipv6_udp(l2, v6("2002::1")), 14 + 39),
            p,
            pm,
            &[],
        ),
        case(
            "IPv6 EtherType, version 4",
            l2,
            raw(0x86dd, &[0x40; 40]),
            p,
            pm,
            &[],
        ),
        case(
            "QinQ (0x88a8) is not looked into",
            l2,
            raw(0x88a8, &[0, 100, 0x08, 0x00, 0x45]),
            p,
            C::PassNotIp,
            &[],
        ),
        case("LLDP", l2, raw(0x88cc, &[0; 32]), p, C::PassNotIp, &[]),
        case(
            "IPv4 multicast group address frame",
            L2 {
                dst: Some([1, 0, 0x5e, 0, 0, 5]),
                ..l2
            },
            proto41(
                L2 {
                    dst: Some([1, 0, 0x5e, 0, 0, 5]),
                    ..l2
                },
                SIXTO4_ADDR,
                V4::PLAIN,
            ),
            p,
            C::PassL2Mcast,
            &[],
        ),
    ]
}

fn run_cases(h: &mut Harness, cases: &[Case]) {
    for c in cases {
        let (action, d) = h.run(&c.frame);
        let mut want = c.counters.clone();
        want.push(if c.action == XDP_REDIRECT {
            C::XdpRedirect
        } else {
            C::XdpPass
        });
        println!(
            "{:<60} {:<13} {}",
            c.name,
            action_name(action),
            describe(&d)
        );
        assert_eq!(action, c.action, "{}: action", c.name);
        assert_delta(&d, &want, &c.name);
    }
}

#[test]
fn steering_table() {
    let Some(mut h) = harness(Settings::default()) else {
        return;
    };
    let mut cases = class_cases(L2::PLAIN);
    cases.extend(class_cases(L2::tagged(100)));
    cases.extend(malformed_cases());
    run_cases(&mut h, &cases);
    println!("{} cases", cases.len());
}

#[test]
fn operator_prefix_add_and_del() {
    let Some(mut h) = harness(Settings::default()) else {
        return;
    };
    let dst = v6("2001:db8:abcd::1");
    let frame = frames::ipv6_udp(L2::PLAIN, dst);
    let tagged = frames::ipv6_udp(L2::tagged(7), dst);
    let before = case(
        "before prefix add",
        L2::PLAIN,
        frame.clone(),
        XDP_PASS,
        C::PassV6,
        &[],
    );
    run_cases(&mut h, &[before]);

    h.maps
        .add_prefix(net("2001:db8:abcd::/48"), PrefixKind::Operator)
        .expect("prefix add");
    assert_eq!(
        h.maps.lookup_prefix(dst).expect("lookup"),
        Some(PrefixKind::Operator)
    );
    assert!(h
        .maps
        .prefixes()
        .expect("list")
        .contains(&(net("2001:db8:abcd::/48"), PrefixKind::Operator)));
    run_cases(
        &mut h,
        &[
            case(
                "after prefix add",
                L2::PLAIN,
                frame.clone(),
                XDP_REDIRECT,
                C::NativeOper,
                &[],
            ),
            case(
                "after prefix add",
                L2::tagged(7),
                tagged.clone(),
                XDP_REDIRECT,
                C::NativeOper,
                &[],
            ),
            // A longer managed prefix inside it wins (longest match).
            case(
                "2001:db8:abcd:: does not capture 2001:db8::1",
                L2::PLAIN,
                frames::ipv6_udp(L2::PLAIN, v6("2001:db8::1")),
                XDP_PASS,
                C::PassV6,
                &[],
            ),
        ],
    );

    assert!(h
        .maps
        .del_prefix(net("2001:db8:abcd::/48"))
        .expect("prefix del"));
    assert!(!h
        .maps
        .del_prefix(net("2001:db8:abcd::/48"))
        .expect("second del is a no-op"));
    assert_eq!(h.maps.lookup_prefix(dst).expect("lookup"), None);
    run_cases(
        &mut h,
        &[
            case(
                "after prefix del",
                L2::PLAIN,
                frame,
                XDP_PASS,
                C::PassV6,
                &[],
            ),
            case(
                "after prefix del",
                L2::tagged(7),
                tagged,
                XDP_PASS,
                C::PassV6,
                &[],
            ),
        ],
    );

    // A multicast prefix or one with host bits is refused and changes nothing.
    assert!(h
        .maps
        .add_prefix(Ipv6Net::new(v6("ff00::"), 8), PrefixKind::Operator)
        .is_err());
    assert!(h
        .maps
        .add_prefix(Ipv6Net::new(v6("2001:db8::1"), 32), PrefixKind::Operator)
        .is_err());
    let mut want = standard().prefixes;
    want.sort_by_key(|(n, k)| (n.addr, n.len, *k));
    assert_eq!(h.maps.prefixes().expect("list"), want);
}

#[test]
fn frames_for_a_queue_without_socket_pass() {
    let Some(mut h) = harness(Settings::default()) else {
        return;
    };
    assert!(h.maps.clear_socket(0).expect("clear slot 0"));
    let cases = [
        case(
            "proto-41, no socket on queue 0",
            L2::PLAIN,
            frames::proto41(L2::PLAIN, SIXTO4_ADDR, V4::PLAIN),
            XDP_PASS,
            C::Proto41,
            &[C::NoXsk],
        ),
        case(
            "IPv6 to 2002::/16, no socket",
            L2::tagged(9),
            frames::ipv6_udp(L2::tagged(9), v6("2002::1")),
            XDP_PASS,
            C::Native6to4,
            &[C::NoXsk],
        ),
        case(
            "BGP, no socket",
            L2::PLAIN,
            frames::tcp4(L2::PLAIN, SIXTO4_ADDR, 179),
            XDP_PASS,
            C::PassV4,
            &[],
        ),
    ];
    run_cases(&mut h, &cases);
    h.maps.set_socket(0, &h.xsk).expect("socket back");
    let back = case(
        "proto-41, socket back",
        L2::PLAIN,
        frames::proto41(L2::PLAIN, SIXTO4_ADDR, V4::PLAIN),
        XDP_REDIRECT,
        C::Proto41,
        &[],
    );
    run_cases(&mut h, &[back]);
}

#[test]
fn the_receive_queue_selects_the_slot() {
    let Some(mut h) = harness(Settings::default()) else {
        return;
    };
    let name = format!("xrq{}a", std::process::id() % 10_000);
    let peer = format!("xrq{}b", std::process::id() % 10_000);
    let q = ["numrxqueues", "4", "numtxqueues", "4"];
    let mut args = vec![name.as_str()];
    args.extend(q);
    args.extend(["type", "veth", "peer", "name", peer.as_str()]);
    args.extend(q);
    let link = match Link::new(&args, &[&name, &peer]) {
        Ok(l) => l,
        Err(e) => {
            println!("skipped: cannot create a 4-queue veth pair: {e}");
            return;
        }
    };
    let ifindex = link.ifindex(&name);
    h.maps.clear_socket(0).expect("clear slot 0");
    h.maps.set_socket(2, &h.xsk).expect("slot 2");
    let frame = frames::proto41(L2::PLAIN, SIXTO4_ADDR, V4::PLAIN);
    for (queue, action, extra) in [
        (2, XDP_REDIRECT, None),
        (1, XDP_PASS, Some(C::NoXsk)),
        (3, XDP_PASS, Some(C::NoXsk)),
    ] {
        let (a, d) = h.run_on(&frame, ifindex, queue);
        println!(
            "proto-41 on {name} queue {queue:<36} {:<13} {}",
            action_name(a),
            describe(&d)
        );
        assert_eq!(a, action, "queue {queue}");
        let mut want = vec![
            C::Proto41,
            if a == XDP_REDIRECT {
                C::XdpRedirect
            } else {
                C::XdpPass
            },
        ];
        want.extend(extra);
        assert_delta(&d, &want, &format!("queue {queue}"));
    }
}

#[test]
fn load_time_constants_switch_classes() {
    let off = Settings {
        sixto4: false,
        teredo: false,
        native: false,
        icmp4_errors: false,
    };
    if let Some(mut h) = harness(off) {
        let l2 = L2::PLAIN;
        run_cases(
            &mut h,
            &[
                case(
                    "sixto4 off: proto-41",
                    l2,
                    frames::proto41(l2, SIXTO4_ADDR, V4::PLAIN),
                    XDP_PASS,
                    C::PassV4,
                    &[],
                ),
                case(
                    "teredo off: UDP to the Teredo port",
                    l2,
                    frames::udp4(l2, TEREDO_ADDR, TEREDO_PORT, V4::PLAIN),
                    XDP_PASS,
                    C::PassV4,
                    &[],
                ),
                case(
                    "native off: IPv6 to 2002::/16",
                    l2,
                    frames::ipv6_udp(l2, v6("2002::1")),
                    XDP_PASS,
                    C::PassV6,
                    &[],
                ),
            ],
        );
    }
    let icmp = Settings {
        icmp4_errors: true,
        ..Settings::default()
    };
    if let Some(mut h) = harness(icmp) {
        let l2 = L2::tagged(5);
        run_cases(
            &mut h,
            &[
                case(
                    "icmp4_errors: unreachable to the 6to4 address",
                    l2,
                    frames::icmp4(l2, SIXTO4_ADDR, 3, V4::PLAIN),
                    XDP_REDIRECT,
                    C::Icmp4Err,
                    &[],
                ),
                case(
                    "icmp4_errors: time exceeded to the Teredo address",
                    l2,
                    frames::icmp4(l2, TEREDO_ADDR, 11, V4::PLAIN),
                    XDP_REDIRECT,
                    C::Icmp4Err,
                    &[],
                ),
                case(
                    "icmp4_errors: echo request",
                    l2,
                    frames::icmp4(l2, SIXTO4_ADDR, 8, V4::PLAIN),
                    XDP_PASS,
                    C::PassV4,
                    &[],
                ),
                case(
                    "icmp4_errors: fragmented error",
                    l2,
                    frames::icmp4(l2, SIXTO4_ADDR, 3, V4::FIRST_FRAGMENT),
                    XDP_PASS,
                    C::PassV4,
                    &[],
                ),
                case(
                    "icmp4_errors: error to a non-relay address",
                    l2,
                    frames::icmp4(l2, OTHER_V4, 3, V4::PLAIN),
                    XDP_PASS,
                    C::PassV4,
                    &[],
                ),
            ],
        );
    }
}

#[test]
fn runt_frames_never_reach_the_program() {
    let Some(mut h) = harness(Settings::default()) else {
        return;
    };
    // The kernel refuses test input shorter than an Ethernet header
    // (EINVAL), so the shortest frame the program can see is 14 bytes.
    let err = h.try_run(&[0u8; 10]).expect_err("10-byte frame");
    let why = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    println!("10-byte frame refused: {err}: {why}");
    let (a, d) = h.run(&frames::raw(0x0800, &[]));
    assert_eq!(a, XDP_PASS);
    assert_delta(&d, &[C::PassMalformed, C::XdpPass], "14-byte IPv4 frame");
}

#[test]
fn apply_makes_the_maps_equal_to_the_set() {
    let Some(mut h) = harness(Settings::default()) else {
        return;
    };
    let mut s = standard();
    s.sixto4 = vec![ANYCAST];
    s.teredo = vec![(TEREDO_ADDR, 3544)];
    s.prefixes.retain(|(_, k)| *k != PrefixKind::SixRd);
    s.prefixes
        .push((net("2001:db8:abcd::/48"), PrefixKind::Operator));
    h.maps.apply(&s).expect("apply");
    assert_eq!(h.maps.sixto4_addrs().expect("list"), vec![ANYCAST]);
    assert_eq!(h.maps.teredo().expect("list"), vec![(TEREDO_ADDR, 3544)]);
    let mut want = s.prefixes.clone();
    want.sort_by_key(|(n, k)| (n.addr, n.len, *k));
    assert_eq!(h.maps.prefixes().expect("list"), want);
    let l2 = L2::PLAIN;
    run_cases(
        &mut h,
        &[
            case(
                "removed 6to4 address",
                l2,
                frames::proto41(l2, SIXTO4_ADDR, V4::PLAIN),
                XDP_PASS,
                C::PassV4,
                &[],
            ),
            case(
                "old Teredo port",
                l2,
                frames::udp4(l2, TEREDO_ADDR, TEREDO_PORT, V4::PLAIN),
                XDP_PASS,
                C::PassV4Port,
                &[],
            ),
            case(
                "new Teredo port",
                l2,
                frames::udp4(l2, TEREDO_ADDR, 3544, V4::PLAIN),
                XDP_REDIRECT,
                C::Teredo,
                &[],
            ),
            case(
                "removed 6rd prefix",
                l2,
                frames::ipv6_udp(l2, v6("2001:db8:6cb:71::1")),
                XDP_PASS,
                C::PassV6,
                &[],
            ),
        ],
    );
}

#[test]
fn pinned_maps_survive_the_loader() {
    if let Some(why) = harness::skip_reason() {
        println!("skipped: {why}");
        return;
    }
    // A private bpffs, so the test neither needs nor touches /sys/fs/bpf.
    let Some(fs) = harness::Bpffs::mount() else {
        return;
    };
    let dir = fs.path.join("xrelay");
    std::fs::create_dir_all(&dir).expect("pin dir");
    let opts = LoadOptions {
        pin_dir: Some(dir.clone()),
        ..LoadOptions::default()
    };
    let result = std::panic::catch_unwind(|| {
        let mut first = SteerProgram::load(&opts).expect("load");
        let mut maps = first.maps().expect("maps");
        maps.add_prefix(net("2001:db8:abcd::/48"), PrefixKind::Operator)
            .expect("add");
        drop(maps);
        drop(first);
        // A second load (a restarted daemon) reuses the pinned maps...
        let mut second = SteerProgram::load(&opts).expect("reload");
        let maps2 = second.maps().expect("maps");
        assert_eq!(
            maps2.prefixes().expect("list"),
            vec![(net("2001:db8:abcd::/48"), PrefixKind::Operator)]
        );
        // ...and a tool can open them by path and edit what the program sees.
        let mut tool = RelayMaps::from_pin_dir(&dir).expect("open pinned");
        tool.set_teredo(TEREDO_ADDR, TEREDO_PORT)
            .expect("edit through the pin");
        let xsk = harness::xsk_socket();
        tool.set_socket(0, &xsk).expect("socket");
        let mut h = Harness {
            prog: second,
            maps: maps2,
            xsk,
        };
        let (a, d) = h.run(&frames::udp4(
            L2::PLAIN,
            TEREDO_ADDR,
            TEREDO_PORT,
            V4::PLAIN,
        ));
        assert_eq!(a, XDP_REDIRECT);
        assert_delta(&d, &[C::Teredo, C::XdpRedirect], "edit through the pin");
    });
    drop(fs);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn xdp_attached(iface: &str) -> bool {
    let o = std::process::Command::new("ip")
        .args(["-d", "link", "show", "dev", iface])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&o.stdout).contains("prog/xdp")
}

#[test]
fn attach_native_generic_and_auto_on_a_veth() {
    if let Some(why) = harness::skip_reason() {
        println!("skipped: {why}");
        return;
    }
    let a = format!("xrv{}a", std::process::id() % 10_000);
    let b = format!("xrv{}b", std::process::id() % 10_000);
    let link = match Link::new(&[&a, "type", "veth", "peer", "name", &b], &[&a, &b]) {
        Ok(l) => l,
        Err(e) => {
            println!("skipped: cannot create a veth pair: {e}");
            return;
        }
    };
    link.up(&a);
    link.up(&b);
    let mut prog = SteerProgram::load(&LoadOptions::default()).expect("load");
    for mode in [AttachMode::Native, AttachMode::Generic, AttachMode::Auto] {
        let att = prog
            .attach(&a, mode)
            .unwrap_or_else(|e| panic!("{}: {e}", mode.name()));
        println!(
            "attach {} on {a}: {} (fallback: {:?})",
            mode.name(),
            att.mode.name(),
            att.fallback_from.as_ref().map(ToString::to_string)
        );
        let want = if mode == AttachMode::Generic {
            AttachMode::Generic
        } else {
            AttachMode::Native
        };
        assert_eq!(att.mode, want, "veth supports native XDP");
        prog.detach(att).expect("detach");
    }
    // A pinned link keeps the program attached after the loader is gone.
    if let Some(fs) = harness::Bpffs::mount() {
        let att = prog.attach(&a, AttachMode::Native).expect("attach");
        let pinned = prog.pin_link(att, &fs.path.join("link")).expect("pin link");
        drop(pinned);
        drop(prog);
        assert!(
            xdp_attached(&a),
            "a pinned link keeps {a} attached after the loader exits"
        );
        let again =
            aya::programs::links::PinnedLink::from_pin(fs.path.join("link")).expect("from_pin");
        again.unpin().expect("unpin");
        // The kernel releases the link when its last reference goes.
        let released = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            !xdp_attached(&a)
        });
        assert!(released, "{a} still has a program after unpin");
        println!("pinned link: attached after the loader exited, detached after unpin");
        prog = SteerProgram::load(&LoadOptions::default()).expect("load");
    }
    let err = prog
        .attach("xr-no-such-if", AttachMode::Auto)
        .expect_err("unknown interface");
    println!("unknown interface: {err}");
    assert!(err.to_string().contains("xr-no-such-if"));
}
