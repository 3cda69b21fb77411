/* train.c: the training loop (see train.h). */
#include "train.h"

#include <cblas.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "spec.h"
#include "threads.h"

static volatile sig_atomic_t stop_flag = 0;

void train_request_stop(void) { stop_flag = 1; }
int train_stop_requested(void) { return stop_flag != 0; }
void train_clear_stop(void) { stop_flag = 0; }

void trainconfig_default(TrainConfig *c) {
  memset(c, 0, sizeof *c);
  c->steps = 1000;
  c->chunk = -1; /* auto */
  c->eval_every = 100;
  c->diverge_factor = 1e4;
  c->loss = LOSS_MSE;
}

int trainconfig_check(const TrainConfig *c, Err *err) {
  const struct { const char *key; long v; } counts[] = {
      {"steps", c->steps}, {"batch", c->batch},
      {"eval_every", c->eval_every}, {"checkpoint_every", c->checkpoint_every}};
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
    if (counts[i].v < 0)
      return err_set(err, CS_EINVAL, "%s %ld: must be >= 0", counts[i].key, counts[i].v);
  if (c->chunk < -1)
    return err_set(err, CS_EINVAL, "chunk %ld: must be >= 0 (or -1: auto)", c->chunk);
  int rc = range_check("stop_accuracy", c->stop_accuracy, 0, 1, 0, err);
  if (!rc && loss_couples_rows(c->loss) && c->batch > 0)
    rc = err_set(err, CS_EINVAL,
                 "batch %ld: the %s loss needs the whole grid (full batch, --batch 0)", c->batch,
                 loss_name(c->loss));
  if (!rc && !(c->diverge_factor > 0)) /* INFINITY is allowed: only NaN/Inf diverge */
    rc = err_set(err, CS_EINVAL, "diverge_factor %g: must be > 0", c->diverge_factor);
  return rc;
}

/* Gathers rows idx[0..m) of ds into the batch buffers. */
static double out_norm_sq(const Net *net, const double *theta) {
  size_t off, len;
  net_output_block(net, &off, &len);
  double s = cblas_dnrm2((int)len, theta + off, 1);
  return s * s;
}

/* The optimizer's state beside a checkpoint, so analyses that need it (Adam's
 * preconditioner) can run after the fact. */
static int save_opt_state(Recorder *rec, long step, const Optimizer *opt, Err *err) {
  if (!opt->type->state_arrays) return CS_OK;
  char meta[256];
  snprintf(meta, sizeof meta,
           "{\"optimizer\":\"%s\",\"t\":%ld,\"arrays\":%s,\"lr\":%.17g,\"beta1\":%.17g,"
           "\"beta2\":%.17g,\"eps\":%.17g,\"momentum\":%.17g}",
           opt->type->name, opt->t, opt->type->state_arrays == 2 ? "[\"m\",\"v\"]" : "[\"buf\"]",
           opt->cfg.lr, opt->cfg.beta1, opt->cfg.beta2, opt->cfg.eps, opt->cfg.momentum);
  return rec_opt_state(rec, step, meta, opt->state, opt->type->state_arrays * opt->n, err);
}

static int all_finite(const double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* A diverged run still ends with a checkpoint: the parameters of the diverged step
 * when they are finite (the loss exploded first), else those of the step before
 * (prev, kept before each update), unless that step was checkpointed already. */
static int checkpoint_last_finite(Recorder *rec, long t, const double *theta, const double *prev,
                                  size_t P, const Optimizer *opt, long checkpoint_every,
                                  Err *err) {
  int rc;
  if (all_finite(theta, P)) {
    if ((rc = rec_checkpoint(rec, t, theta, P, err))) return rc;
    return save_opt_state(rec, t, opt, err);
  }
  if (t == 0 || !all_finite(prev, P)) return CS_OK;
  if (checkpoint_every > 0 && (t - 1) % checkpoint_every == 0) return CS_OK;
  return rec_checkpoint(rec, t - 1, prev, P, err);
}

typedef struct Loop {
  const TrainConfig *cfg;
  const Net *net;
  const Dataset *train, *test;
  ObjectiveWork *work;
  Recorder *rec;
  Err *err;
} Loop;

/* Test loss/accuracy (and full training loss for mini-batch runs) as metrics. */
static int evaluate(Loop *lp, long step, const double *theta, TrainResult *res) {
  Batch b;
  double l, a;
  if (lp->test && dataset_rows_all(lp->test)) {
    /* test points are off the grid: a Sobolev run's test loss is MSE */
    LossKind tl = loss_couples_rows(lp->cfg->loss) ? LOSS_MSE : lp->cfg->loss;
    b = batch_of_dataset(lp->test);
    if (objective_eval_parallel(lp->net, theta, tl, &b, lp->work, NULL, &l, &a) && b.comm)
      return err_set(lp->err, CS_EINVAL, "the test evaluation's sum over the ranks failed");
    res->test_loss = l;
    res->test_accuracy = a;
    if (rec_metric(lp->rec, step, "test_loss", l, lp->err)) return lp->err->code;
    if (!isnan(a) && rec_metric(lp->rec, step, "test_accuracy", a, lp->err)) return lp->err->code;
  }
  if (lp->cfg->batch > 0) {
    b = batch_of_dataset(lp->train);
    if (objective_eval_parallel(lp->net, theta, lp->cfg->loss, &b, lp->work, NULL, &l, &a) &&
        b.comm)
      return err_set(lp->err, CS_EINVAL, "the training evaluation's sum over the ranks failed");
    if (rec_metric(lp->rec, step, "train_loss", l, lp->err)) return lp->err->code;
    if (!isnan(a) && rec_metric(lp->rec, step, "train_accuracy", a, lp->err)) return lp->err->code;
  }
  return CS_OK;
}

int train_run(const TrainConfig *cfg, const Net *net, double *theta, Optimizer *opt,
              const Dataset *train, const Dataset *test, Probe *probes, int nprobes,
              Recorder *rec, TrainResult *res, Err *err) {
  memset(res, 0, sizeof *res);
  res->status = "failed";
  res->test_loss = res->test_accuracy = NAN;
  int bad = trainconfig_check(cfg, err);
  if (!bad) bad = optconfig_check(&opt->cfg, err);
  if (!bad && loss_couples_rows(cfg->loss) &&
      (!cfg->metric || cfg->metric->n != train->n || cfg->metric->k != train->k))
    bad = err_set(err, CS_EINVAL, "the %s loss needs its metric on the %zu training points",
                  loss_name(cfg->loss), train->n);
  if (!bad && train->weight && (cfg->batch > 0 || loss_couples_rows(cfg->loss)))
    bad = err_set(err, CS_EINVAL, "per-example weights need full-batch training (batch 0) and "
                  "the mse or ce loss");
  if (!bad && train->weight && precision_f32_passes(cfg->precision)) /* f32 chunks: unweighted */
    bad = err_set(err, CS_EINVAL, "per-example weights need --precision f64");
  if (bad) return bad;
  /* n: the rows over every rank (a sharded train set holds its share, dataset.h); every
   * rank shuffles the same n indices and takes the ones of its share (cap rows at most) */
  size_t P = net->n_params, n = dataset_rows_all(train);
  int minibatch = cfg->batch > 0 && (size_t)cfg->batch < n;
  size_t bsz = minibatch ? (size_t)cfg->batch : n;
  size_t cap = train->n < bsz ? train->n : bsz;
  if (cap == 0) cap = 1;
  double *grad = malloc(P * sizeof *grad), *prev = malloc(P * sizeof *prev);
  ObjectiveWork *work =
      objective_work_alloc_for(net, cfg->loss, cap, layout_chunk_arg(cfg->chunk));
  size_t *perm = minibatch ? malloc(n * sizeof *perm) : NULL;
  size_t *mine = minibatch && train->comm ? malloc(cap * sizeof *mine) : NULL;
  double *bX = minibatch ? malloc(cap * train->d * sizeof *bX) : NULL;
  double *bY = minibatch ? malloc(cap * train->k * sizeof *bY) : NULL;
  int *bL = minibatch && train->labels ? malloc(cap * sizeof *bL) : NULL;
  int rc = CS_OK;
  if (!grad || !prev || !work || (minibatch && (!perm || !bX || !bY || (train->labels && !bL))) ||
      (minibatch && train->comm && !mine)) {
    rc = err_set(err, CS_ENOMEM, "out of memory for training workspaces (%zu parameters)", P);
    goto out;
  }
  if ((rc = objective_work_set_precision(work, net, cfg->precision, err))) goto out;
  Rng rng;
  rng_seed_stream(&rng, cfg->seed, 0x5eed5eedULL);
  for (size_t i = 0; perm && i < n; i++) perm[i] = i;
  size_t cursor = n;  /* forces a shuffle at the first mini-batch */
  Loop lp = {cfg, net, train, test, work, rec, err};
  TrainState st = {.net = net, .theta = theta, .grad = grad, .opt = opt, .loss_kind = cfg->loss,
                   .metric = cfg->metric,                   .train = train, .test = test, .rec = rec, .lr = opt->cfg.lr,
                   .threshold = optim_threshold(opt->type, &opt->cfg)};
  double t0 = wall_time(), loss0 = NAN;
  const char *status = "finished";
  long t;
  for (t = 0;; t++) {
    Batch b;
    if (minibatch) {
      if (cursor + bsz > n) {
        rng_shuffle(&rng, perm, n);
        cursor = 0;
      }
      if (train->comm) { /* this rank's rows of the batch, in the batch's order */
        size_t m = 0;
        for (size_t i = cursor; i < cursor + bsz; i++)
          if (perm[i] >= train->row0 && perm[i] < train->row0 + train->n)
            mine[m++] = perm[i] - train->row0;
        dataset_gather(train, mine, m, bX, bY, bL);
        b = (Batch){bX, bY, bL, m, NULL, NULL, bsz, train->comm};
      } else {
        dataset_gather(train, perm + cursor, bsz, bX, bY, bL);
        b = (Batch){bX, bY, bL, bsz, NULL, NULL};
      }
      cursor += bsz;
    } else {
      b = batch_of_dataset(train);
      b.metric = cfg->metric, b.weight = train->weight;
    }
    double loss, acc;
    int shared = 0;
    for (int p = 0; !minibatch && !shared && p < nprobes; p++)
      if (probes[p].step_eval && t % probes[p].every == 0 &&
          (rc = probes[p].step_eval(probes[p].self, theta, &b, cfg->chunk, grad, &loss, &acc,
                                    &shared, err))) {
        err_prefix(err, "probe %s at step %ld", probes[p].name, t);
        goto out;
      }
    double gnorm, pnorm;
    if (shared) {
      threads_norm_pair(grad, theta, P, &gnorm, &pnorm);
    } else if (objective_eval_norms(net, theta, cfg->loss, &b, work, grad, &loss, &acc, &gnorm,
                                    &pnorm) &&
               b.comm) {
      rc = err_set(err, CS_EINVAL, "step %ld: the gradient's sum over the ranks failed", t);
      goto out;
    }
    if (t == 0) loss0 = loss;
    StepRecord sr = {t, (double)t * (double)bsz / (double)n, loss, acc, opt->cfg.lr, gnorm, pnorm,
                     wall_time() - t0};
    if ((rc = rec_step(rec, &sr, err))) goto out;
    if ((rc = rec_metric(rec, t, "out_norm", out_norm_sq(net, theta), err))) goto out;
    int diverged = !isfinite(loss) || !isfinite(gnorm) ||
                   loss > cfg->diverge_factor * (loss0 > 1.0 ? loss0 : 1.0);
    int last = diverged || t >= cfg->steps || train_stop_requested() ||
               (cfg->stop_accuracy > 0 && !isnan(acc) && acc >= cfg->stop_accuracy);
    res->final_loss = loss;
    res->final_accuracy = acc;
    res->steps_done = t;
    if (diverged) {
      status = "diverged";
      if ((rc = checkpoint_last_finite(rec, t, theta, prev, P, opt, cfg->checkpoint_every, err)))
        goto out;
      break;
    }
    st.step = t;
    st.grad_norm = gnorm;
    st.loss = loss;
    st.accuracy = acc;
    for (int p = 0; p < nprobes; p++)
      if (t % probes[p].every == 0 || last)
        if ((rc = probes[p].run(probes[p].self, &st, err))) {
          err_prefix(err, "probe %s at step %ld", probes[p].name, t);
          goto out;
        }
    last = last || st.stop; /* a probe may end the run: this step is then its last */
    if ((cfg->eval_every > 0 && t % cfg->eval_every == 0) || last)
      if ((rc = evaluate(&lp, t, theta, res))) goto out;
    if ((cfg->checkpoint_every > 0 && t % cfg->checkpoint_every == 0) || last)
      if ((rc = rec_checkpoint(rec, t, theta, P, err)) || (rc = save_opt_state(rec, t, opt, err)))
        goto out;
    if (cfg->progress) {
      double el = wall_time() - t0, sps = el > 0 ? (double)(t + 1) / el : 0;
      TrainProgress pr = {t, cfg->steps, loss, acc, sps, sps > 0 ? (double)(cfg->steps - t) / sps : 0};
      cfg->progress(cfg->progress_ctx, &pr);
    }
    if (last) {
      if (train_stop_requested()) status = "interrupted";
      break;
    }
    optim_step_keep(opt, theta, grad, prev); /* prev: θ before the update, in the same pass */
  }
  res->status = status;
  res->wall_s = wall_time() - t0;
  if ((rc = rec_flush(rec, err))) goto out;
out:
  if (rc) res->status = "failed";
  free(grad);
  free(prev);
  objective_work_free(work);
  free(perm);
  free(mine);
  free(bX);
  free(bY);
  free(bL);
  return rc;
}
