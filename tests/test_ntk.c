/*
 * test_ntk.c: the empirical NTK (studies/ntk/).
 *
 * References written out here: the explicit Jacobian J, column by column, by central
 * finite differences of the network's outputs (smooth nets) and by the engine's J·e_p
 * (every net, kinks included), then K = J Jᵀ and its spectrum by the dense LAPACK
 * reference (dense_eig_sym). Both kernel paths (per-layer Gram, matrix-free Lanczos) must
 * match it, and the per-layer kernels J_l J_lᵀ must sum to the whole.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/recorder_memory.h"
#include "core/rng.h"
#include "core/train.h"
#include "hessian/curv.h"
#include "lanczos/eig.h"
#include "studies/ntk/ntk.h"
#include "studies/probes.h"
#include "studies/spectral/spectral.h"
#include "tests/tap.h"

typedef struct NetCase {
  const char *model, *act, *embed, *init;
  int smooth; /* finite differences are a valid reference (no kinks) */
} NetCase;

static const NetCase cases[] = {
    {"mlp:2-5-4-3", "tanh", "none", "torch", 1},
    {"mlp:1-7-6-1", "relu", "none", "torch", 0},
    {"mlp:1-4-5-2", "softplus", "fourier:m=3,sigma=2,learned=true", "torch", 1},
    {"mlp:2-6-6-2", "sine", "none", "ntk:beta=0.3", 1},
    {"mlp:1-8-8-1", "relu", "mscale:scales=1-2", "torch", 0},
    {"mlp:2-6-6-1,bias=none", "tanh", "basic", "xavier", 1},
};

typedef struct Built {
  Net net;
  double *theta, *X, *Y;
  size_t n, N, P;
} Built;

static int build(const NetCase *c, size_t n, uint64_t seed, Built *b) {
  memset(b, 0, sizeof *b);
  NetSpec s;
  Err err = {0};
  netspec_default(&s);
  Rng rng;
  rng_seed(&rng, seed);
  if (netspec_parse_model(&s, c->model, &err) || netspec_parse_embed(&s, c->embed, &err) ||
      netspec_parse_init(&s, c->init, &err) || act_parse(c->act, &s.act, &err) ||
      net_init(&b->net, &s, &rng, &err)) {
    tap_ok(0, "%s %s: set-up (%s)", c->model, c->act, err.msg);
    return 1;
  }
  b->n = n;
  b->N = n * b->net.d_out;
  b->P = b->net.n_params;
  b->theta = malloc(b->P * sizeof *b->theta);
  b->X = malloc(n * b->net.d_in * sizeof *b->X);
  b->Y = calloc(b->N, sizeof *b->Y);
  net_init_params(&b->net, b->theta, &rng);
  for (size_t i = 0; i < n * b->net.d_in; i++) b->X[i] = 2 * rng_uniform(&rng) - 1;
  return 0;
}

static void built_free(Built *b) {
  net_deinit(&b->net);
  free(b->theta), free(b->X), free(b->Y);
}

/* J [N][P] by central differences of F (fd = 1) or by the engine's J e_p (fd = 0). */
static void jacobian_ref(Built *b, int fd, double *J) {
  size_t N = b->N, P = b->P;
  double *th = malloc(P * sizeof *th), *Fp = malloc(N * sizeof *Fp), *e = calloc(P, sizeof *e);
  double *col = malloc(N * sizeof *col);
  NetCache *nc = net_cache_alloc(&b->net, b->n, 0);
  Err err = {0};
  Curvature *c = curv_alloc(&b->net, LOSS_MSE, b->n, 0, &err);
  Batch bt = {b->X, b->Y, NULL, b->n, NULL, NULL};
  curv_build(c, b->theta, &bt, &err);
  const double h = 1e-5;
  for (size_t p = 0; p < P; p++) {
    if (fd) {
      memcpy(th, b->theta, P * sizeof *th);
      th[p] += h;
      net_forward(&b->net, th, b->X, b->n, nc);
      memcpy(Fp, nc->A[b->net.nlayers - 1], N * sizeof *Fp);
      th[p] -= 2 * h;
      net_forward(&b->net, th, b->X, b->n, nc);
      for (size_t r = 0; r < N; r++) col[r] = (Fp[r] - nc->A[b->net.nlayers - 1][r]) / (2 * h);
    } else {
      e[p] = 1;
      curv_jvp(c, e, col);
      e[p] = 0;
    }
    for (size_t r = 0; r < N; r++) J[r * P + p] = col[r];
  }
  curv_free(c);
  net_cache_free(nc);
  free(th), free(Fp), free(e), free(col);
}

/* K [N][N] = J[:, p0:p0+len] J[:, p0:p0+len]ᵀ. */
static void gram_cols(const double *J, size_t N, size_t P, size_t p0, size_t len, double *K) {
  for (size_t r = 0; r < N; r++)
    for (size_t s = 0; s < N; s++) {
      double v = 0;
      for (size_t p = p0; p < p0 + len; p++) v += J[r * P + p] * J[s * P + p];
      K[r * N + s] = v;
    }
}

/* Top k of the reference spectrum (dense_eig_sym, ascending) into desc[k]. */
static void ref_top(const double *K, size_t N, int k, double *desc) {
  double *A = malloc(N * N * sizeof *A), *w = malloc(N * sizeof *w);
  Err err = {0};
  memcpy(A, K, N * N * sizeof *A);
  dense_eig_sym(N, A, w, NULL, &err);
  for (int i = 0; i < k; i++) desc[i] = w[N - 1 - (size_t)i];
  free(A), free(w);
}

static void check_case(const NetCase *c, size_t n) {
  Built b;
  if (build(c, n, 7, &b)) return;
  char tag[160];
  snprintf(tag, sizeof tag, "%s act=%s embed=%s init=%s", c->model, c->act, c->embed, c->init);
  size_t N = b.N, P = b.P;
  int nl = ntk_nlayers(&b.net), k = N < 6 ? (int)N : 6;
  double *J = malloc(N * P * sizeof *J), *Kref = malloc(N * N * sizeof *Kref);
  double *K = malloc(N * N * sizeof *K), *Kl = malloc((size_t)nl * N * N * sizeof *Kl);
  double *Ksum = calloc(N * N, sizeof *Ksum), *Klref = malloc(N * N * sizeof *Klref);
  Err err = {0};

  /* the dense kernel against the explicit Jacobian (JVP columns: exact to round-off) */
  jacobian_ref(&b, 0, J);
  gram_cols(J, N, P, 0, P, Kref);
  NtkDense *w = ntk_dense_alloc(&b.net, n, &err);
  int rc = ntk_dense_kernel(w, b.theta, b.X, n, K, Kl, &err);
  tap_ok(!rc && tap_max_rel(K, Kref, N * N) < 1e-12, "%s: dense K = J Jᵀ (J by JVP columns), rel %.2e",
         tag, tap_max_rel(K, Kref, N * N));
  if (c->smooth) {
    double *Jfd = malloc(N * P * sizeof *Jfd), *Kfd = malloc(N * N * sizeof *Kfd);
    jacobian_ref(&b, 1, Jfd);
    gram_cols(Jfd, N, P, 0, P, Kfd);
    tap_ok(tap_max_rel(K, Kfd, N * N) < 1e-5, "%s: dense K = J Jᵀ (J by finite differences), rel %.2e",
           tag, tap_max_rel(K, Kfd, N * N));
    free(Jfd), free(Kfd);
  }
  /* per-layer kernels: each is J_l J_lᵀ, and they sum to K */
  double worst = 0;
  for (int t = 0; t < nl; t++) {
    size_t rg[2];
    ntk_layer_range(&b.net, t, rg);
    gram_cols(J, N, P, rg[0], rg[1], Klref);
    worst = fmax(worst, tap_max_rel(Kl + (size_t)t * N * N, Klref, N * N));
    for (size_t i = 0; i < N * N; i++) Ksum[i] += Kl[(size_t)t * N * N + i];
  }
  tap_ok(worst < 1e-11, "%s: per-layer K_l = J_l J_lᵀ (%d layers), rel %.2e", tag, nl, worst);
  tap_ok(tap_max_rel(Ksum, K, N * N) < 1e-13, "%s: Σ_l K_l = K, rel %.2e", tag,
         tap_max_rel(Ksum, K, N * N));

  /* the top pairs: dsyevr (dense) and Lanczos (matrix-free) against the reference */
  double ref[8] = {0}, vals[8] = {0}, lz[8] = {0};
  ref_top(Kref, N, k, ref);
  double *scr = malloc(ntk_eig_scratch_size(N) * sizeof *scr);
  double *V = malloc((size_t)k * N * sizeof *V), *VL = malloc((size_t)k * N * sizeof *VL);
  rc = ntk_dense_top(N, K, k, vals, V, scr, &err);
  double e1 = 0, e2 = 0;
  for (int i = 0; i < k; i++) e1 = fmax(e1, fabs(vals[i] - ref[i]) / ref[0]);
  tap_ok(!rc && e1 < 1e-12, "%s: dense top-%d eigenvalues = reference, rel %.2e", tag, k, e1);
  Curvature *cv = curv_alloc(&b.net, LOSS_MSE, n, 0, &err);
  Batch bt = {b.X, b.Y, NULL, n, NULL, NULL};
  curv_build(cv, b.theta, &bt, &err);
  Linop op = curv_ntk_op(cv);
  rc = ntk_lanczos_top(&op, k, 1e-10, 3, lz, VL, NULL, &err);
  for (int i = 0; i < k; i++) e2 = fmax(e2, fabs(lz[i] - ref[i]) / ref[0]);
  tap_ok(!rc && e2 < 1e-8, "%s: matrix-free Lanczos top-%d = reference, rel %.2e (%s)", tag, k, e2,
         rc ? err.msg : "ok");
  /* the leading eigenvector agrees (sign fixed the same way) when it is separated */
  if (ref[0] - ref[1] > 1e-3 * ref[0]) {
    double d = 0;
    for (size_t r = 0; r < N; r++) d = fmax(d, fabs(V[r] - VL[r]));
    tap_ok(d < 1e-5, "%s: leading eigenvector, dense vs Lanczos, max diff %.2e", tag, d);
  }
  /* matrix-free per-layer operators: Σ_l J M_l Jᵀ u = J Jᵀ u, and each equals K_l u */
  double *u = malloc(N * sizeof *u), *y = malloc(N * sizeof *y), *ys = calloc(N, sizeof *ys);
  double *yw = malloc(N * sizeof *yw), *yl = malloc(N * sizeof *yl);
  Rng rng;
  rng_seed(&rng, 11);
  for (size_t r = 0; r < N; r++) u[r] = rng_normal(&rng);
  double lw = 0;
  for (int t = 0; t < nl; t++) {
    size_t rg[2];
    ntk_layer_range(&b.net, t, rg);
    NtkMaskOp *mo = ntk_mask_op_alloc(cv, rg, 1, &err);
    Linop lo = ntk_mask_op_linop(mo);
    lo.apply(lo.self, u, y);
    for (size_t r = 0; r < N; r++) {
      ys[r] += y[r];
      double v = 0;
      for (size_t s = 0; s < N; s++) v += Kl[(size_t)t * N * N + r * N + s] * u[s];
      yl[r] = v;
    }
    lw = fmax(lw, tap_max_rel(y, yl, N));
    ntk_mask_op_free(mo);
  }
  curv_ntk(cv, u, yw);
  tap_ok(tap_max_rel(ys, yw, N) < 1e-12, "%s: Σ_l J M_l Jᵀ u = J Jᵀ u, rel %.2e", tag,
         tap_max_rel(ys, yw, N));
  tap_ok(lw < 1e-11, "%s: J M_l Jᵀ u = K_l u (dense), rel %.2e", tag, lw);
  free(u), free(y), free(ys), free(yw), free(yl);
  curv_free(cv);
  free(scr), free(V), free(VL);
  ntk_dense_free(w);
  free(J), free(Kref), free(K), free(Kl), free(Ksum), free(Klref);
  built_free(&b);
}

static void test_analysis(void) {
  /* the kernel prediction: −log|1 − ηλ/n| */
  tap_rel(ntk_predicted_rate(0.1, 50, 10), -log(0.5), 1e-14, "predicted rate 0.1·50/10");
  tap_rel(ntk_measured_rate(2.0, 0.5, 4), log(4.0) / 4, 1e-14, "measured rate from 2 to 0.5 in 4");
  tap_ok(isnan(ntk_measured_rate(0.0, 1.0, 3)) && isnan(ntk_measured_rate(1.0, 1.0, 0)),
         "measured rate: NAN without p_0 or t");
  double v[5] = {0.1, -3, 2, 0, 1};
  ntk_sign_fix(v, 5);
  tap_ok(v[1] == 3 && v[0] == -0.1, "sign fix: the largest entry becomes positive");
  double me[4] = {1.05, 0.5, 0.31, 0.1}, pr[4] = {1.0, 0.5, 0.2, 0.1};
  tap_ok(ntk_rates_agree(me, pr, 4, 0.1) == 2 && ntk_rates_agree(me, pr, 1, 0.01) == 0,
         "rates agree: the leading run within tolerance (2 of 4; none at 1%%)");
  /* dominant frequency: a cosine at k = 3 plus a smaller constant, on 32 points */
  size_t n = 32;
  double y[32], F[2 * 17];
  for (size_t j = 0; j < n; j++) y[j] = 0.3 + cos(2 * M_PI * 3 * (double)j / (double)n);
  SpecFFT *f = spec_fft_alloc(1, n);
  spec_fft_apply(f, y, F);
  tap_ok(ntk_dominant_freq(1, n, F) == 3, "dominant frequency of 0.3 + cos(2π 3x) is 3 (got %g)",
         ntk_dominant_freq(1, n, F));
  spec_fft_free(f);
  double y2[16 * 16], F2[2 * 16 * 9];
  for (size_t a = 0; a < 16; a++)
    for (size_t b = 0; b < 16; b++) y2[a * 16 + b] = sin(2 * M_PI * (3.0 * a + 4.0 * b) / 16);
  f = spec_fft_alloc(2, 16);
  spec_fft_apply(f, y2, F2);
  tap_rel(ntk_dominant_freq(2, 16, F2), 5.0, 1e-12, "2-D dominant |k| of sin(2π(3x+4y)) is 5");
  spec_fft_free(f);
}

/* ---- the probe in a training run -------------------------------------------------- */

typedef struct ProbeRun {
  MemRecorder *m;
  TrainResult res;
  int rc;
} ProbeRun;

/* Trains `steps` full-batch GD steps of mlp:1-W-W-1 (act) on a 1-D grid with one probe. */
static ProbeRun probe_run(const char *probe, const char *act, long width, long steps, double lr_frac,
                          double *lr_used) {
  ProbeRun pr = {0};
  Dataset *tr = NULL, *te = NULL;
  Err err = {0};
  data_load("synth:sines,n=32,freqs=1-2-3,amps=equal", 5, &tr, &te, &err);
  NetSpec s;
  netspec_default(&s);
  char model[64];
  snprintf(model, sizeof model, "mlp:1-%ld-%ld-1", width, width);
  netspec_parse_model(&s, model, &err);
  act_parse(act, &s.act, &err);
  Net net;
  Rng rng;
  rng_seed(&rng, 3);
  net_init(&net, &s, &rng, &err);
  double *theta = malloc(net.n_params * sizeof *theta);
  net_init_params(&net, theta, &rng);
  /* η from λ_max of the kernel at init: ηλ_max/n = lr_frac */
  size_t N = tr->n;
  NtkDense *w = ntk_dense_alloc(&net, N, &err);
  double *K = malloc(N * N * sizeof *K), *scr = malloc(ntk_eig_scratch_size(N) * sizeof *scr);
  double lmax, v[32];
  ntk_dense_kernel(w, theta, tr->X, N, K, NULL, &err);
  ntk_dense_top(N, K, 1, &lmax, v, scr, &err);
  ntk_dense_free(w), free(K), free(scr);
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = *lr_used = lr_frac * (double)N / lmax;
  Optimizer *opt = optim_alloc(optim_gd, &oc, net.n_params);
  Probe p;
  pr.rc = probe_create(probe, &net, tr, LOSS_MSE, optim_gd, PREC_F64, &p, &err);
  if (pr.rc) tap_diag("probe %s: %s", probe, err.msg);
  pr.m = memrec_alloc();
  Recorder rec = memrec_recorder(pr.m);
  int64_t id;
  RunInfo info = {"t", "train", NULL, "{}", 0, net.n_params, "{}"};
  rec_run_begin(&rec, &info, &id, &err);
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.steps = steps;
  if (!pr.rc) {
    pr.rc = train_run(&cfg, &net, theta, opt, tr, te, &p, 1, &rec, &pr.res, &err);
    p.destroy(p.self);
  }
  optim_free(opt);
  free(theta);
  net_deinit(&net);
  dataset_free(tr), dataset_free(te);
  return pr;
}

/* Values of series `name` at step into out[max] by idx; returns how many were found. */
static int series_at(const MemRecorder *m, const char *name, long step, double *out, int max) {
  int n = 0;
  for (size_t i = 0; i < m->n_series; i++) {
    const MemSeries *x = &m->series[i];
    if (x->step == step && !strcmp(x->name, name) && x->idx >= 0 && x->idx < max) {
      out[x->idx] = x->value;
      n = x->idx + 1 > n ? (int)x->idx + 1 : n;
    }
  }
  return n;
}

/* One GD step at ηλ_max/n = 0.01: the residual's projections shrink by (1 − ηλ_i/n) to
 * first order in η, so the measured rates equal the kernel prediction (the normalisation
 * of ½·mean‖f − y‖² and of η/n checked end to end). */
static void test_probe_one_step(void) {
  double lr;
  ProbeRun pr = probe_run("ntk:every=1,k=6", "tanh", 256, 1, 0.01, &lr);
  double meas[6] = {0}, pred[6] = {0}, p0[6] = {0};
  int nm = series_at(pr.m, "ntk_rate", -1, meas, 6), np = series_at(pr.m, "ntk_rate_pred", -1, pred, 6);
  series_at(pr.m, "ntk_proj", 0, p0, 6);
  tap_ok(pr.rc == CS_OK && nm == 6 && np == 6, "ntk probe, one GD step: rates recorded (%d, %d)",
         nm, np);
  double worst = 0, pnorm = 0;
  for (int i = 0; i < 6; i++) pnorm = fmax(pnorm, fabs(p0[i]));
  int checked = 0;
  for (int i = 0; i < 3; i++)
    if (fabs(p0[i]) > 0.05 * pnorm) worst = fmax(worst, fabs(meas[i] / pred[i] - 1)), checked++;
  tap_ok(checked >= 1 && worst < 0.05,
         "measured rate = −log|1 − ηλ_i/n| within 5%% on the %d top projections of weight (worst "
         "%.3f; rates %.3g/%.3g %.3g/%.3g %.3g/%.3g)",
         checked, worst, meas[0], pred[0], meas[1], pred[1], meas[2], pred[2]);
  tap_rel(pred[0], -log(1 - 0.01), 1e-9, "predicted rate of the top pair at ηλ_max/n = 0.01");
  double agree = NAN;
  memrec_metric_find(pr.m, "ntk_rate_agree", -1, &agree);
  tap_ok(agree >= 2, "ntk_rate_agree: at least the top 2 pairs within 10%% after one small step (%g)",
         agree);
  memrec_free(pr.m);
}

/* The dense and matrix-free probes see the same kernel; K_0's eigenvectors on a ReLU
 * net's grid have rising frequency; drift estimates agree. */
static void test_probe_paths(void) {
  double lr;
  ProbeRun a = probe_run("ntk:every=5,k=8,dense=yes", "relu", 128, 20, 0.3, &lr);
  ProbeRun b = probe_run("ntk:every=5,k=8,dense=no,probes=64", "relu", 128, 20, 0.3, &lr);
  double ea[8] = {0}, eb[8] = {0}, pa[8] = {0}, pb[8] = {0};
  series_at(a.m, "ntk_eig", 0, ea, 8), series_at(b.m, "ntk_eig", 0, eb, 8);
  series_at(a.m, "ntk_proj", 20, pa, 8), series_at(b.m, "ntk_proj", 20, pb, 8);
  double de = 0, dp = 0;
  for (int i = 0; i < 8; i++) de = fmax(de, fabs(ea[i] - eb[i]) / ea[0]);
  for (int i = 0; i < 3; i++) dp = fmax(dp, fabs(pa[i] - pb[i]));
  tap_ok(a.rc == CS_OK && b.rc == CS_OK && de < 1e-7,
         "ntk probe: dense and matrix-free spectra at init agree (rel %.2e)", de);
  tap_ok(dp < 1e-5, "ntk probe: the top projections at step 20 agree (max diff %.2e)", dp);
  double fa[8] = {0}, la[8] = {0}, da = NAN, db = NAN, fo = NAN;
  int nf = series_at(a.m, "ntk_eigvec_freq", 0, fa, 8);
  int nl = series_at(a.m, "ntk_eig_layer0", 0, la, 8);
  memrec_metric_find(a.m, "ntk_drift", -1, &da);
  memrec_metric_find(b.m, "ntk_drift", -1, &db);
  memrec_metric_find(a.m, "ntk_freq_order", -1, &fo);
  tap_ok(nf == 8 && nl == 8, "ntk probe: eigenvector frequencies and layer-0 spectrum recorded");
  tap_ok(fa[0] <= 1 && fo > 0.7,
         "ReLU on the grid: the top eigenvector is smooth (k=%g), frequency rises as λ falls "
         "(Spearman %.3f)",
         fa[0], fo);
  tap_ok(da > 0 && fabs(db / da - 1) < 0.3,
         "ntk_drift: exact %.4g, from 64 fixed probes %.4g", da, db);
  memrec_free(a.m), memrec_free(b.m);
}

static void test_probe_bad_specs(void) {
  const char *bad[] = {"ntk:k=0", "ntk:dense=maybe", "ntk:every=0", "ntk:q=1", "ntk:k=40",
                       "ntk:dense=no,k=16"};
  Dataset *tr = NULL, *te = NULL;
  Err err = {0};
  data_load("synth:sines,n=32,freqs=1", 5, &tr, &te, &err);
  NetSpec s;
  netspec_default(&s);
  netspec_parse_model(&s, "mlp:1-8-1", &err);
  Net net;
  Rng rng;
  rng_seed(&rng, 1);
  net_init(&net, &s, &rng, &err);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    Probe p;
    Err e = {0};
    int rc = probe_create(bad[i], &net, tr, LOSS_MSE, optim_gd, PREC_F64, &p, &e);
    tap_ok(rc == CS_EINVAL && e.msg[0], "probe '%s' refused: %s", bad[i], e.msg);
  }
  Probe p;
  Err e = {0};
  tap_ok(probe_create("ntk", &net, tr, LOSS_CE, optim_gd, PREC_F64, &p, &e) == CS_EINVAL &&
             strstr(e.msg, "mse"),
         "probe ntk with cross-entropy refused: %s", e.msg);
  net_deinit(&net);
  dataset_free(tr), dataset_free(te);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_case(&cases[i], 10);
  test_analysis();
  test_probe_one_step();
  test_probe_paths();
  test_probe_bad_specs();
  return tap_done();
}
