/* comm.c: the MPI-free half of Comm (comm.h): shares, the guarded sum, the agreement check. */
#include "comm.h"

#include <omp.h>
#include <string.h>

int comm_sum(const Comm *c, double *x, size_t n, Err *err) {
  if (!comm_active(c)) return CS_OK;
  if (omp_in_parallel()) /* MPI_THREAD_FUNNELED: the main thread, outside any region */
    return err_set(err, CS_EINVAL, "internal: an MPI sum inside an OpenMP region");
  int rc = c->allreduce_sum(c->self, x, n);
  if (rc) return err_set(err, rc, "MPI allreduce of %zu doubles failed (rank %d of %d)", n,
                         c->rank, c->size);
  return CS_OK;
}

void comm_share(size_t n_all, int size, int rank, const double *w, size_t *row0, size_t *n) {
  double total = 0.0, below = 0.0;
  for (int r = 0; r < size; r++) {
    double wr = w ? w[r] : 1.0;
    total += wr;
    if (r < rank) below += wr;
  }
  double mine = w ? w[rank] : 1.0;
  /* long double: n_all·W stays exact for any row count a double can hold */
  size_t lo = (size_t)((long double)n_all * below / total);
  size_t hi = rank == size - 1 ? n_all : (size_t)((long double)n_all * (below + mine) / total);
  *row0 = lo;
  *n = hi - lo;
}

int comm_check_same(const Comm *c, const double *x, size_t n, const char *what, Err *err) {
  if (!comm_active(c)) return CS_OK;
  uint64_t h = 1469598103934665603ULL;
  const unsigned char *p = (const unsigned char *)x;
  for (size_t i = 0; i < n * sizeof *x; i++) h = (h ^ p[i]) * 1099511628211ULL;
  double s[8];
  for (int k = 0; k < 4; k++) {
    double piece = (double)((h >> (16 * k)) & 0xffffu);
    s[k] = piece, s[4 + k] = piece * piece;
  }
  double mine[8];
  memcpy(mine, s, sizeof s);
  int rc = comm_sum(c, s, 8, err);
  if (rc) return rc;
  /* Σ a_r = R a and Σ a_r² = R a² hold together only when every a_r = a (exact: pieces
   * < 2^16, squares < 2^32, R < 2^20) */
  for (int k = 0; k < 8; k++)
    if (s[k] != (double)c->size * mine[k])
      return err_set(err, CS_EINVAL,
                     "the ranks disagree on %s (rank %d of %d): the replicated solvers left step",
                     what, c->rank, c->size);
  return CS_OK;
}
