/*
 * report.h: one self-contained, offline, interactive HTML page from the run database.
 *
 * report_write reads the chosen runs (read-only), downsamples long series keeping
 * their extremes, and writes a single HTML file: an index table of runs, a comparison
 * view per group of runs, and one section per run whose sub-sections appear only when
 * their data exist (see report_sections.c). Charts are Vega-Lite specs rendered by
 * vega/vega-lite/vega-embed, whose minified builds are embedded in the binary at build
 * time (report_assets.h), so the page needs no network.
 *
 * Every string from the database is escaped: HTML text through report_html_escape,
 * JSON inside <script> through sb_json_str.
 * Ownership: nothing returned is owned by the caller except what it passed in.
 * Thread safety: one thread per Db.
 */
#ifndef CS_REPORT_H
#define CS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/json.h"
#include "db/db.h"

typedef struct ReportOpts {
  const int64_t *run_ids; /* [n_runs] runs to include; n_runs 0 = every run */
  size_t n_runs;
  const char *study;      /* only runs of this study; NULL = any */
  const char *output;     /* path of the HTML file (written whole, replaced) */
  const char *title;      /* NULL: "curvscope report" */
  size_t max_points;      /* points per chart series; 0 = automatic (by run count) */
} ReportOpts;

typedef struct ReportStats {
  size_t runs;        /* runs in the report */
  size_t charts;      /* chart containers written */
  size_t points_in;   /* series points read from the database */
  size_t points_out;  /* series points written after downsampling */
  size_t bytes;       /* size of the file written */
  double seconds;     /* wall time of report_write */
} ReportStats;

/* Writes the report. Errors: CS_ENOTFOUND for a chosen run that does not exist or
 * when no run matches; CS_EIO if the output cannot be written; CS_EDB from queries;
 * CS_ENOTFOUND (from report_assets_check) when the charting library was not embedded
 * at build time. stats may be NULL. */
int report_write(Db *db, const ReportOpts *o, ReportStats *stats, Err *err);

/* CS_OK when the charting library is embedded; otherwise CS_ENOTFOUND with a message
 * telling to run scripts/setup_report.sh and rebuild. */
int report_assets_check(Err *err);

/* ---- helpers, exposed for tests ------------------------------------------- */

/* Appends s escaped for HTML text and attribute values (& < > " '). NULL appends nothing. */
void report_html_escape(StrBuf *b, const char *s);

/* Chooses at most max_points (>= 4) indices of the series y[0..n) (x ascending) that
 * keep its shape: the first and last points, and the minimum and maximum of each of
 * (max_points - 2) / 2 equal buckets, in index order; NaN values are skipped unless a
 * bucket has nothing else. The global minimum and maximum are always kept. Interior
 * points equal to both kept neighbours are dropped (constant stretches shrink to their
 * ends). Writes the indices to keep[] (room for max_points) and returns their count. */
size_t report_downsample(const double *y, size_t n, size_t max_points, size_t *keep);

/* How a series is drawn, decided per series from its own measurements (docs/REPORT.md):
 * a line only when it is dense and regular; points wherever a line would pretend to a
 * continuity the measurements do not have. */
typedef enum ReportMark {
  REPORT_MARK_LINE,       /* >= REPORT_SPARSE_POINTS measurements, no gap */
  REPORT_MARK_LINEPOINTS, /* fewer, or with a gap: points, joined by a thin line broken at gaps */
  REPORT_MARK_POINTS,     /* fewer than 3 measurements: points only */
  REPORT_MARK_CHECKPOINT  /* post-hoc values (curvscope analyze): points only, never joined */
} ReportMark;

#define REPORT_SPARSE_POINTS 60 /* fewer measurements than this: the points are drawn */
#define REPORT_GAP_FACTOR 3.0   /* a spacing above this many median spacings is a gap */

/* Chooses the mark of a measured series (x ascending; a NaN in x or y is no measurement):
 * POINTS below 3 measurements; LINEPOINTS below REPORT_SPARSE_POINTS or when there is a
 * gap; LINE otherwise. A gap is a spacing between consecutive measurements larger than
 * REPORT_GAP_FACTOR times their median spacing; brk[] gets the index of the measurement
 * after each gap (where the line starts anew), *nbrk their count. scratch and brk need
 * room for n values. Never returns CHECKPOINT (that is the caller's knowledge). */
ReportMark report_series_mark(const double *x, const double *y, size_t n, double *scratch,
                              size_t *brk, size_t *nbrk);
/* "line", "linepoints", "points", "checkpoint": the names report.js reads. */
const char *report_mark_name(ReportMark m);

#endif
