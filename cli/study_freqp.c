/*
 * study_freqp.c: `curvscope study freq-principle`: the frequency principle on
 * high-dimensional data (Xu et al.; docs/FREQP.md).
 *
 * Trains one run through the train command's set-up with the freqp probe
 * (studies/freqp/), so every train flag works: at init and every --every steps the
 * network's output on the training set is split by the Gaussian filter on the inputs
 * into low- and high-frequency parts, compared with the targets' (e_low, e_high).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/threads.h"
#include "db/db.h"
#include "db/db_json.h"
#include "opts.h"
#include "run_opts.h"

typedef struct StudyOpts {
  long every;
  double delta, tau_eps;
  int preset; /* 1 for ci */
} StudyOpts;

static const CliOpt freqp_opts[] = {
    OPT_PRESET(StudyOpts, preset, "default, or ci: fashion-mnist n=300, mlp:784-64-10, 300 "
           "steps, every 10"),
    OPT_LONG(StudyOpts, every, "K", "measure every K steps", NULL),
    OPT_DBL(StudyOpts, delta, "D", "filter width δ, a squared input distance: G_δ(x) = "
            "exp(−‖x‖²/(2δ)) (0: 0.1 × the median squared distance between training inputs)",
            NULL),
    OPT_POS(StudyOpts, tau_eps, "E", "convergence threshold on e_low and e_high (--eps is "
            "Adam's ε, as in train)", NULL),
    OPT_END};

static void help(const OptTable *t, int nt) {
  printf(
      "usage: curvscope study freq-principle [study options] [train options]\n\n"
      "The frequency principle on high-dimensional data (Xu et al.): the low-frequency part of\n"
      "a function g on the training inputs is g^low_i = Σ_j g_j G_δ(x_i − x_j) / Σ_j G_δ(x_i −\n"
      "x_j), the high part g − g^low. At init and every --every steps, for the targets y and the\n"
      "network's output h (softmax under --loss ce): e_low = ‖y^low − h^low‖/‖y^low‖ and e_high\n"
      "likewise, as metrics freqp_e_low and freqp_e_high; run-level freqp_tau_low,\n"
      "freqp_tau_high (first step with e < --tau-eps), freqp_low_first, freqp_low_ahead,\n"
      "freqp_delta (docs/FREQP.md, docs/SCHEMA.md). The defaults below are the preset's\n"
      "(--preset first).\n\n");
  opts_help_print(stdout, t, nt);
}

static void preset(RunOpts *o, void *study) {
  StudyOpts *so = study;
  strcpy(o->act, "relu");
  strcpy(o->opt, "gd");
  strcpy(o->loss, "mse");
  o->eval_every = 0;
  if (so->preset) {
    strcpy(o->data, "fashion-mnist:n=300,test=0");
    strcpy(o->model, "mlp:784-64-10");
    o->lr = 0.05;
    o->steps = 300;
    so->every = 10;
  } else {
    strcpy(o->data, "fashion-mnist:n=2000,test=500");
    strcpy(o->model, "mlp:784-256-256-10");
    o->lr = 0.05;
    o->steps = 3000;
    o->eval_every = 500;
  }
}

int study_freqp(int argc, char **argv) {
  Err err = {0};
  StudyOpts so = {20, 0, 0.1, 0};
  RunOpts base;
  run_opts_default(&base);
  OptTable t[] = {{freqp_opts, &so, "study options", NULL},
                  {run_opts_table, &base, "train options (the preset's)", NULL}};
  int helped;
  int rc = cli_study_opts_parse(t, sizeof so, offsetof(StudyOpts, preset), preset, help, argc,
                                argv, &helped, &err);
  if (!rc && helped) return EXIT_OK;
  if (!rc && so.every < 1)
    rc = err_set(&err, CS_EINVAL, "--every '%ld' is not an integer >= 1", so.every);
  if (!rc && !(so.delta >= 0))
    rc = err_set(&err, CS_EINVAL, "--delta '%g' is negative (0: from the data)", so.delta);
  if (!rc && base.nprobes >= RUN_MAX_PROBES)
    rc = err_set(&err, CS_EINVAL, "at most %d --probe flags beside the study's freqp probe",
                 RUN_MAX_PROBES - 1);
  if (rc) return cli_fail(&err);
  threads_set((int)base.threads);
  RunOpts o = base;
  snprintf(o.study, sizeof o.study, "freq-principle");
  if (!base.group[0]) cli_study_group("freq-principle", o.group, sizeof o.group);
  if (!o.name[0]) snprintf(o.name, sizeof o.name, "freq-principle");
  for (int i = o.nprobes; i > 0; i--) memcpy(o.probe[i], o.probe[i - 1], sizeof o.probe[0]);
  snprintf(o.probe[0], sizeof o.probe[0], "freqp:every=%ld,delta=%.17g,eps=%.17g", so.every,
           so.delta, so.tau_eps);
  o.nprobes++;
  Db *db = NULL; /* opened by cli_train_run once the run and its probes are set up */
  cli_install_stop_signals();
  printf("study freq-principle: group %s\n", o.group);
  int64_t id;
  int code = cli_train_run(&o, base.db, &db, &id, !base.quiet);
  if (code == EXIT_OK) {
    static const char *const names[] = {"freqp_delta", "freqp_tau_low", "freqp_tau_high",
                                        "freqp_low_first", "freqp_low_ahead"};
    double v[5];
    Err merr = {0}; /* a metric that cannot be read prints as nan */
    db_run_metrics(db, id, names, 5, v, &merr);
    printf("  run %lld: δ %.4g  τ_low %g  τ_high %g  low first %g  low ahead %.3f\n",
           (long long)id, v[0], v[1], v[2], v[3], v[4]);
  }
  if (db) db_close(db);
  return cli_stop_exit(code);
}
