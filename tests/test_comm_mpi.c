/* test_comm_mpi.c: core/comm.h over MPI (dist/comm_mpi.c), run by e2e_mpi.sh under mpirun
 * -np 1, 2, 3. Every rank checks; rank 0 prints TAP with the failures of all ranks summed.
 *   - comm_sum of rank-dependent vectors equals the closed form Σ_r (r+1)(j+1) exactly,
 *     across a piece boundary it does not have (n odd, 1e5 doubles), and is bitwise the
 *     same on every rank (comm_check_same passes on it);
 *   - comm_check_same fails on every rank when one rank's vector differs in one bit;
 *   - comm_share cuts n rows into contiguous shares covering [0, n), by weights with a
 *     zero, and equal shares differ by at most one row;
 *   - comm_sum refuses to run inside an OpenMP region (MPI_THREAD_FUNNELED).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/comm_mpi.h"

static char names[16][200];

int main(int argc, char **argv) {
  Comm c;
  Err err = {0};
  if (comm_mpi_init(&argc, &argv, &c, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  double per[16] = {0}; /* per[i]: 1 when check i failed on this rank */
  int i = 0;
#define CHECK(ok, what) (per[i] = !(ok), snprintf(names[i], sizeof names[0], "%s", what), i++)
  size_t n = 100001;
  double *x = malloc(n * sizeof *x);
  for (size_t j = 0; j < n; j++) x[j] = (double)(c.rank + 1) * (double)(j + 1);
  int rc = comm_sum(&c, x, n, &err);
  double R = c.size, want_factor = R * (R + 1) / 2;
  size_t bad = 0;
  for (size_t j = 0; j < n; j++) bad += x[j] != want_factor * (double)(j + 1);
  CHECK(rc == CS_OK && bad == 0, "comm_sum: Σ_r (r+1)(j+1) over the ranks, exactly, 100001 doubles");
  CHECK(comm_check_same(&c, x, n, "the sum", &err) == CS_OK,
        "the sum has the same bits on every rank (comm_check_same)");
  if (c.rank == c.size - 1 && c.size > 1) x[n / 2] = nextafter(x[n / 2], INFINITY);
  rc = comm_check_same(&c, x, n, "a vector one rank changed", &err);
  CHECK(c.size == 1 ? rc == CS_OK : rc == CS_EINVAL && strstr(err.msg, "disagree"),
        "one bit changed on one rank: comm_check_same fails on every rank");
  const double w[] = {3, 0, 1, 2};
  for (int size = 1; size <= 4; size++) {
    size_t next = 0, lo, m, minm = (size_t)-1, maxm = 0;
    int ok = 1;
    for (int r = 0; r < size; r++) {
      comm_share(1003, size, r, w, &lo, &m);
      ok &= lo == next && (w[r] > 0 || m == 0);
      next = lo + m;
    }
    ok &= next == 1003;
    for (int r = 0; r < size; r++) {
      comm_share(1003, size, r, NULL, &lo, &m);
      minm = m < minm ? m : minm, maxm = m > maxm ? m : maxm;
    }
    ok &= maxm - minm <= 1;
    if (size == 4) CHECK(ok, "comm_share: contiguous shares covering 1003 rows for 1-4 ranks, "
                             "weights 3,0,1,2 (zero weight: no rows), equal shares within a row");
    else if (!ok) per[i] = 1;
  }
  int inside = -1;
  double y = 1;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    inside = comm_sum(&c, &y, 1, &err);
  }
  CHECK(c.size == 1 ? inside == CS_OK : inside == CS_EINVAL && y == 1,
        "comm_sum inside an OpenMP region: refused, nothing sent");
  double total[16];
  memcpy(total, per, sizeof total);
  comm_sum(&c, total, 16, &err); /* every rank's failures (a no-op on one rank) */
  if (c.rank == 0) {
    for (int k = 0; k < i; k++)
      printf("%s %d - np %d: %s%s\n", total[k] == 0 ? "ok" : "not ok", k + 1, c.size, names[k],
             total[k] == 0 ? "" : " (failed on some rank)");
    printf("1..%d\n", i);
  }
  int any = 0;
  for (int k = 0; k < i; k++) any |= total[k] != 0;
  free(x);
  comm_mpi_finalize();
  return any;
}
