/*
 * section_stein.c: the report section of a Stein-critic run (curvscope study stein,
 * docs/STEIN.md): λ and the critic error ‖λf − (s_q − s_p)‖²/‖s_q − s_p‖² per epoch
 * (log scales), and the validation objective beside them; the run's power or level is
 * in its run-level results. All SQL is fixed text with int64 binds.
 */
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

int section_stein_emit(Report *r, ReportRun *run, Err *err) {
  rep_section_open(r, run, "stein", "Stein critic");
  sb_append(&r->runs, "<p class=\"note\">Means over the study's repeats, per epoch. Power "
            "(or level, p = q) and KSD beside it: the run-level results.</p>\n");
  int rc = epoch_chart(r, run, "lambda", EPOCH_SQL("stein_lambda"), "λ per epoch", "λ", 1, err);
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
