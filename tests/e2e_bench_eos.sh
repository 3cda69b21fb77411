#!/usr/bin/env bash
# e2e_bench_eos.sh: `curvscope bench --workload eos` (the edge-of-stability study timed
# whole) at a small scale on real Fashion-MNIST: 40 GD steps with the sharpness every 10.
# Every tracked value must be within 1e-5 relative of a cold float64 solve (the
# benchmark's own untimed check, to 1e-10), with both stopping rules; the value stop
# must take no more products per measurement than the residual one; so must the LOBPCG warm
# start and the float32 passes (at tol 1e-5, residual stop); --seed and --lr give another
# trajectory, --track-k 2 tracks it as the study does; --trace writes each
# measurement with its error; bad options exit 2.
# About 20 s on one core. TAP output.
#
#   bash tests/e2e_bench_eos.sh path/to/curvscope
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/tap.sh"
tap_setup e2e_bench_eos "$@"
awkt() { awk "BEGIN{exit !($1)}"; }
field() { echo "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p"; }

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "not ok 1 - Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"; echo "1..1"; exit 1
fi

declare -A MV S0
for stop in value residual; do
  run "$BIN" bench --workload eos --steps 40 --every 10 --threads 1 --track-stop $stop --json
  [ $RC -eq 0 ]; ok $? "bench eos --track-stop $stop exits 0 (rc $RC: ${ERR:0:200})"
  echo "$OUT" | diag
  m=$(field "$OUT" measurements); c=$(field "$OUT" check_max_rel)
  MV[$stop]=$(field "$OUT" products_per_measurement)
  [ "$m" = 4 ]; ok $? "--track-stop $stop: 4 measurements in 40 steps (got $m)"
  awkt "$c <= 1e-5"; ok $? "--track-stop $stop: every value within 1e-5 of a cold 1e-10 solve (max $c)"
  awkt "$(field "$OUT" all_converged) == 1"; ok $? "--track-stop $stop: every measurement converged"
  s0=$(field "$OUT" sharpness_first); s1=$(field "$OUT" sharpness_last)
  awkt "$s0 > 1 && $s1 > $s0"; ok $? "--track-stop $stop: sharpness positive and rising early in training ($s0 -> $s1)"
  S0[$stop]=$s0
done
awkt "${MV[value]} <= ${MV[residual]}"
ok $? "the value stop takes no more products per measurement (${MV[value]} vs ${MV[residual]})"

# the block solver's warm start, and the float32 passes at their floor with the residual stop
for extra in "--track-solver lobpcg" "--precision mixed --tol 1e-5 --track-stop residual"; do
  run "$BIN" bench --workload eos --steps 40 --every 10 --threads 1 $extra --json
  c=$(field "$OUT" check_max_rel)
  [ $RC -eq 0 ] && awkt "$c <= 1e-5" && awkt "$(field "$OUT" all_converged) == 1"
  ok $? "bench eos $extra: converged, every value within 1e-5 of a cold float64 1e-10 solve (max $c, rc $RC)"
done
# another trajectory (--seed, --lr) tracked as the study tracks it (k = 2), in mixed
# precision on the value bound
run "$BIN" bench --workload eos --steps 40 --every 10 --threads 1 --seed 3 --lr 0.04 --track-k 2 \
  --precision mixed --track-stop value --json
c=$(field "$OUT" check_max_rel); s0=$(field "$OUT" sharpness_first)
[ $RC -eq 0 ] && [ "$(field "$OUT" seed)" = 3 ] && [ "$(field "$OUT" k)" = 2 ] &&
  awkt "$(field "$OUT" lr) == 0.04 && $(field "$OUT" threshold) == 50 && $c <= 1e-5" &&
  awkt "($s0 - ${S0[value]}) ^ 2 > (1e-3 * $s0) ^ 2"
ok $? "bench eos --seed 3 --lr 0.04 --track-k 2: its own start (sharpness $s0 vs ${S0[value]} at seed 0), 2/lr = 50, within 1e-5 of cold ($c, rc $RC)"
# --trace: a CSV line per measurement whose errors are the ones the check reports
trace="$T/trace.csv"
run "$BIN" bench --workload eos --steps 40 --every 10 --threads 1 --json --trace "$trace"
c=$(field "$OUT" check_max_rel)
[ $RC -eq 0 ] && [ "$(head -1 "$trace")" = "step,full,products,value,next,cold,cold_second,rel" ] &&
  [ "$(tail -n +2 "$trace" | cut -d, -f1 | tr '\n' ' ')" = "0 10 20 30 " ]
ok $? "--trace writes a header and the 4 measurements' steps (rc $RC: ${ERR:0:200})"
tail -n +2 "$trace" | awk -F, -v c="$c" '{ r = ($4 - $6) / $6; if (r < 0) r = -r
  if (r > 1.01 * $8 + 1e-300 || r < 0.99 * $8) bad = 1; if (r > m) m = r
  if ($6 < $7 || $3 < 1 || ($2 != 0 && $2 != 1)) bad = 1 }
  END { exit bad || m < 0.99 * c || m > 1.01 * c }'
ok $? "--trace: each line's error is |value - cold| / cold, their largest the check's ($c), the cold top two ordered"
run "$BIN" bench --workload eos --steps 20 --trace "$T/no/such/dir/trace.csv"
[ $RC -eq 2 ] && echo "$ERR" | grep -q -- "--trace"; ok $? "an unwritable --trace refused with exit 2, naming it (rc $RC: $ERR)"
run "$BIN" bench --workload eos --steps 20 --track-solver arnoldi
[ $RC -eq 2 ] && echo "$ERR" | grep -q -- "--track-solver arnoldi"; ok $? "--track-solver arnoldi refused with exit 2 (rc $RC: $ERR)"
run "$BIN" bench --workload eos --steps 20 --track-stop sometimes
[ $RC -eq 2 ] && echo "$ERR" | grep -q -- "--track-stop sometimes"; ok $? "--track-stop sometimes refused with exit 2, naming it (rc $RC: $ERR)"
run "$BIN" bench --workload eos --steps 20 --every 0
[ $RC -eq 2 ] && echo "$ERR" | grep -q -- "--every"; ok $? "--every 0 refused with exit 2 (rc $RC: $ERR)"
run "$BIN" bench --workload eos --steps 20 --track-k 100
[ $RC -eq 2 ] && echo "$ERR" | grep -q -- "--track-k 100.*1 to 64"; ok $? "--track-k 100 refused with exit 2, naming the bound, not as out of memory (rc $RC: $ERR)"
run "$BIN" bench --workload eos --steps 20 --seed -1
[ $RC -eq 2 ] && echo "$ERR" | grep -q -- "--seed"; ok $? "--seed -1 refused with exit 2, naming it (rc $RC: $ERR)"
tap_end
