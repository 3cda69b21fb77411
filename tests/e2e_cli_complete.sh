#!/usr/bin/env bash
# e2e_cli_complete.sh: the generated bash completion and man page (share/meson.build).
# The completion, sourced in a bash, offers the subcommands, the studies and each
# subcommand's own flags (COMPREPLY after _curvscope); the man page renders (man -l, or
# groff) and names every subcommand and study. TAP.
#
#   bash tests/e2e_cli_complete.sh path/to/curvscope path/to/completion [path/to/curvscope.1]
. "$(dirname "$0")/tap.sh"
COMP=$(realpath "$2")
MAN=${3:+$(realpath "$3")}
tap_setup e2e_cli_complete "$1"
# complete WORDS...: what the completion offers for the last word, one per line
complete_words() {
  bash --norc --noprofile -c '
    . "$1"; shift
    complete -p curvscope >/dev/null || exit 3
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"
    _curvscope; printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" curvscope "$@"
}
has() { grep -qx -- "$2" <<<"$1"; }

bash --norc --noprofile -c '. "$1"; complete -p curvscope' _ "$COMP" | grep -q -- "-F _curvscope"
ok $? "sourcing the completion registers _curvscope for curvscope"
commands=$("$BIN" --help | awk '/^  [a-z][a-z-]* / { print $1 }')
studies=$("$BIN" study --help | awk '/^  [a-z][a-z-]* / { print $1 }')
got=$(complete_words "")
for c in $commands; do has "$got" "$c" || { echo "# missing $c"; false; }; done
ok $? "the first word offers every subcommand ($(echo $got))"
[ "$(complete_words ex)" = export ]; ok $? "'ex' completes to export"
got=$(complete_words study "")
for s in $studies; do has "$got" "$s" || false; done; ok $? "study offers every study ($(echo $got))"
got=$(complete_words analyze --)
has "$got" --step && has "$got" --operator && has "$got" --config && ! has "$got" --lr
ok $? "analyze -- offers analyze's flags (--step, --operator, --config), not train's --lr"
got=$(complete_words runs --s)
has "$got" --status && has "$got" --sort && has "$got" --study && ! has "$got" --step
ok $? "runs --s offers --status, --sort, --study ($(echo $got))"
got=$(complete_words study eos --track)
[ "$(echo $got)" = "--track-stop --track-tol" ]; ok $? "study eos --track offers its two tracker options, --track-stop and --track-tol (got '$got')"
got=$(complete_words study batch-scaling --no-st)
[ "$got" = --no-stability-grid ]; ok $? "a flag's --no- form is offered (got '$got')"
got=$(complete_words study eos --)
has "$got" --lr && has "$got" --iii-at-crossing && has "$got" --name && has "$got" --group
ok $? "study eos offers its own flags and the train ones it takes (--lr, --iii-at-crossing, --name, --group)"
# every flag of every table appears: each "  --flag" of each --help is offered
miss=
for c in $commands; do
  [ "$c" = study ] && continue
  got=$(complete_words "$c" --)
  for f in $("$BIN" "$c" --help | awk '/^  --[a-z]/ { print $1 }'); do has "$got" "$f" || miss+=" $c:$f"; done
done
[ -z "$miss" ]; ok $? "every flag of every subcommand's --help is offered${miss:+ (missing$miss)}"

if [ -n "$MAN" ]; then
  text=$(MANWIDTH=100 man -l "$MAN" 2>/dev/null || groff -man -Tutf8 "$MAN")
  [ -n "$text" ] && [[ $text == *NAME*curvscope* ]]; ok $? "the man page renders"
  warn=$(groff -man -Tutf8 -ww "$MAN" 2>&1 >/dev/null)
  [ -z "$warn" ]; ok $? "groff -ww renders it without warnings ($warn)"
  miss=
  for c in $commands; do [ "$c" = study ] || grep -Eq "^ +$c\$" <<<"$text" || miss+=" $c"; done
  for s in $studies; do grep -Eq "^ +study $s\$" <<<"$text" || miss+=" study:$s"; done
  [ -z "$miss" ]; ok $? "the man page has a section for every subcommand and study${miss:+ (missing$miss)}"
  [[ $text == *"--update-tol U"* && $text == *"(default"* ]]; ok $? "the man page lists options with their defaults"
else
  ok 1 "the man page was not built: install help2man (scripts/setup.sh does)"
fi
tap_end
