/* cmd_runs.c: `curvscope runs`: a table (or JSON) of the runs in a database, filtered and
 * sorted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db/db_json.h"
#include "opts.h"

#define NAME_MAX_COLS 32 /* wider names are cut, marked with '…' */

typedef struct RunsArgs {
  char db[512], status[128], study[64], group[128], where[1024], sort[32];
  int json;
} RunsArgs;

static const CliOpt runs_opts[] = {
    OPT_STR(RunsArgs, db, "FILE", "the database", NULL),
    OPT_STR(RunsArgs, status, "LIST", "only runs with these statuses, comma-separated "
            "(running, finished, diverged, interrupted, failed)", NULL),
    OPT_STR(RunsArgs, study, "NAME", "only runs of this study (train, eos, ...)", NULL),
    OPT_STR(RunsArgs, group, "NAME", "only runs of this group", NULL),
    OPT_STR(RunsArgs, where, "SQL", "only runs for which this SQL expression over the "
            "run_summary view's columns holds (docs/SCHEMA.md), e.g. \"lr > 0.01 AND steps > 100\"",
            NULL),
    OPT_STR(RunsArgs, sort, "COL", "order by a column of the table (id, name, status, lr, "
            "loss, sharpness, ...); -COL descending", NULL),
    OPT_FLAG(RunsArgs, json, "the rows as JSON: {\"cols\": [...], \"rows\": [[...], ...]}", NULL),
    OPT_END};

/* The columns: header, SQL over run_summary, printf format of a number (NULL: text),
 * the widest a cell may be (0: no limit). */
typedef struct RunsCol {
  const char *name, *sql, *fmt;
  int max;
} RunsCol;

static const RunsCol cols[] = {
    {"id", "id", "%.0f", 0},
    {"name", "name", NULL, NAME_MAX_COLS},
    {"status", "status", NULL, 0},
    {"study", "study", NULL, 16},
    {"opt", "opt", NULL, 10},
    {"lr", "lr", "%.3g", 0},
    {"steps", "steps", "%.0f", 0},
    {"loss", "final_loss", "%.4g", 0},
    {"accuracy", "final_accuracy", "%.4f", 0},
    {"test_acc", "final_test_accuracy", "%.4f", 0},
    {"sharpness", "max_sharpness", "%.4g", 0},
    {"precond", "max_precond_sharpness", "%.4g", 0},
    {"eos_at", "eos_onset", "%.0f", 0},
};
#define NCOLS (sizeof cols / sizeof *cols)
enum { COL_PRECOND = 11 };

/* Display width of UTF-8 text: its code points (continuation bytes do not count). */
static int text_width(const char *s) {
  int w = 0;
  for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
  return w;
}

/* Appends s as an SQL string literal ('' doubles a quote: nothing else is special). */
static void sql_literal(StrBuf *b, const char *s) {
  sb_append_n(b, "'", 1);
  for (; *s; s++) sb_append_n(b, *s == '\'' ? "''" : s, 1 + (*s == '\''));
  sb_append_n(b, "'", 1);
}

/* Whether the parentheses of an SQL expression balance outside its quotes, never closing
 * more than opened: then "(clause)" cannot end early, and the filters around it hold. */
static int sql_parens_balance(const char *s) {
  int depth = 0;
  for (; *s; s++) {
    if (*s == '\'' || *s == '"' || *s == '`' || *s == '[') {
      char close = *s == '[' ? ']' : *s;
      while (*++s && *s != close) {}
      if (!*s) return 0; /* an unterminated quote */
    } else if (*s == '(') {
      depth++;
    } else if (*s == ')' && --depth < 0) {
      return 0;
    }
  }
  return depth == 0;
}

/* The query of the rows asked for; CS_EINVAL naming a bad --status, --where or --sort. */
static int build_query(const RunsArgs *r, int json, StrBuf *q, Err *err) {
  sb_append(q, "SELECT ");
  for (size_t c = 0; c < NCOLS; c++)
    sb_printf(q, "%s%s AS \"%s\"", c ? ", " : "", cols[c].sql, cols[c].name);
  if (json) sb_append(q, ", grp AS \"group\", created_at, uuid");
  sb_append(q, " FROM run_summary WHERE 1");
  if (r->status[0]) {
    static const char *const known[] = {"running", "finished", "diverged", "interrupted", "failed"};
    char buf[sizeof r->status];
    snprintf(buf, sizeof buf, "%s", r->status);
    sb_append(q, " AND status IN (");
    int first = 1;
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ","), first = 0) {
      int ok = 0;
      for (size_t k = 0; k < sizeof known / sizeof *known; k++) ok |= !strcmp(s, known[k]);
      if (!ok)
        return err_set(err, CS_EINVAL, "--status '%s': unknown status '%s' (running, finished, "
                       "diverged, interrupted, failed)", r->status, s);
      if (!first) sb_append(q, ",");
      sql_literal(q, s);
    }
    sb_append(q, ")");
  }
  if (r->study[0]) sb_append(q, " AND study = "), sql_literal(q, r->study);
  if (r->group[0]) sb_append(q, " AND grp = "), sql_literal(q, r->group);
  /* the clause stands alone in parentheses; db_query_* refuse a second statement and
   * anything that writes */
  if (r->where[0] && !sql_parens_balance(r->where))
    return err_set(err, CS_EINVAL, "--where '%s': unbalanced parentheses or quotes", r->where);
  if (r->where[0]) sb_printf(q, " AND (%s\n)", r->where);
  sb_append(q, " ORDER BY ");
  if (r->sort[0]) {
    const char *name = r->sort + (r->sort[0] == '-');
    size_t c = 0;
    while (c < NCOLS && strcmp(cols[c].name, name)) c++;
    if (c == NCOLS) {
      StrBuf names;
      sb_init(&names);
      for (size_t k = 0; k < NCOLS; k++) sb_printf(&names, "%s%s", k ? ", " : "", cols[k].name);
      err_set(err, CS_EINVAL, "--sort '%s': not a column (%s)", r->sort, names.p ? names.p : "");
      sb_free(&names);
      return CS_EINVAL;
    }
    /* NULLs (no value) last either way */
    sb_printf(q, "%s IS NULL, %s%s, ", cols[c].sql, cols[c].sql, r->sort[0] == '-' ? " DESC" : "");
  }
  sb_append(q, "id");
  return q->oom ? err_set(err, CS_ENOMEM, "out of memory") : CS_OK;
}

/* One cell as shown: a number in its format, text cut to the column's limit. */
static void cell_text(const RunsCol *c, const char *v, char *out, size_t n) {
  if (!v) {
    snprintf(out, n, "-");
  } else if (c->fmt) {
    snprintf(out, n, c->fmt, strtod(v, NULL));
  } else if (c->max && text_width(v) > c->max) {
    size_t len = 0; /* max - 1 code points, then the mark */
    for (int w = 0; v[len] && w < c->max - 1; w++)
      do len++; while (((unsigned char)v[len] & 0xC0) == 0x80);
    snprintf(out, n, "%.*s…", (int)len, v);
  } else {
    snprintf(out, n, "%s", v);
  }
}

static void print_cell(const char *s, int width, int right, int last) {
  int pad = width - text_width(s);
  if (right) printf("%*s%s", pad > 0 ? pad : 0, "", s);
  else printf("%s%*s", s, last ? 0 : (pad > 0 ? pad : 0), "");
  printf(last ? "\n" : "  ");
}

static void print_table(const DbStrs *s) {
  int w[NCOLS];
  char cell[256];
  for (size_t c = 0; c < NCOLS; c++) w[c] = text_width(cols[c].name);
  for (size_t r = 0; r < s->nrow; r++)
    for (size_t c = 0; c < NCOLS; c++) {
      cell_text(&cols[c], s->v[r * (size_t)s->ncol + c], cell, sizeof cell);
      if (text_width(cell) > w[c]) w[c] = text_width(cell);
    }
  for (size_t c = 0; c < NCOLS; c++) print_cell(cols[c].name, w[c], cols[c].fmt != NULL, c + 1 == NCOLS);
  int any_precond = 0;
  for (size_t r = 0; r < s->nrow; r++) {
    any_precond |= s->v[r * (size_t)s->ncol + COL_PRECOND] != NULL;
    for (size_t c = 0; c < NCOLS; c++) {
      cell_text(&cols[c], s->v[r * (size_t)s->ncol + c], cell, sizeof cell);
      print_cell(cell, w[c], cols[c].fmt != NULL, c + 1 == NCOLS);
    }
  }
  if (any_precond)
    printf("sharpness: max λ1 of the Hessian H; precond: max preconditioned sharpness, λ1 of "
           "P^-1/2 H P^-1/2\n(Adam), whose threshold is 38/η for β1 = 0.9; Adam's eos_at is "
           "judged on it.\n");
}

int cmd_runs(int argc, char **argv) {
  RunsArgs r = {.db = "runs.db"};
  OptTable t = {runs_opts, &r, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    printf("usage: curvscope runs [--db runs.db] [--status LIST] [--study NAME] [--group NAME]\n"
           "                      [--where SQL] [--sort [-]COL] [--json]\n\n"
           "Lists the runs: id, name, status, steps, final loss and accuracy, max sharpness\n"
           "(λ1 of the Hessian H), max preconditioned sharpness (λ1 of P^-1/2 H P^-1/2, Adam\n"
           "runs with the precond-sharpness probe) and edge-of-stability onset (for Adam judged\n"
           "on the preconditioned sharpness). A name wider than %d columns is cut and ends in\n"
           "'…'. Runs left 'running' by a dead process are marked 'interrupted'.\n\n",
           NAME_MAX_COLS);
    opts_help_print(stdout, &t, 1);
    return EXIT_OK;
  }
  Err err = {0};
  if (opts_parse(&t, 1, argc, argv, 1, NULL, NULL, &err)) return cli_fail(&err);
  StrBuf q;
  sb_init(&q);
  if (build_query(&r, r.json, &q, &err)) {
    sb_free(&q);
    return cli_fail(&err);
  }
  Db *db = NULL;
  if (cli_db_open_existing(r.db, &db, &err)) {
    sb_free(&q);
    return cli_fail(&err);
  }
  int code = EXIT_OK;
  DbStrs s = {0};
  StrBuf js;
  sb_init(&js);
  int rc = r.json ? db_query_json_cols(db, q.p, NULL, 0, &js, &err)
                  : db_query_strs(db, q.p, NULL, 0, &s, &err);
  if (rc && r.where[0] && rc != CS_ENOMEM) {
    /* the one part of the query the user wrote: a failure there is bad input */
    Err why = err;
    err_set(&err, CS_EINVAL, "--where '%s': %s", r.where, why.msg);
  }
  if (rc) code = cli_fail(&err);
  else if (r.json) printf("%s\n", js.p);
  else if (s.nrow == 0) printf(r.status[0] || r.study[0] || r.group[0] || r.where[0]
                                   ? "(no runs match)\n" : "(no runs yet)\n");
  else print_table(&s);
  sb_free(&js);
  sb_free(&q);
  db_strs_free(&s);
  db_close(db);
  return code;
}
