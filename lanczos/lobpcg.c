/*
 * lobpcg.c: eig_lobpcg, the block solver (eig.h): LOBPCG (Knyazev 2001) without a
 * preconditioner, over the operator's block product.
 *
 * Each iteration spans S = [X, P, W]: the bs current Ritz vectors X, the previous
 * directions P (the non-X part of the last update) and the residuals W = AX − Xθ of the
 * pairs not yet converged (soft locking: converged pairs stay in X and in the
 * Rayleigh-Ritz, but cost no products). S is kept orthonormal (P against X, W against
 * [X, P], each by classical Gram-Schmidt twice, then SVQB: Gram eigendecomposition,
 * directions of rank loss dropped), so the Rayleigh-Ritz is a standard float64
 * eigenproblem of Sᵀ A S (LAPACK dsyev). Every linear map applied to S is applied to
 * A S too: the only products are A W, one block product per iteration. The residuals
 * are those of A X built from products, so they are the true residuals up to rounding
 * and exact_residuals costs nothing extra.
 * Memory: 10 n·bs doubles (S and A S of 3 bs columns, the update's 4 bs). Nothing is
 * allocated inside the iteration.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/threads.h"
#include "lanczos/lz_internal.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* SVQB drops directions whose normalised Gram eigenvalue is below this times the largest:
 * their orthonormalised images would carry more rounding than signal. */
#define LB_RANK_TOL 1e-12

typedef struct Lb {
  size_t n;
  int bs;
  double sigma;          /* +1 top, −1 bottom (the solver always seeks the largest of σA) */
  const Linop *op;
  double *S, *AS;        /* n × 3bs, column j at S + j*n */
  double *T, *AT;        /* n × 2bs: the new X and P, and their images */
  double *G, *C, *h, *w; /* (3bs)² Gram, (3bs)·bs coefficients, (3bs)·bs scratch, 3bs */
  long products;
} Lb;

static void lb_free(Lb *b) {
  free(b->S), free(b->AS), free(b->T), free(b->AT);
  free(b->G), free(b->C), free(b->h), free(b->w);
}

static int lb_alloc(Lb *b, const Linop *op, int bs, double sigma, Err *err) {
  memset(b, 0, sizeof *b);
  size_t n = op->n, m = 3 * (size_t)bs;
  b->n = n, b->bs = bs, b->sigma = sigma, b->op = op;
  b->S = malloc(n * m * sizeof(double));
  b->AS = malloc(n * m * sizeof(double));
  b->T = malloc(n * 2 * (size_t)bs * sizeof(double));
  b->AT = malloc(n * 2 * (size_t)bs * sizeof(double));
  b->G = malloc(m * m * sizeof(double));
  b->C = malloc(m * m * sizeof(double));
  b->h = malloc(m * m * sizeof(double));
  b->w = malloc(m * sizeof(double));
  if (!b->S || !b->AS || !b->T || !b->AT || !b->G || !b->C || !b->h || !b->w) {
    lb_free(b);
    return err_set(err, CS_ENOMEM, "eig_lobpcg: out of memory for a block of %d vectors of %zu",
                   bs, n);
  }
  return CS_OK;
}

/* AY = σ A Y for k columns (one block product). */
static int lb_apply(Lb *b, int k, const double *Y, double *AY, Err *err) {
  if (k == 0) return CS_OK;
  int rc = linop_apply_block(b->op, (size_t)k, Y, AY);
  if (rc) return err_set(err, rc, "eig_lobpcg: the operator failed (status %d)", rc);
  if (b->sigma < 0) cblas_dscal((int)(b->n * (size_t)k), -1.0, AY, 1);
  b->products += k;
  return CS_OK;
}

/* Y (ny columns) and its image AY lose their components along the orthonormal Q (nq
 * columns, image AQ): classical Gram-Schmidt, twice. */
static void lb_project(Lb *b, const double *Q, const double *AQ, int nq, double *Y, double *AY,
                       int ny) {
  if (!nq || !ny) return;
  int n = (int)b->n;
  for (int pass = 0; pass < 2; pass++) {
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, nq, ny, n, 1.0, Q, n, Y, n, 0.0, b->h, nq);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, ny, nq, -1.0, Q, n, b->h, nq, 1.0, Y, n);
    if (AY)
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, ny, nq, -1.0, AQ, n, b->h, nq, 1.0,
                  AY, n);
  }
}

/* SVQB (Stathopoulos & Wu): Y ← Y D V Λ^{-1/2} from the eigendecomposition of the
 * scaled Gram D YᵀY D, keeping the directions above LB_RANK_TOL (rank loss), the same
 * map on AY (when given). Scratch: b->T, b->AT (ny ≤ 2bs columns). Returns the columns
 * kept (0 when Y vanished). */
static int lb_svqb(Lb *b, double *Y, double *AY, int ny) {
  if (ny == 0) return 0;
  int n = (int)b->n;
  double *G = b->G, *d = b->w, *C = b->C;
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, ny, ny, n, 1.0, Y, n, Y, n, 0.0, G, ny);
  for (int i = 0; i < ny; i++) d[i] = G[i * ny + i] > 0 && isfinite(G[i * ny + i]) ? 1.0 / sqrt(G[i * ny + i]) : 0.0;
  for (int j = 0; j < ny; j++)
    for (int i = 0; i < ny; i++) G[j * ny + i] *= d[i] * d[j];
  double lam[128];
  if (LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', ny, G, ny, lam)) return 0;
  double top = lam[ny - 1];
  int keep = 0;
  for (int j = ny - 1; j >= 0; j--) {
    if (!(top > 0) || !(lam[j] > LB_RANK_TOL * top)) break;
    double s = 1.0 / sqrt(lam[j]);
    for (int i = 0; i < ny; i++) C[keep * ny + i] = d[i] * G[j * ny + i] * s;
    keep++;
  }
  if (!keep) return 0;
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, keep, ny, 1.0, Y, n, C, ny, 0.0, b->T, n);
  memcpy(Y, b->T, (size_t)n * keep * sizeof *Y);
  if (AY) {
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, keep, ny, 1.0, AY, n, C, ny, 0.0,
                b->AT, n);
    memcpy(AY, b->AT, (size_t)n * keep * sizeof *AY);
  }
  return keep;
}

/* The initial X: the nwarm warm vectors (their products when given), the rest seeded
 * Gaussians; orthonormalised with its image. Returns CS_OK and the columns in *nx. */
static int lb_start(Lb *b, const EigOpts *o, int *nx, Err *err) {
  size_t n = b->n;
  int bs = b->bs, nw = o->warm ? MIN(o->nwarm, bs) : 0;
  int known = nw && o->warm_products && b->sigma > 0;
  Rng rng;
  rng_seed(&rng, o->seed);
  if (nw) memcpy(b->S, o->warm, n * (size_t)nw * sizeof *b->S);
  rng_normal_fill(&rng, b->S + n * (size_t)nw, n * (size_t)(bs - nw));
  for (size_t i = 0; i < n * (size_t)nw; i++)
    if (!isfinite(b->S[i])) return err_set(err, CS_EINVAL, "eig_lobpcg: non-finite warm vector");
  int rc;
  if (known) {
    memcpy(b->AS, o->warm_products, n * (size_t)nw * sizeof *b->AS);
    rc = lb_apply(b, bs - nw, b->S + n * (size_t)nw, b->AS + n * (size_t)nw, err);
  } else {
    rc = lb_apply(b, bs, b->S, b->AS, err);
  }
  if (rc) return rc;
  *nx = lb_svqb(b, b->S, b->AS, bs);
  /* rank loss (dependent warm vectors): fresh Gaussians for the lost columns */
  for (int tries = 0; *nx < bs && tries < 3 && !rc; tries++) {
    double *Y = b->S + n * (size_t)*nx, *AY = b->AS + n * (size_t)*nx;
    int ny = bs - *nx;
    rng_normal_fill(&rng, Y, n * (size_t)ny);
    lb_project(b, b->S, NULL, *nx, Y, NULL, ny);
    ny = lb_svqb(b, Y, NULL, ny);
    rc = lb_apply(b, ny, Y, AY, err);
    *nx += ny;
  }
  if (!rc && *nx < bs)
    rc = err_set(err, CS_ENOCONV, "eig_lobpcg: no start block of rank %d (n=%zu)", bs, n);
  return rc;
}

/* Rayleigh-Ritz on the orthonormal S (m columns): the top bs pairs. θ descending into
 * theta (all m Ritz values of σA ascending in all), X = S C into T[0..bs), the non-X part
 * [P W] C into T[bs..2bs), images likewise. */
static int lb_rayleigh_ritz(Lb *b, int m, double *theta, double *all, Err *err) {
  int n = (int)b->n, bs = b->bs;
  double *G = b->G, *C = b->C;
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, m, n, 1.0, b->S, n, b->AS, n, 0.0, G, m);
  for (int j = 0; j < m; j++)
    for (int i = 0; i < j; i++) G[j * m + i] = G[i * m + j] = 0.5 * (G[j * m + i] + G[i * m + j]);
  if (LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', m, G, m, all))
    return err_set(err, CS_ENOCONV, "eig_lobpcg: the Rayleigh-Ritz eigensolver failed");
  for (int j = 0; j < bs; j++) {
    theta[j] = all[m - 1 - j];
    memcpy(C + (size_t)j * m, G + (size_t)(m - 1 - j) * m, (size_t)m * sizeof *C);
  }
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, bs, m, 1.0, b->S, n, C, m, 0.0, b->T, n);
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, bs, m, 1.0, b->AS, n, C, m, 0.0, b->AT, n);
  if (m > bs) {
    size_t off = (size_t)n * bs;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, bs, m - bs, 1.0, b->S + off, n,
                C + bs, m, 0.0, b->T + off, n);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, bs, m - bs, 1.0, b->AS + off, n,
                C + bs, m, 0.0, b->AT + off, n);
  }
  return CS_OK;
}

/* One end (σ = +1 top, −1 bottom): k pairs of σA's largest into r (values of A). */
static int lobpcg_end(const Linop *op, const EigOpts *o, int k, double sigma, double value_tol,
                      double gap_ref, EigResult *r, Err *err) {
  size_t n = op->n;
  memset(r, 0, sizeof *r);
  int bs = o->ncv > 0 ? o->ncv : k + MAX(2, k / 2);
  bs = MIN(bs, (int)MIN(n / 3, 40));
  if (bs < k)
    return err_set(err, CS_EINVAL, "eig_lobpcg: block size %d below the %d wanted pairs (n=%zu "
                   "needs 3 blocks)", bs, k, n);
  Lb b;
  int rc = lb_alloc(&b, op, bs, sigma, err), nx = 0, np = 0, iters = 0, nconv = 0;
  if (rc) return rc;
  double theta[64], all[128], res[64];
  const double sqeps = 1.4901161193847656e-08;
  rc = lb_start(&b, o, &nx, err);
  int m = bs;
  if (rc) goto done;
  for (;;) {
    rc = lb_rayleigh_ritz(&b, m, theta, all, err);
    if (rc) goto done;
    /* X, P (the update's non-X part) and their images into S: X first, P after */
    memcpy(b.S, b.T, n * (size_t)bs * sizeof *b.S);
    memcpy(b.AS, b.AT, n * (size_t)bs * sizeof *b.AS);
    /* residuals of the Ritz pairs, W = AX − Xθ into the W slot after the P slot */
    double scale = 0;
    for (int j = 0; j < bs; j++) scale = MAX(scale, fabs(theta[j]));
    nconv = 0;
    int nact = 0;
    double *W = b.S + n * 2 * (size_t)bs;
    for (int j = 0; j < bs; j++) {
      const double *x = b.S + n * (size_t)j, *ax = b.AS + n * (size_t)j;
      double *wj = W + n * (size_t)nact, s2 = 0;
      for (size_t i = 0; i < n; i++) {
        wj[i] = ax[i] - theta[j] * x[i];
        s2 += wj[i] * wj[i];
      }
      res[j] = sqrt(s2);
      double sc = MAX(fabs(theta[j]), sqeps * scale);
      double gap = INFINITY;
      if (j + 1 < m) gap = theta[j] - all[m - 2 - j];
      if (j > 0) gap = MIN(gap, theta[j - 1] - theta[j]);
      if (isfinite(gap_ref)) gap = MIN(gap, fabs(sigma * theta[j] - gap_ref));
      int ok = res[j] <= o->tol * sc || (value_tol > 0 && isfinite(gap) && gap > 0 &&
                                         s2 <= value_tol * sc * gap);
      if (j < k) nconv += ok;
      /* soft locking: only the unconverged wanted pairs get a new direction (guards ride
       * along in X and P at no product cost) */
      if (!ok && j < k) nact++;
    }
    iters++;
    if (nconv == k) break;
    if (b.products >= o->maxit) {
      rc = err_set(err, CS_ENOCONV, "eig_lobpcg: %d of %d pairs within tol after %ld products",
                   nconv, k, b.products);
      break;
    }
    /* P: orthonormal, orthogonal to X (from the second iteration on) */
    double *P = b.S + n * (size_t)bs, *AP = b.AS + n * (size_t)bs;
    if (m > bs) {
      memcpy(P, b.T + n * (size_t)bs, n * (size_t)bs * sizeof *P);
      memcpy(AP, b.AT + n * (size_t)bs, n * (size_t)bs * sizeof *AP);
      lb_project(&b, b.S, b.AS, bs, P, AP, bs);
      np = lb_svqb(&b, P, AP, bs);
    }
    /* W: after P, orthogonal to [X, P], orthonormal; then its product */
    double *Wd = b.S + n * (size_t)(bs + np), *AW = b.AS + n * (size_t)(bs + np);
    memmove(Wd, W, n * (size_t)nact * sizeof *Wd);
    lb_project(&b, b.S, NULL, bs + np, Wd, NULL, nact);
    int nw = lb_svqb(&b, Wd, NULL, nact);
    if (nw == 0) {
      rc = err_set(err, CS_ENOCONV, "eig_lobpcg: the residuals lie in the subspace (stagnation "
                   "at %d of %d pairs)", nconv, k);
      break;
    }
    rc = lb_apply(&b, nw, Wd, AW, err);
    if (rc) goto done;
    m = bs + np + nw;
  }
  if (rc && rc != CS_ENOCONV) goto done;
  int rc2 = lz_result_alloc(r, n, k, 1, err);
  if (rc2) {
    rc = rc2;
    goto done;
  }
  r->k = k;
  for (int j = 0; j < k; j++) {
    r->values[j] = sigma * theta[j];
    r->residuals[j] = res[j];
    memcpy(r->vectors + n * (size_t)j, b.S + n * (size_t)j, n * sizeof *r->vectors);
  }
  r->nconv = nconv;
  r->converged = nconv == k;
  r->iterations = iters;
  r->ncv = bs;
  r->next_value = bs > k ? sigma * theta[k] : NAN;
done:
  r->matvecs = b.products;
  lb_free(&b);
  return rc;
}

int eig_lobpcg_values(const Linop *op, const EigOpts *o, double value_tol, double gap_ref,
                      EigResult *r, Err *err) {
  const double t0 = wall_time();
  memset(r, 0, sizeof *r);
  int nev, rc = lz_check_opts(op, o, &nev, "eig_lobpcg", err);
  if (rc) return rc;
  if (o->k > 32) return err_set(err, CS_EINVAL, "eig_lobpcg: k=%d above 32 pairs per end", o->k);
  if (o->which != EIG_BOTH) {
    rc = lobpcg_end(op, o, o->k, o->which == EIG_TOP ? 1.0 : -1.0, value_tol, gap_ref, r, err);
    if (o->which == EIG_TOP) r->ntop = r->k;
    else r->nbottom = r->k, r->next_value = NAN;
    r->wall_s = wall_time() - t0;
    return rc;
  }
  /* both ends: two solves, the top pairs first */
  EigResult top, bot;
  memset(&bot, 0, sizeof bot);
  int rt = lobpcg_end(op, o, o->k, 1.0, value_tol, gap_ref, &top, err);
  if (rt && rt != CS_ENOCONV) return rt;
  Err e2 = {0};
  int rb = lobpcg_end(op, o, o->k, -1.0, value_tol, NAN, &bot, &e2);
  if (rb && rb != CS_ENOCONV) {
    eig_result_free(&top);
    *err = e2;
    return rb;
  }
  rc = lz_result_alloc(r, op->n, 2 * o->k, 1, err);
  if (!rc) {
    size_t n = op->n, k = (size_t)o->k;
    memcpy(r->values, top.values, k * sizeof *r->values);
    memcpy(r->values + k, bot.values, k * sizeof *r->values);
    memcpy(r->residuals, top.residuals, k * sizeof *r->residuals);
    memcpy(r->residuals + k, bot.residuals, k * sizeof *r->residuals);
    memcpy(r->vectors, top.vectors, n * k * sizeof *r->vectors);
    memcpy(r->vectors + n * k, bot.vectors, n * k * sizeof *r->vectors);
    r->k = 2 * o->k, r->ntop = r->nbottom = o->k;
    r->matvecs = top.matvecs + bot.matvecs;
    r->nconv = top.nconv + bot.nconv;
    r->converged = top.converged && bot.converged;
    r->iterations = top.iterations + bot.iterations;
    r->ncv = top.ncv;
    r->next_value = NAN;
    rc = rt ? rt : rb;
    if (rb && !rt) *err = e2;
  }
  eig_result_free(&top);
  eig_result_free(&bot);
  r->wall_s = wall_time() - t0;
  return rc;
}

int eig_lobpcg(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
  return eig_lobpcg_values(op, o, 0.0, NAN, r, err);
}
