/*
 * net_tangent.h: a forward with m input tangents at once and the reverse pass through it
 * (core/net_tangent_t.h, included by net_pass.c and net_pass_f32.c).
 *
 * For rows X [n][d_in] and tangents E_p [n][d_in] (p < m), the forward computes F = f(X)
 * and the input-tangent products R_p = J_x f · E_p (the R-forward along E_p, v = 0) in one
 * pass whose GEMMs are stacked: each layer multiplies [A; R{A}_1; ...; R{A}_m]
 * ((1+m)n rows) by Wᵀ once. The reverse pass gives the θ-gradient of
 *   Φ = Σ_i ⟨GL_i, F_i⟩ + Σ_p Σ_i ⟨S_p,i, (R_p)_i⟩
 * by differentiating that forward (reverse over forward): per layer one GEMM for dW over
 * the stacked rows and one for the adjoint below, 6 weight-sized GEMMs a layer in all
 * against 8 for a backward, a probe backward, the R-forward and the R-backward (docs/MATH.md,
 * "Stein critics"; the two agree: mixed partials commute). With GL = dL/dF and S_p =
 * c·E_p it is the Stein critic's loss gradient plus c times the θ-gradient of
 * Σ_i e_pᵀ J_x f e_p.
 *
 * Nets: every layer trainable, no cos/sin layer (net_tan_supported); others use the
 * R-passes. Ownership: NetTan is a heap workspace (_alloc/_free, NULL-safe) for up to
 * cap rows and mcap tangents. Threads: OpenMP and BLAS inside, one pass per workspace.
 * Nothing allocates outside _alloc.
 */
#ifndef CS_NET_TANGENT_H
#define CS_NET_TANGENT_H

#include "net.h"

#define NET_TAN_FIELDS(real_) \
  size_t cap, n;                   /* rows it can hold; rows of the last forward */ \
  int mcap, m;                     /* tangents it can hold; tangents of the last forward */ \
  real_ *in;                       /* [(1+mcap) cap][d_in]: X, then the tangents */ \
  real_ *H[NET_MAX_LAYERS];        /* [(1+mcap) cap][out]: A_l, then R{A_l} per tangent */ \
  real_ *RU[NET_MAX_LAYERS];       /* [mcap cap][out]: R{U_l} per tangent (the σ'' term) */ \
  real_ *d1[NET_MAX_LAYERS];       /* [cap][out]: s⊙σ'(Z) */ \
  real_ *d2[NET_MAX_LAYERS];       /* [cap][out]: s²⊙σ''(Z), NULL where σ'' = 0 */ \
  real_ *adj[2];                   /* [(1+mcap) cap][widest]: the adjoints, layer by layer */ \
  real_ *ones;                     /* [cap] of 1 (bias sums) */

typedef struct NetTan { NET_TAN_FIELDS(double) } NetTan;
typedef struct NetTanF32 { NET_TAN_FIELDS(float) } NetTanF32;

/* 1 when the net has no frozen layer and no cos/sin layer. */
int net_tan_supported(const Net *net);

/* NULL when out of memory or the net is not supported. */
NetTan *net_tan_alloc(const Net *net, size_t cap, int mcap);
void net_tan_free(NetTan *w);
/* Forward of the n <= cap rows of X and m <= mcap tangents E [m][n][d_in]: F in rows
 * 0..n-1 of w->H[L-1], J_x f · E_p in rows (1+p)n..(2+p)n-1. X NULL: the tangents only, on
 * the rows of the last forward (n must be the same). */
void net_tan_forward(const Net *net, const double *theta, const double *X, const double *E,
                     size_t n, int m, NetTan *w);
/* grad += ∇_θ Φ (above) for the last forward: GL [n][d_out] (NULL: 0), S [m][n][d_out]. */
void net_tan_backward(const Net *net, const double *theta, NetTan *w, const double *GL,
                      const double *S, double *grad);

NetTanF32 *net_tan_alloc_f32(const Net *net, size_t cap, int mcap);
void net_tan_free_f32(NetTanF32 *w);
void net_tan_forward_f32(const Net *net, const float *theta, const float *X, const float *E,
                         size_t n, int m, NetTanF32 *w);
void net_tan_backward_f32(const Net *net, const float *theta, NetTanF32 *w, const float *GL,
                          const float *S, float *grad);

#endif
