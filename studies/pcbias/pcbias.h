/*
 * pcbias.h: the principal-component bias of deep linear networks (Hacohen & Weinshall,
 * JMLR 2022; docs/PCBIAS.md).
 *
 * Definitions (loss ½ mean ‖W x − y‖², so ∇_W L = W Σ − Σ_YX):
 *   Σ = XᵀX/n = U D Uᵀ (uncentred, the inputs as trained on), d_1 >= d_2 >= ...
 *   W* = Σ_YX Σ⁺ (least squares, minimum norm; eigenvalues below d·ε_mach·d_1 cut)
 *   W  = W_L ⋯ W_1, the end-to-end matrix of a bias-free net with identity activations
 *   e_j(t) = ‖(W_t − W*)u_j‖ / ‖(W_0 − W*)u_j‖, j = 1..k
 *   excess(t) = (L(W_t) − L(W*)) / (L(W_0) − L(W*)), L − L* = ½ Σ_j d_j ‖(W − W*)u_j‖²
 * Depth 1, full-batch GD: (W_{t+1} − W*) = (W_t − W*)(I − ηΣ), so e_j(t) = |1 − η d_j|^t.
 * Deeper nets, balanced (orthogonal) init, early training: e_j(t) ≈ |1 − η L d_j|^t.
 *
 * Pieces: PcBasis (the data's side: PCs and W*), the end-to-end matrix and projections,
 * the run's Probe (every `every` steps: e_j, excess, per-example correctness), and the
 * analysis of a run's e_j history (rates r_j at t₁, times τ_j to ε, Spearman ranks).
 *
 * Ownership: _compute/_create allocate, _free/destroy release (NULL-safe).
 * Thread safety: one probe per run; BLAS threads inside.
 */
#ifndef CS_PCBIAS_H
#define CS_PCBIAS_H

#include <stddef.h>

#include "core/dataset.h"
#include "core/net.h"
#include "core/recorder.h"
#include "core/train.h"

/* ---- the data's side (basis.c) ---------------------------------------------------- */

typedef struct PcBasis {
  size_t d, m;          /* input dimension, outputs */
  double *eval;         /* [d] eigenvalues of Σ, descending (negative round-off clamped to 0) */
  double *evec;         /* [d][d] row j = u_j */
  double *w_star;       /* [m][d] W* = Σ_YX Σ⁺ */
  size_t rank;          /* eigenvalues kept by the pseudo-inverse */
} PcBasis;

/* From X [n][d] and Y [n][m]. CS_EINVAL when n or d is 0. */
int pc_basis_compute(const double *X, const double *Y, size_t n, size_t d, size_t m, PcBasis *b,
                     Err *err);
void pc_basis_free(PcBasis *b);

/* CS_OK when net is a deep linear net: no biases, identity activations, no embedding,
 * no scaling; else CS_EINVAL naming what is not. */
int pc_net_check_linear(const Net *net, Err *err);
/* Doubles of scratch pc_end_to_end needs. */
size_t pc_end_to_end_work(const Net *net);
/* W [d_out][d_in] = W_L ⋯ W_1 of θ, multiplied from the output side (d_out × width
 * products, cheap when d_out is small). */
void pc_end_to_end(const Net *net, const double *theta, double *W, double *work);
/* P [m][d] = (W − W*) Uᵀ (column j = (W − W*) u_j); norms[j] = ‖column j‖ for j < k;
 * returns L(W) − L(W*) = ½ Σ_j d_j ‖column j‖². Dw [m][d] is scratch. */
double pc_project(const PcBasis *b, const double *W, size_t k, double *norms, double *P,
                  double *Dw);

/* ---- the analysis of one run (analysis.c) ------------------------------------------- */

/* Spearman's ρ with average ranks for ties (±INFINITY rank as largest/smallest values);
 * NAN when n < 2, a value is NaN, or a side is constant. */
double pc_spearman(const double *x, const double *y, size_t n);
/* First time e(t) < eps by log-linear interpolation between the measurements
 * bracketing it; e[i * stride] at step t[i]; NAN when never. */
double pc_first_below(const long *t, const double *e, size_t M, size_t stride, double eps);

typedef struct PcAnalysisOpts {
  size_t k;             /* components */
  double eps;           /* τ_j threshold (0.1) */
  long t1;              /* -1: first measurement where the median e_j < 0.5 */
  double lr;            /* η */
  int depth;            /* weight layers L */
  int exact;            /* depth 1, full-batch GD: compare e_j with |1 − η d_j|^t */
} PcAnalysisOpts;

typedef struct PcAnalysis {
  double *rate;         /* [k] r_j = −log e_j(t) / t at t₁ (see pc_analyze) */
  double *tau;          /* [k] τ_j, NAN when e_j never fell below eps */
  double *theory;       /* [k] −log|1 − η L d_j| */
  double *whole;        /* [k] least-squares slope of −log e_j(t) over the whole run */
  long t1;              /* step of the rate measurement */
  double rate_spearman, rate_slope, ratio_spread, rate_spread, theory_ratio;
  double tau_spearman, whole_spearman, theory_max_err;
  long tau_reached;
} PcAnalysis;

/* The run's analysis from M measurements at steps t[0..M) (t[0] = 0) with e [M][k] and
 * eigenvalues d [k]. Fills a (arrays allocated; pc_analysis_free). M < 2 leaves NANs. */
int pc_analyze(const PcAnalysisOpts *o, const long *t, const double *e, size_t M,
               const double *d, PcAnalysis *a, Err *err);
void pc_analysis_free(PcAnalysis *a);

/* ---- the probe (probe.c) ---------------------------------------------------------- */

typedef struct PcProbeOpts {
  long every;           /* measure every K steps (and at the last) */
  size_t k;             /* components followed (capped at d) */
  double eps;           /* τ threshold */
  long t1;              /* -1: auto */
  int linear;           /* 1: e_j and excess (the net must be deep linear) */
  int access;           /* count per-example correctness (needs labels; ignored without) */
  int exact;            /* compare with |1 − η d_j|^t (depth 1, full-batch GD) */
  double lr;
  long steps;           /* the run's step cap (sizes the history) */
} PcProbeOpts;

/* Every `every` steps the probe records series pc_error (idx j, e_j(t)) and metric
 * pc_excess (linear), and with `access` adds 1[argmax f(x_i) = label_i] to each example's
 * count when the data have labels. train is kept by pointer. */
int pc_probe_create(const PcProbeOpts *o, const Net *net, const Dataset *train, Probe *out,
                    Err *err);

typedef struct PcRunResult {
  PcAnalysis an;        /* linear probes */
  double excess_final, excess_half;   /* excess ratio at the end; first step it is below ½ */
  double probe_cost;    /* mean probe call / mean training step (wall time) */
  size_t n;             /* examples with correctness counts (0: no labels) */
  double *correct;      /* [n] fraction of measurements at which example i was correct */
  long measurements;
} PcRunResult;

/* After training (wall_s and steps_done from TrainResult): the run-level analysis,
 * written to rec at step -1 (series pc_eigenvalue, pc_rate, pc_tau, pc_theory_rate,
 * pc_rate_whole, pc_correct; metrics pc_*, docs/SCHEMA.md), and returned in r
 * (pc_run_result_free). */
int pc_probe_finish(Probe *p, Recorder *rec, double wall_s, long steps_done, PcRunResult *r,
                    Err *err);
void pc_run_result_free(PcRunResult *r);

#endif
