/*
 * test_kinks.c: per-example loss weights in the engine, and the kinks study's pieces
 * (studies/kinks/kinks.h).
 *
 * References are independent of the code under test: integer weights against the same
 * rows repeated (loss, gradient, Hessian-vector product); the unweighted training path
 * against all-one weights bit for bit; Wilson's interval against the roots of its
 * defining quadratic and its closed forms at k = 0 and k = n; kink positions against the
 * slope jumps of the engine's forward pass (central differences); the paper's step size
 * against a dense eigendecomposition of the weighted tangent kernel built from a
 * finite-difference Jacobian; the per-side least-squares lines against their normal
 * equations; the Monte-Carlo results at 1 and 2 threads.
 */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/threads.h"
#include "core/train.h"
#include "hessian/curv.h"
#include "studies/kinks/kinks.h"
#include "tap.h"

static int build(Net *net, const char *model, uint64_t seed, double **theta) {
  NetSpec ns;
  Err err = {0};
  netspec_default(&ns);
  if (netspec_parse_model(&ns, model, &err) || act_parse("relu", &ns.act, &err) ||
      netspec_parse_init(&ns, "he", &err) || net_init(net, &ns, NULL, &err)) {
    tap_diag("net: %s", err.msg);
    return 1;
  }
  Rng r;
  rng_seed(&r, seed);
  *theta = malloc(net->n_params * sizeof **theta);
  net_init_params(net, *theta, &r);
  return 0;
}

/* Integer weights (2, 0, 1, 3) on 4 rows = the rows repeated that often, among as many rows
 * (2+0+1+3 = 6 rows, so the mean over 4 weighted rows is the mean over 6 rows times 6/4). */
static void test_weights_repeat(void) {
  Net net;
  double *theta;
  if (build(&net, "mlp:3-8-2", 7, &theta)) return;
  for (size_t i = 0; i < net.n_params; i++) theta[i] += 0.1 * sin((double)i); /* nonzero b */
  double X[4 * 3], Y[4 * 2], w[4] = {2, 0, 1, 3}, Xr[6 * 3], Yr[6 * 2];
  for (int i = 0; i < 12; i++) X[i] = cos(1.7 * i);
  for (int i = 0; i < 8; i++) Y[i] = sin(0.9 * i);
  size_t m = 0;
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < (int)w[i]; c++, m++) {
      memcpy(Xr + m * 3, X + i * 3, 3 * sizeof *X);
      memcpy(Yr + m * 2, Y + i * 2, 2 * sizeof *Y);
    }
  Batch bw = {X, Y, NULL, 4, NULL, w}, br = {Xr, Yr, NULL, 6, NULL, NULL};
  size_t P = net.n_params;
  double *gw = malloc(P * sizeof *gw), *gr = malloc(P * sizeof *gr), lw, lr;
  double *v = malloc(P * sizeof *v), *hw = malloc(P * sizeof *hw), *hr = malloc(P * sizeof *hr);
  NetCache *c = net_cache_alloc(&net, 8, 0);
  objective_eval(&net, theta, LOSS_MSE, &bw, c, gw, &lw, NULL);
  objective_eval(&net, theta, LOSS_MSE, &br, c, gr, &lr, NULL);
  /* weighted: (1/4) Σ w ℓ; repeated: (1/6) Σ ℓ over the same multiset */
  tap_rel(lw, lr * 6.0 / 4.0, 1e-13, "weighted MSE loss = repeated rows (x 6/4)");
  for (size_t i = 0; i < P; i++) gr[i] *= 6.0 / 4.0;
  tap_ok(tap_max_rel(gw, gr, P) < 1e-13, "weighted MSE gradient = repeated rows (rel %.2g)",
         tap_max_rel(gw, gr, P));
  Err err = {0};
  Curvature *cw = curv_alloc(&net, LOSS_CE, 4, 0, &err), *cr = curv_alloc(&net, LOSS_CE, 6, 0, &err);
  for (size_t i = 0; i < P; i++) v[i] = cos(0.3 * (double)i);
  double Yc[4 * 2] = {1, 0, 0, 1, 1, 0, 0, 1}, Ycr[6 * 2];
  m = 0;
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < (int)w[i]; k++, m++) memcpy(Ycr + m * 2, Yc + i * 2, 2 * sizeof *Yc);
  Batch cbw = {X, Yc, NULL, 4, NULL, w}, cbr = {Xr, Ycr, NULL, 6, NULL, NULL};
  int ok = cw && cr && !curv_build(cw, theta, &cbw, &err) && !curv_build(cr, theta, &cbr, &err);
  if (ok) {
    curv_hvp(cw, v, hw);
    curv_hvp(cr, v, hr);
    for (size_t i = 0; i < P; i++) hr[i] *= 6.0 / 4.0;
  }
  tap_ok(ok && tap_max_rel(hw, hr, P) < 1e-12, "weighted CE Hessian-vector product = repeated rows");
  tap_ok(ok && fabs(curv_loss(cw) - curv_loss(cr) * 1.5) < 1e-13 * fabs(curv_loss(cr)),
         "weighted CE loss through curv_build = repeated rows");
  curv_free(cw);
  curv_free(cr);
  net_cache_free(c);
  free(gw), free(gr), free(v), free(hw), free(hr), free(theta);
  net_deinit(&net);
}

/* Train 60 GD steps on a 1-D regression: no weights and all-one weights agree bit for bit,
 * and a weighted mini-batch run is refused. */
static void test_weights_train_bits(void) {
  Net net;
  double *t0;
  if (build(&net, "mlp:1-16-16-1", 3, &t0)) return;
  size_t P = net.n_params;
  Dataset *ds = dataset_alloc(20, 1, 1, 0);
  for (int i = 0; i < 20; i++) ds->X[i] = -1 + 0.1 * i, ds->Y[i] = sin(3 * ds->X[i]);
  double *th[2];
  for (int pass = 0; pass < 2; pass++) {
    th[pass] = malloc(P * sizeof *th[pass]);
    memcpy(th[pass], t0, P * sizeof *t0);
    if (pass == 1) {
      ds->weight = malloc(20 * sizeof *ds->weight);
      for (int i = 0; i < 20; i++) ds->weight[i] = 1.0;
    }
    OptConfig oc;
    optconfig_default(&oc);
    oc.lr = 0.05;
    Optimizer *opt = optim_alloc(optim_gd, &oc, P);
    TrainConfig tc;
    trainconfig_default(&tc);
    tc.steps = 60;
    TrainResult res;
    Err err = {0};
    if (train_run(&tc, &net, th[pass], opt, ds, NULL, NULL, 0, NULL, &res, &err))
      tap_diag("train: %s", err.msg);
    optim_free(opt);
  }
  tap_ok(!memcmp(th[0], th[1], P * sizeof *t0), "60 GD steps: no weights = all-one weights, bit for bit");
  OptConfig oc;
  optconfig_default(&oc);
  Optimizer *opt = optim_alloc(optim_gd, &oc, P);
  TrainConfig tc;
  trainconfig_default(&tc);
  tc.steps = 2;
  tc.batch = 5;
  TrainResult res;
  Err err = {0};
  int rc = train_run(&tc, &net, th[1], opt, ds, NULL, NULL, 0, NULL, &res, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "full-batch"), "weighted mini-batch refused: %s", err.msg);
  optim_free(opt);
  dataset_free(ds);
  free(th[0]), free(th[1]), free(t0);
  net_deinit(&net);
}

static void test_wilson(void) {
  double z = 1.959964, lo, hi;
  for (long n = 1; n <= 1000; n *= 10) {
    kinks_wilson(0, n, z, &lo, &hi);
    tap_ok(lo < 1e-15 && fabs(hi - z * z / (n + z * z)) < 1e-13 * hi, "Wilson k=0, n=%ld: [0, z²/(n+z²)]", n);
    kinks_wilson(n, n, z, &lo, &hi);
    tap_ok(fabs(lo - n / (n + z * z)) < 1e-13 && fabs(hi - 1) < 1e-15,
           "Wilson k=n=%ld: [n/(n+z²), 1]", n);
  }
  /* interior: the ends are the roots of (k/n − p)² = z² p(1 − p)/n */
  long ks[] = {1, 7, 13, 50}, ns[] = {10, 20, 40, 200};
  for (int i = 0; i < 4; i++) {
    kinks_wilson(ks[i], ns[i], z, &lo, &hi);
    double ph = (double)ks[i] / ns[i], N = (double)ns[i];
    double flo = (ph - lo) * (ph - lo) - z * z * lo * (1 - lo) / N;
    double fhi = (ph - hi) * (ph - hi) - z * z * hi * (1 - hi) / N;
    tap_ok(fabs(flo) < 1e-14 && fabs(fhi) < 1e-14 && lo < ph && ph < hi,
           "Wilson k=%ld n=%ld: [%.4f, %.4f] roots of the score equation", ks[i], ns[i], lo, hi);
  }
  kinks_wilson(0, 0, z, &lo, &hi);
  tap_ok(lo == 0 && hi == 1, "Wilson n=0: [0, 1]");
}

/* f(x) of the engine's forward at one input. */
static double f_at(const Net *net, const double *theta, NetCache *c, double x) {
  net_forward(net, theta, &x, 1, c);
  return c->A[net->nlayers - 1][0];
}

static void test_kink_positions(void) {
  Net net;
  double *theta;
  if (build(&net, "mlp:1-12-1,bias=zero", 11, &theta)) return;
  size_t h = 12;
  double *b = theta + net.layer[0].b_off, *a = theta + net.layer[0].w_off;
  double *w = theta + net.layer[1].w_off;
  for (size_t i = 0; i < h; i++) b[i] = 0.37 * sin(2.0 * (double)i + 1.0) * fabs(a[i]) * 5;
  double kink[12], mx = 0;
  kinks_positions(&net, theta, kink);
  NetCache *c = net_cache_alloc(&net, 1, 0);
  int ok = 1;
  double worst = 0;
  for (size_t i = 0; i < h; i++) {
    mx = fmax(mx, fabs(kink[i]));
    /* the slope of f jumps by w_i|a_i| across neuron i's kink (others far enough away) */
    double gap = INFINITY;
    for (size_t j = 0; j < h; j++)
      if (j != i) gap = fmin(gap, fabs(kink[j] - kink[i]));
    if (gap < 1e-3) continue;
    double d = 1e-5, k = kink[i];
    double sl = (f_at(&net, theta, c, k - d) - f_at(&net, theta, c, k - 2 * d)) / d;
    double sr = (f_at(&net, theta, c, k + 2 * d) - f_at(&net, theta, c, k + d)) / d;
    double jump = sr - sl, want = w[i] * fabs(a[i]);
    worst = fmax(worst, fabs(jump - want) / fabs(want));
    ok &= fabs(jump - want) < 1e-5 * fmax(1, fabs(want));
  }
  tap_ok(ok, "each kink −b_i/a_i is where f's slope jumps by w_i|a_i| (worst rel %.2g)", worst);
  tap_ok(fabs(kinks_max_ratio(&net, theta) - mx) == 0, "max |b_i/a_i| = max |kink| = %.4f", mx);
  net_cache_free(c);
  free(theta);
  net_deinit(&net);
}

/* 1/lr = λ_max of P^{1/2} J Jᵀ P^{1/2}, J the finite-difference Jacobian of f at the 6 points
 * in θ, while every kink lies inside (−1, 1). */
static void test_paper_lr(void) {
  for (int trial = 0; trial < 3; trial++) {
    long n = trial == 0 ? 8 : trial == 1 ? 32 : 128;
    char model[64];
    snprintf(model, sizeof model, "mlp:1-%ld-1,bias=zero", n);
    Net net;
    double *theta;
    if (build(&net, model, 100 + (uint64_t)trial, &theta)) return;
    size_t P = net.n_params;
    double *a = theta + net.layer[0].w_off, *b = theta + net.layer[0].b_off;
    for (long i = 0; i < n; i++) b[i] = 0.3 * a[i] * sin((double)i); /* kinks in (−0.3, 0.3) */
    theta[P - 1] = 0.2; /* c */
    double wts[6];
    Rng r;
    rng_seed(&r, 5 + (uint64_t)trial);
    kinks_weights_draw(40, &r, wts);
    double *J = malloc(6 * P * sizeof *J), *tp = malloc(P * sizeof *tp);
    NetCache *c = net_cache_alloc(&net, 6, 0);
    for (size_t q = 0; q < P; q++) {
      double hstep = 1e-6, fp[6], fm[6];
      memcpy(tp, theta, P * sizeof *tp);
      tp[q] += hstep;
      net_forward(&net, tp, kinks_x, 6, c);
      memcpy(fp, c->A[1], sizeof fp);
      tp[q] -= 2 * hstep;
      net_forward(&net, tp, kinks_x, 6, c);
      memcpy(fm, c->A[1], sizeof fm);
      for (int j = 0; j < 6; j++) J[j * P + q] = (fp[j] - fm[j]) / (2 * hstep);
    }
    double K[36], lam[6];
    for (int j = 0; j < 6; j++)
      for (int k = 0; k < 6; k++) {
        double s = 0;
        for (size_t q = 0; q < P; q++) s += J[j * P + q] * J[k * P + q];
        K[j * 6 + k] = s * sqrt(wts[j] / 6) * sqrt(wts[k] / 6);
      }
    LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', 6, K, 6, lam);
    double lr = NAN;
    Err err = {0};
    int rc = kinks_paper_lr(&net, theta, kinks_x, wts, 6, &lr, &err);
    tap_ok(!rc && fabs(1 / lr - lam[5]) < 1e-7 * lam[5],
           "n=%ld: 1/lr = %.10g = λ_max of the weighted FD kernel %.10g", n, 1 / lr, lam[5]);
    net_cache_free(c);
    free(J), free(tp), free(theta);
    net_deinit(&net);
  }
}

static void test_side_ls(void) {
  double y[6] = {1, 2, 3, 5, 3, 1}, w[6] = {1, 2, 0.5, 1, 1, 4}, fit[6];
  Err err = {0};
  int rc = kinks_side_ls(kinks_x, y, w, 6, fit, &err);
  int ok = !rc;
  for (int s = 0; s < 2 && ok; s++) { /* normal equations: Σ w r = Σ w r x = 0 per side */
    double r0 = 0, r1 = 0;
    for (int j = 0; j < 6; j++)
      if ((s == 0) == (kinks_x[j] > 0)) {
        double r = y[j] - fit[j];
        r0 += w[j] * r, r1 += w[j] * r * kinks_x[j];
      }
    ok &= fabs(r0) < 1e-12 && fabs(r1) < 1e-12;
  }
  tap_ok(ok, "per-side least squares: residuals orthogonal to (1, x) on each side");
  double yl[6] = {-5, -3, -1, 0.5, 1, 1.5}, fl[6];
  rc = kinks_side_ls(kinks_x, yl, w, 6, fl, &err);
  tap_ok(!rc && tap_max_rel(fl, yl, 6) < 1e-14, "per-side least squares reproduce per-side lines");
  double w1[6] = {0, 0, 6, 0, 0, 0};
  tap_ok(kinks_side_ls(kinks_x, y, w1, 6, fl, &err) == CS_EINVAL, "a side with < 2 points: %s",
         err.msg);
  double wd[6];
  Rng r;
  rng_seed(&r, 9);
  kinks_weights_draw(1000, &r, wd);
  double s = 0;
  for (int j = 0; j < 6; j++) s += wd[j];
  tap_ok(fabs(s - 6) < 1e-12, "multinomial weights have mean 1 (sum %.15g)", s);
}

/* The same Monte-Carlo results at 1 and 2 threads; statuses consistent with max ratios. */
static void test_threads(void) {
  KinksOptions o;
  kinks_options_default(&o);
  o.widths[0] = 16, o.widths[1] = 32;
  o.nwidths = 2;
  o.runs = 12;
  o.steps = 400;
  KinksResult r[2];
  Err err = {0};
  for (int t = 0; t < 2; t++) {
    threads_set(t + 1);
    if (kinks_study_run(&o, NULL, NULL, NULL, &r[t], &err)) tap_diag("study: %s", err.msg);
  }
  int same = r[0].nwidths == 2 && r[1].nwidths == 2, consistent = 1;
  for (int i = 0; same && i < 2; i++)
    for (long k = 0; k < o.runs; k++) {
      const KinksRun *a = &r[0].width[i].run[k], *b = &r[1].width[i].run[k];
      same &= a->max_ratio == b->max_ratio && a->steps == b->steps && a->status == b->status;
      consistent &= (a->status == KINKS_CROSSED) == (a->max_ratio >= 1);
    }
  tap_ok(same, "Monte-Carlo runs identical at 1 and 2 threads");
  tap_ok(consistent, "crossed exactly when max |b/a| >= 1");
  tap_ok(same && r[0].width[0].crossed == r[1].width[0].crossed, "crossings: %ld and %ld of %ld",
         r[0].width[0].crossed, r[0].width[1].crossed, o.runs);
  kinks_result_free(&r[0]);
  kinks_result_free(&r[1]);
}

/* A run that converges without a crossing has done linear regression on each side: its
 * values at the data match the per-side weighted least-squares lines. */
static void test_converged_is_regression(void) {
  KinksOptions o;
  kinks_options_default(&o);
  o.steps = 60000;
  int seen = 0, ok = 1;
  double worst = 0;
  for (long k = 0; k < 6; k++) {
    KinksRun r;
    Err err = {0};
    if (kinks_run_one(&o, 16, k, &r, &err)) {
      tap_diag("run %ld: %s", k, err.msg);
      ok = 0;
      continue;
    }
    if (r.status != KINKS_CONVERGED) continue;
    seen++;
    worst = fmax(worst, r.ls_gap);
    ok &= r.linear && r.ls_gap < 1e-4 && r.max_ratio < 1;
  }
  tap_ok(ok && seen > 0, "%d converged width-16 runs end linear on each side, within %.2g of the "
         "per-side least-squares lines", seen, worst);
}

int main(void) {
  test_weights_repeat();
  test_weights_train_bits();
  test_wilson();
  test_kink_positions();
  test_paper_lr();
  test_side_ls();
  test_threads();
  test_converged_is_regression();
  return tap_done();
}
