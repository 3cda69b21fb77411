/*
 * study_ntk.c: `curvscope study ntk`: the kernel view of training (docs/NTK.md).
 *
 * Trains one run per --widths entry (every hidden width of --model set to it) through the
 * train command's set-up with the ntk probe (studies/ntk/), so every train flag works; or,
 * with --run ID, replays the probe over a stored run: at its initialisation (rebuilt from
 * the stored seed) and at each of its checkpoints, writing the same series into that run.
 * --lr-frac F sets each run's η from its own kernel at init, ηλ_max/n = F, so widths
 * whose kernels differ in scale train at the same relative speed.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/spec.h"
#include "core/threads.h"
#include "db/db.h"
#include "db/db_json.h"
#include "opts.h"
#include "run_opts.h"
#include "studies/ntk/ntk.h"
#include "studies/probes.h"

#define MAX_WIDTHS 16

typedef struct StudyOpts {
  char widths_text[256]; /* --widths as given; parsed into widths[] */
  long widths[MAX_WIDTHS];
  int nwidths;
  long every, k, t1, probes, run;
  double lr_frac; /* 0: use --lr */
  char dense[8];
  int layers, preset; /* preset: 1 for ci */
} StudyOpts;

static int parse_widths(void *base, const CliOpt *opt, const char *v, Err *err) {
  StudyOpts *so = base;
  (void)opt;
  if (snprintf(so->widths_text, sizeof so->widths_text, "%s", v) >= (int)sizeof so->widths_text)
    return err_set(err, CS_EINVAL, "--widths '%s' is too long", v);
  if (spec_parse_int_list(v, so->widths, MAX_WIDTHS, &so->nwidths, err))
    return err_prefix(err, "--widths '%s'", v);
  for (int i = 0; i < so->nwidths; i++)
    if (so->widths[i] < 1 || so->widths[i] > 1000000)
      return err_set(err, CS_EINVAL, "--widths '%s': width %ld outside 1..1000000", v,
                     so->widths[i]);
  return CS_OK;
}

static void show_widths(const void *base, const CliOpt *opt, char *out, size_t n) {
  const StudyOpts *so = base;
  (void)opt;
  if (!so->nwidths) snprintf(out, n, "--model as is");
  for (int i = 0, len = 0; i < so->nwidths && (size_t)len < n; i++)
    len += snprintf(out + len, n - (size_t)len, "%s%ld", i ? "-" : "", so->widths[i]);
}

static int parse_lr_frac(void *base, const CliOpt *opt, const char *v, Err *err) {
  double *f = &((StudyOpts *)base)->lr_frac;
  (void)opt;
  if (parse_double(v, f) || !(*f >= 0) || *f >= 2)
    return err_set(err, CS_EINVAL, "--lr-frac '%s' is not a number in [0, 2)", v);
  return CS_OK;
}

static void show_lr_frac(const void *base, const CliOpt *opt, char *out, size_t n) {
  (void)opt;
  snprintf(out, n, "%g", ((const StudyOpts *)base)->lr_frac);
}

static const CliOpt ntk_opts[] = {
    OPT_PRESET(StudyOpts, preset, "default, or ci: n=64, freqs=1-2-4, widths 32-128-512, 300 "
           "steps, every 10, k 10"),
    OPT_FN(StudyOpts, widths, "LIST", "one run per hidden width, e.g. 64-256-1024", NULL,
           parse_widths, show_widths),
    OPT_FN(StudyOpts, lr_frac, "F", "η = F·n/λ_max(K_0) per run (0: use --lr)", NULL,
           parse_lr_frac, show_lr_frac),
    OPT_LONG(StudyOpts, every, "K", "measure every K steps", NULL),
    OPT_LONG(StudyOpts, k, "K", "eigenpairs", NULL),
    OPT_STR(StudyOpts, dense, "MODE", "auto (dense when n·d_out <= 1024), yes, no (matrix-free "
            "Lanczos)", NULL),
    OPT_LONG(StudyOpts, t1, "T", "step of the rate comparison (0: the first measurement after 0)",
             NULL),
    OPT_LONG(StudyOpts, probes, "M", "random vectors of the matrix-free drift estimate", NULL),
    OPT_FLAG(StudyOpts, layers, "the per-layer kernels (--no-layers skips them)", NULL),
    OPT_ID(StudyOpts, run, "replay the probe over a stored run's init and checkpoints (an MSE run)"),
    OPT_END};

static void help(const OptTable *t, int nt) {
  printf(
      "usage: curvscope study ntk [--widths LIST] [study options] [train options]\n"
      "       curvscope study ntk --run ID [--db FILE] [study options]\n\n"
      "The empirical neural tangent kernel K = J Jᵀ on the training inputs, at init and every\n"
      "--every steps: its top --k eigenvalues, the residual's projection on each eigenvector of\n"
      "K_0, the measured decay rate of each projection against the kernel prediction\n"
      "−log|1 − ηλ_i/n| (≈ ηλ_i/n; full-batch GD on ½·mean‖f − y‖²), the per-layer kernels'\n"
      "spectra, the drift ‖K_t − K_0‖_F/‖K_0‖_F and, on grid data, each eigenvector's dominant\n"
      "frequency. Run-level metrics ntk_rate_corr, ntk_drift, ntk_freq_order, ntk_eig_ratio\n"
      "(docs/NTK.md, docs/SCHEMA.md). The defaults below are the preset's (--preset first).\n\n");
  opts_help_print(stdout, t, nt);
}

/* The study options' ranges (the preset's and the user's). */
static int study_opts_check(const StudyOpts *so, Err *err) {
  struct { const char *flag; long v, lo; } r[] = {
      {"--every", so->every, 1}, {"--k", so->k, 1}, {"--t1", so->t1, 0}, {"--probes", so->probes, 1}};
  for (size_t i = 0; i < sizeof r / sizeof *r; i++)
    if (r[i].v < r[i].lo || r[i].v > 1000000000)
      return err_set(err, CS_EINVAL, "%s '%ld' is not an integer in [%ld, 1000000000]", r[i].flag,
                     r[i].v, r[i].lo);
  if (strcmp(so->dense, "auto") && strcmp(so->dense, "yes") && strcmp(so->dense, "no"))
    return err_set(err, CS_EINVAL, "--dense '%s' (use auto, yes or no)", so->dense);
  return CS_OK;
}

static void preset(RunOpts *o, void *study) {
  StudyOpts *so = study;
  strcpy(o->act, "relu");
  strcpy(o->opt, "gd");
  strcpy(o->loss, "mse");
  o->eval_every = 0;
  if (so->preset) {
    strcpy(o->data, "synth:sines,n=64,freqs=1-2-4,amps=equal");
    strcpy(o->model, "mlp:1-256-256-1");
    o->steps = 300;
    so->every = 10;
    so->k = 10;
    long w[3] = {32, 128, 512};
    memcpy(so->widths, w, sizeof w);
    so->nwidths = 3;
  } else {
    strcpy(o->data, "synth:sines,n=200,freqs=1-2-4-8-16,amps=equal");
    strcpy(o->model, "mlp:1-1024-1024-1");
    o->steps = 2000;
  }
}

/* model with every hidden width set to w ("mlp:1-64-64-1,bias=zero" -> "mlp:1-w-w-1,..."). */
static int model_with_width(const char *model, long w, char *out, size_t size, Err *err) {
  if (strncmp(model, "mlp:", 4))
    return err_set(err, CS_EINVAL, "--widths needs an mlp:... --model, not '%s'", model);
  const char *comma = strchr(model, ',');
  size_t len = comma ? (size_t)(comma - model - 4) : strlen(model + 4);
  char list[256];
  long v[NET_MAX_LAYERS + 1];
  int n;
  snprintf(list, sizeof list, "%.*s", (int)len, model + 4);
  if (spec_parse_int_list(list, v, NET_MAX_LAYERS + 1, &n, err) || n < 3)
    return n < 3 ? err_set(err, CS_EINVAL, "--widths: '%s' has no hidden layer", model)
                 : err_prefix(err, "--model '%s'", model);
  int o = snprintf(out, size, "mlp:%ld", v[0]);
  for (int i = 1; i < n - 1; i++) o += snprintf(out + o, size - (size_t)o, "-%ld", w);
  snprintf(out + o, size - (size_t)o, "-%ld%s", v[n - 1], comma ? comma : "");
  return CS_OK;
}

static void probe_spec(const StudyOpts *so, char *out, size_t size) {
  int o = snprintf(out, size, "ntk:every=%ld,k=%ld,dense=%s,layers=%s,probes=%ld", so->every,
                   so->k, so->dense, so->layers ? "true" : "false", so->probes);
  if (so->t1 > 0) snprintf(out + o, size - (size_t)o, ",t1=%ld", so->t1);
}

/* One run's options; with --lr-frac its η from its own kernel at init (the run's seed). */
static int width_opts(const RunOpts *base, const StudyOpts *so, int wi, const char *group,
                      RunOpts *o, Err *err) {
  *o = *base;
  if (so->nwidths && model_with_width(base->model, so->widths[wi], o->model, sizeof o->model, err))
    return CS_EINVAL;
  snprintf(o->study, sizeof o->study, "ntk");
  snprintf(o->group, sizeof o->group, "%s", group);
  if (so->nwidths)
    snprintf(o->name, sizeof o->name, "%.60s width=%ld", base->name[0] ? base->name : "ntk",
             so->widths[wi]);
  else if (!base->name[0]) snprintf(o->name, sizeof o->name, "ntk");
  for (int i = o->nprobes; i > 0; i--) memcpy(o->probe[i], o->probe[i - 1], sizeof o->probe[0]);
  probe_spec(so, o->probe[0], sizeof o->probe[0]);
  o->nprobes++;
  RunSetup s;
  int rc = run_setup(o, &s, err);
  for (int i = 0; !rc && i < o->nprobes; i++) { /* every probe builds before anything is written */
    Probe p;
    if (!(rc = probe_create(o->probe[i], &s.net, s.train, s.loss, s.opt_type, s.precision, &p, err)))
      p.destroy(p.self);
  }
  if (!rc && so->lr_frac > 0) {
    double lmax = NAN;
    rc = ntk_lambda_max(&s.net, s.theta, s.train, &lmax, err);
    if (!rc && !(lmax > 0))
      rc = err_set(err, CS_EINVAL, "the kernel at init has λ_max = %g: no step size from it", lmax);
    if (!rc) o->lr = so->lr_frac * (double)s.train->n / lmax;
  }
  if (!rc) run_setup_free(&s);
  return rc;
}

/* The run's NTK numbers, read back from the database. */
static void print_run(Db *db, int64_t id, const RunOpts *o) {
  static const char *const names[] = {"ntk_rate_corr", "ntk_drift", "ntk_freq_order",
                                      "ntk_eig_ratio"};
  double v[4];
  Err merr = {0}; /* a metric that cannot be read prints as nan */
  db_run_metrics(db, id, names, 4, v, &merr);
  printf("  %-28s lr %-9.4g rate corr %6.3f  drift %8.4g  freq order %6.3f  λ_k/λ_1 %.3g\n",
         o->model, o->lr, v[0], v[1], v[2], v[3]);
}

/* --run: the probe over the stored run's init and checkpoints, into that run. */
static int replay_run(Db *db, int64_t run, const StudyOpts *so, Err *err) {
  RunRow row = {0};
  RunOpts ro;
  RunSetup s = {0};
  long *steps = NULL;
  size_t ns = 0;
  Probe p = {0};
  Recorder rec = {0};
  int rc, attached = 0;
  if ((rc = db_run_get(db, run, &row, err))) goto out;
  if ((rc = run_opts_from_json(&ro, row.config, err)) || (rc = run_setup(&ro, &s, err))) goto out;
  char spec[256];
  probe_spec(so, spec, sizeof spec);
  if ((rc = probe_create(spec, &s.net, s.train, s.loss, s.opt_type, s.precision, &p, err))) goto out;
  if ((rc = db_checkpoint_steps(db, run, &steps, &ns, err))) goto out;
  if ((rc = db_recorder_attach(db, run, &rec, err))) goto out;
  attached = 1;
  TrainState st = {.net = &s.net, .theta = s.theta, .step = 0, .loss_kind = s.loss,
                   .train = s.train, .test = s.test, .rec = &rec, .lr = ro.lr};
  if ((rc = p.run(p.self, &st, err))) goto out; /* the init, from the stored seed */
  for (size_t i = 0; i < ns && !rc; i++) {
    if (steps[i] <= 0) continue;
    double *params = NULL;
    size_t n = 0;
    long at = steps[i];
    if ((rc = db_checkpoint_read(db, run, at, &params, &n, &at, err))) break;
    if (n != s.net.n_params)
      rc = err_set(err, CS_EFORMAT, "checkpoint of run %lld has %zu values, its model %zu",
                   (long long)run, n, s.net.n_params);
    st.theta = params;
    st.step = at;
    if (!rc) rc = p.run(p.self, &st, err);
    free(params);
  }
  if (!rc) rc = rec_flush(&rec, err);
  if (!rc) {
    printf("study ntk: run %lld, the init and %zu checkpoint%s\n", (long long)run, ns,
           ns == 1 ? "" : "s");
    print_run(db, run, &ro);
  }
out:
  if (attached) db_recorder_close(&rec);
  if (p.destroy) p.destroy(p.self);
  free(steps);
  run_setup_free(&s);
  run_row_free(&row);
  return rc;
}

int study_ntk(int argc, char **argv) {
  Err err = {0};
  StudyOpts so = {"", {0}, 0, 20, 20, 0, 8, -1, 0.5, "auto", 1, 0};
  RunOpts base;
  run_opts_default(&base);
  unsigned char seen[OPTS_MAX_LINES] = {0}, sseen[OPTS_MAX_LINES] = {0};
  OptTable t[] = {{ntk_opts, &so, "study options", sseen},
                  {run_opts_table, &base, "train options (the preset's)", seen}};
  int helped;
  int rc = cli_study_opts_parse(t, sizeof so, offsetof(StudyOpts, preset), preset, help, argc,
                                argv, &helped, &err);
  if (!rc && helped) return EXIT_OK;
  if (!rc) rc = study_opts_check(&so, &err);
  if (!rc && base.nprobes >= RUN_MAX_PROBES)
    rc = err_set(&err, CS_EINVAL, "at most %d --probe flags beside the study's ntk probe",
                 RUN_MAX_PROBES - 1);
  if (!rc && so.run >= 0 && opts_seen(&t[0], "widths"))
    rc = err_set(&err, CS_EINVAL, "with --run the model, data and step size come from the stored "
                 "run: give only study options, --db and --threads");
  if (!rc && so.run >= 0) rc = run_opts_refuse_training(&t[1], &err);
  if (rc) return cli_fail(&err);
  threads_set((int)base.threads);
  Db *db = NULL;
  if (so.run >= 0) {
    if (cli_db_open_existing(base.db, &db, &err)) return cli_fail(&err);
    int code = replay_run(db, so.run, &so, &err) ? cli_fail(&err) : EXIT_OK;
    db_close(db);
    return code;
  }
  char group[sizeof base.group];
  if (base.group[0]) snprintf(group, sizeof group, "%s", base.group);
  else cli_study_group("ntk", group, sizeof group);
  int nruns = so.nwidths ? so.nwidths : 1;
  static RunOpts runs[MAX_WIDTHS];
  for (int w = 0; w < nruns; w++) /* every run is built (and its η found) before any is written */
    if (width_opts(&base, &so, w, group, &runs[w], &err)) return cli_fail(&err);
  if (cli_db_open(base.db, &db, &err)) return cli_fail(&err);
  cli_install_stop_signals();
  printf("study ntk: %d run%s, group %s\n", nruns, nruns == 1 ? "" : "s", group);
  int code = EXIT_OK;
  for (int w = 0; w < nruns && code == EXIT_OK && !train_stop_requested(); w++) {
    int64_t id;
    code = cli_train_run(&runs[w], base.db, &db, &id, !base.quiet);
    if (code == EXIT_OK) print_run(db, id, &runs[w]);
  }
  db_close(db);
  return cli_stop_exit(code);
}
