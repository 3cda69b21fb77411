/*
 * report_sections.c: the per-run sections of the report, as a table.
 *
 * Each entry says when it applies (its data exist for the run) and emits its HTML,
 * charts and datasets. Sections never look at each other; a later study adds its
 * section by writing two functions and one line in report_sections[] below.
 * All SQL here is fixed text; the only parameters are int64 binds (run id, index).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define KEY(buf, run, fmt, ...) snprintf(buf, sizeof buf, "r%lld." fmt, (long long)(run)->id, __VA_ARGS__)

/* Writes the dataset of metric `name` (steps >= 0) as r<id>.m.<name>; 1 if written. */
static int metric_ds(Report *r, const ReportRun *run, const char *name, char *key, size_t keysz,
                     Err *err) {
  /* Names are fixed by the caller (never from the database), so they go in the SQL. */
  char q[256];
  snprintf(q, sizeof q,
           "SELECT step, value FROM metrics WHERE run_id=?1 AND name='%s' AND step>=0 "
           "ORDER BY step", name);
  snprintf(key, keysz, "r%lld.m.%s", (long long)run->id, name);
  size_t n;
  if (rep_series(r, key, q, &run->id, 1, 1, &n, err)) return -1;
  return n > 0;
}

static int has_metric(Report *r, const ReportRun *run, const char *name, Err *err) {
  char q[256];
  snprintf(q, sizeof q, "SELECT 1 FROM metrics WHERE run_id=?1 AND name='%s' AND step>=0 LIMIT 1",
           name);
  return rep_exists(r, q, run->id, err);
}

static void line_ref(StrBuf *b, int *first, const char *key, const char *label) {
  sb_append(b, *first ? "[" : ",[");
  *first = 0;
  sb_json_str(b, key);
  sb_append(b, ",");
  sb_json_str(b, label);
  sb_append(b, "]");
}

static void section_open(Report *r, const ReportRun *run, const char *name, const char *title) {
  sb_printf(&r->runs, "<section class=\"sub %s\" id=\"run-%lld-%s\"><h3>", name,
            (long long)run->id, name);
  report_html_escape(&r->runs, title);
  sb_append(&r->runs, "</h3>\n");
}

static void section_close(Report *r) { sb_append(&r->runs, "</section>\n"); }

/* ---- run-level results (metrics at step -1) --------------------------------- */

static int results_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM metrics WHERE run_id=?1 AND step=-1 LIMIT 1", run->id,
                    err);
}

static int results_emit(Report *r, ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db, "SELECT name, value FROM metrics WHERE run_id=?1 AND step=-1 "
                    "ORDER BY name", &run->id, 1, &s, err))
    return -1;
  section_open(r, run, "results", "Run-level results");
  sb_append(&r->runs, "<table class=\"kv\"><tbody>\n");
  for (size_t i = 0; i < s.nrow; i++) {
    sb_append(&r->runs, "<tr><th>");
    report_html_escape(&r->runs, s.v[2 * i]);
    sb_append(&r->runs, "</th><td>");
    rep_cell_num(&r->runs, s.v[2 * i + 1] ? strtod(s.v[2 * i + 1], NULL) : NAN);
    sb_append(&r->runs, "</td></tr>\n");
  }
  sb_append(&r->runs, "</tbody></table>\n");
  section_close(r);
  db_strs_free(&s);
  return 0;
}

/* ---- configuration ------------------------------------------------------------ */

static int config_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM runs WHERE id=?1 AND config IS NOT NULL", run->id, err);
}

static int config_emit(Report *r, ReportRun *run, Err *err) {
  char *cfg;
  if (db_query_text(r->db, "SELECT config FROM runs WHERE id=?1", &run->id, 1, &cfg, err))
    return -1;
  section_open(r, run, "config", "Configuration");
  sb_append(&r->runs, "<details><summary>configuration JSON</summary><pre class=\"config\">");
  rep_json_pretty_html(&r->runs, cfg);
  sb_append(&r->runs, "</pre></details>\n");
  section_close(r);
  free(cfg);
  return 0;
}

/* ---- training curves ---------------------------------------------------------- */

static int training_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM steps WHERE run_id=?1 LIMIT 1", run->id, err);
}

static int training_emit(Report *r, ReportRun *run, Err *err) {
  DbRows rows;
  if (db_query_rows(r->db, "SELECT step, loss, accuracy FROM steps WHERE run_id=?1 ORDER BY step",
                    &run->id, 1, &rows, err))
    return -1;
  size_t n = rows.nrow;
  double *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y);
  if (!x || !y) {
    free(x), free(y), db_rows_free(&rows);
    return err_set(err, CS_ENOMEM, "out of memory for run %lld steps", (long long)run->id), -1;
  }
  char kl[64], ka[64], ktl[64], kta[64];
  int have_acc = 0;
  for (size_t i = 0; i < n; i++) {
    x[i] = rows.v[3 * i];
    y[i] = rows.v[3 * i + 1];
    if (!isnan(rows.v[3 * i + 2])) have_acc = 1;
  }
  KEY(kl, run, "%s", "loss");
  rep_dataset(r, kl, x, y, n, 1);
  run->has_loss = 1;
  if (have_acc) {
    for (size_t i = 0; i < n; i++) y[i] = rows.v[3 * i + 2];
    KEY(ka, run, "%s", "accuracy");
    rep_dataset(r, ka, x, y, n, 1);
  }
  free(x), free(y), db_rows_free(&rows);
  int tl = metric_ds(r, run, "test_loss", ktl, sizeof ktl, err);
  int ta = tl < 0 ? -1 : metric_ds(r, run, "test_accuracy", kta, sizeof kta, err);
  if (tl < 0 || ta < 0) return -1;

  section_open(r, run, "training", "Loss and accuracy");
  sb_append(&r->runs, "<div class=\"row\">\n");
  int first = 1;
  rep_chart_begin(r, &r->runs, "loss");
  sb_append(&r->charts, ",\"y\":\"loss\",\"log\":1,\"lines\":[");
  line_ref(&r->charts, &first, kl, "train");
  if (tl) line_ref(&r->charts, &first, ktl, "test");
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  if (have_acc || ta) {
    first = 1;
    rep_chart_begin(r, &r->runs, "accuracy");
    sb_append(&r->charts, ",\"y\":\"accuracy\",\"lines\":[");
    if (have_acc) line_ref(&r->charts, &first, ka, "train");
    if (ta) line_ref(&r->charts, &first, kta, "test");
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  sb_append(&r->runs, "</div>\n");
  section_close(r);
  return 0;
}

/* ---- eigenvalues against a threshold (sharpness, preconditioned sharpness) ------ */

/* Emits a chart of the top eigenvalues of operator op (fixed text) with the metric
 * threshold as a dashed line and, when with_phases, the EoS phases shaded. */
static int eig_chart(Report *r, ReportRun *run, const char *op, const char *title,
                     const char *thr_metric, const char *thr_label, const char *extra_metric,
                     const char *extra_label, int with_phases, Err *err) {
  char q[320];
  DbRows idx;
  snprintf(q, sizeof q, "SELECT DISTINCT idx FROM eigs WHERE run_id=?1 AND operator='%s' "
           "AND idx>=0 ORDER BY idx LIMIT 6", op);
  if (db_query_rows(r->db, q, &run->id, 1, &idx, err)) return -1;
  snprintf(q, sizeof q, "SELECT step, value FROM eigs WHERE run_id=?1 AND operator='%s' "
           "AND idx=?2 ORDER BY step", op);
  StrBuf lines;
  sb_init(&lines);
  int first = 1, rc = 0;
  for (size_t i = 0; i < idx.nrow; i++) {
    int64_t b[2] = {run->id, (int64_t)idx.v[i]};
    char key[96], label[32];
    size_t n;
    snprintf(key, sizeof key, "r%lld.eig.%s.%lld", (long long)run->id, op, (long long)b[1]);
    if ((rc = rep_series(r, key, q, b, 2, 1, &n, err))) break;
    if (!n) continue;
    if (b[1] == 0 && !strcmp(op, "hessian")) run->has_sharp = 1;
    snprintf(label, sizeof label, "λ%lld", (long long)b[1] + 1);
    line_ref(&lines, &first, key, label);
  }
  db_rows_free(&idx);
  char kx[96], kt[96];
  int ex = 0, th = 0;
  if (!rc && extra_metric && (ex = metric_ds(r, run, extra_metric, kx, sizeof kx, err)) > 0)
    line_ref(&lines, &first, kx, extra_label);
  if (!rc && ex >= 0) th = metric_ds(r, run, thr_metric, kt, sizeof kt, err);
  if (rc || ex < 0 || th < 0) {
    sb_free(&lines);
    return -1;
  }
  StrBuf bands;
  sb_init(&bands);
  if (with_phases &&
      db_query_json(r->db, "SELECT start_step, end_step, phase FROM phases WHERE run_id=?1 "
                    "ORDER BY start_step", &run->id, 1, &bands, err)) {
    sb_free(&lines);
    sb_free(&bands);
    return -1;
  }
  rep_chart_begin(r, &r->runs, title);
  sb_append(&r->charts, ",\"y\":\"eigenvalue\",\"lines\":[");
  sb_append(&r->charts, lines.p ? lines.p : "");
  sb_append(&r->charts, "]");
  if (th) {
    first = 1;
    sb_append(&r->charts, ",\"dashed\":[");
    line_ref(&r->charts, &first, kt, thr_label);
    sb_append(&r->charts, "]");
  }
  if (bands.len > 2) {
    sb_append(&r->charts, ",\"bands\":");
    sb_append(&r->charts, bands.p);
  }
  rep_chart_end(r);
  sb_free(&lines);
  sb_free(&bands);
  return 0;
}

static int sharpness_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM eigs WHERE run_id=?1 AND operator='hessian' AND idx>=0 "
                    "LIMIT 1", run->id, err);
}

static int sharpness_emit(Report *r, ReportRun *run, Err *err) {
  section_open(r, run, "sharpness", "Sharpness and edge of stability");
  int g = has_metric(r, run, "gn_sharpness", err);
  if (g < 0) return -1;
  if (eig_chart(r, run, "hessian", "top Hessian eigenvalues vs stability threshold",
                "sharpness_threshold", "threshold", g ? "gn_sharpness" : NULL, "Gauss-Newton λ1",
                1, err))
    return -1;
  sb_append(&r->runs, "<p class=\"note\">Dashed: the optimizer's stability threshold "
            "(2/η for GD). Shaded: edge-of-stability phases.</p>\n");
  section_close(r);
  return 0;
}

static int phases_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM phases WHERE run_id=?1 LIMIT 1", run->id, err);
}

static int phases_emit(Report *r, ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db, "SELECT phase, start_step, end_step, detail FROM phases "
                    "WHERE run_id=?1 ORDER BY start_step LIMIT 500", &run->id, 1, &s, err))
    return -1;
  section_open(r, run, "phases", "EoS phases");
  sb_append(&r->runs, "<table class=\"data\"><thead><tr><th>phase</th><th>start</th>"
            "<th>end</th><th>detail</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < s.nrow; i++) {
    char **v = s.v + 4 * i;
    sb_append(&r->runs, "<tr><td>");
    report_html_escape(&r->runs, v[0]);
    sb_append(&r->runs, "</td><td>");
    report_html_escape(&r->runs, v[1]);
    sb_append(&r->runs, "</td><td>");
    report_html_escape(&r->runs, v[2]);
    sb_append(&r->runs, "</td><td><code>");
    report_html_escape(&r->runs, v[3]);
    sb_append(&r->runs, "</code></td></tr>\n");
  }
  sb_append(&r->runs, "</tbody></table>\n");
  section_close(r);
  db_strs_free(&s);
  return 0;
}

static int precond_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM eigs WHERE run_id=?1 AND operator='precond' AND idx>=0 "
                    "LIMIT 1", run->id, err);
}

static int precond_emit(Report *r, ReportRun *run, Err *err) {
  section_open(r, run, "precond", "Preconditioned sharpness");
  if (eig_chart(r, run, "precond", "top eigenvalues of P^-1/2 H P^-1/2 vs threshold",
                "precond_threshold", "threshold", NULL, NULL, 0, err))
    return -1;
  section_close(r);
  return 0;
}

/* ---- single scalar metrics over steps ------------------------------------------ */

static int metric_section(Report *r, ReportRun *run, const char *name, const char *title,
                          const char *ylabel, Err *err) {
  char key[96];
  int w = metric_ds(r, run, name, key, sizeof key, err);
  if (w < 0) return -1;
  section_open(r, run, name, title);
  if (w) {
    int first = 1;
    rep_chart_begin(r, &r->runs, title);
    sb_append(&r->charts, ",\"y\":");
    sb_json_str(&r->charts, ylabel);
    sb_append(&r->charts, ",\"lines\":[");
    line_ref(&r->charts, &first, key, ylabel);
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  section_close(r);
  return 0;
}

static int outnorm_applies(Report *r, const ReportRun *run, Err *err) {
  return has_metric(r, run, "out_norm", err);
}
static int outnorm_emit(Report *r, ReportRun *run, Err *err) {
  return metric_section(r, run, "out_norm", "Output-layer norm", "‖W_out‖²_F", err);
}
static int trace_applies(Report *r, const ReportRun *run, Err *err) {
  return has_metric(r, run, "trace", err);
}
static int trace_emit(Report *r, ReportRun *run, Err *err) {
  return metric_section(r, run, "trace", "Hessian trace", "trace", err);
}

/* ---- spectral densities --------------------------------------------------------- */

static int density_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM densities WHERE run_id=?1 LIMIT 1", run->id, err);
}

static int density_emit(Report *r, ReportRun *run, Err *err) {
  DbStrs ops;
  if (db_query_strs(r->db, "SELECT DISTINCT operator FROM densities WHERE run_id=?1 "
                    "ORDER BY operator LIMIT 8", &run->id, 1, &ops, err))
    return -1;
  section_open(r, run, "density", "Spectral densities");
  int rc = 0;
  for (size_t o = 0; o < ops.nrow && !rc; o++) {
    int64_t b[3] = {run->id, (int64_t)o, 0};
    DbRows steps;
    if ((rc = db_query_rows(r->db, "SELECT DISTINCT step FROM densities WHERE run_id=?1 AND "
                            "operator=(SELECT DISTINCT operator FROM densities WHERE run_id=?1 "
                            "ORDER BY operator LIMIT 1 OFFSET ?2) ORDER BY step", b, 2, &steps,
                            err)))
      break;
    StrBuf lines;
    sb_init(&lines);
    int first = 1;
    size_t ns = steps.nrow, shown = ns < 6 ? ns : 6;
    for (size_t k = 0; k < shown && !rc; k++) {
      size_t i = shown == 1 ? ns - 1 : k * (ns - 1) / (shown - 1);
      b[2] = (int64_t)steps.v[i];
      char key[128], label[48];
      size_t n;
      snprintf(key, sizeof key, "r%lld.dens.%zu.%lld", (long long)run->id, o, (long long)b[2]);
      rc = rep_series(r, key, "SELECT x, density FROM densities WHERE run_id=?1 AND "
                      "operator=(SELECT DISTINCT operator FROM densities WHERE run_id=?1 "
                      "ORDER BY operator LIMIT 1 OFFSET ?2) AND step=?3 AND density>0 ORDER BY x",
                      b, 3, 0, &n, err);
      if (!rc && n) {
        snprintf(label, sizeof label, "step %lld", (long long)b[2]);
        line_ref(&lines, &first, key, label);
      }
    }
    db_rows_free(&steps);
    if (!rc && !first) {
      StrBuf t;
      sb_init(&t);
      sb_append(&t, "spectral density: ");
      sb_append(&t, ops.v[o] ? ops.v[o] : "?");
      rep_chart_begin(r, &r->runs, t.p);
      sb_free(&t);
      sb_append(&r->charts, ",\"kind\":\"density\",\"x\":\"eigenvalue\",\"y\":\"density\","
                "\"log\":1,\"xnum\":1,\"lines\":[");
      sb_append(&r->charts, lines.p);
      sb_append(&r->charts, "]");
      rep_chart_end(r);
    }
    sb_free(&lines);
  }
  db_strs_free(&ops);
  if (rc) return -1;
  section_close(r);
  return 0;
}

/* ---- solver diagnostics ------------------------------------------------------------ */

static int solver_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM eigs WHERE run_id=?1 LIMIT 1", run->id, err);
}

#define SOLVER_ROWS 40

static int solver_emit(Report *r, ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db, "SELECT operator, step, batch_size, COUNT(*), MAX(residual), "
                    "MAX(matvecs), MAX(wall_s), MIN(converged) FROM eigs WHERE run_id=?1 "
                    "GROUP BY operator, step, batch_size ORDER BY operator, step",
                    &run->id, 1, &s, err))
    return -1;
  size_t n = s.nrow, unconv = 0;
  double matvecs = 0, secs = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    char **v = s.v + 8 * i;
    if (v[7] && atoi(v[7]) == 0) unconv++;
    if (v[5]) matvecs += strtod(v[5], NULL);
    if (v[6]) secs += strtod(v[6], NULL);
    if (v[4] && strtod(v[4], NULL) > worst) worst = strtod(v[4], NULL);
  }
  section_open(r, run, "solver", "Eigen-solver diagnostics");
  sb_printf(&r->runs, "<p>%zu solves, %zu not converged, %.0f operator applications, "
            "%.3g s in total; largest residual %.3g.", n, unconv, matvecs, secs, worst);
  if (n > SOLVER_ROWS)
    sb_printf(&r->runs, " Showing %d of them, evenly spaced, non-converged first.", SOLVER_ROWS);
  sb_append(&r->runs, "</p>\n<details><summary>solves</summary>\n"
            "<table class=\"data\"><thead><tr><th>operator</th><th>step</th>"
            "<th>batch</th><th>eigenvalues</th><th>max residual</th><th>matvecs</th>"
            "<th>time (s)</th><th>converged</th></tr></thead><tbody>\n");
  /* Choose rows: all unconverged (up to half the budget), the rest evenly spaced. */
  char *pick = calloc(n ? n : 1, 1);
  if (!pick) {
    db_strs_free(&s);
    return err_set(err, CS_ENOMEM, "out of memory"), -1;
  }
  size_t budget = n < SOLVER_ROWS ? n : SOLVER_ROWS, used = 0;
  for (size_t i = 0; i < n && used < budget / 2; i++)
    if (s.v[8 * i + 7] && atoi(s.v[8 * i + 7]) == 0) pick[i] = 1, used++;
  size_t rest = budget - used;
  for (size_t k = 0; k < rest && n; k++) {
    size_t i = rest == 1 ? 0 : k * (n - 1) / (rest - 1);
    if (!pick[i]) pick[i] = 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (!pick[i]) continue;
    char **v = s.v + 8 * i;
    int conv = !v[7] || atoi(v[7]) != 0;
    sb_printf(&r->runs, "<tr%s><td>", conv ? "" : " class=\"bad\"");
    report_html_escape(&r->runs, v[0]);
    sb_append(&r->runs, "</td><td>");
    report_html_escape(&r->runs, v[1]);
    sb_append(&r->runs, "</td><td>");
    report_html_escape(&r->runs, v[2]);
    sb_append(&r->runs, "</td><td>");
    report_html_escape(&r->runs, v[3]);
    for (int c = 4; c <= 6; c++) {
      sb_append(&r->runs, "</td><td>");
      rep_cell_num(&r->runs, v[c] ? strtod(v[c], NULL) : NAN);
    }
    sb_printf(&r->runs, "</td><td>%s</td></tr>\n", !v[7] ? "" : conv ? "yes" : "no");
  }
  sb_append(&r->runs, "</tbody></table></details>\n");
  section_close(r);
  free(pick);
  db_strs_free(&s);
  return 0;
}

/* ---- the table ------------------------------------------------------------------------ */

const ReportSection report_sections[] = {
    {"results", "Run-level results", results_applies, results_emit},
    {"config", "Configuration", config_applies, config_emit},
    {"training", "Loss and accuracy", training_applies, training_emit},
    {"sharpness", "Sharpness and edge of stability", sharpness_applies, sharpness_emit},
    {"phases", "EoS phases", phases_applies, phases_emit},
    {"precond", "Preconditioned sharpness", precond_applies, precond_emit},
    {"out_norm", "Output-layer norm", outnorm_applies, outnorm_emit},
    {"trace", "Hessian trace", trace_applies, trace_emit},
    {"density", "Spectral densities", density_applies, density_emit},
    {"solver", "Eigen-solver diagnostics", solver_applies, solver_emit},
};
const size_t report_n_sections = sizeof report_sections / sizeof report_sections[0];
