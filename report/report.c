/*
 * report.c: report_write, the page skeleton, the run index and the comparison view.
 *
 * Order of work: choose the runs, read each run's summary, let every applicable
 * section (report_sections.c) emit its HTML, charts and datasets, add the comparison
 * charts per group, then assemble the file from the buffers: head and style, index,
 * comparison, run sections, the JSON data blob, the embedded scripts. The file is
 * written to OUTPUT.tmp and renamed, so a failed run never leaves half a report.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_assets.h"
#include "report_internal.h"

#ifndef CURVSCOPE_VERSION
#define CURVSCOPE_VERSION "dev"
#endif

int report_assets_check(Err *err) {
  if (report_assets_have_vendor) return CS_OK;
  return err_set(err, CS_ENOTFOUND,
                 "the charting library (vega, vega-lite, vega-embed) was not embedded in this "
                 "build: run scripts/setup_report.sh (or make setup), then rebuild");
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run_free(ReportRun *run) {
  free(run->name), free(run->study), free(run->grp), free(run->status);
  free(run->opt), free(run->batch), free(run->error), free(run->phase_op);
  memset(run, 0, sizeof *run);
}

int rep_run_is_adam(const ReportRun *run) { return run->opt && !strcmp(run->opt, "adam"); }

static char *take(char **v) {
  char *s = *v;
  *v = NULL;
  return s;
}

/* Which operator is held against the optimizer's threshold (eos_op) and which one the
 * EoS phases were computed from (phase_op): the phases' detail names it (study eos
 * writes it); without that, study eos's own rule: the preconditioned sharpness when the
 * run has a training series of it, the raw sharpness otherwise. */
static int run_operators(Report *r, ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db, "SELECT (SELECT 1 FROM phases WHERE run_id=?1 LIMIT 1), "
                    "(SELECT op FROM (SELECT start_step, CASE WHEN json_valid(detail) THEN "
                    "json_extract(detail, '$.operator') END AS op FROM phases WHERE run_id=?1) "
                    "WHERE op IS NOT NULL ORDER BY start_step LIMIT 1), "
                    "(SELECT 1 FROM eigs WHERE run_id=?1 AND operator='precond' AND idx=0 AND "
                    "source<>'analyze' LIMIT 1)", &run->id, 1, &s, err))
    return err->code;
  int phases = s.v[0] != NULL, precond = s.v[2] != NULL;
  if (phases) run->phase_op = s.v[1] ? take(&s.v[1]) : strdup(precond ? "precond" : "hessian");
  db_strs_free(&s);
  if (phases && !run->phase_op) return err_set(err, CS_ENOMEM, "out of memory");
  run->eos_op = rep_run_is_adam(run) ? (precond ? "precond" : NULL) : "hessian";
  return CS_OK;
}

static int run_load(Report *r, int64_t id, ReportRun *run, Err *err) {
  DbStrs s;
  memset(run, 0, sizeof *run);
  run->id = id;
  run->lr = NAN;
  if (db_query_strs(r->db, "SELECT name, study, grp, status, json_extract(config,'$.opt'), "
                    "CASE WHEN json_extract(config,'$.batch') IN (0, '0') THEN 'full' "
                    "ELSE json_extract(config,'$.batch') END, error, json_extract(config,'$.lr') "
                    "FROM runs WHERE id=?1", &id, 1, &s, err))
    return err->code;
  if (!s.nrow) {
    db_strs_free(&s);
    return err_set(err, CS_ENOTFOUND, "no run %lld in %s", (long long)id, db_path(r->db));
  }
  run->name = take(&s.v[0]), run->study = take(&s.v[1]), run->grp = take(&s.v[2]);
  run->status = take(&s.v[3]), run->opt = take(&s.v[4]), run->batch = take(&s.v[5]);
  run->error = take(&s.v[6]);
  if (s.v[7]) run->lr = strtod(s.v[7], NULL);
  db_strs_free(&s);
  return run_operators(r, run, err);
}

/* Chooses the run ids: the given ones (each must exist) or all, filtered by study. */
static int choose_runs(Report *r, const ReportOpts *o, int64_t **ids, size_t *n, Err *err) {
  DbStrs s;
  *ids = NULL;
  *n = 0;
  if (db_query_strs(r->db, "SELECT id, study FROM runs ORDER BY id", NULL, 0, &s, err))
    return err->code;
  int64_t *out = malloc((s.nrow + o->n_runs + 1) * sizeof *out);
  if (!out) {
    db_strs_free(&s);
    return err_set(err, CS_ENOMEM, "out of memory");
  }
  size_t m = 0;
  int rc = CS_OK;
  if (o->n_runs) {
    for (size_t k = 0; k < o->n_runs && !rc; k++) {
      size_t i;
      for (i = 0; i < s.nrow; i++)
        if (strtoll(s.v[2 * i], NULL, 10) == o->run_ids[k]) break;
      if (i == s.nrow) {
        rc = err_set(err, CS_ENOTFOUND, "no run %lld in %s", (long long)o->run_ids[k],
                     db_path(r->db));
      } else if (!o->study || (s.v[2 * i + 1] && !strcmp(s.v[2 * i + 1], o->study))) {
        size_t j;
        for (j = 0; j < m && out[j] != o->run_ids[k]; j++) {}
        if (j == m) out[m++] = o->run_ids[k];
      }
    }
  } else {
    for (size_t i = 0; i < s.nrow; i++)
      if (!o->study || (s.v[2 * i + 1] && !strcmp(s.v[2 * i + 1], o->study)))
        out[m++] = strtoll(s.v[2 * i], NULL, 10);
  }
  db_strs_free(&s);
  if (!rc && m == 0)
    rc = o->study ? err_set(err, CS_ENOTFOUND, "no runs of study '%s' in %s", o->study,
                            db_path(r->db))
                  : err_set(err, CS_ENOTFOUND, "no runs in %s", db_path(r->db));
  if (rc) {
    free(out);
    return rc;
  }
  *ids = out;
  *n = m;
  return CS_OK;
}

static void run_label(StrBuf *b, const ReportRun *run) {
  if (run->name && *run->name)
    sb_append(b, run->name);
  else
    sb_printf(b, "run %lld", (long long)run->id);
}

/* ---- index ------------------------------------------------------------------------ */

/* The index's columns, with a tooltip (title attribute) where the name needs one. */
static const struct { const char *name, *tip; } index_cols[] = {
    {"id", NULL}, {"name", NULL}, {"study", NULL}, {"group", NULL}, {"status", NULL},
    {"optimizer", NULL}, {"η", NULL}, {"batch", NULL}, {"steps", NULL}, {"final loss", NULL},
    {"best loss", NULL}, {"final test loss", NULL}, {"final acc", NULL},
    {"final test acc", NULL},
    {"max sharpness", "largest λ1 of the Hessian H"},
    {"max preconditioned sharpness", "largest λ1 of P^-1/2 H P^-1/2, Adam's preconditioned "
                                     "Hessian"},
    {"EoS onset", "first step at the stability threshold (Adam: the preconditioned sharpness "
                  "at Adam's threshold)"},
};

static void cell_text(StrBuf *b, const char *s) {
  sb_append(b, "<td>");
  report_html_escape(b, s);
  sb_append(b, "</td>");
}

static void cell_num(StrBuf *b, const char *s) {
  double v = s ? strtod(s, NULL) : NAN;
  if (isfinite(v)) {
    sb_printf(b, "<td class=\"num\" data-v=\"%.17g\">", v);
    rep_cell_num(b, v);
    sb_append(b, "</td>");
  } else {
    sb_append(b, "<td class=\"num\"></td>");
  }
}

static int index_row(Report *r, StrBuf *b, const ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db, "SELECT steps, final_loss, best_loss, final_test_loss, "
                    "final_accuracy, final_test_accuracy, max_sharpness, "
                    "max_precond_sharpness, eos_onset "
                    "FROM run_summary WHERE id=?1", &run->id, 1, &s, err))
    return err->code;
  sb_printf(b, "<tr><td class=\"num\" data-v=\"%lld\">%lld</td><td><a href=\"#run-%lld\">",
            (long long)run->id, (long long)run->id, (long long)run->id);
  StrBuf l;
  sb_init(&l);
  run_label(&l, run);
  report_html_escape(b, l.p);
  sb_free(&l);
  sb_append(b, "</a></td>");
  cell_text(b, run->study);
  cell_text(b, run->grp);
  sb_printf(b, "<td class=\"st-%s\">", run->status && !strcmp(run->status, "finished") ? "ok"
                                          : "other");
  report_html_escape(b, run->status);
  sb_append(b, "</td>");
  cell_text(b, run->opt);
  char lr[40] = "";
  if (isfinite(run->lr)) snprintf(lr, sizeof lr, "%.17g", run->lr);
  cell_num(b, lr[0] ? lr : NULL);
  cell_text(b, run->batch);
  for (int c = 0; c < 9; c++) cell_num(b, s.nrow ? s.v[c] : NULL);
  sb_append(b, "</tr>\n");
  db_strs_free(&s);
  return CS_OK;
}

/* ---- comparison view --------------------------------------------------------------- */

/* Writes dataset r<id>.ratio once: λ1 of the run's eos_op over the training series,
 * divided by the threshold recorded at the same step (sharpness_threshold, or
 * precond_threshold for Adam), so 1 is the edge of stability for every optimizer.
 * Returns 1 when the run has it, 0 when not, -1 on error. */
static int ratio_ds(Report *r, ReportRun *run, Err *err) {
  if (run->ratio) return run->ratio > 0;
  run->ratio = -1;
  if (!run->eos_op) return 0;
  int pre = !strcmp(run->eos_op, "precond");
  char q[512], key[64];
  snprintf(q, sizeof q, "SELECT e.step, e.value / m.value FROM eigs e JOIN metrics m ON "
           "m.run_id=?1 AND m.step=e.step AND m.name='%s' AND m.value>0 WHERE e.run_id=?1 AND "
           "e.operator='%s' AND e.idx=0 AND e.source<>'analyze' ORDER BY e.step, "
           "e.batch_size DESC", pre ? "precond_threshold" : "sharpness_threshold", run->eos_op);
  snprintf(key, sizeof key, "r%lld.ratio", (long long)run->id);
  size_t n;
  if (rep_series(r, key, q, &run->id, 1, REP_X_INT | REP_FIRST_PER_X, &n, err)) return -1;
  if (n) run->ratio = 1;
  return n > 0;
}

static int in_group(const ReportRun *run, const char *grp) {
  return !grp || (run->grp && !strcmp(run->grp, grp));
}

/* The comparison charts, in order: λ1 / threshold, train loss, test loss, test accuracy. */
enum { CMP_RATIO, CMP_LOSS, CMP_TEST_LOSS, CMP_TEST_ACC, CMP_KINDS };

static int compare_has(const ReportRun *run, int kind) {
  switch (kind) {
    case CMP_RATIO: return run->ratio > 0;
    case CMP_LOSS: return run->has_loss;
    case CMP_TEST_LOSS: return run->has_test_loss;
    default: return run->has_test_acc;
  }
}

/* The comparison of one group (grp NULL: the chosen runs): what differs and how it
 * ended (report_compare_table), then the charts that at least two of its runs have. */
static int compare_group(Report *r, StrBuf *b, const char *grp, ReportRun *runs, size_t n,
                         Err *err) {
  size_t members = 0, pre = 0, count[CMP_KINDS] = {0};
  for (size_t i = 0; i < n; i++)
    members += in_group(runs + i, grp);
  if (members < 2) return 0;
  ReportRun **m = malloc(members * sizeof *m);
  if (!m) return err_set(err, CS_ENOMEM, "out of memory"), -1;
  members = 0;
  for (size_t i = 0; i < n; i++) {
    if (!in_group(runs + i, grp)) continue;
    m[members++] = runs + i;
    int has = ratio_ds(r, runs + i, err);
    if (has < 0) return free(m), -1;
    pre += has && !strcmp(runs[i].eos_op, "precond");
    for (int k = 0; k < CMP_KINDS; k++) count[k] += compare_has(runs + i, k) > 0;
  }
  if (count[CMP_RATIO] < 2 && count[CMP_LOSS] < 2) return free(m), 0;
  sb_append(b, "<section class=\"group\"><h3>");
  if (grp) {
    sb_append(b, "group ");
    report_html_escape(b, grp);
  } else {
    sb_append(b, "chosen runs");
  }
  sb_printf(b, " <small>(%zu runs)</small></h3>\n", members);
  if (report_compare_table(r, b, m, members, err)) return free(m), -1;
  sb_append(b, "<div class=\"row\">\n");
  static const char *const titles[CMP_KINDS] = {NULL, "train loss", "test loss",
                                                "test accuracy"};
  static const char *const desc[CMP_KINDS] = {
      ",\"y\":\"λ1 / threshold\",\"hrule\":1,\"lines\":[", ",\"y\":\"loss\",\"log\":1,\"lines\":[",
      ",\"y\":\"test loss\",\"log\":1,\"lines\":[", ",\"y\":\"test accuracy\",\"lines\":["};
  static const char *const keys[CMP_KINDS] = {"r%lld.ratio", "r%lld.loss", "r%lld.m.test_loss",
                                              "r%lld.m.test_accuracy"};
  for (int kind = 0; kind < CMP_KINDS; kind++) {
    if (count[kind] < 2) continue;
    if (kind == CMP_RATIO)
      rep_chart_begin(r, b, pre == 0 ? "sharpness / stability threshold (1 = edge of stability)"
                            : pre == count[CMP_RATIO] ? "preconditioned sharpness / Adam's "
                                                        "threshold (1 = edge of stability)"
                                           : "sharpness, or preconditioned sharpness for Adam, "
                                             "/ its threshold (1 = edge of stability)");
    else
      rep_chart_begin(r, b, titles[kind]);
    sb_append(&r->charts, desc[kind]);
    int first = 1;
    for (size_t i = 0; i < members; i++) {
      ReportRun *run = m[i];
      if (compare_has(run, kind) <= 0) continue;
      char key[64];
      StrBuf l;
      sb_init(&l);
      run_label(&l, run);
      if (isfinite(run->lr)) {
        sb_append(&l, " (η=");
        rep_num(&l, run->lr);
        sb_append(&l, ")");
      }
      if (kind == CMP_RATIO && !strcmp(run->eos_op, "precond")) sb_append(&l, ", preconditioned");
      snprintf(key, sizeof key, keys[kind], (long long)run->id);
      rep_line_ref(&r->charts, &first, key, l.p);
      sb_free(&l);
    }
    sb_append(&r->charts, "]");
    rep_chart_end(r);
  }
  sb_append(b, "</div></section>\n");
  free(m);
  return 0;
}

static int compare_view(Report *r, StrBuf *b, ReportRun *runs, size_t n, int chosen, Err *err) {
  size_t before = b->len;
  sb_append(b, "<section id=\"compare\"><h2>Comparison</h2>\n");
  size_t head = b->len;
  for (size_t i = 0; i < n; i++) {
    if (!runs[i].grp) continue;
    size_t j;
    for (j = 0; j < i && !(runs[j].grp && !strcmp(runs[j].grp, runs[i].grp)); j++) {}
    if (j == i && compare_group(r, b, runs[i].grp, runs, n, err)) return err->code;
  }
  if (chosen && compare_group(r, b, NULL, runs, n, err)) return err->code;
  if (b->len == head) {
    b->len = before; /* nothing to compare: drop the heading */
    if (b->p) b->p[before] = '\0';
  } else {
    sb_append(b, "</section>\n");
  }
  return CS_OK;
}

/* ---- assembly ------------------------------------------------------------------------ */

static int write_all(FILE *f, const char *p, size_t n) { return fwrite(p, 1, n, f) == n; }

static int write_file(const char *path, StrBuf *parts[], size_t nparts, size_t *bytes, Err *err) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 5);
  if (!tmp) return err_set(err, CS_ENOMEM, "out of memory");
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    free(tmp);
    return err_set(err, CS_EIO, "cannot write %s", path);
  }
  int ok = 1;
  *bytes = 0;
  for (size_t i = 0; i < nparts; i++) {
    ok = ok && write_all(f, parts[i]->p ? parts[i]->p : "", parts[i]->len);
    *bytes += parts[i]->len;
  }
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    free(tmp);
    return err_set(err, CS_EIO, "cannot write %s", path);
  }
  free(tmp);
  return CS_OK;
}

static void head_html(StrBuf *b, const ReportOpts *o, Db *db, size_t nruns) {
  const char *title = o->title ? o->title : "curvscope report";
  char when[64] = "";
  time_t t = time(NULL);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
  sb_append(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<title>");
  report_html_escape(b, title);
  sb_append(b, "</title>\n<style>\n");
  sb_append_n(b, report_asset_css, report_asset_css_len);
  sb_append(b, "</style></head>\n<body>\n<header><h1>");
  report_html_escape(b, title);
  sb_append(b, "</h1><p>");
  sb_printf(b, "%zu run%s from <code>", nruns, nruns == 1 ? "" : "s");
  report_html_escape(b, db_path(db));
  sb_printf(b, "</code>, written %s by curvscope %s.", when, CURVSCOPE_VERSION);
  sb_append(b, " <span id=\"cs-status\" class=\"note\">charts load as you scroll.</span>"
               "</p></header>\n<main>\n");
}

int report_write(Db *db, const ReportOpts *o, ReportStats *stats, Err *err) {
  double t0 = now_s();
  int rc = report_assets_check(err);
  if (rc) return rc;
  if (!o || !o->output) return err_set(err, CS_EINVAL, "no output path for the report");

  Report r;
  memset(&r, 0, sizeof r);
  r.db = db;
  StrBuf head, index, cmp, tail;
  sb_init(&head), sb_init(&index), sb_init(&cmp), sb_init(&tail);
  int64_t *ids = NULL;
  size_t n = 0;
  ReportRun *runs = NULL;
  if ((rc = choose_runs(&r, o, &ids, &n, err))) goto done;
  r.max_points = o->max_points;
  if (!r.max_points) {
    r.max_points = 50000 / n;
    if (r.max_points < 400) r.max_points = 400;
    if (r.max_points > 2000) r.max_points = 2000;
  }
  if (r.max_points < 4) r.max_points = 4;
  r.keep = malloc(r.max_points * sizeof *r.keep);
  runs = calloc(n, sizeof *runs);
  if (!r.keep || !runs) {
    rc = err_set(err, CS_ENOMEM, "out of memory");
    goto done;
  }

  /* Per-run sections. */
  for (size_t i = 0; i < n; i++) {
    ReportRun *run = runs + i;
    if ((rc = run_load(&r, ids[i], run, err))) goto done;
    sb_printf(&r.runs, "<section class=\"run\" id=\"run-%lld\"><h2>", (long long)run->id);
    StrBuf l;
    sb_init(&l);
    run_label(&l, run);
    sb_printf(&r.runs, "<span class=\"rid\">#%lld</span> ", (long long)run->id);
    report_html_escape(&r.runs, l.p);
    sb_free(&l);
    sb_append(&r.runs, "</h2>\n<p class=\"meta\">");
    const char *lab[] = {"study", "group", "status", "optimizer", "batch"};
    const char *val[] = {run->study, run->grp, run->status, run->opt, run->batch};
    for (int k = 0; k < 5; k++) {
      if (!val[k]) continue;
      sb_printf(&r.runs, "%s <b>", lab[k]);
      report_html_escape(&r.runs, val[k]);
      sb_append(&r.runs, "</b> · ");
    }
    if (isfinite(run->lr)) {
      sb_append(&r.runs, "η <b>");
      rep_num(&r.runs, run->lr);
      sb_append(&r.runs, "</b> · ");
    }
    sb_append(&r.runs, "<a href=\"#index\">index</a></p>\n");
    if (run->error) {
      sb_append(&r.runs, "<p class=\"error\">");
      report_html_escape(&r.runs, run->error);
      sb_append(&r.runs, "</p>\n");
    }
    for (size_t k = 0; k < report_n_sections; k++) {
      const ReportSection *sec = report_sections + k;
      int yes = sec->applies(&r, run, err);
      if (yes < 0 || (yes && sec->emit(&r, run, err))) {
        rc = err->code ? err->code : CS_EDB;
        err_prefix(err, "report section %s of run %lld", sec->name, (long long)run->id);
        goto done;
      }
    }
    sb_append(&r.runs, "</section>\n");
  }

  /* Index. */
  sb_append(&index, "<section id=\"index\"><h2>Runs</h2>\n<p><input id=\"cs-filter\" "
                    "type=\"search\" placeholder=\"filter runs…\" aria-label=\"filter runs\"> "
                    "<span id=\"cs-count\"></span></p>\n<table id=\"cs-runs\" class=\"data "
                    "sortable\"><thead><tr>");
  for (size_t c = 0; c < sizeof index_cols / sizeof index_cols[0]; c++) {
    if (index_cols[c].tip)
      sb_printf(&index, "<th title=\"%s\">%s</th>", index_cols[c].tip, index_cols[c].name);
    else
      sb_printf(&index, "<th>%s</th>", index_cols[c].name);
  }
  sb_append(&index, "</tr></thead><tbody>\n");
  for (size_t i = 0; i < n; i++)
    if ((rc = index_row(&r, &index, runs + i, err))) goto done;
  sb_append(&index, "</tbody></table>\n</section>\n");

  if ((rc = compare_view(&r, &cmp, runs, n, o->n_runs > 1, err))) goto done;

  head_html(&head, o, db, n);
  sb_append(&tail, "</main>\n<script type=\"application/json\" id=\"cs-data\">{\"charts\":{");
  sb_append_n(&tail, r.charts.p ? r.charts.p : "", r.charts.len);
  sb_append(&tail, "},\"ds\":{");
  sb_append_n(&tail, r.ds.p ? r.ds.p : "", r.ds.len);
  sb_append(&tail, "}}</script>\n<script>");
  sb_append_n(&tail, report_asset_vega, report_asset_vega_len);
  sb_append(&tail, "</script>\n<script>");
  sb_append_n(&tail, report_asset_vega_lite, report_asset_vega_lite_len);
  sb_append(&tail, "</script>\n<script>");
  sb_append_n(&tail, report_asset_vega_embed, report_asset_vega_embed_len);
  sb_append(&tail, "</script>\n<script>");
  sb_append_n(&tail, report_asset_js, report_asset_js_len);
  sb_append(&tail, "</script>\n</body></html>\n");
  if (head.oom || index.oom || cmp.oom || r.runs.oom || r.charts.oom || r.ds.oom || tail.oom) {
    rc = err_set(err, CS_ENOMEM, "out of memory building the report");
    goto done;
  }
  StrBuf *parts[] = {&head, &index, &cmp, &r.runs, &tail};
  if ((rc = write_file(o->output, parts, 5, &r.st.bytes, err))) goto done;
  r.st.runs = n;
  r.st.charts = r.nchart;
  r.st.seconds = now_s() - t0;
  if (stats) *stats = r.st;

done:
  for (size_t i = 0; runs && i < n; i++) run_free(runs + i);
  free(runs);
  free(ids);
  free(r.keep), free(r.scratch), free(r.brk);
  sb_free(&r.runs), sb_free(&r.charts), sb_free(&r.ds);
  sb_free(&head), sb_free(&index), sb_free(&cmp), sb_free(&tail);
  return rc;
}
