/*
 * db_json.c: read-only queries returning JSON, numbers or text (see db_json.h).
 *
 * The report's workload: a few hundred small queries plus a scan of every step of
 * every chosen run (millions of rows), so the row loops avoid per-row allocation.
 */
#include "db_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* Prepares and binds; refuses statements that write. */
static int q_prepare(Db *db, const char *sql, const int64_t *binds, int nbind,
                     sqlite3_stmt **st, Err *err) {
  *st = NULL;
  const char *tail = NULL;
  if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, st, &tail) != SQLITE_OK) {
    int rc = db_fail(db, err, "query");
    sqlite3_finalize(*st);
    *st = NULL;
    return rc;
  }
  if (!*st) return err_set(err, CS_EINVAL, "empty query");
  while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == ';')) tail++;
  if (tail && *tail) { /* one statement: nothing may ride along after a ';' */
    sqlite3_finalize(*st);
    *st = NULL;
    return err_set(err, CS_EINVAL, "query has more than one statement: %.200s", sql);
  }
  if (!sqlite3_stmt_readonly(*st)) {
    sqlite3_finalize(*st);
    *st = NULL;
    return err_set(err, CS_EINVAL, "query is not read-only: %.200s", sql);
  }
  for (int i = 0; i < nbind; i++) {
    if (sqlite3_bind_int64(*st, i + 1, binds[i]) != SQLITE_OK) {
      int rc = db_fail(db, err, "query bind");
      sqlite3_finalize(*st);
      *st = NULL;
      return rc;
    }
  }
  return CS_OK;
}

static int q_finish(Db *db, sqlite3_stmt *st, int rc_step, Err *err) {
  int rc = CS_OK;
  if (rc_step != SQLITE_DONE && rc_step != SQLITE_ROW) rc = db_fail(db, err, "query");
  sqlite3_finalize(st);
  return rc;
}

static void json_value(StrBuf *out, sqlite3_stmt *st, int c) {
  switch (sqlite3_column_type(st, c)) {
    case SQLITE_INTEGER:
      sb_printf(out, "%lld", (long long)sqlite3_column_int64(st, c));
      break;
    case SQLITE_FLOAT:
      sb_json_num(out, sqlite3_column_double(st, c));
      break;
    case SQLITE_TEXT:
      sb_json_str(out, (const char *)sqlite3_column_text(st, c));
      break;
    default:
      sb_append(out, "null");
  }
}

static int rows_json(Db *db, sqlite3_stmt *st, StrBuf *out, Err *err) {
  int ncol = sqlite3_column_count(st), rc, first = 1;
  sb_append(out, "[");
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    sb_append(out, first ? "[" : ",[");
    first = 0;
    for (int c = 0; c < ncol; c++) {
      if (c) sb_append_n(out, ",", 1);
      json_value(out, st, c);
    }
    sb_append_n(out, "]", 1);
  }
  sb_append(out, "]");
  if (out->oom) {
    sqlite3_finalize(st);
    return err_set(err, CS_ENOMEM, "out of memory building query JSON");
  }
  return q_finish(db, st, rc, err);
}

int db_query_json(Db *db, const char *sql, const int64_t *binds, int nbind, StrBuf *out,
                  Err *err) {
  sqlite3_stmt *st;
  int rc = q_prepare(db, sql, binds, nbind, &st, err);
  if (rc) return rc;
  return rows_json(db, st, out, err);
}

int db_query_json_cols(Db *db, const char *sql, const int64_t *binds, int nbind, StrBuf *out,
                       Err *err) {
  sqlite3_stmt *st;
  int rc = q_prepare(db, sql, binds, nbind, &st, err);
  if (rc) return rc;
  sb_append(out, "{\"cols\":[");
  for (int c = 0; c < sqlite3_column_count(st); c++) {
    if (c) sb_append_n(out, ",", 1);
    sb_json_str(out, sqlite3_column_name(st, c));
  }
  sb_append(out, "],\"rows\":");
  rc = rows_json(db, st, out, err);
  sb_append(out, "}");
  return rc;
}

/* A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void csv_field(StrBuf *out, const char *s) {
  if (!s[strcspn(s, ",\"\r\n")]) {
    sb_append(out, s);
    return;
  }
  sb_append_n(out, "\"", 1);
  for (const char *c = s; *c; c++) {
    if (*c == '"') sb_append_n(out, "\"", 1);
    sb_append_n(out, c, 1);
  }
  sb_append_n(out, "\"", 1);
}

int db_query_csv(Db *db, const char *sql, const int64_t *binds, int nbind, StrBuf *out,
                 Err *err) {
  sqlite3_stmt *st;
  int rc = q_prepare(db, sql, binds, nbind, &st, err);
  if (rc) return rc;
  int ncol = sqlite3_column_count(st), step;
  for (int c = 0; c < ncol; c++) {
    if (c) sb_append_n(out, ",", 1);
    csv_field(out, sqlite3_column_name(st, c));
  }
  sb_append(out, "\r\n");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    for (int c = 0; c < ncol; c++) {
      if (c) sb_append_n(out, ",", 1);
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER: sb_printf(out, "%lld", (long long)sqlite3_column_int64(st, c)); break;
        case SQLITE_FLOAT: sb_printf(out, "%.17g", sqlite3_column_double(st, c)); break;
        case SQLITE_TEXT: csv_field(out, (const char *)sqlite3_column_text(st, c)); break;
        default: break; /* NULL and blobs: an empty field */
      }
    }
    sb_append(out, "\r\n");
  }
  if (out->oom) {
    sqlite3_finalize(st);
    return err_set(err, CS_ENOMEM, "out of memory building query CSV");
  }
  return q_finish(db, st, step, err);
}

int db_run_metrics(Db *db, int64_t run, const char *const *names, int n, double *v, Err *err) {
  int rc = CS_OK;
  for (int i = 0; i < n; i++) {
    char *sql = sqlite3_mprintf(
        "SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND name=%Q", names[i]);
    DbRows m = {0};
    v[i] = NAN;
    if (!sql) return err_set(err, CS_ENOMEM, "out of memory");
    if (!rc && !(rc = db_query_rows(db, sql, &run, 1, &m, err)) && m.nrow) v[i] = m.v[0];
    sqlite3_free(sql);
    db_rows_free(&m);
  }
  return rc;
}

int db_query_rows(Db *db, const char *sql, const int64_t *binds, int nbind, DbRows *out,
                  Err *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st;
  int rc = q_prepare(db, sql, binds, nbind, &st, err);
  if (rc) return rc;
  int ncol = sqlite3_column_count(st), step;
  size_t cap = 0;
  out->ncol = ncol;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (out->nrow == cap) {
      cap = cap ? 2 * cap : 1024;
      double *v = realloc(out->v, cap * (size_t)ncol * sizeof *v);
      if (!v) {
        sqlite3_finalize(st);
        db_rows_free(out);
        return err_set(err, CS_ENOMEM, "out of memory reading %zu rows", out->nrow);
      }
      out->v = v;
    }
    double *row = out->v + out->nrow * (size_t)ncol;
    for (int c = 0; c < ncol; c++) {
      int t = sqlite3_column_type(st, c);
      row[c] = (t == SQLITE_INTEGER || t == SQLITE_FLOAT) ? sqlite3_column_double(st, c) : NAN;
    }
    out->nrow++;
  }
  rc = q_finish(db, st, step, err);
  if (rc) db_rows_free(out);
  return rc;
}

void db_rows_free(DbRows *r) {
  if (!r) return;
  free(r->v);
  memset(r, 0, sizeof *r);
}

int db_query_int(Db *db, const char *sql, const int64_t *binds, int nbind, int64_t *out,
                 int *found, Err *err) {
  sqlite3_stmt *st;
  *found = 0;
  int rc = q_prepare(db, sql, binds, nbind, &st, err);
  if (rc) return rc;
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW && sqlite3_column_count(st) > 0 &&
      sqlite3_column_type(st, 0) != SQLITE_NULL) {
    *out = sqlite3_column_int64(st, 0);
    *found = 1;
  }
  return q_finish(db, st, step, err);
}

int db_query_text(Db *db, const char *sql, const int64_t *binds, int nbind, char **out,
                  Err *err) {
  sqlite3_stmt *st;
  *out = NULL;
  int rc = q_prepare(db, sql, binds, nbind, &st, err);
  if (rc) return rc;
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW && sqlite3_column_count(st) > 0 &&
      sqlite3_column_type(st, 0) != SQLITE_NULL) {
    const char *s = (const char *)sqlite3_column_text(st, 0);
    *out = strdup(s ? s : "");
    if (!*out) {
      sqlite3_finalize(st);
      return err_set(err, CS_ENOMEM, "out of memory");
    }
  }
  return q_finish(db, st, step, err);
}

int db_query_strs(Db *db, const char *sql, const int64_t *binds, int nbind, DbStrs *out,
                  Err *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st;
  int rc = q_prepare(db, sql, binds, nbind, &st, err);
  if (rc) return rc;
  int ncol = sqlite3_column_count(st), step;
  size_t cap = 0;
  out->ncol = ncol;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (out->nrow == cap) {
      size_t ncap = cap ? 2 * cap : 64;
      char **v = realloc(out->v, ncap * (size_t)ncol * sizeof *v);
      if (!v) goto oom;
      out->v = v;
      cap = ncap;
    }
    char **row = out->v + out->nrow * (size_t)ncol;
    for (int c = 0; c < ncol; c++) row[c] = NULL;
    out->nrow++;
    for (int c = 0; c < ncol; c++) {
      if (sqlite3_column_type(st, c) == SQLITE_NULL) continue;
      const char *s = (const char *)sqlite3_column_text(st, c);
      if (!(row[c] = strdup(s ? s : ""))) goto oom;
    }
  }
  rc = q_finish(db, st, step, err);
  if (rc) db_strs_free(out);
  return rc;
oom:
  sqlite3_finalize(st);
  db_strs_free(out);
  return err_set(err, CS_ENOMEM, "out of memory reading query text");
}

void db_strs_free(DbStrs *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nrow * (size_t)s->ncol; i++) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}
