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
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/precision.h"
#include "core/rng.h"
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

int main(void) {
  test_products();
  test_rebuild();
  test_training_gradient();
  test_top_eigs();
  test_tol_floor();
  return tap_done();
}
