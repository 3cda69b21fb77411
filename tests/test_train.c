/* test_train.c: the training loop's end states.
 *
 * A diverged run keeps its last finite parameters as its final checkpoint: the diverged
 * step's own when they are finite (the loss exploded first), else the step before's.
 * References: the same run stopped one step earlier or at that step by the step limit (a
 * normal end, whose final checkpoint is checked elsewhere), compared bit for bit; and an
 * optimizer that poisons θ with NaN at a chosen update, so the non-finite path is
 * exercised exactly where it must be. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/recorder_memory.h"
#include "core/threads.h"
#include "core/train.h"
#include "tap.h"

typedef struct Setup {
  Net net;
  Dataset *train, *test;
  double *theta0;
} Setup;

static int setup(Setup *s) {
  Err err = {0};
  NetSpec ns;
  netspec_default(&ns);
  ns.act = (Act){ACT_TANH, 1.0};
  if (netspec_parse_model(&ns, "mlp:10-12-3", &err) || net_init(&s->net, &ns, NULL, &err) ||
      data_load("synth:classes,n=120,d=10,k=3,sep=2", 5, &s->train, &s->test, &err)) {
    tap_ok(0, "setup: %s", err.msg);
    return 0;
  }
  Rng rng;
  rng_seed(&rng, 3);
  s->theta0 = malloc(s->net.n_params * sizeof *s->theta0);
  net_init_params(&s->net, s->theta0, &rng);
  return 1;
}

/* GD, except that the update making θ_{poison_at} writes NaN into one parameter. */
static long poison_at;
static void poison_step(Optimizer *o, double *theta, const double *grad, double *prev) {
  for (size_t i = 0; i < o->n; i++) {
    if (prev) prev[i] = theta[i];
    theta[i] -= o->cfg.lr * grad[i];
  }
  if (o->t == poison_at) theta[o->n / 2] = NAN;
}
static const OptimizerType poison_type = {"poison", 0, poison_step};

typedef struct Outcome {
  MemRecorder *m;
  TrainResult res;
  int rc;
} Outcome;

static Outcome train(Setup *s, const OptimizerType *type, double lr, long steps,
                     long checkpoint_every, double diverge_factor) {
  Err err = {0};
  Outcome out = {memrec_alloc(), {0}, 0};
  Recorder rec = memrec_recorder(out.m);
  RunInfo info = {"t", "train", NULL, "{}", 0, s->net.n_params, "{}"};
  int64_t id;
  rec_run_begin(&rec, &info, &id, &err);
  OptConfig oc;
  optconfig_default(&oc);
  oc.lr = lr;
  Optimizer *o = optim_alloc(type, &oc, s->net.n_params);
  double *theta = malloc(s->net.n_params * sizeof *theta);
  memcpy(theta, s->theta0, s->net.n_params * sizeof *theta);
  TrainConfig cfg;
  trainconfig_default(&cfg);
  cfg.steps = steps;
  cfg.checkpoint_every = checkpoint_every;
  cfg.diverge_factor = diverge_factor;
  out.rc = train_run(&cfg, &s->net, theta, o, s->train, NULL, NULL, 0, &rec, &out.res, &err);
  if (out.rc) tap_diag("train_run: %s", err.msg);
  optim_free(o);
  free(theta);
  return out;
}

static int all_finite(const double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}


/* The loss explodes while θ is still finite: the diverged step's θ is the checkpoint. */
static void test_exploding_loss(Setup *s) {
  size_t P = s->net.n_params;
  Outcome d = train(s, optim_gd, 1e3, 100, 0, 1e4);
  long t = d.res.steps_done;
  tap_ok(d.rc == CS_OK && !strcmp(d.res.status, "diverged") && t >= 1,
         "lr 1e3 diverges (status %s at step %ld)", d.res.status, t);
  const MemCheckpoint *ck = memrec_checkpoint(d.m, -1);
  tap_ok(ck && ck->step == t && ck->n == P && all_finite(ck->params, P),
         "its final checkpoint is at the diverged step %ld, finite (step %ld)", t,
         ck ? ck->step : -1);
  /* The same run to step t by the step limit (no divergence test): same θ_t. */
  Outcome ref = train(s, optim_gd, 1e3, t, 0, INFINITY);
  const MemCheckpoint *rk = memrec_checkpoint(ref.m, -1);
  tap_ok(ck && rk && rk->step == t && !memcmp(ck->params, rk->params, P * sizeof *ck->params),
         "and equals θ_%ld of the same run ended there by --steps, bit for bit", t);
  memrec_free(d.m);
  memrec_free(ref.m);
}

/* θ itself turns NaN: the checkpoint is the step before's, once. */
static void test_nonfinite_params(Setup *s) {
  size_t P = s->net.n_params;
  poison_at = 4;
  Outcome d = train(s, &poison_type, 0.01, 100, 0, 1e4);
  tap_ok(d.rc == CS_OK && !strcmp(d.res.status, "diverged") && d.res.steps_done == 4,
         "NaN in θ_4 diverges at step 4 (status %s at step %ld)", d.res.status,
         d.res.steps_done);
  const MemCheckpoint *ck = memrec_checkpoint(d.m, -1);
  tap_ok(ck && ck->step == 3 && d.m->n_ckpts == 1 && all_finite(ck->params, P),
         "the only checkpoint is θ_3, finite (step %ld, %zu checkpoints)", ck ? ck->step : -1,
         d.m->n_ckpts);
  Outcome ref = train(s, optim_gd, 0.01, 3, 0, 1e4);
  const MemCheckpoint *rk = memrec_checkpoint(ref.m, -1);
  tap_ok(ck && rk && rk->step == 3 && !memcmp(ck->params, rk->params, P * sizeof *ck->params),
         "and equals θ_3 of a run ended there by --steps, bit for bit");
  memrec_free(d.m);

  /* θ_3 already checkpointed (every 3 steps): not written again. */
  Outcome e = train(s, &poison_type, 0.01, 100, 3, 1e4);
  size_t at3 = 0;
  for (size_t i = 0; i < e.m->n_ckpts; i++) at3 += e.m->ckpts[i].step == 3;
  ck = memrec_checkpoint(e.m, -1);
  tap_ok(e.m->n_ckpts == 2 && at3 == 1 && ck && ck->step == 3,
         "with --checkpoint-every 3, steps 0 and 3 are stored once each (%zu checkpoints)",
         e.m->n_ckpts);
  memrec_free(e.m);
  memrec_free(ref.m);
}

/* A bad loop or optimizer setting is refused before anything is recorded. */
static void test_bad_config(Setup *s) {
  struct { const char *what, *needle; double diverge, stop; long steps; double beta2; } bad[] = {
      {"diverge_factor -1", "diverge_factor -1", -1, 0, 5, 0.999},
      {"diverge_factor NaN", "diverge_factor", NAN, 0, 5, 0.999},
      {"stop_accuracy 2", "stop_accuracy 2", 1e4, 2, 5, 0.999},
      {"steps -1", "steps -1", 1e4, 0, -1, 0.999},
      {"beta2 1", "beta2 1", 1e4, 0, 5, 1.0}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    MemRecorder *m = memrec_alloc();
    Recorder rec = memrec_recorder(m);
    OptConfig oc;
    optconfig_default(&oc);
    oc.beta2 = bad[i].beta2;
    Optimizer *o = optim_alloc(optim_adam, &oc, s->net.n_params);
    TrainConfig cfg;
    trainconfig_default(&cfg);
    cfg.diverge_factor = bad[i].diverge;
    cfg.stop_accuracy = bad[i].stop;
    cfg.steps = bad[i].steps;
    TrainResult res;
    Err err = {0};
    int rc = train_run(&cfg, &s->net, s->theta0, o, s->train, NULL, NULL, 0, &rec, &res, &err);
    tap_ok(rc == CS_EINVAL && strstr(err.msg, bad[i].needle) && memrec_n_steps(m) == 0,
           "train_run refuses %s before recording a step: %s", bad[i].what, err.msg);
    optim_free(o);
    memrec_free(m);
  }
}

int main(void) {
  threads_set(1);
  Setup s;
  if (!setup(&s)) return tap_done();
  test_exploding_loss(&s);
  test_nonfinite_params(&s);
  test_bad_config(&s);
  free(s.theta0);
  net_deinit(&s.net);
  dataset_free(s.train);
  dataset_free(s.test);
  return tap_done();
}
