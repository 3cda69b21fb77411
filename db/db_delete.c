/*
 * db_delete.c: removing runs and everything recorded of them (curvscope rm).
 *
 * One IMMEDIATE transaction for the whole list: every run exists and may be
 * removed, or nothing is deleted. Each child table is cleared by run_id
 * explicitly rather than through ON DELETE CASCADE, so the deletion is complete
 * whatever the connection's foreign_keys setting (the sqlite3 shell's default is
 * off) and also takes rows that a run deleted by hand left behind under its id.
 * The file does not shrink until VACUUM (db_vacuum).
 *
 * Thread safety: one thread per Db.
 */
#include "db_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const child_tables[] = {"steps",  "metrics", "eigs",       "series",
                                           "densities", "phases", "checkpoints"};
#define N_CHILD (sizeof child_tables / sizeof *child_tables)

/* The run's status into buf (CS_ENOTFOUND if there is no such run). */
static int run_status(Db *db, int64_t id, char *buf, size_t n, Err *err) {
  sqlite3_stmt *st;
  if (db_prepare(db, "SELECT status, pid, host FROM runs WHERE id = ?", &st, "looking up a run",
                 err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char *s = sqlite3_column_text(st, 0), *host = sqlite3_column_text(st, 2);
    snprintf(buf, n, "%s (pid %lld on %s)", s ? (const char *)s : "?",
             (long long)sqlite3_column_int64(st, 1), host ? (const char *)host : "?");
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) return CS_OK;
  if (rc == SQLITE_DONE)
    return err_set(err, CS_ENOTFOUND, "no run %lld in %s; nothing was removed", (long long)id,
                   db->path);
  return db_fail(db, err, "looking up a run");
}

/* Deletes the rows of run id from one table; adds the count to *rows. */
static int delete_from(Db *db, const char *table, const char *key, int64_t id, long long *rows,
                       Err *err) {
  char sql[96];
  snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = ?", table, key);
  sqlite3_stmt *st;
  if (db_prepare(db, sql, &st, "removing a run", err)) return CS_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return db_fail(db, err, "removing a run");
  *rows += sqlite3_changes(db->h);
  return CS_OK;
}

int db_runs_delete(Db *db, const int64_t *ids, size_t n, int force, long long *rows, Err *err) {
  long long total = 0;
  if (rows) *rows = 0;
  if (n == 0) return CS_OK;
  int rc = db_exec(db, "BEGIN IMMEDIATE", err);
  if (rc) return err_prefix(err, "removing runs");
  for (size_t i = 0; i < n && rc == CS_OK; i++) {
    char status[320];
    rc = run_status(db, ids[i], status, sizeof status, err);
    if (rc == CS_OK && !force && !strncmp(status, "running", 7))
      rc = err_set(err, CS_EINVAL,
                   "run %lld is %s: stop it first, or pass --force to remove it anyway; "
                   "nothing was removed",
                   (long long)ids[i], status);
    for (size_t t = 0; t < N_CHILD && rc == CS_OK; t++)
      rc = delete_from(db, child_tables[t], "run_id", ids[i], &total, err);
    if (rc == CS_OK) rc = delete_from(db, "runs", "id", ids[i], &total, err);
  }
  if (rc == CS_OK) rc = db_exec(db, "COMMIT", err);
  if (rc) {
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  if (rows) *rows = total;
  return CS_OK;
}

int db_vacuum(Db *db, Err *err) {
  if (db_exec(db, "VACUUM", err)) return err_prefix(err, "compacting");
  return CS_OK;
}
