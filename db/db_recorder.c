/*
 * db_recorder.c: the Recorder over SQLite, and direct writes for post-hoc
 * studies.
 *
 * Workload: a training loop writes a step row every step or few, a handful of
 * metrics, a few eigenvalues every k steps, a checkpoint now and then. Rows
 * are queued in memory (copies) and committed in one IMMEDIATE transaction
 * when 256 rows are pending, when the oldest is 2 s old, on flush, after a
 * checkpoint and on run_end. Holding no transaction between commits means a
 * long Lanczos solve in this process never blocks another process's writes;
 * a crash loses at most the queue. Each commit refreshes the run's heartbeat.
 *
 * Another program may hold the write lock for a long time (a sqlite3 shell in
 * a transaction, a backup). Training must not stall or fail on that: a commit
 * due on a write makes one short attempt (policy.busy_ms), and while the lock
 * stays held the rows wait in memory and later writes retry with a backoff,
 * up to a bound in rows and bytes (db.h, DbWritePolicy). The calls that end
 * something (run_begin, flush, run_end, close) wait longer (policy.wait_s).
 *
 * Ownership: the DbRecorder (Recorder.self) is freed by db_recorder_close;
 * the Db must outlive it. Thread safety: one thread per recorder and Db.
 */
#include "db_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COMMIT_ROWS 256
#define COMMIT_SECONDS 2.0
/* Retry delays on the training path while another connection holds the lock. */
#define BACKOFF_MIN_S 0.25
#define BACKOFF_MAX_S 4.0

typedef enum { Q_STEP, Q_METRIC, Q_SERIES, Q_EIGS, Q_DENSITY, Q_PHASE, Q_CKPT, Q_OPT } QKind;

/* One queued record; arrays and strings are owned copies. */
typedef struct QItem {
  QKind kind;
  long step;
  char *s1;        /* metric/series name, operator, phase */
  char *s2;        /* phase detail JSON; eigs source */
  size_t n;        /* values in v1 (and v2); blob bytes for a checkpoint */
  double *v1;      /* series values, eig values, density x */
  double *v2;      /* eig residuals, density y */
  unsigned char *blob; /* checkpoint params, little-endian float64 */
  StepRecord rec;  /* Q_STEP */
  double value;    /* metric value; eig wall_s */
  long a, b;       /* eig batch_size, matvecs; phase start, end */
  int converged, bottom, draw; /* eigs */
  size_t rows, bytes; /* database rows it makes; memory it holds (for the bound) */
} QItem;

enum { S_STEP, S_METRIC, S_SERIES, S_EIG, S_DENSITY, S_PHASE, S_CKPT, S_OPT, S_RUN, S_BEAT, S_END,
       S_BEGIN, S_COMMIT, S_ROLLBACK, S_COUNT };

static const char *const stmt_sql[S_COUNT] = {
    [S_STEP] = "INSERT OR REPLACE INTO steps(run_id, step, epoch, loss, accuracy, lr, grad_norm,"
               " param_norm, wall_s) VALUES(?,?,?,?,?,?,?,?,?)",
    [S_METRIC] = "INSERT OR REPLACE INTO metrics(run_id, step, name, value) VALUES(?,?,?,?)",
    [S_SERIES] = "INSERT OR REPLACE INTO series(run_id, step, name, idx, value) VALUES(?,?,?,?,?)",
    [S_EIG] = "INSERT OR REPLACE INTO eigs(run_id, step, operator, batch_size, idx, value,"
              " residual, matvecs, wall_s, converged, draw, source)"
              " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_DENSITY] = "INSERT INTO densities(run_id, step, operator, x, density) VALUES(?,?,?,?,?)",
    [S_PHASE] = "INSERT INTO phases(run_id, phase, start_step, end_step, detail)"
                " VALUES(?,?,?,?,?)",
    [S_CKPT] = "INSERT OR REPLACE INTO checkpoints(run_id, step, params, layout) VALUES(?,?,?,?)",
    [S_OPT] = "UPDATE checkpoints SET opt_meta = ?, opt_state = ? WHERE run_id = ? AND step = ?",
    [S_RUN] = "INSERT INTO runs(name, study, grp, status, created_at, config, seed, n_params,"
              " version, host, pid, heartbeat_at, layout, uuid)"
              " VALUES(?,?,?,'running',?,?,?,?,?,?,?,?,?,?)",
    [S_BEAT] = "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
    [S_END] = "UPDATE runs SET status = ?, finished_at = ?, error = ?, heartbeat_at = ?"
              " WHERE id = ?",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
};

typedef struct DbRecorder {
  Db *db;
  sqlite3_stmt *st[S_COUNT];
  int64_t run;       /* 0: no run yet */
  size_t n_params;   /* of the run, 0 if unknown */
  char *layout;      /* the run's layout JSON, stored with checkpoints */
  QItem *q;
  size_t nq, capq;
  size_t rows;       /* database rows pending */
  size_t bytes;      /* memory held by the queue */
  double t_first;    /* monotonic time of the oldest pending row */
  double locked_since; /* monotonic time of the first busy attempt since the last commit; 0: none */
  double next_try;   /* no commit attempt on a write before this (backing off) */
  double backoff;    /* the current retry delay, s */
  int gave_up;       /* a waiting commit timed out: the next waiting one tries once */
} DbRecorder;

/* ---- small helpers ------------------------------------------------------ */

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- write policy ------------------------------------------------------- */

void db_write_policy_default(DbWritePolicy *p) {
  *p = (DbWritePolicy){.busy_ms = 100, .wait_s = 60.0, .max_rows = 1000000,
                       .max_bytes = (size_t)256000000};
}

void db_set_write_policy(Db *db, const DbWritePolicy *p) { db->policy = *p; }

/* db->policy with zero fields replaced by their defaults. */
static DbWritePolicy policy_of(const Db *db) {
  DbWritePolicy d, p = db->policy;
  db_write_policy_default(&d);
  if (p.busy_ms <= 0) p.busy_ms = d.busy_ms;
  if (!(p.wait_s > 0)) p.wait_s = d.wait_s;
  if (!p.max_rows) p.max_rows = d.max_rows;
  if (!p.max_bytes) p.max_bytes = d.max_bytes;
  return p;
}

/* The lock wait of a call that ends something: wait_s, or none right after
 * such a wait timed out (so run_end after a failed flush does not wait twice). */
static int wait_ms(const DbRecorder *r) {
  double s = policy_of(r->db).wait_s;
  if (r->gave_up) return 0;
  return s * 1000.0 >= (double)INT_MAX ? INT_MAX : (int)ceil(s * 1000.0);
}

static char *dup_str(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static double *dup_doubles(const double *v, size_t n) {
  if (!v || n == 0) return NULL;
  double *p = malloc(n * sizeof *p);
  if (p) memcpy(p, v, n * sizeof *p);
  return p;
}

static void item_free(QItem *it) {
  free(it->s1);
  free(it->s2);
  free(it->v1);
  free(it->v2);
  free(it->blob);
  memset(it, 0, sizeof *it);
}

/* Runs one prepared statement to completion and resets it. */
static int stmt_run(DbRecorder *r, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void item_describe(const QItem *it, char *buf, size_t n) {
  static const char *const kind[] = {"step", "metric", "series", "eigs", "density", "phase",
                                     "checkpoint", "optimizer state"};
  if (it->s1)
    snprintf(buf, n, "writing %s '%s' at step %ld", kind[it->kind], it->s1, it->step);
  else
    snprintf(buf, n, "writing %s at step %ld", kind[it->kind], it->step);
}

/* Writes one queued item; returns an SQLite code. */
static int item_write(DbRecorder *r, const QItem *it) {
  sqlite3_stmt *st;
  int rc = SQLITE_OK;
  switch (it->kind) {
    case Q_STEP: {
      const StepRecord *s = &it->rec;
      st = r->st[S_STEP];
      sqlite3_bind_int64(st, 1, r->run);
      sqlite3_bind_int64(st, 2, s->step);
      db_bind_real(st, 3, s->epoch);
      db_bind_real(st, 4, s->loss);
      db_bind_real(st, 5, s->accuracy);
      db_bind_real(st, 6, s->lr);
      db_bind_real(st, 7, s->grad_norm);
      db_bind_real(st, 8, s->param_norm);
      db_bind_real(st, 9, s->wall_s);
      return stmt_run(r, st);
    }
    case Q_METRIC:
      st = r->st[S_METRIC];
      sqlite3_bind_int64(st, 1, r->run);
      sqlite3_bind_int64(st, 2, it->step);
      sqlite3_bind_text(st, 3, it->s1, -1, SQLITE_STATIC);
      db_bind_real(st, 4, it->value);
      return stmt_run(r, st);
    case Q_SERIES:
      st = r->st[S_SERIES];
      for (size_t i = 0; i < it->n && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(st, 1, r->run);
        sqlite3_bind_int64(st, 2, it->step);
        sqlite3_bind_text(st, 3, it->s1, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)i);
        db_bind_real(st, 5, it->v1[i]);
        rc = stmt_run(r, st);
      }
      return rc;
    case Q_EIGS:
      st = r->st[S_EIG];
      for (size_t i = 0; i < it->n && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(st, 1, r->run);
        sqlite3_bind_int64(st, 2, it->step);
        sqlite3_bind_text(st, 3, it->s1, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, it->a);
        sqlite3_bind_int64(st, 5, it->bottom ? -1 - (sqlite3_int64)i : (sqlite3_int64)i);
        db_bind_real(st, 6, it->v1[i]);
        if (it->v2) db_bind_real(st, 7, it->v2[i]);
        sqlite3_bind_int64(st, 8, it->b);
        db_bind_real(st, 9, it->value);
        sqlite3_bind_int(st, 10, it->converged);
        sqlite3_bind_int(st, 11, it->draw);
        sqlite3_bind_text(st, 12, it->s2 ? it->s2 : "probe", -1, SQLITE_STATIC);
        rc = stmt_run(r, st);
      }
      return rc;
    case Q_DENSITY:
      st = r->st[S_DENSITY];
      for (size_t i = 0; i < it->n && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(st, 1, r->run);
        sqlite3_bind_int64(st, 2, it->step);
        sqlite3_bind_text(st, 3, it->s1, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, it->v1[i]);
        db_bind_real(st, 5, it->v2[i]);
        rc = stmt_run(r, st);
      }
      return rc;
    case Q_PHASE:
      st = r->st[S_PHASE];
      sqlite3_bind_int64(st, 1, r->run);
      sqlite3_bind_text(st, 2, it->s1, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 3, it->a);
      sqlite3_bind_int64(st, 4, it->b);
      db_bind_text(st, 5, it->s2);
      return stmt_run(r, st);
    case Q_CKPT:
      st = r->st[S_CKPT];
      sqlite3_bind_int64(st, 1, r->run);
      sqlite3_bind_int64(st, 2, it->step);
      sqlite3_bind_blob64(st, 3, it->blob ? (const void *)it->blob : (const void *)"",
                          it->n, SQLITE_STATIC);
      sqlite3_bind_text(st, 4, r->layout ? r->layout : "null", -1, SQLITE_STATIC);
      return stmt_run(r, st);
    case Q_OPT:
      st = r->st[S_OPT];
      db_bind_text(st, 1, it->s2);
      sqlite3_bind_blob64(st, 2, it->blob ? (const void *)it->blob : (const void *)"", it->n,
                          SQLITE_STATIC);
      sqlite3_bind_int64(st, 3, r->run);
      sqlite3_bind_int64(st, 4, it->step);
      return stmt_run(r, st);
  }
  return SQLITE_MISUSE;
}

static void queue_drop(DbRecorder *r, size_t from, size_t count) {
  if (count == 0) return;
  for (size_t i = from; i < from + count; i++) {
    r->rows -= r->q[i].rows;
    r->bytes -= r->q[i].bytes;
    item_free(&r->q[i]);
  }
  memmove(r->q + from, r->q + from + count, (r->nq - from - count) * sizeof *r->q);
  r->nq -= count;
}

/* How a commit attempt ended. */
typedef enum { C_DONE, C_BUSY, C_FAILED } CommitOutcome;

static int is_busy(int rc) {
  return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Failures that are the row's own (it is dropped); any other keeps the queue. */
static int is_row_fault(int rc) {
  int p = rc & 0xff;
  return p == SQLITE_CONSTRAINT || p == SQLITE_MISMATCH || p == SQLITE_TOOBIG || p == SQLITE_RANGE;
}

/* Classifies a failed statement of an attempt begun at t0 (call before
 * ROLLBACK, which resets the message): busy notes when the lock was first met;
 * anything else fills err, CS_EIO for a full disk or an I/O error, CS_EDB
 * otherwise. */
static CommitOutcome attempt_failed(DbRecorder *r, double t0, int rc, const char *what, Err *err) {
  if (is_busy(rc)) {
    if (r->locked_since == 0) r->locked_since = t0;
    return C_BUSY;
  }
  int p = rc & 0xff;
  err_set(err, p == SQLITE_FULL || p == SQLITE_IOERR ? CS_EIO : CS_EDB, "%s: %s (%s)", what,
          sqlite3_errmsg(r->db->h), r->db->path);
  return C_FAILED;
}

/* Seconds since a commit attempt first found the lock held (0: it is not). */
static double locked_for(const DbRecorder *r) {
  return r->locked_since > 0 ? mono_now() - r->locked_since : 0;
}

/* One attempt at committing the queue (and, with end_status, the run's end) in
 * one transaction, waiting up to busy_ms for the write lock. C_BUSY: the lock is
 * held elsewhere, nothing written. C_FAILED (err filled): a row the database
 * refuses is dropped, other failures keep the whole queue. */
static CommitOutcome commit_once(DbRecorder *r, int busy_ms, const char *end_status,
                                 const char *end_error, Err *err) {
  Db *db = r->db;
  char now[32];
  if (r->nq == 0 && !end_status && !r->run) return C_DONE;
  double t0 = mono_now();
  sqlite3_busy_timeout(db->h, busy_ms);
  int rc = stmt_run(r, r->st[S_BEGIN]);
  sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
  if (rc != SQLITE_OK) return attempt_failed(r, t0, rc, "starting a write", err);
  size_t i = 0;
  for (; i < r->nq && rc == SQLITE_OK; i++) rc = item_write(r, &r->q[i]);
  if (rc != SQLITE_OK) {
    char what[128];
    item_describe(&r->q[i - 1], what, sizeof what);
    CommitOutcome out = attempt_failed(r, t0, rc, what, err);
    stmt_run(r, r->st[S_ROLLBACK]);
    if (out == C_FAILED && is_row_fault(rc)) queue_drop(r, i - 1, 1);
    return out;
  }
  db_now_iso(now);
  if (r->run) {
    sqlite3_stmt *st = r->st[S_BEAT];
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->run);
    rc = stmt_run(r, st);
  }
  if (rc == SQLITE_OK && end_status) {
    sqlite3_stmt *st = r->st[S_END];
    sqlite3_bind_text(st, 1, end_status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
    db_bind_text(st, 3, end_error);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, r->run);
    rc = stmt_run(r, st);
  }
  if (rc == SQLITE_OK) rc = stmt_run(r, r->st[S_COMMIT]);
  if (rc != SQLITE_OK) {
    CommitOutcome out =
        attempt_failed(r, t0, rc, end_status ? "ending the run" : "committing", err);
    if (!sqlite3_get_autocommit(db->h)) stmt_run(r, r->st[S_ROLLBACK]);
    return out;
  }
  queue_drop(r, 0, r->nq);
  r->locked_since = r->next_try = r->backoff = 0;
  r->gave_up = 0;
  return C_DONE;
}

/* Commits, waiting up to wait_ms for the write lock: for the calls that end
 * something. CS_EDB naming the lock when it stayed held (*busy, may be NULL,
 * then 1); else CS_OK or the failure's status. */
static int commit_wait(DbRecorder *r, const char *end_status, const char *end_error, int *busy,
                       Err *err) {
  Err e = {0};
  CommitOutcome out = commit_once(r, wait_ms(r), end_status, end_error, &e);
  if (busy) *busy = out == C_BUSY;
  if (out == C_BUSY) {
    r->gave_up = 1;
    err_set(&e, CS_EDB,
            "%s has been locked by another connection for %.1f s: could not %s (%zu rows, "
            "%.2f MB pending)",
            r->db->path, locked_for(r), end_status ? "end the run" : "commit", r->rows,
            (double)r->bytes / 1e6);
  }
  return out == C_DONE ? CS_OK : err_set(err, e.code, "%s", e.msg);
}

/* A commit due on a write (the training path): one short attempt, none while
 * backing off from a held lock unless the queue is at its bound; an error only
 * for a real failure or when the bound is reached with the lock still held. */
static int commit_due(DbRecorder *r, int due, Err *err) {
  DbWritePolicy p = policy_of(r->db);
  int full = r->rows >= p.max_rows || r->bytes >= p.max_bytes;
  if (!full && (!due || mono_now() < r->next_try)) return CS_OK;
  CommitOutcome out = commit_once(r, p.busy_ms, NULL, NULL, err);
  if (out == C_DONE) return CS_OK;
  if (out == C_FAILED) return err ? err->code : CS_EDB;
  r->backoff = r->backoff > 0 ? fmin(2 * r->backoff, BACKOFF_MAX_S) : BACKOFF_MIN_S;
  r->next_try = mono_now() + r->backoff;
  if (!full) return CS_OK;
  return err_set(err, CS_EDB,
                 "%s has been locked by another connection for %.1f s: %zu pending rows (%.2f MB)"
                 " reached the most kept in memory meanwhile (%zu rows or %.3g MB)",
                 r->db->path, locked_for(r), r->rows, (double)r->bytes / 1e6, p.max_rows,
                 (double)p.max_bytes / 1e6);
}

/* Memory an item holds beyond its own struct. */
static size_t item_payload(const QItem *it) {
  size_t b = (it->s1 ? strlen(it->s1) + 1 : 0) + (it->s2 ? strlen(it->s2) + 1 : 0);
  if (it->v1) b += it->n * sizeof(double);
  if (it->v2) b += it->n * sizeof(double);
  if (it->blob) b += it->n;
  return b;
}

/* Appends an item (taking its allocations) and commits when due. */
static int enqueue(DbRecorder *r, QItem *it, size_t rows, int commit_now, Err *err) {
  if (r->nq == r->capq) {
    size_t cap = r->capq ? 2 * r->capq : 64;
    QItem *q = realloc(r->q, cap * sizeof *q);
    if (!q) {
      item_free(it);
      return err_set(err, CS_ENOMEM, "out of memory queueing a write to %s", r->db->path);
    }
    r->q = q;
    r->capq = cap;
  }
  double now = mono_now();
  if (r->nq == 0) r->t_first = now;
  it->rows = rows;
  it->bytes = sizeof *it + item_payload(it);
  r->q[r->nq++] = *it;
  r->rows += rows;
  r->bytes += it->bytes;
  return commit_due(r, commit_now || r->rows >= COMMIT_ROWS || now - r->t_first >= COMMIT_SECONDS,
                    err);
}

static int need_run(DbRecorder *r, const char *what, Err *err) {
  if (r->run) return CS_OK;
  return err_set(err, CS_EINVAL, "%s: the recorder on %s has no run (call run_begin first)",
                 what, r->db->path);
}

static int need_name(const char *s, const char *what, Err *err) {
  if (s && *s) return CS_OK;
  return err_set(err, CS_EINVAL, "%s: the name is empty", what);
}

static int oom(DbRecorder *r, QItem *it, const char *what, Err *err) {
  item_free(it);
  return err_set(err, CS_ENOMEM, "out of memory queueing %s for %s", what, r->db->path);
}

/* ---- the vtable --------------------------------------------------------- */

static int dr_flush(void *self, Err *err) { return commit_wait(self, NULL, NULL, NULL, err); }

static int dr_run_begin(void *self, const RunInfo *info, int64_t *run_id, Err *err) {
  DbRecorder *r = self;
  int rc;
  if (r->nq && (rc = commit_wait(r, NULL, NULL, NULL, err))) return rc;
  char now[32], host[256] = "", uuid[DB_UUID_LEN + 1];
  if ((rc = db_uuid4(uuid, err))) return rc;
  db_now_iso(now);
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  sqlite3_stmt *st = r->st[S_RUN];
  db_bind_text(st, 1, info->name);
  db_bind_text(st, 2, info->study);
  db_bind_text(st, 3, info->group);
  sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, info->config_json ? info->config_json : "{}", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)info->seed);
  sqlite3_bind_int64(st, 7, (sqlite3_int64)info->n_params);
  sqlite3_bind_text(st, 8, CURVSCOPE_VERSION, -1, SQLITE_STATIC);
  db_bind_text(st, 9, host[0] ? host : NULL);
  sqlite3_bind_int64(st, 10, (sqlite3_int64)getpid());
  sqlite3_bind_text(st, 11, now, -1, SQLITE_STATIC);
  db_bind_text(st, 12, info->layout_json);
  sqlite3_bind_text(st, 13, uuid, -1, SQLITE_TRANSIENT);
  double t0 = mono_now();
  sqlite3_busy_timeout(r->db->h, wait_ms(r));
  rc = stmt_run(r, st);
  sqlite3_busy_timeout(r->db->h, DB_BUSY_TIMEOUT_MS);
  if (rc != SQLITE_OK) {
    char what[160];
    snprintf(what, sizeof what, "starting run '%s'", info->name ? info->name : "");
    if (!is_busy(rc)) return db_fail(r->db, err, what);
    return err_set(err, CS_EDB, "%s: %s has been locked by another connection for %.1f s", what,
                   r->db->path, mono_now() - t0);
  }
  char *layout = dup_str(info->layout_json);
  if (info->layout_json && !layout)
    return err_set(err, CS_ENOMEM, "out of memory starting a run in %s", r->db->path);
  free(r->layout);
  r->layout = layout;
  r->run = sqlite3_last_insert_rowid(r->db->h);
  r->n_params = info->n_params;
  if (run_id) *run_id = r->run;
  return CS_OK;
}

static int dr_step(void *self, const StepRecord *s, Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "step", err)) return CS_EINVAL;
  QItem it = {.kind = Q_STEP, .step = s->step, .rec = *s};
  return enqueue(r, &it, 1, 0, err);
}

static int dr_metric(void *self, long step, const char *name, double value, Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "metric", err) || need_name(name, "metric", err)) return CS_EINVAL;
  QItem it = {.kind = Q_METRIC, .step = step, .value = value, .s1 = dup_str(name)};
  if (!it.s1) return oom(r, &it, "a metric", err);
  return enqueue(r, &it, 1, 0, err);
}

static int dr_series(void *self, long step, const char *name, size_t n, const double *v,
                     Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "series", err) || need_name(name, "series", err)) return CS_EINVAL;
  if (n == 0) return CS_OK;
  QItem it = {.kind = Q_SERIES, .step = step, .n = n, .s1 = dup_str(name),
              .v1 = dup_doubles(v, n)};
  if (!it.s1 || !it.v1) return oom(r, &it, "a series", err);
  return enqueue(r, &it, n, 0, err);
}

static int dr_eigs(void *self, const EigRecord *e, Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "eigs", err) || need_name(e->op, "eigs", err)) return CS_EINVAL;
  if (e->count <= 0) return CS_OK;
  size_t n = (size_t)e->count;
  QItem it = {.kind = Q_EIGS, .step = e->step, .n = n, .s1 = dup_str(e->op),
              .v1 = dup_doubles(e->values, n), .v2 = dup_doubles(e->residuals, n),
              .a = e->batch_size, .b = e->matvecs, .value = e->wall_s,
              .converged = e->converged, .bottom = e->bottom, .draw = e->draw,
              .s2 = dup_str(e->source)};
  if (!it.s1 || !it.v1 || (e->residuals && !it.v2) || (e->source && !it.s2))
    return oom(r, &it, "eigenvalues", err);
  return enqueue(r, &it, n, 0, err);
}

static int dr_density(void *self, long step, const char *op, size_t n, const double *x,
                      const double *y, Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "density", err) || need_name(op, "density", err)) return CS_EINVAL;
  if (n == 0) return CS_OK;
  QItem it = {.kind = Q_DENSITY, .step = step, .n = n, .s1 = dup_str(op),
              .v1 = dup_doubles(x, n), .v2 = dup_doubles(y, n)};
  if (!it.s1 || !it.v1 || !it.v2) return oom(r, &it, "a density", err);
  return enqueue(r, &it, n, 0, err);
}

static int dr_phase(void *self, const char *phase, long start, long end, const char *detail,
                    Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "phase", err) || need_name(phase, "phase", err)) return CS_EINVAL;
  QItem it = {.kind = Q_PHASE, .step = start, .a = start, .b = end, .s1 = dup_str(phase),
              .s2 = dup_str(detail)};
  if (!it.s1 || (detail && !it.s2)) return oom(r, &it, "a phase", err);
  return enqueue(r, &it, 1, 0, err);
}

/* Little-endian float64 bytes, whatever the host's byte order. */
static void encode_le(const double *v, size_t n, unsigned char *out) {
  for (size_t i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, &v[i], sizeof u);
    for (int k = 0; k < 8; k++) out[8 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
  }
}

static int dr_checkpoint(void *self, long step, const double *params, size_t n, Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "checkpoint", err)) return CS_EINVAL;
  if (r->n_params && n != r->n_params)
    return err_set(err, CS_EINVAL, "checkpoint at step %ld has %zu parameters, run %lld has %zu",
                   step, n, (long long)r->run, r->n_params);
  QItem it = {.kind = Q_CKPT, .step = step, .n = 8 * n};
  if (n) {
    it.blob = malloc(8 * n);
    if (!it.blob) return oom(r, &it, "a checkpoint", err);
    encode_le(params, n, it.blob);
  }
  return enqueue(r, &it, 1, 1, err);
}

static int dr_opt_state(void *self, long step, const char *meta, const double *state, size_t n,
                        Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "opt_state", err)) return CS_EINVAL;
  QItem it = {.kind = Q_OPT, .step = step, .n = 8 * n, .s2 = dup_str(meta)};
  if (n) {
    it.blob = malloc(8 * n);
    if (!it.blob || (meta && !it.s2)) return oom(r, &it, "an optimizer state", err);
    encode_le(state, n, it.blob);
  }
  return enqueue(r, &it, 1, 1, err);
}

static int dr_run_end(void *self, const char *status, const char *error, Err *err) {
  DbRecorder *r = self;
  if (need_run(r, "run_end", err)) return CS_EINVAL;
  static const char *const ok[] = {"finished", "diverged", "interrupted", "failed"};
  int valid = 0;
  for (size_t i = 0; status && i < sizeof ok / sizeof *ok; i++) valid |= !strcmp(status, ok[i]);
  if (!valid)
    return err_set(err, CS_EINVAL,
                   "run_end: status '%s' is not finished, diverged, interrupted or failed",
                   status ? status : "(null)");
  Err e = {0};
  int busy = 0, rc = commit_wait(r, status, error, &busy, &e);
  if (rc == CS_OK || busy) return rc ? err_set(err, rc, "%s", e.msg) : CS_OK;
  /* The queue cannot be written (a full disk, an I/O error): drop it and record
   * at least how the run ended, as failed with the reason. */
  char why[512];
  if (!strcmp(status, "failed") && error)
    snprintf(why, sizeof why, "%s", error);
  else
    snprintf(why, sizeof why, "%s; %zu pending rows were lost (the run was %s)", e.msg, r->rows,
             status);
  queue_drop(r, 0, r->nq);
  /* Under a file-size limit the WAL may be full to the last frame: copying it into the
   * database (which holds far fewer distinct pages) lets the next write start it again,
   * so the one-page update below fits. Its failure changes nothing. */
  sqlite3_wal_checkpoint_v2(r->db->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
  Err e2 = {0};
  if (commit_once(r, wait_ms(r), "failed", why, &e2) != C_DONE)
    return err_set(err, rc, "%s; the run's end could not be recorded either", e.msg);
  /* A run ending as failed is recorded as asked; any other lost its last rows. */
  return strcmp(status, "failed") ? err_set(err, rc, "%s", e.msg) : CS_OK;
}

/* ---- open / attach / close ---------------------------------------------- */

static int recorder_new(Db *db, Recorder *out, DbRecorder **rp, Err *err) {
  memset(out, 0, sizeof *out);
  DbRecorder *r = calloc(1, sizeof *r);
  if (!r) return err_set(err, CS_ENOMEM, "out of memory opening a recorder on %s", db->path);
  r->db = db;
  for (int i = 0; i < S_COUNT; i++) {
    if (db_prepare(db, stmt_sql[i], &r->st[i], "preparing the recorder", err)) {
      for (int j = 0; j < i; j++) sqlite3_finalize(r->st[j]);
      free(r);
      return CS_EDB;
    }
  }
  *out = (Recorder){.self = r,
                    .run_begin = dr_run_begin,
                    .step = dr_step,
                    .metric = dr_metric,
                    .series = dr_series,
                    .eigs = dr_eigs,
                    .density = dr_density,
                    .phase = dr_phase,
                    .checkpoint = dr_checkpoint,
                    .opt_state = dr_opt_state,
                    .flush = dr_flush,
                    .run_end = dr_run_end};
  *rp = r;
  return CS_OK;
}

int db_recorder_open(Db *db, Recorder *out, Err *err) {
  DbRecorder *r;
  return recorder_new(db, out, &r, err);
}

int db_recorder_attach(Db *db, int64_t run, Recorder *out, Err *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st;
  if (db_prepare(db, "SELECT n_params, layout FROM runs WHERE id = ?", &st, "attaching to a run",
                 err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
      return err_set(err, CS_ENOTFOUND, "no run %lld in %s", (long long)run, db->path);
    return db_fail(db, err, "attaching to a run");
  }
  sqlite3_int64 np = sqlite3_column_int64(st, 0);
  const char *layout = (const char *)sqlite3_column_text(st, 1);
  char *lay = dup_str(layout);
  sqlite3_finalize(st);
  if (layout && !lay) return err_set(err, CS_ENOMEM, "out of memory attaching to a run");
  DbRecorder *r;
  if ((rc = recorder_new(db, out, &r, err))) {
    free(lay);
    return rc;
  }
  r->run = run;
  r->n_params = np > 0 ? (size_t)np : 0;
  r->layout = lay;
  return CS_OK;
}

void db_recorder_close(Recorder *rec) {
  if (!rec || !rec->self) return;
  DbRecorder *r = rec->self;
  if (r->nq) commit_wait(r, NULL, NULL, NULL, NULL);
  for (size_t i = 0; i < r->nq; i++) item_free(&r->q[i]);
  free(r->q);
  for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(r->st[i]);
  free(r->layout);
  free(r);
  memset(rec, 0, sizeof *rec);
}

/* ---- direct writes ------------------------------------------------------ */

static int run_stmt_once(Db *db, sqlite3_stmt *st, const char *what, Err *err) {
  int rc = sqlite3_step(st);
  int e = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? CS_OK : db_fail(db, err, what);
  sqlite3_finalize(st);
  return e;
}

int db_metric_put(Db *db, int64_t run, long step, const char *name, double v, Err *err) {
  if (need_name(name, "db_metric_put", err)) return CS_EINVAL;
  sqlite3_stmt *st;
  if (db_prepare(db, stmt_sql[S_METRIC], &st, "writing a metric", err)) return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  sqlite3_bind_int64(st, 2, step);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
  db_bind_real(st, 4, v);
  char what[128];
  snprintf(what, sizeof what, "writing metric '%s' of run %lld", name, (long long)run);
  return run_stmt_once(db, st, what, err);
}

int db_phase_put(Db *db, int64_t run, const char *phase, long start_step, long end_step,
                 const char *detail_json, Err *err) {
  if (need_name(phase, "db_phase_put", err)) return CS_EINVAL;
  sqlite3_stmt *st;
  if (db_prepare(db, stmt_sql[S_PHASE], &st, "writing a phase", err)) return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  sqlite3_bind_text(st, 2, phase, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, start_step);
  sqlite3_bind_int64(st, 4, end_step);
  db_bind_text(st, 5, detail_json);
  char what[128];
  snprintf(what, sizeof what, "writing phase '%s' of run %lld", phase, (long long)run);
  return run_stmt_once(db, st, what, err);
}

int db_phases_clear(Db *db, int64_t run, Err *err) {
  sqlite3_stmt *st;
  if (db_prepare(db, "DELETE FROM phases WHERE run_id = ?", &st, "clearing phases", err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  return run_stmt_once(db, st, "clearing phases", err);
}
