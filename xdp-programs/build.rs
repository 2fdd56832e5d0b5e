//! Compiles the XDP steering program (`src/xrelay.bpf.c`) with clang into
//! `$OUT_DIR/xrelay.bpf.o`, and has clang lay out every type the headers
//! share with Rust (`$OUT_DIR/c_layout.rs`, read by `tests/abi.rs`).
//!
//! Without clang or the libbpf headers the crate still builds: a
//! `cargo:warning` names the packages, and `xrelay_xdp::program_bytes()`
//! returns an error that names them at run time. With both present, a
//! compile error is a build error (`-Wall -Werror`).
//!
//! `XRELAY_CLANG` selects the compiler (default `clang`); `XRELAY_XDP_SKIP=1`
//! builds without the object, as on a machine without clang.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "build/cheader.rs"]
mod cheader;

/// The headers whose types, enums and constants user space shares.
const ABI_HEADERS: [&str; 3] = ["include/config.h", "include/maps.h", "include/counters.h"];
const HINT: &str = "install clang and libbpf-dev (apt-get install clang libbpf-dev)";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    println!("cargo::rerun-if-changed=src/xrelay.bpf.c");
    println!("cargo::rerun-if-changed=include");
    println!("cargo::rerun-if-changed=build/cheader.rs");
    println!("cargo::rerun-if-env-changed=XRELAY_CLANG");
    println!("cargo::rerun-if-env-changed=XRELAY_XDP_SKIP");
    println!("cargo::rustc-check-cfg=cfg(xr_bpf_object)");

    let headers = read_headers(&manifest);
    let missing = match toolchain(&manifest, &out) {
        Ok(tc) => {
            compile_program(&tc, &manifest, &out);
            println!("cargo::rustc-cfg=xr_bpf_object");
            write_layout(
                &out,
                layout_with_clang(&tc, &manifest, &out, headers.as_ref()),
            );
            None
        }
        Err(why) => {
            println!("cargo::warning=xrelay-xdp: {why}: {HINT}; the XDP program is not built");
            write_layout(&out, Err(why.clone()));
            Some(format!("{why}: {HINT}"))
        }
    };
    // Read by `program_bytes()` when the object is absent.
    println!(
        "cargo::rustc-env=XRELAY_XDP_MISSING={}",
        missing.unwrap_or_default()
    );
}

struct Toolchain {
    clang: PathBuf,
    includes: Vec<PathBuf>,
}

impl Toolchain {
    /// clang for the BPF target with the crate's `include/` directory.
    fn command(&self, manifest: &Path) -> Command {
        let mut cmd = Command::new(&self.clang);
        cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            .arg("-I")
            .arg(manifest.join("include"));
        for i in &self.includes {
            cmd.arg("-idirafter").arg(i);
        }
        cmd
    }
}

fn run(cmd: &mut Command) -> std::io::Result<Output> {
    cmd.output()
}

/// Finds clang and checks that `<bpf/bpf_helpers.h>` and `<linux/bpf.h>`
/// (whose `asm/` headers live in the multiarch directory on Debian) resolve.
fn toolchain(manifest: &Path, out: &Path) -> Result<Toolchain, String> {
    if env::var_os("XRELAY_XDP_SKIP").is_some_and(|v| v == "1") {
        return Err("XRELAY_XDP_SKIP=1 is set".into());
    }
    let clang = env::var_os("XRELAY_CLANG").map_or_else(|| PathBuf::from("clang"), PathBuf::from);
    match run(Command::new(&clang).arg("--version")) {
        Ok(o) if o.status.success() => {}
        _ if env::var_os("XRELAY_CLANG").is_some() => {
            return Err(format!(
                "clang not found (XRELAY_CLANG={})",
                clang.display()
            ))
        }
        _ => return Err("clang not found".into()),
    }
    let mut includes = Vec::new();
    if let Ok(o) = run(Command::new(&clang).arg("-print-multiarch")) {
        let triple = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        if !triple.is_empty() && Path::new("/usr/include").join(&triple).is_dir() {
            includes.push(Path::new("/usr/include").join(triple));
        }
    }
    let tc = Toolchain { clang, includes };
    let probe = out.join("xr_probe.c");
    fs::write(
        &probe,
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n",
    )
    .map_err(|e| format!("cannot write {}: {e}", probe.display()))?;
    let o = run(tc
        .command(manifest)
        .arg("-E")
        .arg(&probe)
        .arg("-o")
        .arg(out.join("xr_probe.i")))
    .map_err(|e| format!("clang failed to run: {e}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let first = err
            .lines()
            .find(|l| l.contains("error"))
            .unwrap_or("")
            .trim();
        return Err(format!("libbpf headers not found ({first})"));
    }
    Ok(tc)
}

fn compile_program(tc: &Toolchain, manifest: &Path, out: &Path) {
    let obj = out.join("xrelay.bpf.o");
    let o = run(tc
        .command(manifest)
        .arg("-c")
        .arg(manifest.join("src/xrelay.bpf.c"))
        .arg("-o")
        .arg(&obj))
    .unwrap_or_else(|e| panic!("running clang: {e}"));
    if !o.status.success() {
        panic!(
            "clang failed to compile src/xrelay.bpf.c:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn read_headers(manifest: &Path) -> Result<cheader::CHeaders, String> {
    let mut src = String::new();
    for h in ABI_HEADERS {
        let text = fs::read_to_string(manifest.join(h)).map_err(|e| format!("{h}: {e}"))?;
        src.push_str(&text);
        src.push('\n');
    }
    let parsed = cheader::parse(&src).map_err(|e| format!("parsing the ABI headers: {e}"))?;
    for m in &parsed.maps {
        if m.name.len() > 15 {
            panic!(
                "map name `{}` is longer than 15 characters (the kernel truncates it)",
                m.name
            );
        }
    }
    Ok(parsed)
}

/// Has clang evaluate `sizeof`, `offsetof` and every enum member for the BPF
/// target, by emitting LLVM IR for one constant per fact.
fn layout_with_clang(
    tc: &Toolchain,
    manifest: &Path,
    out: &Path,
    headers: Result<&cheader::CHeaders, &String>,
) -> Result<Vec<(String, i64)>, String> {
    let h = headers.map_err(Clone::clone)?;
    let mut facts: Vec<(String, String)> = Vec::new();
    for s in &h.structs {
        facts.push((
            format!("sizeof struct {}", s.name),
            format!("sizeof(struct {})", s.name),
        ));
        facts.push((
            format!("alignof struct {}", s.name),
            format!("_Alignof(struct {})", s.name),
        ));
        for f in &s.fields {
            let n = format!("struct {}.{}", s.name, f.name);
            facts.push((
                format!("offsetof {n}"),
                format!("__builtin_offsetof(struct {}, {})", s.name, f.name),
            ));
            facts.push((
                format!("sizeof {n}"),
                format!("sizeof(((struct {} *)0)->{})", s.name, f.name),
            ));
        }
    }
    for e in &h.enums {
        for (m, _) in &e.members {
            facts.push((format!("enum {m}"), m.clone()));
        }
    }
    for k in &h.consts {
        facts.push((format!("sizeof {}", k.name), format!("sizeof({})", k.name)));
    }
    let mut c =
        String::from("#include \"config.h\"\n#include \"maps.h\"\n#include \"counters.h\"\n");
    for (i, (_, expr)) in facts.iter().enumerate() {
        let _ = writeln!(c, "const long long xr_layout_{i} = (long long)({expr});");
    }
    let src = out.join("xr_layout.c");
    let ir = out.join("xr_layout.ll");
    fs::write(&src, c).map_err(|e| e.to_string())?;
    let o = run(tc
        .command(manifest)
        .args(["-S", "-emit-llvm"])
        .arg(&src)
        .arg("-o")
        .arg(&ir))
    .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "clang could not lay out the ABI types: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let text = fs::read_to_string(&ir).map_err(|e| e.to_string())?;
    let mut values = vec![None; facts.len()];
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("@xr_layout_") else {
            continue;
        };
        let (idx, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let Some(v) = tail.split("constant i64 ").nth(1) else {
            continue;
        };
        let v = v
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap_or("");
        if let (Ok(i), Ok(v)) = (idx.parse::<usize>(), v.parse::<i64>()) {
            if let Some(slot) = values.get_mut(i) {
                *slot = Some(v);
            }
        }
    }
    facts
        .into_iter()
        .zip(values)
        .map(|((name, _), v)| {
            v.map(|v| (name.clone(), v))
                .ok_or(format!("no value for `{name}` in clang's output"))
        })
        .collect()
}

fn write_layout(out: &Path, layout: Result<Vec<(String, i64)>, String>) {
    let mut s =
        String::from("// Generated by build.rs: layout facts clang computed for the BPF target.\n");
    match layout {
        Ok(facts) => {
            s.push_str("pub const C_LAYOUT: Result<&[(&str, i64)], &str> = Ok(&[\n");
            for (k, v) in facts {
                let _ = writeln!(s, "    ({k:?}, {v}),");
            }
            s.push_str("]);\n");
        }
        Err(why) => {
            let _ = writeln!(
                s,
                "pub const C_LAYOUT: Result<&[(&str, i64)], &str> = Err({why:?});"
            );
        }
    }
    fs::write(out.join("c_layout.rs"), s).expect("writing c_layout.rs");
}
