/*
 * run_load.c: a stored run's network, loss and data rebuilt (curvscope/run.h).
 *
 * The stored configuration is read through the training option table and built
 * by run_setup (cli/run_opts.c, compiled into the library), the very code a
 * training run and `curvscope analyze` use, so the rebuilt network and data are
 * the run's own bit for bit.
 */
#include "curvscope/run.h"

#include <stdlib.h>
#include <string.h>

#include "cli/run_opts.h"
#include "core/layout.h"

int cs_run_load(Db *db, int64_t id, CsRun *out, Err *err) {
  memset(out, 0, sizeof *out);
  RunOpts o;
  RunSetup s;
  int rc = db_run_get(db, id, &out->row, err);
  if (rc) return rc;
  if (!out->row.config) {
    rc = err_set(err, CS_EFORMAT, "run %lld has no stored configuration", (long long)id);
  } else if (!(rc = run_opts_from_json(&o, out->row.config, err)) &&
             (rc = run_setup(&o, &s, err))) {
    err_prefix(err, "run %lld", (long long)id);
  }
  if (rc) {
    run_row_free(&out->row);
    memset(out, 0, sizeof *out);
    return rc;
  }
  /* Take what the caller keeps; run_setup_free releases the rest (the optimizer). */
  out->net = s.net;
  out->loss = s.loss;
  out->train = s.train;
  out->test = s.test;
  out->theta0 = s.theta;
  out->chunk = layout_chunk_arg(s.tcfg.chunk);
  out->metric = s.metric;
  memset(&s.net, 0, sizeof s.net);
  s.metric = NULL;
  s.train = s.test = NULL;
  s.theta = NULL;
  run_setup_free(&s);
  return CS_OK;
}

void cs_run_free(CsRun *r) {
  if (!r) return;
  run_row_free(&r->row);
  net_deinit(&r->net);
  dataset_free(r->train);
  dataset_free(r->test);
  free(r->theta0);
  loss_metric_free(r->metric);
  memset(r, 0, sizeof *r);
}

int cs_run_checkpoint(Db *db, const CsRun *r, long step, double **theta, long *step_out,
                      Err *err) {
  size_t n = 0;
  *theta = NULL;
  int rc = db_checkpoint_read(db, r->row.id, step, theta, &n, step_out, err);
  if (rc) return rc;
  if (n != r->net.n_params) {
    free(*theta);
    *theta = NULL;
    return err_set(err, CS_EFORMAT, "checkpoint of run %lld has %zu values, its model %zu",
                   (long long)r->row.id, n, r->net.n_params);
  }
  return CS_OK;
}
