#!/usr/bin/env bash
# Instructions per packet of the engine's fast paths, by callgrind.
#
# For each path and size, runs `instr` under callgrind twice (N1 and N2
# packets), counting only inside Batch::process_batch (engine),
# Batch::harness_batch (the frame rebuild alone, no engine call),
# Batch::copy_batch (memcpy baseline) or, for Teredo, Batch::checksum_batch
# (the share of the UDP checksum over the whole datagram), and reports
#     (Ir(N2) - Ir(N1)) / (N2 - N1)
# so fixed costs (first-touch, set-up) cancel. `total` is the whole
# measured batch, `harness` the frame rebuild alone, `engine` = total -
# harness: the engine's own cost, which the targets apply to. Deterministic: the same
# binary gives the same counts on any x86-64 machine.
#
# Usage: bench/instr.sh [N1 [N2]]     (defaults 1000 and 101000)
#   KEEP=dir   keep the callgrind.out files in dir (for callgrind_annotate)
#   PATHS="6to4-decap teredo-rx"  SIZES="64"   restrict the matrix
set -euo pipefail

cd "$(dirname "$0")/.."
N1=${1:-1000}
N2=${2:-101000}
PATHS=${PATHS:-"6to4-decap 6to4-encap teredo-rx teredo-tx"}
SIZES=${SIZES:-"64 1500"}

command -v valgrind >/dev/null || { echo "instr.sh: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
cargo build --release -q -p xrelay-bench --bin instr
BIN=target/release/instr
OUT=${KEEP:-$(mktemp -d)}
mkdir -p "$OUT"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$OUT"' EXIT

# ir <path> <size> <n> <mode> -> "packets Ir"
ir() {
    local f="$OUT/callgrind.out.$1.$2.$3.$4" fn
    case $4 in engine) fn='*process_batch*' ;; harness) fn='*harness_batch*' ;; copy) fn='*copy_batch*' ;; csum) fn='*checksum_batch*' ;; esac
    local info
    info=$(valgrind --tool=callgrind --callgrind-out-file="$f" --toggle-collect="$fn" \
        "$BIN" "$1" "$2" "$3" "$4" 2>/dev/null)
    local pk=${info#*packets=}
    pk=${pk%% *}
    local total
    total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f")
    [ -n "$total" ] || total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f")
    echo "$pk $total"
}

per_packet() {
    read -r p1 i1 <<<"$(ir "$1" "$2" "$N1" "$3")"
    read -r p2 i2 <<<"$(ir "$1" "$2" "$N2" "$3")"
    awk -v p1="$p1" -v i1="$i1" -v p2="$p2" -v i2="$i2" 'BEGIN { printf "%.1f", (i2 - i1) / (p2 - p1) }'
}

printf '# valgrind %s, %s, N1=%s N2=%s (rounded up to batches of 64)\n' \
    "$(valgrind --version)" "$(rustc --version)" "$N1" "$N2"
printf '%-11s %5s %6s %8s %8s %8s %8s %9s\n' path size frame total harness engine memcpy udp-csum
for p in $PATHS; do
    for s in $SIZES; do
        len=$("$BIN" "$p" "$s" 64 copy | sed 's/.*frame_len=\([0-9]*\).*/\1/')
        csum=-
        case $p in teredo-*) csum=$(per_packet "$p" "$s" csum) ;; esac
        total=$(per_packet "$p" "$s" engine)
        harness=$(per_packet "$p" "$s" harness)
        engine=$(awk -v t="$total" -v h="$harness" 'BEGIN { printf "%.1f", t - h }')
        printf '%-11s %5s %6s %8s %8s %8s %8s %9s\n' "$p" "$s" "$len" \
            "$total" "$harness" "$engine" "$(per_packet "$p" "$s" copy)" "$csum"
    done
done
