#!/usr/bin/env python3
"""scaling_table.py: docs/SCALING.md's table of examples per rank for a target efficiency.

The model (docs/SCALING.md): one product (HVP, GGN product, gradient) over n examples per
rank costs c·n·W flops at F flop/s per rank (W = Σ d_in·d_out over the layers; c = 12 for
an HVP, 6 for a gradient), then one allreduce of P doubles costs
    t_a(p) = 2(p-1)/p · 8P / B  +  2·log2(p)·α     (ring reduce-scatter + allgather).
Efficiency = t_c / (t_c + t_a) >= E  ⇔  n >= E/(1-E) · t_a · F / (c·W).

    python3 scripts/scaling_table.py [--flops 1e12] [--eff 0.9] [--c 12]
prints a Markdown table for the bench nets at 10 and 100 Gb/s for p = 2..64."""
import argparse
import math

NETS = {  # name: (widths, bias)
    "digits": ([64, 200, 200, 10], True),
    "cohen": ([3072, 200, 200, 10], True),
    "deeplinear": ([50, 100, 100, 100, 100, 10], False),
    "wide": ([784, 1024, 1024, 10], True),
}
NETWORKS = {"10 Gb/s": (10e9 / 8, 20e-6), "100 Gb/s": (100e9 / 8, 2e-6)}  # B bytes/s, α s
RANKS = [2, 4, 8, 16, 32, 64]


def sizes(widths, bias):
    W = sum(a * b for a, b in zip(widths, widths[1:]))
    return W, W + (sum(widths[1:]) if bias else 0)


def allreduce(P, p, B, alpha):
    return 2 * (p - 1) / p * 8 * P / B + 2 * math.log2(p) * alpha


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flops", type=float, default=1e12)
    ap.add_argument("--eff", type=float, default=0.9)
    ap.add_argument("--c", type=float, default=12)
    a = ap.parse_args()
    k = a.eff / (1 - a.eff)
    print("| net (P) | network | " + " | ".join("p=%d" % p for p in RANKS) + " |")
    print("|---|---|" + "---:|" * len(RANKS))
    for name, (w, b) in NETS.items():
        W, P = sizes(w, b)
        for net, (B, alpha) in NETWORKS.items():
            n = [k * allreduce(P, p, B, alpha) * a.flops / (a.c * W) for p in RANKS]
            print("| %s (%d) | %s | " % (name, P, net) + " | ".join("%.0f" % x for x in n) + " |")


if __name__ == "__main__":
    main()
