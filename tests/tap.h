/*
 * tap.h: the one small test harness: TAP output, relative-error checks.
 *
 * Each test program calls tap_ok / tap_rel for every assertion and returns
 * tap_done() from main. Output is TAP ("ok N - name" / "not ok N - name"),
 * which meson parses (protocol: 'tap').
 */
#ifndef CS_TAP_H
#define CS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int tap_n_ = 0, tap_fail_ = 0;

static inline int tap_ok(int cond, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tap_n_++;
  if (!cond) tap_fail_++;
  printf("%sok %d - ", cond ? "" : "not ", tap_n_);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  return cond;
}

/* |x - ref| <= tol * max(|ref|, floor); prints both values on failure. */
static inline int tap_rel(double x, double ref, double tol, const char *name) {
  double den = fabs(ref) > 1e-300 ? fabs(ref) : 1.0;
  double rel = fabs(x - ref) / den;
  int ok = rel <= tol && !isnan(x);
  tap_ok(ok, "%s (got %.12g, want %.12g, rel %.2e, tol %.0e)", name, x, ref, rel, tol);
  return ok;
}

/* max_i |x_i - ref_i| / max_i |ref_i| (the absolute difference when ref is all zero): a
 * vector's error relative to its scale. */
static inline double tap_max_rel(const double *x, const double *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num = fmax(num, fabs(x[i] - ref[i]));
    den = fmax(den, fabs(ref[i]));
  }
  return den > 0 ? num / den : num;
}

static inline void tap_diag(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("# ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

static inline int tap_done(void) {
  printf("1..%d\n", tap_n_);
  return tap_fail_ ? 1 : 0;
}

#endif
