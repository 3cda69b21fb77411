/*
 * ops.h: operators built from other operators.
 *
 * PrecondOp: x ↦ P^{-1/2} A P^{-1/2} x for a positive diagonal P (Adam's
 * preconditioner, docs/MATH.md); its eigenvalues are those of P^{-1}A.
 * SubsetOp: the block of A on a set of parameter ranges (a layer's W and b, or
 * several layers): x is scattered into a full vector that is zero elsewhere,
 * and the product is read back on the same ranges.
 *
 * Ownership: each op owns its scratch and copies of P / the ranges, not the
 * inner operator, which must outlive it. Free with the matching _free.
 */
#ifndef CS_OPS_H
#define CS_OPS_H

#include <stddef.h>

#include "core/err.h"
#include "core/linop.h"
#include "core/net.h"

typedef struct PrecondOp PrecondOp;
/* P has inner->n entries, all > 0. */
PrecondOp *precond_op_alloc(const Linop *inner, const double *P, Err *err);
void precond_op_free(PrecondOp *op);
/* Replaces P (same size, all > 0) without reallocating: a probe updates it every step. */
int precond_op_set(PrecondOp *op, const double *P, Err *err);
Linop precond_op_linop(PrecondOp *op);

typedef struct SubsetOp SubsetOp;
/* ranges: npairs (offset, length) pairs into the inner vector. */
SubsetOp *subset_op_alloc(const Linop *inner, const size_t *ranges, int npairs, Err *err);
void subset_op_free(SubsetOp *op);
Linop subset_op_linop(SubsetOp *op);
/* Parses "L" or "L1-L2-..." (trainable layer indices, counting from 0 over the
 * layers that have parameters) into (offset, length) pairs covering W and b. */
int subset_ranges_for_layers(const Net *net, const char *spec, size_t *ranges, int max_pairs,
                             int *npairs, Err *err);

#endif
