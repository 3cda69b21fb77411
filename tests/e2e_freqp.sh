#!/usr/bin/env bash
# e2e_freqp.sh: `curvscope study freq-principle --preset ci` on real Fashion-MNIST (300
# images, mlp:784-64-10, 300 GD steps, measured every 10), then from the database alone:
# the rows the schema promises, the run-level τ and low_first recomputed in SQL from the
# stored curves, e_low converging before e_high (the study's claim, at CI scale), δ as
# given and from the data, cross-entropy, the report section, the command in --help and
# in the generated completion; bad input refused with exit 2 and nothing written. A few
# seconds on one core. TAP output.
#
#   bash tests/e2e_freqp.sh path/to/curvscope
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/tap.sh"
tap_setup e2e_freqp "$@"
DB=$T/fq.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }
awkt() { awk "BEGIN{exit !($1)}"; }

run "$BIN" study freq-principle --preset ci --db "$DB" --threads 1 --quiet
[ $RC -eq 0 ]; ok $? "study freq-principle --preset ci exits 0 (rc $RC: ${ERR:0:200})"
echo "$OUT" | diag
R=$(q "select id from runs where study='freq-principle' and status='finished'")
[ "$R" = 1 ] && [[ "$(q "select grp from runs where id=1")" == freq-principle-* ]]
ok $? "one finished run in a freq-principle-... group"
[ "$(q "select count(*) from metrics where run_id=1 and name='freqp_e_low' and step>=0")" = 31 ] &&
  [ "$(q "select count(*) from metrics where run_id=1 and name='freqp_e_high' and step>=0")" = 31 ]
ok $? "freqp_e_low and freqp_e_high at steps 0, 10, ..., 300"
# δ from the data: 0.1 × the median squared distance, both recorded
awkt "$(q "select abs((select value from metrics where run_id=1 and step=-1 and name='freqp_delta')
            - 0.1 * (select value from metrics where run_id=1 and step=-1 and name='freqp_median_d2')) < 1e-9")"
ok $? "freqp_delta = 0.1 × freqp_median_d2 by default"
# τ from the curves (threshold 0.1)
TL=$(q "select min(step) from metrics where run_id=1 and name='freqp_e_low' and step>=0 and value<0.1")
[ -n "$TL" ] && [ "$(q "select cast(value as int) from metrics where run_id=1 and step=-1 and name='freqp_tau_low'")" = "$TL" ]
ok $? "freqp_tau_low = the first step with e_low < 0.1 ($TL)"
TH=$(q "select min(step) from metrics where run_id=1 and name='freqp_e_high' and step>=0 and value<0.1")
if [ -z "$TH" ]; then [ -z "$(q "select value from metrics where run_id=1 and step=-1 and name='freqp_tau_high'")" ]
else [ "$(q "select cast(value as int) from metrics where run_id=1 and step=-1 and name='freqp_tau_high'")" = "$TH" ]; fi
ok $? "freqp_tau_high absent or the first step with e_high < 0.1 (${TH:-not reached})"
# the claim: the low-frequency part converges first, and stays ahead
[ "$(q "select value from metrics where run_id=1 and step=-1 and name='freqp_low_first'")" = 1.0 ] &&
  awkt "$(q "select value from metrics where run_id=1 and step=-1 and name='freqp_low_ahead'") >= 0.9"
ok $? "e_low converges before e_high (low_first 1, e_low < e_high at >= 90% of measurements)"
AH=$(q "select avg(l.value < h.value) from metrics l join metrics h on h.run_id=l.run_id and h.step=l.step
        and h.name='freqp_e_high' where l.run_id=1 and l.name='freqp_e_low' and l.step>0")
awkt "$(q "select abs(value - $AH) < 1e-12 from metrics where run_id=1 and step=-1 and name='freqp_low_ahead'")"
ok $? "freqp_low_ahead = the share of measurements with e_low < e_high ($AH)"

# an explicit δ is used; a larger δ puts more of the target in the high part
run "$BIN" study freq-principle --preset ci --db "$DB" --threads 1 --quiet --delta 5000 --steps 20 --name wide
[ $RC -eq 0 ] && [ "$(q "select value from metrics where run_id=2 and step=-1 and name='freqp_delta'")" = 5000.0 ] &&
  awkt "$(q "select (select value from metrics where run_id=2 and step=-1 and name='freqp_low_share')
             < (select value from metrics where run_id=1 and step=-1 and name='freqp_low_share')")"
ok $? "--delta 5000 recorded, and the target's low share falls as δ grows (rc $RC: ${ERR:0:160})"
run "$BIN" study freq-principle --preset ci --db "$DB" --threads 1 --quiet --loss ce --lr 0.5 --steps 50
[ $RC -eq 0 ] && [ "$(q "select count(*) from metrics where run_id=3 and name like 'freqp_e_%' and step>=0")" = 12 ]
ok $? "--loss ce: the probe on softmax outputs (rc $RC: ${ERR:0:160})"

# ---- the report, --help, completion ----------------------------------------------------
run "$BIN" report --db "$DB" -o "$T/r.html"
if [ $RC -eq 0 ] && grep -q 'id="run-1-freqp"' "$T/r.html"; then ok 0 "the report has the freqp section"
else ok 1 "the report has the freqp section (rc $RC: ${ERR:0:200})"; fi
run "$BIN" study --help
[[ $OUT == *freq-principle* ]]; ok $? "study --help lists freq-principle"
run "$BIN" study freq-principle --help
[ $RC -eq 0 ] && [[ $OUT == *"--delta D"* ]] && [[ $OUT == *"--tau-eps E"* ]] && [[ $OUT == *"(default 0.1)"* ]]
ok $? "study freq-principle --help shows --delta and --tau-eps with defaults"
COMP=$(dirname "$BIN")/../share/curvscope
if [ -f "$COMP" ]; then grep -q 'freq-principle' "$COMP" && grep -q -- '--tau-eps' "$COMP"
  ok $? "the generated bash completion knows freq-principle and its options"
else ok 0 "# SKIP no generated completion next to the binary"; fi

# ---- bad input: exit 2, nothing written ------------------------------------------------
i=0
for args in "--delta -1" "--every 0" "--tau-eps 0" "--delta abc" "--data fashion-mnist:n=1,test=0" \
            "--loss sobolev --data synth:sines,n=16,freqs=1 --model mlp:1-4-1" "--bogus 1"; do
  i=$((i + 1))
  NEW=$T/bad$i.db
  run "$BIN" study freq-principle --preset ci --db "$NEW" --threads 1 --quiet $args
  [ $RC -eq 2 ] && [ ! -e "$NEW" ] && [ -n "$ERR" ]
  ok $? "study freq-principle $args: exit 2, no database (rc $RC: ${ERR:0:120})"
done
tap_end
