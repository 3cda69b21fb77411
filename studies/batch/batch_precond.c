/* batch_precond.c: Adam's steady-state preconditioner per batch size (see batch_precond.h). */
#include "batch_precond.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int batch_precond_moments(const Net *net, LossKind loss, const double *theta,
                          const Dataset *train, double *gmean, double *gvar, Err *err) {
  size_t P = net->n_params, N = train->n;
  NetCache *cache = net_cache_alloc(net, 1, 0);
  double *g = malloc(P * sizeof *g);
  if (!cache || !g) {
    net_cache_free(cache);
    free(g);
    return err_set(err, CS_ENOMEM, "out of memory for per-example gradients (%zu parameters)", P);
  }
  memset(gmean, 0, P * sizeof *gmean);
  memset(gvar, 0, P * sizeof *gvar); /* Σ (g − mean)² so far (Welford's M2) */
  Batch all = {train->X, train->Y, train->labels, N, NULL, NULL};
  for (size_t i = 0; i < N; i++) {
    memset(g, 0, P * sizeof *g);
    /* row i's share of the mean's gradient, g_i / N (net_backward accumulates) */
    objective_chunk(net, theta, loss, &all, i, 1, cache, g, NULL);
    double k = (double)(i + 1);
    for (size_t j = 0; j < P; j++) {
      double x = g[j] * (double)N, d = x - gmean[j];
      gmean[j] += d / k;
      gvar[j] += d * (x - gmean[j]);
    }
  }
  for (size_t j = 0; j < P; j++) gvar[j] /= (double)N;
  net_cache_free(cache);
  free(g);
  return CS_OK;
}

void batch_precond_for_size(const double *gmean, const double *gvar, size_t P, size_t N,
                            size_t B, double eps, double *out) {
  /* the variance of a mean of B of N rows drawn without replacement */
  double f = N > 1 && B < N ? (double)(N - B) / ((double)B * (double)(N - 1)) : 0.0;
  for (size_t j = 0; j < P; j++) out[j] = sqrt(gmean[j] * gmean[j] + f * gvar[j]) + eps;
}
