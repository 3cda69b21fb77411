/*
 * test_parts.c: fixed data-parallel parts (core/threads.c, core/loss.c) and what a
 * concurrent study relies on: a run's bits do not depend on the threads that execute it.
 *
 * The serial reference is objective_eval_parallel / train_run with T OpenMP threads;
 * the same calls made with threads_parts_set(T) on one thread (alone, or as one worker of
 * an outer parallel region, as study spectral-bias --jobs runs them) must give the same
 * loss, gradient and trained θ to the last bit, in float64 and in float32 passes
 * (--precision mixed: objective_f32.c, whose step also forms the norms). Also: the part
 * ranges are OpenMP's static
 * split; threads_norm_pair against BLAS's dnrm2 (including overflowing, underflowing,
 * infinite and NaN entries) and its bits independent of the thread count; optim_step_keep
 * = optim_step plus the previous θ, for every optimizer.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/loss.h"
#include "core/optim.h"
#include "core/recorder_memory.h"
#include "core/threads.h"
#include "core/train.h"
#include "tests/net_util.h"
#include "tests/tap.h"

/* n points on [0,1) with a sum of two sines as the target. */
static Dataset *sines(size_t n) {
  Dataset *ds = dataset_alloc(n, 1, 1, 0);
  if (!ds) return NULL;
  for (size_t i = 0; i < n; i++) {
    double z = (double)i / (double)n;
    ds->X[i] = z;
    ds->Y[i] = sin(2 * M_PI * 3 * z) + 0.5 * sin(2 * M_PI * 7 * z + 1);
  }
  return ds;
}

static void test_part_range(void) {
  int bad = 0;
  for (size_t nch = 0; nch < 40; nch++)
    for (int T = 1; T <= 7; T++) {
      size_t next = 0;
      for (int p = 0; p < T; p++) {
        size_t lo, hi;
        threads_part_range(nch, T, p, &lo, &hi);
        /* contiguous, in order, sizes differing by at most one, larger ones first */
        size_t q = nch / (size_t)T, want = q + ((size_t)p < nch % (size_t)T);
        bad += lo != next || hi - lo != want;
        next = hi;
      }
      bad += next != nch;
    }
  tap_ok(!bad, "part ranges cover the chunks in order as schedule(static) splits them (%d bad)",
         bad);
}

/* A workspace for batches of n rows in precision p (float32 passes: their buffers too). */
static ObjectiveWork *work_for(const Net *net, size_t n, size_t chunk, Precision p) {
  ObjectiveWork *w = objective_work_alloc(net, n, chunk);
  Err err = {0};
  if (w && objective_work_set_precision(w, net, p, &err)) {
    objective_work_free(w);
    return NULL;
  }
  return w;
}

/* The training step's evaluation: loss, gradient, and its two norms (NAN: not formed). */
static void eval_step(const Net *net, const double *th, const Batch *b, ObjectiveWork *w,
                      double *g, double *l, double *norms) {
  objective_eval_norms(net, th, LOSS_MSE, b, w, g, l, NULL, &norms[0], &norms[1]);
}

/* Loss, gradient and the step's norms of T parts: serial on T threads, then on one
 * thread, then in two workers of an outer region, in precision p. Float32 passes keep a
 * part's last chunk in float until the gather: chunk 17 gives several chunks per part. */
static void test_objective_bits(Precision prec) {
  Net net;
  double *th = test_mlp(&net, "mlp:1-48-48-1", ACT_TANH, 5);
  const char *pn = precision_name(prec);
  Dataset *ds = sines(203);
  size_t P = net.n_params;
  double *g_ref = malloc(P * sizeof *g_ref), *g1 = malloc(P * sizeof *g1),
         *gw = malloc(2 * P * sizeof *gw);
  Batch b = {ds->X, ds->Y, NULL, ds->n, NULL, NULL};
  int T0 = omp_get_max_threads();
  for (int T = 2; T <= 3; T++) {
    size_t chunks[] = {0, 17};
    for (size_t c = 0; c < 2; c++) {
      omp_set_num_threads(T);
      ObjectiveWork *w = work_for(&net, ds->n, chunks[c], prec);
      double l_ref, l1, lw[2], n_ref[2], n1[2], nw[2][2];
      eval_step(&net, th, &b, w, g_ref, &l_ref, n_ref);
      size_t chunk = w->chunk;
      objective_work_free(w);
      /* one thread, the same parts */
      omp_set_num_threads(1);
      threads_parts_set(T);
      w = work_for(&net, ds->n, chunks[c], prec);
      eval_step(&net, th, &b, w, g1, &l1, n1);
      tap_ok(w->nthreads == T && w->chunk == chunk && l1 == l_ref &&
                 !memcmp(g1, g_ref, P * sizeof *g1) && !memcmp(n1, n_ref, sizeof n1),
             "%s: %d parts (chunk %zu) on one thread: the loss, gradient and norms of %d "
             "threads, bit for bit", pn, T, chunk, T);
      /* a second evaluation on the same workspace: the float buffers were left zeroed */
      eval_step(&net, th, &b, w, g1, &l1, n1);
      tap_ok(l1 == l_ref && !memcmp(g1, g_ref, P * sizeof *g1) && !memcmp(n1, n_ref, sizeof n1),
             "%s: %d parts (chunk %zu), the same workspace again: the same bits", pn, T, chunk);
      objective_work_free(w);
      threads_parts_set(0);
      /* two workers of an outer region, each its own workspace */
      omp_set_num_threads(2);
#pragma omp parallel num_threads(2)
      {
        int t = omp_get_thread_num();
        omp_set_num_threads(1);
        threads_parts_set(T);
        ObjectiveWork *ww = work_for(&net, ds->n, chunks[c], prec);
        if (ww) eval_step(&net, th, &b, ww, gw + (size_t)t * P, &lw[t], nw[t]);
        else lw[t] = NAN;
        objective_work_free(ww);
        threads_parts_set(0);
      }
      tap_ok(lw[0] == l_ref && lw[1] == l_ref && !memcmp(gw, g_ref, P * sizeof *gw) &&
                 !memcmp(gw + P, g_ref, P * sizeof *gw) && !memcmp(nw[0], n_ref, sizeof n1) &&
                 !memcmp(nw[1], n_ref, sizeof n1),
             "%s: %d parts (chunk %zu) in two concurrent workers: both have the serial bits",
             pn, T, chunk);
    }
  }
  omp_set_num_threads(T0);
  free(g_ref), free(g1), free(gw), free(th);
  dataset_free(ds);
  net_deinit(&net);
}

/* train_run with Adam: θ after 30 steps and every recorded gradient norm. */
static int train_bits(const Net *net, const double *th0, const Dataset *ds, Precision prec,
                      double *theta, double *gnorms) {
  Err err = {0};
  MemRecorder *m = memrec_alloc();
  Recorder rec = memrec_recorder(m);
  RunInfo info = {"t", "train", NULL, "{}", 0, net->n_params, "{}"};
  int64_t id;
  rec_run_begin(&rec, &info, &id, &err);
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = 1e-3;
  Optimizer *o = optim_alloc(optim_adam, &oc, net->n_params);
  memcpy(theta, th0, net->n_params * sizeof *theta);
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.steps = 30;
  cfg.precision = prec;
  TrainResult res;
  int rc = train_run(&cfg, net, theta, o, ds, NULL, NULL, 0, &rec, &res, &err);
  for (size_t i = 0; i < m->n_steps && i <= 30; i++) gnorms[i] = m->steps[i].grad_norm;
  optim_free(o);
  memrec_free(m);
  return rc;
}

static void test_training_bits(Precision prec) {
  Net net;
  double *th0 = test_mlp(&net, "mlp:1-64-64-1", ACT_RELU, 7);
  Dataset *ds = sines(200);
  size_t P = net.n_params;
  double *ref = malloc(P * sizeof *ref), *mine = malloc(2 * P * sizeof *mine);
  double gref[31], gw[2][31];
  int T0 = omp_get_max_threads();
  omp_set_num_threads(2);
  int rc = train_bits(&net, th0, ds, prec, ref, gref);
  int rcw[2];
#pragma omp parallel num_threads(2)
  {
    int t = omp_get_thread_num();
    omp_set_num_threads(1);
    threads_parts_set(2);
    rcw[t] = train_bits(&net, th0, ds, prec, mine + (size_t)t * P, gw[t]);
    threads_parts_set(0);
  }
  omp_set_num_threads(T0);
  tap_ok(!rc && !rcw[0] && !rcw[1] && !memcmp(mine, ref, P * sizeof *ref) &&
             !memcmp(mine + P, ref, P * sizeof *ref),
         "%s: 30 Adam steps in two concurrent workers (one thread, 2 parts each): θ of "
         "the 2-thread run, bit for bit", precision_name(prec));
  tap_ok(!memcmp(gw[0], gref, sizeof gref) && !memcmp(gw[1], gref, sizeof gref),
         "%s: and every recorded gradient norm too", precision_name(prec));
  free(ref), free(mine), free(th0);
  dataset_free(ds);
  net_deinit(&net);
}

static void test_norm_pair(void) {
  size_t n = 300001;
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  Rng rng;
  rng_seed(&rng, 11);
  for (size_t i = 0; i < n; i++) a[i] = rng_normal(&rng), b[i] = 1e-3 * rng_normal(&rng);
  double na, nb, na1, nb1;
  int T0 = omp_get_max_threads();
  omp_set_num_threads(2);
  threads_norm_pair(a, b, n, &na, &nb);
  omp_set_num_threads(1);
  threads_norm_pair(a, b, n, &na1, &nb1);
  omp_set_num_threads(T0);
  tap_rel(na, cblas_dnrm2((int)n, a, 1), 1e-13, "norm pair: |a| = dnrm2");
  tap_rel(nb, cblas_dnrm2((int)n, b, 1), 1e-13, "norm pair: |b| = dnrm2");
  tap_ok(na == na1 && nb == nb1, "norm pair: the same bits on 1 and 2 threads");
  const double scale[] = {1e200, 1e-200};
  for (int s = 0; s < 2; s++) {
    for (size_t i = 0; i < 1000; i++) a[i] = scale[s] * (double)(i % 7 + 1);
    threads_norm_pair(a, b, 1000, &na, &nb);
    tap_rel(na, cblas_dnrm2(1000, a, 1), 1e-13, scale[s] > 1 ? "norm pair: entries of 1e200 (squares overflow)"
                                                              : "norm pair: entries of 1e-200 (squares underflow)");
  }
  a[3] = INFINITY;
  b[5] = NAN;
  threads_norm_pair(a, b, 1000, &na, &nb);
  tap_ok(isinf(na) && isnan(nb), "norm pair: an infinite entry gives inf, a NaN gives NaN");
  a[3] = 0;
  for (size_t i = 0; i < 10; i++) a[i] = 0;
  threads_norm_pair(a, a, 10, &na, &nb);
  tap_ok(na == 0 && nb == 0, "norm pair: zeros give 0");
  free(a), free(b);
}

static void test_step_keep(void) {
  const OptimizerType *types[] = {optim_gd, optim_momentum, optim_nesterov, optim_adam};
  size_t n = 50000; /* above the optimizers' threading threshold */
  double *t1 = malloc(n * sizeof *t1), *t2 = malloc(n * sizeof *t2), *g = malloc(n * sizeof *g);
  double *prev = malloc(n * sizeof *prev), *before = malloc(n * sizeof *before);
  for (int k = 0; k < 4; k++) {
    OptConfig c;
    optconfig_default(&c);
    c.weight_decay = 0.01;
    Optimizer *a = optim_alloc(types[k], &c, n), *b = optim_alloc(types[k], &c, n);
    Rng rng;
    rng_seed(&rng, 21);
    for (size_t i = 0; i < n; i++) t1[i] = t2[i] = rng_normal(&rng);
    int same = 1, kept = 1;
    for (int s = 0; s < 3; s++) {
      for (size_t i = 0; i < n; i++) g[i] = rng_normal(&rng);
      memcpy(before, t2, n * sizeof *before);
      optim_step(a, t1, g);
      optim_step_keep(b, t2, g, prev);
      same &= !memcmp(t1, t2, n * sizeof *t1);
      kept &= !memcmp(prev, before, n * sizeof *prev);
    }
    tap_ok(same && kept, "%s: optim_step_keep = optim_step bit for bit, and prev is θ before",
           types[k]->name);
    optim_free(a), optim_free(b);
  }
  free(t1), free(t2), free(g), free(prev), free(before);
}

int main(void) {
  test_part_range();
  test_objective_bits(PREC_F64);
  test_objective_bits(PREC_MIXED);
  test_training_bits(PREC_F64);
  test_training_bits(PREC_MIXED);
  test_norm_pair();
  test_step_keep();
  return tap_done();
}
