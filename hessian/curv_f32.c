/* curv_f32.c: float32 passes under a Curvature context (see curv_f32.h). */
#include "curv_f32.h"

#include <stdlib.h>
#include <string.h>

#include "core/threads.h"

struct CurvF32 {
  const Net *net;
  size_t n_max, chunk;
  int nchunks_max, nthreads;
  float *theta, *X, *v;       /* [P], [n_max][d_in], [P] */
  NetCacheF32 **cache;        /* one per chunk, second order */
  NetRWorkF32 *rws[THREADS_MAX];
  float *out[THREADS_MAX];    /* [P]: the chunk's float result, then added into double */
  float *gl[THREADS_MAX];     /* [chunk][d_out]: dL/dF or R{dL/dF} in float */
  double *gl64[THREADS_MAX];  /* [chunk][d_out]: the same in double, from the loss */
  double *rf64[THREADS_MAX];  /* [chunk][d_out]: R{F} in double, for the loss */
  /* block products: up to kmax directions */
  size_t kmax;
  float *bv;                  /* [2kP]: vf then vb */
  NetRWorkF32 *brws[THREADS_MAX];
  float *bout[THREADS_MAX];   /* [2kP], kept zero between chunks */
  float *bgl[THREADS_MAX];    /* [chunk][k][d_out] */
  double *bgl64[THREADS_MAX], *brf64[THREADS_MAX];
};

static void block_release(CurvF32 *f) {
  for (int t = 0; t < THREADS_MAX; t++) {
    net_rwork_free_f32(f->brws[t]);
    free(f->bout[t]);
    free(f->bgl[t]);
    free(f->bgl64[t]);
    free(f->brf64[t]);
    f->brws[t] = NULL;
    f->bout[t] = f->bgl[t] = NULL;
    f->bgl64[t] = f->brf64[t] = NULL;
  }
  free(f->bv);
  f->bv = NULL;
  f->kmax = 0;
}

CurvF32 *curv_f32_alloc(const Net *net, size_t n_max, size_t chunk, int nthreads, Err *err) {
  CurvF32 *f = calloc(1, sizeof *f);
  size_t P = net->n_params, k = net->d_out;
  if (!f) goto oom;
  f->net = net;
  f->n_max = n_max;
  f->chunk = chunk;
  f->nthreads = nthreads;
  f->nchunks_max = (int)((n_max + chunk - 1) / chunk);
  f->theta = malloc(P * sizeof *f->theta);
  f->v = malloc(P * sizeof *f->v);
  f->X = malloc(n_max * net->d_in * sizeof *f->X);
  f->cache = calloc((size_t)f->nchunks_max, sizeof *f->cache);
  if (!f->theta || !f->v || !f->X || !f->cache) goto oom;
  for (int i = 0; i < f->nchunks_max; i++) {
    size_t rows = (i + 1) * chunk <= n_max ? chunk : n_max - i * chunk;
    if (!(f->cache[i] = net_cache_alloc_f32(net, rows, 1))) goto oom;
  }
  for (int t = 0; t < nthreads; t++) {
    f->rws[t] = net_rwork_alloc_f32(net, chunk);
    f->out[t] = calloc(P, sizeof *f->out[t]);  /* kept zero between chunks */
    f->gl[t] = malloc(chunk * k * sizeof *f->gl[t]);
    f->gl64[t] = malloc(chunk * k * sizeof *f->gl64[t]);
    f->rf64[t] = malloc(chunk * k * sizeof *f->rf64[t]);
    if (!f->rws[t] || !f->out[t] || !f->gl[t] || !f->gl64[t] || !f->rf64[t]) goto oom;
  }
  return f;
oom:
  curv_f32_free(f);
  err_set(err, CS_ENOMEM, "out of memory for float32 curvature workspaces (%zu rows)", n_max);
  return NULL;
}

void curv_f32_free(CurvF32 *f) {
  if (!f) return;
  for (int i = 0; f->cache && i < f->nchunks_max; i++) net_cache_free_f32(f->cache[i]);
  free(f->cache);
  for (int t = 0; t < THREADS_MAX; t++) {
    net_rwork_free_f32(f->rws[t]);
    free(f->out[t]);
    free(f->gl[t]);
    free(f->gl64[t]);
    free(f->rf64[t]);
  }
  block_release(f);
  free(f->theta);
  free(f->v);
  free(f->X);
  free(f);
}

static void to_float(size_t n, const double *x, float *y) {
#pragma omp parallel for schedule(static) if (n > 262144)
  for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
}

void curv_f32_set_point(CurvF32 *f, const double *theta, const double *X, size_t n) {
  to_float(f->net->n_params, theta, f->theta);
  to_float(n * f->net->d_in, X, f->X);
}

void curv_f32_set_dir(CurvF32 *f, const double *v) { to_float(f->net->n_params, v, f->v); }

/* dst += the float result, zeroing it for the next chunk. */
static void add_into(size_t n, float *src, double *dst) {
  for (size_t j = 0; j < n; j++) {
    dst[j] += (double)src[j];
    src[j] = 0.0f;
  }
}

double curv_f32_objective_chunk(CurvF32 *f, LossKind loss, const Batch *b, int i, size_t r0,
                                size_t m, int t, double *g, size_t *correct) {
  return objective_chunk_f32(f->net, f->theta, loss, b, r0, m, f->X + r0 * f->net->d_in,
                             f->cache[i], f->gl64[t], f->out[t], g, correct);
}

void curv_f32_product_chunk(CurvF32 *f, LossKind loss, const Batch *b, int i, size_t r0,
                            int t, double scale, int mode, double *dst) {
  const Net *net = f->net;
  size_t k = net->d_out, P = net->n_params;
  NetCacheF32 *nc = f->cache[i];
  NetRWorkF32 *rw = f->rws[t];
  size_t m = nc->n;
  net_rforward_f32(net, f->theta, nc, f->v, NULL, rw);
  const float *RF = rw->RA[net->nlayers - 1];
  for (size_t j = 0; j < m * k; j++) f->rf64[t][j] = RF[j];
  loss_hess_apply(loss, b->metric, m, k, nc->aux, b->Y + r0 * k, f->rf64[t], scale, f->gl64[t]);
  for (size_t j = 0; j < m * k; j++) f->gl[t][j] = (float)f->gl64[t][j];
  net_rbackward_f32(net, f->theta, nc, f->v, NULL, rw, f->gl[t], mode, f->out[t]);
  add_into(P, f->out[t], dst);
}

const double *curv_f32_outputs(const CurvF32 *f, int i, size_t *m) {
  *m = f->cache[i]->n;
  return f->cache[i]->out64;
}

int curv_f32_block_reserve(CurvF32 *f, size_t k) {
  if (k <= f->kmax) return CS_OK;
  block_release(f);
  const Net *net = f->net;
  size_t P = net->n_params, brow = curv_block_capacity(f->chunk, k), rows = brow * net->d_out;
  int ok = !!(f->bv = malloc(2 * k * P * sizeof *f->bv));
  for (int t = 0; t < f->nthreads && ok; t++) {
    ok &= !!(f->brws[t] = net_rwork_alloc_f32(net, brow));
    ok &= !!(f->bout[t] = calloc(2 * k * P, sizeof *f->bout[t]));
    ok &= !!(f->bgl[t] = malloc(rows * sizeof *f->bgl[t]));
    ok &= !!(f->bgl64[t] = malloc(rows * sizeof *f->bgl64[t]));
    ok &= !!(f->brf64[t] = malloc(rows * sizeof *f->brf64[t]));
  }
  if (!ok) {
    block_release(f);
    return CS_ENOMEM;
  }
  f->kmax = k;
  return CS_OK;
}

void curv_f32_block_set_dir(CurvF32 *f, size_t k, const double *vf, const double *vb) {
  size_t kP = k * f->net->n_params;
  to_float(kP, vf, f->bv);
  to_float(kP, vb, f->bv + kP);
}

void curv_f32_block_chunk(CurvF32 *f, size_t k, LossKind loss, const Batch *b, int i,
                          size_t r0, int t, double scale, int mode, double *dst) {
  const Net *net = f->net;
  size_t d = net->d_out, kP = k * net->n_params;
  const NetCacheF32 *whole = f->cache[i];
  NetRWorkF32 *rw = f->brws[t];
  size_t step = curv_block_rows(f->chunk, k);
  for (size_t s0 = 0; s0 < whole->n; s0 += step) {
    NetCacheF32 nc;
    size_t m = whole->n - s0 < step ? whole->n - s0 : step, rows = m * k * d;
    net_cache_rows_f32(net, whole, s0, m, &nc);
    net_rforward_block_f32(net, f->theta, &nc, f->bv, k, rw);
    const float *RF = rw->RA[net->nlayers - 1];
    for (size_t j = 0; j < rows; j++) f->brf64[t][j] = RF[j];
    loss_hess_apply_block(loss, m, k, d, nc.aux, b->Y + (r0 + s0) * d, f->brf64[t], scale, NULL,
                          f->bgl64[t]);
    for (size_t j = 0; j < rows; j++) f->bgl[t][j] = (float)f->bgl64[t][j];
    net_rbackward_block_f32(net, f->theta, &nc, f->bv, f->bv + kP, k, rw, f->bgl[t], mode,
                            f->bout[t], f->bout[t] + kP);
  }
  add_into(2 * kP, f->bout[t], dst);
}
