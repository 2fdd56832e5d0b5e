//! The kernel's routes and neighbours as the sync knows them
//! ([`FibState`], mutable, one owner: the `dp-fib` thread), and the
//! compact immutable table the workers read ([`NextHops`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::nl::{self, Msg, Neigh, Route};

/// What the table says about a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Rewrite the destination MAC to this.
    Mac([u8; 6]),
    /// The FIB knows nothing for this family and interface: keep the
    /// static `next_hop_mac` the engine wrote.
    Static,
    /// A route exists, but none matches, or its next hop's neighbour is
    /// not resolved (absent, INCOMPLETE, FAILED): the kernel must resolve.
    Miss,
}

/// An address family's integer.
pub trait Bits: Copy + Ord + std::fmt::Debug {
    const BITS: u8;
    fn mask(self, len: u8) -> Self;
}
impl Bits for u32 {
    const BITS: u8 = 32;
    #[inline]
    fn mask(self, len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            self & (u32::MAX << (32 - u32::from(len.min(32))))
        }
    }
}
impl Bits for u128 {
    const BITS: u8 = 128;
    #[inline]
    fn mask(self, len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            self & (u128::MAX << (128 - u32::from(len.min(128))))
        }
    }
}

/// Longest-prefix match: one sorted array per prefix length present,
/// longest first; a lookup binary-searches each length until a hit
/// (interface routes: a handful of lengths).
/// The routes of one prefix length: (masked prefix, gateway), sorted.
type Level<A> = (u8, Vec<(A, Option<A>)>);

#[derive(Debug, Clone)]
pub struct Lpm<A> {
    levels: Vec<Level<A>>,
}

impl<A: Bits> Default for Lpm<A> {
    fn default() -> Self {
        Lpm { levels: Vec::new() }
    }
}

impl<A: Bits> Lpm<A> {
    /// From `(prefix, length, gateway)` (one per prefix; the prefix is masked).
    pub fn build(routes: impl IntoIterator<Item = (A, u8, Option<A>)>) -> Lpm<A> {
        let mut by_len: BTreeMap<u8, Vec<(A, Option<A>)>> = BTreeMap::new();
        for (p, len, gw) in routes {
            let len = len.min(A::BITS);
            by_len.entry(len).or_default().push((p.mask(len), gw));
        }
        let mut levels: Vec<_> = by_len
            .into_iter()
            .map(|(l, mut v)| {
                v.sort_by_key(|e| e.0);
                v.dedup_by_key(|e| e.0);
                (l, v)
            })
            .collect();
        levels.reverse();
        Lpm { levels }
    }
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
    pub fn len(&self) -> usize {
        self.levels.iter().map(|l| l.1.len()).sum()
    }
    /// The most specific route's gateway: `Some(None)` on-link,
    /// `Some(Some(gw))`, or `None` (no route).
    #[inline]
    pub fn find(&self, dst: A) -> Option<Option<A>> {
        for (len, v) in &self.levels {
            let key = dst.mask(*len);
            if let Ok(i) = v.binary_search_by_key(&key, |e| e.0) {
                return Some(v[i].1);
            }
        }
        None
    }
}

/// One family's routes (of its egress interface) and resolved neighbours.
#[derive(Debug)]
pub struct FamilyTable<A> {
    routes: Lpm<A>,
    /// Usable neighbours only, sorted by address.
    neigh: Vec<(A, [u8; 6])>,
    /// Per neighbour: a worker sent a frame to it since the sync last
    /// looked ([`FamilyTable::take_used`]). The kernel sees none of the
    /// frames the dataplane sends, so without this its STALE entries would
    /// never be re-validated (the kernel's own "neighbour used" event).
    used: Box<[AtomicBool]>,
}

impl<A: Bits> Default for FamilyTable<A> {
    fn default() -> Self {
        FamilyTable {
            routes: Lpm::default(),
            neigh: Vec::new(),
            used: Box::default(),
        }
    }
}

impl<A: Bits> Clone for FamilyTable<A> {
    fn clone(&self) -> Self {
        FamilyTable {
            routes: self.routes.clone(),
            neigh: self.neigh.clone(),
            used: self
                .used
                .iter()
                .map(|u| AtomicBool::new(u.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

impl<A: Bits> FamilyTable<A> {
    #[inline]
    pub fn lookup(&self, dst: A) -> Hop {
        if self.routes.is_empty() {
            return Hop::Static;
        }
        let Some(gw) = self.routes.find(dst) else {
            return Hop::Miss;
        };
        let nh = gw.unwrap_or(dst);
        match self.neigh.binary_search_by_key(&nh, |e| e.0) {
            Ok(i) => {
                // A load first: the flag's cache line is written once per
                // sync interval, not once per frame.
                if let Some(u) = self.used.get(i) {
                    if !u.load(Ordering::Relaxed) {
                        u.store(true, Ordering::Relaxed);
                    }
                }
                Hop::Mac(self.neigh[i].1)
            }
            Err(_) => Hop::Miss,
        }
    }
    /// The neighbours used since the last call, flags cleared.
    pub fn take_used(&self) -> Vec<A> {
        self.neigh
            .iter()
            .zip(self.used.iter())
            .filter(|(_, u)| u.swap(false, Ordering::Relaxed))
            .map(|(n, _)| n.0)
            .collect()
    }
    pub fn routes(&self) -> usize {
        self.routes.len()
    }
    pub fn neighbours(&self) -> usize {
        self.neigh.len()
    }
}

/// The immutable next-hop table: IPv4 over the routes of the IPv4-facing
/// interface, IPv6 over those of the IPv6-facing one.
#[derive(Debug, Clone, Default)]
pub struct NextHops {
    pub v4: FamilyTable<u32>,
    pub v6: FamilyTable<u128>,
}

impl NextHops {
    #[inline]
    pub fn v4(&self, dst: u32) -> Hop {
        self.v4.lookup(dst)
    }
    #[inline]
    pub fn v6(&self, dst: u128) -> Hop {
        self.v6.lookup(dst)
    }
}

/// Neighbour states whose link-layer address may be used (the kernel
/// itself transmits to STALE/DELAY/PROBE entries while it re-validates).
pub const USABLE: u16 =
    nl::NUD_REACHABLE | nl::NUD_STALE | nl::NUD_DELAY | nl::NUD_PROBE | nl::NUD_PERMANENT;

/// Whether a neighbour entry resolves its address.
pub fn usable(state: u16, mac: Option<[u8; 6]>) -> bool {
    state & USABLE != 0 && mac.is_some_and(|m| m != [0; 6])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RouteKey {
    family: u8,
    dst: u128,
    len: u8,
    tos: u8,
    metric: u32,
}

/// Everything the sync has learnt, keyed like the kernel keys it: routes
/// of the main table by (family, prefix, TOS, metric) — a replace
/// overwrites, a delete removes; neighbours by (family, interface,
/// address); links by index.
#[derive(Debug, Clone)]
pub struct FibState {
    v4_if: String,
    v6_if: String,
    links: BTreeMap<i32, String>,
    routes: BTreeMap<RouteKey, (i32, Option<u128>)>,
    neigh: BTreeMap<NeighKey, NeighVal>,
}

/// (family, interface index, address) → (NUD state, link-layer address).
type NeighKey = (u8, i32, u128);
type NeighVal = (u16, Option<[u8; 6]>);

/// IPv6 destinations never forwarded through a next hop: link-local
/// (fe80::/10) and multicast (ff00::/8). Their kernel routes exist on
/// every interface and would otherwise make the FIB "know something".
fn ignored_v6(dst: u128, len: u8) -> bool {
    (len >= 10 && dst >> 118 == 0xfe80 >> 6) || (len >= 8 && dst >> 120 == 0xff)
}

impl FibState {
    /// For the IPv4-facing and IPv6-facing interface names (the same one
    /// in one-armed operation).
    pub fn new(v4_if: &str, v6_if: &str) -> FibState {
        FibState {
            v4_if: v4_if.into(),
            v6_if: v6_if.into(),
            links: BTreeMap::new(),
            routes: BTreeMap::new(),
            neigh: BTreeMap::new(),
        }
    }

    /// Forgets everything (before a full resynchronisation).
    pub fn clear(&mut self) {
        self.links.clear();
        self.routes.clear();
        self.neigh.clear();
    }

    /// Applies one message; true when the state changed.
    pub fn apply(&mut self, m: &Msg) -> bool {
        match m {
            Msg::Link { del, index, name } => {
                if *del {
                    self.links.remove(index).is_some()
                } else if let Some(n) = name {
                    self.links.insert(*index, n.clone()).as_ref() != Some(n)
                } else {
                    false
                }
            }
            Msg::Route(r) => self.apply_route(r),
            Msg::Neigh(n) => self.apply_neigh(n),
            _ => false,
        }
    }

    fn apply_route(&mut self, r: &Route) -> bool {
        if r.table != nl::RT_TABLE_MAIN
            || r.rtype != nl::RTN_UNICAST
            || !(r.family == nl::AF_INET || r.family == nl::AF_INET6)
        {
            return false;
        }
        let key = RouteKey {
            family: r.family,
            dst: r.dst,
            len: r.dst_len,
            tos: r.tos,
            metric: r.metric,
        };
        if r.del {
            return self.routes.remove(&key).is_some();
        }
        let Some(oif) = r.oif else {
            // A route through nexthop objects or without an interface:
            // not one of ours to follow.
            return self.routes.remove(&key).is_some();
        };
        let v = (oif, r.gateway);
        self.routes.insert(key, v) != Some(v)
    }

    fn apply_neigh(&mut self, n: &Neigh) -> bool {
        if !(n.family == nl::AF_INET || n.family == nl::AF_INET6) {
            return false;
        }
        let key = (n.family, n.ifindex, n.dst);
        if n.del {
            return self.neigh.remove(&key).is_some();
        }
        let v = (n.state, n.mac);
        self.neigh.insert(key, v) != Some(v)
    }

    fn index_of(&self, name: &str) -> Option<i32> {
        self.links
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(i, _)| *i)
    }

    fn family<A: Bits>(
        &self,
        family: u8,
        ifname: &str,
        conv: impl Fn(u128) -> A,
    ) -> FamilyTable<A> {
        let Some(ifx) = self.index_of(ifname) else {
            return FamilyTable::default();
        };
        // Lowest metric per prefix (keys sort by metric within a prefix).
        let mut best: BTreeMap<(u128, u8), (u32, Option<u128>)> = BTreeMap::new();
        for (k, (oif, gw)) in &self.routes {
            if k.family != family || *oif != ifx {
                continue;
            }
            if family == nl::AF_INET6 && ignored_v6(k.dst, k.len) {
                continue;
            }
            let e = best.entry((k.dst, k.len)).or_insert((k.metric, *gw));
            if k.metric < e.0 {
                *e = (k.metric, *gw);
            }
        }
        let routes = Lpm::build(
            best.into_iter()
                .map(|((d, l), (_, gw))| (conv(d), l, gw.map(&conv))),
        );
        let mut neigh: Vec<(A, [u8; 6])> = self
            .neigh
            .iter()
            .filter(|((f, i, _), _)| *f == family && *i == ifx)
            .filter_map(|((_, _, a), (st, mac))| match mac {
                Some(m) if usable(*st, *mac) => Some((conv(*a), *m)),
                _ => None,
            })
            .collect();
        neigh.sort_by_key(|e| e.0);
        let used = neigh.iter().map(|_| AtomicBool::new(false)).collect();
        FamilyTable {
            routes,
            neigh,
            used,
        }
    }

    /// STALE entries among `used` (family, address) on the interface of
    /// their family, as (family, interface index, address): the ones the
    /// kernel should re-validate. REACHABLE ones need nothing, DELAY and
    /// PROBE are being re-validated already.
    pub fn stale_among(&self, v4: &[u32], v6: &[u128]) -> Vec<(u8, i32, u128)> {
        let mut out = Vec::new();
        for (family, ifname, addrs) in [
            (
                nl::AF_INET,
                &self.v4_if,
                v4.iter().map(|a| u128::from(*a)).collect::<Vec<_>>(),
            ),
            (nl::AF_INET6, &self.v6_if, v6.to_vec()),
        ] {
            let Some(ifx) = self.index_of(ifname) else {
                continue;
            };
            for a in addrs {
                if let Some((st, _)) = self.neigh.get(&(family, ifx, a)) {
                    if *st & nl::NUD_STALE != 0 {
                        out.push((family, ifx, a));
                    }
                }
            }
        }
        out
    }

    /// The workers' table for the current state.
    pub fn build(&self) -> NextHops {
        NextHops {
            v4: self.family(nl::AF_INET, &self.v4_if, |a| a as u32),
            v6: self.family(nl::AF_INET6, &self.v6_if, |a| a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nl::build;
    use super::nl::{AF_INET, AF_INET6};
    use super::*;

    const A: [u8; 6] = [2, 0, 0, 0, 6, 0xa];
    const B: [u8; 6] = [2, 0, 0, 0, 6, 0xb];
    const C: [u8; 6] = [2, 0, 0, 0, 4, 0xc];

    fn v6(s: &str) -> u128 {
        s.parse::<std::net::Ipv6Addr>().expect("v6").to_bits()
    }
    fn v4(s: &str) -> u32 {
        s.parse::<std::net::Ipv4Addr>().expect("v4").to_bits()
    }

    fn feed(st: &mut FibState, msgs: &[Vec<u8>]) -> bool {
        let mut changed = false;
        for m in msgs {
            let mut out = Vec::new();
            nl::parse(m, &mut out);
            for x in &out {
                changed |= st.apply(x);
            }
        }
        changed
    }

    #[test]
    fn lpm_prefers_the_longest_prefix() {
        let l = Lpm::build([
            (0u32, 0, Some(1)),
            (v4("192.0.2.0"), 24, None),
            (v4("192.0.2.128"), 25, Some(2)),
            (v4("192.0.2.129"), 32, Some(3)),
            (v4("198.51.100.77"), 24, Some(4)), // masked on build
        ]);
        assert_eq!(l.len(), 5);
        assert_eq!(l.find(v4("192.0.2.1")), Some(None));
        assert_eq!(l.find(v4("192.0.2.200")), Some(Some(2)));
        assert_eq!(l.find(v4("192.0.2.129")), Some(Some(3)));
        assert_eq!(l.find(v4("198.51.100.1")), Some(Some(4)));
        assert_eq!(l.find(v4("203.0.113.1")), Some(Some(1)));
        let l6 = Lpm::build([
            (v6("2001:db8::"), 32, Some(7u128)),
            (v6("2001:db8:1::"), 48, None),
        ]);
        assert_eq!(l6.find(v6("2001:db8:1::5")), Some(None));
        assert_eq!(l6.find(v6("2001:db8:2::5")), Some(Some(7)));
        assert_eq!(l6.find(v6("2001:db9::1")), None);
        assert!(Lpm::<u32>::build([]).is_empty());
    }

    #[test]
    fn used_stale_neighbours_are_reported_once() {
        let mut st = FibState::new("r4", "r6");
        let (gw_a, gw_b) = (v6("2001:db8:6::a"), v6("2001:db8:6::b"));
        let gw4 = v4("192.0.2.254");
        feed(
            &mut st,
            &[
                build::link(false, 4, "r4"),
                build::link(false, 6, "r6"),
                build::route(false, AF_INET6, (v6("2001:db8::"), 64), 6, Some(gw_a), 1024),
                build::route(
                    false,
                    AF_INET6,
                    (v6("2001:db8:1::"), 64),
                    6,
                    Some(gw_b),
                    1024,
                ),
                build::route(false, AF_INET, (0, 0), 4, Some(u128::from(gw4)), 0),
                build::neigh(false, AF_INET6, 6, gw_a, nl::NUD_STALE, Some(A)),
                build::neigh(false, AF_INET6, 6, gw_b, nl::NUD_REACHABLE, Some(B)),
                build::neigh(false, AF_INET, 4, u128::from(gw4), nl::NUD_STALE, Some(C)),
            ],
        );
        let t = st.build();
        assert!(t.v6.take_used().is_empty() && t.v4.take_used().is_empty());
        assert_eq!(t.v6(v6("2001:db8::1")), Hop::Mac(A));
        assert_eq!(t.v6(v6("2001:db8::2")), Hop::Mac(A));
        assert_eq!(t.v6(v6("2001:db8:1::1")), Hop::Mac(B));
        assert_eq!(t.v4(v4("203.0.113.9")), Hop::Mac(C));
        let (u4, u6) = (t.v4.take_used(), t.v6.take_used());
        assert_eq!(u6, [gw_a, gw_b], "each used neighbour once");
        assert_eq!(u4, [gw4]);
        assert!(t.v6.take_used().is_empty(), "marks cleared");
        // Only the STALE ones need re-validation; the interface index is the
        // family's interface.
        assert_eq!(
            st.stale_among(&u4, &u6),
            [(AF_INET, 4, u128::from(gw4)), (AF_INET6, 6, gw_a)]
        );
        // A clone (tables are cloned for tests) keeps the marks.
        assert_eq!(t.v6(v6("2001:db8::1")), Hop::Mac(A));
        assert_eq!(t.clone().v6.take_used(), [gw_a]);
    }

    #[test]
    fn neighbour_states() {
        for (st, ok) in [
            (nl::NUD_REACHABLE, true),
            (nl::NUD_STALE, true),
            (nl::NUD_DELAY, true),
            (nl::NUD_PROBE, true),
            (nl::NUD_PERMANENT, true),
            (nl::NUD_INCOMPLETE, false),
            (nl::NUD_FAILED, false),
            (nl::NUD_NOARP, false),
            (0, false),
        ] {
            assert_eq!(usable(st, Some(A)), ok, "state {st:#x}");
        }
        assert!(!usable(nl::NUD_REACHABLE, None), "no lladdr");
        assert!(!usable(nl::NUD_REACHABLE, Some([0; 6])), "zero lladdr");

        let mut st = FibState::new("r4", "r6");
        let gw = v6("2001:db8:6::a");
        feed(
            &mut st,
            &[
                build::link(false, 6, "r6"),
                build::route(false, AF_INET6, (v6("2001:db8::"), 64), 6, Some(gw), 1024),
                build::neigh(false, AF_INET6, 6, gw, nl::NUD_INCOMPLETE, None),
            ],
        );
        let d = v6("2001:db8::1");
        assert_eq!(st.build().v6(d), Hop::Miss, "INCOMPLETE");
        assert!(feed(
            &mut st,
            &[build::neigh(
                false,
                AF_INET6,
                6,
                gw,
                nl::NUD_REACHABLE,
                Some(A)
            )]
        ));
        assert_eq!(st.build().v6(d), Hop::Mac(A));
        feed(
            &mut st,
            &[build::neigh(false, AF_INET6, 6, gw, nl::NUD_STALE, Some(A))],
        );
        assert_eq!(st.build().v6(d), Hop::Mac(A), "STALE still used");
        feed(
            &mut st,
            &[build::neigh(
                false,
                AF_INET6,
                6,
                gw,
                nl::NUD_FAILED,
                Some(A),
            )],
        );
        assert_eq!(st.build().v6(d), Hop::Miss, "FAILED");
        feed(
            &mut st,
            &[build::neigh(
                false,
                AF_INET6,
                6,
                gw,
                nl::NUD_PERMANENT,
                Some(B),
            )],
        );
        assert_eq!(st.build().v6(d), Hop::Mac(B));
        feed(&mut st, &[build::neigh(true, AF_INET6, 6, gw, 0, None)]);
        assert_eq!(st.build().v6(d), Hop::Miss, "deleted");
        // A neighbour of the same address on another interface does not count.
        feed(
            &mut st,
            &[build::neigh(
                false,
                AF_INET6,
                9,
                gw,
                nl::NUD_REACHABLE,
                Some(A),
            )],
        );
        assert_eq!(st.build().v6(d), Hop::Miss);
    }

    #[test]
    fn routes_of_the_egress_interface_only() {
        let mut st = FibState::new("r4", "r6");
        let (ga, gb) = (v6("2001:db8:6::a"), v6("2001:db8:6::b"));
        feed(
            &mut st,
            &[
                build::link(false, 4, "r4"),
                build::link(false, 6, "r6"),
                build::link(false, 1, "lo"),
                // Link-local and multicast routes exist everywhere: ignored.
                build::route(false, AF_INET6, (v6("fe80::"), 64), 6, None, 256),
                build::route(false, AF_INET6, (v6("ff00::"), 8), 6, None, 256),
            ],
        );
        let d = v6("2001:db8::1");
        assert_eq!(st.build().v6(d), Hop::Static, "the FIB knows nothing yet");
        assert_eq!(st.build().v4(v4("192.0.2.1")), Hop::Static);
        feed(
            &mut st,
            &[
                build::route(false, AF_INET6, (v6("2001:db8:6::"), 64), 6, None, 256),
                build::route(false, AF_INET6, (v6("2001:db8::"), 64), 6, Some(ga), 1024),
                // Another interface's better route is not ours.
                build::route(false, AF_INET6, (v6("2001:db8::"), 64), 1, None, 1),
                build::neigh(false, AF_INET6, 6, ga, nl::NUD_REACHABLE, Some(A)),
                build::neigh(false, AF_INET6, 6, gb, nl::NUD_STALE, Some(B)),
            ],
        );
        let t = st.build();
        assert_eq!((t.v6.routes(), t.v6.neighbours()), (2, 2));
        assert_eq!(t.v6(d), Hop::Mac(A));
        assert_eq!(
            t.v6(gb),
            Hop::Mac(B),
            "on-link: the destination's own neighbour"
        );
        assert_eq!(t.v6(v6("2001:db8:6::c")), Hop::Miss, "on-link, unresolved");
        assert_eq!(t.v6(v6("2001:db8:99::1")), Hop::Miss, "no route");
        // `ip -6 route replace ... via B`: same key, new gateway.
        assert!(feed(
            &mut st,
            &[build::route(
                false,
                AF_INET6,
                (v6("2001:db8::"), 64),
                6,
                Some(gb),
                1024
            )]
        ));
        assert_eq!(st.build().v6(d), Hop::Mac(B));
        // A lower metric wins; deleting it falls back to the other.
        feed(
            &mut st,
            &[build::route(
                false,
                AF_INET6,
                (v6("2001:db8::"), 64),
                6,
                Some(ga),
                10,
            )],
        );
        assert_eq!(st.build().v6(d), Hop::Mac(A));
        feed(
            &mut st,
            &[build::route(
                true,
                AF_INET6,
                (v6("2001:db8::"), 64),
                6,
                Some(ga),
                10,
            )],
        );
        assert_eq!(st.build().v6(d), Hop::Mac(B));
        // IPv4 on the IPv4-facing interface; default route.
        let g4 = v4("192.0.2.254");
        feed(
            &mut st,
            &[
                build::route(false, AF_INET, (0, 0), 4, Some(u128::from(g4)), 0),
                build::neigh(false, AF_INET, 4, u128::from(g4), nl::NUD_DELAY, Some(C)),
                build::route(
                    false,
                    AF_INET,
                    (u128::from(v4("198.51.100.0")), 24),
                    6,
                    None,
                    0,
                ),
            ],
        );
        let t = st.build();
        assert_eq!(t.v4(v4("203.0.113.9")), Hop::Mac(C));
        assert_eq!(
            t.v4.routes(),
            1,
            "a route on the IPv6-facing interface is not used for IPv4"
        );
        // The interface goes away: nothing known, static again.
        feed(&mut st, &[build::link(true, 6, "r6")]);
        assert_eq!(st.build().v6(d), Hop::Static);
        st.clear();
        assert_eq!(st.build().v4(v4("203.0.113.9")), Hop::Static);
    }

    #[test]
    fn other_tables_and_types_are_ignored() {
        let mut st = FibState::new("r4", "r6");
        feed(&mut st, &[build::link(false, 4, "r4")]);
        let r = build::route(false, AF_INET, (0, 0), 4, Some(1), 0);
        let mut out = Vec::new();
        nl::parse(&r, &mut out);
        if let Msg::Route(mut x) = out[0] {
            x.table = 255;
            assert!(!st.apply(&Msg::Route(x)));
            x.table = nl::RT_TABLE_MAIN;
            x.rtype = 2; // RTN_LOCAL
            assert!(!st.apply(&Msg::Route(x)));
            x.rtype = nl::RTN_UNICAST;
            assert!(st.apply(&Msg::Route(x)));
            assert!(!st.apply(&Msg::Route(x)), "no change");
        } else {
            panic!("{:?}", out[0]);
        }
    }
}
