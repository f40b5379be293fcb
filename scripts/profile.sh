#!/usr/bin/env bash
# Where `spinex extract` spends its instructions: runs it under callgrind on a small generated
# input with one thread and prints the top functions, by self cost and by inclusive cost.
#
# Usage: scripts/profile.sh [-n REPORTS] [-s SEED] [-k TOP] [--keep]
#
# Environment:
#   SPINEX_BIN  binary to profile (default: builds and uses target/release/spinex, which keeps
#               line tables: `debug = 1` in the release profile)
#   WORK        scratch directory (default: a new directory under ${TMPDIR:-/tmp})
#
# Needs valgrind (callgrind and callgrind_annotate). Instruction counts are deterministic, so
# two runs can be compared: `callgrind_annotate --diff` is not needed, the totals line is enough.
set -euo pipefail

N=1000
SEED=42
TOP=30
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N="$2"; shift 2 ;;
        -s) SEED="$2"; shift 2 ;;
        -k) TOP="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "profile.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

command -v valgrind >/dev/null || { echo "profile.sh: valgrind is not installed" >&2; exit 2; }
command -v callgrind_annotate >/dev/null || { echo "profile.sh: callgrind_annotate is not installed" >&2; exit 2; }

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${SPINEX_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    SPINEX_BIN="$ROOT/target/release/spinex"
fi

WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/spinex-profile.XXXXXX")}"
mkdir -p "$WORK"
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

INPUT="$WORK/reports.jsonl"
"$SPINEX_BIN" generate --reports "$N" --seed "$SEED" "$INPUT"
# Children are traced too, so SPINEX_BIN may be a wrapper script; the largest profile is the
# binary's.
valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$WORK/callgrind.out.%p" \
    "$SPINEX_BIN" extract --threads 1 --quiet --out "$WORK/out" "$INPUT" \
    >/dev/null 2>"$WORK/valgrind.txt" || {
    echo "profile.sh: the profiled run failed:" >&2
    tail -n 20 "$WORK/valgrind.txt" >&2
    exit 1
}
OUT=$(ls -S "$WORK"/callgrind.out.* | awk 'NR == 1')

BYTES=$(wc -c <"$INPUT" | tr -d ' ')
# Annotate into files first: cutting a live pipe short would trip `pipefail`.
callgrind_annotate --inclusive=no --auto=no --threshold=100 "$OUT" >"$WORK/self.txt" 2>/dev/null
callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$OUT" >"$WORK/inclusive.txt" 2>/dev/null
TOTAL=$(sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$WORK/self.txt" | tr -d ,)
echo "callgrind: spinex extract --threads 1, $N reports, $BYTES bytes of JSONL"
if [ -n "$TOTAL" ]; then
    echo "total: $TOTAL instructions, $(awk -v t="$TOTAL" -v b="$BYTES" 'BEGIN { printf "%.0f", t / b }') per input byte"
fi
# Runtime frames that wrap everything say nothing about where the time goes.
RUNTIME='^(\(below main\)|main|0x[0-9a-f]+|.*lang_start.*|__libc_start.*|.*begin_short_backtrace.*)$'
# callgrind_annotate splits a function by the source file of each inlined piece. Self costs of
# the pieces are disjoint: add them up (`sum`). Inclusive costs overlap (the function's own
# piece already counts what its inlined pieces call): take the largest piece (`max`).
top() {
    grep -E '^ *[0-9,]+ +\(' "$1" | grep -v 'PROGRAM TOTALS' | awk -v total="$TOTAL" -v mode="$2" '
    {
        ir = $1; gsub(",", "", ir)
        line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line); sub(/ \[[^]]*\]$/, "", line)
        fn = line; sub(/^[^:]*:/, "", fn)
        if (mode == "sum") cost[fn] += ir; else if (ir + 0 > cost[fn] + 0) cost[fn] = ir
    }
    END {
        for (f in cost) printf "%14d  %5.1f%%  %s\n", cost[f], (total > 0 ? 100 * cost[f] / total : 0), f
    }' | sort -rn | awk -v re="$RUNTIME" '{ f = $0; sub(/^ *[0-9]+ +[0-9.]+% +/, "", f); if (f !~ re) print }' |
        awk -v n="$TOP" 'NR <= n' | cut -c1-200
}
# Self cost summed by component: spinex module, dependency crate, allocator, libc memory ops.
by_component() {
    grep -E '^ *[0-9,]+ +\(' "$1" | grep -v 'PROGRAM TOTALS' | awk -v total="$TOTAL" '
    {
        ir = $1; gsub(",", "", ir)
        line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line)
        fn = line; sub(/^[^:]*:/, "", fn)
        c = "other"
        if (match(fn, /^<?spinex::[a-z_]+/)) { c = substr(fn, RSTART, RLENGTH); sub(/^</, "", c) }
        else if (fn ~ /aho_corasick/) c = "aho_corasick"
        else if (fn ~ /regex_automata|regex::/) c = "regex"
        else if (fn ~ /serde_json/) c = "serde_json"
        else if (fn ~ /csv::|csv_core/) c = "csv"
        else if (line ~ /malloc|free|realloc|calloc/) c = "allocator"
        else if (fn ~ /mem(cpy|move|set|cmp|chr)|memchr/) c = "memory ops (memcpy, memchr, ...)"
        else if (fn ~ /^<?(core|alloc|std)::/) c = "std/core"
        sum[c] += ir
    }
    END {
        for (c in sum) printf "%14d  %5.1f%%  %s\n", sum[c], (total > 0 ? 100 * sum[c] / total : 0), c
    }' | sort -rn | awk -v n="$TOP" 'NR <= n'
}
echo
echo "## Top $TOP functions by self cost (instructions spent in the function itself)"
top "$WORK/self.txt" sum
echo
echo "## Self cost by component"
by_component "$WORK/self.txt"
echo
echo "## Top $TOP functions by inclusive cost (with everything they call)"
top "$WORK/inclusive.txt" max
if [ "$KEEP" = 1 ]; then
    echo
    echo "callgrind output kept in $OUT (open with callgrind_annotate or kcachegrind)"
fi
