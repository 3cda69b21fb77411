#!/usr/bin/env python3
"""How many Hessian-vector products a top-1 solve needs from different start vectors.

An experiment, not part of bench/compare: on the benchmark workloads (bench/peer_torch.py's
networks and data, float64), the top eigenpair to 1e-10 by eigsh, then a plain Lanczos with
full reorthogonalisation from each start vector, counting products until the residual test
|beta_m s_m| <= tol |theta| (the test of eigsh and of our own Lanczos) and until the value
test est^2 / gap <= tol |theta| (our `--eig-stop value`). Start vectors:

  random        a seeded Gaussian (what eigsh and curvscope use today)
  gradient      the loss gradient
  jmean:F       the top direction of the mean output Jacobian over a fraction F of the rows:
                M = [grad_theta mean_i f_a(x_i)] for each output a (one backward per output),
                c the top eigenvector of the K x K Gram matrix M^T M, start M c. At a network's
                initialisation the Hessian's outlying top eigenvalues come from the outputs'
                mean Jacobian (the part every example shares), so this start lies close to the
                top eigenvector.

    /usr/bin/python3 bench/start_vector.py [--workloads digits,cohen,deeplinear] [--tol 1e-6]

Prints one line per workload and start: the start's overlap |<s, v1>| with the top
eigenvector, the products to the residual test and to the value test. docs/PERFORMANCE.md
("Start vectors for top-1") has a run.
"""
import argparse
import os
import sys

import numpy as np
import torch
import scipy.sparse.linalg as spla

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.argv, _argv = [sys.argv[0], "--workload", "cohen"], sys.argv
import peer_torch as P  # noqa: E402  (its conventions: networks, data, HVPs)
P.ARGS = P.parse_args(sys.argv[1:])
sys.argv = _argv


def lanczos_products(hvp, start, tol, maxit=200):
    """Products until the residual test and until the value test (top-1), full reorth."""
    n = start.shape[0]
    Q = np.zeros((maxit + 1, n))
    q = start / np.linalg.norm(start)
    Q[0] = q
    alpha, beta = [], []
    hit_res = hit_val = None
    for m in range(1, maxit + 1):
        w = hvp(Q[m - 1])
        a = float(w @ Q[m - 1])
        w -= Q[:m].T @ (Q[:m] @ w)
        w -= Q[:m].T @ (Q[:m] @ w)
        b = float(np.linalg.norm(w))
        alpha.append(a)
        beta.append(b)
        T = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
        th, S = np.linalg.eigh(T)
        est = abs(b * S[-1, -1])
        scale = max(abs(th[-1]), 1e-8)
        gap = th[-1] - th[-2] if m > 1 else abs(th[-1])
        if hit_val is None and m > 1 and est * est <= tol * scale * max(gap, 1e-300):
            hit_val = m
        if est <= tol * scale:
            hit_res = m
            break
        Q[m] = w / b
    return hit_res, hit_val


def mean_jacobian_start(obj, x, frac, rng):
    n = x.shape[0]
    rows = torch.from_numpy(np.sort(rng.choice(n, max(1, int(round(n * frac))), replace=False)))
    xs = x[rows]
    out = obj.model(xs)
    cols = []
    for a in range(out.shape[1]):
        g = torch.autograd.grad(out[:, a].sum() / xs.shape[0], obj.params, retain_graph=True)
        cols.append(obj._flat(g).detach().numpy())
    M = np.stack(cols, 1)
    _, U = np.linalg.eigh(M.T @ M)
    return M @ U[:, -1]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="digits,cohen,deeplinear")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.workloads.split(","):
        widths, act, bias, n = P.WORKLOADS[name]
        x, y, _ = P.build_data(name, widths, n, torch.float64)
        obj = P.Objective(P.build_network(widths, act, bias, torch.float64), x, y)
        obj.build_graph()

        def hvp(v):
            return obj.hvp(torch.from_numpy(np.ascontiguousarray(v))).detach().numpy()

        op = spla.LinearOperator((obj.n_params,) * 2, matvec=hvp, dtype=np.float64)
        w, V = spla.eigsh(op, k=1, which="LA", tol=1e-10,
                          v0=np.random.default_rng(0).standard_normal(obj.n_params))
        v1 = V[:, 0]
        rng = np.random.default_rng(3)
        starts = [("random", np.random.default_rng(0).standard_normal(obj.n_params)),
                  ("gradient", obj.gradient().detach().numpy())]
        for frac in (1.0, 0.1, 0.02):
            starts.append(("jmean:%g" % frac, mean_jacobian_start(obj, x, frac, rng)))
        print("%s: P = %d, N = %d, lambda_1 = %.8g, tol %g" % (name, obj.n_params, n, w[0], a.tol))
        for label, s in starts:
            s = s / np.linalg.norm(s)
            res, val = lanczos_products(hvp, s, a.tol)
            print("  %-12s overlap %.3f  products: residual test %s, value test %s"
                  % (label, abs(float(s @ v1)), res, val), flush=True)


if __name__ == "__main__":
    main()
