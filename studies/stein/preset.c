/* preset.c: the data/model pairs of the Stein study (stein.h, docs/STEIN.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "stein.h"

void stein_pair_free(SteinPair *pr) {
  if (!pr) return;
  stein_model_free(&pr->p);
  stein_model_free(&pr->q);
}

/* q = N(0, I), p = N(pert·1, I). */
static int pair_gauss(SteinPair *pr, size_t d, double pert, Err *err) {
  double *mu = calloc(d, sizeof *mu), *cov = calloc(d * d, sizeof *cov), w = 1;
  if (!mu || !cov) {
    free(mu), free(cov);
    return err_set(err, CS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < d; i++) cov[i * d + i] = 1;
  int rc = stein_mixture_init(&pr->q, d, 1, &w, mu, cov, err);
  for (size_t i = 0; i < d; i++) mu[i] = pert;
  if (!rc) rc = stein_mixture_init(&pr->p, d, 1, &w, mu, cov, err);
  free(mu), free(cov);
  return rc;
}

/* Repasky et al.'s d-dimensional mixture: p = ½N(0, Σ1) + ½N(½·1, Σ2), Σ1 = I with 0.5 at
 * (0,1) and (1,0), Σ2 = D(I with −0.5 there)D, D = diag(0.8, 1, ...); q the same means
 * with identity covariances. */
static int pair_mixture(SteinPair *pr, size_t d, Err *err) {
  if (d < 2) return err_set(err, CS_EINVAL, "gauss-mixture: d=%zu must be at least 2", d);
  double w[2] = {0.5, 0.5};
  double *mu = calloc(2 * d, sizeof *mu), *cov = calloc(2 * d * d, sizeof *cov);
  if (!mu || !cov) {
    free(mu), free(cov);
    return err_set(err, CS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < d; i++) mu[d + i] = 0.5;
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < d; i++) cov[k * d * d + i * d + i] = 1;
  int rc = stein_mixture_init(&pr->q, d, 2, w, mu, cov, err);
  double *S1 = cov, *S2 = cov + d * d;
  S1[1] = S1[d] = 0.5;
  S2[1] = S2[d] = -0.5 * 0.8;  /* D(·)D with D_00 = 0.8, D_11 = 1 */
  S2[0] = 0.8 * 0.8;
  if (!rc) rc = stein_mixture_init(&pr->p, d, 2, w, mu, cov, err);
  free(mu), free(cov);
  return rc;
}

/* q: B ∈ {±1}, b, c ~ N(0, 1); p: the same with B + pert·N(0, 1) (as LSD's benchmark). */
static int pair_rbm(SteinPair *pr, size_t dx, size_t dh, double pert, long burnin, Rng *rng,
                    Err *err) {
  double *B = malloc(dx * dh * sizeof *B), *b = malloc(dx * sizeof *b), *c = malloc(dh * sizeof *c);
  if (!B || !b || !c) {
    free(B), free(b), free(c);
    return err_set(err, CS_ENOMEM, "out of memory");
  }
  rng_rademacher(rng, B, dx * dh);
  rng_normal_fill(rng, b, dx);
  rng_normal_fill(rng, c, dh);
  int rc = stein_rbm_init(&pr->q, dx, dh, B, b, c, burnin, err);
  for (size_t i = 0; i < dx * dh; i++) B[i] += pert * rng_normal(rng);
  if (!rc) rc = stein_rbm_init(&pr->p, dx, dh, B, b, c, burnin, err);
  free(B), free(b), free(c);
  return rc;
}

int stein_pair_parse(SteinPair *pr, const char *text, double pert_override, int null, Rng *rng,
                     Err *err) {
  memset(pr, 0, sizeof *pr);
  Spec s;
  if (spec_parse(&s, text, err)) return CS_EINVAL;
  long d = 2, dx = 50, dh = 40, burnin = 2000;
  double pert = 0;
  int rc = CS_OK, kind = -1;
  if (!strcmp(s.kind, "gauss")) kind = 0, pert = 0.2;
  else if (!strcmp(s.kind, "gauss-mixture")) kind = 1, d = 25;
  else if (!strcmp(s.kind, "rbm")) kind = 2, pert = 0.02;
  if (kind < 0)
    rc = err_set(err, CS_EINVAL, "unknown model '%s' (known: gauss, gauss-mixture, rbm)", s.kind);
  if (!rc && kind < 2) rc = spec_get_int(&s, "d", &d, err);
  if (!rc && kind == 2) rc = spec_get_int(&s, "dx", &dx, err);
  if (!rc && kind == 2) rc = spec_get_int(&s, "dh", &dh, err);
  if (!rc && kind == 2) rc = spec_get_int(&s, "burnin", &burnin, err);
  if (!rc && kind != 1) rc = spec_get_double(&s, "pert", &pert, err);
  if (!rc) rc = spec_check_unused(&s, 0, err);
  if (!rc && kind < 2) rc = range_check("d", (double)d, 1, 4096, 0, err);
  if (!rc && kind == 2) rc = range_check("dx", (double)dx, 1, 4096, 0, err);
  if (!rc && kind == 2) rc = range_check("dh", (double)dh, 1, 4096, 0, err);
  if (!rc && kind == 2) rc = range_check("burnin", (double)burnin, 0, 1e7, 0, err);
  if (!rc && kind == 1 && pert_override >= 0)
    rc = err_set(err, CS_EINVAL, "--pert does not apply to gauss-mixture (its p is fixed)");
  if (!rc && pert_override >= 0) pert = pert_override;
  if (!rc) rc = range_check("pert", pert, 0, 1e6, 0, err);
  if (!rc) {
    snprintf(pr->name, sizeof pr->name, "%s", s.kind);
    pr->pert = null ? 0 : pert;
    if (kind == 0) rc = pair_gauss(pr, (size_t)d, pert, err);
    else if (kind == 1) rc = pair_mixture(pr, (size_t)d, err);
    else rc = pair_rbm(pr, (size_t)dx, (size_t)dh, pert, burnin, rng, err);
  }
  if (!rc && null) {  /* p = q */
    stein_model_free(&pr->p);
    rc = stein_model_copy(&pr->p, &pr->q, err);
  }
  spec_free(&s);
  if (rc) stein_pair_free(pr);
  return rc;
}
