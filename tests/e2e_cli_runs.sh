#!/usr/bin/env bash
# e2e_cli_runs.sh: `curvscope runs` filtered (--status, --study, --group, --where), sorted
# (--sort), as JSON (--json) and in aligned columns whatever the name or status; and
# `curvscope export RUN... --format csv|json`, parsed with python3's csv and json and
# compared value for value with the database (python3's sqlite3). TAP.
#
#   bash tests/e2e_cli_runs.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_cli_runs "$@"
DB=$T/r.db
q() { sqlite3 -batch -cmd ".timeout 5000" "$DB" "$1"; }
SYN="--db $DB --data synth:classes,n=40 --model mlp:10-4-2 --threads 1 -q"
LONG="a-very-long-run-name-that-does-not-fit-the-column-ñé"

"$BIN" train $SYN --steps 4 --lr 0.02 --name short --group g1 >/dev/null 2>&1 &&
  "$BIN" train $SYN --steps 6 --lr 0.2 --name "$LONG" --group g2 --study mine \
    --probe sharpness:every=2 >/dev/null 2>&1 &&
  "$BIN" train $SYN --steps 50 --lr 1e6 --name boom --group g1 >/dev/null 2>&1 &&
  "$BIN" train --db "$DB" --threads 1 -q --data synth:sines,n=50,freqs=1-2-3 --model mlp:1-8-1 --opt adam \
    --lr 0.01 --steps 20 --probe spectral:every=10 --name sines >/dev/null 2>&1
ok $? "fixture: four runs (finished, a long UTF-8 name with a probe, diverged, a spectral probe)"
[ "$(q "select group_concat(status) from (select status from runs order by id)")" = "finished,finished,diverged,finished" ]
ok $? "the fixture's statuses ($(q "select group_concat(status) from runs"))"

# ---- filters ---------------------------------------------------------------------------
ids() { awk 'NR > 1 && $1 ~ /^[0-9]+$/ { printf "%s%s", s, $1; s = "," }' <<<"$OUT"; }
run "$BIN" runs --db "$DB" --status diverged
[ $RC -eq 0 ] && [ "$(ids)" = 3 ]; ok $? "--status diverged: run 3 only (got '$(ids)')"
run "$BIN" runs --db "$DB" --status finished,diverged --group g1
[ "$(ids)" = 1,3 ]; ok $? "--status finished,diverged --group g1: runs 1 and 3 (got '$(ids)')"
run "$BIN" runs --db "$DB" --study mine
[ "$(ids)" = 2 ]; ok $? "--study mine: run 2 (got '$(ids)')"
run "$BIN" runs --db "$DB" --where "lr > 0.1 AND (lr < 1000 OR name = 'short')"
[ "$(ids)" = 2 ]; ok $? "--where \"lr > 0.1 AND (lr < 1000 OR name = 'short')\": run 2 (got '$(ids)')"
run "$BIN" runs --db "$DB" --where "name LIKE '%)%' OR lr = 0.02"
[ $RC -eq 0 ] && [ "$(ids)" = 1 ]; ok $? "--where: a ')' inside quotes is text (got '$(ids)'; $ERR)"
run "$BIN" runs --db "$DB" --where "name = 'nobody'"
[ $RC -eq 0 ] && [[ $OUT == *"no runs match"* ]]; ok $? "--where matching nothing says so"
run "$BIN" runs --db "$DB" --status sleeping
[ $RC -eq 2 ] && [[ $ERR == *"'sleeping'"* ]]; ok $? "--status sleeping: exit 2 naming it ($ERR)"
run "$BIN" runs --db "$DB" --sort -lr
[ "$(ids)" = 3,2,1,4 ]; ok $? "--sort -lr: by lr descending (got '$(ids)')"
run "$BIN" runs --db "$DB" --sort lr
[ "$(ids)" = 4,1,2,3 ]; ok $? "--sort lr: ascending (got '$(ids)')"
run "$BIN" runs --db "$DB" --sort wibble
[ $RC -eq 2 ] && [[ $ERR == *"--sort 'wibble'"* ]]; ok $? "--sort wibble: exit 2 naming it ($ERR)"

# ---- --where is read-only and safe: a bad clause is exit 2 naming it -------------------------
before=$(sha256sum "$DB" | cut -d' ' -f1)
for clause in "lr >>> 1" "no_such_column = 1" "1); DROP TABLE runs; --" "1) UNION SELECT 1 --" \
              "1 = 1; DELETE FROM runs" "(SELECT count(*) FROM runs) = 4) OR (1" "name = 'x"; do
  run "$BIN" runs --db "$DB" --where "$clause"
  [ $RC -eq 2 ] && [[ $ERR == *"--where '$clause'"* ]]; ok $? "--where '$clause': exit 2 naming it ($ERR)"
done
run "$BIN" runs --db "$DB" --status diverged --where "1 OR 1"
[ "$(ids)" = 3 ]; ok $? "an OR in --where does not lift --status (got '$(ids)')"
[ "$(q "select count(*) from runs")" = 4 ] && [ "$(sha256sum "$DB" | cut -d' ' -f1)" = "$before" ]
ok $? "the database is unchanged by the --where clauses"

# ---- aligned columns whatever the name and status --------------------------------------------
run "$BIN" runs --db "$DB"
echo "$OUT" | diag
# the display column where 'status' (header) and each row's status start
cols=$(python3 -c '
import sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
head = lines[0]
for l in lines[1:5]:
    for st in ("finished", "diverged"):
        if st in l: print(l.index(st), end=" ")
print(head.index("status"), head.index("eos_at") + len("eos_at"), max(len(l) for l in lines[:5]))' <<<"$OUT")
read -r c1 c2 c3 c4 h e w <<<"$cols"
[ "$c1" = "$h" ] && [ "$c2" = "$h" ] && [ "$c3" = "$h" ] && [ "$c4" = "$h" ] && [ "$w" = "$e" ]
ok $? "every row's status starts under the header's, every line ends at eos_at's column (columns: $cols)"
line=$(grep -E '^ *2 ' <<<"$OUT")
[[ $line == *"a-very-long-run-name-that-does-…"* ]] && [[ $OUT != *"$LONG"* ]]
ok $? "the long name is cut to 32 columns and marked with '…' ($line)"

# ---- --json -----------------------------------------------------------------------------
run "$BIN" runs --db "$DB" --json --status finished
printf '%s' "$OUT" >out.json
python3 - "$DB" out.json <<'EOF'
import json, sqlite3, sys
d = json.load(open(sys.argv[2]))
rows = [dict(zip(d["cols"], r)) for r in d["rows"]]
db = sqlite3.connect(sys.argv[1])
want = db.execute("select id, name, lr, grp from run_summary where status='finished' order by id").fetchall()
got = [(r["id"], r["name"], r["lr"], r["group"]) for r in rows]
assert got == [tuple(w) for w in want], (got, want)
EOF
ok $? "runs --json --status finished: the rows of run_summary (id, name, lr, group)"

# ---- export ------------------------------------------------------------------------------
check_csv() { # TABLE ORDER RUNS...: the CSV on stdin equals SELECT * of TABLE for RUNS
  python3 -c '
import csv, sqlite3, sys
db, table, order, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = list(csv.reader(sys.stdin))
cur = sqlite3.connect(db).execute(
    "select * from %s where run_id in (%s) order by %s" % (table, ",".join(runs), order))
cols = [c[0] for c in cur.description]
want = cur.fetchall()
assert rows[0] == cols, (rows[0], cols)
assert len(rows) - 1 == len(want) > 0, (len(rows) - 1, len(want))
for got, w in zip(rows[1:], want):
    for g, v in zip(got, w):
        if v is None: assert g == "", (g, v)
        elif isinstance(v, float): assert float(g) == v, (g, v)   # exact: 17 digits
        else: assert g == str(v), (g, v)
' "$DB" "$@"
}
run "$BIN" export 1 2 --db "$DB" --format csv
check_csv steps "run_id, step" 1 2 <<<"$OUT"
ok $? "export 1 2 --format csv: the steps of both runs, every value exact ($(wc -l <<<"$OUT") lines)"
run "$BIN" export 2 --db "$DB" --table eigs -o eigs.csv
check_csv eigs "run_id, step, operator, batch_size, draw, source, idx" 2 <eigs.csv
ok $? "export 2 --table eigs -o eigs.csv: the sharpness probe's eigenvalues"
run "$BIN" export 4 --db "$DB" --table=series --format=csv
check_csv series "run_id, name, step, idx" 4 <<<"$OUT"
ok $? "export 4 --table series: the spectral probe's series"
run "$BIN" export 2 4 --db "$DB" --format json --table all
printf '%s' "$OUT" >out.json
python3 - "$DB" out.json <<'EOF'
import json, sqlite3, sys
d = json.load(open(sys.argv[2]))
db = sqlite3.connect(sys.argv[1])
orders = {"runs": "id", "steps": "run_id, step", "metrics": "run_id, step, name",
          "eigs": "run_id, step, operator, batch_size, draw, source, idx",
          "series": "run_id, name, step, idx"}
assert sorted(d) == sorted(orders), list(d)
for t, order in orders.items():
    key = "id" if t == "runs" else "run_id"
    cur = db.execute("select * from %s where %s in (2, 4) order by %s" % (t, key, order))
    assert d[t]["cols"] == [c[0] for c in cur.description], t
    want = [list(r) for r in cur.fetchall()]
    assert d[t]["rows"] == want, (t, len(d[t]["rows"]), len(want))
    assert t == "eigs" or len(want) > 0, t
assert all(len(r[d["runs"]["cols"].index("uuid")]) == 36 for r in d["runs"]["rows"])
EOF
ok $? "export 2 4 --format json --table all: the five tables (runs with their uuid), equal to the database's rows"
for bad in "99|2|no run 99" "abc|2|'abc'" "1 --format xml|2|--format 'xml'" \
           "1 --table all|2|--table all needs --format json" "1 --table bogus|2|--table 'bogus'" \
           "|2|which runs"; do
  IFS='|' read -r args want frag <<<"$bad"
  run "$BIN" export $args --db "$DB" -o out.csv
  [ $RC -eq "$want" ] && [[ $ERR == *"$frag"* ]] && [ ! -e out.csv ]
  ok $? "export $args: exit $want naming '$frag', nothing written (rc $RC: $ERR)"
done

tap_end
