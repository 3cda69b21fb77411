/*
 * cmd_bench.c: `curvscope bench grad|hvp|eig|track|all|block --workload NAME`.
 *
 * The workloads mirror bench/peer_torch.py in shape (widths,
 * activation, bias, N), with synthetic data from our own RNG (seed 0):
 * X ~ N(0,1), uniform labels 0..9 one-hot, MSE loss ½·mean, PyTorch default
 * init; digits uses scikit-learn's real digits like the peer when the file is
 * there (bench_digits.c). Every figure is a median of wall-clock repeats; GEMM
 * FLOPs are counted analytically (see bench_flops_grad / flops_hvp) and set against a DGEMM rate
 * measured in the same process (cblas_dgemm 2048², run last so its buffers do
 * not count in the reported peak RSS). Output: a table, or with --json one JSON
 * object on one line. The side-by-side comparison with the peer is bench/compare.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_block.h"
#include "bench_digits.h"
#include "bench_eos.h"
#include "bench_loop.h"
#include "cli.h"
#include "core/blas_kernel.h"
#include "core/json.h"
#include "core/layout.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/spec.h"
#include "core/threads.h"
#include "opts.h"
#include "hessian/curv.h"
#include "hessian/curv_start.h"
#include "lanczos/eig.h"
#include "studies/track.h"


typedef struct Workload {
  const char *name;
  int nwidths;
  long widths[8];
  ActKind act;
  int bias;
  size_t N;
} Workload;

static const Workload WORKLOADS[] = {
    {"digits", 4, {64, 200, 200, 10}, ACT_TANH, 1, 1797},
    {"cohen", 4, {3072, 200, 200, 10}, ACT_TANH, 1, 5000},
    {"deeplinear", 6, {50, 100, 100, 100, 100, 10}, ACT_IDENTITY, 0, 2000},
    {"wide", 4, {784, 1024, 1024, 10}, ACT_TANH, 1, 4096},
};
#define NWORKLOADS (sizeof WORKLOADS / sizeof *WORKLOADS)

enum { PART_GRAD = 1, PART_HVP = 2, PART_EIG = 4, PART_TRACK = 8, PART_EIG10 = 16, PART_BLOCK = 32 };

typedef struct BenchOpts {
  int parts;
  const char *mode;
  const Workload *w;
  int threads;
  int repeats;
  double budget;      /* seconds of timed repeats per measurement before stopping early */
  int eig_repeats;
  int steps;          /* GD steps for track */
  int track_k;        /* pairs tracked */
  double update_tol;  /* the tracker's one-product acceptance (tracker_set_update_tol) */
  double track_tol;   /* the tracker's full solves */
  double lr;          /* 0: 0.5 / λ_max at the start */
  double tol;
  int dgemm_n;        /* DGEMM size; 0 skips it (for profiling) */
  int json;
  int value_stop;     /* --track-stop value: the trackers' full solves stop on the value bound */
  Precision precision; /* of the curvature passes (hvp, eig, track) */
  int lobpcg;         /* --track-solver lobpcg: the trackers' full solves by warm LOBPCG */
  long chunk;          /* --chunk: rows per chunk, 0 no limit, -1 auto (core/layout.h) */
  CurvStart start;     /* --start: the eigen-solves' start vector */
} BenchOpts;

typedef struct EigRun {
  double s;
  long matvecs;
  int converged;
  double value;
  int status;
  double start_s;     /* of s: computing the start vector (0 for the seeded Gaussian) */
} EigRun;

typedef struct Results {
  double dgemm_gflops;
  int rounds;
  double grad_s, grad_flops;
  double hvp_s, hvp_flops, build_s, build_first_s;
  EigRun e1_arpack, e1_lanczos, e10_arpack, e10_lanczos;
  EigRun e1_values, e10_values; /* own Lanczos stopping on the value bound (not the peer's test) */
  double track_s, track_eig_s, gd_step_s, track_lr, track_lambda0, track_lambda1;
  double track_mv_warm, track_mv_cold, track_mv_mean, track_over_gd_mean, track_one_frac;
  double track_exact_last;
  int track_steps, track_all_conv;
  double grad_share, hvp_share; /* medians of the per-round shares of the DGEMM rate */
  /* the same shares in process CPU time (FLOPs per CPU-second against the DGEMM's): on a
   * shared machine, what the passes make of the cycles they get, less hit by other loads
   * than wall time (OMP_WAIT_POLICY=passive: an idle thread sleeps and costs nothing) */
  double grad_share_cpu, hvp_share_cpu;
  double rss_mb, rss_eig1_mb, rss_eig10_mb, rss_track_mb; /* peaks: all but tracking (both
                                        solvers), up to top-1, up to top-10, all */
  size_t chunk_rows;     /* rows per chunk of the gradient and curvature passes */
  LayoutMachine machine; /* the kernel and caches the chunk was chosen from */
} Results;

static double maxrss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *t, int n) {
  if (n <= 0) return NAN;
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* ---------------------------------------------------------------- FLOPs */

/* Gradient: forward 2·N·in·out per layer, dW the same per trainable layer,
 * D = G W the same for every layer but the first. Also the loop workloads' (bench_loop.c). */
double bench_flops_grad(const Net *net, size_t N) {
  double f = 0.0;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    double g = 2.0 * (double)N * (double)L->in * (double)L->out;
    f += g * (1 + (L->trainable ? 1 : 0) + (l > net->first_trainable ? 1 : 0));
  }
  return f;
}

/* HVP (docs/MATH.md): R-forward 1 GEMM for the first layer (A0 Vᵀ), 2 above it
 * (R{A} Wᵀ + A Vᵀ); R-backward R{dW} 1 for the first (R{G}ᵀ A0), 2 above
 * (+ Gᵀ R{A}); R{D} 2 per layer above the first (R{G} W + G V). */
static double flops_hvp(const Net *net, size_t N) {
  double f = 0.0;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    double g = 2.0 * (double)N * (double)L->in * (double)L->out;
    f += g * (l == 0 ? 2 : 6);
  }
  return f;
}

/* ---------------------------------------------------------------- DGEMM */

static double cpu_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct GemmCtx {
  int n;
  double *A, *B, *C;
} GemmCtx;

static void gemm_once(void *p) {
  GemmCtx *g = p;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0, g->A, g->n, g->B,
              g->n, 0.0, g->C, g->n);
}

/* ---------------------------------------------------------------- contexts */

typedef struct Ctx {
  Net net;
  double *theta, *X, *Y, *grad, *v, *hv;
  Batch b;
  const char *data;     /* "sklearn digits" or "synthetic" */
  ObjectiveWork *work;  /* the training loop's gradient, data-parallel over chunks */
  Curvature *curv;
} Ctx;

static void grad_once(void *p) {
  Ctx *c = p;
  double loss;
  objective_eval_parallel(&c->net, c->theta, LOSS_MSE, &c->b, c->work, c->grad, &loss, NULL);
}

static void hvp_once(void *p) {
  Ctx *c = p;
  curv_hvp(c->curv, c->v, c->hv);
}

static void ctx_free(Ctx *c) {
  curv_free(c->curv);
  objective_work_free(c->work);
  free(c->theta), free(c->X), free(c->Y), free(c->grad), free(c->v), free(c->hv);
  net_deinit(&c->net);
}

static int ctx_init(Ctx *c, const Workload *w, Err *err) {
  memset(c, 0, sizeof *c);
  NetSpec spec;
  netspec_default(&spec);
  spec.nwidths = w->nwidths;
  for (int i = 0; i < w->nwidths; i++) spec.widths[i] = w->widths[i];
  spec.act = (Act){w->act, 1.0};
  spec.bias = w->bias ? BIAS_INIT : BIAS_NONE;
  spec.init = INIT_TORCH;
  Rng r;
  rng_seed_stream(&r, 0, 1);
  int rc = net_init(&c->net, &spec, &r, err);
  if (rc) return rc;
  size_t N = w->N, d = c->net.d_in, k = c->net.d_out, P = c->net.n_params;
  c->theta = malloc(P * sizeof(double));
  c->grad = malloc(P * sizeof(double));
  c->v = malloc(P * sizeof(double));
  c->hv = malloc(P * sizeof(double));
  c->X = malloc(N * d * sizeof(double));
  c->Y = calloc(N * k, sizeof(double));
  if (!c->theta || !c->grad || !c->v || !c->hv || !c->X || !c->Y)
    return err_set(err, CS_ENOMEM, "out of memory for workload %s", w->name);
  net_init_params(&c->net, c->theta, &r);
  c->data = "synthetic";
  Err derr = {0};
  if (!strcmp(w->name, "digits") &&
      bench_digits_load(BENCH_DIGITS_PATH, N, c->X, c->Y, &derr) == CS_OK) {
    c->data = "sklearn digits";
  } else {
    if (derr.code && derr.code != CS_ENOTFOUND) fprintf(stderr, "warning: %s\n", derr.msg);
    Rng rd;
    rng_seed(&rd, 0);
    rng_normal_fill(&rd, c->X, N * d);
    memset(c->Y, 0, N * k * sizeof *c->Y);
    for (size_t i = 0; i < N; i++) c->Y[i * k + rng_below(&rd, k)] = 1.0;
  }
  Rng rv;
  rng_seed_stream(&rv, 0, 2);
  rng_normal_fill(&rv, c->v, P);
  double nv = cblas_dnrm2((int)P, c->v, 1);
  cblas_dscal((int)P, 1.0 / nv, c->v, 1);
  c->b = (Batch){c->X, c->Y, NULL, N, NULL, NULL};
  return CS_OK;
}

/* The gradient, the HVP and the reference DGEMM timed in alternation, round by
 * round, so that each share of the DGEMM rate compares figures taken seconds
 * apart on a shared machine. One untimed warm-up round; at least 3 rounds. */
static int paired_rounds(const BenchOpts *o, Ctx *c, Results *r, Err *err) {
  int do_grad = (o->parts & (PART_GRAD | PART_HVP)) != 0, do_hvp = (o->parts & PART_HVP) != 0;
  int R = o->repeats < 3 ? 3 : o->repeats > 256 ? 256 : o->repeats;
  double tg[256], th[256], tm[256], sg[256], sh[256], cg[256], ch[256], total = 0.0;
  GemmCtx g = {o->dgemm_n, NULL, NULL, NULL};
  size_t nn = (size_t)g.n * (size_t)g.n;
  if (g.n > 0) {
    g.A = malloc(nn * sizeof(double));
    g.B = malloc(nn * sizeof(double));
    g.C = malloc(nn * sizeof(double));
    if (!g.A || !g.B || !g.C) {
      free(g.A), free(g.B), free(g.C);
      return err_set(err, CS_ENOMEM, "out of memory for the %d^2 DGEMM", g.n);
    }
    Rng rg;
    rng_seed_stream(&rg, 0, 99);
    rng_normal_fill(&rg, g.A, nn);
    rng_normal_fill(&rg, g.B, nn);
    memset(g.C, 0, nn * sizeof(double));
  }
  double gemm_flops = 2.0 * (double)g.n * (double)g.n * (double)g.n;
  int n = 0;
  for (int it = -1; it < R; it++) {
    double t0 = wall_time(), u0 = cpu_time();
    if (g.n > 0) gemm_once(&g);
    double t1 = wall_time(), u1 = cpu_time();
    if (do_grad) grad_once(c);
    double t2 = wall_time(), u2 = cpu_time();
    if (do_hvp) hvp_once(c);
    double t3 = wall_time(), u3 = cpu_time();
    if (it < 0) continue;
    tm[n] = t1 - t0, tg[n] = t2 - t1, th[n] = t3 - t2;
    double rate = gemm_flops / tm[n], crate = gemm_flops / (u1 - u0);
    sg[n] = r->grad_flops / rate / tg[n];
    sh[n] = r->hvp_flops / rate / th[n];
    cg[n] = r->grad_flops / crate / (u2 - u1);
    ch[n] = r->hvp_flops / crate / (u3 - u2);
    total += t3 - t1;
    n++;
    if (total > o->budget && n >= 3) break;
  }
  r->rounds = n;
  r->dgemm_gflops = g.n > 0 ? gemm_flops / median(tm, n) / 1e9 : NAN;
  if (do_grad) r->grad_s = median(tg, n), r->grad_share = g.n > 0 ? median(sg, n) : NAN;
  if (do_hvp) r->hvp_s = median(th, n), r->hvp_share = g.n > 0 ? median(sh, n) : NAN;
  if (do_grad) r->grad_share_cpu = g.n > 0 ? median(cg, n) : NAN;
  if (do_hvp) r->hvp_share_cpu = g.n > 0 ? median(ch, n) : NAN;
  free(g.A), free(g.B), free(g.C);
  return CS_OK;
}

/* ---------------------------------------------------------------- eig */


typedef int (*EigSolver)(const Linop *, const EigOpts *, EigResult *, Err *);

/* The own Lanczos stopping when each value is within tol (eig_lanczos_values): what a
 * caller that wants values pays; a different test from the peer's, so only reported. */
static int lanczos_values(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
  return eig_lanczos_values(op, o, o->tol, NAN, r, err);
}

/* Timed solves of c's Hessian; with the jmean start (o->start) each solve's time includes
 * computing its start vector (curv_start_jmean at c's point, float64). */
static EigRun eig_measure(const BenchOpts *bo, const Ctx *c, EigSolver solver, int k) {
  EigRun out = {NAN, 0, 0, NAN, 0, 0.0};
  Linop op = curv_hessian_op(c->curv);
  EigOpts o;
  eig_opts_default(&o);
  o.k = k;
  o.tol = bo->tol;
  o.exact_residuals = 0; /* as the peer: residuals are not part of the timed solve */
  const int jmean = bo->start.kind == CURV_START_JMEAN;
  double *v0 = jmean ? malloc(op.n * sizeof *v0) : NULL;
  if (jmean && !v0) {
    fprintf(stderr, "curvscope bench: out of memory for the start vector\n");
    out.status = CS_ENOMEM;
    return out;
  }
  double t[64], ts[64], total = 0.0, budget = bo->budget;
  int n = 0, repeats = bo->eig_repeats > 64 ? 64 : bo->eig_repeats;
  while (n < (repeats < 1 ? 1 : repeats)) {
    EigResult r = {0};
    Err err = {0};
    double t0 = wall_time();
    int rc = CS_OK;
    ts[n] = 0.0;
    if (jmean) {
      rc = curv_start_jmean(&c->net, LOSS_MSE, c->theta, &c->b, bo->start.frac, (size_t)k, v0,
                            NULL, &err);
      o.warm = v0, o.nwarm = 1;
      ts[n] = wall_time() - t0;
    }
    if (!rc) rc = solver(&op, &o, &r, &err);
    t[n] = wall_time() - t0;
    total += t[n++];
    out.status = rc;
    out.matvecs = r.matvecs;
    out.converged = rc == CS_OK && r.converged;
    out.value = r.k > 0 && r.values ? r.values[0] : NAN;
    if (rc && rc != CS_ENOCONV) fprintf(stderr, "curvscope bench: %s\n", err.msg);
    eig_result_free(&r);
    if (total > budget) break;
  }
  out.s = median(t, n);
  out.start_s = median(ts, n);
  free(v0);
  return out;
}

/* ---------------------------------------------------------------- block */

/* `bench block`: a header, then bench_block_run's rows (or one JSON line). */
static int run_block(const BenchOpts *o, Ctx *c, Err *err) {
  const char *ct = getenv("OPENBLAS_CORETYPE");
  StrBuf b;
  sb_init(&b);
  if (o->json) {
    sb_append(&b, "{\"workload\":");
    sb_json_str(&b, o->w->name);
    sb_printf(&b, ",\"mode\":\"block\",\"threads\":%d,\"n_params\":%zu,\"precision\":",
              threads_get(), c->net.n_params);
    sb_json_str(&b, precision_name(o->precision));
    sb_append(&b, ",\"openblas_coretype\":");
    sb_json_str(&b, ct);
    sb_append(&b, ",\"openblas_corename\":");
    sb_json_str(&b, openblas_get_corename());
  } else {
    printf("curvscope bench block  workload %s  (N=%zu, P=%zu)  threads %d  OPENBLAS_CORETYPE=%s  "
           "OpenBLAS %s  precision %s  tol %g\n", o->w->name, o->w->N, c->net.n_params,
           threads_get(), ct ? ct : "(unset)", openblas_get_corename(),
           precision_name(o->precision), o->tol);
  }
  int rc = bench_block_run(c->curv, o->tol, (o->parts & PART_EIG10) != 0, o->budget,
                           o->json ? &b : NULL, err);
  if (!rc && o->json) printf("%s}\n", b.p);
  sb_free(&b);
  return rc;
}

/* ---------------------------------------------------------------- output */


static void json_kv(StrBuf *b, const char *k, double v) {
  sb_printf(b, ",\"%s\":", k);
  sb_json_num(b, v);
}

static void json_eig(StrBuf *b, const char *pre, const EigRun *e) {
  char k[64];
  snprintf(k, sizeof k, "%s_s", pre), json_kv(b, k, e->s);
  snprintf(k, sizeof k, "%s_matvecs", pre), json_kv(b, k, (double)e->matvecs);
  snprintf(k, sizeof k, "%s_converged", pre), json_kv(b, k, e->converged);
  snprintf(k, sizeof k, "%s_value", pre), json_kv(b, k, e->value);
  snprintf(k, sizeof k, "%s_start_s", pre), json_kv(b, k, e->start_s);
}

/* The faster converged solver of a pair (ARPACK on ties or when neither converged). */
static const EigRun *eig_best(const EigRun *a, const EigRun *l, const char **name) {
  int pick_l = l->converged && (!a->converged || l->s < a->s);
  *name = pick_l ? "lanczos" : "arpack";
  return pick_l ? l : a;
}

static void print_json(const BenchOpts *o, const Ctx *c, const Results *r) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "{\"workload\":");
  sb_json_str(&b, o->w->name);
  sb_append(&b, ",\"mode\":");
  sb_json_str(&b, o->mode);
  json_kv(&b, "threads", threads_get());
  sb_append(&b, ",\"precision\":");
  sb_json_str(&b, precision_name(o->precision));
  json_kv(&b, "N", (double)o->w->N);
  json_kv(&b, "n_params", (double)c->net.n_params);
  sb_append(&b, ",\"data\":");
  sb_json_str(&b, c->data);
  sb_append(&b, ",\"omp_wait_policy\":");
  sb_json_str(&b, getenv("OMP_WAIT_POLICY"));
  sb_append(&b, ",\"openblas_coretype\":");
  sb_json_str(&b, getenv("OPENBLAS_CORETYPE"));
  sb_append(&b, ",\"openblas_corename\":");
  sb_json_str(&b, openblas_get_corename());
  sb_append(&b, ",\"openblas_config\":");
  sb_json_str(&b, openblas_get_config());
  bench_json_kstr(&b, "kernel_source", bench_kernel_source());
  json_kv(&b, "gemm_swap", net_gemm_swap_on());
  json_kv(&b, "gemm_swap_calls", (double)net_gemm_swap_calls());
  bench_json_kstr(&b, "openblas_chosen", bench_kernel_replaced());
  json_kv(&b, "chunk_rows", (double)r->chunk_rows);
  json_kv(&b, "l2_bytes", (double)r->machine.l2_bytes);
  json_kv(&b, "l3_bytes", (double)r->machine.l3_bytes);
  json_kv(&b, "dgemm_gflops", r->dgemm_gflops);
  if (o->parts & (PART_GRAD | PART_HVP)) {
    json_kv(&b, "grad_s", r->grad_s);
    json_kv(&b, "grad_repeats", r->rounds);
    json_kv(&b, "grad_gemm_flops", r->grad_flops);
    json_kv(&b, "grad_gflops", r->grad_flops / r->grad_s / 1e9);
    json_kv(&b, "grad_gemm_share", r->grad_share);
    json_kv(&b, "grad_gemm_share_cpu", r->grad_share_cpu);
  }
  if (o->parts & (PART_HVP | PART_EIG | PART_TRACK)) {
    json_kv(&b, "build_s", r->build_s);
    json_kv(&b, "build_first_s", r->build_first_s);
  }
  if (o->parts & PART_HVP) {
    json_kv(&b, "hvp_s", r->hvp_s);
    json_kv(&b, "hvp_repeats", r->rounds);
    json_kv(&b, "hvp_gemm_flops", r->hvp_flops);
    json_kv(&b, "hvp_gflops", r->hvp_flops / r->hvp_s / 1e9);
    json_kv(&b, "hvp_gemm_share", r->hvp_share);
    json_kv(&b, "hvp_gemm_share_cpu", r->hvp_share_cpu);
    json_kv(&b, "hvp_over_grad", r->hvp_s / r->grad_s);
  }
  if (o->parts & PART_EIG) {
    const char *n1;
    const EigRun *e1 = eig_best(&r->e1_arpack, &r->e1_lanczos, &n1);
    sb_append(&b, ",\"eig_start\":");
    sb_json_str(&b, o->start.kind == CURV_START_JMEAN ? "jmean" : "gaussian");
    json_kv(&b, "eig_start_frac", o->start.kind == CURV_START_JMEAN ? o->start.frac : NAN);
    json_eig(&b, "eig1", e1);
    sb_append(&b, ",\"eig1_solver\":");
    sb_json_str(&b, n1);
    json_eig(&b, "eig1_arpack", &r->e1_arpack);
    json_eig(&b, "eig1_lanczos", &r->e1_lanczos);
    json_eig(&b, "eig1_lanczos_values", &r->e1_values);
    if (o->parts & PART_EIG10) {
      const char *n10;
      const EigRun *e10 = eig_best(&r->e10_arpack, &r->e10_lanczos, &n10);
      json_eig(&b, "eig10", e10);
      sb_append(&b, ",\"eig10_solver\":");
      sb_json_str(&b, n10);
      json_eig(&b, "eig10_arpack", &r->e10_arpack);
      json_eig(&b, "eig10_lanczos", &r->e10_lanczos);
      json_eig(&b, "eig10_lanczos_values", &r->e10_values);
    }
  }
  if (o->parts & PART_TRACK) {
    json_kv(&b, "track_steps", r->track_steps);
    json_kv(&b, "track_lr", r->track_lr);
    json_kv(&b, "gd_step_s", r->gd_step_s);
    json_kv(&b, "track_s", r->track_s);
    json_kv(&b, "track_k", o->track_k);
    json_kv(&b, "track_update_tol", o->update_tol);
    json_kv(&b, "track_value_stop", o->value_stop);
    json_kv(&b, "track_tol", o->track_tol);
    json_kv(&b, "track_eig_s", r->track_eig_s);
    json_kv(&b, "track_over_gd", r->track_s / r->gd_step_s);
    json_kv(&b, "track_over_gd_mean", r->track_over_gd_mean);
    json_kv(&b, "track_matvecs_warm", r->track_mv_warm);
    json_kv(&b, "track_matvecs_mean", r->track_mv_mean);
    json_kv(&b, "track_one_product_frac", r->track_one_frac);
    json_kv(&b, "track_matvecs_cold", r->track_mv_cold);
    json_kv(&b, "track_lambda_exact_last", r->track_exact_last);
    json_kv(&b, "track_all_converged", r->track_all_conv);
    json_kv(&b, "track_lambda_first", r->track_lambda0);
    json_kv(&b, "track_lambda_last", r->track_lambda1);
  }
  json_kv(&b, "rss_mb", r->rss_mb);
  if (o->parts & PART_EIG) json_kv(&b, "rss_eig1_mb", r->rss_eig1_mb);
  if (o->parts & PART_EIG10) json_kv(&b, "rss_eig10_mb", r->rss_eig10_mb);
  if (o->parts & PART_TRACK) json_kv(&b, "rss_track_mb", r->rss_track_mb);
  sb_append(&b, "}");
  printf("%s\n", b.p);
  sb_free(&b);
}

static void print_eig_row(const char *what, const EigRun *e) {
  printf("  %-26s %10.4f s  %5ld products  %s  lambda=%.8g", what, e->s, e->matvecs,
         e->converged ? "converged    " : "NOT converged", e->value);
  if (e->start_s > 0) printf("  (start %.4f s)", e->start_s);
  printf("\n");
}

static void print_table(const BenchOpts *o, const Ctx *c, const Results *r) {
  const Workload *w = o->w;
  printf("curvscope bench %s  workload %s  (", o->mode, w->name);
  for (int i = 0; i < w->nwidths; i++) printf("%s%ld", i ? "-" : "", w->widths[i]);
  printf(", %s, %s, N=%zu, P=%zu, %s data)\n", act_name(w->act), w->bias ? "bias" : "no bias",
         w->N, c->net.n_params, c->data);
  const char *wp = getenv("OMP_WAIT_POLICY"), *ct = getenv("OPENBLAS_CORETYPE");
  const char *chose = bench_kernel_replaced();
  printf("  threads %d  OMP_WAIT_POLICY=%s  OPENBLAS_CORETYPE=%s%s%s%s  OpenBLAS %s  precision %s\n",
         threads_get(), wp ? wp : "(unset)", ct ? ct : "(unset)",
         chose ? " (set by curvscope: OpenBLAS chose " : "", chose ? chose : "", chose ? ")" : "",
         openblas_get_corename(), precision_name(o->precision));
  printf("  chunks of %zu rows (%s; L2 %zu KiB, L3 %zu KiB); transposed forward GEMMs %s (%lu)\n",
         r->chunk_rows, o->chunk < 0 ? "auto, core/layout.h" : "--chunk",
         r->machine.l2_bytes / 1024, r->machine.l3_bytes / 1024, net_gemm_swap_on() ? "on" : "off",
         net_gemm_swap_calls());
  printf("  %-26s %10.2f GFLOP/s (cblas_dgemm %d^2, float64)\n", "DGEMM rate", r->dgemm_gflops,
         o->dgemm_n);
  if (o->parts & (PART_GRAD | PART_HVP))
    printf("  %-26s %10.4f s  %7.2f GFLOP/s  %5.1f%% of DGEMM  (%5.1f%% in CPU time, %d "
           "repeats)\n", "gradient", r->grad_s, r->grad_flops / r->grad_s / 1e9,
           100.0 * r->grad_share, 100.0 * r->grad_share_cpu, r->rounds);
  if (o->parts & (PART_HVP | PART_EIG | PART_TRACK))
    printf("  %-26s %10.4f s  (first build, with page faults: %.4f s)\n", "curvature build",
           r->build_s, r->build_first_s);
  if (o->parts & PART_HVP) {
    printf("  %-26s %10.4f s  %7.2f GFLOP/s  %5.1f%% of DGEMM  (%5.1f%% in CPU time, %d "
           "repeats)\n", "HVP", r->hvp_s, r->hvp_flops / r->hvp_s / 1e9, 100.0 * r->hvp_share,
           100.0 * r->hvp_share_cpu, r->rounds);
    printf("  %-26s %10.2f\n", "HVP / gradient", r->hvp_s / r->grad_s);
  }
  if (o->parts & PART_EIG) {
    const char *n1;
    eig_best(&r->e1_arpack, &r->e1_lanczos, &n1);
    if (o->start.kind == CURV_START_JMEAN)
      printf("  %-26s jmean: the outputs' mean Jacobian over %g of the rows\n", "start vector",
             o->start.frac);
    print_eig_row("top-1  ARPACK", &r->e1_arpack);
    print_eig_row("top-1  Lanczos", &r->e1_lanczos);
    print_eig_row("top-1  Lanczos, value stop", &r->e1_values);
    printf("  %-26s %s\n", "top-1  faster", n1);
    if (o->parts & PART_EIG10) {
      const char *n10;
      eig_best(&r->e10_arpack, &r->e10_lanczos, &n10);
      print_eig_row("top-10 ARPACK", &r->e10_arpack);
      print_eig_row("top-10 Lanczos", &r->e10_lanczos);
      print_eig_row("top-10 Lanczos, value stop", &r->e10_values);
      printf("  %-26s %s\n", "top-10 faster", n10);
    }
  }
  if (o->parts & PART_TRACK) {
    printf("  %-26s %10.4f s  (objective_eval + update; %d steps, lr %.4g)\n", "GD step",
           r->gd_step_s, r->track_steps, r->track_lr);
    printf("  %-26s %10.4f s  (build = the step's gradient, + top-%d %.4f s, + update)\n",
           "GD step with sharpness", r->track_s, o->track_k, r->track_eig_s);
    printf("  %-26s %10.2f x median, %.2f x mean (update_tol %g, tol %g)\n", "... over a GD step",
           r->track_s / r->gd_step_s, r->track_over_gd_mean, o->update_tol, o->track_tol);
    printf("  %-26s %10.1f median, %.2f mean (%.0f%% one-block updates) vs %.0f cold%s\n",
           "products per measurement", r->track_mv_warm, r->track_mv_mean,
           100 * r->track_one_frac, r->track_mv_cold,
           r->track_all_conv ? "" : "  (some did NOT converge)");
    printf("  %-26s %.8g -> %.8g (cold solve at the end: %.8g)\n", "sharpness",
           r->track_lambda0, r->track_lambda1, r->track_exact_last);
  }
  printf("  %-26s %10.1f MB", "peak RSS", r->rss_mb);
  if (o->parts & PART_EIG) printf("  (up to top-1: %.1f MB", r->rss_eig1_mb);
  if (o->parts & PART_EIG10) printf(", up to top-10: %.1f MB", r->rss_eig10_mb);
  if (o->parts & PART_EIG) printf(")");
  if (o->parts & PART_TRACK) printf("  (with tracking: %.1f MB)", r->rss_track_mb);
  printf("\n");
}

/* ---------------------------------------------------------------- track */

/* Sharpness at every step as a run with `--probe sharpness:every=1,k=K,update_tol=U`
 * does it: per step one curvature build, which also gives the step's gradient
 * (Probe.step_eval), a measurement by the tracker of the step's parity, the update.
 * Against a plain GD step (objective_eval + update) timed at the same θ. */
static int run_track(const BenchOpts *o, Ctx *c, Results *r, Err *err) {
  const Net *net = &c->net;
  size_t P = net->n_params;
  int steps = o->steps < 1 ? 1 : o->steps;
  double *th = malloc(P * sizeof *th), *g = malloc(P * sizeof *g);
  size_t ssz = (size_t)steps * sizeof(double);
  double *t_gd = malloc(ssz), *t_tr = malloc(ssz), *t_e = malloc(ssz), *mv = malloc(ssz);
  Optimizer *opt = NULL;
  Tracker *tr[2] = {NULL, NULL};
  int rc = CS_OK;
  if (!th || !g || !t_gd || !t_tr || !t_e || !mv) {
    rc = err_set(err, CS_ENOMEM, "out of memory for track");
    goto done;
  }
  memcpy(th, c->theta, P * sizeof *th);
  Linop op = curv_hessian_op(c->curv);
  EigOpts eo;
  eig_opts_default(&eo);
  eo.k = o->track_k;
  eo.tol = o->track_tol;
  eo.exact_residuals = 0;
  EigResult er;
  /* cold solve at θ0: the sharpness, hence the learning rate */
  if ((rc = curv_build(c->curv, th, &c->b, err))) goto done;
  rc = eig_lanczos_top(&op, &eo, &er, err);
  if (rc && rc != CS_ENOCONV) goto done;
  rc = CS_OK;
  r->track_lambda0 = er.values[0];
  r->track_mv_cold = (double)er.matvecs;
  eig_result_free(&er);
  for (int i = 0; i < 2; i++) {
    if (!(tr[i] = tracker_alloc(P, o->track_k, o->track_tol, 0, 0x5a3bULL + (uint64_t)i))) {
      rc = err_set(err, CS_ENOMEM, "out of memory for the tracker");
      goto done;
    }
    tracker_set_update_tol(tr[i], o->update_tol, -1); /* the probe's default refresh */
    tracker_set_value_stop(tr[i], o->value_stop);
    tracker_set_lobpcg(tr[i], o->lobpcg);
  }
  OptConfig cfg;
  optconfig_default(&cfg);
  cfg.lr = o->lr > 0 ? o->lr : 0.5 / fabs(r->track_lambda0);
  r->track_lr = cfg.lr;
  opt = optim_alloc(optim_gd, &cfg, P);
  if (!opt) {
    rc = err_set(err, CS_ENOMEM, "out of memory for the optimizer");
    goto done;
  }
  r->track_all_conv = 1;
  long one = 0;
  double total_mv = 0, total_tr = 0, total_gd = 0;
  for (int s = 0; s < steps; s++) {
    /* a plain step is this evaluation at the same θ plus the same update */
    double t1 = wall_time(), loss;
    objective_eval_parallel(net, th, LOSS_MSE, &c->b, c->work, g, &loss, NULL);
    double t2 = wall_time();
    if ((rc = curv_build(c->curv, th, &c->b, err))) goto done;
    double t3 = wall_time();
    rc = tracker_measure(tr[s & 1], &op, &er, NULL, err);
    double t4 = wall_time();
    if (rc && rc != CS_ENOCONV) goto done;
    r->track_all_conv &= rc == CS_OK && er.converged;
    rc = CS_OK;
    r->track_lambda1 = er.values[0];
    if (s == steps - 1) memcpy(g, th, P * sizeof *g); /* the last measured point */
    optim_step(opt, th, curv_grad(c->curv));
    double t5 = wall_time();
    mv[s] = (double)er.matvecs;
    eig_result_free(&er);
    t_gd[s] = (t2 - t1) + (t5 - t4), t_e[s] = t4 - t3, t_tr[s] = t5 - t2;
    if (s >= 2) { /* after each parity tracker's first (cold) solve, as in a long run */
      one += mv[s] == o->track_k;
      total_mv += mv[s], total_tr += t_tr[s], total_gd += t_gd[s];
    }
  }
  /* how good is the last tracked value: a cold solve to 1e-10 at the point it measured
   * (g holds that θ; the context must be rebuilt there, θ moved since) */
  if ((rc = curv_build(c->curv, g, &c->b, err))) goto done;
  eo.tol = 1e-10;
  eo.k = 1;
  rc = eig_lanczos_top(&op, &eo, &er, err);
  if (rc && rc != CS_ENOCONV) goto done;
  rc = CS_OK;
  r->track_exact_last = er.values[0];
  eig_result_free(&er);
  r->track_steps = steps;
  r->gd_step_s = median(t_gd, steps);
  r->track_s = median(t_tr, steps);
  r->track_eig_s = median(t_e, steps);
  r->track_mv_warm = median(mv, steps);
  int later = steps > 2 ? steps - 2 : 0;
  r->track_mv_mean = later ? total_mv / later : NAN;
  r->track_over_gd_mean = later ? total_tr / total_gd : NAN;
  r->track_one_frac = later ? (double)one / later : NAN;
done:
  optim_free(opt);
  tracker_free(tr[0]), tracker_free(tr[1]);
  free(th), free(g), free(t_gd), free(t_tr), free(t_e), free(mv);
  return rc;
}

/* ---------------------------------------------------------------- main */

typedef struct BenchArgs {
  char workload[32];
  char draws_file[1024];
  char trace[1024];
  long threads, repeats, eig_repeats, steps, track_k, dgemm_n, every, chunk, seed;
  double budget, tol, lr, track_tol, update_tol;
  int eig10, json, check;
  char track_stop[16];
  Precision precision;
  char track_solver[16];
  char start[32];
  char gemm_swap[8];
} BenchArgs;

static void show_lr(const void *base, const CliOpt *opt, char *out, size_t n) {
  double lr = ((const BenchArgs *)base)->lr;
  (void)opt;
  if (lr > 0) snprintf(out, n, "%g", lr);
  else snprintf(out, n, "track 0.5 / lambda_max, eos 0.05");
}

static int parse_lr(void *base, const CliOpt *opt, const char *v, Err *err) {
  double *lr = &((BenchArgs *)base)->lr;
  (void)opt;
  if (parse_double(v, lr) || !(*lr > 0))
    return err_set(err, CS_EINVAL, "--lr %s: expected a positive number", v);
  return CS_OK;
}

static const CliOpt bench_opts[] = {
    OPT_STR(BenchArgs, workload, "NAME", "digits | cohen | deeplinear | wide (shapes of peer_torch.py), or a study's "
            "loop: pc-bias | spectral | stein (peer_loops.py; --repeats rounds, spectral --steps "
            "iterations per round) | eos (the edge-of-stability study whole, peer_eos.py: "
            "--steps GD steps, the sharpness --every few at --tol) | batch-scaling "
            "(peer_batch.py; --repeats rounds)", NULL),
    OPT_THREADS(BenchArgs, threads),
    OPT_LONG(BenchArgs, repeats, "R", "timed repeats for gradient and HVP (1 warm-up)", NULL),
    OPT_POS(BenchArgs, budget, "S", "stop repeating a measurement after S timed seconds", NULL),
    OPT_LONG(BenchArgs, eig_repeats, "R", "timed eigen-solves per solver", NULL),
    OPT_FLAG(BenchArgs, eig10, "the top-10 solves of eig and all (--no-eig10 skips them)", NULL),
    OPT_POS(BenchArgs, tol, "T", "eigen tolerance (as the peer's eigsh)", NULL),
    OPT_LONG(BenchArgs, steps, "S", "GD steps for track and eos (the EoS study: 5000)", NULL),
    OPT_LONG(BenchArgs, every, "K", "eos: the sharpness every K steps", NULL),
    OPT_STR(BenchArgs, track_stop, "RULE", "track and eos: the trackers' full solves stop on the 'value' bound "
            "(est^2/gap <= tol |theta|) or the 'residual' (<= tol |theta|); batch-scaling: its "
            "solves (study batch-scaling --eig-stop)", NULL),
    OPT_STR(BenchArgs, track_solver, "S", "track and eos: the trackers' full solves by the own "
            "'lanczos' or by warm block 'lobpcg' (eig_lobpcg over the block product)", NULL),
    OPT_STR(BenchArgs, start, "S", "eig and all: the solves' start vector, 'gaussian' (seeded) or "
            "'jmean[:frac=F]' (the outputs' mean Jacobian over a fraction F of the rows, default "
            "0.1; its cost is part of each solve's time)", NULL),
    OPT_STR(BenchArgs, gemm_swap, "M", "the forward GEMMs with a long inner dimension as a "
            "transposed GEMM: 'auto' (under OpenBLAS's AVX-512 kernels, float64), 'on', 'off'", NULL),
    OPT_FLAG(BenchArgs, check, "eos: every value against a cold 1e-10 solve, untimed "
             "(--no-check skips it)", NULL),
    OPT_FN(BenchArgs, lr, "LR", "GD learning rate for track and eos", NULL, parse_lr, show_lr),
    OPT_LONG(BenchArgs, seed, "N", "eos: the initialisation's seed (another trajectory)", NULL),
    OPT_LONG(BenchArgs, track_k, "K", "track and eos: pairs tracked", NULL),
    OPT_POS(BenchArgs, track_tol, "T", "the tracker's full solves", NULL),
    OPT_POS(BenchArgs, update_tol, "U", "the tracker's one-product acceptance (equal to "
            "--track-tol: every measurement to tol)", NULL),
    OPT_LONG(BenchArgs, dgemm_n, "N", "size of the reference DGEMM (0 skips it)", NULL),
    OPT_FLAG(BenchArgs, json, "one JSON object on one line", NULL),
    OPT_PRECISION(BenchArgs, precision),
    OPT_CHUNK(BenchArgs, chunk, "rows per GEMM chunk of the gradient and the curvature passes "
              "(0: no limit, N / threads; auto: from the BLAS kernel and the caches)"),
    OPT_STR(BenchArgs, draws_file, "FILE", "batch-scaling: write FILE (every draw's rows) and "
            "FILE.bin (theta, X, Y) for bench/peer_batch.py", NULL),
    OPT_STR(BenchArgs, trace, "FILE", "eos: write FILE, a CSV line per measurement (step, full "
            "solve, products, value, the next Ritz value, and with --check the cold value and "
            "the relative error)", NULL),
    OPT_END};

static void usage(FILE *f, const OptTable *t) {
  fprintf(f, "usage: curvscope bench grad|hvp|eig|track|all|block --workload NAME [options]\n"
             "       curvscope bench machine [--threads N] [--json]\n\n"
             "grad: gradient; hvp: gradient + HVP; eig: top-1/top-10 by ARPACK and Lanczos;\n"
             "track: a GD step with sharpness at every step (the probe's trackers, the build\n"
             "shared with the step's gradient) against a plain GD step; all: everything;\n"
             "block: H·V for 2, 4, 10 vectors in one pass against single HVPs, and top-1/top-10\n"
             "by the own Lanczos against LOBPCG (not in all).\n"
             "machine: the CPU, its instructions, the BLAS kernel and who chose it, the caches.\n\n");
  opts_help_print(f, t, 1);
}

int cmd_bench(int argc, char **argv) {
  BenchArgs b = {"", "", "", 0, 5, 1, 20, 1, 2048, 10, -1, 0, 20.0, 1e-6, 0.0, 1e-3, 1e-2, 1, 0, 1, "value", PREC_F64,
                 "lanczos", "gaussian", "auto"};
  unsigned char seen[OPTS_MAX_LINES] = {0};
  OptTable t = {bench_opts, &b, NULL, seen};
  if (cli_is_help(argc, argv)) {
    usage(stdout, &t);
    return EXIT_OK;
  }
  Err err = {0};
  char **pos = malloc((size_t)argc * sizeof *pos);
  int npos = 0;
  if (!pos) return EXIT_FAIL;
  if (opts_parse(&t, 1, argc, argv, 1, pos, &npos, &err)) {
    free(pos);
    return cli_fail(&err);
  }
  const char *mode = npos == 1 ? pos[0] : NULL;
  free(pos);
  if (!mode && !strcmp(b.workload, "eos")) mode = "all"; /* a whole study: no parts */
  /* float32 passes: the tolerances not given default to the float32 floor */
  double floor32 = precision_tol_min(b.precision);
  if (!opts_seen(&t, "tol") && b.tol < floor32) b.tol = floor32;
  if (!opts_seen(&t, "track_tol") && b.track_tol < floor32) b.track_tol = floor32;
  if (precision_check_tol(b.precision, b.tol, "--tol", &err) ||
      precision_check_tol(b.precision, b.track_tol, "--track-tol", &err) ||
      (b.update_tol > 0 && precision_check_tol(b.precision, b.update_tol, "--update-tol", &err)))
    return cli_fail(&err);
  if (!mode) {
    fprintf(stderr, "curvscope bench: which benchmark? (grad, hvp, eig, track, all, block, machine; see --help)\n");
    return EXIT_USAGE;
  }
  if (!strcmp(mode, "machine")) {
    threads_set((int)b.threads);
    return bench_machine_main(b.json) ? EXIT_FAIL : EXIT_OK;
  }
  struct { const char *name; long v, min, max; } counts[] = {
      {"--repeats", b.repeats, 1, 1000000}, {"--eig-repeats", b.eig_repeats, 1, 1000000},
      {"--steps", b.steps, 1, 1000000}, {"--track-k", b.track_k, 1, TRACKER_MAX_K},
      {"--dgemm-n", b.dgemm_n, 0, 1000000}, {"--every", b.every, 1, 1000000}};
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
    if (counts[i].v < counts[i].min || counts[i].v > counts[i].max) {
      fprintf(stderr, "curvscope bench: %s %ld: expected a whole number from %ld to %ld\n",
              counts[i].name, counts[i].v, counts[i].min, counts[i].max);
      return EXIT_USAGE;
    }
  if (strcmp(b.track_solver, "lanczos") && strcmp(b.track_solver, "lobpcg")) {
    fprintf(stderr, "curvscope bench: --track-solver %s: expected lanczos or lobpcg\n",
            b.track_solver);
    return EXIT_USAGE;
  }
  if (strcmp(b.track_stop, "value") && strcmp(b.track_stop, "residual")) {
    fprintf(stderr, "curvscope bench: --track-stop %s: expected value or residual\n",
            b.track_stop);
    return EXIT_USAGE;
  }
  BenchOpts o = {0, mode, NULL, (int)b.threads, (int)b.repeats, b.budget, (int)b.eig_repeats,
                 (int)b.steps, (int)b.track_k, b.update_tol, b.track_tol, b.lr, b.tol,
                 (int)b.dgemm_n, b.json, !strcmp(b.track_stop, "value"), b.precision,
                 !strcmp(b.track_solver, "lobpcg"), b.chunk, {CURV_START_GAUSSIAN, 0}};
  if (strcmp(b.gemm_swap, "auto") && strcmp(b.gemm_swap, "on") && strcmp(b.gemm_swap, "off")) {
    fprintf(stderr, "curvscope bench: --gemm-swap %s: expected auto, on or off\n", b.gemm_swap);
    return EXIT_USAGE;
  }
  net_gemm_swap_set(!strcmp(b.gemm_swap, "auto") ? -1 : !strcmp(b.gemm_swap, "on"));
  if (curv_start_parse(b.start, &o.start, &err)) {
    fprintf(stderr, "curvscope bench: %s\n", err.msg);
    return EXIT_USAGE;
  }
  int no_eig10 = !b.eig10;
  const char *wname = b.workload[0] ? b.workload : NULL;
  if (!strcmp(o.mode, "grad")) o.parts = PART_GRAD;
  else if (!strcmp(o.mode, "hvp")) o.parts = PART_GRAD | PART_HVP;
  else if (!strcmp(o.mode, "eig")) o.parts = PART_EIG | PART_EIG10;
  else if (!strcmp(o.mode, "track")) o.parts = PART_TRACK;
  else if (!strcmp(o.mode, "all")) o.parts = PART_GRAD | PART_HVP | PART_EIG | PART_EIG10 | PART_TRACK;
  else if (!strcmp(o.mode, "block")) o.parts = PART_BLOCK | PART_EIG10;
  else {
    fprintf(stderr, "curvscope bench: unknown benchmark '%s' (grad, hvp, eig, track, all, block, machine)\n",
            o.mode);
    return EXIT_USAGE;
  }
  if (no_eig10) o.parts &= ~PART_EIG10;
  if (!wname) {
    fprintf(stderr, "curvscope bench: --workload is required (digits, cohen, deeplinear, wide)\n");
    return EXIT_USAGE;
  }
  for (size_t i = 0; i < NWORKLOADS; i++)
    if (!strcmp(wname, WORKLOADS[i].name)) o.w = &WORKLOADS[i];
  if (!o.w && !strcmp(wname, "eos")) {
    Err eerr = {0};
    if (threads_check(o.threads, &eerr)) return cli_fail(&eerr);
    threads_set(o.threads);
    BenchEosOpts eo = {b.steps, b.every, b.tol, !strcmp(b.track_stop, "value"), b.check, b.json,
                       !strcmp(b.track_solver, "lobpcg"), b.precision,
                       b.trace[0] ? b.trace : NULL, b.lr, b.seed, (int)b.track_k};
    return bench_eos_main(&eo);
  }
  if (!o.w && bench_loop_known(wname)) { /* a study's loop: every mode runs all of it */
    Err lerr = {0};
    if (threads_check(o.threads, &lerr)) return cli_fail(&lerr);
    threads_set(o.threads);
    BenchLoopOpts lo = {o.repeats, o.steps, o.budget, o.dgemm_n, o.json, b.draws_file,
                        b.precision, !strcmp(b.track_stop, "value")};
    return bench_loop_main(wname, &lo);
  }
  if (!o.w) {
    fprintf(stderr, "curvscope bench: unknown workload '%s' (digits, cohen, deeplinear, wide, pc-bias, spectral, stein, ntk, eos, batch-scaling)\n",
            wname);
    return EXIT_USAGE;
  }
  threads_set(o.threads);

  Ctx c;
  Results r;
  memset(&r, 0, sizeof r);
  int rc = ctx_init(&c, o.w, &err);
  if (rc) goto fail;
  size_t N = o.w->N, chunk = layout_chunk_arg(o.chunk);
  layout_machine_read(&r.machine);
  r.chunk_rows = layout_chunk_rows(&c.net, N, chunk, threads_data_parallel());
  if (o.parts & (PART_GRAD | PART_HVP | PART_TRACK)) {
    if (!(c.work = objective_work_alloc(&c.net, N, chunk))) {
      rc = err_set(&err, CS_ENOMEM, "out of memory for the gradient cache");
      goto fail;
    }
    if ((rc = objective_work_set_precision(c.work, &c.net, o.precision, &err))) goto fail;
  }
  if (o.parts & (PART_GRAD | PART_HVP)) {
    r.grad_flops = bench_flops_grad(&c.net, N);
  }
  if (o.parts & (PART_HVP | PART_EIG | PART_TRACK | PART_BLOCK)) {
    if (!(c.curv = curv_alloc(&c.net, LOSS_MSE, N, chunk, &err)) ||
        curv_set_precision(c.curv, o.precision, &err)) {
      rc = err.code ? err.code : CS_ENOMEM;
      goto fail;
    }
    /* The first build also faults in the fresh workspaces: time it apart, then
     * the median of a few rebuilds (what a probe pays at every step). */
    double tb[5];
    for (int i = 0; i < 6; i++) {
      double t0 = wall_time();
      if ((rc = curv_build(c.curv, c.theta, &c.b, &err))) goto fail;
      if (i == 0) r.build_first_s = wall_time() - t0;
      else tb[i - 1] = wall_time() - t0;
    }
    r.build_s = median(tb, 5);
  }
  if (o.parts & PART_HVP) {
    r.hvp_flops = flops_hvp(&c.net, N);
  }
  if (o.parts & PART_EIG) {
    /* The own Lanczos solves first: the peaks after them are theirs (getrusage's peak
     * only grows); after ARPACK's, the larger of the two. So a reported peak is exact
     * when Lanczos is the faster solver and an upper bound otherwise. */
    const int ten = o.parts & PART_EIG10;
    r.e1_lanczos = eig_measure(&o, &c, eig_lanczos_top, 1);
    double rss_l1 = maxrss_mb(), rss_l10 = NAN;
    if (ten) {
      r.e10_lanczos = eig_measure(&o, &c, eig_lanczos_top, 10);
      rss_l10 = maxrss_mb();
    }
    /* the value stop holds the same basis as the plain Lanczos: no new peak */
    r.e1_values = eig_measure(&o, &c, lanczos_values, 1);
    if (ten) r.e10_values = eig_measure(&o, &c, lanczos_values, 10);
    r.e1_arpack = eig_measure(&o, &c, eig_arpack, 1);
    if (ten) r.e10_arpack = eig_measure(&o, &c, eig_arpack, 10);
    const char *best1, *best10;
    eig_best(&r.e1_arpack, &r.e1_lanczos, &best1);
    r.rss_eig1_mb = !strcmp(best1, "lanczos") ? rss_l1 : maxrss_mb();
    r.rss_eig10_mb = NAN;
    if (ten) {
      eig_best(&r.e10_arpack, &r.e10_lanczos, &best10);
      r.rss_eig10_mb = fmax(r.rss_eig1_mb, !strcmp(best10, "lanczos") ? rss_l10 : maxrss_mb());
    }
  }
  if (o.parts & PART_BLOCK) { /* block products and LOBPCG against the singles, alone */
    rc = run_block(&o, &c, &err);
    ctx_free(&c);
    return rc ? cli_fail(&err) : EXIT_OK;
  }
  /* Peak RSS of the parts the peer runs too (gradient, HVP, eigen-solves): the passes
   * allocate nothing, so their workspaces all exist by now. Tracking is apart. */
  r.rss_mb = maxrss_mb();
  if (o.parts & PART_TRACK) {
    if ((rc = run_track(&o, &c, &r, &err))) goto fail;
    /* track built the context at its own (now freed) θ: rebuild at θ0 */
    if ((rc = curv_build(c.curv, c.theta, &c.b, &err))) goto fail;
    r.rss_track_mb = maxrss_mb(); /* with the trackers' vectors */
  }
  /* (all peaks are taken before the DGEMM buffers, 3 x 32 MB at 2048, exist) */
  /* Gradient, HVP and DGEMM last, in alternation. */
  if ((rc = paired_rounds(&o, &c, &r, &err))) goto fail;
  if (o.json) print_json(&o, &c, &r);
  else print_table(&o, &c, &r);
  fflush(stdout);
  ctx_free(&c);
  return EXIT_OK;
fail:
  ctx_free(&c);
  return cli_fail(&err);
}
