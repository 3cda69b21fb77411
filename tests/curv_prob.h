/*
 * curv_prob.h: a test problem (net, θ, data, batch) under a Curvature context, and the
 * relative difference of two vectors (test_precision.c, test_block.c).
 */
#ifndef CS_TEST_CURV_PROB_H
#define CS_TEST_CURV_PROB_H

#include <math.h>
#include <stdlib.h>

#include "core/dataset.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/precision.h"
#include "hessian/curv.h"
#include "tests/tap.h"

/* ‖x − ref‖ / ‖ref‖ (‖x − ref‖ when ref is zero). */
__attribute__((unused)) static double rel_diff(const double *x, const double *ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    d += (x[i] - ref[i]) * (x[i] - ref[i]);
    r += ref[i] * ref[i];
  }
  return sqrt(d) / (sqrt(r) > 0 ? sqrt(r) : 1);
}

typedef struct Prob {
  Net net;
  double *theta, *X, *Y;
  int *labels;
  size_t n, P;
  LossKind loss;
  Batch b;
} Prob;

static void prob_free(Prob *p) {
  free(p->theta), free(p->X), free(p->Y), free(p->labels);
  net_deinit(&p->net);
}

/* A context of the problem's rows in chunks of `chunk`, at precision prec, built at θ. */
static Curvature *prob_curv(Prob *p, Precision prec, size_t chunk) {
  Err err = {0};
  Curvature *c = curv_alloc(&p->net, p->loss, p->n, chunk, &err);
  if (!c || curv_set_precision(c, prec, &err) || curv_build(c, p->theta, &p->b, &err)) {
    tap_ok(0, "curvature context (%s)", err.msg);
    curv_free(c);
    return NULL;
  }
  return c;
}

#endif
