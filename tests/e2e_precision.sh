#!/usr/bin/env bash
# e2e_precision.sh: --precision end to end (docs/PERFORMANCE.md, "Precision") on real
# Fashion-MNIST: the same GD run with its sharpness probe in f64 and in mixed precision
# (float32 passes) gives the same trajectory and sharpness within 1e-5 relative, and the
# same EoS ratio within 1e-3; analyze in mixed agrees with f64 within 1e-5; the run's
# config records the precision; a tolerance below the float32 floor is refused (exit 2)
# naming it; --help of train, analyze and bench lists the option. TAP output.
#
#   bash tests/e2e_precision.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_precision "$@"
DB=$T/runs.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }
awkt() { awk "BEGIN{exit !($1)}"; }

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "not ok 1 - Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"; echo "1..1"; exit 1
fi

TRAIN=(train --db "$DB" --threads 1 --data fashion-mnist:n=300,test=0 --model mlp:784-32-32-10
       --act tanh --loss mse --opt gd --lr 0.1 --steps 150 --checkpoint-every 150 -q)
for p in f64 mixed; do
  run "$BIN" "${TRAIN[@]}" --probe sharpness:every=5,k=1,tol=1e-5 --precision $p --name "p-$p"
  [ $RC -eq 0 ]; ok $? "train with the sharpness probe, --precision $p (rc $RC: $ERR)"
done
A=$(q "select id from runs where name='p-f64'") B=$(q "select id from runs where name='p-mixed'")
[ "$(q "select json_extract(config,'\$.precision') from runs where id=$B")" = mixed ]
ok $? "the mixed run's config records precision = mixed"
# the loop's steps are float64 in both: the trajectories are the same bits
[ "$(q "select count(*) from steps a join steps b on a.step=b.step where a.run_id=$A and b.run_id=$B and a.loss=b.loss")" = 151 ]
ok $? "the two runs' losses agree at all 151 steps (float64 steps in both)"
nm=$(q "select count(*) from eigs where run_id=$B and operator='hessian' and idx=0")
worst=$(q "select max(abs(a.value-b.value)/abs(a.value)) from eigs a join eigs b on a.step=b.step and a.idx=b.idx where a.run_id=$A and b.run_id=$B and a.operator='hessian' and b.operator='hessian'")
awkt "$nm == 31 && $worst <= 1e-5"; ok $? "sharpness in mixed within 1e-5 of f64 at all $nm measurements (worst $worst)"
ra=$(q "select value from metrics where run_id=$A and step=-1 and name='eos_ratio_median'")
rb=$(q "select value from metrics where run_id=$B and step=-1 and name='eos_ratio_median'")
if [ -n "$ra" ]; then
  awkt "($rb - $ra)^2 <= 1e-6 * $ra^2"; ok $? "EoS ratio unchanged to 1e-3 ($ra f64, $rb mixed)"
else
  [ -z "$rb" ]; ok $? "no EoS phase in either run (both agree)"
fi

# ---- analyze ----------------------------------------------------------------------------
top() { echo "$1" | awk '/top\[0\]/{print $3}'; }
run "$BIN" analyze --db "$DB" --threads 1 --run "$A" --top 2 --solver lanczos --tol 1e-9
[ $RC -eq 0 ]; ok $? "analyze f64 (rc $RC: $ERR)"; t64=$(top "$OUT")
run "$BIN" analyze --db "$DB" --threads 1 --run "$A" --top 2 --solver lanczos --precision mixed
[ $RC -eq 0 ] && echo "$OUT" | grep -q "float32 passes"; ok $? "analyze --precision mixed says so (rc $RC: $ERR)"
t32=$(top "$OUT")
awkt "$t64 > 0 && ($t32 - $t64)^2 <= 1e-10 * $t64^2"; ok $? "analyze top-1 in mixed within 1e-5 of f64 ($t32 vs $t64)"
run "$BIN" analyze --db "$DB" --threads 1 --run "$A" --top 1 --precision f32 --solver arpack
[ $RC -eq 0 ]; ok $? "analyze --precision f32 with ARPACK at the default tol, the floor (rc $RC: $ERR)"
ne=$(q "select count(*) from eigs where run_id=$A")
run "$BIN" analyze --db "$DB" --threads 1 --run "$A" --precision mixed --tol 1e-7
[ $RC -eq 2 ] && echo "$ERR" | grep -q "float32 HVP supports (1e-05" && [ "$(q "select count(*) from eigs where run_id=$A")" = "$ne" ]
ok $? "analyze --precision mixed --tol 1e-7: exit 2 naming the floor, nothing stored (rc $RC: $ERR)"

# ---- --help -----------------------------------------------------------------------------
for c in train analyze "bench" "study eos"; do
  "$BIN" $c --help | grep -q -- "--precision"; ok $? "$c --help lists --precision"
done
tap_end
