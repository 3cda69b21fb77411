/*
 * lanczos.c: the plain Lanczos recurrence (lanczos_run) and the own extreme
 * eigen-solver built on it (eig_lanczos_top, thick-restart Lanczos).
 *
 * Full reorthogonalisation (local recurrence, then classical Gram-Schmidt
 * against the whole stored basis, a second pass only when DGKS asks for it)
 * keeps Q orthonormal to rounding, so T's Ritz values carry no ghost copies
 * and |beta_m s_{m,i}| is the true residual of Ritz pair i.
 *
 * eig_lanczos_top restarts thickly (Wu & Simon, as TRLan): when the basis
 * reaches its cap m, the p best Ritz vectors Y = Q S are rotated into Q's
 * first p columns in place and the residual becomes q_p, so that
 *       [ diag(theta)  c                        ]
 *   T = [ c^T          alpha_p  beta_p          ]    c_i = beta_{m-1} s_{m-1,i}
 *       [              beta_p   alpha_{p+1} ... ]
 * (an arrowhead, tridiagonal again below). T is small (m x m): it is assembled
 * densely and solved by LAPACK dsyevr after every step.
 * Memory: n * (m + 1) doubles plus a row-block buffer; each step costs one
 * product and O(n j) flops. All workspaces are allocated once per call.
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
    rc = lz_step(op, Q, j, 1, alpha, beta, w, h, qnext, &tnorm, &bd, err);
    if (rc) break;
    if (matvecs) (*matvecs)++;
    steps = j + 1;
    if (bd) break;
  }
  free(w);
  free(h);
  return rc ? -rc : steps;
}

/* Rows per block of the in-place basis rotation (the buffer is LZ_ROWBLOCK x m). */
#define LZ_ROWBLOCK 4096

/* eig_lanczos_top's workspace for a basis cap m, allocated once per call. */
typedef struct TrWork {
  double *Q, *w, *h;            /* basis (n x m), residual (n), Gram-Schmidt coefficients (m) */
  double *alpha, *beta, *arrow; /* (m) each: T's diagonal, its sub-diagonal from p on, and the
                                   arrow couplings of the p kept Ritz vectors to q_p */
  double *T, *Z, *S;            /* (m x m) each: dense T, its eigenvectors, the picked ones */
  double *theta;                /* (m): T's eigenvalues, ascending */
  double *buf;                  /* (LZ_ROWBLOCK x m): rotation buffer */
  double *work;                 /* dsyevr workspace */
  int *iwork, *isuppz;
  int lwork, liwork;
} TrWork;

static void trwork_free(TrWork *t) {
  free(t->Q), free(t->w), free(t->h), free(t->alpha), free(t->beta), free(t->arrow);
  free(t->T), free(t->theta), free(t->Z), free(t->S), free(t->buf), free(t->work);
  free(t->iwork), free(t->isuppz);
  memset(t, 0, sizeof *t);
}

static int trwork_alloc(TrWork *t, size_t n, int m, Err *err) {
  const size_t c = (size_t)m, mm = c * c;
  memset(t, 0, sizeof *t);
  t->Q = malloc(n * c * sizeof *t->Q);
  t->w = malloc(n * sizeof *t->w);
  t->h = malloc(c * sizeof *t->h);
  t->alpha = malloc(c * sizeof *t->alpha);
  t->beta = malloc(c * sizeof *t->beta);
  t->arrow = malloc(c * sizeof *t->arrow);
  t->T = malloc(mm * sizeof *t->T);
  t->theta = malloc(c * sizeof *t->theta);
  t->Z = malloc(mm * sizeof *t->Z);
  t->S = malloc(mm * sizeof *t->S);
  t->buf = malloc((size_t)LZ_ROWBLOCK * c * sizeof *t->buf);
  t->isuppz = malloc(2 * c * sizeof *t->isuppz);
  /* dsyevr's optimal workspace for the largest T (the query does not touch T). */
  double wq = 0.0;
  lapack_int iq = 0, found = 0;
  lapack_int info = LAPACKE_dsyevr_work(LAPACK_COL_MAJOR, 'V', 'A', 'L', m, t->T, m, 0.0, 0.0, 0,
                                        0, 0.0, &found, t->theta, t->Z, m, t->isuppz, &wq, -1,
                                        &iq, -1);
  t->lwork = info == 0 ? MAX((int)wq, 26 * m) : 26 * m;
  t->liwork = info == 0 ? MAX((int)iq, 10 * m) : 10 * m;
  t->work = malloc((size_t)t->lwork * sizeof *t->work);
  t->iwork = malloc((size_t)t->liwork * sizeof *t->iwork);
  if (!t->Q || !t->w || !t->h || !t->alpha || !t->beta || !t->arrow || !t->T || !t->theta ||
      !t->Z || !t->S || !t->buf || !t->isuppz || !t->work || !t->iwork) {
    trwork_free(t);
    return err_set(err, CS_ENOMEM, "eig_lanczos_top: cannot allocate a %zu x %d basis", n, m);
  }
  return CS_OK;
}

struct EigWork {
  size_t n;
  int cap;
  TrWork t;
};

EigWork *eig_work_alloc(size_t n, int ncv, Err *err) {
  if (n < 2 || ncv < 2 || (size_t)ncv > n) {
    err_set(err, CS_EINVAL, "eig_work_alloc: a %d-vector basis of length %zu (need 2 <= ncv <= n)",
            ncv, n);
    return NULL;
  }
  EigWork *w = calloc(1, sizeof *w);
  if (!w) {
    err_set(err, CS_ENOMEM, "eig_work_alloc: out of memory");
    return NULL;
  }
  w->n = n, w->cap = ncv;
  if (trwork_alloc(&w->t, n, ncv, err)) {
    free(w);
    return NULL;
  }
  return w;
}

void eig_work_free(EigWork *w) {
  if (!w) return;
  trwork_free(&w->t);
  free(w);
}

/* All eigenpairs of the current T (basis size m, arrow of p couplings into column p,
 * tridiagonal from p on; p = 0 before the first restart): theta ascending, Z. */
static int ritz_all(TrWork *t, int m, int p, Err *err) {
  double *T = t->T;
  memset(T, 0, (size_t)m * m * sizeof *T);
  for (int i = 0; i < m; i++) T[(size_t)i * m + i] = t->alpha[i];
  for (int i = 0; i < p; i++) T[(size_t)i * m + p] = t->arrow[i]; /* lower triangle only */
  for (int i = p; i + 1 < m; i++) T[(size_t)i * m + i + 1] = t->beta[i];
  lapack_int found = 0;
  lapack_int info = LAPACKE_dsyevr_work(LAPACK_COL_MAJOR, 'V', 'A', 'L', m, T, m, 0.0, 0.0, 0, 0,
                                        0.0, &found, t->theta, t->Z, m, t->isuppz, t->work,
                                        t->lwork, t->iwork, t->liwork);
  if (info != 0 || found != m)
    return err_set(err, CS_ENOCONV, "eig_lanczos_top: LAPACK dsyevr failed (info=%d, m=%d)",
                   (int)info, m);
  return CS_OK;
}

/* Index into the ascending theta of pair i of a selection of ntop top pairs
 * (descending) followed by bottom pairs (ascending): the result layout. */
static int pick(int i, int ntop, int m) { return i < ntop ? m - 1 - i : i - ntop; }

/* Q[:, 0..p) = Q[:, 0..m) S, S = the picked columns of Z (m x p), in place: a block of
 * rows of the product depends only on the same rows of Q, so it goes through buf
 * instead of a second n x m array. */
static void rotate_basis(TrWork *t, size_t n, int m, int p, int ntop) {
  for (int i = 0; i < p; i++)
    memcpy(t->S + (size_t)i * m, t->Z + (size_t)pick(i, ntop, m) * m, (size_t)m * sizeof *t->S);
  for (size_t r0 = 0; r0 < n; r0 += LZ_ROWBLOCK) {
    int b = (int)MIN((size_t)LZ_ROWBLOCK, n - r0);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, b, p, m, 1.0, t->Q + r0, (int)n, t->S,
                m, 0.0, t->buf, b);
    for (int c = 0; c < p; c++)
      memcpy(t->Q + (size_t)c * n + r0, t->buf + (size_t)c * b, (size_t)b * sizeof *t->buf);
  }
}

/* Distance from Ritz value z (ascending theta of a basis of size m) to the nearest
 * other one, or to o->gap_ref when that is closer: the gap of the eigenvalue bound
 * |lambda - theta| <= est^2 / gap. An early Ritz value lies below the eigenvalue it
 * approximates (interlacing), so the Ritz gap alone can be too wide; gap_ref (the
 * next eigenvalue as a nearby solve found it) keeps it honest. */
static double ritz_gap(const TrWork *t, int m, int z, double gap_ref) {
  double g = INFINITY;
  if (z > 0) g = t->theta[z] - t->theta[z - 1];
  if (z + 1 < m) g = MIN(g, t->theta[z + 1] - t->theta[z]);
  if (isfinite(gap_ref)) g = MIN(g, fabs(t->theta[z] - gap_ref));
  return isfinite(g) ? g : 0.0; /* a lone Ritz value: no bound */
}

/* Thick restart of a full basis (size m, residual w of norm beta[m-1]): keep ntop
 * top and nbot bottom Ritz pairs as q_0..q_{p-1} with T = diag(theta) plus the
 * arrow couplings, and the normalised residual as q_p. Returns p. */
static int thick_restart(TrWork *t, size_t n, int m, int ntop, int nbot) {
  const int p = ntop + nbot;
  const double bm = t->beta[m - 1];
  rotate_basis(t, n, m, p, ntop);
  for (int i = 0; i < p; i++) {
    int z = pick(i, ntop, m);
    t->alpha[i] = t->theta[z];
    t->arrow[i] = bm * t->Z[(size_t)z * m + m - 1];
  }
  double *qp = t->Q + (size_t)p * n;
  for (size_t i = 0; i < n; i++) qp[i] = t->w[i] / bm;
  return p;
}

/* Ritz pairs kept at a restart, per end: the k wanted ones plus extras (split over the
 * two ends for EIG_BOTH), leaving at least two new steps per cycle when the cap allows. */
static void keep_counts(EigWhich which, int k, int nev, int m, int *ntop, int *nbot) {
  int extra = (m - nev) / 2;
  if (nev + extra > m - 2) extra = MAX(0, m - 2 - nev);
  if (which == EIG_TOP) *ntop = k + extra, *nbot = 0;
  else if (which == EIG_BOTTOM) *ntop = 0, *nbot = k + extra;
  else *ntop = k + extra / 2, *nbot = k + extra - extra / 2;
}

int eig_lanczos_top(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
  return eig_lanczos_values(op, o, 0.0, NAN, r, err);
}

/* The basis cap when a bottom end is wanted and the caller set none (and brought no
 * workspace, whose size is its own). A Hessian's bottom is a dense cluster near zero, where a
 * 20-vector basis restarts too often to separate it: digits' bottom pair (3e-4 apart under a
 * top of 12) took 958 products in `analyze`'s default at 20 (its Lanczos budget, then ARPACK),
 * 251 by Lanczos alone at 40 and 229 at 60 (docs/LANCZOS.md). Held to BOTTOM_CAP_BYTES, so a
 * large operator keeps a smaller basis (never below the top end's). */
#define BOTTOM_CAP 60
#define BOTTOM_CAP_BYTES (512.0 * 1024.0 * 1024.0)

static int default_cap(size_t n, EigWhich which, int nev, int has_work) {
  int cap = MAX(2 * nev + 1, 20);
  if (which == EIG_TOP || has_work) return cap;
  double fit = BOTTOM_CAP_BYTES / (8.0 * (double)n);
  int wide = fit < BOTTOM_CAP ? (int)fit : BOTTOM_CAP;
  return wide > cap ? wide : cap;
}

int eig_lanczos_values(const Linop *op, const EigOpts *o, double value_tol, double gap_ref,
                       EigResult *r, Err *err) {
  const double t0 = wall_time();
  if (!r) return err_set(err, CS_EINVAL, "eig_lanczos_top: result is NULL");
  memset(r, 0, sizeof *r);
  int nev, rc = lz_check_opts(op, o, &nev, "eig_lanczos_top", err);
  if (rc) return rc;
  const size_t n = op->n;
  if (o->ncv > 0 && o->ncv <= nev)
    return err_set(err, CS_EINVAL,
                   "eig_lanczos_top: basis cap ncv=%d must exceed the %d wanted pairs (a thick "
                   "restart keeps them plus the residual)",
                   o->ncv, nev);
  if (o->maxit < nev)
    return err_set(err, CS_EINVAL, "eig_lanczos_top: maxit=%d products cannot give %d Ritz pairs",
                   o->maxit, nev);
  int cap = o->ncv > 0 ? o->ncv : default_cap(n, o->which, nev, o->work != NULL);
  if ((size_t)cap > n) cap = (int)n;
  if (cap > o->maxit) cap = o->maxit; /* never more columns than products */
  const int k = o->k, ntop_w = o->which == EIG_BOTTOM ? 0 : k;
  int keep_top, keep_bot;
  keep_counts(o->which, k, nev, cap, &keep_top, &keep_bot);
  TrWork t;
  const int own = !o->work; /* else the caller's workspace: no allocation in this solve */
  if (own) {
    if ((rc = trwork_alloc(&t, n, cap, err))) return rc;
  } else {
    if (o->work->n != n || o->work->cap < cap)
      return err_set(err, CS_EINVAL,
                     "eig_lanczos_top: the workspace holds %d vectors of length %zu, the solve "
                     "needs %d of length %zu",
                     o->work->cap, o->work->n, cap, n);
    t = o->work->t; /* the same buffers (a shallow copy: never freed here) */
  }
  /* with the warm vectors' products the first step needs none */
  int given = o->warm_products && o->warm && o->nwarm > 0 &&
              lz_start_given(n, o->warm, o->warm_products, o->nwarm, t.Q, t.w);
  if (!given && (rc = lz_start_vector(n, o->warm, o->nwarm, o->seed, t.Q, err))) {
    err_prefix(err, "eig_lanczos_top");
    goto done;
  }

  const double sqeps = sqrt(2.220446049250313e-16);
  double tnorm = 0.0;
  long matvecs = 0;
  int m = 0, p = 0, restarts = 0, nconv = 0, breakdown = 0;
  for (int j = 0;; j++) {
    double *qnext = j + 1 < cap ? t.Q + (size_t)(j + 1) * n : NULL;
    const int have_w = given && j == 0 && !restarts;
    rc = lz_step_given(op, t.Q, j, p == 0 || j > p, have_w, t.alpha, t.beta, t.w, t.h, qnext,
                       &tnorm, &breakdown, err);
    if (rc) {
      err_prefix(err, "eig_lanczos_top");
      goto done;
    }
    matvecs += !have_w;
    m = j + 1;
    if (breakdown && m < nev && given) {
      /* the un-nudged warm sum spans too small an invariant subspace: the nudged start */
      if (own) trwork_free(&t);
      EigOpts o2 = *o;
      o2.warm_products = NULL;
      rc = eig_lanczos_values(op, &o2, value_tol, gap_ref, r, err);
      r->matvecs += matvecs; /* the products spent here count too */
      r->wall_s = wall_time() - t0;
      return rc;
    }
    if (breakdown && m < nev) {
      rc = err_set(err, CS_ENOCONV,
                   "eig_lanczos_top: the start vector spans an invariant subspace of dimension %d, "
                   "fewer than the %d wanted pairs (try another seed or eig_arpack)",
                   m, nev);
      goto done;
    }
    const int last = breakdown || matvecs >= o->maxit;
    /* Check once T has nev Ritz values and (unless forced) twice as many steps. */
    if (m < nev || (!restarts && m < MIN(cap, 2 * nev) && !last)) continue;
    rc = ritz_all(&t, m, p, err);
    if (rc) goto done;
    nconv = 0;
    /* The value bound est²/δ needs a δ no wider than the true gap; from a basis of fewer
     * than nev + 3 vectors the next Ritz value is no estimate of the next eigenvalue: on the
     * EoS benchmark (5000 steps, warm starts) every value the bound accepted from 2 or 3
     * vectors near a close second eigenvalue was off by up to 5.8e-5 at tol 1e-6, and none
     * from 4 or more by over 8.6e-7 (docs/PERFORMANCE.md, "5000 steps on an Intel Xeon"). */
    const int value_ok = value_tol > 0 && m >= nev + 3;
    for (int i = 0; i < nev; i++) {
      int z = pick(i, ntop_w, m);
      double est = fabs(t.beta[m - 1] * t.Z[(size_t)z * m + m - 1]);
      double scale = MAX(fabs(t.theta[z]), sqeps * tnorm);
      nconv += breakdown || est <= o->tol * scale ||
               (value_ok && est * est <= value_tol * scale * ritz_gap(&t, m, z, gap_ref));
    }
    if (nconv == nev || last) break;
    if (m < cap) continue;
    p = thick_restart(&t, n, m, keep_top, keep_bot);
    restarts++;
    j = p - 1; /* the next step extends from q_p */
  }

  rc = lz_result_alloc(r, n, nev, 0, err);
  if (rc) goto done;
  r->k = nev;
  r->ntop = ntop_w;
  r->nbottom = o->which == EIG_TOP ? 0 : k;
  for (int i = 0; i < nev; i++) {
    int z = pick(i, ntop_w, m);
    r->values[i] = t.theta[z];
    r->residuals[i] = fabs(t.beta[m - 1] * t.Z[(size_t)z * m + m - 1]);
  }
  r->next_value = o->which == EIG_TOP && m > k ? t.theta[m - k - 1] : NAN;
  /* The Ritz vectors in place, then the basis shrinks to them and becomes the result:
   * peak memory is the basis alone. */
  rotate_basis(&t, n, m, nev, ntop_w);
  if (own) {
    double *V = realloc(t.Q, n * (size_t)nev * sizeof *V);
    r->vectors = V ? V : t.Q;
    t.Q = NULL;
    trwork_free(&t);
  } else {
    r->vectors = t.Q; /* the workspace's first nev columns, until its next solve */
    r->vectors_borrowed = 1;
  }
  r->matvecs = matvecs;
  r->iterations = (int)matvecs;
  r->ncv = cap;
  r->nconv = nconv;
  r->converged = nconv == nev;
  if (o->exact_residuals && (rc = lz_exact_residuals(op, r, err))) goto done;
  if (!r->converged)
    rc = err_set(err, CS_ENOCONV,
                 "eig_lanczos_top: maxit=%d products reached (%d restarts of a %d-vector basis): "
                 "%d of %d pairs converged to tol=%g; raise maxit or ncv",
                 o->maxit, restarts, cap, nconv, nev, o->tol);
done:
  if (rc && rc != CS_ENOCONV) eig_result_free(r);
  r->wall_s = wall_time() - t0;
  if (own) trwork_free(&t);
  return rc;
}
