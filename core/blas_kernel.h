/*
 * blas_kernel.h: which OpenBLAS kernel this CPU should run, when OpenBLAS chose a slower one.
 *
 * OpenBLAS (a DYNAMIC_ARCH build, as Debian's) picks its kernels when it loads, from the
 * CPU's family and model. A CPU newer than the library is not in its tables and falls back
 * to a generic kernel: Debian 12's OpenBLAS 0.3.21 runs "Prescott" (SSE3) on an Intel Xeon
 * of family 6 model 207, whose AVX-512 its own Cooperlake kernel uses: a 2048² DGEMM at 18
 * against 140 GFLOP/s on 2 threads (docs/PERFORMANCE.md, "The BLAS kernel"). The kernel is
 * chosen before main and can only be changed by OPENBLAS_CORETYPE at start-up, so the
 * command line re-runs itself once with it set (cli/main.c); a user's OPENBLAS_CORETYPE
 * always wins. This file only decides: from the instructions the CPU and the OS support
 * (cpuid through __builtin_cpu_supports) and the kernel loaded, which kernel to ask for.
 * No state; x86 only (elsewhere nothing is ever suggested).
 */
#ifndef CS_BLAS_KERNEL_H
#define CS_BLAS_KERNEL_H

/* OpenBLAS's own calls (not every cblas.h declares them): the kernel it loaded, its build. */
char *openblas_get_corename(void);
char *openblas_get_config(void);

/* What the CPU can run, as far as OpenBLAS's kernels care. */
typedef struct BlasCpu {
  int avx, avx2;       /* AVX; AVX2 with FMA3 (OpenBLAS's Haswell and Zen kernels) */
  int avx512;          /* AVX-512 F, CD, BW, DQ and VL (its SkylakeX kernels) */
  int avx512_bf16;     /* and BF16 (its Cooperlake kernels, SBGEMM) */
  int amd;             /* an AMD CPU: the AVX2 kernel is named Zen there */
} BlasCpu;

/* This CPU (zeros on other architectures). */
void blas_cpu_read(BlasCpu *c);
/* A kernel's instruction tier from its OpenBLAS name, any case: 4 AVX-512, 3 AVX2 + FMA,
 * 2 AVX, 1 older x86 kernels (Prescott, Nehalem, ...); 0 a name we do not know. */
int blas_kernel_tier(const char *corename);
/* blas_kernel_tier of the kernel this process loaded, read once: it is fixed at start-up,
 * and the passes ask for it on every forward. */
int blas_kernel_loaded_tier(void);
/* The kernel this CPU should run: "Cooperlake" or "SkylakeX" (Intel with AVX-512), "Zen"
 * (any AMD with AVX2: its AVX-512 under the Intel kernels is unmeasured), "Haswell", or NULL
 * without AVX2 (the kernels OpenBLAS picks itself there are fine). */
const char *blas_kernel_best(const BlasCpu *c);
/* The kernel to set OPENBLAS_CORETYPE to, or NULL: the best one when the kernel loaded
 * (openblas_get_corename()) is of a known x86 tier below it. */
const char *blas_kernel_upgrade(const BlasCpu *c, const char *loaded);

#endif
