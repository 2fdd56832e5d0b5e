//! `xrelay-bench compare`: packet rates and one-way latency through the
//! relay in a network-namespace lab, beside reference points measured in
//! the same run on the same topology, frames and cores (see
//! docs/benchmarks.md "Lab packet rates").
//!
//! ```text
//!  core G: generator (BPF_PROG_RUN live frames, XDP_TX)  ─►  relay-side veth RX (NAPI, same core)
//!  core R: subject (xrelay worker | AF_XDP forwarder | miredo | kernel via RPS)  ─►  sink (XDP, counts, drops)
//! ```

pub mod bpf;
pub mod frames;
pub mod fwd;
pub mod report;
pub mod run;
pub mod subject;
pub mod topo;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use frames::{Kind, Side, Template};
use report::{Latency, Record};
use run::{GenOpts, Hosts, Load, Sinks};
use subject::Subject;

/// Packet size of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Fixed(usize),
    /// 7:4:1 of the smallest frame, 590 bytes (a 576-byte IPv4 packet)
    /// and the largest frame of the path.
    Imix,
}

impl Size {
    pub fn label(self) -> String {
        match self {
            Size::Fixed(n) => n.to_string(),
            Size::Imix => "imix".into(),
        }
    }
    pub fn parse(s: &str) -> Option<Size> {
        match s {
            "imix" => Some(Size::Imix),
            n => n
                .parse()
                .ok()
                .filter(|n| (64..=1514).contains(n))
                .map(Size::Fixed),
        }
    }
}

/// One row of the comparison: a traffic shape and the subjects measured
/// with it.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    /// The relay path, or `mix`.
    pub path: &'static str,
    pub size: Size,
    pub peers: u32,
    /// Share of spoofed and malformed frames (each), 0 for none.
    pub bad_share: u32,
    pub subjects: Vec<Subject>,
}

/// Windows per peer-table row (the median is reported).
pub const PEER_REPEATS: usize = 3;

pub const PATHS: [&str; 4] = ["6to4-decap", "6to4-encap", "teredo-rx", "teredo-tx"];

fn kind_of(path: &str) -> Kind {
    match path {
        "6to4-decap" => Kind::Decap,
        "6to4-encap" => Kind::Encap,
        "teredo-rx" => Kind::TeredoRx,
        _ => Kind::TeredoTx,
    }
}

/// Options of a comparison run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sizes: Vec<Size>,
    pub subjects: Vec<Subject>,
    pub peer_counts: Vec<u32>,
    pub flows: u32,
    pub scenarios: bool,
    pub gen: GenOpts,
    pub relay_core: usize,
}

impl Plan {
    pub fn cases(&self) -> Vec<Case> {
        let mut v = Vec::new();
        for &size in &self.sizes {
            for path in PATHS {
                let subjects = self
                    .subjects
                    .iter()
                    .copied()
                    .filter(|s| *s != Subject::Miredo || path.starts_with("teredo"))
                    .collect();
                v.push(Case {
                    id: path.into(),
                    path,
                    size,
                    peers: 1,
                    bad_share: 0,
                    subjects,
                });
            }
        }
        if self.scenarios && self.subjects.contains(&Subject::Xrelay) {
            let size = Size::Fixed(64);
            let x = vec![Subject::Xrelay];
            v.push(Case {
                id: "mix".into(),
                path: "mix",
                size,
                peers: 1,
                bad_share: 0,
                subjects: x.clone(),
            });
            v.push(Case {
                id: "6to4-decap-bad-20pct".into(),
                path: "6to4-decap",
                size,
                peers: 1,
                bad_share: 1,
                subjects: x.clone(),
            });
            for &n in &self.peer_counts {
                for path in ["teredo-rx", "teredo-tx"] {
                    v.push(Case {
                        id: format!("{path}-peers-{}", peers_label(n)),
                        path,
                        size,
                        peers: n,
                        bad_share: 0,
                        subjects: x.clone(),
                    });
                }
            }
        }
        v
    }
}

pub fn peers_label(n: u32) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}m", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

fn templates(kind: Kind, size: Size, flows: u32, peers: u32) -> Vec<Template> {
    match size {
        Size::Fixed(n) => vec![frames::template(kind, n, flows, peers)],
        Size::Imix => [(64, 7), (590, 4), (1514, 1)]
            .into_iter()
            .map(|(n, w)| Template {
                weight: w,
                ..frames::template(kind, n, flows, peers)
            })
            .collect(),
    }
}

/// The generators' loads of `case` for `subject`.
pub fn loads(case: &Case, subject: Subject, flows: u32) -> Vec<Load> {
    let paths: Vec<&str> = if case.path == "mix" {
        PATHS.to_vec()
    } else {
        vec![case.path]
    };
    let mut v: Vec<Load> = Vec::new();
    for p in paths {
        let kind = kind_of(p);
        let mut ts = templates(kind, case.size, flows, case.peers);
        if subject == Subject::Kernel {
            // Plain IP frames of the same lengths, routed by the kernel.
            let k = if kind.side() == Side::V4 {
                Kind::Kernel4
            } else {
                Kind::Kernel6
            };
            ts = ts
                .into_iter()
                .map(|t| Template {
                    weight: t.weight,
                    ..frames::template(k, t.frame.len(), flows, 1)
                })
                .collect();
        }
        if case.bad_share > 0 {
            for t in ts.iter_mut() {
                t.weight *= 8;
            }
            for k in [Kind::DecapSpoofed, Kind::DecapMalformed] {
                ts.extend(templates(k, case.size, flows, 1));
            }
        }
        let side = kind_of(p).side();
        match v.iter_mut().find(|l| l.side == side) {
            Some(l) => l.templates.extend(ts),
            None => v.push(Load {
                side,
                templates: ts,
            }),
        }
    }
    v
}

/// The machine, for the records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub commit: String,
    pub host: String,
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub date: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let out = |c: &[&str]| topo::sh(c).map(|s| s.trim().to_owned()).unwrap_or_default();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("")
            .trim()
            .to_owned();
        let mut commit = out(&["git", "rev-parse", "--short=12", "HEAD"]);
        if !out(&["git", "status", "--porcelain", "--untracked-files=no"]).is_empty() {
            commit.push_str("+dirty");
        }
        Machine {
            commit,
            host: out(&["hostname"]),
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: out(&["uname", "-r"]),
            date: out(&["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        }
    }
}

/// Runs the plan: the lab up, each subject up in turn and its cases
/// measured, everything down. `progress` gets one line per point.
pub fn compare(
    name: &str,
    plan: &Plan,
    machine: &Machine,
    interrupted: &AtomicBool,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Record>> {
    let cases = plan.cases();
    let total: usize = cases.iter().map(|c| c.subjects.len()).sum();
    let mut lab = topo::Lab::up(name)?;
    let hosts = Hosts {
        ns_v4: lab.ns_v4(),
        h4: lab.h4(),
        ns_v6: lab.ns_v6(),
        h6: lab.h6(),
    };
    let mut sinks = attach_sinks(&lab)?;
    let mut records = Vec::new();
    let mut done = 0;
    for &s in &plan.subjects {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.subjects.contains(&s)).collect();
        if mine.is_empty() {
            continue;
        }
        let t = Instant::now();
        let running = subject::start(&mut lab, s, plan.relay_core)?;
        progress(&format!(
            "── {} up ({} ms)",
            s.name(),
            t.elapsed().as_millis()
        ));
        let res = (|| -> Result<()> {
            for c in &mine {
                if s == Subject::Xrelay && c.path.starts_with("teredo") {
                    warm_peers(&hosts, &mut sinks, c, plan, &running, interrupted, progress)?;
                }
                if s == Subject::Miredo {
                    warm_miredo(&hosts, &mut sinks, c, plan, interrupted)?;
                }
                let l = loads(c, s, plan.flows);
                let before = subject::dataplane_counters(&running);
                // The peer-table rows are compared with each other (flat
                // from 1 to 1 M peers): the median of PEER_REPEATS windows
                // each, so that one noisy window does not decide.
                let reps = if c.id.contains("-peers-") {
                    PEER_REPEATS
                } else {
                    1
                };
                let mut ws = Vec::with_capacity(reps);
                for _ in 0..reps {
                    ws.push(run::measure(&hosts, &mut sinks, &l, plan.gen, interrupted)?);
                }
                ws.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
                let w = ws.swap_remove(ws.len() / 2);
                let after = subject::dataplane_counters(&running);
                done += 1;
                let rec = Record::new(
                    machine,
                    plan,
                    c,
                    s,
                    &l,
                    &w,
                    before.as_ref().zip(after.as_ref()),
                );
                progress(&format!("[{done:>3}/{total}] {}", rec.line()));
                records.push(rec);
            }
            Ok(())
        })();
        let st = subject::stop(&mut lab, running);
        res?;
        st?;
    }
    drop(sinks);
    drop(lab);
    Ok(records)
}

/// The sinks on both host ends.
fn attach_sinks(lab: &topo::Lab) -> Result<Sinks> {
    let sink = |ns: String, dev: String| {
        topo::with_netns(&ns, || -> Result<bpf::Prog> {
            let mut p = bpf::Prog::load("xrb_sink", 0)?;
            p.attach(&dev)?;
            Ok(p)
        })?
    };
    Ok(Sinks {
        v4: sink(lab.ns_v4(), lab.h4())?,
        v6: sink(lab.ns_v6(), lab.h6())?,
    })
}

/// Makes the relay hold `case.peers` trusted Teredo peers: Teredo frames
/// from each (`accept_unknown_peers` creates the entries in the slow path,
/// which sheds some under this load: C-16) until the dataplane counted
/// 99.5 % of them created (the rest are created by the measured run
/// itself), or fails after 60 s.
fn warm_peers(
    hosts: &Hosts,
    sinks: &mut Sinks,
    case: &Case,
    plan: &Plan,
    running: &subject::Running,
    interrupted: &AtomicBool,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let created = || {
        subject::dataplane_counters(running)
            .and_then(|m| m.get("event/teredo_peer_created").copied())
            .unwrap_or(0)
    };
    let want = u64::from(case.peers) - u64::from(case.peers) / 200;
    if created() >= want {
        return Ok(());
    }
    let t = Instant::now();
    let rate = 300_000f64.min(f64::from(case.peers) * 20.0);
    let load = vec![Load {
        side: Side::V4,
        templates: vec![frames::template(Kind::TeredoRx, 64, 1, case.peers)],
    }];
    while created() < want {
        if t.elapsed() > Duration::from_secs(60) {
            bail!(
                "only {} of {} Teredo peers created in 60 s",
                created(),
                case.peers
            );
        }
        let secs = (f64::from(case.peers) / rate).clamp(0.3, 5.0) + 0.1;
        let o = GenOpts {
            rate: Some(rate),
            warmup: Duration::ZERO,
            window: Duration::from_secs_f64(secs),
            // One thread: each generator walks the peers from the first,
            // so a second one would repeat the first half, not add peers.
            threads: 1,
            ..plan.gen
        };
        run::measure(hosts, sinks, &load, o, interrupted)?;
    }
    progress(&format!(
        "      {} Teredo peers trusted ({} ms)",
        created(),
        t.elapsed().as_millis()
    ));
    Ok(())
}

/// Makes miredo relay for the case's Teredo clients. As a relay, libteredo
/// drops a packet from a Teredo client that is not in its peer list (even
/// one whose mapping matches its address), and only traffic *to* a client
/// lists it (`teredo_transmit`: the peer is created untrusted, the packet
/// queued, a bubble sent to the mapping); the first packet from the listed
/// client whose outer IPv4 and port match its address then trusts it. So:
/// 0.3 s of native → Teredo frames, then 0.3 s of Teredo → native frames
/// from the same clients (which must reach the sink), both at 2 000
/// frames/s. A trusted peer then stays usable for transmission while it
/// was heard from in the last 30 s, hence once before every case.
fn warm_miredo(
    hosts: &Hosts,
    sinks: &mut Sinks,
    case: &Case,
    plan: &Plan,
    interrupted: &AtomicBool,
) -> Result<()> {
    let mut step = |kind: Kind| {
        let load = vec![Load {
            side: kind.side(),
            templates: vec![frames::template(kind, 64, plan.flows, case.peers)],
        }];
        let o = GenOpts {
            rate: Some(2000.0),
            warmup: Duration::ZERO,
            window: Duration::from_millis(300),
            threads: 1,
            ..plan.gen
        };
        run::measure(hosts, sinks, &load, o, interrupted)
    };
    step(Kind::TeredoTx)?;
    let w = step(Kind::TeredoRx)?;
    if w.received == 0 {
        bail!("miredo did not relay for the Teredo clients after the warm-up");
    }
    Ok(())
}

/// What [`search`] looks for.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub subject: Subject,
    /// Highest acceptable loss (fraction).
    pub max_loss: f64,
    /// Halvings of the interval.
    pub steps: u32,
}

/// Highest offered rate with loss at most `max_loss` (RFC 2544 §26.1
/// style binary search), starting from the rate measured at full load.
pub fn search(
    name: &str,
    plan: &Plan,
    case: &Case,
    target: Target,
    interrupted: &AtomicBool,
    progress: &mut dyn FnMut(&str),
) -> Result<(f64, Vec<(f64, f64)>)> {
    let mut lab = topo::Lab::up(name)?;
    let hosts = Hosts {
        ns_v4: lab.ns_v4(),
        h4: lab.h4(),
        ns_v6: lab.ns_v6(),
        h6: lab.h6(),
    };
    let mut sinks = attach_sinks(&lab)?;
    let Target {
        subject,
        max_loss,
        steps,
    } = target;
    let running = subject::start(&mut lab, subject, plan.relay_core)?;
    let res = (|| -> Result<(f64, Vec<(f64, f64)>)> {
        if subject == Subject::Xrelay && case.path.starts_with("teredo") {
            warm_peers(
                &hosts,
                &mut sinks,
                case,
                plan,
                &running,
                interrupted,
                progress,
            )?;
        }
        if subject == Subject::Miredo {
            warm_miredo(&hosts, &mut sinks, case, plan, interrupted)?;
        }
        let l = loads(case, subject, plan.flows);
        let full = run::measure(&hosts, &mut sinks, &l, plan.gen, interrupted)?;
        progress(&format!(
            "full load: offered {:.3} Mpps, received {:.3} Mpps",
            full.offered_rate() / 1e6,
            full.rate() / 1e6
        ));
        let (mut lo, mut hi) = (0.0, full.rate() * 1.1);
        let mut trials = Vec::new();
        for _ in 0..steps {
            let mid = (lo + hi) / 2.0;
            let w = run::measure(
                &hosts,
                &mut sinks,
                &l,
                GenOpts {
                    rate: Some(mid),
                    ..plan.gen
                },
                interrupted,
            )?;
            progress(&format!(
                "offered {:.3} Mpps: loss {:.4}%",
                mid / 1e6,
                w.loss() * 100.0
            ));
            trials.push((mid, w.loss()));
            if w.loss() <= max_loss {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok((lo, trials))
    })();
    let st = subject::stop(&mut lab, running);
    drop(sinks);
    drop(lab);
    let r = res?;
    st?;
    Ok(r)
}

/// Latency percentiles of a window.
pub fn latency(samples: &[u64]) -> Option<Latency> {
    Latency::of(samples)
}
