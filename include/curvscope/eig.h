/*
 * curvscope/eig.h: eigen-solvers over a Linop.
 *
 * Top, bottom or both ends (eig_arpack, eig_lanczos_top), the raw Lanczos
 * recurrence, trace (trace_hutchinson) and spectral density (slq_density,
 * slq_nodes), and the dense LAPACK reference (dense_from_linop, dense_eig_sym).
 */
#ifndef CURVSCOPE_EIG_H
#define CURVSCOPE_EIG_H

#ifdef __cplusplus
extern "C" {
#endif

#include "lanczos/eig.h"

#ifdef __cplusplus
}
#endif

#endif
