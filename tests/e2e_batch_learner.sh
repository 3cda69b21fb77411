#!/usr/bin/env bash
# e2e_batch_learner.sh: `curvscope study batch-scaling --learner` at a tiny size on real
# Fashion-MNIST: 784-16-10 tanh on 256 images, 12 heavy-ball steps, the learner with both
# rules beside two fixed learning rates. Checked from the database: four runs in one
# group from the same start (the same step-0 loss), the learners' lr and momentum per
# step, the fixed runs' constant lr, and the comparison recomputed in SQL (best fixed
# run, excess, within 10%); the report's learner charts; bad input (exit 2, named,
# nothing written). About 10 s on one core. TAP.
#
#   bash tests/e2e_batch_learner.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_batch_learner "$@"
DB=$T/learner.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }
m1() { q "select value from metrics where run_id=$1 and step=-1 and name='$2'"; }
awkt() { awk "BEGIN{exit !($1)}"; }

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "not ok 1 - Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"; echo "1..1"; exit 1
fi

run "$BIN" study batch-scaling --learner --db "$DB" --threads 1 --data fashion-mnist:n=256,test=0 \
    --model mlp:784-16-10 --steps 12 --learner-lrs 0.01,0.1 -q
[ $RC -eq 0 ]; ok $? "study batch-scaling --learner trains its runs (rc $RC: $ERR)"
echo "$OUT" | diag
[ "$(q "select count(*) from runs where status='finished'")" = 4 ] &&
  [ "$(q "select count(distinct grp) from runs")" = 1 ] &&
  [[ "$(q "select grp from runs limit 1")" == batch-scaling-* ]]
ok $? "4 finished runs (2 learners, 2 fixed lr) in one group"
[ "$(q "select count(distinct loss) from steps where step=0")" = 1 ] &&
  [ "$(q "select count(*) from steps where step=0")" = 4 ]
ok $? "the same start: every run's step-0 loss is the same number"
L="select id from runs where config like '%\"lr_schedule\":\"lanczos:%'"
F="select id from runs where config like '%\"lr_schedule\":\"\"%'"
[ "$(q "select count(*) from ($L)")" = 2 ] && [ "$(q "select count(*) from ($F)")" = 2 ] &&
  [ "$(q "select count(*) from runs where config like '%rule=polyak%'")" = 1 ] &&
  [ "$(q "select count(*) from runs where config like '%rule=granziol%'")" = 1 ] &&
  [ "$(q "select count(*) from runs where config not like '%\"opt\":\"momentum\"%'")" = 0 ]
ok $? "one learner per rule, two fixed runs, all heavy ball"
[ "$(q "select count(*) from metrics where name='lr_learned' and run_id in ($L)")" = 26 ] &&
  [ "$(q "select count(*) from metrics where name='momentum_learned' and value >= 0 and value < 1 and run_id in ($L)")" = 26 ] &&
  [ "$(q "select count(*) from metrics where name='lr_learned' and run_id in ($F)")" = 0 ]
ok $? "the learners log lr and momentum at each of steps 0..12, the fixed runs do not"
[ "$(q "select count(*) from (select run_id from steps where run_id in ($F) group by run_id having min(lr) = max(lr))")" = 2 ] &&
  [ "$(q "select group_concat(lr) from (select distinct lr from steps where run_id in ($F) order by lr)")" = "0.01,0.1" ]
ok $? "the fixed runs keep their learning rates, 0.01 and 0.1"
[ "$(q "select count(*) from metrics where name='bs_learner_final_loss' and step=-1 and value > 0")" = 4 ]
ok $? "every run's final whole-set loss is stored"
BEST=$(q "select min(value) from metrics where name='bs_learner_final_loss' and run_id in ($F)")
BESTRUN=$(q "select run_id from metrics where name='bs_learner_final_loss' and run_id in ($F) order by value limit 1")
good=1
for id in $(q "$L"); do
  fl=$(m1 "$id" bs_learner_final_loss); bf=$(m1 "$id" bs_learner_best_fixed_loss)
  ex=$(m1 "$id" bs_learner_excess); w=$(m1 "$id" bs_learner_within)
  [ "$(m1 "$id" bs_learner_best_fixed_run)" = "$BESTRUN.0" ] || good=0
  awkt "$bf == $BEST && ($ex - ($fl / $bf - 1))^2 < 1e-24 && $w == ($ex <= 0.1)" || good=0
  echo "# learner $id: final $fl, best fixed $bf, excess $ex, within $w" >&2
done
[ $good = 1 ]; ok $? "each learner's best fixed run, loss, excess and within-10% agree with SQL"
[[ $OUT == *"best fixed: lr"* && $OUT == *"against the best fixed lr"* ]]
ok $? "the comparison is printed"
ID=$(q "$L limit 1")
run "$BIN" report --db "$DB" --run "$ID" -o "$T/r.html"
if [[ $ERR == *"charting library"* ]]; then
  ok 0 "# SKIP the report (no charting library in this build)"
else
  [ $RC -eq 0 ] && grep -q "the learner: learning rate" "$T/r.html" &&
    grep -q "the learner beside the fixed learning rates" "$T/r.html" &&
    grep -q "Final whole-set training loss" "$T/r.html"
  ok $? "the report shows the learner's lr and momentum and the losses beside the fixed runs"
fi

N0=$(q "select count(*) from runs")
for bad in "--steps 1 --opt adam|momentum" "--steps 1 --learner-lrs 0.1,abc|--learner-lrs" \
           "--run 1|takes no --run"; do
  run "$BIN" study batch-scaling --learner --db "$DB" ${bad%|*}
  [ $RC -eq 2 ] && [[ $ERR == *"${bad#*|}"* ]] && [ "$(q "select count(*) from runs")" = "$N0" ]
  ok $? "--learner ${bad%|*}: exit 2 naming '${bad#*|}', nothing written ($ERR)"
done

tap_end
