/*
 * rank.c: the numbers the spectral-bias study reports about its convergence times:
 * average ranks, Spearman's correlation, τ bookkeeping and PSNR (see spectral.h).
 */
#include <math.h>
#include <stdlib.h>

#include "spectral.h"

typedef struct {
  double v;
  size_t i;
} Ranked;

static int cmp_ranked(const void *a, const void *b) {
  double x = ((const Ranked *)a)->v, y = ((const Ranked *)b)->v;
  return (x > y) - (x < y); /* +∞ == +∞: ties */
}

void spec_ranks(const double *v, size_t n, double *rank) {
  Ranked *r = malloc((n ? n : 1) * sizeof *r);
  if (!r) { /* rank ties everything: the caller's correlation comes out NAN */
    for (size_t i = 0; i < n; i++) rank[i] = NAN;
    return;
  }
  for (size_t i = 0; i < n; i++) r[i] = (Ranked){v[i], i};
  qsort(r, n, sizeof *r, cmp_ranked);
  for (size_t a = 0; a < n;) {
    size_t b = a + 1;
    while (b < n && r[b].v == r[a].v) b++;
    double mean = 0.5 * (double)(a + 1 + b); /* ranks a+1 .. b */
    for (size_t j = a; j < b; j++) rank[r[j].i] = mean;
    a = b;
  }
  free(r);
}

double spec_spearman(const double *x, const double *y, size_t n) {
  if (n < 2) return NAN;
  for (size_t i = 0; i < n; i++)
    if (isnan(x[i]) || isnan(y[i])) return NAN;
  double *rx = malloc(2 * n * sizeof *rx);
  if (!rx) return NAN;
  double *ry = rx + n;
  spec_ranks(x, n, rx);
  spec_ranks(y, n, ry);
  double mean = 0.5 * (double)(n + 1), sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; i++) {
    double a = rx[i] - mean, b = ry[i] - mean;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  free(rx);
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

size_t spec_tau_update(double *tau, const double *err, size_t n, double eps, long step) {
  size_t left = 0;
  for (size_t i = 0; i < n; i++) {
    if (tau[i] < 0 && err[i] < eps) tau[i] = (double)step;
    left += tau[i] < 0;
  }
  return left;
}

double spec_psnr(double mse, double range) {
  if (!(range > 0) || !(mse >= 0)) return NAN;
  return mse == 0 ? INFINITY : 10.0 * log10(range * range / mse);
}
