/*
 * analysis.c: a run's PC-bias numbers from its e_j(t) history (see pcbias.h).
 *
 * Which rate: r_j = −log e_j(t₁)/t₁ at one early time t₁ for all components, by
 * default the first measurement where the median e_j has fallen below ½. A rate
 * fitted over the whole run (kept as pc_rate_whole) mixes the initial plateau of a
 * deep net into every component and ranks them the wrong way: a fast component
 * spends most of its short fit in the plateau, a slow one mostly in its decay
 * (docs/PCBIAS.md shows both). A component already below 1e-8 at t₁ takes its
 * rate at the last measurement before it got there, where round-off does not yet
 * set e_j. τ_j is interpolated log-linearly between measurements, so components
 * converging between two measurements are still ordered.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pcbias.h"

#define E_FLOOR 1e-8

typedef struct { double v; size_t i; } Ranked;

static int cmp_ranked(const void *a, const void *b) {
  double x = ((const Ranked *)a)->v, y = ((const Ranked *)b)->v;
  return x < y ? -1 : x > y;
}

/* Average ranks (1-based) of x into r; r and tmp have n entries. */
static void ranks(const double *x, size_t n, double *r, Ranked *tmp) {
  for (size_t i = 0; i < n; i++) tmp[i] = (Ranked){x[i], i};
  qsort(tmp, n, sizeof *tmp, cmp_ranked);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && tmp[j + 1].v == tmp[i].v) j++;
    double avg = 0.5 * (double)(i + j) + 1.0;
    for (size_t t = i; t <= j; t++) r[tmp[t].i] = avg;
    i = j + 1;
  }
}

static double pearson(const double *x, const double *y, size_t n) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
  mx /= (double)n, my /= (double)n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

double pc_spearman(const double *x, const double *y, size_t n) {
  if (n < 2) return NAN;
  for (size_t i = 0; i < n; i++)
    if (isnan(x[i]) || isnan(y[i])) return NAN;
  double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
  Ranked *tmp = malloc(n * sizeof *tmp);
  double rho = NAN;
  if (rx && ry && tmp) {
    ranks(x, n, rx, tmp);
    ranks(y, n, ry, tmp);
    rho = pearson(rx, ry, n);
  }
  free(rx), free(ry), free(tmp);
  return rho;
}

double pc_first_below(const long *t, const double *e, size_t M, size_t stride, double eps) {
  for (size_t i = 0; i < M; i++) {
    double v = e[i * stride];
    if (!(v < eps)) continue;
    if (i == 0) return (double)t[0];
    double a = e[(i - 1) * stride];
    if (!(v > 0) || !(a > 0) || a == v) return (double)t[i];
    double f = (log(eps) - log(a)) / (log(v) - log(a));
    return (double)t[i - 1] + f * (double)(t[i] - t[i - 1]);
  }
  return NAN;
}

/* Least-squares slope of y on x over n points; NAN when fewer than 2 or x constant. */
static double ls_slope(const double *x, const double *y, size_t n) {
  if (n < 2) return NAN;
  double mx = 0, my = 0, sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
  mx /= (double)n, my /= (double)n;
  for (size_t i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : NAN;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median of the finite values among v[0..n) (tmp: n scratch); NAN when none. */
static double median(const double *v, size_t n, double *tmp) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(v[i])) tmp[m++] = v[i];
  if (!m) return NAN;
  qsort(tmp, m, sizeof *tmp, cmp_double);
  return m % 2 ? tmp[m / 2] : 0.5 * (tmp[m / 2 - 1] + tmp[m / 2]);
}

/* The measurement index of t₁. */
static size_t pick_t1(const PcAnalysisOpts *o, const long *t, const double *e, size_t M,
                      double *tmp) {
  for (size_t i = 1; i < M; i++) {
    if (o->t1 >= 0 ? t[i] >= o->t1 : median(e + i * o->k, o->k, tmp) < 0.5) return i;
  }
  return M - 1;
}

void pc_analysis_free(PcAnalysis *a) {
  if (!a) return;
  free(a->rate), free(a->tau), free(a->theory), free(a->whole);
  memset(a, 0, sizeof *a);
}

int pc_analyze(const PcAnalysisOpts *o, const long *t, const double *e, size_t M,
               const double *d, PcAnalysis *a, Err *err) {
  size_t k = o->k;
  memset(a, 0, sizeof *a);
  a->rate = malloc(k * sizeof *a->rate);
  a->tau = malloc(k * sizeof *a->tau);
  a->theory = malloc(k * sizeof *a->theory);
  a->whole = malloc(k * sizeof *a->whole);
  size_t nt = (M > k ? M : k) * 2;
  double *tmp = malloc(nt * sizeof *tmp), *idx = malloc(k * sizeof *idx);
  if (!a->rate || !a->tau || !a->theory || !a->whole || !tmp || !idx) {
    free(tmp), free(idx);
    pc_analysis_free(a);
    return err_set(err, CS_ENOMEM, "pc-bias: out of memory for the analysis of %zu components", k);
  }
  a->rate_spearman = a->rate_slope = a->ratio_spread = a->rate_spread = a->theory_ratio = NAN;
  a->tau_spearman = a->whole_spearman = a->theory_max_err = NAN;
  a->t1 = -1;
  for (size_t j = 0; j < k; j++) {
    a->theory[j] = -log(fabs(1.0 - o->lr * o->depth * d[j]));
    a->rate[j] = a->tau[j] = a->whole[j] = NAN;
    idx[j] = (double)(j + 1);
  }
  if (M >= 2) {
    size_t i1 = pick_t1(o, t, e, M, tmp);
    a->t1 = t[i1];
    for (size_t j = 0; j < k; j++) {
      size_t i = i1;
      while (i > 1 && !(e[i * k + j] >= E_FLOOR)) i--;
      double v = e[i * k + j];
      a->rate[j] = v > 0 && t[i] > t[0] ? -log(v) / (double)(t[i] - t[0]) : NAN;
      a->tau[j] = pc_first_below(t, e + j, M, k, o->eps);
      double *xs = tmp, *ys = tmp + M;
      size_t n = 0;
      for (size_t r = 0; r < M; r++)
        if (e[r * k + j] >= E_FLOOR) xs[n] = (double)t[r], ys[n++] = -log(e[r * k + j]);
      a->whole[j] = ls_slope(xs, ys, n);
    }
    a->rate_spearman = pc_spearman(a->rate, d, k);
    a->whole_spearman = pc_spearman(a->whole, d, k);
    /* τ against j with the components that never got below ε ranked last (tied) */
    double *tau_c = tmp;
    for (size_t j = 0; j < k; j++) {
      tau_c[j] = isnan(a->tau[j]) ? INFINITY : a->tau[j];
      a->tau_reached += !isnan(a->tau[j]);
    }
    if (a->tau_reached) a->tau_spearman = pc_spearman(tau_c, idx, k);
    /* log-log slope, ratio spreads, the ratio to the theory's rate */
    double *lx = tmp, *ly = tmp + k;
    size_t n = 0;
    double rmin = INFINITY, rmax = 0, qmin = INFINITY, qmax = 0;
    for (size_t j = 0; j < k; j++) {
      double r = a->rate[j];
      if (!(r > 0) || !(d[j] > 0)) continue;
      lx[n] = log(d[j]), ly[n++] = log(r);
      rmin = fmin(rmin, r), rmax = fmax(rmax, r);
      qmin = fmin(qmin, r / d[j]), qmax = fmax(qmax, r / d[j]);
    }
    /* on a flat spectrum (whitened data) the exponent is not defined */
    a->rate_slope = d[0] > 1.01 * d[k - 1] ? ls_slope(lx, ly, n) : NAN;
    if (n) a->rate_spread = rmax / rmin, a->ratio_spread = qmax / qmin;
    for (size_t j = 0; j < k; j++) tmp[j] = a->rate[j] / a->theory[j];
    a->theory_ratio = median(tmp, k, tmp + k);
    if (o->exact) {
      double worst = 0;
      for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < k; j++) {
          double want = pow(fabs(1.0 - o->lr * d[j]), (double)t[i]);
          double dv = fabs(e[i * k + j] - want);
          if (!(dv <= worst)) worst = dv;
        }
      a->theory_max_err = worst;
    }
  }
  free(tmp), free(idx);
  return CS_OK;
}
