/*
 * study_kinks.c: `curvscope study relu-kinks`: do the kinks of He-initialised two-layer
 * ReLU nets ever reach the data? Holzmüller & Steinwart's Monte-Carlo experiment
 * (studies/kinks/, docs/KINKS.md). One database run holds the whole study: per width the
 * crossing probability with its Wilson interval and the other fractions (series over the
 * widths), per Monte-Carlo run its largest |b_i/a_i| (series at step = width).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/json.h"
#include "core/spec.h"
#include "core/threads.h"
#include "core/train.h"
#include "db/db.h"
#include "opts.h"
#include "studies/kinks/kinks.h"

typedef struct StudyOpts {
  KinksOptions ko;
  char widths_text[256], lr[32], opt[16], init[16], weights[16], db[512], name[64], group[64];
  long runs, steps, seed, threads;
  double momentum, beta1, beta2, eps, offset, grad_tol;
  int preset, quiet;
} StudyOpts;

static const CliOpt kinks_opts[] = {
    OPT_PRESET(StudyOpts, preset, "default, or ci: widths 16-64-256, 40 runs, 3000 steps"),
    {"widths", OPT_STR, offsetof(StudyOpts, widths_text), sizeof(((StudyOpts *)0)->widths_text),
     "LIST", "hidden widths n, e.g. 16-32-64-128-256", NULL, NULL, NULL},
    OPT_LONG(StudyOpts, runs, "N", "Monte-Carlo runs per width (1..1000000)", NULL),
    OPT_LONG(StudyOpts, steps, "N", "step limit per run (1..100000000)", NULL),
    OPT_STR(StudyOpts, lr, "R", "paper (1/λ_max(A_ref M) per run), small (0.01/n) or a number",
            NULL),
    OPT_STR(StudyOpts, opt, "O", "optimizer: gd | momentum | nesterov | adam (full batch)", NULL),
    OPT_DBL(StudyOpts, momentum, "F", "momentum β (momentum, nesterov)", NULL),
    OPT_DBL(StudyOpts, beta1, "F", "Adam β1", NULL),
    OPT_DBL(StudyOpts, beta2, "F", "Adam β2", NULL),
    OPT_POS(StudyOpts, eps, "F", "Adam ε", NULL),
    OPT_STR(StudyOpts, init, "I", "he (a~N(0,2), w~N(0,2/n), b=c=0) | he-swapped | xavier | torch",
            NULL),
    OPT_STR(StudyOpts, weights, "W", "multinomial (counts of n² draws, per run) | uniform", NULL),
    OPT_DBL(StudyOpts, offset, "F", "added to every target", NULL),
    OPT_DBL(StudyOpts, grad_tol, "F", "a run converged when ‖∇L‖ < F (0: never)", NULL),
    OPT_LONG(StudyOpts, seed, "N", "seed of the weights and inits", NULL),
    OPT_THREADS(StudyOpts, threads),
    OPT_STR(StudyOpts, db, "FILE", "SQLite database", NULL),
    OPT_STR(StudyOpts, name, "NAME", "the run's name", NULL),
    OPT_STR(StudyOpts, group, "NAME", "the run's group (default: relu-kinks-DATE-TIME-PID)", NULL),
    OPT_FLAG(StudyOpts, quiet, "no progress lines on stderr", "q"),
    OPT_END};

static void help(const OptTable *t) {
  printf(
      "usage: curvscope study relu-kinks [options]\n\n"
      "Two-layer ReLU nets f(x) = c + Σ w_i ReLU(a_i x + b_i) of each --widths n, trained by\n"
      "full-batch descent on x = -3,-2,-1,1,2,3 (targets -1,2,-1,1,-2,1, each point weighted\n"
      "by its count in n² draws) as Holzmüller & Steinwart. Per run the largest |b_i/a_i|\n"
      "reached (a kink at -b_i/a_i crosses a data point when it reaches 1); per width the\n"
      "crossing probability with its 95%% Wilson interval, how often the final fit is linear\n"
      "on each side of 0, and its distance from the per-side least-squares lines. Runs stop at\n"
      "a crossing, at ‖∇L‖ < --grad-tol or at --steps (docs/KINKS.md). The defaults below are\n"
      "the preset's (--preset first).\n\n");
  opts_help_print(stdout, t, 1);
  printf("\nexample:\n  curvscope study relu-kinks --widths 16-64-256 --runs 500 --init he-swapped\n");
}

static void preset(StudyOpts *o) {
  snprintf(o->widths_text, sizeof o->widths_text, o->preset ? "16-64-256" : "16-32-64-128-256");
  o->runs = o->preset ? 40 : 200;
  o->steps = o->preset ? 3000 : 100000;
}

/* Ranges and names the table does not check; then o->ko from the fields. */
static int study_opts_check(StudyOpts *o, Err *err) {
  KinksOptions *k = &o->ko;
  kinks_options_default(k);
  if (spec_parse_int_list(o->widths_text, k->widths, KINKS_MAX_WIDTHS, &k->nwidths, err))
    return err_prefix(err, "--widths '%s'", o->widths_text);
  for (int i = 0; i < k->nwidths; i++)
    if (k->widths[i] < 2 || k->widths[i] > 4096)
      return err_set(err, CS_EINVAL, "--widths '%s': width %ld outside 2..4096 (n² weight draws)",
                     o->widths_text, k->widths[i]);
  struct { const char *flag; long v, lo, hi; } r[] = {
      {"--runs", o->runs, 1, 1000000}, {"--steps", o->steps, 1, 100000000},
      {"--seed", o->seed, 0, 1L << 53}};
  for (size_t i = 0; i < sizeof r / sizeof *r; i++)
    if (r[i].v < r[i].lo || r[i].v > r[i].hi)
      return err_set(err, CS_EINVAL, "%s '%ld' is not an integer in %ld..%ld", r[i].flag, r[i].v,
                     r[i].lo, r[i].hi);
  k->runs = o->runs, k->steps = o->steps, k->seed = (uint64_t)o->seed;
  if (!strcmp(o->lr, "paper")) k->lr_rule = KINKS_LR_PAPER;
  else if (!strcmp(o->lr, "small")) k->lr_rule = KINKS_LR_SMALL;
  else if (parse_double(o->lr, &k->lr) || !(k->lr > 0) || !isfinite(k->lr))
    return err_set(err, CS_EINVAL, "--lr '%s' (use paper, small or a number > 0)", o->lr);
  else k->lr_rule = KINKS_LR_FIXED;
  if (optim_parse(o->opt, &k->opt, err)) return err_prefix(err, "--opt");
  k->optcfg.momentum = o->momentum, k->optcfg.beta1 = o->beta1, k->optcfg.beta2 = o->beta2;
  k->optcfg.eps = o->eps;
  k->optcfg.lr = 1.0; /* checked here with a valid η; each run sets its own */
  if (optconfig_check(&k->optcfg, err)) return err->code;
  if (k->opt == optim_adam && k->lr_rule == KINKS_LR_PAPER)
    return err_set(err, CS_EINVAL, "--opt adam needs --lr small or a number: the paper's step "
                   "size is gradient descent's");
  if (kinks_init_parse(o->init, &k->init, err)) return err->code;
  if (strcmp(o->weights, "multinomial") && strcmp(o->weights, "uniform"))
    return err_set(err, CS_EINVAL, "--weights '%s' (use multinomial or uniform)", o->weights);
  k->uniform_weights = !strcmp(o->weights, "uniform");
  if (!(o->grad_tol >= 0)) return err_set(err, CS_EINVAL, "--grad-tol %g must be >= 0", o->grad_tol);
  k->offset = o->offset, k->grad_tol = o->grad_tol;
  return CS_OK;
}

static char *config_json(const StudyOpts *o) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "{\"widths\":");
  sb_json_str(&b, o->widths_text);
  sb_printf(&b, ",\"runs\":%ld,\"steps\":%ld,\"lr_rule\":\"%s\",\"lr\":", o->runs, o->steps,
            o->ko.lr_rule == KINKS_LR_PAPER ? "paper" : o->ko.lr_rule == KINKS_LR_SMALL ? "small"
                                                                               : "fixed");
  if (o->ko.lr_rule == KINKS_LR_FIXED) sb_json_num(&b, o->ko.lr);
  else sb_append(&b, "null"); /* each run's own: paper's 1/λ_max, or 0.01/n */
  sb_append(&b, ",\"opt\":");
  sb_json_str(&b, o->opt);
  sb_append(&b, ",\"momentum\":");
  sb_json_num(&b, o->momentum);
  sb_append(&b, ",\"beta1\":");
  sb_json_num(&b, o->beta1);
  sb_append(&b, ",\"beta2\":");
  sb_json_num(&b, o->beta2);
  sb_append(&b, ",\"eps\":");
  sb_json_num(&b, o->eps);
  sb_append(&b, ",\"init\":");
  sb_json_str(&b, o->init);
  sb_append(&b, ",\"weights\":");
  sb_json_str(&b, o->weights);
  sb_append(&b, ",\"offset\":");
  sb_json_num(&b, o->offset);
  sb_append(&b, ",\"grad_tol\":");
  sb_json_num(&b, o->grad_tol);
  sb_printf(&b, ",\"seed\":%ld,\"loss\":\"mse\",\"batch\":0}", o->seed);
  return sb_take(&b);
}

/* The per-width series (idx = width index) and run-level metrics. */
static int record_widths(Recorder *rec, const KinksResult *res, Err *err) {
  int W = res->nwidths, rc = CS_OK;
  enum { NS = 9 };
  static const char *const names[NS] = {
      "kinks_width", "kinks_cross_prob", "kinks_cross_lo", "kinks_cross_hi", "kinks_linear_frac",
      "kinks_degenerate_frac", "kinks_converged_frac", "kinks_unfinished_frac",
      "kinks_ls_gap_median"};
  double v[NS][KINKS_MAX_WIDTHS];
  for (int i = 0; i < W; i++) {
    const KinksWidth *k = &res->width[i];
    double R = (double)k->runs;
    double row[NS] = {(double)k->width, k->p_cross, k->lo, k->hi, k->linear / R,
                      k->degenerate / R, k->converged / R, k->unfinished / R, k->ls_gap_median};
    for (int s = 0; s < NS; s++) v[s][i] = row[s];
  }
  for (int s = 0; s < NS && !rc; s++) rc = rec_series(rec, -1, names[s], (size_t)W, v[s], err);
  const KinksWidth *a = &res->width[0], *z = &res->width[W - 1];
  struct { const char *name; double v; } m[] = {
      {"kinks_runs", (double)a->runs},
      {"kinks_cross_first", a->p_cross},
      {"kinks_cross_last", z->p_cross},
      {"kinks_cross_falls", W > 1 && z->hi < a->lo ? 1.0 : 0.0},
      {"kinks_wall_s", res->wall_s}};
  for (size_t j = 0; j < sizeof m / sizeof *m && !rc; j++) rc = rec_metric(rec, -1, m[j].name, m[j].v, err);
  return rc;
}

/* Per Monte-Carlo run (step = the width, idx = the run). */
static int record_runs(Recorder *rec, const KinksResult *res, Err *err) {
  int rc = CS_OK;
  for (int i = 0; i < res->nwidths && !rc; i++) {
    const KinksWidth *k = &res->width[i];
    double *v = malloc((size_t)k->runs * sizeof *v);
    if (!v) return err_set(err, CS_ENOMEM, "out of memory");
    for (int s = 0; s < 3 && !rc; s++) {
      static const char *const names[] = {"kinks_max_ratio", "kinks_cross_step", "kinks_ls_gap"};
      for (long r = 0; r < k->runs; r++)
        v[r] = s == 0 ? k->run[r].max_ratio : s == 1 ? (double)k->run[r].cross_step
                                                     : k->run[r].ls_gap;
      rc = rec_series(rec, k->width, names[s], (size_t)k->runs, v, err);
    }
    free(v);
  }
  return rc;
}

static int record(Db *db, const StudyOpts *o, const KinksResult *res, int complete,
                  int64_t *id, Err *err) {
  char group[sizeof o->group];
  if (o->group[0]) snprintf(group, sizeof group, "%s", o->group);
  else cli_study_group("relu-kinks", group, sizeof group);
  char *config = config_json(o);
  Recorder rec;
  int rc = db_recorder_open(db, &rec, err);
  if (rc) {
    free(config);
    return rc;
  }
  RunInfo info = {o->name[0] ? o->name : "relu-kinks", "relu-kinks", group, config,
                  (uint64_t)o->seed, 0, NULL};
  rc = rec_run_begin(&rec, &info, id, err);
  free(config);
  if (!rc) rc = record_widths(&rec, res, err);
  if (!rc) rc = record_runs(&rec, res, err);
  Err end_err = {0};
  int erc = rec_run_end(&rec, rc ? "failed" : complete ? "finished" : "interrupted",
                        rc ? err->msg : NULL, &end_err);
  if (!rc && erc) rc = erc, *err = end_err;
  db_recorder_close(&rec);
  return rc;
}

/* One line per finished width on stderr, as the study goes. */
static void width_done(void *ctx, const KinksWidth *k) {
  if (*(const int *)ctx) return;
  fprintf(stderr, "  width %ld: %ld of %ld runs crossed (p %.3f [%.3f, %.3f]), %ld unfinished, "
          "%.1f s\n", k->width, k->crossed, k->runs, k->p_cross, k->lo, k->hi, k->unfinished,
          k->wall_s);
}

static void print_summary(const KinksResult *res, int64_t id) {
  printf("\nrun %lld\n%6s %6s %8s %17s %8s %8s %8s %10s %8s\n", (long long)id, "width", "runs",
         "p_cross", "95% Wilson", "linear", "a-degen", "unfin.", "LS gap", "s");
  for (int i = 0; i < res->nwidths; i++) {
    const KinksWidth *k = &res->width[i];
    double R = (double)k->runs;
    printf("%6ld %6ld %8.3f   [%.3f, %.3f] %8.3f %8.3f %8.3f %10.3g %8.1f\n", k->width, k->runs,
           k->p_cross, k->lo, k->hi, k->linear / R, k->degenerate / R, k->unfinished / R,
           k->ls_gap_median, k->wall_s);
  }
}

int study_kinks(int argc, char **argv) {
  StudyOpts o;
  memset(&o, 0, sizeof o);
  snprintf(o.lr, sizeof o.lr, "paper");
  snprintf(o.opt, sizeof o.opt, "gd");
  snprintf(o.init, sizeof o.init, "he");
  snprintf(o.weights, sizeof o.weights, "multinomial");
  snprintf(o.db, sizeof o.db, "runs.db");
  o.momentum = 0.9, o.beta1 = 0.9, o.beta2 = 0.999, o.eps = 1e-8;
  o.grad_tol = 1e-6, o.seed = 1;
  /* The preset sets defaults (--widths, --runs, --steps): a first pass finds it. */
  StudyOpts first = o;
  OptTable t0 = {kinks_opts, &first, NULL, NULL};
  int help_asked = cli_is_help(argc, argv);
  Err err = {0};
  if (opts_parse(&t0, 1, argc, argv, 1, NULL, NULL, &err) && !help_asked) return cli_fail(&err);
  o.preset = first.preset;
  preset(&o);
  OptTable t = {kinks_opts, &o, NULL, NULL};
  if (help_asked) {
    help(&t);
    return EXIT_OK;
  }
  if (opts_parse(&t, 1, argc, argv, 1, NULL, NULL, &err) || study_opts_check(&o, &err))
    return cli_fail(&err);
  threads_set((int)o.threads);
  Db *db = NULL;
  if (cli_db_open(o.db, &db, &err)) return cli_fail(&err);
  cli_install_stop_signals();
  if (!o.quiet)
    fprintf(stderr, "relu-kinks: widths %s, %ld runs each, init %s, %s, lr %s, %d threads\n",
            o.widths_text, o.runs, o.init, o.opt, o.lr, threads_get());
  KinksResult res;
  int code = EXIT_OK;
  int64_t id = 0;
  if (kinks_study_run(&o.ko, train_stop_requested, width_done, &o.quiet, &res, &err)) {
    code = cli_fail(&err);
  } else if (!res.nwidths) {
    fprintf(stderr, "curvscope: relu-kinks stopped before its first width; nothing recorded\n");
    code = EXIT_FAIL;
  } else if (record(db, &o, &res, res.nwidths == o.ko.nwidths, &id, &err)) {
    code = cli_fail(&err);
  } else {
    print_summary(&res, id);
  }
  kinks_result_free(&res);
  db_close(db);
  return cli_stop_exit(code);
}
