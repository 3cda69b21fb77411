/* act.c: activations and their derivatives (docs/MATH.md, "Activations"). */
#include "act.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "simd.h"
#include "spec.h"

#if defined(__x86_64__) && defined(__GLIBC__) && defined(CS_HAVE_LIBMVEC)
/* glibc's libmvec has vector tanh and expf; math.h only announces them under -ffast-math. */
#pragma omp declare simd notinbranch
extern double tanh(double);
#pragma omp declare simd notinbranch
extern float tanhf(float);
#pragma omp declare simd notinbranch
extern float expf(float);
#endif

static const char *const names[] = {"identity", "relu", "tanh", "softplus", "gelu",
                                    "sine",     "hat",  "sigmoid", "swish", "cossin"};

const char *act_name(ActKind k) { return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?"; }

int act_parse(const char *text, Act *a, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return CS_EINVAL;
  a->w0 = 1.0;
  int found = -1;
  for (int k = 0; k < ACT_COSSIN; k++)
    if (!strcmp(s.kind, names[k])) found = k;
  if (!strcmp(s.kind, "linear") || !strcmp(s.kind, "none")) found = ACT_IDENTITY;
  if (!strcmp(s.kind, "siren")) found = ACT_SINE;
  if (!strcmp(s.kind, "silu")) found = ACT_SWISH;
  if (found < 0) {
    err_set(err, CS_EINVAL,
            "unknown activation '%s' (known: identity, relu, tanh, softplus, gelu, sine, hat, "
            "sigmoid, swish)", s.kind);
    spec_free(&s);
    return CS_EINVAL;
  }
  a->kind = (ActKind)found;
  if (a->kind == ACT_SINE) a->w0 = 30.0;
  int rc = spec_get_double(&s, "w0", &a->w0, err);
  if (!rc) rc = spec_check_unused(&s, 0, err);
  spec_free(&s);
  return rc;
}

static inline double phi(double x) { return 0.3989422804014327 * exp(-0.5 * x * x); }
static inline double Phi(double x) { return 0.5 * erfc(-x * 0.7071067811865476); }

double act_f(Act act, double z) {
  switch (act.kind) {
    case ACT_IDENTITY: return z;
    case ACT_RELU: return z > 0 ? z : 0;
    case ACT_TANH: return tanh(z);
    case ACT_SOFTPLUS: return z > 30 ? z : log1p(exp(z));
    case ACT_GELU: return z * Phi(z);
    case ACT_SINE: return sin(act.w0 * z);
    case ACT_HAT: return (z >= 0 && z <= 1) ? z : (z > 1 && z <= 2) ? 2 - z : 0;
    case ACT_SIGMOID: return 1 / (1 + exp(-z));
    case ACT_SWISH: return z / (1 + exp(-z));
    default: return NAN;
  }
}

double act_df(Act act, double z) {
  switch (act.kind) {
    case ACT_IDENTITY: return 1;
    case ACT_RELU: return z > 0 ? 1 : 0;
    case ACT_TANH: { double t = tanh(z); return 1 - t * t; }
    case ACT_SOFTPLUS: return 1 / (1 + exp(-z));
    case ACT_GELU: return Phi(z) + z * phi(z);
    case ACT_SINE: return act.w0 * cos(act.w0 * z);
    case ACT_HAT: return (z >= 0 && z <= 1) ? 1 : (z > 1 && z <= 2) ? -1 : 0;
    case ACT_SIGMOID: { double s = 1 / (1 + exp(-z)); return s * (1 - s); }
    case ACT_SWISH: { double s = 1 / (1 + exp(-z)); return s * (1 + z * (1 - s)); }
    default: return NAN;
  }
}

double act_d2f(Act act, double z) {
  switch (act.kind) {
    case ACT_TANH: { double t = tanh(z); return -2 * t * (1 - t * t); }
    case ACT_SOFTPLUS: { double s = 1 / (1 + exp(-z)); return s * (1 - s); }
    case ACT_GELU: return phi(z) * (2 - z * z);
    case ACT_SINE: return -act.w0 * act.w0 * sin(act.w0 * z);
    case ACT_SIGMOID: { double s = 1 / (1 + exp(-z)); return s * (1 - s) * (1 - 2 * s); }
    case ACT_SWISH: { double s = 1 / (1 + exp(-z)); return s * (1 - s) * (2 + z * (1 - 2 * s)); }
    default: return 0;  /* identity, relu, hat: piecewise linear */
  }
}

/* tanh and its derivatives over a block, vectorised: glibc's libmvec has a vector
 * tanh several times faster than the scalar one. */
static void tanh_block(size_t n, const double *z, double *a, double *d1, double *d2) {
  if (a && d1) {
    double *g2 = d2;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
      double t = tanh(z[i]), g = 1 - t * t;
      a[i] = t;
      d1[i] = g;
      if (g2) g2[i] = -2 * t * g;
    }
    return;
  }
  if (a && !d2) {  /* the output alone: net_pass.c derives the derivatives from it */
#pragma omp simd
    for (size_t i = 0; i < n; i++) a[i] = tanh(z[i]);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    double t = tanh(z[i]), g = 1 - t * t;
    if (a) a[i] = t;
    if (d1) d1[i] = g;
    if (d2) d2[i] = -2 * t * g;
  }
}

/* Inside a parallel region: this thread's part [i0, i1) of n elements, schedule(static)'s
 * split (contiguous ranges, one per thread). */
static void thread_range(size_t n, size_t *i0, size_t *i1) {
  size_t T = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
  size_t q = n / T, r = n % T;
  *i0 = t * q + (t < r ? t : r);
  *i1 = *i0 + q + (t < r);
}

/* The common activations get a fused loop; the rest go through the scalar versions.
 * One range [i0, i1) of the elementwise pass. */
static void act_range(Act act, size_t i0, size_t i1, const double *z, double *a, double *d1,
                      double *d2) {
  switch (act.kind) {
    case ACT_IDENTITY:
      for (size_t i = i0; i < i1; i++) {
        if (a && a != z) a[i] = z[i];
        if (d1) d1[i] = 1;
        if (d2) d2[i] = 0;
      }
      return;
    case ACT_RELU:
      for (size_t i = i0; i < i1; i++) {
        double zi = z[i];
        if (a) a[i] = zi > 0 ? zi : 0;
        if (d1) d1[i] = zi > 0 ? 1 : 0;
        if (d2) d2[i] = 0;
      }
      return;
    case ACT_SWISH:  /* one exp per element, not one in each of f, f', f'' (same bits) */
      for (size_t i = i0; i < i1; i++) {
        double zi = z[i], e = 1 + exp(-zi), s = 1 / e;
        if (d1) d1[i] = s * (1 + zi * (1 - s));
        if (d2) d2[i] = s * (1 - s) * (2 + zi * (1 - 2 * s));
        if (a) a[i] = zi / e;
      }
      return;
    default:
      for (size_t i = i0; i < i1; i++) {
        double zi = z[i];
        if (d1) d1[i] = act_df(act, zi);
        if (d2) d2[i] = act_d2f(act, zi);
        if (a) a[i] = act_f(act, zi);
      }
      return;
  }
}

/* Large passes are split over the threads, outside a parallel region only: the rows of a
 * layer call this once per row from inside one (net_pass.c), where even a parallel
 * construct whose if() is false costs a libgomp team start per call (1000 per forward
 * pass of the spectral study's net). Either way each element is computed by the same
 * code, so the bits do not depend on the split; tanh keeps its blocks of 4096 (the
 * vector and scalar tails of tanh_block must fall on the same elements). */
void act_eval(Act act, size_t n, const double *z, double *a, double *d1, double *d2) {
  int threaded = !omp_in_parallel();
  if (act.kind == ACT_TANH) {
    if (n <= 16384) {
      tanh_block(n, z, a, d1, d2);
      return;
    }
#pragma omp parallel for schedule(static) if (threaded)
    for (size_t b = 0; b < n; b += 4096)
      tanh_block(n - b < 4096 ? n - b : 4096, z + b, a ? a + b : NULL, d1 ? d1 + b : NULL,
                 d2 ? d2 + b : NULL);
    return;
  }
  size_t grain = act.kind == ACT_IDENTITY || act.kind == ACT_RELU ? 16384 : 4096;
  if (n <= grain || !threaded) {
    act_range(act, 0, n, z, a, d1, d2);
    return;
  }
#pragma omp parallel
  {
    size_t i0, i1;
    thread_range(n, &i0, &i1);
    act_range(act, i0, i1, z, a, d1, d2);
  }
}

/* float32: tanh through tanhf (libmvec's vector tanhf), swish through expf; relu and hat in
 * float (the same bits as rounding the float64 versions: each is exact or one float
 * subtraction); sine through sine_range_f32's polynomial; the rest through the float64
 * scalar versions rounded to float (they are not on the float32 fast path). */
static void tanh_block_f32(size_t n, const float *z, float *a, float *d1, float *d2) {
  if (a && !d1 && !d2) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) a[i] = tanhf(z[i]);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    float t = tanhf(z[i]), g = 1 - t * t;
    if (a) a[i] = t;
    if (d1) d1[i] = g;
    if (d2) d2[i] = -2 * t * g;
  }
}

/* sin and cos of x for |x| < 2^20 (NaN or not beyond): x − kπ/2 in two parts (Cody-Waite,
 * fdlibm's split of π/2: k·PIO2_1 is exact for |k| < 2^20), then Taylor polynomials on
 * |r| <= π/4 to r^15 and r^16 (the next terms are below 5e-17), and the quadrant k mod 4.
 * Branch-free, so a loop over it vectorises; within a few units of 2^-53 of libm's sin and
 * cos (tests/test_act_f32.c), far below a float's rounding. */
#define ACT_PIO2_1 1.57079632673412561417e+00
#define ACT_PIO2_1T 6.07710050650619224932e-11
static inline void sincos_poly(double x, double *sx, double *cx) {
  double kf = (x * 0.63661977236758134308 + 0x1.8p52) - 0x1.8p52; /* nearest integer */
  int q = (int)kf;
  double r = (x - kf * ACT_PIO2_1) - kf * ACT_PIO2_1T, r2 = r * r;
  double sp = r + r * r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 +
              r2 * (-1.0 / 39916800 + r2 * (1.0 / 6227020800.0 + r2 * (-1.0 / 1307674368000.0)))))));
  double cp = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 +
              r2 * (-1.0 / 3628800 + r2 * (1.0 / 479001600 + r2 * (-1.0 / 87178291200.0 +
              r2 * (1.0 / 20922789888000.0))))))));
  double s = q & 1 ? cp : sp, c = q & 1 ? sp : cp;
  *sx = q & 2 ? -s : s;
  *cx = (q + 1) & 2 ? -c : c;
}

void act_sincos_poly(double x, double *s, double *c) { sincos_poly(x, s, c); }

/* SIREN's sin(ω0 z), ω0 cos(ω0 z), −ω0² sin(ω0 z) with ω0·z in double (as the float64
 * scalar versions take it), rounded to float; the rare |ω0 z| >= 2^20 (or NaN) through libm. */
CS_SIMD_CLONES
static void sine_range_f32(double w0, size_t n, const float *z, float *a, float *d1, float *d2) {
  int far = 0;
  for (size_t i = 0; i < n; i++) far |= !(fabs(w0 * (double)z[i]) < 0x1p20);
  for (size_t i = 0; i < n; i++) {  /* a may alias z: z[i] is read before a[i] is written */
    double x = w0 * (double)z[i], s, c;
    if (far) s = sin(x), c = cos(x);
    else sincos_poly(x, &s, &c);
    if (d1) d1[i] = (float)(w0 * c);
    if (d2) d2[i] = (float)(-w0 * w0 * s);
    if (a) a[i] = (float)s;
  }
}

CS_SIMD_CLONES
static void relu_range_f32(size_t n, const float *z, float *a, float *d1, float *d2) {
  for (size_t i = 0; i < n; i++) {
    float zi = z[i];
    if (d1) d1[i] = zi > 0 ? 1.0f : 0.0f;
    if (d2) d2[i] = 0.0f;
    if (a) a[i] = zi > 0 ? zi : 0.0f;
  }
}

CS_SIMD_CLONES
static void hat_range_f32(size_t n, const float *z, float *a, float *d1, float *d2) {
  for (size_t i = 0; i < n; i++) {
    float zi = z[i];
    int up = zi >= 0 && zi <= 1, down = zi > 1 && zi <= 2;
    if (d1) d1[i] = up ? 1.0f : down ? -1.0f : 0.0f;
    if (d2) d2[i] = 0.0f;
    if (a) a[i] = up ? zi : down ? 2.0f - zi : 0.0f;
  }
}

/* The Stein critic's swish: one expf per element, in float. */
static void swish_range_f32(size_t n, const float *z, float *a, float *d1, float *d2) {
  if (a && d1 && d2) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
      float zi = z[i], e = 1 + expf(-zi), s = 1 / e;
      d1[i] = s * (1 + zi * (1 - s));
      d2[i] = s * (1 - s) * (2 + zi * (1 - 2 * s));
      a[i] = zi / e;
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    float zi = z[i], e = 1 + expf(-zi), s = 1 / e;
    if (d1) d1[i] = s * (1 + zi * (1 - s));
    if (d2) d2[i] = s * (1 - s) * (2 + zi * (1 - 2 * s));
    if (a) a[i] = zi / e;
  }
}

static void act_range_f32(Act act, size_t i0, size_t i1, const float *z, float *a, float *d1,
                          float *d2) {
  size_t n = i1 - i0;
  float *ao = a ? a + i0 : NULL, *d1o = d1 ? d1 + i0 : NULL, *d2o = d2 ? d2 + i0 : NULL;
  switch (act.kind) {  /* identity (only with per-unit scales) takes the exact default */
    case ACT_RELU: relu_range_f32(n, z + i0, ao, d1o, d2o); return;
    case ACT_HAT: hat_range_f32(n, z + i0, ao, d1o, d2o); return;
    case ACT_SINE: sine_range_f32(act.w0, n, z + i0, ao, d1o, d2o); return;
    case ACT_SWISH: swish_range_f32(n, z + i0, ao, d1o, d2o); return;
    default:
      for (size_t i = i0; i < i1; i++) {
        double zi = z[i];
        if (d1) d1[i] = (float)act_df(act, zi);
        if (d2) d2[i] = (float)act_d2f(act, zi);
        if (a) a[i] = (float)act_f(act, zi);
      }
      return;
  }
}

void act_eval_f32(Act act, size_t n, const float *z, float *a, float *d1, float *d2) {
  int threaded = !omp_in_parallel();
  if (act.kind == ACT_TANH) {
    if (n <= 16384 || !threaded) {
      tanh_block_f32(n, z, a, d1, d2);
      return;
    }
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < n; b += 4096)
      tanh_block_f32(n - b < 4096 ? n - b : 4096, z + b, a ? a + b : NULL, d1 ? d1 + b : NULL,
                     d2 ? d2 + b : NULL);
    return;
  }
  if (n <= 4096 || !threaded) {
    act_range_f32(act, 0, n, z, a, d1, d2);
    return;
  }
#pragma omp parallel
  {
    size_t i0, i1;
    thread_range(n, &i0, &i1);
    act_range_f32(act, i0, i1, z, a, d1, d2);
  }
}
