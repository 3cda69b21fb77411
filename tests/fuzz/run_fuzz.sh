#!/usr/bin/env bash
# run_fuzz.sh FUZZER CORPUS_DIR: one bounded libFuzzer run as a TAP test (meson suite 'fuzz').
#   FUZZ_SECONDS    how long (default 60)
#   FUZZ_ARTIFACTS  where a crashing input is kept (default: the working directory)
# The committed corpus is only read; inputs the run finds go to a scratch directory. Any
# crash, leak, timeout (10 s per input) or sanitizer report fails the test, and the log's
# tail (the report) is printed as TAP diagnostics.
set -u
fuzzer=$1 corpus=$2
name=$(basename "$fuzzer")
secs=${FUZZ_SECONDS:-60}
art=${FUZZ_ARTIFACTS:-$PWD}
# The harnesses write each input to a file: in memory, a disk's fsync stalls are no timeouts.
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
work=$(mktemp -d "${TMPDIR:-/tmp}/cs_$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new" "$work/crash" "$art"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/crash/" "$work/new" "$corpus" >"$work/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
found=$(ls "$work/new" | wc -l)
seeds=$(ls "$corpus" | wc -l)
if [ $rc -eq 0 ] && [ -z "$(ls "$work/crash")" ]; then
  echo "ok 1 - $name: ${secs} s, ${runs:-?} inputs run from $seeds seeds, $found new, no crash"
else
  for f in "$work"/crash/*; do [ -e "$f" ] && cp "$f" "$art/$name-$(basename "$f")"; done
  echo "not ok 1 - $name failed (exit $rc) after ${runs:-?} inputs; input kept as:" \
    $(for f in "$work"/crash/*; do [ -e "$f" ] && echo "$art/$name-$(basename "$f")"; done)
  grep -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$work/log" | tail -60 | sed 's/^/# /'
fi
echo "1..1"
