/*
 * track.h: cheap, checked tracking of the top-k eigenpairs along a trajectory.
 *
 * Between two nearby parameter points the top eigenvectors barely move. Each
 * measurement applies the operator once to the previous k vectors V (one block
 * product, k vectors) and does Rayleigh-Ritz on span(V). The Ritz values are
 * accepted when the a-posteriori bound |λ − θ| ≤ ‖Hy − θy‖²/δ is at most tol·|θ|
 * (or a looser update_tol·|θ|, tracker_set_update_tol)
 * for every pair, δ = θ_k − θ_{k+1} the gap to the rest of the spectrum (θ_{k+1}
 * from the last full solve, which computes one pair more than asked). Otherwise
 * (and at the first measurement) a full Lanczos (or ARPACK) solve to tol,
 * warm-started from the Ritz vectors, decides.
 * The next V is the orthonormalised H·Y (one step of subspace iteration for free),
 * so the vectors keep converging while training moves.
 *
 * Ownership: tracker_alloc/tracker_free; the EigResult is the caller's (free it).
 */
#ifndef CS_TRACK_H
#define CS_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/linop.h"
#include "lanczos/eig.h"

typedef struct Tracker Tracker;

#define TRACKER_MAX_K 64 /* pairs a tracker follows at most */

/* n unknowns, 1 <= k <= TRACKER_MAX_K pairs (k < n), tol as in EigOpts; use_arpack selects
 * the full solver. NULL for a bad k or out of memory. */
Tracker *tracker_alloc(size_t n, int k, double tol, int use_arpack, uint64_t seed);
void tracker_free(Tracker *t);
/* Accept the one-product update when its bound is within update_tol·|θ| (default:
 * tol), and solve in full at least every `refresh` measurements (0: only when the
 * bound fails). A looser update_tol (say 1e-2) makes most measurements one product
 * per pair. The refresh is what catches a crossing: when another eigenvalue rises
 * past the tracked one, the tracked vector still has a small residual (it is near an
 * eigenvector, just not the top one) and δ from the last full solve is stale, so the
 * bound cannot see it; a full solve finds the new top. */
#define TRACKER_REFRESH 10 /* refresh < 0: this when update_tol > tol, else none */
void tracker_set_update_tol(Tracker *t, double update_tol, int refresh);
/* A refresh also computes the update it replaces (one block product) and compares:
 * tracker_last_check is (λ_full − θ_update)/|λ_full| at the last measurement when it
 * was such a check, else NAN. A check beyond update_tol halves the refresh interval
 * (down to 2), a passed one doubles it back (up to refresh). */
double tracker_last_check(const Tracker *t);
/* value_stop 1: the full solves stop when each value's error bound est²/δ is within
 * tol·|θ| (EigOpts.value_tol, δ from the Ritz values and the last solve's θ_{k+1})
 * instead of the residual: same accuracy of the values for fewer products, vectors
 * to about sqrt(tol) (they only seed the next measurement). Own Lanczos only. */
void tracker_set_value_stop(Tracker *t, int value_stop);
/* lobpcg 1: the full solves are warm LOBPCG (eig_lobpcg_values, lanczos/eig.h) over the
 * operator's block product, block k + 1 (the Ritz vectors and their products from the
 * update, one seeded guard), with the value stop when it is set; 0: the own Lanczos
 * (default). Ignored with use_arpack. */
void tracker_set_lobpcg(Tracker *t, int lobpcg);
/* Forget the vectors: the next measurement is a full cold solve. */
void tracker_reset(Tracker *t);
/* Measures the top-k pairs of op. r: values descending, vectors, residuals (exact for
 * accepted updates, the solver's estimates otherwise), matvecs, wall_s, converged.
 * *full (optional) says whether a full solve was needed. After a full solve of the own
 * Lanczos, r's vectors live in the tracker's workspace (r->vectors_borrowed): valid until
 * its next measurement; eig_result_free(r) is right either way. */
int tracker_measure(Tracker *t, const Linop *op, EigResult *r, int *full, Err *err);
/* Counters: measurements and full solves so far. */
void tracker_counts(const Tracker *t, long *measurements, long *full_solves);

#endif
