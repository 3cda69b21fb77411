/* bench_block.c: `bench block`, block products and LOBPCG against the singles (bench_block.h). */
#include "bench_block.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_loop.h"
#include "core/rng.h"
#include "core/threads.h"
#include "lanczos/eig.h"

#define KMAX 10

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median seconds of `k` products as one block (block 1) or k singles, over up to 15
 * repeats within budget (one warm-up first); *cpu the median process CPU seconds (on a
 * shared machine the steadier figure). */
static double time_products(Curvature *c, size_t k, int block, const double *V, double *HV,
                            double budget, double *cpu) {
  size_t P = curv_nparams(c);
  double t[15], u[15], total = 0;
  int n = 0;
  for (int it = -1; it < 15; it++) {
    double t0 = wall_time(), c0 = bench_cpu_time();
    if (block) curv_hvp_block(c, k, V, HV);
    else
      for (size_t j = 0; j < k; j++) curv_hvp(c, V + j * P, HV + j * P);
    double dt = wall_time() - t0, dc = bench_cpu_time() - c0;
    if (it < 0) continue;
    t[n] = dt, u[n++] = dc;
    total += dt;
    if (total > budget && n >= 3) break;
  }
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  qsort(u, (size_t)n, sizeof *u, cmp_d);
  *cpu = u[n / 2];
  return t[n / 2];
}

typedef struct Solve {
  double s, cpu, value;
  long products;
  int converged;
} Solve;

static Solve solve(Curvature *c, int k, double tol, int lobpcg) {
  Linop op = curv_hessian_op(c);
  EigOpts o;
  eig_opts_default(&o);
  o.k = k, o.tol = tol, o.exact_residuals = 0;
  EigResult r;
  Err err = {0};
  double t0 = wall_time(), c0 = bench_cpu_time();
  int rc = lobpcg ? eig_lobpcg(&op, &o, &r, &err) : eig_lanczos_top(&op, &o, &r, &err);
  Solve s = {wall_time() - t0, bench_cpu_time() - c0, r.k > 0 && r.values ? r.values[0] : NAN,
             r.matvecs, rc == CS_OK && r.converged};
  if (rc && rc != CS_ENOCONV) fprintf(stderr, "curvscope bench: %s\n", err.msg);
  eig_result_free(&r);
  return s;
}

static void kv(StrBuf *b, const char *k, double v) {
  sb_printf(b, ",\"%s\":", k);
  sb_json_num(b, v);
}

int bench_block_run(Curvature *curv, double tol, int ten, double budget, StrBuf *json, Err *err) {
  size_t P = curv_nparams(curv);
  double *V = malloc(KMAX * P * sizeof *V), *HV = malloc(KMAX * P * sizeof *HV);
  if (!V || !HV || curv_block_reserve(curv, KMAX, err)) {
    free(V), free(HV);
    return err->code ? err->code : err_set(err, CS_ENOMEM, "out of memory for block products");
  }
  Rng rng;
  rng_seed(&rng, 5);
  rng_normal_fill(&rng, V, KMAX * P);
  double c1, t1 = time_products(curv, 1, 0, V, HV, budget, &c1);
  if (!json) printf("  %-26s %10.4f s  (CPU %.4f s)\n", "HVP (single)", t1, c1);
  else kv(json, "block_hvp1_s", t1), kv(json, "block_hvp1_cpu_s", c1);
  size_t ks[] = {2, 4, KMAX};
  for (int i = 0; i < 3; i++) {
    double cb, tb = time_products(curv, ks[i], 1, V, HV, budget, &cb);
    char key[64];
    if (!json) {
      snprintf(key, sizeof key, "H·V block of %zu", ks[i]);
      printf("  %-26s %10.4f s  %.4f s per vector  %.2fx a single HVP (CPU %.2fx)\n", key, tb,
             tb / (double)ks[i], tb / (double)ks[i] / t1, cb / (double)ks[i] / c1);
    } else {
      snprintf(key, sizeof key, "block_hvp%zu_s", ks[i]);
      kv(json, key, tb);
      snprintf(key, sizeof key, "block_hvp%zu_per_vector_over_single", ks[i]);
      kv(json, key, tb / (double)ks[i] / t1);
      snprintf(key, sizeof key, "block_hvp%zu_cpu_per_vector_over_single", ks[i]);
      kv(json, key, cb / (double)ks[i] / c1);
    }
  }
  for (int kk = 0; kk < (ten ? 2 : 1); kk++) {
    int k = kk ? 10 : 1;
    Solve l = solve(curv, k, tol, 0), b = solve(curv, k, tol, 1);
    if (!json) {
      printf("  top-%-2d %-19s %10.4f s  %5ld products  %s  lambda=%.10g\n", k, "lanczos", l.s,
             l.products, l.converged ? "converged" : "NOT converged", l.value);
      printf("  top-%-2d %-19s %10.4f s  %5ld products  %s  lambda=%.10g  (%.2fx lanczos's "
             "time, CPU %.2fx)\n", k, "lobpcg", b.s, b.products,
             b.converged ? "converged" : "NOT converged", b.value, b.s / l.s, b.cpu / l.cpu);
    } else {
      char key[64];
      const char *nm[] = {"lanczos", "lobpcg"};
      const Solve *ss[] = {&l, &b};
      for (int j = 0; j < 2; j++) {
        snprintf(key, sizeof key, "block_eig%d_%s_s", k, nm[j]), kv(json, key, ss[j]->s);
        snprintf(key, sizeof key, "block_eig%d_%s_cpu_s", k, nm[j]), kv(json, key, ss[j]->cpu);
        snprintf(key, sizeof key, "block_eig%d_%s_matvecs", k, nm[j]),
            kv(json, key, (double)ss[j]->products);
        snprintf(key, sizeof key, "block_eig%d_%s_converged", k, nm[j]),
            kv(json, key, ss[j]->converged);
        snprintf(key, sizeof key, "block_eig%d_%s_value", k, nm[j]), kv(json, key, ss[j]->value);
      }
    }
  }
  free(V), free(HV);
  return CS_OK;
}
