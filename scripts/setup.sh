#!/usr/bin/env bash
# setup.sh: installs what curvscope needs on Debian and builds it into build/.
#
#   scripts/setup.sh            build dependencies + Fashion-MNIST + report assets, then build
#   scripts/setup.sh --test     also what the tests need (chromium for the report's browser test,
#                               poppler-utils for its print test, clang and its libFuzzer
#                               runtime for the fuzzers, Slurm and munge for e2e_slurm.sh,
#                               Open MPI and PARPACK for the data-parallel build and e2e_mpi.sh)
#
# Installs only what is missing (apt-get as root; otherwise prints the command to run).
# Without root a missing fuzzer toolchain is not an error: scripts/test_fuzz.sh then skips
# the fuzz step and says so.
# Idempotent: with everything in place it only runs the (incremental) build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=(build-essential meson ninja-build pkg-config python3 libopenblas-openmp-dev libarpack2-dev
      liblapacke-dev libsqlite3-dev sqlite3 zlib1g-dev libfftw3-dev libpng-dev help2man
      dataset-fashion-mnist)
# the report's print test rasterises the printed PDF with pdftoppm; e2e_slurm.sh runs its own
# single-node Slurm (the daemons are started by the test, never enabled as services)
# e2e_mpi.sh runs mpirun -np 2 and 3 (the build's -Dmpi=auto then finds Open MPI; a plain
# build without these packages still builds, serial only: docs/SCALING.md)
if [ $want_test -eq 1 ]; then
  pkgs+=(poppler-utils slurmctld slurmd slurm-client munge libopenmpi-dev openmpi-bin
         libparpack2-dev)
fi
# node and npm may come from another packaging (with npm inside nodejs): check the commands.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
# The fuzzers (tests/fuzz) need clang and its compiler-rt (libFuzzer, sanitizers).
if [ $want_test -eq 1 ]; then
  fuzz_pkgs=(clang libclang-rt-14-dev)
  if [ "$(id -u)" -eq 0 ]; then
    pkgs+=("${fuzz_pkgs[@]}")
  elif ! bash scripts/apt_install_missing.sh setup "${fuzz_pkgs[@]}" 2>/dev/null; then
    echo "setup: clang or libclang-rt-14-dev is missing: the fuzz step of make test will be" \
         "skipped (sudo apt-get install -y ${fuzz_pkgs[*]})" >&2
  fi
fi
bash scripts/apt_install_missing.sh setup "${pkgs[@]}"

if [ $want_test -eq 1 ]; then
  bash scripts/setup_report.sh
else
  bash scripts/setup_report.sh --no-browser
fi

if [ ! -f build/build.ninja ]; then
  werror=false
  [ -n "${CI:-}" ] && werror=true
  meson setup build --buildtype=release -Dwerror=$werror >/dev/null
fi
ninja -C build
