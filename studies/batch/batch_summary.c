/* batch_summary.c: the batch-scaling study's fits and stored rows (see batch_summary.h). */
#include "batch_summary.h"

#include "batch_stability.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void batch_scaling_summary_free(BatchScalingSummary *s) {
  if (!s) return;
  free(s->lr_pred);
  free(s->spiked_pred);
  free(s->lr_pred_adam);
  memset(s, 0, sizeof *s);
}

/* hess_var's expectation from its D-draw value: the sample mean it subtracts costs (D−1)/D. */
static double hv_unbiased(const BatchScalingResult *r, int i) {
  int d = r->ndraw[i];
  return d > 1 ? r->hess_var[i] * d / (d - 1) : 0.0;
}

int batch_scaling_summarize(const BatchScalingResult *r, BatchScalingSummary *s, Err *err) {
  memset(s, 0, sizeof *s);
  int nb = r->nb;
  double N = (double)r->n, lN = r->lambda_full;
  s->lr_pred = malloc((size_t)nb * sizeof *s->lr_pred);
  s->spiked_pred = malloc((size_t)nb * sizeof *s->spiked_pred);
  if (r->lpre_mean) s->lr_pred_adam = malloc((size_t)nb * sizeof *s->lr_pred_adam);
  if (!s->lr_pred || !s->spiked_pred || (r->lpre_mean && !s->lr_pred_adam)) {
    batch_scaling_summary_free(s);
    return err_set(err, CS_ENOMEM, "out of memory");
  }
  Err fe = {0};
  if (batch_fit_power(r->batch, r->lmax_mean, nb, r->n, lN, &s->power, &fe))
    s->power = (BatchFit){NAN, NAN, NAN, 0};
  if (batch_fit_spiked(r->batch, r->lmax_mean, nb, r->n, lN, &s->spiked, &fe))
    s->spiked = (BatchFit){NAN, NAN, NAN, 0};
  s->sigma2 = s->spiked.c * lN / (double)r->n_params;
  double Bd[BS_MAX_BATCHES + 1], sum = 0;
  int nnoise = 0;
  for (int i = 0; i < nb; i++) {
    double B = (double)r->batch[i], hv = hv_unbiased(r, i);
    Bd[i] = B;
    s->lr_pred[i] = r->lmax_mean[i] > 0 ? 2.0 / r->lmax_mean[i] : NAN;
    if (s->lr_pred_adam) s->lr_pred_adam[i] = r->lpre_mean[i] > 0 ? 2.0 / r->lpre_mean[i] : NAN;
    s->spiked_pred[i] = lN > 0 ? batch_spiked_predict(lN, hv) : NAN;
    if (r->batch[i] < r->n && r->ndraw[i] > 1) {
      sum += hv * N * B / (N - B);
      nnoise++;
    }
  }
  s->noise_var = nnoise ? sum / nnoise : NAN;
  s->spearman = batch_spearman(Bd, r->lmax_mean, nb);
  return CS_OK;
}

/* The stored name: bs_* for the Hessian; for the GGN bs_ggn_*, bs_hessian_X → bs_ggn_X. */
static const char *bs_name(const char *base, int ggn, char *buf, size_t len) {
  if (!ggn) return base;
  const char *rest = !strncmp(base, "bs_hessian_", 11) ? base + 11 : base + 3;
  snprintf(buf, len, "bs_ggn_%s", rest);
  return buf;
}

int batch_scaling_record(const BatchScalingResult *r, const BatchScalingSummary *s, int ggn,
                         long step, Recorder *rec, Err *err) {
  /* "batch" as analyze's --operator batch:B (docs/SCHEMA.md), so these rows never enter a
   * run's sharpness series or max_sharpness (operator "hessian"), whatever B is. */
  const char *op = ggn ? "batch-ggn" : "batch";
  int rc = CS_OK, total = 0;
  for (int i = 0; i < r->nb; i++) total += r->ndraw[i];
  for (int i = 0; i < total && !rc; i++) {
    const BatchDraw *d = &r->draw[i];
    EigRecord top = {step, op, (long)d->batch, 1, &d->lmax, &d->res_max, d->mv_max, d->wall_max,
                     d->conv_max, 0, d->draw, "batch-scaling"};
    EigRecord bot = {step, op, (long)d->batch, 1, &d->lmin, &d->res_min, d->mv_min, d->wall_min,
                     d->conv_min, 1, d->draw, "batch-scaling"};
    rc = rec_eigs(rec, &top, err);
    if (!rc) rc = rec_eigs(rec, &bot, err);
    if (!rc && r->lpre_mean) {
      EigRecord pre = {step, ggn ? "batch-ggn-precond" : "batch-precond", (long)d->batch, 1,
                       &d->lpre, &d->res_pre, d->mv_pre, d->wall_pre, d->conv_pre, 0, d->draw,
                       "batch-scaling"};
      rc = rec_eigs(rec, &pre, err);
    }
  }
  int draws = r->nb > 1 ? r->ndraw[0] : 1;
  const struct { const char *name; double v; } m[] = {
      {"bs_lambda_full", r->lambda_full},
      {"bs_lambda_full_min", r->lambda_full_min},
      {"bs_lambda_precond_full", r->lpre_mean ? r->lpre_mean[r->nb - 1] : NAN},
      {"bs_hessian_exponent", s->power.a},
      {"bs_hessian_coef", s->power.c},
      {"bs_hessian_fit_r2", s->power.r2},
      {"bs_spiked_coef", s->spiked.c},
      {"bs_spiked_r2", s->spiked.r2},
      {"bs_spiked_sigma2", s->sigma2},
      {"bs_noise_var", s->noise_var},
      {"bs_spearman", s->spearman},
      {"bs_step", (double)step},
      {"bs_n", (double)r->n},
      {"bs_draws", (double)draws},
      {"bs_matvecs", (double)r->matvecs},
      {"bs_wall_s", r->wall_s},
  };
  char buf[64];
  for (size_t i = 0; i < sizeof m / sizeof *m && !rc; i++)
    if (!isnan(m[i].v)) rc = rec_metric(rec, -1, bs_name(m[i].name, ggn, buf, sizeof buf), m[i].v, err);
  double sizes[BS_MAX_BATCHES + 1];
  for (int i = 0; i < r->nb; i++) sizes[i] = (double)r->batch[i];
  const struct { const char *name; const double *v; } ser[] = {
      {"bs_batch_sizes", sizes},
      {"bs_lambda_mean", r->lmax_mean},
      {"bs_lambda_std", r->lmax_std},
      {"bs_lambda_min_mean", r->lmin_mean},
      {"bs_lambda_min_std", r->lmin_std},
      {"bs_hess_var", r->hess_var},
      {"bs_spiked_pred", s->spiked_pred},
      {"bs_lr_pred", s->lr_pred},
  };
  for (size_t i = 0; i < sizeof ser / sizeof *ser && !rc; i++)
    rc = rec_series(rec, -1, bs_name(ser[i].name, ggn, buf, sizeof buf), (size_t)r->nb, ser[i].v,
                    err);
  const struct { const char *name; const double *v; } pser[] = {
      {"bs_lambda_precond_mean", r->lpre_mean},
      {"bs_lambda_precond_std", r->lpre_std},
      {"bs_lr_pred_adam", s->lr_pred_adam},
  };
  for (size_t i = 0; r->lpre_mean && i < sizeof pser / sizeof *pser && !rc; i++)
    rc = rec_series(rec, -1, bs_name(pser[i].name, ggn, buf, sizeof buf), (size_t)r->nb,
                    pser[i].v, err);
  return rc;
}

int batch_grid_record(const BatchGrid *g, Recorder *rec, Err *err) {
  int rc = rec_series(rec, -1, "bs_lr_max_sgd", (size_t)g->nb, g->lr_sgd, err);
  if (!rc) rc = rec_series(rec, -1, "bs_lr_max_adam", (size_t)g->nb, g->lr_adam, err);
  const struct { const char *name; double v; } m[] = {
      {"bs_lr_exponent_sgd", g->sgd.a},
      {"bs_lr_exponent_adam", g->adam.a},
      {"bs_lr_pred_exponent", g->pred.a},
      {"bs_lr_pred_adam_exponent", g->pred_adam.a},
      {"bs_lr_grid_steps", (double)g->steps},
      {"bs_lr_grid_rungs", (double)g->rungs},
  };
  for (size_t i = 0; i < sizeof m / sizeof *m && !rc; i++)
    if (!isnan(m[i].v)) rc = rec_metric(rec, -1, m[i].name, m[i].v, err);
  return rc;
}
