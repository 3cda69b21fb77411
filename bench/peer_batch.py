#!/usr/bin/python3
"""bench/peer_batch.py: the PyTorch + SciPy side of bench/compare's batch-scaling workload.

The mini-batch Hessian draws of `curvscope study batch-scaling` written the way one writes
them with the standard stack: for each batch, the gradient graph by autograd
(create_graph=True) and SciPy's ARPACK (`eigsh(k=1, which='LA', tol=1e-4)`) over a
LinearOperator of Hessian-vector products on that graph (the grad of g.v with
retain_graph, as PyHessian does). Each solve starts (v0) from the previous solve's
eigenvector, as curvscope's do (--start cold: no v0). Prints ONE line of JSON on stdout.

    /usr/bin/python3 bench/peer_batch.py --draws-file FILE [--threads 2] [--repeats 3]
        [--budget 60] [--dtype float64|float32]

--dtype float32 casts θ, X and Y to float32 and runs everything there, the HVPs and
ARPACK's basis (a float32 LinearOperator: SciPy's single-precision ARPACK), as one does
in PyTorch's default dtype; bench/compare --precision f32 sets it beside ours in mixed.

FILE comes from `curvscope bench all --workload batch-scaling --draws-file FILE`
(cli/bench_batch.c): the shapes, the seed and every draw's rows (JSON; rows null for
the whole set), and FILE.bin with θ (curvscope's layout: per layer W [out][in], then
b [out], which is nn.Linear's), X [n][784] and Y [n][10] in float64. So both sides
measure the same draws of the same rows at the same parameters: 784-200-200-10 tanh,
loss 1/(2B) sum ||f(x) - y||^2 over the batch, float64 (or --dtype). A round is the whole list of
draws (the sizes up, the whole set last, as the study visits them); the figure is
the median round, in wall time and in the process's CPU time (time.process_time, all
threads: the work done, whatever the machine's load) (rounds stop once their total passes --budget, after at least one).

Dependencies: Debian's python3-torch, python3-scipy and python3-numpy
(scripts/setup_bench.sh).
"""
import argparse
import json
import statistics
import sys
import time

import peer_env

WIDTHS = [784, 200, 200, 10]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws-file", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds at most")
    ap.add_argument("--start", default="warm", choices=("warm", "cold"),
                    help="eigsh's v0: the previous eigenvector (as curvscope) or none "
                         "(ARPACK's random start, as one usually calls it)")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                    help="the arithmetic of the model, the HVPs and eigsh")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="stop after this many timed seconds (at least one round)")
    a = ap.parse_args(argv)
    if a.threads < 1 or a.repeats < 1:
        ap.error("--threads and --repeats must be at least 1")
    return a


ARGS = parse_args(sys.argv[1:])
peer_env.set_threads(ARGS.threads)  # before numpy and torch load

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(ARGS.threads)
TDTYPE = getattr(torch, ARGS.dtype)
NPDTYPE = np.dtype(ARGS.dtype)


def fail(msg):
    """Bad input: the message on stderr, exit 2 (as curvscope)."""
    sys.stderr.write("peer_batch: %s\n" % msg)
    sys.exit(2)


def load(path):
    try:
        with open(path) as f:
            spec = json.load(f)
        raw = np.fromfile(spec["binary"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as e:
        fail("--draws-file %s: %s" % (path, e))
    n, d, k, P = spec["n"], spec["d"], spec["k"], spec["n_params"]
    if d != WIDTHS[0] or k != WIDTHS[-1]:
        fail("%s holds a %d-input, %d-output set, not %d/%d" % (path, d, k, WIDTHS[0], WIDTHS[-1]))
    if raw.size != P + n * d + n * k:
        fail("%s has %d numbers, expected %d" % (spec["binary"], raw.size, P + n * d + n * k))
    theta, x, y = raw[:P], raw[P:P + n * d].reshape(n, d), raw[P + n * d:].reshape(n, k)
    layers, off = [], 0
    for i, (a, b) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        lin = torch.nn.Linear(a, b).to(TDTYPE)
        with torch.no_grad():  # copy_ rounds the float64 file to TDTYPE
            lin.weight.copy_(torch.from_numpy(theta[off:off + a * b].reshape(b, a)))
            off += a * b
            lin.bias.copy_(torch.from_numpy(theta[off:off + b]))
            off += b
        layers.append(lin)
        if i < len(WIDTHS) - 2:
            layers.append(torch.nn.Tanh())
    if off != P:
        fail("θ has %d numbers, the net %d" % (P, off))
    model = torch.nn.Sequential(*layers)
    return (spec, model, torch.from_numpy(x.astype(NPDTYPE)),
            torch.from_numpy(y.astype(NPDTYPE)))


def top_eig(model, params, xb, yb, tol, v0):
    """λmax of the batch's Hessian: eigsh over HVPs on one gradient graph."""
    loss = 0.5 * ((model(xb) - yb) ** 2).sum() / xb.shape[0]
    grads = torch.autograd.grad(loss, params, create_graph=True)
    P = sum(p.numel() for p in params)
    count = [0]

    def matvec(v):
        count[0] += 1
        vt = torch.from_numpy(np.ascontiguousarray(v, dtype=NPDTYPE).reshape(-1))
        chunks, off = [], 0
        for p in params:
            chunks.append(vt[off:off + p.numel()].view_as(p))
            off += p.numel()
        hv = torch.autograd.grad(grads, params, grad_outputs=chunks, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).numpy()

    op = spla.LinearOperator((P, P), matvec=matvec, dtype=NPDTYPE)
    vals, vecs = spla.eigsh(op, k=1, which="LA", tol=tol, v0=v0)
    return float(vals[0]), vecs[:, 0], count[0]


def one_round(spec, model, x, y):
    params = [p for p in model.parameters()]
    per, v0 = {}, None
    t_round, c_round = time.perf_counter(), time.process_time()
    for dr in spec["draws"]:
        rows = dr["rows"]
        xb, yb = (x, y) if rows is None else (x[rows], y[rows])
        t0 = time.perf_counter()
        lam, v, mv = top_eig(model, params, xb, yb, spec["tol"], v0)
        v0 = v if ARGS.start == "warm" else None
        e = per.setdefault(dr["batch"], {"batch": dr["batch"], "s": 0.0, "matvecs": 0,
                                         "lambdas": []})
        e["s"] += time.perf_counter() - t0
        e["matvecs"] += mv
        e["lambdas"].append(lam)
    return time.perf_counter() - t_round, time.process_time() - c_round, per


def main():
    spec, model, x, y = load(ARGS.draws_file)
    times, cpus, total, per = [], [], 0.0, None
    while len(times) < ARGS.repeats:
        t, c, per = one_round(spec, model, x, y)
        times.append(t)
        cpus.append(c)
        total += t
        if total > ARGS.budget:
            break
    sizes = []
    for b in sorted(per):
        e = per[b]
        e["lambda_mean"] = statistics.mean(e["lambdas"])
        sizes.append(e)
    out = {"workload": "batch-scaling", "threads": ARGS.threads, "dtype": ARGS.dtype,
           "rounds": len(times),
           "times": times, "total_s": statistics.median(times),
           "total_cpu_s": statistics.median(cpus),
           "matvecs": sum(e["matvecs"] for e in sizes),
           "lambda_full": per[spec["n"]]["lambdas"][0], "sizes": sizes,
           "solver": "scipy eigsh k=1 which=LA tol=%g, %s" % (
               spec["tol"], "v0 = previous eigenvector" if ARGS.start == "warm" else "no v0"),
           "env": peer_env.environment(np, torch, scipy=scipy.__version__)}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
