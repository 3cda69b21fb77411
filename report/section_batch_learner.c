/*
 * section_batch_learner.c: the learner part of the batch-scaling report section (study
 * batch-scaling --learner, docs/BATCH.md): for a learner run, its learning rate and
 * momentum over training (metrics lr_learned, momentum_learned), and its training loss
 * beside the fixed-lr runs of its group (steps.loss, the step's mini-batch loss), with
 * the final whole-set losses and the comparison in a note. All SQL is fixed text with
 * int64 binds.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

#define LEARNER_SQL(name) \
  "(SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND name='" name "')"
#define MAX_FIXED 24

/* The fixed-lr runs of the learner run's group: bs_learner_final_loss, no lr_learned. */
static const char *fixed_sql =
    "SELECT r.id, (SELECT json_extract(r.config, '$.lr')) FROM runs r WHERE r.grp = "
    "(SELECT grp FROM runs WHERE id=?1) AND r.id != ?1 AND EXISTS (SELECT 1 FROM metrics m "
    "WHERE m.run_id=r.id AND m.name='bs_learner_final_loss') AND NOT EXISTS (SELECT 1 FROM "
    "metrics m WHERE m.run_id=r.id AND m.name='lr_learned') ORDER BY 2";

int section_batch_learner_emit(Report *r, const ReportRun *run, Err *err) {
  int has = rep_has_metric(r, run, "lr_learned", err);
  if (has <= 0) return has;
  char klr[96], kmo[96];
  if (rep_metric_ds(r, run, "lr_learned", klr, sizeof klr, err) < 0 ||
      rep_metric_ds(r, run, "momentum_learned", kmo, sizeof kmo, err) < 0)
    return -1;
  rep_chart_begin(r, &r->runs, "the learner: learning rate α and momentum ρ over training");
  sb_append(&r->charts, ",\"x\":\"step\",\"y\":\"α (solid), ρ (dashed)\",\"log\":1,\"lines\":[");
  int first = 1;
  rep_line_ref(&r->charts, &first, klr, "learning rate α");
  sb_append(&r->charts, "],\"dashed\":[");
  first = 1;
  rep_line_ref(&r->charts, &first, kmo, "momentum ρ");
  sb_append(&r->charts, "]");
  rep_chart_end(r);

  DbRows fx;
  if (db_query_rows(r->db, fixed_sql, &run->id, 1, &fx, err)) return -1;
  char keys[MAX_FIXED + 1][96], labels[MAX_FIXED + 1][64];
  size_t np = 0;
  int nk = 0;
  snprintf(keys[nk], sizeof keys[0], "r%lld.bsl.loss", (long long)run->id);
  if (rep_series(r, keys[nk], "SELECT step, loss FROM steps WHERE run_id=?1 ORDER BY step",
                 &run->id, 1, 0, &np, err)) {
    db_rows_free(&fx);
    return -1;
  }
  snprintf(labels[nk++], sizeof labels[0], "the learner (run %lld)", (long long)run->id);
  for (size_t i = 0; i < fx.nrow && nk <= MAX_FIXED; i++) {
    int64_t id = (int64_t)fx.v[i * fx.ncol];
    snprintf(keys[nk], sizeof keys[0], "r%lld.bsl.fixed%lld", (long long)run->id, (long long)id);
    if (rep_series(r, keys[nk], "SELECT step, loss FROM steps WHERE run_id=?1 ORDER BY step",
                   &id, 1, 0, &np, err)) {
      db_rows_free(&fx);
      return -1;
    }
    snprintf(labels[nk++], sizeof labels[0], "fixed lr %g (run %lld)", fx.v[i * fx.ncol + 1],
             (long long)id);
  }
  db_rows_free(&fx);
  rep_chart_begin(r, &r->runs, "training loss: the learner beside the fixed learning rates");
  sb_append(&r->charts, ",\"x\":\"step\",\"y\":\"mini-batch loss\",\"log\":1,\"lines\":[");
  first = 1;
  for (int i = 0; i < nk; i++) rep_line_ref(&r->charts, &first, keys[i], labels[i]);
  sb_append(&r->charts, "]");
  rep_chart_end(r);

  DbRows m;
  if (db_query_rows(r->db, "SELECT " LEARNER_SQL("bs_learner_final_loss") ", "
                    LEARNER_SQL("bs_learner_best_fixed_loss") ", "
                    LEARNER_SQL("bs_learner_best_fixed_lr") ", " LEARNER_SQL("bs_learner_excess"),
                    &run->id, 1, &m, err))
    return -1;
  if (m.nrow && isfinite(m.v[1])) {
    sb_append(&r->runs, "<p class=\"note\">Final whole-set training loss: the learner ");
    if (isfinite(m.v[0])) rep_cell_num(&r->runs, m.v[0]);
    else sb_append(&r->runs, "none (diverged)");
    sb_append(&r->runs, ", the best fixed learning rate (");
    rep_cell_num(&r->runs, m.v[2]);
    sb_append(&r->runs, ") ");
    rep_cell_num(&r->runs, m.v[1]);
    if (isfinite(m.v[3]))
      sb_printf(&r->runs, ": %+.1f%%, %s the issue's 10%%.</p>\n", 100 * m.v[3],
                m.v[3] <= 0.10 ? "within" : "not within");
    else
      sb_append(&r->runs, ": not within the issue's 10%.</p>\n");
  }
  db_rows_free(&m);
  return 1;
}
