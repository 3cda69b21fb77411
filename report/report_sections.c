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

/* A table of one JSON object's members (the rows of a json_each query: key, value,
 * type), numbers by the report's rule. */
static void kv_table(StrBuf *b, const char *cls, const DbStrs *s) {
  sb_printf(b, "<div class=\"scroll\"><table class=\"kv %s\"><tbody>\n", cls);
  for (size_t i = 0; i < s->nrow; i++) {
    sb_append(b, "<tr><th>");
    report_html_escape(b, s->v[3 * i]);
    sb_append(b, "</th><td>");
    rep_json_value_html(b, s->v[3 * i + 1], s->v[3 * i + 2]);
    sb_append(b, "</td></tr>\n");
  }
  sb_append(b, "</tbody></table></div>\n");
}

static int config_emit(Report *r, ReportRun *run, Err *err) {
  DbStrs s;
  if (rep_config_members(r, run->id, &s, err)) return -1;
  rep_section_open(r, run, "config", "Configuration");
  sb_append(&r->runs, "<details><summary>configuration</summary>\n");
  kv_table(&r->runs, "config", &s);
  sb_append(&r->runs, "</details>\n");
  rep_section_close(r);
  db_strs_free(&s);
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
  run->has_test_loss = tl, run->has_test_acc = ta;

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

/* The phases as a table: phase, start, end, then one column per key of their detail
 * objects (study eos: operator, mean_sharpness, max_ratio, iii_ends_at), numbers by the
 * report's rule; a detail that is not a JSON object is shown as its text. */
static int phases_emit(Report *r, ReportRun *run, Err *err) {
  enum { C_ID, C_PHASE, C_START, C_END, C_KEY, C_VAL, C_TYPE, C_RAW, NC };
  DbStrs s;
  if (db_query_strs(r->db, "SELECT p.rowid, p.phase, p.start_step, p.end_step, j.key, j.value, "
                    "j.type, CASE WHEN j.key IS NULL THEN p.detail END FROM (SELECT rowid, * "
                    "FROM phases WHERE run_id=?1 ORDER BY start_step LIMIT 500) p LEFT JOIN "
                    "json_each(CASE WHEN json_valid(p.detail) AND json_type(p.detail)='object' "
                    "THEN p.detail END) j ORDER BY p.start_step, p.rowid, j.id",
                    &run->id, 1, &s, err))
    return -1;
  /* the detail keys, in order of first appearance */
  const char **keys = calloc(s.nrow + 1, sizeof *keys);
  if (!keys) {
    db_strs_free(&s);
    return err_set(err, CS_ENOMEM, "out of memory"), -1;
  }
  size_t nk = 0;
  int raw = 0;
  for (size_t i = 0; i < s.nrow; i++) {
    const char *k = s.v[NC * i + C_KEY];
    raw |= s.v[NC * i + C_RAW] != NULL;
    if (!k) continue;
    size_t j;
    for (j = 0; j < nk && strcmp(keys[j], k); j++) {}
    if (j == nk) keys[nk++] = k;
  }
  StrBuf *b = &r->runs;
  rep_section_open(r, run, "phases", "EoS phases");
  sb_append(b, "<div class=\"scroll\"><table class=\"data phases\"><thead><tr><th>phase</th>"
            "<th>start</th><th>end</th>");
  for (size_t j = 0; j < nk; j++) {
    sb_append(b, "<th>");
    report_html_escape(b, keys[j]);
    sb_append(b, "</th>");
  }
  if (raw) sb_append(b, "<th>detail</th>");
  sb_append(b, "</tr></thead><tbody>\n");
  for (size_t i = 0; i < s.nrow;) {
    char **v = s.v + NC * i;
    size_t end = i;
    while (end < s.nrow && !strcmp(s.v[NC * end + C_ID], v[C_ID])) end++;
    sb_append(b, "<tr><td>");
    report_html_escape(b, v[C_PHASE]);
    sb_append(b, "</td><td class=\"num\">");
    report_html_escape(b, v[C_START]);
    sb_append(b, "</td><td class=\"num\">");
    report_html_escape(b, v[C_END]);
    sb_append(b, "</td>");
    for (size_t j = 0; j < nk; j++) {
      sb_append(b, "<td>");
      for (size_t k = i; k < end; k++)
        if (s.v[NC * k + C_KEY] && !strcmp(s.v[NC * k + C_KEY], keys[j]))
          rep_json_value_html(b, s.v[NC * k + C_VAL], s.v[NC * k + C_TYPE]);
      sb_append(b, "</td>");
    }
    if (raw) {
      sb_append(b, "<td><code>");
      report_html_escape(b, v[C_RAW]);
      sb_append(b, "</code></td>");
    }
    sb_append(b, "</tr>\n");
    i = end;
  }
  sb_append(b, "</tbody></table></div>\n");
  rep_section_close(r);
  free(keys);
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

/* The share of a density's mass its y axis shows: the axis starts at the smallest value
 * among the largest ones that together carry this much of it, so tails of 1e-9 do not
 * spread the log axis over ten decades. */
#define DENSITY_MASS_SHOWN 0.999

static int desc_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

double rep_density_floor(const double *y, size_t n, double *scratch) {
  size_t m = 0;
  double total = 0;
  for (size_t i = 0; i < n; i++)
    if (y[i] > 0 && isfinite(y[i])) scratch[m++] = y[i], total += y[i];
  if (!m) return NAN;
  qsort(scratch, m, sizeof *scratch, desc_double); /* an even grid: mass ∝ density */
  double sum = 0;
  size_t i = 0;
  for (; i + 1 < m && (sum += scratch[i]) < DENSITY_MASS_SHOWN * total; i++) {}
  return scratch[i];
}

/* The SLQ settings `curvscope analyze --density` stored with the density of operator
 * number ?2 (ORDER BY operator) at step ?3: "<operator>_slq_probes" etc. at that step. */
static int density_settings(Report *r, const int64_t b[3], StrBuf *out, Err *err) {
  static const char *const pre[] = {"", "", "", "seed "};
  static const char *const post[] = {" probes", " Lanczos steps", " grid points", ""};
  DbRows v;
  if (db_query_rows(r->db, "SELECT (SELECT value FROM metrics m WHERE m.run_id=?1 AND "
                    "m.step=?3 AND m.name=o.op || '_slq_probes'), (SELECT value FROM metrics m "
                    "WHERE m.run_id=?1 AND m.step=?3 AND m.name=o.op || '_slq_lanczos_steps'), "
                    "(SELECT value FROM metrics m WHERE m.run_id=?1 AND m.step=?3 AND "
                    "m.name=o.op || '_slq_grid'), (SELECT value FROM metrics m WHERE "
                    "m.run_id=?1 AND m.step=?3 AND m.name=o.op || '_slq_seed') FROM (SELECT "
                    "DISTINCT operator AS op FROM densities WHERE run_id=?1 ORDER BY operator "
                    "LIMIT 1 OFFSET ?2) o", b, 3, &v, err))
    return -1;
  if (v.nrow && isfinite(v.v[0])) {
    sb_printf(out, "step %lld: ", (long long)b[2]);
    for (int k = 0; k < 4; k++) {
      if (!isfinite(v.v[k])) continue;
      sb_printf(out, "%s%s", k ? ", " : "", pre[k]);
      rep_num(out, v.v[k]);
      sb_append(out, post[k]);
    }
  }
  db_rows_free(&v);
  return 0;
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
    StrBuf lines, slq;
    sb_init(&lines);
    sb_init(&slq);
    int first = 1;
    double floor_y = INFINITY;
    size_t ns = steps.nrow, shown = ns < 6 ? ns : 6;
    for (size_t k = 0; k < shown && !rc; k++) {
      size_t i = shown == 1 ? ns - 1 : k * (ns - 1) / (shown - 1);
      b[2] = (int64_t)steps.v[i];
      char key[128], label[48];
      DbRows d;
      snprintf(key, sizeof key, "r%lld.dens.%zu.%lld", (long long)run->id, o, (long long)b[2]);
      if ((rc = db_query_rows(r->db, "SELECT x, density FROM densities WHERE run_id=?1 AND "
                              "operator=(SELECT DISTINCT operator FROM densities WHERE "
                              "run_id=?1 ORDER BY operator LIMIT 1 OFFSET ?2) AND step=?3 AND "
                              "density>0 ORDER BY x", b, 3, &d, err)))
        break;
      size_t n = d.nrow;
      double *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y);
      if (!x || !y) {
        rc = err_set(err, CS_ENOMEM, "out of memory for a density");
      } else if (n) {
        for (size_t j = 0; j < n; j++) x[j] = d.v[2 * j], y[j] = d.v[2 * j + 1];
        rep_dataset(r, key, x, y, NULL, n, REP_CURVE);
        double f = rep_density_floor(y, n, x); /* x no longer needed: its scratch */
        if (f < floor_y) floor_y = f;
        snprintf(label, sizeof label, "step %lld", (long long)b[2]);
        rep_line_ref(&lines, &first, key, label);
        size_t before = slq.len;
        if (slq.len) sb_append(&slq, "; ");
        size_t mark = slq.len;
        if (density_settings(r, b, &slq, err)) rc = -1;
        if (slq.len == mark && slq.p) slq.len = before, slq.p[before] = '\0';
      }
      free(x), free(y), db_rows_free(&d);
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
                "\"log\":1,\"xnum\":1");
      if (isfinite(floor_y)) {
        sb_append(&r->charts, ",\"ymin\":");
        sb_double(&r->charts, floor_y);
      }
      sb_append(&r->charts, ",\"lines\":[");
      sb_append(&r->charts, lines.p);
      sb_append(&r->charts, "]");
      rep_chart_end(r);
      sb_append(&r->runs, "<p class=\"note slq\">");
      if (slq.len) {
        sb_append(&r->runs, "Stochastic Lanczos quadrature: ");
        report_html_escape(&r->runs, slq.p);
        sb_append(&r->runs, ". ");
      } else {
        sb_append(&r->runs, "SLQ settings not recorded (densities stored before they were). ");
      }
      sb_append(&r->runs, "The y axis starts where the density's values stop carrying mass "
                "(the largest values holding 99.9% of it are shown).</p>\n");
    }
    sb_free(&lines);
    sb_free(&slq);
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
    {"batch", "Batch size and curvature", section_batch_applies, section_batch_emit},
    {"ntk", "Neural tangent kernel", section_ntk_applies, section_ntk_emit},
    {"kinks", "ReLU kinks", section_kinks_applies, section_kinks_emit},
    {"freqp", "Frequency principle", section_freqp_applies, section_freqp_emit},
};
const size_t report_n_sections = sizeof report_sections / sizeof report_sections[0];
