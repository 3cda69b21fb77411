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

typedef struct StudyBatchArgs {
  BatchScalingOptions bo;
  long run, step;   /* run -1: train first; step -1: the last checkpoint */
  long seed;        /* -1: the run's seed */
  int grid;         /* the stability grid (on by default) */
  long grid_steps;
} StudyBatchArgs;

static void help(void) {
  printf(
      "usage: curvscope study batch-scaling [train options] [study options]\n"
      "       curvscope study batch-scaling --run ID [--step S|last] [--db runs.db] [study options]\n\n"
      "For each batch size B and each of D random batches drawn without replacement, λmax and\n"
      "λmin of the mini-batch Hessian (own Lanczos, warm-started across draws); the whole\n"
      "training set's λ_N; the noise hess_var = mean ‖H_i z‖² − ‖mean H_i z‖²; the fit\n"
      "λ̄(B) − λ_N ≈ c·(1/B − 1/N)^a and the spiked model; α_max(B) = 2/λ̄(B). Every draw is\n"
      "stored (eigs, source 'batch-scaling'), run-level results as metrics and series at\n"
      "step -1 (docs/BATCH.md, docs/SCHEMA.md).\n\n"
      "Without --run it first trains a run with the train options below, on these defaults:\n"
      "--data fashion-mnist:n=4096,test=0 --opt sgd --batch 128 --lr 0.02 --steps 200\n"
      "(784-200-200-10 tanh, MSE), and measures its final parameters.\n\n"
      "study options:\n"
      "  --batches LIST    batch sizes, dash- or comma-separated (default 8-32-128-512-2048);\n"
      "                    the whole training set N is always added, sizes >= N mean N\n"
      "  --draws D         random batches per size (default 10)\n"
      "  --operator OP     hessian (default) or ggn (Gauss-Newton; names become bs_ggn_*)\n"
      "  --tol T           eigen tolerance (default 1e-4)\n"
      "  --maxit M         products per solve at most (default 500)\n"
      "  --draw-seed S     seed of the draws and of z (default: the run's seed)\n"
      "  --run ID          measure a stored run's checkpoint instead of training\n"
      "  --step S|last     which checkpoint of --run (default last)\n"
      "  --no-stability-grid  skip the empirical check: for each B, short SGD and Adam runs\n"
      "                    from the measured point on a ladder of step sizes (ratio √2), the\n"
      "                    largest η that neither diverges nor ends above its start loss\n"
      "  --grid-steps K    updates per run of the grid (default 20)\n\n"
      "train options (without --run):\n");
  run_opts_help(stdout);
}

static int parse_sizes(const char *v, BatchScalingOptions *bo, Err *err) {
  char buf[256];
  if (strlen(v) >= sizeof buf) return err_set(err, CS_EINVAL, "--batches '%s' is too long", v);
  snprintf(buf, sizeof buf, "%s", v);
  for (char *c = buf; *c; c++)
    if (*c == ',') *c = '-';
  long b[BS_MAX_BATCHES];
  int n;
  if (spec_parse_int_list(buf, b, BS_MAX_BATCHES, &n, err)) return err_prefix(err, "--batches");
  for (int i = 0; i < n; i++) {
    if (b[i] < 1) return err_set(err, CS_EINVAL, "--batches '%s': size %ld (sizes start at 1)", v, b[i]);
    bo->batches[i] = (size_t)b[i];
  }
  bo->nbatches = n;
  return CS_OK;
}

/* One study option f (its value v, or NULL at the end): 1 when it was one with a value,
 * 2 one without, 0 when not a study option, or a negated status. */
static int parse_study_flag(StudyBatchArgs *a, const char *f, const char *v, Err *err) {
  static const char *const flags[] = {"--batches", "--draws", "--operator", "--tol", "--maxit",
                                      "--draw-seed", "--run", "--step", "--grid-steps"};
  if (!strcmp(f, "--no-stability-grid") || !strcmp(f, "--stability-grid")) {
    a->grid = f[2] == 's';
    return 2; /* a flag without value */
  }
  int known = 0;
  for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) known |= !strcmp(f, flags[k]);
  if (!known) return 0;
  if (!v) return -err_set(err, CS_EINVAL, "option '%s' needs a value", f);
  long x;
  int rc = CS_OK;
  if (!strcmp(f, "--batches")) rc = parse_sizes(v, &a->bo, err);
  else if (!strcmp(f, "--operator")) {
    if (strcmp(v, "hessian") && strcmp(v, "ggn"))
      rc = err_set(err, CS_EINVAL, "--operator '%s' (use hessian or ggn)", v);
    a->bo.ggn = !strcmp(v, "ggn");
  } else if (!strcmp(f, "--tol")) {
    if (parse_double(v, &a->bo.tol) || !(a->bo.tol > 0) || !isfinite(a->bo.tol))
      rc = err_set(err, CS_EINVAL, "--tol '%s' is not a positive number", v);
  } else if (!strcmp(f, "--step") && !strcmp(v, "last")) a->step = -1;
  else if (parse_long(v, &x) || x < 0 || (!strcmp(f, "--draws") && (x < 1 || x > 100000)) ||
           (!strcmp(f, "--maxit") && (x < 2 || x > 1000000)) ||
           (!strcmp(f, "--grid-steps") && (x < 1 || x > 1000000)))
    rc = err_set(err, CS_EINVAL, "%s '%s' is not a valid %s", f, v,
                 !strcmp(f, "--draws") ? "count (1..100000)"
                 : !strcmp(f, "--maxit") ? "cap (2..1000000)"
                 : !strcmp(f, "--grid-steps") ? "step count (1..1000000)"
                 : !strcmp(f, "--step") ? "step (a non-negative integer or 'last')"
                                        : "non-negative integer");
  else if (!strcmp(f, "--draws")) a->bo.draws = (int)x;
  else if (!strcmp(f, "--maxit")) a->bo.maxit = (int)x;
  else if (!strcmp(f, "--draw-seed")) a->seed = x;
  else if (!strcmp(f, "--grid-steps")) a->grid_steps = x;
  else if (!strcmp(f, "--run")) a->run = x;
  else a->step = x;
  return rc ? -rc : 1;
}

static void print_result(const BatchScalingResult *r, const BatchScalingSummary *s, int64_t run,
                         long step) {
  printf("run %lld, step %ld: %s, N = %zu, P = %zu, %d draws per size, %ld products, %.1f s\n",
         (long long)run, step, "extremes of the mini-batch operator", r->n, r->n_params,
         r->nb > 1 ? r->ndraw[0] : 1, r->matvecs, r->wall_s);
  printf("  %7s  %12s %10s  %12s %10s  %11s  %10s  %9s\n", "B", "mean λmax", "std", "mean λmin",
         "std", "hess_var", "spiked", "2/λ̄");
  for (int i = 0; i < r->nb; i++)
    printf("  %7zu  %12.6g %10.3g  %12.6g %10.3g  %11.4g  %10.4g  %9.4g\n", r->batch[i],
           r->lmax_mean[i], r->lmax_std[i], r->lmin_mean[i], r->lmin_std[i], r->hess_var[i],
           s->spiked_pred[i], s->lr_pred[i]);
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
  printf("stability grid (%ld updates per run from the measured point, ladder ratio √2):\n",
         g->steps);
  printf("  %7s  %10s  %12s %5s  %12s %5s\n", "B", "2/λ̄", "SGD η_max", "runs", "Adam η_max",
         "runs");
  for (int i = 0; i < g->nb; i++)
    printf("  %7zu  %10.4g  %12.4g %5d  %12.4g %5d\n", g->batch[i], s->lr_pred[i], g->lr_sgd[i],
           g->runs_sgd[i], g->lr_adam[i], g->runs_adam[i]);
  printf("  log-log slope of η_max against B below saturation: SGD %.3f (%d sizes), Adam %.3f "
         "(%d sizes); predicted 2/λ̄: %.3f (the paper: SGD 1, Adam 1/2)\n", g->sgd.a,
         g->sgd.npoints, g->adam.a, g->adam.npoints, g->pred.a);
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
  bo.seed = a->seed >= 0 ? (uint64_t)a->seed : row.seed;
  bo.chunk = ro.chunk;
  if ((rc = batch_scaling_measure(&s.net, s.loss, params, s.train, &bo, &r, err))) goto out;
  if ((rc = batch_scaling_summarize(&r, &sum, err))) goto out;
  if ((rc = db_recorder_attach(db, run, &rec, err))) goto out;
  attached = 1;
  if ((rc = batch_scaling_record(&r, &sum, bo.ggn, step, &rec, err)) ||
      (rc = rec_metric(&rec, -1, bo.ggn ? "bs_ggn_draw_seed" : "bs_draw_seed", (double)bo.seed, err)) ||
      (rc = rec_flush(&rec, err)))
    goto out;
  print_result(&r, &sum, run, step);
  if (a->grid) {
    StabilityOptions so;
    batch_stability_options_default(&so);
    so.steps = a->grid_steps;
    so.chunk = ro.chunk;
    so.seed = bo.seed;
    BatchGrid g;
    if ((rc = batch_grid_run(&s.net, s.loss, params, s.train, &r, &sum, &s.opt_cfg, 1e-3, &so, &g,
                             err)) ||
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
  if (cli_is_help(argc, argv)) {
    help();
    return EXIT_OK;
  }
  Err err = {0};
  StudyBatchArgs a = {.run = -1, .step = -1, .seed = -1, .grid = 1, .grid_steps = 20};
  batch_scaling_options_default(&a.bo);
  /* Study options out; the rest (train options) kept in order for run_opts_parse. */
  char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
  if (!rest) return EXIT_FAIL;
  int nrest = 0;
  for (int i = 1; i < argc; i++) { /* argv[0] is the study's name */
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int k = parse_study_flag(&a, argv[i], v, &err);
    if (k < 0) {
      free(rest);
      return cli_fail(&err);
    }
    if (k) {
      i += k == 1;
      continue;
    }
    rest[nrest++] = argv[i];
    /* a train option's value, which may itself look like a flag */
    int single = !strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q") || strchr(argv[i], '=');
    if (!single && v) rest[nrest++] = argv[++i];
  }
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
  int rc = run_opts_parse(&o, nrest, rest, 0, &err);
  if (!rc && a.run >= 0)
    for (int i = 0; i < nrest && !rc; i++) /* only where the run is, and how fast, apply */
      if (rest[i][0] == '-' && strcmp(rest[i], "--db") && strncmp(rest[i], "--db=", 5) &&
          strcmp(rest[i], "--threads") && strncmp(rest[i], "--threads=", 10) &&
          strcmp(rest[i], "--quiet") && strcmp(rest[i], "-q"))
        rc = err_set(&err, CS_EINVAL, "'%s' is a training option: with --run the model, data and "
                     "seed come from the stored run", rest[i]);
  if (!rc && a.run < 0 && a.step >= 0)
    rc = err_set(&err, CS_EINVAL, "--step needs --run (without it the study measures the run it trains)");
  free(rest);
  if (rc) return cli_fail(&err);
  threads_set((int)o.threads);
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
