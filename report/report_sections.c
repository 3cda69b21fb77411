/*
 * report_sections.c: the per-run sections of the report, as a table.
 *
 * Each entry says when it applies (its data exist for the run) and emits its HTML,
 * charts and datasets. Sections never look at each other; a later study adds its
 * section by writing two functions (in a file of its own, as section_eigs.c holds the
 * eigenvalue sections) and one line in report_sections[] below.
 * All SQL here is fixed text; the only parameters are int64 binds (run id, index).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define KEY(buf, run, fmt, ...) snprintf(buf, sizeof buf, "r%lld." fmt, (long long)(run)->id, __VA_ARGS__)

/* ---- run-level results (metrics at step -1) --------------------------------- */

static int results_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM metrics WHERE run_id=?1 AND step=-1 LIMIT 1", run->id,
                    err);
}

/* What the top eigenvalue of an operator is called in the report. */
static const char *sharpness_name(const char *op) {
  if (!op) return NULL;
  if (!strcmp(op, "hessian")) return "sharpness";
  if (!strcmp(op, "precond")) return "preconditioned sharpness";
  return NULL;
}

static int results_emit(Report *r, ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db, "SELECT name, value FROM metrics WHERE run_id=?1 AND step=-1 "
                    "ORDER BY name", &run->id, 1, &s, err))
    return -1;
  rep_section_open(r, run, "results", "Run-level results");
  /* study eos judges Adam runs on the preconditioned sharpness (max_precond_sharpness;
   * databases written before it was named so call it max_sharpness): say which it was. */
  const char *what = sharpness_name(run->phase_op);
  if (what)
    sb_printf(&r->runs, "<p class=\"note\">Edge-of-stability analysis on the %s (λ1 of %s) "
              "against %s: the eos_* values refer to it.</p>\n", what,
              !strcmp(run->phase_op, "precond") ? "P^-1/2 H P^-1/2" : "H",
              !strcmp(run->phase_op, "precond") ? "Adam's threshold" : "the stability threshold");
  sb_append(&r->runs, "<table class=\"kv\"><tbody>\n");
  for (size_t i = 0; i < s.nrow; i++) {
    sb_append(&r->runs, "<tr><th>");
    report_html_escape(&r->runs, s.v[2 * i]);
    if (what && s.v[2 * i] && !strcmp(s.v[2 * i], "max_sharpness"))
      sb_printf(&r->runs, " <span class=\"note\">(max %s)</span>", what);
    sb_append(&r->runs, "</th><td>");
    rep_cell_num(&r->runs, s.v[2 * i + 1] ? strtod(s.v[2 * i + 1], NULL) : NAN);
    sb_append(&r->runs, "</td></tr>\n");
  }
  sb_append(&r->runs, "</tbody></table>\n");
  rep_section_close(r);
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
  rep_section_open(r, run, "config", "Configuration");
  sb_append(&r->runs, "<details><summary>configuration JSON</summary><pre class=\"config\">");
  rep_json_pretty_html(&r->runs, cfg);
  sb_append(&r->runs, "</pre></details>\n");
  rep_section_close(r);
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
  rep_dataset(r, kl, x, y, NULL, n, REP_X_INT);
  run->has_loss = 1;
  if (have_acc) {
    for (size_t i = 0; i < n; i++) y[i] = rows.v[3 * i + 2];
    KEY(ka, run, "%s", "accuracy");
    rep_dataset(r, ka, x, y, NULL, n, REP_X_INT);
  }
  free(x), free(y), db_rows_free(&rows);
  int tl = rep_metric_ds(r, run, "test_loss", ktl, sizeof ktl, err);
  int ta = tl < 0 ? -1 : rep_metric_ds(r, run, "test_accuracy", kta, sizeof kta, err);
  if (tl < 0 || ta < 0) return -1;

  rep_section_open(r, run, "training", "Loss and accuracy");
  sb_append(&r->runs, "<div class=\"row\">\n");
  int first = 1;
  rep_chart_begin(r, &r->runs, "loss");
  sb_append(&r->charts, ",\"y\":\"loss\",\"log\":1,\"lines\":[");
  rep_line_ref(&r->charts, &first, kl, "train");
  if (tl) rep_line_ref(&r->charts, &first, ktl, "test");
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  if (have_acc || ta) {
    first = 1;
    rep_chart_begin(r, &r->runs, "accuracy");
    sb_append(&r->charts, ",\"y\":\"accuracy\",\"lines\":[");
    if (have_acc) rep_line_ref(&r->charts, &first, ka, "train");
    if (ta) rep_line_ref(&r->charts, &first, kta, "test");
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  sb_append(&r->runs, "</div>\n");
  rep_section_close(r);
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
  rep_section_open(r, run, "phases", "EoS phases");
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
  rep_section_close(r);
  db_strs_free(&s);
  return 0;
}

/* ---- single scalar metrics over steps ------------------------------------------ */

/* A chart of one metric (with se_name: its ± standard error as error bars). */
static int metric_section(Report *r, ReportRun *run, const char *name, const char *se_name,
                          const char *title, const char *ylabel, const char *label, Err *err) {
  char key[96];
  int w = rep_metric_se_ds(r, run, name, se_name, key, sizeof key, err);
  if (w < 0) return -1;
  rep_section_open(r, run, name, title);
  if (w) {
    int first = 1;
    rep_chart_begin(r, &r->runs, title);
    sb_append(&r->charts, ",\"y\":");
    sb_json_str(&r->charts, ylabel);
    sb_append(&r->charts, ",\"lines\":[");
    rep_line_ref(&r->charts, &first, key, label);
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  rep_section_close(r);
  return 0;
}

static int outnorm_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_has_metric(r, run, "out_norm", err);
}
static int outnorm_emit(Report *r, ReportRun *run, Err *err) {
  return metric_section(r, run, "out_norm", NULL, "Output-layer norm", "‖W_out‖²_F",
                        "‖W_out‖²_F", err);
}
static int trace_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_has_metric(r, run, "trace", err);
}
static int trace_emit(Report *r, ReportRun *run, Err *err) {
  return metric_section(r, run, "trace", "trace_se", "Hessian trace (± standard error)",
                        "trace of H", "trace ± s.e. (Hutchinson)", err);
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
  rep_section_open(r, run, "density", "Spectral densities");
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
        rep_line_ref(&lines, &first, key, label);
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
  rep_section_close(r);
  return 0;
}

/* ---- the table ------------------------------------------------------------------------ */

const ReportSection report_sections[] = {
    {"results", "Run-level results", results_applies, results_emit},
    {"config", "Configuration", config_applies, config_emit},
    {"training", "Loss and accuracy", training_applies, training_emit},
    {"precond", "Preconditioned sharpness and edge of stability", section_precond_applies,
     section_precond_emit},
    {"sharpness", "Sharpness and edge of stability", section_sharpness_applies,
     section_sharpness_emit},
    {"phases", "EoS phases", phases_applies, phases_emit},
    {"out_norm", "Output-layer norm", outnorm_applies, outnorm_emit},
    {"trace", "Hessian trace", trace_applies, trace_emit},
    {"density", "Spectral densities", density_applies, density_emit},
    {"spectral", "Spectral bias", spectral_section_applies, spectral_section_emit},
    {"solver", "Eigenvalues and solver diagnostics", section_solver_applies, section_solver_emit},
    {"pcbias", "Principal-component bias", section_pcbias_applies, section_pcbias_emit},
    {"stein", "Stein critic", section_stein_applies, section_stein_emit},
};
const size_t report_n_sections = sizeof report_sections / sizeof report_sections[0];
