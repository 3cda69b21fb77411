/*
 * net.h: a multilayer perceptron over one flat parameter vector.
 *
 * Parameter layout (documented once, here): layers in order; for each trainable
 * layer its weight W row-major [out][in], then its bias b [out] when it has one.
 * Gradients, HVPs, optimizer state and eigenvectors share this layout, and
 * checkpoints store exactly this array (little-endian float64).
 *
 * Each layer computes, for a batch of n rows (row-major [n][width]):
 *   U = α A_prev Wᵀ + β 1 bᵀ        pre-activation (α, β: 1, or NTK scaling)
 *   Z = s ⊙ U                         s: MscaleDNN-1 per-unit factors, else 1
 *   A = σ(Z)                          last layer: σ = identity, A = F (output)
 * An input embedding is a first layer: Fourier features are a bias-free layer
 * with weight 2πB followed by z -> (cos z, sin z), width doubling; fixed B lives
 * in net->frozen (not in θ), learned B in θ like any layer.
 *
 * The passes (net_pass.c) cache what the R-operator needs: A, s⊙σ'(Z),
 * s²⊙σ''(Z) from the forward, G = dL/dU and D = dL/dA from the backward.
 * With those, G = D ⊙ d1 and the MATH.md formulas hold with U in place of Z.
 *
 * Ownership: Net is a plain struct the caller owns (net_init/net_deinit);
 * NetCache and NetRWork are heap workspaces (_alloc/_free, NULL-safe).
 * Thread safety: passes use OpenMP and BLAS inside; one pass per workspace.
 */
#ifndef CS_NET_H
#define CS_NET_H

#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "err.h"
#include "rng.h"

#define NET_MAX_LAYERS 16

typedef enum { EMB_NONE = 0, EMB_FOURIER, EMB_BASIC, EMB_MSCALE } EmbedKind;
typedef enum { INIT_TORCH = 0, INIT_HE, INIT_XAVIER, INIT_SIREN, INIT_NTK } InitKind;
typedef enum { BIAS_INIT = 0, BIAS_ZERO, BIAS_NONE } BiasMode;

typedef struct NetSpec {
  int nwidths;
  long widths[NET_MAX_LAYERS + 1];  /* input dim, hidden widths..., output dim */
  Act act;                          /* hidden activation */
  BiasMode bias;
  InitKind init;
  double ntk_beta;                  /* bias scale β under NTK parameterisation */
  int ntk_param;                    /* 1: U = (1/√in) A Wᵀ + β b */
  /* embedding */
  EmbedKind embed;
  long fourier_m;                   /* Gaussian Fourier features: m frequencies */
  double fourier_sigma;             /* B_ij ~ N(0, σ²) */
  int fourier_learned;              /* B trained (in θ) */
  int mscale_n;                     /* MscaleDNN-1: number of groups and their scales */
  double mscale[NET_MAX_LAYERS * 4];
} NetSpec;

typedef struct Layer {
  size_t in, out;        /* U is [n][out], input A_prev is [n][in] */
  size_t out_act;        /* width of A: out, or 2*out for ACT_COSSIN */
  Act act;
  int has_bias;
  int trainable;         /* 0: W lives in net->frozen */
  size_t w_off, b_off;   /* offsets into θ (or frozen when !trainable) */
  double alpha, beta;    /* U = α A Wᵀ + β b */
  const double *s;       /* per-unit factors [out] or NULL */
} Layer;

typedef struct Net {
  int nlayers;
  Layer layer[NET_MAX_LAYERS];
  size_t n_params;
  size_t d_in, d_out;
  double *frozen;        /* fixed embedding weights, owned */
  double *scales;        /* MscaleDNN factors, owned */
  int first_trainable;   /* index of the first layer with parameters in θ */
  NetSpec spec;
} Net;

/* Parses "mlp:784-200-200-10[,bias=init|zero|none]" into spec (keeps other fields). */
int netspec_parse_model(NetSpec *spec, const char *text, Err *err);
/* "none", "fourier:m=256,sigma=10[,learned=true]", "basic", "mscale:scales=1-2-4-8". */
int netspec_parse_embed(NetSpec *spec, const char *text, Err *err);
/* "torch", "he", "xavier", "siren", "ntk[:beta=0.1]". */
int netspec_parse_init(NetSpec *spec, const char *text, Err *err);
void netspec_default(NetSpec *spec);

/* Builds the layer structure; checks widths against the data dims (d_in, d_out).
 * rng draws the fixed Fourier matrix. */
int net_init(Net *net, const NetSpec *spec, Rng *rng, Err *err);
void net_deinit(Net *net);
/* Fills θ (length n_params) by the spec's initialisation. */
void net_init_params(const Net *net, double *theta, Rng *rng);
/* JSON describing the layout: layers, offsets, shapes, activations. Caller frees. */
char *net_layout_json(const Net *net);
/* Pointers to a layer's weight and bias for a given θ (frozen weights if fixed). */
const double *net_W(const Net *net, int l, const double *theta);
const double *net_b(const Net *net, int l, const double *theta);
/* Index of the output layer's W in θ and its size (for ‖W_out‖²). */
void net_output_block(const Net *net, size_t *off, size_t *len);

/* ---------------------------------------------------------------- passes */

typedef struct NetCache {
  size_t cap;                       /* rows it can hold */
  size_t n;                         /* rows of the last forward */
  const double *X;                  /* input [n][d_in], not owned */
  double *A[NET_MAX_LAYERS];        /* [cap][out_act]; A[L-1] = F */
  double *d1[NET_MAX_LAYERS];       /* s ⊙ σ'(Z)  [cap][out] */
  double *d2[NET_MAX_LAYERS];       /* s² ⊙ σ''(Z) [cap][out], when second order */
  double *G[NET_MAX_LAYERS];        /* dL/dU [cap][out] */
  double *D[NET_MAX_LAYERS];        /* dL/dA [cap][out_act] (l < L-1) */
  double *aux;                      /* [cap][d_out]: loss scratch (softmax p) */
  double *ones;                     /* [cap] of 1.0, for bias sums as GEMV */
  int second_order;
} NetCache;

NetCache *net_cache_alloc(const Net *net, size_t cap, int second_order);
void net_cache_free(NetCache *c);

/* Forward on n <= cap rows of X (kept by pointer). Output F = c->A[L-1]. */
void net_forward(const Net *net, const double *theta, const double *X, size_t n, NetCache *c);
/* Backward from GL = dL/dF [n][d_out]; fills c->G, c->D and adds the gradient to grad
 * (grad may be NULL to only fill G, D). Layers below `stop_at` are skipped (pass
 * 0 normally; first_trainable is used automatically when no input tangent is needed). */
void net_backward(const Net *net, const double *theta, NetCache *c, const double *GL,
                  double *grad);

typedef struct NetRWork {
  size_t cap;
  double *RU[NET_MAX_LAYERS];       /* R{U} [cap][out] */
  double *RA[NET_MAX_LAYERS];       /* R{A} [cap][out_act] */
  double *RG;                       /* R{G} scratch [cap][max width] */
  double *RD;                       /* R{D} scratch [cap][max width] */
  int zero[NET_MAX_LAYERS];         /* R{A_l} is identically zero (below the direction) */
  int ra_is_ru[NET_MAX_LAYERS];     /* identity layer without scales: R{A} stored, R{U} = R{A} */
} NetRWork;

NetRWork *net_rwork_alloc(const Net *net, size_t cap);
void net_rwork_free(NetRWork *w);

/* R-forward along parameter direction v (NULL: 0) and input tangent RA0 [n][d_in]
 * (NULL: 0) on the rows cached in c. R{F} ends in w->RA[L-1] ([n][d_out]). */
void net_rforward(const Net *net, const double *theta, const NetCache *c, const double *v,
                  const double *RA0, NetRWork *w);
/* R-backward from RGL = R{dL/dF} [n][d_out] (may alias nothing in w).
 * mode NET_R_HESSIAN: the exact R-operator (needs c->G, c->D and d2);
 * mode NET_R_GGN: the linearised net (drops the G, D terms): Jᵀ RGL-backprop.
 * Adds R{∇θ L} into out. */
enum { NET_R_HESSIAN = 0, NET_R_GGN = 1 };
void net_rbackward(const Net *net, const double *theta, const NetCache *c, const double *v,
                   const double *RA0, NetRWork *w, const double *RGL, int mode, double *out);

#endif
