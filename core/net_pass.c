/*
 * net_pass.c: forward, backward, R-forward and R-backward over a batch.
 *
 * One R-engine serves the gradient, the exact Hessian-vector product, the
 * Gauss-Newton product, Jacobian products and the Stein divergence gradient
 * (MATH.md). Dense layers are GEMMs through CBLAS; every elementwise step is one
 * fused pass over rows with OpenMP. Nothing here allocates: workspaces come
 * from net_cache_alloc / net_rwork_alloc.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define OMP_ROWS(n, w) if ((size_t)(n) * (size_t)(w) > 8192)

/* The widest activation: R{G} and R{D} never take the input's width (R{D} stops at
 * the first layer's output), which on wide inputs (3072) saves most of the memory. */
static size_t max_width(const Net *net) {
  size_t m = 0;
  for (int l = 0; l < net->nlayers; l++)
    if (net->layer[l].out_act > m) m = net->layer[l].out_act;
  return m;
}

/* An identity layer without per-unit scales: d1 = 1, d2 = 0, A = U. */
static int plain_identity(const Layer *L) { return L->act.kind == ACT_IDENTITY && !L->s; }

NetCache *net_cache_alloc(const Net *net, size_t cap, int second_order) {
  NetCache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->cap = cap;
  c->second_order = second_order;
  int ok = 1;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    ok &= !!(c->A[l] = malloc(cap * L->out_act * sizeof(double)));
    ok &= !!(c->d1[l] = malloc(cap * L->out * sizeof(double)));
    if (second_order) ok &= !!(c->d2[l] = malloc(cap * L->out * sizeof(double)));
    ok &= !!(c->G[l] = malloc(cap * L->out * sizeof(double)));
    if (l < net->nlayers - 1) ok &= !!(c->D[l] = malloc(cap * L->out_act * sizeof(double)));
  }
  ok &= !!(c->aux = malloc(cap * net->d_out * sizeof(double)));
  ok &= !!(c->ones = malloc(cap * sizeof(double)));
  if (!ok) {
    net_cache_free(c);
    return NULL;
  }
  for (size_t i = 0; i < cap; i++) c->ones[i] = 1.0;
  return c;
}

void net_cache_free(NetCache *c) {
  if (!c) return;
  for (int l = 0; l < NET_MAX_LAYERS; l++) {
    free(c->A[l]);
    free(c->d1[l]);
    free(c->d2[l]);
    free(c->G[l]);
    free(c->D[l]);
  }
  free(c->aux);
  free(c->ones);
  free(c);
}

NetRWork *net_rwork_alloc(const Net *net, size_t cap) {
  NetRWork *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->cap = cap;
  size_t mw = max_width(net);
  int ok = 1;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    ok &= !!(w->RU[l] = malloc(cap * L->out * sizeof(double)));
    ok &= !!(w->RA[l] = malloc(cap * L->out_act * sizeof(double)));
  }
  ok &= !!(w->RG = malloc(cap * mw * sizeof(double)));
  ok &= !!(w->RD = malloc(cap * mw * sizeof(double)));
  if (!ok) {
    net_rwork_free(w);
    return NULL;
  }
  return w;
}

void net_rwork_free(NetRWork *w) {
  if (!w) return;
  for (int l = 0; l < NET_MAX_LAYERS; l++) {
    free(w->RU[l]);
    free(w->RA[l]);
  }
  free(w->RG);
  free(w->RD);
  free(w);
}

/* ------------------------------------------------------------------ forward */

/* C[n][out] = alpha * A[n][in] Wᵀ + beta_c * C */
static void gemm_nt(size_t n, size_t out, size_t in, double alpha, const double *A, const double *W,
                    double beta_c, double *C) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, alpha, A,
              (int)in, W, (int)in, beta_c, C, (int)out);
}

/* C[out][in] += alpha * G[n][out]ᵀ A[n][in] */
static void gemm_tn_acc(size_t n, size_t out, size_t in, double alpha, const double *G,
                        const double *A, double *C) {
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n, alpha, G,
              (int)out, A, (int)in, 1.0, C, (int)in);
}

/* C[n][in] = alpha * G[n][out] W[out][in] + beta_c * C */
static void gemm_nn(size_t n, size_t in, size_t out, double alpha, const double *G, const double *W,
                    double beta_c, double *C) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out, alpha, G,
              (int)out, W, (int)in, beta_c, C, (int)in);
}

/* b[out] += alpha * Gᵀ 1 */
static void colsum_acc(size_t n, size_t out, double alpha, const double *G, const double *ones,
                       double *b) {
  cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)out, alpha, G, (int)out, ones, 1, 1.0, b, 1);
}

void net_forward(const Net *net, const double *theta, const double *X, size_t n, NetCache *c) {
  c->n = n;
  c->X = X;
  const double *Ain = X;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    const double *W = net_W(net, l, theta), *b = net_b(net, l, theta);
    size_t out = L->out;
    double *A = c->A[l], *d1 = c->d1[l], *d2 = c->second_order ? c->d2[l] : NULL;
    if (L->act.kind == ACT_COSSIN) {
      /* U into d1 (scratch), then A = [cos U | sin U] row by row. */
      gemm_nt(n, out, L->in, L->alpha, Ain, W, 0.0, d1);
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
      for (size_t i = 0; i < n; i++) {
        const double *u = d1 + i * out;
        double *a = A + i * 2 * out;
        for (size_t j = 0; j < out; j++) {
          double z = u[j] + (b ? L->beta * b[j] : 0.0);
          a[j] = cos(z);
          a[out + j] = sin(z);
        }
      }
      Ain = A;
      continue;
    }
    gemm_nt(n, out, L->in, L->alpha, Ain, W, 0.0, A);
    if (plain_identity(L)) {
      if (b) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
        for (size_t i = 0; i < n; i++)
          for (size_t j = 0; j < out; j++) A[i * out + j] += L->beta * b[j];
      }
      Ain = A;
      continue;
    }
    Act act = L->act;
    const double *s = L->s;
    double beta = L->beta;
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n; i++) {
      double *a = A + i * out, *g1 = d1 + i * out, *g2 = d2 ? d2 + i * out : NULL;
      if (b)
        for (size_t j = 0; j < out; j++) a[j] += beta * b[j];
      if (s)
        for (size_t j = 0; j < out; j++) a[j] *= s[j];
      act_eval(act, out, a, a, g1, g2);  /* in place: Z -> σ(Z) */
      if (s) {
        for (size_t j = 0; j < out; j++) g1[j] *= s[j];
        if (g2)
          for (size_t j = 0; j < out; j++) g2[j] *= s[j] * s[j];
      }
    }
    Ain = A;
  }
}

/* G_low = D ⊙ d1 (or the cos/sin pair for ACT_COSSIN) on n rows of layer L. */
static void grad_through_act(const Layer *L, size_t n, const double *D, const double *d1,
                             const double *A, double *G) {
  size_t out = L->out;
  if (L->act.kind == ACT_COSSIN) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n; i++) {
      const double *dc = D + i * 2 * out, *a = A + i * 2 * out;
      double *g = G + i * out;
      for (size_t j = 0; j < out; j++) g[j] = -dc[j] * a[out + j] + dc[out + j] * a[j];
    }
    return;
  }
  if (plain_identity(L)) {
    if (G != D) memcpy(G, D, n * out * sizeof *G);
    return;
  }
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
  for (size_t i = 0; i < n * out; i++) G[i] = D[i] * d1[i];
}

void net_backward(const Net *net, const double *theta, NetCache *c, const double *GL,
                  double *grad) {
  size_t n = c->n;
  int top = net->nlayers - 1, low = net->first_trainable;
  grad_through_act(&net->layer[top], n, GL, c->d1[top], c->A[top], c->G[top]);
  for (int l = top; l >= low; l--) {
    const Layer *L = &net->layer[l];
    const double *Ain = l ? c->A[l - 1] : c->X;
    if (grad && L->trainable) {
      gemm_tn_acc(n, L->out, L->in, L->alpha, c->G[l], Ain, grad + L->w_off);
      if (L->has_bias) colsum_acc(n, L->out, L->beta, c->G[l], c->ones, grad + L->b_off);
    }
    if (l > low) {
      gemm_nn(n, L->in, L->out, L->alpha, c->G[l], net_W(net, l, theta), 0.0, c->D[l - 1]);
      grad_through_act(&net->layer[l - 1], n, c->D[l - 1], c->d1[l - 1], c->A[l - 1],
                       c->G[l - 1]);
    }
  }
}

/* ---------------------------------------------------------------- R-passes */

void net_rforward(const Net *net, const double *theta, const NetCache *c, const double *v,
                  const double *RA0, NetRWork *w) {
  size_t n = c->n;
  const double *RAin = RA0;  /* NULL: identically zero */
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    const double *Ain = l ? c->A[l - 1] : c->X;
    int has_v = v && L->trainable;
    w->ra_is_ru[l] = plain_identity(L);
    if (!RAin && !has_v) {
      w->zero[l] = 1;
      continue;
    }
    w->zero[l] = 0;
    size_t out = L->out;
    double *RU = w->ra_is_ru[l] ? w->RA[l] : w->RU[l];
    double beta_c = 0.0;
    if (RAin) {
      gemm_nt(n, out, L->in, L->alpha, RAin, net_W(net, l, theta), 0.0, RU);
      beta_c = 1.0;
    }
    if (has_v) gemm_nt(n, out, L->in, L->alpha, Ain, v + L->w_off, beta_c, RU);
    const double *c_b = has_v && L->has_bias ? v + L->b_off : NULL;
    double beta = L->beta;
    double *RA = w->RA[l];
    const double *d1 = c->d1[l], *A = c->A[l];
    if (L->act.kind == ACT_COSSIN) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
      for (size_t i = 0; i < n; i++) {
        double *ru = RU + i * out, *ra = RA + i * 2 * out;
        const double *a = A + i * 2 * out;
        for (size_t j = 0; j < out; j++) {
          if (c_b) ru[j] += beta * c_b[j];
          ra[j] = -a[out + j] * ru[j];
          ra[out + j] = a[j] * ru[j];
        }
      }
    } else if (w->ra_is_ru[l]) {
      if (c_b) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
        for (size_t i = 0; i < n; i++)
          for (size_t j = 0; j < out; j++) RU[i * out + j] += beta * c_b[j];
      }
    } else {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
      for (size_t i = 0; i < n; i++) {
        double *ru = RU + i * out, *ra = RA + i * out;
        const double *g1 = d1 + i * out;
        if (c_b)
          for (size_t j = 0; j < out; j++) ru[j] += beta * c_b[j];
        for (size_t j = 0; j < out; j++) ra[j] = g1[j] * ru[j];
      }
    }
    RAin = RA;
  }
}

/* R{G} of layer L (below a dense layer) from R{D}:
 *   R{G} = R{D} ⊙ d1 + [hessian] D ⊙ d2 ⊙ R{U}   (cos/sin pair for ACT_COSSIN). */
static void rgrad_through_act(const Layer *L, size_t n, const double *RD, const NetCache *c, int l,
                              const NetRWork *w, int hessian, double *RG) {
  size_t out = L->out;
  const double *d1 = c->d1[l], *d2 = c->d2[l], *D = c->D[l], *A = c->A[l];
  const double *RU = w->zero[l] ? NULL : (w->ra_is_ru[l] ? w->RA[l] : w->RU[l]);
  int curv = hessian && RU && D;
  if (L->act.kind == ACT_COSSIN) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n; i++) {
      const double *rd = RD + i * 2 * out, *a = A + i * 2 * out;
      double *rg = RG + i * out;
      for (size_t j = 0; j < out; j++) {
        double cz = a[j], sz = a[out + j];
        double g = -rd[j] * sz + rd[out + j] * cz;
        if (curv) {
          const double *dd = D + i * 2 * out;
          g -= (dd[j] * cz + dd[out + j] * sz) * RU[i * out + j];
        }
        rg[j] = g;
      }
    }
    return;
  }
  if (plain_identity(L)) {
    memcpy(RG, RD, n * out * sizeof *RG);
    return;
  }
  if (curv && d2) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n * out; i++) RG[i] = RD[i] * d1[i] + D[i] * d2[i] * RU[i];
  } else {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n * out; i++) RG[i] = RD[i] * d1[i];
  }
}

void net_rbackward(const Net *net, const double *theta, const NetCache *c, const double *v,
                   const double *RA0, NetRWork *w, const double *RGL, int mode, double *out) {
  size_t n = c->n;
  int top = net->nlayers - 1, low = net->first_trainable;
  int hessian = mode == NET_R_HESSIAN;
  double *RG = w->RG, *RD = w->RD;
  const Layer *T = &net->layer[top];
  if (T->s) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, T->out)
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < T->out; j++) RG[i * T->out + j] = RGL[i * T->out + j] * T->s[j];
  } else if (RG != RGL) {
    memcpy(RG, RGL, n * T->out * sizeof *RG);
  }
  for (int l = top; l >= low; l--) {
    const Layer *L = &net->layer[l];
    const double *Ain = l ? c->A[l - 1] : c->X;
    const double *RAin = l ? (w->zero[l - 1] ? NULL : w->RA[l - 1]) : RA0;
    int has_v = v && L->trainable;
    if (L->trainable) {
      double *oW = out + L->w_off;
      gemm_tn_acc(n, L->out, L->in, L->alpha, RG, Ain, oW);
      if (hessian && RAin) gemm_tn_acc(n, L->out, L->in, L->alpha, c->G[l], RAin, oW);
      if (L->has_bias) colsum_acc(n, L->out, L->beta, RG, c->ones, out + L->b_off);
    }
    if (l > low) {
      gemm_nn(n, L->in, L->out, L->alpha, RG, net_W(net, l, theta), 0.0, RD);
      if (hessian && has_v) gemm_nn(n, L->in, L->out, L->alpha, c->G[l], v + L->w_off, 1.0, RD);
      rgrad_through_act(&net->layer[l - 1], n, RD, c, l - 1, w, hessian, RG);
    }
  }
}
