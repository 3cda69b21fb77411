/* allreduce_time: the time of one MPI_Allreduce (in place, MPI_SUM) of P doubles, the
 * data-parallel products' one communication (docs/SCALING.md measures it with this).
 *   mpirun -np R build/dist/allreduce_time [REPS] P...
 * Rank 0 prints, per P, the median and the fastest of REPS calls (default 30, after one
 * warm-up) and the algorithmic bandwidth 2(R-1)/R · 8P / t of the fastest. Not installed. */
#include <stdio.h>
#include <stdlib.h>

#include "comm_mpi.h"

int main(int argc, char **argv) {
  Comm c;
  Err err = {0};
  if (comm_mpi_init(&argc, &argv, &c, &err)) {
    fprintf(stderr, "allreduce_time: %s\n", err.msg);
    return 1;
  }
  int first = 1, reps = 30;
  if (argc > 2) reps = atoi(argv[first++]);
  if (argc <= first || reps < 1) {
    if (c.rank == 0) fprintf(stderr, "usage: allreduce_time [REPS] P...\n");
    comm_mpi_finalize();
    return 2;
  }
  if (c.rank == 0) printf("ranks %d, %d calls\n%12s %12s %12s %14s\n", c.size, reps, "P",
                          "median_ms", "fastest_ms", "alg_GB_per_s");
  for (int i = first; i < argc; i++) {
    size_t P = strtoull(argv[i], NULL, 10);
    double med = 0, t = 0;
    if (comm_mpi_time_allreduce(P, reps, &med, &t)) {
      fprintf(stderr, "allreduce_time: %zu doubles failed\n", P);
      comm_mpi_abort(1);
    }
    double bytes = c.size > 1 ? 2.0 * (c.size - 1) / c.size * 8.0 * (double)P : 0.0;
    if (c.rank == 0)
      printf("%12zu %12.3f %12.3f %14.2f\n", P, 1e3 * med, 1e3 * t, t > 0 ? bytes / t / 1e9 : 0.0);
  }
  comm_mpi_finalize();
  return 0;
}
