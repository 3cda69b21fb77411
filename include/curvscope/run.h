/*
 * curvscope/run.h: a stored run rebuilt: its network, loss and data.
 *
 * cs_run_load reads run `id` of a database and rebuilds what it trained on
 * from its stored configuration, exactly as `curvscope analyze` does: the same
 * Net (fixed Fourier features drawn from the run's seed), the same loss, the
 * same training and test data (the resolved --data spec). cs_run_checkpoint
 * then reads a checkpoint's parameters for it. With a Curvature context on
 * (net, loss, train) at those parameters, every operator of the run is there.
 *
 * Ownership: CsRun is caller-owned; cs_run_load fills it, cs_run_free releases
 * what it holds and zeroes it (a zeroed CsRun is a no-op). The arrays from
 * cs_run_checkpoint are freed with free().
 * Thread safety: as the Db (one thread per connection).
 */
#ifndef CURVSCOPE_RUN_H
#define CURVSCOPE_RUN_H

#ifdef __cplusplus
extern "C" {
#endif

#include <stddef.h>
#include <stdint.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"
#include "db/db.h"

typedef struct CsRun {
  RunRow row;              /* the runs row: name, study, status, config JSON, ... */
  Net net;                 /* the network the run trained */
  LossKind loss;
  Dataset *train, *test;   /* its data (test may have n = 0) */
  double *theta0;          /* [net.n_params] its initial parameters (from the seed) */
  size_t chunk;            /* rows per chunk the run used, as curv_alloc takes it (0: one chunk;
                              SIZE_MAX: chosen from the machine, the default) */
  LossMetric *metric;      /* a Sobolev loss's M on the training grid (Batch.metric), or NULL */
} CsRun;

/* CS_ENOTFOUND when there is no run `id`; CS_EINVAL when its data cannot be
 * loaded again (a file moved away) or its configuration is not one this build
 * can rebuild; CS_EFORMAT for a malformed stored configuration. out is zeroed
 * first and, on error, left zeroed. */
int cs_run_load(Db *db, int64_t id, CsRun *out, Err *err);
void cs_run_free(CsRun *r);

/* The parameters stored at `step` (-1: the last checkpoint) as a malloc'd array
 * of r->net.n_params doubles; *step_out (may be NULL) gets the step.
 * CS_ENOTFOUND names the steps that have one; CS_EFORMAT when its length is not
 * the network's. */
int cs_run_checkpoint(Db *db, const CsRun *r, long step, double **theta, long *step_out,
                      Err *err);

#ifdef __cplusplus
}
#endif

#endif
