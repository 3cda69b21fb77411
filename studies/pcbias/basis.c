/*
 * basis.c: the data's principal directions and least-squares solution, and the
 * end-to-end matrix of a deep linear net projected on them (see pcbias.h).
 *
 * Workload: pc_basis_compute once per run (one n×d×d SYRK and a d×d eigensolve by
 * LAPACK); pc_end_to_end and pc_project at every measurement: a chain of d_out ×
 * width products and one d_out × d × d GEMM, small beside a training step's
 * n × d × width GEMMs (docs/PCBIAS.md, "Cost").
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lanczos/eig.h"
#include "pcbias.h"

void pc_basis_free(PcBasis *b) {
  if (!b) return;
  free(b->eval);
  free(b->evec);
  free(b->w_star);
  memset(b, 0, sizeof *b);
}

int pc_basis_compute(const double *X, const double *Y, size_t n, size_t d, size_t m, PcBasis *b,
                     Err *err) {
  memset(b, 0, sizeof *b);
  if (n == 0 || d == 0 || m == 0)
    return err_set(err, CS_EINVAL, "pc-bias: need examples, inputs and targets (n=%zu d=%zu m=%zu)",
                   n, d, m);
  double *S = malloc(d * d * sizeof *S), *w = malloc(d * sizeof *w);
  double *V = malloc(d * d * sizeof *V), *syx = malloc(m * d * sizeof *syx);
  double *A = malloc(m * d * sizeof *A);
  b->eval = malloc(d * sizeof *b->eval);
  b->evec = malloc(d * d * sizeof *b->evec);
  b->w_star = malloc(m * d * sizeof *b->w_star);
  int rc = CS_OK;
  if (!S || !w || !V || !syx || !A || !b->eval || !b->evec || !b->w_star) {
    rc = err_set(err, CS_ENOMEM, "pc-bias: out of memory for the %zu x %zu covariance", d, d);
    goto out;
  }
  b->d = d;
  b->m = m;
  /* Σ = XᵀX/n (upper triangle in row-major), mirrored: dsyevd reads the whole matrix
   * as column-major, where the same bytes are Σ again. */
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0 / (double)n, X, (int)d,
              0.0, S, (int)d);
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < i; j++) S[i * d + j] = S[j * d + i];
  if ((rc = dense_eig_sym(d, S, w, V, err))) goto out;
  /* ascending, eigenvector j at V + j*d: reverse into descending rows */
  for (size_t j = 0; j < d; j++) {
    b->eval[j] = w[d - 1 - j] > 0 ? w[d - 1 - j] : 0.0;
    memcpy(b->evec + j * d, V + (d - 1 - j) * d, d * sizeof *V);
  }
  /* W* = Σ_YX U D⁺ Uᵀ with Σ_YX = YᵀX/n */
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)d, (int)n, 1.0 / (double)n, Y,
              (int)m, X, (int)d, 0.0, syx, (int)d);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)d, (int)d, 1.0, syx, (int)d,
              b->evec, (int)d, 0.0, A, (int)d);
  double cut = (double)d * DBL_EPSILON * b->eval[0];
  for (size_t j = 0; j < d; j++) {
    int keep = b->eval[j] > cut;
    b->rank += (size_t)keep;
    for (size_t c = 0; c < m; c++) A[c * d + j] = keep ? A[c * d + j] / b->eval[j] : 0.0;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)d, (int)d, 1.0, A, (int)d,
              b->evec, (int)d, 0.0, b->w_star, (int)d);
out:
  free(S), free(w), free(V), free(syx), free(A);
  if (rc) pc_basis_free(b);
  return rc;
}

int pc_net_check_linear(const Net *net, Err *err) {
  if (net->spec.embed != EMB_NONE || net->first_trainable != 0)
    return err_set(err, CS_EINVAL, "pc-bias needs a net without an input embedding");
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (L->has_bias)
      return err_set(err, CS_EINVAL, "pc-bias needs a bias-free net (layer %d has a bias; use "
                     "bias=none)", l + 1);
    if (l < net->nlayers - 1 && L->act.kind != ACT_IDENTITY)
      return err_set(err, CS_EINVAL, "pc-bias needs identity activations (layer %d: %s)", l + 1,
                     act_name(L->act.kind));
    if (L->s || L->alpha != 1.0 || !L->trainable)
      return err_set(err, CS_EINVAL, "pc-bias needs plain dense layers (layer %d is scaled or "
                     "frozen)", l + 1);
  }
  return CS_OK;
}

size_t pc_end_to_end_work(const Net *net) {
  size_t wmax = 0;
  for (int l = 0; l < net->nlayers; l++)
    if (net->layer[l].in > wmax) wmax = net->layer[l].in;
  return 2 * net->d_out * wmax;
}

void pc_end_to_end(const Net *net, const double *theta, double *W, double *work) {
  int L = net->nlayers;
  size_t m = net->d_out;
  if (L == 1) {
    memcpy(W, net_W(net, 0, theta), m * net->d_in * sizeof *W);
    return;
  }
  /* M = W_L, then M ← M W_l for l = L-1 .. 1: M is [m][in_l], ping-ponging in work */
  const double *M = net_W(net, L - 1, theta);
  double *buf[2] = {work, work + pc_end_to_end_work(net) / 2};
  for (int l = L - 2; l >= 0; l--) {
    const Layer *ly = &net->layer[l];
    double *out = l == 0 ? W : buf[l & 1];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)ly->in, (int)ly->out, 1.0,
                M, (int)ly->out, net_W(net, l, theta), (int)ly->in, 0.0, out, (int)ly->in);
    M = out;
  }
}

double pc_project(const PcBasis *b, const double *W, size_t k, double *norms, double *P,
                  double *Dw) {
  size_t d = b->d, m = b->m;
  for (size_t i = 0; i < m * d; i++) Dw[i] = W[i] - b->w_star[i];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)d, (int)d, 1.0, Dw, (int)d,
              b->evec, (int)d, 0.0, P, (int)d);
  double excess = 0.0;
  for (size_t j = 0; j < d; j++) {
    double s = 0.0;
    for (size_t c = 0; c < m; c++) s += P[c * d + j] * P[c * d + j];
    if (j < k) norms[j] = sqrt(s);
    excess += b->eval[j] * s;
  }
  return 0.5 * excess;
}
