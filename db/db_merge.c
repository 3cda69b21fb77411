/*
 * db_merge.c: copying the runs of another curvscope database into this one
 * (curvscope merge; a sweep's per-task files).
 *
 * One source is ATTACHed at a time and copied in one IMMEDIATE transaction: its runs
 * whose uuid this file does not have yet get new ids here (AUTOINCREMENT), and every
 * row of theirs in every table that references runs(id) (found through the schema, so a
 * table added later is copied too) follows with run_id remapped through a temporary
 * map. A run whose uuid is already here is skipped whole: merging a file twice adds
 * nothing. Provenance: runs.origin is the absolute path of the file a run was first
 * recorded in and origin_id its id there; a run that was itself merged keeps both.
 * Orphaned rows of the source (a run deleted by hand) have no run to follow and stay.
 *
 * Ownership: nothing kept; the caller owns both files. Thread safety: one thread per Db.
 */
#include "db_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"

int db_merge_check(const char *src, Err *err) {
  Db *db = NULL;
  int rc = db_open_existing(src, &db, err); /* refuses foreign, newer, corrupt headers */
  if (rc) return rc;
  char ok[128] = "";
  sqlite3_stmt *st = NULL;
  int src_rc = sqlite3_prepare_v2(db->h, "PRAGMA quick_check(1)", -1, &st, NULL);
  if (src_rc == SQLITE_OK) src_rc = sqlite3_step(st);
  if (src_rc == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(ok, sizeof ok, "%s", (const char *)sqlite3_column_text(st, 0));
  for (char *c = ok; *c; c++) /* one line, for the message */
    if (*c == '\n') *c = ' ';
  sqlite3_finalize(st);
  if (strcmp(ok, "ok") != 0)
    rc = err_set(err, CS_EFORMAT, "%s is corrupt (SQLite's integrity check: %s)", src,
                 ok[0] ? ok : sqlite3_errmsg(db->h));
  db_close(db);
  return rc;
}

/* The columns of main.`table` other than those in skip (comma-separated, with commas around
 * each name), each quoted, joined by ", " with prefix before each. */
static int columns_of(Db *db, const char *table, const char *skip, const char *prefix,
                      StrBuf *out, Err *err) {
  sqlite3_stmt *st;
  if (db_prepare(db, "SELECT name FROM pragma_table_info(?1, 'main') ORDER BY cid", &st,
                 "reading the schema", err))
    return CS_EDB;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  int n = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *c = (const char *)sqlite3_column_text(st, 0);
    char key[160];
    snprintf(key, sizeof key, ",%s,", c);
    if (strstr(skip, key)) continue;
    sb_printf(out, "%s%s\"%s\"", n++ ? ", " : "", prefix, c);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return db_fail(db, err, "reading the schema");
  return out->oom ? err_set(err, CS_ENOMEM, "out of memory") : CS_OK;
}

/* Executes sql with ?1 bound to text a (may be NULL); *changes gets the rows changed. */
static int exec_bound(Db *db, const char *sql, const char *a, long long *changes, Err *err) {
  sqlite3_stmt *st;
  if (db_prepare(db, sql, &st, "merging", err)) return CS_EDB;
  if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_fail(db, err, "merging");
  if (changes) *changes = sqlite3_changes(db->h);
  return CS_OK;
}

/* Copies the child rows of the mapped runs, table by table. */
static int copy_children(Db *db, DbMergeStats *s, Err *err) {
  sqlite3_stmt *st;
  if (db_prepare(db,
                 "SELECT m.name FROM main.sqlite_master m, pragma_foreign_key_list(m.name) f"
                 " WHERE m.type = 'table' AND f.\"table\" = 'runs' AND f.\"from\" = 'run_id'"
                 " ORDER BY m.name",
                 &st, "reading the schema", err))
    return CS_EDB;
  int rc = CS_OK, step;
  while (rc == CS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    char table[128];
    snprintf(table, sizeof table, "%s", (const char *)sqlite3_column_text(st, 0));
    StrBuf cols, tcols, q;
    sb_init(&cols), sb_init(&tcols), sb_init(&q);
    rc = columns_of(db, table, ",run_id,", "", &cols, err);
    if (!rc) rc = columns_of(db, table, ",run_id,", "t.", &tcols, err);
    if (!rc) {
      sb_printf(&q, "INSERT INTO main.\"%s\"(run_id, %s) SELECT m.new_id, %s FROM cs_src.\"%s\" t"
                " JOIN temp.cs_merge_map m ON m.old_id = t.run_id", table, cols.p, tcols.p, table);
      long long k = 0;
      rc = q.oom ? err_set(err, CS_ENOMEM, "out of memory") : exec_bound(db, q.p, NULL, &k, err);
      if (rc) err_prefix(err, "copying table %s", table);
      s->rows += k;
    }
    sb_free(&cols), sb_free(&tcols), sb_free(&q);
  }
  if (rc == CS_OK && step != SQLITE_DONE) rc = db_fail(db, err, "reading the schema");
  sqlite3_finalize(st);
  return rc;
}

/* One integer from a pragma into *v (left as it is when the pragma fails). */
static void pragma_int(Db *db, const char *sql, long long *v) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    *v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
}

/* The copy itself, inside the transaction; origin is the source's absolute path. */
static int merge_attached(Db *db, const char *origin, DbMergeStats *s, Err *err) {
  long long v = 0;
  int rc = exec_bound(db, "DELETE FROM temp.cs_merge_map", NULL, NULL, err);
  sqlite3_stmt *st;
  if (!rc && !(rc = db_prepare(db, "SELECT (SELECT count(*) FROM cs_src.runs WHERE uuid IS NULL),"
                                   " (SELECT count(*) FROM cs_src.runs s JOIN main.runs m"
                                   "  ON m.uuid = s.uuid), ifnull((SELECT max(id) FROM main.runs), 0)",
                               &st, "merging", err))) {
    if (sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
      s->runs_present = sqlite3_column_int64(st, 1);
      s->max_id_before = sqlite3_column_int64(st, 2);
    } else {
      rc = db_fail(db, err, "merging");
    }
    sqlite3_finalize(st);
  }
  if (!rc && v > 0) return err_set(err, CS_EFORMAT, "%s has %lld runs without a uuid", origin, v);
  StrBuf cols, scols, q;
  sb_init(&cols), sb_init(&scols), sb_init(&q);
  const char *skip = ",id,uuid,origin,origin_id,";
  if (!rc) rc = columns_of(db, "runs", skip, "", &cols, err);
  if (!rc) rc = columns_of(db, "runs", skip, "s.", &scols, err);
  if (!rc) {
    sb_printf(&q, "INSERT INTO main.runs(%s, uuid, origin, origin_id) SELECT %s, s.uuid,"
              " ifnull(s.origin, ?1), CASE WHEN s.origin IS NULL THEN s.id ELSE s.origin_id END"
              " FROM cs_src.runs s WHERE s.uuid NOT IN (SELECT uuid FROM main.runs"
              " WHERE uuid IS NOT NULL) ORDER BY s.id", cols.p, scols.p);
    rc = q.oom ? err_set(err, CS_ENOMEM, "out of memory")
               : exec_bound(db, q.p, origin, &s->runs_added, err);
  }
  sb_free(&cols), sb_free(&scols), sb_free(&q);
  if (rc) return rc;
  char sql[256];
  snprintf(sql, sizeof sql, "INSERT INTO temp.cs_merge_map SELECT s.id, m.id FROM cs_src.runs s"
           " JOIN main.runs m ON m.uuid = s.uuid WHERE m.id > %lld", s->max_id_before);
  rc = exec_bound(db, sql, NULL, NULL, err);
  if (!rc) rc = copy_children(db, s, err);
  return rc;
}

int db_merge(Db *db, const char *src, DbMergeStats *s, Err *err) {
  memset(s, 0, sizeof *s);
  struct stat a, b;
  if (stat(src, &a) != 0) return err_set(err, CS_ENOTFOUND, "no database at '%s'", src);
  if (stat(db->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return err_set(err, CS_EINVAL, "%s is the output database itself", src);
  char origin[PATH_MAX];
  if (!realpath(src, origin)) return err_set(err, CS_EIO, "%s: %s", src, strerror(errno));
  int rc = exec_bound(db, "CREATE TEMP TABLE IF NOT EXISTS cs_merge_map("
                          "old_id INTEGER PRIMARY KEY, new_id INTEGER NOT NULL)", NULL, NULL, err);
  if (rc) return rc;
  if ((rc = exec_bound(db, "ATTACH ?1 AS cs_src", src, NULL, err)))
    return err_prefix(err, "attaching %s", src);
  /* the file may have been replaced since db_merge_check: its version again, read here */
  long long ver = -1, app = 0;
  pragma_int(db, "PRAGMA cs_src.user_version", &ver);
  pragma_int(db, "PRAGMA cs_src.application_id", &app);
  if (ver != DB_SCHEMA_VERSION || app != DB_APPLICATION_ID)
    rc = err_set(err, ver > DB_SCHEMA_VERSION ? CS_EVERSION : CS_EFORMAT,
                 "%s is not a curvscope database of schema v%d (v%lld); nothing was merged", src,
                 DB_SCHEMA_VERSION, ver);
  if (!rc) rc = db_exec(db, "BEGIN IMMEDIATE", err);
  if (!rc) {
    rc = merge_attached(db, origin, s, err);
    if (!rc) rc = db_exec(db, "COMMIT", err);
    if (rc) {
      sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
      err_prefix(err, "merging %s (nothing of it was written)", src);
      long long keep = s->max_id_before;
      memset(s, 0, sizeof *s);
      s->max_id_before = keep;
    }
  }
  sqlite3_exec(db->h, "DETACH cs_src", NULL, NULL, NULL);
  return rc;
}
