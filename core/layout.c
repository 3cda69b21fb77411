/* layout.c: rows per GEMM chunk from the BLAS kernel and the caches (see layout.h). */
#include "layout.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blas_kernel.h"
#include "threads.h"

/* The AVX2 kernels' chunk: the largest, up to the rows the --chunk default always had
 * (a gradient workspace holds one chunk per thread: this bounds it on big batches). */
#define ROWS_MAX 5000
/* The AVX-512 kernels' chunk never goes below this: each chunk packs every weight matrix
 * again, 2·rows FLOPs per packed element; at 256 rows packing stays a few percent. */
#define ROWS_MIN 256

/* Size of cpu0's cache at `level` (a unified or data cache) from sysfs: "1024K", "32M". */
static size_t sysfs_cache(int level) {
  for (int idx = 0; idx < 8; idx++) {
    char path[96], buf[32];
    int lv = 0;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", idx);
    FILE *f = fopen(path, "r");
    if (!f) break;
    int ok = fscanf(f, "%d", &lv) == 1;
    fclose(f);
    if (!ok || lv != level) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", idx);
    if (!(f = fopen(path, "r"))) continue;
    ok = fscanf(f, "%31s", buf) == 1 && strcmp(buf, "Instruction") != 0;
    fclose(f);
    if (!ok) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
    if (!(f = fopen(path, "r"))) continue;
    unsigned long v = 0;
    char unit = 'B';
    int got = fscanf(f, "%lu%c", &v, &unit);
    fclose(f);
    if (got < 1) continue;
    return (size_t)v * (unit == 'K' ? 1024u : unit == 'M' ? 1048576u : 1u);
  }
  return 0;
}

static size_t sysconf_cache(int name) {
  long v = sysconf(name);
  return v > 0 ? (size_t)v : 0;
}

void layout_machine_read(LayoutMachine *m) {
  memset(m, 0, sizeof *m);
  const char *core = openblas_get_corename();
  snprintf(m->corename, sizeof m->corename, "%s", core ? core : "unknown");
  m->avx512 = blas_kernel_tier(m->corename) == 4; /* SkylakeX, Cooperlake, SapphireRapids */
  m->l2_bytes = sysfs_cache(2);
  m->l3_bytes = sysfs_cache(3);
#ifdef _SC_LEVEL2_CACHE_SIZE
  if (!m->l2_bytes) m->l2_bytes = sysconf_cache(_SC_LEVEL2_CACHE_SIZE);
#endif
#ifdef _SC_LEVEL3_CACHE_SIZE
  if (!m->l3_bytes) m->l3_bytes = sysconf_cache(_SC_LEVEL3_CACHE_SIZE);
#endif
}

size_t layout_rows_for(const LayoutMachine *m, const Net *net, size_t n_max, int nthreads) {
  size_t T = nthreads > 1 ? (size_t)nthreads : 1, n = n_max ? n_max : 1;
  size_t rows = ROWS_MAX;
  if (m->avx512 && m->l3_bytes) {
    /* a chunk's input rows (float64) in this thread's share of the L3: the first layer's
     * R-forward (X V0ᵀ) and R-backward (R{G}ᵀ X) both pack them, at every product, and
     * the second then reads them from the cache; the AVX2 kernels are slow enough that
     * memory keeps up either way */
    size_t fit = m->l3_bytes / T / (sizeof(double) * (net->d_in ? net->d_in : 1));
    rows = fit < ROWS_MIN ? ROWS_MIN : fit > ROWS_MAX ? ROWS_MAX : fit;
  }
  /* as many chunks as that needs, a multiple of the parts so each part gets as many,
   * then the rows evened out over them */
  size_t nchunks = (n + rows - 1) / rows;
  nchunks = (nchunks + T - 1) / T * T;
  if (nchunks > n) nchunks = n;
  return (n + nchunks - 1) / nchunks;
}

size_t layout_chunk_rows(const Net *net, size_t n_max, size_t chunk, int nthreads) {
  if (chunk != LAYOUT_CHUNK_AUTO) return threads_chunk_rows(n_max, chunk, nthreads);
  LayoutMachine m;
  layout_machine_read(&m);
  return layout_rows_for(&m, net, n_max, nthreads);
}

size_t layout_chunk_arg(long chunk) { return chunk < 0 ? LAYOUT_CHUNK_AUTO : (size_t)chunk; }
