/*
 * dataset.c: the in-memory Dataset: allocation, row subsets, column statistics,
 * standardisation and accuracy (see dataset.h).
 *
 * A Dataset is three row-major arrays (X [n][d], Y [n][k], labels [n]) plus
 * optional ground truth from the synthetic generators. Arrays of zero size are
 * NULL, so an empty test split costs nothing. Workload: called once per run to
 * build and standardise the data, and by the training loop for accuracy.
 */
#include "dataset.h"

#include "comm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* calloc that returns NULL for zero elements and checks n * size for overflow. */
static void *alloc_array(size_t n, size_t size, int *fail) {
  if (n == 0 || size == 0) return NULL;
  if (n > SIZE_MAX / size) {
    *fail = 1;
    return NULL;
  }
  void *p = calloc(n, size);
  if (!p) *fail = 1;
  return p;
}

Dataset *dataset_alloc(size_t n, size_t d, size_t k, int with_labels) {
  Dataset *ds = calloc(1, sizeof *ds);
  if (!ds) return NULL;
  ds->n = n;
  ds->d = d;
  ds->k = k;
  int fail = 0;
  if (d && n > SIZE_MAX / d) fail = 1;
  if (k && n > SIZE_MAX / k) fail = 1;
  if (!fail) {
    ds->X = alloc_array(n * d, sizeof *ds->X, &fail);
    ds->Y = alloc_array(n * k, sizeof *ds->Y, &fail);
    if (with_labels) {
      ds->labels = alloc_array(n, sizeof *ds->labels, &fail);
      /* labels != NULL marks classification, even for an empty split. */
      if (!ds->labels && !fail) ds->labels = calloc(1, sizeof *ds->labels);
      if (!ds->labels) fail = 1;
      ds->nclasses = (int)k;
    }
  }
  if (fail) {
    dataset_free(ds);
    return NULL;
  }
  return ds;
}

void dataset_free(Dataset *ds) {
  if (!ds) return;
  free(ds->X);
  free(ds->Y);
  free(ds->labels);
  free(ds->weight);
  free(ds->pcs);
  free(ds->pc_var);
  free(ds->w_star);
  free(ds->freqs);
  free(ds->amps);
  free(ds->phases);
  free(ds);
}

Dataset *dataset_subset(const Dataset *src, const size_t *idx, size_t m) {
  Dataset *ds = dataset_alloc(m, src->d, src->k, src->labels != NULL);
  if (!ds) return NULL;
  ds->nclasses = src->nclasses;
  memcpy(ds->name, src->name, sizeof ds->name);
  dataset_gather(src, idx, m, ds->X, ds->Y, ds->labels);
  if (src->weight && m) {
    if (!(ds->weight = malloc(m * sizeof *ds->weight))) {
      dataset_free(ds);
      return NULL;
    }
    for (size_t i = 0; i < m; i++) ds->weight[i] = src->weight[idx[i]];
  }
  return ds;
}

size_t dataset_rows_all(const Dataset *ds) { return ds->comm ? ds->n_all : ds->n; }

int dataset_shard(Dataset *ds, const Comm *comm, const double *w, Err *err) {
  if (!comm_active(comm)) return CS_OK;
  size_t row0, n, d = ds->d, k = ds->k;
  comm_share(ds->n, comm->size, comm->rank, w, &row0, &n);
  if (n && row0) { /* the share to the front; then the arrays shrink to it */
    memmove(ds->X, ds->X + row0 * d, n * d * sizeof *ds->X);
    if (k) memmove(ds->Y, ds->Y + row0 * k, n * k * sizeof *ds->Y);
    if (ds->labels) memmove(ds->labels, ds->labels + row0, n * sizeof *ds->labels);
    if (ds->weight) memmove(ds->weight, ds->weight + row0, n * sizeof *ds->weight);
  }
  size_t keep = n ? n : 1; /* realloc to 0 would free */
  double *X = realloc(ds->X, keep * (d ? d : 1) * sizeof *X);
  if (X) ds->X = X;
  if (k) {
    double *Y = realloc(ds->Y, keep * k * sizeof *Y);
    if (Y) ds->Y = Y;
  }
  if (ds->labels) {
    int *L = realloc(ds->labels, keep * sizeof *L);
    if (L) ds->labels = L;
  }
  ds->n_all = ds->n;
  ds->row0 = row0;
  ds->n = n;
  ds->comm = comm;
  (void)err;
  return CS_OK;
}

void dataset_gather(const Dataset *src, const size_t *idx, size_t m, double *X, double *Y,
                    int *labels) {
  size_t d = src->d, k = src->k;
#pragma omp parallel for schedule(static) if (m * d > 65536)
  for (size_t i = 0; i < m; i++) {
    size_t r = idx[i];
    if (d) memcpy(X + i * d, src->X + r * d, d * sizeof *X);
    if (k) memcpy(Y + i * k, src->Y + r * k, k * sizeof *Y);
    if (labels && src->labels) labels[i] = src->labels[r];
  }
}

void dataset_column_stats(const Dataset *ds, double *mean, double *std) {
  size_t n = ds->n, d = ds->d;
  for (size_t j = 0; j < d; j++) mean[j] = std[j] = 0.0;
  if (n == 0) return;
  for (size_t i = 0; i < n; i++) {
    const double *x = ds->X + i * d;
    for (size_t j = 0; j < d; j++) mean[j] += x[j];
  }
  for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
  /* Second pass on deviations: exact zero for constant columns up to rounding. */
  for (size_t i = 0; i < n; i++) {
    const double *x = ds->X + i * d;
    for (size_t j = 0; j < d; j++) {
      double t = x[j] - mean[j];
      std[j] += t * t;
    }
  }
  for (size_t j = 0; j < d; j++) {
    std[j] = sqrt(std[j] / (double)n);
    if (std[j] < 1e-12 * (1.0 + fabs(mean[j]))) std[j] = 0.0;
  }
}

void dataset_standardize(Dataset *ds, const double *mean, const double *std) {
  size_t n = ds->n, d = ds->d;
  for (size_t i = 0; i < n; i++) {
    double *x = ds->X + i * d;
    for (size_t j = 0; j < d; j++) {
      double s = std[j] > 0.0 ? std[j] : 1.0;
      x[j] = (x[j] - mean[j]) / s;
    }
  }
}

double dataset_accuracy(const Dataset *ds, const double *F) {
  if (!ds->labels || ds->n == 0 || ds->k == 0) return NAN;
  size_t hit = 0, k = ds->k;
  for (size_t i = 0; i < ds->n; i++) {
    const double *f = F + i * k;
    size_t best = 0;
    for (size_t c = 1; c < k; c++)
      if (f[c] > f[best]) best = c;
    if ((int)best == ds->labels[i]) hit++;
  }
  return (double)hit / (double)ds->n;
}
