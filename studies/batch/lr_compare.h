/*
 * lr_compare.h: the learner against fixed learning rates (study batch-scaling --learner,
 * docs/BATCH.md): which fixed-lr run of a grid ended lowest, and how far a learner run's
 * final loss lies above it. Losses are each run's whole-training-set loss at its last
 * step; a run that diverged (or has no finite loss) is passed as NAN and never best.
 *
 * Ownership: caller-owned arrays. Thread safety: pure functions.
 */
#ifndef CS_LR_COMPARE_H
#define CS_LR_COMPARE_H

/* Index of the lowest finite loss[0..n), or -1 when none is finite. */
int lr_compare_best(const double *loss, int n);

/* The learner's excess over the best: loss / best − 1 (NAN when either is not finite or
 * best <= 0). The test is excess <= LR_COMPARE_WITHIN. */
double lr_compare_excess(double loss, double best);
#define LR_COMPARE_WITHIN 0.10

#endif
