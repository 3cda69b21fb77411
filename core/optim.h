/*
 * optim.h: optimizers with PyTorch semantics over the flat parameter vector.
 *
 * A GSL-style table of types (gd/sgd, heavy-ball momentum, Nesterov, Adam), each
 * a single fused loop over θ. State arrays share θ's layout; Adam's m and v are
 * readable so its preconditioner P = (1−β1^t)[diag(√(v/(1−β2^t))) + εI]
 * (docs/MATH.md) can be formed at any step.
 * Weight decay follows torch.optim: λθ is added to the gradient.
 * Ownership: optim_alloc/optim_free. Not thread safe (uses OpenMP inside).
 */
#ifndef CS_OPTIM_H
#define CS_OPTIM_H

#include <stddef.h>

#include "err.h"

typedef struct OptConfig {
  double lr;
  double momentum;      /* heavy-ball / Nesterov μ */
  double beta1, beta2;  /* Adam */
  double eps;           /* Adam ε */
  double weight_decay;
} OptConfig;

typedef struct Optimizer Optimizer;

typedef struct OptimizerType {
  const char *name;
  size_t state_arrays;  /* arrays of length n in the state */
  /* θ ← update; t is the step count after this update (1 for the first); prev, when not
   * NULL, receives θ before the update. */
  void (*step)(Optimizer *o, double *theta, const double *grad, double *prev);
} OptimizerType;

struct Optimizer {
  const OptimizerType *type;
  OptConfig cfg;
  size_t n;
  long t;          /* updates taken */
  double *state;   /* state_arrays * n: momentum buffer, or Adam m then v */
};

extern const OptimizerType *const optim_gd, *const optim_momentum, *const optim_nesterov,
    *const optim_adam;

void optconfig_default(OptConfig *c);
/* CS_EINVAL naming the first bad hyper-parameter: lr and eps finite and > 0,
 * momentum, beta1 and beta2 in [0, 1), weight_decay finite and >= 0. Every field is
 * checked whatever the optimizer (a stored config holds them all). */
int optconfig_check(const OptConfig *c, Err *err);
/* "gd", "sgd", "momentum", "nesterov", "adam". */
int optim_parse(const char *name, const OptimizerType **type, Err *err);
Optimizer *optim_alloc(const OptimizerType *type, const OptConfig *cfg, size_t n);
void optim_free(Optimizer *o);
void optim_step(Optimizer *o, double *theta, const double *grad);
/* optim_step that also copies θ before the update into prev [n] in the same pass. */
void optim_step_keep(Optimizer *o, double *theta, const double *grad, double *prev);

/* Adam's diagonal preconditioner P at the current step (length n); requires t >= 1. */
int optim_adam_precond(const Optimizer *o, double *P, Err *err);
/* The optimizer's stability threshold on the (preconditioned) sharpness:
 * 2/η (GD), (2+2β)/η (heavy ball), (2+2β)/((1+2β)η) (Nesterov),
 * (2+2β1)/((1−β1)η) for Adam's preconditioned sharpness (docs/MATH.md, "Thresholds"). */
double optim_threshold(const OptimizerType *type, const OptConfig *cfg);

#endif
