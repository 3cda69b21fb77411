/* curv.c: cached Hessian, Gauss-Newton, Jacobian and NTK products (see curv.h). */
#include "curv.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "curv_f32.h"
#include "core/layout.h"

struct Curvature {
  const Net *net;
  LossKind loss;
  size_t n_max, chunk;
  int nchunks_max, nchunks;
  NetCache **cache;      /* one per chunk */
  /* Data parallelism over chunks (core/threads.h): each thread runs whole chunks with
   * single-threaded BLAS, its own workspaces and accumulator; rws[0] also serves the
   * serial products (Jv, Jᵀu). Far fewer synchronisations than threading every GEMM. */
  int nthreads;
  NetRWork *rws[THREADS_MAX];
  double *RGLs[THREADS_MAX]; /* [chunk][d_out] each */
  double *acc[THREADS_MAX];  /* [P] per thread (acc[0] unused: thread 0 writes to out) */
  double *grad;          /* [P] */
  double *tmp;           /* [P]: vjp scratch for the NTK */
  const double *theta;
  Batch batch;
  double loss_value;
  size_t correct;        /* rows whose argmax output matches the label (CE batches) */
  long applies;
  Precision precision;
  CurvF32 *f32;          /* the float32 passes (--precision mixed/f32), else NULL */
  /* Block products (curv_hvp_block): workspaces for up to kmax directions, sized by
   * curv_block_reserve. */
  size_t kmax;
  NetRWork *brws[THREADS_MAX];  /* [k·chunk] rows each */
  double *bRGL[THREADS_MAX];    /* [chunk][k][d_out] each */
  double *bacc[THREADS_MAX];    /* [2kP] per thread (bacc[0] unused) */
  double *bv, *bout;            /* [2kP]: vf then vb; outA then outB */
};

Curvature *curv_alloc(const Net *net, LossKind loss, size_t n_max, size_t chunk, Err *err) {
  if (n_max == 0) {
    err_set(err, CS_EINVAL, "curvature needs at least one example");
    return NULL;
  }
  /* a row-coupling loss (Sobolev) is evaluated whole: one chunk, one thread */
  int T = loss_couples_rows(loss) ? 1 : threads_data_parallel();
  chunk = loss_couples_rows(loss) ? n_max : layout_chunk_rows(net, n_max, chunk, T);
  Curvature *c = calloc(1, sizeof *c);
  if (!c) goto oom;
  c->nthreads = T;
  c->net = net;
  c->loss = loss;
  c->n_max = n_max;
  c->chunk = chunk;
  c->nchunks_max = (int)((n_max + chunk - 1) / chunk);
  c->cache = calloc((size_t)c->nchunks_max, sizeof *c->cache);
  if (!c->cache) goto oom;
  for (int i = 0; i < c->nchunks_max; i++) {
    size_t rows = (i + 1) * chunk <= n_max ? chunk : n_max - i * chunk;
    if (!(c->cache[i] = net_cache_alloc(net, rows, 1))) goto oom;
  }
  for (int t = 0; t < T; t++) {
    c->rws[t] = net_rwork_alloc(net, chunk);
    c->RGLs[t] = malloc(chunk * net->d_out * sizeof *c->RGLs[t]);
    if (t > 0) c->acc[t] = malloc(net->n_params * sizeof *c->acc[t]);
    if (!c->rws[t] || !c->RGLs[t] || (t > 0 && !c->acc[t])) goto oom;
  }
  c->grad = malloc(net->n_params * sizeof *c->grad);
  c->tmp = malloc(net->n_params * sizeof *c->tmp);
  if (!c->grad || !c->tmp) goto oom;
  return c;
oom:
  curv_free(c);
  err_set(err, CS_ENOMEM, "out of memory for curvature workspaces (%zu rows, %zu parameters)",
          n_max, net->n_params);
  return NULL;
}

int curv_block_reserve(Curvature *c, size_t k, Err *err);

static void curv_block_release(Curvature *c) {
  for (int t = 0; t < THREADS_MAX; t++) {
    net_rwork_free(c->brws[t]);
    free(c->bRGL[t]);
    free(c->bacc[t]);
    c->brws[t] = NULL;
    c->bRGL[t] = c->bacc[t] = NULL;
  }
  free(c->bv);
  free(c->bout);
  c->bv = c->bout = NULL;
  c->kmax = 0;
}

void curv_free(Curvature *c) {
  if (!c) return;
  for (int i = 0; c->cache && i < c->nchunks_max; i++) net_cache_free(c->cache[i]);
  curv_f32_free(c->f32);
  free(c->cache);
  curv_block_release(c);
  for (int t = 0; t < THREADS_MAX; t++) {
    net_rwork_free(c->rws[t]);
    free(c->RGLs[t]);
    free(c->acc[t]);
  }
  free(c->grad);
  free(c->tmp);
  free(c);
}

int curv_set_precision(Curvature *c, Precision p, Err *err) {
  if (precision_f32_passes(p) == (c->f32 != NULL)) {
    c->precision = p;
    return CS_OK;
  }
  if (!precision_f32_passes(p))
    return err_set(err, CS_EINVAL, "curvature context: float32 passes cannot be switched off");
  if (!(c->f32 = curv_f32_alloc(c->net, c->n_max, c->chunk, c->nthreads, err))) return CS_ENOMEM;
  size_t kmax = c->kmax;  /* the float64 block workspaces give way to float32 ones */
  curv_block_release(c);
  if (kmax && curv_block_reserve(c, kmax, err)) return CS_ENOMEM;
  /* the float64 caches are not used any more: their memory goes back */
  for (int i = 0; i < c->nchunks_max; i++) {
    net_cache_free(c->cache[i]);
    c->cache[i] = NULL;
  }
  c->precision = p;
  c->nchunks = 0;
  return CS_OK;
}

Precision curv_precision(const Curvature *c) { return c->precision; }

int curv_build(Curvature *c, const double *theta, const Batch *b, Err *err) {
  /* a rank's share of a data-parallel batch may be empty; the batch never is */
  if (b->n > c->n_max || batch_rows_all(b) == 0)
    return err_set(err, CS_EINVAL, "curvature batch of %zu rows (workspace holds 1..%zu)", b->n,
                   c->n_max);
  if (loss_couples_rows(c->loss) && (!b->metric || b->metric->n != b->n))
    return err_set(err, CS_EINVAL,
                   "the %s loss needs the whole grid: a batch of %zu rows with its metric",
                   loss_name(c->loss), b->n);
  if (c->f32 && b->weight) /* the float32 chunks do not weight their rows */
    return err_set(err, CS_EINVAL, "per-example weights need float64 curvature passes");
  const Net *net = c->net;
  double total = 0.0;
  size_t correct = 0;
  c->theta = theta;
  c->batch = *b;
  c->nchunks = (int)((b->n + c->chunk - 1) / c->chunk);
  if (c->f32) curv_f32_set_point(c->f32, theta, b->X, b->n);
  int T = threads_for_chunks(c->nthreads, (size_t)c->nchunks);
#pragma omp parallel num_threads(T) reduction(+ : total, correct) if (T > 1)
  {
    int t = omp_get_thread_num();
    double *g = threads_accumulator(c->grad, c->acc, t, net->n_params);
#pragma omp for schedule(static)
    for (int i = 0; i < c->nchunks; i++) {
      size_t r0 = (size_t)i * c->chunk, m = b->n - r0 < c->chunk ? b->n - r0 : c->chunk;
      total += c->f32 ? curv_f32_objective_chunk(c->f32, c->loss, b, i, r0, m, t, g, &correct)
                      : objective_chunk(net, theta, c->loss, b, r0, m, c->cache[i], g, &correct);
    }
  }
  threads_sum_into(c->grad, c->acc, T, net->n_params);
  int rc = batch_sum_ranks(b, c->grad, net->n_params, &total, &correct, err);
  if (rc) return rc;
  c->loss_value = total / (double)batch_rows_all(b);
  c->correct = correct;
  c->applies = 0;
  return CS_OK;
}

double curv_loss(const Curvature *c) { return c->loss_value; }
double curv_accuracy(const Curvature *c) {
  return c->batch.labels ? (double)c->correct / (double)batch_rows_all(&c->batch) : NAN;
}
const double *curv_grad(const Curvature *c) { return c->grad; }
size_t curv_nparams(const Curvature *c) { return c->net->n_params; }
size_t curv_nrows(const Curvature *c) { return batch_rows_all(&c->batch); }
long curv_applies(const Curvature *c) { return c->applies; }

void curv_outputs(const Curvature *c, double *F) {
  size_t k = c->net->d_out;
  for (int i = 0; i < c->nchunks; i++) {
    if (c->f32) {
      size_t m;
      const double *F64 = curv_f32_outputs(c->f32, i, &m);
      memcpy(F + (size_t)i * c->chunk * k, F64, m * k * sizeof *F);
      continue;
    }
    const NetCache *nc = c->cache[i];
    memcpy(F + (size_t)i * c->chunk * k, nc->A[c->net->nlayers - 1], nc->n * k * sizeof *F);
  }
}

/* The sum over chunks: out = Σ_chunks R-backward(H_ℓ-or-GGN R-forward(v)). */
static int curv_accumulate(Curvature *c, const double *v, double *out, int mode) {
  const Net *net = c->net;
  size_t k = net->d_out;
  double scale = 1.0 / (double)batch_rows_all(&c->batch);
  int T = threads_for_chunks(c->nthreads, (size_t)c->nchunks);
  if (c->f32) curv_f32_set_dir(c->f32, v);
#pragma omp parallel num_threads(T) if (T > 1)
  {
    int t = omp_get_thread_num();
    double *dst = threads_accumulator(out, c->acc, t, net->n_params);
    NetRWork *rw = c->rws[t];
#pragma omp for schedule(static)
    for (int i = 0; i < c->nchunks; i++) {
      if (c->f32) {
        curv_f32_product_chunk(c->f32, c->loss, &c->batch, i, (size_t)i * c->chunk, t, scale,
                               mode, dst);
        continue;
      }
      NetCache *nc = c->cache[i];
      const double *Y = c->batch.Y + (size_t)i * c->chunk * k;
      net_rforward(net, c->theta, nc, v, NULL, rw);
      const double *RF = rw->RA[net->nlayers - 1];
      if (!c->batch.weight)
        loss_hess_apply(c->loss, c->batch.metric, nc->n, k, nc->aux, Y, RF, scale, c->RGLs[t]);
      else /* the weighted loss (loss.h): row r's output Hessian times w_r */
        for (size_t r = 0; r < nc->n; r++)
          loss_hess_apply(c->loss, NULL, 1, k, nc->aux + r * k, Y + r * k, RF + r * k,
                          scale * c->batch.weight[(size_t)i * c->chunk + r], c->RGLs[t] + r * k);
      net_rbackward(net, c->theta, nc, v, NULL, rw, c->RGLs[t], mode, dst);
    }
  }
  threads_sum_into(out, c->acc, T, net->n_params);
  c->applies++;
  if (comm_active(c->batch.comm)) { /* every rank's share of the product, summed */
    Err err = {0};
    return comm_sum(c->batch.comm, out, net->n_params, &err);
  }
  return CS_OK;
}

int curv_hvp(Curvature *c, const double *v, double *hv) {
  return curv_accumulate(c, v, hv, NET_R_HESSIAN);
}

int curv_ggn(Curvature *c, const double *v, double *gv) {
  return curv_accumulate(c, v, gv, NET_R_GGN);
}

int curv_jvp(Curvature *c, const double *v, double *jv) {
  /* row-space products (Jv, the NTK): the rows of a data-parallel batch live on other ranks */
  if (c->f32 || comm_active(c->batch.comm)) return CS_EINVAL;  /* float64 only (curv_set_precision) */
  const Net *net = c->net;
  size_t k = net->d_out;
  for (int i = 0; i < c->nchunks; i++) {
    NetCache *nc = c->cache[i];
    net_rforward(net, c->theta, nc, v, NULL, c->rws[0]);
    memcpy(jv + (size_t)i * c->chunk * k, c->rws[0]->RA[net->nlayers - 1], nc->n * k * sizeof *jv);
  }
  return CS_OK;
}

/* Jᵀu through the linearised net: R-backward in GGN mode with R{G_L} = u and v = 0. */
int curv_vjp(Curvature *c, const double *u, double *jtu) {
  if (c->f32 || comm_active(c->batch.comm)) return CS_EINVAL;  /* float64 only (curv_set_precision) */
  const Net *net = c->net;
  size_t k = net->d_out;
  memset(jtu, 0, net->n_params * sizeof *jtu);
  for (int i = 0; i < c->nchunks; i++) {
    NetCache *nc = c->cache[i];
    for (int l = 0; l < net->nlayers; l++) c->rws[0]->zero[l] = 1;
    net_rbackward(net, c->theta, nc, NULL, NULL, c->rws[0], u + (size_t)i * c->chunk * k, NET_R_GGN,
                  jtu);
  }
  return CS_OK;
}

int curv_ntk(Curvature *c, const double *u, double *out) {
  if (c->f32 || comm_active(c->batch.comm)) return CS_EINVAL;
  curv_vjp(c, u, c->tmp);
  curv_jvp(c, c->tmp, out);
  c->applies++;
  return CS_OK;
}

/* Row-coupling losses take k single products (their metric couples the rows). */
static int block_by_singles(const Curvature *c) { return loss_couples_rows(c->loss); }

/* Rows per block pass: a chunk's rows over k (at least CURV_BLOCK_MIN_ROWS), so that the
 * k-fold R-workspace has about a single product's footprint (cache-resident) while the
 * direction GEMMs stay k times wider. */
#define CURV_BLOCK_MIN_ROWS 64
size_t curv_block_rows(size_t chunk, size_t k) {
  size_t r = (chunk + k - 1) / k;
  if (r < CURV_BLOCK_MIN_ROWS) r = CURV_BLOCK_MIN_ROWS;
  return r < chunk ? r : chunk;
}

size_t curv_block_capacity(size_t chunk, size_t kmax) {
  /* k·rows(k) is not monotone in k (ceil): a workspace for kmax must hold every k ≤ kmax */
  size_t most = 0;
  for (size_t k = 1; k <= kmax; k++) {
    size_t r = k * curv_block_rows(chunk, k);
    if (r > most) most = r;
  }
  return most;
}

int curv_block_reserve(Curvature *c, size_t k, Err *err) {
  if (k <= c->kmax || block_by_singles(c)) return CS_OK;
  curv_block_release(c);
  const Net *net = c->net;
  size_t P = net->n_params;
  int ok = 1;
  if (c->f32) ok = curv_f32_block_reserve(c->f32, k) == CS_OK;
  for (int t = 0; t < c->nthreads && ok; t++) {
    if (!c->f32) {
      size_t rows = curv_block_capacity(c->chunk, k);
      ok &= !!(c->brws[t] = net_rwork_alloc(net, rows));
      ok &= !!(c->bRGL[t] = malloc(rows * net->d_out * sizeof(double)));
    }
    if (t > 0) ok &= !!(c->bacc[t] = malloc(2 * k * P * sizeof(double)));
  }
  ok = ok && (c->bv = malloc(2 * k * P * sizeof(double))) && (c->bout = malloc(2 * k * P * sizeof(double)));
  if (!ok) {
    curv_block_release(c);
    return err_set(err, CS_ENOMEM, "out of memory for block products of %zu directions", k);
  }
  c->kmax = k;
  return CS_OK;
}

/* The block sum over chunks, in the block layout: c->bout = Σ_chunks block R-backward. */
static void block_accumulate(Curvature *c, size_t k, int mode) {
  const Net *net = c->net;
  size_t d = net->d_out, P = net->n_params, kP = k * P;
  double scale = 1.0 / (double)batch_rows_all(&c->batch);
  int T = threads_for_chunks(c->nthreads, (size_t)c->nchunks);
  if (c->f32) curv_f32_block_set_dir(c->f32, k, c->bv, c->bv + kP);
#pragma omp parallel num_threads(T) if (T > 1)
  {
    int t = omp_get_thread_num();
    double *dst = threads_accumulator(c->bout, c->bacc, t, 2 * kP);
    NetRWork *rw = c->brws[t];
#pragma omp for schedule(static)
    for (int i = 0; i < c->nchunks; i++) {
      size_t r0 = (size_t)i * c->chunk;
      if (c->f32) {
        curv_f32_block_chunk(c->f32, k, c->loss, &c->batch, i, r0, t, scale, mode, dst);
        continue;
      }
      const NetCache *whole = c->cache[i];
      size_t rows = curv_block_rows(c->chunk, k);
      for (size_t s0 = 0; s0 < whole->n; s0 += rows) {
        NetCache nc;
        size_t m = whole->n - s0 < rows ? whole->n - s0 : rows;
        net_cache_rows(net, whole, s0, m, &nc);
        net_rforward_block(net, c->theta, &nc, c->bv, k, rw);
        loss_hess_apply_block(c->loss, m, k, d, nc.aux, c->batch.Y + (r0 + s0) * d,
                              rw->RA[net->nlayers - 1], scale,
                              c->batch.weight ? c->batch.weight + r0 + s0 : NULL, c->bRGL[t]);
        net_rbackward_block(net, c->theta, &nc, c->bv, c->bv + kP, k, rw, c->bRGL[t], mode, dst,
                            dst + kP);
      }
    }
  }
  threads_sum_into(c->bout, c->bacc, T, 2 * kP);
}

static int curv_block(Curvature *c, size_t k, const double *V, double *out, int mode) {
  size_t P = c->net->n_params;
  int rc = CS_OK;
  if (k == 1 || block_by_singles(c)) {
    for (size_t j = 0; j < k && !rc; j++) rc = curv_accumulate(c, V + j * P, out + j * P, mode);
    return rc;
  }
  Err err = {0};
  if (k > c->kmax && curv_block_reserve(c, k, &err)) return err.code;
  net_block_pack(c->net, k, V, c->bv, c->bv + k * P);
  block_accumulate(c, k, mode);
  net_block_unpack(c->net, k, c->bout, mode == NET_R_HESSIAN ? c->bout + k * P : NULL, out);
  c->applies += (long)k;
  /* every rank's share of the k products, summed (as curv_accumulate does for one) */
  if (comm_active(c->batch.comm)) rc = comm_sum(c->batch.comm, out, k * P, &err);
  return rc;
}

int curv_hvp_block(Curvature *c, size_t k, const double *V, double *HV) {
  return curv_block(c, k, V, HV, NET_R_HESSIAN);
}

int curv_ggn_block(Curvature *c, size_t k, const double *V, double *GV) {
  return curv_block(c, k, V, GV, NET_R_GGN);
}

static int hess_apply(void *self, const double *x, double *y) { return curv_hvp(self, x, y); }
static int ggn_apply(void *self, const double *x, double *y) { return curv_ggn(self, x, y); }
static int hess_apply_block(void *self, size_t k, const double *X, double *Y) {
  return curv_hvp_block(self, k, X, Y);
}
static int ggn_apply_block(void *self, size_t k, const double *X, double *Y) {
  return curv_ggn_block(self, k, X, Y);
}
static int ntk_apply(void *self, const double *x, double *y) { return curv_ntk(self, x, y); }

Linop curv_hessian_op(Curvature *c) {
  return (Linop){c->net->n_params, hess_apply, hess_apply_block, c};
}

Linop curv_ggn_op(Curvature *c) {
  return (Linop){c->net->n_params, ggn_apply, ggn_apply_block, c};
}

Linop curv_ntk_op(Curvature *c) {
  return (Linop){c->batch.n * c->net->d_out, ntk_apply, NULL, c};
}

int curv_fd_hvp(const Net *net, LossKind loss, const double *theta, const Batch *b,
                const double *v, double eps, double *out, Err *err) {
  size_t P = net->n_params;
  double *th = malloc(P * sizeof *th), *gm = malloc(P * sizeof *gm);
  NetCache *nc = net_cache_alloc(net, b->n, 0);
  if (!th || !gm || !nc) {
    free(th);
    free(gm);
    net_cache_free(nc);
    return err_set(err, CS_ENOMEM, "out of memory for the finite-difference HVP");
  }
  for (size_t i = 0; i < P; i++) th[i] = theta[i] + eps * v[i];
  objective_eval(net, th, loss, b, nc, out, NULL, NULL);
  for (size_t i = 0; i < P; i++) th[i] = theta[i] - eps * v[i];
  objective_eval(net, th, loss, b, nc, gm, NULL, NULL);
  for (size_t i = 0; i < P; i++) out[i] = (out[i] - gm[i]) / (2.0 * eps);
  free(th);
  free(gm);
  net_cache_free(nc);
  return CS_OK;
}
