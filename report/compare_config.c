/*
 * compare_config.c: the comparison view's table of what differs between the runs of a
 * group and how they ended.
 *
 * Rows: each configuration key whose value is not the same in every run (a key a run
 * lacks counts as different), then the final train loss, test loss and test accuracy
 * (run_summary). Columns: the runs. A configuration cell whose value differs from the
 * first run's is marked class "diff" (highlighted). Values are written as a reader reads them
 * (rep_json_value_html): the comparison is on that text, so 0.1 and 0.10000000000000001
 * are the same setting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

typedef struct RunConfig {
  DbStrs kv;       /* key, value, type */
  char **shown;    /* [kv.nrow] each value as the reader sees it */
} RunConfig;

static void run_config_free(RunConfig *c) {
  for (size_t i = 0; c->shown && i < c->kv.nrow; i++) free(c->shown[i]);
  free(c->shown);
  db_strs_free(&c->kv);
}

int rep_config_members(Report *r, int64_t id, DbStrs *kv, Err *err) {
  return db_query_strs(r->db, "SELECT j.key, j.value, j.type FROM runs, json_each(runs.config) j "
                       "WHERE runs.id=?1 AND json_type(runs.config)='object' ORDER BY j.key",
                       &id, 1, kv, err) ? -1 : 0;
}

static int run_config_load(Report *r, int64_t id, RunConfig *c, Err *err) {
  memset(c, 0, sizeof *c);
  if (rep_config_members(r, id, &c->kv, err)) return -1;
  c->shown = calloc(c->kv.nrow + 1, sizeof *c->shown);
  if (!c->shown) return err_set(err, CS_ENOMEM, "out of memory"), -1;
  for (size_t i = 0; i < c->kv.nrow; i++) {
    StrBuf b;
    sb_init(&b);
    rep_json_value_html(&b, c->kv.v[3 * i + 1], c->kv.v[3 * i + 2]);
    c->shown[i] = b.p ? sb_take(&b) : strdup("");
    if (!c->shown[i]) return err_set(err, CS_ENOMEM, "out of memory"), -1;
  }
  return 0;
}

/* The shown value of `key` in c, NULL when the run has no such key. */
static const char *config_value(const RunConfig *c, const char *key) {
  for (size_t i = 0; i < c->kv.nrow; i++)
    if (c->kv.v[3 * i] && !strcmp(c->kv.v[3 * i], key)) return c->shown[i];
  return NULL;
}

static int same(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

/* One row: its heading and a value per run; in a configuration row each value that
 * differs from the first run's is marked (results differ anyway: not marked). */
static void diff_row(StrBuf *b, const char *cls, const char *head, const char *const *v,
                     size_t m) {
  int mark = !strcmp(cls, "config");
  sb_printf(b, "<tr class=\"%s\"><th>", cls);
  report_html_escape(b, head);
  sb_append(b, "</th>");
  for (size_t j = 0; j < m; j++) {
    sb_append(b, !mark ? "<td class=\"num\">" : same(v[j], v[0]) ? "<td>" : "<td class=\"diff\">");
    sb_append(b, v[j] ? v[j] : "—"); /* already escaped */
    sb_append(b, "</td>");
  }
  sb_append(b, "</tr>\n");
}

int report_compare_table(Report *r, StrBuf *b, ReportRun *const *runs, size_t m, Err *err) {
  RunConfig *cfg = calloc(m, sizeof *cfg);
  const char **v = calloc(m, sizeof *v);
  char (*res)[3][48] = calloc(m, sizeof *res);
  int rc = cfg && v && res ? 0 : (err_set(err, CS_ENOMEM, "out of memory"), -1);
  for (size_t j = 0; j < m && !rc; j++) rc = run_config_load(r, runs[j]->id, cfg + j, err);
  for (size_t j = 0; j < m && !rc; j++) {
    DbRows s;
    if ((rc = db_query_rows(r->db, "SELECT final_loss, final_test_loss, final_test_accuracy "
                            "FROM run_summary WHERE id=?1", &runs[j]->id, 1, &s, err)))
      break;
    for (int k = 0; k < 3; k++) {
      StrBuf t;
      sb_init(&t);
      if (s.nrow && isfinite(s.v[k])) rep_num(&t, s.v[k]);
      snprintf(res[j][k], sizeof res[j][k], "%s", t.p ? t.p : "");
      sb_free(&t);
    }
    db_rows_free(&s);
  }
  if (!rc) {
    sb_append(b, "<div class=\"scroll\"><table class=\"data cmp\"><thead><tr><th></th>");
    for (size_t j = 0; j < m; j++) {
      sb_printf(b, "<th><a href=\"#run-%lld\">", (long long)runs[j]->id);
      if (runs[j]->name && *runs[j]->name)
        report_html_escape(b, runs[j]->name);
      else
        sb_printf(b, "run %lld", (long long)runs[j]->id);
      sb_append(b, "</a></th>");
    }
    sb_append(b, "</tr></thead><tbody>\n");
    size_t ndiff = 0;
    /* every key of every run, once, in the order the runs list them */
    for (size_t j = 0; j < m; j++)
      for (size_t i = 0; i < cfg[j].kv.nrow; i++) {
        const char *key = cfg[j].kv.v[3 * i];
        size_t seen = 0;
        for (size_t p = 0; p < j && !seen; p++) seen = config_value(cfg + p, key) != NULL;
        if (seen || !key) continue;
        int differs = 0;
        for (size_t q = 0; q < m; q++) {
          v[q] = config_value(cfg + q, key);
          differs |= !same(v[q], v[0]);
        }
        if (differs) diff_row(b, "config", key, v, m), ndiff++;
      }
    if (!ndiff)
      sb_printf(b, "<tr class=\"config\"><th>configuration</th><td colspan=\"%zu\">the same "
                "in every run</td></tr>\n", m);
    static const char *const head[3] = {"final train loss", "final test loss",
                                        "final test accuracy"};
    for (int k = 0; k < 3; k++) {
      int any = 0;
      for (size_t j = 0; j < m; j++) {
        v[j] = res[j][k][0] ? res[j][k] : NULL;
        any |= v[j] != NULL;
      }
      if (any) diff_row(b, "result", head[k], v, m);
    }
    sb_append(b, "</tbody></table></div>\n");
  }
  for (size_t j = 0; cfg && j < m; j++) run_config_free(cfg + j);
  free(cfg), free(v), free(res);
  return rc;
}
