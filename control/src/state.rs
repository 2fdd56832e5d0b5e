//! Run-time edits (`xrelayctl prefix|address add|del`) and their file,
//! `STATE_DIR/state.json`.
//!
//! The steering set the daemon programs is always
//! `relay.toml's set (Steering::from_config) + added − removed`, so an edit
//! survives a daemon restart and `RelayMaps::apply` (which removes whatever
//! the set lacks) never undoes it. Removing something that came from
//! relay.toml is recorded as a removal; adding it back cancels the removal.
//!
//! Every edit is checked first ([`Edits::check_prefix`] and friends) and
//! only then applied to the maps and written here; a refused edit changes
//! nothing. The file is replaced atomically (write, fsync, rename).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xrelay_engine::config::Ipv6Net;
use xrelay_xdp::abi::PrefixKind;
use xrelay_xdp::{Settings, Steering};

/// Entries of `xr_prefixes` (`include/maps.h`).
pub const PREFIX_CAPACITY: usize = 1024;
/// Entries of `xr_sixto4`.
pub const SIXTO4_CAPACITY: usize = 64;
/// Entries of `xr_teredo`.
pub const TEREDO_CAPACITY: usize = 16;

/// What an operator changed at run time, relative to relay.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Edits {
    /// Sorted by address and length, no duplicates ([`Ipv6Net`] has no `Ord`).
    pub prefixes_added: Vec<Ipv6Net>,
    pub prefixes_removed: Vec<Ipv6Net>,
    pub sixto4_added: BTreeSet<Ipv4Addr>,
    pub sixto4_removed: BTreeSet<Ipv4Addr>,
    /// Teredo address → port.
    pub teredo_added: BTreeMap<Ipv4Addr, u16>,
    pub teredo_removed: BTreeSet<Ipv4Addr>,
}

/// The program the daemon last loaded, so a restart can tell whether the
/// pinned program has the load-time constants relay.toml now needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRecord {
    pub prog_id: u32,
    pub sixto4: bool,
    pub teredo: bool,
    pub native: bool,
    pub icmp4_errors: bool,
}

impl ProgramRecord {
    pub fn new(prog_id: u32, s: &Settings) -> ProgramRecord {
        ProgramRecord {
            prog_id,
            sixto4: s.sixto4,
            teredo: s.teredo,
            native: s.native,
            icmp4_errors: s.icmp4_errors,
        }
    }
    pub fn settings(&self) -> Settings {
        Settings {
            sixto4: self.sixto4,
            teredo: self.teredo,
            native: self.native,
            icmp4_errors: self.icmp4_errors,
        }
    }
}

/// `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// Format version; 1.
    pub version: u32,
    #[serde(default)]
    pub edits: Edits,
    /// The program loaded on each interface, by interface name.
    #[serde(default)]
    pub programs: BTreeMap<String, ProgramRecord>,
    /// Names of the announced set drained with `prefix drain` (kept
    /// withdrawn until `prefix undrain`, also across restarts).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub drained: BTreeSet<String>,
}

/// Why an edit was refused (bad input: exit status 2) .
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Parse(String),
    #[error("prefix {prefix} is refused: {why}")]
    Prefix { prefix: Ipv6Net, why: String },
    #[error("address {addr} is refused: {why}")]
    Address { addr: Ipv4Addr, why: String },
    #[error("{what} {item} is not in the steering set (see `xrelayctl {noun} list`)")]
    NotThere {
        what: &'static str,
        item: String,
        noun: &'static str,
    },
    #[error("{map} is full ({capacity} entries): delete one first")]
    Full { map: &'static str, capacity: usize },
    #[error("{0}")]
    Off(String),
}

/// Reading or writing state.json failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{call} {}: {source}", .path.display())]
    Io {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}; fix the file or move it away (the run-time edits in it are then lost)", .path.display())]
    Damaged {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl StateFile {
    /// Reads `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<StateFile, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StateFile {
                    version: 1,
                    ..StateFile::default()
                })
            }
            Err(source) => {
                return Err(StateError::Io {
                    call: "read",
                    path: path.to_owned(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|source| StateError::Damaged {
            path: path.to_owned(),
            source,
        })
    }

    /// Replaces `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |call: &'static str, p: &Path| {
            let path = p.to_owned();
            move |source| StateError::Io { call, path, source }
        };
        let tmp = path.with_extension("json.tmp");
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("rename", path))
    }
}

/// Relay addresses must be unicast and routable (the rule relay.toml's
/// addresses follow, docs/config.md "Validation").
fn address_problem(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    match o[0] {
        0 => Some("0.0.0.0/8 is not a usable address"),
        127 => Some("127.0.0.0/8 is loopback"),
        224..=239 => Some("224.0.0.0/4 is multicast"),
        240..=255 => Some("240.0.0.0/4 is reserved (or broadcast)"),
        _ => None,
    }
}

const MULTICAST: Ipv6Net = Ipv6Net::new(std::net::Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8);
const LINK_LOCAL: Ipv6Net = Ipv6Net::new(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10);

fn set_insert(v: &mut Vec<Ipv6Net>, n: Ipv6Net) {
    if let Err(i) = v.binary_search_by_key(&(n.addr, n.len), |m| (m.addr, m.len)) {
        v.insert(i, n);
    }
}

fn set_remove(v: &mut Vec<Ipv6Net>, n: &Ipv6Net) {
    v.retain(|m| m != n);
}

fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.addr) || b.contains(&a.addr)
}

/// Parses an IPv6 prefix as relay.toml does (`2001:db8::/48`, host bits clear).
pub fn parse_prefix(s: &str) -> Result<Ipv6Net, EditError> {
    s.trim()
        .parse()
        .map_err(|e: xrelay_engine::config::ParseError| EditError::Parse(e.to_string()))
}

/// Parses an IPv4 address.
pub fn parse_addr(s: &str) -> Result<Ipv4Addr, EditError> {
    s.trim().parse().map_err(|_| {
        EditError::Parse(format!(
            "`{s}` is not an IPv4 address: write it as e.g. 192.0.2.1"
        ))
    })
}

impl Edits {
    /// The steering set for relay.toml's set `base` with these edits.
    pub fn apply_to(&self, base: &Steering) -> Steering {
        let mut s = base.clone();
        s.prefixes
            .retain(|(n, _)| !self.prefixes_removed.contains(n));
        for n in &self.prefixes_added {
            if !s.prefixes.iter().any(|(m, _)| m == n) {
                s.prefixes.push((*n, PrefixKind::Operator));
            }
        }
        s.sixto4.retain(|a| !self.sixto4_removed.contains(a));
        for a in &self.sixto4_added {
            if !s.sixto4.contains(a) {
                s.sixto4.push(*a);
            }
        }
        s.teredo.retain(|(a, _)| {
            !self.teredo_removed.contains(a) && !self.teredo_added.contains_key(a)
        });
        s.teredo
            .extend(self.teredo_added.iter().map(|(a, p)| (*a, *p)));
        s.prefixes.sort_by_key(|(n, k)| (n.addr, n.len, *k));
        s.sixto4.sort();
        s.teredo.sort();
        s
    }

    /// Checks `prefix add` against the current set `now`; `Ok(false)` when
    /// it is already there (nothing to do).
    pub fn check_prefix_add(now: &Steering, n: Ipv6Net) -> Result<bool, EditError> {
        for (bad, why) in [
            (
                MULTICAST,
                "it overlaps ff00::/8: multicast is never relayed",
            ),
            (
                LINK_LOCAL,
                "it overlaps fe80::/10: link-local traffic (ND) must reach the kernel",
            ),
        ] {
            if overlaps(&n, &bad) {
                return Err(EditError::Prefix {
                    prefix: n,
                    why: why.into(),
                });
            }
        }
        if now.prefixes.iter().any(|(m, _)| *m == n) {
            return Ok(false);
        }
        if now.prefixes.len() >= PREFIX_CAPACITY {
            return Err(EditError::Full {
                map: "the prefix map xr_prefixes",
                capacity: PREFIX_CAPACITY,
            });
        }
        Ok(true)
    }

    pub fn check_prefix_del(now: &Steering, n: Ipv6Net) -> Result<(), EditError> {
        if now.prefixes.iter().any(|(m, _)| *m == n) {
            Ok(())
        } else {
            Err(EditError::NotThere {
                what: "prefix",
                item: n.to_string(),
                noun: "prefix",
            })
        }
    }

    pub fn add_prefix(&mut self, base: &Steering, n: Ipv6Net) {
        set_remove(&mut self.prefixes_removed, &n);
        if !base.prefixes.iter().any(|(m, _)| *m == n) {
            set_insert(&mut self.prefixes_added, n);
        }
    }

    pub fn del_prefix(&mut self, base: &Steering, n: Ipv6Net) {
        set_remove(&mut self.prefixes_added, &n);
        if base.prefixes.iter().any(|(m, _)| *m == n) {
            set_insert(&mut self.prefixes_removed, n);
        }
    }

    /// Checks `address add --kind 6to4`; `Ok(false)` when already there.
    pub fn check_sixto4_add(now: &Steering, a: Ipv4Addr) -> Result<bool, EditError> {
        if let Some(why) = address_problem(a) {
            return Err(EditError::Address {
                addr: a,
                why: why.into(),
            });
        }
        if !now.settings.sixto4 {
            return Err(EditError::Off(
                "6to4 steering is compiled out of the loaded program (sixto4.enabled = false in relay.toml): enable it there and restart the daemon".into(),
            ));
        }
        if now.sixto4.contains(&a) {
            return Ok(false);
        }
        if now.sixto4.len() >= SIXTO4_CAPACITY {
            return Err(EditError::Full {
                map: "the 6to4 address map xr_sixto4",
                capacity: SIXTO4_CAPACITY,
            });
        }
        Ok(true)
    }

    /// Checks `address add --kind teredo`; `Ok(false)` when already there
    /// with that port.
    pub fn check_teredo_add(now: &Steering, a: Ipv4Addr, port: u16) -> Result<bool, EditError> {
        if let Some(why) = address_problem(a) {
            return Err(EditError::Address {
                addr: a,
                why: why.into(),
            });
        }
        if port == 0 {
            return Err(EditError::Address {
                addr: a,
                why: "port 0 cannot be used: give the Teredo service port, e.g. 192.0.2.2:3545"
                    .into(),
            });
        }
        if !now.settings.teredo {
            return Err(EditError::Off(
                "Teredo steering is compiled out of the loaded program (teredo.enabled = false in relay.toml): enable it there and restart the daemon".into(),
            ));
        }
        if now.teredo.contains(&(a, port)) {
            return Ok(false);
        }
        if !now.teredo.iter().any(|(t, _)| *t == a) && now.teredo.len() >= TEREDO_CAPACITY {
            return Err(EditError::Full {
                map: "the Teredo address map xr_teredo",
                capacity: TEREDO_CAPACITY,
            });
        }
        Ok(true)
    }

    pub fn check_sixto4_del(now: &Steering, a: Ipv4Addr) -> Result<(), EditError> {
        if now.sixto4.contains(&a) {
            Ok(())
        } else {
            Err(EditError::NotThere {
                what: "6to4 address",
                item: a.to_string(),
                noun: "address",
            })
        }
    }

    pub fn check_teredo_del(now: &Steering, a: Ipv4Addr) -> Result<(), EditError> {
        if now.teredo.iter().any(|(t, _)| *t == a) {
            Ok(())
        } else {
            Err(EditError::NotThere {
                what: "Teredo address",
                item: a.to_string(),
                noun: "address",
            })
        }
    }

    pub fn add_sixto4(&mut self, base: &Steering, a: Ipv4Addr) {
        self.sixto4_removed.remove(&a);
        if !base.sixto4.contains(&a) {
            self.sixto4_added.insert(a);
        }
    }

    pub fn del_sixto4(&mut self, base: &Steering, a: Ipv4Addr) {
        self.sixto4_added.remove(&a);
        if base.sixto4.contains(&a) {
            self.sixto4_removed.insert(a);
        }
    }

    pub fn add_teredo(&mut self, base: &Steering, a: Ipv4Addr, port: u16) {
        self.teredo_removed.remove(&a);
        if base.teredo.contains(&(a, port)) {
            self.teredo_added.remove(&a);
        } else {
            self.teredo_added.insert(a, port);
        }
    }

    pub fn del_teredo(&mut self, base: &Steering, a: Ipv4Addr) {
        self.teredo_added.remove(&a);
        if base.teredo.iter().any(|(t, _)| *t == a) {
            self.teredo_removed.insert(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv6Net {
        match s.parse() {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        }
    }

    fn base() -> Steering {
        Steering {
            settings: Settings::default(),
            sixto4: vec![Ipv4Addr::new(192, 0, 2, 1)],
            teredo: vec![(Ipv4Addr::new(192, 0, 2, 2), 3545)],
            prefixes: vec![(net("2002::/16"), PrefixKind::SixToFour)],
        }
    }

    #[test]
    fn edits_overlay_the_config_and_cancel_out() {
        let b = base();
        let mut e = Edits::default();
        let p = net("2001:db8:ffff::/48");
        assert_eq!(Edits::check_prefix_add(&e.apply_to(&b), p), Ok(true));
        e.add_prefix(&b, p);
        assert!(e.apply_to(&b).prefixes.contains(&(p, PrefixKind::Operator)));
        assert_eq!(Edits::check_prefix_add(&e.apply_to(&b), p), Ok(false));
        e.del_prefix(&b, p);
        assert_eq!(e, Edits::default());
        // Removing a relay.toml prefix is remembered, adding it back forgets it.
        e.del_prefix(&b, net("2002::/16"));
        assert!(e.apply_to(&b).prefixes.is_empty());
        e.add_prefix(&b, net("2002::/16"));
        assert_eq!(e, Edits::default());
        assert_eq!(e.apply_to(&b), b);
        // Teredo: a new port for the configured address replaces it.
        let t = Ipv4Addr::new(192, 0, 2, 2);
        e.add_teredo(&b, t, 3546);
        assert_eq!(e.apply_to(&b).teredo, [(t, 3546)]);
        e.add_teredo(&b, t, 3545);
        assert_eq!(e, Edits::default());
        e.del_teredo(&b, t);
        assert!(e.apply_to(&b).teredo.is_empty());
    }

    #[test]
    fn bad_edits_are_refused() {
        let b = base();
        assert!(parse_prefix("2001:db8::1/48").is_err());
        assert!(parse_prefix("nonsense").is_err());
        assert!(Edits::check_prefix_add(&b, net("ff00::/8")).is_err());
        assert!(Edits::check_prefix_add(&b, net("::/0")).is_err());
        assert!(Edits::check_prefix_add(&b, net("fe80::/64")).is_err());
        assert!(Edits::check_prefix_del(&b, net("2001:db8::/32")).is_err());
        assert!(Edits::check_sixto4_add(&b, Ipv4Addr::new(127, 0, 0, 1)).is_err());
        assert!(Edits::check_teredo_add(&b, Ipv4Addr::new(192, 0, 2, 9), 0).is_err());
        assert!(Edits::check_sixto4_del(&b, Ipv4Addr::new(192, 0, 2, 9)).is_err());
        let mut off = b.clone();
        off.settings.teredo = false;
        assert!(matches!(
            Edits::check_teredo_add(&off, Ipv4Addr::new(192, 0, 2, 9), 3545),
            Err(EditError::Off(_))
        ));
    }

    #[test]
    fn state_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("xrelay-state-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("state.json");
        let _ = std::fs::remove_file(&path);
        let empty = StateFile::load(&path).map_err(|e| e.to_string());
        assert_eq!(empty.as_ref().map(|s| s.version), Ok(1));
        let mut s = StateFile {
            version: 1,
            ..StateFile::default()
        };
        s.edits.add_prefix(&base(), net("2001:db8:ffff::/48"));
        s.programs
            .insert("xr-v4".into(), ProgramRecord::new(7, &Settings::default()));
        assert!(s.save(&path).is_ok());
        let back = StateFile::load(&path).map_err(|e| e.to_string());
        assert_eq!(back, Ok(s));
        std::fs::write(&path, "{ not json").unwrap_or_default();
        let e = StateFile::load(&path)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            matches!(&e, Err(m) if m.contains("state.json") && m.contains("move it away")),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
