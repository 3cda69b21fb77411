/* loss_metric.c: the Sobolev loss's metric M = 𝓕ᴴ diag((1+|k|²)^s) 𝓕 on a grid (loss.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"

double loss_sobolev_weight(double k2, double s) { return pow(1.0 + k2, s); }

long loss_signed_freq(size_t b, size_t n) { return b <= n / 2 ? (long)b : (long)b - (long)n; }

LossMetric *loss_metric_new(size_t n, size_t k, double s,
                            void (*apply)(void *, const double *, double *), void *ctx,
                            void (*ctx_free)(void *), Err *err) {
  LossMetric *m = calloc(1, sizeof *m);
  if (m) {
    *m = (LossMetric){n, k, s, apply, ctx, ctx_free, malloc(n * k * sizeof(double)),
                      malloc(n * k * sizeof(double))};
    if (m->resid && m->mr) return m;
  }
  if (m) loss_metric_free(m);
  else if (ctx_free) ctx_free(ctx);
  err_set(err, CS_ENOMEM, "out of memory for the Sobolev metric (%zu grid points)", n);
  return NULL;
}

void loss_metric_free(LossMetric *m) {
  if (!m) return;
  if (m->ctx_free) m->ctx_free(m->ctx);
  free(m->resid);
  free(m->mr);
  free(m);
}

void loss_metric_apply(const LossMetric *m, const double *R, double *out) {
  if (m->s == 0.0) memcpy(out, R, m->n * m->k * sizeof *out); /* M = I: MSE's bits */
  else m->apply(m->ctx, R, out);
}

/* The 1-D circulant: c [n] and the sizes, for a direct O(n²) product (n = 200 costs
 * 40 000 multiply-adds a column, nothing beside a forward pass). */
typedef struct Circulant {
  size_t n, k;
  double c[];
} Circulant;

static void circulant_apply(void *ctx, const double *R, double *out) {
  const Circulant *cc = ctx;
  size_t n = cc->n, k = cc->k;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < k; j++) {
      double acc = 0.0;
      for (size_t m = 0; m < n; m++) acc += cc->c[(i + n - m) % n] * R[m * k + j];
      out[i * k + j] = acc;
    }
}

LossMetric *loss_metric_grid1d(size_t n, size_t k, double s, Err *err) {
  Circulant *cc = malloc(sizeof *cc + n * sizeof(double));
  if (!cc) {
    err_set(err, CS_ENOMEM, "out of memory for the Sobolev metric (%zu grid points)", n);
    return NULL;
  }
  cc->n = n;
  cc->k = k;
  const double pi = acos(-1.0);
  for (size_t m = 0; m < n; m++) {
    double acc = 0.0;
    for (size_t b = 0; b < n; b++) {
      double kb = (double)loss_signed_freq(b, n);
      acc += loss_sobolev_weight(kb * kb, s) * cos(2.0 * pi * (double)((b * m) % n) / (double)n);
    }
    cc->c[m] = acc / (double)n;
  }
  return loss_metric_new(n, k, s, circulant_apply, cc, free, err);
}
