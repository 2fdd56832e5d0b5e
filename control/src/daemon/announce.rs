//! The daemon's side of the announcer (crate::announce, docs/bgp.md):
//! health → [`Announcer`] → backend, every poll (100 ms); `prefix
//! drain|undrain`; the `announce-status` answer; the next-hop probes of
//! the health check.
//!
//! Each state change is one log line, `event=prefix-announced|withdrawn|
//! drained|removed name=… prefix=… from=… to=… why=… backend=…`, whose
//! timestamp says when.

use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use xrelay_engine::config::AnnounceBackend;

use super::Daemon;
use crate::admin::{AnnounceStatus, AnnouncedPrefix, EditResult, ErrorKind, Response};
use crate::announce::kernel::{route_get, KernelRoutes, Resolved};
use crate::announce::{self, Action, Announcer, Change};
use crate::logline;
use crate::netlink;

/// Where announcements go.
#[derive(Debug)]
pub(crate) enum Backend {
    /// `announce.backend = "none"`: nothing is announced, nothing checked.
    Off,
    Kernel(KernelRoutes),
    /// `xrelayctl exabgp` follows `announce-status`; nothing to do here.
    Exabgp,
}

impl Backend {
    pub(crate) fn from_config(cfg: &xrelay_engine::Config) -> Backend {
        match cfg.announce.backend {
            AnnounceBackend::None => Backend::Off,
            AnnounceBackend::Kernel => {
                Backend::Kernel(KernelRoutes::new(cfg.announce.table, cfg.announce.protocol))
            }
            AnnounceBackend::Exabgp => Backend::Exabgp,
        }
    }
}

/// What the announcer keeps in the daemon.
#[derive(Debug)]
pub(crate) struct AnnounceState {
    pub(crate) announcer: Announcer,
    pub(crate) backend: Backend,
    /// Dataplane restarts seen at the last tick: a restart between two
    /// ticks is a failure even if the new process is already healthy.
    restarts: u32,
    changes: u64,
}

impl AnnounceState {
    pub(crate) fn new(cfg: &xrelay_engine::Config) -> AnnounceState {
        AnnounceState {
            announcer: Announcer::new(std::time::Duration::from_secs(u64::from(
                cfg.announce.hold_down,
            ))),
            backend: Backend::from_config(cfg),
            restarts: 0,
            changes: 0,
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Daemon {
    fn announcing(&self) -> bool {
        !matches!(self.announce.backend, Backend::Off)
    }

    /// Kernel backend: routes of our protocol in our table left by a
    /// previous daemon are removed; announcing starts from withdrawn.
    pub(super) fn announce_start(&mut self) {
        let Backend::Kernel(k) = &mut self.announce.backend else {
            return;
        };
        match k.flush() {
            Ok(v) if v.is_empty() => {}
            Ok(v) => {
                let list: Vec<String> = v.iter().map(ToString::to_string).collect();
                logline::info(
                    "announce-flushed",
                    &[
                        ("routes", &list.join(",")),
                        ("table", &k.table),
                        ("protocol", &k.protocol),
                        ("why", &"left by a previous daemon; withdrawn until healthy"),
                    ],
                );
            }
            Err(e) => logline::error("announce-flush-failed", &[("error", &e)]),
        }
    }

    /// The next-hop probes: `announce.probe_v4` must resolve through the
    /// v4 interface and `announce.probe_v6` through the v6 one (the v4
    /// one when one-armed). Only when announcing.
    pub(super) fn nexthop_problems(&self) -> Vec<String> {
        if !self.announcing() {
            return Vec::new();
        }
        let a = &self.cfg.announce;
        let v6_if = if self.cfg.interfaces.one_armed {
            &self.cfg.interfaces.v4.name
        } else {
            &self.cfg.interfaces.v6.name
        };
        let mut problems = Vec::new();
        for (fam, dst, iface) in [
            ("IPv4", IpAddr::V4(a.probe_v4), &self.cfg.interfaces.v4.name),
            ("IPv6", IpAddr::V6(a.probe_v6), v6_if),
        ] {
            let want = netlink::link_by_name(iface)
                .ok()
                .flatten()
                .map(|l| l.ifindex);
            let why = match route_get(dst) {
                Ok(Some(Resolved::Via(i))) if Some(i) == want => continue,
                Ok(Some(Resolved::Via(i))) => format!("it leaves through ifindex {i}, not {iface}"),
                Ok(Some(Resolved::Type(t))) => format!("the route is of type {t}, not unicast"),
                Ok(None) => "no route".to_owned(),
                Err(e) => e.to_string(),
            };
            problems.push(format!(
                "no {fam} next hop: {dst} (announce.probe_{}) does not resolve through {iface}: {why}",
                if fam == "IPv4" { "v4" } else { "v6" }
            ));
        }
        problems
    }

    /// One evaluation (every 100 ms, after the dataplane poll).
    pub(super) fn announce_tick(&mut self, now: Instant) {
        if !self.announcing() {
            return;
        }
        let mut problems = self.health().problems;
        let restarts = self.dataplane.status().restarts;
        if restarts != self.announce.restarts {
            self.announce.restarts = restarts;
            problems.push(format!("dataplane restarted (restart {restarts})"));
        }
        let wanted = announce::wanted(&self.cfg, &self.current());
        let changes = self.announce.announcer.tick(
            now,
            SystemTime::now(),
            &problems,
            &wanted,
            &self.state.drained,
        );
        self.apply(now, &changes);
    }

    fn apply(&mut self, now: Instant, changes: &[Change]) {
        let backend = self.cfg.announce.backend.name();
        for c in changes {
            let result = match (&mut self.announce.backend, c.action()) {
                (Backend::Kernel(k), Some(Action::Announce)) => k.announce(&c.net),
                (Backend::Kernel(k), Some(Action::Withdraw)) => k.withdraw(&c.net),
                _ => Ok(()),
            };
            self.announce.changes += 1;
            let state = |s: Option<announce::PrefixState>| s.map_or("-", |s| s.name());
            let fields: [(&str, &dyn std::fmt::Display); 6] = [
                ("name", &c.name),
                ("prefix", &c.net),
                ("from", &state(c.from)),
                ("to", &state(c.to)),
                ("why", &c.why),
                ("backend", &backend),
            ];
            match result {
                Ok(()) if c.action() == Some(Action::Withdraw) => {
                    logline::warn(c.event(), &fields);
                }
                Ok(()) => logline::info(c.event(), &fields),
                Err(e) => {
                    logline::error(
                        "announce-failed",
                        &[("name", &c.name), ("prefix", &c.net), ("error", &e)],
                    );
                    if c.action() == Some(Action::Announce) {
                        self.announce.announcer.failed(now, &c.net, &e.to_string());
                    }
                }
            }
        }
    }

    /// The daemon stops: withdraw everything announced.
    pub(super) fn announce_stop(&mut self) {
        let changes = self
            .announce
            .announcer
            .withdraw_all(SystemTime::now(), "the daemon stops");
        self.apply(Instant::now(), &changes);
    }

    /// `announce-status`; None when nothing is announced (backend none).
    pub(super) fn announce_status(&self) -> Option<AnnounceStatus> {
        if !self.announcing() {
            return None;
        }
        let a = &self.announce.announcer;
        let now = Instant::now();
        let (table, protocol) = match &self.announce.backend {
            Backend::Kernel(k) => (Some(k.table), Some(k.protocol)),
            _ => (None, None),
        };
        Some(AnnounceStatus {
            backend: self.cfg.announce.backend.name().into(),
            table,
            protocol,
            hold_down_s: a.hold_down().as_secs(),
            healthy: a.problem().is_none(),
            problem: a.problem().map(str::to_owned),
            announce_in_ms: a
                .announce_in(now)
                .filter(|d| !d.is_zero())
                .map(|d| d.as_millis() as u64),
            changes: self.announce.changes,
            prefixes: a
                .entries()
                .iter()
                .map(|e| AnnouncedPrefix {
                    name: e.name.clone(),
                    prefix: e.net.to_string(),
                    kind: e.kind.into(),
                    state: e.state,
                    since_unix_ms: unix_ms(e.since),
                    why: e.why.clone(),
                })
                .collect(),
        })
    }

    pub(super) fn announce_answer(&self) -> Response {
        match self.announce_status() {
            Some(s) => Response::ok(s),
            None => Response::err(ErrorKind::Unavailable, NOT_ANNOUNCING),
        }
    }

    /// `prefix-drain` / `prefix-undrain`.
    pub(super) fn drain(&mut self, what: &str, drain: bool) -> Response {
        if !self.announcing() {
            return Response::err(ErrorKind::Unavailable, NOT_ANNOUNCING);
        }
        let names = match announce::resolve(self.announce.announcer.entries(), what) {
            Ok(n) => n,
            Err(e) => return Response::err(ErrorKind::BadInput, e),
        };
        let mut next = self.state.clone();
        let mut changed = Vec::new();
        for n in &names {
            let did = if drain {
                next.drained.insert(n.clone())
            } else {
                next.drained.remove(n)
            };
            if did {
                changed.push(n.as_str());
            }
        }
        let verb = if drain { "drained" } else { "undrained" };
        if changed.is_empty() {
            return Response::ok(EditResult {
                changed: false,
                message: format!("{} already {verb}", names.join(", ")),
            });
        }
        if let Err(e) = next.save(&self.state_path) {
            return super::server::failed(e);
        }
        self.state = next;
        logline::info(
            if drain { "drain" } else { "undrain" },
            &[("names", &changed.join(","))],
        );
        // At once, not at the next poll.
        self.announce_tick(Instant::now());
        let message = if drain {
            format!(
                "{} drained: withdrawn from BGP, still forwarded (`prefix undrain` to announce again)",
                changed.join(", ")
            )
        } else {
            format!(
                "{} undrained: announced while healthy (once the hold-down has passed)",
                changed.join(", ")
            )
        };
        Response::ok(EditResult {
            changed: true,
            message,
        })
    }
}

pub(super) const NOT_ANNOUNCING: &str =
    "nothing is announced: announce.backend is \"none\" in relay.toml (set \"kernel\" or \"exabgp\", docs/bgp.md)";
