/*
 * batch_fit.h: the fits of the batch-scaling study (docs/BATCH.md), pure
 * functions over arrays.
 *
 * With draws without replacement the excess of the mini-batch mean λ̄(B) over
 * the whole-set λ_N vanishes at B = N, so both models are written in
 * u = 1/B − 1/N:
 *   power law   λ̄(B) − λ_N ≈ c·u^a, least squares of log excess on log u (sizes with a
 *               positive excess only), R² in log space;
 *   spiked      λ̄(B) − λ_N ≈ K·u, least squares through the origin, R² in linear space;
 *               K = P σ²/λ_N in the spiked-Wigner outlier formula λ_N + (P/B) σ²/λ_N
 *               (docs/BATCH.md), so σ² = K λ_N / P is the element variance per example.
 * The spiked model also predicts λ̄(B) from the measured noise alone: with
 * hv = E‖(H_B − H_N) z‖² for a unit z (hess_var's expectation), P·Var(ε_ij) = hv,
 * and λ'_1 = λ_N + hv/λ_N above the threshold λ_N² > hv, else 2√hv.
 */
#ifndef CS_BATCH_FIT_H
#define CS_BATCH_FIT_H

#include <stddef.h>

#include "core/err.h"

#define BS_FIT_MAX 64 /* points a fit takes at most */

typedef struct BatchFit {
  double a, c, r2;   /* power law: exponent, coefficient, R² (log space); spiked: a = 1, c = K */
  int npoints;       /* sizes used */
} BatchFit;

/* Least-squares line y ≈ slope·x + icept over n >= 2 points (x not all equal); r2 =
 * 1 − SS_res/SS_tot (1 when y is constant and fitted exactly). CS_EINVAL otherwise. */
int batch_fit_line(const double *x, const double *y, int n, double *slope, double *icept,
                   double *r2, Err *err);

/* The power law over the sizes B[i] < N (nb entries, mean[i] = λ̄(B[i])). CS_EINVAL when
 * fewer than two sizes have λ̄ > λ_N. */
int batch_fit_power(const size_t *B, const double *mean, int nb, size_t N, double lambda_N,
                    BatchFit *f, Err *err);
/* The spiked model's K over the sizes B[i] < N (at least one). */
int batch_fit_spiked(const size_t *B, const double *mean, int nb, size_t N, double lambda_N,
                     BatchFit *f, Err *err);
/* The spiked model's λ'_1 from the noise hv (see above); λ_N > 0. */
double batch_spiked_predict(double lambda_N, double hv);

/* Spearman's rank correlation of (x, y), ties ranked by their mean rank; NAN when n < 2 or
 * either has no spread. */
double batch_spearman(const double *x, const double *y, int n);

#endif
