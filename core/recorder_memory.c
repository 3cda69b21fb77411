/*
 * recorder_memory.c: the in-memory Recorder for tests (see recorder_memory.h).
 * Every record is appended to a growing array; lookups scan linearly, which is
 * fine at test sizes.
 */
#include "recorder_memory.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows *arr (elements of size sz) so that one more fits. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz, Err *err) {
  if (n < *cap) return CS_OK;
  size_t c = *cap ? 2 * *cap : 32;
  void *p = realloc(*arr, c * sz);
  if (!p) return err_set(err, CS_ENOMEM, "memory recorder: out of memory");
  *arr = p;
  *cap = c;
  return CS_OK;
}
#define GROW(m, arr, n, cap, err) grow((void **)&(m)->arr, &(m)->cap, (m)->n, sizeof *(m)->arr, err)

static void copy_str(char *dst, size_t n, const char *s) { snprintf(dst, n, "%s", s ? s : ""); }

/* The test hook: counts write calls and fails the fail_after-th one. */
static int hook(MemRecorder *m, const char *what, Err *err) {
  m->n_writes++;
  if (m->fail_after > 0 && m->n_writes == m->fail_after)
    return err_set(err, CS_EIO, "memory recorder: injected failure at write %d (%s)",
                   m->n_writes, what);
  return CS_OK;
}

static void clear(MemRecorder *m) {
  for (size_t i = 0; i < m->n_phases; i++) free(m->phases[i].detail);
  for (size_t i = 0; i < m->n_ckpts; i++) free(m->ckpts[i].params);
  free(m->config);
  m->config = NULL;
  m->n_steps = m->n_metrics = m->n_eigs = m->n_series = m->n_density = 0;
  m->n_phases = m->n_ckpts = 0;
  m->status[0] = m->error[0] = '\0';
}

static int mr_run_begin(void *self, const RunInfo *info, int64_t *run_id, Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "run_begin", err);
  if (rc) return rc;
  clear(m);
  copy_str(m->name, sizeof m->name, info->name);
  copy_str(m->study, sizeof m->study, info->study);
  copy_str(m->group, sizeof m->group, info->group);
  const char *cfg = info->config_json ? info->config_json : "{}";
  m->config = malloc(strlen(cfg) + 1);
  if (!m->config) return err_set(err, CS_ENOMEM, "memory recorder: out of memory");
  strcpy(m->config, cfg);
  m->seed = info->seed;
  m->n_params = info->n_params;
  copy_str(m->status, sizeof m->status, "running");
  m->run_id++;
  if (run_id) *run_id = m->run_id;
  return CS_OK;
}

static int mr_step(void *self, const StepRecord *s, Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "step", err);
  if (rc || (rc = GROW(m, steps, n_steps, cap_steps, err))) return rc;
  m->steps[m->n_steps++] = *s;
  return CS_OK;
}

static int mr_metric(void *self, long step, const char *name, double value, Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "metric", err);
  if (rc || (rc = GROW(m, metrics, n_metrics, cap_metrics, err))) return rc;
  MemMetric *x = &m->metrics[m->n_metrics++];
  x->step = step;
  copy_str(x->name, sizeof x->name, name);
  x->value = value;
  return CS_OK;
}

static int mr_series(void *self, long step, const char *name, size_t n, const double *v,
                     Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "series", err);
  for (size_t i = 0; rc == CS_OK && i < n; i++) {
    if ((rc = GROW(m, series, n_series, cap_series, err))) break;
    MemSeries *x = &m->series[m->n_series++];
    x->step = step;
    copy_str(x->name, sizeof x->name, name);
    x->idx = (long)i;
    x->x = (double)i;
    x->value = v[i];
  }
  return rc;
}

static int mr_eigs(void *self, const EigRecord *e, Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "eigs", err);
  for (int i = 0; rc == CS_OK && i < e->count; i++) {
    if ((rc = GROW(m, eigs, n_eigs, cap_eigs, err))) break;
    MemEig *x = &m->eigs[m->n_eigs++];
    x->step = e->step;
    copy_str(x->op, sizeof x->op, e->op);
    x->idx = e->bottom ? -1 - i : i;
    x->value = e->values[i];
    x->residual = e->residuals ? e->residuals[i] : NAN;
    x->batch_size = e->batch_size;
    x->matvecs = e->matvecs;
    x->converged = e->converged;
    x->draw = e->draw;
    copy_str(x->source, sizeof x->source, e->source ? e->source : "probe");
  }
  return rc;
}

static int mr_density(void *self, long step, const char *op, size_t n, const double *xs,
                      const double *ys, Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "density", err);
  for (size_t i = 0; rc == CS_OK && i < n; i++) {
    if ((rc = GROW(m, density, n_density, cap_density, err))) break;
    MemSeries *x = &m->density[m->n_density++];
    x->step = step;
    copy_str(x->name, sizeof x->name, op);
    x->idx = (long)i;
    x->x = xs[i];
    x->value = ys[i];
  }
  return rc;
}

static int mr_phase(void *self, const char *phase, long start, long end, const char *detail,
                    Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "phase", err);
  if (rc || (rc = GROW(m, phases, n_phases, cap_phases, err))) return rc;
  MemPhase *x = &m->phases[m->n_phases];
  copy_str(x->phase, sizeof x->phase, phase);
  x->start = start;
  x->end = end;
  x->detail = NULL;
  if (detail) {
    x->detail = malloc(strlen(detail) + 1);
    if (!x->detail) return err_set(err, CS_ENOMEM, "memory recorder: out of memory");
    strcpy(x->detail, detail);
  }
  m->n_phases++;
  return CS_OK;
}

static int mr_checkpoint(void *self, long step, const double *params, size_t n, Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "checkpoint", err);
  if (rc || (rc = GROW(m, ckpts, n_ckpts, cap_ckpts, err))) return rc;
  double *p = malloc((n ? n : 1) * sizeof *p);
  if (!p) return err_set(err, CS_ENOMEM, "memory recorder: out of memory");
  if (n) memcpy(p, params, n * sizeof *p);
  m->ckpts[m->n_ckpts++] = (MemCheckpoint){.step = step, .n = n, .params = p};
  return CS_OK;
}

static int mr_flush(void *self, Err *err) {
  MemRecorder *m = self;
  m->n_flushes++;
  return CS_OK;
}

static int mr_run_end(void *self, const char *status, const char *error, Err *err) {
  MemRecorder *m = self;
  int rc = hook(m, "run_end", err);
  if (rc) return rc;
  copy_str(m->status, sizeof m->status, status);
  copy_str(m->error, sizeof m->error, error);
  return CS_OK;
}

MemRecorder *memrec_alloc(void) { return calloc(1, sizeof(MemRecorder)); }

void memrec_free(MemRecorder *m) {
  if (!m) return;
  clear(m);
  free(m->steps);
  free(m->metrics);
  free(m->eigs);
  free(m->series);
  free(m->density);
  free(m->phases);
  free(m->ckpts);
  free(m);
}

Recorder memrec_recorder(MemRecorder *m) {
  return (Recorder){.self = m,
                    .run_begin = mr_run_begin,
                    .step = mr_step,
                    .metric = mr_metric,
                    .series = mr_series,
                    .eigs = mr_eigs,
                    .density = mr_density,
                    .phase = mr_phase,
                    .checkpoint = mr_checkpoint,
                    .flush = mr_flush,
                    .run_end = mr_run_end};
}

size_t memrec_n_steps(const MemRecorder *m) { return m->n_steps; }

double memrec_last_loss(const MemRecorder *m) {
  return m->n_steps ? m->steps[m->n_steps - 1].loss : NAN;
}

const char *memrec_status(const MemRecorder *m) { return m->status; }

int memrec_metric_find(const MemRecorder *m, const char *name, long step, double *value) {
  for (size_t i = m->n_metrics; i-- > 0;) {
    if (m->metrics[i].step == step && !strcmp(m->metrics[i].name, name)) {
      if (value) *value = m->metrics[i].value;
      return CS_OK;
    }
  }
  return CS_ENOTFOUND;
}

size_t memrec_eig_values(const MemRecorder *m, const char *op, int idx, double *values,
                         long *steps, size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < m->n_eigs; i++) {
    const MemEig *e = &m->eigs[i];
    if (e->idx != idx || strcmp(e->op, op) != 0) continue;
    if (k < max) {
      if (values) values[k] = e->value;
      if (steps) steps[k] = e->step;
    }
    k++;
  }
  return k;
}

const MemCheckpoint *memrec_checkpoint(const MemRecorder *m, long step) {
  if (step < 0) return m->n_ckpts ? &m->ckpts[m->n_ckpts - 1] : NULL;
  for (size_t i = m->n_ckpts; i-- > 0;)
    if (m->ckpts[i].step == step) return &m->ckpts[i];
  return NULL;
}
