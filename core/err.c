/* err.c: formatting of the caller-owned error record (see err.h). */
#include "err.h"

#include <stdio.h>
#include <string.h>

int err_set(Err *e, int code, const char *fmt, ...) {
  if (!e) return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

int err_prefix(Err *e, const char *fmt, ...) {
  if (!e) return CS_EINVAL;
  char head[128], old[sizeof e->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  /* Assembled by hand: the message may be truncated on purpose. */
  size_t hl = strlen(head), cap = sizeof e->msg - 1;
  if (hl > cap) hl = cap;
  memcpy(e->msg, head, hl);
  size_t pos = hl;
  for (const char *s = ": "; *s && pos < cap; s++) e->msg[pos++] = *s;
  for (const char *s = old; *s && pos < cap; s++) e->msg[pos++] = *s;
  e->msg[pos] = '\0';
  return e->code;
}

void err_clear(Err *e) {
  if (!e) return;
  e->code = CS_OK;
  e->msg[0] = '\0';
}

const char *cs_status_name(int code) {
  switch (code) {
    case CS_OK: return "ok";
    case CS_EINVAL: return "invalid argument";
    case CS_EIO: return "i/o error";
    case CS_EFORMAT: return "bad file format";
    case CS_ENOMEM: return "out of memory";
    case CS_EDIVERGED: return "diverged";
    case CS_EINTERRUPTED: return "interrupted";
    case CS_ENOCONV: return "not converged";
    case CS_EDB: return "database error";
    case CS_EVERSION: return "newer version";
    case CS_ENOTFOUND: return "not found";
    default: return "unknown error";
  }
}
