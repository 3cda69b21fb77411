/*
 * utf8.h: checking that text is UTF-8 before it is stored.
 *
 * Every text curvscope writes to the database (run names, labels, specs) must
 * be valid UTF-8: SQLite stores the bytes as given, and readers that decode
 * TEXT (Python's sqlite3, the report's JSON) then fail on the row. Valid means
 * RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Reentrant; no allocation.
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

#define UTF8_VALID ((size_t)-1)

/* The byte offset of the first byte that does not start or continue a valid
 * sequence of the NUL-terminated s, or UTF8_VALID. */
size_t utf8_invalid_offset(const char *s);
/* Copies s into out (n bytes, always terminated, truncated if needed) with each
 * byte of an invalid sequence written as \xHH, so a message can show it. */
void utf8_escape(const char *s, char *out, size_t n);

#endif
