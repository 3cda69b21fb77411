/* study_pcbias.c: `curvscope study pc-bias`: the principal-component bias of deep linear
 * nets (Hacohen & Weinshall), one run per condition × depth × seed (docs/PCBIAS.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/spec.h"
#include "core/threads.h"
#include "run_opts.h"
#include "studies/pcbias/pcbias.h"

#define MAX_DEPTHS 8
#define MAX_RUNS 512

enum { C_RAW, C_WHITE, C_SHUF, NCOND };
static const char *const cond_name[NCOND] = {"raw", "whitened", "shuffled"};

typedef struct StudyOpts {
  long depth[MAX_DEPTHS];
  int ndepth;
  long width, seeds, every, components, t1;
  double tau_eps;
  int whiten, random_labels;
  char nonlinear[32]; /* "" or the activation of the non-linear ensemble */
  /* (the fields are the flags: --depth, --width, ... --random-labels) */
} StudyOpts;

/* One ensemble's accessibility: Σ over its runs of each example's correct fraction. */
typedef struct Ensemble {
  double *sum;
  size_t n;
  int runs;
} Ensemble;

typedef struct StudyRun {
  int64_t id;
  int cond, linear, depth;
  char status[16];
  PcAnalysis an;        /* copied scalars only (arrays NULL) */
  double excess_final, probe_cost;
} StudyRun;

typedef struct Study {
  const StudyOpts *so;
  int cond, linear;     /* the run being set up */
  Ensemble ens[NCOND][2];
  StudyRun rows[MAX_RUNS];
  int nrows;
} Study;

/* ---- the hooks into the training run --------------------------------------------- */

static int study_probes(void *ctx, const RunOpts *o, const RunSetup *s, Probe *probes, int max,
                        int *n, Err *err) {
  Study *st = ctx;
  (void)max;
  int depth = s->net.nlayers;
  PcProbeOpts po = {st->so->every, (size_t)st->so->components, st->so->tau_eps, st->so->t1,
                    st->linear, st->so->nonlinear[0] != 0, 0, o->lr, o->steps};
  po.exact = st->linear && depth == 1 && !strcmp(o->opt, "gd") && o->batch == 0 &&
             o->weight_decay == 0;
  int rc = pc_probe_create(&po, &s->net, s->train, &probes[0], err);
  if (!rc) *n = 1;
  return rc;
}

static int ensemble_add(Ensemble *e, const double *v, size_t n, Err *err) {
  if (!e->sum) {
    e->sum = calloc(n, sizeof *e->sum);
    if (!e->sum) return err_set(err, CS_ENOMEM, "out of memory for accessibility");
    e->n = n;
  }
  for (size_t i = 0; i < n && i < e->n; i++) e->sum[i] += v[i];
  e->runs++;
  return CS_OK;
}

static int study_finish(void *ctx, const RunSetup *s, int64_t run, Probe *probes, int n,
                        Recorder *rec, const TrainResult *res, Err *err) {
  Study *st = ctx;
  if (n < 1 || st->nrows >= MAX_RUNS) return CS_OK;
  PcRunResult r;
  int rc = pc_probe_finish(&probes[0], rec, res->wall_s, res->steps_done, &r, err);
  if (rc) return rc;
  /* the linear ensemble has the non-linear one's shapes: depths >= 2 */
  if (r.correct && s->net.nlayers >= 2)
    rc = ensemble_add(&st->ens[st->cond][st->linear], r.correct, r.n, err);
  StudyRun *row = &st->rows[st->nrows++];
  row->id = run;
  row->cond = st->cond;
  row->linear = st->linear;
  row->depth = s->net.nlayers;
  snprintf(row->status, sizeof row->status, "%s", res->status);
  row->an = r.an;
  row->an.rate = row->an.tau = row->an.theory = row->an.whole = NULL;
  row->excess_final = r.excess_final;
  row->probe_cost = r.probe_cost;
  pc_run_result_free(&r);
  return rc;
}

/* ---- after the runs: ensemble-level results --------------------------------------- */

/* Mean accessibility of an ensemble into out (n); 0 when it has no runs. */
static int ensemble_mean(const Ensemble *e, double *out) {
  if (!e->runs) return 0;
  for (size_t i = 0; i < e->n; i++) out[i] = e->sum[i] / e->runs;
  return 1;
}

static double agreement(const Study *st, int cond, double *a, double *b) {
  const Ensemble *lin = &st->ens[cond][1], *non = &st->ens[cond][0];
  if (!ensemble_mean(lin, a) || !ensemble_mean(non, b) || lin->n != non->n) return NAN;
  return pc_spearman(a, b, lin->n);
}

static double mean_excess(const Study *st, int cond) {
  double s = 0;
  int c = 0;
  for (int i = 0; i < st->nrows; i++)
    if (st->rows[i].cond == cond && st->rows[i].linear && !isnan(st->rows[i].excess_final))
      s += st->rows[i].excess_final, c++;
  return c ? s / c : NAN;
}

/* Group metrics on every run of the study; the ensembles' accessibility on the first
 * linear run of the raw condition (the one the report draws them from). */
static int write_group(Db *db, Study *st, double *agree, double *slow, Err *err) {
  size_t n = 0;
  for (int c = 0; c < NCOND; c++)
    for (int l = 0; l < 2; l++) n = st->ens[c][l].n > n ? st->ens[c][l].n : n;
  double *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b);
  if (!a || !b) {
    free(a), free(b);
    return err_set(err, CS_ENOMEM, "out of memory");
  }
  agree[0] = agreement(st, C_RAW, a, b);
  agree[1] = agreement(st, C_WHITE, a, b);
  *slow = mean_excess(st, C_SHUF) / mean_excess(st, C_RAW);
  struct { const char *name; double v; } m[] = {
      {"pc_access_agreement", agree[0]},
      {"pc_access_agreement_whitened", agree[1]},
      {"pc_random_labels_slowdown", *slow},
  };
  int rc = CS_OK, lead = 1;
  for (int i = 0; i < st->nrows && !rc; i++) {
    Recorder rec;
    if ((rc = db_recorder_attach(db, st->rows[i].id, &rec, err))) break;
    for (size_t j = 0; j < sizeof m / sizeof *m && !rc; j++)
      if (!isnan(m[j].v)) rc = rec_metric(&rec, -1, m[j].name, m[j].v, err);
    if (lead && st->rows[i].cond == C_RAW && st->rows[i].linear) {
      static const char *const names[2][2] = {
          {"pc_access_nonlinear", "pc_access_linear"},
          {"pc_access_nonlinear_whitened", "pc_access_linear_whitened"}};
      for (int c = 0; c < 2 && !rc; c++)
        for (int lin = 0; lin < 2 && !rc; lin++) {
          const Ensemble *e = &st->ens[c == 0 ? C_RAW : C_WHITE][lin];
          if (ensemble_mean(e, a)) rc = rec_series(&rec, -1, names[c][lin], e->n, a, err);
        }
      lead = 0;
    }
    if (!rc) rc = rec_flush(&rec, err);
    db_recorder_close(&rec);
  }
  free(a), free(b);
  return rc;
}

static void print_summary(const Study *st, const double *agree, double slow) {
  printf("\n%-5s %-9s %-5s %-9s %-10s %9s %9s %8s %8s %8s %9s %9s %9s %8s\n", "run", "data",
         "depth", "net", "status", "rho(r,d)", "rho(tau,j)", "slope", "r/d max", "r spread",
         "rho whole", "theory", "excess", "cost");
  for (int i = 0; i < st->nrows; i++) {
    const StudyRun *r = &st->rows[i];
    printf("%-5lld %-9s %-5d %-9s %-10s ", (long long)r->id, cond_name[r->cond], r->depth,
           r->linear ? "linear" : st->so->nonlinear, r->status);
    if (r->linear)
      printf("%9.3f %9.3f %8.3f %8.3g %8.3g %9.3f %9.2g %9.3g %8.3g\n", r->an.rate_spearman,
             r->an.tau_spearman, r->an.rate_slope, r->an.ratio_spread, r->an.rate_spread,
             r->an.whole_spearman, r->an.theory_max_err, r->excess_final, r->probe_cost);
    else
      printf("%9s %9s %8s %8s %8s %9s %9s %9s %8.3g\n", "-", "-", "-", "-", "-", "-", "-", "-",
             r->probe_cost);
  }
  if (!isnan(agree[0])) printf("accessibility agreement linear vs %s: %.3f\n", st->so->nonlinear,
                               agree[0]);
  if (!isnan(agree[1])) printf("  whitened: %.3f\n", agree[1]);
  if (!isnan(slow))
    printf("random labels: excess loss left at the end %.3gx that of the real labels\n", slow);
}

/* ---- flags -------------------------------------------------------------------------- */

static int parse_depth(void *base, const CliOpt *opt, const char *v, Err *err) {
  StudyOpts *so = base;
  char buf[128];
  (void)opt;
  snprintf(buf, sizeof buf, "%s", v);
  for (char *c = buf; *c; c++)
    if (*c == ',') *c = '-';
  Err e = {0};
  if (spec_parse_int_list(buf, so->depth, MAX_DEPTHS, &so->ndepth, &e) || so->ndepth < 1)
    return err_set(err, CS_EINVAL, "--depth '%s' is not a list of depths (e.g. 1-2-4)", v);
  for (int k = 0; k < so->ndepth; k++)
    if (so->depth[k] < 1 || so->depth[k] > NET_MAX_LAYERS)
      return err_set(err, CS_EINVAL, "--depth '%s' has a depth outside 1..16", v);
  return CS_OK;
}

static void show_depth(const void *base, const CliOpt *opt, char *out, size_t n) {
  const StudyOpts *so = base;
  (void)opt;
  out[0] = '\0';
  for (int k = 0, len = 0; k < so->ndepth && (size_t)len < n; k++)
    len += snprintf(out + len, n - (size_t)len, "%s%ld", k ? "-" : "", so->depth[k]);
}

static int parse_t1(void *base, const CliOpt *opt, const char *v, Err *err) {
  long *t1 = &((StudyOpts *)base)->t1;
  (void)opt;
  if (parse_long(v, t1) || *t1 < 0 || *t1 > 100000000)
    return err_set(err, CS_EINVAL, "--t1 '%s' is not a non-negative integer", v);
  return CS_OK;
}

static void show_t1(const void *base, const CliOpt *opt, char *out, size_t n) {
  long t1 = ((const StudyOpts *)base)->t1;
  (void)opt;
  if (t1 < 0) snprintf(out, n, "the first measurement where the median e_j is below 0.5");
  else snprintf(out, n, "%ld", t1);
}

static const CliOpt pcbias_opts[] = {
    OPT_FN(StudyOpts, depth, "LIST", "weight layers, e.g. 1-2-4", NULL, parse_depth, show_depth),
    OPT_LONG(StudyOpts, width, "N", "hidden width", NULL),
    OPT_LONG(StudyOpts, seeds, "N", "runs per depth, seeds --seed .. --seed+N-1", NULL),
    OPT_LONG(StudyOpts, every, "K", "measure every K steps", NULL),
    OPT_LONG(StudyOpts, components, "K", "top principal components followed", NULL),
    OPT_POS(StudyOpts, tau_eps, "F", "τ_j threshold on e_j, in (0, 1) (--eps is Adam's ε, as in train)", NULL),
    OPT_FN(StudyOpts, t1, "N", "step of the rate r_j", NULL, parse_t1, show_t1),
    OPT_FLAG(StudyOpts, whiten, "also every run on ZCA-whitened data (whiten=zca, the control)", NULL),
    OPT_STR(StudyOpts, nonlinear, "ACT", "also same-shape nets with activation ACT (tanh, relu, "
            "...) for the accessibility agreement (depths >= 2)", NULL),
    OPT_FLAG(StudyOpts, random_labels, "also linear runs on shuffled labels (labels=shuffled)", NULL),
    OPT_REFUSE("model", "is set by the study (use --depth, --width, --nonlinear)"),
    OPT_REFUSE("act", "is set by the study (use --depth, --width, --nonlinear)"),
    OPT_END};

static void help(const OptTable *t, int nt) {
  printf(
      "usage: curvscope study pc-bias [study options] [train options]\n\n"
      "Deep linear nets (bias-free, identity activations) trained with MSE (½ mean ‖Wx−y‖²) on\n"
      "--data, one run per depth and seed. Every --every steps: the end-to-end W = W_L⋯W_1 and\n"
      "e_j(t) = ‖(W_t − W*)u_j‖/‖(W_0 − W*)u_j‖ for the top principal components u_j of\n"
      "Σ = XᵀX/n (W* least squares); after training the rates r_j = −log e_j(t₁)/t₁, the times\n"
      "τ_j to e_j < ε and their Spearman ranks (docs/PCBIAS.md).\n\n");
  opts_help_print(stdout, t, nt);
  printf("\nexample:\n  curvscope study pc-bias --depth 1-3 --width 256 --lr 0.002 --steps 2000 "
         "--whiten --nonlinear tanh\n");
}

static int bad(const char *flag, const char *v, const char *want) {
  if (v[0]) fprintf(stderr, "curvscope study pc-bias: %s '%s' %s\n", flag, v, want);
  else fprintf(stderr, "curvscope study pc-bias: %s %s\n", flag, want);
  return EXIT_USAGE;
}

/* The ranges the table does not check. */
static int study_opts_check(const StudyOpts *so) {
  const long *v[] = {&so->width, &so->seeds, &so->every, &so->components};
  static const char *const names[] = {"--width", "--seeds", "--every", "--components"};
  for (int i = 0; i < 4; i++)
    if (*v[i] < 1 || *v[i] > 100000000) {
      char shown[32];
      snprintf(shown, sizeof shown, "%ld", *v[i]);
      return bad(names[i], shown, "is not a positive integer");
    }
  if (!(so->tau_eps < 1)) {
    char shown[32];
    snprintf(shown, sizeof shown, "%g", so->tau_eps);
    return bad("--tau-eps", shown, "is not a number in (0, 1)");
  }
  if (so->nonlinear[0]) {
    Act a;
    Err e = {0};
    if (act_parse(so->nonlinear, &a, &e) || a.kind == ACT_IDENTITY)
      return bad("--nonlinear", so->nonlinear, "is not a non-linear activation (tanh, relu, ...)");
  }
  return EXIT_OK;
}

/* The data spec with `extra` (key=value) appended. */
static int spec_with(char *out, size_t size, const char *data, const char *extra) {
  int len = snprintf(out, size, "%s%s%s", data, strchr(data, ':') ? "," : ":", extra);
  return len < 0 || (size_t)len >= size;
}

/* ---- the study ------------------------------------------------------------------------ */

static int run_all(const StudyOpts *so, const RunOpts *base, Db *db, size_t d, size_t k,
                   Study *st) {
  char group[sizeof base->group];
  if (base->group[0]) snprintf(group, sizeof group, "%s", base->group);
  else cli_study_group("pc-bias", group, sizeof group);
  RunExtras x = {st, study_probes, study_finish, 0};
  int code = EXIT_OK;
  for (int c = 0; c < NCOND && code == EXIT_OK; c++) {
    if ((c == C_WHITE && !so->whiten) || (c == C_SHUF && !so->random_labels)) continue;
    for (int di = 0; di < so->ndepth && code == EXIT_OK; di++)
      for (long s = 0; s < so->seeds && code == EXIT_OK; s++)
        for (int lin = 1; lin >= 0 && code == EXIT_OK; lin--) {
          long L = so->depth[di];
          if (!lin && (!so->nonlinear[0] || L < 2 || c == C_SHUF)) continue;
          if (train_stop_requested()) return code;
          RunOpts o = *base;
          o.seed = base->seed + s;
          if (c != C_RAW &&
              spec_with(o.data, sizeof o.data, base->data,
                        c == C_WHITE ? "whiten=zca" : "labels=shuffled")) {
            fprintf(stderr, "curvscope study pc-bias: --data '%s' is too long\n", base->data);
            return EXIT_USAGE;
          }
          int len = snprintf(o.model, sizeof o.model, "mlp:%zu", d);
          for (long l = 1; l < L; l++)
            len += snprintf(o.model + len, sizeof o.model - (size_t)len, "-%ld", so->width);
          snprintf(o.model + len, sizeof o.model - (size_t)len, "-%zu,bias=none", k);
          snprintf(o.act, sizeof o.act, "%s", lin ? "identity" : so->nonlinear);
          snprintf(o.study, sizeof o.study, "pc-bias");
          snprintf(o.group, sizeof o.group, "%s", group);
          snprintf(o.name, sizeof o.name, "%.60s L=%ld %s %s seed=%ld",
                   base->name[0] ? base->name : "pc-bias", L, cond_name[c],
                   lin ? "linear" : so->nonlinear, o.seed);
          st->cond = c;
          st->linear = lin;
          code = cli_train_run_with(&o, o.db, &db, &x, NULL, !base->quiet);
        }
  }
  return code;
}

int study_pcbias(int argc, char **argv) {
  StudyOpts so = {{1, 3}, 2, 256, 2, 10, 20, -1, 0.1, 0, 0, ""};
  RunOpts o;
  run_opts_default(&o);
  snprintf(o.data, sizeof o.data, "fashion-mnist:n=5000,test=0");
  o.lr = 0.002;
  o.steps = 2000;
  o.eval_every = 0;
  OptTable t[] = {{pcbias_opts, &so, "study options", NULL},
                  {run_opts_table, &o, "train options (as in curvscope train; the study sets "
                   "--model, --act and --loss)", NULL}};
  if (cli_is_help(argc, argv)) {
    help(t, 2);
    return EXIT_OK;
  }
  Err err = {0};
  if (opts_parse(t, 2, argc, argv, 1, NULL, NULL, &err)) return cli_fail(&err);
  int code = study_opts_check(&so);
  if (code != EXIT_OK) return code;
  if (strcmp(o.loss, "mse")) return bad("--loss", o.loss, "is not mse (the study's loss)");
  if (so.nonlinear[0]) {
    int deep = 0;
    for (int i = 0; i < so.ndepth; i++) deep |= so.depth[i] >= 2;
    if (!deep) return bad("--nonlinear", so.nonlinear, "needs a --depth of at least 2");
  }
  long nruns = so.ndepth * so.seeds * (2 + so.whiten * 2 + so.random_labels);
  if (nruns > MAX_RUNS) return bad("--seeds", "", "gives too many runs (512 at most)");
  threads_set((int)o.threads);
  /* The data's dimensions fix the nets' input and output widths. */
  Dataset *tr = NULL, *te = NULL;
  if (data_load(o.data, (uint64_t)o.seed, &tr, &te, &err)) {
    err.code = CS_EINVAL;
    err_prefix(&err, "--data");
    return cli_fail(&err);
  }
  size_t d = tr->d, k = tr->k;
  int labels = tr->labels != NULL;
  dataset_free(tr), dataset_free(te);
  if (k == 0) return bad("--data", o.data, "has no targets");
  if (so.nonlinear[0] && !labels)
    return bad("--nonlinear", so.nonlinear, "needs class labels (accessibility)");
  Db *db = NULL;
  if (cli_db_open(o.db, &db, &err)) return cli_fail(&err);
  cli_install_stop_signals();
  Study *st = calloc(1, sizeof *st);
  if (!st) {
    db_close(db);
    return EXIT_FAIL;
  }
  st->so = &so;
  code = run_all(&so, &o, db, d, k, st);
  double agree[2] = {NAN, NAN}, slow = NAN;
  /* an interrupted study has a partial ensemble: no group results from it */
  if (train_stop_requested())
    fprintf(stderr, "curvscope: pc-bias stopped; its runs so far are kept, without the "
            "group's results\n");
  else if (st->nrows && write_group(db, st, agree, &slow, &err)) {
    fprintf(stderr, "curvscope: pc-bias group results: %s\n", err.msg);
    if (code == EXIT_OK) code = EXIT_FAIL;
  }
  if (st->nrows) print_summary(st, agree, slow);
  for (int c = 0; c < NCOND; c++) free(st->ens[c][0].sum), free(st->ens[c][1].sum);
  free(st);
  db_close(db);
  return cli_stop_exit(code);
}
