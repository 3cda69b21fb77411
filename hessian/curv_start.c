/*
 * curv_start.c: the mean-Jacobian ("jmean") start vector of curv_start.h.
 */
#include "hessian/curv_start.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "hessian/curv.h"

int curv_start_parse(const char *text, CurvStart *s, Err *err) {
  s->kind = CURV_START_GAUSSIAN;
  s->frac = CURV_START_FRAC_DEFAULT;
  if (!text || !strcmp(text, "gaussian")) return CS_OK;
  if (strncmp(text, "jmean", 5) || (text[5] && text[5] != ':'))
    return err_set(err, CS_EINVAL, "start vector '%s': expected gaussian or jmean[:frac=F]", text);
  s->kind = CURV_START_JMEAN;
  if (!text[5]) return CS_OK;
  const char *p = text + 6;
  char *end = NULL;
  if (strncmp(p, "frac=", 5) ||
      (s->frac = strtod(p + 5, &end), end == p + 5 || *end) || !(s->frac > 0.0 && s->frac <= 1.0))
    return err_set(err, CS_EINVAL, "start vector '%s': expected jmean:frac=F with F in (0, 1]", text);
  return CS_OK;
}

/* Rows floor(j·n/m), j < m, of b copied into X [m][d_in] and Y [m][d_out]. */
static void strided_rows(const Net *net, const Batch *b, size_t m, double *X, double *Y) {
  for (size_t j = 0; j < m; j++) {
    size_t i = (size_t)((double)j * (double)b->n / (double)m);
    memcpy(X + j * net->d_in, b->X + i * net->d_in, net->d_in * sizeof *X);
    memcpy(Y + j * net->d_out, b->Y + i * net->d_out, net->d_out * sizeof *Y);
  }
}

/* H̄ [K][K] = mean over the m rows of the loss's output Hessian at outputs F. */
static void mean_output_hessian(LossKind loss, size_t m, size_t K, const double *F,
                                const double *Y, double *aux, double *RF, double *RGL,
                                double *H) {
  loss_eval(loss, NULL, m, K, F, Y, 1.0, NULL, aux);
  for (size_t a = 0; a < K; a++) {
    memset(RF, 0, m * K * sizeof *RF);
    for (size_t i = 0; i < m; i++) RF[i * K + a] = 1.0;
    loss_hess_apply(loss, NULL, m, K, aux, Y, RF, 1.0 / (double)m, RGL);
    for (size_t c = 0; c < K; c++) {
      double s = 0.0;
      for (size_t i = 0; i < m; i++) s += RGL[i * K + c];
      H[c * K + a] = s;
    }
  }
}

/* Y [kk][K]: y_j = H̄^{1/2} z_j, z_j the eigenvector of the j-th largest eigenvalue of
 * S = H̄^{1/2} C H̄^{1/2} (all [K][K], symmetric; H and C are overwritten), j < kk <= K.
 * *kept: how many of them S does not annihilate (cross-entropy's H̄ has the null vector
 * 1: at most K − 1 directions). 0 on success. */
static int top_directions(size_t K, size_t kk, double *H, double *C, double *Y, size_t *kept) {
  size_t KK = K * K;
  double *w = malloc(K * sizeof *w), *h = malloc(KK * sizeof *h), *S = malloc(KK * sizeof *S);
  int rc = !w || !h || !S || LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)K, H,
                                           (lapack_int)K, w);
  if (!rc) {
    /* h = V diag(√max(w, 0)) Vᵀ: H̄ is positive semi-definite up to rounding */
    for (size_t i = 0; i < K; i++)
      for (size_t j = 0; j < K; j++) {
        double s = 0.0;
        for (size_t q = 0; q < K; q++) s += H[i * K + q] * sqrt(fmax(w[q], 0.0)) * H[j * K + q];
        h[i * K + j] = s;
      }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)K, (int)K, 1.0, h,
                (int)K, C, (int)K, 0.0, S, (int)K);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)K, (int)K, 1.0, S,
                (int)K, h, (int)K, 0.0, C, (int)K);
    rc = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)K, C, (lapack_int)K, w) != 0;
  }
  *kept = 0;
  if (!rc) /* dsyev's values ascend: the j-th largest's eigenvector is column K − 1 − j */
    for (size_t j = 0; j < kk && w[K - 1 - j] > 1e-12 * w[K - 1]; j++, ++*kept)
      for (size_t i = 0; i < K; i++) {
        double s = 0.0;
        for (size_t q = 0; q < K; q++) s += h[i * K + q] * C[q * K + (K - 1 - j)];
        Y[j * K + i] = s;
      }
  free(w), free(h), free(S);
  return rc;
}

int curv_start_jmean(const Net *net, LossKind loss, const double *theta, const Batch *b,
                     double frac, size_t k, double *v, size_t *rows, Err *err) {
  if (loss_couples_rows(loss))
    return err_set(err, CS_EINVAL, "the jmean start is for MSE and cross-entropy, not %s",
                   loss_name(loss));
  if (comm_active(b->comm))
    return err_set(err, CS_EINVAL, "the jmean start is not available on a data-parallel batch "
                   "(every rank would start elsewhere): use the gaussian start");
  if (!(frac > 0.0 && frac <= 1.0) || b->n == 0)
    return err_set(err, CS_EINVAL, "jmean start: frac %g outside (0, 1] or an empty batch", frac);
  size_t P = net->n_params, K = net->d_out, kk = k < 1 ? 1 : k > K ? K : k;
  size_t m = (size_t)ceil(frac * (double)b->n);
  if (m < CURV_START_MIN_ROWS) m = CURV_START_MIN_ROWS;
  if (m > b->n) m = b->n;
  double *X = malloc(m * net->d_in * sizeof *X), *Y = malloc(m * K * sizeof *Y);
  double *F = malloc(m * K * sizeof *F), *aux = malloc(m * K * sizeof *aux);
  double *U = malloc(m * K * sizeof *U), *RGL = malloc(m * K * sizeof *RGL);
  double *M = malloc(P * K * sizeof *M);
  double *H = malloc(K * K * sizeof *H), *C = malloc(K * K * sizeof *C);
  double *y = malloc(kk * K * sizeof *y), *u = malloc(P * sizeof *u);
  Curvature *c = NULL;
  int rc = CS_OK;
  if (!X || !Y || !F || !aux || !U || !RGL || !M || !H || !C || !y || !u) {
    rc = err_set(err, CS_ENOMEM, "jmean start: out of memory (%zu x %zu Jacobian)", P, K);
    goto done;
  }
  strided_rows(net, b, m, X, Y);
  Batch sub = {.X = X, .Y = Y, .n = m};
  if (!(c = curv_alloc(net, loss, m, m, err)) || (rc = curv_build(c, theta, &sub, err))) {
    if (!rc) rc = err->code ? err->code : CS_ENOMEM;
    goto done;
  }
  /* column a of M: Jᵀu with u_i = e_a / m, the gradient of the outputs' mean f_a */
  for (size_t a = 0; a < K; a++) {
    memset(U, 0, m * K * sizeof *U);
    for (size_t i = 0; i < m; i++) U[i * K + a] = 1.0 / (double)m;
    if ((rc = curv_vjp(c, U, M + a * P))) {
      err_set(err, rc, "jmean start: the Jacobian-transpose product failed");
      goto done;
    }
  }
  curv_outputs(c, F);
  mean_output_hessian(loss, m, K, F, Y, aux, U, RGL, H);
  /* C = MᵀM: M is column-major P × K (column a at M + a·P) */
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)K, (int)P, 1.0, M, (int)P, M,
              (int)P, 0.0, C, (int)K);
  size_t kept = 0;
  if (top_directions(K, kk, H, C, y, &kept)) {
    rc = err_set(err, CS_ENOCONV, "jmean start: LAPACK dsyev failed on a %zu x %zu matrix", K, K);
    goto done;
  }
  if (kept == 0) {
    rc = err_set(err, CS_EINVAL, "jmean start: the outputs' mean Jacobian vanishes here: use "
                 "the gaussian start");
    goto done;
  }
  /* the u_j = M y_j are orthogonal (z_iᵀ S z_j = 0): their unit sum overlaps each alike */
  memset(v, 0, P * sizeof *v);
  for (size_t j = 0; j < kept; j++) {
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)P, (int)K, 1.0, M, (int)P, y + j * K, 1, 0.0,
                u, 1);
    double nu = cblas_dnrm2((int)P, u, 1);
    if (!(nu > 0.0) || !isfinite(nu)) {
      rc = err_set(err, CS_EINVAL, "jmean start: a direction of norm %g: use the gaussian "
                   "start", nu);
      goto done;
    }
    cblas_daxpy((int)P, 1.0 / nu, u, 1, v, 1);
  }
  cblas_dscal((int)P, 1.0 / cblas_dnrm2((int)P, v, 1), v, 1);
  if (rows) *rows = m;
done:
  curv_free(c);
  free(u), free(X), free(Y), free(F), free(aux), free(U), free(RGL), free(M), free(H), free(C), free(y);
  return rc;
}
