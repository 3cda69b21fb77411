/*
 * layout.h: rows per GEMM chunk of the full-batch passes, chosen from the machine.
 *
 * The gradient (loss.c) and the curvature build and products (hessian/curv.c) run whole
 * chunks of rows on each thread with single-threaded BLAS, one part per thread: measured
 * on every kernel we have, that beats one chunk with threaded BLAS (docs/PERFORMANCE.md,
 * "Layout"), so the thread layout stays one part per thread and only the chunk's rows
 * are chosen here. How many rows depends on the kernel OpenBLAS runs: its AVX-512 kernels
 * (SkylakeX, Cooperlake, SapphireRapids) multiply fast enough that re-reading a chunk's
 * input rows from memory shows (cohen's 3072-wide X, packed twice per product): they get
 * chunks whose input fits a thread's share of the L3; the AVX2 kernels (Haswell, Zen) take
 * the largest chunk, which packs the weights least often.
 *
 * Callers pass LAYOUT_CHUNK_AUTO (the default of --chunk) for that choice; any other
 * chunk is taken as given (threads_chunk_rows), so a fixed --chunk gives the bits it
 * always gave. The choice only regroups the sums over rows: results agree with any other
 * chunking to rounding (tests/test_layout.c).
 * Threads: no state; layout_machine_read reads sysfs and OpenBLAS at each call (cheap;
 * callers call it once per workspace allocation, never inside a pass).
 */
#ifndef CS_LAYOUT_H
#define CS_LAYOUT_H

#include <stddef.h>

#include "net.h"

/* "choose from the machine" for a chunk argument (above any real row count). */
#define LAYOUT_CHUNK_AUTO ((size_t)-1)

typedef struct LayoutMachine {
  char corename[32];  /* openblas_get_corename(): "Haswell", "Cooperlake", ... */
  int avx512;         /* that kernel is one of OpenBLAS's AVX-512 kernels */
  size_t l2_bytes;    /* L2 per core (0: unknown) */
  size_t l3_bytes;    /* last-level cache, shared (0: unknown) */
} LayoutMachine;

/* What this process runs on: the kernel OpenBLAS chose (after OPENBLAS_CORETYPE) and
 * the cache sizes of cpu0 (sysfs, else sysconf, else 0). */
void layout_machine_read(LayoutMachine *m);
/* The rule itself, for a given machine: rows per chunk for batches of up to n_max rows
 * on nthreads parts (at least 1, at most ceil(n_max / nthreads)). */
size_t layout_rows_for(const LayoutMachine *m, const Net *net, size_t n_max, int nthreads);
/* Rows per chunk: chunk as given (threads_chunk_rows) unless it is LAYOUT_CHUNK_AUTO,
 * then layout_rows_for on this machine. */
size_t layout_chunk_rows(const Net *net, size_t n_max, size_t chunk, int nthreads);

/* A --chunk value (long, as options and configs hold it) as the allocators take it:
 * negative ('auto') is LAYOUT_CHUNK_AUTO, 0 no limit, else the rows. */
size_t layout_chunk_arg(long chunk);

#endif
