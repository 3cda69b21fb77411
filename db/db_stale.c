/*
 * db_stale.c: runs left 'running' by a process that is gone (kill -9, a lost
 * terminal, a crash, a third Ctrl-C) become 'interrupted'.
 *
 * Every curvscope command that opens a database calls db_mark_stale, so a dead
 * run is seen for what it is at once, not after some timeout: liveness is
 * asked of the process itself, not guessed from the heartbeat's age. A run
 * is alive while a process with its pid exists on this host, is not a
 * zombie, and started before the run was created. The last test guards
 * against pid reuse without a schema change: the run's own process was
 * alive at created_at, so no other process holding that pid then can be;
 * any holder started later is a stranger. Start times come from
 * /proc/PID/stat (clock ticks since boot) and /proc/stat's btime, so they are
 * as good as the wall clock: a slack of START_SLACK_S absorbs btime's
 * rounding and small clock steps. Without /proc, only kill(pid, 0) is asked.
 *
 * Ownership: none kept. Thread safety: one thread per Db.
 */
#include "db_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define START_SLACK_S 5.0

/* Boot time (Unix seconds) from /proc/stat; -1 without /proc. */
static double boot_time(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  char line[256];
  double bt = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "btime ", 6)) {
      bt = strtod(line + 6, NULL);
      break;
    }
  fclose(f);
  return bt;
}

/* 1 if process pid is alive and may be the one that created a run at Unix time
 * `created` (see the file comment); btime from boot_time(). */
static int owner_alive(long pid, double created, double btime) {
  if (pid <= 0) return 0;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = btime >= 0 ? fopen(path, "r") : NULL;
  if (!f) {
    if (btime >= 0 && errno == ENOENT) return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM; /* no /proc: existence only */
  }
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = '\0';
  /* "pid (comm) state ppid ..." : comm may hold spaces and parentheses. */
  char *p = strrchr(buf, ')');
  if (!p) return 1;
  char state = 0;
  unsigned long long start = 0;
  /* after ')': state is field 3, starttime field 22 */
  if (sscanf(p + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
             &state, &start) != 2)
    return 1;
  if (state == 'Z' || state == 'X') return 0;
  long hz = sysconf(_SC_CLK_TCK);
  double started = btime + (double)start / (double)(hz > 0 ? hz : 100);
  return started <= created + START_SLACK_S;
}

int db_mark_stale(Db *db, int *n_marked, Err *err) {
  if (n_marked) *n_marked = 0;
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0)
    return err_set(err, CS_EIO, "marking dead runs: cannot read this host's name: %s",
                   strerror(errno));
  sqlite3_stmt *sel, *upd;
  if (db_prepare(db,
                 "SELECT id, pid, (julianday(created_at) - 2440587.5) * 86400.0 FROM runs"
                 " WHERE status = 'running' AND host = ?1",
                 &sel, "finding dead runs", err))
    return CS_EDB;
  if (db_prepare(db,
                 "UPDATE runs SET status = 'interrupted',"
                 " finished_at = coalesce(heartbeat_at, created_at),"
                 " error = coalesce(error, 'process ' || pid || ' ended without ending the run;"
                 " finished_at is its last heartbeat')"
                 " WHERE id = ?1 AND status = 'running'",
                 &upd, "marking dead runs", err)) {
    sqlite3_finalize(sel);
    return CS_EDB;
  }
  sqlite3_bind_text(sel, 1, host, -1, SQLITE_STATIC);
  double btime = boot_time();
  /* Collect first, then update: no write while the read cursor is open. */
  int64_t *ids = NULL;
  size_t n = 0, cap = 0;
  int rc, status = CS_OK;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    if (owner_alive((long)sqlite3_column_int64(sel, 1), sqlite3_column_double(sel, 2), btime))
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      int64_t *p = realloc(ids, cap * sizeof *p);
      if (!p) {
        status = err_set(err, CS_ENOMEM, "out of memory marking dead runs");
        break;
      }
      ids = p;
    }
    ids[n++] = sqlite3_column_int64(sel, 0);
  }
  if (status == CS_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    status = db_fail(db, err, "finding dead runs");
  sqlite3_finalize(sel);
  for (size_t i = 0; status == CS_OK && i < n; i++) {
    sqlite3_bind_int64(upd, 1, ids[i]);
    if (sqlite3_step(upd) != SQLITE_DONE) status = db_fail(db, err, "marking dead runs");
    else if (n_marked) *n_marked += sqlite3_changes(db->h);
    sqlite3_reset(upd);
  }
  sqlite3_finalize(upd);
  free(ids);
  return status;
}
