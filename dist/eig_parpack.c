/* eig_parpack.c: PARPACK's pdsaupd/pdseupd over a replicated Linop (see eig_parpack.h). */
#include "eig_parpack.h"

#include <mpi.h>
#include <parpack.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/threads.h"
#include "lanczos/lz_internal.h"

typedef struct Slices {
  int rank, size;
  int *counts, *displs; /* per rank, for MPI_Allgatherv */
  size_t lo, m;         /* this rank's slice */
} Slices;

static int slices_init(Slices *s, size_t n) {
  MPI_Comm_rank(MPI_COMM_WORLD, &s->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &s->size);
  s->counts = malloc((size_t)s->size * sizeof *s->counts);
  s->displs = malloc((size_t)s->size * sizeof *s->displs);
  if (!s->counts || !s->displs) return CS_ENOMEM;
  for (int r = 0; r < s->size; r++) {
    size_t lo, m;
    comm_share(n, s->size, r, NULL, &lo, &m);
    s->counts[r] = (int)m, s->displs[r] = (int)lo;
    if (r == s->rank) s->lo = lo, s->m = m;
  }
  return CS_OK;
}

/* full = the slices of every rank, in order */
static int gather(const Slices *s, const double *mine, double *full) {
  return MPI_Allgatherv(mine, s->counts[s->rank], MPI_DOUBLE, full, s->counts, s->displs,
                        MPI_DOUBLE, MPI_COMM_WORLD) == MPI_SUCCESS ? CS_OK : CS_EIO;
}

int eig_parpack(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
  double t0 = wall_time();
  memset(r, 0, sizeof *r);
  int nev, rc = lz_check_opts(op, o, &nev, "eig_parpack", err);
  if (rc) return rc;
  if (o->which == EIG_BOTH || o->warm)
    return err_set(err, CS_EINVAL, "eig_parpack: one end at a time (--top or --bottom), no warm "
                   "start");
  size_t n = op->n;
  if (n > (size_t)2147483647) return err_set(err, CS_EINVAL, "eig_parpack: n=%zu too large", n);
  int ncv = o->ncv > 0 ? o->ncv : (2 * nev + 1 > 20 ? 2 * nev + 1 : 20);
  if ((size_t)ncv > n) ncv = (int)n;
  if (ncv <= nev) return err_set(err, CS_EINVAL, "eig_parpack: ncv=%d must exceed nev=%d", ncv, nev);
  Slices s = {0};
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  size_t m = 0, c = (size_t)ncv;
  double *resid = NULL, *V = NULL, *workd = NULL, *workl = NULL, *d = NULL;
  a_int *select = NULL;
  if (!x || !y || slices_init(&s, n)) goto oom;
  m = s.m;
  resid = malloc((m ? m : 1) * sizeof *resid);
  V = malloc((m ? m : 1) * c * sizeof *V);
  workd = malloc(3 * (m ? m : 1) * sizeof *workd);
  workl = calloc(c * (c + 8), sizeof *workl);
  d = calloc(c, sizeof *d);
  select = calloc(c, sizeof *select);
  if (!resid || !V || !workd || !workl || !d || !select) goto oom;
  /* the serial solvers' seeded start vector, this rank's slice of it */
  if ((rc = lz_start_vector(n, NULL, 0, o->seed, x, err))) goto done;
  memcpy(resid, x + s.lo, m * sizeof *resid);
  const char *which = o->which == EIG_TOP ? "LA" : "SA";
  MPI_Fint fc = MPI_Comm_c2f(MPI_COMM_WORLD);
  a_int iparam[11] = {0}, ipntr[11] = {0}, ido = 0, info = 1, lworkl = ncv * (ncv + 8);
  iparam[0] = 1, iparam[2] = o->maxit, iparam[3] = 1, iparam[6] = 1; /* exact shifts, mode 1 */
  long matvecs = 0;
  for (;;) {
    pdsaupd_c(fc, &ido, "I", (a_int)m, which, nev, o->tol, resid, ncv, V, (a_int)(m ? m : 1),
              iparam, ipntr, workd, workl, lworkl, &info);
    if (ido != -1 && ido != 1) break;
    if ((rc = gather(&s, workd + ipntr[0] - 1, x))) goto mpi_fail;
    if ((rc = op->apply(op->self, x, y))) {
      err_set(err, rc, "eig_parpack: operator apply failed at product %ld", matvecs + 1);
      goto done;
    }
    memcpy(workd + ipntr[1] - 1, y + s.lo, m * sizeof *y);
    matvecs++;
  }
  int nconv = iparam[4] < nev ? iparam[4] : nev;
  if (ido != 99 || info < 0 || nconv <= 0) {
    rc = err_set(err, info < 0 ? CS_EINVAL : CS_ENOCONV,
                 "eig_parpack: pdsaupd info=%d, %d pairs converged after %ld products", (int)info,
                 nconv, matvecs);
    goto done;
  }
  a_int info2 = 0;
  pdseupd_c(fc, 1, "A", select, d, V, (a_int)(m ? m : 1), 0.0, "I", (a_int)m, which, nev, o->tol,
            resid, ncv, V, (a_int)(m ? m : 1), iparam, ipntr, workd, workl, lworkl, &info2);
  if (info2) {
    rc = err_set(err, CS_ENOCONV, "eig_parpack: pdseupd info=%d", (int)info2);
    goto done;
  }
  if ((rc = lz_result_alloc(r, n, nconv, 1, err))) goto done;
  /* d ascending: top pairs from the end (descending), bottom pairs from the start */
  for (int i = 0; i < nconv; i++) {
    int j = o->which == EIG_TOP ? nconv - 1 - i : i;
    r->values[i] = d[j];
    if ((rc = gather(&s, V + (size_t)j * m, r->vectors + (size_t)i * n))) goto mpi_fail;
  }
  r->k = nconv;
  r->ntop = o->which == EIG_TOP ? nconv : 0;
  r->nbottom = nconv - r->ntop;
  r->matvecs = matvecs;
  r->nconv = nconv;
  r->ncv = ncv;
  r->iterations = iparam[2];
  r->converged = info == 0 && nconv >= nev;
  free(workd), free(workl), free(V); /* before the residuals' own block */
  workd = workl = V = NULL;
  if ((rc = lz_exact_residuals(op, r, err))) goto done;
  if (!r->converged)
    rc = err_set(err, CS_ENOCONV, "eig_parpack: %d of %d pairs converged to tol=%g (%ld "
                 "products)", nconv, nev, o->tol, matvecs);
  goto done;
oom:
  rc = err_set(err, CS_ENOMEM, "eig_parpack: out of memory for n=%zu, ncv=%d", n, ncv);
  goto done;
mpi_fail:
  rc = err_set(err, CS_EIO, "eig_parpack: MPI_Allgatherv failed");
done:
  if (rc && rc != CS_ENOCONV) eig_result_free(r);
  r->wall_s = wall_time() - t0;
  free(x), free(y), free(resid), free(V), free(workd), free(workl), free(d), free(select);
  free(s.counts), free(s.displs);
  return rc;
}
