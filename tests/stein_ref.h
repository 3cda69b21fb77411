/*
 * stein_ref.h: references and set-ups shared by the Stein tests (test_stein.c,
 * test_stein_f32.c; included, static): a critic net, the input Jacobian and the
 * divergence by central differences of the float64 forward, and the small level/power
 * study of the unit tests. Each caller owns what it gets (net_deinit, _free).
 */
#ifndef CS_TEST_STEIN_REF_H
#define CS_TEST_STEIN_REF_H

#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "studies/stein/stein.h"
#include "tap.h"

static int build_critic(Net *net, const char *model, ActKind act) {
  NetSpec ns;
  Err err = {0};
  netspec_default(&ns);
  ns.act = (Act){act, 1.0};
  if (netspec_parse_model(&ns, model, &err) || net_init(net, &ns, NULL, &err)) {
    tap_diag("net: %s", err.msg);
    return 1;
  }
  return 0;
}

/* f_θ(X) into F [n][d] by a plain forward. */
static void forward_rows(const Net *net, const double *th, const double *X, size_t n, double *F) {
  NetCache *c = net_cache_alloc(net, n, 0);
  net_forward(net, th, X, n, c);
  memcpy(F, c->A[net->nlayers - 1], n * net->d_out * sizeof *F);
  net_cache_free(c);
}

/* The input Jacobians J_i = ∂f/∂x at each row, [n][d][d] (J[i][a][b] = ∂f_a/∂x_b), by
 * central differences of the forward. */
static void jacobian_fd(const Net *net, const double *th, const double *X, size_t n, double *J) {
  size_t d = net->d_in;
  double *Xp = malloc(n * d * sizeof *Xp), *Fp = malloc(n * d * sizeof *Fp),
         *Fm = malloc(n * d * sizeof *Fm), h = 1e-5;
  for (size_t b = 0; b < d; b++) {
    memcpy(Xp, X, n * d * sizeof *X);
    for (size_t i = 0; i < n; i++) Xp[i * d + b] += h;
    forward_rows(net, th, Xp, n, Fp);
    for (size_t i = 0; i < n; i++) Xp[i * d + b] -= 2 * h;
    forward_rows(net, th, Xp, n, Fm);
    for (size_t i = 0; i < n; i++)
      for (size_t a = 0; a < d; a++) J[(i * d + a) * d + b] = (Fp[i * d + a] - Fm[i * d + a]) / (2 * h);
  }
  free(Xp), free(Fp), free(Fm);
}

/* Σ_i of the Hutchinson estimate (1/m) Σ_p ε_piᵀ J_i ε_pi (probes NULL: tr J_i) from the
 * finite-difference Jacobians. */
static double div_sum_fd(const Net *net, const double *th, const double *X, size_t n,
                         const double *probes, int m, double *per_row) {
  size_t d = net->d_in;
  double *J = malloc(n * d * d * sizeof *J), sum = 0;
  jacobian_fd(net, th, X, n, J);
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    if (!probes) {
      for (size_t a = 0; a < d; a++) v += J[(i * d + a) * d + a];
    } else {
      for (int p = 0; p < m; p++) {
        const double *e = probes + ((size_t)p * n + i) * d;
        for (size_t a = 0; a < d; a++)
          for (size_t b = 0; b < d; b++) v += e[a] * J[(i * d + a) * d + b] * e[b] / m;
      }
    }
    if (per_row) per_row[i] = v;
    sum += v;
  }
  free(J);
  return sum;
}

/* gfd[P] = scale · ∇_θ Σ_i div_i by central differences (step 1e-4) in θ of div_sum_fd
 * (th is moved and put back). */
static void div_grad_fd(const Net *net, double *th, const double *X, size_t n,
                        const double *probes, int m, double scale, double *gfd) {
  for (size_t j = 0; j < net->n_params; j++) {
    double keep = th[j], h = 1e-4;
    th[j] = keep + h;
    double up = div_sum_fd(net, th, X, n, probes, m, NULL);
    th[j] = keep - h;
    double dn = div_sum_fd(net, th, X, n, probes, m, NULL);
    th[j] = keep;
    gfd[j] = scale * (up - dn) / (2 * h);
  }
}

/* The unit tests' level/power study: gauss:d=2 (p = q, or a mean shift of 0.6), a 2-8-2
 * Swish critic, 60 / 40 / 100 samples (null pool 300), 3 epochs of batch 30, Adam 1e-2,
 * staged λ 0.4·0.5^e → 0.05, R repeats, seed 77. CS_OK with res filled (the caller frees). */
static int stein_small_study(int null, long R, SteinDivKind div, int ksd, Precision prec,
                             SteinStudyResult *res, Err *err) {
  Rng rng;
  rng_seed(&rng, 3);
  SteinPair pr;
  Net net;
  if (stein_pair_parse(&pr, "gauss:d=2,pert=0.6", -1, null, &rng, err)) return CS_EINVAL;
  if (build_critic(&net, "mlp:2-8-2", ACT_SWISH)) {
    stein_pair_free(&pr);
    return err_set(err, CS_EINVAL, "the critic net");
  }
  SteinStudyOpts o = {60, 40, 100, 300, R, 200, 0.05, {3, 30, 1e-2, {0}, {div, 1}, NULL},
                      {{1, 0.4, 0.5, 0.05}}, 1, ksd, 77, NULL, 0, NULL, NULL, prec};
  int rc = stein_study_run(&pr, &net, &o, NULL, res, err);
  stein_pair_free(&pr);
  net_deinit(&net);
  return rc;
}

#endif
