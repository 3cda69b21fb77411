/* common.c: options, results, the Lanczos step and start vectors (see lz_internal.h). */
#include "lanczos/lz_internal.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void eig_opts_default(EigOpts *o) {
  memset(o, 0, sizeof *o);
  o->k = 1;
  o->which = EIG_TOP;
  o->tol = 1e-6;
  o->maxit = 1000;
  o->ncv = 0;
  o->warm = NULL;
  o->nwarm = 0;
  o->seed = 0;
  o->exact_residuals = 1;
}

void eig_result_free(EigResult *r) {
  if (!r) return;
  free(r->values);
  if (!r->vectors_borrowed) free(r->vectors);
  free(r->residuals);
  memset(r, 0, sizeof *r);
}

int lz_result_alloc(EigResult *r, size_t n, int k, int with_vectors, Err *err) {
  memset(r, 0, sizeof *r);
  size_t kk = k > 0 ? (size_t)k : 1;
  r->values = calloc(kk, sizeof *r->values);
  if (with_vectors) r->vectors = calloc(kk * n, sizeof *r->vectors);
  r->residuals = calloc(kk, sizeof *r->residuals);
  if (!r->values || (with_vectors && !r->vectors) || !r->residuals) {
    eig_result_free(r);
    return err_set(err, CS_ENOMEM, "eigen result: cannot allocate %d vectors of length %zu", k, n);
  }
  return CS_OK;
}

int lz_check_opts(const Linop *op, const EigOpts *o, int *nev, const char *who, Err *err) {
  if (!op || !op->apply || op->n == 0)
    return err_set(err, CS_EINVAL, "%s: operator is NULL, has no apply or has size 0", who);
  if (op->n > (size_t)INT_MAX / 4)
    return err_set(err, CS_EINVAL, "%s: n=%zu is too large for 32-bit BLAS/ARPACK indices", who,
                   op->n);
  if (!o) return err_set(err, CS_EINVAL, "%s: options are NULL", who);
  if (o->which != EIG_TOP && o->which != EIG_BOTTOM && o->which != EIG_BOTH)
    return err_set(err, CS_EINVAL, "%s: which=%d is not EIG_TOP, EIG_BOTTOM or EIG_BOTH", who,
                   (int)o->which);
  if (o->k < 1) return err_set(err, CS_EINVAL, "%s: k=%d must be >= 1", who, o->k);
  int m = o->which == EIG_BOTH ? 2 * o->k : o->k;
  if ((size_t)m >= op->n)
    return err_set(err, CS_EINVAL,
                   "%s: %d wanted pairs need an operator larger than n=%zu (use dense_eig_sym)",
                   who, m, op->n);
  if (!(o->tol >= 0.0) || !isfinite(o->tol))
    return err_set(err, CS_EINVAL, "%s: tol=%g must be finite and >= 0", who, o->tol);
  if (o->maxit < 1) return err_set(err, CS_EINVAL, "%s: maxit=%d must be >= 1", who, o->maxit);
  if (o->ncv < 0) return err_set(err, CS_EINVAL, "%s: ncv=%d must be >= 0", who, o->ncv);
  if (o->nwarm < 0 || (o->nwarm > 0 && !o->warm))
    return err_set(err, CS_EINVAL, "%s: nwarm=%d with warm=%s", who, o->nwarm,
                   o->warm ? "set" : "NULL");
  *nev = m;
  return CS_OK;
}

int lz_start_vector(size_t n, const double *warm, int nwarm, uint64_t seed, double *v, Err *err) {
  Rng rng;
  rng_seed_stream(&rng, seed, 0x57a27);
  rng_normal_fill(&rng, v, n);
  double gn = cblas_dnrm2((int)n, v, 1);
  cblas_dscal((int)n, 1.0 / gn, v, 1);
  if (warm && nwarm > 0) {
    /* v = 1e-6 * g + sum_j warm_j / ||sum||, so the nudge is relative to a unit sum. */
    double *s = v; /* accumulate in place: first scale g down, then add the warm sum */
    double norm = 0.0;
    for (size_t i = 0; i < n; i++) {
      double acc = 0.0;
      for (int j = 0; j < nwarm; j++) acc += warm[(size_t)j * n + i];
      norm += acc * acc;
    }
    norm = sqrt(norm);
    if (!isfinite(norm)) return err_set(err, CS_EINVAL, "warm start: vectors are not finite");
    if (norm > 0.0) {
      for (size_t i = 0; i < n; i++) {
        double acc = 0.0;
        for (int j = 0; j < nwarm; j++) acc += warm[(size_t)j * n + i];
        s[i] = acc / norm + 1e-6 * s[i];
      }
    } /* a zero sum falls back to the Gaussian */
  }
  double vn = cblas_dnrm2((int)n, v, 1);
  cblas_dscal((int)n, 1.0 / vn, v, 1);
  return CS_OK;
}

int lz_start_given(size_t n, const double *warm, const double *products, int nwarm, double *v,
                   double *w) {
  double norm = 0.0;
  for (size_t i = 0; i < n; i++) {
    double acc = 0.0, accw = 0.0;
    for (int j = 0; j < nwarm; j++) {
      acc += warm[(size_t)j * n + i];
      accw += products[(size_t)j * n + i];
    }
    v[i] = acc, w[i] = accw;
    norm += acc * acc;
  }
  norm = sqrt(norm);
  if (!(norm > 0.0) || !isfinite(norm)) return 0;
  cblas_dscal((int)n, 1.0 / norm, v, 1);
  cblas_dscal((int)n, 1.0 / norm, w, 1);
  return 1;
}

/* One classical Gram-Schmidt pass of w against q_0..q_{c-1}: h = Q^T w, then
 * w -= Q h unless every |h_i| is at most LZ_ORTH_LEVEL * ||w|| (norm given): after
 * the local recurrence the coefficients are usually rounding-sized, and subtracting
 * them would move w by less than that level. Both halves stream the whole basis, so
 * a pass that stops at the measurement costs half. Returns whether w changed. */
static int cgs_pass(int n, int c, const double *Q, double *w, double *h, double wnorm) {
  cblas_dgemv(CblasColMajor, CblasTrans, n, c, 1.0, Q, n, w, 1, 0.0, h, 1);
  double hmax = 0.0;
  for (int i = 0; i < c; i++) hmax = fmax(hmax, fabs(h[i]));
  if (hmax <= LZ_ORTH_LEVEL * wnorm) return 0; /* (a NaN goes on to the update) */
  cblas_dgemv(CblasColMajor, CblasNoTrans, n, c, -1.0, Q, n, h, 1, 1.0, w, 1);
  return 1;
}

int lz_step(const Linop *op, const double *Q, int j, int local, double *alpha, double *beta,
            double *w, double *h, double *qnext, double *tnorm, int *breakdown, Err *err) {
  return lz_step_given(op, Q, j, local, 0, alpha, beta, w, h, qnext, tnorm, breakdown, err);
}

int lz_step_given(const Linop *op, const double *Q, int j, int local, int have_w, double *alpha,
                  double *beta, double *w, double *h, double *qnext, double *tnorm,
                  int *breakdown, Err *err) {
  const int n = (int)op->n, c = j + 1;
  const double *q = Q + (size_t)j * op->n;
  int rc = have_w ? CS_OK : op->apply(op->self, q, w);
  if (rc) return err_set(err, rc, "Lanczos step %d: operator apply failed (status %d)", j, rc);
  double a = 0.0;
  if (local) { /* the three-term recurrence: what is left for CGS is rounding-sized */
    if (j > 0) cblas_daxpy(n, -beta[j - 1], q - op->n, 1, w, 1);
    a = cblas_ddot(n, q, 1, w, 1);
    cblas_daxpy(n, -a, q, 1, w, 1);
  }
  /* DGKS: a pass leaves components along Q of about eps * (norm before it), which is
   * rounding level for the result unless the pass cancelled much of w; so repeat it
   * only when the norm fell below 1/sqrt(2) of what it was. */
  double b = cblas_dnrm2(n, w, 1);
  for (int pass = 0; pass < 2; pass++) {
    double before = b;
    if (!cgs_pass(n, c, Q, w, h, before)) break;
    a += h[j];
    b = cblas_dnrm2(n, w, 1);
    if (!(b < M_SQRT1_2 * before)) break;
  }
  if (!isfinite(a) || !isfinite(b))
    return err_set(err, CS_EINVAL, "Lanczos step %d: operator produced NaN or Inf", j);
  alpha[j] = a;
  beta[j] = b;
  if (fabs(a) > *tnorm) *tnorm = fabs(a);
  if (b > *tnorm) *tnorm = b;
  *breakdown = b <= LZ_BREAKDOWN * *tnorm;
  if (qnext && !*breakdown)
    for (int i = 0; i < n; i++) qnext[i] = w[i] / b;
  return CS_OK;
}

int lz_exact_residuals(const Linop *op, EigResult *r, Err *err) {
  size_t n = op->n;
  if (r->k <= 0) return CS_OK;
  /* allocated after the solver has shrunk its basis to the result: not on top of it */
  double *Y = malloc(n * (size_t)r->k * sizeof *Y);
  if (!Y) return err_set(err, CS_ENOMEM, "exact residuals: cannot allocate %d vectors", r->k);
  int rc = linop_apply_block(op, (size_t)r->k, r->vectors, Y);
  if (rc) {
    free(Y);
    return err_set(err, rc, "exact residuals: operator apply failed (status %d)", rc);
  }
  r->matvecs += r->k;
  r->residual_matvecs += r->k;
  for (int j = 0; j < r->k; j++) {
    double *y = Y + (size_t)j * n;
    cblas_daxpy((int)n, -r->values[j], r->vectors + (size_t)j * n, 1, y, 1);
    r->residuals[j] = cblas_dnrm2((int)n, y, 1);
  }
  free(Y);
  return CS_OK;
}
