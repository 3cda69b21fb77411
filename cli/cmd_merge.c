/* cmd_merge.c: `curvscope merge OUT.db IN.db...`: copies the runs of other databases
 * (a sweep's per-task files, another machine's runs.db) into one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

typedef struct MergeArgs {
  int quiet;
} MergeArgs;

static const CliOpt merge_opts[] = {
    OPT_FLAG(MergeArgs, quiet, "print nothing but errors", "q"),
    OPT_END};

static void help(const OptTable *t) {
  printf("usage: curvscope merge OUT.db IN.db... [--quiet]\n\n"
         "Copies every run of each IN.db, with all its rows, into OUT.db (created when it is\n"
         "not there). Runs get new ids in OUT.db; runs.origin and runs.origin_id keep the file\n"
         "and the id each run was first recorded with. A run whose uuid OUT.db already has is\n"
         "skipped, so merging the same file again adds nothing. Every input is checked before\n"
         "anything is written: one that is not a curvscope database, is corrupt or was written\n"
         "by a newer curvscope stops the merge (exit 2) with OUT.db untouched. Each input is\n"
         "copied in its own transaction (docs/SWEEPS.md).\n\n");
  opts_help_print(stdout, t, 1);
}

int cli_merge_files(const char *out, char *const *in, int n, int verbose) {
  Err err = {0};
  for (int i = 0; i < n; i++) /* all inputs first: nothing is written when one is bad */
    if (db_merge_check(in[i], &err)) return cli_fail(&err);
  Db *db = NULL;
  if (cli_db_open(out, &db, &err)) return cli_fail(&err);
  int rc = CS_OK;
  long long added = 0, present = 0, rows = 0;
  for (int i = 0; i < n && !rc; i++) {
    DbMergeStats s;
    rc = db_merge(db, in[i], &s, &err);
    if (rc) break;
    added += s.runs_added, present += s.runs_present, rows += s.rows;
    if (verbose > 1)
      printf("%s: %lld run%s added (ids %lld-%lld), %lld rows; %lld already in %s\n", in[i],
             s.runs_added, s.runs_added == 1 ? "" : "s", s.max_id_before + (s.runs_added > 0),
             s.max_id_before + s.runs_added, s.rows, s.runs_present, out);
  }
  db_close(db);
  if (rc) return cli_fail(&err);
  if (verbose > 1 ? n > 1 : verbose)
    printf("merged %d files into %s: %lld runs added, %lld rows, %lld already there\n", n, out,
           added, rows, present);
  return EXIT_OK;
}

int cmd_merge(int argc, char **argv) {
  MergeArgs m = {0};
  OptTable t = {merge_opts, &m, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    help(&t);
    return EXIT_OK;
  }
  Err err = {0};
  char **pos = malloc((size_t)argc * sizeof *pos);
  int npos = 0;
  if (!pos) return cli_fail(&(Err){CS_ENOMEM, "out of memory"});
  int rc = opts_parse(&t, 1, argc, argv, 1, pos, &npos, &err);
  if (!rc && npos < 2)
    rc = err_set(&err, CS_EINVAL, "merge: give the output database and at least one input "
                 "(curvscope merge OUT.db IN.db...)");
  int code = rc ? cli_fail(&err) : cli_merge_files(pos[0], pos + 1, npos - 1, m.quiet ? 0 : 2);
  free(pos);
  return code;
}
