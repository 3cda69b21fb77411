/*
 * probe.c: the spectral-bias probe (`--probe spectral:every=K,eps=E`, see spectral.h).
 *
 * At creation: the target's transform T on the grid (the training set), the bin of each
 * target frequency, the FFTW plan and every buffer, so a measurement allocates nothing.
 * Each measurement: one forward pass over the grid (and the test rows for psnr_test),
 * one FFT, then a handful of values per frequency. Next to a training step of the
 * Rahaman net (1-256x5-1, 200 points) that is about one step's forward pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "spectral.h"

#define EVAL_ROWS 4096 /* rows per forward chunk */

typedef struct SpecProbe {
  const Net *net;
  const Dataset *grid; /* the training set: X is the grid, row-major; not owned */
  int dims, nf;
  size_t n, N, C, bins, nshell; /* C: outputs (channels: 3 for an RGB image, else 1) */
  double eps, range; /* τ threshold; peak-to-peak range of the targets (PSNR) */
  SpecFFT *fft;
  NetCache *cache;
  size_t *bin;             /* [nf] bin of each target frequency */
  long *kidx;              /* [nf] series index: k (1-D) or i (2-D) */
  double *knorm;           /* [nf] |k| */
  size_t nidx;             /* length of the freq_amp / freq_err / freq_tau vectors */
  double *T, *F;           /* [C][2 bins] transforms of the target and of the network */
  double *f;               /* [N][C] network on the grid */
  double *col;             /* [N] one channel */
  double *amp, *err, *tau; /* [nf] */
  double *tk;              /* [nf] τ as reported: +∞ or NAN for the unlearned */
  double *vec;             /* [max(nidx, nshell)] series scratch */
  int target_written;      /* image_target recorded */
  char name[16];
} SpecProbe;

int spectral_probe_matches(const char *text) {
  return !strncmp(text, "spectral", 8) && (text[8] == '\0' || text[8] == ':');
}

/* Network outputs on rows X[n] into out[n][C] (out may be NULL) and Σ (f − y)² over them. */
static double eval_rows(SpecProbe *sp, const double *theta, const double *X, const double *Y,
                        size_t n, double *out) {
  const Net *net = sp->net;
  const double *Fo = sp->cache->A[net->nlayers - 1];
  size_t C = sp->C;
  double sse = 0.0;
  for (size_t r0 = 0; r0 < n; r0 += sp->cache->cap) {
    size_t m = n - r0 < sp->cache->cap ? n - r0 : sp->cache->cap;
    net_forward(net, theta, X + r0 * net->d_in, m, sp->cache);
    for (size_t i = 0; i < m * C; i++) {
      double e = Fo[i] - Y[r0 * C + i];
      sse += e * e;
      if (out) out[r0 * C + i] = Fo[i];
    }
  }
  return sse;
}

/* The transforms of each channel of v [N][C] into out [C][2 bins]. */
static void transform_channels(SpecProbe *sp, const double *v, double *out) {
  for (size_t c = 0; c < sp->C; c++) {
    for (size_t i = 0; i < sp->N; i++) sp->col[i] = v[i * sp->C + c];
    spec_fft_apply(sp->fft, sp->col, out + 2 * c * sp->bins);
  }
}

/* The residual's amplitude spectrum R = T − F into v[nshell] (spectral.h). */
static void residual_spectrum(const SpecProbe *sp, double *v) {
  const double *T = sp->T, *F = sp->F;
  if (sp->dims == 1) {
    for (size_t k = 0; k < sp->bins; k++) {
      double re = T[2 * k] - F[2 * k], im = T[2 * k + 1] - F[2 * k + 1];
      double a = sqrt(re * re + im * im);
      v[k] = (k == 0 || 2 * k == sp->n) ? a : 2 * a;
    }
    return;
  }
  size_t n = sp->n, h = n / 2 + 1;
  for (size_t s = 0; s < sp->nshell; s++) v[s] = 0;
  for (size_t c = 0; c < sp->C; c++) /* the channels' energies add */
    for (size_t a = 0; a < n; a++)
      for (size_t b = 0; b < h; b++) {
        size_t q = c * sp->bins + a * h + b;
        double re = T[2 * q] - F[2 * q], im = T[2 * q + 1] - F[2 * q + 1];
        long kx = loss_signed_freq(a, n);
        size_t s = (size_t)lround(sqrt((double)(kx * kx) + (double)(b * b)));
        /* columns 0 < ky < n/2 stand for their mirror image (−kx, −ky) too */
        double mult = (b == 0 || 2 * b == n) ? 1.0 : 2.0;
        if (s < sp->nshell) v[s] += mult * (re * re + im * im);
      }
  for (size_t s = 0; s < sp->nshell; s++) v[s] = sqrt((s ? 2.0 : 1.0) * v[s]);
}

/* Writes vals[nf] as a series indexed by kidx (NAN where no frequency sits). */
static int put_indexed(SpecProbe *sp, Recorder *rec, long step, const char *name,
                       const double *vals, Err *err) {
  for (size_t j = 0; j < sp->nidx; j++) sp->vec[j] = NAN;
  for (int i = 0; i < sp->nf; i++) sp->vec[sp->kidx[i]] = vals[i];
  return rec_series(rec, step, name, sp->nidx, sp->vec, err);
}

/* The run-level results from τ so far (overwritten at every measurement). */
static int put_run_level(SpecProbe *sp, Recorder *rec, double psnr_tr, double psnr_te, Err *err) {
  size_t nf = (size_t)sp->nf, left = 0;
  double lo = INFINITY, hi = 0;
  for (size_t i = 0; i < nf; i++) {
    sp->tk[i] = sp->tau[i] < 0 ? INFINITY : sp->tau[i];
    left += sp->tau[i] < 0;
    if (sp->tau[i] >= 0) lo = fmin(lo, sp->tau[i]), hi = fmax(hi, sp->tau[i]);
  }
  double rho = spec_spearman(sp->knorm, sp->tk, nf);
  double ratio = left == 0 && lo > 0 ? hi / lo : NAN;
  for (size_t i = 0; i < nf; i++) sp->tk[i] = sp->tau[i] < 0 ? NAN : sp->tau[i];
  int rc = CS_OK;
  if (nf) {
    rc = put_indexed(sp, rec, -1, "freq_tau", sp->tk, err);
    if (!rc) rc = rec_metric(rec, -1, "freq_order_spearman", rho, err);
    if (!rc) rc = rec_metric(rec, -1, "freq_unlearned", (double)left, err);
    if (!rc) rc = rec_metric(rec, -1, "freq_tau_ratio", ratio, err);
  } else { /* an image: the fit itself, for the report's picture */
    rc = rec_series(rec, -1, "image_fit", sp->N * sp->C, sp->f, err);
    if (!rc && !sp->target_written)
      rc = rec_series(rec, -1, "image_target", sp->N * sp->C, sp->grid->Y, err);
    sp->target_written = !rc;
  }
  if (!rc) rc = rec_metric(rec, -1, "psnr_train", psnr_tr, err);
  if (!rc && !isnan(psnr_te)) rc = rec_metric(rec, -1, "psnr_test", psnr_te, err);
  return rc;
}

static int probe_run(void *self, TrainState *st, Err *err) {
  SpecProbe *sp = self;
  const Dataset *g = sp->grid;
  double sse = eval_rows(sp, st->theta, g->X, g->Y, sp->N, sp->f);
  transform_channels(sp, sp->f, sp->F);
  double *amp = sp->amp;
  for (int i = 0; i < sp->nf; i++) {
    size_t q = sp->bin[i];
    double fr = sp->F[2 * q], fi = sp->F[2 * q + 1], tr = sp->T[2 * q], ti = sp->T[2 * q + 1];
    amp[i] = 2 * sqrt(fr * fr + fi * fi) / g->amps[i];
    sp->err[i] = sqrt((fr - tr) * (fr - tr) + (fi - ti) * (fi - ti)) / sqrt(tr * tr + ti * ti);
  }
  spec_tau_update(sp->tau, sp->err, (size_t)sp->nf, sp->eps, st->step);
  Recorder *rec = st->rec;
  long t = st->step;
  /* PSNR over every channel: the mean squared error of all N·C values */
  double psnr_tr = spec_psnr(sse / (double)(sp->N * sp->C), sp->range), psnr_te = NAN;
  if (st->test && st->test->n)
    psnr_te = spec_psnr(eval_rows(sp, st->theta, st->test->X, st->test->Y, st->test->n, NULL) /
                            (double)(st->test->n * sp->C),
                        sp->range);
  int rc = CS_OK;
  if (sp->nf) {
    rc = put_indexed(sp, rec, t, "freq_amp", amp, err);
    if (!rc) rc = put_indexed(sp, rec, t, "freq_err", sp->err, err);
  }
  if (!rc) {
    residual_spectrum(sp, sp->vec);
    rc = rec_series(rec, t, "freq_resid", sp->nshell, sp->vec, err);
  }
  if (!rc) rc = rec_metric(rec, t, "psnr_train", psnr_tr, err);
  if (!rc && !isnan(psnr_te)) rc = rec_metric(rec, t, "psnr_test", psnr_te, err);
  if (!rc) rc = put_run_level(sp, rec, psnr_tr, psnr_te, err);
  return rc;
}

static void probe_destroy(void *self) {
  SpecProbe *sp = self;
  if (!sp) return;
  spec_fft_free(sp->fft);
  net_cache_free(sp->cache);
  free(sp->bin), free(sp->kidx), free(sp->knorm);
  free(sp->T), free(sp->F), free(sp->f), free(sp->col), free(sp->amp), free(sp->tk), free(sp->err), free(sp->tau),
      free(sp->vec);
  free(sp);
}

/* The grid, its frequencies and the probe's options, checked before anything is built. */
static int check_grid(const char *text, const Net *net, const Dataset *g, Err *err) {
  if (!g->grid_dims || (g->nfreqs && (!g->freqs || !g->amps)))
    return err_set(err, CS_EINVAL,
                   "--probe %s needs grid data (synth:sines, synth:sines2d, or a square "
                   "image:PATH), not '%s'",
                   text, g->name);
  if (net->d_out != g->k || (g->nfreqs && g->k != 1))
    return err_set(err, CS_EINVAL,
                   "--probe %s needs one output per target (the model has %zu, the data %zu; "
                   "target frequencies need one)",
                   text, net->d_out, g->k);
  if (g->grid_dims == 1 && !g->nfreqs)
    return err_set(err, CS_EINVAL, "--probe %s: the 1-D grid has no target frequencies", text);
  if (g->nfreqs > 64)
    return err_set(err, CS_EINVAL, "--probe %s: more than 64 target frequencies", text);
  for (int i = 0; i < g->nfreqs; i++) {
    double k2 = 0;
    for (int a = 0; a < g->grid_dims; a++)
      k2 += g->freqs[i * g->grid_dims + a] * g->freqs[i * g->grid_dims + a];
    if (k2 == 0 || g->amps[i] == 0)
      return err_set(err, CS_EINVAL,
                     "--probe %s: target component %d has frequency 0 or amplitude 0 (a "
                     "constant has no normalised magnitude)",
                     text, i + 1);
  }
  return CS_OK;
}

int spectral_probe_create(const char *text, const Net *net, const Dataset *train, Probe *out,
                          Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return err_prefix(err, "--probe");
  long every = 100;
  double eps = 0.5;
  int rc = spec_get_int(&s, "every", &every, err);
  if (!rc) rc = spec_get_double(&s, "eps", &eps, err);
  if (!rc) rc = spec_check_unused(&s, 0, err);
  spec_free(&s);
  if (rc) return err_prefix(err, "--probe");
  if (every < 1 || !(eps > 0) || !isfinite(eps))
    return err_set(err, CS_EINVAL, "--probe '%s': need every >= 1 and eps > 0", text);
  if ((rc = check_grid(text, net, train, err))) return rc;

  SpecProbe *sp = calloc(1, sizeof *sp);
  if (!sp) return err_set(err, CS_ENOMEM, "out of memory for a probe");
  sp->net = net;
  sp->grid = train;
  sp->dims = train->grid_dims;
  sp->nf = train->nfreqs;
  sp->n = train->grid_n;
  sp->N = train->n;
  sp->C = train->k;
  sp->eps = eps;
  size_t nf = (size_t)sp->nf, nf1 = nf ? nf : 1, n = sp->n, h = n / 2 + 1;
  sp->fft = spec_fft_alloc(sp->dims, n);
  sp->bins = sp->fft ? spec_fft_bins(sp->fft) : 0;
  /* 2-D shells reach round(√2 · n/2) */
  sp->nshell = sp->dims == 1 ? sp->bins : (size_t)lround(sqrt(2.0) * (double)(n / 2)) + 1;
  sp->bin = malloc(nf1 * sizeof *sp->bin);
  sp->kidx = malloc(nf1 * sizeof *sp->kidx);
  sp->knorm = malloc(nf1 * sizeof *sp->knorm);
  sp->amp = malloc(nf1 * sizeof *sp->amp);
  sp->tk = malloc(nf1 * sizeof *sp->tk);
  sp->err = malloc(nf1 * sizeof *sp->err);
  sp->tau = malloc(nf1 * sizeof *sp->tau);
  sp->T = malloc(2 * (sp->bins + 1) * sp->C * sizeof *sp->T);
  sp->F = malloc(2 * (sp->bins + 1) * sp->C * sizeof *sp->F);
  sp->f = malloc(sp->N * sp->C * sizeof *sp->f);
  sp->col = malloc(sp->N * sizeof *sp->col);
  sp->cache = net_cache_alloc(net, sp->N < EVAL_ROWS ? sp->N : EVAL_ROWS, 0);
  int ok = sp->fft && sp->bin && sp->kidx && sp->knorm && sp->amp && sp->tk && sp->err && sp->tau &&
           sp->T && sp->F && sp->f && sp->col && sp->cache && sp->N == (sp->dims == 1 ? n : n * n);
  if (ok) {
    for (size_t i = 0; i < nf; i++) {
      const double *k = train->freqs + i * (size_t)sp->dims;
      size_t kx = (size_t)k[0], ky = sp->dims == 2 ? (size_t)k[1] : 0;
      sp->bin[i] = sp->dims == 1 ? kx : kx * h + ky;
      sp->kidx[i] = sp->dims == 1 ? (long)kx : (long)i;
      sp->knorm[i] = sqrt((double)(kx * kx + ky * ky));
      sp->tau[i] = -1;
      if ((size_t)sp->kidx[i] + 1 > sp->nidx) sp->nidx = (size_t)sp->kidx[i] + 1;
    }
    size_t nv = sp->nidx > sp->nshell ? sp->nidx : sp->nshell;
    ok = !!(sp->vec = malloc(nv * sizeof *sp->vec));
  }
  if (!ok) {
    probe_destroy(sp);
    return err_set(err, CS_ENOMEM, "out of memory for the spectral probe (grid of %zu)", train->n);
  }
  transform_channels(sp, train->Y, sp->T);
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < sp->N * sp->C; i++) lo = fmin(lo, train->Y[i]), hi = fmax(hi, train->Y[i]);
  sp->range = hi - lo;
  snprintf(sp->name, sizeof sp->name, "spectral");
  *out = (Probe){sp->name, every, sp, probe_run, probe_destroy, NULL};
  return CS_OK;
}
