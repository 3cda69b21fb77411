/*
 * curvscope/linop.h: Linop, a symmetric operator seen only through y = A x.
 *
 * Every curvature operator is one, and the eigen-solvers (curvscope/eig.h) see
 * nothing else: a program can hand them its own (examples/own_linop.c).
 */
#ifndef CURVSCOPE_LINOP_H
#define CURVSCOPE_LINOP_H

#ifdef __cplusplus
extern "C" {
#endif

#include "core/err.h"
#include "core/linop.h"

#ifdef __cplusplus
}
#endif

#endif
