/*
 * comm_mpi.h: the Comm of core/comm.h over MPI_COMM_WORLD (Open MPI), built only with
 * -Dmpi (meson_options.txt); the library and everything below cli/ never see MPI.
 *
 * comm_mpi_init initialises MPI with MPI_THREAD_FUNNELED (OpenMP threads inside a rank,
 * MPI calls from the main thread between parallel regions) and fills *c; the sum is
 * MPI_Allreduce(MPI_IN_PLACE, MPI_SUM) in pieces of at most 2^30 doubles (MPI counts
 * are int). Ownership: one Comm per process, alive until comm_mpi_finalize.
 */
#ifndef CS_COMM_MPI_H
#define CS_COMM_MPI_H

#include "core/comm.h"

/* CS_OK, or an error (MPI could not start, or gave less than FUNNELED). */
int comm_mpi_init(int *argc, char ***argv, Comm *c, Err *err);
void comm_mpi_finalize(void);
/* Ends every rank with status code (MPI_Abort): an error on one rank ends the job. */
void comm_mpi_abort(int code);
/* Copies n bytes of rank 0's buf to every rank. */
int comm_mpi_bcast(void *buf, size_t n);
/* Seconds per MPI_Allreduce of n doubles over reps calls (after one warm-up, each call
 * after a barrier): the median and the fastest. CS_ENOMEM or CS_EIO. */
int comm_mpi_time_allreduce(size_t n, int reps, double *median, double *fastest);

#endif
