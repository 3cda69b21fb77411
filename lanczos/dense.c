/*
 * dense.c: the dense reference: an operator's matrix by unit-vector products
 * and its full spectrum by LAPACK dsyevd. For tests and small operators (the
 * Hessian of a net with a few hundred parameters); O(n^2) memory, O(n^3) time.
 */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lanczos/eig.h"

#define DENSE_CHUNK 32 /* unit vectors per block apply */

int dense_from_linop(const Linop *op, double *A, double *asym, Err *err) {
  if (!op || !op->apply || op->n == 0 || !A)
    return err_set(err, CS_EINVAL, "dense_from_linop: operator or output matrix missing");
  const size_t n = op->n, b = n < DENSE_CHUNK ? n : DENSE_CHUNK;
  double *E = calloc(n * b, sizeof *E);
  if (!E) return err_set(err, CS_ENOMEM, "dense_from_linop: cannot allocate %zu unit vectors", b);
  int rc = CS_OK;
  for (size_t j0 = 0; j0 < n; j0 += b) {
    size_t cnt = n - j0 < b ? n - j0 : b;
    for (size_t t = 0; t < cnt; t++) E[t * n + j0 + t] = 1.0;
    rc = linop_apply_block(op, cnt, E, A + j0 * n); /* column j at A + j*n */
    for (size_t t = 0; t < cnt; t++) E[t * n + j0 + t] = 0.0;
    if (rc) {
      err_set(err, rc, "dense_from_linop: operator apply failed on column %zu (status %d)", j0, rc);
      break;
    }
  }
  free(E);
  if (rc) return rc;
  double worst = 0.0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      double a = A[i * n + j], c = A[j * n + i], dlt = fabs(a - c);
      if (dlt > worst || isnan(dlt)) worst = dlt;
      A[i * n + j] = A[j * n + i] = 0.5 * (a + c);
    }
  if (asym) *asym = worst;
  return CS_OK;
}

int dense_eig_sym(size_t n, double *A, double *w, double *V, Err *err) {
  if (n == 0 || !A || !w) return err_set(err, CS_EINVAL, "dense_eig_sym: n=%zu, A or w missing", n);
  lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, V ? 'V' : 'N', 'U', (lapack_int)n, A,
                                   (lapack_int)n, w);
  if (info < 0) return err_set(err, CS_EINVAL, "dense_eig_sym: dsyevd argument %d invalid", (int)-info);
  if (info > 0)
    return err_set(err, CS_ENOCONV, "dense_eig_sym: dsyevd did not converge (info=%d)", (int)info);
  if (V) memcpy(V, A, n * n * sizeof *V); /* column j = eigenvector j */
  return CS_OK;
}
