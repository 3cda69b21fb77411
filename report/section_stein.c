/*
 * section_stein.c: the report section of a Stein-critic run (curvscope study stein,
 * docs/STEIN.md): λ and the critic error ‖λf − (s_q − s_p)‖²/‖s_q − s_p‖² per epoch
 * (log scales), and the validation objective beside them; the run's power or level is
 * in its run-level results. All SQL is fixed text with int64 binds.
 */
#include <math.h>
#include <stdio.h>

#include "report_internal.h"

int section_stein_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM series WHERE run_id=?1 AND name='stein_lambda' LIMIT 1",
                    run->id, err);
}

/* One chart of the per-epoch series `name` (fixed text), when it has values. */
static int epoch_chart(Report *r, const ReportRun *run, const char *name, const char *sql,
                       const char *title, const char *ylabel, int log, Err *err) {
  char key[96];
  size_t n;
  snprintf(key, sizeof key, "r%lld.stein.%s", (long long)run->id, name);
  if (rep_series(r, key, sql, &run->id, 1, REP_X_INT, &n, err)) return -1;
  if (!n) return 0;
  StrBuf lines;
  sb_init(&lines);
  int first = 1;
  rep_line_ref(&lines, &first, key, ylabel);
  rep_chart_begin(r, &r->runs, title);
  sb_printf(&r->charts, ",\"x\":\"epoch\",\"y\":\"%s\"%s,\"lines\":[", ylabel, log ? ",\"log\":1" : "");
  sb_append(&r->charts, lines.p);
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  sb_free(&lines);
  return 0;
}

#define EPOCH_SQL(name) \
  "SELECT idx, value FROM series WHERE run_id=?1 AND name='" name "' AND step=-1 " \
  "AND value IS NOT NULL ORDER BY idx"

/* The rejection rates with their 95% Wilson intervals over the repeats. */
static int rates_table(Report *r, const ReportRun *run, Err *err) {
  static const char *const names[] = {"stein_power", "stein_power_t", "ksd_power", "stein_level",
                                      "stein_level_t", "ksd_level"};
  DbRows rows;
  if (db_query_rows(r->db, "SELECT (SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND "
                    "name='stein_repeats'), (SELECT value FROM metrics WHERE run_id=?1 AND "
                    "step=-1 AND name='stein_power'), (SELECT value FROM metrics WHERE "
                    "run_id=?1 AND step=-1 AND name='stein_power_t'), (SELECT value FROM metrics "
                    "WHERE run_id=?1 AND step=-1 AND name='ksd_power'), (SELECT value FROM "
                    "metrics WHERE run_id=?1 AND step=-1 AND name='stein_level'), (SELECT value "
                    "FROM metrics WHERE run_id=?1 AND step=-1 AND name='stein_level_t'), "
                    "(SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND name='ksd_level')",
                    &run->id, 1, &rows, err))
    return -1;
  double n = rows.nrow ? rows.v[0] : NAN;
  if (rows.nrow && n > 0) {
    sb_append(&r->runs, "<table class=\"kv\"><tbody>\n");
    for (int k = 0; k < 6; k++) {
      double p = rows.v[1 + k];
      if (isnan(p)) continue;
      /* Wilson's interval, z = 1.96 */
      double z = 1.959964, z2 = z * z, c = (p + z2 / (2 * n)) / (1 + z2 / n),
             h = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
      sb_printf(&r->runs, "<tr><th>%s</th><td>%.3f [%.3f, %.3f] over %.0f repeats</td></tr>\n",
                names[k], p, fmax(0, c - h), fmin(1, c + h), n);
    }
    sb_append(&r->runs, "</tbody></table>\n");
  }
  db_rows_free(&rows);
  return 0;
}

int section_stein_emit(Report *r, ReportRun *run, Err *err) {
  rep_section_open(r, run, "stein", "Stein critic");
  sb_append(&r->runs, "<p class=\"note\">Rejection rates with 95% Wilson intervals; per-epoch "
            "curves are means over the study's repeats.</p>\n");
  int rc = rates_table(r, run, err);
  if (!rc) rc = epoch_chart(r, run, "lambda", EPOCH_SQL("stein_lambda"), "λ per epoch", "λ", 1, err);
  if (!rc)
    rc = epoch_chart(r, run, "err", EPOCH_SQL("stein_critic_err"),
                     "critic error ‖λf − (s_q − s_p)‖² / ‖s_q − s_p‖² (validation)", "error", 1,
                     err);
  if (!rc)
    rc = epoch_chart(r, run, "obj", EPOCH_SQL("stein_val_obj"),
                     "validation objective E[s_q·f + ∇·f] − (λ/2)E‖f‖²", "J", 0, err);
  rep_section_close(r);
  return rc;
}
