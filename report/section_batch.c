/*
 * section_batch.c: the report section of a batch-scaling run (curvscope study
 * batch-scaling, docs/BATCH.md): λmax of every mini-batch draw against B on log-log
 * axes with the mean λ̄(B), the whole set's λ_N and the power-law fit
 * λ_N + c·(1/B − 1/N)^a, for the Hessian and, when measured, the Gauss-Newton matrix;
 * then α_max(B): the stability grid's η_max for SGD and Adam against the predictions
 * 2/λ̄(B) and 2/λ̄_precond(B); for a learner run (--learner) the learner's part
 * (section_batch_learner.c). All SQL is fixed text with int64 binds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define FIT_POINTS 48 /* points of the fitted curve, log-spaced in B */

int section_batch_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM series WHERE run_id=?1 AND step=-1 AND "
                    "name IN ('bs_lambda_mean', 'bs_ggn_lambda_mean') UNION ALL SELECT 1 FROM "
                    "metrics WHERE run_id=?1 AND step=-1 AND name='bs_learner_best_fixed_loss' LIMIT 1",
                    run->id, err);
}

/* The per-size series `name` against bs_batch_sizes (fixed names). */
#define SIZE_SQL(name) \
  "SELECT b.value, s.value FROM series b JOIN series s ON s.run_id=b.run_id AND s.step=-1 " \
  "AND s.idx=b.idx AND s.name='" name "' WHERE b.run_id=?1 AND b.step=-1 AND " \
  "b.name='bs_batch_sizes' ORDER BY b.value"
#define METRIC_SQL(name) \
  "(SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND name='" name "')"

/* One operator's names: the Hessian's (bs_*) or the Gauss-Newton matrix's (bs_ggn_*). */
typedef struct BatchOp {
  const char *tag, *what;
  const char *draws_sql, *mean_sql, *fit_sql;
} BatchOp;

static const BatchOp batch_ops[] = {
    {"h", "Hessian",
     "SELECT batch_size, value FROM eigs WHERE run_id=?1 AND source='batch-scaling' AND "
     "operator='batch' AND idx=0 ORDER BY batch_size, draw",
     SIZE_SQL("bs_lambda_mean"),
     "SELECT " METRIC_SQL("bs_lambda_full") ", " METRIC_SQL("bs_hessian_coef") ", "
     METRIC_SQL("bs_hessian_exponent") ", " METRIC_SQL("bs_n") ", "
     METRIC_SQL("bs_hessian_fit_r2")},
    {"g", "Gauss-Newton matrix",
     "SELECT batch_size, value FROM eigs WHERE run_id=?1 AND source='batch-scaling' AND "
     "operator='batch-ggn' AND idx=0 ORDER BY batch_size, draw",
     SIZE_SQL("bs_ggn_lambda_mean"),
     "SELECT " METRIC_SQL("bs_ggn_lambda_full") ", " METRIC_SQL("bs_ggn_coef") ", "
     METRIC_SQL("bs_ggn_exponent") ", " METRIC_SQL("bs_n") ", " METRIC_SQL("bs_ggn_fit_r2")},
};

/* The fitted λ_N + c·(1/B − 1/N)^a from B = lo to just below N (log-spaced), dataset key.
 * 1 if written. */
static int fit_curve(Report *r, const char *key, double lN, double c, double a, double N,
                     double lo) {
  if (!isfinite(lN) || !isfinite(c) || !isfinite(a) || !(N > lo) || !(lo >= 1)) return 0;
  double x[FIT_POINTS], y[FIT_POINTS], hi = N * (1 - 1e-3);
  for (int i = 0; i < FIT_POINTS; i++) {
    x[i] = lo * pow(hi / lo, (double)i / (FIT_POINTS - 1));
    y[i] = lN + c * pow(1 / x[i] - 1 / N, a);
  }
  rep_dataset(r, key, x, y, NULL, FIT_POINTS, REP_CURVE);
  return 1;
}

/* λmax of every draw, λ̄(B) and the fit for one operator. */
static int lambda_chart(Report *r, const ReportRun *run, const BatchOp *op, Err *err) {
  char kd[96], km[96], kf[96];
  snprintf(kd, sizeof kd, "r%lld.bs.%s.draws", (long long)run->id, op->tag);
  snprintf(km, sizeof km, "r%lld.bs.%s.mean", (long long)run->id, op->tag);
  snprintf(kf, sizeof kf, "r%lld.bs.%s.fit", (long long)run->id, op->tag);
  size_t nd = 0, nm = 0;
  if (rep_series(r, kd, op->draws_sql, &run->id, 1, REP_SCATTER, &nd, err) ||
      rep_series(r, km, op->mean_sql, &run->id, 1, REP_SCATTER, &nm, err))
    return -1;
  if (!nd && !nm) return 0;
  DbRows m, lo;
  if (db_query_rows(r->db, op->fit_sql, &run->id, 1, &m, err)) return -1;
  if (db_query_rows(r->db, "SELECT min(value) FROM series WHERE run_id=?1 AND step=-1 AND "
                    "name='bs_batch_sizes'", &run->id, 1, &lo, err)) {
    db_rows_free(&m);
    return -1;
  }
  double lN = m.nrow ? m.v[0] : NAN, a = m.nrow ? m.v[2] : NAN, r2 = m.nrow ? m.v[4] : NAN;
  int fit = m.nrow && lo.nrow && fit_curve(r, kf, lN, m.v[1], a, m.v[3], lo.v[0]);
  StrBuf t;
  sb_init(&t);
  sb_printf(&t, "λmax of mini-batch %s against batch size B (every draw, the mean, the fit)",
            op->what);
  rep_chart_begin(r, &r->runs, t.p);
  sb_append(&r->charts, ",\"x\":\"batch size B\",\"y\":\"λmax(H_B)\",\"log\":1,\"logx\":1");
  if (isfinite(lN)) {
    sb_append(&r->charts, ",\"hrule\":");
    sb_json_num(&r->charts, lN);
  }
  sb_append(&r->charts, ",\"lines\":[");
  int first = 1;
  if (nd) rep_line_ref(&r->charts, &first, kd, "λmax of each draw");
  if (nm) rep_line_ref(&r->charts, &first, km, "mean λ̄(B)");
  sb_append(&r->charts, "],\"dashed\":[");
  first = 1;
  sb_reset(&t);
  if (fit) {
    sb_printf(&t, "fit λ_N + c(1/B − 1/N)^a, a = %.3g, R² = %.3g", a, r2);
    rep_line_ref(&r->charts, &first, kf, t.p);
  }
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  sb_free(&t);
  sb_append(&r->runs, "<p class=\"note\">The dashed rule is the whole set's λ_N");
  if (isfinite(lN)) sb_printf(&r->runs, " = %.4g", lN);
  sb_append(&r->runs, "; draws are without replacement, so the excess over it vanishes at "
            "B = N.</p>\n");
  db_rows_free(&m), db_rows_free(&lo);
  return 1;
}

/* A slope for the note: "—" when it was not fitted. */
static void slope_cell(StrBuf *b, double v) {
  if (isfinite(v)) rep_cell_num(b, v);
  else sb_append(b, "—");
}

/* The stability grid's η_max against the predictions. */
static int lr_chart(Report *r, const ReportRun *run, Err *err) {
  static const struct { const char *tag, *sql, *label; int dashed; } s[] = {
      {"sgd", SIZE_SQL("bs_lr_max_sgd"), "SGD: measured η_max", 0},
      {"adam", SIZE_SQL("bs_lr_max_adam"), "Adam: measured η_max", 0},
      {"psgd", SIZE_SQL("bs_lr_pred"), "SGD: predicted 2/λ̄(B)", 1},
      {"padam", SIZE_SQL("bs_lr_pred_adam"), "Adam: predicted 2/λ̄_precond(B)", 1},
  };
  char key[4][96];
  size_t n[4] = {0};
  for (int i = 0; i < 4; i++) {
    snprintf(key[i], sizeof key[i], "r%lld.bs.lr.%s", (long long)run->id, s[i].tag);
    if (rep_series(r, key[i], s[i].sql, &run->id, 1, s[i].dashed ? REP_CURVE : REP_SCATTER,
                   &n[i], err))
      return -1;
  }
  if (!n[0] && !n[1] && !n[2] && !n[3]) return 0;
  rep_chart_begin(r, &r->runs, "largest stable learning rate α_max(B): measured against predicted");
  sb_append(&r->charts, ",\"x\":\"batch size B\",\"y\":\"learning rate\",\"log\":1,\"logx\":1,"
            "\"lines\":[");
  int first = 1;
  for (int i = 0; i < 2; i++)
    if (n[i]) rep_line_ref(&r->charts, &first, key[i], s[i].label);
  sb_append(&r->charts, "],\"dashed\":[");
  first = 1;
  for (int i = 2; i < 4; i++)
    if (n[i]) rep_line_ref(&r->charts, &first, key[i], s[i].label);
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  DbRows m;
  if (db_query_rows(r->db, "SELECT " METRIC_SQL("bs_lr_exponent_sgd") ", "
                    METRIC_SQL("bs_lr_exponent_adam") ", " METRIC_SQL("bs_lr_pred_exponent") ", "
                    METRIC_SQL("bs_lr_pred_adam_exponent"), &run->id, 1, &m, err))
    return -1;
  if (m.nrow) {
    sb_append(&r->runs, "<p class=\"note\">Log-log slopes of η_max against B below saturation: "
              "SGD ");
    slope_cell(&r->runs, m.v[0]);
    sb_append(&r->runs, " (the paper: 1), Adam ");
    slope_cell(&r->runs, m.v[1]);
    sb_append(&r->runs, " (the paper: ½); of the predictions over the same sizes: 2/λ̄ ");
    slope_cell(&r->runs, m.v[2]);
    sb_append(&r->runs, ", 2/λ̄_precond ");
    slope_cell(&r->runs, m.v[3]);
    sb_append(&r->runs, " (— : fewer than two sizes below saturation). Sizes outside the grid, "
              "or whose ladder found no threshold, have no measured point.</p>\n");
  }
  db_rows_free(&m);
  return 1;
}

int section_batch_emit(Report *r, ReportRun *run, Err *err) {
  rep_section_open(r, run, "batch", "Batch size: mini-batch curvature and learning rates");
  int rc = 0;
  for (size_t i = 0; i < sizeof batch_ops / sizeof *batch_ops && rc >= 0; i++)
    rc = lambda_chart(r, run, &batch_ops[i], err);
  if (rc >= 0) rc = lr_chart(r, run, err);
  if (rc >= 0) rc = section_batch_learner_emit(r, run, err);
  rep_section_close(r);
  return rc < 0 ? -1 : 0;
}
