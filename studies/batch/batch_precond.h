/*
 * batch_precond.h: Adam's preconditioner at batch size B, for the preconditioned
 * prediction α_max(B) = 2/λ̄_precond(B) of the batch-scaling study (docs/BATCH.md).
 *
 * Adam divides each coordinate by √v + ε, v the running mean of its squared mini-batch
 * gradients. In steady state at fixed θ (bias corrections gone) v is E[g_B ⊙ g_B] over
 * batches of B rows drawn without replacement from the N training rows:
 *   E[g_B,j²] = ḡ_j² + s_j² (N − B)/(B (N − 1)),
 * with ḡ the whole-set gradient and s² the per-coordinate population variance of the
 * per-example gradients. So P_B = √E[g_B²] + ε shrinks like 1/√B where the noise
 * dominates: this is where Adam's √B rule comes from. batch_precond_moments measures ḡ
 * and s² once, one backward pass per row; batch_precond_for_size turns them into P_B.
 *
 * Thread safety: reentrant. batch_precond_moments allocates one cache and a row gradient.
 */
#ifndef CS_BATCH_PRECOND_H
#define CS_BATCH_PRECOND_H

#include <stddef.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"

/* gmean[P] = ḡ, gvar[P] = s² (divisor N) of the per-example gradients at θ over train's rows
 * (Welford's update per coordinate). */
int batch_precond_moments(const Net *net, LossKind loss, const double *theta,
                          const Dataset *train, double *gmean, double *gvar, Err *err);

/* out[P] = √(ḡ² + s² (N − B)/(B (N − 1))) + eps, for 1 <= B <= N (B = N: |ḡ| + eps); eps > 0. */
void batch_precond_for_size(const double *gmean, const double *gvar, size_t P, size_t N,
                            size_t B, double eps, double *out);

#endif
