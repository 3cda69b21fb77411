/*
 * eig.h: eigen-solvers over a Linop: ARPACK-ng, own Lanczos, spectral density.
 *
 * lanczos/ sees an operator only through core/linop.h (y = A x, A symmetric).
 * It offers
 *   - eig_arpack:       top-k, bottom-k or both ends by ARPACK's implicitly
 *                       restarted Lanczos (dsaupd/dseupd, mode 1, exact shifts);
 *   - eig_lanczos_top:  the same questions by thick-restart Lanczos (Wu & Simon)
 *                       with full reorthogonalisation (as few products as plain
 *                       Lanczos for a few extreme pairs; memory n*(ncv+1));
 *   - lanczos_run:      the raw Lanczos recurrence (alpha, beta, basis Q);
 *   - slq_nodes / slq_density: stochastic Lanczos quadrature (docs/MATH.md);
 *   - trace_hutchinson: Rademacher trace estimate with its standard error;
 *   - dense_from_linop / dense_eig_sym: the dense LAPACK reference for tests
 *                       and small operators.
 *
 * Ownership: an EigResult is caller-owned (stack or heap); the solvers allocate
 * its arrays and eig_result_free releases them (not the struct). Every other
 * array is caller-owned and sized as documented. Workspaces are allocated once
 * per call, never inside an iteration.
 *
 * Thread safety: ARPACK keeps SAVEd state, so only one eig_arpack solve may run
 * at a time in a process; a second concurrent call fails with CS_EINVAL ("ARPACK
 * busy") instead of corrupting the first. Put parallelism inside the operator.
 * Every other function is reentrant (one Linop per thread; see linop.h).
 *
 * Shapes: n = op->n. A set of k vectors is k contiguous length-n vectors,
 * vector j at X + j*n (column-major n x k). Dense matrices are n x n,
 * symmetric, so row- and column-major coincide.
 *
 * Determinism: every random vector comes from an explicit seed (core/rng.h);
 * the same inputs and seed give the same bits on the same machine and threads.
 *
 * Status: functions return a CsStatus (core/err.h) and fill Err on failure,
 * except lanczos_run, which returns the number of steps taken (>= 1) or a
 * negated CsStatus. Nothing here prints.
 */
#ifndef CS_LANCZOS_EIG_H
#define CS_LANCZOS_EIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/linop.h"

typedef enum { EIG_TOP, EIG_BOTTOM, EIG_BOTH } EigWhich;

/* eig_lanczos_top's workspace (basis, projected matrices, LAPACK work), for many solves of
 * operators of one size n with a basis cap <= ncv (EigOpts.work). Owned by the caller;
 * one solve at a time. */
typedef struct EigWork EigWork;
EigWork *eig_work_alloc(size_t n, int ncv, Err *err);
void eig_work_free(EigWork *w); /* NULL-safe */

typedef struct EigOpts {
  int k;               /* pairs wanted at each requested end (EIG_BOTH: k top + k bottom) */
  EigWhich which;      /* EIG_TOP: largest algebraic; EIG_BOTTOM: smallest; EIG_BOTH: both */
  double tol;          /* relative: Ritz estimate <= tol * |theta| (ARPACK: max(eps^(2/3), |theta|));
                          0: ARPACK uses machine precision, own Lanczos runs to maxit */
  int maxit;           /* ARPACK: restart cycles (iparam[2]); own Lanczos: cap on products
                          (Lanczos steps, exact-residual products not counted), >= nev */
  int ncv;             /* ARPACK: Krylov dimension, 0 = MIN(n, MAX(2*nev+1, 20)), nev = k or 2k;
                          own Lanczos: basis cap (vectors held), 0 = MIN(n, maxit,
                          MAX(2*nev+1, 20)), and with a bottom end wanted and no work
                          up to 60 within 512 MiB; an explicit cap must exceed nev */
  const double *warm;  /* optional nwarm vectors (vector j at warm + j*n): warm start from
                          their normalised sum (plus a 1e-6 seeded Gaussian nudge) */
  int nwarm;
  const double *warm_products; /* optional, own Lanczos only: A applied to each warm vector
                          (same layout), so the first step reuses them instead of a product
                          and starts from the warm sum exactly (no nudge) */
  uint64_t seed;       /* start vector when warm is NULL (seeded Gaussian) */
  int exact_residuals; /* 1: residual = ||A v - lambda v|| by k extra products (one block);
                          0: the solver's Ritz estimates (no extra products) */
  struct EigWork *work; /* optional, own Lanczos only: a workspace from eig_work_alloc, reused
                          so that a run of solves allocates nothing per solve; the result's
                          vectors then live in it (vectors_borrowed) until its next solve */
} EigOpts;

/* k 1, EIG_TOP, tol 1e-6, maxit 1000, ncv 0 (auto), no warm start, seed 0,
 * exact_residuals 1. */
void eig_opts_default(EigOpts *o);

/*
 * Layout of a result: r->k pairs, the ntop top pairs first (values descending),
 * then the nbottom bottom pairs (values ascending):
 *   EIG_TOP    values[0..k)  = lambda_max, lambda_2, ...          (ntop = k)
 *   EIG_BOTTOM values[0..k)  = lambda_min, ...                    (nbottom = k)
 *   EIG_BOTH   values[0..k)  = top k descending, values[k..2k) = bottom k ascending.
 * vectors + j*n is the unit Ritz vector of values[j]; residuals[j] its residual.
 * When a solve stops early (CS_ENOCONV) eig_arpack reports only the nconv pairs
 * ARPACK accepted (r->k = nconv, split into ntop/nbottom by which end they lie
 * at); eig_lanczos_top reports all wanted Ritz pairs (best current estimates),
 * of which nconv meet the tolerance.
 */
typedef struct EigResult {
  int k;                  /* pairs stored = ntop + nbottom */
  int ntop, nbottom;
  double *values;         /* (k) */
  double *vectors;        /* (k, n): vector j at vectors + j*n */
  double *residuals;      /* (k): ||A v - lambda v|| (exact) or the Ritz estimate */
  long matvecs;           /* all operator applications, residual ones included */
  long residual_matvecs;  /* of which spent on exact residuals */
  double wall_s;
  int converged;          /* 1 when every wanted pair met tol */
  int nconv;              /* pairs that met tol */
  int iterations;         /* ARPACK restart cycles (iparam[2]); own Lanczos: steps (products
                             without the residual ones) */
  int ncv;                /* Krylov dimension finally used (own Lanczos: the basis cap) */
  int vectors_borrowed;   /* 1: vectors point into EigOpts.work (eig_result_free leaves them) */
  double next_value;      /* eig_lanczos_top, EIG_TOP: the largest unwanted Ritz value
                             (θ_{k+1} of the final projected T, a lower bound on λ_{k+1}
                             and an estimate of it when the cap leaves room for
                             extra kept pairs, as the default does); else NAN */
} EigResult;

/* Frees r's arrays (not r) and zeroes it. NULL and zeroed results are no-ops. */
void eig_result_free(EigResult *r);

/*
 * ARPACK-ng dsaupd/dseupd by reverse communication, mode 1, exact shifts.
 * Requires nev < n (nev = k, or 2k for EIG_BOTH). The start vector is always
 * explicit (warm or seeded), so results never depend on call history.
 * info = 3 from dsaupd (no shifts could be applied) is retried once with ncv
 * doubled; products of both attempts are counted.
 * Returns CS_OK; CS_ENOCONV when maxit was reached (r holds the nconv converged
 * pairs, r->converged = 0) or ARPACK failed numerically; CS_EINVAL for bad
 * options or a concurrent ARPACK solve; the operator's status if apply failed.
 * r is overwritten (free a previous result first).
 */
int eig_arpack(const Linop *op, const EigOpts *o, EigResult *r, Err *err);

/*
 * Own solver: thick-restart Lanczos (Wu & Simon, as TRLan) with full
 * reorthogonalisation (three-term recurrence, then classical Gram-Schmidt
 * against the basis, a second pass only when DGKS asks for it). After every
 * step the Ritz pairs of the projected T (m x m, LAPACK dsyevr) are computed
 * and the run stops when each wanted pair satisfies
 * |beta_m * s_{m,i}| <= tol * max(|theta_i|, sqrt(eps) * ||T||), on breakdown
 * (an invariant subspace: all Ritz pairs exact), or after maxit products, which
 * returns CS_ENOCONV with the best pairs. When the basis reaches its cap (see
 * EigOpts.ncv) it restarts from the nev wanted Ritz vectors plus about half of
 * the remaining room in the next best ones, and the residual. Uses o->which
 * like eig_arpack. Memory: n * (cap + 1) doubles plus a 4096 x cap buffer; the
 * result vectors are the first nev basis columns, shrunk in place (exact
 * residuals then take nev more vectors). A multiple eigenvalue is found once
 * (one start vector spans one copy). CS_EINVAL when ncv <= nev or maxit < nev.
 */
int eig_lanczos_top(const Linop *op, const EigOpts *o, EigResult *r, Err *err);

/*
 * eig_lanczos_top for callers that want values: a pair also converges when its
 * eigenvalue error bound est^2/gap <= value_tol * max(|theta|, sqrt(eps) ||T||) (est the
 * Ritz residual estimate |beta_m s_m|, gap the distance to the nearest other Ritz value,
 * or to gap_ref when that is closer; gap_ref NAN for none). The values are then accurate
 * to about value_tol while the vectors' residuals are only about sqrt(value_tol |theta|
 * gap): fewer products (tests/test_lanczos_value.c). An early Ritz value lies below the
 * eigenvalue it approximates, so the Ritz gap alone can be too wide: gap_ref (say the
 * next eigenvalue as a nearby solve found it) keeps it honest, and the bound is only
 * taken once the basis holds k + 3 vectors (from fewer, the next Ritz value says nothing of
 * a close next eigenvalue the start barely touches). value_tol 0 is eig_lanczos_top.
 */
int eig_lanczos_values(const Linop *op, const EigOpts *o, double value_tol, double gap_ref,
                       EigResult *r, Err *err);

/*
 * The faster solver where it meets ARPACK's tolerance: eig_lanczos_top (with exact
 * residuals whatever o says, at most 300 products), accepted when every pair's exact
 * residual is within o->tol * max(|theta|, eps^(2/3)) (ARPACK's test); otherwise eig_arpack warm-started
 * from the Lanczos vectors decides (products of both counted). *used (optional) names
 * the solver whose pairs r holds: "lanczos" or "lanczos+arpack".
 */
int eig_solve_auto(const Linop *op, const EigOpts *o, EigResult *r, const char **used,
                   Err *err);

/*
 * Block solver: LOBPCG without a preconditioner (lanczos/lobpcg.c), over the operator's
 * block product (linop_apply_block: one pass for the block when the operator has
 * apply_block, as the Hessian and the GGN have). A block of bs = o->ncv vectors (0: k +
 * max(2, k/2), at most 40 and n/3) iterates on span[X, P, W] (Ritz vectors, previous
 * directions, residuals of the unconverged pairs: soft locking) kept orthonormal with
 * rank loss dropped; Rayleigh-Ritz in float64 (dsyev). A pair is converged when its
 * residual ||A x - theta x|| <= tol * max(|theta|, sqrt(eps) max|theta|), or, with
 * value_tol > 0, when res^2/gap <= value_tol * max(...) (gap as eig_lanczos_values',
 * gap_ref likewise). warm (nwarm <= bs vectors, exactly, no nudge) and warm_products
 * (EIG_TOP) start it; maxit caps the products. Residuals are computed from products
 * (exact up to rounding: exact_residuals adds nothing). EIG_BOTH runs two solves. next_value
 * (EIG_TOP, bs > k): the (k+1)-th Ritz value. k <= 32. CS_ENOCONV with the best pairs when
 * maxit is reached or the residuals stagnate.
 */
int eig_lobpcg(const Linop *op, const EigOpts *o, EigResult *r, Err *err);
int eig_lobpcg_values(const Linop *op, const EigOpts *o, double value_tol, double gap_ref,
                      EigResult *r, Err *err);

/*
 * m steps of Lanczos with full reorthogonalisation from v0 (any nonzero
 * vector; it is normalised). Fills alpha[0..s), beta[0..s) and Q (n*m, vector
 * j at Q + j*n, required: full reorthogonalisation needs the basis), where
 * s <= m is the number of steps taken: T = tridiag(beta[0..s-1), alpha,
 * beta[0..s-1)) and beta[s-1] is the norm of the final residual (A Q = Q T +
 * beta[s-1] r e_s^T). Stops early on breakdown (beta < 1e-12 * ||T||).
 * Requires 1 <= m <= n. Adds the products used to *matvecs (may be NULL).
 * Returns s >= 1, or a negated CsStatus with err filled.
 */
int lanczos_run(const Linop *op, const double *v0, int m, double *alpha, double *beta,
                double *Q, long *matvecs, Err *err);

/*
 * Stochastic Lanczos quadrature nodes and weights. Probe p (0 <= p < n_probes)
 * is a Rademacher vector from rng_seed_stream(seed, p), scaled to unit norm;
 * m_steps Lanczos steps (full reorthogonalisation) give T = Q Theta Q^T and
 * the node/weight pairs (theta_k, Q[0,k]^2), written at nodes/weights +
 * p*m_steps. A probe that breaks down after s < m_steps steps pads its tail
 * with weight 0 (node = its last node). Per probe the weights sum to 1 and
 * sum_k w_k theta_k^j = z^T A^j z for j < 2s. steps (optional, n_probes)
 * receives s per probe; matvecs (optional) accumulates the products.
 * Requires 1 <= m_steps <= n, n_probes >= 1.
 */
int slq_nodes(const Linop *op, int m_steps, int n_probes, uint64_t seed, double *nodes,
              double *weights, int *steps, long *matvecs, Err *err);

/*
 * Spectral density phi on an even grid: phi(t) = (1/n_probes) sum_p sum_k
 * w_pk g_sigma(t - theta_pk), g_sigma the unit-mass Gaussian of width sigma
 * (sigma <= 0: 1% of the node range, or 1e-3 * max(1, |theta|) for a point
 * spectrum). grid_x (grid_n >= 2) is filled by the function: evenly spaced
 * over [min theta - 6 sigma, max theta + 6 sigma], so phi integrates to 1 up
 * to trapezoid error. node_out / weight_out (optional, n_probes * m_steps)
 * receive the raw quadrature as from slq_nodes with the same arguments.
 */
int slq_density(const Linop *op, int m_steps, int n_probes, uint64_t seed, int grid_n,
                double sigma, double *grid_x, double *density, double *node_out,
                double *weight_out, Err *err);

/* The quadrature's j-th moment (1/n_probes) sum w theta^j over count = n_probes *
 * m_steps pairs: an unbiased estimate of tr(A^j)/n for 2 * steps > j. */
double slq_moment(const double *nodes, const double *weights, size_t count, int n_probes,
                  int j);

/*
 * Hutchinson: tr A ~ (1/m) sum_i z_i^T A z_i, z_i Rademacher from
 * rng_seed_stream(seed, i). *stderr_ = sample sd / sqrt(m) (NAN when m = 1).
 * Requires m >= 1. stderr_ may be NULL.
 */
int trace_hutchinson(const Linop *op, int m, uint64_t seed, double *mean, double *stderr_,
                     Err *err);

/*
 * The dense matrix of op (n*n) by n products with unit vectors, symmetrised as
 * (A + A^T)/2; *asym (optional) receives max |A - A^T| before symmetrising.
 */
int dense_from_linop(const Linop *op, double *A, double *asym, Err *err);

/*
 * All eigenvalues w (ascending) of the symmetric n*n A by LAPACK dsyevd; A is
 * overwritten. V (optional, n*n) receives the unit eigenvectors, vector j
 * (for w[j]) at V + j*n.
 */
int dense_eig_sym(size_t n, double *A, double *w, double *V, Err *err);

#endif
