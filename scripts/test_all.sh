#!/usr/bin/env bash
# test_all.sh: what `make test` runs once scripts/setup.sh --test has built build/:
#   1. every test of build/ (the release build)
#   2. scripts/test_sanitize.sh: unit, bad-input and e2e_cli tests under ASan + UBSan
#   3. scripts/test_fuzz.sh: a bounded run of each fuzzer (skipped with a message where
#      clang's libFuzzer is missing, except in CI)
# then the closing line "N passed, N failed" over every build whose tests ran.
# Each step says how long it took; the exit status is non-zero if any step failed.
# Tests run with passive OpenMP waiting: several test programs share the cores, and
# spinning threads would starve each other.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rc=0
dirs=(build)

step() { # step NAME CMD...: runs CMD, reports its time; returns its status
  local name=$1 t0=$SECONDS r
  shift
  "$@"
  r=$?
  echo "test_all: $name: $((SECONDS - t0)) s (exit $r)"
  return $r
}

rm -f build/meson-logs/testlog.*
step "release tests" env OMP_WAIT_POLICY=passive \
  meson test -C build --num-processes 2 --print-errorlogs || rc=1
step "sanitizer build and tests" bash scripts/test_sanitize.sh || rc=1
dirs+=(build-asan)
step "fuzzing" bash scripts/test_fuzz.sh
case $? in
  0) dirs+=(build-fuzz) ;;
  3) ;;                       # skipped, and said so
  *) rc=1; dirs+=(build-fuzz) ;;
esac
bash scripts/test_summary.sh "${dirs[@]}" || rc=1
exit $rc
