/*
 * lanczos.c: the plain Lanczos recurrence (lanczos_run) and the own extreme
 * eigen-solver built on it (eig_lanczos_top).
 *
 * Full reorthogonalisation (classical Gram-Schmidt twice against the whole
 * stored basis) keeps Q orthonormal to rounding, so T's Ritz values carry no
 * ghost copies and |beta_m s_{m,i}| is the true residual of Ritz pair i. No
 * restart: memory is n * (basis cap) doubles; each step costs one product and
 * O(n m) flops. All workspaces are allocated once per call.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "lanczos/lz_internal.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

int lanczos_run(const Linop *op, const double *v0, int m, double *alpha, double *beta,
                double *Q, long *matvecs, Err *err) {
  if (!op || !op->apply || op->n == 0)
    return -err_set(err, CS_EINVAL, "lanczos_run: operator is NULL, has no apply or size 0");
  size_t n = op->n;
  if (m < 1 || (size_t)m > n)
    return -err_set(err, CS_EINVAL, "lanczos_run: m=%d steps must be in [1, n=%zu]", m, n);
  if (!v0 || !alpha || !beta || !Q)
    return -err_set(err, CS_EINVAL,
                    "lanczos_run: v0, alpha, beta and Q (n*m basis, needed for full "
                    "reorthogonalisation) must all be given");
  double v0n = cblas_dnrm2((int)n, v0, 1);
  if (!(v0n > 0.0) || !isfinite(v0n))
    return -err_set(err, CS_EINVAL, "lanczos_run: start vector v0 is zero or not finite");
  double *w = malloc(n * sizeof *w), *h = malloc((size_t)m * sizeof *h);
  if (!w || !h) {
    free(w);
    free(h);
    return -err_set(err, CS_ENOMEM, "lanczos_run: cannot allocate workspace (n=%zu)", n);
  }
  for (size_t i = 0; i < n; i++) Q[i] = v0[i] / v0n;
  double tnorm = 0.0;
  int steps = 0, rc = CS_OK;
  for (int j = 0; j < m; j++) {
    int bd = 0;
    double *qnext = j + 1 < m ? Q + (size_t)(j + 1) * n : NULL;
    rc = lz_step(op, Q, j, alpha, beta, w, h, qnext, &tnorm, &bd, err);
    if (rc) break;
    if (matvecs) (*matvecs)++;
    steps = j + 1;
    if (bd) break;
  }
  free(w);
  free(h);
  return rc ? -rc : steps;
}

/* Workspace for the Ritz pairs of T_m by LAPACK dstevr (range I), sized for the cap. */
typedef struct RitzWork {
  double *d, *e, *work;
  int *isuppz, *iwork;
  int lwork, liwork;
} RitzWork;

/* The wanted Ritz pairs of T_m in result layout (top descending, then bottom
 * ascending): theta[i] and unit eigenvectors S + i*m of T_m. */
static int ritz_pairs(const double *alpha, const double *beta, int m, EigWhich which, int k,
                      double *theta, double *S, RitzWork *rw, Err *err) {
  int ends[2][2], nends = 0; /* (il, iu), 1-based, ascending */
  if (which != EIG_BOTTOM) ends[nends][0] = m - k + 1, ends[nends][1] = m, nends++;
  if (which != EIG_TOP) ends[nends][0] = 1, ends[nends][1] = k, nends++;
  int out = 0;
  for (int t = 0; t < nends; t++) {
    memcpy(rw->d, alpha, (size_t)m * sizeof *rw->d);
    if (m > 1) memcpy(rw->e, beta, (size_t)(m - 1) * sizeof *rw->e);
    rw->e[m - 1] = 0.0;
    lapack_int found = 0;
    double *wv = theta + out, *Z = S + (size_t)out * m;
    lapack_int info = LAPACKE_dstevr_work(LAPACK_COL_MAJOR, 'V', 'I', m, rw->d, rw->e, 0.0, 0.0,
                                          ends[t][0], ends[t][1], 0.0, &found, wv, Z, m,
                                          rw->isuppz, rw->work, rw->lwork, rw->iwork, rw->liwork);
    if (info != 0 || found != k)
      return err_set(err, CS_ENOCONV, "eig_lanczos_top: LAPACK dstevr failed (info=%d, m=%d)",
                     (int)info, m);
    int top = which != EIG_BOTTOM && t == 0;
    if (top) { /* ascending -> descending */
      for (int a = 0, b = k - 1; a < b; a++, b--) {
        double tv = wv[a];
        wv[a] = wv[b];
        wv[b] = tv;
        for (int i = 0; i < m; i++) {
          double tz = Z[(size_t)a * m + i];
          Z[(size_t)a * m + i] = Z[(size_t)b * m + i];
          Z[(size_t)b * m + i] = tz;
        }
      }
    }
    out += k;
  }
  return CS_OK;
}

int eig_lanczos_top(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
  const double t0 = wall_time();
  if (!r) return err_set(err, CS_EINVAL, "eig_lanczos_top: result is NULL");
  memset(r, 0, sizeof *r);
  int nev, rc = lz_check_opts(op, o, &nev, "eig_lanczos_top", err);
  if (rc) return rc;
  const size_t n = op->n;
  int cap = o->ncv > 0 ? o->ncv : MIN(o->maxit, MAX(200, 20 * o->k));
  if ((size_t)cap > n) cap = (int)n;
  if (cap > o->maxit) cap = o->maxit;
  if (cap < nev)
    return err_set(err, CS_EINVAL,
                   "eig_lanczos_top: basis cap %d (ncv/maxit) is below the %d wanted pairs", cap,
                   nev);
  const int k = o->k;
  const size_t c = (size_t)cap;
  double *Q = malloc(n * c * sizeof *Q), *w = malloc(n * sizeof *w);
  double *h = malloc(c * sizeof *h), *alpha = malloc(c * sizeof *alpha);
  double *beta = malloc(c * sizeof *beta), *theta = malloc((size_t)nev * sizeof *theta);
  double *S = malloc(c * (size_t)nev * sizeof *S);
  RitzWork rw = {0};
  rw.lwork = 20 * cap;
  rw.liwork = 10 * cap;
  rw.d = malloc(c * sizeof *rw.d);
  rw.e = malloc(c * sizeof *rw.e);
  rw.work = malloc((size_t)rw.lwork * sizeof *rw.work);
  rw.isuppz = malloc(2 * c * sizeof *rw.isuppz);
  rw.iwork = malloc((size_t)rw.liwork * sizeof *rw.iwork);
  if (!Q || !w || !h || !alpha || !beta || !theta || !S || !rw.d || !rw.e || !rw.work ||
      !rw.isuppz || !rw.iwork) {
    rc = err_set(err, CS_ENOMEM, "eig_lanczos_top: cannot allocate a %zu x %d basis", n, cap);
    goto done;
  }
  rc = lz_start_vector(n, o->warm, o->nwarm, o->seed, Q, err);
  if (rc) {
    err_prefix(err, "eig_lanczos_top");
    goto done;
  }

  const double sqeps = sqrt(2.220446049250313e-16);
  double tnorm = 0.0;
  long matvecs = 0;
  int m = 0, nconv = 0, breakdown = 0;
  for (int j = 0; j < cap; j++) {
    double *qnext = j + 1 < cap ? Q + (size_t)(j + 1) * n : NULL;
    rc = lz_step(op, Q, j, alpha, beta, w, h, qnext, &tnorm, &breakdown, err);
    if (rc) {
      err_prefix(err, "eig_lanczos_top");
      goto done;
    }
    matvecs++;
    m = j + 1;
    if (breakdown && m < nev) {
      rc = err_set(err, CS_ENOCONV,
                   "eig_lanczos_top: the start vector spans an invariant subspace of dimension %d, "
                   "fewer than the %d wanted pairs (try another seed or eig_arpack)",
                   m, nev);
      goto done;
    }
    /* Check once T_m has nev Ritz values and (unless forced) twice as many steps. */
    if (m < nev || (m < MIN(cap, 2 * nev) && !breakdown)) continue;
    rc = ritz_pairs(alpha, beta, m, o->which, k, theta, S, &rw, err);
    if (rc) goto done;
    nconv = 0;
    for (int i = 0; i < nev; i++) {
      double est = fabs(beta[m - 1] * S[(size_t)i * m + m - 1]);
      nconv += breakdown || est <= o->tol * MAX(fabs(theta[i]), sqeps * tnorm);
    }
    if (nconv == nev || breakdown) break;
  }

  rc = lz_result_alloc(r, n, nev, err);
  if (rc) goto done;
  r->k = nev;
  r->ntop = o->which == EIG_BOTTOM ? 0 : k;
  r->nbottom = o->which == EIG_TOP ? 0 : k;
  for (int i = 0; i < nev; i++) {
    r->values[i] = theta[i];
    r->residuals[i] = fabs(beta[m - 1] * S[(size_t)i * m + m - 1]);
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, m, 1.0, Q, (int)n, S + (size_t)i * m, 1, 0.0,
                r->vectors + (size_t)i * n, 1);
  }
  r->matvecs = matvecs;
  r->iterations = m;
  r->ncv = cap;
  r->next_value = NAN;
  if (o->which == EIG_TOP && m > k) { /* all Ritz values of T_m, ascending */
    memcpy(rw.d, alpha, (size_t)m * sizeof *rw.d);
    memcpy(rw.e, beta, (size_t)(m - 1) * sizeof *rw.e);
    if (LAPACKE_dsterf(m, rw.d, rw.e) == 0) r->next_value = rw.d[m - k - 1];
  }
  r->nconv = nconv;
  r->converged = nconv == nev;
  if (o->exact_residuals) {
    /* The basis is no longer needed: reuse it as the block output. */
    rc = lz_exact_residuals(op, r, Q, err); /* cap >= nev columns */
    if (rc) goto done;
  }
  if (!r->converged)
    rc = err_set(err, CS_ENOCONV,
                 "eig_lanczos_top: basis cap %d reached: %d of %d pairs converged to tol=%g "
                 "(%ld products); raise ncv or maxit",
                 cap, nconv, nev, o->tol, matvecs);
done:
  if (rc && rc != CS_ENOCONV) eig_result_free(r);
  if (r) r->wall_s = wall_time() - t0;
  free(Q);
  free(w);
  free(h);
  free(alpha);
  free(beta);
  free(theta);
  free(S);
  free(rw.d);
  free(rw.e);
  free(rw.work);
  free(rw.isuppz);
  free(rw.iwork);
  return rc;
}
