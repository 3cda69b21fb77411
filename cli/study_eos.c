/* study_eos.c: `curvscope study eos`: Cohen et al.'s experiment, and the EoS analysis of a run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/json.h"
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

/* --lr LIST: step sizes separated by ',' (each may be written 1e-3) or joined by '-' as
 * lists in specs are (0.02-0.04); each must be a valid learning rate (optconfig_check). */
static int parse_lrs(const char *text, double *lr, int max, int *n, Err *err) {
  char buf[256];
  *n = 0;
  if (strlen(text) >= sizeof buf)
    return err_set(err, CS_EINVAL, "--lr '%.40s...' is too long", text);
  strcpy(buf, text);
  for (char *item = buf;;) {
    char *comma = strchr(item, ',');
    if (comma) *comma = '\0';
    int k = 0;
    if (*n < max && parse_double(item, &lr[*n]) == CS_OK)
      k = 1;
    else if (spec_parse_double_list(item, lr + *n, max - *n, &k, err))
      return err_prefix(err, "--lr '%s'", text);
    *n += k;
    if (!comma) break;
    item = comma + 1;
  }
  for (int i = 0; i < *n; i++) {
    OptConfig c;
    optconfig_default(&c);
    c.lr = lr[i];
    if (optconfig_check(&c, err)) return err_prefix(err, "--lr '%s'", text);
  }
  return CS_OK;
}

static void help(void) {
  printf(
      "usage: curvscope study eos [--lr 0.01,0.02,...] [options]   run Cohen et al.'s experiment\n"
      "       curvscope study eos --run ID [--db runs.db] [--iii-at-crossing]   analyse a run\n\n"
      "The experiment: fc-tanh 784-200-200-10 on the first N Fashion-MNIST training images\n"
      "(standardised with full-training-set statistics), MSE, full-batch GD at each step size\n"
      "until 99%% training accuracy or --steps, sharpness tracked every --every steps. One run\n"
      "per step size, grouped so the report shows them side by side.\n\n"
      "  --lr LIST         step sizes, comma- or dash-separated (default 0.02,0.04)\n"
      "  --n N             training images (default 5000)\n"
      "  --steps N         step cap (default 3000)\n"
      "  --every K         sharpness every K steps (default 10)\n"
      "  --samples N       examples in the Hessian (default: all)\n"
      "  --tol T           eigen tolerance of the sharpness measurements (default 1e-6)\n"
      "  --update-tol U    accept a one-product tracker update within U (default: --tol);\n"
      "                    with --every 1, e.g. --tol 1e-3 --update-tol 1e-2 measures every\n"
      "                    step for a few products (docs/TRACKING.md)\n"
      "  --stop-acc F      stop at this training accuracy (default 0.99)\n"
      "  --data SPEC / --model SPEC / --act A   override the preset's data and network\n"
      "  --db FILE --threads N --seed N --quiet   (--threads: at most 4 per core and 63)\n"
      "  --iii-at-crossing Phase III ends at the downward crossing of the threshold, not the peak\n");
}

int study_eos(int argc, char **argv) {
  if (cli_is_help(argc, argv)) {
    help();
    return EXIT_OK;
  }
  Err err = {0};
  const char *db_path = "runs.db", *lrs = "0.02,0.04", *data = NULL, *model = NULL, *act = NULL;
  long run = -1, n = 5000, steps = 3000, every = 10, samples = 0, threads = 0, seed = 0;
  double stop_acc = 0.99, tol = 1e-6, update_tol = 0;
  int crossing = 0, quiet = 0;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (!strcmp(f, "--iii-at-crossing")) { crossing = 1; continue; }
    if (!strcmp(f, "--quiet")) { quiet = 1; continue; }
    if (i + 1 >= argc) {
      fprintf(stderr, "curvscope study eos: option '%s' needs a value\n", f);
      return EXIT_USAGE;
    }
    const char *v = argv[++i];
    long *lp = NULL;
    if (!strcmp(f, "--db")) db_path = v;
    else if (!strcmp(f, "--lr")) lrs = v;
    else if (!strcmp(f, "--data")) data = v;
    else if (!strcmp(f, "--model")) model = v;
    else if (!strcmp(f, "--act")) act = v;
    else if (!strcmp(f, "--stop-acc") || !strcmp(f, "--tol") || !strcmp(f, "--update-tol")) {
      double *dp = f[2] == 's' ? &stop_acc : f[2] == 't' ? &tol : &update_tol;
      if (parse_double(v, dp) || !(*dp > 0)) {
        fprintf(stderr, "curvscope study eos: %s '%s' is not a positive number\n", f, v);
        return EXIT_USAGE;
      }
    } else {
      if (!strcmp(f, "--run")) lp = &run;
      else if (!strcmp(f, "--n")) lp = &n;
      else if (!strcmp(f, "--steps")) lp = &steps;
      else if (!strcmp(f, "--every")) lp = &every;
      else if (!strcmp(f, "--samples")) lp = &samples;
      else if (!strcmp(f, "--threads")) lp = &threads;
      else if (!strcmp(f, "--seed")) lp = &seed;
      else {
        fprintf(stderr, "curvscope study eos: unknown option '%s' (see --help)\n", f);
        return EXIT_USAGE;
      }
      if (parse_long(v, lp) || *lp < 0) {
        fprintf(stderr, "curvscope study eos: %s '%s' is not a non-negative integer\n", f, v);
        return EXIT_USAGE;
      }
    }
  }
  if (threads_check(threads, &err)) return cli_fail(&err);
  double lr[16];
  int nlr = 0;
  if (run < 0 && parse_lrs(lrs, lr, 16, &nlr, &err)) return cli_fail(&err);
  threads_set((int)threads);
  Db *db = NULL;
  if (run >= 0) {
    int rc = cli_db_open_existing(db_path, &db, &err);
    if (!rc) rc = cli_eos_analyze_run(db, run, crossing, 1, &err);
    db_close(db);
    return rc ? cli_fail(&err) : EXIT_OK;
  }
  /* The preset: one run per step size. */
  char group[64];
  cli_study_group("eos", group, sizeof group);
  cli_install_stop_signals();
  int code = EXIT_OK;
  for (int i = 0; i < nlr && code == EXIT_OK && !train_stop_requested(); i++) {
    RunOpts o;
    run_opts_default(&o);
    snprintf(o.data, sizeof o.data, "fashion-mnist:n=%ld,test=1000,standardize=full", n);
    /* The overrides go through the option table, which checks them as train does. */
    const char *keys[] = {"data", "model", "act"}, *vals[] = {data, model, act};
    for (int k = 0; k < 3; k++)
      if (vals[k] && run_opts_set(&o, keys[k], vals[k], &err)) {
        db_close(db);
        return cli_fail(&err);
      }
    o.lr = lr[i];
    o.steps = steps;
    o.stop_acc = stop_acc;
    o.seed = seed;
    o.eval_every = every * 10;
    o.checkpoint_every = steps / 4 > 0 ? steps / 4 : 1;
    o.quiet = quiet;
    int len = snprintf(o.probe[0], sizeof o.probe[0], "sharpness:every=%ld,k=2,samples=%ld,tol=%.17g",
                       every, samples, tol);
    if (update_tol > 0)
      snprintf(o.probe[0] + len, sizeof o.probe[0] - (size_t)len, ",update_tol=%.17g", update_tol);
    o.nprobes = 1;
    snprintf(o.study, sizeof o.study, "eos");
    snprintf(o.group, sizeof o.group, "%s", group);
    snprintf(o.name, sizeof o.name, "eos lr=%g", lr[i]);
    int64_t id;
    code = cli_train_run(&o, db_path, &db, &id, 1);
    if (code == EXIT_OK && cli_eos_analyze_run(db, id, crossing, 1, &err))
      fprintf(stderr, "curvscope: analysis of run %lld: %s\n", (long long)id, err.msg);
  }
  db_close(db);
  return cli_stop_exit(code);
}
