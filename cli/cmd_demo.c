/* cmd_demo.c: `curvscope demo`: the README's main job: a short edge-of-stability
 * reproduction on Fashion-MNIST, then its report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/spec.h"
#include "core/threads.h"
#include "run_opts.h"

typedef struct DemoArgs {
  char db[512], output[512], name[96], group[64];
  long steps, threads;
  int quiet;
} DemoArgs;

static const CliOpt demo_opts[] = {
    OPT_STR(DemoArgs, db, "FILE", "the database", NULL),
    OPT_STR(DemoArgs, output, "FILE", "the HTML report", "o"),
    OPT_LONG(DemoArgs, steps, "N", "step cap of each run", NULL),
    OPT_STR(DemoArgs, name, "NAME", "the runs' name prefix (each gets lr=η)", NULL),
    OPT_STR(DemoArgs, group, "NAME", "the runs' group (default: demo-DATE-TIME-PID)", NULL),
    OPT_THREADS(DemoArgs, threads),
    OPT_FLAG(DemoArgs, quiet, "no progress line", "q"),
    OPT_END};

static void help(const OptTable *t) {
  printf("usage: curvscope demo [--db runs.db] [-o report.html] [--steps N] [--threads N] [--quiet]\n\n"
         "Trains fc-tanh (784-200-200-10, MSE) with full-batch GD at two step sizes on the first\n"
         "1000 Fashion-MNIST training images, tracking the sharpness (top Hessian eigenvalue)\n"
         "every 5 steps, then analyses the edge of stability and writes an HTML report.\n"
         "Expect: sharpness rises to 2/eta and hovers there while the loss keeps falling\n"
         "non-monotonically (Cohen et al. 2021).\n\n");
  opts_help_print(stdout, t, 1);
}

int cmd_demo(int argc, char **argv) {
  DemoArgs d = {"runs.db", "report.html", "demo eos", "", 300, 0, 0};
  OptTable t = {demo_opts, &d, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    help(&t);
    return EXIT_OK;
  }
  Err err = {0};
  if (opts_parse(&t, 1, argc, argv, 1, NULL, NULL, &err)) return cli_fail(&err);
  const char *db_path = d.db, *out = d.output;
  long steps = d.steps;
  int quiet = d.quiet;
  threads_set((int)d.threads);
  Db *db = NULL;
  cli_install_stop_signals();
  printf("curvscope demo: edge of stability on Fashion-MNIST (fc-tanh, MSE, full-batch GD)\n");
  static const double lrs[] = {0.06, 0.08};
  char group[sizeof d.group];
  if (d.group[0]) snprintf(group, sizeof group, "%s", d.group);
  else cli_study_group("demo", group, sizeof group);
  int code = EXIT_OK;
  int64_t ids[2];
  double t0 = wall_time();
  for (int i = 0; i < 2 && code == EXIT_OK && !train_stop_requested(); i++) {
    RunOpts o;
    run_opts_default(&o);
    snprintf(o.data, sizeof o.data, "fashion-mnist:n=1000,test=500,standardize=full");
    o.lr = lrs[i];
    o.steps = steps;
    o.stop_acc = 0.99;
    o.eval_every = 50;
    o.checkpoint_every = steps / 2;
    o.quiet = quiet;
    snprintf(o.probe[0], sizeof o.probe[0], "sharpness:every=5,k=2");
    o.nprobes = 1;
    snprintf(o.study, sizeof o.study, "eos");
    snprintf(o.group, sizeof o.group, "%s", group);
    snprintf(o.name, sizeof o.name, "%s lr=%g", d.name, lrs[i]);
    printf("\n== step size %g (2/eta = %g) ==\n", lrs[i], 2.0 / lrs[i]);
    code = cli_train_run(&o, db_path, &db, &ids[i], 1); /* with the EoS analysis */
  }
  db_close(db);
  if (code != EXIT_OK || train_stop_requested()) return cli_stop_exit(code);
  printf("\ntrained and analysed in %.0f s; the runs are in %s\n", wall_time() - t0, db_path);
  char *rargv[] = {"report", "--db", (char *)db_path, "-o", (char *)out, NULL};
  int rc = cmd_report(5, rargv);
  if (rc == EXIT_OK)
    printf("open %s in a browser: loss, sharpness against 2/eta and the EoS phases per run,\n"
           "and the two step sizes side by side.\n", out);
  printf("query the history with SQL, e.g.\n"
         "  sqlite3 %s \"select id, name, eos_onset, max_sharpness from run_summary\"\n", db_path);
  return rc;
}
