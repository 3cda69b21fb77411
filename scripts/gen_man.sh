#!/usr/bin/env bash
# gen_man.sh: writes curvscope's man page with help2man (Debian's help2man) from the
# binary's --help, with a section per subcommand and study from their own --help (each
# printed from its option tables, so the page lists every option with its default).
# Installed by meson as share/man/man1/curvscope.1.
#
#   bash scripts/gen_man.sh path/to/curvscope curvscope.1
set -euo pipefail
# In a sanitizer build the binary runs here at build time: its --help is no place for a
# leak check (the tests do those), and a report must not fail the build.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
bin=$1 out=$2
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT
# roff-safe text: backslashes doubled, a leading '.' or "'" escaped, in no-fill blocks
roff() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
{
  echo "[COMMANDS]"
  for c in $("$bin" --help | awk '/^  [a-z][a-z-]* / { print $1 }'); do
    if [ "$c" = study ]; then
      for s in $("$bin" study --help | awk '/^  [a-z][a-z-]* / { print $1 }'); do
        printf '.SS "study %s"\n.nf\n' "$s"
        "$bin" study "$s" --help | roff
        printf '.fi\n'
      done
    else
      printf '.SS "%s"\n.nf\n' "$c"
      "$bin" "$c" --help | roff
      printf '.fi\n'
    fi
  done
  printf '[SEE ALSO]\nThe documentation in the source tree: README.md and docs/ (docs/INPUTS.md: options,\nconfig files and what is refused; docs/SCHEMA.md: the database).\n'
} >"$inc"
help2man --no-info --no-discard-stderr --section 1 \
  --name "exact curvature of neural-network training, logged to SQLite" \
  --include "$inc" --output "$out" "$bin"
