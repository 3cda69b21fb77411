#!/usr/bin/env bash
# e2e_badinput.sh: the bad-input table (tests/bad_inputs.tsv, docs/INPUTS.md). Each case runs
# curvscope with the table's arguments in a directory of fixtures made here (corrupt IDX,
# CSV cells strtod would take, a BOM, config files, a FIFO, foreign, newer and negative-
# version databases) and checks three things: the exit status, a fragment of the message
# (the bad token), and that nothing was written: every file in the directory keeps its
# bytes, and no file appears (no runs.db, no -wal or -shm beside a refused database).
# Nothing trains longer than two steps, so the suite stays fast under ASan/UBSan. TAP.
#
#   bash tests/e2e_badinput.sh path/to/curvscope [TABLE]
. "$(dirname "$0")/tap.sh"
TABLE=${2:-$(cd "$(dirname "$0")" && pwd)/bad_inputs.tsv}
tap_setup e2e_badinput "$1"
FX=$T/fx
mkdir "$FX" && cd "$FX" || exit 1

# ---- fixtures -------------------------------------------------------------------------------
b() { printf "$2" >"$1"; } # b FILE BYTES: a file from printf escapes
b lab.idx '\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01'                         # labels 0, 1
b ok.idx '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08'
b short.idx '\x00\x00\x08\x03\x00\x00'                                       # header cut off
head -c 64 /dev/zero | tr '\0' 'Z' >garbage.idx                              # bad magic
b trunc.idx '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03'
b badgz.idx '\x1f\x8b\x08\x00garbage-not-deflate'                            # corrupt gzip
# 2x2 float32 images (1, NaN, 0.5, 0.25) and float64 ones (1, 2, +Inf, 0.25), big-endian
b nan.idx '\x00\x00\x0d\x02\x00\x00\x00\x02\x00\x00\x00\x02\x3f\x80\x00\x00\x7f\xc0\x00\x00\x3f\x00\x00\x00\x3e\x80\x00\x00'
b inf.idx '\x00\x00\x0e\x02\x00\x00\x00\x02\x00\x00\x00\x02\x3f\xf0\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x7f\xf0\x00\x00\x00\x00\x00\x00\x3f\xd0\x00\x00\x00\x00\x00\x00'
b floatlab.idx '\x00\x00\x0d\x01\x00\x00\x00\x02\x00\x00\x00\x00\x3f\x80\x00\x00'
csv() { printf 'y,x\n0,1\n1,%s\n' "$2" >"$1"; } # a two-row CSV whose last cell is $2
csv hex.csv 0x10
csv hexfloat.csv 0x1p3
csv inf.csv inf
csv nan.csv nan
csv junk.csv 1.5abc
csv lead.csv x2
printf 'y,x\n0,1\n0x1,2\n' >hexlabel.csv
printf 'y,x\n0,1\n1\n' >ragged.csv
printf '\xef\xbb\xbfy,x\n0,1\n1,2\n' >bom.csv
printf 'lr = 0.1\nwibble = 3\n' >unknown.cfg
printf 'lr = fast\n' >badvalue.cfg
printf 'lr\n' >novalue.cfg
printf 'name = %s\n' "$(head -c 1100 /dev/zero | tr '\0' a)" >longline.cfg
printf 'steps = 1\nname = "a # b\n' >quote.cfg
printf 'lr = 0.1#x\n' >hashvalue.cfg
printf 'name = \xff\n' >badutf.cfg
printf 'lr = 0.1\nname = a\0b\n' >nul.cfg
mkdir cfgdir dbdir
mkfifo fifo.cfg fifo.db
sq() { sqlite3 -batch "$1" "$2" >/dev/null; }
sq newer.db "PRAGMA application_id=1131770486; PRAGMA user_version=99; create table t(x); insert into t values(1);"
sq newer_wal.db "PRAGMA journal_mode=WAL; PRAGMA application_id=1131770486; PRAGMA user_version=99; create table t(x);"
sq foreign.db "create table foo(a); insert into foo values(42);"
sq foreign_wal.db "PRAGMA journal_mode=WAL; create table foo(a); insert into foo values(42);"
sq negative.db "PRAGMA application_id=1131770486; PRAGMA user_version=-1; create table runs(id);"
printf 'this is a text file, not a database; it must survive curvscope.\n' >notdb.txt
"$BIN" train --db good.db --threads 1 --data synth:classes,n=20 --model mlp:10-2 --steps 2 -q \
  >/dev/null 2>&1
ok $? "fixtures made (good.db holds run 1 with a final checkpoint)"

# Every entry of the fixture directory with its type, and the bytes of every regular file.
snapshot() {
  find . -printf '%y %p\n' | sort
  find . -type f -print0 | sort -z | xargs -0 md5sum
}
# A case that wrote something must not change what the next cases see: restore the fixtures.
cp -a "$FX" "$T/pristine"
restore() { cd "$T" && rm -rf "$FX" && cp -a "$T/pristine" "$FX" && cd "$FX"; }

# ---- the table --------------------------------------------------------------------------------
cases=0
while IFS=$'\t' read -r args want frag; do
  [[ -z $args || $args == \#* ]] && continue
  cases=$((cases + 1))
  before=$(snapshot)
  eval "set -- $args"
  timeout 20 "$BIN" "$@" >"$T/out.txt" 2>"$T/err.txt" </dev/null
  RC=$?
  ERR=$(head -c 600 "$T/err.txt")
  after=$(snapshot)
  [ "$RC" -eq "$want" ] && [[ $ERR == *"$frag"* ]]
  ok $? "[$cases] curvscope $args -> exit $want naming \"$frag\" (rc $RC: ${ERR:-no message})"
  [ "$before" == "$after" ]
  ok $? "[$cases] curvscope $args wrote nothing$(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | tr '\n' ' ')"
  [ "$before" == "$after" ] || restore
done <"$TABLE"
echo "# $cases bad inputs tried ($(basename "$TABLE"))"
[ "$cases" -ge 100 ]; ok $? "the table holds at least 100 cases ($cases)"
tap_end
