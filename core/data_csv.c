/*
 * data_csv.c: numeric CSV files with a header row.
 *
 * The whole file is read into memory, a leading UTF-8 byte-order mark dropped,
 * and split into lines (LF or CRLF, blank and whitespace-only lines skipped, the
 * last newline optional) and cells (','; a cell may be double-quoted, "" inside
 * quotes is a quote; quoted cells may not span lines). Header cells name the
 * columns. Every data cell must be a decimal number (surrounding spaces allowed;
 * no hex, inf or nan: see parse_double); the label column must hold integers,
 * remapped to 0..c-1 in sorted order with one-hot targets. Regression targets
 * are named columns copied to Y. Errors are CS_EFORMAT "FILE:LINE: column C
 * ('NAME'): ..." so the bad cell can be found. Workload: one file per run.
 */
#include "dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

#define CSV_MAX_BYTES ((size_t)2 << 30)

static int read_file(const char *path, char **text, size_t *len, Err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(err, CS_EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    if (cap >= CSV_MAX_BYTES) {
      free(buf);
      fclose(f);
      return err_set(err, CS_EFORMAT, "%s: larger than %zu GiB", path, CSV_MAX_BYTES >> 30);
    }
    char *nb = realloc(buf, 2 * cap + 1);
    if (!nb) free(buf);
    buf = nb;
    cap *= 2;
  }
  int bad = buf && ferror(f);
  fclose(f);
  if (!buf) return err_set(err, CS_ENOMEM, "%s: out of memory", path);
  if (bad) {
    free(buf);
    return err_set(err, CS_EIO, "%s: read error", path);
  }
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return CS_OK;
}

/* Splits one line (NUL-terminated, no newline) into cells in place: cells[i]
 * point into line, quotes removed, surrounding spaces trimmed. Returns the cell
 * count, or -1 for an unterminated quote; at most max cells are stored but all
 * are counted. */
static int split_cells(char *line, char **cells, int max) {
  int n = 0;
  char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    char *start = p, *w = p;
    if (*p == '"') {
      p++;
      for (;;) {
        if (!*p) return -1;
        if (*p == '"') {
          if (p[1] == '"') {
            *w++ = '"';
            p += 2;
            continue;
          }
          p++;
          break;
        }
        *w++ = *p++;
      }
      while (*p == ' ' || *p == '\t') p++;
      if (*p && *p != ',') return -1;
    } else {
      while (*p && *p != ',') *w++ = *p++;
      while (w > start && (w[-1] == ' ' || w[-1] == '\t')) w--;
    }
    int more = *p == ',';
    *w = '\0';
    if (n < max) cells[n] = start;
    n++;
    if (!more) break;
    p++;
  }
  return n;
}

static int is_blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t' && *s != '\r') return 0;
  return 1;
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* Column roles. */
enum { COL_X = 0, COL_LABEL, COL_TARGET };

typedef struct {
  const char *path;
  int ncols;
  char **names;  /* [ncols] into the header line */
  int *role;     /* [ncols] */
  int *slot;     /* [ncols] index within X or Y */
  char **cells;  /* [ncols] scratch */
} Cols;

/* Sets *col to the index of the column called name; CS_EINVAL when absent,
 * CS_EFORMAT when the header has it twice. */
static int find_col(const Cols *c, const char *name, int *col, Err *err) {
  int hit = -1;
  for (int j = 0; j < c->ncols; j++)
    if (!strcmp(c->names[j], name)) {
      if (hit >= 0)
        return err_set(err, CS_EFORMAT, "%s: column name '%s' appears twice in the header",
                       c->path, name);
      hit = j;
    }
  if (hit < 0) {
    char list[160] = "";
    for (int j = 0; j < c->ncols && strlen(list) < 120; j++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", j ? ", " : "",
               c->names[j]);
    return err_set(err, CS_EINVAL, "%s: no column named '%s' (header: %s)", c->path, name, list);
  }
  *col = hit;
  return CS_OK;
}

/* Parses the data lines into ds (already allocated, n rows); raw labels in lab. */
static int parse_rows(Cols *c, char **lines, const int *lineno, size_t n, Dataset *ds,
                      long *lab, Err *err) {
  for (size_t i = 0; i < n; i++) {
    int got = split_cells(lines[i], c->cells, c->ncols);
    if (got < 0)
      return err_set(err, CS_EFORMAT, "%s:%d: unterminated quote", c->path, lineno[i]);
    if (got != c->ncols)
      return err_set(err, CS_EFORMAT, "%s:%d: %d cells, but the header has %d columns", c->path,
                     lineno[i], got, c->ncols);
    for (int j = 0; j < c->ncols; j++) {
      const char *cell = c->cells[j];
      double v;
      if (c->role[j] == COL_LABEL) {
        if (parse_long(cell, &lab[i]))
          return err_set(err, CS_EFORMAT, "%s:%d: column %d ('%s'): label '%s' is not an integer",
                         c->path, lineno[i], j + 1, c->names[j], cell);
        continue;
      }
      if (parse_double(cell, &v)) /* finite by construction */
        return err_set(err, CS_EFORMAT,
                       "%s:%d: column %d ('%s'): '%s' is not a finite decimal number", c->path,
                       lineno[i], j + 1, c->names[j], cell);
      if (c->role[j] == COL_X)
        ds->X[i * ds->d + (size_t)c->slot[j]] = v;
      else
        ds->Y[i * ds->k + (size_t)c->slot[j]] = v;
    }
  }
  return CS_OK;
}

/* Remaps raw labels to 0..c-1 in sorted order and fills one-hot Y. */
static int remap_labels(const long *lab, size_t n, int **labels_out, int *nclasses, Err *err,
                        const char *path) {
  long *u = malloc((n ? n : 1) * sizeof *u);
  int *out = malloc((n ? n : 1) * sizeof *out);
  if (!u || !out) {
    free(u);
    free(out);
    return err_set(err, CS_ENOMEM, "%s: out of memory for labels", path);
  }
  memcpy(u, lab, n * sizeof *u);
  qsort(u, n, sizeof *u, cmp_long);
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || u[i] != u[i - 1]) u[c++] = u[i];
  for (size_t i = 0; i < n; i++) {
    size_t lo = 0, hi = c;
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (u[mid] <= lab[i]) lo = mid; else hi = mid;
    }
    out[i] = (int)lo;
  }
  free(u);
  *labels_out = out;
  *nclasses = (int)c;
  return CS_OK;
}

int csv_read_targets(const char *path, const char *label_col, const char *const *targets,
                     int ntargets, Dataset **out, Err *err) {
  *out = NULL;
  if (label_col && ntargets > 0)
    return err_set(err, CS_EINVAL, "%s: a label column and regression targets are exclusive",
                   path);
  char *text = NULL, **lines = NULL;
  int *lineno = NULL;
  size_t len = 0, nlines = 0;
  long *lab = NULL;
  Cols c = {path, 0, NULL, NULL, NULL, NULL};
  Dataset *ds = NULL;
  int rc = read_file(path, &text, &len, err);
  if (rc) return rc;
  /* A UTF-8 byte-order mark (spreadsheets write one) is not part of the first name. */
  size_t bom = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;

  /* Split into non-blank lines. */
  size_t maxl = 1;
  for (size_t i = 0; i < len; i++) maxl += text[i] == '\n';
  lines = malloc(maxl * sizeof *lines);
  lineno = malloc(maxl * sizeof *lineno);
  if (!lines || !lineno) {
    rc = err_set(err, CS_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  if (memchr(text, '\0', len)) {
    rc = err_set(err, CS_EFORMAT, "%s: contains NUL bytes; not a text CSV", path);
    goto done;
  }
  char *p = text + bom;
  for (int ln = 1; p && *p; ln++) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    size_t l = strlen(p);
    if (l && p[l - 1] == '\r') p[l - 1] = '\0';
    if (!is_blank(p)) {
      lines[nlines] = p;
      lineno[nlines++] = ln;
    }
    p = nl ? nl + 1 : NULL;
  }
  if (nlines == 0) {
    rc = err_set(err, CS_EFORMAT, "%s: empty file (no header row)", path);
    goto done;
  }

  /* Header. */
  char *hdr = strdup(lines[0]); /* split_cells writes into its line: count on a copy */
  int nc = hdr ? split_cells(hdr, NULL, 0) : -2;
  free(hdr);
  if (nc == -2) {
    rc = err_set(err, CS_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  if (nc < 0) {
    rc = err_set(err, CS_EFORMAT, "%s:%d: unterminated quote in the header", path, lineno[0]);
    goto done;
  }
  c.ncols = nc;
  c.names = calloc((size_t)nc, sizeof *c.names);
  c.cells = calloc((size_t)nc, sizeof *c.cells);
  c.role = calloc((size_t)nc, sizeof *c.role);
  c.slot = calloc((size_t)nc, sizeof *c.slot);
  if (!c.names || !c.cells || !c.role || !c.slot) {
    rc = err_set(err, CS_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  split_cells(lines[0], c.names, nc);
  if (label_col) {
    int j = 0;
    rc = find_col(&c, label_col, &j, err);
    if (rc) goto done;
    c.role[j] = COL_LABEL;
  }
  for (int t = 0; t < ntargets; t++) {
    int j = 0;
    rc = find_col(&c, targets[t], &j, err);
    if (rc) goto done;
    if (c.role[j] == COL_TARGET) {
      rc = err_set(err, CS_EINVAL, "%s: target column '%s' named twice", path, targets[t]);
      goto done;
    }
    c.role[j] = COL_TARGET;
    c.slot[j] = t;
  }
  int d = 0;
  for (int j = 0; j < nc; j++)
    if (c.role[j] == COL_X) c.slot[j] = d++;
  size_t n = nlines - 1;
  ds = dataset_alloc(n, (size_t)d, (size_t)ntargets, 0);
  lab = malloc((n ? n : 1) * sizeof *lab);
  if (!ds || !lab) {
    rc = err_set(err, CS_ENOMEM, "%s: out of memory for %zu rows", path, n);
    goto done;
  }
  rc = parse_rows(&c, lines + 1, lineno + 1, n, ds, lab, err);
  if (rc) goto done;
  if (label_col) {
    int *labels = NULL, ncl = 0;
    rc = remap_labels(lab, n, &labels, &ncl, err, path);
    if (rc) goto done;
    double *Y = n ? calloc(n * (size_t)ncl, sizeof *Y) : NULL;
    if (n && !Y) {
      free(labels);
      rc = err_set(err, CS_ENOMEM, "%s: out of memory for targets", path);
      goto done;
    }
    for (size_t i = 0; i < n; i++) Y[i * (size_t)ncl + (size_t)labels[i]] = 1.0;
    free(ds->Y);
    ds->Y = Y;
    ds->labels = labels;
    ds->k = (size_t)ncl;
    ds->nclasses = ncl;
  }
  snprintf(ds->name, sizeof ds->name, "csv %s n=%zu", path, n);

done:
  if (rc) {
    dataset_free(ds);
    ds = NULL;
  }
  *out = ds;
  free(c.names);
  free(c.cells);
  free(c.role);
  free(c.slot);
  free(lab);
  free(lines);
  free(lineno);
  free(text);
  return rc;
}

int csv_read(const char *path, const char *label_col, Dataset **out, Err *err) {
  return csv_read_targets(path, label_col, NULL, 0, out, err);
}
