/*
 * test_precision.c: the float32 passes (core/net_pass_f32.c) under a Curvature context
 * (--precision mixed, hessian/curv_f32.c) against float64 and independent references.
 *
 * References: the float64 HVP and a central finite difference of float64 gradients
 * (both independent of the float32 code); float64 top eigenvalues of the same nets
 * (the bench workloads' shapes at CI size); the tolerance floor and its refusal.
 *
 * The tolerance of a float32 product: each entry of a GEMM with inner length K carries
 * a relative rounding error of about √K·u (u = 2⁻²⁴ ≈ 6e-8, random-walk accumulation),
 * and a product runs 4 GEMM layers deep per layer pair, so for K ≤ 3072 and up to 5
 * layers we expect ‖Hv₃₂ − Hv₆₄‖/‖Hv₆₄‖ ≲ 5·√3072·6e-8 ≈ 2e-5; the test asserts 1e-4.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/act.h"
#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/precision.h"
#include "core/rng.h"
#include "core/threads.h"
#include "hessian/curv.h"
#include "lanczos/eig.h"
#include "tests/net_util.h"
#include "tests/curv_prob.h"
#include "tests/tap.h"

#define HVP_TOL 1e-4   /* float32 HVP against float64 (see the header) */
#define EIG_TOL 1e-5   /* the bar: mixed top eigenvalues within 1e-5 of float64 */

/* A net of `model` and activation, n Gaussian inputs, targets one-hot of random labels
 * (CE) or Gaussian (MSE). */
static int prob_make(Prob *p, const char *model, ActKind act, LossKind loss, size_t n,
                     uint64_t seed) {
  memset(p, 0, sizeof *p);
  if (!(p->theta = test_mlp(&p->net, model, act, seed))) return 0;
  p->n = n;
  p->P = p->net.n_params;
  p->loss = loss;
  size_t d = p->net.d_in, k = p->net.d_out;
  p->X = malloc(n * d * sizeof *p->X);
  p->Y = calloc(n * k, sizeof *p->Y);
  p->labels = malloc(n * sizeof *p->labels);
  Rng r;
  rng_seed(&r, seed + 17);
  for (size_t i = 0; i < n * d; i++) p->X[i] = rng_normal(&r);
  for (size_t i = 0; i < n; i++) {
    p->labels[i] = (int)(rng_uniform(&r) * (double)k) % (int)k;
    if (loss == LOSS_CE) p->Y[i * k + (size_t)p->labels[i]] = 1.0;
    else
      for (size_t j = 0; j < k; j++) p->Y[i * k + j] = 0.5 * rng_normal(&r);
  }
  p->b = (Batch){p->X, p->Y, p->labels, n, NULL, NULL};
  return 1;
}

/* HVP, GGN product, gradient and loss in mixed precision against float64 and a finite
 * difference of float64 gradients, over activations, losses and chunkings. */
static void test_products(void) {
  struct {
    const char *model;
    ActKind act;
    LossKind loss;
    size_t n, chunk;
  } cs[] = {
      {"mlp:20-32-32-5", ACT_TANH, LOSS_MSE, 64, 0},
      {"mlp:20-32-32-5", ACT_TANH, LOSS_CE, 64, 16},
      {"mlp:20-32-32-5", ACT_RELU, LOSS_CE, 50, 7},
      {"mlp:20-24-24-4", ACT_SOFTPLUS, LOSS_MSE, 40, 0},
      {"mlp:20-24-24-4", ACT_GELU, LOSS_CE, 40, 9},
      {"mlp:20-24-24-4", ACT_SIGMOID, LOSS_MSE, 40, 0},
      {"mlp:20-24-24-4", ACT_SWISH, LOSS_MSE, 40, 0},
      {"mlp:20-16-16-16-16-3", ACT_IDENTITY, LOSS_MSE, 40, 0},
      {"mlp:300-64-64-10", ACT_TANH, LOSS_MSE, 200, 50},
  };
  for (size_t t = 0; t < sizeof cs / sizeof *cs; t++) {
    Prob p;
    if (!tap_ok(prob_make(&p, cs[t].model, cs[t].act, cs[t].loss, cs[t].n, 100 + t),
                "problem %s", cs[t].model))
      continue;
    Curvature *c64 = prob_curv(&p, PREC_F64, cs[t].chunk);
    Curvature *c32 = prob_curv(&p, PREC_MIXED, cs[t].chunk);
    if (!c64 || !c32) {
      curv_free(c64), curv_free(c32), prob_free(&p);
      continue;
    }
    size_t P = p.P;
    double *v = malloc(P * sizeof *v), *h64 = malloc(P * sizeof *h64),
           *h32 = malloc(P * sizeof *h32), *fd = malloc(P * sizeof *fd);
    Rng r;
    rng_seed(&r, 7 + t);
    for (size_t i = 0; i < P; i++) v[i] = rng_normal(&r);
    const char *an = act_name(cs[t].act), *ln = loss_name(cs[t].loss);
    curv_hvp(c64, v, h64);
    curv_hvp(c32, v, h32);
    Err err = {0};
    curv_fd_hvp(&p.net, p.loss, p.theta, &p.b, v, 1e-4, fd, &err);
    double e64 = rel_diff(h32, h64, P), efd = rel_diff(h32, fd, P), e_ref = rel_diff(h64, fd, P);
    tap_ok(e64 <= HVP_TOL, "%s %s %s chunk %zu: f32 HVP vs f64 HVP rel %.2e <= %.0e", cs[t].model,
           an, ln, cs[t].chunk, e64, HVP_TOL);
    tap_ok(e64 > 0, "%s %s: the f32 HVP is not the f64 one (rel %.2e > 0)", cs[t].model, an, e64);
    /* the FD reference is only as good as its own truncation (e_ref): within it */
    tap_ok(efd <= HVP_TOL + 2 * e_ref, "%s %s %s: f32 HVP vs finite difference rel %.2e (f64: %.2e)",
           cs[t].model, an, ln, efd, e_ref);
    curv_ggn(c64, v, h64);
    curv_ggn(c32, v, h32);
    double eg = rel_diff(h32, h64, P);
    tap_ok(eg <= HVP_TOL, "%s %s %s: f32 GGN product vs f64 rel %.2e", cs[t].model, an, ln, eg);
    double egr = rel_diff(curv_grad(c32), curv_grad(c64), P);
    tap_ok(egr <= HVP_TOL, "%s %s %s: f32 gradient vs f64 rel %.2e", cs[t].model, an, ln, egr);
    tap_rel(curv_loss(c32), curv_loss(c64), 1e-5, "loss in mixed precision");
    tap_ok(curv_jvp(c32, v, fd) == CS_EINVAL, "Jv under float32 passes: refused (float64 only)");
    free(v), free(h64), free(h32), free(fd);
    curv_free(c64), curv_free(c32);
    prob_free(&p);
  }
}

/* A rebuild at a new θ in mixed precision follows it (float copies refreshed). */
static void test_rebuild(void) {
  Prob p;
  if (!prob_make(&p, "mlp:20-32-32-5", ACT_TANH, LOSS_MSE, 48, 5)) return;
  Curvature *c64 = prob_curv(&p, PREC_F64, 16), *c32 = prob_curv(&p, PREC_MIXED, 16);
  for (size_t i = 0; i < p.P; i++) p.theta[i] *= 1.3;
  Err err = {0};
  curv_build(c64, p.theta, &p.b, &err);
  curv_build(c32, p.theta, &p.b, &err);
  tap_ok(rel_diff(curv_grad(c32), curv_grad(c64), p.P) <= HVP_TOL,
         "rebuild at a new θ: mixed gradient follows (rel %.2e)",
         rel_diff(curv_grad(c32), curv_grad(c64), p.P));
  curv_free(c64), curv_free(c32);
  prob_free(&p);
}

/* The training loop's gradient in mixed precision (objective_eval_parallel on a float32
 * ObjectiveWork): close to float64, and the same bits as a mixed curvature build's
 * gradient with the same chunking (what lets a due probe hand the loop its gradient). */
static void test_training_gradient(void) {
  Prob p;
  if (!prob_make(&p, "mlp:30-24-24-6", ACT_TANH, LOSS_CE, 90, 9)) return;
  size_t P = p.P;
  double *g64 = malloc(P * sizeof *g64), *g32 = malloc(P * sizeof *g32);
  double l64, l32, a64, a32;
  Err err = {0};
  ObjectiveWork *w64 = objective_work_alloc(&p.net, p.n, 20), *w32 = objective_work_alloc(&p.net, p.n, 20);
  int ok = w64 && w32 && !objective_work_set_precision(w32, &p.net, PREC_MIXED, &err);
  tap_ok(ok, "float32 training workspaces (%s)", err.msg);
  if (ok) {
    objective_eval_parallel(&p.net, p.theta, p.loss, &p.b, w64, g64, &l64, &a64);
    objective_eval_parallel(&p.net, p.theta, p.loss, &p.b, w32, g32, &l32, &a32);
    double e = rel_diff(g32, g64, P);
    tap_ok(e > 0 && e <= HVP_TOL, "mixed training gradient vs f64 rel %.2e", e);
    tap_rel(l32, l64, 1e-6, "mixed training loss");
    tap_ok(a32 == a64, "mixed training accuracy %.4f = f64's %.4f", a32, a64);
    Curvature *c = prob_curv(&p, PREC_MIXED, 20);
    tap_ok(c && !memcmp(curv_grad(c), g32, P * sizeof *g32) && curv_loss(c) == l32,
           "mixed curvature build's gradient and loss = the loop's, bit for bit");
    curv_free(c);
    objective_eval_parallel(&p.net, p.theta, p.loss, &p.b, w32, g64, &l64, NULL);
    tap_ok(!memcmp(g64, g32, P * sizeof *g32), "a second mixed evaluation repeats the bits");
  }
  objective_work_free(w64), objective_work_free(w32);
  free(g64), free(g32);
  prob_free(&p);
}

/* Top eigenvalues (Lanczos at the float32 floor tol) in mixed against float64 (tol 1e-9)
 * on the bench workloads' shapes at CI size. */
static void test_top_eigs(void) {
  struct {
    const char *name, *model;
    ActKind act;
    size_t n;
    int k;
  } ws[] = {
      {"digits (CI: N 200)", "mlp:64-200-200-10", ACT_TANH, 200, 5},
      {"cohen (CI: 3072-32-32-10, N 128)", "mlp:3072-32-32-10", ACT_TANH, 128, 5},
      {"deeplinear (CI: N 200)", "mlp:50-100-100-100-100-10,bias=none", ACT_IDENTITY, 200, 5},
      {"wide (CI: 784-128-128-10, N 128)", "mlp:784-128-128-10", ACT_TANH, 128, 5},
  };
  for (size_t w = 0; w < sizeof ws / sizeof *ws; w++) {
    Prob p;
    if (!prob_make(&p, ws[w].model, ws[w].act, LOSS_MSE, ws[w].n, 40 + w)) continue;
    Curvature *c64 = prob_curv(&p, PREC_F64, 0), *c32 = prob_curv(&p, PREC_MIXED, 0);
    if (!c64 || !c32) {
      curv_free(c64), curv_free(c32), prob_free(&p);
      continue;
    }
    Linop h64 = curv_hessian_op(c64), h32 = curv_hessian_op(c32);
    EigOpts o;
    eig_opts_default(&o);
    o.k = ws[w].k;
    o.seed = 3;
    EigResult r64 = {0}, r32 = {0};
    Err err = {0};
    o.tol = 1e-9;
    int rc64 = eig_lanczos_top(&h64, &o, &r64, &err);
    o.tol = precision_tol_min(PREC_MIXED);
    int rc32 = eig_lanczos_top(&h32, &o, &r32, &err);
    tap_ok(!rc64 && !rc32, "%s: both solves converged (f64 %ld products, mixed %ld)", ws[w].name,
           r64.matvecs, r32.matvecs);
    double worst = 0, w1 = 0;
    for (int j = 0; j < o.k && !rc64 && !rc32; j++) {
      double e = fabs(r32.values[j] - r64.values[j]) / fabs(r64.values[0]);
      if (e > worst) worst = e;
      if (j == 0) w1 = e;
    }
    tap_ok(!rc64 && !rc32 && w1 <= EIG_TOL, "%s: top-1 in mixed within %.0e of float64 (rel %.2e)",
           ws[w].name, EIG_TOL, w1);
    tap_ok(!rc64 && !rc32 && worst <= EIG_TOL,
           "%s: top-%d in mixed within %.0e of float64, relative to λ_max (worst %.2e)",
           ws[w].name, o.k, EIG_TOL, worst);
    eig_result_free(&r64), eig_result_free(&r32);
    curv_free(c64), curv_free(c32);
    prob_free(&p);
  }
}

static void test_tol_floor(void) {
  Err err = {0};
  Precision p;
  tap_ok(precision_parse("mixed", &p, &err) == CS_OK && p == PREC_MIXED, "parse mixed");
  tap_ok(precision_parse("f16", &p, &err) == CS_EINVAL && strstr(err.msg, "f16"),
         "parse f16 refused, naming it (%s)", err.msg);
  double lo = precision_tol_min(PREC_MIXED);
  tap_ok(lo > 0 && precision_tol_min(PREC_F64) == 0, "f64 has no floor, mixed has %g", lo);
  tap_ok(precision_check_tol(PREC_MIXED, lo, "--tol", &err) == CS_OK, "tol at the floor accepted");
  err = (Err){0};
  tap_ok(precision_check_tol(PREC_MIXED, lo / 10, "--tol", &err) == CS_EINVAL &&
             strstr(err.msg, "float32") && strstr(err.msg, "--tol"),
         "tol below the floor refused, naming it (%s)", err.msg);
  tap_ok(precision_check_tol(PREC_F64, 1e-14, "--tol", &err) == CS_OK, "f64: any tol");
}

/* The training step's norms in mixed (objective_eval_norms): the gradient has the bits of
 * objective_eval_parallel's and of the curvature build's per-chunk double sums, with one
 * chunk per part (the float result kept for the gather) and several; the norms are
 * threads_norm_pair's within 1e-14 and the same bits on one thread as on two. */
static void test_training_norms(void) {
  Prob p;
  if (!prob_make(&p, "mlp:30-64-64-6", ACT_TANH, LOSS_CE, 90, 11)) return;
  size_t P = p.P;
  double *g = malloc(P * sizeof *g), *h = malloc(P * sizeof *h);
  threads_parts_set(2);
  const size_t chunks[2] = {45, 20};  /* 2 chunks: one per part; 5: 3 and 2 */
  for (int c = 0; c < 2; c++) {
    Err err = {0};
    ObjectiveWork *w = objective_work_alloc(&p.net, p.n, chunks[c]);
    if (!w || objective_work_set_precision(w, &p.net, PREC_MIXED, &err)) {
      tap_ok(0, "float32 workspaces (%s)", err.msg);
      objective_work_free(w);
      continue;
    }
    double l1, l2, gn, pn, gn1, pn1, rg, rp;
    objective_eval_norms(&p.net, p.theta, p.loss, &p.b, w, g, &l1, NULL, &gn, &pn);
    objective_eval_parallel(&p.net, p.theta, p.loss, &p.b, w, h, &l2, NULL);
    tap_ok(!memcmp(g, h, P * sizeof *g) && l1 == l2,
           "chunk %zu: objective_eval_norms' gradient and loss = objective_eval_parallel's, bit for bit",
           chunks[c]);
    Curvature *cv = prob_curv(&p, PREC_MIXED, chunks[c]);
    tap_ok(cv && !memcmp(curv_grad(cv), g, P * sizeof *g),
           "chunk %zu: = the curvature build's per-chunk double sums, bit for bit", chunks[c]);
    curv_free(cv);
    threads_norm_pair(g, p.theta, P, &rg, &rp);
    tap_ok(fabs(gn - rg) <= 1e-14 * rg && fabs(pn - rp) <= 1e-14 * rp,
           "chunk %zu: ‖g‖ %.17g, ‖θ‖ %.17g within 1e-14 of threads_norm_pair's", chunks[c], gn, pn);
    int T = omp_get_max_threads();
    omp_set_num_threads(1);
    objective_eval_norms(&p.net, p.theta, p.loss, &p.b, w, h, &l2, NULL, &gn1, &pn1);
    omp_set_num_threads(T);
    tap_ok(!memcmp(g, h, P * sizeof *g) && gn1 == gn && pn1 == pn,
           "chunk %zu: the same gradient and norms on 1 thread as on %d", chunks[c], T);
    objective_work_free(w);
  }
  threads_parts_set(0);
  free(g), free(h);
  prob_free(&p);
}

/* The float32 activations: relu, hat and identity are the float64 versions rounded, bit
 * for bit; sine's polynomial is within 2^-53 of libm over |x| < 2^20 and the float sine
 * within one float rounding of the float64 sine rounded (in place too), libm beyond 2^20. */
static void test_act_f32(void) {
  Rng r;
  rng_seed(&r, 5);
  double worst = 0;
  for (int i = 0; i < 200000; i++) {
    double x = (2 * rng_uniform(&r) - 1) * (i % 2 ? 0x1p20 : 100.0), s, c;
    act_sincos_poly(x, &s, &c);
    worst = fmax(worst, fmax(fabs(s - sin(x)), fabs(c - cos(x))));
  }
  tap_ok(worst <= 0x1p-53, "sin/cos polynomial within 2^-53 of libm on |x| < 2^20 (worst %.2e)", worst);
  enum { N = 5003 };
  float *z = malloc(N * sizeof *z), *a = malloc(N * sizeof *a), *d1 = malloc(N * sizeof *d1),
        *d2 = malloc(N * sizeof *d2);
  const char *names[] = {"relu", "hat", "identity", "sine"};
  for (int k = 0; k < 4; k++) {
    Act act;
    Err err = {0};
    act_parse(names[k], &act, &err);
    for (int i = 0; i < N; i++) z[i] = (float)(3 * (2 * rng_uniform(&r) - 1));
    z[0] = 0.0f, z[1] = 1.0f, z[2] = 2.0f, z[3] = -0.0f;
    act_eval_f32(act, N, z, a, d1, d2);
    int exact = 1;
    double ulps = 0;
    for (int i = 0; i < N; i++) {
      float ra = (float)act_f(act, z[i]), r1 = (float)act_df(act, z[i]), r2 = (float)act_d2f(act, z[i]);
      if (k < 3) exact &= a[i] == ra && d1[i] == r1 && d2[i] == r2;
      else {
        float v[3] = {a[i], d1[i], d2[i]}, ref[3] = {ra, r1, r2};
        for (int j = 0; j < 3; j++)
          ulps = fmax(ulps, fabs((double)v[j] - ref[j]) / (nextafterf(fabsf(ref[j]), INFINITY) - fabsf(ref[j])));
      }
    }
    if (k < 3) tap_ok(exact, "float %s: f, f', f'' = the float64 ones rounded, bit for bit", names[k]);
    else tap_ok(ulps <= 1, "float sine (w0 30): f, f', f'' within %.0f float ulp of the float64 ones rounded", ulps);
  }
  Act sine;
  Err err = {0};
  act_parse("sine", &sine, &err);
  for (int i = 0; i < N; i++) z[i] = (float)(2 * rng_uniform(&r) - 1);
  z[7] = 1e6f; /* ω0 z = 3e7: the whole block through libm */
  memcpy(a, z, N * sizeof *a);
  act_eval_f32(sine, N, a, a, NULL, NULL);
  int same = 1;
  for (int i = 0; i < N; i++) same &= a[i] == (float)sin(30.0 * (double)z[i]);
  tap_ok(same, "float sine in place with one |w0 z| > 2^20: libm's sin rounded, bit for bit");
  free(z), free(a), free(d1), free(d2);
}

/* Adam's update (the CS_SIMD_CLONES leaf, AVX-512 here when the CPU has it) = the plain
 * scalar formula, bit for bit, over a length with a ragged tail. */
static void test_adam_bits(void) {
  size_t n = 40037;
  OptConfig cfg;
  optconfig_default(&cfg);
  cfg.lr = 3e-4, cfg.weight_decay = 1e-3;
  Optimizer *o = optim_alloc(optim_adam, &cfg, n);
  double *th = malloc(n * sizeof *th), *ref = malloc(n * sizeof *ref), *g = malloc(n * sizeof *g),
         *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v), *prev = malloc(n * sizeof *prev);
  Rng r;
  rng_seed(&r, 3);
  for (size_t i = 0; i < n; i++) ref[i] = th[i] = rng_normal(&r);
  int same = 1;
  for (long t = 1; t <= 5; t++) {
    for (size_t i = 0; i < n; i++) g[i] = rng_normal(&r) * (i % 7 ? 1e-3 : 1e-9);
    optim_step_keep(o, th, g, prev);
    double bc1 = 1.0 - pow(cfg.beta1, (double)t), bc2 = 1.0 - pow(cfg.beta2, (double)t);
    double step = cfg.lr / bc1, rbc2 = 1.0 / sqrt(bc2);
    for (size_t i = 0; i < n; i++) {
      double x = ref[i], gi = g[i] + cfg.weight_decay * x;
      m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * gi;
      v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * gi * gi;
      same &= prev[i] == x;
      ref[i] = x - step * m[i] / (sqrt(v[i]) * rbc2 + cfg.eps);
    }
  }
  same &= !memcmp(th, ref, n * sizeof *th);
  tap_ok(same, "Adam (5 steps, %zu entries): θ and prev = the scalar formula's, bit for bit", n);
  optim_free(o);
  free(th), free(ref), free(g), free(m), free(v), free(prev);
}

int main(void) {
  test_products();
  test_rebuild();
  test_training_gradient();
  test_training_norms();
  test_act_f32();
  test_adam_bits();
  test_top_eigs();
  test_tol_floor();
  return tap_done();
}
