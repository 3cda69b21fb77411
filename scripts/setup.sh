#!/usr/bin/env bash
# setup.sh: installs what curvscope needs on Debian and builds it into build/.
#
#   scripts/setup.sh            build dependencies + Fashion-MNIST + report assets, then build
#   scripts/setup.sh --test     also what the tests need (chromium for the report's browser test,
#                               poppler-utils for its print test)
#
# Installs only what is missing (apt-get as root; otherwise prints the command to run).
# Idempotent: with everything in place it only runs the (incremental) build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=(build-essential meson ninja-build pkg-config python3 libopenblas-openmp-dev libarpack2-dev
      liblapacke-dev libsqlite3-dev sqlite3 zlib1g-dev libfftw3-dev libpng-dev
      dataset-fashion-mnist)
# the report's print test rasterises the printed PDF with pdftoppm
if [ $want_test -eq 1 ]; then pkgs+=(poppler-utils); fi
# node and npm may come from another packaging (with npm inside nodejs): check the commands.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
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
