/*
 * test_lanczos.c: lanczos/ against exactly known spectra and dense LAPACK.
 *
 * The main operator is A = U diag(lambda) U^T, U a random orthogonal matrix
 * (QR of a seeded Gaussian), lambda chosen: negative eigenvalues, a cluster
 * 1e-3 apart, a bulk. A second operator is a random symmetric (Wigner) matrix,
 * checked against dense_eig_sym. Every product is counted by the operator
 * itself, so the solvers' matvec counts are checked independently.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/threads.h"
#include "lanczos/eig.h"
#include "lanczos/lz_internal.h"
#include "tests/tap.h"

#include "tests/dense_op.h"

static void random_symmetric(size_t n, uint64_t seed, double scale, double *S) {
  Rng r;
  rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j <= i; j++) S[i * n + j] = S[j * n + i] = scale * rng_normal(&r);
}

static int cmp_asc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ---- checks ---- */

/* All pairs of r: values vs ref (top from the end of ascending ref, bottom from the
 * start), residual bound and agreement with an independent residual, orthonormality. */
static void check_pairs(const char *tag, size_t n, const double *A, const double *ref_asc,
                        const EigResult *r, double rel_tol, double tol, double anorm) {
  int ok_val = 1, ok_res = 1, ok_ind = 1, ok_order = 1;
  double worst_val = 0, worst_res = 0, worst_ind = 0;
  for (int j = 0; j < r->k; j++) {
    double ref = j < r->ntop ? ref_asc[n - 1 - j] : ref_asc[j - r->ntop];
    double rel = fabs(r->values[j] - ref) / fabs(ref);
    if (rel > worst_val) worst_val = rel;
    if (!(rel <= rel_tol)) ok_val = 0;
    double bound = 10.0 * tol * fabs(ref) + 1e-12 * anorm;
    if (r->residuals[j] / bound > worst_res) worst_res = r->residuals[j] / bound;
    if (!(r->residuals[j] <= bound)) ok_res = 0;
    double ind = resid_indep(n, A, r->vectors + (size_t)j * n, r->values[j]);
    double dif = fabs(ind - r->residuals[j]);
    if (dif > worst_ind) worst_ind = dif;
    if (!(dif <= 1e-3 * ind + 1e-12 * anorm)) ok_ind = 0;
    if (j > 0 && j < r->ntop && !(r->values[j] <= r->values[j - 1])) ok_order = 0;
    if (j > r->ntop && !(r->values[j] >= r->values[j - 1])) ok_order = 0;
  }
  tap_ok(ok_val, "%s: %d values within rel %.0e of the reference (worst %.2e)", tag, r->k, rel_tol,
         worst_val);
  tap_ok(ok_res, "%s: residuals <= 10 tol |lambda| + 1e-12 ||A|| (worst ratio %.2e)", tag, worst_res);
  tap_ok(ok_ind, "%s: reported residuals equal independent ||Av - lv|| (worst diff %.2e)", tag,
         worst_ind);
  tap_ok(ok_order, "%s: top descending, bottom ascending", tag);
  double oe = orth_error(n, r->k, r->vectors);
  tap_ok(oe <= 1e-10, "%s: eigenvectors orthonormal (max |V^T V - I| = %.2e)", tag, oe);
}

static const char *which_name(EigWhich w) {
  return w == EIG_TOP ? "top" : w == EIG_BOTTOM ? "bottom" : "both";
}

/* A thick-restarted own-Lanczos solve with a basis cap ncv far below the products
 * it needs, on the dense symmetric A (n x n) with ascending reference spectrum ref:
 * pairs as check_pairs, products counted by the operator, several restarts, and
 * for EIG_TOP next_value against lambda_{k+1} (Cauchy interlacing: theta_{k+1} <=
 * lambda_{k+1}). Returns the products excluding residuals. */
static long check_restarted(const char *name, size_t n, const double *A, const double *ref, int k,
                            EigWhich which, int ncv, double next_rel, double anorm) {
  DenseOp d;
  Linop op = dense_linop(&d, n, A);
  EigOpts o;
  eig_opts_default(&o);
  o.k = k;
  o.which = which;
  o.ncv = ncv;
  o.tol = 1e-10;
  o.seed = 3;
  o.maxit = 5000; /* a 10-pair both-ends solve in 16 vectors needs ~800 */
  EigResult r;
  Err err = {0};
  int rc = eig_lanczos_top(&op, &o, &r, &err);
  const int nev = which == EIG_BOTH ? 2 * k : k;
  char tag[96];
  snprintf(tag, sizeof tag, "%s restarted %s-%d, ncv %d", name, which_name(which), k, ncv);
  tap_ok(rc == CS_OK && r.converged && r.nconv == nev && r.k == nev && r.ncv == ncv &&
             r.ntop == (which == EIG_BOTTOM ? 0 : k) && r.nbottom == (which == EIG_TOP ? 0 : k),
         "%s: converged (rc %d, %s)", tag, rc, err.msg);
  long prods = r.matvecs - r.residual_matvecs;
  tap_ok(r.matvecs == d.count && r.residual_matvecs == nev && r.iterations == prods &&
             prods >= 3 * ncv && prods <= o.maxit,
         "%s: %ld products >= 3 ncv (several restarts), all counted by the operator (%ld)", tag,
         prods, d.count);
  if (rc == CS_OK) check_pairs(tag, n, A, ref, &r, 1e-8, o.tol, anorm);
  if (which == EIG_TOP) {
    double lk1 = ref[n - 1 - k], nv = r.next_value;
    tap_ok(nv <= lk1 + 1e-10 * anorm && nv >= lk1 - next_rel * fabs(lk1),
           "%s: next_value %.10g in [lambda_%d - %.0e |lambda|, lambda_%d] = %.10g", tag, nv, k + 1,
           next_rel, k + 1, lk1);
  } else {
    tap_ok(isnan(r.next_value), "%s: next_value is NAN", tag);
  }
  eig_result_free(&r);
  return prods;
}

int main(void) {
  /* Products on a 400 x 400 matrix are too small to share: OpenBLAS threads on a
   * busy machine only add spin-waiting (12 s instead of 0.4 s). */
  threads_set(1);
  const size_t n = 400;
  /* ---- the known spectrum ---- */
  double *lam = malloc(n * sizeof *lam);
  const double special[] = {10.0, 9.0, 8.5, 8.2, 6.0, 6.001, 6.002, -5.0, -4.2, -3.9, -3.7};
  const size_t nsp = sizeof special / sizeof *special;
  for (size_t i = 0; i < nsp; i++) lam[i] = special[i];
  for (size_t i = nsp; i < n; i++) lam[i] = -1.0 + 4.0 * (double)(i - nsp) / (double)(n - nsp);
  double *U = malloc(n * n * sizeof *U), *A = malloc(n * n * sizeof *A);
  random_orthogonal(n, 11, U);
  build_spectral(n, U, lam, A);
  double *lam_asc = malloc(n * sizeof *lam_asc);
  memcpy(lam_asc, lam, n * sizeof *lam);
  qsort(lam_asc, n, sizeof *lam_asc, cmp_asc);
  const double anorm = 10.0;
  Err err = {0};

  /* LAPACK reference for the same matrix */
  double *Ac = malloc(n * n * sizeof *Ac), *wl = malloc(n * sizeof *wl);
  memcpy(Ac, A, n * n * sizeof *A);
  int rc = dense_eig_sym(n, Ac, wl, NULL, &err);
  double worst = 0;
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(wl[i] - lam_asc[i]));
  tap_ok(rc == CS_OK && worst <= 1e-11, "dense_eig_sym recovers the constructed spectrum (max err %.2e)",
         worst);

  DenseOp dop;
  Linop op = dense_linop(&dop, n, A);
  EigOpts o;
  EigResult r;

  /* ---- ARPACK top-k (includes the cluster) ---- */
  eig_opts_default(&o);
  tap_ok(o.k == 1 && o.which == EIG_TOP && o.tol == 1e-6 && o.maxit == 1000 && o.ncv == 0 &&
             o.exact_residuals == 1,
         "eig_opts_default: k 1, top, tol 1e-6, maxit 1000, ncv auto, exact residuals");
  o.k = 7;
  o.tol = 1e-10;
  o.seed = 5;
  dop.count = 0;
  err_clear(&err);
  rc = eig_arpack(&op, &o, &r, &err);
  tap_ok(rc == CS_OK && r.converged && r.nconv == 7 && r.k == 7 && r.ntop == 7 && r.nbottom == 0,
         "arpack top-7: converged (rc %d, %s)", rc, err.msg);
  check_pairs("arpack top-7", n, A, lam_asc, &r, 1e-8, o.tol, anorm);
  check_pairs("arpack top-7 vs LAPACK", n, A, wl, &r, 1e-8, o.tol, anorm);
  tap_ok(r.matvecs == dop.count && r.residual_matvecs == 7,
         "arpack top-7: matvecs %ld = operator's count %ld, %ld for residuals", r.matvecs, dop.count,
         r.residual_matvecs);
  tap_ok(fabs(r.values[4] - 6.002) < 1e-8 && fabs(r.values[5] - 6.001) < 1e-8 &&
             fabs(r.values[6] - 6.0) < 1e-8,
         "arpack top-7: the cluster 6.000/6.001/6.002 resolved");
  long arpack_top7 = r.matvecs - r.residual_matvecs;
  EigResult r2;
  err_clear(&err);
  rc = eig_arpack(&op, &o, &r2, &err);
  tap_ok(rc == CS_OK && r2.matvecs == r.matvecs &&
             memcmp(r.values, r2.values, 7 * sizeof(double)) == 0 &&
             memcmp(r.vectors, r2.vectors, 7 * n * sizeof(double)) == 0,
         "arpack: same seed, same products and bit-identical pairs");
  eig_result_free(&r2);
  eig_result_free(&r);

  /* ---- bottom-k ---- */
  o.k = 4;
  o.which = EIG_BOTTOM;
  dop.count = 0;
  err_clear(&err);
  rc = eig_arpack(&op, &o, &r, &err);
  tap_ok(rc == CS_OK && r.converged && r.k == 4 && r.nbottom == 4 && r.ntop == 0,
         "arpack bottom-4: converged (%s)", err.msg);
  check_pairs("arpack bottom-4", n, A, lam_asc, &r, 1e-8, o.tol, anorm);
  tap_ok(r.values[0] == fmin(fmin(r.values[0], r.values[1]), r.values[3]) &&
             fabs(r.values[0] + 5.0) < 1e-8,
         "arpack bottom-4: starts at lambda_min = -5 (%.12g)", r.values[0]);
  eig_result_free(&r);

  /* ---- both ends ---- */
  o.k = 3;
  o.which = EIG_BOTH;
  dop.count = 0;
  err_clear(&err);
  rc = eig_arpack(&op, &o, &r, &err);
  tap_ok(rc == CS_OK && r.converged && r.k == 6 && r.ntop == 3 && r.nbottom == 3,
         "arpack both-3: 3 top + 3 bottom (rc %d, ntop %d, nbottom %d, %s)", rc, r.ntop,
         r.nbottom, err.msg);
  check_pairs("arpack both-3", n, A, lam_asc, &r, 1e-8, o.tol, anorm);
  tap_ok(fabs(r.values[0] - 10.0) < 1e-8 && fabs(r.values[3] + 5.0) < 1e-8,
         "arpack both-3: layout values[0] = max, values[3] = min");
  eig_result_free(&r);

  /* ---- ARPACK's own Ritz estimates ---- */
  o.k = 5;
  o.which = EIG_TOP;
  o.exact_residuals = 0;
  dop.count = 0;
  err_clear(&err);
  rc = eig_arpack(&op, &o, &r, &err);
  {
    int ok = rc == CS_OK && r.residual_matvecs == 0 && r.matvecs == dop.count;
    double wr = 0;
    for (int j = 0; j < r.k; j++) {
      double ind = resid_indep(n, A, r.vectors + (size_t)j * n, r.values[j]);
      double dif = fabs(ind - r.residuals[j]);
      if (dif > wr) wr = dif;
      if (!(r.residuals[j] <= o.tol * fabs(r.values[j]) * 10 + 1e-12 * anorm)) ok = 0;
      if (!(dif <= 1e-2 * ind + 1e-12 * anorm)) ok = 0;
    }
    tap_ok(ok, "arpack Ritz estimates (workl+ipntr[8]-1): no extra products, within tol and "
               "matching exact residuals (worst diff %.2e)", wr);
  }
  eig_result_free(&r);
  o.exact_residuals = 1;

  /* ---- warm start on a perturbed operator ---- */
  {
    double *S = malloc(n * n * sizeof *S), *A2 = malloc(n * n * sizeof *A2);
    random_symmetric(n, 77, 1.0 / sqrt((double)n), S);
    for (size_t i = 0; i < n * n; i++) A2[i] = A[i] + 1e-4 * S[i];
    double *A2c = malloc(n * n * sizeof *A2c), *w2 = malloc(n * sizeof *w2);
    memcpy(A2c, A2, n * n * sizeof *A2);
    dense_eig_sym(n, A2c, w2, NULL, &err);
    DenseOp dop2;
    Linop op2 = dense_linop(&dop2, n, A2);
    o.k = 3;
    o.which = EIG_TOP;
    o.tol = 1e-10;
    EigResult prev, cold, warm;
    err_clear(&err);
    rc = eig_arpack(&op, &o, &prev, &err);
    int rc_cold = eig_arpack(&op2, &o, &cold, &err);
    EigOpts ow = o;
    ow.warm = prev.vectors;
    ow.nwarm = prev.k;
    int rc_warm = eig_arpack(&op2, &ow, &warm, &err);
    tap_ok(rc == CS_OK && rc_cold == CS_OK && rc_warm == CS_OK && warm.converged,
           "warm start: all three solves converge");
    check_pairs("arpack warm top-3 on A + 1e-4 S", n, A2, w2, &warm, 1e-8, o.tol, anorm);
    tap_ok(warm.matvecs < cold.matvecs, "arpack warm start: %ld products < cold %ld", warm.matvecs,
           cold.matvecs);
    tap_diag("arpack top-3 tol 1e-10 on perturbed A: cold %ld products, warm %ld (incl. 3 residual)",
             cold.matvecs, warm.matvecs);
    EigResult lcold, lwarm;
    int l1 = eig_lanczos_top(&op2, &o, &lcold, &err), l2 = eig_lanczos_top(&op2, &ow, &lwarm, &err);
    tap_ok(l1 == CS_OK && l2 == CS_OK && lwarm.matvecs < lcold.matvecs,
           "own Lanczos warm start: %ld products < cold %ld", lwarm.matvecs, lcold.matvecs);
    check_pairs("own Lanczos warm top-3", n, A2, w2, &lwarm, 1e-8, o.tol, anorm);
    /* the warm vectors' products given (computed here, outside the counted operator):
     * the first step reuses them, every product counted is one the operator ran */
    double *AP = malloc((size_t)prev.k * n * sizeof *AP);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, prev.k, (int)n, 1.0, A2,
                (int)n, prev.vectors, (int)n, 0.0, AP, (int)n);
    EigOpts og = ow;
    og.warm_products = AP;
    EigResult lgiven;
    long before = dop2.count;
    int l3 = eig_lanczos_top(&op2, &og, &lgiven, &err);
    long ran = dop2.count - before;
    tap_ok(l3 == CS_OK && lgiven.converged, "own Lanczos with the warm products converges");
    check_pairs("own Lanczos warm top-3, products given", n, A2, w2, &lgiven, 1e-8, o.tol, anorm);
    tap_ok(ran == lgiven.matvecs, "products given: %ld counted = %ld run by the operator",
           lgiven.matvecs, ran);
    tap_ok(lgiven.matvecs < lwarm.matvecs,
           "products given: %ld products < %ld with the same warm start without them",
           lgiven.matvecs, lwarm.matvecs);
    eig_result_free(&lgiven);
    free(AP);
    eig_result_free(&lcold);
    eig_result_free(&lwarm);
    {
      /* an exact eigenvector with its product, two pairs wanted: the un-nudged start spans
       * a one-dimensional invariant subspace, so the solver must fall back to the nudge */
      double *Au = malloc(n * sizeof *Au);
      for (size_t i = 0; i < n; i++) Au[i] = lam[0] * U[i];
      EigOpts oe = o;
      oe.k = 2;
      oe.warm = U;
      oe.nwarm = 1;
      oe.warm_products = Au;
      EigResult re;
      long b0 = dop.count;
      int rce = eig_lanczos_top(&op, &oe, &re, &err);
      tap_ok(rce == CS_OK && re.converged && re.k == 2,
             "exact eigenvector with its product, k=2: falls back to the nudged start (rc %d)",
             rce);
      if (rce == CS_OK) check_pairs("fallback top-2", n, A, lam_asc, &re, 1e-8, oe.tol, anorm);
      tap_ok(re.matvecs == dop.count - b0, "fallback: %ld products counted = %ld run",
             re.matvecs, dop.count - b0);
      eig_result_free(&re);
      free(Au);
    }
    eig_result_free(&prev);
    eig_result_free(&cold);
    eig_result_free(&warm);
    free(S);
    free(A2);
    free(A2c);
    free(w2);
  }

  /* ---- maxit too small: no silent wrong answer ---- */
  o.k = 6;
  o.tol = 1e-14;
  o.maxit = 1;
  err_clear(&err);
  err_clear(&err);
  rc = eig_arpack(&op, &o, &r, &err);
  {
    int ok = 1;
    for (int j = 0; j < r.k; j++)
      if (!(resid_indep(n, A, r.vectors + (size_t)j * n, r.values[j]) <= 1e-9 * fabs(r.values[j])))
        ok = 0;
    tap_ok(rc == CS_ENOCONV && err.code == CS_ENOCONV && r.converged == 0 && r.nconv < 6 &&
               r.k == r.nconv && strlen(err.msg) > 0 && ok,
           "arpack maxit=1: CS_ENOCONV, converged=0, %d partial pairs all true (%s)", r.nconv,
           err.msg);
  }
  eig_result_free(&r);
  o.maxit = 1000;
  o.tol = 1e-10;

  /* ---- own Lanczos: top-1, top-5, bottom, both ---- */
  long own_top1 = 0, own_top5 = 0, arp_top1 = 0, arp_top5 = 0;
  for (int t = 0; t < 2; t++) {
    o.k = t ? 5 : 1;
    o.which = EIG_TOP;
    dop.count = 0;
    err_clear(&err);
    rc = eig_lanczos_top(&op, &o, &r, &err);
    char tag[64];
    snprintf(tag, sizeof tag, "own Lanczos top-%d", o.k);
    tap_ok(rc == CS_OK && r.converged && r.k == o.k && r.matvecs == dop.count,
           "%s: converged, products counted (%ld = %ld) (%s)", tag, r.matvecs, dop.count, err.msg);
    check_pairs(tag, n, A, wl, &r, 1e-8, o.tol, anorm);
    *(t ? &own_top5 : &own_top1) = r.matvecs - r.residual_matvecs;
    eig_result_free(&r);
    err_clear(&err);
    rc = eig_arpack(&op, &o, &r, &err);
    *(t ? &arp_top5 : &arp_top1) = r.matvecs - r.residual_matvecs;
    eig_result_free(&r);
  }
  tap_diag("products at tol 1e-10 (excl. residuals): top-1 own %ld vs ARPACK %ld; top-5 own %ld vs "
           "ARPACK %ld; ARPACK top-7 %ld",
           own_top1, arp_top1, own_top5, arp_top5, arpack_top7);
  tap_ok(own_top1 <= arp_top1, "own Lanczos top-1 needs no more products than ARPACK (%ld vs %ld)",
         own_top1, arp_top1);
  o.k = 2;
  o.which = EIG_BOTH;
  err_clear(&err);
  rc = eig_lanczos_top(&op, &o, &r, &err);
  tap_ok(rc == CS_OK && r.ntop == 2 && r.nbottom == 2, "own Lanczos both-2: converged (%s)", err.msg);
  check_pairs("own Lanczos both-2", n, A, lam_asc, &r, 1e-8, o.tol, anorm);
  eig_result_free(&r);
  o.k = 3;
  o.which = EIG_TOP;
  o.maxit = 8;
  dop.count = 0;
  err_clear(&err);
  rc = eig_lanczos_top(&op, &o, &r, &err);
  tap_ok(rc == CS_ENOCONV && err.code == CS_ENOCONV && !r.converged && r.nconv < 3 && r.k == 3 &&
             r.matvecs == 8 + 3 && dop.count == 8 + 3 && r.values && r.vectors,
         "own Lanczos with maxit = 8 products: CS_ENOCONV, converged=0, best pairs returned (%s)",
         err.msg);
  eig_result_free(&r);
  o.maxit = 9;
  o.ncv = 5; /* restarts every 2 products */
  dop.count = 0;
  err_clear(&err);
  rc = eig_lanczos_top(&op, &o, &r, &err);
  tap_ok(rc == CS_ENOCONV && !r.converged && r.matvecs == 9 + 3 && dop.count == 9 + 3,
         "own Lanczos, restarted, maxit = 9 products: stops at exactly 9 (%s)", err.msg);
  eig_result_free(&r);
  o.maxit = 1000;
  for (int c = 2; c <= 3; c++) {
    o.ncv = c;
    err_clear(&err);
    rc = eig_lanczos_top(&op, &o, &r, &err);
    tap_ok(rc == CS_EINVAL && r.values == NULL && strstr(err.msg, "ncv"),
           "own Lanczos top-3 with a basis cap of %d: CS_EINVAL (%s)", c, err.msg);
  }
  o.ncv = 0;
  o.maxit = 2;
  err_clear(&err);
  rc = eig_lanczos_top(&op, &o, &r, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "maxit"), "own Lanczos top-3 with maxit = 2: CS_EINVAL (%s)",
         err.msg);
  o.maxit = 1000;

  /* ---- own Lanczos, thick restart: small caps, top / bottom / both, k = 1, 3, 5 ---- */
  {
    /* On A: top 10, 9, 8.5, 8.2, 6.002 (the 5th sits 1e-3 from 6.001), bottom -5, -4.2,
     * -3.9, -3.7 and then the bulk edge -1 (spacing 0.01). */
    const int ks[3] = {1, 3, 5};
    const EigWhich ws[3] = {EIG_TOP, EIG_BOTTOM, EIG_BOTH};
    long full_top5 = 0, rest_top5 = 0;
    for (int wi = 0; wi < 3; wi++)
      for (int ki = 0; ki < 3; ki++) {
        int nev = ws[wi] == EIG_BOTH ? 2 * ks[ki] : ks[ki];
        /* ncv = nev + 2 keeps no Ritz pair beyond the wanted ones, so theta_{k+1} is only
         * a lower bound; larger caps keep extras and pin it down. */
        long p = check_restarted("A", n, A, lam_asc, ks[ki], ws[wi], nev + 2 + 2 * ki,
                                 ki ? 1e-3 : INFINITY, anorm);
        if (ws[wi] == EIG_TOP && ks[ki] == 5) rest_top5 = p;
      }
    full_top5 = own_top5;
    tap_diag("top-5 on A at tol 1e-10: %ld products with ncv 11, %ld with the default cap", rest_top5,
             full_top5);

    /* Ritz estimates |coupling| of a restarted solve are the true residuals: the arrow
     * couplings and the rotated basis satisfy A Q = Q T + r e^T. */
    eig_opts_default(&o);
    o.k = 3;
    o.which = EIG_BOTH;
    o.ncv = 9;
    o.tol = 1e-8;
    o.exact_residuals = 0;
    dop.count = 0;
    err_clear(&err);
    rc = eig_lanczos_top(&op, &o, &r, &err);
    {
      int ok = rc == CS_OK && r.residual_matvecs == 0 && r.matvecs == dop.count &&
               r.matvecs >= 3 * o.ncv;
      double wr = 0;
      for (int j = 0; ok && j < r.k; j++) {
        double ind = resid_indep(n, A, r.vectors + (size_t)j * n, r.values[j]);
        wr = fmax(wr, fabs(ind - r.residuals[j]));
        if (!(fabs(ind - r.residuals[j]) <= 1e-2 * ind + 1e-12 * anorm)) ok = 0;
        if (!(r.residuals[j] <= o.tol * fabs(r.values[j]) + 1e-12 * anorm)) ok = 0;
      }
      tap_ok(ok, "own Lanczos restarted both-3, ncv 9, Ritz estimates: within tol and equal to "
                 "the true residuals (worst diff %.2e, %ld products)", wr, r.matvecs);
    }
    eig_result_free(&r);

    /* Restarted and unrestarted agree; the same seed gives the same bits. */
    EigResult full, again;
    o.which = EIG_TOP;
    o.k = 4;
    o.tol = 1e-10;
    o.exact_residuals = 1;
    o.ncv = 400; /* no restart */
    rc = eig_lanczos_top(&op, &o, &full, &err);
    o.ncv = 8;
    int rc1 = eig_lanczos_top(&op, &o, &r, &err), rc2 = eig_lanczos_top(&op, &o, &again, &err);
    double dv = 0;
    for (int j = 0; j < 4 && rc == CS_OK && rc1 == CS_OK; j++)
      dv = fmax(dv, fabs(full.values[j] - r.values[j]));
    tap_ok(rc == CS_OK && rc1 == CS_OK && full.matvecs < r.matvecs && dv <= 1e-12 * anorm,
           "own Lanczos top-4: ncv 8 (%ld products) and no restart (%ld) agree to %.1e", r.matvecs,
           full.matvecs, dv);
    tap_ok(rc2 == CS_OK && again.matvecs == r.matvecs &&
               memcmp(again.values, r.values, 4 * sizeof(double)) == 0 &&
               memcmp(again.vectors, r.vectors, 4 * n * sizeof(double)) == 0,
           "own Lanczos restarted: same seed, same products and bit-identical pairs");
    eig_result_free(&full);
    eig_result_free(&again);
    eig_result_free(&r);
    eig_opts_default(&o);
  }

  /* ---- random symmetric (Wigner) matrix vs dense LAPACK ---- */
  {
    const size_t m = 300;
    double *W = malloc(m * m * sizeof *W), *Wc = malloc(m * m * sizeof *Wc), *ww = malloc(m * sizeof *ww);
    random_symmetric(m, 123, 1.0 / sqrt((double)m), W);
    memcpy(Wc, W, m * m * sizeof *W);
    dense_eig_sym(m, Wc, ww, NULL, &err);
    DenseOp dw;
    Linop opw = dense_linop(&dw, m, W);
    o.k = 3;
    o.which = EIG_BOTH;
    o.tol = 1e-10;
    err_clear(&err);
    rc = eig_arpack(&opw, &o, &r, &err);
    tap_ok(rc == CS_OK && r.k == 6, "Wigner n=300 arpack both-3 converged (%s)", err.msg);
    check_pairs("Wigner arpack both-3 vs LAPACK", m, W, ww, &r, 1e-8, o.tol, 2.0);
    eig_result_free(&r);
    o.k = 2;
    o.which = EIG_TOP;
    err_clear(&err);
    rc = eig_lanczos_top(&opw, &o, &r, &err);
    tap_ok(rc == CS_OK && r.k == 2, "Wigner own Lanczos top-2 converged in %ld products (%s)",
           r.matvecs, err.msg);
    check_pairs("Wigner own Lanczos top-2 vs LAPACK", m, W, ww, &r, 1e-8, o.tol, 2.0);
    eig_result_free(&r);
    /* The semicircle's edges: eigenvalues ~0.02 apart at both ends. */
    check_restarted("Wigner", m, W, ww, 3, EIG_TOP, 7, 1e-2, 2.0);
    check_restarted("Wigner", m, W, ww, 3, EIG_BOTTOM, 9, 1e-2, 2.0);
    check_restarted("Wigner", m, W, ww, 3, EIG_BOTH, 12, 1e-2, 2.0);

    /* dense_from_linop: symmetric operator round trip, asymmetry of a skewed one */
    double *D = malloc(m * m * sizeof *D), asym = -1;
    err_clear(&err);
    rc = dense_from_linop(&opw, D, &asym, &err);
    double dmax = 0;
    for (size_t i = 0; i < m * m; i++) dmax = fmax(dmax, fabs(D[i] - W[i]));
    tap_ok(rc == CS_OK && dmax <= 1e-15 && asym <= 1e-15 && dw.count >= (long)m,
           "dense_from_linop: recovers the matrix (max diff %.1e, asym %.1e)", dmax, asym);
    double *K = malloc(m * m * sizeof *K);
    memcpy(K, W, m * m * sizeof *W);
    K[5 * m + 17] += 0.25; /* column 5 row 17 in column-major */
    DenseOp dk;
    Linop opk = dense_linop(&dk, m, K);
    err_clear(&err);
    rc = dense_from_linop(&opk, D, &asym, &err);
    tap_ok(rc == CS_OK && fabs(asym - 0.25) < 1e-12 && fabs(D[5 * m + 17] - (W[5 * m + 17] + 0.125)) < 1e-12,
           "dense_from_linop: reports asymmetry 0.25 (got %.3g) and symmetrises", asym);
    free(K);
    free(D);
    free(W);
    free(Wc);
    free(ww);
  }

  /* ---- lanczos_run: T = Q^T A Q, Q orthonormal, breakdown on a 3-point spectrum ---- */
  {
    const int ms = 30;
    double *Q = malloc(n * ms * sizeof *Q), al[30], be[30], *v0 = malloc(n * sizeof *v0);
    Rng rr;
    rng_seed(&rr, 9);
    rng_normal_fill(&rr, v0, n);
    long mv = 0;
    int s = lanczos_run(&op, v0, ms, al, be, Q, &mv, &err);
    double oe = orth_error(n, s, Q), te = 0;
    double *AQ = malloc(n * ms * sizeof *AQ);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, s, (int)n, 1.0, A, (int)n, Q,
                (int)n, 0.0, AQ, (int)n);
    for (int a = 0; a < s; a++)
      for (int b = 0; b < s; b++) {
        double t = cblas_ddot((int)n, Q + (size_t)a * n, 1, AQ + (size_t)b * n, 1);
        double want = a == b ? al[a] : (abs(a - b) == 1 ? be[a < b ? a : b] : 0.0);
        te = fmax(te, fabs(t - want));
      }
    tap_ok(s == ms && mv == ms && oe <= 1e-12 && te <= 1e-10 * anorm,
           "lanczos_run: %d steps, Q orthonormal (%.1e), Q^T A Q = T (%.1e)", s, oe, te);
    {
      /* 250 steps: far past the convergence of the top pairs, where the bare
       * recurrence would lose orthogonality completely; one CGS pass (two when DGKS
       * asks) keeps it at rounding level. */
      const int ml = 250;
      double *QL = malloc(n * ml * sizeof *QL), *al2 = malloc(ml * sizeof *al2);
      double *be2 = malloc(ml * sizeof *be2), *AQL = malloc(n * ml * sizeof *AQL);
      int sl = lanczos_run(&op, v0, ml, al2, be2, QL, NULL, &err);
      double oel = orth_error(n, sl, QL), tel = 0;
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, sl, (int)n, 1.0, A, (int)n, QL,
                  (int)n, 0.0, AQL, (int)n);
      for (int a = 0; a < sl; a++)
        for (int b = 0; b < sl; b++) {
          double t = cblas_ddot((int)n, QL + (size_t)a * n, 1, AQL + (size_t)b * n, 1);
          double want = a == b ? al2[a] : (abs(a - b) == 1 ? be2[a < b ? a : b] : 0.0);
          tel = fmax(tel, fabs(t - want));
        }
      tap_ok(sl == ml && oel <= 1e-13 && tel <= 1e-12 * anorm,
             "lanczos_run: %d steps, Q orthonormal (%.1e), Q^T A Q = T (%.1e)", sl, oel, tel);
      free(QL), free(al2), free(be2), free(AQL);
    }
    {
      /* DGKS: A q1 = q0 + 1e-9 u (u orthogonal to q0, q1). Gram-Schmidt alone (the
       * first step after a restart) cancels the norm by 1e9, so one pass would leave
       * q0-components of ~1e-7 in the next vector; the second pass must remove them. */
      const double eps9 = 1e-9;
      double *B = calloc(n * n, sizeof *B), *Q2 = malloc(3 * n * sizeof *Q2);
      const double *q0 = U, *q1 = U + n, *u = U + 2 * n;
      for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < n; c++)
          B[c * n + i] = q0[i] * q1[c] + q1[i] * q0[c] + eps9 * (q1[i] * u[c] + u[i] * q1[c]);
      memcpy(Q2, U, 2 * n * sizeof *Q2);
      DenseOp db;
      Linop opb = dense_linop(&db, n, B);
      double al3[2], be3[2], *wv = malloc(n * sizeof *wv), hv[2], tn = 1.0;
      int bd = -1;
      rc = lz_step(&opb, Q2, 1, 0, al3, be3, wv, hv, Q2 + 2 * n, &tn, &bd, &err);
      double o0 = fabs(cblas_ddot((int)n, Q2 + 2 * n, 1, q0, 1));
      double o1 = fabs(cblas_ddot((int)n, Q2 + 2 * n, 1, q1, 1));
      tap_ok(rc == CS_OK && bd == 0 && fabs(be3[1] - eps9) <= 1e-6 * eps9 && fabs(al3[1]) <= 1e-15 &&
                 o0 <= 1e-13 && o1 <= 1e-13 && db.count == 1,
             "lz_step after a restart: norm cancelled by 1e9, the DGKS second pass keeps the next "
             "vector orthogonal (|q0^T q| %.1e, |q1^T q| %.1e, beta %.9g)", o0, o1, be3[1]);
      free(B);
      free(Q2);
      free(wv);
    }
    double *lam3 = malloc(n * sizeof *lam3), *A3 = malloc(n * n * sizeof *A3);
    for (size_t i = 0; i < n; i++) lam3[i] = (double)(i % 3) + 1.0;
    build_spectral(n, U, lam3, A3);
    DenseOp d3;
    Linop op3 = dense_linop(&d3, n, A3);
    s = lanczos_run(&op3, v0, ms, al, be, Q, NULL, &err);
    tap_ok(s == 3, "lanczos_run: stops at breakdown after 3 steps on a 3-point spectrum (got %d)", s);
    int bad = lanczos_run(&op3, v0, 0, al, be, Q, NULL, &err);
    tap_ok(bad == -CS_EINVAL && err.code == CS_EINVAL, "lanczos_run: m=0 -> -CS_EINVAL (%s)", err.msg);
    bad = lanczos_run(&op3, v0, 5, al, be, NULL, NULL, &err);
    tap_ok(bad == -CS_EINVAL, "lanczos_run: Q=NULL refused (%s)", err.msg);
    free(lam3);
    free(A3);
    free(AQ);
    free(Q);
    free(v0);
  }

  /* ---- SLQ ---- */
  {
    const int ms = 40, np = 60, gn = 2000;
    double *nodes = malloc((size_t)ms * np * sizeof *nodes), *wts = malloc((size_t)ms * np * sizeof *wts);
    double *gx = malloc(gn * sizeof *gx), *den = malloc(gn * sizeof *den);
    double *gx2 = malloc(gn * sizeof *gx2), *den2 = malloc(gn * sizeof *den2);
    const double sigma = 0.1;
    err_clear(&err);
    rc = slq_density(&op, ms, np, 2024, gn, sigma, gx, den, nodes, wts, &err);
    tap_ok(rc == CS_OK, "slq_density runs (%s)", err.msg);
    double i0 = 0, i1 = 0, i2 = 0;
    for (int g = 0; g + 1 < gn; g++) {
      double h = gx[g + 1] - gx[g];
      i0 += 0.5 * h * (den[g] + den[g + 1]);
      i1 += 0.5 * h * (gx[g] * den[g] + gx[g + 1] * den[g + 1]);
      i2 += 0.5 * h * (gx[g] * gx[g] * den[g] + gx[g + 1] * gx[g + 1] * den[g + 1]);
    }
    tap_rel(i0, 1.0, 1e-6, "SLQ density integrates to 1 (trapezoid)");
    double mo1 = slq_moment(nodes, wts, (size_t)ms * np, np, 1);
    double mo2 = slq_moment(nodes, wts, (size_t)ms * np, np, 2);
    tap_rel(i1, mo1, 1e-6, "SLQ: int t phi = sum w theta (broadening keeps the mean)");
    tap_rel(i2, mo2 + sigma * sigma, 1e-6, "SLQ: int t^2 phi = sum w theta^2 + sigma^2");
    /* Per probe: sum w = 1 and the quadrature is exact for z^T A z, z^T A^2 z. */
    double *z = malloc(n * sizeof *z), *y = malloc(n * sizeof *y), p1[60], p2[60];
    double wsum_err = 0, q1_err = 0, q2_err = 0;
    for (int p = 0; p < np; p++) {
      Rng rr;
      rng_seed_stream(&rr, 2024, (uint64_t)p);
      rng_rademacher(&rr, z, n);
      cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, (int)n, 1.0, A, (int)n, z, 1, 0.0, y, 1);
      double q1 = cblas_ddot((int)n, z, 1, y, 1) / n, q2 = cblas_ddot((int)n, y, 1, y, 1) / n;
      double ws = 0, s1 = 0, s2 = 0;
      for (int k = 0; k < ms; k++) {
        double w = wts[(size_t)p * ms + k], t = nodes[(size_t)p * ms + k];
        ws += w;
        s1 += w * t;
        s2 += w * t * t;
      }
      p1[p] = s1;
      p2[p] = s2;
      wsum_err = fmax(wsum_err, fabs(ws - 1));
      q1_err = fmax(q1_err, fabs(s1 - q1));
      q2_err = fmax(q2_err, fabs(s2 - q2) / q2);
    }
    tap_ok(wsum_err <= 1e-12, "SLQ: weights sum to 1 per probe (max err %.1e)", wsum_err);
    tap_ok(q1_err <= 1e-10 && q2_err <= 1e-10,
           "SLQ: per probe sum w theta = z^T A z / n (%.1e), sum w theta^2 = |Az|^2 / n (rel %.1e): "
           "weights are squared first components", q1_err, q2_err);
    double tr1 = 0, tr2 = 0;
    for (size_t i = 0; i < n; i++) tr1 += lam[i], tr2 += lam[i] * lam[i];
    tr1 /= n;
    tr2 /= n;
    double m1 = 0, m2 = 0, v1 = 0, v2 = 0;
    for (int p = 0; p < np; p++) m1 += p1[p] / np, m2 += p2[p] / np;
    for (int p = 0; p < np; p++) v1 += (p1[p] - m1) * (p1[p] - m1), v2 += (p2[p] - m2) * (p2[p] - m2);
    double se1 = sqrt(v1 / (np - 1) / np), se2 = sqrt(v2 / (np - 1) / np);
    tap_ok(fabs(m1 - tr1) <= 3 * se1 && se1 <= 0.05 * fabs(tr1),
           "SLQ: sum w theta = %.5f vs tr(A)/n = %.5f within 3 SE (SE %.4f, %.1f%%)", m1, tr1, se1,
           100 * se1 / fabs(tr1));
    tap_ok(fabs(m2 - tr2) <= 3 * se2 && se2 <= 0.05 * fabs(tr2),
           "SLQ: sum w theta^2 = %.5f vs tr(A^2)/n = %.5f within 3 SE (SE %.4f)", m2, tr2, se2);
    tap_ok(fabs(mo1 - m1) <= 1e-12 * fabs(m1), "slq_moment(1) equals the probe average");
    err_clear(&err);
    rc = slq_density(&op, ms, np, 2024, gn, sigma, gx2, den2, NULL, NULL, &err);
    tap_ok(rc == CS_OK && memcmp(den, den2, gn * sizeof *den) == 0 &&
               memcmp(gx, gx2, gn * sizeof *gx) == 0,
           "SLQ: same seed, bit-identical density");
    err_clear(&err);
    rc = slq_density(&op, ms, np, 2025, gn, sigma, gx2, den2, NULL, NULL, &err);
    tap_ok(rc == CS_OK && memcmp(den, den2, gn * sizeof *den) != 0, "SLQ: another seed, another density");
    double lo = 1e300, hi = -1e300;
    for (size_t i = 0; i < (size_t)ms * np; i++)
      if (wts[i] > 0) lo = fmin(lo, nodes[i]), hi = fmax(hi, nodes[i]);
    tap_ok(fabs(gx[0] - (lo - 6 * sigma)) < 1e-12 && fabs(gx[gn - 1] - (hi + 6 * sigma)) < 1e-9 &&
               lo > -5.0 - 1e-9 && hi < 10.0 + 1e-9 && hi > 9.99 && lo < -4.99,
           "SLQ grid spans [min theta - 6 sigma, max theta + 6 sigma]; nodes reach the extremes "
           "(%.6f, %.6f)", lo, hi);
    free(z);
    free(y);
    free(nodes);
    free(wts);
    free(gx);
    free(den);
    free(gx2);
    free(den2);
  }

  /* ---- Hutchinson ---- */
  {
    double tr = 0, mean = 0, se = 0, mean2 = 0, se2 = 0;
    for (size_t i = 0; i < n; i++) tr += lam[i];
    err_clear(&err);
    rc = trace_hutchinson(&op, 200, 31, &mean, &se, &err);
    tap_ok(rc == CS_OK && fabs(mean - tr) <= 3 * se && se <= 0.03 * fabs(tr),
           "Hutchinson: %.3f vs tr(A) = %.3f within 3 SE (SE %.3f)", mean, tr, se);
    err_clear(&err);
    rc = trace_hutchinson(&op, 200, 31, &mean2, &se2, &err);
    tap_ok(rc == CS_OK && mean2 == mean && se2 == se, "Hutchinson: same seed, same estimate");
    err_clear(&err);
    rc = trace_hutchinson(&op, 200, 32, &mean2, &se2, &err);
    tap_ok(rc == CS_OK && mean2 != mean, "Hutchinson: another seed, another estimate");
  }

  /* ---- errors ---- */
  {
    eig_opts_default(&o);
    o.k = (int)n;
    err_clear(&err);
    rc = eig_arpack(&op, &o, &r, &err);
    tap_ok(rc == CS_EINVAL && strstr(err.msg, "wanted pairs") != NULL, "arpack k=n refused (%s)",
           err.msg);
    o.k = 1;
    dop.count = 0;
    dop.fail_after = 7;
    err_clear(&err);
    rc = eig_arpack(&op, &o, &r, &err);
    tap_ok(rc == CS_EIO && r.values == NULL, "arpack passes on the operator's failure (%s)", err.msg);
    dop.count = 0;
    err_clear(&err);
    rc = eig_lanczos_top(&op, &o, &r, &err);
    tap_ok(rc == CS_EIO && r.values == NULL, "own Lanczos passes on the operator's failure (%s)",
           err.msg);
    dop.fail_after = 0;
    /* ARPACK is not reentrant: a solve started from inside another solve's apply is refused. */
    DenseOp douter;
    Linop outer = dense_linop(&douter, n, A);
    douter.inner = &op;
    douter.inner_rc = -1;
    err_clear(&err);
    rc = eig_arpack(&outer, &o, &r, &err);
    tap_ok(rc == CS_OK && douter.inner_rc == CS_EINVAL && strstr(douter.inner_msg, "busy"),
           "arpack: a nested solve is refused as busy (inner rc %d: %s), the outer one completes",
           douter.inner_rc, douter.inner_msg);
    eig_result_free(&r);
    douter.inner_rc = -1;
    douter.inner = NULL;
    err_clear(&err);
    rc = eig_arpack(&op, &o, &r, &err);
    tap_ok(rc == CS_OK, "arpack: usable again after the busy refusal");
    eig_result_free(&r);
    eig_result_free(NULL); /* must not crash */
    tap_ok(r.values == NULL && r.vectors == NULL && r.residuals == NULL && r.k == 0,
           "eig_result_free releases and zeroes the result; NULL is a no-op");
  }

  { /* ---- a reused workspace (EigWork): the same solve bit for bit, nothing freed twice ---- */
    eig_opts_default(&o);
    o.k = 2, o.which = EIG_BOTH, o.tol = 1e-10, o.seed = 3, o.ncv = 12, o.exact_residuals = 0;
    EigResult ra, rw;
    err_clear(&err);
    int rca = eig_lanczos_top(&op, &o, &ra, &err);
    EigWork *w = eig_work_alloc(n, 12, &err);
    o.work = w;
    int same = w != NULL && rca == CS_OK, borrowed = 1;
    for (int rep = 0; rep < 3 && same; rep++) { /* the workspace keeps no state between solves */
      if (eig_lanczos_top(&op, &o, &rw, &err) != CS_OK) same = 0;
      else
        same = rw.matvecs == ra.matvecs && memcmp(rw.values, ra.values, 4 * sizeof(double)) == 0 &&
               memcmp(rw.vectors, ra.vectors, 4 * n * sizeof(double)) == 0;
      borrowed &= rw.vectors_borrowed == 1 && ra.vectors_borrowed == 0;
      eig_result_free(&rw); /* leaves the workspace's basis alone */
    }
    tap_ok(same && borrowed, "own Lanczos with a reused workspace: the same products and "
           "bit-identical pairs, three solves in a row, vectors borrowed from the workspace");
    o.ncv = 13;
    err_clear(&err);
    rc = eig_lanczos_top(&op, &o, &rw, &err);
    tap_ok(rc == CS_EINVAL && strstr(err.msg, "workspace"),
           "a solve needing more vectors than the workspace holds is refused (%s)", err.msg);
    err_clear(&err);
    tap_ok(eig_work_alloc(n, 1, &err) == NULL && err.code == CS_EINVAL,
           "eig_work_alloc refuses a 1-vector basis (%s)", err.msg);
    eig_work_free(w);
    eig_work_free(NULL);
    eig_result_free(&ra);
  }

  free(lam);
  free(lam_asc);
  free(U);
  free(A);
  free(Ac);
  free(wl);
  return tap_done();
}
