/*
 * test_block.c: block products (curv_hvp_block, curv_ggn_block; net.h "block R-passes").
 *
 * References: k single products of the same context (float64: equal to 1e-13 relative,
 * the sums only run in another order), central finite differences of float64 gradients
 * (Richardson-extrapolated), the float32 single products (mixed precision: the block
 * and the single float32 products round alike, 1e-5), and the thread rule: where the
 * single product has the same bits on 1 and 2 threads, so has the block product.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "core/net.h"
#include "core/precision.h"
#include "core/rng.h"
#include "core/threads.h"
#include "hessian/curv.h"
#include "hessian/curv_f32.h"
#include "tests/cases.h"
#include "tests/curv_prob.h"
#include "tests/tap.h"

/* mlp:3-h..-d_out of `depth` dense layers with an embedding, X uniform in [-1, 1]. */
static int prob_make(Prob *p, Act act, LossKind loss, int embed, int depth, size_t n,
                     uint64_t seed) {
  memset(p, 0, sizeof *p);
  NetSpec s;
  Err err = {0};
  char mt[128];
  size_t d_out = loss == LOSS_CE ? 3 : 2;
  int o = snprintf(mt, sizeof mt, "mlp:3");
  for (int l = 0; l < depth - 1; l++) o += snprintf(mt + o, sizeof mt - (size_t)o, "-6");
  snprintf(mt + o, sizeof mt - (size_t)o, "-%zu", d_out);
  netspec_default(&s);
  Rng rng;
  rng_seed(&rng, seed);
  if (netspec_parse_model(&s, mt, &err) || netspec_parse_embed(&s, embed_text[embed], &err) ||
      netspec_parse_init(&s, act.kind == ACT_SINE && act.w0 == 30 ? "siren" : "torch", &err))
    return tap_ok(0, "spec %s: %s", mt, err.msg), 0;
  s.act = act;
  if (net_init(&p->net, &s, &rng, &err)) return tap_ok(0, "net %s: %s", mt, err.msg), 0;
  p->n = n;
  p->P = p->net.n_params;
  p->loss = loss;
  p->theta = malloc(p->P * sizeof *p->theta);
  p->X = malloc(n * 3 * sizeof *p->X);
  p->Y = calloc(n * d_out, sizeof *p->Y);
  p->labels = malloc(n * sizeof *p->labels);
  net_init_params(&p->net, p->theta, &rng);
  for (size_t i = 0; i < n * 3; i++) p->X[i] = rng_uniform_in(&rng, -1, 1);
  for (size_t i = 0; i < n; i++) {
    p->labels[i] = (int)rng_below(&rng, d_out);
    for (size_t j = 0; j < d_out; j++)
      p->Y[i * d_out + j] = loss == LOSS_CE ? (j == (size_t)p->labels[i]) : rng_normal(&rng);
  }
  p->b = (Batch){p->X, p->Y, p->labels, n, NULL, NULL};
  return 1;
}

/* Worst relative difference of k block products from k single ones (mode 0 Hessian, 1 GGN). */
static double block_vs_single(Curvature *c, size_t k, const double *V, size_t P, int ggn) {
  double *B = malloc(k * P * sizeof *B), *S = malloc(P * sizeof *S), worst = 0;
  long a0 = curv_applies(c);
  int rc = ggn ? curv_ggn_block(c, k, V, B) : curv_hvp_block(c, k, V, B);
  if (rc || curv_applies(c) != a0 + (long)k) worst = INFINITY;
  for (size_t j = 0; j < k; j++) {
    if (ggn) curv_ggn(c, V + j * P, S);
    else curv_hvp(c, V + j * P, S);
    double e = rel_diff(B + j * P, S, P);
    if (!(e <= worst)) worst = e;
  }
  free(B), free(S);
  return worst;
}

/* Every activation x loss x embedding at depths 1 and 3, whole and in uneven chunks (11
 * rows as 4 + 4 + 3), k = 1, 3 and 5: the block Hessian and GGN products are the singles. */
static void test_grid(void) {
  int total = 0, fails = 0;
  double worst = 0;
  for (int a = 0; a < NACTS; a++)
    for (int loss = 0; loss < 2; loss++)
      for (int e = 0; e < E_COUNT; e++)
        for (int depth = 1; depth <= 3; depth += 2) {
          Prob p;
          if (!prob_make(&p, acts[a].act, (LossKind)loss, e, depth, 11, 900 + (uint64_t)total)) {
            fails++;
            continue;
          }
          size_t P = p.P, kmax = 5;
          double *V = malloc(kmax * P * sizeof *V);
          Rng r;
          rng_seed(&r, 5 + (uint64_t)total);
          rng_normal_fill(&r, V, kmax * P);
          for (size_t chunk = 0; chunk <= 4; chunk += 4) {
            Curvature *c = prob_curv(&p, PREC_F64, chunk);
            if (!c) {
              fails++;
              continue;
            }
            for (size_t k = 1; k <= kmax; k += 2)
              for (int g = 0; g < 2; g++) {
                double w = block_vs_single(c, k, V, P, g);
                total++;
                if (!(w <= worst)) worst = w;
                if (!(w <= 1e-13)) {
                  fails++;
                  tap_ok(0, "%s %s embed %s depth %d chunk %zu k %zu %s: block vs single rel %.2e",
                         acts[a].name, loss_name((LossKind)loss), embed_text[e], depth, chunk, k,
                         g ? "GGN" : "Hessian", w);
                }
              }
            curv_free(c);
          }
          free(V);
          prob_free(&p);
        }
  tap_ok(fails == 0 && total == NACTS * 2 * E_COUNT * 2 * 2 * 3 * 2,
         "block = k single products (Hessian and GGN; %d activation/loss/embedding/depth/chunk/k "
         "cases): worst rel %.2e <= 1e-13", total, worst);
}

/* Chunks of more than 64 rows run in row blocks of chunk/k (hessian/curv.c): 301 rows,
 * k = 5 and 10 (blocks of 64 and a remainder), float64 and mixed, against the singles. */
static void test_row_blocks(void) {
  struct { int act, loss, embed; } cs[] = {{2, 1, E_NONE}, {3, 0, E_FOURIER}, {9, 1, E_MSCALE}};
  for (int t = 0; t < 3; t++) {
    Prob p;
    if (!prob_make(&p, acts[cs[t].act].act, (LossKind)cs[t].loss, cs[t].embed, 3, 301, 500 + t))
      continue;
    size_t P = p.P;
    double *V = malloc(10 * P * sizeof *V);
    Rng r;
    rng_seed(&r, 9 + t);
    rng_normal_fill(&r, V, 10 * P);
    for (int prec = 0; prec < 2; prec++) {
      Curvature *c = prob_curv(&p, prec ? PREC_MIXED : PREC_F64, 0);
      if (!c) continue;
      double w5 = block_vs_single(c, 5, V, P, 0), w10 = block_vs_single(c, 10, V, P, 0);
      double g10 = block_vs_single(c, 10, V, P, 1), lim = prec ? 1e-5 : 1e-13;
      tap_ok(w5 <= lim && w10 <= lim && g10 <= lim,
             "%s %s embed %s, 301 rows in row blocks, %s: block vs singles k=5 %.1e, k=10 %.1e, "
             "GGN k=10 %.1e (<= %.0e)", acts[cs[t].act].name, loss_name(p.loss),
             embed_text[cs[t].embed], prec ? "mixed" : "f64", w5, w10, g10, lim);
      curv_free(c);
    }
    free(V);
    prob_free(&p);
  }
}

/* Block HVP against a Richardson-extrapolated central difference of float64 gradients. */
static void test_fd(void) {
  int smooth[] = {2, 3, 4, 6, 8, 9}; /* tanh softplus gelu sine:w0=1 sigmoid swish */
  for (size_t t = 0; t < sizeof smooth / sizeof *smooth; t++) {
    Prob p;
    int a = smooth[t];
    if (!prob_make(&p, acts[a].act, t % 2 ? LOSS_CE : LOSS_MSE, (int)(t % E_COUNT), 3, 13,
                   70 + t))
      continue;
    size_t P = p.P, k = 4;
    Curvature *c = prob_curv(&p, PREC_F64, 5);
    double *V = malloc(k * P * sizeof *V), *B = malloc(k * P * sizeof *B);
    double *f1 = malloc(P * sizeof *f1), *f2 = malloc(P * sizeof *f2);
    Rng r;
    rng_seed(&r, 40 + t);
    rng_normal_fill(&r, V, k * P);
    curv_hvp_block(c, k, V, B);
    double worst = 0;
    Err err = {0};
    for (size_t j = 0; j < k; j++) {
      curv_fd_hvp(&p.net, p.loss, p.theta, &p.b, V + j * P, 1e-3, f1, &err);
      curv_fd_hvp(&p.net, p.loss, p.theta, &p.b, V + j * P, 5e-4, f2, &err);
      for (size_t i = 0; i < P; i++) f2[i] = (4 * f2[i] - f1[i]) / 3;
      double e = rel_diff(B + j * P, f2, P);
      if (!(e <= worst)) worst = e;
    }
    tap_ok(worst <= 1e-7, "%s %s embed %s: block HVP (k %zu) vs finite differences rel %.2e",
           acts[a].name, loss_name(p.loss), embed_text[t % E_COUNT], k, worst);
    free(V), free(B), free(f1), free(f2);
    curv_free(c);
    prob_free(&p);
  }
}

/* Mixed precision: the float32 block products against the float32 singles and float64. */
static void test_f32(void) {
  int as[] = {2, 1, 3, 8}; /* tanh relu softplus sigmoid */
  for (size_t t = 0; t < 4; t++) {
    Prob p;
    if (!prob_make(&p, acts[as[t]].act, t % 2 ? LOSS_CE : LOSS_MSE, t == 2 ? E_FOURIER : E_NONE,
                   3, 23, 300 + t))
      continue;
    size_t P = p.P, k = 3;
    Curvature *c32 = prob_curv(&p, PREC_MIXED, 6), *c64 = prob_curv(&p, PREC_F64, 6);
    double *V = malloc(k * P * sizeof *V), *B64 = malloc(k * P * sizeof *B64);
    Rng r;
    rng_seed(&r, 60 + t);
    rng_normal_fill(&r, V, k * P);
    double e32 = block_vs_single(c32, k, V, P, 0), g32 = block_vs_single(c32, k, V, P, 1);
    double *B32 = malloc(k * P * sizeof *B32);
    curv_hvp_block(c32, k, V, B32);
    curv_hvp_block(c64, k, V, B64);
    double e = rel_diff(B32, B64, k * P);
    tap_ok(e32 <= 1e-5 && g32 <= 1e-5,
           "%s %s: float32 block = float32 singles (Hessian rel %.2e, GGN %.2e <= 1e-5)",
           acts[as[t]].name, loss_name(p.loss), e32, g32);
    tap_ok(e > 0 && e <= 1e-4, "%s: float32 block vs float64 block rel %.2e (0 < e <= 1e-4)",
           acts[as[t]].name, e);
    free(V), free(B64), free(B32);
    curv_free(c32), curv_free(c64);
    prob_free(&p);
  }
}

/* Threads 1 and 2: the block product's bits follow the single product's (as the single
 * ones, they depend on the data-parallel parts, fixed here at 2, not on the threads). */
static void test_threads(void) {
  Prob p;
  if (!prob_make(&p, acts[2].act, LOSS_CE, E_NONE, 3, 40, 11)) return;
  size_t P = p.P, k = 4;
  double *V = malloc(k * P * sizeof *V), *B[2], *S[2];
  Rng r;
  rng_seed(&r, 3);
  rng_normal_fill(&r, V, k * P);
  for (size_t chunk = 0; chunk <= 7; chunk += 7) {
    for (int t = 0; t < 2; t++) {
      threads_set(t + 1);
      threads_parts_set(2);
      Curvature *c = prob_curv(&p, PREC_F64, chunk);
      B[t] = malloc(k * P * sizeof *B[t]);
      S[t] = malloc(k * P * sizeof *S[t]);
      curv_hvp_block(c, k, V, B[t]);
      for (size_t j = 0; j < k; j++) curv_hvp(c, V + j * P, S[t] + j * P);
      curv_free(c);
    }
    int s_same = !memcmp(S[0], S[1], k * P * sizeof(double));
    int b_same = !memcmp(B[0], B[1], k * P * sizeof(double));
    tap_ok(!s_same || b_same, "chunk %zu: single bits %s on 1/2 threads, block bits %s", chunk,
           s_same ? "equal" : "differ", b_same ? "equal" : "differ");
    tap_ok(rel_diff(B[1], S[0], k * P) <= 1e-13, "chunk %zu: 2-thread block vs 1-thread singles",
           chunk);
    for (int t = 0; t < 2; t++) free(B[t]), free(S[t]);
  }
  threads_parts_set(0);
  threads_set(0);
  free(V);
  prob_free(&p);
}

/* A workspace reserved for k = 10 holds every smaller k: at 2000 rows k·rows(k) is 2000 for
 * k = 10 but 2001 for k = 3 (ceil), which overflowed before curv_block_capacity. */
static void test_capacity(void) {
  int worst_ok = 1;
  for (size_t chunk = 1; chunk <= 3000; chunk++)
    for (size_t k = 1; k <= 12; k++)
      for (size_t j = 1; j <= k; j++)
        worst_ok &= curv_block_capacity(chunk, k) >= j * curv_block_rows(chunk, j);
  tap_ok(worst_ok, "curv_block_capacity(chunk, k) holds j rows-per-pass blocks for every j <= k "
         "(chunks 1..3000, k <= 12)");
  Prob p;
  if (!prob_make(&p, acts[2].act, LOSS_MSE, E_NONE, 3, 2000, 77)) return;
  size_t P = p.P;
  double *V = malloc(10 * P * sizeof *V);
  Rng r;
  rng_seed(&r, 78);
  rng_normal_fill(&r, V, 10 * P);
  for (int prec = 0; prec < 2; prec++) {
    Curvature *c = prob_curv(&p, prec ? PREC_MIXED : PREC_F64, 0);
    if (!c) continue;
    Err err = {0};
    int rc = curv_block_reserve(c, 10, &err);
    double w10 = block_vs_single(c, 10, V, P, 0), w3 = block_vs_single(c, 3, V, P, 0);
    double lim = prec ? 1e-5 : 1e-13;
    tap_ok(!rc && w10 <= lim && w3 <= lim,
           "2000 rows, %s, reserved for k = 10: k = 10 %.1e, then k = 3 %.1e (<= %.0e)",
           prec ? "mixed" : "f64", w10, w3, lim);
    curv_free(c);
  }
  free(V);
  prob_free(&p);
}

int main(void) {
  test_grid();
  test_row_blocks();
  test_fd();
  test_f32();
  test_threads();
  test_capacity();
  return tap_done();
}
