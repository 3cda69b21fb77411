/*
 * net_pass.c: the float64 passes (net.h): net_pass_t.h with real = double.
 * Nothing here allocates outside _alloc.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas_kernel.h"
#include "net.h"
#include "simd.h"

static int gemm_swap_mode = -1;
static unsigned long gemm_swap_count;

unsigned long net_gemm_swap_calls(void) {
  unsigned long n;
#pragma omp atomic read
  n = gemm_swap_count;
  return n;
}

static void gemm_swap_counted(void) {
#pragma omp atomic
  gemm_swap_count++;
}

void net_gemm_swap_set(int mode) { gemm_swap_mode = mode < 0 ? -1 : mode > 0; }

int net_gemm_swap_on(void) {
  if (gemm_swap_mode >= 0) return gemm_swap_mode;
  return blas_kernel_loaded_tier() == 4;
}

#define NT_SWAP 1 /* the template's gemm_nt may run as a transposed GEMM (net.h) */

typedef double real;
#define NP(name) name
#define NetCacheT NetCache
#define NetRWorkT NetRWork
#define CBLAS_GEMM cblas_dgemm
#define CBLAS_GEMV cblas_dgemv
#define ACT_EVAL act_eval
#define RCOS cos
#define RSIN sin
#define NET_W net_W
#define NET_B net_b

#include "net_pass_t.h"

#include "net_tangent.h"
#define NetTanT NetTan
#include "net_tangent_t.h"

int net_tan_supported(const Net *net) { return tan_ok(net); }
