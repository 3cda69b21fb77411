#!/usr/bin/python3
"""bench/peer_loops.py: the PyTorch side of bench/compare's loop workloads.

The training loops two of curvscope's studies run, written the way one writes them in
PyTorch, with the same measurement inside; `curvscope bench --workload pc-bias|spectral`
is our side (cli/bench_loop.c). Prints ONE line of JSON on stdout.

    /usr/bin/python3 bench/peer_loops.py --workload pc-bias|spectral|stein [--threads 2]
        [--dtype float64|float32|both] [--repeats 5] [--steps 500] [--budget 20]
        [--gemm-n 2048]

pc-bias   Fashion-MNIST, the first 5000 training images (pixels/255, standardised per
          pixel with the whole training set's mean and standard deviation, as curvscope's
          fashion-mnist loader), one-hot targets; the bias-free linear net 784-256-10
          (nn.Linear, default init after torch.manual_seed(0)); loss 1/(2n) sum ||Wx - y||^2;
          full-batch torch.optim.SGD, lr 0.006. The probe (issue 13): W = W_2 W_1, multiplied
          from the output side, P = (W - W*) U^T with Sigma = X^T X / n = U D U^T and W* the
          least-squares map (eigh, computed once, untimed), e_j = ||P_j|| / ||P_j(0)|| for the
          top 20 components and the excess loss 1/2 sum_j d_j ||P_j||^2, kept in a list.
          A training step and a probe call are timed in alternation with a torch.mm of
          gemm-n^2 (the DGEMM rate in the same process), round by round; medians.
spectral  Rahaman et al.'s experiment: 200 points z_i = i/200, y = sum_k sin(2 pi k z +
          2 pi phi_k) for k = 5, 10, ..., 50 (phases from numpy's default_rng(0)); 1-256x5-1
          ReLU (nn.Linear default init, seed 0); loss 1/2 mean (f - y)^2; full-batch
          torch.optim.Adam lr 3e-4. Every 100 iterations the measurement: the net on the
          grid, torch.fft.rfft / N, the normalised magnitude 2|F(k)|/A_k and relative error
          |F(k) - T(k)|/|T(k)| at each target k, the residual spectrum, tau_k bookkeeping,
          all kept in lists. Per iteration: the wall time of `--steps` iterations with the
          measurement over the count, and of the same loop without it; `--repeats` rounds
          (after an untimed one), each with a torch.mm of gemm-n^2; medians. Also the
          process's CPU time per iteration (time.process_time: all threads), the work
          done whatever the machine's load. --dtype both
          runs float64 and float32 in this order in one process.
stein     One epoch of neural Stein critic training (Repasky et al.'s d = 25 mixture):
          2000 samples of p = 1/2 N(0, S1) + 1/2 N(1/2 1, S2) (S1 = I with 0.5 at (0,1),
          (1,0); S2 = D(I with -0.5 there)D, D = diag(0.8, 1, ...)), their scores under q
          (the same means, identity covariances) computed once; the critic 25-512-512-25
          (nn.Linear, SiLU = Swish, zero biases); per batch of 200 the loss
          -mean(s_q.f + e^T (df/dx) e) + (lambda/2) mean |f|^2, lambda = 0.4, one Gaussian
          probe e per row, the divergence by double backward (torch.autograd.grad with
          create_graph=True, as LSD's code), loss.backward(), torch.optim.Adam lr 1e-3.
          The epoch (randperm, 10 batches) in wall and CPU time; `--repeats` rounds after
          an untimed one, each with a torch.mm of gemm-n^2; medians. Each round also
          times what a study does after each epoch: the statistic s_q.f + div f on 1000
          rows (the first 1000 samples), the exact divergence by d = 25 autograd.grad
          calls per batch of 200, no gradient in theta (val_s, val_cpu_s).

Dependencies: Debian's python3-torch and python3-numpy (scripts/setup_bench.sh).
"""
import argparse
import json
import os
import statistics
import sys
import time

import peer_env

WORKLOADS = ("pc-bias", "spectral", "stein")
PC_N, PC_WIDTH, PC_LR, PC_K = 5000, 256, 0.006, 20
SP_N, SP_WIDTH, SP_HIDDEN, SP_LR, SP_EVERY = 200, 256, 5, 3e-4, 100
SP_FREQS = list(range(5, 55, 5))
ST_D, ST_N, ST_WIDTH, ST_BATCH, ST_LR, ST_LAMBDA = 25, 2000, 512, 200, 1e-3, 0.4
ST_NVAL = 1000


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, choices=WORKLOADS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32", "both"))
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (after one untimed)")
    ap.add_argument("--steps", type=int, default=500, help="spectral: iterations per round")
    ap.add_argument("--budget", type=float, default=20.0,
                    help="stop after this many timed seconds (at least 3 rounds)")
    ap.add_argument("--gemm-n", type=int, default=2048, help="reference matrix product size")
    a = ap.parse_args(argv)
    for name in ("threads", "repeats", "steps", "gemm_n"):
        if getattr(a, name) < 1:
            ap.error("--%s must be at least 1" % name.replace("_", "-"))
    return a


ARGS = parse_args(sys.argv[1:])
peer_env.set_threads(ARGS.threads)  # before numpy and torch load

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(ARGS.threads)


class Gemm:
    """A gemm_n^2 torch.mm in the workload's dtype (float64: the DGEMM rate)."""

    def __init__(self, n, dtype):
        gen = torch.Generator().manual_seed(99)
        self.n = n
        self.a = torch.randn(n, n, generator=gen, dtype=torch.float64).to(dtype)
        self.b = torch.randn(n, n, generator=gen, dtype=torch.float64).to(dtype)
        self.c = torch.empty(n, n, dtype=dtype)

    def seconds(self):
        t0 = time.perf_counter()
        torch.mm(self.a, self.b, out=self.c)
        return time.perf_counter() - t0

    def gflops(self, s):
        return 2.0 * self.n ** 3 / s / 1e9


def rounds(one_round, extra_seconds=lambda r: sum(r)):
    """One untimed round, then up to ARGS.repeats timed ones (at least 3; stop once the
    timed seconds pass ARGS.budget). one_round() returns a tuple of seconds."""
    one_round()
    out, total = [], 0.0
    while len(out) < max(3, ARGS.repeats):
        r = one_round()
        out.append(r)
        total += extra_seconds(r)
        if total > ARGS.budget and len(out) >= 3:
            break
    return [statistics.median(col) for col in zip(*out)], len(out)


# ------------------------------------------------------------------ pc-bias

def pc_bias(dtype):
    x, y = peer_env.fashion_mnist(PC_N, dtype)
    n, d = x.shape
    torch.manual_seed(0)
    layers = [torch.nn.Linear(d, PC_WIDTH, bias=False), torch.nn.Linear(PC_WIDTH, 10, bias=False)]
    model = torch.nn.Sequential(*layers).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=PC_LR)
    # the data's side, once: Sigma = U D U^T, W* = Sigma_YX Sigma^+
    sigma = x.T @ x / n
    evals, evecs = torch.linalg.eigh(sigma)
    order = torch.argsort(evals, descending=True)
    evals, u = evals[order].clamp(min=0), evecs[:, order].T.contiguous()  # rows u_j
    keep = evals > d * torch.finfo(dtype).eps * evals[0]
    inv = torch.where(keep, 1.0 / torch.where(keep, evals, torch.ones_like(evals)),
                      torch.zeros_like(evals))
    w_star = ((y.T @ x / n) @ u.T * inv) @ u
    history, norm0 = [], []

    def probe():
        with torch.no_grad():
            w = layers[-1].weight
            for layer in reversed(layers[:-1]):
                w = w @ layer.weight
            p = (w - w_star) @ u.T
            norms = p[:, :PC_K].norm(dim=0)
            excess = 0.5 * float((evals * (p * p).sum(dim=0)).sum())
            if not norm0:
                norm0.append(norms.clone())
            history.append(((norms / norm0[0]).numpy().copy(), excess))

    losses = []

    def step():
        opt.zero_grad()
        r = model(x) - y
        loss = 0.5 * (r * r).sum() / n
        loss.backward()
        opt.step()
        losses.append(float(loss))

    gemm = Gemm(ARGS.gemm_n, dtype)

    def one_round():
        tg = gemm.seconds()
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        probe()
        return tg, t1 - t0, time.perf_counter() - t1

    (tg, ts, tp), k = rounds(one_round, lambda r: r[1] + r[2])
    return {"rounds": k, "gemm_gflops": gemm.gflops(tg), "step_s": ts, "probe_s": tp,
            "probe_over_step": tp / ts, "loss_first": losses[0], "loss_last": losses[-1],
            "e_last_top3": [float(v) for v in history[-1][0][:3]]}


# ------------------------------------------------------------------ spectral

def spectral(dtype):
    z = torch.arange(SP_N, dtype=torch.float64) / SP_N
    phases = np.random.default_rng(0).random(len(SP_FREQS))
    y64 = sum(torch.sin(2 * np.pi * k * z + 2 * np.pi * ph) for k, ph in zip(SP_FREQS, phases))
    x, y = z.reshape(-1, 1).to(dtype), y64.reshape(-1, 1).to(dtype)
    target_f = torch.fft.rfft(y.reshape(-1)) / SP_N
    ks = torch.tensor(SP_FREQS)
    amps = torch.ones(len(SP_FREQS), dtype=dtype)
    torch.manual_seed(0)
    layers, width_in = [], 1
    for _ in range(SP_HIDDEN):
        layers += [torch.nn.Linear(width_in, SP_WIDTH), torch.nn.ReLU()]
        width_in = SP_WIDTH
    model = torch.nn.Sequential(*layers, torch.nn.Linear(SP_WIDTH, 1)).to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=SP_LR)
    tau = [None] * len(SP_FREQS)
    record = {"t": 0, "amp": [], "resid": [], "loss": []}

    def measure(t):
        with torch.no_grad():
            f = torch.fft.rfft(model(x).reshape(-1)) / SP_N
            diff = (target_f - f).abs()
            record["amp"].append((2 * f[ks].abs() / amps).numpy().copy())
            err = (diff[ks] / target_f[ks].abs()).numpy()
            resid = 2 * diff
            resid[0] = diff[0]
            resid[-1] = diff[-1]
            record["resid"].append(resid.numpy().copy())
            for i, e in enumerate(err):
                if tau[i] is None and e < 0.5:
                    tau[i] = t

    def iterate(steps, with_probe):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            t = record["t"]
            if with_probe and t % SP_EVERY == 0:
                measure(t)
            opt.zero_grad()
            r = model(x) - y
            loss = 0.5 * (r * r).mean()
            loss.backward()
            opt.step()
            record["loss"].append(float(loss))
            record["t"] = t + 1
        return time.perf_counter() - t0, time.process_time() - c0

    gemm = Gemm(ARGS.gemm_n, dtype)

    def one_round():
        tg = gemm.seconds()
        return (tg,) + iterate(ARGS.steps, True) + iterate(ARGS.steps, False)

    (tg, ti, ci, tn, cn), k = rounds(one_round, lambda r: r[1] + r[3])
    return {"rounds": k, "gemm_gflops": gemm.gflops(tg), "iterations": ARGS.steps,
            "iter_s": ti / ARGS.steps, "iter_noprobe_s": tn / ARGS.steps,
            "iter_cpu_s": ci / ARGS.steps, "iter_noprobe_cpu_s": cn / ARGS.steps,
            "loss_first": record["loss"][0], "loss_last": record["loss"][-1],
            "measurements": len(record["amp"]),
            "tau": [t if t is not None else None for t in tau]}


# ------------------------------------------------------------------ stein

def mixture_scores(x, means):
    """The score of q = mean of N(mu_k, I) at the rows of x."""
    diffs = x[:, None, :] - means[None, :, :]                  # n, K, d
    logr = -0.5 * (diffs * diffs).sum(axis=2)
    logr -= logr.max(axis=1, keepdims=True)
    r = np.exp(logr)
    r /= r.sum(axis=1, keepdims=True)
    return -(r[:, :, None] * diffs).sum(axis=1)


def stein(dtype):
    d, n, rng = ST_D, ST_N, np.random.default_rng(0)
    means = np.zeros((2, d))
    means[1] = 0.5
    s1, s2 = np.eye(d), np.eye(d)
    s1[0, 1] = s1[1, 0] = 0.5
    s2[0, 1] = s2[1, 0] = -0.5
    dd = np.ones(d)
    dd[0] = 0.8
    s2 = dd[:, None] * s2 * dd[None, :]
    comp = rng.integers(0, 2, n)
    z = rng.standard_normal((n, d))
    x = np.where(comp[:, None] == 0, z @ np.linalg.cholesky(s1).T,
                 means[1] + z @ np.linalg.cholesky(s2).T)
    sq = mixture_scores(x, means)
    x, sq = torch.from_numpy(x).to(dtype), torch.from_numpy(sq).to(dtype)
    # validation: the first ST_NVAL rows again, as in the study the exact divergence (d
    # backward passes, the usual way) and s_q·f per row, in chunks of the batch, no gradient in θ
    xv = x[:ST_NVAL]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(d, ST_WIDTH), torch.nn.SiLU(),
                                torch.nn.Linear(ST_WIDTH, ST_WIDTH), torch.nn.SiLU(),
                                torch.nn.Linear(ST_WIDTH, d)).to(dtype)
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=ST_LR)
    losses = []

    def epoch():
        t0, c0 = time.perf_counter(), time.process_time()
        perm, total = torch.randperm(n), 0.0
        for s in range(0, n, ST_BATCH):
            idx = perm[s:s + ST_BATCH]
            xb = x[idx].requires_grad_(True)
            f = model(xb)
            e = torch.randn_like(xb)
            g = torch.autograd.grad((f * e).sum(), xb, create_graph=True)[0]
            div = (g * e).sum(dim=1)
            loss = -((sq[idx] * f).sum(dim=1) + div).mean() + \
                0.5 * ST_LAMBDA * (f * f).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
        losses.append(total / (n // ST_BATCH))
        return time.perf_counter() - t0, time.process_time() - c0

    def validate():
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(0, ST_NVAL, ST_BATCH):
            xb = xv[s:s + ST_BATCH].clone().requires_grad_(True)
            f = model(xb)
            div = torch.zeros(xb.shape[0], dtype=dtype)
            for k in range(d):
                gk = torch.autograd.grad(f[:, k].sum(), xb, retain_graph=k < d - 1)[0]
                div += gk[:, k]
            t = ((sq[s:s + ST_BATCH] * f).sum(dim=1) + div).detach()
        return time.perf_counter() - t0, time.process_time() - c0

    gemm = Gemm(ARGS.gemm_n, dtype)

    def one_round():
        tg = gemm.seconds()
        return (tg,) + epoch() + validate()

    (tg, te, ce, tv, cv), k = rounds(one_round, lambda r: r[1] + r[3])
    return {"rounds": k, "gemm_gflops": gemm.gflops(tg), "samples": n, "batch": ST_BATCH,
            "epoch_s": te, "epoch_cpu_s": ce, "val_rows": ST_NVAL, "val_s": tv,
            "val_cpu_s": cv, "loss_first": losses[0], "loss_last": losses[-1]}


def main():
    dtypes = ("float64", "float32") if ARGS.dtype == "both" else (ARGS.dtype,)
    out = {"workload": ARGS.workload, "threads": ARGS.threads, "env": peer_env.environment(np, torch),
           "settings": {"repeats": ARGS.repeats, "steps": ARGS.steps, "budget_s": ARGS.budget,
                        "gemm_n": ARGS.gemm_n}, "results": {}}
    run = {"pc-bias": pc_bias, "spectral": spectral, "stein": stein}[ARGS.workload]
    for name in dtypes:
        torch.manual_seed(0)
        out["results"][name] = run(getattr(torch, name))
    print(json.dumps(out))


if __name__ == "__main__":
    status = 0
    try:
        main()
    except Exception:
        import traceback
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # as peer_torch.py: Debian's torch may hang at interpreter exit
