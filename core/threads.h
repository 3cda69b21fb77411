/*
 * threads.h: one thread count for OpenMP and OpenBLAS together.
 *
 * libopenblas-openmp uses the same OpenMP runtime as our loops, so
 * omp_set_num_threads covers both; openblas_set_num_threads is called too for
 * builds that keep their own count. Call once, before any parallel work.
 */
#ifndef CS_THREADS_H
#define CS_THREADS_H

/* n <= 0 keeps the default (OMP_NUM_THREADS or all cores). Returns the count in use. */
int threads_set(int n);
int threads_get(void);
/* Seconds on a monotonic clock. */
double wall_time(void);

#endif
