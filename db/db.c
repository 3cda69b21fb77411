/*
 * db.c: opening a curvscope database: checks, schema creation, migrations.
 *
 * An existing path is inspected before anything is written to it: it must be a
 * regular file (a FIFO would block the open), its first bytes SQLite's magic,
 * its application_id curvscope's (or the database empty), its user_version
 * between 0 and DB_SCHEMA_VERSION. Only then is it migrated forward, inside one
 * IMMEDIATE transaction that re-reads the version (so several processes may
 * create or migrate the same file at once), and then switched to WAL: a
 * migration that fails (a corrupt file) rolls back, so the file was never
 * switched. A refused file is left byte-for-byte unchanged: the checks only
 * read, and checkpoint-on-close is off until they pass; the -wal and -shm files
 * SQLite made beside a refused WAL-mode file are removed when they were not
 * there before.
 *
 * Ownership: db_open allocates the Db; db_close frees it.
 * Thread safety: one thread per Db.
 */
#include "db_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- schema ------------------------------------------------------------- */

/* The columns of run_summary from schema v2 on (v3 adds the uuid after them). */
#define RUN_SUMMARY_COLS_V2 \
    "  r.id, r.name, r.study, r.grp, r.status,\n" \
    "  (SELECT max(step) FROM steps s WHERE s.run_id = r.id) AS steps,\n" \
    "  (SELECT loss FROM steps s WHERE s.run_id = r.id ORDER BY step DESC LIMIT 1) AS final_loss,\n" \
    "  (SELECT accuracy FROM steps s WHERE s.run_id = r.id ORDER BY step DESC LIMIT 1)\n" \
    "    AS final_accuracy,\n" \
    "  (SELECT min(loss) FROM steps s WHERE s.run_id = r.id) AS best_loss,\n" \
    "  (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'test_loss'\n" \
    "    AND m.step >= 0 ORDER BY m.step DESC LIMIT 1) AS final_test_loss,\n" \
    "  (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'test_accuracy'\n" \
    "    AND m.step >= 0 ORDER BY m.step DESC LIMIT 1) AS final_test_accuracy,\n" \
    "  (SELECT max(value) FROM eigs e WHERE e.run_id = r.id AND e.operator = 'hessian'\n" \
    "    AND e.idx = 0) AS max_sharpness,\n" \
    "  (SELECT max(value) FROM eigs e WHERE e.run_id = r.id AND e.operator = 'precond'\n" \
    "    AND e.idx = 0) AS max_precond_sharpness,\n" \
    "  (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'eos_onset'\n" \
    "    AND m.step = -1) AS eos_onset,\n" \
    "  json_extract(r.config, '$.lr') AS lr,\n" \
    "  json_extract(r.config, '$.opt') AS opt,\n" \
    "  json_extract(r.config, '$.batch') AS batch,\n"

/* migrations[v] takes a database from user_version v to v + 1. */
static const char *const migrations[DB_SCHEMA_VERSION] = {
    /* v0 -> v1: the initial schema (docs/SCHEMA.md). */
    "CREATE TABLE runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT, study TEXT, grp TEXT,\n"
    "  status TEXT NOT NULL CHECK(status IN "
    "('running','finished','diverged','interrupted','failed')),\n"
    "  created_at TEXT NOT NULL, finished_at TEXT,\n"
    "  config TEXT NOT NULL CHECK(json_valid(config)),\n"
    "  seed INTEGER, n_params INTEGER, version TEXT, host TEXT, pid INTEGER,\n"
    "  heartbeat_at TEXT, error TEXT,\n"
    "  layout TEXT);\n"
    "CREATE TABLE steps(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, epoch REAL, loss REAL, accuracy REAL, lr REAL,\n"
    "  grad_norm REAL, param_norm REAL, wall_s REAL, PRIMARY KEY(run_id, step));\n"
    "CREATE TABLE metrics(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, name TEXT NOT NULL, value REAL, PRIMARY KEY(run_id, name, step));\n"
    "CREATE TABLE eigs(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, operator TEXT NOT NULL, batch_size INTEGER,\n"
    "  idx INTEGER NOT NULL,\n"
    "  value REAL, residual REAL, matvecs INTEGER, wall_s REAL, converged INTEGER,\n"
    "  PRIMARY KEY(run_id, operator, batch_size, step, idx));\n"
    "CREATE TABLE series(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, name TEXT NOT NULL, idx INTEGER NOT NULL, value REAL,\n"
    "  PRIMARY KEY(run_id, name, step, idx));\n"
    "CREATE TABLE densities(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, operator TEXT NOT NULL, x REAL NOT NULL, density REAL);\n"
    "CREATE INDEX densities_run ON densities(run_id, operator, step);\n"
    "CREATE TABLE phases(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  phase TEXT NOT NULL, start_step INTEGER NOT NULL, end_step INTEGER NOT NULL, detail TEXT);\n"
    "CREATE TABLE checkpoints(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, params BLOB NOT NULL,\n"
    "  layout TEXT NOT NULL, opt_meta TEXT, opt_state BLOB, PRIMARY KEY(run_id, step));\n"
    "CREATE INDEX phases_run ON phases(run_id, start_step);\n"
    "CREATE VIEW run_summary AS SELECT\n"
    "  r.id, r.name, r.study, r.grp, r.status,\n"
    "  (SELECT max(step) FROM steps s WHERE s.run_id = r.id) AS steps,\n"
    "  (SELECT loss FROM steps s WHERE s.run_id = r.id ORDER BY step DESC LIMIT 1) AS final_loss,\n"
    "  (SELECT accuracy FROM steps s WHERE s.run_id = r.id ORDER BY step DESC LIMIT 1)\n"
    "    AS final_accuracy,\n"
    "  (SELECT min(loss) FROM steps s WHERE s.run_id = r.id) AS best_loss,\n"
    "  (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'test_loss'\n"
    "    AND m.step >= 0 ORDER BY m.step DESC LIMIT 1) AS final_test_loss,\n"
    "  (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'test_accuracy'\n"
    "    AND m.step >= 0 ORDER BY m.step DESC LIMIT 1) AS final_test_accuracy,\n"
    "  (SELECT max(value) FROM eigs e WHERE e.run_id = r.id AND e.operator = 'hessian'\n"
    "    AND e.idx = 0) AS max_sharpness,\n"
    "  (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'eos_onset'\n"
    "    AND m.step = -1) AS eos_onset,\n"
    "  json_extract(r.config, '$.lr') AS lr,\n"
    "  json_extract(r.config, '$.opt') AS opt,\n"
    "  json_extract(r.config, '$.batch') AS batch,\n"
    "  r.created_at\n"
    "FROM runs r;\n",

    /* v1 -> v2: run ids never reused (AUTOINCREMENT: a run deleted by hand no longer hands
     * its id, and its orphaned rows, to the next run); eigs say which draw of a batch and
     * which command (probe, analyze, a study) produced them, so a post-hoc solve never
     * replaces the training probe's value at the same step; run_summary names the raw and
     * the preconditioned sharpness apart. Tables are rebuilt (SQLite cannot alter a key);
     * migrate() turns foreign keys off around it so no cascade fires. Rows written before
     * v2 have source 'unknown'. */
    "DROP VIEW run_summary;\n"
    "CREATE TABLE runs_v2(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT, study TEXT, grp TEXT,\n"
    "  status TEXT NOT NULL CHECK(status IN "
    "('running','finished','diverged','interrupted','failed')),\n"
    "  created_at TEXT NOT NULL, finished_at TEXT,\n"
    "  config TEXT NOT NULL CHECK(json_valid(config)),\n"
    "  seed INTEGER, n_params INTEGER, version TEXT, host TEXT, pid INTEGER,\n"
    "  heartbeat_at TEXT, error TEXT,\n"
    "  layout TEXT);\n"
    "INSERT INTO runs_v2 SELECT * FROM runs;\n"
    "DROP TABLE runs;\n"
    "ALTER TABLE runs_v2 RENAME TO runs;\n"
    "CREATE TABLE eigs_v2(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  step INTEGER NOT NULL, operator TEXT NOT NULL, batch_size INTEGER,\n"
    "  draw INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT 'probe',\n"
    "  idx INTEGER NOT NULL,\n"
    "  value REAL, residual REAL, matvecs INTEGER, wall_s REAL, converged INTEGER,\n"
    "  PRIMARY KEY(run_id, operator, batch_size, draw, source, step, idx));\n"
    "INSERT INTO eigs_v2(run_id, step, operator, batch_size, draw, source, idx, value,\n"
    "  residual, matvecs, wall_s, converged)\n"
    "  SELECT run_id, step, operator, batch_size, 0, 'unknown', idx, value, residual,\n"
    "  matvecs, wall_s, converged FROM eigs;\n"
    "DROP TABLE eigs;\n"
    "ALTER TABLE eigs_v2 RENAME TO eigs;\n"
    "CREATE VIEW run_summary AS SELECT\n" RUN_SUMMARY_COLS_V2
    "  r.created_at\n"
    "FROM runs r;\n",

    /* v2 -> v3: runs get a globally unique id (uuid, v4, so runs from many files never
     * collide when merged) and their provenance: origin is the file a merged run was first
     * recorded in and origin_id its id there (both NULL for a run recorded here). Existing
     * runs get a fresh uuid each (cs_uuid4(), db_uuid.c); ALTER TABLE keeps every row. */
    "DROP VIEW run_summary;\n"
    "ALTER TABLE runs ADD COLUMN uuid TEXT;\n"
    "ALTER TABLE runs ADD COLUMN origin TEXT;\n"
    "ALTER TABLE runs ADD COLUMN origin_id INTEGER;\n"
    "UPDATE runs SET uuid = cs_uuid4();\n"
    "CREATE UNIQUE INDEX runs_uuid ON runs(uuid);\n"
    "CREATE VIEW run_summary AS SELECT\n" RUN_SUMMARY_COLS_V2
    "  r.created_at, r.uuid\n"
    "FROM runs r;\n",
};

/* ---- helpers shared by the db/ sources ---------------------------------- */

sqlite3 *db_sqlite(Db *db) { return db ? db->h : NULL; }

const char *db_path(const Db *db) { return db ? db->path : ""; }

int db_fail(Db *db, Err *err, const char *what) {
  return err_set(err, CS_EDB, "%s: %s (%s)", what, sqlite3_errmsg(db->h), db->path);
}

int db_exec(Db *db, const char *sql, Err *err) {
  char *msg = NULL;
  if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
    err_set(err, CS_EDB, "%s (%s)", msg ? msg : sqlite3_errmsg(db->h), db->path);
    sqlite3_free(msg);
    return CS_EDB;
  }
  return CS_OK;
}

int db_prepare(Db *db, const char *sql, sqlite3_stmt **st, const char *what, Err *err) {
  *st = NULL;
  if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK) return db_fail(db, err, what);
  return CS_OK;
}

int db_run_check(Db *db, int64_t run, Err *err) {
  sqlite3_stmt *st;
  if (db_prepare(db, "SELECT 1 FROM runs WHERE id = ?", &st, "looking up a run", err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) return CS_OK;
  if (rc == SQLITE_DONE)
    return err_set(err, CS_ENOTFOUND, "no run %lld in %s", (long long)run, db->path);
  return db_fail(db, err, "looking up a run");
}

void db_now_iso(char buf[32]) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, 32 - k, ".%03ldZ", ts.tv_nsec / 1000000L);
}

int db_bind_real(sqlite3_stmt *st, int i, double v) {
  return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

int db_bind_text(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* ---- checks before touching a file -------------------------------------- */

/* Reads the first 16 bytes: an empty file is fine (SQLite treats it as a new
 * database), anything else must start with SQLite's magic. */
static int check_magic(const char *path, Err *err) {
  static const char magic[16] = "SQLite format 3";
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(err, CS_EIO, "cannot open %s: %s", path, strerror(errno));
  unsigned char head[100]; /* SQLite's file header */
  size_t got = fread(head, 1, sizeof head, f);
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  fclose(f);
  if (got == 0) return CS_OK;
  if (got < 16 || memcmp(head, magic, 16) != 0)
    return err_set(err, CS_EFORMAT, "%s is not a curvscope database (not SQLite)", path);
  /* A database file is whole pages. A shorter one (cut off) would be padded out to its
   * header's page count by a write SQLite then rolls back: refuse it before any write. */
  long page = got < sizeof head ? 0 : head[16] << 8 | head[17];
  if (page == 1) page = 65536;
  if (page < 512 || (page & (page - 1)) || size < page || size % page)
    return err_set(err, CS_EFORMAT,
                   "%s is corrupt (%ld bytes: not a whole number of its %ld-byte pages); it was "
                   "left untouched", path, size, page);
  return CS_OK;
}

/* One integer from a read-only query; SQLITE_NOTADB and SQLITE_CORRUPT become CS_EFORMAT. */
static int query_int(Db *db, const char *sql, long long *out, Err *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return CS_OK;
  }
  int code = sqlite3_extended_errcode(db->h) & 0xff;
  sqlite3_finalize(st);
  if (code == SQLITE_NOTADB)
    return err_set(err, CS_EFORMAT, "%s is not a curvscope database (not SQLite)", db->path);
  if (code == SQLITE_CORRUPT)
    return err_set(err, CS_EFORMAT, "%s is corrupt (%s); it was left untouched", db->path,
                   sqlite3_errmsg(db->h));
  return db_fail(db, err, "reading the database header");
}

/* Refuses a database that is not curvscope's or is of a newer schema.
 * Only reads, in one read transaction so that a schema being created by
 * another process is seen either whole or not at all. */
static int check_identity(Db *db, long long *version, Err *err) {
  long long app = 0, ver = 0, nobj = 0;
  int rc = db_exec(db, "BEGIN", err);
  if (rc == CS_OK) rc = query_int(db, "PRAGMA application_id", &app, err);
  if (rc == CS_OK) rc = query_int(db, "PRAGMA user_version", &ver, err);
  if (rc == CS_OK) rc = query_int(db, "SELECT count(*) FROM sqlite_master", &nobj, err);
  if (!sqlite3_get_autocommit(db->h)) sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
  if (rc) return rc;
  int empty = app == 0 && ver == 0 && nobj == 0;
  if (!empty && (unsigned long long)app != DB_APPLICATION_ID)
    return err_set(err, CS_EFORMAT,
                   "%s is not a curvscope database (application_id 0x%08llx, expected "
                   "0x%08x); it was left untouched",
                   db->path, (unsigned long long)app & 0xffffffffULL, DB_APPLICATION_ID);
  /* migrate() indexes its table by the version: a negative one is no schema of ours. */
  if (ver < 0)
    return err_set(err, CS_EFORMAT,
                   "%s is not a curvscope database of a known schema (user_version %lld: "
                   "there is no schema version %lld); it was left untouched",
                   db->path, ver, ver);
  if (ver > DB_SCHEMA_VERSION)
    return err_set(err, CS_EVERSION,
                   "%s was written by a newer curvscope (schema v%lld, this build knows v%d); "
                   "it was left untouched",
                   db->path, ver, DB_SCHEMA_VERSION);
  *version = ver;
  return CS_OK;
}

/* ---- setting up --------------------------------------------------------- */

/* One text result of a pragma into buf; returns the SQLite code of the step. */
static int pragma_text(Db *db, const char *sql, char *buf, size_t n) {
  sqlite3_stmt *st = NULL;
  buf[0] = '\0';
  int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return rc;
}

/* Switches to WAL unless already there. Changing the journal mode can fail
 * with SQLITE_BUSY without consulting the busy handler while another process
 * creates the same file, so it is retried for up to the busy timeout. */
static int set_wal(Db *db, Err *err) {
  char mode[16];
  int rc = pragma_text(db, "PRAGMA journal_mode", mode, sizeof mode);
  if (rc == SQLITE_ROW && (!strcmp(mode, "wal") || !strcmp(mode, "memory"))) return CS_OK;
  for (int tries = 0; tries < 1000; tries++) {
    rc = pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
    if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) break;
    sqlite3_sleep(10);
  }
  if (rc != SQLITE_ROW) return db_fail(db, err, "switching to WAL");
  if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
    return err_set(err, CS_EDB, "%s: cannot use WAL journal (mode is %s)", db->path, mode);
  return CS_OK;
}

/* The number of child rows without their run (PRAGMA foreign_key_check gives a row
 * per violation). A migration that rebuilds tables must not add any; rows orphaned
 * before it (a run deleted by hand with foreign keys off) stay as they were. */
static int count_orphans(Db *db, long long *n, Err *err) {
  return query_int(db, "SELECT count(*) FROM pragma_foreign_key_check", n, err);
}

/* Brings the schema to DB_SCHEMA_VERSION inside one IMMEDIATE transaction,
 * re-reading the version under the write lock. */
static int migrate(Db *db, Err *err) {
  /* Rebuilding a parent table with foreign keys on would cascade its DROP into every
   * child table; the pragma is a no-op inside a transaction, so it is set around it. */
  if (db_exec(db, "PRAGMA foreign_keys = OFF", err)) return err_prefix(err, "opening %s", db->path);
  if (db_exec(db, "BEGIN IMMEDIATE", err)) return err_prefix(err, "opening %s", db->path);
  long long ver = 0, orphans = 0, orphans_after = 0;
  int rc = query_int(db, "PRAGMA user_version", &ver, err);
  if (rc == CS_OK) rc = count_orphans(db, &orphans, err);
  for (long long v = ver; rc == CS_OK && v < DB_SCHEMA_VERSION; v++) {
    rc = db_exec(db, migrations[v], err);
    if (rc) err_prefix(err, "migrating to schema v%lld", v + 1);
  }
  if (rc == CS_OK && ver < DB_SCHEMA_VERSION) {
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
             DB_APPLICATION_ID, DB_SCHEMA_VERSION);
    rc = db_exec(db, sql, err);
  }
  if (rc == CS_OK) rc = count_orphans(db, &orphans_after, err);
  if (rc == CS_OK && orphans_after > orphans)
    rc = err_set(err, CS_EDB, "%s: migrating would orphan %lld rows; nothing was changed",
                 db->path, orphans_after - orphans);
  if (rc == CS_OK) rc = db_exec(db, "COMMIT", err);
  if (rc) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
  int fk = db_exec(db, "PRAGMA foreign_keys = ON", rc ? NULL : err);
  return rc ? rc : fk;
}

/* What a path that is not a regular file is, for the message. */
static const char *file_kind(mode_t m) {
  return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

/* 1 when PATH-SUFFIX exists (any kind of file). */
static int sidecar_exists(const char *path, const char *suffix) {
  char p[DB_PATH_MAX + 8];
  struct stat sb;
  snprintf(p, sizeof p, "%s%s", path, suffix);
  return lstat(p, &sb) == 0;
}

int db_open(const char *path, Db **out, Err *err) {
  *out = NULL;
  if (!path || !*path) return err_set(err, CS_EINVAL, "database path is empty");
  if (strlen(path) >= DB_PATH_MAX)
    return err_set(err, CS_EINVAL, "database path is too long (%zu bytes)", strlen(path));
  struct stat sb;
  int exists = stat(path, &sb) == 0;
  if (!exists && errno != ENOENT) return err_set(err, CS_EIO, "cannot access %s: %s", path, strerror(errno));
  /* Opening a FIFO blocks until a writer comes, and a device or directory is no
   * database: refuse before any open. */
  if (exists && !S_ISREG(sb.st_mode))
    return err_set(err, CS_EINVAL, "%s is %s, not a database file", path, file_kind(sb.st_mode));
  int rc;
  if (exists && (rc = check_magic(path, err))) return rc;
  /* SQLite creates PATH-wal and PATH-shm when it reads a WAL-mode file. */
  int had_sidecars = sidecar_exists(path, "-wal") || sidecar_exists(path, "-shm");

  Db *db = calloc(1, sizeof *db);
  if (!db) return err_set(err, CS_ENOMEM, "out of memory opening %s", path);
  snprintf(db->path, sizeof db->path, "%s", path);
  int flags = SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
    rc = err_set(err, CS_EIO, "cannot open %s: %s", path,
                 db->h ? sqlite3_errmsg(db->h) : "out of memory");
    db_close(db);
    return rc;
  }
  /* Connection settings only, nothing is written to the file yet; no
   * checkpoint on close while the file may still be refused. */
  sqlite3_extended_result_codes(db->h, 1);
  sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
  sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
  long long version = 0;
  rc = check_identity(db, &version, err);
  if (rc == CS_OK) rc = db_uuid_register(db, err);
  if (rc == CS_OK) rc = db_exec(db, "PRAGMA foreign_keys = ON", err);
  /* Current files take no write lock here (and may be read-only). */
  if (rc == CS_OK && version < DB_SCHEMA_VERSION) rc = migrate(db, err);
  if (rc == CS_OK) rc = set_wal(db, err);
  if (rc) {
    /* A refused WAL-mode file would keep the -wal and -shm this open created (no
     * checkpoint on close leaves them). When neither was there before, close with
     * the checkpoint on: SQLite then deletes both, and only if no other connection
     * has the file open (it takes the exclusive lock first); the file itself is not
     * written, since this connection only read and its WAL is empty. */
    if (exists && !had_sidecars)
      sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, (int *)NULL);
    db_close(db);
    return rc;
  }
  sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, (int *)NULL);
  *out = db;
  return CS_OK;
}

int db_open_existing(const char *path, Db **out, Err *err) {
  struct stat sb;
  *out = NULL;
  if (path && *path && stat(path, &sb) != 0 && errno == ENOENT)
    return err_set(err, CS_ENOTFOUND, "no database at '%s' (train a run first, or pass --db)",
                   path);
  return db_open(path, out, err);
}

void db_close(Db *db) {
  if (!db) return;
  sqlite3_close_v2(db->h); /* NULL is a no-op; unfinalized statements keep it alive */
  free(db);
}
