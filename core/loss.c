/* loss.c: MSE and softmax cross-entropy; the chunked objective (see loss.h). */
#include "loss.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int loss_parse(const char *text, LossKind *k, Err *err) {
  if (!strcmp(text, "mse")) *k = LOSS_MSE;
  else if (!strcmp(text, "ce") || !strcmp(text, "xent") || !strcmp(text, "cross-entropy"))
    *k = LOSS_CE;
  else return err_set(err, CS_EINVAL, "unknown loss '%s' (known: mse, ce)", text);
  return CS_OK;
}

const char *loss_name(LossKind k) { return k == LOSS_CE ? "ce" : "mse"; }

double loss_eval(LossKind kind, size_t n, size_t k, const double *F, const double *Y, double scale,
                 double *GL, double *aux) {
  double total = 0.0;
  if (kind == LOSS_MSE) {
#pragma omp parallel for schedule(static) reduction(+ : total) if (n * k > 8192)
    for (size_t i = 0; i < n * k; i++) {
      double r = F[i] - Y[i];
      total += 0.5 * r * r;
      if (GL) GL[i] = scale * r;
    }
    return total;
  }
#pragma omp parallel for schedule(static) reduction(+ : total) if (n * k > 8192)
  for (size_t i = 0; i < n; i++) {
    const double *f = F + i * k, *y = Y + i * k;
    double *p = aux + i * k;
    double m = f[0];
    for (size_t j = 1; j < k; j++) m = f[j] > m ? f[j] : m;
    double z = 0.0;
    for (size_t j = 0; j < k; j++) z += (p[j] = exp(f[j] - m));
    double lz = log(z) + m, ysum = 0.0, l = 0.0;
    for (size_t j = 0; j < k; j++) {
      p[j] /= z;
      l -= y[j] * (f[j] - lz);
      ysum += y[j];
    }
    total += l;
    if (GL)
      for (size_t j = 0; j < k; j++) GL[i * k + j] = scale * (ysum * p[j] - y[j]);
  }
  return total;
}

void loss_hess_apply(LossKind kind, size_t n, size_t k, const double *aux, const double *Y,
                     const double *RF, double scale, double *RGL) {
  if (kind == LOSS_MSE) {
#pragma omp parallel for schedule(static) if (n * k > 8192)
    for (size_t i = 0; i < n * k; i++) RGL[i] = scale * RF[i];
    return;
  }
#pragma omp parallel for schedule(static) if (n * k > 8192)
  for (size_t i = 0; i < n; i++) {
    const double *p = aux + i * k, *r = RF + i * k, *y = Y + i * k;
    double pr = 0.0, ysum = 0.0;
    for (size_t j = 0; j < k; j++) {
      pr += p[j] * r[j];
      ysum += y[j];
    }
    for (size_t j = 0; j < k; j++) RGL[i * k + j] = scale * ysum * p[j] * (r[j] - pr);
  }
}

size_t loss_argmax(const double *f, size_t k) {
  size_t best = 0;
  for (size_t j = 1; j < k; j++)
    if (f[j] > f[best]) best = j;
  return best;
}

double objective_chunk(const Net *net, const double *theta, LossKind loss, const Batch *b,
                       size_t r0, size_t m, NetCache *cache, double *grad, size_t *correct) {
  size_t k = net->d_out;
  net_forward(net, theta, b->X + r0 * net->d_in, m, cache);
  const double *F = cache->A[net->nlayers - 1];
  /* G[top] doubles as the buffer for dL/dF: net_backward reads GL before writing G. */
  double *GL = grad ? cache->G[net->nlayers - 1] : NULL;
  double sum = loss_eval(loss, m, k, F, b->Y + r0 * k, 1.0 / (double)b->n, GL, cache->aux);
  if (correct && b->labels)
    for (size_t i = 0; i < m; i++)
      *correct += (int)loss_argmax(F + i * k, k) == b->labels[r0 + i];
  if (grad) net_backward(net, theta, cache, GL, grad);
  return sum;
}

int objective_eval(const Net *net, const double *theta, LossKind loss, const Batch *b,
                   NetCache *cache, double *grad, double *loss_out, double *acc_out) {
  double total = 0.0;
  size_t correct = 0;
  if (grad) memset(grad, 0, net->n_params * sizeof *grad);
  for (size_t r0 = 0; r0 < b->n; r0 += cache->cap) {
    size_t m = b->n - r0 < cache->cap ? b->n - r0 : cache->cap;
    total += objective_chunk(net, theta, loss, b, r0, m, cache, grad, &correct);
  }
  if (loss_out) *loss_out = total / (double)b->n;
  if (acc_out) *acc_out = b->labels ? (double)correct / (double)b->n : NAN;
  return CS_OK;
}

ObjectiveWork *objective_work_alloc(const Net *net, size_t n_max, size_t chunk) {
  ObjectiveWork *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->nthreads = threads_data_parallel();
  w->chunk = threads_chunk_rows(n_max, chunk, w->nthreads);
  for (int t = 0; t < w->nthreads; t++) {
    w->cache[t] = net_cache_alloc(net, w->chunk, 0);
    if (t > 0) w->acc[t] = malloc(net->n_params * sizeof *w->acc[t]);
    if (!w->cache[t] || (t > 0 && !w->acc[t])) {
      objective_work_free(w);
      return NULL;
    }
  }
  return w;
}

void objective_work_free(ObjectiveWork *w) {
  if (!w) return;
  for (int t = 0; t < THREADS_MAX; t++) {
    net_cache_free(w->cache[t]);
    free(w->acc[t]);
  }
  free(w);
}

int objective_eval_parallel(const Net *net, const double *theta, LossKind loss, const Batch *b,
                            ObjectiveWork *w, double *grad, double *loss_out, double *acc_out) {
  size_t nchunks = (b->n + w->chunk - 1) / w->chunk, P = net->n_params;
  int T = threads_for_chunks(w->nthreads, nchunks);
  if (T < 2) /* too few chunks: thread the GEMMs instead */
    return objective_eval(net, theta, loss, b, w->cache[0], grad, loss_out, acc_out);
  double total = 0.0;
  size_t correct = 0;
#pragma omp parallel num_threads(T) reduction(+ : total, correct)
  {
    int t = omp_get_thread_num();
    double *g = threads_accumulator(grad, w->acc, t, P);
#pragma omp for schedule(static)
    for (size_t i = 0; i < nchunks; i++) {
      size_t r0 = i * w->chunk, m = b->n - r0 < w->chunk ? b->n - r0 : w->chunk;
      total += objective_chunk(net, theta, loss, b, r0, m, w->cache[t], g, &correct);
    }
  }
  if (grad) threads_sum_into(grad, w->acc, T, P);
  if (loss_out) *loss_out = total / (double)b->n;
  if (acc_out) *acc_out = b->labels ? (double)correct / (double)b->n : NAN;
  return CS_OK;
}
