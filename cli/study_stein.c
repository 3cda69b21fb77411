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
#include "studies/stein/stein.h"

typedef struct StudyOpts {
  char dist[256], critic[128], act[32], div[64], db[512], data[1024];
  char lambda_text[STEIN_MAX_SCHEDULES][64];
  double pert;  /* < 0: the preset's */
  int null, quiet;
  long seed, threads;
  SteinStudyOpts so;
} StudyOpts;

static void help(void) {
  printf(
      "usage: curvscope study stein [options]\n\n"
      "Trains a critic f: R^d -> R^d (an MLP) to maximise E_p[s_q·f + div f] - (lambda/2) E_p|f|^2\n"
      "on samples of p, for a model q with an analytic score s_q (optimum (s_q - s_p)/lambda),\n"
      "then tests p = q on held-out samples: the mean of s_q·f + div f against a bootstrap null\n"
      "from samples of q, and the studentised form sqrt(n) mean/sd against the normal quantile.\n"
      "Power (or, with --null, level) over --repeats fresh draws; one run per --lambda\n"
      "schedule, all on the same draws (docs/STEIN.md).\n\n"
      "  --dist SPEC         p and q: gauss:d=D[,pert=S] | gauss-mixture:d=25 |\n"
      "                      rbm:dx=50,dh=40[,pert=0.02][,burnin=2000] (default gauss-mixture:d=25)\n"
      "  --pert S            the perturbation of p (gauss: mean shift, rbm: B + S*N(0,1))\n"
      "  --null              p = q (measures the level)\n"
      "  --data SPEC         p's samples from data instead (e.g. csv:x.csv,label=none: d columns\n"
      "                      matching --dist's q); each repeat splits its rows afresh\n"
      "  --n-train N         samples of p to train on (default 2000)\n"
      "  --n-val N           validation samples (default 1000)\n"
      "  --n-test N          test samples (default 500)\n"
      "  --n-null N          samples of q for the bootstrap null (default 3 x --n-test)\n"
      "  --epochs N          (default 60)\n"
      "  --batch N           (default 200)\n"
      "  --lr F              Adam's learning rate (default 1e-3)\n"
      "  --critic WIDTHS     hidden widths (default 512-512)\n"
      "  --act A             hidden activation (default swish)\n"
      "  --div SPEC          training divergence: exact | hutchinson[:probes=M] (default\n"
      "                      hutchinson:probes=1); validation and tests use the exact one\n"
      "  --lambda SPEC       staged[:init=0.4,decay=0.85,final=5e-4] | fixed:L; repeat it for a\n"
      "                      grid (default staged)\n"
      "  --repeats N         fresh draws (default 10)\n"
      "  --alpha F           test level (default 0.05)\n"
      "  --boot N            bootstrap draws (default 500)\n"
      "  --ksd               also the kernel Stein discrepancy test on the same draws\n"
      "  --seed N            (default 0)\n"
      "  --threads N         (default: all cores)\n"
      "  --db FILE           (default runs.db)\n"
      "  --quiet\n\n"
      "example:\n  curvscope study stein --dist gauss-mixture:d=25 --n-test 500 --repeats 10 "
      "--lambda staged --lambda fixed:1e-3 --ksd\n");
}

static int bad(const char *flag, const char *v, const char *want) {
  if (v[0]) fprintf(stderr, "curvscope study stein: %s '%s' %s\n", flag, v, want);
  else fprintf(stderr, "curvscope study stein: %s %s\n", flag, want);
  return EXIT_USAGE;
}

static int copy_str(char *out, size_t n, const char *flag, const char *v) {
  if (strlen(v) >= n) return bad(flag, v, "is too long");
  snprintf(out, n, "%s", v);
  return EXIT_OK;
}

static int parse_count(const char *flag, const char *v, long lo, long hi, long *out) {
  if (parse_long(v, out) || *out < lo || *out > hi) {
    char want[96];
    snprintf(want, sizeof want, "is not an integer in %ld..%ld", lo, hi);
    return bad(flag, v, want);
  }
  return EXIT_OK;
}

static int parse_args(int argc, char **argv, StudyOpts *o) {
  int nlam = 0;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (!strcmp(f, "--null")) { o->null = 1; continue; }
    if (!strcmp(f, "--ksd")) { o->so.ksd = 1; continue; }
    if (!strcmp(f, "--quiet")) { o->quiet = 1; continue; }
    if (strncmp(f, "--", 2)) return bad("argument", f, "is not an option (see --help)");
    static const char *const known[] = {
        "--dist",  "--pert",   "--n-train", "--n-val", "--n-test", "--n-null", "--epochs",
        "--batch", "--lr",     "--critic",  "--act",   "--div",    "--lambda", "--repeats",
        "--alpha", "--boot",   "--seed",    "--threads", "--db",    "--data"};
    int k = -1;
    for (int j = 0; j < (int)(sizeof known / sizeof *known); j++)
      if (!strcmp(f, known[j])) k = j;
    if (k < 0) return bad("option", f, "is unknown (see --help)");
    if (i + 1 >= argc) return bad(f, "", "needs a value");
    const char *v = argv[++i];
    long n = 0;
    int rc = EXIT_OK;
    switch (k) {
      case 0: rc = copy_str(o->dist, sizeof o->dist, f, v); break;
      case 1:
        if (parse_double(v, &o->pert) || o->pert < 0) rc = bad(f, v, "is not a number >= 0");
        break;
      case 2: case 3: case 4: case 5:
        if (!(rc = parse_count(f, v, 2, 10000000, &n))) {
          size_t *dst[] = {&o->so.n_train, &o->so.n_val, &o->so.n_test, &o->so.n_null};
          *dst[k - 2] = (size_t)n;
        }
        break;
      case 6: rc = parse_count(f, v, 1, 1000000, &o->so.fit.epochs); break;
      case 7: rc = parse_count(f, v, 1, 1000000, &o->so.fit.batch); break;
      case 8:
        if (parse_double(v, &o->so.fit.lr) || !(o->so.fit.lr > 0)) rc = bad(f, v, "is not a number > 0");
        break;
      case 9: {
        long w[NET_MAX_LAYERS];
        int nw = 0;
        Err e = {0};
        if (strlen(v) >= sizeof o->critic || spec_parse_int_list(v, w, NET_MAX_LAYERS - 1, &nw, &e) ||
            nw < 1)
          rc = bad(f, v, "is not a list of hidden widths (e.g. 512-512)");
        else
          snprintf(o->critic, sizeof o->critic, "%s", v);
        break;
      }
      case 10: {
        Act a;
        Err e = {0};
        if (act_parse(v, &a, &e)) rc = bad(f, v, "is not an activation (swish, tanh, softplus, ...)");
        else rc = copy_str(o->act, sizeof o->act, f, v);
        break;
      }
      case 11: {
        Err e = {0};
        if (stein_div_parse(v, &o->so.fit.div, &e)) rc = bad(f, v, e.msg);
        else rc = copy_str(o->div, sizeof o->div, f, v);
        break;
      }
      case 12: {
        Err e = {0};
        if (nlam >= STEIN_MAX_SCHEDULES) rc = bad(f, v, "is one schedule too many (16 at most)");
        else if (stein_lambda_parse(v, &o->so.sched[nlam], &e)) rc = bad(f, v, e.msg);
        else rc = copy_str(o->lambda_text[nlam++], sizeof o->lambda_text[0], f, v);
        break;
      }
      case 13: rc = parse_count(f, v, 1, 1000000, &o->so.repeats); break;
      case 14:
        if (parse_double(v, &o->so.alpha) || !(o->so.alpha > 0 && o->so.alpha < 1))
          rc = bad(f, v, "is not a number in (0, 1)");
        break;
      case 15: rc = parse_count(f, v, 1, 1000000, &o->so.boot); break;
      case 16: rc = parse_count(f, v, 0, 1L << 53, &o->seed); break;
      case 17: rc = parse_count(f, v, 0, THREADS_USER_MAX, &o->threads); break;
      case 18: rc = copy_str(o->db, sizeof o->db, f, v); break;
      case 19: rc = copy_str(o->data, sizeof o->data, f, v); break;
    }
    if (rc) return rc;
  }
  if (nlam) o->so.nsched = nlam;
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
  sb_json_str(&b, o->lambda_text[k]);
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
  sb_printf(&b, ",\"repeats\":%ld,\"boot\":%ld,\"ksd\":%s,\"seed\":%ld,\"alpha\":", o->so.repeats,
            o->so.boot, o->so.ksd ? "true" : "false", o->seed);
  sb_json_num(&b, o->so.alpha);
  sb_append(&b, "}");
  return sb_take(&b);
}

/* One run per schedule: metrics and per-epoch series (docs/SCHEMA.md). */
static int record_runs(Db *db, const StudyOpts *o, const SteinPair *pr, const Net *net,
                       const SteinStudyResult *res, int64_t *ids, Err *err) {
  char group[64];
  cli_study_group("stein", group, sizeof group);
  const char *tag = o->null ? "level" : "power";
  double R = (double)res->repeats;
  char *layout = net_layout_json(net);
  int rc = CS_OK;
  for (int k = 0; k < res->nsched && !rc; k++) {
    const SteinScheduleResult *sr = &res->sched[k];
    char name[160], mname[64];
    snprintf(name, sizeof name, "stein %s %s%s", o->lambda_text[k], pr->name, o->null ? " null" : "");
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

static void print_summary(const StudyOpts *o, const SteinStudyResult *res, const int64_t *ids) {
  const char *tag = o->null ? "level" : "power";
  printf("\n%-6s %-34s %9s %9s %10s %10s\n", "run", "lambda", tag, "studentised", "best epoch",
         "min err");
  double R = (double)res->repeats;
  for (int k = 0; k < res->nsched; k++) {
    const SteinScheduleResult *sr = &res->sched[k];
    printf("%-6lld %-34s %9.3f %11.3f %10.1f %10.3g\n", (long long)ids[k], o->lambda_text[k],
           sr->rejects / R, sr->rejects_t / R, sr->best_epoch_mean, sr->critic_err_min);
  }
  if (o->so.ksd) printf("KSD %s: %.3f\n", tag, res->ksd_rejects / R);
  printf("%ld repeats, %.1f s\n", res->repeats, res->wall_s);
}

int study_stein(int argc, char **argv) {
  if (cli_is_help(argc, argv)) {
    help();
    return EXIT_OK;
  }
  StudyOpts o;
  memset(&o, 0, sizeof o);
  snprintf(o.dist, sizeof o.dist, "gauss-mixture:d=25");
  snprintf(o.critic, sizeof o.critic, "512-512");
  snprintf(o.act, sizeof o.act, "swish");
  snprintf(o.div, sizeof o.div, "hutchinson:probes=1");
  snprintf(o.db, sizeof o.db, "runs.db");
  snprintf(o.lambda_text[0], sizeof o.lambda_text[0], "staged");
  o.pert = -1;
  o.so = (SteinStudyOpts){2000, 1000, 500, 0, 10, 500, 0.05,
                          {60, 200, 1e-3, {0}, {STEIN_DIV_HUTCHINSON, 1}}, {{0}}, 1, 0, 0, NULL, 0};
  stein_lambda_parse("staged", &o.so.sched[0], &(Err){0});
  int code = parse_args(argc, argv, &o);
  if (code) return code;
  if (!o.so.n_null) o.so.n_null = 3 * o.so.n_test;
  o.so.seed = (uint64_t)o.seed;
  Err err = {0};
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
  SteinStudyResult res;
  int rc = stein_study_run(&pr, &net, &o.so, train_stop_requested, &res, &err);
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
