/*
 * section_kinks.c: the report section of a `curvscope study relu-kinks` run
 * (docs/KINKS.md): the kink-crossing probability against the width with its 95% Wilson
 * interval (the interval's ends as dashed lines), how often the final fit is linear on each
 * side of 0, a table of the per-width numbers, and every Monte-Carlo run's largest
 * |b_i/a_i| against its width (the crossing line at 1). All SQL is fixed text with int64
 * binds.
 */
#include <math.h>
#include <stdio.h>

#include "report_internal.h"

int section_kinks_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM series WHERE run_id=?1 AND name='kinks_cross_prob' LIMIT 1",
                    run->id, err);
}

#define KINKS_SQL(name) \
  "SELECT w.value, s.value FROM series w JOIN series s ON s.run_id=w.run_id AND s.step=-1 AND " \
  "s.idx=w.idx AND s.name='" name "' WHERE w.run_id=?1 AND w.name='kinks_width' AND w.step=-1 " \
  "ORDER BY w.idx"

static int prob_chart(Report *r, const ReportRun *run, Err *err) {
  static const char *const sql[4] = {KINKS_SQL("kinks_cross_prob"), KINKS_SQL("kinks_linear_frac"),
                                     KINKS_SQL("kinks_cross_lo"), KINKS_SQL("kinks_cross_hi")};
  static const char *const tag[4] = {"p", "lin", "lo", "hi"};
  static const char *const label[4] = {"P(a kink crosses a data point)", "fit linear on each side",
                                       "95% Wilson interval", "95% Wilson interval (upper)"};
  char key[4][96];
  size_t n[4];
  for (int i = 0; i < 4; i++) {
    snprintf(key[i], sizeof key[i], "r%lld.kinks.%s", (long long)run->id, tag[i]);
    if (rep_series(r, key[i], sql[i], &run->id, 1, REP_CURVE, &n[i], err)) return -1;
  }
  if (!n[0]) return 0;
  int first = 1;
  rep_chart_begin(r, &r->runs, "kink-crossing probability against the width n");
  sb_append(&r->charts, ",\"x\":\"width n\",\"y\":\"fraction of runs\",\"logx\":1,\"lines\":[");
  for (int i = 0; i < 2; i++)
    if (n[i]) rep_line_ref(&r->charts, &first, key[i], label[i]);
  sb_append(&r->charts, "],\"dashed\":[");
  first = 1;
  for (int i = 2; i < 4; i++)
    if (n[i]) rep_line_ref(&r->charts, &first, key[i], label[i]);
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  return 0;
}

static int width_table(Report *r, const ReportRun *run, Err *err) {
  DbRows t;
  if (db_query_rows(r->db, "SELECT w.value, (SELECT value FROM series WHERE run_id=?1 AND step=-1 "
                    "AND idx=w.idx AND name='kinks_cross_prob'), (SELECT value FROM series WHERE "
                    "run_id=?1 AND step=-1 AND idx=w.idx AND name='kinks_cross_lo'), (SELECT value "
                    "FROM series WHERE run_id=?1 AND step=-1 AND idx=w.idx AND "
                    "name='kinks_cross_hi'), (SELECT value FROM series WHERE run_id=?1 AND step=-1 "
                    "AND idx=w.idx AND name='kinks_linear_frac'), (SELECT value FROM series WHERE "
                    "run_id=?1 AND step=-1 AND idx=w.idx AND name='kinks_unfinished_frac'), "
                    "(SELECT value FROM series WHERE run_id=?1 AND step=-1 AND idx=w.idx AND "
                    "name='kinks_ls_gap_median') FROM series w WHERE w.run_id=?1 AND "
                    "w.name='kinks_width' AND w.step=-1 ORDER BY w.idx", &run->id, 1, &t, err))
    return -1;
  sb_append(&r->runs, "<table class=\"kv\"><thead><tr><th>width</th><th>P(cross) [95% Wilson]"
            "</th><th>linear</th><th>unfinished</th><th>median LS gap</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < t.nrow; i++) {
    const double *v = t.v + i * 7;
    sb_printf(&r->runs, "<tr><td>%.0f</td><td>%.3f [%.3f, %.3f]</td>", v[0], v[1], v[2], v[3]);
    for (int c = 4; c < 7; c++) {
      sb_append(&r->runs, "<td>");
      rep_cell_num(&r->runs, v[c]);
      sb_append(&r->runs, "</td>");
    }
    sb_append(&r->runs, "</tr>\n");
  }
  sb_append(&r->runs, "</tbody></table>\n");
  db_rows_free(&t);
  return 0;
}

static int ratio_chart(Report *r, const ReportRun *run, Err *err) {
  char key[96], kl[96];
  size_t n;
  snprintf(key, sizeof key, "r%lld.kinks.ratio", (long long)run->id);
  if (rep_series(r, key, "SELECT step, value FROM series WHERE run_id=?1 AND "
                 "name='kinks_max_ratio' AND step>0 AND value>0 ORDER BY step", &run->id, 1,
                 REP_SCATTER, &n, err))
    return -1;
  if (!n) return 0;
  DbRows lim;
  if (db_query_rows(r->db, "SELECT MIN(value), MAX(value) FROM series WHERE run_id=?1 AND "
                    "name='kinks_width' AND step=-1", &run->id, 1, &lim, err))
    return -1;
  double x[2] = {lim.nrow ? lim.v[0] : 1, lim.nrow ? lim.v[1] : 1}, y[2] = {1, 1};
  db_rows_free(&lim);
  snprintf(kl, sizeof kl, "r%lld.kinks.one", (long long)run->id);
  rep_dataset(r, kl, x, y, NULL, 2, REP_CURVE);
  int first = 1;
  rep_chart_begin(r, &r->runs, "largest |b_i/a_i| reached, one point per run");
  sb_append(&r->charts, ",\"x\":\"width n\",\"y\":\"max |b/a|\",\"log\":1,\"logx\":1,\"lines\":[");
  rep_line_ref(&r->charts, &first, key, "run");
  sb_append(&r->charts, "],\"dashed\":[");
  first = 1;
  rep_line_ref(&r->charts, &first, kl, "min |x_j| = 1 (crossing)");
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  return 0;
}

int section_kinks_emit(Report *r, ReportRun *run, Err *err) {
  rep_section_open(r, run, "kinks", "ReLU kinks");
  sb_append(&r->runs, "<p class=\"note\">Two-layer ReLU nets on x = ±1, ±2, ±3 (Holzmüller &amp; "
            "Steinwart): a run crosses when a kink −b_i/a_i reaches a data point. Fractions over "
            "the Monte-Carlo runs of each width; the LS gap is max_j |f(x_j) − ℓ(x_j)| against "
            "the per-side weighted least-squares lines, over the runs that did not cross.</p>\n");
  int rc = prob_chart(r, run, err);
  if (!rc) rc = width_table(r, run, err);
  if (!rc) rc = ratio_chart(r, run, err);
  rep_section_close(r);
  return rc;
}
