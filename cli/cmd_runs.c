/* cmd_runs.c: `curvscope runs`: a table of the runs in a database. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

static void num(double v, const char *fmt, int width) {
  if (isnan(v)) printf("%*s", width, "-");
  else printf(fmt, v);
}

typedef struct RunsArgs {
  char db[512];
} RunsArgs;

static const CliOpt runs_opts[] = {
    OPT_STR(RunsArgs, db, "FILE", "the database", NULL),
    OPT_END};

int cmd_runs(int argc, char **argv) {
  RunsArgs r = {"runs.db"};
  OptTable t = {runs_opts, &r, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    printf("usage: curvscope runs [--db runs.db]\n\nLists every run: id, name, status, steps,"
           " final loss and accuracy,\nmax sharpness (λ1 of the Hessian H), max"
           " preconditioned sharpness (λ1 of\nP^-1/2 H P^-1/2, Adam runs with the"
           " precond-sharpness probe) and edge-of-stability\nonset (for Adam judged on the"
           " preconditioned sharpness).\n"
           "Runs left 'running' by a dead process are marked 'interrupted'.\n\n");
    opts_help_print(stdout, &t, 1);
    return EXIT_OK;
  }
  Err perr = {0};
  if (opts_parse(&t, 1, argc, argv, 1, NULL, NULL, &perr)) return cli_fail(&perr);
  const char *path = r.db;
  Err err = {0};
  Db *db = NULL;
  if (cli_db_open_existing(path, &db, &err)) return cli_fail(&err);
  RunSummary *rs = NULL;
  size_t n = 0;
  if (db_run_summaries(db, &rs, &n, &err)) {
    db_close(db);
    return cli_fail(&err);
  }
  printf("%4s  %-22s %-11s %-8s %-8s %8s %7s %10s %8s %8s %10s %10s %8s\n", "id", "name",
         "status", "study", "opt", "lr", "steps", "loss", "accuracy", "test_acc", "sharpness",
         "precond", "eos_at");
  int any_precond = 0;
  for (size_t i = 0; i < n; i++) {
    printf("%4lld  %-22.22s %-11s %-8.8s %-8.8s ", (long long)rs[i].id, rs[i].name, rs[i].status,
           rs[i].study, rs[i].opt);
    if (isnan(rs[i].lr)) printf("%8s", "-");
    else printf("%8.3g", rs[i].lr);
    printf(" %7ld ", rs[i].steps);
    num(rs[i].final_loss, "%10.4g", 10);
    printf(" ");
    num(rs[i].final_accuracy, "%8.4f", 8);
    printf(" ");
    num(rs[i].final_test_accuracy, "%8.4f", 8);
    printf(" ");
    num(rs[i].max_sharpness, "%10.4g", 10);
    printf(" ");
    num(rs[i].max_precond_sharpness, "%10.4g", 10);
    any_precond |= !isnan(rs[i].max_precond_sharpness);
    if (isnan(rs[i].eos_onset)) printf(" %8s\n", "-");
    else printf(" %8.0f\n", rs[i].eos_onset);
  }
  if (any_precond)
    printf("sharpness: max λ1 of the Hessian H; precond: max preconditioned sharpness, λ1 of "
           "P^-1/2 H P^-1/2\n(Adam), whose threshold is 38/η for β1 = 0.9; Adam's eos_at is "
           "judged on it.\n");
  if (n == 0) printf("(no runs yet)\n");
  free(rs);
  db_close(db);
  return EXIT_OK;
}
