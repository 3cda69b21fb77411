"""bench/peer_env.py: what the PyTorch peers (peer_torch.py, peer_loops.py) share.

set_threads() must run before numpy or torch is imported: OpenBLAS and OpenMP read their
thread counts when those load. environment() is the record each peer prints with its
figures: versions, thread count, the BLAS kernel settings and the BLAS library loaded.
"""
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


def read_idx(path):
    """An IDX file (gzip), as the peers read Fashion-MNIST: a numpy array of its dims."""
    import gzip
    import numpy as np  # loaded by now: the peers call set_threads first
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
