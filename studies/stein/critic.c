/*
 * critic.c: the Stein critic's objective, its divergence and their exact θ-gradients.
 *
 * For a probe matrix E [n][d] (rows e_i), the input-tangent R-forward (R{A_0} = E, v = 0)
 * gives R{F} = J_x f · e_i per row, so e_iᵀ J_x f(x_i) e_i is the row sum of E ⊙ R{F}. Its
 * θ-gradient is the R-backward, along the same tangent, of the linear "loss"
 * Σ_i e_iᵀ F_i: a backward seeded with G_L = E (which leaves the cache's G and D ⊙ σ''),
 * then R{G_L} = 0 (docs/MATH.md, "Stein critics reuse the R-passes").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
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

SteinCritic *stein_critic_alloc(const Net *net, size_t cap) {
  if (net->d_in != net->d_out || cap < 1) return NULL;
  SteinCritic *sc = calloc(1, sizeof *sc);
  if (!sc) return NULL;
  size_t d = net->d_in;
  sc->net = net;
  sc->cap = cap;
  sc->d = d;
  sc->cache = net_cache_alloc(net, cap, 1);
  sc->rw = net_rwork_alloc(net, cap);
  sc->E = malloc(cap * d * sizeof *sc->E);
  sc->GL = malloc(cap * d * sizeof *sc->GL);
  sc->zero = calloc(cap * d, sizeof *sc->zero);
  sc->f = malloc(cap * d * sizeof *sc->f);
  sc->t = malloc(2 * cap * sizeof *sc->t);
  if (!sc->cache || !sc->rw || !sc->E || !sc->GL || !sc->zero || !sc->f || !sc->t) {
    stein_critic_free(sc);
    return NULL;
  }
  return sc;
}

void stein_critic_free(SteinCritic *sc) {
  if (!sc) return;
  net_cache_free(sc->cache);
  net_rwork_free(sc->rw);
  free(sc->E), free(sc->GL), free(sc->zero), free(sc->f), free(sc->t);
  free(sc);
}

/* One probe E on the cached rows: div += w · rowsum(E ⊙ J_x f E), and
 * grad += scale·w · ∇_θ Σ_i e_iᵀ J_x f e_i. */
static void probe_pass(SteinCritic *sc, const double *theta, size_t n, const double *E, double w,
                       double *divout, double scale, double *grad) {
  const Net *net = sc->net;
  size_t d = sc->d;
  if (grad) {
    for (size_t i = 0; i < n * d; i++) sc->GL[i] = scale * w * E[i];
    net_backward(net, theta, sc->cache, sc->GL, NULL);  /* redoes the forward when needed */
  }
  net_rforward(net, theta, sc->cache, NULL, E, sc->rw);
  const double *RF = sc->rw->RA[net->nlayers - 1];
  for (size_t i = 0; i < n; i++) {
    double t = 0;
    for (size_t k = 0; k < d; k++) t += E[i * d + k] * RF[i * d + k];
    divout[i] += w * t;
  }
  if (grad) net_rbackward(net, theta, sc->cache, NULL, E, sc->rw, sc->zero, NET_R_HESSIAN, grad);
}

/* The divergence passes on rows already forwarded into the cache. */
static void divergence_cached(SteinCritic *sc, const double *theta, size_t n, const SteinDiv *div,
                              const double *probes, Rng *rng, double *divout, double scale,
                              double *grad) {
  size_t d = sc->d;
  memset(divout, 0, n * sizeof *divout);
  if (div->kind == STEIN_DIV_EXACT) {
    for (size_t k = 0; k < d; k++) {
      memset(sc->E, 0, n * d * sizeof *sc->E);
      for (size_t i = 0; i < n; i++) sc->E[i * d + k] = 1;
      probe_pass(sc, theta, n, sc->E, 1.0, divout, scale, grad);
    }
    return;
  }
  int m = div->probes;
  for (int p = 0; p < m; p++) {
    const double *E = probes ? probes + (size_t)p * n * d : sc->E;
    if (!probes) rng_normal_fill(rng, sc->E, n * d);
    probe_pass(sc, theta, n, E, 1.0 / m, divout, scale, grad);
  }
}

void stein_critic_divergence(SteinCritic *sc, const double *theta, const double *X, size_t n,
                             const SteinDiv *div, const double *probes, Rng *rng, double *divout,
                             double scale, double *grad) {
  net_forward(sc->net, theta, X, n, sc->cache);
  divergence_cached(sc, theta, n, div, probes, rng, divout, scale, grad);
}

double stein_critic_objective(SteinCritic *sc, const double *theta, const double *X,
                              const double *S, size_t n, double lambda, const SteinDiv *div,
                              const double *probes, Rng *rng, double *T, double *f, double *grad) {
  const Net *net = sc->net;
  size_t d = sc->d;
  net_forward(net, theta, X, n, sc->cache);
  const double *F = sc->cache->A[net->nlayers - 1];
  double *fo = f ? f : sc->f, *sf = sc->t, *dv = sc->t + sc->cap;
  memcpy(fo, F, n * d * sizeof *F);
  double pen = 0;
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    for (size_t k = 0; k < d; k++) {
      double fk = fo[i * d + k];
      v += S[i * d + k] * fk;
      pen += fk * fk;
    }
    sf[i] = v;
  }
  /* −J's gradient in F: −(s − λf)/n, one backward */
  if (grad) {
    for (size_t i = 0; i < n * d; i++) sc->GL[i] = -(S[i] - lambda * fo[i]) / (double)n;
    net_backward_keep(net, theta, sc->cache, sc->GL, grad);  /* the probes' backward needs no new forward */
  }
  divergence_cached(sc, theta, n, div, probes, rng, dv, -1.0 / (double)n, grad);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double ti = sf[i] + dv[i];
    sum += ti;
    if (T) T[i] = ti;
  }
  return sum / (double)n - 0.5 * lambda * pen / (double)n;
}
