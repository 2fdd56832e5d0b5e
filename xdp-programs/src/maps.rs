//! Typed access to the program's maps: the relay addresses, the Teredo
//! address and port, the managed prefixes, the socket slots and the
//! per-CPU counters.
//!
//! Every edit is one map syscall and takes effect for the next frame; the
//! program never sees a half-written entry (the kernel swaps hash and LPM
//! elements whole). [`RelayMaps::apply`] makes the maps equal to a
//! [`Steering`] set by adding before removing, so a prefix that stays is
//! never briefly missing.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use aya::maps::lpm_trie::Key;
use aya::maps::{HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray, XskMap};
use aya::Ebpf;
use xrelay_engine::config::Ipv6Net;

use crate::abi::{self, Counter, PrefixKind, PrefixVal, TeredoVal, V4Key, V4Val};
use crate::{Error, Steering};

/// Handles on the five maps, taken from a loaded object or opened from
/// their pins.
pub struct RelayMaps {
    sixto4: HashMap<MapData, V4Key, V4Val>,
    teredo: HashMap<MapData, V4Key, TeredoVal>,
    prefixes: LpmTrie<MapData, [u8; 16], PrefixVal>,
    xsks: XskMap<MapData>,
    counters: PerCpuArray<MapData, u64>,
}

impl std::fmt::Debug for RelayMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayMaps")
            .field("sixto4", &self.sixto4)
            .field("teredo", &self.teredo)
            .field("prefixes", &self.prefixes)
            .field("socket_slots", &self.xsks.len())
            .finish_non_exhaustive()
    }
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, Error> {
    ebpf.take_map(name)
        .ok_or(Error::Missing { kind: "map", name })
}

fn typed<T: TryFrom<Map, Error = MapError>>(map: Map, name: &'static str) -> Result<T, Error> {
    T::try_from(map).map_err(|source| Error::Map {
        map: name,
        call: "open",
        source,
    })
}

fn map_err(map: &'static str, call: &'static str) -> impl FnOnce(MapError) -> Error {
    move |source| Error::Map { map, call, source }
}

/// A `get` that found nothing is `None`, any other failure an error.
fn found<V>(r: Result<V, MapError>, map: &'static str) -> Result<Option<V>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(MapError::KeyNotFound) => Ok(None),
        Err(source) => Err(Error::Map {
            map,
            call: "lookup",
            source,
        }),
    }
}

/// A delete of a missing key is not an error (`prefix del` twice).
fn removed(r: Result<(), MapError>, map: &'static str) -> Result<bool, Error> {
    match r {
        Ok(()) => Ok(true),
        Err(MapError::KeyNotFound) => Ok(false),
        Err(MapError::SyscallError(e)) if e.io_error.kind() == std::io::ErrorKind::NotFound => {
            Ok(false)
        }
        Err(source) => Err(Error::Map {
            map,
            call: "delete",
            source,
        }),
    }
}

impl RelayMaps {
    pub(crate) fn from_ebpf(ebpf: &mut Ebpf) -> Result<RelayMaps, Error> {
        let sixto4 = take(ebpf, abi::MAP_SIXTO4)?;
        let teredo = take(ebpf, abi::MAP_TEREDO)?;
        let prefixes = take(ebpf, abi::MAP_PREFIXES)?;
        let xsks = take(ebpf, abi::MAP_XSKS)?;
        let counters = take(ebpf, abi::MAP_COUNTERS)?;
        RelayMaps::from_maps([sixto4, teredo, prefixes, xsks, counters])
    }

    /// Opens the maps pinned as `DIR/<map name>` (by a daemon that loaded
    /// with [`LoadOptions::pin_dir`](crate::LoadOptions::pin_dir)), e.g. after
    /// a restart of the control process, or from `xrelayctl` tools.
    pub fn from_pin_dir(dir: &Path) -> Result<RelayMaps, Error> {
        let open = |name: &'static str| {
            let path = dir.join(name);
            MapData::from_pin(&path)
                .and_then(Map::from_map_data)
                .map_err(|source| Error::Map {
                    map: name,
                    call: "open pinned",
                    source,
                })
        };
        RelayMaps::from_maps([
            open(abi::MAP_SIXTO4)?,
            open(abi::MAP_TEREDO)?,
            open(abi::MAP_PREFIXES)?,
            open(abi::MAP_XSKS)?,
            open(abi::MAP_COUNTERS)?,
        ])
    }

    fn from_maps([sixto4, teredo, prefixes, xsks, counters]: [Map; 5]) -> Result<RelayMaps, Error> {
        Ok(RelayMaps {
            sixto4: typed(sixto4, abi::MAP_SIXTO4)?,
            teredo: typed(teredo, abi::MAP_TEREDO)?,
            prefixes: typed(prefixes, abi::MAP_PREFIXES)?,
            xsks: typed(xsks, abi::MAP_XSKS)?,
            counters: typed(counters, abi::MAP_COUNTERS)?,
        })
    }

    // --- relay IPv4 addresses (protocol 41) ---

    /// Steers protocol 41 to `a` (`xrelayctl address add`).
    pub fn add_sixto4_addr(&mut self, a: Ipv4Addr) -> Result<(), Error> {
        self.sixto4
            .insert(V4Key::new(a), V4Val::default(), 0)
            .map_err(map_err(abi::MAP_SIXTO4, "update"))
    }

    /// Returns whether `a` was there.
    pub fn del_sixto4_addr(&mut self, a: Ipv4Addr) -> Result<bool, Error> {
        removed(self.sixto4.remove(&V4Key::new(a)), abi::MAP_SIXTO4)
    }

    pub fn sixto4_addrs(&self) -> Result<Vec<Ipv4Addr>, Error> {
        let mut v = Vec::new();
        for k in self.sixto4.keys() {
            v.push(k.map_err(map_err(abi::MAP_SIXTO4, "iterate"))?.addr());
        }
        v.sort();
        Ok(v)
    }

    // --- Teredo ---

    /// Steers UDP to `a`:`port` (one port per address).
    pub fn set_teredo(&mut self, a: Ipv4Addr, port: u16) -> Result<(), Error> {
        self.teredo
            .insert(V4Key::new(a), TeredoVal::new(port), 0)
            .map_err(map_err(abi::MAP_TEREDO, "update"))
    }

    pub fn del_teredo(&mut self, a: Ipv4Addr) -> Result<bool, Error> {
        removed(self.teredo.remove(&V4Key::new(a)), abi::MAP_TEREDO)
    }

    pub fn teredo(&self) -> Result<Vec<(Ipv4Addr, u16)>, Error> {
        let mut v = Vec::new();
        for kv in self.teredo.iter() {
            let (k, val) = kv.map_err(map_err(abi::MAP_TEREDO, "iterate"))?;
            v.push((k.addr(), val.port()));
        }
        v.sort();
        Ok(v)
    }

    // --- managed prefixes ---

    /// Steers IPv6 to `net` (`xrelayctl prefix add`). Multicast prefixes
    /// are refused: the program never steers multicast anyway (C-12).
    pub fn add_prefix(&mut self, net: Ipv6Net, kind: PrefixKind) -> Result<(), Error> {
        if net.len > 128 || net.addr.to_bits() & !net.mask() != 0 {
            return Err(Error::BadPrefix {
                prefix: net.to_string(),
                why: "host bits set beyond the prefix length",
            });
        }
        if net.len >= 8 && net.addr.octets()[0] == 0xff {
            return Err(Error::BadPrefix {
                prefix: net.to_string(),
                why: "multicast is never relayed",
            });
        }
        self.prefixes
            .insert(&lpm_key(net), PrefixVal { kind: kind as u32 }, 0)
            .map_err(map_err(abi::MAP_PREFIXES, "update"))
    }

    /// Removes exactly `net` (not a covering or covered prefix).
    pub fn del_prefix(&mut self, net: Ipv6Net) -> Result<bool, Error> {
        removed(self.prefixes.remove(&lpm_key(net)), abi::MAP_PREFIXES)
    }

    pub fn prefixes(&self) -> Result<Vec<(Ipv6Net, PrefixKind)>, Error> {
        let mut v = Vec::new();
        for kv in self.prefixes.iter() {
            let (k, val) = kv.map_err(map_err(abi::MAP_PREFIXES, "iterate"))?;
            let len = u8::try_from(k.prefix_len()).unwrap_or(u8::MAX);
            let net = Ipv6Net::new(Ipv6Addr::from(k.data()), len);
            v.push((
                net,
                PrefixKind::from_u32(val.kind).unwrap_or(PrefixKind::Operator),
            ));
        }
        v.sort_by_key(|(n, k)| (n.addr, n.len, *k));
        Ok(v)
    }

    /// The longest managed prefix holding `a`, as the program looks it up.
    pub fn lookup_prefix(&self, a: Ipv6Addr) -> Result<Option<PrefixKind>, Error> {
        let r = self.prefixes.get(&Key::new(128, a.octets()), 0);
        Ok(found(r, abi::MAP_PREFIXES)?
            .map(|v| PrefixKind::from_u32(v.kind).unwrap_or(PrefixKind::Operator)))
    }

    // --- sockets ---

    /// Puts the AF_XDP socket of receive queue `queue` in its slot.
    pub fn set_socket(&mut self, queue: u32, socket: &impl AsRawFd) -> Result<(), Error> {
        self.xsks
            .set(queue, socket.as_raw_fd(), 0)
            .map_err(map_err(abi::MAP_XSKS, "update"))
    }

    /// Empties the slot: frames of that queue pass to the kernel.
    pub fn clear_socket(&mut self, queue: u32) -> Result<bool, Error> {
        removed(self.xsks.unset(queue), abi::MAP_XSKS)
    }

    /// The number of slots (receive queues that can have a socket).
    pub fn socket_slots(&self) -> u32 {
        self.xsks.len()
    }

    // --- counters ---

    /// Reads every counter on every possible CPU.
    pub fn counters(&self) -> Result<CounterSnapshot, Error> {
        let mut per_cpu: Vec<[u64; Counter::COUNT]> = Vec::new();
        for c in Counter::ALL {
            let values = self
                .counters
                .get(&c.index(), 0)
                .map_err(map_err(abi::MAP_COUNTERS, "lookup"))?;
            if per_cpu.len() < values.len() {
                per_cpu.resize(values.len(), [0; Counter::COUNT]);
            }
            for (cpu, v) in values.iter().enumerate() {
                per_cpu[cpu][c.index() as usize] = *v;
            }
        }
        Ok(CounterSnapshot { per_cpu })
    }

    // --- the whole set ---

    /// Makes the three steering maps hold exactly `s`: adds and updates
    /// first, then removes what `s` lacks. Prefixes added at run time must
    /// be part of `s` to survive (the daemon keeps them).
    pub fn apply(&mut self, s: &Steering) -> Result<(), Error> {
        for a in &s.sixto4 {
            self.add_sixto4_addr(*a)?;
        }
        for (a, p) in &s.teredo {
            self.set_teredo(*a, *p)?;
        }
        for (n, k) in &s.prefixes {
            self.add_prefix(*n, *k)?;
        }
        for a in self.sixto4_addrs()? {
            if !s.sixto4.contains(&a) {
                self.del_sixto4_addr(a)?;
            }
        }
        for (a, _) in self.teredo()? {
            if !s.teredo.iter().any(|(t, _)| *t == a) {
                self.del_teredo(a)?;
            }
        }
        let want: BTreeMap<(Ipv6Addr, u8), PrefixKind> = s
            .prefixes
            .iter()
            .map(|(n, k)| ((n.addr, n.len), *k))
            .collect();
        for (n, _) in self.prefixes()? {
            if !want.contains_key(&(n.addr, n.len)) {
                self.del_prefix(n)?;
            }
        }
        Ok(())
    }
}

fn lpm_key(net: Ipv6Net) -> Key<[u8; 16]> {
    Key::new(u32::from(net.len), net.addr.octets())
}

/// The counters of every CPU at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// `per_cpu[cpu][counter index]`.
    pub per_cpu: Vec<[u64; Counter::COUNT]>,
}

impl CounterSnapshot {
    /// Sum over all CPUs.
    pub fn total(&self, c: Counter) -> u64 {
        self.per_cpu.iter().map(|v| v[c.index() as usize]).sum()
    }

    /// Every counter with its total, in slot order.
    pub fn totals(&self) -> Vec<(Counter, u64)> {
        Counter::ALL.iter().map(|c| (*c, self.total(*c))).collect()
    }

    /// `self - earlier`, per CPU (for rates and test deltas).
    pub fn delta(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        let per_cpu = self
            .per_cpu
            .iter()
            .enumerate()
            .map(|(cpu, now)| {
                let before = earlier
                    .per_cpu
                    .get(cpu)
                    .copied()
                    .unwrap_or([0; Counter::COUNT]);
                std::array::from_fn(|i| now[i].wrapping_sub(before[i]))
            })
            .collect();
        CounterSnapshot { per_cpu }
    }
}
