/*
 * probe.c: the PC-bias probe: the measurement inside the training loop, and the
 * run-level analysis after it (see pcbias.h).
 *
 * At each measurement (every `every` steps and at the last), for a deep linear net:
 * the end-to-end W, P = (W − W*)Uᵀ, e_j = ‖P_j‖/‖P_j(0)‖ for the top k components
 * (series pc_error) and the excess-loss ratio (metric pc_excess); when asked, with
 * labelled data, each example's 1[argmax f(x_i) = label_i] is counted (the linear
 * net's outputs are X Wᵀ, a d_out-wide GEMM; others need a forward pass).
 * The history stays in memory for pc_probe_finish. Workspaces are allocated once,
 * in pc_probe_create; only the history grows, when a run measures more often than
 * its step cap foresaw.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "core/threads.h"
#include "pcbias.h"

#define PC_CHUNK 2048 /* rows per forward chunk (non-linear nets) */

typedef struct PcProbe {
  PcProbeOpts o;
  const Net *net;
  const Dataset *train;
  PcBasis basis;
  double *W, *work, *P, *Dw, *norm0, *norms, *F; /* F: [chunk][d_out] outputs (linear) */
  NetCache *cache;                              /* non-linear forward */
  double excess0;
  /* history */
  size_t M, cap;
  long *t;
  double *e;        /* [cap][k] */
  double *excess;   /* [cap] */
  long *hits;       /* [n] correct counts */
  double probe_s;   /* wall time spent in run() */
} PcProbe;

static void pc_destroy(void *self) {
  PcProbe *p = self;
  if (!p) return;
  pc_basis_free(&p->basis);
  free(p->W), free(p->work), free(p->P), free(p->Dw), free(p->norm0), free(p->norms), free(p->F);
  net_cache_free(p->cache);
  free(p->t), free(p->e), free(p->excess), free(p->hits);
  free(p);
}

static int grow(PcProbe *p, Err *err) {
  if (p->M < p->cap) return CS_OK;
  size_t cap = p->cap * 2 + 8, k = p->o.k;
  long *t = realloc(p->t, cap * sizeof *t);
  if (t) p->t = t;
  double *e = realloc(p->e, cap * k * sizeof *e);
  if (e) p->e = e;
  double *x = realloc(p->excess, cap * sizeof *x);
  if (x) p->excess = x;
  if (!t || !e || !x) return err_set(err, CS_ENOMEM, "pc-bias: out of memory for the history");
  p->cap = cap;
  return CS_OK;
}

/* Counts the examples the net classifies correctly at θ. */
static void count_hits(PcProbe *p, const double *theta) {
  const Dataset *ds = p->train;
  size_t n = ds->n, m = ds->k, d = ds->d;
  for (size_t r0 = 0; r0 < n; r0 += PC_CHUNK) {
    size_t rows = n - r0 < PC_CHUNK ? n - r0 : PC_CHUNK;
    const double *F;
    if (p->o.linear) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)m, (int)d, 1.0,
                  ds->X + r0 * d, (int)d, p->W, (int)d, 0.0, p->F, (int)m);
      F = p->F;
    } else {
      net_forward(p->net, theta, ds->X + r0 * d, rows, p->cache);
      F = p->cache->A[p->net->nlayers - 1];
    }
    for (size_t i = 0; i < rows; i++)
      p->hits[r0 + i] += (int)loss_argmax(F + i * m, m) == ds->labels[r0 + i];
  }
}

static int pc_run(void *self, TrainState *st, Err *err) {
  PcProbe *p = self;
  double t0 = wall_time();
  int rc = grow(p, err);
  if (rc) return rc;
  size_t k = p->o.k, M = p->M;
  p->t[M] = st->step;
  if (p->o.linear) {
    pc_end_to_end(p->net, st->theta, p->W, p->work);
    double ex = pc_project(&p->basis, p->W, k, p->norms, p->P, p->Dw);
    if (M == 0) {
      memcpy(p->norm0, p->norms, k * sizeof *p->norm0);
      p->excess0 = ex;
    }
    double *e = p->e + M * k;
    for (size_t j = 0; j < k; j++) e[j] = p->norm0[j] > 0 ? p->norms[j] / p->norm0[j] : NAN;
    p->excess[M] = p->excess0 > 0 ? ex / p->excess0 : NAN;
    if ((rc = rec_series(st->rec, st->step, "pc_error", k, e, err))) return rc;
    if ((rc = rec_metric(st->rec, st->step, "pc_excess", p->excess[M], err))) return rc;
  }
  if (p->hits) count_hits(p, st->theta);
  p->M++;
  p->probe_s += wall_time() - t0;
  return CS_OK;
}

int pc_probe_create(const PcProbeOpts *o, const Net *net, const Dataset *train, Probe *out,
                    Err *err) {
  memset(out, 0, sizeof *out);
  if (o->every < 1 || !(o->eps > 0 && o->eps < 1) || o->k < 1)
    return err_set(err, CS_EINVAL, "pc-bias: need every >= 1, 0 < eps < 1, components >= 1");
  if (!o->linear && !o->access)
    return err_set(err, CS_EINVAL, "pc-bias: a non-linear net's probe only counts correctness");
  if (o->linear) {
    int rc = pc_net_check_linear(net, err);
    if (rc) return rc;
  }
  PcProbe *p = calloc(1, sizeof *p);
  if (!p) return err_set(err, CS_ENOMEM, "pc-bias: out of memory");
  p->o = *o;
  p->net = net;
  p->train = train;
  size_t d = train->d, m = train->k, k = o->k < d ? o->k : d;
  p->o.k = k;
  int rc = CS_OK;
  if (o->linear &&
      (rc = pc_basis_compute(train->X, train->Y, train->n, d, m, &p->basis, err))) {
    pc_destroy(p);
    return rc;
  }
  p->cap = (size_t)(o->steps / o->every) + 2;
  p->t = malloc(p->cap * sizeof *p->t);
  p->e = malloc(p->cap * k * sizeof *p->e);
  p->excess = malloc(p->cap * sizeof *p->excess);
  int fail = !p->t || !p->e || !p->excess;
  if (o->linear) {
    p->W = malloc(m * d * sizeof *p->W);
    p->work = malloc((pc_end_to_end_work(net) + 1) * sizeof *p->work);
    p->P = malloc(m * d * sizeof *p->P);
    p->Dw = malloc(m * d * sizeof *p->Dw);
    p->norm0 = malloc(k * sizeof *p->norm0);
    p->norms = malloc(k * sizeof *p->norms);
    fail |= !p->W || !p->work || !p->P || !p->Dw || !p->norm0 || !p->norms;
  }
  if (o->access && train->labels) {
    p->hits = calloc(train->n, sizeof *p->hits);
    if (o->linear) p->F = malloc(PC_CHUNK * m * sizeof *p->F);
    else p->cache = net_cache_alloc(net, PC_CHUNK, 0);
    fail |= !p->hits || (o->linear ? !p->F : !p->cache);
  }
  if (fail) {
    pc_destroy(p);
    return err_set(err, CS_ENOMEM, "pc-bias: out of memory for the probe's workspaces");
  }
  *out = (Probe){.name = "pc-bias", .every = o->every, .self = p, .run = pc_run,
                 .destroy = pc_destroy};
  return CS_OK;
}

void pc_run_result_free(PcRunResult *r) {
  if (!r) return;
  pc_analysis_free(&r->an);
  free(r->correct);
  memset(r, 0, sizeof *r);
}

static int put_metrics(Recorder *rec, const PcRunResult *r, const PcProbe *p, Err *err) {
  const PcAnalysis *a = &r->an;
  struct { const char *name; double v; } m[] = {
      {"pc_rate_spearman", a->rate_spearman},   {"pc_rate_slope", a->rate_slope},
      {"pc_rate_ratio_spread", a->ratio_spread}, {"pc_rate_spread", a->rate_spread},
      {"pc_rate_theory_ratio", a->theory_ratio}, {"pc_tau_spearman", a->tau_spearman},
      {"pc_tau_reached", (double)a->tau_reached}, {"pc_rate_whole_spearman", a->whole_spearman},
      {"pc_theory_max_err", a->theory_max_err},  {"pc_t1", (double)a->t1},
      {"pc_excess_final", r->excess_final},      {"pc_excess_half", r->excess_half},
      {"pc_components", (double)p->o.k},         {"pc_eps", p->o.eps},
      {"pc_depth", (double)p->net->nlayers},     {"pc_rank", (double)p->basis.rank},
  };
  int rc = CS_OK;
  for (size_t i = 0; i < sizeof m / sizeof *m && !rc; i++)
    if (!isnan(m[i].v)) rc = rec_metric(rec, -1, m[i].name, m[i].v, err);
  return rc;
}

int pc_probe_finish(Probe *pr, Recorder *rec, double wall_s, long steps_done, PcRunResult *r,
                    Err *err) {
  PcProbe *p = pr->self;
  memset(r, 0, sizeof *r);
  r->excess_final = r->excess_half = r->probe_cost = NAN;
  r->measurements = (long)p->M;
  size_t k = p->o.k;
  int rc = CS_OK;
  /* probe call against a training step: the loop's time without the probe, per step */
  double step_s = (wall_s - p->probe_s) / (double)(steps_done + 1);
  if (p->M && step_s > 0) r->probe_cost = p->probe_s / (double)p->M / step_s;
  if (!isnan(r->probe_cost) && (rc = rec_metric(rec, -1, "pc_probe_cost", r->probe_cost, err)))
    return rc;
  if (p->hits) {
    r->n = p->train->n;
    r->correct = malloc(r->n * sizeof *r->correct);
    if (!r->correct) return err_set(err, CS_ENOMEM, "pc-bias: out of memory");
    for (size_t i = 0; i < r->n; i++)
      r->correct[i] = p->M ? (double)p->hits[i] / (double)p->M : NAN;
    if ((rc = rec_series(rec, -1, "pc_correct", r->n, r->correct, err))) goto fail;
  }
  if (!p->o.linear) return CS_OK;
  PcAnalysisOpts ao = {k, p->o.eps, p->o.t1, p->o.lr, p->net->nlayers, p->o.exact};
  if ((rc = pc_analyze(&ao, p->t, p->e, p->M, p->basis.eval, &r->an, err))) goto fail;
  if (p->M) {
    r->excess_final = p->excess[p->M - 1];
    r->excess_half = pc_first_below(p->t, p->excess, p->M, 1, 0.5);
  }
  struct { const char *name; const double *v; } s[] = {
      {"pc_eigenvalue", p->basis.eval}, {"pc_rate", r->an.rate}, {"pc_tau", r->an.tau},
      {"pc_theory_rate", r->an.theory}, {"pc_rate_whole", r->an.whole},
  };
  for (size_t i = 0; i < sizeof s / sizeof *s && !rc; i++)
    rc = rec_series(rec, -1, s[i].name, k, s[i].v, err);
  if (!rc) rc = put_metrics(rec, r, p, err);
  if (!rc) return CS_OK;
fail:
  pc_run_result_free(r);
  return rc;
}
