#!/usr/bin/env bash
# test_sanitize.sh: the sanitizer build and the tests run under it.
#
# build-asan/ is the project built once more with AddressSanitizer (with LeakSanitizer)
# and UBSan (-Db_sanitize=address,undefined plus float-cast-overflow, -O2 -g, assertions
# on). Under it run every unit test (meson suite 'unit', which also replays the fuzz
# corpora), the bad-input table (suite 'badinput', once it exists) and e2e_cli.sh (suite
# 'sanitize'); the other
# end-to-end scripts train for minutes and are left out to keep CI short (they ran clean
# under ASan by hand: docs/TESTING.md).
# Any report is fatal: the program aborts and its test fails, and the shell tests also
# fail on a report from any curvscope they ran (tests/tap.sh collects them).
# No suppressions: OpenBLAS and OpenMP report nothing here, and our code must not.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=build-asan

if [ ! -f "$dir/build.ninja" ]; then
  werror=false
  [ -n "${CI:-}" ] && werror=true
  # gcc's -fsanitize=undefined leaves out float-to-integer overflow; clang's has it.
  fco=-fsanitize=float-cast-overflow
  meson setup "$dir" --buildtype=debugoptimized -Db_sanitize=address,undefined -Dmpi=disabled \
    -Db_lundef=false -Dc_args=$fco -Dc_link_args=$fco -Dfuzz=disabled -Dwerror=$werror \
    >/dev/null || exit 1
fi
rm -f "$dir"/meson-logs/testlog.*   # a failed build must not leave the last run's results
ninja -C "$dir" || exit 1

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
suites=(--suite unit --suite sanitize --suite badinput)
meson test -C "$dir" --list --suite badinput 2>/dev/null | grep -q badinput ||
  echo "test_sanitize: no 'badinput' suite in this tree; running 'unit' and 'sanitize'"
OMP_WAIT_POLICY=passive meson test -C "$dir" --no-rebuild --num-processes 2 --print-errorlogs \
  "${suites[@]}"
