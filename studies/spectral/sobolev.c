/*
 * sobolev.c: the Sobolev loss's metric M = 𝓕ᴴ diag((1+|k|²)^s) 𝓕 on a training grid
 * (spectral.h). 1-D grids use core's direct circulant (loss_metric_grid1d); 2-D grids
 * (N = n² points: O(N²) directly) take M r = IFFT(w · FFT(r)) through FFTW, one output
 * column at a time. Plans are FFTW_ESTIMATE, as fft.c's: the same bits on every run.
 */
#include <fftw3.h>
#include <stdlib.h>

#include "spectral.h"

typedef struct Grid2 {
  size_t n, k, N, bins;
  double *in;        /* [N] */
  fftw_complex *hat; /* [n][n/2+1] */
  double *w;         /* [bins] weights, 1/N folded in (FFTW's round trip multiplies by N) */
  fftw_plan fwd, bwd;
} Grid2;

static void grid2_free(void *ctx) {
  Grid2 *g = ctx;
  if (!g) return;
  if (g->fwd) fftw_destroy_plan(g->fwd);
  if (g->bwd) fftw_destroy_plan(g->bwd);
  fftw_free(g->in);
  fftw_free(g->hat);
  free(g->w);
  free(g);
}

static void grid2_apply(void *ctx, const double *R, double *out) {
  Grid2 *g = ctx;
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

static LossMetric *metric_grid2d(size_t n, size_t k, double s, Err *err) {
  Grid2 *g = calloc(1, sizeof *g);
  size_t half = n / 2 + 1;
  if (g) {
    *g = (Grid2){n, k, n * n, n * half, NULL, NULL, NULL, NULL, NULL};
    g->in = fftw_malloc(g->N * sizeof *g->in);
    g->hat = fftw_malloc(g->bins * sizeof *g->hat);
    g->w = malloc(g->bins * sizeof *g->w);
  }
  if (g && g->in && g->hat && g->w) {
    for (size_t a = 0; a < n; a++)
      for (size_t b = 0; b < half; b++) {
        double kx = (double)loss_signed_freq(a, n), ky = (double)b;
        g->w[a * half + b] = loss_sobolev_weight(kx * kx + ky * ky, s) / (double)g->N;
      }
    g->fwd = fftw_plan_dft_r2c_2d((int)n, (int)n, g->in, g->hat, FFTW_ESTIMATE);
    g->bwd = fftw_plan_dft_c2r_2d((int)n, (int)n, g->hat, g->in, FFTW_ESTIMATE);
  }
  if (!g || !g->fwd || !g->bwd) {
    grid2_free(g);
    err_set(err, CS_ENOMEM, "out of memory for the Sobolev metric (%zu x %zu grid)", n, n);
    return NULL;
  }
  return loss_metric_new(g->N, k, s, grid2_apply, g, grid2_free, err);
}

int spectral_sobolev_metric(const Dataset *train, double s, LossMetric **out, Err *err) {
  *out = NULL;
  size_t n = train->grid_n, N = train->grid_dims == 2 ? n * n : n;
  if (!train->grid_dims || n < 2 || N != train->n)
    return err_set(err, CS_EINVAL,
                   "the Sobolev loss needs grid data (synth:sines, synth:sines2d, a square "
                   "image:PATH); '%s' is not a grid",
                   train->name);
  *out = train->grid_dims == 1 ? loss_metric_grid1d(n, train->k, s, err)
                               : metric_grid2d(n, train->k, s, err);
  return *out ? CS_OK : err->code;
}
