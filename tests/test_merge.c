/* test_merge.c: run uuids and curvscope merge (db_merge.c).
 *
 * Source files are written through the recorder with rows in every table that references
 * runs; after a merge each run is looked up by its uuid and its rows compared with the
 * source's, table by table and value by value (quote() of every column but run_id, in
 * SQL), so a lost, doubled or mis-attributed row fails. Then: merging again adds nothing,
 * provenance survives a second hop, and a newer, corrupt, foreign or self input is refused
 * with the output unchanged. */
#include <limits.h>
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

/* Every table with a run_id (docs/SCHEMA.md); test_fk_tables checks the schema has no other. */
static const char *const child_tables[] = {"steps", "metrics", "eigs", "series", "densities",
                                           "phases", "checkpoints"};
#define N_CHILD (sizeof child_tables / sizeof *child_tables)

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

/* A database at `name` with nruns runs, each with rows in every child table; values depend on
 * salt so that files differ. */
static int make_db(const char *name, int nruns, double salt) {
  char p[512];
  path_of(p, sizeof p, name);
  Err err = {0};
  Db *db = NULL;
  Recorder rec;
  int rc = db_open(p, &db, &err);
  if (!rc) rc = db_recorder_open(db, &rec, &err);
  for (int i = 0; i < nruns && !rc; i++) {
    char rname[64], config[128];
    snprintf(rname, sizeof rname, "%s-run%d", name, i);
    snprintf(config, sizeof config, "{\"lr\":%g,\"opt\":\"gd\"}", salt + i);
    RunInfo info = {rname, "train", "g", config, (uint64_t)(7 + i), 5, "{\"n\":5}"};
    int64_t id;
    rc = rec_run_begin(&rec, &info, &id, &err);
    for (long s = 0; s < 4 && !rc; s++) {
      StepRecord sr = {.step = s, .epoch = 0.5 * s, .loss = salt + i + 0.1 * s, .accuracy = 0.5,
                       .lr = 0.01, .grad_norm = 1.0 / (s + 1), .param_norm = 2, .wall_s = s};
      double v[3] = {salt, s, i}, ev[2] = {salt + 3 + s, 1}, res[2] = {1e-3, 2e-3};
      double x[4] = {0, 1, 2, 3}, y[4] = {0.1, 0.2, salt, 0.4}, th[5] = {salt, i, s, 4, 5};
      EigRecord e = {.step = s, .op = "hessian", .batch_size = 8, .count = 2, .values = ev,
                     .residuals = res, .matvecs = 20, .wall_s = 0.1, .converged = 1};
      rc = rec_step(&rec, &sr, &err);
      if (!rc) rc = rec_metric(&rec, s, "test_loss", salt * s, &err);
      if (!rc) rc = rec_series(&rec, s, "spec", 3, v, &err);
      if (!rc) rc = rec_eigs(&rec, &e, &err);
      if (!rc) rc = rec_density(&rec, s, "hessian", 4, x, y, &err);
      if (!rc && s % 2 == 0) rc = rec_checkpoint(&rec, s, th, 5, &err);
      if (!rc && s % 2 == 0) rc = rec_opt_state(&rec, s, "{\"m\":1}", th, 5, &err);
    }
    if (!rc) rc = rec_phase(&rec, "I", 0, 2, "{\"x\":1}", &err);
    if (!rc) rc = rec_run_end(&rec, "finished", NULL, &err);
  }
  if (db) db_recorder_close(&rec);
  db_close(db);
  if (rc) tap_diag("make_db %s: %s", name, err.msg);
  return rc;
}

/* The rows of run `uuid` in table t as text: quote() of every column but run_id, ordered. */
static void rows_of(sqlite3 *h, const char *t, const char *uuid, char *out, size_t n) {
  char cols[2048] = "", q[4096];
  sqlite3_stmt *st;
  snprintf(q, sizeof q, "SELECT name FROM pragma_table_info('%s') WHERE name <> 'run_id'", t);
  sqlite3_prepare_v2(h, q, -1, &st, NULL);
  while (sqlite3_step(st) == SQLITE_ROW) {
    size_t k = strlen(cols);
    snprintf(cols + k, sizeof cols - k, "%squote(%s)", k ? " || '|' || " : "",
             (const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  snprintf(q, sizeof q, "SELECT count(*) || ':' || ifnull(group_concat(r, ';'), '') FROM "
           "(SELECT %s AS r FROM %s WHERE run_id = (SELECT id FROM runs WHERE uuid = '%s') "
           "ORDER BY r)", cols, t, uuid);
  sql_text(h, q, out, n);
}

/* The run row itself, without id and provenance. */
static void run_of(sqlite3 *h, const char *uuid, char *out, size_t n) {
  char q[512];
  snprintf(q, sizeof q, "SELECT quote(name)||quote(study)||quote(grp)||status||created_at||"
           "quote(finished_at)||config||seed||n_params||quote(version)||quote(host)||pid||"
           "quote(heartbeat_at)||quote(error)||quote(layout) FROM runs WHERE uuid = '%s'", uuid);
  sql_text(h, q, out, n);
}

static sqlite3 *raw_open(const char *name) {
  char p[512];
  path_of(p, sizeof p, name);
  sqlite3 *h = NULL;
  sqlite3_open_v2(p, &h, SQLITE_OPEN_READWRITE, NULL);
  return h;
}

static int merge_one(Db *out, const char *name, DbMergeStats *s, Err *err) {
  char p[512];
  path_of(p, sizeof p, name);
  int rc = db_merge_check(p, err);
  return rc ? rc : db_merge(out, p, s, err);
}

static void test_uuid(void) {
  enum { N = 500 };
  static char u[N][DB_UUID_LEN + 1];
  int ok = 1, distinct = 1;
  Err err = {0};
  for (int i = 0; i < N; i++) {
    ok &= db_uuid4(u[i], &err) == CS_OK && strlen(u[i]) == 36;
    for (int k = 0; k < 36 && ok; k++) {
      char c = u[i][k];
      if (k == 8 || k == 13 || k == 18 || k == 23) ok &= c == '-';
      else if (k == 14) ok &= c == '4';
      else if (k == 19) ok &= strchr("89ab", c) != NULL;
      else ok &= strchr("0123456789abcdef", c) != NULL;
    }
    for (int j = 0; j < i; j++) distinct &= strcmp(u[i], u[j]) != 0;
  }
  tap_ok(ok, "db_uuid4: %d uuids of the v4 form xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx (%s)", N,
         u[0]);
  tap_ok(distinct, "and all distinct");
}

static void test_fk_tables(void) {
  make_db("schema.db", 0, 0);
  sqlite3 *h = raw_open("schema.db");
  long long n = sql_int(h, "SELECT count(*) FROM sqlite_master m, pragma_foreign_key_list(m.name) f"
                           " WHERE m.type = 'table' AND f.\"table\" = 'runs'");
  tap_ok(n == (long long)N_CHILD, "the schema has %lld tables referencing runs, the %zu this test "
         "compares", n, N_CHILD);
  sqlite3_close(h);
}

/* Every run of source `name` is in out (by uuid) with the same row and the same rows (strict:
 * and each has rows in every table). */
static int same_runs(sqlite3 *out, const char *name, int strict, long *nruns) {
  sqlite3 *src = raw_open(name);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(src, "SELECT uuid FROM runs ORDER BY id", -1, &st, NULL);
  int same = 1;
  *nruns = 0;
  static char a[65536], b[65536];
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *uuid = (const char *)sqlite3_column_text(st, 0);
    (*nruns)++;
    run_of(src, uuid, a, sizeof a), run_of(out, uuid, b, sizeof b);
    if (!a[0] || strcmp(a, b)) same = 0, tap_diag("run %s differs", uuid);
    for (size_t t = 0; t < N_CHILD; t++) {
      rows_of(src, child_tables[t], uuid, a, sizeof a);
      rows_of(out, child_tables[t], uuid, b, sizeof b);
      if ((strict && !strncmp(a, "0:", 2)) || strcmp(a, b))
        same = 0, tap_diag("%s of run %s: %.60s vs %.60s", child_tables[t], uuid, a, b);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(src);
  return same;
}

static long long total_rows(sqlite3 *h) {
  long long n = 0;
  for (size_t t = 0; t < N_CHILD; t++) {
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s", child_tables[t]);
    n += sql_int(h, q);
  }
  return n + sql_int(h, "SELECT count(*) FROM runs");
}

static void test_merge(void) {
  int ok = make_db("a.db", 2, 10) == 0 && make_db("b.db", 3, 20) == 0 && make_db("out.db", 1, 30) == 0;
  tap_ok(ok, "three source files written");
  if (!ok) return;
  char p[512], q[2 * PATH_MAX + 512], buf[PATH_MAX];
  path_of(p, sizeof p, "out.db");
  Err err = {0};
  Db *out = NULL;
  DbMergeStats s;
  if (db_open(p, &out, &err)) return (void)tap_ok(0, "open out.db: %s", err.msg);
  sqlite3 *h = db_sqlite(out);
  int rc = merge_one(out, "a.db", &s, &err);
  tap_ok(rc == CS_OK && s.runs_added == 2 && s.runs_present == 0 && s.max_id_before == 1,
         "a.db: 2 runs added after out's run 1 (%s)", err.msg);
  long long rows_a = s.rows;
  rc = merge_one(out, "b.db", &s, &err);
  tap_ok(rc == CS_OK && s.runs_added == 3 && s.max_id_before == 3, "b.db: 3 runs added (%s)",
         err.msg);
  tap_ok(!strcmp(sql_text(h, "SELECT group_concat(id) FROM (SELECT id FROM runs ORDER BY id)",
                          q, sizeof q), "1,2,3,4,5,6"),
         "ids remapped: out's run 1, a.db's 2-3, b.db's 4-6 (%s)", q);
  tap_ok(sql_int(h, "SELECT count(DISTINCT uuid) FROM runs") == 6, "six distinct uuids");
  long na, nb;
  tap_ok(same_runs(h, "a.db", 1, &na) && na == 2, "a.db's runs: run rows and all 7 tables' rows "
         "equal, value by value");
  tap_ok(same_runs(h, "b.db", 1, &nb) && nb == 3, "b.db's runs: the same");
  sqlite3 *ha = raw_open("a.db");
  tap_ok(rows_a == total_rows(ha) - 2, "stats.rows of a.db = its child rows (%lld)", rows_a);
  sqlite3_close(ha);
  path_of(p, sizeof p, "a.db");
  realpath(p, buf);
  snprintf(q, sizeof q, "SELECT count(*) FROM runs WHERE origin = '%s' AND origin_id IN (1, 2)"
           " AND id IN (2, 3) AND origin_id = id - 1", buf);
  tap_ok(sql_int(h, q) == 2, "provenance: origin is a.db's absolute path, origin_id its ids");
  tap_ok(sql_int(h, "SELECT count(*) FROM runs WHERE id = 1 AND origin IS NULL AND origin_id IS NULL")
             == 1, "out's own run has no origin");
  tap_ok(sql_int(h, "SELECT count(*) FROM pragma_foreign_key_check") == 0, "no orphaned rows");

  /* idempotent */
  long long before = total_rows(h);
  rc = merge_one(out, "a.db", &s, &err);
  tap_ok(rc == CS_OK && s.runs_added == 0 && s.runs_present == 2 && s.rows == 0 &&
             total_rows(h) == before,
         "merging a.db again adds nothing (%lld present, %lld rows in all)", s.runs_present,
         before);
  rc = db_merge(out, db_path(out), &s, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "output database itself"), "out.db into itself: "
         "refused (%s)", err.msg);
  db_close(out);

  /* a second hop keeps where runs were first recorded */
  path_of(p, sizeof p, "out2.db");
  if (db_open(p, &out, &err)) return (void)tap_ok(0, "open out2.db: %s", err.msg);
  h = db_sqlite(out);
  rc = merge_one(out, "out.db", &s, &err);
  path_of(p, sizeof p, "out.db");
  char outabs[PATH_MAX];
  realpath(p, outabs);
  snprintf(q, sizeof q, "SELECT (SELECT count(*) FROM runs WHERE origin = '%s' AND origin_id IN "
           "(1, 2)) || ',' || (SELECT count(*) FROM runs WHERE origin = '%s' AND origin_id = 1)",
           buf, outabs);
  tap_ok(rc == CS_OK && s.runs_added == 6 && !strcmp(sql_text(h, q, p, sizeof p), "2,1"),
         "out.db into out2.db: a.db's runs still name a.db and their first ids; out's own run "
         "names out.db (%s)", p);
  long n5;
  tap_ok(same_runs(h, "a.db", 1, &n5) && same_runs(h, "b.db", 1, &n5), "and their rows are all there");
  db_close(out);
}

/* file `to` as a copy of `from` (both in g_dir) */
static int copy(const char *from, const char *to) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s'", g_dir, from, g_dir, to);
  return system(cmd);
}

static unsigned long long file_sum(const char *name) {
  char p[512];
  path_of(p, sizeof p, name);
  FILE *f = fopen(p, "rb");
  unsigned long long sum = 0;
  int c;
  while (f && (c = fgetc(f)) != EOF) sum = sum * 31 + (unsigned)c;
  if (f) fclose(f);
  return sum;
}

static void test_refused(void) {
  char p[512];
  Err err = {0};
  /* a.db is checkpointed on close (db_close), so a byte copy is the whole database */
  copy("a.db", "newer.db");
  sqlite3 *h = raw_open("newer.db");
  sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL);
  sqlite3_close(h);
  path_of(p, sizeof p, "newer.db");
  unsigned long long sum = file_sum("newer.db");
  int rc = db_merge_check(p, &err);
  tap_ok(rc == CS_EVERSION && strstr(err.msg, "newer") && file_sum("newer.db") == sum,
         "a newer schema: refused, the file untouched (%s)", err.msg);

  /* past the header page: garbage over the tables' pages */
  copy("b.db", "corrupt.db");
  path_of(p, sizeof p, "corrupt.db");
  FILE *f = fopen(p, "r+b");
  fseek(f, 4096, SEEK_SET);
  for (int i = 0; i < 3 * 4096; i++) fputc((i * 7919) & 0xff, f);
  fclose(f);
  rc = db_merge_check(p, &err);
  tap_ok(rc == CS_EFORMAT || rc == CS_EDB, "a corrupt file: refused (%d: %s)", rc, err.msg);
  f = fopen(p, "wb");
  fputs("not a database at all, just text long enough", f);
  fclose(f);
  rc = db_merge_check(p, &err);
  tap_ok(rc == CS_EFORMAT && strstr(err.msg, "not a curvscope database"), "a text file: refused "
         "(%s)", err.msg);
  path_of(p, sizeof p, "absent.db");
  rc = db_merge_check(p, &err);
  tap_ok(rc == CS_ENOTFOUND && access(p, F_OK) != 0, "a missing file: refused, not created (%s)",
         err.msg);

  /* db_merge itself re-reads the version under ATTACH (the file may change after the check) */
  Db *out = NULL;
  path_of(p, sizeof p, "out3.db");
  db_open(p, &out, &err);
  DbMergeStats s;
  path_of(p, sizeof p, "newer.db");
  rc = db_merge(out, p, &s, &err);
  tap_ok(rc == CS_EVERSION && sql_int(db_sqlite(out), "SELECT count(*) FROM runs") == 0 &&
             sql_int(db_sqlite(out), "SELECT count(*) FROM pragma_database_list") == 2,
         "db_merge of a newer file: refused, nothing copied, detached (%s)", err.msg);
  db_close(out);
}

/* An old file is upgraded in place and merged; its orphaned rows are not copied. */
static void test_old_source(void) {
  char p[512], cmd[1200];
  path_of(p, sizeof p, "v1.db");
  snprintf(cmd, sizeof cmd, "cp '%s/schema_v1.sqlite' '%s'", CS_TEST_FIXTURES, p);
  if (system(cmd) != 0) return (void)tap_ok(0, "copy the v1 fixture");
  Err err = {0};
  Db *out = NULL;
  char o[512];
  path_of(o, sizeof o, "out4.db");
  db_open(o, &out, &err);
  DbMergeStats s;
  int rc = merge_one(out, "v1.db", &s, &err);
  sqlite3 *h = db_sqlite(out);
  tap_ok(rc == CS_OK && s.runs_added == 2 &&
             sql_int(h, "SELECT count(*) FROM steps WHERE run_id NOT IN (SELECT id FROM runs)") == 0,
         "a v1 file: upgraded, its 2 runs merged, its orphaned rows left behind (%s)", err.msg);
  long n;
  tap_ok(same_runs(h, "v1.db", 0, &n) && n == 2, "with all their rows");
  db_close(out);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/cs_test_merge.XXXXXX");
  if (!mkdtemp(g_dir)) {
    tap_ok(0, "mkdtemp");
    return tap_done();
  }
  test_uuid();
  test_fk_tables();
  test_merge();
  test_refused();
  test_old_source();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) tap_diag("could not remove %s", g_dir);
  return tap_done();
}
