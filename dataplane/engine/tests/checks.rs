//! One test per check ID of SPEC §4 (the table in docs/checks.md).
//!
//! Every `check_<id>_…` test feeds the offending frame and asserts the exact
//! fast-path verdict, the exact counter (that reason once, no other drop
//! reason) and the exact bytes the full pipeline transmits; each also runs a
//! passing twin (the same frame without the fault). Expected frames are
//! built independently in `checks/kit.rs` (etherparse checksums).
//! `check_table_is_covered` ties the test names to the table.

mod common;

#[path = "checks/kit.rs"]
mod kit;

#[path = "checks/common_c.rs"]
mod common_c;
#[path = "checks/icmp4_e.rs"]
mod icmp4_e;
#[path = "checks/sixtofour_s4.rs"]
mod sixtofour_s4;
#[path = "checks/sixtofour_s6.rs"]
mod sixtofour_s6;
#[path = "checks/teredo_t4.rs"]
mod teredo_t4;
#[path = "checks/teredo_t6.rs"]
mod teredo_t6;

use common::hex;
use kit::*;
use xrelay_engine::{DropReason, Event};

/// The builders reproduce the SPEC §5 vectors byte for byte (so the
/// expectations below rest on code that is itself checked).
#[test]
fn builders_match_spec_vectors() {
    // V6-A1 in and out (IPv4 header checksum 0x9532).
    let a1 = v6_a1(64);
    assert_eq!(
        a1,
        hex("6000 0000 000c 3a40 20010db8000000000000000000000001 2002c000020100000000000000000001 800098fe 12340001 61626364")
    );
    assert_eq!(
        to_site(SITE4, &with_hop(&a1, 63)),
        hex("45000048000000004029 9532 c0586301 c0000201 6000 0000 000c 3a3f 20010db8000000000000000000000001 2002c000020100000000000000000001 800098fe 12340001 61626364")
    );
    // V6-A2 in.
    assert_eq!(
        in41(SITE4, ANY4, &v6_a2_inner(64)),
        hex("450000480000000040299532c0000201c05863016000 0000 000c 3a40 2002c000020100000000000000000001 20010db8000000000000000000000001 810097fe 12340001 61626364")
    );
    // §5.7 step 3 (UDP checksum 0x397e) and the flushed reply (0x397f).
    assert_eq!(
        from_client(CLIENT4, CPORT, &from_teredo(64)),
        hex("450000540000000040117c89c000020acb00710520000dd90040397e600000000010 3a40 20010000c633647600 00dfff3ffffdf5 20010db8000000000000000000000001 80003ab542420008 7465726564 6f2121")
    );
    assert_eq!(
        to_client(CLIENT4, CPORT, &with_hop(&to_teredo(64, 7), 63)),
        hex("450000540000000040117c89cb007105c000020a0dd920000040397f60000000 0010 3a3f 20010db8000000000000000000000001 20010000c6336476 0000dfff3ffffdf5 810039b642420007 74657265646f2121")
    );
    assert_eq!(CLIENT6, teredo(SERVER4, 0, CLIENT4, CPORT));
    assert_eq!(SITE6, sixto4(SITE4, 1));
}

/// This file and its submodules, as compiled.
const SOURCES: [&str; 7] = [
    include_str!("checks.rs"),
    include_str!("checks/common_c.rs"),
    include_str!("checks/sixtofour_s4.rs"),
    include_str!("checks/sixtofour_s6.rs"),
    include_str!("checks/teredo_t4.rs"),
    include_str!("checks/teredo_t6.rs"),
    include_str!("checks/icmp4_e.rs"),
];

/// Every check ID in the first column of docs/checks.md has a
/// `check_<id>_…` test here, and every such test names a listed ID.
#[test]
fn check_table_is_covered() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/checks.md"))
        .expect("docs/checks.md");
    let table: std::collections::BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.trim().strip_prefix('|'))
        .filter_map(|l| l.split('|').next())
        .map(|c| c.trim().trim_matches('`').to_owned())
        .filter(|c| is_check_id(c))
        .collect();
    // SPEC §4: 12 C, 18 S4, 11 S6, 15 T4, 14 T6 and 4 E checks.
    assert!(
        table.len() >= 74,
        "docs/checks.md lists only {} check IDs",
        table.len()
    );

    let mut tested = std::collections::BTreeSet::new();
    for src in SOURCES {
        for part in src.split("fn check_").skip(1) {
            if let Some(id) = test_id(part) {
                tested.insert(id);
            }
        }
    }
    let untested: Vec<&String> = table.difference(&tested).collect();
    let unlisted: Vec<&String> = tested.difference(&table).collect();
    assert!(
        untested.is_empty() && unlisted.is_empty(),
        "check IDs without a test: {untested:?}; tests for IDs not in docs/checks.md: {unlisted:?}"
    );
}

/// The counter and test columns of docs/checks.md name real things: every
/// backticked counter is a `DropReason` or `Event` name, every test exists.
#[test]
fn checks_doc_names_real_counters_and_tests() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/checks.md"))
        .expect("docs/checks.md");
    let sources = SOURCES.concat();
    let mut rows = 0;
    for line in doc.lines() {
        let Some(row) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        if cells.len() < 5 || !is_check_id(cells[0]) {
            continue;
        }
        rows += 1;
        for name in backticked(cells[3]) {
            assert!(
                DropReason::from_name(name).is_some() || Event::from_name(name).is_some(),
                "{}: `{name}` is not a counter name",
                cells[0]
            );
        }
        let tests = backticked(cells[4]);
        assert!(!tests.is_empty(), "{}: no test named", cells[0]);
        for t in tests {
            let f = t.rsplit("::").next().unwrap_or(t);
            assert!(
                sources.contains(&format!("fn {f}(")),
                "{}: no test `{t}`",
                cells[0]
            );
        }
    }
    assert!(rows >= 74);
}

fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

const FAMILIES: [&str; 6] = ["C", "S4", "S6", "T4", "T6", "E"];

/// `C-01`, `S4-01b`, `T6-ok`, …
fn is_check_id(s: &str) -> bool {
    let Some((fam, num)) = s.split_once('-') else {
        return false;
    };
    FAMILIES.contains(&fam) && is_number(num)
}

/// `01`, `01b`, `ok`.
fn is_number(n: &str) -> bool {
    let b = n.as_bytes();
    n == "ok"
        || (b.len() >= 2
            && b.len() <= 3
            && b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && b.get(2).is_none_or(|c| c.is_ascii_lowercase()))
}

/// `s4_01b_spoofed…` → `S4-01b` (the text after `fn check_`).
fn test_id(rest: &str) -> Option<String> {
    let mut it = rest.split('_');
    let fam = it.next()?.to_ascii_uppercase();
    let num = it.next()?;
    let num = num.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
    let id = format!("{fam}-{num}");
    is_check_id(&id).then_some(id)
}
