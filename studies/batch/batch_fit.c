/* batch_fit.c: power-law and spiked-model fits, Spearman's ρ (see batch_fit.h). */
#include "batch_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


int batch_fit_line(const double *x, const double *y, int n, double *slope, double *icept,
                   double *r2, Err *err) {
  if (n < 2) return err_set(err, CS_EINVAL, "a line through %d point(s)", n);
  double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;
  for (int i = 0; i < n; i++) mx += x[i], my += y[i];
  mx /= n, my /= n;
  for (int i = 0; i < n; i++) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (!(sxx > 0)) return err_set(err, CS_EINVAL, "a line through %d points with one abscissa", n);
  *slope = sxy / sxx;
  *icept = my - *slope * mx;
  double ssr = 0;
  for (int i = 0; i < n; i++) {
    double e = y[i] - (*slope * x[i] + *icept);
    ssr += e * e;
  }
  *r2 = syy > 0 ? 1.0 - ssr / syy : 1.0;
  return CS_OK;
}

int batch_fit_power(const size_t *B, const double *mean, int nb, size_t N, double lambda_N,
                    BatchFit *f, Err *err) {
  double x[BS_FIT_MAX], y[BS_FIT_MAX];
  int n = 0;
  for (int i = 0; i < nb && n < BS_FIT_MAX; i++) {
    double e = mean[i] - lambda_N;
    if (B[i] < N && e > 0) {
      x[n] = log(1.0 / (double)B[i] - 1.0 / (double)N);
      y[n++] = log(e);
    }
  }
  if (n < 2)
    return err_set(err, CS_EINVAL, "power-law fit: %d batch size(s) with λ̄(B) above λ_N (need 2)",
                   n);
  double slope, icept;
  int rc = batch_fit_line(x, y, n, &slope, &icept, &f->r2, err);
  if (rc) return rc;
  f->a = slope;
  f->c = exp(icept);
  f->npoints = n;
  return CS_OK;
}

int batch_fit_spiked(const size_t *B, const double *mean, int nb, size_t N, double lambda_N,
                     BatchFit *f, Err *err) {
  double suu = 0, sue = 0, se = 0, see = 0;
  int n = 0;
  for (int i = 0; i < nb; i++) {
    if (B[i] >= N) continue;
    double u = 1.0 / (double)B[i] - 1.0 / (double)N, e = mean[i] - lambda_N;
    suu += u * u, sue += u * e, se += e, see += e * e;
    n++;
  }
  if (n < 1) return err_set(err, CS_EINVAL, "spiked-model fit: no batch size below N = %zu", N);
  f->a = 1.0;
  f->c = sue / suu;
  f->npoints = n;
  /* Σ(e − K u)² = see − 2K sue + K² suu; SS_tot about the mean of e. */
  double ssr = see - 2 * f->c * sue + f->c * f->c * suu, sst = see - se * se / n;
  f->r2 = sst > 0 ? 1.0 - ssr / sst : NAN;
  return CS_OK;
}

double batch_spiked_predict(double lambda_N, double hv) {
  return lambda_N * lambda_N > hv ? lambda_N + hv / lambda_N : 2.0 * sqrt(hv);
}

/* Ranks 1..n of v (n <= BS_FIT_MAX), ties sharing their mean rank. */
static void ranks(const double *v, int n, int *order, double *rk) {
  for (int i = 0; i < n; i++) { /* insertion sort of the indices by value: n is small */
    int t = i;
    while (t > 0 && v[order[t - 1]] > v[i]) order[t] = order[t - 1], t--;
    order[t] = i;
  }
  for (int i = 0; i < n;) {
    int j = i;
    while (j + 1 < n && v[order[j + 1]] == v[order[i]]) j++;
    for (int t = i; t <= j; t++) rk[order[t]] = 0.5 * (i + j) + 1.0;
    i = j + 1;
  }
}

double batch_spearman(const double *x, const double *y, int n) {
  if (n < 2 || n > BS_FIT_MAX) return NAN;
  int order[BS_FIT_MAX];
  double rx[BS_FIT_MAX], ry[BS_FIT_MAX], mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
  ranks(x, n, order, rx);
  ranks(y, n, order, ry);
  for (int i = 0; i < n; i++) mx += rx[i], my += ry[i];
  mx /= n, my /= n;
  for (int i = 0; i < n; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}
