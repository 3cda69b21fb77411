#!/usr/bin/python3
"""bench/peer_ntk.py: the PyTorch side of bench/compare's ntk workload.

The top-20 eigenpairs of the empirical NTK K = J J^T on the training inputs, written the
way one writes them in PyTorch + SciPy; `curvscope bench all --workload ntk` is our side
(cli/bench_ntk.c). Prints ONE line of JSON on stdout.

    /usr/bin/python3 bench/peer_ntk.py [--threads 2] [--repeats 3] [--budget 30]

grid    200 points z_i = i/200, nn.Sequential 1-256-256-1 ReLU (default init, seed 0),
        float64: the dense path, J (200 x P) by torch.autograd.functional.jacobian
        (vectorize=True) of the outputs in the flat parameters, K = J J^T,
        torch.linalg.eigh, the top 20.
fmnist  the first 2000 Fashion-MNIST training images (peer_env.fashion_mnist), 784-200-200-10
        ReLU, d_out = 10, float64: matrix-free, one forward with its graph kept (the build),
        then each product K u = J (J^T u): J^T u by torch.autograd.grad on the kept graph, J v
        by forward-mode AD (torch.autograd.forward_ad, the parameters as dual tensors through
        torch.nn.utils.stateless.functional_call); scipy.sparse.linalg.eigsh(k=20,
        which='LA', tol=1e-8) on that LinearOperator, products counted.

Each is timed after one untimed solve, `--repeats` times (at least 3, until `--budget`
seconds); medians, wall and process CPU time (time.process_time: all threads).
Dependencies: Debian's python3-torch, python3-scipy, python3-numpy (scripts/setup_bench.sh).
"""
import argparse
import json
import statistics
import sys
import time

import peer_env

K_TOP, TOL, GRID_N, FM_N = 20, 1e-8, 200, 2000


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed solves (after one untimed)")
    ap.add_argument("--budget", type=float, default=30.0,
                    help="stop after this many timed seconds (at least 3 solves)")
    a = ap.parse_args(argv)
    if a.threads < 1 or a.repeats < 1:
        ap.error("--threads and --repeats must be at least 1")
    return a


ARGS = parse_args(sys.argv[1:])
peer_env.set_threads(ARGS.threads)  # before numpy and torch load

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
import torch  # noqa: E402
import torch.autograd.forward_ad as fwad  # noqa: E402
from torch.nn.utils import stateless  # noqa: E402

torch.set_num_threads(ARGS.threads)


def mlp(widths):
    torch.manual_seed(0)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).double()


def timed(solve):
    """One untimed solve, then the timed ones; medians of (wall, cpu, extra...)."""
    solve()
    out, spent = [], 0.0
    while len(out) < max(3, ARGS.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        extra = solve()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.append((wall, cpu) + extra)
        spent += wall
        if spent > ARGS.budget and len(out) >= 3:
            break
    return [statistics.median(c) for c in zip(*out[:])], len(out), out[-1]


def grid():
    model = mlp([1, 256, 256, 1])
    x = (torch.arange(GRID_N, dtype=torch.float64) / GRID_N).reshape(-1, 1)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    sizes = [int(np.prod(s)) for s in shapes]

    def f(flat):
        params, o = {}, 0
        for n, s, k in zip(names, shapes, sizes):
            params[n] = flat[o:o + k].view(s)
            o += k
        return stateless.functional_call(model, params, (x,)).reshape(-1)

    state = {}

    def solve():
        t0 = time.perf_counter()
        J = torch.autograd.functional.jacobian(f, theta, vectorize=True)
        K = J @ J.T
        t1 = time.perf_counter()
        evals = torch.linalg.eigh(K)[0]
        state["top"] = [float(v) for v in evals.flip(0)[:3]]
        return (t1 - t0, time.perf_counter() - t1)

    (wall, cpu, tk, te), k, _ = timed(solve)
    return {"N": GRID_N, "params": int(theta.numel()), "rounds": k, "total_s": wall,
            "total_cpu_s": cpu, "build_s": tk, "solve_s": te, "top3": state["top"],
            "model": "1-256-256-1 relu"}


def fmnist():
    x, _ = peer_env.fashion_mnist(FM_N, torch.float64)
    model = mlp([784, 200, 200, 10])
    names = [n for n, _ in model.named_parameters()]
    params = [p for p in model.parameters()]
    N = FM_N * 10
    state = {}

    def solve():
        t0 = time.perf_counter()
        out = model(x)  # the graph J^T u walks back through, kept for every product
        t1 = time.perf_counter()
        count = [0]

        def matvec(u):
            count[0] += 1
            ut = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float64)).view(FM_N, 10)
            g = torch.autograd.grad(out, params, grad_outputs=ut, retain_graph=True)
            with torch.no_grad(), fwad.dual_level():
                dual = {n: fwad.make_dual(p.detach(), t) for n, p, t in zip(names, params, g)}
                jv = fwad.unpack_dual(stateless.functional_call(model, dual, (x,))).tangent
            return jv.reshape(-1).numpy()

        op = sla.LinearOperator((N, N), matvec=matvec, dtype=np.float64)
        vals = sla.eigsh(op, k=K_TOP, which="LA", tol=TOL, return_eigenvectors=True)[0]
        state["top"] = [float(v) for v in sorted(vals, reverse=True)[:3]]
        return (t1 - t0, time.perf_counter() - t1, count[0])

    (wall, cpu, tb, ts, nprod), k, _ = timed(solve)
    return {"N": N, "params": sum(p.numel() for p in params), "rounds": k, "total_s": wall,
            "total_cpu_s": cpu, "build_s": tb, "solve_s": ts, "products": nprod,
            "top3": state["top"], "model": "784-200-200-10 relu"}


def main():
    res = {"workload": "ntk", "threads": ARGS.threads, "k": K_TOP, "tol": TOL,
           "env": peer_env.environment(np, torch, scipy=scipy.__version__)}
    for name, fn in (("grid", grid), ("fmnist", fmnist)):
        for key, v in fn().items():
            res[name + "_" + key] = v
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
