/*
 * probes.h: curvature measurements run during training (`--probe SPEC`).
 *
 *   sharpness:every=K,k=2,samples=N,tol=T,update_tol=U,solver=lanczos|arpack,warm=true
 *       top-k eigenvalues of the training-loss Hessian on the first N examples
 *       (all by default) every K steps; eigs rows with operator "hessian", and
 *       metric sharpness_threshold = the optimizer's threshold (2/η for GD).
 *   precond-sharpness:... (Adam) λ_max of P^{-1/2} H P^{-1/2}, operator "precond",
 *       with metric precond_threshold = (2+2β1)/((1−β1)η); raw sharpness alongside.
 *   gn-sharpness:... Gauss-Newton proxy: λ_max of the GGN (operator "ggn"; for MSE
 *       with ½ this is (1/n)λ_max(JJᵀ)), metric gn_sharpness, and the residual
 *       measures residual_R = ‖(I − uuᵀ)D‖²/n and residual_Dv = ⟨D, u⟩ with
 *       D = f − y and u the top eigenvector of JJᵀ (docs/EOS.md).
 *   spectral:every=K,eps=E  the spectral-bias measurement on grid data (normalised
 *       magnitudes, relative errors and residual spectrum of the network on the grid,
 *       convergence times τ_k; studies/spectral/spectral.h, docs/SPECTRAL.md).
 *   ntk:every=K,k=20,dense=auto,layers=true,t1=T,probes=8  the empirical NTK on the
 *       training set: spectrum, residual projections, rates against the kernel
 *       prediction, per-layer spectra, drift (studies/ntk/ntk.h, docs/NTK.md).
 *   freqp:every=K,delta=D,eps=E  the frequency principle on the training set: e_low and
 *       e_high of Xu et al.'s Gaussian filter on the inputs (studies/freqp/freqp.h,
 *       docs/FREQP.md).
 * Each sharpness probe tracks its eigenvectors (studies/track.h): one block product and a
 * Rayleigh-Ritz check per measurement when the previous vectors still fit, else a
 * full solve to tol warm-started from them (warm=false: a cold solve every time).
 * update_tol (default tol) is the bound the one-product update must meet: with a
 * looser one, e.g. every=1,k=1,update_tol=1e-3, nearly every measurement is a single
 * product. On a full-batch run a due probe also evaluates the step's gradient in its
 * own build (Probe.step_eval, same bits), so a measured step costs one pass less.
 *
 * prec: the arithmetic of the sharpness probes' passes (--precision). Under float32
 * passes tol (and update_tol) must be at least precision_tol_min, the default tol becomes
 * that floor. The loop's steps run at the same precision (TrainConfig.precision, set from
 * the same --precision), so a due probe still hands the loop its build's gradient, the
 * same bits. gn-sharpness, spectral and ntk probes are float64 only.
 *
 * Ownership: probe_create fills a Probe whose destroy() frees its state.
 */
#ifndef CS_PROBES_H
#define CS_PROBES_H

#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/precision.h"
#include "core/train.h"

int probe_create(const char *spec, const Net *net, const Dataset *train, LossKind loss,
                 const OptimizerType *opt, Precision prec, Probe *out, Err *err);

#endif
