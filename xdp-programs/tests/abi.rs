//! The C and Rust views of the ABI must agree (no root, no clang needed).
//!
//! Two independent checks:
//! 1. the headers are parsed here (`build/cheader.rs`) and their enums,
//!    structs, maps and constants compared with `xrelay_xdp::abi`, with C
//!    layouts computed by the natural-alignment rules the BPF target uses;
//! 2. when clang was present at build time, the sizes, offsets and enum
//!    values clang itself computed (`$OUT_DIR/c_layout.rs`) are compared with
//!    Rust's too, which also checks the rules of check 1.

use std::collections::BTreeMap;
use std::path::Path;

use xrelay_xdp::abi::{
    self, CStruct, Counter, FieldInfo, PrefixKey, PrefixKind, PrefixVal, TeredoVal, V4Key, V4Val,
};

#[path = "../build/cheader.rs"]
mod cheader;

include!(concat!(env!("OUT_DIR"), "/c_layout.rs"));

fn headers() -> cheader::CHeaders {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let mut src = String::new();
    for h in ["config.h", "maps.h", "counters.h"] {
        src.push_str(&std::fs::read_to_string(dir.join(h)).expect("read header"));
        src.push('\n');
    }
    cheader::parse(&src).unwrap_or_else(|e| panic!("parsing the ABI headers: {e}"))
}

/// Every Rust mirror, by C struct name.
fn mirrors() -> BTreeMap<&'static str, (usize, usize, &'static [FieldInfo])> {
    fn m<T: CStruct>() -> (&'static str, (usize, usize, &'static [FieldInfo])) {
        (T::C_NAME, (size_of::<T>(), align_of::<T>(), T::FIELDS))
    }
    BTreeMap::from([
        m::<V4Key>(),
        m::<V4Val>(),
        m::<TeredoVal>(),
        m::<PrefixKey>(),
        m::<PrefixVal>(),
    ])
}

/// Size (= alignment) of the scalar types the headers may use.
fn scalar(ty: &str) -> usize {
    match ty {
        "__u8" | "__s8" | "char" => 1,
        "__u16" | "__s16" | "__be16" | "__le16" => 2,
        "__u32" | "__s32" | "__be32" | "__le32" | "int" => 4,
        "__u64" | "__s64" | "__be64" | "__le64" => 8,
        other => panic!("type `{other}` in an ABI header: teach tests/abi.rs its size"),
    }
}

/// (size, align, [(field, offset, size)]) by C's rules.
fn c_layout(s: &cheader::CStructDef) -> (usize, usize, Vec<(String, usize, usize)>) {
    let mut off = 0usize;
    let mut align = 1usize;
    let mut fields = Vec::new();
    for f in &s.fields {
        let a = scalar(&f.ty);
        let size = a * f.array.unwrap_or(1);
        off = off.next_multiple_of(a);
        fields.push((f.name.clone(), off, size));
        off += size;
        align = align.max(a);
    }
    (off.next_multiple_of(align), align, fields)
}

fn type_size(h: &cheader::CHeaders, ty: &str) -> usize {
    if let Some(name) = ty.strip_prefix("struct ") {
        let s = h
            .structs
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{ty} is not defined in the headers"));
        c_layout(s).0
    } else if let Some(inner) = ty.strip_prefix("sizeof(").and_then(|t| t.strip_suffix(')')) {
        type_size(h, inner)
    } else if let Ok(n) = ty.parse() {
        n
    } else {
        scalar(ty)
    }
}

#[test]
fn counter_enum_matches() {
    let h = headers();
    let e = h
        .enums
        .iter()
        .find(|e| e.name == "xr_counter")
        .expect("enum xr_counter in counters.h");
    let mut want: Vec<(String, i64)> = Counter::ALL
        .iter()
        .map(|c| (c.c_name().to_owned(), i64::from(c.index())))
        .collect();
    want.push(("XR_CNT_MAX".to_owned(), Counter::COUNT as i64));
    assert_eq!(
        e.members, want,
        "enum xr_counter (C) vs abi::Counter (Rust)"
    );
}

#[test]
fn prefix_kind_enum_matches() {
    let h = headers();
    let e = h
        .enums
        .iter()
        .find(|e| e.name == "xr_prefix_kind")
        .expect("enum xr_prefix_kind in maps.h");
    let mut want: Vec<(String, i64)> = PrefixKind::ALL
        .iter()
        .map(|k| (k.c_name().to_owned(), *k as i64))
        .collect();
    want.push(("XR_PFX_KIND_MAX".to_owned(), PrefixKind::ALL.len() as i64));
    assert_eq!(e.members, want);
}

#[test]
fn no_other_enums() {
    let h = headers();
    let names: Vec<&str> = h.enums.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["xr_prefix_kind", "xr_counter"],
        "a new enum needs a Rust mirror and a check"
    );
}

#[test]
fn structs_match() {
    let h = headers();
    let rust = mirrors();
    let c_names: Vec<&str> = h.structs.iter().map(|s| s.name.as_str()).collect();
    let rust_names: Vec<&str> = rust.keys().copied().collect();
    let mut sorted = c_names.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, rust_names,
        "every C struct needs a Rust mirror and vice versa"
    );
    for s in &h.structs {
        let (size, align, fields) = c_layout(s);
        let (rsize, ralign, rfields) = rust[s.name.as_str()];
        assert_eq!(size, rsize, "sizeof(struct {})", s.name);
        // Network-order fields are byte arrays in Rust: never stricter than C.
        assert!(
            ralign <= align,
            "struct {}: Rust alignment {ralign} > C {align}",
            s.name
        );
        let rf: Vec<(String, usize, usize)> = rfields
            .iter()
            .map(|f| (f.name.to_owned(), f.offset, f.size))
            .collect();
        assert_eq!(
            fields, rf,
            "fields of struct {} (name, offset, size)",
            s.name
        );
    }
}

#[test]
fn maps_match() {
    let h = headers();
    let c: BTreeMap<&str, &cheader::CMap> = h.maps.iter().map(|m| (m.name.as_str(), m)).collect();
    let r: Vec<&str> = abi::MAPS.iter().map(|m| m.name).collect();
    assert_eq!(c.keys().copied().collect::<Vec<_>>(), {
        let mut r = r.clone();
        r.sort_unstable();
        r
    });
    for spec in abi::MAPS {
        let m = c[spec.name];
        let attr = |k: &str| {
            m.attrs
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(attr("type"), Some(spec.map_type), "{}", spec.name);
        let key = attr("key").or(attr("key_size")).expect("key type or size");
        let value = attr("value")
            .or(attr("value_size"))
            .expect("value type or size");
        if attr("key").is_some() {
            assert_eq!(key, spec.key, "{} key type", spec.name);
            assert_eq!(value, spec.value, "{} value type", spec.name);
        }
        assert_eq!(type_size(&h, key), spec.key_size, "{} key size", spec.name);
        assert_eq!(
            type_size(&h, value),
            spec.value_size,
            "{} value size",
            spec.name
        );
    }
    // The counter array has one slot per counter.
    let counters = c[abi::MAP_COUNTERS];
    assert!(counters
        .attrs
        .contains(&("max_entries".into(), "XR_CNT_MAX".into())));
    // aya's LPM key is the same 20 bytes as struct xr_prefix_key.
    assert_eq!(
        size_of::<aya::maps::lpm_trie::Key<[u8; 16]>>(),
        size_of::<PrefixKey>()
    );
}

#[test]
fn constants_match() {
    let h = headers();
    let c: Vec<(&str, &str, i64)> = h
        .consts
        .iter()
        .map(|k| (k.name.as_str(), k.ty.as_str(), k.value))
        .collect();
    let r: Vec<(&str, &str, i64)> = abi::CONSTS
        .iter()
        .map(|k| (k.name, "__u8", i64::from(k.default)))
        .collect();
    assert_eq!(c, r, "volatile const globals (name, type, default)");
    let d = xrelay_xdp::Settings::default();
    assert_eq!(
        d.values().map(|(k, v)| (k.name, v)).to_vec(),
        abi::CONSTS
            .iter()
            .map(|k| (k.name, k.default))
            .collect::<Vec<_>>()
    );
}

#[test]
fn clang_agrees() {
    let facts = match C_LAYOUT {
        Ok(f) => f,
        Err(why) => {
            println!("skipped: clang's layout is not available ({why})");
            return;
        }
    };
    let facts: BTreeMap<&str, i64> = facts.iter().copied().collect();
    let get = |k: String| -> usize {
        let v = facts
            .get(k.as_str())
            .unwrap_or_else(|| panic!("clang gave no `{k}`"));
        usize::try_from(*v).expect("non-negative")
    };
    for (name, (size, align, fields)) in mirrors() {
        assert_eq!(
            get(format!("sizeof struct {name}")),
            size,
            "sizeof(struct {name})"
        );
        assert!(
            align <= get(format!("alignof struct {name}")),
            "alignof(struct {name})"
        );
        for f in fields {
            assert_eq!(
                get(format!("offsetof struct {name}.{}", f.name)),
                f.offset,
                "{name}.{}",
                f.name
            );
            assert_eq!(
                get(format!("sizeof struct {name}.{}", f.name)),
                f.size,
                "{name}.{}",
                f.name
            );
        }
    }
    for c in Counter::ALL {
        assert_eq!(get(format!("enum {}", c.c_name())), c.index() as usize);
    }
    assert_eq!(get("enum XR_CNT_MAX".into()), Counter::COUNT);
    for k in PrefixKind::ALL {
        assert_eq!(get(format!("enum {}", k.c_name())), k as usize);
    }
    for k in abi::CONSTS {
        assert_eq!(get(format!("sizeof {}", k.name)), 1, "{} is a __u8", k.name);
    }
    // And the header reader's layout rules agree with clang.
    for s in &headers().structs {
        let (size, _, _) = c_layout(s);
        assert_eq!(get(format!("sizeof struct {}", s.name)), size);
    }
}

#[test]
fn program_bytes_is_an_object_or_names_the_packages() {
    match xrelay_xdp::program_bytes() {
        Ok(obj) => {
            assert_eq!(&obj[..4], b"\x7fELF");
            // e_machine 247 = EM_BPF, little endian.
            assert_eq!(u16::from_le_bytes([obj[18], obj[19]]), 247);
        }
        Err(e) => {
            let msg = e.to_string();
            println!("object not built: {msg}");
            assert!(msg.contains("apt-get install clang libbpf-dev"), "{msg}");
        }
    }
}
