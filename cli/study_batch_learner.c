/*
 * study_batch_learner.c: `curvscope study batch-scaling --learner` (docs/BATCH.md, "The
 * learner beside fixed learning rates"): the Lanczos learning-rate learner
 * (studies/batch/lr_learner.h) and a grid of fixed learning rates, every run with the
 * heavy-ball optimizer from the same start (the same seed: the same initial θ and the
 * same mini-batch order), in one group. Each run's whole-training-set loss at its last
 * step is stored (bs_learner_final_loss; none for a run that diverged); each learner run
 * also gets the best fixed run's loss and learning rate and its excess over it
 * (lr_compare.h: within 10% is the test).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/loss.h"
#include "core/train.h"
#include "db/db.h"
#include "run_opts.h"
#include "core/layout.h"
#include "studies/batch/lr_compare.h"
#include "study_batch_learner.h"

#define LEARNER_MAX_RUNS 24

typedef struct LearnerRun {
  int64_t id;
  double lr;         /* fixed runs: the step size; learners: NAN */
  double final_loss; /* whole training set at the last step; NAN when diverged */
  const char *rule;  /* learners: the schedule's text; fixed runs: NULL */
} LearnerRun;

/* RunExtras.finish: the final whole-set loss, stored in the run as it ends. */
static int learner_finish(void *ctx, const RunSetup *s, int64_t run, Probe *probes, int n,
                          Recorder *rec, const TrainResult *res, Err *err) {
  LearnerRun *lr = ctx;
  (void)probes, (void)n;
  lr->id = run;
  lr->final_loss = NAN;
  if (!strcmp(res->status, "diverged")) return CS_OK;
  ObjectiveWork *w = objective_work_alloc_for(&s->net, s->loss, s->train->n, layout_chunk_arg(s->tcfg.chunk));
  if (!w) return err_set(err, CS_ENOMEM, "out of memory for the final loss");
  Batch b = {s->train->X, s->train->Y, s->train->labels, s->train->n, s->metric, NULL};
  double loss = NAN;
  int rc = objective_eval_parallel(&s->net, s->theta, s->loss, &b, w, NULL, &loss, NULL);
  objective_work_free(w);
  if (rc) return err_set(err, rc, "the final whole-set loss failed");
  if (!isfinite(loss)) return CS_OK;
  lr->final_loss = loss;
  return rec_metric(rec, -1, "bs_learner_final_loss", loss, err);
}

/* The comparison, into each learner run (and the best fixed lr into every run). */
static int learner_record(Db *db, LearnerRun *runs, int nrun, Err *err) {
  double loss[LEARNER_MAX_RUNS];
  int fixed[LEARNER_MAX_RUNS] = {0}, nf = 0;
  for (int i = 0; i < nrun; i++)
    if (!runs[i].rule) fixed[nf] = i, loss[nf++] = runs[i].final_loss;
  int b = lr_compare_best(loss, nf);
  printf("learner against %d fixed learning rates (final whole-set training loss):\n", nf);
  for (int i = 0; i < nrun; i++) {
    if (runs[i].rule) printf("  run %lld  %-44s", (long long)runs[i].id, runs[i].rule);
    else printf("  run %lld  fixed lr %-35g", (long long)runs[i].id, runs[i].lr);
    if (isfinite(runs[i].final_loss)) printf(" %.6g\n", runs[i].final_loss);
    else printf(" diverged\n");
  }
  if (b < 0) {
    printf("  no fixed learning rate ended with a finite loss: no comparison\n");
    return CS_OK;
  }
  const LearnerRun *best = &runs[fixed[b]];
  printf("  best fixed: lr %g, loss %.6g\n", best->lr, best->final_loss);
  for (int i = 0; i < nrun; i++) {
    if (!runs[i].rule) continue;
    Recorder rec;
    int rc = db_recorder_attach(db, runs[i].id, &rec, err);
    if (rc) return rc;
    double ex = lr_compare_excess(runs[i].final_loss, best->final_loss);
    rc = rec_metric(&rec, -1, "bs_learner_best_fixed_loss", best->final_loss, err);
    if (!rc) rc = rec_metric(&rec, -1, "bs_learner_best_fixed_lr", best->lr, err);
    if (!rc) rc = rec_metric(&rec, -1, "bs_learner_best_fixed_run", (double)best->id, err);
    if (!rc && isfinite(ex)) rc = rec_metric(&rec, -1, "bs_learner_excess", ex, err);
    if (!rc)
      rc = rec_metric(&rec, -1, "bs_learner_within",
                      isfinite(ex) && ex <= LR_COMPARE_WITHIN ? 1.0 : 0.0, err);
    if (!rc) rc = rec_flush(&rec, err);
    db_recorder_close(&rec);
    if (rc) return rc;
    if (isfinite(ex))
      printf("  %s: %+.1f%% against the best fixed lr (%s 10%%)\n", runs[i].rule, 100 * ex,
             ex <= LR_COMPARE_WITHIN ? "within" : "NOT within");
    else
      printf("  %s: diverged\n", runs[i].rule);
  }
  return CS_OK;
}

int study_batch_learner(const RunOpts *base, const char *lrs, int schedule_given, Err *err) {
  double lr[LEARNER_MAX_RUNS];
  int nlr = 0;
  if (cli_parse_lr_list("--learner-lrs", lrs, lr, LEARNER_MAX_RUNS - 2, &nlr, err))
    return cli_fail(err);
  if (strcmp(base->opt, "momentum")) {
    err_set(err, CS_EINVAL, "--learner needs --opt momentum (the learner sets the heavy ball's "
            "α and ρ; the fixed runs use the same optimizer), not '%s'", base->opt);
    return cli_fail(err);
  }
  static const char *rules[] = {"polyak", "granziol"};
  char sched[2][sizeof base->lr_schedule];
  int nsched = 0;
  if (schedule_given) snprintf(sched[nsched++], sizeof sched[0], "%s", base->lr_schedule);
  else
    for (int i = 0; i < 2; i++)
      snprintf(sched[nsched++], sizeof sched[0], "lanczos:every=50,batch=128,iters=20,rule=%s",
               rules[i]);
  LearnerRun runs[LEARNER_MAX_RUNS];
  int nrun = 0;
  RunOpts g = *base;
  if (!g.group[0]) cli_study_group("batch-scaling", g.group, sizeof g.group);
  Db *db = NULL;
  int code = EXIT_OK;
  for (int i = 0; i < nsched + nlr && code == EXIT_OK && !train_stop_requested(); i++) {
    RunOpts o = g;
    LearnerRun *r = &runs[nrun];
    memset(r, 0, sizeof *r);
    if (i < nsched) {
      memcpy(o.lr_schedule, sched[i], sizeof o.lr_schedule); /* the same size */
      snprintf(o.name, sizeof o.name, "batch-scaling learner %.90s", sched[i]);
      r->rule = sched[i], r->lr = NAN;
    } else {
      o.lr_schedule[0] = '\0';
      o.lr = r->lr = lr[i - nsched];
      snprintf(o.name, sizeof o.name, "batch-scaling fixed lr=%g", o.lr);
    }
    RunExtras x = {.ctx = r, .finish = learner_finish};
    code = cli_train_run_with(&o, o.db, &db, &x, NULL, 1);
    if (code == EXIT_OK) nrun++;
  }
  if (code == EXIT_OK && !train_stop_requested() && learner_record(db, runs, nrun, err))
    code = cli_fail(err);
  db_close(db);
  return cli_stop_exit(code);
}
