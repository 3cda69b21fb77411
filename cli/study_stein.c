/* study_stein.c: `curvscope study stein`: neural Stein critics with staged L2
 * regularisation as a goodness-of-fit test (Repasky, Cheng and Xie), power or level over
 * repeats, one run per λ schedule (docs/STEIN.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/dataset.h"
#include "core/json.h"
#include "core/spec.h"
#include "core/threads.h"
#include "core/train.h"
#include "opts.h"
#include "studies/stein/stein.h"

typedef struct StudyOpts {
  char dist[256], critic[128], act[32], div[64], db[512], data[1024], name[64], group[64];
  char lambda[STEIN_MAX_SCHEDULES][64]; /* --lambda is repeatable: nlambda given */
  int nlambda;
  double pert;  /* < 0: the preset's */
  int null, ksd, quiet;
  long n_train, n_val, n_test, n_null, epochs, batch, repeats, boot, seed, threads;
  double lr, alpha;
  Precision precision;
  SteinStudyOpts so;  /* filled from the fields above (study_opts_check) */
} StudyOpts;

static int parse_lambda(void *base, const CliOpt *opt, const char *v, Err *err) {
  StudyOpts *o = base;
  (void)opt;
  if (o->nlambda >= STEIN_MAX_SCHEDULES)
    return err_set(err, CS_EINVAL, "--lambda '%s' is one schedule too many (16 at most)", v);
  if (strlen(v) >= sizeof o->lambda[0]) return err_set(err, CS_EINVAL, "--lambda '%s' is too long", v);
  snprintf(o->lambda[o->nlambda++], sizeof o->lambda[0], "%s", v);
  return CS_OK;
}

static void show_lambda(const void *base, const CliOpt *opt, char *out, size_t n) {
  (void)base, (void)opt;
  snprintf(out, n, "staged");
}

static int parse_pert(void *base, const CliOpt *opt, const char *v, Err *err) {
  double *p = &((StudyOpts *)base)->pert;
  (void)opt;
  if (parse_double(v, p) || *p < 0) return err_set(err, CS_EINVAL, "--pert '%s' is not a number >= 0", v);
  return CS_OK;
}

static void show_pert(const void *base, const CliOpt *opt, char *out, size_t n) {
  (void)base, (void)opt;
  snprintf(out, n, "the --dist spec's");
}

static void show_n_null(const void *base, const CliOpt *opt, char *out, size_t n) {
  (void)base, (void)opt;
  snprintf(out, n, "3 x --n-test");
}

#define S_LONG(f, h) OPT_LONG(StudyOpts, f, "N", h, NULL)
static const CliOpt stein_opts[] = {
    OPT_STR(StudyOpts, dist, "SPEC", "p and q: gauss:d=D[,pert=S] | gauss-mixture:d=25 | "
            "rbm:dx=50,dh=40[,pert=0.02][,burnin=2000]", NULL),
    OPT_FN(StudyOpts, pert, "S", "the perturbation of p (gauss: mean shift, rbm: B + S*N(0,1))",
           NULL, parse_pert, show_pert),
    OPT_FLAG(StudyOpts, null, "p = q (measures the level)", NULL),
    OPT_STR(StudyOpts, data, "SPEC", "p's samples from data instead (e.g. csv:x.csv,label=none: a "
            "header row and d columns matching --dist's q, no label column); each repeat splits its rows afresh", NULL),
    S_LONG(n_train, "samples of p to train on (2..10000000)"),
    S_LONG(n_val, "validation samples (2..10000000)"),
    S_LONG(n_test, "test samples (2..10000000)"),
    {"n_null", OPT_FN, offsetof(StudyOpts, n_null), 0, "N", "samples of q for the bootstrap null",
     NULL, opts_parse_id, show_n_null},
    S_LONG(epochs, "critic training epochs"),
    S_LONG(batch, "critic mini-batch size"),
    OPT_POS(StudyOpts, lr, "F", "Adam's learning rate", NULL),
    OPT_STR(StudyOpts, critic, "WIDTHS", "the critic's hidden widths", NULL),
    OPT_STR(StudyOpts, act, "A", "hidden activation", NULL),
    OPT_STR(StudyOpts, div, "SPEC", "training divergence: exact | hutchinson[:probes=M]; "
            "validation and tests use the exact one", NULL),
    OPT_FN(StudyOpts, lambda, "SPEC", "staged[:init=0.4,decay=0.85,final=5e-4] | fixed:L; repeat it "
           "for a grid (one run each)", NULL, parse_lambda, show_lambda),
    S_LONG(repeats, "fresh draws"),
    OPT_POS(StudyOpts, alpha, "F", "test level, in (0, 1)", NULL),
    S_LONG(boot, "bootstrap draws"),
    OPT_FLAG(StudyOpts, ksd, "also the kernel Stein discrepancy test on the same draws", NULL),
    S_LONG(seed, "seed of the draws and the critics"),
    OPT_THREADS(StudyOpts, threads),
    OPT_PRECISION(StudyOpts, precision),
    OPT_STR(StudyOpts, db, "FILE", "SQLite database", NULL),
    OPT_STR(StudyOpts, name, "NAME", "the runs' name prefix (each adds its schedule)", NULL),
    OPT_STR(StudyOpts, group, "NAME", "the runs' group (default: stein-DATE-TIME-PID)", NULL),
    OPT_FLAG(StudyOpts, quiet, "no progress line", "q"),
    OPT_END};

static void help(const OptTable *t) {
  printf(
      "usage: curvscope study stein [options]\n\n"
      "Trains a critic f: R^d -> R^d (an MLP) to maximise E_p[s_q·f + div f] - (lambda/2) E_p|f|^2\n"
      "on samples of p, for a model q with an analytic score s_q (optimum (s_q - s_p)/lambda),\n"
      "then tests p = q on held-out samples: the mean of s_q·f + div f against a bootstrap null\n"
      "from samples of q, and the studentised form sqrt(n) mean/sd against the normal quantile.\n"
      "Power (or, with --null, level) over --repeats fresh draws; one run per --lambda\n"
      "schedule, all on the same draws (docs/STEIN.md).\n\n");
  opts_help_print(stdout, t, 1);
  printf("\nexample:\n  curvscope study stein --dist gauss-mixture:d=25 --n-test 500 --repeats 10 "
         "--lambda staged --lambda fixed:1e-3 --ksd\n");
}

static int bad(const char *flag, const char *v, const char *want) {
  if (v[0]) fprintf(stderr, "curvscope study stein: %s '%s' %s\n", flag, v, want);
  else fprintf(stderr, "curvscope study stein: %s %s\n", flag, want);
  return EXIT_USAGE;
}

static int check_count(const char *flag, long v, long lo, long hi) {
  if (v >= lo && v <= hi) return EXIT_OK;
  char shown[32], want[96];
  snprintf(shown, sizeof shown, "%ld", v);
  snprintf(want, sizeof want, "is not an integer in %ld..%ld", lo, hi);
  return bad(flag, shown, want);
}

/* The ranges and specs the table does not check; then o->so from the fields. */
static int study_opts_check(StudyOpts *o) {
  static const char *const nflag[] = {"--n-train", "--n-val", "--n-test"};
  const long nval[] = {o->n_train, o->n_val, o->n_test};
  int rc = EXIT_OK;
  for (int i = 0; i < 3 && !rc; i++) rc = check_count(nflag[i], nval[i], 2, 10000000);
  if (!rc && o->n_null >= 0) rc = check_count("--n-null", o->n_null, 2, 10000000);
  if (!rc) rc = check_count("--epochs", o->epochs, 1, 1000000);
  if (!rc) rc = check_count("--batch", o->batch, 1, 1000000);
  if (!rc) rc = check_count("--repeats", o->repeats, 1, 1000000);
  if (!rc) rc = check_count("--boot", o->boot, 1, 1000000);
  if (!rc) rc = check_count("--seed", o->seed, 0, 1L << 53);
  if (rc) return rc;
  if (!(o->alpha < 1)) {
    char shown[32];
    snprintf(shown, sizeof shown, "%g", o->alpha);
    return bad("--alpha", shown, "is not a number in (0, 1)");
  }
  long w[NET_MAX_LAYERS];
  int nw = 0;
  Err e = {0};
  if (spec_parse_int_list(o->critic, w, NET_MAX_LAYERS - 1, &nw, &e) || nw < 1)
    return bad("--critic", o->critic, "is not a list of hidden widths (e.g. 512-512)");
  Act a;
  if (act_parse(o->act, &a, &e)) return bad("--act", o->act, "is not an activation (swish, tanh, softplus, ...)");
  if (stein_div_parse(o->div, &o->so.fit.div, &e)) return bad("--div", o->div, e.msg);
  if (!o->nlambda) snprintf(o->lambda[o->nlambda++], sizeof o->lambda[0], "staged");
  for (int k = 0; k < o->nlambda; k++)
    if (stein_lambda_parse(o->lambda[k], &o->so.sched[k], &e)) return bad("--lambda", o->lambda[k], e.msg);
  o->so.nsched = o->nlambda;
  o->so.n_train = (size_t)o->n_train;
  o->so.n_val = (size_t)o->n_val;
  o->so.n_test = (size_t)o->n_test;
  o->so.n_null = o->n_null >= 0 ? (size_t)o->n_null : 3 * o->so.n_test;
  o->so.fit.epochs = o->epochs;
  o->so.fit.batch = o->batch;
  o->so.fit.lr = o->lr;
  o->so.repeats = o->repeats;
  o->so.boot = o->boot;
  o->so.alpha = o->alpha;
  o->so.ksd = o->ksd;
  o->so.precision = o->precision;
  return EXIT_OK;
}

/* The run's configuration as JSON: the options as given, with the schedule. */
static char *config_json(const StudyOpts *o, const SteinPair *pr, int k) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "{\"dist\":");
  sb_json_str(&b, o->dist);
  sb_printf(&b, ",\"pert\":");
  sb_json_num(&b, pr->pert);
  sb_printf(&b, ",\"null\":%s,\"data\":", o->null ? "true" : "false");
  if (o->data[0]) sb_json_str(&b, o->data);
  else sb_append(&b, "null");
  sb_append(&b, ",\"lambda\":");
  sb_json_str(&b, o->lambda[k]);
  sb_append(&b, ",\"critic\":");
  sb_json_str(&b, o->critic);
  sb_append(&b, ",\"act\":");
  sb_json_str(&b, o->act);
  sb_append(&b, ",\"div\":");
  sb_json_str(&b, o->div);
  sb_printf(&b, ",\"n_train\":%zu,\"n_val\":%zu,\"n_test\":%zu,\"n_null\":%zu,\"epochs\":%ld,"
                "\"batch\":%ld,\"opt\":\"adam\",\"lr\":",
            o->so.n_train, o->so.n_val, o->so.n_test, o->so.n_null, o->so.fit.epochs,
            o->so.fit.batch);
  sb_json_num(&b, o->so.fit.lr);
  sb_printf(&b, ",\"repeats\":%ld,\"boot\":%ld,\"ksd\":%s,\"seed\":%ld,\"precision\":\"%s\","
                "\"alpha\":", o->so.repeats, o->so.boot, o->so.ksd ? "true" : "false", o->seed,
            precision_name(o->precision));
  sb_json_num(&b, o->so.alpha);
  sb_append(&b, "}");
  return sb_take(&b);
}

/* One run per schedule: metrics and per-epoch series (docs/SCHEMA.md). */
static int record_runs(Db *db, const StudyOpts *o, const SteinPair *pr, const Net *net,
                       const SteinStudyResult *res, int64_t *ids, Err *err) {
  char group[sizeof o->group];
  if (o->group[0]) snprintf(group, sizeof group, "%s", o->group);
  else cli_study_group("stein", group, sizeof group);
  const char *tag = o->null ? "level" : "power";
  double R = (double)res->repeats;
  char *layout = net_layout_json(net);
  int rc = CS_OK;
  for (int k = 0; k < res->nsched && !rc; k++) {
    const SteinScheduleResult *sr = &res->sched[k];
    char name[160], mname[64];
    snprintf(name, sizeof name, "%s %s %s%s", o->name[0] ? o->name : "stein", o->lambda[k],
             pr->name, o->null ? " null" : "");
    char *config = config_json(o, pr, k);
    Recorder rec;
    if ((rc = db_recorder_open(db, &rec, err))) {
      free(config);
      break;
    }
    RunInfo info = {name, "stein", group, config, (uint64_t)o->seed, net->n_params, layout};
    rc = rec_run_begin(&rec, &info, &ids[k], err);
    free(config);
    struct { const char *fmt; double v; } m[] = {
        {"stein_%s", (double)sr->rejects / R},
        {"stein_%s_t", (double)sr->rejects_t / R},
        {"ksd_%s", o->so.ksd ? (double)res->ksd_rejects / R : NAN},
        {"stein_best_epoch", sr->best_epoch_mean},
        {"stein_critic_err_min", sr->critic_err_min},
        {"stein_repeats", R},
        {"stein_pert", pr->pert},
        {"stein_n_test", (double)o->so.n_test},
        {"stein_wall_s", res->wall_s},
    };
    for (size_t j = 0; j < sizeof m / sizeof *m && !rc; j++) {
      snprintf(mname, sizeof mname, m[j].fmt, tag);
      if (!isnan(m[j].v)) rc = rec_metric(&rec, -1, mname, m[j].v, err);
    }
    size_t ne = (size_t)sr->mean.epochs;
    if (!rc) rc = rec_series(&rec, -1, "stein_lambda", ne, sr->mean.lambda, err);
    if (!rc) rc = rec_series(&rec, -1, "stein_critic_err", ne, sr->mean.critic_err, err);
    if (!rc) rc = rec_series(&rec, -1, "stein_val_obj", ne, sr->mean.val_obj, err);
    if (!rc) rc = rec_series(&rec, -1, "stein_val_stat", ne, sr->mean.val_stat, err);
    Err end_err = {0};
    int erc = rec_run_end(&rec, rc ? "failed" : res->repeats < o->so.repeats ? "interrupted"
                                                                              : "finished",
                          rc ? err->msg : NULL, &end_err);
    if (!rc && erc) rc = erc, *err = end_err;
    db_recorder_close(&rec);
  }
  free(layout);
  return rc;
}

/* After each repeat: the rates so far of the first schedule and KSD, time per repeat,
 * ETA (cli/progress.c decides how it shows). */
typedef struct SteinProgress {
  CliProgress cp;
  const StudyOpts *o;
} SteinProgress;

static void stein_progress(void *ctx, const SteinStudyResult *res, long total) {
  SteinProgress *sp = ctx;
  const char *tag = sp->o->null ? "level" : "power";
  double R = (double)res->repeats, per = res->wall_s / R;
  char line[256];
  int n = snprintf(line, sizeof line, "repeat %ld/%ld  %s %s %.3f", res->repeats, total,
                   sp->o->lambda[0], tag, res->sched[0].rejects / R);
  if (res->nsched > 1 && n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, " (+%d schedules)", res->nsched - 1);
  if (sp->o->so.ksd && n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, "  ksd %.3f", res->ksd_rejects / R);
  if (n < (int)sizeof line)
    snprintf(line + n, sizeof line - (size_t)n, "  %.1f s/repeat  ETA %.0fs", per,
             per * (double)(total - res->repeats));
  cli_progress_show(&sp->cp, line, 1);
}

static void print_summary(const StudyOpts *o, const SteinStudyResult *res, const int64_t *ids) {
  const char *tag = o->null ? "level" : "power";
  printf("\n%-6s %-34s %9s %9s %10s %10s\n", "run", "lambda", tag, "studentised", "best epoch",
         "min err");
  double R = (double)res->repeats;
  for (int k = 0; k < res->nsched; k++) {
    const SteinScheduleResult *sr = &res->sched[k];
    printf("%-6lld %-34s %9.3f %11.3f %10.1f %10.3g\n", (long long)ids[k], o->lambda[k],
           sr->rejects / R, sr->rejects_t / R, sr->best_epoch_mean, sr->critic_err_min);
  }
  if (o->so.ksd) printf("KSD %s: %.3f\n", tag, res->ksd_rejects / R);
  printf("%ld repeats, %.1f s\n", res->repeats, res->wall_s);
}

int study_stein(int argc, char **argv) {
  StudyOpts o;
  memset(&o, 0, sizeof o);
  snprintf(o.dist, sizeof o.dist, "gauss-mixture:d=25");
  snprintf(o.critic, sizeof o.critic, "512-512");
  snprintf(o.act, sizeof o.act, "swish");
  snprintf(o.div, sizeof o.div, "hutchinson:probes=1");
  snprintf(o.db, sizeof o.db, "runs.db");
  o.pert = -1;
  o.n_train = 2000, o.n_val = 1000, o.n_test = 500, o.n_null = -1;
  o.epochs = 60, o.batch = 200, o.repeats = 10, o.boot = 500;
  o.lr = 1e-3, o.alpha = 0.05;
  o.so = (SteinStudyOpts){2000, 1000, 500, 0, 10, 500, 0.05,
                          {60, 200, 1e-3, {0}, {STEIN_DIV_HUTCHINSON, 1}, NULL}, {{0}}, 1, 0, 0, NULL, 0, NULL, NULL,
                          PREC_F64};
  OptTable t = {stein_opts, &o, NULL, NULL};
  if (cli_is_help(argc, argv)) {
    help(&t);
    return EXIT_OK;
  }
  Err err = {0};
  if (opts_parse(&t, 1, argc, argv, 1, NULL, NULL, &err)) return cli_fail(&err);
  int code = study_opts_check(&o);
  if (code) return code;
  o.so.seed = (uint64_t)o.seed;
  Rng rng;
  rng_seed_stream(&rng, o.so.seed, 1u << 20);  /* the RBM's parameters */
  SteinPair pr;
  if (stein_pair_parse(&pr, o.dist, o.pert, o.null, &rng, &err)) return bad("--dist", o.dist, err.msg);
  size_t d = pr.q.d;
  NetSpec ns;
  netspec_default(&ns);
  char model[256];
  snprintf(model, sizeof model, "mlp:%zu-%s-%zu,bias=zero", d, o.critic, d);
  Net net;
  if (netspec_parse_model(&ns, model, &err) || act_parse(o.act, &ns.act, &err) ||
      net_init(&net, &ns, NULL, &err)) {
    stein_pair_free(&pr);
    return bad("--critic", o.critic, err.msg);
  }
  Dataset *dtr = NULL, *dte = NULL;
  if (o.data[0]) {
    if (o.null || o.pert >= 0) {
      net_deinit(&net);
      stein_pair_free(&pr);
      return bad("--data", o.data, o.null ? "and --null exclude each other" : "and --pert exclude each other");
    }
    if (data_load(o.data, o.so.seed, &dtr, &dte, &err) || dtr->d != d) {
      char want[160];
      if (dtr) snprintf(want, sizeof want, "has %zu columns, q has d = %zu", dtr->d, d);
      dataset_free(dtr), dataset_free(dte);
      net_deinit(&net);
      stein_pair_free(&pr);
      return bad("--data", o.data, err.msg[0] ? err.msg : want);
    }
    if (o.so.n_train + o.so.n_val + o.so.n_test > dtr->n) {
      char want[160];
      snprintf(want, sizeof want, "has %zu rows, fewer than --n-train + --n-val + --n-test = %zu",
               dtr->n, o.so.n_train + o.so.n_val + o.so.n_test);
      dataset_free(dtr), dataset_free(dte);
      net_deinit(&net);
      stein_pair_free(&pr);
      return bad("--data", o.data, want);
    }
    o.so.data = dtr->X;
    o.so.n_data = dtr->n;
    snprintf(pr.name, sizeof pr.name, "data");
    pr.pert = NAN;  /* unknown: p is the data */
  }
  threads_set((int)o.threads);
  Db *db = NULL;
  if (cli_db_open(o.db, &db, &err)) {
    dataset_free(dtr), dataset_free(dte);
    net_deinit(&net);
    stein_pair_free(&pr);
    return cli_fail(&err);
  }
  cli_install_stop_signals();
  if (!o.quiet)
    fprintf(stderr, "stein: %s, critic %s (%zu parameters), %d schedule(s), %ld repeats\n",
            o.dist, model, net.n_params, o.so.nsched, o.so.repeats);
  SteinProgress sp = {.o = &o};
  if (!o.quiet) {
    if (cli_progress_init(&sp.cp, &err)) {
      dataset_free(dtr), dataset_free(dte);
      db_close(db);
      net_deinit(&net);
      stein_pair_free(&pr);
      return cli_fail(&err);
    }
    o.so.progress = stein_progress;
    o.so.progress_ctx = &sp;
  }
  SteinStudyResult res;
  int rc = stein_study_run(&pr, &net, &o.so, train_stop_requested, &res, &err);
  if (!o.quiet) cli_progress_end(&sp.cp);
  int64_t ids[STEIN_MAX_SCHEDULES] = {0};
  if (rc) {
    code = cli_fail(&err);
  } else if (!res.repeats) {
    fprintf(stderr, "curvscope: stein stopped before its first repeat; nothing recorded\n");
    code = EXIT_FAIL;
  } else if (record_runs(db, &o, &pr, &net, &res, ids, &err)) {
    code = cli_fail(&err);
  } else {
    print_summary(&o, &res, ids);
  }
  stein_study_result_free(&res);
  dataset_free(dtr), dataset_free(dte);
  db_close(db);
  net_deinit(&net);
  stein_pair_free(&pr);
  return cli_stop_exit(code);
}
