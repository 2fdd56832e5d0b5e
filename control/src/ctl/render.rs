//! Human-readable output of the operator commands (their `--json` output
//! is the daemon's answer as is).

use std::fmt::Write as _;

use crate::admin::{
    AddressList, AnnounceStatus, Counters, DataplaneCounters, DetachReport, PrefixList, Status,
    XdpStatus,
};
use crate::daemon::{LocalPins, PinLayout};
use xrelay_dataplane::peersock::PeerList;

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub fn status(st: &Status) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "instance:  {} (pid {}, up {} s, xrelayctl {})",
        st.instance, st.pid, st.uptime_s, st.version
    );
    let _ = writeln!(o, "config:    {}", st.config);
    if let Some(ns) = &st.netns {
        let _ = writeln!(o, "netns:     {ns}");
    }
    if st.health.ok {
        let _ = writeln!(o, "health:    ok (XDP steering in place)");
    } else {
        let _ = writeln!(o, "health:    DEGRADED: {}", st.health.problems.join("; "));
    }
    o.push_str(&xdp(&st.xdp));
    let _ = writeln!(o, "dataplane: {}", st.dataplane.message);
    if let Some(b) = &st.dataplane.binary {
        let _ = writeln!(o, "           binary {b}");
    }
    if let Some(ms) = st.dataplane.last_restart_ms {
        let _ = writeln!(
            o,
            "           restarts {}, last restart {ms} ms after the death or stall was noticed",
            st.dataplane.restarts
        );
    }
    for w in &st.dataplane.workers {
        let _ = writeln!(
            o,
            "  worker:  {:<16} {:<9} queue {} core {} {:<8} heartbeat {} batches {}",
            w.label,
            w.role,
            w.queue,
            opt(w.core),
            w.state,
            w.heartbeat_age_ms
                .map_or_else(|| "never".to_owned(), |a| format!("{a} ms ago")),
            w.batches
        );
    }
    let _ = writeln!(o, "admin:     {}", st.admin_socket);
    let _ = writeln!(
        o,
        "metrics:   {}",
        st.metrics
            .as_deref()
            .map_or("off".to_owned(), |m| format!("http://{m}/metrics"))
    );
    let _ = writeln!(o, "state:     {}/state.json", st.state_dir);
    o
}

pub fn xdp(x: &XdpStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "xdp:       {} (one program per interface), requested mode {}",
        x.startup, x.requested_mode
    );
    for i in &x.interfaces {
        let state = if !i.present {
            "absent"
        } else if i.oper_up {
            "up"
        } else {
            "down"
        };
        let _ = writeln!(
            o,
            "interface: {:<15} {:<5} {:<6} {:<7} prog {} link {} queues rx {} tx {} ifindex {}{}",
            i.name,
            i.role,
            state,
            i.xdp_mode,
            opt(i.xdp_prog_id),
            opt(i.link_id),
            opt(i.rx_queues),
            opt(i.tx_queues),
            opt(i.ifindex),
            if i.ours || !i.present {
                ""
            } else {
                "  (not this instance's program!)"
            }
        );
        if let Some(p) = &i.program {
            let _ = writeln!(
                o,
                "           program {} ({}): 6to4 {}, teredo {}, native {}, icmp4 errors {}",
                p.id,
                i.startup,
                on(p.sixto4),
                on(p.teredo),
                on(p.native),
                on(p.icmp4_errors)
            );
        }
    }
    let _ = writeln!(
        o,
        "maps:      6to4 addresses {}, Teredo addresses {}, prefixes {}, socket slots {}",
        x.maps.sixto4, x.maps.teredo, x.maps.prefixes, x.maps.socket_slots
    );
    let missing: Vec<&str> = x
        .pins
        .iter()
        .filter(|p| !p.exists)
        .map(|p| p.path.as_str())
        .collect();
    if missing.is_empty() {
        let _ = writeln!(o, "pins:      {} present", x.pins.len());
    } else {
        let _ = writeln!(o, "pins:      missing {}", missing.join(", "));
    }
    o
}

/// Rates per counter between two reads, when both exist.
fn rates(c: &Counters, prev: Option<&Counters>) -> Option<(f64, Vec<f64>)> {
    let p = prev?;
    let dt = c.unix_ms.checked_sub(p.unix_ms)? as f64 / 1000.0;
    if dt <= 0.0 {
        return None;
    }
    let r = c
        .xdp
        .iter()
        .map(|v| {
            let before = p
                .xdp
                .iter()
                .find(|q| q.name == v.name)
                .map_or(0, |q| q.total);
            v.total.saturating_sub(before) as f64 / dt
        })
        .collect();
    Some((dt, r))
}

pub fn counters_table(c: &Counters, prev: Option<&Counters>, per_core: bool) -> String {
    let mut o = String::new();
    let rates = rates(c, prev);
    let _ = write!(o, "XDP counters, {} CPUs{:>16}", c.cpus, "");
    if per_core {
        for cpu in 0..c.cpus {
            let _ = write!(o, " {:>10}", format!("cpu{cpu}"));
        }
    }
    let _ = writeln!(o, " {:>12} {:>10}", "total", "rate/s");
    let mut group = "";
    for (i, v) in c.xdp.iter().enumerate() {
        if v.group != group {
            group = &v.group;
            let _ = writeln!(o, "  {group}");
        }
        let _ = write!(o, "    {:<32}", v.name);
        if per_core {
            for n in &v.per_cpu {
                let _ = write!(o, " {n:>10}");
            }
        }
        let rate = rates
            .as_ref()
            .and_then(|(_, r)| r.get(i))
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"));
        let _ = writeln!(o, " {:>12} {:>10}   {}", v.total, rate, v.description);
    }
    let _ = writeln!(o, "dataplane: {}", c.dataplane_message);
    if let Some(d) = &c.dataplane {
        o.push_str(&dataplane_table(
            d,
            prev.and_then(|p| p.dataplane.as_ref()),
            rates.as_ref().map(|r| r.0),
            per_core,
        ));
    }
    o
}

/// The dataplane's counters: non-zero ones, by kind, per worker with
/// `--per-core`.
fn dataplane_table(
    d: &DataplaneCounters,
    prev: Option<&DataplaneCounters>,
    dt: Option<f64>,
    per_core: bool,
) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "dataplane counters (pid {}, {}, {} blocks){:>6}",
        d.pid,
        d.file,
        d.workers.len(),
        ""
    );
    if per_core {
        for w in &d.workers {
            let _ = write!(o, " {:>16}", w.label);
        }
    }
    let _ = writeln!(o, " {:>12} {:>10}", "total", "rate/s");
    let mut zero = 0;
    for kind in ["drop", "event", "dp"] {
        let rows: Vec<_> = d
            .counters
            .iter()
            .filter(|c| c.kind == kind && c.total != 0)
            .collect();
        zero += d
            .counters
            .iter()
            .filter(|c| c.kind == kind && c.total == 0)
            .count();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "  {}",
            match kind {
                "drop" => "drops",
                "event" => "events",
                _ => "dataplane",
            }
        );
        for c in rows {
            let _ = write!(o, "    {:<40}", c.short);
            if per_core {
                for n in &c.per_worker {
                    let _ = write!(o, " {n:>16}");
                }
            }
            let rate = match (prev, dt) {
                (Some(p), Some(dt)) => {
                    let before = p
                        .counters
                        .iter()
                        .find(|q| q.name == c.name)
                        .map_or(0, |q| q.total);
                    format!("{:.1}", c.total.saturating_sub(before) as f64 / dt)
                }
                _ => "-".to_owned(),
            };
            let _ = writeln!(o, " {:>12} {:>10}", c.total, rate);
        }
    }
    let _ = writeln!(o, "  ({zero} counters at zero not shown; --json has all)");
    o
}

fn age(s: Option<u32>) -> String {
    s.map_or_else(|| "never".to_owned(), |s| format!("{s} s"))
}

pub fn peers(l: &PeerList) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<40} {:<21} {:<7} {:>8} {:>7} {:>8} {:>7}",
        "peer", "mapping", "trusted", "last rx", "queued", "bytes", "bubbles"
    );
    for p in &l.peers {
        let _ = writeln!(
            o,
            "{:<40} {:<21} {:<7} {:>8} {:>7} {:>8} {:>7}{}",
            p.addr,
            p.mapping,
            if p.trusted { "yes" } else { "no" },
            age(p.last_rx_age_s),
            p.queued_packets,
            p.queued_bytes,
            p.bubbles,
            if p.failed { "  failed" } else { "" }
        );
    }
    let _ = writeln!(
        o,
        "{} of {} entries shown (capacity {}){}",
        l.peers.len(),
        l.total,
        l.capacity,
        if l.truncated {
            "; raise --limit for more"
        } else {
            ""
        }
    );
    o
}

pub fn peer(l: &PeerList) -> String {
    let mut o = String::new();
    for p in &l.peers {
        let _ = writeln!(o, "peer:        {}", p.addr);
        let _ = writeln!(o, "mapping:     {}", p.mapping);
        let _ = writeln!(o, "trusted:     {}", if p.trusted { "yes" } else { "no" });
        let _ = writeln!(o, "last rx:     {}", age(p.last_rx_age_s));
        let _ = writeln!(o, "last lookup: {}", age(p.last_lookup_age_s));
        let _ = writeln!(
            o,
            "queued:      {} packets, {} bytes",
            p.queued_packets, p.queued_bytes
        );
        let _ = writeln!(
            o,
            "bubbles:     {}{}",
            p.bubbles,
            if p.failed {
                " (failed: budget exhausted)"
            } else {
                ""
            }
        );
    }
    o
}

/// The daemon's counters, plus `interval_s` and `rates` when a previous
/// read exists.
pub fn counters_json(c: &Counters, prev: Option<&Counters>) -> serde_json::Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    if let (Some((dt, r)), Some(obj)) = (rates(c, prev), v.as_object_mut()) {
        let map: serde_json::Map<String, serde_json::Value> = c
            .xdp
            .iter()
            .zip(r)
            .map(|(c, r)| (c.name.clone(), serde_json::json!(r)))
            .collect();
        obj.insert("interval_s".into(), serde_json::json!(dt));
        obj.insert("rates".into(), serde_json::Value::Object(map));
        if let Some(d) = dataplane_rates(c, prev, dt) {
            obj.insert("dataplane_rates".into(), serde_json::Value::Object(d));
        }
    }
    v
}

/// Per-second rates of the dataplane counters that moved since `prev`
/// (totals over the workers), by full name; `None` without both readings
/// of the same dataplane process (a restart starts its counters anew).
fn dataplane_rates(
    c: &Counters,
    prev: Option<&Counters>,
    dt: f64,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let (now, was) = (c.dataplane.as_ref()?, prev?.dataplane.as_ref()?);
    if now.pid != was.pid {
        return None;
    }
    Some(
        now.counters
            .iter()
            .filter_map(|v| {
                let before = was
                    .counters
                    .iter()
                    .find(|q| q.name == v.name)
                    .map_or(0, |q| q.total);
                let d = v.total.saturating_sub(before);
                (d > 0).then(|| (v.name.clone(), serde_json::json!(d as f64 / dt)))
            })
            .collect(),
    )
}

pub fn prefixes(l: &PrefixList) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{:<44} {:<9} source", "prefix", "kind");
    for p in &l.prefixes {
        let _ = writeln!(o, "{:<44} {:<9} {}", p.prefix, p.kind, p.source);
    }
    for r in &l.removed_from_config {
        let _ = writeln!(
            o,
            "{r:<44} {:<9} removed from relay.toml's set by `prefix del`",
            "-"
        );
    }
    match &l.announce {
        Some(a) => o.push_str(&announce(a)),
        None => o.push_str("\nannounced: nothing (announce.backend = \"none\")\n"),
    }
    o
}

/// The announced set: backend, health, one line per prefix.
pub fn announce(a: &AnnounceStatus) -> String {
    let mut o = String::new();
    let backend = match (a.table, a.protocol) {
        (Some(t), Some(p)) => format!("{} (table {t}, proto {p})", a.backend),
        _ => a.backend.clone(),
    };
    let health = match (&a.problem, a.announce_in_ms) {
        (Some(p), _) => format!("unhealthy: {p}"),
        (None, Some(ms)) => format!(
            "healthy, hold-down: announcing in {:.1} s",
            ms as f64 / 1000.0
        ),
        (None, None) => "healthy".to_owned(),
    };
    let _ = writeln!(
        o,
        "\nannounced via {backend}, hold-down {} s; {health}",
        a.hold_down_s
    );
    let _ = writeln!(
        o,
        "{:<16} {:<20} {:<13} {:<10} why",
        "name", "prefix", "kind", "state"
    );
    for p in &a.prefixes {
        let _ = writeln!(
            o,
            "{:<16} {:<20} {:<13} {:<10} {}",
            p.name,
            p.prefix,
            p.kind,
            p.state.name(),
            p.why
        );
    }
    o
}

pub fn addresses(l: &AddressList) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{:<8} {:<22} source", "kind", "address");
    for a in &l.sixto4 {
        let _ = writeln!(o, "{:<8} {:<22} {}", "6to4", a.addr, a.source);
    }
    for a in &l.teredo {
        let _ = writeln!(
            o,
            "{:<8} {:<22} {}",
            "teredo",
            format!("{}:{}", a.addr, a.port.unwrap_or(0)),
            a.source
        );
    }
    for r in &l.removed_from_config {
        let _ = writeln!(o, "{r:<31} removed from relay.toml's set by `address del`");
    }
    o
}

pub fn local_pins(p: &LocalPins) -> String {
    let mut o = String::new();
    if !p.on_bpffs {
        let _ = writeln!(o, "  {} is not on a bpffs (nothing pinned there)", p.dir);
        return o;
    }
    if p.interfaces.is_empty() {
        let _ = writeln!(o, "  nothing pinned (not attached)");
    }
    for i in &p.interfaces {
        let present = i.maps.iter().filter(|m| m.exists).count();
        let _ = writeln!(
            o,
            "  {:<15} program {} link {} (runs prog {}) maps {present}/{}",
            i.iface,
            opt(i.program),
            opt(i.link_id),
            opt(i.link_prog_id),
            i.maps.len()
        );
    }
    o
}

pub fn detach(r: &DetachReport, layout: &PinLayout) -> String {
    let mut o = String::new();
    if r.removed.is_empty() {
        let _ = writeln!(o, "nothing pinned under {}", layout.dir.display());
        return o;
    }
    for l in &r.links {
        let _ = writeln!(o, "detached  {l}");
    }
    let _ = writeln!(
        o,
        "removed   {} paths (links, program, maps, directory)",
        r.removed.len()
    );
    if !r.left.is_empty() {
        let _ = writeln!(o, "left      {} (not this instance's)", r.left.join(", "));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{DataplaneCounters, DpCounterValue};

    fn reading(unix_ms: u64, pid: u32, decap: u64, drops: u64) -> Counters {
        let dp = |name: &str, kind: &str, total: u64| DpCounterValue {
            name: format!("{kind}/{name}"),
            kind: kind.into(),
            short: name.into(),
            total,
            per_worker: vec![total],
        };
        Counters {
            unix_ms,
            cpus: 1,
            xdp: Vec::new(),
            interfaces: Vec::new(),
            dataplane: Some(DataplaneCounters {
                file: "counters".into(),
                pid,
                layout_hash: "0".into(),
                workers: Vec::new(),
                counters: vec![
                    dp("sixto4_decap", "event", decap),
                    dp("s4_05_spoofed", "drop", drops),
                ],
            }),
            dataplane_message: String::new(),
        }
    }

    #[test]
    fn watch_json_has_dataplane_rates_of_what_moved() {
        let a = reading(1_000, 7, 100, 5);
        let b = reading(3_000, 7, 700, 5);
        let v = counters_json(&b, Some(&a));
        assert_eq!(v["interval_s"], serde_json::json!(2.0));
        assert_eq!(
            v["dataplane_rates"],
            serde_json::json!({ "event/sixto4_decap": 300.0 })
        );
        // The first reading has no rates; a restarted dataplane (new pid)
        // has none either.
        assert!(counters_json(&a, None).get("dataplane_rates").is_none());
        let c = reading(5_000, 8, 10, 0);
        assert!(counters_json(&c, Some(&b)).get("dataplane_rates").is_none());
    }
}
