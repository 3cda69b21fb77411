/*
 * study_batch.c: `curvscope study batch-scaling`: mini-batch Hessian extremes against
 * the batch size (Granziol et al.; docs/BATCH.md), on a stored checkpoint (--run) or on
 * a model it trains first with the train command's options and run set-up.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/spec.h"
#include "core/threads.h"
#include "run_opts.h"
#include "studies/batch/batch_stability.h"
#include "studies/batch/batch_summary.h"
#include "study_batch_learner.h"

typedef struct StudyBatchArgs {
  BatchScalingOptions bo;   /* filled from the fields below after parsing */
  char batches[256], operator[16], grid_batches[256]; /* grid_batches: the text */
  char eig_stop[16];        /* value | residual: when the λmax solves stop */
  long draws, maxit, grid_steps, grid_rungs; /* grid_*: -1 is the default (small or full grid) */
  long run, step;           /* run -1: train first; step -1: the last checkpoint */
  long draw_seed;           /* -1: the run's seed */
  double tol;
  int stability_grid;
  int full_grid;            /* every size, 16 rungs, 20 steps unless given */
  int learner;              /* the learner beside fixed learning rates instead of the measurement */
  char learner_lrs[256];
  size_t grid_sizes[BS_MAX_BATCHES];   /* sizes of the grid; none: the 3 smallest below N */
  int ngrid;
} StudyBatchArgs;

#define GRID_SIZES_DEFAULT 3

static void show_draw_seed(const void *base, const CliOpt *opt, char *out, size_t n) {
  long s = ((const StudyBatchArgs *)base)->draw_seed;
  (void)opt;
  if (s < 0) snprintf(out, n, "the run's seed");
  else snprintf(out, n, "%ld", s);
}

static void show_grid_default(const void *base, const CliOpt *opt, char *out, size_t n) {
  (void)base;
  snprintf(out, n, "%s", !strcmp(opt->name, "grid_steps") ? "10; 20 with --full-grid"
                                                           : "10; 16 with --full-grid");
}

static int parse_grid_count(void *base, const CliOpt *opt, const char *v, Err *err) {
  StudyBatchArgs *a = base;
  long x, lo = 1, hi = 1000000, *dst = &a->grid_steps;
  if (!strcmp(opt->name, "grid_rungs")) lo = 2, hi = 1000, dst = &a->grid_rungs;
  if (parse_long(v, &x) || x < lo || x > hi)
    return err_set(err, CS_EINVAL, "--%s '%s' is not a valid %s (%ld..%ld)",
                   dst == &a->grid_steps ? "grid-steps" : "grid-rungs", v,
                   dst == &a->grid_steps ? "step count" : "run count", lo, hi);
  *dst = x;
  return CS_OK;
}

static const CliOpt batch_opts[] = {
    OPT_STR(StudyBatchArgs, batches, "LIST", "batch sizes, dash- or comma-separated; the whole "
            "training set N is always added, sizes >= N mean N", NULL),
    OPT_LONG(StudyBatchArgs, draws, "D", "random batches per size (1..100000)", NULL),
    OPT_STR(StudyBatchArgs, operator, "OP", "hessian or ggn (Gauss-Newton; names become bs_ggn_*)",
            NULL),
    OPT_POS(StudyBatchArgs, tol, "T", "eigen tolerance", NULL),
    OPT_STR(StudyBatchArgs, eig_stop, "RULE", "the λmax solves stop on the 'value' bound "
            "(est²/gap <= tol |θ|, the gap from each size's first draw, which stops on the "
            "residual) or all on the 'residual' (<= tol |θ|); λmin solves on the residual",
            NULL),
    OPT_LONG(StudyBatchArgs, maxit, "M", "products per solve at most (2..1000000)", NULL),
    OPT_FN(StudyBatchArgs, draw_seed, "S", "seed of the draws and of z", NULL, opts_parse_id,
           show_draw_seed),
    OPT_ID(StudyBatchArgs, run, "measure a stored run's checkpoint instead of training"),
    OPT_STEP(StudyBatchArgs, step, "which checkpoint of --run"),
    OPT_FLAG(StudyBatchArgs, stability_grid, "the empirical check (--no-stability-grid skips it): "
             "for each B, short SGD and Adam runs from the measured point on a ladder of step "
             "sizes (ratio √2), the largest η that neither diverges nor ends above its start "
             "loss; by default a small grid: the 3 smallest sizes below N", NULL),
    OPT_STR(StudyBatchArgs, grid_batches, "LIST", "the grid's sizes, among --batches (sizes "
            ">= N: the whole set); default the 3 smallest below N", NULL),
    OPT_FN(StudyBatchArgs, grid_rungs, "R", "runs per size of the grid at most", NULL,
           parse_grid_count, show_grid_default),
    OPT_FN(StudyBatchArgs, grid_steps, "K", "updates per run of the grid", NULL,
           parse_grid_count, show_grid_default),
    OPT_FLAG(StudyBatchArgs, full_grid, "every measured size, the whole set included, 16 rungs, "
             "20 steps", NULL),
    OPT_FLAG(StudyBatchArgs, learner, "instead of the measurement: the Lanczos learner (one run "
             "per rule, polyak and granziol, or the --lr-schedule given) beside one run per "
             "--learner-lrs, all --opt momentum from the same start, in one group", NULL),
    OPT_STR(StudyBatchArgs, learner_lrs, "LIST", "--learner: the fixed learning rates", NULL),
    OPT_END};

static void help(const OptTable *t, int nt) {
  printf(
      "usage: curvscope study batch-scaling [train options] [study options]\n"
      "       curvscope study batch-scaling --run ID [--step S|last] [--db runs.db] [study options]\n\n"
      "For each batch size B and each of D random batches drawn without replacement, λmax and\n"
      "λmin of the mini-batch Hessian (own Lanczos, warm-started across draws); the whole\n"
      "training set's λ_N; the noise hess_var = mean ‖H_i z‖² − ‖mean H_i z‖²; the fit\n"
      "λ̄(B) − λ_N ≈ c·(1/B − 1/N)^a and the spiked model; α_max(B) = 2/λ̄(B), and for Adam\n"
      "2/λ̄_precond(B) with Adam's steady-state preconditioner at B. Every draw is\n"
      "stored (eigs, source 'batch-scaling'), run-level results as metrics and series at\n"
      "step -1 (docs/BATCH.md, docs/SCHEMA.md).\n\n"
      "Without --run it first trains a run with the train options (784-200-200-10 tanh, MSE\n"
      "by default), and measures its final parameters.\n\n");
  opts_help_print(stdout, t, nt);
}

static int parse_sizes(const char *flag, const char *v, size_t *out, int *nout, Err *err) {
  char buf[256];
  if (strlen(v) >= sizeof buf) return err_set(err, CS_EINVAL, "%s '%s' is too long", flag, v);
  snprintf(buf, sizeof buf, "%s", v);
  for (char *c = buf; *c; c++)
    if (*c == ',') *c = '-';
  long b[BS_MAX_BATCHES];
  int n;
  if (spec_parse_int_list(buf, b, BS_MAX_BATCHES, &n, err)) return err_prefix(err, flag);
  for (int i = 0; i < n; i++) {
    if (b[i] < 1) return err_set(err, CS_EINVAL, "%s '%s': size %ld (sizes start at 1)", flag, v, b[i]);
    out[i] = (size_t)b[i];
  }
  *nout = n;
  return CS_OK;
}

/* The study options' ranges, into a->bo. */
static int study_args_check(StudyBatchArgs *a, Err *err) {
  int rc = parse_sizes("--batches", a->batches, a->bo.batches, &a->bo.nbatches, err);
  if (rc) return rc;
  if (a->grid_batches[0] &&
      (rc = parse_sizes("--grid-batches", a->grid_batches, a->grid_sizes, &a->ngrid, err)))
    return rc;
  if (strcmp(a->operator, "hessian") && strcmp(a->operator, "ggn"))
    return err_set(err, CS_EINVAL, "--operator '%s' (use hessian or ggn)", a->operator);
  if (strcmp(a->eig_stop, "value") && strcmp(a->eig_stop, "residual"))
    return err_set(err, CS_EINVAL, "--eig-stop '%s': expected value or residual", a->eig_stop);
  a->bo.value_stop = !strcmp(a->eig_stop, "value");
  if (a->draws < 1 || a->draws > 100000)
    return err_set(err, CS_EINVAL, "--draws '%ld' is not a valid count (1..100000)", a->draws);
  if (a->maxit < 2 || a->maxit > 1000000)
    return err_set(err, CS_EINVAL, "--maxit '%ld' is not a valid cap (2..1000000)", a->maxit);
  for (int j = 0; j < a->ngrid; j++) { /* the grid runs on measured sizes only */
    int found = 0;
    for (int i = 0; i < a->bo.nbatches; i++) found |= a->bo.batches[i] == a->grid_sizes[j];
    if (!found)
      return err_set(err, CS_EINVAL, "--grid-batches: %zu is not among the measured sizes "
                     "(--batches)", a->grid_sizes[j]);
  }
  if (a->ngrid && a->full_grid)
    return err_set(err, CS_EINVAL, "--grid-batches and --full-grid: give one of them");
  a->bo.ggn = !strcmp(a->operator, "ggn");
  a->bo.draws = (int)a->draws;
  a->bo.maxit = (int)a->maxit;
  a->bo.tol = a->tol;
  return CS_OK;
}

static void print_result(const BatchScalingResult *r, const BatchScalingSummary *s, int64_t run,
                         long step) {
  printf("run %lld, step %ld: %s, N = %zu, P = %zu, %d draws per size, %ld products, %.1f s\n",
         (long long)run, step, "extremes of the mini-batch operator", r->n, r->n_params,
         r->nb > 1 ? r->ndraw[0] : 1, r->matvecs, r->wall_s);
  printf("  %7s  %12s %10s  %12s %10s  %11s  %10s  %9s  %12s  %10s\n", "B", "mean λmax", "std",
         "mean λmin", "std", "hess_var", "spiked", "2/λ̄", "λ̄_precond", "2/λ̄_precond");
  for (int i = 0; i < r->nb; i++)
    printf("  %7zu  %12.6g %10.3g  %12.6g %10.3g  %11.4g  %10.4g  %9.4g  %12.6g  %10.4g\n",
           r->batch[i], r->lmax_mean[i], r->lmax_std[i], r->lmin_mean[i], r->lmin_std[i],
           r->hess_var[i], s->spiked_pred[i], s->lr_pred[i],
           r->lpre_mean ? r->lpre_mean[i] : NAN, s->lr_pred_adam ? s->lr_pred_adam[i] : NAN);
  if (s->power.npoints)
    printf("  λ̄(B) − λ_N ≈ c·(1/B − 1/N)^a: a = %.4g, c = %.4g, R² = %.4f (%d sizes)\n", s->power.a,
           s->power.c, s->power.r2, s->power.npoints);
  else
    printf("  power law: not fitted (fewer than two sizes with λ̄(B) > λ_N)\n");
  if (s->spiked.npoints)
    printf("  spiked model λ_N + K(1/B − 1/N): K = %.4g (σ² = %.4g), R² = %.4f\n", s->spiked.c,
           s->sigma2, s->spiked.r2);
  printf("  Spearman(λ̄, B) = %.3f; per-example noise S² = %.4g\n", s->spearman, s->noise_var);
}

static void print_grid(const BatchGrid *g, const BatchScalingSummary *s) {
  printf("stability grid (%ld updates per run from the measured point, ladder ratio √2, at most "
         "%d runs per size):\n", g->steps, g->rungs);
  printf("  %7s  %10s  %12s %5s  %12s  %12s %5s\n", "B", "2/λ̄", "SGD η_max", "runs",
         "2/λ̄_precond", "Adam η_max", "runs");
  for (int i = 0; i < g->nb; i++)
    if (g->runs_sgd[i] || g->runs_adam[i]) /* a size of the grid */
      printf("  %7zu  %10.4g  %12.4g %5d  %12.4g  %12.4g %5d\n", g->batch[i], s->lr_pred[i],
             g->lr_sgd[i], g->runs_sgd[i], s->lr_pred_adam ? s->lr_pred_adam[i] : NAN,
             g->lr_adam[i], g->runs_adam[i]);
  printf("  log-log slope of η_max against B below saturation: SGD %.3f (%d sizes), Adam %.3f "
         "(%d sizes); predicted: 2/λ̄ %.3f, 2/λ̄_precond %.3f (the paper: SGD 1, Adam 1/2)\n",
         g->sgd.a, g->sgd.npoints, g->adam.a, g->adam.npoints, g->pred.a, g->pred_adam.a);
}

/* The study on run `run`'s checkpoint at `step` (-1: last): rebuilds its net and data from
 * the stored configuration (as analyze does), measures, stores, prints. */
static int measure_run(Db *db, int64_t run, long step, const StudyBatchArgs *a, Err *err) {
  RunRow row = {0};
  RunOpts ro;
  RunSetup s = {0};
  double *params = NULL;
  BatchScalingResult r = {0};
  BatchScalingSummary sum = {0};
  Recorder rec = {0};
  size_t n = 0;
  int rc, attached = 0;
  if ((rc = db_run_get(db, run, &row, err))) goto out;
  if ((rc = run_opts_from_json(&ro, row.config, err)) || (rc = run_setup(&ro, &s, err))) goto out;
  if ((rc = db_checkpoint_read(db, run, step, &params, &n, &step, err))) goto out;
  if (n != s.net.n_params) {
    rc = err_set(err, CS_EFORMAT, "checkpoint of run %lld has %zu values, its model %zu",
                 (long long)run, n, s.net.n_params);
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (!isfinite(params[i])) {
      rc = err_set(err, CS_EINVAL, "run %lld: the checkpoint at step %ld has non-finite parameters",
                   (long long)run, step);
      goto out;
    }
  BatchScalingOptions bo = a->bo;
  bo.seed = a->draw_seed >= 0 ? (uint64_t)a->draw_seed : row.seed;
  bo.chunk = ro.chunk;
  bo.adam_eps = s.opt_cfg.eps; /* the run's Adam ε (its default when it trained otherwise) */
  if ((rc = batch_scaling_measure(&s.net, s.loss, params, s.train, &bo, &r, err))) goto out;
  if ((rc = batch_scaling_summarize(&r, &sum, err))) goto out;
  if ((rc = db_recorder_attach(db, run, &rec, err))) goto out;
  attached = 1;
  if ((rc = batch_scaling_record(&r, &sum, bo.ggn, step, &rec, err)) ||
      (rc = rec_metric(&rec, -1, bo.ggn ? "bs_ggn_draw_seed" : "bs_draw_seed", (double)bo.seed, err)) ||
      (rc = rec_flush(&rec, err)))
    goto out;
  print_result(&r, &sum, run, step);
  if (a->stability_grid) {
    StabilityOptions so;
    batch_stability_options_default(&so);
    so.steps = a->grid_steps > 0 ? a->grid_steps : a->full_grid ? 20 : 10;
    so.max_rungs = a->grid_rungs > 0 ? (int)a->grid_rungs : a->full_grid ? 16 : 10;
    so.chunk = ro.chunk;
    so.seed = bo.seed;
    int use[BS_MAX_BATCHES + 1];
    if (a->ngrid)
      for (int i = 0; i < r.nb; i++) {
        use[i] = 0;
        for (int j = 0; j < a->ngrid; j++) /* sizes >= N are the whole set */
          use[i] |= (a->grid_sizes[j] < r.n ? a->grid_sizes[j] : r.n) == r.batch[i];
      }
    else if (a->full_grid)
      for (int i = 0; i < r.nb; i++) use[i] = 1;
    else
      batch_grid_default_sizes(&r, GRID_SIZES_DEFAULT, use);
    BatchGrid g;
    if ((rc = batch_grid_run(&s.net, s.loss, params, s.train, &r, &sum, use, &s.opt_cfg, 1e-3, &so,
                             &g, err)) ||
        (rc = batch_grid_record(&g, &rec, err)) || (rc = rec_flush(&rec, err)))
      goto out;
    print_grid(&g, &sum);
  }
out:
  if (attached) db_recorder_close(&rec);
  batch_scaling_summary_free(&sum);
  batch_scaling_result_free(&r);
  free(params);
  run_setup_free(&s);
  run_row_free(&row);
  return rc;
}

int study_batch(int argc, char **argv) {
  Err err = {0};
  StudyBatchArgs a = {.run = -1, .step = -1, .draw_seed = -1, .stability_grid = 1,
                      .grid_steps = -1, .grid_rungs = -1, .operator = "hessian",
                      .eig_stop = "value",
                      .batches = "8-32-128-512-2048",
                      .learner_lrs = "0.002,0.005,0.01,0.02,0.05,0.1"};
  batch_scaling_options_default(&a.bo);
  a.draws = a.bo.draws;
  a.maxit = a.bo.maxit;
  a.tol = a.bo.tol;
  RunOpts o;
  run_opts_default(&o);
  snprintf(o.data, sizeof o.data, "fashion-mnist:n=4096,test=0");
  snprintf(o.opt, sizeof o.opt, "sgd");
  snprintf(o.study, sizeof o.study, "batch-scaling");
  snprintf(o.name, sizeof o.name, "batch-scaling");
  o.batch = 128;
  o.lr = 0.02;
  o.steps = 200;
  o.checkpoint_every = 0;
  unsigned char seen[OPTS_MAX_LINES] = {0};
  OptTable t[] = {{batch_opts, &a, "study options", NULL},
                  {run_opts_table, &o, "train options (without --run)", seen}};
  if (cli_is_help(argc, argv)) {
    help(t, 2);
    return EXIT_OK;
  }
  int rc = opts_parse(t, 2, argc, argv, 1, NULL, NULL, &err);
  if (!rc) rc = study_args_check(&a, &err);
  if (!rc && a.learner && a.run >= 0)
    rc = err_set(&err, CS_EINVAL, "--learner trains its own runs: it takes no --run");
  if (!rc && a.run >= 0) rc = run_opts_refuse_training(&t[1], &err);
  if (!rc && a.run < 0 && a.step >= 0)
    rc = err_set(&err, CS_EINVAL, "--step needs --run (without it the study measures the run it trains)");
  if (!rc && a.learner && opts_seen(&t[1], "opt") && strcmp(o.opt, "momentum"))
    rc = err_set(&err, CS_EINVAL, "--learner needs --opt momentum (the learner sets the heavy "
                 "ball's α and ρ), not '%s'", o.opt);
  if (rc) return cli_fail(&err);
  threads_set((int)o.threads);
  if (a.learner) {
    snprintf(o.opt, sizeof o.opt, "momentum");
    cli_install_stop_signals();
    return study_batch_learner(&o, a.learner_lrs, opts_seen(&t[1], "lr_schedule"), &err);
  }
  Db *db = NULL;
  int64_t run = a.run;
  int code = EXIT_OK;
  if (run >= 0 && cli_db_open_existing(o.db, &db, &err)) return cli_fail(&err);
  if (run < 0) {
    cli_install_stop_signals();
    code = cli_train_run(&o, o.db, &db, &run, 1); /* opens the database once all is checked */
    RunRow row = {0};
    if (code == EXIT_OK && !db_run_get(db, run, &row, &err) && strcmp(row.status, "finished")) {
      fprintf(stderr, "curvscope: run %lld %s: not measured (the study needs a finished run)\n",
              (long long)run, row.status);
      code = EXIT_FAIL;
    }
    run_row_free(&row);
  }
  if (code == EXIT_OK && measure_run(db, run, a.step, &a, &err)) code = cli_fail(&err);
  db_close(db);
  return cli_stop_exit(code);
}
