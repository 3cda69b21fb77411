/*
 * test_db.c: the SQLite run database (db/) and the in-memory recorder.
 *
 * Everything happens in a fresh temporary directory: a full run written and
 * read back (checkpoints bit for bit and as little-endian float64 bytes),
 * JSON queries through SQLite, the run_summary view, batching as seen from a
 * second connection, refusal of foreign/newer files (left byte-for-byte
 * unchanged), two processes writing one file at once, the status lifecycle,
 * a write lock held by another program (rows kept in memory up to a bound,
 * retries, bounded waits), a file-size limit mid-run, dead-run detection and
 * the messages of not-found errors.
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/recorder_memory.h"
#include "db/db.h"
#include "db/db_internal.h"
#include "sql_util.h"
#include "tap.h"

static char g_dir[256];

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

static unsigned char *slurp(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    if (*len == cap) {
      cap = cap ? 2 * cap : 4096;
      buf = realloc(buf, cap);
    }
    size_t got = fread(buf + *len, 1, cap - *len, f);
    if (got == 0) break;
    *len += got;
  }
  fclose(f);
  return buf ? buf : malloc(1);
}

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Opens a second, independent connection to path. */
static sqlite3 *raw_open(const char *path) {
  sqlite3 *h = NULL;
  sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL);
  sqlite3_busy_timeout(h, 10000);
  return h;
}

static const char *CONFIG = "{\"lr\":0.05,\"opt\":\"gd\",\"batch\":\"full\",\"seed\":7}";
static const char *LAYOUT = "{\"layers\":[{\"W\":[2,3],\"b\":1}],\"n\":7}";

static RunInfo run_info(const char *name) {
  return (RunInfo){.name = name,
                   .study = "train",
                   .group = "g1",
                   .config_json = CONFIG,
                   .seed = 12345678901234567890ULL, /* above INT64_MAX: must round-trip */
                   .n_params = 7,
                   .layout_json = LAYOUT};
}

static void special_params(double *p) {
  uint64_t nan_bits = 0x7ff8000000abcdefULL; /* a NaN with a payload */
  p[0] = 1.0 / 3.0;
  p[1] = -0.0;
  p[2] = 4.9e-324; /* smallest subnormal */
  p[3] = INFINITY;
  memcpy(&p[4], &nan_bits, sizeof p[4]);
  p[5] = 1e300;
  p[6] = -2.5;
}

/* ---- round trip --------------------------------------------------------- */

static void test_roundtrip(void) {
  char path[512];
  path_in(path, sizeof path, "rt.db");
  Err err = {0};
  Db *db = NULL;
  int rc = db_open(path, &db, &err);
  tap_ok(rc == CS_OK && db, "db_open creates %s (%s)", path, err.msg);
  if (!db) return;
  sqlite3 *h = db_sqlite(db);
  char buf[256];
  tap_ok(sql_int(h, "PRAGMA application_id") == DB_APPLICATION_ID, "application_id is Curv");
  tap_ok(sql_int(h, "PRAGMA user_version") == DB_SCHEMA_VERSION, "user_version is %d",
         DB_SCHEMA_VERSION);
  tap_ok(!strcmp(sql_text(h, "PRAGMA journal_mode", buf, sizeof buf), "wal"), "journal is WAL");
  tap_ok(sql_int(h, "PRAGMA foreign_keys") == 1, "foreign keys on");
  tap_ok(sql_int(h, "SELECT count(*) FROM sqlite_master WHERE name IN ('runs','steps','metrics',"
                    "'eigs','series','densities','phases','checkpoints','run_summary')") == 9,
         "all tables and the view exist");

  Recorder rec;
  rc = db_recorder_open(db, &rec, &err);
  tap_ok(rc == CS_OK, "db_recorder_open (%s)", err.msg);
  RunInfo info = run_info("rt");
  int64_t id = 0;
  rc = rec_run_begin(&rec, &info, &id, &err);
  tap_ok(rc == CS_OK && id > 0, "run_begin returns an id (%lld, %s)", (long long)id, err.msg);

  int wrote = 0;
  for (long s = 0; s < 20; s++) {
    StepRecord sr = {.step = s, .epoch = s / 10.0, .loss = 1.0 / (double)(s + 1),
                     .accuracy = 0.5 + s / 100.0, .lr = 0.05, .grad_norm = 2.0 - s / 20.0,
                     .param_norm = 3.0, .wall_s = 0.01 * (double)s};
    wrote += rec_step(&rec, &sr, &err) == CS_OK;
  }
  tap_ok(wrote == 20, "20 steps written (%s)", err.msg);
  wrote = 0;
  wrote += rec_metric(&rec, 10, "test_accuracy", 0.61, &err) == CS_OK;
  wrote += rec_metric(&rec, 19, "test_accuracy", 0.72, &err) == CS_OK;
  wrote += rec_metric(&rec, 19, "test_loss", 0.33, &err) == CS_OK;
  wrote += rec_metric(&rec, -1, "eos_onset", 12, &err) == CS_OK;
  long eig_steps[3] = {0, 10, 19};
  for (int k = 0; k < 3; k++) {
    double top[3] = {3 + eig_steps[k] * 0.1, 2, 1}, res[3] = {1e-9, 2e-9, 3e-9};
    EigRecord e = {.step = eig_steps[k], .op = "hessian", .batch_size = 100, .count = 3,
                   .values = top, .residuals = res, .matvecs = 40, .wall_s = 0.5,
                   .converged = 1};
    wrote += rec_eigs(&rec, &e, &err) == CS_OK;
  }
  double bot[2] = {-0.5, -0.1};
  EigRecord eb = {.step = 19, .op = "hessian", .batch_size = 100, .count = 2, .values = bot,
                  .residuals = NULL, .matvecs = 50, .wall_s = 0.7, .converged = 1, .bottom = 1};
  wrote += rec_eigs(&rec, &eb, &err) == CS_OK;
  double ser[5] = {0.5, 0.4, 0.3, 0.2, 0.1};
  wrote += rec_series(&rec, 10, "residual_freq", 5, ser, &err) == CS_OK;
  double dx[4] = {-1, 0, 1, 2}, dy[4] = {0.1, 0.5, 0.3, 0.1};
  wrote += rec_density(&rec, 19, "hessian", 4, dx, dy, &err) == CS_OK;
  wrote += rec_phase(&rec, "I", 0, 9, "{\"a\":1}", &err) == CS_OK;
  double params[7];
  special_params(params);
  long ck_steps[3] = {0, 10, 19};
  for (int k = 0; k < 3; k++) {
    params[6] = -2.5 - ck_steps[k];
    wrote += rec_checkpoint(&rec, ck_steps[k], params, 7, &err) == CS_OK;
  }
  wrote += rec_flush(&rec, &err) == CS_OK;
  wrote += rec_run_end(&rec, "finished", NULL, &err) == CS_OK;
  tap_ok(wrote == 16, "metrics, eigs, series, density, phase, checkpoints, flush, end (%s)",
         err.msg);

  /* the run row */
  RunRow row;
  rc = db_run_get(db, id, &row, &err);
  tap_ok(rc == CS_OK, "db_run_get (%s)", err.msg);
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  tap_ok(rc == CS_OK && !strcmp(row.name, "rt") && !strcmp(row.study, "train") &&
             !strcmp(row.grp, "g1") && !strcmp(row.status, "finished"),
         "run name, study, group, status");
  tap_ok(rc == CS_OK && !strcmp(row.config, CONFIG) && !strcmp(row.layout, LAYOUT),
         "config and layout stored verbatim");
  tap_ok(row.seed == 12345678901234567890ULL && row.n_params == 7, "seed (> 2^63) and n_params");
  tap_ok(row.created_at && strlen(row.created_at) == 24 && row.created_at[10] == 'T' &&
             row.created_at[23] == 'Z',
         "created_at is ISO-8601 UTC (%s)", row.created_at ? row.created_at : "NULL");
  tap_ok(row.finished_at != NULL && row.error == NULL, "finished_at set, no error");
  tap_ok(row.host && !strcmp(row.host, host) && row.pid == (long)getpid() && row.version &&
             !strcmp(row.version, CURVSCOPE_VERSION),
         "host, pid and version recorded");
  run_row_free(&row);
  run_row_free(&row); /* zeroed: a second free is harmless */
  run_row_free(NULL);

  /* JSON through SQLite */
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT json_extract(config, '$.lr') FROM runs WHERE id = %lld",
           (long long)id);
  tap_rel(sql_real(h, sql), 0.05, 0, "json_extract(config,'$.lr')");
  tap_ok(sql_int(h, "SELECT count(*) FROM runs WHERE json_extract(config,'$.opt') = 'gd'"
                    " AND json_extract(config,'$.lr') < 0.1") == 1,
         "a WHERE on json_extract finds the run");

  /* series readers */
  long *st = NULL;
  double *v = NULL;
  size_t n = 0;
  rc = db_step_series(db, id, "loss", &st, &v, &n, &err);
  int good = rc == CS_OK && n == 20;
  for (size_t i = 0; good && i < n; i++) good = st[i] == (long)i && v[i] == 1.0 / (double)(i + 1);
  tap_ok(good, "db_step_series(loss): 20 values in step order (%s)", err.msg);
  free(st), free(v);
  rc = db_step_series(db, id, "grad_norm", &st, &v, &n, &err);
  tap_ok(rc == CS_OK && n == 20 && v[19] == 2.0 - 19 / 20.0, "db_step_series(grad_norm)");
  free(st), free(v);
  rc = db_step_series(db, id, "loss FROM steps; --", &st, &v, &n, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "loss FROM steps") && !st && !v && n == 0,
         "db_step_series refuses a column outside the whitelist: %s", err.msg);
  rc = db_metric_series(db, id, "test_accuracy", &st, &v, &n, &err);
  tap_ok(rc == CS_OK && n == 2 && st[0] == 10 && st[1] == 19 && v[0] == 0.61 && v[1] == 0.72,
         "db_metric_series(test_accuracy)");
  free(st), free(v);
  rc = db_eig_series(db, id, "hessian", 0, &st, &v, &n, &err);
  tap_ok(rc == CS_OK && n == 3 && st[2] == 19 && v[0] == 3.0 && v[2] == 3 + 19 * 0.1,
         "db_eig_series(hessian, 0): the top eigenvalue at 3 steps");
  free(st), free(v);
  rc = db_eig_series(db, id, "hessian", -1, &st, &v, &n, &err);
  tap_ok(rc == CS_OK && n == 1 && v[0] == -0.5, "bottom eigenvalue idx -1 is the smallest");
  free(st), free(v);
  rc = db_eig_series(db, id, "hessian", -2, &st, &v, &n, &err);
  tap_ok(rc == CS_OK && n == 1 && v[0] == -0.1, "bottom eigenvalue idx -2 is the next");
  free(st), free(v);
  rc = db_eig_series(db, id, "ggn", 0, &st, &v, &n, &err);
  tap_ok(rc == CS_OK && n == 0 && !st && !v, "an operator never written gives n = 0");
  rc = db_metric_series(db, 4242, "test_loss", &st, &v, &n, &err);
  tap_ok(rc == CS_ENOTFOUND && strstr(err.msg, "4242"), "series of a missing run: %s", err.msg);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM eigs WHERE run_id = %lld AND residual IS NULL AND idx < 0",
           (long long)id);
  tap_ok(sql_int(h, sql) == 2, "bottom eigenvalues without residuals stored as NULL");
  snprintf(sql, sizeof sql,
           "SELECT sum(value) FROM series WHERE run_id = %lld AND name = 'residual_freq'"
           " AND step = 10", (long long)id);
  tap_rel(sql_real(h, sql), 1.5, 1e-12, "series: 5 values at step 10");
  snprintf(sql, sizeof sql, "SELECT count(*) FROM series WHERE run_id = %lld AND idx = 4",
           (long long)id);
  tap_ok(sql_int(h, sql) == 1, "series idx runs 0..n-1");
  snprintf(sql, sizeof sql,
           "SELECT sum(x * density) FROM densities WHERE run_id = %lld AND operator = 'hessian'"
           " AND step = 19", (long long)id);
  tap_rel(sql_real(h, sql), -0.1 + 0.3 + 0.2, 1e-12, "density: 4 points");
  snprintf(sql, sizeof sql,
           "SELECT json_extract(detail, '$.a') + 100 * start_step + 1000 * end_step"
           " FROM phases WHERE run_id = %lld AND phase = 'I'", (long long)id);
  tap_ok(sql_int(h, sql) == 9001, "phase I with start, end and JSON detail");

  /* run_summary */
  RunSummary *rs = NULL;
  size_t nrs = 0;
  rc = db_run_summaries(db, &rs, &nrs, &err);
  tap_ok(rc == CS_OK && nrs == 1 && rs[0].id == id && !strcmp(rs[0].name, "rt") &&
             !strcmp(rs[0].study, "train") && !strcmp(rs[0].status, "finished") &&
             rs[0].steps == 19,
         "run_summary: one row, name/study/status/steps (%s)", err.msg);
  if (nrs == 1) {
    tap_rel(rs[0].final_loss, 1.0 / 20, 1e-15, "run_summary final_loss");
    tap_rel(rs[0].final_accuracy, 0.69, 1e-15, "run_summary final_accuracy");
    tap_rel(rs[0].final_test_accuracy, 0.72, 1e-15, "run_summary final_test_accuracy");
    tap_rel(rs[0].max_sharpness, 3 + 1.9, 1e-15, "run_summary max_sharpness");
    tap_rel(rs[0].eos_onset, 12, 0, "run_summary eos_onset (run-level metric)");
  }
  free(rs);
  snprintf(sql, sizeof sql,
           "SELECT lr || '|' || opt || '|' || batch || '|' || final_test_loss || '|' ||"
           " best_loss || '|' || grp FROM run_summary WHERE id = %lld", (long long)id);
  tap_ok(!strcmp(sql_text(h, sql, buf, sizeof buf), "0.05|gd|full|0.33|0.05|g1"),
         "run_summary lr, opt, batch, final_test_loss, best_loss, grp (%s)", buf);

  /* checkpoints */
  long *cks = NULL;
  size_t ncks = 0;
  rc = db_checkpoint_steps(db, id, &cks, &ncks, &err);
  tap_ok(rc == CS_OK && ncks == 3 && cks[0] == 0 && cks[1] == 10 && cks[2] == 19,
         "db_checkpoint_steps: 0, 10, 19");
  free(cks);
  double *p = NULL;
  size_t np = 0;
  long got = -5;
  special_params(params);
  params[6] = -2.5 - 19;
  rc = db_checkpoint_read(db, id, -1, &p, &np, &got, &err);
  tap_ok(rc == CS_OK && np == 7 && got == 19 && memcmp(p, params, sizeof params) == 0,
         "last checkpoint read back bit for bit (NaN payload, -0, subnormal, inf) (%s)", err.msg);
  free(p);
  params[6] = -2.5 - 10;
  rc = db_checkpoint_read(db, id, 10, &p, &np, &got, &err);
  tap_ok(rc == CS_OK && np == 7 && got == 10 && memcmp(p, params, sizeof params) == 0,
         "checkpoint at step 10 read back bit for bit");
  free(p);
  {
    unsigned char want[56];
    for (int i = 0; i < 7; i++) {
      uint64_t u;
      memcpy(&u, &params[i], 8);
      for (int k = 0; k < 8; k++) want[8 * i + k] = (unsigned char)(u >> (8 * k));
    }
    sqlite3_stmt *q;
    int same = 0;
    snprintf(sql, sizeof sql,
             "SELECT params, layout FROM checkpoints WHERE run_id = %lld AND step = 10",
             (long long)id);
    if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
      same = sqlite3_column_bytes(q, 0) == 56 && !memcmp(sqlite3_column_blob(q, 0), want, 56) &&
             !strcmp((const char *)sqlite3_column_text(q, 1), LAYOUT);
    sqlite3_finalize(q);
    tap_ok(same, "checkpoint blob is little-endian float64 bytes, layout stored with it");
  }
  rc = db_checkpoint_read(db, id, 5, &p, &np, &got, &err);
  tap_ok(rc == CS_ENOTFOUND && strstr(err.msg, "0, 10, 19") && strstr(err.msg, "step 5") && !p,
         "missing checkpoint lists the available steps: %s", err.msg);
  rc = db_run_get(db, 999, &row, &err);
  tap_ok(rc == CS_ENOTFOUND && strstr(err.msg, "no run 999") && strstr(err.msg, path),
         "missing run names the run and the file: %s", err.msg);
  rc = db_checkpoint_read(db, 999, -1, &p, &np, &got, &err);
  tap_ok(rc == CS_ENOTFOUND && strstr(err.msg, "no run 999"), "checkpoint of a missing run");

  /* re-analysis through an attached recorder overwrites */
  db_recorder_close(&rec);
  tap_ok(rec.self == NULL, "db_recorder_close zeroes the recorder");
  db_recorder_close(&rec);
  db_recorder_close(NULL);
  rc = db_recorder_attach(db, id, &rec, &err);
  tap_ok(rc == CS_OK, "db_recorder_attach to run %lld (%s)", (long long)id, err.msg);
  double again[1] = {99}, again_res[1] = {0};
  EigRecord e2 = {.step = 10, .op = "hessian", .batch_size = 100, .count = 1, .values = again,
                  .residuals = again_res, .converged = 1};
  rc = rec_eigs(&rec, &e2, &err);
  if (rc == CS_OK) rc = rec_metric(&rec, 19, "test_loss", 0.25, &err);
  special_params(params);
  if (rc == CS_OK) rc = rec_checkpoint(&rec, 10, params, 7, &err);
  if (rc == CS_OK) rc = rec_flush(&rec, &err);
  tap_ok(rc == CS_OK, "attached recorder writes eigs, metric, checkpoint (%s)", err.msg);
  snprintf(sql, sizeof sql,
           "SELECT count(*) * 1000 + max(value) FROM eigs WHERE run_id = %lld AND step = 10"
           " AND operator = 'hessian' AND idx = 0", (long long)id);
  tap_ok(sql_int(h, sql) == 1099, "re-analysis replaced the eigenvalue (no duplicate)");
  /* a solve on another number of examples is another measurement: kept beside it */
  EigRecord e3 = e2;
  e3.batch_size = 50;
  again[0] = 77;
  rc = rec_eigs(&rec, &e3, &err);
  if (rc == CS_OK) rc = rec_flush(&rec, &err);
  tap_ok(rc == CS_OK && sql_int(h, sql) == 2099, "a solve on fewer examples is stored beside it");
  long *es = NULL;
  double *ev = NULL;
  size_t ne = 0;
  rc = db_eig_series(db, id, "hessian", 0, &es, &ev, &ne, &err);
  int one_per_step = rc == CS_OK && ne > 0;
  for (size_t i = 0; one_per_step && i < ne; i++) {
    if (i && es[i] == es[i - 1]) one_per_step = 0;
    if (es[i] == 10 && ev[i] != 99) one_per_step = 0;
  }
  tap_ok(one_per_step, "db_eig_series gives one value per step, from the most examples");
  free(es);
  free(ev);
  snprintf(sql, sizeof sql,
           "SELECT count(*) * 1000 + 100 * max(value) FROM metrics WHERE run_id = %lld"
           " AND step = 19 AND name = 'test_loss'", (long long)id);
  tap_ok(sql_int(h, sql) == 1025, "re-analysis replaced the metric");
  rc = db_checkpoint_read(db, id, 10, &p, &np, &got, &err);
  tap_ok(rc == CS_OK && np == 7 && !memcmp(p, params, sizeof params),
         "re-written checkpoint replaced the old one");
  free(p);
  rc = rec_checkpoint(&rec, 11, params, 6, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "6"), "checkpoint of the wrong size refused: %s",
         err.msg);
  db_recorder_close(&rec);
  rc = db_recorder_attach(db, 777, &rec, &err);
  tap_ok(rc == CS_ENOTFOUND && rec.self == NULL, "attach to a missing run: %s", err.msg);

  /* direct writes */
  rc = db_phases_clear(db, id, &err);
  if (rc == CS_OK) rc = db_phase_put(db, id, "II", 10, 19, "{\"b\":2}", &err);
  if (rc == CS_OK) rc = db_metric_put(db, id, -1, "eos_onset", 14, &err);
  snprintf(sql, sizeof sql,
           "SELECT group_concat(phase) FROM phases WHERE run_id = %lld", (long long)id);
  tap_ok(rc == CS_OK && !strcmp(sql_text(h, sql, buf, sizeof buf), "II"),
         "db_phases_clear then db_phase_put leaves only the new phase (%s)", buf);
  snprintf(sql, sizeof sql,
           "SELECT value FROM metrics WHERE run_id = %lld AND name = 'eos_onset'", (long long)id);
  tap_rel(sql_real(h, sql), 14, 0, "db_metric_put replaced the run-level metric");
  rc = db_metric_put(db, 4242, 0, "x", 1, &err);
  tap_ok(rc == CS_EDB && strstr(err.msg, "FOREIGN KEY"),
         "a metric for a missing run is refused by the foreign key: %s", err.msg);

  db_close(db);
  db_close(NULL);
  rc = db_open(path, &db, &err);
  tap_ok(rc == CS_OK && sql_int(db_sqlite(db), "SELECT count(*) FROM steps") == 20,
         "reopening keeps the data (%s)", err.msg);
  db_close(db);
}

/* ---- batching ----------------------------------------------------------- */

static long long count_steps(sqlite3 *h) { return sql_int(h, "SELECT count(*) FROM steps"); }

static void test_batching(void) {
  char path[512];
  path_in(path, sizeof path, "batch.db");
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  if (db_open(path, &db, &err) || db_recorder_open(db, &rec, &err)) {
    tap_ok(0, "batching: open (%s)", err.msg);
    return;
  }
  sqlite3 *other = raw_open(path);
  RunInfo info = run_info("batch");
  int64_t id = 0;
  int rc = rec_run_begin(&rec, &info, &id, &err);
  char buf[64];
  tap_ok(rc == CS_OK && !strcmp(sql_text(other, "SELECT status FROM runs", buf, sizeof buf),
                                "running"),
         "run row visible to a second connection at once, status running");
  long s = 0;
  for (; s < 10; s++) rec_step(&rec, &(StepRecord){.step = s, .loss = 1}, &err);
  tap_ok(count_steps(other) == 0, "10 steps pending: not visible before flush");
  rc = rec_flush(&rec, &err);
  tap_ok(rc == CS_OK && count_steps(other) == 10, "visible from a second connection after flush");
  tap_ok(sql_int(other, "SELECT heartbeat_at IS NOT NULL AND heartbeat_at >= created_at FROM runs")
             == 1,
         "the commit refreshed heartbeat_at");
  for (; s < 10 + 255; s++) rec_step(&rec, &(StepRecord){.step = s, .loss = 1}, &err);
  tap_ok(count_steps(other) == 10, "255 more rows pending: still 10 visible");
  rc = rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  tap_ok(rc == CS_OK && count_steps(other) == 266, "the 256th row commits by itself");
  rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  tap_ok(count_steps(other) == 266, "one new row pending");
  usleep(2100000);
  rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  tap_ok(count_steps(other) == 268, "a write 2 s after the oldest pending row commits");
  double pz[7] = {0};
  rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  rc = rec_checkpoint(&rec, s, pz, 7, &err);
  tap_ok(rc == CS_OK && count_steps(other) == 269 &&
             sql_int(other, "SELECT count(*) FROM checkpoints") == 1,
         "a checkpoint commits at once");
  rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  rec_step(&rec, &(StepRecord){.step = s++, .loss = 2}, &err);
  rc = rec_run_end(&rec, "interrupted", "stopped by the user", &err);
  tap_ok(rc == CS_OK && count_steps(other) == 271 &&
             !strcmp(sql_text(other, "SELECT status FROM runs", buf, sizeof buf), "interrupted"),
         "run_end commits the pending rows and the status");
  sqlite3_close(other);
  db_recorder_close(&rec);
  db_close(db);
}

/* ---- a write lock held by another program ------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A child process that holds the write lock (BEGIN EXCLUSIVE) of path for
 * `seconds`; returns once the lock is held. */
static pid_t hold_lock(const char *path, double seconds) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    sqlite3 *h = raw_open(path);
    int rc = sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
    char c = rc == SQLITE_OK ? 'y' : 'n';
    if (write(fds[1], &c, 1) != 1) _exit(3);
    usleep((useconds_t)(seconds * 1e6));
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    _exit(rc == SQLITE_OK ? 0 : 1);
  }
  close(fds[1]);
  char c = 0;
  if (read(fds[0], &c, 1) != 1 || c != 'y') pid = -1;
  close(fds[0]);
  return pid;
}

static void test_locked(void) {
  char path[512];
  path_in(path, sizeof path, "locked.db");
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  if (db_open(path, &db, &err) || db_recorder_open(db, &rec, &err)) {
    tap_ok(0, "locked: open (%s)", err.msg);
    return;
  }
  DbWritePolicy pol = {.busy_ms = 20, .wait_s = 10, .max_rows = 600};
  db_set_write_policy(db, &pol);
  sqlite3 *reader = raw_open(path), *holder = raw_open(path);
  RunInfo info = run_info("locked");
  int64_t id = 0;
  rec_run_begin(&rec, &info, &id, &err);
  tap_ok(sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK,
         "another connection holds the write lock");
  /* 300 rows: the commit due at 256 finds the lock held; nothing fails, nothing blocks */
  int bad = 0;
  double slowest = 0;
  long s = 0;
  for (; s < 300; s++) {
    double t0 = now_s();
    bad += rec_step(&rec, &(StepRecord){.step = s, .loss = 1}, &err) != CS_OK;
    if (now_s() - t0 > slowest) slowest = now_s() - t0;
  }
  tap_ok(bad == 0 && count_steps(reader) == 0,
         "locked: 300 writes succeed, rows kept in memory (%d failed, %lld visible)", bad,
         count_steps(reader));
  tap_ok(slowest < 0.5, "no write waits beyond one short attempt (slowest %.3f s, busy_ms 20)",
         slowest);
  double t0 = now_s();
  for (int k = 0; k < 50; k++) rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  tap_ok(now_s() - t0 < 0.5, /* an attempt each would take 50 x 20 ms */
         "while backing off, 50 more writes make no attempt (%.4f s for all)", now_s() - t0);
  usleep(300000); /* past the first backoff (0.25 s) */
  t0 = now_s();
  int rc = rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  tap_ok(rc == CS_OK && now_s() - t0 >= 0.01,
         "after the backoff a write retries: one busy attempt (%.3f s), still no error",
         now_s() - t0);
  /* the bound: 600 pending rows */
  int first_err = -1;
  for (; s < 700 && first_err < 0; s++)
    if (rec_step(&rec, &(StepRecord){.step = s, .loss = 1}, &err) != CS_OK) first_err = (int)s;
  tap_ok(first_err == 599 && err.code == CS_EDB && strstr(err.msg, path) &&
             strstr(err.msg, "locked by another connection for 0.") && strstr(err.msg, "600 pending rows"),
         "the write that fills the bound fails naming the file and the lock (step %d): %s",
         first_err, err.msg);
  sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
  rc = rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  tap_ok(rc == CS_OK && count_steps(reader) == s,
         "lock released: the next write commits every kept row (%lld of %ld)",
         count_steps(reader), s);
  char q[128];
  snprintf(q, sizeof q, "SELECT count(*) FROM steps WHERE run_id = %lld AND step < %ld",
           (long long)id, s);
  tap_ok(sql_int(reader, q) == s, "no step lost, none twice");

  /* checkpoint blobs count by bytes: 80 kB each against a 200 kB bound */
  pol.max_bytes = 200 * 1000;
  db_set_write_policy(db, &pol);
  size_t np = 10000;
  double *big = calloc(np, sizeof *big);
  RunInfo binfo = run_info("big");
  binfo.n_params = np;
  Recorder rec2;
  int64_t bid = 0;
  db_recorder_open(db, &rec2, &err);
  rec_run_begin(&rec2, &binfo, &bid, &err);
  sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
  int rcs[3];
  for (int k = 0; k < 3; k++) rcs[k] = rec_checkpoint(&rec2, k, big, np, &err);
  tap_ok(rcs[0] == CS_OK && rcs[1] == CS_OK && rcs[2] == CS_EDB && strstr(err.msg, "3 pending rows (0.24 MB)"),
         "checkpoints count by their bytes: two of 80 kB kept, the third over 200 kB fails: %s",
         err.msg);
  free(big);
  sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
  rc = rec_flush(&rec2, &err);
  snprintf(q, sizeof q, "SELECT count(*) FROM checkpoints WHERE run_id = %lld", (long long)bid);
  tap_ok(rc == CS_OK && sql_int(reader, q) == 3, "after the lock all three checkpoints are stored");
  rec_run_end(&rec2, "finished", NULL, &err);
  db_recorder_close(&rec2);
  pol.max_bytes = 0;

  /* run_end waits for a lock released by another process within wait_s */
  rec_step(&rec, &(StepRecord){.step = s++, .loss = 1}, &err);
  pid_t kid = hold_lock(path, 1.0);
  t0 = now_s();
  rc = rec_run_end(&rec, "finished", NULL, &err);
  double waited = now_s() - t0;
  char buf[32];
  snprintf(q, sizeof q, "SELECT status FROM runs WHERE id = %lld", (long long)id);
  tap_ok(kid > 0 && rc == CS_OK && waited > 0.7 && waited < 9 &&
             !strcmp(sql_text(reader, q, buf, sizeof buf), "finished") && count_steps(reader) == s,
         "run_end waits out a 1 s lock of another process (%.2f s) and records all", waited);
  waitpid(kid, NULL, 0);

  /* run_end gives up after wait_s, and a flush right after does not wait again */
  pol.wait_s = 0.5;
  db_set_write_policy(db, &pol);
  rec_run_begin(&rec, &info, &id, &err);
  rec_step(&rec, &(StepRecord){.step = 0, .loss = 1}, &err);
  sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
  t0 = now_s();
  rc = rec_run_end(&rec, "finished", NULL, &err);
  waited = now_s() - t0;
  const char *for_s = strstr(err.msg, "connection for ");
  double held = for_s ? atof(for_s + 15) : -1;
  tap_ok(rc == CS_EDB && waited > 0.4 && waited < 5 && strstr(err.msg, path) &&
             strstr(err.msg, "could not end the run") && held >= 0.4 && held <= waited + 0.1,
         "run_end gives up after wait_s (%.2f s): %s", waited, err.msg);
  t0 = now_s();
  rc = rec_flush(&rec, &err);
  tap_ok(rc == CS_EDB && now_s() - t0 < 0.4, "the next waiting call tries once (%.3f s)",
         now_s() - t0);
  sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
  rc = rec_run_end(&rec, "finished", NULL, &err);
  snprintf(q, sizeof q, "SELECT status || (SELECT count(*) FROM steps WHERE run_id = %lld) FROM"
           " runs WHERE id = %lld", (long long)id, (long long)id);
  tap_ok(rc == CS_OK && !strcmp(sql_text(reader, q, buf, sizeof buf), "finished1"),
         "once free, run_end records the run and its row (%s)", buf);
  sqlite3_close(holder);
  sqlite3_close(reader);
  db_recorder_close(&rec);
  db_close(db);
}

/* ---- a write that fails for real (file-size limit) ----------------------- */

/* In a child with RLIMIT_FSIZE and SIGXFSZ ignored: checkpoints until a write
 * fails, then run_end(end_status). Exit code: 0 if a write failed with CS_EIO. */
static int child_fsize(const char *path, const char *end_status) {
  signal(SIGXFSZ, SIG_IGN);
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  if (db_open(path, &db, &err) || db_recorder_open(db, &rec, &err)) return 10;
  RunInfo info = run_info(end_status);
  info.n_params = 4096; /* 32 kB checkpoints */
  int64_t id;
  if (rec_run_begin(&rec, &info, &id, &err)) return 11;
  struct rlimit lim = {256 * 1024, 256 * 1024};
  setrlimit(RLIMIT_FSIZE, &lim);
  double *p = calloc(info.n_params, sizeof *p);
  int rc = CS_OK;
  for (long s = 0; rc == CS_OK && s < 200; s++) {
    rc = rec_step(&rec, &(StepRecord){.step = s, .loss = 1}, &err);
    if (!rc) rc = rec_checkpoint(&rec, s, p, info.n_params, &err);
  }
  free(p);
  fprintf(stderr, "child: %s\n", err.msg);
  int failed_io = rc == CS_EIO;
  Err e2 = {0};
  rec_run_end(&rec, end_status, !strcmp(end_status, "failed") ? err.msg : NULL, &e2);
  db_recorder_close(&rec);
  db_close(db);
  return failed_io ? 0 : 1;
}

static void test_file_size_limit(void) {
  const char *ends[2] = {"failed", "finished"};
  for (int k = 0; k < 2; k++) {
    char path[512];
    path_in(path, sizeof path, k ? "fsize2.db" : "fsize1.db");
    Err err = {0};
    Db *db = NULL;
    if (db_open(path, &db, &err)) { /* created outside the limit */
      tap_ok(0, "fsize: open (%s)", err.msg);
      return;
    }
    db_close(db);
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) _exit(child_fsize(path, ends[k]));
    int st = -1;
    waitpid(kid, &st, 0);
    tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "under a file-size limit a commit fails with CS_EIO, the process lives (status %d)", st);
    sqlite3 *h = raw_open(path);
    char buf[300];
    sql_text(h, "SELECT status || ': ' || coalesce(error, '') FROM runs", buf, sizeof buf);
    tap_ok(!strncmp(buf, "failed: ", 8) && (strstr(buf, "disk") || strstr(buf, "full")) &&
               (k == 0 || strstr(buf, "pending rows were lost (the run was finished)")),
           "run_end(%s) after it records 'failed' with the write error: %s", ends[k], buf);
    sqlite3_close(h);
  }
}

/* ---- status lifecycle and argument errors ------------------------------- */

static void test_lifecycle(void) {
  char path[512];
  path_in(path, sizeof path, "life.db");
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  if (db_open(path, &db, &err) || db_recorder_open(db, &rec, &err)) {
    tap_ok(0, "lifecycle: open (%s)", err.msg);
    return;
  }
  int rc = rec_step(&rec, &(StepRecord){.step = 0}, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "run_begin"), "a write before run_begin: %s",
         err.msg);
  const char *ends[4] = {"finished", "diverged", "interrupted", "failed"};
  const char *errs[4] = {NULL, "loss is NaN at step 3", "Ctrl-C", "out of memory"};
  for (int k = 0; k < 4; k++) {
    RunInfo info = run_info(ends[k]);
    int64_t id = 0;
    RunRow row;
    rc = rec_run_begin(&rec, &info, &id, &err);
    int ok = rc == CS_OK && db_run_get(db, id, &row, &err) == CS_OK &&
             !strcmp(row.status, "running") && row.finished_at == NULL;
    run_row_free(&row);
    rec_step(&rec, &(StepRecord){.step = 0, .loss = 1}, &err);
    rc = rec_run_end(&rec, ends[k], errs[k], &err);
    ok = ok && rc == CS_OK && db_run_get(db, id, &row, &err) == CS_OK &&
         !strcmp(row.status, ends[k]) && row.finished_at != NULL &&
         (errs[k] ? row.error && !strcmp(row.error, errs[k]) : row.error == NULL);
    run_row_free(&row);
    tap_ok(ok, "running -> %s, finished_at and error set", ends[k]);
  }
  RunInfo info = run_info("bad-end");
  int64_t id = 0;
  rec_run_begin(&rec, &info, &id, &err);
  rc = rec_run_end(&rec, "done", NULL, &err);
  RunRow row;
  db_run_get(db, id, &row, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "'done'") && row.status && !strcmp(row.status, "running"),
         "run_end with an unknown status is refused, run stays running: %s", err.msg);
  run_row_free(&row);
  /* a row the database refuses at commit is reported, dropped, and the rest kept:
   * attach to a run, delete the run behind the recorder's back */
  Recorder att;
  rc = db_recorder_attach(db, id, &att, &err);
  char sql[128];
  snprintf(sql, sizeof sql, "DELETE FROM runs WHERE id = %lld", (long long)id);
  if (rc == CS_OK) rc = sqlite3_exec(db_sqlite(db), sql, NULL, NULL, NULL);
  if (rc == CS_OK) rc = rec_metric(&att, 0, "orphan", 1, &err);
  if (rc == CS_OK) rc = rec_flush(&att, &err);
  tap_ok(rc == CS_EDB && strstr(err.msg, "metric 'orphan'") && strstr(err.msg, "FOREIGN KEY"),
         "a row refused at commit names itself: %s", err.msg);
  rc = rec_flush(&att, &err);
  tap_ok(rc == CS_OK, "the refused row was dropped: the next flush succeeds (%s)", err.msg);
  db_recorder_close(&att);
  info.config_json = "{not json";
  rc = rec_run_begin(&rec, &info, &id, &err);
  tap_ok(rc == CS_EDB && strstr(err.msg, "CHECK constraint"),
         "a config that is not JSON is refused with SQLite's message: %s", err.msg);
  db_recorder_close(&rec);
  db_close(db);
}

/* ---- stale runs --------------------------------------------------------- */

static void set_run(sqlite3 *h, int64_t id, const char *assignments) {
  char sql[512];
  snprintf(sql, sizeof sql, "UPDATE runs SET %s WHERE id = %lld", assignments, (long long)id);
  if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK) tap_diag("%s: %s", sql, sqlite3_errmsg(h));
}

static void test_stale(void) {
  char path[512];
  path_in(path, sizeof path, "stale.db");
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  if (db_open(path, &db, &err) || db_recorder_open(db, &rec, &err)) {
    tap_ok(0, "stale: open (%s)", err.msg);
    return;
  }
  fflush(stdout);
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, NULL, 0);
  pid_t zombie = fork(); /* exits, not reaped until the end */
  if (zombie == 0) _exit(0);
  usleep(100000);
  enum { NRUNS = 8 };
  int64_t ids[NRUNS];
  for (int k = 0; k < NRUNS; k++) {
    RunInfo info = run_info("stale");
    rec_run_begin(&rec, &info, &ids[k], &err);
  }
  rec_flush(&rec, &err);
  sqlite3 *h = db_sqlite(db);
  char a[256];
  const char *old = "'2000-01-01T00:00:00.000Z'", *beat = "'2000-01-01T00:05:00.000Z'";
  snprintf(a, sizeof a, "pid = %d, created_at = %s, heartbeat_at = %s", (int)dead, old, beat);
  set_run(h, ids[0], a);                                  /* dead, old heartbeat */
  /* ids[1]: this process, created now: alive */
  snprintf(a, sizeof a, "pid = %d", (int)dead);
  set_run(h, ids[2], a);                                  /* dead, heartbeat just now */
  snprintf(a, sizeof a, "pid = %d, heartbeat_at = %s, host = 'elsewhere.invalid'", (int)dead, beat);
  set_run(h, ids[3], a);                                  /* another host */
  snprintf(a, sizeof a, "created_at = %s, heartbeat_at = %s", old, beat);
  set_run(h, ids[4], a);                                  /* our pid, but we started after it */
  snprintf(a, sizeof a, "pid = %d", (int)zombie);
  set_run(h, ids[5], a);                                  /* a zombie */
  snprintf(a, sizeof a, "pid = %d, status = 'failed', error = 'disk full'", (int)dead);
  set_run(h, ids[6], a);                                  /* ended by its process */
  snprintf(a, sizeof a, "pid = %d, heartbeat_at = NULL", (int)dead);
  set_run(h, ids[7], a);                                  /* dead before any heartbeat */
  int n = -1;
  int rc = db_mark_stale(db, &n, &err);
  tap_ok(rc == CS_OK && n == 5, "db_mark_stale marks five runs at once, no waiting (%d, %s)", n,
         err.msg);
  const char *want[NRUNS] = {"interrupted", "running", "interrupted", "running",
                             "interrupted", "interrupted", "failed", "interrupted"};
  const char *why[NRUNS] = {"dead pid, old heartbeat", "live pid that began the run",
                            "dead pid, heartbeat a moment ago", "another host",
                            "pid reused by a process started after the run",
                            "zombie", "a run its process ended", "dead pid, no heartbeat"};
  for (int k = 0; k < NRUNS; k++) {
    RunRow row;
    db_run_get(db, ids[k], &row, &err);
    tap_ok(row.status && !strcmp(row.status, want[k]), "%s: %s", why[k],
           row.status ? row.status : "?");
    run_row_free(&row);
  }
  char q[256], buf[128];
  snprintf(q, sizeof q, "SELECT finished_at = heartbeat_at FROM runs WHERE id = %lld",
           (long long)ids[0]);
  tap_ok(sql_int(h, q) == 1, "finished_at of a dead run is its last heartbeat, not now");
  snprintf(q, sizeof q, "SELECT finished_at = created_at FROM runs WHERE id = %lld",
           (long long)ids[7]);
  tap_ok(sql_int(h, q) == 1, "without a heartbeat, finished_at is created_at");
  snprintf(q, sizeof q, "SELECT error FROM runs WHERE id = %lld", (long long)ids[0]);
  sql_text(h, q, buf, sizeof buf);
  tap_ok(strstr(buf, "ended without ending the run") != NULL, "the error says why: %s", buf);
  snprintf(q, sizeof q, "SELECT error || '|' || (finished_at IS NULL) FROM runs WHERE id = %lld",
           (long long)ids[6]);
  tap_ok(!strcmp(sql_text(h, q, buf, sizeof buf), "disk full|1"),
         "a run its process ended keeps its error (%s)", buf);
  rc = db_mark_stale(db, &n, &err);
  tap_ok(rc == CS_OK && n == 0, "a second pass marks nothing (%d)", n);
  waitpid(zombie, NULL, 0);
  db_recorder_close(&rec);
  db_close(db);
}

/* ---- refusing files that are not ours ----------------------------------- */

/* db_open must fail with `code`, a message containing `needle`, and leave the
 * file's bytes as they were (and create no WAL beside a rollback-mode file). */
static void expect_refused(const char *path, int code, const char *needle, int check_wal,
                           const char *what) {
  size_t n0, n1;
  unsigned char *before = slurp(path, &n0);
  Err err = {0};
  Db *db = NULL;
  int rc = db_open(path, &db, &err);
  unsigned char *after = slurp(path, &n1);
  tap_ok(rc == code && db == NULL && strstr(err.msg, needle) && strstr(err.msg, path),
         "%s refused (%s): %s", what, cs_status_name(rc), err.msg);
  tap_ok(before && after && n0 == n1 && memcmp(before, after, n0) == 0,
         "%s left byte-for-byte unchanged (%zu bytes)", what, n0);
  if (check_wal) {
    char wal[600], shm[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    tap_ok(!file_exists(wal) && !file_exists(shm), "%s: no -wal or -shm file left beside it",
           what);
  }
  free(before);
  free(after);
  db_close(db);
}

static int make_sqlite(const char *path, const char *sql) {
  sqlite3 *h = NULL;
  int rc = sqlite3_open(path, &h);
  if (rc == SQLITE_OK) rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
  sqlite3_close(h);
  return rc;
}

/* Makes NAME in the test directory with sql, then expects db_open to refuse it untouched,
 * with no -wal or -shm left. */
static void expect_made_refused(const char *name, const char *sql, int code, const char *needle,
                                const char *what) {
  char path[512];
  path_in(path, sizeof path, name);
  tap_ok(make_sqlite(path, sql) == SQLITE_OK, "made %s", what);
  expect_refused(path, code, needle, 1, what);
}

static void test_refuse(void) {
  char path[512];
  FILE *f;
  path_in(path, sizeof path, "newer.db");
  int rc = make_sqlite(path, "PRAGMA application_id = 1131770486; CREATE TABLE runs(id);"
                             "INSERT INTO runs VALUES(1); PRAGMA user_version = 99;");
  tap_ok(rc == SQLITE_OK, "made a curvscope file of schema v99");
  char needle[64];
  snprintf(needle, sizeof needle, "schema v99, this build knows v%d", DB_SCHEMA_VERSION);
  expect_refused(path, CS_EVERSION, needle, 1, "a newer schema");

  /* Found by fuzz_db: migrate() read migrations[-973078528]. */
  path_in(path, sizeof path, "negative.db");
  rc = make_sqlite(path, "PRAGMA application_id = 1131770486; CREATE TABLE runs(id);"
                         "PRAGMA user_version = -1;");
  tap_ok(rc == SQLITE_OK, "made a curvscope file of schema version -1");
  expect_refused(path, CS_EFORMAT, "schema version -1", 1, "a negative schema version");

  /* Found by fuzz_db: a corrupt page 1 passed the checks, was switched to WAL, then
   * failed to migrate, leaving the file changed and a WAL beside it. */
  path_in(path, sizeof path, "corrupt_v0.db");
  rc = make_sqlite(path, "PRAGMA page_size = 512; PRAGMA application_id = 1131770486; VACUUM;");
  f = fopen(path, "r+b");
  rc |= !f || fseek(f, 105, SEEK_SET) || fputc(0, f) == EOF; /* page 1's cell content start */
  if (f) fclose(f);
  tap_ok(rc == 0, "made a curvscope v0 file with a corrupt page 1");
  expect_refused(path, CS_EDB, "malformed", 1, "a corrupt v0 file");

  path_in(path, sizeof path, "notes.txt");
  f = fopen(path, "w");
  fputs("step,loss\n0,1.0\n1,0.5\n", f);
  fclose(f);
  expect_refused(path, CS_EFORMAT, "not SQLite", 1, "a text file");

  path_in(path, sizeof path, "tiny.bin");
  f = fopen(path, "wb");
  fputs("SQL", f);
  fclose(f);
  expect_refused(path, CS_EFORMAT, "not SQLite", 1, "a 3-byte file");

  path_in(path, sizeof path, "foreign.db");
  rc = make_sqlite(path, "CREATE TABLE songs(title TEXT); INSERT INTO songs VALUES('x');");
  tap_ok(rc == SQLITE_OK, "made a foreign SQLite file");
  expect_refused(path, CS_EFORMAT, "not a curvscope database", 1, "a foreign SQLite file");

  path_in(path, sizeof path, "foreign_wal.db");
  rc = make_sqlite(path, "PRAGMA journal_mode = WAL; PRAGMA application_id = 42;"
                         "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
  tap_ok(rc == SQLITE_OK, "made a foreign SQLite file in WAL mode");
  expect_refused(path, CS_EFORMAT, "application_id 0x0000002a", 1, "a foreign WAL-mode file");

  expect_made_refused("newer_wal.db",
                      "PRAGMA journal_mode = WAL; PRAGMA application_id = 1131770486;"
                      "CREATE TABLE runs(id); PRAGMA user_version = 99;",
                      CS_EVERSION, needle, "a newer schema in WAL mode");

  /* A file another connection holds open keeps its -wal and -shm (not this open's). */
  path_in(path, sizeof path, "foreign_open.db");
  rc = make_sqlite(path, "PRAGMA journal_mode = WAL; CREATE TABLE t(x);");
  sqlite3 *other = NULL;
  rc = rc ? rc : sqlite3_open(path, &other);
  rc = rc ? rc : sqlite3_exec(other, "INSERT INTO t VALUES(1)", NULL, NULL, NULL);
  tap_ok(rc == SQLITE_OK, "another connection writes to a foreign WAL-mode file");
  {
    char wal[600], shm[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    Err e2 = {0};
    Db *d2 = NULL;
    rc = db_open(path, &d2, &e2);
    tap_ok(rc == CS_EFORMAT && file_exists(wal) && file_exists(shm),
           "refused while open elsewhere, that connection's -wal and -shm kept (%s)", e2.msg);
    tap_ok(sqlite3_exec(other, "INSERT INTO t VALUES(2)", NULL, NULL, NULL) == SQLITE_OK &&
               sql_int(other, "SELECT count(*) FROM t") == 2,
           "the other connection still writes and reads");
    sqlite3_close(other);
  }

  path_in(path, sizeof path, "fifo.db");
  tap_ok(mkfifo(path, 0600) == 0, "made a FIFO");
  Err ef = {0};
  Db *dbf = NULL;
  rc = db_open(path, &dbf, &ef); /* would block in open() if it were opened */
  tap_ok(rc == CS_EINVAL && dbf == NULL && strstr(ef.msg, "FIFO") && strstr(ef.msg, path),
         "a FIFO is refused without opening it: %s", ef.msg);

  path_in(path, sizeof path, "empty.db");
  f = fopen(path, "w");
  fclose(f);
  Err err = {0};
  Db *db = NULL;
  rc = db_open(path, &db, &err);
  tap_ok(rc == CS_OK && sql_int(db_sqlite(db), "PRAGMA user_version") == DB_SCHEMA_VERSION,
         "an empty file becomes a curvscope database (%s)", err.msg);
  db_close(db);
  rc = db_open(g_dir, &db, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, g_dir) && strstr(err.msg, "directory"),
         "a directory is refused: %s", err.msg);
  path_in(path, sizeof path, "absent.db");
  rc = db_open_existing(path, &db, &err);
  tap_ok(rc == CS_ENOTFOUND && !db && !file_exists(path) && strstr(err.msg, path),
         "db_open_existing on a missing file: nothing created (%s)", err.msg);
}

/* ---- two processes ------------------------------------------------------ */

static int child_writer(const char *path, int barrier_fd, int who) {
  char c;
  if (read(barrier_fd, &c, 1) < 0) return 10; /* returns 0 when the parent closes the pipe */
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  if (db_open(path, &db, &err) || db_recorder_open(db, &rec, &err)) {
    fprintf(stderr, "child %d: %s\n", who, err.msg);
    return 1;
  }
  double params[7] = {who, 1, 2, 3, 4, 5, 6};
  for (int r = 0; r < 3; r++) {
    char name[32];
    snprintf(name, sizeof name, "p%d-r%d", who, r);
    RunInfo info = run_info(name);
    int64_t id;
    int rc = rec_run_begin(&rec, &info, &id, &err);
    for (long s = 0; rc == CS_OK && s < 300; s++) {
      rc = rec_step(&rec, &(StepRecord){.step = s, .loss = 1.0 / (double)(s + 1)}, &err);
      if (rc == CS_OK && s % 100 == 0) rc = rec_metric(&rec, s, "test_loss", 0.5, &err);
    }
    if (rc == CS_OK) rc = rec_checkpoint(&rec, 300, params, 7, &err);
    if (rc == CS_OK) rc = rec_run_end(&rec, "finished", NULL, &err);
    if (rc) {
      fprintf(stderr, "child %d: %s\n", who, err.msg);
      return 2;
    }
  }
  db_recorder_close(&rec);
  db_close(db);
  return 0;
}

static void test_two_processes(void) {
  char path[512];
  path_in(path, sizeof path, "shared.db"); /* does not exist: both children create it */
  int fds[2];
  if (pipe(fds) != 0) {
    tap_ok(0, "pipe: %s", strerror(errno));
    return;
  }
  fflush(stdout);
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    if (kids[k] == 0) {
      close(fds[1]);
      _exit(child_writer(path, fds[0], k));
    }
  }
  close(fds[0]);
  close(fds[1]); /* release both children at once */
  int ok = 1;
  for (int k = 0; k < 2; k++) {
    int status = -1;
    waitpid(kids[k], &status, 0);
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer process %d succeeded", k);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  Err err = {0};
  Db *db = NULL;
  int rc = db_open(path, &db, &err);
  sqlite3 *h = rc == CS_OK ? db_sqlite(db) : NULL;
  tap_ok(h && sql_int(h, "SELECT count(*) FROM runs WHERE status = 'finished'") == 6,
         "6 finished runs from 2 concurrent processes");
  tap_ok(h && sql_int(h, "SELECT count(*) FROM steps") == 1800 &&
             sql_int(h, "SELECT count(*) FROM metrics") == 18 &&
             sql_int(h, "SELECT count(*) FROM checkpoints") == 6,
         "all their steps, metrics and checkpoints arrived");
  tap_ok(h && sql_int(h, "SELECT count(DISTINCT pid) FROM runs") == 2,
         "runs carry their writer's pid");
  tap_ok(h && sql_int(h, "PRAGMA integrity_check = 1") != -999999, "integrity check ran");
  char buf[32];
  tap_ok(h && !strcmp(sql_text(h, "PRAGMA integrity_check", buf, sizeof buf), "ok"),
         "integrity_check is ok");
  db_close(db);
}

/* ---- the in-memory recorder ---------------------------------------------- */

static void test_memory_recorder(void) {
  MemRecorder *m = memrec_alloc();
  Recorder rec = memrec_recorder(m);
  Err err = {0};
  RunInfo info = run_info("mem");
  int64_t id = 0;
  tap_ok(!strcmp(memrec_status(m), ""), "memory recorder: no status before run_begin");
  int rc = rec_run_begin(&rec, &info, &id, &err);
  tap_ok(rc == CS_OK && id == 1 && !strcmp(memrec_status(m), "running") &&
             !strcmp(m->config, CONFIG),
         "memory recorder: run_begin");
  for (long s = 0; s < 5; s++) rec_step(&rec, &(StepRecord){.step = s, .loss = 10.0 - s}, &err);
  rec_metric(&rec, 3, "trace", 4.5, &err);
  rec_metric(&rec, 3, "trace", 5.5, &err);
  double top[2] = {7, 6}, bot[2] = {-3, -1};
  rec_eigs(&rec, &(EigRecord){.step = 2, .op = "ggn", .count = 2, .values = top}, &err);
  rec_eigs(&rec, &(EigRecord){.step = 4, .op = "ggn", .count = 2, .values = top}, &err);
  rec_eigs(&rec, &(EigRecord){.step = 4, .op = "ggn", .count = 2, .values = bot, .bottom = 1},
           &err);
  double params[7];
  special_params(params);
  rec_checkpoint(&rec, 4, params, 7, &err);
  double saved = params[0];
  params[0] = 123;
  double v = 0;
  tap_ok(memrec_n_steps(m) == 5 && memrec_last_loss(m) == 6.0, "steps and last loss");
  tap_ok(memrec_metric_find(m, "trace", 3, &v) == CS_OK && v == 5.5 &&
             memrec_metric_find(m, "trace", 2, &v) == CS_ENOTFOUND,
         "metric lookup returns the last value written");
  double vals[4];
  long steps[4];
  size_t k = memrec_eig_values(m, "ggn", 0, vals, steps, 4);
  tap_ok(k == 2 && vals[1] == 7 && steps[1] == 4, "eig values by op and idx");
  k = memrec_eig_values(m, "ggn", -1, vals, steps, 4);
  tap_ok(k == 1 && vals[0] == -3, "bottom eigenvalue at idx -1");
  const MemCheckpoint *c = memrec_checkpoint(m, -1);
  tap_ok(c && c->step == 4 && c->n == 7 && c->params[0] == saved,
         "checkpoint is a copy (the caller's array changed afterwards)");
  m->fail_after = m->n_writes + 1;
  rc = rec_metric(&rec, 5, "x", 1, &err);
  tap_ok(rc == CS_EIO && strstr(err.msg, "injected"), "fail_after injects a failure");
  rec_run_end(&rec, "diverged", "nan", &err);
  tap_ok(!strcmp(memrec_status(m), "diverged") && !strcmp(m->error, "nan"), "run_end status");
  memrec_free(m);
  memrec_free(NULL);
}

static void rm_rf(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) tap_diag("could not remove %s", dir);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "%s/cs_test_db.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(g_dir)) {
    tap_ok(0, "mkdtemp: %s", strerror(errno));
    return tap_done();
  }
  test_roundtrip();
  test_batching();
  test_lifecycle();
  test_locked();
  test_file_size_limit();
  test_stale();
  test_refuse();
  test_two_processes();
  test_memory_recorder();
  rm_rf(g_dir);
  return tap_done();
}
