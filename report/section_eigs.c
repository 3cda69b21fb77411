/*
 * section_eigs.c: the report's eigenvalue sections: the preconditioned sharpness (Adam's
 * edge of stability), the sharpness, and the table of solves.
 *
 * Each chart holds one operator's top eigenvalues against the threshold that belongs to
 * that operator (GD's 2/η and momentum's bound the raw Hessian's, Adam's 38/η the
 * preconditioned one's), with the EoS phases only on the chart of the operator they were
 * computed from. The training series (source <> 'analyze') is drawn as a line or as its
 * points; post-hoc solves (curvscope analyze) as their own diamonds, never joined to it.
 * All SQL is fixed text; the only parameters are int64 binds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* ---- eigenvalues against a threshold (sharpness, preconditioned sharpness) ------ */

/* One eigenvalue chart: the training series (probe) of the top eigenvalues of `op` as
 * lines, the post-hoc values (source 'analyze') as their own points, an optional extra
 * metric, the threshold metric dashed, and the EoS phases shaded only when they were
 * computed from this operator. All names are fixed text, never from the database. */
typedef struct EigChart {
  const char *op;           /* eigs.operator */
  const char *title, *yaxis;
  const char *lambda1;      /* legend label of the top eigenvalue */
  const char *thr_metric;   /* dashed stability threshold; NULL: none */
  const char *extra_metric, *extra_label; /* another line (e.g. gn_sharpness); NULL: none */
} EigChart;

/* "threshold 2/η", "Adam's threshold 38/η": the threshold times η, read from the data
 * (so it is the optimizer's own formula, whatever its β). */
static int threshold_label(Report *r, const ReportRun *run, const char *metric, char *out,
                           size_t n, Err *err) {
  char q[200];
  DbRows v;
  snprintf(q, sizeof q, "SELECT value FROM metrics WHERE run_id=?1 AND name='%s' AND step>=0 "
           "AND value>0 ORDER BY step LIMIT 1", metric);
  if (db_query_rows(r->db, q, &run->id, 1, &v, err)) return -1;
  double c = v.nrow && isfinite(run->lr) ? v.v[0] * run->lr : NAN;
  const char *who = rep_run_is_adam(run) ? "Adam's threshold" : "threshold";
  if (!isfinite(c))
    snprintf(out, n, "%s", who);
  else if (fabs(c - round(c)) <= 1e-9 * c)
    snprintf(out, n, "%s %.0f/η", who, c);
  else
    snprintf(out, n, "%s %.4g/η", who, c);
  db_rows_free(&v);
  return 0;
}

/* The chart of the operator held against the optimizer's threshold (run->eos_op) gets
 * the training loss stacked above it on the same step axis ("top"), so a loss spike
 * lines up with the sharpness drop, and a vertical rule at the EoS onset ("vrule": study
 * eos's eos_onset, when the phases were computed from this operator). */
static int stack_loss(Report *r, const ReportRun *run, const char *op, int *onset, Err *err) {
  *onset = 0;
  if (!run->eos_op || strcmp(run->eos_op, op) || !run->has_loss) return 0;
  char key[64];
  int first = 1;
  snprintf(key, sizeof key, "r%lld.loss", (long long)run->id);
  sb_append(&r->charts, ",\"top\":{\"y\":\"train loss\",\"log\":1,\"lines\":[");
  rep_line_ref(&r->charts, &first, key, "train loss");
  sb_append(&r->charts, "]}");
  if (!run->phase_op || strcmp(run->phase_op, op)) return 0;
  DbRows v;
  if (db_query_rows(r->db, "SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND "
                    "name='eos_onset'", &run->id, 1, &v, err))
    return -1;
  if (v.nrow && isfinite(v.v[0])) {
    StrBuf l;
    sb_init(&l);
    sb_append(&l, "EoS onset, step ");
    rep_num(&l, v.v[0]);
    sb_append(&r->charts, ",\"vrule\":[");
    sb_double(&r->charts, v.v[0]);
    sb_append(&r->charts, ",");
    sb_json_str(&r->charts, l.p);
    sb_append(&r->charts, "]");
    sb_free(&l);
    *onset = 1;
  }
  db_rows_free(&v);
  return 0;
}

/* Emits the chart; *posthoc, *banded and *onset get whether analyze points, phase bands
 * and the EoS-onset rule were drawn. Returns 0, or -1 with err filled. */
static int eig_chart(Report *r, ReportRun *run, const EigChart *c, int *posthoc, int *banded,
                     int *onset, Err *err) {
  StrBuf lines;
  sb_init(&lines);
  int first = 1, rc = 0;
  *posthoc = *banded = 0;
  for (int post = 0; post < 2 && !rc; post++) {
    const char *src = post ? "source='analyze'" : "source<>'analyze'";
    char q[400];
    DbRows idx;
    snprintf(q, sizeof q, "SELECT DISTINCT idx FROM eigs WHERE run_id=?1 AND operator='%s' "
             "AND idx>=0 AND %s ORDER BY idx LIMIT 6", c->op, src);
    if ((rc = db_query_rows(r->db, q, &run->id, 1, &idx, err))) break;
    /* the training series has one value per step, from the solve on the most examples
     * (as db_eig_series: REP_FIRST_PER_X keeps the first of each step); post-hoc solves
     * are points, every one kept */
    snprintf(q, sizeof q, "SELECT step, value FROM eigs WHERE run_id=?1 AND operator='%s' "
             "AND idx=?2 AND %s ORDER BY step, batch_size DESC", c->op, src);
    for (size_t i = 0; i < idx.nrow && !rc; i++) {
      int64_t b[2] = {run->id, (int64_t)idx.v[i]};
      char key[112], label[64];
      size_t n;
      snprintf(key, sizeof key, "r%lld.eig.%s.%lld%s", (long long)run->id, c->op,
               (long long)b[1], post ? ".analyze" : "");
      if ((rc = rep_series(r, key, q, b, 2, REP_X_INT | (post ? REP_POSTHOC : REP_FIRST_PER_X),
                           &n, err)) || !n)
        continue;
      if (post)
        snprintf(label, sizeof label, "λ%lld analyze (checkpoint)", (long long)b[1] + 1);
      else if (b[1] == 0)
        snprintf(label, sizeof label, "%s", c->lambda1);
      else
        snprintf(label, sizeof label, "λ%lld", (long long)b[1] + 1);
      rep_line_ref(&lines, &first, key, label);
      *posthoc |= post;
    }
    db_rows_free(&idx);
  }
  char kx[96], kt[96], tl[64];
  int ex = 0, th = 0;
  if (!rc && c->extra_metric)
    ex = rep_metric_ds(r, run, c->extra_metric, kx, sizeof kx, err);
  if (ex > 0) rep_line_ref(&lines, &first, kx, c->extra_label);
  if (!rc && ex >= 0 && c->thr_metric) {
    th = rep_metric_ds(r, run, c->thr_metric, kt, sizeof kt, err);
    if (th > 0 && threshold_label(r, run, c->thr_metric, tl, sizeof tl, err)) th = -1;
  }
  StrBuf bands;
  sb_init(&bands);
  if (!rc && ex >= 0 && th >= 0 && run->phase_op && !strcmp(run->phase_op, c->op) &&
      db_query_json(r->db, "SELECT start_step, end_step, phase FROM phases WHERE run_id=?1 "
                    "ORDER BY start_step", &run->id, 1, &bands, err))
    rc = -1;
  if (rc || ex < 0 || th < 0) {
    sb_free(&lines);
    sb_free(&bands);
    return -1;
  }
  rep_chart_begin(r, &r->runs, c->title);
  sb_append(&r->charts, ",\"y\":");
  sb_json_str(&r->charts, c->yaxis);
  sb_append(&r->charts, ",\"lines\":[");
  sb_append(&r->charts, lines.p ? lines.p : "");
  sb_append(&r->charts, "]");
  if (th) {
    first = 1;
    sb_append(&r->charts, ",\"dashed\":[");
    rep_line_ref(&r->charts, &first, kt, tl);
    sb_append(&r->charts, "]");
  }
  if (bands.len > 2) {
    sb_append(&r->charts, ",\"bands\":");
    sb_append(&r->charts, bands.p);
    *banded = 1;
  }
  if (stack_loss(r, run, c->op, onset, err)) {
    sb_free(&lines);
    sb_free(&bands);
    return -1;
  }
  rep_chart_end(r);
  sb_free(&lines);
  sb_free(&bands);
  return 0;
}

static void stacked_note(Report *r, const ReportRun *run, const char *op, int onset) {
  if (run->eos_op && !strcmp(run->eos_op, op) && run->has_loss)
    sb_append(&r->runs, " Above it, the training loss on the same step axis, so a loss spike "
              "lines up with its sharpness drop.");
  if (onset)
    sb_append(&r->runs, " The vertical rule marks the EoS onset found by the analysis.");
}

static void posthoc_note(Report *r, int posthoc) {
  if (posthoc)
    sb_append(&r->runs, " Diamonds: <code>curvscope analyze</code> on a stored checkpoint, "
              "after the fact, each solve its own point, never joined to the training series.");
}

int section_sharpness_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM eigs WHERE run_id=?1 AND operator='hessian' AND idx>=0 "
                    "LIMIT 1", run->id, err);
}

/* The raw Hessian. For GD, SGD and momentum its top eigenvalue (the sharpness) is what
 * the optimizer's threshold bounds; for Adam it is not (Adam's threshold is on the
 * preconditioned sharpness), so an Adam run's chart has no threshold. */
int section_sharpness_emit(Report *r, ReportRun *run, Err *err) {
  int adam = rep_run_is_adam(run), posthoc, banded, onset;
  rep_section_open(r, run, "sharpness", adam ? "Sharpness (raw Hessian)"
                                         : "Sharpness and edge of stability");
  int g = rep_has_metric(r, run, "gn_sharpness", err);
  if (g < 0) return -1;
  EigChart c = {"hessian",
                adam ? "sharpness: top eigenvalues of the raw Hessian H"
                     : "sharpness: top eigenvalues of the Hessian H vs the stability threshold",
                "eigenvalue of H", "λ1 (sharpness)", adam ? NULL : "sharpness_threshold",
                g ? "gn_sharpness" : NULL, "Gauss-Newton λ1"};
  if (eig_chart(r, run, &c, &posthoc, &banded, &onset, err)) return -1;
  sb_append(&r->runs, "<p class=\"note\">");
  if (adam)
    sb_append(&r->runs, "Adam's stability threshold bounds the preconditioned sharpness "
              "(λ1 of P^-1/2 H P^-1/2), not this raw sharpness, so no threshold is drawn "
              "here.");
  else
    sb_append(&r->runs, "Dashed: the optimizer's stability threshold (2/η for GD, "
              "(2+2β)/η for momentum).");
  if (banded)
    sb_append(&r->runs, " Shaded: the edge-of-stability phases, computed from this sharpness.");
  stacked_note(r, run, "hessian", onset);
  posthoc_note(r, posthoc);
  sb_append(&r->runs, "</p>\n");
  rep_section_close(r);
  return 0;
}

int section_precond_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM eigs WHERE run_id=?1 AND operator='precond' AND idx>=0 "
                    "LIMIT 1", run->id, err);
}

/* Adam's edge of stability: the preconditioned sharpness against Adam's threshold. */
int section_precond_emit(Report *r, ReportRun *run, Err *err) {
  int posthoc, banded, onset;
  rep_section_open(r, run, "precond", "Preconditioned sharpness and edge of stability");
  EigChart c = {"precond",
                "preconditioned sharpness: top eigenvalues of P^-1/2 H P^-1/2 vs Adam's "
                "threshold",
                "eigenvalue of P^-1/2 H P^-1/2", "λ1 (preconditioned sharpness)",
                "precond_threshold", NULL, NULL};
  if (eig_chart(r, run, &c, &posthoc, &banded, &onset, err)) return -1;
  sb_append(&r->runs, "<p class=\"note\">P = Adam's preconditioner (bias-corrected √v + ε). "
            "Dashed: Adam's stability threshold (2+2β1)/((1−β1)η), 38/η for β1 = 0.9.");
  if (banded)
    sb_append(&r->runs, " Shaded: the edge-of-stability phases, computed from this "
              "preconditioned sharpness.");
  stacked_note(r, run, "precond", onset);
  posthoc_note(r, posthoc);
  sb_append(&r->runs, "</p>\n");
  rep_section_close(r);
  return 0;
}

/* ---- solver diagnostics ------------------------------------------------------------ */

int section_solver_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM eigs WHERE run_id=?1 LIMIT 1", run->id, err);
}

#define SOLVER_ROWS 40

/* What measured a solve (eigs.source), for a reader. */
static void source_cell(StrBuf *b, const char *src) {
  if (!src) return;
  if (!strcmp(src, "probe"))
    sb_append(b, "probe (training)");
  else if (!strcmp(src, "analyze"))
    sb_append(b, "analyze (checkpoint)");
  else if (!strcmp(src, "unknown"))
    sb_append(b, "unknown (recorded before schema v2)");
  else
    report_html_escape(b, src); /* a study's name */
}

/* The two cells of one solve's values, top (λ1, λ2, ...) and bottom (smallest first);
 * binds: the run id, and the rowid of one of the solve's rows. */
static int solve_values(Report *r, StrBuf *b, const int64_t binds[2], Err *err) {
  DbRows v;
  if (db_query_rows(r->db, "SELECT e.idx, e.value FROM eigs e JOIN eigs g ON g.rowid=?2 "
                    "WHERE e.run_id=?1 AND e.operator=g.operator AND e.source=g.source AND "
                    "e.step=g.step AND e.batch_size IS g.batch_size AND e.draw=g.draw "
                    "ORDER BY abs(e.idx + 0.5)", binds, 2, &v, err))
    return -1;
  for (int bottom = 0; bottom < 2; bottom++) {
    sb_append(b, "<td class=\"num\">");
    int any = 0;
    for (size_t i = 0; i < v.nrow; i++) {
      if ((v.v[2 * i] < 0) != bottom) continue;
      if (any++) sb_append(b, ", ");
      rep_cell_num(b, v.v[2 * i + 1]);
    }
    sb_append(b, "</td>");
  }
  db_rows_free(&v);
  return 0;
}

int section_solver_emit(Report *r, ReportRun *run, Err *err) {
  enum { C_OP, C_SRC, C_STEP, C_BATCH, C_DRAW, C_COUNT, C_RES, C_MV, C_WALL, C_CONV, C_ID, NC };
  DbStrs s;
  if (db_query_strs(r->db, "SELECT operator, source, step, batch_size, draw, COUNT(*), "
                    "MAX(residual), MAX(matvecs), MAX(wall_s), MIN(converged), MIN(rowid) "
                    "FROM eigs WHERE run_id=?1 GROUP BY operator, source, step, batch_size, "
                    "draw ORDER BY operator, step, source, batch_size, draw",
                    &run->id, 1, &s, err))
    return -1;
  size_t n = s.nrow, unconv = 0, posthoc = 0;
  double matvecs = 0, secs = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    char **v = s.v + NC * i;
    if (v[C_CONV] && atoi(v[C_CONV]) == 0) unconv++;
    if (v[C_SRC] && !strcmp(v[C_SRC], "analyze")) posthoc++;
    if (v[C_MV]) matvecs += strtod(v[C_MV], NULL);
    if (v[C_WALL]) secs += strtod(v[C_WALL], NULL);
    if (v[C_RES] && strtod(v[C_RES], NULL) > worst) worst = strtod(v[C_RES], NULL);
  }
  rep_section_open(r, run, "solver", "Eigenvalues and solver diagnostics");
  sb_printf(&r->runs, "<p>%zu solves (%zu by <code>curvscope analyze</code> on checkpoints), "
            "%zu not converged, %.0f operator applications, ", n, posthoc, unconv, matvecs);
  rep_num(&r->runs, secs);
  sb_append(&r->runs, " s in total; largest residual ");
  rep_num(&r->runs, worst);
  sb_append(&r->runs, ".");
  if (n > SOLVER_ROWS)
    sb_printf(&r->runs, " Showing %d of them: analyze and non-converged solves first, the rest "
              "evenly spaced.", SOLVER_ROWS);
  sb_append(&r->runs, "</p>\n<details><summary>solves</summary>\n"
            "<table class=\"data eigs\"><thead><tr><th>operator</th><th>source</th><th>step</th>"
            "<th>examples</th><th>top eigenvalues</th><th>bottom eigenvalues</th>"
            "<th>max residual</th><th>matvecs</th><th>time (s)</th><th>converged</th>"
            "</tr></thead><tbody>\n");
  char *pick = calloc(n ? n : 1, 1);
  if (!pick) {
    db_strs_free(&s);
    return err_set(err, CS_ENOMEM, "out of memory"), -1;
  }
  /* Choose rows: the post-hoc solves, then the unconverged ones (together up to half the
   * budget), the rest evenly spaced. */
  size_t budget = n < SOLVER_ROWS ? n : SOLVER_ROWS, used = 0;
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < n && used < budget / 2; i++) {
      char **v = s.v + NC * i;
      int want = pass ? v[C_CONV] && atoi(v[C_CONV]) == 0
                      : v[C_SRC] && !strcmp(v[C_SRC], "analyze");
      if (want && !pick[i]) pick[i] = 1, used++;
    }
  size_t rest = budget - used;
  for (size_t k = 0; k < rest && n; k++) {
    size_t i = rest == 1 ? 0 : k * (n - 1) / (rest - 1);
    if (!pick[i]) pick[i] = 1;
  }
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    if (!pick[i]) continue;
    char **v = s.v + NC * i;
    int conv = !v[C_CONV] || atoi(v[C_CONV]) != 0;
    sb_printf(&r->runs, "<tr%s><td>", conv ? "" : " class=\"bad\"");
    report_html_escape(&r->runs, v[C_OP]);
    sb_append(&r->runs, "</td><td>");
    source_cell(&r->runs, v[C_SRC]);
    sb_append(&r->runs, "</td><td>");
    report_html_escape(&r->runs, v[C_STEP]);
    sb_append(&r->runs, "</td><td>");
    report_html_escape(&r->runs, v[C_BATCH]);
    if (v[C_DRAW] && strcmp(v[C_DRAW], "0")) {
      sb_append(&r->runs, " (draw ");
      report_html_escape(&r->runs, v[C_DRAW]);
      sb_append(&r->runs, ")");
    }
    sb_append(&r->runs, "</td>");
    int64_t b[2] = {run->id, v[C_ID] ? strtoll(v[C_ID], NULL, 10) : 0};
    rc = solve_values(r, &r->runs, b, err);
    for (int c = C_RES; c <= C_WALL; c++) {
      sb_append(&r->runs, "<td>");
      rep_cell_num(&r->runs, v[c] ? strtod(v[c], NULL) : NAN);
      sb_append(&r->runs, "</td>");
    }
    sb_printf(&r->runs, "<td>%s</td></tr>\n", !v[C_CONV] ? "" : conv ? "yes" : "no");
  }
  sb_append(&r->runs, "</tbody></table></details>\n");
  rep_section_close(r);
  free(pick);
  db_strs_free(&s);
  return rc ? -1 : 0;
}
