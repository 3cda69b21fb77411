/*
 * test_optim.c: optimizer updates, Adam's preconditioner and the stability
 * thresholds.
 *
 * References: the PyTorch update rules written out again here, independently
 * of optim.c, and run on a 3-parameter problem with given gradients; a few
 * hand-computed numbers; the thresholds' closed forms; and the thresholds'
 * meaning checked by iterating the optimizers on a 1-D quadratic just below and
 * just above them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/optim.h"
#include "tests/tap.h"

#define P 3
#define STEPS 5

static const double theta0[P] = {0.5, -1.25, 2.0};
/* gradients given per step (they do not depend on θ; weight decay adds λθ) */
static const double grads[STEPS][P] = {
    {0.3, -0.7, 1.1}, {-0.2, 0.4, 0.9}, {0.05, -1.5, -0.3}, {1.0, 0.0, 0.25}, {-0.6, 0.8, 2.0}};

static double max_rel(const double *x, const double *ref, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double den = fabs(ref[i]) > 1e-300 ? fabs(ref[i]) : 1.0;
    double r = fabs(x[i] - ref[i]) / den;
    if (!(r <= m)) m = r;
  }
  return m;
}

/* Reference trajectories (torch.optim semantics). */
typedef enum { R_GD, R_MOM, R_NEST, R_ADAM } RefKind;

static void reference(RefKind kind, const OptConfig *c, double traj[STEPS][P]) {
  double th[P], buf[P] = {0}, m[P] = {0}, v[P] = {0};
  memcpy(th, theta0, sizeof th);
  for (int t = 1; t <= STEPS; t++) {
    for (int i = 0; i < P; i++) {
      double g = grads[t - 1][i] + c->weight_decay * th[i];
      switch (kind) {
        case R_GD:
          th[i] = th[i] - c->lr * g;
          break;
        case R_MOM:
          buf[i] = t == 1 ? g : c->momentum * buf[i] + g;
          th[i] = th[i] - c->lr * buf[i];
          break;
        case R_NEST:
          buf[i] = t == 1 ? g : c->momentum * buf[i] + g;
          th[i] = th[i] - c->lr * (g + c->momentum * buf[i]);
          break;
        case R_ADAM: {
          m[i] = c->beta1 * m[i] + (1 - c->beta1) * g;
          v[i] = c->beta2 * v[i] + (1 - c->beta2) * g * g;
          double mhat = m[i] / (1 - pow(c->beta1, t));
          double vhat = v[i] / (1 - pow(c->beta2, t));
          th[i] = th[i] - c->lr * mhat / (sqrt(vhat) + c->eps);
          break;
        }
      }
    }
    memcpy(traj[t - 1], th, sizeof th);
  }
}

static void test_updates(void) {
  const OptimizerType *types[4] = {optim_gd, optim_momentum, optim_nesterov, optim_adam};
  const char *names[4] = {"gd", "momentum", "nesterov", "adam"};
  for (int k = 0; k < 4; k++)
    for (int wd = 0; wd < 2; wd++) {
      OptConfig c;
      optconfig_default(&c);
      c.lr = 0.05;
      c.momentum = 0.8;
      c.beta1 = 0.85;
      c.beta2 = 0.99;
      c.eps = 1e-3; /* large enough that ε's placement matters */
      c.weight_decay = wd ? 0.1 : 0.0;
      double ref[STEPS][P];
      reference((RefKind)k, &c, ref);
      Optimizer *o = optim_alloc(types[k], &c, P);
      double th[P];
      memcpy(th, theta0, sizeof th);
      double worst = 0;
      for (int t = 0; t < STEPS; t++) {
        optim_step(o, th, grads[t]);
        double r = max_rel(th, ref[t], P);
        if (!(r <= worst)) worst = r;
      }
      tap_ok(worst <= 1e-14 && o->t == STEPS,
             "%s (weight_decay %.1f): %d steps match the torch reference (max rel %.1e), t=%ld",
             names[k], c.weight_decay, STEPS, worst, o->t);
      optim_free(o);
    }
}

/* A few numbers by hand, to guard against a shared misreading of the rules. */
static void test_hand_numbers(void) {
  OptConfig c;
  optconfig_default(&c);
  c.lr = 0.1;
  c.momentum = 0.5;
  c.weight_decay = 0.0;
  double th[1] = {1.0}, g[1] = {0.5};

  Optimizer *o = optim_alloc(optim_gd, &c, 1);
  optim_step(o, th, g);
  tap_rel(th[0], 0.95, 1e-15, "gd: 1 - 0.1*0.5 = 0.95");
  optim_free(o);

  /* momentum: buf = 0.5, θ = 1 - 0.05 = 0.95; then g=0.5: buf = 0.25+0.5 = 0.75, θ = 0.875 */
  th[0] = 1.0;
  o = optim_alloc(optim_momentum, &c, 1);
  optim_step(o, th, g);
  optim_step(o, th, g);
  tap_rel(th[0], 0.875, 1e-15, "momentum: two steps by hand = 0.875");
  optim_free(o);

  /* nesterov: step 1 buf = 0.5, θ -= 0.1(0.5 + 0.25) → 0.925; step 2 buf = 0.75,
   * θ -= 0.1(0.5 + 0.375) → 0.8375 */
  th[0] = 1.0;
  o = optim_alloc(optim_nesterov, &c, 1);
  optim_step(o, th, g);
  tap_rel(th[0], 0.925, 1e-15, "nesterov: first step by hand = 0.925");
  optim_step(o, th, g);
  tap_rel(th[0], 0.8375, 1e-15, "nesterov: second step by hand = 0.8375");
  optim_free(o);

  /* weight decay: g_eff = 0.5 + 0.2*1 = 0.7 → θ = 0.93 */
  th[0] = 1.0;
  c.weight_decay = 0.2;
  o = optim_alloc(optim_gd, &c, 1);
  optim_step(o, th, g);
  tap_rel(th[0], 0.93, 1e-15, "gd with weight decay 0.2: 1 - 0.1*(0.5+0.2) = 0.93");
  optim_free(o);

  /* Adam's first step is lr * g/(|g| + ε/(1)) ≈ lr * sign(g): m̂ = g, v̂ = g² */
  c.weight_decay = 0.0;
  c.eps = 1e-8;
  th[0] = 1.0;
  o = optim_alloc(optim_adam, &c, 1);
  optim_step(o, th, g);
  tap_rel(th[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15, "adam: first step = lr*g/(|g|+eps)");
  /* a constant gradient keeps m̂ = g, v̂ = g² exactly: every step moves lr */
  optim_step(o, th, g);
  optim_step(o, th, g);
  tap_rel(th[0], 1.0 - 3 * 0.1 * 0.5 / (0.5 + 1e-8), 1e-14,
          "adam: three steps of a constant gradient move 3*lr (bias correction)");
  optim_free(o);
}

static void test_adam_precond(void) {
  OptConfig c;
  optconfig_default(&c);
  c.lr = 0.02;
  c.beta1 = 0.9;
  c.beta2 = 0.95;
  c.eps = 1e-4;
  c.weight_decay = 0.0;
  Err err = {0};
  Optimizer *o = optim_alloc(optim_adam, &c, P);
  double Pd[P];
  tap_ok(optim_adam_precond(o, Pd, &err) == CS_EINVAL, "adam precond before any step: CS_EINVAL (%s)",
         err.msg);
  double th[P], v[P] = {0}, m[P] = {0};
  memcpy(th, theta0, sizeof th);
  for (int t = 1; t <= STEPS; t++) {
    double before[P];
    memcpy(before, th, sizeof th);
    optim_step(o, th, grads[t - 1]);
    for (int i = 0; i < P; i++) {
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * grads[t - 1][i];
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * grads[t - 1][i] * grads[t - 1][i];
    }
    int rc = optim_adam_precond(o, Pd, &err);
    double want[P], step[P], pm[P];
    for (int i = 0; i < P; i++) {
      want[i] = (1 - pow(c.beta1, t)) * (sqrt(v[i] / (1 - pow(c.beta2, t))) + c.eps);
      step[i] = before[i] - th[i];
      pm[i] = c.lr * m[i] / Pd[i];
    }
    tap_ok(rc == CS_OK && max_rel(Pd, want, P) <= 1e-14,
           "adam precond at t=%d = (1-b1^t)(sqrt(v/(1-b2^t))+eps) (max rel %.1e)", t,
           max_rel(Pd, want, P));
    tap_ok(max_rel(step, pm, P) <= 1e-12,
           "adam step t=%d: theta_t - theta_t+1 = lr P^-1 m (max rel %.1e)", t, max_rel(step, pm, P));
    tap_ok(max_rel(o->state, m, P) <= 1e-14 && max_rel(o->state + P, v, P) <= 1e-14,
           "adam state t=%d: m then v in the state array", t);
  }
  optim_free(o);
  o = optim_alloc(optim_momentum, &c, P);
  optim_step(o, th, grads[0]);
  tap_ok(optim_adam_precond(o, Pd, &err) == CS_EINVAL, "precond of a non-Adam optimizer: CS_EINVAL");
  optim_free(o);
}

static void test_thresholds(void) {
  OptConfig c;
  optconfig_default(&c);
  c.lr = 0.05;
  c.momentum = 0.7;
  c.beta1 = 0.9;
  double eta = c.lr, b = c.momentum;
  tap_rel(optim_threshold(optim_gd, &c), 2.0 / eta, 1e-15, "gd threshold 2/eta");
  tap_rel(optim_threshold(optim_momentum, &c), (2 + 2 * b) / eta, 1e-15,
          "heavy-ball threshold (2+2b)/eta");
  tap_rel(optim_threshold(optim_nesterov, &c), (2 + 2 * b) / ((1 + 2 * b) * eta), 1e-15,
          "nesterov threshold (2+2b)/((1+2b)eta)");
  tap_rel(optim_threshold(optim_adam, &c), 38.0 / eta, 1e-14, "adam threshold 38/eta at beta1=0.9");
  const OptimizerType *t;
  Err err = {0};
  tap_ok(optim_parse("sgd", &t, &err) == CS_OK && t == optim_gd && optim_parse("adam", &t, &err) == CS_OK &&
             t == optim_adam && optim_parse("nesterov", &t, &err) == CS_OK && t == optim_nesterov &&
             optim_parse("momentum", &t, &err) == CS_OK && t == optim_momentum &&
             optim_parse("adamw", &t, &err) == CS_EINVAL,
         "optim_parse names");
}

/* Runs `steps` updates of the library optimizer on f = λθ²/2; returns max |θ|. */
static double run_quadratic(const OptimizerType *type, const OptConfig *c, double lambda, int steps,
                            double *final) {
  Optimizer *o = optim_alloc(type, c, 1);
  double th[1] = {1.0}, g[1], mx = 1.0;
  for (int s = 0; s < steps; s++) {
    g[0] = lambda * th[0];
    optim_step(o, th, g);
    if (!(fabs(th[0]) <= mx)) mx = fabs(th[0]);
  }
  optim_free(o);
  *final = th[0];
  return mx;
}

/* Adam with a frozen preconditioner p: m = b1 m + (1-b1) g, θ -= lr m/p (the
 * linearisation behind the Adam threshold); λ/p is the preconditioned sharpness. */
static double run_frozen_adam(double lr, double b1, double lam_pre, int steps, double *final) {
  double th = 1.0, m = 0.0, mx = 1.0;
  for (int s = 0; s < steps; s++) {
    m = b1 * m + (1 - b1) * lam_pre * th;
    th -= lr * m;
    if (!(fabs(th) <= mx)) mx = fabs(th);
  }
  *final = th;
  return mx;
}

static void test_thresholds_numeric(void) {
  const int steps = 3000;
  const OptimizerType *types[3] = {optim_gd, optim_momentum, optim_nesterov};
  const char *names[3] = {"gd", "heavy-ball", "nesterov"};
  double mus[2] = {0.5, 0.9};
  for (int k = 0; k < 3; k++)
    for (int mi = 0; mi < (k ? 2 : 1); mi++) {
      OptConfig c;
      optconfig_default(&c);
      c.lr = 0.1;
      c.momentum = mus[mi];
      double thr = optim_threshold(types[k], &c), fin;
      double mx_lo = run_quadratic(types[k], &c, 0.98 * thr, steps, &fin);
      double fin_lo = fin;
      run_quadratic(types[k], &c, 1.02 * thr, steps, &fin);
      char who[64];
      if (k) snprintf(who, sizeof who, "%s (mu %.1f)", names[k], c.momentum);
      else snprintf(who, sizeof who, "%s", names[k]);
      tap_ok(mx_lo < 50.0 && fabs(fin_lo) < 1.0,
             "%s: lambda = 0.98 x threshold %.4g stays bounded (max |theta| %.3g, final %.2e)", who,
             thr, mx_lo, fin_lo);
      tap_ok(!(fabs(fin) < 1e6), "%s: lambda = 1.02 x threshold blows up (|theta| %.3g after %d steps)",
             who, fabs(fin), steps);
    }
  OptConfig c;
  optconfig_default(&c);
  c.lr = 0.01;
  c.beta1 = 0.9;
  double thr = optim_threshold(optim_adam, &c), fin_lo, fin_hi;
  double mx_lo = run_frozen_adam(c.lr, c.beta1, 0.98 * thr, steps, &fin_lo);
  run_frozen_adam(c.lr, c.beta1, 1.02 * thr, steps, &fin_hi);
  tap_ok(mx_lo < 50.0 && fabs(fin_lo) < 1.0,
         "adam (frozen preconditioner): 0.98 x threshold bounded (max %.3g)", mx_lo);
  tap_ok(!(fabs(fin_hi) < 1e6), "adam (frozen preconditioner): 1.02 x threshold blows up (%.3g)",
         fabs(fin_hi));
}

/* Hyper-parameters that once slipped through (--beta2 1 divides by 1 - β2^t = 0, --eps -1
 * can make the denominator vanish): each refused, naming the key and value. */
static void test_config_check(void) {
  struct { const char *key; double v; } bad[] = {
      {"lr", 0},      {"lr", -0.1},      {"lr", INFINITY},     {"lr", NAN},
      {"momentum", 1}, {"momentum", -0.5}, {"beta1", -3},       {"beta1", 1},
      {"beta2", 1},   {"beta2", 1.5},    {"eps", 0},           {"eps", -1},
      {"eps", INFINITY}, {"weight_decay", -5}, {"weight_decay", INFINITY}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    OptConfig c;
    optconfig_default(&c);
    double *f = !strcmp(bad[i].key, "lr") ? &c.lr : !strcmp(bad[i].key, "momentum") ? &c.momentum
                : !strcmp(bad[i].key, "beta1") ? &c.beta1 : !strcmp(bad[i].key, "beta2") ? &c.beta2
                : !strcmp(bad[i].key, "eps") ? &c.eps : &c.weight_decay;
    *f = bad[i].v;
    Err e = {0};
    char want[48];
    snprintf(want, sizeof want, "%s %g", bad[i].key, bad[i].v);
    tap_ok(optconfig_check(&c, &e) == CS_EINVAL && strstr(e.msg, want), "%s %g refused: %s",
           bad[i].key, bad[i].v, e.msg);
  }
  OptConfig c;
  optconfig_default(&c);
  Err e = {0};
  tap_ok(optconfig_check(&c, &e) == CS_OK, "the defaults pass");
  c.beta1 = 0, c.beta2 = 0, c.momentum = 0, c.weight_decay = 0;
  tap_ok(optconfig_check(&c, &e) == CS_OK, "β = 0 and no weight decay pass (closed lower ends)");
}

int main(void) {
  test_config_check();
  test_updates();
  test_hand_numbers();
  test_adam_precond();
  test_thresholds();
  test_thresholds_numeric();
  return tap_done();
}
