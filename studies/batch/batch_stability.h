/*
 * batch_stability.h: the empirical side of the learning-rate rule (docs/BATCH.md):
 * for each batch size B, the largest step size η_max whose short run from a common
 * start neither diverges nor ends above its start loss (the whole training set's
 * loss, before and after), for one optimizer (SGD or Adam).
 *
 * The ladder of a size starts at a guess (the prediction 2/λ̄(B) for SGD) and moves
 * by a constant factor: up while runs are stable, down while they are not, so a
 * size costs a few runs around its threshold. Stability is taken as monotone in η
 * (η_max = the last stable rung below the first unstable one). Each run is a
 * train_run without recorder or probes, its mini-batch order from the seed, so
 * every rung of every size sees the same sequence of batches for a given B.
 *
 * Thread safety: as train_run (OpenMP inside). Allocates per run (these are
 * training runs, not products).
 */
#ifndef CS_BATCH_STABILITY_H
#define CS_BATCH_STABILITY_H

#include <stddef.h>
#include <stdint.h>

#include "batch_fit.h"
#include "batch_summary.h"
#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"

typedef struct StabilityOptions {
  const OptimizerType *opt; /* optim_gd (SGD) or optim_adam */
  OptConfig cfg;            /* everything but lr */
  double factor;            /* rung ratio, > 1 (default √2) */
  int max_rungs;            /* runs per size at most (default 16) */
  long steps;               /* updates per run (default 20) */
  long chunk;               /* rows per chunk of full-batch passes */
  uint64_t seed;            /* mini-batch order */
} StabilityOptions;

/* optim_gd, optconfig_default, √2, 16 rungs, 20 steps, chunk 5000, seed 0. */
void batch_stability_options_default(StabilityOptions *o);

/* η_max[i] for the sizes B[i] (B >= N: full batch) from theta0, the ladder of size i
 * starting at lr_start[i] > 0, or, where lr_start[i] is NAN, at the previous size's
 * η_max (larger batches tolerate larger steps; lr_start[0] must be given). η_max[i] is NAN when the ladder found no stable rung, or
 * no unstable one, within max_rungs. runs[i] (runs may be NULL) counts the runs made.
 * CS_EINTERRUPTED when a run was stopped by train_request_stop() (Ctrl-C). */
int batch_stability_grid(const Net *net, LossKind loss, const double *theta0,
                         const Dataset *train, const size_t *B, int nb, const double *lr_start,
                         const StabilityOptions *o, double *lr_max, int *runs, Err *err);

/* The log-log slope of η_max against B over the sizes below saturation: from the
 * smallest size with a finite η_max up to the first size where η_max reaches its
 * largest value. CS_EINVAL when fewer than two sizes qualify. */
int batch_fit_lr_exponent(const size_t *B, const double *lr_max, int nb, BatchFit *f, Err *err);

/* The grid of the study: SGD and Adam on every size of a measurement. */
typedef struct BatchGrid {
  int nb;
  size_t batch[BS_MAX_BATCHES + 1];
  double lr_sgd[BS_MAX_BATCHES + 1], lr_adam[BS_MAX_BATCHES + 1]; /* η_max, NAN: not found */
  int runs_sgd[BS_MAX_BATCHES + 1], runs_adam[BS_MAX_BATCHES + 1];
  BatchFit sgd, adam, pred, pred_adam; /* log-log slopes below saturation (npoints 0: none);
                               pred, pred_adam: of 2/λ̄(B), 2/λ̄_precond(B) by the same rule */
  long steps;               /* updates per run */
  int rungs;                /* runs per size at most */
} BatchGrid;

/* Runs the grid from theta0 over the sizes of r selected by use[i] != 0 (use NULL: every
 * size); the others keep η_max NAN and 0 runs, so the arrays stay indexed as r's sizes.
 * SGD's ladder of each size starts at the prediction 2/λ̄(B) (s->lr_pred); Adam's, for the
 * smallest selected size, at its prediction 2/λ̄_precond(B) when s has it (else at
 * adam_start), and then at the previous size's η_max. base
 * supplies momentum, betas and ε (lr is ignored). */
int batch_grid_run(const Net *net, LossKind loss, const double *theta0, const Dataset *train,
                   const BatchScalingResult *r, const BatchScalingSummary *s, const int *use,
                   const OptConfig *base, double adam_start, const StabilityOptions *o,
                   BatchGrid *g, Err *err);

/* The grid's default selection (use[i] for r's nb sizes): the `k` smallest sizes below N
 * (all sizes when none is below N). The full grid is every size. */
void batch_grid_default_sizes(const BatchScalingResult *r, int k, int *use);

#endif
