/* lr_learner.c: the Lanczos learning-rate learner (see lr_learner.h). */
#include "lr_learner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "hessian/curv.h"
#include "hessian/minibatch.h"
#include "lanczos/eig.h"

#define LR_STREAM 0x1a7ULL /* random streams of the learner: one per measured step */

int lr_learner_parse(const char *spec, LrLearnerOptions *o, Err *err) {
  memset(o, 0, sizeof *o);
  o->every = 50, o->batch = 128, o->iters = 20, o->rule = LR_RULE_POLYAK, o->floor = 1e-3;
  Spec s;
  if (spec_parse(&s, spec, err)) return err_prefix(err, "--lr-schedule");
  long iters = o->iters;
  const char *rule = "polyak";
  int rc = strcmp(s.kind, "lanczos")
               ? err_set(err, CS_EINVAL, "--lr-schedule: unknown schedule '%s' (known: lanczos)",
                         s.kind)
               : CS_OK;
  if (!rc) rc = spec_get_int(&s, "every", &o->every, err);
  if (!rc) rc = spec_get_int(&s, "batch", &o->batch, err);
  if (!rc) rc = spec_get_int(&s, "iters", &iters, err);
  if (!rc) rc = spec_get_double(&s, "floor", &o->floor, err);
  if (!rc) {
    spec_get_str(&s, "rule", &rule);
    rc = spec_check_unused(&s, 0, err);
  }
  if (!rc && strcmp(rule, "polyak") && strcmp(rule, "granziol") && strcmp(rule, "polyak-safe"))
    rc = err_set(err, CS_EINVAL, "--lr-schedule '%s': rule=%s (use polyak, granziol or "
                 "polyak-safe)", spec, rule);
  if (!rc && (o->every < 1 || o->batch < 0 || iters < 2 || iters > 1000 || !(o->floor > 0) ||
              !(o->floor < 1)))
    rc = err_set(err, CS_EINVAL, "--lr-schedule '%s': need every >= 1, batch >= 0, "
                 "2 <= iters <= 1000, 0 < floor < 1", spec);
  if (!rc)
    o->rule = !strcmp(rule, "polyak")        ? LR_RULE_POLYAK
              : !strcmp(rule, "polyak-safe") ? LR_RULE_POLYAK_SAFE
                                             : LR_RULE_GRANZIOL;
  o->iters = (int)iters;
  spec_free(&s);
  return rc;
}

int lr_learner_rule(LrRule rule, const double *theta, const double *w, int n, double floor,
                    double *lr, double *mom, double *L, double *mu) {
  double top = -INFINITY, low = INFINITY;
  if (rule == LR_RULE_POLYAK_SAFE) rule = LR_RULE_POLYAK; /* its clip comes after */
  if (rule == LR_RULE_POLYAK) {
    for (int i = 0; i < n; i++) top = fmax(top, theta[i]), low = fmin(low, theta[i]);
  } else {
    int keep[1024], m = n < 1024 ? n : 1024;
    for (int i = 0; i < m; i++) keep[i] = 1, top = fmax(top, fabs(theta[i]));
    for (;;) { /* delete the heaviest Ritz value while its weight is > 0.5 */
      int h = -1;
      for (int i = 0; i < m; i++)
        if (keep[i] && (h < 0 || w[i] > w[h])) h = i;
      if (h < 0 || !(w[h] > 0.5)) break;
      keep[h] = 0;
    }
    for (int i = 0; i < m; i++)
      if (keep[i]) low = fmin(low, fabs(theta[i]));
    if (!isfinite(low)) low = 0; /* everything deleted: the floor decides */
  }
  if (!(top > 0) || !isfinite(top)) return CS_ENOCONV;
  double m_ = fmax(low, floor * top), sL = sqrt(top), sm = sqrt(m_);
  *lr = 4.0 / ((sL + sm) * (sL + sm));
  if (rule == LR_RULE_POLYAK) {
    double sk = sqrt(top / m_);
    *mom = ((sk - 1) / (sk + 1)) * ((sk - 1) / (sk + 1));
  } else {
    *mom = ((sL - sm) / (sL + m_)) * ((sL - sm) / (sL + m_));
  }
  *L = top, *mu = m_;
  return CS_OK;
}

double lr_learner_safe_clip(double lr, double mom, double L, double *lhat) {
  if (L > *lhat) *lhat = L;
  double cap = 2.0 * (1.0 + mom) / *lhat;
  return lr < cap ? lr : cap;
}

typedef struct LrProbe {
  LrLearnerOptions o;
  const Net *net;
  const Dataset *train;
  MiniBatch *mb;
  Curvature *curv;
  size_t rows;
  int iters;
  double *nodes, *weights;
  double lhat; /* polyak-safe: the largest L measured so far (0 before the first) */
} LrProbe;

/* Measures H_B at θ_t and sets the optimizer's lr and momentum. */
static int lr_measure(LrProbe *lp, TrainState *st, Err *err) {
  uint64_t stream = (LR_STREAM << 48) | (uint64_t)st->step;
  Batch b;
  int rc = minibatch_draw(lp->mb, lp->rows, lp->o.seed, stream, &b, err);
  if (!rc) rc = curv_build(lp->curv, st->theta, &b, err);
  if (rc) return rc;
  Linop H = curv_hessian_op(lp->curv);
  int s = 0;
  if ((rc = slq_nodes(&H, lp->iters, 1, lp->o.seed ^ stream, lp->nodes, lp->weights, &s, NULL,
                      err)))
    return rc;
  double lr, mom, L, mu;
  if (lr_learner_rule(lp->o.rule, lp->nodes, lp->weights, s, lp->o.floor, &lr, &mom, &L, &mu))
    return CS_OK; /* no positive curvature in this batch: keep the current α and ρ */
  if (lp->o.rule == LR_RULE_POLYAK_SAFE) {
    lr = lr_learner_safe_clip(lr, mom, L, &lp->lhat);
    if ((rc = rec_metric(st->rec, st->step, "lr_learner_lhat", lp->lhat, err))) return rc;
  }
  st->opt->cfg.lr = lr;
  st->opt->cfg.momentum = mom;
  st->lr = lr;
  st->threshold = optim_threshold(st->opt->type, &st->opt->cfg);
  if ((rc = rec_metric(st->rec, st->step, "lr_learner_lmax", L, err))) return rc;
  return rec_metric(st->rec, st->step, "lr_learner_lmin", mu, err);
}

static int lr_probe_run(void *self, TrainState *st, Err *err) {
  LrProbe *lp = self;
  int rc = st->step % lp->o.every == 0 ? lr_measure(lp, st, err) : CS_OK;
  if (!rc) rc = rec_metric(st->rec, st->step, "lr_learned", st->opt->cfg.lr, err);
  if (!rc) rc = rec_metric(st->rec, st->step, "momentum_learned", st->opt->cfg.momentum, err);
  return rc;
}

static void lr_probe_destroy(void *self) {
  LrProbe *lp = self;
  if (!lp) return;
  minibatch_free(lp->mb);
  curv_free(lp->curv);
  free(lp->nodes), free(lp->weights);
  free(lp);
}

int lr_learner_probe_create(const LrLearnerOptions *o, const Net *net, const Dataset *train,
                            LossKind loss, const OptimizerType *opt, Probe *out, Err *err) {
  if (opt != optim_momentum)
    return err_set(err, CS_EINVAL, "--lr-schedule lanczos sets heavy-ball momentum: it needs "
                   "--opt momentum (got %s)", opt->name);
  LrProbe *lp = calloc(1, sizeof *lp);
  if (!lp) return err_set(err, CS_ENOMEM, "out of memory for the learning-rate learner");
  lp->o = *o;
  lp->net = net;
  lp->train = train;
  lp->rows = o->batch > 0 && (size_t)o->batch < train->n ? (size_t)o->batch : train->n;
  lp->iters = (size_t)o->iters < net->n_params ? o->iters : (int)net->n_params;
  lp->mb = minibatch_alloc(train, lp->rows < train->n ? lp->rows : 0, err);
  lp->curv = lp->mb ? curv_alloc(net, loss, lp->rows, 0, err) : NULL;
  lp->nodes = malloc((size_t)lp->iters * sizeof *lp->nodes);
  lp->weights = malloc((size_t)lp->iters * sizeof *lp->weights);
  if (!lp->mb || !lp->curv || !lp->nodes || !lp->weights) {
    lr_probe_destroy(lp);
    return err->code ? err->code : err_set(err, CS_ENOMEM, "out of memory for the learner");
  }
  *out = (Probe){"lr-learner", 1, lp, lr_probe_run, lr_probe_destroy, NULL};
  return CS_OK;
}
