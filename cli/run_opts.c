/* run_opts.c: the option table of a training run and what it builds (see run_opts.h). */
#include "run_opts.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/spec.h"
#include "core/threads.h"
#include "studies/spectral/spectral.h"

static int parse_batch(void *base, const CliOpt *opt, const char *value, Err *err) {
  long *b = &((RunOpts *)base)->batch;
  (void)opt;
  if (!strcmp(value, "full")) return *b = 0, CS_OK;
  if (parse_long(value, b) || *b < 0)
    return err_set(err, CS_EINVAL, "--batch '%s' is not a non-negative integer or 'full'", value);
  return CS_OK;
}

/* --probe is repeatable: each one adds a probe. */
static int parse_probe(void *base, const CliOpt *opt, const char *value, Err *err) {
  RunOpts *o = base;
  (void)opt;
  if (o->nprobes >= RUN_MAX_PROBES)
    return err_set(err, CS_EINVAL, "more than %d --probe flags", RUN_MAX_PROBES);
  if (strlen(value) >= sizeof o->probe[0]) return err_set(err, CS_EINVAL, "--probe value is too long");
  strcpy(o->probe[o->nprobes++], value);
  return CS_OK;
}

static void show_probes(const void *base, const CliOpt *opt, char *out, size_t n) {
  const RunOpts *o = base;
  (void)opt;
  out[0] = '\0';
  for (int i = 0, len = 0; i < o->nprobes && (size_t)len < n; i++)
    len += snprintf(out + len, n - (size_t)len, "%s%s", i ? " " : "", o->probe[i]);
}

/* --precision: checked when given, kept as its text (stored in the run's config). */
static int parse_precision_text(void *base, const CliOpt *opt, const char *value, Err *err) {
  Precision p;
  if (precision_parse(value, &p, err)) return CS_EINVAL;
  snprintf((char *)base + opt->off, opt->size, "%s", precision_name(p));
  return CS_OK;
}

#define R_STR(f, m, h) OPT_STR(RunOpts, f, m, h, NULL)
#define R_DBL(f, m, h) OPT_DBL(RunOpts, f, m, h, NULL)
#define R_LONG(f, m, h) OPT_LONG(RunOpts, f, m, h, NULL)

const CliOpt run_opts_table[] = {
    R_STR(data, "SPEC", "data: fashion-mnist:n=5000 | idx:IMG,LAB | csv:PATH,label=COL | synth:KIND,... | image:PNG"),
    R_STR(model, "SPEC", "model: mlp:784-200-200-10[,bias=init|zero|none]"),
    R_STR(act, "A", "hidden activation: tanh relu softplus gelu sine[:w0=30] hat sigmoid swish identity"),
    R_STR(embed, "SPEC", "input embedding: none | fourier:m=256,sigma=10[,learned=true] | basic | mscale:scales=1-2-4"),
    R_STR(init, "SPEC", "initialisation: torch | he | xavier | siren | ntk[:beta=0.1] | orthogonal [,bias=zero|none]"),
    R_STR(loss, "L", "loss: mse (½‖f−y‖², mean over examples) | ce | sobolev:s=S (grid data)"),
    R_STR(opt, "O", "optimizer: gd | sgd | momentum | nesterov | adam"),
    R_DBL(lr, "F", "learning rate η"),
    R_DBL(momentum, "F", "momentum β (momentum, nesterov)"),
    R_DBL(beta1, "F", "Adam β1"),
    R_DBL(beta2, "F", "Adam β2"),
    R_DBL(eps, "F", "Adam ε"),
    R_DBL(weight_decay, "F", "L2 weight decay (added to the gradient, as torch.optim)"),
    {"batch", OPT_LONG, offsetof(RunOpts, batch), 0, "N", "mini-batch size (0 or 'full': full batch)",
     NULL, parse_batch, NULL},
    R_LONG(steps, "N", "number of updates"),
    R_LONG(seed, "N", "seed of data subsets, initialisation and shuffling"),
    R_LONG(eval_every, "N", "test evaluation every N steps"),
    R_LONG(checkpoint_every, "N", "store parameters every N steps (the final ones always; a diverged run's last finite ones)"),
    OPT_CHUNK(RunOpts, chunk, "rows per GEMM chunk in full-batch passes (0: no limit; auto: from "
              "the BLAS kernel and the caches, core/layout.h)"),
    R_DBL(stop_acc, "F", "stop when training accuracy reaches F (e.g. 0.99)"),
    R_DBL(diverge_factor, "F", "divergence when loss > F·max(L0, 1)"),
    OPT_THREADS(RunOpts, threads),
    R_STR(db, "FILE", "SQLite database"),
    R_STR(name, "NAME", "run name"),
    R_STR(study, "NAME", "study label stored with the run"),
    R_STR(group, "NAME", "group label (runs compared side by side)"),
    R_STR(lr_schedule, "SPEC", "lanczos:every=K,batch=B,iters=20,rule=polyak|granziol|polyak-safe,floor=1e-3 (--opt momentum; docs/BATCH.md)"),
    {"precision", OPT_STR, offsetof(RunOpts, precision), sizeof(((RunOpts *)0)->precision), "P",
     "arithmetic of the passes (training steps and probes): f64, or mixed (float32 forward, "
     "backward and R-passes, float64 everything else; f32 is the same engine; "
     "docs/PERFORMANCE.md)", NULL,
     parse_precision_text, NULL},
    OPT_FN(RunOpts, probe, "SPEC", "repeatable: sharpness:every=K,k=2,samples=N,tol=T | precond-sharpness:... | gn-sharpness:...",
           NULL, parse_probe, show_probes),
    OPT_FLAG(RunOpts, quiet, "no progress line", "q"),
    OPT_END};

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
  strcpy(o->precision, "f64");
  o->lr = 0.01;
  o->momentum = 0.9;
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->steps = 1000;
  o->eval_every = 100;
  o->chunk = -1; /* auto */
  o->diverge_factor = 1e4;
}

int run_opts_set(RunOpts *o, const char *key, const char *value, Err *err) {
  OptTable t = {run_opts_table, o, NULL, NULL};
  return opts_set(&t, 1, key, value, err);
}

int run_opts_from_file(RunOpts *o, const char *path, Err *err) {
  OptTable t = {run_opts_table, o, NULL, NULL};
  return opts_from_file(&t, 1, path, err);
}

int run_opts_parse(RunOpts *o, int argc, char **argv, int start, Err *err) {
  OptTable t = {run_opts_table, o, NULL, NULL};
  return opts_parse(&t, 1, argc, argv, start, NULL, NULL, err);
}

int run_opts_refuse_training(const OptTable *t, Err *err) {
  for (const CliOpt *d = t->opts; d->name; d++) {
    if (!t->seen[d - t->opts] || !strcmp(d->name, "db") || !strcmp(d->name, "threads") ||
        !strcmp(d->name, "quiet"))
      continue;
    char flag[64];
    opts_flag_name(d, flag, sizeof flag);
    return err_set(err, CS_EINVAL, "'%s' is a training option: with --run the model, data and "
                   "seed come from the stored run", flag);
  }
  return CS_OK;
}

/* What the stored config JSON holds: every option but where the run was written, how
 * fast and how loudly. The key is the option's name (snake_case). */
static int stored(const CliOpt *d) {
  return d->kind != OPT_FLAG && strcmp(d->name, "db") && strcmp(d->name, "threads");
}

char *run_opts_to_json(const RunOpts *o) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "{");
  int first = 1;
  for (const CliOpt *d = run_opts_table; d->name; d++) {
    if (!stored(d)) continue;
    if (!first) sb_append(&b, ",");
    first = 0;
    sb_json_str(&b, d->name);
    sb_append(&b, ":");
    const char *field = (const char *)o + d->off;
    switch (d->kind) {
      case OPT_STR: sb_json_str(&b, field); break;
      case OPT_DBL:
      case OPT_POS: sb_json_num(&b, *(const double *)field); break;
      case OPT_LONG: sb_printf(&b, "%ld", *(const long *)field); break;
      case OPT_FLAG:
      case OPT_REFUSE: break;
      case OPT_FN: /* the probes */
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
  for (const CliOpt *d = run_opts_table; d->name; d++) {
    if (!stored(d)) continue;
    char *field = (char *)o + d->off;
    int rc = CS_OK;
    switch (d->kind) {
      case OPT_STR: rc = json_get_str(json, d->name, field, d->size); break;
      case OPT_DBL:
      case OPT_POS: rc = json_get_num(json, d->name, (double *)field); break;
      case OPT_LONG: rc = json_get_long(json, d->name, (long *)field); break;
      case OPT_FLAG:
      case OPT_REFUSE: break;
      case OPT_FN: /* the probes */
        o->nprobes = 0;
        rc = json_get_str_array(json, d->name, add_probe, o);
        break;
    }
    if (rc == CS_EFORMAT)
      return err_set(err, CS_EFORMAT, "stored run config has a malformed '%s'", d->name);
  }
  return CS_OK;
}

void run_opts_help(FILE *f, const RunOpts *o) {
  OptTable t = {run_opts_table, (void *)o, NULL, NULL};
  opts_help_print(f, &t, 1);
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
  double sobolev_s;
  if ((rc = loss_parse_spec(o->loss, &s->loss, &sobolev_s, err))) return err_prefix(err, "--loss");
  if ((rc = optim_parse(o->opt, &s->opt_type, err))) return err_prefix(err, "--opt");
  if ((rc = precision_parse(o->precision, &s->precision, err))) return rc;
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
  s->tcfg.precision = s->precision;
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
  if (s->train->k == 0) {
    run_setup_free(s);
    return err_set(err, CS_EINVAL, "--data '%s' has no targets to train on (csv: give label=NAME "
                   "or targets=COLS)", o->data);
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
  if (s->loss == LOSS_SOBOLEV &&
      (rc = spectral_sobolev_metric(s->train, sobolev_s, &s->metric, err))) {
    run_setup_free(s);
    return err_prefix(err, "--loss %s with --data '%s'", o->loss, o->data);
  }
  s->tcfg.metric = s->metric;
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
  loss_metric_free(s->metric);
  optim_free(s->opt);
  memset(s, 0, sizeof *s);
}
