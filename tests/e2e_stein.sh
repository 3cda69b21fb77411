#!/usr/bin/env bash
# e2e_stein.sh: `curvscope study stein` at a tiny size: a staged and a fixed λ on the
# same draws with the KSD baseline, under a mean shift (power) and under --null (level),
# then the RBM preset; from the database alone: one run per schedule in one group, the
# metrics and per-epoch series docs/SCHEMA.md promises, the staged λ rule in the stored
# series, and bad input refused with exit 2 and nothing written. Seconds. TAP output.
#
#   bash tests/e2e_stein.sh path/to/curvscope
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/tap.sh"
tap_setup e2e_stein "$@"
DB=$T/st.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }
awkt() { awk "BEGIN{exit !($1)}"; }

TINY="--critic 8 --n-train 60 --n-val 40 --n-test 100 --epochs 4 --batch 30 --lr 1e-2 --boot 200 --threads 1 --quiet"
run "$BIN" study stein --db "$DB" --dist gauss:d=2,pert=0.8 $TINY --repeats 20 \
    --lambda staged:init=0.4,decay=0.5,final=0.06 --lambda fixed:0.1 --ksd
[ $RC -eq 0 ]; ok $? "study stein, two schedules, --ksd, exits 0 (rc $RC: ${ERR:0:200})"
echo "$OUT" | diag
[ "$(q "select count(*) from runs where study='stein' and status='finished'")" = 2 ] &&
  [ "$(q "select count(distinct grp) from runs")" = 1 ]
ok $? "one finished run per schedule, in one group"
for m in stein_power stein_power_t ksd_power stein_best_epoch stein_critic_err_min stein_repeats; do
  [ "$(q "select count(*) from metrics where name='$m' and step=-1")" = 2 ] || { echo "# missing $m"; false; } || break
done
ok $? "run-level metrics stein_power, stein_power_t, ksd_power, stein_best_epoch, stein_critic_err_min on both runs"
p=$(q "select min(value) from metrics where name in ('stein_power','ksd_power')")
awkt "$p >= 0.5"; ok $? "power against a shift of 0.8 at n_test 100: every test rejects in at least half the repeats (min $p)"
# staged: λ_e = max(0.06, 0.4·0.5^e) = 0.4, 0.2, 0.1, 0.06
lam=$(q "select group_concat(value, ' ') from (select value from series s join runs r on r.id=s.run_id where r.name like 'stein staged%' and s.name='stein_lambda' order by idx)")
[ "$lam" = "0.4 0.2 0.1 0.06" ]; ok $? "stein_lambda series of the staged run follows max(final, init·decay^e) ($lam)"
[ "$(q "select count(*) from series where name in ('stein_critic_err','stein_val_obj','stein_val_stat') and step=-1 and value is not null")" = 24 ]
ok $? "stein_critic_err, stein_val_obj, stein_val_stat: one value per epoch on each run"
[ "$(q "select json_extract(config,'\$.lambda') from runs order by id limit 1")" = "staged:init=0.4,decay=0.5,final=0.06" ]
ok $? "the schedule is in the stored config"

run "$BIN" study stein --db "$DB" --dist gauss:d=2 --null $TINY --repeats 40 --ksd
[ $RC -eq 0 ] && [ "$(q "select count(*) from metrics where name in ('stein_level','ksd_level')")" = 2 ] &&
  [ "$(q "select count(*) from series where name='stein_critic_err' and value is not null and run_id=3")" = 0 ]
ok $? "--null: stein_level and ksd_level recorded; no critic error (s_q = s_p) (rc $RC: ${ERR:0:200})"

# the Must-hold level on the paper's d = 25 mixture (p = q), at a size CI affords (~10 s):
# 200 repeats, neural (bootstrap and studentised, staged and one fixed λ) and KSD
run "$BIN" study stein --db "$T/lvl.db" --dist gauss-mixture:d=25 --null --critic 16-16 \
    --n-train 100 --n-val 50 --n-test 100 --epochs 3 --batch 50 --lr 1e-2 --repeats 200 --ksd \
    --boot 200 --threads 1 --quiet --lambda staged --lambda fixed:1e-2
lv=$(sqlite3 "$T/lvl.db" "select group_concat(value, ' ') from metrics where name in ('stein_level','stein_level_t','ksd_level') and step=-1")
[ $RC -eq 0 ] && [ "$(echo $lv | wc -w)" = 6 ] && awk -v l="$lv" 'BEGIN{n=split(l,a," "); for(i=1;i<=n;i++) if(a[i]<0.02||a[i]>0.08) exit 1}'
ok $? "level under p = q on gauss-mixture:d=25 over 200 repeats at α 0.05, neural and KSD, all in [0.02, 0.08] ($lv) (rc $RC: ${ERR:0:200})"

# the same level with the critic's passes in float32 (--precision mixed)
run "$BIN" study stein --db "$T/lvm.db" --dist gauss-mixture:d=25 --null --critic 16-16 \
    --n-train 100 --n-val 50 --n-test 100 --epochs 3 --batch 50 --lr 1e-2 --repeats 200 \
    --boot 200 --threads 1 --quiet --lambda staged --lambda fixed:1e-2 --precision mixed
lv=$(sqlite3 "$T/lvm.db" "select group_concat(value, ' ') from metrics where name in ('stein_level','stein_level_t') and step=-1")
pr=$(sqlite3 "$T/lvm.db" "select group_concat(distinct json_extract(config, '\$.precision')) from runs")
[ $RC -eq 0 ] && [ "$pr" = mixed ] && [ "$(echo $lv | wc -w)" = 4 ] && awk -v l="$lv" 'BEGIN{n=split(l,a," "); for(i=1;i<=n;i++) if(a[i]<0.02||a[i]>0.08) exit 1}'
ok $? "level in mixed precision (float32 critic passes), the same 200 repeats: neural all in [0.02, 0.08] ($lv), config precision $pr (rc $RC: ${ERR:0:200})"

run "$BIN" study stein --db "$DB" --dist rbm:dx=4,dh=3,pert=0.5,burnin=50 $TINY --repeats 4
[ $RC -eq 0 ] && [ "$(q "select count(*) from runs where name like 'stein staged rbm%'")" = 1 ]
ok $? "the rbm preset runs (rc $RC: ${ERR:0:200})"

run "$BIN" report --db "$DB" -o "$T/r.html"
[ $RC -eq 0 ] && grep -q 'id="run-1-stein"' "$T/r.html" && grep -q 'r1.stein.lambda' "$T/r.html" &&
  grep -q 'r1.stein.err' "$T/r.html" && ! grep -q 'r3.stein.err' "$T/r.html" &&
  grep -q '<th>stein_level</th><td>[0-9.]* \[[0-9.]*, [0-9.]*\] over 40 repeats' "$T/r.html"
ok $? "the report has a Stein section: rates with their intervals, λ and critic error per epoch (none of the error under --null) (rc $RC: ${ERR:0:200})"

# p from a CSV of the samples alone (label=none: no label column): N(0.8·1, I) against q = N(0, I)
awk 'BEGIN{srand(5); print "a,b"; for(i=0;i<400;i++){u=rand();v=rand(); r=sqrt(-2*log(1-u));
  printf "%.6f,%.6f\n", r*cos(6.2831853*v)+0.8, r*sin(6.2831853*v)+0.8}}' > shift.csv
run "$BIN" study stein --db "$DB" --dist gauss:d=2 --data csv:shift.csv,label=none $TINY --repeats 10
[ $RC -eq 0 ] && [ "$(q "select count(*) from runs where name='stein staged data'")" = 1 ] &&
  awkt "$(q "select m.value from metrics m join runs r on r.id=m.run_id where r.name='stein staged data' and m.name='stein_power'") >= 0.5"
ok $? "--data: p from a CSV, each repeat a fresh split; power >= 0.5 against the shifted file (rc $RC: ${ERR:0:200})"

before=$(q "select count(*) from runs")
run "$BIN" study stein --db "$DB" --dist gauss:d=3 --data csv:shift.csv,label=none $TINY
[ $RC -eq 2 ] && echo "$ERR" | grep -q "has 2 columns, q has d = 3" && [ "$(q "select count(*) from runs")" = "$before" ]
ok $? "--data with the wrong dimension exits 2 naming it, nothing written"
run "$BIN" study stein --db "$DB" --dist gauss:d=2 --data csv:shift.csv,label=none --n-train 300 --n-val 100 --n-test 100
[ $RC -eq 2 ] && echo "$ERR" | grep -q "has 400 rows"; ok $? "--data with too few rows exits 2"

run "$BIN" train --db "$DB" --data csv:shift.csv,label=none --model mlp:2-4-1 --steps 2
[ $RC -eq 2 ] && echo "$ERR" | grep -q "no targets to train on" && [ "$(q "select count(*) from runs")" = "$before" ]
ok $? "train refuses a csv with label=none and no targets, exit 2 naming it, nothing written"

# a perturbation sweep in one group (and progress per repeat on stderr): the group view
G="--db $DB --dist gauss:d=2 --group sweep ${TINY/--quiet/} --repeats 6 --ksd --lambda staged --lambda fixed:0.1"
run env CURVSCOPE_PROGRESS_S=0 "$BIN" study stein $G --null
[ $RC -eq 0 ] && echo "$ERR" | grep -q "^curvscope: repeat 6/6  staged level [0-9.]* (+1 schedules)  ksd [0-9.]*  [0-9.]* s/repeat  ETA 0s"
ok $? "progress: one line per repeat on stderr with the rates so far (rc $RC: ${ERR:0:300})"
for p in 0.4 1.2; do run "$BIN" study stein $G --pert $p --quiet; done
first=$(q "select min(id) from runs where grp='sweep'")
run "$BIN" report --db "$DB" -o "$T/g.html"
[ $RC -eq 0 ] && grep -q "Rejection rates across the 6 Stein runs of this group" "$T/g.html" &&
  grep -q "r$first.stein.pert.2" "$T/g.html" && ! grep -q "r$first.stein.n.0" "$T/g.html" &&
  ! grep -q "r$((first + 1)).stein.pert.0" "$T/g.html"
ok $? "report: the group's rejection rate against the perturbation (staged, fixed, KSD lines), with the group's first run only; no sample-size chart when n_test is one value (rc $RC)"
before=$(q "select count(*) from runs")

# a stop signal inside a long repeat ends it after the current epoch, not the repeat
"$BIN" study stein --db "$T/stop.db" --dist gauss:d=2 --critic 64-64 --n-train 2000 --n-val 500 \
    --n-test 100 --epochs 100000 --batch 50 --repeats 3 --threads 1 --quiet 2>"$T/stop.err" &
pid=$!
sleep 2; t0=$(date +%s); kill -INT $pid; wait $pid; src=$?; dt=$(( $(date +%s) - t0 ))
[ $src -eq 130 ] && [ $dt -le 10 ] && grep -q "stopped before its first repeat; nothing recorded" "$T/stop.err"
ok $? "Ctrl-C inside a repeat of 100000 epochs: exits 130 within ${dt} s, the unfinished repeat dropped (rc $src)"

run "$BIN" study stein --db "$DB" --lambda fixed:-1
[ $RC -eq 2 ] && [ "$(q "select count(*) from runs")" = "$before" ] && echo "$ERR" | grep -q "fixed:-1"
ok $? "a bad --lambda exits 2 naming it, nothing written"
run "$BIN" study stein --db "$T/new.db" --div exact:probes=2
[ $RC -eq 2 ] && [ ! -e "$T/new.db" ]; ok $? "a bad --div exits 2 and creates no database"
run "$BIN" study --help
echo "$OUT" | grep -q "^  stein "; ok $? "study --help lists stein"
tap_end
