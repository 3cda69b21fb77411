/* auto.c: eig_solve_auto, the own Lanczos where it meets ARPACK's tolerance (eig.h). */
#include <math.h>

#include "lanczos/lz_internal.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Products the own Lanczos may spend before ARPACK takes over from its vectors: where it
 * converges it needs far fewer (docs/LANCZOS.md), and on a tight cluster it can stall at a
 * small basis cap that ARPACK's restarts handle, warm-started, in a fraction of a cold
 * solve. */
#define AUTO_LANCZOS_BUDGET 300

int eig_solve_auto(const Linop *op, const EigOpts *o, EigResult *r, const char **used,
                   Err *err) {
  EigOpts lo = *o;
  lo.exact_residuals = 1; /* the test below is on the true residuals */
  lo.maxit = MIN(o->maxit, MAX(AUTO_LANCZOS_BUDGET, 2 * (o->which == EIG_BOTH ? 2 * o->k : o->k)));
  if (used) *used = "lanczos";
  int rc = eig_lanczos_top(op, &lo, r, err);
  if (rc && rc != CS_ENOCONV) return rc;
  /* ARPACK's acceptance: ||A v - theta v|| <= tol * max(eps^(2/3), |theta|) */
  const double floor_ = pow(2.220446049250313e-16, 2.0 / 3.0);
  int pass = rc == CS_OK && r->converged;
  for (int j = 0; j < r->k && pass; j++)
    pass = r->residuals[j] <= o->tol * MAX(floor_, fabs(r->values[j]));
  if (pass) return CS_OK;
  err_clear(err);
  /* ARPACK decides, from the Lanczos vectors (their sum; ARPACK nudges it) */
  EigResult l = *r;
  EigOpts ao = *o;
  ao.warm = l.vectors;
  ao.nwarm = l.k;
  if (used) *used = "lanczos+arpack";
  rc = eig_arpack(op, &ao, r, err);
  r->matvecs += l.matvecs;
  r->residual_matvecs += l.residual_matvecs;
  r->wall_s += l.wall_s;
  eig_result_free(&l);
  return rc;
}
