/*
 * slq.c: stochastic Lanczos quadrature (spectral density) and Hutchinson's
 * trace estimator (docs/MATH.md, "Trace and spectral density").
 *
 * SLQ: for a unit probe z, m Lanczos steps give T_m = U Theta U^T and the
 * Gauss quadrature z^T f(A) z ~ sum_k U[0,k]^2 f(theta_k): the weights are the
 * squared FIRST components of T_m's eigenvectors (not the last ones, not
 * unsquared). Averaging over Rademacher probes estimates tr f(A) / n; the
 * density is that quadrature broadened by a Gaussian. Probe p always comes from
 * rng_seed_stream(seed, p), so probes do not depend on m or on n_probes.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "lanczos/lz_internal.h"

int slq_nodes(const Linop *op, int m_steps, int n_probes, uint64_t seed, double *nodes,
              double *weights, int *steps, long *matvecs, Err *err) {
  if (!op || !op->apply || op->n == 0)
    return err_set(err, CS_EINVAL, "slq_nodes: operator is NULL, has no apply or size 0");
  const size_t n = op->n, m = (size_t)m_steps;
  if (m_steps < 1 || m > n)
    return err_set(err, CS_EINVAL, "slq_nodes: m_steps=%d must be in [1, n=%zu]", m_steps, n);
  if (n_probes < 1) return err_set(err, CS_EINVAL, "slq_nodes: n_probes=%d must be >= 1", n_probes);
  if (!nodes || !weights) return err_set(err, CS_EINVAL, "slq_nodes: nodes and weights are required");
  double *Q = malloc(n * m * sizeof *Q), *w = malloc(n * sizeof *w);
  double *h = malloc(m * sizeof *h), *alpha = malloc(m * sizeof *alpha);
  double *beta = malloc(m * sizeof *beta), *d = malloc(m * sizeof *d), *e = malloc(m * sizeof *e);
  double *Z = malloc(m * m * sizeof *Z), *work = malloc((2 * m + 1) * sizeof *work);
  int rc = CS_OK;
  if (!Q || !w || !h || !alpha || !beta || !d || !e || !Z || !work) {
    rc = err_set(err, CS_ENOMEM, "slq_nodes: cannot allocate a %zu x %d basis", n, m_steps);
    goto done;
  }
  const double scale = 1.0 / sqrt((double)n);
  for (int p = 0; p < n_probes; p++) {
    Rng rng;
    rng_seed_stream(&rng, seed, (uint64_t)p);
    rng_rademacher(&rng, Q, n);
    cblas_dscal((int)n, scale, Q, 1);
    double tnorm = 0.0;
    int s = 0;
    for (int j = 0; j < m_steps; j++) {
      int bd = 0;
      double *qnext = j + 1 < m_steps ? Q + (size_t)(j + 1) * n : NULL;
      rc = lz_step(op, Q, j, 1, alpha, beta, w, h, qnext, &tnorm, &bd, err);
      if (rc) {
        err_prefix(err, "slq_nodes: probe %d", p);
        goto done;
      }
      if (matvecs) (*matvecs)++;
      s = j + 1;
      if (bd) break;
    }
    memcpy(d, alpha, (size_t)s * sizeof *d);
    if (s > 1) memcpy(e, beta, (size_t)(s - 1) * sizeof *e);
    lapack_int info = LAPACKE_dstev_work(LAPACK_COL_MAJOR, 'V', s, d, e, Z, s, work);
    if (info != 0) {
      rc = err_set(err, CS_ENOCONV, "slq_nodes: LAPACK dstev failed on probe %d (info=%d)", p,
                   (int)info);
      goto done;
    }
    double *np = nodes + (size_t)p * m, *wp = weights + (size_t)p * m;
    for (int k = 0; k < m_steps; k++) {
      if (k < s) {
        double u0 = Z[(size_t)k * s]; /* first component of eigenvector k */
        np[k] = d[k];
        wp[k] = u0 * u0;
      } else {
        np[k] = d[s - 1];
        wp[k] = 0.0;
      }
    }
    if (steps) steps[p] = s;
  }
done:
  free(Q);
  free(w);
  free(h);
  free(alpha);
  free(beta);
  free(d);
  free(e);
  free(Z);
  free(work);
  return rc;
}

double slq_moment(const double *nodes, const double *weights, size_t count, int n_probes, int j) {
  double acc = 0.0;
  for (size_t i = 0; i < count; i++) acc += weights[i] * pow(nodes[i], j);
  return acc / n_probes;
}

int slq_density(const Linop *op, int m_steps, int n_probes, uint64_t seed, int grid_n,
                double sigma, double *grid_x, double *density, double *node_out,
                double *weight_out, Err *err) {
  if (grid_n < 2 || !grid_x || !density)
    return err_set(err, CS_EINVAL, "slq_density: grid_n=%d must be >= 2 with grid_x and density",
                   grid_n);
  if (!isfinite(sigma)) return err_set(err, CS_EINVAL, "slq_density: sigma=%g", sigma);
  if (m_steps < 1 || n_probes < 1)
    return err_set(err, CS_EINVAL, "slq_density: m_steps=%d and n_probes=%d must be >= 1",
                   m_steps, n_probes);
  const size_t count = (size_t)m_steps * (size_t)n_probes;
  double *nodes = node_out ? node_out : malloc(count * sizeof *nodes);
  double *weights = weight_out ? weight_out : malloc(count * sizeof *weights);
  int rc = CS_OK;
  if (!nodes || !weights) {
    rc = err_set(err, CS_ENOMEM, "slq_density: cannot allocate %zu quadrature nodes", count);
    goto done;
  }
  rc = slq_nodes(op, m_steps, n_probes, seed, nodes, weights, NULL, NULL, err);
  if (rc) {
    err_prefix(err, "slq_density");
    goto done;
  }
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < count; i++)
    if (weights[i] > 0.0) {
      if (nodes[i] < lo) lo = nodes[i];
      if (nodes[i] > hi) hi = nodes[i];
    }
  if (sigma <= 0.0)
    sigma = hi > lo ? 0.01 * (hi - lo) : 1e-3 * fmax(1.0, fabs(hi));
  const double pad = 6.0 * sigma, x0 = lo - pad, dx = (hi - lo + 2.0 * pad) / (grid_n - 1);
  for (int g = 0; g < grid_n; g++) {
    grid_x[g] = x0 + g * dx;
    density[g] = 0.0;
  }
  const double norm = 1.0 / (sigma * sqrt(2.0 * M_PI) * n_probes), inv2s2 = 0.5 / (sigma * sigma);
  for (size_t i = 0; i < count; i++) {
    if (!(weights[i] > 0.0)) continue;
    const double c = weights[i] * norm, t = nodes[i];
    for (int g = 0; g < grid_n; g++) {
      double u = grid_x[g] - t;
      density[g] += c * exp(-u * u * inv2s2);
    }
  }
done:
  if (nodes != node_out) free(nodes);
  if (weights != weight_out) free(weights);
  return rc;
}

int trace_hutchinson(const Linop *op, int m, uint64_t seed, double *mean, double *stderr_,
                     Err *err) {
  if (!op || !op->apply || op->n == 0)
    return err_set(err, CS_EINVAL, "trace_hutchinson: operator is NULL, has no apply or size 0");
  if (m < 1) return err_set(err, CS_EINVAL, "trace_hutchinson: m=%d probes must be >= 1", m);
  if (!mean) return err_set(err, CS_EINVAL, "trace_hutchinson: mean is NULL");
  const size_t n = op->n;
  double *z = malloc(n * sizeof *z), *y = malloc(n * sizeof *y);
  if (!z || !y) {
    free(z);
    free(y);
    return err_set(err, CS_ENOMEM, "trace_hutchinson: cannot allocate probes (n=%zu)", n);
  }
  double mu = 0.0, m2 = 0.0; /* Welford */
  int rc = CS_OK;
  for (int i = 0; i < m; i++) {
    Rng rng;
    rng_seed_stream(&rng, seed, (uint64_t)i);
    rng_rademacher(&rng, z, n);
    rc = op->apply(op->self, z, y);
    if (rc) {
      err_set(err, rc, "trace_hutchinson: operator apply failed on probe %d (status %d)", i, rc);
      break;
    }
    double q = cblas_ddot((int)n, z, 1, y, 1), delta = q - mu;
    mu += delta / (i + 1);
    m2 += delta * (q - mu);
  }
  free(z);
  free(y);
  if (rc) return rc;
  *mean = mu;
  if (stderr_) *stderr_ = m > 1 ? sqrt(m2 / (m - 1) / m) : NAN;
  return CS_OK;
}
