//! Shared by the BGP tests (bgp.rs, bgp_exabgp.rs, bgp_ecmp.rs,
//! bgp_frr.rs): BIRD 2 and FRR processes in the lab's namespaces, their
//! configurations, and the relay.toml with an `[announce]` section.
//!
//! Every BIRD runs in the foreground (`bird -f`) as a child of the lab
//! (killed by PID on drop), with its configuration, control socket and
//! log in the lab directory. ASNs are private: the relays 65001/65002,
//! the neighbour 65000.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lab::{self, Lab};

pub const NEIGHBOUR_AS: u32 = 65000;
pub const ANYCAST: &str = "192.88.99.0/24";
pub const SIXTO4: &str = "2002::/16";
pub const TEREDO: &str = "2001::/32";

/// The dataplane binary when the BGP tests can run here; else prints why
/// (root, the XDP object, BIRD, and `more`) and returns None.
pub fn prerequisites(more: Option<String>) -> Option<PathBuf> {
    if let Some(why) = lab::skip_reason().or_else(bird_missing).or(more) {
        println!("skipped: {why}");
        return None;
    }
    Some(lab::dataplane_bin())
}

/// All three prefixes of the lab relay are in `r`.
pub fn has_all(r: &BTreeSet<String>) -> bool {
    [ANYCAST, SIXTO4, TEREDO].iter().all(|p| r.contains(*p))
}

/// None of them is.
pub fn has_none(r: &BTreeSet<String>) -> bool {
    [ANYCAST, SIXTO4, TEREDO].iter().all(|p| !r.contains(*p))
}

/// The neighbour router of a one-relay lab (BIRD `bird-neighbour` in the
/// peer namespace, sessions to the relay over both links, AS 65001).
pub fn start_neighbour(lab: &mut Lab) -> Bird {
    let ns = lab.peer_ns.clone();
    let conf = neighbour_bird(
        lab::PEER_V4,
        &[
            ("relay4", lab::PEER_V4, lab::RELAY_V4, 65001, "ipv4"),
            ("relay6", lab::PEER_V6, lab::RELAY_V6, 65001, "ipv6"),
        ],
        false,
    );
    start_bird(lab, "bird-neighbour", &ns, &conf)
}

/// Why BIRD cannot be used here, if it cannot.
pub fn bird_missing() -> Option<String> {
    for tool in ["bird", "birdc"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} not found (apt-get install bird2)"));
        }
    }
    None
}

/// A running BIRD.
#[derive(Debug)]
pub struct Bird {
    pub name: String,
    pub sock: PathBuf,
    pub pid: u32,
}

/// Starts BIRD named `name` in `ns` with `conf`; waits (≤ 10 s) for its
/// control socket.
pub fn start_bird(lab: &mut Lab, name: &str, ns: &str, conf: &str) -> Bird {
    let conf_path = lab.write_config(&format!("{name}.conf"), conf);
    let sock = lab.path(&format!("{name}.ctl"));
    let log = std::fs::File::create(lab.path(&format!("{name}.log"))).expect("bird log");
    let child = lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", ns, "bird", "-f", "-c"])
            .arg(&conf_path)
            .arg("-s")
            .arg(&sock)
            .arg("-P")
            .arg(lab.path(&format!("{name}.pid")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
    );
    let pid = child.id();
    let bird = Bird {
        name: name.into(),
        sock,
        pid,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while bird.birdc(&["show", "status"]).is_none() {
        assert!(
            Instant::now() < deadline,
            "bird {name} did not answer in 10 s: {}",
            std::fs::read_to_string(lab.path(&format!("{name}.log"))).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    bird
}

impl Bird {
    /// `birdc -s SOCK ARGS`, None when it fails.
    pub fn birdc(&self, args: &[&str]) -> Option<String> {
        let o = Command::new("timeout")
            .args(["5", "birdc", "-s"])
            .arg(&self.sock)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        (o.status.success() && !text.contains("Unable to connect")).then_some(text)
    }

    /// The prefixes of `show route` (every table).
    pub fn routes(&self) -> BTreeSet<String> {
        self.birdc(&["show", "route"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.contains('/'))
            .map(str::to_owned)
            .collect()
    }

    /// Waits (≤ `limit`) until `pred(routes)`; returns how long it took.
    pub fn wait(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&BTreeSet<String>) -> bool,
    ) -> Duration {
        let t0 = Instant::now();
        loop {
            let r = self.routes();
            if pred(&r) {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < limit,
                "{}: {what} not within {limit:?}; routes now {r:?}; protocols:\n{}",
                self.name,
                self.birdc(&["show", "protocols"]).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Timers short enough for a test: a session comes up within seconds of
/// both ends starting, in whatever order.
const TIMERS: &str =
    "hold time 3; connect delay time 1; connect retry time 1; error wait time 1, 2;";

/// A relay's BIRD: learns the announced routes from the kernel table
/// (kernel backend: `table`/`proto` of relay.toml's `[announce]`) and
/// exports them over eBGP, IPv4 on the v4 link and IPv6 on the v6 link.
/// `router_id` and the local addresses are the relay's.
pub fn relay_bird_kernel(
    router_id: &str,
    asn: u32,
    v4: (&str, &str),
    v6: (&str, &str),
    table: u32,
) -> String {
    format!(
        r#"log stderr all;
router id {router_id};
protocol device {{ scan time 10; }}
# The relay's announced set: routes of protocol {table} in table {table}
# (xrelayctl daemon, announce.backend = "kernel"). Learned, never exported.
protocol kernel xrelay4 {{
  kernel table {table};
  learn;
  scan time 10;
  ipv4 {{ import where krt_source = {table}; export none; }};
}}
protocol kernel xrelay6 {{
  kernel table {table};
  learn;
  scan time 10;
  ipv6 {{ import where krt_source = {table}; export none; }};
}}
{}"#,
        sessions(
            asn,
            &[
                ("up4", v4.0, v4.1, NEIGHBOUR_AS, "ipv4"),
                ("up6", v6.0, v6.1, NEIGHBOUR_AS, "ipv6")
            ],
            "import none; export where proto = \"xrelay4\" || proto = \"xrelay6\";"
        )
    )
}

/// BGP sessions: (name, local address, neighbour address, neighbour AS,
/// channel) with `filters` in each channel.
pub fn sessions(asn: u32, s: &[(&str, &str, &str, u32, &str)], filters: &str) -> String {
    s.iter()
        .map(|(name, local, peer, peer_as, ch)| {
            format!(
                "protocol bgp {name} {{\n  local {local} as {asn};\n  neighbor {peer} as {peer_as};\n  {TIMERS}\n  {ch} {{ {filters} }};\n}}\n"
            )
        })
        .collect()
}

/// The neighbour router: accepts everything from the relays; with
/// `kernel`, installs the best routes in its kernel (ECMP over the relays
/// with `merge paths`).
pub fn neighbour_bird(
    router_id: &str,
    s: &[(&str, &str, &str, u32, &str)],
    kernel: bool,
) -> String {
    let k = if kernel {
        "protocol kernel k4 { merge paths on; ipv4 { import none; export all; }; }\n\
         protocol kernel k6 { merge paths on; ipv6 { import none; export all; }; }\n"
    } else {
        ""
    };
    format!(
        "log stderr all;\nrouter id {router_id};\nprotocol device {{ scan time 10; }}\n{k}{}",
        sessions(NEIGHBOUR_AS, s, "import all; export none;")
    )
}

/// A relay.toml (`base`, e.g. `Lab::config()`) with `[announce]`.
pub fn relay_toml(base: &str, backend: &str, hold_down: u32) -> String {
    format!(
        "{base}\n[announce]\nbackend = \"{backend}\"\nhold_down = {hold_down}\nprobe_v4 = \"192.0.2.1\"\nprobe_v6 = \"2001:db8::1\"\n"
    )
}

/// Default routes of the relay namespace through the peer (the next hops
/// the health check probes for).
pub fn default_routes(lab: &Lab) {
    lab.ns(
        &lab.relay_ns,
        &format!(
            "ip route add default via {} dev {} && ip -6 route add default via {} dev {}",
            lab::PEER_V4,
            lab.r4,
            lab::PEER_V6,
            lab.r6
        ),
    );
}

/// The announced set of the kernel backend in the relay namespace:
/// `ip route show table T` of both families.
pub fn kernel_table(lab: &Lab, table: u32) -> String {
    lab.ns(
        &lab.relay_ns,
        &format!("ip route show table {table}; ip -6 route show table {table}"),
    )
}

/// The prefix set of a status, by state.
pub fn states(lab: &Lab) -> Vec<(String, String)> {
    lab.try_status()
        .and_then(|s| s.announce)
        .map(|a| {
            a.prefixes
                .into_iter()
                .map(|p| (p.prefix, p.state.name().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every daemon log of the lab (`daemon<N>.log`), concatenated.
pub fn daemon_logs(lab: &Lab) -> String {
    let mut names: Vec<PathBuf> = std::fs::read_dir(&lab.dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("daemon") && n.ends_with(".log"))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// FRR's daemons (Debian's frr package).
pub const FRR_DIR: &str = "/usr/lib/frr";

/// Why FRR cannot be used here, if it cannot.
pub fn frr_missing() -> Option<String> {
    for d in ["zebra", "bgpd"] {
        if !std::path::Path::new(FRR_DIR).join(d).exists() {
            return Some(format!("{FRR_DIR}/{d} not found (apt-get install frr)"));
        }
    }
    lab::tool_missing(&[("vtysh", "frr")])
}

/// Whether this FRR's zebra accepts the configuration line `line` (dry
/// run, `zebra -C`; FRR reports unknown commands but exits 0).
pub fn frr_zebra_accepts(dir: &std::path::Path, line: &str) -> bool {
    let conf = dir.join("zebra-probe.conf");
    std::fs::write(&conf, format!("{line}\n")).expect("zebra probe conf");
    let o = Command::new(format!("{FRR_DIR}/zebra"))
        .args(["-C", "-u", "frr", "-g", "frr", "-f"])
        .arg(&conf)
        .output()
        .expect("zebra -C");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.status.success() && !text.contains("No such command") && !text.contains("Unknown command")
}

/// A running FRR (zebra + bgpd) in a namespace: configuration, PID files,
/// the vty sockets and zebra's API socket in its own directory (owned by
/// the frr user, whose group frrvty the daemons require).
#[derive(Debug)]
pub struct Frr {
    pub dir: PathBuf,
    pub pids: Vec<u32>,
}

/// Starts zebra with `zebra_conf`, then bgpd with `bgpd_conf`, in `ns`,
/// in the foreground as children of the lab (killed by PID on drop), with
/// no TCP vty (`-P 0`); waits (≤ 10 s) until both answer vtysh.
pub fn start_frr(lab: &mut Lab, ns: &str, zebra_conf: &str, bgpd_conf: &str) -> Frr {
    let dir = lab.path("frr");
    std::fs::create_dir_all(&dir).expect("frr dir");
    lab::ok(Command::new("chown").arg("frr:frr").arg(&dir));
    let api = dir.join("zserv.api");
    let mut frr = Frr {
        dir: dir.clone(),
        pids: Vec::new(),
    };
    for (d, conf) in [("zebra", zebra_conf), ("bgpd", bgpd_conf)] {
        let conf_path = dir.join(format!("{d}.conf"));
        std::fs::write(&conf_path, conf).expect("frr conf");
        let log = std::fs::File::create(dir.join(format!("{d}.log"))).expect("frr log");
        let child = lab.spawn(
            Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(format!("{FRR_DIR}/{d}"))
                .args(["-u", "frr", "-g", "frr", "-P", "0", "--log", "stdout", "-f"])
                .arg(&conf_path)
                .arg("-i")
                .arg(dir.join(format!("{d}.pid")))
                .arg("--vty_socket")
                .arg(&dir)
                .arg("-z")
                .arg(&api)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log),
        );
        frr.pids.push(child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while frr.vtysh(d, "show version").is_none() {
            assert!(
                Instant::now() < deadline,
                "FRR {d} did not answer in 10 s: {}",
                frr.log(d)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    frr
}

impl Frr {
    /// `vtysh -d DAEMON -c CMD` on this instance's vty sockets, None when
    /// it fails.
    pub fn vtysh(&self, daemon: &str, cmd: &str) -> Option<String> {
        let o = Command::new("timeout")
            .args(["5", "vtysh", "--vty_socket"])
            .arg(&self.dir)
            .args(["-d", daemon, "-c", cmd])
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// A daemon's log (stdout and stderr).
    pub fn log(&self, daemon: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{daemon}.log"))).unwrap_or_default()
    }
}

/// SIGKILL of the relay's dataplane (the daemon's child): asserts that
/// the neighbour `nb` drops the prefixes (`gone`) within 2 s and gets them
/// back (`back`) only after `hold_down` seconds, printing both times.
pub fn kill_dataplane_withdraws(
    lab: &mut Lab,
    nb: &Bird,
    hold_down: u32,
    what: &str,
    gone_when: impl Fn(&BTreeSet<String>) -> bool,
    back_when: impl Fn(&BTreeSet<String>) -> bool,
) {
    let st = lab.status();
    let dp = st.dataplane.pid.expect("dataplane pid");
    lab::ok(Command::new("kill").args(["-KILL", &dp.to_string()]));
    let t0 = Instant::now();
    let gone = nb.wait(
        "withdrawal after SIGKILL",
        Duration::from_secs(5),
        gone_when,
    );
    println!(
        "[{:5.1}s] SIGKILL of dataplane pid {dp}: the neighbour lost {what} after {} ms",
        lab.elapsed(),
        gone.as_millis()
    );
    assert!(gone <= Duration::from_secs(2), "withdrawal took {gone:?}");
    let healthy_at = lab::wait_for("healthy after the restart", Duration::from_secs(20), || {
        lab.try_status()
            .filter(|s| s.dataplane.healthy && s.dataplane.pid != Some(dp))
            .map(|_| t0.elapsed())
    });
    nb.wait(
        "return after the restart",
        Duration::from_secs(20),
        back_when,
    );
    let back = t0.elapsed();
    println!(
        "[{:5.1}s] dataplane healthy {} ms after the kill; prefixes back at the neighbour {} ms after the kill (hold-down {hold_down} s)",
        lab.elapsed(),
        healthy_at.as_millis(),
        back.as_millis()
    );
    assert!(
        back >= Duration::from_secs(u64::from(hold_down)),
        "back after {back:?}, before the hold-down"
    );
}
