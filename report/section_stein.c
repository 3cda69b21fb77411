/*
 * section_stein.c: the report section of a Stein-critic run (curvscope study stein,
 * docs/STEIN.md): λ and the critic error ‖λf − (s_q − s_p)‖²/‖s_q − s_p‖² per epoch
 * (log scales), and the validation objective beside them; the run's power or level is
 * in its run-level results. With the first Stein run of a group of several (one
 * invocation's λ grid, or invocations given one --group), the group view: the rejection
 * rate against the perturbation and against the test sample size, one line per λ
 * schedule and one for KSD, ± the binomial standard error. All SQL is fixed text with
 * int64 binds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---------------------------------------------------------------- the group view */

#define GV_LINES 48
#define GV_POINTS 64

typedef struct GvLine {
  char label[96];
  int n;
  double x[GV_POINTS], y[GV_POINTS], e[GV_POINTS];
} GvLine;

/* The point (x, rate over reps) on the line `label` (a new line when unseen); a second
 * point at the same x is dropped (KSD: every schedule of one invocation has the same). */
static void gv_add(GvLine *L, int *nl, const char *label, double x, double rate, double reps) {
  if (isnan(x) || isnan(rate) || !(reps > 0)) return;
  int j = 0;
  while (j < *nl && strcmp(L[j].label, label)) j++;
  if (j == GV_LINES) return;
  if (j == *nl) memset(&L[j], 0, sizeof L[j]), snprintf(L[j].label, sizeof L[j].label, "%s", label), (*nl)++;
  GvLine *l = &L[j];
  for (int i = 0; i < l->n; i++)
    if (l->x[i] == x) return;
  if (l->n == GV_POINTS) return;
  int i = l->n++;
  while (i > 0 && l->x[i - 1] > x) l->x[i] = l->x[i - 1], l->y[i] = l->y[i - 1], l->e[i] = l->e[i - 1], i--;
  l->x[i] = x, l->y[i] = rate, l->e[i] = sqrt(rate * (1 - rate) / reps);
}

#define GV_METRIC(name) "(SELECT value FROM metrics WHERE run_id=runs.id AND step=-1 AND name='" name "')"

/* Number of distinct values in column c of the rows. */
static int gv_distinct(const DbStrs *s, int c) {
  int n = 0;
  for (size_t i = 0; i < s->nrow; i++) {
    const char *v = s->v[(size_t)s->ncol * i + c];
    size_t k = 0;
    while (k < i && !(v && s->v[(size_t)s->ncol * k + c] && !strcmp(v, s->v[(size_t)s->ncol * k + c])))
      k++;
    if (v && k == i) n++;
  }
  return n;
}

/* One chart of the rate against column xc (1 pert, 2 n_test); lines split by the other
 * column when it varies too. */
static void gv_chart(Report *r, const ReportRun *run, const DbStrs *s, int xc, const char *title,
                     const char *xlabel, const char *tag) {
  static GvLine L[GV_LINES];
  int nl = 0, oc = xc == 1 ? 2 : 1, split = gv_distinct(s, oc) > 1;
  for (size_t i = 0; i < s->nrow; i++) {
    char **v = s->v + (size_t)s->ncol * i;
    char suffix[48] = "", label[96];
    if (split && v[oc]) snprintf(suffix, sizeof suffix, " %s=%s", oc == 1 ? "pert" : "n", v[oc]);
    double x = v[xc] ? strtod(v[xc], NULL) : NAN, reps = v[5] ? strtod(v[5], NULL) : NAN;
    snprintf(label, sizeof label, "%s%s", v[0] ? v[0] : "?", suffix);
    gv_add(L, &nl, label, x, v[3] ? strtod(v[3], NULL) : NAN, reps);
    snprintf(label, sizeof label, "KSD%s", suffix);
    gv_add(L, &nl, label, x, v[4] ? strtod(v[4], NULL) : NAN, reps);
  }
  StrBuf lines;
  sb_init(&lines);
  int first = 1;
  for (int j = 0; j < nl; j++) {
    char key[96];
    snprintf(key, sizeof key, "r%lld.stein.%s.%d", (long long)run->id, tag, j);
    rep_dataset(r, key, L[j].x, L[j].y, L[j].e, (size_t)L[j].n, REP_CURVE);
    rep_line_ref(&lines, &first, key, L[j].label);
  }
  rep_chart_begin(r, &r->runs, title);
  sb_printf(&r->charts, ",\"x\":\"%s\",\"y\":\"rejection rate\",\"lines\":[", xlabel);
  sb_append(&r->charts, lines.p ? lines.p : "");
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  sb_free(&lines);
}

/* The group's Stein runs: schedule, pert, n_test, rate (power, or level under --null),
 * KSD's rate, repeats. */
static int group_view(Report *r, const ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db,
                    "SELECT json_extract(config, '$.lambda'), " GV_METRIC("stein_pert") ", "
                    GV_METRIC("stein_n_test") ", COALESCE(" GV_METRIC("stein_power") ", "
                    GV_METRIC("stein_level") "), COALESCE(" GV_METRIC("ksd_power") ", "
                    GV_METRIC("ksd_level") "), " GV_METRIC("stein_repeats") " FROM runs WHERE "
                    "grp=(SELECT grp FROM runs WHERE id=?1) AND EXISTS (SELECT 1 FROM series "
                    "WHERE run_id=runs.id AND name='stein_lambda') ORDER BY id",
                    &run->id, 1, &s, err))
    return -1;
  int np = gv_distinct(&s, 1), nn = gv_distinct(&s, 2);
  if (np > 1 || nn > 1)
    sb_printf(&r->runs, "<h4>Rejection rates across the %zu Stein runs of this group</h4>\n"
              "<p class=\"note\">The level (rate under p = q, --null) is the point at "
              "perturbation 0; bars ± the binomial standard error over the repeats.</p>\n",
              s.nrow);
  if (np > 1) gv_chart(r, run, &s, 1, "rejection rate against the perturbation", "perturbation", "pert");
  if (nn > 1) gv_chart(r, run, &s, 2, "rejection rate against the test sample size", "n test", "n");
  db_strs_free(&s);
  return 0;
}

int section_stein_emit(Report *r, ReportRun *run, Err *err) {
  int64_t first = 0;
  int found = 0;
  if (run->grp && db_query_int(r->db,
                               "SELECT MIN(id) FROM runs WHERE grp=(SELECT grp FROM runs WHERE "
                               "id=?1) AND EXISTS (SELECT 1 FROM series WHERE run_id=runs.id AND "
                               "name='stein_lambda')",
                               &run->id, 1, &first, &found, err))
    return -1;
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
  if (!rc && found && first == run->id) rc = group_view(r, run, err);
  rep_section_close(r);
  return rc;
}
