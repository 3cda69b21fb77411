#!/usr/bin/env bash
# setup_bench.sh: installs what the peer benchmark (bench/peer_torch.py, run by bench/compare)
# needs: Debian's PyTorch, SciPy (ARPACK's eigsh), NumPy and scikit-learn (the real digits,
# which `curvscope bench --workload digits` reads from the same package), for the system
# python3. Installs only what is missing (apt-get as root; otherwise prints the command to run).
# Idempotent: with everything in place it checks the imports and exits 0.
#
#   scripts/setup_bench.sh
set -euo pipefail

pkgs=(python3 python3-torch python3-scipy python3-numpy python3-sklearn)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup_bench: missing Debian packages: ${missing[*]}" >&2
    echo "setup_bench: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup_bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${missing[@]}" >/dev/null
fi

# The peer runs under /usr/bin/python3 (bench/compare --python): check that it sees them.
/usr/bin/python3 -c "import torch, scipy.sparse.linalg, numpy, sklearn.datasets" || {
  echo "setup_bench: /usr/bin/python3 cannot import torch, scipy, numpy or sklearn" >&2
  exit 1
}
