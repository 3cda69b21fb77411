/* test_lanczos_value.c: the value stop of eig_lanczos_values (value_tol, gap_ref) against
 * known spectra (A = H D H, H a Householder reflection: the spectrum is D exactly) and
 * dense LAPACK: the values are as accurate as asked for fewer products than the residual
 * stop, on a well-separated top and on clustered ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/threads.h"
#include "lanczos/eig.h"
#include "tap.h"

typedef struct Hh {
  size_t n;
  const double *d, *u; /* A = H diag(d) H, H = I − 2uuᵀ, ‖u‖ = 1 */
  double *t;
  long count;
} Hh;

static void reflect(size_t n, const double *u, const double *x, double *y) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += u[i] * x[i];
  for (size_t i = 0; i < n; i++) y[i] = x[i] - 2 * s * u[i];
}

static int hh_apply(void *self, const double *x, double *y) {
  Hh *h = self;
  reflect(h->n, h->u, x, h->t);
  for (size_t i = 0; i < h->n; i++) h->t[i] *= h->d[i];
  reflect(h->n, h->u, h->t, y);
  h->count++;
  return 0;
}

/* The dense A of h, for the LAPACK reference. */
static void hh_dense(Hh *h, double *A) {
  double *e = calloc(h->n, sizeof *e);
  for (size_t j = 0; j < h->n; j++) {
    e[j] = 1;
    hh_apply(h, e, A + j * h->n);
    e[j] = 0;
  }
  h->count = 0;
  free(e);
}

typedef struct Solve {
  double worst; /* max relative error of the k top values against ref (descending) */
  double worst_resid_rel;
  long products;
  int ok;
} Solve;

static Solve solve(Hh *h, int k, double tol, double value_tol, double gap_ref,
                   const double *ref) {
  Linop op = {h->n, hh_apply, NULL, h};
  EigOpts o;
  eig_opts_default(&o);
  o.k = k, o.tol = tol, o.seed = 3;
  EigResult r;
  Err err = {0};
  h->count = 0;
  int rc = eig_lanczos_values(&op, &o, value_tol, gap_ref, &r, &err);
  Solve s = {0, 0, r.matvecs - r.residual_matvecs, rc == CS_OK && r.converged && r.ntop == k};
  for (int j = 0; j < k && s.ok; j++) {
    s.worst = fmax(s.worst, fabs(r.values[j] - ref[j]) / fabs(ref[j]));
    s.worst_resid_rel = fmax(s.worst_resid_rel, r.residuals[j] / fabs(r.values[j]));
  }
  eig_result_free(&r);
  return s;
}

/* Spectrum top[0..ntop) then a bulk evenly in [lo, hi]; ref = the top k, descending, from
 * LAPACK on the dense matrix (checked against the constructed values first). */
static void setup(size_t n, const double *top, int ntop, double lo, double hi, Hh *h, double *d,
                  double *u, double *ref, int k, const char *label) {
  for (int i = 0; i < ntop; i++) d[i] = top[i];
  for (size_t i = (size_t)ntop; i < n; i++)
    d[i] = lo + (hi - lo) * (double)(i - (size_t)ntop) / (double)(n - (size_t)ntop - 1);
  Rng rng;
  rng_seed(&rng, 17);
  double nu = 0;
  for (size_t i = 0; i < n; i++) u[i] = rng_normal(&rng), nu += u[i] * u[i];
  for (size_t i = 0; i < n; i++) u[i] /= sqrt(nu);
  *h = (Hh){n, d, u, h->t, 0};
  double *A = malloc(n * n * sizeof *A), *w = malloc(n * sizeof *w);
  hh_dense(h, A);
  Err err = {0};
  int rc = dense_eig_sym(n, A, w, NULL, &err);
  double dev = 0;
  for (int j = 0; j < k; j++) ref[j] = w[n - 1 - (size_t)j], dev = fmax(dev, fabs(ref[j] - top[j]));
  tap_ok(rc == CS_OK && dev <= 1e-12, "%s: LAPACK recovers the constructed top %d (%.1e)", label,
         k, dev);
  free(A), free(w);
}

int main(void) {
  threads_set(1);
  const size_t n = 600;
  double *d = malloc(n * sizeof *d), *u = malloc(n * sizeof *u), ref[8];
  Hh h = {.t = malloc(n * sizeof(double))};

  /* well separated: 30, then 25, then a bulk in [-2, 20] */
  const double sep[] = {30, 25};
  setup(n, sep, 2, -2, 20, &h, d, u, ref, 1, "separated");
  for (int t = 0; t < 2; t++) {
    double tol = t ? 1e-10 : 1e-6;
    Solve res = solve(&h, 1, tol, 0, NAN, ref), val = solve(&h, 1, tol, tol, NAN, ref);
    tap_ok(res.ok && val.ok, "separated, tol %g: both stops converge", tol);
    tap_ok(val.worst <= tol, "separated, tol %g: value stop within tol of LAPACK (%.2e)", tol,
           val.worst);
    tap_ok(val.products < res.products, "separated, tol %g: value stop takes fewer products "
           "(%ld < %ld)", tol, val.products, res.products);
    tap_ok(val.worst_resid_rel > tol, "separated, tol %g: its vector is looser than tol "
           "(relative residual %.1e: the value converges first)", tol, val.worst_resid_rel);
  }

  /* clustered top: 10, 9.99, ..., 9.95, then a bulk in [0, 9]; k = 3 inside the cluster */
  const double cl[] = {10, 9.99, 9.98, 9.97, 9.96, 9.95};
  setup(n, cl, 6, 0, 9, &h, d, u, ref, 3, "cluster");
  for (int t = 0; t < 2; t++) {
    double tol = t ? 1e-10 : 1e-6;
    Solve res = solve(&h, 3, tol, 0, NAN, ref), val = solve(&h, 3, tol, tol, NAN, ref);
    tap_ok(res.ok && val.ok, "cluster, tol %g: both stops converge with 3 pairs", tol);
    tap_ok(val.worst <= tol, "cluster, tol %g: value stop within tol of LAPACK (%.2e, "
           "residual stop %.2e)", tol, val.worst, res.worst);
    tap_ok(val.products <= res.products, "cluster, tol %g: no more products than the residual "
           "stop (%ld vs %ld)", tol, val.products, res.products);
  }

  /* a near-double top (gap 1e-7 relative): the bound's gap is tiny, so the value stop may
   * not stop early, and must still be right */
  const double dbl[] = {10, 10 - 1e-6, 8};
  setup(n, dbl, 3, -1, 7, &h, d, u, ref, 2, "near-double");
  Solve nd = solve(&h, 2, 1e-8, 1e-8, NAN, ref);
  tap_ok(nd.ok && nd.worst <= 1e-8, "near-double: both values within 1e-8 (%.2e)", nd.worst);

  /* A warm start on the top eigenvector with a little of a close second (the tracker at the
   * edge of stability: two more 0.1% and 0.2% below, 1e-3 of the weight each, a trace of the
   * bulk), its
   * product given: from two or three vectors the next Ritz value lies in the bulk, the bound
   * est²/δ takes the bulk's gap and would accept a value 1e-5 off at tol 1e-6; the stop
   * waits for k + 3 vectors and is right. */
  const double close2[] = {10, 9.99, 9.98};
  setup(n, close2, 3, 0, 5, &h, d, u, ref, 1, "hidden second");
  {
    double *x0 = calloc(n, sizeof *x0), *x = malloc(n * sizeof *x), *ax = malloc(n * sizeof *ax);
    Rng rw;
    rng_seed(&rw, 5);
    x0[0] = 1;
    for (size_t i = 1; i < 3; i++) x0[i] = sqrt(1e-3);
    for (size_t i = 3; i < n; i++) x0[i] = 1e-5 * rng_normal(&rw);
    reflect(n, u, x0, x); /* eigenvector i of A is H e_i */
    double nx = 0;
    for (size_t i = 0; i < n; i++) nx += x[i] * x[i];
    for (size_t i = 0; i < n; i++) x[i] /= sqrt(nx);
    hh_apply(&h, x, ax);
    Linop op = {h.n, hh_apply, NULL, &h};
    EigOpts o;
    eig_opts_default(&o);
    o.k = 1, o.tol = 1e-6, o.seed = 3, o.warm = x, o.nwarm = 1, o.warm_products = ax;
    EigResult r;
    Err err = {0};
    int rc = eig_lanczos_values(&op, &o, 1e-6, NAN, &r, &err);
    double e = rc == CS_OK ? fabs(r.values[0] - ref[0]) / ref[0] : INFINITY;
    tap_ok(rc == CS_OK && r.converged && e <= 1e-6 && r.matvecs >= 3,
           "hidden second: the value stop waits for 4 vectors, %ld products, within 1e-6 (%.2e)",
           r.matvecs, e);
    if (rc == CS_OK) eig_result_free(&r);
    free(x0), free(x), free(ax);
  }

  /* gap_ref: a hint of the next eigenvalue never makes the stop earlier, and a hint at the
   * true λ₂ keeps the values right */
  setup(n, sep, 2, -2, 20, &h, d, u, ref, 1, "separated (gap_ref)");
  Solve plain = solve(&h, 1, 1e-8, 1e-8, NAN, ref), hinted = solve(&h, 1, 1e-8, 1e-8, 25, ref);
  Solve close = solve(&h, 1, 1e-8, 1e-8, 29.999, ref);
  tap_ok(hinted.ok && hinted.worst <= 1e-8 && hinted.products >= plain.products,
         "gap_ref = λ₂: within 1e-8 (%.2e), %ld products (without: %ld)", hinted.worst,
         hinted.products, plain.products);
  tap_ok(close.ok && close.products >= hinted.products,
         "gap_ref near θ: the bound tightens, no fewer products (%ld >= %ld)", close.products,
         hinted.products);

  /* eig_solve_auto: both ends of the separated spectrum by the own Lanczos, agreeing with
   * ARPACK; a bottom eigenvalue of 1e-9 (ARPACK's test is relative to it, the own
   * solver's floor sqrt(eps)·‖T‖ is far looser) hands over to ARPACK */
  for (int c = 0; c < 2; c++) {
    const double ends[] = {30, 25, c ? 1e-9 : -5, c ? 2e-9 : -4};
    setup(n, ends, 4, c ? 1 : -2, 20, &h, d, u, ref, 2, c ? "near-zero bottom" : "both ends");
    Linop op = {h.n, hh_apply, NULL, &h};
    EigOpts o;
    eig_opts_default(&o);
    o.k = 2, o.which = EIG_BOTH, o.tol = 1e-8, o.seed = 5;
    EigResult ra, rr;
    Err err = {0};
    const char *used = NULL;
    int rc = eig_solve_auto(&op, &o, &ra, &used, &err);
    int rc2 = eig_arpack(&op, &o, &rr, &err);
    double dev = 0, worst_test = 0;
    const double want[] = {ends[0], ends[1], ends[2], ends[3]}; /* top desc, bottom asc */
    for (int j = 0; j < 4 && rc == CS_OK && rc2 == CS_OK; j++) {
      dev = fmax(dev, fabs(ra.values[j] - rr.values[j]) / 30.0);
      dev = fmax(dev, fabs(ra.values[j] - want[j]) / 30.0);
      worst_test = fmax(worst_test, ra.residuals[j] /
                                        (o.tol * fmax(pow(2.220446049250313e-16, 2.0 / 3.0),
                                                      fabs(ra.values[j]))));
    }
    tap_ok(rc == CS_OK && rc2 == CS_OK && ra.converged && dev <= 1e-9,
           "auto, %s: the four values agree with ARPACK and the constructed ones (%.1e)",
           c ? "near-zero bottom" : "both ends", dev);
    /* (at 1e-9 no exact residual can meet tol·1e-9: rounding in A v is 30·eps; ARPACK's
     * own test is on its Ritz estimates, which go below it) */
    if (!c)
      tap_ok(worst_test <= 1, "auto, both ends: every exact residual meets ARPACK's test "
             "(worst %.2f of it)", worst_test);
    tap_ok(used && !strcmp(used, c ? "lanczos+arpack" : "lanczos"),
           "auto, %s: solved by %s", c ? "near-zero bottom" : "both ends", used ? used : "?");
    if (!c)
      tap_ok(ra.matvecs <= rr.matvecs, "auto, both ends: no more products than ARPACK (%ld vs "
             "%ld)", ra.matvecs, rr.matvecs);
    eig_result_free(&ra), eig_result_free(&rr);
  }
  free(d), free(u), free(h.t);

  /* eig_solve_auto on a Hessian-like bottom (digits' shape: a pair 3e-4 apart below a few
   * negative outliers and a dense bulk at zero, a top of 12): with no cap given it holds
   * more vectors for a bottom end, and Lanczos alone meets ARPACK's test in fewer products
   * than ARPACK and than at the 20-vector cap (on digits itself that cap ran out of budget
   * and handed over: docs/LANCZOS.md) */
  const size_t nb = 3000;
  d = malloc(nb * sizeof *d), u = malloc(nb * sizeof *u), h.t = malloc(nb * sizeof(double));
  const double cb[] = {12.146, 10.601, -0.146561, -0.146233}, tail[] = {-0.12, -0.1, -0.08};
  for (int i = 0; i < 4; i++) d[i] = cb[i];
  for (int i = 0; i < 3; i++) d[4 + i] = tail[i];
  for (size_t i = 7; i < 37; i++) d[i] = 0.3 + 9.0 * (double)(i - 7) / 30.0; /* outliers */
  for (size_t i = 37; i < nb; i++) d[i] = -0.02 + 0.07 * (double)(i - 37) / (double)(nb - 38);
  Rng rng;
  rng_seed(&rng, 19);
  double nu = 0;
  for (size_t i = 0; i < nb; i++) u[i] = rng_normal(&rng), nu += u[i] * u[i];
  for (size_t i = 0; i < nb; i++) u[i] /= sqrt(nu);
  h = (Hh){nb, d, u, h.t, 0}; /* I - 2uuᵀ is orthogonal: the spectrum is d exactly */
  Linop opb = {h.n, hh_apply, NULL, &h};
  long prod[3] = {0};
  const char *by[3] = {0};
  double devb = 0;
  for (int c = 0; c < 3; c++) { /* 0: auto, 1: auto at the old 20-vector cap, 2: ARPACK */
    EigOpts o;
    eig_opts_default(&o);
    o.k = 2, o.which = EIG_BOTH, o.tol = 1e-8, o.seed = 5, o.ncv = c == 1 ? 20 : 0;
    EigResult r;
    Err err = {0};
    int rc = c < 2 ? eig_solve_auto(&opb, &o, &r, &by[c], &err) : eig_arpack(&opb, &o, &r, &err);
    prod[c] = rc == CS_OK ? r.matvecs : -1;
    for (int j = 0; j < 4 && rc == CS_OK; j++) devb = fmax(devb, fabs(r.values[j] - cb[j]) / 12.146);
    if (rc == CS_OK) eig_result_free(&r);
  }
  tap_ok(prod[0] > 0 && prod[1] > 0 && prod[2] > 0 && devb <= 1e-9,
         "clustered bottom: auto, auto at cap 20 and ARPACK find the four values (%.1e)", devb);
  tap_ok(by[0] && !strcmp(by[0], "lanczos") && prod[0] <= prod[2],
         "clustered bottom: auto's own Lanczos alone, %ld products (ARPACK %ld)", prod[0], prod[2]);
  tap_ok(prod[0] < prod[1], "clustered bottom: fewer products than at the 20-vector cap (%ld < "
         "%ld, by %s)", prod[0], prod[1], by[1] ? by[1] : "?");
  free(d), free(u), free(h.t);
  return tap_done();
}
