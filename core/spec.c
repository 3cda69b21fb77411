/* spec.c: `kind:key=value,...` parsing with strict numbers (see spec.h). */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A decimal number and nothing else: [+-] (digits [. digits] | . digits) [(e|E) [+-] digits].
 * strtod alone also takes hex ("0x10" is 16, "0x1p3" is 8), inf, nan and leading white
 * space; none of those is a number a user means in a flag, a spec or a CSV cell. */
static int is_decimal(const char *s) {
  int digits = 0;
  if (*s == '+' || *s == '-') s++;
  for (; isdigit((unsigned char)*s); s++) digits++;
  if (*s == '.')
    for (s++; isdigit((unsigned char)*s); s++) digits++;
  if (!digits) return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return 0;
    while (isdigit((unsigned char)*s)) s++;
  }
  return *s == '\0';
}

int parse_double(const char *text, double *out) {
  if (!text || !is_decimal(text)) return CS_EINVAL;
  errno = 0;
  double v = strtod(text, NULL);
  if (errno == ERANGE || !isfinite(v)) return CS_EINVAL; /* beyond a double, or denormal */
  *out = v;
  return CS_OK;
}

int parse_long(const char *text, long *out) {
  if (!text || !is_decimal(text)) return CS_EINVAL;
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (*end || errno == ERANGE) {
    /* Accept integral floats like 1e4 for counts. */
    double d;
    if (parse_double(text, &d) == CS_OK && d == floor(d) && fabs(d) < 9e15) {
      *out = (long)d;
      return CS_OK;
    }
    return CS_EINVAL;
  }
  *out = v;
  return CS_OK;
}

void spec_free(Spec *s) {
  if (!s) return;
  free(s->text);
  free(s->kind);
  for (int i = 0; i < s->npos; i++) free(s->pos[i]);
  for (int i = 0; i < s->nkv; i++) {
    free(s->key[i]);
    free(s->val[i]);
  }
  memset(s, 0, sizeof *s);
}

static char *dup_range(const char *a, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, a, n);
  p[n] = '\0';
  return p;
}

int spec_parse(Spec *s, const char *text, Err *err) {
  memset(s, 0, sizeof *s);
  if (!text || !*text) return err_set(err, CS_EINVAL, "empty spec");
  s->text = strdup(text);
  const char *colon = strchr(text, ':');
  size_t klen = colon ? (size_t)(colon - text) : strlen(text);
  if (klen == 0) {
    err_set(err, CS_EINVAL, "spec '%s' has no kind before ':'", text);
    spec_free(s);
    return CS_EINVAL;
  }
  s->kind = dup_range(text, klen);
  if (!colon) return CS_OK;
  const char *p = colon + 1;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == 0) {
      err_set(err, CS_EINVAL, "spec '%s' has an empty item", text);
      spec_free(s);
      return CS_EINVAL;
    }
    if (s->npos + s->nkv >= SPEC_MAX_ITEMS) {
      err_set(err, CS_EINVAL, "spec '%s' has too many items", text);
      spec_free(s);
      return CS_EINVAL;
    }
    const char *eq = memchr(p, '=', len);
    if (eq) {
      size_t kl = (size_t)(eq - p);
      if (kl == 0) {
        err_set(err, CS_EINVAL, "spec '%s': item '%.*s' has no key", text, (int)len, p);
        spec_free(s);
        return CS_EINVAL;
      }
      char *key = dup_range(p, kl);
      /* keys are snake_case, as the options' names: update-tol is update_tol */
      for (char *c = key; c && *c; c++)
        if (*c == '-') *c = '_';
      for (int i = 0; i < s->nkv && key; i++)
        if (!strcmp(s->key[i], key)) {
          err_set(err, CS_EINVAL, "spec '%s': key '%s' given twice", text, key);
          free(key);
          spec_free(s);
          return CS_EINVAL;
        }
      s->key[s->nkv] = key;
      s->val[s->nkv] = dup_range(eq + 1, len - kl - 1);
      s->nkv++;
    } else {
      if (s->nkv > 0) {
        err_set(err, CS_EINVAL, "spec '%s': positional value '%.*s' after key=value items", text,
                (int)len, p);
        spec_free(s);
        return CS_EINVAL;
      }
      s->pos[s->npos++] = dup_range(p, len);
    }
    p += len;
    if (*p == ',') p++;
  }
  return CS_OK;
}

static int find_key(Spec *s, const char *key) {
  for (int i = 0; i < s->nkv; i++)
    if (!strcmp(s->key[i], key)) {
      s->used[i] = 1;
      return i;
    }
  return -1;
}

int spec_has(const Spec *s, const char *key) {
  for (int i = 0; i < s->nkv; i++)
    if (!strcmp(s->key[i], key)) return 1;
  return 0;
}

int spec_get_str(Spec *s, const char *key, const char **out) {
  int i = find_key(s, key);
  if (i >= 0) *out = s->val[i];
  return CS_OK;
}

int spec_get_int(Spec *s, const char *key, long *out, Err *err) {
  int i = find_key(s, key);
  if (i < 0) return CS_OK;
  if (parse_long(s->val[i], out))
    return err_set(err, CS_EINVAL, "spec '%s': %s=%s is not an integer", s->text, key, s->val[i]);
  return CS_OK;
}

int spec_get_double(Spec *s, const char *key, double *out, Err *err) {
  int i = find_key(s, key);
  if (i < 0) return CS_OK;
  if (parse_double(s->val[i], out))
    return err_set(err, CS_EINVAL, "spec '%s': %s=%s is not a number", s->text, key, s->val[i]);
  return CS_OK;
}

int spec_get_bool(Spec *s, const char *key, int *out, Err *err) {
  int i = find_key(s, key);
  if (i < 0) return CS_OK;
  const char *v = s->val[i];
  if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
    *out = 1;
  else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
    *out = 0;
  else
    return err_set(err, CS_EINVAL, "spec '%s': %s=%s is not a boolean (true/false)", s->text, key,
                   v);
  return CS_OK;
}

/* Splits a '-'-joined list and parses each item with parse(item, out + i). An empty
 * item (a leading, trailing or doubled '-') is an error, not skipped: "5--2" is not
 * "5-2", and "-0.1" is not "0.1". */
static int parse_list(const char *text, void *out, size_t item_size, int max, int *n,
                      int (*parse)(const char *, void *), const char *what, Err *err) {
  *n = 0;
  if (!text || !*text) return err_set(err, CS_EINVAL, "empty list");
  char buf[512];
  if (strlen(text) >= sizeof buf) return err_set(err, CS_EINVAL, "list '%.40s...' too long", text);
  strcpy(buf, text);
  for (char *tok = buf;;) {
    char *dash = strchr(tok, '-');
    if (dash) *dash = '\0';
    if (!*tok)
      return err_set(err, CS_EINVAL,
                     "list '%s' has an empty item (items are joined by single '-'; a list "
                     "cannot hold negative numbers)",
                     text);
    if (*n >= max) return err_set(err, CS_EINVAL, "list '%s' has more than %d items", text, max);
    if (parse(tok, (char *)out + (size_t)*n * item_size))
      return err_set(err, CS_EINVAL, "list '%s': '%s' is not %s", text, tok, what);
    (*n)++;
    if (!dash) break;
    tok = dash + 1;
  }
  return CS_OK;
}

static int parse_long_item(const char *t, void *out) { return parse_long(t, out); }
static int parse_double_item(const char *t, void *out) { return parse_double(t, out); }

int spec_parse_int_list(const char *text, long *out, int max, int *n, Err *err) {
  return parse_list(text, out, sizeof *out, max, n, parse_long_item, "an integer", err);
}

/* '-' separates items, so numbers in a list are written without exponents (0.001). */
int spec_parse_double_list(const char *text, double *out, int max, int *n, Err *err) {
  return parse_list(text, out, sizeof *out, max, n, parse_double_item, "a number", err);
}

int spec_check_unused(const Spec *s, int npos_allowed, Err *err) {
  if (s->npos > npos_allowed)
    return err_set(err, CS_EINVAL, "spec '%s': unexpected value '%s'", s->text,
                   s->pos[npos_allowed]);
  for (int i = 0; i < s->nkv; i++)
    if (!s->used[i])
      return err_set(err, CS_EINVAL, "spec '%s': unknown key '%s' for '%s'", s->text, s->key[i],
                     s->kind);
  return CS_OK;
}

int range_check(const char *key, double v, double lo, double hi, int open, Err *err) {
  int lo_open = open & RANGE_LO_OPEN, hi_open = open & RANGE_HI_OPEN;
  if (isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi)) return CS_OK;
  if (isinf(hi))
    return err_set(err, CS_EINVAL, "%s %g: must be a finite number %s %g", key, v,
                   lo_open ? ">" : ">=", lo);
  return err_set(err, CS_EINVAL, "%s %g: must be in %c%g, %g%c", key, v, lo_open ? '(' : '[', lo,
                 hi, hi_open ? ')' : ']');
}
