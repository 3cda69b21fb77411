/*
 * progress.c: the progress of a training run on stderr (cli.h, CliProgress).
 *
 * On a terminal: one line rewritten in place (at most 10 times a second) with the step,
 * loss, accuracy, the latest sharpness when a probe measured one, speed and ETA. Else
 * (nohup, a scheduler, a pipe): one plain line every CURVSCOPE_PROGRESS_S seconds
 * (default 10), so a long job is not silent. The sharpness is seen on its way to the
 * database: the run records through a Recorder that forwards every call to the real
 * one and notes the top eigenvalue of the Hessian (or Adam's preconditioned one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/spec.h"
#include "core/threads.h"

#define TTY_INTERVAL_S 0.1

/* ---- the tap: every call forwarded to the run's recorder ------------------------------ */

static Recorder *inner(void *self) { return ((CliProgress *)self)->inner; }

static int tap_run_begin(void *self, const RunInfo *info, int64_t *id, Err *err) {
  return rec_run_begin(inner(self), info, id, err);
}
static int tap_step(void *self, const StepRecord *s, Err *err) { return rec_step(inner(self), s, err); }
static int tap_metric(void *self, long step, const char *name, double v, Err *err) {
  return rec_metric(inner(self), step, name, v, err);
}
static int tap_series(void *self, long step, const char *name, size_t n, const double *v, Err *err) {
  return rec_series(inner(self), step, name, n, v, err);
}
static int tap_eigs(void *self, const EigRecord *e, Err *err) {
  CliProgress *p = self;
  int is_sharpness = e->op && (!strcmp(e->op, "hessian") || !strcmp(e->op, "precond"));
  if (is_sharpness && !e->bottom && e->count > 0 && e->draw == 0) {
    p->sharpness = e->values[0];
    p->sharpness_step = e->step;
    p->sharpness_precond = e->op[0] == 'p';
  }
  return rec_eigs(inner(self), e, err);
}
static int tap_density(void *self, long step, const char *op, size_t n, const double *x,
                       const double *y, Err *err) {
  return rec_density(inner(self), step, op, n, x, y, err);
}
static int tap_phase(void *self, const char *phase, long a, long b, const char *d, Err *err) {
  return rec_phase(inner(self), phase, a, b, d, err);
}
static int tap_checkpoint(void *self, long step, const double *params, size_t n, Err *err) {
  return rec_checkpoint(inner(self), step, params, n, err);
}
static int tap_opt_state(void *self, long step, const char *meta, const double *state, size_t n,
                         Err *err) {
  return rec_opt_state(inner(self), step, meta, state, n, err);
}
static int tap_flush(void *self, Err *err) { return rec_flush(inner(self), err); }
static int tap_run_end(void *self, const char *status, const char *error, Err *err) {
  return rec_run_end(inner(self), status, error, err);
}

int cli_progress_init(CliProgress *p, Err *err) {
  memset(p, 0, sizeof *p);
  p->tap = (Recorder){p, tap_run_begin, tap_step, tap_metric, tap_series, tap_eigs, tap_density,
                      tap_phase, tap_checkpoint, tap_opt_state, tap_flush, tap_run_end};
  p->sharpness_step = -1;
  p->tty = isatty(STDERR_FILENO);
  p->interval = p->tty ? TTY_INTERVAL_S : 10.0;
  const char *env = getenv("CURVSCOPE_PROGRESS_S");
  if (env && !p->tty) {
    double s;
    if (parse_double(env, &s) || s < 0 || s > 1e6)
      return err_set(err, CS_EINVAL, "environment variable CURVSCOPE_PROGRESS_S='%s' is not a "
                     "number of seconds in [0, 1e6]", env);
    p->interval = s;
  }
  p->last = wall_time();
  if (p->tty) p->last -= p->interval; /* the first step shows at once */
  return CS_OK;
}

/* ---- the line -------------------------------------------------------------------------- */

void cli_progress_show(CliProgress *p, const char *line, int force) {
  double now = wall_time();
  if (!force && now - p->last < p->interval) return;
  p->last = now;
  if (p->tty) { /* rewritten in place; \033[K clears what a longer line left */
    fprintf(stderr, "\r  %s\033[K", line);
    p->pending = 1;
  } else {
    fprintf(stderr, "curvscope: %s\n", line);
  }
  fflush(stderr);
}

void cli_progress(void *ctx, const TrainProgress *t) {
  CliProgress *p = ctx;
  if (wall_time() - p->last < p->interval && !(p->tty && t->step >= t->steps)) return;
  char line[256];
  int n = snprintf(line, sizeof line, "step %ld/%ld  loss %.6g", t->step, t->steps, t->loss);
  if (t->accuracy == t->accuracy && n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, "  acc %.4f", t->accuracy);
  if (p->sharpness_step >= 0 && n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, "  %s %.5g (step %ld)",
                  p->sharpness_precond ? "precond sharpness" : "sharpness", p->sharpness,
                  p->sharpness_step);
  if (n < (int)sizeof line)
    snprintf(line + n, sizeof line - (size_t)n, "  %.1f steps/s  ETA %.0fs", t->steps_per_s,
             t->eta_s);
  cli_progress_show(p, line, 1);
}

void cli_progress_end(CliProgress *p) {
  if (!p || !p->pending) return;
  fputc('\n', stderr);
  fflush(stderr);
  p->pending = 0;
}
