/* blas_kernel.c: the OpenBLAS kernel for this CPU (see blas_kernel.h). */
#include "blas_kernel.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

void blas_cpu_read(BlasCpu *c) {
  memset(c, 0, sizeof *c);
#if defined(__x86_64__) || defined(__i386__)
  /* libgcc's cpuid reading also checks that the OS saves the AVX and AVX-512 state */
  __builtin_cpu_init();
  c->avx = __builtin_cpu_supports("avx") != 0;
  c->avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  c->avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
              __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
              __builtin_cpu_supports("avx512vl");
  c->avx512_bf16 = c->avx512 && __builtin_cpu_supports("avx512bf16");
  c->amd = __builtin_cpu_is("amd") != 0;
#endif
}

/* OpenBLAS's x86 kernel names (driver/others/dynamic.c's corename table) by tier. */
static const struct { const char *name; int tier; } KERNELS[] = {
    {"skylakex", 4},    {"cooperlake", 4},   {"sapphirerapids", 4}, {"haswell", 3},
    {"zen", 3},         {"excavator", 2},    {"steamroller", 2},    {"piledriver", 2},
    {"bulldozer", 2},   {"sandybridge", 2},  {"nehalem", 1},        {"dunnington", 1},
    {"penryn", 1},      {"core2", 1},        {"atom", 1},           {"prescott", 1},
    {"northwood", 1},   {"banias", 1},       {"coppermine", 1},     {"katmai", 1},
    {"barcelona", 1},   {"opteron_sse3", 1}, {"opteron", 1},        {"athlon", 1},
    {"bobcat", 1},      {"nano", 1},
};

int blas_kernel_tier(const char *corename) {
  char low[32];
  size_t i = 0;
  if (!corename) return 0;
  for (; corename[i] && i + 1 < sizeof low; i++) low[i] = (char)tolower((unsigned char)corename[i]);
  low[i] = '\0';
  for (size_t k = 0; k < sizeof KERNELS / sizeof *KERNELS; k++)
    if (!strcmp(low, KERNELS[k].name)) return KERNELS[k].tier;
  return 0;
}

int blas_kernel_loaded_tier(void) {
  static int tier = -1; /* every thread computes the same value: a benign race */
  if (tier < 0) tier = blas_kernel_tier(openblas_get_corename());
  return tier;
}

const char *blas_kernel_best(const BlasCpu *c) {
  /* AMD's AVX-512 (Zen 4, 5) under the Intel kernels is unmeasured here: Zen stays */
  if (c->avx512 && !c->amd) return c->avx512_bf16 ? "Cooperlake" : "SkylakeX";
  if (c->avx2) return c->amd ? "Zen" : "Haswell";
  return NULL;
}

const char *blas_kernel_upgrade(const BlasCpu *c, const char *loaded) {
  const char *best = blas_kernel_best(c);
  int have = blas_kernel_tier(loaded);
  /* an unknown name (another architecture, a newer OpenBLAS's kernel): leave it */
  if (!best || !have) return NULL;
  return have < blas_kernel_tier(best) ? best : NULL;
}
