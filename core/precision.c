/* precision.c: the --precision values and the tolerance floor of float32 products. */
#include "precision.h"

#include <string.h>

static const char *const names[] = {"f64", "mixed", "f32"};

int precision_parse(const char *text, Precision *p, Err *err) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(text, names[i])) {
      *p = (Precision)i;
      return CS_OK;
    }
  return err_set(err, CS_EINVAL, "--precision '%s': use f64, mixed or f32", text);
}

const char *precision_name(Precision p) { return (unsigned)p < 3 ? names[p] : "?"; }

int precision_f32_passes(Precision p) { return p == PREC_MIXED || p == PREC_F32; }

/* Measured (tests/test_precision.c, docs/PERFORMANCE.md): a float32 HVP differs from the
 * float64 one by 1e-7..1e-6 of ‖Hv‖ on the bench nets, so a Ritz pair's residual stalls
 * near there; 1e-5 leaves a factor of 10 of headroom. */
double precision_tol_min(Precision p) { return precision_f32_passes(p) ? 1e-5 : 0.0; }

int precision_check_tol(Precision p, double tol, const char *what, Err *err) {
  double lo = precision_tol_min(p);
  if (lo > 0 && tol < lo)
    return err_set(err, CS_EINVAL,
                   "%s %g is below what a float32 HVP supports (%g relative) under --precision "
                   "%s: use %s >= %g or --precision f64",
                   what, tol, lo, precision_name(p), what, lo);
  return CS_OK;
}
