use super::*;
/// The key named by the error `toml` produces, or `None` when it is accepted.
fn rejected_key(toml: &str) -> Option<String> {
    Config::from_toml_str(toml)
        .err()
        .and_then(|e| e.key().map(str::to_owned))
}

fn message(toml: &str) -> String {
    Config::from_toml_str(toml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

macro_rules! rejects {
    ($($name:ident: $toml:expr => $key:expr;)*) => {$(
        #[test]
        fn $name() {
            let toml: &str = $toml;
            assert_eq!(rejected_key(toml).as_deref(), Some($key), "{toml}");
            let msg = message(toml);
            assert!(!msg.contains('\n'), "one line: {msg}");
            assert!(msg.starts_with(&format!("relay.toml: {}: ", $key)), "{msg}");
        }
    )*};
}

macro_rules! accepts {
    ($($name:ident: $toml:expr;)*) => {$(
        #[test]
        fn $name() -> Result<(), ConfigError> {
            Config::from_toml_str($toml).map(drop)
        }
    )*};
}

const S4: &str = "[sixto4]\nenabled = true\nunicast_addr = \"203.0.113.4\"\n";
const TEREDO: &str = "[teredo]\nenabled = true\naddr = \"203.0.113.5\"\n";
const SIXRD: &str = "[sixto4]\nenabled = true\nunicast_addr = \"203.0.113.4\"\nmode = \"6rd\"\n[sixto4.sixrd]\nbr_addr = \"203.0.113.4\"\n";

rejects! {
    sixto4_enabled_requires_unicast_addr: "[sixto4]\nenabled = true" => "sixto4.unicast_addr";
    tunnel_mtu_below_1280: &format!("{S4}tunnel_mtu = 1279") => "sixto4.tunnel_mtu";
    tunnel_mtu_above_1480: &format!("{S4}tunnel_mtu = 1481") => "sixto4.tunnel_mtu";
    tunnel_mtu_above_v4_link: &format!("{S4}tunnel_mtu = 1400\n[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu = 1400") => "sixto4.tunnel_mtu";
    sixto4_ttl_zero: &format!("{S4}ttl = 0") => "sixto4.ttl";
    sixrd_mode_requires_sixrd: &format!("{S4}mode = \"6rd\"") => "sixto4.sixrd";
    sixrd_too_many_bits: &format!("{SIXRD}prefix = \"2001:db8::/100\"\nipv4_mask_len = 0") => "sixto4.sixrd.prefix";
    sixrd_mask_len_above_32: &format!("{SIXRD}prefix = \"2001:db8::/32\"\nipv4_mask_len = 33") => "sixto4.sixrd.ipv4_mask_len";
    sixrd_inside_6to4: &format!("{SIXRD}prefix = \"2002:db8::/32\"\nipv4_mask_len = 8") => "sixto4.sixrd.prefix";
    sixrd_covers_6to4: &format!("{SIXRD}prefix = \"2000::/3\"\nipv4_mask_len = 8") => "sixto4.sixrd.prefix";
    sixrd_br_addr_loopback: "[sixto4]\nmode = \"6rd\"\n[sixto4.sixrd]\nprefix = \"2001:db8::/32\"\nipv4_mask_len = 8\nbr_addr = \"127.0.0.1\"" => "sixto4.sixrd.br_addr";
    teredo_enabled_requires_addr: "[teredo]\nenabled = true" => "teredo.addr";
    teredo_mtu_below_1280: &format!("{TEREDO}mtu = 1279") => "teredo.mtu";
    teredo_mtu_above_v4_link: &format!("{TEREDO}mtu = 1480") => "teredo.mtu";
    teredo_port_zero: &format!("{TEREDO}port = 0") => "teredo.port";
    teredo_server_port_zero: "[teredo]\nserver_port = 0" => "teredo.server_port";
    queue_pkts_zero: "[teredo]\nqueue_pkts = 0" => "teredo.queue_pkts";
    queue_bytes_below_one_packet: "[teredo]\nqueue_bytes = 1279" => "teredo.queue_bytes";
    queue_total_below_queue: "[teredo]\nqueue_bytes = 4000\nqueue_total_bytes = 3999" => "teredo.queue_total_bytes";
    peer_capacity_zero: "[teredo]\npeer_capacity = 0" => "teredo.peer_capacity";
    peer_capacity_above_2_24: "[teredo]\npeer_capacity = 16777217" => "teredo.peer_capacity";
    peer_idle_evict_zero: "[teredo]\npeer_idle_evict = 0" => "teredo.peer_idle_evict";
    new_peer_rate_zero: "[teredo]\nnew_peer_rate = 0" => "teredo.new_peer_rate";
    new_peer_burst_zero: "[teredo]\nnew_peer_burst = 0" => "teredo.new_peer_burst";
    bubble_key_not_hex: "[teredo]\nbubble_key = \"00112233445566778899aabbccddeeXX\"" => "teredo.bubble_key";
    bubble_key_short: "[teredo]\nbubble_key = \"0011\"" => "teredo.bubble_key";
    ptb_rate_zero: "[icmp6]\nptb_rate = 0" => "icmp6.ptb_rate";
    err_rate_zero: "[icmp6]\nerr_rate = 0" => "icmp6.err_rate";
    echo_rate_zero: "[icmp6]\necho_rate = 0" => "icmp6.echo_rate";
    ptb_burst_zero: "[icmp6]\nptb_burst = 0" => "icmp6.ptb_burst";
    err_burst_zero: "[icmp6]\nerr_burst = 0" => "icmp6.err_burst";
    echo_burst_zero: "[icmp6]\necho_burst = 0" => "icmp6.echo_burst";
    icmp6_hop_limit_zero: "[icmp6]\nhop_limit = 0" => "icmp6.hop_limit";
    reassembly_max_below_1500: "[ipv4]\nreassembly_max = 1499" => "ipv4.reassembly_max";
    reassembly_max_above_65535: "[ipv4]\nreassembly_max = 65536" => "ipv4.reassembly_max";
    reassembly_timeout_zero: "[ipv4]\nreassembly_timeout = 0" => "ipv4.reassembly_timeout";
    reassembly_entries_zero: "[ipv4]\nreassembly_entries = 0" => "ipv4.reassembly_entries";
    reassembly_per_source_zero: "[ipv4]\nreassembly_per_source = 0" => "ipv4.reassembly_per_source";
    teredo_ttl_zero: "[ipv4]\nteredo_ttl = 0" => "ipv4.teredo_ttl";
    slow_queue_zero: "[engine]\nslow_queue = 0" => "engine.slow_queue";
    unicast_addr_this_network: "[sixto4]\nunicast_addr = \"0.1.2.3\"" => "sixto4.unicast_addr";
    unicast_addr_loopback: "[sixto4]\nunicast_addr = \"127.0.0.1\"" => "sixto4.unicast_addr";
    unicast_addr_multicast: "[sixto4]\nunicast_addr = \"224.0.0.1\"" => "sixto4.unicast_addr";
    unicast_addr_reserved: "[sixto4]\nunicast_addr = \"255.255.255.255\"" => "sixto4.unicast_addr";
    extra_addr_multicast: "[sixto4]\nextra_addrs = [\"198.51.100.1\", \"239.1.2.3\"]" => "sixto4.extra_addrs";
    return_source_reserved: "[sixto4]\nreturn_source = \"240.0.0.1\"" => "sixto4.return_source";
    teredo_addr_loopback: "[teredo]\naddr = \"127.0.0.2\"" => "teredo.addr";
    native_addr_unspecified: "[relay]\nnative_addr = \"::\"" => "relay.native_addr";
    native_addr_loopback: "[relay]\nnative_addr = \"::1\"" => "relay.native_addr";
    native_addr_link_local: "[relay]\nnative_addr = \"fe80::1\"" => "relay.native_addr";
    native_addr_multicast: "[relay]\nnative_addr = \"ff02::1\"" => "relay.native_addr";
    native_addr_6to4: "[relay]\nnative_addr = \"2002:cb00:7104::1\"" => "relay.native_addr";
    native_addr_teredo: "[relay]\nnative_addr = \"2001:0:4136:e378::1\"" => "relay.native_addr";
    managed_prefix_multicast: "[relay]\nmanaged_prefixes = [\"2001:db8:1::/48\", \"ff0e::/16\"]" => "relay.managed_prefixes";
    managed_prefix_link_local: "[relay]\nmanaged_prefixes = [\"fe80::/64\"]" => "relay.managed_prefixes";
    managed_prefix_everything: "[relay]\nmanaged_prefixes = [\"::/0\"]" => "relay.managed_prefixes";
    v4_mtu_below_1280: "[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu = 1279" => "interfaces.v4.mtu";
    v6_mtu_below_1280: "[interfaces.v6]\nname = \"b\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu = 1000" => "interfaces.v6.mtu";
    vlan_zero: "[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nvlan = 0" => "interfaces.v4.vlan";
    vlan_4095: "[interfaces.v6]\nname = \"b\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nvlan = 4095" => "interfaces.v6.vlan";
    interface_name_too_long: "[interfaces.v4]\nname = \"a-very-long-name0\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"" => "interfaces.v4.name";
    two_armed_same_name: "[interfaces.v4]\nname = \"eth0\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n[interfaces.v6]\nname = \"eth0\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"" => "interfaces.v6.name";
    return_source_not_own: &format!("{S4}return_source = \"203.0.113.9\"") => "sixto4.return_source";
    return_source_anycast_without_anycast: &format!("{S4}return_source = \"192.88.99.1\"") => "sixto4.return_source";
    dataplane_queues_zero: "[dataplane]\nqueues = 0" => "dataplane.queues";
    dataplane_queues_above_256: "[dataplane]\nqueues = 257" => "dataplane.queues";
    dataplane_batch_zero: "[dataplane]\nbatch = 0" => "dataplane.batch";
    dataplane_batch_above_1024: "[dataplane]\nbatch = 1025\nring_size = 4096" => "dataplane.batch";
    dataplane_batch_above_ring: "[dataplane]\nbatch = 128\nring_size = 64" => "dataplane.batch";
    dataplane_ring_not_power_of_two: "[dataplane]\nring_size = 1000" => "dataplane.ring_size";
    dataplane_ring_too_small: "[dataplane]\nring_size = 32" => "dataplane.ring_size";
    dataplane_ring_too_large: "[dataplane]\nring_size = 32768" => "dataplane.ring_size";
    dataplane_frame_size_3000: "[dataplane]\nframe_size = 3000" => "dataplane.frame_size";
    dataplane_headroom_too_small: "[dataplane]\nheadroom = 16" => "dataplane.headroom";
    dataplane_headroom_no_room_2048: "[dataplane]\nframe_size = 2048\nheadroom = 256" => "dataplane.headroom";
    dataplane_headroom_beyond_chunk: "[dataplane]\nheadroom = 9999" => "dataplane.headroom";
    dataplane_umem_frames_too_few: "[dataplane]\numem_frames = 100" => "dataplane.umem_frames";
    dataplane_core_not_a_cpu: "[dataplane]\ncores = [0, 99999]" => "dataplane.cores";
    dataplane_slow_core_not_a_cpu: "[dataplane]\nslow_core = 99999" => "dataplane.slow_core";
}

accepts! {
    empty_is_valid: "";
    sixto4_with_unicast: S4;
    tunnel_mtu_1280: &format!("{S4}tunnel_mtu = 1280");
    sixrd_exactly_6to4: &format!("{SIXRD}prefix = \"2002::/16\"\nipv4_mask_len = 0");
    sixrd_full_128_bits: &format!("{SIXRD}prefix = \"2001:db8::/96\"\nipv4_mask_len = 0");
    sixrd_return_source_br: "[sixto4]\nenabled = true\nunicast_addr = \"203.0.113.4\"\nmode = \"6rd\"\nreturn_source = \"198.51.100.1\"\n[sixto4.sixrd]\nprefix = \"2001:db8::/32\"\nipv4_mask_len = 8\nbr_addr = \"198.51.100.1\"";
    teredo_with_addr: TEREDO;
    peer_capacity_2_24: "[teredo]\npeer_capacity = 16777216";
    vlan_4094: "[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nvlan = 4094";
    one_armed_same_name: "[interfaces]\none_armed = true\n[interfaces.v4]\nname = \"xr-v6\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"";
    return_source_anycast: &format!("{S4}anycast = true\nreturn_source = \"192.88.99.1\"");
    return_source_extra: &format!("{S4}extra_addrs = [\"198.51.100.7\"]\nreturn_source = \"198.51.100.7\"");
    dataplane_empty_section: "[dataplane]";
    dataplane_two_queues_two_cores: "[dataplane]\nqueues = 2\ncores = [0, 1]\nbind = \"copy\"";
    dataplane_smallest: "[dataplane]\nbatch = 1\nring_size = 64\nframe_size = 2048\nheadroom = 32";
    dataplane_batch_equals_ring: "[dataplane]\nbatch = 1024\nring_size = 1024";
    documentation_ranges_are_relay_addresses: "[sixto4]\nunicast_addr = \"192.0.2.1\"\nextra_addrs = [\"198.51.100.1\", \"10.0.0.1\"]";
}

#[test]
fn empty_toml_gives_defaults() -> Result<(), ConfigError> {
    assert_eq!(Config::from_toml_str("")?, Config::default());
    let d = Config::default();
    assert!(!d.sixto4.enabled && !d.sixto4.anycast && !d.teredo.enabled);
    assert_eq!(d.sixto4.tunnel_mtu, 1480);
    assert_eq!(d.sixto4.df, DfMode::Clear);
    assert_eq!(d.sixto4.tos, TosMode::Copy);
    assert_eq!((d.teredo.port, d.teredo.mtu), (3545, 1280));
    assert_eq!(d.teredo.peer_capacity, 1_048_576);
    assert_eq!((d.teredo.queue_bytes, d.teredo.queue_pkts), (1280, 8));
    assert_eq!((d.icmp6.ptb_rate, d.icmp6.err_rate), (10_000, 1_000));
    assert_eq!(
        (d.ipv4.reassembly_max, d.ipv4.reassembly_timeout),
        (65_535, 30)
    );
    assert!(!d.bogons.extended);
    Ok(())
}

const FULL: &str = r#"
[relay]
native_addr = "2001:db8:1::ff"
ipv4_subnets = ["203.0.113.0/24", "198.51.100.0/25"]
managed_prefixes = ["2001:db8:ffff::/48"]

[interfaces]
one_armed = false
[interfaces.v4]
name = "eth1"
mac = "02:00:00:00:04:01"
next_hop_mac = "02:00:00:00:04:02"
vlan = 100
mtu = 9000
[interfaces.v6]
name = "eth2"
mac = "02:00:00:00:06:01"
next_hop_mac = "02:00:00:00:06:02"
mtu = 1500

[sixto4]
enabled = true
anycast = true
unicast_addr = "203.0.113.4"
extra_addrs = ["203.0.113.6"]
tunnel_mtu = 1400
df = "set"
ttl = 32
tos = 0
return_source = "203.0.113.4"
echo_reply_source = "anycast-unicast"
accept_only_anycast_dst = true
mode = "6rd"
client_allow = ["198.51.100.0/24"]
native_source_allow = ["2001:db8::/32"]
misrouted = "pass"
[sixto4.sixrd]
prefix = "2001:db8::/32"
ipv4_mask_len = 8
br_addr = "203.0.113.4"

[teredo]
enabled = true
addr = "203.0.113.5"
port = 3546
mtu = 1400
honour_cone_bit = true
direct_bubbles = true
accept_unknown_peers = true
symmetric_nat_bubbles = true
bubble_hop_limit = 255
bubble_source = "native"
bubble_key = "00112233445566778899aabbccddeeff"
peer_capacity = 4096
peer_idle_evict = 30
queue_bytes = 4096
queue_pkts = 4
queue_total_bytes = 1048576
new_peer_rate = 10
new_peer_burst = 20
served_exclude = ["2001:db8:dead::/48"]
server_port = 3544

[icmp6]
ptb_rate = 1
ptb_burst = 2
err_rate = 3
err_burst = 4
echo_rate = 5
echo_burst = 6
send_unreachable = false
hop_limit = 255

[icmp4]
translate_errors = false
untrust_teredo_peer = true

[ipv4]
reassembly_max = 9000
reassembly_timeout = 10
reassembly_entries = 16
reassembly_per_source = 4
teredo_ttl = 128

[bogons]
extended = true

[engine]
slow_queue = 128

[dataplane]
cores = [0, 1]
slow_core = 1
queues = 2
batch = 32
ring_size = 1024
frame_size = 2048
headroom = 32
umem_frames = 4096
bind = "copy"
busy_poll = true
next_hops = "static"

[announce]
backend = "kernel"
hold_down = 3
table = 100
protocol = 200
extra_prefixes = ["198.51.100.0/24", "2001:db8:100::/48"]
probe_v4 = "198.51.100.1"
probe_v6 = "2001:db8:2::1"
"#;

#[test]
fn full_example_round_trips() -> Result<(), ConfigError> {
    let cfg = Config::from_toml_str(FULL)?;
    assert_ne!(cfg, Config::default());
    assert_eq!(cfg.interfaces.v4.vlan, Some(100));
    assert_eq!(cfg.sixto4.tos, TosMode::Fixed(0));
    assert_eq!(cfg.sixto4.mode, TunnelMode::SixRd);
    let text = cfg.to_toml_string();
    assert_eq!(Config::from_toml_str(&text)?, cfg, "{text}");
    let defaults = Config::default().to_toml_string();
    assert_eq!(
        Config::from_toml_str(&defaults)?,
        Config::default(),
        "{defaults}"
    );
    Ok(())
}

#[test]
fn tos_forms() -> Result<(), ConfigError> {
    for (v, want) in [
        ("\"copy\"", TosMode::Copy),
        ("\"compat\"", TosMode::Compat),
        ("184", TosMode::Fixed(184)),
    ] {
        let cfg = Config::from_toml_str(&format!("[sixto4]\ntos = {v}"))?;
        assert_eq!(cfg.sixto4.tos, want);
    }
    assert_eq!(
        rejected_key("[sixto4]\ntos = 256").as_deref(),
        Some("sixto4.tos")
    );
    assert!(message("[sixto4]\ntos = 256").contains("\"copy\", \"compat\" or a number 0..=255"));
    Ok(())
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    for (toml, key, line, col) in [
        ("frobnicate = 1", "frobnicate", 1, 1),
        ("[sixto4]\nenabled = false\nunicast = \"203.0.113.4\"", "sixto4.unicast", 3, 1),
        ("[sixto4.sixrd]\nprefix = \"2001:db8::/32\"\nipv4_mask_len = 8\nbr_addr = \"203.0.113.4\"\nbr = 1", "sixto4.sixrd.br", 5, 1),
        ("[interfaces.v4]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nnext_hop_mac = \"02:00:00:00:00:02\"\nmtu_bytes = 1", "interfaces.v4.mtu_bytes", 5, 1),
        ("[teredo_relay]\nenabled = true", "teredo_relay", 1, 2),
    ] {
        assert_eq!(rejected_key(toml).as_deref(), Some(key), "{toml}");
        let msg = message(toml);
        assert!(
            msg.starts_with(&format!("relay.toml: line {line}, column {col}: {key}: unknown field")),
            "{msg}"
        );
        assert!(msg.contains("docs/config.md") && !msg.contains('\n'), "{msg}");
    }
}

#[test]
fn bad_prefix_reports_parse_error() {
    let toml = "[relay]\nmanaged_prefixes = [\n  \"2001:db8::/32\",\n  \"2001:db8:zz::/48\",\n]";
    assert_eq!(
        rejected_key(toml).as_deref(),
        Some("relay.managed_prefixes")
    );
    let want = ParseError::Prefix("2001:db8:zz::/48".into()).to_string();
    let msg = message(toml);
    assert!(
        msg.starts_with("relay.toml: line 2, column 20: relay.managed_prefixes: "),
        "{msg}"
    );
    assert!(msg.ends_with(&want), "{msg}");

    let toml =
        "[sixto4.sixrd]\nprefix = \"2001:db8::1/32\"\nipv4_mask_len = 8\nbr_addr = \"203.0.113.4\"";
    let want = ParseError::HostBits("2001:db8::1/32".into(), "2001:db8::/32".into()).to_string();
    assert_eq!(rejected_key(toml).as_deref(), Some("sixto4.sixrd.prefix"));
    assert!(message(toml).ends_with(&want));
    assert!(message("[relay]\nipv4_subnets = [\"203.0.113.0/33\"]")
        .ends_with(&ParseError::Prefix("203.0.113.0/33".into()).to_string()));
}

#[test]
fn type_and_syntax_errors() {
    let toml = "[sixto4]\ntunnel_mtu = \"big\"";
    assert_eq!(rejected_key(toml).as_deref(), Some("sixto4.tunnel_mtu"));
    assert!(
        message(toml).starts_with("relay.toml: line 2, column 14: sixto4.tunnel_mtu: invalid type")
    );
    assert_eq!(
        rejected_key("[teredo]\nport = 70000").as_deref(),
        Some("teredo.port")
    );
    assert_eq!(
        rejected_key("[sixto4]\nunicast_addr = \"1.2.3\"").as_deref(),
        Some("sixto4.unicast_addr")
    );
    assert_eq!(
        rejected_key("[interfaces.v4]\nname = \"a\"").as_deref(),
        Some("interfaces.v4.mac")
    );
    let msg = message("[relay\nnative_addr = \"2001:db8::1\"");
    assert!(
        msg.starts_with("relay.toml: line 1, column 7: invalid table header"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(rejected_key("[relay\n"), None);
}

#[test]
fn messages_name_the_fix() {
    assert_eq!(
        message("[sixto4]\nenabled = true"),
        "relay.toml: sixto4.unicast_addr: required when sixto4.enabled = true; set it to the relay's unicast IPv4 address (RFC 3068 §4.2)"
    );
    assert!(message("[sixto4]\nunicast_addr = \"127.0.0.1\"").contains("127.0.0.0/8 (loopback)"));
    assert!(message("[sixto4]\nunicast_addr = \"0.0.0.1\"").contains("0.0.0.0/8"));
    assert!(message("[sixto4]\nunicast_addr = \"230.0.0.1\"").contains("224.0.0.0/4 (multicast)"));
    assert!(message("[sixto4]\nunicast_addr = \"250.0.0.1\"").contains("240.0.0.0/4 (reserved)"));
    assert!(message("[relay]\nnative_addr = \"2002::1\"").contains("2002::/16"));
    assert!(message(&format!("{S4}return_source = \"203.0.113.9\"")).contains("(203.0.113.4)"));
}

#[test]
fn load_names_the_file() -> Result<(), std::io::Error> {
    let dir = std::env::temp_dir().join(format!("xrelay-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let missing = dir.join("missing.toml");
    let e = Config::load(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.starts_with(&format!("{}: ", missing.display())), "{e}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[teredo]\nenabled = true\n")?;
    let e = Config::load(&bad).err();
    assert_eq!(e.as_ref().and_then(ConfigError::key), Some("teredo.addr"));
    let shown = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        shown.starts_with(&format!("{}: teredo.addr: required", bad.display())),
        "{shown}"
    );

    std::fs::write(&bad, "[teredo]\nenabled = yes\n")?;
    let shown = Config::load(&bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        shown.starts_with(&format!("{}: line 2, column 11: ", bad.display())),
        "{shown}"
    );

    let good = dir.join("good.toml");
    std::fs::write(&good, FULL)?;
    assert!(Config::load(&good).is_ok());
    std::fs::remove_dir_all(&dir)
}

#[test]
fn dataplane_defaults_are_the_command_line_defaults() -> Result<(), ConfigError> {
    let d = Config::from_toml_str("")?.dataplane;
    assert_eq!(d, DataplaneConfig::default());
    assert!(d.cores.is_empty() && d.slow_core.is_none() && d.umem_frames.is_none());
    assert_eq!(
        (d.queues, d.batch, d.ring_size, d.frame_size, d.headroom),
        (1, 64, 2048, 4096, 64)
    );
    assert_eq!(d.umem_frames(), 2 * 2048 + 4 * 64);
    assert_eq!(d.bind, XskBind::Auto);
    assert!(!d.busy_poll);
    assert_eq!(d.next_hops, NextHopSource::Kernel);
    // A key left out keeps its default beside the keys given.
    let d = Config::from_toml_str("[dataplane]\nqueues = 2\ncores = [0, 1]")?.dataplane;
    assert_eq!(
        (d.queues, d.cores.as_slice(), d.batch),
        (2, &[0, 1][..], 64)
    );
    Ok(())
}

#[test]
fn dataplane_full_section() -> Result<(), ConfigError> {
    let d = Config::from_toml_str(FULL)?.dataplane;
    assert_eq!(
        d,
        DataplaneConfig {
            cores: vec![0, 1],
            slow_core: Some(1),
            queues: 2,
            batch: 32,
            ring_size: 1024,
            frame_size: 2048,
            headroom: 32,
            umem_frames: Some(4096),
            bind: XskBind::Copy,
            busy_poll: true,
            next_hops: NextHopSource::Static,
        }
    );
    Ok(())
}

#[test]
fn dataplane_unknown_key_and_bad_enum_are_refused() {
    let toml = "[dataplane]\nrings = 64";
    assert_eq!(rejected_key(toml).as_deref(), Some("dataplane.rings"));
    assert!(!message(toml).contains('\n'), "{}", message(toml));
    for bad in [
        "bind = \"fast\"",
        "next_hops = \"bgp\"",
        "busy_poll = 1",
        "cores = \"0,1\"",
    ] {
        let msg = message(&format!("[dataplane]\n{bad}"));
        assert!(msg.contains("dataplane"), "{bad}: {msg}");
        assert!(!msg.contains('\n'), "{bad}: {msg}");
    }
}

rejects! {
    announce_table_zero: "[announce]\ntable = 0" => "announce.table";
    announce_table_main: "[announce]\ntable = 254" => "announce.table";
    announce_protocol_static: "[announce]\nprotocol = 4" => "announce.protocol";
    announce_hold_down_too_long: "[announce]\nhold_down = 86400" => "announce.hold_down";
    announce_extra_multicast: "[announce]\nextra_prefixes = [\"ff00::/8\"]" => "announce.extra_prefixes";
    announce_extra_v4_multicast: "[announce]\nextra_prefixes = [\"224.0.0.0/24\"]" => "announce.extra_prefixes";
    announce_extra_too_short: "[announce]\nextra_prefixes = [\"0.0.0.0/0\"]" => "announce.extra_prefixes";
}

#[test]
fn announce_defaults_and_full_section() -> Result<(), ConfigError> {
    let d = Config::default().announce;
    assert_eq!(d.backend, AnnounceBackend::None);
    assert_eq!((d.table, d.protocol, d.hold_down), (88, 88, 10));
    let a = Config::from_toml_str(FULL)?.announce;
    assert_eq!(
        a,
        AnnounceConfig {
            backend: AnnounceBackend::Kernel,
            hold_down: 3,
            table: 100,
            protocol: 200,
            extra_prefixes: vec![
                AnyNet::V4("198.51.100.0/24".parse().map_err(|e: ParseError| {
                    ConfigError::Invalid {
                        key: "x".into(),
                        message: e.to_string(),
                    }
                })?),
                AnyNet::V6("2001:db8:100::/48".parse().map_err(|e: ParseError| {
                    ConfigError::Invalid {
                        key: "x".into(),
                        message: e.to_string(),
                    }
                })?),
            ],
            probe_v4: Ipv4Addr::new(198, 51, 100, 1),
            probe_v6: "2001:db8:2::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
        }
    );
    Ok(())
}

#[test]
fn announce_bad_values_name_the_key() {
    for (bad, key) in [
        ("backend = \"bird\"", "announce.backend"),
        (
            "extra_prefixes = [\"192.0.2.1/24\"]",
            "announce.extra_prefixes",
        ),
        ("extra_prefixes = [\"nonsense\"]", "announce.extra_prefixes"),
        ("probe_v4 = \"2001:db8::1\"", "announce.probe_v4"),
        ("hold = 3", "announce.hold"),
    ] {
        let toml = format!("[announce]\n{bad}");
        assert_eq!(rejected_key(&toml).as_deref(), Some(key), "{toml}");
        let msg = message(&toml);
        assert!(!msg.contains('\n'), "{bad}: {msg}");
    }
}
