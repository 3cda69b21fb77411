#!/usr/bin/env python3
"""bench/precision_parting.py: where a --precision mixed run parts from its float64 twin.

Trains the spectral loop (Rahaman's 1-256x5-1 ReLU net, 200 points, Adam 3e-4, one thread)
for --steps steps in f64 and in mixed, for each seed and each OPENBLAS_CORETYPE given, and
prints the first step at which the two runs' gradient norms differ by more than --rel. For
the first parting it then finds the cause: the gradient that each run's Adam took (from the
m of the per-step checkpoints: g_t = (m_t - b1 m_{t-1}) / (1 - b1)), the layer row (a unit's
incoming weights) where the two differ most, and that unit's pre-activation z at every grid
point, evaluated in double at each run's parameters (plain Python, independent of our
passes). A |z| within float32 rounding of 0 means a ReLU kink: the float forward can put the
point on the other side of it, and the gradient jumps by that point's share.

    bench/precision_parting.py [--curvscope build/cli/curvscope] [--seeds 0-1-2]
                               [--kernels Haswell,SkylakeX] [--steps 30]

Only the standard library; the runs go to a scratch directory.
"""
import argparse
import array
import json
import os
import sqlite3
import subprocess
import tempfile


def train(exe, db, seed, prec, kernel, steps):
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OMP_NUM_THREADS="1")
    subprocess.run([exe, "train", "--data", "synth:sines,n=200,freqs=5-10-15-20-25-30-35-40-45-50",
                    "--model", "mlp:1-256-256-256-256-256-1", "--act", "relu", "--opt", "adam",
                    "--lr", "3e-4", "--init", "torch", "--steps", str(steps), "--threads", "1",
                    "--seed", str(seed), "--precision", prec, "--checkpoint-every", "1",
                    "--db", db], check=True, env=env, stdout=subprocess.DEVNULL)
    c = sqlite3.connect(db)
    norms = [r[0] for r in c.execute("select grad_norm from steps order by step")]
    ck = {}
    for st, p, o, lay in c.execute("select step, params, opt_state, layout from checkpoints"):
        th, m = array.array("d"), array.array("d")
        th.frombytes(p)
        m.frombytes(o)
        ck[st] = (th, m, json.loads(lay))
    return norms, ck


def step_grad(ck, t, b1=0.9):
    m = ck[t][1]
    n = len(m) // 2
    mp = ck[t - 1][1] if t > 1 else [0.0] * n
    return [(m[i] - b1 * mp[i]) / (1 - b1) for i in range(n)]


def preact(theta, lay, layer, unit, n=200):
    """z of `unit` in `layer` at the grid points j/n, in double."""
    out = []
    Ls = lay["layers"]
    for j in range(n):
        a = [j / n]
        for L in Ls[:layer]:
            w, b, i_ = L["W"]["offset"], L["b"]["offset"], L["in"]
            a = [max(0.0, sum(theta[w + r * i_ + c] * a[c] for c in range(i_)) + theta[b + r])
                 for r in range(L["out"])]
        L = Ls[layer]
        w, b, i_ = L["W"]["offset"], L["b"]["offset"], L["in"]
        out.append(sum(theta[w + unit * i_ + c] * a[c] for c in range(i_)) + theta[b + unit])
    return out


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--curvscope", default=os.path.join(here, "..", "build/cli/curvscope"))
    ap.add_argument("--seeds", default="0-1-2-3-4-5-6")
    ap.add_argument("--kernels", default="Haswell,SkylakeX")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rel", type=float, default=3e-6)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="parting-")
    first = None
    for seed in a.seeds.split("-"):
        for kern in a.kernels.split(","):
            runs = {p: train(a.curvscope, os.path.join(tmp, "%s_%s_%s.db" % (seed, kern, p)), seed, p,
                             kern, a.steps) for p in ("f64", "mixed")}
            nf, nm = runs["f64"][0], runs["mixed"][0]
            t = next((i for i, (x, y) in enumerate(zip(nf, nm)) if abs(x - y) > a.rel * x), None)
            print("seed %s %-9s first step with |d|g|| > %g |g|: %s" % (seed, kern, a.rel, t))
            if t and not first:
                first = (seed, kern, t, runs)
    if not first:
        return
    seed, kern, t, runs = first
    ckf, ckm = runs["f64"][1], runs["mixed"][1]
    gf, gm = step_grad(ckf, t + 1), step_grad(ckm, t + 1)
    lay = ckf[t][2]
    best = None
    for L in lay["layers"][1:-1]:
        w, i_ = L["W"]["offset"], L["in"]
        for r in range(L["out"]):
            d = sum((gf[w + r * i_ + c] - gm[w + r * i_ + c]) ** 2 for c in range(i_))
            if not best or d > best[0]:
                best = (d, L["index"], r)
    _, layer, unit = best
    print("seed %s %s, the gradient at step %d: the largest f64/mixed difference is in layer %d, "
          "unit %d's incoming weights (%.2e)" % (seed, kern, t, layer, unit, best[0] ** 0.5))
    for prec, ck in (("f64", ckf), ("mixed", ckm)):
        z = preact(ck[t][0], lay, layer, unit)
        k = sorted(range(len(z)), key=lambda j: abs(z[j]))[:3]
        print("  %-5s run's θ at step %d: smallest |z| at grid points %s: %s (max |z| %.3g)" % (
            prec, t, k, ", ".join("%.3e" % z[j] for j in k), max(abs(v) for v in z)))


if __name__ == "__main__":
    main()
