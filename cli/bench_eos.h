/*
 * bench_eos.h: `curvscope bench --workload eos`: the edge-of-stability study timed whole
 * (full-batch GD with the sharpness every few steps; bench_eos.c has the set-up,
 * bench/peer_eos.py the PyTorch + SciPy side, docs/PERFORMANCE.md the figures).
 * Single-threaded use from cli/ only; prints (it is cli/).
 */
#ifndef CS_BENCH_EOS_H
#define CS_BENCH_EOS_H

#include "core/precision.h"

typedef struct BenchEosOpts {
  long steps;      /* GD steps (the study: 5000) */
  long every;      /* sharpness every this many steps (10) */
  double tol;      /* the tracker's tolerance (1e-6) */
  int value_stop;  /* 1: full solves stop on the value bound (tracker_set_value_stop) */
  int check;       /* 1: each value against a cold 1e-10 solve, untimed */
  int json;
  int lobpcg;      /* 1: the tracker's full solves by warm LOBPCG (tracker_set_lobpcg) */
  Precision precision; /* of the GD steps and the measurements (the check stays float64) */
  const char *trace;   /* NULL, or a CSV file: a line per measurement */
  double lr;           /* GD's learning rate; 0: the study's 0.05 */
  long seed;           /* the initialisation's seed (0) */
  int k;               /* pairs the tracker follows (1; the study eos tracks 2) */
} BenchEosOpts;

/* Runs the benchmark and prints a table or one JSON line; returns an exit status. The
 * thread count is already set (threads_set). */
int bench_eos_main(const BenchEosOpts *o);

#endif
