/* model.c: the Stein study's distributions with analytic scores and samplers (stein.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stein.h"

static const double LOG_2PI = 1.8378770664093453;

void stein_model_free(SteinModel *m) {
  if (!m) return;
  free(m->w), free(m->mu), free(m->chol), free(m->prec), free(m->logdet);
  free(m->B), free(m->b), free(m->c);
  memset(m, 0, sizeof *m);
}

/* L Lᵀ = A (d×d, row-major) in place, lower triangle; 0, or -1 when A is not positive
 * definite. The upper triangle is zeroed. */
static int cholesky(size_t d, double *A) {
  for (size_t j = 0; j < d; j++) {
    double s = A[j * d + j];
    for (size_t k = 0; k < j; k++) s -= A[j * d + k] * A[j * d + k];
    if (!(s > 0)) return -1;
    double ljj = sqrt(s);
    A[j * d + j] = ljj;
    for (size_t i = j + 1; i < d; i++) {
      double t = A[i * d + j];
      for (size_t k = 0; k < j; k++) t -= A[i * d + k] * A[j * d + k];
      A[i * d + j] = t / ljj;
    }
    for (size_t k = j + 1; k < d; k++) A[j * d + k] = 0;
  }
  return 0;
}

/* P = (L Lᵀ)^{-1}, column by column by two triangular solves. */
static void precision_from_chol(size_t d, const double *L, double *P) {
  memset(P, 0, d * d * sizeof *P);
  for (size_t j = 0; j < d; j++) P[j * d + j] = 1;
  /* P holds I; solve L Y = I then Lᵀ P = Y, columns as rows of the transpose */
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)d, (int)d,
              1.0, L, (int)d, P, (int)d);
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, (int)d, (int)d, 1.0,
              L, (int)d, P, (int)d);
}

int stein_mixture_init(SteinModel *m, size_t d, int K, const double *w, const double *mu,
                       const double *cov, Err *err) {
  memset(m, 0, sizeof *m);
  if (d < 1 || K < 1 || K > STEIN_MAX_COMPONENTS)
    return err_set(err, CS_EINVAL, "a mixture needs d >= 1 and 1 <= K <= %d", STEIN_MAX_COMPONENTS);
  m->kind = STEIN_MIXTURE;
  m->d = d;
  m->K = K;
  size_t k = (size_t)K;
  m->w = malloc(k * sizeof *m->w);
  m->mu = malloc(k * d * sizeof *m->mu);
  m->chol = malloc(k * d * d * sizeof *m->chol);
  m->prec = malloc(k * d * d * sizeof *m->prec);
  m->logdet = malloc(k * sizeof *m->logdet);
  if (!m->w || !m->mu || !m->chol || !m->prec || !m->logdet) {
    stein_model_free(m);
    return err_set(err, CS_ENOMEM, "out of memory for a mixture");
  }
  double wsum = 0;
  for (size_t j = 0; j < k; j++) {
    if (!(w[j] > 0) || !isfinite(w[j])) {
      stein_model_free(m);
      return err_set(err, CS_EINVAL, "mixture weight %zu is %g: must be > 0", j, w[j]);
    }
    wsum += w[j];
  }
  memcpy(m->mu, mu, k * d * sizeof *mu);
  memcpy(m->chol, cov, k * d * d * sizeof *cov);
  for (size_t j = 0; j < k; j++) {
    m->w[j] = w[j] / wsum;
    double *L = m->chol + j * d * d;
    if (cholesky(d, L)) {
      stein_model_free(m);
      return err_set(err, CS_EINVAL, "covariance %zu is not positive definite", j);
    }
    double ld = 0;
    for (size_t i = 0; i < d; i++) ld += 2 * log(L[i * d + i]);
    m->logdet[j] = ld;
    precision_from_chol(d, L, m->prec + j * d * d);
  }
  return CS_OK;
}

int stein_rbm_init(SteinModel *m, size_t d, size_t dh, const double *B, const double *b,
                   const double *c, long burnin, Err *err) {
  memset(m, 0, sizeof *m);
  if (d < 1 || dh < 1 || burnin < 0)
    return err_set(err, CS_EINVAL, "an RBM needs dx >= 1, dh >= 1 and burnin >= 0");
  m->kind = STEIN_RBM;
  m->d = d;
  m->dh = dh;
  m->burnin = burnin;
  m->B = malloc(d * dh * sizeof *m->B);
  m->b = malloc(d * sizeof *m->b);
  m->c = malloc(dh * sizeof *m->c);
  if (!m->B || !m->b || !m->c) {
    stein_model_free(m);
    return err_set(err, CS_ENOMEM, "out of memory for an RBM");
  }
  memcpy(m->B, B, d * dh * sizeof *B);
  memcpy(m->b, b, d * sizeof *b);
  memcpy(m->c, c, dh * sizeof *c);
  return CS_OK;
}

int stein_model_copy(SteinModel *dst, const SteinModel *src, Err *err) {
  if (src->kind == STEIN_RBM)
    return stein_rbm_init(dst, src->d, src->dh, src->B, src->b, src->c, src->burnin, err);
  /* the covariances back from their factors */
  size_t d = src->d, k = (size_t)src->K;
  double *cov = malloc(k * d * d * sizeof *cov);
  if (!cov) return err_set(err, CS_ENOMEM, "out of memory");
  for (size_t j = 0; j < k; j++) {
    const double *L = src->chol + j * d * d;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)d, 1.0, L, (int)d,
                L, (int)d, 0.0, cov + j * d * d, (int)d);
  }
  int rc = stein_mixture_init(dst, d, src->K, src->w, src->mu, cov, err);
  free(cov);
  return rc;
}

/* ------------------------------------------------------------- densities and scores */

/* log N(x; μ_j, Σ_j) and, when g is not NULL, its score −P_j (x − μ_j) into g; r is d scratch. */
static double gauss_logdens(const SteinModel *m, int j, const double *x, double *r, double *g) {
  size_t d = m->d;
  const double *mu = m->mu + (size_t)j * d, *P = m->prec + (size_t)j * d * d;
  for (size_t i = 0; i < d; i++) r[i] = x[i] - mu[i];
  double q = 0;
  for (size_t i = 0; i < d; i++) {
    double pi = 0;
    for (size_t k = 0; k < d; k++) pi += P[i * d + k] * r[k];
    q += r[i] * pi;
    if (g) g[i] = -pi;
  }
  return -0.5 * (q + m->logdet[j] + (double)d * LOG_2PI);
}

/* log cosh without overflow */
static double log_cosh(double t) {
  double a = fabs(t);
  return a + log1p(exp(-2 * a)) - 0.6931471805599453;
}

double stein_model_logdens(const SteinModel *m, const double *x) {
  size_t d = m->d;
  if (m->kind == STEIN_RBM) {
    double v = 0;
    for (size_t i = 0; i < d; i++) v += m->b[i] * x[i] - 0.5 * x[i] * x[i];
    for (size_t j = 0; j < m->dh; j++) {
      double t = m->c[j];
      for (size_t i = 0; i < d; i++) t += 0.5 * x[i] * m->B[i * m->dh + j];
      v += log_cosh(t);
    }
    return v;
  }
  double *r = malloc(d * sizeof *r), lmax = -INFINITY, s = 0;
  if (!r) return NAN;
  double lk[STEIN_MAX_COMPONENTS];
  int K = m->K;
  for (int j = 0; j < K; j++) {
    lk[j] = log(m->w[j]) + gauss_logdens(m, j, x, r, NULL);
    if (lk[j] > lmax) lmax = lk[j];
  }
  for (int j = 0; j < K; j++) s += exp(lk[j] - lmax);
  free(r);
  return lmax + log(s);
}

/* Mixture score: Σ_j r_j(x) s_j(x), r_j the responsibilities. */
static void mixture_score_row(const SteinModel *m, const double *x, double *s, double *r,
                              double *g) {
  size_t d = m->d;
  double lk[STEIN_MAX_COMPONENTS], lmax = -INFINITY, tot = 0;
  int K = m->K;
  for (int j = 0; j < K; j++) {
    lk[j] = log(m->w[j]) + gauss_logdens(m, j, x, r, NULL);
    if (lk[j] > lmax) lmax = lk[j];
  }
  for (int j = 0; j < K; j++) tot += (lk[j] = exp(lk[j] - lmax));
  memset(s, 0, d * sizeof *s);
  for (int j = 0; j < K; j++) {
    gauss_logdens(m, j, x, r, g);
    double rj = lk[j] / tot;
    for (size_t i = 0; i < d; i++) s[i] += rj * g[i];
  }
}

void stein_model_score(const SteinModel *m, size_t n, const double *X, double *S) {
  size_t d = m->d;
  if (m->kind == STEIN_RBM) {
    /* s(x) = b − x + ½ B tanh(½ Bᵀx + c) */
    size_t dh = m->dh;
#pragma omp parallel for schedule(static) if (n * d * dh > 65536)
    for (size_t i = 0; i < n; i++) {
      const double *x = X + i * d;
      double *s = S + i * d;
      for (size_t k = 0; k < d; k++) s[k] = m->b[k] - x[k];
      for (size_t j = 0; j < dh; j++) {
        double t = m->c[j];
        for (size_t k = 0; k < d; k++) t += 0.5 * x[k] * m->B[k * dh + j];
        double th = 0.5 * tanh(t);
        for (size_t k = 0; k < d; k++) s[k] += th * m->B[k * dh + j];
      }
    }
    return;
  }
#pragma omp parallel if (n * d * (size_t)m->K > 65536)
  {
    double *r = malloc(2 * d * sizeof *r);
#pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++)
      if (r) mixture_score_row(m, X + i * d, S + i * d, r, r + d);
    free(r);
  }
}

/* ------------------------------------------------------------------------ samplers */

static size_t pick_component(const SteinModel *m, Rng *rng) {
  double u = rng_uniform(rng), acc = 0;
  for (int j = 0; j < m->K; j++) {
    acc += m->w[j];
    if (u < acc) return (size_t)j;
  }
  return (size_t)m->K - 1;
}

/* Gibbs sweeps on n chains at once: h | x has P(h_j = +1) = sigmoid(2(½Bᵀx + c)_j), and
 * x | h ~ N(b + ½Bh, I). */
static int rbm_gibbs(const SteinModel *m, size_t n, Rng *rng, double *X, Err *err) {
  size_t d = m->d, dh = m->dh;
  double *H = malloc(n * dh * sizeof *H);
  if (!H) return err_set(err, CS_ENOMEM, "out of memory for Gibbs sampling");
  rng_normal_fill(rng, X, n * d);
  for (long t = 0; t <= m->burnin; t++) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)dh, (int)d, 1.0, X,
                (int)d, m->B, (int)dh, 0.0, H, (int)dh);
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < dh; j++) {
        double a = H[i * dh + j] + 2 * m->c[j];
        H[i * dh + j] = rng_uniform(rng) * (1 + exp(-a)) < 1 ? 1.0 : -1.0;
      }
    rng_normal_fill(rng, X, n * d);
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < d; k++) X[i * d + k] += m->b[k];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)d, (int)dh, 0.5, H,
                (int)dh, m->B, (int)dh, 1.0, X, (int)d);
  }
  free(H);
  return CS_OK;
}

int stein_model_sample(const SteinModel *m, size_t n, Rng *rng, double *X, Err *err) {
  size_t d = m->d;
  if (m->kind == STEIN_RBM) return rbm_gibbs(m, n, rng, X, err);
  double *z = malloc(d * sizeof *z);
  if (!z) return err_set(err, CS_ENOMEM, "out of memory for sampling");
  for (size_t i = 0; i < n; i++) {
    size_t j = pick_component(m, rng);
    const double *L = m->chol + j * d * d, *mu = m->mu + j * d;
    rng_normal_fill(rng, z, d);
    for (size_t a = 0; a < d; a++) {
      double v = mu[a];
      for (size_t b = 0; b <= a; b++) v += L[a * d + b] * z[b];
      X[i * d + a] = v;
    }
  }
  free(z);
  return CS_OK;
}
