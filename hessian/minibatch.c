/* minibatch.c: uniform mini-batches without replacement, gathered once per draw (see minibatch.h). */
#include "minibatch.h"

#include <stdlib.h>

#include "core/rng.h"

struct MiniBatch {
  const Dataset *ds;
  size_t m_max;
  size_t *perm;   /* [N]: the identity between draws */
  size_t *swap;   /* [m_max]: the partner of each swap, to undo the shuffle */
  size_t *rows;   /* [m_max]: the last draw's indices (perm itself for a whole-set draw) */
  const size_t *last;
  double *X, *Y;  /* [m_max][d], [m_max][k] */
  int *labels;    /* [m_max] or NULL */
};

MiniBatch *minibatch_alloc(const Dataset *ds, size_t m_max, Err *err) {
  if (m_max > ds->n) {
    err_set(err, CS_EINVAL, "mini-batches of %zu rows from %zu examples", m_max, ds->n);
    return NULL;
  }
  MiniBatch *mb = calloc(1, sizeof *mb);
  size_t m = m_max ? m_max : 1;
  if (mb) {
    mb->ds = ds;
    mb->m_max = m_max;
    mb->perm = malloc(ds->n * sizeof *mb->perm);
    mb->swap = malloc(m * sizeof *mb->swap);
    mb->rows = malloc(m * sizeof *mb->rows);
    mb->X = malloc(m * ds->d * sizeof *mb->X);
    mb->Y = malloc(m * (ds->k ? ds->k : 1) * sizeof *mb->Y);
    mb->labels = ds->labels ? malloc(m * sizeof *mb->labels) : NULL;
  }
  if (!mb || !mb->perm || !mb->swap || !mb->rows || !mb->X || !mb->Y ||
      (ds->labels && !mb->labels)) {
    minibatch_free(mb);
    err_set(err, CS_ENOMEM, "out of memory for mini-batches of %zu rows", m_max);
    return NULL;
  }
  for (size_t i = 0; i < ds->n; i++) mb->perm[i] = i;
  mb->last = mb->perm;
  return mb;
}

void minibatch_free(MiniBatch *mb) {
  if (!mb) return;
  free(mb->perm);
  free(mb->swap);
  free(mb->rows);
  free(mb->X);
  free(mb->Y);
  free(mb->labels);
  free(mb);
}

int minibatch_draw(MiniBatch *mb, size_t m, uint64_t seed, uint64_t stream, Batch *out,
                   Err *err) {
  const Dataset *ds = mb->ds;
  if (m == ds->n) { /* the whole set: every row once, in place */
    *out = (Batch){ds->X, ds->Y, ds->labels, ds->n, NULL, NULL};
    mb->last = mb->perm;
    return CS_OK;
  }
  if (m == 0 || m > mb->m_max)
    return err_set(err, CS_EINVAL, "batch of %zu rows (draws hold 1..%zu, or all %zu)", m,
                   mb->m_max, ds->n);
  Rng r;
  rng_seed_stream(&r, seed, stream);
  /* Partial Fisher-Yates: position i takes a uniform pick of the N - i rows not yet taken. */
  for (size_t i = 0; i < m; i++) {
    size_t j = i + rng_below(&r, ds->n - i), t = mb->perm[i];
    mb->perm[i] = mb->perm[j];
    mb->perm[j] = t;
    mb->swap[i] = j;
    mb->rows[i] = mb->perm[i];
  }
  for (size_t i = m; i-- > 0;) { /* back to the identity, so the next draw is independent */
    size_t j = mb->swap[i], t = mb->perm[i];
    mb->perm[i] = mb->perm[j];
    mb->perm[j] = t;
  }
  dataset_gather(ds, mb->rows, m, mb->X, mb->Y, mb->labels);
  mb->last = mb->rows;
  *out = (Batch){mb->X, mb->Y, mb->labels, m, NULL, NULL};
  return CS_OK;
}

const size_t *minibatch_rows(const MiniBatch *mb) { return mb->last; }
