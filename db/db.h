/*
 * db.h: curvscope's run database (one SQLite file; schema in docs/SCHEMA.md).
 *
 * A Db is one connection to one file. db_open creates the file with the
 * current schema, or checks that an existing file is a curvscope database of a
 * schema this build knows (a refused file is left byte-for-byte unchanged),
 * then migrates it forward. Writers go through a Recorder (db_recorder_open /
 * db_recorder_attach); readers return malloc'd copies the caller frees.
 * Several processes may open the same file at once (WAL, 10 s busy timeout;
 * a Recorder waits less, see DbWritePolicy).
 *
 * Ownership: db_open allocates, db_close frees (NULL is a no-op). Arrays
 * returned through `**` out-parameters are malloc'd and freed with free();
 * they are NULL when the count is 0. Strings in a RunRow are freed by
 * run_row_free.
 * Thread safety: one thread per Db (and per Recorder built on it).
 */
#ifndef CS_DB_H
#define CS_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/recorder.h"

typedef struct Db Db;

#define DB_APPLICATION_ID 0x43757276 /* "Curv" */
#define DB_SCHEMA_VERSION 3

/* ---- open / close (db.c) ------------------------------------------------ */

/* Opens or creates the database at path. Errors: CS_EINVAL (an empty path, or one
 * that is not a regular file: a directory, a FIFO, a device), CS_EFORMAT (not
 * SQLite, a SQLite file that is not curvscope's, or a negative user_version),
 * CS_EVERSION (written by a newer curvscope), CS_EIO (cannot access the path),
 * CS_EDB (SQLite failed). A refused file is left byte-for-byte unchanged, and
 * without the -wal and -shm files SQLite creates beside a WAL-mode file when
 * neither was there before. */
int db_open(const char *path, Db **out, Err *err);
/* As db_open for commands that read what is there (runs, analyze, study --run):
 * CS_ENOTFOUND "no database at PATH" when nothing is there, and nothing created. */
int db_open_existing(const char *path, Db **out, Err *err);
void db_close(Db *db);
/* A random (version 4) UUID, lower-case "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", from
 * /dev/urandom (CS_EIO when it cannot be read): every run's runs.uuid (db_uuid.c). */
#define DB_UUID_LEN 36
int db_uuid4(char out[DB_UUID_LEN + 1], Err *err);
/* The path the database was opened with. */
const char *db_path(const Db *db);

/* ---- writing (db_recorder.c) --------------------------------------------
 * A Recorder over the database. Writes are queued in memory and committed in
 * one transaction on flush, on run_end, right after a checkpoint, and
 * automatically once 256 rows are pending or the oldest pending row is 2 s
 * old (checked on each write); every commit also refreshes runs.heartbeat_at
 * of a running run. The write lock is held only during a commit, so other
 * processes are never blocked while this one trains. eigs, metrics, steps,
 * series and checkpoints replace an existing row with the same key.
 *
 * A write lock held by another connection does not stop a run: a commit due
 * on a write waits at most DbWritePolicy.busy_ms for the lock; if it is still
 * held the rows stay queued and the commit is retried on later writes with a
 * backoff (0.25 s doubling to 4 s). Only when the queue reaches max_rows or
 * max_bytes does a write fail (CS_EDB naming the file and how long it has been
 * locked; the rows stay queued). run_begin, flush, run_end and close wait up
 * to wait_s for the lock; after one such wait has timed out the next try once.
 * A row the database refuses (a constraint) is dropped and reported (CS_EDB
 * with SQLite's message); on any other failure (CS_EIO for a full disk or an
 * I/O error) the queue is kept. run_end that cannot commit the queue for such
 * a reason drops it and records the run as 'failed' with the error. */

/* How a Recorder waits for a write lock held by another connection, and how
 * much it keeps in memory meanwhile. A zero field means its default. */
typedef struct DbWritePolicy {
  int busy_ms;      /* lock wait of one commit attempt due on a write (default 100) */
  double wait_s;    /* lock wait of run_begin, flush, run_end, close (default 60) */
  size_t max_rows;  /* pending rows kept while locked (default 1000000) */
  size_t max_bytes; /* their memory, checkpoint blobs by size (default 256 MB) */
} DbWritePolicy;

/* The defaults, each field filled. */
void db_write_policy_default(DbWritePolicy *p);
/* Sets the policy of recorders on db (also those already open); zero fields
 * take their default. */
void db_set_write_policy(Db *db, const DbWritePolicy *p);

/* Fills out with a recorder that starts new runs (run_begin). */
int db_recorder_open(Db *db, Recorder *out, Err *err);
/* Fills out with a recorder writing to the existing run `run` (no run_begin
 * needed): for post-hoc analysis of a run's checkpoints (curvscope analyze,
 * study eos --run). CS_ENOTFOUND if the run does not exist. */
int db_recorder_attach(Db *db, int64_t run, Recorder *out, Err *err);
/* Commits what is pending (errors are dropped: call rec_flush first to see
 * them), frees the recorder and zeroes *r. NULL or a zeroed recorder is a
 * no-op. A run begun and not ended stays 'running' (see db_mark_stale). */
void db_recorder_close(Recorder *r);

/* Direct writes without a Recorder, each committed at once (autocommit).
 * metric: INSERT OR REPLACE on (run, name, step); step -1 for
 * run-level metrics. phase: appends a row (call db_phases_clear first when
 * re-analysing). */
int db_metric_put(Db *db, int64_t run, long step, const char *name, double v, Err *err);
int db_phase_put(Db *db, int64_t run, const char *phase, long start_step, long end_step,
                 const char *detail_json, Err *err);
int db_phases_clear(Db *db, int64_t run, Err *err);

/* ---- dead runs (db_stale.c) --------------------------------------------- */

/* Runs still 'running' that were started on this host by a process that is
 * gone become 'interrupted', with finished_at = their last heartbeat (or
 * created_at when they never had one) and an error saying so; an error already
 * recorded is kept. Gone means: no such pid, a zombie, or a pid reused by a
 * process that started after the run was created (its /proc/PID/stat start
 * time; without /proc only kill(pid, 0) is asked). Runs of other hosts are
 * left alone: their liveness cannot be checked. *n_marked (may be NULL) gets
 * the count. */
int db_mark_stale(Db *db, int *n_marked, Err *err);

/* ---- removing (db_delete.c) ---------------------------------------------- */

/* Removes runs ids[0..n) and every row of theirs (steps, metrics, eigs, series,
 * densities, phases, checkpoints) in one transaction: all of them or, on any error,
 * none. A run still 'running' is refused (CS_EINVAL) unless force; CS_ENOTFOUND names
 * an id that is not there. *rows (may be NULL) gets the number of rows deleted. The
 * file keeps its size until db_vacuum. */
int db_runs_delete(Db *db, const int64_t *ids, size_t n, int force, long long *rows, Err *err);
/* VACUUM: gives the space of deleted rows back to the file system. */
int db_vacuum(Db *db, Err *err);

/* ---- merging (db_merge.c) ---------------------------------------------- */

typedef struct DbMergeStats {
  long long runs_added;   /* runs copied in, with new ids */
  long long runs_present; /* runs of the source whose uuid was already here (skipped) */
  long long rows;         /* their rows copied, every table that references runs */
  long long max_id_before; /* the highest run id here before: the new runs are above it */
} DbMergeStats;

/* Whether src can be merged: an existing curvscope database of a schema this build knows
 * (an older one is upgraded in place, as db_open does) that passes SQLite's quick_check.
 * Errors as db_open_existing, and CS_EFORMAT for a corrupt file. Writes nothing else. */
int db_merge_check(const char *src, Err *err);
/* Copies every run of src whose uuid db does not have, with all its rows, in one
 * transaction (all or, on error, nothing); ids are remapped, runs.origin/origin_id keep
 * where each run was first recorded. src is ATTACHed for the copy and detached after.
 * Call db_merge_check(src) first. CS_EINVAL when src is db's own file. */
int db_merge(Db *db, const char *src, DbMergeStats *stats, Err *err);

/* ---- reading (db_read.c) ------------------------------------------------ */

typedef struct RunRow {
  int64_t id;
  char *name, *study, *grp, *status, *config, *layout, *created_at, *error; /* NULL when SQL NULL */
  char *finished_at, *host, *version;
  uint64_t seed;
  size_t n_params;
  long pid;
} RunRow;

/* CS_ENOTFOUND "no run N in FILE". out is zeroed first; free with run_row_free. */
int db_run_get(Db *db, int64_t id, RunRow *out, Err *err);
/* Frees the strings and zeroes the row; NULL is a no-op. */
void run_row_free(RunRow *row);

typedef struct RunSummary {
  int64_t id;
  char name[64], study[32], status[16]; /* truncated copies; "" when NULL */
  long steps;                           /* last recorded step; -1 when none */
  double final_loss, final_accuracy, final_test_accuracy; /* NAN when NULL (also below) */
  double max_sharpness;         /* max λ1 of the Hessian H ("sharpness") */
  double max_precond_sharpness; /* max λ1 of P^-1/2 H P^-1/2 (Adam's "preconditioned sharpness") */
  double eos_onset;             /* first step at the threshold (study eos; Adam: preconditioned) */
  char opt[16];                         /* optimizer from the config, "" when absent */
  double lr;                            /* η from the config, NAN when absent */
} RunSummary;

/* Every run from the run_summary view, by id. *out is malloc'd (NULL if none). */
int db_run_summaries(Db *db, RunSummary **out, size_t *n, Err *err);

/* Steps that have a checkpoint, ascending. CS_ENOTFOUND if no such run. */
int db_checkpoint_steps(Db *db, int64_t run, long **steps, size_t *n, Err *err);
/* Reads the checkpoint at `step` (-1: the last one) into a malloc'd array of
 * *n doubles; *step_out (may be NULL) gets its step. CS_ENOTFOUND names the
 * steps that do have a checkpoint; CS_EFORMAT if the blob is not float64s. */
int db_checkpoint_read(Db *db, int64_t run, long step, double **params, size_t *n,
                       long *step_out, Err *err);

/* Time series, ascending by step; NULL values come back as NAN.
 * db_metric_series: metrics.name; db_eig_series: eigs of operator op at index
 * idx (0 = largest, -1 = smallest) as measured during training (source other than
 * 'analyze'); db_step_series: a column of steps, one of
 * loss, accuracy, lr, grad_norm, param_norm, epoch, wall_s (else CS_EINVAL).
 * CS_ENOTFOUND if the run does not exist; an existing run with no data gives
 * n = 0. */
/* The optimizer state stored with the checkpoint at `step` (CS_ENOTFOUND if none):
 * its JSON description and its values (malloc'd; caller frees both). */
int db_opt_state_read(Db *db, int64_t run, long step, char **meta, double **state, size_t *n,
                      Err *err);
int db_metric_series(Db *db, int64_t run, const char *name, long **steps, double **values,
                     size_t *n, Err *err);
int db_eig_series(Db *db, int64_t run, const char *op, int idx, long **steps, double **values,
                  size_t *n, Err *err);
int db_step_series(Db *db, int64_t run, const char *column, long **steps, double **values,
                   size_t *n, Err *err);

#endif
