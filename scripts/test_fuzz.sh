#!/usr/bin/env bash
# test_fuzz.sh: the fuzz build and a bounded run of every libFuzzer harness.
#
# build-fuzz/ is built with clang, libFuzzer, AddressSanitizer and UBSan (-Dfuzz=enabled);
# only the fuzzers are built there. Each harness of tests/fuzz then runs for FUZZ_SECONDS
# (default 60), two at a time (meson suite 'fuzz'); a crash fails its test and keeps the
# input in build-fuzz/tests/fuzz/ (docs/TESTING.md says how to turn it into a test).
# Exit 0 when every run was clean, 1 on a failure, 3 when skipped: without clang's
# libFuzzer (Debian: clang, libclang-rt-14-dev) the step is skipped with a message,
# except in CI (CI set), where a missing fuzzer is a failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=build-fuzz

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' >"$probe/f.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/f.c" -o "$probe/f" >/dev/null 2>&1; then
  msg="clang with libFuzzer not found (Debian packages clang and libclang-rt-14-dev; scripts/setup.sh --test installs them as root)"
  if [ -n "${CI:-}" ]; then
    echo "test_fuzz: FAILED: $msg" >&2
    exit 1
  fi
  echo "test_fuzz: fuzzing skipped: $msg" >&2
  exit 3
fi

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" --buildtype=debugoptimized -Db_sanitize=address,undefined -Dmpi=disabled \
    -Db_lundef=false -Dfuzz=enabled -Dwerror=false >/dev/null || exit 1
fi
rm -f "$dir"/meson-logs/testlog.*
targets=$(cd tests/fuzz && ls fuzz_*.c | grep -v fuzz_util | sed 's|^\(.*\)\.c$|tests/fuzz/\1|')
ninja -C "$dir" $targets || exit 1
meson test -C "$dir" --no-rebuild --num-processes 2 --print-errorlogs --suite fuzz
