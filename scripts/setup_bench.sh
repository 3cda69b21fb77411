#!/usr/bin/env bash
# setup_bench.sh: installs what the peer benchmark (bench/peer_torch.py, run by bench/compare)
# needs: Debian's PyTorch, SciPy (ARPACK's eigsh), NumPy and scikit-learn (the real digits,
# which `curvscope bench --workload digits` reads from the same package), for the system
# python3, and python3-skimage for the photographs of docs/SPECTRAL.md's image runs.
# Installs only what is missing (apt-get as root; otherwise prints the command to run).
# Idempotent: with everything in place it checks the imports and exits 0.
#
#   scripts/setup_bench.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/apt_install_missing.sh" setup_bench \
  python3 python3-torch python3-scipy python3-numpy python3-sklearn python3-skimage

# The peer runs under /usr/bin/python3 (bench/compare --python): check that it sees them.
/usr/bin/python3 -c "import torch, scipy.sparse.linalg, numpy, sklearn.datasets" || {
  echo "setup_bench: /usr/bin/python3 cannot import torch, scipy, numpy or sklearn" >&2
  exit 1
}
