/* threads.c: thread count shared by OpenMP and OpenBLAS; a monotonic clock. */
#include "threads.h"

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

int threads_data_parallel(void) {
  int T = omp_get_max_threads();
  return T < THREADS_MAX ? T : THREADS_MAX;
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
