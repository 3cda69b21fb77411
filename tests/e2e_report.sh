#!/usr/bin/env bash
# e2e_report.sh: `curvscope report` end to end, then the page in a real browser (TAP).
#
#   bash tests/e2e_report.sh path/to/curvscope
#
# Writes a fixture database with the C API (test_report --make-db; found beside this
# test's working directory, i.e. the build's tests/), runs the command and its error
# paths, then opens the report headless in Debian's chromium through playwright-core
# (tests/browser/, installed by scripts/setup_report.sh). The screenshot is left in
# the working directory as e2e_report.png. Without node, chromium or playwright-core the
# browser checks print a TAP skip line.
set -u
bin=${1:?usage: e2e_report.sh CURVSCOPE}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(pwd)/e2e_report
mkdir -p "$work"
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
# Under CI (CI=true) or CURVSCOPE_REQUIRE_BROWSER=1 a missing browser or charting library
# fails instead of skipping: the setup script is expected to have installed them.
strict=0
[ "${CI:-}" = "true" ] || [ -n "${CURVSCOPE_REQUIRE_BROWSER:-}" ] && strict=1
skip() { if [ $strict -eq 1 ]; then notok "$* (required under CI)"; else n=$((n + 1)); echo "ok $n # SKIP $*"; fi; }
finish() { echo "1..$n"; exit $fail; }

mk=""
for c in "${TEST_REPORT:-}" ./test_report "$(dirname "$bin")/../tests/test_report"; do
  if [ -n "$c" ] && [ -x "$c" ]; then mk=$c; break; fi
done
if [ -z "$mk" ]; then
  notok "fixture maker test_report found (set TEST_REPORT)"
  finish
fi
db="$work/fixture.db"
html="$work/report.html"
check "fixture database written through the C API" "$mk" --make-db "$db"

out=$("$bin" report --db "$db" -o "$html" 2>"$work/stderr")
rc=$?
if [ $rc -ne 0 ] && grep -q "setup_report.sh" "$work/stderr"; then
  ok "without the embedded charting library, report says to run setup_report.sh"
  skip "report/vendor was missing at build time: $(head -c 200 "$work/stderr")"
  finish
fi
check "curvscope report exits 0$( [ -s "$work/stderr" ] && echo " ($(head -c 200 "$work/stderr"))")" test $rc -eq 0
check "it prints the path and size written ($out)" grep -q "report.html.*MB" <<<"$out"
check "the HTML file exists" test -s "$html"
check "the raw <script>alert(1)</script> is not in the file" \
  bash -c '! grep -qF "<script>alert(1)</script>" "$1"' _ "$html"
check "the escaped run name is" grep -qF "&lt;script&gt;alert(1)&lt;/script&gt;" "$html"

"$bin" report --db "$db" --bogus >/dev/null 2>"$work/err2"
rc=$?
check "an unknown flag exits 2 and names it" bash -c '[ "$1" -eq 2 ] && grep -q -- "--bogus" "$2"' _ $rc "$work/err2"
"$bin" report --db "$db" --run abc >/dev/null 2>"$work/err3"
rc=$?
check "a bad --run value exits 2 and names the flag" bash -c '[ "$1" -eq 2 ] && grep -q -- "--run" "$2"' _ $rc "$work/err3"
"$bin" report --db "$db" --run 999 -o "$work/none.html" >/dev/null 2>"$work/err4"
rc=$?
check "a missing run exits 1 and names it" bash -c '[ "$1" -eq 1 ] && grep -q 999 "$2"' _ $rc "$work/err4"
"$bin" report --db "$work/no-such.db" -o "$work/none.html" >/dev/null 2>"$work/err5"
rc=$?
check "a missing database exits 1, and is not created" \
  bash -c '[ "$1" -eq 1 ] && [ ! -e "$2" ]' _ $rc "$work/no-such.db"
"$bin" report --help >"$work/help" 2>&1
check "--help exits 0 and shows usage" grep -q "usage: curvscope report" "$work/help"
"$bin" report --db "$db" --study eos --run 2 --run 3 -o "$work/eos.html" >/dev/null 2>&1
check "--study with repeated --run works" test -s "$work/eos.html"

# ---- in a real browser -------------------------------------------------------------
chromium=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null 2>&1; then
  skip "node not installed (scripts/setup_report.sh)"
elif [ ! -x "$chromium" ]; then
  skip "chromium not installed (apt-get install chromium; scripts/setup_report.sh)"
elif [ ! -d "$here/browser/node_modules/playwright-core" ]; then
  skip "playwright-core not installed in tests/browser (scripts/setup_report.sh)"
else
  shot="$(pwd)/e2e_report.png"
  CHROMIUM=$chromium node "$here/browser/check_report.js" "$html" "$shot" $((n + 1)) \
    >"$work/browser.tap" 2>"$work/browser.err"
  grep -E '^(not )?ok ' "$work/browser.tap"
  grep -E '^#' "$work/browser.tap" | grep -v '^# count' || true
  cnt=$(sed -n 's/^# count //p' "$work/browser.tap" | tail -1)
  n=$((n + ${cnt:-0}))
  if grep -q '^not ok' "$work/browser.tap" || [ -z "$cnt" ]; then
    fail=1
    [ -z "$cnt" ] && notok "browser check ran ($(head -c 300 "$work/browser.err"))"
  fi
fi
finish
