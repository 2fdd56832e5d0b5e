//! Health-driven announcement of the relay's prefixes (docs/bgp.md).
//!
//! The daemon owns the *announced set*: 192.88.99.0/24 when
//! `sixto4.anycast` is on (RFC 7526: off by default), every IPv6 prefix
//! steered to the relay (2002::/16, 2001::/32, the 6rd prefix, operator
//! prefixes) and `announce.extra_prefixes`. Each prefix is in one state:
//!
//! ```text
//!             healthy for hold_down            drain
//!  withdrawn ──────────────────────► announced ─────► drained
//!      ▲   ◄──────────────────────      │  ◄─────────   │
//!      │     any problem (≤ 1 poll)     │    undrain    │
//!      └────────────────────────────────┴───────────────┘
//! ```
//!
//! [`Announcer`] is the pure state machine: the daemon feeds it, every
//! poll (100 ms), the health problems and the wanted set, and applies the
//! returned [`Change`]s to a backend ([`kernel`] routes for BIRD/FRR, or
//! nothing for ExaBGP, whose `xrelayctl exabgp` process follows the set
//! over the admin socket, [`exabgp`]). Invariants: a prefix is announced
//! only while the last tick saw no problem and the relay had been healthy
//! for the hold-down; the first tick that sees a problem withdraws every
//! announced prefix; a drained prefix is never announced.

pub mod exabgp;
pub mod kernel;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use xrelay_engine::config::{AnyNet, Config, Ipv4Net};
use xrelay_xdp::abi::PrefixKind;
use xrelay_xdp::Steering;

/// The 6to4 relay anycast prefix (RFC 3068 §2.3).
pub const ANYCAST_6TO4: Ipv4Net = Ipv4Net::new(Ipv4Addr::new(192, 88, 99, 0), 24);

/// A backend that failed is tried again after this long.
pub const RETRY: Duration = Duration::from_secs(1);

/// The state of one prefix of the announced set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrefixState {
    Announced,
    Withdrawn,
    Drained,
}

impl PrefixState {
    pub const ALL: [PrefixState; 3] = [
        PrefixState::Announced,
        PrefixState::Withdrawn,
        PrefixState::Drained,
    ];
    pub const fn name(self) -> &'static str {
        match self {
            PrefixState::Announced => "announced",
            PrefixState::Withdrawn => "withdrawn",
            PrefixState::Drained => "drained",
        }
    }
}

/// A prefix the relay announces when healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Stable name, what `prefix drain NAME` takes: `6to4-anycast`, `6to4`,
    /// `teredo`, `6rd`, or the prefix itself (operator and extra prefixes).
    pub name: String,
    pub net: AnyNet,
    /// `6to4-anycast`, `6to4`, `teredo`, `6rd`, `operator`, `extra`.
    pub kind: &'static str,
}

/// The announced set for relay.toml and the current steering set.
pub fn wanted(cfg: &Config, steering: &Steering) -> Vec<Wanted> {
    let mut v: Vec<Wanted> = Vec::new();
    let mut push = |name: String, net: AnyNet, kind: &'static str| {
        if !v.iter().any(|w| w.net == net) {
            v.push(Wanted { name, net, kind });
        }
    };
    if cfg.sixto4.enabled && cfg.sixto4.anycast {
        push(
            "6to4-anycast".into(),
            AnyNet::V4(ANYCAST_6TO4),
            "6to4-anycast",
        );
    }
    for (n, k) in &steering.prefixes {
        let name = match k {
            PrefixKind::Operator => n.to_string(),
            k => k.name().to_owned(),
        };
        push(name, AnyNet::V6(*n), k.name());
    }
    for n in &cfg.announce.extra_prefixes {
        push(n.to_string(), *n, "extra");
    }
    v
}

/// One prefix as the announcer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub net: AnyNet,
    pub kind: &'static str,
    pub state: PrefixState,
    /// When the state last changed.
    pub since: SystemTime,
    /// Why it is in this state.
    pub why: String,
    /// A failed announcement is tried again from then on.
    retry_at: Option<Instant>,
}

/// What the backend must do for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Announce,
    Withdraw,
}

/// A state change of one prefix (`to == None`: it left the set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub net: AnyNet,
    pub from: Option<PrefixState>,
    pub to: Option<PrefixState>,
    pub why: String,
}

impl Change {
    /// The route operation, if the change needs one.
    pub fn action(&self) -> Option<Action> {
        let was = self.from == Some(PrefixState::Announced);
        let is = self.to == Some(PrefixState::Announced);
        match (was, is) {
            (false, true) => Some(Action::Announce),
            (true, false) => Some(Action::Withdraw),
            _ => None,
        }
    }

    /// The log event: `prefix-announced`, `prefix-withdrawn`,
    /// `prefix-drained`, `prefix-removed`.
    pub fn event(&self) -> &'static str {
        match self.to {
            Some(PrefixState::Announced) => "prefix-announced",
            Some(PrefixState::Withdrawn) => "prefix-withdrawn",
            Some(PrefixState::Drained) => "prefix-drained",
            None => "prefix-removed",
        }
    }
}

/// The state machine (see the module docs).
#[derive(Debug, Clone)]
pub struct Announcer {
    hold_down: Duration,
    /// Since when the relay has been healthy without a break.
    healthy_since: Option<Instant>,
    /// The first problem of the last tick (for the `why` of withdrawals).
    problem: Option<String>,
    entries: Vec<Entry>,
}

impl Announcer {
    pub fn new(hold_down: Duration) -> Announcer {
        Announcer {
            hold_down,
            healthy_since: None,
            problem: None,
            entries: Vec::new(),
        }
    }

    pub fn hold_down(&self) -> Duration {
        self.hold_down
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Healthy for at least the hold-down at `now`.
    pub fn up(&self, now: Instant) -> bool {
        self.healthy_since
            .is_some_and(|t| now.saturating_duration_since(t) >= self.hold_down)
    }

    /// Healthy, and announcing in this long (the rest of the hold-down).
    pub fn announce_in(&self, now: Instant) -> Option<Duration> {
        self.healthy_since.map(|t| {
            self.hold_down
                .saturating_sub(now.saturating_duration_since(t))
        })
    }

    /// The first health problem seen last (None: healthy).
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// One evaluation: `problems` (empty: healthy), the wanted set and the
    /// drained names. Returns the changes, in the order to apply them.
    pub fn tick(
        &mut self,
        now: Instant,
        wall: SystemTime,
        problems: &[String],
        wanted: &[Wanted],
        drained: &BTreeSet<String>,
    ) -> Vec<Change> {
        match problems.first() {
            Some(p) => {
                self.healthy_since = None;
                self.problem = Some(p.clone());
            }
            None => {
                self.healthy_since.get_or_insert(now);
                self.problem = None;
            }
        }
        let up = self.up(now);
        let mut changes = Vec::new();
        // Left the set: withdraw first.
        self.entries.retain(|e| {
            if wanted.iter().any(|w| w.net == e.net) {
                return true;
            }
            changes.push(Change {
                name: e.name.clone(),
                net: e.net,
                from: Some(e.state),
                to: None,
                why: "no longer in the announced set (prefix del or relay.toml)".into(),
            });
            false
        });
        for w in wanted {
            let i = match self.entries.iter().position(|e| e.net == w.net) {
                Some(i) => i,
                None => {
                    self.entries.push(Entry {
                        name: w.name.clone(),
                        net: w.net,
                        kind: w.kind,
                        state: PrefixState::Withdrawn,
                        since: wall,
                        why: "new in the announced set".into(),
                        retry_at: None,
                    });
                    self.entries.len() - 1
                }
            };
            let e = &mut self.entries[i];
            e.name.clone_from(&w.name);
            let (to, why) = if drained.contains(&w.name) {
                (PrefixState::Drained, "drained by the operator".to_owned())
            } else if let Some(p) = &self.problem {
                (PrefixState::Withdrawn, format!("unhealthy: {p}"))
            } else if !up {
                (
                    PrefixState::Withdrawn,
                    format!(
                        "hold-down: healthy for less than {} s",
                        self.hold_down.as_secs()
                    ),
                )
            } else if e.retry_at.is_some_and(|t| now < t) {
                continue;
            } else {
                (
                    PrefixState::Announced,
                    format!("healthy for the hold-down ({} s)", self.hold_down.as_secs()),
                )
            };
            if to != e.state {
                changes.push(Change {
                    name: e.name.clone(),
                    net: e.net,
                    from: Some(e.state),
                    to: Some(to),
                    why: why.clone(),
                });
                e.state = to;
                e.since = wall;
                e.retry_at = None;
                e.why = why;
            } else if to != PrefixState::Announced {
                e.why = why;
            }
        }
        // Withdrawals before announcements: a backend that moves traffic
        // never carries both.
        changes.sort_by_key(|c| c.action() != Some(Action::Withdraw));
        changes
    }

    /// The backend failed to announce `net`: it stays withdrawn, and is
    /// tried again after [`RETRY`].
    pub fn failed(&mut self, now: Instant, net: &AnyNet, error: &str) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.net == *net) {
            e.state = PrefixState::Withdrawn;
            e.why = format!("backend failed: {error}");
            e.retry_at = Some(now + RETRY);
        }
    }

    /// Withdraws everything announced (the daemon stops).
    pub fn withdraw_all(&mut self, wall: SystemTime, why: &str) -> Vec<Change> {
        let mut changes = Vec::new();
        for e in &mut self.entries {
            if e.state == PrefixState::Announced {
                changes.push(Change {
                    name: e.name.clone(),
                    net: e.net,
                    from: Some(e.state),
                    to: Some(PrefixState::Withdrawn),
                    why: why.to_owned(),
                });
                e.state = PrefixState::Withdrawn;
                e.since = wall;
                e.why = why.to_owned();
            }
        }
        self.healthy_since = None;
        changes
    }
}

/// Resolves what `prefix drain|undrain` was given: `all`, a name, or a
/// prefix (any spelling that parses to the same prefix).
pub fn resolve(entries: &[Entry], what: &str) -> Result<Vec<String>, String> {
    let what = what.trim();
    if what == "all" {
        return Ok(entries.iter().map(|e| e.name.clone()).collect());
    }
    if let Some(e) = entries.iter().find(|e| e.name == what) {
        return Ok(vec![e.name.clone()]);
    }
    if let Ok(n) = what.parse::<AnyNet>() {
        if let Some(e) = entries.iter().find(|e| e.net == n) {
            return Ok(vec![e.name.clone()]);
        }
    }
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    Err(format!(
        "`{what}` is not in the announced set; give `all`, a name or a prefix of `xrelayctl prefix list` ({})",
        if names.is_empty() {
            "the set is empty".to_owned()
        } else {
            names.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests;
