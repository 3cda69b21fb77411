/*
 * top_eigs_checkpoint.c: the top Hessian eigenvalues of a network at a stored
 * checkpoint, with libcurvscope.
 *
 * Opens a run database written by `curvscope train`, rebuilds the run's network,
 * loss and training data from its stored configuration (cs_run_load), reads the
 * parameters of one checkpoint, builds the curvature context at them on the whole
 * training set and runs curvscope's Lanczos (eig_lanczos_top) on the exact
 * Hessian. What `curvscope analyze --run ID --solver lanczos` measures, in a
 * program of your own.
 *
 *   usage: top_eigs_checkpoint DB RUN [STEP|last [K]]      (default last, K = 3)
 *   build: cc top_eigs_checkpoint.c $(pkg-config --cflags --libs curvscope)
 */
#include <curvscope/curvscope.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: top_eigs_checkpoint DB RUN [STEP|last [K]]\n");
    return 2;
  }
  char *end;
  long long run = strtoll(argv[2], &end, 10);
  long step = -1, k = 3;
  int bad = *end || run < 1;
  if (argc > 3 && strcmp(argv[3], "last")) step = strtol(argv[3], &end, 10), bad |= *end || step < 0;
  if (argc > 4) k = strtol(argv[4], &end, 10), bad |= *end || k < 1;
  if (bad) {
    fprintf(stderr, "top_eigs_checkpoint: bad RUN, STEP or K (see usage)\n");
    return 2;
  }

  Err err = {0};
  Db *db = NULL;
  CsRun r = {0};
  double *theta = NULL;
  Curvature *curv = NULL;
  EigResult eig = {0};
  int code = 1;
  if (db_open_existing(argv[1], &db, &err)) goto out;
  if (cs_run_load(db, run, &r, &err)) goto out;
  if (cs_run_checkpoint(db, &r, step, &theta, &step, &err)) goto out;

  /* The training loss's Hessian at the checkpoint, over every training example. */
  Batch b = {.X = r.train->X, .Y = r.train->Y, .labels = r.train->labels, .n = r.train->n,
             .metric = r.metric};
  if (!(curv = curv_alloc(&r.net, r.loss, b.n, r.chunk, &err))) goto out;
  if (curv_build(curv, theta, &b, &err)) goto out;
  Linop H = curv_hessian_op(curv);
  if ((size_t)k >= H.n) {
    err_set(&err, CS_EINVAL, "K %ld: the network has only %zu parameters", k, H.n);
    goto out;
  }
  printf("run %lld, step %ld, %zu examples, %zu parameters, loss %.6g\n", run, step, b.n, H.n,
         curv_loss(curv));

  EigOpts o;
  eig_opts_default(&o);  /* EIG_TOP, tol 1e-6, exact residuals */
  o.k = (int)k;
  o.tol = 1e-8;
  int rc = eig_lanczos_top(&H, &o, &eig, &err);
  if (rc && rc != CS_ENOCONV) goto out;
  printf("eigenvalues (%ld products%s):\n", eig.matvecs, eig.converged ? "" : ", NOT CONVERGED");
  for (int j = 0; j < eig.ntop; j++)
    printf("  top[%d] = %.10g   residual %.2e\n", j, eig.values[j], eig.residuals[j]);
  code = eig.converged ? 0 : 1;
out:
  if (err.code) fprintf(stderr, "top_eigs_checkpoint: %s\n", err.msg);
  eig_result_free(&eig);
  curv_free(curv);
  free(theta);
  cs_run_free(&r);
  db_close(db);
  return code;
}
