/* optim.c: GD, heavy-ball, Nesterov and Adam updates (torch.optim semantics). */
#include "optim.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "simd.h"
#include "spec.h"

#define OMP_N(n) if ((n) > 32768)

/* Each update is one pass over θ; prev (or NULL) receives θ before the update in that
 * same pass (the training loop keeps it for a diverged run's checkpoint), so keeping it
 * costs no second sweep over memory. */
static void gd_step(Optimizer *o, double *theta, const double *grad, double *prev) {
  double lr = o->cfg.lr, wd = o->cfg.weight_decay;
  size_t n = o->n;
#pragma omp parallel for schedule(static) OMP_N(n)
  for (size_t i = 0; i < n; i++) {
    if (prev) prev[i] = theta[i];
    theta[i] -= lr * (grad[i] + wd * theta[i]);
  }
}

/* torch: buf = μ·buf + g (buf = g at the first step); heavy ball θ -= lr·buf,
 * Nesterov θ -= lr·(g + μ·buf). */
static void momentum_update(Optimizer *o, double *theta, const double *grad, double *prev,
                            int nesterov) {
  double lr = o->cfg.lr, wd = o->cfg.weight_decay, mu = o->cfg.momentum;
  double *buf = o->state;
  size_t n = o->n;
  int first = o->t == 1;
#pragma omp parallel for schedule(static) OMP_N(n)
  for (size_t i = 0; i < n; i++) {
    if (prev) prev[i] = theta[i];
    double g = grad[i] + wd * theta[i];
    double b = first ? g : mu * buf[i] + g;
    buf[i] = b;
    theta[i] -= lr * (nesterov ? g + mu * b : b);
  }
}

static void momentum_step(Optimizer *o, double *theta, const double *grad, double *prev) {
  momentum_update(o, theta, grad, prev, 0);
}

static void nesterov_step(Optimizer *o, double *theta, const double *grad, double *prev) {
  momentum_update(o, theta, grad, prev, 1);
}

/* Entries [i0, i1) of Adam's update: one pass, θ, g, m and v each read once, θ, m, v (and
 * prev) written once. A leaf for CS_SIMD_CLONES: its sqrt and division are the costly part
 * and run 8 wide with AVX-512, with the same bits (simd.h). */
CS_SIMD_CLONES
static void adam_range(size_t i0, size_t i1, double b1, double b2, double eps, double step,
                       double rbc2, double wd, double *theta, const double *grad, double *m,
                       double *v, double *prev) {
  for (size_t i = i0; i < i1; i++) {
    double th = theta[i], g = grad[i] + wd * th;
    double mi = b1 * m[i] + (1.0 - b1) * g, vi = b2 * v[i] + (1.0 - b2) * g * g;
    m[i] = mi, v[i] = vi;
    if (prev) prev[i] = th;
    theta[i] = th - step * mi / (sqrt(vi) * rbc2 + eps);
  }
}

static void adam_step(Optimizer *o, double *theta, const double *grad, double *prev) {
  const OptConfig *c = &o->cfg;
  double b1 = c->beta1, b2 = c->beta2, eps = c->eps, lr = c->lr, wd = c->weight_decay;
  double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
  double step = lr / bc1, rbc2 = 1.0 / sqrt(bc2);
  double *m = o->state, *v = o->state + o->n;
  size_t n = o->n;
  int T = n > 32768 && !omp_in_parallel() ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(T) if (T > 1)
  {
    size_t t = (size_t)omp_get_thread_num(), team = (size_t)omp_get_num_threads();
    size_t q = n / team, r = n % team, i0 = t * q + (t < r ? t : r);
    adam_range(i0, i0 + q + (t < r), b1, b2, eps, step, rbc2, wd, theta, grad, m, v, prev);
  }
}

static const OptimizerType gd_type = {"gd", 0, gd_step};
static const OptimizerType momentum_type = {"momentum", 1, momentum_step};
static const OptimizerType nesterov_type = {"nesterov", 1, nesterov_step};
static const OptimizerType adam_type = {"adam", 2, adam_step};
const OptimizerType *const optim_gd = &gd_type, *const optim_momentum = &momentum_type,
                           *const optim_nesterov = &nesterov_type, *const optim_adam = &adam_type;

void optconfig_default(OptConfig *c) {
  c->lr = 0.01;
  c->momentum = 0.9;
  c->beta1 = 0.9;
  c->beta2 = 0.999;
  c->eps = 1e-8;
  c->weight_decay = 0.0;
}

int optconfig_check(const OptConfig *c, Err *err) {
  int rc = range_check("lr", c->lr, 0, INFINITY, RANGE_LO_OPEN, err);
  if (!rc) rc = range_check("momentum", c->momentum, 0, 1, RANGE_HI_OPEN, err);
  if (!rc) rc = range_check("beta1", c->beta1, 0, 1, RANGE_HI_OPEN, err);
  if (!rc) rc = range_check("beta2", c->beta2, 0, 1, RANGE_HI_OPEN, err);
  if (!rc) rc = range_check("eps", c->eps, 0, INFINITY, RANGE_LO_OPEN, err);
  if (!rc) rc = range_check("weight_decay", c->weight_decay, 0, INFINITY, 0, err);
  return rc;
}

int optim_parse(const char *name, const OptimizerType **type, Err *err) {
  if (!strcmp(name, "gd") || !strcmp(name, "sgd")) *type = optim_gd;
  else if (!strcmp(name, "momentum") || !strcmp(name, "heavy-ball")) *type = optim_momentum;
  else if (!strcmp(name, "nesterov")) *type = optim_nesterov;
  else if (!strcmp(name, "adam")) *type = optim_adam;
  else
    return err_set(err, CS_EINVAL, "unknown optimizer '%s' (known: gd, sgd, momentum, nesterov, adam)",
                   name);
  return CS_OK;
}

Optimizer *optim_alloc(const OptimizerType *type, const OptConfig *cfg, size_t n) {
  Optimizer *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->type = type;
  o->cfg = *cfg;
  o->n = n;
  if (type->state_arrays) {
    o->state = calloc(type->state_arrays * n, sizeof *o->state);
    if (!o->state) {
      free(o);
      return NULL;
    }
  }
  return o;
}

void optim_free(Optimizer *o) {
  if (!o) return;
  free(o->state);
  free(o);
}

void optim_step(Optimizer *o, double *theta, const double *grad) { optim_step_keep(o, theta, grad, NULL); }

void optim_step_keep(Optimizer *o, double *theta, const double *grad, double *prev) {
  o->t++;
  o->type->step(o, theta, grad, prev);
}

int optim_adam_precond(const Optimizer *o, double *P, Err *err) {
  if (o->type != optim_adam)
    return err_set(err, CS_EINVAL, "the preconditioned Hessian needs Adam (optimizer is %s)",
                   o->type->name);
  if (o->t < 1) return err_set(err, CS_EINVAL, "Adam's preconditioner needs at least one step");
  const OptConfig *c = &o->cfg;
  double bc1 = 1.0 - pow(c->beta1, (double)o->t), bc2 = 1.0 - pow(c->beta2, (double)o->t);
  const double *v = o->state + o->n;
  for (size_t i = 0; i < o->n; i++) P[i] = bc1 * (sqrt(v[i] / bc2) + c->eps);
  return CS_OK;
}

double optim_threshold(const OptimizerType *type, const OptConfig *cfg) {
  double lr = cfg->lr;
  if (type == optim_momentum) return (2.0 + 2.0 * cfg->momentum) / lr;
  if (type == optim_nesterov) return (2.0 + 2.0 * cfg->momentum) / ((1.0 + 2.0 * cfg->momentum) * lr);
  if (type == optim_adam) return (2.0 + 2.0 * cfg->beta1) / ((1.0 - cfg->beta1) * lr);
  return 2.0 / lr;
}
