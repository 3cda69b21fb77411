/*
 * rng.h: deterministic random numbers from an explicit 64-bit seed.
 *
 * xoshiro256** seeded through splitmix64. Every stream is an Rng value the
 * caller owns and passes in; there is no global state, so results never depend
 * on call history. Not thread safe per Rng; give each thread its own.
 */
#ifndef CS_RNG_H
#define CS_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct Rng {
  uint64_t s[4];
  double spare;   /* cached second normal from Box-Muller */
  int has_spare;
} Rng;

void rng_seed(Rng *r, uint64_t seed);
/* A child stream derived from (seed, stream): independent streams for data, init, probes. */
void rng_seed_stream(Rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(Rng *r);
double rng_uniform(Rng *r);                 /* [0, 1) */
double rng_uniform_in(Rng *r, double lo, double hi);
double rng_normal(Rng *r);                  /* N(0, 1) */
size_t rng_below(Rng *r, size_t n);         /* uniform in [0, n) */
void rng_shuffle(Rng *r, size_t *idx, size_t n);
void rng_rademacher(Rng *r, double *x, size_t n);   /* ±1 entries */
void rng_normal_fill(Rng *r, double *x, size_t n);

#endif
