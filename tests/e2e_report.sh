#!/usr/bin/env bash
# e2e_report.sh: `curvscope report` end to end, then the page in a real browser (TAP).
#
#   bash tests/e2e_report.sh path/to/curvscope
#
# Writes a fixture database with the C API (test_report --make-db; found beside this
# test's working directory, i.e. the build's tests/) and adds real runs made with the
# binary: a short Adam run with the precond-sharpness probe, a GD run that diverges, and a
# GD run with checkpoints analysed after the fact (analyze --top 5 --trace at two of
# them, and a density at the last), a short SGD run, and `curvscope demo --steps 30`.
# Runs the command and its error paths, then opens the report headless in Debian's
# chromium through playwright-core (tests/browser/, installed by scripts/setup_report.sh):
# the page and its charts (check_report.js), the page at 800 px with each run's
# section screenshotted, for this report and the demo's (check_layout.js), then printing
# it to PDF (check_print.js, with poppler's pdftoppm). The screenshots are left in the
# working directory: e2e_report.png, e2e_report_top.png, e2e_report_<run>.png,
# e2e_demo_top.png, e2e_demo_<run>.png and e2e_report_print.png (the most inked page).
# Without node, chromium, playwright-core or pdftoppm the browser checks print a TAP
# skip line.
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

# ---- real runs, made with the binary -------------------------------------------------
q() { sqlite3 -batch -cmd ".timeout 5000" "$db" "$1"; }
data="--data fashion-mnist:n=300,test=200 --quiet --threads 1"
"$bin" train --db "$db" --name adam-eos $data --model mlp:784-32-32-10 --opt adam --lr 0.002 \
  --steps 300 --eval-every 25 --probe precond-sharpness:every=10 >"$work/adam.out" 2>&1
check "a short Adam run with the precond-sharpness probe" \
  test "$(q "select status from runs where name='adam-eos'")" = finished
"$bin" train --db "$db" --name gd-diverges $data --model mlp:784-32-10 --lr 3 --steps 100 \
  --eval-every 20 --probe sharpness:every=5 >"$work/div.out" 2>&1
check "a GD run at η = 3 diverges after one sharpness measurement" \
  test "$(q "select status || ' ' || (select count(*) from eigs e where e.run_id=r.id and e.idx=0) from runs r where name='gd-diverges'")" = "diverged 1"
"$bin" train --db "$db" --name gd-eos $data --model mlp:784-32-10 --lr 0.1 --steps 300 \
  --eval-every 50 --checkpoint-every 100 --probe sharpness:every=5,k=2 >"$work/gd.out" 2>&1
gid=$(q "select id from runs where name='gd-eos'")
"$bin" analyze --db "$db" --run "$gid" --step 100 --top 5 --trace --threads 1 >"$work/an1.out" 2>&1 &&
  "$bin" analyze --db "$db" --run "$gid" --step last --top 5 --trace --threads 1 >"$work/an2.out" 2>&1
check "analyze --top 5 --trace on two checkpoints of a GD run" test $? -eq 0
"$bin" analyze --db "$db" --run "$gid" --step last --density --probes 4 --lanczos-steps 30 \
  --grid 120 --threads 1 >"$work/an3.out" 2>&1
check "analyze --density stores the SLQ settings beside the density" \
  test "$(q "select group_concat(name || '=' || value, ' ') from (select name, value from metrics where run_id=$gid and name like 'hessian_slq_%' order by name)")" = \
  "hessian_slq_grid=120.0 hessian_slq_lanczos_steps=30.0 hessian_slq_probes=4.0 hessian_slq_seed=0.0"
"$bin" train --db "$db" --name sgd-eos $data --model mlp:784-32-10 --opt sgd --batch 50 --lr 0.05 \
  --steps 200 --eval-every 50 --probe sharpness:every=10 >"$work/sgd.out" 2>&1
check "a short SGD run (mini-batches of 50) with the sharpness probe" \
  test "$(q "select status from runs where name='sgd-eos'")" = finished
check "the probe's and analyze's values at step 100 are both kept" \
  test "$(q "select group_concat(source || ':' || n) from (select source, count(*) n from eigs where run_id=$gid and step=100 group by source order by source)")" = "analyze:5,probe:2"
"$bin" study batch-scaling --db "$db" --name batch-scaling --data fashion-mnist:n=128,test=0 \
  --model mlp:784-8-10 --steps 5 --batches 8-32 --draws 3 --grid-steps 4 --grid-rungs 8 \
  --threads 1 -q >"$work/batch.out" 2>&1
check "a tiny batch-scaling study (3 draws of 8 and 32, the whole set of 128)" \
  test "$(q "select count(*) from eigs e join runs r on r.id=e.run_id where r.name='batch-scaling' and e.operator='batch' and e.idx=0")" = 7

runs_out=$("$bin" runs --db "$db")
aid=$(q "select id from runs where name='adam-eos'")
want=$(q "select printf('%.4g %.4g', max_sharpness, max_precond_sharpness) from run_summary where id=$aid")
got=$(awk -v id="$aid" '$1 == id { print $11, $12 }' <<<"$runs_out")
check "curvscope runs: the Adam run's sharpness and preconditioned sharpness in two columns ($got; want $want)" \
  test "$got" = "$want"
check "curvscope runs says which is which" grep -q "precond: max preconditioned sharpness" <<<"$runs_out"

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
check "a missing run exits 2 and names it" bash -c '[ "$1" -eq 2 ] && grep -q 999 "$2"' _ $rc "$work/err4"
"$bin" report --db "$work/no-such.db" -o "$work/none.html" >/dev/null 2>"$work/err5"
rc=$?
check "a missing database exits 2, and is not created" \
  bash -c '[ "$1" -eq 2 ] && [ ! -e "$2" ]' _ $rc "$work/no-such.db"
"$bin" report --help >"$work/help" 2>&1
check "--help exits 0 and shows usage" grep -q "usage: curvscope report" "$work/help"
"$bin" report --db "$db" --study eos --run 2 --run 3 -o "$work/eos.html" >/dev/null 2>&1
check "--study with repeated --run works" test -s "$work/eos.html"
# the demo, short: its two runs and the report it writes
"$bin" demo --db "$work/demo.db" -o "$work/demo.html" --steps 30 --threads 1 --quiet \
  >"$work/demo.out" 2>&1
check "curvscope demo --steps 30 writes its report" test -s "$work/demo.html"

# ---- in a real browser -------------------------------------------------------------
# browser_check SCRIPT ARGS...: runs a tests/browser script, folds its TAP lines into ours.
browser_check() {
  local script=$1 name
  shift
  name=$(basename "$script" .js)
  CHROMIUM=$chromium node "$here/browser/$script" "$@" $((n + 1)) \
    >"$work/$name.tap" 2>"$work/$name.err"
  grep -E '^(not )?ok ' "$work/$name.tap"
  grep -E '^#' "$work/$name.tap" | grep -v '^# count' || true
  local cnt
  cnt=$(sed -n 's/^# count //p' "$work/$name.tap" | tail -1)
  n=$((n + ${cnt:-0}))
  if grep -q '^not ok' "$work/$name.tap" || [ -z "$cnt" ]; then
    fail=1
    [ -z "$cnt" ] && notok "$script ran ($(head -c 300 "$work/$name.err"))"
  fi
}

chromium=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null 2>&1; then
  skip "node not installed (scripts/setup_report.sh)"
elif [ ! -x "$chromium" ]; then
  skip "chromium not installed (apt-get install chromium; scripts/setup_report.sh)"
elif [ ! -d "$here/browser/node_modules/playwright-core" ]; then
  skip "playwright-core not installed in tests/browser (scripts/setup_report.sh)"
else
  browser_check check_report.js "$html" "$(pwd)/e2e_report.png"
  # at 800 px: no sideways scrolling, numbers by the rule, each run's charts drawn and
  # screenshotted (e2e_report_<run>.png, e2e_demo_<run>.png beside this test's log)
  browser_check check_layout.js "$html" "$(pwd)" e2e_report adam-eos,sgd-eos,gd-diverges,gd-eos
  browser_check check_layout.js "$work/demo.html" "$(pwd)" e2e_demo '*'
  if command -v pdftoppm >/dev/null 2>&1; then
    browser_check check_print.js "$html" "$(pwd)/e2e_report_print.png"
  else
    skip "pdftoppm not installed (apt-get install poppler-utils; scripts/setup.sh --test)"
  fi
fi
finish
