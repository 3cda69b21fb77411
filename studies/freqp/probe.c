/*
 * probe.c: the frequency-principle probe (`--probe freqp:every=K,delta=D,eps=E`, freqp.h).
 *
 * At creation: the filter W on the training inputs (one n × n matrix), the targets' parts
 * y^low = W y and y^high = y − y^low, and every buffer. Each measurement: one forward pass
 * over the training set (softmax under cross-entropy), one GEMM h^low = W h, two norms.
 * τ bookkeeping is the spectral probe's (spec_tau_update: the first measured step with
 * e < eps).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "freqp.h"
#include "studies/spectral/spectral.h"

#define EVAL_ROWS 4096 /* rows per forward chunk */

typedef struct FreqProbe {
  const Net *net;
  const Dataset *train;
  LossKind loss;
  size_t n, k, m; /* m = n·k */
  double eps;
  FreqFilter *filt;
  NetCache *cache;
  double *ylow, *yhigh;     /* [n][k] the targets' parts */
  double *h, *hlow, *hhigh; /* [n][k] the network's */
  double *aux;              /* [EVAL_ROWS][k] softmax scratch */
  double tau[2];            /* low, high; < 0 until reached */
  long measured, ahead;     /* measurements after the first, and those with e_low < e_high */
  long t0;                  /* step of the first measurement (-1: none yet) */
  char name[8];
} FreqProbe;

int freqp_probe_matches(const char *text) {
  return !strncmp(text, "freqp", 5) && (text[5] == '\0' || text[5] == ':');
}

/* The network's output on the training set into fp->h: F, or softmax(F) under CE. */
static void outputs(FreqProbe *fp, const double *theta) {
  const Net *net = fp->net;
  const double *F = fp->cache->A[net->nlayers - 1];
  size_t k = fp->k;
  for (size_t r0 = 0; r0 < fp->n; r0 += fp->cache->cap) {
    size_t m = fp->n - r0 < fp->cache->cap ? fp->n - r0 : fp->cache->cap;
    net_forward(net, theta, fp->train->X + r0 * net->d_in, m, fp->cache);
    if (fp->loss == LOSS_CE) {
      loss_eval(LOSS_CE, NULL, m, k, F, fp->train->Y + r0 * k, 0.0, NULL, fp->aux);
      memcpy(fp->h + r0 * k, fp->aux, m * k * sizeof *fp->h);
    } else {
      memcpy(fp->h + r0 * k, F, m * k * sizeof *fp->h);
    }
  }
}

/* The run's constants: δ, its scale and the targets' low share ‖y^low‖/‖y‖. */
static int record_constants(const FreqProbe *fp, Recorder *rec, Err *err) {
  double ynorm = 0, lnorm = 0;
  for (size_t i = 0; i < fp->m; i++)
    ynorm += fp->train->Y[i] * fp->train->Y[i], lnorm += fp->ylow[i] * fp->ylow[i];
  int rc = rec_metric(rec, -1, "freqp_delta", freqp_filter_delta(fp->filt), err);
  if (!rc) rc = rec_metric(rec, -1, "freqp_median_d2", freqp_filter_median_d2(fp->filt), err);
  if (!rc)
    rc = rec_metric(rec, -1, "freqp_low_share", ynorm > 0 ? sqrt(lnorm / ynorm) : NAN, err);
  return rc;
}

static int probe_run(void *self, TrainState *st, Err *err) {
  FreqProbe *fp = self;
  int rc0 = fp->t0 < 0 ? record_constants(fp, st->rec, err) : CS_OK;
  if (rc0) return rc0;
  outputs(fp, st->theta);
  freqp_filter_low(fp->filt, fp->h, fp->k, fp->hlow);
  for (size_t i = 0; i < fp->m; i++) fp->hhigh[i] = fp->h[i] - fp->hlow[i];
  double e[2] = {freqp_rel_err(fp->ylow, fp->hlow, fp->m),
                 freqp_rel_err(fp->yhigh, fp->hhigh, fp->m)};
  long t = st->step;
  if (fp->t0 < 0) fp->t0 = t;
  else fp->measured++, fp->ahead += e[0] < e[1];
  spec_tau_update(fp->tau, e, 2, fp->eps, t);
  Recorder *rec = st->rec;
  int rc = rec_metric(rec, t, "freqp_e_low", e[0], err);
  if (!rc) rc = rec_metric(rec, t, "freqp_e_high", e[1], err);
  /* run-level, rewritten so the last measurement stands */
  if (!rc && fp->tau[0] >= 0) rc = rec_metric(rec, -1, "freqp_tau_low", fp->tau[0], err);
  if (!rc && fp->tau[1] >= 0) rc = rec_metric(rec, -1, "freqp_tau_high", fp->tau[1], err);
  if (!rc && (fp->tau[0] >= 0 || fp->tau[1] >= 0)) {
    int first = fp->tau[0] >= 0 && (fp->tau[1] < 0 || fp->tau[0] < fp->tau[1]);
    rc = rec_metric(rec, -1, "freqp_low_first", first, err);
  }
  if (!rc && fp->measured)
    rc = rec_metric(rec, -1, "freqp_low_ahead", (double)fp->ahead / (double)fp->measured, err);
  return rc;
}

static void probe_destroy(void *self) {
  FreqProbe *fp = self;
  if (!fp) return;
  freqp_filter_free(fp->filt);
  net_cache_free(fp->cache);
  free(fp->ylow), free(fp->yhigh), free(fp->h), free(fp->hlow), free(fp->hhigh), free(fp->aux);
  free(fp);
}

int freqp_probe_create(const char *text, const Net *net, const Dataset *train, LossKind loss,
                       Probe *out, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return err_prefix(err, "--probe");
  long every = 10;
  double delta = 0, eps = 0.1;
  int rc = spec_get_int(&s, "every", &every, err);
  if (!rc) rc = spec_get_double(&s, "delta", &delta, err);
  if (!rc) rc = spec_get_double(&s, "eps", &eps, err);
  if (!rc) rc = spec_check_unused(&s, 0, err);
  spec_free(&s);
  if (rc) return err_prefix(err, "--probe %s", text);
  if (every < 1 || !(delta >= 0) || !isfinite(delta) || !(eps > 0) || !isfinite(eps))
    return err_set(err, CS_EINVAL, "--probe '%s': need every >= 1, delta >= 0 (0: from the "
                   "data) and eps > 0", text);
  if (loss != LOSS_MSE && loss != LOSS_CE)
    return err_set(err, CS_EINVAL, "--probe %s needs --loss mse or ce", text);
  if (!train->Y || train->k != net->d_out)
    return err_set(err, CS_EINVAL, "--probe %s: the training set has %zu targets per row, the "
                   "model %zu outputs", text, train->Y ? train->k : 0, net->d_out);
  FreqProbe *fp = calloc(1, sizeof *fp);
  if (!fp) return err_set(err, CS_ENOMEM, "out of memory for the freqp probe");
  fp->net = net;
  fp->train = train;
  fp->loss = loss;
  fp->n = train->n;
  fp->k = net->d_out;
  fp->m = fp->n * fp->k;
  fp->eps = eps;
  fp->tau[0] = fp->tau[1] = -1;
  fp->t0 = -1;
  if (!(fp->filt = freqp_filter_alloc(train->X, train->n, train->d, delta, err))) {
    probe_destroy(fp);
    return err_prefix(err, "--probe %s", text);
  }
  size_t cap = fp->n < EVAL_ROWS ? fp->n : EVAL_ROWS;
  fp->cache = net_cache_alloc(net, cap, 0);
  fp->ylow = malloc(fp->m * sizeof *fp->ylow);
  fp->yhigh = malloc(fp->m * sizeof *fp->yhigh);
  fp->h = malloc(fp->m * sizeof *fp->h);
  fp->hlow = malloc(fp->m * sizeof *fp->hlow);
  fp->hhigh = malloc(fp->m * sizeof *fp->hhigh);
  fp->aux = malloc(cap * fp->k * sizeof *fp->aux);
  if (!fp->cache || !fp->ylow || !fp->yhigh || !fp->h || !fp->hlow || !fp->hhigh || !fp->aux) {
    probe_destroy(fp);
    return err_set(err, CS_ENOMEM, "out of memory for the freqp probe");
  }
  freqp_filter_low(fp->filt, train->Y, fp->k, fp->ylow);
  for (size_t i = 0; i < fp->m; i++) fp->yhigh[i] = train->Y[i] - fp->ylow[i];
  snprintf(fp->name, sizeof fp->name, "freqp");
  *out = (Probe){fp->name, every, fp, probe_run, probe_destroy, NULL};
  return CS_OK;
}
