#!/usr/bin/env bash
# test_summary.sh BUILD_DIR: counts the TAP assertions of the last `meson test` run
# and prints the closing line "N passed, N failed" (a test program that crashed or
# timed out counts as one failure more).
log="$1/meson-logs/testlog.txt"
[ -f "$log" ] || { echo "0 passed, 1 failed"; exit 1; }
passed=$(grep -cE '^ok [0-9]+' "$log")
failed=$(grep -cE '^not ok [0-9]+' "$log")
# Programs that failed without a "not ok" line (crash, timeout) still count.
crashed=$(grep -cE '^ *[0-9]+/[0-9]+ .*(TIMEOUT|ERROR|FAIL) ' "$log" 2>/dev/null || true)
json="$1/meson-logs/testlog.json"
if [ -f "$json" ]; then
  crashed=$(python3 - "$json" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t.get("result") in ("TIMEOUT", "ERROR") or (t.get("result") == "FAIL" and "not ok" not in (t.get("stdout") or "")):
        n += 1
print(n)
PY
)
fi
echo "$passed passed, $((failed + crashed)) failed"
[ $((failed + crashed)) -eq 0 ]
