//! The Teredo peer table at its default capacity (SPEC §3.5 DESIGN: 1 Mi
//! entries, idle eviction after 60 s without lookup, T6-12 when full) and
//! a model check of its index (linear probing, backward-shift deletion).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use proptest::collection::vec;
use proptest::prelude::*;
use xrelay_engine::peers::Full;
use xrelay_engine::PeerTable;

const CAP: usize = 1 << 20;
const IDLE: u32 = 60;
const T0: u32 = 10_000;
/// Bulk insertions per simulated second while filling (fill takes 32 s).
const PER_SEC: usize = 32_768;
const TRUSTED: usize = 64;

/// Distinct Teredo addresses: `kind` picks the server, `i` the mapping.
fn addr(kind: u8, i: u32) -> Ipv6Addr {
    xrelay_wire::teredo::Address {
        server: Ipv4Addr::new(198, 51, 100, kind),
        flags: 0,
        port: 3000 + (i >> 24) as u16,
        client: Ipv4Addr::from_bits(0x0100_0000 | (i & 0x00ff_ffff)),
    }
    .encode()
}

fn bulk(i: usize) -> Ipv6Addr {
    addr(1, i as u32)
}

fn trusted(k: usize) -> (Ipv6Addr, (Ipv4Addr, u16)) {
    (
        addr(2, k as u32),
        (Ipv4Addr::new(192, 0, 2, k as u8), 40_000 + k as u16),
    )
}

/// Every trusted peer is still there, trusted at its mapping; looks them up.
fn check_trusted(t: &PeerTable, now: u32) {
    for k in 0..TRUSTED {
        let (a, m) = trusted(k);
        let p = t
            .find(&a)
            .unwrap_or_else(|| panic!("trusted peer {k} lost"));
        assert_eq!(p.addr(), a);
        assert_eq!(p.trusted_mapping(), Some(m), "trusted peer {k}");
        p.touch_lookup(now);
    }
}

#[test]
fn default_capacity_memory_and_eviction() {
    let start = Instant::now();
    let mut t = PeerTable::new(CAP, IDLE, 0x5eed);
    assert_eq!(t.capacity(), CAP);

    // Trusted peers first, then distinct bulk peers with the clock running.
    for k in 0..TRUSTED {
        let (a, m) = trusted(k);
        let idx = t
            .insert(&a, xrelay_wire::teredo::mapping(&a), T0)
            .expect("room");
        let p = t.get(idx).expect("live");
        p.set_trusted(m.0, m.1);
        p.touch_rx(T0);
    }
    let n_bulk = CAP - TRUSTED;
    let at = |i: usize| T0 + (i / PER_SEC) as u32;
    for i in 0..n_bulk {
        let a = bulk(i);
        let idx = t
            .insert(&a, xrelay_wire::teredo::mapping(&a), at(i))
            .expect("not full yet");
        assert_eq!(idx as usize, TRUSTED + i, "fresh slots are used in order");
        if i % 8192 == 0 {
            check_trusted(&t, at(i));
        }
    }
    let t_end = at(n_bulk - 1);
    check_trusted(&t, t_end);
    assert_eq!(t.len(), CAP);
    // Inserting a present address returns its entry and changes nothing.
    assert_eq!(
        t.insert(&bulk(5), xrelay_wire::teredo::mapping(&bulk(5)), t_end),
        Ok(TRUSTED as u32 + 5)
    );
    assert_eq!(t.len(), CAP);

    // The documented memory bound, once full.
    let per_entry = t.bytes_per_entry();
    let heap_per_entry = t.heap_bytes() / t.capacity();
    println!(
        "peer table at {CAP} entries: bytes_per_entry {per_entry}, heap_bytes {} ({heap_per_entry} per entry), size_of::<Peer> {}",
        t.heap_bytes(),
        std::mem::size_of::<xrelay_engine::peers::Peer>()
    );
    assert!(per_entry < 200, "bytes_per_entry {per_entry}");
    assert!(
        heap_per_entry < 200,
        "heap_bytes / capacity {heap_per_entry}"
    );

    // Every address is found, at its own entry.
    for i in 0..n_bulk {
        let a = bulk(i);
        assert_eq!(t.find(&a).map(|p| p.addr()), Some(a), "bulk peer {i}");
    }

    // Full and nothing idle (the oldest entry is 40 s old): T6-12.
    let now = T0 + 40;
    check_trusted(&t, now);
    // Entries of the first 9 s that get looked up now are not idle later.
    let hot = |i: usize| i % 1000 == 500;
    for i in (0..9 * PER_SEC).filter(|i| hot(*i)) {
        t.find(&bulk(i)).expect("hot peer").touch_lookup(now);
    }
    for j in 0..64 {
        let a = addr(3, j);
        assert_eq!(
            t.insert(&a, xrelay_wire::teredo::mapping(&a), now),
            Err(Full),
            "nothing idle"
        );
    }
    assert_eq!(t.len(), CAP);

    // At T0 + 68 the bulk entries inserted up to T0 + 8 are idle (≥ 60 s
    // without lookup), except the hot ones: CLOCK evicts only those.
    let now = T0 + IDLE + 8;
    check_trusted(&t, now);
    const NEW: u32 = 4096;
    for j in 0..NEW {
        let a = addr(4, j);
        t.insert(&a, xrelay_wire::teredo::mapping(&a), now)
            .unwrap_or_else(|_| panic!("insert {j}: idle entries exist"));
        assert_eq!(t.len(), CAP);
    }
    let mut evicted = 0;
    for i in 0..n_bulk {
        if t.find(&bulk(i)).is_none() {
            evicted += 1;
            assert!(
                now - at(i) >= IDLE,
                "evicted bulk peer {i} was looked up {} s ago",
                now - at(i)
            );
            assert!(!hot(i), "evicted hot peer {i}");
        }
    }
    assert_eq!(evicted, NEW as usize, "one eviction per insertion");
    for j in 0..NEW {
        assert!(t.find(&addr(4, j)).is_some(), "new peer {j}");
    }
    check_trusted(&t, now);

    // Everything looked up now: nothing idle, so T6-12 again.
    let live: Vec<u32> = t.iter().map(|(i, _)| i).collect();
    assert_eq!(live.len(), CAP);
    for i in live {
        t.get(i).expect("live").touch_lookup(now);
    }
    let a = addr(5, 0);
    assert_eq!(
        t.insert(&a, xrelay_wire::teredo::mapping(&a), now),
        Err(Full)
    );
    assert_eq!(t.len(), CAP);
    check_trusted(&t, now);
    println!("peer_memory: {:?} (debug builds included)", start.elapsed());
}

// ---- model check at small capacity ---------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Insert(u8),
    Remove(u8),
    RemoveIdx(u8),
    Touch(u8),
    Enqueue(u8, u16),
    Advance(u8),
    Sweep(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..POOL).prop_map(Op::Insert),
        2 => (0u8..POOL).prop_map(Op::Remove),
        1 => (0u8..40).prop_map(Op::RemoveIdx),
        2 => (0u8..POOL).prop_map(Op::Touch),
        1 => ((0u8..POOL), 1u16..700).prop_map(|(a, n)| Op::Enqueue(a, n)),
        2 => (0u8..100).prop_map(Op::Advance),
        1 => (0u8..40).prop_map(Op::Sweep),
    ]
}

const POOL: u8 = 48;

/// Model entry: last lookup (s), queued packets and bytes.
#[derive(Debug, Clone, Copy)]
struct M {
    last: u32,
    pkts: u32,
    bytes: u32,
}

fn pool(i: u8) -> Ipv6Addr {
    addr(7, u32::from(i) * 0x0101)
}

/// Entries of the model that the table no longer has; asserts each was idle.
fn vanished(
    t: &PeerTable,
    model: &mut HashMap<Ipv6Addr, M>,
    now: u32,
    idle: u32,
) -> Result<usize, TestCaseError> {
    let gone: Vec<Ipv6Addr> = model
        .keys()
        .filter(|a| t.find(a).is_none())
        .copied()
        .collect();
    for a in &gone {
        let m = model.remove(a).expect("model entry");
        prop_assert!(
            now.wrapping_sub(m.last) >= idle,
            "{a} removed while not idle ({} s)",
            now.wrapping_sub(m.last)
        );
    }
    Ok(gone.len())
}

/// `n` cases, or `PROPTEST_CASES` when set (for longer searches).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// Random insert/remove/lookup/eviction churn against a HashMap model:
    /// `len`, lookups (every pool address, so probe chains across deleted
    /// slots are exercised), `iter` and the queue accounting always agree.
    #[test]
    fn churn_matches_model(cap in 1usize..24, idle in 1u32..90, seed in any::<u64>(), ops in vec(op(), 1..200)) {
        let mut t = PeerTable::new(cap, idle, seed);
        let mut model: HashMap<Ipv6Addr, M> = HashMap::new();
        let mut now: u32 = 1_000;
        for o in ops {
            match o {
                Op::Insert(k) => {
                    let a = pool(k);
                    let before = t.index_of(&a);
                    let r = t.insert(&a, xrelay_wire::teredo::mapping(&a), now);
                    if model.contains_key(&a) {
                        prop_assert_eq!(r.ok(), before, "present address keeps its entry");
                    } else if model.len() < cap {
                        prop_assert!(r.is_ok(), "room left");
                        model.insert(a, M { last: now, pkts: 0, bytes: 0 });
                    } else {
                        let any_idle = model.values().any(|m| now.wrapping_sub(m.last) >= idle);
                        if any_idle {
                            // CLOCK inspects up to 64 entries: all of them here.
                            prop_assert!(r.is_ok(), "an idle entry exists");
                            prop_assert_eq!(vanished(&t, &mut model, now, idle)?, 1, "exactly one eviction");
                            model.insert(a, M { last: now, pkts: 0, bytes: 0 });
                        } else {
                            prop_assert_eq!(r, Err(Full));
                        }
                    }
                }
                Op::Remove(k) => {
                    let a = pool(k);
                    if let Some(i) = t.index_of(&a) {
                        t.remove(i);
                        t.remove(i); // a second remove is a no-op
                        prop_assert!(model.remove(&a).is_some());
                    } else {
                        prop_assert!(!model.contains_key(&a));
                    }
                }
                Op::RemoveIdx(i) => {
                    let i = u32::from(i);
                    let a = t.get(i).map(|p| p.addr());
                    t.remove(i);
                    if let Some(a) = a {
                        prop_assert!(model.remove(&a).is_some());
                    }
                }
                Op::Touch(k) => {
                    let a = pool(k);
                    if let Some(p) = t.find(&a) {
                        p.touch_lookup(now);
                        model.get_mut(&a).expect("model has it").last = now;
                    }
                }
                Op::Enqueue(k, n) => {
                    let a = pool(k);
                    if let Some(i) = t.index_of(&a) {
                        let ok = t.enqueue(i, &vec![0u8; usize::from(n)], 4, 1280, 1 << 20);
                        let m = model.get_mut(&a).expect("model has it");
                        let fits = m.pkts < 4 && m.bytes + u32::from(n) <= 1280;
                        prop_assert_eq!(ok, fits);
                        if ok {
                            m.pkts += 1;
                            m.bytes += u32::from(n);
                        }
                    }
                }
                Op::Advance(s) => now = now.wrapping_add(u32::from(s)),
                Op::Sweep(budget) => {
                    let removed = t.sweep(now, usize::from(budget));
                    prop_assert_eq!(vanished(&t, &mut model, now, idle)?, removed);
                }
            }
            // The table and the model agree on everything observable.
            prop_assert_eq!(t.len(), model.len());
            prop_assert!(t.len() <= cap);
            prop_assert_eq!(t.iter().count(), model.len());
            for k in 0..POOL {
                let a = pool(k);
                let found = t.find(&a).map(|p| p.addr());
                prop_assert_eq!(found, model.contains_key(&a).then_some(a), "lookup of pool {}", k);
                if let Some(i) = t.index_of(&a) {
                    prop_assert_eq!(t.get(i).map(|p| p.addr()), Some(a));
                    let m = model[&a];
                    prop_assert_eq!(t.get(i).map(|p| (p.queue.len() as u32, p.queue_bytes)), Some((m.pkts, m.bytes)));
                }
            }
            let queued: u64 = model.values().map(|m| u64::from(m.bytes)).sum();
            prop_assert_eq!(t.queued_bytes(), queued);
        }
    }
}
