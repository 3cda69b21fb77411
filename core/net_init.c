/* net_init.c: parameter initialisations (PyTorch default, He, Xavier, SIREN, NTK, orthogonal). */
#include <math.h>

#include "net.h"

/* W [out][in] semi-orthogonal, as torch.nn.init.orthogonal_ (gain 1): orthonormal rows
 * when out <= in (W Wᵀ = I), orthonormal columns otherwise (Wᵀ W = I), from a Gaussian W
 * by modified Gram-Schmidt (twice) on its min(out, in) rows or columns. Square layers are
 * orthogonal: the balanced start of a deep linear net (docs/PCBIAS.md). */
static void init_orthogonal(double *W, size_t out, size_t in, Rng *rng) {
  for (size_t i = 0; i < out * in; i++) W[i] = rng_normal(rng);
  /* r vectors of length c: vector i, element t at W[i * vs + t * es] */
  size_t r = out <= in ? out : in, c = out <= in ? in : out;
  size_t vs = out <= in ? in : 1, es = out <= in ? 1 : in;
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < r; i++) {
      double *a = W + i * vs, nrm = 0.0;
      for (size_t j = 0; j < i; j++) {
        const double *b = W + j * vs;
        double dot = 0.0;
        for (size_t t = 0; t < c; t++) dot += a[t * es] * b[t * es];
        for (size_t t = 0; t < c; t++) a[t * es] -= dot * b[t * es];
      }
      for (size_t t = 0; t < c; t++) nrm += a[t * es] * a[t * es];
      nrm = sqrt(nrm);
      for (size_t t = 0; t < c; t++) a[t * es] /= nrm;
    }
}

/* Fills W [out][in] and b [out] of one layer. `first` marks the first dense layer
 * after any embedding (SIREN treats it differently). */
static void init_layer(const NetSpec *spec, const Layer *L, int first, double *W, double *b,
                       Rng *rng) {
  double fan_in = (double)L->in, fan_out = (double)L->out;
  size_t nw = L->in * L->out;
  double torch_bound = 1.0 / sqrt(fan_in);  /* kaiming_uniform(a=√5) and the bias rule */
  switch (spec->init) {
    case INIT_TORCH:
      for (size_t i = 0; i < nw; i++) W[i] = rng_uniform_in(rng, -torch_bound, torch_bound);
      break;
    case INIT_HE: {
      double sd = sqrt(2.0 / fan_in);
      for (size_t i = 0; i < nw; i++) W[i] = sd * rng_normal(rng);
      break;
    }
    case INIT_XAVIER: {
      double a = sqrt(6.0 / (fan_in + fan_out));
      for (size_t i = 0; i < nw; i++) W[i] = rng_uniform_in(rng, -a, a);
      break;
    }
    case INIT_SIREN: {
      double w0 = spec->act.kind == ACT_SINE ? spec->act.w0 : 30.0;
      double a = first ? 1.0 / fan_in : sqrt(6.0 / fan_in) / w0;
      for (size_t i = 0; i < nw; i++) W[i] = rng_uniform_in(rng, -a, a);
      break;
    }
    case INIT_NTK:
      for (size_t i = 0; i < nw; i++) W[i] = rng_normal(rng);
      break;
    case INIT_ORTHOGONAL:
      init_orthogonal(W, L->out, L->in, rng);
      break;
  }
  if (!b) return;
  for (size_t i = 0; i < L->out; i++) {
    if (spec->bias == BIAS_ZERO) b[i] = 0;
    else if (spec->init == INIT_NTK) b[i] = rng_normal(rng);
    else if (spec->init == INIT_HE || spec->init == INIT_XAVIER || spec->init == INIT_ORTHOGONAL)
      b[i] = 0;
    else b[i] = rng_uniform_in(rng, -torch_bound, torch_bound);
  }
}

void net_init_params(const Net *net, double *theta, Rng *rng) {
  int first_dense = 1;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (!L->trainable) continue;
    double *W = theta + L->w_off;
    double *b = L->has_bias ? theta + L->b_off : NULL;
    if (L->act.kind == ACT_COSSIN) {  /* learned Fourier features: B ~ N(0, σ²), W = 2πB */
      for (size_t i = 0; i < L->in * L->out; i++)
        W[i] = 2.0 * M_PI * net->spec.fourier_sigma * rng_normal(rng);
      continue;
    }
    init_layer(&net->spec, L, first_dense, W, b, rng);
    first_dense = 0;
  }
}
