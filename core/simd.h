/*
 * simd.h: CS_SIMD_CLONES, for the few elementwise kernels that are worth wider vectors
 * than the x86-64 baseline (SSE2) the build targets.
 *
 * On x86-64 with GCC or clang and glibc's ifunc, the marked function is compiled three
 * times (AVX-512F, AVX2, baseline) and the loader picks the widest the CPU has; elsewhere
 * the attribute is empty. The results do not depend on the version picked: the build is
 * ISO C (no floating-point contraction, so no FMA is formed) and the kernels use only
 * correctly rounded operations (+, −, ×, ÷, sqrt, conversions) in the source's order.
 * Mark small leaf functions (a loop over a range), not ones with OpenMP regions inside.
 */
#ifndef CS_SIMD_H
#define CS_SIMD_H

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define CS_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef CS_SIMD_CLONES
#define CS_SIMD_CLONES
#endif

#endif
