/*
 * objective_f32.c: the chunked objective in float32 passes (--precision mixed; loss.h):
 * forward and backward in float at a float copy of θ, the loss and every sum over chunks
 * and parts in double. The parts' float gradients reach the double gradient in one pass
 * over P that also zeroes them for the next call and forms ‖∇L‖ and ‖θ‖ for the
 * training step (objective_eval_norms), so the step's gradient is swept once, not three
 * times (the per-chunk add, the parts' sum, the norms).
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "simd.h"

/* The chunk's forward, loss and (g32 non-NULL) backward, its gradient added to g32 in float. */
static double chunk_f32(const Net *net, const float *theta32, LossKind loss, const Batch *b,
                        size_t r0, size_t m, const float *X32, NetCacheF32 *cache, double *gl64,
                        float *g32, size_t *correct) {
  size_t k = net->d_out;
  net_forward_f32(net, theta32, X32, m, cache);
  const float *F = cache->A[net->nlayers - 1];
  double *F64 = cache->out64;
  for (size_t j = 0; j < m * k; j++) F64[j] = F[j];
  const LossMetric *M = r0 == 0 && m == b->n ? b->metric : NULL;
  double sum = loss_eval(loss, M, m, k, F64, b->Y + r0 * k, 1.0 / (double)batch_rows_all(b),
                         g32 ? gl64 : NULL, cache->aux);
  if (correct && b->labels)
    for (size_t i = 0; i < m; i++) *correct += (int)loss_argmax(F64 + i * k, k) == b->labels[r0 + i];
  if (!g32) return sum;
  float *GL = cache->G[net->nlayers - 1];
  for (size_t j = 0; j < m * k; j++) GL[j] = (float)gl64[j];
  net_backward_f32(net, theta32, cache, GL, g32);
  return sum;
}

/* dst += the float result, zeroing it for the next chunk. */
static void add_zero(size_t n, float *src, double *dst) {
  for (size_t j = 0; j < n; j++) {
    dst[j] += (double)src[j];
    src[j] = 0.0f;
  }
}

double objective_chunk_f32(const Net *net, const float *theta32, LossKind loss, const Batch *b,
                           size_t r0, size_t m, const float *X32, NetCacheF32 *cache,
                           double *gl64, float *g32, double *grad, size_t *correct) {
  double sum = chunk_f32(net, theta32, loss, b, r0, m, X32, cache, gl64, grad ? g32 : NULL,
                         correct);
  if (grad) add_zero(net->n_params, g32, grad);
  return sum;
}

int objective_work_set_precision(ObjectiveWork *w, const Net *net, Precision p, Err *err) {
  if (!precision_f32_passes(p) || w->theta32) return CS_OK;
  size_t P = net->n_params, c = w->chunk;
  int ok = !!(w->theta32 = malloc(P * sizeof *w->theta32));
  for (int t = 0; t < w->nthreads; t++) {
    ok &= !!(w->cache32[t] = net_cache_alloc_f32(net, c, 0));
    ok &= !!(w->x32[t] = malloc(c * net->d_in * sizeof *w->x32[t]));
    ok &= !!(w->g32[t] = calloc(P, sizeof *w->g32[t]));  /* kept zero between chunks */
    ok &= !!(w->gl64[t] = malloc(c * net->d_out * sizeof *w->gl64[t]));
  }
  if (!ok) return err_set(err, CS_ENOMEM, "out of memory for float32 training workspaces");
  return CS_OK;
}

CS_SIMD_CLONES
static void to_float(size_t n, const double *x, float *y) {
  for (size_t j = 0; j < n; j++) y[j] = (float)x[j];
}

/* 8 doubles, one vector with AVX-512 (GCC/clang vector extension; element-wise, so the
 * same bits at any width). */
typedef double Lanes __attribute__((vector_size(64)));

/*
 * Entries [i0, i1) of the gradient: grad = Σ_p v_p in part order, v_p = acc_p + g_p (a part
 * that ran several chunks: the earlier ones summed in double in acc_p, acc_0 = grad) or
 * 0 + g_p (one chunk: its float result alone), the bits of adding every chunk into a
 * zeroed double accumulator and the parts' accumulators in order. g_p is zeroed. With
 * sq non-NULL, sq[0] and sq[1] get the block's Σ grad² and Σ θ² in 8 interleaved partial
 * sums added in order (fixed by the block, not by the threads).
 */
CS_SIMD_CLONES
static void gather_block(int T, float *const *g, double *const *acc, size_t i0, size_t i1,
                         double *grad, const double *theta, double *sq) {
  for (int p = 0; p < T; p++) {
    const float *gp = g[p];
    const double *ap = acc[p];
    if (p == 0 && ap)
      for (size_t i = i0; i < i1; i++) grad[i] = ap[i] + (double)gp[i];
    else if (p == 0)
      for (size_t i = i0; i < i1; i++) grad[i] = 0.0 + (double)gp[i];
    else if (ap)
      for (size_t i = i0; i < i1; i++) grad[i] += ap[i] + (double)gp[i];
    else
      for (size_t i = i0; i < i1; i++) grad[i] += 0.0 + (double)gp[i];
    memset(g[p] + i0, 0, (i1 - i0) * sizeof *gp);
  }
  if (!sq) return;
  Lanes x = {0}, y = {0}, a, t;  /* lane l sums the entries i0 + l mod 8 */
  double xs = 0.0, ys = 0.0;
  size_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    memcpy(&a, grad + i, sizeof a), memcpy(&t, theta + i, sizeof t);
    x += a * a, y += t * t;
  }
  for (int l = 0; l < 8; l++) xs += x[l], ys += y[l];
  for (; i < i1; i++) xs += grad[i] * grad[i], ys += theta[i] * theta[i];
  sq[0] = xs, sq[1] = ys;
}

static void gather(int T, float *const *g, double *const *acc, size_t P, double *grad,
                   const double *theta, double *gnorm, double *pnorm) {
  size_t len, nblk = threads_norm_blocks(P, &len);
  double sq[2 * 1024];
  int norms = gnorm && pnorm;
#pragma omp parallel for schedule(static) if (nblk > 1)
  for (size_t k = 0; k < nblk; k++) {
    size_t i0 = k * len, i1 = i0 + len < P ? i0 + len : P;
    gather_block(T, g, acc, i0, i1, grad, theta, norms ? sq + 2 * k : NULL);
  }
  if (!norms) return;
  double x = 0.0, y = 0.0;
  for (size_t k = 0; k < nblk; k++) x += sq[2 * k], y += sq[2 * k + 1];
  *gnorm = threads_norm_finish(x, grad, P);
  *pnorm = threads_norm_finish(y, theta, P);
}

int objective_eval_f32(const Net *net, const double *theta, LossKind loss, const Batch *b,
                       ObjectiveWork *w, double *grad, double *loss_out, double *acc_out,
                       double *gnorm, double *pnorm) {
  size_t nchunks = (b->n + w->chunk - 1) / w->chunk, P = net->n_params, d = net->d_in;
  int T = threads_for_chunks(w->nthreads, nchunks);
  double part_loss[THREADS_MAX], *acc[THREADS_MAX];
  size_t part_correct[THREADS_MAX];
  /* T parts on the threads there are (one inside a concurrent study's worker): each part
   * its chunks in order, summed in part order, so the bits are the same whether T threads
   * run them or fewer (threads.h, threads_parts_set), as objective_eval_parallel's */
  int team = threads_team_for(T);
#pragma omp parallel num_threads(team) if (team > 1)
  {
    int got = omp_get_num_threads(); /* the team granted (fewer when nested) */
#pragma omp for schedule(static)  /* θ to float over the team (its barrier ends it) */
    for (size_t j = 0; j < P; j += 8192) to_float(P - j < 8192 ? P - j : 8192, theta + j, w->theta32 + j);
    for (int p = omp_get_thread_num(); p < T; p += got) {
      size_t lo, hi, correct = 0;
      double total = 0.0;
      threads_part_range(nchunks, T, p, &lo, &hi);
      /* the part's last chunk stays in float for gather; earlier ones go to double */
      acc[p] = grad && hi - lo > 1 ? threads_accumulator(grad, w->acc, p, P) : NULL;
      for (size_t i = lo; i < hi; i++) {
        size_t r0 = i * w->chunk, m = b->n - r0 < w->chunk ? b->n - r0 : w->chunk;
        const double *X = b->X + r0 * d;
        for (size_t j = 0; j < m * d; j++) w->x32[p][j] = (float)X[j];
        total += chunk_f32(net, w->theta32, loss, b, r0, m, w->x32[p], w->cache32[p],
                           w->gl64[p], grad ? w->g32[p] : NULL, &correct);
        if (acc[p] && i + 1 < hi) add_zero(P, w->g32[p], acc[p]);
      }
      part_loss[p] = total, part_correct[p] = correct;
    }
  }
  /* a data-parallel batch's norms are of the ranks' sum: formed after it */
  int ranks = comm_active(b->comm);
  if (grad) gather(T, w->g32, acc, P, grad, theta, ranks ? NULL : gnorm, pnorm);
  int rc = objective_parts_finish(T, part_loss, part_correct, b, grad, P, loss_out, acc_out);
  if (grad && ranks && gnorm && pnorm) threads_norm_pair(grad, theta, P, gnorm, pnorm);
  return rc;
}
