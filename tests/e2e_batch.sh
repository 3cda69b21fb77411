#!/usr/bin/env bash
# e2e_batch.sh: `curvscope study batch-scaling` at a tiny size on real Fashion-MNIST.
# It trains 784-16-10 tanh (MSE, SGD) on 256 images for 20 steps, then measures λmax
# and λmin of 3 mini-batch Hessians at each of B = 8, 32, 128 and of the whole set;
# the stored rows are checked against each other (every draw present with residual
# and products; run-level metrics and series at step -1 agree with the draws), then
# the --run path (another operator, a given checkpoint, the same seed twice) and bad
# input (exit 2, the bad token named, nothing written), the stability grid's rows, and
# train --lr-schedule lanczos (the learner's metrics per step, its bad input).
# About 15 s on one core. TAP.
#
#   bash tests/e2e_batch.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_batch "$@"
DB=$T/batch.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }  # two readers may open at once
m1() { q "select value from metrics where run_id=$1 and step=-1 and name='$2'"; }
awkt() { awk "BEGIN{exit !($1)}"; }

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "not ok 1 - Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"; echo "1..1"; exit 1
fi

run "$BIN" study batch-scaling --db "$DB" --threads 1 --data fashion-mnist:n=256,test=0 \
    --model mlp:784-16-10 --steps 20 --batches 8-32-128 --draws 3 --checkpoint-every 10 -q
[ $RC -eq 0 ]; ok $? "study batch-scaling trains and measures (rc $RC: $ERR)"
echo "$OUT" | diag
ID=$(q "select id from runs where study='batch-scaling' order by id desc limit 1")
[ -n "$ID" ] && [ "$(q "select status from runs where id=$ID")" = finished ]
ok $? "the trained run is stored with study 'batch-scaling', finished"
S=$(q "select max(step) from steps where run_id=$ID")
E="eigs where run_id=$ID and source='batch-scaling' and operator='batch'"

# ---- every draw, stored ------------------------------------------------------------------
[ "$(q "select count(*) from $E")" = 20 ]; ok $? "20 eigs rows: (3 sizes x 3 draws + the whole set) x (top, bottom)"
good=1
for B in 8 32 128; do
  for d in 0 1 2; do
    for i in 0 -1; do
      [ "$(q "select count(*) from $E and batch_size=$B and draw=$d and idx=$i and step=$S")" = 1 ] || good=0
    done
  done
done
[ $good = 1 ]; ok $? "each (B, draw) has its top (idx 0) and bottom (idx -1) at the measured step $S"
[ "$(q "select count(*) from eigs where run_id=$ID and operator in ('hessian', 'ggn')")" = 0 ] &&
  [ -z "$(q "select max_sharpness from run_summary where id=$ID")" ]
ok $? "no row under operator hessian: the draws stay out of the sharpness series and max_sharpness"
[ "$(q "select count(*) from $E and batch_size=256 and draw=0")" = 2 ]; ok $? "the whole set (B = N = 256) once, draw 0"
[ "$(q "select count(*) from $E and residual is not null and matvecs > 0 and wall_s >= 0 and converged=1")" = 20 ]
ok $? "every row has its residual, products and time, and converged"
[ "$(q "select count(*) from $E and idx=0 and value > (select max(value) from $E and idx=-1)")" = 10 ]
ok $? "every λmax lies above every λmin"

# ---- run-level results at step -1 ---------------------------------------------------------
lN=$(m1 $ID bs_lambda_full)
[ "$lN" = "$(q "select value from $E and batch_size=256 and idx=0")" ]; ok $? "bs_lambda_full = the whole set's λmax ($lN)"
for m in bs_hessian_exponent bs_hessian_fit_r2 bs_noise_var bs_spearman bs_spiked_coef bs_lambda_full_min; do
  [ -n "$(m1 $ID $m)" ]; ok $? "metric $m at step -1: $(m1 $ID $m)"
done
[ "$(m1 $ID bs_step)" = "$S.0" ] && [ "$(m1 $ID bs_n)" = 256.0 ] && [ "$(m1 $ID bs_draws)" = 3.0 ]
ok $? "bs_step, bs_n, bs_draws say what was measured"
[ "$(q "select group_concat(value) from (select value from series where run_id=$ID and step=-1 and name='bs_batch_sizes' order by idx)")" = "8.0,32.0,128.0,256.0" ]
ok $? "series bs_batch_sizes = 8, 32, 128, 256"
bad=$(q "select count(*) from series s join series b on b.run_id=s.run_id and b.idx=s.idx and b.step=-1 and b.name='bs_batch_sizes'
         where s.run_id=$ID and s.step=-1 and s.name='bs_lambda_mean'
         and abs(s.value - (select avg(value) from $E and idx=0 and batch_size=b.value)) > 1e-12 * abs(s.value)")
[ "$bad" = 0 ] && [ "$(q "select count(*) from series where run_id=$ID and name='bs_lambda_mean'")" = 4 ]
ok $? "bs_lambda_mean[i] = the mean λmax of the draws of size i"
bad=$(q "select count(*) from series l join series m on m.run_id=l.run_id and m.idx=l.idx and m.step=-1 and m.name='bs_lambda_mean'
         where l.run_id=$ID and l.step=-1 and l.name='bs_lr_pred' and abs(l.value * m.value - 2) > 1e-12")
[ "$bad" = 0 ]; ok $? "bs_lr_pred = 2/λ̄(B)"
P_="eigs where run_id=$ID and source='batch-scaling' and operator='batch-precond'"
[ "$(q "select count(*) from $P_ and idx=0 and value > 0 and matvecs > 0")" = 10 ]
ok $? "10 batch-precond rows: Adam's preconditioned λmax of every draw and the whole set"
bad=$(q "select count(*) from series l join series m on m.run_id=l.run_id and m.idx=l.idx and m.step=-1 and m.name='bs_lambda_precond_mean'
         where l.run_id=$ID and l.step=-1 and l.name='bs_lr_pred_adam' and abs(l.value * m.value - 2) > 1e-12")
[ "$bad" = 0 ] && [ "$(q "select count(*) from series where run_id=$ID and name='bs_lr_pred_adam'")" = 4 ]
ok $? "bs_lr_pred_adam = 2/λ̄_precond(B), one per size"
[ "$(m1 $ID bs_lambda_precond_full)" = "$(q "select value from $P_ and batch_size=256")" ]
ok $? "bs_lambda_precond_full = the whole set's preconditioned λmax"
for s in bs_lambda_std bs_lambda_min_mean bs_hess_var bs_spiked_pred bs_lambda_precond_std; do
  [ "$(q "select count(*) from series where run_id=$ID and step=-1 and name='$s'")" = 4 ]; ok $? "series $s, one value per size"
done
[[ $OUT == *"Spearman"* && $OUT == *"(1/B − 1/N)^a"* ]]; ok $? "the summary is printed"

# ---- the stability grid (on by default, small: the 3 smallest sizes below N) -------------------
for o in sgd adam; do
  n_=$(q "select count(*) from series where run_id=$ID and step=-1 and name='bs_lr_max_$o' and value > 0")
  [ "$n_" -ge 2 ] && [ "$n_" -le 3 ]; ok $? "series bs_lr_max_$o: a positive η_max for $n_ of the 3 grid sizes"
  [ -z "$(q "select value from series where run_id=$ID and step=-1 and name='bs_lr_max_$o' and idx=3")" ]
  ok $? "bs_lr_max_$o of the whole set is NULL: not in the default grid"
done
[ "$(m1 $ID bs_lr_grid_steps)" = 10.0 ] && [ "$(m1 $ID bs_lr_grid_rungs)" = 10.0 ] &&
  [ -n "$(m1 $ID bs_lr_pred_exponent)" ]
ok $? "bs_lr_grid_steps = 10, bs_lr_grid_rungs = 10 and the predicted slope bs_lr_pred_exponent stored"
[[ $OUT == *"SGD η_max"* && $OUT == *"log-log slope"* ]]; ok $? "the grid is printed"
G=$T/grid.db
run "$BIN" study batch-scaling --db "$G" --threads 1 --data fashion-mnist:n=128,test=0 \
    --model mlp:784-8-10 --steps 5 --batches 8-32 --draws 2 --grid-batches 32 --grid-steps 4 --grid-rungs 4 -q
gq() { sqlite3 -batch -cmd ".timeout 5000" "$G" "$1"; }
[ $RC -eq 0 ] && [ "$(gq "select count(*) from series where step=-1 and name='bs_lr_max_sgd'")" = 3 ] &&
  [ -z "$(gq "select value from series where step=-1 and name='bs_lr_max_sgd' and idx in (0, 2) and value is not null")" ] &&
  [ "$(gq "select value from metrics where step=-1 and name='bs_lr_grid_rungs'")" = 4.0 ]
ok $? "--grid-batches 32 --grid-rungs 4: only B = 32 has an η_max slot filled (rc $RC: $ERR)"
# ---- the --run path -------------------------------------------------------------------------
run "$BIN" study batch-scaling --db "$DB" --threads 1 --run "$ID" --step 10 --operator ggn --batches 16 --draws 2 --no-stability-grid
[ $RC -eq 0 ]; ok $? "--run $ID --step 10 --operator ggn (rc $RC: $ERR)"
[ "$(q "select count(*) from eigs where run_id=$ID and source='batch-scaling' and operator='batch-ggn' and step=10")" = 6 ]
ok $? "GGN rows at step 10: 2 draws of 16 and the whole set, top and bottom"
[ "$(q "select count(*) from eigs where run_id=$ID and operator='batch-ggn-precond' and step=10")" = 3 ] &&
  [ "$(q "select count(*) from series where run_id=$ID and name='bs_ggn_lr_pred_adam' and value > 0")" = 2 ]
ok $? "the GGN's preconditioned λmax: 3 batch-ggn-precond rows and bs_ggn_lr_pred_adam"
[ "$(q "select value from eigs where run_id=$ID and operator='batch-ggn' and batch_size=16 and idx=-1 and draw=1")" = 0.0 ] &&
  [ "$(q "select matvecs from eigs where run_id=$ID and operator='batch-ggn' and batch_size=16 and idx=-1 and draw=1")" = 0 ]
ok $? "the GGN of 16 rows (rank <= 160 < P) has λmin 0, known without products"
[ -n "$(m1 $ID bs_ggn_lambda_full)" ] && [ "$(m1 $ID bs_ggn_step)" = 10.0 ] && [ "$(m1 $ID bs_lambda_full)" = "$lN" ]
ok $? "GGN results under bs_ggn_* names; the Hessian's bs_lambda_full kept"
v1=$(q "select group_concat(value) from (select value from eigs where run_id=$ID and operator='batch-ggn' and batch_size=16 order by draw, idx)")
run "$BIN" study batch-scaling --db "$DB" --threads 1 --run "$ID" --step 10 --operator ggn --batches 16 --draws 2 --no-stability-grid
v2=$(q "select group_concat(value) from (select value from eigs where run_id=$ID and operator='batch-ggn' and batch_size=16 order by draw, idx)")
[ $RC -eq 0 ] && [ "$v1" = "$v2" ]; ok $? "the same seed measures the same draws again ($v1)"
run "$BIN" study batch-scaling --db "$DB" --threads 1 --run "$ID" --step 10 --operator ggn --batches 16 --draws 2 --no-stability-grid --draw-seed 9
v3=$(q "select group_concat(value) from (select value from eigs where run_id=$ID and operator='batch-ggn' and batch_size=16 order by draw, idx)")
[ $RC -eq 0 ] && [ "$v1" != "$v3" ] && [ "$(m1 $ID bs_ggn_draw_seed)" = 9.0 ]; ok $? "--draw-seed 9 draws other batches, and is stored"

# ---- bad input: exit 2, the token named, nothing written -------------------------------------
runs0=$(q "select count(*) from runs"); rows0=$(q "select count(*) from eigs")
bad_case() { # expected-token args...
  local tok=$1; shift
  run "$BIN" study batch-scaling --db "$DB" "$@"
  [ $RC -eq 2 ] && [[ $ERR == *"$tok"* ]]; ok $? "$* : exit 2 naming '$tok' (rc $RC: $ERR)"
}
bad_case "0" --batches 8-0-32
bad_case "x8" --batches x8
bad_case "--draws" --draws 0
bad_case "abc" --draws abc
bad_case "foo" --operator foo
bad_case "--tol" --tol -1
bad_case "--lr" --run "$ID" --lr 0.1
bad_case "--step" --step 3
bad_case "--bogus" --bogus 1
bad_case "--grid-steps" --grid-steps 0
bad_case "--grid-rungs" --grid-rungs 1
bad_case "64" --batches 8-32 --grid-batches 64
bad_case "--full-grid" --grid-batches 8 --full-grid
[ "$(q "select count(*) from runs")" = "$runs0" ] && [ "$(q "select count(*) from eigs")" = "$rows0" ]
ok $? "no run and no row written by the refused commands"
# ---- the Lanczos learning-rate learner on train ------------------------------------------------
L=$T/learner.db
run "$BIN" train --db "$L" --threads 1 --data fashion-mnist:n=128,test=0 --model mlp:784-8-10 \
    --opt momentum --batch 32 --steps 6 --lr-schedule lanczos:every=3,batch=32,iters=8,rule=granziol -q
lq() { sqlite3 -batch -cmd ".timeout 5000" "$L" "$1"; }
[ $RC -eq 0 ] && [ "$(lq "select count(distinct step) from metrics where name='lr_learned'")" = 7 ] &&
  [ "$(lq "select count(*) from metrics where name='lr_learner_lmax' and value > 0")" = 3 ] &&
  [ "$(lq "select count(*) from metrics where name='momentum_learned' and value >= 0 and value < 1")" = 7 ]
ok $? "train --lr-schedule lanczos: lr and momentum at each of steps 0..6, measured at 0, 3, 6 (rc $RC: $ERR)"
[[ "$(lq "select config from runs")" == *'"lr_schedule":"lanczos:every=3'* ]]; ok $? "the schedule is stored in the run's config"
for bad in "lanczos:rule=fast|fast" "cosine|cosine" "lanczos:every=0|every"; do
  run "$BIN" train --db "$L" --opt momentum --steps 1 --lr-schedule "${bad%|*}"
  [ $RC -eq 2 ] && [[ $ERR == *"${bad#*|}"* ]]; ok $? "--lr-schedule ${bad%|*}: exit 2 naming '${bad#*|}' ($ERR)"
done
run "$BIN" train --db "$L" --steps 1 --lr-schedule lanczos
[ $RC -eq 2 ] && [[ $ERR == *"momentum"* ]] && [ "$(lq "select count(*) from runs")" = 1 ]
ok $? "the learner without --opt momentum: exit 2, no run written ($ERR)"

run "$BIN" study batch-scaling --db "$DB" --run "$ID" --step 7
[ $RC -ne 0 ] && [[ $ERR == *"7"* ]]; ok $? "a step without a checkpoint is refused, naming it (rc $RC: $ERR)"
run "$BIN" study batch-scaling --help
[ $RC -eq 0 ] && [[ $OUT == *"--batches"* && $OUT == *"--lr"* ]]; ok $? "--help lists the study and the train options"

tap_end
