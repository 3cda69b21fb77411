#!/usr/bin/env bash
# e2e_sweep.sh: curvscope sweep and curvscope merge through the binary. The grid's expansion
# (--dry-run), bad grids refused before anything is written, a --jobs 2 sweep on
# Fashion-MNIST whose merged runs carry their grid point and equal the same run trained by
# hand, merge's idempotence and its refusals (newer, corrupt, missing: exit 2, the output
# untouched), and the --slurm scripts run by hand as Slurm would run them (one array task,
# then the merge job naming the tasks that left no file). tests/e2e_slurm.sh submits them to
# a real Slurm. TAP output.
#
#   bash tests/e2e_sweep.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_sweep "$@"
q() { sqlite3 -batch "$1" "$2"; }
TRAIN=(train --data fashion-mnist:n=300,test=100 --model mlp:784-16-10 --steps 30 --seed 5
       --probe sharpness:every=10,k=1)

# ---- expansion -----------------------------------------------------------------------------
run "$BIN" sweep --grid 'lr=0.02,0.05;batch=32,300' --repeat 2 --dry-run -- "${TRAIN[@]}"
lines=$(grep -c $'^[0-9]\t' out.txt)
[ $RC -eq 0 ] && [ "$lines" -eq 8 ] && [ ! -e runs.db ] && [ -z "$(ls -d sweep-* 2>/dev/null)" ]
ok $? "--dry-run: 2 x 2 points x 2 repeats = 8 runs listed, nothing written (rc $RC: $ERR)"
# the first key varies slowest, repeats innermost, seeds 5 and 6
want=$'lr=0.02;batch=32;rep=0\nlr=0.02;batch=32;rep=1\nlr=0.02;batch=300;rep=0\nlr=0.02;batch=300;rep=1
lr=0.05;batch=32;rep=0\nlr=0.05;batch=32;rep=1\nlr=0.05;batch=300;rep=0\nlr=0.05;batch=300;rep=1'
[ "$(cut -f2 out.txt | grep rep=)" = "$want" ]; ok $? "points in order, first key slowest"
grep -P '^3\t' out.txt | grep -q -- '--lr=0.02 --batch=300 --seed=6 ' ; ok $? "task 3: lr 0.02, batch 300, seed 6"

run "$BIN" sweep --grid 'name=a,b;group=g1;threads=1,2' --dry-run -- "${TRAIN[@]}"
[ "$(grep -c -- '--name=' out.txt)" = 4 ] && [ "$(grep -c -- '--group=' out.txt)" = 4 ] &&
  [ "$(grep -c -- '--threads=' out.txt)" = 4 ] && grep -q -- '--name=b --group=g1 --threads=2 --db=' out.txt
ok $? "name, group and threads as grid keys: the grid's values, not the sweep's"
for bad in "bogus=1|unknown key 'bogus'" "lr=0.1;lr=0.2|given twice" "lr=0.1,|empty value" \
           "lr|not KEY=V1,V2" "db=a.db|every task writes its own database" "lr=fast|--lr 'fast'" \
           "batch=32,abc|task 1 (batch=abc)"; do
  spec=${bad%%|*} frag=${bad#*|}
  run "$BIN" sweep --grid "$spec" --jobs 2 -- "${TRAIN[@]}"
  [ $RC -eq 2 ] && [[ $ERR == *"$frag"* ]] && [ -z "$(ls)" ] || [ "$(ls)" = "$(printf 'err.txt\nout.txt')" ]
  ok $? "--grid '$spec': exit 2 naming '$frag', nothing created (rc $RC: $ERR)"
done
for bad in "--grid lr=0.1 -- train --db x.db|--db after \`train\`" "--grid lr=0.1|end with -- train" \
           "--grid lr=0.1 --jobs 0 -- train|--jobs 0" "-- train|--grid is required" \
           "--grid lr=0.1 --cpus 2 -- train|for --slurm" "--grid lr=0.1 -- train --bogus|--bogus"; do
  args=${bad%%|*} frag=${bad#*|}
  run "$BIN" sweep $args
  [ $RC -eq 2 ] && [[ $ERR == *"$frag"* ]] && [ ! -e runs.db ] && [ ! -e x.db ]
  ok $? "sweep $args: exit 2 naming '$frag' (rc $RC: $ERR)"
done

# ---- --jobs 2: 4 runs, merged ----------------------------------------------------------------
run "$BIN" sweep --grid 'lr=0.02,0.05;batch=32,300' --jobs 2 --db s.db -- "${TRAIN[@]}"
[ $RC -eq 0 ] && [[ $OUT == *"4 of 4 tasks succeeded"* ]]; ok $? "sweep --jobs 2 (rc $RC: $OUT $ERR)"
grep -q "2 at a time, 1 thread each" out.txt; ok $? "the 2 cores split: one thread per worker"
DIR=$(ls -d sweep-*)
[ "$(q s.db "select count(*) from runs where status='finished' and grp='$DIR'")" = 4 ]
ok $? "4 finished runs in s.db, in the sweep's group $DIR"
[ "$(q s.db "select group_concat(name || '=' || json_extract(config,'$.lr') || '/' ||
             json_extract(config,'$.batch'), ' ') from (select * from runs order by id)")" = \
  "lr=0.02;batch=32=0.02/32 lr=0.02;batch=300=0.02/300 lr=0.05;batch=32=0.05/32 lr=0.05;batch=300=0.05/300" ]
ok $? "each run is named by its point and was trained with it"
[ "$(q s.db "select count(distinct uuid) from runs where length(uuid)=36")" = 4 ]; ok $? "4 uuids"
"$BIN" runs --db s.db --json | python3 -c '
import json, sys
d = json.load(sys.stdin); i = d["cols"].index("uuid")
print(" ".join(r[i] for r in d["rows"]))' >uuids.txt
[ "$(cat uuids.txt)" = "$(q s.db "select group_concat(uuid, ' ') from (select uuid from runs order by id)")" ]
ok $? "runs --json shows each run's uuid"
[ "$(q s.db "select count(*) from runs where origin like '%/$DIR/task-%.db' and origin_id=1")" = 4 ]
ok $? "provenance: each run names its task's file and id 1"
for k in 0 1 2 3; do
  a=$(q "$DIR/task-$k.db" "select count(*) || ':' || total(loss) from steps")
  b=$(q s.db "select count(*) || ':' || total(loss) from steps where run_id=(select id from runs
       where uuid=(select uuid from runs where origin like '%task-$k.db'))")
  [ "$a" = "$b" ] || break
done
[ "$a" = "$b" ]; ok $? "every task's steps are in s.db ($a)"
# task 3 by hand: the same run
"$BIN" "${TRAIN[@]}" --lr 0.05 --batch 300 --threads 1 --db hand.db -q >/dev/null 2>&1
h=$(q hand.db "select group_concat(printf('%.17g', loss)) from (select loss from steps order by step)")
s=$(q s.db "select group_concat(printf('%.17g', loss)) from (select loss from steps where run_id=4 order by step)")
[ -n "$h" ] && [ "$h" = "$s" ]; ok $? "task 3 equals train --lr 0.05 --batch 300 by hand, loss for loss"
e1=$(q hand.db "select group_concat(printf('%.17g', value)) from eigs")
e2=$(q s.db "select group_concat(printf('%.17g', value)) from eigs where run_id=4")
[ -n "$e1" ] && [ "$e1" = "$e2" ]; ok $? "and its sharpness probe's values ($e1)"

# ---- merge ----------------------------------------------------------------------------------
sum=$(cksum <s.db)
run "$BIN" merge s.db "$DIR"/task-*.db
[ $RC -eq 0 ] && [[ $OUT == *"0 runs added, 0 rows, 4 already there"* ]]
ok $? "merging the tasks again adds nothing ($OUT)"
[ "$(q s.db "select count(*) from runs")" = 4 ]; ok $? "still 4 runs"
cp "$DIR/task-0.db" newer.db && q newer.db "pragma user_version=99" >/dev/null
printf 'SQLite format 3\0garbage' >corrupt.db; head -c 8192 /dev/urandom >>corrupt.db
cp "$DIR/task-1.db" trunc.db && truncate -s 6000 trunc.db
sum=$(cksum <s.db)
for bad in "newer.db|newer" "corrupt.db|corrupt.db" "trunc.db|trunc.db" "absent.db|no database at"; do
  f=${bad%%|*} frag=${bad#*|}
  run "$BIN" merge s.db "$DIR/task-2.db" "$f"
  [ $RC -eq 2 ] && [[ $ERR == *"$frag"* ]] && [ "$(cksum <s.db)" = "$sum" ]
  ok $? "merge with $f: exit 2 naming it, s.db untouched, the good input not merged either (rc $RC: $ERR)"
  run "$BIN" merge fresh.db "$f"
  [ $RC -eq 2 ] && [ ! -e fresh.db ]; ok $? "merge fresh.db $f: exit 2, fresh.db not created"
done
run "$BIN" merge s.db; [ $RC -eq 2 ]; ok $? "merge with no input: exit 2 ($ERR)"
run "$BIN" merge all.db s.db hand.db
[ $RC -eq 0 ] && [ "$(q all.db "select count(*) from runs")" = 5 ]; ok $? "merge all.db s.db hand.db: 5 runs"
[ "$(q all.db "select count(*) from runs where origin like '%/$DIR/task-%' ")" = 4 ]
ok $? "the sweep's runs keep their task files as origin through a second merge"

# ---- --slurm: the scripts, run by hand as Slurm would ---------------------------------------
run "$BIN" sweep --grid 'lr=0.02,0.05;batch=32,300' --slurm --partition debug --time 00:05:00 \
    --jobs 2 --db sl.db --dir sl -- "${TRAIN[@]}"
[ $RC -eq 0 ] && [[ $OUT == *"bash $T/sl/submit.sh"* ]] && [ ! -e sl.db ]
ok $? "--slurm writes the scripts, says how to submit, runs nothing (rc $RC: $ERR)"
bash -n sl/sweep.sbatch && bash -n sl/merge.sbatch && bash -n sl/submit.sh; ok $? "the three scripts parse"
grep -qx '#SBATCH --array=0-3%2' sl/sweep.sbatch && grep -qx '#SBATCH --partition=debug' sl/sweep.sbatch &&
  grep -qx '#SBATCH --time=00:05:00' sl/sweep.sbatch && grep -qx '#SBATCH --cpus-per-task=1' sl/sweep.sbatch
ok $? "array 0-3 (at most 2 at once), partition, time and CPUs in the #SBATCH lines"
grep -q -- '--dependency=afterany:\$array' sl/submit.sh; ok $? "submit.sh: the merge job depends on the array (afterany)"
SLURM_ARRAY_TASK_ID=2 bash sl/sweep.sbatch >/dev/null 2>&1
[ "$(q sl/task-2.db "select name || ' ' || status from runs")" = "lr=0.05;batch=32 finished" ]
ok $? "array task 2 runs point lr=0.05;batch=32 into sl/task-2.db"
SLURM_ARRAY_TASK_ID=9 bash sl/sweep.sbatch 2>err9.txt; rc9=$?
[ $rc9 -eq 2 ] && grep -q "no task 9" err9.txt; ok $? "an index outside the array: exit 2 naming it"
bash sl/merge.sbatch >merge.txt 2>&1; mrc=$?
[ $mrc -ne 0 ] && grep -q "4 tasks, 1 merged, 3 missing: tasks 0 1 3" merge.txt &&
  [ "$(q sl.db "select count(*) from runs")" = 1 ]
ok $? "the merge job merges task 2, names the 3 missing tasks, exits non-zero ($(tr '\n' ' ' <merge.txt))"

tap_end
