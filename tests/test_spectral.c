/*
 * test_spectral.c: the spectral-bias measurement (studies/spectral/).
 *
 * References: a direct O(N²) DFT written out here (the FFTW transform must equal it,
 * on random data, on the target and on the network's outputs as the probe records
 * them), the closed form of a sinusoid's transform on whole periods (2|T(k)|/A = 1),
 * Spearman's correlation by hand for a case with ties and +∞, and the probe's own
 * recorded series (τ_k must be the first measured step with freq_err < eps).
 */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/recorder_memory.h"
#include "core/rng.h"
#include "core/train.h"
#include "studies/probes.h"
#include "studies/spectral/spectral.h"
#include "tests/net_util.h"
#include "tests/tap.h"

/* Direct DFT / N of y on a grid of n per axis, bin layout of spec_fft_apply. */
static void direct_dft(int dims, size_t n, const double *y, double *F) {
  size_t h = n / 2 + 1, N = dims == 1 ? n : n * n, bins = dims == 1 ? h : n * h;
  for (size_t q = 0; q < bins; q++) {
    size_t kx = dims == 1 ? q : q / h, ky = dims == 1 ? 0 : q % h;
    double re = 0, im = 0;
    for (size_t j = 0; j < N; j++) {
      size_t jx = dims == 1 ? j : j / n, jy = dims == 1 ? 0 : j % n;
      /* exact phase: reduce the integer product mod n first */
      double ph = 2 * M_PI * (double)((kx * jx + ky * jy) % n) / (double)n;
      re += y[j] * cos(ph);
      im -= y[j] * sin(ph);
    }
    F[2 * q] = re / (double)N;
    F[2 * q + 1] = im / (double)N;
  }
}

static double max_abs_diff(const double *a, const double *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

/* A MemRecorder with a run begun; *rec is its Recorder. */
static MemRecorder *mem_run(Recorder *rec, size_t n_params) {
  MemRecorder *m = memrec_alloc();
  *rec = memrec_recorder(m);
  int64_t id;
  Err err = {0};
  RunInfo info = {"t", "train", NULL, "{}", 0, n_params, "{}"};
  rec_run_begin(rec, &info, &id, &err);
  return m;
}

/* The probe `spec` on train (test: te) measured once at step 0 into a fresh MemRecorder;
 * *rc is the creation's or the run's status. */
static MemRecorder *probe_once(const char *spec, const Net *net, double *theta, const Dataset *tr,
                               const Dataset *te, int *rc, Err *err) {
  Probe p;
  Recorder rec;
  MemRecorder *m = mem_run(&rec, net->n_params);
  *rc = probe_create(spec, net, tr, LOSS_MSE, optim_adam, PREC_F64, &p, err);
  TrainState st = {.net = net, .theta = theta, .step = 0, .train = tr, .test = te, .rec = &rec};
  if (!*rc) {
    *rc = p.run(p.self, &st, err);
    p.destroy(p.self);
  }
  return m;
}

static void test_fft_random(void) {
  Rng rng;
  rng_seed(&rng, 1);
  const struct {
    int dims;
    size_t n;
  } cs[] = {{1, 200}, {1, 7}, {2, 16}, {2, 9}};
  for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
    SpecFFT *f = spec_fft_alloc(cs[c].dims, cs[c].n);
    size_t N = cs[c].dims == 1 ? cs[c].n : cs[c].n * cs[c].n, nb = spec_fft_bins(f);
    double *y = malloc(N * sizeof *y), *F = malloc(2 * nb * sizeof *F),
           *D = malloc(2 * nb * sizeof *D);
    rng_normal_fill(&rng, y, N);
    spec_fft_apply(f, y, F);
    direct_dft(cs[c].dims, cs[c].n, y, D);
    double d = max_abs_diff(F, D, 2 * nb);
    tap_ok(d < 1e-13, "FFTW = direct DFT on random data (dims %d, n %zu, %zu bins): max diff %.1e",
           cs[c].dims, cs[c].n, nb, d);
    free(y), free(F), free(D);
    spec_fft_free(f);
  }
  tap_ok(spec_fft_alloc(3, 8) == NULL && spec_fft_alloc(1, 1) == NULL, "bad dims or n refused");
}

/* The target on whole periods: 2|T(k_i)|/A_i = 1 at its frequencies, 0 at other bins. */
static void test_target_transform(void) {
  const char *specs[] = {"synth:sines,n=200,freqs=5-10-35-50,amps=rising",
                         "synth:sines2d,n=16,freqs=2-3-5-0-0-4,amps=1-0.5-2"};
  for (int s = 0; s < 2; s++) {
    Dataset *tr, *te;
    Err err = {0};
    if (!tap_ok(data_load(specs[s], 3, &tr, &te, &err) == CS_OK, "load %s", specs[s])) continue;
    int dims = tr->grid_dims;
    size_t n = tr->grid_n, h = n / 2 + 1;
    SpecFFT *f = spec_fft_alloc(dims, n);
    size_t nb = spec_fft_bins(f);
    double *T = malloc(2 * nb * sizeof *T);
    char *is_target = calloc(nb, 1);
    spec_fft_apply(f, tr->Y, T);
    double worst = 0, rest = 0;
    for (int i = 0; i < tr->nfreqs; i++) {
      const double *k = tr->freqs + i * dims;
      size_t q = dims == 1 ? (size_t)k[0] : (size_t)k[0] * h + (size_t)k[1];
      /* (kx, 0) also sits at (n − kx, 0) in the r2c layout */
      if (dims == 2 && k[1] == 0) is_target[((n - (size_t)k[0]) % n) * h] = 1;
      is_target[q] = 1;
      worst = fmax(worst, fabs(2 * hypot(T[2 * q], T[2 * q + 1]) / tr->amps[i] - 1));
    }
    for (size_t q = 0; q < nb; q++)
      if (!is_target[q]) rest = fmax(rest, hypot(T[2 * q], T[2 * q + 1]));
    tap_ok(worst < 1e-12 && rest < 1e-13,
           "%s: normalised magnitude 1 at each target frequency (worst |m-1| %.1e), %.1e elsewhere",
           specs[s], worst, rest);
    free(T), free(is_target);
    spec_fft_free(f);
    dataset_free(tr), dataset_free(te);
  }
}

static void test_spearman(void) {
  double k[5] = {1, 2, 3, 4, 5}, up[5] = {10, 20, 30, 40, 50}, down[5] = {5, 4, 3, 2, 1};
  tap_rel(spec_spearman(k, up, 5), 1.0, 1e-15, "spearman of an increasing sequence is 1");
  tap_rel(spec_spearman(k, down, 5), -1.0, 1e-15, "spearman of a decreasing sequence is -1");
  /* ranks of y: 1, 3, 2, 4.5, 4.5; by hand: cov 8.5, var 10 and 9.5 */
  double y[5] = {100, 300, 200, INFINITY, INFINITY};
  tap_rel(spec_spearman(k, y, 5), 8.5 / sqrt(95.0), 1e-14,
          "spearman with two never-converged (+inf) values tied last");
  double ranks[5];
  spec_ranks(y, 5, ranks);
  tap_ok(ranks[0] == 1 && ranks[1] == 3 && ranks[2] == 2 && ranks[3] == 4.5 && ranks[4] == 4.5,
         "average ranks with +inf ties: %g %g %g %g %g", ranks[0], ranks[1], ranks[2], ranks[3],
         ranks[4]);
  double allinf[3] = {INFINITY, INFINITY, INFINITY}, nan3[3] = {1, NAN, 2};
  tap_ok(isnan(spec_spearman(k, allinf, 3)) && isnan(spec_spearman(k, nan3, 3)) &&
             isnan(spec_spearman(k, up, 1)),
         "spearman is NAN when nothing converged, a value is NaN, or n < 2");
}

static void test_tau_psnr(void) {
  double tau[3] = {-1, -1, -1};
  double e1[3] = {0.4, 0.6, 0.9}, e2[3] = {0.7, 0.3, 0.8}, e3[3] = {0.1, 0.1, 0.5};
  size_t l1 = spec_tau_update(tau, e1, 3, 0.5, 10);
  size_t l2 = spec_tau_update(tau, e2, 3, 0.5, 20);
  size_t l3 = spec_tau_update(tau, e3, 3, 0.5, 30);
  tap_ok(l1 == 2 && l2 == 1 && l3 == 1 && tau[0] == 10 && tau[1] == 20 && tau[2] == -1,
         "tau is the first step below eps, kept when the error rises again; eps itself is not "
         "below (tau %g %g %g, left %zu %zu %zu)",
         tau[0], tau[1], tau[2], l1, l2, l3);
  tap_rel(spec_psnr(0.01, 1.0), 20.0, 1e-14, "psnr of mse 0.01 on range 1 is 20 dB");
  tap_rel(spec_psnr(0.04, 2.0), 20.0, 1e-14, "psnr scales with the range");
  tap_ok(isinf(spec_psnr(0, 1)) && isnan(spec_psnr(1, 0)),
         "psnr: +inf for a perfect fit, NAN without range");
}

/* The probe on a random network: every recorded value against the direct DFT of the
 * network's outputs on the grid, evaluated here by an independent forward pass. */
static void check_probe_dft(const char *data, const char *model, int nrec) {
  Dataset *tr, *te;
  Err err = {0};
  if (!tap_ok(data_load(data, 7, &tr, &te, &err) == CS_OK, "load %s", data)) return;
  Net net;
  double *theta = test_mlp(&net, model, ACT_RELU, 11);
  Probe p;
  int rc = probe_create("spectral:every=5,eps=0.5", &net, tr, LOSS_MSE, optim_adam, PREC_F64, &p, &err);
  if (!tap_ok(rc == CS_OK, "%s: probe created (%s)", data, err.msg)) return;
  Recorder rec;
  MemRecorder *m = mem_run(&rec, net.n_params);
  TrainState st = {.net = &net, .theta = theta, .step = 0, .train = tr, .test = te, .rec = &rec};
  rc = p.run(p.self, &st, &err);
  tap_ok(rc == CS_OK, "%s: probe runs", data);

  int dims = tr->grid_dims;
  size_t n = tr->grid_n, N = tr->n, h = n / 2 + 1, nb = dims == 1 ? h : n * h;
  NetCache *c = net_cache_alloc(&net, N, 0);
  net_forward(&net, theta, tr->X, N, c);
  const double *f = c->A[net.nlayers - 1];
  double *F = malloc(2 * nb * sizeof *F), *T = malloc(2 * nb * sizeof *T), sse = 0;
  double lo = INFINITY, hi = -INFINITY;
  direct_dft(dims, n, f, F);
  direct_dft(dims, n, tr->Y, T);
  for (size_t i = 0; i < N; i++) {
    sse += (f[i] - tr->Y[i]) * (f[i] - tr->Y[i]);
    lo = fmin(lo, tr->Y[i]), hi = fmax(hi, tr->Y[i]);
  }
  /* freq_amp and freq_err at each target frequency */
  double wa = 0, we = 0;
  int found = 0;
  for (int i = 0; i < tr->nfreqs; i++) {
    const double *k = tr->freqs + i * dims;
    size_t q = dims == 1 ? (size_t)k[0] : (size_t)k[0] * h + (size_t)k[1];
    long idx = dims == 1 ? (long)k[0] : i;
    double amp = 2 * hypot(F[2 * q], F[2 * q + 1]) / tr->amps[i];
    double rel =
        hypot(F[2 * q] - T[2 * q], F[2 * q + 1] - T[2 * q + 1]) / hypot(T[2 * q], T[2 * q + 1]);
    for (size_t s = 0; s < m->n_series; s++) {
      const MemSeries *x = &m->series[s];
      if (x->step != 0 || x->idx != idx) continue;
      if (!strcmp(x->name, "freq_amp"))
        wa = fmax(wa, fabs(x->value - amp) / fmax(amp, 1e-300)), found++;
      if (!strcmp(x->name, "freq_err")) we = fmax(we, fabs(x->value - rel) / rel), found++;
    }
  }
  tap_ok(found == 2 * tr->nfreqs && wa < 1e-10 && we < 1e-10,
         "%s: freq_amp = 2|F(k)|/A_k and freq_err = |F-T|/|T| of the direct DFT (rel %.1e, %.1e)",
         data, wa, we);
  /* the residual spectrum, 1-D: every bin */
  if (dims == 1) {
    double wr = 0;
    size_t nr = 0;
    for (size_t s = 0; s < m->n_series; s++) {
      const MemSeries *x = &m->series[s];
      if (x->step != 0 || strcmp(x->name, "freq_resid")) continue;
      size_t k = (size_t)x->idx;
      double a =
          hypot(T[2 * k] - F[2 * k], T[2 * k + 1] - F[2 * k + 1]) * (k == 0 || 2 * k == n ? 1 : 2);
      wr = fmax(wr, fabs(x->value - a));
      nr++;
    }
    tap_ok(nr == h && wr < 1e-12,
           "%s: freq_resid at all %zu bins = one-sided |T-F| (max diff %.1e)", data, nr, wr);
  } else {
    /* 2-D: the shells' energies add up to the residual's (Parseval: Σ|r|²/N = Σ_k |R(k)|²) */
    double e_shell = 0, e_direct = 0;
    for (size_t s = 0; s < m->n_series; s++) {
      const MemSeries *x = &m->series[s];
      if (x->step == 0 && !strcmp(x->name, "freq_resid"))
        e_shell += x->value * x->value / (x->idx ? 2.0 : 1.0);
    }
    e_direct = sse / (double)N;
    tap_rel(e_shell, e_direct, 1e-10,
            "2-D freq_resid shells hold the residual's energy (Parseval)");
  }
  double psnr;
  int fp = memrec_metric_find(m, "psnr_train", 0, &psnr);
  tap_ok(fp == CS_OK && fabs(psnr - 10 * log10((hi - lo) * (hi - lo) / (sse / (double)N))) < 1e-10,
         "%s: psnr_train = 10 log10(range^2 / mse)", data);
  int nseries = 0;
  for (size_t s = 0; s < m->n_series; s++) nseries += m->series[s].step == 0;
  tap_ok(nrec < 0 || nseries == nrec, "%s: %d series values at step 0 (want %d)", data, nseries,
         nrec);
  p.destroy(p.self);
  net_cache_free(c);
  memrec_free(m);
  free(F), free(T), free(theta);
  net_deinit(&net);
  dataset_free(tr), dataset_free(te);
}

/* A short training: τ_k, freq_unlearned and the Spearman recorded at step -1 agree with
 * the probe's own freq_err series, and the measurements fall every `every` steps. */
static void test_training_run_level(void) {
  Dataset *tr, *te;
  Err err = {0};
  data_load("synth:sines,n=64,freqs=1-2-3-9", 5, &tr, &te, &err);
  Net net;
  double *theta = test_mlp(&net, "mlp:1-64-64-64-1", ACT_RELU, 2);
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = 3e-3;
  Optimizer *opt = optim_alloc(optim_adam, &oc, net.n_params);
  Probe p;
  probe_create("spectral:every=10,eps=0.5", &net, tr, LOSS_MSE, optim_adam, PREC_F64, &p, &err);
  Recorder rec;
  MemRecorder *m = mem_run(&rec, net.n_params);
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.steps = 400;
  TrainResult res;
  int rc = train_run(&cfg, &net, theta, opt, tr, te, &p, 1, &rec, &res, &err);
  tap_ok(rc == CS_OK && !strcmp(res.status, "finished"), "400 Adam steps with the probe: %s",
         res.status);
  const double ks[4] = {1, 2, 3, 9};
  double tau_want[4], tau_got[4], tinf[4];
  int steps_ok = 1, nmeas = 0;
  for (int i = 0; i < 4; i++) tau_want[i] = NAN, tau_got[i] = -2;
  for (size_t s = 0; s < m->n_series; s++) {
    const MemSeries *x = &m->series[s];
    for (int i = 0; i < 4; i++) {
      if (x->idx != (long)ks[i]) continue;
      if (!strcmp(x->name, "freq_err") && x->step >= 0) {
        if (isnan(tau_want[i]) && x->value < 0.5) tau_want[i] = (double)x->step;
        steps_ok &= x->step % 10 == 0;
        nmeas += i == 0;
      }
      if (!strcmp(x->name, "freq_tau") && x->step == -1) tau_got[i] = x->value; /* the last wins */
    }
  }
  int same = 1, unlearned = 0;
  for (int i = 0; i < 4; i++) {
    same &= (isnan(tau_want[i]) && isnan(tau_got[i])) || tau_want[i] == tau_got[i];
    unlearned += isnan(tau_want[i]);
    tinf[i] = isnan(tau_want[i]) ? INFINITY : tau_want[i];
  }
  tap_ok(steps_ok && nmeas == 41, "measurements every 10 steps and at the last: %d", nmeas);
  tap_ok(same,
         "freq_tau = first measured step with freq_err < eps: k=1 %g/%g, 2 %g/%g, 3 %g/%g, "
         "9 %g/%g",
         tau_got[0], tau_want[0], tau_got[1], tau_want[1], tau_got[2], tau_want[2], tau_got[3],
         tau_want[3]);
  double rho = NAN, unl = NAN, ratio = NAN, want = spec_spearman(ks, tinf, 4);
  int f1 = memrec_metric_find(m, "freq_unlearned", -1, &unl);
  int f2 = memrec_metric_find(m, "freq_order_spearman", -1, &rho);
  int f3 = memrec_metric_find(m, "freq_tau_ratio", -1, &ratio);
  tap_ok(f1 == CS_OK && unl == unlearned, "freq_unlearned = %g (never below eps: %d)", unl,
         unlearned);
  tap_ok(f2 == CS_OK && ((isnan(rho) && isnan(want)) || rho == want),
         "freq_order_spearman %.4f = Spearman(k, tau with +inf) %.4f", rho, want);
  tap_ok(f3 == CS_OK && (unlearned ? isnan(ratio) : ratio >= 1),
         "freq_tau_ratio %.3g (NULL while a frequency is unlearned)", ratio);
  tap_ok(tau_want[0] <= tau_want[1] && tau_want[1] <= tau_want[2] && !(tau_want[3] < tau_want[2]),
         "a ReLU net learns k = 1, 2, 3 in order, 9 last or never (%g %g %g %g)", tau_want[0],
         tau_want[1], tau_want[2], tau_want[3]);
  p.destroy(p.self);
  memrec_free(m);
  optim_free(opt);
  free(theta);
  net_deinit(&net);
  dataset_free(tr), dataset_free(te);
}

static void test_probe_errors(void) {
  struct {
    const char *data, *model, *probe, *want;
  } cs[] = {
      {"synth:teacher,n=50,d=1", "mlp:1-8-1", "spectral", "synth:sines"},
      {"synth:sines,n=32,freqs=2-4", "mlp:1-8-1", "spectral:eps=0", "eps > 0"},
      {"synth:sines,n=32,freqs=2-4", "mlp:1-8-1", "spectral:every=0", "every >= 1"},
      {"synth:sines,n=32,freqs=2-4", "mlp:1-8-1", "spectral:epz=1", "'epz'"},
      {"synth:sines,n=32,freqs=0-4", "mlp:1-8-1", "spectral", "frequency 0"},
      {"synth:sines,n=32,freqs=2-4", "mlp:1-8-1", "spectrall", "unknown probe 'spectrall'"},
  };
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
    Dataset *tr, *te;
    Err err = {0};
    data_load(cs[i].data, 1, &tr, &te, &err);
    Net net;
    free(test_mlp(&net, cs[i].model, ACT_RELU, 1));
    Probe p;
    int rc = probe_create(cs[i].probe, &net, tr, LOSS_MSE, optim_adam, PREC_F64, &p, &err);
    tap_ok(rc == CS_EINVAL && strstr(err.msg, cs[i].want), "--probe %s on %s refused: %s",
           cs[i].probe, cs[i].data, err.msg);
    net_deinit(&net);
    dataset_free(tr), dataset_free(te);
  }
}

/* Writes a W x H 8-bit PNG of C channels (1 gray, 3 RGB) with channel c of pixel (y, x) =
 * (7y + 3x + 50c) mod 256 (libpng). */
static int write_png_channels(const char *path, int W, int H, int C) {
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  im.width = (png_uint_32)W;
  im.height = (png_uint_32)H;
  im.format = C == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  unsigned char *px = malloc((size_t)W * (size_t)H * (size_t)C);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int c = 0; c < C; c++)
        px[(y * W + x) * C + c] = (unsigned char)((7 * y + 3 * x + 50 * c) % 256);
  int ok = png_image_write_to_file(&im, path, 0, px, 0, NULL);
  free(px);
  return ok;
}

static int write_png(const char *path, int W, int H) { return write_png_channels(path, W, H, 1); }

static double pix(int y, int x) { return ((7 * y + 3 * x) % 256) / 255.0; }

static double rgb(int y, int x, int c) { return ((7 * y + 3 * x + 50 * c) % 256) / 255.0; }

/* image:PATH,color=rgb: three targets per pixel; the probe's PSNR over all channels, its
 * fit and target as [N][3], the residual spectrum's shells holding every channel's energy. */
static void test_image_rgb(void) {
  const char *path = "cs_test_rgb.png";
  if (!tap_ok(write_png_channels(path, 16, 16, 3), "RGB test PNG written")) return;
  Dataset *tr, *te, *gtr, *gte;
  Err err = {0};
  int rc = data_load("image:cs_test_rgb.png,color=rgb", 0, &tr, &te, &err);
  int rg = data_load("image:cs_test_rgb.png", 0, &gtr, &gte, &err);
  int ok = !rc && !rg && tr->k == 3 && te->k == 3 && tr->n == 64 && tr->grid_dims == 2 &&
           tr->grid_n == 8 && gtr->k == 1;
  for (int i = 0; ok && i < 8; i++)
    for (int j = 0; j < 8; j++)
      for (int c = 0; c < 3; c++)
        ok &= tr->Y[(i * 8 + j) * 3 + c] == rgb(2 * i, 2 * j, c) &&
              te->Y[(i * 8 + j) * 3 + c] == rgb(2 * i + 1, 2 * j + 1, c);
  tap_ok(ok, "color=rgb: 3 targets per pixel, channel values /255 at the even and odd pixels "
             "(gray stays 1): %s", err.msg);
  if (rc || rg) return;
  Net net;
  double *theta = test_mlp(&net, "mlp:2-16-3", ACT_RELU, 6);
  MemRecorder *m = probe_once("spectral:every=1", &net, theta, tr, te, &rc, &err);
  NetCache *c = net_cache_alloc(&net, te->n, 0);
  net_forward(&net, theta, tr->X, tr->n, c);
  const double *F = c->A[net.nlayers - 1];
  double sse = 0, e_shell = 0, wfit = 0, wtar = 0, lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < 64 * 3; i++) {
    sse += (F[i] - tr->Y[i]) * (F[i] - tr->Y[i]);
    lo = fmin(lo, tr->Y[i]), hi = fmax(hi, tr->Y[i]);
  }
  size_t nfit = 0, ntar = 0;
  for (size_t s = 0; s < m->n_series; s++) {
    const MemSeries *x = &m->series[s];
    if (!strcmp(x->name, "image_fit") && x->step == -1)
      nfit++, wfit = fmax(wfit, fabs(x->value - F[x->idx]));
    if (!strcmp(x->name, "image_target") && x->step == -1)
      ntar++, wtar = fmax(wtar, fabs(x->value - tr->Y[x->idx]));
    if (x->step == 0 && !strcmp(x->name, "freq_resid"))
      e_shell += x->value * x->value / (x->idx ? 2.0 : 1.0);
  }
  double pt = NAN, pe = NAN;
  memrec_metric_find(m, "psnr_train", 0, &pt);
  memrec_metric_find(m, "psnr_test", 0, &pe);
  tap_ok(!rc && nfit == 192 && ntar == 192 && wfit == 0 && wtar == 0,
         "probe on the RGB image: image_fit, image_target = the [64][3] outputs and pixels (%s)",
         err.msg);
  tap_rel(pt, 10 * log10((hi - lo) * (hi - lo) / (sse / 192.0)), 1e-12,
          "psnr_train over the three channels: 10 log10(range^2 / mean of 192 squared errors)");
  tap_rel(e_shell, sse / 64.0, 1e-10, "freq_resid shells hold the three channels' energy (Parseval)");
  net_forward(&net, theta, te->X, te->n, c);
  double sse_te = 0;
  for (size_t i = 0; i < te->n * 3; i++) sse_te += (F[i] - te->Y[i]) * (F[i] - te->Y[i]);
  tap_rel(pe, 10 * log10((hi - lo) * (hi - lo) / (sse_te / (3.0 * te->n))), 1e-12,
          "psnr_test over the three channels of the odd pixels");
  Net one;
  Probe p;
  free(test_mlp(&one, "mlp:2-8-1", ACT_RELU, 7));
  err = (Err){0};
  rc = probe_create("spectral", &one, tr, LOSS_MSE, optim_adam, PREC_F64, &p, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "one output per target"),
         "a 1-output net on an RGB image refused: %s", err.msg);
  err = (Err){0};
  Dataset *b1 = NULL, *b2 = NULL;
  rc = data_load("image:cs_test_rgb.png,color=cmyk", 0, &b1, &b2, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "color=cmyk"), "color=cmyk refused: %s", err.msg);
  char *res = NULL;
  rc = data_load_resolved("image:cs_test_rgb.png,color=rgb", 0, &b1, &b2, &res, &err);
  tap_ok(!rc && res && strstr(res, ",downsample=1,color=rgb"), "resolved: %s", res ? res : "-");
  free(res);
  dataset_free(b1), dataset_free(b2);
  net_deinit(&one);
  net_cache_free(c);
  memrec_free(m);
  free(theta);
  net_deinit(&net);
  dataset_free(tr), dataset_free(te), dataset_free(gtr), dataset_free(gte);
  remove(path);
}

/* image:PATH: the even pixels train, the odd offsets test, coordinates in [0, 1)². */
static void test_image_data(void) {
  const char *rect = "cs_test_rect.png", *sq = "cs_test_square.png";
  if (!tap_ok(write_png(rect, 12, 16) && write_png(sq, 32, 32), "test PNGs written")) return;
  Dataset *tr, *te;
  Err err = {0};
  char spec[128];
  snprintf(spec, sizeof spec, "image:%s", rect);
  int rc = data_load(spec, 0, &tr, &te, &err);
  int ok = rc == CS_OK && tr->n == 8 * 6 && te->n == 8 * 6 && tr->d == 2 && tr->k == 1 &&
           tr->grid_dims == 0;
  for (int i = 0; ok && i < 8; i++)
    for (int j = 0; j < 6; j++) {
      size_t r = (size_t)(i * 6 + j);
      ok &= tr->X[2 * r] == 2 * i / 16.0 && tr->X[2 * r + 1] == 2 * j / 12.0 &&
            tr->Y[r] == pix(2 * i, 2 * j) && te->X[2 * r] == (2 * i + 1) / 16.0 &&
            te->X[2 * r + 1] == (2 * j + 1) / 12.0 && te->Y[r] == pix(2 * i + 1, 2 * j + 1);
    }
  tap_ok(ok,
         "%s (12x16): 48 even pixels train, 48 odd ones test, (row/H, col/W) -> gray/255, "
         "no grid (not square): %s",
         spec, err.msg);
  if (!rc) dataset_free(tr), dataset_free(te);
  snprintf(spec, sizeof spec, "image:%s,downsample=2", sq);
  rc = data_load(spec, 0, &tr, &te, &err);
  ok = rc == CS_OK && tr->n == 64 && tr->grid_dims == 2 && tr->grid_n == 8;
  /* train row (i, j) is block (2i, 2j) of the 16 x 16 downsampled image */
  double want = (pix(4 * 1, 4 * 2) + pix(4 * 1 + 1, 4 * 2) + pix(4 * 1, 4 * 2 + 1) +
                 pix(4 * 1 + 1, 4 * 2 + 1)) /
                4;
  ok = ok && fabs(tr->Y[1 * 8 + 2] - want) < 1e-15;
  tap_ok(ok, "%s: 2x2 box means, an 8x8 training grid (grid_n 8)", spec);
  if (!rc) {
    /* the probe on an image: residual spectrum, PSNR, the fit and the target, no freq_amp */
    Net net;
    double *theta = test_mlp(&net, "mlp:2-16-1", ACT_RELU, 4);
    MemRecorder *m = probe_once("spectral:every=1", &net, theta, tr, te, &rc, &err);
    NetCache *c = net_cache_alloc(&net, tr->n, 0);
    net_forward(&net, theta, tr->X, tr->n, c);
    size_t nfit = 0, ntarget = 0, namp = 0, nres = 0;
    double wfit = 0, wtar = 0;
    for (size_t s = 0; s < m->n_series; s++) {
      const MemSeries *x = &m->series[s];
      if (!strcmp(x->name, "image_fit") && x->step == -1)
        nfit++, wfit = fmax(wfit, fabs(x->value - c->A[net.nlayers - 1][x->idx]));
      if (!strcmp(x->name, "image_target") && x->step == -1)
        ntarget++, wtar = fmax(wtar, fabs(x->value - tr->Y[x->idx]));
      namp += !strcmp(x->name, "freq_amp");
      nres += !strcmp(x->name, "freq_resid");
    }
    double pt, pe;
    int f1 = memrec_metric_find(m, "psnr_train", -1, &pt),
        f2 = memrec_metric_find(m, "psnr_test", -1, &pe);
    tap_ok(rc == CS_OK && nfit == 64 && ntarget == 64 && wfit == 0 && wtar == 0 && namp == 0 &&
               nres == 7 && f1 == CS_OK && f2 == CS_OK && isfinite(pt) && isfinite(pe),
           "probe on the image: image_fit = the network on the grid, image_target = the pixels, "
           "freq_resid over 7 shells, psnr_train %.2f, psnr_test %.2f, no freq_amp (%s)",
           pt, pe, err.msg);
    net_cache_free(c);
    memrec_free(m);
    free(theta);
    net_deinit(&net);
    dataset_free(tr), dataset_free(te);
  }
  const char *bad[][2] = {{"image:cs_no_such.png", "cs_no_such.png"},
                          {"image:cs_test_square.png,downsample=0", "downsample=0"},
                          {"image:cs_test_square.png,downsample=9", "need 4x4"},
                          {"image:cs_test_square.png,scale=2", "'scale'"},
                          {"image", "image:PATH"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    rc = data_load(bad[i][0], 0, &tr, &te, &err);
    tap_ok(rc == CS_EINVAL && !tr && !te && strstr(err.msg, bad[i][1]), "%s refused: %s", bad[i][0],
           err.msg);
  }
  FILE *f = fopen("cs_test_notpng.png", "w");
  if (f) fputs("not a png\n", f), fclose(f);
  rc = data_load("image:cs_test_notpng.png", 0, &tr, &te, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "cs_test_notpng.png"),
         "a file that is not a PNG refused: %s", err.msg);
  remove(rect), remove(sq), remove("cs_test_notpng.png");
}

int main(void) {
  test_fft_random();
  test_target_transform();
  test_spearman();
  test_tau_psnr();
  /* series at step 0: freq_amp and freq_err (k = 0..50: 51 each), freq_resid (101 bins) */
  check_probe_dft("synth:sines,n=200,freqs=5-10-15-20-25-30-35-40-45-50,test=50", "mlp:1-16-16-1",
                  51 + 51 + 101);
  check_probe_dft("synth:sines2d,n=12,freqs=1-2-3-0-5-5", "mlp:2-16-1", -1);
  test_training_run_level();
  test_probe_errors();
  test_image_data();
  test_image_rgb();
  return tap_done();
}
