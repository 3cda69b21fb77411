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
  int has_loss;     /* dataset r<id>.loss was written */
  int has_sharp;    /* dataset r<id>.eig.hessian.0 was written */
} ReportRun;

typedef struct Report {
  Db *db;
  StrBuf runs;       /* HTML of the per-run sections */
  StrBuf charts;     /* JSON members "cN":{...} of data.charts, comma-separated */
  StrBuf ds;         /* JSON members "key":[[x],[y]] of data.ds, comma-separated */
  size_t max_points;
  size_t nchart;
  ReportStats st;
  size_t *keep;      /* scratch for report_downsample, max_points */
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

/* ---- helpers (report_util.c) ---------------------------------------------- */

/* 1 if the query (binds: the run id first) returns any row, 0 if none, -1 on error. */
int rep_exists(Report *r, const char *sql, int64_t run, Err *err);

/* Reads (x, y) from a two-column query with int64 binds, downsamples, and writes
 * dataset `key` (x written as integers when x_int, e.g. steps); *npoints gets the
 * count read (0: nothing written, the series was empty or all NULL). */
int rep_series(Report *r, const char *key, const char *sql, const int64_t *binds, int nb,
               int x_int, size_t *npoints, Err *err);
/* Writes dataset `key` from arrays (downsampled). */
void rep_dataset(Report *r, const char *key, const double *x, const double *y, size_t n,
                 int x_int);

/* Starts a chart: appends <div class="chart" id="cN"> to html and opens the descriptor
 * `"cN":{` in r->charts (caller appends members, then rep_chart_end). */
void rep_chart_begin(Report *r, StrBuf *html, const char *title);
void rep_chart_end(Report *r);

/* Appends JSON text pretty-printed (2-space indent) and HTML-escaped. Invalid JSON
 * is appended escaped as it is. */
void rep_json_pretty_html(StrBuf *b, const char *json);

/* Formats a number for a table cell ("%.4g"; "" for NAN). */
void rep_cell_num(StrBuf *b, double v);

#endif
