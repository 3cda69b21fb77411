/*
 * act.h: activation functions with their first and second derivatives.
 *
 * The Hessian needs f, f' and f'' (docs/MATH.md, "Activations"). act_eval fills any
 * of a, d1, d2 that are non-NULL for a block of n pre-activations, in one fused
 * pass (OpenMP over the block). ACT_COSSIN is the Fourier-feature pair
 * z -> (cos z, sin z), which doubles the width; it is handled by the layer code,
 * not by act_eval.
 */
#ifndef CS_ACT_H
#define CS_ACT_H

#include <stddef.h>

#include "err.h"

typedef enum {
  ACT_IDENTITY = 0,
  ACT_RELU,
  ACT_TANH,
  ACT_SOFTPLUS,
  ACT_GELU,
  ACT_SINE,
  ACT_HAT,
  ACT_SIGMOID,
  ACT_SWISH,  /* x·sigmoid(x) (SiLU) */
  ACT_COSSIN
} ActKind;

typedef struct Act {
  ActKind kind;
  double w0;  /* sine frequency ω0 (SIREN); 1 otherwise */
} Act;

/* Parses "tanh", "relu", "sine:w0=30", "hat", ... into *a. */
int act_parse(const char *text, Act *a, Err *err);
const char *act_name(ActKind k);

/* For i < n: a[i] = f(z[i]), d1[i] = f'(z[i]), d2[i] = f''(z[i]); NULL outputs skipped.
 * a may alias z. */
void act_eval(Act act, size_t n, const double *z, double *a, double *d1, double *d2);

/* The same in float32 (the float32 passes): identity, relu and hat in float (the bits of
 * the float64 versions rounded), tanh through tanhf, sine through act_sincos_poly (within
 * a float rounding of the float64 version), the others rounded from the float64 scalar
 * versions. */
void act_eval_f32(Act act, size_t n, const float *z, float *a, float *d1, float *d2);

/* sin x and cos x for |x| < 2^20 by a branch-free polynomial (the float32 sine's kernel),
 * within a few units of 2^-53 of libm's; beyond that range the result is undefined. */
void act_sincos_poly(double x, double *s, double *c);

/* Scalar versions, for tests and references. */
double act_f(Act act, double z);
double act_df(Act act, double z);
double act_d2f(Act act, double z);

#endif
