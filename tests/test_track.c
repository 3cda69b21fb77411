/* test_track.c: tracking eigenpairs along a moving operator (studies/track.h), checked
 * against dense LAPACK eigenvalues at every point. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "core/rng.h"
#include "core/threads.h"
#include "lanczos/eig.h"
#include "studies/track.h"
#include "tap.h"

typedef struct Mat {
  size_t n;
  double *A;
} Mat;

static int mat_apply(void *self, const double *x, double *y) {
  Mat *m = self;
  for (size_t i = 0; i < m->n; i++) {
    double s = 0;
    for (size_t j = 0; j < m->n; j++) s += m->A[i * m->n + j] * x[j];
    y[i] = s;
  }
  return 0;
}

/* A(t) = A0 + t E with A0 = diag-ish spectrum in a random basis, E symmetric noise. */
static void build(size_t n, double *A0, double *E, Rng *rng) {
  double *G = malloc(n * n * sizeof *G);
  for (size_t i = 0; i < n * n; i++) G[i] = rng_normal(rng);
  /* symmetric A0 with a clear top: 30, 25, then a bulk in [-2, 10] */
  memset(A0, 0, n * n * sizeof *A0);
  for (size_t i = 0; i < n; i++) {
    double lam = i == 0 ? 30 : i == 1 ? 25 : -2 + 12.0 * (double)i / (double)n;
    /* rank-one sum with Gram-Schmidt-free random directions is not orthogonal; use a
     * Householder-like reflection of the diagonal instead: A0 = H D H, H = I - 2uuᵀ. */
    A0[i * n + i] = lam;
  }
  double *u = G, nu = 0;
  for (size_t i = 0; i < n; i++) nu += u[i] * u[i];
  for (size_t i = 0; i < n; i++) u[i] /= sqrt(nu);
  double *HD = malloc(n * n * sizeof *HD);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) HD[i * n + j] = A0[i * n + j] - 2 * u[i] * u[j] * A0[j * n + j];
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      double s = 0;
      for (size_t l = 0; l < n; l++) s += HD[i * n + l] * ((l == j) - 2 * u[l] * u[j]);
      A0[i * n + j] = s;
    }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j <= i; j++) E[i * n + j] = E[j * n + i] = G[(i * 7 + j * 13) % (n * n)];
  free(G);
  free(HD);
}

static long run(const char *label, double step, int expect_cheap, int value_stop, int lobpcg) {
  size_t n = 120;
  Rng rng;
  rng_seed(&rng, 42);
  double *A0 = malloc(n * n * sizeof *A0), *E = malloc(n * n * sizeof *E);
  double *D = malloc(n * n * sizeof *D), *w = malloc(n * sizeof *w);
  build(n, A0, E, &rng);
  Mat m = {n, malloc(n * n * sizeof(double))};
  Linop op = {n, mat_apply, NULL, &m};
  double tol = 1e-8;
  Tracker *tr = tracker_alloc(n, 2, tol, 0, 7);
  tracker_set_value_stop(tr, value_stop);
  tracker_set_lobpcg(tr, lobpcg);
  int worst_ok = 1, cheap = 0, all_conv = 1;
  long products = 0;
  double worst = 0;
  for (int s = 0; s < 30; s++) {
    for (size_t i = 0; i < n * n; i++) m.A[i] = A0[i] + step * s * E[i];
    EigResult r;
    Err err = {0};
    int full = 1;
    int rc = tracker_measure(tr, &op, &r, &full, &err);
    memcpy(D, m.A, n * n * sizeof *D);
    dense_eig_sym(n, D, w, NULL, &err);
    for (int j = 0; j < 2; j++) {
      double e = fabs(r.values[j] - w[n - 1 - j]) / fabs(w[n - 1 - j]);
      if (e > worst) worst = e;
      worst_ok &= e <= 10 * tol;
    }
    all_conv &= rc == CS_OK && r.converged && r.ntop == 2;
    cheap += !full;
    products += r.matvecs;
    eig_result_free(&r);
  }
  long meas, fulls;
  tracker_counts(tr, &meas, &fulls);
  tap_ok(all_conv, "%s: every measurement converged with 2 pairs", label);
  tap_ok(worst_ok, "%s: tracked values within 10·tol of LAPACK (worst %.2e)", label, worst);
  tap_ok(meas == 30 && meas == fulls + cheap, "%s: counters (%ld measurements, %ld full)", label, meas, fulls);
  if (expect_cheap)
    tap_ok(cheap >= 20, "%s: slow motion is followed by cheap updates (%d of 30)", label, cheap);
  else
    tap_ok(fulls >= 10, "%s: fast motion falls back to full solves (%ld of 30)", label, fulls);
  tracker_free(tr);
  free(A0), free(E), free(D), free(w), free(m.A);
  return products;
}

/* A crossing: λ₁ = 40 stays, λ₂ = 38 + 0.1 s rises through it at s = 20 while every
 * eigenvector turns (Q_s = qr(Q_0 + 0.002 s G)); a bulk in [0, 36). A k = 1 tracker warm
 * from the old top misses the new one for several measurements with either stop (0.25%
 * off with the residual stop, 2.4% with the value stop: docs/TRACKING.md); with k = 2 the rising pair is in the warm start and the top is
 * followed through the crossing. Returns the worst relative error of the top value. */
static double crossing(int k, int value_stop, long *products) {
  const size_t n = 200;
  const double tol = 1e-5;
  Rng rng;
  rng_seed(&rng, 1);
  double *Q0 = malloc(n * n * sizeof *Q0), *G = malloc(n * n * sizeof *G), *Q = malloc(n * n * sizeof *Q);
  double *tau = malloc(n * sizeof *tau), *lam = malloc(n * sizeof *lam);
  Mat m = {n, malloc(n * n * sizeof(double))};
  for (size_t i = 0; i < n * n; i++) Q0[i] = rng_normal(&rng), G[i] = rng_normal(&rng);
  Linop op = {n, mat_apply, NULL, &m};
  Tracker *tr = tracker_alloc(n, k, tol, 0, 7);
  tracker_set_value_stop(tr, value_stop);
  double worst = 0;
  *products = 0;
  for (int s = 0; s < 40; s++) {
    for (size_t i = 0; i < n * n; i++) Q[i] = Q0[i] + 0.002 * s * G[i];
    LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)n, (int)n, Q, (int)n, tau);
    LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)n, (int)n, (int)n, Q, (int)n, tau);
    for (size_t j = 0; j < n; j++) lam[j] = j == 0 ? 40 : j == 1 ? 38 + 0.1 * s : 36.0 * (double)j / (double)n;
    for (size_t i = 0; i < n; i++)
      for (size_t l = 0; l <= i; l++) {
        double a = 0;
        for (size_t j = 0; j < n; j++) a += Q[i * n + j] * lam[j] * Q[l * n + j];
        m.A[i * n + l] = m.A[l * n + i] = a;
      }
    EigResult r;
    Err err = {0};
    int rc = tracker_measure(tr, &op, &r, NULL, &err);
    double top = fmax(lam[0], lam[1]);
    double e = rc == CS_OK || rc == CS_ENOCONV ? fabs(r.values[0] - top) / top : INFINITY;
    if (!(e <= worst)) worst = e;
    *products += r.matvecs;
    eig_result_free(&r);
  }
  tracker_free(tr);
  free(Q0), free(G), free(Q), free(tau), free(lam), free(m.A);
  return worst;
}

int main(void) {
  threads_set(1);
  run("slow", 1e-7, 1, 0, 0);
  long res = run("fast", 2e-2, 0, 0, 0);
  /* the full solves stopping on the value bound: as accurate (the checks in run), cheaper */
  run("slow, value stop", 1e-7, 1, 1, 0);
  long val = run("fast, value stop", 2e-2, 0, 1, 0);
  /* the full solves by warm LOBPCG (block k + 1): the same checks */
  run("slow, lobpcg", 1e-7, 1, 0, 1);
  long lb = run("fast, lobpcg", 2e-2, 0, 0, 1);
  long lbv = run("fast, lobpcg, value stop", 2e-2, 0, 1, 1);
  tap_ok(lbv < lb, "fast motion, lobpcg: the value stop takes fewer products (%ld < %ld; lanczos "
         "%ld and %ld)", lbv, lb, res, val);
  tap_ok(val < res, "fast motion: the value stop takes fewer products (%ld < %ld)", val, res);
  tap_ok(tracker_alloc(10, 10, 1e-6, 0, 1) == NULL, "k >= n refused");
  for (int vs = 0; vs <= 1; vs++) {
    long p1, p2;
    double e1 = crossing(1, vs, &p1), e2 = crossing(2, vs, &p2);
    tap_ok(e2 <= 10 * 1e-5, "crossing, k = 2, %s stop: the top followed through it (worst %.2e, "
           "%ld products)", vs ? "value" : "residual", e2, p2);
    /* what the docs say of k = 1: it misses the new top for a while (not a requirement on
     * the code, a check that the case is the hard one it is meant to be) */
    tap_ok(e1 > 1e-3, "crossing, k = 1, %s stop: the warm start misses the new top (worst "
           "%.2e, %ld products)", vs ? "value" : "residual", e1, p1);
  }
  return tap_done();
}
