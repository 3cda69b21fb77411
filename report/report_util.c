/*
 * report_util.c: escaping, downsampling, datasets and chart descriptors for the report.
 *
 * The workload that matters is the series scan: every step of every chosen run is read
 * once (100 runs x 20000 steps = 2 M rows) and cut to a few hundred points per series,
 * so the downsampler is one linear pass with no allocation (the caller gives scratch).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

void report_html_escape(StrBuf *b, const char *s) {
  if (!s) return;
  const char *run = s;
  for (const char *c = s; *c; c++) {
    const char *rep = NULL;
    switch (*c) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '"': rep = "&quot;"; break;
      case '\'': rep = "&#39;"; break;
      default: break;
    }
    if (rep) {
      sb_append_n(b, run, (size_t)(c - run));
      sb_append(b, rep);
      run = c + 1;
    }
  }
  sb_append(b, run);
}

size_t report_downsample(const double *y, size_t n, size_t max_points, size_t *keep) {
  if (max_points < 4) max_points = 4;
  size_t m = 0;
  if (n <= max_points) {
    for (size_t i = 0; i < n; i++) keep[m++] = i;
  } else {
    size_t nb = (max_points - 2) / 2, inner = n - 2;
    keep[m++] = 0;
    for (size_t b = 0; b < nb; b++) {
      size_t lo = 1 + b * inner / nb, hi = 1 + (b + 1) * inner / nb;
      size_t imin = lo, imax = lo;
      int seen = 0;
      for (size_t i = lo; i < hi; i++) {
        if (isnan(y[i])) continue;
        if (!seen) {
          imin = imax = i;
          seen = 1;
        } else if (y[i] < y[imin]) {
          imin = i;
        } else if (y[i] > y[imax]) {
          imax = i;
        }
      }
      if (hi == lo) continue;
      size_t a = imin < imax ? imin : imax, c = imin < imax ? imax : imin;
      keep[m++] = a;
      if (c != a) keep[m++] = c;
    }
    keep[m++] = n - 1;
  }
  /* Drop interior points equal to both kept neighbours. */
  if (m > 2) {
    size_t w = 1;
    for (size_t i = 1; i + 1 < m; i++) {
      double p = y[keep[w - 1]], v = y[keep[i]], q = y[keep[i + 1]];
      if (v == p && v == q) continue;
      keep[w++] = keep[i];
    }
    keep[w++] = keep[m - 1];
    m = w;
  }
  return m;
}

int rep_exists(Report *r, const char *sql, int64_t run, Err *err) {
  int64_t v;
  int found;
  if (db_query_int(r->db, sql, &run, 1, &v, &found, err)) return -1;
  return found;
}

static void num_compact(StrBuf *b, double v, int as_int) {
  if (!isfinite(v))
    sb_append(b, "null");
  else if (as_int && fabs(v) < 9e15)
    sb_printf(b, "%lld", (long long)llround(v));
  else
    sb_printf(b, "%.6g", v);
}

/* The k-th smallest of a[0..n), k < n, reordering a (Hoare's selection: linear on
 * average, where sorting every series' spacings cost a tenth of the report). */
static double select_kth(double *a, long n, long k) {
  long lo = 0, hi = n - 1;
  while (lo < hi) {
    double p = a[lo + (hi - lo) / 2];
    long i = lo, j = hi;
    while (i <= j) {
      while (a[i] < p) i++;
      while (a[j] > p) j--;
      if (i <= j) {
        double t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (k <= j)
      hi = j;
    else if (k >= i)
      lo = i;
    else
      break; /* a[j+1..i-1] all equal p */
  }
  return a[k];
}

const char *report_mark_name(ReportMark m) {
  static const char *const names[] = {"line", "linepoints", "points", "checkpoint"};
  return names[m];
}

ReportMark report_series_mark(const double *x, const double *y, size_t n, double *scratch,
                              size_t *brk, size_t *nbrk) {
  size_t m = 0, last = 0;
  *nbrk = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(y[i]) || isnan(x[i])) continue;
    if (m) scratch[m - 1] = x[i] - x[last];
    last = i;
    m++;
  }
  if (m < 3) return REPORT_MARK_POINTS;
  /* the (upper) median spacing of the measured values (m - 1 >= 2 spacings) */
  double med = select_kth(scratch, (long)(m - 1), (long)(m - 1) / 2);
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(y[i]) || isnan(x[i])) continue;
    if (seen && x[i] - x[last] > REPORT_GAP_FACTOR * med) brk[(*nbrk)++] = i;
    last = i;
    seen = 1;
  }
  return m < REPORT_SPARSE_POINTS || *nbrk ? REPORT_MARK_LINEPOINTS : REPORT_MARK_LINE;
}

static void num_list(StrBuf *b, const double *v, const size_t *keep, size_t m, int as_int) {
  sb_append(b, "[");
  for (size_t i = 0; i < m; i++) {
    if (i) sb_append_n(b, ",", 1);
    num_compact(b, v[keep ? keep[i] : i], as_int);
  }
  sb_append(b, "]");
}

void rep_dataset(Report *r, const char *key, const double *x, const double *y, const double *e,
                 size_t n, int flags) {
  int x_int = !!(flags & REP_X_INT);
  ReportMark mark = REPORT_MARK_CHECKPOINT;
  size_t nbrk = 0;
  if (n > r->scratch_n) { /* grown to the longest series, kept for the next ones */
    double *s2 = realloc(r->scratch, (n + 1) * sizeof *s2);
    if (s2) r->scratch = s2;
    size_t *b2 = realloc(r->brk, (n + 1) * sizeof *b2);
    if (b2) r->brk = b2;
    if (!s2 || !b2) {
      r->ds.oom = 1; /* reported as out of memory when the page is assembled */
      return;
    }
    r->scratch_n = n;
  }
  double *scratch = r->scratch;
  size_t *brk = r->brk;
  if (flags & REP_SCATTER) mark = REPORT_MARK_POINTS;
  else if (flags & REP_CURVE) mark = REPORT_MARK_LINE;
  else if (!(flags & REP_POSTHOC)) mark = report_series_mark(x, y, n, scratch, brk, &nbrk);
  /* A series drawn with its points shows every measurement (as many as fit); only a
   * line is thinned, keeping its shape. */
  size_t *keep = r->keep, m;
  if (mark != REPORT_MARK_LINE && n <= r->max_points)
    for (m = 0; m < n; m++) keep[m] = m;
  else
    m = report_downsample(y, n, r->max_points, keep);
  r->st.points_in += n;
  r->st.points_out += m;
  if (r->ds.len) sb_append(&r->ds, ",");
  sb_json_str(&r->ds, key);
  sb_printf(&r->ds, ":{\"mark\":\"%s\"", report_mark_name(mark));
  if (nbrk) {
    for (size_t i = 0; i < nbrk; i++) scratch[i] = x[brk[i]];
    sb_append(&r->ds, ",\"brk\":");
    num_list(&r->ds, scratch, NULL, nbrk, x_int);
  }
  sb_append(&r->ds, ",\"x\":");
  num_list(&r->ds, x, keep, m, x_int);
  sb_append(&r->ds, ",\"y\":");
  num_list(&r->ds, y, keep, m, 0);
  if (e) {
    sb_append(&r->ds, ",\"e\":");
    num_list(&r->ds, e, keep, m, 0);
  }
  sb_append(&r->ds, "}");
}

int rep_series(Report *r, const char *key, const char *sql, const int64_t *binds, int nb,
               int flags, size_t *npoints, Err *err) {
  DbRows rows;
  *npoints = 0;
  int rc = db_query_rows(r->db, sql, binds, nb, &rows, err);
  if (rc) return rc;
  size_t n = rows.nrow, nc = rows.nrow ? (size_t)rows.ncol : 0;
  int with_e = nc >= 3;
  double *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y);
  double *e = with_e ? malloc((n + 1) * sizeof *e) : NULL;
  if (!x || !y || (with_e && !e)) {
    free(x), free(y), free(e);
    db_rows_free(&rows);
    return err_set(err, CS_ENOMEM, "out of memory for series %s", key);
  }
  int any = 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if ((flags & REP_FIRST_PER_X) && m && rows.v[nc * i] == x[m - 1]) continue;
    x[m] = rows.v[nc * i];
    y[m] = rows.v[nc * i + 1];
    if (with_e) e[m] = rows.v[nc * i + 2];
    if (!isnan(y[m])) any = 1;
    m++;
  }
  n = m;
  if (any) {
    rep_dataset(r, key, x, y, e, n, flags);
    *npoints = n;
  }
  free(x), free(y), free(e);
  db_rows_free(&rows);
  return CS_OK;
}

/* ---- sections: metrics, chart series references, headings ---------------- */

int rep_metric_se_ds(Report *r, const ReportRun *run, const char *name, const char *se_name,
                     char *key, size_t keysz, Err *err) {
  /* Names are fixed by the caller (never from the database), so they go in the SQL. */
  char q[320];
  if (se_name)
    snprintf(q, sizeof q,
             "SELECT m.step, m.value, s.value FROM metrics m LEFT JOIN metrics s ON "
             "s.run_id=m.run_id AND s.step=m.step AND s.name='%s' WHERE m.run_id=?1 AND "
             "m.name='%s' AND m.step>=0 ORDER BY m.step", se_name, name);
  else
    snprintf(q, sizeof q,
             "SELECT step, value FROM metrics WHERE run_id=?1 AND name='%s' AND step>=0 "
             "ORDER BY step", name);
  snprintf(key, keysz, "r%lld.m.%s", (long long)run->id, name);
  size_t n;
  if (rep_series(r, key, q, &run->id, 1, REP_X_INT, &n, err)) return -1;
  return n > 0;
}

int rep_metric_ds(Report *r, const ReportRun *run, const char *name, char *key, size_t keysz,
                  Err *err) {
  return rep_metric_se_ds(r, run, name, NULL, key, keysz, err);
}

int rep_has_metric(Report *r, const ReportRun *run, const char *name, Err *err) {
  char q[256];
  snprintf(q, sizeof q, "SELECT 1 FROM metrics WHERE run_id=?1 AND name='%s' AND step>=0 LIMIT 1",
           name);
  return rep_exists(r, q, run->id, err);
}

void rep_line_ref(StrBuf *b, int *first, const char *key, const char *label) {
  sb_append(b, *first ? "[" : ",[");
  *first = 0;
  sb_json_str(b, key);
  sb_append(b, ",");
  sb_json_str(b, label);
  sb_append(b, "]");
}

void rep_section_open(Report *r, const ReportRun *run, const char *name, const char *title) {
  sb_printf(&r->runs, "<section class=\"sub %s\" id=\"run-%lld-%s\"><h3>", name,
            (long long)run->id, name);
  report_html_escape(&r->runs, title);
  sb_append(&r->runs, "</h3>\n");
}

void rep_section_close(Report *r) { sb_append(&r->runs, "</section>\n"); }

void rep_chart_begin(Report *r, StrBuf *html, const char *title) {
  r->nchart++;
  sb_printf(html, "<div class=\"chart\" id=\"c%zu\"></div>\n", r->nchart);
  if (r->charts.len) sb_append(&r->charts, ",");
  sb_printf(&r->charts, "\"c%zu\":{\"title\":", r->nchart);
  sb_json_str(&r->charts, title);
}

void rep_chart_end(Report *r) { sb_append(&r->charts, "}"); }

void rep_cell_num(StrBuf *b, double v) {
  if (isfinite(v)) rep_num(b, v);
}

/* A small JSON re-indenter: strings are copied verbatim (escapes kept), structure
 * gets newlines and indentation; the output is HTML-escaped. */
void rep_json_pretty_html(StrBuf *b, const char *json) {
  if (!json) return;
  StrBuf t;
  sb_init(&t);
  int depth = 0, in_str = 0, ok = 1;
  for (const char *c = json; *c; c++) {
    if (in_str) {
      sb_append_n(&t, c, 1);
      if (*c == '\\' && c[1]) {
        sb_append_n(&t, c + 1, 1);
        c++;
      } else if (*c == '"') {
        in_str = 0;
      }
      continue;
    }
    switch (*c) {
      case '"':
        in_str = 1;
        sb_append_n(&t, c, 1);
        break;
      case '{':
      case '[': {
        const char *n = c + 1;
        while (*n == ' ' || *n == '\n' || *n == '\t' || *n == '\r') n++;
        if (*n == (*c == '{' ? '}' : ']')) { /* empty container */
          sb_append_n(&t, c, 1);
          sb_append_n(&t, n, 1);
          c = n;
          break;
        }
        sb_append_n(&t, c, 1);
        depth++;
        sb_printf(&t, "\n%*s", 2 * depth, "");
        break;
      }
      case '}':
      case ']':
        depth--;
        if (depth < 0) ok = 0;
        sb_printf(&t, "\n%*s", 2 * (depth > 0 ? depth : 0), "");
        sb_append_n(&t, c, 1);
        break;
      case ',':
        sb_printf(&t, ",\n%*s", 2 * depth, "");
        break;
      case ':':
        sb_append(&t, ": ");
        break;
      case ' ':
      case '\n':
      case '\t':
      case '\r':
        break;
      default:
        sb_append_n(&t, c, 1);
    }
  }
  if (in_str || depth != 0 || t.oom) ok = 0;
  report_html_escape(b, ok ? t.p : json);
  sb_free(&t);
}
