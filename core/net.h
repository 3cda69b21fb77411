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
 * The passes (net_pass.c) cache what the R-operator needs, and no more (NetCache):
 * A from the forward and G = dL/dU from the backward; s⊙σ'(Z) only where σ' is
 * not a function of A; and, for the exact Hessian, D ⊙ s²⊙σ''(Z) only where it is
 * not a function of A and G (see NetCache). With those the docs/MATH.md formulas hold
 * with U in place of Z.
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
typedef enum {
  INIT_TORCH = 0, INIT_HE, INIT_XAVIER, INIT_SIREN, INIT_NTK, INIT_ORTHOGONAL
} InitKind;
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
  float *frozen32;       /* the same in float32, for the float32 passes, owned */
  size_t n_frozen;       /* length of frozen */
  double *scales;        /* MscaleDNN factors, owned */
  int first_trainable;   /* index of the first layer with parameters in θ */
  NetSpec spec;
} Net;

/* Parses "mlp:784-200-200-10[,bias=init|zero|none]" into spec (keeps other fields). */
int netspec_parse_model(NetSpec *spec, const char *text, Err *err);
/* "none", "fourier:m=256,sigma=10[,learned=true]", "basic", "mscale:scales=1-2-4-8". */
int netspec_parse_embed(NetSpec *spec, const char *text, Err *err);
/* "torch", "he", "xavier", "siren", "ntk[:beta=0.1]", "orthogonal". */
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
/* The same over a float32 copy of θ (frozen weights from net->frozen32). */
const float *net_W_f32(const Net *net, int l, const float *theta);
const float *net_b_f32(const Net *net, int l, const float *theta);
/* Index of the output layer's W in θ and its size (for ‖W_out‖²). */
void net_output_block(const Net *net, size_t *off, size_t *len);

/* ---------------------------------------------------------------- passes */

/*
 * What is stored per layer, by activation (s: the per-unit scales, 1 without):
 *
 *   σ          s⊙σ'(Z)            D ⊙ s²⊙σ''(Z)  (R-backward's curvature weight)
 *   identity   s                  0
 *   relu       s⊙1[A > 0]         0
 *   tanh       s⊙(1 − A²)         G ⊙ (−2 s⊙A)        since D ⊙ s⊙σ'(Z) = G
 *   sigmoid    s⊙A⊙(1 − A)        G ⊙ s⊙(1 − 2A)
 *   hat        stored (d1)        0
 *   softplus, gelu, sine, swish   stored (d1)         stored (K)
 *   cos/sin    from A (cos, sin)  stored (K) = −(D_cos ⊙ cos Z + D_sin ⊙ sin Z)
 *
 * D = dL/dA is never kept: the backward forms it in G's buffer and turns it into G
 * in place (cos/sin layers, twice as wide, use the scratch D[l]), K = D ⊙ K likewise.
 * A first-order cache (second_order = 0) serves the gradient: its backward writes
 * G_l over A_l (see net_cache_alloc in net_pass.c), so R-passes on it (GGN mode
 * only) must come after net_forward and before net_backward.
 */
#define NET_CACHE_FIELDS(real_) \
  size_t cap;                       /* rows it can hold */ \
  size_t n;                         /* rows of the last forward */ \
  const real_ *X;                  /* input [n][d_in], not owned */ \
  real_ *A[NET_MAX_LAYERS];        /* [cap][out_act]; A[L-1] = F */ \
  real_ *G[NET_MAX_LAYERS];        /* dL/dU [cap][out], layers >= first_trainable (else NULL). \
                                     * First order: G[l] = A[l] below the top (the backward \
                                     * writes G_l over A_l), so after it only F is kept. */ \
  real_ *d1[NET_MAX_LAYERS];       /* s ⊙ σ'(Z) [cap][out] where not derived from A, else NULL */ \
  real_ *K[NET_MAX_LAYERS];        /* second order, first_trainable <= l < L-1, where not derived: \
                                     * D ⊙ s²⊙σ''(Z) [cap][out] after net_backward \
                                     * (s²⊙σ''(Z) between net_forward and net_backward) */ \
  real_ *D[NET_MAX_LAYERS];        /* dL/dA scratch [cap][out_act] or NULL (D formed in G's \
                                     * buffer). Second order: cos/sin layers only. First \
                                     * order: the one buffer dbuf, shared by the layers. */ \
  real_ *dbuf;                     /* first order: the shared D scratch (owned) */ \
  double *aux;                      /* [cap][d_out]: loss scratch (softmax p) */ \
  double *out64;                    /* float32 cache: [cap][d_out], F and dL/dF in double for the \
                                     * loss (NULL in float64) */ \
  real_ *ones;                     /* [cap] of 1.0, for bias sums as GEMV */ \
  int second_order;                 /* G, K of every layer kept: what NET_R_HESSIAN needs */ \
  int fresh;                        /* forward done, backward not yet */
typedef struct NetCache { NET_CACHE_FIELDS(double) } NetCache;


/*
 * The dense layers' forward GEMM C = A·Wᵀ (rows × out, inner dimension in) runs about 20%
 * faster under OpenBLAS's AVX-512 DGEMM kernels as T = W·Aᵀ transposed into C, when the
 * inner dimension is long and the output narrow (in >= 512, out <= 512, rows >= 512:
 * cohen's 3072-wide and the EoS net's 784-wide first layers); under the AVX2 kernels and in
 * float32 it gains nothing, and with a short inner dimension the transpose costs more
 * (docs/PERFORMANCE.md, "The first layer's GEMM under AVX-512"). T goes to a buffer the
 * forward does not need yet (the layer's G, or the first-order D scratch), and in the
 * R-forward to a scratch of its own that R-workspaces allocated while it applies get
 * (rows × out of the widest such layer); results agree with the plain GEMM to rounding.
 * Mode: -1 (the default) when the kernel OpenBLAS runs is an AVX-512 one, 0 never, 1
 * always (tests, benchmarks); R-workspaces follow it from their next allocation. Not
 * thread-safe: set it before any pass runs.
 */
void net_gemm_swap_set(int mode);
/* Whether the transposed form applies now (the mode, and the kernel for -1). */
int net_gemm_swap_on(void);
/* GEMMs run in the transposed form so far, by all threads (tests and benchmarks). */
unsigned long net_gemm_swap_calls(void);

NetCache *net_cache_alloc(const Net *net, size_t cap, int second_order);
void net_cache_free(NetCache *c);

/* Forward on n <= cap rows of X (kept by pointer). Output F = c->A[L-1]. */
void net_forward(const Net *net, const double *theta, const double *X, size_t n, NetCache *c);
/* Backward from GL = dL/dF [n][d_out] (GL may be c->G[L-1]); fills c->G (and c->K) and
 * adds the gradient to grad (grad may be NULL to only fill G). Layers below
 * net->first_trainable are skipped. One backward per forward: the backward consumes K
 * (second order) or A (first order) in place, so a second one redoes the forward first. */
void net_backward(const Net *net, const double *theta, NetCache *c, const double *GL,
                  double *grad);
/* As net_backward, but on a second-order cache without cos/sin layers it leaves the cache
 * as the forward left it (K not consumed, still fresh): the next backward on the same
 * forward needs no forward again (the Stein critic's loss backward before its probes'). On
 * other caches it is net_backward. */
void net_backward_keep(const Net *net, const double *theta, NetCache *c, const double *GL,
                       double *grad);

/* R-workspace. R{U_l} has a buffer per layer; R{A_l} only on plain identity layers
 * (where it is R{U_l}) and the top (R{F}): the other layers' R{A} share one scratch,
 * which the R-backward refills (from R{U} and A) for R{dW_{l+1}}'s G_{l+1}ᵀ R{A_l} term.
 * R{G} and R{D} take no buffers of their own: the R-backward writes R{D_{l-1}} over
 * R{A_{l-1}} (dead once R{dW_l} has used it) and R{G_{l-1}} over R{U_{l-1}} in place. */
#define NET_RWORK_FIELDS(real_) \
  size_t cap; \
  real_ *RU[NET_MAX_LAYERS];       /* R{U} [cap][out] (aliases RA[l] when ra_is_ru[l]); \
                                     * R{G} after net_rbackward */ \
  real_ *RA[NET_MAX_LAYERS];       /* R{A} [cap][out_act], own buffer or the scratch; R{F} at the \
                                     * top; R{D} after net_rbackward (l < L-1) */ \
  real_ *scratch;                  /* the shared R{A} buffer (owned), or NULL */ \
  int scratch_holds;                /* the layer whose R{A} the scratch holds, or -1 */ \
  int zero[NET_MAX_LAYERS];         /* R{A_l} is identically zero (below the direction) */ \
  int ra_is_ru[NET_MAX_LAYERS];     /* identity layer without scales: R{U} = R{A}, one buffer */ \
  real_ *nt;                       /* net_gemm_swap's scratch [nt_len] or NULL (float64 only) */ \
  size_t nt_len;
typedef struct NetRWork { NET_RWORK_FIELDS(double) } NetRWork;


NetRWork *net_rwork_alloc(const Net *net, size_t cap);
void net_rwork_free(NetRWork *w);

/* R-forward along parameter direction v (NULL: 0) and input tangent RA0 [n][d_in]
 * (NULL: 0) on the rows cached in c. R{F} ends in w->RA[L-1] ([n][d_out]). */
void net_rforward(const Net *net, const double *theta, const NetCache *c, const double *v,
                  const double *RA0, NetRWork *w);
/* R-backward from RGL = R{dL/dF} [n][d_out] (may alias nothing in w).
 * mode NET_R_HESSIAN: the exact R-operator (needs a second-order cache);
 * mode NET_R_GGN: the linearised net (drops the G, D terms): Jᵀ RGL-backprop.
 * Adds R{∇θ L} into out. Consumes w: R{A_l}, R{U_l} below the top are overwritten
 * (R{F} = w->RA[L-1] is kept). */
enum { NET_R_HESSIAN = 0, NET_R_GGN = 1 };
void net_rbackward(const Net *net, const double *theta, const NetCache *c, const double *v,
                   const double *RA0, NetRWork *w, const double *RGL, int mode, double *out);

/* ------------------------------------------------------------ block R-passes
 *
 * k directions in one pass: every R-GEMM is one call k times wider or taller (better
 * BLAS efficiency on skinny layers), the cached forward read once. Rows of the
 * R-workspace are [n][k][·] (row r: example r / k, direction r % k), so it is allocated
 * with net_rwork_alloc(net, k * cap); R{F} ends in w->RA[L-1] as [n][k][d_out], and RGL
 * comes in the same layout.
 * Block layout of k parameter vectors (length k·P, what net_block_pack writes): each
 * parameter block of θ (a W_l at w_off, or a b_l at b_off) moves to k times its offset and
 * holds the k copies, "forward" as [k][out][in] (vf; biases [k][out]) or "backward" as
 * [out][k][in] (vb, the weights only). The R-backward adds its R{G}ᵀA and bias terms to
 * outA in the forward layout and its Gᵀ R{A} terms to outB in the backward layout;
 * net_block_unpack sums the two back into k plain vectors. k = 1: both layouts are θ's
 * and the block passes are net_rforward / net_rbackward. */
void net_rforward_block(const Net *net, const double *theta, const NetCache *c,
                        const double *vf, size_t k, NetRWork *w);
void net_rbackward_block(const Net *net, const double *theta, const NetCache *c,
                         const double *vf, const double *vb, size_t k, NetRWork *w,
                         const double *RGL, int mode, double *outA, double *outB);
/* view = rows [r0, r0 + m) of the second-order cache c (a shallow copy, nothing owned):
 * R-passes on it are those of the rows (block products run a chunk in row blocks so that
 * their k-fold workspaces stay the size of a single product's). */
void net_cache_rows(const Net *net, const NetCache *c, size_t r0, size_t m, NetCache *view);
/* V: k vectors of n_params (vector j at V + j*P) into vf and vb (k·P each). */
void net_block_pack(const Net *net, size_t k, const double *V, double *vf, double *vb);
/* out (k vectors as V) = outA (forward layout) + outB (backward layout; NULL: none). */
void net_block_unpack(const Net *net, size_t k, const double *outA, const double *outB,
                      double *out);

/* --------------------------------------------------------- float32 passes
 *
 * The same engine in float32 (core/net_pass_t.h compiled with real = float): SGEMM,
 * float activations, every buffer float except the loss scratch (aux, out64, double).
 * θ, v, X and the outputs are float arrays of the same layouts; the caller converts at
 * the boundary (hessian/curv_f32.c sums each chunk's float result into double). */
typedef struct NetCacheF32 { NET_CACHE_FIELDS(float) } NetCacheF32;
typedef struct NetRWorkF32 { NET_RWORK_FIELDS(float) } NetRWorkF32;

NetCacheF32 *net_cache_alloc_f32(const Net *net, size_t cap, int second_order);
void net_cache_free_f32(NetCacheF32 *c);
NetRWorkF32 *net_rwork_alloc_f32(const Net *net, size_t cap);
void net_rwork_free_f32(NetRWorkF32 *w);
void net_forward_f32(const Net *net, const float *theta, const float *X, size_t n,
                     NetCacheF32 *c);
void net_backward_f32(const Net *net, const float *theta, NetCacheF32 *c, const float *GL,
                      float *grad);
void net_backward_keep_f32(const Net *net, const float *theta, NetCacheF32 *c, const float *GL,
                           float *grad);
void net_rforward_f32(const Net *net, const float *theta, const NetCacheF32 *c, const float *v,
                      const float *RA0, NetRWorkF32 *w);
void net_rbackward_f32(const Net *net, const float *theta, const NetCacheF32 *c, const float *v,
                       const float *RA0, NetRWorkF32 *w, const float *RGL, int mode, float *out);
void net_cache_rows_f32(const Net *net, const NetCacheF32 *c, size_t r0, size_t m,
                        NetCacheF32 *view);
void net_rforward_block_f32(const Net *net, const float *theta, const NetCacheF32 *c,
                            const float *vf, size_t k, NetRWorkF32 *w);
void net_rbackward_block_f32(const Net *net, const float *theta, const NetCacheF32 *c,
                             const float *vf, const float *vb, size_t k, NetRWorkF32 *w,
                             const float *RGL, int mode, float *outA, float *outB);

#endif
