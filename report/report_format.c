/*
 * report_format.c: how the report writes a number or a JSON value for a reader.
 *
 * One rule for every number a reader sees (tables, labels, notes): an integer as an
 * integer, anything else to 4 significant digits. The page's data blob keeps more
 * digits (report_util.c); report.js formats tooltips by the same rule.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

void rep_num(StrBuf *b, double v) {
  if (!isfinite(v))
    sb_append(b, isnan(v) ? "NaN" : v > 0 ? "∞" : "−∞");
  else if (v == floor(v) && fabs(v) < 1e15)
    sb_printf(b, "%lld", (long long)v);
  else
    sb_printf(b, "%.4g", v);
}

void rep_json_value_html(StrBuf *b, const char *value, const char *type) {
  if (!type || !value) {
    sb_append(b, "null");
  } else if (!strcmp(type, "real") || !strcmp(type, "integer")) {
    char *end;
    double v = strtod(value, &end);
    if (end != value && !*end)
      rep_num(b, v);
    else
      report_html_escape(b, value);
  } else if (!strcmp(type, "true") || !strcmp(type, "false")) {
    sb_append(b, type);
  } else {
    report_html_escape(b, value); /* text, or an array or object as compact JSON */
  }
}
