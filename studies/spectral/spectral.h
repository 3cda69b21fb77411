/*
 * spectral.h: the spectral-bias measurement (Rahaman et al. 2019; docs/SPECTRAL.md).
 *
 * On grid data (synth:sines, synth:sines2d, a square image:PATH: the training inputs are
 * the grid, whole periods, so FFT bin k is frequency k) the probe evaluates the network on the grid
 * every `every` steps and takes its discrete Fourier transform with FFTW,
 *   F(k) = (1/N) Σ_j f(z_j) e^{-2πi k·j/n}        (N = n^dims grid points),
 * and that of the target T(k) once. At each target frequency k_i it records
 *   series freq_amp  (idx k_i)   2|F(k_i)|/A_i, the normalised magnitude (1 = learned)
 *   series freq_err  (idx k_i)   |F(k_i) − T(k_i)|/|T(k_i)|, the relative error
 *   series freq_resid (idx bin)  the residual's one-sided amplitude spectrum: 2|T−F| at
 *                                 bins 0 < k < n/2, |T−F| at 0 and n/2 (2-D: shell
 *                                 round(|k|) = idx, √(2 Σ|T−F|²) over the full spectrum's
 *                                 bins in it, so a lone plane wave of amplitude A reads A)
 *   metrics psnr_train, psnr_test  10 log10(R²/MSE), R the peak-to-peak range of the
 *                                 training targets (about 1 for a photograph)
 * and, overwritten at each measurement so the last one stands, the run-level results
 * (step -1): series freq_tau (idx k_i: τ_i, the first measured step with freq_err
 * below eps; NULL when never), metrics freq_order_spearman (Spearman of τ against |k|,
 * never-converged frequencies ranked as +∞), freq_unlearned (how many never
 * converged), freq_tau_ratio (max τ / min τ, NULL unless all converged at steps > 0),
 * psnr_train, psnr_test. For 2-D targets idx is the component's index i, and |k| the
 * Euclidean norm of (kx, ky). An image has no target frequencies: no freq_amp, freq_err
 * or τ; instead series image_fit (the network on the grid) and image_target at step -1.
 * An RGB image (image:PATH,color=rgb) has C = 3 outputs: image_fit and image_target are
 * [N][3], PSNR is over all 3N values, and freq_resid adds the channels' energies.
 *
 * Probe spec: spectral:every=K,eps=E   (defaults 100 and 0.5)
 *
 * Ownership: spectral_probe_create fills a Probe whose destroy() frees its state.
 * Thread safety: FFTW plans are made at creation (not thread-safe; one thread).
 */
#ifndef CS_SPECTRAL_H
#define CS_SPECTRAL_H

#include <stddef.h>

#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/train.h"

/* 1 when the probe spec names this probe ("spectral" or "spectral:..."). */
int spectral_probe_matches(const char *text);
/* The probe over train's grid; CS_EINVAL naming the bad key, or the data when they
 * are not grid data with target frequencies. */
int spectral_probe_create(const char *text, const Net *net, const Dataset *train, Probe *out,
                          Err *err);

/* The Sobolev loss's metric M on train's grid (--loss sobolev:s=S; docs/SPECTRAL.md):
 * the direct circulant for a 1-D grid, an FFTW product for a 2-D one. CS_EINVAL naming
 * the data when train is not a whole grid; the caller frees *out (loss_metric_free). */
int spectral_sobolev_metric(const Dataset *train, double s, LossMetric **out, Err *err);

/* ---- the pieces, exposed for tests ---------------------------------------------- */

/* The forward DFT of real data on a grid of n points per axis (dims 1 or 2, row-major
 * [n][n] for 2-D), by FFTW, scaled by 1/N. Output: n/2+1 bins (1-D), n x (n/2+1) (2-D,
 * bin (kx, ky) at kx*(n/2+1) + ky, ky >= 0). */
typedef struct SpecFFT SpecFFT;
SpecFFT *spec_fft_alloc(int dims, size_t n);
void spec_fft_free(SpecFFT *f);
size_t spec_fft_bins(const SpecFFT *f);
/* F = DFT(y[N]) / N as interleaved (re, im) pairs: F[2 spec_fft_bins]. */
void spec_fft_apply(SpecFFT *f, const double *y, double *F);

/* Spearman's rank correlation of x and y (n values): the Pearson correlation of their
 * ranks, ties (+∞ among them) given their average rank. NAN when n < 2, either is
 * constant, or a value is NaN. */
double spec_spearman(const double *x, const double *y, size_t n);
/* Average ranks (1-based) of v[n] into rank[n]; +∞ ranks last, ties share their mean. */
void spec_ranks(const double *v, size_t n, double *rank);

/* τ bookkeeping: tau[i] < 0 means not yet converged; at `step`, each unconverged i with
 * err[i] < eps gets tau[i] = step. Returns how many remain unconverged. */
size_t spec_tau_update(double *tau, const double *err, size_t n, double eps, long step);

/* 10 log10(range² / mse); +∞ for mse 0, NAN for a non-positive range. */
double spec_psnr(double mse, double range);

#endif
