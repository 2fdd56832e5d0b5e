//! Independent validation with tshark: a capture exercising every path is
//! run through `xrelayctl translate`; every frame the relay writes must be
//! decoded by Wireshark's dissectors with IPv4/UDP/ICMPv6 checksum
//! validation on, with no malformed packet, no bad checksum and no expert
//! error. Skips (and says so) where tshark is not installed.

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::{IpNumber, PacketBuilder};
use xrelay_control::pcapio::{PcapOut, TsPrecision};
use xrelay_engine::slow::SlowPath;
use xrelay_engine::Config;

const OUR_V4: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
const PEER_V4: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];
const OUR_V6: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x01];
const PEER_V6: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x02];

const CONFIG: &str = r#"
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
bubble_key = "000102030405060708090a0b0c0d0e0f"
"#;

/// Checksums on, Teredo decoded on both the server port and ours.
const TSHARK_OPTS: [&str; 8] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
    "-d",
    "udp.port==3545,teredo",
    "-d",
    "udp.port==3544,teredo",
];
const BAD: &str = "_ws.malformed || _ws.expert.severity == error || ip.checksum.status == \"Bad\" \
                   || udp.checksum.status == \"Bad\" || icmpv6.checksum.status == \"Bad\"";

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("xrelay-tshark-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("v6").octets()
}
fn v4(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().expect("v4").octets()
}

fn echo6(src: &str, dst: &str, hop: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(v6(src), v6(dst), hop)
        .icmpv6_echo_request(0x4242, 7)
        .write(&mut out, data)
        .expect("ipv6");
    out
}

fn native(ip6: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&OUR_V6);
    f.extend_from_slice(&PEER_V6);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(ip6);
    f
}

fn proto41(src: &str, dst: &str, ip6: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_V4, OUR_V4)
        .ipv4(v4(src), v4(dst), 64)
        .write(&mut out, IpNumber::IPV6, ip6)
        .expect("6in4");
    out
}

fn teredo_udp(src: &str, sport: u16, ip6: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_V4, OUR_V4)
        .ipv4(v4(src), v4("203.0.113.5"), 64)
        .udp(sport, 3545)
        .write(&mut out, ip6)
        .expect("teredo");
    out
}

fn bubble(src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
    let mut b = vec![0x60, 0, 0, 0, 0, 0, 59, 0];
    b.extend_from_slice(&src);
    b.extend_from_slice(&dst);
    b
}

const CLIENT: &str = "2001:0:c633:6476:0:dfff:3fff:fdf5";
const SITE: &str = "2002:c000:201::1";

/// The input capture and the number of frames the relay must transmit.
fn scenario(cfg: &Config) -> (Vec<(u64, Vec<u8>)>, usize) {
    let slow = SlowPath::new(cfg, 0).expect("slow path");
    let bsrc = slow
        .bubble_source(Ipv4Addr::new(192, 0, 2, 10), 8192)
        .octets();
    let s = 1_000_000_000u64;
    let frames = vec![
        // 6to4 encap (V6-A1) and decap (V6-A2).
        (s, native(&echo6("2001:db8::1", SITE, 64, b"abcd"))),
        (
            s,
            proto41(
                "192.0.2.1",
                "192.88.99.1",
                &echo6(SITE, "2001:db8::1", 64, b"abcd"),
            ),
        ),
        // Relay qualification probe (V6-A3) → echo reply, encapsulated.
        (
            s,
            proto41(
                "192.0.2.1",
                "192.88.99.1",
                &echo6(SITE, "2002:c058:6301::", 1, b"probe"),
            ),
        ),
        // Same probe to a native host → Time Exceeded, encapsulated.
        (
            s,
            proto41(
                "192.0.2.1",
                "192.88.99.1",
                &echo6(SITE, "2001:db8::1", 1, b"probe"),
            ),
        ),
        // 1481 bytes toward a 6to4 site → Packet Too Big 1480 to the native host.
        (
            s,
            native(&echo6("2001:db8::1", SITE, 64, &[0x55; 1481 - 48])),
        ),
        // Teredo: native → client without an entry → indirect bubble.
        (s, native(&echo6("2001:db8::1", CLIENT, 64, b"teredo!!"))),
        // The client's direct bubble → trusted, queued reply flushed.
        (
            s + s / 2,
            teredo_udp("192.0.2.10", 8192, &bubble(v6(CLIENT), bsrc)),
        ),
        // Client → native, native → client (trusted).
        (
            s + s / 2,
            teredo_udp(
                "192.0.2.10",
                8192,
                &echo6(CLIENT, "2001:db8::1", 64, b"data"),
            ),
        ),
        (
            s + s / 2,
            native(&echo6("2001:db8::1", CLIENT, 64, b"back")),
        ),
        // Client → native with hop limit 1 → Time Exceeded to the client.
        (
            s + s / 2,
            teredo_udp("192.0.2.10", 8192, &echo6(CLIENT, "2001:db8::1", 1, b"ttl")),
        ),
        // Native → client above the Teredo MTU → Packet Too Big 1280.
        (
            s + s / 2,
            native(&echo6("2001:db8::1", CLIENT, 64, &[0xaa; 1300])),
        ),
        // Spoofed 6to4 source (S4-05): dropped, nothing sent.
        (
            s + s / 2,
            proto41(
                "198.51.100.7",
                "192.88.99.1",
                &echo6(SITE, "2001:db8::1", 64, b"x"),
            ),
        ),
        // 6to4 site → Teredo client (cross path, one decrement).
        (
            s + s / 2,
            proto41(
                "192.0.2.1",
                "192.88.99.1",
                &echo6(SITE, CLIENT, 64, b"cross"),
            ),
        ),
    ];
    (frames, 12)
}

fn write_pcap(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let mut w = PcapOut::create(path, TsPrecision::Micro).expect("create pcap");
    for (ts, f) in frames {
        w.write(*ts, f).expect("write frame");
    }
    w.finish().expect("finish pcap");
}

fn tshark_lines(file: &Path, filter: Option<&str>) -> Vec<String> {
    let mut c = Command::new("tshark");
    c.args(TSHARK_OPTS)
        .arg("-r")
        .arg(file)
        .args(["-T", "fields", "-e", "frame.number"]);
    if let Some(f) = filter {
        c.args(["-Y", f]);
    }
    let o = c.output().expect("run tshark");
    assert!(
        o.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn every_transmitted_frame_passes_tshark() {
    if !tshark_available() {
        println!("SKIP every_transmitted_frame_passes_tshark: tshark is not installed (apt-get install tshark)");
        return;
    }
    let dir = TempDir::new("paths");
    let cfg = Config::from_toml_str(CONFIG).expect("config");
    let (frames, expected) = scenario(&cfg);
    let (inp, out, conf) = (
        dir.path("in.pcap"),
        dir.path("out.pcap"),
        dir.path("relay.toml"),
    );
    write_pcap(&inp, &frames);
    fs::write(&conf, CONFIG).expect("write config");
    let o = Command::new(env!("CARGO_BIN_EXE_xrelayctl"))
        .arg("translate")
        .arg("--in")
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .arg("--config")
        .arg(&conf)
        .arg("--json")
        .output()
        .expect("run xrelayctl");
    assert!(
        o.status.success(),
        "translate: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json summary");
    assert_eq!(json["transmitted"], expected, "summary: {json}");
    assert_eq!(
        json["drops"]["s4_05_spoofed_6to4_source"], 1,
        "summary: {json}"
    );

    assert_eq!(
        tshark_lines(&out, None).len(),
        expected,
        "frames tshark reads"
    );
    let bad = tshark_lines(&out, Some(BAD));
    assert!(
        bad.is_empty(),
        "tshark flags frames {bad:?} of {}",
        out.display()
    );
    // Every IPv4 header, UDP datagram and ICMPv6 message was really checked.
    assert_eq!(
        tshark_lines(&out, Some("ip.checksum.status == \"Good\"")).len(),
        8
    );
    assert_eq!(
        tshark_lines(&out, Some("udp.checksum.status == \"Good\"")).len(),
        5
    );
    assert_eq!(
        tshark_lines(&out, Some("icmpv6.checksum.status == \"Good\"")).len(),
        11
    );
}

/// The filter is not vacuous: a frame with a broken IPv4 checksum and one
/// with a broken UDP checksum are flagged.
#[test]
fn tshark_filter_catches_bad_checksums() {
    if !tshark_available() {
        println!("SKIP tshark_filter_catches_bad_checksums: tshark is not installed (apt-get install tshark)");
        return;
    }
    let dir = TempDir::new("negative");
    let mut bad_ip = proto41(
        "192.0.2.1",
        "192.88.99.1",
        &echo6(SITE, "2001:db8::1", 64, b"x"),
    );
    bad_ip[14 + 10] ^= 0xff;
    let mut bad_udp = teredo_udp("192.0.2.10", 8192, &echo6(CLIENT, "2001:db8::1", 64, b"y"));
    bad_udp[14 + 20 + 6] ^= 0xff;
    let p = dir.path("bad.pcap");
    write_pcap(&p, &[(1, bad_ip), (2, bad_udp)]);
    assert_eq!(
        tshark_lines(&p, Some(BAD)),
        vec!["1".to_string(), "2".to_string()]
    );
}
