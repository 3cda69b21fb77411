/* loss.c: MSE, softmax cross-entropy and the Sobolev loss; the chunked objective (see loss.h;
 * its float32 passes are in objective_f32.c). */
#include "loss.h"

#include "dataset.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "spec.h"

int loss_parse(const char *text, LossKind *k, Err *err) {
  double s;
  return loss_parse_spec(text, k, &s, err);
}

int loss_parse_spec(const char *text, LossKind *k, double *s, Err *err) {
  *s = 0.0;
  if (!strcmp(text, "mse")) *k = LOSS_MSE;
  else if (!strcmp(text, "ce") || !strcmp(text, "xent") || !strcmp(text, "cross-entropy"))
    *k = LOSS_CE;
  else if (!strncmp(text, "sobolev", 7) && (!text[7] || text[7] == ':')) {
    Spec sp;
    if (spec_parse(&sp, text, err)) return err->code;
    double v = 1.0;
    int rc = spec_get_double(&sp, "s", &v, err);
    if (!rc) rc = spec_check_unused(&sp, 0, err);
    spec_free(&sp);
    if (rc) return rc;
    if (!isfinite(v) || fabs(v) > 8)
      return err_set(err, CS_EINVAL, "loss '%s': s=%g must be finite with |s| <= 8", text, v);
    *k = LOSS_SOBOLEV;
    *s = v;
  } else return err_set(err, CS_EINVAL, "unknown loss '%s' (known: mse, ce, sobolev:s=S)", text);
  return CS_OK;
}

const char *loss_name(LossKind k) {
  return k == LOSS_CE ? "ce" : k == LOSS_SOBOLEV ? "sobolev" : "mse";
}

int loss_couples_rows(LossKind kind) { return kind == LOSS_SOBOLEV; }

/* ½ Σ r·(M r) over the whole grid, in MSE's loop (so s = 0 gives its bits). */
static double sobolev_eval(const LossMetric *M, size_t n, size_t k, const double *F,
                           const double *Y, double scale, double *GL) {
  if (!M || M->n != n || M->k != k) return NAN;
  double total = 0.0, *r = M->resid, *mr = M->mr;
  for (size_t i = 0; i < n * k; i++) r[i] = F[i] - Y[i];
  loss_metric_apply(M, r, mr);
#pragma omp parallel for schedule(static) reduction(+ : total) if (n * k > 8192)
  for (size_t i = 0; i < n * k; i++) {
    total += 0.5 * r[i] * mr[i];
    if (GL) GL[i] = scale * mr[i];
  }
  return total;
}

double loss_eval(LossKind kind, const LossMetric *M, size_t n, size_t k, const double *F,
                 const double *Y, double scale, double *GL, double *aux) {
  double total = 0.0;
  if (kind == LOSS_SOBOLEV) return sobolev_eval(M, n, k, F, Y, scale, GL);
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

void loss_hess_apply(LossKind kind, const LossMetric *M, size_t n, size_t k, const double *aux,
                     const double *Y, const double *RF, double scale, double *RGL) {
  if (kind == LOSS_SOBOLEV) {
    loss_metric_apply(M, RF, RGL);
    for (size_t i = 0; i < n * k; i++) RGL[i] *= scale;
    return;
  }
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

void loss_hess_apply_block(LossKind kind, size_t n, size_t kb, size_t k, const double *aux,
                           const double *Y, const double *RF, double scale,
                           const double *weight, double *RGL) {
  if (kind == LOSS_MSE && !weight) {
    loss_hess_apply(kind, NULL, n * kb, k, aux, Y, RF, scale, RGL);
    return;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < kb; j++) {
      size_t r = (i * kb + j) * k;
      loss_hess_apply(kind, NULL, 1, k, aux + i * k, Y + i * k, RF + r,
                      weight ? scale * weight[i] : scale, RGL + r);
    }
}

size_t loss_argmax(const double *f, size_t k) {
  size_t best = 0;
  for (size_t j = 1; j < k; j++)
    if (f[j] > f[best]) best = j;
  return best;
}

Batch batch_of_dataset(const Dataset *ds) {
  return (Batch){ds->X, ds->Y, ds->labels, ds->n, NULL, NULL, ds->n_all, ds->comm};
}

size_t batch_rows_all(const Batch *b) { return comm_active(b->comm) ? b->n_all : b->n; }

int batch_sum_ranks(const Batch *b, double *grad, size_t P, double *total, size_t *correct,
                    Err *err) {
  if (!comm_active(b->comm)) return CS_OK;
  int rc = grad ? comm_sum(b->comm, grad, P, err) : CS_OK;
  double s[2] = {*total, (double)*correct}; /* counts below 2^53 are exact */
  if (!rc) rc = comm_sum(b->comm, s, 2, err);
  *total = s[0], *correct = (size_t)s[1];
  return rc;
}

double objective_chunk(const Net *net, const double *theta, LossKind loss, const Batch *b,
                       size_t r0, size_t m, NetCache *cache, double *grad, size_t *correct) {
  size_t k = net->d_out;
  net_forward(net, theta, b->X + r0 * net->d_in, m, cache);
  const double *F = cache->A[net->nlayers - 1];
  /* G[top] doubles as the buffer for dL/dF: net_backward reads GL before writing G. */
  double *GL = grad ? cache->G[net->nlayers - 1] : NULL;
  /* a row-coupling loss sees the metric only when the chunk is the whole batch */
  const LossMetric *M = r0 == 0 && m == b->n ? b->metric : NULL;
  double sum = 0.0, scale = 1.0 / (double)batch_rows_all(b);
  if (!b->weight) {
    sum = loss_eval(loss, M, m, k, F, b->Y + r0 * k, scale, GL, cache->aux);
  } else { /* row by row, each ℓ_i and its gradient scaled by w_i (loss.h) */
    for (size_t i = 0; i < m; i++) {
      double w = b->weight[r0 + i];
      sum += w * loss_eval(loss, NULL, 1, k, F + i * k, b->Y + (r0 + i) * k, w * scale,
                           GL ? GL + i * k : NULL, cache->aux + i * k);
    }
  }
  if (correct && b->labels)
    for (size_t i = 0; i < m; i++)
      *correct += (int)loss_argmax(F + i * k, k) == b->labels[r0 + i];
  if (grad) net_backward(net, theta, cache, GL, grad);
  return sum;
}

/* The end of every objective pass: the ranks' sums (data-parallel batches), then the means. */
static int objective_finish(const Batch *b, double *grad, size_t P, double total, size_t correct,
                            double *loss_out, double *acc_out) {
  Err err = {0};
  int rc = batch_sum_ranks(b, grad, P, &total, &correct, &err);
  double n = (double)batch_rows_all(b);
  if (loss_out) *loss_out = rc ? NAN : total / n;
  if (acc_out) *acc_out = b->labels && !rc ? (double)correct / n : NAN;
  return rc;
}

int objective_eval(const Net *net, const double *theta, LossKind loss, const Batch *b,
                   NetCache *cache, double *grad, double *loss_out, double *acc_out) {
  double total = 0.0;
  size_t correct = 0;
  if (grad) memset(grad, 0, net->n_params * sizeof *grad);
  if (loss_couples_rows(loss) && b->n > cache->cap) {
    if (loss_out) *loss_out = NAN;
    if (acc_out) *acc_out = NAN;
    return CS_EINVAL;
  }
  for (size_t r0 = 0; r0 < b->n; r0 += cache->cap) {
    size_t m = b->n - r0 < cache->cap ? b->n - r0 : cache->cap;
    total += objective_chunk(net, theta, loss, b, r0, m, cache, grad, &correct);
  }
  return objective_finish(b, grad, net->n_params, total, correct, loss_out, acc_out);
}

static ObjectiveWork *work_alloc(const Net *net, int nthreads, size_t chunk) {
  ObjectiveWork *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->nthreads = nthreads;
  w->chunk = chunk;
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

ObjectiveWork *objective_work_alloc(const Net *net, size_t n_max, size_t chunk) {
  int T = threads_data_parallel();
  return work_alloc(net, T, layout_chunk_rows(net, n_max, chunk, T));
}

ObjectiveWork *objective_work_alloc_for(const Net *net, LossKind loss, size_t n_max,
                                        size_t chunk) {
  if (!loss_couples_rows(loss)) return objective_work_alloc(net, n_max, chunk);
  return work_alloc(net, 1, n_max ? n_max : 1);
}

void objective_work_free(ObjectiveWork *w) {
  if (!w) return;
  for (int t = 0; t < THREADS_MAX; t++) {
    net_cache_free(w->cache[t]);
    free(w->acc[t]);
    net_cache_free_f32(w->cache32[t]);
    free(w->x32[t]);
    free(w->g32[t]);
    free(w->gl64[t]);
  }
  free(w->theta32);
  free(w);
}

int objective_eval_parallel(const Net *net, const double *theta, LossKind loss, const Batch *b,
                            ObjectiveWork *w, double *grad, double *loss_out, double *acc_out) {
  if (w->theta32 && b->weight) return CS_EINVAL; /* float32 chunks are unweighted (train.c says so) */
  if (w->theta32) return objective_eval_f32(net, theta, loss, b, w, grad, loss_out, acc_out, NULL, NULL);
  size_t nchunks = (b->n + w->chunk - 1) / w->chunk, P = net->n_params;
  int T = threads_for_chunks(w->nthreads, nchunks);
  if (T < 2 || loss_couples_rows(loss)) /* too few chunks: thread the GEMMs instead */
    return objective_eval(net, theta, loss, b, w->cache[0], grad, loss_out, acc_out);
  /* T parts, each its chunks in order into its own accumulator, summed in part order:
   * the same bits whether T threads run them or fewer (threads.h, threads_parts_set) */
  double part_loss[THREADS_MAX];
  size_t part_correct[THREADS_MAX];
  int team = threads_team_for(T);
#pragma omp parallel num_threads(team) if (team > 1)
  {
    for (int p = omp_get_thread_num(); p < T; p += team) {
      double *g = threads_accumulator(grad, w->acc, p, P), total = 0.0;
      size_t lo, hi, correct = 0;
      threads_part_range(nchunks, T, p, &lo, &hi);
      for (size_t i = lo; i < hi; i++) {
        size_t r0 = i * w->chunk, m = b->n - r0 < w->chunk ? b->n - r0 : w->chunk;
        total += objective_chunk(net, theta, loss, b, r0, m, w->cache[p], g, &correct);
      }
      part_loss[p] = total, part_correct[p] = correct;
    }
  }
  if (grad) threads_sum_into(grad, w->acc, T, P);
  return objective_parts_finish(T, part_loss, part_correct, b, grad, P, loss_out, acc_out);
}

int objective_parts_finish(int T, const double *part_loss, const size_t *part_correct,
                           const Batch *b, double *grad, size_t P, double *loss_out,
                           double *acc_out) {
  double total = 0.0;
  size_t correct = 0;
  for (int p = 0; p < T; p++) total += part_loss[p], correct += part_correct[p];
  return objective_finish(b, grad, P, total, correct, loss_out, acc_out);
}

int objective_eval_norms(const Net *net, const double *theta, LossKind loss, const Batch *b,
                         ObjectiveWork *w, double *grad, double *loss_out, double *acc_out,
                         double *gnorm, double *pnorm) {
  if (w->theta32 && !b->weight)
    return objective_eval_f32(net, theta, loss, b, w, grad, loss_out, acc_out, gnorm, pnorm);
  int rc = objective_eval_parallel(net, theta, loss, b, w, grad, loss_out, acc_out);
  threads_norm_pair(grad, theta, net->n_params, gnorm, pnorm);
  return rc;
}
