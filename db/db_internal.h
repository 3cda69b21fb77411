/*
 * db_internal.h: the Db struct and helpers shared by the db/ sources, and the raw
 * sqlite3 handle for modules that run their own read-only queries (report/).
 *
 * Only db/ and report/ (read-only SELECTs through db_sqlite) include this.
 * Ownership: the Db owns h; never close it directly.
 * Thread safety: one thread per Db.
 */
#ifndef CS_DB_INTERNAL_H
#define CS_DB_INTERNAL_H

#include <sqlite3.h>

#include "db.h"

#define DB_PATH_MAX 4096
/* The connection's busy timeout outside a recorder's commit attempts. */
#define DB_BUSY_TIMEOUT_MS 10000

struct Db {
  sqlite3 *h;
  char path[DB_PATH_MAX];
  DbWritePolicy policy; /* zero fields: defaults (db_recorder.c) */
};

/* The connection, for read-only queries. Writing through it bypasses the
 * recorders' batching; do not. */
sqlite3 *db_sqlite(Db *db);

/* Fills err with CS_EDB "what: <sqlite message> (FILE)"; returns CS_EDB. */
int db_fail(Db *db, Err *err, const char *what);
/* Runs SQL without results; CS_EDB on failure. */
int db_exec(Db *db, const char *sql, Err *err);
/* Prepares sql; CS_EDB naming `what` on failure. */
int db_prepare(Db *db, const char *sql, sqlite3_stmt **st, const char *what, Err *err);
/* CS_OK if run exists, CS_ENOTFOUND "no run N in FILE" if not, CS_EDB on failure. */
int db_run_check(Db *db, int64_t run, Err *err);
/* Current UTC time as ISO-8601 with milliseconds ("2024-05-01T12:00:00.123Z"). */
void db_now_iso(char buf[32]);
/* Binds v, or NULL when v is NaN. */
int db_bind_real(sqlite3_stmt *st, int i, double v);
/* Registers the SQL function cs_uuid4() (db_uuid.c) on the connection. */
int db_uuid_register(Db *db, Err *err);
/* Binds s, or NULL when s is NULL (transient copy). */
int db_bind_text(sqlite3_stmt *st, int i, const char *s);

#endif
