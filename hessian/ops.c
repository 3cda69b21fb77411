/* ops.c: preconditioned and parameter-subset operators (see ops.h). */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"

struct PrecondOp {
  Linop inner;
  double *pinv_sqrt;  /* P^{-1/2} */
  double *tmp;
};

static int precond_apply(void *self, const double *x, double *y) {
  PrecondOp *op = self;
  size_t n = op->inner.n;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) op->tmp[i] = op->pinv_sqrt[i] * x[i];
  int rc = op->inner.apply(op->inner.self, op->tmp, y);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) y[i] *= op->pinv_sqrt[i];
  return rc;
}

PrecondOp *precond_op_alloc(const Linop *inner, const double *P, Err *err) {
  PrecondOp *op = calloc(1, sizeof *op);
  if (op) {
    op->inner = *inner;
    op->pinv_sqrt = malloc(inner->n * sizeof *op->pinv_sqrt);
    op->tmp = malloc(inner->n * sizeof *op->tmp);
  }
  if (!op || !op->pinv_sqrt || !op->tmp) {
    precond_op_free(op);
    err_set(err, CS_ENOMEM, "out of memory for the preconditioned operator");
    return NULL;
  }
  if (precond_op_set(op, P, err)) {
    precond_op_free(op);
    return NULL;
  }
  return op;
}

int precond_op_set(PrecondOp *op, const double *P, Err *err) {
  for (size_t i = 0; i < op->inner.n; i++) {
    if (!(P[i] > 0) || !isfinite(P[i]))
      return err_set(err, CS_EINVAL, "preconditioner entry %zu is %g (must be positive)", i, P[i]);
    op->pinv_sqrt[i] = 1.0 / sqrt(P[i]);
  }
  return CS_OK;
}

void precond_op_free(PrecondOp *op) {
  if (!op) return;
  free(op->pinv_sqrt);
  free(op->tmp);
  free(op);
}

Linop precond_op_linop(PrecondOp *op) { return (Linop){op->inner.n, precond_apply, NULL, op}; }

struct SubsetOp {
  Linop inner;
  size_t *ranges;
  int npairs;
  size_t n;
  double *xf, *yf;
};

static int subset_apply(void *self, const double *x, double *y) {
  SubsetOp *op = self;
  size_t pos = 0;
  for (int r = 0; r < op->npairs; r++) {
    memcpy(op->xf + op->ranges[2 * r], x + pos, op->ranges[2 * r + 1] * sizeof *x);
    pos += op->ranges[2 * r + 1];
  }
  int rc = op->inner.apply(op->inner.self, op->xf, op->yf);
  pos = 0;
  for (int r = 0; r < op->npairs; r++) {
    memcpy(y + pos, op->yf + op->ranges[2 * r], op->ranges[2 * r + 1] * sizeof *y);
    pos += op->ranges[2 * r + 1];
  }
  return rc;
}

SubsetOp *subset_op_alloc(const Linop *inner, const size_t *ranges, int npairs, Err *err) {
  SubsetOp *op = calloc(1, sizeof *op);
  if (!op) goto oom;
  op->inner = *inner;
  op->npairs = npairs;
  op->ranges = malloc(2 * (size_t)npairs * sizeof *op->ranges);
  op->xf = calloc(inner->n, sizeof *op->xf);
  op->yf = malloc(inner->n * sizeof *op->yf);
  if (!op->ranges || !op->xf || !op->yf) goto oom;
  for (int r = 0; r < npairs; r++) {
    size_t off = ranges[2 * r], len = ranges[2 * r + 1];
    if (off + len > inner->n || len == 0) {
      err_set(err, CS_EINVAL, "parameter range [%zu, %zu) outside 0..%zu", off, off + len,
              inner->n);
      subset_op_free(op);
      return NULL;
    }
    op->ranges[2 * r] = off;
    op->ranges[2 * r + 1] = len;
    op->n += len;
  }
  return op;
oom:
  subset_op_free(op);
  err_set(err, CS_ENOMEM, "out of memory for the subset operator");
  return NULL;
}

void subset_op_free(SubsetOp *op) {
  if (!op) return;
  free(op->ranges);
  free(op->xf);
  free(op->yf);
  free(op);
}

Linop subset_op_linop(SubsetOp *op) { return (Linop){op->n, subset_apply, NULL, op}; }

int subset_ranges_for_layers(const Net *net, const char *spec, size_t *ranges, int max_pairs,
                             int *npairs, Err *err) {
  long idx[NET_MAX_LAYERS];
  int n;
  if (spec_parse_int_list(spec, idx, NET_MAX_LAYERS, &n, err))
    return err_prefix(err, "layer list '%s'", spec);
  int trainable[NET_MAX_LAYERS], nt = 0;
  for (int l = 0; l < net->nlayers; l++)
    if (net->layer[l].trainable) trainable[nt++] = l;
  *npairs = 0;
  for (int i = 0; i < n; i++) {
    if (idx[i] < 0 || idx[i] >= nt)
      return err_set(err, CS_EINVAL, "layer %ld does not exist (the model has layers 0..%d)",
                     idx[i], nt - 1);
    const Layer *L = &net->layer[trainable[idx[i]]];
    if (*npairs >= max_pairs) return err_set(err, CS_EINVAL, "too many layers in '%s'", spec);
    /* W and b are adjacent in the layout, so one range covers both. */
    ranges[2 * *npairs] = L->w_off;
    ranges[2 * *npairs + 1] = L->in * L->out + (L->has_bias ? L->out : 0);
    (*npairs)++;
  }
  return CS_OK;
}
