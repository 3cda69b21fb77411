/*
 * loss.h: training losses with value, gradient and output-space Hessian, and
 * the full objective L(θ) = (1/N) Σ_i ℓ(f(x_i), y_i) summed over row chunks.
 *
 * MSE: ℓ = ½‖f − y‖² (docs/MATH.md, as Cohen et al.), ∇ℓ = f − y, H_ℓ = I.
 * Cross-entropy: p = softmax(f), ℓ = −Σ_j y_j log p_j, ∇ℓ = (Σy) p − y,
 * H_ℓ = (Σy)(diag(p) − ppᵀ) (Σy = 1 for one-hot or smoothed targets).
 * objective_eval is the one place the sum over examples happens for gradients
 * (a data-parallel reduction would slot in here).
 */
#ifndef CS_LOSS_H
#define CS_LOSS_H

#include <stddef.h>

#include "err.h"
#include "net.h"
#include "threads.h"

typedef enum { LOSS_MSE = 0, LOSS_CE } LossKind;

int loss_parse(const char *text, LossKind *k, Err *err);
const char *loss_name(LossKind k);

/* Sum over rows of ℓ(F_i, Y_i). If GL is non-NULL it receives scale·∇ℓ per row.
 * aux [n][k] receives softmax probabilities for CE (needed by loss_hess_apply). */
double loss_eval(LossKind kind, size_t n, size_t k, const double *F, const double *Y, double scale,
                 double *GL, double *aux);
/* RGL = scale · H_ℓ(F_i) RF_i per row (aux from loss_eval; Y the same targets). */
void loss_hess_apply(LossKind kind, size_t n, size_t k, const double *aux, const double *Y,
                     const double *RF, double scale, double *RGL);

/* The predicted class of one output row f [k]: its argmax, the first maximum winning
 * (what accuracy counts as correct). */
size_t loss_argmax(const double *f, size_t k);

/* Rows [0, n) of a dataset; labels may be NULL (no accuracy). */
typedef struct Batch {
  const double *X;   /* [n][d] */
  const double *Y;   /* [n][k] */
  const int *labels; /* [n] or NULL */
  size_t n;
} Batch;

/* One chunk of the objective: forward rows [r0, r0+m) of b through cache (cap >= m), and
 * return Σ ℓ over them; when grad is non-NULL, add their share of ∇L (scaled by 1/b->n);
 * when correct is non-NULL and b has labels, add the argmax hits. The building block of
 * every sum over examples (objective_eval*, hessian/curv.c). */
double objective_chunk(const Net *net, const double *theta, LossKind loss, const Batch *b,
                       size_t r0, size_t m, NetCache *cache, double *grad, size_t *correct);

/* Loss (mean over the batch), accuracy (NAN without labels) and, when grad is
 * non-NULL, the gradient (overwritten), through cache in chunks of cache->cap rows.
 * Returns CS_OK. */
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
} ObjectiveWork;
/* For batches of up to n_max rows, in chunks of at most `chunk` rows (0: no limit). */
ObjectiveWork *objective_work_alloc(const Net *net, size_t n_max, size_t chunk);
void objective_work_free(ObjectiveWork *w);
int objective_eval_parallel(const Net *net, const double *theta, LossKind loss, const Batch *b,
                            ObjectiveWork *w, double *grad, double *loss_out, double *acc_out);

#endif
