/* cmd_train.c: `curvscope train`: one run, recorded in the database. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "core/threads.h"
#include "run_opts.h"
#include "studies/batch/lr_learner.h"
#include "studies/probes.h"

static void help(const RunOpts *o) {
  printf("usage: curvscope train [options]\n\n"
         "Trains a network and records the run (steps, metrics, probes, checkpoints) in the\n"
         "database. Options (also accepted in a --config file as 'key = value'):\n\n");
  run_opts_help(stdout, o);
  printf("\nexample:\n  curvscope train --data fashion-mnist:n=5000 --model mlp:784-200-200-10 "
         "--act tanh \\\n      --loss mse --opt gd --lr 0.02 --steps 2000 --stop-acc 0.99 "
         "--probe sharpness:every=10,k=2\n");
}

int cli_train_run(const RunOpts *o, const char *db_file, Db **dbp, int64_t *run_id,
                  int print_summary) {
  return cli_train_run_with(o, db_file, dbp, NULL, run_id, print_summary);
}

int cli_train_run_with(const RunOpts *o, const char *db_file, Db **dbp, const RunExtras *x,
                       int64_t *run_id, int print_summary) {
  Err err = {0};
  RunSetup s;
  Probe probes[RUN_MAX_PROBES + RUN_MAX_EXTRA_PROBES + 1];
  int nprobes = 0, nextra = 0, code = EXIT_OK, has_sharpness = 0;
  if (run_setup(o, &s, &err)) return cli_fail(&err);
  if (cli_dist_setup(o, &s, &err)) { /* under MPI: checks, and this rank's share of the rows */
    code = cli_fail(&err);
    goto out;
  }
  for (int i = 0; i < o->nprobes; i++) {
    if (probe_create(o->probe[i], &s.net, s.train, s.loss, s.opt_type, s.precision, &probes[nprobes], &err)) {
      code = cli_fail(&err);
      goto out;
    }
    nprobes++;
    has_sharpness |= !strncmp(o->probe[i], "sharpness", 9) ||
                     !strncmp(o->probe[i], "precond-sharpness", 17);
  }
  if (o->lr_schedule[0]) { /* the Lanczos learner: a probe setting lr and momentum, after the
                              --probe ones (they see the lr each step started with) */
    LrLearnerOptions lo;
    int rc = lr_learner_parse(o->lr_schedule, &lo, &err);
    lo.seed = (uint64_t)o->seed;
    if (rc || lr_learner_probe_create(&lo, &s.net, s.train, s.loss, s.opt_type, &probes[nprobes],
                                      &err)) {
      code = cli_fail(&err);
      goto out;
    }
    nprobes++;
  }
  if (x && x->probes) {
    int rc = x->probes(x->ctx, o, &s, probes + nprobes, RUN_MAX_EXTRA_PROBES, &nextra, &err);
    nprobes += nextra;
    if (rc) {
      code = cli_fail(&err);
      goto out;
    }
  }
  CliProgress pg;
  if (cli_progress_init(&pg, &err)) { /* a bad CURVSCOPE_PROGRESS_S */
    code = cli_fail(&err);
    goto out;
  }
  /* Everything the run needs is checked: only now is the database opened (or created);
   * under MPI by rank 0 alone, the other ranks record nowhere (dist.h) */
  if (!*dbp && cli_rank() == 0 && cli_db_open(db_file, dbp, &err)) {
    code = cli_fail(&err);
    goto out;
  }
  Db *db = *dbp;
  Recorder rec = {0};
  if (db && db_recorder_open(db, &rec, &err)) {
    code = cli_fail(&err);
    goto out;
  }
  RunOpts stored = *o; /* the config as run: the data spec resolved */
  snprintf(stored.data, sizeof stored.data, "%s", s.data_resolved);
  char *config = run_opts_to_json(&stored), *layout = net_layout_json(&s.net);
  RunInfo info = {o->name[0] ? o->name : NULL, o->study, o->group[0] ? o->group : NULL, config,
                  (uint64_t)o->seed, s.net.n_params, layout};
  int64_t id = 0;
  int rc = rec_run_begin(&rec, &info, &id, &err);
  free(config);
  free(layout);
  if (rc) {
    db_recorder_close(&rec);
    code = cli_fail(&err);
    goto out;
  }
  if (run_id) *run_id = id;
  if (print_summary) {
    printf("run %lld: %s, %zu parameters, %zu training examples%s\n", (long long)id, o->model,
           s.net.n_params, dataset_rows_all(s.train),
           s.test && dataset_rows_all(s.test) ? "" : " (no test split)");
    if (cli_comm())
      printf("  data-parallel on %d MPI ranks (rank 0 holds %zu rows)\n", cli_comm()->size,
             s.train->n);
    fflush(stdout); /* before the progress line on stderr */
  }
  pg.inner = &rec;
  s.tcfg.progress = o->quiet ? NULL : cli_progress;
  s.tcfg.progress_ctx = &pg;
  TrainResult res;
  rc = train_run(&s.tcfg, &s.net, s.theta, s.opt, s.train, s.test, probes, nprobes, &pg.tap, &res,
                 &err);
  cli_progress_end(&pg);
  /* data-parallel: every rank took the same steps from the same summed gradients */
  if (!rc) rc = comm_check_same(cli_comm(), s.theta, s.net.n_params, "the trained parameters", &err);
  if (!rc && x && x->finish)
    rc = x->finish(x->ctx, &s, id, probes + nprobes - nextra, nextra, &rec, &res, &err);
  Err end_err = {0};
  int end_rc = rec_run_end(&rec, rc ? "failed" : res.status, rc ? err.msg : NULL, &end_err);
  db_recorder_close(&rec);
  if (rc) {
    code = cli_fail(&err);
    if (end_rc && strcmp(end_err.msg, err.msg)) cli_fail(&end_err);
    goto out;
  }
  if (end_rc) { /* trained, but the database did not take the end of the run */
    code = cli_fail(&end_err);
    goto out;
  }
  if (print_summary) {
    printf("run %lld %s after %ld steps (%.1f s): loss %.6g", (long long)id, res.status,
           res.steps_done, res.wall_s, res.final_loss);
    if (!isnan(res.final_accuracy)) printf(", accuracy %.4f", res.final_accuracy);
    if (!isnan(res.test_accuracy)) printf(", test accuracy %.4f", res.test_accuracy);
    printf("\n");
    if (!strcmp(res.status, "diverged"))
      printf("  the loss became non-finite or exploded: try a smaller --lr\n");
    if (!strcmp(res.status, "interrupted"))
      printf("  interrupted: everything up to step %ld is in %s\n", res.steps_done, db ? db_path(db) : "the database");
  }
  /* the EoS analysis of a run that tracked sharpness: stored, and printed with the summary */
  if (has_sharpness && db && cli_eos_analyze_run(db, id, x ? x->eos_iii_at_crossing : 0, print_summary,
                                           &err))
    fprintf(stderr, "curvscope: edge-of-stability analysis skipped: %s\n", err.msg);
out:
  for (int i = 0; i < nprobes; i++) probes[i].destroy(probes[i].self);
  run_setup_free(&s);
  return code;
}

int cmd_train(int argc, char **argv) {
  RunOpts o;
  run_opts_default(&o);
  if (cli_is_help(argc, argv)) {
    help(&o);
    return EXIT_OK;
  }
  Err err = {0};
  if (run_opts_parse(&o, argc, argv, 1, &err)) return cli_fail(&err);
  threads_set((int)o.threads);
  Db *db = NULL;
  cli_install_stop_signals();
  int code = cli_train_run(&o, o.db, &db, NULL, 1);
  db_close(db);
  return cli_stop_exit(code);
}
