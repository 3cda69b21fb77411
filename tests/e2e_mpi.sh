#!/usr/bin/env bash
# e2e_mpi.sh: data-parallel runs under mpirun equal the serial run (docs/SCALING.md).
# Open MPI on this one machine: shared memory (btl self,vader), --bind-to none so the OpenMP
# threads of a rank are not pinned to one core, --oversubscribe for 3 ranks on 2 cores, and
# the two variables that let root run it. Checked, each to 1e-10 relative (mpi_compare.py:
# every step's loss, accuracy, gradient and parameter norms, every metric, eigenvalue and
# checkpoint, and no row missing or extra):
#   - core/comm.h over MPI at np 1, 2, 3 (test_comm_mpi);
#   - train with GD (MSE, a sharpness probe, test metrics) at np 1, 2, 3 equal serial, also
#     with uneven shares (weights 1,3) and a rank with no rows (3,0,1);
#   - train with mini-batch SGD (CE, batch 32) at np 2 and np 3 with an empty rank;
#   - float32 passes (--precision mixed) at np 2 within 1e-4 of serial, as is serial with
#     another chunk size (float32 rounding differs with the chunking);
#   - study eos at np 2; analyze (ARPACK and Lanczos, top, bottom, trace) at np 3 uneven;
#   - analyze --solver parpack (PARPACK, the basis split over the ranks) at np 1, 2, 3
#     against serial ARPACK (when the build has PARPACK);
#   - only rank 0 prints; bad input under mpirun (--threads, more ranks than examples, bad
#     CURVSCOPE_MPI_WEIGHTS, a command that does not run distributed, analyze --samples,
#     gn-sharpness) exits 2 with one message; an error on rank 0 alone ends every rank.
# Skips, saying why, when the build has no MPI (-Dmpi) or mpirun is missing. TAP output.
#
#   bash tests/e2e_mpi.sh path/to/curvscope yes|no path/to/test_comm_mpi tests/mpi_compare.py \
#        yes|no (PARPACK built)
. "$(dirname "$0")/tap.sh"
if [ "${2:-no}" != yes ]; then
  echo "1..0 # SKIP built without MPI (meson -Dmpi=enabled with libopenmpi-dev; docs/SCALING.md)"
  exit 0
fi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "1..0 # SKIP mpirun is not installed (apt-get install openmpi-bin; scripts/setup.sh --test)"
  exit 0
fi
COMMTEST=$3
COMPARE=$4
case $COMMTEST in /*) ;; *) COMMTEST=$PWD/$COMMTEST ;; esac
case $COMPARE in /*) ;; *) COMPARE=$PWD/$COMPARE ;; esac
tap_setup e2e_mpi "$1"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader \
  OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
unset CURVSCOPE_MPI_WEIGHTS
mpi() { # mpi NP CMD...: mpirun, bounded so a hang fails instead of blocking CI
  # meson's MALLOC_PERTURB_ reaches the ranks but not mpirun itself: Open MPI 4.1's mpirun
  # crashes under it now and then (SIGSEGV in its MPI_Abort handling, measured)
  local np=$1 mp=${MALLOC_PERTURB_:-}
  shift
  env -u MALLOC_PERTURB_ timeout 120 mpirun -np "$np" --bind-to none --oversubscribe \
    ${mp:+env MALLOC_PERTURB_=$mp} "$@"
}
same() { # same A.db B.db DESCRIPTION
  local r
  r=$(python3 "$COMPARE" "$1" "$2")
  ok $? "$3: $r"
}

for np in 1 2 3; do
  run mpi $np "$COMMTEST"
  ok $RC "core/comm.h over MPI at np $np (test_comm_mpi: sums, agreement check, shares)"
  [ $RC -eq 0 ] || diag <out.txt
done

DATA="synth:classes,n=203,d=8,k=3,test=37"
GD="--data $DATA --model mlp:8-16-3 --act tanh --loss mse --opt gd --lr 0.1 --steps 12
    --eval-every 3 --checkpoint-every 4 --probe sharpness:every=4,k=2 --quiet"
# shellcheck disable=SC2086
"$BIN" train $GD --db gd.db >/dev/null
ok $? "serial GD run"
# the comparison itself can fail: another step size is another trajectory
# shellcheck disable=SC2086
"$BIN" train $GD --lr 0.1000001 --db gdlr.db >/dev/null
python3 "$COMPARE" gd.db gdlr.db >out.txt
[ $? -eq 1 ]
ok $? "mpi_compare.py tells a run at lr 0.1000001 from one at 0.1 ($(cat out.txt))"
for np in 1 2 3; do
  # shellcheck disable=SC2086
  run mpi $np "$BIN" train $GD --db gd$np.db
  ok $RC "GD at np $np exits 0 ($(tail -1 err.txt))"
  same gd.db gd$np.db "GD at np $np equals serial"
done
nrun=$(grep -c '^run 1:' out.txt)
[ "$nrun" -eq 1 ] && grep -q 'data-parallel on 3 MPI ranks' out.txt
ok $? "np 3: only rank 0 prints (one 'run 1:' line, found $nrun) and says it is data-parallel"
for w in 1,3 3,0,1; do
  np=$(($(tr -cd , <<<"$w" | wc -c) + 1))
  # shellcheck disable=SC2086
  CURVSCOPE_MPI_WEIGHTS=$w mpi $np "$BIN" train $GD --db gdw$np.db >/dev/null 2>err.txt
  ok $? "GD at np $np with shares weighted $w exits 0"
  same gd.db gdw$np.db "GD at np $np, uneven shares $w$([ $np = 3 ] && echo ', rank 1 with no rows')"
done

# float32 passes (--precision mixed): as close to serial as serial with another chunking
# shellcheck disable=SC2086
"$BIN" train $GD --precision mixed --db mx.db >/dev/null &&
  "$BIN" train $GD --precision mixed --chunk 101 --db mxc.db >/dev/null &&
  mpi 2 "$BIN" train $GD --precision mixed --db mx2.db >/dev/null 2>err.txt
ok $? "--precision mixed serial, serial with --chunk 101, and at np 2 exit 0"
r1=$(python3 "$COMPARE" mx.db mxc.db 1e-4)
ok $? "mixed: serial with chunks of 101 rows against serial: $r1 (float32 chunking alone)"
r2=$(python3 "$COMPARE" mx.db mx2.db 1e-4)
ok $? "mixed at np 2 against serial, within float32 rounding (1e-4): $r2"

SGD="--data $DATA --model mlp:8-16-3 --act tanh --loss ce --opt sgd --batch 32 --lr 0.2
     --steps 15 --eval-every 5 --checkpoint-every 5 --probe sharpness:every=5,k=1 --quiet"
# shellcheck disable=SC2086
"$BIN" train $SGD --db sgd.db >/dev/null
ok $? "serial SGD run (batch 32)"
# shellcheck disable=SC2086
mpi 2 "$BIN" train $SGD --db sgd2.db >/dev/null 2>err.txt
ok $? "SGD at np 2 exits 0"
same sgd.db sgd2.db "SGD (every rank draws the same batch, takes its rows of it) at np 2"
# shellcheck disable=SC2086
CURVSCOPE_MPI_WEIGHTS=2,0,1 mpi 3 "$BIN" train $SGD --db sgd3.db >/dev/null 2>err.txt
ok $? "SGD at np 3 with an empty rank exits 0"
same sgd.db sgd3.db "SGD at np 3, shares 2,0,1"

EOS="--data $DATA --model mlp:8-16-3 --lr 0.5 --steps 20 --every 5 --quiet"
# shellcheck disable=SC2086
"$BIN" study eos $EOS --db eos.db >/dev/null && mpi 2 "$BIN" study eos $EOS --db eos2.db >/dev/null
ok $? "study eos serial and at np 2 exit 0"
same eos.db eos2.db "study eos at np 2 (sharpness series and the EoS analysis' metrics)"

cp gd.db an1.db && cp gd.db an3.db
AN="--run 1 --step last --top 3 --bottom 1 --trace"
for s in arpack lanczos; do
  # shellcheck disable=SC2086
  "$BIN" analyze $AN --solver $s --db an1.db >/dev/null &&
    CURVSCOPE_MPI_WEIGHTS=1,2,0 mpi 3 "$BIN" analyze $AN --solver $s --db an3.db >out.txt 2>err.txt
  ok $? "analyze --solver $s serial and at np 3 exit 0"
done
same an1.db an3.db "analyze at np 3, shares 1,2,0 (ARPACK and Lanczos eigenvalues, trace)"

# --solver parpack (its basis split over the ranks) against serial ARPACK, at each end
if "$BIN" analyze --help | grep -q parpack && [ "${5:-no}" = yes ]; then
  for np in 1 2 3; do
    cp gd.db pa1.db && cp gd.db pa$np-mpi.db
    ok=0
    for end in "--top 3" "--bottom 2"; do
      # shellcheck disable=SC2086
      "$BIN" analyze --run 1 $end --tol 1e-12 --solver arpack --db pa1.db >/dev/null || ok=1
      # shellcheck disable=SC2086
      mpi $np "$BIN" analyze --run 1 $end --tol 1e-12 --solver parpack --db pa$np-mpi.db \
        >out.txt 2>err.txt || ok=1
    done
    ok $ok "analyze --solver parpack at np $np exits 0 ($(grep -m1 eigenvalues out.txt))"
    same pa1.db pa$np-mpi.db "PARPACK top-3 and bottom-2 at np $np equal serial ARPACK"
  done
  run "$BIN" analyze --run 1 --solver parpack --db pa1.db
  [ $RC -eq 2 ] && grep -q "runs under mpirun" err.txt
  ok $? "--solver parpack without mpirun: exit 2 naming it ($(cat err.txt))"
fi

# ---- bad input: exit 2 and one message (rank 0's) --------------------------------------------
bad() { # bad NP PATTERN DESCRIPTION CMD...
  local np=$1 pat=$2 what=$3
  shift 3
  run mpi "$np" "$@"
  local c
  c=$(grep -c -e "^curvscope: .*$pat" err.txt)
  [ $RC -eq 2 ] && [ "$c" -eq 1 ]
  ok $? "$what: exit 2 (got $RC), one message naming it (found $c: $(grep -m1 '^curvscope' err.txt))"
}
# shellcheck disable=SC2086
bad 2 "--threads 2 under MPI" "--threads under mpirun" "$BIN" train $GD --threads 2 --db x.db
bad 3 "3 MPI ranks for 2 training examples" "more ranks than examples" \
  "$BIN" train --data synth:classes,n=2,d=8,k=3,test=0 --model mlp:8-4-3 --steps 1 --db x.db
# shellcheck disable=SC2086
CURVSCOPE_MPI_WEIGHTS=1,x bad 2 "CURVSCOPE_MPI_WEIGHTS" "a bad CURVSCOPE_MPI_WEIGHTS" \
  "$BIN" train $GD --db x.db
bad 2 "does not run on 2 MPI ranks" "curvscope runs under mpirun" "$BIN" runs --db gd.db
bad 2 "--samples 10 under MPI" "analyze --samples under mpirun" \
  "$BIN" analyze --run 1 --samples 10 --db an3.db
bad 2 "one end at a time" "--solver parpack with --top and --bottom" \
  "$BIN" analyze --run 1 --top 1 --bottom 1 --solver parpack --db an3.db
bad 2 "couples every row of the grid" "--loss sobolev under mpirun" \
  "$BIN" train --data synth:sines,n=128 --model mlp:1-8-1 --loss sobolev --steps 1 --db x.db
bad 2 "gn-sharpness does not run under MPI" "--probe gn-sharpness under mpirun" \
  "$BIN" train --data $DATA --model mlp:8-16-3 --steps 2 --probe gn-sharpness:every=1 --db x.db
[ ! -e x.db ]
ok $? "no database was created by the refused runs"

# ---- an error on rank 0 alone (its database cannot be created) ends every rank ------------------
t0=$SECONDS
# shellcheck disable=SC2086
run mpi 3 "$BIN" train $GD --steps 100000 --db "$T/no/such/dir/x.db"
[ $RC -ne 0 ] && [ $RC -ne 124 ] && grep -q "no/such/dir" err.txt
ok $? "rank 0 cannot open its database: every rank ends (exit $RC after $((SECONDS - t0)) s, no hang)"
tap_end
