#!/usr/bin/env bash
# e2e_bench_batch.sh: bench/compare's batch-scaling workload, both sides. Ours (`curvscope
# bench all --workload batch-scaling --draws-file F`): the JSON bench/compare reads, and F,
# whose draws must be the study's (B rows each, distinct, in range; the whole set once) with
# θ, X and Y of the right length. With the peer's Debian packages (scripts/setup_bench.sh),
# bench/peer_batch.py on F must find the same λmax per size (tol 1e-4 on both sides; each
# draw's within 1e-4, ours stopping on the value bound, the peer's eigsh on the residual) and
# write every field bench/compare reads; its bad input exits 2 naming the flag. Ours with
# --precision mixed must record it and find float64's λmax per size to 1e-4, and the peer
# with --dtype float32 ours in mixed to 1e-4. Real Fashion-MNIST, N = 4096: about 25 s on
# two cores when quiet. TAP.
#
#   bash tests/e2e_bench_batch.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)
tap_setup e2e_bench_batch "$@"
PY=/usr/bin/python3
PEER=$SRC/bench/peer_batch.py
F=$T/draws.json

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "not ok 1 - Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"; echo "1..1"; exit 1
fi

run "$PY" "$PEER" --threads 2
[ $RC -eq 2 ] && [[ $ERR == *--draws-file* ]] && [ -z "$OUT" ]
ok $? "peer_batch.py without --draws-file: exit 2 naming it (rc $RC)"

run "$BIN" bench all --workload batch-scaling --threads 2 --repeats 1 --json --draws-file "$F"
echo "$OUT" > ours.json
[ $RC -eq 0 ]; ok $? "curvscope bench --workload batch-scaling runs (rc $RC: $ERR)"
"$PY" - "$F" ours.json <<'PYEOF' > check.txt 2>&1
import json, os, sys
spec, ours = json.load(open(sys.argv[1])), json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
sizes = [e["batch"] for e in ours["sizes"]]
print("json", int(sizes == [8, 32, 128, 512, 2048, 4096] and ours["total_s"] > 0 and
      ours["total_cpu_s"] > 0 and ours["matvecs"] == sum(e["matvecs"] for e in ours["sizes"])
      and ours["draws"] == 5 and ours["tol"] == 1e-4 and ours["lambda_full"] > 0))
n, P = spec["n"], spec["n_params"]
good = len(spec["draws"]) == 26 and spec["draws"][-1]["rows"] is None and spec["draws"][-1]["batch"] == n
good &= [d["batch"] for d in spec["draws"]] == sorted(d["batch"] for d in spec["draws"])
for d in spec["draws"][:-1]:
    r = d["rows"]
    good &= r is not None and len(r) == d["batch"] and len(set(r)) == len(r) and 0 <= min(r) and max(r) < n
good &= sorted({(d["batch"], d["draw"]) for d in spec["draws"][:-1]}) == \
    sorted((b, k) for b in (8, 32, 128, 512, 2048) for k in range(5))
print("draws", int(good))
print("binary", int(os.path.getsize(spec["binary"]) == 8 * (P + n * 784 + n * 10) and P == 199210
      and spec["lambda_full"] == ours["lambda_full"]))
PYEOF
grep -q "^json 1" check.txt; ok $? "our JSON: the six sizes, times, products summed, λ_N ($(tr '\n' ' ' < check.txt))"
grep -q "^draws 1" check.txt; ok $? "the draws file: 5 draws of each B < N, B distinct rows in range each, the whole set once"
grep -q "^binary 1" check.txt; ok $? "the binary: θ, X, Y of the stated sizes"

# --precision mixed: float32 passes, float64 Lanczos, the same draws; λ as float64's
run "$BIN" bench all --workload batch-scaling --threads 2 --repeats 1 --json --precision mixed
echo "$OUT" > mixed.json
[ $RC -eq 0 ]; ok $? "curvscope bench --workload batch-scaling --precision mixed runs (rc $RC: $ERR)"
"$PY" - ours.json mixed.json <<'PYEOF' > mixed.txt 2>&1
import json, sys
o, m = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[1:3])
om = {e["batch"]: e["lambda_mean"] for e in o["sizes"]}
mm = {e["batch"]: e["lambda_mean"] for e in m["sizes"]}
worst = max(abs(om[b] - mm[b]) / abs(om[b]) for b in om) if set(om) == set(mm) else 1
print(int(o["precision"] == "f64" and m["precision"] == "mixed" and worst < 1e-4 and
          m["tol"] == 1e-4), "precision %s/%s, worst relative difference %.2e" % (
              o["precision"], m["precision"], worst))
PYEOF
grep -q "^1 " mixed.txt; ok $? "mixed records its precision and every size's mean λmax is f64's to 1e-4 ($(cat mixed.txt))"
run "$BIN" bench all --workload batch-scaling --threads 2 --repeats 1 --precision f16
[ $RC -eq 2 ] && [[ $ERR == *f16* ]] && [ -z "$OUT" ]
ok $? "--precision f16: exit 2 naming the value (rc $RC)"
run "$BIN" bench all --workload ntk --threads 1 --precision mixed
[ $RC -eq 2 ] && [[ $ERR == *ntk*float64* ]] && [ -z "$OUT" ]
ok $? "--precision mixed on a float64-only loop workload (ntk): exit 2 naming it (rc $RC)"

if ! "$PY" -c "import torch, scipy.sparse.linalg, numpy" 2>/dev/null; then
  ok 0 "the peer on the same draws # SKIP the peer's packages are missing (scripts/setup_bench.sh)"
  ok 0 "the peer in float32 # SKIP the peer's packages are missing"
  ok 0 "the peer refuses a truncated binary # SKIP the peer's packages are missing"
else
  run "$PY" "$PEER" --draws-file "$F" --threads 2 --repeats 1
  echo "$OUT" > peer.json
  "$PY" - ours.json peer.json <<'PYEOF' > cmp.txt 2>&1
import json, sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
p = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
ok = all(k in p for k in ("total_s", "total_cpu_s", "matvecs", "lambda_full", "sizes", "env", "rounds"))
om = {e["batch"]: e["lambda_mean"] for e in o["sizes"]}
pm = {e["batch"]: e["lambda_mean"] for e in p["sizes"]}
worst = max(abs(om[b] - pm[b]) / abs(pm[b]) for b in om) if set(om) == set(pm) else 1
# every draw: ours (the value stop) within the workload's tol of the peer's residual-stopped eigsh
od = {e["batch"]: e["lambdas"] for e in o["sizes"]}
pd = {e["batch"]: e["lambdas"] for e in p["sizes"]}
dd = [abs(x - y) / abs(y) for b in od for x, y in zip(od[b], pd.get(b, []))]
each = max(dd) if len(dd) == 26 else 1
print(int(ok and worst < 1e-3 and each <= o["tol"] and o["stop"] == "value"),
      "worst relative difference %.2e (means), %.2e (each of %d draws, stop %s), lambda_N ours "
      "%.6g peer %.6g" % (worst, each, len(dd), o["stop"], o["lambda_full"], p["lambda_full"]))
PYEOF
  [ $RC -eq 0 ] && grep -q "^1 " cmp.txt
  ok $? "the peer on the same draws: every size's mean λmax within 1e-3 of ours, every draw's within tol ($(cat cmp.txt); rc $RC)"
  run "$PY" "$PEER" --draws-file "$F" --threads 2 --repeats 1 --dtype float32
  echo "$OUT" > peer32.json
  "$PY" - mixed.json peer32.json <<'PYEOF' > cmp32.txt 2>&1
import json, sys
o, p = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[1:3])
om = {e["batch"]: e["lambda_mean"] for e in o["sizes"]}
pm = {e["batch"]: e["lambda_mean"] for e in p["sizes"]}
worst = max(abs(om[b] - pm[b]) / abs(pm[b]) for b in om) if set(om) == set(pm) else 1
print(int(p["dtype"] == "float32" and worst < 1e-4), "worst relative difference %.2e" % worst)
PYEOF
  [ $RC -eq 0 ] && grep -q "^1 " cmp32.txt
  ok $? "the peer in float32 on the same draws: every size's mean λmax within 1e-4 of our mixed ($(cat cmp32.txt); rc $RC)"
  head -c 1000 "$F.bin" > "$T/short.bin"
  sed "s|\"binary\":\"[^\"]*\"|\"binary\":\"$T/short.bin\"|" "$F" > "$T/short.json"
  run "$PY" "$PEER" --draws-file "$T/short.json" --repeats 1
  [ $RC -eq 2 ] && [[ $ERR == *short.bin* ]]; ok $? "the peer refuses a truncated binary: exit 2 naming it (rc $RC)"
fi
tap_end
