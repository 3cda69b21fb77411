/*
 * sobolev.c: the Sobolev loss's metric M = 𝓕ᴴ diag((1+|k|²)^s) 𝓕 on a training grid
 * (spectral.h): M r = IFFT(w · FFT(r)) through FFTW, one output column at a time, on 1-D
 * grids (n points) and 2-D grids (N = n²), O(N log N) where the direct product is O(N²)
 * (core's circulant, loss_metric_grid1d, stays as the tests' independent reference).
 * Plans are FFTW_ESTIMATE, as fft.c's: the same bits on every run; they are made and
 * destroyed in fft.c's critical section cs_fftw_planner (FFTW's planner is not thread safe).
 */
#include <fftw3.h>
#include <stdlib.h>

#include "spectral.h"

typedef struct Grid {
  size_t n, k, N, bins;
  double *in;        /* [N] */
  fftw_complex *hat; /* [n/2+1] (1-D) or [n][n/2+1] (2-D) */
  double *w;         /* [bins] weights, 1/N folded in (FFTW's round trip multiplies by N) */
  fftw_plan fwd, bwd;
} Grid;

static void grid_free(void *ctx) {
  Grid *g = ctx;
  if (!g) return;
#pragma omp critical(cs_fftw_planner)
  {
    if (g->fwd) fftw_destroy_plan(g->fwd);
    if (g->bwd) fftw_destroy_plan(g->bwd);
  }
  fftw_free(g->in);
  fftw_free(g->hat);
  free(g->w);
  free(g);
}

static void grid_apply(void *ctx, const double *R, double *out) {
  Grid *g = ctx;
  for (size_t j = 0; j < g->k; j++) {
    for (size_t i = 0; i < g->N; i++) g->in[i] = R[i * g->k + j];
    fftw_execute(g->fwd);
    for (size_t b = 0; b < g->bins; b++) {
      g->hat[b][0] *= g->w[b];
      g->hat[b][1] *= g->w[b];
    }
    fftw_execute(g->bwd); /* c2r overwrites hat: it is refilled by the next forward */
    for (size_t i = 0; i < g->N; i++) out[i * g->k + j] = g->in[i];
  }
}

static LossMetric *metric_grid(int dims, size_t n, size_t k, double s, Err *err) {
  Grid *g = calloc(1, sizeof *g);
  size_t half = n / 2 + 1, rows = dims == 2 ? n : 1;
  if (g) {
    *g = (Grid){n, k, dims == 2 ? n * n : n, rows * half, NULL, NULL, NULL, NULL, NULL};
    g->in = fftw_malloc(g->N * sizeof *g->in);
    g->hat = fftw_malloc(g->bins * sizeof *g->hat);
    g->w = malloc(g->bins * sizeof *g->w);
  }
  if (g && g->in && g->hat && g->w) {
    for (size_t a = 0; a < rows; a++)
      for (size_t b = 0; b < half; b++) {
        double kx = dims == 2 ? (double)loss_signed_freq(a, n) : 0.0, ky = (double)b;
        g->w[a * half + b] = loss_sobolev_weight(kx * kx + ky * ky, s) / (double)g->N;
      }
#pragma omp critical(cs_fftw_planner)
    {
      if (dims == 2) {
        g->fwd = fftw_plan_dft_r2c_2d((int)n, (int)n, g->in, g->hat, FFTW_ESTIMATE);
        g->bwd = fftw_plan_dft_c2r_2d((int)n, (int)n, g->hat, g->in, FFTW_ESTIMATE);
      } else {
        g->fwd = fftw_plan_dft_r2c_1d((int)n, g->in, g->hat, FFTW_ESTIMATE);
        g->bwd = fftw_plan_dft_c2r_1d((int)n, g->hat, g->in, FFTW_ESTIMATE);
      }
    }
  }
  if (!g || !g->fwd || !g->bwd) {
    grid_free(g);
    if (dims == 2)
      err_set(err, CS_ENOMEM, "out of memory for the Sobolev metric (%zu x %zu grid)", n, n);
    else
      err_set(err, CS_ENOMEM, "out of memory for the Sobolev metric (%zu grid points)", n);
    return NULL;
  }
  return loss_metric_new(g->N, k, s, grid_apply, g, grid_free, err);
}

int spectral_sobolev_metric(const Dataset *train, double s, LossMetric **out, Err *err) {
  *out = NULL;
  size_t n = train->grid_n, N = train->grid_dims == 2 ? n * n : n;
  if (!train->grid_dims || n < 2 || N != train->n)
    return err_set(err, CS_EINVAL,
                   "the Sobolev loss needs grid data (synth:sines, synth:sines2d, a square "
                   "image:PATH); '%s' is not a grid",
                   train->name);
  *out = metric_grid(train->grid_dims, n, train->k, s, err);
  return *out ? CS_OK : err->code;
}
