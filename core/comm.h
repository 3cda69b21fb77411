/*
 * comm.h: the ranks of a data-parallel run, seen only through an in-place sum.
 *
 * A Comm is how the one summation over examples (loss.c, hessian/curv.c) reaches the
 * other processes of an MPI job: every rank holds a contiguous share of the rows, sums
 * its share with the chunk engine, and allreduce adds the P-vectors of all ranks, so
 * every rank ends with the same (bitwise identical) total. core/ knows no MPI: the MPI
 * implementation is dist/comm_mpi.c, built only with -Dmpi; a NULL Comm, or one of
 * size 1, is the single-process path (no call is made, the bits are unchanged).
 *
 * Ownership: whoever built the Comm keeps it alive while batches point to it.
 * Threads: MPI_THREAD_FUNNELED: call only from the thread that initialised MPI and
 * never inside an OpenMP parallel region (comm_sum refuses, CS_EINVAL).
 * Shapes: x has n doubles, the same n on every rank.
 */
#ifndef CS_COMM_H
#define CS_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct Comm {
  int rank, size;
  /* x[j] = Σ_ranks x[j] in place, every rank getting the same bits. CS_OK or an error. */
  int (*allreduce_sum)(void *self, double *x, size_t n);
  void *self;
} Comm;

/* 1 when c spans more than one process. */
static inline int comm_active(const Comm *c) { return c && c->size > 1; }

/* Sums x over the ranks (a no-op for an inactive Comm). CS_EINVAL inside an OpenMP
 * region; the implementation's status otherwise. */
int comm_sum(const Comm *c, double *x, size_t n, Err *err);

/* Rank r's rows of n_all: [*row0, *row0 + *n) in order, by weights w[0..size) (NULL:
 * equal), rank r taking floor(n_all·W_<r / W) .. floor(n_all·W_<=r / W). */
void comm_share(size_t n_all, int size, int rank, const double *w, size_t *row0, size_t *n);

/* CS_EINVAL naming `what` unless x[0..n) has the same bits on every rank: the check
 * that replicated solvers stayed in step (a 64-bit FNV hash, split into 16-bit pieces
 * whose sums and sums of squares over the ranks are exact in double: equal iff every
 * rank's piece is the same). */
int comm_check_same(const Comm *c, const double *x, size_t n, const char *what, Err *err);

#endif
