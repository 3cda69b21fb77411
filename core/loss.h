/*
 * loss.h: training losses with value, gradient and output-space Hessian, and
 * the full objective L(θ) = (1/N) Σ_i ℓ(f(x_i), y_i) summed over row chunks.
 *
 * MSE: ℓ = ½‖f − y‖² (docs/MATH.md, as Cohen et al.), ∇ℓ = f − y, H_ℓ = I.
 * Cross-entropy: p = softmax(f), ℓ = −Σ_j y_j log p_j, ∇ℓ = (Σy) p − y,
 * H_ℓ = (Σy)(diag(p) − ppᵀ) (Σy = 1 for one-hot or smoothed targets).
 * Sobolev (grid data only, docs/SPECTRAL.md): L = (1/2N) Σ_j r_jᵀ M r_j over the output
 * columns r_j = f_j − y_j on the N grid points, M = 𝓕ᴴ diag((1+|k|²)^s) 𝓕 (a LossMetric
 * the batch carries); ∇_F L = M R / N, output-space Hessian M / N. It is not a sum over
 * examples: a batch under it is evaluated whole, in one chunk on one thread.
 * objective_eval is the one place the sum over examples happens for gradients; on a
 * data-parallel batch (Batch.comm, core/comm.h) it ends with the sum over the MPI ranks.
 */
#ifndef CS_LOSS_H
#define CS_LOSS_H

#include <stddef.h>

#include "comm.h"
#include "err.h"
#include "net.h"
#include "precision.h"
#include "threads.h"

typedef enum { LOSS_MSE = 0, LOSS_CE, LOSS_SOBOLEV } LossKind;

int loss_parse(const char *text, LossKind *k, Err *err);
/* As loss_parse, also reading "sobolev[:s=S]" (S finite, |S| <= 8; default 1) into *s
 * (0 for the other losses). */
int loss_parse_spec(const char *text, LossKind *k, double *s, Err *err);
const char *loss_name(LossKind k);

/* The Sobolev metric M on a grid of n points, applied column by column to residuals
 * R [n][k] (row-major, k outputs): out = M R. apply is the grid's product (FFTW's, in
 * studies/spectral/sobolev.c, because core does not link FFTW; loss_metric_grid1d is
 * the direct O(n²) circular convolution on a 1-D grid, the tests' reference); at s = 0, M = I exactly (a copy,
 * so the loss is MSE to the last bit). Owns scratch space: one evaluation at a time. */
typedef struct LossMetric {
  size_t n, k;
  double s;
  void (*apply)(void *ctx, const double *R, double *out);
  void *ctx;
  void (*ctx_free)(void *ctx);
  double *resid, *mr; /* [n][k] scratch: R and M R */
} LossMetric;
/* Takes ownership of ctx (ctx_free, may be NULL, releases it, also on failure). */
LossMetric *loss_metric_new(size_t n, size_t k, double s, void (*apply)(void *, const double *,
                            double *), void *ctx, void (*ctx_free)(void *), Err *err);
/* The 1-D grid z_j = j/n: M_ij = c_{(i−j) mod n}, c_m = (1/n) Σ_b w_b cos(2πbm/n). */
LossMetric *loss_metric_grid1d(size_t n, size_t k, double s, Err *err);
void loss_metric_free(LossMetric *m);
void loss_metric_apply(const LossMetric *m, const double *R, double *out);
/* The weight (1 + |k|²)^s of a mode with squared frequency k2. */
double loss_sobolev_weight(double k2, double s);
/* The signed frequency of DFT bin b on n points: b for b <= n/2, else b − n. */
long loss_signed_freq(size_t b, size_t n);

/* Sum over rows of ℓ(F_i, Y_i). If GL is non-NULL it receives scale·∇ℓ per row.
 * aux [n][k] receives softmax probabilities for CE (needed by loss_hess_apply).
 * LOSS_SOBOLEV: ½ Σ_j r_jᵀ M r_j and GL = scale·M R, with M the metric of exactly these
 * n rows (NAN when M is NULL or of another size: the rows are not the whole grid). */
double loss_eval(LossKind kind, const LossMetric *M, size_t n, size_t k, const double *F,
                 const double *Y, double scale, double *GL, double *aux);
/* RGL = scale · H_ℓ(F_i) RF_i per row (aux from loss_eval; Y the same targets);
 * LOSS_SOBOLEV: RGL = scale · M RF. */
void loss_hess_apply(LossKind kind, const LossMetric *M, size_t n, size_t k, const double *aux,
                     const double *Y, const double *RF, double scale, double *RGL);
/* loss_hess_apply for kb directions per row: RF and RGL are [n][kb][k] (the block R-passes,
 * net.h), aux and Y [n][k]; weight (optional, [n]) multiplies row i's scale. Not for a
 * row-coupling loss. */
void loss_hess_apply_block(LossKind kind, size_t n, size_t kb, size_t k, const double *aux,
                           const double *Y, const double *RF, double scale,
                           const double *weight, double *RGL);
/* 1 when the loss couples the rows of a batch (Sobolev): evaluate it whole, unsplit. */
int loss_couples_rows(LossKind kind);

/* The predicted class of one output row f [k]: its argmax, the first maximum winning
 * (what accuracy counts as correct). */
size_t loss_argmax(const double *f, size_t k);

/* Rows [0, n) of a dataset; labels may be NULL; weight: see below (no accuracy). metric: the Sobolev
 * loss's M when the rows are a whole grid (NULL otherwise; unused by the other losses).
 * It travels with the batch so every evaluation (objective_*, hessian/curv.c) sees it
 * without a change to their signatures. */
typedef struct Batch {
  const double *X;   /* [n][d] */
  const double *Y;   /* [n][k] */
  const int *labels; /* [n] or NULL */
  size_t n;
  const LossMetric *metric;
  /* [n] per-row weights w_i, or NULL (every w_i = 1, the plain loss, its bits unchanged):
   * L = (1/n) Σ_i w_i ℓ_i, so weights of mean 1 keep the loss's scale. MSE and CE only. */
  const double *weight;
  /* A data-parallel batch (core/comm.h): these n rows are this rank's share of n_all rows
   * over comm's ranks; every sum over rows is summed over the ranks too and divided by
   * n_all. comm NULL (n_all unused, may be 0): the batch is all there is. */
  size_t n_all;
  const struct Comm *comm;
} Batch;

/* Every row of a Dataset as a batch (its shard, with n_all and comm, when sharded). */
struct Dataset;
Batch batch_of_dataset(const struct Dataset *ds);
/* The rows the batch's means divide by: n_all of a data-parallel batch, else n. */
size_t batch_rows_all(const Batch *b);
/* The end of a sum over a batch's rows: on a data-parallel batch grad [P] (when non-NULL),
 * *total and *correct are summed over the ranks (one allreduce of P + 2 doubles' worth);
 * otherwise nothing happens. Outside OpenMP regions only (comm.h). */
int batch_sum_ranks(const Batch *b, double *grad, size_t P, double *total, size_t *correct,
                    Err *err);

/* One chunk of the objective: forward rows [r0, r0+m) of b through cache (cap >= m), and
 * return Σ ℓ over them; when grad is non-NULL, add their share of ∇L (scaled by 1/b->n);
 * when correct is non-NULL and b has labels, add the argmax hits. The building block of
 * every sum over examples (objective_eval*, hessian/curv.c). */
double objective_chunk(const Net *net, const double *theta, LossKind loss, const Batch *b,
                       size_t r0, size_t m, NetCache *cache, double *grad, size_t *correct);

/* The same chunk in float32 (--precision mixed): forward and backward in float32 at θ32
 * (a float copy of θ) on the chunk's rows X32 [m][d_in] (already float), the loss and
 * dL/dF in double (gl64 [m][d_out] scratch); the chunk's float gradient goes through g32
 * ([P], zero on entry and again on return) into grad (double), when grad is non-NULL. */
double objective_chunk_f32(const Net *net, const float *theta32, LossKind loss, const Batch *b,
                           size_t r0, size_t m, const float *X32, NetCacheF32 *cache,
                           double *gl64, float *g32, double *grad, size_t *correct);

/* Loss (mean over the batch), accuracy (NAN without labels) and, when grad is
 * non-NULL, the gradient (overwritten), through cache in chunks of cache->cap rows.
 * Returns CS_OK; CS_EINVAL (loss NAN) for a row-coupling loss the cache cannot hold
 * in one chunk. */
int objective_eval(const Net *net, const double *theta, LossKind loss, const Batch *b,
                   NetCache *cache, double *grad, double *loss_out, double *acc_out);

/* The same, data-parallel: each OpenMP thread runs whole chunks with single-threaded
 * BLAS into its own cache and gradient accumulator, summed once at the end. Far fewer
 * synchronisations than threading each GEMM, which small and mid-sized nets feel most. */
typedef struct ObjectiveWork {
  int nthreads;
  size_t chunk;                  /* rows per chunk */
  NetCache *cache[THREADS_MAX];  /* one per thread, cap = chunk */
  double *acc[THREADS_MAX];      /* [P] per thread t >= 1 */
  /* float32 passes (objective_work_set_precision), else NULL: per thread a float cache,
   * the chunk's rows in float, its float gradient and the loss's dL/dF in double */
  float *theta32;                /* [P] */
  NetCacheF32 *cache32[THREADS_MAX];
  float *x32[THREADS_MAX], *g32[THREADS_MAX];
  double *gl64[THREADS_MAX];
} ObjectiveWork;
/* For batches of up to n_max rows, in chunks of at most `chunk` rows (0: no limit). */
ObjectiveWork *objective_work_alloc(const Net *net, size_t n_max, size_t chunk);
/* For `loss`: objective_work_alloc's, or for a row-coupling loss one thread and one
 * chunk of n_max rows. */
ObjectiveWork *objective_work_alloc_for(const Net *net, LossKind loss, size_t n_max,
                                        size_t chunk);
void objective_work_free(ObjectiveWork *w);
/* Runs objective_eval_parallel's passes in float32 from now on (p mixed or f32; f64: no
 * change). The float workspaces are allocated here, once. CS_ENOMEM. */
int objective_work_set_precision(ObjectiveWork *w, const Net *net, Precision p, Err *err);
int objective_eval_parallel(const Net *net, const double *theta, LossKind loss, const Batch *b,
                            ObjectiveWork *w, double *grad, double *loss_out, double *acc_out);
/* objective_eval_parallel and then ‖grad‖, ‖θ‖ (grad non-NULL), the training step's
 * pair. Float64 (or weighted rows): threads_norm_pair's, the same bits. Float32 passes:
 * formed in the pass that sums the parts' float gradients into grad, over
 * threads_norm_pair's fixed blocks with 8 partial sums in each (their own bits, the same
 * whatever the thread count, within a few units of 2^-53 of threads_norm_pair's). */
int objective_eval_norms(const Net *net, const double *theta, LossKind loss, const Batch *b,
                         ObjectiveWork *w, double *grad, double *loss_out, double *acc_out,
                         double *gnorm, double *pnorm);
/* The parts' loss sums and argmax hits added in part order, then (a data-parallel batch)
 * summed over the ranks with grad: the batch's mean loss and accuracy (NAN without labels)
 * over every rank's rows, into the outputs that are non-NULL. Nonzero if the ranks' sum
 * failed (the outputs are then NAN). */
int objective_parts_finish(int T, const double *part_loss, const size_t *part_correct,
                           const Batch *b, double *grad, size_t P, double *loss_out,
                           double *acc_out);
/* objective_eval_parallel's float32 passes (objective_f32.c; w has them): the same chunks
 * and parts, rows and θ in float, each part's last chunk gradient kept in float until one
 * pass over P sums the parts into grad, zeroes the float buffers and (gnorm and pnorm
 * non-NULL) forms the norms as objective_eval_norms says. */
int objective_eval_f32(const Net *net, const double *theta, LossKind loss, const Batch *b,
                       ObjectiveWork *w, double *grad, double *loss_out, double *acc_out,
                       double *gnorm, double *pnorm);

#endif
