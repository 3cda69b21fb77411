/* kinks.c: the pieces of the kinks study that are pure arithmetic: the data and its
 * weights, kink positions, Wilson intervals, the per-side least-squares lines and the
 * paper's step size (see kinks.h, docs/KINKS.md). */
#include "kinks.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

const double kinks_x[KINKS_NPOINTS] = {-3, -2, -1, 1, 2, 3};
const double kinks_y[KINKS_NPOINTS] = {-1, 2, -1, 1, -2, 1};

void kinks_options_default(KinksOptions *o) {
  memset(o, 0, sizeof *o);
  static const long w[] = {16, 32, 64, 128, 256};
  memcpy(o->widths, w, sizeof w);
  o->nwidths = 5;
  o->runs = 200;
  o->steps = 100000;
  o->lr_rule = KINKS_LR_PAPER;
  o->opt = optim_gd;
  optconfig_default(&o->optcfg);
  o->init = KINKS_INIT_HE;
  o->grad_tol = 1e-6;
  o->seed = 1;
}

static const char *const init_names[] = {"he", "he-swapped", "xavier", "torch"};

int kinks_init_parse(const char *text, KinksInit *out, Err *err) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(text, init_names[i])) {
      *out = (KinksInit)i;
      return CS_OK;
    }
  return err_set(err, CS_EINVAL, "--init '%s' (use he, he-swapped, xavier or torch)", text);
}

const char *kinks_init_name(KinksInit k) { return init_names[k]; }

void kinks_wilson(long k, long n, double z, double *lo, double *hi) {
  if (n <= 0) {
    *lo = 0, *hi = 1;
    return;
  }
  double N = (double)n, p = (double)k / N, z2 = z * z, d = 1 + z2 / N;
  double c = (p + z2 / (2 * N)) / d, h = z * sqrt(p * (1 - p) / N + z2 / (4 * N * N)) / d;
  *lo = c - h > 0 ? c - h : 0;
  *hi = c + h < 1 ? c + h : 1;
}

/* a, b, w of the hidden layer and the output bias c (kinks.h's layout). */
static void params(const Net *net, const double *theta, const double **a, const double **b,
                   const double **w, double *c) {
  *a = net_W(net, 0, theta);
  *b = net_b(net, 0, theta);
  *w = net_W(net, 1, theta);
  *c = net_b(net, 1, theta)[0];
}

void kinks_positions(const Net *net, const double *theta, double *kink) {
  const double *a, *b, *w;
  double c;
  params(net, theta, &a, &b, &w, &c);
  for (size_t i = 0; i < net->layer[0].out; i++) kink[i] = -b[i] / a[i];
}

double kinks_max_ratio(const Net *net, const double *theta) {
  const double *a, *b, *w;
  double c, m = 0.0;
  params(net, theta, &a, &b, &w, &c);
  for (size_t i = 0; i < net->layer[0].out; i++)
    if (a[i] != 0 && fabs(b[i] / a[i]) > m) m = fabs(b[i] / a[i]);
  return m;
}

void kinks_weights_draw(uint64_t N, Rng *rng, double *w) {
  uint64_t count[KINKS_NPOINTS] = {0};
  for (uint64_t s = 0; s < N; s++) count[rng_below(rng, KINKS_NPOINTS)]++;
  for (int j = 0; j < KINKS_NPOINTS; j++)
    w[j] = (double)KINKS_NPOINTS * (double)count[j] / (double)N;
}

int kinks_side_ls(const double *x, const double *y, const double *w, size_t n, double *fit,
                  Err *err) {
  for (int s = 0; s < 2; s++) {
    double sw = 0, sx = 0, sxx = 0, sy = 0, sxy = 0;
    int pts = 0;
    for (size_t j = 0; j < n; j++) {
      if ((s == 0) != (x[j] > 0) || w[j] <= 0) continue;
      sw += w[j], sx += w[j] * x[j], sxx += w[j] * x[j] * x[j];
      sy += w[j] * y[j], sxy += w[j] * x[j] * y[j];
      pts++;
    }
    double det = sw * sxx - sx * sx;
    if (pts < 2 || !(det > 1e-12 * sw * sxx))
      return err_set(err, CS_EINVAL, "fewer than 2 weighted points with x %s 0: no line to fit",
                     s == 0 ? ">" : "<");
    double slope = (sw * sxy - sx * sy) / det, icpt = (sy - slope * sx) / sw;
    for (size_t j = 0; j < n; j++)
      if ((s == 0) == (x[j] > 0)) fit[j] = slope * x[j] + icpt;
  }
  return CS_OK;
}

int kinks_paper_lr(const Net *net, const double *theta, const double *x, const double *w,
                   size_t n, double *lr, Err *err) {
  if (n > 64) return err_set(err, CS_EINVAL, "the paper's step size takes at most 64 points");
  const double *a, *b, *wo;
  double c;
  params(net, theta, &a, &b, &wo, &c);
  /* G_s = [[Σaa + Σww, Σab], [Σab, Σbb + Σww]] over the neurons with sign(a_i) = s:
   * the tangent kernel of the (slope, intercept) of side s; the bias c adds 1 everywhere. */
  double G[2][3] = {{0}};
  for (size_t i = 0; i < net->layer[0].out; i++) {
    if (a[i] == 0) continue;
    double *g = G[a[i] > 0 ? 0 : 1];
    g[0] += a[i] * a[i] + wo[i] * wo[i];
    g[1] += a[i] * b[i];
    g[2] += b[i] * b[i] + wo[i] * wo[i];
  }
  /* K_jk = [x_j 1] G_s [x_k 1]ᵀ on a side (same sign), + 1; then P^{1/2} K P^{1/2}. */
  double K[64 * 64], lam[64];
  for (size_t j = 0; j < n; j++)
    for (size_t k = 0; k < n; k++) {
      double v = 1.0;
      if ((x[j] > 0) == (x[k] > 0)) {
        const double *g = G[x[j] > 0 ? 0 : 1];
        v += g[0] * x[j] * x[k] + g[1] * (x[j] + x[k]) + g[2];
      }
      K[j * n + k] = v * sqrt(w[j] / (double)n) * sqrt(w[k] / (double)n);
    }
  if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)n, K, (lapack_int)n, lam) != 0 ||
      !(lam[n - 1] > 0))
    return err_set(err, CS_EINVAL, "the paper's step size: λ_max(A_ref M) is not positive");
  *lr = 1.0 / lam[n - 1];
  return CS_OK;
}
