/*
 * study_spectral.c: `curvscope study spectral-bias`: which frequencies a network learns
 * first (Rahaman et al. 2019) and what removes that order (docs/SPECTRAL.md).
 *
 * Variants are the product of the --act, --embed and --loss lists (a Fourier sigma list
 * is a sweep: fourier:sigma=1-10-100 is three variants); each variant and repeat is one run
 * of the invocation's group, trained through the train command's set-up with the
 * spectral probe (studies/spectral/), so every train flag works. Repeat r uses seed
 * seed + r: fresh phases of the target and a fresh initialisation, the same for every
 * variant of that repeat. Every variant is built once before anything is written, so a
 * bad one is refused (exit 2) with nothing in the database. --jobs J trains J runs at once
 * (OpenMP workers, one thread and one database connection each, the data-parallel parts
 * of a --threads run: core/threads.h), so each run's numbers are its serial twin's, in
 * float64 and in float32 passes alike. Not with a curvature --probe or a row-coupling
 * (Sobolev) loss: their passes are one chunk whose GEMMs OpenBLAS threads, so their bits
 * follow the thread count; those runs go one at a time.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/loss.h"
#include "core/spec.h"
#include "core/threads.h"
#include "db/db_json.h"
#include "run_opts.h"
#include "studies/probes.h"

#define MAX_VARIANTS 64
#define MAX_REPEATS 1000

typedef struct Variant {
  char act[64], embed[128], loss[64];
} Variant;

typedef struct StudyOpts {
  long repeats, every, jobs;
  double tau_eps;
  int preset; /* PRESET_PAPER or PRESET_CI */
  int name_loss; /* run names say loss=: the study compares losses or trains on one not MSE */
} StudyOpts;

enum { PRESET_PAPER, PRESET_CI };

static int parse_preset(void *base, const CliOpt *opt, const char *v, Err *err) {
  int *p = &((StudyOpts *)base)->preset;
  (void)opt;
  if (strcmp(v, "ci") && strcmp(v, "paper"))
    return err_set(err, CS_EINVAL, "--preset '%s' (use paper or ci)", v);
  *p = !strcmp(v, "ci") ? PRESET_CI : PRESET_PAPER;
  return CS_OK;
}

static void show_preset(const void *base, const CliOpt *opt, char *out, size_t n) {
  (void)opt;
  snprintf(out, n, "%s", ((const StudyOpts *)base)->preset == PRESET_CI ? "ci" : "paper");
}

static const CliOpt spectral_opts[] = {
    OPT_FN(StudyOpts, preset, "P", "paper: the experiment below; ci: a small configuration that "
           "runs in seconds (mlp:1-64-64-64-1, freqs 1-2-3-4-5, Adam lr 1e-3, 1500 steps, every 10)",
           NULL, parse_preset, show_preset),
    OPT_LONG(StudyOpts, repeats, "N", "runs per variant, seeds seed..seed+N-1 (the paper: 20)", NULL),
    OPT_LONG(StudyOpts, every, "K", "measure every K steps", NULL),
    OPT_LONG(StudyOpts, jobs, "J", "runs trained at once, each on one thread with the "
             "chunking of a --threads run, so its numbers are the one-at-a-time run's bit for "
             "bit, in any --precision (0: as many as --threads, or 1 with a curvature --probe "
             "or a Sobolev loss, which refuse more; 1: one after another, each on --threads)",
             NULL),
    OPT_POS(StudyOpts, tau_eps, "E", "tau_k threshold on |F(k)-T(k)|/|T(k)| (--eps is Adam's ε, as in train)", NULL),
    OPT_END};

static void help(const OptTable *t, int nt) {
  printf(
      "usage: curvscope study spectral-bias [--act LIST] [--embed LIST] [--repeats N] [options]\n\n"
      "Trains one run per variant and repeat on a sum of sinusoids on a grid and measures,\n"
      "every --every steps, the network's Fourier transform on the grid: the normalised\n"
      "magnitude 2|F(k)|/A_k at each target frequency, the residual spectrum, and the\n"
      "convergence time tau_k of each frequency (relative error below --tau-eps). Run-level:\n"
      "freq_order_spearman (Spearman of tau_k against k), freq_unlearned, freq_tau_ratio,\n"
      "psnr_train (docs/SPECTRAL.md, docs/SCHEMA.md).\n\n"
      "The default is Rahaman et al.'s experiment: synth:sines,n=200,freqs=5-10-...-50,\n"
      "amps=equal on [0,1), mlp:1-256-256-256-256-256-1, full-batch Adam lr 3e-4, 60000\n"
      "steps, every 100 (rising amplitudes: --data synth:sines,amps=rising).\n\n"
      "--act, --embed and --loss are lists here, comma-separated: activations (sine is SIREN:\n"
      "w0=30 with --init siren unless --init is given), embeddings, e.g.\n"
      "none,basic,fourier:sigma=1-10-100,mscale:scales=1-2-4-8 (a sigma list is a sweep: one\n"
      "variant per sigma), and losses, e.g. mse,sobolev:s=1,sobolev:s=-1 (the Sobolev loss\n"
      "weights the residual's Fourier modes by (1+k^2)^s). --data image:PHOTO.png[,downsample=K] is an image target (train on\n"
      "the even pixels, test on the odd ones): PSNR and the fit instead of tau_k.\n\n");
  opts_help_print(stdout, t, nt);
}

/* Splits a variant list at the commas that start a new spec: a piece holding '=' before
 * any ':' continues the previous spec ("fourier:m=64,sigma=10,basic" is two). A Fourier
 * sigma list expands into one variant per value. */
static int split_variants(const char *list, const char *what, char out[][128], int *n, Err *err) {
  *n = 0;
  char buf[512];
  if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
    return err_set(err, CS_EINVAL, "--%s list is too long", what);
  char spec[MAX_VARIANTS][128];
  int ns = 0;
  for (char *p = strtok(buf, ","); p; p = strtok(NULL, ",")) {
    char *eq = strchr(p, '='), *colon = strchr(p, ':');
    int cont = ns > 0 && eq && (!colon || eq < colon);
    if (!cont && ns == MAX_VARIANTS)
      return err_set(err, CS_EINVAL, "--%s: more than %d variants", what, MAX_VARIANTS);
    char *dst = cont ? spec[ns - 1] : spec[ns++];
    size_t len = cont ? strlen(dst) : 0;
    if (snprintf(dst + len, 128 - len, "%s%s", cont ? "," : "", p) >= (int)(128 - len))
      return err_set(err, CS_EINVAL, "--%s: '%s' is too long", what, p);
  }
  if (ns == 0) return err_set(err, CS_EINVAL, "--%s: empty list", what);
  for (int i = 0; i < ns; i++) {
    char *sig = strncmp(spec[i], "fourier", 7) ? NULL : strstr(spec[i], "sigma=");
    double v[MAX_VARIANTS];
    int nv = 1;
    if (sig) {
      size_t vlen = strcspn(sig + 6, ",");
      char vals[128];
      snprintf(vals, sizeof vals, "%.*s", (int)vlen, sig + 6);
      if (spec_parse_double_list(vals, v, MAX_VARIANTS, &nv, err))
        return err_prefix(err, "--%s '%s': sigma", what, spec[i]);
    }
    for (int j = 0; j < nv; j++) {
      if (*n == MAX_VARIANTS)
        return err_set(err, CS_EINVAL, "--%s: more than %d variants", what, MAX_VARIANTS);
      if (!sig || nv == 1) {
        memcpy(out[(*n)++], spec[i], sizeof spec[i]);
        continue;
      }
      size_t pre = (size_t)(sig - spec[i]);
      const char *rest = sig + 6 + strcspn(sig + 6, ",");
      snprintf(out[(*n)++], 128, "%.*ssigma=%g%s", (int)pre, spec[i], v[j], rest);
    }
  }
  return CS_OK;
}

/* The run options of one variant and repeat. */
static void variant_opts(const RunOpts *base, const Variant *v, const StudyOpts *so, long rep,
                         const char *group, RunOpts *o) {
  *o = *base;
  snprintf(o->act, sizeof o->act, "%s", v->act);
  snprintf(o->embed, sizeof o->embed, "%s", v->embed);
  snprintf(o->loss, sizeof o->loss, "%s", v->loss);
  int sine = !strncmp(v->act, "sine", 4) || !strncmp(v->act, "siren", 5);
  if (!o->init[0]) /* SIREN's initialisation goes with its sine layers */
    snprintf(o->init, sizeof o->init, "%s", sine ? "siren" : "torch");
  o->seed = base->seed + rep;
  snprintf(o->study, sizeof o->study, "spectral-bias");
  snprintf(o->group, sizeof o->group, "%s", group);
  /* "PREFIX act=A embed=E [loss=L ]rep=R": the report groups a variant's repeats by what
   * precedes rep= */
  const char *prefix = base->name[0] ? base->name : "spectral";
  if (!so->name_loss)
    snprintf(o->name, sizeof o->name, "%.30s act=%.24s embed=%.50s rep=%d", prefix, v->act,
             v->embed, (int)rep);
  else
    snprintf(o->name, sizeof o->name, "%.24s act=%.16s embed=%.36s loss=%.16s rep=%d", prefix,
             v->act, v->embed, v->loss, (int)rep);
  /* the spectral probe first; the user's --probe flags (fewer than RUN_MAX_PROBES) follow it */
  for (int i = o->nprobes; i > 0; i--) memcpy(o->probe[i], o->probe[i - 1], sizeof o->probe[0]);
  snprintf(o->probe[0], sizeof o->probe[0], "spectral:every=%ld,eps=%.17g", so->every, so->tau_eps);
  o->nprobes++;
}

/* Builds a variant's run (data, net, probes) and frees it: CS_OK when it would train. */
static int variant_check(const RunOpts *o, Err *err) {
  RunSetup s;
  int rc = run_setup(o, &s, err);
  if (rc) return err_prefix(err, "variant act=%s embed=%s loss=%s", o->act, o->embed, o->loss);
  for (int i = 0; !rc && i < o->nprobes; i++) {
    Probe p;
    if (!(rc = probe_create(o->probe[i], &s.net, s.train, s.loss, s.opt_type, s.precision, &p, err)))
      p.destroy(p.self);
  }
  run_setup_free(&s); /* also when a probe was refused: the set-up was built */
  if (rc) err_prefix(err, "variant act=%s embed=%s loss=%s", o->act, o->embed, o->loss);
  return rc;
}

/* One line per run: τ_k and the run-level numbers, read back from the database. */
static void print_run(Db *db, int64_t id) {
  DbRows t = {0}, m = {0};
  Err err = {0};
  if (db_query_rows(db,
                    "SELECT idx, value FROM series WHERE run_id=?1 AND name='freq_tau' "
                    "AND step=-1 ORDER BY idx",
                    &id, 1, &t, &err) ||
      db_query_rows(db,
                    "SELECT (SELECT value FROM metrics WHERE run_id=?1 AND step=-1 AND "
                    "name='freq_order_spearman'), (SELECT value FROM metrics WHERE run_id=?1 AND "
                    "step=-1 AND name='freq_unlearned'), (SELECT value FROM metrics WHERE "
                    "run_id=?1 AND step=-1 AND name='psnr_train'), (SELECT value FROM metrics "
                    "WHERE run_id=?1 AND step=-1 AND name='psnr_test')",
                    &id, 1, &m, &err)) {
    fprintf(stderr, "curvscope: reading run %lld: %s\n", (long long)id, err.msg);
  } else if (t.nrow) {
    printf("  tau_k:");
    for (size_t i = 0; i < t.nrow; i++) {
      /* freq_tau is stored at every k up to the largest; only target frequencies count */
      if (!isnan(t.v[2 * i + 1])) printf(" %g:%g", t.v[2 * i], t.v[2 * i + 1]);
    }
    printf("  spearman %.3f, unlearned %g\n", m.v[0], m.v[1]);
  } else { /* an image: no target frequencies */
    printf("  psnr train %.2f dB, test %.2f dB\n", m.v[2], m.v[3]);
  }
  db_rows_free(&t);
  db_rows_free(&m);
}

/* The group's numbers per variant (mean over repeats), once every run has finished. */
static void print_summary(Db *db, int64_t any_run) {
  DbStrs s = {0};
  Err err = {0};
  if (db_query_strs(
          db,
          "SELECT substr(name, 1, instr(name, ' rep=') - 1) AS v, COUNT(*), "
          "AVG(sp), AVG(un), AVG(ra), AVG(pt), AVG(pe) FROM (SELECT id, name, "
          "(SELECT value FROM metrics WHERE run_id=runs.id AND step=-1 AND "
          "name='freq_order_spearman') AS sp, (SELECT value FROM metrics WHERE "
          "run_id=runs.id AND step=-1 AND name='freq_unlearned') AS un, (SELECT value "
          "FROM metrics WHERE run_id=runs.id AND step=-1 AND name='freq_tau_ratio') AS "
          "ra, (SELECT value FROM metrics WHERE run_id=runs.id AND step=-1 AND name='psnr_train') "
          "AS pt, (SELECT value FROM metrics WHERE run_id=runs.id AND step=-1 AND "
          "name='psnr_test') AS pe FROM runs WHERE grp=(SELECT grp FROM runs WHERE "
          "id=?1)) GROUP BY v "
          "ORDER BY MIN(id)",
          &any_run, 1, &s, &err)) {
    fprintf(stderr, "curvscope: the group summary: %s\n", err.msg);
    return;
  }
  printf("\n%-48s %5s %9s %9s %9s %9s %9s\n", "variant (mean over repeats)", "runs", "spearman",
         "unlearned", "tau ratio", "psnr tr", "psnr te");
  for (size_t i = 0; i < s.nrow; i++) {
    char **v = s.v + 7 * i;
    printf("%-48s %5s", v[0] ? v[0] : "?", v[1] ? v[1] : "0");
    for (int c = 2; c < 7; c++) printf(" %9.3f", v[c] ? strtod(v[c], NULL) : NAN);
    printf("\n");
  }
  db_strs_free(&s);
}

static void preset(RunOpts *o, StudyOpts *so) {
  strcpy(o->act, "relu,tanh,hat,sine");
  strcpy(o->embed, "none");
  strcpy(o->init, ""); /* per variant: siren for sine, torch otherwise */
  strcpy(o->opt, "adam");
  strcpy(o->loss, "mse");
  o->eval_every = 0;
  if (so->preset == PRESET_CI) {
    strcpy(o->data, "synth:sines,n=200,freqs=1-2-3-4-5,amps=equal");
    strcpy(o->model, "mlp:1-64-64-64-1");
    o->lr = 1e-3;
    o->steps = 1500;
    so->every = 10;
  } else {
    strcpy(o->data, "synth:sines,n=200,freqs=5-10-15-20-25-30-35-40-45-50,amps=equal");
    strcpy(o->model, "mlp:1-256-256-256-256-256-1");
    o->lr = 3e-4;
    o->steps = 60000;
    so->every = 100;
  }
}

static int64_t run_ids[MAX_REPEATS * MAX_VARIANTS]; /* job r*nv+v: its run, 0 if none */

/* Runs trained at once: --jobs, or (0) as many as the threads when there are several runs.
 * A --probe's curvature solver and a row-coupling loss (coupled non-zero) thread their
 * work by the thread count, not by parts: those runs go one at a time. Float32 passes
 * follow the parts as float64's do (core/objective_f32.c). */
static int study_jobs(const StudyOpts *so, const RunOpts *base, int coupled, long nruns) {
  long T = threads_get(), j = so->jobs ? so->jobs : T;
  if (!so->jobs && (base->nprobes > 0 || coupled)) j = 1;
  if (j > nruns) j = nruns;
  return j < 1 ? 1 : (int)j;
}

static int runs_serial(const RunOpts *base, const Variant *var, int nv, const StudyOpts *so,
                       const char *group, Db *db) {
  int code = EXIT_OK;
  for (long r = 0; r < so->repeats && code == EXIT_OK && !train_stop_requested(); r++)
    for (int v = 0; v < nv && code == EXIT_OK && !train_stop_requested(); v++) {
      RunOpts o;
      variant_opts(base, &var[v], so, r, group, &o);
      int64_t id = 0;
      code = cli_train_run(&o, base->db, &db, &id, 1);
      run_ids[r * nv + v] = id;
      if (code == EXIT_OK) print_run(db, id);
    }
  return code;
}

/* jobs workers, each with its own database connection and one OpenMP thread, but the
 * data-parallel parts of a --threads run (threads_parts_set): every run has the bits of
 * its serial twin. The first failure stops the workers taking new runs. */
static int runs_concurrent(const RunOpts *base, const Variant *var, int nv, const StudyOpts *so,
                           const char *group, int jobs, Db *db) {
  long nruns = so->repeats * nv;
  int parts = threads_get(), code = EXIT_OK;
  (void)db;
#pragma omp parallel num_threads(jobs)
  {
    omp_set_num_threads(1);
    threads_parts_set(parts);
    Db *mine = NULL;
#pragma omp for schedule(dynamic, 1)
    for (long j = 0; j < nruns; j++) {
      int stop;
#pragma omp critical(study_spectral_code)
      stop = code;
      if (stop != EXIT_OK || train_stop_requested()) continue;
      RunOpts o;
      variant_opts(base, &var[j % nv], so, j / nv, group, &o);
      o.quiet = 1; /* one progress line cannot show several runs */
      int64_t id = 0;
      int c = cli_train_run(&o, base->db, &mine, &id, 0);
      run_ids[j] = id;
      if (c != EXIT_OK) {
#pragma omp critical(study_spectral_code)
        if (code == EXIT_OK) code = c;
      }
    }
    db_close(mine);
    threads_parts_set(0);
    omp_set_num_threads(parts); /* the main thread's count after the region */
  }
  return code;
}

int study_spectral(int argc, char **argv) {
  Err err = {0};
  StudyOpts so = {1, 0, 0, 0.5, PRESET_PAPER, 0};
  RunOpts base;
  run_opts_default(&base);
  OptTable t[] = {{spectral_opts, &so, "study options", NULL},
                  {run_opts_table, &base, "train options (the preset's)", NULL}};
  /* The preset sets defaults of both tables (--every, --steps ...): a first pass finds it,
   * the second reads the flags over the preset's values. */
  StudyOpts first = so;
  RunOpts scratch = base;
  OptTable t0[] = {{spectral_opts, &first, NULL, NULL}, {run_opts_table, &scratch, NULL, NULL}};
  int help_asked = cli_is_help(argc, argv); /* then only the preset matters */
  if (opts_parse(t0, 2, argc, argv, 1, NULL, NULL, &err) && !help_asked) return cli_fail(&err);
  so.preset = first.preset;
  preset(&base, &so);
  if (help_asked) {
    help(t, 2);
    return EXIT_OK;
  }
  int rc = opts_parse(t, 2, argc, argv, 1, NULL, NULL, &err);
  if (!rc && (so.repeats < 1 || so.repeats > MAX_REPEATS))
    rc = err_set(&err, CS_EINVAL, "--repeats '%ld' is not an integer in [1, %d]", so.repeats,
                 MAX_REPEATS);
  if (!rc && (so.every < 1 || so.every > 1000000000))
    rc = err_set(&err, CS_EINVAL, "--every '%ld' is not an integer in [1, 1000000000]", so.every);
  if (!rc && so.jobs > 1 && base.nprobes > 0)
    rc = err_set(&err, CS_EINVAL,
                 "--jobs %ld with --probe: a curvature probe chunks its products by thread, so "
                 "its runs are not the serial ones bit for bit (use --jobs 1)", so.jobs);
  if (!rc && so.jobs > THREADS_MAX)
    rc = err_set(&err, CS_EINVAL, "--jobs %ld: at most %d", so.jobs, THREADS_MAX);
  if (!rc && base.nprobes >= RUN_MAX_PROBES)
    rc = err_set(&err, CS_EINVAL, "at most %d --probe flags beside the study's spectral probe",
                 RUN_MAX_PROBES - 1);
  if (rc) return cli_fail(&err);

  static char acts[MAX_VARIANTS][128], embeds[MAX_VARIANTS][128], losses[MAX_VARIANTS][128];
  int na, ne, nl;
  if (split_variants(base.act, "act", acts, &na, &err) ||
      split_variants(base.embed, "embed", embeds, &ne, &err) ||
      split_variants(base.loss, "loss", losses, &nl, &err))
    return cli_fail(&err);
  if (na * ne * nl > MAX_VARIANTS) {
    err_set(&err, CS_EINVAL, "%d activations x %d embeddings x %d losses: more than %d variants",
            na, ne, nl, MAX_VARIANTS);
    return cli_fail(&err);
  }
  so.name_loss = nl > 1 || strcmp(losses[0], "mse");
  int coupled = -1; /* the first row-coupling loss of the list, -1: none */
  for (int l = 0; l < nl && coupled < 0; l++) {
    LossKind k;
    double sv;
    Err ignore = {0}; /* a bad loss is refused by name when its variant is built */
    if (!loss_parse_spec(losses[l], &k, &sv, &ignore) && loss_couples_rows(k)) coupled = l;
  }
  if (so.jobs > 1 && coupled >= 0) {
    err_set(&err, CS_EINVAL,
            "--jobs %ld with --loss %s: a Sobolev pass is one chunk of the whole grid, its "
            "GEMMs threaded by the thread count, not by parts, so the runs are not the "
            "serial ones bit for bit (use --jobs 1)",
            so.jobs, losses[coupled]);
    return cli_fail(&err);
  }
  static Variant var[MAX_VARIANTS];
  int nv = 0;
  for (int l = 0; l < nl; l++)
    for (int a = 0; a < na; a++)
      for (int e = 0; e < ne; e++) {
        if (snprintf(var[nv].act, sizeof var[nv].act, "%s", acts[a]) >= (int)sizeof var[nv].act ||
            snprintf(var[nv].loss, sizeof var[nv].loss, "%s", losses[l]) >=
                (int)sizeof var[nv].loss) {
          err_set(&err, CS_EINVAL, "--act '%s' or --loss '%s' is too long", acts[a], losses[l]);
          return cli_fail(&err);
        }
        memcpy(var[nv++].embed, embeds[e], sizeof var[0].embed);
      }
  char group[sizeof base.group];
  if (base.group[0]) snprintf(group, sizeof group, "%s", base.group);
  else cli_study_group("spectral", group, sizeof group);
  threads_set((int)base.threads);
  for (int v = 0; v < nv; v++) {
    RunOpts o;
    variant_opts(&base, &var[v], &so, 0, group, &o);
    if (variant_check(&o, &err)) return cli_fail(&err);
  }
  Db *db = NULL;
  if (cli_db_open(base.db, &db, &err)) return cli_fail(&err);
  cli_install_stop_signals();
  long nruns = so.repeats * nv;
  int jobs = study_jobs(&so, &base, coupled >= 0, nruns);
  printf("study spectral-bias: %d variant%s x %ld repeat%s, group %s", nv, nv == 1 ? "" : "s",
         so.repeats, so.repeats == 1 ? "" : "s", group);
  if (jobs > 1) printf(", %d runs at once", jobs);
  printf("\n");
  fflush(stdout);
  int code = jobs > 1 ? runs_concurrent(&base, var, nv, &so, group, jobs, db)
                      : runs_serial(&base, var, nv, &so, group, db);
  int64_t last = 0;
  if (jobs > 1) /* the runs' lines once all are done, in the serial order */
    for (long j = 0; j < nruns; j++)
      if (run_ids[j]) print_run(db, run_ids[j]), last = run_ids[j];
  for (long j = 0; jobs == 1 && j < nruns; j++)
    if (run_ids[j]) last = run_ids[j];
  if (last) print_summary(db, last);
  db_close(db);
  return cli_stop_exit(code);
}
