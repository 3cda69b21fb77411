/*
 * bench_block.h: `curvscope bench block --workload NAME`: block products and the block
 * solver against the single ones, in one run on one built curvature context: the time
 * per vector of H·V for k = 2, 4, 10 against k single products, and top-1/top-10 by the
 * own Lanczos and by LOBPCG (products, seconds, values). Prints (it is cli/).
 */
#ifndef CS_BENCH_BLOCK_H
#define CS_BENCH_BLOCK_H

#include "core/json.h"
#include "hessian/curv.h"

/* Runs the measurements (budget: seconds per timed measurement) and prints them as table
 * rows, or appends JSON keys (",\"key\":value") to json when it is non-NULL. */
int bench_block_run(Curvature *curv, double tol, int ten, double budget, StrBuf *json, Err *err);

#endif
