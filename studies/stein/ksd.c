/* ksd.c: the kernel Stein discrepancy baseline (stein.h): RBF kernel with the median
 * heuristic, V-statistic, wild bootstrap. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stein.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of the squared distances between distinct rows (1 when all coincide). */
static double median_sqdist(const double *X, size_t n, size_t d, double *buf) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      double r = 0;
      for (size_t k = 0; k < d; k++) r += (X[i * d + k] - X[j * d + k]) * (X[i * d + k] - X[j * d + k]);
      buf[c++] = r;
    }
  if (!c) return 1;
  qsort(buf, c, sizeof *buf, cmp_double);
  double m = c % 2 ? buf[c / 2] : 0.5 * (buf[c / 2 - 1] + buf[c / 2]);
  return m > 0 ? m : 1;
}

/* u_q(x, y) = sₓᵀs_y k + sₓᵀ∇_y k + s_yᵀ∇ₓk + tr ∇ₓ∇_y k for k = exp(−‖r‖²/h), r = x − y:
 * k(sₓᵀs_y + (2/h)(sₓ − s_y)ᵀr + 2d/h − 4‖r‖²/h²). */
static double stein_kernel(const double *x, const double *y, const double *sx, const double *sy,
                           size_t d, double h) {
  double r2 = 0, ss = 0, sxr = 0, syr = 0;
  for (size_t k = 0; k < d; k++) {
    double r = x[k] - y[k];
    r2 += r * r;
    ss += sx[k] * sy[k];
    sxr += sx[k] * r;
    syr += sy[k] * r;
  }
  double kv = exp(-r2 / h);
  return kv * (ss + 2 * (sxr - syr) / h + 2 * (double)d / h - 4 * r2 / (h * h));
}

int stein_ksd_test(const double *X, const double *S, size_t n, size_t d, double alpha, long boot,
                   Rng *rng, SteinTestResult *r, Err *err) {
  if (n < 2 || boot < 1 || !(alpha > 0 && alpha < 1))
    return err_set(err, CS_EINVAL, "ksd test: %zu rows, %ld draws, α %g", n, boot, alpha);
  double *U = malloc(n * n * sizeof *U), *w = malloc(n * sizeof *w);
  double *buf = malloc((n * (n - 1) / 2 + 1) * sizeof *buf);
  if (!U || !w || !buf) {
    free(U), free(w), free(buf);
    return err_set(err, CS_ENOMEM, "out of memory for the KSD (%zu rows)", n);
  }
  double h = 2 * median_sqdist(X, n, d, buf), V = 0;  /* bandwidth: the median distance */
#pragma omp parallel for schedule(static) reduction(+ : V) if (n > 200)
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      double u = j < i ? 0 : stein_kernel(X + i * d, X + j * d, S + i * d, S + j * d, d, h);
      if (j >= i) U[i * n + j] = u, V += (j == i ? 1.0 : 2.0) * u;
    }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < i; j++) U[i * n + j] = U[j * n + i];
  V /= (double)(n * n);
  long above = 0;
  for (long b = 0; b < boot; b++) {
    rng_rademacher(rng, w, n);
    double s = 0;
    for (size_t i = 0; i < n; i++) {
      double t = 0;
      for (size_t j = 0; j < n; j++) t += U[i * n + j] * w[j];
      s += w[i] * t;
    }
    above += s / (double)(n * n) >= V;
  }
  r->stat = V;
  r->pvalue = (1.0 + (double)above) / (1.0 + (double)boot);
  r->reject = r->pvalue <= alpha;
  r->tstat = NAN;
  r->reject_t = 0;
  free(U), free(w), free(buf);
  return CS_OK;
}
