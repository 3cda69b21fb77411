/*
 * net_pass.c: the float64 passes (net.h): net_pass_t.h with real = double.
 * Nothing here allocates outside _alloc.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "simd.h"

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
