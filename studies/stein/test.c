/* test.c: the neural Stein test from the critic's values (stein.h). */
#include <math.h>
#include <stdlib.h>

#include "stein.h"

double stein_normal_quantile(double p) {
  if (!(p > 0 && p < 1)) return NAN;
  double lo = -40, hi = 40;
  while (hi - lo > 1e-12) {
    double mid = 0.5 * (lo + hi);
    if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

int stein_test_values(const double *T, size_t n, const double *T0, size_t n0, double alpha,
                      long boot, Rng *rng, SteinTestResult *r, Err *err) {
  if (n < 2 || n0 < 1 || boot < 1 || !(alpha > 0 && alpha < 1))
    return err_set(err, CS_EINVAL, "stein test: %zu test values, %zu null values, %ld draws, α %g",
                   n, n0, boot, alpha);
  double m = 0, v = 0;
  for (size_t i = 0; i < n; i++) m += T[i];
  m /= (double)n;
  for (size_t i = 0; i < n; i++) v += (T[i] - m) * (T[i] - m);
  v /= (double)(n - 1);
  /* The null draws are centred on the pool's mean: under p = q, E_q[T_q f] = 0 for any f
   * (Stein's identity), and the pool mean's own error would otherwise add to the draws'
   * spread only on one side (level 0.08-0.10 at n0 = 3n uncentred). */
  double m0 = 0;
  for (size_t i = 0; i < n0; i++) m0 += T0[i];
  m0 /= (double)n0;
  long above = 0;
  for (long b = 0; b < boot; b++) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += T0[rng_below(rng, n0)];
    above += s / (double)n - m0 >= m;
  }
  r->stat = m;
  r->pvalue = (1.0 + (double)above) / (1.0 + (double)boot);
  r->reject = r->pvalue <= alpha;
  r->tstat = v > 0 ? sqrt((double)n) * m / sqrt(v) : 0;
  r->reject_t = r->tstat > stein_normal_quantile(1 - alpha);
  return CS_OK;
}
