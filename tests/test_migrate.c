/* test_migrate.c: schema migrations, from a file the previous version wrote.
 *
 * tests/fixtures/schema_v1.sqlite was written by curvscope at schema v1 (how: the
 * README beside it): a probe run whose step-10 eigenvalues analyze replaced, a run
 * deleted by hand with foreign keys off (its rows orphaned), an Adam run. A copy is
 * opened and must come out at the current schema with every row and byte kept, ids
 * that are never handed out again, eigenvalues that say where they came from and a uuid
 * for every run (v3). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/recorder.h"
#include "db/db.h"
#include "db/db_internal.h"
#include "sql_util.h"
#include "tap.h"

#ifndef CS_TEST_FIXTURES
#error "tests/meson.build defines CS_TEST_FIXTURES"
#endif

static char g_dir[256];

static int copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
  if (!a || !b) {
    if (a) fclose(a);
    return -1;
  }
  char buf[8192];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, k, b);
  fclose(a);
  return fclose(b);
}

/* A digest of every table's content that a migration must keep (eigs without the new
 * columns), as one text per table, computed by SQLite itself. */
static const char *const kept_tables[] = {
    "SELECT group_concat(id || '|' || ifnull(name,'') || '|' || status || '|' || config || '|' ||"
    " ifnull(heartbeat_at,'') || '|' || ifnull(layout,''), ';') FROM (SELECT * FROM runs ORDER BY id)",
    "SELECT count(*) || ':' || total(loss) || ':' || total(step * run_id) FROM steps",
    "SELECT count(*) || ':' || total(value) FROM metrics",
    "SELECT group_concat(run_id || '/' || step || '/' || operator || '/' || idx || '/' || value ||"
    " '/' || matvecs, ';') FROM (SELECT * FROM eigs ORDER BY run_id, operator, step, idx)",
    "SELECT group_concat(run_id || '/' || step || '/' || hex(params) || '/' || ifnull(hex(opt_state),''),"
    " ';') FROM (SELECT * FROM checkpoints ORDER BY run_id, step)",
    "SELECT count(*) FROM phases",
    "SELECT count(*) FROM series",
    "SELECT count(*) FROM densities",
};
#define N_KEPT (sizeof kept_tables / sizeof *kept_tables)

static void digests(sqlite3 *h, char out[N_KEPT][16384]) {
  for (size_t i = 0; i < N_KEPT; i++) sql_text(h, kept_tables[i], out[i], sizeof out[i]);
}

static char before[N_KEPT][16384], after[N_KEPT][16384];

static void test_from_v1(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/v1.db", g_dir);
  int ok = copy_file(CS_TEST_FIXTURES "/schema_v1.sqlite", path) == 0;
  tap_ok(ok, "copied the v1 fixture to %s", path);
  if (!ok) return;
  sqlite3 *raw;
  sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL);
  tap_ok(sql_int(raw, "PRAGMA user_version") == 1, "the fixture is schema v1");
  long long orphans = sql_int(raw, "SELECT count(*) FROM steps WHERE run_id = 2");
  tap_ok(orphans > 0 && sql_int(raw, "SELECT count(*) FROM runs WHERE id = 2") == 0,
         "the fixture has %lld orphaned step rows of deleted run 2", orphans);
  digests(raw, before);
  sqlite3_close(raw);

  Err err = {0};
  Db *db = NULL;
  int rc = db_open(path, &db, &err);
  tap_ok(rc == CS_OK, "db_open migrates a v1 file (%s)", err.msg);
  if (rc) return;
  sqlite3 *h = db_sqlite(db);
  tap_ok(sql_int(h, "PRAGMA user_version") == DB_SCHEMA_VERSION, "now at schema v%d",
         DB_SCHEMA_VERSION);
  tap_ok(sql_int(h, "PRAGMA foreign_keys") == 1, "foreign keys are on again after the rebuild");
  digests(h, after);
  for (size_t i = 0; i < N_KEPT; i++)
    tap_ok(after[i][0] && !strcmp(before[i], after[i]), "rows kept exactly: %.40s...",
           kept_tables[i] + 7);
  tap_ok(sql_int(h, "SELECT count(*) FROM steps WHERE run_id = 2") == orphans,
         "orphaned rows are left as they were");
  tap_ok(sql_int(h, "SELECT count(*) FROM eigs WHERE source <> 'unknown' OR draw <> 0") == 0 &&
             sql_int(h, "SELECT count(*) FROM eigs") > 0,
         "every migrated eigenvalue has source 'unknown', draw 0");
  tap_ok(sql_int(h, "SELECT count(DISTINCT uuid) FROM runs WHERE length(uuid) = 36 AND "
                    "substr(uuid, 15, 1) = '4' AND substr(uuid, 20, 1) IN ('8','9','a','b')") ==
             sql_int(h, "SELECT count(*) FROM runs") &&
             sql_int(h, "SELECT count(*) FROM runs") == 2,
         "v3: each of the 2 runs got its own v4 uuid");
  tap_ok(sql_int(h, "SELECT count(*) FROM runs WHERE origin IS NULL AND origin_id IS NULL") == 2,
         "and no origin (recorded here)");
  char buf[512];
  tap_ok(strstr(sql_text(h, "SELECT sql FROM sqlite_master WHERE name = 'runs'", buf, sizeof buf),
                "AUTOINCREMENT") != NULL,
         "runs.id is AUTOINCREMENT");
  tap_ok(sql_int(h, "SELECT count(*) FROM pragma_foreign_key_list('steps') WHERE \"table\" = 'runs'")
             == 1,
         "steps still references runs");
  tap_ok(sql_int(h, "SELECT max_precond_sharpness = (SELECT max(value) FROM eigs WHERE run_id = 3"
                    " AND operator = 'precond' AND idx = 0) FROM run_summary WHERE id = 3") == 1 &&
             sql_int(h, "SELECT max_precond_sharpness IS NULL FROM run_summary WHERE id = 1") == 1,
         "run_summary.max_precond_sharpness: the Adam run's, NULL for the GD run");
  tap_ok(sql_int(h, "SELECT abs(max_sharpness - (SELECT max(value) FROM eigs WHERE run_id = 1"
                    " AND operator = 'hessian' AND idx = 0)) < 1e-300 FROM run_summary WHERE id = 1")
             == 1,
         "run_summary.max_sharpness is the raw Hessian's");

  /* New ids never reuse an id ever handed out, even after a hand delete. */
  Recorder rec;
  rc = db_recorder_open(db, &rec, &err);
  RunInfo info = {"after-migration", "train", NULL, "{}", 1, 19, "{}"};
  int64_t id = 0;
  if (!rc) rc = rec_run_begin(&rec, &info, &id, &err);
  tap_ok(rc == CS_OK && id == 4, "the next run is 4, after the highest id 3 (%lld, %s)",
         (long long)id, err.msg);
  tap_ok(sql_int(h, "SELECT count(DISTINCT uuid) FROM runs") == 3, "the new run has a uuid of "
         "its own");
  StepRecord sr = {.step = 0, .loss = 1.0};
  rec_step(&rec, &sr, &err);
  rec_run_end(&rec, "finished", NULL, &err);
  db_recorder_close(&rec);
  /* as in the sqlite3 shell: foreign keys off, the run row deleted by hand */
  sqlite3_exec(h, "PRAGMA foreign_keys = OFF; DELETE FROM runs WHERE id = 4;"
                  "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
  rc = db_recorder_open(db, &rec, &err);
  id = 0;
  if (!rc) rc = rec_run_begin(&rec, &info, &id, &err);
  tap_ok(rc == CS_OK && id == 5, "after deleting run 4 by hand the next run is 5, not 4 (%lld)",
         (long long)id);
  snprintf(buf, sizeof buf, "SELECT count(*) FROM steps WHERE run_id = %lld", (long long)id);
  tap_ok(sql_int(h, buf) == 0, "and it inherits none of run 4's rows");
  db_recorder_close(&rec);
  db_close(db);

  /* Opening again is a no-op: same checkpoints, same version. */
  rc = db_open(path, &db, &err);
  int same = rc == CS_OK && sql_int(db_sqlite(db), "PRAGMA user_version") == DB_SCHEMA_VERSION;
  if (same) {
    digests(db_sqlite(db), before);
    same = !strcmp(before[4], after[4]);
  }
  tap_ok(same, "a second open changes nothing (%s)", err.msg);
  db_close(db);
}

/* analyze's solve at a step the probe measured is stored beside it, not over it. */
static void test_sources_coexist(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/sources.db", g_dir);
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  int64_t id = 0;
  int rc = db_open(path, &db, &err);
  if (!rc) rc = db_recorder_open(db, &rec, &err);
  RunInfo info = {"src", "train", NULL, "{}", 1, 19, "{}"};
  if (!rc) rc = rec_run_begin(&rec, &info, &id, &err);
  double probe_v[2] = {3.5, 1.0}, analyze_v[3] = {3.25, 1.5, 0.5}, res[3] = {1e-3, 1e-3, 1e-3};
  EigRecord p = {.step = 10, .op = "hessian", .batch_size = 32, .count = 2, .values = probe_v,
                 .residuals = res, .matvecs = 1, .converged = 1, .source = NULL};
  EigRecord a = {.step = 10, .op = "hessian", .batch_size = 32, .count = 3, .values = analyze_v,
                 .residuals = res, .matvecs = 2566, .converged = 1, .source = "analyze"};
  EigRecord d1 = {.step = 10, .op = "hessian", .batch_size = 8, .count = 1, .values = probe_v,
                  .residuals = res, .matvecs = 9, .converged = 1, .draw = 1, .source = "study"};
  EigRecord d2 = d1;
  d2.draw = 2;
  d2.values = analyze_v;
  if (!rc) rc = rec_eigs(&rec, &p, &err);
  if (!rc) rc = rec_eigs(&rec, &a, &err);
  if (!rc) rc = rec_eigs(&rec, &d1, &err);
  if (!rc) rc = rec_eigs(&rec, &d2, &err);
  if (!rc) rc = rec_run_end(&rec, "finished", NULL, &err);
  tap_ok(rc == CS_OK, "probe, analyze and two draws written at one step (%s)", err.msg);
  db_recorder_close(&rec);
  sqlite3 *h = db_sqlite(db);
  tap_ok(sql_int(h, "SELECT count(*) FROM eigs WHERE source = 'probe'") == 2 &&
             sql_int(h, "SELECT matvecs FROM eigs WHERE source = 'probe' AND idx = 0") == 1,
         "the probe's two rows are kept (NULL source means probe)");
  tap_ok(sql_int(h, "SELECT count(*) FROM eigs WHERE source = 'analyze'") == 3,
         "analyze's three rows beside them");
  tap_ok(sql_int(h, "SELECT count(DISTINCT draw) FROM eigs WHERE source = 'study'") == 2,
         "two draws of one batch size at one step are two rows");
  long *steps = NULL;
  double *vals = NULL;
  size_t n = 0;
  rc = db_eig_series(db, id, "hessian", 0, &steps, &vals, &n, &err);
  tap_ok(rc == CS_OK && n == 1 && vals[0] == 3.5,
         "the training series reads the probe's value, not analyze's (%zu, %g)", n,
         n ? vals[0] : 0.0);
  free(steps);
  free(vals);
  db_close(db);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/cs_test_migrate.XXXXXX");
  if (!mkdtemp(g_dir)) {
    tap_ok(0, "mkdtemp");
    return tap_done();
  }
  test_from_v1();
  test_sources_coexist();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) tap_diag("could not remove %s", g_dir);
  return tap_done();
}
