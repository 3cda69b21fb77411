/*
 * lz_internal.h: helpers shared by the lanczos/ sources (not a public header).
 *
 * The one Lanczos step with full reorthogonalisation (local recurrence, then
 * classical Gram-Schmidt with the DGKS second-pass test), the start vector rule,
 * result allocation and exact residuals live here so that eig_arpack,
 * eig_lanczos_top, lanczos_run and the SLQ code agree on them.
 * Thread safety: reentrant; all state is in the caller's arrays.
 */
#ifndef CS_LANCZOS_INTERNAL_H
#define CS_LANCZOS_INTERNAL_H

#include "lanczos/eig.h"

/* Breakdown threshold: beta <= LZ_BREAKDOWN * ||T|| ends the recurrence. */
#define LZ_BREAKDOWN 1e-12

/* Orthogonality kept by the Gram-Schmidt passes: |q_i^T q_{j+1}| <= LZ_ORTH_LEVEL,
 * measured at every step (a pass whose coefficients are all below it subtracts
 * nothing). A few ulps above rounding, so Q stays orthonormal as with a subtraction
 * every step (tests: 250 steps, |Q^T Q - I| <= 1e-13), while about 3 steps in 4 skip
 * the second half of the pass (cohen, digits). 1e-12 already shows in Q^T A Q = T. */
#define LZ_ORTH_LEVEL 1e-14

/*
 * One Lanczos step from q_j = Q + j*n (q_0..q_j orthonormal): w = A q_j, then
 *   local = 1: the three-term recurrence first (w -= beta[j-1] q_{j-1} when j > 0,
 *              alpha = q_j^T w, w -= alpha q_j), then ONE classical Gram-Schmidt
 *              pass against q_0..q_j (cblas_dgemv), whose update is skipped when the
 *              measured coefficients are all below LZ_ORTH_LEVEL;
 *   local = 0: (the first step after a thick restart, whose local terms are the
 *              arrow couplings) Gram-Schmidt against q_0..q_j alone, alpha = q_j^T A q_j.
 * A second pass follows only when a pass shrank ||w|| by more than 1/sqrt(2)
 * (DGKS); as a rule one pass per step keeps Q orthonormal to LZ_ORTH_LEVEL.
 * alpha[j] = q_j^T A q_j, beta[j] = ||w||. *tnorm tracks max |alpha|, beta
 * seen so far. When qnext is non-NULL and there is no breakdown, qnext = w/beta.
 * w (n) and h (j+1) are scratch; on return w holds the orthogonalised residual
 * (norm beta[j]). Sets *breakdown. Returns CS_OK or the operator's status (err filled).
 */
int lz_step(const Linop *op, const double *Q, int j, int local, double *alpha, double *beta,
            double *w, double *h, double *qnext, double *tnorm, int *breakdown, Err *err);

/* lz_step when have_w says w already holds A q_j (a product the caller has). */
int lz_step_given(const Linop *op, const double *Q, int j, int local, int have_w, double *alpha,
                  double *beta, double *w, double *h, double *qnext, double *tnorm,
                  int *breakdown, Err *err);

/* The start of a warm solve whose products are known: v = s / ||s|| and
 * w = A v = (sum of products) / ||s||, s the sum of the nwarm warm vectors (no nudge:
 * a Gaussian would need its own product). Returns 0, leaving v and w unusable, when
 * the sum is zero or not finite. */
int lz_start_given(size_t n, const double *warm, const double *products, int nwarm, double *v,
                   double *w);

/* A unit start vector v (n): the normalised sum of the nwarm warm vectors nudged
 * by 1e-6 of a seeded unit Gaussian (so that an exact eigenvector still spans a
 * Krylov space), or the seeded Gaussian alone. CS_EINVAL if warm is non-finite. */
int lz_start_vector(size_t n, const double *warm, int nwarm, uint64_t seed, double *v, Err *err);

/* Allocates r's arrays for k pairs of length n (zeroes r first); r->vectors only
 * when with_vectors (else the caller hands over its own k*n array). */
int lz_result_alloc(EigResult *r, size_t n, int k, int with_vectors, Err *err);

/* residuals[j] = ||A v_j - lambda_j v_j|| for the r->k pairs, by one block
 * apply into its own n * r->k scratch (call it once the solver's workspace is
 * freed). Adds the products to r->matvecs and r->residual_matvecs. */
int lz_exact_residuals(const Linop *op, EigResult *r, Err *err);

/* Checks opts against n; sets *nev (k or 2k). */
int lz_check_opts(const Linop *op, const EigOpts *o, int *nev, const char *who, Err *err);

#endif
