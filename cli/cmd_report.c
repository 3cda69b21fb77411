/*
 * cmd_report.c: `curvscope report`: one self-contained HTML page from the database.
 *
 *   curvscope report [--db runs.db] [--run ID]... [--study NAME] [-o report.html]
 *
 * Returns the exit code: 0 written, 2 bad usage (the message names the flag), 1 failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "report/report.h"

static const char *usage =
    "usage: curvscope report [--db FILE] [--run ID]... [--study NAME] [-o FILE]\n"
    "\n"
    "Writes one self-contained HTML file (works offline): a sortable index of runs,\n"
    "per-run loss/accuracy, sharpness against the stability threshold with EoS phases,\n"
    "preconditioned sharpness, output-layer norm, traces, spectral densities, solver\n"
    "diagnostics, and a comparison of the runs of each group.\n"
    "\n"
    "  --db FILE        the run database (default runs.db)\n"
    "  --run ID         include this run (repeatable; default: every run)\n"
    "  --study NAME     only runs of this study (eos, train, ...)\n"
    "  -o, --output F   the HTML file to write (default report.html)\n"
    "  --help           this text\n";

/* Matches --name VALUE, --name=VALUE (and the short alias with a separate value). */
static int flag_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
                      const char **val, int *bad) {
  const char *a = argv[*i];
  size_t n = strlen(lng);
  if (!strncmp(a, lng, n) && a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (strcmp(a, lng) != 0 && !(shrt && !strcmp(a, shrt))) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "curvscope report: %s needs a value\n%s", a, usage);
    *bad = 1;
    return 1;
  }
  *val = argv[++*i];
  return 1;
}

int cmd_report(int argc, char **argv) {
  const char *dbpath = "runs.db", *out = "report.html", *study = NULL, *v = NULL;
  int64_t *runs = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *runs);
  size_t nruns = 0;
  int bad = 0, rc = 1;
  if (!runs) {
    fprintf(stderr, "curvscope report: out of memory\n");
    return 1;
  }
  /* getopt convention: argv[0] names the command ("report", or the program followed
   * by "report"); flags follow. A first argument that is already a flag is kept. */
  int i0 = (argc > 0 && argv[0][0] != '-') ? 1 : 0;
  if (i0 < argc && !strcmp(argv[i0], "report")) i0++;
  for (int i = i0; i < argc && !bad; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      free(runs);
      return 0;
    } else if (flag_value(argc, argv, &i, "--db", NULL, &v, &bad)) {
      if (!bad) dbpath = v;
    } else if (flag_value(argc, argv, &i, "--output", "-o", &v, &bad)) {
      if (!bad) out = v;
    } else if (flag_value(argc, argv, &i, "--study", NULL, &v, &bad)) {
      if (!bad) study = v;
    } else if (flag_value(argc, argv, &i, "--run", NULL, &v, &bad)) {
      if (bad) break;
      char *end;
      errno = 0;
      long long id = strtoll(v, &end, 10);
      if (errno || end == v || *end || id <= 0) {
        fprintf(stderr, "curvscope report: --run wants a positive run id, got '%s'\n", v);
        bad = 1;
      } else {
        runs[nruns++] = id;
      }
    } else {
      fprintf(stderr, "curvscope report: unknown flag '%s'\n%s", a, usage);
      bad = 1;
    }
  }
  if (bad) {
    free(runs);
    return 2;
  }
  Err err = {0};
  Db *db = NULL;
  if (access(dbpath, R_OK) != 0) {
    fprintf(stderr, "curvscope report: no database '%s' (--db)\n", dbpath);
    goto done;
  }
  if (cli_db_open(dbpath, &db, &err)) { /* the input first, then what this build can do */
    fprintf(stderr, "curvscope report: %s\n", err.msg);
    if (err.code == CS_EINVAL) rc = 2; /* a --db that is not a file: bad usage */
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
