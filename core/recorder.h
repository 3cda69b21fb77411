/*
 * recorder.h: where a run's history goes, as a small vtable.
 *
 * core/ (the training loop) and studies/ write through a Recorder without
 * knowing what stores it: db/ implements it over SQLite (db_recorder.c), and
 * recorder_memory.c keeps everything in memory for tests. Any slot may be NULL
 * (the call is then a no-op). Every call returns CS_OK or an error status with
 * err filled. Writes may be buffered; flush makes them durable.
 *
 * Ownership: strings and arrays passed in are copied if kept.
 * Thread safety: one thread per Recorder.
 */
#ifndef CS_RECORDER_H
#define CS_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct RunInfo {
  const char *name;        /* user-chosen, may be NULL */
  const char *study;       /* "train", "eos", ... */
  const char *group;       /* groups runs of one study invocation (e.g. the step sizes of `study eos`), may be NULL */
  const char *config_json; /* the full configuration as a JSON object */
  uint64_t seed;
  size_t n_params;
  const char *layout_json; /* the parameter layout, as stored with checkpoints */
} RunInfo;

typedef struct StepRecord {
  long step;
  double epoch;
  double loss;
  double accuracy;     /* NAN when not a classification task */
  double lr;
  double grad_norm;
  double param_norm;
  double wall_s;       /* seconds since the run began */
} StepRecord;

typedef struct EigRecord {
  long step;
  const char *op;          /* "hessian", "ggn", "precond", "batch", "layer:2", ... */
  long batch_size;         /* examples the operator was built on */
  int count;               /* number of eigenvalues */
  const double *values;    /* [count], descending for top, ascending for bottom */
  const double *residuals; /* [count] ||Av - lambda v|| */
  long matvecs;            /* operator applications of the solve */
  double wall_s;           /* time of the solve */
  int converged;
  int bottom;              /* 0: top eigenvalues (stored idx 0,1,..); 1: bottom (idx -1 = smallest, -2, ..) */
  int draw;                /* which random batch of this size (0 for a full-batch operator) */
  const char *source;      /* what measured it: "probe" (during training, the default when
                              NULL), "analyze" (a stored checkpoint, after the fact), a study */
} EigRecord;

typedef struct Recorder {
  void *self;
  int (*run_begin)(void *self, const RunInfo *info, int64_t *run_id, Err *err);
  int (*step)(void *self, const StepRecord *s, Err *err);
  int (*metric)(void *self, long step, const char *name, double value, Err *err);
  int (*series)(void *self, long step, const char *name, size_t n, const double *values, Err *err);
  int (*eigs)(void *self, const EigRecord *e, Err *err);
  int (*density)(void *self, long step, const char *op, size_t n, const double *x,
                 const double *y, Err *err);
  int (*phase)(void *self, const char *phase, long start_step, long end_step,
               const char *detail_json, Err *err);
  int (*checkpoint)(void *self, long step, const double *params, size_t n, Err *err);
  /* The optimizer's state at a checkpointed step (after that step's checkpoint call):
   * meta_json describes it, state holds n values (its arrays one after another). */
  int (*opt_state)(void *self, long step, const char *meta_json, const double *state, size_t n,
                   Err *err);
  int (*flush)(void *self, Err *err);
  /* status: "finished", "diverged", "interrupted" or "failed"; error may be NULL. */
  int (*run_end)(void *self, const char *status, const char *error, Err *err);
} Recorder;

/* Null-safe dispatchers: a NULL recorder or slot is a successful no-op. */
int rec_run_begin(Recorder *r, const RunInfo *info, int64_t *run_id, Err *err);
int rec_step(Recorder *r, const StepRecord *s, Err *err);
int rec_metric(Recorder *r, long step, const char *name, double value, Err *err);
int rec_series(Recorder *r, long step, const char *name, size_t n, const double *v, Err *err);
int rec_eigs(Recorder *r, const EigRecord *e, Err *err);
int rec_density(Recorder *r, long step, const char *op, size_t n, const double *x,
                const double *y, Err *err);
int rec_phase(Recorder *r, const char *phase, long start, long end, const char *detail,
              Err *err);
int rec_checkpoint(Recorder *r, long step, const double *params, size_t n, Err *err);
int rec_opt_state(Recorder *r, long step, const char *meta_json, const double *state, size_t n,
                  Err *err);
int rec_flush(Recorder *r, Err *err);
int rec_run_end(Recorder *r, const char *status, const char *error, Err *err);

#endif
