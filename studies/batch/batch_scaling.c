/* batch_scaling.c: mini-batch Hessian extremes over batch sizes (see batch_scaling.h). */
#include "batch_scaling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/threads.h"
#include "core/train.h"
#include "hessian/curv.h"
#include "hessian/minibatch.h"
#include "hessian/ops.h"
#include "batch_precond.h"
#include "lanczos/eig.h"

/* Random streams of the study (rng_seed_stream): one per (B, draw), one for z. */
#define BS_STREAM 0xb5ULL
#define BS_STREAM_Z ((BS_STREAM << 56) | 0xffffffULL)

void batch_scaling_options_default(BatchScalingOptions *o) {
  memset(o, 0, sizeof *o);
  static const size_t def[] = {8, 32, 128, 512, 2048};
  o->nbatches = (int)(sizeof def / sizeof *def);
  memcpy(o->batches, def, sizeof def);
  o->draws = 10;
  o->tol = 1e-4;
  o->maxit = 500;
  o->chunk = 512;
  o->value_stop = 1;
  o->adam_eps = 1e-8;
  o->precision = PREC_F64;
}

void batch_scaling_result_free(BatchScalingResult *r) {
  if (!r) return;
  free(r->batch);
  free(r->ndraw);
  free(r->draw);
  free(r->lmax_mean);
  free(r->lmax_std);
  free(r->lmin_mean);
  free(r->lmin_std);
  free(r->hess_var);
  free(r->lpre_mean);
  free(r->lpre_std);
  memset(r, 0, sizeof *r);
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* The sizes to measure: sorted, distinct, those >= N folded into N, N last. Returns their
 * count, or a negated status. */
static int sizes_plan(const BatchScalingOptions *o, size_t N, size_t *out, Err *err) {
  size_t tmp[BS_MAX_BATCHES + 1];
  int n = 0;
  if (o->nbatches < 0 || o->nbatches > BS_MAX_BATCHES)
    return -err_set(err, CS_EINVAL, "%d batch sizes (at most %d)", o->nbatches, BS_MAX_BATCHES);
  for (int i = 0; i < o->nbatches; i++) {
    if (o->batches[i] == 0) return -err_set(err, CS_EINVAL, "batch size 0 (sizes start at 1)");
    tmp[n++] = o->batches[i] < N ? o->batches[i] : N;
  }
  tmp[n++] = N;
  qsort(tmp, (size_t)n, sizeof *tmp, cmp_size);
  int m = 0;
  for (int i = 0; i < n; i++)
    if (!m || tmp[i] != out[m - 1]) out[m++] = tmp[i];
  return m;
}

static double dot(const double *x, const double *y, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

uint64_t batch_scaling_draw_stream(size_t B, int draw) {
  return (BS_STREAM << 56) | ((uint64_t)B << 24) | (uint64_t)draw;
}

void batch_scaling_probe_vector(uint64_t seed, size_t P, double *z) {
  Rng zr;
  rng_seed_stream(&zr, seed, BS_STREAM_Z);
  rng_normal_fill(&zr, z, P);
  double zn = sqrt(dot(z, z, P));
  for (size_t i = 0; i < P; i++) z[i] /= zn;
}

/* The Lanczos basis cap of every solve (the solver's default for one pair), so that one
 * workspace serves them all. */
static int solve_cap(size_t P, int maxit) {
  int cap = 20;
  if ((size_t)cap > P) cap = (int)P;
  return cap < maxit ? cap : maxit;
}

/* One end of the spectrum across the solves (λmax, λmin or the preconditioned λmax): the
 * previous solve's Ritz vector, the next warm start, and the gap reference of the value
 * stop, θ2 of the last solve at this end that stopped on the residual. */
typedef struct EndState {
  double *warm;
  int have_warm;
  double gap_ref; /* NAN when that solve had no θ2 */
  int have_ref;   /* 0: no solve at this end yet stopped on the residual */
} EndState;

/* One extreme eigenpair of op, warm-started from e->warm when there is one; the Ritz
 * vector replaces it for the next solve. residual (or no reference yet at this end): stop
 * on the residual test and keep θ2 as the end's gap reference; else, with o->value_stop,
 * also on the value bound est²/gap <= tol·|θ|, gap against e->gap_ref
 * (eig_lanczos_values). */
static int solve_end(const Linop *op, const BatchScalingOptions *o, EigWork *work,
                     EigWhich which, uint64_t seed, EndState *e, int residual, double *value,
                     double *res, long *mv, double *wall, int *conv, Err *err) {
  EigOpts eo;
  eig_opts_default(&eo);
  eo.work = work;
  eo.ncv = solve_cap(op->n, o->maxit);
  eo.k = 1;
  eo.which = which;
  eo.tol = o->tol;
  eo.maxit = o->maxit;
  eo.seed = seed;
  eo.exact_residuals = 0;
  if (e->have_warm) {
    eo.warm = e->warm;
    eo.nwarm = 1;
  }
  int by_value = o->value_stop && !residual && e->have_ref;
  EigResult r = {0};
  int rc = eig_lanczos_values(op, &eo, by_value ? o->tol : 0.0, by_value ? e->gap_ref : NAN, &r,
                              err);
  if (rc && rc != CS_ENOCONV) return rc;
  if (rc) err_clear(err);
  *value = r.values[0];
  *res = r.residuals[0];
  *mv = r.matvecs;
  *wall = r.wall_s;
  *conv = r.converged;
  if (!by_value) e->gap_ref = r.next_value, e->have_ref = 1;
  memcpy(e->warm, r.vectors, op->n * sizeof *e->warm);
  e->have_warm = 1;
  eig_result_free(&r);
  return CS_OK;
}

/* The value a mean is taken of: λmax (which 1), λmin (0) or the preconditioned λmax (2). */
static double draw_value(const BatchDraw *d, int which) {
  return which == 1 ? d->lmax : which == 0 ? d->lmin : d->lpre;
}

/* Mean and sample standard deviation of the n draws' values. */
static void mean_std(const BatchDraw *d, int n, int which, double *mean, double *std) {
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += draw_value(&d[i], which);
  *mean = s / n;
  for (int i = 0; i < n; i++) {
    double e = draw_value(&d[i], which) - *mean;
    q += e * e;
  }
  *std = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

int batch_scaling_measure(const Net *net, LossKind loss, const double *theta,
                          const Dataset *train, const BatchScalingOptions *o,
                          BatchScalingResult *r, Err *err) {
  memset(r, 0, sizeof *r);
  size_t N = train->n, P = net->n_params, sizes[BS_MAX_BATCHES + 1];
  if (o->draws < 1) return err_set(err, CS_EINVAL, "draws %d (at least 1)", o->draws);
  if (!(o->tol > 0) || o->maxit < 2)
    return err_set(err, CS_EINVAL, "eigen tolerance %g and cap %d (need > 0 and >= 2)", o->tol,
                   o->maxit);
  if (precision_check_tol(o->precision, o->tol, "eigen tolerance", err)) return err->code;
  if (P < 3) return err_set(err, CS_EINVAL, "a model of %zu parameters (at least 3)", P);
  int nb = sizes_plan(o, N, sizes, err);
  if (nb < 0) return -nb;
  size_t m_max = nb > 1 ? sizes[nb - 2] : 0;
  int total = (nb - 1) * o->draws + 1, rc = CS_OK;
  double t0 = wall_time();
  r->n = N;
  r->n_params = P;
  r->nb = nb;
  r->batch = malloc((size_t)nb * sizeof *r->batch);
  r->ndraw = malloc((size_t)nb * sizeof *r->ndraw);
  r->draw = calloc((size_t)total, sizeof *r->draw);
  r->lmax_mean = malloc((size_t)nb * sizeof(double));
  r->lmax_std = malloc((size_t)nb * sizeof(double));
  r->lmin_mean = malloc((size_t)nb * sizeof(double));
  r->lmin_std = malloc((size_t)nb * sizeof(double));
  r->hess_var = malloc((size_t)nb * sizeof(double));
  EndState top = {malloc(P * sizeof(double)), 0, NAN, 0};
  EndState bot = {malloc(P * sizeof(double)), 0, NAN, 0}, epre = {NULL, 0, NAN, 0};
  double *z = malloc(P * sizeof *z), *hz = malloc(P * sizeof *hz), *hzsum = malloc(P * sizeof *hzsum);
  int pre = o->adam_eps > 0;
  double *gmean = NULL, *gvar = NULL, *PB = NULL;
  PrecondOp *pop = NULL;
  if (pre) {
    r->lpre_mean = malloc((size_t)nb * sizeof(double));
    r->lpre_std = malloc((size_t)nb * sizeof(double));
    gmean = malloc(P * sizeof *gmean), gvar = malloc(P * sizeof *gvar);
    PB = malloc(P * sizeof *PB), epre.warm = malloc(P * sizeof(double));
  }
  MiniBatch *mb = minibatch_alloc(train, m_max, err);
  Curvature *curv = mb ? curv_alloc(net, loss, N, (size_t)o->chunk, err) : NULL;
  EigWork *work = curv ? eig_work_alloc(P, solve_cap(P, o->maxit), err) : NULL;
  if (!mb || !curv || !work || curv_set_precision(curv, o->precision, err)) {
    rc = err->code;
    goto out;
  }
  if (!r->batch || !r->ndraw || !r->draw || !r->lmax_mean || !r->lmax_std || !r->lmin_mean ||
      !r->lmin_std || !r->hess_var || !top.warm || !bot.warm || !z || !hz || !hzsum ||
      (pre && (!r->lpre_mean || !r->lpre_std || !gmean || !gvar || !PB || !epre.warm))) {
    rc = err_set(err, CS_ENOMEM, "out of memory for the batch-scaling study (%zu parameters)", P);
    goto out;
  }
  batch_scaling_probe_vector(o->seed, P, z);
  if (pre && (rc = batch_precond_moments(net, loss, theta, train, gmean, gvar, err))) goto out;
  /* Draw records grouped by size ascending: size i starts at first[i]. */
  int first[BS_MAX_BATCHES + 1];
  for (int i = 0, pos = 0; i < nb; i++) {
    r->batch[i] = sizes[i];
    r->ndraw[i] = i == nb - 1 ? 1 : o->draws;
    first[i] = pos;
    pos += r->ndraw[i];
  }
  /* From the smallest size up, the whole set last: each size's first solve starts from the
   * smaller size's vectors, and the whole set (the costliest products) from the largest
   * size's. With the value stop each size's first λmax solve stops on the residual, and
   * its θ2 is the gap of the bound for the size's other draws and for the whole set (whose
   * top is the largest size's, nearly). λmin and the preconditioned λmax always stop on
   * the residual: at the crowded bottom an early value stop can settle on the second
   * smallest eigenvalue before the smallest shows (tests/test_batch.c met it at B = 2). */
  for (int i = 0; i < nb; i++) {
    size_t B = sizes[i];
    double nsum = 0;
    memset(hzsum, 0, P * sizeof *hzsum);
    if (pre) batch_precond_for_size(gmean, gvar, P, N, B, o->adam_eps, PB);
    for (int d = 0; d < r->ndraw[i]; d++) {
      uint64_t stream = batch_scaling_draw_stream(B, d);
      BatchDraw *bd = &r->draw[first[i] + d];
      Batch b;
      if (train_stop_requested()) {
        rc = err_set(err, CS_EINTERRUPTED, "batch-scaling interrupted at B = %zu, draw %d", B, d);
        goto out;
      }
      if ((rc = minibatch_draw(mb, B, o->seed, stream, &b, err))) goto out;
      if ((rc = curv_build(curv, theta, &b, err))) goto out;
      Linop op = o->ggn ? curv_ggn_op(curv) : curv_hessian_op(curv);
      bd->batch = B;
      bd->draw = d;
      int ref = d == 0 && B < N;
      if ((rc = solve_end(&op, o, work, EIG_TOP, o->seed ^ stream, &top, ref, &bd->lmax,
                          &bd->res_max, &bd->mv_max, &bd->wall_max, &bd->conv_max, err)))
        goto out;
      if (o->top_only) {
        bd->conv_min = 1;
      } else if (o->ggn && B * net->d_out < P) { /* PSD of rank <= B·d_out < P: λmin = 0 exactly */
        bd->lmin = bd->res_min = bd->wall_min = 0.0;
        bd->mv_min = 0;
        bd->conv_min = 1;
      } else if ((rc = solve_end(&op, o, work, EIG_BOTTOM, o->seed ^ stream ^ 1, &bot, 1,
                                 &bd->lmin, &bd->res_min, &bd->mv_min, &bd->wall_min,
                                 &bd->conv_min, err)))
        goto out;
      if (pre) { /* P_B^{-1/2} H_B P_B^{-1/2}: the inner Linop is the same curvature context */
        if (pop ? precond_op_set(pop, PB, err) : !(pop = precond_op_alloc(&op, PB, err))) {
          rc = err->code;
          goto out;
        }
        Linop pl = precond_op_linop(pop);
        if ((rc = solve_end(&pl, o, work, EIG_TOP, o->seed ^ stream ^ 2, &epre, 1, &bd->lpre,
                            &bd->res_pre, &bd->mv_pre, &bd->wall_pre, &bd->conv_pre, err)))
          goto out;
        r->matvecs += bd->mv_pre;
      }
      r->matvecs += bd->mv_max + bd->mv_min;
      if (o->top_only) continue;
      if ((rc = op.apply(op.self, z, hz))) {
        err_set(err, rc, "product H_B z failed (B = %zu)", B);
        goto out;
      }
      bd->hz_norm2 = dot(hz, hz, P);
      nsum += bd->hz_norm2;
      for (size_t j = 0; j < P; j++) hzsum[j] += hz[j];
      r->matvecs++;
    }
    int nd = r->ndraw[i];
    double mnorm2 = dot(hzsum, hzsum, P) / ((double)nd * nd);
    r->hess_var[i] = nd > 1 ? nsum / nd - mnorm2 : 0.0;
    mean_std(r->draw + first[i], nd, 1, &r->lmax_mean[i], &r->lmax_std[i]);
    mean_std(r->draw + first[i], nd, 0, &r->lmin_mean[i], &r->lmin_std[i]);
    if (pre) mean_std(r->draw + first[i], nd, 2, &r->lpre_mean[i], &r->lpre_std[i]);
  }
  r->lambda_full = r->lmax_mean[nb - 1];
  r->lambda_full_min = r->lmin_mean[nb - 1];
  r->wall_s = wall_time() - t0;
out:
  eig_work_free(work);
  curv_free(curv);
  minibatch_free(mb);
  free(top.warm), free(bot.warm), free(z), free(hz), free(hzsum);
  free(gmean), free(gvar), free(PB), free(epre.warm);
  precond_op_free(pop);
  if (rc) batch_scaling_result_free(r);
  return rc;
}
