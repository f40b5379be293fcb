#!/usr/bin/env bash
# Hostile-input check: builds dirty inputs in a temporary directory, runs `spinex extract` on
# each and checks the outcome (README, "Robustness"). Needs only bash and coreutils.
#
#   scripts/hostile_check.sh [path/to/spinex]     (default: target/release/spinex, built if missing)
#
# Prints one line per check and exits 1 if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${1:-target/release/spinex}
if [ ! -x "$bin" ]; then
    cargo build --release --quiet || exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/spinex-hostile.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

failed=0
pass() { printf 'ok    %s\n' "$1"; }
fail() { printf 'FAIL  %s\n' "$1"; failed=$((failed + 1)); }
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
# A number from summary.json.
sum() { sed -n "s/^  \"$2\": \([0-9]*\),\{0,1\}$/\1/p" "$1/summary.json"; }
# Data rows of a CSV table whose rows hold no line breaks (reports.csv, errors.csv).
rows() { echo $(($(wc -l <"$1") - 1)); }
# Every record is a row of reports.csv or errors.csv, and summary.json agrees.
reconciles() {
    local dir=$1 records=$2 reports errors
    reports=$(rows "$dir/reports.csv")
    errors=$(rows "$dir/errors.csv")
    [ "$((reports + errors))" -eq "$records" ] &&
        [ "$(sum "$dir" records_read)" = "$records" ] &&
        [ "$(sum "$dir" reports_written)" = "$reports" ] &&
        [ "$(sum "$dir" errors)" = "$errors" ] &&
        [ "$(wc -l <"$dir/results.jsonl")" -eq "$reports" ]
}
# One line on standard error, starting with the given prefix.
one_line() { [ "$(wc -l <"$1")" -eq 1 ] && grep -q "^$2" "$1"; }
# No CSV row of any table starts with a cell a spreadsheet would run as a formula.
no_formula_cells() { ! grep -qE '^"?[-=+@]' "$1"/reports.csv "$1"/mentions.csv \
    "$1"/recommendations.csv "$1"/cautions.csv "$1"/audit.csv; }

# --- Inputs -------------------------------------------------------------------------------
report='FINDINGS: Mild T12 compression deformity, chronic. No spondylolisthesis.
Mild degenerative disc disease at L4-5.
IMPRESSION: Chronic T12 compression fracture. '
big=$report
while [ ${#big} -lt 4000000 ]; do big=$big$big; done
{
    printf 'id,text\n'
    printf 'good-1,"FINDINGS: Moderate L1 wedge compression deformity. No retropulsion."\n'
    printf 'bad-utf8,"FINDINGS: Mild scoliosis \xff\xfe and \xe9 latin-1 bytes."\n'
    printf 'empty,\n'
    printf 'big,"%s"\n' "$big"
    printf 'short-row\n'
    printf 'non-ascii,"FINDINGS: 30° levoscoliosis – L2–L3, é 😀 e\xcc\x81 \xe2\x80\x8f kyphosis."\n'
    printf 'markup,"FINDINGS: <script>alert(1)</script> <b>L4 fracture</b> & <img src=x onerror=alert(2)>"\n'
    printf '"=HYPERLINK(""http://example.invalid"",""open"")","FINDINGS: No fracture."\n'
    printf '@SUM(1+1),"IMPRESSION: Grade 1 anterolisthesis of L4 on L5."\n'
    printf 'good-2,"IMPRESSION: Grade 1 anterolisthesis of L5 on S1."\n'
} >mixed.csv
short_line=$(grep -n '^short-row$' mixed.csv | cut -d: -f1)
printf '%s\n' '{"id": "j1", "text": "FINDINGS: No fracture."}' '' \
    '{"id": "j2", "text": "FINDINGS: mild' '{"id": "j3", "text": "Mild scoliosis."}' >broken.jsonl
printf 'id,body,age\nx,FINDINGS: No fracture.,70\n' >notext.csv
printf 'id,text\nq1,"No fracture."\nq2,"Mild L1 wedge\nq3,"Scoliosis."\nq4,plain\n' >stray.csv
printf 'id,text\nt1,"No fracture."\nt2,"FINDINGS: Mild L1 wedge compres' >truncated.csv
printf 'id,text\nd1,No fracture.\nd2,Scoliosis.\nd1,Kyphosis.\n' >dup.csv

# --- A CSV mixing every kind of bad record ------------------------------------------------
"$bin" extract mixed.csv --out mixed --html --quiet 2>mixed.err
check "mixed CSV: exit status 0" [ $? -eq 0 ]
check "mixed CSV: 10 records = 9 reports + 1 error, summary.json agrees" reconciles mixed 10
check "mixed CSV: the short row is record 5 on line $short_line" \
    grep -q "^mixed.csv,5,short-row,.*field.*,$short_line\$" mixed/errors.csv
check "mixed CSV: invalid UTF-8 replaced and warned" \
    grep -q '^bad-utf8,.*invalid UTF-8 in the text replaced with U+FFFD' mixed/reports.csv
check "mixed CSV: empty text is a report with blank statuses" \
    grep -q '^empty,,,,,,,,,,,,' mixed/reports.csv
check "mixed CSV: the 4 MB report is analyzed" grep -q '^big,present,' mixed/reports.csv
check "mixed CSV: non-ASCII text is analyzed" \
    grep -qE '^non-ascii,([^,]*,){6}present,present,' mixed/reports.csv
check "mixed CSV: formula-like ids start with a quote" \
    grep -q "^\"'=HYPERLINK(\"\"http" mixed/reports.csv
check "mixed CSV: ... in every table" grep -q "^'@SUM(1+1),spondylolisthesis," mixed/mentions.csv
check "mixed CSV: no cell starts a formula" no_formula_cells mixed
check "mixed CSV: markup kept as text in mentions.csv" \
    grep -qF '<script>alert(1)</script> <b>L4 fracture</b>' mixed/mentions.csv
if [ -f mixed/review.html ]; then
    check "mixed CSV: markup escaped in review.html" \
        bash -c '! grep -qE "<script>alert|<img src=x|<b>L4" mixed/review.html &&
                 grep -qF "&lt;script&gt;alert(1)&lt;/script&gt;" mixed/review.html'
else
    pass "mixed CSV: (no review.html in this build; HTML escaping not checked)"
fi
check "mixed CSV: no report text on standard error" \
    bash -c '! grep -qE "FINDINGS|fracture|script" mixed.err'
check "mixed CSV: no .tmp files left" bash -c '! ls mixed/*.tmp 2>/dev/null'

# --- JSONL with a broken line -------------------------------------------------------------
"$bin" extract broken.jsonl --out jsonl --quiet
check "JSONL: exit status 0" [ $? -eq 0 ]
check "JSONL: 3 records = 2 reports + 1 error" reconciles jsonl 3
check "JSONL: the broken line is record 2 on line 3" \
    grep -q '^broken.jsonl,2,,invalid JSON at column [0-9]*: .*,3$' jsonl/errors.csv

# --- Broken quoting -----------------------------------------------------------------------
"$bin" extract stray.csv truncated.csv --out quotes --quiet
check "quoting: exit status 0" [ $? -eq 0 ]
check "quoting: 5 records = 3 reports + 2 errors" reconciles quotes 5
check "quoting: a stray quote is an error naming the row it swallowed" \
    grep -q '^stray.csv,2,q2,broken quoting: .*the row on line 4 may be inside it,3$' quotes/errors.csv
check "quoting: a truncated last record is an error" \
    grep -q '^truncated.csv,2,t2,broken quoting: .*not closed before the end of the input.*,3$' quotes/errors.csv

# --- Duplicate ids ------------------------------------------------------------------------
"$bin" extract dup.csv --out dup --quiet
check "duplicate ids: kept, warned and counted" bash -c \
    "grep -q '^d1,.*duplicate report id: an earlier record has the same id' dup/reports.csv &&
     [ \"\$(sed -n 's/^  \"duplicate_ids\": \([0-9]*\),/\1/p' dup/summary.json)\" = 1 ]"

# --- Fatal errors: exit 2, one line naming the file (and line) -----------------------------
"$bin" extract notext.csv --out fatal --quiet 2>notext.err
check "missing text column: exit status 2" [ $? -eq 2 ]
check "missing text column: one line naming notext.csv:1 and the columns" bash -c \
    "[ \$(wc -l <notext.err) -eq 1 ] && grep -q '^spinex: notext.csv:1: .*\"id\", \"body\", \"age\"' notext.err"
check "missing text column: no tables written" bash -c '! ls fatal/*.csv fatal/*.tmp 2>/dev/null'

"$bin" extract no-such-file.csv --out fatal --quiet 2>missing.err
check "missing file: exit status 2" [ $? -eq 2 ]
check "missing file: one line naming it" one_line missing.err 'spinex: no-such-file.csv: '

cp -r "$root/lexicons" badlex
printf 'no tabs on this line\n' >>badlex/context.tsv
badline=$(wc -l <badlex/context.tsv)
"$bin" extract mixed.csv --lexicons badlex --out fatal --quiet 2>lex.err
check "broken lexicon folder: exit status 2" [ $? -eq 2 ]
check "broken lexicon folder: one line naming context.tsv:$badline" \
    one_line lex.err "spinex: badlex/context.tsv:$badline: "

cp -r "$root/lexicons" badrules
printf '\n[[rule]\nid = \n' >>badrules/rules.toml
"$bin" extract mixed.csv --lexicons badrules --out fatal --quiet 2>rules.err
check "broken rules.toml: exit status 2" [ $? -eq 2 ]
check "broken rules.toml: one line naming rules.toml:line" \
    one_line rules.err 'spinex: badrules/rules.toml:[0-9][0-9]*: '

: >not-a-dir
"$bin" extract dup.csv --out not-a-dir --quiet 2>out.err
check "unwritable output folder: exit status 2" [ $? -eq 2 ]
check "unwritable output folder: one line naming it" one_line out.err 'spinex: not-a-dir: '

# --- Thread-count determinism --------------------------------------------------------------
inputs=(mixed.csv broken.jsonl stray.csv dup.csv "$root/samples/reports.csv")
"$bin" extract "${inputs[@]}" --out t1 --threads 1 --chunk-records 3 --quiet &&
    "$bin" extract "${inputs[@]}" --out t2 --threads 2 --chunk-records 3 --quiet &&
    "$bin" extract "${inputs[@]}" --out t4 --threads 4 --quiet
check "threads: runs completed" [ $? -eq 0 ]
for f in reports.csv mentions.csv recommendations.csv cautions.csv audit.csv errors.csv results.jsonl; do
    check "threads: $f byte-identical for 1, 2 and 4 threads" \
        bash -c "cmp -s t1/$f t2/$f && cmp -s t1/$f t4/$f"
done
check "threads: summary.json counts identical" bash -c \
    "diff <(grep -vE '\"(elapsed_seconds|mb_per_second|reports_per_second|threads)\"' t1/summary.json) \
          <(grep -vE '\"(elapsed_seconds|mb_per_second|reports_per_second|threads)\"' t2/summary.json) >/dev/null"

# --- A closed pipe ends quietly ------------------------------------------------------------
# Enough reports that every table overflows the pipe's buffer before the reader goes away.
{
    printf 'id,text\n'
    for i in $(seq 1 3000); do printf 'r%s,"%s"\n' "$i" "$report"; done
} >many.csv
for format in jsonl reports-csv mentions-csv; do
    "$bin" extract many.csv --stdout "$format" 2>pipe.err | head -n 2 >/dev/null
    status=${PIPESTATUS[0]}
    check "closed pipe ($format): exit status 0, nothing on standard error" \
        bash -c "[ $status -eq 0 ] && [ ! -s pipe.err ]"
done

# --- An interrupted run leaves the previous tables untouched --------------------------------
{
    printf 'id,text\n'
    for i in $(seq 1 12); do printf 'big-%s,"%s"\n' "$i" "$big"; done
} >huge.csv
"$bin" extract dup.csv --out interrupted --quiet
cp -r interrupted before
# With job control on, the background run does not ignore SIGINT (as it would in a script).
set -m
"$bin" extract huge.csv --out interrupted --threads 1 --quiet &
pid=$!
set +m
sleep 1
kill -INT "$pid" 2>/dev/null
wait "$pid"
status=$?
if [ "$status" -eq 0 ]; then
    check "interrupt: the run finished first; its tables are complete" reconciles interrupted 12
else
    check "interrupt: stopped by the signal, previous tables unchanged" bash -c \
        'for f in before/*; do cmp -s "$f" "interrupted/${f#before/}" || exit 1; done'
fi

echo
if [ "$failed" -eq 0 ]; then
    echo "hostile-input check: all checks passed"
else
    echo "hostile-input check: $failed check(s) failed"
    exit 1
fi
