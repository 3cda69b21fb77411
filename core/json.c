/* json.c: growable string buffer and JSON literals (see json.h). */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init(StrBuf *b) { memset(b, 0, sizeof *b); }

void sb_free(StrBuf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void sb_reset(StrBuf *b) {
  b->len = 0;
  if (b->p) b->p[0] = '\0';
}

static int sb_reserve(StrBuf *b, size_t extra) {
  if (b->oom) return 0;
  if (b->len + extra + 1 <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return 0;
  }
  b->p = p;
  b->cap = cap;
  return 1;
}

void sb_append_n(StrBuf *b, const char *s, size_t n) {
  if (!sb_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void sb_append(StrBuf *b, const char *s) { sb_append_n(b, s, strlen(s)); }

void sb_printf(StrBuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n > 0 && sb_reserve(b, (size_t)n)) {
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
  }
  va_end(ap2);
}

void sb_json_str(StrBuf *b, const char *s) {
  if (!s) {
    sb_append(b, "null");
    return;
  }
  sb_append_n(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    switch (*c) {
      case '"': sb_append(b, "\\\""); break;
      case '\\': sb_append(b, "\\\\"); break;
      case '\n': sb_append(b, "\\n"); break;
      case '\r': sb_append(b, "\\r"); break;
      case '\t': sb_append(b, "\\t"); break;
      case '<': sb_append(b, "\\u003c"); break;
      case '>': sb_append(b, "\\u003e"); break;
      case '&': sb_append(b, "\\u0026"); break;
      default:
        if (*c < 0x20)
          sb_printf(b, "\\u%04x", *c);
        else
          sb_append_n(b, (const char *)c, 1);
    }
  }
  sb_append_n(b, "\"", 1);
}

void sb_json_num(StrBuf *b, double v) {
  if (!isfinite(v))
    sb_append(b, "null");
  else
    sb_printf(b, "%.17g", v);
}

void sb_double(StrBuf *b, double v) {
  char buf[32];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  sb_append(b, buf);
}

char *sb_take(StrBuf *b) {
  char *p = b->p;
  if (!p) p = calloc(1, 1);
  memset(b, 0, sizeof *b);
  return p;
}

/* ------------------------------------------------------------------ reading */
#include "err.h"
#include "spec.h"

/* Reads a JSON string literal at p (which points at the opening quote) into out;
 * returns the position after the closing quote, or NULL. */
static const char *read_str(const char *p, char *out, size_t size) {
  if (*p != '"') return NULL;
  p++;
  size_t n = 0;
  while (*p && *p != '"') {
    char ch = *p++;
    if (ch == '\\') {
      char e = *p++;
      switch (e) {
        case 'n': ch = '\n'; break;
        case 't': ch = '\t'; break;
        case 'r': ch = '\r'; break;
        case 'u': {
          unsigned v = 0;
          for (int i = 0; i < 4 && *p; i++, p++) {
            char h = *p;
            v = v * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
          }
          ch = v < 128 ? (char)v : '?';
          break;
        }
        case '\0': return NULL;
        default: ch = e;
      }
    }
    if (out && n + 1 < size) out[n++] = ch;
  }
  if (*p != '"') return NULL;
  if (out && size) out[n] = '\0';
  return p + 1;
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
  return p;
}

/* Skips one value (string, number, literal, array or object). */
static const char *skip_value(const char *p) {
  p = skip_ws(p);
  if (*p == '"') return read_str(p, NULL, 0);
  if (*p == '[' || *p == '{') {
    int depth = 0;
    while (*p) {
      if (*p == '"') {
        p = read_str(p, NULL, 0);
        if (!p) return NULL;
        continue;
      }
      if (*p == '[' || *p == '{') depth++;
      if (*p == ']' || *p == '}') {
        depth--;
        if (depth == 0) return p + 1;
      }
      p++;
    }
    return NULL;
  }
  while (*p && *p != ',' && *p != '}' && *p != ']') p++;
  return p;
}

/* Finds the value of a top-level key; returns a pointer to it or NULL. */
static const char *find_key(const char *json, const char *key) {
  const char *p = skip_ws(json);
  if (*p != '{') return NULL;
  p++;
  char name[128];
  for (;;) {
    p = skip_ws(p);
    if (*p == '}' || !*p) return NULL;
    p = read_str(p, name, sizeof name);
    if (!p) return NULL;
    p = skip_ws(p);
    if (*p != ':') return NULL;
    p = skip_ws(p + 1);
    if (!strcmp(name, key)) return p;
    p = skip_value(p);
    if (!p) return NULL;
    p = skip_ws(p);
    if (*p == ',') p++;
  }
}

int json_get_str(const char *json, const char *key, char *out, size_t size) {
  const char *p = find_key(json, key);
  if (!p) return CS_ENOTFOUND;
  if (!strncmp(p, "null", 4)) return CS_ENOTFOUND;
  return read_str(p, out, size) ? CS_OK : CS_EFORMAT;
}

int json_get_num(const char *json, const char *key, double *out) {
  const char *p = find_key(json, key);
  if (!p) return CS_ENOTFOUND;
  if (!strncmp(p, "true", 4)) return (*out = 1, CS_OK);
  if (!strncmp(p, "false", 5)) return (*out = 0, CS_OK);
  if (!strncmp(p, "null", 4)) return CS_ENOTFOUND;
  char *end;
  *out = strtod(p, &end);
  return end == p ? CS_EFORMAT : CS_OK;
}

int json_get_long(const char *json, const char *key, long *out) {
  const char *p = find_key(json, key);
  if (!p) return CS_ENOTFOUND;
  if (!strncmp(p, "null", 4)) return CS_ENOTFOUND;
  char num[32];
  size_t n = strcspn(p, ",}] \t\r\n");
  if (n == 0 || n >= sizeof num) return CS_EFORMAT;
  memcpy(num, p, n);
  num[n] = '\0';
  return parse_long(num, out) ? CS_EFORMAT : CS_OK;
}

int json_get_str_array(const char *json, const char *key, void (*fn)(void *ctx, const char *v),
                       void *ctx) {
  const char *p = find_key(json, key);
  if (!p) return CS_ENOTFOUND;
  if (*p != '[') return CS_EFORMAT;
  p = skip_ws(p + 1);
  char buf[1024];
  while (*p && *p != ']') {
    p = read_str(p, buf, sizeof buf);
    if (!p) return CS_EFORMAT;
    fn(ctx, buf);
    p = skip_ws(p);
    if (*p == ',') p = skip_ws(p + 1);
  }
  return *p == ']' ? CS_OK : CS_EFORMAT;
}
