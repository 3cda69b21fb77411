/*
 * bench_batch.c: `curvscope bench --workload batch-scaling` (bench_loop.h), the
 * measurement of study batch-scaling as the benchmark fixes it:
 * Fashion-MNIST n = 4096, 784-200-200-10 tanh (torch init, seed 0), MSE, at init;
 * B in 8-32-128-512-2048 and the whole set, 5 draws each (the whole set once), λmax of
 * each draw's Hessian by the study's own solver and warm starts (batch_scaling_measure
 * with top_only) at tol 1e-4, the study's value stop (--track-stop residual: every solve
 * on the residual test). A round is the whole measurement; the figure is the median
 * round. --precision mixed (or f32, the same engine) runs the draws' passes in float32,
 * the Lanczos basis in float64 (core/precision.h). bench/peer_batch.py does the same
 * draws with PyTorch HVPs and SciPy's eigsh;
 * --draws-file FILE writes what it needs to do them on the same numbers: FILE (JSON:
 * shapes, the seed, every draw's rows) and FILE.bin (float64, native order: θ in the
 * layout of core/net.h, then X [n][784], then Y [n][10]).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_loop.h"
#include "cli.h"
#include "core/blas_kernel.h"
#include "core/json.h"
#include "core/threads.h"
#include "hessian/minibatch.h"
#include "run_opts.h"
#include "studies/batch/batch_scaling.h"


#define BB_MAX_ROUNDS 64
#define BB_DATA "fashion-mnist:n=4096,test=0"
#define BB_MODEL "mlp:784-200-200-10"

static void bb_options(BatchScalingOptions *bo) {
  static const size_t sizes[] = {8, 32, 128, 512, 2048, 4096};
  batch_scaling_options_default(bo);
  bo->nbatches = (int)(sizeof sizes / sizeof *sizes);
  memcpy(bo->batches, sizes, sizeof sizes);
  bo->draws = 5;
  bo->tol = 1e-4;
  bo->adam_eps = 0.0; /* top-1 of H_B only */
  bo->top_only = 1;
  bo->seed = 0;
}

/* The peer's inputs: every draw's rows (JSON) and θ, X, Y (binary). */
static int bb_write_draws(const char *path, const RunSetup *s, const BatchScalingOptions *bo,
                          const BatchScalingResult *r, Err *err) {
  const Dataset *ds = s->train;
  char bin[1100];
  snprintf(bin, sizeof bin, "%s.bin", path);
  FILE *fb = fopen(bin, "wb");
  if (!fb) return err_set(err, CS_EIO, "--draws-file: cannot write %s", bin);
  size_t P = s->net.n_params, nx = ds->n * ds->d, ny = ds->n * ds->k;
  int ok = fwrite(s->theta, sizeof(double), P, fb) == P &&
           fwrite(ds->X, sizeof(double), nx, fb) == nx &&
           fwrite(ds->Y, sizeof(double), ny, fb) == ny;
  if (fclose(fb) || !ok) return err_set(err, CS_EIO, "--draws-file: writing %s failed", bin);
  size_t m_max = r->nb > 1 ? r->batch[r->nb - 2] : 0;
  MiniBatch *mb = minibatch_alloc(ds, m_max, err);
  if (!mb) return err->code;
  StrBuf b;
  sb_init(&b);
  sb_printf(&b, "{\"n\":%zu,\"d\":%zu,\"k\":%zu,\"n_params\":%zu,\"seed\":%llu,\"tol\":",
            ds->n, ds->d, ds->k, P, (unsigned long long)bo->seed);
  sb_json_num(&b, bo->tol);
  sb_printf(&b, ",\"binary\":");
  sb_json_str(&b, bin);
  sb_printf(&b, ",\"lambda_full\":");
  sb_json_num(&b, r->lambda_full);
  sb_printf(&b, ",\"draws\":[");
  int rc = CS_OK, first = 1;
  for (int i = 0; i < r->nb && !rc; i++) { /* the study's order: up, the whole set last */
    size_t B = r->batch[i];
    for (int d = 0; d < r->ndraw[i] && !rc; d++) {
      Batch bt;
      sb_printf(&b, "%s{\"batch\":%zu,\"draw\":%d,\"rows\":", first ? "" : ",", B, d);
      first = 0;
      if (B == ds->n) {
        sb_printf(&b, "null}"); /* the whole set, in order */
        continue;
      }
      if ((rc = minibatch_draw(mb, B, bo->seed, batch_scaling_draw_stream(B, d), &bt, err)))
        break;
      const size_t *rows = minibatch_rows(mb);
      sb_printf(&b, "[");
      for (size_t j = 0; j < B; j++) sb_printf(&b, "%s%zu", j ? "," : "", rows[j]);
      sb_printf(&b, "]}");
    }
  }
  sb_printf(&b, "]}\n");
  minibatch_free(mb);
  if (!rc) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(b.p, f) < 0 || fclose(f))
      rc = err_set(err, CS_EIO, "--draws-file: cannot write %s", path);
  }
  sb_free(&b);
  return rc;
}

/* Per size: the seconds and products of its λmax solves (summed over its draws). */
static void bb_size_totals(const BatchScalingResult *r, int i, double *s, long *mv) {
  int pos = 0;
  for (int j = 0; j < i; j++) pos += r->ndraw[j];
  *s = 0, *mv = 0;
  for (int d = 0; d < r->ndraw[i]; d++) *s += r->draw[pos + d].wall_max,
                                          *mv += r->draw[pos + d].mv_max;
}

/* Per size: every draw's λmax and products, in draw order (the peer's "lambdas"). */
static void bb_size_draws(StrBuf *b, const BatchScalingResult *r, int i) {
  int pos = 0;
  for (int j = 0; j < i; j++) pos += r->ndraw[j];
  sb_printf(b, ",\"lambdas\":[");
  for (int d = 0; d < r->ndraw[i]; d++) {
    sb_printf(b, d ? "," : "");
    sb_json_num(b, r->draw[pos + d].lmax);
  }
  sb_printf(b, "],\"draw_matvecs\":[");
  for (int d = 0; d < r->ndraw[i]; d++) sb_printf(b, "%s%ld", d ? "," : "", r->draw[pos + d].mv_max);
  sb_printf(b, "]");
}

int bench_batch_main(const BenchLoopOpts *o) {
  Err err = {0};
  RunOpts ro; /* measured at init: the optimizer is the default, never stepped */
  RunSetup s;
  run_opts_default(&ro);
  if (bench_run_setup(BB_DATA, BB_MODEL, "tanh", ro.opt, ro.lr, 0, PREC_F64, &s, &err))
    return cli_fail(&err);
  BatchScalingOptions bo;
  bb_options(&bo);
  bo.precision = o->precision;
  bo.value_stop = o->value_stop;
  int R = o->repeats < 1 ? 1 : o->repeats > BB_MAX_ROUNDS ? BB_MAX_ROUNDS : o->repeats;
  double t[BB_MAX_ROUNDS], c[BB_MAX_ROUNDS], total = 0;
  int k = 0, rc = CS_OK;
  BatchScalingResult r = {0};
  while (k < R) {
    batch_scaling_result_free(&r);
    double t0 = wall_time(), c0 = bench_cpu_time();
    if ((rc = batch_scaling_measure(&s.net, s.loss, s.theta, s.train, &bo, &r, &err))) break;
    t[k] = wall_time() - t0;
    c[k] = bench_cpu_time() - c0;
    total += t[k++];
    if (total > o->budget) break;
  }
  if (!rc && o->draws_file && *o->draws_file)
    rc = bb_write_draws(o->draws_file, &s, &bo, &r, &err);
  if (rc) {
    batch_scaling_result_free(&r);
    run_setup_free(&s);
    return cli_fail(&err);
  }
  double med = bench_median(t, k);
  StrBuf b;
  sb_init(&b);
  if (o->json) {
    sb_printf(&b, "{\"workload\":\"batch-scaling\",\"threads\":%d,\"data\":", threads_get());
    sb_json_str(&b, BB_DATA);
    sb_printf(&b, ",\"model\":\"%s tanh\",\"n\":%zu,\"n_params\":%zu,\"draws\":%d,\"tol\":",
              BB_MODEL, r.n, r.n_params, bo.draws);
    sb_json_num(&b, bo.tol);
    sb_printf(&b, ",\"precision\":");
    sb_json_str(&b, precision_name(bo.precision));
    sb_printf(&b, ",\"stop\":");
    sb_json_str(&b, bo.value_stop ? "value" : "residual");
    sb_printf(&b, ",\"openblas_coretype\":");
    sb_json_str(&b, getenv("OPENBLAS_CORETYPE"));
    sb_printf(&b, ",\"openblas_corename\":");
    sb_json_str(&b, openblas_get_corename());
    sb_printf(&b, ",\"rounds\":%d,\"total_s\":", k);
    sb_json_num(&b, med);
    sb_printf(&b, ",\"total_cpu_s\":");
    sb_json_num(&b, bench_median(c, k));
    sb_printf(&b, ",\"matvecs\":%ld,\"lambda_full\":", r.matvecs);
    sb_json_num(&b, r.lambda_full);
    sb_printf(&b, ",\"sizes\":[");
    for (int i = 0; i < r.nb; i++) {
      double ss;
      long mv;
      bb_size_totals(&r, i, &ss, &mv);
      sb_printf(&b, "%s{\"batch\":%zu,\"s\":", i ? "," : "", r.batch[i]);
      sb_json_num(&b, ss);
      sb_printf(&b, ",\"matvecs\":%ld,\"lambda_mean\":", mv);
      sb_json_num(&b, r.lmax_mean[i]);
      bb_size_draws(&b, &r, i);
      sb_printf(&b, "}");
    }
    sb_printf(&b, "]}");
    printf("%s\n", b.p);
  } else {
    printf("curvscope bench --workload batch-scaling: %s, %s tanh (P = %zu), %d draws per "
           "size, top-1 at tol %g (%s stop), %s passes, %d threads, OpenBLAS %s\n",
           BB_DATA, BB_MODEL, r.n_params, bo.draws, bo.tol, bo.value_stop ? "value" : "residual",
           precision_name(bo.precision), threads_get(), openblas_get_corename());
    printf("  %-8s %10s %10s %14s\n", "B", "seconds", "products", "mean lambda_max");
    for (int i = 0; i < r.nb; i++) {
      double ss;
      long mv;
      bb_size_totals(&r, i, &ss, &mv);
      printf("  %-8zu %10.3f %10ld %14.6g\n", r.batch[i], ss, mv, r.lmax_mean[i]);
    }
    printf("  whole measurement: %.3f s (median of %d rounds; CPU time %.3f s), %ld products\n",
           med, k, bench_median(c, k), r.matvecs);
  }
  fflush(stdout);
  sb_free(&b);
  batch_scaling_result_free(&r);
  run_setup_free(&s);
  return EXIT_OK;
}
