/*
 * bench_loop.c: the loop workloads of `curvscope bench` (bench_loop.h): a study's
 * training step and its probe, built by run_setup from the same options the study uses.
 *
 *   pc-bias   Fashion-MNIST n = 5000, the depth-2 deep linear net 784-256-10 (bias-free),
 *             full-batch GD: a training step (objective_eval_parallel + the update, as the
 *             loop takes it) and the PC-bias probe's measurement (studies/pcbias: the
 *             end-to-end W, P = (W − W*)Uᵀ, e_j and the excess loss, written to a
 *             MemRecorder) timed in alternation with a DGEMM, round by round; the figure
 *             is the probe call over the step (issue 13's "under 10%").
 *   spectral  Rahaman's experiment (study spectral-bias's paper preset): 200 points of
 *             sines at 5..50, mlp:1-256x5-1 ReLU, torch init, full-batch Adam 3e-4; the
 *             training loop itself (train_run) with the spectral probe every 100 steps and
 *             the database recorder on a scratch file, as a study run records; per
 *             iteration, measurements included, and the same loop without the probe;
 *             then `threads` such runs at once, as study spectral-bias trains repeats and
 *             variants (--jobs), each on one thread with the parts of a --threads run:
 *             wall time over all their iterations, and whether each run's final
 *             parameters are the serial run's bit for bit. --precision mixed|f32 trains
 *             with float32 passes (TrainConfig.precision) and the probe in the same
 *             precision, the concurrent rounds too (their parts are the serial run's, as
 *             in float64: core/objective_f32.c).
 *   stein     Repasky et al.'s d = 25 mixture (study stein's preset): 2000 samples of p,
 *             their scores s_q computed once (as the study does), the critic
 *             25-512-512-25 Swish with zero biases, Adam 1e-3, batch 200, Hutchinson's
 *             divergence with one probe, λ = 0.4: one epoch of critic training (the
 *             shuffle, the batch gathers, 10 objective-and-gradient passes and updates,
 *             exactly stein_fit's inner loop, validation excluded), wall and CPU time;
 *             and, timed apart, what the study does after each epoch: T = s_q·f + ∇·f with
 *             the exact divergence on 1000 rows (the first 1000 samples; stein_critic_values);
 *             --precision mixed|f32: the critic's passes in float32 (θ, Adam in double).
 *
 * Each round also times a DGEMM of dgemm_n², so the step's GEMM rate is a share of the
 * rate measured in the same process seconds apart. Figures are medians over rounds.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_loop.h"
#include "cli.h"
#include "core/blas_kernel.h"
#include "core/json.h"
#include "core/loss.h"
#include "core/recorder_memory.h"
#include "core/rng.h"
#include "core/threads.h"
#include "db/db.h"
#include "run_opts.h"
#include "studies/pcbias/pcbias.h"
#include "studies/probes.h"
#include "studies/stein/stein.h"


#define MAX_ROUNDS 256

typedef struct LoopWorkload {
  const char *name, *data, *model, *act, *opt, *probe;
  double lr;
} LoopWorkload;

static const LoopWorkload LOOPS[] = {
    {"pc-bias", "fashion-mnist:n=5000,test=0", "mlp:784-256-10,bias=none", "identity", "gd",
     NULL, 0.006},
    {"spectral", "synth:sines,n=200,freqs=5-10-15-20-25-30-35-40-45-50,amps=equal",
     "mlp:1-256-256-256-256-256-1", "relu", "adam", "spectral:every=100,eps=0.5", 3e-4},
    {"stein", "gauss-mixture:d=25,n=2000", "mlp:25-512-512-25,bias=zero", "swish", "adam",
     "hutchinson:probes=1", 1e-3},
};
#define NLOOPS (sizeof LOOPS / sizeof *LOOPS)

typedef struct LoopResults {
  int rounds;
  double dgemm_gflops, step_flops;
  double step_s, probe_s, probe_over_step; /* pc-bias */
  double epoch_s, epoch_cpu_s;             /* stein: one epoch of critic training */
  double val_s, val_cpu_s;                 /* ... and the exact-divergence statistic on 1000 rows */
  double iter_s, iter_noprobe_s;           /* spectral: wall time per iteration */
  double iter_cpu_s, iter_noprobe_cpu_s;   /* ... and the process's CPU time (all threads) */
  int jobs;                                /* spectral: runs at once in the concurrent rounds */
  double iter_concurrent_s;                /* ... wall time over all their iterations */
  double iter_concurrent_cpu_s;            /* ... and the process's CPU time over them */
  int concurrent_identical;                /* ... each run's θ is the serial run's, bit for bit */
  double step_share;                       /* step GEMM FLOPs / DGEMM rate / step time */
  double loss_first, loss_last;
} LoopResults;

static const LoopWorkload *loop_find(const char *name) {
  for (size_t i = 0; i < NLOOPS; i++)
    if (!strcmp(name, LOOPS[i].name)) return &LOOPS[i];
  return NULL;
}

int bench_loop_known(const char *name) {
  return loop_find(name) != NULL || !strcmp(name, "ntk") || !strcmp(name, "batch-scaling");
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(const double *t, int n) {
  double s[MAX_ROUNDS];
  if (n <= 0) return NAN;
  memcpy(s, t, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* CPU seconds of the whole process (all threads): on a loaded machine the work done,
 * where wall time also counts the waits for a core. */
double bench_cpu_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- the reference DGEMM */

typedef struct Gemm {
  int n;
  double *A, *B, *C;
} Gemm;

static int gemm_alloc(Gemm *g, int n, Err *err) {
  size_t nn = (size_t)n * (size_t)n;
  memset(g, 0, sizeof *g);
  g->n = n;
  if (n <= 0) return CS_OK;
  g->A = malloc(nn * sizeof(double)), g->B = malloc(nn * sizeof(double));
  g->C = calloc(nn, sizeof(double));
  if (!g->A || !g->B || !g->C) return err_set(err, CS_ENOMEM, "out of memory for the DGEMM");
  Rng r;
  rng_seed_stream(&r, 0, 99);
  rng_normal_fill(&r, g->A, nn);
  rng_normal_fill(&r, g->B, nn);
  return CS_OK;
}

/* Seconds of one n² DGEMM (0 when skipped). */
static double gemm_time(const Gemm *g) {
  if (g->n <= 0) return 0.0;
  double t0 = wall_time();
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0, g->A, g->n, g->B,
              g->n, 0.0, g->C, g->n);
  return wall_time() - t0;
}

/* The share of the DGEMM rate (timed at gm seconds) that flops GEMM FLOPs in t seconds
 * reach; NaN without a DGEMM. */
static double gemm_share(const Gemm *g, double gm, double flops, double t) {
  return gm > 0 ? flops / (2.0 * g->n * (double)g->n * g->n / gm) / t : NAN;
}

static void gemm_free(Gemm *g) { free(g->A), free(g->B), free(g->C); }

static double gemm_gflops(const Gemm *g, double s) {
  return g->n > 0 && s > 0 ? 2.0 * g->n * (double)g->n * g->n / s / 1e9 : NAN;
}

/* ---------------------------------------------------------------- set-up */

static int loop_setup(const LoopWorkload *w, Precision p, RunSetup *s, Err *err) {
  return bench_run_setup(w->data, w->model, w->act, w->opt, w->lr, 0, p, s, err);
}

int bench_run_setup(const char *data, const char *model, const char *act, const char *opt,
                    double lr, long seed, Precision p, RunSetup *s, Err *err) {
  RunOpts o;
  run_opts_default(&o);
  snprintf(o.data, sizeof o.data, "%s", data);
  snprintf(o.model, sizeof o.model, "%s", model);
  snprintf(o.act, sizeof o.act, "%s", act);
  snprintf(o.opt, sizeof o.opt, "%s", opt);
  snprintf(o.init, sizeof o.init, "torch");
  snprintf(o.loss, sizeof o.loss, "mse");
  snprintf(o.precision, sizeof o.precision, "%s", precision_name(p));
  o.lr = lr;
  o.seed = seed;
  o.eval_every = 0;
  o.threads = threads_get();
  return run_setup(&o, s, err);
}

/* ---------------------------------------------------------------- pc-bias */

static int bench_pcbias(const LoopWorkload *w, const BenchLoopOpts *o, LoopResults *r,
                        Err *err) {
  RunSetup s;
  int rc = loop_setup(w, PREC_F64, &s, err);
  if (rc) return rc;
  size_t n = s.train->n, P = s.net.n_params;
  int R = o->repeats < 3 ? 3 : o->repeats > MAX_ROUNDS ? MAX_ROUNDS : o->repeats;
  ObjectiveWork *work = objective_work_alloc(&s.net, n, 0);
  double *grad = malloc(P * sizeof *grad);
  MemRecorder *m = memrec_alloc();
  Probe p = {0};
  Gemm g = {0};
  if (!work || !grad || !m) {
    rc = err_set(err, CS_ENOMEM, "out of memory for the pc-bias benchmark");
    goto done;
  }
  if ((rc = gemm_alloc(&g, o->dgemm_n, err))) goto done;
  Recorder rec = memrec_recorder(m);
  RunInfo info = {"bench", "pc-bias", NULL, "{}", 0, P, "{}"};
  int64_t id;
  if ((rc = rec_run_begin(&rec, &info, &id, err))) goto done;
  PcProbeOpts po = {1, 20, 0.1, -1, 1, 0, 0, w->lr, R + 1};
  if ((rc = pc_probe_create(&po, &s.net, s.train, &p, err))) goto done;
  Batch b = {s.train->X, s.train->Y, s.train->labels, n, s.metric, NULL};
  TrainState st = {.net = &s.net, .theta = s.theta, .grad = grad, .opt = s.opt,
                   .loss_kind = LOSS_MSE, .train = s.train, .rec = &rec, .lr = w->lr};
  r->step_flops = bench_flops_grad(&s.net, n);
  double tm[MAX_ROUNDS], ts[MAX_ROUNDS], tp[MAX_ROUNDS], sh[MAX_ROUNDS], total = 0;
  int k = 0;
  for (int it = -1; it < R; it++) { /* one untimed round first */
    double gm = gemm_time(&g), loss;
    double t0 = wall_time();
    objective_eval_parallel(&s.net, s.theta, LOSS_MSE, &b, work, grad, &loss, NULL);
    optim_step(s.opt, s.theta, grad);
    double t1 = wall_time();
    st.step = it + 1, st.loss = loss;
    if ((rc = p.run(p.self, &st, err))) goto done;
    double t2 = wall_time();
    if (it == -1) r->loss_first = loss;
    r->loss_last = loss;
    if (it < 0) continue;
    tm[k] = gm, ts[k] = t1 - t0, tp[k] = t2 - t1;
    sh[k] = gemm_share(&g, gm, r->step_flops, ts[k]);
    total += t2 - t0;
    k++;
    if (total > o->budget && k >= 3) break;
  }
  r->rounds = k;
  r->dgemm_gflops = gemm_gflops(&g, bench_median(tm, k));
  r->step_s = bench_median(ts, k);
  r->probe_s = bench_median(tp, k);
  r->probe_over_step = r->probe_s / r->step_s;
  r->step_share = g.n > 0 ? bench_median(sh, k) : NAN;
done:
  if (p.destroy) p.destroy(p.self);
  gemm_free(&g);
  memrec_free(m);
  free(grad);
  objective_work_free(work);
  run_setup_free(&s);
  return rc;
}

/* ---------------------------------------------------------------- spectral */

static int bench_concurrent(const LoopWorkload *w, Precision prec, const char *path, long steps,
                            int J, double *iter_s, double *cpu_s, int *identical, Err *err);

static int bench_spectral(const LoopWorkload *w, const BenchLoopOpts *o, LoopResults *r,
                          Err *err) {
  RunSetup s;
  int rc = loop_setup(w, o->precision, &s, err);
  if (rc) return rc;
  int R = o->repeats < 3 ? 3 : o->repeats > MAX_ROUNDS ? MAX_ROUNDS : o->repeats;
  long steps = o->steps < 1 ? 1 : o->steps;
  Probe p = {0};
  Db *db = NULL;
  Recorder rec = {0};
  int id_started = 0;
  Gemm g = {0};
  int fd = -1;
  const char *tmp = getenv("TMPDIR");
  char tpath[512];
  snprintf(tpath, sizeof tpath, "%s/curvscope-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if ((fd = mkstemp(tpath)) < 0) {
    rc = err_set(err, CS_EIO, "cannot create a scratch database in %s", tmp ? tmp : "/tmp");
    goto done;
  }
  close(fd);
  unlink(tpath); /* db_open creates the file */
  if ((rc = gemm_alloc(&g, o->dgemm_n, err))) goto done;
  if ((rc = probe_create(w->probe, &s.net, s.train, s.loss, s.opt_type, s.precision, &p, err))) goto done;
  if ((rc = db_open(tpath, &db, err)) || (rc = db_recorder_open(db, &rec, err))) goto done;
  RunInfo info = {"bench", "spectral-bias", NULL, "{}", 0, s.net.n_params, "{}"};
  int64_t id;
  if ((rc = rec_run_begin(&rec, &info, &id, err))) goto done;
  id_started = 1;
  s.tcfg.steps = steps;
  s.tcfg.progress = NULL;
  r->step_flops = bench_flops_grad(&s.net, s.train->n);
  double tm[MAX_ROUNDS], ti[MAX_ROUNDS], tn[MAX_ROUNDS], sh[MAX_ROUNDS], total = 0;
  double ci[MAX_ROUNDS], cn[MAX_ROUNDS];
  int k = 0;
  for (int it = -1; it < R; it++) { /* an untimed round first; training goes on throughout */
    double gm = gemm_time(&g);
    TrainResult res, res0;
    double c0 = bench_cpu_time();
    if ((rc = train_run(&s.tcfg, &s.net, s.theta, s.opt, s.train, s.test, &p, 1, &rec, &res,
                        err)))
      goto done;
    double c1 = bench_cpu_time();
    if ((rc = train_run(&s.tcfg, &s.net, s.theta, s.opt, s.train, s.test, NULL, 0, &rec, &res0,
                        err)))
      goto done;
    double c2 = bench_cpu_time();
    if (it == -1) r->loss_first = res.final_loss;
    r->loss_last = res0.final_loss;
    if (it < 0) continue;
    /* steps + 1 loss evaluations (the last state is evaluated too) for steps updates */
    tm[k] = gm, ti[k] = res.wall_s / (double)steps, tn[k] = res0.wall_s / (double)steps;
    ci[k] = (c1 - c0) / (double)steps, cn[k] = (c2 - c1) / (double)steps;
    sh[k] = gemm_share(&g, gm, r->step_flops, tn[k]);
    total += res.wall_s + res0.wall_s;
    k++;
    if (total > o->budget && k >= 3) break;
  }
  r->rounds = k;
  r->dgemm_gflops = gemm_gflops(&g, bench_median(tm, k));
  r->iter_s = bench_median(ti, k);
  r->iter_noprobe_s = bench_median(tn, k);
  r->iter_cpu_s = bench_median(ci, k);
  r->iter_noprobe_cpu_s = bench_median(cn, k);
  r->step_share = g.n > 0 ? bench_median(sh, k) : NAN;
  /* as study spectral-bias trains repeats and variants by default (study_jobs), in float64
   * and float32 passes alike */
  r->jobs = threads_get() < THREADS_MAX ? threads_get() : THREADS_MAX;
  r->iter_concurrent_s = r->iter_concurrent_cpu_s = NAN;
  if (r->jobs > 1) {
    double tc[MAX_ROUNDS], cc[MAX_ROUNDS];
    int kc = 0;
    for (; kc < R; kc++)
      if ((rc = bench_concurrent(w, o->precision, tpath, steps, r->jobs, &tc[kc], &cc[kc],
                                 &r->concurrent_identical, err)) ||
          !r->concurrent_identical)
        break;
    if (rc) goto done;
    r->iter_concurrent_s = bench_median(tc, kc ? kc : 1);
    r->iter_concurrent_cpu_s = bench_median(cc, kc ? kc : 1);
  }
done:
  if (rec.self) {
    Err end_err = {0}; /* the scratch run ends like a study's, then the file goes */
    if (id_started) rec_run_end(&rec, rc ? "failed" : "finished", NULL, &end_err);
    db_recorder_close(&rec);
  }
  db_close(db);
  if (fd >= 0) {
    unlink(tpath);
    char side[600];
    snprintf(side, sizeof side, "%s-wal", tpath), unlink(side);
    snprintf(side, sizeof side, "%s-shm", tpath), unlink(side);
  }
  if (p.destroy) p.destroy(p.self);
  gemm_free(&g);
  run_setup_free(&s);
  return rc;
}

/* ---------------------------------------------------------------- stein */

#define STEIN_N 2000
#define STEIN_BATCH 200
#define STEIN_NVAL 1000

static int bench_stein(const LoopWorkload *w, const BenchLoopOpts *o, LoopResults *r, Err *err) {
  int R = o->repeats < 3 ? 3 : o->repeats > MAX_ROUNDS ? MAX_ROUNDS : o->repeats;
  Rng rng;
  rng_seed_stream(&rng, 0, 1u << 20);
  SteinPair pr;
  int rc = stein_pair_parse(&pr, "gauss-mixture:d=25", -1, 0, &rng, err);
  if (rc) return rc;
  size_t d = pr.q.d, n = STEIN_N, B = STEIN_BATCH;
  NetSpec ns;
  netspec_default(&ns);
  Net net = {0};
  int net_ok = 0;
  SteinCritic *sc = NULL;
  Optimizer *opt = NULL;
  double *X = malloc(n * d * sizeof *X), *S = malloc(n * d * sizeof *S);
  double *Xb = malloc(B * d * sizeof *Xb), *Sb = malloc(B * d * sizeof *Sb);
  size_t *idx = malloc(n * sizeof *idx);
  double *theta = NULL, *grad = NULL, *T = malloc(STEIN_NVAL * sizeof *T);
  Gemm g = {0};
  SteinDiv div;
  if (!X || !S || !Xb || !Sb || !idx || !T) {
    rc = err_set(err, CS_ENOMEM, "out of memory for the stein benchmark");
    goto done;
  }
  if ((rc = netspec_parse_model(&ns, w->model, err)) || (rc = act_parse(w->act, &ns.act, err)) ||
      (rc = net_init(&net, &ns, NULL, err)))
    goto done;
  net_ok = 1;
  if ((rc = stein_div_parse(w->probe, &div, err))) goto done;
  if ((rc = stein_model_sample(&pr.p, n, &rng, X, err))) goto done;
  stein_model_score(&pr.q, n, X, S);
  size_t P = net.n_params;
  OptConfig cfg;
  optconfig_default(&cfg);
  cfg.lr = w->lr;
  sc = stein_critic_alloc_prec(&net, B, o->precision, 0);
  opt = optim_alloc(optim_adam, &cfg, P);
  theta = malloc(P * sizeof *theta), grad = malloc(P * sizeof *grad);
  if (!sc || !opt || !theta || !grad) {
    rc = err_set(err, CS_ENOMEM, "out of memory for the stein benchmark");
    goto done;
  }
  if ((rc = gemm_alloc(&g, o->dgemm_n, err))) goto done;
  net_init_params(&net, theta, &rng);
  for (size_t i = 0; i < n; i++) idx[i] = i;
  /* an epoch's GEMM FLOPs, roughly: per batch the stacked tangent pass over the rows and
   * each probe's, 3 GEMMs a layer per block of rows like a gradient (bench_flops_grad):
   * the forward, dW, and the adjoint below */
  r->step_flops = (double)(n / B) * (1.0 + div.probes) * bench_flops_grad(&net, B);
  double tm[MAX_ROUNDS], te[MAX_ROUNDS], tc[MAX_ROUNDS], sh[MAX_ROUNDS], tv[MAX_ROUNDS],
      cv[MAX_ROUNDS], total = 0;
  int k = 0;
  const double lam = 0.4;
  SteinSample val = {STEIN_NVAL, X, S, NULL};
  for (int it = -1; it < R; it++) { /* one untimed epoch first */
    double gm = gemm_time(&g), c0 = bench_cpu_time(), t0 = wall_time(), J = 0;
    rng_shuffle(&rng, idx, n);
    for (size_t s = 0; s < n; s += B) {
      size_t m = n - s < B ? n - s : B;
      for (size_t i = 0; i < m; i++) {
        memcpy(Xb + i * d, X + idx[s + i] * d, d * sizeof *Xb);
        memcpy(Sb + i * d, S + idx[s + i] * d, d * sizeof *Sb);
      }
      memset(grad, 0, P * sizeof *grad);
      J += stein_critic_objective(sc, theta, Xb, Sb, m, lam, &div, NULL, &rng, NULL, NULL, grad);
      optim_step(opt, theta, grad);
    }
    double t1 = wall_time(), c1 = bench_cpu_time();
    stein_critic_values(sc, theta, &val, T);
    double t2 = wall_time(), c2 = bench_cpu_time();
    J /= (double)(n / B);
    if (it == -1) r->loss_first = -J;
    r->loss_last = -J;
    if (it < 0) continue;
    tm[k] = gm, te[k] = t1 - t0, tc[k] = c1 - c0, tv[k] = t2 - t1, cv[k] = c2 - c1;
    sh[k] = gemm_share(&g, gm, r->step_flops, te[k]);
    total += t1 - t0;
    k++;
    if (total > o->budget && k >= 3) break;
  }
  r->rounds = k;
  r->dgemm_gflops = gemm_gflops(&g, bench_median(tm, k));
  r->epoch_s = bench_median(te, k);
  r->epoch_cpu_s = bench_median(tc, k);
  r->val_s = bench_median(tv, k);
  r->val_cpu_s = bench_median(cv, k);
  r->step_share = g.n > 0 ? bench_median(sh, k) : NAN;
done:
  gemm_free(&g);
  free(theta), free(grad), free(X), free(S), free(Xb), free(Sb), free(idx), free(T);
  optim_free(opt);
  stein_critic_free(sc);
  if (net_ok) net_deinit(&net);
  stein_pair_free(&pr);
  return rc;
}

/* One job of the concurrent rounds: its own set-up, probe and database connection. */
typedef struct Job {
  RunSetup s;
  Probe p;
  Db *db;
  Recorder rec;
  int ready, rc;
  Err err;
} Job;

static void job_open(const LoopWorkload *w, Precision prec, const char *path, Job *j) {
  memset(j, 0, sizeof *j);
  if ((j->rc = loop_setup(w, prec, &j->s, &j->err))) return;
  j->ready = 1;
  RunInfo info = {"bench", "spectral-bias", NULL, "{}", 0, j->s.net.n_params, "{}"};
  int64_t id;
  if (!(j->rc = probe_create(w->probe, &j->s.net, j->s.train, j->s.loss, j->s.opt_type, j->s.precision, &j->p,
                             &j->err)) &&
      !(j->rc = db_open(path, &j->db, &j->err)) &&
      !(j->rc = db_recorder_open(j->db, &j->rec, &j->err)))
    j->rc = rec_run_begin(&j->rec, &info, &id, &j->err);
}

static void job_close(Job *j) {
  if (j->rec.self) {
    Err e = {0};
    rec_run_end(&j->rec, j->rc ? "failed" : "finished", NULL, &e);
    db_recorder_close(&j->rec);
  }
  db_close(j->db);
  if (j->p.destroy) j->p.destroy(j->p.self);
  if (j->ready) run_setup_free(&j->s);
}

/* J runs of `steps` iterations at once, each from the same start as the serial run's
 * (seed 0) and on one thread with the serial run's parts; a serial run of as many steps
 * first gives the reference θ. Wall seconds per iteration over all runs. */
static int bench_concurrent(const LoopWorkload *w, Precision prec, const char *path, long steps,
                            int J, double *iter_s, double *cpu_s, int *identical, Err *err) {
  Job ref, jobs[THREADS_MAX];
  int parts = threads_get(), rc = CS_OK;
  job_open(w, prec, path, &ref);
  TrainResult res;
  if (!ref.rc) {
    ref.s.tcfg.steps = steps, ref.s.tcfg.progress = NULL;
    ref.rc = train_run(&ref.s.tcfg, &ref.s.net, ref.s.theta, ref.s.opt, ref.s.train,
                       ref.s.test, &ref.p, 1, &ref.rec, &res, &ref.err);
  }
  if (ref.rc) {
    *err = ref.err, rc = ref.rc;
    job_close(&ref);
    return rc;
  }
  double t0 = 0, t1 = 0, c0 = 0, c1 = 0;
#pragma omp parallel num_threads(J)
  {
    int t = omp_get_thread_num();
    omp_set_num_threads(1);
    threads_parts_set(parts);
    Job *j = &jobs[t];
    job_open(w, prec, path, j);
#pragma omp barrier
#pragma omp single
    t0 = wall_time(), c0 = bench_cpu_time();
    if (!j->rc) {
      j->s.tcfg.steps = steps, j->s.tcfg.progress = NULL;
      TrainResult r;
      j->rc = train_run(&j->s.tcfg, &j->s.net, j->s.theta, j->s.opt, j->s.train, j->s.test,
                        &j->p, 1, &j->rec, &r, &j->err);
    }
#pragma omp barrier
#pragma omp single
    t1 = wall_time(), c1 = bench_cpu_time();
    threads_parts_set(0);
    omp_set_num_threads(parts);
  }
  *identical = 1;
  for (int t = 0; t < J; t++) {
    if (jobs[t].rc && !rc) *err = jobs[t].err, rc = jobs[t].rc;
    if (!jobs[t].rc && memcmp(jobs[t].s.theta, ref.s.theta,
                              ref.s.net.n_params * sizeof *ref.s.theta))
      *identical = 0;
    job_close(&jobs[t]);
  }
  job_close(&ref);
  *iter_s = (t1 - t0) / ((double)J * (double)steps);
  *cpu_s = (c1 - c0) / ((double)J * (double)steps);
  return rc;
}

/* ---------------------------------------------------------------- output */

void bench_json_kv(StrBuf *b, const char *k, double v) {
  sb_printf(b, ",\"%s\":", k);
  sb_json_num(b, v);
}

void bench_json_kstr(StrBuf *b, const char *k, const char *v) {
  sb_printf(b, ",\"%s\":", k);
  sb_json_str(b, v);
}


static void print_json(const LoopWorkload *w, const BenchLoopOpts *o, const LoopResults *r) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "{\"workload\":");
  sb_json_str(&b, w->name);
  bench_json_kv(&b, "threads", threads_get());
  bench_json_kstr(&b, "data", w->data);
  bench_json_kstr(&b, "model", w->model);
  bench_json_kstr(&b, "act", w->act);
  bench_json_kstr(&b, "opt", w->opt);
  bench_json_kv(&b, "lr", w->lr);
  bench_json_kstr(&b, "precision", precision_name(o->precision));
  bench_json_kstr(&b, "omp_wait_policy", getenv("OMP_WAIT_POLICY"));
  bench_json_kstr(&b, "openblas_coretype", getenv("OPENBLAS_CORETYPE"));
  bench_json_kstr(&b, "openblas_corename", openblas_get_corename());
  bench_json_kstr(&b, "openblas_config", openblas_get_config());
  bench_json_kv(&b, "rounds", r->rounds);
  bench_json_kv(&b, "dgemm_gflops", r->dgemm_gflops);
  bench_json_kv(&b, "step_gemm_flops", r->step_flops);
  bench_json_kv(&b, "step_gemm_share", r->step_share);
  bench_json_kv(&b, "loss_first", r->loss_first);
  bench_json_kv(&b, "loss_last", r->loss_last);
  if (!strcmp(w->name, "pc-bias")) {
    bench_json_kv(&b, "step_s", r->step_s);
    bench_json_kv(&b, "probe_s", r->probe_s);
    bench_json_kv(&b, "probe_over_step", r->probe_over_step);
  } else if (!strcmp(w->name, "stein")) {
    bench_json_kstr(&b, "div", w->probe);
    bench_json_kv(&b, "samples", STEIN_N);
    bench_json_kv(&b, "batch", STEIN_BATCH);
    bench_json_kv(&b, "epoch_s", r->epoch_s);
    bench_json_kv(&b, "epoch_cpu_s", r->epoch_cpu_s);
    bench_json_kv(&b, "val_rows", STEIN_NVAL);
    bench_json_kv(&b, "val_s", r->val_s);
    bench_json_kv(&b, "val_cpu_s", r->val_cpu_s);
  } else {
    bench_json_kstr(&b, "probe", w->probe);
    bench_json_kv(&b, "iterations", (double)o->steps);
    bench_json_kv(&b, "iter_s", r->iter_s);
    bench_json_kv(&b, "iter_noprobe_s", r->iter_noprobe_s);
    bench_json_kv(&b, "iter_cpu_s", r->iter_cpu_s);
    bench_json_kv(&b, "iter_noprobe_cpu_s", r->iter_noprobe_cpu_s);
    bench_json_kv(&b, "jobs", r->jobs);
    bench_json_kv(&b, "iter_concurrent_s", r->iter_concurrent_s);
    bench_json_kv(&b, "iter_concurrent_cpu_s", r->iter_concurrent_cpu_s);
    sb_printf(&b, ",\"concurrent_identical\":%s",
              r->jobs < 2 ? "null" : r->concurrent_identical ? "true" : "false");
  }
  sb_append(&b, "}");
  printf("%s\n", b.p ? b.p : "{}");
  sb_free(&b);
}

static void print_table(const LoopWorkload *w, const BenchLoopOpts *o, const LoopResults *r) {
  printf("curvscope bench --workload %s: %s, %s %s, %s lr %g, %d threads, %d rounds, "
         "precision %s\n", w->name, w->data, w->model, w->act, w->opt, w->lr, threads_get(),
         r->rounds, precision_name(o->precision));
  printf("  %-30s %10.1f GFLOP/s (OpenBLAS %s)\n", "DGEMM", r->dgemm_gflops,
         openblas_get_corename());
  if (!strcmp(w->name, "pc-bias")) {
    printf("  %-30s %10.4f s  (%.0f%% of DGEMM)\n", "training step", r->step_s,
           100 * r->step_share);
    printf("  %-30s %10.4f s\n", "probe measurement", r->probe_s);
    printf("  %-30s %10.2f%%\n", "probe / step", 100 * r->probe_over_step);
  } else if (!strcmp(w->name, "stein")) {
    printf("  %-30s %10.4f s  (%d samples, batch %d, %s; %.0f%% of DGEMM)\n", "one epoch",
           r->epoch_s, STEIN_N, STEIN_BATCH, w->probe, 100 * r->step_share);
    printf("  %-30s %10.4f s\n", "CPU time per epoch", r->epoch_cpu_s);
    printf("  %-30s %10.4f s  (CPU %.4f s; %d rows, exact divergence)\n", "statistic after an epoch",
           r->val_s, r->val_cpu_s, STEIN_NVAL);
  } else {
    printf("  %-30s %10.4f s  (%ld iterations per round, %s)\n", "per iteration", r->iter_s,
           o->steps, w->probe);
    printf("  %-30s %10.4f s  (%.0f%% of DGEMM)\n", "... without the probe",
           r->iter_noprobe_s, 100 * r->step_share);
    printf("  %-30s %10.4f s  (without the probe %.4f s)\n", "CPU time per iteration",
           r->iter_cpu_s, r->iter_noprobe_cpu_s);
    if (r->jobs > 1)
      printf("  %-30s %10.4f s  (CPU %.4f s; %d runs at once, one thread each; the serial "
             "run's bits: %s)\n", "... concurrent runs", r->iter_concurrent_s,
             r->iter_concurrent_cpu_s, r->jobs, r->concurrent_identical ? "yes" : "NO");
  }
  printf("  %-30s %.6g -> %.6g\n", !strcmp(w->name, "stein") ? "-J (epoch mean)" : "loss",
         r->loss_first, r->loss_last);
}

int bench_loop_main(const char *name, const BenchLoopOpts *o) {
  Err err = {0};
  if (o->precision != PREC_F64 && strcmp(name, "spectral") && strcmp(name, "batch-scaling") &&
      strcmp(name, "stein")) {
    err_set(&err, CS_EINVAL, "--precision %s: the %s workload runs in float64 only "
            "(of the study loops, spectral, stein and batch-scaling take mixed and f32)",
            precision_name(o->precision), name);
    return cli_fail(&err);
  }
  if (!strcmp(name, "ntk")) return bench_ntk_main(o);
  if (!strcmp(name, "batch-scaling")) return bench_batch_main(o);
  const LoopWorkload *w = loop_find(name);
  LoopResults r;
  memset(&r, 0, sizeof r);
  if (!w) {
    err_set(&err, CS_EINVAL, "unknown loop workload '%s'", name);
    return cli_fail(&err);
  }

  int rc = !strcmp(w->name, "pc-bias") ? bench_pcbias(w, o, &r, &err)
           : !strcmp(w->name, "stein") ? bench_stein(w, o, &r, &err)
                                       : bench_spectral(w, o, &r, &err);
  if (rc) return cli_fail(&err);
  if (o->json) print_json(w, o, &r);
  else print_table(w, o, &r);
  fflush(stdout);
  return EXIT_OK;
}
