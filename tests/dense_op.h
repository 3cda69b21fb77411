/*
 * dense_op.h: a dense symmetric test operator that counts its products (with a block
 * product), matrices of chosen spectrum, independent residuals (test_lanczos.c,
 * test_lobpcg.c).
 */
#ifndef CS_TEST_DENSE_OP_H
#define CS_TEST_DENSE_OP_H

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "lanczos/eig.h"

/* ---- a dense symmetric operator that counts its products ---- */

typedef struct DenseOp {
  size_t n;
  const double *A; /* n*n, symmetric */
  long count;
  int fail_after;  /* > 0: apply fails (status CS_EIO) once count reaches this */
  const Linop *inner; /* non-NULL: apply also tries a nested eig_arpack on it */
  int inner_rc;
  char inner_msg[256];
} DenseOp;

static int dense_apply(void *self, const double *x, double *y) {
  DenseOp *d = self;
  if (d->fail_after > 0 && d->count >= d->fail_after) return CS_EIO;
  if (d->inner && d->inner_rc < 0) {
    EigOpts o;
    eig_opts_default(&o);
    EigResult r;
    Err e = {0};
    d->inner_rc = eig_arpack(d->inner, &o, &r, &e);
    memcpy(d->inner_msg, e.msg, sizeof e.msg);
    eig_result_free(&r);
  }
  cblas_dgemv(CblasColMajor, CblasNoTrans, (int)d->n, (int)d->n, 1.0, d->A, (int)d->n, x, 1, 0.0,
              y, 1);
  d->count++;
  return 0;
}

static int dense_apply_block(void *self, size_t k, const double *X, double *Y) {
  DenseOp *d = self;
  int n = (int)d->n;
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, (int)k, n, 1.0, d->A, n, X, n, 0.0, Y,
              n);
  d->count += (long)k;
  return 0;
}

static Linop dense_linop(DenseOp *d, size_t n, const double *A) {
  memset(d, 0, sizeof *d);
  d->n = n;
  d->A = A;
  d->inner_rc = 1;
  return (Linop){.n = n, .apply = dense_apply, .apply_block = dense_apply_block, .self = d};
}

/* ---- matrices ---- */

static void random_orthogonal(size_t n, uint64_t seed, double *U) {
  Rng r;
  rng_seed(&r, seed);
  rng_normal_fill(&r, U, n * n);
  double *tau = malloc(n * sizeof *tau);
  LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)n, (int)n, U, (int)n, tau);
  LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)n, (int)n, (int)n, U, (int)n, tau);
  free(tau);
}

/* A = U diag(lam) U^T */
static void build_spectral(size_t n, const double *U, const double *lam, double *A) {
  double *UL = malloc(n * n * sizeof *UL);
  for (size_t j = 0; j < n; j++)
    for (size_t i = 0; i < n; i++) UL[j * n + i] = U[j * n + i] * lam[j];
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0, UL, (int)n, U,
              (int)n, 0.0, A, (int)n);
  for (size_t i = 0; i < n; i++) /* exact symmetry */
    for (size_t j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i] = 0.5 * (A[i * n + j] + A[j * n + i]);
  free(UL);
}

static double resid_indep(size_t n, const double *A, const double *v, double lam) {
  double *y = malloc(n * sizeof *y), s = 0.0;
  cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, (int)n, 1.0, A, (int)n, v, 1, 0.0, y, 1);
  for (size_t i = 0; i < n; i++) s += (y[i] - lam * v[i]) * (y[i] - lam * v[i]);
  free(y);
  return sqrt(s);
}

static double orth_error(size_t n, int k, const double *V) {
  double worst = 0.0;
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++) {
      double g = cblas_ddot((int)n, V + (size_t)a * n, 1, V + (size_t)b * n, 1) - (a == b);
      if (fabs(g) > worst) worst = fabs(g);
    }
  return worst;
}

#endif
