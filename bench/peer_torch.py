#!/usr/bin/python3
"""bench/peer_torch.py: the PyTorch + SciPy side of bench/compare.

The numbers people get today with the standard stack: gradients and Hessian-
vector products by double backprop in PyTorch, the top eigenvalues by SciPy's
ARPACK (`eigsh` over a LinearOperator of HVPs), and PyHessian-style power
iteration. It runs curvscope's benchmark workloads (`curvscope bench
--workload W`) with the same conventions, so the two sides compare like for
like, and prints ONE line of JSON on stdout.

    /usr/bin/python3 bench/peer_torch.py --workload digits|cohen|deeplinear|wide
        [--threads 2] [--dtype float64|float32] [--parts grad,hvp,eig1,power,eig10]
        [--repeats 5] [--warmup 1] [--eig-warmup 1] [--budget 120] [--min-repeats 3]
    /usr/bin/python3 bench/peer_torch.py --workload gemm [--threads 2] [--gemm-n 2048]

Dependencies are Debian's python3-torch, python3-scipy, python3-numpy and
python3-sklearn (scripts/setup_bench.sh, `make bench`); run it with the system
interpreter. docs/PERFORMANCE.md describes the comparison.

Conventions (shared with cli/cmd_bench.c; seed 0 everywhere):
  network   nn.Linear layers with PyTorch's default initialisation after
            torch.manual_seed(0), built in float32 and cast to --dtype (the
            float32 and float64 runs start from the same weights); tanh between
            layers, none after the last; deeplinear has no activation, no bias
  data      X ~ N(0,1) in float32 then cast, labels uniform in 0..9 (one
            torch.Generator seeded 0, X first), Y one-hot; digits is
            scikit-learn's 8x8 digits (X = pixels/16, one-hot labels) when the
            package is there, else the same synthetic recipe
  loss      L = (1/(2N)) sum_i ||f(x_i) - y_i||^2  (curvscope's MSE)

Measurements ("parts"); times are wall clock (time.perf_counter), the median of
the timed repeats that follow the untimed warm-up runs; repeats stop early,
after at least --min-repeats, once their total passes --budget seconds:
  grad      loss and gradient                                    -> "grad"
  hvp       HVP with the graph rebuilt each time (forward, grad with
            create_graph, grad of g.v)                           -> "hvp_fresh"
            rebuilding that gradient graph                       -> "graph_build"
            HVP on a graph built once (grad of g.v, retain_graph:
            what PyHessian does; every solver below uses it)     -> "hvp_reuse"
            and untimed checks (symmetry, fresh against reused,
            a central difference of gradients in float64)        -> "hvp_checks"
  eig1      eigsh(k=1, which='LA', tol=1e-6), HVPs counted       -> "eig1"
  power     power iteration: relative change < 1e-3, at most 100 -> "power"
  eig10     eigsh(k=10, which='LA', tol=1e-6)                    -> "eig10"
Peak memory is getrusage's ru_maxrss after each part ("maxrss_mb"), the
process's peak at the end in "maxrss_mb.peak". The gemm workload times an N x N
matrix product (numpy.matmul and torch.mm, float64 and float32, 5 repeats) for
each library's own DGEMM rate ("results.torch_float64.gflops", ...).

bench/compare reads: grad/hvp_fresh/hvp_reuse/graph_build/eig1/eig10
.median_s, eig1/eig10 .n_hvp, eig1.eigenvalues, maxrss_mb.peak and
.after_hvp_reuse, data, env.{torch,scipy,numpy}; from gemm,
results.torch_float64.gflops.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import peer_env

# name: (widths, hidden activation, bias, N)
WORKLOADS = {
    "digits": ([64, 200, 200, 10], "tanh", True, 1797),
    "cohen": ([3072, 200, 200, 10], "tanh", True, 5000),
    "deeplinear": ([50, 100, 100, 100, 100, 10], "none", False, 2000),
    "wide": ([784, 1024, 1024, 10], "tanh", True, 4096),
}
PARTS = ("grad", "hvp", "eig1", "power", "eig10")
EIG_TOL = 1e-6
TOL = [EIG_TOL]  # set from --tol in parse_args
POWER_TOL, POWER_MAXIT = 1e-3, 100
SEED_DIRECTION, SEED_POWER = 1, 2  # torch generators of the HVP direction and power start


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, choices=sorted(WORKLOADS) + ["gemm"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--tol", type=float, default=EIG_TOL,
                    help="eigsh tolerance (bench/compare passes ours: 1e-5 in float32)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma list of " + ",".join(PARTS))
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (max)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    ap.add_argument("--eig-warmup", type=int, default=1,
                    help="untimed runs of each eigen-solver (its HVPs are already warm)")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="seconds of timed repeats after which a measurement stops repeating")
    ap.add_argument("--min-repeats", type=int, default=3,
                    help="timed repeats taken whatever the budget")
    ap.add_argument("--gemm-n", type=int, default=2048, help="matrix size of the gemm workload")
    a = ap.parse_args(argv)
    parts = [p for p in a.parts.split(",") if p]
    for p in parts:
        if p not in PARTS:
            ap.error("--parts: unknown part '%s' (known: %s)" % (p, ",".join(PARTS)))
    a.parts = parts
    TOL[0] = a.tol
    for name in ("threads", "repeats", "min_repeats", "gemm_n"):
        if getattr(a, name) < 1:
            ap.error("--%s must be at least 1" % name.replace("_", "-"))
    if a.warmup < 0 or a.eig_warmup < 0 or a.budget < 0:
        ap.error("--warmup, --eig-warmup and --budget must not be negative")
    return a


ARGS = parse_args(sys.argv[1:])
peer_env.set_threads(ARGS.threads)  # before numpy and torch load

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(ARGS.threads)


# ------------------------------------------------------------------ timing, memory

def peak_rss_mb():
    """The process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(fn, repeats, warmup):
    """Runs fn `warmup` times untimed, then times up to `repeats` runs (stopping early
    past ARGS.budget seconds once ARGS.min_repeats are taken). Returns (entry, the last
    result), entry = {"median_s", "times"}."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    while len(times) < repeats:
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > ARGS.budget and len(times) >= ARGS.min_repeats:
            break
    return {"median_s": statistics.median(times), "times": times}, result


def environment():
    return peer_env.environment(np, torch, scipy=scipy.__version__)


# ------------------------------------------------------------------ gemm

def bench_gemm(n):
    """Each library's N x N matrix-product rate, in its own process like the workload."""
    out = {"workload": "gemm", "threads": ARGS.threads, "n": n, "env": environment(),
           "results": {}}
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        c = np.empty_like(a)
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        for lib, product in (("numpy", lambda: np.matmul(a, b, out=c)),
                             ("torch", lambda: torch.mm(ta, tb, out=tc))):
            entry, _ = measure(product, 5, 1)
            entry["gflops"] = 2.0 * n ** 3 / entry["median_s"] / 1e9
            out["results"]["%s_%s" % (lib, dtype)] = entry
    out["maxrss_mb"] = peak_rss_mb()
    return out


# ------------------------------------------------------------------ the workload

def build_network(widths, act, bias, dtype):
    torch.manual_seed(0)
    layers = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(d_in, d_out, bias=bias))
        if act == "tanh" and i < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers).to(dtype)


def build_data(name, widths, n, dtype):
    """(X, Y, description) by the conventions in the module docstring."""
    note = ""
    if name == "digits":
        try:
            import sklearn
            from sklearn.datasets import load_digits
            digits = load_digits()
            x = torch.from_numpy(digits.data / 16.0).to(dtype)
            y = torch.nn.functional.one_hot(torch.from_numpy(digits.target).long(), 10)
            return (x.contiguous(), y.to(dtype).contiguous(),
                    "sklearn %s load_digits (N=%d), X/16 in [0,1], one-hot labels"
                    % (sklearn.__version__, x.shape[0]))
        except ImportError as e:
            note = " (no sklearn: %s)" % e
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, widths[0], generator=gen, dtype=torch.float32).to(dtype)
    labels = torch.randint(0, 10, (n,), generator=gen)
    y = torch.nn.functional.one_hot(labels, 10).to(dtype)
    return (x.contiguous(), y.contiguous(),
            "synthetic: X ~ N(0,1), uniform labels 0..9, one-hot (torch generator, seed 0)"
            + note)


class Objective:
    """The loss of one workload over its parameters, with the two ways of getting HVPs:
    `hvp_fresh` rebuilds the gradient graph for every product, `hvp` reuses the graph
    `build_graph` kept. Vectors are flat tensors in the order of model.parameters()."""

    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.params = list(model.parameters())
        self.sizes = [p.numel() for p in self.params]
        self.n_params = sum(self.sizes)
        self.graph = None

    def loss(self):
        r = self.model(self.x) - self.y
        return 0.5 * (r * r).sum() / self.x.shape[0]

    def _pieces(self, v):
        return [t.view_as(p) for t, p in zip(torch.split(v, self.sizes), self.params)]

    @staticmethod
    def _flat(tensors):
        return torch.cat([t.reshape(-1) for t in tensors])

    def gradient(self):
        return self._flat(torch.autograd.grad(self.loss(), self.params))

    def _directional(self, grads, v):
        return sum((g * w).sum() for g, w in zip(grads, self._pieces(v)))

    def hvp_fresh(self, v):
        grads = torch.autograd.grad(self.loss(), self.params, create_graph=True)
        return self._flat(torch.autograd.grad(self._directional(grads, v), self.params))

    def build_graph(self):
        self.graph = None  # let the old graph go before the new one is built
        self.graph = torch.autograd.grad(self.loss(), self.params, create_graph=True)

    def hvp(self, v):
        gv = self._directional(self.graph, v)
        return self._flat(torch.autograd.grad(gv, self.params, retain_graph=True))

    def hvp_finite_difference(self, v, eps):
        """(grad L(theta + eps v) - grad L(theta - eps v)) / (2 eps); theta is restored
        bit for bit from a copy afterwards."""
        saved = [p.detach().clone() for p in self.params]
        grads = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, p0, w in zip(self.params, saved, self._pieces(v)):
                    p.copy_(p0 + sign * eps * w)
            grads.append(self.gradient())
        with torch.no_grad():
            for p, p0 in zip(self.params, saved):
                p.copy_(p0)
        return (grads[0] - grads[1]) / (2.0 * eps)


def unit_vector(n, seed, dtype):
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype)
    return v / v.norm()


def eigsh_top(obj, k, npdtype):
    """The k largest eigenvalues by ARPACK (descending), the top vector, products used."""
    count = [0]

    def matvec(x):
        count[0] += 1
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=npdtype).reshape(-1))
        return obj.hvp(v).numpy()

    op = spla.LinearOperator((obj.n_params, obj.n_params), matvec=matvec, dtype=npdtype)
    v0 = np.random.default_rng(0).standard_normal(obj.n_params).astype(npdtype)
    try:
        w, vecs = spla.eigsh(op, k=k, which="LA", tol=TOL[0], v0=v0)
        converged = True
    except spla.ArpackNoConvergence as e:
        w, vecs, converged = e.eigenvalues, e.eigenvectors, False
    order = np.argsort(w)[::-1]
    return {"values": [float(x) for x in w[order]], "top": vecs[:, order[0]],
            "n_hvp": count[0], "converged": converged}


def power_iteration(obj, dtype):
    """PyHessian's estimate of the top eigenvalue: v <- Hv/||Hv|| until the Rayleigh
    quotient changes by less than POWER_TOL relative, at most POWER_MAXIT products."""
    v = unit_vector(obj.n_params, SEED_POWER, dtype)
    value, n = None, 0
    while n < POWER_MAXIT:
        hv = obj.hvp(v)
        n += 1
        rayleigh = float(v @ hv)
        v = hv / hv.norm()
        done = value is not None and abs(value - rayleigh) / (abs(value) + 1e-6) < POWER_TOL
        value = rayleigh
        if done:
            break
    return {"eigenvalue": value, "n_hvp": n}


def bench_workload(name):
    widths, act, bias, n = WORKLOADS[name]
    dtype = getattr(torch, ARGS.dtype)
    npdtype = getattr(np, ARGS.dtype)
    parts = ARGS.parts
    rss = {"after_import": peak_rss_mb()}
    x, y, data = build_data(name, widths, n, dtype)
    obj = Objective(build_network(widths, act, bias, dtype), x, y)
    out = {"workload": name, "dtype": ARGS.dtype, "threads": ARGS.threads, "widths": widths,
           "activation": act, "bias": bias, "N": x.shape[0], "n_params": obj.n_params,
           "data": data, "env": environment(),
           "settings": {"parts": parts, "repeats": ARGS.repeats, "warmup": ARGS.warmup,
                        "eig_warmup": ARGS.eig_warmup, "budget_s": ARGS.budget,
                        "min_repeats": ARGS.min_repeats},
           "maxrss_mb": rss}
    with torch.no_grad():
        out["loss0"] = float(obj.loss())
    timed = {"repeats": ARGS.repeats, "warmup": ARGS.warmup}

    if "grad" in parts:
        out["grad"], g = measure(obj.gradient, **timed)
        out["grad"]["grad_norm"] = float(g.norm())
        rss["after_grad"] = peak_rss_mb()

    if any(p in parts for p in ("hvp", "eig1", "power", "eig10")):
        t0 = time.perf_counter()
        obj.build_graph()
        out["graph_build_s_first"] = time.perf_counter() - t0

    if "hvp" in parts:
        v = unit_vector(obj.n_params, SEED_DIRECTION, dtype)
        out["hvp_fresh"], hv_fresh = measure(lambda: obj.hvp_fresh(v), **timed)
        rss["after_hvp_fresh"] = peak_rss_mb()
        out["graph_build"], _ = measure(obj.build_graph, **timed)
        out["hvp_reuse"], hv = measure(lambda: obj.hvp(v), **timed)
        rss["after_hvp_reuse"] = peak_rss_mb()
        # Untimed checks that the products are right: the two routes agree, the operator
        # is symmetric, and (float64) a central difference of gradients matches.
        u = unit_vector(obj.n_params, SEED_DIRECTION + 100, dtype)
        uhv, vhu = float(u @ hv), float(v @ obj.hvp(u))
        out["hvp_checks"] = {
            "vHv": float(v @ hv),
            "fresh_vs_reuse_relerr": float((hv_fresh - hv).norm() / hv.norm()),
            "symmetry_relerr": abs(uhv - vhu) / (abs(uhv) + 1e-30)}
        if ARGS.dtype == "float64":
            fd = obj.hvp_finite_difference(v, 1e-5)
            out["hvp_checks"]["finite_diff_relerr"] = float((fd - hv).norm() / hv.norm())
            obj.build_graph()  # the parameters were written to: the kept graph is stale
        if "grad" in out:
            for key in ("hvp_fresh", "hvp_reuse"):
                out[key]["ratio_to_grad"] = out[key]["median_s"] / out["grad"]["median_s"]

    def eig_part(key, k):
        entry, res = measure(lambda: eigsh_top(obj, k, npdtype), ARGS.repeats, ARGS.eig_warmup)
        top = res["top"]  # residual of the top pair, untimed
        resid = obj.hvp(torch.from_numpy(np.ascontiguousarray(top))).numpy() - res["values"][0] * top
        entry.update({"n_hvp": res["n_hvp"], "converged": res["converged"],
                      "eigenvalues": res["values"],
                      "top_residual_rel": float(np.linalg.norm(resid) / abs(res["values"][0])
                                                / np.linalg.norm(top))})
        out[key] = entry
        rss["after_" + key] = peak_rss_mb()

    if "eig1" in parts:
        eig_part("eig1", 1)
    if "power" in parts:
        entry, res = measure(lambda: power_iteration(obj, dtype), ARGS.repeats, ARGS.eig_warmup)
        entry.update(res, tol=POWER_TOL, max_iter=POWER_MAXIT)
        out["power"] = entry
        rss["after_power"] = peak_rss_mb()
    if "eig10" in parts:
        eig_part("eig10", 10)
    rss["peak"] = peak_rss_mb()
    return out


def main():
    if ARGS.workload == "gemm":
        result = bench_gemm(ARGS.gemm_n)
    else:
        result = bench_workload(ARGS.workload)
    print(json.dumps(result))


if __name__ == "__main__":
    status = 0
    try:
        main()
    except Exception:
        import traceback
        traceback.print_exc()
        status = 1
    # Debian's torch 1.13 may hang in interpreter shutdown while autograd graphs are
    # still alive; flush and leave without running the finalisers.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
