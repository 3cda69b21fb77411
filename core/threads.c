/* threads.c: thread count shared by OpenMP and OpenBLAS; a monotonic clock. */
#include "threads.h"

#include <omp.h>
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

double wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
