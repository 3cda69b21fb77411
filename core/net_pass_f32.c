/*
 * net_pass_f32.c: the float32 passes (net.h, "float32 passes"): net_pass_t.h with
 * real = float, SGEMM and float activations. Parameters come as a float copy of θ
 * (frozen embedding weights from net->frozen32). Nothing here allocates outside _alloc.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "simd.h"

typedef float real;
#define NP(name) name##_f32
#define NetCacheT NetCacheF32
#define NetRWorkT NetRWorkF32
#define CBLAS_GEMM cblas_sgemm
#define CBLAS_GEMV cblas_sgemv
#define ACT_EVAL act_eval_f32
#define RCOS cosf
#define RSIN sinf
#define NET_W net_W_f32
#define NET_B net_b_f32
#define NT_SWAP 0 /* SGEMM gains nothing from the transposed form (net.h) */
static void gemm_swap_counted(void) {}

#include "net_pass_t.h"

#include "net_tangent.h"
#define NetTanT NetTanF32
#include "net_tangent_t.h"
