/*
 * db_json.h: read-only queries for the report (and any reader that wants JSON or
 * plain numbers), so that sqlite3 stays inside db/.
 *
 * Each function prepares `sql`, binds binds[0..nbind) as int64 to ?1..?nbind, steps
 * through the rows and releases the statement. A statement that would write (per
 * sqlite3_stmt_readonly) is refused with CS_EINVAL, and so is more than one statement. Errors: CS_EDB naming SQLite's
 * message and the database file.
 *
 * Ownership: output buffers and DbRows belong to the caller (sb_free, db_rows_free).
 * Thread safety: one thread per Db.
 */
#ifndef CS_DB_JSON_H
#define CS_DB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/json.h"
#include "db/db.h"

/* Appends the rows as a JSON array of arrays, columns in order: integers as
 * integers, reals with 17 significant digits, NULL/NaN/Inf as null, text through
 * sb_json_str (so the result is safe inside an HTML <script> element), blobs as
 * null. An empty result appends []. */
int db_query_json(Db *db, const char *sql, const int64_t *binds, int nbind, StrBuf *out,
                  Err *err);

/* Same rows, wrapped with the column names: {"cols":["id",...],"rows":[[...],...]}. */
int db_query_json_cols(Db *db, const char *sql, const int64_t *binds, int nbind, StrBuf *out,
                       Err *err);

/* The same rows as CSV (RFC 4180, CRLF line ends): a header of the column names, reals
 * with 17 significant digits (they read back exactly), NULL and blobs as empty fields,
 * text quoted when it holds a comma, a quote or a line break. */
int db_query_csv(Db *db, const char *sql, const int64_t *binds, int nbind, StrBuf *out,
                 Err *err);

/* Rows of numbers, row-major: v[r * ncol + c]; NULL and text that is not a number
 * become NAN. v is NULL when nrow is 0. */
typedef struct DbRows {
  int ncol;
  size_t nrow;
  double *v;
} DbRows;

int db_query_rows(Db *db, const char *sql, const int64_t *binds, int nbind, DbRows *out,
                  Err *err);
/* Frees v and zeroes the struct; NULL is a no-op. */
void db_rows_free(DbRows *r);
/* v[i] = run `run`'s run-level metric names[i] (step -1), NAN where there is none. The
 * names are SQL-quoted here (a study's constant names, not user text). */
int db_run_metrics(Db *db, int64_t run, const char *const *names, int n, double *v, Err *err);

/* Rows as text, row-major: v[r * ncol + c] is a malloc'd string (SQLite's text
 * conversion of numbers) or NULL for SQL NULL. v is NULL when nrow is 0. */
typedef struct DbStrs {
  int ncol;
  size_t nrow;
  char **v;
} DbStrs;

int db_query_strs(Db *db, const char *sql, const int64_t *binds, int nbind, DbStrs *out,
                  Err *err);
/* Frees every string and v, zeroes the struct; NULL is a no-op. */
void db_strs_free(DbStrs *s);

/* The first column of the first row as int64: *found is 0 (and *out untouched)
 * when there is no row or the value is NULL. */
int db_query_int(Db *db, const char *sql, const int64_t *binds, int nbind, int64_t *out,
                 int *found, Err *err);

/* The first column of the first row as a malloc'd string (*out NULL when there is
 * no row or the value is NULL). */
int db_query_text(Db *db, const char *sql, const int64_t *binds, int nbind, char **out,
                  Err *err);

#endif
