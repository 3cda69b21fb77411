/*
 * eos.h: the edge-of-stability analysis of a sharpness trajectory.
 *
 * Pure functions over arrays (no database): cli/ reads a run's series, calls
 * eos_analyze, and stores the summary as run-level metrics (step -1) and the
 * phases in the phases table. Definitions in docs/EOS.md:
 *   t*        first measured step with S_t ≥ threshold_t
 *   slope     least-squares slope of S over the measurements before t*
 *   r_t       S_t / threshold_t after t* (median and interquartile range)
 *   loss increases: steps with L_{t+1} > L_t, before and after t*
 *   phases    I-IV by our labeller (running median of 5, dead-band of
 *             1% of the threshold, merge runs shorter than 3 samples);
 *             Phase III ends at the peak (default) or at the downward crossing
 *   anomaly fraction: measured steps where (ΔA)(ΔS) < 0, A = ‖W_out‖²_F
 */
#ifndef CS_EOS_H
#define CS_EOS_H

#include <stddef.h>

#include "core/err.h"

typedef struct EosOptions {
  int smooth;            /* running-median window (odd), default 5 */
  double deadband;       /* fraction of the threshold, default 0.01 */
  int min_run;           /* merge phase runs shorter than this, default 3 */
  int iii_ends_at_crossing; /* 0: Phase III ends at the peak (default) */
} EosOptions;

typedef struct EosPhase {
  char label[4];         /* "I", "II", "III", "IV" */
  long start_step, end_step;
  double mean_sharpness, max_ratio;
} EosPhase;

typedef struct EosSummary {
  long onset;            /* t*, or -1 if never reached */
  double slope;          /* sharpening slope per step before t* (NAN if < 2 points) */
  double ratio_median, ratio_iqr;    /* of r_t after t* (NAN if none) */
  long ratio_count;
  long loss_up_before, loss_steps_before, loss_up_after, loss_steps_after;
  double anomaly_fraction;           /* NAN without out-norm data */
  double max_sharpness;
  EosPhase *phases;      /* owned; free with eos_summary_free */
  int nphases;
} EosSummary;

void eos_options_default(EosOptions *o);
/* S, thr at the measured steps sstep[0..ns); loss at lstep[0..nl) (every step);
 * out_norm at the measured steps (may be NULL). */
int eos_analyze(const EosOptions *o, const long *sstep, const double *S, const double *thr,
                size_t ns, const long *lstep, const double *loss, size_t nl,
                const double *out_norm, EosSummary *out, Err *err);
void eos_summary_free(EosSummary *s);

#endif
