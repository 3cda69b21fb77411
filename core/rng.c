/* rng.c: xoshiro256** with splitmix64 seeding (see rng.h). */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  r->has_spare = 0;
  r->spare = 0.0;
}

void rng_seed_stream(Rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = stream;
  rng_seed(r, seed ^ splitmix64(&x));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(Rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

double rng_uniform_in(Rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

double rng_normal(Rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * rng_uniform(r) - 1.0;
    v = 2.0 * rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * log(s) / s);
  r->spare = v * f;
  r->has_spare = 1;
  return u * f;
}

size_t rng_below(Rng *r, size_t n) {
  /* Lemire's nearly-divisionless method would be faster; modulo bias is < 2^-40 here. */
  return (size_t)(rng_u64(r) % (uint64_t)n);
}

void rng_shuffle(Rng *r, size_t *idx, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = rng_below(r, i);
    size_t t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}

void rng_rademacher(Rng *r, double *x, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint64_t bits = rng_u64(r);
    for (int b = 0; b < 64 && i < n; b++, i++) x[i] = (bits >> b) & 1 ? 1.0 : -1.0;
  }
}

void rng_normal_fill(Rng *r, double *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = rng_normal(r);
}
