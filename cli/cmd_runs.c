/* cmd_runs.c: `curvscope runs`: a table of the runs in a database. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void num(double v, const char *fmt) {
  if (isnan(v)) printf("%10s", "-");
  else printf(fmt, v);
}

int cmd_runs(int argc, char **argv) {
  const char *path = "runs.db";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: curvscope runs [--db runs.db]\n\nLists every run: id, name, status, steps,"
             " final loss and accuracy,\nmax sharpness and edge-of-stability onset.\n"
             "Runs left 'running' by a dead process are marked 'interrupted'.\n");
      return EXIT_OK;
    }
    if (!strcmp(argv[i], "--db") && i + 1 < argc) path = argv[++i];
    else {
      fprintf(stderr, "curvscope runs: unexpected argument '%s' (see --help)\n", argv[i]);
      return EXIT_USAGE;
    }
  }
  Err err = {0};
  Db *db = NULL;
  FILE *probe = fopen(path, "rb");
  if (!probe) {
    fprintf(stderr, "curvscope: no database at '%s' (train a run first, or pass --db)\n", path);
    return EXIT_FAIL;
  }
  fclose(probe);
  if (cli_db_open(path, &db, &err)) return cli_fail(&err);
  RunSummary *rs = NULL;
  size_t n = 0;
  if (db_run_summaries(db, &rs, &n, &err)) {
    db_close(db);
    return cli_fail(&err);
  }
  printf("%4s  %-24s %-11s %-8s %-8s %9s %7s %10s %10s %10s %10s %8s\n", "id", "name", "status",
         "study", "opt", "lr", "steps", "loss", "accuracy", "test_acc", "sharpness", "eos_at");
  for (size_t i = 0; i < n; i++) {
    printf("%4lld  %-24.24s %-11s %-8.8s %-8.8s ", (long long)rs[i].id, rs[i].name, rs[i].status,
           rs[i].study, rs[i].opt);
    if (isnan(rs[i].lr)) printf("%9s", "-");
    else printf("%9.3g", rs[i].lr);
    printf(" %7ld ", rs[i].steps);
    num(rs[i].final_loss, "%10.4g");
    printf(" ");
    num(rs[i].final_accuracy, "%10.4f");
    printf(" ");
    num(rs[i].final_test_accuracy, "%10.4f");
    printf(" ");
    num(rs[i].max_sharpness, "%10.4g");
    if (isnan(rs[i].eos_onset)) printf(" %8s\n", "-");
    else printf(" %8.0f\n", rs[i].eos_onset);
  }
  if (n == 0) printf("(no runs yet)\n");
  free(rs);
  db_close(db);
  return EXIT_OK;
}
