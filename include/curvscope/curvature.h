/*
 * curvscope/curvature.h: curvature operators of a Net at fixed parameters.
 *
 * The Curvature context (curv_alloc, curv_build) and its products: exact
 * Hessian-vector products, Gauss-Newton, Jacobian and NTK, each also as a
 * Linop; the preconditioned and per-layer operators built on any Linop; the
 * mean-Jacobian start vector for their top eigenpairs.
 */
#ifndef CURVSCOPE_CURVATURE_H
#define CURVSCOPE_CURVATURE_H

#ifdef __cplusplus
extern "C" {
#endif

#include "hessian/curv.h"
#include "hessian/curv_start.h"
#include "hessian/ops.h"

#ifdef __cplusplus
}
#endif

#endif
