/*
 * batch_summary.h: what the batch-scaling study concludes from its draws, and
 * how it is stored (docs/BATCH.md, docs/SCHEMA.md).
 *
 * batch_scaling_summarize fits the power law and the spiked model to λ̄(B)
 * (batch_fit.h), ranks λ̄ against B (Spearman), turns the noise measurements into
 * the per-example variance and the spiked model's prediction per size, and
 * predicts the largest stable learning rate α_max(B) = 2/λ̄(B).
 * batch_scaling_record writes every draw (eigs rows, source "batch-scaling", operator
 * "batch" for the Hessian and "batch-ggn" for the Gauss-Newton matrix, N included, and
 * "batch-precond" / "batch-ggn-precond" for the preconditioned λmax when measured),
 * the run-level metrics (step -1) and the per-size series (step -1, idx = the
 * position in the size list) through a Recorder.
 *
 * Ownership: batch_scaling_summary_free releases a summary's arrays (NULL-safe).
 */
#ifndef CS_BATCH_SUMMARY_H
#define CS_BATCH_SUMMARY_H

#include "batch_fit.h"
#include "batch_scaling.h"
#include "core/recorder.h"

typedef struct BatchScalingSummary {
  BatchFit power, spiked;  /* npoints = 0 when the fit was impossible (values NAN) */
  double spearman;         /* ρ of λ̄(B) against B over every size, the whole set included */
  double noise_var;        /* S²: per-example variance of (H_x − H_N) z, divisor N − 1, from
                              each size's unbiased hess_var·D/(D−1)·N·B/(N−B), averaged */
  double sigma2;           /* spiked fit: element variance per example, K λ_N / P */
  double *lr_pred;         /* [nb] 2/λ̄(B) (NAN when λ̄ <= 0) */
  double *spiked_pred;     /* [nb] λ'_1 predicted from the size's own noise (λ_N at N) */
  double *lr_pred_adam;    /* [nb] 2/λ̄_precond(B); NULL when the result has no precond */
} BatchScalingSummary;

int batch_scaling_summarize(const BatchScalingResult *r, BatchScalingSummary *s, Err *err);
void batch_scaling_summary_free(BatchScalingSummary *s);

/* Stores r and s in the run of rec at checkpoint step `step` (eigs rows) and step -1
 * (metrics, series); the names carry the operator (docs/SCHEMA.md: bs_* for the Hessian,
 * bs_ggn_* for the Gauss-Newton matrix). NAN metrics are left out. */
int batch_scaling_record(const BatchScalingResult *r, const BatchScalingSummary *s, int ggn,
                         long step, Recorder *rec, Err *err);

/* The stability grid's rows (batch_stability.h): series bs_lr_max_sgd and bs_lr_max_adam
 * (step -1, idx as the size list; NAN where no η_max was found) and metrics
 * bs_lr_exponent_sgd, bs_lr_exponent_adam, bs_lr_pred_exponent, bs_lr_grid_steps,
 * bs_lr_grid_rungs. */
struct BatchGrid;
int batch_grid_record(const struct BatchGrid *g, Recorder *rec, Err *err);

#endif
