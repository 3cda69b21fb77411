/* cmd_export.c: `curvscope export RUN...`: a run's recorded rows (steps, metrics,
 * eigenvalues, series) as CSV or JSON, for pandas or a spreadsheet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/spec.h"
#include "db/db_json.h"
#include "opts.h"

#define EXPORT_MAX_RUNS 4096

typedef struct ExportArgs {
  char db[512], format[8], table[16], output[512];
} ExportArgs;

static const CliOpt export_opts[] = {
    OPT_STR(ExportArgs, db, "FILE", "the database", NULL),
    OPT_STR(ExportArgs, format, "F", "csv (one table, a header row) or json", NULL),
    OPT_STR(ExportArgs, table, "T", "runs | steps | metrics | eigs | series, or (json) all: "
            "an object of the five", NULL),
    OPT_STR(ExportArgs, output, "FILE", "write there instead of standard output", "o"),
    OPT_END};

/* The tables and the order of their rows (each table's key). */
static const struct { const char *name, *order, *key; } tables[] = {
    {"runs", "id", "id"}, /* the runs themselves: uuid, config, provenance */
    {"steps", "run_id, step", "run_id"},
    {"metrics", "run_id, step, name", "run_id"},
    {"eigs", "run_id, step, operator, batch_size, draw, source, idx", "run_id"},
    {"series", "run_id, name, step, idx", "run_id"},
};
#define NTABLES (sizeof tables / sizeof *tables)

static void help(const OptTable *t) {
  printf("usage: curvscope export RUN... [--db runs.db] [--format csv|json] [--table T] [-o FILE]\n\n"
         "Writes the rows recorded of the runs (every column of the table, docs/SCHEMA.md),\n"
         "ordered by run and step: CSV with a header row (reals with 17 significant digits,\n"
         "empty fields for NULL), or JSON {\"cols\": [...], \"rows\": [[...], ...]} per table.\n"
         "  pandas: pd.read_csv(\"steps.csv\"), or pd.DataFrame(d[\"rows\"], columns=d[\"cols\"])\n\n");
  opts_help_print(stdout, t, 1);
}

/* SELECT * of table `name` for the runs ids[0..n), bound ?1..?n. */
static void table_query(StrBuf *q, size_t table, size_t n) {
  sb_printf(q, "SELECT * FROM %s WHERE %s IN (", tables[table].name, tables[table].key);
  for (size_t i = 0; i < n; i++) sb_printf(q, "%s?%zu", i ? "," : "", i + 1);
  sb_printf(q, ") ORDER BY %s", tables[table].order);
}

static int write_out(const ExportArgs *e, const StrBuf *out, Err *err) {
  FILE *f = e->output[0] ? fopen(e->output, "wb") : stdout;
  if (!f) return err_set(err, CS_EIO, "cannot write '%s'", e->output);
  size_t len = out->p ? strlen(out->p) : 0;
  int bad = fwrite(out->p ? out->p : "", 1, len, f) != len;
  bad |= e->output[0] ? fclose(f) != 0 : fflush(f) != 0;
  return bad ? err_set(err, CS_EIO, "writing %s failed", e->output[0] ? e->output : "the output")
             : CS_OK;
}

int cmd_export(int argc, char **argv) {
  ExportArgs e = {"runs.db", "csv", "steps", ""};
  OptTable t = {export_opts, &e, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    help(&t);
    return EXIT_OK;
  }
  Err err = {0};
  char **pos = malloc((size_t)argc * sizeof *pos);
  int64_t *ids = malloc((size_t)argc * sizeof *ids);
  int npos = 0, rc = (!pos || !ids) ? err_set(&err, CS_ENOMEM, "out of memory") : CS_OK;
  if (!rc) rc = opts_parse(&t, 1, argc, argv, 1, pos, &npos, &err);
  for (int i = 0; i < npos && !rc; i++) {
    long id;
    if (parse_long(pos[i], &id) || id <= 0)
      rc = err_set(&err, CS_EINVAL, "export: '%s' is not a run id (a positive integer)", pos[i]);
    ids[i] = id;
  }
  size_t table = NTABLES; /* NTABLES: all */
  for (size_t k = 0; k < NTABLES; k++)
    if (!strcmp(e.table, tables[k].name)) table = k;
  if (!rc && npos == 0)
    rc = err_set(&err, CS_EINVAL, "export: which runs? give their ids (curvscope runs lists them)");
  if (!rc && npos > EXPORT_MAX_RUNS)
    rc = err_set(&err, CS_EINVAL, "export: more than %d runs at once", EXPORT_MAX_RUNS);
  if (!rc && strcmp(e.format, "csv") && strcmp(e.format, "json"))
    rc = err_set(&err, CS_EINVAL, "--format '%s' (use csv or json)", e.format);
  if (!rc && table == NTABLES && strcmp(e.table, "all"))
    rc = err_set(&err, CS_EINVAL, "--table '%s' (steps, metrics, eigs, series or all)", e.table);
  if (!rc && table == NTABLES && !strcmp(e.format, "csv"))
    rc = err_set(&err, CS_EINVAL, "--table all needs --format json (a CSV holds one table)");
  free(pos);
  if (rc) {
    free(ids);
    return cli_fail(&err);
  }
  Db *db = NULL;
  StrBuf out;
  sb_init(&out);
  if ((rc = cli_db_open_existing(e.db, &db, &err))) goto done;
  for (int i = 0; i < npos && !rc; i++) { /* every run must be there */
    RunRow row = {0};
    rc = db_run_get(db, ids[i], &row, &err);
    run_row_free(&row);
  }
  int json = !strcmp(e.format, "json");
  if (json && table == NTABLES) sb_append(&out, "{");
  for (size_t k = 0; k < NTABLES && !rc; k++) {
    if (table != NTABLES && k != table) continue;
    StrBuf q;
    sb_init(&q);
    table_query(&q, k, (size_t)npos);
    if (json && table == NTABLES) sb_printf(&out, "%s\"%s\":", k ? "," : "", tables[k].name);
    rc = json ? db_query_json_cols(db, q.p, ids, npos, &out, &err)
              : db_query_csv(db, q.p, ids, npos, &out, &err);
    sb_free(&q);
  }
  if (json && table == NTABLES) sb_append(&out, "}");
  if (json) sb_append(&out, "\n");
  if (!rc && out.oom) rc = err_set(&err, CS_ENOMEM, "out of memory");
  if (!rc) rc = write_out(&e, &out, &err);
done:
  sb_free(&out);
  free(ids);
  db_close(db);
  return rc ? cli_fail(&err) : EXIT_OK;
}
