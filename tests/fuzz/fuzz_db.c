/*
 * fuzz_db.c: opening a database file (db_open in db/db.c) that holds the
 * input, then everything curvscope does with a file it accepted: the readers
 * behind runs, analyze and report, stale-run marking, and one small run
 * written through the Recorder.
 *
 * Seeds: an empty file, a curvscope database with one run, an SQLite file of
 * another program (tests/fuzz/make_seeds.sh). Properties: a refused file has
 * a message and is left byte-for-byte unchanged (db.h).
 */
#include <stdlib.h>

#include "db/db.h"
#include "fuzz.h"

static void runs_read(Db *db) {
  Err err;
  RunSummary *rs = NULL;
  size_t nr = 0;
  if (db_run_summaries(db, &rs, &nr, &err) != CS_OK) return;
  for (size_t i = 0; i < nr && i < 8; i++) {
    int64_t id = rs[i].id;
    RunRow row;
    if (db_run_get(db, id, &row, &err) == CS_OK) run_row_free(&row);
    long *steps = NULL;
    double *v = NULL;
    size_t n = 0;
    if (db_checkpoint_steps(db, id, &steps, &n, &err) == CS_OK) free(steps);
    long at = 0;
    if (db_checkpoint_read(db, id, -1, &v, &n, &at, &err) == CS_OK) free(v);
    char *meta = NULL;
    if (db_opt_state_read(db, id, at, &meta, &v, &n, &err) == CS_OK) free(meta), free(v);
    if (db_metric_series(db, id, "test_loss", &steps, &v, &n, &err) == CS_OK) free(steps), free(v);
    if (db_eig_series(db, id, "hessian", 0, &steps, &v, &n, &err) == CS_OK) free(steps), free(v);
    if (db_step_series(db, id, "loss", &steps, &v, &n, &err) == CS_OK) free(steps), free(v);
  }
  free(rs);
}

/* A two-parameter run with one step and a checkpoint. */
static void run_write(Db *db) {
  Err err;
  Recorder rec;
  if (db_recorder_open(db, &rec, &err) != CS_OK) return;
  RunInfo info = {"fuzz", "train", NULL, "{\"lr\":0.1}", 1, 2, "[]"};
  StepRecord st = {0, 0.0, 1.0, 0.5, 0.1, 1.0, 1.0, 0.0};
  const double theta[2] = {1.0, -2.0};
  int64_t id = 0;
  if (rec_run_begin(&rec, &info, &id, &err) == CS_OK) {
    rec_step(&rec, &st, &err);
    rec_checkpoint(&rec, 0, theta, 2, &err);
    rec_run_end(&rec, "finished", NULL, &err);
  }
  db_recorder_close(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[FUZZ_PATH_MAX];
  fuzz_file_write("runs.db", data, size, path);
  Db *db = NULL;
  Err err;
  err_clear(&err);
  if (db_open(path, &db, &err) == CS_OK) {
    runs_read(db);
    db_mark_stale(db, NULL, &err);
    run_write(db);
    runs_read(db);
    db_close(db);
  } else {
    FUZZ_CHECK(db == NULL && err.msg[0] != '\0');
    FUZZ_CHECK(fuzz_file_equals(path, data, size));
  }
  fuzz_file_remove(path);
  return 0;
}
