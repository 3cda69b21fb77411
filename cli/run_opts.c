/* run_opts.c: the option table of a training run and what it builds (see run_opts.h). */
#include "run_opts.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/spec.h"
#include "core/threads.h"
#include "core/utf8.h"

#define CONFIG_MAX_BYTES (1 << 20)

typedef enum { T_STR, T_DBL, T_LONG, T_PROBE } OptType;

typedef struct OptDef {
  const char *key;
  OptType type;
  size_t off;
  size_t size;   /* for strings */
  const char *help;
} OptDef;

#define S(f, h) {#f, T_STR, offsetof(RunOpts, f), sizeof(((RunOpts *)0)->f), h}
#define D(f, h) {#f, T_DBL, offsetof(RunOpts, f), 0, h}
#define L(f, h) {#f, T_LONG, offsetof(RunOpts, f), 0, h}

static const OptDef defs[] = {
    S(data, "SPEC   data: fashion-mnist:n=5000 | idx:IMG,LAB | csv:PATH,label=COL | synth:KIND,... | image:PNG"),
    S(model, "SPEC  model: mlp:784-200-200-10[,bias=init|zero|none]"),
    S(act, "A       hidden activation: tanh relu softplus gelu sine[:w0=30] hat sigmoid swish identity"),
    S(embed, "SPEC  input embedding: none | fourier:m=256,sigma=10[,learned=true] | basic | mscale:scales=1-2-4"),
    S(init, "SPEC   initialisation: torch | he | xavier | siren | ntk[:beta=0.1] | orthogonal [,bias=zero|none]"),
    S(loss, "L      loss: mse (½‖f−y‖², mean over examples) | ce"),
    S(opt, "O       optimizer: gd | sgd | momentum | nesterov | adam"),
    D(lr, "F        learning rate η"),
    D(momentum, "F  momentum β (momentum, nesterov)"),
    D(beta1, "F     Adam β1"),
    D(beta2, "F     Adam β2"),
    D(eps, "F       Adam ε"),
    D(weight_decay, "F  L2 weight decay (added to the gradient, as torch.optim)"),
    L(batch, "N     mini-batch size (0 or 'full': full batch)"),
    L(steps, "N     number of updates"),
    L(seed, "N      seed of data subsets, initialisation and shuffling"),
    L(eval_every, "N  test evaluation every N steps"),
    L(checkpoint_every, "N  store parameters every N steps (the final ones always; a diverged run's last finite ones)"),
    L(chunk, "N     rows per GEMM chunk in full-batch passes"),
    D(stop_acc, "F  stop when training accuracy reaches F (e.g. 0.99)"),
    D(diverge_factor, "F  divergence when loss > F·max(L0, 1)"),
    L(threads, "N   OpenMP and BLAS threads (0: all cores; at most 4 per core and 63)"),
    S(db, "FILE     SQLite database"),
    S(name, "NAME   run name"),
    S(study, "NAME  study label stored with the run"),
    S(group, "NAME  group label (runs compared side by side)"),
    {"probe", T_PROBE, 0, 0, "SPEC  repeatable: sharpness:every=K,k=2,samples=N,tol=T | precond-sharpness:... | gn-sharpness:..."},
};
#define NDEFS (sizeof defs / sizeof *defs)

void run_opts_default(RunOpts *o) {
  memset(o, 0, sizeof *o);
  strcpy(o->data, "fashion-mnist:n=5000");
  strcpy(o->model, "mlp:784-200-200-10");
  strcpy(o->act, "tanh");
  strcpy(o->embed, "none");
  strcpy(o->init, "torch");
  strcpy(o->loss, "mse");
  strcpy(o->opt, "gd");
  strcpy(o->db, "runs.db");
  strcpy(o->study, "train");
  o->lr = 0.01;
  o->momentum = 0.9;
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->steps = 1000;
  o->eval_every = 100;
  o->chunk = 5000;
  o->diverge_factor = 1e4;
}

static const OptDef *find_def(const char *key) {
  for (size_t i = 0; i < NDEFS; i++) {
    /* flags use dashes, keys underscores: accept both */
    const char *a = defs[i].key, *b = key;
    while (*a && *b && (*a == *b || (*a == '_' && *b == '-'))) a++, b++;
    if (!*a && !*b) return &defs[i];
  }
  return NULL;
}

/* Text goes into the database: it must be UTF-8 (see core/utf8.h). */
static int check_text(const char *key, const char *value, Err *err) {
  size_t bad = utf8_invalid_offset(value);
  if (bad == UTF8_VALID) return CS_OK;
  char shown[96];
  utf8_escape(value, shown, sizeof shown);
  return err_set(err, CS_EINVAL, "--%s '%s' is not valid UTF-8 (byte %zu)", key, shown, bad + 1);
}

int run_opts_set(RunOpts *o, const char *key, const char *value, Err *err) {
  const OptDef *d = find_def(key);
  if (!d) return err_set(err, CS_EINVAL, "unknown option '--%s' (see --help)", key);
  char *field = (char *)o + d->off;
  switch (d->type) {
    case T_STR:
      if (strlen(value) >= d->size)
        return err_set(err, CS_EINVAL, "--%s value is too long (%zu characters at most)", key,
                       d->size - 1);
      if (check_text(key, value, err)) return CS_EINVAL;
      strcpy(field, value);
      return CS_OK;
    case T_DBL: /* parse_double takes finite decimal numbers only; ranges: run_setup */
      if (parse_double(value, (double *)field))
        return err_set(err, CS_EINVAL, "--%s '%s' is not a finite decimal number", key, value);
      return CS_OK;
    case T_LONG:
      if (!strcmp(d->key, "batch") && !strcmp(value, "full")) {
        *(long *)field = 0;
        return CS_OK;
      }
      if (parse_long(value, (long *)field) || *(long *)field < 0)
        return err_set(err, CS_EINVAL, "--%s '%s' is not a non-negative integer", key, value);
      if (!strcmp(d->key, "threads")) return threads_check(*(long *)field, err);
      return CS_OK;
    case T_PROBE:
      if (o->nprobes >= RUN_MAX_PROBES)
        return err_set(err, CS_EINVAL, "more than %d --probe flags", RUN_MAX_PROBES);
      if (strlen(value) >= sizeof o->probe[0])
        return err_set(err, CS_EINVAL, "--probe value is too long");
      if (check_text(key, value, err)) return CS_EINVAL;
      strcpy(o->probe[o->nprobes++], value);
      return CS_OK;
  }
  return CS_EINVAL;
}

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

int run_opts_from_file(RunOpts *o, const char *path, Err *err) {
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
      else if ((rc = run_opts_set(o, key, val, err)))
        err_prefix(err, "%s:%d", path, lineno);
    }
    line = nl ? nl + 1 : NULL;
  }
  free(text);
  return rc;
}

int run_opts_parse(RunOpts *o, int argc, char **argv, int start, Err *err) {
  /* The config file first, so flags override it wherever they appear. */
  for (int i = start; i < argc; i++)
    if (!strcmp(argv[i], "--config")) {
      if (i + 1 >= argc) return err_set(err, CS_EINVAL, "--config needs a file");
      int rc = run_opts_from_file(o, argv[i + 1], err);
      if (rc) return rc;
    }
  for (int i = start; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--config")) {
      i++;
      continue;
    }
    if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      o->quiet = 1;
      continue;
    }
    if (a[0] != '-' || a[1] != '-')
      return err_set(err, CS_EINVAL, "unexpected argument '%s' (options start with --)", a);
    const char *key = a + 2, *val = NULL;
    char keybuf[64];
    const char *eq = strchr(key, '=');
    if (eq) {
      snprintf(keybuf, sizeof keybuf, "%.*s", (int)(eq - key), key);
      key = keybuf;
      val = eq + 1;
    } else {
      if (!find_def(key)) return err_set(err, CS_EINVAL, "unknown option '%s' (see --help)", a);
      if (i + 1 >= argc) return err_set(err, CS_EINVAL, "option '%s' needs a value", a);
      val = argv[++i];
    }
    int rc = run_opts_set(o, key, val, err);
    if (rc) return rc;
  }
  return CS_OK;
}

char *run_opts_to_json(const RunOpts *o) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "{");
  int first = 1;
  for (size_t i = 0; i < NDEFS; i++) {
    const OptDef *d = &defs[i];
    if (!strcmp(d->key, "db") || !strcmp(d->key, "threads")) continue;
    if (!first) sb_append(&b, ",");
    first = 0;
    sb_json_str(&b, d->key);
    sb_append(&b, ":");
    const char *field = (const char *)o + d->off;
    switch (d->type) {
      case T_STR: sb_json_str(&b, field); break;
      case T_DBL: sb_json_num(&b, *(const double *)field); break;
      case T_LONG: sb_printf(&b, "%ld", *(const long *)field); break;
      case T_PROBE:
        sb_append(&b, "[");
        for (int p = 0; p < o->nprobes; p++) {
          if (p) sb_append(&b, ",");
          sb_json_str(&b, o->probe[p]);
        }
        sb_append(&b, "]");
        break;
    }
  }
  sb_append(&b, "}");
  return sb_take(&b);
}

static void add_probe(void *ctx, const char *v) {
  RunOpts *o = ctx;
  if (o->nprobes < RUN_MAX_PROBES) snprintf(o->probe[o->nprobes++], sizeof o->probe[0], "%s", v);
}

int run_opts_from_json(RunOpts *o, const char *json, Err *err) {
  run_opts_default(o);
  for (size_t i = 0; i < NDEFS; i++) {
    const OptDef *d = &defs[i];
    char *field = (char *)o + d->off;
    int rc = CS_OK;
    switch (d->type) {
      case T_STR: rc = json_get_str(json, d->key, field, d->size); break;
      case T_DBL: rc = json_get_num(json, d->key, (double *)field); break;
      case T_LONG: rc = json_get_long(json, d->key, (long *)field); break;
      case T_PROBE:
        o->nprobes = 0;
        rc = json_get_str_array(json, d->key, add_probe, o);
        break;
    }
    if (rc == CS_EFORMAT)
      return err_set(err, CS_EFORMAT, "stored run config has a malformed '%s'", d->key);
  }
  return CS_OK;
}

void run_opts_help(FILE *f) {
  for (size_t i = 0; i < NDEFS; i++) {
    const char *h = defs[i].help;
    const char *sp = strchr(h, ' ');
    int meta = sp ? (int)(sp - h) : 0;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s %.*s", defs[i].key, meta, h);
    for (char *c = flag; *c; c++)
      if (*c == '_') *c = '-';
    while (sp && *sp == ' ') sp++;
    fprintf(f, "  %-28s %s\n", flag, sp ? sp : "");
  }
  fprintf(f, "  %-28s %s\n", "--config FILE", "read options from FILE ('key = value' lines)");
  fprintf(f, "  %-28s %s\n", "--quiet", "no progress line");
}

int run_setup(const RunOpts *o, RunSetup *s, Err *err) {
  memset(s, 0, sizeof *s);
  int rc;
  NetSpec spec;
  netspec_default(&spec);
  if ((rc = act_parse(o->act, &spec.act, err))) return err_prefix(err, "--act");
  if ((rc = netspec_parse_model(&spec, o->model, err))) return err_prefix(err, "--model");
  if ((rc = netspec_parse_embed(&spec, o->embed, err))) return err_prefix(err, "--embed");
  if ((rc = netspec_parse_init(&spec, o->init, err))) return err_prefix(err, "--init");
  if ((rc = loss_parse(o->loss, &s->loss, err))) return err_prefix(err, "--loss");
  if ((rc = optim_parse(o->opt, &s->opt_type, err))) return err_prefix(err, "--opt");
  /* The cheap checks before the data are read. */
  optconfig_default(&s->opt_cfg);
  s->opt_cfg.lr = o->lr;
  s->opt_cfg.momentum = o->momentum;
  s->opt_cfg.beta1 = o->beta1;
  s->opt_cfg.beta2 = o->beta2;
  s->opt_cfg.eps = o->eps;
  s->opt_cfg.weight_decay = o->weight_decay;
  if ((rc = optconfig_check(&s->opt_cfg, err))) return rc;
  trainconfig_default(&s->tcfg);
  s->tcfg.steps = o->steps;
  s->tcfg.batch = o->batch;
  s->tcfg.chunk = o->chunk;
  s->tcfg.eval_every = o->eval_every;
  s->tcfg.checkpoint_every = o->checkpoint_every;
  s->tcfg.stop_accuracy = o->stop_acc;
  s->tcfg.diverge_factor = o->diverge_factor;
  s->tcfg.seed = (uint64_t)o->seed;
  s->tcfg.loss = s->loss;
  if ((rc = trainconfig_check(&s->tcfg, err))) return rc;
  if ((rc = data_load_resolved(o->data, (uint64_t)o->seed, &s->train, &s->test,
                               &s->data_resolved, err))) {
    err->code = CS_EINVAL; /* unreadable data is bad input: exit 2, whatever the cause */
    return err_prefix(err, "--data");
  }
  if (strlen(s->data_resolved) >= sizeof o->data) {
    rc = err_set(err, CS_EINVAL, "--data '%s': the resolved spec is longer than %zu bytes",
                 o->data, sizeof o->data - 1);
    run_setup_free(s);
    return rc;
  }
  if (s->train->n == 0) {
    run_setup_free(s);
    return err_set(err, CS_EINVAL, "--data '%s' gave no training examples", o->data);
  }
  if ((size_t)spec.widths[0] != s->train->d || (size_t)spec.widths[spec.nwidths - 1] != s->train->k) {
    rc = err_set(err, CS_EINVAL,
                 "--model '%s' has input %ld and output %ld, but the data have %zu inputs and %zu "
                 "targets",
                 o->model, spec.widths[0], spec.widths[spec.nwidths - 1], s->train->d,
                 s->train->k);
    run_setup_free(s);
    return rc;
  }
  if (s->loss == LOSS_CE && !s->train->labels) {
    run_setup_free(s);
    return err_set(err, CS_EINVAL, "--loss ce needs class labels; --data '%s' is a regression task",
                   o->data);
  }
  Rng rng;
  rng_seed_stream(&rng, (uint64_t)o->seed, 0x1417ULL);
  if ((rc = net_init(&s->net, &spec, &rng, err))) {
    run_setup_free(s);
    return err_prefix(err, "--model");
  }
  s->theta = malloc(s->net.n_params * sizeof *s->theta);
  s->opt = optim_alloc(s->opt_type, &s->opt_cfg, s->net.n_params);
  if (!s->theta || !s->opt) {
    run_setup_free(s);
    return err_set(err, CS_ENOMEM, "out of memory for %zu parameters", s->net.n_params);
  }
  net_init_params(&s->net, s->theta, &rng);
  return CS_OK;
}

void run_setup_free(RunSetup *s) {
  if (!s) return;
  net_deinit(&s->net);
  free(s->theta);
  dataset_free(s->train);
  dataset_free(s->test);
  free(s->data_resolved);
  optim_free(s->opt);
  memset(s, 0, sizeof *s);
}
