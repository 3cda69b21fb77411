/*
 * eig_parpack.h: the top or bottom eigenpairs of a replicated Linop by PARPACK, the
 * Lanczos basis distributed over MPI_COMM_WORLD (docs/SCALING.md, "PARPACK").
 *
 * Each rank holds its contiguous slice (comm_share, equal shares) of every basis vector:
 * ncv·n/R doubles instead of ncv·n. The operator stays the data-parallel one every rank
 * applies to the whole vector: each product allgathers the slices into x, applies op
 * (whose own allreduce sums the ranks' rows) and keeps its slice of y. Ritz vectors are
 * gathered whole at the end, and residuals are exact (lz_exact_residuals), so the result
 * has eig_arpack's layout (lanczos/eig.h). EIG_TOP or EIG_BOTTOM (not EIG_BOTH); no warm
 * start. Collective: every rank calls it with the same op and options. Not reentrant
 * (PARPACK is not).
 */
#ifndef CS_EIG_PARPACK_H
#define CS_EIG_PARPACK_H

#include "lanczos/eig.h"

int eig_parpack(const Linop *op, const EigOpts *o, EigResult *r, Err *err);

#endif
