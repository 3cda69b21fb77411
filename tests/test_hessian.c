/*
 * test_hessian.c: the curvature operators (hessian/curv.h, hessian/ops.h) and
 * their use through the eigen-solvers (lanczos/eig.h).
 *
 * References: finite differences of the gradient (central, Richardson-
 * extrapolated when needed) and of the network output; adjoint identities;
 * dense matrices with LAPACK spectra (standard and generalised); a linear
 * model whose Hessian spectrum is chosen by construction of its data.
 */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "core/net.h"
#include "core/rng.h"
#include "hessian/curv.h"
#include "hessian/ops.h"
#include "lanczos/eig.h"
#include "tests/tap.h"

#define NROWS 7
#define KINK_MARGIN 1e-3

#include "tests/cases.h"
enum { A_IDENTITY, A_RELU, A_TANH, A_SOFTPLUS, A_GELU, A_SINE30, A_SINE1, A_HAT, A_SIGMOID };

/* ------------------------------------------------------------------ vectors */

static double dot(const double *x, const double *y, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

static double norm2(const double *x, size_t n) { return sqrt(dot(x, x, n)); }

static double rel_diff(const double *x, const double *ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    d += (x[i] - ref[i]) * (x[i] - ref[i]);
    r += ref[i] * ref[i];
  }
  return r == 0 ? sqrt(d) : sqrt(d / r);
}

static double max_abs(const double *x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (!(fabs(x[i]) <= m)) m = fabs(x[i]);
  return m;
}

static void unit_normal(Rng *rng, double *x, size_t n) {
  rng_normal_fill(rng, x, n);
  double s = norm2(x, n);
  for (size_t i = 0; i < n; i++) x[i] /= s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ------------------------------------------------------------------ cases */

typedef struct Case {
  Net net;
  LossKind loss;
  size_t n, P, k;
  double *X, *Y, *theta;
  int *labels;
  Batch b;
  char label[400];
} Case;

static void case_free(Case *c) {
  net_deinit(&c->net);
  free(c->X);
  free(c->Y);
  free(c->theta);
  free(c->labels);
  memset(c, 0, sizeof *c);
}

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

/* Smallest distance of a relu/hat pre-activation Z = s ⊙ (α A Wᵀ + β b) to a kink. */
static double kink_margin(const Net *net, const double *theta, const double *X, size_t n) {
  NetCache *c = net_cache_alloc(net, n, 0);
  net_forward(net, theta, X, n, c);
  double kd = INFINITY;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (L->act.kind != ACT_RELU && L->act.kind != ACT_HAT) continue;
    const double *A = l ? c->A[l - 1] : X, *W = net_W(net, l, theta), *b = net_b(net, l, theta);
    for (size_t i = 0; i < n; i++)
      for (size_t o = 0; o < L->out; o++) {
        double u = 0;
        for (size_t j = 0; j < L->in; j++) u += A[i * L->in + j] * W[o * L->in + j];
        u = L->alpha * u + (b ? L->beta * b[o] : 0.0);
        double z = L->s ? L->s[o] * u : u, d = kink_dist(L->act.kind, z);
        if (d < kd) kd = d;
      }
  }
  net_cache_free(c);
  return kd;
}

/*
 * A net mlp:d_in-hidden..-d_out (depth dense layers) with an embedding, random
 * data (X uniform in [-1, 1]; Y one-hot for ce, N(0,1) for mse) and θ from the
 * spec's init, redrawn until relu/hat pre-activations keep KINK_MARGIN.
 */
static int case_make(Case *c, Act act, LossKind loss, int embed, int depth, long d_in, long hidden,
                     long d_out, size_t n, const char *model_extra, const char *init, Rng *rng,
                     const char *tag) {
  memset(c, 0, sizeof *c);
  NetSpec s;
  Err err = {0};
  char mt[256];
  netspec_default(&s);
  int o = snprintf(mt, sizeof mt, "mlp:%ld", d_in);
  for (int l = 0; l < depth - 1; l++) o += snprintf(mt + o, sizeof mt - (size_t)o, "-%ld", hidden);
  o += snprintf(mt + o, sizeof mt - (size_t)o, "-%ld", d_out);
  if (model_extra) snprintf(mt + o, sizeof mt - (size_t)o, ",%s", model_extra);
  if (!init) init = act.kind == ACT_SINE && act.w0 == 30.0 ? "siren" : "torch";
  if (netspec_parse_model(&s, mt, &err) || netspec_parse_embed(&s, embed_text[embed], &err) ||
      netspec_parse_init(&s, init, &err)) {
    tap_ok(0, "%s: spec (%s)", tag, err.msg);
    return 1;
  }
  s.act = act;
  if (net_init(&c->net, &s, rng, &err)) {
    tap_ok(0, "%s: net_init (%s)", tag, err.msg);
    return 1;
  }
  snprintf(c->label, sizeof c->label, "%s [%s act=%s loss=%s embed=%s init=%s]", tag, mt,
           act.kind == ACT_SINE ? (act.w0 == 30 ? "sine30" : "sine1") : act_name(act.kind),
           loss_name(loss), embed_text[embed], init);
  c->loss = loss;
  c->n = n;
  c->P = c->net.n_params;
  c->k = (size_t)d_out;
  c->X = malloc(n * (size_t)d_in * sizeof *c->X);
  c->Y = malloc(n * c->k * sizeof *c->Y);
  c->labels = malloc(n * sizeof *c->labels);
  c->theta = malloc(c->P * sizeof *c->theta);
  double kd = INFINITY;
  int found = 0;
  for (int attempt = 0; attempt < 500 && !found; attempt++) {
    for (size_t i = 0; i < n * (size_t)d_in; i++) c->X[i] = rng_uniform_in(rng, -1, 1);
    for (size_t i = 0; i < n; i++) {
      c->labels[i] = (int)rng_below(rng, c->k);
      for (size_t j = 0; j < c->k; j++)
        c->Y[i * c->k + j] = loss == LOSS_CE ? (j == (size_t)c->labels[i]) : rng_normal(rng);
    }
    net_init_params(&c->net, c->theta, rng);
    for (int l = 0; l < c->net.nlayers - 1; l++) {  /* hat: visit the 1..2 branch too */
      const Layer *L = &c->net.layer[l];
      if (L->act.kind == ACT_HAT && L->has_bias && L->trainable)
        for (size_t u = 0; u < L->out; u++) c->theta[L->b_off + u] += rng_uniform_in(rng, 0.3, 1.0);
    }
    kd = kink_margin(&c->net, c->theta, c->X, n);
    found = kd >= KINK_MARGIN;
  }
  if (!found) {
    tap_ok(0, "%s: no kink-free point (margin %.1e)", c->label, kd);
    return 1;
  }
  c->b = (Batch){c->X, c->Y, c->labels, n, NULL, NULL};
  return 0;
}

static Curvature *case_curv(Case *c, size_t chunk) {
  Err err = {0};
  Curvature *cv = curv_alloc(&c->net, c->loss, c->n, chunk, &err);
  if (!cv || curv_build(cv, c->theta, &c->b, &err)) {
    tap_ok(0, "%s: curvature context (%s)", c->label, err.msg);
    curv_free(cv);
    return NULL;
  }
  return cv;
}

/* Richardson-extrapolated central FD of the gradient: (4 D(h/2) − D(h)) / 3. */
static void fd_hvp_richardson(Case *c, const double *v, double h, double *out) {
  double *d1 = malloc(c->P * sizeof *d1);
  Err err = {0};
  curv_fd_hvp(&c->net, c->loss, c->theta, &c->b, v, h, d1, &err);
  curv_fd_hvp(&c->net, c->loss, c->theta, &c->b, v, h / 2, out, &err);
  for (size_t i = 0; i < c->P; i++) out[i] = (4.0 * out[i] - d1[i]) / 3.0;
  free(d1);
}

/* HVP vs FD: plain central FD at eps 1e-5 first, Richardson when that is too noisy. */
static double hvp_fd_error(Case *c, const double *v, const double *hv, int *used_richardson) {
  double *fd = malloc(c->P * sizeof *fd);
  Err err = {0};
  curv_fd_hvp(&c->net, c->loss, c->theta, &c->b, v, 1e-5, fd, &err);
  double rel = rel_diff(hv, fd, c->P);
  *used_richardson = 0;
  if (!(rel <= 1e-6)) {
    fd_hvp_richardson(c, v, 1e-3, fd);
    double r2 = rel_diff(hv, fd, c->P);
    if (r2 < rel) rel = r2;
    *used_richardson = 1;
  }
  free(fd);
  return rel;
}

/* Network output F (n x k) at θ. */
static void forward_out(Case *c, const double *theta, double *F) {
  NetCache *nc = net_cache_alloc(&c->net, c->n, 0);
  net_forward(&c->net, theta, c->X, c->n, nc);
  memcpy(F, nc->A[c->net.nlayers - 1], c->n * c->k * sizeof *F);
  net_cache_free(nc);
}

/* (1/n) H_ℓ(F) r row by row, written out here: MSE identity, CE diag(p) − ppᵀ. */
static void loss_hess_ref(Case *c, const double *F, const double *r, double *out) {
  size_t k = c->k;
  for (size_t i = 0; i < c->n; i++) {
    const double *f = F + i * k, *ri = r + i * k;
    double *o = out + i * k;
    if (c->loss == LOSS_MSE) {
      for (size_t j = 0; j < k; j++) o[j] = ri[j] / (double)c->n;
      continue;
    }
    double mx = f[0], z = 0, p[16], pr = 0;
    for (size_t j = 1; j < k; j++) mx = f[j] > mx ? f[j] : mx;
    for (size_t j = 0; j < k; j++) z += (p[j] = exp(f[j] - mx));
    for (size_t j = 0; j < k; j++) pr += (p[j] /= z) * ri[j];
    for (size_t j = 0; j < k; j++) o[j] = p[j] * (ri[j] - pr) / (double)c->n;
  }
}

/* ------------------------------------------------------------------ tests */

/* Every activation x loss x embedding x depth: HVP vs FD, symmetry, GGN = Jᵀ H_ℓ J. */
static void test_hvp_grid(void) {
  Rng rng;
  rng_seed(&rng, 2024);
  int total = 0, fails = 0, rich = 0;
  double worst_fd = 0, worst_sym = 0, worst_ggn = 0;
  for (int a = 0; a < NACTS; a++)
    for (int loss = 0; loss < 2; loss++)
      for (int e = 0; e < E_COUNT; e++)
        for (int depth = 1; depth <= 4; depth++) {
          Case c;
          if (case_make(&c, acts[a].act, (LossKind)loss, e, depth, 3, 5, loss ? 3 : 2, NROWS, NULL,
                        NULL, &rng, "grid")) {
            fails++;
            continue;
          }
          total++;
          Curvature *cv = case_curv(&c, 0);
          size_t P = c.P, nk = c.n * c.k;
          double *v = malloc(P * sizeof *v), *u = malloc(P * sizeof *u);
          double *hv = malloc(P * sizeof *hv), *hu = malloc(P * sizeof *hu);
          double *gv = malloc(P * sizeof *gv), *gref = malloc(P * sizeof *gref);
          double *jv = malloc(nk * sizeof *jv), *hj = malloc(nk * sizeof *hj);
          double *F = malloc(nk * sizeof *F);
          unit_normal(&rng, v, P);
          unit_normal(&rng, u, P);
          curv_hvp(cv, v, hv);
          curv_hvp(cv, u, hu);
          int rr;
          double rel = hvp_fd_error(&c, v, hv, &rr);
          rich += rr;
          double a1 = dot(u, hv, P), a2 = dot(v, hu, P);
          double den = fmax(fmax(fabs(a1), fabs(a2)), 1e-2 * norm2(hv, P) * norm2(u, P));
          double sym = den > 0 ? fabs(a1 - a2) / den : 0;
          /* GGN against Jᵀ ((1/n) H_ℓ (J v)) assembled from jvp, the loss Hessian, vjp */
          curv_ggn(cv, v, gv);
          curv_jvp(cv, v, jv);
          forward_out(&c, c.theta, F);
          loss_hess_ref(&c, F, jv, hj);
          curv_vjp(cv, hj, gref);
          double grel = rel_diff(gv, gref, P);
          int ok_fd = rel <= 1e-6 && norm2(hv, P) > 0, ok_sym = sym <= 1e-10,
              ok_ggn = grel <= 1e-12 && norm2(gref, P) > 0;
          if (!(rel <= worst_fd)) worst_fd = rel;
          if (!(sym <= worst_sym)) worst_sym = sym;
          if (!(grel <= worst_ggn)) worst_ggn = grel;
          if (!ok_fd)
            tap_ok(0, "%s: HVP vs FD rel %.2e (tol 1e-6, |Hv| %.3e)", c.label, rel, norm2(hv, P));
          if (!ok_sym) tap_ok(0, "%s: u'Hv %.15g vs v'Hu %.15g (rel %.1e)", c.label, a1, a2, sym);
          if (!ok_ggn) tap_ok(0, "%s: GGN vs J'H_l J rel %.2e", c.label, grel);
          fails += !(ok_fd && ok_sym && ok_ggn);
          free(v), free(u), free(hv), free(hu), free(gv), free(gref), free(jv), free(hj), free(F);
          curv_free(cv);
          case_free(&c);
        }
  tap_ok(fails == 0 && total == NACTS * 2 * E_COUNT * 4,
         "HVP grid (act x loss x embedding x depth 1-4): %d/%d cases pass; worst HVP-vs-FD rel %.2e "
         "(%d needed Richardson), worst symmetry %.1e, worst GGN-vs-JtHJ %.1e",
         total - fails, total, worst_fd, rich, worst_sym, worst_ggn);
}

/* NTK parameterisation and the bias variants. */
static void test_hvp_variants(void) {
  Rng rng;
  rng_seed(&rng, 31);
  static const char *const inits[] = {"ntk:beta=0.1", "ntk:beta=0.7", "torch", "torch", "xavier"};
  static const char *const extras[] = {NULL, NULL, "bias=none", "bias=zero", NULL};
  int as[] = {A_TANH, A_RELU, A_SINE1, A_GELU};
  for (int v = 0; v < 5; v++)
    for (int ai = 0; ai < 4; ai++)
      for (int loss = 0; loss < 2; loss++) {
        Case c;
        if (case_make(&c, acts[as[ai]].act, (LossKind)loss, ai == 3 ? E_FOURIER_LEARNED : E_NONE, 3,
                      3, 5, loss ? 3 : 2, NROWS, extras[v], inits[v], &rng, "variant"))
          continue;
        Curvature *cv = case_curv(&c, 0);
        double *v1 = malloc(c.P * sizeof *v1), *hv = malloc(c.P * sizeof *hv);
        unit_normal(&rng, v1, c.P);
        curv_hvp(cv, v1, hv);
        int rr;
        double rel = hvp_fd_error(&c, v1, hv, &rr);
        tap_ok(rel <= 1e-6, "%s: HVP vs FD rel %.2e%s", c.label, rel, rr ? " (Richardson)" : "");
        free(v1), free(hv);
        curv_free(cv);
        case_free(&c);
      }
}

/*
 * Cross-entropy with non-one-hot targets. loss_eval differentiates
 * ℓ = −Σ y log p exactly (∇ℓ = (Σy) p − y), so the HVP must be the Hessian of
 * that objective: H_ℓ = (Σy)(diag p − ppᵀ). Targets that are distributions
 * (label smoothing) and rows with other sums (scaled, all-zero rows) are
 * checked against FD of the library's own gradient.
 */
static void test_ce_targets(void) {
  Rng rng;
  rng_seed(&rng, 1001);
  const char *names[4] = {"smoothed one-hot (rows sum to 1)", "rows sum to 0.8",
                          "rows sum to 2", "one row all zero"};
  for (int kind = 0; kind < 4; kind++) {
    Case c;
    if (case_make(&c, acts[A_TANH].act, LOSS_CE, E_NONE, 2, 3, 5, 3, NROWS, NULL, NULL, &rng,
                  "ce targets"))
      continue;
    for (size_t i = 0; i < c.n; i++)
      for (size_t j = 0; j < c.k; j++) {
        double y = 0.9 * c.Y[i * c.k + j] + 0.1 / (double)c.k;
        if (kind == 1) y *= 0.8;
        if (kind == 2) y *= 2.0;
        if (kind == 3 && i == 2) y = 0.0;
        c.Y[i * c.k + j] = y;
      }
    Curvature *cv = case_curv(&c, 0);
    double *v = malloc(c.P * sizeof *v), *hv = malloc(c.P * sizeof *hv);
    unit_normal(&rng, v, c.P);
    curv_hvp(cv, v, hv);
    int rr;
    double rel = hvp_fd_error(&c, v, hv, &rr);
    tap_ok(rel <= 1e-6, "%s, %s: HVP vs FD of the gradient rel %.2e", c.label, names[kind], rel);
    free(v), free(hv);
    curv_free(cv);
    case_free(&c);
  }
}

/* Dense H (P x P, column j at H + j*P) through dense_from_linop; asym optional. */
static double *dense_of(Linop op, double *asym) {
  double *A = malloc(op.n * op.n * sizeof *A);
  Err err = {0};
  if (dense_from_linop(&op, A, asym, &err)) {
    tap_ok(0, "dense_from_linop: %s", err.msg);
    free(A);
    return NULL;
  }
  return A;
}

static void test_dense(void) {
  Rng rng;
  rng_seed(&rng, 77);
  struct {
    int act, loss, embed, depth;
  } cs[] = {{A_TANH, LOSS_CE, E_NONE, 3},
            {A_SINE30, LOSS_MSE, E_FOURIER_LEARNED, 2},
            {A_SOFTPLUS, LOSS_MSE, E_MSCALE, 3},
            {A_RELU, LOSS_CE, E_BASIC, 4},
            {A_HAT, LOSS_MSE, E_NONE, 3}};
  for (size_t t = 0; t < sizeof cs / sizeof *cs; t++) {
    Case c;
    if (case_make(&c, acts[cs[t].act].act, (LossKind)cs[t].loss, cs[t].embed, cs[t].depth, 3, 5,
                  cs[t].loss ? 3 : 2, NROWS, NULL, NULL, &rng, "dense"))
      continue;
    Curvature *cv = case_curv(&c, 0);
    size_t P = c.P;
    double asym;
    double *H = dense_of(curv_hessian_op(cv), &asym);
    double hmax = max_abs(H, P * P);
    tap_ok(asym <= 1e-10 * hmax, "%s: dense H symmetric before symmetrising (max|H-H'| %.1e, max|H| %.2e)",
           c.label, asym, hmax);
    /* column by column against FD of the gradient along e_j */
    double *e = calloc(P, sizeof *e), *fd = malloc(P * sizeof *fd), worst = 0, colmax = 0;
    for (size_t j = 0; j < P; j++) colmax = fmax(colmax, norm2(H + j * P, P));
    for (size_t j = 0; j < P; j++) {
      e[j] = 1.0;
      fd_hvp_richardson(&c, e, 1e-3, fd);
      e[j] = 0.0;
      double d = 0;
      for (size_t i = 0; i < P; i++) d += (H[j * P + i] - fd[i]) * (H[j * P + i] - fd[i]);
      double r = sqrt(d) / fmax(norm2(fd, P), 1e-6 * colmax);
      if (!(r <= worst)) worst = r;
    }
    tap_ok(worst <= 1e-6, "%s: dense H matches FD columns (P=%zu, worst column rel %.2e)", c.label,
           P, worst);
    /* GGN: symmetric and PSD */
    double gasym;
    double *G = dense_of(curv_ggn_op(cv), &gasym);
    double *w = malloc(P * sizeof *w);
    Err err = {0};
    double gmax = max_abs(G, P * P);
    dense_eig_sym(P, G, w, NULL, &err);
    tap_ok(gasym <= 1e-12 * gmax && w[0] >= -1e-10 * w[P - 1] && w[P - 1] > 0,
           "%s: GGN symmetric (%.1e) and PSD (lambda_min %.2e, lambda_max %.3e)", c.label, gasym,
           w[0], w[P - 1]);
    free(G), free(w), free(e), free(fd), free(H);
    curv_free(cv);
    case_free(&c);
  }
}

static void test_ggn_vs_hessian(void) {
  Rng rng;
  rng_seed(&rng, 8);
  /* linear depth 1: the net is linear in θ, so H = GGN (MSE and CE alike) */
  for (int loss = 0; loss < 2; loss++)
    for (int e = 0; e < 2; e++) {
      Case c;
      int emb = e ? E_FOURIER : E_NONE;
      if (case_make(&c, acts[A_IDENTITY].act, (LossKind)loss, emb, 1, 3, 5, loss ? 3 : 2, NROWS,
                    NULL, NULL, &rng, "linear"))
        continue;
      Curvature *cv = case_curv(&c, 0);
      double *H = dense_of(curv_hessian_op(cv), NULL), *G = dense_of(curv_ggn_op(cv), NULL);
      size_t P = c.P;
      double d = 0;
      for (size_t i = 0; i < P * P; i++) d = fmax(d, fabs(H[i] - G[i]));
      tap_ok(d <= 1e-12 * max_abs(H, P * P) && max_abs(H, P * P) > 0,
             "%s: GGN = H for a model linear in theta (max diff %.1e)", c.label, d);
      free(H), free(G);
      curv_free(cv);
      case_free(&c);
    }
  /* deep linear net: H − GGN (the G-terms) is nonzero, so the two are told apart */
  for (int depth = 2; depth <= 4; depth++) {
    Case c;
    if (case_make(&c, acts[A_IDENTITY].act, LOSS_MSE, E_NONE, depth, 3, 5, 2, NROWS, NULL, NULL,
                  &rng, "deep linear"))
      continue;
    Curvature *cv = case_curv(&c, 0);
    double *H = dense_of(curv_hessian_op(cv), NULL), *G = dense_of(curv_ggn_op(cv), NULL);
    size_t P = c.P;
    double dn = 0, hn = 0;
    for (size_t i = 0; i < P * P; i++) {
      dn += (H[i] - G[i]) * (H[i] - G[i]);
      hn += H[i] * H[i];
    }
    tap_ok(sqrt(dn) >= 1e-3 * sqrt(hn), "%s: ||H - GGN||_F / ||H||_F = %.3e (must be nonzero)",
           c.label, sqrt(dn / hn));
    free(H), free(G);
    curv_free(cv);
    case_free(&c);
  }
}

/* Jacobian products against FD of the output; adjoint identity; NTK = J Jᵀ. */
static void test_jacobian(void) {
  Rng rng;
  rng_seed(&rng, 555);
  struct {
    int act, loss, embed, depth;
    size_t chunk;
  } cs[] = {{A_TANH, LOSS_MSE, E_NONE, 3, 0},
            {A_GELU, LOSS_CE, E_FOURIER_LEARNED, 2, 3},
            {A_SOFTPLUS, LOSS_MSE, E_MSCALE, 1, 0},
            {A_SINE30, LOSS_CE, E_NONE, 4, 2},
            {A_RELU, LOSS_MSE, E_MSCALE, 3, 3}};
  for (size_t t = 0; t < sizeof cs / sizeof *cs; t++) {
    Case c;
    if (case_make(&c, acts[cs[t].act].act, (LossKind)cs[t].loss, cs[t].embed, cs[t].depth, 3, 5,
                  cs[t].loss ? 3 : 2, NROWS, NULL, NULL, &rng, "jacobian"))
      continue;
    Curvature *cv = case_curv(&c, cs[t].chunk);
    size_t P = c.P, nk = c.n * c.k;
    double *v = malloc(P * sizeof *v), *u = malloc(nk * sizeof *u), *jv = malloc(nk * sizeof *jv);
    double *jtu = malloc(P * sizeof *jtu), *th = malloc(P * sizeof *th);
    double *Fp[4], *fd = malloc(nk * sizeof *fd);
    for (int s = 0; s < 4; s++) Fp[s] = malloc(nk * sizeof *Fp[s]);
    /* FD Jacobian, column by column (O(h^4) stencil), J is nk x P, column j at J + j*nk */
    double *J = malloc(nk * P * sizeof *J), h = 1e-4;
    const double steps[4] = {h, -h, 2 * h, -2 * h};
    for (size_t j = 0; j < P; j++) {
      for (int s = 0; s < 4; s++) {
        memcpy(th, c.theta, P * sizeof *th);
        th[j] += steps[s];
        forward_out(&c, th, Fp[s]);
      }
      for (size_t i = 0; i < nk; i++)
        J[j * nk + i] = (8.0 * (Fp[0][i] - Fp[1][i]) - (Fp[2][i] - Fp[3][i])) / (12.0 * h);
    }
    unit_normal(&rng, v, P);
    rng_normal_fill(&rng, u, nk);
    curv_jvp(cv, v, jv);
    for (size_t i = 0; i < nk; i++) {
      fd[i] = 0;
      for (size_t j = 0; j < P; j++) fd[i] += J[j * nk + i] * v[j];
    }
    tap_ok(rel_diff(jv, fd, nk) <= 1e-7, "%s chunk=%zu: Jv vs FD Jacobian rel %.2e", c.label,
           cs[t].chunk, rel_diff(jv, fd, nk));
    /* Jv also against FD of the output along v directly */
    for (int s = 0; s < 4; s++) {
      for (size_t j = 0; j < P; j++) th[j] = c.theta[j] + steps[s] * v[j];
      forward_out(&c, th, Fp[s]);
    }
    for (size_t i = 0; i < nk; i++)
      fd[i] = (8.0 * (Fp[0][i] - Fp[1][i]) - (Fp[2][i] - Fp[3][i])) / (12.0 * h);
    tap_ok(rel_diff(jv, fd, nk) <= 1e-7, "%s: Jv vs directional FD of F rel %.2e", c.label,
           rel_diff(jv, fd, nk));
    curv_vjp(cv, u, jtu);
    double a1 = dot(u, jv, nk), a2 = dot(jtu, v, P);
    tap_ok(fabs(a1 - a2) <= 1e-12 * norm2(u, nk) * norm2(jv, nk) && a1 != 0,
           "%s: u'(Jv) = (J'u)'v (%.15g vs %.15g)", c.label, a1, a2);
    double *jtu_fd = malloc(P * sizeof *jtu_fd);
    for (size_t j = 0; j < P; j++) jtu_fd[j] = dot(J + j * nk, u, nk);
    tap_ok(rel_diff(jtu, jtu_fd, P) <= 1e-7, "%s: J'u vs FD Jacobian rel %.2e", c.label,
           rel_diff(jtu, jtu_fd, P));
    /* NTK: J Jᵀ u against the FD Jacobian and against the dense NTK of jvp columns */
    double *ntk = malloc(nk * sizeof *ntk), *ref = malloc(nk * sizeof *ref);
    curv_ntk(cv, u, ntk);
    for (size_t i = 0; i < nk; i++) {
      ref[i] = 0;
      for (size_t j = 0; j < P; j++) ref[i] += J[j * nk + i] * jtu_fd[j];
    }
    tap_ok(rel_diff(ntk, ref, nk) <= 1e-7, "%s: NTK u = J J'u vs FD Jacobian rel %.2e", c.label,
           rel_diff(ntk, ref, nk));
    Linop nop = curv_ntk_op(cv);
    double nasym;
    double *K = nop.n == nk ? dense_of(nop, &nasym) : NULL;
    tap_ok(nop.n == nk, "%s: NTK operator size n*k = %zu (got %zu)", c.label, nk, nop.n);
    if (K) {
      /* K against J_lib J_libᵀ with J_lib from jvp of unit vectors */
      double *Jl = malloc(nk * P * sizeof *Jl), *e = calloc(P, sizeof *e), worst = 0;
      for (size_t j = 0; j < P; j++) {
        e[j] = 1;
        curv_jvp(cv, e, Jl + j * nk);
        e[j] = 0;
      }
      double kmax = max_abs(K, nk * nk);
      for (size_t a = 0; a < nk; a++)
        for (size_t b = 0; b < nk; b++) {
          double s = 0;
          for (size_t j = 0; j < P; j++) s += Jl[j * nk + a] * Jl[j * nk + b];
          worst = fmax(worst, fabs(K[b * nk + a] - s));
        }
      double *w = malloc(nk * sizeof *w);
      Err err = {0};
      dense_eig_sym(nk, K, w, NULL, &err);
      tap_ok(worst <= 1e-12 * kmax && nasym <= 1e-12 * kmax && w[0] >= -1e-10 * w[nk - 1],
             "%s: dense NTK = J J' (max diff %.1e), symmetric (%.1e), PSD (min eig %.1e)", c.label,
             worst, nasym, w[0]);
      free(Jl), free(e), free(w), free(K);
    }
    free(ntk), free(ref), free(jtu_fd), free(J), free(v), free(u), free(jv), free(jtu), free(th),
        free(fd);
    for (int s = 0; s < 4; s++) free(Fp[s]);
    curv_free(cv);
    case_free(&c);
  }
}

/* Batches large enough for the OpenMP branches of the passes (n * width > 8192). */
static void test_large_batch(void) {
  Rng rng;
  rng_seed(&rng, 31415);
  int as[] = {A_TANH, A_GELU, A_SINE30, A_SOFTPLUS};
  int es[] = {E_NONE, E_FOURIER_LEARNED, E_MSCALE, E_BASIC};
  for (int t = 0; t < 4; t++)
    for (int loss = 0; loss < 2; loss++) {
      Case c;
      if (case_make(&c, acts[as[t]].act, (LossKind)loss, es[t], 3, 3, 5, loss ? 3 : 2, 3000, NULL,
                    NULL, &rng, "large batch n=3000"))
        continue;
      size_t P = c.P, nk = c.n * c.k;
      Curvature *one = case_curv(&c, 0), *ch = case_curv(&c, 1000);
      double *v = malloc(P * sizeof *v), *hv = malloc(P * sizeof *hv), *h2 = malloc(P * sizeof *h2);
      double *jv = malloc(nk * sizeof *jv), *hj = malloc(nk * sizeof *hj), *F = malloc(nk * sizeof *F);
      unit_normal(&rng, v, P);
      curv_hvp(one, v, hv);
      int rr;
      double rel = hvp_fd_error(&c, v, hv, &rr);
      curv_hvp(ch, v, h2);
      double rch = rel_diff(h2, hv, P);
      curv_ggn(one, v, h2);
      curv_jvp(one, v, jv);
      forward_out(&c, c.theta, F);
      loss_hess_ref(&c, F, jv, hj);
      curv_vjp(one, hj, hv);
      double rg = rel_diff(h2, hv, P);
      tap_ok(rel <= 1e-6 && rch <= 1e-12 && rg <= 1e-12,
             "%s: HVP vs FD rel %.1e%s, chunk 1000 vs one chunk %.1e, GGN vs J'H_l J %.1e", c.label,
             rel, rr ? " (Richardson)" : "", rch, rg);
      free(v), free(hv), free(h2), free(jv), free(hj), free(F);
      curv_free(one), curv_free(ch);
      case_free(&c);
    }
}

/* Chunked products equal one-chunk products; loss and gradient equal objective_eval. */
static void test_chunks_and_rebuild(void) {
  Rng rng;
  rng_seed(&rng, 999);
  for (int t = 0; t < 4; t++) {
    Case c;
    int act = t == 0 ? A_TANH : t == 1 ? A_SINE30 : t == 2 ? A_GELU : A_SOFTPLUS;
    int emb = t == 0 ? E_NONE : t == 1 ? E_FOURIER_LEARNED : t == 2 ? E_MSCALE : E_BASIC;
    LossKind loss = t & 1 ? LOSS_CE : LOSS_MSE;
    if (case_make(&c, acts[act].act, loss, emb, 3, 3, 5, loss ? 3 : 2, NROWS, NULL, NULL, &rng,
                  "chunks"))
      continue;
    size_t P = c.P, nk = c.n * c.k;
    Curvature *one = case_curv(&c, 0), *ch3 = case_curv(&c, 3), *ch1 = case_curv(&c, 1);
    double *v = malloc(P * sizeof *v), *u = malloc(nk * sizeof *u);
    double *r1 = malloc(P * sizeof *r1), *r2 = malloc(P * sizeof *r2), *q1 = malloc(nk * sizeof *q1),
           *q2 = malloc(nk * sizeof *q2);
    unit_normal(&rng, v, P);
    rng_normal_fill(&rng, u, nk);
    Curvature *chs[2] = {ch3, ch1};
    for (int k = 0; k < 2; k++) {
      double worst = 0;
      curv_hvp(one, v, r1), curv_hvp(chs[k], v, r2), worst = fmax(worst, rel_diff(r2, r1, P));
      curv_ggn(one, v, r1), curv_ggn(chs[k], v, r2), worst = fmax(worst, rel_diff(r2, r1, P));
      curv_vjp(one, u, r1), curv_vjp(chs[k], u, r2), worst = fmax(worst, rel_diff(r2, r1, P));
      worst = fmax(worst, rel_diff(curv_grad(chs[k]), curv_grad(one), P));
      worst = fmax(worst, fabs(curv_loss(chs[k]) - curv_loss(one)) / fabs(curv_loss(one)));
      curv_jvp(one, v, q1), curv_jvp(chs[k], v, q2), worst = fmax(worst, rel_diff(q2, q1, nk));
      curv_ntk(one, u, q1), curv_ntk(chs[k], u, q2), worst = fmax(worst, rel_diff(q2, q1, nk));
      tap_ok(worst <= 1e-12, "%s: chunk %d vs one chunk: hvp, ggn, vjp, jvp, ntk, grad, loss (max rel %.1e)",
             c.label, k ? 1 : 3, worst);
    }
    /* the build's loss and gradient are objective_eval's */
    NetCache *nc = net_cache_alloc(&c.net, c.n, 0);
    double lo;
    objective_eval(&c.net, c.theta, c.loss, &c.b, nc, r1, &lo, NULL);
    tap_ok(rel_diff(curv_grad(one), r1, P) <= 1e-13 && fabs(curv_loss(one) - lo) <= 1e-13 * fabs(lo) &&
               curv_nparams(one) == P && curv_nrows(one) == c.n,
           "%s: curv_loss/curv_grad = objective_eval, nparams, nrows", c.label);
    net_cache_free(nc);

    /* rebuild ch3 at a new θ on a 5-row batch; compare with a fresh context */
    double *th2 = malloc(P * sizeof *th2);
    for (size_t i = 0; i < P; i++) th2[i] = c.theta[i] + 0.1 * rng_normal(&rng);
    Batch b2 = {c.X + 2 * c.net.d_in, c.Y + 2 * c.k, c.labels + 2, 5, NULL, NULL};
    Err err = {0};
    tap_ok(curv_applies(ch3) > 0, "%s: applies counted before rebuild (%ld)", c.label,
           curv_applies(ch3));
    int rc = curv_build(ch3, th2, &b2, &err);
    Curvature *fresh = curv_alloc(&c.net, c.loss, 5, 0, &err);
    curv_build(fresh, th2, &b2, &err);
    double worst = 0;
    curv_hvp(ch3, v, r1), curv_hvp(fresh, v, r2), worst = fmax(worst, rel_diff(r1, r2, P));
    curv_ggn(ch3, v, r1), curv_ggn(fresh, v, r2), worst = fmax(worst, rel_diff(r1, r2, P));
    curv_jvp(ch3, v, q1), curv_jvp(fresh, v, q2), worst = fmax(worst, rel_diff(q1, q2, 5 * c.k));
    curv_vjp(ch3, u, r1), curv_vjp(fresh, u, r2), worst = fmax(worst, rel_diff(r1, r2, P));
    worst = fmax(worst, rel_diff(curv_grad(ch3), curv_grad(fresh), P));
    worst = fmax(worst, fabs(curv_loss(ch3) - curv_loss(fresh)) / fabs(curv_loss(fresh)));
    tap_ok(rc == CS_OK && worst <= 1e-12 && curv_nrows(ch3) == 5 && curv_applies(ch3) == 2 &&
               curv_ntk_op(ch3).n == 5 * c.k,
           "%s: rebuilt context (new theta, 5 rows) = fresh context (max rel %.1e), nrows %zu, applies %ld",
           c.label, worst, curv_nrows(ch3), curv_applies(ch3));
    /* and back to the original point */
    curv_build(ch3, c.theta, &c.b, &err);
    curv_hvp(one, v, r1), curv_hvp(ch3, v, r2);
    tap_ok(rel_diff(r2, r1, P) <= 1e-12, "%s: rebuilt back at theta_0 reproduces the HVP (rel %.1e)",
           c.label, rel_diff(r2, r1, P));
    Batch big = c.b;
    big.n = c.n + 1;
    tap_ok(curv_build(ch3, c.theta, &big, &err) == CS_EINVAL, "%s: batch larger than n_max refused",
           c.label);
    free(th2), free(v), free(u), free(r1), free(r2), free(q1), free(q2);
    curv_free(one), curv_free(ch3), curv_free(ch1), curv_free(fresh);
    case_free(&c);
  }
}

/*
 * Data with a chosen second-moment spectrum: X̃ = [X, 1] (n x m, m = d + 1)
 * with X̃ᵀX̃/n = Q diag(lam) Qᵀ. Q is the Householder reflection taking e_m to a
 * unit q with Σ lam q² = 1; U (n x m, orthonormal columns) is chosen with
 * U S q = 1/√n; then X̃ = √n U S Qᵀ has last column 1.
 */
static double build_spectrum_data(Rng *rng, size_t n, size_t m, const double *lam, double *X) {
  double *p = malloc(m * sizeof *p), *q = malloc(m * sizeof *q), *Q = malloc(m * m * sizeof *Q);
  double *U = malloc(n * m * sizeof *U), *a = malloc(m * sizeof *a), *cvec = malloc(n * sizeof *cvec);
  double ps = 0, mu = 0;
  size_t imin = 0, imax = 0;
  for (size_t j = 0; j < m; j++) {
    p[j] = rng_uniform_in(rng, 0.1, 1.0);
    ps += p[j];
    if (lam[j] < lam[imin]) imin = j;
    if (lam[j] > lam[imax]) imax = j;
  }
  for (size_t j = 0; j < m; j++) mu += lam[j] * (p[j] /= ps);
  size_t ie = mu > 1 ? imin : imax;
  double t = (1 - lam[ie]) / (mu - lam[ie]);
  for (size_t j = 0; j < m; j++) q[j] = sqrt(t * p[j] + (j == ie ? 1 - t : 0));
  /* Q = I − 2wwᵀ/wᵀw, w = e_m − q (row-major Q[i][j]) */
  double ww = 0;
  for (size_t j = 0; j < m; j++) {
    a[j] = (double)(j == m - 1) - q[j];
    ww += a[j] * a[j];
  }
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < m; j++) Q[i * m + j] = (i == j) - 2 * a[i] * a[j] / ww;
  /* U0: orthonormal columns by modified Gram-Schmidt, twice (U column i at U[r*m + i]) */
  for (size_t i = 0; i < n * m; i++) U[i] = rng_normal(rng);
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < m; i++) {
      for (size_t k = 0; k < i; k++) {
        double s = 0;
        for (size_t r = 0; r < n; r++) s += U[r * m + i] * U[r * m + k];
        for (size_t r = 0; r < n; r++) U[r * m + i] -= s * U[r * m + k];
      }
      double s = 0;
      for (size_t r = 0; r < n; r++) s += U[r * m + i] * U[r * m + i];
      for (size_t r = 0; r < n; r++) U[r * m + i] /= sqrt(s);
    }
  for (size_t j = 0; j < m; j++) a[j] = sqrt(lam[j]) * q[j];  /* unit */
  /* c = U0 a; reflect c onto 1/√n with H2 = I − 2 w wᵀ / wᵀw, w = c − 1/√n */
  double w2 = 0;
  for (size_t r = 0; r < n; r++) {
    double s = 0;
    for (size_t i = 0; i < m; i++) s += U[r * m + i] * a[i];
    cvec[r] = s - 1.0 / sqrt((double)n);
    w2 += cvec[r] * cvec[r];
  }
  for (size_t i = 0; i < m; i++) {
    double s = 0;
    for (size_t r = 0; r < n; r++) s += cvec[r] * U[r * m + i];
    for (size_t r = 0; r < n; r++) U[r * m + i] -= 2 * cvec[r] * s / w2;
  }
  /* X̃[r][j] = √n Σ_i U[r][i] √lam_i Q[j][i]; X keeps the first m − 1 columns */
  double worst_one = 0;
  for (size_t r = 0; r < n; r++)
    for (size_t j = 0; j < m; j++) {
      double s = 0;
      for (size_t i = 0; i < m; i++) s += U[r * m + i] * sqrt(lam[i]) * Q[j * m + i];
      s *= sqrt((double)n);
      if (j < m - 1) X[r * (m - 1) + j] = s;
      else worst_one = fmax(worst_one, fabs(s - 1.0));
    }
  free(p), free(q), free(Q), free(U), free(a), free(cvec);
  return worst_one;
}

static void test_known_spectrum(void) {
  Rng rng;
  rng_seed(&rng, 1717);
  enum { D = 11, M = D + 1, N = 30 };
  const double lam[M] = {9.0, 5.0, 3.0, 2.0, 1.5, 1.2, 0.8, 0.5, 0.3, 0.1, 0.05, 0.02};
  double X[N * D];
  double ones_err = build_spectrum_data(&rng, N, M, lam, X);
  tap_ok(ones_err < 1e-12, "spectrum data: the implicit bias column is 1 (max err %.1e)", ones_err);
  double sorted[M];
  memcpy(sorted, lam, sizeof sorted);
  qsort(sorted, M, sizeof *sorted, cmp_double);
  for (int kout = 1; kout <= 2; kout++) {
    NetSpec s;
    Net net;
    Err err = {0};
    char mt[64];
    netspec_default(&s);
    snprintf(mt, sizeof mt, "linear:%d-%d", D, kout);
    netspec_parse_model(&s, mt, &err);
    net_init(&net, &s, &rng, &err);
    size_t P = net.n_params;
    double *th = malloc(P * sizeof *th), Y[N * 2];
    net_init_params(&net, th, &rng);
    rng_normal_fill(&rng, Y, N * 2);
    Batch b = {X, Y, NULL, N, NULL, NULL};
    Curvature *cv = curv_alloc(&net, LOSS_MSE, N, 0, &err);
    curv_build(cv, th, &b, &err);
    Linop op = curv_hessian_op(cv);
    double *H = dense_of(op, NULL), *w = malloc(P * sizeof *w);
    dense_eig_sym(P, H, w, NULL, &err);
    double worst = 0;
    for (size_t i = 0; i < P; i++)
      worst = fmax(worst, fabs(w[i] - sorted[i / (size_t)kout]) / sorted[i / (size_t)kout]);
    tap_ok(P == (size_t)(M * kout) && worst <= 1e-8,
           "linear %d-%d, MSE: dense eigenvalues = data spectrum, each x%d (P=%zu, max rel %.1e)", D,
           kout, kout, P, worst);
    EigOpts o;
    eig_opts_default(&o);
    o.tol = 1e-12;
    o.seed = 3;
    EigResult r;
    if (kout == 1) {
      o.k = 3;
      o.which = EIG_TOP;
      int rc = eig_arpack(&op, &o, &r, &err);
      worst = 0;
      for (int i = 0; i < 3 && rc == CS_OK && r.k == 3; i++)
        worst = fmax(worst, fabs(r.values[i] - sorted[M - 1 - i]) / sorted[M - 1 - i]);
      tap_ok(rc == CS_OK && r.k == 3 && worst <= 1e-8,
             "ARPACK top-3 of the known spectrum (%.12g %.12g %.12g; max rel %.1e) %s",
             r.k > 0 ? r.values[0] : NAN, r.k > 1 ? r.values[1] : NAN, r.k > 2 ? r.values[2] : NAN,
             worst, err.msg);
      eig_result_free(&r);
      o.which = EIG_BOTTOM;
      rc = eig_arpack(&op, &o, &r, &err);
      worst = 0;
      for (int i = 0; i < 3 && rc == CS_OK && r.k == 3; i++)
        worst = fmax(worst, fabs(r.values[i] - sorted[i]) / sorted[i]);
      tap_ok(rc == CS_OK && r.k == 3 && worst <= 1e-8,
             "ARPACK bottom-3 of the known spectrum (%.12g %.12g %.12g; max rel %.1e) %s",
             r.k > 0 ? r.values[0] : NAN, r.k > 1 ? r.values[1] : NAN, r.k > 2 ? r.values[2] : NAN,
             worst, err.msg);
      eig_result_free(&r);
    } else {
      o.k = 1;
      o.which = EIG_BOTH;
      int rc = eig_arpack(&op, &o, &r, &err);
      tap_ok(rc == CS_OK && r.k == 2 && fabs(r.values[0] - sorted[M - 1]) <= 1e-8 * sorted[M - 1] &&
                 fabs(r.values[1] - sorted[0]) <= 1e-8 * sorted[0],
             "ARPACK both ends, k=2 outputs: %.12g / %.12g (want %g / %g) %s",
             r.k > 0 ? r.values[0] : NAN, r.k > 1 ? r.values[1] : NAN, sorted[M - 1], sorted[0],
             err.msg);
      eig_result_free(&r);
    }
    free(H), free(w), free(th);
    curv_free(cv);
    net_deinit(&net);
  }
}

/* ARPACK top-3 / bottom-3 against LAPACK on the dense Hessian of a small tanh net. */
static void test_arpack_vs_dense(void) {
  Rng rng;
  rng_seed(&rng, 4321);
  Case c;
  if (case_make(&c, acts[A_TANH].act, LOSS_MSE, E_NONE, 3, 4, 12, 3, 40, NULL, NULL, &rng, "arpack"))
    return;
  Curvature *cv = case_curv(&c, 0);
  size_t P = c.P;
  Linop op = curv_hessian_op(cv);
  double *H = dense_of(op, NULL), *w = malloc(P * sizeof *w);
  Err err = {0};
  dense_eig_sym(P, H, w, NULL, &err);
  double scale = fmax(fabs(w[0]), fabs(w[P - 1]));
  EigOpts o;
  eig_opts_default(&o);
  o.k = 3;
  o.tol = 1e-12;
  o.seed = 11;
  EigResult r;
  for (int which = 0; which < 2; which++) {
    o.which = which ? EIG_BOTTOM : EIG_TOP;
    int rc = eig_arpack(&op, &o, &r, &err);
    double worst = 0, worst_res = 0, worst_norm = 0;
    for (int i = 0; i < 3 && rc == CS_OK && r.k == 3; i++) {
      double want = which ? w[i] : w[P - 1 - i];
      worst = fmax(worst, fabs(r.values[i] - want) / fmax(fabs(want), 1e-3 * scale));
      worst_res = fmax(worst_res, r.residuals[i]);
      worst_norm = fmax(worst_norm, fabs(norm2(r.vectors + i * P, P) - 1));
    }
    tap_ok(rc == CS_OK && r.k == 3 && worst <= 1e-8 && worst_res <= 1e-8 * scale && worst_norm < 1e-12,
           "%s P=%zu: ARPACK %s-3 = LAPACK (%.10g %.10g %.10g vs %.10g %.10g %.10g; max rel %.1e, "
           "residual %.1e) %s",
           c.label, P, which ? "bottom" : "top", r.k > 0 ? r.values[0] : NAN,
           r.k > 1 ? r.values[1] : NAN, r.k > 2 ? r.values[2] : NAN, which ? w[0] : w[P - 1],
           which ? w[1] : w[P - 2], which ? w[2] : w[P - 3], worst, worst_res, err.msg);
    eig_result_free(&r);
  }
  tap_ok(w[0] < 0, "%s: the Hessian at a random point is indefinite (lambda_min %.3e)", c.label, w[0]);
  free(H), free(w);
  curv_free(cv);
  case_free(&c);
}

/* PrecondOp: eigenvalues of P^{-1}H; SubsetOp: diagonal blocks; Hutchinson. */
static void test_ops(void) {
  Rng rng;
  rng_seed(&rng, 6060);
  Case c;
  if (case_make(&c, acts[A_SOFTPLUS].act, LOSS_CE, E_FOURIER_LEARNED, 3, 3, 6, 3, NROWS, NULL, NULL,
                &rng, "ops"))
    return;
  Curvature *cv = case_curv(&c, 3);
  size_t P = c.P;
  Err err = {0};
  Linop hop = curv_hessian_op(cv);
  double *H = dense_of(hop, NULL);

  /* --- preconditioned */
  double *Pd = malloc(P * sizeof *Pd);
  for (size_t i = 0; i < P; i++) Pd[i] = rng_uniform_in(&rng, 0.2, 5.0);
  PrecondOp *pop = precond_op_alloc(&hop, Pd, &err);
  Linop pl = precond_op_linop(pop);
  double *A = dense_of(pl, NULL), *B = malloc(P * P * sizeof *B), *Dg = calloc(P * P, sizeof *Dg);
  double *w1 = malloc(P * sizeof *w1), *w2 = malloc(P * sizeof *w2), *w3 = malloc(P * sizeof *w3);
  for (size_t j = 0; j < P; j++)
    for (size_t i = 0; i < P; i++) B[j * P + i] = H[j * P + i] / sqrt(Pd[i] * Pd[j]);
  dense_eig_sym(P, A, w1, NULL, &err);
  dense_eig_sym(P, B, w2, NULL, &err);
  /* generalised symmetric-definite problem H x = λ diag(P) x */
  memcpy(B, H, P * P * sizeof *B);
  for (size_t i = 0; i < P; i++) Dg[i * P + i] = Pd[i];
  lapack_int info = LAPACKE_dsygv(LAPACK_COL_MAJOR, 1, 'N', 'U', (lapack_int)P, B, (lapack_int)P, Dg,
                                  (lapack_int)P, w3);
  double sc = fmax(fabs(w2[0]), fabs(w2[P - 1])), d12 = 0, d13 = 0;
  for (size_t i = 0; i < P; i++) {
    d12 = fmax(d12, fabs(w1[i] - w2[i]));
    d13 = fmax(d13, fabs(w1[i] - w3[i]));
  }
  tap_ok(pl.n == P && d12 <= 1e-12 * sc && info == 0 && d13 <= 1e-10 * sc,
         "precond op: eigenvalues = P^-1/2 H P^-1/2 (max diff %.1e) = generalised H x = l P x "
         "(dsygv, max diff %.1e), lambda_max %.4g",
         d12, d13, w1[P - 1]);
  EigOpts o;
  eig_opts_default(&o);
  o.tol = 1e-12;
  o.k = 2;
  o.seed = 5;
  EigResult r;
  int rc = eig_arpack(&pl, &o, &r, &err);
  tap_ok(rc == CS_OK && r.k == 2 && fabs(r.values[0] - w1[P - 1]) <= 1e-8 * sc &&
             fabs(r.values[1] - w1[P - 2]) <= 1e-8 * sc,
         "precond op: ARPACK top-2 %.12g %.12g vs dense %.12g %.12g", r.k > 0 ? r.values[0] : NAN,
         r.k > 1 ? r.values[1] : NAN, w1[P - 1], w1[P - 2]);
  eig_result_free(&r);
  Pd[3] = 0.0;
  PrecondOp *bad = precond_op_alloc(&hop, Pd, &err);
  tap_ok(!bad && err.code == CS_EINVAL, "precond op refuses a zero entry (%s)", err.msg);
  precond_op_free(bad);
  precond_op_free(pop);

  /* --- subsets: one layer, two layers */
  const char *specs[] = {"0", "1", "2", "3", "0-2", "1-3"};
  for (int sI = 0; sI < 6; sI++) {
    size_t ranges[8];
    int np = 0;
    err = (Err){0};
    rc = subset_ranges_for_layers(&c.net, specs[sI], ranges, 4, &np, &err);
    if (!tap_ok(rc == CS_OK, "subset ranges '%s' (%s)", specs[sI], err.msg)) continue;
    /* expected ranges from the layout: trainable layers in order, W then b */
    int ok = 1, ti = 0, pi = 0;
    long idx[4];
    int nidx = 0;
    for (const char *p = specs[sI]; *p; p++)
      if (*p >= '0' && *p <= '9') idx[nidx++] = *p - '0';
    for (int l = 0; l < c.net.nlayers; l++) {
      const Layer *L = &c.net.layer[l];
      if (!L->trainable) continue;
      for (int q = 0; q < nidx; q++)
        if (idx[q] == ti) {
          ok &= pi < np && ranges[2 * pi] == L->w_off &&
                ranges[2 * pi + 1] == L->in * L->out + (L->has_bias ? L->out : 0);
          pi++;
        }
      ti++;
    }
    ok &= pi == np;
    SubsetOp *so = subset_op_alloc(&hop, ranges, np, &err);
    Linop sl = subset_op_linop(so);
    double *S = dense_of(sl, NULL);
    /* the same block read off the dense H */
    size_t *map = malloc(sl.n * sizeof *map), pos = 0;
    for (int q = 0; q < np; q++)
      for (size_t i = 0; i < ranges[2 * q + 1]; i++) map[pos++] = ranges[2 * q] + i;
    double worst = 0, hm = max_abs(H, P * P);
    for (size_t a = 0; a < sl.n && pos == sl.n; a++)
      for (size_t b = 0; b < sl.n; b++) worst = fmax(worst, fabs(S[b * sl.n + a] - H[map[b] * P + map[a]]));
    tap_ok(ok && pos == sl.n && worst <= 1e-13 * hm,
           "%s: subset '%s' (%d ranges, n=%zu) = diagonal block of dense H (max diff %.1e)", c.label,
           specs[sI], np, sl.n, worst);
    free(S), free(map);
    subset_op_free(so);
  }
  size_t ranges[8];
  int np;
  tap_ok(subset_ranges_for_layers(&c.net, "4", ranges, 4, &np, &err) == CS_EINVAL,
         "subset of a layer that does not exist refused (%s)", err.msg);

  /* --- Hutchinson */
  double tr = 0;
  for (size_t i = 0; i < P; i++) tr += H[i * P + i];
  double mean, se;
  int m = 3000;
  rc = trace_hutchinson(&hop, m, 42, &mean, &se, &err);
  tap_ok(rc == CS_OK && se > 0 && fabs(mean - tr) <= 3 * se,
         "%s: Hutchinson trace %.6g +- %.2g (m=%d) vs exact %.6g (%.2f standard errors)", c.label,
         mean, se, m, tr, fabs(mean - tr) / se);
  /* the standard error matches the Rademacher variance 2 Σ_{i≠j} H_ij² / m */
  double off = 0;
  for (size_t i = 0; i < P; i++)
    for (size_t j = 0; j < P; j++)
      if (i != j) off += H[j * P + i] * H[j * P + i];
  double se_theory = sqrt(2 * off / m);
  tap_ok(se > 0.8 * se_theory && se < 1.2 * se_theory,
         "Hutchinson standard error %.3g vs theory sqrt(2 sum_offdiag H^2 / m) = %.3g", se, se_theory);

  free(H), free(Pd), free(A), free(B), free(Dg), free(w1), free(w2), free(w3);
  curv_free(cv);
  case_free(&c);
}

int main(void) {
  test_hvp_grid();
  test_hvp_variants();
  test_ce_targets();
  test_dense();
  test_ggn_vs_hessian();
  test_jacobian();
  test_large_batch();
  test_chunks_and_rebuild();
  test_known_spectrum();
  test_arpack_vs_dense();
  test_ops();
  return tap_done();
}
