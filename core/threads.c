/* threads.c: thread count shared by OpenMP and OpenBLAS; a monotonic clock. */
#include "threads.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int num_threads);

int threads_set(int n) {
  if (n > 0) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
  }
  return threads_get();
}

int threads_get(void) { return omp_get_max_threads(); }

int threads_limit(void) {
  int cap = 4 * omp_get_num_procs();
  return cap < THREADS_USER_MAX ? cap : THREADS_USER_MAX;
}

int threads_check(long n, Err *err) {
  int cap = threads_limit();
  if (n < 0 || n > cap)
    return err_set(err, CS_EINVAL,
                   "--threads %ld: at most %d (4 per core on this machine, never above %d; 0 "
                   "uses every core)",
                   n, cap, THREADS_USER_MAX);
  return CS_OK;
}

size_t threads_chunk_rows(size_t n_max, size_t chunk, int nthreads) {
  if (n_max == 0) n_max = 1;
  if (chunk == 0 || chunk > n_max) chunk = n_max;
  size_t share = (n_max + (size_t)nthreads - 1) / (size_t)nthreads;
  return nthreads > 1 && chunk > share ? share : chunk;
}

static _Thread_local int parts_fixed; /* threads_parts_set; 0: the OpenMP count */

void threads_parts_set(int parts) { parts_fixed = parts > 0 ? parts : 0; }

int threads_data_parallel(void) {
  int T = parts_fixed ? parts_fixed : omp_get_max_threads();
  return T < THREADS_MAX ? T : THREADS_MAX;
}

void threads_part_range(size_t nchunks, int T, int p, size_t *lo, size_t *hi) {
  size_t q = nchunks / (size_t)T, r = nchunks % (size_t)T, up = (size_t)p;
  *lo = up * q + (up < r ? up : r);
  *hi = *lo + q + (up < r ? 1 : 0);
}

int threads_team_for(int T) {
  int team = omp_in_parallel() ? 1 : omp_get_max_threads();
  return team < T ? team : T;
}

#define NORM_BLOCKS 1024

size_t threads_norm_blocks(size_t n, size_t *len) {
  /* the block length depends on n only: partial sums in a fixed order */
  size_t l = (n + NORM_BLOCKS - 1) / NORM_BLOCKS;
  *len = l < 4096 ? 4096 : l;
  return (n + *len - 1) / *len;
}

double threads_norm_finish(double x, const double *a, size_t n) {
  /* squares overflow past ~1e154 and underflow below ~1e-154 (a sum of exactly 0 may be
   * tiny entries), ±∞ entries too: BLAS's scaled dnrm2 instead; NaN stays NaN */
  return (x > 1e-290 && x < 1e300) || isnan(x) ? sqrt(x) : cblas_dnrm2((int)n, a, 1);
}

void threads_norm_pair(const double *a, const double *b, size_t n, double *na, double *nb) {
  size_t len, nblk = threads_norm_blocks(n, &len);
  double sa[NORM_BLOCKS], sb[NORM_BLOCKS];
#pragma omp parallel for schedule(static) if (nblk > 1)
  for (size_t k = 0; k < nblk; k++) {
    size_t i0 = k * len, i1 = i0 + len < n ? i0 + len : n;
    double x = 0.0, y = 0.0;
    for (size_t i = i0; i < i1; i++) x += a[i] * a[i], y += b[i] * b[i];
    sa[k] = x, sb[k] = y;
  }
  double x = 0.0, y = 0.0;
  for (size_t k = 0; k < nblk; k++) x += sa[k], y += sb[k];
  *na = threads_norm_finish(x, a, n);
  *nb = threads_norm_finish(y, b, n);
}

int threads_for_chunks(int nthreads, size_t nchunks) {
  return nthreads > 1 && nchunks >= (size_t)nthreads ? nthreads : 1;
}

double *threads_accumulator(double *out, double *const *acc, int t, size_t n) {
  double *dst = out && t ? acc[t] : out;
  if (dst) memset(dst, 0, n * sizeof *dst);
  return dst;
}

void threads_sum_into(double *out, double *const *acc, int nthreads, size_t n) {
  if (nthreads < 2) return;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t j = 0; j < n; j++) {
    double s = out[j];
    for (int t = 1; t < nthreads; t++) s += acc[t][j];
    out[j] = s;
  }
}

double wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
