/*
 * net_tangent_t.h: the stacked tangent forward and its reverse (core/net_tangent.h),
 * written once for a real type; included at the end of net_pass.c (double) and
 * net_pass_f32.c (float) after net_pass_t.h, whose GEMM and activation helpers it uses.
 * The includer also defines NetTanT (the workspace type).
 *
 * Per layer, with U = α H_{l-1} Wᵀ + β b over the rows of A and U = α H_{l-1} Wᵀ over the
 * tangents' rows: A = σ(s⊙U), R{A} = d1 ⊙ R{U} (d1 = s⊙σ'(Z)). Reverse, from the
 * adjoints Ā (rows of A) and R̄_p (rows of tangent p):
 *   R̄U_p = R̄_p ⊙ d1,   Ū = Ā ⊙ d1 + Σ_p R̄_p ⊙ d2 ⊙ R{U}_p   (d2 = s²⊙σ''(Z))
 *   dW += α [Ū; R̄U_1; …]ᵀ H_{l-1},   db += β 1ᵀŪ,   [Ā; R̄_1; …]_{l-1} = α [Ū; R̄U_1; …] W.
 */

static int tan_ok(const Net *net) {
  if (net->first_trainable != 0) return 0;
  for (int l = 0; l < net->nlayers; l++)
    if (!net->layer[l].trainable || net->layer[l].act.kind == ACT_COSSIN) return 0;
  return 1;
}

NetTanT *NP(net_tan_alloc)(const Net *net, size_t cap, int mcap) {
  if (!tan_ok(net) || cap < 1 || mcap < 1) return NULL;
  NetTanT *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->cap = cap;
  w->mcap = mcap;
  size_t rows = (size_t)(1 + mcap) * cap, widest = net->d_in;
  int ok = !!(w->in = malloc(rows * net->d_in * sizeof(real)));
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (L->out > widest) widest = L->out;
    ok &= !!(w->H[l] = malloc(rows * L->out * sizeof(real)));
    ok &= !!(w->d1[l] = malloc(cap * L->out * sizeof(real)));
    if (!linear_pieces(L)) {
      ok &= !!(w->d2[l] = malloc(cap * L->out * sizeof(real)));
      ok &= !!(w->RU[l] = malloc((size_t)mcap * cap * L->out * sizeof(real)));
    }
  }
  ok &= !!(w->adj[0] = malloc(rows * widest * sizeof(real)));
  ok &= !!(w->adj[1] = malloc(rows * widest * sizeof(real)));
  ok &= !!(w->ones = malloc(cap * sizeof(real)));
  if (!ok) {
    NP(net_tan_free)(w);
    return NULL;
  }
  for (size_t i = 0; i < cap; i++) w->ones[i] = 1;
  return w;
}

void NP(net_tan_free)(NetTanT *w) {
  if (!w) return;
  for (int l = 0; l < NET_MAX_LAYERS; l++) free(w->H[l]), free(w->RU[l]), free(w->d1[l]), free(w->d2[l]);
  free(w->in), free(w->adj[0]), free(w->adj[1]), free(w->ones);
  free(w);
}

void NP(net_tan_forward)(const Net *net, const real *theta, const real *X, const real *E,
                         size_t n, int m, NetTanT *w) {
  size_t din = net->d_in, r0 = X ? 0 : n;
  if (X) {
    w->n = n;
    memcpy(w->in, X, n * din * sizeof *X);
  }
  w->m = m;
  memcpy(w->in + n * din, E, (size_t)m * n * din * sizeof *E);
  size_t rows = (size_t)(1 + m) * n - r0;
  const real *Hin = w->in;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    size_t out = L->out;
    real *H = w->H[l], *d1 = w->d1[l], *d2 = w->d2[l], *RU = w->RU[l];
    gemm_nt(rows, out, L->in, L->alpha, Hin + r0 * L->in, NET_W(net, l, theta), 0.0, H + r0 * out,
            NULL, 0);
    if (X) {
      const real *b = NET_B(net, l, theta);
      const double *s = L->s;
      real beta = L->beta;
      Act act = L->act;
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
      for (size_t i = 0; i < n; i++) {
        real *a = H + i * out, *g1 = d1 + i * out, *g2 = d2 ? d2 + i * out : NULL;
        if (b)
          for (size_t j = 0; j < out; j++) a[j] += beta * b[j];
        if (s)
          for (size_t j = 0; j < out; j++) a[j] *= s[j];
        ACT_EVAL(act, out, a, a, g1, g2);
        if (s) {
          for (size_t j = 0; j < out; j++) g1[j] *= s[j];
          if (g2)
            for (size_t j = 0; j < out; j++) g2[j] *= s[j] * s[j];
        }
      }
    }
    size_t nt = (size_t)m * n;
    if (!plain_identity(L) || RU) {
#pragma omp parallel for schedule(static) OMP_ROWS(nt, out)
      for (size_t r = 0; r < nt; r++) {
        real *h = H + (n + r) * out;
        const real *g1 = d1 + (r % n) * out;
        if (RU) memcpy(RU + r * out, h, out * sizeof *h);
        for (size_t j = 0; j < out; j++) h[j] *= g1[j];
      }
    }
    Hin = H;
  }
}

void NP(net_tan_backward)(const Net *net, const real *theta, NetTanT *w, const real *GL,
                          const real *S, real *grad) {
  size_t n = w->n, m = (size_t)w->m, rows = (1 + m) * n, dout = net->d_out;
  real *Y = w->adj[0], *Yb = w->adj[1];
  if (GL) memcpy(Y, GL, n * dout * sizeof *GL);
  else memset(Y, 0, n * dout * sizeof *Y);
  memcpy(Y + n * dout, S, m * n * dout * sizeof *S);
  for (int l = net->nlayers - 1; l >= 0; l--) {
    const Layer *L = &net->layer[l];
    size_t out = L->out;
    const real *d1 = w->d1[l], *d2 = w->d2[l], *RU = w->RU[l];
    if (!plain_identity(L)) {
#pragma omp parallel for schedule(static) OMP_ROWS(rows, out)
      for (size_t i = 0; i < n; i++) {
        real *ya = Y + i * out;
        const real *g1 = d1 + i * out;
        for (size_t j = 0; j < out; j++) ya[j] *= g1[j];
        for (size_t p = 0; p < m; p++) {
          real *yr = Y + ((1 + p) * n + i) * out;
          if (d2) {
            const real *g2 = d2 + i * out, *ru = RU + (p * n + i) * out;
            for (size_t j = 0; j < out; j++) ya[j] += yr[j] * g2[j] * ru[j];
          }
          for (size_t j = 0; j < out; j++) yr[j] *= g1[j];
        }
      }
    }
    const real *Hin = l ? w->H[l - 1] : w->in;
    gemm_tn_acc(rows, out, L->in, L->alpha, Y, Hin, grad + L->w_off);
    if (L->has_bias) colsum_acc(n, out, L->beta, Y, w->ones, grad + L->b_off);
    if (l > 0) {
      gemm_nn(rows, L->in, out, L->alpha, Y, NET_W(net, l, theta), 0.0, Yb);
      real *t = Y;
      Y = Yb, Yb = t;
    }
  }
}
