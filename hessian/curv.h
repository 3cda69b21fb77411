/*
 * curv.h: curvature operators of a Net at fixed parameters and data.
 *
 * A Curvature context is sized once (curv_alloc) and then built at a θ and a
 * batch (curv_build): one forward and backward per chunk of rows, caching A,
 * σ', σ'', G and D. Each product afterwards costs only the R-passes:
 *   Hessian  Hv          exact, Pearlmutter's R-operator (docs/MATH.md)
 *   GGN      JᵀH_ℓJ v    the linearised net
 *   Jv, Jᵀu, JJᵀu        Jacobian and empirical-NTK products (u is [n][d_out])
 * curv_build may be called again at a new θ or batch (up to the sizes given to
 * curv_alloc) without allocating: probes rebuild it at every step.
 * Products accumulate chunk by chunk; the sum over examples lives in
 * curv_accumulate (one place for a future data-parallel reduction).
 *
 * Ownership: curv_free (NULL-safe). The context keeps pointers to net, θ and
 * the batch arrays: they must outlive it, unchanged between build and apply.
 * Thread safety: one product at a time per context (OpenMP and BLAS inside).
 */
#ifndef CS_CURV_H
#define CS_CURV_H

#include <stddef.h>

#include "core/err.h"
#include "core/linop.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/precision.h"

typedef struct Curvature Curvature;

/* Workspaces for batches of up to n_max rows, in chunks of `chunk` rows (0: one chunk);
 * a row-coupling loss (loss_couples_rows: Sobolev) takes one chunk on one thread, and
 * curv_build then needs a batch that carries its metric (Batch.metric). */
Curvature *curv_alloc(const Net *net, LossKind loss, size_t n_max, size_t chunk, Err *err);
void curv_free(Curvature *c);
/* Runs the passes in float32 from now on (p mixed or f32; f64 keeps float64): the float
 * workspaces are allocated here, once, and the float64 caches released. Products,
 * gradient and loss stay float64 arrays, the sum over chunks in double; Jv, Jᵀu and the
 * NTK are float64 only (CS_EINVAL under float32 passes). Call before curv_build. */
int curv_set_precision(Curvature *c, Precision p, Err *err);
Precision curv_precision(const Curvature *c);
/* Forward and backward at θ on batch b (b->n <= n_max). */
int curv_build(Curvature *c, const double *theta, const Batch *b, Err *err);

/* Loss and gradient at the built point (the gradient is a by-product of build). */
double curv_loss(const Curvature *c);
/* Training accuracy of the built batch (NAN without labels): as objective_eval's. */
double curv_accuracy(const Curvature *c);
const double *curv_grad(const Curvature *c);
size_t curv_nparams(const Curvature *c);
size_t curv_nrows(const Curvature *c);   /* rows of the built batch (over all ranks) */
long curv_applies(const Curvature *c);   /* products computed since build */

/* The network's outputs F [n][d_out] at the built point (cached by the build). */
void curv_outputs(const Curvature *c, double *F);

int curv_hvp(Curvature *c, const double *v, double *hv);
int curv_ggn(Curvature *c, const double *v, double *gv);
/* k products in one pass (net.h, "block R-passes"): V holds k directions (vector j at
 * V + j*P), HV receives theirs. Equal to k single products up to rounding (the sums run in
 * another order); applies counts k. The block workspaces grow to k on first use (an
 * allocation), or up front by curv_block_reserve; a row-coupling loss (Sobolev) runs k
 * single products. CS_ENOMEM when the workspaces cannot grow. */
int curv_block_reserve(Curvature *c, size_t k, Err *err);
int curv_hvp_block(Curvature *c, size_t k, const double *V, double *HV);
int curv_ggn_block(Curvature *c, size_t k, const double *V, double *GV);
int curv_jvp(Curvature *c, const double *v, double *jv);      /* jv: [n][d_out] */
int curv_vjp(Curvature *c, const double *u, double *jtu);     /* u: [n][d_out] */
int curv_ntk(Curvature *c, const double *u, double *out);     /* out = J Jᵀ u */

/* Linops over the context (n = P, or n·d_out for the NTK); the Hessian's and the GGN's
 * apply_block are the block products. */
Linop curv_hessian_op(Curvature *c);
Linop curv_ggn_op(Curvature *c);
Linop curv_ntk_op(Curvature *c);

/* Central finite-difference HVP: (∇L(θ+εv) − ∇L(θ−εv)) / 2ε, a reference. */
int curv_fd_hvp(const Net *net, LossKind loss, const double *theta, const Batch *b,
                const double *v, double eps, double *out, Err *err);

#endif
