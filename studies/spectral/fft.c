/*
 * fft.c: the grid DFT through FFTW3 (see spectral.h).
 *
 * Plans are FFTW_ESTIMATE: made without timing runs, so the same input gives the same
 * bits on every run (FFTW_MEASURE may choose a different algorithm each time). The
 * workload is small: one transform of the network's outputs per measurement.
 * Threads: FFTW's planner is not thread safe, so plans are made and destroyed inside the
 * critical section cs_fftw_planner (sobolev.c's too; a concurrent study makes them from
 * several threads); fftw_execute on separate plans is.
 */
#include <fftw3.h>
#include <stdlib.h>
#include <string.h>

#include "spectral.h"

struct SpecFFT {
  int dims;
  size_t n, N, bins;
  double *in;        /* [N] (FFTW may overwrite its input) */
  fftw_complex *out; /* [bins] */
  fftw_plan plan;
};

SpecFFT *spec_fft_alloc(int dims, size_t n) {
  if ((dims != 1 && dims != 2) || n < 2) return NULL;
  SpecFFT *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->dims = dims;
  f->n = n;
  f->N = dims == 1 ? n : n * n;
  f->bins = dims == 1 ? n / 2 + 1 : n * (n / 2 + 1);
  f->in = fftw_malloc(f->N * sizeof *f->in);
  f->out = fftw_malloc(f->bins * sizeof *f->out);
  if (f->in && f->out) {
#pragma omp critical(cs_fftw_planner)
    f->plan = dims == 1 ? fftw_plan_dft_r2c_1d((int)n, f->in, f->out, FFTW_ESTIMATE)
                        : fftw_plan_dft_r2c_2d((int)n, (int)n, f->in, f->out, FFTW_ESTIMATE);
  }
  if (!f->plan) {
    spec_fft_free(f);
    return NULL;
  }
  return f;
}

void spec_fft_free(SpecFFT *f) {
  if (!f) return;
  if (f->plan) {
#pragma omp critical(cs_fftw_planner)
    fftw_destroy_plan(f->plan);
  }
  fftw_free(f->in);
  fftw_free(f->out);
  free(f);
}

size_t spec_fft_bins(const SpecFFT *f) { return f->bins; }

void spec_fft_apply(SpecFFT *f, const double *y, double *F) {
  memcpy(f->in, y, f->N * sizeof *y);
  fftw_execute(f->plan);
  double s = 1.0 / (double)f->N;
  for (size_t b = 0; b < f->bins; b++) {
    F[2 * b] = s * f->out[b][0];
    F[2 * b + 1] = s * f->out[b][1];
  }
}
