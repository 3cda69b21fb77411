/*
 * bench_ntk.c: `curvscope bench --workload ntk` (bench_loop.h): the top-20 eigenpairs of
 * the empirical NTK K = J Jᵀ, the solve study ntk runs at every measurement, on both of
 * its paths (studies/ntk/ntk.h; bench/peer_ntk.py is the PyTorch side):
 *
 *   grid     200 points of synth:sines, mlp:1-256-256-1 ReLU (torch init, seed 0), d_out = 1:
 *            the dense path, K from the per-layer Gram matrices (ntk_dense_kernel) and its
 *            top 20 by dsyevr (ntk_dense_top). N = 200.
 *   fmnist   Fashion-MNIST n = 2000, mlp:784-200-200-10 ReLU, d_out = 10: the matrix-free
 *            path, curv_build (one forward/backward, cached) then thick-restart Lanczos on
 *            the Linop J Jᵀ to relative tolerance 1e-8 (ntk_lanczos_top, the probe's
 *            setting). N = 20 000; the products are counted.
 *
 * Each is timed `repeats` times (at least 3, until `budget` seconds) after one untimed
 * solve; figures are medians. The top eigenvalues are printed so that both sides can be
 * seen to solve the same problem.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_loop.h"
#include "cli.h"
#include "core/blas_kernel.h"
#include "core/json.h"
#include "core/threads.h"
#include "hessian/curv.h"
#include "run_opts.h"
#include "studies/ntk/ntk.h"


#define NTK_K 20
#define NTK_TOL 1e-8
#define MAX_ROUNDS 64

typedef struct NtkCase {
  const char *name, *data, *model;
} NtkCase;

static const NtkCase CASES[2] = {
    {"grid", "synth:sines,n=200,freqs=1-2-4-8-16,amps=equal", "mlp:1-256-256-1"},
    {"fmnist", "fashion-mnist:n=2000,test=0", "mlp:784-200-200-10"},
};

typedef struct NtkTimes {
  int rounds;
  size_t N, params;
  double build_s, solve_s, total_s; /* medians; dense: build = the kernel, solve = dsyevr */
  double total_cpu_s;               /* the process's CPU seconds (all threads) per solve */
  double products;                  /* matrix-free: J Jᵀ products per solve */
  double top[3];
} NtkTimes;

/* Counts the products through a Linop. */
typedef struct Counted {
  Linop inner;
  long n;
} Counted;

static int counted_apply(void *self, const double *x, double *y) {
  Counted *c = self;
  c->n++;
  return c->inner.apply(c->inner.self, x, y);
}

static int setup(const NtkCase *c, RunSetup *s, Err *err) {
  return bench_run_setup(c->data, c->model, "relu", "gd", 0.01, 0, PREC_F64, s, err);
}

static int bench_case(int dense, const NtkCase *c, const BenchLoopOpts *o, NtkTimes *r,
                      Err *err) {
  RunSetup s;
  int rc = setup(c, &s, err);
  if (rc) return rc;
  size_t n = s.train->n, N = n * s.net.d_out;
  r->N = N, r->params = s.net.n_params;
  NtkDense *dw = NULL;
  Curvature *curv = NULL;
  double *K = NULL, *scr = NULL;
  double *vals = malloc(NTK_K * sizeof *vals), *vecs = malloc(NTK_K * N * sizeof *vecs);
  if (dense) {
    dw = ntk_dense_alloc(&s.net, n, err);
    K = malloc(N * N * sizeof *K);
    scr = malloc(ntk_eig_scratch_size(N) * sizeof *scr);
  } else {
    curv = curv_alloc(&s.net, LOSS_MSE, n, 0, err);
  }
  if (!vals || !vecs || (dense ? !dw || !K || !scr : !curv)) {
    rc = err->code ? err->code : err_set(err, CS_ENOMEM, "out of memory for the ntk benchmark");
    goto done;
  }
  int R = o->repeats < 3 ? 3 : o->repeats > MAX_ROUNDS ? MAX_ROUNDS : o->repeats;
  double tb[MAX_ROUNDS], ts[MAX_ROUNDS], tt[MAX_ROUNDS], tc[MAX_ROUNDS], np[MAX_ROUNDS];
  double spent = 0;
  int k = 0;
  Batch b = {s.train->X, s.train->Y, NULL, n, NULL, NULL};
  for (int it = -1; it < R; it++) { /* one untimed solve first */
    double c0 = bench_cpu_time(), t0 = wall_time(), t1;
    Counted cnt = {{0}, 0};
    if (dense) {
      rc = ntk_dense_kernel(dw, s.theta, s.train->X, n, K, NULL, err);
      t1 = wall_time();
      if (!rc) rc = ntk_dense_top(N, K, NTK_K, vals, vecs, scr, err);
    } else {
      rc = curv_build(curv, s.theta, &b, err);
      t1 = wall_time();
      cnt.inner = curv_ntk_op(curv);
      Linop op = {N, counted_apply, NULL, &cnt};
      if (!rc) rc = ntk_lanczos_top(&op, NTK_K, NTK_TOL, 20260101u, vals, vecs, NULL, err);
    }
    double t2 = wall_time(), c2 = bench_cpu_time();
    if (rc) goto done;
    if (it < 0) continue;
    tb[k] = t1 - t0, ts[k] = t2 - t1, tt[k] = t2 - t0, tc[k] = c2 - c0, np[k] = (double)cnt.n;
    spent += t2 - t0;
    k++;
    if (spent > o->budget && k >= 3) break;
  }
  r->rounds = k;
  r->build_s = bench_median(tb, k);
  r->solve_s = bench_median(ts, k);
  r->total_s = bench_median(tt, k);
  r->total_cpu_s = bench_median(tc, k);
  r->products = dense ? NAN : bench_median(np, k);
  for (int i = 0; i < 3; i++) r->top[i] = vals[i];
done:
  ntk_dense_free(dw);
  curv_free(curv);
  free(K), free(scr), free(vals), free(vecs);
  run_setup_free(&s);
  return rc;
}

int bench_ntk_main(const BenchLoopOpts *o) {
  Err err = {0};
  NtkTimes r[2];
  memset(r, 0, sizeof r);
  for (int c = 0; c < 2; c++)
    if (bench_case(c == 0, &CASES[c], o, &r[c], &err)) return cli_fail(&err);
  if (o->json) {
    StrBuf b;
    sb_init(&b);
    sb_append(&b, "{\"workload\":\"ntk\"");
    bench_json_kv(&b, "threads", threads_get());
    bench_json_kv(&b, "k", NTK_K);
    bench_json_kv(&b, "tol", NTK_TOL);
    bench_json_kstr(&b, "openblas_coretype", getenv("OPENBLAS_CORETYPE"));
    bench_json_kstr(&b, "openblas_corename", openblas_get_corename());
    for (int c = 0; c < 2; c++) {
      const char *p = CASES[c].name;
      char key[48];
#define KV(name, v) (snprintf(key, sizeof key, "%s_%s", p, name), bench_json_kv(&b, key, v))
      snprintf(key, sizeof key, "%s_data", p), bench_json_kstr(&b, key, CASES[c].data);
      snprintf(key, sizeof key, "%s_model", p), bench_json_kstr(&b, key, CASES[c].model);
      KV("N", (double)r[c].N);
      KV("params", (double)r[c].params);
      KV("rounds", r[c].rounds);
      KV("build_s", r[c].build_s);
      KV("solve_s", r[c].solve_s);
      KV("total_s", r[c].total_s);
      KV("total_cpu_s", r[c].total_cpu_s);
      KV("products", r[c].products);
      snprintf(key, sizeof key, "%s_top3", p);
      sb_printf(&b, ",\"%s\":[", key);
      for (int i = 0; i < 3; i++) sb_printf(&b, "%s%.17g", i ? "," : "", r[c].top[i]);
      sb_append(&b, "]");
#undef KV
    }
    sb_append(&b, "}");
    printf("%s\n", b.p);
    sb_free(&b);
    return EXIT_OK;
  }
  printf("ntk: top-%d eigenpairs of K = J Jᵀ (threads %d, OpenBLAS %s)\n", NTK_K, threads_get(),
         openblas_get_corename());
  for (int c = 0; c < 2; c++)
    printf("  %-7s %-20s N %6zu  %s %8.4f s + %s %8.4f s = %8.4f s (CPU %.3f s)  λ1 %.6g\n",
           CASES[c].name, CASES[c].model, r[c].N, c ? "build" : "K    ", r[c].build_s,
           c ? "Lanczos" : "dsyevr ", r[c].solve_s, r[c].total_s, r[c].total_cpu_s, r[c].top[0]);
  if (!isnan(r[1].products)) printf("  fmnist: %.0f products J Jᵀ v per solve\n", r[1].products);
  return EXIT_OK;
}
