/*
 * test_stein_f32.c: the Stein critic in float32 passes (--precision mixed/f32) against
 * the float64 critic and against finite differences (studies/stein/critic_t.h), and the
 * stacked tangent pass (core/net_tangent.h) against the R-passes.
 *
 * Tolerance: a float32 pass rounds each product to 2^-24 ≈ 6e-8 relative; through three
 * layers of GEMMs (sums of up to 64 terms) and the second-order R-passes the measured
 * error is 3e-8..5e-7 of the largest entry (value and θ-gradient alike); the checks allow
 * 1e-5, twenty times that, and far below what a wrong term costs (dropping the σ'' terms
 * is off by 1e-1 or more). The error must also be above 1e-10: the passes did run in
 * float32. The finite differences are of the float64 forward (their own error ~1e-8).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "stein_ref.h"
#include "studies/stein/stein.h"
#include "tap.h"

/* float32 against float64, exact and Hutchinson: the divergence, its θ-gradient, and
 * the objective with its gradient, on a net of the study's shape (d = 25, 64-64). */
static void check_f32_vs_f64(ActKind act, const char *aname, const char *model) {
  Net net;
  if (build_critic(&net, model, act)) {
    tap_ok(0, "%s: build", aname);
    return;
  }
  Rng rng;
  rng_seed(&rng, 41 + act);
  size_t n = 40, d = net.d_in, P = net.n_params;
  int m = 2;
  double *X = malloc(n * d * sizeof *X), *S = malloc(n * d * sizeof *S),
         *probes = malloc((size_t)m * n * d * sizeof *probes);
  double *th = malloc(P * sizeof *th), *g64 = malloc(P * sizeof *g64), *g32 = malloc(P * sizeof *g32);
  double d64[40], d32[40], T64[40], T32[40];
  net_init_params(&net, th, &rng);
  rng_normal_fill(&rng, X, n * d);
  rng_normal_fill(&rng, S, n * d);
  rng_normal_fill(&rng, probes, (size_t)m * n * d);
  SteinCritic *s64 = stein_critic_alloc_prec(&net, n, PREC_F64, 0);
  SteinCritic *s32 = stein_critic_alloc_prec(&net, n, PREC_MIXED, 0);
  for (int kind = 0; kind < 2; kind++) {
    SteinDiv div = {kind ? STEIN_DIV_HUTCHINSON : STEIN_DIV_EXACT, m};
    const double *pr = kind ? probes : NULL;
    memset(g64, 0, P * sizeof *g64), memset(g32, 0, P * sizeof *g32);
    stein_critic_divergence(s64, th, X, n, &div, pr, NULL, d64, 0.5, g64);
    stein_critic_divergence(s32, th, X, n, &div, pr, NULL, d32, 0.5, g32);
    double ev = tap_max_rel(d32, d64, n), eg = tap_max_rel(g32, g64, P);
    /* without the gradient (the exact one: the two-hidden-layer trace) */
    stein_critic_divergence(s64, th, X, n, &div, pr, NULL, T64, 1.0, NULL);
    stein_critic_divergence(s32, th, X, n, &div, pr, NULL, T32, 1.0, NULL);
    ev = fmax(ev, tap_max_rel(T32, T64, n));
    memset(g64, 0, P * sizeof *g64), memset(g32, 0, P * sizeof *g32);
    double J64 = stein_critic_objective(s64, th, X, S, n, 0.1, &div, pr, NULL, T64, NULL, g64);
    double J32 = stein_critic_objective(s32, th, X, S, n, 0.1, &div, pr, NULL, T32, NULL, g32);
    double eJ = fabs(J32 - J64) / fabs(J64), eT = tap_max_rel(T32, T64, n),
           eo = tap_max_rel(g32, g64, P);
    tap_ok(ev < 1e-5 && eg < 1e-5 && eJ < 1e-5 && eT < 1e-5 && eo < 1e-5 && eg > 1e-10,
           "%s %s, %s divergence in float32 = float64: value %.1e, θ-gradient %.1e; objective "
           "J %.1e, T %.1e, ∇θ(−J) %.1e (tol 1e-5, %zu params)",
           aname, model, kind ? "Hutchinson (2 probes)" : "exact", ev, eg, eJ, eT, eo, P);
  }
  free(X), free(S), free(probes), free(th), free(g64), free(g32);
  stein_critic_free(s64);
  stein_critic_free(s32);
  net_deinit(&net);
}

/* float32 against finite differences of the float64 forward: the divergence in x, and
 * its θ-gradient by central differences in θ of that divergence. */
static void check_f32_fd(ActKind act, const char *aname) {
  Net net;
  if (build_critic(&net, "mlp:3-6-5-3", act)) return;
  Rng rng;
  rng_seed(&rng, 7 + act);
  size_t n = 4, d = 3, P = net.n_params;
  int m = 3;
  double X[12], probes[36], dv[4], ref[4];
  double *th = malloc(P * sizeof *th), *g = malloc(P * sizeof *g), *gfd = malloc(P * sizeof *gfd);
  net_init_params(&net, th, &rng);
  for (size_t i = 0; i < P; i++) th[i] *= 1.5;
  rng_normal_fill(&rng, X, n * d);
  rng_normal_fill(&rng, probes, (size_t)m * n * d);
  SteinCritic *sc = stein_critic_alloc_prec(&net, n, PREC_F32, 0);
  for (int kind = 0; kind < 2; kind++) {
    SteinDiv div = {kind ? STEIN_DIV_HUTCHINSON : STEIN_DIV_EXACT, m};
    const double *pr = kind ? probes : NULL;
    memset(g, 0, P * sizeof *g);
    stein_critic_divergence(sc, th, X, n, &div, pr, NULL, dv, 1.0, g);
    div_sum_fd(&net, th, X, n, pr, m, ref);
    div_grad_fd(&net, th, X, n, pr, m, 1.0, gfd);
    double ev = tap_max_rel(dv, ref, n), eg = tap_max_rel(g, gfd, P);
    tap_ok(ev < 1e-5 && eg < 1e-5,
           "%s, %s divergence in float32 = finite differences of the float64 net: value %.1e, "
           "θ-gradient %.1e (tol 1e-5)", aname, kind ? "Hutchinson" : "exact", ev, eg);
  }
  free(th), free(g), free(gfd);
  stein_critic_free(sc);
  net_deinit(&net);
}

/* The stacked tangent pass (core/net_tangent.h) against the R-passes it replaces, in
 * float64: divergence, θ-gradient and objective to 1e-12, exact and Hutchinson, with the
 * probes split into groups (mcap 2 of 5 tangents: groups 2, 2, 1) and in one group. */
static void check_tangent_vs_rpasses(ActKind act, const char *aname) {
  Net net;
  if (build_critic(&net, "mlp:5-9-7-5", act)) return;
  Rng rng;
  rng_seed(&rng, 13 + act);
  size_t n = 6, d = 5, P = net.n_params;
  int m = 5;
  double X[30], S[30], probes[150], dr[6], dt[6], Tr[6], Tt[6];
  double *th = malloc(P * sizeof *th), *gr = malloc(P * sizeof *gr), *gt = malloc(P * sizeof *gt);
  net_init_params(&net, th, &rng);
  for (size_t i = 0; i < P; i++) th[i] *= 1.5;
  rng_normal_fill(&rng, X, n * d);
  rng_normal_fill(&rng, S, n * d);
  rng_normal_fill(&rng, probes, (size_t)m * n * d);
  double worst = 0;
  int cases = 0;
  for (int mcap = 2; mcap <= 8; mcap += 6) {
    SteinCritic *sc = stein_critic_alloc_prec(&net, n, PREC_F64, mcap);
    if (!sc || !sc->tan) {
      tap_ok(0, "%s: the tangent workspace", aname);
      stein_critic_free(sc);
      continue;
    }
    for (int kind = 0; kind < 2; kind++) {
      SteinDiv div = {kind ? STEIN_DIV_HUTCHINSON : STEIN_DIV_EXACT, m};
      const double *pr = kind ? probes : NULL;
      for (int obj = 0; obj < 3; obj++) {  /* divergence, objective, divergence alone */
        double Jr = 0, Jt = 0;
        memset(gr, 0, P * sizeof *gr), memset(gt, 0, P * sizeof *gt);
        for (int path = 0; path < 2; path++) {
          sc->rpasses = !path;
          double *g = path ? gt : gr, *dv = path ? dt : dr, *T = path ? Tt : Tr;
          if (obj == 1) *(path ? &Jt : &Jr) = stein_critic_objective(sc, th, X, S, n, 0.2, &div, pr, NULL, T, NULL, g);
          else stein_critic_divergence(sc, th, X, n, &div, pr, NULL, dv, 0.7, obj ? NULL : g);
        }
        double e = obj == 1 ? fmax(fmax(fabs(Jt - Jr) / fabs(Jr), tap_max_rel(Tt, Tr, n)), tap_max_rel(gt, gr, P))
                       : fmax(tap_max_rel(dt, dr, n), tap_max_rel(gt, gr, P));
        worst = fmax(worst, e);
        cases++;
      }
    }
    stein_critic_free(sc);
  }
  tap_ok(cases == 12 && worst < 1e-12,
         "%s: the stacked tangent pass = the R-passes (divergence, θ-gradient, objective; exact "
         "and Hutchinson; 5 tangents in groups of 2 and of 8; the exact divergence alone by the "
         "two-hidden-layer trace): worst rel %.1e over %d cases",
         aname, worst, cases);
  free(th), free(gr), free(gt);
  net_deinit(&net);
}

/* The Must-hold level in mixed precision at the unit test's CI size (test_stein.c's
 * test_level_power: d = 2, 2-8-2 critic, 400 repeats). */
static void test_level_mixed(void) {
  Err err = {0};
  long R = 400;
  SteinStudyResult res;
  if (stein_small_study(1, R, STEIN_DIV_HUTCHINSON, 0, PREC_MIXED, &res, &err)) {
    tap_ok(0, "level (mixed): %s", err.msg);
    return;
  }
  double lb = (double)res.sched[0].rejects / R, lt = (double)res.sched[0].rejects_t / R;
  tap_ok(lb >= 0.02 && lb <= 0.08 && lt >= 0.02 && lt <= 0.08,
         "level in mixed precision at α 0.05 under p = q over %ld repeats (Hutchinson "
         "training): bootstrap %.3f, studentised %.3f, both in [0.02, 0.08]", R, lb, lt);
  stein_study_result_free(&res);
}

int main(void) {
  check_f32_vs_f64(ACT_SWISH, "swish", "mlp:25-64-64-25");
  check_f32_vs_f64(ACT_TANH, "tanh", "mlp:25-64-64-25");
  check_f32_vs_f64(ACT_SOFTPLUS, "softplus", "mlp:5-16-16-5");
  check_tangent_vs_rpasses(ACT_SWISH, "swish");
  check_tangent_vs_rpasses(ACT_TANH, "tanh");
  check_tangent_vs_rpasses(ACT_RELU, "relu");
  check_f32_fd(ACT_SWISH, "swish");
  check_f32_fd(ACT_TANH, "tanh");
  test_level_mixed();
  return tap_done();
}
