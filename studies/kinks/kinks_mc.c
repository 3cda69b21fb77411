/* kinks_mc.c: one Monte-Carlo run of the kinks study through the engine's training loop,
 * and the runs of every width spread over the threads (see kinks.h). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/threads.h"
#include "core/train.h"
#include "kinks.h"

/* Streams of a run: its weights and its init, from (seed, width, run). */
#define KINKS_STREAM(n, run, which) (((uint64_t)(n) << 40) ^ ((uint64_t)(run) << 2) ^ (which))

/* The probe: max_t max_i |b_i/a_i|, stopping at a crossing or at a small gradient. */
typedef struct KinksProbe {
  double max_ratio, grad_tol;
  long cross_step;
  int converged;
} KinksProbe;

static int kinks_probe_run(void *self, TrainState *st, Err *err) {
  KinksProbe *p = self;
  (void)err;
  double m = kinks_max_ratio(st->net, st->theta);
  if (m > p->max_ratio) p->max_ratio = m;
  if (p->cross_step < 0 && m >= 1.0) p->cross_step = st->step; /* min_j |x_j| = 1 */
  p->converged = st->grad_norm < p->grad_tol;
  if (p->cross_step >= 0 || p->converged) st->stop = 1;
  return CS_OK;
}

static void kinks_probe_destroy(void *self) { (void)self; }

/* The net's outputs on the data points (the engine's forward). */
static int outputs(const Net *net, const double *theta, const Dataset *ds, double *f) {
  NetCache *c = net_cache_alloc(net, ds->n, 0);
  if (!c) return CS_ENOMEM;
  net_forward(net, theta, ds->X, ds->n, c);
  memcpy(f, c->A[net->nlayers - 1], ds->n * sizeof *f);
  net_cache_free(c);
  return CS_OK;
}

static int net_build(const KinksOptions *o, long n, Net *net, Err *err) {
  static const char *const init[] = {"he", "he", "xavier", "torch"};
  char model[64];
  snprintf(model, sizeof model, "mlp:1-%ld-1,bias=%s", n,
           o->init == KINKS_INIT_TORCH ? "init" : "zero");
  NetSpec spec;
  netspec_default(&spec);
  int rc = netspec_parse_model(&spec, model, err);
  if (!rc) rc = act_parse("relu", &spec.act, err);
  if (!rc) rc = netspec_parse_init(&spec, init[o->init], err);
  if (!rc) rc = net_init(net, &spec, NULL, err);
  return rc;
}

/* At the end: is f affine on each side's data (no kink strictly inside (1, 3) or
 * (−3, −1) of a neuron that contributes), and how far are its values from the
 * per-side weighted least-squares lines? */
static int fit_shape(const Net *net, const double *theta, const Dataset *ds, KinksRun *out,
                     Err *err) {
  size_t h = net->layer[0].out;
  double *kink = malloc(h * sizeof *kink), f[KINKS_NPOINTS], ls[KINKS_NPOINTS];
  if (!kink) return err_set(err, CS_ENOMEM, "out of memory");
  kinks_positions(net, theta, kink);
  const double *w = net_W(net, 1, theta);
  out->linear = 1;
  for (size_t i = 0; i < h; i++) {
    double k = fabs(kink[i]);
    if (w[i] != 0 && k > 1 && k < 3) out->linear = 0;
  }
  free(kink);
  if (outputs(net, theta, ds, f)) return err_set(err, CS_ENOMEM, "out of memory");
  out->ls_gap = NAN;
  if (kinks_side_ls(ds->X, ds->Y, ds->weight, ds->n, ls, err)) return CS_OK; /* x-degenerate */
  out->ls_gap = 0;
  for (size_t j = 0; j < ds->n; j++)
    if (fabs(f[j] - ls[j]) > out->ls_gap) out->ls_gap = fabs(f[j] - ls[j]);
  return CS_OK;
}

int kinks_run_one(const KinksOptions *o, long n, long run, KinksRun *out, Err *err) {
  memset(out, 0, sizeof *out);
  out->status = KINKS_FAILED;
  out->cross_step = -1;
  out->ls_gap = out->final_loss = out->lr = NAN;
  Net net;
  if (net_build(o, n, &net, err)) return err->code;
  Dataset *ds = dataset_alloc(KINKS_NPOINTS, 1, 1, 0);
  double *theta = malloc(net.n_params * sizeof *theta);
  int rc = CS_OK;
  Optimizer *opt = NULL;
  if (!ds || !theta || !(ds->weight = malloc(KINKS_NPOINTS * sizeof *ds->weight))) {
    rc = err_set(err, CS_ENOMEM, "out of memory for a width-%ld run", n);
    goto out;
  }
  snprintf(ds->name, sizeof ds->name, "kinks x=-3..3");
  Rng rw, ri;
  rng_seed_stream(&rw, o->seed, KINKS_STREAM(n, run, 1));
  rng_seed_stream(&ri, o->seed, KINKS_STREAM(n, run, 2));
  for (int j = 0; j < KINKS_NPOINTS; j++) {
    ds->X[j] = kinks_x[j];
    ds->Y[j] = kinks_y[j] + o->offset;
    ds->weight[j] = 1.0;
  }
  if (!o->uniform_weights) kinks_weights_draw((uint64_t)n * (uint64_t)n, &rw, ds->weight);
  net_init_params(&net, theta, &ri);
  double *a = theta + net.layer[0].w_off, *w = theta + net.layer[1].w_off;
  if (o->init == KINKS_INIT_HE_SWAPPED) /* a ~ N(0, 2/n), w ~ N(0, 2) from the He draw */
    for (long i = 0; i < n; i++) a[i] /= sqrt((double)n), w[i] *= sqrt((double)n);
  int pos = 0;
  for (long i = 0; i < n; i++) pos += a[i] > 0;
  out->a_degenerate = pos == 0 || pos == n;
  OptConfig oc = o->optcfg;
  if (o->lr_rule == KINKS_LR_PAPER)
    rc = kinks_paper_lr(&net, theta, ds->X, ds->weight, ds->n, &oc.lr, err);
  else oc.lr = o->lr_rule == KINKS_LR_SMALL ? 0.01 / (double)n : o->lr;
  if (rc) goto out;
  out->lr = oc.lr;
  if (!(opt = optim_alloc(o->opt, &oc, net.n_params))) {
    rc = err_set(err, CS_ENOMEM, "out of memory for the optimizer");
    goto out;
  }
  TrainConfig tc;
  trainconfig_default(&tc);
  tc.steps = o->steps;
  tc.batch = 0;
  tc.eval_every = 0;
  tc.loss = LOSS_MSE;
  tc.diverge_factor = 1e12;
  KinksProbe kp = {0.0, o->grad_tol, -1, 0};
  Probe probe = {"kinks", 1, &kp, kinks_probe_run, kinks_probe_destroy, NULL};
  TrainResult tr;
  if ((rc = train_run(&tc, &net, theta, opt, ds, NULL, &probe, 1, NULL, &tr, err))) goto out;
  out->max_ratio = kp.max_ratio;
  out->cross_step = kp.cross_step;
  out->steps = tr.steps_done;
  out->final_loss = tr.final_loss;
  out->status = kp.cross_step >= 0 ? KINKS_CROSSED
                : kp.converged      ? KINKS_CONVERGED
                : strcmp(tr.status, "finished") ? KINKS_FAILED
                                                : KINKS_UNFINISHED;
  rc = fit_shape(&net, theta, ds, out, err);
out:
  optim_free(opt);
  free(theta);
  dataset_free(ds);
  net_deinit(&net);
  return rc;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The width's counts, its Wilson interval and the median least-squares gap. */
static void width_summary(KinksWidth *kw) {
  double *gaps = malloc((size_t)kw->runs * sizeof *gaps);
  size_t ng = 0;
  for (long r = 0; r < kw->runs; r++) {
    const KinksRun *k = &kw->run[r];
    kw->crossed += k->status == KINKS_CROSSED;
    kw->converged += k->status == KINKS_CONVERGED;
    kw->unfinished += k->status == KINKS_UNFINISHED;
    kw->linear += k->linear;
    kw->degenerate += k->a_degenerate;
    if (gaps && k->status != KINKS_CROSSED && !isnan(k->ls_gap)) gaps[ng++] = k->ls_gap;
  }
  kw->p_cross = (double)kw->crossed / (double)kw->runs;
  kinks_wilson(kw->crossed, kw->runs, 1.959964, &kw->lo, &kw->hi);
  kw->ls_gap_median = NAN;
  if (ng) {
    qsort(gaps, ng, sizeof *gaps, cmp_double);
    kw->ls_gap_median = ng % 2 ? gaps[ng / 2] : 0.5 * (gaps[ng / 2 - 1] + gaps[ng / 2]);
  }
  free(gaps);
}

int kinks_study_run(const KinksOptions *o, int (*stop)(void),
                    void (*done)(void *ctx, const KinksWidth *w), void *ctx, KinksResult *r,
                    Err *err) {
  memset(r, 0, sizeof *r);
  double t0 = wall_time();
  int rc = CS_OK, T = threads_get();
  for (int wi = 0; wi < o->nwidths && !rc; wi++) {
    KinksWidth *kw = &r->width[wi];
    long n = o->widths[wi];
    double tw = wall_time();
    if (!(kw->run = calloc((size_t)o->runs, sizeof *kw->run)))
      return err_set(err, CS_ENOMEM, "out of memory for %ld runs", o->runs);
    kw->width = n;
    kw->runs = o->runs;
    r->nwidths = wi + 1;
    int failed = 0, stopped = 0;
    Err first = {0};
#pragma omp parallel num_threads(T)
    {
      omp_set_num_threads(1); /* each run on its own thread: the engine's loops stay serial */
#pragma omp for schedule(dynamic)
      for (long k = 0; k < o->runs; k++) {
        int skip, halt;
#pragma omp atomic read
        skip = failed;
#pragma omp atomic read
        halt = stopped;
        if (skip || halt) continue;
        if (stop && stop()) {
#pragma omp atomic write
          stopped = 1;
          continue;
        }
        Err e = {0};
        if (kinks_run_one(o, n, k, &kw->run[k], &e)) {
#pragma omp critical(kinks_err)
          if (!failed) first = e, failed = 1;
        }
      }
    }
    if (stop && stop()) stopped = 1; /* runs cut short mid-way count as not run */
    if (failed) {
      *err = first;
      rc = err->code;
    } else if (stopped) {
      free(kw->run);
      kw->run = NULL;
      r->nwidths = wi; /* a width counts only when all its runs are in */
      break;
    } else {
      width_summary(kw);
    }
    kw->wall_s = wall_time() - tw;
    if (!rc && done) done(ctx, kw);
  }
  r->wall_s = wall_time() - t0;
  return rc;
}

void kinks_result_free(KinksResult *r) {
  for (int i = 0; i < KINKS_MAX_WIDTHS; i++) free(r->width[i].run);
  memset(r, 0, sizeof *r);
}
