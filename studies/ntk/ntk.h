/*
 * ntk.h: the empirical neural tangent kernel of a Net on a batch (docs/NTK.md).
 *
 * J = ∂F/∂θ is the (N = n·d_out) × P Jacobian of the outputs F [n][d_out], row i·d_out + j
 * = ∂f_j(x_i)/∂θ (the layout of curv_jvp's output), and K = J Jᵀ (N × N). The parameters
 * split by trainable layer l (W_l and b_l), so J = [J_0 J_1 ...] and K = Σ_l K_l with
 * K_l = J_l J_lᵀ, the per-layer kernel.
 *
 * Two paths, the same numbers:
 *   dense (N small):  no J at all. With U_l = α_l A_{l-1} W_lᵀ + β_l b_l, the row of J_l for
 *                     (i, j) is α_l g ⊗ a_i (W) and β_l g (b), g = ∂f_j(x_i)/∂U_l the row i of
 *                     the backward from dL/dF = e_j; hence
 *                       K_l[(i,j),(i',j')] = ⟨g_ij, g_i'j'⟩ (α_l² ⟨a_i, a_i'⟩ + β_l² [bias])
 *                     from d_out backward passes over the batch and two Gram matrices per
 *                     layer: O(N² width) instead of O(N² P). Top pairs by LAPACK dsyevr.
 *   matrix-free:      the Linop J Jᵀ of hessian/curv.h (Jᵀu then Jv, chunk by chunk), and
 *                     J M_l Jᵀ (M_l keeps layer l's parameters) for a layer; top pairs by
 *                     the engine's thick-restart Lanczos (lanczos/eig.h).
 *
 * Ownership: _alloc/_free pairs (NULL-safe); arrays are caller-owned and sized as stated.
 * Thread safety: one call at a time per workspace (BLAS threads inside).
 */
#ifndef CS_NTK_H
#define CS_NTK_H

#include <stddef.h>
#include <stdint.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/linop.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/train.h"
#include "hessian/curv.h"

/* Trainable layers of net (the per-layer kernels' count). */
int ntk_nlayers(const Net *net);

/* ---- dense path (kernel.c) ---------------------------------------------------------- */

typedef struct NtkDense NtkDense;
/* Workspace for batches of up to n_max rows. */
NtkDense *ntk_dense_alloc(const Net *net, size_t n_max, Err *err);
void ntk_dense_free(NtkDense *w);
/* K [N][N] at θ on rows X [n][d_in] (n <= n_max); Kl (optional) receives the per-layer
 * kernels, layer t at Kl + t·N² (t counting trainable layers from 0). */
int ntk_dense_kernel(NtkDense *w, const double *theta, const double *X, size_t n, double *K,
                     double *Kl, Err *err);

/* The top k eigenpairs of the symmetric K [N][N] (unchanged) by dsyevr: values descending
 * in vals[k], unit vector i at vecs + i·N; scratch holds ntk_eig_scratch_size(N) doubles. Each vector's sign is fixed (its largest entry positive) so
 * that successive measurements compare. k <= N. */
size_t ntk_eig_scratch_size(size_t N);
int ntk_dense_top(size_t N, const double *K, int k, double *vals, double *vecs, double *scratch,
                  Err *err);

/* ---- matrix-free path (layer_op.c) ---------------------------------------------------- */

/* J M Jᵀ over a built Curvature, M the projection on parameter ranges (offset, length). */
typedef struct NtkMaskOp NtkMaskOp;
NtkMaskOp *ntk_mask_op_alloc(Curvature *c, const size_t *ranges, int npairs, Err *err);
void ntk_mask_op_free(NtkMaskOp *op);
Linop ntk_mask_op_linop(NtkMaskOp *op);
/* The (offset, length) range of trainable layer t (W and b, adjacent in θ). */
void ntk_layer_range(const Net *net, int t, size_t range[2]);

/* Top k eigenpairs of op by eig_lanczos_top (tol relative), vals descending, vectors at
 * vecs + i·n with the sign of ntk_dense_top. CS_ENOCONV is not an error here: the best
 * pairs are returned and *converged says so (may be NULL). */
int ntk_lanczos_top(const Linop *op, int k, double tol, uint64_t seed, double *vals,
                    double *vecs, int *converged, Err *err);

/* ---- analysis pieces (analysis.c) ----------------------------------------------------- */

/* Fixes v's sign: its entry of largest magnitude becomes positive. */
void ntk_sign_fix(double *v, size_t n);
/* Kernel prediction for full-batch GD on MSE ½·mean‖f − y‖² (core/loss.c): the residual
 * r = f − y follows r_{t+1} ≈ (I − (η/n) K) r_t, so its projection on eigenvector i decays
 * by −log|1 − η λ_i / n| per step (≈ η λ_i / n). */
double ntk_predicted_rate(double lr, double lambda, size_t n);
/* Measured decay rate of a projection: −log(|p_t| / |p_0|) / t; NAN when t <= 0 or p_0 = 0. */
double ntk_measured_rate(double p0, double pt, long t);
/* How many leading pairs follow the kernel: the largest m such that every i < m has
 * |meas_i/pred_i − 1| <= tol (metric ntk_rate_agree, tol NTK_AGREE_TOL). */
#define NTK_AGREE_TOL 0.1
size_t ntk_rates_agree(const double *meas, const double *pred, size_t k, double tol);
/* Dominant frequency of a vector on a grid (dims 1 or 2, n points per axis): the |k| of the
 * largest-magnitude DFT bin (k = 0 included), from the transform F of spec_fft_apply. */
double ntk_dominant_freq(int dims, size_t n, const double *F);

/* ---- the probe (probe.c) --------------------------------------------------------------- */

/*
 * Probe spec: ntk:every=K,k=20,dense=auto|yes|no,layers=true|false,t1=T,probes=8
 * Every K steps (and at the last) on the whole training set: the spectrum, the residual's
 * projections on the eigenvectors of K_0 (those at step 0), per-layer spectra, the drift
 * ‖K_t − K_0‖_F/‖K_0‖_F (dense: exact; matrix-free: from `probes` fixed Rademacher
 * vectors z, √(Σ‖(K_t − K_0)z‖² / Σ‖K_0 z‖²)), and on grid data each eigenvector's
 * dominant frequency. The rates compare at step t1 (default: the first measurement after
 * step 0). Series and metrics: docs/SCHEMA.md; the run-level ones (step -1) are rewritten
 * at every measurement so the last stands. MSE only.
 */
int ntk_probe_matches(const char *text);
/* λ_max of K at θ on the whole of train (the probe's dense=auto choice of path): what sets
 * the step size, ηλ_max/n < 2 for full-batch GD on MSE. */
int ntk_lambda_max(const Net *net, const double *theta, const Dataset *train, double *lmax,
                   Err *err);
int ntk_probe_create(const char *text, const Net *net, const Dataset *train, LossKind loss,
                     const OptimizerType *opt, Probe *out, Err *err);

#endif
