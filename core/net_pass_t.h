/*
 * net_pass_t.h: the pass engine, written once for a real type (included, not a header).
 *
 * core/net_pass.c includes it with real = double (the names of net.h) and
 * core/net_pass_f32.c with real = float (the _f32 names): forward, backward,
 * R-forward and R-backward over a batch, one R-engine for the gradient, the exact
 * Hessian-vector product, the Gauss-Newton product, Jacobian products and the Stein
 * divergence gradient (docs/MATH.md). Dense layers are GEMMs through CBLAS; every
 * elementwise step is one fused pass over rows with OpenMP. Nothing here allocates
 * outside _alloc: workspaces come from net_cache_alloc / net_rwork_alloc.
 *
 * The includer defines: real, NP(name) (the public name), NetCacheT, NetRWorkT,
 * CBLAS_GEMM, CBLAS_GEMV, ACT_EVAL, RCOS, RSIN, NET_W, NET_B, NT_SWAP and
 * gemm_swap_counted (net.h, net_gemm_swap_set). Per-unit scales (L->s),
 * α, β and the loss scratch (aux, out64) stay double in both.
 */
#define OMP_ROWS(n, w) if ((size_t)(n) * (size_t)(w) > 8192)

/* An identity layer without per-unit scales: d1 = 1, d2 = 0, A = U. */
static int plain_identity(const Layer *L) { return L->act.kind == ACT_IDENTITY && !L->s; }

/* s⊙σ'(Z) is stored (c->d1): σ' is not a function of σ (see the table in net.h). */
static int d1_stored(const Layer *L) {
  ActKind k = L->act.kind;
  return k == ACT_SOFTPLUS || k == ACT_GELU || k == ACT_SINE || k == ACT_HAT || k == ACT_SWISH;
}

/* The curvature weight D ⊙ s²⊙σ''(Z) is stored (c->K): not a function of A and G. */
static int k_stored(const Layer *L) {
  ActKind k = L->act.kind;
  return k == ACT_SOFTPLUS || k == ACT_GELU || k == ACT_SINE || k == ACT_SWISH ||
         k == ACT_COSSIN;
}

/* gemm_nt's transposed form applies (net.h, net_gemm_swap_set): a long inner dimension,
 * a narrow output, enough rows. */
static int nt_swap_shape(size_t n, size_t out, size_t in) {
  return NT_SWAP && in >= 512 && out <= 512 && n >= 512;
}

/* Scratch length for the transposed form on cap rows of net's layers (0: none). */
static size_t nt_scratch_len(const Net *net, size_t cap) {
  if (!NT_SWAP || !net_gemm_swap_on()) return 0;
  size_t w = 0;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (nt_swap_shape(cap, L->out, L->in) && L->out > w) w = L->out;
  }
  return w * cap;
}

/* A buffer of the cache for the forward's transposed GEMM at layer l (n × out), which the
 * forward does not need before the layer's GEMM is done: the layer's own G (the backward
 * writes it), else the first-order D scratch; NULL when neither is free or the transposed
 * form does not apply. *len its capacity. */
static real *nt_forward_buffer(const Net *net, const NetCacheT *c, int l, size_t n,
                               size_t *len) {
  const Layer *L = &net->layer[l];
  *len = 0;
  if (!nt_swap_shape(n, L->out, L->in) || !net_gemm_swap_on()) return NULL;
  if (c->G[l] && c->G[l] != c->A[l]) {
    *len = c->cap * L->out;
    return c->G[l];
  }
  if (c->dbuf && c->D[l] == c->dbuf) { /* the scratch is as wide as the widest A_l */
    *len = c->cap * L->out_act;
    return c->dbuf;
  }
  return NULL;
}

/* The forward writes s²⊙σ''(Z) into K (cos/sin: the backward forms K from D and A). */
static int k_from_forward(const NetCacheT *c, const Net *net, int l) {
  return c->K[l] && net->layer[l].act.kind != ACT_COSSIN;
}

/* σ'' is identically zero (no curvature term in R{G}). */
static int linear_pieces(const Layer *L) {
  ActKind k = L->act.kind;
  return k == ACT_IDENTITY || k == ACT_RELU || k == ACT_HAT;
}

/*
 * Second order: per layer A, G, and d1, K where stored (net.h); a D scratch for
 * cos/sin layers. First order (the gradient): G_l of a hidden layer is written over
 * A_l, which is dead once dW_{l+1} and s⊙σ'(Z_l) have used it; D_l goes to one
 * scratch shared by all layers (a plain identity layer writes D_l = G_l straight
 * over A_l). Only the top layer keeps a G of its own (and a cos/sin layer, whose G
 * is half the width of its A).
 */
NetCacheT *NP(net_cache_alloc)(const Net *net, size_t cap, int second_order) {
  NetCacheT *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->cap = cap;
  c->second_order = second_order;
  int ok = 1, top = net->nlayers - 1, low = net->first_trainable;
  size_t dw = 0;  /* first order: width of the shared D scratch */
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    int cossin = L->act.kind == ACT_COSSIN;
    ok &= !!(c->A[l] = malloc(cap * L->out_act * sizeof(real)));
    if (d1_stored(L)) ok &= !!(c->d1[l] = malloc(cap * L->out * sizeof(real)));
    if (l < low) continue;
    if (second_order || l == top || cossin) {
      ok &= !!(c->G[l] = malloc(cap * L->out * sizeof(real)));
    } else {
      c->G[l] = c->A[l];
    }
    if (l == top) continue;
    if (second_order) {
      if (k_stored(L)) ok &= !!(c->K[l] = malloc(cap * L->out * sizeof(real)));
      if (cossin) ok &= !!(c->D[l] = malloc(cap * L->out_act * sizeof(real)));
    } else if (!plain_identity(L) && L->out_act > dw) {
      dw = L->out_act;
    }
  }
  if (dw) {
    ok &= !!(c->dbuf = malloc(cap * dw * sizeof(real)));
    for (int l = low; l < top; l++)
      if (!plain_identity(&net->layer[l])) c->D[l] = c->dbuf;
  }
  ok &= !!(c->aux = malloc(cap * net->d_out * sizeof(double)));
  if (sizeof(real) != sizeof(double)) ok &= !!(c->out64 = malloc(cap * net->d_out * sizeof(double)));
  ok &= !!(c->ones = malloc(cap * sizeof(real)));
  if (!ok) {
    NP(net_cache_free)(c);
    return NULL;
  }
  for (size_t i = 0; i < cap; i++) c->ones[i] = 1.0;
  return c;
}

void NP(net_cache_free)(NetCacheT *c) {
  if (!c) return;
  for (int l = 0; l < NET_MAX_LAYERS; l++) {
    if (c->G[l] != c->A[l]) free(c->G[l]);
    if (c->D[l] != c->dbuf) free(c->D[l]);
    free(c->A[l]);
    free(c->d1[l]);
    free(c->K[l]);
  }
  free(c->dbuf);
  free(c->aux);
  free(c->out64);
  free(c->ones);
  free(c);
}

NetRWorkT *NP(net_rwork_alloc)(const Net *net, size_t cap) {
  NetRWorkT *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->cap = cap;
  int ok = 1, top = net->nlayers - 1;
  size_t sw = 0;  /* width of the shared R{A} scratch */
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    w->ra_is_ru[l] = plain_identity(L);
    if (w->ra_is_ru[l] || l == top) ok &= !!(w->RA[l] = malloc(cap * L->out_act * sizeof(real)));
    else if (L->out_act > sw) sw = L->out_act;
    if (w->ra_is_ru[l]) w->RU[l] = w->RA[l];
    else ok &= !!(w->RU[l] = malloc(cap * L->out * sizeof(real)));
  }
  if (sw) {
    ok &= !!(w->scratch = malloc(cap * sw * sizeof(real)));
    for (int l = 0; l < top; l++)
      if (!w->ra_is_ru[l]) w->RA[l] = w->scratch;
  }
  w->scratch_holds = -1;
  if ((w->nt_len = nt_scratch_len(net, cap))) ok &= !!(w->nt = malloc(w->nt_len * sizeof(real)));
  if (!ok) {
    NP(net_rwork_free)(w);
    return NULL;
  }
  return w;
}

void NP(net_rwork_free)(NetRWorkT *w) {
  if (!w) return;
  for (int l = 0; l < NET_MAX_LAYERS; l++) {
    if (!w->ra_is_ru[l]) free(w->RU[l]);
    if (w->RA[l] != w->scratch) free(w->RA[l]);
  }
  free(w->scratch);
  free(w->nt);
  free(w);
}

/* ------------------------------------------------------- derivative kernels */

/* One row of a layer that is not cos/sin: y = x ⊙ s⊙σ'(Z), with s⊙σ'(Z) from the
 * row a of A, or the row g1 of the stored d1 (net.h). y may alias x. */
static inline void mul_d1_row(ActKind k, const double *s, size_t out, const real *a,
                              const real *g1, const real *x, real *y) {
  switch (k) {
    case ACT_IDENTITY:
      if (s)
        for (size_t j = 0; j < out; j++) y[j] = x[j] * s[j];
      else if (y != x)
        memcpy(y, x, out * sizeof *y);
      return;
    case ACT_TANH:
      if (s)
        for (size_t j = 0; j < out; j++) y[j] = x[j] * (s[j] * (1 - a[j] * a[j]));
      else
        for (size_t j = 0; j < out; j++) y[j] = x[j] * (1 - a[j] * a[j]);
      return;
    case ACT_SIGMOID:
      if (s)
        for (size_t j = 0; j < out; j++) y[j] = x[j] * (s[j] * (a[j] * (1 - a[j])));
      else
        for (size_t j = 0; j < out; j++) y[j] = x[j] * (a[j] * (1 - a[j]));
      return;
    case ACT_RELU:
      if (s)
        for (size_t j = 0; j < out; j++) y[j] = x[j] * (a[j] > 0 ? s[j] : 0.0);
      else  /* in real: the float build's loop stays in float (and vectorises) */
        for (size_t j = 0; j < out; j++) y[j] = x[j] * (a[j] > 0 ? (real)1 : (real)0);
      return;
    default:
      for (size_t j = 0; j < out; j++) y[j] = x[j] * g1[j];
      return;
  }
}

/* y = x where a > 0, else x·0 (ReLU's σ' without scales) over n entries, as mul_d1_row's
 * rows would give it; y may alias x. A SIMD leaf (simd.h). */
/* NP(): clang emits a clone's resolver as a global symbol even for a static function, so
 * the two precisions' copies need two names */
CS_SIMD_CLONES
static void NP(relu_mask)(size_t n, const real *a, const real *x, real *y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] * (a[i] > 0 ? (real)1 : (real)0);
}

/* One row of R{G} = R{D} ⊙ s⊙σ'(Z) + D ⊙ s²⊙σ''(Z) ⊙ R{U}, written over ru (R{U}) in
 * place; D ⊙ s²⊙σ''(Z) is G ⊙ (−2 s⊙A) (tanh), G ⊙ s⊙(1 − 2A) (sigmoid) or stored K. */
static inline void rgrad_row(ActKind kind, const double *s, size_t out, const real *a,
                             const real *g1, const real *g, const real *kw,
                             const real *rd, real *ru) {
  switch (kind) {
    case ACT_TANH:
      if (s)
        for (size_t j = 0; j < out; j++)
          ru[j] = rd[j] * (s[j] * (1 - a[j] * a[j])) + g[j] * (-2 * s[j] * a[j]) * ru[j];
      else
        for (size_t j = 0; j < out; j++)
          ru[j] = rd[j] * (1 - a[j] * a[j]) + g[j] * (-2 * a[j]) * ru[j];
      return;
    case ACT_SIGMOID:
      if (s)
        for (size_t j = 0; j < out; j++)
          ru[j] = rd[j] * (s[j] * (a[j] * (1 - a[j]))) + g[j] * (s[j] * (1 - 2 * a[j])) * ru[j];
      else
        for (size_t j = 0; j < out; j++)
          ru[j] = rd[j] * (a[j] * (1 - a[j])) + g[j] * (1 - 2 * a[j]) * ru[j];
      return;
    default:  /* K stored */
      for (size_t j = 0; j < out; j++) ru[j] = rd[j] * g1[j] + kw[j] * ru[j];
      return;
  }
}

/* ------------------------------------------------------------------ forward */

/* C[n][out] = alpha * A[n][in] Wᵀ + beta_c * C, C with row stride ldc. With a scratch T
 * of nt_len >= n·out and the shape for it, as T = alpha W Aᵀ [out][n] transposed into C
 * (net.h, net_gemm_swap_set). */
static void gemm_nt_ld(size_t n, size_t out, size_t in, real alpha, const real *A,
                       const real *W, real beta_c, real *C, size_t ldc, real *T, size_t nt_len) {
  if (T && n * out <= nt_len && nt_swap_shape(n, out, in)) {
    CBLAS_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)out, (int)n, (int)in, alpha, W,
                (int)in, A, (int)in, 0.0, T, (int)n);
    gemm_swap_counted();
    enum { B = 32 }; /* tiles: both sides' rows stay in L1 */
    for (size_t i0 = 0; i0 < n; i0 += B)
      for (size_t j0 = 0; j0 < out; j0 += B) {
        size_t i1 = i0 + B < n ? i0 + B : n, j1 = j0 + B < out ? j0 + B : out;
        for (size_t i = i0; i < i1; i++) {
          real *c = C + i * ldc;
          if (beta_c == 0)
            for (size_t j = j0; j < j1; j++) c[j] = T[j * n + i];
          else
            for (size_t j = j0; j < j1; j++) c[j] = T[j * n + i] + beta_c * c[j];
        }
      }
    return;
  }
  CBLAS_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, alpha, A,
              (int)in, W, (int)in, beta_c, C, (int)ldc);
}

static void gemm_nt(size_t n, size_t out, size_t in, real alpha, const real *A, const real *W,
                    real beta_c, real *C, real *T, size_t nt_len) {
  gemm_nt_ld(n, out, in, alpha, A, W, beta_c, C, out, T, nt_len);
}

/* C[out][in] += alpha * G[n][out]ᵀ A[n][in] */
static void gemm_tn_acc(size_t n, size_t out, size_t in, real alpha, const real *G,
                        const real *A, real *C) {
  CBLAS_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n, alpha, G,
              (int)out, A, (int)in, 1.0, C, (int)in);
}

/* C[n][in] = alpha * G[n][out] W[out][in] + beta_c * C */
static void gemm_nn(size_t n, size_t in, size_t out, real alpha, const real *G, const real *W,
                    real beta_c, real *C) {
  CBLAS_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out, alpha, G,
              (int)out, W, (int)in, beta_c, C, (int)in);
}

/* b[out] += alpha * Gᵀ 1 */
static void colsum_acc(size_t n, size_t out, real alpha, const real *G, const real *ones,
                       real *b) {
  CBLAS_GEMV(CblasRowMajor, CblasTrans, (int)n, (int)out, alpha, G, (int)out, ones, 1, 1.0, b, 1);
}

void NP(net_forward)(const Net *net, const real *theta, const real *X, size_t n, NetCacheT *c) {
  c->n = n;
  c->X = X;
  c->fresh = 1;
  const real *Ain = X;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    const real *W = NET_W(net, l, theta), *b = NET_B(net, l, theta);
    size_t out = L->out, tlen;
    real *A = c->A[l], *T = nt_forward_buffer(net, c, l, n, &tlen);
    if (L->act.kind == ACT_COSSIN) {
      /* U into the first half of each row of A, then A = [cos U | sin U] in place. */
      gemm_nt_ld(n, out, L->in, L->alpha, Ain, W, 0.0, A, 2 * out, T, tlen);
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
      for (size_t i = 0; i < n; i++) {
        real *a = A + i * 2 * out;
        for (size_t j = 0; j < out; j++) {
          real z = a[j] + (b ? L->beta * b[j] : 0.0);
          a[j] = RCOS(z);
          a[out + j] = RSIN(z);
        }
      }
      Ain = A;
      continue;
    }
    gemm_nt(n, out, L->in, L->alpha, Ain, W, 0.0, A, T, tlen);
    if (plain_identity(L)) {
      if (b) {
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
        for (size_t i = 0; i < n; i++)
          for (size_t j = 0; j < out; j++) A[i * out + j] += L->beta * b[j];
      }
      Ain = A;
      continue;
    }
    Act act = L->act;
    const double *s = L->s;
    real beta = L->beta;
    real *d1 = c->d1[l], *d2 = k_from_forward(c, net, l) ? c->K[l] : NULL;
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n; i++) {
      real *a = A + i * out, *g1 = d1 ? d1 + i * out : NULL, *g2 = d2 ? d2 + i * out : NULL;
      if (b)
        for (size_t j = 0; j < out; j++) a[j] += beta * b[j];
      if (s)
        for (size_t j = 0; j < out; j++) a[j] *= s[j];
      ACT_EVAL(act, out, a, a, g1, g2);  /* in place: Z -> σ(Z) */
      if (s) {
        if (g1)
          for (size_t j = 0; j < out; j++) g1[j] *= s[j];
        if (g2)
          for (size_t j = 0; j < out; j++) g2[j] *= s[j] * s[j];
      }
    }
    Ain = A;
  }
}

/* G = D ⊙ s⊙σ'(Z) for layer l on n rows, and K = D ⊙ s²⊙σ''(Z) where stored. D is in
 * the scratch c->D[l], or else in G's buffer (in place). G may be A's buffer (first
 * order): each element of A is read before G's is written over it. */
/* keep: leave K as the forward left it (net_backward_keep) */
static void grad_through_act(const Net *net, int l, size_t n, NetCacheT *c, int keep) {
  const Layer *L = &net->layer[l];
  size_t out = L->out;
  const real *A = c->A[l];
  real *G = c->G[l], *K = keep ? NULL : c->K[l];
  if (L->act.kind == ACT_COSSIN) {
    const real *D = c->D[l];
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n; i++) {
      const real *dc = D + i * 2 * out, *a = A + i * 2 * out;
      real *g = G + i * out;
      for (size_t j = 0; j < out; j++) g[j] = -dc[j] * a[out + j] + dc[out + j] * a[j];
      if (K) {
        real *k = K + i * out;
        for (size_t j = 0; j < out; j++) k[j] = -(dc[j] * a[j] + dc[out + j] * a[out + j]);
      }
    }
    return;
  }
  if (plain_identity(L) && !c->D[l]) return;  /* G = D, already in place */
  ActKind kind = L->act.kind;
  const double *s = L->s;
  const real *d1 = c->d1[l], *D = c->D[l] ? c->D[l] : G;
  if (kind == ACT_RELU && !s && !K) {  /* the training pass's common case: one flat mask */
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
    for (size_t i = 0; i < n; i += 64) {
      size_t o = i * out;
      NP(relu_mask)((n - i < 64 ? n - i : 64) * out, A + o, D + o, G + o);
    }
    return;
  }
#pragma omp parallel for schedule(static) OMP_ROWS(n, out)
  for (size_t i = 0; i < n; i++) {
    real *g = G + i * out;
    const real *dd = D + i * out;
    if (K) {
      real *k = K + i * out;
      for (size_t j = 0; j < out; j++) k[j] *= dd[j];
    }
    mul_d1_row(kind, s, out, A + i * out, d1 ? d1 + i * out : NULL, dd, g);
  }
}

static void backward(const Net *net, const real *theta, NetCacheT *c, const real *GL,
                     real *grad, int keep) {
  size_t n = c->n;
  int top = net->nlayers - 1, low = net->first_trainable;
  /* A second backward: K (second order) or A (first order) was consumed by the first. */
  int consumed = 0;
  for (int l = low; l < top; l++) consumed |= k_from_forward(c, net, l) || c->G[l] == c->A[l];
  if (consumed && !c->fresh) NP(net_forward)(net, theta, c->X, n, c);
  if (GL != c->G[top]) memcpy(c->G[top], GL, n * net->d_out * sizeof *GL);
  grad_through_act(net, top, n, c, keep);
  for (int l = top; l >= low; l--) {
    const Layer *L = &net->layer[l];
    const real *Ain = l ? c->A[l - 1] : c->X;
    if (grad && L->trainable) {
      gemm_tn_acc(n, L->out, L->in, L->alpha, c->G[l], Ain, grad + L->w_off);
      if (L->has_bias) colsum_acc(n, L->out, L->beta, c->G[l], c->ones, grad + L->b_off);
    }
    if (l > low) {
      real *D = c->D[l - 1] ? c->D[l - 1] : c->G[l - 1];
      gemm_nn(n, L->in, L->out, L->alpha, c->G[l], NET_W(net, l, theta), 0.0, D);
      grad_through_act(net, l - 1, n, c, keep);
    }
  }
  c->fresh = keep;
}

void NP(net_backward)(const Net *net, const real *theta, NetCacheT *c, const real *GL,
                      real *grad) {
  backward(net, theta, c, GL, grad, 0);
}

void NP(net_backward_keep)(const Net *net, const real *theta, NetCacheT *c, const real *GL,
                           real *grad) {
  int keep = c->second_order;
  for (int l = net->first_trainable; l < net->nlayers - 1 && keep; l++)
    keep = !c->D[l] && c->G[l] != c->A[l];  /* cos/sin layers form D⊙(…) in K from D */
  backward(net, theta, c, GL, grad, keep);
}

/* ---------------------------------------------------------------- R-passes */

/* R{A_l} = s⊙σ'(Z) ⊙ R{U_l} (cos/sin: (−sin Z, cos Z) ⊙ R{U}) into w->RA[l], after adding
 * β c (c_b: the bias direction, or NULL) to R{U_l}. Nothing for plain identity layers.
 * kb directions at once: R-rows are [n][kb][·] (row r is example r / kb, direction r % kb)
 * and c_b is [kb][out]; kb = 1 is the single pass. */
static void ra_from_ru(const Net *net, int l, size_t n, size_t kb, const NetCacheT *c,
                       NetRWorkT *w, const real *c_b) {
  const Layer *L = &net->layer[l];
  size_t out = L->out, nr = n * kb;
  real *RU = w->RU[l], *RA = w->RA[l], beta = L->beta;
  const real *d1 = c->d1[l], *A = c->A[l];
  const double *s = L->s;
  ActKind kind = L->act.kind;
  if (RA == w->scratch) w->scratch_holds = l;
  if (kind == ACT_COSSIN) {
#pragma omp parallel for schedule(static) OMP_ROWS(nr, out)
    for (size_t r = 0; r < nr; r++) {
      real *ru = RU + r * out, *ra = RA + r * 2 * out;
      const real *a = A + (r / kb) * 2 * out, *cb = c_b ? c_b + (r % kb) * out : NULL;
      for (size_t j = 0; j < out; j++) {
        if (cb) ru[j] += beta * cb[j];
        ra[j] = -a[out + j] * ru[j];
        ra[out + j] = a[j] * ru[j];
      }
    }
  } else if (w->ra_is_ru[l]) {
    if (c_b) {
#pragma omp parallel for schedule(static) OMP_ROWS(nr, out)
      for (size_t r = 0; r < nr; r++) {
        const real *cb = c_b + (r % kb) * out;
        for (size_t j = 0; j < out; j++) RU[r * out + j] += beta * cb[j];
      }
    }
  } else {
#pragma omp parallel for schedule(static) OMP_ROWS(nr, out)
    for (size_t r = 0; r < nr; r++) {
      real *ru = RU + r * out;
      size_t i = r / kb;
      if (c_b) {
        const real *cb = c_b + (r % kb) * out;
        for (size_t j = 0; j < out; j++) ru[j] += beta * cb[j];
      }
      mul_d1_row(kind, s, out, A + i * out, d1 ? d1 + i * out : NULL, ru, RA + r * out);
    }
  }
}

/* The R-forward for kb directions: vf holds them in the block layout (net.h), so the
 * direction GEMM is A_{l-1} [V_1; …; V_kb]ᵀ, kb times wider, and the R{A} GEMM kb times
 * taller. kb = 1 with vf = v is net_rforward. */
static void rforward(const Net *net, const real *theta, const NetCacheT *c, const real *vf,
                     size_t kb, const real *RA0, NetRWorkT *w) {
  size_t n = c->n;
  const real *RAin = RA0;  /* NULL: identically zero */
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    const real *Ain = l ? c->A[l - 1] : c->X;
    int has_v = vf && L->trainable;
    if (!RAin && !has_v) {
      w->zero[l] = 1;
      continue;
    }
    w->zero[l] = 0;
    size_t out = L->out;
    real *RU = w->RU[l];
    real beta_c = 0.0;
    if (RAin) {
      gemm_nt(n * kb, out, L->in, L->alpha, RAin, NET_W(net, l, theta), 0.0, RU, w->nt, w->nt_len);
      beta_c = 1.0;
    }
    if (has_v) gemm_nt(n, kb * out, L->in, L->alpha, Ain, vf + kb * L->w_off, beta_c, RU, w->nt, w->nt_len);
    ra_from_ru(net, l, n, kb, c, w, has_v && L->has_bias ? vf + kb * L->b_off : NULL);
    RAin = w->RA[l];
  }
}

void NP(net_rforward)(const Net *net, const real *theta, const NetCacheT *c, const real *v,
                  const real *RA0, NetRWorkT *w) {
  rforward(net, theta, c, v, 1, RA0, w);
}

void NP(net_rforward_block)(const Net *net, const real *theta, const NetCacheT *c,
                            const real *vf, size_t k, NetRWorkT *w) {
  rforward(net, theta, c, vf, k, NULL, w);
}

/* R{G} of layer l (below a dense layer) from R{D}, over R{U} in place (w->RU[l]):
 *   R{G} = R{D} ⊙ s⊙σ'(Z) + [hessian] D ⊙ s²⊙σ''(Z) ⊙ R{U}   (cos/sin pair for ACT_COSSIN).
 * R-rows [n][kb][·] as in ra_from_ru. */
static void rgrad_through_act(const Net *net, int l, size_t n, size_t kb, const real *RD,
                              const NetCacheT *c, NetRWorkT *w, int hessian) {
  const Layer *L = &net->layer[l];
  size_t out = L->out, nr = n * kb;
  const real *A = c->A[l], *d1 = c->d1[l], *G = c->G[l], *K = c->K[l];
  const double *s = L->s;
  real *RG = w->RU[l];
  int curv = hessian && !w->zero[l] && !linear_pieces(L);
  if (L->act.kind == ACT_COSSIN) {
#pragma omp parallel for schedule(static) OMP_ROWS(nr, out)
    for (size_t r = 0; r < nr; r++) {
      size_t i = r / kb;
      const real *rd = RD + r * 2 * out, *a = A + i * 2 * out;
      real *rg = RG + r * out;
      for (size_t j = 0; j < out; j++) {
        real g = -rd[j] * a[out + j] + rd[out + j] * a[j];
        rg[j] = curv ? g + K[i * out + j] * rg[j] : g;
      }
    }
    return;
  }
  if (plain_identity(L)) return;  /* R{G} = R{D}, already in place */
  ActKind kind = L->act.kind;
#pragma omp parallel for schedule(static) OMP_ROWS(nr, out)
  for (size_t r = 0; r < nr; r++) {
    size_t o = (r / kb) * out, ro = r * out;
    if (curv)
      rgrad_row(kind, s, out, A + o, d1 ? d1 + o : NULL, G + o, K ? K + o : NULL, RD + ro,
                RG + ro);
    else
      mul_d1_row(kind, s, out, A + o, d1 ? d1 + o : NULL, RD + ro, RG + ro);
  }
}

/* The R-backward for kb directions (block layout, net.h): vf, outA as [kb][out][in] blocks
 * (the R{G}ᵀ A and bias terms), vb, outB as [out][kb][in] (the G V and Gᵀ R{A} terms of the
 * exact Hessian), so that every GEMM is one call kb times wider or taller. kb = 1 with
 * vf = vb = v and outA = outB = out is net_rbackward. */
static void rbackward(const Net *net, const real *theta, const NetCacheT *c, const real *vf,
                      const real *vb, size_t kb, const real *RA0, NetRWorkT *w, const real *RGL,
                      int mode, real *outA, real *outB) {
  size_t n = c->n;
  int top = net->nlayers - 1, low = net->first_trainable;
  int hessian = mode == NET_R_HESSIAN;
  const Layer *T = &net->layer[top];
  const real *RG = RGL;
  if (T->s) {  /* R{G_top} = R{dL/dF} ⊙ s, into R{U_top} (not needed any more) */
    real *rg = w->RU[top];
    size_t nr = n * kb;
#pragma omp parallel for schedule(static) OMP_ROWS(nr, T->out)
    for (size_t i = 0; i < nr; i++)
      for (size_t j = 0; j < T->out; j++) rg[i * T->out + j] = RGL[i * T->out + j] * T->s[j];
    RG = rg;
  }
  for (int l = top; l >= low; l--) {
    const Layer *L = &net->layer[l];
    const real *Ain = l ? c->A[l - 1] : c->X;
    const real *RAin = l ? (w->zero[l - 1] ? NULL : w->RA[l - 1]) : RA0;
    int has_v = vf && L->trainable;
    if (hessian && L->trainable && RAin && l && RAin == w->scratch && w->scratch_holds != l - 1)
      ra_from_ru(net, l - 1, n, kb, c, w, NULL);  /* R{A_{l-1}} again, into the shared scratch */
    if (L->trainable) {
      gemm_tn_acc(n, kb * L->out, L->in, L->alpha, RG, Ain, outA + kb * L->w_off);
      if (hessian && RAin)
        gemm_tn_acc(n, L->out, kb * L->in, L->alpha, c->G[l], RAin, outB + kb * L->w_off);
      if (L->has_bias) colsum_acc(n, kb * L->out, L->beta, RG, c->ones, outA + kb * L->b_off);
    }
    if (l > low) {
      /* R{A_{l-1}} is dead now: R{D_{l-1}} goes over it (the scratch, or R{U_{l-1}} itself on a
       * plain identity layer), then R{G_{l-1}} over R{U_{l-1}} in place. */
      real *RD = w->RA[l - 1];
      if (RD == w->scratch) w->scratch_holds = -1;
      gemm_nn(n * kb, L->in, L->out, L->alpha, RG, NET_W(net, l, theta), 0.0, RD);
      if (hessian && has_v)
        gemm_nn(n, kb * L->in, L->out, L->alpha, c->G[l], vb + kb * L->w_off, 1.0, RD);
      rgrad_through_act(net, l - 1, n, kb, RD, c, w, hessian);
      RG = w->RU[l - 1];
    }
  }
}

void NP(net_rbackward)(const Net *net, const real *theta, const NetCacheT *c, const real *v,
                   const real *RA0, NetRWorkT *w, const real *RGL, int mode, real *out) {
  rbackward(net, theta, c, v, v, 1, RA0, w, RGL, mode, out, out);
}

void NP(net_rbackward_block)(const Net *net, const real *theta, const NetCacheT *c,
                             const real *vf, const real *vb, size_t k, NetRWorkT *w,
                             const real *RGL, int mode, real *outA, real *outB) {
  rbackward(net, theta, c, vf, vb, k, NULL, w, RGL, mode, outA, outB);
}

void NP(net_cache_rows)(const Net *net, const NetCacheT *c, size_t r0, size_t m, NetCacheT *view) {
  *view = *c;
  view->n = m;
  view->cap = m;
  view->X = c->X + r0 * net->d_in;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (c->A[l]) view->A[l] = c->A[l] + r0 * L->out_act;
    if (c->G[l]) view->G[l] = c->G[l] + r0 * L->out;
    if (c->d1[l]) view->d1[l] = c->d1[l] + r0 * L->out;
    if (c->K[l]) view->K[l] = c->K[l] + r0 * L->out;
    if (c->D[l]) view->D[l] = c->D[l] + r0 * L->out_act;
  }
  view->dbuf = NULL;
  view->aux = c->aux + r0 * net->d_out;
  view->out64 = c->out64 ? c->out64 + r0 * net->d_out : NULL;
}
