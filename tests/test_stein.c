/*
 * test_stein.c: the Stein study's pieces (studies/stein/stein.h).
 *
 * References are computed here from first principles: scores against central
 * differences of the log-density; the RBM's exact moments by summing over all 2^dh
 * hidden states (p(h) ∝ exp(cᵀh + ½‖b + ½Bh‖²), x | h ~ N(b + ½Bh, I)); the critic's
 * divergence and its θ-gradient against central differences of the net's forward pass
 * (in x, then in θ); Hutchinson's estimate against its closed form from the Jacobian.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "stein_ref.h"
#include "studies/stein/stein.h"
#include "tap.h"

/* ---- models ------------------------------------------------------------------------------ */

/* The score at random points against central differences of the log-density. */
static double score_fd_error(const SteinModel *m, Rng *rng, int points) {
  size_t d = m->d;
  double *x = malloc(d * sizeof *x), *s = malloc(d * sizeof *s), *fd = malloc(d * sizeof *fd);
  double worst = 0;
  for (int p = 0; p < points; p++) {
    stein_model_sample(m, 1, rng, x, &(Err){0});
    for (size_t k = 0; k < d; k++) x[k] += 0.3 * rng_normal(rng);
    stein_model_score(m, 1, x, s);
    for (size_t k = 0; k < d; k++) {
      double h = 1e-5, keep = x[k];
      x[k] = keep + h;
      double up = stein_model_logdens(m, x);
      x[k] = keep - h;
      double dn = stein_model_logdens(m, x);
      x[k] = keep;
      fd[k] = (up - dn) / (2 * h);
    }
    worst = fmax(worst, tap_max_rel(s, fd, d));
  }
  free(x), free(s), free(fd);
  return worst;
}

static void test_scores(void) {
  static const char *const presets[] = {"gauss:d=3,pert=0.7", "gauss-mixture:d=4",
                                        "gauss-mixture:d=25", "rbm:dx=5,dh=4,pert=0.3,burnin=5"};
  for (size_t t = 0; t < sizeof presets / sizeof *presets; t++) {
    Rng rng;
    rng_seed(&rng, 100 + t);
    SteinPair pr;
    Err err = {0};
    if (stein_pair_parse(&pr, presets[t], -1, 0, &rng, &err)) {
      tap_ok(0, "%s: %s", presets[t], err.msg);
      continue;
    }
    double ep = score_fd_error(&pr.p, &rng, 20), eq = score_fd_error(&pr.q, &rng, 20);
    tap_ok(ep < 1e-7 && eq < 1e-7,
           "%s: scores of p and q = central differences of log density (worst rel %.1e, %.1e)",
           presets[t], ep, eq);
    stein_pair_free(&pr);
  }
}

/* |sample mean − want| in standard errors of E[x_a x_b] (b = d: of E[x_a]) over n rows. */
static double moment_z(const double *X, size_t n, size_t d, size_t a, size_t b, double want) {
  double s = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) {
    double v = X[i * d + a] * (b < d ? X[i * d + b] : 1.0);
    s += v, s2 += v * v;
  }
  double mean = s / n, se = sqrt((s2 / n - mean * mean) / n);
  return fabs(mean - want) / se;
}

/* A mixture's first two moments from many samples, against Σ_k w_k μ_k and
 * Σ_k w_k (Σ_k + μ_k μ_kᵀ), within 5 standard errors. */
static void test_mixture_sampler(void) {
  Rng rng;
  rng_seed(&rng, 7);
  SteinPair pr;
  Err err = {0};
  if (stein_pair_parse(&pr, "gauss-mixture:d=3", -1, 0, &rng, &err)) {
    tap_ok(0, "mixture: %s", err.msg);
    return;
  }
  const SteinModel *m = &pr.p;
  size_t d = 3, n = 40000;
  double *X = malloc(n * d * sizeof *X);
  stein_model_sample(m, n, &rng, X, &err);
  int bad = 0;
  double worst = 0;
  for (size_t a = 0; a < d; a++)
    for (size_t b = 0; b <= d; b++) {  /* b = d: the mean of x_a */
      double want = 0;
      for (int k = 0; k < m->K; k++) {
        const double *mu = m->mu + k * d, *L = m->chol + k * d * d;
        double cov = 0;
        if (b < d)
          for (size_t j = 0; j < d; j++) cov += L[a * d + j] * L[b * d + j];
        want += m->w[k] * (b < d ? cov + mu[a] * mu[b] : mu[a]);
      }
      double z = moment_z(X, n, d, a, b, want);
      worst = fmax(worst, z);
      bad += !(z < 5);
    }
  tap_ok(bad == 0, "mixture sampler: means and second moments within 5 s.e. of the exact ones "
         "(worst %.1f s.e., n = %zu)", worst, n);
  free(X);
  stein_pair_free(&pr);
}

/* The RBM's Gibbs sampler against its exact moments on a small RBM (dh = 4: 16 hidden
 * states). A second check that could fail: the same moments of the perturbed p differ. */
static void test_rbm_sampler(void) {
  Rng rng;
  rng_seed(&rng, 11);
  SteinPair pr;
  Err err = {0};
  if (stein_pair_parse(&pr, "rbm:dx=3,dh=4,pert=0.5,burnin=30", -1, 0, &rng, &err)) {
    tap_ok(0, "rbm: %s", err.msg);
    return;
  }
  const SteinModel *m = &pr.q;
  size_t d = m->d, dh = m->dh, n = 40000;
  /* exact: E[x] = Σ p(h) m_h, E[x_a x_b] = Σ p(h)(δ_ab + m_ha m_hb), m_h = b + ½Bh */
  double ex[3] = {0}, exx[3][3] = {{0}}, Z = 0, lmax = -INFINITY, mh[16][3], lw[16];
  for (unsigned h = 0; h < 16; h++) {
    double hv[4], l = 0, q = 0;
    for (size_t j = 0; j < dh; j++) hv[j] = (h >> j) & 1 ? 1.0 : -1.0, l += m->c[j] * hv[j];
    for (size_t a = 0; a < d; a++) {
      double v = m->b[a];
      for (size_t j = 0; j < dh; j++) v += 0.5 * m->B[a * dh + j] * hv[j];
      mh[h][a] = v;
      q += v * v;
    }
    lw[h] = l + 0.5 * q;
    lmax = fmax(lmax, lw[h]);
  }
  for (unsigned h = 0; h < 16; h++) Z += (lw[h] = exp(lw[h] - lmax));
  for (unsigned h = 0; h < 16; h++)
    for (size_t a = 0; a < d; a++) {
      ex[a] += lw[h] / Z * mh[h][a];
      for (size_t b = 0; b < d; b++) exx[a][b] += lw[h] / Z * ((a == b) + mh[h][a] * mh[h][b]);
    }
  double *X = malloc(n * d * sizeof *X);
  int bad = 0, far = 0;
  double worst = 0;
  for (int which = 0; which < 2; which++) {
    stein_model_sample(which ? &pr.p : m, n, &rng, X, &err);
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b <= d; b++) {
        double z = moment_z(X, n, d, a, b, b < d ? exx[a][b] : ex[a]);
        if (!which) worst = fmax(worst, z), bad += !(z < 5);
        else far += z > 10;
      }
  }
  tap_ok(bad == 0, "RBM Gibbs sampler (dx 3, dh 4, 30 sweeps): means and second moments within "
         "5 s.e. of the exact sums over 16 hidden states (worst %.1f s.e.)", worst);
  tap_ok(far > 0, "the perturbed RBM's moments are not those of q (%d of 12 beyond 10 s.e.)", far);
  free(X);
  stein_pair_free(&pr);
}

static void test_pair_parse(void) {
  static const char *const badspec[] = {"gaus:d=2", "gauss:d=0", "gauss:d=2,dx=3",
                                        "rbm:dx=3,dh=0", "gauss:pert=-1", "gauss-mixture:d=1",
                                        "gauss-mixture:d=4,pert=1"};
  int rejected = 0;
  for (size_t i = 0; i < sizeof badspec / sizeof *badspec; i++) {
    Rng rng;
    rng_seed(&rng, 1);
    SteinPair pr;
    Err err = {0};
    rejected += stein_pair_parse(&pr, badspec[i], -1, 0, &rng, &err) == CS_EINVAL;
  }
  tap_ok(rejected == (int)(sizeof badspec / sizeof *badspec), "bad model specs rejected (%d)",
         rejected);
  Rng rng;
  rng_seed(&rng, 2);
  SteinPair pr;
  Err err = {0};
  int rc = stein_pair_parse(&pr, "gauss-mixture:d=4", -1, 1, &rng, &err);
  double x[4] = {0.3, -0.2, 1.1, 0.5}, sp[4], sq[4];
  if (!rc) {
    stein_model_score(&pr.p, 1, x, sp);
    stein_model_score(&pr.q, 1, x, sq);
  }
  tap_ok(!rc && tap_max_rel(sp, sq, 4) == 0, "--null: p's score is q's");
  if (!rc) stein_pair_free(&pr);
  rc = stein_pair_parse(&pr, "gauss:d=4,pert=0.3", 0.9, 0, &rng, &err);
  tap_ok(!rc && pr.p.mu[2] == 0.9 && pr.q.mu[2] == 0, "--pert overrides the spec's pert");
  if (!rc) stein_pair_free(&pr);
}


/* ---- critic: divergence and its θ-gradient ---------------------------------------------- */

/* The divergence and its θ-gradient (exact, Hutchinson with a fixed probe set) against
 * the finite-difference references, for one activation. */
static void check_divergence(ActKind act, const char *aname) {
  Net net;
  if (build_critic(&net, "mlp:3-6-5-3", act)) {
    tap_ok(0, "%s: build", aname);
    return;
  }
  Rng rng;
  rng_seed(&rng, 31 + act);
  size_t n = 4, d = 3, P = net.n_params;
  int m = 3;
  double X[12], probes[3 * 12], dv[4], ref[4];
  double *th = malloc(P * sizeof *th), *g = malloc(P * sizeof *g), *gfd = malloc(P * sizeof *gfd);
  net_init_params(&net, th, &rng);
  for (size_t i = 0; i < P; i++) th[i] *= 1.5;  /* away from the linear regime */
  rng_normal_fill(&rng, X, n * d);
  rng_normal_fill(&rng, probes, (size_t)m * n * d);
  SteinCritic *sc = stein_critic_alloc(&net, n);
  for (int kind = 0; kind < 2; kind++) {
    SteinDiv div = {kind ? STEIN_DIV_HUTCHINSON : STEIN_DIV_EXACT, m};
    const double *pr = kind ? probes : NULL;
    memset(g, 0, P * sizeof *g);
    stein_critic_divergence(sc, th, X, n, &div, pr, NULL, dv, 0.7, g);
    div_sum_fd(&net, th, X, n, pr, m, ref);
    double ev = tap_max_rel(dv, ref, n);
    div_grad_fd(&net, th, X, n, pr, m, 0.7, gfd);  /* of 0.7 Σ_i div_i */
    double eg = tap_max_rel(g, gfd, P);
    tap_ok(ev < 1e-7 && eg < 1e-5,
           "%s, %s divergence: value = finite differences of f (rel %.1e), θ-gradient (tangent "
           "pass) = finite differences in θ (rel %.1e, %zu params)",
           aname, kind ? "Hutchinson (3 fixed probes)" : "exact", ev, eg, P);
  }
  free(th), free(g), free(gfd);
  stein_critic_free(sc);
  net_deinit(&net);
}

/* Hutchinson over the 2^d Rademacher vectors (their mean εεᵀ is I) is the exact divergence,
 * value and gradient: the expectation over probes is the exact one. */
static void test_hutchinson_expectation(void) {
  Net net;
  if (build_critic(&net, "mlp:3-7-3", ACT_SWISH)) return;
  Rng rng;
  rng_seed(&rng, 5);
  size_t n = 5, d = 3, P = net.n_params;
  int m = 8;
  double X[15], *probes = malloc((size_t)m * n * d * sizeof *probes), de[5], dh[5];
  double *th = malloc(P * sizeof *th), *ge = calloc(P, sizeof *ge), *gh = calloc(P, sizeof *gh);
  net_init_params(&net, th, &rng);
  rng_normal_fill(&rng, X, n * d);
  for (int p = 0; p < m; p++)
    for (size_t i = 0; i < n; i++)
      for (size_t a = 0; a < d; a++) probes[((size_t)p * n + i) * d + a] = (p >> a) & 1 ? 1 : -1;
  SteinCritic *sc = stein_critic_alloc(&net, n);
  SteinDiv ex = {STEIN_DIV_EXACT, 1}, hu = {STEIN_DIV_HUTCHINSON, m};
  stein_critic_divergence(sc, th, X, n, &ex, NULL, NULL, de, 1.0, ge);
  stein_critic_divergence(sc, th, X, n, &hu, probes, NULL, dh, 1.0, gh);
  double ev = tap_max_rel(dh, de, n), eg = tap_max_rel(gh, ge, P);
  tap_ok(ev < 1e-12 && eg < 1e-12,
         "Hutchinson over all 8 Rademacher probes = exact divergence (value %.1e, gradient %.1e)",
         ev, eg);
  /* fresh Gaussian probes: the mean over many draws approaches the exact value */
  SteinDiv many = {STEIN_DIV_HUTCHINSON, 1024};
  double dm[5];
  stein_critic_divergence(sc, th, X, n, &many, NULL, &rng, dm, 1.0, NULL);
  double em = tap_max_rel(dm, de, n);
  tap_ok(em < 0.15, "Hutchinson with 1024 Gaussian probes within 15%% of exact (rel %.2f)", em);
  free(probes), free(th), free(ge), free(gh);
  stein_critic_free(sc);
  net_deinit(&net);
}

/* The objective's θ-gradient (of −J) against central differences of J, exact divergence. */
static void test_objective_gradient(void) {
  Net net;
  if (build_critic(&net, "mlp:2-6-6-2", ACT_TANH)) return;
  Rng rng;
  rng_seed(&rng, 8);
  size_t n = 6, d = 2, P = net.n_params;
  double X[12], S[12], T[6], f[12], tref[6];
  double *th = malloc(P * sizeof *th), *g = calloc(P, sizeof *g), *gfd = malloc(P * sizeof *gfd);
  net_init_params(&net, th, &rng);
  rng_normal_fill(&rng, X, n * d);
  rng_normal_fill(&rng, S, n * d);
  SteinCritic *sc = stein_critic_alloc(&net, n);
  SteinDiv ex = {STEIN_DIV_EXACT, 1};
  double lam = 0.3;
  double J = stein_critic_objective(sc, th, X, S, n, lam, &ex, NULL, NULL, T, f, g);
  /* J by hand: T_i = s_iᵀf_i + tr J_i */
  div_sum_fd(&net, th, X, n, NULL, 1, tref);
  double jref = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < d; k++) tref[i] += S[i * d + k] * f[i * d + k];
    jref += tref[i] / n;
    for (size_t k = 0; k < d; k++) jref -= 0.5 * lam * f[i * d + k] * f[i * d + k] / n;
  }
  for (size_t j = 0; j < P; j++) {
    double keep = th[j], h = 1e-5;
    th[j] = keep + h;
    double up = stein_critic_objective(sc, th, X, S, n, lam, &ex, NULL, NULL, NULL, NULL, NULL);
    th[j] = keep - h;
    double dn = stein_critic_objective(sc, th, X, S, n, lam, &ex, NULL, NULL, NULL, NULL, NULL);
    th[j] = keep;
    gfd[j] = -(up - dn) / (2 * h);
  }
  double et = tap_max_rel(T, tref, n), eg = tap_max_rel(g, gfd, P);
  tap_ok(fabs(J - jref) < 1e-8 && et < 1e-7 && eg < 1e-7,
         "objective J = mean(s·f + ∇·f) − λ/2 mean‖f‖² (|ΔJ| %.1e, T rel %.1e), ∇θ(−J) = finite "
         "differences (rel %.1e)", fabs(J - jref), et, eg);
  free(th), free(g), free(gfd);
  stein_critic_free(sc);
  net_deinit(&net);
}

static void test_div_parse(void) {
  SteinDiv div;
  Err err = {0};
  int ok = !stein_div_parse("hutchinson:probes=4", &div, &err) &&
           div.kind == STEIN_DIV_HUTCHINSON && div.probes == 4 &&
           !stein_div_parse("exact", &div, &err) && div.kind == STEIN_DIV_EXACT;
  int bad = stein_div_parse("hutch", &div, &err) == CS_EINVAL &&
            stein_div_parse("hutchinson:probes=0", &div, &err) == CS_EINVAL &&
            stein_div_parse("exact:probes=2", &div, &err) == CS_EINVAL;
  tap_ok(ok && bad, "--div specs: exact, hutchinson:probes=M; bad ones rejected");
}

/* ---- training and the tests -------------------------------------------------------------- */

static void test_lambda_schedule(void) {
  SteinLambda l;
  Err err = {0};
  int ok = !stein_lambda_parse("staged:init=0.4,decay=0.5,final=0.06", &l, &err) &&
           stein_lambda_at(&l, 0) == 0.4 && stein_lambda_at(&l, 1) == 0.2 &&
           stein_lambda_at(&l, 2) == 0.1 && stein_lambda_at(&l, 3) == 0.06 &&
           stein_lambda_at(&l, 40) == 0.06;
  int fixed = !stein_lambda_parse("fixed:1e-3", &l, &err) && !l.staged &&
              stein_lambda_at(&l, 0) == 1e-3 && stein_lambda_at(&l, 9) == 1e-3;
  int def = !stein_lambda_parse("staged", &l, &err) && l.init == 0.4 && l.decay == 0.85 &&
            l.final == 5e-4;
  static const char *const bad[] = {"fixed", "fixed:0", "fixed:-1", "fixed:1,2", "stage",
                                    "staged:decay=1.5", "staged:init=0.1,final=0.2",
                                    "staged:init=0.4,rate=2"};
  int rejected = 0;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    rejected += stein_lambda_parse(bad[i], &l, &err) == CS_EINVAL;
  tap_ok(ok && fixed && def && rejected == (int)(sizeof bad / sizeof *bad),
         "λ schedules: staged max(final, init·decay^e) per epoch, fixed, defaults; %d bad specs "
         "rejected", rejected);
  tap_rel(stein_normal_quantile(0.95), 1.6448536269514722, 1e-10, "Φ^{-1}(0.95)");
}

/* Training drives the critic to the known optimum: on gauss (δ = s_q − s_p = −μ, a
 * constant) with fixed λ, λf → δ, so the critic error falls far below its start. */
static void test_fit_optimum(void) {
  Rng rng;
  rng_seed(&rng, 21);
  SteinPair pr;
  Err err = {0};
  Net net;
  if (stein_pair_parse(&pr, "gauss:d=2,pert=0.5", -1, 0, &rng, &err) ||
      build_critic(&net, "mlp:2-16-2", ACT_SWISH)) {
    tap_ok(0, "fit: setup %s", err.msg);
    return;
  }
  SteinStudyOpts o = {400, 200, 50, 100, 1, 100, 0.05, {40, 50, 1e-2, {0}, {STEIN_DIV_HUTCHINSON, 1}, NULL},
                      {{0, 0.5, 1, 0.5}}, 1, 0, 3, NULL, 0, NULL, NULL, PREC_F64};
  SteinStudyResult res;
  int rc = stein_study_run(&pr, &net, &o, NULL, &res, &err);
  double first = rc ? NAN : res.sched[0].mean.critic_err[0], last = rc ? NAN : res.sched[0].mean.critic_err[39];
  tap_ok(!rc && last < 0.3 && last < 0.3 * first,
         "training (Hutchinson, 1 probe, fixed λ 0.5): critic error ‖λf − (s_q − s_p)‖²/‖s_q − s_p‖² "
         "%.3g after epoch 1, %.3g after 40 %s", first, last, rc ? err.msg : "");
  if (!rc) stein_study_result_free(&res);
  stein_pair_free(&pr);
  net_deinit(&net);
}

/* Level under p = q and power under a shift, neural (bootstrap and studentised) and KSD on
 * the same draws, at a tiny size: the Must-hold's level within [0.02, 0.08] at α = 0.05. */
static void test_level_power(void) {
  for (int null = 1; null >= 0; null--) {
    Err err = {0};
    long R = null ? 400 : 60;
    SteinStudyResult res;
    int rc = stein_small_study(null, R, STEIN_DIV_EXACT, 1, PREC_F64, &res, &err);
    if (rc) {
      tap_ok(0, "%s: %s", null ? "level" : "power", err.msg);
    } else if (null) {
      double lb = (double)res.sched[0].rejects / R, lt = (double)res.sched[0].rejects_t / R,
             lk = (double)res.ksd_rejects / R;
      tap_ok(lb >= 0.02 && lb <= 0.08 && lt >= 0.02 && lt <= 0.08 && lk >= 0.02 && lk <= 0.08,
             "level at α 0.05 under p = q over %ld repeats: neural bootstrap %.3f, studentised "
             "%.3f, KSD %.3f, all in [0.02, 0.08] (%.1f s)", R, lb, lt, lk, res.wall_s);
    } else {
      double pb = (double)res.sched[0].rejects / R, pt = (double)res.sched[0].rejects_t / R,
             pk = (double)res.ksd_rejects / R;
      tap_ok(pb >= 0.5 && pt >= 0.5 && pk >= 0.5,
             "power against a mean shift of 0.6 (n_test 100) over %ld repeats: neural bootstrap "
             "%.2f, studentised %.2f, KSD %.2f, all >= 0.5", R, pb, pt, pk);
    }
    if (!rc) stein_study_result_free(&res);
  }
}

int main(void) {
  test_scores();
  test_mixture_sampler();
  test_rbm_sampler();
  test_pair_parse();
  test_div_parse();
  check_divergence(ACT_SWISH, "swish");
  check_divergence(ACT_TANH, "tanh");
  check_divergence(ACT_SOFTPLUS, "softplus");
  test_hutchinson_expectation();
  test_objective_gradient();
  test_lambda_schedule();
  test_fit_optimum();
  test_level_power();
  return tap_done();
}
