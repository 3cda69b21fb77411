/*
 * test_sobolev.c: the Sobolev loss L_s = (1/2N) rᵀ M r, M = 𝓕ᴴ diag((1+|k|²)^s) 𝓕
 * (core/loss_metric.c, studies/spectral/sobolev.c, docs/SPECTRAL.md).
 *
 * References written out here: the dense M from its definition (a double sum of
 * cosines), the closed form (1+k²)^s A²/4 of a sinusoidal residual, central finite
 * differences of the loss (gradient), of the gradient (Hessian-vector products and a
 * dense Hessian, whose LAPACK top eigenvalue the sharpness probe must find) and of the
 * outputs (a dense Jacobian, for the Gauss-Newton product Jᵀ(M/N)J v). s = 0 must give
 * MSE's loss, gradient and HVP to the last bit. Every refusal names its reason.
 */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/recorder_memory.h"
#include "core/rng.h"
#include "core/threads.h"
#include "core/train.h"
#include "hessian/curv.h"
#include "studies/probes.h"
#include "studies/spectral/spectral.h"
#include "tests/net_util.h"
#include "tests/tap.h"

/* A grid dataset of n points per axis (dims 1 or 2) with k random targets. */
static Dataset *grid_data(int dims, size_t n, size_t k, uint64_t seed) {
  size_t N = dims == 1 ? n : n * n;
  Dataset *ds = dataset_alloc(N, (size_t)dims, k, 0);
  if (!ds) return NULL;
  Rng rng;
  rng_seed(&rng, seed);
  for (size_t i = 0; i < N; i++) {
    ds->X[i * dims] = (double)(dims == 1 ? i : i / n) / (double)n;
    if (dims == 2) ds->X[i * 2 + 1] = (double)(i % n) / (double)n;
    for (size_t j = 0; j < k; j++) ds->Y[i * k + j] = rng_normal(&rng);
  }
  ds->grid_dims = dims;
  ds->grid_n = n;
  snprintf(ds->name, sizeof ds->name, "grid %dd n=%zu", dims, n);
  return ds;
}

static LossMetric *metric_of(const Dataset *ds, double s) {
  LossMetric *m = NULL;
  Err err = {0};
  if (spectral_sobolev_metric(ds, s, &m, &err)) tap_diag("metric: %s", err.msg);
  return m;
}

/* M_ij from the definition: (1/N) Σ over every bin of w_k cos(2π k·(z_i − z_j)). */
static double dense_entry(int dims, size_t n, double s, size_t i, size_t j) {
  size_t N = dims == 1 ? n : n * n;
  long di[2] = {(long)(dims == 1 ? i : i / n) - (long)(dims == 1 ? j : j / n),
                dims == 1 ? 0 : (long)(i % n) - (long)(j % n)};
  double acc = 0;
  for (size_t q = 0; q < N; q++) {
    long kx = loss_signed_freq(dims == 1 ? q : q / n, n);
    long ky = dims == 1 ? 0 : loss_signed_freq(q % n, n);
    double ph = 2 * M_PI * (double)(((kx * di[0] + ky * di[1]) % (long)n + (long)n) % (long)n) / n;
    acc += loss_sobolev_weight((double)(kx * kx + ky * ky), s) * cos(ph);
  }
  return acc / (double)N;
}

static double max_abs_diff(const double *a, const double *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

static double rel_err(const double *a, const double *ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) d += (a[i] - ref[i]) * (a[i] - ref[i]), r += ref[i] * ref[i];
  return sqrt(d / (r > 0 ? r : 1));
}

/* L_s of a residual r [N][k] through loss_eval: ½ Σ rᵀ M r / N. */
static double loss_of(const LossMetric *M, size_t N, size_t k, const double *r) {
  double *zero = calloc(N * k, sizeof *zero);
  double v = loss_eval(LOSS_SOBOLEV, M, N, k, r, zero, 1.0, NULL, NULL) / (double)N;
  free(zero);
  return v;
}

static void test_sinusoid(void) {
  const double ss[] = {-1, 0, 0.5, 1, 2};
  struct { int dims; size_t n; long kx, ky; } cs[] = {
      {1, 200, 1, 0}, {1, 200, 23, 0}, {1, 201, 50, 0}, {1, 64, 31, 0},
      {2, 16, 3, 2}, {2, 16, 7, 0}, {2, 15, -4, 5}};
  for (size_t c = 0; c < sizeof cs / sizeof *cs; c++)
    for (size_t si = 0; si < sizeof ss / sizeof *ss; si++) {
      Dataset *ds = grid_data(cs[c].dims, cs[c].n, 1, 1);
      LossMetric *M = metric_of(ds, ss[si]);
      if (!M) {
        tap_ok(0, "metric %s s=%g", ds ? ds->name : "?", ss[si]);
        dataset_free(ds);
        continue;
      }
      double A = 1.7, phi = 0.3, *r = malloc(ds->n * sizeof *r);
      for (size_t i = 0; i < ds->n; i++) {
        double z0 = ds->X[i * cs[c].dims], z1 = cs[c].dims == 2 ? ds->X[i * 2 + 1] : 0;
        r[i] = A * sin(2 * M_PI * (cs[c].kx * z0 + cs[c].ky * z1) + phi);
      }
      double k2 = (double)(cs[c].kx * cs[c].kx + cs[c].ky * cs[c].ky);
      char name[320];
      snprintf(name, sizeof name, "%s: L_s of A sin(2pi k.z) at |k|^2=%g, s=%g is (1+k^2)^s A^2/4",
               ds->name, k2, ss[si]);
      /* M's condition number (1 + k_max²)^|s| scales the round-off of its kernel */
      double kmax2 = (double)(cs[c].dims * (cs[c].n / 2) * (cs[c].n / 2));
      double tol = fmax(1e-12, 1e-14 * pow(1 + kmax2, fabs(ss[si])));
      tap_rel(loss_of(M, ds->n, 1, r), pow(1 + k2, ss[si]) * A * A / 4, tol, name);
      free(r);
      loss_metric_free(M);
      dataset_free(ds);
    }
}

/* The metric's product against the dense definition; symmetric, positive definite. */
static void test_dense(void) {
  struct { int dims; size_t n; double s; } cs[] = {
      {1, 12, 1.5}, {1, 13, -0.7}, {2, 6, 1}, {2, 7, -1.25}, {2, 8, 0.5}};
  for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
    size_t k = 2;
    Dataset *ds = grid_data(cs[c].dims, cs[c].n, k, 2);
    LossMetric *M = metric_of(ds, cs[c].s);
    size_t N = ds->n;
    double *D = malloc(N * N * sizeof *D), *R = malloc(N * k * sizeof *R);
    double *out = malloc(N * k * sizeof *out), *ref = calloc(N * k, sizeof *ref);
    Rng rng;
    rng_seed(&rng, 3 + c);
    for (size_t i = 0; i < N * k; i++) R[i] = rng_normal(&rng);
    for (size_t i = 0; i < N; i++)
      for (size_t j = 0; j < N; j++) D[i * N + j] = dense_entry(cs[c].dims, cs[c].n, cs[c].s, i, j);
    for (size_t i = 0; i < N; i++)
      for (size_t j = 0; j < N; j++)
        for (size_t q = 0; q < k; q++) ref[i * k + q] += D[i * N + j] * R[j * k + q];
    if (M) loss_metric_apply(M, R, out);
    tap_ok(M && max_abs_diff(out, ref, N * k) < 1e-11, "%s s=%g: M R (2 columns) = dense M R (%.1e)",
           ds->name, cs[c].s, M ? max_abs_diff(out, ref, N * k) : NAN);
    double asym = 0;
    for (size_t i = 0; i < N; i++)
      for (size_t j = 0; j < N; j++) asym = fmax(asym, fabs(D[i * N + j] - D[j * N + i]));
    double *w = malloc(N * sizeof *w);
    int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (int)N, D, (int)N, w);
    double wmin = pow(1 + (cs[c].s < 0 ? (cs[c].dims * (cs[c].n / 2) * (cs[c].n / 2)) : 0), cs[c].s);
    tap_ok(asym < 1e-13 && info == 0 && w[0] > 0 && fabs(w[0] - wmin) < 1e-10 * (1 + wmin),
           "%s s=%g: M symmetric (%.1e), positive definite, smallest eigenvalue %.6g = %.6g",
           ds->name, cs[c].s, asym, w[0], wmin);
    free(w);
    free(D), free(R), free(out), free(ref);
    loss_metric_free(M);
    dataset_free(ds);
  }
}

static double objective(const Net *net, const double *th, LossKind loss, const Batch *b,
                        NetCache *nc, double *grad) {
  double l = NAN;
  objective_eval(net, th, loss, b, nc, grad, &l, NULL);
  return l;
}

/* s = 0: the Sobolev loss is MSE to the last bit (loss, gradient, HVP). */
static void test_s0_bits(void) {
  Dataset *ds = grid_data(1, 32, 1, 4);
  Net net;
  double *th = test_mlp(&net, "mlp:1-8-8-1", ACT_TANH, 5);
  LossMetric *M = metric_of(ds, 0.0);
  size_t P = net.n_params;
  NetCache *nc = net_cache_alloc(&net, ds->n, 0);
  double *g0 = malloc(P * sizeof *g0), *g1 = malloc(P * sizeof *g1);
  double *v = malloc(P * sizeof *v), *h0 = malloc(P * sizeof *h0), *h1 = malloc(P * sizeof *h1);
  Batch b = {ds->X, ds->Y, NULL, ds->n, M, NULL};
  double l0 = objective(&net, th, LOSS_MSE, &b, nc, g0);
  double l1 = objective(&net, th, LOSS_SOBOLEV, &b, nc, g1);
  tap_ok(l0 == l1 && !memcmp(g0, g1, P * sizeof *g0),
         "s=0: loss %.17g = MSE %.17g and gradient equal to the last bit", l1, l0);
  Rng rng;
  rng_seed(&rng, 6);
  for (size_t i = 0; i < P; i++) v[i] = rng_normal(&rng);
  Err err = {0};
  int threads = threads_get();
  threads_set(1); /* MSE's curvature would split the rows over threads: another order */
  Curvature *c0 = curv_alloc(&net, LOSS_MSE, ds->n, 0, &err);
  Curvature *c1 = curv_alloc(&net, LOSS_SOBOLEV, ds->n, 0, &err);
  int ok = c0 && c1 && !curv_build(c0, th, &b, &err) && !curv_build(c1, th, &b, &err);
  if (ok) curv_hvp(c0, v, h0), curv_hvp(c1, v, h1);
  threads_set(threads);
  tap_ok(ok && !memcmp(h0, h1, P * sizeof *h0) && curv_loss(c0) == curv_loss(c1),
         "s=0: curvature loss and Hessian-vector product equal MSE's to the last bit");
  curv_free(c0), curv_free(c1);
  free(g0), free(g1), free(v), free(h0), free(h1);
  net_cache_free(nc);
  loss_metric_free(M);
  free(th);
  net_deinit(&net);
  dataset_free(ds);
}

/* L_s, gradient, HVP and GGN against independent references. */
static void test_fd(void) {
  struct { int dims; size_t n, k; double s; const char *model; } cs[] = {
      {1, 24, 1, 1.5, "mlp:1-6-6-1"}, {1, 25, 1, -0.75, "mlp:1-6-6-1"},
      {2, 6, 2, 1.0, "mlp:2-6-2"}, {2, 7, 2, -0.5, "mlp:2-5-5-2"}};
  for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
    Dataset *ds = grid_data(cs[c].dims, cs[c].n, cs[c].k, 7 + c);
    Net net;
    double *th = test_mlp(&net, cs[c].model, ACT_TANH, 8 + c);
    LossMetric *M = metric_of(ds, cs[c].s);
    if (!th || !M) {
      tap_ok(0, "set-up of case %zu", c);
      continue;
    }
    size_t P = net.n_params, N = ds->n, k = cs[c].k;
    NetCache *nc = net_cache_alloc(&net, N, 0);
    Batch b = {ds->X, ds->Y, NULL, N, M, NULL};
    double *g = malloc(P * sizeof *g), *gf = malloc(P * sizeof *gf), *tp = malloc(P * sizeof *tp);
    double *F = malloc(N * k * sizeof *F), *J = malloc(N * k * P * sizeof *J);
    double *Fp = malloc(N * k * sizeof *Fp), *v = malloc(P * sizeof *v);
    double l = objective(&net, th, LOSS_SOBOLEV, &b, nc, g);
    /* L_s from the dense definition on the network's outputs */
    net_forward(&net, th, ds->X, N, nc);
    memcpy(F, nc->A[net.nlayers - 1], N * k * sizeof *F);
    double ref = 0;
    for (size_t i = 0; i < N; i++)
      for (size_t j = 0; j < N; j++) {
        double mij = dense_entry(cs[c].dims, cs[c].n, cs[c].s, i, j);
        for (size_t q = 0; q < k; q++)
          ref += (F[i * k + q] - ds->Y[i * k + q]) * mij * (F[j * k + q] - ds->Y[j * k + q]);
      }
    char name[320];
    snprintf(name, sizeof name, "%s %s s=%g: L_s = (1/2N) r^T M r (dense M)", ds->name,
             cs[c].model, cs[c].s);
    tap_rel(l, ref / (2.0 * N), 1e-11, name);
    /* gradient: central differences of the loss; Jacobian: of the outputs */
    double h = 1e-5;
    for (size_t p = 0; p < P; p++) {
      memcpy(tp, th, P * sizeof *tp);
      tp[p] = th[p] + h;
      double lp = objective(&net, tp, LOSS_SOBOLEV, &b, nc, NULL);
      net_forward(&net, tp, ds->X, N, nc);
      memcpy(Fp, nc->A[net.nlayers - 1], N * k * sizeof *Fp);
      tp[p] = th[p] - h;
      double lm = objective(&net, tp, LOSS_SOBOLEV, &b, nc, NULL);
      net_forward(&net, tp, ds->X, N, nc);
      gf[p] = (lp - lm) / (2 * h);
      for (size_t i = 0; i < N * k; i++) J[i * P + p] = (Fp[i] - nc->A[net.nlayers - 1][i]) / (2 * h);
    }
    double e = rel_err(g, gf, P);
    tap_ok(e < 1e-7, "%s %s s=%g: gradient = finite differences (rel %.1e, P=%zu)", ds->name,
           cs[c].model, cs[c].s, e, P);
    /* HVP against differences of the gradient; GGN against Jᵀ (M/N) J v */
    Rng rng;
    rng_seed(&rng, 9 + c);
    for (size_t p = 0; p < P; p++) v[p] = rng_normal(&rng);
    Err err = {0};
    Curvature *cv = curv_alloc(&net, LOSS_SOBOLEV, N, 0, &err);
    double *hv = malloc(P * sizeof *hv), *hf = malloc(P * sizeof *hf), *gv = malloc(P * sizeof *gv);
    double *Jv = calloc(N * k, sizeof *Jv), *MJv = malloc(N * k * sizeof *MJv);
    double *gref = calloc(P, sizeof *gref);
    int ok = cv && !curv_build(cv, th, &b, &err) && !curv_hvp(cv, v, hv) && !curv_ggn(cv, v, gv) &&
             !curv_fd_hvp(&net, LOSS_SOBOLEV, th, &b, v, 1e-4, hf, &err);
    if (!ok) tap_diag("curvature: %s", err.msg);
    e = rel_err(hv, hf, P);
    tap_ok(ok && e < 1e-6, "%s %s s=%g: exact HVP = finite differences of the gradient (rel %.1e)",
           ds->name, cs[c].model, cs[c].s, e);
    tap_rel(curv_loss(cv), l, 1e-14, "curvature context's loss = objective_eval's");
    for (size_t i = 0; i < N * k; i++)
      for (size_t p = 0; p < P; p++) Jv[i] += J[i * P + p] * v[p];
    loss_metric_apply(M, Jv, MJv);
    for (size_t p = 0; p < P; p++)
      for (size_t i = 0; i < N * k; i++) gref[p] += J[i * P + p] * MJv[i] / (double)N;
    e = rel_err(gv, gref, P);
    tap_ok(ok && e < 1e-7, "%s %s s=%g: GGN v = J^T (M/N) J v, J by differences (rel %.1e)",
           ds->name, cs[c].model, cs[c].s, e);
    curv_free(cv);
    free(hv), free(hf), free(gv), free(Jv), free(MJv), free(gref);
    free(g), free(gf), free(tp), free(F), free(J), free(Fp), free(v);
    net_cache_free(nc);
    loss_metric_free(M);
    free(th);
    net_deinit(&net);
    dataset_free(ds);
  }
}

/* The sharpness probe on a Sobolev run: its top eigenvalue = LAPACK's on the dense
 * Hessian (finite differences of the gradient) of a tiny net. */
static void test_sharpness_probe(void) {
  Dataset *ds = grid_data(1, 16, 1, 11);
  Net net;
  double *th = test_mlp(&net, "mlp:1-4-4-1", ACT_TANH, 12);
  LossMetric *M = metric_of(ds, 1.0);
  size_t P = net.n_params;
  NetCache *nc = net_cache_alloc(&net, ds->n, 0);
  Batch b = {ds->X, ds->Y, NULL, ds->n, M, NULL};
  double *H = malloc(P * P * sizeof *H), *gp = malloc(P * sizeof *gp), *gm = malloc(P * sizeof *gm);
  double *tp = malloc(P * sizeof *tp), *w = malloc(P * sizeof *w);
  double h = 1e-5;
  for (size_t p = 0; p < P; p++) {
    memcpy(tp, th, P * sizeof *tp);
    tp[p] += h;
    objective(&net, tp, LOSS_SOBOLEV, &b, nc, gp);
    tp[p] = th[p] - h;
    objective(&net, tp, LOSS_SOBOLEV, &b, nc, gm);
    for (size_t q = 0; q < P; q++) H[q * P + p] = (gp[q] - gm[q]) / (2 * h);
  }
  for (size_t p = 0; p < P; p++)
    for (size_t q = 0; q < p; q++) H[p * P + q] = H[q * P + p] = 0.5 * (H[p * P + q] + H[q * P + p]);
  int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (int)P, H, (int)P, w);
  Err err = {0};
  Probe pr;
  Optimizer *opt = NULL;
  MemRecorder *mr = memrec_alloc();
  Recorder rec = memrec_recorder(mr);
  int64_t id;
  RunInfo ri = {"t", "train", NULL, "{}", 0, P, "{}"};
  int rc = probe_create("sharpness:every=1,k=1,tol=1e-10", &net, ds, LOSS_SOBOLEV, optim_gd, PREC_F64, &pr,
                        &err);
  if (!rc) rc = rec_run_begin(&rec, &ri, &id, &err);
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = 1e-3;
  opt = optim_alloc(optim_gd, &oc, P);
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.steps = 0;
  cfg.loss = LOSS_SOBOLEV;
  cfg.metric = M;
  TrainResult res;
  memcpy(tp, th, P * sizeof *tp);
  if (!rc) rc = train_run(&cfg, &net, tp, opt, ds, NULL, &pr, 1, &rec, &res, &err);
  double top = NAN;
  if (!rc) memrec_eig_values(mr, "hessian", 0, &top, NULL, 1);
  if (rc) tap_diag("probe run: %s", err.msg);
  char name[128];
  snprintf(name, sizeof name, "sharpness probe on L_s (s=1, P=%zu) = LAPACK top eigenvalue", P);
  tap_ok(info == 0, "LAPACK dsyev on the dense Hessian");
  tap_rel(top, w[P - 1], 1e-6, name);
  tap_rel(res.final_loss, objective(&net, th, LOSS_SOBOLEV, &b, nc, NULL), 1e-14,
          "the loop's loss on the Sobolev run = objective_eval's");
  if (!rc) pr.destroy(pr.self);
  optim_free(opt);
  memrec_free(mr);
  free(H), free(gp), free(gm), free(tp), free(w);
  net_cache_free(nc);
  loss_metric_free(M);
  free(th);
  net_deinit(&net);
  dataset_free(ds);
}

/* What must be refused, and the test loss of a Sobolev run (MSE: test points are off-grid). */
static void test_refusals(void) {
  Err err = {0};
  LossKind lk;
  double s = 5;
  tap_ok(!loss_parse_spec("sobolev:s=-1.5", &lk, &s, &err) && lk == LOSS_SOBOLEV && s == -1.5,
         "loss_parse_spec reads sobolev:s=-1.5");
  tap_ok(!loss_parse_spec("sobolev", &lk, &s, &err) && s == 1, "sobolev alone is s=1");
  tap_ok(!loss_parse_spec("mse", &lk, &s, &err) && lk == LOSS_MSE && s == 0, "mse: s = 0");
  const char *bad[] = {"sobolev:s=abc", "sobolev:t=1", "sobolev:s=9", "sobolevx", "sobolev:s=nan"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err = (Err){0};
    int rc = loss_parse_spec(bad[i], &lk, &s, &err);
    const char *tok = strchr(bad[i], '=') ? strchr(bad[i], '=') + 1 : bad[i];
    tap_ok(rc == CS_EINVAL && strstr(err.msg, tok), "loss '%s' refused naming '%s': %s", bad[i],
           tok, err.msg);
  }
  Dataset *tr = NULL, *te = NULL;
  LossMetric *M = NULL;
  err = (Err){0};
  if (!data_load("synth:teacher,n=20,d=3", 1, &tr, &te, &err)) {
    int rc = spectral_sobolev_metric(tr, 1, &M, &err);
    tap_ok(rc == CS_EINVAL && !M && strstr(err.msg, "not a grid"), "non-grid data refused: %s",
           err.msg);
  }
  dataset_free(tr), dataset_free(te);
  err = (Err){0};
  if (data_load("synth:sines,n=40,freqs=2-5,test=30", 1, &tr, &te, &err)) {
    tap_ok(0, "synth:sines loads: %s", err.msg);
    return;
  }
  M = metric_of(tr, 1);
  Net net;
  double *th = test_mlp(&net, "mlp:1-8-1", ACT_TANH, 13);
  size_t P = net.n_params;
  double *g = malloc(P * sizeof *g), l = 0;
  NetCache *small = net_cache_alloc(&net, tr->n / 2, 0), *whole = net_cache_alloc(&net, tr->n, 0);
  Batch b = {tr->X, tr->Y, NULL, tr->n, M, NULL}, nom = b, half = b;
  nom.metric = NULL;
  half.n = tr->n / 2;
  tap_ok(isnan(objective(&net, th, LOSS_SOBOLEV, &nom, whole, g)), "no metric on the batch: NaN");
  tap_ok(isnan(objective(&net, th, LOSS_SOBOLEV, &half, whole, g)), "half the grid: NaN");
  int rc = objective_eval(&net, th, LOSS_SOBOLEV, &b, small, g, &l, NULL);
  tap_ok(rc == CS_EINVAL && isnan(l), "a cache of half the grid: CS_EINVAL, NaN loss");
  ObjectiveWork *split = objective_work_alloc(&net, tr->n, tr->n / 4);
  rc = objective_eval_parallel(&net, th, LOSS_SOBOLEV, &b, split, g, &l, NULL);
  tap_ok(rc == CS_EINVAL && isnan(l), "a data-parallel split into chunks of n/4: refused");
  ObjectiveWork *w = objective_work_alloc_for(&net, LOSS_SOBOLEV, tr->n, tr->n / 4);
  rc = objective_eval_parallel(&net, th, LOSS_SOBOLEV, &b, w, g, &l, NULL);
  tap_ok(!rc && w->nthreads == 1 && w->chunk == tr->n &&
             l == objective(&net, th, LOSS_SOBOLEV, &b, whole, NULL),
         "objective_work_alloc_for: one chunk, one thread, objective_eval's loss");
  Curvature *cv = curv_alloc(&net, LOSS_SOBOLEV, tr->n, 7, &err);
  err = (Err){0};
  rc = cv ? curv_build(cv, th, &half, &err) : -1;
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "whole grid"), "curv_build on half the grid: %s",
         err.msg);
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.loss = LOSS_SOBOLEV;
  cfg.batch = 10;
  err = (Err){0};
  tap_ok(trainconfig_check(&cfg, &err) == CS_EINVAL && strstr(err.msg, "batch 10"),
         "a mini-batch refused: %s", err.msg);
  Probe pr;
  err = (Err){0};
  rc = probe_create("sharpness:samples=10", &net, tr, LOSS_SOBOLEV, optim_gd, PREC_F64, &pr, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "samples=10"), "sharpness on part of the grid: %s",
         err.msg);
  /* a short run: no metric refused; with it, the test loss is MSE at the final θ */
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = 1e-2;
  Optimizer *opt = optim_alloc(optim_gd, &oc, P);
  MemRecorder *mr = memrec_alloc();
  Recorder rec = memrec_recorder(mr);
  int64_t id;
  RunInfo ri = {"t", "train", NULL, "{}", 0, P, "{}"};
  rec_run_begin(&rec, &ri, &id, &err);
  cfg.batch = 0;
  cfg.steps = 5;
  TrainResult res;
  err = (Err){0};
  rc = train_run(&cfg, &net, th, opt, tr, te, NULL, 0, &rec, &res, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "metric"), "train_run without the metric: %s",
         err.msg);
  cfg.metric = M;
  rc = train_run(&cfg, &net, th, opt, tr, te, NULL, 0, &rec, &res, &err);
  NetCache *tc = net_cache_alloc(&net, te->n, 0);
  Batch tb = {te->X, te->Y, NULL, te->n, NULL, NULL};
  double mse = objective(&net, th, LOSS_MSE, &tb, tc, NULL);
  tap_ok(!rc && res.test_loss == mse && !strcmp(res.status, "finished"),
         "Sobolev run: test loss %.12g = MSE on the off-grid test points %.12g", res.test_loss, mse);
  net_cache_free(tc);
  memrec_free(mr);
  optim_free(opt);
  curv_free(cv);
  objective_work_free(split), objective_work_free(w);
  net_cache_free(small), net_cache_free(whole);
  free(g), free(th);
  net_deinit(&net);
  loss_metric_free(M);
  dataset_free(tr), dataset_free(te);
}

/* The 1-D metric goes through FFTW; core's direct O(n²) circulant is the reference. */
static void test_fftw_vs_direct(void) {
  struct { size_t n; double s; } cs[] = {{200, 1}, {200, -1}, {201, 0.5}, {64, 2}, {7, -0.5}};
  for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
    size_t k = 3;
    Dataset *ds = grid_data(1, cs[c].n, k, 40 + c);
    Err err = {0};
    LossMetric *F = metric_of(ds, cs[c].s), *D = loss_metric_grid1d(cs[c].n, k, cs[c].s, &err);
    size_t N = ds->n;
    double *R = malloc(N * k * sizeof *R), *a = malloc(N * k * sizeof *a), *b = malloc(N * k * sizeof *b);
    Rng rng;
    rng_seed(&rng, 50 + c);
    for (size_t i = 0; i < N * k; i++) R[i] = rng_normal(&rng);
    if (F && D) {
      loss_metric_apply(F, R, a);
      loss_metric_apply(D, R, b);
    }
    double tol = 1e-13, e = F && D ? rel_err(a, b, N * k) : INFINITY;
    tap_ok(e <= tol, "1-D n=%zu s=%g: FFTW's M r = the direct circulant's (rel %.1e, tol %.0e)",
           cs[c].n, cs[c].s, e, tol);
    free(R), free(a), free(b);
    loss_metric_free(F), loss_metric_free(D);
    dataset_free(ds);
  }
}

int main(void) {
  test_fftw_vs_direct();
  test_sinusoid();
  test_dense();
  test_s0_bits();
  test_fd();
  test_sharpness_probe();
  test_refusals();
  return tap_done();
}
