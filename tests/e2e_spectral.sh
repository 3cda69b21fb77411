#!/usr/bin/env bash
# e2e_spectral.sh: `curvscope study spectral-bias` on the CI preset, cut to a few hundred
# steps: the runs of one invocation (variants x repeats in one group, the train flags
# passed through, SIREN's init with sine), the rows the probe writes (freq_amp per
# measurement, freq_tau and the run-level metrics consistent with each other), bad
# input refused with exit 2 and nothing written, and the probe from `curvscope train`.
# A few seconds on one core. TAP output.
#
#   bash tests/e2e_spectral.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_spectral "$@"
DB=$T/spectral.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }  # two readers may open at once
m1() { q "select ifnull(value,'null') from metrics where run_id=$1 and step=-1 and name='$2'"; }

# ---- variants, the preset and the train flags ----------------------------------------------
run "$BIN" study spectral-bias --preset ci --act relu,sine --steps 300 --every 25 --lr 0.002 \
    --db "$DB" --threads 1 -q
[ $RC -eq 0 ]; ok $? "study spectral-bias --preset ci --act relu,sine exits 0 (rc $RC: $ERR)"
echo "$OUT" | diag
[ "$(q "select count(*) from runs where study='spectral-bias' and status='finished'")" = 2 ]
ok $? "two finished runs of study spectral-bias"
[ "$(q "select count(distinct grp) from runs where grp like 'spectral-%'")" = 1 ] &&
  [ "$(q "select count(*) from runs where grp is null")" = 0 ]
ok $? "one group for the invocation: $(q "select grp from runs limit 1")"
R1=$(q "select id from runs where name like '%act=relu%'")
R2=$(q "select id from runs where name like '%act=sine%'")
[ -n "$R1" ] && [ -n "$R2" ]; ok $? "runs named by variant: $(q "select group_concat(name, '; ') from runs")"
[ "$(q "select json_extract(config,'$.lr')||' '||json_extract(config,'$.steps')||' '||json_extract(config,'$.opt')||' '||json_extract(config,'$.model') from runs where id=$R1")" = "0.002 300 adam mlp:1-64-64-64-1" ]
ok $? "train flags over the preset: lr 0.002, 300 steps, Adam, the CI model"
[ "$(q "select json_extract(config,'$.init') from runs where id=$R2")" = siren ] &&
  [ "$(q "select json_extract(config,'$.init') from runs where id=$R1")" = torch ]
ok $? "sine runs with SIREN's init, relu with torch's"
[ "$(q "select max(step) from steps where run_id=$R1")" = 300 ]; ok $? "300 steps recorded"

# ---- the probe's rows ------------------------------------------------------------------------
nm=$(q "select count(distinct step) from series where run_id=$R1 and name='freq_amp' and step>=0")
[ "$nm" = 13 ]; ok $? "freq_amp measured every 25 steps, 0..300: $nm measurements"
[ "$(q "select count(*) from series where run_id=$R1 and name='freq_amp' and value is not null")" = $((13 * 5)) ] &&
  [ "$(q "select group_concat(distinct idx) from series where run_id=$R1 and name='freq_amp' and value is not null")" = "1,2,3,4,5" ]
ok $? "freq_amp at idx = k for the 5 target frequencies"
[ "$(q "select count(*) from series where run_id=$R1 and name='freq_resid' and step=0")" = 101 ]
ok $? "freq_resid: the 101 bins of the 200-point grid"
a0=$(q "select max(value) from series where run_id=$R1 and name='freq_amp' and step=300")
awk "BEGIN{exit !($a0 > 0.5 && $a0 < 1.5)}"; ok $? "relu fits at least one frequency by step 300 (max normalised magnitude $a0)"
for id in $R1 $R2; do
  for m in freq_order_spearman freq_unlearned freq_tau_ratio psnr_train; do
    [ "$(q "select count(*) from metrics where run_id=$id and step=-1 and name='$m'")" = 1 ] || echo "run $id: no $m"
  done > miss.txt
  [ ! -s miss.txt ]; ok $? "run $id: run-level freq_order_spearman, freq_unlearned, freq_tau_ratio, psnr_train $(cat miss.txt)"
  nulls=$(q "select count(*) from series where run_id=$id and name='freq_tau' and step=-1 and idx in (1,2,3,4,5) and value is null")
  bad=$(q "select count(*) from series where run_id=$id and name='freq_tau' and step=-1 and value is not null and (value % 25 != 0 or value > 300)")
  [ "$nulls" = "$(m1 $id freq_unlearned | cut -d. -f1)" ] && [ "$bad" = 0 ]
  ok $? "run $id: freq_tau on measured steps, NULL for the $nulls unlearned = freq_unlearned"
  # tau_k is the first measured step whose relative error is below eps (0.5)
  diff <(q "select idx, ifnull(value,'-') from series where run_id=$id and name='freq_tau' and step=-1 and idx between 1 and 5 order by idx" | sed 's/\.0$//') \
       <(q "select k.idx, ifnull((select min(step) from series e where e.run_id=$id and e.name='freq_err' and e.idx=k.idx and e.step>=0 and e.value<0.5),'-') from series k where k.run_id=$id and k.name='freq_tau' and k.step=-1 and k.idx between 1 and 5 order by k.idx") > d.txt
  [ ! -s d.txt ]; ok $? "run $id: freq_tau = first step with freq_err < 0.5 $(cat d.txt)"
done
u=$(m1 $R1 freq_unlearned) s=$(m1 $R1 freq_order_spearman)
echo "# relu: spearman $s, unlearned $u; sine: spearman $(m1 $R2 freq_order_spearman), unlearned $(m1 $R2 freq_unlearned)"

# ---- the report section -----------------------------------------------------------------------
run "$BIN" report --db "$DB" -o r.html
[ $RC -eq 0 ]; ok $? "report writes (rc $RC: $ERR)"
[ "$(grep -o "id=\"run-[0-9]*-spectral\"" r.html | sort | tr '\n' ' ')" = "id=\"run-$R1-spectral\" id=\"run-$R2-spectral\" " ]
ok $? "a spectral section for each of the two runs"
sec=$(awk -v id="run-$R1-spectral" 'index($0, id) {on=1} on {print} on && /<\/section>/ {exit}' r.html)
heat=$(echo "$sec" | tr -d '\n' | sed 's/.*<figure class="spectral-heat">//; s/<\/figure>.*//' | grep -o '<rect' | wc -l)
[ "$heat" = $((13 * 5 + 20)) ]; ok $? "run $R1's heatmap: 13 steps x 5 frequencies and a 20-step colour bar ($heat rectangles)"
[ "$(grep -c 'across the 2 variants of this group' r.html)" = 1 ] && [[ $sec == *"across the 2 variants"* ]]
ok $? "the group's tau_k bars once, with its first run"
[[ $sec == *"act=sine embed=none"* ]]; ok $? "the group view names the sine variant"

# ---- sweeps and repeats ----------------------------------------------------------------------
run "$BIN" study spectral-bias --preset ci --act relu --embed none,fourier:m=16,sigma=1-10 \
    --repeats 2 --steps 20 --every 10 --seed 7 --db "$DB" --threads 1 -q
[ $RC -eq 0 ]; ok $? "--embed none,fourier:m=16,sigma=1-10 --repeats 2 exits 0 (rc $RC: $ERR)"
G=$(q "select grp from runs order by id desc limit 1")
[ "$(q "select count(*) from runs where grp='$G'")" = 6 ] &&
  [ "$(q "select group_concat(distinct json_extract(config,'$.embed')) from runs where grp='$G' order by id")" = "none,fourier:m=16,sigma=1,fourier:m=16,sigma=10" ]
ok $? "3 variants (a sigma sweep) x 2 repeats: $(q "select group_concat(distinct json_extract(config,'$.embed')) from runs where grp='$G'")"
[ "$(q "select group_concat(distinct seed) from runs where grp='$G'")" = "7,8" ]
ok $? "repeat r uses seed + r (fresh phases and init): seeds $(q "select group_concat(distinct seed) from runs where grp='$G'")"

# ---- an image target (a 32x32 PNG written here with python3's zlib) ---------------------------
python3 - <<'PY'
import struct, zlib
w = h = 32
raw = b''.join(b'\0' + bytes((7 * y + 3 * x) % 256 for x in range(w)) for y in range(h))
chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open('img.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
run "$BIN" study spectral-bias --act relu --embed none,fourier:m=8,sigma=1-10 --data image:img.png \
    --model mlp:2-16-1 --steps 20 --every 10 --db "$DB" --threads 1 -q
G=$(q "select grp from runs order by id desc limit 1")
I=$(q "select min(id) from runs where grp='$G'")
[ $RC -eq 0 ] && [ "$(q "select count(*) from runs where grp='$G'")" = 3 ]
ok $? "study spectral-bias on image:img.png, a sigma sweep: 3 runs (rc $RC: $ERR)"
# Three invocations, often within one second of each other: a group each, named
# "<study>-<UTC date>-<time>-<pid>".
[ "$(q "select count(distinct grp) from runs")" = 3 ] &&
  [ "$(q "select count(*) from runs where grp not glob 'spectral-[0-9]*-[0-9]*-[0-9]*'")" = 0 ]
ok $? "each invocation has its own group: $(q "select group_concat(distinct grp) from runs")"
[ "$(q "select count(*) from series where run_id=$I and name='image_fit' and step=-1")" = 256 ] &&
  [ "$(q "select count(*) from series where run_id=$I and name='image_target' and step=-1")" = 256 ] &&
  [ "$(q "select count(*) from series where run_id=$I and name='freq_amp'")" = 0 ]
ok $? "the 16x16 even-pixel grid: image_fit and image_target at step -1, no freq_amp"
[ "$(q "select count(*) from metrics where run_id=$I and step=-1 and name in ('psnr_train','psnr_test') and value is not null")" = 2 ]
ok $? "run-level psnr_train and psnr_test (the odd pixels)"
run "$BIN" report --db "$DB" -o r2.html
sec=$(awk -v id="run-$I-spectral" 'index($0, id) {on=1} on {print} on && /<\/section>/ {exit}' r2.html)
[ $RC -eq 0 ] && [ "$(echo "$sec" | grep -o 'src="data:image/bmp;base64,' | wc -l)" = 2 ] &&
  [[ $sec == *"PSNR by variant"* ]] && [[ $sec == *"sigma=10"* ]] &&
  [ "$(echo "$sec" | tr -d '\n' | sed 's/.*<figure class="spectral-psnr">//; s/<\/figure>.*//' | grep -o '<circle' | wc -l)" = 2 ]
ok $? "report: the image run's target and fit as pictures, the group's PSNR by variant and against sigma (2 points)"

# ---- a colour image: color=rgb, three outputs, the report's picture in 24-bit colour -----------
python3 - <<'PY'
import struct, zlib
w = h = 16
raw = b''.join(b'\0' + bytes(v for x in range(w) for v in ((7 * y) % 256, (3 * x) % 256, 128)) for y in range(h))
chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open('rgb.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
run "$BIN" train --data image:rgb.png,color=rgb --model mlp:2-16-3 --act relu --opt adam --lr 0.01 \
    --steps 20 --probe spectral:every=10 --db "$DB" --threads 1 -q --name rgb-train
C=$(q "select id from runs where name='rgb-train'")
[ $RC -eq 0 ] && [ "$(q "select count(*) from series where run_id=$C and name='image_fit' and step=-1")" = 192 ] &&
  [ "$(q "select round(value, 6) from series where run_id=$C and name='image_target' and step=-1 and idx=3*(2*8+3)+2")" = "$(awk 'BEGIN{printf "%.6f", 128/255}')" ]
ok $? "train on image:rgb.png,color=rgb: image_fit of 8x8 pixels x 3 channels, blue = 128/255 (rc $RC: $ERR)"
run "$BIN" report --db "$DB" --run "$C" -o r3.html
bpp=$(grep -o 'src="data:image/bmp;base64,[^"]*' r3.html | head -1 | sed 's/.*base64,//' | base64 -d 2>/dev/null | od -An -tu1 -j28 -N1 | tr -d ' ')
[ $RC -eq 0 ] && [ "$(grep -o 'src="data:image/bmp;base64,' r3.html | wc -l)" = 2 ] && [ "$bpp" = 24 ]
ok $? "report: the RGB run's target and fit as 24-bit BMPs (bits per pixel $bpp)"

# ---- the probe from train ---------------------------------------------------------------------
run "$BIN" train --data synth:sines,n=64,freqs=2-5 --model mlp:1-16-1 --act relu --opt adam --lr 0.01 \
    --steps 40 --probe spectral:every=20,eps=0.3 --db "$DB" --threads 1 -q --name probe-train
ID=$(q "select id from runs where name='probe-train'")
[ $RC -eq 0 ] && [ "$(q "select count(distinct step) from series where run_id=$ID and name='freq_amp'")" = 3 ]
ok $? "train --probe spectral:every=20 writes freq_amp at 3 steps (rc $RC)"

# ---- Sobolev losses: a --loss list is a variant axis ------------------------------------------
run "$BIN" study spectral-bias --preset ci --act relu --loss mse,sobolev:s=1 --steps 40 --every 20 \
    --db "$DB" --threads 1 -q --name sob
[ $RC -eq 0 ]; ok $? "study spectral-bias --loss mse,sobolev:s=1 exits 0 (rc $RC: $ERR)"
SM=$(q "select id from runs where name='sob act=relu embed=none loss=mse rep=0'")
SS=$(q "select id from runs where name='sob act=relu embed=none loss=sobolev:s=1 rep=0'")
[ -n "$SM" ] && [ -n "$SS" ] && [ "$(q "select json_extract(config,'$.loss') from runs where id=$SS")" = sobolev:s=1 ]
ok $? "one run per loss, named loss=...: $(q "select group_concat(name, '; ') from runs where name like 'sob %'")"
# same seed, same θ_0: (1+k²)^s >= 1 weighs every mode at least as MSE does, k = 0 alike
l0m=$(q "select loss from steps where run_id=$SM and step=0") l0s=$(q "select loss from steps where run_id=$SS and step=0")
awk "BEGIN{exit !($l0s > $l0m)}"; ok $? "step 0: Sobolev s=1 loss $l0s > MSE $l0m on the same net"
[ "$(q "select count(distinct step) from series where run_id=$SS and name='freq_amp'")" = 3 ]
ok $? "the spectral probe measures the Sobolev run"
run "$BIN" train --data synth:sines,n=40,freqs=2-5 --model mlp:1-16-1 --act tanh --steps 20 --loss sobolev:s=0 \
    --db "$DB" --threads 1 -q --name sob0
run "$BIN" train --data synth:sines,n=40,freqs=2-5 --model mlp:1-16-1 --act tanh --steps 20 --loss mse \
    --db "$DB" --threads 1 -q --name mse0
diff <(q "select step, printf('%.17g', loss) from steps where run_id=(select id from runs where name='sob0') order by step") \
     <(q "select step, printf('%.17g', loss) from steps where run_id=(select id from runs where name='mse0') order by step") > d.txt
[ ! -s d.txt ] && [ "$(q "select count(*) from steps where run_id=(select id from runs where name='sob0')")" = 21 ]
ok $? "sobolev:s=0 trains exactly as mse, 21 steps to the last bit $(head -3 d.txt)"
run "$BIN" analyze --run "$SS" --db "$DB" --threads 1
[ $RC -eq 0 ] && [[ $OUT == *"operator hessian on 200 examples"* ]]
ok $? "analyze a Sobolev run: its Hessian on the whole grid (rc $RC: $ERR)"
echo "$OUT" | diag
run "$BIN" analyze --run "$SS" --db "$DB" --threads 1 --samples 50
[ $RC -eq 2 ] && [[ $ERR == *"whole grid"* ]]; ok $? "analyze a Sobolev run on 50 of its rows: exit 2 ($ERR)"

# ---- runs at once: the bits of the runs one after another ------------------------------------
# every number a run records, keyed by run name (ids differ with the finishing order)
dump() {
  sqlite3 -batch "$1" "select r.name, 's', s.step, printf('%!.17g %!.17g %!.17g', s.loss, s.grad_norm, s.param_norm) from steps s join runs r on r.id=s.run_id
    union all select r.name, m.name, m.step, printf('%!.17g', m.value) from metrics m join runs r on r.id=m.run_id
    union all select r.name, x.name, x.step, x.idx||' '||printf('%!.17g', x.value) from series x join runs r on r.id=x.run_id
    union all select r.name, 'ckpt', c.step, hex(c.params) from checkpoints c join runs r on r.id=c.run_id order by 1, 2, 3, 4"
}
J1=$T/jobs1.db J2=$T/jobs2.db
run "$BIN" study spectral-bias --preset ci --act relu,tanh --repeats 2 --steps 150 --every 25 \
    --threads 2 --jobs 1 --db "$J1" -q
rc1=$RC
run "$BIN" study spectral-bias --preset ci --act relu,tanh --repeats 2 --steps 150 --every 25 \
    --threads 2 --db "$J2" -q
[ $rc1 -eq 0 ] && [ $RC -eq 0 ] && [[ $OUT == *"2 runs at once"* ]]
ok $? "--threads 2: 4 runs one at a time (--jobs 1) and, by default, 2 at once (rc $rc1 $RC: $ERR)"
dump "$J1" > j1.txt
dump "$J2" > j2.txt
[ "$(wc -l < j1.txt)" -gt 1000 ] && [ "$(sqlite3 -batch "$J2" "select count(*) from runs where status='finished'")" = 4 ] &&
  cmp -s j1.txt j2.txt
ok $? "runs at once record what the runs one after another do, bit for bit ($(wc -l < j1.txt) numbers; $(cmp j1.txt j2.txt 2>&1 | head -1))"
# float32 passes: the parts of a --threads run too (core/objective_f32.c), so the same bits
M1=$T/mixed1.db M2=$T/mixed2.db
run "$BIN" study spectral-bias --preset ci --act relu,sine --repeats 2 --steps 150 --every 25 \
    --threads 2 --jobs 1 --precision mixed --db "$M1" -q
rc1=$RC
run "$BIN" study spectral-bias --preset ci --act relu,sine --repeats 2 --steps 150 --every 25 \
    --threads 2 --precision mixed --db "$M2" -q
[ $rc1 -eq 0 ] && [ $RC -eq 0 ] && [[ $OUT == *"2 runs at once"* ]]
ok $? "--precision mixed --threads 2: 4 runs one at a time and, by default, 2 at once (rc $rc1 $RC: $ERR)"
dump "$M1" > m1.txt
dump "$M2" > m2.txt
[ "$(wc -l < m1.txt)" -gt 1000 ] && [ "$(sqlite3 -batch "$M2" "select count(*) from runs where status='finished' and json_extract(config,'$.precision')='mixed'")" = 4 ] &&
  cmp -s m1.txt m2.txt && ! cmp -s m1.txt j1.txt
ok $? "in mixed precision too, runs at once record what the runs one after another do, bit for bit ($(wc -l < m1.txt) numbers; $(cmp m1.txt m2.txt 2>&1 | head -1))"
# a row-coupling loss is one chunk of the whole grid, its GEMMs threaded by OpenBLAS: its
# bits follow the thread count, not the parts
run "$BIN" study spectral-bias --preset ci --act relu --loss mse,sobolev:s=1 --threads 2 --jobs 2 \
    --precision mixed --db "$T/js.db" -q
[ $RC -eq 2 ] && [[ $ERR == *"--jobs 2 with --loss sobolev:s=1"* ]] && [ ! -e "$T/js.db" ]
ok $? "--jobs 2 with a Sobolev loss: exit 2, no database ($ERR)"
run "$BIN" study spectral-bias --preset ci --act relu --loss mse,sobolev:s=1 --threads 2 \
    --steps 20 --every 10 --db "$T/js.db" -q
[ $RC -eq 0 ] && [[ $OUT != *"at once"* ]] && [ "$(sqlite3 -batch "$T/js.db" "select count(*) from runs where status='finished'")" = 2 ]
ok $? "a Sobolev loss in the list: by default one run at a time (rc $RC: $ERR)"
run "$BIN" study spectral-bias --preset ci --act relu,tanh --threads 2 --jobs 2 \
    --probe sharpness:every=10 --db "$T/jp.db" -q
[ $RC -eq 2 ] && [[ $ERR == *"--jobs 2 with --probe"* ]] && [ ! -e "$T/jp.db" ]
ok $? "--jobs 2 with a curvature --probe: exit 2, no database ($ERR)"

# ---- bad input: exit 2, the bad token named, nothing written ----------------------------------
before=$(q "select count(*) from runs")
for c in "--act relu,bogus|bogus" "--embed none,fourier:sigma=1-x|'x'" "--repeats 0|--repeats" \
         "--tau-eps -1|--tau-eps" "--data synth:teacher,n=20,d=1|synth:sines" "--bogus 1|--bogus" \
         "--preset huge|huge" "--model mlp:1-8-2|output 2" "--every|needs a value" \
         "--jobs x|--jobs" "--jobs 65|--jobs 65"; do
  args=${c%|*} want=${c#*|}
  # shellcheck disable=SC2086
  run "$BIN" study spectral-bias --preset ci --db "$DB" --threads 1 -q $args
  [ $RC -eq 2 ] && [[ $ERR == *"$want"* ]]; ok $? "study spectral-bias $args: exit 2 naming '$want' ($RC: $ERR)"
done
[ "$(q "select count(*) from runs")" = "$before" ]; ok $? "no run written by a refused invocation"
run "$BIN" study spectral-bias --preset ci --act nope --db "$T/new.db" -q
[ $RC -eq 2 ] && [ ! -e "$T/new.db" ]; ok $? "a refused invocation creates no database"
# --eps is Adam's ε as in train; the study's threshold is --tau-eps (the naming rule).
E=$T/eps.db
run "$BIN" study spectral-bias --preset ci --act relu --steps 10 --every 10 --eps 1e-6 \
    --tau-eps 0.4 --db "$E" --threads 1 -q
[ $RC -eq 0 ] &&
  [ "$(sqlite3 -batch "$E" "select json_extract(config,'\$.eps')||' '||json_extract(config,'\$.probe[0]') from runs")" = "1.0e-06 spectral:every=10,eps=0.40000000000000002" ]
ok $? "--eps sets Adam's ε, --tau-eps the probe's threshold (rc $RC: ${ERR:0:120})"

tap_end
