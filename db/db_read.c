/*
 * db_read.c: readers for `curvscope runs`, analyze, the studies and the report.
 *
 * Each reader runs one SELECT and returns malloc'd copies; nothing here
 * writes. Series come back ascending by step with SQL NULL as NAN.
 *
 * Ownership: the caller frees returned arrays with free() and RunRows with
 * run_row_free. Thread safety: one thread per Db.
 */
#include "db_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static char *col_str(sqlite3_stmt *st, int i, int *oom) {
  const unsigned char *t = sqlite3_column_text(st, i);
  if (!t) return NULL;
  size_t n = (size_t)sqlite3_column_bytes(st, i) + 1;
  char *p = malloc(n);
  if (!p) {
    *oom = 1;
    return NULL;
  }
  memcpy(p, t, n);
  return p;
}

static double col_real(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t n) {
  const unsigned char *t = sqlite3_column_text(st, i);
  snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* Steps a bound statement whose rows are (step, value) into growing arrays;
 * finalizes it. */
static int read_pairs(Db *db, sqlite3_stmt *st, const char *what, long **steps,
                      double **values, size_t *n, Err *err) {
  long *s = NULL;
  double *v = NULL;
  size_t k = 0, cap = 0;
  int rc, status = CS_OK;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (k == cap) {
      cap = cap ? 2 * cap : 64;
      long *s2 = realloc(s, cap * sizeof *s2);
      if (s2) s = s2;
      double *v2 = realloc(v, cap * sizeof *v2);
      if (v2) v = v2;
      if (!s2 || !v2) {
        status = err_set(err, CS_ENOMEM, "out of memory %s", what);
        break;
      }
    }
    s[k] = (long)sqlite3_column_int64(st, 0);
    v[k] = col_real(st, 1);
    k++;
  }
  if (status == CS_OK && rc != SQLITE_DONE) status = db_fail(db, err, what);
  sqlite3_finalize(st);
  if (status) {
    free(s);
    free(v);
    s = NULL, v = NULL, k = 0;
  }
  *steps = s;
  *values = v;
  *n = k;
  return status;
}

/* ---- runs --------------------------------------------------------------- */

int db_run_get(Db *db, int64_t id, RunRow *out, Err *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st;
  if (db_prepare(db,
                 "SELECT id, name, study, grp, status, config, layout, created_at, error,"
                 " seed, n_params, finished_at, host, version, pid FROM runs WHERE id = ?",
                 &st, "reading a run", err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
      return err_set(err, CS_ENOTFOUND, "no run %lld in %s", (long long)id, db->path);
    return db_fail(db, err, "reading a run");
  }
  int oom = 0;
  out->id = sqlite3_column_int64(st, 0);
  out->name = col_str(st, 1, &oom);
  out->study = col_str(st, 2, &oom);
  out->grp = col_str(st, 3, &oom);
  out->status = col_str(st, 4, &oom);
  out->config = col_str(st, 5, &oom);
  out->layout = col_str(st, 6, &oom);
  out->created_at = col_str(st, 7, &oom);
  out->error = col_str(st, 8, &oom);
  out->seed = (uint64_t)sqlite3_column_int64(st, 9);
  sqlite3_int64 np = sqlite3_column_int64(st, 10);
  out->n_params = np > 0 ? (size_t)np : 0;
  out->finished_at = col_str(st, 11, &oom);
  out->host = col_str(st, 12, &oom);
  out->version = col_str(st, 13, &oom);
  out->pid = (long)sqlite3_column_int64(st, 14);
  sqlite3_finalize(st);
  if (oom) {
    run_row_free(out);
    return err_set(err, CS_ENOMEM, "out of memory reading run %lld", (long long)id);
  }
  return CS_OK;
}

void run_row_free(RunRow *row) {
  if (!row) return;
  char **s[] = {&row->name,  &row->study,       &row->grp,  &row->status,
                &row->config, &row->layout,     &row->created_at, &row->error,
                &row->finished_at, &row->host,  &row->version};
  for (size_t i = 0; i < sizeof s / sizeof *s; i++) free(*s[i]);
  memset(row, 0, sizeof *row);
}

int db_run_summaries(Db *db, RunSummary **out, size_t *n, Err *err) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  if (db_prepare(db,
                 "SELECT id, name, study, status, steps, final_loss, final_accuracy,"
                 " final_test_accuracy, max_sharpness, eos_onset, opt, lr, max_precond_sharpness"
                 " FROM run_summary"
                 " ORDER BY id",
                 &st, "reading run summaries", err))
    return CS_EDB;
  RunSummary *rs = NULL;
  size_t k = 0, cap = 0;
  int rc, status = CS_OK;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (k == cap) {
      cap = cap ? 2 * cap : 32;
      RunSummary *p = realloc(rs, cap * sizeof *p);
      if (!p) {
        status = err_set(err, CS_ENOMEM, "out of memory reading run summaries");
        break;
      }
      rs = p;
    }
    RunSummary *s = &rs[k++];
    memset(s, 0, sizeof *s);
    s->id = sqlite3_column_int64(st, 0);
    col_copy(st, 1, s->name, sizeof s->name);
    col_copy(st, 2, s->study, sizeof s->study);
    col_copy(st, 3, s->status, sizeof s->status);
    s->steps = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(st, 4);
    s->final_loss = col_real(st, 5);
    s->final_accuracy = col_real(st, 6);
    s->final_test_accuracy = col_real(st, 7);
    s->max_sharpness = col_real(st, 8);
    s->eos_onset = col_real(st, 9);
    col_copy(st, 10, s->opt, sizeof s->opt);
    s->lr = col_real(st, 11);
    s->max_precond_sharpness = col_real(st, 12);
  }
  if (status == CS_OK && rc != SQLITE_DONE) status = db_fail(db, err, "reading run summaries");
  sqlite3_finalize(st);
  if (status) {
    free(rs);
    return status;
  }
  *out = rs;
  *n = k;
  return CS_OK;
}

/* ---- checkpoints -------------------------------------------------------- */

int db_checkpoint_steps(Db *db, int64_t run, long **steps, size_t *n, Err *err) {
  *steps = NULL;
  *n = 0;
  int rc = db_run_check(db, run, err);
  if (rc) return rc;
  sqlite3_stmt *st;
  if (db_prepare(db, "SELECT step, 0 FROM checkpoints WHERE run_id = ? ORDER BY step", &st,
                 "listing checkpoints", err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  double *dummy = NULL;
  rc = read_pairs(db, st, "listing checkpoints", steps, &dummy, n, err);
  free(dummy);
  return rc;
}

/* "run 3 has no checkpoint at step 7 (checkpoints at steps 0, 50, 100)". */
static int not_found(Db *db, int64_t run, long step, Err *err) {
  long *steps = NULL;
  size_t n = 0;
  Err e2;
  if (db_checkpoint_steps(db, run, &steps, &n, &e2)) n = 0;
  char list[160] = "";
  size_t len = 0;
  for (size_t i = 0; i < n && len < sizeof list; i++) {
    if (len + 24 >= sizeof list) {
      snprintf(list + len, sizeof list - len, ", ... %ld", steps[n - 1]);
      break;
    }
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%ld", i ? ", " : "", steps[i]);
  }
  free(steps);
  if (n == 0)
    return err_set(err, CS_ENOTFOUND, "run %lld in %s has no checkpoints", (long long)run,
                   db->path);
  if (step < 0)
    return err_set(err, CS_ENOTFOUND, "run %lld has no checkpoint (checkpoints at steps %s)",
                   (long long)run, list);
  return err_set(err, CS_ENOTFOUND, "run %lld has no checkpoint at step %ld (checkpoints at steps %s)",
                 (long long)run, step, list);
}

/* Little-endian float64 bytes to doubles, whatever the host's byte order. */
static void decode_le(const unsigned char *b, size_t count, double *out) {
  for (size_t i = 0; i < count; i++) {
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = (u << 8) | b[8 * i + (size_t)k];
    memcpy(&out[i], &u, sizeof u);
  }
}

int db_opt_state_read(Db *db, int64_t run, long step, char **meta, double **state, size_t *n,
                      Err *err) {
  *meta = NULL;
  *state = NULL;
  *n = 0;
  sqlite3_stmt *st;
  if (db_prepare(db, "SELECT opt_meta, opt_state FROM checkpoints WHERE run_id = ?1 AND step = ?2",
                 &st, "reading an optimizer state", err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  sqlite3_bind_int64(st, 2, step);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL) {
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(db, err, "reading an optimizer state");
    return err_set(err, CS_ENOTFOUND,
                   "run %lld has no optimizer state stored at step %ld (runs trained before it "
                   "was stored, or by an optimizer without state)", (long long)run, step);
  }
  const char *m = (const char *)sqlite3_column_text(st, 0);
  const unsigned char *b = sqlite3_column_blob(st, 1);
  size_t bytes = (size_t)sqlite3_column_bytes(st, 1), count = bytes / 8;
  *meta = m ? strdup(m) : NULL;
  *state = count ? malloc(count * sizeof **state) : NULL;
  if (!*meta || (count && !*state)) {
    sqlite3_finalize(st);
    free(*meta), free(*state);
    *meta = NULL, *state = NULL;
    return err_set(err, CS_ENOMEM, "out of memory reading an optimizer state");
  }
  decode_le(b, count, *state);
  *n = count;
  sqlite3_finalize(st);
  return CS_OK;
}

int db_checkpoint_read(Db *db, int64_t run, long step, double **params, size_t *n,
                       long *step_out, Err *err) {
  *params = NULL;
  *n = 0;
  int rc = db_run_check(db, run, err);
  if (rc) return rc;
  sqlite3_stmt *st;
  const char *sql = step < 0 ? "SELECT step, params FROM checkpoints WHERE run_id = ?1"
                               " ORDER BY step DESC LIMIT 1"
                             : "SELECT step, params FROM checkpoints WHERE run_id = ?1"
                               " AND step = ?2";
  if (db_prepare(db, sql, &st, "reading a checkpoint", err)) return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  if (step >= 0) sqlite3_bind_int64(st, 2, step);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? not_found(db, run, step, err)
                             : db_fail(db, err, "reading a checkpoint");
  }
  long got = (long)sqlite3_column_int64(st, 0);
  const unsigned char *b = sqlite3_column_blob(st, 1);
  size_t bytes = (size_t)sqlite3_column_bytes(st, 1);
  if (bytes % 8 != 0) {
    sqlite3_finalize(st);
    return err_set(err, CS_EFORMAT,
                   "checkpoint of run %lld at step %ld in %s is %zu bytes, not float64s",
                   (long long)run, got, db->path, bytes);
  }
  size_t count = bytes / 8;
  double *p = count ? malloc(count * sizeof *p) : NULL;
  if (count && !p) {
    sqlite3_finalize(st);
    return err_set(err, CS_ENOMEM, "out of memory reading a checkpoint of %zu values", count);
  }
  decode_le(b, count, p);
  sqlite3_finalize(st);
  *params = p;
  *n = count;
  if (step_out) *step_out = got;
  return CS_OK;
}

/* ---- series ------------------------------------------------------------- */

int db_metric_series(Db *db, int64_t run, const char *name, long **steps, double **values,
                     size_t *n, Err *err) {
  *steps = NULL, *values = NULL, *n = 0;
  if (!name || !*name) return err_set(err, CS_EINVAL, "db_metric_series: empty metric name");
  int rc = db_run_check(db, run, err);
  if (rc) return rc;
  sqlite3_stmt *st;
  if (db_prepare(db,
                 "SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step",
                 &st, "reading a metric", err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  return read_pairs(db, st, "reading a metric", steps, values, n, err);
}

int db_eig_series(Db *db, int64_t run, const char *op, int idx, long **steps, double **values,
                  size_t *n, Err *err) {
  *steps = NULL, *values = NULL, *n = 0;
  if (!op || !*op) return err_set(err, CS_EINVAL, "db_eig_series: empty operator name");
  int rc = db_run_check(db, run, err);
  if (rc) return rc;
  sqlite3_stmt *st;
  if (db_prepare(db,
                 /* one value per step: the solve on the most examples (SQLite takes
                    the bare column from the row with the max); the training series
                    only, never a post-hoc solve (source 'analyze') */
                 "SELECT step, value, max(batch_size) FROM eigs"
                 " WHERE run_id = ? AND operator = ? AND idx = ? AND source <> 'analyze'"
                 " GROUP BY step ORDER BY step",
                 &st, "reading eigenvalues", err))
    return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  sqlite3_bind_text(st, 2, op, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, idx);
  return read_pairs(db, st, "reading eigenvalues", steps, values, n, err);
}

int db_step_series(Db *db, int64_t run, const char *column, long **steps, double **values,
                   size_t *n, Err *err) {
  static const char *const allowed[] = {"loss",       "accuracy", "lr",    "grad_norm",
                                        "param_norm", "epoch",    "wall_s"};
  *steps = NULL, *values = NULL, *n = 0;
  const char *col = NULL;
  for (size_t i = 0; column && i < sizeof allowed / sizeof *allowed; i++)
    if (!strcmp(column, allowed[i])) col = allowed[i];
  if (!col)
    return err_set(err, CS_EINVAL,
                   "db_step_series: '%s' is not a step column (loss, accuracy, lr, grad_norm, "
                   "param_norm, epoch, wall_s)",
                   column ? column : "(null)");
  int rc = db_run_check(db, run, err);
  if (rc) return rc;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT step, %s FROM steps WHERE run_id = ? ORDER BY step", col);
  sqlite3_stmt *st;
  if (db_prepare(db, sql, &st, "reading steps", err)) return CS_EDB;
  sqlite3_bind_int64(st, 1, run);
  return read_pairs(db, st, "reading steps", steps, values, n, err);
}
