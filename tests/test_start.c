/*
 * test_start.c: the mean-Jacobian start vector (hessian/curv_start.h).
 *
 * The reference is built independently of curv_vjp and of the K × K reduction: the mean
 * Jacobian by central finite differences of the mean outputs (forward passes only), the
 * mean output Hessian from the softmax in closed form, and the top eigenvector of the
 * dense P × P matrix M H̄ Mᵀ by LAPACK (dense_eig_sym). Then the solves: from the jmean
 * start the own Lanczos reaches the Gaussian start's top eigenvalue, and on a net whose
 * outputs share their Jacobian (inputs with a common mean) the start overlaps the top
 * eigenvector far more than a Gaussian does and needs fewer products.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "core/net.h"
#include "core/rng.h"
#include "hessian/curv.h"
#include "hessian/curv_start.h"
#include "lanczos/eig.h"
#include "tests/curv_prob.h"
#include "tests/net_util.h"
#include "tests/tap.h"

/* model on n rows, X uniform in [shift − 1, shift + 1], MSE targets normal, CE one-hot. */
static int sp_make(Prob *p, const char *model, ActKind act, LossKind loss, size_t n,
                   double shift, uint64_t seed) {
  memset(p, 0, sizeof *p);
  if (!(p->theta = test_mlp(&p->net, model, act, seed))) return 0;
  p->n = n, p->P = p->net.n_params, p->loss = loss;
  size_t d = p->net.d_in, K = p->net.d_out;
  p->X = malloc(n * d * sizeof *p->X);
  p->Y = calloc(n * K, sizeof *p->Y);
  Rng rng;
  rng_seed(&rng, seed + 1);
  for (size_t i = 0; i < n * d; i++) p->X[i] = shift + rng_uniform_in(&rng, -1, 1);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < K; j++)
      p->Y[i * K + j] = loss == LOSS_CE ? 0.0 : rng_normal(&rng);
  if (loss == LOSS_CE) /* one-hot */
    for (size_t i = 0; i < n; i++) p->Y[i * K + rng_below(&rng, K)] = 1.0;
  p->b = (Batch){.X = p->X, .Y = p->Y, .n = n};
  return 1;
}

/* mean over rows of the outputs at θ (out [K]), by a plain forward. */
static void mean_outputs(const Net *net, const double *theta, const double *X, size_t m,
                         NetCache *nc, double *out) {
  net_forward(net, theta, X, m, nc);
  const double *F = nc->A[net->nlayers - 1];
  size_t K = net->d_out;
  for (size_t a = 0; a < K; a++) out[a] = 0;
  for (size_t i = 0; i < m; i++)
    for (size_t a = 0; a < K; a++) out[a] += F[i * K + a] / (double)m;
}

/* The reference on rows floor(j·n/m): the top kk unit eigenvectors of the dense M H̄ Mᵀ
 * into v_ref [kk][P] (0 on failure). */
static int reference_start(const Prob *p, size_t m, size_t kk, double *v_ref) {
  const Net *net = &p->net;
  size_t P = p->P, K = net->d_out, d = net->d_in;
  double *X = malloc(m * d * sizeof *X), *M = malloc(P * K * sizeof *M);
  double *th = malloc(P * sizeof *th), *op = malloc(K * sizeof *op), *om = malloc(K * sizeof *om);
  double *H = calloc(K * K, sizeof *H), *G = calloc(P * P, sizeof *G);
  double *w = malloc(P * sizeof *w), *V = malloc(P * P * sizeof *V);
  int *rows = malloc(m * sizeof *rows);
  NetCache *nc = net_cache_alloc(net, m, 0);
  for (size_t j = 0; j < m; j++) {
    rows[j] = (int)((double)j * (double)p->n / (double)m);
    memcpy(X + j * d, p->X + (size_t)rows[j] * d, d * sizeof *X);
  }
  /* M by central differences, ε = 1e-5 (errors ~1e-10 on these smooth nets) */
  memcpy(th, p->theta, P * sizeof *th);
  const double eps = 1e-5;
  for (size_t q = 0; q < P; q++) {
    th[q] = p->theta[q] + eps;
    mean_outputs(net, th, X, m, nc, op);
    th[q] = p->theta[q] - eps;
    mean_outputs(net, th, X, m, nc, om);
    th[q] = p->theta[q];
    for (size_t a = 0; a < K; a++) M[a * P + q] = (op[a] - om[a]) / (2 * eps);
  }
  /* H̄: I for MSE; mean of diag(p) − ppᵀ for cross-entropy (one-hot targets) */
  net_forward(net, p->theta, X, m, nc);
  const double *F = nc->A[net->nlayers - 1];
  for (size_t i = 0; i < m; i++) {
    if (p->loss == LOSS_MSE) {
      for (size_t a = 0; a < K; a++) H[a * K + a] += 1.0 / (double)m;
      continue;
    }
    double mx = F[i * K], s = 0, pr[16];
    for (size_t a = 1; a < K; a++) mx = fmax(mx, F[i * K + a]);
    for (size_t a = 0; a < K; a++) s += (pr[a] = exp(F[i * K + a] - mx));
    for (size_t a = 0; a < K; a++) pr[a] /= s;
    for (size_t a = 0; a < K; a++)
      for (size_t c = 0; c < K; c++)
        H[a * K + c] += ((a == c) * pr[a] - pr[a] * pr[c]) / (double)m;
  }
  /* G = M H̄ Mᵀ, dense; its top eigenvector */
  for (size_t r = 0; r < P; r++)
    for (size_t s2 = 0; s2 < P; s2++) {
      double g = 0;
      for (size_t a = 0; a < K; a++)
        for (size_t c = 0; c < K; c++) g += M[a * P + r] * H[a * K + c] * M[c * P + s2];
      G[r * P + s2] = g;
    }
  Err err = {0};
  int ok = dense_eig_sym(P, G, w, V, &err) == CS_OK;
  for (size_t j = 0; ok && j < kk; j++) memcpy(v_ref + j * P, V + (P - 1 - j) * P, P * sizeof *v_ref);
  if (!ok) tap_diag("dense_eig_sym: %s", err.msg);
  net_cache_free(nc);
  free(X), free(M), free(th), free(op), free(om), free(H), free(G), free(w), free(V), free(rows);
  return ok;
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* The start against the reference: MSE and CE, all rows and a strided half, two nets. */
static void test_against_reference(void) {
  static const struct {
    const char *model;
    ActKind act;
    LossKind loss;
    size_t n;
    double frac;
  } cases[] = {
      {"mlp:3-6-6-2", ACT_TANH, LOSS_MSE, 40, 1.0},
      {"mlp:3-6-6-3", ACT_TANH, LOSS_CE, 40, 1.0},
      {"mlp:4-5-3", ACT_SIGMOID, LOSS_MSE, 150, 0.5},   /* 75 of 150 rows, strided */
      {"mlp:4-5-5-4", ACT_TANH, LOSS_CE, 300, 0.25},    /* 75 of 300 */
      {"mlp:2-7-3", ACT_SOFTPLUS, LOSS_CE, 20, 0.01},   /* fewer rows than the minimum: all */
  };
  for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
    Prob p;
    if (!sp_make(&p, cases[t].model, cases[t].act, cases[t].loss, cases[t].n, 0.3, 11 + t)) {
      tap_ok(0, "problem %s", cases[t].model);
      continue;
    }
    size_t K = p.net.d_out;
    double *v = malloc(p.P * sizeof *v), *vr = malloc(K * p.P * sizeof *vr);
    size_t rows = 0;
    Err err = {0};
    int rc = curv_start_jmean(&p.net, p.loss, p.theta, &p.b, cases[t].frac, 1, v, &rows, &err);
    size_t m_want = (size_t)ceil(cases[t].frac * (double)p.n);
    if (m_want < CURV_START_MIN_ROWS) m_want = CURV_START_MIN_ROWS;
    if (m_want > p.n) m_want = p.n;
    tap_ok(rc == CS_OK && rows == m_want, "%s %s frac %g: jmean start on %zu rows (want %zu)%s%s",
           cases[t].model, loss_name(p.loss), cases[t].frac, rows, m_want, rc ? ": " : "",
           rc ? err.msg : "");
    if (!rc && reference_start(&p, m_want, K, vr)) {
      double nv = sqrt(dot(v, v, p.P)), ov = fabs(dot(v, vr, p.P));
      tap_ok(fabs(nv - 1) < 1e-12 && ov > 1 - 1e-8,
             "%s %s: unit start (|v| - 1 = %.1e) along the dense reference's top eigenvector "
             "(1 - |<v, v_ref>| = %.1e)", cases[t].model, loss_name(p.loss), nv - 1, 1 - ov);
      /* for a top-k solve: the unit sum of the top k directions, each overlapped by 1/√k;
       * cross-entropy's H̄ annihilates 1, so it has K − 1 directions and k = K takes those */
      size_t rank = p.loss == LOSS_CE ? K - 1 : K;
      for (size_t k = 2; k <= K; k++) {
        double worst = 0, kk = (double)(k < rank ? k : rank);
        rc = curv_start_jmean(&p.net, p.loss, p.theta, &p.b, cases[t].frac, k, v, NULL, &err);
        for (size_t j = 0; j < (size_t)kk && !rc; j++)
          worst = fmax(worst, fabs(fabs(dot(v, vr + j * p.P, p.P)) - 1 / sqrt(kk)));
        tap_ok(!rc && worst < 1e-7 && fabs(dot(v, v, p.P) - 1) < 1e-12,
               "%s %s, k = %zu: overlaps with the reference's top %g eigenvectors within %.1e "
               "of 1/sqrt(%g)", cases[t].model, loss_name(p.loss), k, kk, worst, kk);
      }
    }
    free(v), free(vr);
    prob_free(&p);
  }
}

/* Top-1 of the Hessian by the own Lanczos from a start (NULL: the seeded Gaussian). */
static int top1(Curvature *c, const double *start, double tol, double *value, long *products,
                double *vec) {
  Linop op = curv_hessian_op(c);
  EigOpts o;
  eig_opts_default(&o);
  o.tol = tol;
  o.seed = 5;
  o.exact_residuals = 0;
  if (start) o.warm = start, o.nwarm = 1;
  EigResult r;
  Err err = {0};
  int rc = eig_lanczos_top(&op, &o, &r, &err);
  if (rc) tap_diag("eig_lanczos_top: %s", err.msg);
  *value = r.k > 0 ? r.values[0] : NAN;
  *products = r.matvecs;
  if (vec && r.k > 0) memcpy(vec, r.vectors, op.n * sizeof *vec);
  eig_result_free(&r);
  return rc;
}

/* A tanh net whose inputs share a mean (the outlier of the Hessian comes from the shared
 * Jacobian): the same top eigenvalue from either start, the jmean start overlapping the
 * top eigenvector (> 0.5, against a Gaussian's ~1/√P) and needing fewer products. */
static void test_solve(LossKind loss) {
  Prob p;
  const char *model = loss == LOSS_CE ? "mlp:20-32-32-5" : "mlp:20-32-32-4";
  if (!sp_make(&p, model, ACT_TANH, loss, 400, 1.0, 77)) {
    tap_ok(0, "problem %s", model);
    return;
  }
  Err err = {0};
  Curvature *c = prob_curv(&p, PREC_F64, 0);
  double *v = malloc(p.P * sizeof *v), *top = malloc(p.P * sizeof *top);
  double lg = NAN, lj = NAN;
  long ng = 0, nj = 0;
  int ok = c && curv_start_jmean(&p.net, p.loss, p.theta, &p.b, 0.25, 1, v, NULL, &err) == CS_OK;
  tap_ok(ok, "%s %s: context and jmean start%s%s", model, loss_name(loss), ok ? "" : ": ",
         ok ? "" : err.msg);
  if (ok && !top1(c, NULL, 1e-6, &lg, &ng, top) && !top1(c, v, 1e-6, &lj, &nj, NULL)) {
    double ov = fabs(dot(v, top, p.P));
    tap_ok(fabs(lj - lg) <= 1e-5 * fabs(lg),
           "%s: top-1 %.10g from the jmean start, %.10g from a Gaussian", loss_name(loss), lj, lg);
    tap_ok(ov > 0.5, "%s: the start overlaps the top eigenvector by %.3f (P = %zu)",
           loss_name(loss), ov, p.P);
    tap_ok(nj < ng, "%s: %ld products from the jmean start, %ld from a Gaussian", loss_name(loss),
           nj, ng);
  }
  curv_free(c);
  free(v), free(top);
  prob_free(&p);
}

static void test_refusals(void) {
  CurvStart s;
  Err err = {0};
  tap_ok(curv_start_parse("gaussian", &s, &err) == CS_OK && s.kind == CURV_START_GAUSSIAN,
         "parse gaussian");
  tap_ok(curv_start_parse("jmean", &s, &err) == CS_OK && s.kind == CURV_START_JMEAN &&
             s.frac == CURV_START_FRAC_DEFAULT, "parse jmean (frac %g)", s.frac);
  tap_ok(curv_start_parse("jmean:frac=0.5", &s, &err) == CS_OK && s.frac == 0.5,
         "parse jmean:frac=0.5");
  static const char *bad[] = {"jmeans", "jmean:", "jmean:frac=0", "jmean:frac=1.5",
                              "jmean:frac=x", "jmean:rows=5", "random", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err = (Err){0};
    int rc = curv_start_parse(bad[i], &s, &err);
    tap_ok(rc == CS_EINVAL && strstr(err.msg, "start"), "refuses start '%s': %s", bad[i], err.msg);
  }
  /* a deep linear net without biases at θ = 0: the mean Jacobian vanishes */
  Net net;
  double *theta = NULL;
  NetSpec ns;
  netspec_default(&ns);
  ns.act.kind = ACT_IDENTITY;
  ns.bias = BIAS_NONE;
  Rng rng;
  rng_seed(&rng, 3);
  err = (Err){0};
  if (netspec_parse_model(&ns, "mlp:3-4-4-2", &err) || net_init(&net, &ns, &rng, &err)) {
    tap_ok(0, "linear net: %s", err.msg);
    return;
  }
  theta = calloc(net.n_params, sizeof *theta);
  double X[6 * 3], Y[6 * 2], v[64];
  for (int i = 0; i < 18; i++) X[i] = 0.1 * i;
  for (int i = 0; i < 12; i++) Y[i] = 1;
  Batch b = {.X = X, .Y = Y, .n = 6};
  err = (Err){0};
  int rc = curv_start_jmean(&net, LOSS_MSE, theta, &b, 1.0, 1, v, NULL, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "vanishes"), "a vanishing mean Jacobian: %s", err.msg);
  err = (Err){0};
  rc = curv_start_jmean(&net, LOSS_SOBOLEV, theta, &b, 1.0, 1, v, NULL, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "sobolev"), "the Sobolev loss: %s", err.msg);
  free(theta);
  net_deinit(&net);
}

int main(void) {
  test_against_reference();
  test_solve(LOSS_MSE);
  test_solve(LOSS_CE);
  test_refusals();
  return tap_done();
}
