/*
 * curv_f32.h: the float32 side of a Curvature context (hessian/curv.c, --precision mixed).
 *
 * Float copies of θ and of the batch's inputs, a float32 cache per chunk and a float32
 * R-workspace per thread, all sized once (curv_f32_alloc). Each chunk runs its passes in
 * float32 and its loss, output-space Hessian and result in float64: the chunk's float
 * gradient or product is added into the caller's double accumulator, so the sum over
 * chunks (and threads) is in double. Internal to hessian/: curv.c owns the threading.
 *
 * Ownership: curv_f32_free (NULL-safe). Threads: chunk calls for distinct t may run at
 * once (each thread t has its own workspaces); set_theta/set_rows/set_dir are serial.
 */
#ifndef CS_CURV_F32_H
#define CS_CURV_F32_H

#include <stddef.h>

#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"

typedef struct CurvF32 CurvF32;

/* nchunks_max caches of `chunk` rows (the last of n_max − (nchunks_max−1)·chunk), nthreads
 * R-workspaces. */
CurvF32 *curv_f32_alloc(const Net *net, size_t n_max, size_t chunk, int nthreads, Err *err);
void curv_f32_free(CurvF32 *f);
/* θ and the batch's rows X [n][d_in] to float (each build). */
void curv_f32_set_point(CurvF32 *f, const double *theta, const double *X, size_t n);
/* The direction v to float (each product). */
void curv_f32_set_dir(CurvF32 *f, const double *v);
/* Chunk i (rows r0.. r0+m of b) on thread t: forward and backward in float32, loss in
 * double; adds the chunk's share of ∇L to g (double) and its argmax hits to *correct.
 * Returns Σ ℓ over the chunk. */
double curv_f32_objective_chunk(CurvF32 *f, LossKind loss, const Batch *b, int i, size_t r0,
                                size_t m, int t, double *g, size_t *correct);
/* Chunk i's product along the direction of set_dir (mode NET_R_HESSIAN or NET_R_GGN)
 * with the loss's output Hessian scaled by `scale`, added to dst (double). */
void curv_f32_product_chunk(CurvF32 *f, LossKind loss, const Batch *b, int i, size_t r0,
                            int t, double scale, int mode, double *dst);
/* Block products (curv_hvp_block): float workspaces for up to k directions (CS_ENOMEM);
 * the packed directions vf, vb (k·P each, net.h's block layout) to float; chunk i's block
 * product added to dst (2kP doubles: outA then outB, as net_rbackward_block's). */
int curv_f32_block_reserve(CurvF32 *f, size_t k);
/* Rows of a chunk per block pass (hessian/curv.c): both precisions split alike. */
size_t curv_block_rows(size_t chunk, size_t k);
/* Rows a block workspace for up to kmax directions holds: k·curv_block_rows for every k. */
size_t curv_block_capacity(size_t chunk, size_t kmax);
void curv_f32_block_set_dir(CurvF32 *f, size_t k, const double *vf, const double *vb);
void curv_f32_block_chunk(CurvF32 *f, size_t k, LossKind loss, const Batch *b, int i,
                          size_t r0, int t, double scale, int mode, double *dst);
/* Chunk i's outputs F [m][d_out] in double, as the loss saw them. */
const double *curv_f32_outputs(const CurvF32 *f, int i, size_t *m);

#endif
