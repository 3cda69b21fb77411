/*
 * study_batch_learner.h: `curvscope study batch-scaling --learner` (study_batch_learner.c):
 * the Lanczos learner and fixed learning rates from the same start, in one group.
 */
#ifndef CS_STUDY_BATCH_LEARNER_H
#define CS_STUDY_BATCH_LEARNER_H

#include "core/err.h"
#include "run_opts.h"

/* Trains the learner runs (base->lr_schedule when schedule_given, else one per rule,
 * polyak and granziol) and one run per learning rate of lrs, all with base's options,
 * then stores and prints the comparison. Returns an exit code. */
int study_batch_learner(const RunOpts *base, const char *lrs, int schedule_given, Err *err);

#endif
