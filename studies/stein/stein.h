/*
 * stein.h: neural Stein critics with staged L2 regularisation (Repasky, Cheng and Xie),
 * as a goodness-of-fit test of data p against a model q (docs/STEIN.md).
 *
 * Models (model.c): distributions with an analytic score s = ∇ log density and a sampler:
 * Gaussian mixtures (a Gaussian is one component) and the Gauss-Bernoulli RBM (Gibbs).
 * Critic (critic.c): an MLP f_θ: ℝ^d → ℝ^d on the engine's net, trained to maximise
 *   J(θ) = E_p[s_qᵀf + ∇·f] − (λ/2) E_p‖f‖²,   optimum f* = (s_q − s_p)/λ,
 * with ∇·f exact (d input-tangent passes) or Hutchinson, and the exact θ-gradient of the
 * divergence through the R-passes or the tangent pass (docs/MATH.md, "Stein critics"), in
 * float64 or float32 passes (--precision).
 * Ownership: SteinModel and SteinCritic own their arrays (_free, NULL-safe fields).
 */
#ifndef CS_STEIN_H
#define CS_STEIN_H

#include <stddef.h>

#include "core/err.h"
#include "core/net.h"
#include "core/net_tangent.h"
#include "core/precision.h"
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

/* The critic's workspaces for batches of up to cap rows over a net ℝ^d → ℝ^d. In float32
 * (mixed/f32: the passes in float, critic_t.h) θ and X are rounded per call into th32 and
 * X32 and the batch's gradient is summed in g32, then added into the caller's double
 * gradient; θ, the optimizer, T, the objective and the divergence sums stay double. */
typedef struct SteinCritic {
  const Net *net;
  size_t cap, d;
  int f32;           /* the passes in float32 */
  NetCache *cache;   /* second order: the R-backward needs D ⊙ σ''(Z) */
  NetRWork *rw;
  double *E, *GL, *zero, *f;  /* [cap][d]: a probe, a backward seed, zeros, the output */
  double *t;                  /* [2 cap]: s_qᵀf and ∇·f per row */
  NetCacheF32 *cache32;       /* float32 only (NULL otherwise): the same workspaces */
  NetRWorkF32 *rw32;
  float *E32, *GL32, *zero32, *X32;  /* [cap][d] */
  float *th32, *g32;                 /* [n_params] */
  /* The stacked tangent passes (core/net_tangent.h; NULL where the net has frozen or
   * cos/sin layers): up to mcap probes per pass, the probes Eg and the seeds Sg
   * [mcap][cap][d]. rpasses = 1 takes the R-passes instead (tests compare the two). */
  NetTan *tan;
  NetTanF32 *tan32;
  int mcap, rpasses;
  double *Eg, *Sg;
  float *Eg32, *Sg32;
  /* Two hidden layers: the exact divergence without its gradient in one GEMM, tr J_i =
   * α d1_iᵀ K d0_i with K = W1 ⊙ (W0 W2)ᵀ (critic_t.h): M [h0][h1], K [h1][h0],
   * Y [cap][h1]; NULL otherwise */
  double *trM, *trK, *trY;
  float *trM32, *trK32, *trY32;
} SteinCritic;

/* NULL when out of memory or the net is not ℝ^d → ℝ^d. */
SteinCritic *stein_critic_alloc(const Net *net, size_t cap);
/* The same with the passes in the precision's arithmetic (float32 for mixed and f32) and
 * the stacked tangent passes for up to mcap probes at once (the exact divergence's d take
 * ⌈d/mcap⌉ passes; mcap <= 0: 8, fewer when (1 + mcap)·cap·Σ widths passes 2^25). */
SteinCritic *stein_critic_alloc_prec(const Net *net, size_t cap, Precision prec, int mcap);
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

/* ------------------------------------------------------------------ training (fit.c) */

/* λ per epoch e = 0, 1, ...: staged λ_e = max(final, init·decay^e) (Repasky et al.'s
 * code), or fixed. */
typedef struct SteinLambda {
  int staged;
  double init, decay, final;  /* fixed: init */
} SteinLambda;
/* "staged[:init=0.4,decay=0.85,final=5e-4]" or "fixed:L" (L > 0). */
int stein_lambda_parse(const char *text, SteinLambda *l, Err *err);
double stein_lambda_at(const SteinLambda *l, long epoch);
/* "staged" or "fixed:1e-03", for names and messages. */
void stein_lambda_name(const SteinLambda *l, char *out, size_t n);

typedef struct SteinFitOpts {
  long epochs, batch;
  double lr;              /* Adam's, betas 0.9, 0.999 */
  SteinLambda lambda;
  SteinDiv div;           /* training divergence; validation and tests use the exact one */
  int (*stop)(void);      /* polled after each epoch (NULL: never): CS_EINTERRUPTED */
} SteinFitOpts;

/* A sample and its scores: X [n][d] from p; S = s_q(X); delta = s_q − s_p at X, or NULL
 * when s_p is unknown. */
typedef struct SteinSample {
  size_t n;
  double *X, *S, *delta;
} SteinSample;

/* Per epoch e (after its updates): λ_e, the validation objective J at λ_e, the critic
 * error ‖λ_e f − δ‖² / ‖δ‖² on the validation sample (NaN without δ or when δ = 0), and
 * the validation statistic √n mean(T)/sd(T) that selects the kept epoch. */
typedef struct SteinTrace {
  long epochs;
  double *lambda, *val_obj, *critic_err, *val_stat;
  long best_epoch;
} SteinTrace;
int stein_trace_alloc(SteinTrace *t, long epochs, Err *err);
void stein_trace_free(SteinTrace *t);

/* Trains θ (initialised by the caller) with Adam on minibatches of train, and leaves in
 * θ the parameters of the epoch with the highest validation statistic. sc's cap must
 * be at least the batch. A stop (o->stop) ends it with CS_EINTERRUPTED. */
int stein_fit(SteinCritic *sc, double *theta, const SteinFitOpts *o, const SteinSample *train,
              const SteinSample *val, Rng *rng, SteinTrace *tr, Err *err);
/* T_q f_θ (exact divergence) at the n rows of a sample into T, in chunks of sc->cap. */
void stein_critic_values(SteinCritic *sc, const double *theta, const SteinSample *s, double *T);

/* --------------------------------------------------------------- tests (test.c, ksd.c) */

typedef struct SteinTestResult {
  double stat;     /* neural: mean of T on the test sample; KSD: the V-statistic */
  double pvalue;   /* bootstrap p-value, (1 + #{null draw >= stat}) / (1 + draws) */
  double tstat;    /* neural: √n mean/sd (LSD's studentised form); KSD: NaN */
  int reject;      /* pvalue <= α */
  int reject_t;    /* tstat > z_{1−α} */
} SteinTestResult;

/* Φ^{-1}(p) for p in (0, 1) (bisection on erfc, to 1e-12). */
double stein_normal_quantile(double p);
/* The neural test from the critic's values: T [n] on the test sample of p, T0 [n0] on
 * samples of q; the null draws are means of n values resampled from T0, minus T0's mean
 * (E_q[T_q f] = 0: Stein's identity). */
int stein_test_values(const double *T, size_t n, const double *T0, size_t n0, double alpha,
                      long boot, Rng *rng, SteinTestResult *r, Err *err);
/* Kernel Stein discrepancy of the n rows of X (scores S = s_q(X)): RBF kernel
 * exp(−‖x−y‖²/h), h = 2·median² of the pairwise distances (Gaussian bandwidth the
 * median distance), V-statistic (1/n²) Σ u_q(x_i, x_j), wild bootstrap with Rademacher
 * weights, `boot` draws. */
int stein_ksd_test(const double *X, const double *S, size_t n, size_t d, double alpha, long boot,
                   Rng *rng, SteinTestResult *r, Err *err);

/* ------------------------------------------------------- power and level (power.c) */

#define STEIN_MAX_SCHEDULES 16

struct SteinStudyResult;

typedef struct SteinStudyOpts {
  size_t n_train, n_val, n_test, n_null;  /* n_null: samples of q for the bootstrap null */
  long repeats, boot;
  double alpha;
  SteinFitOpts fit;                       /* fit.lambda is replaced by each schedule */
  SteinLambda sched[STEIN_MAX_SCHEDULES];
  int nsched;
  int ksd;                                /* also the KSD test on the same test draws */
  uint64_t seed;
  /* p from data instead of pr->p: rows [n_data][d], each repeat a fresh random split into
   * train, validation and test (n_train + n_val + n_test <= n_data); NULL: sample pr->p */
  const double *data;
  size_t n_data;
  /* called after each repeat with the results so far (res->repeats done; rejection
   * counts, not yet rates), or NULL */
  void (*progress)(void *ctx, const struct SteinStudyResult *res, long total);
  void *progress_ctx;
  Precision precision;                    /* the critic's passes (f64 by default) */
} SteinStudyOpts;

/* Per schedule, over the repeats: rejections of the bootstrap and studentised tests, and
 * per epoch the means of λ, the validation objective and the critic error; the mean kept
 * epoch and the lowest mean critic error. */
typedef struct SteinScheduleResult {
  long rejects, rejects_t;
  SteinTrace mean;
  double best_epoch_mean, critic_err_min;
} SteinScheduleResult;

typedef struct SteinStudyResult {
  int nsched;
  SteinScheduleResult sched[STEIN_MAX_SCHEDULES];
  long ksd_rejects;
  long repeats;      /* done */
  double wall_s;
} SteinStudyResult;

/* Each repeat r draws fresh train/val/test samples of p and a null pool of q (an rng
 * stream of its own), then trains one critic per schedule from the same initial θ (the
 * net `net`, ℝ^d → ℝ^d) and tests it; KSD on the same test sample. With o->data, p's
 * samples are rows of the data (no critic error: s_p unknown). stop (may be NULL)
 * is polled between repeats and after every training epoch: a stop drops the repeat
 * under way and keeps the repeats done (CS_OK, res->repeats < o->repeats). */
int stein_study_run(const SteinPair *pr, const Net *net, const SteinStudyOpts *o,
                    int (*stop)(void), SteinStudyResult *res, Err *err);
void stein_study_result_free(SteinStudyResult *res);

#endif
