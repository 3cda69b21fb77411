/*
 * test_lobpcg.c: the block solver (eig_lobpcg, lanczos/lobpcg.c) against dense LAPACK
 * eigendecompositions, a clustered spectrum known by construction, the own Lanczos on
 * the same operators, and the Hessian of a linear model whose spectrum its data fixes
 * (through the block Hessian product).
 */
#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "hessian/curv.h"
#include "tests/dense_op.h"
#include "tests/tap.h"

/* Values against the ascending reference, residuals against an independent one. */
static void check(const char *tag, size_t n, const double *A, const double *ref_asc,
                  const EigResult *r, double val_tol, double tol) {
  double worst = 0, worst_res = 0, worst_ind = 0;
  for (int j = 0; j < r->k; j++) {
    double ref = j < r->ntop ? ref_asc[n - 1 - j] : ref_asc[j - r->ntop];
    double e = fabs(r->values[j] - ref) / fabs(ref);
    worst = e > worst ? e : worst;
    double rr = r->residuals[j] / fabs(ref);
    worst_res = rr > worst_res ? rr : worst_res;
    double ind = resid_indep(n, A, r->vectors + (size_t)j * n, r->values[j]);
    double d = fabs(ind - r->residuals[j]) / fabs(ref);
    worst_ind = d > worst_ind ? d : worst_ind;
  }
  tap_ok(r->converged && worst <= val_tol, "%s: %d values within %.0e of LAPACK's (worst %.2e)",
         tag, r->k, val_tol, worst);
  tap_ok(worst_res <= tol * 1.0001, "%s: residuals <= tol |lambda| (worst %.2e)", tag, worst_res);
  tap_ok(worst_ind <= 1e-12, "%s: reported residuals are the true ones (worst diff %.1e)", tag,
         worst_ind);
  double oe = orth_error(n, r->k, r->vectors);
  tap_ok(oe <= (r->nbottom && r->ntop ? tol : 1e-12), "%s: vectors orthonormal (%.1e; two ends: their tol)", tag, oe);
}

/* A random symmetric (Wigner) matrix: top, bottom, both against dsyevd. */
static void test_dense(void) {
  size_t n = 300;
  double *A = malloc(n * n * sizeof *A), *B = malloc(n * n * sizeof *B), *w = malloc(n * sizeof *w);
  Rng rng;
  rng_seed(&rng, 5);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = rng_normal(&rng) / sqrt((double)n);
  memcpy(B, A, n * n * sizeof *B);
  Err err = {0};
  dense_eig_sym(n, B, w, NULL, &err);
  EigWhich wh[] = {EIG_TOP, EIG_BOTTOM, EIG_BOTH};
  const char *names[] = {"wigner top-5", "wigner bottom-5", "wigner both-3"};
  int ks[] = {5, 5, 3};
  for (int t = 0; t < 3; t++) {
    DenseOp d;
    Linop op = dense_linop(&d, n, A);
    EigOpts o;
    eig_opts_default(&o);
    o.k = ks[t], o.which = wh[t], o.tol = 1e-9, o.maxit = 3000, o.seed = 3;
    EigResult r;
    int rc = eig_lobpcg(&op, &o, &r, &err);
    tap_ok(rc == CS_OK && r.matvecs == d.count, "%s: converged (%ld products, counted %ld)",
           names[t], r.matvecs, d.count);
    check(names[t], n, A, w, &r, 1e-12, 1e-9);
    eig_result_free(&r);
  }
  free(A), free(B), free(w);
}

/* Ten eigenvalues 1e-3 apart over a bulk in [0, 5] (known by construction): LOBPCG
 * against LAPACK, its products against the own Lanczos's on the same operator. */
static void test_cluster(void) {
  size_t n = 400;
  double *U = malloc(n * n * sizeof *U), *A = malloc(n * n * sizeof *A), *lam = malloc(n * sizeof *lam);
  random_orthogonal(n, 11, U);
  for (size_t i = 0; i < n; i++) lam[i] = 5.0 * (double)i / (double)n;
  for (int j = 0; j < 10; j++) lam[n - 10 + (size_t)j] = 10.0 + 1e-3 * j;
  build_spectral(n, U, lam, A);
  Err err = {0};
  DenseOp d1, d2;
  Linop op1 = dense_linop(&d1, n, A), op2 = dense_linop(&d2, n, A);
  EigOpts o;
  eig_opts_default(&o);
  o.k = 10, o.tol = 1e-8, o.maxit = 5000, o.seed = 1;
  EigResult r, l;
  int rc = eig_lobpcg(&op1, &o, &r, &err);
  tap_ok(rc == CS_OK, "cluster top-10: LOBPCG converged in %ld products, %d iterations", r.matvecs,
         r.iterations);
  check("cluster top-10", n, A, lam, &r, 1e-12, 1e-8);
  o.exact_residuals = 0;
  rc = eig_lanczos_top(&op2, &o, &l, &err);
  tap_ok(rc == CS_OK, "cluster top-10: own Lanczos converged in %ld products (LOBPCG %ld)",
         l.matvecs, r.matvecs);
  /* warm: from the converged vectors nudged, the solve is a few block products */
  double *warm = malloc(10 * n * sizeof *warm);
  Rng rng;
  rng_seed(&rng, 4);
  for (size_t i = 0; i < 10 * n; i++) warm[i] = r.vectors[i] + 1e-4 * rng_normal(&rng) / sqrt((double)n);
  DenseOp d3;
  Linop op3 = dense_linop(&d3, n, A);
  o.warm = warm, o.nwarm = 10;
  EigResult rw;
  rc = eig_lobpcg(&op3, &o, &rw, &err);
  tap_ok(rc == CS_OK && rw.matvecs < r.matvecs / 2,
         "cluster top-10 warm (vectors 1e-4 off): %ld products < half the cold %ld", rw.matvecs,
         r.matvecs);
  check("cluster top-10 warm", n, A, lam, &rw, 1e-12, 1e-8);
  /* dependent warm vectors: rank loss refilled, still the right pairs */
  for (int j = 1; j < 10; j++) memcpy(warm + (size_t)j * n, warm, n * sizeof *warm);
  EigResult rd;
  DenseOp d4;
  Linop op4 = dense_linop(&d4, n, A);
  rc = eig_lobpcg(&op4, &o, &rd, &err);
  tap_ok(rc == CS_OK, "ten copies of one warm vector: rank loss handled (%ld products)",
         rd.matvecs);
  check("cluster top-10 dependent warm", n, A, lam, &rd, 1e-12, 1e-8);
  /* the value stop: values to value_tol for fewer products */
  o.warm = NULL, o.nwarm = 0, o.k = 1, o.tol = 1e-10;
  EigResult rv, rf;
  DenseOp d5, d6;
  Linop op5 = dense_linop(&d5, n, A), op6 = dense_linop(&d6, n, A);
  lam[n - 1] = 11.0; /* a gap: the value bound res^2/gap is informative */
  build_spectral(n, U, lam, A);
  eig_lobpcg(&op6, &o, &rf, &err);
  rc = eig_lobpcg_values(&op5, &o, 1e-10, NAN, &rv, &err);
  tap_ok(rc == CS_OK && fabs(rv.values[0] - 11.0) <= 1e-9 * 11.0 && rv.matvecs <= rf.matvecs,
         "value stop: top %.12g within 1e-9 of 11 in %ld products (residual stop %ld)",
         rv.values[0], rv.matvecs, rf.matvecs);
  eig_result_free(&r), eig_result_free(&l), eig_result_free(&rw), eig_result_free(&rd);
  eig_result_free(&rv), eig_result_free(&rf);
  free(U), free(A), free(lam), free(warm);
}

/* A linear model ½ mean (wᵀx − y)² has Hessian (1/n) XᵀX: data X = √n Q diag(√λ) (Q with
 * orthonormal columns) fixes its spectrum λ; top-6 through the block Hessian product. */
static void test_quadratic_model(void) {
  size_t d = 60, n = 200;
  NetSpec s;
  Net net;
  Err err = {0};
  netspec_default(&s);
  s.act.kind = ACT_IDENTITY;
  Rng rng;
  rng_seed(&rng, 8);
  if (netspec_parse_model(&s, "mlp:60-1,bias=none", &err) || net_init(&net, &s, &rng, &err)) {
    tap_ok(0, "linear model: %s", err.msg);
    return;
  }
  double *Q = malloc(n * n * sizeof *Q), *X = malloc(n * d * sizeof *X), *Y = malloc(n * sizeof *Y);
  double lam[60], theta[60];
  random_orthogonal(n, 21, Q);
  for (size_t j = 0; j < d; j++) lam[j] = j < 54 ? 0.1 + 0.01 * (double)j : 3.0 + 1e-4 * (double)j;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) X[i * d + j] = sqrt((double)n * lam[j]) * Q[j * n + i];
  for (size_t i = 0; i < n; i++) Y[i] = rng_normal(&rng);
  for (size_t j = 0; j < d; j++) theta[j] = rng_normal(&rng);
  Batch b = {X, Y, NULL, n, NULL, NULL};
  Curvature *c = curv_alloc(&net, LOSS_MSE, n, 64, &err);
  if (!c || curv_build(c, theta, &b, &err)) {
    tap_ok(0, "linear model curvature: %s", err.msg);
  } else {
    Linop op = curv_hessian_op(c);
    EigOpts o;
    eig_opts_default(&o);
    o.k = 6, o.tol = 1e-9, o.seed = 2;
    EigResult r;
    int rc = eig_lobpcg(&op, &o, &r, &err);
    double worst = 0;
    for (int j = 0; j < 6 && !rc; j++) {
      double e = fabs(r.values[j] - lam[59 - j]) / lam[59 - j];
      worst = e > worst ? e : worst;
    }
    tap_ok(rc == CS_OK && worst <= 1e-10 && curv_applies(c) == r.matvecs,
           "linear model, six eigenvalues 1e-4 apart at 3: LOBPCG on the block Hessian within "
           "%.1e of the construction (%ld products)", worst, r.matvecs);
    eig_result_free(&r);
  }
  curv_free(c);
  free(Q), free(X), free(Y);
  net_deinit(&net);
}

/* Bad options: a clear status. */
static void test_bad(void) {
  size_t n = 30;
  double *A = calloc(n * n, sizeof *A);
  for (size_t i = 0; i < n; i++) A[i * n + i] = (double)i;
  DenseOp d;
  Linop op = dense_linop(&d, n, A);
  EigOpts o;
  eig_opts_default(&o);
  o.k = 20;
  EigResult r;
  Err err = {0};
  tap_ok(eig_lobpcg(&op, &o, &r, &err) == CS_EINVAL && strstr(err.msg, "block"),
         "k = 20 on n = 30: refused (%s)", err.msg);
  o.k = 2, o.maxit = 4, o.tol = 1e-14;
  int rc = eig_lobpcg(&op, &o, &r, &err);
  tap_ok(rc == CS_ENOCONV && r.k == 2 && r.matvecs >= 4, "maxit 4: CS_ENOCONV with the best pairs (%s)",
         err.msg);
  eig_result_free(&r);
  (void)dense_apply;
  free(A);
}

int main(void) {
  test_dense();
  test_cluster();
  test_quadratic_model();
  test_bad();
  return tap_done();
}
