/* layer_op.c: the matrix-free NTK of a parameter subset, J M Jᵀ, and top pairs by Lanczos
 * (ntk.h). The whole kernel is curv_ntk_op (hessian/curv.h); this adds the per-layer one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lanczos/eig.h"
#include "ntk.h"

struct NtkMaskOp {
  Curvature *c;
  size_t *ranges;
  int npairs;
  double *p, *q; /* [P]: Jᵀu, then its masked copy */
};

static int mask_apply(void *self, const double *u, double *y) {
  NtkMaskOp *op = self;
  size_t P = curv_nparams(op->c);
  int rc = curv_vjp(op->c, u, op->p);
  memset(op->q, 0, P * sizeof *op->q);
  for (int r = 0; r < op->npairs; r++)
    memcpy(op->q + op->ranges[2 * r], op->p + op->ranges[2 * r],
           op->ranges[2 * r + 1] * sizeof *op->q);
  if (!rc) rc = curv_jvp(op->c, op->q, y);
  return rc;
}

NtkMaskOp *ntk_mask_op_alloc(Curvature *c, const size_t *ranges, int npairs, Err *err) {
  size_t P = curv_nparams(c);
  for (int r = 0; r < npairs; r++)
    if (ranges[2 * r] + ranges[2 * r + 1] > P || ranges[2 * r + 1] == 0) {
      err_set(err, CS_EINVAL, "parameter range [%zu, %zu) outside 0..%zu", ranges[2 * r],
              ranges[2 * r] + ranges[2 * r + 1], P);
      return NULL;
    }
  NtkMaskOp *op = calloc(1, sizeof *op);
  if (op) {
    op->c = c;
    op->npairs = npairs;
    op->ranges = malloc(2 * (size_t)(npairs ? npairs : 1) * sizeof *op->ranges);
    op->p = malloc(P * sizeof *op->p);
    op->q = malloc(P * sizeof *op->q);
  }
  if (!op || !op->ranges || !op->p || !op->q) {
    ntk_mask_op_free(op);
    err_set(err, CS_ENOMEM, "out of memory for a per-layer NTK operator");
    return NULL;
  }
  memcpy(op->ranges, ranges, 2 * (size_t)npairs * sizeof *ranges);
  return op;
}

void ntk_mask_op_free(NtkMaskOp *op) {
  if (!op) return;
  free(op->ranges);
  free(op->p);
  free(op->q);
  free(op);
}

/* The rows of the built batch times d_out: read when the Linop is made, as curv_ntk_op. */
Linop ntk_mask_op_linop(NtkMaskOp *op) {
  Linop whole = curv_ntk_op(op->c);
  return (Linop){whole.n, mask_apply, NULL, op};
}

void ntk_layer_range(const Net *net, int t, size_t range[2]) {
  for (int l = 0, seen = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (!L->trainable || seen++ != t) continue;
    range[0] = L->w_off; /* W then b: adjacent in the layout (core/net.h) */
    range[1] = L->in * L->out + (L->has_bias ? L->out : 0);
    return;
  }
  range[0] = range[1] = 0;
}

int ntk_lanczos_top(const Linop *op, int k, double tol, uint64_t seed, double *vals,
                    double *vecs, int *converged, Err *err) {
  EigOpts o;
  eig_opts_default(&o);
  o.k = k;
  o.which = EIG_TOP;
  o.tol = tol;
  o.seed = seed;
  o.exact_residuals = 0;
  o.maxit = 50 * k + 500;
  EigResult r = {0};
  int rc = eig_lanczos_top(op, &o, &r, err);
  if (rc == CS_ENOCONV && r.k == k) rc = CS_OK, err_clear(err);
  if (!rc && r.k != k) rc = err_set(err, CS_ENOCONV, "NTK Lanczos returned %d of %d pairs", r.k, k);
  if (!rc) {
    memcpy(vals, r.values, (size_t)k * sizeof *vals);
    memcpy(vecs, r.vectors, (size_t)k * op->n * sizeof *vecs);
    for (int i = 0; i < k; i++) ntk_sign_fix(vecs + (size_t)i * op->n, op->n);
    if (converged) *converged = r.converged;
  }
  eig_result_free(&r);
  return rc;
}
