#!/usr/bin/env bash
# e2e_adam.sh CURVSCOPE: Adam at the edge of stability (docs/EOS.md, issue 4's must-show).
# Full-batch Adam on a Fashion-MNIST subset with the preconditioned-sharpness probe: the
# preconditioned sharpness λmax(P^{-1/2} H P^{-1/2}) rises to Adam's threshold
# (2+2β1)/((1−β1)η) = 38/η and then stays near it, far above where the raw sharpness sits
# relative to 2/η.
. "$(dirname "$0")/tap.sh"
tap_setup e2e_adam "$@"
bin=$BIN tmp=$T
q() { sqlite3 -batch -cmd ".timeout 5000" "$tmp/adam.db" "$1"; }

"$bin" train --db "$tmp/adam.db" --data fashion-mnist:n=500,test=0 --model mlp:784-64-64-10 \
  --opt adam --lr 0.001 --steps 300 --eval-every 0 --quiet --threads 1 \
  --probe precond-sharpness:every=10 > "$tmp/out" 2>&1
ok $? "full-batch Adam run with the precond-sharpness probe"
ok "$([ "$(q 'select status from runs')" = finished ] && echo 0 || echo 1)" "run finished"
thr=$(q "select value from metrics where name='precond_threshold' limit 1")
ok "$(awk -v t="$thr" 'BEGIN{exit !(t > 37999 && t < 38001)}'; echo $?)" "precond threshold is 38/eta = 38000 (got $thr)"
nprec=$(q "select count(*) from eigs where operator='precond' and idx=0")
nraw=$(q "select count(*) from eigs where operator='hessian' and idx=0")
ok "$([ "$nprec" -ge 25 ] && [ "$nraw" -eq "$nprec" ] && echo 0 || echo 1)" "preconditioned and raw sharpness recorded side by side ($nprec, $nraw)"
# The EoS analysis judges Adam runs on the preconditioned sharpness.
onset=$(q "select value from metrics where name='eos_onset' and step=-1")
ok "$([ -n "$onset" ] && echo 0 || echo 1)" "preconditioned sharpness reached 38/eta (onset step ${onset:-none})"
med=$(q "select value from metrics where name='eos_ratio_median' and step=-1")
ok "$(awk -v m="${med:-0}" 'BEGIN{exit !(m > 0.7 && m < 1.15)}'; echo $?)" "after onset it stays near 38/eta (median ratio ${med:-none} in (0.7, 1.15))"
early=$(q "select value from eigs where operator='precond' and idx=0 and step=10")
peak=$(q "select max(value) from eigs where operator='precond' and idx=0")
ok "$(awk -v a="$early" -v b="$peak" 'BEGIN{exit !(b > 3 * a)}'; echo $?)" "it rose to get there ($early -> $peak)"
rawmax=$(q "select max(value) from eigs where operator='hessian' and idx=0")
ok "$(awk -v r="$rawmax" 'BEGIN{exit !(r * 0.001 / 2 < 0.5)}'; echo $?)" "raw sharpness stays far below 2/eta meanwhile (max $rawmax)"

# Adam's state is stored with each checkpoint, so the preconditioned spectrum can be
# measured after the fact: it must equal what the probe tracked at that step.
"$bin" train --db "$tmp/ad2.db" --data fashion-mnist:n=300,test=0 --model mlp:784-32-10 \
  --opt adam --lr 0.001 --steps 40 --checkpoint-every 20 --quiet --threads 1 \
  --probe precond-sharpness:every=20 > /dev/null 2>&1
tracked=$(sqlite3 "$tmp/ad2.db" "select value from eigs where operator='precond' and idx=0 and step=20")
"$bin" analyze --db "$tmp/ad2.db" --run 1 --step 20 --operator precond --top 1 --tol 1e-10 --threads 1 > "$tmp/an.out" 2>&1
ok $? "analyze --operator precond on a stored Adam checkpoint"
post=$(sed -n 's/.*top\[0\] = \([^ ]*\).*/\1/p' "$tmp/an.out")
ok "$(awk -v a="$tracked" -v b="$post" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a > 0 && d <= 1e-6*a)}'; echo $?)" "post-hoc preconditioned sharpness equals the tracked one ($post vs $tracked)"

# The Gauss-Newton probe (docs/EOS.md): λmax of the GGN, and the residual split
# R = ‖(I − uuᵀ)D‖²/n, ⟨D,u⟩, which must add up to ‖D‖²/n = 2·loss (loss = ½ mean ‖D_i‖²).
"$bin" train --db "$tmp/gn.db" --data fashion-mnist:n=300,test=0 --model mlp:784-32-10 \
  --lr 0.05 --steps 20 --quiet --threads 1 --probe gn-sharpness:every=10 > "$tmp/gn.out" 2>&1
ok $? "training with the gn-sharpness probe"
g() { sqlite3 "$tmp/gn.db" "$1"; }
ok "$([ "$(g "select count(*) from metrics where name='gn_sharpness'")" = 3 ] && echo 0 || echo 1)" "gn_sharpness at steps 0, 10, 20"
same=$(g "select count(*) from metrics m join eigs e on e.step=m.step and e.operator='ggn' and e.idx=0 where m.name='gn_sharpness' and abs(m.value-e.value) <= 1e-12*abs(e.value) and e.value > 0")
ok "$([ "$same" = 3 ] && echo 0 || echo 1)" "gn_sharpness is the positive top GGN eigenvalue"
split=$(g "select count(*) from steps s join metrics r on r.step=s.step and r.name='residual_R' join metrics d on d.step=s.step and d.name='residual_Dv' where r.value >= 0 and abs(r.value + d.value*d.value/300.0 - 2*s.loss) <= 1e-9*(2*s.loss)")
ok "$([ "$split" = 3 ] && echo 0 || echo 1)" "R + <D,u>^2/n equals |D|^2/n = 2 loss at every measured step"

tap_end
