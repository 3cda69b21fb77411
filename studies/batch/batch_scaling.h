/*
 * batch_scaling.h: the extreme eigenvalues of mini-batch Hessians as the batch
 * size grows (Granziol, Zohren & Roberts, JMLR 2022; docs/BATCH.md).
 *
 * At fixed parameters θ and for each batch size B of a list, `draws` batches of
 * B rows are drawn uniformly without replacement from the N training rows
 * (hessian/minibatch.h: reproducible from the seed), and λmax and λmin of the
 * batch's Hessian H_B (or Gauss-Newton matrix) are found by the own Lanczos
 * solver (lanczos/eig.h), each solve warm-started from the previous one's Ritz
 * vector at the same end. The sizes are visited from the smallest up and the whole
 * set (B = N) last, once, so that the costliest solves start from the largest batches'
 * vectors: its λ1 is λ_N, the value every mini-batch mean is compared with. With
 * value_stop (the default) each size's first λmax solve stops on the residual test and
 * the others, and the whole set's, on the eigenvalue bound with that draw's θ2 as the gap
 * (each λmax to about tol relative, for fewer products); λmin solves stop on the residual. One curvature
 * context sized for N serves every draw, so a small batch costs products on its
 * own rows only, and one Lanczos workspace (lanczos/eig.h, EigWork) serves every solve, so
 * no draw allocates. The Gauss-Newton matrix is PSD of rank <= B·d_out, so when that is
 * below P its λmin is 0 exactly and is recorded without a solve (0 products). The
 * noise estimate of docs/BATCH.md uses one seeded unit vector z:
 *   hess_var(B) = mean_i ‖H_i z‖² − ‖mean_i H_i z‖²   over the draws i of size B.
 * With adam_eps > 0 each draw also gets λmax of P_B^{-1/2} H_B P_B^{-1/2}, P_B Adam's
 * steady-state preconditioner at batch size B (batch_precond.h), warm-started likewise.
 *
 * Ownership: batch_scaling_result_free releases a result's arrays (NULL-safe).
 * Thread safety: reentrant (the own Lanczos solver; OpenMP and BLAS inside the products).
 */
#ifndef CS_BATCH_SCALING_H
#define CS_BATCH_SCALING_H

#include <stddef.h>
#include <stdint.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/precision.h"

#define BS_MAX_BATCHES 32

typedef struct BatchScalingOptions {
  size_t batches[BS_MAX_BATCHES]; /* sizes to draw, each in 1..N; N itself (or more) means the
                                     whole set, which is always measured */
  int nbatches;
  int draws;        /* random batches per size (>= 1) */
  int ggn;          /* 0: the Hessian, 1: the Gauss-Newton matrix */
  double tol;       /* eigen tolerance (relative, EigOpts.tol) */
  int maxit;        /* products per solve at most */
  uint64_t seed;    /* the draws, z and cold starts */
  long chunk;       /* rows per chunk of the curvature build (0: one chunk); batches of
                       two chunks and more run data-parallel, smaller ones thread their GEMMs */
  int value_stop;   /* 1: a λmax solve may also stop on its eigenvalue bound (est²/gap <=
                       tol·|θ|, eig_lanczos_values), the gap against θ2 of a reference solve
                       (each size's first draw, which stops on the residual); λmin and the
                       preconditioned λmax stop on the residual. 0: every solve on the
                       residual test */
  double adam_eps;  /* > 0: also the preconditioned λmax, Adam's ε; 0: not measured */
  int top_only;     /* 1: λmax only (no λmin solves, no noise product: lmin, hz_norm2 and
                       hess_var are 0); bench's batch-scaling workload */
  Precision precision; /* of the draws' Hessian passes (curv_set_precision); the Lanczos
                          basis stays float64. tol must be >= precision_tol_min */
} BatchScalingOptions;

/* 8-32-128-512-2048, 10 draws, the Hessian, tol 1e-4, maxit 500, seed 0, chunk 512, the
 * value stop, the preconditioned λmax with ε = 1e-8, float64 passes. */
void batch_scaling_options_default(BatchScalingOptions *o);

typedef struct BatchDraw {
  size_t batch;               /* B */
  int draw;                   /* 0..draws-1 (0 for the whole set) */
  double lmax, lmin;          /* extreme eigenvalues of H_B */
  double res_max, res_min;    /* their residuals (Ritz estimates, exact with full reorth.) */
  long mv_max, mv_min;        /* products of each solve */
  double wall_max, wall_min;  /* seconds of each solve */
  int conv_max, conv_min;     /* 1 when the solve met tol */
  double hz_norm2;            /* ‖H_B z‖² */
  double lpre, res_pre, wall_pre; /* λmax of P_B^{-1/2} H_B P_B^{-1/2} (adam_eps > 0, else 0) */
  long mv_pre;
  int conv_pre;
} BatchDraw;

typedef struct BatchScalingResult {
  size_t n;                  /* N: rows of the whole set */
  size_t n_params;           /* P */
  int nb;                    /* batch sizes measured; batch[nb-1] = N */
  size_t *batch;             /* [nb] ascending, distinct */
  int *ndraw;                /* [nb] draws per size (1 for N) */
  BatchDraw *draw;           /* Σ ndraw records, grouped by size ascending, draws in order */
  double *lmax_mean, *lmax_std, *lmin_mean, *lmin_std; /* [nb]; std: sample (n-1), 0 for N */
  double *hess_var;          /* [nb]: 0 for N (one draw) */
  double *lpre_mean, *lpre_std; /* [nb] the preconditioned λmax; NULL without adam_eps */
  double lambda_full, lambda_full_min; /* λmax and λmin of H_N */
  long matvecs;              /* all products, z products included */
  double wall_s;
} BatchScalingResult;

/* Measures at θ on the rows of train (every row is one example of the loss's mean). The
 * batch list is sorted and deduplicated; sizes >= N fold into N. CS_EINVAL names a bad
 * option; a solve that does not converge within maxit is kept (conv = 0), not an error.
 * CS_EINTERRUPTED when train_stop_requested() (Ctrl-C) between two draws. */
int batch_scaling_measure(const Net *net, LossKind loss, const double *theta,
                          const Dataset *train, const BatchScalingOptions *o,
                          BatchScalingResult *r, Err *err);
void batch_scaling_result_free(BatchScalingResult *r);

/* The random stream of draw `draw` of size B < N: minibatch_draw(mb, B, seed,
 * batch_scaling_draw_stream(B, draw), ...) gives that draw's rows again. */
uint64_t batch_scaling_draw_stream(size_t B, int draw);
/* z of the noise estimate: the seeded unit Gaussian vector of length P. */
void batch_scaling_probe_vector(uint64_t seed, size_t P, double *z);

#endif
