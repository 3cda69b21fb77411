/*
 * report_util.c: escaping, downsampling, datasets and chart descriptors for the report.
 *
 * The workload that matters is the series scan: every step of every chosen run is read
 * once (100 runs x 20000 steps = 2 M rows) and cut to a few hundred points per series,
 * so the downsampler is one linear pass with no allocation (the caller gives scratch).
 */
#include <math.h>
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

void rep_dataset(Report *r, const char *key, const double *x, const double *y, size_t n,
                 int x_int) {
  size_t *keep = r->keep;
  size_t m = report_downsample(y, n, r->max_points, keep);
  r->st.points_in += n;
  r->st.points_out += m;
  if (r->ds.len) sb_append(&r->ds, ",");
  sb_json_str(&r->ds, key);
  sb_append(&r->ds, ":[[");
  for (size_t i = 0; i < m; i++) {
    if (i) sb_append_n(&r->ds, ",", 1);
    num_compact(&r->ds, x[keep[i]], x_int);
  }
  sb_append(&r->ds, "],[");
  for (size_t i = 0; i < m; i++) {
    if (i) sb_append_n(&r->ds, ",", 1);
    num_compact(&r->ds, y[keep[i]], 0);
  }
  sb_append(&r->ds, "]]");
}

int rep_series(Report *r, const char *key, const char *sql, const int64_t *binds, int nb,
               int x_int, size_t *npoints, Err *err) {
  DbRows rows;
  *npoints = 0;
  int rc = db_query_rows(r->db, sql, binds, nb, &rows, err);
  if (rc) return rc;
  size_t n = 0;
  double *x = malloc((rows.nrow + 1) * sizeof *x), *y = malloc((rows.nrow + 1) * sizeof *y);
  if (!x || !y) {
    free(x);
    free(y);
    db_rows_free(&rows);
    return err_set(err, CS_ENOMEM, "out of memory for series %s", key);
  }
  int any = 0;
  for (size_t i = 0; i < rows.nrow; i++) {
    x[n] = rows.v[2 * i];
    y[n] = rows.v[2 * i + 1];
    if (!isnan(y[n])) any = 1;
    n++;
  }
  if (any) {
    rep_dataset(r, key, x, y, n, x_int);
    *npoints = n;
  }
  free(x);
  free(y);
  db_rows_free(&rows);
  return CS_OK;
}

void rep_chart_begin(Report *r, StrBuf *html, const char *title) {
  r->nchart++;
  sb_printf(html, "<div class=\"chart\" id=\"c%zu\"></div>\n", r->nchart);
  if (r->charts.len) sb_append(&r->charts, ",");
  sb_printf(&r->charts, "\"c%zu\":{\"title\":", r->nchart);
  sb_json_str(&r->charts, title);
}

void rep_chart_end(Report *r) { sb_append(&r->charts, "}"); }

void rep_cell_num(StrBuf *b, double v) {
  if (isfinite(v)) sb_printf(b, "%.4g", v);
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
