/*
 * json.h: a growable string buffer with JSON-writing helpers.
 *
 * Used for run configurations, checkpoint layouts, phase details and the
 * report's embedded data. Writes only; curvscope reads JSON back through
 * SQLite's json_extract. Ownership: the buffer owns its memory; sb_free.
 * On allocation failure the buffer sets `oom` and stops growing.
 */
#ifndef CS_JSON_H
#define CS_JSON_H

#include <stddef.h>

typedef struct StrBuf {
  char *p;       /* always NUL-terminated when len > 0 or after any append */
  size_t len;
  size_t cap;
  int oom;
} StrBuf;

void sb_init(StrBuf *b);
void sb_free(StrBuf *b);
void sb_reset(StrBuf *b);
void sb_append(StrBuf *b, const char *s);
void sb_append_n(StrBuf *b, const char *s, size_t n);
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included; NULL gives null. Also safe
 * inside an HTML <script> element: '<', '>' and '&' are written as \u escapes. */
void sb_json_str(StrBuf *b, const char *s);
/* Appends a number; NaN and infinities become null (JSON has no such numbers). */
void sb_json_num(StrBuf *b, double v);
/* Appends the shortest %g form (15 to 17 digits) that reads back as v exactly. */
void sb_double(StrBuf *b, double v);
/* Takes ownership of the text: returns it and resets b (caller frees). */
char *sb_take(StrBuf *b);

#endif

/* ------------------------------------------------------------------ reading */
/* Minimal readers for the flat JSON objects curvscope writes (run configs):
 * top-level keys with string, number, boolean or array-of-strings values.
 * Return CS_OK when found, CS_ENOTFOUND when absent, CS_EFORMAT if malformed. */
int json_get_str(const char *json, const char *key, char *out, size_t size);
int json_get_num(const char *json, const char *key, double *out);
/* An integer, exactly (json_get_num would round one beyond 2^53): the number's text
 * read by parse_long (spec.h); CS_EFORMAT when it is not an integer a long holds. */
int json_get_long(const char *json, const char *key, long *out);
/* Array of strings: calls fn(ctx, value) for each element. */
int json_get_str_array(const char *json, const char *key, void (*fn)(void *ctx, const char *v),
                       void *ctx);
