#!/usr/bin/env python3
"""mpi_compare.py A.db B.db [TOL]: does run 1 of B equal run 1 of A to TOL (default 1e-10)?

Compares what a data-parallel run must reproduce of the serial one: every step's loss,
accuracy, gradient and parameter norms, every metric, every eigenvalue and every
checkpoint's parameters, as relative differences |a - b| / max(|a|, |b|, 1e-300) (values
below 1e-12 in size compared absolutely). Also checks that B has exactly A's rows (no
step, metric, eigenvalue or checkpoint missing or extra). Prints one line,
"max relative difference D over N values", and exits 1 when D > TOL or the rows differ."""
import sqlite3
import struct
import sys

QUERIES = {
    "steps": "select 'step', step, loss, accuracy, grad_norm, param_norm from steps where run_id=1",
    "metrics": "select name, step, value from metrics where run_id=1",
    "eigs": "select operator || ':' || source || ':' || idx, step, value from eigs where run_id=1",
}


def rows(path):
    db = sqlite3.connect(path)
    out = {}
    for table, q in QUERIES.items():
        for r in db.execute(q):
            out[(table, r[0], r[1])] = [x for x in r[2:]]
    for step, blob in db.execute("select step, params from checkpoints where run_id=1"):
        out[("checkpoint", "params", step)] = list(struct.unpack("<%dd" % (len(blob) // 8), blob))
    return out


def main():
    a, b = rows(sys.argv[1]), rows(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-10
    if a.keys() != b.keys():
        print("rows differ: only in A %s, only in B %s"
              % (sorted(a.keys() - b.keys())[:5], sorted(b.keys() - a.keys())[:5]))
        return 1
    worst, n, where = 0.0, 0, None
    for k in a:
        for x, y in zip(a[k], b[k]):
            if x is None or y is None:
                if (x is None) != (y is None):
                    print("NULL in one only at %s" % (k,))
                    return 1
                continue
            n += 1
            scale = max(abs(x), abs(y))
            d = abs(x - y) / scale if scale > 1e-12 else abs(x - y)
            if d > worst:
                worst, where = d, k
    print("max relative difference %.3g over %d values%s" % (worst, n, " (at %s)" % (where,) if where else ""))
    return 0 if worst <= tol and n > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
