/*
 * cmd_report.c: `curvscope report`: one self-contained HTML page from the database.
 *
 *   curvscope report [--db runs.db] [--run ID]... [--study NAME] [-o report.html]
 *
 * Returns the exit code: 0 written, 2 bad usage (the message names the flag), 1 failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/spec.h"
#include "opts.h"
#include "report/report.h"

typedef struct ReportArgs {
  char db[512], output[512], study[32];
  int64_t *run;  /* argc entries */
  size_t nrun;
} ReportArgs;

static int parse_run(void *base, const CliOpt *opt, const char *v, Err *err) {
  ReportArgs *r = base;
  long id;
  (void)opt;
  if (parse_long(v, &id) || id <= 0)
    return err_set(err, CS_EINVAL, "--run wants a positive run id, got '%s'", v);
  r->run[r->nrun++] = id;
  return CS_OK;
}

static void show_run(const void *base, const CliOpt *opt, char *out, size_t n) {
  (void)base, (void)opt;
  snprintf(out, n, "every run");
}

static const CliOpt report_opts[] = {
    OPT_STR(ReportArgs, db, "FILE", "the run database", NULL),
    OPT_FN(ReportArgs, run, "ID", "include this run (repeatable)", NULL, parse_run, show_run),
    OPT_STR(ReportArgs, study, "NAME", "only runs of this study (eos, train, ...)", NULL),
    OPT_STR(ReportArgs, output, "FILE", "the HTML file to write", "o"),
    OPT_END};

static void help(const OptTable *t) {
  printf("usage: curvscope report [--db FILE] [--run ID]... [--study NAME] [-o FILE]\n"
         "\n"
         "Writes one self-contained HTML file (works offline): a sortable index of runs,\n"
         "per-run loss/accuracy, sharpness against the stability threshold with EoS phases,\n"
         "preconditioned sharpness, output-layer norm, traces, spectral densities, solver\n"
         "diagnostics, and a comparison of the runs of each group.\n\n");
  opts_help_print(stdout, t, 1);
}

int cmd_report(int argc, char **argv) {
  ReportArgs r = {"runs.db", "report.html", "", NULL, 0};
  OptTable t = {report_opts, &r, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    help(&t);
    return EXIT_OK;
  }
  int rc = EXIT_FAIL;
  if (!(r.run = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *r.run))) {
    fprintf(stderr, "curvscope report: out of memory\n");
    return EXIT_FAIL;
  }
  Err perr = {0};
  if (opts_parse(&t, 1, argc, argv, 1, NULL, NULL, &perr)) {
    free(r.run);
    return cli_fail(&perr);
  }
  const char *dbpath = r.db, *out = r.output, *study = r.study[0] ? r.study : NULL;
  int64_t *runs = r.run;
  size_t nruns = r.nrun;
  Err err = {0};
  Db *db = NULL;
  if (access(dbpath, R_OK) != 0) {
    fprintf(stderr, "curvscope report: no database '%s' (--db)\n", dbpath);
    rc = EXIT_USAGE;
    goto done;
  }
  if (cli_db_open(dbpath, &db, &err)) { /* the input first, then what this build can do */
    fprintf(stderr, "curvscope report: %s\n", err.msg);
    rc = cli_exit_status(&err);
    goto done;
  }
  if (report_assets_check(&err)) {
    fprintf(stderr, "curvscope report: %s\n", err.msg);
    goto done;
  }
  ReportOpts o = {.run_ids = runs, .n_runs = nruns, .study = study, .output = out};
  ReportStats st;
  if (report_write(db, &o, &st, &err)) {
    fprintf(stderr, "curvscope report: %s\n", err.msg);
    rc = cli_exit_status(&err);
    goto done;
  }
  printf("wrote %s (%.1f MB, %zu run%s, %zu charts) in %.2f s\n", out,
         (double)st.bytes / 1e6, st.runs, st.runs == 1 ? "" : "s", st.charts, st.seconds);
  rc = 0;
done:
  db_close(db);
  free(runs);
  return rc;
}
