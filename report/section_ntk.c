/*
 * section_ntk.c: the report section of a run with the ntk probe (curvscope study ntk,
 * docs/NTK.md): the kernel's spectrum at the first and last measurement with the
 * per-layer spectra at init, the residual's projections |⟨v⁰_i, f − y⟩| over time (one
 * line per eigenvector, labelled by its eigenvalue), measured against predicted decay
 * rates (log-log, with the line measured = predicted), each eigenvector's dominant
 * frequency against its index, and the kernel's drift. All SQL is fixed text with int64
 * binds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define NTK_LINES 10 /* eigenvectors drawn in the projections chart */

int section_ntk_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM series WHERE run_id=?1 AND name='ntk_eig' LIMIT 1", run->id,
                    err);
}

/* First and last measured steps of ntk_eig into se[2]; 0 when there is none. */
static int step_range(Report *r, const ReportRun *run, int64_t se[2], Err *err) {
  DbRows s;
  if (db_query_rows(r->db, "SELECT MIN(step), MAX(step) FROM series WHERE run_id=?1 AND "
                    "name='ntk_eig' AND step>=0", &run->id, 1, &s, err))
    return -1;
  int ok = s.nrow == 1 && !isnan(s.v[0]);
  if (ok) se[0] = (int64_t)s.v[0], se[1] = (int64_t)s.v[1];
  db_rows_free(&s);
  return ok;
}

static int spectrum_chart(Report *r, const ReportRun *run, const int64_t se[2], Err *err) {
  StrBuf lines;
  sb_init(&lines);
  int first = 1, rc = 0;
  for (int w = 0; w < 2 && !rc; w++) {
    if (w == 1 && se[1] == se[0]) break;
    int64_t b[2] = {run->id, se[w]};
    char key[96], label[48];
    size_t n;
    snprintf(key, sizeof key, "r%lld.ntk.eig.%lld", (long long)run->id, (long long)se[w]);
    rc = rep_series(r, key, "SELECT idx + 1, value FROM series WHERE run_id=?1 AND "
                    "name='ntk_eig' AND step=?2 AND value>0 ORDER BY idx", b, 2, REP_X_INT, &n,
                    err);
    snprintf(label, sizeof label, "K at step %lld", (long long)se[w]);
    if (!rc && n) rep_line_ref(&lines, &first, key, label);
  }
  for (int64_t l = 0; l < 16 && !rc; l++) { /* per-layer kernels at init */
    int64_t b[3] = {run->id, se[0], l};
    char key[96], label[48];
    size_t n;
    snprintf(key, sizeof key, "r%lld.ntk.leig.%lld", (long long)run->id, (long long)l);
    rc = rep_series(r, key, "SELECT idx + 1, value FROM series WHERE run_id=?1 AND step=?2 AND "
                    "name='ntk_eig_layer' || ?3 AND value>0 ORDER BY idx", b, 3, REP_X_INT, &n,
                    err);
    if (!rc && !n) break;
    snprintf(label, sizeof label, "K_%lld (layer %lld) at init", (long long)l, (long long)l);
    if (!rc) rep_line_ref(&lines, &first, key, label);
  }
  if (!rc && !first) {
    rep_chart_begin(r, &r->runs, "NTK spectrum: eigenvalue λ_i against i");
    sb_append(&r->charts, ",\"x\":\"i\",\"y\":\"λ_i\",\"log\":1,\"lines\":[");
    sb_append(&r->charts, lines.p);
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  sb_free(&lines);
  return rc ? -1 : 0;
}

static int projection_chart(Report *r, const ReportRun *run, const int64_t se[2], Err *err) {
  DbRows lam;
  int64_t b0[2] = {run->id, se[0]};
  if (db_query_rows(r->db, "SELECT idx, value FROM series WHERE run_id=?1 AND name='ntk_eig' "
                    "AND step=?2 ORDER BY idx", b0, 2, &lam, err))
    return -1;
  size_t k = lam.nrow, shown = k < NTK_LINES ? k : NTK_LINES;
  StrBuf lines;
  sb_init(&lines);
  int first = 1, rc = 0;
  for (size_t s = 0; s < shown && !rc; s++) {
    int64_t b[2] = {run->id, (int64_t)lam.v[2 * s]};
    char key[96], label[64];
    size_t n;
    snprintf(key, sizeof key, "r%lld.ntk.proj.%lld", (long long)run->id, (long long)b[1]);
    rc = rep_series(r, key, "SELECT step, abs(value) FROM series WHERE run_id=?1 AND "
                    "name='ntk_proj' AND idx=?2 AND step>=0 AND value<>0 ORDER BY step", b, 2,
                    REP_X_INT, &n, err);
    snprintf(label, sizeof label, "i=%lld, λ⁰=%.3g", (long long)b[1] + 1, lam.v[2 * s + 1]);
    if (!rc && n) rep_line_ref(&lines, &first, key, label);
  }
  db_rows_free(&lam);
  if (!rc && !first) {
    rep_chart_begin(r, &r->runs, "residual projections |⟨v⁰_i, f − y⟩| (eigenvectors of K_0)");
    sb_append(&r->charts, ",\"y\":\"|projection|\",\"log\":1,\"lines\":[");
    sb_append(&r->charts, lines.p);
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  sb_free(&lines);
  return rc ? -1 : 0;
}

static int rate_chart(Report *r, const ReportRun *run, Err *err) {
  char km[96], kd[96];
  size_t n;
  snprintf(km, sizeof km, "r%lld.ntk.rate", (long long)run->id);
  if (rep_series(r, km, "SELECT p.value, m.value FROM series p JOIN series m ON m.run_id=p.run_id "
                 "AND m.step=-1 AND m.idx=p.idx AND m.name='ntk_rate' WHERE p.run_id=?1 AND "
                 "p.name='ntk_rate_pred' AND p.step=-1 AND p.value>0 AND m.value>0 ORDER BY "
                 "p.value", &run->id, 1, REP_SCATTER, &n, err))
    return -1;
  if (!n) return 0;
  DbRows lim;
  if (db_query_rows(r->db, "SELECT MIN(value), MAX(value) FROM series WHERE run_id=?1 AND "
                    "name='ntk_rate_pred' AND step=-1 AND value>0", &run->id, 1, &lim, err))
    return -1;
  int diag = lim.nrow == 1 && lim.v[0] > 0;
  if (diag) {
    double xy[2] = {lim.v[0], lim.v[1]};
    snprintf(kd, sizeof kd, "r%lld.ntk.rate.diag", (long long)run->id);
    rep_dataset(r, kd, xy, xy, NULL, 2, REP_CURVE);
  }
  db_rows_free(&lim);
  int first = 1;
  rep_chart_begin(r, &r->runs, "decay rate per step: measured against −log|1 − ηλ_i/n|");
  sb_append(&r->charts, ",\"x\":\"predicted rate\",\"y\":\"measured rate\",\"log\":1,"
            "\"logx\":1,\"lines\":[");
  rep_line_ref(&r->charts, &first, km, "eigenvector i");
  sb_append(&r->charts, "],\"dashed\":[");
  first = 1;
  if (diag) rep_line_ref(&r->charts, &first, kd, "measured = predicted");
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  return 0;
}

static int freq_chart(Report *r, const ReportRun *run, const int64_t se[2], Err *err) {
  int64_t b[2] = {run->id, se[0]};
  char key[96];
  size_t n;
  snprintf(key, sizeof key, "r%lld.ntk.freq", (long long)run->id);
  if (rep_series(r, key, "SELECT idx + 1, value FROM series WHERE run_id=?1 AND "
                 "name='ntk_eigvec_freq' AND step=?2 ORDER BY idx", b, 2, REP_X_INT | REP_SCATTER,
                 &n, err))
    return -1;
  if (!n) return 0;
  int first = 1;
  rep_chart_begin(r, &r->runs, "dominant frequency of eigenvector i of K_0 (grid data)");
  sb_append(&r->charts, ",\"x\":\"i (eigenvalues falling)\",\"y\":\"|k|\",\"lines\":[");
  rep_line_ref(&r->charts, &first, key, "dominant |k|");
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  return 0;
}

int section_ntk_emit(Report *r, ReportRun *run, Err *err) {
  int64_t se[2];
  int have = step_range(r, run, se, err);
  if (have < 0) return -1;
  rep_section_open(r, run, "ntk", "Neural tangent kernel");
  sb_append(&r->runs, "<p class=\"note\">K = J Jᵀ on the training inputs. Under the kernel "
            "view of full-batch GD on ½·mean‖f − y‖², the residual's projection on eigenvector "
            "i decays by −log|1 − ηλ_i/n| per step (docs/NTK.md).</p>\n");
  char kdrift[96];
  int rc = 0;
  if (have) {
    sb_append(&r->runs, "<div class=\"row\">\n");
    rc = spectrum_chart(r, run, se, err);
    if (!rc) rc = projection_chart(r, run, se, err);
    sb_append(&r->runs, "</div>\n<div class=\"row\">\n");
    if (!rc) rc = rate_chart(r, run, err);
    if (!rc) rc = freq_chart(r, run, se, err);
    int d = rc ? -1 : rep_metric_ds(r, run, "ntk_drift", kdrift, sizeof kdrift, err);
    if (d < 0) rc = -1;
    if (d > 0) {
      int first = 1;
      rep_chart_begin(r, &r->runs, "kernel drift ‖K_t − K_0‖_F / ‖K_0‖_F");
      sb_append(&r->charts, ",\"y\":\"relative change\",\"lines\":[");
      rep_line_ref(&r->charts, &first, kdrift, "drift");
      sb_append(&r->charts, "]");
      rep_chart_end(r);
    }
    sb_append(&r->runs, "</div>\n");
  }
  rep_section_close(r);
  return rc ? -1 : 0;
}
