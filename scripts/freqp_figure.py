#!/usr/bin/env python3
"""scripts/freqp_figure.py: docs/FREQP.md's figure, e_low and e_high against the step for
runs of `curvscope study freq-principle`, as one SVG (standard library only).

    scripts/freqp_figure.py OUT.svg DB:RUN[:LABEL] [DB:RUN[:LABEL] ...]

Each panel is one run: e_low (solid) and e_high (dashed) on a log axis from 0.001 to 2.
"""
import math
import sqlite3
import sys

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 340, 230, 48, 34, 26, 10
Y_LO, Y_HI = 0.001, 2.0


def curves(db, run):
    con = sqlite3.connect(db)
    out = {}
    for name in ("freqp_e_low", "freqp_e_high"):
        out[name] = con.execute("SELECT step, value FROM metrics WHERE run_id=? AND name=? AND "
                                "step>=0 ORDER BY step", (run, name)).fetchall()
    d = con.execute("SELECT value FROM metrics WHERE run_id=? AND step=-1 AND "
                    "name='freqp_delta'", (run,)).fetchone()
    con.close()
    return out, d[0] if d else float("nan")


def panel(x0, label, data, delta):
    steps = [s for s, _ in data["freqp_e_low"]] or [0, 1]
    smax = max(steps) or 1
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    X = lambda s: x0 + PAD_L + pw * s / smax
    Y = lambda v: PAD_T + ph * (1 - (math.log10(max(min(v, Y_HI), Y_LO)) - math.log10(Y_LO)) /
                                (math.log10(Y_HI) - math.log10(Y_LO)))
    o = ['<text x="%g" y="16" font-size="12" font-weight="bold">%s (δ = %.3g)</text>' %
         (x0 + PAD_L, label, delta)]
    o.append('<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#888"/>' %
             (x0 + PAD_L, PAD_T, pw, ph))
    for v in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        o.append('<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#ddd"/>' %
                 (x0 + PAD_L, x0 + PAD_L + pw, Y(v), Y(v)))
        o.append('<text x="%g" y="%g" font-size="10" text-anchor="end">%g</text>' %
                 (x0 + PAD_L - 4, Y(v) + 3, v))
    for f in (0, 0.5, 1):
        o.append('<text x="%g" y="%g" font-size="10" text-anchor="middle">%d</text>' %
                 (X(f * smax), H - PAD_B + 14, round(f * smax)))
    o.append('<text x="%g" y="%g" font-size="10" text-anchor="middle">step</text>' %
             (x0 + PAD_L + pw / 2, H - 4))
    for name, colour, dash in (("freqp_e_low", "#1f77b4", ""), ("freqp_e_high", "#d62728", "5,3")):
        pts = " ".join("%.1f,%.1f" % (X(s), Y(v)) for s, v in data[name])
        o.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6" %s/>' %
                 (pts, colour, 'stroke-dasharray="%s"' % dash if dash else ""))
    o.append('<text x="%g" y="%g" font-size="10" fill="#1f77b4">e_low</text>' %
             (x0 + PAD_L + pw - 70, PAD_T + 12))
    o.append('<text x="%g" y="%g" font-size="10" fill="#d62728">e_high (dashed)</text>' %
             (x0 + PAD_L + pw - 70, PAD_T + 24))
    return o


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    parts = []
    for i, spec in enumerate(argv[2:]):
        bits = spec.split(":")
        db, run = bits[0], int(bits[1])
        label = bits[2] if len(bits) > 2 else "run %d" % run
        data, delta = curves(db, run)
        parts += panel(i * W, label, data, delta)
    n = len(argv) - 2
    with open(argv[1], "w") as f:
        f.write('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
                'font-family="sans-serif">\n<rect width="100%%" height="100%%" fill="white"/>\n'
                % (n * W, H))
        f.write("\n".join(parts) + "\n</svg>\n")


if __name__ == "__main__":
    main(sys.argv)
