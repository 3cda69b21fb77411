/*
 * test_pcbias.c: the PC-bias study's pieces (studies/pcbias/pcbias.h) and the data
 * transforms and initialisation it relies on.
 *
 * References are computed here by hand: Σ = XᵀX/n by triple loops and its spectrum by
 * LAPACK (lanczos/dense_eig_sym), the end-to-end matrix by multiplying the layer
 * matrices with loops, projections and the excess loss from the data directly. The
 * Must-hold of issue 13: with the loss ½ mean ‖Wx − y‖² (Σ = XᵀX/n), depth-1 GD gives
 * e_j(t) = |1 − η d_j|^t to 1e-8 at every measurement, through the real training loop.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/recorder_memory.h"
#include "core/train.h"
#include "lanczos/eig.h"
#include "studies/pcbias/pcbias.h"
#include "tap.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static int build_net(Net *net, const char *model, ActKind act, Err *err) {
  NetSpec ns;
  netspec_default(&ns);
  ns.act = (Act){act, 1.0};
  if (netspec_parse_model(&ns, model, err)) return 1;
  return net_init(net, &ns, NULL, err) != CS_OK;
}

static double *init_theta(const Net *net, uint64_t seed) {
  Rng rng;
  rng_seed(&rng, seed);
  double *th = malloc(net->n_params * sizeof *th);
  net_init_params(net, th, &rng);
  return th;
}

/* Σ = XᵀX/n by loops, and its eigenpairs descending (vals [d], vecs row j = u_j). */
static void ref_spectrum(const Dataset *ds, double *vals, double *vecs) {
  size_t n = ds->n, d = ds->d;
  double *S = calloc(d * d, sizeof *S), *w = malloc(d * sizeof *w), *V = malloc(d * d * sizeof *V);
  for (size_t a = 0; a < d; a++)
    for (size_t b = 0; b < d; b++) {
      double s = 0;
      for (size_t i = 0; i < n; i++) s += ds->X[i * d + a] * ds->X[i * d + b];
      S[a * d + b] = s / (double)n;
    }
  Err err = {0};
  dense_eig_sym(d, S, w, V, &err);
  for (size_t j = 0; j < d; j++) {
    vals[j] = w[d - 1 - j];
    memcpy(vecs + j * d, V + (d - 1 - j) * d, d * sizeof *V);
  }
  free(S), free(w), free(V);
}

static double mse_half(const Dataset *ds, const double *W) {
  double s = 0;
  for (size_t i = 0; i < ds->n; i++)
    for (size_t c = 0; c < ds->k; c++) {
      double f = 0;
      for (size_t a = 0; a < ds->d; a++) f += W[c * ds->d + a] * ds->X[i * ds->d + a];
      f -= ds->Y[i * ds->k + c];
      s += f * f;
    }
  return 0.5 * s / (double)ds->n;
}

/* ---- statistics ------------------------------------------------------------------------- */

static void test_spearman(void) {
  double x[4] = {1, 2, 3, 4}, y[4] = {1, 2, 2, 3}, r[4] = {9, 7, 3, 1};
  tap_rel(pc_spearman(x, r, 4), -1.0, 1e-14, "Spearman of a reversed order is -1");
  /* ranks of y: 1, 2.5, 2.5, 4: ρ = 4.5/√(5·4.5) */
  tap_rel(pc_spearman(x, y, 4), 4.5 / sqrt(22.5), 1e-14, "Spearman with a tie: average ranks");
  double z[4] = {2, 2, 2, 2}, inf[4] = {1, INFINITY, 3, INFINITY};
  tap_ok(isnan(pc_spearman(x, z, 4)), "Spearman against a constant is NaN");
  /* ranks of inf: 1, 3.5, 2, 3.5 against 1..4: sxy = 1.5·... worked out: ρ = 0.7379 */
  double ri[4] = {1, 3.5, 2, 3.5}, m = 2.5, sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < 4; i++) {
    sxy += (x[i] - m) * (ri[i] - m), sxx += (x[i] - m) * (x[i] - m);
    syy += (ri[i] - m) * (ri[i] - m);
  }
  tap_rel(pc_spearman(x, inf, 4), sxy / sqrt(sxx * syy), 1e-14,
          "infinite values rank last, tied among themselves");
}

static void test_first_below(void) {
  long t[3] = {0, 10, 20};
  double e[6] = {1, 1, 0.2, 0.5, 0.05, 0.3};
  /* component 0: log-linear between (10, 0.2) and (20, 0.05): 0.1 at 15 */
  tap_rel(pc_first_below(t, e, 3, 2, 0.1), 15.0, 1e-14, "τ interpolated log-linearly: 15");
  tap_ok(isnan(pc_first_below(t, e + 1, 3, 2, 0.1)), "τ of a component that never gets there: NaN");
  tap_rel(pc_first_below(t, e, 3, 2, 0.5), 10.0 * log(0.5) / log(0.2), 1e-14,
          "τ between the first two measurements");
}

/* e_j(t) = exp(−c d_j max(0, t − P)): a plateau of P steps, then rates ∝ d_j. */
static void test_analysis(void) {
  enum { K = 6, M = 41 };
  double d[K] = {3, 2, 1.5, 1, 0.5, 0.25}, e[M * K];
  long t[M];
  const double c = 0.02, P = 40;
  for (int i = 0; i < M; i++) {
    t[i] = 10L * i;
    for (int j = 0; j < K; j++) e[i * K + j] = exp(-c * d[j] * fmax(0.0, (double)t[i] - P));
  }
  PcAnalysisOpts o = {K, 0.1, -1, 0.01, 2, 0};
  PcAnalysis a;
  Err err = {0};
  tap_ok(pc_analyze(&o, t, e, M, d, &a, &err) == CS_OK, "pc_analyze runs (%s)", err.msg);
  /* t₁: first measurement with the median e below ½, the median being the mean of
   * components 3 and 4 (d = 1.5, 1): worked out from the formula. */
  long want_t1 = -1;
  for (int i = 1; i < M && want_t1 < 0; i++)
    if (0.5 * (e[i * K + 2] + e[i * K + 3]) < 0.5) want_t1 = t[i];
  tap_ok(a.t1 == want_t1, "t₁ = first measurement with median e_j < ½ (%ld, want %ld)", a.t1,
         want_t1);
  double f = c * ((double)a.t1 - P) / (double)a.t1;
  int ok = 1;
  for (int j = 0; j < K; j++) ok &= fabs(a.rate[j] - f * d[j]) < 1e-12 * f * d[j];
  tap_ok(ok, "r_j = −log e_j(t₁)/t₁ = c d_j (t₁ − P)/t₁: proportional to d_j through the plateau");
  tap_rel(a.rate_spearman, 1.0, 1e-14, "ρ(r_j, d_j) = 1");
  tap_rel(a.rate_slope, 1.0, 1e-12, "log-log slope of r_j on d_j = 1");
  tap_rel(a.ratio_spread, 1.0, 1e-12, "r_j/d_j constant: spread 1");
  tap_rel(a.rate_spread, d[0] / d[K - 1], 1e-12, "r spread = d_1/d_k");
  ok = 1;
  for (int j = 0; j < K; j++) {
    double want = P + log(10.0) / (c * d[j]);
    ok &= want <= 400 ? fabs(a.tau[j] - want) < 1e-9 * want : isnan(a.tau[j]);
  }
  tap_ok(ok, "τ_j = P + ln(1/ε)/(c d_j) exactly (log-linear interpolation), NaN past the run");
  tap_rel(a.tau_spearman, 1.0, 1e-14, "ρ(τ_j, j) = 1 (unreached last)");
  long reach = 0;
  for (int j = 0; j < K; j++) reach += P + log(10.0) / (c * d[j]) <= 400;
  tap_ok(a.tau_reached == reach && reach == 5, "%ld components reach ε within 400 steps (got %ld)",
         reach, a.tau_reached);
  double th = -log(fabs(1 - 0.01 * 2 * d[0]));
  tap_rel(a.theory[0], th, 1e-14, "theory rate −log|1 − η L d_1|");
  ok = 1;
  for (int j = 0; j < K; j++) ok &= a.whole[j] < c * d[j];
  tap_ok(ok && a.ratio_spread < 1.0 + 1e-9,
         "the whole-run fit is slower than the decay rate for every component (plateau inside)");
  tap_ok(isnan(a.theory_max_err), "no theory error unless asked (exact = 0)");
  pc_analysis_free(&a);
}

/* ---- end-to-end matrix, basis and projections ------------------------------------------ */

static void test_end_to_end(void) {
  Net net;
  Err err = {0};
  if (build_net(&net, "mlp:6-5-4-3,bias=none", ACT_IDENTITY, &err)) {
    tap_ok(0, "net: %s", err.msg);
    return;
  }
  tap_ok(pc_net_check_linear(&net, &err) == CS_OK, "mlp:6-5-4-3,bias=none identity is linear");
  double *th = init_theta(&net, 11);
  double W[18], ref[18], *work = malloc(pc_end_to_end_work(&net) * sizeof *work);
  pc_end_to_end(&net, th, W, work);
  /* by hand: W3 [3][4] · W2 [4][5] · W1 [5][6] from θ's layout */
  const double *W1 = th, *W2 = th + 30, *W3 = th + 50;
  double T[4 * 6];
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 6; c++) {
      double s = 0;
      for (int i = 0; i < 5; i++) s += W2[r * 5 + i] * W1[i * 6 + c];
      T[r * 6 + c] = s;
    }
  double worst = 0;
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 6; c++) {
      double s = 0;
      for (int i = 0; i < 4; i++) s += W3[r * 4 + i] * T[i * 6 + c];
      ref[r * 6 + c] = s;
      worst = fmax(worst, fabs(W[r * 6 + c] - s));
    }
  tap_ok(net.n_params == 30 + 20 + 12 && worst < 1e-15,
         "end-to-end W = W3 W2 W1 multiplied by hand (max diff %.2e)", worst);
  /* and the net's own forward pass is x ↦ W x */
  double X[2 * 6] = {1, -2, 0.5, 3, -1, 2, 0.1, 0.2, -0.3, 0.4, 0.5, -0.6};
  NetCache *cache = net_cache_alloc(&net, 2, 0);
  net_forward(&net, th, X, 2, cache);
  worst = 0;
  for (int i = 0; i < 2; i++)
    for (int c = 0; c < 3; c++) {
      double s = 0;
      for (int a = 0; a < 6; a++) s += ref[c * 6 + a] * X[i * 6 + a];
      worst = fmax(worst, fabs(cache->A[2][i * 3 + c] - s));
    }
  tap_ok(worst < 1e-14, "the forward pass equals X Wᵀ (max diff %.2e)", worst);
  net_cache_free(cache);
  Net tanh_net, bias_net;
  build_net(&tanh_net, "mlp:6-5-3,bias=none", ACT_TANH, &err);
  tap_ok(pc_net_check_linear(&tanh_net, &err) == CS_EINVAL && strstr(err.msg, "tanh"),
         "a tanh net is refused, naming the activation (%s)", err.msg);
  build_net(&bias_net, "mlp:6-5-3", ACT_IDENTITY, &err);
  tap_ok(pc_net_check_linear(&bias_net, &err) == CS_EINVAL && strstr(err.msg, "bias"),
         "a net with biases is refused (%s)", err.msg);
  net_deinit(&tanh_net), net_deinit(&bias_net), net_deinit(&net);
  free(th), free(work);
}

static void test_basis_projection(void) {
  Dataset *tr, *te;
  Err err = {0};
  if (data_load("synth:spectrum,d=8,k=3,n=300,decay=1.5,noise=0.3", 4, &tr, &te, &err)) {
    tap_ok(0, "data: %s", err.msg);
    return;
  }
  size_t d = tr->d, m = tr->k;
  PcBasis b;
  int rc = pc_basis_compute(tr->X, tr->Y, tr->n, d, m, &b, &err);
  tap_ok(rc == CS_OK && b.rank == d, "basis of an 8-dim Gaussian: full rank (%zu)", b.rank);
  if (rc) return;
  double vals[8], vecs[64];
  ref_spectrum(tr, vals, vecs);
  double worst = 0, wv = 0;
  for (size_t j = 0; j < d; j++) {
    worst = fmax(worst, fabs(b.eval[j] - vals[j]) / vals[0]);
    double dot = 0;
    for (size_t a = 0; a < d; a++) dot += b.evec[j * d + a] * vecs[j * d + a];
    wv = fmax(wv, fabs(fabs(dot) - 1));
  }
  tap_ok(worst < 1e-13 && wv < 1e-10 && b.eval[0] >= b.eval[1],
         "eigenvalues descending, equal to the reference's (%.1e), vectors up to sign (%.1e)",
         worst, wv);
  /* W* solves the normal equations W* Σ = Σ_YX */
  worst = 0;
  for (size_t c = 0; c < m; c++)
    for (size_t a = 0; a < d; a++) {
      double lhs = 0, rhs = 0;
      for (size_t i = 0; i < tr->n; i++) {
        double wx = 0;
        for (size_t q = 0; q < d; q++) wx += b.w_star[c * d + q] * tr->X[i * d + q];
        lhs += wx * tr->X[i * d + a];
        rhs += tr->Y[i * m + c] * tr->X[i * d + a];
      }
      worst = fmax(worst, fabs(lhs - rhs) / (double)tr->n);
    }
  tap_ok(worst < 1e-12, "W* satisfies W*Σ = Σ_YX (max residual %.1e)", worst);
  /* projections of some W and the excess loss against the data */
  double W[24], norms[3], P[24], Dw[24];
  for (int i = 0; i < 24; i++) W[i] = 0.1 * (i % 7) - 0.3;
  double ex = pc_project(&b, W, 3, norms, P, Dw);
  worst = 0;
  for (size_t j = 0; j < 3; j++) {
    double s = 0;
    for (size_t c = 0; c < m; c++) {
      double p = 0;
      for (size_t a = 0; a < d; a++) p += (W[c * d + a] - b.w_star[c * d + a]) * vecs[j * d + a];
      s += p * p;
    }
    worst = fmax(worst, fabs(norms[j] - sqrt(s)));
  }
  tap_ok(worst < 1e-13, "‖(W − W*)u_j‖ agrees with the direct computation (%.1e)", worst);
  double direct = mse_half(tr, W) - mse_half(tr, b.w_star);
  tap_rel(ex, direct, 1e-10, "excess loss ½Σ d_j‖(W−W*)u_j‖² = L(W) − L(W*) from the data");
  pc_basis_free(&b);
  dataset_free(tr), dataset_free(te);
}

/* ---- the probe inside the training loop ---------------------------------------------- */

typedef struct Trained {
  MemRecorder *m;
  PcRunResult r;
  TrainResult res;
  int rc;
} Trained;

static Trained train_probe(const Net *net, const double *theta0, const Dataset *tr, double lr,
                           long steps, long every, int linear, int exact) {
  Trained out;
  memset(&out, 0, sizeof out);
  out.m = memrec_alloc();
  Err err = {0};
  Recorder rec = memrec_recorder(out.m);
  RunInfo info = {"pc", "pc-bias", NULL, "{}", 0, net->n_params, "{}"};
  int64_t id;
  rec_run_begin(&rec, &info, &id, &err);
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = lr;
  Optimizer *o = optim_alloc(optim_gd, &oc, net->n_params);
  double *th = malloc(net->n_params * sizeof *th);
  memcpy(th, theta0, net->n_params * sizeof *th);
  PcProbeOpts po = {every, 20, 0.1, -1, linear, 1, exact, lr, steps};
  Probe p;
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.steps = steps;
  out.rc = pc_probe_create(&po, net, tr, &p, &err);
  if (!out.rc)
    out.rc = train_run(&cfg, net, th, o, tr, NULL, &p, 1, &rec, &out.res, &err);
  if (!out.rc) out.rc = pc_probe_finish(&p, &rec, out.res.wall_s, out.res.steps_done, &out.r, &err);
  if (out.rc) tap_diag("probe run: %s", err.msg);
  p.destroy(p.self);
  optim_free(o);
  free(th);
  return out;
}

/* The Must-hold: depth 1, e_j(t) = |1 − η d_j|^t at every measurement, with η d_1 = 1.5
 * so the top component overshoots (1 − η d_1 < 0) and the absolute value matters. */
static void test_depth1_exact(void) {
  Dataset *tr, *te;
  Err err = {0};
  Net net;
  if (data_load("synth:spectrum,d=20,k=2,n=400,decay=1", 7, &tr, &te, &err) ||
      build_net(&net, "mlp:20-2,bias=none", ACT_IDENTITY, &err)) {
    tap_ok(0, "setup: %s", err.msg);
    return;
  }
  double vals[20], vecs[400];
  ref_spectrum(tr, vals, vecs);
  double lr = 1.5 / vals[0];
  double *th0 = init_theta(&net, 5);
  Trained t = train_probe(&net, th0, tr, lr, 300, 7, 1, 1);
  size_t M = 0, bad = 0, n = 0;
  double worst = 0;
  for (size_t i = 0; i < t.m->n_series; i++) {
    const MemSeries *s = &t.m->series[i];
    if (strcmp(s->name, "pc_error") || s->step < 0) continue;
    double want = pow(fabs(1 - lr * vals[s->idx]), (double)s->step);
    double dv = fabs(s->value - want);
    worst = fmax(worst, dv);
    bad += !(dv <= 1e-8);
    n++;
    if (s->idx == 0) M++;
  }
  tap_ok(t.rc == CS_OK && M == 300 / 7 + 2 && n == 20 * M,
         "depth 1: pc_error at steps 0, 7, .., 294 and the last, 20 components (%zu rows)", n);
  tap_ok(bad == 0 && worst < 1e-8,
         "depth 1 GD: e_j(t) = |1 − η d_j|^t to 1e-8 at every measurement (max %.2e)", worst);
  /* the probe's own check uses its eigenvalues (SYRK + dsyevd), ours the loop-built Σ's:
   * the same maximum up to their round-off */
  tap_ok(t.r.an.theory_max_err < 1e-8 && fabs(t.r.an.theory_max_err - worst) < 1e-12,
         "pc_theory_max_err is that maximum (%.2e)", t.r.an.theory_max_err);
  double m1;
  tap_ok(memrec_metric_find(t.m, "pc_theory_max_err", -1, &m1) == CS_OK &&
             m1 == t.r.an.theory_max_err,
         "and is recorded at step -1");
  int ok = 1;
  for (int j = 0; j < 20; j++) ok &= fabs(t.r.an.rate[j] - t.r.an.theory[j]) < 1e-7;
  tap_ok(ok, "depth 1: fitted r_j = −log|1 − η d_j| for every component");
  /* η d_1 = 1.5 overshoots: |1 − η d_1| = ½, slower than components with η d nearer 1,
   * which is why the paper's ordering needs a small η */
  tap_rel(t.r.an.rate[0], log(2.0), 1e-9, "depth 1, η d_1 = 1.5: r_1 = −log ½ (overshoot)");
  tap_ok(t.r.an.rate[0] < t.r.an.rate[1], "so r_1 < r_2 although d_1 > d_2");
  memrec_free(t.m);
  pc_run_result_free(&t.r);
  /* mutation check of the reference itself: the wrong normalisation (Σ = XᵀX, sum loss)
   * predicts nothing like what the loop does */
  Trained u = train_probe(&net, th0, tr, lr, 30, 3, 1, 1);
  double wrong = 0;
  for (size_t i = 0; i < u.m->n_series; i++) {
    const MemSeries *s = &u.m->series[i];
    if (strcmp(s->name, "pc_error") || s->step <= 0 || s->idx != 5) continue;
    wrong = fmax(wrong, fabs(s->value - pow(fabs(1 - lr * 400 * vals[5]), (double)s->step)));
  }
  tap_ok(wrong > 0.1, "a wrong normalisation (Σ = XᵀX) is far off (%.2g): the test can fail",
         wrong);
  memrec_free(u.m);
  pc_run_result_free(&u.r);
  free(th0);
  net_deinit(&net);
  dataset_free(tr), dataset_free(te);
}

/* Per-example correctness: averaged over examples it is the step's training accuracy. */
static void test_correctness(void) {
  Dataset *tr, *te;
  Err err = {0};
  if (data_load("synth:classes,n=150,d=6,k=3,sep=2", 3, &tr, &te, &err)) {
    tap_ok(0, "data: %s", err.msg);
    return;
  }
  const char *models[2] = {"mlp:6-8-3,bias=none", "mlp:6-8-3,bias=none"};
  ActKind acts[2] = {ACT_IDENTITY, ACT_TANH};
  for (int v = 0; v < 2; v++) {
    Net net;
    build_net(&net, models[v], acts[v], &err);
    double *th = init_theta(&net, 9);
    Trained t = train_probe(&net, th, tr, 0.05, 40, 1, v == 0, 0);
    double acc = 0, frac = 0;
    for (size_t i = 0; i < t.m->n_steps; i++) acc += t.m->steps[i].accuracy;
    acc /= (double)t.m->n_steps;
    for (size_t i = 0; i < t.r.n; i++) frac += t.r.correct[i];
    frac /= (double)t.r.n;
    tap_ok(t.rc == CS_OK && t.r.n == 150 && t.r.measurements == 41 && fabs(frac - acc) < 1e-12,
           "%s net: mean over examples of the correct fraction = mean step accuracy (%.6f, %.6f)",
           v ? "tanh" : "linear", frac, acc);
    size_t rows = 0;
    for (size_t i = 0; i < t.m->n_series; i++) rows += !strcmp(t.m->series[i].name, "pc_correct");
    tap_ok(rows == 150, "%s: series pc_correct has one row per example", v ? "tanh" : "linear");
    memrec_free(t.m);
    pc_run_result_free(&t.r);
    free(th);
    net_deinit(&net);
  }
  dataset_free(tr), dataset_free(te);
}

/* ---- data transforms and orthogonal init ------------------------------------------------ */

static void test_transforms(void) {
  Dataset *tr, *te, *raw, *rte;
  Err err = {0};
  data_load("synth:spectrum,d=10,n=2000,decay=2,test=500", 2, &raw, &rte, &err);
  int rc = data_load("synth:spectrum,d=10,n=2000,decay=2,test=500,whiten=zca,whiten_eps=1e-9", 2,
                     &tr, &te, &err);
  tap_ok(rc == CS_OK && !tr->pcs && !tr->w_star, "whiten=zca loads and drops the ground truth (%s)",
         err.msg);
  if (rc) return;
  size_t d = tr->d;
  double worst = 0, mean_worst = 0;
  for (size_t a = 0; a < d; a++) {
    double ma = 0;
    for (size_t i = 0; i < tr->n; i++) ma += tr->X[i * d + a];
    mean_worst = fmax(mean_worst, fabs(ma / (double)tr->n));
    for (size_t b2 = 0; b2 < d; b2++) {
      double s = 0;
      for (size_t i = 0; i < tr->n; i++) s += tr->X[i * d + a] * tr->X[i * d + b2];
      worst = fmax(worst, fabs(s / (double)tr->n - (a == b2)));
    }
  }
  tap_ok(worst < 1e-6 && mean_worst < 1e-12,
         "after ZCA the training inputs have mean 0 and XᵀX/n = I (max %.1e, mean %.1e)", worst,
         mean_worst);
  /* ZCA is the symmetric whitening: it changes x as little as possible, so the whitened
   * inputs stay positively correlated with the raw ones coordinate by coordinate */
  int pos = 1;
  for (size_t a = 0; a < d; a++) {
    double s = 0;
    for (size_t i = 0; i < tr->n; i++) s += tr->X[i * d + a] * raw->X[i * d + a];
    pos &= s > 0;
  }
  tap_ok(pos, "ZCA (not PCA) whitening: each coordinate stays aligned with its raw self");
  double tcov = 0;
  for (size_t i = 0; i < te->n; i++) tcov += te->X[i * d] * te->X[i * d];
  tcov /= (double)te->n;
  tap_ok(fabs(tcov - 1) < 0.2, "test inputs get the training transform (variance %.3f ~ 1)", tcov);
  dataset_free(tr), dataset_free(te), dataset_free(raw), dataset_free(rte);

  Dataset *c0, *t0, *c1, *t1;
  data_load("synth:classes,n=300,d=4,k=3", 8, &c0, &t0, &err);
  rc = data_load("synth:classes,n=300,d=4,k=3,labels=shuffled", 8, &c1, &t1, &err);
  int same_x = rc == CS_OK && !memcmp(c0->X, c1->X, 300 * 4 * sizeof(double));
  long cnt0[3] = {0}, cnt1[3] = {0}, moved = 0, onehot = 1;
  for (size_t i = 0; !rc && i < 300; i++) {
    cnt0[c0->labels[i]]++, cnt1[c1->labels[i]]++;
    moved += c0->labels[i] != c1->labels[i];
    onehot &= c1->Y[i * 3 + (size_t)c1->labels[i]] == 1.0;
  }
  tap_ok(same_x && !memcmp(cnt0, cnt1, sizeof cnt0) && moved > 100 && onehot,
         "labels=shuffled: inputs kept, class counts kept, %ld of 300 labels moved, Y follows",
         moved);
  dataset_free(c0), dataset_free(t0), dataset_free(c1), dataset_free(t1);

  static const char *const bad[][2] = {
      {"synth:classes,whiten=pca", "whiten=pca"},
      {"synth:classes,labels=random", "labels=random"},
      {"synth:classes,whiten_eps=1e-3", "whiten_eps"},
      {"synth:classes,whiten=zca,whiten_eps=-1", "whiten_eps"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    Dataset *a = (Dataset *)1, *b = (Dataset *)1;
    rc = data_load(bad[i][0], 1, &a, &b, &err);
    tap_ok(rc == CS_EINVAL && strstr(err.msg, bad[i][1]) && !a && !b,
           "'%s' refused naming %s (%s)", bad[i][0], bad[i][1], err.msg);
  }
}

static void test_orthogonal_init(void) {
  Net net;
  Err err = {0};
  NetSpec ns;
  netspec_default(&ns);
  ns.act = (Act){ACT_IDENTITY, 1.0};
  int rc = netspec_parse_model(&ns, "mlp:7-12-12-4,bias=none", &err);
  if (!rc) rc = netspec_parse_init(&ns, "orthogonal", &err);
  if (!rc) rc = net_init(&net, &ns, NULL, &err);
  tap_ok(rc == CS_OK && ns.init == INIT_ORTHOGONAL, "init orthogonal parses (%s)", err.msg);
  if (rc) return;
  double *th = init_theta(&net, 21), worst = 0;
  for (int l = 0; l < 3; l++) {
    const Layer *L = &net.layer[l];
    const double *W = th + L->w_off;
    size_t r = L->out <= L->in ? L->out : L->in;
    for (size_t a = 0; a < r; a++)
      for (size_t b = 0; b < r; b++) {
        double s = 0;
        if (L->out <= L->in)
          for (size_t t = 0; t < L->in; t++) s += W[a * L->in + t] * W[b * L->in + t];
        else
          for (size_t t = 0; t < L->out; t++) s += W[t * L->in + a] * W[t * L->in + b];
        worst = fmax(worst, fabs(s - (a == b)));
      }
  }
  tap_ok(worst < 1e-13, "7→12 columns, 12→12 and 12→4 rows orthonormal (max %.1e)", worst);
  free(th);
  net_deinit(&net);
}

int main(void) {
  test_spearman();
  test_first_below();
  test_analysis();
  test_end_to_end();
  test_basis_projection();
  test_depth1_exact();
  test_correctness();
  test_transforms();
  test_orthogonal_init();
  return tap_done();
}
