#!/usr/bin/env bash
# e2e_standalone.sh: the repository stands on its own (issue 17). No tracked file may point
# outside it: no ../shared (the developers' private notes), no SCIENCE.md, and every NAME.md
# a file mentions must exist, relative to the repository root or to the mentioning file's
# folder (so docs/MATH.md is fine and a bare MATH.md in core/ is not). The checker is first
# run on a planted tree, to show it finds each kind of bad reference. TAP output.
#
#   bash tests/e2e_standalone.sh path/to/source/root
. "$(dirname "$0")/tap.sh"
export LC_ALL=C GIT_CEILING_DIRECTORIES=${TMPDIR:-/tmp}  # byte-wise grep and sort; no repo above T
ROOT=$(cd "${1:?usage: e2e_standalone.sh path/to/source/root}" && pwd) || exit 1
SELF=tests/e2e_standalone.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/cs_standalone.XXXXXX")
trap 'rm -rf "$T"' EXIT

# The files to check, one per line, relative to $1: git's tracked files, or every file when
# the tree is not a git checkout (a source tarball). This script names the patterns itself.
list_files() {
  if git -C "$1" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$1" ls-files
  else
    (cd "$1" && find . -type f ! -path './.git/*' ! -path './build*' ! -path '*/node_modules/*' \
       ! -path './report/vendor/*' | sed 's|^\./||')
  fi | grep -vxF "$SELF"
}

# Lines "file:line: text" of text files under $1 that match the extended regex $2.
scan() {
  local root=$1 re=$2
  (cd "$root" && list_files "$root" | tr '\n' '\0' | xargs -0 -r grep -nIE -- "$re" || true)
}

# Mentions "file:line: NAME.md" whose target exists neither from the root nor from the file.
dangling_md() {
  local root=$1 f line ref
  (cd "$root" && list_files "$root" | tr '\n' '\0' |
     xargs -0 -r grep -noIE -- '[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md\b' || true) |
    while IFS=: read -r f line ref; do
      case $ref in /*) continue ;; esac  # absolute paths and URLs: not ours to resolve
      [ -f "$root/$ref" ] || [ -f "$root/$(dirname "$f")/$ref" ] || echo "$f:$line: $ref"
    done
}

SHARED_RE='(\.\./|/work/)shared\b'
SCIENCE_RE='SCIENCE\.md'

# ---- the checker on a planted tree -------------------------------------------------------
P=$T/planted
mkdir -p "$P/docs" "$P/core" "$P/bench"
echo "see docs/OK.md and LOCAL.md" >"$P/docs/LOCAL.md"
echo "# OK" >"$P/docs/OK.md"
printf '%s\n' '/* act.c: derivatives (MATH.md table) */' >"$P/core/act.c"
printf '%s\n' 'peer = "../shared/bench/peer_torch.py"' >"$P/bench/compare"
printf '%s\n' 'definitions: SCIENCE.md section 2, docs/GONE.md' >"$P/docs/EOS.md"
printf '%s\n' 'fine: docs/OK.md, https://example.org/README.md, /usr/share/doc/x/README.md' \
  >"$P/README.md"
got_shared=$(scan "$P" "$SHARED_RE")
got_science=$(scan "$P" "$SCIENCE_RE")
got_md=$(dangling_md "$P" | sort)
want_md=$'core/act.c:1: MATH.md\ndocs/EOS.md:1: SCIENCE.md\ndocs/EOS.md:1: docs/GONE.md'
[ "$got_shared" = "bench/compare:1:peer = \"../shared/bench/peer_torch.py\"" ]
ok $? "planted tree: the ../shared reference is found (got '$got_shared')"
[[ $got_science == docs/EOS.md:1:* ]] && [ "$(wc -l <<<"$got_science")" -eq 1 ]
ok $? "planted tree: the SCIENCE.md reference is found (got '$got_science')"
[ "$got_md" = "$want_md" ]
ok $? "planted tree: exactly the dangling NAME.md mentions are found (got '${got_md//$'\n'/; }')"
git -C "$P" init -q && git -C "$P" add bench/compare docs/OK.md
[ "$(list_files "$P" | sort | tr '\n' ' ')" = "bench/compare docs/OK.md " ]
ok $? "in a git checkout only the tracked files are checked"

# ---- the repository ---------------------------------------------------------------------
[ "$(list_files "$ROOT" | wc -l)" -gt 50 ]; ok $? "the repository's files are listed from $ROOT"
bad=$(scan "$ROOT" "$SHARED_RE")
[ -z "$bad" ]; ok $? "no file references ../shared or /work/shared"
[ -z "$bad" ] || diag <<<"$bad"
bad=$(scan "$ROOT" "$SCIENCE_RE")
[ -z "$bad" ]; ok $? "no file references SCIENCE.md"
[ -z "$bad" ] || diag <<<"$bad"
bad=$(dangling_md "$ROOT")
[ -z "$bad" ]; ok $? "every NAME.md a file mentions exists (docs/MATH.md, docs/EOS.md, ...)"
[ -z "$bad" ] || diag <<<"$bad"
for f in docs/MATH.md docs/EOS.md bench/peer_torch.py scripts/setup_bench.sh; do
  [ -s "$ROOT/$f" ]; ok $? "$f is in the repository"
done
tap_end
