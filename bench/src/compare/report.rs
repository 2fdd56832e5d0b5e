//! The outputs: one JSON line per point, the terminal table with ratios
//! to the reference points, and an SVG chart (rate against packet size
//! per path and subject; latency CDF at 64 bytes) written by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::run::{Load, Window};
use super::subject::Subject;
use super::{Case, Machine, Plan, PATHS};

/// Latency percentiles (nanoseconds) of the sampled frames.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// (latency ns, cumulative fraction) at 1 % steps, for the CDF.
    pub cdf: Vec<(u64, f64)>,
}

impl Latency {
    pub fn of(samples: &[u64]) -> Option<Latency> {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 30, 3).ok()?;
        for &s in samples {
            h.saturating_record(s.max(1));
        }
        if h.is_empty() {
            return None;
        }
        let cdf = (1..=100)
            .map(|i| {
                (
                    h.value_at_quantile(f64::from(i) / 100.0),
                    f64::from(i) / 100.0,
                )
            })
            .collect();
        Some(Latency {
            samples: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            cdf,
        })
    }
}

/// One measured point (one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub commit: String,
    pub machine: String,
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub date: String,
    /// `max` (as fast as the generator goes) or `rate`.
    pub mode: &'static str,
    pub generator_core: Option<usize>,
    pub relay_core: usize,
    pub subject: Subject,
    pub case: String,
    pub path: String,
    pub size: String,
    /// Frame lengths offered (Ethernet, no FCS) and their weights.
    pub frames: Vec<(usize, u32)>,
    pub flows: u32,
    pub peers: u32,
    pub window_s: f64,
    pub offered_pps: f64,
    pub rate_pps: f64,
    pub rate_mbps: f64,
    pub loss: f64,
    pub latency_ns: Option<Latency>,
    /// Dataplane counters that moved during the point (xrelay only).
    pub counters: BTreeMap<String, u64>,
}

type Counters = BTreeMap<String, u64>;

impl Record {
    pub fn new(
        m: &Machine,
        plan: &Plan,
        c: &Case,
        s: Subject,
        loads: &[Load],
        w: &Window,
        ctr: Option<(&Counters, &Counters)>,
    ) -> Record {
        let counters = ctr
            .map(|(a, b)| {
                b.iter()
                    .filter_map(|(k, v)| {
                        let d = v.saturating_sub(a.get(k).copied().unwrap_or(0));
                        (d > 0 && !k.starts_with("dp/nh_table")).then(|| (k.clone(), d))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Record {
            commit: m.commit.clone(),
            machine: m.host.clone(),
            cpu: m.cpu.clone(),
            cores: m.cores,
            kernel: m.kernel.clone(),
            date: m.date.clone(),
            mode: if plan.gen.rate.is_some() {
                "rate"
            } else {
                "max"
            },
            generator_core: plan.gen.core,
            relay_core: plan.relay_core,
            subject: s,
            case: c.id.clone(),
            path: c.path.into(),
            size: c.size.label(),
            frames: loads
                .iter()
                .flat_map(|l| l.templates.iter().map(|t| (t.frame.len(), t.weight)))
                .collect(),
            flows: plan.flows,
            peers: c.peers,
            window_s: w.secs,
            offered_pps: w.offered_rate(),
            rate_pps: w.rate(),
            rate_mbps: w.bytes as f64 * 8.0 / w.secs / 1e6,
            loss: w.loss(),
            latency_ns: Latency::of(&w.latency_ns),
            counters,
        }
    }

    /// The progress line.
    pub fn line(&self) -> String {
        let lat = self
            .latency_ns
            .as_ref()
            .map_or("no samples".to_owned(), |l| {
                format!("p50 {} p99 {}", us(l.p50), us(l.p99))
            });
        format!(
            "{:<12} {:<24} {:>5}: {:>6.3} Mpps (offered {:>6.3}, loss {:>5.1}%), {lat}",
            self.subject.name(),
            self.case,
            self.size,
            self.rate_pps / 1e6,
            self.offered_pps / 1e6,
            self.loss * 100.0
        )
    }
}

fn us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1000.0)
}

const REFS: [Subject; 4] = [
    Subject::XdpRedirect,
    Subject::AfXdp,
    Subject::Kernel,
    Subject::Miredo,
];

/// The summary table: one row per case and size, Mpps per subject, the
/// ratio of xrelay to each reference, and xrelay's latency.
pub fn table(records: &[Record]) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    for r in records {
        let k = (r.case.clone(), r.size.clone());
        if !rows.contains(&k) {
            rows.push(k);
        }
    }
    let get = |case: &str, size: &str, s: Subject| {
        records
            .iter()
            .find(|r| r.case == case && r.size == size && r.subject == s)
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<24} {:>5} │ {:>7} {:>7} {:>7} {:>7} {:>7} │ {:>6} {:>6} {:>6} {:>6} │ {:>8} {:>8} {:>8}",
        "case", "size", "xrelay", "xdp", "af_xdp", "kernel", "miredo", "/xdp", "/afxdp", "/kern", "/mir", "p50", "p99", "p99.9"
    );
    let _ = writeln!(t, "{}", "─".repeat(24 + 6 + 3 + 40 + 3 + 28 + 3 + 27));
    for (case, size) in rows {
        let x = get(&case, &size, Subject::Xrelay);
        let mpps = |s: Subject| {
            get(&case, &size, s).map_or("—".to_owned(), |r| format!("{:.3}", r.rate_pps / 1e6))
        };
        let ratio = |s: Subject| match (x, get(&case, &size, s)) {
            (Some(x), Some(r)) if r.rate_pps > 0.0 => format!("{:.2}", x.rate_pps / r.rate_pps),
            _ => "—".to_owned(),
        };
        let lat = |f: fn(&Latency) -> u64| {
            x.and_then(|x| x.latency_ns.as_ref())
                .map_or("—".to_owned(), |l| us(f(l)))
        };
        let _ = writeln!(
            t,
            "{:<24} {:>5} │ {:>7} {:>7} {:>7} {:>7} {:>7} │ {:>6} {:>6} {:>6} {:>6} │ {:>8} {:>8} {:>8}",
            case,
            size,
            mpps(Subject::Xrelay),
            mpps(REFS[0]),
            mpps(REFS[1]),
            mpps(REFS[2]),
            mpps(REFS[3]),
            ratio(REFS[0]),
            ratio(REFS[1]),
            ratio(REFS[2]),
            ratio(REFS[3]),
            lat(|l| l.p50),
            lat(|l| l.p99),
            lat(|l| l.p999),
        );
    }
    t
}

const COLORS: [(Subject, &str); 5] = [
    (Subject::Xrelay, "#d62728"),
    (Subject::XdpRedirect, "#7f7f7f"),
    (Subject::AfXdp, "#1f77b4"),
    (Subject::Kernel, "#2ca02c"),
    (Subject::Miredo, "#9467bd"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// The SVG: four panels of received Mpps against size (one per path, a
/// line per subject) and a latency CDF panel (64 bytes, every subject and
/// path that has samples).
pub fn svg(records: &[Record], title: &str) -> String {
    let (pw, ph) = (360.0, 240.0);
    let (w, h) = (pw * 3.0 + 40.0, ph * 2.0 + 90.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="20" y="22" font-size="14">{}</text>"#,
        esc(title)
    );
    let mut sizes: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| PATHS.contains(&r.case.as_str())) {
        if !sizes.contains(&r.size) {
            sizes.push(r.size.clone());
        }
    }
    let ymax = records.iter().map(|r| r.rate_pps / 1e6).fold(0.1, f64::max) * 1.1;
    for (i, path) in PATHS.iter().enumerate() {
        let (x0, y0) = (
            30.0 + (i % 3) as f64 * (pw + 5.0),
            40.0 + (i / 3) as f64 * (ph + 25.0),
        );
        panel(
            &mut s,
            x0,
            y0,
            pw,
            ph,
            &format!("{path}: received Mpps by frame size"),
            ymax,
            "Mpps",
        );
        let xs = |j: usize| x0 + 40.0 + (pw - 60.0) * (j as f64 + 0.5) / sizes.len().max(1) as f64;
        for (j, sz) in sizes.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                xs(j),
                y0 + ph - 8.0,
                esc(sz)
            );
        }
        for (subj, color) in COLORS {
            let pts: Vec<(f64, f64)> = sizes
                .iter()
                .enumerate()
                .filter_map(|(j, sz)| {
                    records
                        .iter()
                        .find(|r| r.case == *path && &r.size == sz && r.subject == subj)
                        .map(|r| {
                            (
                                xs(j),
                                y0 + ph - 25.0 - (ph - 45.0) * (r.rate_pps / 1e6) / ymax,
                            )
                        })
                })
                .collect();
            polyline(&mut s, &pts, color, true);
        }
    }
    // Latency CDF.
    let (x0, y0) = (30.0 + 2.0 * (pw + 5.0), 40.0 + ph + 25.0);
    let lat: Vec<&Record> = records
        .iter()
        .filter(|r| PATHS.contains(&r.case.as_str()) && r.size == "64" && r.latency_ns.is_some())
        .collect();
    let lmax = lat
        .iter()
        .filter_map(|r| r.latency_ns.as_ref())
        .map(|l| l.cdf.get(98).map_or(l.max, |c| c.0))
        .max()
        .unwrap_or(1000)
        .max(1000) as f64
        * 1.1;
    panel(
        &mut s,
        x0,
        y0,
        pw,
        ph,
        "latency CDF at 64 B (to p99), µs",
        1.0,
        "",
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{:.0} µs</text>"#,
        x0 + pw - 20.0,
        y0 + ph - 8.0,
        lmax / 1000.0
    );
    for r in &lat {
        let color = COLORS
            .iter()
            .find(|c| c.0 == r.subject)
            .map_or("#000", |c| c.1);
        if let Some(l) = &r.latency_ns {
            let pts: Vec<(f64, f64)> = l
                .cdf
                .iter()
                .take(99)
                .map(|(v, q)| {
                    (
                        x0 + 40.0 + (pw - 60.0) * (*v as f64 / lmax).min(1.0),
                        y0 + ph - 25.0 - (ph - 45.0) * q,
                    )
                })
                .collect();
            let _ = writeln!(s, "<!-- {} {} -->", r.subject.name(), r.case);
            polyline(&mut s, &pts, color, false);
        }
    }
    // Legend.
    let (lx, ly) = (30.0 + 2.0 * (pw + 5.0) + 10.0, 50.0);
    for (i, (subj, color)) in COLORS.iter().enumerate() {
        let y = ly + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 4.0,
            lx + 20.0,
            y + 1.0,
            subj.name()
        );
    }
    s.push_str("</svg>\n");
    s
}

#[expect(
    clippy::too_many_arguments,
    reason = "a panel is its box, title and scale"
)]
fn panel(s: &mut String, x0: f64, y0: f64, pw: f64, ph: f64, title: &str, ymax: f64, unit: &str) {
    let _ = writeln!(
        s,
        r##"<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
        x0 + 6.0,
        y0 + 14.0,
        esc(title)
    );
    let (bx, by, bh) = (x0 + 40.0, y0 + ph - 25.0, ph - 45.0);
    let _ = writeln!(
        s,
        r##"<line x1="{bx}" y1="{by}" x2="{:.1}" y2="{by}" stroke="#888"/><line x1="{bx}" y1="{by}" x2="{bx}" y2="{:.1}" stroke="#888"/>"##,
        x0 + pw - 20.0,
        by - bh
    );
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let y = by - bh * f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{v:.2}{unit}</text><line x1="{bx}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/>"##,
            bx - 3.0,
            y + 3.0,
            x0 + pw - 20.0
        );
    }
}

fn polyline(s: &mut String, pts: &[(f64, f64)], color: &str, dots: bool) {
    if pts.is_empty() {
        return;
    }
    let p: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        s,
        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"/>"#,
        p.join(" ")
    );
    if dots {
        for (x, y) in pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"#
            );
        }
    }
}
