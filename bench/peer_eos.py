#!/usr/bin/python3
"""bench/peer_eos.py: the PyTorch + SciPy side of bench/compare's eos workload.

The edge-of-stability study as one writes it in PyTorch (as Cohen et al.'s code does:
double-backprop HVPs handed to scipy's eigsh), the same problem as
`curvscope bench --workload eos` (cli/bench_eos.c). Prints ONE line of JSON on stdout.

    /usr/bin/python3 bench/peer_eos.py [--steps 5000] [--every 10] [--tol 1e-6]
        [--threads 1] [--dtype float64|float32] [--no-warm]

Data: the first 1500 Fashion-MNIST training images of classes 0-3 (labels kept as 0..3),
pixels/255 standardised per pixel with the mean and (population) standard deviation of
all training images of those classes, as curvscope's fashion-mnist loader; one-hot
targets. Net: 784-120-120-4 tanh, nn.Linear's default init after torch.manual_seed(0).
Loss 1/(2n) sum ||f(x) - y||^2. Full-batch GD, lr 0.05, for --steps steps; every
--every steps, before the update, the sharpness: eigsh(k=1, which='LA', tol) over a
LinearOperator of HVPs on the graph of that step's gradient (built once per measurement,
create_graph=True; the step's update uses that gradient too), warm-started (v0) from the
previous measurement's eigenvector unless --no-warm. The figures: wall time of the whole
run, the part in the steps with a measurement, the products.

Dependencies: Debian's python3-torch, python3-numpy, python3-scipy (scripts/setup_bench.sh).
"""
import argparse
import json
import os
import sys
import time

import peer_env

N, CLASSES, WIDTHS, LR = 1500, (0, 1, 2, 3), (784, 120, 120, 4), 0.05


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--no-warm", action="store_true", help="cold eigsh at every measurement")
    return ap.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
peer_env.set_threads(ARGS.threads)  # before numpy and torch load

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(ARGS.threads)


def data(dtype):
    images = peer_env.read_idx(os.path.join(peer_env.FMNIST_DIR, "train-images-idx3-ubyte.gz"))
    labels = peer_env.read_idx(os.path.join(peer_env.FMNIST_DIR, "train-labels-idx1-ubyte.gz"))
    keep = np.isin(labels, CLASSES)
    x_all = images[keep].reshape(int(keep.sum()), -1).astype(np.float64) / 255.0
    lab = np.searchsorted(np.array(CLASSES), labels[keep])
    mean, std = x_all.mean(axis=0), x_all.std(axis=0)
    std[std < 1e-12 * (1.0 + np.abs(mean))] = 1.0
    x = (x_all[:N] - mean) / std
    y = np.eye(len(CLASSES))[lab[:N]]
    return torch.from_numpy(x).to(dtype).contiguous(), torch.from_numpy(y).to(dtype).contiguous()


def main():
    dtype = torch.float64 if ARGS.dtype == "float64" else torch.float32
    npdtype = np.float64 if ARGS.dtype == "float64" else np.float32
    x, y = data(dtype)
    torch.manual_seed(0)
    layers = []
    for i in range(len(WIDTHS) - 1):
        layers.append(torch.nn.Linear(WIDTHS[i], WIDTHS[i + 1]))
        if i + 2 < len(WIDTHS):
            layers.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*layers).to(dtype)
    params = list(model.parameters())
    sizes = [p.numel() for p in params]
    n_params = sum(sizes)

    def loss_fn():
        r = model(x) - y
        return 0.5 * (r * r).sum() / x.shape[0]

    products, measurements, unconverged = [0], 0, 0
    values, v0 = [], None
    measure_s, t0 = 0.0, time.time()
    loss_first = loss_last = None
    for step in range(ARGS.steps):
        if step % ARGS.every == 0:
            t1 = time.time()
            loss = loss_fn()
            grads = torch.autograd.grad(loss, params, create_graph=True)

            def matvec(v):
                products[0] += 1
                vt = torch.from_numpy(np.ascontiguousarray(v, dtype=npdtype).reshape(-1))
                pieces = [t.view_as(p) for t, p in zip(torch.split(vt, sizes), params)]
                gv = sum((g * w).sum() for g, w in zip(grads, pieces))
                hv = torch.autograd.grad(gv, params, retain_graph=True)
                return torch.cat([h.reshape(-1) for h in hv]).numpy()

            op = spla.LinearOperator((n_params, n_params), matvec=matvec, dtype=npdtype)
            start = v0 if (v0 is not None and not ARGS.no_warm) else \
                np.random.default_rng(0).standard_normal(n_params).astype(npdtype)
            try:
                w, vecs = spla.eigsh(op, k=1, which="LA", tol=ARGS.tol, v0=start)
            except spla.ArpackNoConvergence as e:
                w, vecs = e.eigenvalues, e.eigenvectors
                unconverged += 1
            values.append(float(w[-1]))
            v0 = vecs[:, -1].copy()
            grad = [g.detach() for g in grads]
            del grads, op
            measurements += 1
            measure_s += time.time() - t1
        else:
            loss = loss_fn()
            grad = torch.autograd.grad(loss, params)
        lv = float(loss)
        if loss_first is None:
            loss_first = lv
        loss_last = lv
        with torch.no_grad():
            for p, g in zip(params, grad):
                p.sub_(LR * g)
    total_s = time.time() - t0
    plain = ARGS.steps - measurements
    out = {"workload": "eos", "dtype": ARGS.dtype, "threads": ARGS.threads,
           "steps": ARGS.steps, "every": ARGS.every, "tol": ARGS.tol,
           "warm": not ARGS.no_warm, "n_params": n_params,
           "total_s": total_s, "measure_s": measure_s, "plain_steps_s": total_s - measure_s,
           "plain_step_s": (total_s - measure_s) / plain if plain else None,
           "measure_one_s": measure_s / measurements, "measurements": measurements,
           "products": products[0], "products_per_measurement": products[0] / measurements,
           "unconverged": unconverged, "sharpness_first": values[0],
           "sharpness_last": values[-1], "sharpness_max": max(values),
           "loss_first": loss_first, "loss_last": loss_last,
           "env": peer_env.environment(np, torch, scipy=scipy.__version__)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
