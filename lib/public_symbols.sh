#!/usr/bin/env bash
# public_symbols.sh: the functions libcurvscope's installed headers declare, one a line,
# sorted: what lib/curvscope.map must export (static inline helpers excluded).
#   usage: public_symbols.sh INCLUDEDIR [CFLAGS...]
# INCLUDEDIR is an installed include/ (holding curvscope/); CFLAGS what else the headers
# need (pkg-config --cflags curvscope gives all of it). Needs gcc (-aux-info).
set -euo pipefail
inc=$(cd "${1:?usage: public_symbols.sh INCLUDEDIR [CFLAGS...]}" && pwd)
shift
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
echo '#include <curvscope/curvscope.h>' >"$t/all.c"
gcc -std=c11 -I"$inc" -I"$inc/curvscope" "$@" -aux-info "$t/decls.txt" -fsyntax-only "$t/all.c"
# Lines read "/* FILE:LINE:NC */ extern TYPE NAME (ARGS);": keep those from our headers.
grep -F "/* $inc/curvscope/" "$t/decls.txt" | grep -v '\*/ static ' |
  sed -E 's/^.*\*\/ [^(]*[ *]([A-Za-z_][A-Za-z0-9_]*) \(.*$/\1/' | sort -u
