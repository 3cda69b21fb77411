#!/usr/bin/env bash
# e2e_analyze.sh: `curvscope analyze` end to end (issue 3) on a run trained by `curvscope
# train`: top/bottom eigenvalues with residuals and products, Hutchinson trace, SLQ
# density, all printed and stored; operators hessian, ggn, batch:B, layer:L; clear errors
# for a step without a checkpoint and for bad operators. TAP output.
#
#   bash tests/e2e_analyze.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_analyze "$@"
DB=$T/runs.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }  # two readers may open at once
# relclose A B TOL: |A-B| <= TOL*|B|
relclose() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN{d=a-b; if(d<0)d=-d; m=b<0?-b:b; exit !(a!="" && b!="" && d<=t*m)}'; }
A() { "$BIN" analyze --db "$DB" --threads 1 "$@"; }

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "not ok 1 - Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"; echo "1..1"; exit 1
fi

run "$BIN" train --db "$DB" --threads 1 --data fashion-mnist:n=300,test=100 --model mlp:784-16-10 \
    --lr 0.05 --checkpoint-every 10 --steps 20 --name an -q
[ $RC -eq 0 ]; ok $? "train 20 steps with --checkpoint-every 10 (rc $RC: $ERR)"
ID=$(q "select id from runs where name='an'")
NP=$(q "select n_params from runs where id=$ID")
[ "$(q "select group_concat(step) from (select step from checkpoints where run_id=$ID order by step)")" = "0,10,20" ]
ok $? "checkpoints at steps 0, 10, 20"

# ---- top 3, bottom 2, trace, density at the last step ------------------------------------
run A --run "$ID" --top 3 --bottom 2 --trace --density
[ $RC -eq 0 ]; ok $? "analyze --run $ID --top 3 --bottom 2 --trace --density exits 0 (rc $RC: $ERR)"
echo "$OUT" | diag
[[ $OUT == *"step 20"* ]]; ok $? "analyze defaults to the last checkpoint (step 20)"
[ "$(q "select count(*) from eigs where run_id=$ID and step=20 and operator='hessian' and idx>=0")" = 3 ]
ok $? "3 top eigenvalues stored (idx 0..2)"
nb=$(q "select count(*) from eigs where run_id=$ID and step=20 and operator='hessian' and idx<0")
[ "$nb" = 2 ]; ok $? "exactly the 2 requested bottom eigenvalues stored (idx -1, -2) (got $nb: idx $(q "select group_concat(idx) from eigs where run_id=$ID and step=20 and idx<0"))"
[ "$(q "select count(*) from eigs where run_id=$ID and step=20 and idx in (0,1,2,-1,-2) and residual is not null and matvecs > 0 and converged = 1 and batch_size = 300")" = 5 ]
ok $? "each eigenvalue has a residual, products > 0, converged, batch_size 300"
lmax=$(q "select value from eigs where run_id=$ID and step=20 and operator='hessian' and idx=0")
awk -v m="$lmax" -v r="$(q "select max(residual) from eigs where run_id=$ID and step=20")" 'BEGIN{exit !(r <= 1e-6*m)}'
ok $? "residuals small: max $(q "select max(residual) from eigs where run_id=$ID and step=20") <= 1e-6 x $lmax"
[ "$(q "select (select value from eigs where run_id=$ID and step=20 and idx=0) >= (select value from eigs where run_id=$ID and step=20 and idx=1) and (select value from eigs where run_id=$ID and step=20 and idx=1) >= (select value from eigs where run_id=$ID and step=20 and idx=2) and (select value from eigs where run_id=$ID and step=20 and idx=-1) <= (select value from eigs where run_id=$ID and step=20 and idx=-2) and (select value from eigs where run_id=$ID and step=20 and idx=-2) < (select value from eigs where run_id=$ID and step=20 and idx=2)")" = 1 ]
ok $? "ordering: top descending, idx -1 the smallest, bottom below top"
printed=$(echo "$OUT" | sed -n 's/^ *top\[0\] = \([^ ]*\).*/\1/p')
relclose "$printed" "$lmax" 1e-9; ok $? "printed top eigenvalue equals the db value ($printed vs $lmax)"
pb=$(echo "$OUT" | sed -n 's/^ *bottom\[0\] = \([^ ]*\).*/\1/p')
relclose "$pb" "$(q "select value from eigs where run_id=$ID and step=20 and idx=-1")" 1e-9
ok $? "printed smallest eigenvalue equals the db value (idx -1: $pb)"
# ---- the default solver: own Lanczos where it meets ARPACK's test, agreeing with ARPACK ----
vals() { echo "$1" | sed -n 's/^ *\(top\|bottom\)\[[0-9]\] = \([^ ]*\).*/\2/p' | tr '\n' ' '; }
prods() { echo "$1" | sed -n 's/^eigenvalues ([a-z+]*, \([0-9]*\) products.*/\1/p'; }
first_out=$OUT  # the checks below the block read the first analyze's output
run A --run "$ID" --step 10 --top 2 --bottom 2
auto_out=$OUT; auto_rc=$RC
run A --run "$ID" --step 10 --top 2 --bottom 2 --solver arpack
[ $auto_rc -eq 0 ] && [ $RC -eq 0 ] && [[ $auto_out == *"eigenvalues (lanczos, "* ]]
ok $? "analyze --top 2 --bottom 2 defaults to the own Lanczos, which meets ARPACK's test ($(echo "$auto_out" | grep '^eigenvalues'))"
read -r -a va <<<"$(vals "$auto_out")"; read -r -a vr <<<"$(vals "$OUT")"
agree=$([ ${#va[@]} -eq 4 ] && [ ${#vr[@]} -eq 4 ] && echo 1 || echo 0)
for i in 0 1 2 3; do
  awk -v a="${va[$i]}" -v b="${vr[$i]}" -v m="$lmax" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a!="" && d<=1e-7*m)}' || agree=0
done
[ "$agree" = 1 ]; ok $? "default and --solver arpack agree to 1e-7 x lambda_max on all four (${va[*]} vs ${vr[*]})"
pa=$(prods "$auto_out"); pr=$(prods "$OUT")
[ -n "$pa" ] && [ -n "$pr" ] && [ "$pa" -le "$pr" ]; ok $? "the default takes no more products than ARPACK ($pa vs $pr)"
run A --run "$ID" --step 10 --top 2 --bottom 2 --solver lobpcg
read -r -a vb <<<"$(vals "$OUT")"
agree=$([ $RC -eq 0 ] && [ ${#vb[@]} -eq 4 ] && [[ $OUT == *"eigenvalues (lobpcg, "* ]] && echo 1 || echo 0)
for i in 0 1 2 3; do
  awk -v a="${vb[$i]}" -v b="${vr[$i]}" -v m="$lmax" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a!="" && d<=1e-7*m)}' || agree=0
done
[ "$agree" = 1 ]; ok $? "--solver lobpcg (block products) agrees with ARPACK to 1e-7 x lambda_max on all four (${vb[*]} vs ${vr[*]}; $(prods "$OUT") products)"
run A --run "$ID" --step 10 --solver sometimes
[ $RC -eq 2 ] && [[ $ERR == *"--solver 'sometimes'"* ]]; ok $? "--solver sometimes refused with exit 2 ($ERR)"
OUT=$first_out
awk -v m="$lmax" 'BEGIN{exit !(m > 1 && m < 1e4)}'; ok $? "top eigenvalue plausible for MSE on a small net ($lmax)"
tr=$(q "select value from metrics where run_id=$ID and step=20 and name='trace'")
se=$(q "select value from metrics where run_id=$ID and step=20 and name='trace_se'")
awk -v t="$tr" -v s="$se" -v m="$lmax" 'BEGIN{exit !(t != "" && s > 0 && s < 0.2*t && t > m)}'
ok $? "metrics trace and trace_se stored (trace $tr ± $se, above the top eigenvalue of this PSD-dominated H)"
pt=$(echo "$OUT" | sed -n 's/^trace = \([^ ]*\).*/\1/p')
relclose "$pt" "$tr" 1e-6; ok $? "printed trace equals the db value ($pt)"
nd=$(q "select count(*) from densities where run_id=$ID and step=20 and operator='hessian'")
[ "$nd" -ge 50 ]; ok $? "densities rows stored ($nd grid points)"
read -r mass mean xmin xmax dmin <<<"$(q "select sum(density)*(max(x)-min(x))/(count(*)-1), sum(x*density)*(max(x)-min(x))/(count(*)-1), min(x), max(x), min(density) from densities where run_id=$ID and step=20" | tr '|' ' ')"
awk -v m="$mass" 'BEGIN{exit !(m > 0.97 && m < 1.03)}'; ok $? "density integrates to 1 (got $mass)"
awk -v d="$dmin" 'BEGIN{exit !(d >= 0)}'; ok $? "density is non-negative (min $dmin)"
lmin=$(q "select value from eigs where run_id=$ID and step=20 and idx=-1")
awk -v a="$xmin" -v b="$xmax" -v lo="$lmin" -v hi="$lmax" 'BEGIN{exit !(a <= lo && b >= hi)}'
ok $? "density grid [$xmin, $xmax] covers the extreme eigenvalues [$lmin, $lmax]"
# first moment of the density x P = trace (SLQ with 10 probes vs Hutchinson with 100: loose)
awk -v mu="$mean" -v p="$NP" -v t="$tr" 'BEGIN{x=mu*p; d=x-t; if(d<0)d=-d; exit !(d <= 0.15*t)}'
ok $? "density mean x P agrees with the Hutchinson trace within 15% ($(awk -v mu="$mean" -v p="$NP" 'BEGIN{print mu*p}') vs $tr)"

# ---- a step without a checkpoint ------------------------------------------------------------
run A --run "$ID" --step 5
[ $RC -eq 2 ] && [[ $ERR == *5* && $ERR == *"0, 10, 20"* ]]
ok $? "--step 5 (no checkpoint): error listing the steps that have one (rc $RC: $ERR)"
run A --run "$ID" --step last --top 1
[ $RC -eq 0 ] && [[ $OUT == *"step 20"* ]]; ok $? "--step last is step 20 (rc $RC)"

# ---- other operators --------------------------------------------------------------------------
run A --run "$ID" --step 10 --operator ggn --top 1
[ $RC -eq 0 ]; ok $? "--operator ggn at step 10 exits 0 (rc $RC: $ERR)"
g=$(q "select value from eigs where run_id=$ID and step=10 and operator='ggn' and idx=0")
pg=$(echo "$OUT" | sed -n 's/^ *top\[0\] = \([^ ]*\).*/\1/p')
awk -v g="$g" 'BEGIN{exit !(g > 0)}' && relclose "$pg" "$g" 1e-9
ok $? "ggn stored under operator 'ggn' at step 10, positive, equal to the printed value ($g)"
run A --run "$ID" --operator batch:64 --top 1
[ $RC -eq 0 ] && [ "$(q "select count(*) from eigs where run_id=$ID and step=20 and operator='batch' and batch_size=64 and idx=0")" = 1 ]
ok $? "--operator batch:64 stored as operator 'batch' with batch_size 64 (rc $RC: $ERR)"
run A --run "$ID" --operator batch:64 --top 1
b2=$(echo "$OUT" | sed -n 's/^ *top\[0\] = \([^ ]*\).*/\1/p')
relclose "$b2" "$(q "select value from eigs where run_id=$ID and step=20 and operator='batch' and idx=0")" 1e-9
ok $? "batch:64 with the same seed picks the same mini-batch (same value $b2)"
run A --run "$ID" --operator layer:1 --top 1
l1=$(q "select value from eigs where run_id=$ID and step=20 and operator='layer:1' and idx=0")
[ $RC -eq 0 ] && [ -n "$l1" ]; ok $? "--operator layer:1 stored as operator 'layer:1' (rc $RC: $ERR)"
[[ $OUT == *"$((16 * 10 + 10)) unknowns"* ]]; ok $? "layer:1 has the output layer's 170 unknowns"
awk -v a="$l1" -v m="$lmax" 'BEGIN{exit !(a > 0 && a <= m*(1+1e-9))}'
ok $? "layer block's top eigenvalue <= the full Hessian's (interlacing: $l1 <= $lmax)"
run A --run "$ID" --operator layer:0-1 --top 1
relclose "$(q "select value from eigs where run_id=$ID and step=20 and operator='layer:0-1' and idx=0")" "$lmax" 1e-7
ok $? "layer:0-1 (every layer) has the full Hessian's top eigenvalue (rc $RC)"

# ---- bad operators and flags ------------------------------------------------------------------
for op in bogus batch:x batch:0 layer:7; do
  run A --run "$ID" --operator $op
  [ $RC -eq 2 ] && [[ $ERR == *"${op#*:}"* ]]; ok $? "--operator $op -> exit 2 naming it (rc $RC: $ERR)"
done
run A --run "$ID" --operator precond
[ $RC -eq 2 ] && [[ $ERR == *precond* ]]; ok $? "--operator precond on a GD run -> exit 2 with an explanation (rc $RC)"
run A --run "$ID" --top abc
[ $RC -eq 2 ] && [[ $ERR == *abc* ]]; ok $? "--top abc -> exit 2 (rc $RC: $ERR)"
run A --top 1
[ $RC -eq 2 ] && [[ $ERR == *--run* ]]; ok $? "no --run -> exit 2 saying --run is needed (rc $RC: $ERR)"
run A --run 99
[ $RC -eq 2 ] && [[ $ERR == *99* ]]; ok $? "--run 99 (no such run) -> exit 2 naming it (rc $RC: $ERR)"
run A --run "$ID" --top 20000
[ $RC -eq 2 ]; ok $? "--top larger than the operator -> exit 2 (rc $RC: $ERR)"

# ---- cross-entropy run --------------------------------------------------------------------------
run "$BIN" train --db "$DB" --threads 1 --data synth:classes,n=200,d=8,k=3 --model mlp:8-12-3 --loss ce \
    --lr 0.1 --steps 30 --checkpoint-every 30 --name ce -q
CID=$(q "select id from runs where name='ce'")
run A --run "$CID" --top 2 --bottom 1
[ $RC -eq 0 ] && [ "$(q "select count(*) from eigs where run_id=$CID and step=30 and idx>=0")" = 2 ]
ok $? "analyze a cross-entropy run: top 2 stored at step 30 (rc $RC: $ERR)"

# ---- stored measurements are not silently replaced by a different one -----------------------------
before=$(q "select value || ' ' || batch_size from eigs where run_id=$ID and step=20 and operator='hessian' and idx=0")
run A --run "$ID" --samples 100 --top 1
after=$(q "select value || ' ' || batch_size from eigs where run_id=$ID and step=20 and operator='hessian' and idx=0 and batch_size=300")
[ $RC -eq 0 ] && [ "$before" = "$after" ]
ok $? "analyze --samples 100 keeps the full-data (300-example) eigenvalue at step 20 (before '$before', after '$after'; rows: $(q "select group_concat(idx||':'||batch_size) from eigs where run_id=$ID and step=20 and operator='hessian'"))"

# ---- the mean-Jacobian start (hessian/curv_start.h) -------------------------------------------
run A --run "$ID" --step 20 --top 1 --start jmean
js=$(echo "$OUT" | sed -n 's/^  top\[0\] = \([^ ]*\).*/\1/p')
[ $RC -eq 0 ] && [[ $OUT == *"start vector: the outputs' mean Jacobian on 64 rows"* ]] && relclose "$js" "$lmax" 1e-7
ok $? "--start jmean: the same top eigenvalue ($js against $lmax), its start on 64 of 300 rows (rc $RC: $(echo "$OUT" | grep '^start'))"
run A --run "$CID" --top 2 --start jmean:frac=0.5
c1=$(echo "$OUT" | sed -n 's/^  top\[1\] = \([^ ]*\).*/\1/p')
run A --run "$CID" --top 2
c2=$(echo "$OUT" | sed -n 's/^  top\[1\] = \([^ ]*\).*/\1/p')
relclose "$c1" "$c2" 1e-7; ok $? "--start jmean:frac=0.5 on the cross-entropy run: the same second eigenvalue ($c1, $c2)"
for bad in "bogus" "jmean:frac=0" "jmean:rows=3"; do
  run A --run "$ID" --start "$bad"
  [ $RC -eq 2 ] && [[ $ERR == *"start vector '$bad'"* ]]; ok $? "--start $bad -> exit 2 naming it (rc $RC: $ERR)"
done
run A --run "$ID" --start jmean --operator layer:0
[ $RC -eq 2 ] && [[ $ERR == *"layer:0"* ]]; ok $? "--start jmean on a layer block -> exit 2 (rc $RC: $ERR)"

tap_end
