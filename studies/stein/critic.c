/*
 * critic.c: the Stein critic's objective, its divergence and their exact θ-gradients.
 *
 * For a probe matrix E [n][d] (rows e_i), the input-tangent R-forward (R{A_0} = E, v = 0)
 * gives R{F} = J_x f · e_i per row, so e_iᵀ J_x f(x_i) e_i is the row sum of E ⊙ R{F}. Its
 * θ-gradient is the R-backward, along the same tangent, of the linear "loss"
 * Σ_i e_iᵀ F_i: a backward seeded with G_L = E (which leaves the cache's G and D ⊙ σ''),
 * then R{G_L} = 0 (docs/MATH.md, "Stein critics reuse the R-passes"). On plain MLPs the
 * same numbers come from the stacked tangent pass and its reverse (core/net_tangent.h:
 * 6 GEMMs a layer instead of 8), and a two-hidden-layer critic's exact divergence without
 * its gradient from one GEMM (critic_t.h, trace2). The passes are written once for double
 * and float (critic_t.h, included twice below); this file allocates and dispatches.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "core/precision.h"
#include "stein.h"

int stein_div_parse(const char *text, SteinDiv *div, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return CS_EINVAL;
  int rc = CS_OK;
  long m = 1;
  if (!strcmp(s.kind, "exact")) {
    div->kind = STEIN_DIV_EXACT;
  } else if (!strcmp(s.kind, "hutchinson")) {
    div->kind = STEIN_DIV_HUTCHINSON;
    rc = spec_get_int(&s, "probes", &m, err);
    if (!rc) rc = range_check("probes", (double)m, 1, 1024, 0, err);
  } else {
    rc = err_set(err, CS_EINVAL, "unknown divergence '%s' (known: exact, hutchinson)", s.kind);
  }
  if (!rc) rc = spec_check_unused(&s, 0, err);
  div->probes = (int)m;
  spec_free(&s);
  return rc;
}

SteinCritic *stein_critic_alloc_prec(const Net *net, size_t cap, Precision prec, int mcap) {
  if (net->d_in != net->d_out || cap < 1) return NULL;
  SteinCritic *sc = calloc(1, sizeof *sc);
  if (!sc) return NULL;
  size_t d = net->d_in, P = net->n_params;
  sc->net = net;
  sc->cap = cap;
  sc->d = d;
  sc->f32 = precision_f32_passes(prec);
  sc->mcap = mcap > 0 ? mcap : 8;
  if (mcap <= 0) {  /* large batches: fewer tangents a pass, ~2^25 stacked entries at most */
    size_t wsum = 0;
    for (int l = 0; l < net->nlayers; l++) wsum += net->layer[l].out;
    while (sc->mcap > 1 && (size_t)(1 + sc->mcap) * cap * wsum > ((size_t)1 << 25)) sc->mcap--;
  }
  size_t tl = (size_t)sc->mcap * cap * d;
  int tan = net_tan_supported(net);
  sc->E = malloc(cap * d * sizeof *sc->E);
  sc->f = malloc(cap * d * sizeof *sc->f);
  sc->t = malloc(2 * cap * sizeof *sc->t);
  int ok = sc->E && sc->f && sc->t;
  if (!sc->f32) {
    sc->cache = net_cache_alloc(net, cap, 1);
    sc->rw = net_rwork_alloc(net, cap);
    sc->GL = malloc(cap * d * sizeof *sc->GL);
    sc->zero = calloc(cap * d, sizeof *sc->zero);
    ok &= sc->cache && sc->rw && sc->GL && sc->zero;
    if (tan) {
      sc->tan = net_tan_alloc(net, cap, sc->mcap);
      sc->Eg = malloc(tl * sizeof *sc->Eg);
      sc->Sg = malloc(tl * sizeof *sc->Sg);
      ok &= sc->tan && sc->Eg && sc->Sg;
    }
  } else {
    sc->cache32 = net_cache_alloc_f32(net, cap, 1);
    sc->rw32 = net_rwork_alloc_f32(net, cap);
    sc->E32 = malloc(cap * d * sizeof *sc->E32);
    sc->GL32 = malloc(cap * d * sizeof *sc->GL32);
    sc->zero32 = calloc(cap * d, sizeof *sc->zero32);
    sc->X32 = malloc(cap * d * sizeof *sc->X32);
    sc->th32 = malloc(P * sizeof *sc->th32);
    sc->g32 = malloc(P * sizeof *sc->g32);
    ok &= sc->cache32 && sc->rw32 && sc->E32 && sc->GL32 && sc->zero32 && sc->X32 && sc->th32 &&
          sc->g32;
    if (tan) {
      sc->tan32 = net_tan_alloc_f32(net, cap, sc->mcap);
      sc->Eg = malloc(tl * sizeof *sc->Eg);
      sc->Eg32 = malloc(tl * sizeof *sc->Eg32);
      sc->Sg32 = malloc(tl * sizeof *sc->Sg32);
      ok &= sc->tan32 && sc->Eg && sc->Eg32 && sc->Sg32;
    }
  }
  if (ok && tan && net->nlayers == 3 && !net->layer[2].s) {  /* the two-hidden-layer trace */
    size_t h0 = net->layer[0].out, h1 = net->layer[1].out;
    if (!sc->f32) {
      ok &= !!(sc->trM = malloc(h0 * h1 * sizeof *sc->trM));
      ok &= !!(sc->trK = malloc(h0 * h1 * sizeof *sc->trK));
      ok &= !!(sc->trY = malloc(cap * h1 * sizeof *sc->trY));
    } else {
      ok &= !!(sc->trM32 = malloc(h0 * h1 * sizeof *sc->trM32));
      ok &= !!(sc->trK32 = malloc(h0 * h1 * sizeof *sc->trK32));
      ok &= !!(sc->trY32 = malloc(cap * h1 * sizeof *sc->trY32));
    }
  }
  if (!ok) {
    stein_critic_free(sc);
    return NULL;
  }
  return sc;
}

SteinCritic *stein_critic_alloc(const Net *net, size_t cap) {
  return stein_critic_alloc_prec(net, cap, PREC_F64, 0);
}

void stein_critic_free(SteinCritic *sc) {
  if (!sc) return;
  net_cache_free(sc->cache);
  net_rwork_free(sc->rw);
  net_cache_free_f32(sc->cache32);
  net_rwork_free_f32(sc->rw32);
  free(sc->E), free(sc->GL), free(sc->zero), free(sc->f), free(sc->t);
  free(sc->E32), free(sc->GL32), free(sc->zero32), free(sc->X32), free(sc->th32), free(sc->g32);
  net_tan_free(sc->tan);
  net_tan_free_f32(sc->tan32);
  free(sc->Eg), free(sc->Sg), free(sc->Eg32), free(sc->Sg32);
  free(sc->trM), free(sc->trK), free(sc->trY), free(sc->trM32), free(sc->trK32), free(sc->trY32);
  free(sc);
}

/* The passes in double (the net.h names) and in float (their _f32 twins). */
#define real double
#define CP(name) name##_f64
#define CM(field) sc->field
#define NET_FWD net_forward
#define NET_BWD net_backward
#define NET_BWD_KEEP net_backward_keep
#define NET_RFWD net_rforward
#define NET_RBWD net_rbackward
#define TAN_FWD net_tan_forward
#define TAN_BWD net_tan_backward
#define NETW net_W
#define GEMM cblas_dgemm
#include "critic_t.h"
#undef real
#undef CP
#undef CM
#undef NET_FWD
#undef NET_BWD
#undef NET_BWD_KEEP
#undef NET_RFWD
#undef NET_RBWD
#undef TAN_FWD
#undef TAN_BWD
#undef NETW
#undef GEMM

#define real float
#define CP(name) name##_f32
#define CM(field) sc->field##32
#define NET_FWD net_forward_f32
#define NET_BWD net_backward_f32
#define NET_BWD_KEEP net_backward_keep_f32
#define NET_RFWD net_rforward_f32
#define NET_RBWD net_rbackward_f32
#define TAN_FWD net_tan_forward_f32
#define TAN_BWD net_tan_backward_f32
#define NETW net_W_f32
#define GEMM cblas_sgemm
#include "critic_t.h"
#undef real

/* float32: θ and the n rows of X rounded into the critic's copies, the gradient zeroed. */
static void f32_load(SteinCritic *sc, const double *theta, const double *X, size_t n, int grad) {
  size_t P = sc->net->n_params;
  for (size_t i = 0; i < P; i++) sc->th32[i] = (float)theta[i];
  for (size_t i = 0; i < n * sc->d; i++) sc->X32[i] = (float)X[i];
  if (grad) memset(sc->g32, 0, P * sizeof *sc->g32);
}

/* float32: the batch's gradient into the caller's double one. */
static void f32_store(const SteinCritic *sc, double *grad) {
  size_t P = sc->net->n_params;
  for (size_t i = 0; i < P; i++) grad[i] += sc->g32[i];
}

void stein_critic_divergence(SteinCritic *sc, const double *theta, const double *X, size_t n,
                             const SteinDiv *div, const double *probes, Rng *rng, double *divout,
                             double scale, double *grad) {
  if (!sc->f32) {
    divergence_f64(sc, theta, X, n, div, probes, rng, divout, scale, grad);
    return;
  }
  f32_load(sc, theta, X, n, !!grad);
  divergence_f32(sc, sc->th32, sc->X32, n, div, probes, rng, divout, scale, grad ? sc->g32 : NULL);
  if (grad) f32_store(sc, grad);
}

double stein_critic_objective(SteinCritic *sc, const double *theta, const double *X,
                              const double *S, size_t n, double lambda, const SteinDiv *div,
                              const double *probes, Rng *rng, double *T, double *f, double *grad) {
  if (!sc->f32) return objective_f64(sc, theta, X, S, n, lambda, div, probes, rng, T, f, grad);
  f32_load(sc, theta, X, n, !!grad);
  double J = objective_f32(sc, sc->th32, sc->X32, S, n, lambda, div, probes, rng, T, f,
                           grad ? sc->g32 : NULL);
  if (grad) f32_store(sc, grad);
  return J;
}
