# tap.sh: the shared harness of the shell end-to-end tests (TAP output). Source it, then
# call `tap_setup NAME "$@"`: BIN is the curvscope binary (argument 1, made absolute), T a
# fresh temporary directory removed on exit and the working directory. Helpers:
#   ok STATUS DESCRIPTION   one TAP line (newlines in DESCRIPTION folded)
#   diag                    prefixes stdin with "# "
#   run CMD...              runs CMD, capturing RC, OUT and ERR
#   tap_end                 prints the plan; exits non-zero if anything failed
# Small problems run single-threaded: OpenMP threads on a busy machine only slow them.
# Under the sanitizers (ASAN_OPTIONS or UBSAN_OPTIONS set, scripts/test_sanitize.sh) every
# report of every program the script runs goes to $T/sanitizer.*, and tap_end adds one
# test that fails, showing them, if there is any: a report in a command whose exit status
# a test does not look at still fails the script.
set -u
n=0 fails=0 SAN_LOG=

tap_setup() {
  local name=$1
  BIN=${2:?usage: $name.sh path/to/curvscope}
  case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
  T=$(mktemp -d "${TMPDIR:-/tmp}/cs_$name.XXXXXX")
  trap 'rm -rf "$T"' EXIT
  cd "$T" || exit 1
  if [ -n "${ASAN_OPTIONS:-}${UBSAN_OPTIONS:-}" ]; then
    SAN_LOG=$T/sanitizer
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$SAN_LOG"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$SAN_LOG"
  fi
}

ok() {
  n=$((n + 1))
  local d=${2//$'\n'/ }
  if [ "$1" -eq 0 ]; then echo "ok $n - $d"; else echo "not ok $n - $d"; fails=$((fails + 1)); fi
}
diag() { sed 's/^/# /'; }
run() { "$@" >out.txt 2>err.txt; RC=$?; OUT=$(cat out.txt); ERR=$(cat err.txt); }
tap_end() {
  if [ -n "$SAN_LOG" ]; then
    local reports
    reports=$(ls "$SAN_LOG".* 2>/dev/null)
    [ -z "$reports" ]; ok $? "no sanitizer reports from the programs this script ran"
    for f in $reports; do diag <"$f"; done
  fi
  echo "1..$n"
  [ "$fails" -eq 0 ]
  exit $?
}
