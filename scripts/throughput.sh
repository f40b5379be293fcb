#!/usr/bin/env bash
# End-to-end throughput and memory of `spinex extract` on generated reports.
#
# Generates N reports as JSONL with `spinex generate`, runs the release binary
# `spinex extract` over them (reading JSONL, every stage, writing every table) with one and
# with two threads, then again on 4x the reports to show that peak memory does not grow with
# the input. Prints a markdown table and checks the "Archive scale" targets:
#   - one thread at >= 25% of the raw Aho-Corasick scan (benches/scan.rs),
#   - two threads >= 1.6x one thread,
#   - peak RSS < 200 MB, and flat (4x the input -> at most 1.25x the peak RSS).
#
# Usage: scripts/throughput.sh [-n REPORTS] [-s SEED] [-r REPEAT] [-t "1 2"] [--no-scale] [--keep]
#                              [--baseline]
#   --baseline   run `cargo bench --bench scan` first to measure the raw-scan speed here
#
# Environment:
#   SPINEX_BIN     binary to measure (default: builds and uses target/release/spinex)
#   BASELINE_MBPS  raw-scan speed in MB/s; by default read from the criterion results of
#                  `cargo bench --bench scan` when present, else the check is skipped
#   WORK           scratch directory (default: a new directory under ${TMPDIR:-/tmp})
#   RSS_METHOD     `proc` to poll /proc even when GNU time is available
#
# Speeds are in MB/s of the JSONL input file (1 MB = 10^6 bytes). Wall time is the best of
# REPEAT runs; peak RSS is the highest seen. Peak RSS comes from GNU `/usr/bin/time -v` when it
# works, else from polling VmHWM in /proc/<pid>/status (Linux).
set -euo pipefail

N=20000
SEED=42
REPEAT=3
THREADS="1 2"
SCALE=1
KEEP=0
RUN_BASELINE=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N="$2"; shift 2 ;;
        -s) SEED="$2"; shift 2 ;;
        -r) REPEAT="$2"; shift 2 ;;
        -t) THREADS="$2"; shift 2 ;;
        --no-scale) SCALE=0; shift ;;
        --keep) KEEP=1; shift ;;
        --baseline) RUN_BASELINE=1; shift ;;
        -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "throughput.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$RUN_BASELINE" = 1 ]; then
    (cd "$ROOT" && cargo bench --quiet --bench scan -- scan/aho_corasick_per_report >/dev/null)
fi
if [ -z "${SPINEX_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    SPINEX_BIN="$ROOT/target/release/spinex"
fi
[ -x "$SPINEX_BIN" ] || { echo "throughput.sh: no executable at $SPINEX_BIN" >&2; exit 2; }

WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/spinex-throughput.XXXXXX")}"
mkdir -p "$WORK"
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

# GNU time prints "Maximum resident set size (kbytes)"; BusyBox and the shell keyword do not.
GNU_TIME=0
if [ "${RSS_METHOD:-}" != proc ] && [ -x /usr/bin/time ] && /usr/bin/time -v true 2>&1 | grep 'Maximum resident set size' >/dev/null; then
    GNU_TIME=1
fi

now() {
    if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi
}

# run_measured OUT_VAR_PREFIX CMD...: runs CMD, sets ${prefix}_WALL (s) and ${prefix}_RSS (kB).
run_measured() {
    local prefix="$1"; shift
    local t0 t1 rss=0 status=0
    if [ "$GNU_TIME" = 1 ]; then
        t0=$(now)
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || status=$?
        t1=$(now)
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$WORK/time.txt")
    else
        t0=$(now)
        "$@" >/dev/null 2>"$WORK/stderr.txt" &
        local pid=$! hwm
        # Read with shell builtins only, so polling costs no process of its own.
        while kill -0 "$pid" 2>/dev/null; do
            while read -r key hwm _; do
                if [ "$key" = "VmHWM:" ] && [ "$hwm" -gt "$rss" ]; then rss=$hwm; fi
            done <"/proc/$pid/status" 2>/dev/null || true
            sleep 0.002
        done
        wait "$pid" || status=$?
        t1=$(now)
    fi
    if [ "$status" != 0 ]; then
        echo "throughput.sh: command failed with status $status: $*" >&2
        sed -n '1,5p' "$WORK/stderr.txt" >&2
        exit 1
    fi
    printf -v "${prefix}_WALL" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')"
    printf -v "${prefix}_RSS" '%s' "${rss:-0}"
}

# Raw-scan baseline in MB/s, from the criterion results when present.
baseline_mbps() {
    if [ -n "${BASELINE_MBPS:-}" ]; then echo "$BASELINE_MBPS"; return; fi
    local dir="$ROOT/target/criterion/scan/aho_corasick_per_report/new"
    [ -f "$dir/estimates.json" ] && [ -f "$dir/benchmark.json" ] || { echo ""; return; }
    local ns bytes
    ns=$(sed -E 's/.*"mean":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/' "$dir/estimates.json")
    bytes=$(sed -E 's/.*"throughput":\{"Bytes":([0-9]+)\}.*/\1/' "$dir/benchmark.json")
    awk -v ns="$ns" -v b="$bytes" 'BEGIN { if (ns > 0 && b > 0) printf "%.1f", b / ns * 1000 }'
}

ROWS=()
declare -A MBPS RSSKB
measure() {
    local n="$1" threads="$2"
    local input="$WORK/reports-$n.jsonl"
    if [ ! -f "$input" ]; then
        "$SPINEX_BIN" generate --reports "$n" --seed "$SEED" "$input"
        local lines
        lines=$(wc -l <"$input" | tr -d ' ')
        [ "$lines" = "$n" ] || { echo "throughput.sh: generated $lines lines, expected $n" >&2; exit 1; }
    fi
    local bytes best="" peak=0 i
    bytes=$(wc -c <"$input" | tr -d ' ')
    for ((i = 0; i < REPEAT; i++)); do
        rm -rf "$WORK/out"
        run_measured RUN "$SPINEX_BIN" extract --threads "$threads" --quiet --out "$WORK/out" "$input"
        if [ -z "$best" ] || awk -v a="$RUN_WALL" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$RUN_WALL; fi
        if [ "$RUN_RSS" -gt "$peak" ]; then peak=$RUN_RSS; fi
    done
    # The run must be complete: one row per report (reports.csv) or per failed record (errors.csv).
    local rows errors mentions
    rows=$(($(wc -l <"$WORK/out/reports.csv") - 1))
    errors=0
    [ -f "$WORK/out/errors.csv" ] && errors=$(($(wc -l <"$WORK/out/errors.csv") - 1))
    mentions=$(($(wc -l <"$WORK/out/mentions.csv") - 1))
    if [ $((rows + errors)) -lt "$n" ]; then
        echo "throughput.sh: $n reports in, $rows rows and $errors errors out" >&2
        exit 1
    fi
    local mbps rps
    mbps=$(awk -v b="$bytes" -v s="$best" 'BEGIN { printf "%.1f", b / s / 1e6 }')
    rps=$(awk -v n="$n" -v s="$best" 'BEGIN { printf "%.0f", n / s }')
    MBPS["$n/$threads"]=$mbps
    RSSKB["$n/$threads"]=$peak
    ROWS+=("| $n | $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') | $threads | $best | $mbps | $rps | $(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }') | $mentions |")
}

SIZES="$N"
[ "$SCALE" = 1 ] && SIZES="$N $((4 * N))"
for n in $SIZES; do
    for t in $THREADS; do
        measure "$n" "$t"
    done
done

BASE=$(baseline_mbps)
echo
echo "spinex extract on generated reports (seed $SEED, best of $REPEAT, $(nproc 2>/dev/null || echo '?') cores)"
echo
echo "| reports | JSONL MB | threads | wall s | MB/s | reports/s | peak RSS MB | mentions |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo

# Targets ("Archive scale").
verdict() { if [ "$1" = 1 ]; then echo "ok  "; else echo "MISS"; fi; }
one="${MBPS[$N/1]:-}"
two="${MBPS[$N/2]:-}"
if [ -n "$one" ]; then
    if [ -n "$BASE" ]; then
        ok=$(awk -v a="$one" -v b="$BASE" 'BEGIN { print (a >= 0.25 * b) ? 1 : 0 }')
        echo "- $(verdict "$ok") one thread: $one MB/s = $(awk -v a="$one" -v b="$BASE" 'BEGIN { printf "%.0f", 100 * a / b }')% of the raw scan ($BASE MB/s; target >= 25%)"
    else
        echo "- n/a  one thread: $one MB/s (no scan baseline: run \`cargo bench --bench scan\` or set BASELINE_MBPS)"
    fi
fi
if [ -n "$one" ] && [ -n "$two" ]; then
    ok=$(awk -v a="$two" -v b="$one" 'BEGIN { print (a >= 1.6 * b) ? 1 : 0 }')
    echo "- $(verdict "$ok") two threads: $(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }')x one thread (target >= 1.6x)"
fi
max_rss=0
for k in "${!RSSKB[@]}"; do [ "${RSSKB[$k]}" -gt "$max_rss" ] && max_rss=${RSSKB[$k]}; done
ok=$(awk -v k="$max_rss" 'BEGIN { print (k > 0 && k < 200 * 1024) ? 1 : 0 }')
echo "- $(verdict "$ok") peak RSS: $(awk -v k="$max_rss" 'BEGIN { printf "%.1f", k / 1024 }') MB at most (target < 200 MB)"
if [ "$SCALE" = 1 ]; then
    for t in $THREADS; do
        small=${RSSKB[$N/$t]}
        big=${RSSKB[$((4 * N))/$t]}
        ok=$(awk -v s="$small" -v b="$big" 'BEGIN { print (s > 0 && b <= 1.25 * s) ? 1 : 0 }')
        echo "- $(verdict "$ok") flat memory, $t thread(s): 4x the reports -> $(awk -v s="$small" -v b="$big" 'BEGIN { if (s > 0) printf "%.2f", b / s; else printf "?" }')x the peak RSS (target <= 1.25x)"
    done
fi
[ "$KEEP" = 1 ] && echo && echo "inputs and last output kept in $WORK"
exit 0
