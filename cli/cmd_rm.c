/* cmd_rm.c: `curvscope rm RUN...`: removes runs and everything recorded of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/spec.h"
#include "opts.h"

#define RM_MAX_RUNS 4096

typedef struct RmArgs {
  char db[512];
  int force, vacuum;
} RmArgs;

static const CliOpt rm_opts[] = {
    OPT_STR(RmArgs, db, "FILE", "the database", NULL),
    OPT_FLAG(RmArgs, force, "also remove runs whose status is still 'running'", NULL),
    OPT_FLAG(RmArgs, vacuum, "compact the file afterwards (VACUUM), giving the space back", NULL),
    OPT_END};

static void help(const OptTable *t) {
  printf("usage: curvscope rm [--db runs.db] [--force] [--vacuum] RUN...\n\n"
         "Removes each run and every row of it (steps, metrics, eigenvalues, series,\n"
         "densities, phases, checkpoints) in one transaction: all of them, or nothing\n"
         "when any id is not there. Ids are never reused, so a later run cannot\n"
         "inherit anything of a removed one.\n\n");
  opts_help_print(stdout, t, 1);
}

int cmd_rm(int argc, char **argv) {
  RmArgs r = {"runs.db", 0, 0};
  OptTable t = {rm_opts, &r, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    help(&t);
    return EXIT_OK;
  }
  static int64_t ids[RM_MAX_RUNS];
  size_t n = 0;
  Err err = {0};
  char **pos = malloc((size_t)argc * sizeof *pos);
  int npos = 0;
  if (!pos) return cli_fail(&(Err){CS_ENOMEM, "out of memory"});
  int rc = opts_parse(&t, 1, argc, argv, 1, pos, &npos, &err);
  for (int i = 0; i < npos && !rc; i++) {
    long id;
    if (parse_long(pos[i], &id) || id <= 0) {
      rc = err_set(&err, CS_EINVAL, "rm: '%s' is not a run id (a positive integer)", pos[i]);
      break;
    }
    size_t j = 0;
    while (j < n && ids[j] != id) j++;
    if (j < n) continue;
    if (n == RM_MAX_RUNS)
      rc = err_set(&err, CS_EINVAL, "rm: more than %d runs at once", RM_MAX_RUNS);
    else
      ids[n++] = id;
  }
  free(pos);
  if (rc) return cli_fail(&err);
  const char *path = r.db;
  int force = r.force, vacuum = r.vacuum;
  if (n == 0) {
    err_set(&err, CS_EINVAL, "rm: which runs? give their ids (curvscope runs lists them)");
    return cli_fail(&err);
  }
  Db *db = NULL;
  /* cli_db_open_existing: fopen would block on a FIFO; dead runs are marked, not 'running' */
  if (cli_db_open_existing(path, &db, &err)) return cli_fail(&err);
  long long rows = 0;
  rc = db_runs_delete(db, ids, n, force, &rows, &err);
  if (rc == CS_OK) {
    printf("removed %zu run%s (%lld rows) from %s\n", n, n == 1 ? "" : "s", rows, path);
    if (vacuum) rc = db_vacuum(db, &err);
  }
  db_close(db);
  return rc ? cli_fail(&err) : EXIT_OK;
}
