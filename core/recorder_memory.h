/*
 * recorder_memory.h: a Recorder that keeps a run's history in memory, for tests.
 *
 * Holds what a database would: step records, metrics, eigenvalues (one entry
 * per value, idx 0.. for top and -1, -2.. for bottom, as in the eigs table),
 * series and density points, phases, checkpoints (copies) and the status.
 * The struct is public for tests to inspect; the accessors below cover the
 * common questions. run_begin may be called again: it clears everything.
 *
 * Ownership: memrec_alloc / memrec_free (NULL is a no-op); memrec_recorder
 * returns a Recorder pointing at the MemRecorder, valid until it is freed.
 * Strings returned by accessors belong to the MemRecorder.
 * Thread safety: one thread per MemRecorder.
 */
#ifndef CS_RECORDER_MEMORY_H
#define CS_RECORDER_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "recorder.h"

typedef struct MemMetric {
  long step;
  char name[48];
  double value;
} MemMetric;

typedef struct MemEig {
  long step;
  char op[32];
  int idx;          /* 0.. top (descending), -1.. bottom (-1 = smallest) */
  double value;
  double residual;  /* NAN when not given */
  long batch_size;
  long matvecs;
  int converged;
  int draw;
  char source[16];  /* "probe" when the record gave none */
} MemEig;

typedef struct MemSeries { /* one value of a series or of a density (name = operator) */
  long step;
  char name[48];
  long idx;
  double x;         /* density abscissa; the index for a series */
  double value;
} MemSeries;

typedef struct MemPhase {
  char phase[16];
  long start, end;
  char *detail;     /* owned copy, may be NULL */
} MemPhase;

typedef struct MemCheckpoint {
  long step;
  size_t n;
  double *params;   /* owned copy */
} MemCheckpoint;

typedef struct MemRecorder {
  int64_t run_id;   /* 0 before run_begin; then 1, 2, .. */
  char name[64], study[32], group[64];
  char *config;     /* owned copy of the config JSON */
  uint64_t seed;
  size_t n_params;
  char status[16];  /* "" before run_begin, then "running", then run_end's */
  char error[256];
  StepRecord *steps;   size_t n_steps, cap_steps;
  MemMetric *metrics;  size_t n_metrics, cap_metrics;
  MemEig *eigs;        size_t n_eigs, cap_eigs;
  MemSeries *series;   size_t n_series, cap_series;
  MemSeries *density;  size_t n_density, cap_density;
  MemPhase *phases;    size_t n_phases, cap_phases;
  MemCheckpoint *ckpts; size_t n_ckpts, cap_ckpts;
  long n_flushes;
  int fail_after;   /* test hook: if > 0, the fail_after-th write call fails with CS_EIO */
  int n_writes;
} MemRecorder;

MemRecorder *memrec_alloc(void);
void memrec_free(MemRecorder *m);
/* The Recorder vtable over m. */
Recorder memrec_recorder(MemRecorder *m);

/* Number of step records. */
size_t memrec_n_steps(const MemRecorder *m);
/* Loss of the last step record; NAN if none. */
double memrec_last_loss(const MemRecorder *m);
/* "" before run_begin, "running", or the status given to run_end. */
const char *memrec_status(const MemRecorder *m);
/* The last value written for (name, step): CS_OK, or CS_ENOTFOUND. */
int memrec_metric_find(const MemRecorder *m, const char *name, long step, double *value);
/* Values of operator op at index idx in write order (steps into steps[] if not
 * NULL), at most max of them; returns how many there are in all. */
size_t memrec_eig_values(const MemRecorder *m, const char *op, int idx, double *values,
                         long *steps, size_t max);
/* The checkpoint at step (-1: the last written), or NULL. */
const MemCheckpoint *memrec_checkpoint(const MemRecorder *m, long step);

#endif
