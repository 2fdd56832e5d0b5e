//! `xrelayctl` end to end: the built binary over captures the tests build
//! themselves in a temporary directory.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, PacketBuilder, SlicedPacket};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use xrelay_control::labconfig::LAB_CONFIG;
use xrelay_control::pcapio::{
    read_capture, to_ethernet, CaptureReader, PcapIoError, PcapOut, TsPrecision, SYNTH_DST_MAC,
    SYNTH_SRC_MAC,
};
use xrelay_engine::Config;

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("xrelayctl-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn xrelayctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xrelayctl"))
        .args(args)
        .env_remove("XRELAY_CONFIG")
        .env_remove("XRELAY_TS_PRECISION")
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit status 2 and exactly one stderr line, `xrelayctl: …`, containing
/// every item of `needles`.
fn assert_fails_with(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("xrelayctl: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

const RELAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
const SITE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];

/// A 6to4 site 192.0.2.1 sending an echo request through the anycast relay
/// to the native host 2001:db8::1 (SPEC §2.3, direction A).
fn sixto4_frame(seq: u16) -> Vec<u8> {
    let mut inner = Vec::new();
    let src6 = [
        0x20, 0x02, 0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ];
    let mut dst6 = [0u8; 16];
    dst6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    dst6[15] = 1;
    PacketBuilder::ipv6(src6, dst6, 64)
        .icmpv6_echo_request(7, seq)
        .write(&mut inner, b"xrelay")
        .unwrap();
    ipv4_frame(41, [192, 0, 2, 1], [192, 88, 99, 1], &inner)
}

fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut ip = Ipv4Header::new(payload.len() as u16, 64, IpNumber(proto), src, dst).unwrap();
    ip.dont_fragment = false;
    ip.header_checksum = ip.calc_header_checksum();
    let eth = Ethernet2Header {
        source: SITE_MAC,
        destination: RELAY_MAC,
        ether_type: EtherType::IPV4,
    };
    let mut f = eth.to_bytes().to_vec();
    f.extend_from_slice(&ip.to_bytes());
    f.extend_from_slice(payload);
    f
}

/// A classic pcap file, little-endian, microsecond timestamps.
fn pcap_bytes(link_type: u32, records: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&link_type.to_le_bytes());
    for (ts_ns, data) in records {
        b.extend_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((ts_ns % 1_000_000_000 / 1000) as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}

const T0: u64 = 1_700_000_000_000_000_000;

#[test]
fn translate_relays_a_6to4_packet() {
    let dir = TempDir::new("translate");
    let input = dir.path("in.pcap");
    let frames = vec![(T0, sixto4_frame(1)), (T0 + 1_000, sixto4_frame(2))];
    fs::write(&input, pcap_bytes(1, &frames)).unwrap();
    let out = dir.path("out.pcap");
    let o = xrelayctl(&["translate", "--in", p(&input), "--out", p(&out), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["frames_in"], 2);
    assert_eq!(json["transmitted"], 2, "{json}");
    assert_eq!(json["dropped"], 0, "{json}");
    assert_eq!(json["passed"], 0, "{json}");
    assert!(json["drops"].as_object().unwrap().is_empty(), "{json}");
    assert_eq!(json["events"]["sixto4_decap"], 2, "{json}");

    let sent = read_capture(&out).unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0, T0);
    let pkt = SlicedPacket::from_ethernet(&sent[0].1).unwrap();
    match pkt.net {
        Some(etherparse::NetSlice::Ipv6(v6)) => {
            assert_eq!(v6.header().hop_limit(), 63);
            assert_eq!(
                v6.header().destination_addr(),
                "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
            );
        }
        other => panic!("not IPv6: {other:?}"),
    }

    // The plain table lists the totals and the non-zero counters.
    let o = xrelayctl(&["translate", "--in", p(&input), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().eq(["frames_in", "2"])),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().eq(["sixto4_decap", "2"])),
        "{table}"
    );
    assert!(
        !table
            .lines()
            .any(|l| l.ends_with(" 0") && l.starts_with("s4_")),
        "{table}"
    );
}

/// SPEC §5.7 step 1: a native echo reply for a Teredo client without a peer
/// entry arrives on the IPv6 side.
fn teredo_bound_frame() -> Vec<u8> {
    let eth = Ethernet2Header {
        source: [0x02, 0, 0, 0, 0x06, 0x02],
        destination: [0x02, 0, 0, 0, 0x06, 0x01],
        ether_type: EtherType::IPV6,
    };
    let mut f = eth.to_bytes().to_vec();
    const IP6: &str = "6000000000103a4020010db800000000000000000000000120010000c6336476\
                       0000dfff3ffffdf5810039b64242000774657265646f2121";
    let ip6: Vec<u8> = (0..IP6.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&IP6[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(ip6.len(), 56);
    f.extend_from_slice(&ip6);
    f
}

/// Timers keep running after the last frame: bubble retries go out later.
#[test]
fn timers_run_after_the_last_frame() {
    let dir = TempDir::new("timers");
    let input = dir.path("in.pcap");
    fs::write(&input, pcap_bytes(1, &[(T0, teredo_bound_frame())])).unwrap();
    let out = dir.path("out.pcap");
    let o = xrelayctl(&["translate", "--in", p(&input), "--out", p(&out), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["frames_in"], 1, "{json}");
    let bubbles = json["events"]["teredo_bubble_indirect_sent"]
        .as_u64()
        .unwrap_or(0);
    assert!(bubbles >= 2, "{json}");
    let sent = read_capture(&out).unwrap();
    assert_eq!(sent.len() as u64, json["transmitted"].as_u64().unwrap());
    assert_eq!(sent[0].0, T0, "first bubble at once");
    assert!(sent.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(sent.last().unwrap().0 > T0 && sent.last().unwrap().0 <= T0 + 10_000_000_000);
}

#[test]
fn dropped_frames_go_to_drops_file() {
    let dir = TempDir::new("drops");
    let input = dir.path("in.pcap");
    // S4-05: the embedded IPv4 (192.0.2.1) differs from the outer source.
    let spoofed = {
        let f = sixto4_frame(1);
        let mut inner = f[34..].to_vec();
        inner[8 + 5] = 0x09; // 2002:c000:0209::1
        ipv4_frame(41, [192, 0, 2, 1], [192, 88, 99, 1], &inner)
    };
    fs::write(&input, pcap_bytes(1, &[(T0, spoofed.clone())])).unwrap();
    let (out, drops) = (dir.path("out.pcap"), dir.path("drops.pcap"));
    let o = xrelayctl(&[
        "translate",
        "--in",
        p(&input),
        "--out",
        p(&out),
        "--drops",
        p(&drops),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["dropped"], 1, "{json}");
    assert_eq!(json["drops"]["s4_05_spoofed_6to4_source"], 1, "{json}");
    assert!(read_capture(&out).unwrap().is_empty());
    assert_eq!(read_capture(&drops).unwrap(), vec![(T0, spoofed)]);
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let dir = TempDir::new("badconfig");
    let cfg = dir.path("relay.toml");
    fs::write(&cfg, "[sixto4]\nenabled = true\n").unwrap();
    let o = xrelayctl(&["config", "check", p(&cfg)]);
    assert_fails_with(&o, &[p(&cfg), "sixto4.unicast_addr", "RFC 3068"]);

    let input = dir.path("in.pcap");
    fs::write(&input, pcap_bytes(1, &[(T0, sixto4_frame(1))])).unwrap();
    let out = dir.path("out.pcap");
    let o = xrelayctl(&[
        "translate",
        "--in",
        p(&input),
        "--out",
        p(&out),
        "--config",
        p(&cfg),
    ]);
    assert_fails_with(&o, &[p(&cfg), "sixto4.unicast_addr"]);

    fs::write(&cfg, "[teredo]\nenabeld = true\n").unwrap();
    let o = xrelayctl(&["config", "check", p(&cfg)]);
    assert_fails_with(&o, &[p(&cfg), "line 2", "teredo.enabeld", "unknown field"]);

    fs::write(&cfg, LAB_CONFIG).unwrap();
    let o = xrelayctl(&["config", "check", p(&cfg)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{}: ok\n", p(&cfg))
    );
}

#[test]
fn config_show_prints_a_loadable_config() {
    let o = xrelayctl(&["config", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let shown = Config::from_toml_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(shown, Config::from_toml_str(LAB_CONFIG).unwrap());
}

#[test]
fn missing_input_exits_2_naming_the_file() {
    let dir = TempDir::new("missing");
    let input = dir.path("nope.pcap");
    let out = dir.path("out.pcap");
    let o = xrelayctl(&["translate", "--in", p(&input), "--out", p(&out)]);
    assert_fails_with(&o, &[p(&input)]);
    assert!(!out.exists(), "no output for a missing input");

    let o = xrelayctl(&["config", "check", p(&dir.path("nope.toml"))]);
    assert_fails_with(&o, &["nope.toml"]);
}

#[test]
fn truncated_pcap_exits_2_naming_the_frame() {
    let dir = TempDir::new("truncated");
    let input = dir.path("cut.pcap");
    let frames: Vec<_> = (0..3).map(|i| (T0 + i, sixto4_frame(i as u16))).collect();
    let mut bytes = pcap_bytes(1, &frames);
    bytes.truncate(bytes.len() - 10);
    fs::write(&input, &bytes).unwrap();
    let out = dir.path("out.pcap");
    let o = xrelayctl(&["translate", "--in", p(&input), "--out", p(&out)]);
    assert_fails_with(&o, &[&format!("{}: frame 3: truncated record", p(&input))]);

    // A record header cut short is the same error.
    bytes.truncate(24 + 2 * (16 + frames[0].1.len()) + 5);
    fs::write(&input, &bytes).unwrap();
    let e = read_capture(&input).unwrap_err();
    assert!(matches!(e, PcapIoError::Record { frame: 3, .. }), "{e}");
}

#[test]
fn not_a_capture_exits_2() {
    let dir = TempDir::new("garbage");
    let input = dir.path("notes.txt");
    fs::write(&input, "this is not a capture\n").unwrap();
    let o = xrelayctl(&[
        "translate",
        "--in",
        p(&input),
        "--out",
        p(&dir.path("o.pcap")),
    ]);
    assert_fails_with(&o, &[p(&input), "not a pcap or pcapng"]);
    fs::write(&input, "").unwrap();
    let o = xrelayctl(&[
        "translate",
        "--in",
        p(&input),
        "--out",
        p(&dir.path("o.pcap")),
    ]);
    assert_fails_with(&o, &[p(&input), "empty"]);
}

#[test]
fn unknown_link_type_exits_2() {
    let dir = TempDir::new("linktype");
    let input = dir.path("wifi.pcap");
    fs::write(&input, pcap_bytes(105, &[(T0, vec![0u8; 40])])).unwrap();
    let o = xrelayctl(&[
        "translate",
        "--in",
        p(&input),
        "--out",
        p(&dir.path("o.pcap")),
    ]);
    assert_fails_with(&o, &[p(&input), "link type 105", "IEEE802_11"]);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let o = xrelayctl(&["translate", "--in", "x.pcap"]);
    assert_fails_with(&o, &["--out"]);
    let o = xrelayctl(&["frobnicate"]);
    assert_fails_with(&o, &["frobnicate"]);
    let o = xrelayctl(&[]);
    assert_fails_with(&o, &["command is required"]);
    let o = xrelayctl(&[
        "translate",
        "--in",
        "a",
        "--out",
        "b",
        "--ts-precision",
        "pico",
    ]);
    assert_fails_with(&o, &["pico"]);
    let o = xrelayctl(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
}

/// A pcapng with two interfaces: Ethernet with nanosecond timestamps and raw
/// IPv6 with the default microsecond ones.
fn write_pcapng(path: &Path, frames: &[(u32, u64, Vec<u8>)]) {
    let mut w = PcapNgWriter::new(fs::File::create(path).unwrap()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![InterfaceDescriptionOption::IfTsResol(9)],
    })
    .unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::IPV6,
        snaplen: 0,
        options: vec![],
    })
    .unwrap();
    for (iface, raw_ts, data) in frames {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: *iface,
            timestamp: Duration::from_nanos(*raw_ts),
            original_len: data.len() as u32,
            data: Cow::Borrowed(data),
            options: vec![],
        })
        .unwrap();
    }
}

#[test]
fn pcapng_input_is_read() {
    let dir = TempDir::new("pcapng");
    let input = dir.path("in.pcapng");
    let v6 = {
        let mut b = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            1,
        )
        .icmpv6_echo_request(1, 1)
        .write(&mut b, &[])
        .unwrap();
        b
    };
    write_pcapng(
        &input,
        &[
            (0, T0, sixto4_frame(1)),
            (1, T0 / 1000 + 5, v6.clone()),
            (0, T0 + 7_000, sixto4_frame(2)),
        ],
    );
    let frames = read_capture(&input).unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0], (T0, sixto4_frame(1)));
    assert_eq!(frames[1].0, T0 + 5_000);
    assert_eq!(&frames[1].1[..6], &SYNTH_DST_MAC);
    assert_eq!(&frames[1].1[6..12], &SYNTH_SRC_MAC);
    assert_eq!(&frames[1].1[12..14], &[0x86, 0xdd]);
    assert_eq!(&frames[1].1[14..], &v6[..]);
    assert_eq!(frames[2].0, T0 + 7_000);

    let out = dir.path("out.pcap");
    let o = xrelayctl(&[
        "translate",
        "--in",
        p(&input),
        "--out",
        p(&out),
        "--json",
        "--ts-precision",
        "nano",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["frames_in"], 3, "{json}");
    assert_eq!(json["transmitted"], 2, "{json}");
    let sent = read_capture(&out).unwrap();
    assert_eq!(
        sent.iter().map(|f| f.0).collect::<Vec<_>>(),
        [T0, T0 + 7_000]
    );
}

#[test]
fn pcapio_round_trip() {
    let dir = TempDir::new("roundtrip");
    let frames: Vec<(u64, Vec<u8>)> = (0..5u64)
        .map(|i| (T0 + i * 1_234_567, sixto4_frame(i as u16)))
        .chain([
            (T0 + 9_000_000_000, vec![0xff; 60]),
            (T0 + 9_000_000_001, vec![1, 2, 3]),
        ])
        .collect();
    for (name, precision) in [
        ("nano.pcap", TsPrecision::Nano),
        ("micro.pcap", TsPrecision::Micro),
    ] {
        let path = dir.path(name);
        let mut w = PcapOut::create(&path, precision).unwrap();
        for (ts, f) in &frames {
            w.write(*ts, f).unwrap();
        }
        assert_eq!(w.finish().unwrap(), frames.len() as u64);
        let mut r = CaptureReader::open(&path).unwrap();
        let back: Vec<_> = r.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(r.frames_read(), frames.len() as u64);
        let want: Vec<_> = match precision {
            TsPrecision::Nano => frames.clone(),
            TsPrecision::Micro => frames
                .iter()
                .map(|(t, f)| (t - t % 1000, f.clone()))
                .collect(),
        };
        assert_eq!(back, want, "{name}");
    }
}

#[test]
fn link_types_become_ethernet() {
    let v4 = sixto4_frame(1)[14..].to_vec();
    for lt in [101, 228] {
        let f = to_ethernet(lt, &v4).unwrap();
        assert_eq!(&f[..14], &[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 8, 0]);
        assert_eq!(&f[14..], &v4[..]);
    }
    assert!(to_ethernet(101, &[0x50; 20])
        .unwrap_err()
        .contains("version 5"));
    assert!(to_ethernet(101, &[]).is_err());

    // Linux cooked: unicast to us from 02:00:00:00:04:02, protocol IPv4.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 4, 2, 0, 0, 8, 0];
    sll.extend_from_slice(&v4);
    let f = to_ethernet(113, &sll).unwrap();
    assert_eq!(&f[..14], &[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 4, 2, 8, 0]);
    assert_eq!(&f[14..], &v4[..]);
    sll[1] = 1; // broadcast
    assert_eq!(&to_ethernet(113, &sll).unwrap()[..6], &[0xff; 6]);
    assert!(to_ethernet(113, &sll[..10]).is_err());

    // SLL2 carries the same fields in another order.
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 4, 2, 0, 0,
    ];
    sll2.extend_from_slice(&[0x60; 40]);
    let f = to_ethernet(276, &sll2).unwrap();
    assert_eq!(&f[..14], &[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 4, 2, 0x86, 0xdd]);

    let dir = TempDir::new("sll");
    let input = dir.path("sll.pcap");
    sll[1] = 0;
    fs::write(&input, pcap_bytes(113, &[(T0, sll)])).unwrap();
    let frames = read_capture(&input).unwrap();
    let mut want = sixto4_frame(1);
    want[..6].copy_from_slice(&SYNTH_DST_MAC);
    assert_eq!(frames, vec![(T0, want)]);
}

/// Every TOML example in docs/config.md is a valid relay.toml.
#[test]
fn docs_examples_are_valid() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let text = fs::read_to_string(&doc).unwrap();
    let mut examples = 0;
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").unwrap();
        Config::from_toml_str(&body[..end])
            .unwrap_or_else(|e| panic!("example {}: {e}", examples + 1));
        examples += 1;
        rest = &body[end + 3..];
    }
    assert!(examples >= 2, "found {examples} examples");
}
