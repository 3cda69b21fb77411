/* comm_mpi.c: core/comm.h's Comm over MPI (see comm_mpi.h). */
#include "comm_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

#define PIECE ((size_t)1 << 30)

static int mpi_allreduce_sum(void *self, double *x, size_t n) {
  (void)self;
  for (size_t off = 0; off < n; off += PIECE) {
    size_t m = n - off < PIECE ? n - off : PIECE;
    if (MPI_Allreduce(MPI_IN_PLACE, x + off, (int)m, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
      return CS_EIO;
  }
  return CS_OK;
}

int comm_mpi_init(int *argc, char ***argv, Comm *c, Err *err) {
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return err_set(err, CS_EIO, "MPI_Init_thread failed");
  if (provided < MPI_THREAD_FUNNELED)
    return err_set(err, CS_EIO, "the MPI library gives no MPI_THREAD_FUNNELED (level %d)",
                   provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &c->size);
  c->allreduce_sum = mpi_allreduce_sum;
  c->self = NULL;
  return CS_OK;
}

void comm_mpi_finalize(void) { MPI_Finalize(); }

void comm_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int comm_mpi_bcast(void *buf, size_t n) {
  for (size_t off = 0; off < n; off += PIECE) {
    size_t m = n - off < PIECE ? n - off : PIECE;
    if (MPI_Bcast((char *)buf + off, (int)m, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
      return CS_EIO;
  }
  return CS_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int comm_mpi_time_allreduce(size_t n, int reps, double *median, double *fastest) {
  double *x = calloc(n ? n : 1, sizeof *x), *t = calloc(reps > 0 ? (size_t)reps : 1, sizeof *t);
  int rc = !x || !t || reps < 1 ? CS_ENOMEM : mpi_allreduce_sum(NULL, x, n);
  for (int i = 0; i < reps && !rc; i++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    rc = mpi_allreduce_sum(NULL, x, n);
    t[i] = MPI_Wtime() - t0;
  }
  if (!rc) {
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    *median = t[reps / 2], *fastest = t[0];
  }
  free(x);
  free(t);
  return rc;
}
