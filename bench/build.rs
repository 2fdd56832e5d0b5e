//! Compiles the benchmark's XDP programs (`xdp-programs/bench/xrb.bpf.c`)
//! with clang into `$OUT_DIR/xrb.bpf.o`. Without clang or the libbpf
//! headers the crate still builds (the micro-benchmarks need neither);
//! `xrelay-bench compare` then says what to install.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let src = manifest.join("../xdp-programs/bench/xrb.bpf.c");
    println!("cargo::rerun-if-changed={}", src.display());
    println!("cargo::rerun-if-env-changed=XRELAY_CLANG");
    println!("cargo::rustc-check-cfg=cfg(xrb_object)");
    let clang = env::var_os("XRELAY_CLANG").map_or_else(|| PathBuf::from("clang"), PathBuf::from);
    let mut cmd = Command::new(&clang);
    cmd.args([
        "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
    ]);
    if let Ok(o) = Command::new(&clang).arg("-print-multiarch").output() {
        let triple = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        let dir = PathBuf::from("/usr/include").join(&triple);
        if !triple.is_empty() && dir.is_dir() {
            cmd.arg("-idirafter").arg(dir);
        }
    }
    cmd.arg("-c").arg(&src).arg("-o").arg(out.join("xrb.bpf.o"));
    let why = match cmd.output() {
        Ok(o) if o.status.success() => {
            println!("cargo::rustc-cfg=xrb_object");
            String::new()
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            if err.contains("bpf_helpers.h") || err.contains("linux/bpf.h") {
                "the libbpf headers are missing (apt-get install libbpf-dev)".to_owned()
            } else {
                panic!("clang failed on xrb.bpf.c:\n{err}");
            }
        }
        Err(e) => format!("clang not found ({e}; apt-get install clang libbpf-dev)"),
    };
    if !why.is_empty() {
        println!("cargo::warning=xrelay-bench: {why}; `xrelay-bench compare` will not run");
    }
    println!("cargo::rustc-env=XRB_MISSING={why}");
}
