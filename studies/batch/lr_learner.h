/*
 * lr_learner.h: the Lanczos learning-rate learner (issue 12, docs/BATCH.md): every K
 * steps a few Lanczos iterations on a mini-batch Hessian give its Ritz values, which set
 * the learning rate α and the heavy-ball momentum ρ of the run's optimizer.
 *
 *   polyak:   L = the largest Ritz value, μ = the smallest, floored at floor·L;
 *             α = 4/(√L + √μ)², ρ = ((√κ − 1)/(√κ + 1))², κ = L/μ.
 *   granziol: as coded by Granziol (GadamX run_ssgdm_fastanddirty.py, "minimum" mode):
 *             |Ritz values|; L the largest; μ the smallest after repeatedly deleting the
 *             Ritz value of largest quadrature weight while that weight is > 0.5, floored
 *             at floor·L; α = (2/(√L + √μ))², ρ = ((√L − √μ)/(√L + μ))² (μ, not √μ, in
 *             the denominator, as in that code).
 * Negative or tiny λmin: polyak replaces any λmin < floor·L (negative, zero or tiny) by
 * floor·L, i.e. it treats the batch as a convex quadratic of condition number 1/floor:
 * α → 4/(L(1 + √floor)²), ρ → ((1 − √floor)/(1 + √floor))² (0.88 at the default 1e-3).
 * granziol takes |λ|, so a negative λmin counts by its magnitude, then the same floor.
 * L <= 0 (no positive curvature seen): α and ρ are left as they were (CS_ENOCONV).
 *
 *   polyak-safe (ours, not from a paper): polyak's α and ρ on the measured batch, then α
 *             clipped at the heavy ball's threshold 2(1 + ρ)/L̂, L̂ the running maximum of L
 *             over the run's measurements (lr_learner_safe_clip). A later batch that looks
 *             flatter (a small batch, 20 Lanczos steps) cannot raise α past what the
 *             sharpest curvature seen so far tolerates; ρ is polyak's.
 *
 * The probe (Probe of core/train.h, so the training loop knows nothing of Lanczos) runs at
 * every step: at steps t % every == 0 it measures and sets opt->cfg.lr and cfg.momentum
 * before the step's update; at every step it records metrics lr_learned and
 * momentum_learned (the values that step's update uses), and at measured steps
 * lr_learner_lmax and lr_learner_lmin (L and μ after the floor), and for polyak-safe
 * lr_learner_lhat (L̂).
 *
 * Ownership: the probe's destroy() frees its state. Thread safety: as train_run.
 */
#ifndef CS_LR_LEARNER_H
#define CS_LR_LEARNER_H

#include <stddef.h>
#include <stdint.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/train.h"

typedef enum { LR_RULE_POLYAK, LR_RULE_GRANZIOL, LR_RULE_POLYAK_SAFE } LrRule;

typedef struct LrLearnerOptions {
  long every;    /* steps between measurements (>= 1) */
  long batch;    /* rows of the mini-batch Hessian (0 or >= N: the whole set) */
  int iters;     /* Lanczos iterations (>= 2; at most P) */
  LrRule rule;
  double floor;  /* μ >= floor·L, in (0, 1) */
  uint64_t seed; /* batches and start vectors */
} LrLearnerOptions;

/* Parses "lanczos:every=K,batch=B,iters=20,rule=polyak|granziol|polyak-safe,floor=F"
 * (defaults 50, 128, 20, polyak, 1e-3). CS_EINVAL naming the bad token. */
int lr_learner_parse(const char *spec, LrLearnerOptions *o, Err *err);

/* The rule on n Ritz values theta with quadrature weights w (summing to 1): *lr, *mom
 * and the L, μ used. CS_ENOCONV when L <= 0 (outputs untouched), else CS_OK.
 * LR_RULE_POLYAK_SAFE gives polyak's values here; its clip is lr_learner_safe_clip. */
int lr_learner_rule(LrRule rule, const double *theta, const double *w, int n, double floor,
                    double *lr, double *mom, double *L, double *mu);

/* polyak-safe's clip: *lhat = max(*lhat, L) (the running maximum; start it at 0), and
 * lr = min(lr, 2(1 + mom)/ *lhat). Returns the clipped lr. */
double lr_learner_safe_clip(double lr, double mom, double L, double *lhat);

/* The probe; needs the heavy-ball optimizer (optim_momentum): CS_EINVAL otherwise. */
int lr_learner_probe_create(const LrLearnerOptions *o, const Net *net, const Dataset *train,
                            LossKind loss, const OptimizerType *opt, Probe *out, Err *err);

#endif
