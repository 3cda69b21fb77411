"""bench/peer_env.py: what the PyTorch peers (peer_torch.py, peer_loops.py) share.

set_threads() must run before numpy or torch is imported: OpenBLAS and OpenMP read their
thread counts when those load. environment() is the record each peer prints with its
figures: versions, thread count, the BLAS kernel settings and the BLAS library loaded.
fashion_mnist() loads the first n training images as curvscope's fashion-mnist loader does.
"""
import gzip
import os
import re
import sys


def set_threads(n):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def environment(np, torch, **versions):
    """versions: other libraries' versions to record (scipy=scipy.__version__)."""
    env = {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
           "torch_num_threads": torch.get_num_threads()}
    env.update(versions)
    for var in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY"):
        env[var] = os.environ.get(var)
    try:
        m = re.search(r"BLAS_INFO=([^,]*)", torch.__config__.show())
        env["torch_blas_info"] = m.group(1) if m else None
    except Exception:  # builds without __config__
        env["torch_blas_info"] = None
    with open("/proc/self/maps") as f:  # the BLAS library torch and numpy loaded
        env["blas_libraries"] = sorted({l.split()[-1] for l in f if "blas" in l.split()[-1]})
    return env


FMNIST_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(n, dtype):
    """The first n training images (pixels/255, standardised per pixel with the whole
    training set's mean and standard deviation, as curvscope's loader) and one-hot
    targets, as torch tensors of dtype."""
    import numpy as np
    import torch
    images = read_idx(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz"))
    x_all = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    mean, std = x_all.mean(axis=0), x_all.std(axis=0)
    std[std == 0] = 1.0
    x = (x_all[:n] - mean) / std
    y = np.eye(10)[labels[:n]]
    return torch.from_numpy(x).to(dtype).contiguous(), torch.from_numpy(y).to(dtype).contiguous()
