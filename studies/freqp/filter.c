/*
 * filter.c: the Gaussian filter on the data (freqp.h). Squared distances come from one
 * Gram matrix, ‖x_i‖² + ‖x_j‖² − 2⟨x_i, x_j⟩ (clamped at 0, exact 0 on the diagonal); the
 * row sums include the point itself (weight 1), so they never underflow.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "freqp.h"

struct FreqFilter {
  size_t n;
  double delta, median_d2;
  double *W; /* [n][n] row-normalised */
};

static void swap(double *v, size_t a, size_t b) {
  double t = v[a];
  v[a] = v[b], v[b] = t;
}

/* Quickselect with a three-way partition (duplicates are common: equal images): on return
 * v[want] holds the want-th smallest and every v[i], i < want, is <= it. */
static void select_kth(double *v, size_t m, size_t want) {
  size_t lo = 0, hi = m - 1;
  while (lo < hi) {
    double p = v[lo + (hi - lo) / 2];
    size_t lt = lo, gt = hi, x = lo;
    while (x <= gt) { /* v[lo, lt) < p, v[lt, x) == p, v(gt, hi] > p */
      if (v[x] < p) swap(v, lt++, x++);
      else if (v[x] > p) swap(v, x, gt--); /* gt > lt here: p itself lies in v[x, gt] */
      else x++;
    }
    if (want < lt) hi = lt - 1;
    else if (want > gt) lo = gt + 1;
    else return;
  }
}

/* The median of v [m] (reordered). */
static double median(double *v, size_t m) {
  size_t want = m / 2;
  select_kth(v, m, want);
  if (m % 2) return v[want];
  double below = v[0]; /* the (want−1)-th smallest: the largest of v[0, want) */
  for (size_t i = 1; i < want; i++)
    if (v[i] > below) below = v[i];
  return 0.5 * (below + v[want]);
}

FreqFilter *freqp_filter_alloc(const double *X, size_t n, size_t d, double delta, Err *err) {
  if (n < 2 || n > FREQP_MAX_N) {
    err_set(err, CS_EINVAL, "the frequency filter needs 2 to %d training inputs (got %zu)",
            FREQP_MAX_N, n);
    return NULL;
  }
  FreqFilter *f = calloc(1, sizeof *f);
  double *sq = malloc(n * sizeof *sq);
  double *off = malloc(n * (n - 1) / 2 * sizeof *off);
  if (f) f->W = malloc(n * n * sizeof *f->W);
  if (!f || !f->W || !sq || !off) {
    free(sq), free(off), freqp_filter_free(f);
    err_set(err, CS_ENOMEM, "out of memory for the %zu x %zu frequency filter", n, n);
    return NULL;
  }
  f->n = n;
  double *W = f->W;
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0, X, (int)d, 0.0, W,
              (int)n);
  for (size_t i = 0; i < n; i++) sq[i] = W[i * n + i];
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    W[i * n + i] = 0;
    for (size_t j = i + 1; j < n; j++) {
      double d2 = sq[i] + sq[j] - 2 * W[i * n + j];
      W[i * n + j] = W[j * n + i] = d2 > 0 ? d2 : 0;
      off[m++] = W[i * n + j];
    }
  }
  f->median_d2 = median(off, m);
  f->delta = delta > 0 ? delta : FREQP_DELTA_FRAC * f->median_d2;
  free(sq), free(off);
  if (!(f->delta > 0)) {
    err_set(err, CS_EINVAL, "the training inputs are all equal: no default δ (give --delta)");
    freqp_filter_free(f);
    return NULL;
  }
  double c = -0.5 / f->delta;
  for (size_t i = 0; i < n; i++) {
    double *row = W + i * n, s = 0;
    for (size_t j = 0; j < n; j++) s += row[j] = exp(c * row[j]);
    for (size_t j = 0; j < n; j++) row[j] /= s;
  }
  return f;
}

void freqp_filter_free(FreqFilter *f) {
  if (!f) return;
  free(f->W);
  free(f);
}

double freqp_filter_delta(const FreqFilter *f) { return f->delta; }
double freqp_filter_median_d2(const FreqFilter *f) { return f->median_d2; }

void freqp_filter_low(const FreqFilter *f, const double *G, size_t k, double *low) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)f->n, (int)k, (int)f->n, 1.0, f->W,
              (int)f->n, G, (int)k, 0.0, low, (int)k);
}

double freqp_rel_err(const double *a, const double *b, size_t m) {
  double num = 0, den = 0;
  for (size_t i = 0; i < m; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += a[i] * a[i];
  return den > 0 ? sqrt(num / den) : NAN;
}
