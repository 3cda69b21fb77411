/*
 * test_batch.c: the batch-scaling study (studies/batch/) and its mini-batches
 * (hessian/minibatch.h).
 *
 * References: the dense LAPACK spectrum of each draw's explicit Hessian (and
 * Gauss-Newton matrix) on a small net; hess_var recomputed from the dense
 * matrices; a chi-square and per-row binomial bound on how often each row is
 * drawn; exact synthetic λ̄(B) from the fitted models.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/net.h"
#include "core/rng.h"
#include "core/train.h"
#include "hessian/curv.h"
#include "hessian/minibatch.h"
#include "lanczos/eig.h"
#include "studies/batch/batch_precond.h"
#include "studies/batch/batch_stability.h"
#include "studies/batch/lr_compare.h"
#include "studies/batch/lr_learner.h"
#include "core/recorder_memory.h"
#include "studies/batch/batch_summary.h"
#include "tests/tap.h"

/* ------------------------------------------------------------------ a small problem */

typedef struct Problem {
  Net net;
  Dataset *ds;
  double *theta;
} Problem;

/* mlp:4-6-3 tanh on n random rows (X uniform in [-1, 1], Y N(0,1) or one-hot). */
static int problem_make(Problem *p, size_t n, int labels, uint64_t seed) {
  memset(p, 0, sizeof *p);
  NetSpec s;
  Err err = {0};
  netspec_default(&s);
  Rng rng;
  rng_seed(&rng, seed);
  if (netspec_parse_model(&s, "mlp:4-6-3", &err) || act_parse("tanh", &s.act, &err) ||
      net_init(&p->net, &s, &rng, &err))
    return tap_ok(0, "small net: %s", err.msg), 1;
  p->ds = dataset_alloc(n, 4, 3, labels);
  p->theta = malloc(p->net.n_params * sizeof *p->theta);
  for (size_t i = 0; i < n * 4; i++) p->ds->X[i] = rng_uniform_in(&rng, -1, 1);
  for (size_t i = 0; i < n; i++) {
    int c = (int)rng_below(&rng, 3);
    if (labels) p->ds->labels[i] = c;
    for (size_t j = 0; j < 3; j++) p->ds->Y[i * 3 + j] = labels ? (j == (size_t)c) : rng_normal(&rng);
  }
  if (labels) p->ds->nclasses = 3;
  net_init_params(&p->net, p->theta, &rng);
  /* away from init, so the residual term of H is not negligible */
  for (size_t i = 0; i < p->net.n_params; i++) p->theta[i] *= 2.0;
  return 0;
}

static void problem_free(Problem *p) {
  net_deinit(&p->net);
  dataset_free(p->ds);
  free(p->theta);
}

/* The dense operator of batch b (P x P) and its spectrum (ascending). */
static int dense_spectrum(const Problem *p, LossKind loss, int ggn, const Batch *b, double *H,
                          double *w) {
  Err err = {0};
  size_t P = p->net.n_params;
  Curvature *c = curv_alloc(&p->net, loss, b->n, 0, &err);
  int rc = c ? curv_build(c, p->theta, b, &err) : 1;
  Linop op = ggn ? curv_ggn_op(c) : curv_hessian_op(c);
  if (!rc) rc = dense_from_linop(&op, H, NULL, &err);
  double *A = malloc(P * P * sizeof *A);
  memcpy(A, H, P * P * sizeof *A);
  if (!rc) rc = dense_eig_sym(P, A, w, NULL, &err);
  free(A);
  curv_free(c);
  if (rc) tap_ok(0, "dense spectrum: %s", err.msg);
  return rc;
}

/* ------------------------------------------------------------------ Adam's preconditioner */

/* Per-example gradients g[N][P] through objective_eval on one-row batches. */
static void example_grads(const Problem *p, LossKind loss, double *g) {
  size_t P = p->net.n_params, N = p->ds->n, d = p->ds->d, k = p->ds->k;
  NetCache *c = net_cache_alloc(&p->net, 1, 0);
  for (size_t i = 0; i < N; i++) {
    Batch one = {p->ds->X + i * d, p->ds->Y + i * k, p->ds->labels ? p->ds->labels + i : NULL, 1, NULL, NULL};
    objective_eval(&p->net, p->theta, loss, &one, c, g + i * P, NULL, NULL);
  }
  net_cache_free(c);
}

/* E[g_B ⊙ g_B] over every batch of B rows equals ḡ² + s²(N − B)/(B(N − 1)): checked by
 * enumerating all C(7, 3) = 35 batches of a 7-row set, and the moments against two passes. */
static void test_precond(void) {
  Problem p;
  if (problem_make(&p, 7, 0, 5)) return;
  size_t P = p.net.n_params, N = 7, B = 3;
  double *g = malloc(N * P * sizeof *g), *gm = malloc(P * sizeof *gm), *gv = malloc(P * sizeof *gv);
  double *e2 = calloc(P, sizeof *e2), *pb = malloc(P * sizeof *pb), *gb = malloc(P * sizeof *gb);
  Err err = {0};
  example_grads(&p, LOSS_MSE, g);
  tap_ok(!batch_precond_moments(&p.net, LOSS_MSE, p.theta, p.ds, gm, gv, &err), "moments (%s)",
         err.msg);
  double wm = 0, wv = 0;
  for (size_t j = 0; j < P; j++) {
    double m = 0, v = 0;
    for (size_t i = 0; i < N; i++) m += g[i * P + j] / (double)N;
    for (size_t i = 0; i < N; i++) v += (g[i * P + j] - m) * (g[i * P + j] - m) / (double)N;
    wm = fmax(wm, fabs(gm[j] - m) / (fabs(m) + 1e-300));
    wv = fmax(wv, fabs(gv[j] - v) / (v + 1e-300));
  }
  tap_ok(wm <= 1e-11 && wv <= 1e-9, "per-example gradient mean and variance as two passes give "
         "(worst %.1e, %.1e)", wm, wv);
  int nsub = 0;
  for (size_t a = 0; a < N; a++)
    for (size_t b = a + 1; b < N; b++)
      for (size_t c = b + 1; c < N; c++, nsub++)
        for (size_t j = 0; j < P; j++) {
          double x = (g[a * P + j] + g[b * P + j] + g[c * P + j]) / (double)B;
          e2[j] += x * x;
        }
  batch_precond_for_size(gm, gv, P, N, B, 1e-3, pb);
  double worst = 0;
  for (size_t j = 0; j < P; j++) {
    double ref = sqrt(e2[j] / nsub) + 1e-3;
    worst = fmax(worst, fabs(pb[j] - ref) / ref);
  }
  tap_ok(nsub == 35 && worst <= 1e-10, "P_B = √E[g_B²] + ε over all 35 batches of 3 of 7 rows "
         "(worst %.1e)", worst);
  batch_precond_for_size(gm, gv, P, N, N, 1e-3, pb);
  worst = 0;
  for (size_t j = 0; j < P; j++) worst = fmax(worst, fabs(pb[j] - (fabs(gm[j]) + 1e-3)));
  tap_ok(worst <= 1e-15, "P_N = |ḡ| + ε: no noise in the whole set");
  free(g), free(gm), free(gv), free(e2), free(pb), free(gb);
  problem_free(&p);
}

/* The dense P^{-1/2} H P^{-1/2} of H (P x P) and its top eigenvalue. */
static double dense_precond_top(const double *H, const double *pb, size_t P) {
  double *A = malloc(P * P * sizeof *A), *w = malloc(P * sizeof *w), top;
  Err err = {0};
  for (size_t a = 0; a < P; a++)
    for (size_t c = 0; c < P; c++) A[a * P + c] = H[a * P + c] / sqrt(pb[a] * pb[c]);
  top = dense_eig_sym(P, A, w, NULL, &err) ? NAN : w[P - 1];
  free(A), free(w);
  return top;
}

/* ------------------------------------------------------------------ measurement vs dense */

static void test_against_dense(LossKind loss, int ggn) {
  Problem p;
  if (problem_make(&p, 30, loss == LOSS_CE, 11)) return;
  size_t P = p.net.n_params, N = p.ds->n;
  BatchScalingOptions o;
  batch_scaling_options_default(&o);
  size_t sizes[] = {12, 2, 5, 40}; /* unsorted, one beyond N: folds into N */
  memcpy(o.batches, sizes, sizeof sizes);
  o.nbatches = 4;
  o.draws = 4;
  o.ggn = ggn;
  o.tol = 1e-10;
  o.maxit = 2000;
  o.seed = 7;
  BatchScalingResult r;
  Err err = {0};
  const char *what = ggn ? "GGN" : loss == LOSS_CE ? "Hessian (ce)" : "Hessian (mse)";
  if (!tap_ok(!batch_scaling_measure(&p.net, loss, p.theta, p.ds, &o, &r, &err), "%s: measure (%s)",
              what, err.msg)) {
    problem_free(&p);
    return;
  }
  tap_ok(r.nb == 4 && r.batch[0] == 2 && r.batch[1] == 5 && r.batch[2] == 12 && r.batch[3] == N &&
             r.ndraw[0] == 4 && r.ndraw[3] == 1,
         "%s: sizes sorted, the one beyond N folded into N = %zu, one draw at N", what, N);
  double *H = malloc(P * P * sizeof *H), *w = malloc(P * sizeof *w), *z = malloc(P * sizeof *z);
  double *hz = malloc(P * sizeof *hz), *hsum = malloc(P * sizeof *hsum);
  double *g = malloc(N * P * sizeof *g), *gm = calloc(P, sizeof *gm), *gv = calloc(P, sizeof *gv);
  double *pb = malloc(P * sizeof *pb), worst_pre = 0;
  example_grads(&p, loss, g); /* the reference preconditioner, by two passes */
  for (size_t j = 0; j < P; j++) {
    for (size_t i = 0; i < N; i++) gm[j] += g[i * P + j] / (double)N;
    for (size_t i = 0; i < N; i++) gv[j] += (g[i * P + j] - gm[j]) * (g[i * P + j] - gm[j]) / (double)N;
  }
  batch_scaling_probe_vector(o.seed, P, z);
  MiniBatch *mb = minibatch_alloc(p.ds, 12, &err);
  double worst_max = 0, worst_min = 0, worst_hz = 0, worst_hv = 0;
  int all_conv = 1, k = 0;
  for (int i = 0; i < r.nb; i++) {
    double nsum = 0;
    memset(hsum, 0, P * sizeof *hsum);
    double f = r.batch[i] < N ? (double)(N - r.batch[i]) / ((double)r.batch[i] * (double)(N - 1)) : 0;
    for (size_t j = 0; j < P; j++) pb[j] = sqrt(gm[j] * gm[j] + f * gv[j]) + o.adam_eps;
    for (int d = 0; d < r.ndraw[i]; d++, k++) {
      const BatchDraw *bd = &r.draw[k];
      Batch b;
      minibatch_draw(mb, r.batch[i], o.seed, batch_scaling_draw_stream(r.batch[i], d), &b, &err);
      if (dense_spectrum(&p, loss, ggn, &b, H, w)) goto out;
      double scale = fabs(w[P - 1]) > fabs(w[0]) ? fabs(w[P - 1]) : fabs(w[0]);
      double pt = dense_precond_top(H, pb, P), ep = fabs(bd->lpre - pt) / fabs(pt);
      if (!(ep <= worst_pre)) worst_pre = ep; /* NAN sticks */
      all_conv &= bd->conv_pre;
      double em = fabs(bd->lmax - w[P - 1]) / scale, en = fabs(bd->lmin - w[0]) / scale;
      if (em > worst_max) worst_max = em;
      if (en > worst_min) worst_min = en;
      /* (the whole-set GGN is nearly singular, λmin ~ 1e-6 λmax: its relative tolerance
       * 1e-10 is out of reach, the value still matches the dense one below) */
      all_conv &= bd->conv_max && (bd->conv_min || (ggn && r.batch[i] == N)) &&
                  bd->batch == r.batch[i] && bd->draw == d;
      /* the GGN's rank is at most B·d_out: below P its λmin is 0, known without a solve */
      if (ggn && r.batch[i] * 3 < P) all_conv &= bd->lmin == 0.0 && bd->mv_min == 0;
      for (size_t a = 0; a < P; a++) {
        double s = 0;
        for (size_t c = 0; c < P; c++) s += H[c * P + a] * z[c];
        hz[a] = s;
        hsum[a] += s;
      }
      double n2 = 0;
      for (size_t a = 0; a < P; a++) n2 += hz[a] * hz[a];
      nsum += n2;
      double e = fabs(bd->hz_norm2 - n2) / n2;
      if (e > worst_hz) worst_hz = e;
      if (r.batch[i] == N) {
        tap_ok(fabs(r.lambda_full - w[P - 1]) <= 1e-9 * scale, "%s: λ_N %.12g = dense λmax %.12g of the whole set",
               what, r.lambda_full, w[P - 1]);
        tap_ok(fabs(r.lambda_full_min - w[0]) <= 1e-9 * scale, "%s: whole-set λmin %.12g = dense %.12g",
               what, r.lambda_full_min, w[0]);
      }
    }
    int nd = r.ndraw[i];
    double m2 = 0;
    for (size_t a = 0; a < P; a++) m2 += (hsum[a] / nd) * (hsum[a] / nd);
    double hv = nd > 1 ? nsum / nd - m2 : 0.0;
    double e = fabs(r.hess_var[i] - hv) / (fabs(hv) > 1e-12 ? fabs(hv) : 1.0);
    if (e > worst_hv) worst_hv = e;
  }
  tap_ok(worst_max <= 1e-9, "%s: every draw's λmax = dense λmax of its batch (worst %.1e of the "
         "spectral radius, %d draws)", what, worst_max, k);
  tap_ok(worst_min <= 1e-9, "%s: every draw's λmin = dense λmin of its batch (worst %.1e)", what,
         worst_min);
  tap_ok(all_conv, "%s: every solve converged, draws labelled by size and index", what);
  tap_ok(worst_pre <= 1e-8 && r.lpre_mean, "%s: every draw's preconditioned λmax = dense λmax of "
         "P_B^-1/2 H_B P_B^-1/2, P_B Adam's steady state at B (worst %.1e)", what, worst_pre);
  tap_ok(worst_hz <= 1e-10 && worst_hv <= 1e-9,
         "%s: ‖H_i z‖² and hess_var = mean‖H_i z‖² − ‖mean H_i z‖² as from the dense matrices "
         "(worst %.1e, %.1e)", what, worst_hz, worst_hv);
  /* the same seed gives the same draws and the same numbers, bit for bit */
  BatchScalingResult r2;
  int same = !batch_scaling_measure(&p.net, loss, p.theta, p.ds, &o, &r2, &err);
  for (int j = 0; same && j < k; j++)
    same = r.draw[j].lmax == r2.draw[j].lmax && r.draw[j].lmin == r2.draw[j].lmin &&
           r.draw[j].hz_norm2 == r2.draw[j].hz_norm2;
  tap_ok(same, "%s: a second measurement with the same seed repeats every draw exactly", what);
  batch_scaling_result_free(&r2);
  o.seed = 8;
  int differ = !batch_scaling_measure(&p.net, loss, p.theta, p.ds, &o, &r2, &err) &&
               r.draw[0].lmax != r2.draw[0].lmax;
  tap_ok(differ, "%s: another seed draws other batches (λmax of the first draw %.6g vs %.6g)", what,
         r.draw[0].lmax, r2.nb ? r2.draw[0].lmax : NAN);
  batch_scaling_result_free(&r2);
  if (!ggn && loss == LOSS_MSE) { /* Ctrl-C between draws ends the measurement cleanly */
    train_request_stop();
    err_clear(&err);
    int rc = batch_scaling_measure(&p.net, loss, p.theta, p.ds, &o, &r2, &err);
    train_clear_stop();
    tap_ok(rc == CS_EINTERRUPTED && r2.nb == 0 && r2.draw == NULL,
           "a stop request ends the measurement with CS_EINTERRUPTED, nothing kept: %s", err.msg);
  }
out:
  minibatch_free(mb);
  free(H), free(w), free(z), free(hz), free(hsum);
  free(g), free(gm), free(gv), free(pb);
  batch_scaling_result_free(&r);
  problem_free(&p);
}

/* ------------------------------------------------------------------ the draws */

static void test_draws(void) {
  Problem p;
  if (problem_make(&p, 50, 1, 3)) return;
  Err err = {0};
  const size_t N = 50, m = 10;
  const int D = 4000;
  MiniBatch *mb = minibatch_alloc(p.ds, m, &err);
  long count[50] = {0};
  int distinct = 1, gathered = 1;
  for (int d = 0; d < D; d++) {
    Batch b;
    if (minibatch_draw(mb, m, 99, (uint64_t)d, &b, &err)) {
      tap_ok(0, "draw %d: %s", d, err.msg);
      break;
    }
    const size_t *rows = minibatch_rows(mb);
    int seen[50] = {0};
    for (size_t i = 0; i < m; i++) {
      if (rows[i] >= N || seen[rows[i]]++) distinct = 0;
      else count[rows[i]]++;
      gathered &= !memcmp(b.X + i * 4, p.ds->X + rows[i] * 4, 4 * sizeof *b.X) &&
                  !memcmp(b.Y + i * 3, p.ds->Y + rows[i] * 3, 3 * sizeof *b.Y) &&
                  b.labels[i] == p.ds->labels[rows[i]];
    }
  }
  tap_ok(distinct, "%d draws of %zu from %zu: each draw's rows are distinct and in range", D, m, N);
  tap_ok(gathered, "each draw's X, Y and labels are the rows its indices name");
  /* Each row is in a draw with probability m/N: count ~ Binomial(D, m/N). Over rows, the
   * statistic Σ(c − E)²/(E(1 − m/N)) is about χ² with N − 1 = 49 degrees of freedom. */
  double pr = (double)m / N, E = D * pr, sd = sqrt(D * pr * (1 - pr)), chi2 = 0, worst = 0;
  for (size_t i = 0; i < N; i++) {
    double e = count[i] - E;
    chi2 += e * e / (E * (1 - pr));
    if (fabs(e) / sd > worst) worst = fabs(e) / sd;
  }
  /* χ²_49 upper 1e-4 quantile = 94.6; a 5σ binomial bound per row */
  tap_ok(chi2 < 94.6, "rows drawn uniformly: chi-square %.1f over 49 degrees of freedom (< 94.6, p=1e-4)",
         chi2);
  tap_ok(worst < 5.0, "every row's count within 5 sd of %g (worst %.2f sd)", E, worst);
  /* reproducible: a draw is a function of (seed, stream), not of the draws before it */
  size_t first[10], again[10], other[10];
  Batch b;
  minibatch_draw(mb, m, 5, 17, &b, &err);
  memcpy(first, minibatch_rows(mb), sizeof first);
  for (int d = 0; d < 7; d++) minibatch_draw(mb, 3 + (size_t)d, 5, (uint64_t)d, &b, &err);
  MiniBatch *mb2 = minibatch_alloc(p.ds, m, &err);
  minibatch_draw(mb2, m, 5, 17, &b, &err);
  memcpy(again, minibatch_rows(mb2), sizeof again);
  minibatch_draw(mb, m, 5, 17, &b, &err);
  int same = !memcmp(first, again, sizeof first) && !memcmp(first, minibatch_rows(mb), sizeof first);
  tap_ok(same, "the same (seed, stream) gives the same rows, whatever was drawn before");
  minibatch_draw(mb, m, 6, 17, &b, &err);
  memcpy(other, minibatch_rows(mb), sizeof other);
  tap_ok(memcmp(first, other, sizeof first) != 0, "another seed gives other rows");
  /* the whole set in place; sizes out of range refused */
  int whole = !minibatch_draw(mb, N, 5, 1, &b, &err) && b.X == p.ds->X && b.n == N &&
              minibatch_rows(mb)[N - 1] == N - 1;
  tap_ok(whole, "drawing all N rows returns the data set in place, rows 0..N-1");
  err_clear(&err);
  int rc = minibatch_draw(mb, m + 1, 5, 1, &b, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "11"), "a draw beyond the buffers is refused: %s", err.msg);
  err_clear(&err);
  rc = minibatch_draw(mb, 0, 5, 1, &b, &err);
  tap_ok(rc == CS_EINVAL, "a draw of 0 rows is refused: %s", err.msg);
  minibatch_free(mb);
  minibatch_free(mb2);
  minibatch_free(NULL);
  problem_free(&p);
}

/* ------------------------------------------------------------------ fits */

static void test_fits(void) {
  const size_t N = 4096, B[] = {8, 32, 128, 512, 2048, 4096};
  const int nb = 6;
  const double lN = 1.92, a = 0.85, c = 130.0, K = 125.0;
  double mean[6], spk[6];
  for (int i = 0; i < nb; i++) {
    double u = 1.0 / (double)B[i] - 1.0 / (double)N;
    mean[i] = lN + c * pow(u, a);
    spk[i] = lN + K * u;
  }
  BatchFit f;
  Err err = {0};
  int rc = batch_fit_power(B, mean, nb, N, lN, &f, &err);
  tap_ok(!rc && f.npoints == 5, "power fit over the 5 sizes below N (%s)", err.msg);
  tap_rel(f.a, a, 1e-10, "power fit recovers a");
  tap_rel(f.c, c, 1e-10, "power fit recovers c");
  tap_rel(f.r2, 1.0, 1e-12, "power fit R² = 1 on exact data");
  rc = batch_fit_spiked(B, spk, nb, N, lN, &f, &err);
  tap_ok(!rc && f.npoints == 5 && f.a == 1.0, "spiked fit over the sizes below N");
  tap_rel(f.c, K, 1e-12, "spiked fit recovers K");
  tap_rel(f.r2, 1.0, 1e-12, "spiked fit R² = 1 on exact data");
  /* the power law is not the spiked model: its R² on power-law data with a = 0.85 is lower */
  rc = batch_fit_spiked(B, mean, nb, N, lN, &f, &err);
  tap_ok(!rc && f.r2 < 0.999, "spiked fit of a = 0.85 data is not exact (R² %.4f)", f.r2);
  /* one size above λ_N is not a fit */
  double flat[6] = {3, 1, 1, 1, 1, 1.92};
  rc = batch_fit_power(B, flat, nb, N, lN, &f, &err);
  tap_ok(rc == CS_EINVAL, "power fit refuses fewer than two sizes above λ_N: %s", err.msg);
  /* Spearman */
  double Bd[6];
  for (int i = 0; i < nb; i++) Bd[i] = (double)B[i];
  tap_rel(batch_spearman(Bd, mean, nb), -1.0, 1e-15, "Spearman of a falling λ̄(B) = -1");
  double x[5] = {1, 2, 3, 4, 5}, y[5] = {2, 1, 4, 3, 5}, t[5] = {1, 1, 2, 3, 3};
  tap_rel(batch_spearman(x, y, 5), 0.8, 1e-15, "Spearman (1 2 3 4 5; 2 1 4 3 5) = 0.8");
  /* ties: ranks 1.5 1.5 3 4.5 4.5 against 1..5: ρ = 4.5/sqrt(4.5·10)... */
  double rt = 9.0 / sqrt(9.0 * 10.0);
  tap_rel(batch_spearman(x, t, 5), rt, 1e-12, "Spearman with ties uses mean ranks");
  tap_ok(isnan(batch_spearman(x, (double[5]){1, 1, 1, 1, 1}, 5)), "Spearman of a constant is NAN");
  /* spiked prediction: above and below the threshold */
  tap_rel(batch_spiked_predict(2.0, 1.0), 2.5, 1e-15, "spiked λ' = λ + hv/λ above threshold");
  tap_rel(batch_spiked_predict(1.0, 4.0), 4.0, 1e-15, "spiked λ' = 2√hv below threshold");
}

/* The summary of a measurement: fits on its own means, lr = 2/λ̄, names for the GGN. */
static void test_summary(void) {
  size_t B[] = {4, 16, 64};
  int nd[] = {3, 3, 1};
  double lm[] = {9.0, 4.0, 2.0}, ls[] = {1, 1, 0}, hv[] = {0.5, 0.1, 0.0};
  BatchScalingResult r = {.n = 64, .n_params = 100, .nb = 3, .batch = B, .ndraw = nd,
                          .lmax_mean = lm, .lmax_std = ls, .lmin_mean = ls, .lmin_std = ls,
                          .hess_var = hv, .lambda_full = 2.0};
  BatchScalingSummary s;
  Err err = {0};
  tap_ok(!batch_scaling_summarize(&r, &s, &err), "summarize");
  tap_rel(s.lr_pred[0], 2.0 / 9.0, 1e-15, "lr prediction 2/λ̄(B)");
  double u0 = 1.0 / 4 - 1.0 / 64, u1 = 1.0 / 16 - 1.0 / 64;
  double a = log(2.0 / 7.0) / log(u1 / u0);
  tap_rel(s.power.a, a, 1e-12, "the power fit of the summary uses the sizes below N");
  double hv0 = 0.5 * 3 / 2, hv1 = 0.1 * 3 / 2;
  double nv = 0.5 * (hv0 * 64 * 4 / 60 + hv1 * 64 * 16 / 48);
  tap_rel(s.noise_var, nv, 1e-12, "per-example noise S² from the unbiased hess_var of each size");
  tap_rel(s.spiked_pred[0], 2.0 + hv0 / 2.0, 1e-12, "spiked prediction from the size's own noise");
  tap_rel(s.spearman, -1.0, 1e-15, "Spearman over the sizes");
  batch_scaling_summary_free(&s);
  batch_scaling_summary_free(NULL);
}

/* A linear model mlp:5-2 under MSE on 64 random rows, input column j scaled by 1 + spread·j:
 * a quadratic with a constant Hessian, whose dense spectrum (ascending) goes to *w. */
static int linear_quadratic(uint64_t seed, double spread, Net *net, Dataset **ds,
                            double **theta, double **w) {
  NetSpec s;
  Err err = {0};
  Rng rng;
  rng_seed(&rng, seed);
  netspec_default(&s);
  if (netspec_parse_model(&s, "mlp:5-2", &err) || net_init(net, &s, &rng, &err))
    return tap_ok(0, "linear model: %s", err.msg), 1;
  size_t N = 64, P = net->n_params;
  *ds = dataset_alloc(N, 5, 2, 0);
  for (size_t i = 0; i < N * 5; i++) (*ds)->X[i] = rng_normal(&rng) * (1.0 + spread * (double)(i % 5));
  for (size_t i = 0; i < N * 2; i++) (*ds)->Y[i] = rng_normal(&rng);
  *theta = malloc(P * sizeof **theta);
  *w = malloc(P * sizeof **w);
  double *H = malloc(P * P * sizeof *H);
  net_init_params(net, *theta, &rng);
  Curvature *c = curv_alloc(net, LOSS_MSE, N, 0, &err);
  Batch all = {(*ds)->X, (*ds)->Y, NULL, N, NULL, NULL};
  curv_build(c, *theta, &all, &err);
  Linop op = curv_hessian_op(c);
  int rc = dense_from_linop(&op, H, NULL, &err) || dense_eig_sym(P, H, *w, NULL, &err);
  curv_free(c);
  free(H);
  if (rc) tap_ok(0, "dense spectrum of the quadratic: %s", err.msg);
  return rc;
}

/* ------------------------------------------------------------------ the stability grid */

/* A linear model under MSE is a quadratic with a constant Hessian: full-batch GD is stable
 * exactly for η < 2/λmax, so the ladder (ratio √2) must end on the last rung below it. */
static void test_stability(void) {
  Net net;
  Dataset *ds;
  double *theta, *w;
  Err err = {0};
  if (linear_quadratic(21, 1.0, &net, &ds, &theta, &w)) return;
  size_t N = ds->n, P = net.n_params;
  double thr = 2.0 / w[P - 1];
  StabilityOptions o;
  batch_stability_options_default(&o);
  o.steps = 5; /* too few for the divergence test: "ends above its start" must decide */
  size_t B[] = {N, 16};
  double start[] = {thr / 7, NAN}, lr_max[2]; /* not a power of √2 away from 2/λ */
  int runs[2];
  int rc = batch_stability_grid(&net, LOSS_MSE, theta, ds, B, 2, start, &o, lr_max, runs, &err);
  tap_ok(!rc, "stability grid on a quadratic (%s)", err.msg);
  tap_ok(lr_max[0] <= thr && lr_max[0] > thr / o.factor,
         "full-batch GD: η_max %.6g is the last rung below 2/λmax = %.6g (climbing, %d runs)",
         lr_max[0], thr, runs[0]);
  tap_ok(isfinite(lr_max[1]) && runs[1] >= 2 && runs[1] <= o.max_rungs,
         "B = 16, its ladder starting at the previous size's η_max: %.6g found in %d runs",
         lr_max[1], runs[1]);
  /* descending from an unstable start finds the same threshold */
  double start2 = thr * 3.3, lm2;
  rc = batch_stability_grid(&net, LOSS_MSE, theta, ds, B, 1, &start2, &o, &lm2, NULL, &err);
  tap_ok(!rc && lm2 <= thr && lm2 > thr / o.factor,
         "descending from 3.3·(2/λmax): η_max %.6g in (2/λ/√2, 2/λ]", lm2);
  o.max_rungs = 2;
  double start3 = thr * 64;
  rc = batch_stability_grid(&net, LOSS_MSE, theta, ds, B, 1, &start3, &o, &lm2, runs, &err);
  tap_ok(!rc && isnan(lm2) && runs[0] == 2, "no stable rung within the cap: η_max NAN");
  /* the slope below saturation */
  size_t Bs[] = {8, 32, 128, 512, 2048};
  double lr[] = {0.08, 0.32, 1.28, 1.28, 1.1};
  BatchFit f;
  rc = batch_fit_lr_exponent(Bs, lr, 5, &f, &err);
  tap_ok(!rc && f.npoints == 3, "η_max slope over the sizes up to saturation (3 of 5)");
  tap_rel(f.a, 1.0, 1e-12, "η_max ∝ B below saturation: slope 1");
  double lr2[] = {NAN, 0.1, 0.2, 0.4, 0.4};
  rc = batch_fit_lr_exponent(Bs, lr2, 5, &f, &err);
  tap_ok(!rc && f.npoints == 3 && fabs(f.a - 0.5) < 1e-12, "a size without η_max is left out (slope %.3f)", f.a);
  double lr3[] = {0.4, 0.3, 0.2, 0.1, 0.1};
  tap_ok(batch_fit_lr_exponent(Bs, lr3, 5, &f, &err) == CS_EINVAL, "saturated from the start: no slope (%s)",
         err.msg);
  /* the grid's default sizes: the 3 smallest below N; only N when nothing is below */
  size_t sz[] = {8, 32, 128, 512, 1024}, one[] = {64};
  BatchScalingResult rr = {.n = 1024, .nb = 5, .batch = sz};
  int use[5];
  batch_grid_default_sizes(&rr, 3, use);
  tap_ok(use[0] && use[1] && use[2] && !use[3] && !use[4], "default grid: 8, 32, 128 of 5 sizes");
  rr = (BatchScalingResult){.n = 64, .nb = 1, .batch = one};
  batch_grid_default_sizes(&rr, 3, use);
  tap_ok(use[0], "default grid of the whole set alone: the whole set");
  free(theta), free(w);
  dataset_free(ds);
  net_deinit(&net);
}

/* ------------------------------------------------------------------ the lr learner */

static void test_learner_rule(void) {
  double lr, mom, L, mu;
  double t1[] = {1, 4, 9}, w1[] = {0.3, 0.3, 0.4};
  tap_ok(!lr_learner_rule(LR_RULE_POLYAK, t1, w1, 3, 1e-3, &lr, &mom, &L, &mu) && L == 9 && mu == 1,
         "polyak: L and μ are the extreme Ritz values");
  tap_rel(lr, 0.25, 1e-15, "polyak α = 4/(√9 + √1)² = 1/4");
  tap_rel(mom, 0.25, 1e-15, "polyak ρ = ((√9 − 1)/(√9 + 1))² = 1/4");
  double t2[] = {-2, 0.5, 10}, w2[] = {0.2, 0.4, 0.4};
  lr_learner_rule(LR_RULE_POLYAK, t2, w2, 3, 1e-2, &lr, &mom, &L, &mu);
  tap_ok(mu == 0.1 && fabs(lr - 4 / pow(sqrt(10) + sqrt(0.1), 2)) < 1e-15 &&
             fabs(mom - pow((10 - 1) / 11.0, 2)) < 1e-15,
         "polyak: a negative λmin is floored at floor·L (μ = %g, κ = 100)", mu);
  double t3[] = {-9, 4, 16}, w3[] = {0.6, 0.2, 0.2};
  tap_ok(!lr_learner_rule(LR_RULE_GRANZIOL, t3, w3, 3, 1e-3, &lr, &mom, &L, &mu) && L == 16 &&
             mu == 4,
         "granziol: |θ|, the Ritz value of weight 0.6 deleted before taking μ (L 16, μ 4)");
  tap_rel(lr, 1.0 / 9, 1e-15, "granziol α = (2/(√16 + √4))² = 1/9");
  tap_rel(mom, 1.0 / 16, 1e-15, "granziol ρ = ((√16 − √4)/(√16 + 4))² = 1/16 (as coded)");
  double t4[] = {-3, -1}, w4[] = {0.5, 0.5};
  lr = mom = 7;
  tap_ok(lr_learner_rule(LR_RULE_POLYAK, t4, w4, 2, 1e-3, &lr, &mom, &L, &mu) == CS_ENOCONV &&
             lr == 7 && mom == 7, "polyak without positive curvature: α and ρ left as they were");
  LrLearnerOptions o;
  Err err = {0};
  tap_ok(!lr_learner_parse("lanczos:every=5,batch=32,iters=8,rule=granziol", &o, &err) &&
             o.every == 5 && o.batch == 32 && o.iters == 8 && o.rule == LR_RULE_GRANZIOL,
         "parse lanczos:every=5,batch=32,iters=8,rule=granziol");
  tap_ok(lr_learner_parse("lanczos:rule=fast", &o, &err) == CS_EINVAL && strstr(err.msg, "fast"),
         "rule=fast refused, named: %s", err.msg);
  tap_ok(lr_learner_parse("cosine:every=5", &o, &err) == CS_EINVAL && strstr(err.msg, "cosine"),
         "an unknown schedule refused, named: %s", err.msg);
  tap_ok(lr_learner_parse("lanczos:iters=1", &o, &err) == CS_EINVAL, "iters=1 refused: %s", err.msg);
  /* polyak-safe: polyak's α and ρ, α clipped at 2(1 + ρ)/L̂, L̂ the running max of L (the
   * doc's step-0 and step-50 measurements: L = 25.4, then 8.1, μ on the floor) */
  tap_ok(!lr_learner_parse("lanczos:rule=polyak-safe", &o, &err) && o.rule == LR_RULE_POLYAK_SAFE,
         "parse rule=polyak-safe");
  double lhat = 0, a0, m0, a1, m1, L1, mu1;
  double s1[] = {-3, 1, 25.4}, s2[] = {-2, 1, 8.1}, sw[] = {0.3, 0.3, 0.4};
  lr_learner_rule(LR_RULE_POLYAK_SAFE, s1, sw, 3, 1e-3, &a0, &m0, &L, &mu);
  lr_learner_rule(LR_RULE_POLYAK, s1, sw, 3, 1e-3, &lr, &mom, &L1, &mu1);
  tap_ok(a0 == lr && m0 == mom && L == L1 && mu == mu1, "polyak-safe: the rule's α and ρ are "
         "polyak's (α %.4g, ρ %.4g)", a0, m0);
  double c0 = lr_learner_safe_clip(a0, m0, L, &lhat);
  tap_ok(c0 == a0 && lhat == 25.4, "polyak-safe: the first measurement is not clipped (polyak's "
         "α <= 2(1 + ρ)/L always), L̂ = %g", lhat);
  lr_learner_rule(LR_RULE_POLYAK_SAFE, s2, sw, 3, 1e-3, &a1, &m1, &L, &mu);
  double c1 = lr_learner_safe_clip(a1, m1, L, &lhat);
  tap_rel(c1, 2 * (1 + m1) / 25.4, 1e-15, "polyak-safe: a flatter batch (L 8.1) is clipped at "
          "2(1 + ρ)/L̂ with L̂ = 25.4, not polyak's 4/(√L + √μ)² = 0.47");
  tap_ok(lhat == 25.4 && a1 > 3 * c1, "polyak-safe: L̂ stays 25.4; polyak alone %.3f, clipped %.3f",
         a1, c1);
  double s3[] = {0.5, 30};
  lr_learner_rule(LR_RULE_POLYAK_SAFE, s3, sw, 2, 1e-3, &a1, &m1, &L, &mu);
  tap_ok(lr_learner_safe_clip(a1, m1, L, &lhat) == a1 && lhat == 30,
         "polyak-safe: a sharper batch raises L̂ to 30 and gets polyak's α unclipped");
}

/* A linear model under MSE is a quadratic with a known, constant Hessian: with the Krylov
 * space full (iters >= P) the Ritz extremes are its extreme eigenvalues, so the learned α and
 * ρ equal Polyak's formulas on the dense spectrum. */
static void test_learner_quadratic(void) {
  Net net;
  Dataset *ds;
  double *theta, *w;
  Err err = {0};
  if (linear_quadratic(23, 0.3, &net, &ds, &theta, &w)) return;
  size_t P = net.n_params;
  double L = w[P - 1], mu = w[0], sk = sqrt(L / mu);
  double lr_ref = 4 / pow(sqrt(L) + sqrt(mu), 2), mom_ref = pow((sk - 1) / (sk + 1), 2);
  LrLearnerOptions o;
  lr_learner_parse("lanczos:every=3,batch=0,iters=20", &o, &err);
  Probe pr;
  tap_ok(lr_learner_probe_create(&o, &net, ds, LOSS_MSE, optim_gd, &pr, &err) == CS_EINVAL &&
             strstr(err.msg, "momentum"), "the learner needs heavy-ball momentum: %s", err.msg);
  int rc = lr_learner_probe_create(&o, &net, ds, LOSS_MSE, optim_momentum, &pr, &err);
  OptConfig cfg;
  optconfig_default(&cfg);
  cfg.lr = 1e-3, cfg.momentum = 0.5;
  Optimizer *opt = optim_alloc(optim_momentum, &cfg, P);
  MemRecorder *m = memrec_alloc();
  Recorder rec = memrec_recorder(m);
  RunInfo info = {"learner", "test", NULL, "{}", 0, P, NULL};
  int64_t id;
  rec_run_begin(&rec, &info, &id, &err);
  TrainConfig tc;
  trainconfig_default(&tc);
  tc.steps = 6, tc.eval_every = 0, tc.loss = LOSS_MSE;
  TrainResult res;
  if (!rc) rc = train_run(&tc, &net, theta, opt, ds, NULL, &pr, 1, &rec, &res, &err);
  tap_ok(!rc, "6 steps with the learner (%s)", err.msg);
  double v[7][2], lmax = NAN, lmin = NAN;
  int have = 1;
  for (long t = 0; t < 7; t++)
    have &= !memrec_metric_find(m, "lr_learned", t, &v[t][0]) &&
            !memrec_metric_find(m, "momentum_learned", t, &v[t][1]);
  memrec_metric_find(m, "lr_learner_lmax", 0, &lmax);
  memrec_metric_find(m, "lr_learner_lmin", 0, &lmin);
  tap_ok(have, "lr_learned and momentum_learned at every step 0..6");
  tap_rel(lmax, L, 1e-10, "L = the dense λmax (the Krylov space is full)");
  tap_rel(lmin, mu, 1e-8, "μ = the dense λmin");
  tap_rel(v[0][0], lr_ref, 1e-9, "learned α = 4/(√λmax + √λmin)² of the dense spectrum");
  tap_rel(v[0][1], mom_ref, 1e-8, "learned ρ = ((√κ − 1)/(√κ + 1))² of the dense spectrum");
  tap_ok(v[1][0] == v[0][0] && v[2][1] == v[0][1] && fabs(v[3][0] - lr_ref) <= 1e-9 * lr_ref,
         "between measurements α and ρ are kept; the constant Hessian gives the same again at 3");
  tap_ok(opt->cfg.lr == v[6][0] && opt->cfg.momentum == v[6][1],
         "the optimizer runs with the learned α and ρ");
  memrec_free(m);
  optim_free(opt);
  if (!rc) pr.destroy(pr.self);
  free(theta), free(w);
  dataset_free(ds);
  net_deinit(&net);
}

/* The small λmax-only measurement of the two tests below: B = 2, 5, 12 and N = 30, 3 draws. */
static void small_top_options(BatchScalingOptions *o, double tol) {
  batch_scaling_options_default(o);
  size_t sizes[] = {2, 5, 12};
  memcpy(o->batches, sizes, sizeof sizes);
  o->nbatches = 3, o->draws = 3, o->tol = tol, o->seed = 5, o->adam_eps = 0;
}

/* Two measurements of the small problem, with options a and then b (the tests below change
 * one option between them): 0 when both ran, else a failed TAP line naming `what`. */
static int measure_both(const Problem *p, const BatchScalingOptions *a, const BatchScalingOptions *b,
                        BatchScalingResult *ra, BatchScalingResult *rb, const char *what) {
  Err err = {0};
  int rc = batch_scaling_measure(&p->net, LOSS_MSE, p->theta, p->ds, a, ra, &err);
  if (!rc && (rc = batch_scaling_measure(&p->net, LOSS_MSE, p->theta, p->ds, b, rb, &err)))
    batch_scaling_result_free(ra);
  return !tap_ok(rc == CS_OK, "%s: both measurements run (%s)", what, err.msg);
}

/* top_only (bench's workload): the same λmax chain bit for bit, no λmin, no noise product. */
static void test_top_only(void) {
  Problem p;
  if (problem_make(&p, 30, 0, 11)) return;
  BatchScalingOptions o, o1;
  small_top_options(&o, 1e-8);
  o1 = o, o1.top_only = 1;
  BatchScalingResult full, top;
  if (measure_both(&p, &o, &o1, &full, &top, "top_only")) {
    problem_free(&p);
    return;
  }
  int total = 3 * 3 + 1, same = 1, none = 1;
  long mv = 0;
  for (int i = 0; i < total; i++) {
    same &= top.draw[i].lmax == full.draw[i].lmax && top.draw[i].mv_max == full.draw[i].mv_max;
    none &= top.draw[i].lmin == 0 && top.draw[i].mv_min == 0 && top.draw[i].hz_norm2 == 0;
    mv += top.draw[i].mv_max;
  }
  tap_ok(same, "top_only: every draw's λmax and its products equal the full measurement's");
  tap_ok(none && top.matvecs == mv && top.hess_var[0] == 0 && full.matvecs > top.matvecs,
         "top_only: no λmin solve, no noise product (%ld products, full %ld)", top.matvecs,
         full.matvecs);
  batch_scaling_result_free(&full);
  batch_scaling_result_free(&top);
  problem_free(&p);
}

/* precision mixed (bench's --precision): float32 passes, float64 Lanczos: every draw's λmax
 * is float64's to 1e-4 relative (tol 1e-5, the float32 floor), on the same draws; a tol
 * below the floor is refused by name. */
static void test_precision(void) {
  Problem p;
  if (problem_make(&p, 30, 0, 11)) return;
  BatchScalingOptions o, o64;
  small_top_options(&o, 1e-5);
  o.top_only = 1;
  o64 = o, o.precision = PREC_MIXED;
  BatchScalingResult f64, mix, bad;
  Err err = {0};
  if (measure_both(&p, &o64, &o, &f64, &mix, "precision mixed")) {
    problem_free(&p);
    return;
  }
  double worst = 0, differ = 0;
  for (int i = 0; i < 3 * 3 + 1; i++) {
    double d = fabs(mix.draw[i].lmax - f64.draw[i].lmax) / fabs(f64.draw[i].lmax);
    worst = d > worst ? d : worst;
    differ += d > 0;
  }
  tap_ok(worst < 1e-4 && differ > 0, "precision mixed: every draw's λmax is float64's to 1e-4 "
         "(worst %.2e; %g of 10 not bit-equal: the float32 passes ran)", worst, differ);
  o.tol = 1e-8;
  int rc = batch_scaling_measure(&p.net, LOSS_MSE, p.theta, p.ds, &o, &bad, &err);
  tap_ok(rc == CS_EINVAL && strstr(err.msg, "tolerance"),
         "precision mixed: tol 1e-8 below the float32 floor is refused (%s)", err.msg);
  batch_scaling_result_free(&f64);
  batch_scaling_result_free(&mix);
  batch_scaling_result_free(&bad);
  problem_free(&p);
}

/* The value stop (the default) against the residual stop and the dense spectra, at tol 1e-4
 * on B = 2, 5, 12 and N = 30, 4 draws: every draw's λmax within tol of its batch's dense
 * λmax (relative to the spectral radius); each size's first λmax solve, the reference,
 * stops on the residual; λmin solves stop on the residual, bit for bit as without the value
 * stop (with it, B = 2's fourth draw settled on the second smallest eigenvalue, 1.7% of the
 * radius above λmin); the whole set is the last record; the value stop spends fewer products. */
static void test_value_stop(void) {
  Problem p;
  if (problem_make(&p, 30, 0, 11)) return;
  size_t P = p.net.n_params, N = p.ds->n;
  BatchScalingOptions o, or_;
  small_top_options(&o, 1e-4);
  o.draws = 4;
  or_ = o, or_.value_stop = 0;
  BatchScalingResult val, res;
  Err err = {0};
  if (measure_both(&p, &o, &or_, &val, &res, "value stop")) {
    problem_free(&p);
    return;
  }
  double *H = malloc(P * P * sizeof *H), *w = malloc(P * sizeof *w), worst = 0;
  MiniBatch *mb = minibatch_alloc(p.ds, 12, &err);
  int k = 0, refs_same = 1, refs = 0, conv = 1, bottom_same = 1;
  for (int i = 0; i < val.nb; i++)
    for (int d = 0; d < val.ndraw[i]; d++, k++) {
      const BatchDraw *v = &val.draw[k];
      Batch b;
      minibatch_draw(mb, val.batch[i], o.seed, batch_scaling_draw_stream(val.batch[i], d), &b,
                     &err);
      if (dense_spectrum(&p, LOSS_MSE, 0, &b, H, w)) goto out;
      double scale = fmax(fabs(w[P - 1]), fabs(w[0]));
      worst = fmax(worst, fabs(v->lmax - w[P - 1]) / scale);
      bottom_same &= v->lmin == res.draw[k].lmin && v->mv_min == res.draw[k].mv_min;
      conv &= v->conv_max && v->conv_min;
      if (d == 0 && val.batch[i] < N) { /* the size's reference: on the residual */
        refs++;
        refs_same &= v->res_max <= o.tol * fabs(v->lmax);
      }
    }
  /* the first solve of the whole measurement (B = 2, draw 0) is the same cold solve in both */
  refs_same &= val.draw[0].lmax == res.draw[0].lmax && val.draw[0].mv_max == res.draw[0].mv_max;
  tap_ok(worst <= o.tol, "value stop: every draw's λmax within tol = %g of the dense λmax of "
         "its batch (worst %.1e of the spectral radius, %d draws)", o.tol, worst, k);
  tap_ok(conv && refs == 3 && refs_same, "value stop: every solve converged; each size's first "
         "λmax solve stops on the residual (≤ tol·|λ|), the first the same solve as without it");
  tap_ok(bottom_same, "value stop: every λmin solve stops on the residual, bit for bit as "
         "without the value stop");
  tap_ok(val.matvecs < res.matvecs, "value stop: %ld products against %ld on the residual",
         val.matvecs, res.matvecs);
  tap_ok(val.batch[val.nb - 1] == N && val.draw[k - 1].batch == N,
         "value stop: the whole set is the last record (visited last)");
out:
  minibatch_free(mb);
  free(H), free(w);
  batch_scaling_result_free(&val);
  batch_scaling_result_free(&res);
  problem_free(&p);
}

/* The learner against the grid: the best is the lowest finite loss, the excess a ratio. */
static void test_lr_compare(void) {
  double loss[] = {0.30, NAN, 0.12, INFINITY, 0.12, 0.5};
  tap_ok(lr_compare_best(loss, 6) == 2, "lr_compare_best: lowest finite, the first of a tie, "
         "NAN and inf (diverged) never best");
  double none[] = {NAN, INFINITY};
  tap_ok(lr_compare_best(none, 2) == -1 && lr_compare_best(loss, 0) == -1,
         "lr_compare_best: -1 when no run has a finite loss");
  tap_ok(fabs(lr_compare_excess(0.132, 0.12) - 0.1) < 1e-12 &&
             lr_compare_excess(0.12, 0.12) == 0 && lr_compare_excess(0.1, 0.12) < 0,
         "lr_compare_excess: loss / best − 1 (0.132 against 0.12 is 10%%)");
  tap_ok(isnan(lr_compare_excess(NAN, 0.1)) && isnan(lr_compare_excess(0.1, 0)) &&
             isnan(lr_compare_excess(0.1, INFINITY)),
         "lr_compare_excess: NAN for a diverged learner or no best");
}

int main(void) {
  test_lr_compare();
  test_top_only();
  test_precision();
  test_value_stop();
  test_learner_rule();
  test_learner_quadratic();
  test_precond();
  test_stability();
  test_draws();
  test_fits();
  test_summary();
  test_against_dense(LOSS_MSE, 0);
  test_against_dense(LOSS_CE, 0);
  test_against_dense(LOSS_MSE, 1);
  return tap_done();
}
