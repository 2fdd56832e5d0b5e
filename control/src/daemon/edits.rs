//! `prefix-list|add|del` and `address-list|add|del`.
//!
//! Every edit follows one order: parse and check against the current set
//! (a refusal changes nothing) → edit the maps of every interface's
//! program instance (takes effect for the next frame; a failure undoes the
//! interfaces already edited) → write state.json (a failure undoes the map
//! edits). The maps and the file never disagree.

use std::net::Ipv4Addr;

use xrelay_xdp::abi::PrefixKind;
use xrelay_xdp::RelayMaps;

use super::server::{detached, failed};
use super::Daemon;
use crate::admin::{
    AddrKind, AddressEntry, AddressList, EditResult, ErrorKind, PrefixEntry, PrefixList, Response,
};
use crate::logline;
use crate::state::{parse_addr, parse_prefix, EditError, Edits, StateError};

type MapOp<'a> = &'a dyn Fn(&mut RelayMaps) -> Result<(), xrelay_xdp::Error>;

fn bad(e: EditError) -> Response {
    Response::err(ErrorKind::BadInput, e.to_string())
}

fn unchanged(message: String) -> Response {
    Response::ok(EditResult {
        changed: false,
        message,
    })
}

impl Daemon {
    /// Applies `apply` to every interface's maps, then saves `edits`;
    /// undoes what was done when a step fails.
    fn commit(&mut self, edits: Edits, apply: MapOp<'_>, undo: MapOp<'_>) -> Result<(), Response> {
        let Some(xs) = &mut self.xdp else {
            return Err(detached());
        };
        for i in 0..xs.len() {
            if let Err(e) = apply(&mut xs[i].maps) {
                for x in &mut xs[..i] {
                    let _ = undo(&mut x.maps);
                }
                return Err(failed(format!("{}: {e}", xs[i].name)));
            }
        }
        if let Err(e) = self.save(edits) {
            for x in self.xdp.iter_mut().flatten() {
                let _ = undo(&mut x.maps);
            }
            return Err(failed(e));
        }
        Ok(())
    }

    fn save(&mut self, edits: Edits) -> Result<(), StateError> {
        let mut next = self.state.clone();
        next.edits = edits;
        next.save(&self.state_path)?;
        self.state = next;
        Ok(())
    }

    /// The maps of the first interface (all hold the same steering set).
    fn first_maps(&self) -> Option<&RelayMaps> {
        self.xdp.as_ref()?.first().map(|x| &x.maps)
    }

    pub(super) fn prefix_list(&self) -> Response {
        let Some(maps) = self.first_maps() else {
            return detached();
        };
        let e = &self.state.edits;
        match maps.prefixes() {
            Ok(v) => Response::ok(PrefixList {
                prefixes: v
                    .into_iter()
                    .map(|(n, k)| PrefixEntry {
                        prefix: n.to_string(),
                        kind: k.name().into(),
                        source: if e.prefixes_added.contains(&n) {
                            "runtime"
                        } else if self.base.prefixes.iter().any(|(m, _)| *m == n) {
                            "config"
                        } else {
                            "unknown"
                        }
                        .into(),
                    })
                    .collect(),
                removed_from_config: e.prefixes_removed.iter().map(|n| n.to_string()).collect(),
                announce: self.announce_status(),
            }),
            Err(err) => failed(err),
        }
    }

    pub(super) fn prefix_edit(&mut self, text: &str, add: bool) -> Response {
        let n = match parse_prefix(text) {
            Ok(n) => n,
            Err(e) => return bad(e),
        };
        let now = self.current();
        let check = if add {
            Edits::check_prefix_add(&now, n)
        } else {
            Edits::check_prefix_del(&now, n).map(|()| true)
        };
        match check {
            Ok(true) => {}
            Ok(false) => return unchanged(format!("prefix {n} is already steered")),
            Err(e) => return bad(e),
        }
        let kind = now
            .prefixes
            .iter()
            .find(|(m, _)| *m == n)
            .map_or(PrefixKind::Operator, |(_, k)| *k);
        let mut edits = self.state.edits.clone();
        let add_op = |m: &mut RelayMaps| m.add_prefix(n, kind);
        let del_op = |m: &mut RelayMaps| m.del_prefix(n).map(|_| ());
        let r = if add {
            edits.add_prefix(&self.base, n);
            self.commit(edits, &add_op, &del_op)
        } else {
            edits.del_prefix(&self.base, n);
            self.commit(edits, &del_op, &add_op)
        };
        if let Err(resp) = r {
            return resp;
        }
        let (event, verb) = if add {
            ("prefix-added", "added")
        } else {
            ("prefix-removed", "removed")
        };
        logline::info(event, &[("prefix", &n)]);
        Response::ok(EditResult {
            changed: true,
            message: format!("prefix {n} {verb}"),
        })
    }

    pub(super) fn address_list(&self) -> Response {
        let Some(maps) = self.first_maps() else {
            return detached();
        };
        let e = &self.state.edits;
        let source = |runtime: bool| if runtime { "runtime" } else { "config" }.to_owned();
        let (sixto4, teredo) = match (maps.sixto4_addrs(), maps.teredo()) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(err), _) | (_, Err(err)) => return failed(err),
        };
        let mut removed: Vec<String> = e
            .sixto4_removed
            .iter()
            .map(|a| format!("6to4 {a}"))
            .collect();
        removed.extend(e.teredo_removed.iter().map(|a| format!("teredo {a}")));
        Response::ok(AddressList {
            sixto4: sixto4
                .into_iter()
                .map(|a| AddressEntry {
                    addr: a.to_string(),
                    port: None,
                    source: source(e.sixto4_added.contains(&a)),
                })
                .collect(),
            teredo: teredo
                .into_iter()
                .map(|(a, p)| AddressEntry {
                    addr: a.to_string(),
                    port: Some(p),
                    source: source(e.teredo_added.contains_key(&a)),
                })
                .collect(),
            removed_from_config: removed,
        })
    }

    pub(super) fn address_edit(
        &mut self,
        kind: AddrKind,
        text: &str,
        port: Option<u16>,
        add: bool,
    ) -> Response {
        let a: Ipv4Addr = match parse_addr(text) {
            Ok(a) => a,
            Err(e) => return bad(e),
        };
        let now = self.current();
        let port = port.unwrap_or(self.cfg.teredo.port);
        let check = match (kind, add) {
            (AddrKind::SixToFour, true) => Edits::check_sixto4_add(&now, a),
            (AddrKind::Teredo, true) => Edits::check_teredo_add(&now, a, port),
            (AddrKind::SixToFour, false) => Edits::check_sixto4_del(&now, a).map(|()| true),
            (AddrKind::Teredo, false) => Edits::check_teredo_del(&now, a).map(|()| true),
        };
        let what = match kind {
            AddrKind::SixToFour => format!("6to4 address {a}"),
            AddrKind::Teredo if add => format!("Teredo address {a}:{port}"),
            AddrKind::Teredo => format!("Teredo address {a}"),
        };
        match check {
            Ok(true) => {}
            Ok(false) => return unchanged(format!("{what} is already steered")),
            Err(e) => return bad(e),
        }
        let old_port = now.teredo.iter().find(|(t, _)| *t == a).map(|(_, p)| *p);
        let mut edits = self.state.edits.clone();
        let add4 = |m: &mut RelayMaps| m.add_sixto4_addr(a);
        let del4 = |m: &mut RelayMaps| m.del_sixto4_addr(a).map(|_| ());
        let set_t = |m: &mut RelayMaps| m.set_teredo(a, port);
        let restore_t = |m: &mut RelayMaps| match old_port {
            Some(p) => m.set_teredo(a, p),
            None => m.del_teredo(a).map(|_| ()),
        };
        let del_t = |m: &mut RelayMaps| m.del_teredo(a).map(|_| ());
        let r = match (kind, add) {
            (AddrKind::SixToFour, true) => {
                edits.add_sixto4(&self.base, a);
                self.commit(edits, &add4, &del4)
            }
            (AddrKind::SixToFour, false) => {
                edits.del_sixto4(&self.base, a);
                self.commit(edits, &del4, &add4)
            }
            (AddrKind::Teredo, true) => {
                edits.add_teredo(&self.base, a, port);
                self.commit(edits, &set_t, &restore_t)
            }
            (AddrKind::Teredo, false) => {
                edits.del_teredo(&self.base, a);
                self.commit(edits, &del_t, &restore_t)
            }
        };
        if let Err(resp) = r {
            return resp;
        }
        let (event, verb) = if add {
            ("address-added", "added")
        } else {
            ("address-removed", "removed")
        };
        logline::info(event, &[("address", &what)]);
        Response::ok(EditResult {
            changed: true,
            message: format!("{what} {verb}"),
        })
    }
}
