/*
 * test_net.c: the network's forward pass and gradient.
 *
 * References: central finite differences of the objective (a 4-point,
 * O(h^4) stencil), an independent scalar forward pass written out here from
 * the model of net.h / docs/MATH.md, and sample statistics of the initialisations.
 * Grid: every activation x loss x embedding x depth 1..4, plus the NTK
 * parameterisation and the bias=none / bias=zero variants.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "core/net.h"
#include "core/rng.h"
#include "tests/tap.h"

#define NROWS 7
#define KINK_MARGIN 1e-3

static double worst_grad_rel = 0, min_margin = INFINITY;

#include "core/threads.h"
#include "tests/cases.h"

/* ------------------------------------------------------------------ helpers */

static double norm2(const double *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i] * x[i];
  return sqrt(s);
}

static double rel_diff(const double *x, const double *ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    d += (x[i] - ref[i]) * (x[i] - ref[i]);
    r += ref[i] * ref[i];
  }
  if (r == 0) return sqrt(d);
  return sqrt(d / r);
}

/* "mlp:3-5-...-k" with depth dense layers. */
static void model_text(char *buf, size_t cap, int depth, long d_in, long hidden, long d_out,
                       const char *extra) {
  int o = snprintf(buf, cap, "mlp:%ld", d_in);
  for (int l = 0; l < depth - 1; l++) o += snprintf(buf + o, cap - (size_t)o, "-%ld", hidden);
  o += snprintf(buf + o, cap - (size_t)o, "-%ld", d_out);
  if (extra) snprintf(buf + o, cap - (size_t)o, ",%s", extra);
}

/* Builds a net through the spec parsers; returns 0 on success. */
static int build_net(Net *net, Act act, int embed, int depth, long d_out, const char *model_extra,
                     const char *init, Rng *rng) {
  NetSpec s;
  Err err = {0};
  char mt[256];
  netspec_default(&s);
  model_text(mt, sizeof mt, depth, 3, 5, d_out, model_extra);
  if (netspec_parse_model(&s, mt, &err) || netspec_parse_embed(&s, embed_text[embed], &err)) {
    tap_diag("spec error: %s", err.msg);
    return 1;
  }
  if (!init) init = act.kind == ACT_SINE && act.w0 == 30.0 ? "siren" : "torch";
  if (netspec_parse_init(&s, init, &err)) {
    tap_diag("init error: %s", err.msg);
    return 1;
  }
  s.act = act;
  if (net_init(net, &s, rng, &err)) {
    tap_diag("net_init: %s", err.msg);
    return 1;
  }
  return 0;
}

/* Batch data: X uniform in [-1, 1]; Y one-hot (ce) or N(0, 1) (mse). */
static void make_data(Rng *rng, size_t n, size_t d, size_t k, LossKind loss, double *X, double *Y,
                      int *labels) {
  for (size_t i = 0; i < n * d; i++) X[i] = rng_uniform_in(rng, -1, 1);
  for (size_t i = 0; i < n; i++) {
    labels[i] = (int)rng_below(rng, k);
    for (size_t j = 0; j < k; j++)
      Y[i * k + j] = loss == LOSS_CE ? (j == (size_t)labels[i]) : rng_normal(rng);
  }
}

/* Kink positions: relu 0; hat 0, 1, 2. Returns min distance of z to one. */
static double kink_dist(ActKind k, double z) {
  if (k == ACT_RELU) return fabs(z);
  if (k == ACT_HAT) {
    double d = fabs(z);
    if (fabs(z - 1) < d) d = fabs(z - 1);
    if (fabs(z - 2) < d) d = fabs(z - 2);
    return d;
  }
  return INFINITY;
}

/*
 * Independent scalar forward (net.h's model): U = α A Wᵀ + β b, Z = s ⊙ U,
 * A = σ(Z) or [cos U | sin U]. Writes F [n][d_out]; returns the smallest
 * distance of a relu/hat pre-activation to a kink.
 */
static double ref_forward(const Net *net, const double *theta, const double *X, size_t n,
                          double *F) {
  size_t maxw = net->d_in;
  for (int l = 0; l < net->nlayers; l++)
    if (net->layer[l].out_act > maxw) maxw = net->layer[l].out_act;
  double *a = malloc(n * maxw * sizeof *a), *t = malloc(n * maxw * sizeof *t);
  memcpy(a, X, n * net->d_in * sizeof *a);
  double kd = INFINITY;
  size_t win = net->d_in;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    const double *W = net_W(net, l, theta), *b = net_b(net, l, theta);
    for (size_t i = 0; i < n; i++)
      for (size_t o = 0; o < L->out; o++) {
        double u = 0;
        for (size_t j = 0; j < L->in; j++) u += a[i * win + j] * W[o * L->in + j];
        u *= L->alpha;
        if (b) u += L->beta * b[o];
        if (L->act.kind == ACT_COSSIN) {
          t[i * 2 * L->out + o] = cos(u);
          t[i * 2 * L->out + L->out + o] = sin(u);
          continue;
        }
        double z = L->s ? L->s[o] * u : u;
        double dd = kink_dist(L->act.kind, z);
        if (dd < kd) kd = dd;
        t[i * L->out + o] = act_f(L->act, z);
      }
    win = L->out_act;
    memcpy(a, t, n * win * sizeof *a);
  }
  memcpy(F, a, n * net->d_out * sizeof *F);
  free(a);
  free(t);
  return kd;
}

/* Reference mean loss and accuracy from F. */
static double ref_loss(LossKind loss, size_t n, size_t k, const double *F, const double *Y,
                       const int *labels, double *acc) {
  double tot = 0;
  size_t correct = 0;
  for (size_t i = 0; i < n; i++) {
    const double *f = F + i * k, *y = Y + i * k;
    size_t am = 0;
    for (size_t j = 1; j < k; j++)
      if (f[j] > f[am]) am = j;
    correct += (int)am == labels[i];
    if (loss == LOSS_MSE) {
      for (size_t j = 0; j < k; j++) tot += 0.5 * (f[j] - y[j]) * (f[j] - y[j]);
    } else {
      double z = 0;
      for (size_t j = 0; j < k; j++) z += exp(f[j]);
      for (size_t j = 0; j < k; j++) tot -= y[j] * log(exp(f[j]) / z);
    }
  }
  *acc = (double)correct / (double)n;
  return tot / (double)n;
}

static double objective(const Net *net, const double *theta, LossKind loss, const Batch *b,
                        NetCache *c) {
  double l;
  objective_eval(net, theta, loss, b, c, NULL, &l, NULL);
  return l;
}

/* Gradient by the O(h^4) central stencil, coordinate by coordinate. */
static void fd_gradient(const Net *net, double *theta, LossKind loss, const Batch *b, NetCache *c,
                        double h, double *g) {
  for (size_t p = 0; p < net->n_params; p++) {
    double t0 = theta[p];
    theta[p] = t0 + h;
    double f1 = objective(net, theta, loss, b, c);
    theta[p] = t0 - h;
    double fm1 = objective(net, theta, loss, b, c);
    theta[p] = t0 + 2 * h;
    double f2 = objective(net, theta, loss, b, c);
    theta[p] = t0 - 2 * h;
    double fm2 = objective(net, theta, loss, b, c);
    theta[p] = t0;
    g[p] = (8.0 * (f1 - fm1) - (f2 - fm2)) / (12.0 * h);
  }
}

/*
 * One gradient check: draws data and θ (rejecting kink-adjacent points for
 * relu/hat), checks the loss against the scalar reference and the gradient
 * against finite differences. Returns the number of failed assertions.
 */
static int check_gradient_n(const Net *net, LossKind loss, Rng *rng, const char *label,
                            int quiet_ok, size_t n, int ndir) {
  size_t P = net->n_params, d = net->d_in, k = net->d_out;
  double *X = malloc(n * d * sizeof *X), *Y = malloc(n * k * sizeof *Y);
  double *F = malloc(n * k * sizeof *F);
  int *labels = malloc(n * sizeof *labels);
  double *theta = malloc(P * sizeof *theta), *g = malloc(P * sizeof *g);
  double *gfd = malloc(P * sizeof *gfd);
  int fails = 0, found = 0;
  double kd = INFINITY;
  for (int attempt = 0; attempt < 500 && !found; attempt++) {
    make_data(rng, n, d, k, loss, X, Y, labels);
    net_init_params(net, theta, rng);
    /* hat: shift hidden biases so the 1..2 branch is visited too */
    for (int l = 0; l < net->nlayers - 1; l++) {
      const Layer *L = &net->layer[l];
      if (L->act.kind == ACT_HAT && L->has_bias && L->trainable)
        for (size_t o = 0; o < L->out; o++) theta[L->b_off + o] += rng_uniform_in(rng, 0.3, 1.0);
    }
    kd = ref_forward(net, theta, X, n, F);
    found = kd >= KINK_MARGIN;
  }
  if (!quiet_ok || !found)
    if (!tap_ok(found, "%s: kink-free point found (margin %.1e)", label, kd)) {
      fails++;
      goto done;
    }
  Batch b = {X, Y, labels, n, NULL, NULL};
  NetCache *c = net_cache_alloc(net, n, 0);
  double l_lib, acc_lib, acc_ref;
  objective_eval(net, theta, loss, &b, c, g, &l_lib, &acc_lib);
  double l_ref = ref_loss(loss, n, k, F, Y, labels, &acc_ref);
  double lrel = fabs(l_lib - l_ref) / fabs(l_ref);
  if (!quiet_ok || lrel > 1e-12 || acc_lib != acc_ref)
    fails += !tap_ok(lrel <= 1e-12 && acc_lib == acc_ref,
                     "%s: loss %.15g vs scalar reference %.15g (rel %.1e), acc %.3f vs %.3f",
                     label, l_lib, l_ref, lrel, acc_lib, acc_ref);
  if (ndir > 0) {
    /* directional: g·v against the O(h^4) FD of L along unit v (cheap for large n) */
    double *th = malloc(P * sizeof *th), *v = malloc(P * sizeof *v), worst = 0, h = 1e-5;
    for (int q = 0; q < ndir; q++) {
      rng_normal_fill(rng, v, P);
      double vn = norm2(v, P), gv = 0, f[4];
      const double st[4] = {h, -h, 2 * h, -2 * h};
      for (size_t i = 0; i < P; i++) gv += g[i] * (v[i] /= vn);
      for (int s = 0; s < 4; s++) {
        for (size_t i = 0; i < P; i++) th[i] = theta[i] + st[s] * v[i];
        f[s] = objective(net, th, loss, &b, c);
      }
      double fd = (8.0 * (f[0] - f[1]) - (f[2] - f[3])) / (12.0 * h);
      double r = fabs(gv - fd) / norm2(g, P);
      if (!(r <= worst)) worst = r;
    }
    fails += !tap_ok(worst <= 1e-6 && norm2(g, P) > 0,
                     "%s: gradient along %d random directions vs FD, P=%zu, max |g.v - fd|/|g| %.2e",
                     label, ndir, P, worst);
    free(th);
    free(v);
    net_cache_free(c);
    goto done;
  }
  fd_gradient(net, theta, loss, &b, c, 1e-5, gfd);
  double rel = rel_diff(g, gfd, P);
  if (!(rel <= worst_grad_rel)) worst_grad_rel = rel;
  if (kd < min_margin) min_margin = kd;
  int ok = rel <= 1e-6 && isfinite(rel) && norm2(gfd, P) > 0;
  if (!quiet_ok || !ok)
    fails += !tap_ok(ok, "%s: gradient vs FD, P=%zu, |g|=%.3e rel %.2e (tol 1e-6)", label, P,
                     norm2(gfd, P), rel);
  net_cache_free(c);
done:
  free(labels);
  free(X);
  free(Y);
  free(F);
  free(theta);
  free(g);
  free(gfd);
  return fails;
}

static int check_gradient(const Net *net, LossKind loss, Rng *rng, const char *label,
                          int quiet_ok) {
  return check_gradient_n(net, loss, rng, label, quiet_ok, NROWS, 0);
}

/* ------------------------------------------------------------------ tests */

/* Batches large enough for the OpenMP branches of the passes (n * width > 8192). */
static void test_large_batch(void) {
  Rng rng;
  rng_seed(&rng, 2718);
  struct {
    int act, embed, depth;
  } cs[] = {{2, E_NONE, 3}, {4, E_FOURIER_LEARNED, 2}, {5, E_MSCALE, 3}, {3, E_BASIC, 2}};
  for (size_t t = 0; t < sizeof cs / sizeof *cs; t++)
    for (int loss = 0; loss < 2; loss++) {
      Net net;
      char label[160];
      snprintf(label, sizeof label, "large batch n=3000: act=%s loss=%s embed=%s depth=%d",
               acts[cs[t].act].name, loss_name((LossKind)loss), embed_text[cs[t].embed],
               cs[t].depth);
      if (build_net(&net, acts[cs[t].act].act, cs[t].embed, cs[t].depth, loss ? 3 : 2, NULL, NULL,
                    &rng)) {
        tap_ok(0, "%s: build", label);
        continue;
      }
      /* smooth activations only: 15000 relu/hat pre-activations never all keep 1e-3 */
      check_gradient_n(&net, (LossKind)loss, &rng, label, 0, 3000, 6);
      net_deinit(&net);
    }
}

static void test_gradient_grid(void) {
  Rng rng;
  rng_seed(&rng, 1234);
  int total = 0, failed = 0;
  worst_grad_rel = 0;
  min_margin = INFINITY;
  for (int a = 0; a < NACTS; a++)
    for (int loss = 0; loss < 2; loss++)
      for (int e = 0; e < E_COUNT; e++)
        for (int depth = 1; depth <= 4; depth++) {
          Net net;
          char label[160];
          snprintf(label, sizeof label, "act=%s loss=%s embed=%s depth=%d", acts[a].name,
                   loss_name((LossKind)loss), embed_text[e], depth);
          if (build_net(&net, acts[a].act, e, depth, loss == LOSS_CE ? 3 : 2, NULL, NULL, &rng)) {
            tap_ok(0, "%s: build", label);
            failed++;
            continue;
          }
          total++;
          /* one line per case would be 360 lines: print failures only, summarise below */
          failed += check_gradient(&net, (LossKind)loss, &rng, label, 1) > 0;
          net_deinit(&net);
        }
  tap_ok(failed == 0 && total == NACTS * 2 * E_COUNT * 4,
         "gradient grid (act x loss x embedding x depth 1-4): %d of %d cases pass loss and "
         "gradient checks (worst gradient rel %.2e, smallest kink margin %.1e)",
         total - failed, total, worst_grad_rel, min_margin);
}

static void test_variants(void) {
  Rng rng;
  rng_seed(&rng, 99);
  static const char *const inits[] = {"ntk:beta=0.1", "ntk:beta=0.5", "torch", "torch", "he",
                                      "xavier"};
  static const char *const extras[] = {NULL, NULL, "bias=none", "bias=zero", NULL, NULL};
  const ActCase *va[] = {&acts[1], &acts[2], &acts[4], &acts[7]};
  for (int v = 0; v < 6; v++)
    for (int ai = 0; ai < 4; ai++)
      for (int loss = 0; loss < 2; loss++)
        for (int depth = 1; depth <= 4; depth += 3) {
          Net net;
          char label[160];
          snprintf(label, sizeof label, "init=%s model=%s act=%s loss=%s depth=%d", inits[v],
                   extras[v] ? extras[v] : "-", va[ai]->name, loss_name((LossKind)loss), depth);
          if (build_net(&net, va[ai]->act, E_NONE, depth, loss == LOSS_CE ? 3 : 2, extras[v],
                        inits[v], &rng)) {
            tap_ok(0, "%s: build", label);
            continue;
          }
          check_gradient(&net, (LossKind)loss, &rng, label, 0);
          net_deinit(&net);
        }

  /* structure: NTK scaling, bias modes, parameter counts */
  Net net;
  build_net(&net, acts[2].act, E_NONE, 3, 2, NULL, "ntk:beta=0.25", &rng);
  int ok = net.nlayers == 3;
  for (int l = 0; l < net.nlayers; l++)
    ok &= fabs(net.layer[l].alpha - 1.0 / sqrt((double)net.layer[l].in)) < 1e-15 &&
          net.layer[l].beta == 0.25;
  tap_ok(ok, "ntk parameterisation: alpha = 1/sqrt(fan_in), beta = 0.25 on every layer");
  tap_ok(net.n_params == (3 * 5 + 5) + (5 * 5 + 5) + (5 * 2 + 2),
         "n_params with biases = %zu (want 62)", net.n_params);
  net_deinit(&net);
  build_net(&net, acts[2].act, E_NONE, 3, 2, "bias=none", NULL, &rng);
  ok = 1;
  for (int l = 0; l < net.nlayers; l++) ok &= !net.layer[l].has_bias && !net_b(&net, l, NULL);
  tap_ok(ok && net.n_params == 3 * 5 + 5 * 5 + 5 * 2, "bias=none: no biases, n_params = %zu (want 50)",
         net.n_params);
  net_deinit(&net);
  build_net(&net, acts[2].act, E_NONE, 3, 2, "bias=zero", NULL, &rng);
  double *th = malloc(net.n_params * sizeof *th);
  net_init_params(&net, th, &rng);
  ok = net.n_params == 62;
  double wnorm = 0;
  for (int l = 0; l < net.nlayers; l++) {
    const double *b = net_b(&net, l, th), *W = net_W(&net, l, th);
    for (size_t o = 0; o < net.layer[l].out; o++) ok &= b && b[o] == 0.0;
    for (size_t i = 0; i < net.layer[l].in * net.layer[l].out; i++) wnorm += fabs(W[i]);
  }
  tap_ok(ok && wnorm > 0, "bias=zero: biases present and initialised to 0, weights nonzero");
  free(th);
  net_deinit(&net);
}

/* Sample mean/variance of n values. */
static void stats(const double *x, size_t n, double *mean, double *var, double *maxabs) {
  double m = 0, v = 0, mx = 0;
  for (size_t i = 0; i < n; i++) m += x[i];
  m /= (double)n;
  for (size_t i = 0; i < n; i++) {
    v += (x[i] - m) * (x[i] - m);
    if (fabs(x[i]) > mx) mx = fabs(x[i]);
  }
  *mean = m;
  *var = v / (double)(n - 1);
  *maxabs = mx;
}

static void test_init_stats(void) {
  Rng rng;
  rng_seed(&rng, 7);
  Err err = {0};
  NetSpec s;
  Net net;
  double mean, var, mx;

  /* torch default on a 200x300 layer (fan_in 300): U(-1/sqrt(300), 1/sqrt(300)) */
  netspec_default(&s);
  netspec_parse_model(&s, "mlp:300-200-10", &err);
  netspec_parse_init(&s, "torch", &err);
  tap_ok(net_init(&net, &s, &rng, &err) == CS_OK, "torch init net builds");
  double *th = malloc(net.n_params * sizeof *th);
  net_init_params(&net, th, &rng);
  const Layer *L = &net.layer[0];
  double bound = 1.0 / sqrt(300.0);
  stats(th + L->w_off, L->in * L->out, &mean, &var, &mx);
  tap_ok(L->in == 300 && L->out == 200, "layer 0 is 200x300");
  tap_ok(mx <= bound, "torch W within 1/sqrt(fan_in) = %.6f (max |w| %.6f)", bound, mx);
  tap_ok(mx > 0.95 * bound, "torch W fills its range (max |w| %.6f)", mx);
  tap_rel(var, bound * bound / 3.0, 0.10, "torch W sample variance vs bound^2/3");
  tap_ok(fabs(mean) < 5.0 * sqrt(bound * bound / 3.0 / (double)(L->in * L->out)),
         "torch W mean %.2e within 5 standard errors of 0", mean);
  stats(th + L->b_off, L->out, &mean, &var, &mx);
  tap_ok(mx <= bound && mx > 0, "torch b within 1/sqrt(fan_in) (max |b| %.6f)", mx);
  const Layer *L1 = &net.layer[1];
  stats(th + L1->w_off, L1->in * L1->out, &mean, &var, &mx);
  tap_ok(mx <= 1.0 / sqrt(200.0), "torch layer 1 W within 1/sqrt(200) (max %.6f)", mx);
  free(th);
  net_deinit(&net);

  /* SIREN: first layer U(-1/fan_in, 1/fan_in); later U(-sqrt(6/fan_in)/w0, +) */
  netspec_default(&s);
  netspec_parse_model(&s, "mlp:300-200-200-10", &err);
  netspec_parse_init(&s, "siren", &err);
  s.act = (Act){ACT_SINE, 30.0};
  tap_ok(net_init(&net, &s, &rng, &err) == CS_OK, "siren net builds");
  th = malloc(net.n_params * sizeof *th);
  net_init_params(&net, th, &rng);
  L = &net.layer[0];
  bound = 1.0 / 300.0;
  stats(th + L->w_off, L->in * L->out, &mean, &var, &mx);
  tap_ok(mx <= bound && mx > 0.95 * bound, "siren first W within 1/fan_in = %.6f (max %.6f)",
         bound, mx);
  tap_rel(var, bound * bound / 3.0, 0.10, "siren first W variance vs bound^2/3");
  L = &net.layer[1];
  bound = sqrt(6.0 / 200.0) / 30.0;
  stats(th + L->w_off, L->in * L->out, &mean, &var, &mx);
  tap_ok(mx <= bound && mx > 0.95 * bound, "siren hidden W within sqrt(6/fan_in)/w0 = %.6f (max %.6f)",
         bound, mx);
  tap_rel(var, bound * bound / 3.0, 0.10, "siren hidden W variance vs bound^2/3");
  free(th);
  net_deinit(&net);
}

static void test_chunked(void) {
  Rng rng;
  rng_seed(&rng, 4242);
  for (int loss = 0; loss < 2; loss++)
    for (int e = 0; e < E_COUNT; e++) {
      Net net;
      size_t k = loss == LOSS_CE ? 3 : 2;
      build_net(&net, acts[2].act, e, 3, (long)k, NULL, NULL, &rng);
      size_t P = net.n_params, n = NROWS, d = net.d_in;
      double X[NROWS * 3], Y[NROWS * 3];
      int labels[NROWS];
      make_data(&rng, n, d, k, (LossKind)loss, X, Y, labels);
      double *th = malloc(P * sizeof *th), *g1 = malloc(P * sizeof *g1), *g3 = malloc(P * sizeof *g3);
      net_init_params(&net, th, &rng);
      Batch b = {X, Y, labels, n, NULL, NULL};
      NetCache *c7 = net_cache_alloc(&net, 7, 0), *c3 = net_cache_alloc(&net, 3, 0),
               *c1 = net_cache_alloc(&net, 1, 1);
      double l7, l3, l1, a7, a3, a1;
      objective_eval(&net, th, (LossKind)loss, &b, c7, g1, &l7, &a7);
      objective_eval(&net, th, (LossKind)loss, &b, c3, g3, &l3, &a3);
      double rel3 = rel_diff(g3, g1, P);
      objective_eval(&net, th, (LossKind)loss, &b, c1, g3, &l1, &a1);
      double rel1 = rel_diff(g3, g1, P);
      tap_ok(fabs(l3 - l7) <= 1e-12 * fabs(l7) && fabs(l1 - l7) <= 1e-12 * fabs(l7) &&
                 rel3 <= 1e-12 && rel1 <= 1e-12 && a7 == a3 && a7 == a1,
             "chunked objective (cap 3 and 1 vs 7), loss=%s embed=%s: loss rel %.1e/%.1e, grad rel "
             "%.1e/%.1e",
             loss_name((LossKind)loss), embed_text[e], fabs(l3 - l7) / fabs(l7),
             fabs(l1 - l7) / fabs(l7), rel3, rel1);
      net_cache_free(c7);
      net_cache_free(c3);
      net_cache_free(c1);
      free(th);
      free(g1);
      free(g3);
      net_deinit(&net);
    }
}

/* The data-parallel objective (threads over chunks) equals the serial one, for batches
 * that give fewer chunks than threads (serial fallback) and many more. */
static void test_parallel_objective(void) {
  Rng rng;
  rng_seed(&rng, 777);
  threads_set(2);
  for (int loss = 0; loss < 2; loss++) {
    Net net;
    size_t k = 3;
    build_net(&net, acts[2].act, E_NONE, 3, (long)k, NULL, NULL, &rng);
    size_t P = net.n_params, n = 301, d = net.d_in;
    double *X = malloc(n * d * sizeof *X), *Y = malloc(n * k * sizeof *Y);
    int *labels = malloc(n * sizeof *labels);
    make_data(&rng, n, d, k, (LossKind)loss, X, Y, labels);
    double *th = malloc(P * sizeof *th), *g1 = malloc(P * sizeof *g1), *g2 = malloc(P * sizeof *g2);
    net_init_params(&net, th, &rng);
    Batch b = {X, Y, labels, n, NULL, NULL};
    NetCache *c = net_cache_alloc(&net, n, 0);
    double l1, a1;
    objective_eval(&net, th, (LossKind)loss, &b, c, g1, &l1, &a1);
    size_t chunks[] = {0, 7, 64, 1000};
    for (size_t q = 0; q < sizeof chunks / sizeof *chunks; q++) {
      ObjectiveWork *w = objective_work_alloc(&net, n, chunks[q]);
      double l2 = NAN, a2 = NAN;
      objective_eval_parallel(&net, th, (LossKind)loss, &b, w, g2, &l2, &a2);
      double rel = rel_diff(g2, g1, P);
      tap_ok(w && fabs(l2 - l1) <= 1e-12 * fabs(l1) && rel <= 1e-12 && a1 == a2,
             "parallel objective = serial (loss=%s, chunk %zu -> %zu, %d threads): loss rel %.1e, "
             "grad rel %.1e", loss_name((LossKind)loss), chunks[q], w ? w->chunk : 0,
             w ? w->nthreads : 0, fabs(l2 - l1) / fabs(l1), rel);
      /* a smaller batch through the same workspace (the mini-batch case) */
      Batch bs = {X, Y, labels, 5, NULL, NULL};
      objective_eval(&net, th, (LossKind)loss, &bs, c, g1, &l1, &a1);
      objective_eval_parallel(&net, th, (LossKind)loss, &bs, w, g2, &l2, &a2);
      tap_ok(rel_diff(g2, g1, P) <= 1e-12 && fabs(l2 - l1) <= 1e-12 * fabs(l1),
             "parallel objective on a 5-row batch, chunk %zu", chunks[q]);
      b.n = n;
      objective_eval(&net, th, (LossKind)loss, &b, c, g1, &l1, &a1);
      objective_work_free(w);
    }
    net_cache_free(c);
    free(X), free(Y), free(labels), free(th), free(g1), free(g2);
    net_deinit(&net);
  }
}

/*
 * The two cache layouts (net.h): a first-order cache writes G over A and keeps one D
 * scratch, a second-order one keeps G and the curvature weight K per layer; both give
 * the same gradient, and a second net_backward after one net_forward (which finds A or K
 * consumed and redoes the forward) gives it again. Checks too that the activations whose
 * derivatives are functions of their output store neither d1 nor K.
 */
/* net_backward_keep on a second-order cache c, after a forward on X: 1 when it gives the
 * gradient ref (bits), leaves A and K as the forward left them when it keeps the cache
 * fresh (*kept counts those: no cos/sin layer), and a plain backward after it gives ref
 * again. */
static int backward_keep_ok(const Net *net, const double *th, NetCache *c, const double *X,
                            size_t n, const double *GL, const double *ref, int *kept) {
  size_t P = net->n_params;
  double *g0 = calloc(P, sizeof *g0), *g1 = calloc(P, sizeof *g1);
  double *save[NET_MAX_LAYERS] = {0}, *saveA[NET_MAX_LAYERS] = {0};
  size_t mA[NET_MAX_LAYERS], mK[NET_MAX_LAYERS];
  net_forward(net, th, X, n, c);
  for (int l = 0; l < net->nlayers; l++) {
    mA[l] = n * net->layer[l].out * (net->layer[l].act.kind == ACT_COSSIN ? 2 : 1);
    mK[l] = n * net->layer[l].out;
    saveA[l] = malloc(mA[l] * sizeof(double));
    memcpy(saveA[l], c->A[l], mA[l] * sizeof(double));
    if (c->K[l]) save[l] = malloc(mK[l] * sizeof(double)), memcpy(save[l], c->K[l], mK[l] * sizeof(double));
  }
  net_backward_keep(net, th, c, GL, g0);
  int same = 1;
  if (c->fresh) {
    (*kept)++;
    for (int l = 0; l < net->nlayers; l++) {
      same &= !memcmp(saveA[l], c->A[l], mA[l] * sizeof(double));
      if (save[l]) same &= !memcmp(save[l], c->K[l], mK[l] * sizeof(double));
    }
  }
  net_backward(net, th, c, GL, g1);
  same &= rel_diff(g0, ref, P) <= 1e-14 && rel_diff(g1, ref, P) <= 1e-14;
  for (int l = 0; l < net->nlayers; l++) free(save[l]), free(saveA[l]);
  free(g0), free(g1);
  return same;
}

static void test_cache_layouts(void) {
  Rng rng;
  rng_seed(&rng, 9090);
  int cases = 0, bad = 0, bad_store = 0, bad_keep = 0, kept = 0;
  double worst = 0;
  for (int a = 0; a < NACTS; a++)
    for (int e = 0; e < E_COUNT; e++)
      for (int depth = 1; depth <= 4; depth += 3) {
        Net net;
        size_t k = 2, n = NROWS;
        if (build_net(&net, acts[a].act, e, depth, (long)k, NULL, NULL, &rng)) {
          bad++;
          continue;
        }
        size_t P = net.n_params, d = net.d_in;
        double X[NROWS * 3], Y[NROWS * 2], GL[NROWS * 2];
        int labels[NROWS];
        make_data(&rng, n, d, k, LOSS_MSE, X, Y, labels);
        double *th = malloc(P * sizeof *th), *g[4];
        for (int q = 0; q < 4; q++) g[q] = calloc(P, sizeof *g[q]);
        net_init_params(&net, th, &rng);
        NetCache *c[2] = {net_cache_alloc(&net, n, 0), net_cache_alloc(&net, n, 1)};
        for (int o = 0; o < 2; o++) {
          net_forward(&net, th, X, n, c[o]);
          loss_eval(LOSS_MSE, NULL, n, k, c[o]->A[net.nlayers - 1], Y, 1.0 / (double)n, GL, c[o]->aux);
          net_backward(&net, th, c[o], GL, g[2 * o]);
          net_backward(&net, th, c[o], GL, g[2 * o + 1]);
        }
        double r = fmax(rel_diff(g[1], g[0], P), fmax(rel_diff(g[2], g[0], P), rel_diff(g[3], g[0], P)));
        if (!(r <= worst)) worst = r;
        bad += !(r <= 1e-14);
        bad_keep += !backward_keep_ok(&net, th, c[1], X, n, GL, g[0], &kept);
        ActKind ak = acts[a].act.kind;
        if (ak == ACT_TANH || ak == ACT_SIGMOID || ak == ACT_RELU || ak == ACT_IDENTITY)
          for (int l = 0; l < net.nlayers; l++)
            if (net.layer[l].act.kind != ACT_COSSIN)  /* the Fourier layer stores K */
              bad_store += c[1]->d1[l] != NULL || c[1]->K[l] != NULL;
        cases++;
        net_cache_free(c[0]);
        net_cache_free(c[1]);
        for (int q = 0; q < 4; q++) free(g[q]);
        free(th);
        net_deinit(&net);
      }
  tap_ok(bad == 0 && cases == NACTS * E_COUNT * 2,
         "first- and second-order caches, backward twice after one forward: same gradient "
         "(%d cases, worst rel %.1e)", cases, worst);
  tap_ok(bad_store == 0, "identity, relu, tanh, sigmoid layers store no d1 and no K");
  tap_ok(bad_keep == 0 && kept > cases / 2,
         "net_backward_keep: the gradient of net_backward, A and K untouched and the cache "
         "fresh (%d of %d cases; the rest have cos/sin layers), a backward after it the same",
         kept, cases);
}

/* Every activation's f' and f'' (the table in docs/MATH.md) against central differences of
 * f and f', at points kept KINK_MARGIN from relu's and hat's kinks, on every branch of the hat;
 * and the fused block evaluation act_eval against the scalar versions. */
static void test_act_derivatives(void) {
  for (int a = 0; a < NACTS; a++) {
    Act act = acts[a].act;
    double w = act.kind == ACT_SINE ? act.w0 : 1.0, worst1 = 0, worst2 = 0, worst_blk = 0;
    int branches[3] = {0, 0, 0}, npts = 0;
    enum { NZ = 601 };
    double z[NZ], fa[NZ], d1[NZ], d2[NZ];
    for (int i = 0; i < NZ; i++) {
      z[i] = -3.0 + 6.0 * i / (NZ - 1) + 1.3e-3; /* off the grid of kinks 0, 1, 2 */
      double zi = z[i], h = 1e-5 / w;
      if ((act.kind == ACT_RELU || act.kind == ACT_HAT) &&
          (fabs(zi) < KINK_MARGIN || fabs(zi - 1) < KINK_MARGIN || fabs(zi - 2) < KINK_MARGIN))
        continue;
      if (act.kind == ACT_HAT) branches[zi > 0 && zi < 1 ? 0 : zi > 1 && zi < 2 ? 1 : 2]++;
      npts++;
      /* O(h^4) central stencils of f and f' */
      double fd1 = (8 * (act_f(act, zi + h) - act_f(act, zi - h)) -
                    (act_f(act, zi + 2 * h) - act_f(act, zi - 2 * h))) / (12 * h);
      double fd2 = (8 * (act_df(act, zi + h) - act_df(act, zi - h)) -
                    (act_df(act, zi + 2 * h) - act_df(act, zi - 2 * h))) / (12 * h);
      worst1 = fmax(worst1, fabs(act_df(act, zi) - fd1) / w);
      worst2 = fmax(worst2, fabs(act_d2f(act, zi) - fd2) / (w * w));
    }
    act_eval(act, NZ, z, fa, d1, d2);
    for (int i = 0; i < NZ; i++)
      worst_blk = fmax(worst_blk, fmax(fabs(fa[i] - act_f(act, z[i])),
                                       fmax(fabs(d1[i] - act_df(act, z[i])) / w,
                                            fabs(d2[i] - act_d2f(act, z[i])) / (w * w))));
    int hat_ok = act.kind != ACT_HAT || (branches[0] > 50 && branches[1] > 50 && branches[2] > 50);
    tap_ok(worst1 < 1e-8 && worst2 < 1e-8 && worst_blk < 1e-14 && hat_ok,
           "%s: f' and f'' = finite differences at %d points (worst %.1e, %.1e, scaled by w0), "
           "act_eval = scalar (%.1e)%s", acts[a].name, npts, worst1, worst2, worst_blk,
           act.kind == ACT_HAT ? ", all three hat branches" : "");
  }
}

/* act_eval on a pass long enough to be split over the threads: the same bits whether it
 * runs threaded (outside a parallel region), serially from inside one (as net_pass.c calls
 * it, row by row) or element by element (but tanh); every element written. */
static void test_act_eval_split(void) {
  enum { NZ = 40001 }; /* above every threading grain, not a multiple of 2, 3 or 4096 */
  double *z = malloc(NZ * sizeof *z), *buf = malloc(9 * NZ * sizeof *buf);
  int bad = 0, inside = 0;
  for (int i = 0; i < NZ; i++) z[i] = -3.0 + 6.0 * i / (NZ - 1) + 1.3e-3;
  for (int a = 0; a < NACTS; a++) {
    Act act = acts[a].act;
    double *r[3][3];
    for (int k = 0; k < 9; k++) r[k / 3][k % 3] = buf + (size_t)k * NZ;
    for (size_t k = 0; k < 9 * (size_t)NZ; k++) buf[k] = NAN;
    act_eval(act, NZ, z, r[0][0], r[0][1], r[0][2]);
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      {
        inside |= omp_in_parallel();
        act_eval(act, NZ, z, r[1][0], r[1][1], r[1][2]);
      }
    }
    for (int i = 0; i < NZ; i++) act_eval(act, 1, z + i, r[2][0] + i, r[2][1] + i, r[2][2] + i);
    /* tanh one element at a time takes the scalar tanh, not libmvec's vector one */
    for (int v = 1; v < (act.kind == ACT_TANH ? 2 : 3); v++)
      for (int k = 0; k < 3; k++)
        if (memcmp(r[0][k], r[v][k], NZ * sizeof(double)))
          bad++, fprintf(stderr, "# %s: way %d, output %d differs\n", acts[a].name, v, k);
    for (int k = 0; k < 3; k++)
      for (int i = 0; i < NZ; i++) bad += isnan(r[0][k][i]);
  }
  tap_ok(bad == 0 && (inside || omp_get_max_threads() < 2),
         "act_eval on %d elements: threaded, serial inside a parallel region and one element "
         "at a time (not tanh) give the same bits for all %d activations (%d differences)",
         NZ, NACTS, bad);
  free(z), free(buf);
}

static void test_layout_json(void) {
  Rng rng;
  rng_seed(&rng, 5);
  for (int e = 0; e < E_COUNT; e++) {
    Net net;
    build_net(&net, acts[2].act, e, 3, 2, NULL, NULL, &rng);
    char *js = net_layout_json(&net);
    char want[64];
    snprintf(want, sizeof want, "\"n_params\":%zu", net.n_params);
    int depth_curly = 0, depth_sq = 0, balanced = 1, in_str = 0;
    for (const char *p = js; *p; p++) {
      if (*p == '"' && (p == js || p[-1] != '\\')) in_str = !in_str;
      if (in_str) continue;
      depth_curly += (*p == '{') - (*p == '}');
      depth_sq += (*p == '[') - (*p == ']');
      if (depth_curly < 0 || depth_sq < 0) balanced = 0;
    }
    balanced &= depth_curly == 0 && depth_sq == 0 && !in_str;
    size_t len = strlen(js);
    int nidx = 0;
    for (const char *p = js; (p = strstr(p, "\"index\"")); p++) nidx++;
    /* every trainable layer's W offset appears */
    int offs = 1;
    for (int l = 0; l < net.nlayers; l++)
      if (net.layer[l].trainable) {
        char o[64];
        snprintf(o, sizeof o, "\"W\":{\"offset\":%zu,\"shape\":[%zu,%zu]}", net.layer[l].w_off,
                 net.layer[l].out, net.layer[l].in);
        offs &= strstr(js, o) != NULL;
      }
    tap_ok(js && strstr(js, want) && js[0] == '{' && js[len - 1] == '}' && balanced &&
               nidx == net.nlayers && offs,
           "layout JSON (embed=%s) names n_params=%zu, %d layers, W offsets, balanced", embed_text[e],
           net.n_params, net.nlayers);
    free(js);
    net_deinit(&net);
  }
}

int main(void) {
  test_act_derivatives();
  test_act_eval_split();
  test_gradient_grid();
  test_variants();
  test_large_batch();
  test_init_stats();
  test_chunked();
  test_parallel_objective();
  test_cache_layouts();
  test_layout_json();
  return tap_done();
}
