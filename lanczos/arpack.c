/*
 * arpack.c: eig_arpack, ARPACK-ng's implicitly restarted Lanczos over a Linop.
 *
 * Reverse communication (docs/LANCZOS.md): dsaupd asks for y = A x
 * through ido/ipntr, we apply the operator to workd in place, and dseupd
 * turns the final factorisation into Ritz pairs. Mode 1 (standard problem),
 * exact shifts, an explicit start vector always (ARPACK's own random start
 * keeps hidden state). ARPACK is not reentrant: a process-wide flag refuses a
 * second concurrent solve.
 */
#include <arpack.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "lanczos/lz_internal.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static atomic_flag arpack_busy = ATOMIC_FLAG_INIT;

/* ARPACK's dsaupd/dseupd info codes, explained. */
static const char *arpack_info_text(int info) {
  switch (info) {
    case 1: return "maximum number of restart cycles reached";
    case 3: return "no shifts could be applied during a restart cycle (ncv too small for nev)";
    case -1: return "n must be positive";
    case -2: return "nev must be positive";
    case -3: return "ncv must be greater than nev and at most n";
    case -4: return "maxit must be positive";
    case -5: return "which must be LM, SM, LA, SA or BE";
    case -6: return "bmat must be I or G";
    case -7: return "workl is too short";
    case -8: return "LAPACK dsteqr failed on the tridiagonal matrix";
    case -9: return "the start vector is zero";
    case -10: return "iparam[6] (mode) must be 1..5";
    case -11: return "mode 1 is incompatible with bmat G";
    case -12: return "iparam[0] (ishift) must be 0 or 1 (dsaupd) / nev=1 incompatible with BE (dseupd)";
    case -13: return "nev and which=BE are incompatible";
    case -14: return "dsaupd found no eigenvalue to sufficient accuracy";
    case -15: return "howmny must be A or S";
    case -16: return "howmny=S is not implemented";
    case -9999: return "could not build a Lanczos factorization (operator may be inconsistent)";
    default: return "unknown ARPACK error";
  }
}

/* Numerical failures are non-convergence; the rest are bad arguments (our bug or the caller's). */
static int arpack_status(int info) {
  return (info == -8 || info == -9999 || info == -14 || info == 1 || info == 3) ? CS_ENOCONV
                                                                                : CS_EINVAL;
}

typedef struct ArpackWork {
  double *resid, *V, *workd, *workl, *d;
  a_int *select;
} ArpackWork;

static void arpack_work_free(ArpackWork *w) {
  free(w->resid);
  free(w->V);
  free(w->workd);
  free(w->workl);
  free(w->d);
  free(w->select);
  memset(w, 0, sizeof *w);
}

static int arpack_work_alloc(ArpackWork *w, size_t n, int ncv, int nev, Err *err) {
  size_t c = (size_t)ncv;
  w->resid = malloc(n * sizeof *w->resid);
  w->V = malloc(n * c * sizeof *w->V);
  w->workd = malloc(3 * n * sizeof *w->workd);
  w->workl = calloc(c * (c + 8), sizeof *w->workl);
  w->d = calloc(c, sizeof *w->d);
  w->select = calloc(c, sizeof *w->select);
  if (!w->resid || !w->V || !w->workd || !w->workl || !w->d || !w->select) {
    arpack_work_free(w);
    return err_set(err, CS_ENOMEM, "eig_arpack: cannot allocate workspace for n=%zu, ncv=%d", n,
                   ncv);
  }
  return CS_OK;
}

/* Reorders the first m columns of V (n rows) so that column i becomes old column
 * src[i] (src a permutation of 0..m-1), following cycles through one n-vector tmp. */
static void permute_columns(double *V, size_t n, const int *src, int m, double *tmp,
                            unsigned char *done) {
  memset(done, 0, (size_t)m);
  for (int i = 0; i < m; i++) {
    if (done[i] || src[i] == i) continue;
    memcpy(tmp, V + (size_t)i * n, n * sizeof *tmp);
    int j = i;
    while (src[j] != i) {
      memcpy(V + (size_t)j * n, V + (size_t)src[j] * n, n * sizeof *V);
      done[j] = 1;
      j = src[j];
    }
    memcpy(V + (size_t)j * n, tmp, n * sizeof *V);
    done[j] = 1;
  }
}

/* Which end a converged Ritz value belongs to. For BE it is ranked among the ncv
 * eigenvalues of ARPACK's final H: the wanted bottom ones are its lowest, the
 * top ones its highest, so the lower half is the bottom end. */
static int arpack_is_bottom(EigWhich which, double theta, const double *hev, int ncv) {
  if (which != EIG_BOTH) return which == EIG_BOTTOM;
  int below = 0;
  for (int i = 0; i < ncv; i++) below += hev[i] < theta;
  return 2 * below < ncv;
}

static int eig_arpack_locked(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
  const double t0 = wall_time();
  int nev, rc = lz_check_opts(op, o, &nev, "eig_arpack", err);
  if (rc) return rc;
  const a_int n = (a_int)op->n;
  const char *which = o->which == EIG_TOP ? "LA" : o->which == EIG_BOTTOM ? "SA" : "BE";
  a_int ncv = o->ncv > 0 ? o->ncv : MIN(n, MAX(2 * nev + 1, 20));
  if (ncv > n) ncv = n;
  if (ncv <= nev)
    return err_set(err, CS_EINVAL, "eig_arpack: ncv=%d must exceed nev=%d (and be <= n=%d)",
                   (int)ncv, nev, (int)n);

  double *start = malloc((size_t)n * sizeof *start);
  if (!start) return err_set(err, CS_ENOMEM, "eig_arpack: cannot allocate a start vector");
  rc = lz_start_vector((size_t)n, o->warm, o->nwarm, o->seed, start, err);
  if (rc) {
    free(start);
    return err_prefix(err, "eig_arpack");
  }

  ArpackWork w = {0};
  a_int iparam[11], ipntr[11], ido, info, lworkl = 0;
  long matvecs = 0;
  for (int attempt = 0;; attempt++) {
    rc = arpack_work_alloc(&w, (size_t)n, ncv, nev, err);
    if (rc) goto done;
    lworkl = ncv * (ncv + 8);
    memset(iparam, 0, sizeof iparam);
    memset(ipntr, 0, sizeof ipntr);
    iparam[0] = 1;        /* exact shifts */
    iparam[2] = o->maxit; /* restart cycles */
    iparam[3] = 1;        /* block size */
    iparam[6] = 1;        /* mode 1: A x = lambda x */
    memcpy(w.resid, start, (size_t)n * sizeof *start);
    ido = 0;
    info = 1;             /* resid holds our start vector */
    for (;;) {
      dsaupd_c(&ido, "I", n, which, nev, o->tol, w.resid, ncv, w.V, n, iparam, ipntr, w.workd,
               w.workl, lworkl, &info);
      if (ido != -1 && ido != 1) break;
      rc = op->apply(op->self, w.workd + ipntr[0] - 1, w.workd + ipntr[1] - 1);
      matvecs++;
      if (rc) {
        err_set(err, rc, "eig_arpack: operator apply failed at product %ld (status %d)", matvecs,
                rc);
        goto done;
      }
    }
    if (ido != 99) {
      rc = err_set(err, CS_EINVAL, "eig_arpack: unexpected ARPACK request ido=%d in mode 1",
                   (int)ido);
      goto done;
    }
    if (info == 3 && attempt == 0 && ncv < n) {
      arpack_work_free(&w);
      ncv = MIN(n, 2 * ncv);
      continue;
    }
    break;
  }
  r->ncv = ncv;
  r->iterations = iparam[2];
  if (info < 0 || info == 3) {
    rc = err_set(err, arpack_status(info), "eig_arpack: dsaupd info=%d: %s (n=%d, nev=%d, ncv=%d)",
                 (int)info, arpack_info_text(info), (int)n, nev, (int)ncv);
    goto done;
  }
  const int hit_maxit = info == 1;
  int nconv = iparam[4];
  if (nconv > nev) nconv = iparam[4] = nev;
  if (nconv <= 0) {
    r->matvecs = matvecs;
    rc = err_set(err, CS_ENOCONV,
                 "eig_arpack: no Ritz pair converged to tol=%g after %d restart cycles (%ld "
                 "products); raise maxit or ncv",
                 o->tol, (int)iparam[2], matvecs);
    goto done;
  }

  /* Z = V (dseupd allows it): the Ritz vectors overwrite the basis's first columns,
   * and V then becomes the result's vectors, so no second n x nev array exists. */
  a_int info2 = 0;
  dseupd_c(1, "A", w.select, w.d, w.V, n, 0.0, "I", n, which, nev, o->tol, w.resid, ncv, w.V, n,
           iparam, ipntr, w.workd, w.workl, lworkl, &info2);
  if (info2 != 0) {
    rc = err_set(err, arpack_status(info2), "eig_arpack: dseupd info=%d: %s", (int)info2,
                 arpack_info_text(info2));
    goto done;
  }
  /* d[0..nconv) ascending with vectors V + j*n; Ritz estimates at workl + ipntr[8] - 1
   * (Fortran IPNTR(9)), in the same order. H's ncv eigenvalues at workl + ipntr[7] - 1. */
  const double *est = w.workl + ipntr[8] - 1, *hev = w.workl + ipntr[7] - 1;
  int ntop = 0, nbot = 0;
  for (int j = 0; j < nconv; j++) {
    if (arpack_is_bottom(o->which, w.d[j], hev, ncv)) nbot++;
    else ntop++;
  }
  free(w.workd), free(w.resid);
  w.workd = w.resid = NULL;
  rc = lz_result_alloc(r, (size_t)n, nconv, 0, err);
  if (rc) goto done;
  r->ncv = ncv;
  r->iterations = iparam[2];
  r->k = nconv;
  r->ntop = ntop;
  r->nbottom = nbot;
  /* top pairs: descending, i.e. walk d from the end; bottom pairs: ascending.
   * src[slot] is the column of V holding the vector of result slot `slot`. */
  int slot = 0, *src = malloc((size_t)nconv * (sizeof *src + 1));
  if (!src) {
    rc = err_set(err, CS_ENOMEM, "eig_arpack: out of memory");
    goto done;
  }
  for (int j = nconv - 1; j >= 0; j--)
    if (!arpack_is_bottom(o->which, w.d[j], hev, ncv)) src[slot++] = j;
  for (int j = 0; j < nconv; j++)
    if (arpack_is_bottom(o->which, w.d[j], hev, ncv)) src[slot++] = j;
  for (int i = 0; i < nconv; i++) {
    r->values[i] = w.d[src[i]];
    r->residuals[i] = est[src[i]];
  }
  permute_columns(w.V, (size_t)n, src, nconv, start, (unsigned char *)(src + nconv));
  free(src);
  r->vectors = realloc(w.V, (size_t)n * (size_t)nconv * sizeof *r->vectors);
  if (!r->vectors) r->vectors = w.V; /* a failed shrink keeps the larger block */
  w.V = NULL;
  r->matvecs = matvecs;
  r->nconv = nconv;
  r->converged = !hit_maxit && nconv >= nev;
  if (o->exact_residuals && (rc = lz_exact_residuals(op, r, err))) goto done;
  if (!r->converged)
    rc = err_set(err, CS_ENOCONV,
                 "eig_arpack: %s after %d restart cycles: %d of %d pairs converged to tol=%g "
                 "(%ld products); raise maxit or ncv",
                 arpack_info_text(1), (int)iparam[2], nconv, nev, o->tol, matvecs);
done:
  if (rc && rc != CS_ENOCONV) eig_result_free(r);
  if (r->matvecs == 0) r->matvecs = matvecs;
  r->wall_s = wall_time() - t0;
  arpack_work_free(&w);
  free(start);
  return rc;
}

int eig_arpack(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
  if (!r) return err_set(err, CS_EINVAL, "eig_arpack: result is NULL");
  memset(r, 0, sizeof *r);
  if (atomic_flag_test_and_set(&arpack_busy))
    return err_set(err, CS_EINVAL,
                   "eig_arpack: ARPACK busy: another solve is running in this process "
                   "(ARPACK is not reentrant; run solves one at a time)");
  int rc = eig_arpack_locked(op, o, r, err);
  atomic_flag_clear(&arpack_busy);
  return rc;
}
