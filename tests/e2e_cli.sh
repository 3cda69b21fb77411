#!/usr/bin/env bash
# e2e_cli.sh: the curvscope command line end to end (issue 2): --version and --help, bad
# flags and bad data (exit 2/1, the message names the bad token), config files, training on
# Fashion-MNIST and synthetic data logged to SQLite, divergence, Ctrl-C, refusing newer or
# foreign database files untouched. TAP output.
#
#   bash tests/e2e_cli.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_cli "$@"
BGPID=
trap '[ -n "$BGPID" ] && kill -9 "$BGPID" 2>/dev/null; rm -rf "$T"' EXIT
q() { sqlite3 -batch "$DB" "$1"; }
fm=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

# ---- --version and --help --------------------------------------------------------------
run "$BIN" --version
[ $RC -eq 0 ] && [[ $OUT =~ ^curvscope\ [0-9]+\.[0-9]+ ]]; ok $? "--version exits 0 and prints 'curvscope X.Y' (rc $RC, '$OUT')"
run "$BIN" --help
[ $RC -eq 0 ] && [[ $OUT == *train* && $OUT == *analyze* ]]; ok $? "--help exits 0 and lists the commands (rc $RC)"
for c in train runs analyze study demo report; do
  run "$BIN" $c --help
  [ $RC -eq 0 ] && [[ $OUT == *usage* ]]; ok $? "$c --help exits 0 with a usage text (rc $RC)"
done
run "$BIN" study eos --help
[ $RC -eq 0 ] && [[ $OUT == *--run* ]]; ok $? "study eos --help exits 0 (rc $RC)"
run "$BIN" train --help
[[ $OUT == *--lr* && $OUT == *--checkpoint-every* && $OUT == *--config* && $OUT == *--probe* ]]
ok $? "train --help documents --lr, --checkpoint-every, --config, --probe"
run "$BIN"
[ $RC -eq 2 ]; ok $? "no command: exit 2 (rc $RC)"
run "$BIN" frobnicate
[ $RC -eq 2 ] && [[ $ERR == *frobnicate* ]]; ok $? "unknown command: exit 2 naming it (rc $RC: ${ERR%%$'\n'*})"

# ---- bad flags and specs: exit 2, the message names the bad token ------------------------
DB=$T/bad.db
bad() { # bad TOKEN ARGS...: exit 2 and the message contains TOKEN
  local tok=$1; shift
  run timeout 60 "$BIN" train --db "$DB" --threads 1 --steps 1 -q "$@"
  [ $RC -eq 2 ] && [[ $ERR == *"$tok"* ]]
  ok $? "train $* -> exit 2 naming '$tok' (rc $RC: $ERR)"
}
bad abc --lr abc
bad --bogus --bogus 1
bad 784-x-10 --model mlp:784-x-10
bad nope --act nope
bad nn --data fashion-mnist:nn=5
bad -3 --steps -3
bad --lr --lr
bad frob --opt frob
bad relu6 --act relu6
bad synth:nosuch --data synth:nosuch
bad 4-8-2 --data synth:classes,n=50,d=3 --model mlp:4-8-2
bad ce --data synth:sines,n=200 --model mlp:1-4-1 --loss ce
bad stray --steps 3 stray
bad sharpness:every=0 --data synth:classes,n=50 --model mlp:10-4-2 --probe sharpness:every=0
bad update_tol --data synth:classes,n=50 --model mlp:10-4-2 --probe sharpness:update_tol=-1
bad refresh --data synth:classes,n=50 --model mlp:10-4-2 --probe sharpness:update_tol=1e-2,refresh=-5
run "$BIN" study eos --db "$DB" --update-tol x
[ $RC -eq 2 ] && [[ $ERR == *--update-tol* ]]; ok $? "study eos --update-tol x -> exit 2 naming it (rc $RC: $ERR)"
run "$BIN" bench track --workload digits --update-tol 0
[ $RC -eq 2 ] && [[ $ERR == *--update-tol* ]]; ok $? "bench --update-tol 0 -> exit 2 naming it (rc $RC: $ERR)"

# ---- bench eig: the JSON bench/compare reads ----------------------------------------------
run "$BIN" bench eig --workload deeplinear --threads 1 --dgemm-n 0 --json
js=$(echo "$OUT" | grep '^{' | tail -1)
[ $RC -eq 0 ] && [ -n "$js" ]; ok $? "bench eig --json exits 0 with a JSON line (rc $RC: $ERR)"
jx() { sqlite3 :memory: "select json_extract('$js', '\$.$1')"; }
jq1() { sqlite3 :memory: "select $1" | grep -qx 1; }
jq1 "$(jx eig1_lanczos_converged) = 1 and $(jx eig1_arpack_converged) = 1 and $(jx eig10_lanczos_converged) = 1 and $(jx eig10_arpack_converged) = 1"
ok $? "bench eig: all four solves converged"
l1=$(jx eig1_lanczos_value) a1=$(jx eig1_arpack_value) l10=$(jx eig10_lanczos_value)
jq1 "abs($l1 - $a1) <= 1e-5 * abs($a1) and abs($l10 - $a1) <= 1e-5 * abs($a1)"
ok $? "bench eig: the top eigenvalue agrees across solvers and k (Lanczos $l1, ARPACK $a1, Lanczos top-10 $l10)"
r1=$(jx rss_eig1_mb) r10=$(jx rss_eig10_mb) rall=$(jx rss_mb)
jq1 "$r1 > 0 and $r1 <= $r10 and $r10 <= $rall"
ok $? "bench eig: peaks ordered, up to top-1 <= up to top-10 <= both solvers ($r1, $r10, $rall MB)"
run "$BIN" train --db "$DB" --lr 0
[ $RC -eq 2 ] && [[ $ERR == *lr* ]]; ok $? "--lr 0 -> exit 2 (must be positive) (rc $RC: $ERR)"
if [ -f "$DB" ]; then
  [ "$(q "select count(*) from runs")" = 0 ]; ok $? "bad flags and specs leave no run behind"
else
  ok 0 "bad flags and specs leave no run behind (no database created)"
fi

# ---- unreadable and corrupt data ---------------------------------------------------------
run "$BIN" train --db "$DB" --threads 1 --data idx:/nonexistent/img,/nonexistent/lab --model mlp:4-2
{ [ $RC -eq 2 ] || [ $RC -eq 1 ]; } && [[ $ERR == */nonexistent/img* ]]
ok $? "missing IDX files -> exit 2 or 1 naming the path (rc $RC: $ERR)"
printf '\x00\x00\x08\x03\x00\x00' >short.idx                    # header cut off
printf '\x00\x00\x08\x01\x00\x00\x00\x02\x01\x00' >lab.idx       # a valid 2-label file
head -c 64 /dev/zero | tr '\0' 'Z' >garbage.idx                  # bad magic
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03' >trunc.idx  # payload short
printf '\x1f\x8b\x08\x00garbage-not-deflate' >badgz.idx          # corrupt gzip
for f in short garbage trunc badgz; do
  run "$BIN" train --db "$DB" --threads 1 --data idx:$f.idx,lab.idx --model mlp:4-2 --steps 1
  { [ $RC -eq 2 ] || [ $RC -eq 1 ]; } && [[ $ERR == *$f.idx* ]]
  ok $? "corrupt IDX ($f) -> clean error naming the file (rc $RC: $ERR)"
done
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08' >ok.idx
run "$BIN" train --db "$DB" --threads 1 --data idx:ok.idx,lab.idx --model mlp:4-2 --steps 2 -q
[ $RC -eq 0 ]; ok $? "a valid crafted 2x2x2 IDX pair trains (rc $RC: $ERR)"

# ---- config file; flags override it wherever they appear --------------------------------
DB=$T/cfg.db
cat >run.cfg <<'EOF'
# a curvscope config file
lr = 0.05
steps = 7
model = mlp:784-8-10
data: fashion-mnist:n=100,test=0
--seed 3
name = from-config
momentum = 0.5   # trailing comment
EOF
run "$BIN" train --steps 5 --db "$DB" --threads 1 --config run.cfg --name override -q
[ $RC -eq 0 ]; ok $? "train --config FILE exits 0 (rc $RC: $ERR)"
[ "$(q "select json_extract(config,'\$.lr') || ' ' || json_extract(config,'\$.seed') || ' ' || json_extract(config,'\$.momentum') || ' ' || json_extract(config,'\$.model') from runs")" = "0.05 3 0.5 mlp:784-8-10" ]
ok $? "values from the config file are used and stored (lr, seed, momentum, model)"
[ "$(q "select json_extract(config,'\$.steps') || ' ' || name || ' ' || (select max(step) from steps) from runs")" = "5 override 5" ]
ok $? "flags override the file, before or after --config (steps 5, name override): $(q "select json_extract(config,'\$.steps'), name from runs")"
printf 'lr = 0.1\nwibble = 3\n' >bad.cfg
run "$BIN" train --db "$DB" --config bad.cfg
[ $RC -eq 2 ] && [[ $ERR == *bad.cfg:2* && $ERR == *wibble* ]]
ok $? "unknown key in a config file -> exit 2 naming file:line and key (rc $RC: $ERR)"
printf 'lr = fast\n' >bad2.cfg
run "$BIN" train --db "$DB" --config bad2.cfg
[ $RC -eq 2 ] && [[ $ERR == *bad2.cfg* && $ERR == *fast* ]]
ok $? "bad value in a config file -> exit 2 naming the file and value (rc $RC: $ERR)"
run "$BIN" train --db "$DB" --config /nonexistent.cfg
{ [ $RC -eq 2 ] || [ $RC -eq 1 ]; } && [[ $ERR == */nonexistent.cfg* ]]
ok $? "missing config file -> error naming it (rc $RC: $ERR)"

# ---- 200 steps on a Fashion-MNIST subset lower the loss ----------------------------------
DB=$T/runs.db
if [ -r "$fm" ]; then
  run "$BIN" train --db "$DB" --threads 1 --data fashion-mnist:n=500,test=200 --model mlp:784-32-10 \
      --lr 0.05 --steps 200 --checkpoint-every 100 --eval-every 50 --name good
  [ $RC -eq 0 ]; ok $? "train 200 steps on fashion-mnist:n=500 exits 0 (rc $RC)"
  echo "$OUT" | diag
  ID=$(q "select id from runs where name='good'")
  [ "$(q "select status from runs where id=$ID")" = finished ]; ok $? "run status 'finished'"
  first=$(q "select loss from steps where run_id=$ID order by step limit 1")
  last=$(q "select loss from steps where run_id=$ID order by step desc limit 1")
  awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < 0.5*a)}'
  ok $? "training loss falls by more than half: first $first, last $last"
  [ "$(q "select count(*) || ' ' || min(step) || ' ' || max(step) from steps where run_id=$ID")" = "201 0 200" ]
  ok $? "steps 0..200 recorded"
  [ "$(q "select json_extract(config,'\$.lr') from runs where id=$ID")" = 0.05 ]
  ok $? "config JSON queryable: json_extract(config,'\$.lr') = 0.05"
  [ "$(q "select lr from run_summary where id=$ID")" = 0.05 ]; ok $? "run_summary view has lr"
  np=$(q "select n_params from runs where id=$ID")
  [ "$np" = $((784 * 32 + 32 + 32 * 10 + 10)) ]; ok $? "n_params = 25450 (got $np)"
  [ "$(q "select group_concat(step) from (select step from checkpoints where run_id=$ID order by step)")" = "0,100,200" ]
  ok $? "checkpoints at steps 0, 100, 200: $(q "select group_concat(step) from checkpoints where run_id=$ID")"
  [ "$(q "select count(*) from checkpoints where run_id=$ID and length(params) != 8*$np")" = 0 ]
  ok $? "every checkpoint blob has 8 x n_params bytes ($(q "select group_concat(length(params)) from checkpoints where run_id=$ID"))"
  [ "$(q "select count(*) from checkpoints where run_id=$ID and json_valid(layout)")" = 3 ]
  ok $? "checkpoint layouts are valid JSON"
  [ "$(q "select count(distinct hex(params)) from checkpoints where run_id=$ID")" = 3 ]
  ok $? "the three checkpoints differ (parameters moved)"
  # decode the first float64 of the final checkpoint (little-endian) and check it is finite
  h=$(q "select hex(substr(params,1,8)) from checkpoints where run_id=$ID and step=200")
  be=$(echo "$h" | sed 's/../& /g' | awk '{for(i=NF;i>0;i--) printf "%s",$i}')
  expo=$(( (16#${be:0:3} & 0x7ff) ))
  [ ${#h} -eq 16 ] && [ $expo -ne 2047 ] && [ $expo -gt 900 ]
  ok $? "first parameter of the final checkpoint is a plausible finite float64 (hex $h)"
  tacc=$(q "select value from metrics where run_id=$ID and name='test_accuracy' and step=200")
  awk -v a="$tacc" 'BEGIN{exit !(a > 0.5)}'; ok $? "test accuracy at step 200 > 0.5 (got $tacc)"
  [ "$(q "select count(*) from metrics where run_id=$ID and name='test_loss'")" = 5 ]
  ok $? "test_loss every 50 steps (0, 50, .., 200)"
  [ -n "$(q "select finished_at from runs where id=$ID")" ]; ok $? "finished_at set"

  # ---- a huge learning rate diverges, not a crash ----------------------------------------
  run "$BIN" train --db "$DB" --threads 1 --data fashion-mnist:n=500,test=200 --model mlp:784-32-10 \
      --lr 1e6 --steps 50 --name boom
  echo "# --lr 1e6: exit $RC; $OUT" | tr '\n' ' '; echo
  [ $RC -lt 128 ] && [ $RC -le 1 ]; ok $? "--lr 1e6 exits normally, no crash (rc $RC; 0 or 1 expected)"
  BID=$(q "select id from runs where name='boom'")
  [ "$(q "select status from runs where id=$BID")" = diverged ]
  ok $? "--lr 1e6 run has status 'diverged' (got $(q "select status from runs where id=$BID"))"
  [[ $OUT == *diverged* ]]; ok $? "the summary line says diverged"
  [ "$(q "select count(*) from steps where run_id=$BID")" -ge 1 ]; ok $? "the diverged run kept its steps"

  # ---- runs lists both ---------------------------------------------------------------------
  run "$BIN" runs --db "$DB"
  [ $RC -eq 0 ] && echo "$OUT" | grep -Eq "^ *$ID +good +finished" && echo "$OUT" | grep -Eq "^ *$BID +boom +diverged"
  ok $? "runs lists both runs with their statuses (rc $RC)"
  echo "$OUT" | diag
  echo "$OUT" | grep -E "^ *$ID +good" | grep -q " 200 "; ok $? "runs shows 200 steps for the good run"

  # ---- Ctrl-C ------------------------------------------------------------------------------
  "$BIN" train --db "$DB" --threads 1 --data fashion-mnist:n=2000,test=0 --model mlp:784-64-10 \
      --steps 1000000 --name long >int.out 2>int.err &
  BGPID=$!
  for _ in $(seq 1 100); do  # wait until the run is recorded, then let it train a little
    [ "$(q "select count(*) from runs where name='long'" 2>/dev/null)" = 1 ] && break
    sleep 0.1
  done
  sleep 2
  kill -INT $BGPID
  for _ in $(seq 1 150); do kill -0 $BGPID 2>/dev/null || break; sleep 0.1; done
  if kill -0 $BGPID 2>/dev/null; then
    kill -9 $BGPID; wait $BGPID; ok 1 "SIGINT ends the training within 15 s (had to kill -9)"
  else
    wait $BGPID; irc=$?
    { [ $irc -lt 128 ] || [ $irc -eq 130 ]; }; ok $? "SIGINT: the process exits cleanly (rc $irc)"
  fi
  BGPID=
  cat int.out | diag
  LID=$(q "select id from runs where name='long'")
  [ "$(q "select status from runs where id=$LID")" = interrupted ]
  ok $? "after SIGINT the run is 'interrupted' (got $(q "select status from runs where id=$LID"))"
  ns=$(q "select count(*) from steps where run_id=$LID")
  [ "$ns" -ge 2 ]; ok $? "after SIGINT its steps are recorded ($ns steps)"
  last=$(q "select max(step) from steps where run_id=$LID")
  [ "$(q "select count(*) from checkpoints where run_id=$LID and step=$last")" = 1 ]
  ok $? "after SIGINT the final parameters (step $last) are checkpointed"
else
  ok 1 "Fashion-MNIST not installed at $fm (apt-get install dataset-fashion-mnist)"
fi

# ---- newer and foreign database files are refused untouched -------------------------------
sqlite3 newer.db "PRAGMA application_id=1131770486; PRAGMA user_version=99; create table t(x); insert into t values(1);"
cp newer.db newer.copy
run "$BIN" runs --db newer.db
[ $RC -eq 1 ] && [[ $ERR == *newer* ]]; ok $? "runs on a newer-schema db: exit 1, message says newer (rc $RC: $ERR)"
cmp -s newer.db newer.copy; ok $? "newer-schema db left byte-identical by runs"
run "$BIN" train --db newer.db --threads 1 --data synth:classes,n=50 --model mlp:10-4-2 --steps 2
[ $RC -eq 1 ] && [[ $ERR == *newer* ]]; ok $? "train on a newer-schema db: exit 1, says newer (rc $RC)"
cmp -s newer.db newer.copy && [ ! -e newer.db-wal ]; ok $? "newer-schema db left untouched by train (no WAL either)"
run "$BIN" analyze --db newer.db --run 1
[ $RC -eq 1 ] && [[ $ERR == *newer* ]] && cmp -s newer.db newer.copy; ok $? "analyze on a newer-schema db refused untouched (rc $RC)"

printf 'this is a text file, not a database; it must survive curvscope.\n%.0s' 1 2 3 >notdb.txt
cp notdb.txt notdb.copy
run "$BIN" runs --db notdb.txt
[ $RC -eq 1 ] && [[ $ERR == *notdb.txt* && $ERR == *"not a curvscope database"* ]]
ok $? "runs on a text file: exit 1, clear message (rc $RC: $ERR)"
run "$BIN" train --db notdb.txt --threads 1 --data synth:classes,n=50 --model mlp:10-4-2 --steps 2
[ $RC -eq 1 ] && [[ $ERR == *"not a curvscope database"* ]]; ok $? "train on a text file: exit 1, clear message (rc $RC)"
cmp -s notdb.txt notdb.copy && [ ! -e notdb.txt-wal ]; ok $? "the text file is left untouched"
sqlite3 foreign.db "create table foo(a); insert into foo values(42);"
cp foreign.db foreign.copy
run "$BIN" train --db foreign.db --threads 1 --data synth:classes,n=50 --model mlp:10-4-2 --steps 2
[ $RC -eq 1 ] && [[ $ERR == *"not a curvscope database"* ]]; ok $? "train on another program's SQLite db: exit 1 (rc $RC: $ERR)"
cmp -s foreign.db foreign.copy; ok $? "the foreign SQLite db is left untouched"
run "$BIN" runs --db missing.db
[ $RC -eq 1 ] && [[ $ERR == *missing.db* ]] && [ ! -e missing.db ]; ok $? "runs on a missing db: exit 1 naming it, nothing created (rc $RC)"

# ---- synthetic data --------------------------------------------------------------------------
DB=$T/synth.db
run "$BIN" train --db "$DB" --threads 1 --data synth:sines,n=200,freqs=1-2,amps=1 --model mlp:1-32-1 \
    --lr 0.05 --steps 300 --name sines -q
[ $RC -eq 0 ]; ok $? "synth:sines regression with mlp:1-32-1 trains (rc $RC: $ERR)"
SID=$(q "select id from runs where name='sines'")
read -r st f l acc <<<"$(q "select status, (select loss from steps where run_id=r.id order by step limit 1), (select loss from steps where run_id=r.id order by step desc limit 1), ifnull((select accuracy from steps where run_id=r.id order by step desc limit 1),'null') from runs r where id=$SID" | tr '|' ' ')"
[ "$st" = finished ] && awk -v a="$f" -v b="$l" 'BEGIN{exit !(b < 0.9*a)}'
ok $? "sines: finished and the loss falls (first $f, last $l)"
[ "$acc" = null ]; ok $? "sines: regression has NULL accuracy (got $acc)"
run "$BIN" train --db "$DB" --threads 1 --data synth:classes,n=300,d=10,k=3 --model mlp:10-16-3 \
    --loss ce --lr 0.1 --steps 200 --name classes -q
[ $RC -eq 0 ]; ok $? "synth:classes with --loss ce trains (rc $RC: $ERR)"
read -r st f l acc <<<"$(q "select status, (select loss from steps where run_id=r.id order by step limit 1), (select loss from steps where run_id=r.id order by step desc limit 1), (select accuracy from steps where run_id=r.id order by step desc limit 1) from runs r where name='classes'" | tr '|' ' ')"
[ "$st" = finished ] && awk -v a="$f" -v b="$l" -v c="$acc" 'BEGIN{exit !(b < 0.5*a && c > 0.8)}'
ok $? "classes/ce: finished, loss falls by half, accuracy > 0.8 (first $f, last $l, acc $acc)"
[ "$(q "select json_extract(config,'\$.loss') from runs where name='classes'")" = ce ]
ok $? "classes/ce: config records loss ce"
run "$BIN" train --db "$DB" --threads 1 --data synth:classes,n=200,d=5,k=2 --model mlp:5-8-2 \
    --opt adam --lr 0.01 --batch 32 --steps 60 --name adam -q
[ $RC -eq 0 ] && [ "$(q "select status from runs where name='adam'")" = finished ]
ok $? "mini-batch Adam on synth:classes trains (rc $RC: $ERR)"

tap_end
