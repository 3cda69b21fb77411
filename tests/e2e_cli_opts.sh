#!/usr/bin/env bash
# e2e_cli_opts.sh: one option parser for every subcommand and study (cli/opts.h, issue 17):
# --flag=value and --flag value everywhere, an unknown flag is "unknown option" (exit 2)
# and never "needs a value", --config FILE for every subcommand (quoted values, inline
# comments), --help shows the defaults, the naming rule (kebab-case flags, snake_case keys,
# '-' and '_' the same, old spellings kept as aliases), --name/--group/--quiet in the
# studies. Every run trains a few steps on synthetic data. TAP.
#
#   bash tests/e2e_cli_opts.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_cli_opts "$@"
q() { sqlite3 -batch -cmd ".timeout 5000" "$1" "$2"; }
SYN="--data synth:classes,n=40 --model mlp:10-4-2 --threads 1 -q"

# A database with one finished run (checkpoints at 0 and 4).
"$BIN" train --db a.db $SYN --steps 4 --checkpoint-every 4 --name base >/dev/null 2>&1
ok $? "fixture: a run to analyse"

# ---- every subcommand and study: an unknown flag, last or not, is "unknown option" -----
for c in train runs rm analyze report demo bench "study eos" "study batch-scaling" \
         "study spectral-bias" "study pc-bias" "study stein"; do
  for args in "--bogus-flag" "--bogus-flag 3" "--bogus-flag=3"; do
    run "$BIN" $c $args
    [ $RC -eq 2 ] && [[ $ERR == *"unknown option '--bogus-flag'"* ]] && [[ $ERR != *"needs a value"* ]]
    ok $? "$c $args: exit 2, unknown option '--bogus-flag' (rc $RC: $ERR)"
  done
done
[ ! -e runs.db ]; ok $? "no runs.db was created by the refused commands"

# ---- --flag=value and --flag value ------------------------------------------------------
run "$BIN" analyze --db=a.db --run=1 --step=4 --top=1 --tol=1e-6
[ $RC -eq 0 ] && [[ $OUT == *"step 4"* ]]; ok $? "analyze --db=a.db --run=1 --step=4 (rc $RC: $ERR)"
run "$BIN" analyze --db a.db --run 1 --step last --top 1
[ $RC -eq 0 ] && [[ $OUT == *"step 4"* ]]; ok $? "analyze --step last is the last checkpoint (rc $RC)"
run "$BIN" analyze --db=a.db --run=1 --step=abc
[ $RC -eq 2 ] && [[ $ERR == *"--step 'abc'"* ]]; ok $? "analyze --step=abc: exit 2 naming it ($ERR)"
run "$BIN" runs --db=a.db
[ $RC -eq 0 ] && [[ $OUT == *base* ]]; ok $? "runs --db=a.db lists the run (rc $RC)"
run "$BIN" study eos --run=1 --db=a.db
[ $RC -eq 2 ] && [[ $ERR == *"no sharpness"* ]]
ok $? "study eos --run=1 --db=a.db reaches the analysis (no sharpness in run 1: $ERR)"
run "$BIN" train --db=b.db $SYN --steps=3 --lr=0.05 --name=eq --quiet=true
[ $RC -eq 0 ] && [ "$(q b.db "select name || ' ' || json_extract(config,'\$.steps') || ' ' || json_extract(config,'\$.lr') from runs")" = "eq 3 0.05" ]
ok $? "train --steps=3 --lr=0.05 --name=eq --quiet=true (rc $RC: $ERR)"
run "$BIN" train --db b.db $SYN --steps 1 --quiet=maybe
[ $RC -eq 2 ] && [[ $ERR == *"--quiet 'maybe'"* ]]; ok $? "--quiet=maybe is refused, naming it ($ERR)"

# ---- --config FILE for every subcommand ---------------------------------------------------
cp a.db 'a #1.db'
cat >read.cfg <<'EOF'
# the database holds a '#': quoted, then a comment
db = "a #1.db"   # the copy
run = 1
step: last
EOF
printf 'db = "a #1.db"  # quoted\n' >runs.cfg
run "$BIN" runs --config runs.cfg
[ $RC -eq 0 ] && [[ $OUT == *base* ]]; ok $? "runs --config: a quoted db path with '#' (rc $RC: $ERR)"
run "$BIN" runs --db b.db --config runs.cfg
[ $RC -eq 0 ] && [[ $OUT == *eq* && $OUT != *base* ]]; ok $? "runs: --db b.db overrides the file's db (rc $RC: $ERR)"
run "$BIN" runs --config read.cfg
[ $RC -eq 2 ] && [[ $ERR == *"read.cfg:3: unknown option '--run'"* ]]; ok $? "runs --config: analyze's keys are not runs' ($ERR)"
run "$BIN" analyze --config read.cfg --top 2
[ $RC -eq 0 ] && [[ $OUT == *"top[1]"* ]]; ok $? "analyze --config: run, step and db from the file (rc $RC: $ERR)"
printf 'db = "a #1.db"\nworkload = digits\n' >bad.cfg
run "$BIN" analyze --config bad.cfg
[ $RC -eq 2 ] && [[ $ERR == *"bad.cfg:2: unknown option '--workload'"* ]]
ok $? "analyze --config: a key analyze does not have is FILE:LINE unknown option ($ERR)"
printf 'output = "r #.html"   # where\n' >rep.cfg
run "$BIN" report --db a.db --config rep.cfg
[ $RC -eq 0 ] && [ -s 'r #.html' ]; ok $? "report --config: the output file from the file (rc $RC: $ERR)"
printf 'force = true\n' >rm.cfg
run "$BIN" rm --config rm.cfg --db 'a #1.db' 1
[ $RC -eq 0 ] && [ "$(q 'a #1.db' "select count(*) from runs")" = 0 ]
ok $? "rm --config (force = true) removes the run (rc $RC: $ERR)"
printf 'workload = digits\nrepeats = 0\n' >bench.cfg
run "$BIN" bench grad --config bench.cfg
[ $RC -eq 2 ] && [[ $ERR == *"--repeats 0"* ]]; ok $? "bench --config: its values are read and checked ($ERR)"
printf 'steps = 0\nthreads = 1000\n' >demo.cfg
run "$BIN" demo --config demo.cfg --db d.db
[ $RC -eq 2 ] && [[ $ERR == *"--threads 1000"* ]] && [ ! -e d.db ]
ok $? "demo --config: threads from the file checked, nothing written ($ERR)"
cat >eos.cfg <<'EOF'
lr = "0.05"          # one step size
every = 2
steps = 4
data = synth:classes,n=40
model = mlp:10-4-2
name = "cfg # eos"
group = mygroup
quiet = yes
EOF
run "$BIN" study eos --config eos.cfg --db e.db --threads 1
[ $RC -eq 0 ] && [ "$(q e.db "select name || '|' || grp || '|' || json_extract(config,'\$.steps') from runs")" = "cfg # eos lr=0.05|mygroup|4" ]
ok $? "study eos --config: its own options and the train ones, --name and --group ($(q e.db "select name, grp from runs"); $ERR)"

# ---- --help: each option's default, the preset's in a study --------------------------------
run "$BIN" train --help
[[ $OUT == *"--lr F"*"(default 0.01)"* && $OUT == *"--steps N"*"(default 1000)"* && $OUT == *"--config FILE"* ]]
ok $? "train --help shows --lr's and --steps' defaults"
run "$BIN" study eos --help
[[ $OUT == *"--lr LIST"*"(default 0.02,0.04)"* && $OUT == *"--steps N"*"(default 3000)"* && $OUT == *"--stop-acc F"*"(default 0.99)"* ]]
ok $? "study eos --help: the preset's defaults (--lr 0.02,0.04, --steps 3000, --stop-acc 0.99)"
[ "$(grep -c -- '^  --lr ' out.txt)" = 1 ]; ok $? "study eos --help lists --lr once (the study's, not train's)"
run "$BIN" study spectral-bias --help --preset ci
[[ $OUT == *"--steps N"*"(default 1500)"* ]]; ok $? "study spectral-bias --preset ci --help shows the ci preset's steps"
for c in analyze runs rm report demo bench export "study batch-scaling" "study pc-bias" "study stein"; do
  run "$BIN" $c --help
  [ $RC -eq 0 ] && [[ $OUT == *"(default "* ]]; ok $? "$c --help shows defaults (rc $RC)"
done

# ---- the naming rule: '-' and '_' the same, old spellings kept ----------------------------
run "$BIN" train --db c.db $SYN --steps 2 --eval_every 1 --checkpoint_every=2 --name u
[ $RC -eq 0 ] && [ "$(q c.db "select json_extract(config,'\$.eval_every') || json_extract(config,'\$.checkpoint_every') from runs")" = 12 ]
ok $? "--eval_every and --checkpoint_every= are --eval-every and --checkpoint-every (rc $RC: $ERR)"
for spelling in "--tol 1e-4" "--track-tol 1e-4" "--track_tol=1e-4"; do
  rm -f f.db
  run "$BIN" study eos --db f.db --threads 1 -q --lr 0.05 --every 2 --steps 2 \
      --data synth:classes,n=40 --model mlp:10-4-2 $spelling --update-tol 1e-2
  got=$(q f.db "select json_extract(config,'\$.probe[0]') from runs")
  [ $RC -eq 0 ] && [[ $got == *"tol=0.0001"* && $got == *"update_tol=0.01"* ]]
  ok $? "study eos $spelling: the sharpness probe's tol (got '$got'; $ERR)"
done
run "$BIN" train --db g.db $SYN --steps 2 --probe sharpness:every=1,update-tol=0.01
[ $RC -eq 0 ]; ok $? "a spec key with '-' is the snake_case key: update-tol= is update_tol= (rc $RC: $ERR)"
run "$BIN" train --db g.db $SYN --steps 2 --probe sharpness:every=1,update-tol=1,update_tol=2
[ $RC -eq 2 ] && [[ $ERR == *"given twice"* ]]; ok $? "update-tol= and update_tol= are one key ($ERR)"

# ---- studies: --name, --group, --quiet, the train flags; --run refuses training ones -------
run "$BIN" study batch-scaling --db h.db --threads 1 --data synth:classes,n=64 --model mlp:10-4-2 \
    --steps 2 --batches 8 --draws 2 --no-stability-grid --name bs --group g1 --quiet
[ $RC -eq 0 ] && [ "$(q h.db "select name || '|' || grp from runs")" = "bs|g1" ]
ok $? "study batch-scaling --name bs --group g1 --quiet (rc $RC: $ERR)"
run "$BIN" study batch-scaling --db h.db --run 1 --steps 5
[ $RC -eq 2 ] && [[ $ERR == *"'--steps' is a training option"* ]]; ok $? "batch-scaling --run with --steps: refused naming it ($ERR)"
run "$BIN" study eos --db h.db --run 1 --lr-typo 1
[ $RC -eq 2 ]; ok $? "study eos --run with an unknown flag: exit 2"
run "$BIN" study eos --db h.db --run 1 --model mlp:1-2
[ $RC -eq 2 ] && [[ $ERR == *"'--model' is a training option"* ]]; ok $? "study eos --run with --model: refused naming it ($ERR)"
run "$BIN" study spectral-bias --preset ci --db s.db --threads 1 -q --act tanh --steps 20 --every 10 \
    --name sp --group g2
[ $RC -eq 0 ] && [ "$(q s.db "select grp || '|' || substr(name, 1, 2) from runs")" = "g2|sp" ]
ok $? "study spectral-bias --name sp --group g2 (rc $RC: $ERR)"
run "$BIN" study pc-bias --data synth:classes,n=40 --depth 1 --width 4 --seeds 1 --steps 4 --every 2 \
    --components 2 --db p.db --threads 1 -q --name pc --group g3
[ $RC -eq 0 ] && [ "$(q p.db "select grp || '|' || substr(name, 1, 3) from runs")" = "g3|pc " ]
ok $? "study pc-bias --name pc --group g3 (rc $RC: $ERR)"
run "$BIN" study pc-bias --model=mlp:1-2
[ $RC -eq 2 ] && [[ $ERR == *"--model is set by the study"* ]]; ok $? "study pc-bias --model=...: refused ($ERR)"

tap_end
