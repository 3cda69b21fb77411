/* cmd_rm.c: `curvscope rm RUN...`: removes runs and everything recorded of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/spec.h"

#define RM_MAX_RUNS 4096

static void help(void) {
  printf("usage: curvscope rm [--db runs.db] [--force] [--vacuum] RUN...\n\n"
         "Removes each run and every row of it (steps, metrics, eigenvalues, series,\n"
         "densities, phases, checkpoints) in one transaction: all of them, or nothing\n"
         "when any id is not there. Ids are never reused, so a later run cannot\n"
         "inherit anything of a removed one.\n\n"
         "  --db FILE   the database (default runs.db)\n"
         "  --force     also remove runs whose status is still 'running'\n"
         "  --vacuum    compact the file afterwards (VACUUM), giving the space back\n");
}

int cmd_rm(int argc, char **argv) {
  if (cli_is_help(argc, argv)) {
    help();
    return EXIT_OK;
  }
  const char *path = "runs.db";
  int force = 0, vacuum = 0;
  static int64_t ids[RM_MAX_RUNS];
  size_t n = 0;
  Err err = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long id;
    if (!strcmp(a, "--db") || !strncmp(a, "--db=", 5)) {
      if (a[4] == '=') path = a + 5;
      else if (i + 1 < argc) path = argv[++i];
      else return cli_fail(&(Err){CS_EINVAL, "option '--db' needs a file"});
    } else if (!strcmp(a, "--force")) {
      force = 1;
    } else if (!strcmp(a, "--vacuum")) {
      vacuum = 1;
    } else if (a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) {
      err_set(&err, CS_EINVAL, "rm: unknown option '%s' (see --help)", a);
      return cli_fail(&err);
    } else if (parse_long(a, &id) || id <= 0) {
      err_set(&err, CS_EINVAL, "rm: '%s' is not a run id (a positive integer)", a);
      return cli_fail(&err);
    } else {
      size_t j = 0;
      while (j < n && ids[j] != id) j++;
      if (j == n) {
        if (n == RM_MAX_RUNS) {
          err_set(&err, CS_EINVAL, "rm: more than %d runs at once", RM_MAX_RUNS);
          return cli_fail(&err);
        }
        ids[n++] = id;
      }
    }
  }
  if (n == 0) {
    err_set(&err, CS_EINVAL, "rm: which runs? give their ids (curvscope runs lists them)");
    return cli_fail(&err);
  }
  Db *db = NULL;
  /* cli_db_open_existing: fopen would block on a FIFO; dead runs are marked, not 'running' */
  if (cli_db_open_existing(path, &db, &err)) return cli_fail(&err);
  long long rows = 0;
  int rc = db_runs_delete(db, ids, n, force, &rows, &err);
  if (rc == CS_OK) {
    printf("removed %zu run%s (%lld rows) from %s\n", n, n == 1 ? "" : "s", rows, path);
    if (vacuum) rc = db_vacuum(db, &err);
  }
  db_close(db);
  return rc ? cli_fail(&err) : EXIT_OK;
}
