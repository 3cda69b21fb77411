/*
 * test_freqp.c: the frequency-principle filter and probe (studies/freqp/).
 *
 * References written out here: the filter as the double sum of its definition, pair by
 * pair (exp of the squared distance, divided by the row's sum); the median squared
 * distance by sorting every pair; the limits δ → 0 (W = I on distinct points) and δ → ∞
 * (every row the mean); and, for the probe, e_low and e_high at init from the network's
 * outputs and the reference filter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/loss.h"
#include "core/optim.h"
#include "core/recorder_memory.h"
#include "core/rng.h"
#include "core/train.h"
#include "studies/freqp/freqp.h"
#include "studies/probes.h"
#include "tests/net_util.h"
#include "tests/tap.h"

static double sqdist(const double *a, const double *b, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

/* low = the definition's double sum, for G [n][k]. */
static void direct_low(const double *X, size_t n, size_t d, double delta, const double *G,
                       size_t k, double *low) {
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t c = 0; c < k; c++) low[i * k + c] = 0;
    for (size_t j = 0; j < n; j++) {
      double w = exp(-sqdist(X + i * d, X + j * d, d) / (2 * delta));
      s += w;
      for (size_t c = 0; c < k; c++) low[i * k + c] += w * G[j * k + c];
    }
    for (size_t c = 0; c < k; c++) low[i * k + c] /= s;
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double direct_median_d2(const double *X, size_t n, size_t d) {
  size_t m = n * (n - 1) / 2, t = 0;
  double *v = malloc(m * sizeof *v);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) v[t++] = sqdist(X + i * d, X + j * d, d);
  qsort(v, m, sizeof *v, cmp);
  double med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
  free(v);
  return med;
}

static double max_abs_diff(const double *a, const double *b, size_t m) {
  double w = 0;
  for (size_t i = 0; i < m; i++) w = fmax(w, fabs(a[i] - b[i]));
  return w;
}

/* Random inputs; with dup, every third row repeats the one before (equal distances). */
static double *random_rows(size_t n, size_t d, uint64_t seed, int dup) {
  Rng rng;
  rng_seed(&rng, seed);
  double *X = malloc(n * d * sizeof *X);
  rng_normal_fill(&rng, X, n * d);
  if (dup)
    for (size_t i = 2; i < n; i += 3) memcpy(X + i * d, X + (i - 1) * d, d * sizeof *X);
  return X;
}

static void test_filter_direct(void) {
  /* n = 37: 666 pairs (even), n = 38: 703 (odd); with and without duplicate rows */
  size_t ns[] = {37, 38, 2, 3};
  for (size_t c = 0; c < sizeof ns / sizeof *ns; c++)
    for (int dup = 0; dup < 2; dup++) {
      size_t n = ns[c], d = 5, k = 3;
      double *X = random_rows(n, d, 11 + c, dup), *G = random_rows(n, k, 99 + c, 0);
      double *low = malloc(n * k * sizeof *low), *ref = malloc(n * k * sizeof *ref);
      Err err = {0};
      FreqFilter *f = freqp_filter_alloc(X, n, d, 0, &err);
      double med = direct_median_d2(X, n, d);
      tap_rel(freqp_filter_median_d2(f), med, 1e-12, "median squared distance = sorted pairs'");
      tap_rel(freqp_filter_delta(f), FREQP_DELTA_FRAC * med, 1e-12,
              "default δ = FREQP_DELTA_FRAC × median");
      freqp_filter_low(f, G, k, low);
      direct_low(X, n, d, freqp_filter_delta(f), G, k, ref);
      double w = max_abs_diff(low, ref, n * k);
      tap_ok(w < 1e-12, "n=%zu%s: W G = the definition's double sum (max diff %.2e)", n,
             dup ? " with duplicate rows" : "", w);
      freqp_filter_free(f);
      /* an explicit δ is used as given */
      f = freqp_filter_alloc(X, n, d, 3.7, &err);
      freqp_filter_low(f, G, k, low);
      direct_low(X, n, d, 3.7, G, k, ref);
      w = max_abs_diff(low, ref, n * k);
      tap_ok(freqp_filter_delta(f) == 3.7 && w < 1e-12,
             "n=%zu%s, δ = 3.7: as given, W G = the double sum (max diff %.2e)", n,
             dup ? " dup" : "", w);
      freqp_filter_free(f);
      free(X), free(G), free(low), free(ref);
    }
}

static void test_filter_limits(void) {
  size_t n = 50, d = 8, k = 2;
  double *X = random_rows(n, d, 5, 0), *G = random_rows(n, k, 6, 0);
  double *low = malloc(n * k * sizeof *low), mean[2] = {0, 0};
  for (size_t i = 0; i < n; i++) mean[0] += G[2 * i] / n, mean[1] += G[2 * i + 1] / n;
  Err err = {0};
  FreqFilter *f = freqp_filter_alloc(X, n, d, 1e-6, &err);
  freqp_filter_low(f, G, k, low);
  tap_ok(max_abs_diff(low, G, n * k) < 1e-12, "δ → 0 on distinct points: W = I, g^low = g");
  freqp_filter_free(f);
  f = freqp_filter_alloc(X, n, d, 1e12, &err);
  freqp_filter_low(f, G, k, low);
  double w = 0;
  for (size_t i = 0; i < n; i++)
    w = fmax(w, fmax(fabs(low[2 * i] - mean[0]), fabs(low[2 * i + 1] - mean[1])));
  tap_ok(w < 1e-9, "δ → ∞: every row of g^low is g's mean (max diff %.2e)", w);
  freqp_filter_free(f);
  /* a constant function is all low frequency at any δ (rows of W sum to 1) */
  for (size_t i = 0; i < n * k; i++) G[i] = 2.5;
  f = freqp_filter_alloc(X, n, d, 0, &err);
  freqp_filter_low(f, G, k, low);
  tap_ok(max_abs_diff(low, G, n * k) < 1e-12, "a constant's low part is itself");
  freqp_filter_free(f);
  /* bad input */
  Err e1 = {0}, e2 = {0};
  tap_ok(!freqp_filter_alloc(X, 1, d, 0, &e1) && e1.code == CS_EINVAL && strstr(e1.msg, "2 to"),
         "one input is refused by name (%s)", e1.msg);
  for (size_t i = 0; i < n * d; i++) X[i] = 1.0;
  tap_ok(!freqp_filter_alloc(X, n, d, 0, &e2) && e2.code == CS_EINVAL && strstr(e2.msg, "--delta"),
         "all-equal inputs: no default δ, the error says to give one (%s)", e2.msg);
  f = freqp_filter_alloc(X, n, d, 1.0, &err);
  tap_ok(f != NULL, "all-equal inputs with an explicit δ are fine");
  freqp_filter_free(f);
  double a[3] = {3, 0, 4}, b[3] = {0, 0, 0};
  tap_rel(freqp_rel_err(a, b, 3), 1.0, 1e-15, "rel err of 0 against a is 1");
  tap_ok(isnan(freqp_rel_err(b, a, 3)), "rel err against a zero reference is NaN");
  free(X), free(G), free(low);
}

/* The probe over a short GD run: e_low and e_high at step 0 from the init's outputs and
 * the reference filter; τ and low_first consistent with the recorded curves. */
static void test_probe(LossKind loss) {
  size_t n = 40, d = 6, k = 3;
  Dataset *tr = dataset_alloc(n, d, k, 1);
  Rng rng;
  rng_seed(&rng, 7);
  rng_normal_fill(&rng, tr->X, n * d);
  for (size_t i = 0; i < n; i++) {
    tr->labels[i] = tr->X[i * d] > 0 ? 0 : (tr->X[i * d + 1] > 0 ? 1 : 2);
    for (size_t c = 0; c < k; c++) tr->Y[i * k + c] = tr->labels[i] == (int)c;
  }
  tr->nclasses = (int)k;
  Dataset *te = dataset_alloc(0, d, k, 1);
  Net net;
  double *theta = test_mlp(&net, "mlp:6-32-3", ACT_TANH, 3);
  /* the reference at init */
  NetCache *cache = net_cache_alloc(&net, n, 0);
  net_forward(&net, theta, tr->X, n, cache);
  double *h = malloc(n * k * sizeof *h), *aux = malloc(n * k * sizeof *aux);
  memcpy(h, cache->A[net.nlayers - 1], n * k * sizeof *h);
  if (loss == LOSS_CE)
    for (size_t i = 0; i < n; i++) { /* softmax, written out */
      double mx = fmax(fmax(h[3 * i], h[3 * i + 1]), h[3 * i + 2]), s = 0;
      for (size_t c = 0; c < k; c++) s += aux[3 * i + c] = exp(h[3 * i + c] - mx);
      for (size_t c = 0; c < k; c++) h[3 * i + c] = aux[3 * i + c] / s;
    }
  double delta = 2.0;
  double *yl = malloc(n * k * sizeof *yl), *hl = malloc(n * k * sizeof *hl);
  direct_low(tr->X, n, d, delta, tr->Y, k, yl);
  direct_low(tr->X, n, d, delta, h, k, hl);
  double nl = 0, dl = 0, nh = 0, dh = 0;
  for (size_t i = 0; i < n * k; i++) {
    double yh = tr->Y[i] - yl[i], hh = h[i] - hl[i];
    nl += (yl[i] - hl[i]) * (yl[i] - hl[i]), dl += yl[i] * yl[i];
    nh += (yh - hh) * (yh - hh), dh += yh * yh;
  }
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = 0.5;
  Optimizer *opt = optim_alloc(optim_gd, &oc, net.n_params);
  Probe p;
  Err err = {0};
  int rc = probe_create("freqp:every=5,delta=2,eps=0.5", &net, tr, loss, optim_gd, PREC_F64, &p, &err);
  MemRecorder *m = memrec_alloc();
  Recorder rec = memrec_recorder(m);
  int64_t id;
  RunInfo info = {"t", "train", NULL, "{}", 0, net.n_params, "{}"};
  rec_run_begin(&rec, &info, &id, &err);
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.steps = 200;
  cfg.loss = loss;
  TrainResult res;
  if (!rc) {
    rc = train_run(&cfg, &net, theta, opt, tr, te, &p, 1, &rec, &res, &err);
    p.destroy(p.self);
  }
  const char *ln = loss == LOSS_CE ? "ce" : "mse";
  tap_ok(rc == CS_OK, "%s: a run with the freqp probe (%s)", ln, rc ? err.msg : "ok");
  double e0l = NAN, e0h = NAN, dv = NAN;
  memrec_metric_find(m, "freqp_e_low", 0, &e0l);
  memrec_metric_find(m, "freqp_e_high", 0, &e0h);
  memrec_metric_find(m, "freqp_delta", -1, &dv);
  tap_rel(e0l, sqrt(nl / dl), 1e-10, loss == LOSS_CE ? "ce: e_low at init (softmax outputs)"
                                                     : "mse: e_low at init");
  tap_rel(e0h, sqrt(nh / dh), 1e-10, loss == LOSS_CE ? "ce: e_high at init (softmax outputs)"
                                                     : "mse: e_high at init");
  tap_ok(dv == 2.0, "%s: freqp_delta recorded as given", ln);
  /* τ: the first measured step with e < eps, from the recorded curves */
  double tau[2] = {-1, -1}, last[2] = {NAN, NAN};
  long ahead = 0, measured = 0;
  for (long t = 0; t <= 200; t += 5) {
    double e[2];
    if (memrec_metric_find(m, "freqp_e_low", t, &e[0]) ||
        memrec_metric_find(m, "freqp_e_high", t, &e[1]))
      continue;
    for (int j = 0; j < 2; j++)
      if (tau[j] < 0 && e[j] < 0.5) tau[j] = (double)t;
    if (t > 0) measured++, ahead += e[0] < e[1];
    last[0] = e[0], last[1] = e[1];
  }
  double tl = NAN, th = NAN, lf = NAN, la = NAN;
  int hl_ = !memrec_metric_find(m, "freqp_tau_low", -1, &tl);
  int hh_ = !memrec_metric_find(m, "freqp_tau_high", -1, &th);
  memrec_metric_find(m, "freqp_low_first", -1, &lf);
  memrec_metric_find(m, "freqp_low_ahead", -1, &la);
  tap_ok(measured == 40 && (tau[0] < 0 ? !hl_ : tl == tau[0]) && (tau[1] < 0 ? !hh_ : th == tau[1]),
         "%s: freqp_tau_low/high = first step below eps on the curves (%g %g; %g %g)", ln, tl, th,
         tau[0], tau[1]);
  double want = tau[0] >= 0 && (tau[1] < 0 || tau[0] < tau[1]);
  tap_ok((tau[0] < 0 && tau[1] < 0) || lf == want, "%s: freqp_low_first = %g", ln, lf);
  tap_rel(la, (double)ahead / (double)measured, 1e-15, "freqp_low_ahead = share of measurements");
  tap_ok(last[0] < e0l && last[1] < e0h, "%s: both errors fall in training (%.3f→%.3f, %.3f→%.3f)",
         ln, e0l, last[0], e0h, last[1]);
  memrec_free(m);
  optim_free(opt);
  free(theta), free(h), free(aux), free(yl), free(hl);
  net_cache_free(cache);
  net_deinit(&net);
  dataset_free(tr), dataset_free(te);
}

static void test_probe_bad(void) {
  Dataset *tr = dataset_alloc(10, 2, 1, 0);
  Rng rng;
  rng_seed(&rng, 1);
  rng_normal_fill(&rng, tr->X, 20);
  rng_normal_fill(&rng, tr->Y, 10);
  Net net;
  double *theta = test_mlp(&net, "mlp:2-4-1", ACT_TANH, 1);
  static const struct { const char *spec; LossKind loss; const char *needle; } bad[] = {
      {"freqp:every=0", LOSS_MSE, "every >= 1"},
      {"freqp:delta=-1", LOSS_MSE, "delta >= 0"},
      {"freqp:eps=0", LOSS_MSE, "eps > 0"},
      {"freqp:width=3", LOSS_MSE, "width"},
      {"freqp:delta=abc", LOSS_MSE, "delta"},
      {"freqp", LOSS_SOBOLEV, "mse or ce"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    Probe p;
    Err e = {0};
    int rc = probe_create(bad[i].spec, &net, tr, bad[i].loss, optim_gd, PREC_F64, &p, &e);
    tap_ok(rc == CS_EINVAL && strstr(e.msg, bad[i].needle), "probe '%s' refused (%s)",
           bad[i].spec, e.msg);
    if (!rc) p.destroy(p.self);
  }
  Net wide;
  double *t2 = test_mlp(&wide, "mlp:2-4-3", ACT_TANH, 1);
  Probe p;
  Err e = {0};
  int rc = probe_create("freqp", &wide, tr, LOSS_MSE, optim_gd, PREC_F64, &p, &e);
  tap_ok(rc == CS_EINVAL && strstr(e.msg, "outputs"), "targets and outputs must match (%s)", e.msg);
  free(theta), free(t2);
  net_deinit(&net), net_deinit(&wide);
  dataset_free(tr);
}

int main(void) {
  test_filter_direct();
  test_filter_limits();
  test_probe(LOSS_MSE);
  test_probe(LOSS_CE);
  test_probe_bad();
  return tap_done();
}
