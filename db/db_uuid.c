/*
 * db_uuid.c: random (version 4) UUIDs for runs, from /dev/urandom.
 *
 * A run's uuid names it across database files (curvscope merge skips a run whose uuid
 * is already there). db_uuid4 fills a buffer; cs_uuid4() is the same as an SQL function
 * on every connection db_open makes, so the v2 -> v3 migration can give each existing
 * run its own uuid in one UPDATE.
 *
 * Ownership: no allocation. Thread safety: any thread (each call opens the device).
 */
#include "db_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int db_uuid4(char out[DB_UUID_LEN + 1], Err *err) {
  unsigned char b[16];
  FILE *f = fopen("/dev/urandom", "rb");
  size_t got = f ? fread(b, 1, sizeof b, f) : 0;
  int saved = errno;
  if (f) fclose(f);
  if (got != sizeof b)
    return err_set(err, CS_EIO, "cannot read /dev/urandom for a run's uuid: %s",
                   f ? "short read" : strerror(saved));
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
  static const char hex[] = "0123456789abcdef";
  size_t k = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
    out[k++] = hex[b[i] >> 4];
    out[k++] = hex[b[i] & 15];
  }
  out[k] = '\0';
  return CS_OK;
}

static void sql_uuid4(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc, (void)argv;
  char u[DB_UUID_LEN + 1];
  Err err = {0};
  if (db_uuid4(u, &err)) {
    sqlite3_result_error(ctx, err.msg, -1);
    return;
  }
  sqlite3_result_text(ctx, u, -1, SQLITE_TRANSIENT);
}

int db_uuid_register(Db *db, Err *err) {
  /* not SQLITE_DETERMINISTIC: evaluated once per row */
  if (sqlite3_create_function(db->h, "cs_uuid4", 0, SQLITE_UTF8, NULL, sql_uuid4, NULL, NULL) !=
      SQLITE_OK)
    return db_fail(db, err, "registering cs_uuid4");
  return CS_OK;
}
