/* analysis.c: the NTK study's small formulas: signs, rates, dominant frequencies (ntk.h). */
#include <math.h>

#include "ntk.h"

void ntk_sign_fix(double *v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; i++)
    if (fabs(v[i]) > fabs(v[best])) best = i;
  if (n && v[best] < 0)
    for (size_t i = 0; i < n; i++) v[i] = -v[i];
}

double ntk_predicted_rate(double lr, double lambda, size_t n) {
  return -log(fabs(1.0 - lr * lambda / (double)n));
}

double ntk_measured_rate(double p0, double pt, long t) {
  if (t <= 0 || p0 == 0 || isnan(p0) || isnan(pt)) return NAN;
  return -log(fabs(pt) / fabs(p0)) / (double)t;
}

size_t ntk_rates_agree(const double *meas, const double *pred, size_t k, double tol) {
  size_t m = 0;
  while (m < k && pred[m] > 0 && fabs(meas[m] / pred[m] - 1) <= tol) m++;
  return m;
}

double ntk_dominant_freq(int dims, size_t n, const double *F) {
  size_t h = n / 2 + 1, bins = dims == 1 ? h : n * h, best = 0;
  double bm = -1;
  for (size_t q = 0; q < bins; q++) {
    double m = F[2 * q] * F[2 * q] + F[2 * q + 1] * F[2 * q + 1];
    if (m > bm) bm = m, best = q;
  }
  if (dims == 1) return (double)best;
  size_t a = best / h, b = best % h;
  double kx = a <= n / 2 ? (double)a : (double)a - (double)n;
  return sqrt(kx * kx + (double)(b * b));
}
