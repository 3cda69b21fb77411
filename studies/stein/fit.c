/* fit.c: training the Stein critic with a λ schedule, Adam and validation (stein.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/optim.h"
#include "core/spec.h"
#include "stein.h"

int stein_lambda_parse(const char *text, SteinLambda *l, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return CS_EINVAL;
  int rc = CS_OK;
  *l = (SteinLambda){1, 0.4, 0.85, 5e-4};
  if (!strcmp(s.kind, "staged")) {
    rc = spec_get_double(&s, "init", &l->init, err);
    if (!rc) rc = spec_get_double(&s, "decay", &l->decay, err);
    if (!rc) rc = spec_get_double(&s, "final", &l->final, err);
    if (!rc) rc = spec_check_unused(&s, 0, err);
    if (!rc) rc = range_check("init", l->init, 0, INFINITY, RANGE_LO_OPEN | RANGE_HI_OPEN, err);
    if (!rc) rc = range_check("decay", l->decay, 0, 1, RANGE_LO_OPEN, err);
    if (!rc) rc = range_check("final", l->final, 0, l->init, RANGE_LO_OPEN, err);
  } else if (!strcmp(s.kind, "fixed")) {
    l->staged = 0;
    if (s.npos != 1 || s.nkv) {
      rc = err_set(err, CS_EINVAL, "'%s': fixed takes one value, e.g. fixed:1e-3", text);
    } else if (parse_double(s.pos[0], &l->init) || !(l->init > 0)) {
      rc = err_set(err, CS_EINVAL, "'%s': the fixed λ must be a number > 0", s.pos[0]);
    }
    l->final = l->init;
    l->decay = 1;
  } else {
    rc = err_set(err, CS_EINVAL, "unknown λ schedule '%s' (known: staged, fixed)", s.kind);
  }
  spec_free(&s);
  return rc;
}

double stein_lambda_at(const SteinLambda *l, long epoch) {
  if (!l->staged) return l->init;
  return fmax(l->final, l->init * pow(l->decay, (double)epoch));
}

void stein_lambda_name(const SteinLambda *l, char *out, size_t n) {
  if (l->staged) snprintf(out, n, "staged");
  else snprintf(out, n, "fixed:%.3g", l->init);
}

int stein_trace_alloc(SteinTrace *t, long epochs, Err *err) {
  memset(t, 0, sizeof *t);
  size_t e = (size_t)(epochs > 0 ? epochs : 1);
  t->epochs = epochs;
  t->lambda = malloc(e * sizeof *t->lambda);
  t->val_obj = malloc(e * sizeof *t->val_obj);
  t->critic_err = malloc(e * sizeof *t->critic_err);
  t->val_stat = malloc(e * sizeof *t->val_stat);
  if (!t->lambda || !t->val_obj || !t->critic_err || !t->val_stat) {
    stein_trace_free(t);
    return err_set(err, CS_ENOMEM, "out of memory for the training trace");
  }
  return CS_OK;
}

void stein_trace_free(SteinTrace *t) {
  if (!t) return;
  free(t->lambda), free(t->val_obj), free(t->critic_err), free(t->val_stat);
  memset(t, 0, sizeof *t);
}

/* J at λ over a whole sample in chunks, T_i (exact divergence) into T, and the critic
 * error ‖λf − δ‖²/‖δ‖² into *cerr (NaN without δ or when δ = 0). */
static double eval_sample(SteinCritic *sc, const double *theta, const SteinSample *s, double lambda,
                          double *T, double *cerr) {
  SteinDiv exact = {STEIN_DIV_EXACT, 1};
  size_t d = sc->d;
  double J = 0, num = 0, den = 0;
  for (size_t r = 0; r < s->n; r += sc->cap) {
    size_t m = s->n - r < sc->cap ? s->n - r : sc->cap;
    J += (double)m * stein_critic_objective(sc, theta, s->X + r * d, s->S + r * d, m, lambda,
                                            &exact, NULL, NULL, T + r, sc->f, NULL);
    if (s->delta)
      for (size_t i = 0; i < m * d; i++) {
        double dl = s->delta[r * d + i], e = lambda * sc->f[i] - dl;
        num += e * e, den += dl * dl;
      }
  }
  if (cerr) *cerr = den > 0 ? num / den : NAN;
  return J / (double)s->n;
}

void stein_critic_values(SteinCritic *sc, const double *theta, const SteinSample *s, double *T) {
  eval_sample(sc, theta, s, 0, T, NULL);
}

/* √n mean/sd of T[n] (0 when sd = 0). */
static double studentised(const double *T, size_t n) {
  double m = 0, v = 0;
  for (size_t i = 0; i < n; i++) m += T[i];
  m /= (double)n;
  for (size_t i = 0; i < n; i++) v += (T[i] - m) * (T[i] - m);
  v = n > 1 ? v / (double)(n - 1) : 0;
  return v > 0 ? sqrt((double)n) * m / sqrt(v) : 0;
}

int stein_fit(SteinCritic *sc, double *theta, const SteinFitOpts *o, const SteinSample *train,
              const SteinSample *val, Rng *rng, SteinTrace *tr, Err *err) {
  const Net *net = sc->net;
  size_t P = net->n_params, d = sc->d, n = train->n, B = (size_t)o->batch;
  if (B > sc->cap || B < 1 || n < 1 || val->n < 2)
    return err_set(err, CS_EINVAL, "stein_fit: batch %zu, workspace %zu, %zu train, %zu val rows",
                   B, sc->cap, n, val->n);
  OptConfig cfg;
  optconfig_default(&cfg);
  cfg.lr = o->lr;
  Optimizer *opt = optim_alloc(optim_adam, &cfg, P);
  double *grad = malloc(P * sizeof *grad), *best = malloc(P * sizeof *best);
  double *Xb = malloc(B * d * sizeof *Xb), *Sb = malloc(B * d * sizeof *Sb);
  double *T = malloc(val->n * sizeof *T);
  size_t *idx = malloc(n * sizeof *idx);
  if (!opt || !grad || !best || !Xb || !Sb || !T || !idx) {
    optim_free(opt), free(grad), free(best), free(Xb), free(Sb), free(T), free(idx);
    return err_set(err, CS_ENOMEM, "out of memory for critic training");
  }
  for (size_t i = 0; i < n; i++) idx[i] = i;
  memcpy(best, theta, P * sizeof *theta);
  double best_stat = -INFINITY;
  int rc = CS_OK;
  tr->best_epoch = -1;
  for (long e = 0; e < o->epochs && !rc; e++) {
    double lam = stein_lambda_at(&o->lambda, e);
    rng_shuffle(rng, idx, n);
    for (size_t r = 0; r < n; r += B) {
      size_t m = n - r < B ? n - r : B;
      for (size_t i = 0; i < m; i++) {
        memcpy(Xb + i * d, train->X + idx[r + i] * d, d * sizeof *Xb);
        memcpy(Sb + i * d, train->S + idx[r + i] * d, d * sizeof *Sb);
      }
      memset(grad, 0, P * sizeof *grad);
      stein_critic_objective(sc, theta, Xb, Sb, m, lam, &o->div, NULL, rng, NULL, NULL, grad);
      optim_step(opt, theta, grad);
    }
    double cerr, J = eval_sample(sc, theta, val, lam, T, &cerr), st = studentised(T, val->n);
    if (!isfinite(J)) {
      rc = err_set(err, CS_EDIVERGED, "the critic diverged at epoch %ld (λ = %g)", e, lam);
      break;
    }
    if (o->stop && o->stop()) {
      rc = err_set(err, CS_EINTERRUPTED, "stopped at epoch %ld", e);
      break;
    }
    tr->lambda[e] = lam;
    tr->val_obj[e] = J;
    tr->critic_err[e] = cerr;
    tr->val_stat[e] = st;
    if (st > best_stat) {
      best_stat = st;
      tr->best_epoch = e;
      memcpy(best, theta, P * sizeof *theta);
    }
  }
  if (!rc) memcpy(theta, best, P * sizeof *theta);
  optim_free(opt), free(grad), free(best), free(Xb), free(Sb), free(T), free(idx);
  return rc;
}
