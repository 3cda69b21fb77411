/*
 * bench_eos.c: `curvscope bench --workload eos`: the edge-of-stability study as users run
 * it, timed whole (bench_eos.h; bench/peer_eos.py is the PyTorch + SciPy side, and
 * bench/compare --workloads eos sets the two side by side; docs/PERFORMANCE.md).
 *
 * Full-batch GD (η = 0.05, MSE) of the tanh MLP 784-120-120-4 on the first 1500
 * Fashion-MNIST training images of classes 0-3, and at every `every`-th step the
 * sharpness (top-1 Hessian eigenvalue) by the sharpness probe's tracker, warm-started
 * from the previous measurement, with the step's gradient taken from the measurement's
 * own build (as the probe does). The figures: total wall time, the part in the
 * measurements (build + tracker) and in the plain steps, products per measurement.
 * With check on, every measured value is compared (untimed) with a cold Lanczos solve to
 * 1e-10 at the same point: the largest relative difference is reported.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_eos.h"
#include "bench_loop.h"
#include "cli.h"
#include "core/blas_kernel.h"
#include "core/json.h"
#include "core/loss.h"
#include "core/threads.h"
#include "hessian/curv.h"
#include "lanczos/eig.h"
#include "run_opts.h"
#include "studies/track.h"


#define EOS_DATA "fashion-mnist:n=1500,test=0,classes=0-1-2-3"
#define EOS_MODEL "mlp:784-120-120-4"
#define EOS_LR 0.05 /* the default; --lr and --seed give other trajectories */
#define EOS_CHECK_TOL 1e-10

typedef struct EosBench {
  long measurements, full_solves, products;
  double total_s, measure_s, check_s;
  double s_first, s_last, s_max, loss_first, loss_last;
  double check_max, check_mean; /* |λ_tracked − λ_cold| / |λ_cold| */
  int all_converged;
} EosBench;

static double eos_lr(const BenchEosOpts *o) { return o->lr > 0 ? o->lr : EOS_LR; }

static int eos_setup(const BenchEosOpts *o, RunSetup *s, Err *err) {
  return bench_run_setup(EOS_DATA, EOS_MODEL, "tanh", "gd", eos_lr(o), o->seed, o->precision, s,
                         err);
}

/* The cold reference at the built point: relative difference of value from it, and the
 * top two eigenvalues there when cold2 is given (then the solve is for two). */
static int eos_check(const Linop *op, double value, double *rel, double cold2[2], Err *err) {
  EigOpts eo;
  eig_opts_default(&eo);
  eo.k = cold2 ? 2 : 1;
  eo.tol = EOS_CHECK_TOL;
  eo.exact_residuals = 0;
  eo.seed = 0xc0dULL;
  EigResult r;
  int rc = eig_lanczos_top(op, &eo, &r, err);
  if (rc && rc != CS_ENOCONV) return rc;
  *rel = fabs(value - r.values[0]) / fabs(r.values[0]);
  if (cold2) cold2[0] = r.values[0], cold2[1] = r.ntop > 1 ? r.values[1] : NAN;
  eig_result_free(&r);
  return CS_OK;
}

static int eos_run(const BenchEosOpts *o, EosBench *e, Err *err) {
  RunSetup s;
  int rc = eos_setup(o, &s, err);
  if (rc) return rc;
  size_t n = s.train->n, P = s.net.n_params;
  int f32 = precision_f32_passes(o->precision);
  ObjectiveWork *work = objective_work_alloc(&s.net, n, 0);
  Curvature *curv = curv_alloc(&s.net, LOSS_MSE, n, n, err);
  /* float32 passes: the cold check runs on a float64 context of its own */
  Curvature *curv64 = f32 && o->check ? curv_alloc(&s.net, LOSS_MSE, n, n, err) : NULL;
  Tracker *tr = tracker_alloc(P, o->k, o->tol, 0, 0x5a3bULL);
  double *grad = malloc(P * sizeof *grad);
  FILE *trace = NULL;
  if (!work || !curv || !tr || !grad || (f32 && o->check && !curv64)) {
    rc = err->code ? err->code : err_set(err, CS_ENOMEM, "out of memory for the eos benchmark");
    goto done;
  }
  if (o->trace) {
    if (!(trace = fopen(o->trace, "w"))) {
      rc = err_set(err, CS_EINVAL, "--trace: cannot write '%s' (a CSV file in a directory you can write)", o->trace);
      goto done;
    }
    fprintf(trace, "step,full,products,value,next,cold,cold_second,rel\n");
  }
  if ((rc = objective_work_set_precision(work, &s.net, o->precision, err)) ||
      (rc = curv_set_precision(curv, o->precision, err)))
    goto done;
  tracker_set_value_stop(tr, o->value_stop);
  tracker_set_lobpcg(tr, o->lobpcg);
  Batch b = {s.train->X, s.train->Y, s.train->labels, n, NULL, NULL};
  Linop op = curv_hessian_op(curv);
  e->s_max = -INFINITY;
  e->all_converged = 1;
  double sum_check = 0, t0 = wall_time();
  for (long step = 0; step < o->steps; step++) {
    double loss;
    const double *g = grad;
    if (step % o->every == 0) {
      double t1 = wall_time();
      if ((rc = curv_build(curv, s.theta, &b, err))) goto done;
      EigResult r;
      int full = 0;
      rc = tracker_measure(tr, &op, &r, &full, err);
      if (rc && rc != CS_ENOCONV) goto done;
      e->all_converged &= rc == CS_OK && r.converged;
      rc = CS_OK;
      double v = r.values[0], next = full ? r.next_value : NAN;
      long mv = r.matvecs;
      e->products += r.matvecs;
      eig_result_free(&r);
      e->measure_s += wall_time() - t1;
      if (e->measurements == 0) e->s_first = v;
      e->s_last = v, e->s_max = fmax(e->s_max, v);
      e->measurements++;
      double rel = NAN, cold2[2] = {NAN, NAN};
      if (o->check) { /* untimed: the cold solve at the same built point */
        double t2 = wall_time();
        Linop op64 = curv64 ? curv_hessian_op(curv64) : op;
        if (curv64 && (rc = curv_build(curv64, s.theta, &b, err))) goto done;
        if ((rc = eos_check(&op64, v, &rel, trace ? cold2 : NULL, err))) goto done;
        e->check_max = fmax(e->check_max, rel), sum_check += rel;
        e->check_s += wall_time() - t2;
      }
      if (trace)
        fprintf(trace, "%ld,%d,%ld,%.17g,%.17g,%.17g,%.17g,%.3e\n", step, full, mv, v, next,
                cold2[0], cold2[1], rel);
      g = curv_grad(curv), loss = curv_loss(curv);
    } else {
      objective_eval_parallel(&s.net, s.theta, LOSS_MSE, &b, work, grad, &loss, NULL);
    }
    if (!isfinite(loss)) {
      rc = err_set(err, CS_ENOCONV, "eos benchmark: the loss diverged at step %ld", step);
      goto done;
    }
    if (step == 0) e->loss_first = loss;
    e->loss_last = loss;
    optim_step(s.opt, s.theta, g);
  }
  e->total_s = wall_time() - t0 - e->check_s;
  e->check_mean = o->check && e->measurements ? sum_check / (double)e->measurements : NAN;
  if (!o->check) e->check_max = NAN;
  tracker_counts(tr, NULL, &e->full_solves);
done:
  if (trace && (ferror(trace) | fclose(trace)) && !rc) /* a write or the flush failed */
    rc = err_set(err, CS_EIO, "--trace: writing '%s' failed", o->trace);
  free(grad);
  tracker_free(tr);
  curv_free(curv);
  curv_free(curv64);
  objective_work_free(work);
  run_setup_free(&s);
  return rc;
}

#define kv bench_json_kv
#define kstr bench_json_kstr

static void eos_print(const BenchEosOpts *o, const EosBench *e) {
  double gd_s = e->total_s - e->measure_s, mv = (double)e->products / (double)e->measurements;
  long plain = o->steps - e->measurements;
  if (o->json) {
    StrBuf b;
    sb_init(&b);
    sb_append(&b, "{\"workload\":\"eos\"");
    kv(&b, "threads", threads_get());
    kstr(&b, "data", EOS_DATA);
    kstr(&b, "model", EOS_MODEL);
    kstr(&b, "act", "tanh");
    kv(&b, "lr", eos_lr(o));
    kv(&b, "seed", (double)o->seed);
    kv(&b, "k", o->k);
    kv(&b, "steps", (double)o->steps);
    kv(&b, "every", (double)o->every);
    kv(&b, "tol", o->tol);
    kstr(&b, "stop", o->value_stop ? "value" : "residual");
    kstr(&b, "track_solver", o->lobpcg ? "lobpcg" : "lanczos");
    kstr(&b, "precision", precision_name(o->precision));
    kstr(&b, "openblas_coretype", getenv("OPENBLAS_CORETYPE"));
    kstr(&b, "openblas_corename", openblas_get_corename());
    kv(&b, "total_s", e->total_s);
    kv(&b, "measure_s", e->measure_s);
    kv(&b, "plain_steps_s", gd_s);
    kv(&b, "plain_step_s", plain > 0 ? gd_s / (double)plain : NAN);
    kv(&b, "measure_one_s", e->measure_s / (double)e->measurements);
    kv(&b, "measurements", (double)e->measurements);
    kv(&b, "full_solves", (double)e->full_solves);
    kv(&b, "products", (double)e->products);
    kv(&b, "products_per_measurement", mv);
    kv(&b, "all_converged", e->all_converged);
    kv(&b, "sharpness_first", e->s_first);
    kv(&b, "sharpness_last", e->s_last);
    kv(&b, "sharpness_max", e->s_max);
    kv(&b, "threshold", 2.0 / eos_lr(o));
    kv(&b, "loss_first", e->loss_first);
    kv(&b, "loss_last", e->loss_last);
    kv(&b, "check_max_rel", e->check_max);
    kv(&b, "check_mean_rel", e->check_mean);
    kv(&b, "check_s", e->check_s);
    sb_append(&b, "}");
    printf("%s\n", b.p ? b.p : "{}");
    sb_free(&b);
    return;
  }
  printf("curvscope bench --workload eos: %s, %s tanh (seed %ld), GD lr %g, %ld steps, "
         "sharpness every %ld at tol %g (stop on the %s, full solves by %s), precision %s, %d "
         "threads, OpenBLAS %s\n",
         EOS_DATA, EOS_MODEL, o->seed, eos_lr(o), o->steps, o->every, o->tol,
         o->value_stop ? "value bound" : "residual", o->lobpcg ? "lobpcg" : "lanczos",
         precision_name(o->precision), threads_get(), openblas_get_corename());
  printf("  %-34s %10.2f s\n", "whole run", e->total_s);
  printf("  %-34s %10.2f s  (%ld steps, %.4f s each)\n", "plain GD steps", gd_s, plain,
         plain > 0 ? gd_s / (double)plain : NAN);
  printf("  %-34s %10.2f s  (%ld, %.4f s each; %ld full solves)\n", "steps with sharpness",
         e->measure_s, e->measurements, e->measure_s / (double)e->measurements, e->full_solves);
  printf("  %-34s %10.2f\n", "products per measurement", mv);
  printf("  %-34s %.6g -> %.6g (max %.6g, 2/lr = %g)\n", "sharpness", e->s_first, e->s_last,
         e->s_max, 2.0 / eos_lr(o));
  printf("  %-34s %.6g -> %.6g\n", "loss", e->loss_first, e->loss_last);
  if (o->check)
    printf("  %-34s max %.2e, mean %.2e (untimed, %.1f s)\n", "vs a cold 1e-10 solve",
           e->check_max, e->check_mean, e->check_s);
}

int bench_eos_main(const BenchEosOpts *o) {
  Err err = {0};
  EosBench e;
  memset(&e, 0, sizeof e);
  if (o->steps < 1 || o->every < 1 || !(o->tol > 0)) {
    err_set(&err, CS_EINVAL, "bench eos: need --steps >= 1, --every >= 1 and --tol > 0");
    return cli_fail(&err);
  }
  if (eos_run(o, &e, &err)) return cli_fail(&err);
  eos_print(o, &e);
  fflush(stdout);
  return EXIT_OK;
}
