/* utf8.c: UTF-8 validation and escaping for messages (see utf8.h). */
#include "utf8.h"

#include <stdio.h>

/* Length of the valid sequence starting at s, or 0 if it is not one. */
static size_t seq_len(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;      /* overlong */
    if (c == 0xED) hi = 0x9F;      /* surrogates U+D800..DFFF */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;      /* overlong */
    if (c == 0xF4) hi = 0x8F;      /* above U+10FFFF */
  } else
    return 0;                      /* continuation byte, C0/C1, F5..FF */
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

size_t utf8_invalid_offset(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; p[i];) {
    size_t len = seq_len(p + i);
    if (!len) return i;
    i += len;
  }
  return UTF8_VALID;
}

void utf8_escape(const char *s, char *out, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t w = 0;
  if (!n) return;
  for (size_t i = 0; p[i];) {
    size_t len = seq_len(p + i);
    char tmp[8];
    int k = len ? snprintf(tmp, sizeof tmp, "%.*s", (int)len, (const char *)p + i)
                : snprintf(tmp, sizeof tmp, "\\x%02X", p[i]);
    if (w + (size_t)k + 1 > n) break;
    for (int j = 0; j < k; j++) out[w++] = tmp[j];
    i += len ? len : 1;
  }
  out[w] = '\0';
}
