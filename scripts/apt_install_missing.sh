#!/usr/bin/env bash
# apt_install_missing.sh: installs the Debian packages among PKG... that are not installed yet
# (apt-get as root; otherwise names them, prints the command to run and exits 1). Shared by
# the set-up scripts (setup.sh, setup_bench.sh); TAG prefixes its messages.
#
#   scripts/apt_install_missing.sh TAG PKG...
set -euo pipefail
tag=${1:?usage: apt_install_missing.sh TAG PKG...}
shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "$tag: missing Debian packages: ${missing[*]}" >&2
  echo "$tag: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "$tag: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q "${missing[@]}" >/dev/null
