#!/usr/bin/env bash
# e2e_runs_integrity.sh: what the database keeps true about runs, through the binary:
# `curvscope rm` removes a run and every row of it in one transaction (all or nothing), ids
# are never reused after a delete by hand in the sqlite3 shell (foreign keys off there), an
# analyze at a step the probe measured is stored beside the probe's values (source), and a
# diverged run keeps its last finite parameters as its final checkpoint. TAP output.
#
#   bash tests/e2e_runs_integrity.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_runs_integrity "$@"
DB=$T/runs.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }  # two readers may open at once
DATA=synth:sines,freqs=1-3,n=32
TR() { "$BIN" train --db "$DB" --threads 1 --data $DATA --model mlp:1-8-1 -q "$@"; }
# every row of a run, over every table that has run_id
rows_of() {
  q "select (select count(*) from steps where run_id=$1) + (select count(*) from metrics where run_id=$1)
     + (select count(*) from eigs where run_id=$1) + (select count(*) from checkpoints where run_id=$1)
     + (select count(*) from series where run_id=$1) + (select count(*) from densities where run_id=$1)
     + (select count(*) from phases where run_id=$1) + (select count(*) from runs where id=$1)"
}

# ---- three runs: a probed one with checkpoints, analysed; two plain ones -----------------
run TR --lr 0.05 --steps 20 --probe sharpness:every=5,k=2 --checkpoint-every 10 --name probed
[ $RC -eq 0 ]; ok $? "train a probed run (rc $RC: $ERR)"
run TR --lr 0.05 --steps 5 --name second
run TR --lr 0.05 --steps 5 --name third
[ "$(q "select group_concat(id) from (select id from runs order by id)")" = "1,2,3" ]; ok $? "runs 1, 2, 3"

# ---- analyze beside the probe ---------------------------------------------------------
probe10=$(q "select value || ' ' || matvecs from eigs where run_id=1 and step=10 and idx=0 and source='probe'")
run "$BIN" analyze --db "$DB" --threads 1 --run 1 --step 10 --top 3
[ $RC -eq 0 ]; ok $? "analyze --run 1 --step 10 --top 3 (rc $RC: $ERR)"
[ -n "$probe10" ] && [ "$(q "select value || ' ' || matvecs from eigs where run_id=1 and step=10 and idx=0 and source='probe'")" = "$probe10" ]
ok $? "the probe's step-10 value and products are unchanged by analyze ($probe10)"
[ "$(q "select count(*) from eigs where run_id=1 and step=10 and source='analyze' and idx>=0")" = 3 ]
ok $? "analyze's 3 values stored beside them with source 'analyze'"
[ "$(q "select count(*) from eigs where run_id=1 and source not in ('probe','analyze')")" = 0 ]
ok $? "every eigenvalue says where it came from"

# ---- rm: all or nothing ---------------------------------------------------------------
before=$(rows_of 1)
run "$BIN" rm --db "$DB" 1 99
[ $RC -eq 2 ] && [[ $ERR == *"no run 99"* ]] && [[ $ERR == *"nothing was removed"* ]]
ok $? "rm 1 99: refused, naming run 99 (rc $RC: $ERR)"
[ "$(rows_of 1)" = "$before" ]; ok $? "and run 1 keeps all its $before rows"
run "$BIN" rm --db "$DB" 1x
[ $RC -eq 2 ] && [[ $ERR == *"'1x'"* ]]; ok $? "rm 1x: exit 2 naming '1x' (rc $RC)"
run "$BIN" rm --db "$DB" --bogus 1
[ $RC -eq 2 ] && [[ $ERR == *"--bogus"* ]]; ok $? "rm --bogus: exit 2 naming the option"
q "update runs set status='running' where id=2"
run "$BIN" rm --db "$DB" 2
# a 'running' run of a dead process is marked interrupted first, then removed
st=$(q "select count(*) from runs where id=2")
[ $RC -eq 0 ] && [ "$st" = 0 ]; ok $? "a 'running' run whose process is gone is removed (rc $RC: $ERR)"
sqlite3 "$DB" "update runs set status='running', pid=$$ where id=3"
run "$BIN" rm --db "$DB" 3
[ $RC -eq 2 ] && [[ $ERR == *"--force"* ]] && [ "$(rows_of 3)" -gt 0 ]
ok $? "a run still running (live pid) is refused without --force (rc $RC: $ERR)"
run "$BIN" rm --db "$DB" --force 3
[ $RC -eq 0 ] && [ "$(rows_of 3)" = 0 ]; ok $? "--force removes it"
run "$BIN" rm --db "$DB" 1 --vacuum
[ $RC -eq 0 ] && [ "$(rows_of 1)" = 0 ] && [[ $OUT == *"removed 1 run"* ]]
ok $? "rm 1 --vacuum removes run 1 and every row of it ($OUT)"
[ "$(q "select count(*) from runs")" = 0 ]; ok $? "no runs left"

# ---- ids are never reused, even after a delete in the sqlite3 shell -------------------
run TR --lr 0.05 --steps 3 --name fourth
id4=$(q "select max(id) from runs")
sqlite3 "$DB" "delete from runs where id=$id4"   # the shell's foreign keys are off
orphans=$(q "select count(*) from steps where run_id=$id4")
run TR --lr 0.05 --steps 3 --name fifth
id5=$(q "select id from runs where name='fifth'")
[ "$id5" -gt "$id4" ]; ok $? "after a delete by hand the next run gets a new id ($id4 -> $id5)"
[ "$orphans" -gt 0 ] && [ "$(q "select count(*) from steps where run_id=$id5")" = 4 ]
ok $? "and has only its own 4 step rows (run $id4 left $orphans orphans behind)"

# ---- a diverged run keeps its last finite parameters ----------------------------------
run TR --lr 50 --steps 50 --checkpoint-every 0 --name boom
bid=$(q "select id from runs where name='boom'")
[ "$(q "select status from runs where id=$bid")" = diverged ]; ok $? "--lr 50 diverges"
last=$(q "select max(step) from steps where run_id=$bid")
ck=$(q "select max(step) from checkpoints where run_id=$bid")
[ -n "$ck" ] && [ "$ck" -ge "$((last - 1))" ]
ok $? "its final checkpoint is at step $ck (diverged at $last)"
run "$BIN" analyze --db "$DB" --threads 1 --run "$bid" --step last --top 1
[ $RC -eq 0 ]; ok $? "and analyze can read it (rc $RC: $ERR)"

# ---- data transforms are part of the stored spec, so analyze sees the trained-on data --
run "$BIN" train --db "$DB" --threads 1 --data synth:classes,n=60,d=6,k=3,whiten=zca,labels=shuffled \
    --model mlp:6-8-3 --steps 2 --checkpoint-every 1 --probe sharpness:every=1,k=1,tol=1e-10 -q --name white
wid=$(q "select id from runs where name='white'")
spec=$(q "select json_extract(config,'$.data') from runs where id=$wid")
[[ $spec == *whiten=zca* && $spec == *labels=shuffled* ]]; ok $? "the stored spec keeps whiten=zca and labels=shuffled ($spec)"
run "$BIN" analyze --db "$DB" --threads 1 --run "$wid" --step 2 --top 1 --tol 1e-10
pv=$(q "select value from eigs where run_id=$wid and step=2 and idx=0 and source='probe'")
av=$(q "select value from eigs where run_id=$wid and step=2 and idx=0 and source='analyze'")
awk -v a="$av" -v p="$pv" 'BEGIN{d=a-p; if(d<0)d=-d; exit !(a!="" && p!="" && d<=1e-6*p)}'
ok $? "analyze on the rebuilt (whitened, shuffled) data gives the probe's λ1 ($av vs $pv)"

tap_end
