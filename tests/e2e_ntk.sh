#!/usr/bin/env bash
# e2e_ntk.sh: `curvscope study ntk` at a tiny size (a 32-point grid, widths 16 and 64, 60
# GD steps, measured every 10), then from the database alone: the rows the schema promises,
# η set by --lr-frac from the stored spectrum, the predicted and measured rates recomputed
# in SQL from the stored eigenvalues, projections and η (not taken from the probe), the
# drift starting at 0; `--run ID` replaying the probe over a stored run's checkpoints gives
# the bits of the same probe run during training; the report section; bad input refused
# with exit 2 and nothing written. Seconds on one core. TAP output.
#
#   bash tests/e2e_ntk.sh path/to/curvscope
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/tap.sh"
tap_setup e2e_ntk "$@"
DB=$T/ntk.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }
awkt() { awk "BEGIN{exit !($1)}"; }

DATA=synth:sines,n=32,freqs=1-2,amps=equal
run "$BIN" study ntk --db "$DB" --threads 1 --data $DATA --model mlp:1-8-8-1 --widths 16-64 \
    --steps 60 --every 10 --k 6 --lr-frac 0.4 --quiet
[ $RC -eq 0 ]; ok $? "study ntk --widths 16-64 exits 0 (rc $RC: ${ERR:0:200})"
echo "$OUT" | tail -4 | diag
[ "$(q "select count(*) from runs where study='ntk' and status='finished'")" = 2 ] &&
  [ "$(q "select count(distinct grp) from runs")" = 1 ]
ok $? "two finished runs in one group"
R=$(q "select id from runs where json_extract(config,'\$.model')='mlp:1-64-64-1'")
[ -n "$R" ]; ok $? "the width sets every hidden layer (mlp:1-64-64-1 is run $R)"

[ "$(q "select count(distinct step) from series where run_id=$R and name='ntk_eig' and step>=0")" = 7 ] &&
  [ "$(q "select count(*) from series where run_id=$R and name='ntk_proj' and step>=0")" = 42 ] &&
  [ "$(q "select count(*) from series where run_id=$R and name='ntk_eigvec_freq' and step>=0")" = 42 ]
ok $? "ntk_eig, ntk_proj, ntk_eigvec_freq: 7 measurements x 6 pairs"
[ "$(q "select count(distinct name) from series where run_id=$R and name like 'ntk_eig_layer%'")" = 3 ] &&
  [ "$(q "select count(*) from series where run_id=$R and name='ntk_eigvec_freq_layer2' and step=60")" = 6 ]
ok $? "per-layer spectra and frequencies for the 3 trainable layers"
# the eigenvalues of the layers sum to no less than the whole's top one (K = Σ K_l, PSD)
awkt "$(q "select (select sum(value) from series where run_id=$R and step=0 and idx=0 and name like 'ntk_eig_layer%')
            >= (select value from series where run_id=$R and step=0 and idx=0 and name='ntk_eig') * (1 - 1e-12)")"
ok $? "Σ_l λ_max(K_l) >= λ_max(K) at init (the per-layer kernels sum to K)"

frac=$(q "select json_extract(r.config,'\$.lr') * s.value / 32 from runs r join series s on s.run_id=r.id
          where r.id=$R and s.name='ntk_eig' and s.step=0 and s.idx=0")
awkt "($frac - 0.4)^2 < 1e-18"; ok $? "--lr-frac 0.4: η λ_max(K_0) / n = $frac"

worst=$(q "select max(abs(p.value + ln(abs(1 - json_extract(r.config,'\$.lr') * e.value / 32))))
           from series p join series e on e.run_id=p.run_id and e.name='ntk_eig' and e.step=0 and e.idx=p.idx
           join runs r on r.id=p.run_id where p.name='ntk_rate_pred' and p.step=-1")
awkt "$worst < 1e-12"; ok $? "ntk_rate_pred = −ln|1 − ηλ_i/n| from the stored λ_i and η (max err $worst)"
worst=$(q "select max(abs(m.value + ln(abs(pt.value) / abs(p0.value)) / s.value))
           from series m join series s on s.run_id=m.run_id and s.name='ntk_rate_step' and s.step=-1 and s.idx=m.idx
           join series p0 on p0.run_id=m.run_id and p0.name='ntk_proj' and p0.step=0 and p0.idx=m.idx
           join series pt on pt.run_id=m.run_id and pt.name='ntk_proj' and pt.step=s.value and pt.idx=m.idx
           where m.name='ntk_rate' and m.step=-1")
awkt "$worst < 1e-12"; ok $? "ntk_rate = −ln(|p_i(t_i)|/|p_i(0)|)/t_i from the stored projections (max err $worst)"
[ "$(q "select count(*) from metrics where step=-1 and name in ('ntk_rate_corr','ntk_rate_agree','ntk_drift','ntk_freq_order','ntk_eig_ratio')")" = 10 ]
ok $? "run-level metrics ntk_rate_corr, ntk_rate_agree, ntk_drift, ntk_freq_order, ntk_eig_ratio on both runs"
agree=$(q "select value from metrics where run_id=$R and name='ntk_rate_agree' and step=-1")
want=$(q "select coalesce(min(m.idx), 6) from series m join series p on p.run_id=m.run_id and p.name='ntk_rate_pred'
          and p.step=-1 and p.idx=m.idx where m.run_id=$R and m.name='ntk_rate' and m.step=-1
          and not abs(m.value / p.value - 1) <= 0.1")
awkt "$agree == $want"; ok $? "ntk_rate_agree = $agree, the first pair off by more than 10% ($want)"
d0=$(q "select value from metrics where run_id=$R and name='ntk_drift' and step=0")
dl=$(q "select value from metrics where run_id=$R and name='ntk_drift' and step=-1")
dt=$(q "select value from metrics where run_id=$R and name='ntk_drift' and step=60")
awkt "$d0 == 0 && $dl > 0 && $dl == $dt"; ok $? "ntk_drift is 0 at init, final $dl = the last measurement's"

# ---- --run: the probe replayed over a stored run's checkpoints ------------------------
run "$BIN" train --db "$DB" --threads 1 --data $DATA --model mlp:1-12-12-1 --opt gd --lr 0.05 \
    --loss mse --steps 40 --checkpoint-every 20 --probe ntk:every=20,k=4 --name with-probe --quiet
A=$(q "select id from runs where name='with-probe'")
run "$BIN" train --db "$DB" --threads 1 --data $DATA --model mlp:1-12-12-1 --opt gd --lr 0.05 \
    --loss mse --steps 40 --checkpoint-every 20 --name plain --quiet
B=$(q "select id from runs where name='plain'")
run "$BIN" study ntk --run "$B" --db "$DB" --threads 1 --every 20 --k 4
[ $RC -eq 0 ]; ok $? "study ntk --run $B exits 0 (${ERR:0:200})"
same=$(q "select count(*) from series a join series b on b.name=a.name and b.step=a.step and b.idx=a.idx
          and b.value=a.value where a.run_id=$A and b.run_id=$B and a.name like 'ntk_%'")
all=$(q "select count(*) from series where run_id=$A and name like 'ntk_%'")
[ "$all" -gt 40 ] && [ "$same" = "$all" ]
ok $? "the replay over checkpoints 0, 20, 40 writes the training probe's series, bit for bit ($same of $all)"

# ---- the shared option parser: --flag=value, --config, --group, --no-layers --------------
printf '%s\n' 'every = 10   # study options and train options in one file' 'k = "3"' \
  "data = $DATA" 'model = mlp:1-8-1' 'steps = 20' >"$T/ntk.conf"
run "$BIN" study ntk --db "$DB" --threads 1 --config "$T/ntk.conf" --t1=10 --group=mine \
    --no-layers --name cfg --quiet
C=$(q "select id from runs where grp='mine'")
[ $RC -eq 0 ] && [ -n "$C" ] &&
  [ "$(q "select count(distinct step) from series where run_id=$C and name='ntk_eig' and step>=0")" = 3 ] &&
  [ "$(q "select count(distinct idx) from series where run_id=$C and name='ntk_eig'")" = 3 ] &&
  [ "$(q "select count(*) from series where run_id=$C and name like 'ntk_eig_layer%'")" = 0 ]
ok $? "study ntk --config FILE (every 10, k 3, 20 steps) --t1=10 --group=mine --no-layers (rc $RC: ${ERR:0:200})"
run "$BIN" study ntk --db "$T/none2.db" --bogus 1
[ $RC -eq 2 ] && [[ $ERR == *"unknown option '--bogus'"* ]] && [ ! -e "$T/none2.db" ]
ok $? "study ntk --bogus: unknown option, exit 2 (${ERR:0:120})"

# ---- the report ------------------------------------------------------------------------
run "$BIN" report --db "$DB" -o "$T/r.html"
if [ $RC -eq 0 ] && grep -q "id=\"run-$R-ntk\"" "$T/r.html"; then ok 0 "the report has the ntk section"
else ok 1 "the report has the ntk section (rc $RC: ${ERR:0:200})"; fi

# ---- bad input: exit 2, nothing written ------------------------------------------------
NEW=$T/none.db
for args in "--widths 0" "--widths 8-x" "--dense maybe" "--k 0" "--lr-frac 2" "--every -1" \
            "--loss ce" "--k 40" "--run 1 --model mlp:1-4-1" "--preset big"; do
  run "$BIN" study ntk --db "$NEW" --data $DATA --model mlp:1-8-1 --steps 2 $args
  [ $RC -eq 2 ] && [ ! -e "$NEW" ] && [ -n "$ERR" ]
  ok $? "study ntk $args: exit 2, no database (rc $RC: ${ERR:0:120})"
done
run "$BIN" study ntk --run 999 --db "$DB" --k 4
[ $RC -ne 0 ] && [ -n "$ERR" ]; ok $? "study ntk --run 999 (no such run) fails with a message (rc $RC: ${ERR:0:100})"

tap_end
