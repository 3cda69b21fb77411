/* opts.c: the option tables' parser, config-file reader and --help (see opts.h). */
#include "opts.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/precision.h"
#include "core/spec.h"
#include "core/threads.h"
#include "core/utf8.h"

#define CONFIG_MAX_BYTES (1 << 20)

/* Names compare with '-' and '_' the same; a name ends at '\0' (or at len chars). */
static int name_eq(const char *a, const char *b, size_t blen) {
  size_t i = 0;
  for (; a[i] && i < blen; i++) {
    char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
    if (x != y) return 0;
  }
  return !a[i] && i == blen;
}

/* Whether the space-separated list has name (of length len). */
static int alias_has(const char *list, const char *name, size_t len) {
  while (list && *list) {
    size_t n = strcspn(list, " ");
    char one[64];
    if (n < sizeof one) {
      memcpy(one, list, n);
      one[n] = '\0';
      if (name_eq(one, name, len)) return 1;
    }
    list += n;
    while (*list == ' ') list++;
  }
  return 0;
}

static const CliOpt *find_len(const CliOpt *opts, const char *name, size_t len) {
  for (const CliOpt *o = opts; o->name; o++)
    if (name_eq(o->name, name, len) || alias_has(o->alias, name, len)) return o;
  return NULL;
}

const CliOpt *opts_find(const CliOpt *opts, const char *name) {
  return find_len(opts, name, strlen(name));
}

/* The table and line that have name, or NULL. */
static const CliOpt *lookup(const OptTable *t, int nt, const char *name, size_t len, int *which) {
  for (int i = 0; i < nt; i++) {
    const CliOpt *o = find_len(t[i].opts, name, len);
    if (o) {
      *which = i;
      return o;
    }
  }
  return NULL;
}

int opts_seen(const OptTable *t, const char *name) {
  const CliOpt *o = opts_find(t->opts, name);
  return o && t->seen && t->seen[o - t->opts];
}

void opts_flag_name(const CliOpt *o, char *out, size_t n) {
  snprintf(out, n, "--%s", o->name);
  for (char *c = out; *c; c++)
    if (*c == '_') *c = '-';
}

/* Text goes into the database: it must be UTF-8 (see core/utf8.h). */
static int check_text(const char *flag, const char *value, Err *err) {
  size_t bad = utf8_invalid_offset(value);
  if (bad == UTF8_VALID) return CS_OK;
  char shown[96];
  utf8_escape(value, shown, sizeof shown);
  return err_set(err, CS_EINVAL, "%s '%s' is not valid UTF-8 (byte %zu)", flag, shown, bad + 1);
}

static int parse_flag_value(const char *v, int *out) {
  static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (!strcmp(v, yes[i])) return *out = 1, CS_OK;
    if (!strcmp(v, no[i])) return *out = 0, CS_OK;
  }
  return CS_EINVAL;
}

/* Sets line o of the table t from value. */
static int set_one(const OptTable *t, const CliOpt *o, const char *value, Err *err) {
  char flag[80];
  opts_flag_name(o, flag, sizeof flag);
  char *field = (char *)t->base + o->off;
  if (o->parse && o->kind != OPT_FN) return o->parse(t->base, o, value, err); /* own checks */
  switch (o->kind) {
    case OPT_STR:
      if (strlen(value) >= o->size)
        return err_set(err, CS_EINVAL, "%s value is too long (%zu characters at most)", flag,
                       o->size - 1);
      if (check_text(flag, value, err)) return CS_EINVAL;
      memcpy(field, value, strlen(value) + 1);
      return CS_OK;
    case OPT_DBL:
    case OPT_POS: /* parse_double takes finite decimal numbers only */
      if (parse_double(value, (double *)field))
        return err_set(err, CS_EINVAL, "%s '%s' is not a finite decimal number", flag, value);
      if (o->kind == OPT_POS && !(*(double *)field > 0))
        return err_set(err, CS_EINVAL, "%s '%s' is not a positive number", flag, value);
      return CS_OK;
    case OPT_LONG:
      if (parse_long(value, (long *)field) || *(long *)field < 0)
        return err_set(err, CS_EINVAL, "%s '%s' is not a non-negative integer", flag, value);
      return CS_OK;
    case OPT_FLAG:
      if (parse_flag_value(value, (int *)field))
        return err_set(err, CS_EINVAL, "%s '%s': a flag takes true or false", flag, value);
      return CS_OK;
    case OPT_FN:
      if (check_text(flag, value, err)) return CS_EINVAL;
      return o->parse(t->base, o, value, err);
    case OPT_REFUSE: return err_set(err, CS_EINVAL, "%s %s", flag, o->help);
  }
  return CS_EINVAL;
}

static int set_by_name(const OptTable *t, int nt, const char *name, size_t len,
                       const char *value, Err *err) {
  int w = 0;
  const CliOpt *o = lookup(t, nt, name, len, &w);
  if (!o) return err_set(err, CS_EINVAL, "unknown option '--%.*s' (see --help)", (int)len, name);
  if (t[w].seen) t[w].seen[o - t[w].opts] = 1;
  return set_one(&t[w], o, value, err);
}

int opts_set(const OptTable *t, int nt, const char *name, const char *value, Err *err) {
  return set_by_name(t, nt, name, strlen(name), value, err);
}

/* ---- shared option kinds ----------------------------------------------------------- */

static long *long_field(void *base, const CliOpt *opt) { return (long *)((char *)base + opt->off); }

int opts_parse_threads(void *base, const CliOpt *opt, const char *value, Err *err) {
  long *t = long_field(base, opt);
  if (parse_long(value, t) || *t < 0)
    return err_set(err, CS_EINVAL, "--threads '%s' is not a non-negative integer", value);
  return threads_check(*t, err);
}

int opts_parse_precision(void *base, const CliOpt *opt, const char *value, Err *err) {
  return precision_parse(value, (Precision *)((char *)base + opt->off), err);
}

void opts_show_precision(const void *base, const CliOpt *opt, char *out, size_t n) {
  snprintf(out, n, "%s", precision_name(*(const Precision *)((const char *)base + opt->off)));
}

int opts_parse_step(void *base, const CliOpt *opt, const char *value, Err *err) {
  long *s = long_field(base, opt);
  if (!strcmp(value, "last")) return *s = -1, CS_OK;
  if (parse_long(value, s) || *s < 0)
    return err_set(err, CS_EINVAL, "--%s '%s' is not a step (a non-negative integer or 'last')",
                   opt->name, value);
  return CS_OK;
}

void opts_show_step(const void *base, const CliOpt *opt, char *out, size_t n) {
  long s = *(const long *)((const char *)base + opt->off);
  if (s < 0) snprintf(out, n, "last");
  else snprintf(out, n, "%ld", s);
}

int opts_parse_chunk(void *base, const CliOpt *opt, const char *value, Err *err) {
  long *c = long_field(base, opt);
  if (!strcmp(value, "auto")) return *c = -1, CS_OK;
  if (parse_long(value, c) || *c < 0)
    return err_set(err, CS_EINVAL, "--chunk '%s' is not a non-negative integer or 'auto'", value);
  return CS_OK;
}

void opts_show_chunk(const void *base, const CliOpt *opt, char *out, size_t n) {
  long c = *(const long *)((const char *)base + opt->off);
  if (c < 0) snprintf(out, n, "auto");
  else snprintf(out, n, "%ld", c);
}

int opts_parse_id(void *base, const CliOpt *opt, const char *value, Err *err) {
  long *id = long_field(base, opt);
  if (parse_long(value, id) || *id < 0)
    return err_set(err, CS_EINVAL, "--%s '%s' is not a valid id", opt->name, value);
  return CS_OK;
}

void opts_show_id(const void *base, const CliOpt *opt, char *out, size_t n) {
  long id = *(const long *)((const char *)base + opt->off);
  if (id < 0) out[0] = '\0';
  else snprintf(out, n, "%ld", id);
}

int opts_parse_preset(void *base, const CliOpt *opt, const char *value, Err *err) {
  if (strcmp(value, "ci") && strcmp(value, "default"))
    return err_set(err, CS_EINVAL, "--%s '%s' (use default or ci)", opt->name, value);
  *(int *)((char *)base + opt->off) = !strcmp(value, "ci");
  return CS_OK;
}

void opts_show_preset(const void *base, const CliOpt *opt, char *out, size_t n) {
  snprintf(out, n, "%s", *(const int *)((const char *)base + opt->off) ? "ci" : "default");
}

/* ---- config files ------------------------------------------------------------------- */

/* Reads a whole config file into *text (malloc'd, NUL-terminated): a regular file
 * (a directory reads as empty and /dev/zero never ends; O_NONBLOCK keeps a FIFO from
 * blocking the open itself) of at most CONFIG_MAX_BYTES, with no NUL byte. */
static int config_read(const char *path, char **text, Err *err) {
  *text = NULL;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return err_set(err, CS_EINVAL, "cannot open config file '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return err_set(err, CS_EINVAL, "config file '%s' is not a regular file", path);
  }
  char *buf = sb.st_size <= CONFIG_MAX_BYTES ? malloc((size_t)CONFIG_MAX_BYTES + 2) : NULL;
  size_t n = 0;
  ssize_t got = 0;
  while (buf && n <= CONFIG_MAX_BYTES &&
         (got = read(fd, buf + n, (size_t)CONFIG_MAX_BYTES + 1 - n)) > 0)
    n += (size_t)got;
  close(fd);
  if (sb.st_size > CONFIG_MAX_BYTES || n > CONFIG_MAX_BYTES) {
    free(buf);
    return err_set(err, CS_EINVAL, "config file '%s' is larger than %d KiB", path,
                   CONFIG_MAX_BYTES >> 10);
  }
  if (!buf) return err_set(err, CS_ENOMEM, "out of memory reading '%s'", path);
  if (got < 0) {
    free(buf);
    return err_set(err, CS_EINVAL, "cannot read config file '%s': %s", path, strerror(errno));
  }
  const char *nul = memchr(buf, '\0', n);
  if (nul) {
    int line = 1;
    for (const char *c = buf; c < nul; c++) line += *c == '\n';
    free(buf);
    return err_set(err, CS_EINVAL, "%s:%d: NUL byte (not a text file)", path, line);
  }
  buf[n] = '\0';
  *text = buf;
  return CS_OK;
}

/* Cuts a comment off line: '#' starts one at the start of the line or after a space
 * or tab, outside double quotes; "a#b" keeps its '#'. */
static void config_cut_comment(char *line) {
  int quoted = 0;
  for (char *c = line; *c; c++) {
    if (*c == '"') quoted = !quoted;
    if (*c == '#' && !quoted && (c == line || *(c - 1) == ' ' || *(c - 1) == '\t')) {
      *c = '\0';
      return;
    }
  }
}

/* Splits one line (comment already cut, white space trimmed, not empty) into key and
 * value: "key = value", "key: value", "key value" or "--key value". A value in double
 * quotes is taken as it is between them ('#' and spaces kept). NULL, or what is wrong. */
static const char *config_split(char *p, char **key, char **val) {
  if (p[0] == '-' && p[1] == '-') p += 2;
  char *sep = p + strcspn(p, " \t=:");
  if (!*sep) return "has no value (write 'key = value')";
  *sep++ = '\0';
  while (*sep == ' ' || *sep == '\t' || *sep == '=' || *sep == ':') sep++;
  *key = p;
  *val = sep;
  if (*sep == '"') {
    size_t len = strlen(sep);
    if (len < 2 || sep[len - 1] != '"') return "has an unterminated quote";
    sep[len - 1] = '\0';
    *val = sep + 1;
  } else if (!*sep) {
    return "has no value (write 'key = value')";
  }
  return NULL;
}

int opts_from_file(const OptTable *t, int nt, const char *path, Err *err) {
  char *text = NULL;
  int rc = config_read(path, &text, err);
  if (rc) return rc;
  char *line = text;
  for (int lineno = 1; line && !rc; lineno++) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    config_cut_comment(line);
    char *p = line, *key = NULL, *val = NULL;
    while (isspace((unsigned char)*p)) p++;
    size_t len = strlen(p);
    while (len && isspace((unsigned char)p[len - 1])) p[--len] = '\0';
    if (*p) {
      char shown[48];
      snprintf(shown, sizeof shown, "%s", p); /* before config_split cuts it */
      const char *why = config_split(p, &key, &val);
      if (why)
        rc = err_set(err, CS_EINVAL, "%s:%d: '%s%s' %s", path, lineno, shown,
                     strlen(p) >= sizeof shown - 1 ? "..." : "", why);
      else if (!strcmp(key, "config"))
        rc = err_set(err, CS_EINVAL, "%s:%d: a config file cannot include another", path, lineno);
      else if ((rc = opts_set(t, nt, key, val, err)))
        err_prefix(err, "%s:%d", path, lineno);
    }
    line = nl ? nl + 1 : NULL;
  }
  free(text);
  return rc;
}

/* ---- the command line --------------------------------------------------------------- */

/* "--config FILE" or "--config=FILE" at argv[*i]: its file (NULL: none given), *i moved
 * past it; 0 when argv[*i] is not --config. */
static int is_config(int argc, char **argv, int *i, const char **file) {
  const char *a = argv[*i];
  if (!strncmp(a, "--config=", 9)) return *file = a + 9, 1;
  if (strcmp(a, "--config")) return 0;
  *file = *i + 1 < argc ? argv[++*i] : NULL;
  return 1;
}

int opts_parse(const OptTable *t, int nt, int argc, char **argv, int start, char **pos,
               int *npos, Err *err) {
  if (npos) *npos = 0;
  for (int i = 0; i < nt; i++) { /* a table longer than a seen array is a programmer's error */
    size_t n = 0;
    while (t[i].opts[n].name) n++;
    assert(n < OPTS_MAX_LINES);
  }
  /* The config files first, so flags override them wherever they appear. */
  for (int i = start; i < argc && strcmp(argv[i], "--"); i++) {
    const char *file;
    if (!is_config(argc, argv, &i, &file)) continue;
    if (!file) return err_set(err, CS_EINVAL, "--config needs a file");
    int rc = opts_from_file(t, nt, file, err);
    if (rc) return rc;
  }
  int only_pos = 0;
  for (int i = start; i < argc; i++) {
    const char *a = argv[i], *file;
    int w = 0, rc;
    if (!only_pos && !strcmp(a, "--")) {
      only_pos = 1;
      continue;
    }
    if (!only_pos && is_config(argc, argv, &i, &file)) continue;
    if (!only_pos && (!strcmp(a, "--help") || !strcmp(a, "-h"))) continue; /* cli_is_help's */
    int is_long = !only_pos && a[0] == '-' && a[1] == '-' && a[2];
    /* a short flag: one letter after one dash ("-5" and "-0.1" are values) */
    int is_short = !only_pos && a[0] == '-' && isalpha((unsigned char)a[1]) && !a[2];
    if (!is_long && !is_short) {
      if (!pos) return err_set(err, CS_EINVAL, "unexpected argument '%s' (options start with --)", a);
      pos[(*npos)++] = argv[i];
      continue;
    }
    const char *name = a + (is_long ? 2 : 1), *eq = is_long ? strchr(name, '=') : NULL;
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const CliOpt *o = lookup(t, nt, name, len, &w);
    int negated = 0; /* --no-FLAG turns a flag off */
    if (!o && is_long && !eq && len > 3 && !strncmp(name, "no-", 3)) {
      o = lookup(t, nt, name + 3, len - 3, &w);
      if (o && o->kind != OPT_FLAG) o = NULL;
      negated = 1;
    }
    if (!o) return err_set(err, CS_EINVAL, "unknown option '%.*s' (see --help)",
                           (int)(len + (size_t)(name - a)), a);
    if (t[w].seen) t[w].seen[o - t[w].opts] = 1;
    if (o->kind == OPT_FLAG && !eq) {
      *(int *)((char *)t[w].base + o->off) = !negated;
      continue;
    }
    const char *val = eq ? eq + 1 : NULL;
    if (!val) {
      if (o->kind == OPT_REFUSE) return set_one(&t[w], o, "", err);
      if (i + 1 >= argc) return err_set(err, CS_EINVAL, "option '%s' needs a value", a);
      val = argv[++i];
    }
    if ((rc = set_one(&t[w], o, val, err))) return rc;
  }
  return CS_OK;
}

/* ---- --help ------------------------------------------------------------------------- */

static void show_default(const OptTable *t, const CliOpt *o, char *out, size_t n) {
  const char *field = (const char *)t->base + o->off;
  out[0] = '\0';
  switch (o->kind) {
    case OPT_STR: snprintf(out, n, "%s", field); break;
    case OPT_DBL:
    case OPT_POS: snprintf(out, n, "%g", *(const double *)field); break;
    case OPT_LONG:
      if (o->show) o->show(t->base, o, out, n);
      else snprintf(out, n, "%ld", *(const long *)field);
      break;
    case OPT_FN:
      if (o->show) o->show(t->base, o, out, n);
      break;
    case OPT_FLAG:
      if (*(const int *)field) snprintf(out, n, "on");
      break;
    case OPT_REFUSE: break;
  }
}

#define HELP_LEFT 28  /* the column the help text starts at */
#define HELP_WIDTH 96 /* and the one it wraps before */

/* Prints text from column *col on, wrapping at spaces (whole: never) before HELP_WIDTH
 * onto lines indented to HELP_LEFT. */
static void help_wrap(FILE *f, const char *text, int whole, int *col) {
  while (*text) {
    while (*text == ' ') text++;
    int len = whole ? (int)strlen(text) : (int)strcspn(text, " "), w = 0;
    for (int k = 0; k < len; k++) w += ((unsigned char)text[k] & 0xC0) != 0x80;
    if (*col > HELP_LEFT && *col + 1 + w > HELP_WIDTH) {
      fprintf(f, "\n%*s", HELP_LEFT, "");
      *col = HELP_LEFT;
    } else if (*col > HELP_LEFT) {
      fputc(' ', f);
      (*col)++;
    }
    fprintf(f, "%.*s", len, text);
    *col += w;
    text += len;
  }
}

static void help_line(FILE *f, const char *flag, const char *meta, const char *help,
                      const char *def, const char *alias) {
  char left[96], more[256];
  snprintf(left, sizeof left, "%s%s%s", flag, meta ? " " : "", meta ? meta : "");
  int col = fprintf(f, "  %-*s", HELP_LEFT - 3, left);
  if (col >= HELP_LEFT) {
    fprintf(f, "\n%*s", HELP_LEFT, "");
  } else {
    fputc(' ', f);
  }
  col = HELP_LEFT;
  help_wrap(f, help, 0, &col);
  if (def && def[0]) {
    snprintf(more, sizeof more, "(default %s)", def);
    help_wrap(f, more, 1, &col);
  }
  int len = 0;
  more[0] = '\0';
  for (const char *a = alias; a && *a;) { /* old spellings, still accepted */
    size_t n = strcspn(a, " ");
    len += snprintf(more + len, sizeof more - (size_t)len, "%s%s%.*s", a == alias ? "[also " : ", ",
                    n == 1 ? "-" : "--", (int)n, a);
    a += n;
    while (*a == ' ') a++;
    if (!*a) snprintf(more + len, sizeof more - (size_t)len, "]");
  }
  if (more[0]) help_wrap(f, more, 1, &col);
  fputc('\n', f);
}

void opts_help_print(FILE *f, const OptTable *t, int nt) {
  for (int i = 0; i < nt; i++) {
    if (t[i].title) fprintf(f, "%s%s:\n", i ? "\n" : "", t[i].title);
    for (const CliOpt *o = t[i].opts; o->name; o++) {
      int w;
      if (o->kind == OPT_REFUSE) continue;
      /* shadowed by an earlier table: that line is the one that applies */
      if (lookup(t, i, o->name, strlen(o->name), &w)) continue;
      char flag[80], def[160];
      opts_flag_name(o, flag, sizeof flag);
      show_default(&t[i], o, def, sizeof def);
      help_line(f, flag, o->kind == OPT_FLAG ? NULL : o->meta, o->help, def, o->alias);
    }
  }
  fputc('\n', f);
  help_line(f, "--config", "FILE", "read options from FILE ('key = value' lines, docs/INPUTS.md)",
            NULL, NULL);
  help_line(f, "--help", NULL, "this text", NULL, "h");
}
