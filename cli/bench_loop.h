/*
 * bench_loop.h: `curvscope bench --workload pc-bias|spectral|stein|ntk`: a study's training
 * loop and its probe, stein's epoch of critic training, or (ntk) the study's eigensolve, timed
 * the way the study runs them (bench/peer_loops.py is the PyTorch
 * side; bench/compare sets the two side by side; docs/PERFORMANCE.md); and
 * `--workload batch-scaling`, the study's mini-batch λmax draws (bench_batch.c,
 * bench/peer_batch.py).
 */
#ifndef CS_BENCH_LOOP_H
#define CS_BENCH_LOOP_H

#include "core/json.h"
#include "core/net.h"
#include "core/precision.h"

typedef struct BenchLoopOpts {
  int repeats;    /* pc-bias: timed rounds (step, probe, DGEMM); spectral: rounds of the loop */
  long steps;     /* spectral: iterations per timed loop */
  double budget;  /* stop repeating after this many timed seconds (at least 3 rounds) */
  int dgemm_n;    /* the reference DGEMM's size; 0 skips it */
  int json;
  const char *draws_file; /* batch-scaling: write θ, data and draws for the peer ("" none) */
  Precision precision;    /* spectral (the loop's and probe's passes) and batch-scaling (the
                             draws' Hessian passes); the others take f64 only */
  int value_stop;         /* batch-scaling: the solves may stop on the value bound
                             (BatchScalingOptions.value_stop; bench --track-stop) */
} BenchLoopOpts;

/* `--workload ntk`: the NTK's top-20 eigensolve, dense and matrix-free (bench_ntk.c). */
int bench_ntk_main(const BenchLoopOpts *o);

/* 1 when name is one of the loop workloads (ntk included). */
int bench_loop_known(const char *name);
/* Runs workload name and prints a table or one JSON line; returns an exit status. The
 * thread count is already set (threads_set). */
int bench_loop_main(const char *name, const BenchLoopOpts *o);

/* `--workload batch-scaling` (bench_batch.c): the study's draws, timed per round. */
int bench_batch_main(const BenchLoopOpts *o);
/* `curvscope bench machine` (bench_machine.c): the CPU, the BLAS kernel, the caches. */
int bench_machine_main(int json);
/* Who set OpenBLAS's kernel: "curvscope" (cli/main.c), "environment" or "openblas". */
const char *bench_kernel_source(void);
/* The kernel OpenBLAS had chosen itself when curvscope replaced it, else NULL. */
const char *bench_kernel_replaced(void);
/* CPU seconds of the whole process (all threads): the work done on a loaded machine. */
double bench_cpu_time(void);
/* The median of t[0..n) (unchanged; NAN when n <= 0; n <= 256). */
double bench_median(const double *t, int n);
/* run_setup of a benchmark's run: torch init, MSE, the given seed (0 everywhere but eos's
 * --seed), no evaluation, the threads set, the passes in precision p. */
struct RunSetup;
struct Err;
int bench_run_setup(const char *data, const char *model, const char *act, const char *opt,
                    double lr, long seed, Precision p, struct RunSetup *s, struct Err *err);

/* Appends ,"k":v (a JSON number, null for NaN) or ,"k":"v" (null for NULL) to b. */
struct StrBuf;
void bench_json_kv(struct StrBuf *b, const char *k, double v);
void bench_json_kstr(struct StrBuf *b, const char *k, const char *v);

/* Analytic GEMM FLOPs of one loss-and-gradient pass over N rows (cmd_bench.c). */
double bench_flops_grad(const Net *net, size_t N);

#endif
