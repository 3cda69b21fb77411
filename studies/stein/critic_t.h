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

/* The objective's loss part from the output F [n][d]: fo = F in double, s_iᵀf_i into
 * sc->t, and GL = −(S − λF)/n, −J's gradient in F (when GL); returns Σ_i ‖f_i‖². */
static double CP(loss_part)(SteinCritic *sc, const real *F, const double *S, size_t n,
                            double lambda, double *fo, real *GL) {
  size_t d = sc->d;
  double pen = 0;
  for (size_t i = 0; i < n * d; i++) fo[i] = F[i];
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    for (size_t k = 0; k < d; k++) {
      double fk = fo[i * d + k];
      v += S[i * d + k] * fk;
      pen += fk * fk;
    }
    sc->t[i] = v;
  }
  if (GL)
    for (size_t i = 0; i < n * d; i++) GL[i] = (real)(-(S[i] - lambda * fo[i]) / (double)n);
  return pen;
}

/* The exact divergence of a two-hidden-layer net on the rows forwarded into sc's tangent
 * workspace, without tangents: J_i = α W2 D1_i W1 D0_i W0 (D_l = diag of layer l's
 * s⊙σ', α the layers' α product), so tr J_i = α Σ_ab D1_i[a] W1[a][b] D0_i[b] M[b][a]
 * with M = W0 W2 [h0][h1]: with K = W1 ⊙ Mᵀ, tr J_i = α d1_iᵀ K d0_i, one GEMM
 * Y = D0 Kᵀ for all rows instead of d tangent passes. */
static void CP(trace2)(SteinCritic *sc, const real *theta, size_t n, double *divout) {
  const Net *net = sc->net;
  const Layer *L0 = &net->layer[0], *L1 = &net->layer[1], *L2 = &net->layer[2];
  size_t d = sc->d, h0 = L0->out, h1 = L1->out;
  const real *W0 = NETW(net, 0, theta), *W1 = NETW(net, 1, theta), *W2 = NETW(net, 2, theta);
  real *M = CM(trM), *K = CM(trK), *Y = CM(trY);
  GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)h0, (int)h1, (int)d, 1, W0, (int)d, W2,
       (int)h1, 0, M, (int)h1);
  for (size_t a = 0; a < h1; a++)
    for (size_t b = 0; b < h0; b++) K[a * h0 + b] = W1[a * h0 + b] * M[b * h1 + a];
  const real *D0 = CM(tan)->d1[0], *D1 = CM(tan)->d1[1];
  GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)h1, (int)h0, 1, D0, (int)h0, K,
       (int)h0, 0, Y, (int)h1);
  double alpha = L0->alpha * L1->alpha * L2->alpha;
  for (size_t i = 0; i < n; i++) {
    double t = 0;
    for (size_t a = 0; a < h1; a++) t += (double)D1[i * h1 + a] * (double)Y[i * h1 + a];
    divout[i] = alpha * t;
  }
}

/* The divergence (and, with S, the objective's loss part: its F, GL and penalty returned)
 * by the stacked tangent passes: the probes in groups of up to mcap, X forwarded with
 * the first group, whose reverse also carries the loss seed GL; grad += the loss's
 * gradient and scale · ∇_θ Σ_i div_i. */
static double CP(tan_passes)(SteinCritic *sc, const real *theta, const real *X, const double *S,
                             size_t n, double lambda, const SteinDiv *div, const double *probes,
                             Rng *rng, double *fo, double *divout, double scale, real *grad) {
  const Net *net = sc->net;
  size_t d = sc->d;
  int exact = div->kind == STEIN_DIV_EXACT, M = exact ? (int)d : div->probes;
  double w = exact ? 1.0 : 1.0 / M, pen = 0;
  const real *H = CM(tan)->H[net->nlayers - 1];
  if (exact && !grad && CM(trK)) {  /* two hidden layers: no tangents */
    TAN_FWD(net, theta, X, X, n, 0, CM(tan));
    if (S) pen = CP(loss_part)(sc, H, S, n, lambda, fo, NULL);
    CP(trace2)(sc, theta, n, divout);
    return pen;
  }
  memset(divout, 0, n * sizeof *divout);
  for (int g0 = 0; g0 < M; g0 += sc->mcap) {
    int mg = M - g0 < sc->mcap ? M - g0 : sc->mcap;
    size_t len = (size_t)mg * n * d;
    const real *E;
    if (exact) {
      real *Ew = CM(Eg);
      memset(Ew, 0, len * sizeof *Ew);
      for (int p = 0; p < mg; p++)
        for (size_t i = 0; i < n; i++) Ew[((size_t)p * n + i) * d + (size_t)(g0 + p)] = 1;
      E = Ew;
    } else {
      const double *src = probes ? probes + (size_t)g0 * n * d : sc->Eg;
      if (!probes) rng_normal_fill(rng, sc->Eg, len);
      E = CP(probe_load)(src, len, CM(Eg));
    }
    TAN_FWD(net, theta, g0 ? NULL : X, E, n, mg, CM(tan));
    real *GL = NULL;
    if (!g0 && S) {
      if (grad) GL = CM(GL);
      pen = CP(loss_part)(sc, H, S, n, lambda, fo, GL);
    }
    for (size_t i = 0; i < n; i++) {
      double t = 0;
      for (int p = 0; p < mg; p++) {
        const real *e = E + ((size_t)p * n + i) * d, *r = H + ((size_t)(1 + p) * n + i) * d;
        for (size_t k = 0; k < d; k++) t += (double)e[k] * (double)r[k];
      }
      divout[i] += w * t;
    }
    if (grad) {
      real sw = (real)(scale * w), *Sg = CM(Sg);
      for (size_t i = 0; i < len; i++) Sg[i] = sw * E[i];
      TAN_BWD(net, theta, CM(tan), GL, Sg, grad);
    }
  }
  return pen;
}

/* stein_critic_divergence on θ and X of this type. */
static void CP(divergence)(SteinCritic *sc, const real *theta, const real *X, size_t n,
                           const SteinDiv *div, const double *probes, Rng *rng, double *divout,
                           double scale, real *grad) {
  if (CM(tan) && !sc->rpasses) {
    CP(tan_passes)(sc, theta, X, NULL, n, 0, div, probes, rng, NULL, divout, scale, grad);
    return;
  }
  NET_FWD(sc->net, theta, X, n, CM(cache));
  CP(divergence_cached)(sc, theta, n, div, probes, rng, divout, scale, grad);
}

/* stein_critic_objective on θ and X of this type; grad (real, or NULL) gets += ∇_θ(−J). */
static double CP(objective)(SteinCritic *sc, const real *theta, const real *X, const double *S,
                            size_t n, double lambda, const SteinDiv *div, const double *probes,
                            Rng *rng, double *T, double *f, real *grad) {
  const Net *net = sc->net;
  double *fo = f ? f : sc->f, *dv = sc->t + sc->cap, pen;
  if (CM(tan) && !sc->rpasses) {
    pen = CP(tan_passes)(sc, theta, X, S, n, lambda, div, probes, rng, fo, dv, -1.0 / (double)n,
                         grad);
  } else {
    NET_FWD(net, theta, X, n, CM(cache));
    pen = CP(loss_part)(sc, CM(cache)->A[net->nlayers - 1], S, n, lambda, fo, grad ? CM(GL) : NULL);
    /* the probes' backward needs no new forward */
    if (grad) NET_BWD_KEEP(net, theta, CM(cache), CM(GL), grad);
    CP(divergence_cached)(sc, theta, n, div, probes, rng, dv, -1.0 / (double)n, grad);
  }
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double ti = sc->t[i] + dv[i];
    sum += ti;
    if (T) T[i] = ti;
  }
  return sum / (double)n - 0.5 * lambda * pen / (double)n;
}
