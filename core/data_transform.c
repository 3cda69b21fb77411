/*
 * data_transform.c: transforms any --data spec may ask for after loading, whatever
 * its kind (docs/DATA.md, "Transforms"):
 *
 *   whiten=zca|none[,whiten_eps=1e-5]   ZCA whitening with training statistics
 *   labels=shuffled|original            training targets permuted across examples
 *
 * ZCA: with μ the training mean and C = (X−μ)ᵀ(X−μ)/n = V Λ Vᵀ, every row becomes
 * (x − μ) V (Λ + ε)^{-1/2} Vᵀ, train and test alike, so the training covariance is
 * V Λ/(Λ+ε) Vᵀ ≈ I (directions with Λ = 0, e.g. constant pixels, stay 0). It keeps
 * the principal directions and flattens their variances: the control of the PC-bias
 * study (docs/PCBIAS.md).
 * Shuffled labels: the rows of Y (and the labels) of the training set are permuted
 * by a seeded shuffle (stream 5), so class counts are kept and every input keeps a
 * target; the test set is untouched. Synthetic ground truth (principal directions,
 * W*) no longer describes the data and is dropped.
 * Workload: once per run; ZCA is one d×d eigendecomposition and two n×d×d GEMMs.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "json.h"
#include "rng.h"
#include "spec.h"

#define STREAM_LABELS 5

int data_transform_parse(Spec *s, DataTransform *t, Err *err) {
  memset(t, 0, sizeof *t);
  t->whiten_eps = 1e-5;
  const char *w = NULL, *l = NULL;
  spec_get_str(s, "whiten", &w);
  spec_get_str(s, "labels", &l);
  if (w && !strcmp(w, "zca")) t->whiten = 1;
  else if (w && strcmp(w, "none"))
    return err_set(err, CS_EINVAL, "spec '%s': whiten=%s (want zca|none)", s->text, w);
  if (l && !strcmp(l, "shuffled")) t->shuffle_labels = 1;
  else if (l && strcmp(l, "original"))
    return err_set(err, CS_EINVAL, "spec '%s': labels=%s (want shuffled|original)", s->text, l);
  int rc = spec_get_double(s, "whiten_eps", &t->whiten_eps, err);
  if (rc) return rc;
  if (!(t->whiten_eps > 0) || !isfinite(t->whiten_eps))
    return err_set(err, CS_EINVAL, "spec '%s': whiten_eps must be > 0", s->text);
  if (spec_has(s, "whiten_eps") && !t->whiten)
    return err_set(err, CS_EINVAL, "spec '%s': whiten_eps without whiten=zca", s->text);
  return CS_OK;
}

void data_transform_resolved(const DataTransform *t, StrBuf *resolved) {
  if (t->whiten) {
    sb_append(resolved, ",whiten=zca,whiten_eps=");
    sb_double(resolved, t->whiten_eps);
  }
  if (t->shuffle_labels) sb_append(resolved, ",labels=shuffled");
}

/* Rows of X [n][d] become (x − mu) Z with Z = V (Λ+ε)^{-1/2} Vᵀ [d][d]; tmp is [n][d]. */
static void apply_zca(Dataset *ds, const double *mu, const double *Z, double *tmp) {
  size_t n = ds->n, d = ds->d;
  if (n == 0) return;
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < d; a++) tmp[i * d + a] = ds->X[i * d + a] - mu[a];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d, (int)d, 1.0, tmp,
              (int)d, Z, (int)d, 0.0, ds->X, (int)d);
}

static int whiten_zca(Dataset *train, Dataset *test, double eps, Err *err) {
  size_t n = train->n, d = train->d, nmax = test && test->n > n ? test->n : n;
  if (nmax < d) nmax = d; /* tmp also holds V (Λ+ε)^{-1/2}, d × d */
  double *mu = calloc(d, sizeof *mu), *C = malloc(d * d * sizeof *C);
  double *lam = malloc(d * sizeof *lam), *Z = malloc(d * d * sizeof *Z);
  double *tmp = malloc(nmax * d * sizeof *tmp);
  int rc = CS_OK;
  if (!mu || !C || !lam || !Z || !tmp) {
    rc = err_set(err, CS_ENOMEM, "whiten=zca: out of memory for %zu x %zu", n, d);
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < d; a++) mu[a] += train->X[i * d + a];
  for (size_t a = 0; a < d; a++) mu[a] /= (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < d; a++) tmp[i * d + a] = train->X[i * d + a] - mu[a];
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0 / (double)n, tmp, (int)d,
              0.0, C, (int)d);
  lapack_int info =
      LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)d, C, (lapack_int)d, lam);
  if (info) {
    rc = err_set(err, CS_ENOCONV, "whiten=zca: eigendecomposition failed (dsyevd info %d)",
                 (int)info);
    goto out;
  }
  /* C now holds V (column j = eigenvector j); Z = V diag((λ+ε)^{-1/2}) Vᵀ. */
  for (size_t a = 0; a < d; a++)
    for (size_t j = 0; j < d; j++) {
      double l = lam[j] > 0 ? lam[j] : 0.0;
      tmp[a * d + j] = C[a * d + j] / sqrt(l + eps);
    }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)d, 1.0, tmp, (int)d, C,
              (int)d, 0.0, Z, (int)d);
  apply_zca(train, mu, Z, tmp);
  if (test) apply_zca(test, mu, Z, tmp);
out:
  free(mu), free(C), free(lam), free(Z), free(tmp);
  return rc;
}

static int shuffle_targets(Dataset *ds, uint64_t seed, Err *err) {
  size_t n = ds->n, k = ds->k;
  size_t *perm = malloc(n * sizeof *perm);
  double *Y = malloc(n * k * sizeof *Y);
  int *lab = ds->labels ? malloc(n * sizeof *lab) : NULL;
  int ok = perm && Y && (lab || !ds->labels);
  if (ok) {
    Rng r;
    rng_seed_stream(&r, seed, STREAM_LABELS);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    rng_shuffle(&r, perm, n);
    for (size_t i = 0; i < n; i++) {
      memcpy(Y + i * k, ds->Y + perm[i] * k, k * sizeof *Y);
      if (lab) lab[i] = ds->labels[perm[i]];
    }
    memcpy(ds->Y, Y, n * k * sizeof *Y);
    if (lab) memcpy(ds->labels, lab, n * sizeof *lab);
  }
  free(perm), free(Y), free(lab);
  return ok ? CS_OK : err_set(err, CS_ENOMEM, "labels=shuffled: out of memory for %zu rows", n);
}

int data_transform_apply(const DataTransform *t, uint64_t seed, Dataset *train, Dataset *test,
                         Err *err) {
  if (!t->whiten && !t->shuffle_labels) return CS_OK;
  if (t->whiten) {
    if (train->d == 0) return err_set(err, CS_EINVAL, "whiten=zca: the data have no inputs");
    int rc = whiten_zca(train, test, t->whiten_eps, err);
    if (rc) return rc;
  }
  if (t->shuffle_labels) {
    if (train->k == 0) return err_set(err, CS_EINVAL, "labels=shuffled: the data have no targets");
    int rc = shuffle_targets(train, seed, err);
    if (rc) return rc;
  }
  /* Ground truth of a synthetic generator no longer describes the data. */
  free(train->pcs), free(train->pc_var), free(train->w_star);
  train->pcs = train->pc_var = train->w_star = NULL;
  size_t len = strlen(train->name);
  snprintf(train->name + len, sizeof train->name - len, "%s%s",
           t->whiten ? " whiten=zca" : "", t->shuffle_labels ? " labels=shuffled" : "");
  return CS_OK;
}
