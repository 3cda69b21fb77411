/*
 * minibatch.h: random mini-batches of a data set, for mini-batch Hessians.
 *
 * A MiniBatch draws m of the N rows of a Dataset uniformly without replacement
 * (a partial Fisher-Yates shuffle) and gathers them into row buffers sized once,
 * in minibatch_alloc, for the largest batch m_max: each draw then costs O(m d)
 * copies and no allocation, whatever N is, so a curvature context built on the
 * draw (curv_build, sized for up to N rows) pays only for the m rows it holds.
 * A draw is a pure function of (seed, stream): the shuffle starts from the
 * identity and is undone afterwards, so draws do not depend on call order.
 * Drawing m = N returns the whole set in place (row order kept, no copy).
 *
 * Ownership: minibatch_free (NULL-safe). The MiniBatch keeps a pointer to the
 * Dataset, which must outlive it; a returned Batch points into the MiniBatch's
 * buffers (or the Dataset) and is valid until the next draw.
 * Thread safety: one draw at a time per MiniBatch.
 */
#ifndef CS_MINIBATCH_H
#define CS_MINIBATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"

typedef struct MiniBatch MiniBatch;

/* Buffers for draws of up to m_max rows (m_max <= ds->n; 0 when only whole-set
 * draws are wanted). */
MiniBatch *minibatch_alloc(const Dataset *ds, size_t m_max, Err *err);
void minibatch_free(MiniBatch *mb);

/* Draws m rows (1 <= m <= m_max, or m = ds->n) with the random stream (seed, stream)
 * and fills *out with the gathered batch. CS_EINVAL names m when it is out of range. */
int minibatch_draw(MiniBatch *mb, size_t m, uint64_t seed, uint64_t stream, Batch *out,
                   Err *err);
/* The row indices of the last draw (m of them, in draw order). */
const size_t *minibatch_rows(const MiniBatch *mb);

#endif
