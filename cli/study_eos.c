/* study_eos.c: `curvscope study eos`: Cohen et al.'s experiment, and the EoS analysis of a run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/json.h"
#include "core/precision.h"
#include "core/spec.h"
#include "core/threads.h"
#include "run_opts.h"
#include "studies/eos.h"

/* Values of (vstep, v) at the steps sstep (both ascending); NAN where missing. */
static void align(const long *sstep, size_t ns, const long *vstep, const double *v, size_t nv,
                  double *out) {
  size_t j = 0;
  for (size_t i = 0; i < ns; i++) {
    while (j < nv && vstep[j] < sstep[i]) j++;
    out[i] = j < nv && vstep[j] == sstep[i] ? v[j] : NAN;
  }
}

int cli_eos_analyze_run(Db *db, int64_t run, int iii_at_crossing, int print, Err *err) {
  long *ss = NULL, *ts = NULL, *ls = NULL, *os = NULL;
  double *S = NULL, *T = NULL, *L = NULL, *O = NULL, *thr = NULL, *on = NULL;
  size_t ns = 0, nt = 0, nl = 0, no = 0;
  EosSummary sum = {0};
  int rc;
  /* Adam runs are judged on the preconditioned sharpness, others on the raw one. */
  const char *op = "precond", *tname = "precond_threshold";
  if ((rc = db_eig_series(db, run, op, 0, &ss, &S, &ns, err))) goto out;
  if (ns == 0) {
    op = "hessian";
    tname = "sharpness_threshold";
    if ((rc = db_eig_series(db, run, op, 0, &ss, &S, &ns, err))) goto out;
  }
  if (ns == 0) {
    rc = err_set(err, CS_ENOTFOUND, "run %lld has no sharpness measurements (train with --probe sharpness)",
                 (long long)run);
    goto out;
  }
  if ((rc = db_metric_series(db, run, tname, &ts, &T, &nt, err))) goto out;
  if ((rc = db_step_series(db, run, "loss", &ls, &L, &nl, err))) goto out;
  if ((rc = db_metric_series(db, run, "out_norm", &os, &O, &no, err))) goto out;
  thr = malloc(ns * sizeof *thr);
  on = malloc(ns * sizeof *on);
  if (!thr || !on) {
    rc = err_set(err, CS_ENOMEM, "out of memory");
    goto out;
  }
  align(ss, ns, ts, T, nt, thr);
  align(ss, ns, os, O, no, on);
  int have_on = no > 0;
  for (size_t i = 0; i < ns; i++) {
    if (isnan(thr[i])) {
      rc = err_set(err, CS_EFORMAT, "run %lld: no %s recorded at step %ld", (long long)run, tname,
                   ss[i]);
      goto out;
    }
    if (isnan(on[i])) have_on = 0;
  }
  EosOptions eo;
  eos_options_default(&eo);
  eo.iii_ends_at_crossing = iii_at_crossing;
  if ((rc = eos_analyze(&eo, ss, S, thr, ns, ls, L, nl, have_on ? on : NULL, &sum, err))) goto out;
  struct { const char *name; double v; } m[] = {
      {"eos_onset", sum.onset >= 0 ? (double)sum.onset : NAN},
      {"eos_slope", sum.slope},
      {"eos_ratio_median", sum.ratio_median},
      {"eos_ratio_iqr", sum.ratio_iqr},
      {"loss_increases_before", (double)sum.loss_up_before},
      {"loss_increases_after", (double)sum.loss_up_after},
      {"loss_steps_before", (double)sum.loss_steps_before},
      {"loss_steps_after", (double)sum.loss_steps_after},
      {"anomaly_fraction", sum.anomaly_fraction},
      /* two quantities, two names: Adam's analysis is on the preconditioned one */
      {strcmp(op, "precond") ? "max_sharpness" : "max_precond_sharpness", sum.max_sharpness},
  };
  for (size_t i = 0; i < sizeof m / sizeof *m; i++)
    if (!isnan(m[i].v) && (rc = db_metric_put(db, run, -1, m[i].name, m[i].v, err))) goto out;
  if ((rc = db_phases_clear(db, run, err))) goto out;
  for (int i = 0; i < sum.nphases; i++) {
    const EosPhase *p = &sum.phases[i];
    StrBuf d;
    sb_init(&d);
    sb_append(&d, "{\"operator\":");
    sb_json_str(&d, op);
    sb_append(&d, ",\"mean_sharpness\":");
    sb_json_num(&d, p->mean_sharpness);
    sb_append(&d, ",\"max_ratio\":");
    sb_json_num(&d, p->max_ratio);
    sb_printf(&d, ",\"iii_ends_at\":\"%s\"}", iii_at_crossing ? "crossing" : "peak");
    rc = db_phase_put(db, run, p->label, p->start_step, p->end_step, d.p, err);
    sb_free(&d);
    if (rc) goto out;
  }
  if (print) {
    printf("run %lld (%s sharpness, %zu measurements):\n", (long long)run, op, ns);
    printf("  max sharpness %.6g; threshold at the end %.6g\n", sum.max_sharpness, thr[ns - 1]);
    if (sum.onset < 0) {
      printf("  never reached the threshold (progressive sharpening slope %.4g per step)\n", sum.slope);
    } else {
      printf("  edge of stability from step %ld (sharpening slope before it %.4g per step)\n",
             sum.onset, sum.slope);
      printf("  after it, sharpness/threshold: median %.4f, IQR %.4f over %ld measurements\n",
             sum.ratio_median, sum.ratio_iqr, sum.ratio_count);
    }
    printf("  loss increases: %ld of %ld steps before, %ld of %ld after\n", sum.loss_up_before,
           sum.loss_steps_before, sum.loss_up_after, sum.loss_steps_after);
    if (!isnan(sum.anomaly_fraction))
      printf("  anomaly fraction (output-layer norm vs sharpness): %.3f\n", sum.anomaly_fraction);
    printf("  phases:");
    for (int i = 0; i < sum.nphases; i++)
      printf(" %s[%ld-%ld]", sum.phases[i].label, sum.phases[i].start_step, sum.phases[i].end_step);
    printf("\n");
  }
out:
  eos_summary_free(&sum);
  free(ss), free(ts), free(ls), free(os);
  free(S), free(T), free(L), free(O), free(thr), free(on);
  return rc;
}

/* --lr LIST: cli_parse_lr_list (cli.h). */
typedef struct EosArgs {
  char lr[256];
  long n, every, samples, run;
  double track_tol, update_tol; /* update_tol 0: track_tol */
  int iii_at_crossing;
  char track_stop[16]; /* value | residual: the tracker's full solves (probe stop=) */
} EosArgs;

static void show_update_tol(const void *base, const CliOpt *opt, char *out, size_t n) {
  double u = ((const EosArgs *)base)->update_tol;
  (void)opt;
  if (u > 0) snprintf(out, n, "%g", u);
  else snprintf(out, n, "--track-tol");
}

static int parse_update_tol(void *base, const CliOpt *opt, const char *value, Err *err) {
  double *u = &((EosArgs *)base)->update_tol;
  (void)opt;
  if (parse_double(value, u) || !(*u > 0))
    return err_set(err, CS_EINVAL, "--update-tol '%s' is not a positive number", value);
  return CS_OK;
}

static const CliOpt eos_opts[] = {
    OPT_STR(EosArgs, lr, "LIST", "step sizes, comma- or dash-separated (one run each)", NULL),
    OPT_LONG(EosArgs, n, "N", "training images (the preset's data: fashion-mnist:n=N,test=1000,"
             "standardize=full)", NULL),
    OPT_LONG(EosArgs, every, "K", "sharpness every K steps", NULL),
    OPT_LONG(EosArgs, samples, "N", "examples in the Hessian (0: all)", NULL),
    OPT_POS(EosArgs, track_tol, "T", "eigen tolerance of the sharpness measurements", "tol"),
    OPT_FN(EosArgs, update_tol, "U", "accept a one-product tracker update within U; with --every "
           "1, e.g. --track-tol 1e-3 --update-tol 1e-2 measures every step for a few products "
           "(docs/TRACKING.md)", NULL, parse_update_tol, show_update_tol),
    OPT_STR(EosArgs, track_stop, "RULE", "the sharpness solves stop on the 'value' bound "
            "(est^2/gap <= tol |lambda|: the value to tol, about half the products) or the "
            "'residual' (<= tol |lambda|; docs/TRACKING.md)", NULL),
    OPT_ID(EosArgs, run, "analyse this stored run instead of training (with --db, --threads)"),
    OPT_FLAG(EosArgs, iii_at_crossing, "phase III ends at the downward crossing of the "
             "threshold, not the peak", NULL),
    OPT_END};

static void help(const OptTable *t, int nt) {
  printf(
      "usage: curvscope study eos [--lr 0.01,0.02,...] [options]   run Cohen et al.'s experiment\n"
      "       curvscope study eos --run ID [--db runs.db] [--iii-at-crossing]   analyse a run\n\n"
      "The experiment: fc-tanh 784-200-200-10 on the first N Fashion-MNIST training images\n"
      "(standardised with full-training-set statistics), MSE, full-batch GD at each step size\n"
      "until 99%% training accuracy or --steps, sharpness tracked every --every steps. One run\n"
      "per step size, grouped so the report shows them side by side (--group names the\n"
      "group, --name prefixes the runs' names).\n\n");
  opts_help_print(stdout, t, nt);
}

int study_eos(int argc, char **argv) {
  Err err = {0};
  EosArgs e = {"0.02,0.04", 5000, 10, 0, -1, 1e-6, 0, 0, "value"};
  RunOpts base;
  run_opts_default(&base);
  base.steps = 3000;
  base.stop_acc = 0.99;
  snprintf(base.data, sizeof base.data, "fashion-mnist:n=N,test=1000,standardize=full");
  unsigned char seen[OPTS_MAX_LINES] = {0}, eseen[OPTS_MAX_LINES] = {0};
  OptTable t[] = {{eos_opts, &e, "study options", eseen},
                  {run_opts_table, &base, "train options (the preset's; --eval-every default "
                   "10 x --every, --checkpoint-every --steps/4)", seen}};
  if (cli_is_help(argc, argv)) {
    help(t, 2);
    return EXIT_OK;
  }
  if (opts_parse(t, 2, argc, argv, 1, NULL, NULL, &err)) return cli_fail(&err);
  if (e.run >= 0) { /* the analysis of a stored run */
    Db *db = NULL;
    int rc = run_opts_refuse_training(&t[1], &err);
    threads_set((int)base.threads);
    if (!rc) rc = cli_db_open_existing(base.db, &db, &err);
    if (!rc) rc = cli_eos_analyze_run(db, e.run, e.iii_at_crossing, 1, &err);
    db_close(db);
    return rc ? cli_fail(&err) : EXIT_OK;
  }
  double lr[16];
  int nlr = 0;
  if (cli_parse_lr_list("--lr", e.lr, lr, 16, &nlr, &err)) return cli_fail(&err);
  if (base.nprobes >= RUN_MAX_PROBES) {
    err_set(&err, CS_EINVAL, "at most %d --probe flags beside the study's sharpness probe",
            RUN_MAX_PROBES - 1);
    return cli_fail(&err);
  }
  if (strcmp(e.track_stop, "value") && strcmp(e.track_stop, "residual")) {
    Err serr = {0};
    err_set(&serr, CS_EINVAL, "--track-stop '%s': expected value or residual", e.track_stop);
    return cli_fail(&serr);
  }
  if (!opts_seen(&t[1], "data"))
    snprintf(base.data, sizeof base.data, "fashion-mnist:n=%ld,test=1000,standardize=full", e.n);
  if (!opts_seen(&t[1], "eval_every")) base.eval_every = e.every * 10;
  if (!opts_seen(&t[1], "checkpoint_every"))
    base.checkpoint_every = base.steps / 4 > 0 ? base.steps / 4 : 1;
  snprintf(base.study, sizeof base.study, "eos");
  if (!base.group[0]) cli_study_group("eos", base.group, sizeof base.group);
  int len = snprintf(base.probe[base.nprobes], sizeof base.probe[0],
                     "sharpness:every=%ld,k=2,samples=%ld,tol=%.17g", e.every, e.samples,
                     e.track_tol);
  if (e.update_tol > 0)
    len += snprintf(base.probe[base.nprobes] + len, sizeof base.probe[0] - (size_t)len,
                    ",update_tol=%.17g", e.update_tol);
  snprintf(base.probe[base.nprobes] + len, sizeof base.probe[0] - (size_t)len, ",stop=%s",
           e.track_stop);
  base.nprobes++;
  threads_set((int)base.threads);
  Db *db = NULL;
  cli_install_stop_signals();
  int code = EXIT_OK;
  /* The preset: one run per step size. */
  for (int i = 0; i < nlr && code == EXIT_OK && !train_stop_requested(); i++) {
    RunOpts o = base;
    o.lr = lr[i];
    snprintf(o.name, sizeof o.name, "%.100s lr=%g", base.name[0] ? base.name : "eos", lr[i]);
    RunExtras x = {.eos_iii_at_crossing = e.iii_at_crossing}; /* the analysis after training */
    code = cli_train_run_with(&o, o.db, &db, &x, NULL, 1);
  }
  db_close(db);
  return cli_stop_exit(code);
}
