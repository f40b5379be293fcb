#!/usr/bin/env bash
# Browser test of the review page: renders review.html for the crafted reports in
# tests/browser/reports.jsonl (some carry hostile markup) in headless Chromium and checks what a
# person would see: highlights present after the page's script ran, a filter from the URL fragment
# applied, and no script from report text run.
#
# Needs Debian's chromium; installs it with apt-get when it is missing (as root). Not part of
# `cargo test`; .ci/run calls it.
#
#   tests/browser/run.sh            # page from `spinex extract --html`, else from the demo example
#   SPINEX_PAGE_FROM=cli  tests/browser/run.sh   # insist on the CLI
#   SPINEX_PAGE_FROM=demo tests/browser/run.sh   # use examples/review_demo.rs
#   KEEP=1 tests/browser/run.sh     # keep the work directory (page, DOM dumps, screenshot)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

fail() { echo "browser test FAILED: $*" >&2; exit 1; }

# 1. Chromium.
browser=""
for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
if [ -z "$browser" ]; then
    if [ "$(id -u)" != 0 ]; then
        fail "chromium is not installed and this script is not running as root to install it (apt-get install chromium)"
    fi
    echo "browser test: installing chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
    browser=$(command -v chromium) || fail "chromium did not install"
fi

work=$(mktemp -d)
cleanup() {
    if [ -n "${KEEP:-}" ]; then echo "browser test: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# 2. The page.
reports="$root/tests/browser/reports.jsonl"
out="$work/out"
from="${SPINEX_PAGE_FROM:-auto}"
cargo build --release --quiet
if [ "$from" != demo ]; then
    "$root/target/release/spinex" extract --quiet --html --out "$out" "$reports" >"$work/cli.log" 2>&1 || true
    if [ ! -s "$out/review.html" ]; then
        [ "$from" = cli ] && fail "spinex extract --html did not write $out/review.html (see $work/cli.log)"
        echo "browser test: spinex extract --html wrote no review.html; using examples/review_demo.rs" >&2
        from=demo
    else
        from=cli
    fi
fi
if [ "$from" = demo ]; then
    cargo run --release --quiet --example review_demo -- "$reports" "$out"
fi
page="$out/review.html"
[ -s "$page" ] || fail "no page at $page"
echo "browser test: page from $from ($(wc -c <"$page") bytes)" >&2

# 3. Render.
render() { # fragment, dump file
    "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --disable-default-apps \
        --user-data-dir="$(mktemp -d -p "$work")" --virtual-time-budget=3000 \
        --enable-logging=stderr --v=0 \
        --dump-dom "file://$page$1" >"$2" 2>"$2.log" || fail "chromium exited with an error (see $2.log)"
    [ -s "$2" ] || fail "chromium dumped no DOM for '$1' (see $2.log)"
}
render "" "$work/all.html"
render "#concept=vertebral_fracture" "$work/fracture.html"
render "#flag=ambiguous_fracture_terminology" "$work/flag.html"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-default-apps \
    --user-data-dir="$(mktemp -d -p "$work")" --hide-scrollbars --window-size=1280,1900 \
    --screenshot="$work/review.png" "file://$page" >/dev/null 2>&1 || fail "screenshot failed"
[ -s "$work/review.png" ] || fail "no screenshot"
if [ -n "${SCREENSHOT:-}" ]; then cp "$work/review.png" "$SCREENSHOT"; fi

# 4. Check what a person sees.
python3 - "$work" <<'EOF' || fail "see the messages above"
import sys
from html.parser import HTMLParser

work = sys.argv[1]
problems = []

class Dom(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []      # (tag, attrs)
        self.title = ""
        self._in_title = False
        self.shown = ""
        self._in_shown = False
        self._in_body = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "body":
            self._in_body = True
        # The document title; <title> inside SVG charts labels bars.
        self._in_title = tag == "title" and not self._in_body
        self._in_shown = a.get("id") == "shown"
    def handle_endtag(self, tag):
        self._in_title = False
        self._in_shown = False
    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._in_shown:
            self.shown += data

def load(name):
    d = Dom()
    with open(f"{work}/{name}", encoding="utf-8") as f:
        d.feed(f.read())
    return d

def reports(d):
    return [a for t, a in d.elements if t == "article" and "report" in (a.get("class") or "").split()]

def check(cond, msg):
    if not cond:
        problems.append(msg)

all_, frac, flag = load("all.html"), load("fracture.html"), load("flag.html")

for name, d in [("no filter", all_), ("#concept=vertebral_fracture", frac), ("#flag=...", flag)]:
    # No script from report text ran.
    check(d.title.strip() == "spinex review", f"{name}: document title is {d.title!r}: a script from report text ran")
    check(not any(a.get("id") == "pwned" for _, a in d.elements), f"{name}: an element injected by report text exists")
    check(sum(1 for t, _ in d.elements if t == "script") == 1, f"{name}: more than the page's own script element")
    for t, a in d.elements:
        check(t not in ("img", "iframe", "object", "embed", "link"), f"{name}: <{t}> element in the page")
        for k in a:
            check(not k.startswith("on"), f"{name}: event handler attribute {k} on <{t}>")
    # Highlights are there.
    marks = [a for t, a in d.elements if t == "mark" and "tabindex" in a]
    check(len(marks) >= 10, f"{name}: only {len(marks)} highlighted mentions")
    check(any("a-affirmed" in a.get("class", "") for a in marks), f"{name}: no affirmed highlight")
    check(any("a-negated" in a.get("class", "") for a in marks), f"{name}: no negated highlight")
    check(all(a.get("data-tip") for a in marks), f"{name}: a highlight without its tooltip")
    check(any(t == "div" and a.get("id") == "tip" and a.get("role") == "tooltip" for t, a in d.elements),
          f"{name}: the page script did not set up the mention tooltip")

rs = reports(all_)
check(len(rs) == 7, f"expected 7 report blocks, found {len(rs)}")
check(not any("hidden" in a for a in rs), "with no filter some reports are hidden")
check(all_.shown.strip() == "7 of 7 shown", f"the page script did not run (counter says {all_.shown!r})")

# The fragment filter: reports without a vertebral fracture found are hidden.
rs = reports(frac)
visible = sorted(a["data-id"] for a in rs if "hidden" not in a)
hidden = sorted(a["data-id"] for a in rs if "hidden" in a)
check("lumbar-chronic-t12" in visible and "chest-incidental" in visible, f"fracture reports hidden: visible={visible}")
check("normal" in hidden and "listhesis-lesion" in hidden and "hostile-breakout" in hidden, f"non-fracture reports shown: hidden={hidden}")
check(all(" vertebral_fracture " in a["data-concepts"] for a in rs if "hidden" not in a), "a visible report lacks the finding")
check(frac.shown.strip() == f"{len(visible)} of 7 shown", f"counter {frac.shown!r} does not match {len(visible)} visible")

rs = reports(flag)
visible = [a["data-id"] for a in rs if "hidden" not in a]
check(visible == ["chest-incidental"], f"flag filter shows {visible}")

with open(f"{work}/all.html.log", encoding="utf-8", errors="replace") as f:
    log = f.read()
check("Refused to" not in log, "Content-Security-Policy refused something: " +
      " | ".join(l for l in log.splitlines() if "Refused to" in l)[:400])

if problems:
    for p in problems:
        print("  -", p, file=sys.stderr)
    sys.exit(1)
print("browser test: highlights present, fragment filters applied, no script from report text ran, nothing refused by the CSP", file=sys.stderr)
EOF
echo "browser test passed" >&2
