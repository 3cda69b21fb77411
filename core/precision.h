/*
 * precision.h: the arithmetic of the passes (--precision f64|mixed|f32).
 *
 * PREC_F64: every pass in float64 (the default; results bit-identical to before the
 * option existed). PREC_MIXED: forward, backward and the R-passes in float32 (SGEMM,
 * float activations; core/net_pass_f32.c), everything else in float64: the parameters'
 * master copy, the optimizer state, the loss and its output-space Hessian, the sum of
 * the chunks' results, the Lanczos basis and Rayleigh-Ritz, checkpoints. PREC_F32 is
 * the name a PyTorch user knows for the same engine: nothing else of ours is worth
 * holding in float32 (docs/PERFORMANCE.md, "Precision"), so it runs exactly as mixed.
 *
 * A float32 product is exact only to its rounding: an eigensolver tolerance below
 * precision_tol_min() cannot be met and is refused (precision_check_tol).
 */
#ifndef CS_PRECISION_H
#define CS_PRECISION_H

#include "err.h"

typedef enum { PREC_F64 = 0, PREC_MIXED, PREC_F32 } Precision;

/* "f64", "mixed", "f32"; CS_EINVAL naming the value and the choices otherwise. */
int precision_parse(const char *text, Precision *p, Err *err);
const char *precision_name(Precision p);
/* 1 when the passes run in float32 (mixed and f32). */
int precision_f32_passes(Precision p);
/* The smallest relative eigensolver tolerance the precision's products support
 * (0 for f64: no floor). */
double precision_tol_min(Precision p);
/* CS_EINVAL "--tol T is below what a float32 HVP supports (...)" when 0 < tol < floor
 * (tol = 0, run to the iteration cap, is refused too in float32). what: the option's name. */
int precision_check_tol(Precision p, double tol, const char *what, Err *err);

#endif
