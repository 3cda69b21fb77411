/* sql_util.h: one-value SQL queries for the database tests (test_db, test_migrate).
 * Each returns a sentinel on a failed query, so a test comparing with a real value fails. */
#ifndef CS_TESTS_SQL_UTIL_H
#define CS_TESTS_SQL_UTIL_H

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>

/* The first column of the first row as an integer; -999999 when there is none. */
static inline long long sql_int(sqlite3 *h, const char *sql) {
  sqlite3_stmt *st;
  long long v = -999999;
  if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) return v;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* ... as a double; NAN when there is none or it is NULL. */
static inline double sql_real(sqlite3 *h, const char *sql) {
  sqlite3_stmt *st;
  double v = NAN;
  if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) return v;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
    v = sqlite3_column_double(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* ... copied into buf as text ("" if none); returns buf. */
static inline const char *sql_text(sqlite3 *h, const char *sql, char *buf, size_t n) {
  sqlite3_stmt *st;
  buf[0] = '\0';
  if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) return buf;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return buf;
}

#endif
