#!/usr/bin/env bash
# test_summary.sh BUILD_DIR...: counts the TAP assertions of the last `meson test` run in
# each build directory and prints the closing line "N passed, N failed" over all of them
# (a test program that crashed or timed out counts as one failure more, and so does a
# directory with no test log: its build failed).
passed=0 failed=0
for dir in "$@"; do
  log="$dir/meson-logs/testlog.txt"
  if [ ! -f "$log" ]; then
    failed=$((failed + 1))
    continue
  fi
  passed=$((passed + $(grep -cE '^ok [0-9]+' "$log")))
  failed=$((failed + $(grep -cE '^not ok [0-9]+' "$log")))
  # Programs that failed without a "not ok" line (crash, timeout) still count.
  crashed=$(grep -cE '^ *[0-9]+/[0-9]+ .*(TIMEOUT|ERROR|FAIL) ' "$log" 2>/dev/null || true)
  json="$dir/meson-logs/testlog.json"
  if [ -f "$json" ]; then
    crashed=$(python3 - "$json" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    # A TAP script that printed "not ok" and then exited non-zero is ERROR to meson:
    # its failures are counted already. A timeout always counts.
    r = t.get("result")
    if r == "TIMEOUT" or (r in ("ERROR", "FAIL") and "not ok" not in (t.get("stdout") or "")):
        n += 1
print(n)
PY
)
  fi
  failed=$((failed + crashed))
done
[ $# -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
