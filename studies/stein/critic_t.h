/*
 * critic_t.h: the critic's passes for one real type (included twice by critic.c, not a
 * header): real = double over the net.h passes, real = float over their _f32 twins
 * (--precision mixed|f32). The includer defines real, CP(name) (the static name),
 * CM(field) (sc's workspace of that type), and NET_FWD, NET_BWD, NET_BWD_KEEP, NET_RFWD,
 * NET_RBWD (the engine's passes). Whatever the type, the divergence's row sums, the
 * objective, T and the penalty are summed in double; the probes are drawn in double (the
 * same rng stream in both precisions) and rounded once.
 */

/* The probe rows src [len] as real: src itself in double, else rounded into buf. */
static const real *CP(probe_load)(const double *src, size_t len, real *buf) {
  if (sizeof(real) == sizeof(double)) return (const real *)(const void *)src;
  for (size_t i = 0; i < len; i++) buf[i] = (real)src[i];
  return buf;
}

/* One probe E on the cached rows: div += w · rowsum(E ⊙ J_x f E), and
 * grad += scale·w · ∇_θ Σ_i e_iᵀ J_x f e_i. */
static void CP(probe_pass)(SteinCritic *sc, const real *theta, size_t n, const real *E, double w,
                           double *divout, double scale, real *grad) {
  const Net *net = sc->net;
  size_t d = sc->d;
  if (grad) {
    real sw = (real)(scale * w);
    for (size_t i = 0; i < n * d; i++) CM(GL)[i] = sw * E[i];
    NET_BWD(net, theta, CM(cache), CM(GL), NULL);  /* redoes the forward when needed */
  }
  NET_RFWD(net, theta, CM(cache), NULL, E, CM(rw));
  const real *RF = CM(rw)->RA[net->nlayers - 1];
  for (size_t i = 0; i < n; i++) {
    double t = 0;
    for (size_t k = 0; k < d; k++) t += (double)E[i * d + k] * (double)RF[i * d + k];
    divout[i] += w * t;
  }
  if (grad) NET_RBWD(net, theta, CM(cache), NULL, E, CM(rw), CM(zero), NET_R_HESSIAN, grad);
}

/* The divergence passes on rows already forwarded into the cache. */
static void CP(divergence_cached)(SteinCritic *sc, const real *theta, size_t n,
                                  const SteinDiv *div, const double *probes, Rng *rng,
                                  double *divout, double scale, real *grad) {
  size_t d = sc->d;
  memset(divout, 0, n * sizeof *divout);
  if (div->kind == STEIN_DIV_EXACT) {
    real *E = CM(E);
    for (size_t k = 0; k < d; k++) {
      memset(E, 0, n * d * sizeof *E);
      for (size_t i = 0; i < n; i++) E[i * d + k] = 1;
      CP(probe_pass)(sc, theta, n, E, 1.0, divout, scale, grad);
    }
    return;
  }
  int m = div->probes;
  for (int p = 0; p < m; p++) {
    const double *src = probes ? probes + (size_t)p * n * d : sc->E;
    if (!probes) rng_normal_fill(rng, sc->E, n * d);
    const real *E = CP(probe_load)(src, n * d, CM(E));
    CP(probe_pass)(sc, theta, n, E, 1.0 / m, divout, scale, grad);
  }
}

/* stein_critic_objective on θ and X of this type; grad (real, or NULL) gets += ∇_θ(−J). */
static double CP(objective)(SteinCritic *sc, const real *theta, const real *X, const double *S,
                            size_t n, double lambda, const SteinDiv *div, const double *probes,
                            Rng *rng, double *T, double *f, real *grad) {
  const Net *net = sc->net;
  size_t d = sc->d;
  NET_FWD(net, theta, X, n, CM(cache));
  const real *F = CM(cache)->A[net->nlayers - 1];
  double *fo = f ? f : sc->f, *sf = sc->t, *dv = sc->t + sc->cap;
  for (size_t i = 0; i < n * d; i++) fo[i] = F[i];
  double pen = 0;
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    for (size_t k = 0; k < d; k++) {
      double fk = fo[i * d + k];
      v += S[i * d + k] * fk;
      pen += fk * fk;
    }
    sf[i] = v;
  }
  /* −J's gradient in F: −(s − λf)/n, one backward */
  if (grad) {
    for (size_t i = 0; i < n * d; i++) CM(GL)[i] = (real)(-(S[i] - lambda * fo[i]) / (double)n);
    NET_BWD_KEEP(net, theta, CM(cache), CM(GL), grad);  /* the probes' backward needs no new forward */
  }
  CP(divergence_cached)(sc, theta, n, div, probes, rng, dv, -1.0 / (double)n, grad);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double ti = sf[i] + dv[i];
    sum += ti;
    if (T) T[i] = ti;
  }
  return sum / (double)n - 0.5 * lambda * pen / (double)n;
}
