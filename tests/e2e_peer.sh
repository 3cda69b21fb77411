#!/usr/bin/env bash
# e2e_peer.sh: the PyTorch + SciPy peers of bench/compare (bench/peer_torch.py, and
# bench/peer_loops.py for the study loops: bad options and a small spectral run). Bad options
# exit 2 naming the bad token (before torch is imported, so always checked); with the peer's
# Debian packages installed (scripts/setup_bench.sh) a small run on digits must give correct
# HVPs (central difference, symmetry), a converged top eigenpair that power iteration agrees
# with, and every JSON field bench/compare reads; without them those checks are skipped.
# bench/compare refuses an interpreter that cannot import the peer's libraries. TAP output.
#
#   bash tests/e2e_peer.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)
tap_setup e2e_peer "$@"
PEER=$SRC/bench/peer_torch.py
PY=/usr/bin/python3
j() { "$PY" -c "import json,sys; d=json.load(open('$1')); print($2)"; }

# ---- bad input ----------------------------------------------------------------------------
run "$PY" "$PEER" --workload digits --parts grad,bogus
[ $RC -eq 2 ] && [[ $ERR == *bogus* ]] && [ -z "$OUT" ]
ok $? "--parts grad,bogus: exit 2 naming 'bogus', nothing on stdout (rc $RC: $ERR)"
run "$PY" "$PEER" --workload nope
[ $RC -eq 2 ] && [[ $ERR == *nope* ]]; ok $? "--workload nope: exit 2 naming it (rc $RC)"
run "$PY" "$SRC/bench/peer_loops.py" --workload nope
[ $RC -eq 2 ] && [[ $ERR == *nope* ]] && [ -z "$OUT" ]; ok $? "peer_loops.py --workload nope: exit 2 naming it (rc $RC)"
run "$PY" "$SRC/bench/peer_ntk.py" --threads 0
[ $RC -eq 2 ] && [[ $ERR == *--threads* ]] && [ -z "$OUT" ]; ok $? "peer_ntk.py --threads 0: exit 2 naming it (rc $RC)"
run "$PY" "$PEER" --workload digits --repeats 0
[ $RC -eq 2 ] && [[ $ERR == *--repeats* ]]; ok $? "--repeats 0: exit 2 naming --repeats (rc $RC)"
run "$PY" "$SRC/bench/compare" --curvscope "$BIN" --python /bin/false --workloads digits
[ $RC -ne 0 ] && [[ $ERR == *"cannot import torch"* && $ERR == *setup_bench.sh* ]]
ok $? "bench/compare with an interpreter without torch: refused, pointing to setup_bench.sh (rc $RC)"

# ---- a small run --------------------------------------------------------------------------
if ! "$PY" -c "import torch, scipy.sparse.linalg, numpy, sklearn" 2>/dev/null; then
  for d in "digits run" "HVP checks" "top eigenpair" "power iteration" "compare's fields" gemm "loop peer" "fashion loader"; do
    n=$((n + 1)); echo "ok $n - $d # SKIP the peer's packages are missing (scripts/setup_bench.sh)"
  done
  tap_end
fi
run "$PY" -c "import sys; sys.path.insert(0, '$SRC/bench'); import peer_env, torch
x, y = peer_env.fashion_mnist(7, torch.float64)
print(tuple(x.shape), tuple(y.shape), round(float(x.mean(0).abs().max()), 3) < 10, float(y.sum()))"
[ $RC -eq 0 ] && [ "$OUT" = "(7, 784) (7, 10) True 7.0" ]
ok $? "peer_env.fashion_mnist: the first 7 images standardised, one-hot targets ($OUT${ERR:0:120})"
run "$PY" "$PEER" --workload digits --threads 1 --parts grad,hvp,eig1,power --repeats 1 \
  --warmup 0 --eig-warmup 0 --min-repeats 1
echo "$OUT" >digits.json
[ $RC -eq 0 ] && [ "$(j digits.json 'd["n_params"], d["N"]')" = "55210 1797" ]
ok $? "digits: 64-200-200-10 (55 210 parameters) on the 1797 digits (rc $RC; $(tail -c 300 err.txt))"
j digits.json 'd["hvp_checks"]' | diag
[ "$(j digits.json 'int(d["hvp_checks"]["finite_diff_relerr"] < 1e-6
                    and d["hvp_checks"]["symmetry_relerr"] < 1e-10)')" = 1 ]
ok $? "HVP within 1e-6 of a central difference of gradients, symmetric to 1e-10"
[ "$(j digits.json 'int(d["eig1"]["converged"] and d["eig1"]["top_residual_rel"] < 1e-5
                    and d["eig1"]["n_hvp"] > 1)')" = 1 ]
ok $? "eigsh top-1 converged, residual ‖Hv − λv‖/|λ| < 1e-5 ($(j digits.json 'd["eig1"]["eigenvalues"], d["eig1"]["n_hvp"]'))"
[ "$(j digits.json 'int(abs(d["power"]["eigenvalue"] / d["eig1"]["eigenvalues"][0] - 1) < 0.02)')" = 1 ]
ok $? "power iteration within 2% of eigsh's top eigenvalue ($(j digits.json 'd["power"]["eigenvalue"], d["power"]["n_hvp"]'))"
fields='[d["grad"]["median_s"], d["hvp_fresh"]["median_s"], d["hvp_reuse"]["median_s"],
         d["graph_build"]["median_s"], d["eig1"]["median_s"], d["maxrss_mb"]["peak"],
         d["maxrss_mb"]["after_hvp_reuse"], d["env"]["torch"], d["env"]["scipy"], d["env"]["numpy"]]'
[ "$(j digits.json "int(all(x for x in $fields) and 'load_digits' in d['data'])")" = 1 ]
ok $? "every field bench/compare reads is there (times, products, memory, versions, data)"
run "$PY" "$PEER" --workload gemm --threads 1 --gemm-n 256
echo "$OUT" >gemm.json
[ $RC -eq 0 ] && [ "$(j gemm.json 'int(d["results"]["torch_float64"]["gflops"] > 0.1)')" = 1 ]
ok $? "gemm: torch's float64 rate measured ($(j gemm.json 'round(d["results"]["torch_float64"]["gflops"], 1)') GFLOP/s at 256²)"
run "$PY" "$SRC/bench/peer_loops.py" --workload spectral --threads 1 --dtype both --steps 3 \
  --repeats 3 --budget 0 --gemm-n 64
echo "$OUT" >loops.json
[ $RC -eq 0 ] && [ "$(j loops.json 'int(all(r["iter_s"] > 0 and r["iter_cpu_s"] > 0 and r["rounds"] == 3
                    and r["measurements"] >= 1 and r["gemm_gflops"] > 0
                    for r in (d["results"]["float64"], d["results"]["float32"])))')" = 1 ]
ok $? "loop peer, spectral: float64 and float32 per-iteration times, 3 rounds, the measurement ran (rc $RC; $(tail -c 300 err.txt))"
tap_end
