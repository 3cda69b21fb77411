/*
 * linop.h: a symmetric linear operator seen only through its products.
 *
 * Every curvature quantity in curvscope (Hessian, Gauss-Newton, mini-batch
 * Hessian, preconditioned Hessian, NTK Gram) is a Linop built by hessian/;
 * lanczos/ sees nothing else. The interface lives in core/ so that lanczos/
 * needs no header of hessian/.
 *
 * Ownership: the Linop does not own `self`; whoever built it frees it.
 * Thread safety: apply may use OpenMP inside; one apply at a time per Linop.
 * Shapes: x and y have length n; a block of k vectors is k contiguous vectors
 * (vector j at X + j*n). apply must not allocate.
 */
#ifndef CS_LINOP_H
#define CS_LINOP_H

#include <stddef.h>

typedef struct Linop {
  size_t n;
  /* y = A x. Returns CS_OK or an error status. x and y never alias. */
  int (*apply)(void *self, const double *x, double *y);
  /* Optional: Y[:, j] = A X[:, j] for j < k. NULL means loop over apply. */
  int (*apply_block)(void *self, size_t k, const double *X, double *Y);
  void *self;
} Linop;

/* Applies op to k vectors, through apply_block when present. */
static inline int linop_apply_block(const Linop *op, size_t k, const double *X, double *Y) {
  if (op->apply_block) return op->apply_block(op->self, k, X, Y);
  for (size_t j = 0; j < k; j++) {
    int rc = op->apply(op->self, X + j * op->n, Y + j * op->n);
    if (rc) return rc;
  }
  return 0;
}

#endif
