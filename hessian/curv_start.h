/*
 * curv_start.h: start vectors for the top eigenpair of the Hessian or the GGN.
 *
 * A seeded Gaussian start has overlap about 1/√P with the top eigenvector. Near a
 * network's initialisation (and wherever the Gauss-Newton part dominates) the outlying
 * top eigenvalues come from the part of the output Jacobian that every example shares:
 * G = (1/N) Σ_i J_iᵀ H_i J_i ≈ M H̄ Mᵀ, with M = [∇θ mean_i f_a(x_i)]_a (P × K, one
 * column per output) and H̄ = mean_i H_ℓ(f(x_i)) the loss's output-space Hessian (the
 * identity for MSE, diag(p) − ppᵀ for cross-entropy). The top eigenvector of that rank-K
 * matrix lies in the span of M: v = M H̄^{1/2} z, z the top eigenvector of the K × K
 * matrix H̄^{1/2} MᵀM H̄^{1/2}. This is the "jmean" start (docs/LANCZOS.md, "Start
 * vectors"); it is a heuristic: where it misses (a deep linear net without biases) the
 * solve only costs what a Gaussian start costs, give or take a few products.
 *
 * Cost: M is taken over an evenly strided subset of the rows (a fraction of them, at
 * least CURV_START_MIN_ROWS): one float64 forward and backward on the subset and K
 * Jacobian-transpose products on it, plus P·K doubles of memory for M.
 *
 * Not for a row-coupling loss (Sobolev) or a data-parallel batch (CS_EINVAL: every rank
 * would see other rows and start elsewhere).
 */
#ifndef CS_CURV_START_H
#define CS_CURV_START_H

#include <stddef.h>

#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"

typedef enum { CURV_START_GAUSSIAN = 0, CURV_START_JMEAN } CurvStartKind;

#define CURV_START_MIN_ROWS 64
#define CURV_START_FRAC_DEFAULT 0.1

typedef struct CurvStart {
  CurvStartKind kind;
  double frac; /* jmean: fraction of the rows in (0, 1] (at least CURV_START_MIN_ROWS) */
} CurvStart;

/* "gaussian" or "jmean[:frac=F]" (F in (0, 1], default CURV_START_FRAC_DEFAULT). */
int curv_start_parse(const char *text, CurvStart *s, Err *err);

/* The jmean start at θ on batch b into v [P] (unit norm), for a solve of the top k pairs:
 * the top direction for k = 1, else the unit sum of the top min(k, K) directions (the
 * v_j = M H̄^{1/2} z_j are orthogonal, so the sum overlaps each of them alike; those with
 * a zero eigenvalue, such as cross-entropy's K-th, are left out). *rows
 * (optional) receives the number of rows used. CS_EINVAL for a row-coupling loss, a
 * data-parallel batch or a network whose mean Jacobian vanishes; CS_ENOMEM. */
int curv_start_jmean(const Net *net, LossKind loss, const double *theta, const Batch *b,
                     double frac, size_t k, double *v, size_t *rows, Err *err);

#endif
