/*
 * err.h: the one status enum and the caller-owned error record.
 *
 * Every fallible function in curvscope returns an int from CsStatus and, on
 * failure, fills the caller's Err with a message that names the offending input
 * (a flag, a file, a spec token). Only cli/ prints messages and exits.
 * Thread safety: an Err is owned by one caller; the functions here are reentrant.
 */
#ifndef CS_ERR_H
#define CS_ERR_H

#include <stdarg.h>

typedef enum {
  CS_OK = 0,
  CS_EINVAL,      /* bad argument, flag, spec or configuration */
  CS_EIO,         /* a file could not be read or written */
  CS_EFORMAT,     /* a file's contents are corrupt or not of the expected format */
  CS_ENOMEM,      /* allocation failed */
  CS_EDIVERGED,   /* training produced NaN/Inf or an exploding loss */
  CS_EINTERRUPTED,/* stopped by the user (Ctrl-C) */
  CS_ENOCONV,     /* an iterative solver did not converge */
  CS_EDB,         /* the database refused an operation */
  CS_EVERSION,    /* a file written by a newer curvscope */
  CS_ENOTFOUND    /* a requested run, step or checkpoint does not exist */
} CsStatus;

typedef struct Err {
  int code;
  char msg[256];
} Err;

/* Sets e->code and formats e->msg; returns code so callers can `return err_set(...)`.
 * e may be NULL (the message is dropped). */
int err_set(Err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to an existing message (keeps the code); returns e->code. */
int err_prefix(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears e (code CS_OK, empty message). */
void err_clear(Err *e);

/* A short name for a status ("invalid argument", ...). */
const char *cs_status_name(int code);

#endif
