#!/usr/bin/env bash
# make_seeds.sh CURVSCOPE: writes the binary seeds of corpus/idx and corpus/db (the text
# seeds of spec, config and csv are written by hand). Rerun it when the IDX reader or the
# database schema changes; the seeds are committed, so fuzzing never needs this script.
#   corpus/idx/*: [option byte][images length, 2 bytes big-endian][images][labels] (fuzz_idx.c)
#   corpus/db/*:  an empty file, a curvscope database with one run, a v0 file with only
#                 curvscope's application_id, and another program's SQLite file; run_v1 (a
#                 run written by schema v1, for the migration path) came from an older build
#                 and is kept as it is
set -euo pipefail
bin=$(realpath "${1:?usage: make_seeds.sh path/to/curvscope}")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$here/corpus/idx" <<'PY'
import gzip, struct, sys, os
out = sys.argv[1]
def idx(code, dims, vals):
    fmt = {0x08: 'B', 0x09: 'b', 0x0B: 'h', 0x0C: 'i', 0x0D: 'f', 0x0E: 'd'}[code]
    head = bytes([0, 0, code, len(dims)]) + b''.join(struct.pack('>I', d) for d in dims)
    return head + b''.join(struct.pack('>' + fmt, v) for v in vals)
def seed(name, opt, images, labels):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(bytes([opt]) + struct.pack('>H', len(images)) + images + labels)
seed('ubyte', 0, idx(0x08, [4, 2, 2], range(0, 256, 16)), idx(0x08, [4], [0, 1, 0, 1]))
gz = lambda b: gzip.compress(b, mtime=0)
seed('gzip', 1, gz(idx(0x08, [3, 2], [0, 9, 18, 27, 36, 45])), gz(idx(0x08, [3], [1, 0, 1])))
seed('float', 2, idx(0x0D, [3, 3], [0.5, -1, 2, 3, 4.25, 5, 6, 7, 8]), idx(0x0C, [3], [1, 0, 1]))
seed('double', 3, idx(0x0E, [2, 1], [1e-3, -2.5]), idx(0x0B, [2], [0, 1]))
seed('test_pair', 4, idx(0x09, [3, 2], [-3, -2, -1, 0, 1, 2]), idx(0x08, [3], [2, 0, 1]))
seed('truncated', 0, idx(0x08, [2, 2], [1, 2, 3, 4])[:-1], idx(0x08, [2], [0, 1]))
PY

db=$here/corpus/db
: > "$db/empty"
"$bin" train --db "$tmp/run.db" --data synth:classes,n=20,d=2,k=2 --model mlp:2-3-2 \
  --steps 3 --checkpoint-every 1 --probe sharpness:every=1,k=1 --name seed -q --threads 1
sqlite3 "$tmp/run.db" "PRAGMA journal_mode=DELETE; PRAGMA page_size=512; VACUUM;" >/dev/null
cp "$tmp/run.db" "$db/run"
sqlite3 "$tmp/v0.db" "PRAGMA page_size=512; PRAGMA application_id=1131770486; VACUUM;"
cp "$tmp/v0.db" "$db/v0_app_id"
sqlite3 "$tmp/other.db" "PRAGMA page_size=512; CREATE TABLE t(x); INSERT INTO t VALUES(1);"
cp "$tmp/other.db" "$db/other_program"
ls -l "$here/corpus/idx" "$db"
