/*
 * report_internal.h: the state shared by report.c and the section emitters.
 *
 * The page is assembled from buffers: the run sections' HTML (runs), and the JSON
 * blob (data) holding chart descriptors ("charts") and downsampled series ("ds").
 * A chart is a <div class="chart" id=...> in the HTML plus a descriptor that
 * report.js turns into a Vega-Lite spec. Series are columnar: "key":[[x...],[y...]].
 *
 * Adding a study's section: write `applies` and `emit` in a new file and add one line
 * to report_sections[] (report_sections.c); nothing else changes.
 */
#ifndef CS_REPORT_INTERNAL_H
#define CS_REPORT_INTERNAL_H

#include "db/db_json.h"
#include "report.h"

typedef struct ReportRun {
  int64_t id;
  char *name, *study, *grp, *status, *opt, *batch, *error; /* NULL when absent */
  double lr;                                              /* NAN when absent */
  /* The operator whose top eigenvalue is held against the optimizer's stability
   * threshold: "precond" (P^-1/2 H P^-1/2) for Adam when measured, "hessian" for the
   * others; NULL when there is none (an Adam run without the precond probe). */
  const char *eos_op;
  char *phase_op;   /* operator the EoS phases were computed from; NULL: no phases */
  int has_loss;     /* dataset r<id>.loss was written */
  int has_test_loss, has_test_acc; /* datasets r<id>.m.test_loss, r<id>.m.test_accuracy */
  int ratio;        /* dataset r<id>.ratio (λ1 / threshold): 0 not yet read, 1 written, -1 none */
} ReportRun;

/* 1 when the run was trained with Adam. */
int rep_run_is_adam(const ReportRun *run);

typedef struct Report {
  Db *db;
  StrBuf runs;       /* HTML of the per-run sections */
  StrBuf charts;     /* JSON members "cN":{...} of data.charts, comma-separated */
  StrBuf ds;         /* JSON members "key":[[x],[y]] of data.ds, comma-separated */
  size_t max_points;
  size_t nchart;
  ReportStats st;
  size_t *keep;      /* scratch for report_downsample, max_points */
  double *scratch;   /* scratch for report_series_mark, scratch_n + 1 */
  size_t *brk;       /* and its breaks */
  size_t scratch_n;
} Report;

/* One section of a run: applies() returns 1 when the run has its data, 0 when not,
 * -1 on error (err filled); emit() appends its HTML to r->runs (and charts/datasets). */
typedef struct ReportSection {
  const char *name;   /* id suffix and CSS class: "training", "sharpness", ... */
  const char *title;  /* heading */
  int (*applies)(Report *r, const ReportRun *run, Err *err);
  int (*emit)(Report *r, ReportRun *run, Err *err);
} ReportSection;

extern const ReportSection report_sections[];
extern const size_t report_n_sections;

/* The eigenvalue sections (section_eigs.c). */
int section_precond_applies(Report *r, const ReportRun *run, Err *err);
int section_precond_emit(Report *r, ReportRun *run, Err *err);
int section_sharpness_applies(Report *r, const ReportRun *run, Err *err);
int section_sharpness_emit(Report *r, ReportRun *run, Err *err);
int section_solver_applies(Report *r, const ReportRun *run, Err *err);
int section_solver_emit(Report *r, ReportRun *run, Err *err);
/* The spectral-bias section (section_spectral.c). */
int spectral_section_applies(Report *r, const ReportRun *run, Err *err);
int spectral_section_emit(Report *r, ReportRun *run, Err *err);

/* The PC-bias study's section (section_pcbias.c). */
int section_pcbias_applies(Report *r, const ReportRun *run, Err *err);
int section_pcbias_emit(Report *r, ReportRun *run, Err *err);
/* The Stein study's section (section_stein.c). */
int section_stein_applies(Report *r, const ReportRun *run, Err *err);
int section_stein_emit(Report *r, ReportRun *run, Err *err);
/* The batch-scaling study's section (section_batch.c). */
int section_batch_applies(Report *r, const ReportRun *run, Err *err);
int section_batch_emit(Report *r, ReportRun *run, Err *err);
/* The learner's charts of a --learner run (0: not one; -1: error). */
int section_batch_learner_emit(Report *r, const ReportRun *run, Err *err);

/* The NTK study's section (section_ntk.c). */
int section_ntk_applies(Report *r, const ReportRun *run, Err *err);
int section_ntk_emit(Report *r, ReportRun *run, Err *err);
/* The relu-kinks study's section (section_kinks.c). */
int section_kinks_applies(Report *r, const ReportRun *run, Err *err);
int section_kinks_emit(Report *r, ReportRun *run, Err *err);
/* The frequency-principle study's section (section_freqp.c). */
int section_freqp_applies(Report *r, const ReportRun *run, Err *err);
int section_freqp_emit(Report *r, ReportRun *run, Err *err);

/* The comparison's table of the m runs (compare_config.c): the configuration keys that
 * differ, then final train loss, test loss and test accuracy; configuration cells that
 * differ from the first run's marked class "diff". Appends to b; 0, or -1 with err filled. */
int report_compare_table(Report *r, StrBuf *b, ReportRun *const *runs, size_t m, Err *err);
/* The members of run `id`'s configuration object, by key: rows of (key, value, type) as
 * SQLite's json_each gives them. 0, or -1 with err filled. */
int rep_config_members(Report *r, int64_t id, DbStrs *kv, Err *err);

/* ---- helpers (report_util.c) ---------------------------------------------- */

/* 1 if the query (binds: the run id first) returns any row, 0 if none, -1 on error. */
int rep_exists(Report *r, const char *sql, int64_t run, Err *err);

/* Flags of a dataset: x written as integers (steps); post-hoc values (drawn as
 * checkpoint points, never joined); of rows with the same x, only the first (a query
 * ordered by step and then by preference, e.g. batch_size DESC). */
#define REP_X_INT 1
#define REP_POSTHOC 2
#define REP_FIRST_PER_X 4
/* The caller chooses the mark: REP_SCATTER points only, in any x order (a scatter);
 * REP_CURVE a line through every point, whatever their spacing (a fit, a theory curve). */
#define REP_SCATTER 8
#define REP_CURVE 16

/* Reads (x, y) or (x, y, e) from a query with int64 binds (e: the ± standard error of
 * y, drawn as error bars), chooses the series' mark (report_series_mark), downsamples
 * and writes dataset `key`: {"mark", "brk" (x where the line breaks, if any), "x", "y",
 * "e"}. *npoints gets the count read (0: nothing written, the series was empty or all
 * NULL). */
int rep_series(Report *r, const char *key, const char *sql, const int64_t *binds, int nb,
               int flags, size_t *npoints, Err *err);
/* Writes dataset `key` from arrays (e may be NULL); as rep_series. */
void rep_dataset(Report *r, const char *key, const double *x, const double *y, const double *e,
                 size_t n, int flags);

/* Writes the dataset of metric `name` (steps >= 0) as r<id>.m.<name> (the key into
 * key[keysz]), with metric `se_name` at the same steps as its ± standard error when
 * se_name is not NULL. Both names are fixed text of the caller, never from the database.
 * Returns 1 if written, 0 if the run has no such metric, -1 on error. */
int rep_metric_se_ds(Report *r, const ReportRun *run, const char *name, const char *se_name,
                     char *key, size_t keysz, Err *err);
int rep_metric_ds(Report *r, const ReportRun *run, const char *name, char *key, size_t keysz,
                  Err *err);
/* 1 if the run has metric `name` (fixed text) at some step >= 0, 0 if not, -1 on error. */
int rep_has_metric(Report *r, const ReportRun *run, const char *name, Err *err);

/* Appends a series reference ["key","label"] to a chart's list (*first: none yet). */
void rep_line_ref(StrBuf *b, int *first, const char *key, const char *label);

/* Opens and closes a run's sub-section <section class="sub NAME" id="run-ID-NAME">. */
void rep_section_open(Report *r, const ReportRun *run, const char *name, const char *title);
void rep_section_close(Report *r);

/* Starts a chart: appends <div class="chart" id="cN"> to html and opens the descriptor
 * `"cN":{` in r->charts (caller appends members, then rep_chart_end). */
void rep_chart_begin(Report *r, StrBuf *html, const char *title);
void rep_chart_end(Report *r);

/* Appends JSON text pretty-printed (2-space indent) and HTML-escaped. Invalid JSON
 * is appended escaped as it is. */
void rep_json_pretty_html(StrBuf *b, const char *json);

/* Formats a number for a table cell (rep_num; "" for NAN). */
void rep_cell_num(StrBuf *b, double v);

/* ---- formatting for a reader (report_format.c) ------------------------------ */

/* The report's one rule for a number a reader sees: an integer as an integer (below
 * 1e15), anything else to 4 significant digits ("%.4g"); NaN and ±∞ spelled out. */
void rep_num(StrBuf *b, double v);
/* One value of SQLite's json_each (its text and its type: 'real', 'integer', 'text',
 * 'true', 'false', 'null', 'object', 'array'), HTML-escaped; numbers by rep_num. */
void rep_json_value_html(StrBuf *b, const char *value, const char *type);

/* Where a density's log y axis starts: the smallest of the largest values that together
 * carry 99.9% of its mass (an even grid, so mass ∝ value); NAN when none is positive.
 * scratch: n doubles (report_sections.c). */
double rep_density_floor(const double *y, size_t n, double *scratch);

#endif
