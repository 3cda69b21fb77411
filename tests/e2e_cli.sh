#!/usr/bin/env bash
# e2e_cli.sh: the curvscope command line end to end (issue 2): --version and --help, config
# files (and their comment and quoting rules), training on Fashion-MNIST and synthetic data
# logged to SQLite, the resolved data spec each run stores (analyze from another directory),
# divergence, Ctrl-C. Bad flags, specs, data, config files and databases -- exit status,
# message, nothing written -- are the table of e2e_badinput.sh (tests/bad_inputs.tsv). TAP.
#
#   bash tests/e2e_cli.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_cli "$@"
BGPID=
trap '[ -n "$BGPID" ] && kill -9 "$BGPID" 2>/dev/null; rm -rf "$T"' EXIT
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }  # two readers may open at once
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

# ---- bench eig --start jmean: the same values, the start's time inside each solve ----------
run "$BIN" bench eig --workload deeplinear --threads 1 --dgemm-n 0 --no-eig10 --start jmean --json
js2=$(echo "$OUT" | grep '^{' | tail -1)
[ $RC -eq 0 ] && [ -n "$js2" ]; ok $? "bench eig --start jmean --json exits 0 with a JSON line (rc $RC: $ERR)"
jl1=$(sqlite3 :memory: "select json_extract('$js2', '\$.eig1_lanczos_value')")
js1=$(sqlite3 :memory: "select json_extract('$js2', '\$.eig1_lanczos_start_s')")
jst=$(sqlite3 :memory: "select json_extract('$js2', '\$.eig_start')")
jq1 "'$jst' = 'jmean' and abs($jl1 - $a1) <= 1e-5 * abs($a1) and $js1 > 0 and $js1 < $(sqlite3 :memory: "select json_extract('$js2', '\$.eig1_lanczos_s')")"
ok $? "bench eig --start jmean: top-1 $jl1 as from the Gaussian start ($a1), the start's $js1 s within the solve's time"
run "$BIN" bench eig --workload deeplinear --start jmean:frac=7
[ $RC -eq 2 ] && [[ $ERR == *"jmean:frac=7"* ]]; ok $? "bench --start jmean:frac=7 -> exit 2 naming it (rc $RC: $ERR)"

# ---- bench machine: the BLAS kernel curvscope runs, and who chose it -------------------------
# Where the CPU has AVX2 and FMA, the kernel is never one of OpenBLAS's pre-AVX2 fallbacks
# (Prescott on a Xeon newer than the library: cli/main.c sets OPENBLAS_CORETYPE then);
# a user's OPENBLAS_CORETYPE always wins, even a slower one.
run env -u OPENBLAS_CORETYPE -u CURVSCOPE_REEXEC -u CURVSCOPE_BLAS_CHOSEN "$BIN" bench machine --json
jm=$(echo "$OUT" | grep '^{' | tail -1)
mx() { sqlite3 :memory: "select json_extract('$jm', '\$.$1')"; }
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
core=$(mx openblas_corename) src=$(mx kernel_source)
if [[ " $flags " == *" avx2 "* && " $flags " == *" fma "* ]]; then
  case "${core,,}" in
    prescott|nehalem|core2|penryn|dunnington|atom|sandybridge|bulldozer|piledriver|steamroller|excavator|barcelona|opteron*|athlon|nano|bobcat|northwood|banias|katmai|coppermine) slow=1 ;;
    *) slow=0 ;;
  esac
  [ $RC -eq 0 ] && [ $slow -eq 0 ] && { [ "$src" = openblas ] || [ "$src" = curvscope ]; }
  ok $? "bench machine: an AVX2 CPU runs an AVX2 or AVX-512 kernel ($core, chosen by $src; OpenBLAS chose $(mx openblas_chosen))"
else
  [ $RC -eq 0 ] && [ "$src" = openblas ]; ok $? "bench machine: no AVX2, OpenBLAS's own kernel ($core)"
fi
run env -u CURVSCOPE_REEXEC OPENBLAS_CORETYPE=Prescott "$BIN" bench machine --json
jm=$(echo "$OUT" | grep '^{' | tail -1)
[ $RC -eq 0 ] && [ "$(mx openblas_corename)" = Prescott ] && [ "$(mx kernel_source)" = environment ]
ok $? "bench machine: OPENBLAS_CORETYPE=Prescott from the environment is kept ($(mx openblas_corename), $(mx kernel_source))"
run "$BIN" bench machine
[ $RC -eq 0 ] && [[ $OUT == *"kernel "* && $OUT == *"instructions"* ]]; ok $? "bench machine prints the CPU and the kernel (rc $RC)"

# ---- bench block: block products and LOBPCG against the singles -----------------------------
run "$BIN" bench block --workload deeplinear --threads 1 --no-eig10 --budget 0.5 --json
js=$(echo "$OUT" | grep '^{' | tail -1)
[ $RC -eq 0 ] && [ -n "$js" ]; ok $? "bench block --json exits 0 with a JSON line (rc $RC: $ERR)"
lb=$(jx block_eig1_lobpcg_value) ll=$(jx block_eig1_lanczos_value)
jq1 "$(jx block_eig1_lobpcg_converged) = 1 and $(jx block_eig1_lanczos_converged) = 1 and abs($lb - $ll) <= 1e-6 * abs($ll) and $(jx block_hvp10_cpu_per_vector_over_single) > 0 and length('$(jx openblas_corename)') > 0"
ok $? "bench block: LOBPCG and Lanczos top-1 converged and agree ($lb vs $ll), block timings and kernel recorded"

# ---- bench --workload spectral: a study's loop (bench/compare's loop workloads) -------------
run "$BIN" bench all --workload spectral --threads 1 --steps 3 --repeats 3 --budget 0.01 --dgemm-n 64 --json
js=$(echo "$OUT" | grep '^{' | tail -1)
[ $RC -eq 0 ] && [ -n "$js" ]; ok $? "bench --workload spectral --json exits 0 with a JSON line (rc $RC: $ERR)"
jq1 "$(jx iter_s) > 0 and $(jx iter_noprobe_s) > 0 and $(jx iter_cpu_s) > 0 and $(jx rounds) = 3 and $(jx dgemm_gflops) > 0"
ok $? "bench spectral: per-iteration wall and CPU times, 3 rounds, the DGEMM rate ($(jx iter_s) s)"
jq1 "$(jx loss_last) < $(jx loss_first) and length('$(jx openblas_corename)') > 0"
ok $? "bench spectral: the loop trained (loss $(jx loss_first) -> $(jx loss_last)), BLAS kernel recorded"
run "$BIN" bench all --workload spectral --threads 2 --steps 3 --repeats 3 --budget 0.01 --dgemm-n 64 --json
js=$(echo "$OUT" | grep '^{' | tail -1)
[ $RC -eq 0 ] && [ "$(jx jobs)" = 2 ] && [ "$(jx concurrent_identical)" = 1 ] &&
  jq1 "$(jx iter_concurrent_s) > 0 and $(jx iter_concurrent_cpu_s) > 0"
ok $? "bench spectral --threads 2: 2 runs at once, each ending on the serial run's θ bit for bit (rc $RC, $(jx iter_concurrent_s) s: $ERR)"
run "$BIN" bench all --workload spectrall --json
[ $RC -eq 2 ] && [[ $ERR == *spectrall* ]] && [ -z "$OUT" ]; ok $? "bench: an unknown workload exits 2 naming it (rc $RC)"

# ---- a crafted IDX pair trains -------------------------------------------------------------
DB=$T/idx.db
printf '\x00\x00\x08\x01\x00\x00\x00\x02\x01\x00' >lab.idx       # a valid 2-label file
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

# ---- config file rules: whole lines of any length, '#' starts a comment only at the line
# start or after white space, a quoted value is kept whole ---------------------------------
{
  printf '# %s\n' "$(head -c 1500 /dev/zero | tr '\0' x)"  # once split at 1023 bytes
  printf 'name = a#b\ngroup = "x # y"   # a comment after a quoted value\n'
  printf 'study = s # t\ndata = synth:classes,n=20\nmodel = mlp:10-2\nsteps = 1\n'
} >rules.cfg
run "$BIN" train --db "$DB" --threads 1 --config rules.cfg -q
[ $RC -eq 0 ]; ok $? "a config file with a 1500-byte comment line trains (rc $RC: $ERR)"
got=$(q "select name || '|' || grp || '|' || study from runs where name like 'a%b'")
[ "$got" = 'a#b|x # y|s' ]
ok $? "'name = a#b' keeps its '#', a quoted value keeps '# y', 's # t' stops at the comment (got '$got')"

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

# ---- a UTF-8 byte-order mark before a CSV header is not part of the first name -------------
printf '\xef\xbb\xbfy,x\n0,1\n1,2\n0,0.5\n' >bom.csv
run "$BIN" train --db "$DB" --threads 1 --data csv:bom.csv,label=y --model mlp:1-2 --steps 1 --name bom -q
[ $RC -eq 0 ] && [ "$(q "select status from runs where name='bom'")" = finished ]
ok $? "a CSV whose header starts with a BOM trains with label=y, its first column (rc $RC: $ERR)"

# ---- the resolved data spec: defaults filled in, paths absolute, whichever command ----------
DB=$T/resolved.db
mkdir -p sub elsewhere
{ echo "y,x1,x2"; for i in $(seq 1 24); do echo "$((i % 2)),$i.5,$((i * i % 7))"; done; } >sub/data.csv
(cd sub && "$BIN" train --db "$DB" --threads 1 --data csv:data.csv,label=y --model mlp:2-4-2 \
   --steps 3 --name rel -q >/dev/null 2>&1)
ok $? "train with the relative csv:data.csv from its directory"
want="csv:$(realpath sub/data.csv),label=y,test=0,standardize=none"
got=$(q "select json_extract(config,'\$.data') from runs where name='rel'")
[ "$got" = "$want" ]; ok $? "the stored spec is resolved: '$got'"
RID=$(q "select id from runs where name='rel'")
(cd elsewhere && "$BIN" analyze --db "$DB" --threads 1 --run "$RID" --top 1 >"$T/an.out" 2>&1)
arc=$?
[ $arc -eq 0 ] && [ "$(q "select count(*) from eigs where run_id=$RID and step=3 and idx=0")" -ge 1 ]
ok $? "analyze from another directory rebuilds the run and stores its top eigenvalue (rc $arc: $(head -c 300 "$T/an.out"))"
run "$BIN" train --db "$DB" --threads 1 --data synth:classes,n=30,d=10 --model mlp:10-4-2 --steps 1 --name t -q
run "$BIN" study eos --db "$DB" --threads 1 --data synth:classes,k=2,n=3e1 --model mlp:10-4-2 \
    --lr 0.05 --steps 1 --every 1 --quiet
[ $RC -eq 0 ]; ok $? "study eos trains on synthetic data (rc $RC: $ERR)"
got=$(q "select group_concat(json_extract(config,'\$.data'), ' | ') from (select config from runs where name='t' or study='eos' order by id)")
[ "$got" = "synth:classes,n=30,d=10,k=2,sep=3,test=0 | synth:classes,n=30,d=10,k=2,sep=3,test=0" ]
ok $? "train and study store the same data spec, written differently, resolved alike ('$got')"

tap_end
