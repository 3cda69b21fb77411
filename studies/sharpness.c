/* sharpness.c: the sharpness, preconditioned-sharpness and Gauss-Newton probes (see probes.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "hessian/curv.h"
#include "hessian/ops.h"
#include "lanczos/eig.h"
#include "probes.h"
#include "freqp/freqp.h"
#include "ntk/ntk.h"
#include "core/layout.h"
#include "spectral/spectral.h"
#include "track.h"

typedef enum { PK_HESSIAN, PK_PRECOND, PK_GN } ProbeKind;

typedef struct SharpProbe {
  ProbeKind kind;
  const Net *net;
  Curvature *curv;
  Batch batch;
  long chunk;          /* rows per chunk of the curvature build */
  int prebuilt;        /* step_eval just built the context at this step's θ */
  int warm;
  /* Trackers of the probe's operator and of the raw Hessian alongside (precond
   * probe), one per step parity when `every` is odd: at the edge of stability GD
   * alternates across the sharp direction, so H_t is far closer to H_{t-2} than to
   * H_{t-1} (one-product residuals 5-20x smaller, measured on Cohen's fc-tanh). */
  Tracker *tr[2], *tr_raw[2];
  int parity;          /* 1: index the trackers by step parity */
  Tracker *last;       /* the tracker of the last measurement */
  long step;           /* step of the measurement in progress */
  double *P;           /* Adam preconditioner (precond probe) */
  PrecondOp *pop;      /* P^{-1/2} H P^{-1/2}, P updated at each measurement */
  double *jv, *resid;  /* [n][d_out] (gn probe) */
  char name[32];
} SharpProbe;

/* One measurement through a tracker (a cold solve each time when warm=false). */
static int solve_with(SharpProbe *sp, Tracker *tr, const Linop *op, EigResult *r, Err *err) {
  if (!sp->warm) tracker_reset(tr);
  sp->last = tr;
  int rc = tracker_measure(tr, op, r, NULL, err);
  return rc == CS_ENOCONV ? CS_OK : rc;
}

static int solve(SharpProbe *sp, const Linop *op, EigResult *r, Err *err) {
  return solve_with(sp, sp->tr[sp->parity & sp->step], op, r, err);
}

/* The threshold the raw sharpness is compared with: the optimizer's, except for Adam,
 * whose own threshold is on the preconditioned sharpness (2/η is the reference then). */
static double raw_threshold(const TrainState *st) {
  return st->opt->type == optim_adam ? 2.0 / st->lr : st->threshold;
}

/* The measurement's eigs rows, and when it was a refresh, the check of the one-product
 * update it replaced (metric <op>_track_check, docs/TRACKING.md). */
static int record(SharpProbe *sp, TrainState *st, const char *opname, long batch,
                  const EigResult *r, Err *err) {
  EigRecord er = {st->step, opname, batch, r->ntop, r->values, r->residuals, r->matvecs,
                  r->wall_s, r->converged, 0, 0, "probe"};
  /* data-parallel: every rank ran the same solver on the same summed products */
  int rc = comm_check_same(sp->batch.comm, r->values, (size_t)r->k, "the probe's eigenvalues", err);
  if (!rc) rc = rec_eigs(st->rec, &er, err);
  double check = sp->last ? tracker_last_check(sp->last) : NAN;
  if (!rc && !isnan(check)) {
    char name[48];
    snprintf(name, sizeof name, "%s_track_check", opname);
    rc = rec_metric(st->rec, st->step, name, check, err);
  }
  return rc;
}

/* GN residual measures: D = f − y, u = J w/‖J w‖ with w the top GGN eigenvector. */
static int gn_residuals(SharpProbe *sp, TrainState *st, const double *w, Err *err) {
  const Net *net = sp->net;
  size_t n = sp->batch.n, k = net->d_out, m = n * k;
  curv_jvp(sp->curv, w, sp->jv);
  curv_outputs(sp->curv, sp->resid);
  double un = 0, dv = 0, dd = 0;
  for (size_t i = 0; i < m; i++) {
    sp->resid[i] -= sp->batch.Y[i];
    un += sp->jv[i] * sp->jv[i];
  }
  un = sqrt(un);
  for (size_t i = 0; i < m; i++) {
    double u = un > 0 ? sp->jv[i] / un : 0;
    dv += sp->resid[i] * u;
    dd += sp->resid[i] * sp->resid[i];
  }
  int rc = rec_metric(st->rec, st->step, "residual_R", (dd - dv * dv) / (double)n, err);
  if (!rc) rc = rec_metric(st->rec, st->step, "residual_Dv", dv, err);
  return rc;
}

typedef struct TrackerSetup {
  size_t n;
  int k;
  double tol, update_tol; /* update_tol 0: the tracker's default (tol) */
  int refresh;            /* < 0: the tracker's default */
  int use_arpack;
  int value_stop;         /* stop=value: full solves stop on the value bound */
  uint64_t seed;
} TrackerSetup;

static Tracker *tracker_new(const TrackerSetup *s) {
  Tracker *t = tracker_alloc(s->n, s->k, s->tol, s->use_arpack, s->seed);
  if (t && s->update_tol > 0) tracker_set_update_tol(t, s->update_tol, s->refresh);
  if (t) tracker_set_value_stop(t, s->value_stop);
  return t;
}

/* The loop's evaluation of a full-batch step from the build the measurement needs:
 * only when the probe's batch and chunking are the loop's, so the bits are the same. */
static int probe_step_eval(void *self, const double *theta, const Batch *b, long chunk,
                           double *grad, double *loss, double *acc, int *done, Err *err) {
  SharpProbe *sp = self;
  *done = 0;
  if (b->n != sp->batch.n || b->X != sp->batch.X || chunk != sp->chunk) return CS_OK;
  int rc = curv_build(sp->curv, theta, b, err);
  if (rc) return rc;
  memcpy(grad, curv_grad(sp->curv), sp->net->n_params * sizeof *grad);
  *loss = curv_loss(sp->curv);
  *acc = curv_accuracy(sp->curv);
  *done = 1;
  sp->prebuilt = 1; /* the loop calls run() next, at the same θ */
  return CS_OK;
}

static int probe_run(void *self, TrainState *st, Err *err) {
  SharpProbe *sp = self;
  int rc = CS_OK, prebuilt = sp->prebuilt;
  sp->prebuilt = 0;
  sp->batch.metric = st->metric; /* the Sobolev loss's M on the grid (NULL otherwise) */
  if (!prebuilt && (rc = curv_build(sp->curv, st->theta, &sp->batch, err))) return rc;
  Linop H = curv_hessian_op(sp->curv);
  EigResult r = {0};
  sp->step = st->step;
  long nb = (long)batch_rows_all(&sp->batch);
  switch (sp->kind) {
    case PK_HESSIAN:
      if ((rc = solve(sp, &H, &r, err))) break;
      if ((rc = record(sp, st, "hessian", nb, &r, err))) break;
      rc = rec_metric(st->rec, st->step, "sharpness_threshold", raw_threshold(st), err);
      break;
    case PK_PRECOND: {
      if (st->opt->t < 1) break; /* no preconditioner before Adam's first step */
      if ((rc = optim_adam_precond(st->opt, sp->P, err))) break;
      if (sp->pop ? precond_op_set(sp->pop, sp->P, err) : !(sp->pop = precond_op_alloc(&H, sp->P, err))) {
        rc = err->code;
        break;
      }
      Linop op = precond_op_linop(sp->pop);
      if ((rc = solve(sp, &op, &r, err)) || (rc = record(sp, st, "precond", nb, &r, err))) break;
      if ((rc = rec_metric(st->rec, st->step, "precond_threshold", st->threshold, err))) break;
      eig_result_free(&r); /* raw sharpness alongside */
      if ((rc = solve_with(sp, sp->tr_raw[sp->parity & sp->step], &H, &r, err))) break;
      if ((rc = record(sp, st, "hessian", nb, &r, err))) break;
      rc = rec_metric(st->rec, st->step, "sharpness_threshold", raw_threshold(st), err);
      break;
    }
    case PK_GN: {
      Linop G = curv_ggn_op(sp->curv);
      if ((rc = solve(sp, &G, &r, err)) || (rc = record(sp, st, "ggn", nb, &r, err))) break;
      if (r.ntop < 1) break;
      if ((rc = rec_metric(st->rec, st->step, "gn_sharpness", r.values[0], err))) break;
      rc = gn_residuals(sp, st, r.vectors, err);
      break;
    }
  }
  eig_result_free(&r);
  return rc;
}

static void probe_destroy(void *self) {
  SharpProbe *sp = self;
  if (!sp) return;
  curv_free(sp->curv);
  for (int i = 0; i < 2; i++) tracker_free(sp->tr[i]), tracker_free(sp->tr_raw[i]);
  free(sp->P);
  precond_op_free(sp->pop);
  free(sp->jv);
  free(sp->resid);
  free(sp);
}

int probe_create(const char *text, const Net *net, const Dataset *train, LossKind loss,
                 const OptimizerType *opt, Precision prec, Probe *out, Err *err) {
  if (spectral_probe_matches(text)) return spectral_probe_create(text, net, train, out, err);
  if (ntk_probe_matches(text)) return ntk_probe_create(text, net, train, loss, opt, out, err);
  if (freqp_probe_matches(text)) return freqp_probe_create(text, net, train, loss, out, err);
  Spec s;
  if (spec_parse(&s, text, err)) return err_prefix(err, "--probe");
  ProbeKind kind;
  if (!strcmp(s.kind, "sharpness")) kind = PK_HESSIAN;
  else if (!strcmp(s.kind, "precond-sharpness")) kind = PK_PRECOND;
  else if (!strcmp(s.kind, "gn-sharpness")) kind = PK_GN;
  else {
    err_set(err, CS_EINVAL,
            "--probe: unknown probe '%s' (known: sharpness, precond-sharpness, gn-sharpness, "
            "spectral, ntk, freqp)",
            s.kind);
    spec_free(&s);
    return CS_EINVAL;
  }
  long every = 10, k = kind == PK_HESSIAN ? 2 : 1, samples = 0, chunk = -1; /* auto, as --chunk */
  int f32 = precision_f32_passes(prec);
  double tol = f32 && precision_tol_min(prec) > 1e-6 ? precision_tol_min(prec) : 1e-6,
         update_tol = 0;
  long refresh = -1;
  int warm = 1;
  const char *solver = "lanczos", *stop = "residual";
  int rc = spec_get_int(&s, "every", &every, err);
  if (!rc) rc = spec_get_int(&s, "k", &k, err);
  if (!rc) rc = spec_get_int(&s, "samples", &samples, err);
  if (!rc) rc = spec_get_int(&s, "chunk", &chunk, err);
  if (!rc) rc = spec_get_double(&s, "tol", &tol, err);
  if (!rc) rc = spec_get_double(&s, "update_tol", &update_tol, err);
  if (!rc) rc = spec_get_int(&s, "refresh", &refresh, err);
  if (!rc) rc = spec_get_bool(&s, "warm", &warm, err);
  if (!rc) {
    spec_get_str(&s, "solver", &solver);
    spec_get_str(&s, "stop", &stop);
    rc = spec_check_unused(&s, 0, err);
  }
  if (!rc && (every < 1 || k < 1 || k > TRACKER_MAX_K || samples < 0 || !(tol > 0) || !(update_tol >= 0) ||
              refresh < -1))
    rc = err_set(err, CS_EINVAL,
                 "--probe '%s': need every >= 1, 1 <= k <= 64, samples >= 0, tol > 0, "
                 "update_tol >= 0, refresh >= 0", text);
  if (!rc && strcmp(solver, "arpack") && strcmp(solver, "lanczos"))
    rc = err_set(err, CS_EINVAL, "--probe '%s': solver=%s (use arpack or lanczos)", text, solver);
  if (!rc && strcmp(stop, "residual") && strcmp(stop, "value"))
    rc = err_set(err, CS_EINVAL, "--probe '%s': stop=%s (use residual or value)", text, stop);
  int value_stop = !rc && !strcmp(stop, "value");
  if (!rc && kind == PK_PRECOND && opt != optim_adam)
    rc = err_set(err, CS_EINVAL, "--probe precond-sharpness needs --opt adam (got %s)", opt->name);
  /* measured on the EoS benchmark (5000 steps, mixed passes, eight runs): with
   * k = 2 every value was within 2.5e-6 of a cold float64 solve; with k = 1 two of four
   * returned lambda_2 for lambda_1 (0.24% off) where the top two crossed, as a one-vector
   * warm start cannot see the pair it is not following (docs/TRACKING.md, "Crossings") */
  if (!rc && f32 && value_stop && k < 2)
    rc = err_set(err, CS_EINVAL,
                 "--probe '%s': stop=value under float32 passes (--precision mixed or f32) "
                 "needs k >= 2 (with k=1 it returned the second eigenvalue where the top two "
                 "crossed, 0.24%% off); use k=2 or stop=residual",
                 text);
  if (!rc && f32 && kind == PK_GN)
    rc = err_set(err, CS_EINVAL, "--probe '%s': gn-sharpness is float64 only (--precision f64)",
                 text);
  if (!rc) rc = precision_check_tol(prec, tol, "--probe tol", err);
  if (!rc && update_tol > 0) rc = precision_check_tol(prec, update_tol, "--probe update_tol", err);
  int use_lanczos = !rc && !strcmp(solver, "lanczos");
  spec_free(&s);
  if (rc) return rc;

  if (train->comm && samples > 0 && (size_t)samples < dataset_rows_all(train))
    return err_set(err, CS_EINVAL, "--probe '%s': samples=%ld under MPI (every rank's share is "
                   "used: leave samples out)", text, samples);
  if (train->comm && kind == PK_GN)
    return err_set(err, CS_EINVAL, "--probe '%s': gn-sharpness does not run under MPI (its "
                   "residuals live in row space)", text);
  size_t n = samples > 0 && (size_t)samples < train->n ? (size_t)samples : train->n;
  if (loss_couples_rows(loss) && n < train->n)
    return err_set(err, CS_EINVAL, "--probe '%s': samples=%ld, but the %s loss needs the whole grid",
                   text, samples, loss_name(loss));
  if ((size_t)k >= net->n_params) return err_set(err, CS_EINVAL, "--probe: k=%ld >= parameters", k);
  SharpProbe *sp = calloc(1, sizeof *sp);
  if (!sp) return err_set(err, CS_ENOMEM, "out of memory for a probe");
  sp->kind = kind;
  sp->net = net;
  sp->batch = (Batch){train->X, train->Y, train->labels, n, NULL, NULL};
  if (train->comm) sp->batch = batch_of_dataset(train);
  sp->chunk = chunk;
  sp->warm = warm;
  sp->curv = curv_alloc(net, loss, n ? n : 1, layout_chunk_arg(chunk), err); /* a rank may hold no rows */
  if (sp->curv && curv_set_precision(sp->curv, prec, err)) {
    probe_destroy(sp);
    return err->code;
  }
  sp->parity = every % 2;
  int ok = 1;
  for (int i = 0; i <= sp->parity; i++) {
    TrackerSetup ts = {net->n_params, (int)k, tol, update_tol, (int)refresh, !use_lanczos,
                       value_stop, 0x5a3bULL + (uint64_t)i};
    ok &= !!(sp->tr[i] = tracker_new(&ts));
    if (kind == PK_PRECOND) {
      ts.k = 1, ts.seed = 0x5a3dULL + (uint64_t)i;
      ok &= !!(sp->tr_raw[i] = tracker_new(&ts));
    }
  }
  if (kind == PK_PRECOND) sp->P = malloc(net->n_params * sizeof *sp->P);
  if (kind == PK_GN) {
    sp->jv = malloc(n * net->d_out * sizeof *sp->jv);
    sp->resid = malloc(n * net->d_out * sizeof *sp->resid);
  }
  if (!sp->curv || !ok || (kind == PK_PRECOND && !sp->P) ||
      (kind == PK_GN && (!sp->jv || !sp->resid))) {
    probe_destroy(sp);
    return err->code ? err->code : err_set(err, CS_ENOMEM, "out of memory for a probe");
  }
  snprintf(sp->name, sizeof sp->name, "%s", kind == PK_HESSIAN ? "sharpness"
                                            : kind == PK_PRECOND ? "precond-sharpness"
                                                                 : "gn-sharpness");
  *out = (Probe){sp->name, every, sp, probe_run, probe_destroy, probe_step_eval};
  return CS_OK;
}
