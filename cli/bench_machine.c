/* bench_machine.c: `curvscope bench machine`: what this process runs on, as the benchmarks
 * and the chunk choice see it (the CPU, its instructions, the BLAS kernel and who chose it,
 * the caches, the threads). bench/compare reads its JSON to run the peer on our kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_loop.h"
#include "core/blas_kernel.h"
#include "core/json.h"
#include "core/layout.h"
#include "core/net.h"
#include "core/threads.h"


/* /proc/cpuinfo's model name, with the family and model numbers (a VM's name can be as
 * vague as "Intel(R) Xeon(R) Processor"; OpenBLAS chooses from the numbers). */
static void cpu_model(char *out, size_t n) {
  char name[256] = "unknown", family[32] = "?", model[32] = "?", line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f) && strcmp(line, "\n")) {
    char *v = strchr(line, ':');
    if (!v) continue;
    v += 1 + (v[1] == ' ');
    v[strcspn(v, "\n")] = '\0';
    if (!strncmp(line, "model name", 10)) snprintf(name, sizeof name, "%s", v);
    else if (!strncmp(line, "cpu family", 10)) snprintf(family, sizeof family, "%s", v);
    else if (!strncmp(line, "model\t", 6)) snprintf(model, sizeof model, "%s", v);
  }
  if (f) fclose(f);
  snprintf(out, n, "%s (family %s, model %s)", name, family, model);
}

/* Who set the kernel: "curvscope" (cli/main.c replaced OpenBLAS's choice), "environment"
 * (OPENBLAS_CORETYPE given), "openblas" (its own choice). */
const char *bench_kernel_source(void) {
  if (bench_kernel_replaced()) return "curvscope";
  return getenv("OPENBLAS_CORETYPE") ? "environment" : "openblas";
}

const char *bench_kernel_replaced(void) {
  return getenv("OPENBLAS_CORETYPE") ? getenv("CURVSCOPE_BLAS_CHOSEN") : NULL;
}

int bench_machine_main(int json) {
  BlasCpu cpu;
  LayoutMachine m;
  char model[256];
  blas_cpu_read(&cpu);
  layout_machine_read(&m);
  cpu_model(model, sizeof model);
  const char *best = blas_kernel_best(&cpu), *chosen = bench_kernel_replaced(),
             *source = bench_kernel_source(), *ct = getenv("OPENBLAS_CORETYPE"),
             *wp = getenv("OMP_WAIT_POLICY");
  if (json) {
    StrBuf b;
    sb_init(&b);
    sb_append(&b, "{\"mode\":\"machine\"");
    bench_json_kstr(&b, "cpu_model", model);
    bench_json_kv(&b, "avx2", cpu.avx2);
    bench_json_kv(&b, "avx512", cpu.avx512);
    bench_json_kv(&b, "avx512_bf16", cpu.avx512_bf16);
    bench_json_kstr(&b, "openblas_corename", openblas_get_corename());
    bench_json_kstr(&b, "openblas_chosen", chosen);
    bench_json_kstr(&b, "kernel_source", source);
    bench_json_kstr(&b, "openblas_coretype", ct);
    bench_json_kstr(&b, "best_kernel", best);
    bench_json_kstr(&b, "openblas_config", openblas_get_config());
    bench_json_kv(&b, "l2_bytes", (double)m.l2_bytes);
    bench_json_kv(&b, "l3_bytes", (double)m.l3_bytes);
    bench_json_kv(&b, "gemm_swap", net_gemm_swap_on());
    bench_json_kv(&b, "threads", threads_get());
    bench_json_kstr(&b, "omp_wait_policy", wp);
    printf("%s}\n", b.p);
    sb_free(&b);
    return 0;
  }
  printf("curvscope bench machine\n");
  printf("  CPU               %s\n", model);
  printf("  instructions      %s%s%s\n", cpu.avx2 ? "AVX2+FMA" : cpu.avx ? "AVX" : "no AVX",
         cpu.avx512 ? ", AVX-512" : "", cpu.avx512_bf16 ? ", AVX-512 BF16" : "");
  printf("  BLAS              %s\n", openblas_get_config());
  printf("  kernel            %s", openblas_get_corename());
  if (chosen)
    printf(" (OpenBLAS chose %s; curvscope set OPENBLAS_CORETYPE=%s)\n", chosen, ct);
  else if (ct)
    printf(" (OPENBLAS_CORETYPE=%s from the environment)\n", ct);
  else
    printf(" (OpenBLAS's own choice)\n");
  printf("  best kernel here  %s\n", best ? best : "(OpenBLAS's own choice: no AVX2)");
  printf("  caches            L2 %zu KiB per core, L3 %zu KiB\n", m.l2_bytes / 1024,
         m.l3_bytes / 1024);
  printf("  chunk rule        %s\n", m.avx512 ? "AVX-512 kernel: a chunk's input rows in the thread's L3 share"
                                              : "one chunk per thread, up to 5000 rows");
  printf("  forward GEMMs     %s\n", net_gemm_swap_on() ? "transposed where the inner dimension is "
                                    "long (AVX-512 kernel, float64; core/net.h)" : "plain");
  printf("  threads           %d (OMP_WAIT_POLICY=%s)\n", threads_get(), wp ? wp : "(unset)");
  return 0;
}
