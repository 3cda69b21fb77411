/*
 * stein.h: neural Stein critics with staged L2 regularisation (Repasky, Cheng and Xie),
 * as a goodness-of-fit test of data p against a model q (docs/STEIN.md).
 *
 * Models (model.c): distributions with an analytic score s = ∇ log density and a sampler:
 * Gaussian mixtures (a Gaussian is one component) and the Gauss-Bernoulli RBM (Gibbs).
 * Critic (critic.c): an MLP f_θ: ℝ^d → ℝ^d on the engine's net, trained to maximise
 *   J(θ) = E_p[s_qᵀf + ∇·f] − (λ/2) E_p‖f‖²,   optimum f* = (s_q − s_p)/λ,
 * with ∇·f exact (d input-tangent passes) or Hutchinson, and the exact θ-gradient of the
 * divergence through the R-passes (docs/MATH.md, "Stein critics").
 * Ownership: SteinModel and SteinCritic own their arrays (_free, NULL-safe fields).
 */
#ifndef CS_STEIN_H
#define CS_STEIN_H

#include <stddef.h>

#include "core/err.h"
#include "core/net.h"
#include "core/rng.h"

/* ------------------------------------------------------------------------ models */

typedef enum { STEIN_MIXTURE = 0, STEIN_RBM } SteinModelKind;
#define STEIN_MAX_COMPONENTS 64

typedef struct SteinModel {
  SteinModelKind kind;
  size_t d;
  /* mixture of K Gaussians: weights w[K], means mu[K][d], Cholesky factors chol[K][d][d]
   * (lower, Σ = LLᵀ), precisions prec[K][d][d], log det Σ_k */
  int K;
  double *w, *mu, *chol, *prec, *logdet;
  /* Gauss-Bernoulli RBM, h ∈ {−1, +1}^dh:  p(x, h) ∝ exp(½xᵀBh + bᵀx + cᵀh − ½‖x‖²),
   * B [d][dh]; Gibbs sampling with `burnin` sweeps from N(0, I) */
  size_t dh;
  double *B, *b, *c;
  long burnin;
} SteinModel;

/* A mixture from weights (normalised here), means and covariances (K×d×d, positive
 * definite: CS_EINVAL otherwise). 1 <= K <= STEIN_MAX_COMPONENTS; K = 1 is a Gaussian. */
int stein_mixture_init(SteinModel *m, size_t d, int K, const double *w, const double *mu,
                       const double *cov, Err *err);
/* An RBM from B [d][dh], b [d], c [dh] (copied). */
int stein_rbm_init(SteinModel *m, size_t d, size_t dh, const double *B, const double *b,
                   const double *c, long burnin, Err *err);
int stein_model_copy(SteinModel *dst, const SteinModel *src, Err *err);
void stein_model_free(SteinModel *m);

/* log density at x (the RBM's up to its normalising constant). */
double stein_model_logdens(const SteinModel *m, const double *x);
/* S[i] = ∇ log density at X[i], n rows of d. */
void stein_model_score(const SteinModel *m, size_t n, const double *X, double *S);
/* n samples into X [n][d] (the RBM: n parallel Gibbs chains, burnin sweeps each). */
int stein_model_sample(const SteinModel *m, size_t n, Rng *rng, double *X, Err *err);

/* The presets (docs/STEIN.md): p the data distribution, q the model; null: p = q.
 * "gauss:d=D[,pert=S]": q = N(0, I), p = N(S·1, I).
 * "gauss-mixture:d=D": Repasky et al.'s mixture (p correlated, q identity covariances).
 * "rbm:dx=50,dh=40[,pert=0.02][,burnin=2000]": q an RBM with B ∈ {±1}, b, c ~ N(0, 1); p the
 * same with B + pert·N(0, 1). A pert= key overrides the preset's (pert_override >= 0). */
typedef struct SteinPair {
  SteinModel p, q;
  char name[64];  /* "gauss", "gauss-mixture", "rbm" */
  double pert;
} SteinPair;
int stein_pair_parse(SteinPair *pr, const char *text, double pert_override, int null, Rng *rng,
                     Err *err);
void stein_pair_free(SteinPair *pr);

/* ------------------------------------------------------------------------ critic */

/* The divergence: exact (d passes, one per unit input direction) or Hutchinson's
 * (1/m) Σ_k ε_kᵀ J_x f ε_k with m Gaussian probes ε_k ~ N(0, I) per example. */
typedef enum { STEIN_DIV_EXACT = 0, STEIN_DIV_HUTCHINSON } SteinDivKind;
typedef struct SteinDiv {
  SteinDivKind kind;
  int probes;  /* Hutchinson's m */
} SteinDiv;
/* "exact" or "hutchinson[:probes=M]" (M in 1..1024, default 1). */
int stein_div_parse(const char *text, SteinDiv *div, Err *err);

/* The critic's workspaces for batches of up to cap rows over a net ℝ^d → ℝ^d. */
typedef struct SteinCritic {
  const Net *net;
  size_t cap, d;
  NetCache *cache;   /* second order: the R-backward needs D ⊙ σ''(Z) */
  NetRWork *rw;
  double *E, *GL, *zero, *f;  /* [cap][d]: a probe, a backward seed, zeros, the output */
  double *t;                  /* [2 cap]: s_qᵀf and ∇·f per row */
} SteinCritic;

/* NULL when out of memory or the net is not ℝ^d → ℝ^d. */
SteinCritic *stein_critic_alloc(const Net *net, size_t cap);
void stein_critic_free(SteinCritic *sc);

/* Divergence of f_θ at the n <= cap rows of X into div[n] (exact, or Hutchinson with the
 * probes `probes` [m][n][d] when given, else m fresh ones from rng), and, when grad is
 * not NULL, adds scale · ∇_θ Σ_i div_i into grad: per probe E, a backward seeded with
 * scale·E then the R-passes along the input tangent E (docs/MATH.md). */
void stein_critic_divergence(SteinCritic *sc, const double *theta, const double *X, size_t n,
                             const SteinDiv *div, const double *probes, Rng *rng, double *divout,
                             double scale, double *grad);

/* The batch objective J = (1/n) Σ_i [T_i − (λ/2)‖f_i‖²], T_i = s_iᵀf_i + ∇·f_i, with S the
 * scores s_q at X. T (n, or NULL) gets the T_i; f (n×d, or NULL) the outputs; grad (or
 * NULL) gets += ∇_θ(−J), the loss the optimizer minimises. */
double stein_critic_objective(SteinCritic *sc, const double *theta, const double *X,
                              const double *S, size_t n, double lambda, const SteinDiv *div,
                              const double *probes, Rng *rng, double *T, double *f, double *grad);

#endif
