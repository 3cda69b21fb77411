/*
 * threads.h: one thread count for OpenMP and OpenBLAS together.
 *
 * libopenblas-openmp uses the same OpenMP runtime as our loops, so
 * omp_set_num_threads covers both; openblas_set_num_threads is called too for
 * builds that keep their own count. Call once, before any parallel work.
 */
#ifndef CS_THREADS_H
#define CS_THREADS_H

#include "err.h"

/* n <= 0 keeps the default (OMP_NUM_THREADS or all cores). Returns the count in use. */
int threads_set(int n);
int threads_get(void);
/* The largest thread count a user may ask for: 4 per core, and at most
 * THREADS_USER_MAX. More threads than cores never speed up these loops, and Debian's OpenBLAS
 * (built for 64 threads) blocks in its buffer allocation once 64 threads call it at
 * once (measured: --threads 63 trains, 64 hangs). */
#define THREADS_USER_MAX 63
int threads_limit(void);
/* CS_EINVAL "--threads N: at most ..." unless 0 <= n <= threads_limit(). */
int threads_check(long n, Err *err);
/* Data parallelism over row chunks (loss.c, hessian/curv.c): each thread runs whole
 * chunks with single-threaded BLAS into its own accumulator, summed once at the end. */
#define THREADS_MAX 64
#include <stddef.h>
/* Rows per chunk for batches of up to n_max rows: at most `chunk` (0: no limit) and small
 * enough that each of nthreads threads gets a chunk. */
size_t threads_chunk_rows(size_t n_max, size_t chunk, int nthreads);
/* Parts for data parallelism over chunks: the OpenMP count, at most THREADS_MAX, unless
 * this thread set a count with threads_parts_set. */
int threads_data_parallel(void);
/* Fixes the calling thread's data-parallel parts (0: back to the OpenMP count). A run's
 * chunks and the order of their sums follow the parts, not the threads that execute them
 * (objective_eval_parallel runs several parts on one thread when it has fewer), so a run
 * made with --threads P on one thread of a concurrent study has the bits of the serial
 * run with P threads. Thread-local: each worker of a concurrent study sets its own. */
void threads_parts_set(int parts);
/* The parts' chunk ranges: part p of T gets chunks [lo, hi) of nchunks, as OpenMP's
 * schedule(static) would hand them to thread p. */
void threads_part_range(size_t nchunks, int T, int p, size_t *lo, size_t *hi);
/* Threads to run T parts now: the OpenMP count (1 inside an active parallel region),
 * at most T. */
int threads_team_for(int T);
/* ‖a‖ and ‖b‖ over n doubles in one pass, the same bits whatever the thread count (fixed
 * blocks summed in order); sums of squares too large or too small for plain squares (and
 * ±∞ entries) are redone with BLAS's scaled dnrm2, NaN stays NaN. */
void threads_norm_pair(const double *a, const double *b, size_t n, double *na, double *nb);
/* threads_norm_pair's fixed blocks over n entries (at most 1024 of them): returns their
 * count, *len their length (the last may be shorter). For a pass that forms the norms
 * itself (objective_f32.c). */
size_t threads_norm_blocks(size_t n, size_t *len);
/* √x for x the sum of squares of a [n], as threads_norm_pair finishes it (BLAS's scaled
 * dnrm2 of a when x is out of the plain squares' range). */
double threads_norm_finish(double x, const double *a, size_t n);
/* Threads to spread nchunks chunks over: all nthreads when each gets a chunk, else 1
 * (that thread then threads its GEMMs instead). */
int threads_for_chunks(int nthreads, size_t nchunks);
/* Inside the region: thread t's accumulator of n doubles, zeroed — out itself for
 * thread 0, acc[t] for the others (threads_sum_into adds them to out afterwards).
 * NULL when out is NULL. */
double *threads_accumulator(double *out, double *const *acc, int t, size_t n);
/* out[j] += Σ_{t=1}^{nthreads-1} acc[t][j] for j < n (acc[0] is unused: thread 0 writes to
 * out directly). The threads' half of the one reduction over examples; the ranks' half of
 * a data-parallel batch follows it (batch_sum_ranks, core/loss.h; core/comm.h). */
void threads_sum_into(double *out, double *const *acc, int nthreads, size_t n);

/* Seconds on a monotonic clock. */
double wall_time(void);

#endif
