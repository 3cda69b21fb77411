/*
 * train.h: the training loop, with probe and recorder hooks.
 *
 * At each step t = 0, 1, ...: the loss and gradient at θ_t (full batch in chunks,
 * or a shuffled mini-batch), a step record, the probes due at t (they see θ_t and
 * its gradient, before the update, as Cohen et al. measure; a due probe may supply
 * the step's gradient from its own pass, see Probe.step_eval), test evaluation
 * every eval_every steps, checkpoints every checkpoint_every steps, then the
 * update θ_{t+1}. The run ends at `steps`, at a training accuracy, on divergence
 * (NaN/Inf or an exploding loss: status "diverged", never a crash) or when
 * train_request_stop() was called (Ctrl-C: status "interrupted"), or when a probe
 * set TrainState.stop (status "finished": a study's own stopping rule). The final
 * state is always recorded and checkpointed, and the recorder flushed; a diverged
 * run's final checkpoint is its last finite parameters (the diverged step's when
 * they are finite, else the step before's).
 *
 * core/ never prints: progress goes to an optional callback.
 */
#ifndef CS_TRAIN_H
#define CS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "loss.h"
#include "precision.h"
#include "net.h"
#include "optim.h"
#include "recorder.h"

typedef struct TrainState {
  const Net *net;
  double *theta;            /* θ_t */
  const double *grad;       /* ∇L at θ_t on the step's batch */
  Optimizer *opt;           /* state after t updates */
  long step;
  double loss, accuracy;    /* on the step's batch */
  LossKind loss_kind;
  const LossMetric *metric; /* the Sobolev loss's M on the training grid (else NULL) */
  const Dataset *train, *test;
  Recorder *rec;
  double lr;                /* η in use */
  double threshold;         /* optimizer's stability threshold at this η */
  int stop;                 /* a probe sets 1 to make this step the run's last ("finished") */
  double grad_norm;         /* ‖∇L‖ at θ_t (the step row's), so probes need not recompute it */
} TrainState;

/* A measurement run during training; studies implement probes. */
typedef struct Probe {
  const char *name;
  long every;               /* run when step % every == 0 (and at the final step) */
  void *self;
  int (*run)(void *self, TrainState *st, Err *err);
  void (*destroy)(void *self);
  /* Optional. At a full-batch step t with t % every == 0 the loop offers the probe the
   * step's evaluation: it may compute loss, accuracy (NAN without labels) and gradient
   * at θ_t on batch b, with `chunk` rows per chunk as the loop would (same bits), in
   * the forward/backward its measurement needs anyway, and set *done = 1. The run()
   * that follows at the same step then reuses that pass: one pass per step saved. */
  int (*step_eval)(void *self, const double *theta, const Batch *b, long chunk, double *grad,
                   double *loss, double *acc, int *done, Err *err);
} Probe;

typedef struct TrainProgress {
  long step, steps;
  double loss, accuracy, steps_per_s, eta_s;
} TrainProgress;

typedef struct TrainConfig {
  long steps;               /* updates to take */
  long batch;               /* 0: full batch */
  long chunk;               /* rows per GEMM chunk for full-batch passes (0: no limit,
                               -1: auto, the machine's choice: core/layout.h) */
  long eval_every;          /* 0: only at the end */
  long checkpoint_every;    /* 0: only the final parameters */
  double stop_accuracy;     /* stop when training accuracy >= this (0: never) */
  double diverge_factor;    /* loss > factor·max(L_0, 1) counts as divergence */
  uint64_t seed;            /* mini-batch shuffling */
  LossKind loss;
  Precision precision;      /* of the gradient passes (core/precision.h; default f64) */
  /* LOSS_SOBOLEV: its metric on the training grid (the caller owns it); the full batch
   * carries it. Mini-batches are refused (a mini-batch of a grid is not a grid), the
   * test loss stays MSE (test points are off the grid). */
  const LossMetric *metric;
  void (*progress)(void *ctx, const TrainProgress *p);
  void *progress_ctx;
} TrainConfig;

typedef struct TrainResult {
  const char *status;       /* "finished", "diverged", "interrupted", "failed" */
  long steps_done;          /* updates taken */
  double final_loss, final_accuracy, test_loss, test_accuracy;
  double wall_s;
} TrainResult;

void trainconfig_default(TrainConfig *c);
/* CS_EINVAL naming the first bad field: counts >= 0, stop_accuracy in [0, 1],
 * diverge_factor > 0 (INFINITY: only NaN/Inf count), no batch with a Sobolev loss. train_run checks it (and
 * optconfig_check) before anything is recorded. */
int trainconfig_check(const TrainConfig *c, Err *err);
/* Runs the loop. Returns CS_OK for finished, diverged and interrupted runs (see
 * res->status); an error status only when the run could not proceed (recorder
 * failure, out of memory, a failing probe), after marking the run failed. */
int train_run(const TrainConfig *cfg, const Net *net, double *theta, Optimizer *opt,
              const Dataset *train, const Dataset *test, Probe *probes, int nprobes,
              Recorder *rec, TrainResult *res, Err *err);

/* Async-signal-safe: asks the running loop to stop after the current step. */
void train_request_stop(void);
int train_stop_requested(void);
void train_clear_stop(void);

#endif
