/* power.c: power (or level, p = q) of the neural Stein test and KSD over repeats (stein.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "stein.h"

static void sample_free(SteinSample *s) {
  free(s->X), free(s->S), free(s->delta);
  memset(s, 0, sizeof *s);
}

/* n draws of m (p or q) with q's scores, and δ = s_q − s_p when p is given. */
static int sample_draw(SteinSample *s, const SteinModel *m, const SteinPair *pr, int with_delta,
                       size_t n, Rng *rng, Err *err) {
  size_t d = pr->q.d;
  memset(s, 0, sizeof *s);
  s->n = n;
  s->X = malloc(n * d * sizeof *s->X);
  s->S = malloc(n * d * sizeof *s->S);
  if (with_delta) s->delta = malloc(n * d * sizeof *s->delta);
  if (!s->X || !s->S || (with_delta && !s->delta)) {
    sample_free(s);
    return err_set(err, CS_ENOMEM, "out of memory for %zu samples", n);
  }
  int rc = stein_model_sample(m, n, rng, s->X, err);
  if (rc) {
    sample_free(s);
    return rc;
  }
  stein_model_score(&pr->q, n, s->X, s->S);
  if (with_delta) {
    stein_model_score(&pr->p, n, s->X, s->delta);
    for (size_t i = 0; i < n * d; i++) s->delta[i] = s->S[i] - s->delta[i];
  }
  return CS_OK;
}

void stein_study_result_free(SteinStudyResult *res) {
  if (!res) return;
  for (int k = 0; k < res->nsched; k++) stein_trace_free(&res->sched[k].mean);
  memset(res, 0, sizeof *res);
}

/* Adds a repeat's trace into the running sums. */
static void trace_add(SteinTrace *sum, const SteinTrace *t) {
  for (long e = 0; e < t->epochs; e++) {
    sum->lambda[e] += t->lambda[e];
    sum->val_obj[e] += t->val_obj[e];
    sum->critic_err[e] += t->critic_err[e];
    sum->val_stat[e] += t->val_stat[e];
  }
}

/* n rows of data (the indices idx) with q's scores. */
static int sample_rows(SteinSample *s, const SteinPair *pr, const double *data, const size_t *idx,
                       size_t n, Err *err) {
  size_t d = pr->q.d;
  memset(s, 0, sizeof *s);
  s->n = n;
  s->X = malloc(n * d * sizeof *s->X);
  s->S = malloc(n * d * sizeof *s->S);
  if (!s->X || !s->S) {
    sample_free(s);
    return err_set(err, CS_ENOMEM, "out of memory for %zu samples", n);
  }
  for (size_t i = 0; i < n; i++) memcpy(s->X + i * d, data + idx[i] * d, d * sizeof *s->X);
  stein_model_score(&pr->q, n, s->X, s->S);
  return CS_OK;
}

/* p's train, validation and test samples: fresh draws of pr->p, or a fresh random split
 * of the data rows. */
static int draw_p(const SteinPair *pr, const SteinStudyOpts *o, Rng *rng, SteinSample *tr_s,
                  SteinSample *va_s, SteinSample *te_s, Err *err) {
  if (!o->data) {
    int rc = sample_draw(tr_s, &pr->p, pr, 0, o->n_train, rng, err);
    if (!rc) rc = sample_draw(va_s, &pr->p, pr, 1, o->n_val, rng, err);
    if (!rc) rc = sample_draw(te_s, &pr->p, pr, 0, o->n_test, rng, err);
    return rc;
  }
  size_t *idx = malloc(o->n_data * sizeof *idx);
  if (!idx) return err_set(err, CS_ENOMEM, "out of memory");
  for (size_t i = 0; i < o->n_data; i++) idx[i] = i;
  rng_shuffle(rng, idx, o->n_data);
  int rc = sample_rows(tr_s, pr, o->data, idx, o->n_train, err);
  if (!rc) rc = sample_rows(va_s, pr, o->data, idx + o->n_train, o->n_val, err);
  if (!rc) rc = sample_rows(te_s, pr, o->data, idx + o->n_train + o->n_val, o->n_test, err);
  free(idx);
  return rc;
}

/* One repeat: draws, then per schedule a critic trained from theta0 and tested. */
static int one_repeat(const SteinPair *pr, const Net *net, const SteinStudyOpts *o, long r,
                      SteinCritic *sc, double *theta0, double *theta, SteinTrace *tr,
                      SteinStudyResult *res, int (*stop)(void), Err *err) {
  Rng rng;
  rng_seed_stream(&rng, o->seed, 2 * (uint64_t)r);
  SteinSample tr_s = {0}, va_s = {0}, te_s = {0}, nu_s = {0};
  int rc = draw_p(pr, o, &rng, &tr_s, &va_s, &te_s, err);
  if (!rc) rc = sample_draw(&nu_s, &pr->q, pr, 0, o->n_null, &rng, err);
  double *T = malloc(o->n_test * sizeof *T), *T0 = malloc(o->n_null * sizeof *T0);
  if (!rc && (!T || !T0)) rc = err_set(err, CS_ENOMEM, "out of memory for the test values");
  net_init_params(net, theta0, &rng);
  for (int k = 0; k < o->nsched && !rc; k++) {
    SteinFitOpts fo = o->fit;
    fo.lambda = o->sched[k];
    fo.stop = stop;
    memcpy(theta, theta0, net->n_params * sizeof *theta);
    Rng fr;  /* the same minibatches and probes for every schedule */
    rng_seed_stream(&fr, o->seed, 2 * (uint64_t)r + 1);
    rc = stein_fit(sc, theta, &fo, &tr_s, &va_s, &fr, tr, err);
    if (rc) break;
    stein_critic_values(sc, theta, &te_s, T);
    stein_critic_values(sc, theta, &nu_s, T0);
    SteinTestResult t;
    rc = stein_test_values(T, o->n_test, T0, o->n_null, o->alpha, o->boot, &fr, &t, err);
    if (rc) break;
    SteinScheduleResult *sr = &res->sched[k];
    sr->rejects += t.reject;
    sr->rejects_t += t.reject_t;
    sr->best_epoch_mean += (double)tr->best_epoch;
    trace_add(&sr->mean, tr);
  }
  if (!rc && o->ksd) {
    SteinTestResult t;
    rc = stein_ksd_test(te_s.X, te_s.S, te_s.n, pr->q.d, o->alpha, o->boot, &rng, &t, err);
    if (!rc) res->ksd_rejects += t.reject;
  }
  free(T), free(T0);
  sample_free(&tr_s), sample_free(&va_s), sample_free(&te_s), sample_free(&nu_s);
  return rc;
}

int stein_study_run(const SteinPair *pr, const Net *net, const SteinStudyOpts *o,
                    int (*stop)(void), SteinStudyResult *res, Err *err) {
  memset(res, 0, sizeof *res);
  if (o->nsched < 1 || o->nsched > STEIN_MAX_SCHEDULES)
    return err_set(err, CS_EINVAL, "between 1 and %d λ schedules", STEIN_MAX_SCHEDULES);
  if (net->d_in != pr->q.d || net->d_out != pr->q.d)
    return err_set(err, CS_EINVAL, "the critic maps ℝ^%zu → ℝ^%zu, the model has d = %zu",
                   net->d_in, net->d_out, pr->q.d);
  if (o->data && o->n_train + o->n_val + o->n_test > o->n_data)
    return err_set(err, CS_EINVAL, "the data has %zu rows, fewer than train + val + test = %zu",
                   o->n_data, o->n_train + o->n_val + o->n_test);
  double t0 = wall_time();
  size_t cap = (size_t)o->fit.batch, P = net->n_params;
  SteinCritic *sc = stein_critic_alloc_prec(net, cap, o->precision, 0);
  double *theta0 = malloc(P * sizeof *theta0), *theta = malloc(P * sizeof *theta);
  SteinTrace tr = {0};
  int rc = !sc || !theta0 || !theta ? err_set(err, CS_ENOMEM, "out of memory for the critic")
                                    : stein_trace_alloc(&tr, o->fit.epochs, err);
  res->nsched = o->nsched;
  for (int k = 0; k < o->nsched && !rc; k++) {
    rc = stein_trace_alloc(&res->sched[k].mean, o->fit.epochs, err);
    if (rc) break;
    SteinTrace *m = &res->sched[k].mean;
    size_t e = (size_t)o->fit.epochs;
    memset(m->lambda, 0, e * sizeof *m->lambda), memset(m->val_obj, 0, e * sizeof *m->val_obj);
    memset(m->critic_err, 0, e * sizeof *m->critic_err);
    memset(m->val_stat, 0, e * sizeof *m->val_stat);
  }
  for (long r = 0; r < o->repeats && !rc; r++) {
    if (stop && stop()) break;
    rc = one_repeat(pr, net, o, r, sc, theta0, theta, &tr, res, stop, err);
    if (rc == CS_EINTERRUPTED) {  /* the repeat under way is dropped, the others kept */
      rc = CS_OK;
      err_clear(err);
      break;
    }
    if (!rc) res->repeats++;
    if (!rc && o->progress) {
      res->wall_s = wall_time() - t0;
      o->progress(o->progress_ctx, res, o->repeats);
    }
  }
  for (int k = 0; k < res->nsched && res->repeats; k++) {
    SteinScheduleResult *sr = &res->sched[k];
    double n = (double)res->repeats;
    sr->best_epoch_mean /= n;
    sr->critic_err_min = INFINITY;
    for (long e = 0; e < sr->mean.epochs; e++) {
      sr->mean.lambda[e] /= n, sr->mean.val_obj[e] /= n, sr->mean.val_stat[e] /= n;
      sr->mean.critic_err[e] /= n;
      if (sr->mean.critic_err[e] < sr->critic_err_min) sr->critic_err_min = sr->mean.critic_err[e];
    }
    if (isinf(sr->critic_err_min)) sr->critic_err_min = NAN;
  }
  res->wall_s = wall_time() - t0;
  stein_trace_free(&tr);
  stein_critic_free(sc);
  free(theta0), free(theta);
  return rc;
}
