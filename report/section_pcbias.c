/*
 * section_pcbias.c: the report section of a PC-bias run (curvscope study pc-bias,
 * docs/PCBIAS.md): e_j(t) by component on a log scale, the rates r_j against the
 * eigenvalues d_j (log-log) with the least-squares fit, the theory's −log|1 − ηLd_j|
 * and the whole-run fit beside them, and, on the run that holds the ensembles'
 * accessibility, linear against non-linear per example, raw and whitened side by side.
 * All SQL is fixed text with int64 binds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define PC_LINES 10 /* components drawn in the e_j(t) chart (colours stay distinct) */

int section_pcbias_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM series WHERE run_id=?1 AND name IN ('pc_error', "
                    "'pc_access_linear') LIMIT 1", run->id, err);
}

static int error_chart(Report *r, const ReportRun *run, Err *err) {
  DbRows idx;
  if (db_query_rows(r->db, "SELECT DISTINCT idx FROM series WHERE run_id=?1 AND "
                    "name='pc_error' ORDER BY idx", &run->id, 1, &idx, err))
    return -1;
  size_t k = idx.nrow, shown = k < PC_LINES ? k : PC_LINES;
  db_rows_free(&idx);
  if (!k) return 0;
  StrBuf lines;
  sb_init(&lines);
  int first = 1, rc = 0;
  for (size_t s = 0; s < shown && !rc; s++) {
    int64_t b[2] = {run->id, (int64_t)(shown == 1 ? 0 : s * (k - 1) / (shown - 1))};
    char key[96], label[24];
    size_t n;
    snprintf(key, sizeof key, "r%lld.pc.e.%lld", (long long)run->id, (long long)b[1]);
    rc = rep_series(r, key, "SELECT step, value FROM series WHERE run_id=?1 AND name='pc_error' "
                    "AND idx=?2 AND step>=0 ORDER BY step", b, 2, REP_X_INT, &n, err);
    snprintf(label, sizeof label, "PC %lld", (long long)b[1] + 1);
    if (!rc && n) rep_line_ref(&lines, &first, key, label);
  }
  if (!rc && !first) {
    rep_chart_begin(r, &r->runs, "e_j(t) = ‖(W_t − W*)u_j‖ / ‖(W_0 − W*)u_j‖");
    sb_append(&r->charts, ",\"y\":\"e_j\",\"log\":1,\"lines\":[");
    sb_append(&r->charts, lines.p);
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  sb_free(&lines);
  return rc ? -1 : 0;
}

/* Dataset `key` of (d_j, series `name` at index j), read by a fixed query per name, drawn
 * as flags say (REP_SCATTER or REP_CURVE). */
static int rate_ds(Report *r, const ReportRun *run, const char *sql, const char *key,
                   int flags, DbRows *rows, Err *err) {
  if (db_query_rows(r->db, sql, &run->id, 1, rows, err)) return -1;
  size_t n = rows->nrow;
  double *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y);
  if (!x || !y) {
    free(x), free(y);
    return err_set(err, CS_ENOMEM, "out of memory"), -1;
  }
  for (size_t i = 0; i < n; i++) x[i] = rows->v[2 * i], y[i] = rows->v[2 * i + 1];
  if (n) rep_dataset(r, key, x, y, NULL, n, flags);
  free(x), free(y);
  return 0;
}

#define RATE_SQL(name) \
  "SELECT e.value, s.value FROM series e JOIN series s ON s.run_id=e.run_id AND s.step=-1 " \
  "AND s.idx=e.idx AND s.name='" name "' WHERE e.run_id=?1 AND e.name='pc_eigenvalue' " \
  "AND e.step=-1 ORDER BY e.value"

static int rate_chart(Report *r, const ReportRun *run, Err *err) {
  DbRows meas, th, whole;
  char km[96], kt[96], kw[96], kf[96];
  snprintf(km, sizeof km, "r%lld.pc.rate", (long long)run->id);
  snprintf(kt, sizeof kt, "r%lld.pc.theory", (long long)run->id);
  snprintf(kw, sizeof kw, "r%lld.pc.whole", (long long)run->id);
  snprintf(kf, sizeof kf, "r%lld.pc.fit", (long long)run->id);
  memset(&th, 0, sizeof th), memset(&whole, 0, sizeof whole);
  if (rate_ds(r, run, RATE_SQL("pc_rate"), km, REP_SCATTER, &meas, err)) return -1;
  int rc = rate_ds(r, run, RATE_SQL("pc_theory_rate"), kt, REP_CURVE, &th, err);
  if (!rc) rc = rate_ds(r, run, RATE_SQL("pc_rate_whole"), kw, REP_SCATTER, &whole, err);
  /* the fit: log r = a + b log d, b the stored pc_rate_slope, a through the means */
  DbRows sl;
  memset(&sl, 0, sizeof sl);
  if (!rc) rc = db_query_rows(r->db, "SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND "
                              "name='pc_rate_slope'", &run->id, 1, &sl, err);
  int have_fit = 0;
  if (!rc && sl.nrow == 1 && isfinite(sl.v[0]) && meas.nrow >= 2) {
    double b = sl.v[0], mx = 0, my = 0, lo = INFINITY, hi = 0;
    size_t n = 0;
    for (size_t i = 0; i < meas.nrow; i++) {
      double d = meas.v[2 * i], v = meas.v[2 * i + 1];
      if (!(d > 0) || !(v > 0)) continue;
      mx += log(d), my += log(v), n++;
      lo = fmin(lo, d), hi = fmax(hi, d);
    }
    if (n >= 2) {
      double a = my / n - b * mx / n, fx[2] = {lo, hi}, fy[2] = {exp(a + b * log(lo)),
                                                                exp(a + b * log(hi))};
      rep_dataset(r, kf, fx, fy, NULL, 2, REP_CURVE);
      have_fit = 1;
    }
  }
  if (!rc && meas.nrow) {
    int first = 1;
    rep_chart_begin(r, &r->runs, "early rate r_j against eigenvalue d_j");
    sb_append(&r->charts, ",\"x\":\"eigenvalue d_j of XᵀX/n\",\"y\":\"rate per step\","
              "\"log\":1,\"logx\":1,\"lines\":[");
    rep_line_ref(&r->charts, &first, km, "r_j = −log e_j(t₁)/t₁");
    if (whole.nrow) rep_line_ref(&r->charts, &first, kw, "whole-run fit");
    if (have_fit) rep_line_ref(&r->charts, &first, kf, "fit r ∝ d^slope");
    sb_append(&r->charts, "],\"dashed\":[");
    first = 1;
    if (th.nrow) rep_line_ref(&r->charts, &first, kt, "theory −log|1 − ηLd_j|");
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  db_rows_free(&meas), db_rows_free(&th), db_rows_free(&whole), db_rows_free(&sl);
  return rc ? -1 : 0;
}

#define ACCESS_SQL(a, b) \
  "SELECT x.value, y.value FROM series x JOIN series y ON y.run_id=x.run_id AND y.step=-1 " \
  "AND y.idx=x.idx AND y.name='" b "' WHERE x.run_id=?1 AND x.name='" a "' AND x.step=-1 " \
  "AND x.idx % ?2 = 0 ORDER BY x.idx"

/* Linear against non-linear accessibility, every stride-th example (at most max_points,
 * all drawn). 1 if drawn. */
static int access_chart(Report *r, const ReportRun *run, const char *sql, const char *tag,
                        const char *title, int64_t stride, Err *err) {
  int64_t b[2] = {run->id, stride};
  DbRows rows;
  if (db_query_rows(r->db, sql, b, 2, &rows, err)) return -1;
  size_t n = rows.nrow;
  if (n) {
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) {
      free(x), free(y), db_rows_free(&rows);
      return err_set(err, CS_ENOMEM, "out of memory"), -1;
    }
    for (size_t i = 0; i < n; i++) x[i] = rows.v[2 * i], y[i] = rows.v[2 * i + 1];
    char key[96];
    snprintf(key, sizeof key, "r%lld.pc.acc.%s", (long long)run->id, tag);
    rep_dataset(r, key, x, y, NULL, n, REP_SCATTER);
    free(x), free(y);
    int first = 1;
    rep_chart_begin(r, &r->runs, title);
    sb_append(&r->charts, ",\"x\":\"accessibility, linear nets\",\"y\":\"accessibility, "
              "non-linear nets\",\"lines\":[");
    rep_line_ref(&r->charts, &first, key, "example");
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  db_rows_free(&rows);
  return n > 0;
}

static void metric_note(Report *r, const ReportRun *run, const char *label, const char *name) {
  char q[160];
  snprintf(q, sizeof q, "SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND name='%s'",
           name);
  DbRows v;
  Err e = {0};
  if (db_query_rows(r->db, q, &run->id, 1, &v, &e) || v.nrow != 1 || !isfinite(v.v[0])) {
    db_rows_free(&v);
    return;
  }
  sb_printf(&r->runs, " %s %.3g.", label, v.v[0]);
  db_rows_free(&v);
}

int section_pcbias_emit(Report *r, ReportRun *run, Err *err) {
  rep_section_open(r, run, "pcbias", "Principal-component bias");
  sb_append(&r->runs, "<div class=\"row\">\n");
  if (error_chart(r, run, err) || rate_chart(r, run, err)) return -1;
  sb_append(&r->runs, "</div>\n<p class=\"note\">");
  metric_note(r, run, "Spearman(r_j, d_j)", "pc_rate_spearman");
  metric_note(r, run, "Spearman(τ_j, j)", "pc_tau_spearman");
  metric_note(r, run, "log-log slope", "pc_rate_slope");
  metric_note(r, run, "max/min r_j/d_j", "pc_rate_ratio_spread");
  metric_note(r, run, "depth-1 theory error", "pc_theory_max_err");
  sb_append(&r->runs, " Rates are measured at t₁ (metric pc_t1; docs/PCBIAS.md).</p>\n");
  int64_t n;
  int found;
  if (db_query_int(r->db, "SELECT COUNT(*) FROM series WHERE run_id=?1 AND step=-1 AND "
                   "name='pc_access_linear'", &run->id, 1, &n, &found, err))
    return -1;
  if (found && n > 0) {
    int64_t stride = (n + (int64_t)r->max_points - 1) / (int64_t)r->max_points;
    sb_append(&r->runs, "<div class=\"row\">\n");
    if (access_chart(r, run, ACCESS_SQL("pc_access_linear", "pc_access_nonlinear"), "raw",
                     "accessibility per example: raw data", stride, err) < 0 ||
        access_chart(r, run, ACCESS_SQL("pc_access_linear_whitened",
                                        "pc_access_nonlinear_whitened"),
                     "white", "accessibility per example: whitened data", stride, err) < 0)
      return -1;
    sb_append(&r->runs, "</div>\n<p class=\"note\">");
    metric_note(r, run, "Agreement (Spearman) linear vs non-linear:", "pc_access_agreement");
    metric_note(r, run, "Whitened:", "pc_access_agreement_whitened");
    sb_append(&r->runs, " Accessibility: the fraction of measurements, over the ensemble's "
              "seeds and depths, at which an example was classified correctly.</p>\n");
  }
  rep_section_close(r);
  return 0;
}
