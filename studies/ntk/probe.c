/*
 * probe.c: the NTK probe (`--probe ntk:every=K,k=20,...`, see ntk.h and docs/NTK.md).
 *
 * At creation every buffer: the dense workspace and K_0 (dense path) or the Curvature,
 * the per-layer operators and the drift's fixed vectors (matrix-free), the FFT plan on
 * grid data. The first measurement (step 0 in a run) fixes the reference: K_0 (or K_0 Z),
 * its eigenvectors V_0 and eigenvalues λ⁰, and the projections p_i(0) = ⟨v⁰_i, f − y⟩.
 * Each later measurement projects the residual on the same V_0, so ntk_proj follows one
 * fixed basis whatever the kernel does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/spec.h"
#include "ntk.h"
#include "studies/spectral/spectral.h"

#define DENSE_AUTO_MAX 1024 /* dense=auto: the Gram path up to N = n·d_out of this */
#define LANCZOS_TOL 1e-8
#define LANCZOS_SEED 20260101u

typedef struct NtkProbe {
  const Net *net;
  const Dataset *train;
  size_t n, N;
  int k, nl, dense, layers, nz;
  long t1;                       /* step of the rates (< 0: each pair's predicted half-life) */
  long t0;                       /* step of the reference measurement (-1: none yet) */
  /* dense */
  NtkDense *dw;
  double *K, *K0, *Kl, *scratch;
  /* matrix-free */
  Curvature *curv;
  NtkMaskOp *mask[NET_MAX_LAYERS];
  double *Z, *K0Z, *KZ;          /* [nz][N] */
  /* both */
  NetCache *cache;               /* outputs */
  double *r;                     /* [N] residual f − y */
  double *vals, *vecs;           /* [k], [k][N] this measurement */
  double *lvals, *lvecs;         /* per layer: [nl][k], [nl][k][N] */
  double *vals0, *V0, *p0, *p;   /* reference eigenpairs and projections */
  double *meas, *pred, *freq;    /* [k] */
  double *rate_at;               /* [k] step of meas[i]; NAN before a rate was measured */
  int *rate_final;               /* [k] 1 once meas[i] was taken at its chosen step */
  double drift, rate_corr, rate_agree, freq_order, eig_ratio;
  SpecFFT *fft;                  /* grid data with one output, else NULL */
  double *Fbuf;                  /* [2 bins] */
  char name[8];
} NtkProbe;

int ntk_probe_matches(const char *text) {
  return !strncmp(text, "ntk", 3) && (text[3] == '\0' || text[3] == ':');
}

/* The kernel at θ and its top pairs (whole, then per layer when asked). */
static int measure_kernel(NtkProbe *np, const double *theta, Err *err) {
  const Dataset *d = np->train;
  size_t N = np->N;
  int rc;
  if (np->dense) {
    rc = ntk_dense_kernel(np->dw, theta, d->X, np->n, np->K, np->layers ? np->Kl : NULL, err);
    if (!rc) rc = ntk_dense_top(N, np->K, np->k, np->vals, np->vecs, np->scratch, err);
    for (int t = 0; !rc && np->layers && t < np->nl; t++)
      rc = ntk_dense_top(N, np->Kl + (size_t)t * N * N, np->k, np->lvals + (size_t)t * np->k,
                         np->lvecs + (size_t)t * np->k * N, np->scratch, err);
    return rc;
  }
  Batch b = {d->X, d->Y, NULL, np->n, NULL, NULL};
  if ((rc = curv_build(np->curv, theta, &b, err))) return rc;
  Linop op = curv_ntk_op(np->curv);
  rc = ntk_lanczos_top(&op, np->k, LANCZOS_TOL, LANCZOS_SEED, np->vals, np->vecs, NULL, err);
  for (int t = 0; !rc && np->layers && t < np->nl; t++) {
    Linop lo = ntk_mask_op_linop(np->mask[t]);
    rc = ntk_lanczos_top(&lo, np->k, LANCZOS_TOL, LANCZOS_SEED, np->lvals + (size_t)t * np->k,
                         np->lvecs + (size_t)t * np->k * N, NULL, err);
  }
  for (int j = 0; !rc && j < np->nz; j++)
    rc = op.apply(op.self, np->Z + (size_t)j * N, np->KZ + (size_t)j * N);
  return rc;
}

/* ‖K − K_0‖_F / ‖K_0‖_F, exact (dense) or from the fixed vectors Z (matrix-free). */
static double kernel_drift(const NtkProbe *np) {
  const double *A = np->dense ? np->K : np->KZ, *B = np->dense ? np->K0 : np->K0Z;
  size_t m = np->dense ? np->N * np->N : (size_t)np->nz * np->N;
  double num = 0, den = 0;
  for (size_t i = 0; i < m; i++) num += (A[i] - B[i]) * (A[i] - B[i]), den += B[i] * B[i];
  return den > 0 ? sqrt(num / den) : NAN;
}

/* Dominant frequency of each of k vectors into out (NAN off grid data). */
static void vector_freqs(NtkProbe *np, const double *V, double *out) {
  for (int i = 0; i < np->k; i++) {
    if (!np->fft) {
      out[i] = NAN;
      continue;
    }
    spec_fft_apply(np->fft, V + (size_t)i * np->N, np->Fbuf);
    out[i] = ntk_dominant_freq(np->train->grid_dims, np->train->grid_n, np->Fbuf);
  }
}

static void residual(NtkProbe *np, const double *theta) {
  const Net *net = np->net;
  const Dataset *d = np->train;
  size_t k = net->d_out;
  for (size_t r0 = 0; r0 < np->n; r0 += np->cache->cap) {
    size_t m = np->n - r0 < np->cache->cap ? np->n - r0 : np->cache->cap;
    net_forward(net, theta, d->X + r0 * net->d_in, m, np->cache);
    const double *F = np->cache->A[net->nlayers - 1];
    for (size_t i = 0; i < m * k; i++) np->r[r0 * k + i] = F[i] - d->Y[r0 * k + i];
  }
}

/* The reference: K_0, its pairs, the projections at t0, and the init-only numbers. */
static void set_reference(NtkProbe *np, long step) {
  size_t N = np->N, kk = (size_t)np->k;
  np->t0 = step;
  if (np->dense) memcpy(np->K0, np->K, N * N * sizeof *np->K0);
  else memcpy(np->K0Z, np->KZ, (size_t)np->nz * N * sizeof *np->K0Z);
  memcpy(np->vals0, np->vals, kk * sizeof *np->vals0);
  memcpy(np->V0, np->vecs, kk * N * sizeof *np->V0);
  double *idx = np->meas; /* scratch: the eigenvalue rank 1..k */
  for (size_t i = 0; i < kk; i++) idx[i] = (double)(i + 1);
  vector_freqs(np, np->V0, np->freq);
  np->freq_order = spec_spearman(idx, np->freq, kk);
  np->eig_ratio = np->vals0[0] > 0 ? np->vals0[kk - 1] / np->vals0[0] : NAN;
}

static int put_series_prefixed(Recorder *rec, long step, const char *name, int layer, size_t n,
                               const double *v, Err *err) {
  char full[48];
  if (layer < 0) snprintf(full, sizeof full, "%s", name);
  else snprintf(full, sizeof full, "%s_layer%d", name, layer);
  return rec_series(rec, step, full, n, v, err);
}

/* The measured rates at step t. With t1 given, every pair's rate is taken at the first
 * measurement at or after t1. Otherwise each pair i is measured at its own predicted
 * half-life, the first measurement where pred_i·(t − t0) >= log 2 (a decay large enough to
 * measure, before the pair's projection is lost in the nonlinear remainder), and until
 * then at the latest measurement. Returns 1 when a rate changed. */
static int update_rates(NtkProbe *np, double lr, long t) {
  int changed = 0;
  for (int i = 0; i < np->k; i++) {
    if (np->rate_final[i]) continue;
    np->pred[i] = ntk_predicted_rate(lr, np->vals0[i], np->n);
    int final = np->t1 >= 0 ? t >= np->t1 : np->pred[i] * (double)(t - np->t0) >= log(2.0);
    if (np->t1 >= 0 && !final) continue;
    np->meas[i] = ntk_measured_rate(np->p0[i], np->p[i], t - np->t0);
    np->rate_at[i] = (double)t;
    np->rate_final[i] = final;
    changed = 1;
  }
  return changed;
}

static int probe_run(void *self, TrainState *st, Err *err) {
  NtkProbe *np = self;
  size_t N = np->N, kk = (size_t)np->k;
  int rc = measure_kernel(np, st->theta, err);
  if (rc) return err_prefix(err, "ntk probe at step %ld", st->step);
  residual(np, st->theta);
  if (np->t0 < 0) set_reference(np, st->step);
  for (size_t i = 0; i < kk; i++) {
    double s = 0;
    for (size_t r = 0; r < N; r++) s += np->V0[i * N + r] * np->r[r];
    np->p[i] = s;
  }
  if (st->step == np->t0) memcpy(np->p0, np->p, kk * sizeof *np->p0);
  np->drift = kernel_drift(np);
  Recorder *rec = st->rec;
  long t = st->step;
  rc = rec_series(rec, t, "ntk_eig", kk, np->vals, err);
  if (!rc) rc = rec_series(rec, t, "ntk_proj", kk, np->p, err);
  if (!rc && np->fft) {
    vector_freqs(np, np->vecs, np->freq);
    rc = rec_series(rec, t, "ntk_eigvec_freq", kk, np->freq, err);
  }
  for (int l = 0; !rc && np->layers && l < np->nl; l++) {
    rc = put_series_prefixed(rec, t, "ntk_eig", l, kk, np->lvals + (size_t)l * kk, err);
    if (!rc && np->fft) {
      vector_freqs(np, np->lvecs + (size_t)l * kk * N, np->freq);
      rc = put_series_prefixed(rec, t, "ntk_eigvec_freq", l, kk, np->freq, err);
    }
  }
  if (!rc) rc = rec_metric(rec, t, "ntk_drift", np->drift, err);
  if (!rc && t > np->t0 && update_rates(np, st->lr, t)) {
    np->rate_corr = spec_spearman(np->pred, np->meas, kk);
    np->rate_agree = (double)ntk_rates_agree(np->meas, np->pred, kk, NTK_AGREE_TOL);
    rc = rec_series(rec, -1, "ntk_rate", kk, np->meas, err);
    if (!rc) rc = rec_series(rec, -1, "ntk_rate_pred", kk, np->pred, err);
    if (!rc) rc = rec_series(rec, -1, "ntk_rate_step", kk, np->rate_at, err);
  }
  /* run-level numbers, rewritten at each measurement so the last stands */
  if (!rc) rc = rec_metric(rec, -1, "ntk_drift", np->drift, err);
  if (!rc && !isnan(np->rate_corr)) rc = rec_metric(rec, -1, "ntk_rate_corr", np->rate_corr, err);
  if (!rc && !isnan(np->rate_agree))
    rc = rec_metric(rec, -1, "ntk_rate_agree", np->rate_agree, err);
  if (!rc && np->fft) rc = rec_metric(rec, -1, "ntk_freq_order", np->freq_order, err);
  if (!rc) rc = rec_metric(rec, -1, "ntk_eig_ratio", np->eig_ratio, err);
  return rc;
}

static void probe_destroy(void *self) {
  NtkProbe *np = self;
  if (!np) return;
  ntk_dense_free(np->dw);
  curv_free(np->curv);
  for (int t = 0; t < NET_MAX_LAYERS; t++) ntk_mask_op_free(np->mask[t]);
  net_cache_free(np->cache);
  spec_fft_free(np->fft);
  free(np->K), free(np->K0), free(np->Kl), free(np->scratch);
  free(np->Z), free(np->K0Z), free(np->KZ);
  free(np->r), free(np->vals), free(np->vecs), free(np->lvals), free(np->lvecs);
  free(np->vals0), free(np->V0), free(np->p0), free(np->p);
  free(np->meas), free(np->pred), free(np->freq), free(np->Fbuf);
  free(np->rate_at), free(np->rate_final);
  free(np);
}

typedef struct NtkOpts {
  long every, k, t1, probes;
  int dense, layers; /* dense: -1 auto */
} NtkOpts;

static int parse_opts(const char *text, NtkOpts *o, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return err_prefix(err, "--probe");
  const char *dense = "auto";
  int rc = spec_get_int(&s, "every", &o->every, err);
  if (!rc) rc = spec_get_int(&s, "k", &o->k, err);
  if (!rc) rc = spec_get_int(&s, "t1", &o->t1, err);
  if (!rc) rc = spec_get_int(&s, "probes", &o->probes, err);
  if (!rc) rc = spec_get_bool(&s, "layers", &o->layers, err);
  if (!rc) rc = spec_get_str(&s, "dense", &dense);
  if (!rc) {
    if (!strcmp(dense, "auto")) o->dense = -1;
    else if (!strcmp(dense, "yes") || !strcmp(dense, "true")) o->dense = 1;
    else if (!strcmp(dense, "no") || !strcmp(dense, "false")) o->dense = 0;
    else rc = err_set(err, CS_EINVAL, "dense '%s' (use auto, yes or no)", dense);
  }
  if (!rc) rc = spec_check_unused(&s, 0, err);
  spec_free(&s);
  if (rc) return err_prefix(err, "--probe %s", text);
  if (o->every < 1 || o->k < 1 || o->k > 1000 || o->probes < 1 || o->probes > 1000)
    return err_set(err, CS_EINVAL,
                   "--probe '%s': need every >= 1, k in 1..1000 and probes in 1..1000", text);
  return CS_OK;
}

/* Allocates everything a measurement needs; 0 on out of memory. */
static int probe_alloc(NtkProbe *np, Err *err) {
  const Net *net = np->net;
  size_t N = np->N, kk = (size_t)np->k, nl = (size_t)np->nl, lk = np->layers ? nl : 1;
  np->cache = net_cache_alloc(net, np->n < 4096 ? np->n : 4096, 0);
  np->r = malloc(N * sizeof *np->r);
  np->vals = malloc(kk * sizeof *np->vals);
  np->vecs = malloc(kk * N * sizeof *np->vecs);
  np->lvals = malloc(lk * kk * sizeof *np->lvals);
  np->lvecs = malloc(lk * kk * N * sizeof *np->lvecs);
  np->vals0 = malloc(kk * sizeof *np->vals0);
  np->V0 = malloc(kk * N * sizeof *np->V0);
  np->p0 = malloc(kk * sizeof *np->p0);
  np->p = malloc(kk * sizeof *np->p);
  np->meas = malloc(kk * sizeof *np->meas);
  np->pred = malloc(kk * sizeof *np->pred);
  np->freq = malloc(kk * sizeof *np->freq);
  np->rate_at = malloc(kk * sizeof *np->rate_at);
  np->rate_final = calloc(kk, sizeof *np->rate_final);
  int ok = np->cache && np->r && np->vals && np->vecs && np->lvals && np->lvecs && np->vals0 &&
           np->V0 && np->p0 && np->p && np->meas && np->pred && np->freq && np->rate_at &&
           np->rate_final;
  if (ok && np->dense) {
    np->dw = ntk_dense_alloc(net, np->n, err);
    np->K = malloc(N * N * sizeof *np->K);
    np->K0 = malloc(N * N * sizeof *np->K0);
    np->Kl = np->layers ? malloc(nl * N * N * sizeof *np->Kl) : NULL;
    np->scratch = malloc(ntk_eig_scratch_size(N) * sizeof *np->scratch);
    ok = np->dw && np->K && np->K0 && (np->Kl || !np->layers) && np->scratch;
  } else if (ok) {
    np->curv = curv_alloc(net, LOSS_MSE, np->n, 0, err);
    np->Z = malloc((size_t)np->nz * N * sizeof *np->Z);
    np->K0Z = malloc((size_t)np->nz * N * sizeof *np->K0Z);
    np->KZ = malloc((size_t)np->nz * N * sizeof *np->KZ);
    ok = np->curv && np->Z && np->K0Z && np->KZ;
    for (int t = 0; ok && np->layers && t < np->nl; t++) {
      size_t rg[2];
      ntk_layer_range(net, t, rg);
      ok = !!(np->mask[t] = ntk_mask_op_alloc(np->curv, rg, 1, err));
    }
    if (ok) {
      Rng rng;
      rng_seed(&rng, LANCZOS_SEED);
      for (size_t i = 0; i < (size_t)np->nz * N; i++)
        np->Z[i] = rng_uniform(&rng) < 0.5 ? -1.0 : 1.0;
    }
  }
  const Dataset *d = np->train;
  if (ok && d->grid_dims && net->d_out == 1 && d->n == (d->grid_dims == 1 ? d->grid_n
                                                                          : d->grid_n * d->grid_n)) {
    np->fft = spec_fft_alloc(d->grid_dims, d->grid_n);
    np->Fbuf = np->fft ? malloc(2 * (spec_fft_bins(np->fft) + 1) * sizeof *np->Fbuf) : NULL;
    ok = np->fft && np->Fbuf;
  }
  return ok;
}

int ntk_probe_create(const char *text, const Net *net, const Dataset *train, LossKind loss,
                     const OptimizerType *opt, Probe *out, Err *err) {
  (void)opt;
  NtkOpts o = {10, 20, -1, 8, -1, 1};
  int rc = parse_opts(text, &o, err);
  if (rc) return rc;
  if (loss != LOSS_MSE)
    return err_set(err, CS_EINVAL, "--probe %s needs --loss mse (the kernel view of ½·mean‖f−y‖²)",
                   text);
  size_t N = train->n * net->d_out;
  int dense = o.dense < 0 ? N <= DENSE_AUTO_MAX : o.dense;
  if ((size_t)o.k > N || (!dense && (size_t)o.k * 2 + 1 > N))
    return err_set(err, CS_EINVAL, "--probe %s: k = %ld is too large for a %zu x %zu kernel%s",
                   text, o.k, N, N, dense ? "" : " (matrix-free needs 2k < n·d_out)");
  NtkProbe *np = calloc(1, sizeof *np);
  if (!np) return err_set(err, CS_ENOMEM, "out of memory for the ntk probe");
  np->net = net;
  np->train = train;
  np->n = train->n;
  np->N = N;
  np->k = (int)o.k;
  np->nl = ntk_nlayers(net);
  np->dense = dense;
  np->layers = o.layers;
  np->nz = (int)o.probes;
  np->t1 = o.t1;
  np->t0 = -1;
  np->drift = np->rate_corr = np->rate_agree = np->freq_order = np->eig_ratio = NAN;
  Err e2 = {0};
  if (!probe_alloc(np, &e2)) {
    probe_destroy(np);
    return err_set(err, CS_ENOMEM, "out of memory for the ntk probe (%zu x %zu kernel%s)", N, N,
                   dense ? ", dense" : "");
  }
  for (size_t i = 0; i < (size_t)o.k; i++) np->meas[i] = np->pred[i] = np->rate_at[i] = NAN;
  snprintf(np->name, sizeof np->name, "ntk");
  *out = (Probe){np->name, o.every, np, probe_run, probe_destroy, NULL};
  return CS_OK;
}

int ntk_lambda_max(const Net *net, const double *theta, const Dataset *train, double *lmax,
                   Err *err) {
  size_t N = train->n * net->d_out;
  Probe p;
  int rc = ntk_probe_create(N > 2 ? "ntk:layers=false,k=1" : "ntk:layers=false,k=1,dense=yes", net,
                            train, LOSS_MSE, NULL, &p, err);
  if (rc) return rc;
  NtkProbe *np = p.self;
  rc = measure_kernel(np, theta, err);
  if (!rc) *lmax = np->vals[0];
  p.destroy(p.self);
  return rc;
}
