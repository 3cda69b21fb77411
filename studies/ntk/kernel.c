/* kernel.c: the dense empirical NTK from per-layer Gram matrices, and its top pairs (ntk.h). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ntk.h"

struct NtkDense {
  const Net *net;
  size_t n_max;
  NetCache *cache;              /* second order: A and G both kept after the backward */
  double *GL;                   /* [n][d_out] the unit cotangent e_j on every row */
  double *Gs[NET_MAX_LAYERS];   /* [n·d_out][out_l]: g of row (i, j) at i·d_out + j */
  double *Gg, *Ga;              /* [N][N] and [n][n] Gram scratch */
};

int ntk_nlayers(const Net *net) {
  int t = 0;
  for (int l = 0; l < net->nlayers; l++) t += net->layer[l].trainable;
  return t;
}

void ntk_dense_free(NtkDense *w) {
  if (!w) return;
  net_cache_free(w->cache);
  free(w->GL);
  for (int l = 0; l < NET_MAX_LAYERS; l++) free(w->Gs[l]);
  free(w->Gg);
  free(w->Ga);
  free(w);
}

NtkDense *ntk_dense_alloc(const Net *net, size_t n_max, Err *err) {
  size_t k = net->d_out, N = n_max * k;
  NtkDense *w = calloc(1, sizeof *w);
  if (!w) goto oom;
  w->net = net;
  w->n_max = n_max;
  w->cache = net_cache_alloc(net, n_max, 1);
  w->GL = malloc(N * sizeof *w->GL);
  w->Gg = malloc(N * N * sizeof *w->Gg);
  w->Ga = malloc(n_max * n_max * sizeof *w->Ga);
  if (!w->cache || !w->GL || !w->Gg || !w->Ga) goto oom;
  for (int l = 0; l < net->nlayers; l++)
    if (net->layer[l].trainable && !(w->Gs[l] = malloc(N * net->layer[l].out * sizeof(double))))
      goto oom;
  return w;
oom:
  ntk_dense_free(w);
  err_set(err, CS_ENOMEM, "out of memory for the dense NTK (%zu rows, %zu outputs)", n_max, k);
  return NULL;
}

/* K_l = Gg ⊙ (α² Ga ⊗ 1 + β²[bias]) added into K (and written to Kl when given). */
static void layer_kernel(const Layer *L, size_t n, size_t k, const double *Gg, const double *Ga,
                         double *K, double *Kl) {
  size_t N = n * k;
  double a2 = L->alpha * L->alpha, b2 = L->has_bias ? L->beta * L->beta : 0.0;
#pragma omp parallel for schedule(static) if (N > 256)
  for (size_t r = 0; r < N; r++)
    for (size_t s = 0; s < N; s++) {
      double v = Gg[r * N + s] * (a2 * Ga[(r / k) * n + s / k] + b2);
      K[r * N + s] += v;
      if (Kl) Kl[r * N + s] = v;
    }
}

/* Full symmetric C [m][m] = A Aᵀ for A [m][d] (dsyrk fills one triangle). */
static void gram(size_t m, size_t d, const double *A, double *C) {
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)m, (int)d, 1.0, A, (int)d, 0.0, C,
              (int)m);
  for (size_t i = 0; i < m; i++)
    for (size_t j = i + 1; j < m; j++) C[i * m + j] = C[j * m + i];
}

int ntk_dense_kernel(NtkDense *w, const double *theta, const double *X, size_t n, double *K,
                     double *Kl, Err *err) {
  const Net *net = w->net;
  size_t k = net->d_out, N = n * k;
  if (n == 0 || n > w->n_max)
    return err_set(err, CS_EINVAL, "dense NTK on %zu rows (workspace holds 1..%zu)", n, w->n_max);
  /* g for output j: the backward from dL/dF = e_j on every row (rows are independent). */
  for (size_t j = 0; j < k; j++) {
    memset(w->GL, 0, N * sizeof *w->GL);
    for (size_t i = 0; i < n; i++) w->GL[i * k + j] = 1.0;
    net_forward(net, theta, X, n, w->cache);
    net_backward(net, theta, w->cache, w->GL, NULL);
    for (int l = 0; l < net->nlayers; l++) {
      if (!net->layer[l].trainable) continue;
      size_t out = net->layer[l].out;
      for (size_t i = 0; i < n; i++)
        memcpy(w->Gs[l] + (i * k + j) * out, w->cache->G[l] + i * out, out * sizeof(double));
    }
  }
  memset(K, 0, N * N * sizeof *K);
  int t = 0;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (!L->trainable) continue;
    const double *Ain = l == 0 ? X : w->cache->A[l - 1];
    gram(N, L->out, w->Gs[l], w->Gg);
    gram(n, L->in, Ain, w->Ga);
    layer_kernel(L, n, k, w->Gg, w->Ga, K, Kl ? Kl + (size_t)t * N * N : NULL);
    t++;
  }
  return CS_OK;
}

/* A, w, work (26N), iwork (10N) and isuppz (2N): lapack_ints fit in doubles' room. */
size_t ntk_eig_scratch_size(size_t N) { return N * N + 40 * N; }

int ntk_dense_top(size_t N, const double *K, int k, double *vals, double *vecs, double *scratch,
                  Err *err) {
  if (k < 1 || (size_t)k > N)
    return err_set(err, CS_EINVAL, "ntk_dense_top: k = %d outside 1..%zu", k, N);
  double *A = scratch, *w = A + N * N, *work = w + N;
  lapack_int *iwork = (lapack_int *)(work + 26 * N), *isuppz = iwork + 10 * N, m = 0;
  memcpy(A, K, N * N * sizeof *A);
  /* dsyevr's range 'I' (il..iu ascending): the k largest are N-k+1..N. Column-major Z with
   * ldz = N: eigenvector c (ascending) at vecs + c·N. */
  lapack_int nn = (lapack_int)N;
  lapack_int info = LAPACKE_dsyevr_work(LAPACK_COL_MAJOR, 'V', 'I', 'L', nn, A, nn, 0.0, 0.0,
                                        nn - k + 1, nn, 0.0, &m, w, vecs, nn, isuppz, work,
                                        (lapack_int)(26 * N), iwork, (lapack_int)(10 * N));
  if (info != 0 || m != k)
    return err_set(err, CS_ENOCONV, "LAPACK dsyevr failed on the %zu x %zu NTK (info %d)", N, N,
                   (int)info);
  /* ascending -> descending, in place */
  for (int a = 0, b = k - 1; a < b; a++, b--) {
    double t = w[a];
    w[a] = w[b], w[b] = t;
    for (size_t r = 0; r < N; r++) {
      double x = vecs[a * N + r];
      vecs[a * N + r] = vecs[b * N + r], vecs[b * N + r] = x;
    }
  }
  for (int i = 0; i < k; i++) {
    vals[i] = w[i];
    ntk_sign_fix(vecs + (size_t)i * N, N);
  }
  return CS_OK;
}
