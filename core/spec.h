/*
 * spec.h: parsing of `kind:key=value,...` specs used by every flag that takes
 * one (--data, --model, --embed, --probe, --operator ...).
 *
 * Grammar: KIND[:ITEM(,ITEM)*] where ITEM is key=value or a bare positional
 * value (paths, widths). Positional values may only come before keyed ones.
 * A list inside a value is joined with '-' (widths 784-200-10, classes 1-3-6-8).
 * Keys are snake_case, the options' names (docs/INPUTS.md): a '-' in a key is read as
 * '_', so update-tol=0.01 is update_tol=0.01.
 * Getters record which keys were read; spec_check_unused() then names any key
 * the consumer did not understand, so typos are never silently ignored.
 *
 * Ownership: a Spec owns copies of its strings; free with spec_free.
 */
#ifndef CS_SPEC_H
#define CS_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SPEC_MAX_ITEMS 32

typedef struct Spec {
  char *text;                      /* the original spec, for messages */
  char *kind;
  int npos;
  char *pos[SPEC_MAX_ITEMS];
  int nkv;
  char *key[SPEC_MAX_ITEMS];
  char *val[SPEC_MAX_ITEMS];
  int used[SPEC_MAX_ITEMS];
} Spec;

int spec_parse(Spec *s, const char *text, Err *err);
void spec_free(Spec *s);

/* Each getter returns CS_OK and leaves *out untouched when the key is absent,
 * CS_EINVAL (naming the key and value) when it is present but malformed. */
int spec_get_str(Spec *s, const char *key, const char **out);
int spec_get_int(Spec *s, const char *key, long *out, Err *err);
int spec_get_double(Spec *s, const char *key, double *out, Err *err);
int spec_get_bool(Spec *s, const char *key, int *out, Err *err);
/* Parses a '-'-joined list of integers ("784-200-10"); *n is the count.
 * An empty item ("5--2", "-1", "3-") is an error: lists cannot hold negative numbers. */
int spec_parse_int_list(const char *text, long *out, int max, int *n, Err *err);
int spec_parse_double_list(const char *text, double *out, int max, int *n, Err *err);
int spec_has(const Spec *s, const char *key);
/* CS_EINVAL naming the first key never read, or a positional beyond `npos_allowed`. */
int spec_check_unused(const Spec *s, int npos_allowed, Err *err);

/* Strict number parsing of a whole token, decimal only: "1e-3", "+2", ".5" ok; trailing
 * or leading junk ("1e-3x", " 1"), hex ("0x10", "0x1p3"), inf, nan and values beyond a
 * double are rejected, so a parsed double is always finite. parse_long also takes an
 * integral decimal float ("1e4"). */
int parse_double(const char *text, double *out);
int parse_long(const char *text, long *out);

/* CS_OK when v is finite and within [lo, hi]; open (RANGE_LO_OPEN | RANGE_HI_OPEN)
 * excludes an end; hi may be INFINITY. Else CS_EINVAL "KEY V: must be in [lo, hi)". */
enum { RANGE_LO_OPEN = 1, RANGE_HI_OPEN = 2 };
int range_check(const char *key, double v, double lo, double hi, int open, Err *err);

#endif
