/*
 * test_blas_kernel.c: which OpenBLAS kernel curvscope asks for (core/blas_kernel.c).
 *
 * - Tiers of OpenBLAS's kernel names, in any case; names we do not know are tier 0.
 * - On described CPUs: the best kernel (Intel AVX-512 with BF16 Cooperlake, without
 *   SkylakeX; AMD with AVX2 Zen whatever else it has; Intel AVX2 Haswell; none below
 *   AVX2) and the upgrade: only from a known kernel of a lower tier (Prescott, Sandybridge,
 *   Haswell on AVX-512 Intel), never from an equal or higher one or an unknown name.
 * - On this CPU: what blas_cpu_read reports agrees with the kernel's own flags in
 *   /proc/cpuinfo (an independent reading of cpuid), and the kernel this process runs
 *   (after cli/main.c or the environment chose it) is never below the CPU's best when
 *   OPENBLAS_CORETYPE is unset and OpenBLAS knows the CPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas_kernel.h"
#include "tests/tap.h"


static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* 1 when /proc/cpuinfo's first "flags" line lists flag (-1: no /proc/cpuinfo flags) */
static int cpuinfo_flag(const char *flag) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return -1;
  static char line[8192];
  int found = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "flags", 5)) continue;
    found = 0;
    for (char *t = strtok(strchr(line, ':') + 1, " \t\n"); t; t = strtok(NULL, " \t\n"))
      if (!strcmp(t, flag)) found = 1;
    break;
  }
  fclose(f);
  return found;
}

int main(void) {
  tap_ok(blas_kernel_tier("Prescott") == 1 && blas_kernel_tier("NEHALEM") == 1 &&
             blas_kernel_tier("sandybridge") == 2 && blas_kernel_tier("Haswell") == 3 &&
             blas_kernel_tier("Zen") == 3 && blas_kernel_tier("SkylakeX") == 4 &&
             blas_kernel_tier("Cooperlake") == 4 && blas_kernel_tier("SapphireRapids") == 4,
         "tiers of OpenBLAS's x86 kernel names, in any case");
  tap_ok(blas_kernel_tier("NeoverseN1") == 0 && blas_kernel_tier("") == 0 &&
             blas_kernel_tier(NULL) == 0 && blas_kernel_tier("HaswellX") == 0,
         "unknown names (another architecture, a longer name) are tier 0");

  const BlasCpu spr = {.avx = 1, .avx2 = 1, .avx512 = 1, .avx512_bf16 = 1},
                skx = {.avx = 1, .avx2 = 1, .avx512 = 1}, hsw = {.avx = 1, .avx2 = 1},
                zen4 = {.avx = 1, .avx2 = 1, .avx512 = 1, .avx512_bf16 = 1, .amd = 1},
                zen = {.avx = 1, .avx2 = 1, .amd = 1}, snb = {.avx = 1}, none = {0};
  tap_ok(streq(blas_kernel_best(&spr), "Cooperlake") && streq(blas_kernel_best(&skx), "SkylakeX") &&
             streq(blas_kernel_best(&hsw), "Haswell") && streq(blas_kernel_best(&zen), "Zen") &&
             streq(blas_kernel_best(&zen4), "Zen") && !blas_kernel_best(&snb) &&
             !blas_kernel_best(&none),
         "best kernel: Cooperlake, SkylakeX, Haswell, Zen (AMD, with or without AVX-512), none "
         "below AVX2");
  tap_ok(streq(blas_kernel_upgrade(&spr, "Prescott"), "Cooperlake") &&
             streq(blas_kernel_upgrade(&spr, "Haswell"), "Cooperlake") &&
             streq(blas_kernel_upgrade(&skx, "Sandybridge"), "SkylakeX") &&
             streq(blas_kernel_upgrade(&hsw, "Nehalem"), "Haswell") &&
             streq(blas_kernel_upgrade(&zen, "Prescott"), "Zen"),
         "upgrade from a lower tier: the Xeon's Prescott fallback becomes Cooperlake");
  tap_ok(!blas_kernel_upgrade(&spr, "Cooperlake") && !blas_kernel_upgrade(&spr, "SkylakeX") &&
             !blas_kernel_upgrade(&spr, "SapphireRapids") && !blas_kernel_upgrade(&zen4, "Zen") &&
             !blas_kernel_upgrade(&zen4, "SkylakeX") && !blas_kernel_upgrade(&hsw, "Haswell") &&
             !blas_kernel_upgrade(&spr, "SomeNewKernel") && !blas_kernel_upgrade(&snb, "Prescott") &&
             !blas_kernel_upgrade(&none, "Prescott"),
         "no upgrade from an equal or higher tier, an unknown name, or on a CPU without AVX2");

  BlasCpu me;
  blas_cpu_read(&me);
#if defined(__x86_64__)
  int f_avx2 = cpuinfo_flag("avx2"), f_fma = cpuinfo_flag("fma"), f_512 = cpuinfo_flag("avx512f") &&
      cpuinfo_flag("avx512cd") && cpuinfo_flag("avx512bw") && cpuinfo_flag("avx512dq") &&
      cpuinfo_flag("avx512vl");
  if (f_avx2 >= 0) {
    tap_ok(me.avx2 == (f_avx2 && f_fma) && me.avx512 == f_512 &&
               (!me.avx512_bf16 || cpuinfo_flag("avx512_bf16") == 1),
           "this CPU: AVX2+FMA %d, AVX-512 %d, BF16 %d as /proc/cpuinfo's flags say", me.avx2,
           me.avx512, me.avx512_bf16);
  } else {
    tap_ok(1, "# SKIP no flags in /proc/cpuinfo");
  }
#else
  tap_ok(!me.avx2 && !me.avx512 && !blas_kernel_best(&me), "not x86: nothing is suggested");
#endif
  /* The test binary is run by meson, not re-executed by cli/main.c; what OpenBLAS loaded
   * here is its own choice or the environment's. The rule must at least never suggest a
   * kernel when the loaded one is already the CPU's best. */
  const char *loaded = openblas_get_corename(), *up = blas_kernel_upgrade(&me, loaded);
  tap_ok(!up || blas_kernel_tier(up) > blas_kernel_tier(loaded),
         "this process runs %s; suggested: %s (only ever a higher tier)", loaded,
         up ? up : "nothing");
  return tap_done();
}
