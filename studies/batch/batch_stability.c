/* batch_stability.c: the stability grid of the learning-rate rule (see batch_stability.h). */
#include "batch_stability.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"
#include "core/train.h"

void batch_stability_options_default(StabilityOptions *o) {
  memset(o, 0, sizeof *o);
  o->opt = optim_gd;
  optconfig_default(&o->cfg);
  o->factor = sqrt(2.0);
  o->max_rungs = 16;
  o->steps = 20;
  o->chunk = 5000;
}

/* One short run at η from theta0 with batches of B: *stable = it did not diverge and its
 * final whole-set loss is at most the start's (L0). */
static int run_rung(const Net *net, LossKind loss, const double *theta0, const Dataset *train,
                    size_t B, double lr, double L0, const StabilityOptions *o, double *theta,
                    ObjectiveWork *work, int *stable, Err *err) {
  OptConfig cfg = o->cfg;
  cfg.lr = lr;
  Optimizer *opt = optim_alloc(o->opt, &cfg, net->n_params);
  if (!opt) return err_set(err, CS_ENOMEM, "out of memory for the optimizer");
  memcpy(theta, theta0, net->n_params * sizeof *theta);
  TrainConfig tc;
  trainconfig_default(&tc);
  tc.steps = o->steps;
  tc.batch = B < train->n ? (long)B : 0;
  tc.chunk = o->chunk;
  tc.eval_every = 0;
  tc.checkpoint_every = 0;
  tc.seed = o->seed;
  tc.loss = loss;
  TrainResult res;
  int rc = train_run(&tc, net, theta, opt, train, NULL, NULL, 0, NULL, &res, err);
  optim_free(opt);
  if (rc) return rc;
  if (!strcmp(res.status, "interrupted"))
    return err_set(err, CS_EINTERRUPTED, "stability grid interrupted at B = %zu, η = %g", B, lr);
  double L = NAN, acc;
  if (strcmp(res.status, "diverged")) {
    Batch b = {train->X, train->Y, train->labels, train->n, NULL, NULL};
    objective_eval_parallel(net, theta, loss, &b, work, NULL, &L, &acc);
  }
  *stable = isfinite(L) && L <= L0;
  return CS_OK;
}

int batch_stability_grid(const Net *net, LossKind loss, const double *theta0,
                         const Dataset *train, const size_t *B, int nb, const double *lr_start,
                         const StabilityOptions *o, double *lr_max, int *runs, Err *err) {
  if (!(o->factor > 1) || o->max_rungs < 2 || o->steps < 1)
    return err_set(err, CS_EINVAL, "stability ladder: factor %g, %d rungs, %ld steps (need > 1, "
                   ">= 2, >= 1)", o->factor, o->max_rungs, o->steps);
  double *theta = malloc(net->n_params * sizeof *theta);
  ObjectiveWork *work = objective_work_alloc(net, train->n, layout_chunk_arg(o->chunk));
  if (!theta || !work) {
    free(theta);
    objective_work_free(work);
    return err_set(err, CS_ENOMEM, "out of memory for the stability grid");
  }
  Batch all = {train->X, train->Y, train->labels, train->n, NULL, NULL};
  double L0, acc;
  objective_eval_parallel(net, theta0, loss, &all, work, NULL, &L0, &acc);
  int rc = CS_OK;
  double prev_start = NAN;
  for (int i = 0; i < nb && !rc; i++) {
    double lr = lr_start[i];
    if (isnan(lr) && i > 0) lr = isfinite(lr_max[i - 1]) ? lr_max[i - 1] : prev_start;
    prev_start = lr;
    if (!(lr > 0) || !isfinite(lr)) {
      rc = err_set(err, CS_EINVAL, "stability ladder of B = %zu starts at η = %g", B[i], lr);
      break;
    }
    int stable = 0, n = 0;
    lr_max[i] = NAN;
    if ((rc = run_rung(net, loss, theta0, train, B[i], lr, L0, o, theta, work, &stable, err))) break;
    n++;
    int up = stable; /* climb from a stable start, descend from an unstable one */
    while (n < o->max_rungs) {
      double next = up ? lr * o->factor : lr / o->factor;
      int s2 = 0;
      if ((rc = run_rung(net, loss, theta0, train, B[i], next, L0, o, theta, work, &s2, err))) break;
      n++;
      if (up && !s2) { lr_max[i] = lr; break; }
      if (!up && s2) { lr_max[i] = next; break; }
      lr = next;
    }
    if (runs) runs[i] = n;
  }
  free(theta);
  objective_work_free(work);
  return rc;
}

int batch_fit_lr_exponent(const size_t *B, const double *lr_max, int nb, BatchFit *f, Err *err) {
  double x[BS_FIT_MAX], y[BS_FIT_MAX], top = -INFINITY;
  int last = -1;
  for (int i = 0; i < nb; i++)
    if (isfinite(lr_max[i]) && lr_max[i] > top) top = lr_max[i], last = i;
  int n = 0;
  for (int i = 0; i <= last && n < BS_FIT_MAX; i++)
    if (isfinite(lr_max[i]) && lr_max[i] > 0) {
      x[n] = log((double)B[i]);
      y[n++] = log(lr_max[i]);
    }
  if (n < 2)
    return err_set(err, CS_EINVAL, "η_max slope: %d size(s) below saturation with a measured η_max "
                   "(need 2)", n);
  double icept;
  int rc = batch_fit_line(x, y, n, &f->a, &icept, &f->r2, err);
  if (rc) return rc;
  f->c = exp(icept);
  f->npoints = n;
  return CS_OK;
}

int batch_grid_run(const Net *net, LossKind loss, const double *theta0, const Dataset *train,
                   const BatchScalingResult *r, const BatchScalingSummary *s, const int *use,
                   const OptConfig *base, double adam_start, const StabilityOptions *o,
                   BatchGrid *g, Err *err) {
  memset(g, 0, sizeof *g);
  g->nb = r->nb;
  g->steps = o->steps;
  g->rungs = o->max_rungs;
  memcpy(g->batch, r->batch, (size_t)r->nb * sizeof *g->batch);
  /* the selected sizes, compacted for the ladders, scattered back after */
  int idx[BS_MAX_BATCHES + 1], m = 0;
  size_t B[BS_MAX_BATCHES + 1];
  double start[BS_MAX_BATCHES + 1], pred[BS_MAX_BATCHES + 1], lr[BS_MAX_BATCHES + 1];
  double pred_adam[BS_MAX_BATCHES + 1];
  int runs[BS_MAX_BATCHES + 1];
  for (int i = 0; i < r->nb; i++) {
    g->lr_sgd[i] = g->lr_adam[i] = NAN;
    if (!use || use[i]) {
      idx[m] = i;
      B[m] = r->batch[i];
      pred_adam[m] = s->lr_pred_adam ? s->lr_pred_adam[i] : NAN;
      pred[m++] = s->lr_pred[i];
    }
  }
  g->sgd = g->adam = g->pred = g->pred_adam = (BatchFit){NAN, NAN, NAN, 0};
  if (!m) return CS_OK;
  StabilityOptions so = *o;
  so.cfg = *base;
  so.opt = optim_gd;
  int rc = batch_stability_grid(net, loss, theta0, train, B, m, pred, &so, lr, runs, err);
  if (rc) return rc;
  for (int j = 0; j < m; j++) g->lr_sgd[idx[j]] = lr[j], g->runs_sgd[idx[j]] = runs[j];
  for (int j = 0; j < m; j++) /* NAN: from the previous size's η_max */
    start[j] = j ? NAN : isfinite(pred_adam[0]) && pred_adam[0] > 0 ? pred_adam[0] : adam_start;
  so.opt = optim_adam;
  if ((rc = batch_stability_grid(net, loss, theta0, train, B, m, start, &so, lr, runs, err)))
    return rc;
  for (int j = 0; j < m; j++) g->lr_adam[idx[j]] = lr[j], g->runs_adam[idx[j]] = runs[j];
  Err fe = {0};
  if (batch_fit_lr_exponent(g->batch, g->lr_sgd, g->nb, &g->sgd, &fe))
    g->sgd = (BatchFit){NAN, NAN, NAN, 0};
  if (batch_fit_lr_exponent(g->batch, g->lr_adam, g->nb, &g->adam, &fe))
    g->adam = (BatchFit){NAN, NAN, NAN, 0};
  /* the prediction's slope over the same sizes as the grid's */
  for (int j = 0; j < m; j++) lr[j] = pred[j];
  if (batch_fit_lr_exponent(B, lr, m, &g->pred, &fe)) g->pred = (BatchFit){NAN, NAN, NAN, 0};
  if (batch_fit_lr_exponent(B, pred_adam, m, &g->pred_adam, &fe))
    g->pred_adam = (BatchFit){NAN, NAN, NAN, 0};
  return CS_OK;
}

void batch_grid_default_sizes(const BatchScalingResult *r, int k, int *use) {
  int below = 0;
  for (int i = 0; i < r->nb; i++) below += r->batch[i] < r->n;
  for (int i = 0, n = 0; i < r->nb; i++) {
    use[i] = !below || (r->batch[i] < r->n && n < k);
    n += use[i];
  }
}
